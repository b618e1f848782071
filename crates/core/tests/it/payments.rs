//! Online payments in the core. Scenario tests walk each path a payment can take —
//! success, decline then retry, duplicate and late webhooks with the places still
//! free or taken, refunds of money owed back — and a property test throws random
//! interleavings of holds, expiry, competing box-office sales, payment starts and
//! provider verdicts (duplicated, late, contradictory) at a four-seat venue.
//!
//! After every command the full invariant checker runs (it checks that every paid
//! payment is attached to exactly one order of its own or is owed/given back), and an
//! auditor that sees only commands and replies checks that a paid payment never
//! becomes unpaid, that a repeated success answers the same, and that every payment
//! the provider reported as paid is accounted for. Finally the run is replayed into a
//! fresh tenant and restored from a snapshot; both must equal the live tenant.

use proptest::prelude::*;
use sturmfest_core::payments::*;
use sturmfest_core::*;

const HOLD_MS: i64 = 60_000;
const SEATS: u32 = 4;

fn setup() -> (Tenant, Vec<Envelope>, i64) {
    let mut world = World { tenant: Tenant::new(), log: Vec::new(), now: 1_000 };
    world.ok(Command::CreateVenue(VenueSpec {
        name: "Halle".into(),
        blocks: vec![BlockSpec {
            name: "A".into(),
            rows: vec![RowSpec {
                label: "1".into(),
                seats: (0..SEATS).map(|s| SeatSpec { label: (s + 1).to_string(), x: s as i32, y: 0 }).collect(),
            }],
        }],
        standing: vec![StandingSpec { name: "Nord".into(), capacity: 3 }],
    }));
    world.ok(Command::CreateEvent(EventSpec {
        name: "Spiel".into(),
        venue: VenueId(0),
        starts_at: TimeMs(100_000_000),
        sale_opens_at: TimeMs(0),
        sale_closes_at: TimeMs(100_000_000),
        categories: vec![
            CategorySpec {
                name: "Sitz".into(),
                places: CategoryPlaces::Blocks(vec![BlockId(0)]),
                tariffs: vec![TariffSpec { name: "Erw".into(), price: Cents(2500) }],
            },
            CategorySpec {
                name: "Steh".into(),
                places: CategoryPlaces::Standing(AreaId(0)),
                tariffs: vec![TariffSpec { name: "Erw".into(), price: Cents(1200) }],
            },
        ],
        quotas: [None, None, None],
        hold_duration_ms: HOLD_MS,
        order_tickets_max: 4,
        customer_tickets_max: 8,
    }));
    world.ok(Command::Sale { event: EventId(0), action: SaleAction::Open });
    (world.tenant, world.log, world.now)
}

struct World {
    tenant: Tenant,
    log: Vec<Envelope>,
    now: i64,
}

impl World {
    fn new() -> World {
        let (tenant, log, now) = setup();
        World { tenant, log, now }
    }

    fn apply(&mut self, command: Command) -> Outcome {
        let envelope = Envelope { time: TimeMs(self.now), idempotency: None, command };
        let outcome = self.tenant.apply(&envelope);
        self.log.push(envelope);
        self.tenant.check_invariants();
        outcome
    }

    fn ok(&mut self, command: Command) -> Reply {
        self.apply(command).expect("accepted")
    }

    fn hold(&mut self, channel: Channel, seats: &[u32]) -> Outcome {
        self.apply(Command::Hold(HoldRequest {
            event: EventId(0),
            customer: CustomerId(7),
            channel,
            selection: Selection::Seats(seats.iter().map(|s| SeatId(*s)).collect()),
            tariff: TariffId(0),
            admission: None,
        }))
    }

    fn hold_ok(&mut self, seats: &[u32]) -> HoldId {
        match self.hold(Channel::Online, seats) {
            Ok(Reply::Held(receipt)) => receipt.hold,
            other => panic!("hold refused: {other:?}"),
        }
    }

    fn start(&mut self, hold: HoldId, amount: i64, session: &str) -> Outcome {
        self.apply(Command::Payment(PaymentCommand::Start {
            hold,
            amount: Cents(amount),
            provider: ProviderKind::Test,
            session: session.into(),
            buyer: Buyer { name: "Erika Fan".into(), email: "erika@example.org".into() },
        }))
    }

    fn succeeded(&mut self, session: &str) -> PaymentReply {
        match self.apply(Command::Payment(PaymentCommand::Succeeded {
            provider: ProviderKind::Test,
            session: session.into(),
        })) {
            Ok(Reply::Payment(reply)) => reply,
            other => panic!("success refused: {other:?}"),
        }
    }

