//! The payment calls: a fan starts a payment for a live hold (`POST
//! /holds/{hold}/payments`), follows `redirect_url` to the provider, and the shop
//! polls `GET /payments/{payment}` until the provider's webhook (`POST
//! /payments/webhooks/{provider}`) has settled it. Only the webhook, verified by its
//! signature, turns a payment into an order (docs/PAYMENTS.md).
//!
//! These routes are not in docs/API.md's tables nor in the OpenAPI document yet;
//! docs/PAYMENTS.md describes them.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sturmfest_core as core;
use sturmfest_core::payments::{PaymentCommand, PaymentState, ProviderKind};

use crate::http::dto::{euros, time_string};
use crate::http::extract::*;
use crate::http::handlers::{ApiResult, idem, json, tenant, unexpected};
use crate::http::problem::Problem;
use crate::http::{AppState, TenantHandle};
use crate::payments::{PaymentError, Settled, WebhookError};

/// A webhook body larger than this is refused unread (provider events are small).
pub const webhook_body_bytes_max: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/{tenant}/holds/{hold}/payments", post(start_payment))
        .route("/api/v1/{tenant}/payments/{payment}", get(payment_status))
        .route("/api/v1/{tenant}/payments/webhooks/{provider}", post(webhook))
        .route("/api/v1/{tenant}/payments/test/{session}", post(press_api))
        // Stripe Checkout: where Stripe sends the fan back (success and cancel).
        .route("/pay/stripe/{tenant}/return", get(stripe_return))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentIn {
    pub buyer: BuyerFields,
    /// The admission the waiting room handed out, for a sale behind one.
    pub admission: Option<String>,
    /// `de` or `en`: the language of the provider page and the confirmation.
    pub lang: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyerFields {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize)]
pub struct PaymentStarted {
    /// The token that addresses this payment.
    pub payment: String,
    pub payment_id: u64,
    /// Where to send the fan: the provider's hosted page.
    pub redirect_url: String,
    /// The confirmation page the provider returns the fan to.
    pub return_url: String,
    pub amount_cents: i64,
    pub amount: String,
}

#[derive(Debug, Serialize)]
pub struct PaymentOut {
    pub payment_id: u64,
    /// `started`, `declined`, `cancelled`, `expired`, `succeeded`, `refund_due`, `refunded`.
    pub state: &'static str,
    pub provider: &'static str,
    pub amount_cents: i64,
    pub amount: String,
    pub event: u32,
    /// While the hold is live (`started`, or after a failure): when it ends.
    pub hold_expires_at: Option<String>,
    /// For `succeeded`: the order's token, as `POST /holds/{hold}/confirm` answered it.
    pub order: Option<String>,
    pub order_id: Option<u64>,
}

/// Buyer fields a person can act on: a name and a plausible address. The core only
/// bounds their length; what "plausible" means is the edge's business.
pub fn check_buyer(name: &str, email: &str) -> Result<(), &'static str> {
    let name = name.trim();
    if name.is_empty() || name.len() > core::limits::buyer_name_bytes_max {
        return Err("buyer_name_invalid");
    }
    let email = email.trim();
    let plausible = email.len() <= core::limits::buyer_email_bytes_max
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !plausible {
        return Err("buyer_email_invalid");
    }
    Ok(())
}

pub fn problem_of(error: PaymentError) -> Problem {
    match error {
        PaymentError::Rejected(rejection) => Problem::from_rejection(&rejection),
        PaymentError::Shard(e) => e.into(),
        PaymentError::Provider(why) => {
            tracing::error!(%why, "payment provider failed");
            Problem::new(StatusCode::BAD_GATEWAY, "provider_unavailable", "Payment provider unavailable", "the payment provider did not answer; try again")
                .retry_after(5)
        }
        PaymentError::Refused(why) => Problem::unprocessable("payment_refused", why),
    }
}

