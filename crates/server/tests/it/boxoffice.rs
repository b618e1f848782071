//! The box office through the whole router on a real SQLite log: staff accounts
//! made with the club's API token, logged in through the login form, the counter
//! page and its JSON sale call with the session cookie and the CSRF header.
//!
//! What they prove: a counter sale is a hold on the box-office channel plus a
//! confirmation, so it sells seats typed as "block row seats", best-available and
//! standing places, shows the change and offers QR codes and a PDF; too little
//! cash sells nothing and frees the places; the box-office quota and the brake
//! stop the counter exactly as they stop the shop (the page shows the brake's
//! message and disables the form); and the call needs a session, a counter role
//! and the session's CSRF header, refusing otherwise with nothing sold.

use axum::http::header;
use serde_json::{Value, json};

use crate::api::{Node, Reply, at, check, created_id, expect_problem, expect_status, get, open_event, post, request, venue_json};

pub(crate) const PASSWORD: &str = "counter-secret-1";

/// Creates a staff account with `roles` through the API and logs it in; returns the
/// `name=value` cookie.
pub(crate) async fn staff_cookie(n: &Node, login: &str, roles: &[&str]) -> String {
    let body = json!({"login": login, "display_name": login, "password": PASSWORD, "roles": roles});
    expect_status(&check(&n.app, post(at("club", "/staff/accounts"), body).bearer(&n.club)).await, 201);
    let form = format!("login={login}&password={PASSWORD}");
    let reply = check(&n.app, request("POST", "/club/staff/login").header("content-type", "application/x-www-form-urlencoded").raw(form)).await;
    expect_status(&reply, 303);
    reply.headers[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string()
}

pub(crate) fn page_text(reply: &Reply) -> &str {
    reply.json.as_str().unwrap_or_else(|| panic!("an HTML page, got {reply:#?}"))
}

/// The CSRF token a page renders (a form field or the script's config).
pub(crate) async fn csrf_of(n: &Node, cookie: &str) -> String {
    let home = check(&n.app, get("/club/staff").header("cookie", cookie)).await;
    expect_status(&home, 200);
    let page = page_text(&home);
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

fn sell(cookie: &str, csrf: Option<&str>, body: Value) -> crate::api::Req {
    let req = post("/club/boxoffice/sell", body).header("cookie", cookie);
    match csrf {
        Some(token) => req.header("x-csrf-token", token),
        None => req,
    }
}

fn cash_seats(event: u64, seats: &str, given: &str) -> Value {
    json!({"event": event, "kind": "seats", "seats": seats, "tariff": 0, "payment": "cash", "given": given})
}

async fn sold_by_channel(n: &Node, event: u64) -> [u32; 3] {
    n.opened.state.tenants["club"]
        .shard
        .read(move |t| {
            let e = t.event(sturmfest_core::EventId(event as u32)).unwrap();
            [e.channels[0].sold, e.channels[1].sold, e.channels[2].sold]
        })
        .await
        .unwrap()
}

async fn free(n: &Node, event: u64) -> u32 {
    n.opened.state.tenants["club"].shard.read(move |t| t.event(sturmfest_core::EventId(event as u32)).unwrap().free()).await.unwrap()
}

#[tokio::test]
async fn a_counter_sale_takes_cash_shows_the_change_and_offers_qr_codes_and_a_pdf() {
    let n = crate::api::fresh().await;
    let event = open_event(&n, "club", "Derby", 50).await;
    let cookie = staff_cookie(&n, "kasse", &["box_office"]).await;
    let csrf = csrf_of(&n, &cookie).await;

    let list = check(&n.app, get("/club/boxoffice").header("cookie", &cookie)).await;
    expect_status(&list, 200);
    assert!(page_text(&list).contains(&format!("/club/boxoffice?event={event}")), "the game is offered");
    let page = check(&n.app, get(format!("/club/boxoffice?event={event}&lang=en")).header("cookie", &cookie)).await;
    expect_status(&page, 200);
    let html = page_text(&page);
    assert!(html.contains("Derby") && html.contains("Erwachsene €29.00") && html.contains(&csrf), "{html}");
    assert!(!html.contains("id=\"blocked\""), "an open sale is not blocked");

    let before = free(&n, event).await;
    let sold = check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "a 1 2-3", "60")).header("accept-language", "de")).await;
    expect_status(&sold, 201);
    let out = &sold.json;
    assert_eq!(out["total_cents"], 5800);
    assert_eq!(out["total"], "58,00\u{a0}€");
    assert_eq!(out["change_cents"], 200);
    assert_eq!(out["change"], "2,00\u{a0}€");
    let tickets = out["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2);
    assert_eq!(tickets[0]["place"], "Block A, Reihe 1, Platz 2");
    assert_eq!(tickets[1]["place"], "Block A, Reihe 1, Platz 3");
    assert!(tickets.iter().all(|t| t["qr_svg"].as_str().unwrap().starts_with("<svg")), "inline SVG elements");
    assert_eq!(free(&n, event).await, before - 2);
    assert_eq!(sold_by_channel(&n, event).await, [0, 2, 0], "sold on the box-office channel");

    let order = out["order_id"].as_u64().unwrap();
    let (payment, channel) = n.opened.state.tenants["club"]
        .shard
        .read(move |t| {
            let o = t.order(sturmfest_core::OrderId(order)).unwrap();
            (o.payment.clone(), o.channel)
        })
        .await
        .unwrap();
    assert_eq!(payment, "box_office:cash:given=6000");
    assert_eq!(channel, sturmfest_core::Channel::BoxOffice);

    let pdf = check(&n.app, get(out["pdf"].as_str().unwrap()).header("cookie", &cookie)).await;
    expect_status(&pdf, 200);
    assert_eq!(pdf.headers[header::CONTENT_TYPE], "application/pdf");
    assert!(pdf.json.as_str().unwrap().starts_with("%PDF"), "a PDF body");

    // Best available, standing and card payment.
    let best = json!({"event": event, "kind": "best", "category": 0, "quantity": 3, "tariff": 1, "payment": "card", "card_reference": "T-4711"});
    let best = check(&n.app, sell(&cookie, Some(&csrf), best)).await;
    expect_status(&best, 201);
    assert_eq!(best.json["total_cents"], 3 * 1905);
    assert_eq!(best.json["change_cents"], 0);
    let standing = json!({"event": event, "kind": "standing", "category": 1, "quantity": 4, "tariff": 0, "payment": "cash", "given": "60,00"});
    let standing = check(&n.app, sell(&cookie, Some(&csrf), standing)).await;
    expect_status(&standing, 201);
    assert_eq!(standing.json["total_cents"], 6000);
    assert_eq!(standing.json["tickets"][0]["place"], "Stehplatz Nord");
    assert_eq!(sold_by_channel(&n, event).await, [0, 9, 0]);

    // A seat already sold, a typo, too little cash: problems, nothing sold.
    let before = free(&n, event).await;
    expect_problem(&check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "A 1 3", "50"))).await, 409, "seat_unavailable");
    expect_problem(&check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "A 7 3", "50"))).await, 422, "seats_invalid");
    expect_problem(&check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "A 2 1", "abc"))).await, 422, "cash_invalid");
    let short = check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "A 1 4-5", "50"))).await;
    expect_problem(&short, 422, "cash_insufficient");
    assert_eq!(short.json["total_cents"], 5800);
    assert_eq!(free(&n, event).await, before, "the short-paid seats were released at once");
    let holds = n.opened.state.tenants["club"].shard.read(|t| t.holds().count()).await.unwrap();
    assert_eq!(holds, 0, "no hold left behind");
}

