//! The voucher office's JSON API through a whole day, as the office, a sales counter,
//! a till and a card holder see it. The test opens a fresh node (`api::fresh`: real
//! SQLite log, real writers), drives `/api/v1/club/vouchers/...` with `oneshot`, and
//! reads the tenant's ledger through `shard.read` after every step that moves money.
//!
//! What it proves: a programme, a merchant (a typo in its IBAN refused at the edge,
//! before any command) and a till are set up; a batch returns its codes and PINs once
//! and a retry with the same Idempotency-Key makes no second batch and shows no codes;
//! sale activation and loads put value on cards; the holder's balance enquiry needs no
//! credentials; a partial redemption leaves the rest; a missing PIN, a wrong PIN (the
//! attempt is counted) and the right PIN answer as documented; a retried redemption,
//! under its Idempotency-Key or only its redemption id, changes nothing; an
//! over-redemption is refused `409 insufficient_balance`; a reversal gives the value
//! back once; a blocked card is refused at the till and its balance moves to another
//! card; mistyped and unknown codes get their own codes. After every step the sum of
//! all ledger accounts is zero and the programme's liability equals the sum of the
//! card balances the API reports; a restart of the node keeps every balance.
//!
//! A second test covers the edges: no code of a batch appears in any file of the
//! data directory (log, WAL, snapshot), only in the one response; the same key with
//! another body is refused; a batch over the limit is refused; three wrong PINs in
//! a row block the card; a reversal after the programme's window is refused.

use serde_json::{Value, json};
use sturmfest_server::vouchers::codes::CardCode;

use crate::api::{Node, Reply, at, check, expect_problem, expect_status, fresh, get, post};

fn v(path: &str) -> String {
    at("club", &format!("/vouchers{path}"))
}

async fn office(n: &Node, path: &str, body: Value) -> Reply {
    check(&n.app, post(v(path), body).bearer(&n.club)).await
}

async fn office_keyed(n: &Node, path: &str, body: Value, key: &str) -> Reply {
    check(&n.app, post(v(path), body).bearer(&n.club).header("idempotency-key", key)).await
}

/// The sum over every ledger account (it must be zero) and the programme's
/// liability as the core computes it.
async fn books(n: &Node, programme: u32) -> (i64, i64) {
    n.opened.state.tenants["club"]
        .shard
        .read(move |t| {
            let sum = t.ledger().accounts().map(|a| a.balance().0).sum::<i64>();
            let liability = t.vouchers().liability(t.ledger(), sturmfest_core::ledger::ProgrammeId(programme)).0;
            (sum, liability)
        })
        .await
        .unwrap()
}

/// Sets up a programme with the given reversal window, an accepted merchant and a
/// till; returns (programme, merchant, device).
async fn shop(n: &Node, reversal_window_secs: i64) -> (u32, u64, u64) {
    let body = json!({"name": "Regio", "card_balance_cents_max": 10_000, "load_cents_max": 10_000,
                      "card_offline_cents_max": 1_000, "reversal_window_secs": reversal_window_secs});
    let reply = office(n, "/programmes", body).await;
    expect_status(&reply, 201);
    let programme = reply.json["id"].as_u64().unwrap() as u32;
    let reply = office(n, "/merchants", json!({"name": "Café", "iban": "GB82 WEST 1234 5698 7654 32"})).await;
    expect_status(&reply, 201);
    let merchant = reply.json["id"].as_u64().unwrap();
    expect_status(&office(n, &format!("/merchants/{merchant}/accept"), json!({"programme": programme})).await, 200);
    let reply = office(n, &format!("/merchants/{merchant}/devices"), json!({"public_key": hex::encode([9u8; 32])})).await;
    expect_status(&reply, 201);
    (programme, merchant, reply.json["id"].as_u64().unwrap())
}

/// Every file under `dir`, read whole.
fn files(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
}

async fn balance(n: &Node, code: &str) -> Value {
    // The holder's enquiry: no bearer token, no Idempotency-Key.
    let reply = check(&n.app, post(v("/cards/balance"), json!({"code": code})).without("idempotency-key")).await;
    expect_status(&reply, 200);
    reply.json
}

