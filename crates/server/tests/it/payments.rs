//! Payments over the whole HTTP stack on a real SQLite store: a fan holds places,
//! starts a payment, and the test provider's hosted page (on the node) delivers a
//! signed webhook that the node verifies before the core turns the hold into an
//! order. Each test walks one path — success, decline then retry, cancel, a late
//! webhook with the places still free or already sold, a duplicate webhook, a bad
//! or stale signature, a forged public confirm, a restart between start and webhook,
//! and an admin refund through the provider — and checks what the API, the
//! confirmation page and the seat availability say afterwards.

use serde_json::{Value, json};
use sturmfest_server::payments::signature;

use crate::api::{Node, Reply, at, check, expect_problem, expect_status, fresh, get, open_event, post, request, seats_hold};

fn buyer() -> Value {
    json!({"buyer": {"name": "Erika Mustermann", "email": "erika@example.org"}, "lang": "en"})
}

async fn hold(n: &Node, event: u64, seats: &[u32]) -> String {
    let reply = check(&n.app, post(at("club", &format!("/events/{event}/holds")), seats_hold("fan-1", seats))).await;
    expect_status(&reply, 201);
    reply.json["hold"].as_str().expect("hold token").to_string()
}

async fn start(n: &Node, hold: &str) -> Value {
    let reply = check(&n.app, post(at("club", &format!("/holds/{hold}/payments")), buyer())).await;
    expect_status(&reply, 201);
    reply.json
}

/// The session in a started payment's redirect URL: `/pay/test/club/{session}?lang=…`.
fn session_of(started: &Value) -> String {
    let url = started["redirect_url"].as_str().expect("redirect_url");
    let path = url.split('?').next().unwrap();
    assert!(path.starts_with("/pay/test/club/tp_"), "{url}");
    path.rsplit('/').next().unwrap().to_string()
}

/// Presses a button on the test provider's page, as the fan's browser would.
async fn press(app: &axum::Router, session: &str, action: &str, delivery: &str) -> Reply {
    let form = format!("action={action}&delivery={delivery}");
    let req = request("POST", format!("/pay/test/club/{session}?lang=en"))
        .header("content-type", "application/x-www-form-urlencoded")
        .raw(form);
    check(app, req).await
}

async fn status(n: &Node, started: &Value) -> Value {
    let reply = check(&n.app, get(at("club", &format!("/payments/{}", started["payment"].as_str().unwrap())))).await;
    expect_status(&reply, 200);
    reply.json
}

async fn page(n: &Node, started: &Value) -> String {
    let reply = check(&n.app, get(format!("{}", started["return_url"].as_str().unwrap())).header("accept", "text/html")).await;
    expect_status(&reply, 200);
    reply.json.as_str().expect("html").to_string()
}

async fn sold_and_held(n: &Node, event: u64) -> (u64, u64) {
    let reply = check(&n.app, get(at("club", &format!("/events/{event}/availability")))).await;
    (reply.json["sold"].as_u64().unwrap(), reply.json["held"].as_u64().unwrap())
}

async fn order_count(n: &Node, event: u64) -> usize {
    let reply = check(&n.app, get(at("club", &format!("/events/{event}/orders"))).bearer(&n.club)).await;
    expect_status(&reply, 200);
    reply.json["orders"].as_array().unwrap().len()
}

/// Buys a hold through the test provider the way the shop does (start, press Pay,
/// read the payment) and answers in the shape `POST /holds/{hold}/confirm` had:
/// `201 {"order","order_id","total_cents","total"}`, or the failing reply.
pub(crate) async fn pay(app: &axum::Router, slug: &str, hold: &str) -> Reply {
    pay_with(app, slug, hold, None).await
}

/// `pay` for a sale behind a waiting room: the admission goes with the payment, so
/// the fan's checkout slot is handed on once the webhook has made the order.
pub(crate) async fn pay_with(app: &axum::Router, slug: &str, hold: &str, admission: Option<&str>) -> Reply {
    let mut body = buyer();
    if let Some(admission) = admission {
        body["admission"] = json!(admission);
    }
    pay_body(app, slug, hold, body).await
}

