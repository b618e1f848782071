//! The voucher office's merchant, offline-risk, settlement and report pages through
//! the whole router on a real SQLite log, as a browser without script uses them:
//! forms posted as `application/x-www-form-urlencoded` with the staff cookie and the
//! CSRF field, answers read as HTML, every effect checked against the core's state.
//!
//! What they prove: the pages are the voucher office's (a box-office session is
//! refused, no session goes to the login) and a form without its CSRF token changes
//! nothing; a bad IBAN is refused with a clear message and creates no merchant; a
//! merchant is accepted in a second programme and bound to a staff account; a
//! pairing code from the page enrols the Rust till (`vouchers::device`), the offline
//! page shows the worst-case loss as configured through its form, the open
//! allowance and the devices × per-device bound computed from the test's numbers,
//! and the risk entry of an offline overspend with its time, device, card and amount;
//! revoking the till on the page shows it revoked and refuses its next request.
//!
//! Settlement and report need movements in a past period, and the node stamps the
//! wall clock, so those tests first commit commands stamped yesterday (Berlin) to
//! the tenant's log with the real committer, then open the node on it: a page run
//! settles yesterday, and the statement CSV behind its link adds up to exactly the
//! redemptions seeded; the report shows the day's redemptions and, once one more
//! redemption over the API lifts the twelve-month volume from 79.75 % to 80 % of
//! EUR 1 million, the 80 % warning.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use serde_json::json;
use sturmfest_core as core;
use sturmfest_core::ledger::{DeviceId, ProgrammeId};
use sturmfest_core::vouchers::*;
use sturmfest_core::{Cents, Command, Envelope, TimeMs};
use sturmfest_log::TenantId;
use sturmfest_log::sqlite::SqliteLog;
use sturmfest_server::http::app;
use sturmfest_server::node::{self, Opened};
use sturmfest_server::runtime::{Committer, ShardConfig, wall_clock_ms};
use sturmfest_server::tenants::Registry;
use sturmfest_server::vouchers::card_expires_at;
use sturmfest_server::vouchers::device::Device;
use sturmfest_server::web::format::euros;
use sturmfest_server::web::i18n::Lang;
use tempfile::TempDir;

use crate::api::{Reply, check, expect_problem, expect_status, get, post, request};

const IBAN: &str = "DE89370400440532013000";
const PASSWORD: &str = "voucher-secret-1";

/// A node with one tenant, `club`, whose log may start with seeded commands.
pub(crate) struct City {
    _dir: TempDir,
    pub(crate) opened: Opened,
    pub(crate) app: Router,
    pub(crate) token: String,
}

impl City {
    pub(crate) async fn open(seed: Vec<Envelope>) -> City {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut registry = Registry::default();
        let token = registry.add("club", "Stadtmarketing Nordstadt").expect("add club");
        registry.save(dir.path()).expect("save registry");
        if !seed.is_empty() {
            let log = SqliteLog::open(dir.path().join(node::log_file_name)).await.expect("open log");
            let (mut committer, _) = Committer::recover(Arc::new(log), TenantId::new("club").unwrap()).await.expect("recover");
            for outcome in committer.commit(seed).await.expect("commit") {
                assert!(outcome.is_ok(), "a seeded command is refused: {outcome:?}");
            }
        }
        let opened = node::open(dir.path(), ShardConfig::default()).await.expect("open node");
        let app = app(opened.state.clone());
        City { _dir: dir, opened, app, token }
    }

