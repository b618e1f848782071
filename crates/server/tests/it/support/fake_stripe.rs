//! A fake Stripe on a loopback socket, faithful to the parts of Stripe's API the
//! adapter uses: `POST /v1/checkout/sessions` (form-encoded, Bearer secret key,
//! `Idempotency-Key` replays the first answer), `GET /v1/checkout/sessions/{id}`,
//! `POST /v1/refunds`, and a hosted page `/pay/{id}` whose Pay button sends a
//! signed `checkout.session.completed` event to the node's webhook endpoint and
//! returns the fan to the session's `success_url`. What the fake refuses (a wrong
//! key, a missing or wrong field) it answers like Stripe, with a 4xx and an
//! `error` object, and records in `errors` so a test can assert there were none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sturmfest_server::payments::signature;

#[allow(non_upper_case_globals)]
pub(crate) const secret_key: &str = "sk_test_fake_4eC39HqLyjWDarjtT1zdp7dc";
#[allow(non_upper_case_globals)]
pub(crate) const webhook_secret: &str = "whsec_fake_sturmfest";

#[derive(Clone, Debug)]
pub(crate) struct FakeSession {
    pub id: String,
    pub amount: i64,
    pub name: String,
    pub success_url: String,
    pub cancel_url: String,
    pub reference: String,
    pub expires_at: i64,
    pub created: i64,
    pub paid: bool,
    pub payment_intent: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FakeRefund {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
    pub key: String,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, FakeSession>,
    /// Idempotency-Key → the session id it created.
    session_keys: HashMap<String, String>,
    refunds: Vec<FakeRefund>,
    errors: Vec<String>,
    next: u64,
}

#[derive(Clone)]
pub(crate) struct FakeStripe {
    pub base: String,
    webhook_url: String,
    inner: Arc<Mutex<Inner>>,
}

fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn stripe_error(fake: &FakeStripe, status: StatusCode, message: String) -> Response {
    fake.inner.lock().unwrap().errors.push(message.clone());
    (status, axum::Json(json!({"error": {"type": "invalid_request_error", "message": message}}))).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {secret_key}"))
}

fn session_json(fake: &FakeStripe, s: &FakeSession) -> Value {
    json!({
        "id": s.id, "object": "checkout.session", "mode": "payment", "currency": "eur",
        "amount_total": s.amount, "client_reference_id": s.reference,
        "metadata": {"payment": s.reference}, "expires_at": s.expires_at,
        "payment_status": if s.paid { "paid" } else { "unpaid" },
        "status": if s.paid { "complete" } else { "open" },
        "payment_intent": if s.paid { Value::from(s.payment_intent.clone()) } else { Value::Null },
        "url": if s.paid { Value::Null } else { Value::from(format!("{}/pay/{}", fake.base, s.id)) },
    })
}

async fn create_session(State(fake): State<FakeStripe>, headers: HeaderMap, Form(body): Form<Vec<(String, String)>>) -> Response {
    if !authorized(&headers) {
        return stripe_error(&fake, StatusCode::UNAUTHORIZED, "Invalid API Key provided".into());
    }
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return stripe_error(&fake, StatusCode::BAD_REQUEST, "the adapter always sends an Idempotency-Key".into());
    };
    let form: HashMap<String, String> = match fields(body) {
        Ok(f) => f,
        Err(e) => return stripe_error(&fake, StatusCode::BAD_REQUEST, e),
    };
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let expect = [("mode", "payment"), ("line_items[0][price_data][currency]", "eur"), ("line_items[0][quantity]", "1")];
    for (name, value) in expect {
        if field(name) != value {
            return stripe_error(&fake, StatusCode::BAD_REQUEST, format!("{name} must be {value}, was {:?}", field(name)));
        }
    }
    let Ok(amount) = field("line_items[0][price_data][unit_amount]").parse::<i64>() else {
        return stripe_error(&fake, StatusCode::BAD_REQUEST, "unit_amount must be an integer".into());
    };
    let Ok(expires_at) = field("expires_at").parse::<i64>() else {
        return stripe_error(&fake, StatusCode::BAD_REQUEST, "expires_at must be a timestamp".into());
    };
    let now = now_s();
    // Stripe: at least 30 minutes, at most 24 hours after creation.
    if expires_at < now + 30 * 60 || expires_at > now + 24 * 3600 {
        return stripe_error(&fake, StatusCode::BAD_REQUEST, format!("expires_at {expires_at} out of range at {now}"));
    }
    let name = field("line_items[0][price_data][product_data][name]");
    let (success_url, cancel_url) = (field("success_url"), field("cancel_url"));
    let reference = field("client_reference_id");
    if amount <= 0 || name.is_empty() || !success_url.starts_with("http") || !cancel_url.starts_with("http") || reference.is_empty()
    {
        return stripe_error(&fake, StatusCode::BAD_REQUEST, format!("missing fields in {form:?}"));
    }
    if field("metadata[payment]") != reference {
        return stripe_error(&fake, StatusCode::BAD_REQUEST, "metadata[payment] differs from client_reference_id".into());
    }
    let mut inner = fake.inner.lock().unwrap();
    if let Some(id) = inner.session_keys.get(&key) {
        let s = inner.sessions[id].clone();
        drop(inner);
        return axum::Json(session_json(&fake, &s)).into_response();
    }
    inner.next += 1;
    let n = inner.next;
    let session = FakeSession {
        id: format!("cs_test_fake{n:04}"),
        amount,
        name,
        success_url,
        cancel_url,
        reference,
        expires_at,
        created: now,
        paid: false,
        payment_intent: format!("pi_fake{n:04}"),
    };
    inner.session_keys.insert(key, session.id.clone());
    inner.sessions.insert(session.id.clone(), session.clone());
    drop(inner);
    axum::Json(session_json(&fake, &session)).into_response()
}

