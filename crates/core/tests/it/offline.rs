//! Offline redemption with bounded risk (`sturmfest_core::vouchers`, `offline.rs`),
//! driven through `Tenant::apply`.
//!
//! A worked example first: a till gets an allowance, redeems offline a card that is
//! also spent online meanwhile, syncs, and the card pays what it had, the allowance
//! the rest; a second identical sync changes nothing; the rest of the allowance
//! came back.
//!
//! Then a property test: random offline sessions on three tills of one shop (grants
//! with valid and invalid amounts and windows, offline redemptions of cards in and
//! outside the shop's programme, online redemptions and loads meanwhile, blocked
//! cards, a revoked till, full, partial, reordered and duplicate syncs, time jumps
//! past the allowance's window and its reservation) against a reference model written
//! without looking at the core's arithmetic. After every step: the reply's code, every
//! card's balance, the shop's payable, the risk account, the risk entries, the open
//! allowances and the worst-case exposure equal the model's, and every invariant holds
//! (the tenant checks them on each command). At random points the tenant "crashes"
//! and is rebuilt either by replaying the whole command log or by restoring the latest
//! snapshot and replaying the log after it; the rebuilt tenant must equal the one that
//! did not crash, and the run goes on with the rebuilt one. A guard test proves the
//! workload reaches the replies and rejections that matter.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use sturmfest_core::ledger::AccountKind;
use sturmfest_core::vouchers::*;
use sturmfest_core::*;

const START: i64 = 1_781_000_000_000; // June 2026
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// `limits::allowance_sync_grace_ms`, restated: the reservation outlives the window.
const GRACE: i64 = 2 * DAY;
const DEVICE_MAX: i64 = 3_000;
const OPEN_MAX: i64 = 5_000;
const BALANCE_MAX: i64 = 20_000;
/// Cards 1..=4 are in programme 1 (the shop's), card 5 in programme 2.
const CARDS: u64 = 5;
const DEVICES: u64 = 3;

fn programme_of(card: u64) -> u32 {
    if card <= 4 { 1 } else { 2 }
}

/// The start of the fourth UTC year after `now` (June 2026 → 2030-01-01).
fn expiry() -> TimeMs {
    TimeMs(1_893_456_000_000)
}

struct World {
    tenant: Tenant,
    now: i64,
    envelopes: Vec<Envelope>,
    outcomes: Vec<Outcome>,
    /// `(commands applied, snapshot)` taken along the way.
    snapshots: Vec<(usize, TenantParts)>,
}

impl World {
    fn new() -> World {
        World { tenant: Tenant::new(), now: START, envelopes: Vec::new(), outcomes: Vec::new(), snapshots: Vec::new() }
    }

    fn voucher(&mut self, command: VoucherCommand) -> Outcome {
        let envelope = Envelope { time: TimeMs(self.now), idempotency: None, command: Command::Voucher(command) };
        let outcome = self.tenant.apply(&envelope);
        self.tenant.check_invariants();
        self.envelopes.push(envelope);
        self.outcomes.push(outcome.clone());
        outcome
    }

    fn balance(&self, card: u64) -> i64 {
        self.tenant.vouchers().balance(self.tenant.ledger(), CardId(card)).unwrap().0
    }

    fn account(&self, id: ledger::AccountId) -> i64 {
        self.tenant.ledger().account(id).unwrap().balance().0
    }

    /// Rebuilds the tenant from the latest snapshot (or from nothing) and the log
    /// after it, checks it equals the live one, and carries on with it.
    fn crash(&mut self, from_snapshot: bool) {
        let (mut tenant, from) = match self.snapshots.last().filter(|_| from_snapshot) {
            Some((at, parts)) => (Tenant::restore(parts.clone()).expect("a snapshot restores"), *at),
            None => (Tenant::new(), 0),
        };
        for (envelope, outcome) in self.envelopes[from..].iter().zip(&self.outcomes[from..]) {
            assert_eq!(&tenant.apply(envelope), outcome, "recovery answers like the original");
        }
        tenant.check_invariants();
        if tenant != self.tenant {
            assert_eq!(tenant.parts().vouchers, self.tenant.parts().vouchers, "recovery rebuilds the voucher state");
            assert_eq!(tenant.ledger(), self.tenant.ledger(), "recovery rebuilds the ledger");
            panic!("recovery rebuilds the tenant");
        }
        self.tenant = tenant;
    }

