//! The merchant till page (`/{tenant}/merchant`) in a real headless Chromium on a
//! phone viewport, German, against a real node on a socket with its SQLite log in a
//! temp directory.
//!
//! The office (over HTTP, as `vouchers_offline.rs` does) sets up a programme, a
//! shop, two sold cards, an offline policy and a pairing code. The page enrols: it
//! makes an Ed25519 key with WebCrypto, registers it, and takes an allowance with
//! the signed revocation list and the tenant's keys. It redeems card A online and
//! shows what is left; the API's balance agrees. It fetches card B's QR text (code
//! and balance certificate). Then the node is STOPPED; the page is reloaded (the
//! service worker serves it) and redeems B offline from the QR text, and refuses a
//! second amount above the card's offline cap. The node restarts on the SAME port
//! and data directory; the page syncs by itself; the API shows the booked balances,
//! no risk entry; asking the page to sync again changes nothing.
//!
//! Like `browser.rs`: without chromium and chromedriver the test says so and
//! returns (CI must have them). `STURMFEST_SCREENSHOTS=<dir>` saves
//! `14-merchant.png` (the offline state).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use sturmfest_server::node::{self, Opened};
use sturmfest_server::runtime::ShardConfig;
use sturmfest_server::tenants::Registry;

use crate::browser::{browser_tools_or_skip, screenshot, start_browser, until_text};
use crate::vouchers_offline::{Http, expect, send};

struct Running {
    opened: Opened,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The node on `addr`; a restart binds the very address the page knows, retrying
/// while the old socket is still being released.
async fn start_on(dir: &std::path::Path, addr: &str) -> Running {
    let opened = node::open(dir, ShardConfig::default()).await.expect("open node");
    let deadline = Instant::now() + Duration::from_secs(20);
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => break listener,
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot bind {addr} again: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(node::serve(listener, opened.state.clone(), async {
        let _ = stopped.await;
    }));
    Running { opened, stop, server }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        self.opened.close().await;
    }
}

async fn office(base: &str, token: &str, method: &str, path: &str, body: Value) -> Http {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let key = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let headers = [("authorization".to_string(), format!("Bearer {token}")), ("idempotency-key".to_string(), format!("m-{key}"))];
    let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
    send(base, method, &format!("/api/v1/club/vouchers{path}"), &headers, &body).await.expect("the node answers")
}

/// A card's balance as the holder's public enquiry answers it.
async fn balance(base: &str, code: &str) -> i64 {
    let reply = send(base, "POST", "/api/v1/club/vouchers/cards/balance", &[], json!({"code": code}).to_string().as_bytes()).await.unwrap();
    expect(&reply, 200);
    reply.json["balance_cents"].as_i64().unwrap()
}

