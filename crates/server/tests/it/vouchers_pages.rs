//! The card holder's balance page, `/{tenant}/card`, on a real node (`api::fresh`).
//!
//! What it proves: the form is served in German by default and in English on
//! request, with a label for its one field; a sold card's code (typed with spaces
//! and in lower case) shows its balance in euros with two decimals in the page's
//! language, its state and the last day it is valid in Berlin; an unsold card says
//! so; a mistyped code and an unknown one get their own messages and statuses; and
//! the page shares the balance API's per-address budget, so guessing codes through
//! it ends in `429` with `Retry-After` like the API.

use serde_json::json;

use crate::api::{Node, Reply, check, expect_status, fresh, get, post, request};

fn html(reply: &Reply) -> &str {
    reply.json.as_str().unwrap_or_else(|| panic!("an HTML page, got {reply:#?}"))
}

fn submit(lang: &str, code: &str) -> crate::api::Req {
    let body = format!("code={}", percent_encoding::utf8_percent_encode(code, percent_encoding::NON_ALPHANUMERIC));
    request("POST", format!("/club/card?lang={lang}")).header("content-type", "application/x-www-form-urlencoded").raw(body)
}

/// Two printed cards of a new programme; the first sold for EUR 37.50 in cash.
async fn cards(n: &Node) -> (String, String) {
    let office = |path: &str, body| post(format!("/api/v1/club/vouchers{path}"), body).bearer(&n.club);
    let reply = check(&n.app, office("/programmes", json!({"name": "Regio", "card_balance_cents_max": 10_000, "load_cents_max": 10_000, "card_offline_cents_max": 1_000, "reversal_window_secs": 600}))).await;
    let programme = reply.json["id"].as_u64().unwrap();
    let batch = check(&n.app, office(&format!("/programmes/{programme}/batches"), json!({"count": 2, "medium": "printed", "pin": false}))).await;
    let codes: Vec<String> = batch.json["cards"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_string()).collect();
    expect_status(&check(&n.app, office("/cards/activate", json!({"code": codes[0], "amount_cents": 3_750, "paid_via": {"sales_point": 1}}))).await, 200);
    (codes[0].clone(), codes[1].clone())
}

#[tokio::test]
async fn a_holder_sees_the_balance_state_and_last_valid_day_of_a_card() {
    let n = fresh().await;
    let (sold, unsold) = cards(&n).await;
    let form = check(&n.app, get("/club/card")).await;
    expect_status(&form, 200);
    let page = html(&form);
    assert!(page.contains("<html lang=\"de\">") && page.contains("Gutscheinkarte prüfen"), "{page}");
    assert!(page.contains("<label for=\"code\">Kartencode</label>") && page.contains("id=\"code\" name=\"code\""));
    assert!(html(&check(&n.app, get("/club/card?lang=en")).await).contains("Check a voucher card"));

    // Typed as a person might: lower case, spaces for the dashes.
    let typed = sold.to_lowercase().replace('-', " ");
    let reply = check(&n.app, submit("de", &typed)).await;
    expect_status(&reply, 200);
    let page = html(&reply);
    let sold_year = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap()).year();
    assert!(page.contains("<dd class=\"big\" id=\"balance\">37,50\u{a0}€</dd>"), "{page}");
    assert!(page.contains("<dd id=\"state\">aktiv</dd>"));
    assert!(page.contains(&format!("<dd id=\"expires\">31.12.{}</dd>", sold_year + 3)), "valid to the end of the third year after the sale: {page}");
    let english = check(&n.app, submit("en", &sold)).await;
    assert!(html(&english).contains("€37.50") && html(&english).contains(&format!("31 December {}", sold_year + 3)));
    assert!(!html(&english).contains(&sold), "the page does not echo the code");

    let reply = check(&n.app, submit("de", &unsold)).await;
    assert!(html(&reply).contains("<dd id=\"state\">nicht aktiviert</dd>") && html(&reply).contains("noch nicht verkauft"));
    let mistyped = check(&n.app, submit("de", "ABCD")).await;
    expect_status(&mistyped, 422);
    assert!(html(&mistyped).contains("nicht gültig"));
    // A well-formed code no card has: flip the check symbol's neighbour until it parses.
    let unknown = check(&n.app, submit("en", &other_valid_code(&sold))).await;
    expect_status(&unknown, 404);
    assert!(html(&unknown).contains("There is no card with this code."));
}

/// A code that parses (its check symbol fits) but belongs to no card.
fn other_valid_code(code: &str) -> String {
    use sturmfest_server::vouchers::codes::CardCode;
    let alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let chars: Vec<char> = code.chars().collect();
    for position in 0..chars.len() {
        for replacement in alphabet.chars() {
            for check in alphabet.chars() {
                let mut candidate = chars.clone();
                if candidate[position] == '-' || candidate[position] == replacement {
                    continue;
                }
                candidate[position] = replacement;
                let last = candidate.len() - 1;
                candidate[last] = check;
                let text: String = candidate.iter().collect();
                if text != code && CardCode::parse(&text).is_ok() {
                    return text;
                }
            }
        }
    }
    panic!("no other valid code near {code}");
}

#[tokio::test]
async fn guessing_codes_through_the_page_is_rate_limited_like_the_api() {
    let n = fresh().await;
    let (sold, _) = cards(&n).await;
    let mut limited = None;
    for attempt in 0..200 {
        let reply = check(&n.app, submit("de", &other_valid_code(&sold))).await;
        if reply.status.as_u16() == 429 {
            limited = Some((attempt, reply));
            break;
        }
        expect_status(&reply, 404);
    }
    let (attempt, reply) = limited.expect("the page's look-ups are limited per address");
    assert!((50..=70).contains(&attempt), "about the API's burst of 60, got {attempt}");
    assert!(reply.headers.get("retry-after").is_some());
    assert!(html(&reply).contains("Zu viele Abfragen"));
    // The API shares the budget: it is spent there too.
    let api = check(&n.app, post("/api/v1/club/vouchers/cards/balance", json!({"code": sold}))).await;
    expect_status(&api, 429);
}