    fn snapshot(&mut self) {
        self.snapshots.push((self.envelopes.len(), self.tenant.parts()));
    }
}

fn setup(w: &mut World) {
    let limits = ProgrammeLimits {
        card_balance_cents_max: Cents(BALANCE_MAX),
        load_cents_max: Cents(BALANCE_MAX),
        card_offline_cents_max: Cents(2_000),
        reversal_window_ms: 600_000,
    };
    let policy = OfflinePolicy { device_allowance_cents_max: Cents(DEVICE_MAX), open_allowances_cents_max: Cents(OPEN_MAX) };
    let mut commands = vec![];
    for p in [1u32, 2] {
        commands.push(VoucherCommand::CreateProgramme {
            id: ProgrammeId(p),
            name: format!("Stadt {p}"),
            limits,
            expiry: ExpiryRule::EndOfThirdYearAfterSale,
        });
        commands.push(VoucherCommand::ConfigureOffline { programme: ProgrammeId(p), policy });
    }
    commands.push(VoucherCommand::CreateMerchant { id: MerchantId(1), name: "Laden".into(), iban: "DE89370400440532013000".into() });
    commands.push(VoucherCommand::AcceptMerchant { merchant: MerchantId(1), programme: ProgrammeId(1) });
    for d in 1..=DEVICES {
        commands.push(VoucherCommand::RegisterDevice { device: DeviceId(d), merchant: MerchantId(1), public_key: [d as u8; 32] });
    }
    for p in [1u32, 2] {
        let cards = (1..=CARDS)
            .filter(|c| programme_of(*c) == p)
            .map(|c| NewCard { id: CardId(c), code_digest: [c as u8; 32], pin_digest: None })
            .collect();
        commands.push(VoucherCommand::IssueCards { programme: ProgrammeId(p), batch: BatchId(p), medium: CardMedium::Printed, cards });
    }
    for c in 1..=CARDS {
        let paid_via = PaidVia::Cash { sales_point: SalesPointId(1) };
        commands.push(VoucherCommand::ActivateCard { card: CardId(c), amount: Cents(5_000), paid_via, expires_at: expiry() });
    }
    for command in commands {
        let outcome = w.voucher(command.clone());
        assert!(outcome.is_ok(), "{command:?}: {outcome:?}");
    }
}

fn payable(w: &World) -> i64 {
    w.account(payable_account(ProgrammeId(1), MerchantId(1)))
}

fn risk_account(w: &World) -> i64 {
    w.account(programme_account(ProgrammeId(1), AccountKind::OfflineRisk))
}

fn offline(id: u128, sequence: u64, card: u64, amount: i64, at: i64) -> OfflineRedemption {
    OfflineRedemption {
        id: RedemptionId(id),
        sequence,
        card: CardId(card),
        amount: Cents(amount),
        at: TimeMs(at),
        certificate_serial: 1,
        certificate_balance: Cents(5_000),
    }
}

fn synced(outcome: &Outcome) -> SyncSummary {
    match outcome {
        Ok(Reply::Voucher(VoucherReply::Synced { summary, .. })) => *summary,
        other => panic!("not a sync reply: {other:?}"),
    }
}

