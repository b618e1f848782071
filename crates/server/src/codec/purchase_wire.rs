//! The wire mirror of voucher purchases paid online (`sturmfest_core::vouchers`
//! purchase commands): inside `WireVoucherCommand::Purchase` and
//! `WireVoucherReply::Purchase`, and the snapshot section format version 7 appends.
//! As everywhere in the codec, field order is the format and variants are only ever
//! appended.

use serde::{Deserialize, Serialize};
use sturmfest_core::ledger::{ProgrammeId, TransferId};
use sturmfest_core::vouchers as v;
use sturmfest_core::{Cents, TimeMs};

use super::payment_wire::{WireFailure, WireProvider, failure_from, failure_to, provider_from, provider_to};

#[derive(Serialize, Deserialize)]
pub(super) enum WireTarget {
    NewCard { card: u64, code_digest: [u8; 32], pin_digest: Option<[u8; 32]>, batch: u32 },
    Load { card: u64 },
}

#[derive(Serialize, Deserialize)]
pub(super) enum WirePurchaseCommand {
    Start { purchase: u64, programme: u32, target: WireTarget, amount: i64, provider: WireProvider, session: String, email: String },
    Succeeded { provider: WireProvider, session: String, expires_at: i64 },
    Failed { provider: WireProvider, session: String, failure: WireFailure },
    Refunded { purchase: u64, reference: String },
}

#[derive(Serialize, Deserialize)]
pub(super) enum WirePurchaseStatus {
    Started,
    Failed(WireFailure),
    Succeeded,
    RefundDue,
    Refunded,
}

#[derive(Serialize, Deserialize)]
pub(super) struct WirePurchaseReply {
    purchase: u64,
    card: u64,
    status: WirePurchaseStatus,
}

#[derive(Serialize, Deserialize)]
enum WirePurchaseState {
    Started,
    Failed(WireFailure),
    Succeeded { transfer: u128 },
    RefundDue,
    Refunded { reference: String },
}

#[derive(Serialize, Deserialize)]
pub(super) struct WirePurchase {
    id: u64,
    programme: u32,
    target: WireTarget,
    amount: i64,
    provider: WireProvider,
    session: String,
    email: String,
    started_at: i64,
    state: WirePurchaseState,
    updated_at: i64,
}

fn target_to(t: &v::PurchaseTarget) -> WireTarget {
    match *t {
        v::PurchaseTarget::NewCard { card, batch } => {
            WireTarget::NewCard { card: card.id.0, code_digest: card.code_digest, pin_digest: card.pin_digest, batch: batch.0 }
        }
        v::PurchaseTarget::Load { card } => WireTarget::Load { card: card.0 },
    }
}

fn target_from(w: WireTarget) -> v::PurchaseTarget {
    match w {
        WireTarget::NewCard { card, code_digest, pin_digest, batch } => v::PurchaseTarget::NewCard {
            card: v::NewCard { id: v::CardId(card), code_digest, pin_digest },
            batch: v::BatchId(batch),
        },
        WireTarget::Load { card } => v::PurchaseTarget::Load { card: v::CardId(card) },
    }
}

/// `Some` for the purchase commands, so `voucher_command_to` can hand them over.
pub(super) fn purchase_command_to(c: &v::VoucherCommand) -> Option<WirePurchaseCommand> {
    use v::VoucherCommand as C;
    use WirePurchaseCommand as W;
    Some(match c {
        C::StartPurchase { purchase, programme, target, amount, provider, session, email } => W::Start {
            purchase: purchase.0,
            programme: programme.0,
            target: target_to(target),
            amount: amount.0,
            provider: provider_to(*provider),
            session: session.clone(),
            email: email.clone(),
        },
        C::PurchaseSucceeded { provider, session, expires_at } => {
            W::Succeeded { provider: provider_to(*provider), session: session.clone(), expires_at: expires_at.0 }
        }
        C::PurchaseFailed { provider, session, failure } => {
            W::Failed { provider: provider_to(*provider), session: session.clone(), failure: failure_to(*failure) }
        }
        C::PurchaseRefunded { purchase, reference } => W::Refunded { purchase: purchase.0, reference: reference.clone() },
        _ => return None,
    })
}

pub(super) fn purchase_command_from(w: WirePurchaseCommand) -> v::VoucherCommand {
    use v::VoucherCommand as C;
    use WirePurchaseCommand as W;
    match w {
        W::Start { purchase, programme, target, amount, provider, session, email } => C::StartPurchase {
            purchase: v::PurchaseId(purchase),
            programme: ProgrammeId(programme),
            target: target_from(target),
            amount: Cents(amount),
            provider: provider_from(provider),
            session,
            email,
        },
        W::Succeeded { provider, session, expires_at } => {
            C::PurchaseSucceeded { provider: provider_from(provider), session, expires_at: TimeMs(expires_at) }
        }
        W::Failed { provider, session, failure } => {
            C::PurchaseFailed { provider: provider_from(provider), session, failure: failure_from(failure) }
        }
        W::Refunded { purchase, reference } => C::PurchaseRefunded { purchase: v::PurchaseId(purchase), reference },
    }
}

