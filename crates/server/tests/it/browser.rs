//! The waiting page in a real headless Chromium, phone-sized (390×844), German.
//!
//! The test runs a real node on a socket (`node::open_with` + `node::serve`) with
//! the SMTP sink as its mail relay and proof of work at the lowest difficulty, and
//! drives Chromium through chromedriver (fantoccini). The browser does what a fan
//! does: types an e-mail address, the test reads the six-digit code out of the mail
//! the sink received — real SMTP, nothing seeded — and types it; the page solves the
//! proof of work with pow.js and joins the pre-queue. A refresh comes back to the
//! same place without asking again. At the opening the page shows a position (three
//! more fans joined over the API and buy as they are admitted) and then the
//! admission with the link to the shop. The organizer pulls the brake: the page
//! shows the message and the announced restart in Berlin time; resumes; and the box
//! office sells the rest: the page says sold out. Admin actions go through the same
//! router in-process; everything the fan sees goes through the browser. A second
//! test logs a cashier in to the staff area with the keyboard alone and out again.
//!
//! CI installs `chromium` and `chromium-driver` (`.ci/run`); there a missing tool
//! fails the test. A developer machine without them is told so and the test returns.
//! With `STURMFEST_SCREENSHOTS=<dir>` the page's states are saved there as PNG
//! (docs/screenshots/ holds the committed ones).

// Fixed names and limits are named like values, unit last, as in the library.
#![allow(non_upper_case_globals)]

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use mail_parser::MessageParser;
use serde_json::{Value, json};
use sturmfest_server::http::app;
use sturmfest_server::mail::Mailer;
use sturmfest_server::node::{self, NodeOptions};
use sturmfest_server::runtime::{ShardConfig, wall_clock_ms};
use sturmfest_server::tenants::Registry;

use crate::api::{at, check, created_id, expect_status, get, payment, post, venue_json};
use crate::mail::sink_config;
use crate::support::smtp_sink::SmtpSink;

const chromium: &str = "chromium";
const chromedriver: &str = "chromedriver";
/// The flags CRATES.md names: no GPU, no network chatter of its own, no updates.
const chromium_flags: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--window-size=390,844",
];
/// How long the page may take to show a state the server is already in: the
/// longest poll interval (4 s) plus the driver's tick and some slack.
pub(crate) const page_wait: Duration = Duration::from_secs(15);

pub(crate) fn tools_available() -> bool {
    let runs = |tool: &str| Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    runs(chromium) && runs(chromedriver)
}

/// Whether a browser test can run here. Without Chromium and chromedriver it says so
/// and the test returns early, except under CI, which must have installed them.
pub(crate) fn browser_tools_or_skip() -> bool {
    if tools_available() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must install chromium and chromium-driver (see .ci/run)");
    eprintln!("chromium or chromedriver not found: install Debian's chromium and chromium-driver to run the browser tests");
    false
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// chromedriver in its own process group, so killing the group also ends the
/// Chromium it started if the test panics before closing the session.
pub(crate) struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

pub(crate) async fn start_browser(profile: &Path) -> (Driver, Client) {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut args: Vec<String> = chromium_flags.iter().map(|f| f.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": args,
            // A phone's viewport, exactly; and a German browser, so the page's
            // language comes from Accept-Language, not from a query parameter.
            "mobileEmulation": {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1.0}},
            "prefs": {"intl.accept_languages": "de-DE,de"},
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (driver, client)
}

/// Waits until the visible text of `css` satisfies `done`; returns that text.
pub(crate) async fn until_text(client: &Client, css: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + page_wait;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = client.find(Locator::Css("body")).await.unwrap().text().await.unwrap_or_default();
    panic!("{css} never got there; last {last:?}; page:\n{body}");
}

pub(crate) async fn visible(client: &Client, css: &str) -> bool {
    match client.find(Locator::Css(css)).await {
        Ok(element) => element.is_displayed().await.unwrap_or(false),
        Err(_) => false,
    }
}

/// Takes a screenshot of a page state worth showing — and, since those are the
/// states people read, checks the page's text contrast first (`assert_contrast`).
pub(crate) async fn screenshot(client: &Client, dir: &Option<PathBuf>, name: &str) {
    assert_contrast(client, name).await;
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// WCAG 2.x contrast of every visible element with text of its own, measured in the
/// browser from computed styles: the text colour (alpha-blended) against the
/// nearest opaque background behind it (semi-transparent layers blended, white
/// below all). At least 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold).
/// Disabled controls are exempt, as WCAG allows; text in SVG (the seat map's
/// labels) is not measured here — its colours are fixed in the page's stylesheet.
const contrast_script: &str = r#"
const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
const lum = c => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
const parse = s => { const m = /rgba?\(([^)]+)\)/.exec(s); if (!m) return null;
  const p = m[1].split(',').map(x => parseFloat(x)); return { rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1 }; };
const behind = el => { const layers = [];
  for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; } }
  let base = [255, 255, 255];
  for (let i = layers.length - 1; i >= 0; i--) { const l = layers[i]; base = base.map((v, j) => l.rgb[j] * l.a + v * (1 - l.a)); }
  return base; };