#[test]
fn an_offline_overspend_is_paid_from_the_allowance_once_and_the_rest_is_released() {
    let mut w = World::new();
    setup(&mut w);
    let granted = w.voucher(VoucherCommand::GrantAllowance {
        device: DeviceId(1),
        programme: ProgrammeId(1),
        amount: Cents(3_000),
        expires_at: TimeMs(w.now + 8 * HOUR),
    });
    assert!(matches!(granted, Ok(Reply::Voucher(VoucherReply::AllowanceGranted { .. }))), "{granted:?}");
    let exposure = w.tenant.vouchers().offline_exposure(w.tenant.ledger(), ProgrammeId(1)).unwrap();
    assert_eq!(exposure, OfflineExposure { bound: Cents(OPEN_MAX), open: Cents(3_000), lost: Cents(0) });
    // A second till may only take what is left under the bound.
    let refused = w.voucher(VoucherCommand::GrantAllowance {
        device: DeviceId(2),
        programme: ProgrammeId(1),
        amount: Cents(2_500),
        expires_at: TimeMs(w.now + 8 * HOUR),
    });
    assert_eq!(refused.unwrap_err().code(), "risk_bound_reached");
    // Offline: the till takes 40.00 from card 1 (it holds 50.00) and 12.00 from card 2.
    let t_offline = w.now + HOUR;
    // Meanwhile card 1 is spent online at another till: 30.00, leaving 20.00.
    w.now += 2 * HOUR;
    let online = w.voucher(VoucherCommand::Redeem {
        redemption: RedemptionId(1),
        card: CardId(1),
        merchant: MerchantId(1),
        device: DeviceId(3),
        amount: Cents(3_000),
        pin_digest: None,
    });
    assert!(online.is_ok(), "{online:?}");
    w.now += HOUR;
    let batch = vec![offline(100, 1, 1, 4_000, t_offline), offline(101, 2, 2, 1_200, t_offline + MINUTE)];
    let summary = synced(&w.voucher(VoucherCommand::SyncOffline { device: DeviceId(1), redemptions: batch.clone() }));
    assert_eq!(
        summary,
        SyncSummary {
            booked: 2,
            refused: 0,
            duplicates: 0,
            card_paid: Cents(2_000 + 1_200),
            risk_paid: Cents(2_000),
            unpaid: Cents(0),
            released: Cents(1_000),
        }
    );
    assert_eq!((w.balance(1), w.balance(2)), (0, 3_800), "card 1 paid what it had, down to zero");
    assert_eq!(payable(&w), 3_000 + 4_000 + 1_200, "the shop is paid every cent it handed out");
    assert_eq!(risk_account(&w), -2_000, "the programme lost the overspend");
    let risk = w.tenant.vouchers().risk_entries();
    assert_eq!(risk.len(), 1);
    assert_eq!((risk[0].card, risk[0].device, risk[0].amount), (CardId(1), DeviceId(1), Cents(2_000)));
    assert!(w.tenant.vouchers().open_allowance(w.tenant.ledger(), DeviceId(1)).is_none(), "the sync closed it");
    w.snapshot();
    // The same sync again, and again after a new allowance: nothing changes.
    let before = w.tenant.clone();
    let again = synced(&w.voucher(VoucherCommand::SyncOffline { device: DeviceId(1), redemptions: batch.clone() }));
    assert_eq!(again.duplicates, 2);
    assert_eq!((again.booked, again.card_paid, again.risk_paid, again.released), (0, Cents(0), Cents(0), Cents(0)));
    assert_eq!(w.tenant.ledger(), before.ledger(), "a duplicate sync moves no money");
    w.voucher(VoucherCommand::GrantAllowance {
        device: DeviceId(1),
        programme: ProgrammeId(1),
        amount: Cents(1_000),
        expires_at: TimeMs(w.now + HOUR),
    })
    .unwrap();
    let third = synced(&w.voucher(VoucherCommand::SyncOffline { device: DeviceId(1), redemptions: batch }));
    assert_eq!(third.duplicates, 2);
    assert!(w.tenant.vouchers().open_allowance(w.tenant.ledger(), DeviceId(1)).is_some(), "the new allowance stays open");
    // An empty sync gives the unused allowance back.
    let back = synced(&w.voucher(VoucherCommand::SyncOffline { device: DeviceId(1), redemptions: vec![] }));
    assert_eq!(back.released, Cents(1_000));
    assert_eq!(risk_account(&w), -2_000);
    w.crash(true);
    w.crash(false);
}