fn status_to(s: v::PurchaseStatus) -> WirePurchaseStatus {
    match s {
        v::PurchaseStatus::Started => WirePurchaseStatus::Started,
        v::PurchaseStatus::Failed(f) => WirePurchaseStatus::Failed(failure_to(f)),
        v::PurchaseStatus::Succeeded => WirePurchaseStatus::Succeeded,
        v::PurchaseStatus::RefundDue => WirePurchaseStatus::RefundDue,
        v::PurchaseStatus::Refunded => WirePurchaseStatus::Refunded,
    }
}

fn status_from(w: WirePurchaseStatus) -> v::PurchaseStatus {
    match w {
        WirePurchaseStatus::Started => v::PurchaseStatus::Started,
        WirePurchaseStatus::Failed(f) => v::PurchaseStatus::Failed(failure_from(f)),
        WirePurchaseStatus::Succeeded => v::PurchaseStatus::Succeeded,
        WirePurchaseStatus::RefundDue => v::PurchaseStatus::RefundDue,
        WirePurchaseStatus::Refunded => v::PurchaseStatus::Refunded,
    }
}

pub(super) fn purchase_reply_to(r: &v::PurchaseReply) -> WirePurchaseReply {
    WirePurchaseReply { purchase: r.purchase.0, card: r.card.0, status: status_to(r.status) }
}

pub(super) fn purchase_reply_from(w: WirePurchaseReply) -> v::PurchaseReply {
    v::PurchaseReply { purchase: v::PurchaseId(w.purchase), card: v::CardId(w.card), status: status_from(w.status) }
}

/// `voucher_purchase_<status>` with the purchase id: replay checks the decision.
pub(super) fn purchase_summary(r: &v::PurchaseReply) -> (&'static str, u64) {
    let kind = match r.status {
        v::PurchaseStatus::Started => "voucher_purchase_started",
        v::PurchaseStatus::Failed(_) => "voucher_purchase_failed",
        v::PurchaseStatus::Succeeded => "voucher_purchase_succeeded",
        v::PurchaseStatus::RefundDue => "voucher_purchase_refund_due",
        v::PurchaseStatus::Refunded => "voucher_purchase_refunded",
    };
    (kind, r.purchase.0)
}

pub(super) fn purchases_to(list: &[v::Purchase]) -> Vec<WirePurchase> {
    list.iter()
        .map(|p| WirePurchase {
            id: p.id.0,
            programme: p.programme.0,
            target: target_to(&p.target),
            amount: p.amount.0,
            provider: provider_to(p.provider),
            session: p.session.clone(),
            email: p.email.clone(),
            started_at: p.started_at.0,
            state: match &p.state {
                v::PurchaseState::Started => WirePurchaseState::Started,
                v::PurchaseState::Failed(f) => WirePurchaseState::Failed(failure_to(*f)),
                v::PurchaseState::Succeeded { transfer } => WirePurchaseState::Succeeded { transfer: transfer.0 },
                v::PurchaseState::RefundDue => WirePurchaseState::RefundDue,
                v::PurchaseState::Refunded { reference } => WirePurchaseState::Refunded { reference: reference.clone() },
            },
            updated_at: p.updated_at.0,
        })
        .collect()
}

