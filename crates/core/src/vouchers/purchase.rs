//! Voucher purchases paid online: a holder buys a new digital card, or loads a card
//! they have, through the same payment providers as ticket checkout.
//!
//! `StartPurchase` records the provider session with what it is for (a new digital
//! card whose id and code digest the edge chose, or a load of an existing card) and
//! the amount asked of the provider. Nothing is issued yet: a declined payment leaves
//! no card behind. The provider's verdict arrives later, possibly twice, possibly
//! after the card or the programme changed. `PurchaseSucceeded` is idempotent and
//! decides in one command: it issues the card (a batch of one, medium `Digital`) and
//! activates it, or loads the card, with `PaidVia::Provider { reference }` — and if
//! the voucher domain or the ledger refuses that (the load no longer fits under the
//! card's balance maximum, the card was blocked or expired meanwhile, the card id or
//! code digest or batch was taken), it records `RefundDue` instead,
//! so the edge pays the money back. Never money without value, never value without
//! money: the invariant in `check.rs` ties every succeeded purchase to exactly one
//! booking of its amount and reference.
//!
//! One corner is accepted on purpose: if a new card was issued but the ledger then
//! refused its activation (the ledger's history is full), the card stays `Inactive`
//! and holds nothing — it is an unsold card, not lost money — and the purchase is
//! `RefundDue`.

use super::limits::*;
use super::state::expiry_fits;
use super::*;
use crate::payments::{PaymentFailure, ProviderKind};
use VoucherRejection as R;

/// What the money buys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurchaseTarget {
    /// A new digital card, issued as a batch of one when the payment succeeds.
    NewCard { card: NewCard, batch: BatchId },
    /// A load onto a card the holder has.
    Load { card: CardId },
}

impl PurchaseTarget {
    pub fn card(&self) -> CardId {
        match self {
            PurchaseTarget::NewCard { card, .. } => card.id,
            PurchaseTarget::Load { card } => *card,
        }
    }
}

/// Where a purchase stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PurchaseState {
    Started,
    Failed(PaymentFailure),
    /// Paid, and the value is on the card through this ledger transfer.
    Succeeded { transfer: TransferId },
    /// Paid, but the card could not take the value: the money is owed back.
    RefundDue,
    /// Paid and given back through the provider under this reference.
    Refunded { reference: String },
}

/// The state without its texts, for replies (which are `Copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurchaseStatus {
    Started,
    Failed(PaymentFailure),
    Succeeded,
    RefundDue,
    Refunded,
}

impl PurchaseStatus {
    pub fn code(self) -> &'static str {
        match self {
            PurchaseStatus::Started => "started",
            PurchaseStatus::Failed(PaymentFailure::Declined) => "declined",
            PurchaseStatus::Failed(PaymentFailure::Cancelled) => "cancelled",
            PurchaseStatus::Failed(PaymentFailure::Expired) => "expired",
            PurchaseStatus::Succeeded => "succeeded",
            PurchaseStatus::RefundDue => "refund_due",
            PurchaseStatus::Refunded => "refunded",
        }
    }
}

impl PurchaseState {
    pub fn status(&self) -> PurchaseStatus {
        match self {
            PurchaseState::Started => PurchaseStatus::Started,
            PurchaseState::Failed(f) => PurchaseStatus::Failed(*f),
            PurchaseState::Succeeded { .. } => PurchaseStatus::Succeeded,
            PurchaseState::RefundDue => PurchaseStatus::RefundDue,
            PurchaseState::Refunded { .. } => PurchaseStatus::Refunded,
        }
    }