async fn assert_books(n: &Node, programme: u32, liability: i64) {
    let (sum, core_liability) = books(n, programme).await;
    assert_eq!(sum, 0, "money is conserved: the sum over all ledger accounts is zero");
    assert_eq!(core_liability, liability, "the programme owes exactly the cards' balances");
    let reply = check(&n.app, get(v(&format!("/programmes/{programme}"))).bearer(&n.club)).await;
    expect_status(&reply, 200);
    assert_eq!(reply.json["liability_cents"], liability, "{:#}", reply.json);
}

#[tokio::test]
async fn a_voucher_day_from_batch_to_move_keeps_every_cent_across_a_restart() {
    let n = fresh().await;

    // ----- set-up: programme, merchant, till -----
    let programme_body = json!({"name": "Stadtgutschein", "card_balance_cents_max": 25_000, "load_cents_max": 10_000,
                                "card_offline_cents_max": 2_000, "reversal_window_secs": 600});
    let reply = check(&n.app, post(v("/programmes"), programme_body.clone()).bearer("wrong")).await;
    expect_problem(&reply, 401, "unauthorized");
    let reply = office(&n, "/programmes", programme_body).await;
    expect_status(&reply, 201);
    let programme = reply.json["id"].as_u64().unwrap() as u32;
    let reply = check(&n.app, get(v(&format!("/programmes/{programme}"))).bearer(&n.club)).await;
    expect_status(&reply, 200);
    assert_eq!(reply.json["name"], "Stadtgutschein");
    assert_eq!((reply.json["liability_cents"].clone(), reply.json["expired_value"].clone()), (json!(0), json!("0.00")));
    expect_problem(&check(&n.app, get(v("/programmes/99")).bearer(&n.club)).await, 404, "unknown_programme");

    let typo = office(&n, "/merchants", json!({"name": "Buchhandlung", "iban": "DE89 3704 0044 0532 0130 01"})).await;
    expect_problem(&typo, 422, "iban_invalid");
    let reply = office(&n, "/merchants", json!({"name": "Buchhandlung", "iban": "DE89 3704 0044 0532 0130 00"})).await;
    expect_status(&reply, 201);
    let merchant = reply.json["id"].as_u64().unwrap();
    let reply = office(&n, &format!("/merchants/{merchant}/accept"), json!({"programme": programme})).await;
    expect_status(&reply, 200);
    assert_eq!(reply.json, json!({"merchant": merchant, "programme": programme}));
    let reply = office(&n, &format!("/merchants/{merchant}/devices"), json!({"public_key": hex::encode([7u8; 32])})).await;
    expect_status(&reply, 201);
    let device = reply.json["id"].as_u64().unwrap();

    // ----- a batch: codes once, a retry makes nothing -----
    let batch_body = json!({"count": 3, "medium": "printed", "pin": true});
    let reply = office_keyed(&n, &format!("/programmes/{programme}/batches"), batch_body.clone(), "batch-1").await;
    expect_status(&reply, 201);
    let cards = reply.json["cards"].as_array().unwrap().clone();
    assert_eq!(cards.len(), 3);
    let batch = reply.json["batch"].clone();
    let code = |i: usize| cards[i]["code"].as_str().unwrap().to_string();
    let pin = |i: usize| cards[i]["pin"].as_str().unwrap().to_string();
    for card in &cards {
        assert_eq!(card["code"].as_str().unwrap().len(), 24, "five groups of four: {card}");
        assert_eq!(card["pin"].as_str().unwrap().len(), 4, "{card}");
    }
    let retry = office_keyed(&n, &format!("/programmes/{programme}/batches"), batch_body, "batch-1").await;
    expect_problem(&retry, 409, "batch_already_issued");
    assert_eq!(retry.json["batch"], batch);
    assert!(!retry.json.to_string().contains(&code(0)), "a retry shows no codes");
    let reply = check(&n.app, get(v(&format!("/programmes/{programme}"))).bearer(&n.club)).await;
    assert_eq!(reply.json["cards"], 3, "the retry issued no second batch");

    let (a, b, c) = (code(0), code(1), code(2));
    let fresh_card = balance(&n, &a).await;
    assert_eq!((fresh_card["state"].clone(), fresh_card["balance_cents"].clone()), (json!("inactive"), json!(0)));
    expect_problem(&office(&n, "/redemptions", json!({"redemption_id": "1", "merchant": merchant, "device": device, "code": a, "amount_cents": 100, "pin": pin(0)})).await, 409, "card_inactive");

    // ----- sale and loads -----
    let reply = office(&n, "/cards/activate", json!({"code": a, "amount_cents": 5_000, "paid_via": {"sales_point": 1}})).await;
    expect_status(&reply, 200);
    assert_eq!(reply.json["state"], "active");
    assert_eq!(reply.json["balance"], "50.00");
    assert!(reply.json["expires_at_local"].as_str().unwrap().ends_with("-01-01T00:00:00+01:00"), "{}", reply.json);
    let paid_online = json!({"code": b, "amount_cents": 2_000, "paid_via": {"provider_reference": "psp-4711"}});
    expect_status(&office(&n, "/cards/activate", paid_online).await, 200);
    expect_problem(&office(&n, "/cards/activate", json!({"code": a, "amount_cents": 100, "paid_via": {"sales_point": 1}})).await, 409, "card_not_inactive");
    expect_problem(&office(&n, "/cards/load", json!({"code": b, "amount_cents": 20_000, "paid_via": {"sales_point": 1}})).await, 422, "load_too_large");
    expect_problem(&office(&n, "/cards/load", json!({"code": c, "amount_cents": 100, "paid_via": {"sales_point": 1}})).await, 409, "card_inactive");
    assert_books(&n, programme, 7_000).await;
    assert_eq!(balance(&n, &a).await["balance_cents"], 5_000);

    // A typo in a code is caught by its check symbol; a well-formed code nobody issued is unknown.
    let mut typo = a.clone().into_bytes();
    typo[0] = if typo[0] == b'7' { b'8' } else { b'7' };
    let typo = String::from_utf8(typo).unwrap();
    let reply = check(&n.app, post(v("/cards/balance"), json!({"code": typo})).without("idempotency-key")).await;
    expect_problem(&reply, 422, "card_code_check");
    let stranger = CardCode::generate(&mut rand::rng()).grouped();
    let reply = check(&n.app, post(v("/cards/balance"), json!({"code": stranger})).without("idempotency-key")).await;
    expect_problem(&reply, 404, "unknown_card");

    // ----- redemptions: PIN, partial, retries, over-redemption, reversal -----
    let redemption = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
    let redeem = |amount: i64, pin: Option<String>| {
        json!({"redemption_id": redemption, "merchant": merchant, "device": device, "code": a, "amount_cents": amount, "pin": pin})
    };
    expect_problem(&office(&n, "/redemptions", redeem(1_250, None)).await, 422, "pin_required");
    let wrong = if pin(0) == "0000" { "1111".to_string() } else { "0000".to_string() };
    let refused = office(&n, "/redemptions", redeem(1_250, Some(wrong))).await;
    expect_problem(&refused, 403, "pin_refused");
    assert_eq!(refused.json["attempts_left"], 2);
    let reply = office_keyed(&n, "/redemptions", redeem(1_250, Some(pin(0))), "till-1").await;
    expect_status(&reply, 201);
    assert_eq!(reply.json["redemption_id"], "6f9619ff8b86d011b42d00c04fc964ff");
    assert_eq!((reply.json["balance_cents"].clone(), reply.json["balance"].clone()), (json!(3_750), json!("37.50")));
    let first = reply.json.clone();
    let again = office_keyed(&n, "/redemptions", redeem(1_250, Some(pin(0))), "till-1").await;
    assert_eq!((again.status.as_u16(), again.json.clone()), (201, first.clone()), "a retry under its key is the first reply");
    let again = office(&n, "/redemptions", redeem(1_250, Some(pin(0)))).await;
    assert_eq!((again.status.as_u16(), again.json.clone()), (201, first), "a retry under its redemption id is the first reply");
    expect_problem(&office(&n, "/redemptions", redeem(1_000, Some(pin(0)))).await, 409, "redemption_id_reused");
    assert_books(&n, programme, 5_750).await;

    let over = json!({"redemption_id": "2", "merchant": merchant, "device": device, "code": a, "amount_cents": 3_751, "pin": pin(0)});
    let reply = office(&n, "/redemptions", over).await;
    expect_problem(&reply, 409, "insufficient_balance");
    assert_eq!((reply.json["balance_cents"].clone(), reply.json["balance"].clone()), (json!(3_750), json!("37.50")), "the till can offer the rest");
    assert_eq!(balance(&n, &a).await["balance_cents"], 3_750, "a refused redemption moves nothing");

    let reverse = format!("/redemptions/{redemption}/reverse");
    expect_problem(&office(&n, &reverse, json!({"merchant": merchant + 1})).await, 403, "redemption_of_other_merchant");
    let reply = office(&n, &reverse, json!({"merchant": merchant})).await;
    expect_status(&reply, 200);
    assert_eq!(reply.json["balance_cents"], 5_000);
    let again = office(&n, &reverse, json!({"merchant": merchant})).await;
    assert_eq!(again.json["balance_cents"], 5_000, "a second reversal answers the first");
    expect_problem(&office(&n, "/redemptions/77/reverse", json!({"merchant": merchant})).await, 404, "unknown_redemption");
    assert_books(&n, programme, 7_000).await;

    // ----- a lost card: block, refused at the till, balance moved -----
    let reply = office(&n, "/cards/block", json!({"code": a})).await;
    expect_status(&reply, 200);
    assert_eq!(reply.json["state"], "blocked");
    let at_till = json!({"redemption_id": "3", "merchant": merchant, "device": device, "code": a, "amount_cents": 100, "pin": pin(0)});
    expect_problem(&office(&n, "/redemptions", at_till).await, 409, "card_blocked");
    expect_problem(&office(&n, "/cards/move", json!({"from": b, "to": a})).await, 409, "card_not_blocked");
    let reply = office(&n, "/cards/move", json!({"from": a, "to": b})).await;
    expect_status(&reply, 200);
    assert_eq!((reply.json["amount_cents"].clone(), reply.json["to"]["balance_cents"].clone()), (json!(5_000), json!(7_000)));
    expect_problem(&office(&n, "/cards/move", json!({"from": a, "to": b})).await, 409, "nothing_to_move");
    let reply = office(&n, "/cards/load", json!({"code": b, "amount_cents": 500, "paid_via": {"sales_point": 2}})).await;
    expect_status(&reply, 200);
    assert_eq!(reply.json["balance"], "75.00");
    assert_books(&n, programme, 7_500).await;

    // ----- a restart keeps every balance -----
    let n = n.restart().await;
    let (after_a, after_b, after_c) = (balance(&n, &a).await, balance(&n, &b).await, balance(&n, &c).await);
    assert_eq!((after_a["state"].clone(), after_a["balance_cents"].clone()), (json!("blocked"), json!(0)));
    assert_eq!((after_b["state"].clone(), after_b["balance_cents"].clone()), (json!("active"), json!(7_500)));
    assert_eq!((after_c["state"].clone(), after_c["balance_cents"].clone()), (json!("inactive"), json!(0)));
    assert_books(&n, programme, 7_500).await;
    let again = office_keyed(&n, "/redemptions", redeem(1_250, Some(pin(0))), "till-1").await;
    assert_eq!(again.json["balance_cents"], 3_750, "the remembered reply survives the restart and moves nothing");
    assert_books(&n, programme, 7_500).await;
}

