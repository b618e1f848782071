//! Voucher purchases paid online (`vouchers/purchase.rs`): a new digital card or a
//! load, started with a provider session and decided when the provider's verdict
//! arrives.
//!
//! Worked examples walk each path: a new card bought and paid (issued as a batch of
//! one, digital, active with the amount), a duplicate success that changes nothing,
//! a decline that issues nothing, a late load that no longer fits under the card's
//! balance maximum (owed back, then refunded), a load onto a card blocked meanwhile.
//!
//! A property test throws random interleavings of starts (new cards and loads),
//! successes (repeated), failures, blocks and redemptions at one programme. After
//! every command the full invariant checker runs — it ties every succeeded purchase
//! to exactly one booking of its amount and reference — and an auditor that sees only
//! commands and replies checks money against value: every card's balance equals what
//! its succeeded purchases put on it minus what was redeemed, a paid purchase never
//! becomes unpaid, a repeated success answers the same. Finally the run is replayed
//! into a fresh tenant and restored from a snapshot; both must equal the live tenant.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sturmfest_core::ledger::DeviceId;
use sturmfest_core::payments::{PaymentFailure, ProviderKind};
use sturmfest_core::vouchers::*;
use sturmfest_core::*;

/// 2026-06-15 in ms, and the start of 2030 (the expiry of a sale in 2026).
const JUNE_2026: i64 = 1_781_481_600_000;
const START_2030: i64 = 1_893_456_000_000;
const PROGRAMME: ProgrammeId = ProgrammeId(1);

struct World {
    tenant: Tenant,
    now: i64,
    log: Vec<(Envelope, Outcome)>,
}

impl World {
    fn new() -> World {
        let mut w = World { tenant: Tenant::new(), now: JUNE_2026, log: Vec::new() };
        let limits = ProgrammeLimits {
            card_balance_cents_max: Cents(10_000),
            load_cents_max: Cents(6_000),
            card_offline_cents_max: Cents(2_000),
            reversal_window_ms: 600_000,
        };
        let setup = [
            VoucherCommand::CreateProgramme {
                id: PROGRAMME,
                name: "Stadtgutschein".into(),
                limits,
                expiry: ExpiryRule::EndOfThirdYearAfterSale,
            },
            VoucherCommand::CreateMerchant { id: MerchantId(7), name: "Buchladen".into(), iban: "DE89370400440532013000".into() },
            VoucherCommand::AcceptMerchant { merchant: MerchantId(7), programme: PROGRAMME },
            VoucherCommand::RegisterDevice { device: DeviceId(70), merchant: MerchantId(7), public_key: [7; 32] },
        ];
        for command in setup {
            w.send(command).expect("setup");
        }
        w
    }

    fn send(&mut self, command: VoucherCommand) -> Result<VoucherReply, &'static str> {
        self.now += 1_000;
        let envelope = Envelope { time: TimeMs(self.now), idempotency: None, command: Command::Voucher(command) };
        let outcome = self.tenant.apply(&envelope);
        self.tenant.check_invariants();
        self.log.push((envelope, outcome.clone()));
        match outcome {
            Ok(Reply::Voucher(reply)) => Ok(reply),
            Ok(other) => panic!("a voucher command answered {other:?}"),
            Err(rejection) => Err(rejection.code()),
        }
    }

    fn purchase(&mut self, command: VoucherCommand) -> Result<PurchaseReply, &'static str> {
        match self.send(command)? {
            VoucherReply::Purchase(reply) => Ok(reply),
            other => panic!("a purchase command answered {other:?}"),
        }
    }

    fn balance(&self, card: u64) -> i64 {
        self.tenant.vouchers().balance(self.tenant.ledger(), CardId(card)).expect("a card").0
    }

    fn replay_and_restore(&self) {
        let mut fresh = Tenant::new();
        for (envelope, outcome) in &self.log {
            assert_eq!(&fresh.apply(envelope), outcome, "replay answers like the original");
        }
        assert_eq!(fresh, self.tenant, "replay rebuilds the same tenant");
        let restored = Tenant::restore(self.tenant.parts()).expect("a snapshot restores");
        assert_eq!(restored, self.tenant, "the snapshot loses nothing");
    }
}

fn new_card(card: u64) -> PurchaseTarget {
    let mut digest = [0xD1; 32];
    digest[..8].copy_from_slice(&card.to_be_bytes());
    PurchaseTarget::NewCard { card: NewCard { id: CardId(card), code_digest: digest, pin_digest: None }, batch: BatchId(card as u32 + 1_000) }
}

fn start(purchase: u64, target: PurchaseTarget, cents: i64, session: &str) -> VoucherCommand {
    VoucherCommand::StartPurchase {
        purchase: PurchaseId(purchase),
        programme: PROGRAMME,
        target,
        amount: Cents(cents),
        provider: ProviderKind::Test,
        session: session.into(),
        email: "kim@example.org".into(),
    }
}

