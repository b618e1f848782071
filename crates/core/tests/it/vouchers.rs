//! The voucher ledger inside the tenant: a city's programme run through
//! `Tenant::apply` exactly as the log will carry it. A card is loaded from the
//! provider's clearing account, partly redeemed at a shop, reserved at a till and
//! posted for less, and a forgotten reservation expires by the tenant's `Tick`. The
//! tenant's full invariant check (which includes the ledger's) runs after every
//! step, and after every step a snapshot (`Tenant::parts` → `Tenant::restore`)
//! must give back an equal tenant; at the end a replay of every envelope must too.
//! Further tests show the tenant's idempotency keys and the ledger's transfer ids
//! both answer retries, and that restore refuses a ledger whose stored sums lie.
//! The random workload of `ledger.rs` run through the tenant is at the bottom.

use proptest::prelude::*;
use proptest::test_runner::Config;
use sturmfest_core::ledger::*;
use sturmfest_core::*;

const START: i64 = 1_700_000_000_000;
const PROGRAMME: ProgrammeId = ProgrammeId(1);
const CLEARING: AccountId = AccountId(1);
const CARD: AccountId = AccountId(2);
const SHOP: AccountId = AccountId(3);

struct World {
    tenant: Tenant,
    now: i64,
    envelopes: Vec<Envelope>,
    outcomes: Vec<Outcome>,
}

impl World {
    /// A city with one programme: the provider's clearing account, a card that may
    /// hold at most 150.00, and a shop.
    fn new() -> World {
        let mut w = World { tenant: Tenant::new(), now: START, envelopes: Vec::new(), outcomes: Vec::new() };
        w.ok(LedgerCommand::CreateAccount { id: CLEARING, programme: PROGRAMME, kind: AccountKind::ProviderClearing, ceiling: None });
        w.ok(LedgerCommand::CreateAccount { id: CARD, programme: PROGRAMME, kind: AccountKind::Card, ceiling: Some(Cents(15_000)) });
        w.ok(LedgerCommand::CreateAccount { id: SHOP, programme: PROGRAMME, kind: AccountKind::MerchantPayable, ceiling: None });
        w
    }

    /// Applies, then checks every invariant and that a snapshot restores an equal tenant.
    fn send(&mut self, idempotency: Option<Idempotency>, command: Command) -> Outcome {
        let envelope = Envelope { time: TimeMs(self.now), idempotency, command };
        let outcome = self.tenant.apply(&envelope);
        self.envelopes.push(envelope);
        self.outcomes.push(outcome.clone());
        self.tenant.check_invariants();
        let restored = Tenant::restore(self.tenant.parts()).expect("a snapshot of a healthy tenant restores");
        assert_eq!(restored, self.tenant, "the snapshot round trip loses nothing");
        outcome
    }

    fn run(&mut self, command: LedgerCommand) -> Outcome {
        self.send(None, Command::Ledger(command))
    }

    #[track_caller]
    fn ok(&mut self, command: LedgerCommand) -> LedgerReply {
        match self.run(command) {
            Ok(Reply::Ledger(reply)) => reply,
            other => panic!("expected a ledger reply, got {other:?}"),
        }
    }

    #[track_caller]
    fn rejected(&mut self, command: LedgerCommand) -> &'static str {
        match self.run(command) {
            Ok(reply) => panic!("accepted: {reply:?}"),
            Err(r) => r.code(),
        }
    }

    fn balance(&self, account: AccountId) -> i64 {
        self.tenant.ledger().account(account).expect("the account exists").balance().0
    }

    /// Replays every envelope sent so far into a fresh tenant, which must answer
    /// each as the first time.
    fn replayed(&self) -> Tenant {
        let mut tenant = Tenant::new();
        for (envelope, outcome) in self.envelopes.iter().zip(&self.outcomes) {
            assert_eq!(&tenant.apply(envelope), outcome, "replay answers like the original");
        }
        tenant
    }
}

fn transfer(id: u128, debit: AccountId, credit: AccountId, cents: i64) -> LedgerCommand {
    LedgerCommand::Transfer { id: TransferId(id), debit, credit, amount: Cents(cents) }
}

