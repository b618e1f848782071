//! Durable voucher redemptions through the HTTP API: a fresh programme with one
//! merchant and till, a batch of cards sold with value on them, then tills redeem
//! small amounts for a fixed time. Every `201` is an acknowledged, durable booking.
//! Afterwards every card's balance is read back: what each card lost must equal the
//! sum of its acknowledged redemptions, to the cent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use serde_json::{Value, json};

use super::ServerArgs;
use super::http::{Conn, Headers, Target};
use super::stats::{self, Kind, Stats};

#[derive(clap::Args, Debug)]
pub struct RedeemArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Cards sold for the run, each with `card-value-cents` on it.
    #[arg(long, default_value_t = 1_000)]
    pub cards: u32,
    #[arg(long, default_value_t = 25_000)]
    pub card_value_cents: i64,
    /// What each redemption takes from a card.
    #[arg(long, default_value_t = 1)]
    pub amount_cents: i64,
    /// Connections, each with one redemption in flight (a till each).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

/// Past this many transport failures in a row a worker stops.
const worker_failures_max: u32 = 100;
/// The largest batch the run asks for at once.
const batch_cards_max: u32 = 1_000;

async fn call(conn: &mut Conn, path: &str, token: &str, key: &str, body: Value) -> Result<Value, String> {
    let headers = Headers { idempotency_key: Some(key), bearer: Some(token) };
    let reply = conn.send(Method::POST, path, &headers, Some(Bytes::from(body.to_string()))).await.map_err(|e| format!("{path}: {e}"))?;
    if !reply.status.is_success() {
        return Err(format!("{path}: {} {}", reply.status, String::from_utf8_lossy(&reply.body)));
    }
    reply.json().ok_or_else(|| format!("{path}: the reply is not JSON"))
}