/// `pay` as a named buyer.
pub(crate) async fn pay_as(app: &axum::Router, slug: &str, hold: &str, name: &str, email: &str) -> Reply {
    pay_body(app, slug, hold, json!({"buyer": {"name": name, "email": email}, "lang": "de"})).await
}

async fn pay_body(app: &axum::Router, slug: &str, hold: &str, body: Value) -> Reply {
    let started = check(app, post(at(slug, &format!("/holds/{hold}/payments")), body)).await;
    if started.status != 201 {
        return started;
    }
    let session = session_of(&started.json);
    let pressed = check(
        app,
        request("POST", format!("/pay/test/{slug}/{session}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .raw("action=pay&delivery=normal"),
    )
    .await;
    assert_eq!(pressed.status, 303, "{pressed:#?}");
    let mut reply = check(app, get(at(slug, &format!("/payments/{}", started.json["payment"].as_str().unwrap())))).await;
    if reply.json["state"] == "succeeded" {
        reply.status = axum::http::StatusCode::CREATED;
        reply.json = json!({"order": reply.json["order"], "order_id": reply.json["order_id"],
            "total_cents": reply.json["amount_cents"], "total": reply.json["amount"]});
    }
    reply
}

#[tokio::test]
async fn a_fan_pays_on_the_provider_page_and_the_webhook_makes_the_order() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[0, 1]).await;
    let started = start(&n, &hold).await;
    assert_eq!(started["amount_cents"], 5800);
    assert_eq!(status(&n, &started).await["state"], "started");
    assert!(page(&n, &started).await.contains("Confirming your payment"), "pending page");

    let session = session_of(&started);
    let provider = check(&n.app, get(format!("/pay/test/club/{session}?lang=de")).header("accept", "text/html")).await;
    expect_status(&provider, 200);
    assert!(provider.json.as_str().unwrap().contains("58,00\u{a0}€"), "the provider page shows the amount");

    let pressed = press(&n.app, &session, "pay", "normal").await;
    expect_status(&pressed, 303);
    assert_eq!(pressed.headers["location"], started["return_url"].as_str().unwrap());
    let paid = status(&n, &started).await;
    assert_eq!(paid["state"], "succeeded", "{paid}");
    let order = check(&n.app, get(at("club", &format!("/orders/{}", paid["order"].as_str().unwrap())))).await;
    expect_status(&order, 200);
    assert_eq!(order.json["paid_cents"], 5800);
    assert_eq!(order.json["buyer"]["email"], "erika@example.org");
    assert!(order.json["payment_ref"].as_str().unwrap().starts_with("test:tp_"));
    assert_eq!(sold_and_held(&n, event).await, (2, 0));
    let html = page(&n, &started).await;
    assert!(html.contains("your order is confirmed") && html.contains("€58.00"), "{html}");
    // The finished session's page no longer offers to pay.
    let again = check(&n.app, get(format!("/pay/test/club/{session}?lang=en")).header("accept", "text/html")).await;
    assert!(!again.json.as_str().unwrap().contains("id=\"pay\""));
}

