//! The checkout in headless Chromium on a phone viewport, against a real node on a
//! socket: a fan taps two seats on the map, holds them, is told what to fix when the
//! name and e-mail are missing or wrong, pays on the test provider's page and lands
//! on the confirmation page, which shows the seats and the total in euros — and the
//! server agrees (two seats sold, one order with the buyer's address). The ticket
//! e-mail is read from the SMTP sink: its PDF, rendered with poppler, carries one QR
//! code per ticket that decodes (rqrr) to a ticket signed for that order. A second fan
//! takes best available, declines at the provider first, is told the seats stay
//! held, pays again from the confirmation page and gets the order. With
//! `STURMFEST_SCREENSHOTS=dir` the checkout and the confirmation are saved as
//! 12-checkout.png and 13-confirmation.png. Skipped locally without Chromium; CI
//! fails instead.

use std::path::PathBuf;

use fantoccini::{Client, Locator};
use serde_json::Value;
use sturmfest_core as core;
use sturmfest_server::http::app;
use sturmfest_server::node::{self, NodeOptions};
use sturmfest_server::runtime::ShardConfig;
use sturmfest_server::tenants::Registry;

use crate::api::{at, check, get};
use crate::browser::{browser_tools_or_skip, screenshot, start_browser, until_text, visible};

struct Shop {
    _dir: tempfile::TempDir,
    opened: node::Opened,
    router: axum::Router,
    base: String,
    event: u32,
    admin: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The mail relay the node sends ticket e-mails to.
    sink: crate::support::smtp_sink::SmtpSink,
}

async fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let admin = registry.add("club", "Eisclub Sturmfest").unwrap();
    registry.save(dir.path()).unwrap();
    let sink = crate::support::smtp_sink::SmtpSink::start().await;
    let outbox = sturmfest_server::mail::Mailer::new(&crate::mail::sink_config(&sink)).unwrap().spawn();
    let options = NodeOptions { pow_base_bits: 12, pow_bits_max: 12, outbox: Some(outbox), base_url: "http://127.0.0.1".into(), ..Default::default() };
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
    let open = core::Command::Sale { event, action: core::SaleAction::Open };
    assert!(shard.execute(None, open).await.unwrap().is_ok());
    Shop { _dir: dir, opened, router, base, event: event.0, admin, stop, server, sink }
}

impl Shop {
    async fn availability(&self) -> Value {
        check(&self.router, get(at("club", &format!("/events/{}/availability", self.event)))).await.json
    }

    async fn orders(&self) -> Vec<Value> {
        let reply = check(&self.router, get(at("club", &format!("/events/{}/orders", self.event))).bearer(&self.admin)).await;
        reply.json["orders"].as_array().cloned().unwrap_or_default()
    }

    async fn close(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        drop(self.router);
        self.opened.close().await;
    }
}