    fn failed(&mut self, session: &str, failure: PaymentFailure) -> Outcome {
        self.apply(Command::Payment(PaymentCommand::Failed { provider: ProviderKind::Test, session: session.into(), failure }))
    }

    fn seat_state(&self, seat: u32) -> SeatState {
        self.tenant.event(EventId(0)).unwrap().seats[seat as usize]
    }
}

fn state_of(reply: Outcome) -> PaymentState {
    match reply {
        Ok(Reply::Payment(reply)) => reply.state,
        other => panic!("not a payment reply: {other:?}"),
    }
}

#[test]
fn a_success_confirms_the_live_hold_and_a_duplicate_webhook_answers_the_same_order() {
    let mut w = World::new();
    let hold = w.hold_ok(&[1, 2]);
    assert_eq!(state_of(w.start(hold, 5000, "s1")), PaymentState::Started);
    let first = w.succeeded("s1");
    let PaymentState::Succeeded { order } = first.state else { panic!("{first:?}") };
    assert_eq!(w.succeeded("s1"), first, "a duplicate webhook changes nothing");
    assert_eq!(w.tenant.orders().len(), 1);
    let o = w.tenant.order(order).unwrap();
    assert_eq!(o.paid(), Cents(5000));
    assert_eq!(o.payment, "test:s1");
    assert_eq!(o.buyer.email, "erika@example.org");
    assert_eq!(w.seat_state(1), SeatState::Sold(order));
    // A failure reported after the success does not undo it.
    assert_eq!(state_of(w.failed("s1", PaymentFailure::Expired)), PaymentState::Succeeded { order });
}

#[test]
fn a_declined_payment_keeps_the_hold_and_a_retry_buys_it() {
    let mut w = World::new();
    let hold = w.hold_ok(&[0]);
    w.start(hold, 2500, "s1").unwrap();
    assert_eq!(state_of(w.failed("s1", PaymentFailure::Declined)), PaymentState::Failed(PaymentFailure::Declined));
    assert_eq!(w.seat_state(0), SeatState::Held(hold), "the seat stays held after a decline");
    w.start(hold, 2500, "s2").unwrap();
    assert!(matches!(w.succeeded("s2").state, PaymentState::Succeeded { .. }));
    assert_eq!(w.tenant.payment(PaymentId(1)).unwrap().state, PaymentState::Failed(PaymentFailure::Declined));
}

#[test]
fn starting_a_payment_checks_session_hold_channel_and_amount_in_order() {
    let mut w = World::new();
    let hold = w.hold_ok(&[0, 1]);
    let code = |o: Outcome| o.unwrap_err().code();
    assert_eq!(code(w.start(hold, 5000, "")), "invalid_payment_session");
    assert_eq!(code(w.start(hold, 5000, &"x".repeat(101))), "invalid_payment_session");
    assert_eq!(code(w.start(HoldId(99), 5000, "s1")), "unknown_hold");
    assert_eq!(code(w.start(hold, 4999, "s1")), "payment_amount_mismatch");
    w.start(hold, 5000, "s1").unwrap();
    assert_eq!(code(w.start(hold, 5000, "s1")), "invalid_payment_session", "a session names one payment");
    let Ok(Reply::Held(counter)) = w.hold(Channel::BoxOffice, &[3]) else { panic!() };
    assert_eq!(code(w.start(counter.hold, 2500, "s2")), "payment_not_online");
    let unknown = w.apply(Command::Payment(PaymentCommand::Succeeded { provider: ProviderKind::Stripe, session: "s1".into() }));
    assert_eq!(code(unknown), "unknown_payment", "sessions are per provider");
}

#[test]
fn a_late_success_re_holds_free_seats_and_sells_them() {
    let mut w = World::new();
    let hold = w.hold_ok(&[2, 3]);
    w.start(hold, 5000, "late").unwrap();
    w.now += HOLD_MS + 1;
    w.ok(Command::Tick);
    assert_eq!(w.seat_state(2), SeatState::Free, "the hold expired");
    let reply = w.succeeded("late");
    let PaymentState::Succeeded { order } = reply.state else { panic!("{reply:?}") };
    assert_eq!(w.seat_state(2), SeatState::Sold(order));
    assert_eq!(w.seat_state(3), SeatState::Sold(order));
    assert_ne!(w.tenant.order(order).unwrap().hold, hold, "sold under a fresh hold");
}