    pub(crate) async fn read<R: Send + 'static>(&self, f: impl FnOnce(&core::Tenant) -> R + Send + 'static) -> R {
        self.opened.state.tenants["club"].shard.read(f).await.unwrap()
    }

    /// A staff account with `roles`, made with the admin token and logged in through
    /// the login form; the `name=value` cookie.
    pub(crate) async fn login(&self, login: &str, roles: &[&str]) -> String {
        let body = json!({"login": login, "display_name": login, "password": PASSWORD, "roles": roles});
        expect_status(&check(&self.app, post("/api/v1/club/staff/accounts", body).bearer(&self.token)).await, 201);
        let form = format!("login={login}&password={PASSWORD}");
        let reply = check(&self.app, request("POST", "/club/staff/login").header("content-type", "application/x-www-form-urlencoded").raw(form)).await;
        expect_status(&reply, 303);
        reply.headers[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string()
    }

    pub(crate) async fn page(&self, uri: &str, cookie: &str) -> String {
        let reply = check(&self.app, get(uri).header("cookie", cookie)).await;
        expect_status(&reply, 200);
        html(&reply).to_string()
    }

    pub(crate) async fn form(&self, uri: &str, cookie: &str, fields: &[(&str, &str)]) -> Reply {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
            .collect();
        let req = request("POST", uri).header("content-type", "application/x-www-form-urlencoded").header("cookie", cookie).raw(body.join("&"));
        check(&self.app, req).await
    }

    async fn office(&self, path: &str, body: serde_json::Value) -> Reply {
        check(&self.app, post(format!("/api/v1/club/vouchers{path}"), body).bearer(&self.token)).await
    }

    async fn programme(&self, name: &str) -> u32 {
        let body = json!({"name": name, "card_balance_cents_max": 250_000, "load_cents_max": 250_000, "card_offline_cents_max": 2_500, "reversal_window_secs": 600});
        let reply = self.office("/programmes", body).await;
        expect_status(&reply, 201);
        reply.json["id"].as_u64().unwrap() as u32
    }
}

pub(crate) fn html(reply: &Reply) -> &str {
    reply.json.as_str().unwrap_or_else(|| panic!("an HTML page, got {reply:#?}"))
}

/// The text between `start` and the next `end` after it.
pub(crate) fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let at = page.find(start).unwrap_or_else(|| panic!("{start:?} in {page}")) + start.len();
    &page[at..at + page[at..].find(end).expect("the end")]
}

pub(crate) fn csrf_in(page: &str) -> String {
    between(page, "name=\"csrf\" value=\"", "\"").to_string()
}

/// An attribute's text as the browser reads it (askama writes `&` as `&#38;`).
fn unescape(attribute: &str) -> String {
    attribute.replace("&#38;", "&").replace("&amp;", "&")
}

fn location(reply: &Reply) -> &str {
    reply.headers[header::LOCATION].to_str().unwrap()
}

#[tokio::test]
async fn the_pages_are_the_voucher_offices_and_their_forms_need_the_csrf_token() {
    let city = City::open(Vec::new()).await;
    let pages = ["/club/vouchers/merchants", "/club/vouchers/offline", "/club/vouchers/settlement", "/club/vouchers/report"];
    for path in pages {
        let to_login = check(&city.app, get(path).header("accept", "text/html")).await;
        expect_status(&to_login, 303);
        assert!(location(&to_login).starts_with("/club/staff/login"), "{path}");
    }
    let kasse = city.login("kasse", &["box_office"]).await;
    for path in pages {
        expect_problem(&check(&city.app, get(path).header("cookie", &kasse)).await, 403, "staff_forbidden");
    }
    let kasse_csrf = csrf_in(&city.page("/club/staff", &kasse).await);
    let refused = city.form("/club/vouchers/merchants", &kasse, &[("csrf", &kasse_csrf), ("name", "Laden"), ("iban", IBAN)]).await;
    expect_problem(&refused, 403, "staff_forbidden");

    let office = city.login("gutschein", &["voucher_office"]).await;
    for path in pages {
        let page = city.page(&format!("{path}?lang=en"), &office).await;
        assert!(page.contains("aria-label=\"Voucher office\"") && page.contains("aria-current=\"page\""), "{path}: the shared menu");
    }
    let forged = city.form("/club/vouchers/merchants", &office, &[("name", "Laden"), ("iban", IBAN)]).await;
    expect_problem(&forged, 403, "csrf_invalid");
    let foreign = city.form("/club/vouchers/merchants", &office, &[("csrf", &kasse_csrf), ("name", "Laden"), ("iban", IBAN)]).await;
    expect_problem(&foreign, 403, "csrf_invalid");
    assert_eq!(city.read(|t| t.vouchers().merchants().count()).await, 0, "a refused form creates nothing");
    // The API's new revoke call is the office's too.
    expect_problem(&check(&city.app, request("POST", "/api/v1/club/vouchers/devices/5/revoke")).await, 401, "unauthorized");
    let unknown = check(&city.app, request("POST", "/api/v1/club/vouchers/devices/5/revoke").bearer(&city.token)).await;
    expect_problem(&unknown, 404, "unknown_device");
}

