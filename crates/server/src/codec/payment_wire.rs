//! The wire mirror of online payments (`sturmfest_core::payments`): commands inside
//! `WireCommand::Payment`, replies inside `WireReply::Payment`, and the snapshot
//! section that format version 6 appends. As everywhere in the codec, field order is
//! the format and variants are only ever appended.

use serde::{Deserialize, Serialize};
use sturmfest_core as core;
use sturmfest_core::payments as p;

use super::{channel_from, channel_to, places_from, places_to, WireHold};

#[derive(Serialize, Deserialize)]
pub(super) enum WireProvider {
    Test,
    Stripe,
}

#[derive(Serialize, Deserialize)]
pub(super) enum WireFailure {
    Declined,
    Cancelled,
    Expired,
}

#[derive(Serialize, Deserialize)]
pub(super) enum WirePaymentState {
    Started,
    Failed(WireFailure),
    Succeeded { order: u64 },
    RefundDue,
    Refunded { reference: String },
}

#[derive(Serialize, Deserialize)]
pub(super) enum WirePaymentCommand {
    Start { hold: u64, amount: i64, provider: WireProvider, session: String, buyer_name: String, buyer_email: String },
    Succeeded { provider: WireProvider, session: String },
    Failed { provider: WireProvider, session: String, failure: WireFailure },
    Refunded { payment: u64, reference: String },
}

#[derive(Serialize, Deserialize)]
pub(super) struct WirePaymentReply {
    payment: u64,
    state: WirePaymentState,
}

#[derive(Serialize, Deserialize)]
pub(super) struct WirePayment {
    id: u64,
    hold: WireHold,
    amount: i64,
    provider: WireProvider,
    session: String,
    buyer: (String, String),
    started_at: i64,
    state: WirePaymentState,
    updated_at: i64,
}

pub(super) fn provider_to(k: p::ProviderKind) -> WireProvider {
    match k {
        p::ProviderKind::Test => WireProvider::Test,
        p::ProviderKind::Stripe => WireProvider::Stripe,
    }
}

pub(super) fn provider_from(w: WireProvider) -> p::ProviderKind {
    match w {
        WireProvider::Test => p::ProviderKind::Test,
        WireProvider::Stripe => p::ProviderKind::Stripe,
    }
}

pub(super) fn failure_to(f: p::PaymentFailure) -> WireFailure {
    match f {
        p::PaymentFailure::Declined => WireFailure::Declined,
        p::PaymentFailure::Cancelled => WireFailure::Cancelled,
        p::PaymentFailure::Expired => WireFailure::Expired,
    }
}

pub(super) fn failure_from(w: WireFailure) -> p::PaymentFailure {
    match w {
        WireFailure::Declined => p::PaymentFailure::Declined,
        WireFailure::Cancelled => p::PaymentFailure::Cancelled,
        WireFailure::Expired => p::PaymentFailure::Expired,
    }
}

fn state_to(s: &p::PaymentState) -> WirePaymentState {
    match s {
        p::PaymentState::Started => WirePaymentState::Started,
        p::PaymentState::Failed(f) => WirePaymentState::Failed(failure_to(*f)),
        p::PaymentState::Succeeded { order } => WirePaymentState::Succeeded { order: order.0 },
        p::PaymentState::RefundDue => WirePaymentState::RefundDue,
        p::PaymentState::Refunded { reference } => WirePaymentState::Refunded { reference: reference.clone() },
    }
}

fn state_from(w: WirePaymentState) -> p::PaymentState {
    match w {
        WirePaymentState::Started => p::PaymentState::Started,
        WirePaymentState::Failed(f) => p::PaymentState::Failed(failure_from(f)),
        WirePaymentState::Succeeded { order } => p::PaymentState::Succeeded { order: core::OrderId(order) },
        WirePaymentState::RefundDue => p::PaymentState::RefundDue,
        WirePaymentState::Refunded { reference } => p::PaymentState::Refunded { reference },
    }
}

pub(super) fn payment_command_to(c: &p::PaymentCommand) -> WirePaymentCommand {
    match c {
        p::PaymentCommand::Start { hold, amount, provider, session, buyer } => WirePaymentCommand::Start {
            hold: hold.0,
            amount: amount.0,
            provider: provider_to(*provider),
            session: session.clone(),
            buyer_name: buyer.name.clone(),
            buyer_email: buyer.email.clone(),
        },
        p::PaymentCommand::Succeeded { provider, session } => {
            WirePaymentCommand::Succeeded { provider: provider_to(*provider), session: session.clone() }
        }
        p::PaymentCommand::Failed { provider, session, failure } => WirePaymentCommand::Failed {
            provider: provider_to(*provider),
            session: session.clone(),
            failure: failure_to(*failure),
        },
        p::PaymentCommand::Refunded { payment, reference } => {
            WirePaymentCommand::Refunded { payment: payment.0, reference: reference.clone() }
        }
    }
}

