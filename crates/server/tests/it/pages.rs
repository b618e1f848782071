//! The server-rendered pages as a browser receives them: German by default and by
//! `Accept-Language`, English on request, euros with two decimals, times in
//! Europe/Berlin, the brake's message shown, every organizer-supplied text escaped.
//! (Rendering in a real browser is tested with Chromium where the pages grow
//! interactive.)

use serde_json::{Value, json};
use sturmfest_core as core;
use sturmfest_server::web::format::{date_time, euros};
use sturmfest_server::web::i18n::Lang;

use crate::api::{at, check, expect_status, fresh, get, open_event, post};

fn page(reply: &crate::api::Reply) -> String {
    match &reply.json {
        Value::String(body) => body.clone(),
        other => panic!("not an HTML body: {other:#}"),
    }
}

#[tokio::test]
async fn the_games_page_speaks_german_by_default_and_english_on_request() {
    let n = fresh().await;
    open_event(&n, "club", "Heimspiel <b>gegen</b> Rivalen", 50).await;

    let german = check(&n.app, get("/club").header("accept", "text/html")).await;
    expect_status(&german, 200);
    assert_eq!(german.headers["content-language"], "de");
    let body = page(&german);
    for expected in ["<html lang=\"de\"", "Spiele", "Im Verkauf", "ab 15,00\u{a0}€", "Mi., 02.12.2099, 19:30 Uhr", "60 frei von 60"] {
        assert!(body.contains(expected), "missing {expected:?} in\n{body}");
    }
    assert!(body.contains("Heimspiel &#60;b&#62;gegen&#60;/b&#62; Rivalen"), "the organizer's text is escaped:\n{body}");
    assert!(!body.contains("<b>gegen</b>"));

    let english = check(&n.app, get("/club").header("accept-language", "en-GB,en;q=0.9,de;q=0.5")).await;
    assert_eq!(english.headers["content-language"], "en");
    let body = page(&english);
    for expected in ["<html lang=\"en\"", "Games", "On sale", "from €15.00", "Wed 2 Dec 2099, 19:30", "German time (Europe/Berlin)"] {
        assert!(body.contains(expected), "missing {expected:?} in\n{body}");
    }
    let forced = check(&n.app, get("/club?lang=de").header("accept-language", "en")).await;
    assert_eq!(forced.headers["content-language"], "de");
}

#[tokio::test]
async fn a_game_page_lists_prices_and_free_places_and_shows_the_brake_message() {
    let n = fresh().await;
    let event = open_event(&n, "club", "Derby", 50).await;
    let path = format!("/club/events/{event}");
    let body = page(&check(&n.app, get(&path)).await);
    for expected in ["Sitzplatz", "Erwachsene 29,00\u{a0}€ · Ermäßigt 19,05\u{a0}€", "Stehplatz", "Im Verkauf"] {
        assert!(body.contains(expected), "missing {expected:?} in\n{body}");
    }
    let pause = json!({"action": "pause", "message": "Technische Störung – weiter um 15 Uhr", "resume_at": "2099-12-01T15:00:00+01:00"});
    let paused = check(&n.app, post(at("club", &format!("/events/{event}/sale")), pause).bearer(&n.club)).await;
    expect_status(&paused, 200);
    let body = page(&check(&n.app, get(&path)).await);
    for expected in ["Verkauf angehalten", "Technische Störung – weiter um 15 Uhr", "Weiter voraussichtlich Di., 01.12.2099, 15:00 Uhr", "role=\"status\""] {
        assert!(body.contains(expected), "missing {expected:?} in\n{body}");
    }
}

#[tokio::test]
async fn unknown_organizers_and_games_are_404_pages_for_browsers_and_problems_for_clients() {
    let n = fresh().await;
    let browser = check(&n.app, get("/nobody").header("accept", "text/html,application/xhtml+xml")).await;
    expect_status(&browser, 404);
    assert!(page(&browser).contains("Diese Seite gibt es nicht."));
    let client = check(&n.app, get("/nobody")).await;
    expect_status(&client, 404);
    assert_eq!(client.json["code"], "not_found");
    expect_status(&check(&n.app, get("/club/events/77").header("accept", "text/html")).await, 404);
}