fn succeeded(session: &str) -> VoucherCommand {
    VoucherCommand::PurchaseSucceeded { provider: ProviderKind::Test, session: session.into(), expires_at: TimeMs(START_2030) }
}

fn failed(session: &str) -> VoucherCommand {
    VoucherCommand::PurchaseFailed { provider: ProviderKind::Test, session: session.into(), failure: PaymentFailure::Declined }
}

#[test]
fn a_paid_digital_card_is_issued_active_with_its_amount_once() {
    let mut w = World::new();
    let started = w.purchase(start(5, new_card(501), 3_000, "s1")).unwrap();
    assert_eq!(started.status, PurchaseStatus::Started);
    assert!(w.tenant.vouchers().card(CardId(501)).is_none(), "nothing is issued before the money arrives");

    let done = w.purchase(succeeded("s1")).unwrap();
    assert_eq!((done.status, done.card), (PurchaseStatus::Succeeded, CardId(501)));
    let card = *w.tenant.vouchers().card(CardId(501)).unwrap();
    assert_eq!((card.state, card.expires_at), (CardState::Active, Some(TimeMs(START_2030))));
    assert_eq!(w.tenant.vouchers().batch(card.batch).unwrap().medium, CardMedium::Digital);
    assert_eq!(w.balance(501), 3_000);

    let again = w.purchase(succeeded("s1")).unwrap();
    assert_eq!(again, done, "a duplicate webhook answers the same");
    assert_eq!(w.balance(501), 3_000, "and adds nothing");
    let late_decline = w.purchase(failed("s1")).unwrap();
    assert_eq!(late_decline.status, PurchaseStatus::Succeeded, "a late decline never undoes a success");
    w.replay_and_restore();
}

#[test]
fn a_declined_purchase_issues_nothing_and_can_be_tried_again() {
    let mut w = World::new();
    w.purchase(start(5, new_card(501), 3_000, "s1")).unwrap();
    assert_eq!(w.purchase(failed("s1")).unwrap().status, PurchaseStatus::Failed(PaymentFailure::Declined));
    assert!(w.tenant.vouchers().card(CardId(501)).is_none());
    assert_eq!(w.purchase(start(5, new_card(501), 3_000, "s2")), Err("purchase_id_invalid"));
    assert_eq!(w.purchase(start(6, new_card(501), 3_000, "s1")), Err("invalid_payment_session"));
    w.purchase(start(6, new_card(501), 3_000, "s2")).unwrap();
    // A success after a reported failure still means money was taken.
    assert_eq!(w.purchase(succeeded("s2")).unwrap().status, PurchaseStatus::Succeeded);
    assert_eq!(w.balance(501), 3_000);
    w.replay_and_restore();
}

#[test]
fn a_late_load_that_no_longer_fits_is_owed_back_and_then_refunded() {
    let mut w = World::new();
    w.purchase(start(5, new_card(501), 5_000, "buy")).unwrap();
    w.purchase(succeeded("buy")).unwrap();
    // Two loads started while each fits; only the first still fits when both are paid.
    w.purchase(start(6, PurchaseTarget::Load { card: CardId(501) }, 4_000, "load-a")).unwrap();
    w.purchase(start(7, PurchaseTarget::Load { card: CardId(501) }, 3_000, "load-b")).unwrap();
    assert_eq!(w.purchase(succeeded("load-a")).unwrap().status, PurchaseStatus::Succeeded);
    assert_eq!(w.purchase(succeeded("load-b")).unwrap().status, PurchaseStatus::RefundDue);
    assert_eq!(w.balance(501), 9_000, "the refused load put nothing on the card");
    assert_eq!(w.tenant.vouchers().purchase(PurchaseId(7)).unwrap().state, PurchaseState::RefundDue);

    assert_eq!(w.purchase(VoucherCommand::PurchaseRefunded { purchase: PurchaseId(6), reference: "tr_1".into() }), Err("no_refund_due"));
    let refunded = w.purchase(VoucherCommand::PurchaseRefunded { purchase: PurchaseId(7), reference: "tr_2".into() }).unwrap();
    assert_eq!(refunded.status, PurchaseStatus::Refunded);
    let again = w.purchase(VoucherCommand::PurchaseRefunded { purchase: PurchaseId(7), reference: "tr_2".into() }).unwrap();
    assert_eq!(again, refunded);
    assert_eq!(w.purchase(succeeded("load-b")).unwrap().status, PurchaseStatus::Refunded, "a late duplicate changes nothing");
    w.replay_and_restore();
}