#[test]
fn a_revoked_till_is_honoured_for_what_it_took_before_the_revocation_and_never_beyond_its_allowance() {
    let mut w = World::new();
    setup(&mut w);
    let grant = VoucherCommand::GrantAllowance {
        device: DeviceId(2),
        programme: ProgrammeId(1),
        amount: Cents(1_000),
        expires_at: TimeMs(w.now + 8 * HOUR),
    };
    w.voucher(grant).unwrap();
    let t = w.now;
    w.voucher(VoucherCommand::BlockCard { card: CardId(3) }).unwrap();
    w.now += HOUR;
    w.voucher(VoucherCommand::RevokeDevice { device: DeviceId(2) }).unwrap();
    w.now += HOUR;
    let batch = vec![
        // Before the revocation: a blocked card pays nothing; 6.00 from the allowance.
        offline(200, 1, 3, 600, t + MINUTE),
        // A card of a programme the shop is not in: refused.
        offline(201, 2, 5, 100, t + 2 * MINUTE),
        // 70.00 from a card holding 50.00: 4.00 left in the allowance, 16.00 unpaid.
        offline(202, 3, 4, 7_000, t + 3 * MINUTE),
        // After the revocation: refused.
        offline(203, 4, 1, 100, t + HOUR + MINUTE),
    ];
    let summary = synced(&w.voucher(VoucherCommand::SyncOffline { device: DeviceId(2), redemptions: batch }));
    assert_eq!((summary.booked, summary.refused), (2, 2));
    assert_eq!((summary.card_paid, summary.risk_paid, summary.unpaid), (Cents(5_000), Cents(1_000), Cents(1_600)));
    assert_eq!((w.balance(3), w.balance(4), w.balance(1), w.balance(5)), (5_000, 0, 5_000, 5_000));
    assert_eq!(risk_account(&w), -1_000, "never more than the allowance");
    let refusal = |id| w.tenant.vouchers().offline_redemption(RedemptionId(id)).unwrap().outcome;
    assert_eq!(refusal(201), OfflineOutcome::Refused(OfflineRefusal::MerchantNotAccepted));
    assert_eq!(refusal(203), OfflineOutcome::Refused(OfflineRefusal::AfterRevocation));
    let grant = VoucherCommand::GrantAllowance {
        device: DeviceId(2),
        programme: ProgrammeId(1),
        amount: Cents(1_000),
        expires_at: TimeMs(w.now + HOUR),
    };
    assert_eq!(w.voucher(grant).unwrap_err().code(), "device_revoked");
    w.crash(false);
}

// ----- the property -----

#[derive(Clone, Debug)]
enum Op {
    Advance { ms: i64 },
    Grant { device: u64, amount: i64, window_ms: i64 },
    /// The device redeems offline (no command: it only writes its journal).
    RedeemOffline { device: u64, card: u64, amount: i64 },
    RedeemOnline { device: u64, card: u64, amount: i64 },
    Load { card: u64, amount: i64 },
    Block { card: u64 },
    Revoke { device: u64 },
    /// Sends the device's unsynced journal: `part` of 4 of it, reversed or not.
    Sync { device: u64, part: u8, reversed: bool },
    /// Sends an earlier sync's batch again.
    SyncAgain { device: u64 },
    Snapshot,
    Crash { from_snapshot: bool },
}

fn op() -> impl Strategy<Value = Op> {
    let device = 1..=DEVICES;
    let card = 1..=CARDS;
    let amount = prop_oneof![Just(500i64), Just(1_500), Just(2_500), Just(4_000), 1..7_000i64];
    prop_oneof![
        2 => prop_oneof![Just(1_000i64), Just(MINUTE), Just(HOUR), Just(10 * HOUR), Just(3 * DAY)].prop_map(|ms| Op::Advance { ms }),
        3 => (device.clone(), prop_oneof![Just(1_000i64), Just(2_000), Just(3_000), Just(3_500), Just(0)],
              prop_oneof![4 => Just(2 * HOUR), 4 => Just(DAY), 1 => Just(30_000i64), 1 => Just(4 * DAY)])
            .prop_map(|(device, amount, window_ms)| Op::Grant { device, amount, window_ms }),
        6 => (device.clone(), card.clone(), amount.clone()).prop_map(|(device, card, amount)| Op::RedeemOffline { device, card, amount }),
        2 => (device.clone(), card.clone(), amount.clone()).prop_map(|(device, card, amount)| Op::RedeemOnline { device, card, amount }),
        1 => (card.clone(), amount).prop_map(|(card, amount)| Op::Load { card, amount }),
        1 => card.prop_map(|card| Op::Block { card }),
        1 => (1..=DEVICES * 4).prop_map(|d| Op::Revoke { device: d }),
        4 => (device.clone(), 1..=4u8, any::<bool>()).prop_map(|(device, part, reversed)| Op::Sync { device, part, reversed }),
        1 => device.prop_map(|device| Op::SyncAgain { device }),
        1 => Just(Op::Snapshot),
        1 => any::<bool>().prop_map(|from_snapshot| Op::Crash { from_snapshot }),
    ]
}

