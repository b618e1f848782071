//! The city voucher office in a real headless Chromium on a phone viewport
//! (390×844, German), against a real node on a socket; the browser helpers are
//! `browser.rs`'s. A clerk logs in through the login form with the keyboard, follows
//! the staff home's link to the office, creates a programme through the form,
//! issues a printed batch (the form's CSV answer, fetched by the page itself, since
//! a headless download has nowhere to go), sells one of its cards at the counter
//! for 25,00 € in cash, looks it up and sees 25,00 € with the sale in its bookings.
//! The core holds what the pages said. With `STURMFEST_SCREENSHOTS=<dir>` the card
//! page is saved as 15-voucher-office.

use std::path::PathBuf;

use serde_json::json;

use crate::browser::{browser_tools_or_skip, screenshot, start_browser, until_text};
use crate::office_browser::{click, login, serve, type_into};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_on_a_phone_creates_a_programme_issues_a_batch_sells_a_card_for_25_euros_and_finds_it() {
    if !browser_tools_or_skip() {
        return;
    }
    let shots = std::env::var_os("STURMFEST_SCREENSHOTS").map(PathBuf::from);
    let served = serve().await;
    served.account("stadt", &["voucher_office"]).await;
    let base = served.base.clone();

    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    login(&client, &base, "stadt").await;
    click(&client, "main a[href^=\"/club/vouchers\"]").await;
    until_text(&client, "h1", |t| t == "Gutscheinbüro").await;

    // A programme through the form.
    type_into(&client, "p-name", "Sturmfest-Gutschein").await;
    type_into(&client, "p-balance", "250,00").await;
    type_into(&client, "p-load", "250").await;
    type_into(&client, "p-offline", "20").await;
    type_into(&client, "p-window", "30").await;
    click(&client, "form[action^=\"/club/vouchers/programmes\"] button[type=submit]").await;
    until_text(&client, "p.ok", |t| t.contains("angelegt")).await;
    until_text(&client, "main", |t| t.contains("Sturmfest-Gutschein")).await;

    // A printed batch of two: the form warns the codes are shown once; its answer is the CSV.
    click(&client, "nav.office-nav a[href^=\"/club/vouchers/cards\"]").await;
    until_text(&client, "#shown-once", |t| t.contains("nur ein einziges Mal")).await;
    type_into(&client, "b-count", "2").await;
    let csv = client
        .execute(
            "const f = document.querySelector('form[action*=\"/cards/batch\"]');
             const r = await fetch(f.action, {method: 'POST', body: new URLSearchParams(new FormData(f))});
             return [r.status, r.headers.get('content-type'), await r.text()];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!((csv[0].clone(), csv[1].clone()), (json!(200), json!("text/csv; charset=utf-8")), "{csv}");
    let text = csv[2].as_str().unwrap().trim_start_matches('\u{feff}');
    let codes: Vec<&str> = text.lines().skip(1).map(|l| l.split(';').next().unwrap()).collect();
    assert_eq!(codes.len(), 2, "{text}");

    // Sold at the counter for 25,00 € in cash.
    client.goto(&format!("{base}/club/vouchers/cards")).await.unwrap();
    click(&client, "nav.office-nav a[href^=\"/club/vouchers/counter\"]").await;
    until_text(&client, "h1", |t| t == "Gedruckte Karte verkaufen").await;
    type_into(&client, "c-code", codes[0]).await;
    type_into(&client, "c-amount", "25,00").await;
    type_into(&client, "c-point", "1").await;
    click(&client, "#sell").await;
    // WebDriver reports the no-break space before € as a plain space.
    until_text(&client, "#result-balance", |t| t.replace('\u{a0}', " ") == "25,00 €").await;
    let active = client.active_element().await.unwrap();
    assert_eq!(active.attr("id").await.unwrap().as_deref(), Some("c-code"), "ready for the next customer");

    // Looked up on the card page: 25,00 €, active, the sale in its bookings.
    click(&client, "nav.office-nav a[href^=\"/club/vouchers/cards\"]").await;
    until_text(&client, "h1", |t| t == "Karte suchen").await;
    type_into(&client, "l-code", codes[0]).await;
    click(&client, "#lookup").await;
    until_text(&client, "#found-balance", |t| t.replace('\u{a0}', " ") == "25,00 €").await;
    until_text(&client, "#found-state", |t| t == "aktiv").await;
    until_text(&client, "#bookings", |t| t.contains("Verkauf") && t.contains("bar, Verkaufsstelle 1")).await;
    let width = client.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap();
    let wide = client
        .execute("return [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 390).map(e => e.tagName + '#' + e.id).slice(0, 5)", vec![])
        .await
        .unwrap();
    assert!(width.as_f64().unwrap() <= 390.0, "no sideways scrolling on a phone: {width}, too wide: {wide}");
    client.execute("document.getElementById('found').scrollIntoView()", vec![]).await.unwrap();
    screenshot(&client, &shots, "15-voucher-office").await;

    let shard = served.opened.state.tenants["club"].shard.clone();
    let active_cards = shard.read(|t| t.vouchers().cards().filter(|c| c.state == sturmfest_core::vouchers::CardState::Active).count()).await.unwrap();
    assert_eq!(active_cards, 1);
    drop(shard);
    client.close().await.unwrap();
    served.stop().await;
}