    /// The provider reported money taken (whatever happened to it afterwards).
    pub fn paid(&self) -> bool {
        matches!(self, PurchaseState::Succeeded { .. } | PurchaseState::RefundDue | PurchaseState::Refunded { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purchase {
    pub id: PurchaseId,
    pub programme: ProgrammeId,
    pub target: PurchaseTarget,
    pub amount: Cents,
    pub provider: ProviderKind,
    /// The provider's session reference; unique per tenant and provider.
    pub session: String,
    /// Where the card e-mail goes.
    pub email: String,
    pub started_at: TimeMs,
    pub state: PurchaseState,
    pub updated_at: TimeMs,
}

impl Purchase {
    /// The booking's payment reference: provider and session, so a refund finds its
    /// way back, and the same text ticket orders use.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.provider.code(), self.session)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurchaseReply {
    pub purchase: PurchaseId,
    pub card: CardId,
    pub status: PurchaseStatus,
}

/// Purchases per tenant (every started one counts, paid or not).
#[allow(non_upper_case_globals)]
pub const tenant_purchases_max: usize = 4_000_000;
/// An e-mail address (RFC 5321 path limit).
#[allow(non_upper_case_globals)]
pub const purchase_email_bytes_max: usize = 254;

const _: () = assert!(crate::limits::payment_session_bytes_max + "stripe:".len() <= refund_reference_bytes_max);

fn reply(p: &Purchase) -> VoucherOutcome {
    Ok(VoucherReply::Purchase(PurchaseReply { purchase: p.id, card: p.target.card(), status: p.state.status() }))
}

impl Vouchers {
    pub fn purchase(&self, id: PurchaseId) -> Option<&Purchase> {
        self.purchases.get(&id)
    }

    pub fn purchases(&self) -> impl Iterator<Item = &Purchase> {
        self.purchases.values()
    }

    pub fn purchase_by_session(&self, provider: ProviderKind, session: &str) -> Option<&Purchase> {
        let id = self.purchase_sessions.get(&(provider, session.to_string()))?;
        self.purchases.get(id)
    }

    /// Order: capacity; purchase id 0 or taken; session (empty, too long, taken);
    /// e-mail (empty or too long); unknown programme; amount; over the load max; for a
    /// new card: card id 0, card exists, code digest taken, batch exists; for a load:
    /// unknown card, card of another programme, card usable (expired, inactive,
    /// blocked). Changes nothing but the purchases.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_purchase(
        &mut self,
        id: PurchaseId,
        programme: ProgrammeId,
        target: PurchaseTarget,
        amount: Cents,
        provider: ProviderKind,
        session: &str,
        email: &str,
    ) -> VoucherOutcome {
        if self.purchases.len() >= tenant_purchases_max {
            return Err(R::TooManyPurchases);
        }
        if id.0 == 0 || self.purchases.contains_key(&id) {
            return Err(R::PurchaseIdInvalid);
        }
        if session.is_empty()
            || session.len() > crate::limits::payment_session_bytes_max
            || self.purchase_sessions.contains_key(&(provider, session.to_string()))
        {
            return Err(R::PurchaseSessionInvalid);
        }
        if email.trim().is_empty() || email.len() > purchase_email_bytes_max {
            return Err(R::EmailInvalid);
        }
        let limits = self.programmes.get(&programme).ok_or(R::UnknownProgramme)?.limits;
        if amount.0 <= 0 || amount.0 > crate::ledger::limits::transfer_amount_cents_max {
            return Err(R::AmountInvalid);
        }
        if amount > limits.load_cents_max {
            return Err(R::LoadTooLarge);
        }
        match target {
            PurchaseTarget::NewCard { card, batch } => {
                if card.id.0 == 0 {
                    return Err(R::CardIdInvalid);
                }
                if self.cards.contains_key(&card.id) {
                    return Err(R::CardExists);
                }
                if self.by_code.contains_key(&card.code_digest) {
                    return Err(R::CodeDigestTaken);
                }
                if self.batches.contains_key(&batch) {
                    return Err(R::BatchExists);
                }
            }
            PurchaseTarget::Load { card } => {
                let card = *self.cards.get(&card).ok_or(R::UnknownCard)?;
                if card.programme != programme {
                    return Err(R::ProgrammesDiffer);
                }
                self.usable(&card)?;
            }
        }
        let purchase = Purchase {
            id,
            programme,
            target,
            amount,
            provider,
            session: session.to_string(),
            email: email.to_string(),
            started_at: self.now,
            state: PurchaseState::Started,
            updated_at: self.now,
        };
        self.purchase_sessions.insert((provider, purchase.session.clone()), id);
        self.purchases.insert(id, purchase);
        reply(&self.purchases[&id])
    }

    /// Order: unknown session; a paid purchase is answered as it is; for a new card,
    /// `expires_at` must fit the sale (the edge computed it; a misfit is the edge's
    /// bug and changes nothing). After that it never rejects: the value goes on the
    /// card, or the money is owed back.
    pub(super) fn purchase_succeeded(
        &mut self,
        ledger: &mut crate::ledger::Ledger,
        provider: ProviderKind,
        session: &str,
        expires_at: TimeMs,
    ) -> VoucherOutcome {
        let id = *self.purchase_sessions.get(&(provider, session.to_string())).ok_or(R::UnknownPurchase)?;
        let purchase = self.purchases[&id].clone();
        if purchase.state.paid() {
            return reply(&purchase);
        }
        if matches!(purchase.target, PurchaseTarget::NewCard { .. }) && !expiry_fits(self.now, expires_at) {
            return Err(R::ExpiryInvalid);
        }
        // A success after a reported failure still means money was taken: settle it.
        let paid_via = PaidVia::Provider { reference: purchase.reference() };
        let booked = match purchase.target {
            PurchaseTarget::NewCard { card, batch } => {
                match self.issue(ledger, purchase.programme, batch, CardMedium::Digital, &[card]) {
                    Err(reason) => Err(reason),
                    Ok(_) => self.activate(ledger, card.id, purchase.amount, &paid_via, expires_at),
                }
            }
            PurchaseTarget::Load { card } => self.load(ledger, card, purchase.amount, &paid_via),
        };
        let state = match booked {
            Ok(_) => {
                let last = self.bookings.last().expect("an activation or load was just booked");
                assert!(last.card == purchase.target.card() && last.amount == purchase.amount);
                PurchaseState::Succeeded { transfer: last.transfer }
            }
            Err(_) => PurchaseState::RefundDue,
        };
        let now = self.now;
        let entry = self.purchases.get_mut(&id).expect("found above");
        entry.state = state;
        entry.updated_at = now;
        reply(entry)
    }

    /// Order: unknown session. A paid or already failed purchase is answered as it is.
    pub(super) fn purchase_failed(&mut self, provider: ProviderKind, session: &str, failure: PaymentFailure) -> VoucherOutcome {
        let id = *self.purchase_sessions.get(&(provider, session.to_string())).ok_or(R::UnknownPurchase)?;
        let now = self.now;
        let entry = self.purchases.get_mut(&id).expect("indexed");
        if entry.state == PurchaseState::Started {
            entry.state = PurchaseState::Failed(failure);
            entry.updated_at = now;
        }
        reply(entry)
    }

    /// Order: unknown purchase; reference length; the purchase owes a refund (a
    /// repeated record of the same reference is answered as it is).
    pub(super) fn purchase_refunded(&mut self, id: PurchaseId, reference: &str) -> VoucherOutcome {
        let now = self.now;
        let entry = self.purchases.get_mut(&id).ok_or(R::UnknownPurchase)?;
        if reference.is_empty() || reference.len() > refund_reference_bytes_max {
            return Err(R::ReferenceInvalid);
        }
        match entry.state.clone() {
            PurchaseState::RefundDue => {
                entry.state = PurchaseState::Refunded { reference: reference.to_string() };
                entry.updated_at = now;
                reply(entry)
            }
            PurchaseState::Refunded { reference: done } if done == reference => reply(entry),
            _ => Err(R::NoRefundDue),
        }
    }

    /// Every purchase against the bookings: a succeeded one names exactly one
    /// activation (new card) or load booking, through its transfer, of its amount, on
    /// its card, paid via its reference; no transfer serves two purchases; only a
    /// succeeded purchase names a transfer at all (one owing or having made a refund
    /// put nothing on a card); sessions are indexed one to one. (A reference an office
    /// typed by hand may repeat a purchase's text; the transfer is what ties them.)
    pub(super) fn check_purchases(&self) -> Result<(), String> {
        use std::collections::{BTreeMap, BTreeSet};
        let by_transfer: BTreeMap<TransferId, &Booking> = self
            .bookings
            .iter()
            .filter(|b| matches!(b.kind, BookingKind::Activation | BookingKind::Load))
            .map(|b| (b.transfer, b))
            .collect();
        let mut transfers = BTreeSet::new();
        for (id, p) in &self.purchases {
            if p.id != *id || id.0 == 0 {
                return Err(format!("purchase {id:?} filed under another id"));
            }
            if self.purchase_sessions.get(&(p.provider, p.session.clone())) != Some(id) {
                return Err(format!("purchase {id:?} not found by its session"));
            }
            if !self.programmes.contains_key(&p.programme) || p.amount.0 <= 0 {
                return Err(format!("purchase {id:?} programme or amount"));
            }
            let transfer = match &p.state {
                PurchaseState::Succeeded { transfer } => *transfer,
                _ => continue,
            };
            let kind = match p.target {
                PurchaseTarget::NewCard { .. } => BookingKind::Activation,
                PurchaseTarget::Load { .. } => BookingKind::Load,
            };
            let booking = by_transfer.get(&transfer).ok_or(format!("succeeded purchase {id:?} has no booking"))?;
            let reference = PaidVia::Provider { reference: p.reference() };
            if booking.card != p.target.card()
                || booking.kind != kind
                || booking.amount != p.amount
                || booking.paid_via.as_ref() != Some(&reference)
            {
                return Err(format!("succeeded purchase {id:?} differs from its booking"));
            }
            if !transfers.insert(transfer) {
                return Err(format!("purchase {id:?} shares its transfer"));
            }
            if let PurchaseTarget::NewCard { card, batch } = p.target {
                let issued = self.cards.get(&card.id).ok_or(format!("purchase {id:?} card missing"))?;
                let medium = self.batches.get(&batch).map(|b| b.medium);
                if issued.batch != batch || issued.code_digest != card.code_digest || medium != Some(CardMedium::Digital) {
                    return Err(format!("purchase {id:?} card is not the one bought"));
                }
            }
        }
        if self.purchases.len() != self.purchase_sessions.len() {
            return Err("session index differs from the purchases".into());
        }
        Ok(())
    }

    /// Rebuilds the session index from snapshot parts.
    pub(super) fn restore_purchases(&mut self, purchases: Vec<Purchase>) -> Result<(), String> {
        for p in purchases {
            if self.purchase_sessions.insert((p.provider, p.session.clone()), p.id).is_some() {
                return Err("two purchases with one session".into());
            }
            if self.purchases.insert(p.id, p).is_some() {
                return Err("a purchase appears twice".into());
            }
        }
        Ok(())
    }
}