#[tokio::test]
async fn a_merchant_is_onboarded_with_a_checked_iban_accepted_in_two_programmes_and_bound_to_its_account() {
    let city = City::open(Vec::new()).await;
    let nord = city.programme("Nordstadt-Gutschein").await;
    let sued = city.programme("Südstadt-Gutschein").await;
    let office = city.login("gutschein", &["voucher_office"]).await;
    let csrf = csrf_in(&city.page("/club/vouchers/merchants", &office).await);

    // One digit off: the checksum fails.
    let bad = city.form("/club/vouchers/merchants", &office, &[("csrf", &csrf), ("name", "Buchladen Meier"), ("iban", "DE89370400440532013001")]).await;
    expect_status(&bad, 422);
    assert!(html(&bad).contains("Die IBAN ist nicht gültig") && html(&bad).contains("role=\"alert\""), "{}", html(&bad));
    assert!(html(&bad).contains("value=\"Buchladen Meier\""), "what was typed stays in the form");
    assert_eq!(city.read(|t| t.vouchers().merchants().count()).await, 0, "nothing created");

    let key = between(html(&bad), "name=\"form_key\" value=\"", "\"").to_string();
    let good = [("csrf", csrf.as_str()), ("form_key", key.as_str()), ("name", "Buchladen Meier"), ("iban", "de89 3704 0044 0532 0130 00")];
    let made = city.form("/club/vouchers/merchants?lang=en", &office, &good).await;
    expect_status(&made, 303);
    assert!(location(&made).contains("done=1"));
    // The same form sent again (a double click) onboards once.
    expect_status(&city.form("/club/vouchers/merchants?lang=en", &office, &good).await, 303);
    assert_eq!(city.read(|t| t.vouchers().merchants().count()).await, 1, "one merchant for one form");
    let (merchant, iban) = city.read(|t| t.vouchers().merchants().map(|m| (m.id.0, m.iban.clone())).next().unwrap()).await;
    assert_eq!(iban, IBAN, "stored in electronic form");
    let page = city.page("/club/vouchers/merchants", &office).await;
    assert!(page.contains("DE•• •••• 3000") && !page.contains(IBAN), "the IBAN is masked but its last four");

    for programme in [nord, sued] {
        let reply = city.form(&format!("/club/vouchers/merchants/{merchant}/accept"), &office, &[("csrf", &csrf), ("programme", &programme.to_string())]).await;
        expect_status(&reply, 303);
    }
    let accepted = city.read(move |t| t.vouchers().merchant(MerchantId(merchant)).unwrap().programmes.clone()).await;
    assert_eq!(accepted, vec![ProgrammeId(nord), ProgrammeId(sued)]);
    let page = city.page("/club/vouchers/merchants", &office).await;
    assert!(between(&page, "class=\"programmes\">", "</dd>").contains("Nordstadt-Gutschein, Südstadt-Gutschein"), "{page}");
    assert!(!page.contains(&format!("id=\"accept-{merchant}\"")), "no programme left to accept it in");
    let unknown = city.form(&format!("/club/vouchers/merchants/{merchant}/accept"), &office, &[("csrf", &csrf), ("programme", "99")]).await;
    expect_status(&unknown, 404);
    assert!(html(&unknown).contains("unknown_programme"));

    let laden = city.login("laden", &["merchant"]).await;
    let account = city.read(|t| t.staff().accounts().iter().find(|a| a.login.as_str() == "laden").unwrap().id.0).await;
    let bound = city.form(&format!("/club/vouchers/merchants/{merchant}/bind"), &office, &[("csrf", &csrf), ("account", &account.to_string())]).await;
    expect_status(&bound, 303);
    let now_bound = city.read(move |t| t.staff().accounts().iter().find(|a| a.id.0 == account).unwrap().merchant).await;
    assert_eq!(now_bound, Some(MerchantId(merchant)));
    assert!(between(&city.page("/club/vouchers/merchants", &office).await, "class=\"accounts\">", "</dd>").contains("laden"));
    drop(laden);
}

