//! The operator's view across cities: its token, its report and its page.
//!
//! Each test opens a fresh data directory with three tenants (`club` and `rival`,
//! which get voucher programmes, and `plain`, which has none) and an operator token
//! made the way `sturmfest operator-token` makes it, then drives `app(state)`.
//!
//! What it proves: only the operator token opens the report (none, a wrong one and
//! a tenant's own token are 401 problem+json), bad parameters are problems with
//! stable codes; after sales, loads, redemptions and a reversal in two cities (three
//! programmes) every figure of the operator's report equals what the test did and
//! what each city's own report says, and the programme days add up to the city's
//! days; the CSV parses back to the same figures, with names quoted and formulas
//! defused; a city's level turns to `warning_80` exactly when its twelve-month
//! volume reaches 80 % of EUR 1 million (and the page says so); the page signs in
//! only with the token, from its own origin, sets an `HttpOnly; SameSite=Strict;
//! Path=/operator` cookie that is not the token, and signs out only with the CSRF
//! token, after which the old cookie opens nothing.

use serde_json::{Value, json};
use sturmfest_core::ledger::{DeviceId, ProgrammeId};
use sturmfest_core::vouchers::*;
use sturmfest_core::{Cents, Command, TimeMs};
use sturmfest_server::http::app;
use sturmfest_server::node::{self, Opened};
use sturmfest_server::runtime::{ShardConfig, wall_clock_ms};
use sturmfest_server::tenants::Registry;
use tempfile::TempDir;

use crate::api::{Reply, check, expect_problem, expect_status, get, post, request};

const REPORT: &str = "/api/v1/operator/vouchers/report";

pub(crate) struct OpNode {
    pub(crate) dir: TempDir,
    pub(crate) opened: Opened,
    pub(crate) app: axum::Router,
    pub(crate) club: String,
    pub(crate) rival: String,
    pub(crate) operator: String,
}

pub(crate) async fn start() -> OpNode {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let club = registry.add("club", "Stadt Eisfeld, Kreis \"Nord\"").unwrap();
    let rival = registry.add("rival", "Stadt Rivalen").unwrap();
    registry.add("plain", "Ohne Gutschein").unwrap();
    registry.save(dir.path()).unwrap();
    let operator = sturmfest_server::operator::rotate_token(dir.path()).unwrap();
    let opened = node::open(dir.path(), ShardConfig::default()).await.unwrap();
    let app = app(opened.state.clone());
    OpNode { dir, opened, app, club, rival, operator }
}

fn today() -> jiff::civil::Date {
    jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap()).date()
}

/// A city's programme with one shop and till, and `count` printed cards; returns
/// (programme, merchant, device, codes).
async fn programme(n: &OpNode, slug: &str, token: &str, name: &str, count: u32) -> (u64, u64, u64, Vec<String>) {
    let v = |path: &str| format!("/api/v1/{slug}/vouchers{path}");
    let office = |path: &str, body| post(v(path), body).bearer(token);
    let limits = json!({"name": name, "card_balance_cents_max": 25_000, "load_cents_max": 25_000, "card_offline_cents_max": 1_000, "reversal_window_secs": 600});
    let reply = check(&n.app, office("/programmes", limits)).await;
    expect_status(&reply, 201);
    let programme = reply.json["id"].as_u64().unwrap();
    let merchant = check(&n.app, office("/merchants", json!({"name": "Laden", "iban": "DE89370400440532013000"}))).await.json["id"].as_u64().unwrap();
    expect_status(&check(&n.app, office(&format!("/merchants/{merchant}/accept"), json!({"programme": programme}))).await, 200);
    let device = check(&n.app, office(&format!("/merchants/{merchant}/devices"), json!({"public_key": "07".repeat(32)}))).await.json["id"].as_u64().unwrap();
    let batch = check(&n.app, office(&format!("/programmes/{programme}/batches"), json!({"count": count, "medium": "printed", "pin": false}))).await;
    expect_status(&batch, 201);
    let codes = batch.json["cards"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_string()).collect();
    (programme, merchant, device, codes)
}