#[test]
fn a_load_onto_a_card_blocked_meanwhile_is_owed_back() {
    let mut w = World::new();
    w.purchase(start(5, new_card(501), 2_000, "buy")).unwrap();
    w.purchase(succeeded("buy")).unwrap();
    w.purchase(start(6, PurchaseTarget::Load { card: CardId(501) }, 1_000, "load")).unwrap();
    w.send(VoucherCommand::BlockCard { card: CardId(501) }).unwrap();
    assert_eq!(w.purchase(start(7, PurchaseTarget::Load { card: CardId(501) }, 1_000, "load-2")), Err("card_blocked"));
    assert_eq!(w.purchase(succeeded("load")).unwrap().status, PurchaseStatus::RefundDue);
    assert_eq!(w.balance(501), 2_000);
    assert_eq!(w.purchase(start(8, PurchaseTarget::Load { card: CardId(501) }, 6_001, "big")), Err("load_too_large"));
    w.replay_and_restore();
}

// ----- random interleavings against an auditor -----

#[derive(Clone, Debug)]
enum Op {
    BuyCard { card: u64, cents: i64 },
    Load { card: u64, cents: i64 },
    Succeed { purchase: usize },
    Fail { purchase: usize },
    Block { card: u64 },
    Redeem { card: u64, cents: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    let card = 1u64..=4;
    let cents = prop_oneof![Just(6_000i64), Just(4_000), 1i64..=6_500];
    prop_oneof![
        1 => (card.clone(), cents.clone()).prop_map(|(card, cents)| Op::BuyCard { card, cents }),
        1 => (card.clone(), cents).prop_map(|(card, cents)| Op::Load { card, cents }),
        3 => (0usize..12).prop_map(|purchase| Op::Succeed { purchase }),
        1 => (0usize..12).prop_map(|purchase| Op::Fail { purchase }),
        1 => (card.clone()).prop_map(|card| Op::Block { card }),
        1 => (card, 1i64..=3_000).prop_map(|(card, cents)| Op::Redeem { card, cents }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_purchases_never_make_money_without_value_or_value_without_money(ops in prop::collection::vec(op(), 1..60)) {
        let mut w = World::new();
        let mut sessions: Vec<(String, u64)> = Vec::new();
        // The auditor: what each card should hold, and each purchase's paid status.
        let mut expected: BTreeMap<u64, i64> = BTreeMap::new();
        let mut paid: BTreeMap<String, PurchaseReply> = BTreeMap::new();
        let mut next = 1u64;
        let mut redemption = 1u128;
        for op in ops {
            match op {
                Op::BuyCard { card, cents } | Op::Load { card, cents } => {
                    let session = format!("s{next}");
                    let target = if matches!(op, Op::BuyCard { .. }) {
                        new_card(card)
                    } else {
                        PurchaseTarget::Load { card: CardId(card) }
                    };
                    if w.purchase(start(next, target, cents, &session)).is_ok() {
                        sessions.push((session, cents as u64));
                    }
                    next += 1;
                }
                Op::Succeed { purchase } | Op::Fail { purchase } => {
                    let Some((session, cents)) = sessions.get(purchase).cloned() else { continue };
                    let command = if matches!(op, Op::Succeed { .. }) { succeeded(&session) } else { failed(&session) };
                    let reply = w.purchase(command).expect("a known session is never refused");
                    if let Some(before) = paid.get(&session) {
                        prop_assert_eq!(&reply, before, "a paid purchase answers the same forever");
                        continue;
                    }
                    match reply.status {
                        PurchaseStatus::Succeeded => {
                            *expected.entry(reply.card.0).or_default() += cents as i64;
                            paid.insert(session, reply);
                        }
                        PurchaseStatus::RefundDue => {
                            paid.insert(session, reply);
                        }
                        PurchaseStatus::Failed(_) | PurchaseStatus::Started => {
                            prop_assert!(matches!(op, Op::Fail { .. }), "a success always settles: {:?}", reply);
                        }
                        PurchaseStatus::Refunded => prop_assert!(false, "nothing was refunded"),
                    }
                }
                Op::Block { card } => {
                    let _ = w.send(VoucherCommand::BlockCard { card: CardId(card) });
                }
                Op::Redeem { card, cents } => {
                    let command = VoucherCommand::Redeem {
                        redemption: RedemptionId(redemption),
                        card: CardId(card),
                        merchant: MerchantId(7),
                        device: DeviceId(70),
                        amount: Cents(cents),
                        pin_digest: None,
                    };
                    redemption += 1;
                    if w.send(command).is_ok() {
                        *expected.entry(card).or_default() -= cents;
                    }
                }
            }
            for (card, cents) in &expected {
                prop_assert_eq!(w.balance(*card), *cents, "card {} holds what was paid and not spent", card);
            }
        }
        // Every paid purchase is either value on its card or money owed back.
        for purchase in w.tenant.vouchers().purchases() {
            let is_paid = purchase.state.paid();
            prop_assert_eq!(is_paid, paid.contains_key(&purchase.session));
        }
        w.replay_and_restore();
    }
}
