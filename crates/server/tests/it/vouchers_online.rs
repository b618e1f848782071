//! Voucher cards bought and loaded online (docs/DIGITAL-CARDS.md), over the whole
//! HTTP stack on a real SQLite store with a real SMTP sink. A holder starts a
//! purchase, pays on the test provider's hosted page (on the node), and the signed
//! webhook settles it in the core. Each test walks one path: a new digital card —
//! active with its amount, mailed with a PDF whose QR decodes to `CODE~CERTIFICATE`
//! that verifies with the tenant's published keys, its code reading the balance, a
//! duplicate webhook changing nothing; a decline that issues nothing; two loads that
//! each fit when started but not both when paid (the second refunded through the
//! provider); loading an existing printed card by its code; the card page after a
//! restart (the code is derived, never stored); and a purchase through the fake
//! Stripe. The books are checked after each: the ledger sums to zero and the
//! programme owes exactly what the cards hold.

use serde_json::{Value, json};
use sturmfest_core::vouchers::PurchaseStatus;
use sturmfest_server::vouchers::offline::{BalanceCertificate, split_qr};

use crate::api::{Reply, at, check, expect_problem, expect_status, get, post, request};

struct Shop {
    _dir: tempfile::TempDir,
    opened: sturmfest_server::node::Opened,
    app: axum::Router,
    admin: String,
    sink: crate::support::smtp_sink::SmtpSink,
    programme: u64,
    merchant: u64,
    device: u64,
}

/// A node with a mail relay (the SMTP sink), a programme (balance max 100.00, load
/// max 60.00), a merchant accepted in it and its till.
async fn shop() -> Shop {
    use sturmfest_server::node::{self, NodeOptions};
    let sink = crate::support::smtp_sink::SmtpSink::start().await;
    let outbox = sturmfest_server::mail::Mailer::new(&crate::mail::sink_config(&sink)).unwrap().spawn();
    let dir = tempfile::tempdir().unwrap();
    let mut registry = sturmfest_server::tenants::Registry::default();
    let admin = registry.add("club", "Stadtmarketing Sturmfest").unwrap();
    registry.save(dir.path()).unwrap();
    let options = NodeOptions { outbox: Some(outbox), base_url: "https://karten.example".into(), ..Default::default() };
    let opened = node::open_with(dir.path(), sturmfest_server::runtime::ShardConfig::default(), options).await.unwrap();
    let app = sturmfest_server::http::app(opened.state.clone());
    let (programme, merchant, device) = programme_with_till(&app, &admin).await;
    Shop { _dir: dir, opened, app, admin, sink, programme, merchant, device }
}

/// The office's setup through its API: programme, merchant, acceptance, till.
pub(crate) async fn programme_with_till(app: &axum::Router, admin: &str) -> (u64, u64, u64) {
    let office = |path: &str, body: Value| post(at("club", &format!("/vouchers{path}")), body).bearer(admin);
    let body = json!({"name": "Stadtgutschein", "card_balance_cents_max": 10_000, "load_cents_max": 6_000,
                      "card_offline_cents_max": 2_000, "reversal_window_secs": 600});
    let reply = check(app, office("/programmes", body)).await;
    expect_status(&reply, 201);
    let programme = reply.json["id"].as_u64().unwrap();
    let reply = check(app, office("/merchants", json!({"name": "Buchladen", "iban": "DE89 3704 0044 0532 0130 00"}))).await;
    expect_status(&reply, 201);
    let merchant = reply.json["id"].as_u64().unwrap();
    expect_status(&check(app, office(&format!("/merchants/{merchant}/accept"), json!({"programme": programme}))).await, 200);
    let reply = check(app, office(&format!("/merchants/{merchant}/devices"), json!({"public_key": hex::encode([9u8; 32])}))).await;
    expect_status(&reply, 201);
    (programme, merchant, reply.json["id"].as_u64().unwrap())
}

pub(crate) async fn start(app: &axum::Router, body: Value) -> Reply {
    check(app, post(at("club", "/vouchers/purchases"), body)).await
}

/// The test-provider session in a started purchase's redirect URL.
pub(crate) fn session_of(started: &Value) -> String {
    let url = started["redirect_url"].as_str().expect("redirect_url");
    let path = url.split('?').next().unwrap();
    assert!(path.starts_with("/pay/test/club/tp_"), "{url}");
    path.rsplit('/').next().unwrap().to_string()
}