#[tokio::test]
async fn a_declined_payment_keeps_the_seats_held_and_paying_again_buys_them() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[2, 3]).await;
    let started = start(&n, &hold).await;
    expect_status(&press(&n.app, &session_of(&started), "decline", "normal").await, 303);
    let declined = status(&n, &started).await;
    assert_eq!(declined["state"], "declined");
    assert!(declined["hold_expires_at"].is_string(), "the hold is still live: {declined}");
    assert_eq!(sold_and_held(&n, event).await, (0, 2));
    let html = page(&n, &started).await;
    assert!(html.contains("Payment declined") && html.contains("Your seats stay held until"), "{html}");
    assert!(html.contains("id=\"retry\""));

    let token = started["payment"].as_str().unwrap();
    let retry = check(&n.app, request("POST", format!("/club/payments/{token}/retry?lang=en"))).await;
    expect_status(&retry, 303);
    let location = retry.headers["location"].to_str().unwrap().to_string();
    let session = location.split('?').next().unwrap().rsplit('/').next().unwrap().to_string();
    assert_ne!(session, session_of(&started), "a new session");
    expect_status(&press(&n.app, &session, "pay", "normal").await, 303);
    assert_eq!(sold_and_held(&n, event).await, (2, 0));
    assert_eq!(order_count(&n, event).await, 1);
}

#[tokio::test]
async fn a_cancelled_payment_changes_nothing_but_its_state() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[4]).await;
    let started = start(&n, &hold).await;
    expect_status(&press(&n.app, &session_of(&started), "cancel", "normal").await, 303);
    assert_eq!(status(&n, &started).await["state"], "cancelled");
    assert_eq!(sold_and_held(&n, event).await, (0, 1));
    assert!(page(&n, &started).await.contains("Payment cancelled"));
}

#[tokio::test]
async fn a_late_webhook_re_holds_seats_that_are_still_free() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[5, 6]).await;
    let started = start(&n, &hold).await;
    let session = session_of(&started);
    expect_status(&press(&n.app, &session, "pay", "late").await, 303);
    assert_eq!(status(&n, &started).await["state"], "started", "the webhook is held back");
    // The hold ends before the webhook arrives.
    let released = check(&n.app, request("DELETE", at("club", &format!("/holds/{hold}"))).header("idempotency-key", "rel-1")).await;
    expect_status(&released, 200);
    assert_eq!(sold_and_held(&n, event).await, (0, 0));
    let delivered = check(&n.app, request("POST", format!("/pay/test/club/{session}/deliver"))).await;
    expect_status(&delivered, 200);
    assert_eq!(delivered.json["state"], "succeeded");
    assert_eq!(sold_and_held(&n, event).await, (2, 0));
    assert_eq!(order_count(&n, event).await, 1);
    // The provider's late-delivery timer (due at the hold's end, minutes away) must
    // not keep the node from closing.
    let n = tokio::time::timeout(std::time::Duration::from_secs(20), n.restart()).await.expect("the node closes at once");
    assert_eq!(order_count(&n, event).await, 1);
}

/// The fan's hold ends and the counter sells the same seat for cash: what a late
/// payment for the hold finds.
async fn release_and_sell_at_the_counter(n: &Node, event: u64, hold: &str, seat: u32) {
    let released = check(&n.app, request("DELETE", at("club", &format!("/holds/{hold}"))).header("idempotency-key", format!("rel-{event}-{seat}"))).await;
    expect_status(&released, 200);
    let body = json!({"customer": "kasse", "tariff": 0, "channel": "box_office", "selection": {"type": "seats", "seats": [seat]}});
    let counter = check(&n.app, post(at("club", &format!("/events/{event}/holds")), body).bearer(&n.counter)).await;
    expect_status(&counter, 201);
    let confirm = json!({"payment_ref": "cash", "buyer": {"name": "Kasse", "email": ""}});
    let sold = check(&n.app, post(at("club", &format!("/holds/{}/confirm", counter.json["hold_id"])), confirm).bearer(&n.counter)).await;
    expect_status(&sold, 201);
}

#[tokio::test]
async fn a_late_webhook_for_seats_sold_meanwhile_is_refunded_through_the_provider() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[7]).await;
    let started = start(&n, &hold).await;
    let session = session_of(&started);
    expect_status(&press(&n.app, &session, "pay", "late").await, 303);
    release_and_sell_at_the_counter(&n, event, &hold, 7).await;

    let delivered = check(&n.app, request("POST", format!("/pay/test/club/{session}/deliver"))).await;
    expect_status(&delivered, 200);
    assert_eq!(delivered.json["state"], "refunded", "owed back and refunded at once: {:?}", delivered.json);
    assert_eq!(status(&n, &started).await["state"], "refunded");
    assert_eq!(order_count(&n, event).await, 1, "only the counter's order");
    assert!(page(&n, &started).await.contains("has been refunded"));
}

