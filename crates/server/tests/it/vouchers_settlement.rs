//! Voucher settlement: statements, payout files and the office's calls for them.
//!
//! The first tests drive a tenant directly with chosen times (the HTTP node stamps
//! the wall clock, and a period can only be settled once it is over): three Berlin
//! days of random sales, loads, redemptions and reversals at three shops, each day
//! settled the next morning. For every settlement they prove that the statement's
//! lines add up to the ledger movements of the merchant's payable to the cent —
//! redemptions to the credits made in the period, reversals to the debits made since
//! the last settlement, the net to the settlement's transfer — that the CSV and the
//! PDF (read back with poppler's `pdftotext`) show the same totals, that the payable
//! is empty once everything is settled, and that the pain.001 file parses as XML
//! with `NbOfTxs` and `CtrlSum` equal to its transactions and the settlements, with
//! unique identifiers, the same bytes on a second download. Settling a period twice
//! answers the first settlement; an overlapping one is refused.
//!
//! The HTTP tests use a real node (`api::fresh`): a payout run for yesterday settles
//! every merchant (amount zero: they were created today) and its retry answers the
//! same settlements; today cannot be settled yet; today's statement is a preview in
//! JSON, CSV and PDF; the payout file of an unsettled period is refused, one with
//! nothing to pay too; and the office's calls take the admin token or a
//! `voucher_office` staff session — a box-office session is refused, and a session's
//! POST without its CSRF token too.

use std::collections::BTreeSet;
use std::process::Command as Process;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use sturmfest_core::ledger::{AccountKind, DeviceId, ProgrammeId};
use sturmfest_core::vouchers::*;
use sturmfest_core::{Cents, Command, Envelope, Reply, Tenant, TimeMs};
use sturmfest_server::vouchers::card_expires_at;
use sturmfest_server::vouchers::pain001::{self, Debtor, Payout, Transfer};
use sturmfest_server::vouchers::settlement::{LineKind, Period, Statement, statement, statement_csv, statement_pdf};

use crate::api::{Node, check, expect_problem, expect_status, fresh, get, post, request};

// ----- a tenant driven with chosen times -----