#[tokio::test]
async fn a_retried_counter_sale_with_the_same_key_sells_once() {
    let n = crate::api::fresh().await;
    let event = open_event(&n, "club", "Derby", 50).await;
    let cookie = staff_cookie(&n, "kasse", &["box_office"]).await;
    let csrf = csrf_of(&n, &cookie).await;
    let first = check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "A 2 4-5", "100")).header("idempotency-key", "same-click")).await;
    expect_status(&first, 201);
    let again = check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "A 2 4-5", "100")).header("idempotency-key", "same-click")).await;
    expect_status(&again, 201);
    assert_eq!(first.json["order_id"], again.json["order_id"], "the retry answers the first order");
    assert_eq!(sold_by_channel(&n, event).await, [0, 2, 0]);
    let other = check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "A 2 1", "100")).header("idempotency-key", "same-click")).await;
    expect_problem(&other, 422, "idempotency_key_reused");
    assert_eq!(sold_by_channel(&n, event).await, [0, 2, 0], "a reused key with another sale sells nothing");
}

#[tokio::test]
async fn the_counter_needs_a_session_a_counter_role_and_the_csrf_header() {
    let n = crate::api::fresh().await;
    let event = open_event(&n, "club", "Derby", 50).await;

    let page = check(&n.app, get("/club/boxoffice").header("accept", "text/html")).await;
    expect_status(&page, 303);
    assert!(page.headers[header::LOCATION].to_str().unwrap().starts_with("/club/staff/login"), "no session: to the login");
    let anonymous = check(&n.app, post("/club/boxoffice/sell", cash_seats(event, "A 1 1", "50"))).await;
    expect_problem(&anonymous, 401, "staff_login_required");

    let vouchers = staff_cookie(&n, "gutschein", &["voucher_office"]).await;
    expect_problem(&check(&n.app, get("/club/boxoffice").header("cookie", &vouchers)).await, 403, "staff_forbidden");
    let token = csrf_of(&n, &vouchers).await;
    expect_problem(&check(&n.app, sell(&vouchers, Some(&token), cash_seats(event, "A 1 1", "50"))).await, 403, "staff_forbidden");

    let kasse = staff_cookie(&n, "kasse", &["box_office"]).await;
    expect_problem(&check(&n.app, sell(&kasse, None, cash_seats(event, "A 1 1", "50"))).await, 403, "csrf_invalid");
    expect_problem(&check(&n.app, sell(&kasse, Some(&token), cash_seats(event, "A 1 1", "50"))).await, 403, "csrf_invalid");
    assert_eq!(sold_by_channel(&n, event).await, [0, 0, 0], "nothing was sold by a refused call");

    // The club office may sell at the counter too.
    let office = staff_cookie(&n, "buero", &["office"]).await;
    let token = csrf_of(&n, &office).await;
    expect_status(&check(&n.app, sell(&office, Some(&token), cash_seats(event, "A 1 1", "50"))).await, 201);
}