#[derive(Clone, Copy, Debug)]
struct MAllowance {
    id: ledger::TransferId,
    amount: i64,
    granted_at: i64,
    /// The device's deadline.
    until: i64,
    /// When the ledger lets the reservation go.
    lapses_at: i64,
}

#[derive(Default)]
struct MDevice {
    revoked_at: Option<i64>,
    allowance: Option<MAllowance>,
    next_sequence: u64,
    journal: Vec<OfflineRedemption>,
    last_batch: Option<Vec<OfflineRedemption>>,
}

/// What the core should do, computed the simple way.
struct Model {
    now: i64,
    balances: BTreeMap<u64, i64>,
    blocked: BTreeSet<u64>,
    devices: BTreeMap<u64, MDevice>,
    /// Redemption id → (card part, risk part, unpaid) or the refusal code.
    records: BTreeMap<u128, Result<(i64, i64, i64), &'static str>>,
    payable: i64,
    lost: i64,
    risk_entries: usize,
}

impl Model {
    fn open(&self, device: u64) -> Option<MAllowance> {
        self.devices[&device].allowance.filter(|a| a.lapses_at > self.now)
    }

    fn open_sum(&self) -> i64 {
        (1..=DEVICES).filter_map(|d| self.open(d)).map(|a| a.amount).sum()
    }

    fn grant(&mut self, device: u64, amount: i64, window_ms: i64) -> Result<(), &'static str> {
        if self.devices[&device].revoked_at.is_some() {
            return Err("device_revoked");
        }
        if amount <= 0 || amount > DEVICE_MAX {
            return Err("amount_invalid");
        }
        if !(MINUTE..=3 * DAY).contains(&window_ms) {
            return Err("expiry_invalid");
        }
        if self.open(device).is_some() {
            return Err("allowance_open");
        }
        if self.open_sum() + amount > OPEN_MAX {
            return Err("risk_bound_reached");
        }
        Ok(())
    }

    fn redeem_online(&mut self, device: u64, card: u64, amount: i64) -> Result<(), &'static str> {
        if self.devices[&device].revoked_at.is_some() {
            return Err("device_revoked");
        }
        if programme_of(card) != 1 {
            return Err("merchant_not_accepted");
        }
        if self.blocked.contains(&card) {
            return Err("card_blocked");
        }
        if self.balances[&card] < amount {
            return Err("insufficient_balance");
        }
        *self.balances.get_mut(&card).unwrap() -= amount;
        self.payable += amount;
        Ok(())
    }

    fn load(&mut self, card: u64, amount: i64) -> Result<(), &'static str> {
        if self.blocked.contains(&card) {
            return Err("card_blocked");
        }
        if self.balances[&card] + amount > BALANCE_MAX {
            return Err("ceiling_exceeded");
        }
        *self.balances.get_mut(&card).unwrap() += amount;
        Ok(())
    }

    /// The sync of `batch` by `device`: what each redemption yields and what the
    /// allowance releases.
    fn sync(&mut self, device: u64, batch: &[OfflineRedemption]) -> (u32, i64) {
        let fresh: Vec<OfflineRedemption> = batch.iter().filter(|r| !self.records.contains_key(&r.id.0)).copied().collect();
        let duplicates = (batch.len() - fresh.len()) as u32;
        if fresh.is_empty() && !batch.is_empty() {
            return (duplicates, 0);
        }
        let mut fresh = fresh;
        fresh.sort_by_key(|r| r.sequence);
        let allowance = self.open(device);
        let mut left = allowance.map_or(0, |a| a.amount);
        let revoked_at = self.devices[&device].revoked_at;
        for r in fresh {
            let card = r.card.0;
            let record = if programme_of(card) != 1 {
                Err("merchant_not_accepted")
            } else if revoked_at.is_some_and(|t| r.at.0 > t) {
                Err("device_revoked")
            } else {
                let from_card = if self.blocked.contains(&card) { 0 } else { r.amount.0.min(self.balances[&card]) };
                let over = r.amount.0 - from_card;
                let covered = match allowance {
                    Some(a) if (a.granted_at..=a.until).contains(&r.at.0) => over.min(left),
                    _ => 0,
                };
                left -= covered;
                *self.balances.get_mut(&card).unwrap() -= from_card;
                self.payable += from_card + covered;
                self.lost += covered;
                self.risk_entries += usize::from(covered > 0);
                Ok((from_card, covered, over - covered))
            };
            self.records.insert(r.id.0, record);
        }
        if allowance.is_some() {
            self.devices.get_mut(&device).unwrap().allowance = None;
        }
        (duplicates, if allowance.is_some() { left } else { 0 })
    }
}

