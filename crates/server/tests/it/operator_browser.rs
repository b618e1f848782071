//! The operator page (`/operator`) in a real headless Chromium on a phone viewport,
//! German (from the browser's language), against a real node on a socket.
//!
//! Two cities get programmes and movements through their office API (as in
//! `operator.rs`); the operator pastes the token, lands on the report with both
//! cities, their programmes and volume bars, and signs out, after which the page is
//! the sign-in form again. A wrong token first shows the error and no report.
//!
//! Like `browser.rs`: without chromium and chromedriver the test says so and
//! returns (CI must have them). `STURMFEST_SCREENSHOTS=<dir>` saves
//! `18-operator.png`.

use std::path::PathBuf;

use fantoccini::Locator;

use crate::browser::{browser_tools_or_skip, screenshot, start_browser, until_text, visible};
use crate::operator::{activity, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_signs_in_on_a_phone_and_sees_both_cities() {
    if !browser_tools_or_skip() {
        return;
    }
    let shots = std::env::var_os("STURMFEST_SCREENSHOTS").map(PathBuf::from);
    let n = start().await;
    activity(&n).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sturmfest_server::node::serve(listener, n.opened.state.clone(), async {
        let _ = stopped.await;
    }));
    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    let base = format!("http://{addr}");

    client.goto(&format!("{base}/operator")).await.unwrap();
    until_text(&client, "h1", |t| t.contains("Anmeldung Betrieb")).await;
    let token = client.find(Locator::Css("#token")).await.unwrap();
    token.send_keys("sfo_falsch").await.unwrap();
    client.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    until_text(&client, "p.notice", |t| t.contains("nicht das Betreiber-Token")).await;
    assert!(!visible(&client, "section.city").await, "no figures for a wrong token");

    let token = client.find(Locator::Css("#token")).await.unwrap();
    token.clear().await.unwrap();
    token.send_keys(&n.operator).await.unwrap();
    client.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    until_text(&client, "h1", |t| t.contains("Gutscheine aller Städte")).await;
    let cities = client.find_all(Locator::Css("section.city h2")).await.unwrap();
    let mut names = Vec::new();
    for city in &cities {
        names.push(city.text().await.unwrap());
    }
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].contains("Stadt Eisfeld") && names[1].contains("Stadt Rivalen"), "{names:?}");
    let rival = until_text(&client, "section[data-tenant=rival]", |t| t.contains("Rivalen-Taler")).await;
    assert!(rival.replace('\u{a0}', " ").contains("206,79 €"), "{rival}");
    assert!(visible(&client, "section[data-tenant=rival] svg.volume").await, "the volume bar is drawn");
    // The day table opens from the keyboard, too: focus the summary and press Enter.
    let summary = client.find(Locator::Css("section[data-tenant=rival] details summary")).await.unwrap();
    summary.send_keys("\u{E007}").await.unwrap();
    until_text(&client, "section[data-tenant=rival] details table", |t| t.contains("2 · 58,21")).await;
    // The picture shows the page from its top: heading, the first city and its bar.
    client.execute("window.scrollTo(0, 0)", Vec::new()).await.unwrap();
    screenshot(&client, &shots, "18-operator").await;

    client.find(Locator::Css("form.inline button")).await.unwrap().click().await.unwrap();
    until_text(&client, "h1", |t| t.contains("Anmeldung Betrieb")).await;
    client.goto(&format!("{base}/operator")).await.unwrap();
    until_text(&client, "h1", |t| t.contains("Anmeldung Betrieb")).await;

    client.close().await.unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