fn ms(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

struct City {
    tenant: Tenant,
}

impl City {
    fn send(&mut self, at: i64, command: VoucherCommand) -> Result<VoucherReply, String> {
        let envelope = Envelope { time: TimeMs(at), idempotency: None, command: Command::Voucher(command) };
        let outcome = self.tenant.apply(&envelope);
        self.tenant.check_invariants();
        match outcome {
            Ok(Reply::Voucher(reply)) => Ok(reply),
            Ok(other) => panic!("not a voucher reply: {other:?}"),
            Err(rejection) => Err(rejection.code().to_string()),
        }
    }
}

const P: ProgrammeId = ProgrammeId(1);
const SHOPS: [u32; 3] = [11, 12, 13];
const CARDS: u64 = 12;

fn city(start: i64) -> City {
    let mut c = City { tenant: Tenant::new() };
    let limits = ProgrammeLimits {
        card_balance_cents_max: Cents(50_000),
        load_cents_max: Cents(20_000),
        card_offline_cents_max: Cents(2_000),
        reversal_window_ms: 2 * 86_400_000,
    };
    c.send(start, VoucherCommand::CreateProgramme { id: P, name: "Stadtgutschein".into(), limits, expiry: ExpiryRule::EndOfThirdYearAfterSale })
        .unwrap();
    let ibans = ["DE89370400440532013000", "DE02120300000000202051", "DE12500105170648489890"];
    for (shop, iban) in SHOPS.iter().zip(ibans) {
        let name = format!("Laden {shop} Müller & Söhne");
        c.send(start, VoucherCommand::CreateMerchant { id: MerchantId(*shop), name, iban: iban.into() }).unwrap();
        c.send(start, VoucherCommand::AcceptMerchant { merchant: MerchantId(*shop), programme: P }).unwrap();
        let device = DeviceId(u64::from(*shop) * 10);
        c.send(start, VoucherCommand::RegisterDevice { device, merchant: MerchantId(*shop), public_key: [*shop as u8; 32] }).unwrap();
    }
    let cards = (1..=CARDS).map(|n| NewCard { id: CardId(n), code_digest: [n as u8; 32], pin_digest: None }).collect();
    c.send(start, VoucherCommand::IssueCards { programme: P, batch: BatchId(1), medium: CardMedium::Printed, cards }).unwrap();
    c
}

/// One settlement as the test saw it made: its ledger position before and after.
struct Made {
    settlement: SettlementId,
    transfers_before: usize,
}

fn payable(merchant: u32) -> sturmfest_core::ledger::AccountId {
    payable_account(P, MerchantId(merchant))
}

/// A random day of activity between `from` and `until`, `seed`-chosen.
fn random_day(c: &mut City, rng: &mut ChaCha8Rng, from: i64, until: i64, next_redemption: &mut u128) {
    let mut times: Vec<i64> = (0..120).map(|_| rng.random_range(from..until)).collect();
    times.sort();
    let mut redeemed: Vec<(u128, u32)> = Vec::new();
    for at in times {
        let card = CardId(rng.random_range(1..=CARDS));
        let shop = SHOPS[rng.random_range(0..SHOPS.len())];
        let command = match rng.random_range(0..10) {
            0..=1 => VoucherCommand::ActivateCard {
                card,
                amount: Cents(rng.random_range(1..=200) * 100),
                paid_via: PaidVia::Cash { sales_point: SalesPointId(1) },
                expires_at: card_expires_at(TimeMs(at)),
            },
            2 => VoucherCommand::LoadCard { card, amount: Cents(rng.random_range(1..=5_000)), paid_via: PaidVia::Provider { reference: "psp".into() } },
            3..=7 => {
                *next_redemption += 1;
                redeemed.push((*next_redemption, shop));
                VoucherCommand::Redeem {
                    redemption: RedemptionId(*next_redemption),
                    card,
                    merchant: MerchantId(shop),
                    device: DeviceId(u64::from(shop) * 10),
                    amount: Cents(rng.random_range(1..=4_000)),
                    pin_digest: None,
                }
            }
            _ => {
                // Reverse one of today's or an earlier day's redemptions.
                let pick = rng.random_range(1..=(*next_redemption).max(1));
                let merchant = c.tenant.vouchers().redemption(RedemptionId(pick)).map_or(MerchantId(shop), |r| r.merchant);
                VoucherCommand::ReverseRedemption { redemption: RedemptionId(pick), merchant }
            }
        };
        let _ = c.send(at, command);
    }
}

fn statement_of(c: &City, merchant: u32, day: &str) -> Statement {
    statement(&c.tenant, "Stadt Musterhausen", P, MerchantId(merchant), Period::parse(day, day).unwrap()).unwrap()
}

#[test]
fn three_random_days_settle_and_every_statement_reconciles_with_the_payable_to_the_cent() {
    // (settlements with redemptions, with reversals, with a reversal of an earlier day's redemption)
    let mut reached = (0, 0, 0);
    for seed in 0..4u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let days = ["2026-11-29", "2026-11-30", "2026-12-01"];
        let start = ms("2026-11-28T23:00:00Z"); // 29 November 00:00 in Berlin
        let mut c = city(start);
        let mut next_redemption = 0u128;
        let mut made: Vec<(u32, &str, Made)> = Vec::new();
        for day in days {
            let (from, until) = Period::parse(day, day).unwrap().instants();
            // The shops open at 07:00 and the last sale is just before midnight.
            random_day(&mut c, &mut rng, from.0 + 7 * 3_600_000, until.0, &mut next_redemption);
            // Settled the next morning at 06:00, before any shop opens.
            let settle_at = until.0 + 6 * 3_600_000;
            for shop in SHOPS {
                let transfers_before = c.tenant.ledger().transfers().len();
                let reply = c.send(settle_at, VoucherCommand::Settle { programme: P, merchant: MerchantId(shop), from, until });
                let Ok(VoucherReply::Settled { settlement, .. }) = reply else { panic!("seed {seed} {day} shop {shop}: {reply:?}") };
                made.push((shop, day, Made { settlement, transfers_before }));
            }
        }
        let ledger = c.tenant.ledger();
        let v = c.tenant.vouchers();
        let mut previous_end: std::collections::BTreeMap<u32, usize> = Default::default();
        for (shop, day, m) in &made {
            let s = *v.settlement(m.settlement).unwrap();
            let st = statement_of(&c, *shop, day);
            assert_eq!(st.settlement, Some(m.settlement), "the statement of a settled period is its settlement's");
            // Redemptions: the ledger credits to the payable made in the period.
            let credits: i64 = ledger
                .transfers()
                .iter()
                .filter(|t| t.credit == payable(*shop) && t.at >= s.from && t.at < s.until)
                .map(|t| t.amount.0)
                .sum();
            // Reversals: the debits (other than payouts) since the last settlement.
            let since = previous_end.get(shop).copied().unwrap_or(0);
            let payout = programme_account(P, AccountKind::PayoutClearing);
            let debits: i64 = ledger.transfers()[since..m.transfers_before]
                .iter()
                .filter(|t| t.debit == payable(*shop) && t.credit != payout)
                .map(|t| t.amount.0)
                .sum();
            assert_eq!((st.redeemed.0, st.reversed.0), (credits, debits), "seed {seed} {day} shop {shop}");
            assert_eq!(st.net, s.amount);
            reached.0 += usize::from(s.redemptions > 0);
            reached.1 += usize::from(s.reversals > 0);
            reached.2 += usize::from(st.lines.iter().any(|l| l.kind == LineKind::Reversal && !st.lines.iter().any(|r| r.kind == LineKind::Redemption && r.redemption == l.redemption)));
            let line_sum: i64 = st.lines.iter().map(|l| l.amount.0).sum();
            assert_eq!(line_sum, st.net.0, "the lines add up to the net");
            let paid = s.transfer.map_or(0, |t| ledger.transfer(t).unwrap().amount.0);
            assert_eq!(paid, st.net.0, "the payout transfer moves exactly the statement's net");
            previous_end.insert(*shop, m.transfers_before + usize::from(s.transfer.is_some()));
            // CSV: its lines and totals.
            let csv = statement_csv(&st);
            let cents = |text: &str| -> i64 {
                let (euros, cents) = text.trim_start_matches('-').split_once('.').unwrap();
                let value = euros.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap();
                if text.starts_with('-') { -value } else { value }
            };
            let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
            let detail: i64 = rows.iter().filter(|r| !r[0].is_empty()).map(|r| cents(r[3])).sum();
            let net_row = rows.iter().find(|r| r[1] == "net").unwrap();
            assert_eq!((detail, cents(net_row[3])), (st.net.0, st.net.0), "{csv}");
            assert_eq!(rows.iter().filter(|r| !r[0].is_empty()).count(), st.lines.len());
        }
        for shop in SHOPS {
            assert_eq!(ledger.account(payable(shop)).unwrap().balance(), Cents(0), "everything redeemed is settled");
        }
        // Twice: the first reply. Overlapping: refused.
        let (from, until) = Period::parse(days[2], days[2]).unwrap().instants();
        let late = until.0 + 86_400_000;
        let again = c.send(late, VoucherCommand::Settle { programme: P, merchant: MerchantId(11), from, until });
        let first = made.iter().find(|(shop, day, _)| *shop == 11 && *day == days[2]).unwrap().2.settlement;
        assert!(matches!(again, Ok(VoucherReply::Settled { settlement, .. }) if settlement == first), "{again:?}");
        let overlap = c.send(late, VoucherCommand::Settle { programme: P, merchant: MerchantId(11), from: TimeMs(from.0 + 3_600_000), until: TimeMs(late) });
        assert_eq!(overlap, Err("period_already_settled".into()));
        // A snapshot restores an equal tenant, settlements included.
        assert_eq!(Tenant::restore(c.tenant.parts()).unwrap(), c.tenant);
    }
    assert!(reached.0 >= 12 && reached.1 >= 4 && reached.2 >= 1, "the workload is too thin to prove anything: {reached:?}");
}