#[test]
fn a_card_is_loaded_redeemed_reserved_and_expired_through_the_tenant_and_survives_snapshots() {
    let mut w = World::new();
    // Load 50.00 from an online payment: the clearing account goes negative by as
    // much as the card holds (debit-normal), and the sum over accounts stays zero.
    assert_eq!(w.ok(transfer(1, CLEARING, CARD, 5_000)), LedgerReply::Transferred { transfer: TransferId(1) });
    assert_eq!((w.balance(CLEARING), w.balance(CARD)), (-5_000, 5_000));

    // A partial redemption at the shop.
    w.now += 60_000;
    w.ok(transfer(2, CARD, SHOP, 1_250));
    assert_eq!((w.balance(CARD), w.balance(SHOP)), (3_750, 1_250));
    assert_eq!(w.rejected(transfer(3, CARD, SHOP, 3_751)), "insufficient_balance", "never below zero");

    // A till reserves 20.00 and posts 15.00: the rest goes back to the card.
    w.ok(LedgerCommand::Reserve { id: TransferId(4), debit: CARD, credit: SHOP, amount: Cents(2_000), timeout_ms: 60_000 });
    assert_eq!(w.tenant.ledger().account(CARD).unwrap().available(), Cents(1_750));
    w.now += 10_000;
    let posted = w.ok(LedgerCommand::Post { id: TransferId(5), pending: TransferId(4), amount: Cents(1_500) });
    assert_eq!(posted, LedgerReply::Posted { transfer: TransferId(5), pending: TransferId(4), amount: Cents(1_500), released: Cents(500) });
    assert_eq!((w.balance(CARD), w.balance(SHOP)), (2_250, 2_750));

    // A reservation nobody finishes: the tenant's next expiry names it, and the
    // tenant's own `Tick` (no ledger command at all) releases it when due.
    w.ok(LedgerCommand::Reserve { id: TransferId(6), debit: CARD, credit: SHOP, amount: Cents(1_000), timeout_ms: 30_000 });
    let due = TimeMs(w.now + 30_000);
    assert_eq!(w.tenant.next_expiry(), Some(due), "the runtime learns when a tick is worth sending");
    assert_eq!(w.tenant.ledger().account(CARD).unwrap().available(), Cents(1_250));
    w.now = due.0 - 1;
    w.send(None, Command::Tick).unwrap();
    assert_eq!(w.tenant.ledger().pending_state(TransferId(6)), Some(PendingState::Pending { expires_at: due }));
    w.now = due.0;
    assert_eq!(w.send(None, Command::Tick), Ok(Reply::Ticked { expired: 0 }), "the count is of ticket holds");
    assert_eq!(w.tenant.ledger().pending_state(TransferId(6)), Some(PendingState::Expired { at: due }));
    assert_eq!(w.tenant.ledger().account(CARD).unwrap().available(), Cents(2_250));
    assert_eq!(w.tenant.ledger().now(), due, "the ledger's clock follows the tenant's");
    assert_eq!(w.tenant.next_expiry(), None);
    assert_eq!(w.rejected(LedgerCommand::Post { id: TransferId(7), pending: TransferId(6), amount: Cents(1) }), "pending_expired");

    // Every cent is accounted for: the balances sum to zero.
    let total: i64 = w.tenant.ledger().accounts().map(|a| a.balance().0).sum();
    assert_eq!(total, 0);
    assert_eq!(w.replayed(), w.tenant, "replaying the log gives the same tenant");
}

#[test]
fn a_retry_is_answered_by_the_tenants_key_or_the_ledgers_transfer_id_and_never_charges_twice() {
    let mut w = World::new();
    w.ok(transfer(1, CLEARING, CARD, 5_000));
    let key = |fingerprint| Some(Idempotency { key: IdemKey(77), fingerprint });
    let redeem = Command::Ledger(transfer(2, CARD, SHOP, 2_000));
    let first = w.send(key(1), redeem.clone());
    assert_eq!(first, Ok(Reply::Ledger(LedgerReply::Transferred { transfer: TransferId(2) })));
    // The same key: answered from the tenant's memory, which a snapshot keeps.
    assert_eq!(w.send(key(1), redeem.clone()), first);
    assert_eq!(w.send(key(2), redeem.clone()).map_err(|r| r.code()), Err("idempotency_key_reused"));
    // No key, the same transfer id: the ledger answers from its history.
    assert_eq!(w.send(None, redeem), first);
    assert_eq!(w.balance(CARD), 3_000, "charged once");
    assert_eq!(w.rejected(transfer(2, CARD, SHOP, 2_001)), "transfer_id_reused");
    assert_eq!(w.tenant.ledger().transfers().len(), 2);
}