#[test]
fn euros_have_two_decimals_and_grouping_in_each_language() {
    assert_eq!(euros(core::Cents(2900), Lang::De), "29,00\u{a0}€");
    assert_eq!(euros(core::Cents(5), Lang::En), "€0.05");
    assert_eq!(euros(core::Cents(123_456_789), Lang::De), "1.234.567,89\u{a0}€");
    assert_eq!(euros(core::Cents(123_456_789), Lang::En), "€1,234,567.89");
    assert_eq!(euros(core::Cents(-1_050), Lang::De), "-10,50\u{a0}€");
}

#[test]
fn times_are_berlin_time_in_winter_and_in_summer() {
    // 2026-07-01T12:00Z is 14:00 in Berlin (CEST), 2026-12-01T12:00Z is 13:00 (CET).
    let summer = jiff::Timestamp::from_second(1_782_907_200).unwrap().as_millisecond();
    let winter = jiff::Timestamp::from_second(1_796_126_400).unwrap().as_millisecond();
    assert_eq!(date_time(core::TimeMs(summer), Lang::De), "Mi., 01.07.2026, 14:00 Uhr");
    assert_eq!(date_time(core::TimeMs(winter), Lang::En), "Tue 1 Dec 2026, 13:00");
}

#[tokio::test]
async fn the_waiting_page_renders_the_room_before_any_script_and_serves_its_scripts_for_a_year() {
    let n = fresh().await;
    let (event, _) = crate::room::queued_event(&n, 20, 600_000).await;
    let path = format!("/club/events/{event}/queue");
    let german = check(&n.app, get(&path)).await;
    expect_status(&german, 200);
    let body = page(&german);
    for expected in [
        "Warteraum: Playoffs",
        "Verkaufsstart ",
        "Vorverkauf: Der Warteraum ist offen.",
        "aria-live=\"polite\"",
        "<noscript>",
        "<label for=\"email\">E-Mail-Adresse</label>",
        "data-category=\"1\">20<",
        "\"pow_progress\":\"Wir prüfen, dass Sie kein Bot sind …\"",
    ] {
        assert!(body.contains(expected), "missing {expected:?} in\n{body}");
    }
    let english = page(&check(&n.app, get(format!("{path}?lang=en"))).await);
    assert!(english.contains("Pre-queue: the waiting room is open.") && english.contains("\"lang\":\"en\""), "{english}");
    let event_page = page(&check(&n.app, get(format!("/club/events/{event}"))).await);
    assert!(event_page.contains(&format!("href=\"/club/events/{event}/queue?lang=de\"")), "the game links its waiting room");

    // The scripts are referenced by content-hashed names and cached for a year.
    for script in ["pow", "queue"] {
        let start = body.find(&format!("src=\"/assets/{script}.")).expect("script tag") + 5;
        let src = &body[start..start + body[start..].find('"').unwrap()];
        let served = check(&n.app, get(src)).await;
        expect_status(&served, 200);
        assert_eq!(served.headers["content-type"], "text/javascript; charset=utf-8");
        assert_eq!(served.headers["cache-control"], "public, max-age=31536000, immutable");
    }
    expect_status(&check(&n.app, get("/assets/queue.js")).await, 404);

    let brake = json!({"action": "pause", "message": "Störung </script>", "resume_at": "2099-12-01T15:00:00+01:00"});
    expect_status(&check(&n.app, post(at("club", &format!("/events/{event}/sale")), brake).bearer(&n.club)).await, 200);
    let paused = page(&check(&n.app, get(&path)).await);
    for expected in ["Verkauf angehalten.", "Störung &#60;/script&#62;", "Weiter voraussichtlich Di., 01.12.2099, 15:00 Uhr"] {
        assert!(paused.contains(expected), "missing {expected:?} in\n{paused}");
    }
    // A game without a room has no waiting page.
    let plain = open_event(&n, "club", "Testspiel", 10).await;
    expect_status(&check(&n.app, get(format!("/club/events/{plain}/queue")).header("accept", "text/html")).await, 404);
}