fn poppler() -> bool {
    let present = Process::new("pdftotext").arg("-v").output().is_ok();
    if !present {
        assert!(std::env::var_os("CI").is_none(), "CI must install poppler-utils (see .ci/run)");
        eprintln!("pdftotext not found: install Debian's poppler-utils to run the statement PDF test");
    }
    present
}

fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("statement.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Process::new("pdftotext").args(["-layout", "-enc", "UTF-8", path.to_str().unwrap(), "-"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().replace('\u{a0}', " ")
}

/// A merchant (11) with a redemption at 23:30 Berlin on the last day of the period
/// (in it) and one at 00:30 on the next (not in it), and a reversal; and a second
/// merchant (12) with one redemption. Commands are sent in time order: the core's
/// clock never goes back.
fn a_month(c: &mut City) -> (TimeMs, TimeMs) {
    let (from, until) = Period::parse("2026-11-01", "2026-11-30").unwrap().instants();
    let sale = ms("2026-11-05T10:00:00Z");
    for card in 1..=3 {
        c.send(sale, VoucherCommand::ActivateCard { card: CardId(card), amount: Cents(10_000), paid_via: PaidVia::Cash { sales_point: SalesPointId(1) }, expires_at: card_expires_at(TimeMs(sale)) })
            .unwrap();
    }
    let redeem = |id: u128, card: u64, amount: i64| VoucherCommand::Redeem {
        redemption: RedemptionId(id),
        card: CardId(card),
        merchant: MerchantId(11),
        device: DeviceId(110),
        amount: Cents(amount),
        pin_digest: None,
    };
    c.send(ms("2026-11-06T09:15:00Z"), redeem(1, 1, 1_999)).unwrap();
    c.send(ms("2026-11-06T09:20:00Z"), redeem(2, 2, 550)).unwrap();
    c.send(ms("2026-11-06T09:25:00Z"), VoucherCommand::ReverseRedemption { redemption: RedemptionId(2), merchant: MerchantId(11) }).unwrap();
    // The second shop's one redemption.
    c.send(ms("2026-11-07T10:00:00Z"), VoucherCommand::Redeem { redemption: RedemptionId(9), card: CardId(1), merchant: MerchantId(12), device: DeviceId(120), amount: Cents(1_234), pin_digest: None }).unwrap();
    c.send(ms("2026-11-30T22:30:00Z"), redeem(3, 3, 4_001)).unwrap(); // 23:30 in Berlin
    c.send(ms("2026-11-30T23:30:00Z"), redeem(4, 3, 700)).unwrap(); // 1 December, 00:30
    (from, until)
}