#[test]
fn ledger_rejections_keep_their_own_codes_and_change_nothing_but_time() {
    let mut w = World::new();
    let before = w.tenant.ledger().clone();
    assert_eq!(w.rejected(transfer(1, CARD, SHOP, 1)), "insufficient_balance");
    assert_eq!(w.rejected(transfer(1, AccountId(9), SHOP, 1)), "debit_account_not_found");
    assert_eq!(w.rejected(transfer(1, CLEARING, CARD, 15_001)), "ceiling_exceeded");
    let other = LedgerCommand::CreateAccount { id: AccountId(4), programme: ProgrammeId(2), kind: AccountKind::Issuer, ceiling: None };
    w.ok(other);
    assert_eq!(w.rejected(transfer(1, AccountId(4), CARD, 1)), "programmes_differ", "money never crosses programmes");
    let Err(rejection) = w.run(transfer(1, CARD, SHOP, 1)) else { panic!("accepted") };
    assert_eq!(rejection, Rejection::Ledger(LedgerRejection::InsufficientBalance { account: CARD }));
    assert_eq!(w.tenant.ledger().transfers(), before.transfers(), "nothing was recorded");
}

#[test]
fn ticketing_and_vouchers_share_one_tenant_without_touching_each_other() {
    let mut w = World::new();
    w.ok(transfer(1, CLEARING, CARD, 5_000));
    let venue = VenueSpec {
        name: "Halle".into(),
        blocks: Vec::new(),
        standing: vec![StandingSpec { name: "Kurve".into(), capacity: 10 }],
    };
    assert_eq!(w.send(None, Command::CreateVenue(venue)), Ok(Reply::VenueCreated { venue: VenueId(0) }));
    assert_eq!(w.tenant.ledger().accounts().count(), 3);
    assert_eq!(w.balance(CARD), 5_000);
    assert_eq!(w.replayed(), w.tenant);
}

#[test]
fn restore_refuses_a_ledger_whose_stored_sums_disagree_with_its_history() {
    let mut w = World::new();
    w.ok(transfer(1, CLEARING, CARD, 5_000));
    w.ok(LedgerCommand::Reserve { id: TransferId(2), debit: CARD, credit: SHOP, amount: Cents(1_000), timeout_ms: 60_000 });
    let parts = w.tenant.parts();

    let mut richer = parts.clone();
    let card = richer.ledger.accounts.iter_mut().find(|a| a.id == CARD).unwrap();
    card.credits_posted.0 += 100;
    let why = Tenant::restore(richer).expect_err("a card richer than its history");
    assert!(why.contains("its history says"), "{why}");

    let mut forged = parts.clone();
    forged.ledger.transfers[0].amount.0 += 100;
    assert!(Tenant::restore(forged).is_err(), "a history that does not add up to the stored sums");

    let mut lost = parts.clone();
    lost.ledger.pending.clear();
    let why = Tenant::restore(lost).expect_err("a reservation without a state");
    assert!(why.contains("ledger"), "{why}");

    let mut orphan = parts.clone();
    orphan.ledger.accounts.retain(|a| a.id != SHOP);
    let why = Tenant::restore(orphan).expect_err("history naming a missing account");
    assert!(why.contains("missing account"), "{why}");

    let mut twice = parts;
    let first = twice.ledger.transfers[0];
    twice.ledger.transfers.push(first);
    let why = Tenant::restore(twice).expect_err("a transfer id twice");
    assert!(why.contains("appears twice"), "{why}");
}

// ----- the random ledger workload, through the tenant -----

