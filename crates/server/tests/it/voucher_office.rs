//! The city voucher office's pages through the whole router on a real SQLite log,
//! as a browser without script uses them: forms posted as
//! `application/x-www-form-urlencoded` with the session cookie, the CSRF field and
//! the form's idempotency key, answers read as HTML (or the batch's CSV), and every
//! effect checked against the core's own state and the ledger.
//!
//! What they prove: only voucher-office and admin accounts open the pages, a form
//! without its CSRF token changes nothing; a programme made through the form is the
//! core's programme; a printed batch downloads once as a CSV whose every code looks
//! up, and the same form sent again is told the codes were shown once; the counter
//! sells and loads and the card page lists those bookings with sales point,
//! reference and merchant; block, move and refund (page and the new API) move
//! exactly the money they say; cards whose expiry lies in the past (log records with
//! chosen times) are booked as expired value through the new API and the overview
//! shows it, and the node's writer books them by itself; hostile input gets the clerk's sentence and changes nothing. The
//! tenant's invariants (money conserved, journal equals ledger) are checked after.

use axum::http::header;
use serde_json::json;
use sturmfest_core as core;
use sturmfest_core::ledger::ProgrammeId;
use sturmfest_core::vouchers::*;
use sturmfest_core::{Cents, TimeMs};

use crate::api::{Node, Reply, check, expect_problem, expect_status, get, post, request};
use crate::boxoffice::{csrf_of, page_text, staff_cookie};

pub(crate) fn form(uri: &str, cookie: &str, fields: &[(&str, &str)]) -> crate::api::Req {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
        .collect();
    request("POST", uri).header("content-type", "application/x-www-form-urlencoded").header("cookie", cookie).raw(body.join("&"))
}

async fn read<R: Send + 'static>(n: &Node, f: impl FnOnce(&core::Tenant) -> R + Send + 'static) -> R {
    n.opened.state.tenants["club"].shard.read(f).await.unwrap()
}

/// A clerk's session: cookie, CSRF token, and a counter for form keys.
struct Clerk {
    cookie: String,
    csrf: String,
    keys: u32,
}

impl Clerk {
    async fn new(n: &Node, login: &str) -> Clerk {
        let cookie = staff_cookie(n, login, &["voucher_office"]).await;
        let csrf = csrf_of(n, &cookie).await;
        Clerk { cookie, csrf, keys: 0 }
    }

    fn key(&mut self) -> String {
        self.keys += 1;
        format!("form-key-{}", self.keys)
    }

    /// Posts a form with the CSRF token and a fresh key (unless `key` is given).
    async fn post(&mut self, n: &Node, path: &str, fields: &[(&str, &str)]) -> Reply {
        let key = self.key();
        self.post_with_key(n, path, &key, fields).await
    }

    async fn post_with_key(&self, n: &Node, path: &str, key: &str, fields: &[(&str, &str)]) -> Reply {
        let mut all = vec![("csrf", self.csrf.as_str()), ("key", key)];
        all.extend_from_slice(fields);
        check(&n.app, form(path, &self.cookie, &all)).await
    }

    async fn page(&self, n: &Node, path: &str) -> String {
        let reply = check(&n.app, get(path).header("cookie", &self.cookie)).await;
        expect_status(&reply, 200);
        page_text(&reply).to_string()
    }
}

/// The text of the element with this id (up to its first `<`), entities as sent.
fn element(html: &str, id: &str) -> String {
    let open = format!("id=\"{id}\"");
    let at = html.find(&open).unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    html[start..start + html[start..].find('<').unwrap()].trim().to_string()
}

fn programme_fields<'a>(name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("name", name), ("balance_max", "250,00"), ("load_max", "150"), ("offline_max", "20,00"), ("reversal_minutes", "30")]
}

/// A programme made through the form; its id.
async fn programme(n: &Node, clerk: &mut Clerk, name: &str) -> u32 {
    let reply = clerk.post(n, "/club/vouchers/programmes", &programme_fields(name)).await;
    expect_status(&reply, 303);
    read(n, |t| t.vouchers().programmes().map(|p| p.id.0).max().unwrap()).await
}

