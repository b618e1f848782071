//! The Stripe Checkout adapter against a fake Stripe on a loopback socket
//! (`support::fake_stripe`), with the node itself serving real HTTP on another, so
//! the fake's webhooks travel over TCP like Stripe's. Each test checks what the
//! fake received (key, form fields, amounts) and what the node says afterwards.

use serde_json::{Value, json};
use sturmfest_core as core;
use sturmfest_server::node::{self, NodeOptions, Opened};
use sturmfest_server::payments::signature;
use sturmfest_server::payments::stripe::StripeConfig;

use crate::api::{Reply, at, check, expect_problem, expect_status, get, post, seats_hold};
use crate::support::fake_stripe::{self, FakeStripe};

pub(crate) struct StripeNode {
    _dir: tempfile::TempDir,
    pub(crate) opened: Opened,
    pub(crate) app: axum::Router,
    pub(crate) admin: String,
    pub(crate) fake: FakeStripe,
    event: u32,
    pub(crate) base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A node configured for Stripe, serving on a socket, with an open game.
pub(crate) async fn stripe_node() -> StripeNode {
    let node_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let node_addr = node_listener.local_addr().unwrap();
    let fake = FakeStripe::start(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        format!("http://{node_addr}/api/v1/club/payments/webhooks/stripe"),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut registry = sturmfest_server::tenants::Registry::default();
    let admin = registry.add("club", "Eisclub Sturmfest").unwrap();
    registry.save(dir.path()).unwrap();
    let base = format!("http://{node_addr}");
    let stripe = StripeConfig {
        api_base: fake.base.clone(),
        secret_key: fake_stripe::secret_key.into(),
        webhook_secret: fake_stripe::webhook_secret.into(),
    };
    let options = NodeOptions { base_url: base.clone(), stripe: Some(stripe), ..Default::default() };
    let opened = node::open_with(dir.path(), sturmfest_server::runtime::ShardConfig::default(), options).await.unwrap();
    let app = sturmfest_server::http::app(opened.state.clone());
    let shard = opened.state.tenants["club"].shard.clone();
    let Ok(core::Reply::VenueCreated { venue }) = shard.execute(None, core::Command::CreateVenue(sturmfest_server::demo::arena())).await.unwrap()
    else {
        panic!("the demo arena is a valid venue")
    };
    let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    let spec = sturmfest_server::demo::game(
        venue,
        "EC Sturmvögel – Eisbären Hafenstadt",
        &now.checked_add(jiff::Span::new().days(3)).unwrap(),
        &now.checked_sub(jiff::Span::new().hours(1)).unwrap(),
    );
    let Ok(core::Reply::EventCreated { event }) = shard.execute(None, core::Command::CreateEvent(spec)).await.unwrap() else { panic!("a valid game") };
    assert!(shard.execute(None, core::Command::Sale { event, action: core::SaleAction::Open }).await.unwrap().is_ok());
    node_listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(node_listener).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(node::serve(listener, opened.state.clone(), async move {
        let _ = stopped.await;
    }));
    StripeNode { _dir: dir, opened, app, admin, fake, event: event.0, base, stop: Some(stop) }
}

impl StripeNode {
    pub(crate) async fn close(mut self) {
        assert_eq!(self.fake.errors(), Vec::<String>::new(), "the fake refused nothing");
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        drop(self.app);
        self.opened.close().await;
    }

    async fn hold(&self, seats: &[u32]) -> String {
        let reply = check(&self.app, post(at("club", &format!("/events/{}/holds", self.event)), seats_hold("fan-1", seats))).await;
        expect_status(&reply, 201);
        reply.json["hold"].as_str().unwrap().to_string()
    }

    async fn start(&self, hold: &str) -> Value {
        let body = json!({"buyer": {"name": "Erika Mustermann", "email": "erika@example.org"}, "lang": "en"});
        let reply = check(&self.app, post(at("club", &format!("/holds/{hold}/payments")), body)).await;
        expect_status(&reply, 201);
        reply.json
    }

    async fn status(&self, started: &Value) -> Value {
        let reply = check(&self.app, get(at("club", &format!("/payments/{}", started["payment"].as_str().unwrap())))).await;
        expect_status(&reply, 200);
        reply.json
    }

    async fn orders(&self) -> usize {
        let reply = check(&self.app, get(at("club", &format!("/events/{}/orders", self.event))).bearer(&self.admin)).await;
        expect_status(&reply, 200);
        reply.json["orders"].as_array().unwrap().len()
    }

    async fn sold_and_held(&self) -> (u64, u64) {
        let reply = check(&self.app, get(at("club", &format!("/events/{}/availability", self.event)))).await;
        (reply.json["sold"].as_u64().unwrap(), reply.json["held"].as_u64().unwrap())
    }
}

/// The Checkout Session id in a started payment's redirect (the fake's hosted page).
fn session_of(n: &StripeNode, started: &Value) -> String {
    let url = started["redirect_url"].as_str().unwrap();
    let id = url.strip_prefix(&format!("{}/pay/", n.fake.base)).unwrap_or_else(|| panic!("the fake's page: {url}"));
    assert!(id.starts_with("cs_test_"), "{url}");
    id.to_string()
}

/// A plain HTTP request over TCP: (status, location header, body).
pub(crate) async fn http(method: &str, url: &str) -> (u16, Option<String>, String) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = hyper::Request::builder().method(method).uri(url).body(http_body_util::Full::new(bytes::Bytes::new())).unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    let body = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).into_owned();
    (status, location, body)
}