#[tokio::test]
async fn a_paired_till_shows_in_the_risk_figures_and_once_revoked_on_the_page_its_next_request_is_refused() {
    let city = City::open(Vec::new()).await;
    let programme = city.programme("Stadtgutschein").await;
    let office = city.login("gutschein", &["voucher_office"]).await;
    let csrf = csrf_in(&city.page("/club/vouchers/merchants", &office).await);
    expect_status(&city.form("/club/vouchers/merchants", &office, &[("csrf", &csrf), ("name", "Café Ufer"), ("iban", IBAN)]).await, 303);
    let merchant = city.read(|t| t.vouchers().merchants().next().unwrap().id.0).await;
    expect_status(&city.form(&format!("/club/vouchers/merchants/{merchant}/accept"), &office, &[("csrf", &csrf), ("programme", &programme.to_string())]).await, 303);

    // The offline page before a policy: nothing can be lost, and it says so.
    let page = city.page(&format!("/club/vouchers/offline?programme={programme}"), &office).await;
    assert!(between(&page, "id=\"worst-case\">", "</p>").contains("nicht eingerichtet"), "{page}");
    let (device_max, open_max) = (15_000i64, 40_000i64);
    let bad = city.form(&format!("/club/vouchers/offline/{programme}"), &office, &[("csrf", &csrf), ("device_max", "viel"), ("open_max", "400")]).await;
    expect_status(&bad, 422);
    let too_much = city.form(&format!("/club/vouchers/offline/{programme}"), &office, &[("csrf", &csrf), ("device_max", "500,00"), ("open_max", "400,00")]).await;
    expect_status(&too_much, 422);
    assert!(html(&too_much).contains("je Gerät höchstens so viel wie alle zusammen"));
    let set = city.form(&format!("/club/vouchers/offline/{programme}"), &office, &[("csrf", &csrf), ("device_max", "150,00"), ("open_max", "400")]).await;
    expect_status(&set, 303);
    let policy = city.read(move |t| t.vouchers().offline_policy(ProgrammeId(programme)).unwrap()).await;
    assert_eq!(policy, OfflinePolicy { device_allowance_cents_max: Cents(device_max), open_allowances_cents_max: Cents(open_max) });

    // A pairing code shown large, once, with its expiry; the till enrols with it.
    let reply = city.form(&format!("/club/vouchers/merchants/{merchant}/pairing"), &office, &[("csrf", &csrf)]).await;
    expect_status(&reply, 200);
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    let code = between(html(&reply), "id=\"pairing-code\" tabindex=\"0\">", "<").to_string();
    let expires = between(html(&reply), "id=\"pairing-expires\">", "<").to_string();
    assert!(expires.ends_with(" Uhr"), "a Berlin time: {expires}");
    let mut till = Device::new("club", [9; 32]);
    let enrol = till.enrol_request(&code);
    let reply = check(&city.app, request(enrol.method, enrol.path).raw(enrol.body)).await;
    expect_status(&reply, 201);
    till.enrolled(&reply.json);
    let device = reply.json["device"].as_u64().unwrap();

    let allowance = 12_000i64;
    let ask = till.allowance_request(ProgrammeId(programme), Cents(allowance), 3_600, TimeMs(wall_clock_ms()));
    let reply = send(&city, &ask).await;
    expect_status(&reply, 201);
    till.take_allowance(&reply.json).expect("a signed allowance");

    let page = city.page(&format!("/club/vouchers/offline?programme={programme}"), &office).await;
    let de = |c: i64| euros(Cents(c), Lang::De);
    assert_eq!(between(&page, "id=\"worst-case\">", "<"), de(open_max), "the worst case is the configured bound");
    assert!(page.contains("id=\"worst-case-means\">So viel könnten die Kassen"), "and says what it means");
    assert_eq!(between(&page, "id=\"devices-bound\">", "<"), format!("1 × {} = {}", de(device_max), de(device_max)));
    assert_eq!(between(&page, "id=\"open-now\">", "<"), format!("{} (1)", de(allowance)));
    assert_eq!(between(&page, "id=\"card-cap\">", "<"), de(2_500));
    assert!(between(&page, "id=\"allowances\">", "</table>").contains(&format!("<td>{device}</td>")));
    assert!(page.contains(&format!("value=\"{},00\"", open_max / 100)), "the form holds the current policy");

    // Offline, the till takes more from a card than it still holds: the allowance
    // pays the rest, and the page lists that risk entry.
    let batch = city.office(&format!("/programmes/{programme}/batches"), json!({"count": 1, "medium": "printed", "pin": false})).await;
    let code = batch.json["cards"][0]["code"].as_str().unwrap().to_string();
    expect_status(&city.office("/cards/activate", json!({"code": code, "amount_cents": 5_000, "paid_via": {"sales_point": 1}})).await, 200);
    let reply = send(&city, &till.signed("/device/certificate", json!({"code": code}), TimeMs(wall_clock_ms()))).await;
    expect_status(&reply, 200);
    let (qr, card) = (reply.json["qr"].as_str().unwrap().to_string(), reply.json["card"].as_u64().unwrap());
    let online = json!({"redemption_id": "c0ffee", "merchant": merchant, "device": device, "code": code, "amount_cents": 4_000, "pin": null});
    expect_status(&city.office("/redemptions", online).await, 201);
    till.redeem_offline(&qr, Cents(2_500), TimeMs(wall_clock_ms())).expect("within the certificate and the card's offline cap");
    expect_status(&send(&city, &till.sync_request(TimeMs(wall_clock_ms()))).await, 200);
    let (risk, booked_at) = city.read(|t| t.vouchers().risk_entries().iter().map(|r| (r.amount.0, r.at)).next().unwrap()).await;
    assert_eq!(risk, 2_500 - 1_000, "the card had EUR 10 left");
    let page = city.page(&format!("/club/vouchers/offline?programme={programme}"), &office).await;
    let entries = between(&page, "id=\"risk-entries\">", "</table>");
    let row = format!("<tr><td>{}</td><td>{device}</td><td>{card}</td><td class=\"num\">{}</td></tr>", sturmfest_server::web::format::date_time(booked_at, Lang::De), de(risk));
    assert!(entries.contains(&row), "{row} in {entries}");
    assert_eq!(between(&page, "id=\"lost\">", "<"), de(risk));

    // Revoked on the merchants page: listed as revoked, the till refused.
    let page = city.page("/club/vouchers/merchants", &office).await;
    assert!(between(&page, &format!("id=\"device-{device}\""), "</li>").contains("aktiv"));
    let revoked = city.form(&format!("/club/vouchers/devices/{device}/revoke"), &office, &[("csrf", &csrf)]).await;
    expect_status(&revoked, 303);
    let page = city.page("/club/vouchers/merchants", &office).await;
    let row = between(&page, &format!("id=\"device-{device}\""), "</li>");
    assert!(row.contains("class=\"revoked\">gesperrt") && !row.contains("Gerät sperren"), "{row}");
    let at = city.read(move |t| t.vouchers().device(DeviceId(device)).unwrap().revoked_at).await;
    assert!(at.is_some());
    let again = send(&city, &till.allowance_request(ProgrammeId(programme), Cents(100), 3_600, TimeMs(wall_clock_ms()))).await;
    assert_eq!(again.json["code"], "device_revoked", "{again:#?}");
    assert!(again.status.is_client_error());
    let page = city.page(&format!("/club/vouchers/offline?programme={programme}"), &office).await;
    assert_eq!(between(&page, "id=\"devices-bound\">", "<"), format!("0 × {} = {}", de(device_max), de(0)), "a revoked till no longer counts");
    // The API's revoke keeps the first instant.
    let api = check(&city.app, request("POST", format!("/api/v1/club/vouchers/devices/{device}/revoke")).bearer(&city.token)).await;
    expect_status(&api, 200);
    assert_eq!(api.json["revoked_at"], sturmfest_server::http::dto::time_string(at.unwrap()));
}