/// Presses a button on the test provider's page, as the holder's browser would; the
/// page sends the holder back to the purchase's return page.
pub(crate) async fn press(app: &axum::Router, started: &Value, action: &str, delivery: &str) {
    let form = format!("action={action}&delivery={delivery}");
    let req = request("POST", format!("/pay/test/club/{}?lang=en", session_of(started)))
        .header("content-type", "application/x-www-form-urlencoded")
        .raw(form);
    let reply = check(app, req).await;
    expect_status(&reply, 303);
    let back = reply.headers.get("location").unwrap().to_str().unwrap();
    let page = |url: &str| url.split('?').next().unwrap().to_string();
    assert_eq!(page(back), page(started["return_url"].as_str().unwrap()), "the provider returns the holder to the purchase");
}

pub(crate) async fn status(app: &axum::Router, started: &Value) -> Value {
    let reply = check(app, get(at("club", &format!("/vouchers/purchases/{}", started["purchase"].as_str().unwrap())))).await;
    expect_status(&reply, 200);
    reply.json
}

async fn balance(app: &axum::Router, code: &str) -> Value {
    let reply = check(app, post(at("club", "/vouchers/cards/balance"), json!({"code": code})).without("idempotency-key")).await;
    expect_status(&reply, 200);
    reply.json
}

/// The ledger sums to zero and the programme owes exactly `liability`.
async fn assert_books(shop: &Shop, liability: i64) {
    let programme = sturmfest_core::ledger::ProgrammeId(shop.programme as u32);
    let (sum, owed) = shop.opened.state.tenants["club"]
        .shard
        .read(move |t| {
            t.check_invariants();
            (t.ledger().accounts().map(|a| a.balance().0).sum::<i64>(), t.vouchers().liability(t.ledger(), programme).0)
        })
        .await
        .unwrap();
    assert_eq!((sum, owed), (0, liability), "money is conserved and the cards hold what was paid");
}

async fn html(app: &axum::Router, path: &str) -> (u16, String) {
    let reply = check(app, get(path.to_string()).header("accept", "text/html")).await;
    (reply.status.as_u16(), reply.json.as_str().map(str::to_string).unwrap_or_default())
}

#[tokio::test]
async fn a_digital_card_bought_online_is_active_mailed_with_a_qr_that_verifies_and_reads_its_balance() {
    use mail_parser::MessageParser;
    let s = shop().await;
    let reply = start(&s.app, json!({"amount_cents": 3_000, "email": "kim@example.org", "lang": "en"})).await;
    expect_status(&reply, 201);
    let started = reply.json;
    assert_eq!((started["amount"].as_str(), status(&s.app, &started).await["state"].as_str()), (Some("30.00"), Some("started")));
    assert_books(&s, 0).await;

    // The return page waits for the provider (and refreshes itself) until the webhook.
    let (code, page) = html(&s.app, started["return_url"].as_str().unwrap()).await;
    assert_eq!(code, 200);
    assert!(page.contains("http-equiv=\"refresh\""), "{page}");

    press(&s.app, &started, "pay", "duplicate").await;
    let paid = status(&s.app, &started).await;
    assert_eq!((paid["state"].as_str(), paid["kind"].as_str()), (Some("succeeded"), Some("new_card")));
    assert_books(&s, 3_000).await;
    let bookings = s.opened.state.tenants["club"].shard.read(|t| t.vouchers().bookings().len()).await.unwrap();
    assert_eq!(bookings, 1, "the duplicate webhook booked nothing more");

    // The e-mail: code, balance, expiry, the card page link and the card as a PDF.
    let received = s.sink.next_message(std::time::Duration::from_secs(20)).await;
    assert_eq!(received.rcpt_to, ["kim@example.org"]);
    let message = MessageParser::default().parse(&received.data).expect("a parseable message");
    assert_eq!(message.subject(), Some("Your voucher card: Stadtmarketing Sturmfest"), "English, as the holder bought");
    let text = message.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(text.contains("Balance: €30.00"), "{text}");
    assert!(text.contains("Valid until: 31 December 20"), "{text}");
    let code = text.lines().find_map(|l| l.strip_prefix("Card code: ")).expect("the code in the text").to_string();
    assert_eq!(code.len(), 24, "five groups of four: {code}");
    let link = text.lines().find(|l| l.starts_with("https://karten.example/club/card/digital/")).expect("the card page link");
    let pdf = message.attachments().next().expect("the card PDF").contents().to_vec();
    assert!(pdf.starts_with(b"%PDF-"));

    // The code reads the balance like any printed card's.
    let card = balance(&s.app, &code).await;
    assert_eq!((card["state"].as_str(), card["balance_cents"].as_i64()), (Some("active"), Some(3_000)));

    // The card page behind the link: the QR (SVG), the code in groups, the balance.
    let (status_code, page) = html(&s.app, link.strip_prefix("https://karten.example").unwrap()).await;
    assert_eq!(status_code, 200);
    assert!(page.contains("<svg") && page.contains(&code) && page.contains("30.00"), "{page}");
    let forged = link.replacen("/digital/", "/digital/1", 1);
    assert_eq!(html(&s.app, forged.strip_prefix("https://karten.example").unwrap()).await.0, 404);

    if crate::tickets::poppler_available() {
        let verifier = s.opened.state.tenants["club"].credentials.keyring.verifier().clone();
        let texts = crate::tickets::decode_qr_pages(&pdf);
        assert_eq!(texts.len(), 1);
        let (qr_code, certificate) = split_qr(&texts[0]).expect("CODE~CERTIFICATE");
        assert_eq!(qr_code, code, "the QR carries the card's code");
        let now = sturmfest_core::TimeMs(sturmfest_server::runtime::wall_clock_ms());
        let certificate = BalanceCertificate::verify(&verifier, certificate, now).expect("signed with the tenant's keys");
        assert_eq!(certificate.balance.0, 3_000);
    }

    // Redeemed at the till through the API; the card page shows what is left.
    let redeem = json!({"redemption_id": "1", "merchant": s.merchant, "device": s.device, "code": code, "amount_cents": 1_250});
    let reply = check(&s.app, post(at("club", "/vouchers/redemptions"), redeem).bearer(&s.admin)).await;
    expect_status(&reply, 201);
    let (_, page) = html(&s.app, link.strip_prefix("https://karten.example").unwrap()).await;
    assert!(page.contains("17.50"), "{page}");
    assert_books(&s, 1_750).await;
}

