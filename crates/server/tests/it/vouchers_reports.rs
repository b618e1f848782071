//! The city's voucher report: its numbers are the ledger's, and the rolling
//! twelve-month payment volume warns before the limited-network threshold.
//!
//! Over HTTP (`api::fresh`, real SQLite, wall clock): after sales, loads,
//! redemptions and a reversal, every programme figure of `GET /vouchers/reports`
//! equals the balance of the ledger accounts it names, today's day adds up the same
//! movements, and the volume is the redemptions net of the reversal. With chosen
//! times (a tenant driven directly): redemptions older than twelve months drop out
//! of the volume, and the level climbs from `warning_80` through `warning_90` to
//! `exceeded` exactly as the volume passes 80 %, 90 % and 100 % of EUR 1 million.

use serde_json::json;
use sturmfest_core::ledger::{AccountKind, DeviceId, ProgrammeId};
use sturmfest_core::vouchers::*;
use sturmfest_core::{Cents, Command, Envelope, Tenant, TimeMs};
use sturmfest_server::vouchers::card_expires_at;
use sturmfest_server::vouchers::reports::{VolumeLevel, report};

use crate::api::{check, expect_problem, expect_status, fresh, get, post};

fn v(path: &str) -> String {
    format!("/api/v1/club/vouchers{path}")
}

#[tokio::test]
async fn the_reports_numbers_are_the_ledgers() {
    let n = fresh().await;
    let office = |path: &str, body| post(v(path), body).bearer(&n.club);
    let reply = check(&n.app, office("/programmes", json!({"name": "Regio", "card_balance_cents_max": 10_000, "load_cents_max": 10_000, "card_offline_cents_max": 1_000, "reversal_window_secs": 600}))).await;
    let programme = reply.json["id"].as_u64().unwrap();
    let merchant = check(&n.app, office("/merchants", json!({"name": "Café", "iban": "DE89370400440532013000"}))).await.json["id"].as_u64().unwrap();
    expect_status(&check(&n.app, office(&format!("/merchants/{merchant}/accept"), json!({"programme": programme}))).await, 200);
    let device = check(&n.app, office(&format!("/merchants/{merchant}/devices"), json!({"public_key": "07".repeat(32)}))).await.json["id"].as_u64().unwrap();
    let batch = check(&n.app, office(&format!("/programmes/{programme}/batches"), json!({"count": 2, "medium": "printed", "pin": false}))).await;
    let codes: Vec<String> = batch.json["cards"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_string()).collect();
    expect_status(&check(&n.app, office("/cards/activate", json!({"code": codes[0], "amount_cents": 5_000, "paid_via": {"sales_point": 1}}))).await, 200);
    expect_status(&check(&n.app, office("/cards/activate", json!({"code": codes[1], "amount_cents": 2_000, "paid_via": {"provider_reference": "psp-1"}}))).await, 200);
    expect_status(&check(&n.app, office("/cards/load", json!({"code": codes[1], "amount_cents": 750, "paid_via": {"sales_point": 1}}))).await, 200);
    for (id, code, cents) in [("c1", &codes[0], 1_234), ("c2", &codes[1], 500), ("c3", &codes[0], 99)] {
        let body = json!({"redemption_id": id, "merchant": merchant, "device": device, "code": code, "amount_cents": cents, "pin": null});
        expect_status(&check(&n.app, office("/redemptions", body)).await, 201);
    }
    expect_status(&check(&n.app, office("/redemptions/c2/reverse", json!({"merchant": merchant}))).await, 200);

    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap()).date();
    let reply = check(&n.app, get(v(&format!("/reports?first_day={today}&last_day={today}"))).bearer(&n.club)).await;
    expect_status(&reply, 200);
    let r = &reply.json;
    let p = ProgrammeId(programme as u32);
    let (liability, payable, expired, cards) = n.opened.state.tenants["club"]
        .shard
        .read(move |t| {
            let ledger = t.ledger();
            let cards: i64 = ledger.accounts().filter(|a| a.kind == AccountKind::Card && a.programme == p).map(|a| a.balance().0).sum();
            let payable: i64 = ledger.accounts().filter(|a| a.kind == AccountKind::MerchantPayable && a.programme == p).map(|a| a.balance().0).sum();
            let expired = ledger.account(programme_account(p, AccountKind::ExpiredValue)).unwrap().balance().0;
            (t.vouchers().liability(ledger, p).0, payable, expired, cards)
        })
        .await
        .unwrap();
    assert_eq!(liability, cards, "the liability is the card accounts' sum");
    assert_eq!(r["programmes"][0]["liability_cents"], json!(liability));
    assert_eq!(liability, 5_000 + 2_000 + 750 - 1_234 - 99);
    assert_eq!(r["programmes"][0]["payable_cents"], json!(payable));
    assert_eq!(payable, 1_234 + 99);
    assert_eq!(r["programmes"][0]["expired_value_cents"], json!(expired));
    let day = &r["days"][0];
    assert_eq!(day["day"], json!(today.to_string()));
    assert_eq!((day["loaded_cents"].clone(), day["loads"].clone()), (json!(7_750), json!(3)));
    assert_eq!((day["redeemed_cents"].clone(), day["redemptions"].clone()), (json!(1_833), json!(3)));
    assert_eq!((day["reversed_cents"].clone(), day["reversals"].clone()), (json!(500), json!(1)));
    assert_eq!(r["volume_12_months_cents"], json!(1_333));
    assert_eq!(r["level"], "below");
    expect_problem(&check(&n.app, get(v("/reports?first_day=2026-05-02&last_day=2026-05-01")).bearer(&n.club)).await, 422, "period_invalid");
    expect_problem(&check(&n.app, get(v("/reports"))).await, 401, "unauthorized");
}