async fn send(city: &City, r: &sturmfest_server::vouchers::device::DeviceRequest) -> Reply {
    let mut req = request(r.method, r.path.clone()).raw(r.body.clone());
    for (name, value) in &r.headers {
        req = req.header(name, value);
    }
    check(&city.app, req).await
}

// ----- seeded yesterday -----

fn berlin() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Berlin").unwrap()
}

/// Yesterday in Berlin, and 10:00 that day.
fn yesterday() -> (jiff::civil::Date, i64) {
    let day = jiff::Timestamp::now().to_zoned(berlin()).date().yesterday().unwrap();
    (day, day.at(10, 0, 0, 0).to_zoned(berlin()).unwrap().timestamp().as_millisecond())
}

fn at(time: i64, command: VoucherCommand) -> Envelope {
    Envelope { time: TimeMs(time), idempotency: None, command: Command::Voucher(command) }
}

/// Programme 1, merchants 1 and 2 with a till each, `cards` cards issued.
fn city_seed(time: i64, cards: u64) -> Vec<Envelope> {
    let limits = ProgrammeLimits { card_balance_cents_max: Cents(250_000), load_cents_max: Cents(250_000), card_offline_cents_max: Cents(2_500), reversal_window_ms: 600_000 };
    let mut seed = vec![
        at(time, VoucherCommand::CreateProgramme { id: ProgrammeId(1), name: "Stadtgutschein".into(), limits, expiry: ExpiryRule::EndOfThirdYearAfterSale }),
        at(time, VoucherCommand::CreateMerchant { id: MerchantId(1), name: "Buchladen".into(), iban: IBAN.into() }),
        at(time, VoucherCommand::CreateMerchant { id: MerchantId(2), name: "Café Ufer".into(), iban: "DE02120300000000202051".into() }),
        at(time, VoucherCommand::AcceptMerchant { merchant: MerchantId(1), programme: ProgrammeId(1) }),
        at(time, VoucherCommand::AcceptMerchant { merchant: MerchantId(2), programme: ProgrammeId(1) }),
        at(time, VoucherCommand::RegisterDevice { device: DeviceId(1), merchant: MerchantId(1), public_key: [1; 32] }),
        at(time, VoucherCommand::RegisterDevice { device: DeviceId(2), merchant: MerchantId(2), public_key: [2; 32] }),
    ];
    let digest = |n: u64| {
        let mut d = [0xAB; 32];
        d[..8].copy_from_slice(&n.to_le_bytes());
        d
    };
    let new_cards = (1..=cards).map(|n| NewCard { id: CardId(n), code_digest: digest(n), pin_digest: None }).collect();
    seed.push(at(time, VoucherCommand::IssueCards { programme: ProgrammeId(1), batch: BatchId(1), medium: CardMedium::Printed, cards: new_cards }));
    seed
}

