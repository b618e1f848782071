//! The Stripe Checkout adapter. Node-wide: when a node is given a Stripe
//! configuration (`NodeOptions::stripe`, from the environment in `sturmfest serve`),
//! every tenant's new payments go through Stripe Checkout.
//!
//! - `start` creates a Checkout Session (`POST {base}/v1/checkout/sessions`,
//!   form-encoded, `Authorization: Bearer sk_…`, an `Idempotency-Key`) and answers
//!   its `id` (the session the core records) and its hosted `url` (where the fan goes).
//! - Webhooks carry `Stripe-Signature` (`signature.rs`); the session events become
//!   a `Verdict`, every other event type is acknowledged and ignored.
//! - Refunds look up the session's PaymentIntent and `POST {base}/v1/refunds`.
//!
//! The secret key and the webhook secret are never logged (`Debug` hides them).
//! The client speaks HTTPS (rustls with ring and the Mozilla roots, HTTP/1.1) to
//! Stripe and plain HTTP only to a loopback address (the fake in tests).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use sturmfest_core::Cents;
use sturmfest_core::payments::PaymentFailure;

use super::signature;
use super::{PaymentError, Verdict, WebhookError};

/// The header Stripe signs its webhooks in.
pub const signature_header: &str = "Stripe-Signature";
/// Stripe refuses a session that expires sooner than 30 minutes after creation;
/// one more minute keeps a slow request from crossing that line.
pub const session_lifetime_s: i64 = 31 * 60;
/// An API answer larger than this is treated as a provider failure.
pub const answer_bytes_max: usize = 256 * 1024;
/// How long one API call may take.
pub const request_timeout_ms: u64 = 10_000;

/// What the node needs to talk to Stripe.
#[derive(Clone)]
pub struct StripeConfig {
    /// `https://api.stripe.com` in production (through a proxy, see above), a
    /// loopback fake in tests. No trailing slash needed.
    pub api_base: String,
    /// `sk_live_…` / `sk_test_…`.
    pub secret_key: String,
    /// The webhook endpoint's signing secret, `whsec_…`.
    pub webhook_secret: String,
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig").field("api_base", &self.api_base).finish_non_exhaustive()
    }
}

impl StripeConfig {
    /// From `STRIPE_SECRET_KEY`, `STRIPE_WEBHOOK_SECRET` and optionally
    /// `STRIPE_API_BASE`; none when the secret key is unset.
    pub fn from_env() -> Result<Option<StripeConfig>, String> {
        let Ok(secret_key) = std::env::var("STRIPE_SECRET_KEY") else { return Ok(None) };
        let webhook_secret =
            std::env::var("STRIPE_WEBHOOK_SECRET").map_err(|_| "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not".to_string())?;
        let api_base = std::env::var("STRIPE_API_BASE").unwrap_or_else(|_| "https://api.stripe.com".into());
        let config = StripeConfig { api_base, secret_key, webhook_secret };
        config.check()?;
        Ok(Some(config))
    }

    /// Refuses what this client must not use: plain http beyond the loopback,
    /// where the secret key would travel in the clear.
    pub fn check(&self) -> Result<(), String> {
        let loopback = ["http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://[::1]:"];
        if !self.api_base.starts_with("https://") && !loopback.iter().any(|p| self.api_base.starts_with(p)) {
            return Err(format!("Stripe API base {:?}: https, or plain http to a loopback address only", self.api_base));
        }
        if self.secret_key.is_empty() || self.webhook_secret.is_empty() {
            return Err("the Stripe secret key and webhook secret must not be empty".into());
        }
        Ok(())
    }
}

/// A created Checkout Session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub url: String,
}

/// What the fan is buying, for the session's one line item.
pub struct Purchase<'a> {
    pub amount: Cents,
    pub name: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// Ours, echoed back by Stripe as `client_reference_id` and `metadata[payment]`.
    pub reference: &'a str,
    pub idempotency_key: &'a str,
    pub now_s: i64,
}

pub struct StripeProvider {
    config: StripeConfig,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Refund ids per idempotency key (as the test provider keeps them), so a retry
    /// inside this process does not even ask; Stripe's own key covers restarts.
    refunds: Mutex<HashMap<String, String>>,
}

#[derive(Deserialize)]
struct SessionAnswer {
    id: String,
    url: Option<String>,
    payment_intent: Option<String>,
}

#[derive(Deserialize)]
struct RefundAnswer {
    id: String,
}