async fn fill(client: &Client, css: &str, text: &str) {
    let input = client.find(Locator::Css(css)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

/// Text with the page's no-break spaces made plain, for readable assertions.
fn plain(text: &str) -> String {
    text.replace('\u{a0}', " ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_till_page_enrols_redeems_online_and_offline_and_syncs_once_when_the_node_is_back() {
    if !browser_tools_or_skip() {
        return;
    }
    let shots = std::env::var_os("STURMFEST_SCREENSHOTS").map(PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let token = registry.add("club", "Stadtmarketing").unwrap();
    registry.save(dir.path()).unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let node = start_on(dir.path(), &addr).await;

    // ----- the office: programme, shop, two sold cards, offline policy, pairing code -----
    let programme = json!({"name": "Stadtgutschein", "card_balance_cents_max": 25_000, "load_cents_max": 10_000,
                           "card_offline_cents_max": 2_000, "reversal_window_secs": 600});
    let reply = office(&addr, &token, "POST", "/programmes", programme).await;
    expect(&reply, 201);
    let programme = reply.json["id"].as_u64().unwrap();
    let reply = office(&addr, &token, "POST", "/merchants", json!({"name": "Buchladen", "iban": "DE89 3704 0044 0532 0130 00"})).await;
    expect(&reply, 201);
    let merchant = reply.json["id"].as_u64().unwrap();
    expect(&office(&addr, &token, "POST", &format!("/merchants/{merchant}/accept"), json!({"programme": programme})).await, 200);
    let reply = office(&addr, &token, "POST", &format!("/programmes/{programme}/batches"), json!({"count": 2, "medium": "printed", "pin": false})).await;
    expect(&reply, 201);
    let codes: Vec<String> = reply.json["cards"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_string()).collect();
    for code in &codes {
        let sale = json!({"code": code, "amount_cents": 5_000, "paid_via": {"sales_point": 1}});
        expect(&office(&addr, &token, "POST", "/cards/activate", sale).await, 200);
    }
    let policy = json!({"device_allowance_cents_max": 5_000, "open_allowances_cents_max": 20_000});
    expect(&office(&addr, &token, "POST", &format!("/programmes/{programme}/offline"), policy).await, 200);
    let reply = office(&addr, &token, "POST", &format!("/merchants/{merchant}/pairing"), Value::Null).await;
    expect(&reply, 201);
    let pairing = reply.json["pairing_code"].as_str().unwrap().to_string();

    // ----- the page enrols with the pairing code -----
    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    client.goto(&format!("http://{addr}/club/merchant")).await.unwrap();
    until_text(&client, "#enrol-h", |t| t.contains("Gerät anmelden")).await;
    fill(&client, "#pairing", &pairing).await;
    fill(&client, "#programme", &programme.to_string()).await;
    fill(&client, "#allowance", "50,00").await;
    click(&client, "#enrol-form button[type=submit]").await;
    let status = until_text(&client, "#status", |t| t.starts_with("Online")).await;
    assert!(plain(&status).contains("50,00 €"), "{status}");
    let exposure = office(&addr, &token, "GET", &format!("/programmes/{programme}/offline"), Value::Null).await;
    assert_eq!(exposure.json["open_allowances"][0]["amount_cents"], 5_000, "{:#}", exposure.json);

    // ----- online: card A, the rest is shown and the node agrees -----
    fill(&client, "#card", &codes[0]).await;
    fill(&client, "#amount", "12,50").await;
    click(&client, "#redeem-button").await;
    let result = plain(&until_text(&client, "#result", |t| t.contains("eingelöst")).await);
    assert!(result.contains("12,50 € eingelöst, 37,50 € bleiben auf der Karte"), "{result}");
    assert!(result.contains("Den Rest der Rechnung"), "{result}");
    assert_eq!(balance(&addr, &codes[0]).await, 3_750);

    // A wrong amount is refused in plain words, before any call.
    fill(&client, "#amount", "zwölf").await;
    click(&client, "#redeem-button").await;
    until_text(&client, "#result", |t| t.contains("Bitte einen Betrag")).await;

    // ----- card B's QR text while online -----
    fill(&client, "#card", &codes[1]).await;
    click(&client, "#check").await;
    let result = plain(&until_text(&client, "#result", |t| t.contains("Guthaben:")).await);
    assert!(result.contains("50,00 €"), "{result}");
    let qr_b = client.find(Locator::Css("#qr-out")).await.unwrap().text().await.unwrap();
    assert!(qr_b.contains("~sf1.5."), "{qr_b}");
    let ready = client
        .execute_async("const done = arguments[arguments.length - 1]; navigator.serviceWorker.ready.then((r) => done(!!r.active));", vec![])
        .await
        .unwrap();
    assert_eq!(ready, json!(true), "the service worker is active");

    // ----- the node stops; the reloaded page redeems B offline -----
    node.stop().await;
    assert!(send(&addr, "GET", "/healthz", &[], &[]).await.is_err(), "the node is really gone");
    client.refresh().await.unwrap();
    until_text(&client, "#redeem-h", |t| t.contains("Einlösen")).await;
    fill(&client, "#card", &qr_b).await;
    fill(&client, "#amount", "15.00").await;
    click(&client, "#redeem-button").await;
    let result = plain(&until_text(&client, "#result", |t| t.contains("Offline")).await);
    assert!(result.contains("Offline: 15,00 € eingelöst"), "{result}");
    let status = plain(&until_text(&client, "#status", |t| t.contains("abzugleichen")).await);
    assert!(status.contains("Offline — 1 abzugleichen, 35,00 € Kontingent übrig"), "{status}");
    screenshot(&client, &shots, "14-merchant").await;
    // The card's offline cap is 20.00: 10.00 more from B is refused on the device.
    fill(&client, "#amount", "10").await;
    click(&client, "#redeem-button").await;
    let result = plain(&until_text(&client, "#result", |t| t.contains("höchstens")).await);
    assert!(result.contains("höchstens noch 5,00 €"), "{result}");

    // ----- the node is back on the same port and data directory; the page syncs -----
    let node = start_on(dir.path(), &addr).await;
    let result = until_text(&client, "#result", |t| t.starts_with("Abgeglichen")).await;
    assert_eq!(result, "Abgeglichen: 1 gebucht, 0 abgelehnt, 0 schon bekannt.");
    until_text(&client, "#status", |t| t.starts_with("Online")).await;
    assert_eq!((balance(&addr, &codes[0]).await, balance(&addr, &codes[1]).await), (3_750, 3_500));
    let exposure = office(&addr, &token, "GET", &format!("/programmes/{programme}/offline"), Value::Null).await;
    expect(&exposure, 200);
    assert_eq!(exposure.json["risk_entries"], json!([]), "B covered what it gave offline");
    assert_eq!(exposure.json["lost_cents"], 0);
    let open = exposure.json["open_allowances"].as_array().unwrap();
    assert_eq!(open.len(), 1, "the synced allowance closed and a fresh one was taken: {:#}", exposure.json);

    // ----- asking again changes nothing -----
    click(&client, "#sync").await;
    until_text(&client, "#result", |t| t.contains("Nichts abzugleichen")).await;
    client.refresh().await.unwrap();
    until_text(&client, "#status", |t| t.starts_with("Online")).await;
    assert_eq!((balance(&addr, &codes[0]).await, balance(&addr, &codes[1]).await), (3_750, 3_500));
    let again = office(&addr, &token, "GET", &format!("/programmes/{programme}/offline"), Value::Null).await;
    assert_eq!(again.json, exposure.json, "nothing booked twice");

    client.close().await.unwrap();
    node.stop().await;
}

/// The shell without a browser: English on request, the service worker under the
/// tenant's path naming the page's current script, unknown tenants refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_till_page_and_its_service_worker_are_served_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    registry.add("club", "Stadtmarketing").unwrap();
    registry.save(dir.path()).unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let node = start_on(dir.path(), &addr).await;
    let page = send(&addr, "GET", "/club/merchant?lang=en", &[], &[]).await.unwrap();
    expect(&page, 200);
    let html = page.json.as_str().unwrap().to_string();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Redeem vouchers") && html.contains("<label for=\"amount\">Amount in euros</label>"), "{html}");
    let script = html.split("<script src=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_string();
    assert!(script.starts_with("/assets/merchant.") && script.ends_with(".js"), "{script}");
    let german = send(&addr, "GET", "/club/merchant?lang=de", &[], &[]).await.unwrap();
    assert!(german.json.as_str().unwrap().contains("Gutscheine einlösen"));
    let worker = send(&addr, "GET", "/club/merchant-sw.js", &[], &[]).await.unwrap();
    expect(&worker, 200);
    assert_eq!(worker.content_type, "text/javascript; charset=utf-8");
    assert!(worker.json.as_str().unwrap().contains(&format!("const script = \"{script}\";")), "the worker caches the page's script");
    let asset = send(&addr, "GET", &script, &[], &[]).await.unwrap();
    expect(&asset, 200);
    assert_eq!(send(&addr, "GET", "/nobody/merchant-sw.js", &[], &[]).await.unwrap().status, 404);
    let missing = send(&addr, "GET", "/nobody/merchant", &[("accept".to_string(), "text/html".to_string())], &[]).await.unwrap();
    assert_eq!(missing.status, 404);
    node.stop().await;
}