#[tokio::test]
async fn a_declined_purchase_issues_nothing_and_a_load_that_no_longer_fits_is_refunded_through_the_provider() {
    let s = shop().await;
    let declined = start(&s.app, json!({"amount_cents": 3_000, "email": "kim@example.org"})).await.json;
    press(&s.app, &declined, "decline", "normal").await;
    assert_eq!(status(&s.app, &declined).await["state"], "declined");
    let cards = s.opened.state.tenants["club"].shard.read(|t| t.vouchers().cards().count()).await.unwrap();
    assert_eq!(cards, 0, "a declined purchase issues no card");
    let (code, page) = html(&s.app, declined["return_url"].as_str().unwrap()).await;
    assert!(code == 200 && page.contains("/club/card/buy"), "a way to try again: {page}");

    // Bad input is refused before any provider is asked.
    expect_problem(&start(&s.app, json!({"amount_cents": 6_001, "email": "kim@example.org"})).await, 422, "load_too_large");
    expect_problem(&start(&s.app, json!({"amount_cents": 0, "email": "kim@example.org"})).await, 422, "amount_invalid");
    expect_problem(&start(&s.app, json!({"amount_cents": 1_000, "email": "kim"})).await, 422, "email_invalid");

    let bought = start(&s.app, json!({"amount_cents": 5_000, "email": "kim@example.org"})).await.json;
    press(&s.app, &bought, "pay", "normal").await;
    // Two loads of 30.00, each fitting under 100.00 when started; the second one paid
    // no longer fits and is refunded, never lost.
    let load = json!({"amount_cents": 3_000, "email": "kim@example.org", "card": bought["purchase"]});
    let first = start(&s.app, load.clone()).await.json;
    let second = start(&s.app, load).await.json;
    press(&s.app, &first, "pay", "normal").await;
    press(&s.app, &second, "pay", "late").await;
    assert_eq!(status(&s.app, &second).await["state"], "started", "held back by the provider");
    let deliver = request("POST", format!("/pay/test/club/{}/deliver", session_of(&second)));
    let delivered = check(&s.app, deliver).await;
    expect_status(&delivered, 200);
    assert_eq!(delivered.json["state"], "refunded", "{:#}", delivered.json);
    let after = status(&s.app, &second).await;
    assert_eq!((after["state"].as_str(), after["kind"].as_str()), (Some("refunded"), Some("load")));
    assert_books(&s, 8_000).await;
    let refunded = s.opened.state.tenants["club"]
        .shard
        .read(|t| t.vouchers().purchases().filter(|p| p.state.status() == PurchaseStatus::Refunded).count())
        .await
        .unwrap();
    assert_eq!(refunded, 1);
}