#[test]
fn a_late_success_for_taken_seats_is_owed_back_and_the_refund_is_recorded_once() {
    let mut w = World::new();
    let hold = w.hold_ok(&[0, 1]);
    w.start(hold, 5000, "late").unwrap();
    w.now += HOLD_MS + 1;
    let Ok(Reply::Held(counter)) = w.hold(Channel::BoxOffice, &[1]) else { panic!("seat 1 should be free again") };
    w.ok(Command::Confirm { hold: counter.hold, payment: "cash".into(), buyer: Buyer { name: "B".into(), email: "".into() } });
    assert_eq!(w.succeeded("late").state, PaymentState::RefundDue);
    assert_eq!(w.succeeded("late").state, PaymentState::RefundDue, "a duplicate stays owed, no second decision");
    assert_eq!(w.seat_state(0), SeatState::Free, "nothing of a refunded payment stays taken");
    assert_eq!(w.tenant.orders().len(), 1);
    let refund = |w: &mut World, reference: &str| {
        w.apply(Command::Payment(PaymentCommand::Refunded { payment: PaymentId(1), reference: reference.into() }))
    };
    assert_eq!(state_of(refund(&mut w, "re_1")), PaymentState::Refunded { reference: "re_1".into() });
    assert_eq!(state_of(refund(&mut w, "re_1")), PaymentState::Refunded { reference: "re_1".into() });
    assert_eq!(refund(&mut w, "re_2").unwrap_err().code(), "no_refund_due");
}

#[test]
fn two_paid_sessions_for_one_hold_make_one_order_and_one_refund() {
    let mut w = World::new();
    let hold = w.hold_ok(&[0]);
    w.start(hold, 2500, "tab1").unwrap();
    w.start(hold, 2500, "tab2").unwrap();
    assert!(matches!(w.succeeded("tab2").state, PaymentState::Succeeded { .. }));
    assert_eq!(w.succeeded("tab1").state, PaymentState::RefundDue);
    assert_eq!(w.tenant.orders().len(), 1);
}

#[test]
fn a_success_for_a_closed_sale_is_owed_back() {
    let mut w = World::new();
    let hold = w.hold_ok(&[0]);
    w.start(hold, 2500, "s").unwrap();
    w.ok(Command::Sale { event: EventId(0), action: SaleAction::Close });
    assert_eq!(w.succeeded("s").state, PaymentState::RefundDue);
}

#[test]
fn payments_survive_replay_and_snapshot_restore() {
    let mut w = World::new();
    let a = w.hold_ok(&[0]);
    let b = w.hold_ok(&[1]);
    w.start(a, 2500, "a").unwrap();
    w.start(b, 2500, "b").unwrap();
    w.succeeded("a");
    w.failed("b", PaymentFailure::Cancelled).unwrap();
    let restored = Tenant::restore(w.tenant.parts()).expect("restores");
    assert_eq!(restored, w.tenant);
    assert_eq!(restored.payment_by_session(ProviderKind::Test, "a").unwrap().id, PaymentId(1));
    let mut replayed = Tenant::new();
    for envelope in &w.log {
        let _ = replayed.apply(envelope);
    }
    assert_eq!(replayed, w.tenant);
}

// ----- random interleavings -----