fn run(ops: &[Op]) -> Result<Vec<&'static str>, TestCaseError> {
    let mut w = World::new();
    setup(&mut w);
    let mut m = Model {
        now: w.now,
        balances: (1..=CARDS).map(|c| (c, 5_000)).collect(),
        blocked: BTreeSet::new(),
        devices: (1..=DEVICES).map(|d| (d, MDevice::default())).collect(),
        records: BTreeMap::new(),
        payable: 0,
        lost: 0,
        risk_entries: 0,
    };
    let mut codes = Vec::new();
    let mut next_id: u128 = 1;
    for (i, op) in ops.iter().enumerate() {
        m.now = w.now;
        let outcome = match op.clone() {
            Op::Advance { ms } => {
                w.now += ms;
                continue;
            }
            Op::Snapshot => {
                w.snapshot();
                continue;
            }
            Op::Crash { from_snapshot } => {
                w.crash(from_snapshot);
                codes.push(if from_snapshot && !w.snapshots.is_empty() { "crash_snapshot" } else { "crash_replay" });
                continue;
            }
            Op::RedeemOffline { device, card, amount } => {
                let d = m.devices.get_mut(&device).unwrap();
                d.next_sequence += 1;
                next_id += 1;
                d.journal.push(offline(1_000_000 + next_id, d.next_sequence, card, amount, w.now));
                continue;
            }
            Op::Grant { device, amount, window_ms } => {
                let expected = m.grant(device, amount, window_ms);
                let command = VoucherCommand::GrantAllowance {
                    device: DeviceId(device),
                    programme: ProgrammeId(1),
                    amount: Cents(amount),
                    expires_at: TimeMs(w.now + window_ms),
                };
                let outcome = w.voucher(command);
                prop_assert_eq!(outcome.as_ref().err().map(|r| r.code()), expected.err(), "step {} {:?}", i, op);
                if let Ok(Reply::Voucher(VoucherReply::AllowanceGranted { reservation, .. })) = outcome {
                    let until = w.now + window_ms;
                    let a = MAllowance { id: reservation, amount, granted_at: w.now, until, lapses_at: until + GRACE };
                    m.devices.get_mut(&device).unwrap().allowance = Some(a);
                }
                outcome
            }
            Op::RedeemOnline { device, card, amount } => {
                let expected = m.redeem_online(device, card, amount);
                next_id += 1;
                let outcome = w.voucher(VoucherCommand::Redeem {
                    redemption: RedemptionId(next_id),
                    card: CardId(card),
                    merchant: MerchantId(1),
                    device: DeviceId(device),
                    amount: Cents(amount),
                    pin_digest: None,
                });
                prop_assert_eq!(outcome.as_ref().err().map(|r| r.code()), expected.err(), "step {} {:?}", i, op);
                outcome
            }
            Op::Load { card, amount } => {
                let expected = m.load(card, amount);
                let paid_via = PaidVia::Provider { reference: "psp".into() };
                let outcome = w.voucher(VoucherCommand::LoadCard { card: CardId(card), amount: Cents(amount), paid_via });
                prop_assert_eq!(outcome.as_ref().err().map(|r| r.code()), expected.err(), "step {} {:?}", i, op);
                outcome
            }
            Op::Block { card } => {
                m.blocked.insert(card);
                w.voucher(VoucherCommand::BlockCard { card: CardId(card) })
            }
            Op::Revoke { device } => {
                // Mostly other devices: a revoked till stays revoked for the rest of the run.
                if device > DEVICES {
                    continue;
                }
                let d = m.devices.get_mut(&device).unwrap();
                d.revoked_at.get_or_insert(w.now);
                w.voucher(VoucherCommand::RevokeDevice { device: DeviceId(device) })
            }
            Op::Sync { device, part, reversed } => {
                let d = m.devices.get_mut(&device).unwrap();
                let take = (d.journal.len() * part as usize).div_ceil(4);
                let mut batch: Vec<OfflineRedemption> = d.journal.drain(..take).collect();
                if reversed {
                    batch.reverse();
                }
                d.last_batch = Some(batch.clone());
                let (duplicates, released) = m.sync(device, &batch);
                let outcome = w.voucher(VoucherCommand::SyncOffline { device: DeviceId(device), redemptions: batch });
                let summary = synced(&outcome);
                prop_assert_eq!((summary.duplicates, summary.released.0), (duplicates, released), "step {} {:?}", i, op);
                outcome
            }
            Op::SyncAgain { device } => {
                let Some(batch) = m.devices[&device].last_batch.clone() else { continue };
                let (duplicates, released) = m.sync(device, &batch);
                let outcome = w.voucher(VoucherCommand::SyncOffline { device: DeviceId(device), redemptions: batch.clone() });
                let summary = synced(&outcome);
                prop_assert_eq!((summary.duplicates, summary.released.0), (duplicates, released), "step {} {:?}", i, op);
                if !batch.is_empty() {
                    prop_assert_eq!(summary.booked + summary.refused, 0, "a repeated sync books nothing");
                    codes.push("duplicate_sync");
                }
                outcome
            }
        };
        codes.push(match &outcome {
            Ok(Reply::Voucher(VoucherReply::Synced { summary, .. })) if summary.risk_paid.0 > 0 => "synced_with_risk",
            Ok(Reply::Voucher(VoucherReply::Synced { summary, .. })) if summary.unpaid.0 > 0 => "synced_with_unpaid",
            Ok(_) => "ok",
            Err(rejection) => rejection.code(),
        });
        // Everything the model knows, after every step.
        for card in 1..=CARDS {
            prop_assert_eq!(w.balance(card), m.balances[&card], "card {} after step {} {:?}", card, i, op);
        }
        prop_assert_eq!(payable(&w), m.payable, "payable after step {}", i);
        prop_assert_eq!(risk_account(&w), -m.lost, "risk account after step {}", i);
        let v = w.tenant.vouchers();
        prop_assert_eq!(v.risk_entries().len(), m.risk_entries);
        for (id, expected) in &m.records {
            let record = v.offline_redemption(RedemptionId(*id)).expect("synced");
            let got = match record.outcome {
                OfflineOutcome::Booked { card_part, risk_part, unpaid, .. } => Ok((card_part.0, risk_part.0, unpaid.0)),
                OfflineOutcome::Refused(why) => Err(why.code()),
            };
            prop_assert_eq!(&got, expected, "offline redemption {}", id);
        }
        for d in 1..=DEVICES {
            let open = v.open_allowance(w.tenant.ledger(), DeviceId(d)).map(|a| (a.reservation, a.amount.0));
            prop_assert_eq!(open, m.open(d).map(|a| (a.id, a.amount)), "device {} allowance after step {}", d, i);
        }
        let exposure = v.offline_exposure(w.tenant.ledger(), ProgrammeId(1)).unwrap();
        prop_assert_eq!(exposure, OfflineExposure { bound: Cents(OPEN_MAX), open: Cents(m.open_sum()), lost: Cents(m.lost) });
        prop_assert!(exposure.open <= exposure.bound);
    }
    w.crash(true);
    w.crash(false);
    Ok(codes)
}

