//! Money survives SIGKILL: every acknowledged voucher redemption, reversal and load
//! of the real binary is still there after a crash, and not a cent more.
//!
//! The test runs `sturmfest serve` on a temporary data directory, sets up a programme,
//! a merchant with a till and a batch of cards sold for cash through the office API,
//! then repeats: a few blocking clients redeem random amounts, reverse some of their
//! redemptions and top cards up, each under its own `Idempotency-Key`; after a random
//! delay the server is SIGKILLed. Each client owns its cards, so the test's model of
//! every card is exact: each acknowledged reply must carry exactly the balance the
//! model expects, and a refusal for want of balance must happen exactly when the
//! model says the card is short. A request cut by the kill has an unknown outcome;
//! after the restart it is sent again with the same key and body, and whatever it
//! answers then is the one outcome it has (a committed one is replayed, never done
//! twice). Every few cycles, and at the end, `sturmfest verify` replays the whole log
//! and checks every invariant — the ledger sums to zero, no card below zero, every
//! card account equals its bookings — and at the end every card's balance is read
//! through the public balance enquiry and compared with the model.
//!
//! `STURMFEST_CRASH_CYCLES` / 10 sets the number of kills (at least 10; CI runs 20),
//! `STURMFEST_CRASH_SEED` the workload and kill delays. A failure names the seed.

// Limits are named like values, unit last, as in the library.
#![allow(non_upper_case_globals)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::crash::{Api, Caller, Server, add_tenant, verify};

const cycles_min: u64 = 10;
const clients_count: usize = 3;
const cards_per_client: usize = 4;
/// What each card is sold with, and the programme's ceiling.
const card_value_cents: i64 = 10_000;
const card_balance_cents_max: i64 = 25_000;
const top_up_cents: i64 = 5_000;
const kill_delay_ms_min: u64 = 20;
const kill_delay_ms_max: u64 = 250;
const verify_every_cycles: u64 = 5;

/// One card as the test knows it: its code and the balance the server must report.
#[derive(Clone, Debug)]
struct Card {
    code: String,
    balance: i64,
    /// Acknowledged redemptions not yet reversed: (id, amount).
    redemptions: Vec<(String, i64)>,
}

/// What one request does to its card, to be applied when it is acknowledged.
#[derive(Clone, Debug)]
enum Op {
    Redeem { id: String, amount: i64 },
    Reverse { id: String, amount: i64 },
    Load { amount: i64 },
}

/// A request whose reply the kill swallowed: sent again after the restart.
#[derive(Clone, Debug)]
struct Cut {
    card: usize,
    op: Op,
    path: String,
    key: String,
    body: Value,
}

struct Setup {
    merchant: u64,
    device: u64,
}

fn ok(status: u16, reply: &Value, what: &str) -> Value {
    assert!((200..300).contains(&status), "{what}: {status} {reply}");
    reply.clone()
}

fn set_up(api: &Api, cards: usize) -> (Setup, Vec<Card>) {
    let (status, programme) = api
        .post(
            "/vouchers/programmes",
            "programme",
            &json!({"name": "Crashgutschein", "card_balance_cents_max": card_balance_cents_max,
                    "load_cents_max": card_balance_cents_max, "card_offline_cents_max": 2_000, "reversal_window_secs": 3_600}),
            Caller::Admin,
        )
        .unwrap();
    let programme = ok(status, &programme, "programme")["id"].as_u64().unwrap();
    let (status, merchant) = api
        .post("/vouchers/merchants", "merchant", &json!({"name": "Laden am Markt", "iban": "DE89 3704 0044 0532 0130 00"}), Caller::Admin)
        .unwrap();
    let merchant = ok(status, &merchant, "merchant")["id"].as_u64().unwrap();
    let (status, accepted) =
        api.post(&format!("/vouchers/merchants/{merchant}/accept"), "accept", &json!({"programme": programme}), Caller::Admin).unwrap();
    ok(status, &accepted, "accept");
    let (status, device) = api
        .post(&format!("/vouchers/merchants/{merchant}/devices"), "device", &json!({"public_key": "11".repeat(32)}), Caller::Admin)
        .unwrap();
    let device = ok(status, &device, "device")["id"].as_u64().unwrap();
    let (status, batch) = api
        .post(
            &format!("/vouchers/programmes/{programme}/batches"),
            "batch",
            &json!({"count": cards, "medium": "printed", "pin": false}),
            Caller::Admin,
        )
        .unwrap();
    let batch = ok(status, &batch, "batch");
    let mut out = Vec::new();
    for (i, card) in batch["cards"].as_array().unwrap().iter().enumerate() {
        let code = card["code"].as_str().unwrap().to_string();
        let body = json!({"code": code, "amount_cents": card_value_cents, "paid_via": {"sales_point": 1}});
        let (status, sold) = api.post("/vouchers/cards/activate", &format!("activate-{i}"), &body, Caller::Admin).unwrap();
        assert_eq!(ok(status, &sold, "activate")["balance_cents"], card_value_cents);
        out.push(Card { code, balance: card_value_cents, redemptions: Vec::new() });
    }
    (Setup { merchant, device }, out)
}

