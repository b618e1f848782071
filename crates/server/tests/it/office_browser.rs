//! The box office and the club office in a real headless Chromium on a phone
//! viewport (390×844, German), against a real node on a socket; the browser
//! helpers are `browser.rs`'s. Staff log in through the login form with the
//! keyboard like anyone else.
//!
//! A cashier sells two seats for cash: the page shows the total and the change,
//! offers the PDF and, on "hand over", the tickets' QR codes; the core holds the
//! order on the box-office channel. The club office imports a seat map by pasting
//! it into the import form, creates a game through the form, opens its sale (the
//! public game list then shows it), and pulls the brake with a message: the fan's
//! game page shows that message. With `STURMFEST_SCREENSHOTS=<dir>` the pages are
//! saved as 9-box-office, 10-office-new-game and 11-office-sales.

use std::path::PathBuf;

use fantoccini::{Client, Locator};
use serde_json::json;
use sturmfest_core as core;
use sturmfest_server::http::app;
use sturmfest_server::node::{self, NodeOptions, Opened};
use sturmfest_server::runtime::ShardConfig;
use sturmfest_server::tenants::Registry;

use crate::api::{check, expect_status, post};
use crate::browser::{browser_tools_or_skip, screenshot, start_browser, until_text};

pub(crate) struct Served {
    _dir: tempfile::TempDir,
    pub(crate) opened: Opened,
    pub(crate) router: axum::Router,
    pub(crate) base: String,
    pub(crate) admin: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub(crate) async fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let admin = registry.add("club", "Eisclub Sturmfest").unwrap();
    registry.save(dir.path()).unwrap();
    let opened = node::open_with(dir.path(), ShardConfig::default(), NodeOptions::default()).await.unwrap();
    let router = app(opened.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(node::serve(listener, opened.state.clone(), async {
        let _ = stopped.await;
    }));
    Served { _dir: dir, opened, router, base, admin, stop, server }
}

impl Served {
    pub(crate) async fn account(&self, login: &str, roles: &[&str]) {
        let account = json!({"login": login, "display_name": login, "password": "staff-secret-1", "roles": roles});
        expect_status(&check(&self.router, post("/api/v1/club/staff/accounts", account).bearer(&self.admin)).await, 201);
    }

    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        drop(self.router);
        self.opened.close().await;
    }
}

pub(crate) async fn login(client: &Client, base: &str, login: &str) {
    client.goto(&format!("{base}/club/staff/login")).await.unwrap();
    until_text(client, "h1", |t| t == "Anmeldung für Mitarbeitende").await;
    let active = client.active_element().await.unwrap();
    active.send_keys(&format!("{login}\u{E004}staff-secret-1\u{E007}")).await.unwrap();
    until_text(client, "h1", |t| t == "Mitarbeiterbereich").await;
}

pub(crate) async fn set(client: &Client, id: &str, value: &str) {
    client.execute("document.getElementById(arguments[0]).value = arguments[1]", vec![json!(id), json!(value)]).await.unwrap();
}