#[tokio::test]
async fn a_voucher_refund_owed_but_never_made_is_made_by_the_node_later() {
    let s = shop().await;
    let bought = start(&s.app, json!({"amount_cents": 5_000, "email": "kim@example.org"})).await.json;
    press(&s.app, &bought, "pay", "normal").await;
    let load = json!({"amount_cents": 3_000, "email": "kim@example.org", "card": bought["purchase"]});
    let (first, second) = (start(&s.app, load.clone()).await.json, start(&s.app, load).await.json);
    press(&s.app, &first, "pay", "normal").await;
    // The second load's success reaches the core, and the node stops before it calls
    // the provider back: the money is owed, nobody has paid it.
    let handle = &s.opened.state.tenants["club"];
    let succeeded = sturmfest_core::vouchers::VoucherCommand::PurchaseSucceeded {
        provider: sturmfest_core::payments::ProviderKind::Test,
        session: session_of(&second),
        expires_at: sturmfest_server::vouchers::card_expires_at(sturmfest_core::TimeMs(sturmfest_server::runtime::wall_clock_ms())),
    };
    handle.shard.execute(None, sturmfest_core::Command::Voucher(succeeded)).await.unwrap().unwrap();
    assert_eq!(status(&s.app, &second).await["state"], "refund_due");
    let now = sturmfest_server::runtime::wall_clock_ms();
    let age = sturmfest_server::payments::refund_retry_age_ms;
    assert_eq!(sturmfest_server::payments::refund_owed(handle, now).await, 0, "a fresh decision is left to its request");
    assert_eq!(sturmfest_server::payments::refund_owed(handle, now + age + 1_000).await, 1);
    assert_eq!(status(&s.app, &second).await["state"], "refunded");
    assert_eq!(sturmfest_server::payments::refund_owed(handle, now + 2 * age).await, 0, "refunded once");
    assert_books(&s, 8_000).await;
}

#[tokio::test]
async fn a_printed_card_is_loaded_online_by_its_code() {
    let s = shop().await;
    let office = |path: &str, body: Value| post(at("club", &format!("/vouchers{path}")), body).bearer(&s.admin);
    let batch = check(&s.app, office(&format!("/programmes/{}/batches", s.programme), json!({"count": 1, "medium": "printed", "pin": false}))).await;
    expect_status(&batch, 201);
    let code = batch.json["cards"][0]["code"].as_str().unwrap().to_string();
    let sold = json!({"code": code, "amount_cents": 1_000, "paid_via": {"sales_point": 1}});
    expect_status(&check(&s.app, office("/cards/activate", sold)).await, 200);

    let started = start(&s.app, json!({"amount_cents": 1_500, "email": "kim@example.org", "code": code})).await;
    expect_status(&started, 201);
    press(&s.app, &started.json, "pay", "normal").await;
    let paid = status(&s.app, &started.json).await;
    assert_eq!((paid["state"].as_str(), paid["card_url"].as_str()), (Some("succeeded"), None), "a load has no card page");
    assert_eq!(balance(&s.app, &code).await["balance_cents"], 2_500);
    assert_books(&s, 2_500).await;
    expect_problem(&start(&s.app, json!({"amount_cents": 1_500, "email": "k@example.org", "code": "0000"})).await, 422, "card_code_length");
}