proptest! {
    #![proptest_config(Config { cases: 128, failure_persistence: None, ..Config::default() })]

    /// Random offline sessions agree with the model after every step; crashes at
    /// random points recover to the same tenant.
    #[test]
    fn random_offline_sessions_agree_with_the_model_and_survive_crashes(ops in prop::collection::vec(op(), 1..100)) {
        run(&ops)?;
    }
}

#[test]
fn the_random_offline_workload_reaches_the_cases_that_matter() {
    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(op(), 60..100);
    let mut seen = BTreeSet::new();
    for _ in 0..100 {
        let ops = strategy.new_tree(&mut runner).expect("a workload").current();
        seen.extend(run(&ops).expect("the property holds"));
    }
    let wanted = [
        "ok",
        "synced_with_risk",
        "synced_with_unpaid",
        "duplicate_sync",
        "crash_snapshot",
        "crash_replay",
        "allowance_open",
        "risk_bound_reached",
        "amount_invalid",
        "expiry_invalid",
        "device_revoked",
        "insufficient_balance",
        "card_blocked",
    ];
    let missing: Vec<&str> = wanted.iter().copied().filter(|c| !seen.contains(c)).collect();
    assert!(missing.is_empty(), "the workload never reached {missing:?}");
}

/// A settlement pays the shop what the sync put on its payable: the card's part and
/// the allowance's part of every synced offline redemption, counted by sync time, so
/// after settling the payable is empty and a later sync falls into the next period.
#[test]
fn a_settlement_pays_out_synced_offline_redemptions_and_empties_the_payable() {
    let mut w = World::new();
    setup(&mut w);
    let start = TimeMs(START);
    w.voucher(VoucherCommand::GrantAllowance {
        device: DeviceId(1),
        programme: ProgrammeId(1),
        amount: Cents(3_000),
        expires_at: TimeMs(w.now + 8 * HOUR),
    })
    .unwrap();
    let t_offline = w.now + HOUR;
    w.now += 2 * HOUR;
    // Card 1 (50.00) is spent online first, then offline beyond what it has left.
    let online = w.voucher(VoucherCommand::Redeem {
        redemption: RedemptionId(1),
        card: CardId(1),
        merchant: MerchantId(1),
        device: DeviceId(3),
        amount: Cents(3_000),
        pin_digest: None,
    });
    assert!(online.is_ok(), "{online:?}");
    let batch = vec![offline(100, 1, 1, 4_000, t_offline), offline(101, 2, 2, 1_200, t_offline + MINUTE)];
    let summary = synced(&w.voucher(VoucherCommand::SyncOffline { device: DeviceId(1), redemptions: batch }));
    assert_eq!((summary.card_paid, summary.risk_paid), (Cents(3_200), Cents(2_000)));
    assert_eq!(payable(&w), 3_000 + 5_200);
    let until = TimeMs(w.now + 1);
    w.now += HOUR;
    let settled = w.voucher(VoucherCommand::Settle { programme: ProgrammeId(1), merchant: MerchantId(1), from: start, until });
    let Ok(Reply::Voucher(VoucherReply::Settled { amount, .. })) = settled else { panic!("{settled:?}") };
    assert_eq!(amount, Cents(3_000 + 4_000 + 1_200), "the online redemption and both offline ones, overspend included");
    assert_eq!(payable(&w), 0, "nothing is left unpaid on the payable");
    // A later sync counts in the next period, not the settled one.
    w.voucher(VoucherCommand::GrantAllowance {
        device: DeviceId(1),
        programme: ProgrammeId(1),
        amount: Cents(1_000),
        expires_at: TimeMs(w.now + 8 * HOUR),
    })
    .unwrap();
    let later = vec![offline(102, 3, 2, 500, w.now)];
    w.now += MINUTE;
    synced(&w.voucher(VoucherCommand::SyncOffline { device: DeviceId(1), redemptions: later }));
    let next_until = TimeMs(w.now + 1);
    w.now += HOUR;
    let next = w.voucher(VoucherCommand::Settle { programme: ProgrammeId(1), merchant: MerchantId(1), from: until, until: next_until });
    let Ok(Reply::Voucher(VoucherReply::Settled { amount, .. })) = next else { panic!("{next:?}") };
    assert_eq!(amount, Cents(500));
    assert_eq!(payable(&w), 0);
    w.crash(true);
    w.crash(false);
}