async fn tap_seats(client: &Client, seats: &[u64]) {
    let deadline = std::time::Instant::now() + crate::browser::page_wait;
    loop {
        let drawn = client.execute("return document.querySelectorAll('#seat-map circle').length", vec![]).await.unwrap();
        if drawn.as_u64() == Some(3_000) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the map never showed its seats: {drawn}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for seat in seats {
        let circle = client.find(Locator::Css(&format!("#seat-map circle[data-seat=\"{seat}\"]"))).await.unwrap();
        client.execute("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", vec![serde_json::to_value(&circle).unwrap()]).await.unwrap();
    }
}

async fn fill(client: &Client, css: &str, text: &str) {
    let input = client.find(Locator::Css(css)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

#[tokio::test]
async fn a_fan_checks_out_two_seats_on_a_phone_and_sees_the_confirmation() {
    if !browser_tools_or_skip() {
        return;
    }
    let shots = std::env::var_os("STURMFEST_SCREENSHOTS").map(PathBuf::from);
    let shop = shop().await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    client.goto(&format!("{}/club/events/{}?lang=en", shop.base, shop.event)).await.unwrap();
    until_text(&client, "#shop-heading", |t| t == "Buy tickets").await;
    tap_seats(&client, &[375, 376]).await;
    client.find(Locator::Css("#hold-selected")).await.unwrap().click().await.unwrap();
    until_text(&client, "#cart-places", |t| t.lines().count() == 2).await;
    until_text(&client, "#cart-total", |t| t == "€64.00").await;

    // Nothing typed: both fields say what is missing, and nothing is started.
    client.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();
    assert!(visible(&client, "#buyer-name-error").await && visible(&client, "#buyer-email-error").await);
    fill(&client, "#buyer-name", "Erika Mustermann").await;
    fill(&client, "#buyer-email", "erika at example").await;
    client.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();
    assert!(!visible(&client, "#buyer-name-error").await, "the name is fine now");
    until_text(&client, "#buyer-email-error", |t| t.contains("valid e-mail")).await;
    assert_eq!(client.find(Locator::Css("#buyer-email")).await.unwrap().attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    fill(&client, "#buyer-email", "erika@example.org").await;
    assert!(!visible(&client, "#buyer-email-error").await, "the message goes once the address is right");
    client.execute("document.getElementById('cart').scrollIntoView()", vec![]).await.unwrap();
    screenshot(&client, &shots, "12-checkout").await;
    client.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();

    // The provider's page, in the shop's language, with the amount.
    until_text(&client, "h1", |t| t == "Test payment").await;
    until_text(&client, "#amount", |t| t == "€64.00").await;
    client.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();

    until_text(&client, "#heading", |t| t == "Thank you – your order is confirmed").await;
    until_text(&client, "#total", |t| t == "€64.00").await;
    let tickets = client.execute("return document.querySelectorAll('tr.ticket').length", vec![]).await.unwrap();
    assert_eq!(tickets.as_u64(), Some(2));
    let width: f64 = client.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap().as_f64().unwrap();
    assert!(width <= 390.0, "no sideways scrolling on a phone: {width}px");
    screenshot(&client, &shots, "13-confirmation").await;

    let seen = shop.availability().await;
    assert_eq!((seen["sold"].as_u64(), seen["held"].as_u64()), (Some(2), Some(0)), "{seen:#}");
    let orders = shop.orders().await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["buyer"]["email"], "erika@example.org");
    assert_eq!(orders[0]["paid_cents"], 6400);

    // The ticket e-mail: in English, the PDF attached; its QR codes are the order's
    // signed tickets; the download button serves the tickets too.
    let received = shop.sink.next_message(crate::browser::page_wait).await;
    assert_eq!(received.rcpt_to, ["erika@example.org"]);
    let message = mail_parser::MessageParser::default().parse(&received.data).expect("a parseable message");
    assert!(message.subject().is_some_and(|s| s.starts_with("Your tickets: ")), "{:?}", message.subject());
    let pdf = message.attachments().next().expect("the ticket PDF").contents().to_vec();
    // The game's gate loads its keys over HTTP from the node, as a real one does.
    let verifier = crate::tickets::gate_from_key_set("club", &http_get(&format!("{}/api/v1/club/events/{}/keys", shop.base, shop.event)).await);
    let order_id = orders[0]["order_id"].as_u64().unwrap();
    if crate::tickets::poppler_available() {
        let codes = crate::tickets::decode_qr_pages(&pdf);
        assert_eq!(codes.len(), 2);
        for code in &codes {
            let claim = sturmfest_server::tickets::verify_ticket(&verifier, sturmfest_core::EventId(shop.event), code)
                .expect("a signed ticket");
            assert_eq!(claim.order.0, order_id);
        }
    } else {
        assert!(std::env::var_os("CI").is_none(), "CI must install poppler-utils");
    }
    let download = client.find(Locator::Css("#download")).await.unwrap().attr("href").await.unwrap().unwrap();
    assert!(download.contains(&format!("/club/orders/{order_id}.")) && download.contains("tickets.pdf"), "{download}");
    client.close().await.unwrap();
    shop.close().await;
}

#[tokio::test]
async fn a_fan_takes_best_available_declines_once_and_pays_again() {
    if !browser_tools_or_skip() {
        return;
    }
    let shop = shop().await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    client.goto(&format!("{}/club/events/{}", shop.base, shop.event)).await.unwrap();
    until_text(&client, "#shop-heading", |t| t == "Tickets kaufen").await;
    client.execute("var s = document.getElementById('best-category'); s.value = '1'; s.dispatchEvent(new Event('change'));", vec![]).await.unwrap();
    client.find(Locator::Css("#best-form button[type=submit]")).await.unwrap().click().await.unwrap();
    until_text(&client, "#cart-places", |t| t.lines().count() == 2).await;
    fill(&client, "#buyer-name", "Max Fan").await;
    fill(&client, "#buyer-email", "max@example.org").await;
    client.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();

    until_text(&client, "h1", |t| t == "Testzahlung").await;
    client.find(Locator::Css("#decline")).await.unwrap().click().await.unwrap();
    until_text(&client, "#heading", |t| t == "Zahlung abgelehnt").await;
    until_text(&client, "#message", |t| t.starts_with("Ihre Plätze bleiben reserviert bis") && t.contains(" Uhr")).await;
    assert_eq!(shop.availability().await["held"], 2, "the seats stay held after a decline");

    client.find(Locator::Css("#retry")).await.unwrap().click().await.unwrap();
    until_text(&client, "h1", |t| t == "Testzahlung").await;
    client.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();
    until_text(&client, "#heading", |t| t == "Danke – Ihre Bestellung ist bestätigt").await;
    let seen = shop.availability().await;
    assert_eq!((seen["sold"].as_u64(), seen["held"].as_u64()), (Some(2), Some(0)), "{seen:#}");
    assert_eq!(shop.orders().await.len(), 1);
    client.close().await.unwrap();
    shop.close().await;
}

/// The body of a GET over a real socket (a gate fetching its keys); panics unless 200.
async fn http_get(url: &str) -> Vec<u8> {
    use http_body_util::{BodyExt, Empty};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<hyper::body::Bytes>>();
    let response = client.get(url.parse().expect("a URL")).await.expect("the node answers");
    assert_eq!(response.status(), 200, "{url}");
    response.into_body().collect().await.unwrap().to_bytes().to_vec()
}