/// What the test did to one programme today, to compare the report with.
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct Did {
    loaded: i64,
    loads: u32,
    redeemed: i64,
    redemptions: u32,
    reversed: i64,
    reversals: u32,
}

impl Did {
    fn liability(&self) -> i64 {
        self.loaded - self.redeemed + self.reversed
    }
}

struct City<'a> {
    n: &'a OpNode,
    slug: &'a str,
    token: &'a str,
}

impl City<'_> {
    async fn call(&self, path: &str, body: Value, status: u16) -> Reply {
        let reply = check(&self.n.app, post(format!("/api/v1/{}/vouchers{path}", self.slug), body).bearer(self.token)).await;
        expect_status(&reply, status);
        reply
    }

    async fn sell(&self, did: &mut Did, code: &str, cents: i64) {
        self.call("/cards/activate", json!({"code": code, "amount_cents": cents, "paid_via": {"sales_point": 1}}), 200).await;
        did.loaded += cents;
        did.loads += 1;
    }

    async fn load(&self, did: &mut Did, code: &str, cents: i64) {
        self.call("/cards/load", json!({"code": code, "amount_cents": cents, "paid_via": {"provider_reference": "psp-1"}}), 200).await;
        did.loaded += cents;
        did.loads += 1;
    }

    async fn redeem(&self, did: &mut Did, id: &str, (merchant, device): (u64, u64), code: &str, cents: i64) {
        let body = json!({"redemption_id": id, "merchant": merchant, "device": device, "code": code, "amount_cents": cents, "pin": null});
        self.call("/redemptions", body, 201).await;
        did.redeemed += cents;
        did.redemptions += 1;
    }

    async fn reverse(&self, did: &mut Did, id: &str, merchant: u64, cents: i64) {
        self.call(&format!("/redemptions/{id}/reverse"), json!({"merchant": merchant}), 200).await;
        did.reversed += cents;
        did.reversals += 1;
    }
}

/// Two cities, three programmes, every kind of movement; returns what was done per
/// (slug, programme id).
pub(crate) async fn activity(n: &OpNode) -> Vec<(&'static str, u64, Did)> {
    let club = City { n, slug: "club", token: &n.club };
    let rival = City { n, slug: "rival", token: &n.rival };
    let (p1, m1, d1, c1) = programme(n, "club", &n.club, "=Eisfeld-Gutschein", 3).await;
    let (p2, m2, d2, c2) = programme(n, "club", &n.club, "Regio, Nord", 2).await;
    let (p3, m3, d3, c3) = programme(n, "rival", &n.rival, "Rivalen-Taler", 2).await;
    let (mut a, mut b, mut c) = (Did::default(), Did::default(), Did::default());
    club.sell(&mut a, &c1[0], 5_000).await;
    club.sell(&mut a, &c1[1], 2_000).await;
    club.load(&mut a, &c1[1], 750).await;
    club.redeem(&mut a, "a1", (m1, d1), &c1[0], 1_234).await;
    club.redeem(&mut a, "a2", (m1, d1), &c1[1], 500).await;
    club.reverse(&mut a, "a2", m1, 500).await;
    club.sell(&mut b, &c2[0], 10_000).await;
    club.redeem(&mut b, "b1", (m2, d2), &c2[0], 9_999).await;
    rival.sell(&mut c, &c3[0], 25_000).await;
    rival.sell(&mut c, &c3[1], 1_500).await;
    rival.redeem(&mut c, "c1", (m3, d3), &c3[0], 4_321).await;
    rival.redeem(&mut c, "c2", (m3, d3), &c3[1], 1_500).await;
    vec![("club", p1, a), ("club", p2, b), ("rival", p3, c)]
}

async fn report(n: &OpNode, query: &str) -> Value {
    let reply = check(&n.app, get(format!("{REPORT}{query}")).bearer(&n.operator)).await;
    expect_status(&reply, 200);
    reply.json
}