#[test]
fn a_statement_pdf_and_csv_show_the_settled_totals_in_berlin_days() {
    let mut c = city(ms("2026-11-01T08:00:00Z"));
    let (from, until) = a_month(&mut c);
    let preview = statement_of_period(&c, "2026-11-01", "2026-11-30");
    assert_eq!(preview.settlement, None, "open: a preview");
    c.send(ms("2026-12-01T08:00:00Z"), VoucherCommand::Settle { programme: P, merchant: MerchantId(11), from, until }).unwrap();
    let s = statement_of_period(&c, "2026-11-01", "2026-11-30");
    assert_eq!((s.redeemed, s.reversed, s.net), (Cents(1_999 + 550 + 4_001), Cents(550), Cents(6_000)));
    assert_eq!(s.lines.len(), 4, "three redemptions and a reversal; the 00:30 one is December's");
    assert_eq!(s.lines.last().unwrap().at, "2026-11-30 23:30:00");
    assert_eq!(s.settlement, Some(SettlementId(1)));
    let csv = statement_csv(&s);
    assert!(csv.ends_with(",total_redeemed,,65.50\n,total_reversed,,-5.50\n,net,,60.00\n"), "{csv}");
    let pdf = statement_pdf(&s, true);
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(pdf, statement_pdf(&s, true), "a re-download is the same file");
    if poppler() {
        let text = pdf_text(&pdf);
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for wanted in ["Abrechnung Gutscheineinlösungen", "Laden 11 Müller & Söhne", "Summe Einlösungen 65,50 €", "Summe Stornos -5,50 €", "Auszahlungsbetrag 60,00 €", "Abrechnung Nr. 1", "2026-11-01 – 2026-11-30", "2026-11-30 23:30:00"] {
            assert!(flat.contains(wanted), "{wanted:?} not in:\n{text}");
        }
        let english: String = pdf_text(&statement_pdf(&s, false)).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(english.contains("Amount paid out €60.00"), "{english}");
    }
}