/// Starts a payment for the live hold at its total (the core checks it again).
async fn start_payment(
    State(state): State<AppState>,
    PathParams((slug, token)): PathParams<(String, String)>,
    key: IdempotencyKey,
    body: JsonBody<PaymentIn>,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let hold = handle
        .credentials
        .open_token("hold", &token)
        .map(core::HoldId)
        .ok_or_else(|| Problem::not_found("unknown_hold", "no hold with this token"))?;
    let input = body.value;
    let lang = match input.lang.as_deref() {
        None | Some("de") => "de",
        Some("en") => "en",
        Some(_) => return Err(Problem::unprocessable("invalid_body", "lang must be de or en")),
    };
    let buyer = core::Buyer { name: input.buyer.name, email: input.buyer.email };
    let idempotency = idem(&format!("payment:{}", hold.0), &key, body.fingerprint);
    let out = begin_payment(handle, &slug, hold, buyer, input.admission, lang, idempotency).await?;
    Ok(json(StatusCode::CREATED, &out))
}

/// Opens a provider session for a live hold and records it in the core; the shop's
/// API call and the confirmation page's "try again" both start payments here.
pub async fn begin_payment(
    handle: &TenantHandle,
    slug: &str,
    hold: core::HoldId,
    buyer: core::Buyer,
    admission: Option<String>,
    lang: &'static str,
    idempotency: Option<core::Idempotency>,
) -> Result<PaymentStarted, Problem> {
    check_buyer(&buyer.name, &buyer.email)
        .map_err(|code| Problem::unprocessable(code, "give a name and a valid e-mail address"))?;
    let live = handle
        .shard
        .read(move |t| match t.hold_of(hold) {
            Some(h) => Ok(h.price_each.times(h.places.count())),
            None => Err(match t.order_of_hold(hold) {
                Some(order) => core::Rejection::HoldAlreadyConfirmed { order },
                None => core::Rejection::HoldEnded,
            }),
        })
        .await?;
    let amount = live.map_err(|r| Problem::from_rejection(&r))?;
    let (session, stripe_url) = match handle.payments.kind {
        ProviderKind::Test => (handle.payments.start(amount).map_err(problem_of)?, None),
        ProviderKind::Stripe => {
            let opened = start_stripe(handle, slug, hold, amount, lang, idempotency.as_ref()).await?;
            (opened.id, Some(opened.url))
        }
    };
    let command = core::Command::Payment(PaymentCommand::Start {
        hold,
        amount,
        provider: handle.payments.kind,
        session: session.clone(),
        buyer: core::Buyer { name: buyer.name.trim().to_string(), email: buyer.email.trim().to_string() },
    });
    let outcome = handle.shard.execute(idempotency, command).await?;
    let reply = outcome.map_err(|r| Problem::from_rejection(&r))?;
    let core::Reply::Payment(reply) = reply else { return Err(unexpected(&reply)) };
    // A replayed key answers the first payment: send the fan to its session.
    let session = handle.shard.read(move |t| t.payment(reply.payment).map(|p| p.session.clone())).await?.unwrap_or(session);
    if let Some(admission) = admission {
        handle.payments.remember_admission(&session, admission);
    }
    handle.payments.remember_lang(&session, if lang == "en" { crate::web::i18n::Lang::En } else { crate::web::i18n::Lang::De });
    let payment = handle.credentials.token_for("payment", reply.payment.0);
    Ok(PaymentStarted {
        redirect_url: stripe_url.unwrap_or_else(|| format!("/pay/test/{slug}/{session}?lang={lang}")),
        return_url: return_url(slug, &payment, lang),
        payment,
        payment_id: reply.payment.0,
        amount_cents: amount.0,
        amount: euros(amount),
    })
}