const bad = []; let checked = 0;
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('svg') || el.closest('[disabled]') || el.closest('[hidden]')) continue;
  if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
  const st = getComputedStyle(el);
  if (st.visibility === 'hidden' || st.display === 'none') continue;
  const r = el.getBoundingClientRect(); if (r.width === 0 || r.height === 0) continue;
  const fg = parse(st.color); const bg = behind(el);
  const text = fg.rgb.map((v, j) => v * fg.a + bg[j] * (1 - fg.a));
  const [hi, lo] = [lum(text), lum(bg)].sort((a, b) => b - a);
  const ratio = (hi + 0.05) / (lo + 0.05);
  const size = parseFloat(st.fontSize); const bold = parseInt(st.fontWeight, 10) >= 700;
  const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  checked++;
  if (ratio < need) bad.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 40)}": ${ratio.toFixed(2)} < ${need}`);
}
return { checked, bad };
"#;

/// Fails when any visible text of the current page is below the WCAG AA contrast.
pub(crate) async fn assert_contrast(client: &Client, page: &str) {
    let result = client.execute(contrast_script, vec![]).await.expect("the contrast script runs");
    let checked = result["checked"].as_u64().expect("a count");
    assert!(checked > 0, "{page}: no text measured");
    let bad: Vec<&str> = result["bad"].as_array().expect("a list").iter().filter_map(|v| v.as_str()).collect();
    assert!(bad.is_empty(), "{page}: text below WCAG AA contrast:\n{}", bad.join("\n"));
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_queues_on_a_phone_through_the_pre_queue_the_brake_and_the_sell_out() {
    if !browser_tools_or_skip() {
        return;
    }
    let shots = std::env::var_os("STURMFEST_SCREENSHOTS").map(PathBuf::from);

    // ----- a real node on a socket, mailing through the sink -----
    let sink = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let admin = registry.add("club", "Eisclub Sturmfest").unwrap();
    registry.save(dir.path()).unwrap();
    let outbox = Mailer::new(&sink_config(&sink)).unwrap().spawn();
    let options = NodeOptions { pow_base_bits: 12, pow_bits_max: 12, outbox: Some(outbox), base_url: "http://127.0.0.1".into(), ..Default::default() };
    let opened = node::open_with(dir.path(), ShardConfig::default(), options).await.unwrap();
    let router = app(opened.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(node::serve(listener, opened.state.clone(), async {
        let _ = stopped.await;
    }));

    // ----- an event behind a room whose sale opens shortly -----
    let opens_in_ms = 15_000;
    let venue = created_id(&check(&router, post(at("club", "/venues"), venue_json("Eisarena", 4)).bearer(&admin)).await, "venue");
    let now = wall_clock_ms();
    let event = json!({"name": "Playoffs Spiel 3", "venue": venue, "starts_at": iso(now + 86_400_000),
        "sale_opens_at": iso(now + opens_in_ms), "sale_closes_at": iso(now + 86_400_000),
        "categories": [
            {"name": "Sitzplatz", "blocks": [0], "tariffs": [{"name": "Erwachsene", "price_cents": 2900}]},
            {"name": "Stehplatz", "area": 0, "tariffs": [{"name": "Erwachsene", "price_cents": 1500}]}],
        "quotas": {"online": null, "box_office": null, "reserved": null},
        "hold_duration_secs": 600, "order_tickets_max": 10, "customer_tickets_max": 10});
    let event = created_id(&check(&router, post(at("club", "/events"), event).bearer(&admin)).await, "event");
    expect_status(&check(&router, post(at("club", &format!("/events/{event}/sale")), json!({"action": "open"})).bearer(&admin)).await, 200);
    // One in checkout at a time, so the fans ahead of the browser show as a position.
    let room = json!({"prequeue_opens_at": iso(now - 60_000), "checkout_window_secs": 60, "admitted_active_max": 1});
    expect_status(&check(&router, post(at("club", &format!("/events/{event}/room")), room).bearer(&admin)).await, 201);

    // ----- the browser -----
    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    let page = format!("{base}/club/events/{event}/queue");
    client.goto(&page).await.unwrap();
    let lang = client.find(Locator::Css("html")).await.unwrap().attr("lang").await.unwrap();
    assert_eq!(lang.as_deref(), Some("de"), "Accept-Language de gives the German page");
    // The server's first paint already says where the room stands.
    until_text(&client, "#phase", |t| t.starts_with("Vorverkauf")).await;
    until_text(&client, "h1", |t| t.contains("Playoffs Spiel 3")).await;
    assert!(client.find(Locator::Css("main")).await.unwrap().text().await.unwrap().contains("Verkaufsstart"));
    let width: f64 = client.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap().as_f64().unwrap();
    assert!(width <= 390.0, "no sideways scrolling on a phone: {width}px");
    until_text(&client, "label[for=email]", |t| t == "E-Mail-Adresse").await;
    screenshot(&client, &shots, "1-email").await;

    // Step 1: the code arrives by real SMTP; the test reads it like the fan would.
    client.find(Locator::Css("#email")).await.unwrap().send_keys("fan@example.org").await.unwrap();
    client.find(Locator::Css("#email-form button")).await.unwrap().click().await.unwrap();
    let mail = sink.next_message(Duration::from_secs(10)).await;
    assert_eq!(mail.rcpt_to, vec!["fan@example.org".to_string()]);
    let message = MessageParser::default().parse(&mail.data).expect("a parseable mail");
    let code = message.subject().unwrap().strip_prefix("Ihr Code / Your code: ").expect("the code in the subject").to_string();
    until_text(&client, "#code-sent", |t| t.contains("fan@example.org")).await;
    client.find(Locator::Css("#code")).await.unwrap().send_keys(&code).await.unwrap();
    client.find(Locator::Css("#code-form button[type=submit]")).await.unwrap().click().await.unwrap();

    // Step 2 and 3: the page solves the work, joins, and shows the pre-queue place.
    until_text(&client, "#place", |t| t.contains("ausgelost")).await;
    assert!(!visible(&client, "#identity-step").await && !visible(&client, "#join-step").await);
    let stored: Value = client
        .execute("return [localStorage.getItem(arguments[0]), document.cookie]", vec![json!(format!("sturmfest:queue:club:{event}"))])
        .await
        .unwrap();
    assert!(stored[0].as_str().is_some_and(|t| t.starts_with("sf1.")), "the place is kept in localStorage: {stored}");
    assert_eq!(stored[1], "", "the room sets no cookie");
    screenshot(&client, &shots, "2-pre-queue").await;
    // A refresh comes straight back to the place.
    client.refresh().await.unwrap();
    until_text(&client, "#place", |t| t.contains("ausgelost")).await;
    assert!(!visible(&client, "#identity-step").await, "no second login after a refresh");

    // Three more fans with the club's own verified accounts, through the API.
    let issued = check(&router, post(at("club", "/identity/issue"), json!({"accounts": ["kd-1", "kd-2", "kd-3"]})).bearer(&admin)).await;
    expect_status(&issued, 200);
    let mut others = Vec::new();
    for identity in issued.json["identities"].as_array().unwrap() {
        let challenge = check(&router, get(at("club", &format!("/events/{event}/queue/challenge")))).await.json;
        let text = challenge["challenge"].as_str().unwrap();
        let counter = sturmfest_server::pow::solve(text, challenge["difficulty"].as_u64().unwrap() as u32).unwrap();
        let body = json!({"identity": identity, "pow": {"challenge": text, "counter": counter}});
        let joined = check(&router, post(at("club", &format!("/events/{event}/queue")), body)).await;
        expect_status(&joined, 201);
        assert_eq!(joined.json["status"]["place"], "pre_queue", "joined before the opening: {:#}", joined.json);
        others.push(joined.json["token"].as_str().unwrap().to_string());
    }

    // ----- the opening: a position, then the admission -----
    let opened_at = Instant::now() + Duration::from_millis(opens_in_ms as u64) + page_wait + Duration::from_secs(30);
    let mut waiting_seen = false;
    loop {
        assert!(Instant::now() < opened_at, "the browser was never admitted");
        if visible(&client, "#admitted").await {
            break;
        }
        if !waiting_seen && visible(&client, "#figures").await {
            let position = client.find(Locator::Css("#position")).await.unwrap().text().await.unwrap();
            // Between the draw and the driver's first admission all four pre-queue
            // fans wait, so any of places 1–4 is a true position.
            assert!(position.parse::<u32>().is_ok_and(|p| (1..=4).contains(&p)), "a position: {position:?}");
            let estimate = client.find(Locator::Css("#estimate")).await.unwrap().text().await.unwrap();
            assert!(estimate.starts_with("ca. ") || estimate.starts_with("weniger") || estimate.starts_with("noch"), "{estimate}");
            screenshot(&client, &shots, "3-waiting").await;
            waiting_seen = true;
        }
        // Whoever is admitted ahead of the browser buys a standing place — once
        // the page has shown its position, if the draw put anyone ahead of it.
        if !waiting_seen {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        for (fan, token) in others.iter().enumerate() {
            let status = check(&router, get(at("club", &format!("/events/{event}/queue/status?token={token}")))).await.json;
            if let Some(admission) = status["admission"].as_str() {
                let hold = json!({"customer": format!("fan-{fan}"), "tariff": 0, "selection": {"type": "standing", "area": 0, "quantity": 1}, "admission": admission});
                let held = check(&router, post(at("club", &format!("/events/{event}/holds")), hold)).await;
                expect_status(&held, 201);
                let hold_token = held.json["hold"].as_str().unwrap();
                expect_status(&crate::payments::pay_with(&router, "club", hold_token, Some(admission)).await, 201);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    until_text(&client, "#place", |t| t == "Sie sind dran!").await;
    until_text(&client, "#admitted-until", |t| t.ends_with(" Uhr") && t.as_bytes()[2] == b':').await;
    let shop = client.find(Locator::Css("#shop")).await.unwrap().attr("href").await.unwrap().unwrap();
    assert!(shop.contains(&format!("/club/events/{event}?admission=sf1.")), "{shop}");
    let admission: Value = client.execute("return localStorage.getItem(arguments[0])", vec![json!(format!("sturmfest:admission:club:{event}"))]).await.unwrap();
    assert!(admission.as_str().is_some_and(|a| a.starts_with("sf1.")), "the admission is held: {admission}");
    screenshot(&client, &shots, "4-admitted").await;

    // ----- the brake -----
    let resume_at = "2099-12-01T15:00:00+01:00";
    let brake = json!({"action": "pause", "message": "Technische Störung – wir sind gleich zurück", "resume_at": resume_at});
    expect_status(&check(&router, post(at("club", &format!("/events/{event}/sale")), brake).bearer(&admin)).await, 200);
    until_text(&client, "#phase", |t| t == "Verkauf angehalten.").await;
    until_text(&client, "#notice", |t| t == "Technische Störung – wir sind gleich zurück").await;
    until_text(&client, "#resume", |t| t == "Weiter voraussichtlich Di., 01.12.2099, 15:00 Uhr").await;
    screenshot(&client, &shots, "5-paused").await;
    expect_status(&check(&router, post(at("club", &format!("/events/{event}/sale")), json!({"action": "resume"})).bearer(&admin)).await, 200);
    until_text(&client, "#phase", |t| t != "Verkauf angehalten.").await;
    assert!(!visible(&client, "#notice").await);

    // ----- the box office sells the rest -----
    let left = check(&router, get(at("club", &format!("/events/{event}/availability")))).await.json;
    let standing_free = left["areas"][0]["free"].as_u64().unwrap();
    let mut sales = vec![json!({"type": "seats", "seats": (0..10).collect::<Vec<u32>>()})];
    if standing_free > 0 {
        sales.push(json!({"type": "standing", "area": 0, "quantity": standing_free}));
    }
    for (i, selection) in sales.into_iter().enumerate() {
        let counter = json!({"customer": format!("kasse-{i}"), "tariff": 0, "channel": "box_office", "selection": selection});
        let held = check(&router, post(at("club", &format!("/events/{event}/holds")), counter).bearer(&admin)).await;
        expect_status(&held, 201);
        let hold_token = held.json["hold"].as_str().unwrap();
        expect_status(&check(&router, post(at("club", &format!("/holds/{hold_token}/confirm")), payment()).bearer(&admin)).await, 201);
    }
    until_text(&client, "#phase", |t| t.starts_with("Ausverkauft")).await;
    assert!(!visible(&client, "#admitted").await, "no way to the shop once sold out");
    until_text(&client, "[data-category=\"0\"]", |t| t == "0").await;
    screenshot(&client, &shots, "6-sold-out").await;

    client.close().await.unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    drop(router);
    opened.close().await;
}

/// A cashier on a phone opens the staff area, is sent to the login, logs in with
/// the keyboard alone (type, Tab, type, Enter), sees the staff home with the areas
/// of the box-office role, cannot read the session cookie from script (HttpOnly),
/// and logs out; the staff area sends the browser back to the login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cashier_logs_in_with_the_keyboard_alone_and_logs_out_on_a_phone() {
    if !browser_tools_or_skip() {
        return;
    }
    let shots = std::env::var_os("STURMFEST_SCREENSHOTS").map(PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let admin = registry.add("club", "Eisclub Sturmfest").unwrap();
    registry.save(dir.path()).unwrap();
    let opened = node::open_with(dir.path(), ShardConfig::default(), NodeOptions::default()).await.unwrap();
    let router = app(opened.state.clone());
    let account = json!({"login": "kasse", "display_name": "Kasse 1", "password": "kasse-secret-22", "roles": ["box_office"]});
    expect_status(&check(&router, post("/api/v1/club/staff/accounts", account).bearer(&admin)).await, 201);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(node::serve(listener, opened.state.clone(), async {
        let _ = stopped.await;
    }));

    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    client.goto(&format!("{base}/club/staff")).await.unwrap();
    until_text(&client, "h1", |t| t == "Anmeldung für Mitarbeitende").await;
    screenshot(&client, &shots, "staff-1-login").await;
    // The login field has the focus; Tab moves to the password; Enter sends.
    let active = client.active_element().await.unwrap();
    assert_eq!(active.attr("id").await.unwrap().as_deref(), Some("login"), "the login field has the focus");
    active.send_keys("kasse\u{E004}kasse-secret-22\u{E007}").await.unwrap();
    until_text(&client, "h1", |t| t == "Mitarbeiterbereich").await;
    let body = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(body.contains("Kasse 1") && body.contains("Kasse: Verkauf am Schalter"), "{body}");
    assert!(!body.contains("Konten der Mitarbeitenden"), "no accounts area for a cashier: {body}");
    let script_sees: Value = client.execute("return document.cookie", vec![]).await.unwrap();
    assert_eq!(script_sees, json!(""), "the session cookie is HttpOnly");
    screenshot(&client, &shots, "staff-2-home").await;

    client.find(Locator::Css("form[action^=\"/club/staff/logout\"] button")).await.unwrap().click().await.unwrap();
    until_text(&client, "h1", |t| t == "Anmeldung für Mitarbeitende").await;
    client.goto(&format!("{base}/club/staff")).await.unwrap();
    until_text(&client, "h1", |t| t == "Anmeldung für Mitarbeitende").await;
    let sessions = opened.state.tenants["club"].shard.read(|t| t.staff().sessions().count()).await.unwrap();
    assert_eq!(sessions, 0, "logging out ended the session");

    client.close().await.unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    drop(router);
    opened.close().await;
}

/// The fan shop on a phone: the seat map is drawn from the venue (the demo arena,
/// 3,000 seats), a fan taps two seats and holds them, the cart counts down; a seat
/// sold at the counter meanwhile turns grey without a reload; the keyboard walks
/// the map and chooses a seat; the hold is released; "best available" holds two
/// seats side by side. What the page shows is checked against the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_chooses_seats_on_the_map_and_best_available_on_a_phone() {
    use sturmfest_core as core;
    if !browser_tools_or_skip() {
        return;
    }
    let shots = std::env::var_os("STURMFEST_SCREENSHOTS").map(PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let admin = registry.add("club", "Eisclub Sturmfest").unwrap();
    registry.save(dir.path()).unwrap();
    let options = NodeOptions { pow_base_bits: 12, pow_bits_max: 12, outbox: None, base_url: "http://127.0.0.1".into(), ..Default::default() };
    let opened = node::open_with(dir.path(), ShardConfig::default(), options).await.unwrap();
    let router = app(opened.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(node::serve(listener, opened.state.clone(), async {
        let _ = stopped.await;
    }));

    let shard = opened.state.tenants["club"].shard.clone();
    let Ok(core::Reply::VenueCreated { venue }) = shard.execute(None, core::Command::CreateVenue(sturmfest_server::demo::arena())).await.unwrap()
    else {
        panic!("the demo arena is a valid venue")
    };
    let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    let spec = sturmfest_server::demo::game(venue, "EC Sturmvögel – Eisbären Hafenstadt", &now.checked_add(jiff::Span::new().days(3)).unwrap(), &now.checked_sub(jiff::Span::new().hours(1)).unwrap());
    let Ok(core::Reply::EventCreated { event }) = shard.execute(None, core::Command::CreateEvent(spec)).await.unwrap() else { panic!("a valid game") };
    let event = event.0;
    let open = core::Command::Sale { event: core::EventId(event), action: core::SaleAction::Open };
    assert!(shard.execute(None, open).await.unwrap().is_ok());
    let availability = |router: axum::Router| async move { check(&router, get(at("club", &format!("/events/{event}/availability")))).await.json };

    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    client.goto(&format!("{base}/club/events/{event}")).await.unwrap();
    until_text(&client, "#shop-heading", |t| t == "Tickets kaufen").await;
    // The map is drawn in the browser from the venue's 3,000 seats.
    let deadline = Instant::now() + page_wait;
    loop {
        let drawn = client.execute("return document.querySelectorAll('#seat-map circle').length", vec![]).await.unwrap();
        if drawn.as_u64() == Some(3_000) {
            break;
        }
        assert!(Instant::now() < deadline, "the map never showed the 3,000 seats: {drawn}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let width: f64 = client.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap().as_f64().unwrap();
    assert!(width <= 390.0, "no sideways scrolling on a phone: {width}px");
    client.execute("document.getElementById('map-section').scrollIntoView()", vec![]).await.unwrap();
    screenshot(&client, &shots, "7-shop-map").await;

    // Two seats side by side in block "Mitte links" (block 1): tap, tap, hold.
    // Block B (in "Sitzplatz Mitte", 32,00 €) starts after block A's 15 × 25 seats.
    let (first, second) = (375u64, 376u64);
    for seat in [first, second] {
        let circle = client.find(Locator::Css(&format!("#seat-map circle[data-seat=\"{seat}\"]"))).await.unwrap();
        client.execute("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", vec![serde_json::to_value(&circle).unwrap()]).await.unwrap();
    }
    until_text(&client, "#selection", |t| t.starts_with("2 ausgewählt")).await;
    client.find(Locator::Css("#hold-selected")).await.unwrap().click().await.unwrap();
    until_text(&client, "#cart-places", |t| t.lines().count() == 2).await;
    let countdown = until_text(&client, "#countdown", |t| t.starts_with("9:") || t.starts_with("10:")).await;
    assert!(countdown.contains(':'), "{countdown}");
    until_text(&client, "#cart-total", |t| t.replace('\u{a0}', " ") == "64,00 €").await;
    let seen = availability(router.clone()).await;
    assert_eq!(seen["held"], 2, "the page's hold is the server's: {seen:#}");
    screenshot(&client, &shots, "8-shop-cart").await;

    // A seat sold at the counter turns grey on the fan's map without a reload.
    let counter = json!({"customer": "kasse-1", "tariff": 0, "channel": "box_office", "selection": {"type": "seats", "seats": [second + 5]}});
    let held = check(&router, post(at("club", &format!("/events/{event}/holds")), counter).bearer(&admin)).await;
    expect_status(&held, 201);
    let sold = check(&router, post(at("club", &format!("/holds/{}/confirm", held.json["hold"].as_str().unwrap())), payment()).bearer(&admin)).await;
    expect_status(&sold, 201);
    let css = format!("#seat-map circle[data-seat=\"{}\"]", second + 5);
    let deadline = Instant::now() + page_wait;
    loop {
        let class = client.find(Locator::Css(&css)).await.unwrap().attr("class").await.unwrap().unwrap_or_default();
        if class.split(' ').any(|c| c == "sold") {
            break;
        }
        assert!(Instant::now() < deadline, "the sold seat never turned grey: {class}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The keyboard: into the map, a few steps, Enter chooses; the live region says where.
    client.execute("document.getElementById('seat-map').focus()", vec![]).await.unwrap();
    let map = client.find(Locator::Css("#seat-map")).await.unwrap();
    map.send_keys("\u{e014}").await.unwrap(); // first key puts the cursor on the first seat
    map.send_keys("\u{e014}\u{e014}\u{e015}").await.unwrap();
    let said = until_text(&client, "#map-status", |t| t.starts_with("Block ")).await;
    assert!(said.contains("Reihe") && said.contains("Platz"), "{said}");
    map.send_keys("\u{e007}").await.unwrap();
    until_text(&client, "#selection", |t| t.starts_with("1 ausgewählt")).await;

    // Release: the cart goes, the server holds nothing.
    client.find(Locator::Css("#release")).await.unwrap().click().await.unwrap();
    until_text(&client, "#shop-message", |t| t.contains("freigegeben")).await;
    assert!(!visible(&client, "#cart").await);
    assert_eq!(availability(router.clone()).await["held"], 0);

    // Best available: two together in "Sitzplatz Ecke".
    client.execute("var s = document.getElementById('best-category'); s.value = '1'; s.dispatchEvent(new Event('change'));", vec![]).await.unwrap();
    client.find(Locator::Css("#best-form button[type=submit]")).await.unwrap().click().await.unwrap();
    let places = until_text(&client, "#cart-places", |t| t.lines().count() == 2).await;
    let seen = availability(router.clone()).await;
    assert_eq!(seen["held"], 2, "{seen:#}");
    let rows: Vec<&str> = places.lines().map(|l| l.rsplit_once(' ').map_or(l, |(row, _)| row)).collect();
    assert_eq!(rows[0], rows[1], "best available seats are in one row: {places}");

    client.close().await.unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    // The writer stops once every handle on its inbox is gone.
    drop((router, shard));
    opened.close().await;
}
