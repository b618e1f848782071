//! Voucher programmes, merchants, devices and cards (`sturmfest_core::vouchers`),
//! driven through `Tenant::apply` so the wiring, the ledger underneath and the
//! snapshot are tested with them.
//!
//! A text scenario walks a city voucher through its life — a programme, a shop in
//! it, a till, a printed batch sold for cash and a digital card paid online, loads up
//! to the balance maximum, partial and PIN-protected redemptions with a lockout,
//! reversals inside and outside the window, a lost card blocked and its balance
//! moved, a refund, and expiry at the start of the fourth year after the sale — with
//! the transcript held as an inline `expect!` snapshot. After every line the runner
//! checks every invariant (ledger and vouchers) and that a snapshot restores an equal
//! tenant; at the end it replays the script into a fresh tenant.
//!
//! A property test throws random sequences (activate, load, redeem with right, wrong
//! or no PIN, reverse, refund, block, move, revoke, expire, tick, small time steps and
//! jumps to the next expiry) at two programmes, two shops, three tills and eight cards,
//! and checks every reply's code, every card's balance and state, the expired value,
//! the liability and a merchant's redemptions in a time range against a small
//! reference model written independently of the core, the invariants after every
//! step, a snapshot in the middle and at the end, and that replaying the recorded
//! commands rebuilds an equal tenant. A guard test proves the workload reaches every
//! reply and the rejections that matter, so the property cannot pass vacuously.
//!
//! The scenario language (`#` starts a comment; a line without `at` keeps the time;
//! amounts in euros with two decimals; times `YYYY-MM-DDTHH:MM` UTC):
//!
//! ```text
//! programme 1 Stadtgutschein max 250.00 load 150.00 offline 20.00 window 600s
//! merchant 7 Buchladen iban DE89370400440532013000 | accept 7 1
//! device 70 merchant 7 | revoke 70
//! issue 1 batch 1 printed 101 102:1234    # card 102 has PIN 1234
//! at 2026-06-15T10:00 activate 101 50.00 cash 3 [expires 2031-01-01T00:00]
//! load 101 20.00 provider psp-1 | redeem r1 101 at 7 on 70 12.50 [pin 1234]
//! reverse r1 by 7 | refund 101 5.00 ref-9 | block 101 | move 101 to 102 | expire | tick
//! show 101 | show liability 1 | show redemptions 7
//! ```

use std::collections::BTreeMap;

use expect_test::{Expect, expect};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use sturmfest_core::ledger::{AccountId, AccountKind, LedgerCommand, TransferId};
use sturmfest_core::vouchers::*;
use sturmfest_core::*;

// ----- dates, written independently of the core's own calendar -----

/// Days since 1970-01-01 of a civil date, by counting (slow and obviously right).
fn days_of(year: i64, month: i64, day: i64) -> i64 {
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = 0;
    for y in 1970..year {
        days += if leap(y) { 366 } else { 365 };
    }
    let lengths = [31, if leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    days + lengths[..(month - 1) as usize].iter().sum::<i64>() + day - 1
}

/// `YYYY-MM-DDTHH:MM` in UTC.
fn parse_time(text: &str) -> i64 {
    let (date, time) = text.split_once('T').expect("YYYY-MM-DDTHH:MM");
    let d: Vec<i64> = date.split('-').map(|p| p.parse().expect("date")).collect();
    let t: Vec<i64> = time.split(':').map(|p| p.parse().expect("time")).collect();
    (days_of(d[0], d[1], d[2]) * 24 * 60 + t[0] * 60 + t[1]) * 60_000
}

/// The UTC year of an instant, by counting years.
fn year_of(ms: i64) -> i64 {
    let mut year = 1970;
    while days_of(year + 1, 1, 1) * 86_400_000 <= ms {
        year += 1;
    }
    year
}

/// What the edge would send for a sale at `now` in UTC: the start of year + 4.
fn expiry_after_sale(now: i64) -> TimeMs {
    TimeMs(days_of(year_of(now) + 4, 1, 1) * 86_400_000)
}

fn euros(text: &str) -> Cents {
    let (whole, cents) = text.split_once('.').expect("amounts are written 12.50");
    Cents(whole.parse::<i64>().expect("euros") * 100 + cents.parse::<i64>().expect("cents"))
}

fn code_digest(card: u64) -> [u8; 32] {
    let mut d = [0xC0; 32];
    d[..8].copy_from_slice(&card.to_be_bytes());
    d
}

fn pin_digest(pin: &str) -> [u8; 32] {
    let mut d = [0x50; 32];
    for (i, b) in pin.bytes().enumerate() {
        d[i % 32] ^= b;
    }
    d
}

fn code_of(outcome: &Outcome) -> &'static str {
    match outcome {
        Ok(_) => "ok",
        Err(rejection) => rejection.code(),
    }
}

// ----- the tenant under test -----

struct World {
    tenant: Tenant,
    now: i64,
    envelopes: Vec<Envelope>,
    outcomes: Vec<Outcome>,
}

impl World {
    fn new(now: i64) -> World {
        World { tenant: Tenant::new(), now, envelopes: Vec::new(), outcomes: Vec::new() }
    }

    /// Applies, then checks every invariant and that a snapshot restores an equal tenant.
    fn send(&mut self, command: Command) -> Outcome {
        let envelope = Envelope { time: TimeMs(self.now), idempotency: None, command };
        let outcome = self.tenant.apply(&envelope);
        self.tenant.check_invariants();
        self.envelopes.push(envelope);
        self.outcomes.push(outcome.clone());
        outcome
    }

    fn voucher(&mut self, command: VoucherCommand) -> Outcome {
        self.send(Command::Voucher(command))
    }

    fn snapshot_round_trip(&self) {
        let restored = Tenant::restore(self.tenant.parts()).expect("a snapshot of a healthy tenant restores");
        assert_eq!(restored, self.tenant, "the snapshot round trip loses nothing");
    }

    fn replayed(&self) -> Tenant {
        let mut tenant = Tenant::new();
        for (envelope, outcome) in self.envelopes.iter().zip(&self.outcomes) {
            assert_eq!(&tenant.apply(envelope), outcome, "replay answers like the original");
        }
        tenant
    }

    fn balance(&self, card: u64) -> Cents {
        self.tenant.vouchers().balance(self.tenant.ledger(), CardId(card)).expect("a known card")
    }
}

// ----- the scenario -----