#[tokio::test]
async fn money_owed_back_but_never_refunded_is_refunded_by_the_node_later() {
    use sturmfest_core as core;
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[7]).await;
    let started = start(&n, &hold).await;
    let session = session_of(&started);
    release_and_sell_at_the_counter(&n, event, &hold, 7).await;
    // The provider's success reaches the core, and the node stops before it calls
    // the provider back: the core knows the money is owed, nobody has paid it.
    let handle = &n.opened.state.tenants["club"];
    let succeeded = core::payments::PaymentCommand::Succeeded { provider: core::payments::ProviderKind::Test, session };
    handle.shard.execute(None, core::Command::Payment(succeeded)).await.unwrap().unwrap();
    assert_eq!(status(&n, &started).await["state"], "refund_due");

    let now = jiff::Timestamp::now().as_millisecond();
    let age = sturmfest_server::payments::refund_retry_age_ms;
    assert_eq!(sturmfest_server::payments::refund_owed(handle, now).await, 0, "a fresh decision is left to its request");
    assert_eq!(status(&n, &started).await["state"], "refund_due");
    assert_eq!(sturmfest_server::payments::refund_owed(handle, now + age + 1_000).await, 1);
    assert_eq!(status(&n, &started).await["state"], "refunded");
    assert_eq!(sturmfest_server::payments::refund_owed(handle, now + 2 * age).await, 0, "refunded once");
    assert_eq!(order_count(&n, event).await, 1, "only the counter's order");
}

#[tokio::test]
async fn a_duplicate_webhook_makes_one_order() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[8, 9]).await;
    let started = start(&n, &hold).await;
    let session = session_of(&started);
    expect_status(&press(&n.app, &session, "pay", "duplicate").await, 303);
    assert_eq!(order_count(&n, event).await, 1);
    // A third copy, sent by hand with a fresh signature, answers the same.
    let handle = &n.opened.state.tenants["club"];
    let webhook = handle.payments.test.webhook(&session, sturmfest_server::payments::test_provider::Action::Pay, now_s());
    let again = webhook_post(&n, &webhook.signature, webhook.body.clone()).await;
    expect_status(&again, 200);
    assert_eq!(again.json["state"], "succeeded");
    assert_eq!(order_count(&n, event).await, 1);
    assert_eq!(sold_and_held(&n, event).await, (2, 0));
}

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn webhook_post(n: &Node, signature: &str, body: Vec<u8>) -> Reply {
    let req = request("POST", at("club", "/payments/webhooks/test"))
        .header("content-type", "application/json")
        .header("sturmfest-test-signature", signature)
        .raw(body);
    check(&n.app, req).await
}

