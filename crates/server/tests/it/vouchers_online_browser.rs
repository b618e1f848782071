//! A holder buys a digital voucher card in headless Chromium on a phone viewport,
//! against a real node on a socket: the buy page (amount, e-mail, consent), the test
//! provider's page, the return page, and the card page with its QR code. The test
//! reads the QR from the page's SVG — rasterised module by module and decoded with
//! `rqrr`, as a till's camera would read it — checks it is `CODE~CERTIFICATE` with a
//! certificate that verifies with the tenant's keys, redeems 12.50 € with that code
//! through the merchant API, and reloads the card page: 17.50 € are left. With
//! `STURMFEST_SCREENSHOTS=dir` the card page is saved as 16-digital-card.png.
//! Skipped locally without Chromium; CI fails instead.

use std::path::PathBuf;

use fantoccini::Locator;
use serde_json::json;
use sturmfest_server::node::{self, NodeOptions};
use sturmfest_server::runtime::ShardConfig;
use sturmfest_server::tenants::Registry;
use sturmfest_server::vouchers::offline::{BalanceCertificate, split_qr};

use crate::api::{at, check, expect_status, post};
use crate::browser::{browser_tools_or_skip, screenshot, start_browser, until_text};

/// Decodes the QR code in an SVG as `qrcode` draws it: one `M{x} {y}h{w}v{h}H{x}V{y}`
/// rectangle per dark run, in a `viewBox="0 0 {w} {h}"`.
fn decode_svg_qr(svg: &str) -> String {
    let number = |s: &str| s.parse::<usize>().unwrap();
    let view = svg.split("viewBox=\"0 0 ").nth(1).unwrap().split('"').next().unwrap();
    let (width, height) = view.split_once(' ').map(|(w, h)| (number(w), number(h))).unwrap();
    let mut pixels = vec![255u8; width * height];
    let path = svg.split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
    for rect in path.split('M').filter(|r| !r.is_empty()) {
        // "{x} {y}h{w}v{h}H{x}V{y}"
        let (origin, rest) = rect.split_once('h').unwrap();
        let (x, y) = origin.split_once(' ').map(|(x, y)| (number(x), number(y))).unwrap();
        let (w, rest) = rest.split_once('v').unwrap();
        let h = rest.split('H').next().unwrap();
        for row in y..y + number(h) {
            for col in x..x + number(w) {
                pixels[row * width + col] = 0;
            }
        }
    }
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the card");
    grids[0].decode().expect("the QR decodes").1
}

#[tokio::test]
async fn a_holder_buys_a_digital_card_on_a_phone_and_a_till_redeems_its_qr() {
    if !browser_tools_or_skip() {
        return;
    }
    let shots = std::env::var_os("STURMFEST_SCREENSHOTS").map(PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let admin = registry.add("club", "Stadtmarketing Sturmfest").unwrap();
    registry.save(dir.path()).unwrap();
    let options = NodeOptions { base_url: "http://127.0.0.1".into(), ..Default::default() };
    let opened = node::open_with(dir.path(), ShardConfig::default(), options).await.unwrap();
    let router = sturmfest_server::http::app(opened.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(node::serve(listener, opened.state.clone(), async {
        let _ = stopped.await;
    }));
    let (_programme, merchant, device) = crate::vouchers_online::programme_with_till(&router, &admin).await;

    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = start_browser(profile.path()).await;
    client.goto(&format!("{base}/club/card/buy?lang=en")).await.unwrap();
    until_text(&client, "h1", |t| t == "Buy a voucher card online").await;
    client.find(Locator::Css("#amount")).await.unwrap().send_keys("30.00").await.unwrap();
    client.find(Locator::Css("#email")).await.unwrap().send_keys("kim@example.org").await.unwrap();
    client.find(Locator::Css("#consent")).await.unwrap().click().await.unwrap();
    client.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();

    // The provider's page, with the amount; Pay; back to the node, on to the card.
    until_text(&client, "h1", |t| t == "Test payment").await;
    until_text(&client, "#amount", |t| t == "€30.00").await;
    client.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();
    until_text(&client, "#balance", |t| t == "€30.00").await;
    let width = client.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap().as_f64().unwrap();
    assert!(width <= 390.0, "no sideways scrolling on a phone: {width}px");
    screenshot(&client, &shots, "16-digital-card").await;

    let svg = client.execute("return document.querySelector('#qr svg').outerHTML", vec![]).await.unwrap();
    let text = decode_svg_qr(svg.as_str().unwrap());
    let (code, certificate) = split_qr(&text).expect("CODE~CERTIFICATE");
    let shown = client.find(Locator::Css("#code")).await.unwrap().text().await.unwrap();
    assert_eq!(code, shown.trim(), "the QR carries the code the page shows");
    let verifier = opened.state.tenants["club"].credentials.keyring.verifier().clone();
    let now = sturmfest_core::TimeMs(sturmfest_server::runtime::wall_clock_ms());
    let certified = BalanceCertificate::verify(&verifier, certificate, now).expect("signed with the tenant's keys");
    assert_eq!(certified.balance.0, 3_000);

    // The till redeems 12.50 with the scanned code; the reloaded page shows the rest.
    let redeem = json!({"redemption_id": "7", "merchant": merchant, "device": device, "code": code, "amount_cents": 1_250});
    let reply = check(&router, post(at("club", "/vouchers/redemptions"), redeem).bearer(&admin)).await;
    expect_status(&reply, 201);
    client.refresh().await.unwrap();
    until_text(&client, "#balance", |t| t == "€17.50").await;

    client.close().await.unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    drop(router);
    opened.close().await;
}