fn check(script: &str, expect: Expect) {
    let mut world = World::new(0);
    let mut out = String::new();
    for line in script.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut rest = line;
        if let Some(after) = rest.strip_prefix("at ") {
            let (time, tail) = after.split_once(' ').unwrap_or((after, ""));
            world.now = parse_time(time);
            rest = tail.trim();
        }
        let w: Vec<&str> = rest.split_whitespace().collect();
        let text = if w[0] == "show" {
            show(&world, &w)
        } else {
            let command = command(&world, &w);
            match world.voucher(command) {
                Ok(Reply::Voucher(reply)) => fmt_reply(&reply),
                Ok(other) => panic!("not a voucher reply: {other:?}"),
                Err(rejection) => rejection.code().to_string(),
            }
        };
        world.snapshot_round_trip();
        out.push_str(&format!("{line} -> {text}\n"));
    }
    assert_eq!(world.replayed(), world.tenant, "replay rebuilds the tenant");
    expect.assert_eq(&out);
}

fn option<'a>(w: &[&'a str], name: &str) -> Option<&'a str> {
    w.iter().position(|t| *t == name).map(|i| w[i + 1])
}

fn paid_via(w: &[&str]) -> PaidVia {
    match option(w, "cash") {
        Some(point) => PaidVia::Cash { sales_point: SalesPointId(point.parse().expect("a sales point")) },
        None => PaidVia::Provider { reference: option(w, "provider").expect("cash N or provider REF").to_string() },
    }
}

fn number<T: std::str::FromStr>(text: &str) -> T {
    text.trim_start_matches('r').parse().unwrap_or_else(|_| panic!("a number, not {text}"))
}

fn command(world: &World, w: &[&str]) -> VoucherCommand {
    let card = |i: usize| CardId(number(w[i]));
    match w[0] {
        "programme" => VoucherCommand::CreateProgramme {
            id: ProgrammeId(number(w[1])),
            name: w[2].to_string(),
            limits: ProgrammeLimits {
                card_balance_cents_max: euros(option(w, "max").expect("max")),
                load_cents_max: euros(option(w, "load").expect("load")),
                card_offline_cents_max: euros(option(w, "offline").expect("offline")),
                reversal_window_ms: number::<i64>(option(w, "window").expect("window").trim_end_matches('s')) * 1000,
            },
            expiry: ExpiryRule::EndOfThirdYearAfterSale,
        },
        "merchant" => VoucherCommand::CreateMerchant {
            id: MerchantId(number(w[1])),
            name: w[2].to_string(),
            iban: option(w, "iban").expect("iban").to_string(),
        },
        "accept" => VoucherCommand::AcceptMerchant { merchant: MerchantId(number(w[1])), programme: ProgrammeId(number(w[2])) },
        "device" => {
            let id: u64 = number(w[1]);
            VoucherCommand::RegisterDevice {
                device: DeviceId(id),
                merchant: MerchantId(number(option(w, "merchant").expect("merchant"))),
                public_key: [id as u8; 32],
            }
        }
        "revoke" => VoucherCommand::RevokeDevice { device: DeviceId(number(w[1])) },
        "issue" => VoucherCommand::IssueCards {
            programme: ProgrammeId(number(w[1])),
            batch: BatchId(number(option(w, "batch").expect("batch"))),
            medium: if w[4] == "digital" { CardMedium::Digital } else { CardMedium::Printed },
            cards: w[5..]
                .iter()
                .map(|c| {
                    let (id, pin) = c.split_once(':').map_or((*c, None), |(id, pin)| (id, Some(pin)));
                    let id: u64 = number(id);
                    NewCard { id: CardId(id), code_digest: code_digest(id), pin_digest: pin.map(pin_digest) }
                })
                .collect(),
        },
        "activate" => VoucherCommand::ActivateCard {
            card: card(1),
            amount: euros(w[2]),
            paid_via: paid_via(w),
            expires_at: option(w, "expires").map_or(expiry_after_sale(world.now), |t| TimeMs(parse_time(t))),
        },
        "load" => VoucherCommand::LoadCard { card: card(1), amount: euros(w[2]), paid_via: paid_via(w) },
        "redeem" => VoucherCommand::Redeem {
            redemption: RedemptionId(number(w[1])),
            card: card(2),
            merchant: MerchantId(number(option(w, "at").expect("at"))),
            device: DeviceId(number(option(w, "on").expect("on"))),
            amount: euros(w[7]),
            pin_digest: option(w, "pin").map(pin_digest),
        },
        "reverse" => VoucherCommand::ReverseRedemption {
            redemption: RedemptionId(number(w[1])),
            merchant: MerchantId(number(option(w, "by").expect("by"))),
        },
        "refund" => VoucherCommand::RefundCard { card: card(1), amount: euros(w[2]), reference: w[3].to_string() },
        "block" => VoucherCommand::BlockCard { card: card(1) },
        "move" => VoucherCommand::MoveBalance { from: card(1), to: card(3) },
        "expire" => VoucherCommand::ExpireCards,
        // settle PROGRAMME MERCHANT FROM UNTIL
        "settle" => VoucherCommand::Settle {
            programme: ProgrammeId(number(w[1])),
            merchant: MerchantId(number(w[2])),
            from: TimeMs(parse_time(w[3])),
            until: TimeMs(parse_time(w[4])),
        },
        other => panic!("unknown statement {other}"),
    }
}

fn show(world: &World, w: &[&str]) -> String {
    let v = world.tenant.vouchers();
    let ledger = world.tenant.ledger();
    match w[1] {
        "liability" => {
            let programme = ProgrammeId(number(w[2]));
            let expired = ledger.account(programme_account(programme, AccountKind::ExpiredValue)).unwrap().balance();
            format!("owed to holders {}, expired {expired}", v.liability(ledger, programme))
        }
        "redemptions" => {
            let merchant = MerchantId(number(w[2]));
            let listed: Vec<String> = v
                .redemptions_of(merchant, TimeMs(0), TimeMs(i64::MAX))
                .map(|r| format!("r{} {}{}", r.id.0, r.amount, if r.reversal.is_some() { " reversed" } else { "" }))
                .collect();
            let payable: i64 = v
                .merchant(merchant)
                .unwrap()
                .programmes
                .iter()
                .map(|p| ledger.account(payable_account(*p, merchant)).unwrap().balance().0)
                .sum();
            format!("[{}], owed {}", listed.join(", "), Cents(payable))
        }
        id => {
            let card = CardId(number(id));
            let state = v.state_at(card, TimeMs(world.now)).expect("a known card");
            format!("{} {} (pin failures {})", state.code(), world.balance(card.0), v.card(card).unwrap().pin_failures)
        }
    }
}