#[derive(Clone, Debug)]
enum Op {
    Hold { seats: Vec<u32>, standing: u8 },
    CounterSale { seat: u32 },
    Start { pick: u8, wrong_amount: bool },
    Succeed { pick: u8 },
    Fail { pick: u8, failure: u8 },
    Refund { pick: u8 },
    Pass { ms: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (prop::collection::btree_set(0..SEATS, 1..3), 0u8..3)
            .prop_map(|(seats, standing)| Op::Hold { seats: seats.into_iter().collect(), standing }),
        1 => (0..SEATS).prop_map(|seat| Op::CounterSale { seat }),
        3 => (any::<u8>(), prop::bool::weighted(0.1)).prop_map(|(pick, wrong_amount)| Op::Start { pick, wrong_amount }),
        4 => any::<u8>().prop_map(|pick| Op::Succeed { pick }),
        2 => (any::<u8>(), 0u8..3).prop_map(|(pick, failure)| Op::Fail { pick, failure }),
        1 => any::<u8>().prop_map(|pick| Op::Refund { pick }),
        2 => (0u32..(HOLD_MS as u32)).prop_map(|ms| Op::Pass { ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_paid_payment_ends_in_exactly_one_order_or_a_refund(ops in prop::collection::vec(op(), 1..60)) {
        let mut w = World::new();
        let mut holds: Vec<(HoldId, Cents)> = Vec::new();
        let mut sessions: Vec<String> = Vec::new();
        // The auditor's memory: what each session's last reply said.
        let mut seen: Vec<Option<PaymentState>> = Vec::new();
        for op in ops {
            match op {
                Op::Hold { seats, standing } => {
                    let selection = if standing > 0 {
                        Selection::Standing { area: AreaId(0), quantity: u32::from(standing) }
                    } else {
                        Selection::Seats(seats.iter().map(|s| SeatId(*s)).collect())
                    };
                    let request = HoldRequest {
                        event: EventId(0), customer: CustomerId(holds.len() as u64), channel: Channel::Online,
                        selection, tariff: TariffId(0), admission: None,
                    };
                    if let Ok(Reply::Held(r)) = w.apply(Command::Hold(request)) {
                        holds.push((r.hold, r.total));
                    }
                }
                Op::CounterSale { seat } => {
                    if let Ok(Reply::Held(r)) = w.hold(Channel::BoxOffice, &[seat]) {
                        let buyer = Buyer { name: "Kasse".into(), email: String::new() };
                        w.ok(Command::Confirm { hold: r.hold, payment: "cash".into(), buyer });
                    }
                }
                Op::Start { pick, wrong_amount } => {
                    if holds.is_empty() { continue; }
                    let (hold, total) = holds[usize::from(pick) % holds.len()];
                    let session = format!("s{}", sessions.len());
                    let amount = if wrong_amount { total.0 + 1 } else { total.0 };
                    match w.start(hold, amount, &session) {
                        Ok(Reply::Payment(r)) => {
                            prop_assert!(!wrong_amount);
                            prop_assert_eq!(r.payment.0 as usize, sessions.len() + 1);
                            sessions.push(session);
                            seen.push(Some(r.state));
                        }
                        Ok(other) => prop_assert!(false, "unexpected reply {:?}", other),
                        Err(rejection) => prop_assert!(
                            wrong_amount || matches!(rejection, Rejection::HoldEnded | Rejection::HoldAlreadyConfirmed { .. }),
                            "refused {:?}", rejection
                        ),
                    }
                }
                Op::Succeed { pick } => {
                    if sessions.is_empty() { continue; }
                    let i = usize::from(pick) % sessions.len();
                    let before = seen[i].clone().unwrap();
                    let reply = w.succeeded(&sessions[i]);
                    prop_assert!(reply.state.paid());
                    if before.paid() {
                        prop_assert_eq!(&reply.state, &before, "a repeated success answers as before");
                    }
                    // Applying the same webhook again right away must answer identically.
                    prop_assert_eq!(w.succeeded(&sessions[i]), reply.clone());
                    seen[i] = Some(reply.state);
                }
                Op::Fail { pick, failure } => {
                    if sessions.is_empty() { continue; }
                    let i = usize::from(pick) % sessions.len();
                    let failure = [PaymentFailure::Declined, PaymentFailure::Cancelled, PaymentFailure::Expired][usize::from(failure)];
                    let before = seen[i].clone().unwrap();
                    let state = state_of(w.failed(&sessions[i], failure));
                    if before == PaymentState::Started {
                        prop_assert_eq!(&state, &PaymentState::Failed(failure));
                    } else {
                        prop_assert_eq!(&state, &before, "a late failure changes nothing");
                    }
                    seen[i] = Some(state);
                }
                Op::Refund { pick } => {
                    if sessions.is_empty() { continue; }
                    let i = usize::from(pick) % sessions.len();
                    let before = seen[i].clone().unwrap();
                    let outcome = w.apply(Command::Payment(PaymentCommand::Refunded {
                        payment: PaymentId(i as u64 + 1), reference: format!("re_{i}"),
                    }));
                    match (&before, outcome) {
                        (PaymentState::RefundDue | PaymentState::Refunded { .. }, Ok(Reply::Payment(r))) => {
                            prop_assert_eq!(&r.state, &PaymentState::Refunded { reference: format!("re_{i}") });
                            seen[i] = Some(r.state);
                        }
                        (_, Err(Rejection::Payment(PaymentRejection::NoRefundDue))) => {
                            prop_assert!(!matches!(before, PaymentState::RefundDue));
                        }
                        (_, other) => prop_assert!(false, "refund of {:?} answered {:?}", before, other),
                    }
                }
                Op::Pass { ms } => {
                    w.now += i64::from(ms);
                    w.ok(Command::Tick);
                }
            }
            // The auditor's view must be the tenant's: no paid payment unaccounted for.
            for (i, state) in seen.iter().enumerate() {
                let live = &w.tenant.payment(PaymentId(i as u64 + 1)).unwrap().state;
                prop_assert_eq!(Some(live), state.as_ref());
            }
        }
        let mut orders_by_payment = std::collections::BTreeSet::new();
        for payment in w.tenant.payments() {
            if let PaymentState::Succeeded { order } = payment.state {
                prop_assert!(orders_by_payment.insert(order));
            }
        }
        prop_assert_eq!(&Tenant::restore(w.tenant.parts()).expect("restores"), &w.tenant);
        let mut replayed = Tenant::new();
        for envelope in &w.log {
            let _ = replayed.apply(envelope);
        }
        prop_assert_eq!(&replayed, &w.tenant);
    }
}