#[tokio::test]
async fn a_webhook_with_a_bad_or_stale_signature_is_refused_and_changes_nothing() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[0]).await;
    let started = start(&n, &hold).await;
    let session = session_of(&started);
    let body = serde_json::to_vec(&json!({"id": "evt_1", "type": "payment.succeeded", "session": session})).unwrap();
    let handle = &n.opened.state.tenants["club"];
    let secret = handle.payments.test.secret_bytes();

    let forged = signature::sign(b"not the endpoint secret", now_s(), &body);
    expect_problem(&webhook_post(&n, &forged, body.clone()).await, 400, "webhook_signature_invalid");
    expect_problem(&webhook_post(&n, "", body.clone()).await, 400, "webhook_signature_invalid");
    let stale = signature::sign(&secret, now_s() - 301 - 5, &body);
    expect_problem(&webhook_post(&n, &stale, body.clone()).await, 400, "webhook_signature_invalid");
    let signed = signature::sign(&secret, now_s(), &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    expect_problem(&webhook_post(&n, &signed, tampered).await, 400, "webhook_signature_invalid");
    // The rival tenant's endpoint does not accept the club's webhook either.
    let rival = request("POST", at("rival", "/payments/webhooks/test")).header("sturmfest-test-signature", &signed).raw(body.clone());
    expect_problem(&check(&n.app, rival).await, 400, "webhook_signature_invalid");
    assert_eq!(status(&n, &started).await["state"], "started");
    assert_eq!(sold_and_held(&n, event).await, (0, 1));

    // Within the tolerance, and with a rolled secret's second v1, it is accepted.
    let recent = signature::sign(&secret, now_s() - 200, &body);
    let rolled = format!("{},v1={}", recent, "00".repeat(32));
    let accepted = webhook_post(&n, &rolled, body).await;
    expect_status(&accepted, 200);
    assert_eq!(accepted.json["state"], "succeeded");
}

#[tokio::test]
async fn a_public_confirm_without_a_payment_is_refused() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[1]).await;
    let confirm = json!({"payment_ref": "pay_123", "buyer": {"name": "Erika", "email": "erika@example.org"}});
    let forged = check(&n.app, post(at("club", &format!("/holds/{hold}/confirm")), confirm.clone())).await;
    expect_problem(&forged, 402, "payment_required");
    let with_rival = check(&n.app, post(at("club", &format!("/holds/{hold}/confirm")), confirm).bearer("made-up")).await;
    expect_problem(&with_rival, 402, "payment_required");
    assert_eq!(sold_and_held(&n, event).await, (0, 1));
    assert_eq!(order_count(&n, event).await, 0);
}

#[tokio::test]
async fn bad_payment_requests_are_problems() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[3]).await;
    let bad_mail = json!({"buyer": {"name": "Erika", "email": "erika at example"}});
    expect_problem(&check(&n.app, post(at("club", &format!("/holds/{hold}/payments")), bad_mail)).await, 422, "buyer_email_invalid");
    let no_name = json!({"buyer": {"name": "  ", "email": "erika@example.org"}});
    expect_problem(&check(&n.app, post(at("club", &format!("/holds/{hold}/payments")), no_name)).await, 422, "buyer_name_invalid");
    expect_problem(&check(&n.app, post(at("club", "/holds/1.00/payments"), buyer())).await, 404, "unknown_hold");
    expect_problem(&check(&n.app, get(at("club", "/payments/1.00"))).await, 404, "unknown_payment");
    assert_eq!(sold_and_held(&n, event).await, (0, 1));
}

#[tokio::test]
async fn a_payment_started_before_a_restart_is_settled_after_it() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[0, 1]).await;
    let started = start(&n, &hold).await;
    let n = n.restart().await;
    expect_status(&press(&n.app, &session_of(&started), "pay", "normal").await, 303);
    assert_eq!(status(&n, &started).await["state"], "succeeded");
    let n = n.restart().await;
    assert_eq!(status(&n, &started).await["state"], "succeeded", "durable across a second restart");
    assert_eq!(sold_and_held(&n, event).await, (2, 0));
}

#[tokio::test]
async fn the_admin_refund_of_an_online_order_goes_through_the_provider_once() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[2]).await;
    let paid = pay(&n.app, "club", &hold).await;
    expect_status(&paid, 201);
    let order = paid.json["order"].as_str().unwrap();
    let refund = post(at("club", &format!("/orders/{order}/refunds")), json!({"amount_cents": 900, "reference": "goodwill"}))
        .bearer(&n.club)
        .header("idempotency-key", "refund-1");
    let first = check(&n.app, refund).await;
    expect_status(&first, 201);
    assert_eq!(first.json["amount_cents"], 900);
    let refund_again = post(at("club", &format!("/orders/{order}/refunds")), json!({"amount_cents": 900, "reference": "goodwill"}))
        .bearer(&n.club)
        .header("idempotency-key", "refund-1");
    expect_status(&check(&n.app, refund_again).await, 201);
    let detail = check(&n.app, get(at("club", &format!("/orders/{order}")))).await;
    assert_eq!(detail.json["refunded_cents"], 900, "a retried refund is recorded once: {}", detail.json);
    let too_much = post(at("club", &format!("/orders/{order}/refunds")), json!({"amount_cents": 2001, "reference": "x"})).bearer(&n.club);
    expect_problem(&check(&n.app, too_much).await, 422, "refund_exceeds_paid");
}

