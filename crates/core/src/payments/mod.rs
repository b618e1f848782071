//! Online payments: a sale on the public channel becomes an order only through a
//! payment that the provider reported as succeeded.
//!
//! A payment is started for a live hold at exactly the hold's total and names the
//! provider's session. The provider's verdict arrives later, possibly twice, possibly
//! after the hold expired. `Succeeded` is idempotent and decides in one command:
//! a live hold is confirmed into an order; an ended hold whose places are still free
//! is held again and confirmed; otherwise the money is owed back (`RefundDue`) until
//! the edge records the provider's refund. So a payment is never lost and a place is
//! never sold twice. The tenant routes these commands (`state/payments.rs`); this
//! module holds the types.

use crate::command::Buyer;
use crate::ids::*;
use crate::state::Hold;

/// A payment; sequential per tenant, never reused. `PaymentId(n)` lives at index `n - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PaymentId(pub u64);

impl std::fmt::Display for PaymentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which provider took the money; refunds go back through the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProviderKind {
    /// The provider built into the node (its own hosted page, HMAC-signed webhooks).
    Test,
    Stripe,
}

impl ProviderKind {
    pub fn code(self) -> &'static str {
        match self {
            ProviderKind::Test => "test",
            ProviderKind::Stripe => "stripe",
        }
    }
}

/// Why a started payment ended without money.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentFailure {
    Declined,
    Cancelled,
    /// The provider's session timed out before the fan paid.
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentState {
    Started,
    Failed(PaymentFailure),
    /// Paid and turned into this order.
    Succeeded { order: OrderId },
    /// Paid, but the places were gone: the money is owed back.
    RefundDue,
    /// Paid and given back through the provider under this reference.
    Refunded { reference: String },
}

impl PaymentState {
    pub fn code(&self) -> &'static str {
        match self {
            PaymentState::Started => "started",
            PaymentState::Failed(PaymentFailure::Declined) => "declined",
            PaymentState::Failed(PaymentFailure::Cancelled) => "cancelled",
            PaymentState::Failed(PaymentFailure::Expired) => "expired",
            PaymentState::Succeeded { .. } => "succeeded",
            PaymentState::RefundDue => "refund_due",
            PaymentState::Refunded { .. } => "refunded",
        }
    }

    /// The provider reported money taken (whatever happened to it afterwards).
    pub fn paid(&self) -> bool {
        matches!(self, PaymentState::Succeeded { .. } | PaymentState::RefundDue | PaymentState::Refunded { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    /// The hold as it was when the payment started: what a late success re-holds.
    pub hold: Hold,
    pub amount: Cents,
    pub provider: ProviderKind,
    /// The provider's session reference; unique per tenant and provider.
    pub session: String,
    pub buyer: Buyer,
    pub started_at: TimeMs,
    pub state: PaymentState,
    /// When the state last changed.
    pub updated_at: TimeMs,
}

impl Payment {
    /// The order's payment reference: provider and session, so a refund finds its way back.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.provider.code(), self.session)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentCommand {
    /// Records a provider session for a live, unconfirmed hold. `amount` must be the
    /// hold's total: the edge asked the provider for exactly that.
    Start { hold: HoldId, amount: Cents, provider: ProviderKind, session: String, buyer: Buyer },
    /// The provider's verified webhook said the money is taken. Idempotent.
    Succeeded { provider: ProviderKind, session: String },
    /// The provider said the payment will not happen. Ignored (answered with the
    /// current state) once the payment is paid or already failed.
    Failed { provider: ProviderKind, session: String, failure: PaymentFailure },
    /// The provider refunded a `RefundDue` payment under `reference`.
    Refunded { payment: PaymentId, reference: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentReply {
    pub payment: PaymentId,
    pub state: PaymentState,
}

/// Checked in the order listed per command in `state/payments.rs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentRejection {
    UnknownPayment,
    /// The session reference is empty, too long, or already names a payment.
    InvalidSession,
    /// The amount is not the hold's total.
    AmountMismatch { expected: Cents },
    /// Only an online hold is paid through a provider.
    NotOnline,
    /// A refund was recorded for a payment that owes none.
    NoRefundDue,
    TooManyPayments,
}

impl PaymentRejection {
    pub fn code(&self) -> &'static str {
        match self {
            PaymentRejection::UnknownPayment => "unknown_payment",
            PaymentRejection::InvalidSession => "invalid_payment_session",
            PaymentRejection::AmountMismatch { .. } => "payment_amount_mismatch",
            PaymentRejection::NotOnline => "payment_not_online",
            PaymentRejection::NoRefundDue => "no_refund_due",
            PaymentRejection::TooManyPayments => "too_many_payments",
        }
    }
}