fn config() -> Config {
    Config { cases: 200, failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    /// `ledger.rs` drives the bare ledger with a reference model; here the same
    /// envelopes go through `Tenant::apply` (every other ledger tick as a tenant
    /// `Tick`, every other command under a fresh idempotency key so the tenant's
    /// remembered replies hold ledger replies). The tenant must answer as the bare
    /// ledger did, end with an equal ledger, restore from its parts mid-run and at
    /// the end to an equal tenant (and carry on identically from the restored one),
    /// and a replay of its envelopes must give an equal tenant.
    #[test]
    fn random_ledger_runs_through_the_tenant_restore_and_replay_to_the_same_state(
        steps in prop::collection::vec(super::ledger::step(), 1..200),
    ) {
        let (ledger, envelopes, outcomes) = super::ledger::run(&steps);
        let mut tenant = Tenant::new();
        let mut sent = Vec::with_capacity(envelopes.len());
        let mut answers = Vec::with_capacity(envelopes.len());
        let middle = envelopes.len() / 2;
        for (i, (envelope, expected)) in envelopes.iter().zip(&outcomes).enumerate() {
            if i == middle {
                let restored = Tenant::restore(tenant.parts()).map_err(TestCaseError::fail)?;
                prop_assert_eq!(&restored, &tenant, "a mid-run snapshot restores an equal tenant");
                tenant = restored;
            }
            let as_tenant_tick = envelope.command == LedgerCommand::Tick && i % 2 == 1;
            let command = if as_tenant_tick { Command::Tick } else { Command::Ledger(envelope.command.clone()) };
            let idempotency = (i % 2 == 0).then_some(Idempotency { key: IdemKey(i as u128 + 1), fingerprint: 1 });
            let tenant_envelope = Envelope { time: envelope.time, idempotency, command };
            let outcome = tenant.apply(&tenant_envelope);
            if as_tenant_tick {
                prop_assert_eq!(&outcome, &Ok(Reply::Ticked { expired: 0 }));
            } else {
                prop_assert_eq!(&outcome, &expected.map(Reply::Ledger).map_err(Rejection::Ledger), "answers as the bare ledger");
            }
            sent.push(tenant_envelope);
            answers.push(outcome);
        }
        tenant.check_invariants();
        prop_assert_eq!(tenant.ledger(), &ledger, "the tenant's ledger equals the bare one");
        let restored = Tenant::restore(tenant.parts()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&restored, &tenant, "a final snapshot restores an equal tenant");
        prop_assert_eq!(Ledger::restore(ledger.parts()).map_err(TestCaseError::fail)?, ledger);
        let mut replayed = Tenant::new();
        for (envelope, answer) in sent.iter().zip(&answers) {
            prop_assert_eq!(&replayed.apply(envelope), answer, "replay answers like the original");
        }
        prop_assert_eq!(&replayed, &tenant, "replay reproduces the tenant");
    }
}

#[test]
fn a_programmes_design_is_set_checked_and_survives_snapshot_and_replay() {
    use sturmfest_core::vouchers::{ExpiryRule, ProgrammeDesign, ProgrammeLimits, VoucherCommand as V, VoucherReply};
    let mut w = World { tenant: Tenant::new(), now: START, envelopes: Vec::new(), outcomes: Vec::new() };
    let p = ProgrammeId(7);
    let limits = ProgrammeLimits {
        card_balance_cents_max: Cents(25_000),
        load_cents_max: Cents(25_000),
        card_offline_cents_max: Cents(2_000),
        reversal_window_ms: 600_000,
    };
    let created = w.send(None, Command::Voucher(V::CreateProgramme { id: p, name: "Stadtgutschein".into(), limits, expiry: ExpiryRule::EndOfThirdYearAfterSale }));
    assert!(created.is_ok(), "{created:?}");
    assert_eq!(w.tenant.vouchers().programme(p).unwrap().design, ProgrammeDesign::default(), "a new programme has the default look");
    let design = ProgrammeDesign { accent_rgb: 0x8a1c1c, tagline: "Gilt in 120 Geschäften der Altstadt".into() };
    let set = w.send(None, Command::Voucher(V::SetDesign { programme: p, design: design.clone() }));
    assert_eq!(set, Ok(Reply::Voucher(VoucherReply::DesignSet { programme: p })));
    assert_eq!(w.tenant.vouchers().programme(p).unwrap().design, design);
    // Refused, and nothing changes: an unknown programme, an accent beyond sRGB, a
    // tagline too long or with a control character.
    let refused = |w: &mut World, programme: ProgrammeId, accent_rgb: u32, tagline: &str| {
        let design = ProgrammeDesign { accent_rgb, tagline: tagline.into() };
        w.send(None, Command::Voucher(V::SetDesign { programme, design })).unwrap_err().code()
    };
    assert_eq!(refused(&mut w, ProgrammeId(8), 0x000000, ""), "unknown_programme");
    assert_eq!(refused(&mut w, p, 0x0100_0000, ""), "design_invalid");
    assert_eq!(refused(&mut w, p, 0x000000, &"x".repeat(121)), "design_invalid");
    assert_eq!(refused(&mut w, p, 0x000000, "zwei\nZeilen"), "design_invalid");
    assert_eq!(w.tenant.vouchers().programme(p).unwrap().design, design);
    assert_eq!(w.replayed(), w.tenant, "replay reproduces the design");
}