/// Opens a Stripe Checkout Session for a hold. Its idempotency key follows the
/// fan's own key, so a replayed start gets the same session (and the core answers
/// the same payment); without one every start is a new session.
async fn start_stripe(
    handle: &TenantHandle,
    slug: &str,
    hold: core::HoldId,
    amount: core::Cents,
    lang: &str,
    idempotency: Option<&core::Idempotency>,
) -> Result<crate::payments::stripe::Session, Problem> {
    use sha2::Digest;
    let stripe = handle.payments.stripe().map_err(problem_of)?;
    let hold_token = handle.credentials.token_for("hold", hold.0);
    let key = match idempotency {
        Some(idem) => {
            let digest = sha2::Sha256::digest(format!("{slug}\0{}\0{:?}\0{}", hold.0, idem.key, idem.fingerprint).as_bytes());
            format!("sturmfest-{}", hex::encode(&digest[..16]))
        }
        None => {
            let mut bytes = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            format!("sturmfest-{}", hex::encode(bytes))
        }
    };
    let back = format!("{}/pay/stripe/{slug}/return?hold={hold_token}&lang={lang}", handle.payments.base_url);
    let name = format!("Tickets: {}", handle.name);
    let reference = format!("{slug}:hold:{}", hold.0);
    let purchase = crate::payments::stripe::Purchase {
        amount,
        name: &name,
        success_url: &back,
        cancel_url: &back,
        reference: &reference,
        idempotency_key: &key,
        now_s: crate::runtime::wall_clock_ms() / 1000,
    };
    stripe.start(&purchase).await.map_err(problem_of)
}

#[derive(Debug, Deserialize)]
pub struct StripeReturn {
    pub hold: String,
    pub lang: Option<String>,
}

/// Stripe's success and cancel links land here: the confirmation page of the
/// hold's latest payment, which shows what the webhook has (or has not yet) said.
async fn stripe_return(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    axum::extract::Query(query): axum::extract::Query<StripeReturn>,
) -> Result<axum::response::Redirect, Problem> {
    let handle = tenant(&state, &slug)?;
    let unknown = || Problem::not_found("unknown_hold", "no hold with this token");
    let hold = handle.credentials.open_token("hold", &query.hold).map(core::HoldId).ok_or_else(unknown)?;
    // Linear in the tenant's payments; fine at a club's scale, an index when not.
    let payment = handle
        .shard
        .read(move |t| t.payments().iter().rev().find(|p| p.hold.id == hold).map(|p| p.id))
        .await?
        .ok_or_else(unknown)?;
    let lang = if query.lang.as_deref() == Some("en") { "en" } else { "de" };
    let token = handle.credentials.token_for("payment", payment.0);
    Ok(axum::response::Redirect::to(&return_url(&slug, &token, lang)))
}

/// The confirmation page a payment returns to.
pub fn return_url(slug: &str, payment_token: &str, lang: &str) -> String {
    format!("/{slug}/payments/{payment_token}?lang={lang}")
}

pub async fn read_payment(handle: &TenantHandle, payment: core::payments::PaymentId) -> Result<Option<PaymentOut>, Problem> {
    let credentials = handle.credentials.clone();
    Ok(handle
        .shard
        .read(move |t| {
            let p = t.payment(payment)?;
            let (order, order_id) = match p.state {
                PaymentState::Succeeded { order } => (Some(credentials.token_for("order", order.0)), Some(order.0)),
                _ => (None, None),
            };
            Some(PaymentOut {
                payment_id: p.id.0,
                state: p.state.code(),
                provider: p.provider.code(),
                amount_cents: p.amount.0,
                amount: euros(p.amount),
                event: p.hold.event.0,
                hold_expires_at: t.hold_of(p.hold.id).map(|h| time_string(h.expires_at)),
                order,
                order_id,
            })
        })
        .await?)
}

async fn payment_status(State(state): State<AppState>, PathParams((slug, token)): PathParams<(String, String)>) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let payment = handle
        .credentials
        .open_token("payment", &token)
        .map(core::payments::PaymentId)
        .ok_or_else(|| Problem::not_found("unknown_payment", "no payment with this token"))?;
    let out = read_payment(handle, payment).await?.ok_or_else(|| Problem::not_found("unknown_payment", "no payment with this token"))?;
    Ok(json(StatusCode::OK, &out))
}