pub(super) fn payment_command_from(w: WirePaymentCommand) -> p::PaymentCommand {
    match w {
        WirePaymentCommand::Start { hold, amount, provider, session, buyer_name, buyer_email } => p::PaymentCommand::Start {
            hold: core::HoldId(hold),
            amount: core::Cents(amount),
            provider: provider_from(provider),
            session,
            buyer: core::Buyer { name: buyer_name, email: buyer_email },
        },
        WirePaymentCommand::Succeeded { provider, session } => {
            p::PaymentCommand::Succeeded { provider: provider_from(provider), session }
        }
        WirePaymentCommand::Failed { provider, session, failure } => {
            p::PaymentCommand::Failed { provider: provider_from(provider), session, failure: failure_from(failure) }
        }
        WirePaymentCommand::Refunded { payment, reference } => {
            p::PaymentCommand::Refunded { payment: p::PaymentId(payment), reference }
        }
    }
}

pub(super) fn payment_reply_to(r: &p::PaymentReply) -> WirePaymentReply {
    WirePaymentReply { payment: r.payment.0, state: state_to(&r.state) }
}

pub(super) fn payment_reply_from(w: WirePaymentReply) -> p::PaymentReply {
    p::PaymentReply { payment: p::PaymentId(w.payment), state: state_from(w.state) }
}

/// `ok:payment_<state>` with the payment id: replay checks the settlement decided the same.
pub(super) fn payment_summary(r: &p::PaymentReply) -> (&'static str, u64) {
    let kind = match &r.state {
        p::PaymentState::Started => "payment_started",
        p::PaymentState::Failed(_) => "payment_failed",
        p::PaymentState::Succeeded { .. } => "payment_succeeded",
        p::PaymentState::RefundDue => "payment_refund_due",
        p::PaymentState::Refunded { .. } => "payment_refunded",
    };
    (kind, r.payment.0)
}

pub(super) fn payments_to(payments: &[p::Payment]) -> Vec<WirePayment> {
    payments
        .iter()
        .map(|x| WirePayment {
            id: x.id.0,
            hold: WireHold {
                id: x.hold.id.0,
                event: x.hold.event.0,
                customer: x.hold.customer.0,
                channel: channel_to(x.hold.channel),
                category: x.hold.category.0,
                tariff: x.hold.tariff.0,
                places: places_to(&x.hold.places),
                created_at: x.hold.created_at.0,
                expires_at: x.hold.expires_at.0,
                price_each: x.hold.price_each.0,
            },
            amount: x.amount.0,
            provider: provider_to(x.provider),
            session: x.session.clone(),
            buyer: (x.buyer.name.clone(), x.buyer.email.clone()),
            started_at: x.started_at.0,
            state: state_to(&x.state),
            updated_at: x.updated_at.0,
        })
        .collect()
}