fn ms(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn send(tenant: &mut Tenant, at: i64, command: VoucherCommand) {
    let outcome = tenant.apply(&Envelope { time: TimeMs(at), idempotency: None, command: Command::Voucher(command) });
    assert!(outcome.is_ok(), "{outcome:?}");
}

/// EUR 2,500.00, the most a card may hold.
const FULL: Cents = Cents(250_000);

/// Sells the next `count` cards full at `at` and redeems each whole.
fn spend(tenant: &mut Tenant, next: &mut u64, at: i64, count: u64) {
    for _ in 0..count {
        *next += 1;
        let card = CardId(*next);
        let paid_via = PaidVia::Cash { sales_point: SalesPointId(1) };
        send(tenant, at, VoucherCommand::ActivateCard { card, amount: FULL, paid_via, expires_at: card_expires_at(TimeMs(at)) });
        let redemption = RedemptionId(u128::from(*next));
        send(tenant, at, VoucherCommand::Redeem { redemption, card, merchant: MerchantId(1), device: DeviceId(1), amount: FULL, pin_digest: None });
    }
}

#[test]
fn the_twelve_month_volume_warns_at_80_and_90_per_cent_and_forgets_older_redemptions() {
    let mut t = Tenant::new();
    let limits = ProgrammeLimits { card_balance_cents_max: FULL, load_cents_max: FULL, card_offline_cents_max: Cents(1_000), reversal_window_ms: 0 };
    let start = ms("2025-10-01T08:00:00Z");
    send(&mut t, start, VoucherCommand::CreateProgramme { id: ProgrammeId(1), name: "Stadt".into(), limits, expiry: ExpiryRule::EndOfThirdYearAfterSale });
    send(&mut t, start, VoucherCommand::CreateMerchant { id: MerchantId(1), name: "Kaufhaus".into(), iban: "DE89370400440532013000".into() });
    send(&mut t, start, VoucherCommand::AcceptMerchant { merchant: MerchantId(1), programme: ProgrammeId(1) });
    send(&mut t, start, VoucherCommand::RegisterDevice { device: DeviceId(1), merchant: MerchantId(1), public_key: [1; 32] });
    let digest = |n: u64| {
        let mut d = [0u8; 32];
        d[..8].copy_from_slice(&n.to_le_bytes());
        d
    };
    let cards = (1..=600u64).map(|n| NewCard { id: CardId(n), code_digest: digest(n), pin_digest: None }).collect();
    send(&mut t, start, VoucherCommand::IssueCards { programme: ProgrammeId(1), batch: BatchId(1), medium: CardMedium::Printed, cards });
    let mut next = 0u64;
    // EUR 250,000 fourteen months before the report: outside its twelve months.
    spend(&mut t, &mut next, start + 3_600_000, 100);
    let now = TimeMs(ms("2026-12-01T12:00:00Z"));
    let level = |t: &Tenant| {
        let day = jiff::civil::date(2026, 12, 1);
        let r = report(t, now, day, day);
        (r.volume_12_months, r.level)
    };
    let at = ms("2026-06-01T10:00:00Z");
    spend(&mut t, &mut next, at, 319);
    assert_eq!(level(&t), (Cents(79_750_000), VolumeLevel::Below));
    spend(&mut t, &mut next, at + 1, 1);
    assert_eq!(level(&t), (Cents(80_000_000), VolumeLevel::Warning80));
    spend(&mut t, &mut next, at + 2, 40);
    assert_eq!(level(&t), (Cents(90_000_000), VolumeLevel::Warning90));
    spend(&mut t, &mut next, at + 3, 41);
    assert_eq!(level(&t), (Cents(100_250_000), VolumeLevel::Exceeded));
    t.check_invariants();
}