#[tokio::test]
async fn codes_stay_out_of_the_data_directory_and_pins_windows_and_limits_hold() {
    let n = fresh().await;
    let (programme, merchant, device) = shop(&n, 0).await;
    let batches = format!("/programmes/{programme}/batches");
    expect_problem(&office(&n, &batches, json!({"count": 2_001, "medium": "digital", "pin": false})).await, 422, "batch_size_invalid");
    expect_problem(&office(&n, &batches, json!({"count": 2, "medium": "plastic", "pin": false})).await, 422, "medium_invalid");
    let reply = office_keyed(&n, &batches, json!({"count": 2, "medium": "digital", "pin": true}), "b").await;
    expect_status(&reply, 201);
    let cards = reply.json["cards"].as_array().unwrap().clone();
    let reuse = office_keyed(&n, &batches, json!({"count": 3, "medium": "digital", "pin": true}), "b").await;
    expect_problem(&reuse, 422, "idempotency_key_reused");
    let (a, b) = (cards[0]["code"].as_str().unwrap().to_string(), cards[1]["code"].as_str().unwrap().to_string());
    let pin = cards[1]["pin"].as_str().unwrap().to_string();
    for code in [&a, &b] {
        let sale = json!({"code": code, "amount_cents": 3_000, "paid_via": {"provider_reference": "psp-1"}});
        expect_status(&office(&n, "/cards/activate", sale).await, 200);
    }

    // Three wrong PINs in a row: two refusals with attempts left, then the card is blocked.
    let wrong = if cards[0]["pin"] == "0000" { "1111" } else { "0000" };
    for (i, left) in [2, 1, 0].into_iter().enumerate() {
        let body = json!({"redemption_id": format!("a{i}"), "merchant": merchant, "device": device, "code": a, "amount_cents": 100, "pin": wrong});
        let reply = office(&n, "/redemptions", body).await;
        expect_problem(&reply, 403, "pin_refused");
        assert_eq!(reply.json["attempts_left"], left);
    }
    let after = balance(&n, &a).await;
    assert_eq!((after["state"].clone(), after["balance_cents"].clone()), (json!("blocked"), json!(3_000)), "blocked, value kept");

    // A window of zero: every reversal comes too late, and changes nothing.
    let body = json!({"redemption_id": "b1", "merchant": merchant, "device": device, "code": b, "amount_cents": 1_000, "pin": pin});
    expect_status(&office(&n, "/redemptions", body).await, 201);
    expect_problem(&office(&n, "/redemptions/b1/reverse", json!({"merchant": merchant})).await, 409, "reversal_window_closed");
    assert_eq!(balance(&n, &b).await["balance_cents"], 2_000);
    assert_books(&n, programme, 5_000).await;

    // Neither the log, its WAL, nor the snapshot a clean stop writes holds a code.
    let n = n.restart().await;
    let mut found = Vec::new();
    files(n.data_dir(), &mut found);
    assert!(found.len() >= 2, "the data directory holds the log: {:?}", found.iter().map(|f| &f.0).collect::<Vec<_>>());
    // The scan sees plain command data: the merchant's IBAN, stored as text, is there.
    let iban = b"GB82WEST12345698765432";
    assert!(found.iter().any(|(_, bytes)| bytes.windows(iban.len()).any(|w| w == iban)), "the scan reads what the log holds");
    for code in [&a, &b] {
        let normalized = code.replace('-', "");
        for (path, bytes) in &found {
            for needle in [normalized.as_bytes(), code.as_bytes()] {
                assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{} holds a card code", path.display());
            }
        }
    }
    assert_eq!(balance(&n, &b).await["balance_cents"], 2_000, "found by its digest after the restart");
}

/// The public balance enquiry answers without credentials, so it shares the
/// per-address budget of the waiting room's joins: a burst of guesses from one
/// address is cut off with 429 and a Retry-After, while the office's calls go on.
#[tokio::test]
async fn guessing_codes_at_the_balance_enquiry_is_rate_limited() {
    let n = fresh().await;
    let mut limited = None;
    for attempt in 0..200 {
        let stranger = CardCode::generate(&mut rand::rng()).grouped();
        let reply = check(&n.app, post(v("/cards/balance"), json!({"code": stranger})).without("idempotency-key")).await;
        if reply.status.as_u16() == 429 {
            limited = Some((attempt, reply));
            break;
        }
        expect_problem(&reply, 404, "unknown_card");
    }
    let (attempt, reply) = limited.expect("200 guesses from one address were never limited");
    assert!((50..=70).contains(&attempt), "limited after {attempt} guesses, the budget is 60");
    expect_problem(&reply, 429, "rate_limited");
    assert!(reply.headers.get("retry-after").is_some(), "a 429 says when to come back");
    // The office is not limited by the public enquiry: a programme, a merchant and a till.
    shop(&n, 600).await;
}