fn fmt_reply(reply: &VoucherReply) -> String {
    use VoucherReply::*;
    match *reply {
        ProgrammeCreated { programme } => format!("programme {}", programme.0),
        MerchantCreated { merchant } => format!("merchant {}", merchant.0),
        MerchantAccepted { merchant, programme } => format!("merchant {} in programme {}", merchant.0, programme.0),
        DeviceRegistered { device } => format!("device {}", device.0),
        DeviceRevoked { device } => format!("device {} revoked", device.0),
        CardsIssued { batch, cards } => format!("batch {}: {cards} cards", batch.0),
        CardActivated { card, balance, expires_at } => {
            format!("card {} active with {balance}, expires at the start of {}", card.0, year_of(expires_at.0))
        }
        CardLoaded { card, balance } => format!("card {} holds {balance}", card.0),
        Redeemed { redemption, card, amount, balance } => {
            format!("r{} took {amount} from card {}, {balance} left", redemption.0, card.0)
        }
        PinRefused { card, attempts_left } => format!("wrong PIN for card {}, {attempts_left} attempts left", card.0),
        Reversed { redemption, amount, balance } => format!("r{} reversed: {amount} back, card holds {balance}", redemption.0),
        CardRefunded { card, amount, balance } => format!("card {} refunded {amount}, {balance} left", card.0),
        CardBlocked { card } => format!("card {} blocked", card.0),
        BalanceMoved { from, to, amount } => format!("{amount} moved from card {} to card {}", from.0, to.0),
        CardsExpired { cards, value } => format!("{cards} cards expired, {value} booked as expired value"),
        OfflineConfigured { programme } => format!("programme {} redeems offline", programme.0),
        AllowanceGranted { device, amount, .. } => format!("device {} may redeem {amount} offline", device.0),
        Synced { device, summary } => format!("device {} synced {} redemptions", device.0, summary.booked),
        Settled { settlement, amount } => format!("settlement {} pays {amount}", settlement.0),
        Purchase(p) => format!("purchase {} for card {}: {}", p.purchase.0, p.card.0, p.status.code()),
        DesignSet { programme } => format!("programme {} has a new design", programme.0),
    }
}

