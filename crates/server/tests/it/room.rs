//! The waiting room over HTTP, with the node's real driver task moving it along
//! on the wall clock: fans join the pre-queue with an identity and a solved proof of
//! work, the opening draws them from the committed seed, admission follows the
//! drawn order and checkout capacity, and an admitted fan buys with the admission.
//! What it proves: the published draw recomputes from the revealed seed and matches
//! the order fans were admitted in; one identity is one place (a second join comes
//! back to it without work); forged or foreign tokens and replayed work are
//! rejected; the brake pauses the room and keeps every place; sold out reaches
//! everyone still in line; the box office sells at the same moment, unqueued.

use std::time::Duration;

use serde_json::{Value, json};
use sturmfest_server::credentials::Kind;
use sturmfest_server::draw::DrawDocument;
use sturmfest_server::pow;
use sturmfest_server::runtime::wall_clock_ms;

use crate::api::{Node, Reply, at, check, created_id, expect_problem, expect_status, fresh, get, payment, post, venue_json};

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

/// A signed identity as `POST /identity/confirm` would hand it out (the mail
/// round trip has its own tests in identity.rs).
fn identity(n: &Node, fan: u8) -> String {
    let mut body = u128::from(fan).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes().to_vec();
    body.extend_from_slice(&(wall_clock_ms() + 3_600_000).to_be_bytes());
    n.opened.state.tenants["club"].credentials.keyring.sign(Kind::Identity, &body)
}

/// An event on the api fixture venue (10 seats in block A, `standing` places)
/// whose sale opens `opens_in_ms` from now, behind a room whose pre-queue is open.
pub(crate) async fn queued_event(n: &Node, standing: u32, opens_in_ms: i64) -> (u64, String) {
    let venue = created_id(&check(&n.app, post(at("club", "/venues"), venue_json("Halle", standing)).bearer(&n.club)).await, "venue");
    let now = wall_clock_ms();
    let event = json!({"name": "Playoffs", "venue": venue, "starts_at": iso(now + 86_400_000),
        "sale_opens_at": iso(now + opens_in_ms), "sale_closes_at": iso(now + 86_400_000),
        "categories": [
            {"name": "Sitzplatz", "blocks": [0], "tariffs": [{"name": "Erwachsene", "price_cents": 2900}]},
            {"name": "Stehplatz", "area": 0, "tariffs": [{"name": "Erwachsene", "price_cents": 1500}]}],
        "quotas": {"online": null, "box_office": null, "reserved": null},
        "hold_duration_secs": 600, "order_tickets_max": 2, "customer_tickets_max": 2});
    let event = created_id(&check(&n.app, post(at("club", "/events"), event).bearer(&n.club)).await, "event");
    expect_status(&check(&n.app, post(at("club", &format!("/events/{event}/sale")), json!({"action": "open"})).bearer(&n.club)).await, 200);
    let room = json!({"prequeue_opens_at": iso(now - 60_000), "checkout_window_secs": 60, "admitted_active_max": 2});
    let created = check(&n.app, post(at("club", &format!("/events/{event}/room")), room).bearer(&n.club)).await;
    expect_status(&created, 201);
    (event, created.json["commitment"].as_str().unwrap().to_string())
}

async fn solved(n: &Node, event: u64) -> Value {
    let reply = check(&n.app, get(at("club", &format!("/events/{event}/queue/challenge")))).await;
    expect_status(&reply, 200);
    let challenge = reply.json["challenge"].as_str().unwrap().to_string();
    let difficulty = reply.json["difficulty"].as_u64().unwrap() as u32;
    let counter = pow::solve(&challenge, difficulty).expect("a counter exists");
    json!({"challenge": challenge, "counter": counter})
}

async fn join(n: &Node, event: u64, identity: &str, pow: Option<Value>) -> Reply {
    let mut body = json!({"identity": identity});
    if let Some(pow) = pow {
        body["pow"] = pow;
    }
    check(&n.app, post(at("club", &format!("/events/{event}/queue")), body)).await
}