/// A provider's webhook: verified against the tenant's endpoint secret, then
/// applied. Duplicates are answered like the first; a bad signature changes nothing.
async fn webhook(
    State(state): State<AppState>,
    PathParams((slug, provider)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    if provider != "test" && !(provider == "stripe" && handle.payments.stripe.is_some()) {
        return Err(Problem::not_found("unknown_provider", "no webhook endpoint for this provider"));
    }
    if body.len() > webhook_body_bytes_max {
        return Err(Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "webhook_too_large", "Too large", "webhook bodies are small"));
    }
    if provider == "stripe" {
        let signature = headers.get(crate::payments::stripe::signature_header).and_then(|v| v.to_str().ok()).unwrap_or("");
        let state = deliver_stripe_webhook(handle, signature, &body).await?;
        return Ok(json(StatusCode::OK, &serde_json::json!({ "received": true, "state": state.map(|s| s.code()) })));
    }
    let signature = headers
        .get(crate::payments::test_provider::signature_header)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let state = deliver_test_webhook(handle, signature, &body).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "received": true, "state": state.code() })))
}

/// Verifies and applies one test-provider webhook; the hosted page delivers through
/// here too, so both paths check the same signature.
pub async fn deliver_test_webhook(handle: &TenantHandle, signature: &str, body: &[u8]) -> Result<Settled, Problem> {
    let now_s = crate::runtime::wall_clock_ms() / 1000;
    let verdict = handle.payments.test.verify_webhook(signature, body, now_s).map_err(|e| match e {
        WebhookError::Signature(why) => {
            tracing::warn!(%why, "webhook refused");
            Problem::bad_request("webhook_signature_invalid", "the webhook signature does not verify")
        }
        WebhookError::Body => Problem::bad_request("webhook_invalid", "the webhook body is not a known event"),
    })?;
    crate::payments::settle(handle, ProviderKind::Test, &verdict).await.map_err(problem_of)
}

fn webhook_problem(error: WebhookError) -> Problem {
    match error {
        WebhookError::Signature(why) => {
            tracing::warn!(%why, "webhook refused");
            Problem::bad_request("webhook_signature_invalid", "the webhook signature does not verify")
        }
        WebhookError::Body => Problem::bad_request("webhook_invalid", "the webhook body is not a known event"),
    }
}

/// Verifies and applies one Stripe webhook. Event types this node does not act on
/// are acknowledged (none), so Stripe stops retrying them.
pub async fn deliver_stripe_webhook(handle: &TenantHandle, signature: &str, body: &[u8]) -> Result<Option<Settled>, Problem> {
    let now_s = crate::runtime::wall_clock_ms() / 1000;
    let stripe = handle.payments.stripe().map_err(problem_of)?;
    let Some(verdict) = stripe.verify_webhook(signature, body, now_s).map_err(webhook_problem)? else { return Ok(None) };
    crate::payments::settle(handle, ProviderKind::Stripe, &verdict).await.map(Some).map_err(problem_of)
}

/// What a test-provider session paid for: a ticket payment or a voucher purchase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pressed {
    Payment(core::payments::PaymentId),
    Purchase(core::vouchers::PurchaseId),
}

/// How the test provider delivers its webhook (the hosted page's test switches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Once,
    Twice,
    /// Held back until the hold has ended (or `/deliver` is called).
    Late,
}