/// Cancelling an online order with a full refund pays the cancelled tickets' price back
/// through the provider (its reference is on the order) and frees the seats; the
/// same cancellation again pays nothing more.
#[tokio::test]
async fn cancelling_an_online_order_refunds_through_the_provider_and_frees_the_seats() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Halle", 10).await;
    let hold = hold(&n, event, &[2, 3]).await;
    let paid = pay(&n.app, "club", &hold).await;
    expect_status(&paid, 201);
    let order = paid.json["order"].as_str().unwrap().to_string();
    let order_id = paid.json["order_id"].as_u64().unwrap();
    let price_each = paid.json["total_cents"].as_i64().unwrap() / 2;
    let cancel = |key: &str| {
        post(at("club", &format!("/orders/{order}/cancel")), json!({"tickets": [0], "refund": "full"}))
            .bearer(&n.club)
            .header("idempotency-key", key)
    };
    let first = check(&n.app, cancel("cancel-1")).await;
    expect_status(&first, 200);
    assert_eq!(first.json["refunded_cents"], price_each, "{}", first.json);
    assert_eq!(sold_and_held(&n, event).await, (1, 0), "the cancelled seat is free again");
    let handle = &n.opened.state.tenants["club"];
    let refunds = handle.shard.read(move |t| t.order(sturmfest_core::OrderId(order_id)).unwrap().refunds.clone()).await.unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].amount.0, price_each);
    assert!(refunds[0].reference.starts_with("tr_"), "the provider's refund reference: {refunds:?}");
    // The same ticket cancelled again (a new key): nothing more is cancelled or paid.
    let again = check(&n.app, cancel("cancel-2")).await;
    let refunds = handle.shard.read(move |t| t.order(sturmfest_core::OrderId(order_id)).unwrap().refunds.len()).await.unwrap();
    assert_eq!(refunds, 1, "no second refund: {again:#?}");
}

/// A node with a mail relay (the in-process SMTP sink) and an open game in the demo
/// arena; returns the sink, the node's handle and router, and the event.
async fn node_with_mail() -> (crate::support::smtp_sink::SmtpSink, tempfile::TempDir, sturmfest_server::node::Opened, axum::Router, u32) {
    use sturmfest_core as core;
    use sturmfest_server::node::{self, NodeOptions};
    let sink = crate::support::smtp_sink::SmtpSink::start().await;
    let outbox = sturmfest_server::mail::Mailer::new(&crate::mail::sink_config(&sink)).unwrap().spawn();
    let dir = tempfile::tempdir().unwrap();
    let mut registry = sturmfest_server::tenants::Registry::default();
    registry.add("club", "Eisclub Sturmfest").unwrap();
    registry.save(dir.path()).unwrap();
    let options = NodeOptions { outbox: Some(outbox), base_url: "https://tickets.example".into(), ..Default::default() };
    let opened = node::open_with(dir.path(), sturmfest_server::runtime::ShardConfig::default(), options).await.unwrap();
    let app = sturmfest_server::http::app(opened.state.clone());
    let shard = opened.state.tenants["club"].shard.clone();
    let Ok(core::Reply::VenueCreated { venue }) = shard.execute(None, core::Command::CreateVenue(sturmfest_server::demo::arena())).await.unwrap()
    else {
        panic!("the demo arena is a valid venue")
    };
    let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    let spec = sturmfest_server::demo::game(venue, "EC Sturmvögel – Eisbären Hafenstadt", &now.checked_add(jiff::Span::new().days(3)).unwrap(), &now.checked_sub(jiff::Span::new().hours(1)).unwrap());
    let Ok(core::Reply::EventCreated { event }) = shard.execute(None, core::Command::CreateEvent(spec)).await.unwrap() else { panic!("a valid game") };
    assert!(shard.execute(None, core::Command::Sale { event, action: core::SaleAction::Open }).await.unwrap().is_ok());
    (sink, dir, opened, app, event.0)
}