fn statement_of_period(c: &City, first: &str, last: &str) -> Statement {
    statement(&c.tenant, "Stadt Musterhausen", P, MerchantId(11), Period::parse(first, last).unwrap()).unwrap()
}

#[test]
fn the_payout_file_is_well_formed_pain_001_and_its_sums_match_the_settlements() {
    let mut c = city(ms("2026-11-01T08:00:00Z"));
    let (from, until) = a_month(&mut c);
    let mut transfers = Vec::new();
    for shop in SHOPS {
        let reply = c.send(ms("2026-12-01T08:00:00Z"), VoucherCommand::Settle { programme: P, merchant: MerchantId(shop), from, until }).unwrap();
        let VoucherReply::Settled { settlement, amount } = reply else { panic!() };
        if amount.0 > 0 {
            let m = c.tenant.vouchers().merchant(MerchantId(shop)).unwrap();
            transfers.push(Transfer {
                end_to_end_id: format!("SF-S{}-M{shop}", settlement.0),
                creditor_name: m.name.clone(),
                creditor_iban: m.iban.clone(),
                amount,
                remittance: format!("Gutscheine November Abrechnung {}", settlement.0),
            });
        }
    }
    assert_eq!(transfers.len(), 2, "shop 13 redeemed nothing and is left out");
    let payout = Payout {
        message_id: "SF-P1-20261101-20261130".into(),
        created_at: TimeMs(ms("2026-12-01T08:00:00Z")),
        execution_date: "2026-12-02".into(),
        debtor: Debtor { name: "Stadt Musterhausen Stadtmarketing".into(), iban: "DE75512108001245126199".into(), bic: None },
        transfers,
    };
    let xml = pain001::document(&payout);
    assert_eq!(xml, pain001::document(&payout), "same run, same bytes");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("not well-formed: {e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Document");
    assert_eq!(root.tag_name().namespace(), Some("urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"));
    let text = |parent: roxmltree::Node, name: &str| -> Vec<String> {
        parent.descendants().filter(|n| n.has_tag_name(name)).map(|n| n.text().unwrap_or("").to_string()).collect()
    };
    let amounts: Vec<String> = text(root, "InstdAmt");
    assert_eq!(amounts, ["60.00", "12.34"]);
    let sum_cents: i64 = amounts.iter().map(|a| a.replace('.', "").parse::<i64>().unwrap()).sum();
    let settled: i64 = c.tenant.vouchers().settlements().iter().map(|s| s.amount.0).sum();
    assert_eq!(sum_cents, settled, "the file pays exactly what was settled");
    for ctrl in text(root, "CtrlSum") {
        assert_eq!(ctrl, "72.34");
    }
    assert_eq!(text(root, "NbOfTxs"), ["2", "2"], "group header and payment alike");
    assert_eq!(text(root, "CdtTrfTxInf").len(), 2);
    let ids: Vec<String> = ["MsgId", "PmtInfId", "EndToEndId"].iter().flat_map(|n| text(root, n)).collect();
    assert!(ids.iter().all(|id| !id.is_empty() && id.len() <= 35), "{ids:?}");
    let ends: BTreeSet<String> = text(root, "EndToEndId").into_iter().collect();
    assert_eq!(ends.len(), 2, "EndToEndIds are unique");
    assert_eq!(text(root, "Nm")[2], "Laden 11 Mueller + Soehne", "names in the SEPA character set");
    for amt in root.descendants().filter(|n| n.has_tag_name("InstdAmt")) {
        assert_eq!(amt.attribute("Ccy"), Some("EUR"));
    }
    assert_eq!(text(root, "IBAN"), ["DE75512108001245126199", "DE89370400440532013000", "DE02120300000000202051"]);
}