/// The form's fields; a key sent twice is refused (the adapter never does that).
fn fields(pairs: Vec<(String, String)>) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (k, v) in pairs {
        if out.insert(k.clone(), v).is_some() {
            return Err(format!("duplicate key {k}"));
        }
    }
    Ok(out)
}

async fn read_session(State(fake): State<FakeStripe>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers) {
        return stripe_error(&fake, StatusCode::UNAUTHORIZED, "Invalid API Key provided".into());
    }
    let found = fake.inner.lock().unwrap().sessions.get(&id).cloned();
    match found {
        Some(s) => axum::Json(session_json(&fake, &s)).into_response(),
        None => stripe_error(&fake, StatusCode::NOT_FOUND, format!("No such checkout.session: {id}")),
    }
}

async fn create_refund(State(fake): State<FakeStripe>, headers: HeaderMap, Form(body): Form<Vec<(String, String)>>) -> Response {
    if !authorized(&headers) {
        return stripe_error(&fake, StatusCode::UNAUTHORIZED, "Invalid API Key provided".into());
    }
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return stripe_error(&fake, StatusCode::BAD_REQUEST, "the adapter always sends an Idempotency-Key".into());
    };
    let form = match fields(body) {
        Ok(f) => f,
        Err(e) => return stripe_error(&fake, StatusCode::BAD_REQUEST, e),
    };
    let intent = form.get("payment_intent").cloned().unwrap_or_default();
    let Some(amount) = form.get("amount").and_then(|a| a.parse::<i64>().ok()) else {
        return stripe_error(&fake, StatusCode::BAD_REQUEST, "amount must be an integer".into());
    };
    let mut inner = fake.inner.lock().unwrap();
    if let Some(r) = inner.refunds.iter().find(|r| r.key == key).cloned() {
        drop(inner);
        return axum::Json(json!({"id": r.id, "object": "refund", "amount": r.amount, "payment_intent": r.payment_intent, "status": "succeeded"})).into_response();
    }
    let Some(paid) = inner.sessions.values().find(|s| s.paid && s.payment_intent == intent).map(|s| s.amount) else {
        drop(inner);
        return stripe_error(&fake, StatusCode::BAD_REQUEST, format!("No such payment_intent: {intent}"));
    };
    let already: i64 = inner.refunds.iter().filter(|r| r.payment_intent == intent).map(|r| r.amount).sum();
    if amount <= 0 || already + amount > paid {
        drop(inner);
        return stripe_error(&fake, StatusCode::BAD_REQUEST, format!("refund of {amount} exceeds the charge"));
    }
    let refund = FakeRefund { id: format!("re_fake{:04}", inner.refunds.len() + 1), payment_intent: intent, amount, key };
    inner.refunds.push(refund.clone());
    drop(inner);
    axum::Json(json!({"id": refund.id, "object": "refund", "amount": amount, "payment_intent": refund.payment_intent, "status": "succeeded"}))
        .into_response()
}