/// The fan's choice at the test provider: the provider signs its webhook and
/// delivers it through the same verification as any webhook. `None` when the
/// session is unknown.
pub async fn press(
    state: &AppState,
    slug: &str,
    session: &str,
    action: crate::payments::test_provider::Action,
    delivery: Delivery,
) -> Result<Option<Pressed>, Problem> {
    let handle = tenant(state, slug)?;
    let session2 = session.to_string();
    let found = handle
        .shard
        .read(move |t| {
            if let Some(p) = t.payment_by_session(ProviderKind::Test, &session2) {
                return Some((Pressed::Payment(p.id), t.hold_of(p.hold.id).map(|h| h.expires_at)));
            }
            // A voucher purchase has no hold: "late" waits for `/deliver` (or 10 minutes).
            let p = t.vouchers().purchase_by_session(ProviderKind::Test, &session2)?;
            Some((Pressed::Purchase(p.id), Some(core::TimeMs(crate::runtime::wall_clock_ms() + 600_000))))
        })
        .await?;
    let Some((payment, hold_expires_at)) = found else { return Ok(None) };
    let webhook = handle.payments.test.webhook(session, action, crate::runtime::wall_clock_ms() / 1000);
    match delivery {
        Delivery::Late => {
            if !handle.payments.test.hold_back(session, webhook) {
                return Err(Problem::overloaded());
            }
            // Delivered once the hold has ended (or earlier through `/deliver`).
            let due_ms = hold_expires_at.map_or(0, |at| at.0 - crate::runtime::wall_clock_ms()) + 2_000;
            // Only a weak reference while waiting: a node that closes meanwhile must
            // not wait for this timer (a live handle keeps the writer's inbox open).
            let tenants = std::sync::Arc::downgrade(&state.tenants);
            let (slug, session) = (slug.to_string(), session.to_string());
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(due_ms.max(0) as u64)).await;
                let Some(tenants) = tenants.upgrade() else { return };
                let Some(handle) = tenants.get(&slug) else { return };
                if let Some(held) = handle.payments.test.take_held(&session) {
                    let _ = redeliver(handle, &held).await;
                }
            });
        }
        Delivery::Once | Delivery::Twice => {
            let times = if delivery == Delivery::Twice { 2 } else { 1 };
            for _ in 0..times {
                if let Err(problem) = deliver_test_webhook(handle, &webhook.signature, &webhook.body).await {
                    // A provider would retry later; meanwhile the payment shows as pending.
                    tracing::warn!(code = problem.code, "test provider webhook not accepted");
                }
            }
        }
    }
    Ok(Some(payment))
}

/// Re-signs a held webhook at delivery time, as a provider's retry would.
pub async fn redeliver(handle: &TenantHandle, held: &crate::payments::test_provider::Webhook) -> Result<Settled, Problem> {
    let now_s = crate::runtime::wall_clock_ms() / 1000;
    let signature = crate::payments::signature::sign(&handle.payments.test.secret_bytes(), now_s, &held.body);
    deliver_test_webhook(handle, &signature, &held.body).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PressIn {
    /// `pay`, `decline` or `cancel`.
    pub action: String,
    /// `once` (default), `twice` or `late`.
    pub delivery: Option<String>,
}

/// The test provider's buttons for programs (load generators, tests): the same as
/// pressing them on the hosted page, answered with the payment as it is afterwards.
async fn press_api(
    State(state): State<AppState>,
    PathParams((slug, session)): PathParams<(String, String)>,
    body: JsonBody<PressIn>,
) -> ApiResult {
    use crate::payments::test_provider::Action;
    let handle = tenant(&state, &slug)?;
    let input = body.value;
    let action = match input.action.as_str() {
        "pay" => Action::Pay,
        "decline" => Action::Decline,
        "cancel" => Action::Cancel,
        _ => return Err(Problem::unprocessable("invalid_body", "action must be pay, decline or cancel")),
    };
    let delivery = match input.delivery.as_deref() {
        None | Some("once") => Delivery::Once,
        Some("twice") => Delivery::Twice,
        Some("late") => Delivery::Late,
        Some(_) => return Err(Problem::unprocessable("invalid_body", "delivery must be once, twice or late")),
    };
    let pressed = press(&state, &slug, &session, action, delivery)
        .await?
        .ok_or_else(|| Problem::not_found("unknown_payment", "no payment with this session"))?;
    let payment = match pressed {
        Pressed::Payment(payment) => payment,
        Pressed::Purchase(purchase) => {
            let out = crate::http::vouchers_online::read_purchase(handle, &slug, purchase)
                .await?
                .ok_or_else(|| Problem::not_found("unknown_purchase", "no purchase with this session"))?;
            return Ok(json(StatusCode::OK, &out));
        }
    };
    let out = read_payment(handle, payment).await?.ok_or_else(|| Problem::not_found("unknown_payment", "no payment with this session"))?;
    Ok(json(StatusCode::OK, &out))
}