// ----- over HTTP -----

fn v(path: &str) -> String {
    format!("/api/v1/club/vouchers{path}")
}

fn berlin_today() -> jiff::civil::Date {
    jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap()).date()
}

async fn shop(n: &Node) -> (u64, u64, u64) {
    let body = json!({"name": "Regio", "card_balance_cents_max": 10_000, "load_cents_max": 10_000, "card_offline_cents_max": 1_000, "reversal_window_secs": 600});
    let reply = check(&n.app, post(v("/programmes"), body).bearer(&n.club)).await;
    expect_status(&reply, 201);
    let programme = reply.json["id"].as_u64().unwrap();
    let reply = check(&n.app, post(v("/merchants"), json!({"name": "Café Kränzchen", "iban": "DE89 3704 0044 0532 0130 00"})).bearer(&n.club)).await;
    let merchant = reply.json["id"].as_u64().unwrap();
    expect_status(&check(&n.app, post(v(&format!("/merchants/{merchant}/accept")), json!({"programme": programme})).bearer(&n.club)).await, 200);
    let reply = check(&n.app, post(v(&format!("/merchants/{merchant}/devices")), json!({"public_key": "09".repeat(32)})).bearer(&n.club)).await;
    (programme, merchant, reply.json["id"].as_u64().unwrap())
}

/// Logs a staff account in through the login form; returns its cookie and the CSRF
/// token its staff home renders.
async fn session(n: &Node, login: &str, roles: &[&str]) -> (String, String) {
    let password = "settle-secret-77";
    let body = json!({"login": login, "display_name": login, "password": password, "roles": roles});
    expect_status(&check(&n.app, post("/api/v1/club/staff/accounts", body).bearer(&n.club)).await, 201);
    let form = format!("login={login}&password={password}");
    let reply = check(&n.app, request("POST", "/club/staff/login").header("content-type", "application/x-www-form-urlencoded").raw(form)).await;
    expect_status(&reply, 303);
    let cookie = reply.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let home = check(&n.app, get("/club/staff").header("cookie", &cookie)).await;
    let page = home.json.as_str().unwrap().to_string();
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    (cookie, page[at..at + page[at..].find('"').unwrap()].to_string())
}