pub async fn run(args: RedeemArgs) -> Result<(), String> {
    let target = Target::parse(&args.server.url)?;
    let base = format!("{}/api/v1/{}/vouchers", target.path, args.server.tenant);
    let token = args.server.token.clone();
    let run_id: u64 = rand::random::<u32>().into();
    let mut conn = Conn::new(&target.authority);
    let key = |what: &str| format!("load-redeem-{run_id}-{what}");

    // ----- set-up through the office API -----
    let programme = call(
        &mut conn,
        &format!("{base}/programmes"),
        &token,
        &key("programme"),
        json!({"name": format!("Lastlauf {run_id}"), "card_balance_cents_max": args.card_value_cents,
               "load_cents_max": args.card_value_cents, "card_offline_cents_max": args.card_value_cents.min(2_000), "reversal_window_secs": 600}),
    )
    .await?["id"]
        .as_u64()
        .ok_or("programme without id")?;
    let merchant = call(&mut conn, &format!("{base}/merchants"), &token, &key("merchant"),
        json!({"name": format!("Laden {run_id}"), "iban": "DE89 3704 0044 0532 0130 00"}))
    .await?["id"]
        .as_u64()
        .ok_or("merchant without id")?;
    call(&mut conn, &format!("{base}/merchants/{merchant}/accept"), &token, &key("accept"), json!({"programme": programme})).await?;
    let public_key: [u8; 32] = rand::random();
    let device = call(&mut conn, &format!("{base}/merchants/{merchant}/devices"), &token, &key("device"),
        json!({"public_key": hex::encode(public_key)}))
    .await?["id"]
        .as_u64()
        .ok_or("device without id")?;
    let mut codes: Vec<String> = Vec::with_capacity(args.cards as usize);
    let mut left = args.cards.max(1);
    let mut batch = 0;
    while left > 0 {
        let count = left.min(batch_cards_max);
        let issued = call(&mut conn, &format!("{base}/programmes/{programme}/batches"), &token, &key(&format!("batch-{batch}")),
            json!({"count": count, "medium": "printed", "pin": false}))
        .await?;
        for card in issued["cards"].as_array().ok_or("batch without cards")? {
            codes.push(card["code"].as_str().ok_or("card without code")?.to_string());
        }
        left -= count;
        batch += 1;
    }
    let setup_started = Instant::now();
    for (i, code) in codes.iter().enumerate() {
        call(&mut conn, &format!("{base}/cards/activate"), &token, &key(&format!("activate-{i}")),
            json!({"code": code, "amount_cents": args.card_value_cents, "paid_via": {"sales_point": 1}}))
        .await?;
    }
    println!(
        "voucher redemptions — {} cards sold with {:.2} € each in {:.1} s; {} tills redeem {:.2} € at a time for {} s",
        codes.len(),
        args.card_value_cents as f64 / 100.0,
        setup_started.elapsed().as_secs_f64(),
        args.concurrency,
        args.amount_cents as f64 / 100.0,
        args.seconds
    );

    // ----- the run: each till owns every concurrency-th card -----
    let concurrency = args.concurrency.clamp(1, codes.len());
    let codes = Arc::new(codes);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let (authority, path, token, codes, stop) =
            (target.authority.clone(), format!("{base}/redemptions"), token.clone(), codes.clone(), stop.clone());
        let (amount, value) = (args.amount_cents, args.card_value_cents);
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(&authority);
            let mut stats = Stats::default();
            // Acknowledged cents per card index.
            let mut taken: Vec<(usize, i64)> = Vec::new();
            let mine: Vec<usize> = (w..codes.len()).step_by(concurrency).collect();
            let mut spent = vec![0i64; mine.len()];
            let (mut n, mut failures_in_a_row) = (0u64, 0);
            while !stop.load(Ordering::Relaxed) && failures_in_a_row < worker_failures_max {
                let slot = (n as usize) % mine.len();
                if spent[slot] + amount > value {
                    break;
                }
                n += 1;
                // Unique per run, worker and attempt; never 0.
                let id = format!("{:032x}", (u128::from(run_id) << 64) | ((w as u128) << 40) | u128::from(n));
                let body = json!({"redemption_id": id, "merchant": merchant, "device": device,
                                  "code": codes[mine[slot]], "amount_cents": amount});
                let headers = Headers { idempotency_key: Some(&id), bearer: Some(&token) };
                let result = conn.send(Method::POST, &path, &headers, Some(Bytes::from(body.to_string()))).await;
                failures_in_a_row = if result.is_ok() { 0 } else { failures_in_a_row + 1 };
                if let Ok(reply) = &result
                    && reply.status.as_u16() == 201
                {
                    spent[slot] += amount;
                }
                stats.record(Kind::Redeem, &result);
            }
            for (slot, cents) in spent.into_iter().enumerate() {
                taken.push((mine[slot], cents));
            }
            (stats, taken)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Stats::default();
    let mut taken = vec![0i64; codes.len()];
    for w in workers {
        let (stats, mine) = w.await.map_err(|e| format!("worker panicked: {e}"))?;
        total.absorb(&stats);
        for (card, cents) in mine {
            taken[card] += cents;
        }
    }
    let elapsed = started.elapsed();
    print!("{}", stats::render(&total, &[Kind::Redeem], |_| elapsed));

    // ----- check: every card lost exactly what was acknowledged -----
    // The public balance enquiry allows one address only a short burst, so each 10 cards are
    // read from another loopback address (127.77.x.y), as separate holders would.
    let mut wrong = 0;
    let mut reader = Conn::new(&target.authority);
    for (i, code) in codes.iter().enumerate() {
        if i % 10 == 0 {
            let n = i / 10;
            reader = Conn::from_source(&target.authority, std::net::IpAddr::from([127, 77, (n >> 8) as u8, (n & 255) as u8 + 1]));
        }
        let conn = &mut reader;
        let headers = Headers::default();
        let reply = conn
            .send(Method::POST, &format!("{base}/cards/balance"), &headers, Some(Bytes::from(json!({"code": code}).to_string())))
            .await
            .map_err(|e| format!("balance: {e}"))?;
        let balance = reply.json().and_then(|j| j["balance_cents"].as_i64()).ok_or_else(|| format!("balance of card {i}: {}", reply.status))?;
        if balance != args.card_value_cents - taken[i] {
            wrong += 1;
        }
    }
    let acknowledged: i64 = taken.iter().sum();
    println!("  check: {} cards read back; {:.2} € acknowledged; cards whose balance differs: {wrong}", codes.len(), acknowledged as f64 / 100.0);
    if acknowledged == 0 {
        return Err("no redemption was acknowledged".into());
    }
    if wrong > 0 {
        return Err(format!("{wrong} cards' balances differ from their acknowledged redemptions"));
    }
    if total.server_errors_not_overload() > 0 {
        return Err(format!("{} server errors other than overload", total.server_errors_not_overload()));
    }
    Ok(())
}