fn sell_and_redeem(seed: &mut Vec<Envelope>, time: i64, card: u64, loaded: i64, redemptions: &[(u32, i64)]) {
    let paid_via = PaidVia::Cash { sales_point: SalesPointId(1) };
    seed.push(at(time, VoucherCommand::ActivateCard { card: CardId(card), amount: Cents(loaded), paid_via, expires_at: card_expires_at(TimeMs(time)) }));
    for (i, (merchant, cents)) in redemptions.iter().enumerate() {
        let redemption = RedemptionId(u128::from(card) << 8 | i as u128);
        let device = DeviceId(u64::from(*merchant));
        seed.push(at(time + 1 + i as i64, VoucherCommand::Redeem { redemption, card: CardId(card), merchant: MerchantId(*merchant), device, amount: Cents(*cents), pin_digest: None }));
    }
}

#[tokio::test]
async fn a_settlement_run_on_the_page_pays_exactly_yesterdays_redemptions_and_links_its_files() {
    let (day, time) = yesterday();
    let mut seed = city_seed(time, 3);
    sell_and_redeem(&mut seed, time, 1, 10_000, &[(1, 1_234), (2, 2_500), (1, 99)]);
    sell_and_redeem(&mut seed, time + 60_000, 2, 20_000, &[(1, 5_000)]);
    sell_and_redeem(&mut seed, time + 120_000, 3, 5_000, &[(2, 750)]);
    let expected = [(1u32, 1_234 + 99 + 5_000), (2u32, 2_500 + 750)];
    let city = City::open(seed).await;
    let office = city.login("gutschein", &["voucher_office"]).await;
    let page = city.page("/club/vouchers/settlement", &office).await;
    let csrf = csrf_in(&page);
    assert!(page.contains(&format!("id=\"first-day\" name=\"first_day\" type=\"date\" required value=\"{day}\"")), "yesterday is the default");

    let today = jiff::Timestamp::now().to_zoned(berlin()).date().to_string();
    let early = city.form("/club/vouchers/settlement", &office, &[("csrf", &csrf), ("programme", "1"), ("merchant", "all"), ("first_day", &today), ("last_day", &today)]).await;
    expect_status(&early, 303);
    assert!(location(&early).contains("settled=0") && location(&early).contains("period_not_over"), "{}", location(&early));
    let bad = city.form("/club/vouchers/settlement", &office, &[("csrf", &csrf), ("programme", "1"), ("merchant", "all"), ("first_day", "gestern"), ("last_day", &today)]).await;
    expect_status(&bad, 422);

    // One merchant first, then all: the first is answered with its settlement again.
    let day = day.to_string();
    let run = run_for(&city, &office, &csrf, "2", &day).await;
    expect_status(&run, 303);
    assert!(location(&run).contains("settled=1&refused="), "{}", location(&run));
    let run = run_for(&city, &office, &csrf, "all", &day).await;
    expect_status(&run, 303);
    let page = city.page(location(&run), &office).await;
    assert_eq!(between(&page, "id=\"settled-count\">", "<"), "2");
    let settlements = city.read(|t| t.vouchers().settlements().iter().map(|s| (s.merchant.0, s.amount.0)).collect::<Vec<_>>()).await;
    assert_eq!(settlements.len(), 2, "merchant 2 was settled once: {settlements:?}");
    for (merchant, cents) in expected {
        assert!(settlements.contains(&(merchant, cents)), "{settlements:?}");
    }

    // Each row's CSV link: its lines add up to the redemptions seeded, to the cent.
    for (merchant, cents) in expected {
        let href = page
            .split("class=\"csv\" href=\"")
            .skip(1)
            .map(|rest| unescape(&rest[..rest.find('"').unwrap()]))
            .find(|href| href.contains(&format!("merchant={merchant}&")))
            .unwrap_or_else(|| panic!("a CSV link for merchant {merchant}: {page}"));
        assert!(href.starts_with("/club/vouchers/settlement/statement?") && href.contains(&format!("first_day={day}&last_day={day}&format=csv")), "{href}");
        let csv = check(&city.app, get(href).header("cookie", &office)).await;
        expect_status(&csv, 200);
        let csv = html(&csv);
        let lines: i64 = csv.lines().filter(|l| l.split(',').nth(1) == Some("redemption")).map(|l| cents_of(l.rsplit(',').next().unwrap())).sum();
        assert_eq!(lines, cents, "{csv}");
        let net = csv.lines().find(|l| l.starts_with(",net,")).unwrap();
        assert_eq!(cents_of(net.rsplit(',').next().unwrap()), cents, "{csv}");
        let pdf = check(&city.app, get(format!("/club/vouchers/settlement/statement?merchant={merchant}&programme=1&first_day={day}&last_day={day}&format=pdf")).header("cookie", &office)).await;
        expect_status(&pdf, 200);
        assert_eq!(pdf.headers[header::CONTENT_TYPE], "application/pdf");
    }

    // With the paying account the rows link the pain.001 file; its sum is the total.
    let with_debtor = city.page(&format!("/club/vouchers/settlement?debtor_name=Stadt%20Nordstadt&debtor_iban={IBAN}"), &office).await;
    let href = unescape(between(&with_debtor, "class=\"pain001\" href=\"", "\""));
    let xml = check(&city.app, get(href).header("cookie", &office)).await;
    expect_status(&xml, 200);
    let total: i64 = expected.iter().map(|(_, c)| c).sum();
    assert!(html(&xml).contains(&format!("<CtrlSum>{}.{:02}</CtrlSum>", total / 100, total % 100)), "{}", html(&xml));
    // The files are the office's too.
    let kasse = city.login("kasse", &["box_office"]).await;
    let refused = check(&city.app, get(format!("/club/vouchers/settlement/statement?merchant=1&programme=1&first_day={day}&last_day={day}&format=csv")).header("cookie", &kasse)).await;
    expect_problem(&refused, 403, "staff_forbidden");
}