#[tokio::test]
async fn a_payout_run_settles_every_merchant_once_and_today_waits_until_it_is_over() {
    let n = fresh().await;
    let (programme, merchant, device) = shop(&n).await;
    let today = berlin_today();
    let yesterday = today.yesterday().unwrap();
    // A card sold and redeemed today, one redemption reversed.
    let batch = check(&n.app, post(v(&format!("/programmes/{programme}/batches")), json!({"count": 1, "medium": "printed", "pin": false})).bearer(&n.club)).await;
    let code = batch.json["cards"][0]["code"].as_str().unwrap().to_string();
    expect_status(&check(&n.app, post(v("/cards/activate"), json!({"code": code, "amount_cents": 5_000, "paid_via": {"sales_point": 1}})).bearer(&n.club)).await, 200);
    for (id, cents) in [("a1", 1_250), ("a2", 300)] {
        let body = json!({"redemption_id": id, "merchant": merchant, "device": device, "code": code, "amount_cents": cents, "pin": null});
        expect_status(&check(&n.app, post(v("/redemptions"), body).bearer(&n.club)).await, 201);
    }
    expect_status(&check(&n.app, post(v("/redemptions/a2/reverse"), json!({"merchant": merchant})).bearer(&n.club)).await, 200);

    // Yesterday: settled for every merchant, with nothing to pay; a retry answers the same.
    let run = v(&format!("/programmes/{programme}/settlements"));
    let period = json!({"first_day": yesterday.to_string(), "last_day": yesterday.to_string()});
    let first = check(&n.app, post(&run, period.clone()).bearer(&n.club)).await;
    expect_status(&first, 200);
    assert_eq!(first.json["settled"].as_array().unwrap().len(), 1, "{:#}", first.json);
    assert_eq!(first.json["settled"][0]["amount_cents"], 0);
    let again = check(&n.app, post(&run, period).bearer(&n.club)).await;
    assert_eq!(again.json, first.json, "settling a period twice answers the first settlement");
    // Today is not over.
    let today_period = json!({"first_day": today.to_string(), "last_day": today.to_string()});
    let refused = check(&n.app, post(&run, today_period).bearer(&n.club)).await;
    expect_status(&refused, 200);
    assert_eq!(refused.json["refused"], json!([{"merchant": merchant, "code": "period_not_over"}]));
    expect_problem(&check(&n.app, post(&run, json!({"first_day": "2026-02-30", "last_day": "2026-03-01"})).bearer(&n.club)).await, 422, "date_invalid");

    // Today's statement: a preview of what settling would pay.
    let q = format!("/merchants/{merchant}/statement?programme={programme}&first_day={today}&last_day={today}");
    let s = check(&n.app, get(v(&q)).bearer(&n.club)).await;
    expect_status(&s, 200);
    assert_eq!((s.json["settlement"].clone(), s.json["net_cents"].clone(), s.json["net"].clone()), (Value::Null, json!(1_250), json!("12.50")));
    assert_eq!(s.json["lines"].as_array().unwrap().len(), 3, "two redemptions and a reversal");
    let csv = check(&n.app, get(v(&format!("{q}&format=csv"))).bearer(&n.club)).await;
    expect_status(&csv, 200);
    assert!(csv.json.as_str().unwrap().ends_with(",net,,12.50\n"));
    let pdf_reply = n.app.clone();
    let pdf = fetch_bytes(&pdf_reply, &v(&format!("{q}&format=pdf&lang=en")), &n.club).await;
    assert!(pdf.starts_with(b"%PDF-"));
    if poppler() {
        assert!(pdf_text(&pdf).contains("Preview"), "an open period says so");
    }

    // Payout files: today is not settled; yesterday has nothing to pay.
    let xml = |first: &jiff::civil::Date| v(&format!("/programmes/{programme}/settlements/pain001?first_day={first}&last_day={first}&debtor_name=Stadt&debtor_iban=DE75512108001245126199"));
    let open = check(&n.app, get(xml(&today)).bearer(&n.club)).await;
    expect_problem(&open, 409, "period_not_settled");
    expect_problem(&check(&n.app, get(xml(&yesterday)).bearer(&n.club)).await, 409, "nothing_to_pay");
    let bad_iban = v(&format!("/programmes/{programme}/settlements/pain001?first_day={yesterday}&last_day={yesterday}&debtor_name=Stadt&debtor_iban=DE00512108001245126199"));
    expect_problem(&check(&n.app, get(bad_iban).bearer(&n.club)).await, 422, "iban_invalid");
}

async fn fetch_bytes(app: &axum::Router, uri: &str, token: &str) -> Vec<u8> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::get(uri).header("authorization", format!("Bearer {token}")).body(axum::body::Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap().to_bytes().to_vec()
}