#[tokio::test]
async fn the_card_page_shows_the_same_code_after_a_restart_without_storing_it() {
    let n = crate::api::fresh().await;
    programme_with_till(&n.app, &n.club).await;
    let started = start(&n.app, json!({"amount_cents": 2_000, "email": "kim@example.org", "lang": "de"})).await.json;
    press(&n.app, &started, "pay", "normal").await;
    let card_url = status(&n.app, &started).await["card_url"].as_str().unwrap().to_string();
    let (code, before) = html(&n.app, &card_url).await;
    assert_eq!(code, 200);
    assert!(before.contains("20,00"), "German euros: {before}");
    let grouped = |page: &str| page.split("id=\"code\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    let shown = grouped(&before);
    let n = n.restart().await;
    let (code, after) = html(&n.app, &card_url).await;
    assert_eq!(code, 200);
    assert_eq!(grouped(&after), shown, "derived again from the purchase");
    // Nowhere on disk: the log and the snapshots hold only the code's keyed digest.
    let compact = shown.replace('-', "");
    for entry in walk(n.data_dir()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(!bytes.windows(compact.len()).any(|w| w == compact.as_bytes()), "{} holds the code", entry.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn a_digital_card_is_bought_through_stripe_and_a_duplicate_event_changes_nothing() {
    let n = crate::stripe::stripe_node().await;
    programme_with_till(&n.app, &n.admin).await;
    let reply = start(&n.app, json!({"amount_cents": 4_000, "email": "kim@example.org", "lang": "en"})).await;
    expect_status(&reply, 201);
    let started = reply.json;
    let url = started["redirect_url"].as_str().unwrap();
    let id = url.strip_prefix(&format!("{}/pay/", n.fake.base)).expect("the fake's hosted page").to_string();
    let session = n.fake.session(&id).unwrap();
    assert_eq!(session.amount, 4_000);
    assert!(session.success_url.starts_with(&format!("{}/club/card/purchases/", n.base)), "{}", session.success_url);
    assert_eq!(status(&n.app, &started).await["provider"], "stripe");

    // The holder's browser pays on the fake's page, which sends the signed webhook.
    let (code, back, _) = crate::stripe::http("POST", url).await;
    assert_eq!((code, back.as_deref()), (303, Some(session.success_url.as_str())));
    assert_eq!(status(&n.app, &started).await["state"], "succeeded");
    assert_eq!(n.fake.send_event(&id, "checkout.session.completed").await, 200, "a repeated event is acknowledged");
    let (cards, bookings) =
        n.opened.state.tenants["club"].shard.read(|t| (t.vouchers().cards().count(), t.vouchers().bookings().len())).await.unwrap();
    assert_eq!((cards, bookings), (1, 1), "one card, one activation");
    let (code, _, page) = crate::stripe::http("GET", &session.success_url).await;
    assert_eq!(code, 303, "the return page shows the card page once paid: {page}");
    n.close().await;
}

/// The office sets a programme's look; a bad colour, one white text cannot be read
/// on, or a two-line tagline is refused with its code and changes nothing; the
/// digital card's page and PDF then carry the accent and the tagline.
#[tokio::test]
async fn the_programmes_design_is_checked_and_reaches_the_digital_card_page_and_pdf() {
    let s = shop().await;
    let path = format!("/vouchers/programmes/{}/design", s.programme);
    let design = |_: &str, body: Value| post(at("club", &path), body).bearer(&s.admin);
    expect_problem(&check(&s.app, design("d-1", json!({"accent": "red", "tagline": ""}))).await, 422, "design_accent_invalid");
    expect_problem(&check(&s.app, design("d-2", json!({"accent": "#f4d03f", "tagline": ""}))).await, 422, "design_contrast_too_low");
    expect_problem(&check(&s.app, design("d-3", json!({"accent": "#8a1c1c", "tagline": "zwei\nZeilen"}))).await, 422, "design_invalid");
    let unknown = post(at("club", "/vouchers/programmes/999/design"), json!({"accent": "#8a1c1c"})).bearer(&s.admin);
    expect_problem(&check(&s.app, unknown).await, 404, "unknown_programme");
    let programme = check(&s.app, get(at("club", &format!("/vouchers/programmes/{}", s.programme))).bearer(&s.admin)).await;
    assert_eq!((programme.json["accent"].as_str(), programme.json["tagline"].as_str()), (Some("#0b5394"), Some("")), "still the default");

    let set = check(&s.app, design("d-5", json!({"accent": "#8A1C1C", "tagline": "Gilt in 120 Geschäften der Altstadt"}))).await;
    expect_status(&set, 200);
    assert_eq!(set.json["accent"], "#8a1c1c");
    let programme = check(&s.app, get(at("club", &format!("/vouchers/programmes/{}", s.programme))).bearer(&s.admin)).await;
    assert_eq!(programme.json["tagline"], "Gilt in 120 Geschäften der Altstadt");

    let started = start(&s.app, json!({"amount_cents": 2_000, "email": "kim@example.org", "lang": "de"})).await.json;
    press(&s.app, &started, "pay", "normal").await;
    let received = s.sink.next_message(std::time::Duration::from_secs(20)).await;
    let message = mail_parser::MessageParser::default().parse(&received.data).expect("a parseable message");
    let text = message.body_text(0).unwrap().replace("\r\n", "\n");
    let link = text.lines().find(|l| l.starts_with("https://karten.example/club/card/digital/")).expect("the card page link");
    let (code, page) = html(&s.app, link.strip_prefix("https://karten.example").unwrap()).await;
    assert_eq!(code, 200);
    assert!(page.contains("background:#8a1c1c") && page.contains("Gilt in 120 Geschäften der Altstadt"), "{page}");
    assert!(page.contains("Stadtgutschein"), "the programme's name on the band");
    let pdf = message.attachments().next().expect("the card PDF").contents().to_vec();
    if crate::tickets::poppler_available() {
        let text = crate::tickets::page_texts(&pdf).join("\n");
        assert!(text.contains("Stadtgutschein") && text.contains("Gilt in 120 Geschäften"), "{text}");
    }
}