#[tokio::test]
async fn only_the_operator_token_from_the_data_directory_opens_the_report() {
    let n = start().await;
    let stored = std::fs::read_to_string(n.dir.path().join("operator.json")).unwrap();
    assert!(!stored.contains(&n.operator[4..]), "the token is stored only as its digest");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(n.dir.path().join("operator.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "operator.json is private");
    }
    expect_problem(&check(&n.app, get(REPORT)).await, 401, "unauthorized");
    expect_problem(&check(&n.app, get(REPORT).bearer("sfo_0000")).await, 401, "unauthorized");
    expect_problem(&check(&n.app, get(REPORT).bearer(&n.club)).await, 401, "unauthorized");
    expect_problem(&check(&n.app, get(REPORT).bearer(&n.rival)).await, 401, "unauthorized");
    // A wrong token learns nothing about the parameters either.
    expect_problem(&check(&n.app, get(format!("{REPORT}?days=0")).bearer(&n.club)).await, 401, "unauthorized");
    let ok = report(&n, "").await;
    assert_eq!(ok["cities"], json!([]), "no city has a programme yet");
    assert_eq!(ok["last_day"], json!(today().to_string()));
    assert_eq!(ok["first_day"], json!(today().checked_sub(jiff::Span::new().days(6)).unwrap().to_string()), "a week by default");
    for (query, status, code) in [
        ("?days=0", 422, "days_invalid"),
        ("?days=93", 422, "days_invalid"),
        ("?days=ten", 400, "invalid_query"),
        ("?format=xml", 422, "format_invalid"),
        ("?tenant=club", 400, "invalid_query"),
    ] {
        expect_problem(&check(&n.app, get(format!("{REPORT}{query}")).bearer(&n.operator)).await, status, code);
    }
    // A new token replaces the old one at the next start.
    let old = n.operator.clone();
    let new = sturmfest_server::operator::rotate_token(n.dir.path()).unwrap();
    let OpNode { dir, opened, app, .. } = n;
    drop(app);
    opened.close().await;
    let opened = node::open(dir.path(), ShardConfig::default()).await.unwrap();
    let app = app_of(&opened);
    expect_problem(&check(&app, get(REPORT).bearer(&old)).await, 401, "unauthorized");
    expect_status(&check(&app, get(REPORT).bearer(&new)).await, 200);
}

fn app_of(opened: &Opened) -> axum::Router {
    app(opened.state.clone())
}

#[tokio::test]
async fn the_operator_sees_each_citys_own_figures() {
    let n = start().await;
    let did = activity(&n).await;
    let r = report(&n, "?days=3").await;
    let cities = r["cities"].as_array().unwrap();
    let slugs: Vec<&str> = cities.iter().map(|c| c["tenant"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["club", "rival"], "only cities with programmes, by slug");
    let day = today().to_string();
    for city in cities {
        let slug = city["tenant"].as_str().unwrap();
        let token = if slug == "club" { &n.club } else { &n.rival };
        let own = check(&n.app, get(format!("/api/v1/{slug}/vouchers/reports?first_day={day}&last_day={day}")).bearer(token)).await;
        expect_status(&own, 200);
        let own = own.json;
        assert_eq!(city["volume_12_months_cents"], own["volume_12_months_cents"], "{slug}");
        assert_eq!(city["level"], own["level"], "{slug}");
        assert_eq!(city["level"], "below");
        let mine: Vec<&(&str, u64, Did)> = did.iter().filter(|(s, _, _)| *s == slug).collect();
        let volume: i64 = mine.iter().map(|(_, _, d)| d.redeemed - d.reversed).sum();
        assert_eq!(city["volume_12_months_cents"], json!(volume), "{slug}: redemptions net of reversals");
        let programmes = city["programmes"].as_array().unwrap();
        assert_eq!(programmes.len(), mine.len());
        let mut sum = Did::default();
        for ((_, id, d), p) in mine.iter().zip(programmes) {
            assert_eq!(p["id"], json!(id));
            let theirs = own["programmes"].as_array().unwrap().iter().find(|o| o["id"] == p["id"]).unwrap();
            assert_eq!(p["liability_cents"], theirs["liability_cents"]);
            assert_eq!(p["expired_value_cents"], theirs["expired_value_cents"]);
            assert_eq!(p["payable_cents"], theirs["payable_cents"]);
            assert_eq!(p["liability_cents"], json!(d.liability()), "{slug}/{id}: {d:?}");
            assert_eq!(p["expired_value_cents"], json!(0));
            let days = p["days"].as_array().unwrap();
            assert_eq!(days.len(), 3, "three days asked");
            let last = &days[2];
            assert_eq!(last["day"], json!(day));
            let figures = |x: &Value| {
                (x["loaded_cents"].clone(), x["loads"].clone(), x["redeemed_cents"].clone(), x["redemptions"].clone(), x["reversed_cents"].clone(), x["reversals"].clone())
            };
            assert_eq!(figures(last), (json!(d.loaded), json!(d.loads), json!(d.redeemed), json!(d.redemptions), json!(d.reversed), json!(d.reversals)));
            assert!(days[..2].iter().all(|x| x["loads"] == 0 && x["redemptions"] == 0), "nothing happened before today");
            sum.loaded += d.loaded;
            sum.loads += d.loads;
            sum.redeemed += d.redeemed;
            sum.redemptions += d.redemptions;
        }
        let own_day = &own["days"][0];
        assert_eq!((own_day["loaded_cents"].clone(), own_day["loads"].clone()), (json!(sum.loaded), json!(sum.loads)), "{slug}: the programmes add up to the city");
        assert_eq!((own_day["redeemed_cents"].clone(), own_day["redemptions"].clone()), (json!(sum.redeemed), json!(sum.redemptions)));
    }

    // ----- the CSV says the same -----
    let reply = check(&n.app, get(format!("{REPORT}?days=3&format=csv")).bearer(&n.operator)).await;
    expect_status(&reply, 200);
    assert!(reply.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(reply.headers["content-disposition"].to_str().unwrap().contains("attachment"));
    let rows = parse_csv(reply.json.as_str().unwrap());
    let header = &rows[0];
    assert_eq!(header.len(), 16);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    assert_eq!(rows.len() - 1, 3 * 3, "a line per programme and day");
    for row in &rows[1..] {
        assert_eq!(row.len(), 16, "{row:?}");
        let city = cities.iter().find(|c| c["tenant"] == row[col("tenant")].as_str()).unwrap();
        assert_eq!(row[col("city")], city["name"].as_str().unwrap(), "quoted names read back");
        let p = city["programmes"].as_array().unwrap().iter().find(|p| p["id"].to_string() == row[col("programme")]).unwrap();
        let name = p["name"].as_str().unwrap();
        let shown = row[col("programme_name")].as_str();
        assert!(shown == name || (name.starts_with('=') && shown == format!("'{name}")), "{shown} for {name}");
        let d = p["days"].as_array().unwrap().iter().find(|d| d["day"] == row[col("day")].as_str()).unwrap();
        assert_eq!(cents(&row[col("liability_eur")]), p["liability_cents"].as_i64().unwrap());
        assert_eq!(cents(&row[col("volume_12_months_eur")]), city["volume_12_months_cents"].as_i64().unwrap());
        assert_eq!(cents(&row[col("loaded_eur")]), d["loaded_cents"].as_i64().unwrap());
        assert_eq!(row[col("loads")], d["loads"].to_string());
        assert_eq!(cents(&row[col("redeemed_eur")]), d["redeemed_cents"].as_i64().unwrap());
        assert_eq!(cents(&row[col("reversed_eur")]), d["reversed_cents"].as_i64().unwrap());
        assert_eq!(row[col("level")], city["level"].as_str().unwrap());
    }
    for (_, handle) in n.opened.state.tenants.iter() {
        handle.shard.read(|t| t.check_invariants()).await.unwrap();
    }
}

/// `12.34` → 1234.
fn cents(text: &str) -> i64 {
    let (whole, part) = text.split_once('.').unwrap_or_else(|| panic!("two decimals: {text}"));
    assert_eq!(part.len(), 2, "{text}");
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    sign * (whole.trim_start_matches('-').parse::<i64>().unwrap() * 100 + part.parse::<i64>().unwrap())
}

/// RFC 4180: fields split at commas, quoted fields may hold commas and `""`.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    assert!(!quoted && field.is_empty() && row.is_empty(), "the CSV ends with a complete line");
    rows
}

/// Sells cards of EUR 2,500.00 in `rival` and spends each whole, through core
/// commands on its shard (hundreds of them: the office API would take as long and
/// prove nothing more here).
async fn spend_full_cards(n: &OpNode, first: u64, count: u64) {
    let shard = n.opened.state.tenants["rival"].shard.clone();
    let exec = |command: VoucherCommand| {
        let shard = shard.clone();
        async move {
            let outcome = shard.execute(None, Command::Voucher(command)).await.unwrap();
            assert!(outcome.is_ok(), "{outcome:?}");
        }
    };
    let expires_at = sturmfest_server::vouchers::card_expires_at(TimeMs(wall_clock_ms()));
    for id in first..first + count {
        let card = CardId(id);
        let paid_via = PaidVia::Cash { sales_point: SalesPointId(1) };
        exec(VoucherCommand::ActivateCard { card, amount: Cents(250_000), paid_via, expires_at }).await;
        let redemption = RedemptionId(u128::from(id));
        exec(VoucherCommand::Redeem { redemption, card, merchant: MerchantId(1), device: DeviceId(1), amount: Cents(250_000), pin_digest: None }).await;
    }
}

#[tokio::test]
async fn a_city_turns_to_warning_when_its_twelve_month_volume_reaches_80_per_cent() {
    let n = start().await;
    let shard = n.opened.state.tenants["rival"].shard.clone();
    let limits = ProgrammeLimits { card_balance_cents_max: Cents(250_000), load_cents_max: Cents(250_000), card_offline_cents_max: Cents(1_000), reversal_window_ms: 0 };
    let setup = [
        VoucherCommand::CreateProgramme { id: ProgrammeId(1), name: "Großstadt-Taler".into(), limits, expiry: ExpiryRule::EndOfThirdYearAfterSale },
        VoucherCommand::CreateMerchant { id: MerchantId(1), name: "Kaufhaus".into(), iban: "DE89370400440532013000".into() },
        VoucherCommand::AcceptMerchant { merchant: MerchantId(1), programme: ProgrammeId(1) },
        VoucherCommand::RegisterDevice { device: DeviceId(1), merchant: MerchantId(1), public_key: [1; 32] },
        VoucherCommand::IssueCards {
            programme: ProgrammeId(1),
            batch: BatchId(1),
            medium: CardMedium::Printed,
            cards: (1..=320u64).map(|id| NewCard { id: CardId(id), code_digest: [id as u8, (id >> 8) as u8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7], pin_digest: None }).collect(),
        },
    ];
    for command in setup {
        let outcome = shard.execute(None, Command::Voucher(command)).await.unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    drop(shard);
    let (_, m, d, codes) = programme(&n, "club", &n.club, "Kleinstadt-Taler", 1).await;
    let club = City { n: &n, slug: "club", token: &n.club };
    let mut did = Did::default();
    club.sell(&mut did, &codes[0], 1_000).await;
    club.redeem(&mut did, "e1", (m, d), &codes[0], 400).await;

    // 319 × EUR 2,500 = EUR 797,500: below.
    spend_full_cards(&n, 1, 319).await;
    let level = |r: &Value, slug: &str| r["cities"].as_array().unwrap().iter().find(|c| c["tenant"] == slug).unwrap().clone();
    let r = report(&n, "?days=1").await;
    let rival = level(&r, "rival");
    assert_eq!((rival["volume_12_months_cents"].clone(), rival["level"].clone()), (json!(79_750_000), json!("below")));
    assert_eq!(rival["volume_per_mille"], json!(797));
    // One more card: exactly EUR 800,000, the first warning.
    spend_full_cards(&n, 320, 1).await;
    let r = report(&n, "?days=1").await;
    let rival = level(&r, "rival");
    assert_eq!((rival["volume_12_months_cents"].clone(), rival["level"].clone()), (json!(80_000_000), json!("warning_80")));
    assert_eq!(level(&r, "club")["level"], "below", "the other city is not warned");
    assert_eq!(level(&r, "club")["volume_12_months_cents"], json!(400));

    // The page shows it: the warning in the rival's section only.
    let cookie = sign_in(&n).await;
    let page = check(&n.app, get("/operator?lang=en").header("cookie", &cookie)).await;
    expect_status(&page, 200);
    let html = page.json.as_str().unwrap();
    let section = |slug: &str| {
        let start = html.find(&format!("data-tenant=\"{slug}\"")).unwrap_or_else(|| panic!("{slug} on the page"));
        let end = html[start..].find("</section>").unwrap() + start;
        html[start..end].to_string()
    };
    let rival = section("rival");
    assert!(rival.contains("data-level=\"warning_80\"") && rival.contains("class=\"notice\"") && rival.contains("at least 80 %"), "{rival}");
    assert!(rival.contains("80.0%") && rival.contains("€800,000.00"), "{rival}");
    assert!(rival.contains("width=\"800\""), "the bar reaches the 80 % mark: {rival}");
    let club = section("club");
    assert!(club.contains("data-level=\"below\"") && !club.contains("class=\"notice\""), "{club}");
    for (_, handle) in n.opened.state.tenants.iter() {
        handle.shard.read(|t| t.check_invariants()).await.unwrap();
    }
}

fn form(uri: &str, body: &str) -> crate::api::Req {
    request("POST", uri).header("content-type", "application/x-www-form-urlencoded").raw(body.as_bytes().to_vec())
}

/// Signs in on the page; returns the `name=value` cookie.
async fn sign_in(n: &OpNode) -> String {
    let reply = check(&n.app, form("/operator/login", &format!("token={}", n.operator))).await;
    expect_status(&reply, 303);
    let set = reply.headers["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn the_page_signs_in_with_the_token_only_and_signs_out_with_its_csrf_token() {
    let n = start().await;
    activity(&n).await;
    let first = check(&n.app, get("/operator")).await;
    expect_status(&first, 200);
    let html = first.json.as_str().unwrap();
    assert!(html.contains("action=\"/operator/login") && html.contains("name=\"token\""), "the sign-in form");
    assert!(!html.contains("Eisfeld"), "no figures before sign-in");

    for (token, what) in [("sfo_nope", "a wrong token"), (n.club.as_str(), "a tenant's token"), ("", "nothing")] {
        let reply = check(&n.app, form("/operator/login?lang=en", &format!("token={token}"))).await;
        expect_status(&reply, 401);
        assert!(reply.headers.get("set-cookie").is_none(), "{what} gets no cookie");
        assert!(reply.json.as_str().unwrap().contains("not the operator token"), "{what}");
    }
    let foreign = form("/operator/login", &format!("token={}", n.operator)).header("origin", "https://evil.example").header("host", "127.0.0.1:8080");
    let reply = check(&n.app, foreign).await;
    expect_status(&reply, 403);
    assert!(reply.headers.get("set-cookie").is_none(), "a sign-in from another site gets no cookie");

    let reply = check(&n.app, form("/operator/login", &format!("token={}", n.operator))).await;
    expect_status(&reply, 303);
    assert_eq!(reply.headers["location"], "/operator?lang=de");
    let set = reply.headers["set-cookie"].to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/operator", "Max-Age=28800"] {
        assert!(set.split("; ").any(|part| part == flag), "{flag} in {set}");
    }
    assert!(!set.contains(&n.operator[4..]), "the cookie is a session, not the token");
    let cookie = set.split(';').next().unwrap().to_string();

    let page = check(&n.app, get("/operator").header("cookie", &cookie)).await;
    expect_status(&page, 200);
    let html = page.json.as_str().unwrap().to_string();
    assert!(html.contains("Stadt Eisfeld, Kreis &quot;Nord&quot;") || html.contains("Stadt Eisfeld, Kreis &#34;Nord&#34;"), "the city, escaped");
    assert!(html.contains("Stadt Rivalen") && !html.contains("Ohne Gutschein"), "cities with programmes only");
    assert!(html.contains("Rivalen-Taler") && html.contains("206,79\u{a0}€"), "the rival's liability in German: 25,000 + 1,500 − 4,321 − 1,500 cents");
    assert!(html.contains("<svg class=\"volume\"") && html.contains("role=\"img\""), "the volume bar");
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert_eq!(csrf.len(), 64);

    let csv = check(&n.app, get("/operator/report.csv?days=2").header("cookie", &cookie)).await;
    expect_status(&csv, 200);
    assert!(csv.json.as_str().unwrap().starts_with("tenant,city,programme,"));
    expect_status(&check(&n.app, get("/operator/report.csv")).await, 401);

    // The last character changed to one it is not (replacing it with a fixed `0`
    // left the cookie unchanged whenever it already ended in `0`).
    let last = if cookie.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &cookie[..cookie.len() - 1]);
    let page = check(&n.app, get("/operator").header("cookie", &tampered)).await;
    assert!(page.json.as_str().unwrap().contains("name=\"token\""), "a tampered cookie opens nothing");

    let out = check(&n.app, form("/operator/logout", "csrf=00").header("cookie", &cookie)).await;
    expect_status(&out, 403);
    let still = check(&n.app, get("/operator").header("cookie", &cookie)).await;
    assert!(still.json.as_str().unwrap().contains("Rivalen-Taler"), "a wrong CSRF token signs nobody out");
    let out = check(&n.app, form("/operator/logout", &format!("csrf={csrf}")).header("cookie", &cookie)).await;
    expect_status(&out, 303);
    let cleared = out.headers["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0") && cleared.contains("Path=/operator"), "{cleared}");
    let after = check(&n.app, get("/operator").header("cookie", &cookie)).await;
    let html = after.json.as_str().unwrap();
    assert!(html.contains("name=\"token\"") && !html.contains("Rivalen-Taler"), "the old cookie opens nothing after sign-out");
}

#[tokio::test]
async fn a_city_whose_store_fails_is_named_unavailable_and_the_others_are_still_reported() {
    let n = start().await;
    activity(&n).await;
    // The rival city's writer dies (as after a failed disk): its shard answers nothing.
    let at = n.opened.reports.iter().position(|(slug, _)| slug == "rival").unwrap();
    n.opened.writers[at].abort();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let r = report(&n, "?days=3").await;
    let slugs: Vec<&str> = r["cities"].as_array().unwrap().iter().map(|c| c["tenant"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["club"], "the city that answers is reported in full");
    assert_eq!(r["unavailable"], json!([{"tenant": "rival", "name": "Stadt Rivalen"}]));
    let csv = check(&n.app, get(format!("{REPORT}?days=3&format=csv")).bearer(&n.operator)).await;
    expect_status(&csv, 200);
    let rows = parse_csv(csv.json.as_str().unwrap());
    assert!(rows.iter().any(|r| r[0] == "rival" && r[7] == "unavailable"), "{rows:?}");
    assert!(rows.iter().any(|r| r[0] == "club"), "{rows:?}");
    let cookie = sign_in(&n).await;
    let page = check(&n.app, get("/operator?lang=en").header("cookie", &cookie).header("accept", "text/html")).await;
    expect_status(&page, 200);
    let html = page.json.as_str().unwrap();
    assert!(html.contains("Not reachable just now") && html.contains("Stadt Rivalen (/rival)"), "{html}");
}