#[tokio::test]
async fn the_office_api_takes_the_token_or_a_voucher_office_session_with_its_csrf_token() {
    let n = fresh().await;
    let (programme, merchant, _) = shop(&n).await;
    let today = berlin_today();
    let statement = v(&format!("/merchants/{merchant}/statement?programme={programme}&first_day={today}&last_day={today}"));
    expect_problem(&check(&n.app, get(&statement)).await, 401, "unauthorized");
    expect_problem(&check(&n.app, get(&statement).bearer("wrong")).await, 401, "unauthorized");

    let (kasse, kasse_csrf) = session(&n, "kasse", &["box_office"]).await;
    expect_problem(&check(&n.app, get(&statement).header("cookie", &kasse)).await, 403, "staff_forbidden");
    let merchant_body = json!({"name": "Buchladen", "iban": "DE02120300000000202051"});
    let as_kasse = post(v("/merchants"), merchant_body.clone()).header("cookie", &kasse).header("x-csrf-token", &kasse_csrf);
    expect_problem(&check(&n.app, as_kasse).await, 403, "staff_forbidden");

    let (office, csrf) = session(&n, "gutscheine", &["voucher_office"]).await;
    expect_status(&check(&n.app, get(&statement).header("cookie", &office)).await, 200);
    let without = post(v("/merchants"), merchant_body.clone()).header("cookie", &office);
    expect_problem(&check(&n.app, without).await, 403, "csrf_invalid");
    let wrong = post(v("/merchants"), merchant_body.clone()).header("cookie", &office).header("x-csrf-token", &kasse_csrf);
    expect_problem(&check(&n.app, wrong).await, 403, "csrf_invalid");
    let right = post(v("/merchants"), merchant_body).header("cookie", &office).header("x-csrf-token", &csrf);
    expect_status(&check(&n.app, right).await, 201);
    let merchants = n.opened.state.tenants["club"].shard.read(|t| t.vouchers().merchants_in(ProgrammeId(0)).len()).await.unwrap();
    assert_eq!(merchants, 0, "no merchant is in a programme that does not exist");
    // Another tenant's token opens nothing here.
    let rival = check(&n.app, get(statement.replace("/club/", "/rival/")).bearer(&n.club)).await;
    expect_problem(&rival, 401, "unauthorized");
}

#[tokio::test]
async fn a_merchant_account_bound_to_its_shop_reads_only_that_shops_statements() {
    let n = fresh().await;
    let (programme, merchant, _) = shop(&n).await;
    let other = check(&n.app, post(v("/merchants"), json!({"name": "Buchladen", "iban": "DE02120300000000202051"})).bearer(&n.club)).await.json["id"].as_u64().unwrap();
    let today = berlin_today();
    let statement = |m: u64| v(&format!("/merchants/{m}/statement?programme={programme}&first_day={today}&last_day={today}"));
    let (till, till_csrf) = session(&n, "kasse.cafe", &["merchant"]).await;
    // Not bound yet: no statement at all.
    expect_problem(&check(&n.app, get(statement(merchant)).header("cookie", &till)).await, 403, "staff_forbidden");
    let account = n.opened.state.tenants["club"].shard.read(|t| t.staff().accounts().last().unwrap().id.0).await.unwrap();
    let bind = |m: Value| post("/api/v1/club/staff/merchant-bindings", json!({"account": account, "merchant": m}));
    expect_problem(&check(&n.app, bind(json!(merchant))).await, 401, "unauthorized");
    expect_problem(&check(&n.app, bind(json!(12_345)).bearer(&n.club)).await, 404, "unknown_merchant");
    let bound = check(&n.app, bind(json!(merchant)).bearer(&n.club)).await;
    expect_status(&bound, 200);
    assert_eq!(bound.json, json!({"account": account, "merchant": merchant}));
    expect_status(&check(&n.app, get(statement(merchant)).header("cookie", &till)).await, 200);
    expect_problem(&check(&n.app, get(statement(other)).header("cookie", &till)).await, 403, "staff_forbidden");
    // The office's other calls stay closed to a merchant's staff.
    let write = post(v("/merchants"), json!({"name": "X", "iban": "DE02120300000000202051"})).header("cookie", &till).header("x-csrf-token", &till_csrf);
    expect_problem(&check(&n.app, write).await, 403, "staff_forbidden");
    // The binding survives a restart (snapshot and log), and unbinding closes it again.
    let n = n.restart().await;
    let till_after = check(&n.app, get(statement(merchant)).header("cookie", &till)).await;
    expect_status(&till_after, 200);
    expect_status(&check(&n.app, bind(Value::Null).bearer(&n.club)).await, 200);
    expect_problem(&check(&n.app, get(statement(merchant)).header("cookie", &till)).await, 403, "staff_forbidden");
}