/// The next request a client sends for one of its cards, drawn from the model.
fn next_request(rng: &mut ChaCha8Rng, setup: &Setup, card: &Card, index: usize, serial: u64, seed: u64) -> Cut {
    let key = format!("s{seed}-c{index}-n{serial}");
    let roll = rng.random_range(0..100);
    if roll < 10 && !card.redemptions.is_empty() {
        let (id, amount) = card.redemptions[rng.random_range(0..card.redemptions.len())].clone();
        return Cut {
            card: index,
            path: format!("/vouchers/redemptions/{id}/reverse"),
            key,
            body: json!({"merchant": setup.merchant}),
            op: Op::Reverse { id, amount },
        };
    }
    if roll < 20 && card.balance + top_up_cents <= card_balance_cents_max {
        let body = json!({"code": card.code, "amount_cents": top_up_cents, "paid_via": {"sales_point": 2}});
        return Cut { card: index, path: "/vouchers/cards/load".into(), key, body, op: Op::Load { amount: top_up_cents } };
    }
    // Sometimes more than is left, so refusals are exercised too.
    let amount = rng.random_range(1..=card.balance.clamp(1, 3_000) + 500);
    // A 128-bit id the client chooses, unique per seed, card and serial; never 0.
    let id = format!("{:032x}", (u128::from(seed) << 64) | ((index as u128 + 1) << 40) | u128::from(serial));
    let body = json!({"redemption_id": id, "merchant": setup.merchant, "device": setup.device, "code": card.code, "amount_cents": amount});
    Cut { card: index, path: "/vouchers/redemptions".into(), key, body, op: Op::Redeem { id, amount } }
}

/// Applies a reply to the model; panics when the server disagrees with it.
fn apply(card: &mut Card, op: &Op, status: u16, reply: &Value, context: &str) {
    match op {
        Op::Redeem { id, amount } => {
            if *amount > card.balance {
                assert_eq!(status, 409, "{context}: {amount} from a card with {}: {reply}", card.balance);
                assert_eq!(reply["code"], "insufficient_balance", "{context}: {reply}");
                assert_eq!(reply["balance_cents"], card.balance, "{context}: the refusal names the balance: {reply}");
                return;
            }
            assert_eq!(status, 201, "{context}: {amount} from a card with {}: {reply}", card.balance);
            card.balance -= amount;
            card.redemptions.push((id.clone(), *amount));
        }
        Op::Reverse { id, amount } => {
            if card.balance + amount > card_balance_cents_max {
                // The ledger's ceiling holds for reversals too; the redemption stays.
                assert_eq!((status, reply["code"].as_str()), (409, Some("ceiling_exceeded")), "{context}: {reply}");
                return;
            }
            assert_eq!(status, 200, "{context}: reversal of {id}: {reply}");
            assert_eq!(reply["amount_cents"], *amount, "{context}: {reply}");
            card.balance += amount;
            card.redemptions.retain(|(r, _)| r != id);
        }
        Op::Load { amount } => {
            assert_eq!(status, 200, "{context}: load of {amount}: {reply}");
            card.balance += amount;
        }
    }
    assert_eq!(reply["balance_cents"], card.balance, "{context}: the reply's balance is the model's: {reply}");
}

