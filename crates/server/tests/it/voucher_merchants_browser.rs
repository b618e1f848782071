//! The voucher office's merchant and risk pages in a real headless Chromium on a
//! phone viewport (390×844, German), against a real node on a socket; the browser
//! helpers are `browser.rs`'s and `office_browser.rs`'s. A clerk of the voucher
//! office logs in with the keyboard, onboards a shop through the form, accepts it
//! in the city's programme and makes a pairing code; the Rust till enrols with the
//! code read off the page and takes an allowance; the clerk sets the offline policy
//! on the risk page and sees the worst-case loss it allows, with the till counted
//! and its allowance open, without sideways scrolling. With
//! `STURMFEST_SCREENSHOTS=<dir>` the risk page is saved as 17-voucher-risk.

use std::path::PathBuf;

use fantoccini::Locator;
use serde_json::json;
use sturmfest_core::ledger::ProgrammeId;
use sturmfest_core::{Cents, TimeMs};
use sturmfest_server::runtime::wall_clock_ms;
use sturmfest_server::vouchers::device::Device;

use crate::api::{check, expect_status, post, request};
use crate::browser::{browser_tools_or_skip, screenshot, start_browser, until_text};
use crate::office_browser::{click, login, serve, type_into};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_onboards_a_shop_pairs_its_till_and_reads_the_worst_case_loss_on_a_phone() {
    if !browser_tools_or_skip() {
        return;
    }
    let shots = std::env::var_os("STURMFEST_SCREENSHOTS").map(PathBuf::from);
    let s = serve().await;
    s.account("gutschein", &["voucher_office"]).await;
    let programme = json!({"name": "Nordstadt-Gutschein", "card_balance_cents_max": 25_000, "load_cents_max": 25_000, "card_offline_cents_max": 2_000, "reversal_window_secs": 600});
    let reply = check(&s.router, post("/api/v1/club/vouchers/programmes", programme).bearer(&s.admin)).await;
    expect_status(&reply, 201);
    let programme = reply.json["id"].as_u64().unwrap() as u32;

    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    login(&client, &s.base, "gutschein").await;
    client.goto(&format!("{}/club/vouchers/merchants", s.base)).await.unwrap();
    until_text(&client, "h1", |t| t == "Händler").await;

    // Onboard with the keyboard: name, Tab, IBAN as printed on a letter, Enter.
    type_into(&client, "merchant-name", "Buchhandlung am Markt\u{E004}DE89 3704 0044 0532 0130 00\u{E007}").await;
    until_text(&client, "main", |t| t.contains("Buchhandlung am Markt") && t.contains("DE•• •••• 3000")).await;
    let merchant = s.opened.state.tenants["club"].shard.read(|t| t.vouchers().merchants().next().map(|m| m.id.0)).await.unwrap().expect("onboarded");
    click(&client, &format!("form[action^=\"/club/vouchers/merchants/{merchant}/accept\"] button")).await;
    until_text(&client, &format!("#m{merchant} .programmes"), |t| t == "Nordstadt-Gutschein").await;

    // The pairing code, large on the page; the till enrols with what it shows.
    click(&client, &format!("form[action^=\"/club/vouchers/merchants/{merchant}/pairing\"] button")).await;
    let code = until_text(&client, "#pairing-code", |t| t.len() >= 30).await;
    let size = client.execute("return parseFloat(getComputedStyle(document.getElementById('pairing-code')).fontSize)", vec![]).await.unwrap();
    assert!(size.as_f64().unwrap() >= 24.0, "shown large: {size}");
    let mut till = Device::new("club", [5; 32]);
    let enrol = till.enrol_request(&code);
    let reply = check(&s.router, request(enrol.method, enrol.path).raw(enrol.body)).await;
    expect_status(&reply, 201);
    till.enrolled(&reply.json);

    // The risk page through the office's menu: set the policy, read the worst case.
    click(&client, "nav.office-nav a[href^=\"/club/vouchers/offline\"]").await;
    until_text(&client, "h1", |t| t == "Offline & Risiko").await;
    type_into(&client, "device-max-input", "150,00").await;
    type_into(&client, "open-max-input", "2.500,00\u{E007}").await;
    until_text(&client, "#worst-case", |t| t.replace('\u{a0}', " ") == "2.500,00 €").await;
    let ask = till.allowance_request(ProgrammeId(programme), Cents(12_000), 4 * 3_600, TimeMs(wall_clock_ms()));
    let mut req = request(ask.method, ask.path).raw(ask.body);
    for (name, value) in &ask.headers {
        req = req.header(name, value);
    }
    expect_status(&check(&s.router, req).await, 201);
    client.refresh().await.unwrap();
    until_text(&client, "#open-now", |t| t.replace('\u{a0}', " ") == "120,00 € (1)").await;
    let bound = client.find(Locator::Id("devices-bound")).await.unwrap().text().await.unwrap();
    assert_eq!(bound.replace('\u{a0}', " "), "1 × 150,00 € = 150,00 €");
    let means = client.find(Locator::Id("worst-case-means")).await.unwrap().text().await.unwrap();
    assert!(means.starts_with("So viel könnten die Kassen"), "{means}");
    let width = client.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap();
    assert!(width.as_f64().unwrap() <= 390.0, "no sideways scrolling on a phone: {width}");
    client.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    screenshot(&client, &shots, "17-voucher-risk").await;

    client.close().await.unwrap();
    s.stop().await;
}