async fn status(n: &Node, event: u64, token: &str) -> Reply {
    check(&n.app, get(at("club", &format!("/events/{event}/queue/status?token={token}")))).await
}

/// Polls until `done` holds for the status, for at most five seconds of the driver.
async fn until(n: &Node, event: u64, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let reply = status(n, event, token).await;
        expect_status(&reply, 200);
        if done(&reply.json) {
            return reply.json;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the room never got there: {:#}", status(n, event, token).await.json);
}

#[tokio::test]
async fn a_pre_queue_is_drawn_from_the_committed_seed_and_admitted_in_that_order() {
    let n = fresh().await;
    let (event, commitment) = queued_event(&n, 20, 4_000).await;
    let before = check(&n.app, get(at("club", &format!("/events/{event}/queue/draw")))).await.json;
    assert_eq!(before["commitment"], commitment.as_str());
    assert!(before.get("seed").is_none(), "the seed stays secret until the opening: {before:#}");

    let mut tokens = Vec::new();
    for fan in 1..=6u8 {
        let id = identity(&n, fan);
        let pow = solved(&n, event).await;
        let joined = join(&n, event, &id, Some(pow)).await;
        expect_status(&joined, 201);
        assert_eq!(joined.json["status"]["place"], "pre_queue", "{:#}", joined.json);
        tokens.push((joined.json["queue_id"].as_str().unwrap().to_string(), joined.json["token"].as_str().unwrap().to_string()));
    }
    // One identity, one place: a second device comes back without new work.
    let again = join(&n, event, &identity(&n, 3), None).await;
    expect_status(&again, 200);
    assert_eq!(again.json["queue_id"].as_str().unwrap(), tokens[2].0);

    // The driver opens the room at the sale's opening and hands in the draw.
    // Two may shop at once: the driver admits them on its next tick after the draw.
    let first = until(&n, event, &tokens[0].1, |s| s["phase"] == "admitting" && s["waiting"] == 4).await;
    assert!(first["admissions_per_minute"].as_u64().unwrap() > 0, "{first:#}");
    let draw: DrawDocument = serde_json::from_value(check(&n.app, get(at("club", &format!("/events/{event}/queue/draw")))).await.json).unwrap();
    assert_eq!(draw.commitment, commitment);
    let checked = draw.check().expect("the published draw recomputes from its seed");
    let order: Vec<String> = checked.order.iter().map(ToString::to_string).collect();
    let mut expected_entries: Vec<String> = tokens.iter().map(|(q, _)| q.clone()).collect();
    expected_entries.sort();
    assert_eq!(draw.entries, expected_entries);
    // Admission follows the draw: the first two are admitted, the rest wait in order.
    for (place, queue_id) in order.iter().enumerate() {
        let token = &tokens.iter().find(|(q, _)| q == queue_id).unwrap().1;
        let s = status(&n, event, token).await.json;
        if place < 2 {
            assert_eq!(s["place"], "admitted", "place {place}: {s:#}");
            assert!(s["admission"].is_string());
        } else {
            assert_eq!(s["position"].as_u64().unwrap() as usize, place - 1, "place {place}: {s:#}");
        }
    }

    // A place signed before the draw is answered by the writer, which hands out a
    // place that carries the fan's rank; polls with that one are answered from the
    // published view alone — and must say exactly what the writer says.
    let late = join(&n, event, &identity(&n, 7), Some(solved(&n, event).await)).await;
    expect_status(&late, 201);
    assert_eq!((late.json["status"]["place"].as_str(), late.json["status"]["position"].as_u64()), (Some("waiting"), Some(5)));
    for (place, queue_id) in order.iter().enumerate() {
        let old = &tokens.iter().find(|(q, _)| q == queue_id).unwrap().1;
        let mut by_writer = status(&n, event, old).await.json;
        let ranked = by_writer.as_object_mut().unwrap().remove("token").and_then(|t| t.as_str().map(str::to_string));
        let ranked = ranked.unwrap_or_else(|| panic!("place {place}: a drawn fan gets a ranked place: {by_writer:#}"));
        assert_ne!(&ranked, old);
        let by_view = status(&n, event, &ranked).await.json;
        assert!(by_view.get("token").is_none(), "{by_view:#}");
        for field in ["phase", "place", "position", "waiting", "opens_at", "categories"] {
            assert_eq!(by_view[field], by_writer[field], "place {place}, {field}: view {by_view:#} vs writer {by_writer:#}");
        }
        // The rank is under the signature like everything else.
        let mut tampered = ranked.clone();
        let spot = tampered.rfind('.').unwrap() - 2;
        tampered.replace_range(spot..=spot, if &ranked[spot..=spot] == "A" { "B" } else { "A" });
        expect_problem(&status(&n, event, &tampered).await, 401, "queue_token_invalid");
    }
    // A late arrival's place is ranked by its first poll, like a drawn fan's.
    let first = status(&n, event, late.json["token"].as_str().unwrap()).await.json;
    let ranked = first["token"].as_str().expect("the first poll ranks the place");
    let s = status(&n, event, ranked).await.json;
    assert!(s.get("token").is_none(), "{s:#}");
    for s in [&first, &s] {
        assert_eq!((s["place"].as_str(), s["position"].as_u64()), (Some("waiting"), Some(5)), "{s:#}");
    }
}

#[tokio::test]
async fn forged_tokens_foreign_admissions_and_replayed_work_are_rejected() {
    let n = fresh().await;
    let (event, _) = queued_event(&n, 20, 600_000).await;
    let pow = solved(&n, event).await;
    let joined = join(&n, event, &identity(&n, 1), Some(pow.clone())).await;
    expect_status(&joined, 201);
    // The same solved challenge cannot buy a second fan a place.
    expect_problem(&join(&n, event, &identity(&n, 2), Some(pow)).await, 409, "pow_replayed");
    expect_problem(&join(&n, event, &identity(&n, 2), None).await, 422, "pow_required");
    let mut forged_identity = identity(&n, 2);
    let spot = forged_identity.len() - 10;
    let swapped = if &forged_identity[spot..=spot] == "A" { "B" } else { "A" };
    forged_identity.replace_range(spot..=spot, swapped);
    let reply = join(&n, event, &forged_identity, Some(solved(&n, event).await)).await;
    assert_eq!(reply.status.as_u16(), 401, "{:#?}", reply.json);

    // The club's own verified accounts get identities from the admin call, and
    // only from it.
    let issue = json!({"accounts": ["kd-4711", "kd-4712"]});
    expect_problem(&check(&n.app, post(at("club", "/identity/issue"), issue.clone())).await, 401, "unauthorized");
    let issued = check(&n.app, post(at("club", "/identity/issue"), issue).bearer(&n.club)).await;
    expect_status(&issued, 200);
    let account = issued.json["identities"][1].as_str().unwrap().to_string();
    expect_status(&join(&n, event, &account, Some(solved(&n, event).await)).await, 201);
    expect_status(&join(&n, event, &account, None).await, 200);

    let token = joined.json["token"].as_str().unwrap();
    let mut tampered = token.to_string();
    tampered.replace_range(12..13, if &token[12..13] == "A" { "B" } else { "A" });
    expect_problem(&status(&n, event, &tampered).await, 401, "queue_token_invalid");
    // A genuine place of this room is not a place in another event's room.
    let (other, _) = queued_event(&n, 5, 600_000).await;
    expect_problem(&status(&n, other, token).await, 401, "queue_token_invalid");

    // Without an admission an online hold in a queued event is refused; a forged
    // admission too; the box office sells unqueued.
    let hold = json!({"customer": "fan-1", "tariff": 0, "selection": {"type": "standing", "area": 0, "quantity": 1}});
    let path = at("club", &format!("/events/{event}/holds"));
    let early = check(&n.app, post(&path, hold.clone())).await;
    assert_eq!(early.status.as_u16(), 409, "the sale has not opened yet: {:#?}", early.json);
    let mut with_fake = hold.clone();
    with_fake["admission"] = json!(token);
    expect_problem(&check(&n.app, post(&path, with_fake)).await, 403, "admission_invalid");
}

#[tokio::test]
async fn the_brake_keeps_every_place_and_sold_out_reaches_everyone_in_line() {
    let n = fresh().await;
    let (event, _) = queued_event(&n, 2, 300).await;
    let mut tokens = Vec::new();
    for fan in 1..=5u8 {
        let joined = join(&n, event, &identity(&n, fan), Some(solved(&n, event).await)).await;
        tokens.push(joined.json["token"].as_str().unwrap().to_string());
    }
    let opened = until(&n, event, &tokens[0], |s| s["phase"] == "admitting" && s["waiting"] == 3).await;
    let places: Vec<Value> = futures_places(&n, event, &tokens).await;

    let brake = json!({"action": "pause", "message": "Technische Störung", "resume_at": iso(wall_clock_ms() + 600_000)});
    expect_status(&check(&n.app, post(at("club", &format!("/events/{event}/sale")), brake).bearer(&n.club)).await, 200);
    let paused = status(&n, event, &tokens[0]).await.json;
    assert_eq!(paused["phase"], "paused", "{paused:#}");
    assert_eq!(paused["message"], "Technische Störung");
    assert!(paused["resume_at"].is_string());
    assert_eq!(futures_places(&n, event, &tokens).await, places, "the brake kept every place");
    expect_status(&check(&n.app, post(at("club", &format!("/events/{event}/sale")), json!({"action": "resume"})).bearer(&n.club)).await, 200);
    until(&n, event, &tokens[0], |s| s["phase"] == "admitting").await;

    // An admitted fan buys both standing places with the admission; with 10 seats
    // still unsold the room goes on; the box office sells the seats.
    let admitted = tokens.iter().find_map(|t| {
        let s = places.iter().zip(&tokens).find(|(_, tok)| *tok == t).map(|(s, _)| s.clone())?;
        (s["place"] == "admitted").then(|| t.clone())
    });
    let admitted = admitted.expect("two were admitted at the opening");
    let admission = status(&n, event, &admitted).await.json["admission"].as_str().unwrap().to_string();
    let hold = json!({"customer": "fan", "tariff": 0, "selection": {"type": "standing", "area": 0, "quantity": 2}, "admission": admission});
    let held = check(&n.app, post(at("club", &format!("/events/{event}/holds")), hold)).await;
    expect_status(&held, 201);
    let bought = crate::payments::pay_with(&n.app, "club", held.json["hold"].as_str().unwrap(), Some(&admission)).await;
    expect_status(&bought, 201);
    assert_eq!(status(&n, event, &admitted).await.json["place"], "done");

    for pair in 0..5u32 {
        let seats = [2 * pair, 2 * pair + 1];
        let counter = json!({"customer": "kasse-1", "tariff": 0, "channel": "box_office", "selection": {"type": "seats", "seats": seats}});
        let at_counter = check(&n.app, post(at("club", &format!("/events/{event}/holds")), counter).bearer(&n.club)).await;
        expect_status(&at_counter, 201);
        let sold = check(&n.app, post(at("club", &format!("/holds/{}/confirm", at_counter.json["hold"].as_str().unwrap())), payment()).bearer(&n.club)).await;
        expect_status(&sold, 201);
    }
    for token in &tokens {
        let s = status(&n, event, token).await.json;
        assert_eq!(s["phase"], "sold_out", "{s:#}");
        assert!(matches!(s["place"].as_str(), Some("sold_out" | "done" | "admitted" | "expired")), "{s:#}");
    }
    let _ = opened;
}

async fn futures_places(n: &Node, event: u64, tokens: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for token in tokens {
        let s = status(n, event, token).await.json;
        out.push(json!({"place": s["place"], "position": s["position"]}));
    }
    out
}