#[test]
fn every_acknowledged_redemption_survives_sigkill_and_money_is_conserved() {
    let cycles = (crate::crash::env_u64("STURMFEST_CRASH_CYCLES").unwrap_or(0) / 10).max(cycles_min);
    let seed = crate::crash::env_u64("STURMFEST_CRASH_SEED").unwrap_or_else(|| crate::crash::wall_ms() as u64);
    let context = |cycle: u64| format!("seed {seed}, cycle {cycle} (reproduce with STURMFEST_CRASH_SEED={seed})");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let token = add_tenant(dir.path()).unwrap();
    let mut server = Server::start(dir.path()).unwrap();
    let (setup, cards) = set_up(&Api::new(&server.addr, &token), clients_count * cards_per_client);
    let setup = Arc::new(setup);
    // Each client owns every clients_count-th card.
    let mut owned: Vec<Vec<(usize, Card)>> = vec![Vec::new(); clients_count];
    for (i, card) in cards.into_iter().enumerate() {
        owned[i % clients_count].push((i, card));
    }
    let (mut acknowledged, mut refused, mut cut_total, mut verifies) = (0u64, 0u64, 0u64, 0u64);
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = owned
            .drain(..)
            .enumerate()
            .map(|(c, mut mine)| {
                let (addr, token, setup, stop) = (server.addr.clone(), token.clone(), setup.clone(), stop.clone());
                let client_seed = rng.random::<u64>();
                std::thread::spawn(move || {
                    let api = Api::new(&addr, &token);
                    let mut rng = ChaCha8Rng::seed_from_u64(client_seed);
                    let (mut acked, mut refused) = (0u64, 0u64);
                    let mut serial = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let slot = rng.random_range(0..mine.len());
                        let (index, card) = &mut mine[slot];
                        serial += 1;
                        let request = next_request(&mut rng, &setup, card, *index, (cycle << 24) | ((c as u64) << 20) | serial, seed);
                        match api.post(&request.path, &request.key, &request.body, Caller::Admin) {
                            Ok((status, reply)) => {
                                apply(card, &request.op, status, &reply, &format!("client {c}, cycle {cycle}"));
                                if status == 409 { refused += 1 } else { acked += 1 }
                            }
                            // The kill: the outcome is unknown until the retry.
                            Err(_) => return (mine, acked, refused, Some(request)),
                        }
                    }
                    (mine, acked, refused, None)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.random_range(kill_delay_ms_min..=kill_delay_ms_max)));
        server.kill().unwrap_or_else(|e| panic!("{}: {e}", context(cycle)));
        stop.store(true, Ordering::Relaxed);
        let mut cuts = Vec::new();
        for client in clients {
            let (mine, acked, refusals, cut) = client.join().unwrap_or_else(|_| panic!("{}: a client failed", context(cycle)));
            owned.push(mine);
            acknowledged += acked;
            refused += refusals;
            cuts.extend(cut);
        }
        server = Server::start(dir.path()).unwrap_or_else(|e| panic!("{}: {e}", context(cycle)));
        let api = Api::new(&server.addr, &token);
        // Each cut request once more, same key and body: its one outcome.
        for request in cuts {
            cut_total += 1;
            let (status, reply) = api.post(&request.path, &request.key, &request.body, Caller::Admin).unwrap();
            let card = owned.iter_mut().flatten().find(|(i, _)| *i == request.card).map(|(_, c)| c).unwrap();
            apply(card, &request.op, status, &reply, &format!("{}, retry after the kill", context(cycle)));
        }
        if cycle % verify_every_cycles == verify_every_cycles - 1 {
            verify(dir.path()).unwrap_or_else(|e| panic!("{}: {e}", context(cycle)));
            verifies += 1;
        }
    }
    // Every card read back through the holder's balance enquiry.
    let api = Api::new(&server.addr, &token);
    for (_, card) in owned.iter().flatten() {
        let (status, reply) = api.post("/vouchers/cards/balance", "unused", &json!({"code": card.code}), Caller::Buyer).unwrap();
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["balance_cents"], card.balance, "seed {seed}: a card's balance after {cycles} kills: {reply}");
    }
    server.kill().unwrap();
    let verified = verify(dir.path()).unwrap_or_else(|e| panic!("seed {seed}, at the end: {e}"));
    println!(
        "voucher crash test: seed {seed}, {cycles} SIGKILLs, {acknowledged} acknowledged, {refused} refused (short of balance, or over the ceiling), \
         {cut_total} cut by a kill and resolved by their retry, {} verify runs ok\n{verified}",
        verifies + 1
    );
    assert!(acknowledged >= cycles, "seed {seed}: only {acknowledged} requests acknowledged in {cycles} cycles; the kills hit an idle server");
}