pub(crate) async fn type_into(client: &Client, id: &str, text: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

pub(crate) async fn click(client: &Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cashier_sells_two_seats_for_cash_sees_the_change_and_hands_over_the_tickets() {
    if !browser_tools_or_skip() {
        return;
    }
    let shots = std::env::var_os("STURMFEST_SCREENSHOTS").map(PathBuf::from);
    let s = serve().await;
    s.account("kasse", &["box_office"]).await;
    let shard = s.opened.state.tenants["club"].shard.clone();
    let Ok(core::Reply::VenueCreated { venue }) = shard.execute(None, core::Command::CreateVenue(sturmfest_server::demo::arena())).await.unwrap() else {
        panic!("the demo arena is valid")
    };
    let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    let spec = sturmfest_server::demo::game(venue, "EC Sturmvögel – Eisbären Hafenstadt", &now.checked_add(jiff::Span::new().days(3)).unwrap(), &now.checked_sub(jiff::Span::new().hours(1)).unwrap());
    let Ok(core::Reply::EventCreated { event }) = shard.execute(None, core::Command::CreateEvent(spec)).await.unwrap() else { panic!("a valid game") };
    assert!(shard.execute(None, core::Command::Sale { event, action: core::SaleAction::Open }).await.unwrap().is_ok());

    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    login(&client, &s.base, "kasse").await;
    click(&client, "a[href^=\"/club/boxoffice\"]").await;
    until_text(&client, "h1", |t| t == "Kasse").await;
    click(&client, &format!("a[href^=\"/club/boxoffice?event={}\"]", event.0)).await;
    until_text(&client, "#game", |t| t.contains("Eisbären Hafenstadt")).await;
    // The seats field has the focus: type, Tab on to the category.
    let active = client.active_element().await.unwrap();
    assert_eq!(active.attr("id").await.unwrap().as_deref(), Some("seats"), "the seats field has the focus");
    active.send_keys("B 1 5-6").await.unwrap();
    client
        .execute("var c = document.getElementById('category'); c.value = '0'; c.dispatchEvent(new Event('change', {bubbles: true}))", vec![])
        .await
        .unwrap();
    type_into(&client, "given", "100").await;
    type_into(&client, "buyer", "Erika Mustermann").await;
    click(&client, "#sell").await;
    until_text(&client, "#r-change", |t| !t.is_empty()).await;
    let total = client.find(Locator::Id("r-total")).await.unwrap().text().await.unwrap();
    let change = client.find(Locator::Id("r-change")).await.unwrap().text().await.unwrap();
    // WebDriver reports the no-break space before € as a plain space.
    assert_eq!(total.replace('\u{a0}', " "), "64,00 €", "two adult seats in Sitzplatz Mitte");
    assert_eq!(change.replace('\u{a0}', " "), "36,00 €");
    let pdf = client.find(Locator::Id("r-print")).await.unwrap().attr("href").await.unwrap().unwrap();
    assert!(pdf.contains("/tickets.pdf"), "{pdf}");
    click(&client, "#r-hand").await;
    let codes = client.execute("return document.querySelectorAll('#r-tickets figure svg').length", vec![]).await.unwrap();
    assert_eq!(codes, json!(2), "one QR per ticket");
    let width = client.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap();
    assert!(width.as_f64().unwrap() <= 390.0, "no sideways scrolling on a phone: {width}");
    screenshot(&client, &shots, "9-box-office").await;

    let orders = shard.read(|t| t.orders().iter().map(|o| (o.channel, o.buyer.name.clone(), o.tickets.len())).collect::<Vec<_>>()).await.unwrap();
    assert_eq!(orders, vec![(core::Channel::BoxOffice, "Erika Mustermann".to_string(), 2)]);
    // A shard handle keeps the writer's inbox open: it goes before the node closes.
    drop(shard);
    client.close().await.unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_club_office_creates_a_game_opens_it_and_the_brake_reaches_the_fans_page() {
    if !browser_tools_or_skip() {
        return;
    }
    let shots = std::env::var_os("STURMFEST_SCREENSHOTS").map(PathBuf::from);
    let s = serve().await;
    s.account("buero", &["office"]).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    login(&client, &s.base, "buero").await;
    click(&client, "a[href^=\"/club/office\"]").await;
    until_text(&client, "h1", |t| t == "Geschäftsstelle").await;

    // The seat map, pasted into the import form; preview, then create.
    click(&client, "a[href^=\"/club/office/venues/import\"]").await;
    until_text(&client, "h1", |t| t == "Saalplan importieren").await;
    set(&client, "data", "venue;Eishalle Nord\nA;1;1;12\nA;2;1;12\nB;1;1;12\nstanding;Stehplatz Nord;200\n").await;
    click(&client, "button[value=preview]").await;
    until_text(&client, "#import-counts", |t| t.contains("36")).await;
    click(&client, "button[value=create]").await;
    until_text(&client, "main", |t| t.contains("Eishalle Nord")).await;

    // A new game through the form.
    click(&client, "a[href^=\"/club/office/events/new\"]").await;
    click(&client, "a[href^=\"/club/office/events/new?venue=0\"]").await;
    until_text(&client, "main", |t| t.contains("Eishalle Nord")).await;
    type_into(&client, "name", "Derby gegen Rivalen").await;
    set(&client, "starts", "2099-12-05T19:30").await;
    set(&client, "opens", "2020-12-01T10:00").await;
    set(&client, "closes", "2099-12-05T19:30").await;
    type_into(&client, "cat0_name", "Sitzplatz").await;
    client.execute("for (const o of document.getElementById('cat0_places').options) o.selected = o.value.startsWith('b')", vec![]).await.unwrap();
    type_into(&client, "cat0_tariffs", "Erwachsene 29,00\nErmäßigt 19,50").await;
    type_into(&client, "cat1_name", "Stehplatz").await;
    client.execute("document.querySelector('#cat1_places option[value=s0]').selected = true", vec![]).await.unwrap();
    type_into(&client, "cat1_tariffs", "Stehplatz 12,00").await;
    type_into(&client, "quota_box_office", "100").await;
    client.execute("document.getElementById('name').scrollIntoView()", vec![]).await.unwrap();
    screenshot(&client, &shots, "10-office-new-game").await;
    client.find(Locator::Css("form[action^=\"/club/office/events/new\"] button[type=submit]")).await.unwrap().click().await.unwrap();
    until_text(&client, "h1", |t| t == "Derby gegen Rivalen").await;
    let spec = s.opened.state.tenants["club"].shard.read(|t| t.event(core::EventId(0)).map(|e| e.spec.clone())).await.unwrap().expect("the game exists");
    assert_eq!(spec.categories.len(), 2);
    assert_eq!(spec.quotas, [None, Some(100), None]);

    // Open the sale; the public list shows the game.
    client.execute("document.getElementById('action').value = 'open'", vec![]).await.unwrap();
    click(&client, "form[action*=\"/sale\"] button[type=submit]").await;
    until_text(&client, "#sale-status", |t| t == "Im Verkauf").await;
    client.execute("document.getElementById('overview-h').scrollIntoView()", vec![]).await.unwrap();
    let chart = client.execute("return document.querySelectorAll('#chart svg[role=img] rect.sold').length", vec![]).await.unwrap();
    assert_eq!(chart, json!(2), "one bar per category");
    screenshot(&client, &shots, "11-office-sales").await;
    client.goto(&format!("{}/club", s.base)).await.unwrap();
    until_text(&client, "main", |t| t.contains("Derby gegen Rivalen")).await;

    // The brake, with a message, as the office pulls it.
    client.back().await.unwrap();
    until_text(&client, "h1", |t| t == "Derby gegen Rivalen").await;
    client.execute("document.getElementById('action').value = 'pause'", vec![]).await.unwrap();
    type_into(&client, "message", "Notbremse: Verkauf ruht bis 18 Uhr").await;
    click(&client, "form[action*=\"/sale\"] button[type=submit]").await;
    until_text(&client, "#sale-status", |t| t == "Verkauf angehalten").await;
    client.goto(&format!("{}/club/events/0", s.base)).await.unwrap();
    until_text(&client, "main", |t| t.contains("Notbremse: Verkauf ruht bis 18 Uhr")).await;

    client.close().await.unwrap();
    s.stop().await;
}