pub(super) fn purchases_from(list: Vec<WirePurchase>) -> Vec<v::Purchase> {
    list.into_iter()
        .map(|w| v::Purchase {
            id: v::PurchaseId(w.id),
            programme: ProgrammeId(w.programme),
            target: target_from(w.target),
            amount: Cents(w.amount),
            provider: provider_from(w.provider),
            session: w.session,
            email: w.email,
            started_at: TimeMs(w.started_at),
            state: match w.state {
                WirePurchaseState::Started => v::PurchaseState::Started,
                WirePurchaseState::Failed(f) => v::PurchaseState::Failed(failure_from(f)),
                WirePurchaseState::Succeeded { transfer } => v::PurchaseState::Succeeded { transfer: TransferId(transfer) },
                WirePurchaseState::RefundDue => v::PurchaseState::RefundDue,
                WirePurchaseState::Refunded { reference } => v::PurchaseState::Refunded { reference },
            },
            updated_at: TimeMs(w.updated_at),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! Every purchase command and reply round-trips as a log entry and replays to the
    //! same decision; a tenant with purchases in every state round-trips through a
    //! version-7 snapshot; a version-6 snapshot (before purchases) still decodes.

    use super::super::*;
    use sturmfest_core::ledger::ProgrammeId;
    use sturmfest_core::TimeMs;
    use sturmfest_core::payments::{PaymentFailure, ProviderKind};
    use sturmfest_core::vouchers::{self as v, VoucherCommand as V};

    /// 2026-06-15 and the start of 2030.
    const T: i64 = 1_781_481_600_000;
    const EXPIRES: i64 = 1_893_456_000_000;

    fn commands() -> Vec<core::Envelope> {
        let limits = v::ProgrammeLimits {
            card_balance_cents_max: core::Cents(10_000),
            load_cents_max: core::Cents(6_000),
            card_offline_cents_max: core::Cents(1_000),
            reversal_window_ms: 60_000,
        };
        let new = |card: u64| v::PurchaseTarget::NewCard {
            card: v::NewCard { id: v::CardId(card), code_digest: [card as u8; 32], pin_digest: None },
            batch: v::BatchId(card as u32),
        };
        let start = |purchase: u64, target, cents: i64, session: &str, provider| V::StartPurchase {
            purchase: v::PurchaseId(purchase),
            programme: ProgrammeId(1),
            target,
            amount: core::Cents(cents),
            provider,
            session: session.into(),
            email: "kim@example.org".into(),
        };
        let ok = |session: &str, provider| V::PurchaseSucceeded { provider, session: session.into(), expires_at: TimeMs(EXPIRES) };
        let list = vec![
            V::CreateProgramme { id: ProgrammeId(1), name: "Stadt".into(), limits, expiry: v::ExpiryRule::EndOfThirdYearAfterSale },
            start(11, new(1), 6_000, "a", ProviderKind::Test),
            ok("a", ProviderKind::Test),
            ok("a", ProviderKind::Test),
            start(12, v::PurchaseTarget::Load { card: v::CardId(1) }, 5_000, "cs_b", ProviderKind::Stripe),
            ok("cs_b", ProviderKind::Stripe),
            V::PurchaseRefunded { purchase: v::PurchaseId(12), reference: "re_1".into() },
            start(13, new(2), 1_000, "c", ProviderKind::Test),
            V::PurchaseFailed { provider: ProviderKind::Test, session: "c".into(), failure: PaymentFailure::Cancelled },
            start(14, v::PurchaseTarget::Load { card: v::CardId(1) }, 3_000, "d", ProviderKind::Test),
            ok("d", ProviderKind::Test),
            start(15, new(3), 2_000, "e", ProviderKind::Test),
        ];
        list.into_iter()
            .enumerate()
            .map(|(i, c)| core::Envelope { time: TimeMs(T + i as i64), idempotency: None, command: core::Command::Voucher(c) })
            .collect()
    }

    #[test]
    fn every_purchase_command_round_trips_and_replays_to_the_same_decision() {
        let mut original = core::Tenant::new();
        let mut replayed = core::Tenant::new();
        let mut codes = Vec::new();
        for envelope in commands() {
            let outcome = original.apply(&envelope);
            let entry = LogEntry { envelope, outcome: OutcomeSummary::of(&outcome) };
            let bytes = encode_entry(&entry);
            let back = decode_entry(&bytes).unwrap();
            assert_eq!(back, entry);
            assert_eq!(OutcomeSummary::of(&replayed.apply(&back.envelope)), entry.outcome, "replay decides the same");
            codes.push(entry.outcome.code);
        }
        assert_eq!(replayed, original);
        for code in ["started", "succeeded", "refund_due", "refunded", "failed"] {
            assert!(codes.contains(&format!("ok:voucher_purchase_{code}")), "{code} in {codes:?}");
        }
        let states: Vec<&str> = original.vouchers().purchases().map(|p| p.state.status().code()).collect();
        assert_eq!(states, ["succeeded", "refunded", "cancelled", "succeeded", "started"]);
    }

    #[test]
    fn purchases_round_trip_through_a_version_7_snapshot_and_a_version_6_one_decodes_without_them() {
        let mut tenant = core::Tenant::new();
        for envelope in commands() {
            let _ = tenant.apply(&envelope);
        }
        let parts = tenant.parts();
        assert_eq!(parts.vouchers.purchases.len(), 5);
        let bytes = encode_snapshot(&parts);
        assert_eq!(bytes[0], super::super::snapshot_format_version);
        let decoded = decode_snapshot(&bytes).unwrap();
        assert_eq!(decoded, parts);
        assert_eq!(core::Tenant::restore(decoded).unwrap(), tenant);
        // Without its designs (one zero byte here), the purchases are the cut end.
        assert!(matches!(decode_snapshot(&bytes[..bytes.len() - 2]), Err(DecodeError::Malformed(_))), "cut purchases");

        // The same tenant before any purchase, written as version 6: the body without
        // the last section (an empty purchase list is one byte).
        let mut before = core::Tenant::new();
        let _ = before.apply(&commands()[0]);
        let v8 = encode_snapshot(&before.parts());
        // The designs section (version 8) and the purchases (version 7) are one zero byte each.
        let v7 = v8[..v8.len() - 1].to_vec();
        let mut v6 = v7[..v7.len() - 1].to_vec();
        v6[0] = 6;
        assert_eq!(decode_snapshot(&v6).unwrap(), before.parts());
        let mut mislabelled = v7.clone();
        mislabelled[0] = 6;
        assert!(matches!(decode_snapshot(&mislabelled), Err(DecodeError::Malformed(_))), "bytes after a version-6 body");
    }
}