/// Codes from the batch CSV.
fn csv_codes(reply: &Reply) -> Vec<String> {
    let text = page_text(reply);
    let mut lines = text.strip_prefix('\u{feff}').expect("a BOM").lines();
    assert_eq!(lines.next(), Some("code;pin"));
    lines.map(|l| l.split(';').next().unwrap().to_string()).collect()
}

async fn batch(n: &Node, clerk: &mut Clerk, programme: u32, count: u32) -> Vec<String> {
    let (p, c) = (programme.to_string(), count.to_string());
    let reply = clerk.post(n, "/club/vouchers/cards/batch", &[("programme", &p), ("count", &c)]).await;
    expect_status(&reply, 200);
    csv_codes(&reply)
}

async fn balance(n: &Node, code: &str) -> serde_json::Value {
    let reply = check(&n.app, post("/api/v1/club/vouchers/cards/balance", json!({"code": code}))).await;
    expect_status(&reply, 200);
    reply.json
}

/// Every booking and ledger transfer: what "nothing changed" compares.
async fn journal(n: &Node) -> (usize, usize) {
    read(n, |t| (t.vouchers().bookings().len(), t.ledger().transfers().len())).await
}

async fn invariants(n: &Node) {
    read(n, |t| t.check_invariants()).await;
}

#[tokio::test]
async fn the_voucher_office_is_for_its_role_and_a_form_without_csrf_changes_nothing() {
    let n = crate::api::fresh().await;
    let kasse = staff_cookie(&n, "kasse", &["box_office"]).await;
    for path in ["/club/vouchers", "/club/vouchers/cards", "/club/vouchers/counter"] {
        let page = check(&n.app, get(path).header("cookie", &kasse).header("accept", "text/html")).await;
        expect_status(&page, 403);
        assert!(page_text(&page).contains("<p>"), "a short page for the browser: {page:?}");
        expect_problem(&check(&n.app, get(path).header("cookie", &kasse)).await, 403, "staff_forbidden");
    }
    let token = csrf_of(&n, &kasse).await;
    let mut fields = vec![("csrf", token.as_str()), ("key", "k1")];
    fields.extend(programme_fields("Stadtgutschein"));
    expect_problem(&check(&n.app, form("/club/vouchers/programmes", &kasse, &fields)).await, 403, "staff_forbidden");
    let to_login = check(&n.app, get("/club/vouchers").header("accept", "text/html")).await;
    expect_status(&to_login, 303);

    let clerk = Clerk::new(&n, "gutschein").await;
    let home = clerk.page(&n, "/club/vouchers").await;
    assert!(home.contains("aria-current=\"page\"") && home.contains("Gutscheinbüro"), "the shared menu: {home}");
    let english = clerk.page(&n, "/club/vouchers/counter?lang=en").await;
    assert!(english.contains("<html lang=\"en\">") && english.contains("Sell a printed card") && english.contains("Voucher office"), "{english}");
    let mut forged = vec![("key", "k2")];
    forged.extend(programme_fields("Stadtgutschein"));
    expect_problem(&check(&n.app, form("/club/vouchers/programmes", &clerk.cookie, &forged)).await, 403, "csrf_invalid");
    let mut foreign = vec![("csrf", token.as_str()), ("key", "k3")];
    foreign.extend(programme_fields("Stadtgutschein"));
    expect_problem(&check(&n.app, form("/club/vouchers/programmes", &clerk.cookie, &foreign)).await, 403, "csrf_invalid");
    assert_eq!(read(&n, |t| t.vouchers().programmes().count()).await, 0, "a refused form changes nothing");
    let admin = staff_cookie(&n, "chefin", &["admin"]).await;
    expect_status(&check(&n.app, get("/club/vouchers/counter").header("cookie", &admin)).await, 200);
}