pub(super) fn payments_from(w: Vec<WirePayment>) -> Vec<p::Payment> {
    w.into_iter()
        .map(|x| p::Payment {
            id: p::PaymentId(x.id),
            hold: core::Hold {
                id: core::HoldId(x.hold.id),
                event: core::EventId(x.hold.event),
                customer: core::CustomerId(x.hold.customer),
                channel: channel_from(x.hold.channel),
                category: core::CategoryId(x.hold.category),
                tariff: core::TariffId(x.hold.tariff),
                places: places_from(x.hold.places),
                created_at: core::TimeMs(x.hold.created_at),
                expires_at: core::TimeMs(x.hold.expires_at),
                price_each: core::Cents(x.hold.price_each),
            },
            amount: core::Cents(x.amount),
            provider: provider_from(x.provider),
            session: x.session,
            buyer: core::Buyer { name: x.buyer.0, email: x.buyer.1 },
            started_at: core::TimeMs(x.started_at),
            state: state_from(x.state),
            updated_at: core::TimeMs(x.updated_at),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! Every payment command survives the log-entry round trip and replays to the
    //! same decisions; a tenant with started, paid, owed and failed payments survives
    //! a version-6 snapshot; and a version-5 snapshot (before payments) still decodes.

    use super::super::*;
    use sturmfest_core::payments::*;

    fn env(time: i64, command: core::Command) -> core::Envelope {
        core::Envelope { time: core::TimeMs(time), idempotency: None, command }
    }

    fn tenant_with_payments() -> (core::Tenant, Vec<core::Envelope>) {
        let opens = jiff::Timestamp::from_second(2_000_000_000).unwrap().to_zoned(jiff::tz::TimeZone::UTC);
        let starts = opens.checked_add(jiff::Span::new().days(3)).unwrap();
        let t0 = opens.timestamp().as_millisecond();
        let hold = |seat: u32| {
            core::Command::Hold(core::HoldRequest {
                event: core::EventId(0),
                customer: core::CustomerId(u64::from(seat)),
                channel: core::Channel::Online,
                selection: core::Selection::Seats(vec![core::SeatId(seat)]),
                tariff: core::TariffId(0),
                admission: None,
            })
        };
        let mut tenant = core::Tenant::new();
        let mut log = Vec::new();
        let mut run = |tenant: &mut core::Tenant, envelope: core::Envelope| {
            let outcome = tenant.apply(&envelope);
            log.push((envelope, outcome));
        };
        run(&mut tenant, env(t0, core::Command::CreateVenue(crate::demo::arena())));
        run(&mut tenant, env(t0, core::Command::CreateEvent(crate::demo::game(core::VenueId(0), "Spiel", &starts, &opens))));
        run(&mut tenant, env(t0, core::Command::Sale { event: core::EventId(0), action: core::SaleAction::Open }));
        for seat in 0..4 {
            run(&mut tenant, env(t0 + 1, hold(seat)));
        }
        let total = tenant.hold_of(core::HoldId(1)).unwrap().price_each;
        let buyer = core::Buyer { name: "Erika".into(), email: "erika@example.org".into() };
        for (hold, session, provider) in
            [(1, "cs_1", ProviderKind::Stripe), (2, "t_2", ProviderKind::Test), (3, "t_3", ProviderKind::Test)]
        {
            let start = PaymentCommand::Start {
                hold: core::HoldId(hold),
                amount: total,
                provider,
                session: session.into(),
                buyer: buyer.clone(),
            };
            run(&mut tenant, env(t0 + 2, core::Command::Payment(start)));
        }
        let succeed = |provider, session: &str| {
            core::Command::Payment(PaymentCommand::Succeeded { provider, session: session.into() })
        };
        run(&mut tenant, env(t0 + 3, succeed(ProviderKind::Stripe, "cs_1")));
        run(&mut tenant, env(t0 + 3, succeed(ProviderKind::Stripe, "cs_1")));
        let failed = PaymentCommand::Failed {
            provider: ProviderKind::Test,
            session: "t_3".into(),
            failure: PaymentFailure::Declined,
        };
        run(&mut tenant, env(t0 + 4, core::Command::Payment(failed)));
        // The hold behind t_2 ends, its seat is sold at the counter, then t_2 is paid: owed back.
        run(&mut tenant, env(t0 + 5, core::Command::Release { hold: core::HoldId(2) }));
        let mut counter = hold(1);
        if let core::Command::Hold(request) = &mut counter {
            request.channel = core::Channel::BoxOffice;
        }
        run(&mut tenant, env(t0 + 5, counter));
        run(&mut tenant, env(t0 + 6, succeed(ProviderKind::Test, "t_2")));
        let refunded = PaymentCommand::Refunded { payment: PaymentId(2), reference: "re_9".into() };
        run(&mut tenant, env(t0 + 7, core::Command::Payment(refunded)));
        let states: Vec<&str> = tenant.payments().iter().map(|p| p.state.code()).collect();
        assert_eq!(states, ["succeeded", "refunded", "declined"]);
        (tenant, log.into_iter().map(|(e, _)| e).collect())
    }

    #[test]
    fn payment_commands_round_trip_as_log_entries_and_replay_to_the_same_state() {
        let (tenant, log) = tenant_with_payments();
        let mut replayed = core::Tenant::new();
        for envelope in log {
            let mut check = core::Tenant::clone(&replayed);
            let outcome = check.apply(&envelope);
            let entry = LogEntry { envelope: envelope.clone(), outcome: OutcomeSummary::of(&outcome) };
            let decoded = decode_entry(&encode_entry(&entry)).unwrap();
            assert_eq!(decoded, entry);
            let again = replayed.apply(&decoded.envelope);
            assert_eq!(OutcomeSummary::of(&again), decoded.outcome);
        }
        assert_eq!(replayed, tenant);
    }

    #[test]
    fn a_tenant_with_payments_round_trips_through_a_version_6_snapshot() {
        let (tenant, _) = tenant_with_payments();
        let bytes = encode_snapshot(&tenant.parts());
        assert_eq!(bytes[0], snapshot_format_version);
        let restored = core::Tenant::restore(decode_snapshot(&bytes).unwrap()).unwrap();
        assert_eq!(restored, tenant);
        let reply = core::Reply::Payment(PaymentReply { payment: PaymentId(2), state: PaymentState::RefundDue });
        assert!(matches!(reply_from(reply_to(&reply)), r if r == reply));
    }

    #[test]
    fn a_version_5_snapshot_without_payments_still_decodes() {
        let mut tenant = core::Tenant::new();
        tenant.apply(&env(1, core::Command::CreateVenue(crate::demo::arena()))).unwrap();
        let parts = tenant.parts();
        let v8 = encode_snapshot(&parts);
        // Version 8's and version 7's one section each (the programme designs, the
        // voucher purchases) are one zero byte here.
        let v6 = v8[..v8.len() - 2].to_vec();
        // Version 6's sections, all empty here, are one zero byte per list: the offline
        // slice's four, the settlements, the merchant bindings and the payments.
        // Without them the body is version 5's.
        let v6_sections = 7;
        assert!(v6[v6.len() - v6_sections..].iter().all(|b| *b == 0));
        let mut v5 = v6[..v6.len() - v6_sections].to_vec();
        v5[0] = 5;
        assert_eq!(decode_snapshot(&v5).unwrap(), parts);
        v5[0] = 6;
        assert!(decode_snapshot(&v5).is_err(), "a version-6 label without its sections is refused");
    }
}