#[tokio::test]
async fn a_fan_pays_at_stripe_and_the_signed_webhook_makes_the_order() {
    let n = stripe_node().await;
    let hold = n.hold(&[375, 376]).await;
    let started = n.start(&hold).await;
    let id = session_of(&n, &started);
    let session = n.fake.session(&id).unwrap();
    assert_eq!(session.amount, started["amount_cents"].as_i64().unwrap(), "the hold's total in cents");
    assert!(session.amount > 0);
    assert!(session.name.contains("Eisclub Sturmfest"), "{}", session.name);
    assert!(session.success_url.starts_with(&format!("{}/pay/stripe/club/return?hold=", n.base)), "{}", session.success_url);
    assert_eq!(session.cancel_url, session.success_url, "a cancelled checkout returns to the same confirmation");
    assert!(session.expires_at - session.created >= 30 * 60, "Stripe's minimum lifetime");
    assert_eq!(n.status(&started).await["state"], "started");
    assert_eq!(n.status(&started).await["provider"], "stripe");

    // The fan's browser: the hosted page, Pay, and back to the node.
    let (status, _, page) = http("GET", &started["redirect_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(page.contains("Pay"));
    let (status, back, _) = http("POST", &started["redirect_url"].as_str().unwrap()).await;
    assert_eq!(status, 303);
    let back = back.unwrap();
    assert_eq!(back, session.success_url);
    let (status, confirmation, _) = http("GET", &back).await;
    assert_eq!(status, 303);
    assert_eq!(confirmation.unwrap(), started["return_url"].as_str().unwrap(), "the return link finds the payment");

    let paid = n.status(&started).await;
    assert_eq!(paid["state"], "succeeded", "{paid}");
    assert!(paid["order"].is_string());
    assert_eq!(n.orders().await, 1);
    assert_eq!(n.sold_and_held().await, (2, 0));
    n.close().await;
}

#[tokio::test]
async fn a_webhook_with_a_bad_signature_or_a_stale_timestamp_changes_nothing() {
    let n = stripe_node().await;
    let hold = n.hold(&[10]).await;
    let started = n.start(&hold).await;
    let id = session_of(&n, &started);
    let body = n.fake.event_body(&id, "checkout.session.completed");
    let now = jiff::Timestamp::now().as_second();
    let wrong_secret = signature::sign(b"whsec_someone_else", now, &body);
    let stale = signature::sign(fake_stripe::webhook_secret.as_bytes(), now - 301, &body);
    for header in [wrong_secret, stale, String::new(), "t=1,v1=zz".to_string()] {
        let (status, problem) = n.fake.post_webhook(&header, body.clone()).await;
        assert_eq!(status, 400, "{header}: {problem}");
        assert_eq!(problem["code"], "webhook_signature_invalid", "{problem}");
    }
    // A correctly signed body that was altered afterwards.
    let good = signature::sign(fake_stripe::webhook_secret.as_bytes(), now, &body);
    let mut altered = body.clone();
    let at_ = altered.len() / 2;
    altered[at_] ^= 1;
    assert_eq!(n.fake.post_webhook(&good, altered).await.0, 400);
    assert_eq!(n.status(&started).await["state"], "started");
    assert_eq!(n.orders().await, 0);
    assert_eq!(n.sold_and_held().await, (0, 1), "the hold is still there, nothing sold");
    // The test provider's endpoint does not accept Stripe's events either.
    let reply = check(
        &n.app,
        post(at("club", "/payments/webhooks/test"), serde_json::from_slice(&body).unwrap()).header("stripe-signature", &good),
    )
    .await;
    expect_problem(&reply, 400, "webhook_signature_invalid");
    n.close().await;
}

#[tokio::test]
async fn an_expired_session_releases_nothing_wrongly_and_unknown_events_are_acknowledged() {
    let n = stripe_node().await;
    let hold = n.hold(&[20, 21]).await;
    let started = n.start(&hold).await;
    let id = session_of(&n, &started);
    // Events this node does not act on: 200, nothing changes.
    for kind in ["payment_intent.created", "charge.succeeded", "checkout.session.async_payment_pending"] {
        assert_eq!(n.fake.send_event(&id, kind).await, 200, "{kind}");
    }
    assert_eq!(n.status(&started).await["state"], "started");
    // A completed event whose payment is not yet taken (a delayed method) is no success.
    assert_eq!(n.fake.send_event(&id, "checkout.session.completed").await, 200);
    assert_eq!(n.status(&started).await["state"], "started", "unpaid is not paid");
    assert_eq!(n.orders().await, 0);

    assert_eq!(n.fake.send_event(&id, "checkout.session.expired").await, 200);
    let after = n.status(&started).await;
    assert_eq!(after["state"], "expired", "{after}");
    assert_eq!(n.orders().await, 0);
    assert_eq!(n.sold_and_held().await, (0, 2), "the places stay held for the fan until the hold ends");
    // The fan tries again on the same hold: a new session, and it can still be paid.
    let again = n.start(&hold).await;
    let second = session_of(&n, &again);
    assert_ne!(second, id);
    let (status, _, _) = http("POST", again["redirect_url"].as_str().unwrap()).await;
    assert_eq!(status, 303);
    assert_eq!(n.status(&again).await["state"], "succeeded");
    assert_eq!(n.sold_and_held().await, (2, 0));
    // A late `expired` for the first session changes nothing now.
    assert_eq!(n.fake.send_event(&id, "checkout.session.expired").await, 200);
    assert_eq!(n.status(&again).await["state"], "succeeded");
    assert_eq!(n.sold_and_held().await, (2, 0));
    n.close().await;
}

#[tokio::test]
async fn a_duplicate_completed_event_makes_one_order() {
    let n = stripe_node().await;
    let hold = n.hold(&[30]).await;
    let started = n.start(&hold).await;
    let id = session_of(&n, &started);
    let (status, _, _) = http("POST", started["redirect_url"].as_str().unwrap()).await;
    assert_eq!(status, 303);
    let first = n.status(&started).await;
    assert_eq!(first["state"], "succeeded");
    for _ in 0..2 {
        assert_eq!(n.fake.send_event(&id, "checkout.session.completed").await, 200);
        assert_eq!(n.fake.send_event(&id, "checkout.session.async_payment_succeeded").await, 200);
    }
    let after = n.status(&started).await;
    assert_eq!(after["order"], first["order"], "the same order");
    assert_eq!(n.orders().await, 1);
    assert_eq!(n.sold_and_held().await, (1, 0));
    n.close().await;
}

#[tokio::test]
async fn an_admin_refund_reaches_stripe_with_the_amount_once() {
    let n = stripe_node().await;
    let hold = n.hold(&[40, 41]).await;
    let started = n.start(&hold).await;
    let id = session_of(&n, &started);
    let (status, _, _) = http("POST", started["redirect_url"].as_str().unwrap()).await;
    assert_eq!(status, 303);
    let paid = n.status(&started).await;
    let order = paid["order"].as_str().unwrap().to_string();
    let refund = |key: &str| {
        post(at("club", &format!("/orders/{order}/refunds")), json!({"amount_cents": 900, "reference": "goodwill"}))
            .bearer(&n.admin)
            .header("idempotency-key", key)
    };
    let first: Reply = check(&n.app, refund("refund-1")).await;
    expect_status(&first, 201);
    assert_eq!(first.json["amount_cents"], 900);
    expect_status(&check(&n.app, refund("refund-1")).await, 201);
    let refunds = n.fake.refunds();
    assert_eq!(refunds.len(), 1, "a retried refund pays out once: {refunds:?}");
    assert_eq!(refunds[0].amount, 900);
    assert_eq!(refunds[0].payment_intent, n.fake.session(&id).unwrap().payment_intent);
    let detail = check(&n.app, get(at("club", &format!("/orders/{order}")))).await;
    assert_eq!(detail.json["refunded_cents"], 900, "{}", detail.json);
    // More than is left: refused before Stripe is asked.
    let total = started["amount_cents"].as_i64().unwrap();
    let too_much = post(at("club", &format!("/orders/{order}/refunds")), json!({"amount_cents": total, "reference": "x"})).bearer(&n.admin);
    expect_problem(&check(&n.app, too_much).await, 422, "refund_exceeds_paid");
    assert_eq!(n.fake.refunds().len(), 1);
    n.close().await;
}