async fn run_for(city: &City, office: &str, csrf: &str, merchant: &str, day: &str) -> Reply {
    let fields = [("csrf", csrf), ("programme", "1"), ("merchant", merchant), ("first_day", day), ("last_day", day)];
    city.form("/club/vouchers/settlement", office, &fields).await
}

fn cents_of(decimal: &str) -> i64 {
    let (whole, part) = decimal.trim().split_once('.').unwrap();
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    sign * (whole.trim_start_matches('-').parse::<i64>().unwrap() * 100 + part.parse::<i64>().unwrap())
}

#[tokio::test]
async fn the_report_shows_the_days_redemptions_and_warns_once_the_volume_reaches_80_per_cent() {
    // 319 full cards of EUR 2,500 redeemed yesterday: EUR 797,500, 79.75 % of the threshold.
    let (day, time) = yesterday();
    let full = 250_000i64;
    let cards = 319u64;
    let mut seed = city_seed(time, cards);
    for card in 1..=cards {
        sell_and_redeem(&mut seed, time + card as i64 * 10, card, full, &[(1, full)]);
    }
    let city = City::open(seed).await;
    let office = city.login("gutschein", &["voucher_office"]).await;
    let page = city.page("/club/vouchers/report", &office).await;
    assert!(page.contains("data-level=\"below\"") && !page.contains("id=\"volume-warning\""), "{page}");
    assert_eq!(between(&page, "id=\"volume-percent\">", "<"), "79,7 %");
    assert_eq!(between(&page, "id=\"volume-amount\">", "<"), euros(Cents(full * cards as i64), Lang::De));
    let row = between(&page, &format!("<th scope=\"row\">{}</th>", day.strftime("%d.%m.%Y")), "</tr>");
    assert!(row.contains(&format!("{} ({cards})", euros(Cents(full * cards as i64), Lang::De))), "yesterday's redemptions: {row}");
    assert!(page.contains("role=\"img\"") && page.contains("class=\"redeemed\""), "the chart");
    let liability = between(&page, "<th scope=\"row\">Stadtgutschein</th>", "</tr>");
    assert!(liability.contains(&format!("<td class=\"num\">{}</td>", euros(Cents(full * cards as i64), Lang::De))), "owed to the merchant: {liability}");

    // One more full card sold and redeemed now, over the API: exactly 80 %.
    let batch = check(&city.app, post("/api/v1/club/vouchers/programmes/1/batches", json!({"count": 1, "medium": "printed", "pin": false})).bearer(&city.token)).await;
    expect_status(&batch, 201);
    let code = batch.json["cards"][0]["code"].as_str().unwrap().to_string();
    let sale = json!({"code": code, "amount_cents": full, "paid_via": {"sales_point": 1}});
    expect_status(&check(&city.app, post("/api/v1/club/vouchers/cards/activate", sale).bearer(&city.token)).await, 200);
    let redeem = json!({"redemption_id": "ab12", "merchant": 1, "device": 1, "code": code, "amount_cents": full, "pin": null});
    expect_status(&check(&city.app, post("/api/v1/club/vouchers/redemptions", redeem).bearer(&city.token)).await, 201);
    let page = city.page("/club/vouchers/report?lang=en", &office).await;
    assert!(page.contains("data-level=\"warning_80\""), "{page}");
    assert!(between(&page, "id=\"volume-warning\">", "<").contains("80 % of the €1 million threshold"));
    assert_eq!(between(&page, "id=\"volume-percent\">", "<"), "80.0%");
    let bad = check(&city.app, get("/club/vouchers/report?first_day=2026-05-02&last_day=2026-05-01").header("cookie", &office)).await;
    expect_status(&bad, 422);
}