#[derive(Deserialize)]
struct Event {
    r#type: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// Form encoding of one key or value (`application/x-www-form-urlencoded`).
fn form_part(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn form(pairs: &[(&str, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", form_part(k), form_part(v))).collect::<Vec<_>>().join("&")
}

impl StripeProvider {
    pub fn new(config: StripeConfig) -> StripeProvider {
        let https = hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        StripeProvider { config, client, refunds: Mutex::new(HashMap::new()) }
    }

    async fn call(&self, method: &str, path: &str, body: Option<String>, idempotency_key: Option<&str>) -> Result<Vec<u8>, PaymentError> {
        let uri = format!("{}{}", self.config.api_base.trim_end_matches('/'), path);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(&uri)
            .header("authorization", format!("Bearer {}", self.config.secret_key));
        if body.is_some() {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| PaymentError::Provider(format!("request: {e}")))?;
        let timeout = std::time::Duration::from_millis(request_timeout_ms);
        let response = tokio::time::timeout(timeout, self.client.request(request))
            .await
            .map_err(|_| PaymentError::Provider(format!("{method} {path}: timed out")))?
            .map_err(|e| PaymentError::Provider(format!("{method} {path}: {e}")))?;
        let status = response.status();
        let limited = http_body_util::Limited::new(response.into_body(), answer_bytes_max);
        let body = tokio::time::timeout(timeout, limited.collect())
            .await
            .map_err(|_| PaymentError::Provider(format!("{method} {path}: answer timed out")))?
            .map_err(|e| PaymentError::Provider(format!("{method} {path}: answer: {e}")))?
            .to_bytes();
        if !status.is_success() {
            // Stripe's error object names the problem; it carries no secrets.
            let detail = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            return Err(PaymentError::Provider(format!("{method} {path}: {status}: {detail}")));
        }
        Ok(body.to_vec())
    }

    /// Creates a Checkout Session for one line item of `amount` euro cents.
    pub async fn start(&self, purchase: &Purchase<'_>) -> Result<Session, PaymentError> {
        let body = form(&[
            ("mode", "payment".into()),
            ("line_items[0][price_data][currency]", "eur".into()),
            ("line_items[0][price_data][unit_amount]", purchase.amount.0.to_string()),
            ("line_items[0][price_data][product_data][name]", purchase.name.to_string()),
            ("line_items[0][quantity]", "1".into()),
            ("success_url", purchase.success_url.to_string()),
            ("cancel_url", purchase.cancel_url.to_string()),
            ("client_reference_id", purchase.reference.to_string()),
            ("metadata[payment]", purchase.reference.to_string()),
            ("expires_at", (purchase.now_s + session_lifetime_s).to_string()),
        ]);
        let answer = self.call("POST", "/v1/checkout/sessions", Some(body), Some(purchase.idempotency_key)).await?;
        let session: SessionAnswer =
            serde_json::from_slice(&answer).map_err(|e| PaymentError::Provider(format!("session answer: {e}")))?;
        let url = session.url.ok_or_else(|| PaymentError::Provider("session answer without url".into()))?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(PaymentError::Provider("session url is not http(s)".into()));
        }
        Ok(Session { id: session.id, url })
    }

    /// Refunds `amount` of the session's payment; the same key answers the same refund.
    pub async fn refund(&self, session: &str, amount: Cents, key: &str) -> Result<String, PaymentError> {
        if let Some(id) = self.refunds.lock().expect("not poisoned").get(key) {
            return Ok(id.clone());
        }
        let path = format!("/v1/checkout/sessions/{}", form_part(session));
        let answer = self.call("GET", &path, None, None).await?;
        let found: SessionAnswer =
            serde_json::from_slice(&answer).map_err(|e| PaymentError::Provider(format!("session answer: {e}")))?;
        let intent = found.payment_intent.ok_or_else(|| PaymentError::Provider("the session has no payment intent".into()))?;
        let body = form(&[("payment_intent", intent), ("amount", amount.0.to_string())]);
        let answer = self.call("POST", "/v1/refunds", Some(body), Some(key)).await?;
        let refund: RefundAnswer =
            serde_json::from_slice(&answer).map_err(|e| PaymentError::Provider(format!("refund answer: {e}")))?;
        tracing::info!(%session, amount = amount.0, refund = %refund.id, "stripe refunded");
        let mut refunds = self.refunds.lock().expect("not poisoned");
        if refunds.len() < super::test_provider::refunds_remembered_max {
            refunds.insert(key.to_string(), refund.id.clone());
        }
        Ok(refund.id)
    }

    /// Checks the signature, then reads the event: a verdict for the session events
    /// this node acts on, none for every other (acknowledged, ignored).
    pub fn verify_webhook(&self, header: &str, body: &[u8], now_s: i64) -> Result<Option<Verdict>, WebhookError> {
        signature::verify(self.config.webhook_secret.as_bytes(), header, body, now_s)?;
        parse_event(body)
    }
}

/// The verdict in a (verified) event body.
pub fn parse_event(body: &[u8]) -> Result<Option<Verdict>, WebhookError> {
    let event: Event = serde_json::from_slice(body).map_err(|_| WebhookError::Body)?;
    let object = &event.data.object;
    let session = || -> Result<String, WebhookError> {
        Ok(object.get("id").and_then(|v| v.as_str()).ok_or(WebhookError::Body)?.to_string())
    };
    Ok(match event.r#type.as_str() {
        "checkout.session.completed" => {
            // `unpaid` means a delayed method (SEPA debit …): the async events follow.
            match object.get("payment_status").and_then(|v| v.as_str()) {
                Some("paid") | Some("no_payment_required") => Some(Verdict::Succeeded { session: session()? }),
                _ => None,
            }
        }
        "checkout.session.async_payment_succeeded" => Some(Verdict::Succeeded { session: session()? }),
        "checkout.session.async_payment_failed" => Some(Verdict::Failed { session: session()?, failure: PaymentFailure::Declined }),
        "checkout.session.expired" => Some(Verdict::Failed { session: session()?, failure: PaymentFailure::Expired }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    //! Event parsing and form encoding against Stripe's documented shapes.

    use super::*;

    fn event(kind: &str, status: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": "evt_1", "object": "event", "type": kind,
            "data": {"object": {"id": "cs_test_1", "object": "checkout.session", "payment_status": status}}
        }))
        .unwrap()
    }

    #[test]
    fn session_events_become_verdicts_and_others_are_ignored() {
        let s = || "cs_test_1".to_string();
        assert_eq!(parse_event(&event("checkout.session.completed", "paid")).unwrap(), Some(Verdict::Succeeded { session: s() }));
        assert_eq!(parse_event(&event("checkout.session.completed", "unpaid")).unwrap(), None);
        assert_eq!(parse_event(&event("checkout.session.async_payment_succeeded", "paid")).unwrap(), Some(Verdict::Succeeded { session: s() }));
        assert_eq!(
            parse_event(&event("checkout.session.async_payment_failed", "unpaid")).unwrap(),
            Some(Verdict::Failed { session: s(), failure: PaymentFailure::Declined })
        );
        assert_eq!(
            parse_event(&event("checkout.session.expired", "unpaid")).unwrap(),
            Some(Verdict::Failed { session: s(), failure: PaymentFailure::Expired })
        );
        assert_eq!(parse_event(&event("charge.refunded", "paid")).unwrap(), None);
        assert!(matches!(parse_event(b"{}"), Err(WebhookError::Body)));
        assert!(matches!(parse_event(br#"{"type":"checkout.session.expired","data":{"object":{}}}"#), Err(WebhookError::Body)));
    }

    #[test]
    fn forms_encode_brackets_and_spaces() {
        let body = form(&[("line_items[0][quantity]", "1".into()), ("name", "Eis & Sturm".into())]);
        assert_eq!(body, "line%5Fitems%5B0%5D%5Bquantity%5D=1&name=Eis%20%26%20Sturm");
    }

    #[test]
    fn the_config_hides_its_secrets_and_refuses_plain_http_beyond_the_loopback() {
        let config = StripeConfig { api_base: "http://127.0.0.1:1".into(), secret_key: "sk_test_x".into(), webhook_secret: "whsec_y".into() };
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk_test_x") && !shown.contains("whsec_y"), "{shown}");
        assert!(config.check().is_ok());
        assert!(StripeConfig { api_base: "https://api.stripe.com".into(), ..config.clone() }.check().is_ok());
        assert!(StripeConfig { api_base: "http://api.stripe.com".into(), ..config.clone() }.check().is_err());
        assert!(StripeConfig { api_base: "http://127.0.0.1.evil.example".into(), ..config.clone() }.check().is_err());
        // Building the client needs a crypto provider chosen by the crate features.
        let _ = StripeProvider::new(config);
    }
}