#[tokio::test]
async fn a_programme_from_the_form_is_the_cores_and_a_batch_downloads_once_as_csv_whose_codes_all_look_up() {
    let n = crate::api::fresh().await;
    let mut clerk = Clerk::new(&n, "gutschein").await;
    let id = programme(&n, &mut clerk, "Stadtgutschein").await;
    let p = read(&n, move |t| t.vouchers().programme(ProgrammeId(id)).cloned().unwrap()).await;
    assert_eq!(p.name, "Stadtgutschein");
    assert_eq!(
        p.limits,
        ProgrammeLimits { card_balance_cents_max: Cents(25_000), load_cents_max: Cents(15_000), card_offline_cents_max: Cents(2_000), reversal_window_ms: 30 * 60_000 }
    );
    let overview = clerk.page(&n, "/club/vouchers?done=1").await;
    assert!(overview.contains("Stadtgutschein") && overview.contains("250,00\u{a0}€") && overview.contains("30 Minuten"), "{overview}");

    let cards = clerk.page(&n, "/club/vouchers/cards").await;
    assert!(cards.contains("id=\"shown-once\"") && cards.contains("nur ein einziges Mal"), "the form warns the codes are shown once");
    let (p_text, key) = (id.to_string(), "batch-form-1");
    let fields = [("programme", p_text.as_str()), ("count", "3"), ("pin", "1")];
    let reply = clerk.post_with_key(&n, "/club/vouchers/cards/batch", key, &fields).await;
    expect_status(&reply, 200);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(reply.headers[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment;"));
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    let text = page_text(&reply);
    assert!(text.lines().skip(1).all(|l| l.split(';').nth(1).is_some_and(|pin| pin.len() == 4)), "every card has its PIN: {text}");
    let codes = csv_codes(&reply);
    assert_eq!(codes.len(), 3);
    for code in &codes {
        let found = clerk.post(&n, "/club/vouchers/cards/lookup", &[("code", code)]).await;
        expect_status(&found, 200);
        let html = page_text(&found);
        assert_eq!(element(html, "found-state"), "nicht verkauft", "{html}");
        assert_eq!(element(html, "found-balance"), "0,00\u{a0}€");
    }

    let again = clerk.post_with_key(&n, "/club/vouchers/cards/batch", key, &fields).await;
    expect_status(&again, 409);
    assert!(page_text(&again).contains("schon ausgegeben"), "{}", page_text(&again));
    let batches = read(&n, |t| {
        let v = t.vouchers();
        let ids: std::collections::BTreeSet<BatchId> = v.cards().map(|c| c.batch).collect();
        ids.into_iter().map(|b| (b.0, v.batch(b).unwrap().cards)).collect::<Vec<_>>()
    })
    .await;
    assert_eq!(batches.len(), 1, "the retry made no second batch");
    let listed = clerk.page(&n, "/club/vouchers/cards").await;
    assert!(listed.contains(&format!("<td>{}</td><td>Stadtgutschein</td><td>gedruckt</td><td class=\"num\">3</td>", batches[0].0)), "{listed}");

    let oversized = clerk.post(&n, "/club/vouchers/cards/batch", &[("programme", &p_text), ("count", "2001")]).await;
    expect_status(&oversized, 422);
    let unknown = clerk.post(&n, "/club/vouchers/cards/batch", &[("programme", "99"), ("count", "2")]).await;
    expect_status(&unknown, 404);
    assert!(page_text(&unknown).contains("Dieses Programm gibt es nicht."));
    assert_eq!(read(&n, |t| t.vouchers().cards().count()).await, 3, "refused batches made no cards");
    invariants(&n).await;
}

#[tokio::test]
async fn the_counter_sells_and_loads_and_the_card_page_shows_the_bookings_then_blocks_moves_and_refunds() {
    let n = crate::api::fresh().await;
    let mut clerk = Clerk::new(&n, "gutschein").await;
    let id = programme(&n, &mut clerk, "Stadtgutschein").await;
    let codes = batch(&n, &mut clerk, id, 2).await;

    let sold = clerk.post(&n, "/club/vouchers/counter", &[("action", "sell"), ("code", &codes[0]), ("amount", "25,00"), ("paid", "cash"), ("sales_point", "3")]).await;
    expect_status(&sold, 200);
    let html = page_text(&sold);
    assert_eq!(element(html, "result-balance"), "25,00\u{a0}€");
    let year = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap()).year();
    assert_eq!(element(html, "result-valid"), format!("31.12.{}", year + 3));
    assert!(html.contains("name=\"sales_point\" inputmode=\"numeric\" value=\"3\""), "the sales point stays for the next customer");
    let loaded = clerk.post(&n, "/club/vouchers/counter", &[("action", "load"), ("code", &codes[0]), ("amount", "10"), ("paid", "card"), ("reference", "T-4711")]).await;
    expect_status(&loaded, 200);
    assert_eq!(element(page_text(&loaded), "result-balance"), "35,00\u{a0}€");
    assert_eq!(balance(&n, &codes[0]).await["balance_cents"], json!(3_500));
    // Selling a sold card again is the core's refusal, in the clerk's words.
    let twice = clerk.post(&n, "/club/vouchers/counter", &[("action", "sell"), ("code", &codes[0]), ("amount", "5"), ("paid", "cash"), ("sales_point", "3")]).await;
    expect_status(&twice, 409);
    assert!(page_text(&twice).contains("schon verkauft"));

    // A redemption at a merchant (through the API, as a till makes it).
    let office = |path: &str, body| post(format!("/api/v1/club/vouchers{path}"), body).bearer(&n.club);
    let merchant = check(&n.app, office("/merchants", json!({"name": "Buchladen Ecke", "iban": "DE89370400440532013000"}))).await.json["id"].as_u64().unwrap();
    expect_status(&check(&n.app, office(&format!("/merchants/{merchant}/accept"), json!({"programme": id}))).await, 200);
    let device = check(&n.app, office(&format!("/merchants/{merchant}/devices"), json!({"public_key": "07".repeat(32)}))).await.json["id"].as_u64().unwrap();
    let redeem = json!({"redemption_id": "a1", "merchant": merchant, "device": device, "code": codes[0], "amount_cents": 1_200, "pin": null});
    expect_status(&check(&n.app, office("/redemptions", redeem)).await, 201);

    let found = clerk.post(&n, "/club/vouchers/cards/lookup", &[("code", &codes[0].to_lowercase().replace('-', " "))]).await;
    expect_status(&found, 200);
    let html = page_text(&found);
    assert_eq!(element(html, "found-balance"), "23,00\u{a0}€");
    assert_eq!(element(html, "found-state"), "aktiv");
    let bookings = &html[html.find("id=\"bookings\"").unwrap()..];
    let sale = bookings.find("<br>Verkauf</td><td class=\"num\">+25,00\u{a0}€</td><td>bar, Verkaufsstelle 3</td>").expect("the sale");
    let load = bookings.find("<br>Aufladung</td><td class=\"num\">+10,00\u{a0}€</td><td>Referenz: T-4711</td>").expect("the load");
    let redemption = bookings.find("<br>Einlösung</td><td class=\"num\">-12,00\u{a0}€</td><td>Händler Buchladen Ecke</td>").expect("the redemption");
    assert!(redemption < load && load < sale, "newest first");

    // Lost: block, then move the whole balance to the second card (sold for 5 €).
    let blocked = clerk.post(&n, "/club/vouchers/cards/action", &[("action", "block"), ("code", &codes[0])]).await;
    expect_status(&blocked, 200);
    assert_eq!(element(page_text(&blocked), "found-state"), "gesperrt");
    let not_sold = clerk.post(&n, "/club/vouchers/cards/action", &[("action", "move"), ("code", &codes[0]), ("to", &codes[1])]).await;
    expect_status(&not_sold, 409);
    assert!(page_text(&not_sold).contains("noch nicht verkauft"), "{}", page_text(&not_sold));
    let sold = clerk.post(&n, "/club/vouchers/counter", &[("action", "sell"), ("code", &codes[1]), ("amount", "5"), ("paid", "cash"), ("sales_point", "3")]).await;
    expect_status(&sold, 200);
    let moved = clerk.post(&n, "/club/vouchers/cards/action", &[("action", "move"), ("code", &codes[0]), ("to", &codes[1])]).await;
    expect_status(&moved, 200);
    assert_eq!(element(page_text(&moved), "card-done"), "Übertragen: 23,00\u{a0}€");
    assert_eq!(element(page_text(&moved), "found-balance"), "0,00\u{a0}€");
    assert_eq!(balance(&n, &codes[1]).await["balance_cents"], json!(2_800));

    // Refund through the page, then through the API.
    let refunded = clerk.post(&n, "/club/vouchers/cards/action", &[("action", "refund"), ("code", &codes[1]), ("amount", "8,50"), ("reference", "Überweisung 17")]).await;
    expect_status(&refunded, 200);
    let html = page_text(&refunded);
    assert_eq!(element(html, "card-done"), "Ausgezahlt: 8,50\u{a0}€");
    assert_eq!(element(html, "found-balance"), "19,50\u{a0}€");
    assert!(html.contains("<br>Auszahlung</td><td class=\"num\">-8,50\u{a0}€</td><td>Referenz: Überweisung 17</td>"), "{html}");
    let api = |body| post(format!("/api/v1/club/vouchers/cards/{}/refund", codes[1]), body).bearer(&n.club);
    let reply = check(&n.app, api(json!({"amount_cents": 450, "reference": "bar zurück"}))).await;
    expect_status(&reply, 200);
    assert_eq!((reply.json["amount_cents"].clone(), reply.json["card"]["balance_cents"].clone()), (json!(450), json!(1_500)));
    expect_problem(&check(&n.app, api(json!({"amount_cents": 1_501, "reference": "zu viel"}))).await, 409, "insufficient_balance");
    expect_problem(&check(&n.app, api(json!({"amount_cents": -1, "reference": "x"}))).await, 422, "amount_invalid");
    expect_problem(&check(&n.app, api(json!({"amount_cents": 100, "reference": " "}))).await, 422, "reference_invalid");
    let inactive = check(&n.app, office(&format!("/programmes/{id}/batches"), json!({"count": 1, "medium": "printed", "pin": false}))).await;
    let fresh_code = inactive.json["cards"][0]["code"].as_str().unwrap().to_string();
    let refund_inactive = post(format!("/api/v1/club/vouchers/cards/{fresh_code}/refund"), json!({"amount_cents": 1, "reference": "x"})).bearer(&n.club);
    expect_problem(&check(&n.app, refund_inactive).await, 409, "card_inactive");
    let unauthenticated = post(format!("/api/v1/club/vouchers/cards/{}/refund", codes[1]), json!({"amount_cents": 1, "reference": "x"}));
    expect_problem(&check(&n.app, unauthenticated).await, 401, "unauthorized");
    assert_eq!(balance(&n, &codes[1]).await["balance_cents"], json!(1_500));

    // Money is where the pages said: clearing got both refunds, the merchant its 12 €.
    let clearing = read(&n, move |t| {
        let account = t.ledger().account(programme_account(ProgrammeId(id), core::ledger::AccountKind::ProviderClearing)).unwrap();
        (account.debits_posted, account.credits_posted)
    })
    .await;
    let payable = read(&n, move |t| t.ledger().account(payable_account(ProgrammeId(id), MerchantId(merchant as u32))).unwrap().balance()).await;
    assert_eq!(payable, Cents(1_200));
    let liability = read(&n, move |t| t.vouchers().liability(t.ledger(), ProgrammeId(id))).await;
    assert_eq!(liability, Cents(1_500));
    assert_eq!(clearing, (Cents(1_000), Cents(850 + 450)), "clearing paid the card-terminal load and took both refunds");
    invariants(&n).await;
}

#[tokio::test]
async fn hostile_input_gets_the_clerks_sentence_and_changes_nothing() {
    let n = crate::api::fresh().await;
    let mut clerk = Clerk::new(&n, "gutschein").await;
    let id = programme(&n, &mut clerk, "Stadtgutschein").await;
    let codes = batch(&n, &mut clerk, id, 1).await;
    let sold = clerk.post(&n, "/club/vouchers/counter", &[("action", "sell"), ("code", &codes[0]), ("amount", "20"), ("paid", "cash"), ("sales_point", "1")]).await;
    expect_status(&sold, 200);
    let before = journal(&n).await;

    let long_code = "A".repeat(10_000);
    let cases: [(&str, &str, &str, u16, &str); 9] = [
        ("load", &codes[0], "12,345", 422, "höchstens zwei Nachkommastellen"),
        ("load", &codes[0], "-5", 422, "höchstens zwei Nachkommastellen"),
        ("load", &codes[0], "0", 422, "höchstens zwei Nachkommastellen"),
        ("load", &codes[0], "99999999999", 422, "höchstens zwei Nachkommastellen"),
        ("load", &codes[0], "200", 422, "Höchstbetrag je Aufladung"),
        // German thousands grouping is read as a thousand euros, which is over the load limit.
        ("load", &codes[0], "1.000,00", 422, "Höchstbetrag je Aufladung"),
        ("load", &codes[0], "1.00,00", 422, "höchstens zwei Nachkommastellen"),
        ("load", "XXXX-YYYY", "5", 422, "Kartencode ist nicht gültig"),
        ("load", &long_code, "5", 422, "Kartencode ist nicht gültig"),
    ];
    for (action, code, amount, status, text) in cases {
        let reply = clerk.post(&n, "/club/vouchers/counter", &[("action", action), ("code", code), ("amount", amount), ("paid", "cash"), ("sales_point", "1")]).await;
        assert_eq!(reply.status.as_u16(), status, "{amount}: {}", page_text(&reply));
        assert!(page_text(&reply).contains(text), "{amount} → {text}: {}", page_text(&reply));
    }
    let no_point = clerk.post(&n, "/club/vouchers/counter", &[("action", "load"), ("code", &codes[0]), ("amount", "5"), ("paid", "cash"), ("sales_point", "eins")]).await;
    expect_status(&no_point, 422);
    let no_key = check(&n.app, form("/club/vouchers/counter", &clerk.cookie, &[("csrf", &clerk.csrf), ("action", "load"), ("code", &codes[0]), ("amount", "5"), ("paid", "cash"), ("sales_point", "1")])).await;
    expect_status(&no_key, 400);
    let bad_refund = clerk.post(&n, "/club/vouchers/cards/action", &[("action", "refund"), ("code", &codes[0]), ("amount", "1,999"), ("reference", "x")]).await;
    expect_status(&bad_refund, 422);
    assert_eq!(element(page_text(&bad_refund), "found-balance"), "20,00\u{a0}€", "the card stays shown");
    let stranger = sturmfest_server::vouchers::codes::CardCode::generate(&mut rand::rng()).grouped();
    let unknown = clerk.post(&n, "/club/vouchers/cards/lookup", &[("code", &stranger)]).await;
    expect_status(&unknown, 404);
    assert!(page_text(&unknown).contains("Zu diesem Code gibt es keine Karte.") && page_text(&unknown).contains(&stranger), "the typed code stays");
    let mut fields = programme_fields("Zu groß");
    fields[1] = ("balance_max", "3000");
    let limits = clerk.post(&n, "/club/vouchers/programmes", &fields).await;
    expect_status(&limits, 422);
    assert!(page_text(&limits).contains("Die Grenzen passen nicht") && page_text(&limits).contains("value=\"Zu groß\""), "the form keeps what was typed");
    assert_eq!(journal(&n).await, before, "no booking and no transfer from refused input");
    assert_eq!(read(&n, |t| t.vouchers().programmes().count()).await, 1);
    assert_eq!(balance(&n, &codes[0]).await["balance_cents"], json!(2_000));
    invariants(&n).await;
}

/// A node whose log holds, from 1 June 2021 (10:00 Berlin), a programme, a batch
/// and a card sold for 40 € that expired at the start of 2025: records written with
/// chosen times while no node had the directory open.
async fn node_with_a_card_sold_in_2021() -> (Node, sturmfest_server::vouchers::codes::CardCode) {
    use sturmfest_server::vouchers::codes::CardCode;
    let sold_long_ago_ms: i64 = 1_622_534_400_000;
    let n = crate::api::fresh().await;
    let key = sturmfest_server::http::vouchers::code_key(&n.opened.state.tenants["club"]);
    let code = CardCode::generate(&mut rand::rng());
    let digest = key.code_digest(&code);
    // The log before the node opens again: a programme, a batch and a sale in 2021.
    let n = n
        .restart_with(async |dir: &std::path::Path| {
            let log = sturmfest_log::sqlite::SqliteLog::open(dir.join(sturmfest_server::node::log_file_name)).await.expect("log");
            let tenant = sturmfest_log::TenantId::new("club").unwrap();
            let (mut committer, _) = sturmfest_server::runtime::Committer::recover(std::sync::Arc::new(log), tenant).await.expect("recover");
            let limits = ProgrammeLimits { card_balance_cents_max: Cents(25_000), load_cents_max: Cents(25_000), card_offline_cents_max: Cents(1_000), reversal_window_ms: 0 };
            let at = TimeMs(sold_long_ago_ms);
            let commands = [
                VoucherCommand::CreateProgramme { id: ProgrammeId(1), name: "Altstadt".into(), limits, expiry: ExpiryRule::EndOfThirdYearAfterSale },
                VoucherCommand::IssueCards {
                    programme: ProgrammeId(1),
                    batch: BatchId(9),
                    medium: CardMedium::Printed,
                    cards: vec![NewCard { id: CardId(77), code_digest: digest, pin_digest: None }],
                },
                VoucherCommand::ActivateCard {
                    card: CardId(77),
                    amount: Cents(4_000),
                    paid_via: PaidVia::Cash { sales_point: SalesPointId(1) },
                    expires_at: sturmfest_server::vouchers::card_expires_at(at),
                },
            ];
            let batch = commands.into_iter().map(|c| core::Envelope { time: at, idempotency: None, command: core::Command::Voucher(c) }).collect();
            let outcomes = committer.commit(batch).await.expect("commit");
            assert!(outcomes.iter().all(|o| o.is_ok()), "{outcomes:?}");
        })
        .await;
    (n, code)
}

#[tokio::test]
async fn cards_past_their_expiry_are_booked_as_expired_value_through_the_api_and_the_overview_shows_it() {
    let (n, code) = node_with_a_card_sold_in_2021().await;

    let expire = || post("/api/v1/club/vouchers/expiry", json!(null)).bearer(&n.club);
    let reply = check(&n.app, expire()).await;
    expect_status(&reply, 200);
    // The writer's own tick may have booked it first; the totals are the ledger's.
    assert!(reply.json["cards"] == json!(0) || reply.json["cards"] == json!(1), "{}", reply.json);
    assert_eq!(reply.json["programmes"], json!([{"programme": 1, "expired_cards": 1, "expired_value_cents": 4_000, "expired_value": "40.00"}]));
    let again = check(&n.app, expire()).await;
    assert_eq!((again.json["cards"].clone(), again.json["value_cents"].clone()), (json!(0), json!(0)), "nothing is booked twice");
    expect_problem(&check(&n.app, post("/api/v1/club/vouchers/expiry", json!(null))).await, 401, "unauthorized");
    let card = balance(&n, &code.grouped()).await;
    assert_eq!((card["state"].clone(), card["balance_cents"].clone()), (json!("expired"), json!(0)));

    let mut clerk = Clerk::new(&n, "gutschein").await;
    let overview = clerk.page(&n, "/club/vouchers").await;
    let row = &overview[overview.find("id=\"programme-row-1\"").unwrap()..];
    assert!(row.contains("<dd class=\"expired-value\">40,00\u{a0}€</dd>") && row.contains("<dd class=\"liability\">0,00\u{a0}€</dd>"), "{row}");
    assert!(row.contains("<td class=\"num cards-expired\">1</td>"), "{row}");
    let booked = clerk.post(&n, "/club/vouchers/expiry", &[]).await;
    expect_status(&booked, 200);
    assert_eq!(element(page_text(&booked), "expiry-result"), "Gebucht: 0 · 0,00\u{a0}€");
    let found = clerk.post(&n, "/club/vouchers/cards/lookup", &[("code", &code.grouped())]).await;
    let html = page_text(&found);
    assert_eq!(element(html, "found-state"), "abgelaufen");
    assert_eq!(element(html, "found-valid"), "31.12.2024");
    assert!(html.contains("<br>Verfall</td><td class=\"num\">-40,00\u{a0}€</td>"), "{html}");
    let account = read(&n, |t| t.ledger().account(programme_account(ProgrammeId(1), core::ledger::AccountKind::ExpiredValue)).unwrap().balance()).await;
    assert_eq!(account, Cents(4_000), "booked, not deleted");
    invariants(&n).await;
}

/// Nothing needs to call the expiry: the node's writer ticks as soon as the earliest
/// card falls due (every `tick_interval_ms`, and once at start), and the tick books
/// it. So the node needs no separate hourly expiry task.
#[tokio::test]
async fn the_node_books_a_due_card_by_itself_without_any_call() {
    let (n, _code) = node_with_a_card_sold_in_2021().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (state, expired) = read(&n, |t| {
            let value = t.ledger().account(programme_account(ProgrammeId(1), core::ledger::AccountKind::ExpiredValue)).unwrap().balance();
            (t.vouchers().card(CardId(77)).unwrap().state, value)
        })
        .await;
        if state == CardState::Expired {
            assert_eq!(expired, Cents(4_000), "the balance is booked as expired value");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the writer never expired the card");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    invariants(&n).await;
}

#[tokio::test]
async fn the_overview_sets_a_programmes_look_and_refuses_an_unreadable_colour() {
    let n = crate::api::fresh().await;
    let mut clerk = Clerk::new(&n, "gutschein").await;
    let id = programme(&n, &mut clerk, "Stadtgutschein").await;
    let path = format!("/club/vouchers/programmes/{id}/design");
    let overview = clerk.page(&n, "/club/vouchers").await;
    assert!(overview.contains(&format!("action=\"{path}?lang=de\"")) && overview.contains("value=\"#0b5394\""), "{overview}");
    // Light yellow: white text on it is unreadable; the page says so and nothing changes.
    let refused = clerk.post(&n, &path, &[("accent", "#f4d03f"), ("tagline", "Hell")]).await;
    expect_status(&refused, 422);
    assert!(page_text(&refused).contains("4.5:1") || page_text(&refused).contains("4,5"), "{}", page_text(&refused));
    let design = read(&n, move |t| t.vouchers().programme(ProgrammeId(id)).unwrap().design.clone()).await;
    assert_eq!(design, Default::default());
    // A dark red with a tagline is taken, and the overview shows it.
    let done = clerk.post(&n, &path, &[("accent", "#8a1c1c"), ("tagline", "Gilt in der Altstadt")]).await;
    expect_status(&done, 303);
    let design = read(&n, move |t| t.vouchers().programme(ProgrammeId(id)).unwrap().design.clone()).await;
    assert_eq!((design.accent_rgb, design.tagline.as_str()), (0x8a1c1c, "Gilt in der Altstadt"));
    let overview = clerk.page(&n, "/club/vouchers").await;
    assert!(overview.contains("background:#8a1c1c") && overview.contains("value=\"Gilt in der Altstadt\""), "{overview}");
    invariants(&n).await;
}