async fn hosted_page(State(fake): State<FakeStripe>, Path(id): Path<String>) -> Response {
    let found = fake.inner.lock().unwrap().sessions.get(&id).cloned();
    match found {
        Some(s) => Html(format!(
            "<!doctype html><title>Fake Stripe</title><p>{} – {} cents</p><form method=post><button>Pay</button></form>",
            s.name, s.amount
        ))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The fan pays: the session is paid, the signed event goes to the node, and the
/// fan returns to `success_url`.
async fn hosted_pay(State(fake): State<FakeStripe>, Path(id): Path<String>) -> Response {
    let found = {
        let mut inner = fake.inner.lock().unwrap();
        inner.sessions.get_mut(&id).map(|s| {
            s.paid = true;
            s.clone()
        })
    };
    let Some(session) = found else { return StatusCode::NOT_FOUND.into_response() };
    let status = fake.send_event(&session.id, "checkout.session.completed").await;
    if status != 200 {
        // Stripe would retry; the test sees the failure in `errors`.
        fake.inner.lock().unwrap().errors.push(format!("webhook answered {status}"));
    }
    Redirect::to(&session.success_url.replace("{CHECKOUT_SESSION_ID}", &session.id)).into_response()
}

impl FakeStripe {
    /// Serves the fake on `listener`; events go to `webhook_url`.
    pub(crate) fn start(listener: std::net::TcpListener, webhook_url: String) -> FakeStripe {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeStripe { base, webhook_url, inner: Arc::new(Mutex::new(Inner::default())) };
        let app = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(read_session))
            .route("/v1/refunds", post(create_refund))
            .route("/pay/{id}", get(hosted_page).post(hosted_pay))
            .with_state(fake.clone());
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    pub(crate) fn session(&self, id: &str) -> Option<FakeSession> {
        self.inner.lock().unwrap().sessions.get(id).cloned()
    }

    pub(crate) fn refunds(&self) -> Vec<FakeRefund> {
        self.inner.lock().unwrap().refunds.clone()
    }

    pub(crate) fn errors(&self) -> Vec<String> {
        self.inner.lock().unwrap().errors.clone()
    }

    /// The event body Stripe sends for `kind` on a session.
    pub(crate) fn event_body(&self, id: &str, kind: &str) -> Vec<u8> {
        let session = self.session(id).expect("a session of this fake");
        let object = session_json(self, &session);
        let n = self.inner.lock().unwrap().next;
        serde_json::to_vec(&json!({
            "id": format!("evt_fake{n:04}_{kind}"), "object": "event", "api_version": "2025-01-27",
            "created": now_s(), "type": kind, "data": {"object": object}
        }))
        .unwrap()
    }

    /// Posts a body with a given signature header to the node; the status it answered.
    pub(crate) async fn post_webhook(&self, signature_header: &str, body: Vec<u8>) -> (u16, Value) {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = hyper::Request::post(&self.webhook_url)
            .header("content-type", "application/json")
            .header("stripe-signature", signature_header)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let response = client.request(request).await.expect("the node answers");
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Sends a correctly signed event of `kind` for the session; the node's status.
    pub(crate) async fn send_event(&self, id: &str, kind: &str) -> u16 {
        let body = self.event_body(id, kind);
        let header = signature::sign(webhook_secret.as_bytes(), now_s(), &body);
        self.post_webhook(&header, body).await.0
    }
}