async fn raw_get(app: &axum::Router, path: &str) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    (status, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

#[tokio::test]
async fn a_new_order_mails_its_ticket_pdf_whose_qr_codes_verify_and_whose_link_serves_it_again() {
    use mail_parser::MessageParser;
    let (sink, _dir, opened, app, event) = node_with_mail().await;
    let held = check(&app, post(at("club", &format!("/events/{event}/holds")), seats_hold("fan-9", &[375, 376]))).await;
    expect_status(&held, 201);
    let hold = held.json["hold"].as_str().unwrap().to_string();
    let started = check(&app, post(at("club", &format!("/holds/{hold}/payments")), buyer())).await;
    expect_status(&started, 201);
    // A duplicate webhook must not send a second e-mail.
    expect_status(&press(&app, &session_of(&started.json), "pay", "duplicate").await, 303);
    let paid = check(&app, get(at("club", &format!("/payments/{}", started.json["payment"].as_str().unwrap())))).await;
    assert_eq!(paid.json["state"], "succeeded");
    let order_id = paid.json["order_id"].as_u64().unwrap();

    let received = sink.next_message(std::time::Duration::from_secs(20)).await;
    assert_eq!(received.rcpt_to, ["erika@example.org"]);
    let message = MessageParser::default().parse(&received.data).expect("a parseable message");
    assert_eq!(message.subject(), Some("Your tickets: EC Sturmvögel – Eisbären Hafenstadt"), "English, as the fan paid");
    let text = message.body_text(0).unwrap().replace("\r\n", "\n");
    let link = text.lines().find(|l| l.starts_with("https://tickets.example/")).expect("a re-download link").to_string();
    let attachment = message.attachments().next().expect("the PDF is attached");
    let pdf = attachment.contents().to_vec();
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");

    let path = link.strip_prefix("https://tickets.example").unwrap();
    let (status, again) = raw_get(&app, path).await;
    assert_eq!(status, 200);
    assert_eq!(again, pdf, "the link serves the same tickets");
    let forged = path.replacen(&format!("/orders/{order_id}."), &format!("/orders/{}.", order_id + 1), 1);
    assert_eq!(raw_get(&app, &forged).await.0, 404, "another order's link cannot be made up");
    assert_eq!(raw_get(&app, &format!("/api/v1/club/events/{}/keys", event + 1)).await.0, 404, "no keys for a game that does not exist");

    if crate::tickets::poppler_available() {
        // The gate of this game loads its keys from the public API, as a real one does.
        let (status, keys) = raw_get(&app, &format!("/api/v1/club/events/{event}/keys")).await;
        assert_eq!(status, 200);
        let verifier = crate::tickets::gate_from_key_set("club", &keys);
        let codes = crate::tickets::decode_qr_pages(&pdf);
        assert_eq!(codes.len(), 2, "one QR code per ticket page");
        for (i, code) in codes.iter().enumerate() {
            let claim = sturmfest_server::tickets::verify_ticket(&verifier, sturmfest_core::EventId(event), code)
                .expect("a signed ticket");
            assert_eq!((claim.order.0, claim.index), (order_id, i as u16));
        }
    }
    // Only the one e-mail, even though the webhook came twice.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.connections(), 1, "one delivery");
    drop(app);
    opened.close().await;
}