#[tokio::test]
async fn the_counter_honours_the_box_office_quota_and_stops_at_the_brake() {
    let n = crate::api::fresh().await;
    let venue = created_id(&check(&n.app, post(at("club", "/venues"), venue_json("Halle", 50)).bearer(&n.club)).await, "venue");
    let spec = json!({"name": "Pokal", "venue": venue, "starts_at": "2099-12-02T19:30:00+01:00",
        "sale_opens_at": "2020-01-01T00:00:00+01:00", "sale_closes_at": "2099-12-02T19:30:00+01:00",
        "categories": [{"name": "Sitzplatz", "blocks": [0], "tariffs": [{"name": "Erwachsene", "price_cents": 2000}]}],
        "quotas": {"online": null, "box_office": 3, "reserved": null},
        "hold_duration_secs": 600, "order_tickets_max": 8, "customer_tickets_max": 8});
    let event = created_id(&check(&n.app, post(at("club", "/events"), spec).bearer(&n.club)).await, "event");
    let sale = |action: Value| post(at("club", &format!("/events/{event}/sale")), action).bearer(&n.club);
    expect_status(&check(&n.app, sale(json!({"action": "open"}))).await, 200);

    let cookie = staff_cookie(&n, "kasse", &["box_office"]).await;
    let csrf = csrf_of(&n, &cookie).await;
    expect_status(&check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "A 1 1-2", "40"))).await, 201);
    let over = check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "A 1 3-4", "40"))).await;
    expect_problem(&over, 409, "quota_exhausted");
    assert_eq!(over.json["channel"], "box_office");
    // The online channel has no quota and is not touched by the counter's.
    let online = check(&n.app, post(at("club", &format!("/events/{event}/holds")), crate::api::seats_hold("fan", &[5, 6]))).await;
    expect_status(&online, 201);

    expect_status(&check(&n.app, sale(json!({"action": "pause", "message": "Technische Störung – gleich geht es weiter"}))).await, 200);
    let page = check(&n.app, get(format!("/club/boxoffice?event={event}")).header("cookie", &cookie)).await;
    let html = page_text(&page);
    assert!(html.contains("id=\"blocked\"") && html.contains("Technische Störung – gleich geht es weiter"), "{html}");
    assert!(html.contains("<fieldset disabled>"), "the form cannot be sent while paused");
    let braked = check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "A 1 3", "40"))).await;
    expect_problem(&braked, 409, "sale_paused");
    assert_eq!(braked.json["message"], "Technische Störung – gleich geht es weiter");

    expect_status(&check(&n.app, sale(json!({"action": "resume"}))).await, 200);
    expect_status(&check(&n.app, sell(&cookie, Some(&csrf), cash_seats(event, "A 1 3", "40"))).await, 201);
    assert_eq!(sold_by_channel(&n, event).await, [0, 3, 0]);
    let report = n.opened.state.tenants["club"].shard.read(|t| t.check_invariants_result()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
}
