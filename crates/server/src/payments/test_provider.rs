//! The test provider built into the node: what a real provider does, without one.
//! `start` opens a session (128 random bits) whose hosted page is the node's own
//! `/pay/test/{tenant}/{session}` (`web/checkout.rs`), with Pay, Decline and Cancel.
//! The page's verdict travels as a webhook signed exactly like Stripe's
//! (`signature.rs`) under a per-tenant secret derived from the tenant secret, and is
//! checked by the same code as a webhook from outside. Test switches deliver a
//! webhook twice, or hold it back (late) until asked or until the hold has ended.
//! Refunds are answered with a reference and remembered per idempotency key, so a
//! retried refund pays out once.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sturmfest_core::Cents;
use sturmfest_core::payments::PaymentFailure;

use super::signature;
use super::{Verdict, WebhookError};

/// Webhooks held back by the "late" switch, per tenant.
pub const held_webhooks_max: usize = 10_000;
/// Refund references remembered per idempotency key.
pub const refunds_remembered_max: usize = 100_000;

/// The header the test provider signs its webhooks in.
pub const signature_header: &str = "Sturmfest-Test-Signature";

#[derive(Serialize, Deserialize)]
struct Event {
    id: String,
    /// `payment.succeeded`, `payment.declined` or `payment.cancelled`.
    r#type: String,
    session: String,
}

/// A signed webhook ready to deliver: the header value and the raw body.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub signature: String,
    pub body: Vec<u8>,
}

pub struct TestProvider {
    secret: [u8; 32],
    held: Mutex<HashMap<String, Webhook>>,
    refunds: Mutex<HashMap<String, String>>,
}

/// What the fan pressed on the hosted page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Pay,
    Decline,
    Cancel,
}

impl TestProvider {
    pub fn new(secret: [u8; 32]) -> TestProvider {
        TestProvider { secret, held: Mutex::new(HashMap::new()), refunds: Mutex::new(HashMap::new()) }
    }

    /// A new session reference; its hosted page is `/pay/test/{tenant}/{session}`.
    pub fn start(&self, _amount: Cents) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        format!("tp_{}", hex::encode(bytes))
    }

    /// The webhook the provider sends for `action` on `session`, signed at `now_s`.
    pub fn webhook(&self, session: &str, action: Action, now_s: i64) -> Webhook {
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        let kind = match action {
            Action::Pay => "payment.succeeded",
            Action::Decline => "payment.declined",
            Action::Cancel => "payment.cancelled",
        };
        let event = Event { id: format!("evt_{}", hex::encode(id)), r#type: kind.into(), session: session.into() };
        let body = serde_json::to_vec(&event).expect("serializes");
        Webhook { signature: signature::sign(&self.secret, now_s, &body), body }
    }

    /// Checks the signature, then reads the verdict.
    pub fn verify_webhook(&self, header: &str, body: &[u8], now_s: i64) -> Result<Verdict, WebhookError> {
        signature::verify(&self.secret, header, body, now_s)?;
        let event: Event = serde_json::from_slice(body).map_err(|_| WebhookError::Body)?;
        let session = event.session;
        match event.r#type.as_str() {
            "payment.succeeded" => Ok(Verdict::Succeeded { session }),
            "payment.declined" => Ok(Verdict::Failed { session, failure: PaymentFailure::Declined }),
            "payment.cancelled" => Ok(Verdict::Failed { session, failure: PaymentFailure::Cancelled }),
            _ => Err(WebhookError::Body),
        }
    }

    /// Keeps a webhook back (the "late" switch); false when too many are held.
    pub fn hold_back(&self, session: &str, webhook: Webhook) -> bool {
        let mut held = self.held.lock().expect("not poisoned");
        if held.len() >= held_webhooks_max {
            return false;
        }
        held.insert(session.to_string(), webhook);
        true
    }

    /// The endpoint secret, for re-signing a held webhook at delivery.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret
    }

    pub fn take_held(&self, session: &str) -> Option<Webhook> {
        self.held.lock().expect("not poisoned").remove(session)
    }

    /// Refunds `amount` of `session`; the same key answers the same reference.
    pub fn refund(&self, session: &str, amount: Cents, key: &str) -> String {
        let mut refunds = self.refunds.lock().expect("not poisoned");
        if let Some(reference) = refunds.get(key) {
            return reference.clone();
        }
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        let reference = format!("tr_{}", hex::encode(id));
        tracing::info!(%session, amount = amount.0, %reference, "test provider refunded");
        if refunds.len() < refunds_remembered_max {
            refunds.insert(key.to_string(), reference.clone());
        }
        reference
    }
}