#[test]
fn a_city_voucher_is_sold_loaded_redeemed_reversed_blocked_moved_refunded_and_expires() {
    check(
        r#"
programme 1 Stadtgutschein max 250.00 load 150.00 offline 20.00 window 600s
programme 2 Nachbarstadt max 100.00 load 100.00 offline 20.00 window 600s
merchant 7 Buchladen iban DE89370400440532013000
merchant 8 Café iban DE8937                  # the edge checks IBANs; the core bounds their shape
merchant 8 Café iban DE02120300000000202051
accept 7 1
accept 7 1                                    # accepting twice answers the same
device 70 merchant 7
issue 1 batch 1 printed 101 102:1234 103
issue 1 batch 2 printed 104 101               # 101 exists: nothing of batch 2 is issued
issue 2 batch 3 digital 201
at 2026-06-15T10:00 redeem r1 101 at 7 on 70 5.00   # printed cards are inactive until sold
activate 101 50.00 cash 3 expires 2029-01-01T00:00  # a year short of the limitation period
activate 101 50.00 cash 3
activate 101 50.00 cash 3                     # sold once
activate 102 150.01 provider psp-1            # over the programme's load max
activate 102 150.00 provider psp-1
load 102 100.00 provider psp-2                # exactly the balance max
load 102 0.01 provider psp-3                  # a cent over: the card's ledger account refuses
redeem r1 101 at 7 on 70 12.50                # partial: the rest stays on the card
redeem r1 101 at 7 on 70 12.50                # a retry: the first reply again
redeem r1 101 at 7 on 70 12.00
redeem r2 101 at 7 on 70 40.00                # more than the card holds
redeem r3 102 at 7 on 70 10.00
redeem r3 102 at 7 on 70 10.00 pin 9999
redeem r3 102 at 7 on 70 10.00 pin 1234       # a right PIN resets the count
show 102
redeem r4 201 at 7 on 70 1.00                 # shop 7 is not in programme 2
show redemptions 7
at 2026-06-15T10:05 reverse r1 by 8
reverse r1 by 7
reverse r1 by 7                               # at most once: the first reply again
at 2026-06-15T10:20 reverse r3 by 7           # the 600 s window has closed
redeem r5 102 at 7 on 70 1.00 pin 0000
redeem r6 102 at 7 on 70 1.00 pin 0000
redeem r7 102 at 7 on 70 1.00 pin 0000        # the third wrong PIN blocks the card
redeem r8 102 at 7 on 70 1.00 pin 1234
show 102
move 102 to 101                               # 101 cannot take 240.00 on top of 50.00
activate 103 10.00 cash 3
move 102 to 103
move 102 to 103                               # nothing left to move
refund 103 100.00 ref-9
show 103
revoke 70
redeem r9 103 at 7 on 70 1.00
show liability 1
show redemptions 7
at 2029-12-31T23:59 show 101
at 2030-01-01T00:00 show 101                  # due: shown (and refused) as expired before it is booked
expire                                        # the value is booked as expired, never deleted
load 101 1.00 cash 3
show 101
show liability 1
"#,
        expect![[r#"
            programme 1 Stadtgutschein max 250.00 load 150.00 offline 20.00 window 600s -> programme 1
            programme 2 Nachbarstadt max 100.00 load 100.00 offline 20.00 window 600s -> programme 2
            merchant 7 Buchladen iban DE89370400440532013000 -> merchant 7
            merchant 8 Café iban DE8937 -> iban_invalid
            merchant 8 Café iban DE02120300000000202051 -> merchant 8
            accept 7 1 -> merchant 7 in programme 1
            accept 7 1 -> merchant 7 in programme 1
            device 70 merchant 7 -> device 70
            issue 1 batch 1 printed 101 102:1234 103 -> batch 1: 3 cards
            issue 1 batch 2 printed 104 101 -> card_exists
            issue 2 batch 3 digital 201 -> batch 3: 1 cards
            at 2026-06-15T10:00 redeem r1 101 at 7 on 70 5.00 -> card_inactive
            activate 101 50.00 cash 3 expires 2029-01-01T00:00 -> expiry_invalid
            activate 101 50.00 cash 3 -> card 101 active with 50.00, expires at the start of 2030
            activate 101 50.00 cash 3 -> card_not_inactive
            activate 102 150.01 provider psp-1 -> load_too_large
            activate 102 150.00 provider psp-1 -> card 102 active with 150.00, expires at the start of 2030
            load 102 100.00 provider psp-2 -> card 102 holds 250.00
            load 102 0.01 provider psp-3 -> ceiling_exceeded
            redeem r1 101 at 7 on 70 12.50 -> r1 took 12.50 from card 101, 37.50 left
            redeem r1 101 at 7 on 70 12.50 -> r1 took 12.50 from card 101, 37.50 left
            redeem r1 101 at 7 on 70 12.00 -> redemption_id_reused
            redeem r2 101 at 7 on 70 40.00 -> insufficient_balance
            redeem r3 102 at 7 on 70 10.00 -> pin_required
            redeem r3 102 at 7 on 70 10.00 pin 9999 -> wrong PIN for card 102, 2 attempts left
            redeem r3 102 at 7 on 70 10.00 pin 1234 -> r3 took 10.00 from card 102, 240.00 left
            show 102 -> active 240.00 (pin failures 0)
            redeem r4 201 at 7 on 70 1.00 -> merchant_not_accepted
            show redemptions 7 -> [r1 12.50, r3 10.00], owed 22.50
            at 2026-06-15T10:05 reverse r1 by 8 -> redemption_of_other_merchant
            reverse r1 by 7 -> r1 reversed: 12.50 back, card holds 50.00
            reverse r1 by 7 -> r1 reversed: 12.50 back, card holds 50.00
            at 2026-06-15T10:20 reverse r3 by 7 -> reversal_window_closed
            redeem r5 102 at 7 on 70 1.00 pin 0000 -> wrong PIN for card 102, 2 attempts left
            redeem r6 102 at 7 on 70 1.00 pin 0000 -> wrong PIN for card 102, 1 attempts left
            redeem r7 102 at 7 on 70 1.00 pin 0000 -> wrong PIN for card 102, 0 attempts left
            redeem r8 102 at 7 on 70 1.00 pin 1234 -> card_blocked
            show 102 -> blocked 240.00 (pin failures 3)
            move 102 to 101 -> ceiling_exceeded
            activate 103 10.00 cash 3 -> card 103 active with 10.00, expires at the start of 2030
            move 102 to 103 -> 240.00 moved from card 102 to card 103
            move 102 to 103 -> nothing_to_move
            refund 103 100.00 ref-9 -> card 103 refunded 100.00, 150.00 left
            show 103 -> active 150.00 (pin failures 0)
            revoke 70 -> device 70 revoked
            redeem r9 103 at 7 on 70 1.00 -> device_revoked
            show liability 1 -> owed to holders 200.00, expired 0.00
            show redemptions 7 -> [r1 12.50 reversed, r3 10.00], owed 10.00
            at 2029-12-31T23:59 show 101 -> active 50.00 (pin failures 0)
            at 2030-01-01T00:00 show 101 -> expired 50.00 (pin failures 0)
            expire -> 3 cards expired, 200.00 booked as expired value
            load 101 1.00 cash 3 -> card_expired
            show 101 -> expired 0.00 (pin failures 0)
            show liability 1 -> owed to holders 0.00, expired 200.00
        "#]],
    );
}

/// Settlement tiles a merchant's time: the first period starts no later than the
/// merchant was created, each next one where the last ended; a reversal counts in the
/// period it happened; a retry gets the first reply; a period not yet over, a gap, an
/// overlap and a net-negative period are refused; an empty period still moves the
/// cursor. The payable keeps exactly what later periods will pay.
#[test]
fn settlement_periods_tile_a_merchants_time_and_pay_each_redemption_once() {
    check(
        r#"
at 2026-11-01T00:00 programme 1 Stadtgutschein max 250.00 load 150.00 offline 20.00 window 86400s
merchant 7 Buchladen iban DE89370400440532013000
accept 7 1
device 70 merchant 7
issue 1 batch 1 printed 101 102
at 2026-11-10T09:00 activate 101 100.00 cash 3
activate 102 100.00 cash 3
redeem r1 101 at 7 on 70 30.00
redeem r2 102 at 7 on 70 12.50
at 2026-11-30T22:00 redeem r3 101 at 7 on 70 5.00   # the last hour of November in Berlin
settle 1 7 2026-10-31T23:00 2026-11-30T23:00      # November is not over yet
at 2026-11-30T23:30 reverse r3 by 7                # reversed in December, Berlin time
settle 1 7 2026-11-02T00:00 2026-11-30T23:00      # starts after the merchant was created
settle 1 7 2026-10-31T23:00 2026-11-30T23:00
settle 1 7 2026-10-31T23:00 2026-11-30T23:00      # a retry: the first reply
show redemptions 7
settle 1 7 2026-11-15T00:00 2026-11-30T23:30      # overlaps November
at 2026-12-31T23:00 settle 1 7 2026-12-01T00:00 2026-12-31T23:00  # leaves an hour unsettled
settle 1 7 2026-11-30T23:00 2026-12-31T23:00      # r3's reversal was counted in November
at 2027-01-31T22:00 redeem r4 101 at 7 on 70 20.00
at 2027-01-31T23:00 settle 1 7 2026-12-31T23:00 2027-01-31T23:00
at 2027-02-01T08:00 reverse r4 by 7                # paid out: the payable cannot give it back
at 2027-02-01T09:00 redeem r5 102 at 7 on 70 25.00
at 2027-02-01T10:00 reverse r4 by 7                # now it can, after January was settled
at 2027-02-28T23:00 settle 1 7 2027-01-31T23:00 2027-02-28T23:00  # 25.00 redeemed, 20.00 reversed
at 2027-03-10T10:00 redeem r6 102 at 7 on 70 10.00
reverse r6 by 7
at 2027-03-31T22:00 settle 1 7 2027-02-28T23:00 2027-03-31T22:00  # nothing left: recorded as zero
show redemptions 7
"#,
        expect![[r#"
            at 2026-11-01T00:00 programme 1 Stadtgutschein max 250.00 load 150.00 offline 20.00 window 86400s -> programme 1
            merchant 7 Buchladen iban DE89370400440532013000 -> merchant 7
            accept 7 1 -> merchant 7 in programme 1
            device 70 merchant 7 -> device 70
            issue 1 batch 1 printed 101 102 -> batch 1: 2 cards
            at 2026-11-10T09:00 activate 101 100.00 cash 3 -> card 101 active with 100.00, expires at the start of 2030
            activate 102 100.00 cash 3 -> card 102 active with 100.00, expires at the start of 2030
            redeem r1 101 at 7 on 70 30.00 -> r1 took 30.00 from card 101, 70.00 left
            redeem r2 102 at 7 on 70 12.50 -> r2 took 12.50 from card 102, 87.50 left
            at 2026-11-30T22:00 redeem r3 101 at 7 on 70 5.00 -> r3 took 5.00 from card 101, 65.00 left
            settle 1 7 2026-10-31T23:00 2026-11-30T23:00 -> period_not_over
            at 2026-11-30T23:30 reverse r3 by 7 -> r3 reversed: 5.00 back, card holds 70.00
            settle 1 7 2026-11-02T00:00 2026-11-30T23:00 -> period_gap
            settle 1 7 2026-10-31T23:00 2026-11-30T23:00 -> settlement 1 pays 42.50
            settle 1 7 2026-10-31T23:00 2026-11-30T23:00 -> settlement 1 pays 42.50
            show redemptions 7 -> [r1 30.00, r2 12.50, r3 5.00 reversed], owed 0.00
            settle 1 7 2026-11-15T00:00 2026-11-30T23:30 -> period_already_settled
            at 2026-12-31T23:00 settle 1 7 2026-12-01T00:00 2026-12-31T23:00 -> period_gap
            settle 1 7 2026-11-30T23:00 2026-12-31T23:00 -> settlement 2 pays 0.00
            at 2027-01-31T22:00 redeem r4 101 at 7 on 70 20.00 -> r4 took 20.00 from card 101, 50.00 left
            at 2027-01-31T23:00 settle 1 7 2026-12-31T23:00 2027-01-31T23:00 -> settlement 3 pays 20.00
            at 2027-02-01T08:00 reverse r4 by 7 -> insufficient_balance
            at 2027-02-01T09:00 redeem r5 102 at 7 on 70 25.00 -> r5 took 25.00 from card 102, 62.50 left
            at 2027-02-01T10:00 reverse r4 by 7 -> r4 reversed: 20.00 back, card holds 70.00
            at 2027-02-28T23:00 settle 1 7 2027-01-31T23:00 2027-02-28T23:00 -> settlement 4 pays 5.00
            at 2027-03-10T10:00 redeem r6 102 at 7 on 70 10.00 -> r6 took 10.00 from card 102, 52.50 left
            reverse r6 by 7 -> r6 reversed: 10.00 back, card holds 62.50
            at 2027-03-31T22:00 settle 1 7 2027-02-28T23:00 2027-03-31T22:00 -> settlement 5 pays 0.00
            show redemptions 7 -> [r1 30.00, r2 12.50, r3 5.00 reversed, r4 20.00 reversed, r5 25.00, r6 10.00 reversed], owed 0.00
        "#]],
    );
}

#[test]
fn raw_ledger_commands_cannot_touch_voucher_accounts() {
    let mut w = World::new(parse_time("2026-06-15T10:00"));
    let limits = ProgrammeLimits {
        card_balance_cents_max: Cents(10_000),
        load_cents_max: Cents(10_000),
        card_offline_cents_max: Cents(1_000),
        reversal_window_ms: 60_000,
    };
    let create = VoucherCommand::CreateProgramme { id: ProgrammeId(1), name: "Stadt".into(), limits, expiry: ExpiryRule::EndOfThirdYearAfterSale };
    assert_eq!(code_of(&w.voucher(create)), "ok");
    let card = NewCard { id: CardId(5), code_digest: code_digest(5), pin_digest: None };
    let issue = VoucherCommand::IssueCards { programme: ProgrammeId(1), batch: BatchId(1), medium: CardMedium::Digital, cards: vec![card] };
    assert_eq!(code_of(&w.voucher(issue)), "ok");
    let clearing = programme_account(ProgrammeId(1), AccountKind::ProviderClearing);
    // A raw transfer would put value on an inactive card behind the voucher domain's back.
    let raw = LedgerCommand::Transfer { id: TransferId(1), debit: clearing, credit: card_account(CardId(5)), amount: Cents(100) };
    assert_eq!(code_of(&w.send(Command::Ledger(raw))), "invalid_request");
    let own = LedgerCommand::CreateAccount { id: AccountId(9), programme: ProgrammeId(1), kind: AccountKind::Issuer, ceiling: None };
    assert_eq!(code_of(&w.send(Command::Ledger(own))), "ok", "the client's own accounts stay open to raw commands");
    let funded = LedgerCommand::Transfer { id: TransferId(2), debit: AccountId(9), credit: card_account(CardId(5)), amount: Cents(100) };
    assert_eq!(code_of(&w.send(Command::Ledger(funded))), "invalid_request");
    assert_eq!(w.balance(5), Cents::ZERO);
    assert_eq!(w.tenant.vouchers().card_by_code(&code_digest(5)).map(|c| c.id), Some(CardId(5)));
    assert_eq!(w.tenant.next_expiry(), None, "an inactive card has no expiry yet");
    for wild in [i64::MIN, i64::MAX, 0, expiry_after_sale(w.now).0 + 15 * 3_600_000] {
        let paid_via = PaidVia::Cash { sales_point: SalesPointId(1) };
        let activate = VoucherCommand::ActivateCard { card: CardId(5), amount: Cents(1), paid_via, expires_at: TimeMs(wild) };
        assert_eq!(code_of(&w.voucher(activate)), "expiry_invalid", "expires_at {wild}");
    }
}

#[test]
fn restore_refuses_voucher_state_that_disagrees_with_the_ledger() {
    let mut w = World::new(parse_time("2026-06-15T10:00"));
    let limits = ProgrammeLimits {
        card_balance_cents_max: Cents(10_000),
        load_cents_max: Cents(10_000),
        card_offline_cents_max: Cents(1_000),
        reversal_window_ms: 60_000,
    };
    w.voucher(VoucherCommand::CreateProgramme { id: ProgrammeId(1), name: "Stadt".into(), limits, expiry: ExpiryRule::EndOfThirdYearAfterSale }).unwrap();
    let cards = vec![NewCard { id: CardId(5), code_digest: code_digest(5), pin_digest: None }];
    w.voucher(VoucherCommand::IssueCards { programme: ProgrammeId(1), batch: BatchId(1), medium: CardMedium::Printed, cards }).unwrap();
    let expires_at = expiry_after_sale(w.now);
    let paid_via = PaidVia::Cash { sales_point: SalesPointId(1) };
    w.voucher(VoucherCommand::ActivateCard { card: CardId(5), amount: Cents(2_000), paid_via, expires_at }).unwrap();
    for wild in [i64::MIN, i64::MAX, 0] {
        let paid_via = PaidVia::Cash { sales_point: SalesPointId(1) };
        let activate = VoucherCommand::ActivateCard { card: CardId(5), amount: Cents(1), paid_via, expires_at: TimeMs(wild) };
        assert_eq!(code_of(&w.voucher(activate)), "card_not_inactive", "the card was sold above");
    }
    let parts = w.tenant.parts();

    let mut richer = parts.clone();
    richer.vouchers.bookings[0].amount.0 += 1;
    let why = Tenant::restore(richer).expect_err("a journal that disagrees with the ledger");
    assert!(why.contains("vouchers"), "{why}");

    let mut asleep = parts.clone();
    asleep.vouchers.cards[0].state = CardState::Inactive;
    assert!(Tenant::restore(asleep).is_err(), "an inactive card holding value");

    let mut forgotten = parts;
    forgotten.vouchers.bookings.clear();
    assert!(Tenant::restore(forgotten).is_err(), "value on a card without a booking");
}

// ----- the random workload and its reference model -----

const PROGRAMMES: [u32; 2] = [1, 2];
/// Cards 1..=6 are in programme 1 (1 and 2 with a PIN), 7 and 8 in programme 2.
const CARDS: u64 = 8;
const BALANCE_MAX: i64 = 10_000;
const LOAD_MAX: i64 = 6_000;
const WINDOW_MS: i64 = 60_000;
/// The last day of a year, so a test crosses a year end; expiry is four years on.
const START: &str = "2026-12-31T20:00";

fn programme_of(card: u64) -> u32 {
    if card <= 6 { 1 } else { 2 }
}

fn has_pin(card: u64) -> bool {
    card <= 2
}

fn right_pin(card: u64) -> [u8; 32] {
    pin_digest(&format!("{card:04}"))
}

#[derive(Clone, Copy, Debug)]
enum Pin {
    None,
    Right,
    Wrong,
}

#[derive(Clone, Debug)]
enum Op {
    Activate { card: u64, amount: i64, cash: bool, wrong_expiry: bool },
    Load { card: u64, amount: i64, cash: bool },
    Redeem { id: u128, card: u64, merchant: u32, device: u64, amount: i64, pin: Pin },
    Reverse { id: u128, merchant: u32 },
    Refund { card: u64, amount: i64 },
    Block { card: u64 },
    Move { from: u64, to: u64 },
    Revoke { device: u64 },
    Expire,
    Tick,
    Advance { ms: i64 },
    JumpToExpiry,
}

fn op() -> impl Strategy<Value = Op> {
    let card = 1..=CARDS;
    let amount = prop_oneof![1 => Just(0i64), 8 => 1..=3_000i64, 2 => 3_000..=7_000i64];
    let pin = prop_oneof![1 => Just(Pin::None), 3 => Just(Pin::Right), 1 => Just(Pin::Wrong)];
    prop_oneof![
        4 => (card.clone(), amount.clone(), any::<bool>(), prop::bool::weighted(0.1))
            .prop_map(|(card, amount, cash, wrong_expiry)| Op::Activate { card, amount, cash, wrong_expiry }),
        2 => (card.clone(), amount.clone(), any::<bool>()).prop_map(|(card, amount, cash)| Op::Load { card, amount, cash }),
        6 => (1..=12u128, card.clone(), 1..=2u32, 1..=3u64, amount.clone(), pin)
            .prop_map(|(id, card, merchant, device, amount, pin)| Op::Redeem { id, card, merchant, device, amount, pin }),
        2 => (1..=12u128, 1..=2u32).prop_map(|(id, merchant)| Op::Reverse { id, merchant }),
        1 => (card.clone(), amount).prop_map(|(card, amount)| Op::Refund { card, amount }),
        1 => card.clone().prop_map(|card| Op::Block { card }),
        2 => (card.clone(), card).prop_map(|(from, to)| Op::Move { from, to }),
        1 => (1..=3u64).prop_map(|device| Op::Revoke { device }),
        1 => Just(Op::Expire),
        1 => Just(Op::Tick),
        3 => (0..=90_000i64).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::JumpToExpiry),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ModelState {
    Inactive,
    Active,
    Blocked,
    Expired,
}

#[derive(Clone, Copy, Debug)]
struct ModelCard {
    state: ModelState,
    balance: i64,
    expires_at: Option<i64>,
    failures: u8,
}

#[derive(Clone, Copy, Debug)]
struct ModelRedemption {
    card: u64,
    merchant: u32,
    device: u64,
    amount: i64,
    at: i64,
    reversed: bool,
}

/// The rules as the module documentation states them, kept as plainly as possible.
struct Model {
    now: i64,
    cards: BTreeMap<u64, ModelCard>,
    redemptions: BTreeMap<u128, ModelRedemption>,
    revoked: [bool; 4],
    expired_value: i64,
}

impl Model {
    fn device_merchant(device: u64) -> u32 {
        if device == 1 { 1 } else { 2 }
    }

    fn accepted(merchant: u32, programme: u32) -> bool {
        merchant == 2 || programme == 1
    }

    /// Cards past their expiry are expired and their balance booked.
    fn pass_time(&mut self) {
        for card in self.cards.values_mut() {
            let due = card.expires_at.is_some_and(|e| e <= self.now);
            if due && matches!(card.state, ModelState::Active | ModelState::Blocked) {
                self.expired_value += card.balance;
                card.balance = 0;
                card.state = ModelState::Expired;
            }
        }
    }

    /// Expired, inactive or blocked refuse value and redemptions.
    fn usable(card: &ModelCard) -> Result<(), &'static str> {
        match card.state {
            ModelState::Active => Ok(()),
            ModelState::Inactive => Err("card_inactive"),
            ModelState::Blocked => Err("card_blocked"),
            ModelState::Expired => Err("card_expired"),
        }
    }

    fn expect(&mut self, op: &Op) -> Result<(), &'static str> {
        self.pass_time();
        let now = self.now;
        match *op {
            Op::Activate { card, amount, wrong_expiry, .. } => {
                let c = self.cards.get_mut(&card).unwrap();
                if amount <= 0 {
                    return Err("amount_invalid");
                }
                if amount > LOAD_MAX {
                    return Err("load_too_large");
                }
                if c.state != ModelState::Inactive {
                    return Err("card_not_inactive");
                }
                if wrong_expiry {
                    return Err("expiry_invalid");
                }
                *c = ModelCard { state: ModelState::Active, balance: amount, expires_at: Some(expiry_after_sale(now).0), failures: 0 };
            }
            Op::Load { card, amount, .. } => {
                let c = self.cards.get_mut(&card).unwrap();
                if amount <= 0 {
                    return Err("amount_invalid");
                }
                if amount > LOAD_MAX {
                    return Err("load_too_large");
                }
                Model::usable(c)?;
                if c.balance + amount > BALANCE_MAX {
                    return Err("ceiling_exceeded");
                }
                c.balance += amount;
            }
            Op::Redeem { id, card, merchant, device, amount, pin } => {
                if amount <= 0 {
                    return Err("amount_invalid");
                }
                if let Some(r) = self.redemptions.get(&id) {
                    let same = (r.card, r.merchant, r.device, r.amount) == (card, merchant, device, amount);
                    return if same { Ok(()) } else { Err("redemption_id_reused") };
                }
                if Model::device_merchant(device) != merchant {
                    return Err("device_not_merchants");
                }
                if self.revoked[device as usize] {
                    return Err("device_revoked");
                }
                if !Model::accepted(merchant, programme_of(card)) {
                    return Err("merchant_not_accepted");
                }
                let c = self.cards.get_mut(&card).unwrap();
                Model::usable(c)?;
                if has_pin(card) {
                    match pin {
                        Pin::None => return Err("pin_required"),
                        Pin::Wrong => {
                            c.failures += 1;
                            if c.failures == 3 {
                                c.state = ModelState::Blocked;
                            }
                            return Ok(());
                        }
                        Pin::Right => {}
                    }
                }
                if amount > c.balance {
                    return Err("insufficient_balance");
                }
                c.balance -= amount;
                c.failures = 0;
                self.redemptions.insert(id, ModelRedemption { card, merchant, device, amount, at: now, reversed: false });
            }
            Op::Reverse { id, merchant } => {
                let r = *self.redemptions.get(&id).ok_or("unknown_redemption")?;
                if r.merchant != merchant {
                    return Err("redemption_of_other_merchant");
                }
                if r.reversed {
                    return Ok(());
                }
                if now >= r.at + WINDOW_MS {
                    return Err("reversal_window_closed");
                }
                let c = self.cards.get_mut(&r.card).unwrap();
                if c.state == ModelState::Expired {
                    return Err("card_expired");
                }
                if c.balance + r.amount > BALANCE_MAX {
                    return Err("ceiling_exceeded");
                }
                c.balance += r.amount;
                self.redemptions.get_mut(&id).unwrap().reversed = true;
            }
            Op::Refund { card, amount } => {
                let c = self.cards.get_mut(&card).unwrap();
                if amount <= 0 {
                    return Err("amount_invalid");
                }
                if c.state != ModelState::Blocked {
                    Model::usable(c)?;
                }
                if amount > c.balance {
                    return Err("insufficient_balance");
                }
                c.balance -= amount;
            }
            Op::Block { card } => {
                let c = self.cards.get_mut(&card).unwrap();
                if c.state == ModelState::Expired {
                    return Err("card_expired");
                }
                c.state = ModelState::Blocked;
            }
            Op::Move { from, to } => {
                if from == to {
                    return Err("cards_same");
                }
                if programme_of(from) != programme_of(to) {
                    return Err("programmes_differ");
                }
                let (source, target) = (self.cards[&from], self.cards[&to]);
                match source.state {
                    ModelState::Expired => return Err("card_expired"),
                    ModelState::Blocked => {}
                    _ => return Err("card_not_blocked"),
                }
                Model::usable(&target)?;
                if source.balance == 0 {
                    return Err("nothing_to_move");
                }
                if target.balance + source.balance > BALANCE_MAX {
                    return Err("ceiling_exceeded");
                }
                self.cards.get_mut(&to).unwrap().balance += source.balance;
                self.cards.get_mut(&from).unwrap().balance = 0;
            }
            Op::Revoke { device } => self.revoked[device as usize] = true,
            Op::Expire | Op::Tick | Op::Advance { .. } | Op::JumpToExpiry => {}
        }
        Ok(())
    }
}

fn setup(w: &mut World) {
    let limits = ProgrammeLimits {
        card_balance_cents_max: Cents(BALANCE_MAX),
        load_cents_max: Cents(LOAD_MAX),
        card_offline_cents_max: Cents(2_000),
        reversal_window_ms: WINDOW_MS,
    };
    let mut commands = Vec::new();
    for p in PROGRAMMES {
        let name = format!("Stadt {p}");
        commands.push(VoucherCommand::CreateProgramme { id: ProgrammeId(p), name, limits, expiry: ExpiryRule::EndOfThirdYearAfterSale });
    }
    for m in [1u32, 2] {
        commands.push(VoucherCommand::CreateMerchant { id: MerchantId(m), name: format!("Laden {m}"), iban: "DE89370400440532013000".into() });
    }
    commands.push(VoucherCommand::AcceptMerchant { merchant: MerchantId(1), programme: ProgrammeId(1) });
    commands.push(VoucherCommand::AcceptMerchant { merchant: MerchantId(2), programme: ProgrammeId(1) });
    commands.push(VoucherCommand::AcceptMerchant { merchant: MerchantId(2), programme: ProgrammeId(2) });
    for d in 1..=3u64 {
        commands.push(VoucherCommand::RegisterDevice { device: DeviceId(d), merchant: MerchantId(Model::device_merchant(d)), public_key: [d as u8; 32] });
    }
    for p in PROGRAMMES {
        let cards = (1..=CARDS)
            .filter(|c| programme_of(*c) == p)
            .map(|c| NewCard { id: CardId(c), code_digest: code_digest(c), pin_digest: has_pin(c).then(|| right_pin(c)) })
            .collect();
        commands.push(VoucherCommand::IssueCards { programme: ProgrammeId(p), batch: BatchId(p), medium: CardMedium::Printed, cards });
    }
    for command in commands {
        let outcome = w.voucher(command.clone());
        assert!(outcome.is_ok(), "{command:?}: {outcome:?}");
    }
}

fn command_of(op: &Op, now: i64) -> Option<Command> {
    let paid = |cash: bool| if cash { PaidVia::Cash { sales_point: SalesPointId(1) } } else { PaidVia::Provider { reference: "psp".into() } };
    let voucher = match *op {
        Op::Activate { card, amount, cash, wrong_expiry } => {
            let right = expiry_after_sale(now);
            let expires_at = if wrong_expiry { TimeMs(right.0 + 366 * 86_400_000) } else { right };
            VoucherCommand::ActivateCard { card: CardId(card), amount: Cents(amount), paid_via: paid(cash), expires_at }
        }
        Op::Load { card, amount, cash } => VoucherCommand::LoadCard { card: CardId(card), amount: Cents(amount), paid_via: paid(cash) },
        Op::Redeem { id, card, merchant, device, amount, pin } => VoucherCommand::Redeem {
            redemption: RedemptionId(id),
            card: CardId(card),
            merchant: MerchantId(merchant),
            device: DeviceId(device),
            amount: Cents(amount),
            pin_digest: match pin {
                Pin::None => None,
                Pin::Right => Some(right_pin(card)),
                Pin::Wrong => Some(pin_digest("0000")),
            },
        },
        Op::Reverse { id, merchant } => VoucherCommand::ReverseRedemption { redemption: RedemptionId(id), merchant: MerchantId(merchant) },
        Op::Refund { card, amount } => VoucherCommand::RefundCard { card: CardId(card), amount: Cents(amount), reference: "back".into() },
        Op::Block { card } => VoucherCommand::BlockCard { card: CardId(card) },
        Op::Move { from, to } => VoucherCommand::MoveBalance { from: CardId(from), to: CardId(to) },
        Op::Revoke { device } => VoucherCommand::RevokeDevice { device: DeviceId(device) },
        Op::Expire => VoucherCommand::ExpireCards,
        Op::Tick => return Some(Command::Tick),
        Op::Advance { .. } | Op::JumpToExpiry => return None,
    };
    Some(Command::Voucher(voucher))
}

/// Runs the ops against the tenant and the model; returns every code seen.
fn run(ops: &[Op]) -> Result<Vec<&'static str>, TestCaseError> {
    let mut w = World::new(parse_time(START));
    setup(&mut w);
    let mut model = Model {
        now: w.now,
        cards: (1..=CARDS).map(|c| (c, ModelCard { state: ModelState::Inactive, balance: 0, expires_at: None, failures: 0 })).collect(),
        redemptions: BTreeMap::new(),
        revoked: [false; 4],
        expired_value: 0,
    };
    let mut codes = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Advance { ms } => w.now += ms,
            Op::JumpToExpiry => {
                if let Some(at) = w.tenant.next_expiry() {
                    w.now = w.now.max(at.0);
                }
            }
            _ => {}
        }
        model.now = w.now;
        // Time steps send nothing: the next command lets the time pass, in both.
        let Some(command) = command_of(op, w.now) else { continue };
        let expected = model.expect(op);
        let outcome = w.send(command);
        let code = code_of(&outcome);
        if let Ok(Reply::Voucher(VoucherReply::PinRefused { .. })) = outcome {
            codes.push("pin_refused");
        }
        codes.push(code);
        prop_assert_eq!(code, expected.err().unwrap_or("ok"), "step {} {:?}: {:?}", i, op, outcome);
        let v = w.tenant.vouchers();
        for (id, card) in &model.cards {
            let state = v.card(CardId(*id)).unwrap().state;
            let state = match state {
                CardState::Inactive => ModelState::Inactive,
                CardState::Active => ModelState::Active,
                CardState::Blocked(_) => ModelState::Blocked,
                CardState::Expired => ModelState::Expired,
            };
            prop_assert_eq!(state, card.state, "card {} state after step {}", id, i);
            prop_assert_eq!(w.balance(*id).0, card.balance, "card {} balance after step {}", id, i);
        }
        let expired: i64 = PROGRAMMES
            .iter()
            .map(|p| w.tenant.ledger().account(programme_account(ProgrammeId(*p), AccountKind::ExpiredValue)).unwrap().balance().0)
            .sum();
        prop_assert_eq!(expired, model.expired_value, "expired value after step {}", i);
        if i == ops.len() / 2 {
            w.snapshot_round_trip();
        }
    }
    w.snapshot_round_trip();
    // A settlement statement's query: a merchant's redemptions in a half-open range.
    let (from, until) = (parse_time(START) + 30_000, parse_time(START) + 150_000);
    for merchant in [1u32, 2] {
        let listed: Vec<u128> =
            w.tenant.vouchers().redemptions_of(MerchantId(merchant), TimeMs(from), TimeMs(until)).map(|r| r.id.0).collect();
        let mut expected: Vec<(i64, u128)> = model
            .redemptions
            .iter()
            .filter(|(_, r)| r.merchant == merchant && (from..until).contains(&r.at))
            .map(|(id, r)| (r.at, *id))
            .collect();
        expected.sort();
        prop_assert_eq!(listed, expected.into_iter().map(|(_, id)| id).collect::<Vec<_>>(), "merchant {}", merchant);
    }
    let liability: i64 = PROGRAMMES.iter().map(|p| w.tenant.vouchers().liability(w.tenant.ledger(), ProgrammeId(*p)).0).sum();
    prop_assert_eq!(liability, model.cards.values().map(|c| c.balance).sum::<i64>());
    prop_assert_eq!(w.replayed(), w.tenant, "replaying the commands rebuilds the tenant");
    Ok(codes)
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

    /// Random voucher workloads: every reply's code, every card's state and balance
    /// and the expired value agree with the reference model after every step; the
    /// invariants hold after every step; snapshots restore; replay rebuilds.
    #[test]
    fn random_voucher_runs_agree_with_the_model_and_replay_to_the_same_state(ops in prop::collection::vec(op(), 1..120)) {
        run(&ops)?;
    }
}

#[test]
fn the_random_workload_reaches_every_reply_and_the_rejections_that_matter() {
    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(op(), 60..120);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let ops = strategy.new_tree(&mut runner).expect("a workload").current();
        seen.extend(run(&ops).expect("the property holds"));
    }
    let wanted = [
        "ok",
        "pin_refused",
        "pin_required",
        "card_blocked",
        "card_inactive",
        "card_expired",
        "card_not_inactive",
        "insufficient_balance",
        "ceiling_exceeded",
        "load_too_large",
        "expiry_invalid",
        "redemption_id_reused",
        "redemption_of_other_merchant",
        "reversal_window_closed",
        "device_not_merchants",
        "device_revoked",
        "merchant_not_accepted",
        "nothing_to_move",
        "card_not_blocked",
        "programmes_differ",
    ];
    let missing: Vec<&str> = wanted.iter().copied().filter(|c| !seen.contains(c)).collect();
    assert!(missing.is_empty(), "the workload never reached {missing:?}");
}
