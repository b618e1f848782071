//! Staff logins end to end, as a browser and an API client see them. Each test
//! opens a fresh data directory with the tenants `club` and `rival` through
//! `node::open_with` (real SQLite log, real writers), creates accounts with the
//! club's API token, and drives the login, home, accounts and logout routes with
//! `oneshot` through the whole router: forms as `application/x-www-form-urlencoded`,
//! the session as a `Cookie` header taken from the login's `Set-Cookie`.
//!
//! What they prove: a wrong password answers 401 and starts no session; every
//! login draws a new session id (rotation), both stay valid until logout ends just
//! one, and the log holds only the id's digest; a session expires by time; a form
//! without its session's CSRF token, or with another's, is refused with 403
//! `csrf_invalid` and changes nothing, and so is a login form posted from another
//! site; roles gate the accounts page; disabling an account or resetting its
//! password ends its sessions at once, and an admin can end them all by hand; an
//! admin changes roles and sees refusals in the page's language; an https node
//! marks the cookie `Secure`; sessions and accounts survive a restart; login
//! attempts are limited per login name and per address; only the tenant's API
//! token creates accounts through the API; and one tenant's cookie opens nothing
//! at another's.

use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use serde_json::json;
use sturmfest_server::http::app;
use sturmfest_server::node::{self, NodeOptions, Opened};
use sturmfest_server::ratelimit::{LimitsConfig, quota};
use sturmfest_server::runtime::ShardConfig;
use sturmfest_server::staff::StaffConfig;
use sturmfest_server::tenants::Registry;
use tempfile::TempDir;

use crate::api::{Reply, check, expect_problem, expect_status, get, post, request};

const OFFICE_PASSWORD: &str = "office-secret-1";
const KASSE_PASSWORD: &str = "kasse-secret-22";

struct StaffNode {
    dir: TempDir,
    staff: StaffConfig,
    opened: Opened,
    app: Router,
    club: String,
    rival: String,
}

async fn open(dir: &TempDir, staff: &StaffConfig) -> (Opened, Router) {
    let options = NodeOptions { staff: staff.clone(), ..NodeOptions::default() };
    let opened = node::open_with(dir.path(), ShardConfig::default(), options).await.expect("open node");
    let app = app(opened.state.clone());
    (opened, app)
}

/// A node with `office` (admin) and `kasse` (box office) made through the API.
async fn node_with(staff: StaffConfig) -> StaffNode {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut registry = Registry::default();
    let club = registry.add("club", "Eisclub").expect("add club");
    let rival = registry.add("rival", "Rivalen").expect("add rival");
    registry.save(dir.path()).expect("save registry");
    let (opened, app) = open(&dir, &staff).await;
    let n = StaffNode { dir, staff, opened, app, club, rival };
    let office = create_account(&n, "Office", "Geschäftsstelle", OFFICE_PASSWORD, &["admin"]).await;
    expect_status(&office, 201);
    assert_eq!(office.json, json!({"id": 1, "login": "office", "roles": ["admin"]}), "the login is stored lowercase");
    expect_status(&create_account(&n, "kasse", "Kasse 1", KASSE_PASSWORD, &["box_office"]).await, 201);
    n
}

async fn fresh() -> StaffNode {
    node_with(StaffConfig::default()).await
}

impl StaffNode {
    /// A clean stop and a fresh open of the same directory.
    async fn restart(self) -> StaffNode {
        let StaffNode { dir, staff, opened, app: router, club, rival } = self;
        drop(router);
        opened.close().await;
        let (opened, app) = open(&dir, &staff).await;
        StaffNode { dir, staff, opened, app, club, rival }
    }

    async fn sessions(&self) -> usize {
        self.opened.state.tenants["club"].shard.read(|t| t.staff().sessions().count()).await.unwrap()
    }

    async fn accounts(&self) -> Vec<(String, bool)> {
        self.opened.state.tenants["club"]
            .shard
            .read(|t| t.staff().accounts().iter().map(|a| (a.login.as_str().to_string(), a.is_enabled())).collect())
            .await
            .unwrap()
    }
}

async fn create_account(n: &StaffNode, login: &str, name: &str, password: &str, roles: &[&str]) -> Reply {
    let body = json!({"login": login, "display_name": name, "password": password, "roles": roles});
    check(&n.app, post("/api/v1/club/staff/accounts", body).bearer(&n.club)).await
}

fn form(uri: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> crate::api::Req {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
        .collect();
    let req = request("POST", uri).header("content-type", "application/x-www-form-urlencoded").raw(body.join("&"));
    match cookie {
        Some(cookie) => req.header("cookie", cookie),
        None => req,
    }
}

fn with_cookie(uri: &str, cookie: &str) -> crate::api::Req {
    get(uri).header("cookie", cookie)
}

/// Logs in at the club; returns the reply and the `name=value` of its cookie.
async fn login(n: &StaffNode, login: &str, password: &str) -> (Reply, Option<String>) {
    let reply = check(&n.app, form("/club/staff/login", None, &[("login", login), ("password", password)])).await;
    let cookie = reply
        .headers
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
    (reply, cookie)
}

async fn logged_in(n: &StaffNode, name: &str, password: &str) -> String {
    let (reply, cookie) = login(n, name, password).await;
    expect_status(&reply, 303);
    assert_eq!(reply.headers[header::LOCATION], "/club/staff?lang=de");
    cookie.expect("a session cookie")
}

fn html(reply: &Reply) -> &str {
    reply.json.as_str().unwrap_or_else(|| panic!("an HTML page, got {reply:#?}"))
}

/// The CSRF token the staff home renders into its forms for this session.
async fn csrf(n: &StaffNode, cookie: &str) -> String {
    let home = check(&n.app, with_cookie("/club/staff", cookie)).await;
    expect_status(&home, 200);
    let page = html(&home);
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_401_and_starts_no_session() {
    let n = fresh().await;
    for (name, password) in [("office", "wrong-password"), ("nobody", OFFICE_PASSWORD), ("office", "")] {
        let (reply, cookie) = login(&n, name, password).await;
        expect_status(&reply, 401);
        assert_eq!(cookie, None, "no cookie for {name}");
        assert!(html(&reply).contains("Benutzername oder Passwort ist falsch"), "one answer for every failure");
    }
    assert_eq!(n.sessions().await, 0);
}

#[tokio::test]
async fn every_login_gets_a_new_session_id_and_both_stay_valid_until_logout_ends_one() {
    let n = fresh().await;
    let (first_reply, first) = login(&n, "OFFICE ", OFFICE_PASSWORD).await;
    let first = first.expect("a cookie, whatever the case typed");
    let set_cookie = first_reply.headers[header::SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/club/", "Max-Age=43200"] {
        assert!(set_cookie.contains(attribute), "{attribute} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http base URL: no Secure");
    let second = logged_in(&n, "office", OFFICE_PASSWORD).await;
    assert_ne!(first, second, "a login never reuses a session id");
    assert_eq!(n.sessions().await, 2);
    for cookie in [&first, &second] {
        let home = check(&n.app, with_cookie("/club/staff", cookie)).await;
        expect_status(&home, 200);
        assert!(html(&home).contains("Geschäftsstelle") && html(&home).contains("/club/staff/accounts"), "{home:#?}");
    }

    // Only the digest of an id reaches the log.
    let id = first.split_once('=').unwrap().1;
    let id = base64_decode(id);
    let mut on_disk = Vec::new();
    for file in ["log.db", "log.db-wal"] {
        on_disk.extend(std::fs::read(n.dir.path().join(file)).unwrap_or_default());
    }
    assert!(!on_disk.windows(32).any(|w| w == id.as_slice()), "the raw session id is not in the log");

    let token = csrf(&n, &first).await;
    let out = check(&n.app, form("/club/staff/logout", Some(&first), &[("csrf", &token)])).await;
    expect_status(&out, 303);
    assert!(out.headers[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"), "the cookie is cleared");
    expect_problem(&check(&n.app, with_cookie("/club/staff", &first)).await, 401, "staff_login_required");
    expect_status(&check(&n.app, with_cookie("/club/staff", &second)).await, 200);
    assert_eq!(n.sessions().await, 1, "logout ended only its own session");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

#[tokio::test]
async fn an_expired_session_is_refused() {
    let n = node_with(StaffConfig { session_lifetime_ms: 1_500, ..StaffConfig::default() }).await;
    let cookie = logged_in(&n, "kasse", KASSE_PASSWORD).await;
    expect_status(&check(&n.app, with_cookie("/club/staff", &cookie)).await, 200);
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    expect_problem(&check(&n.app, with_cookie("/club/staff", &cookie)).await, 401, "staff_login_required");
    // The writer's tick removes it from the state too (next_expiry counts sessions).
    let mut gone = false;
    for _ in 0..40 {
        if n.sessions().await == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the expired session left the tenant's state");
}

#[tokio::test]
async fn a_form_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing() {
    let n = fresh().await;
    let admin = logged_in(&n, "office", OFFICE_PASSWORD).await;
    let other = logged_in(&n, "office", OFFICE_PASSWORD).await;
    let others_token = csrf(&n, &other).await;
    let create = |token: &'static str| {
        vec![("action", "create"), ("login", "neu"), ("display_name", "Neu"), ("password", "neu-password-1"), ("role_office", "on"), ("csrf", token)]
    };
    let before = n.accounts().await;
    let leaked: &'static str = Box::leak(others_token.into_boxed_str());
    for token in ["", "bm90LWEtdG9rZW4", leaked] {
        let reply = check(&n.app, form("/club/staff/accounts", Some(&admin), &create(token))).await;
        expect_problem(&reply, 403, "csrf_invalid");
    }
    let without: Vec<_> = create("").into_iter().filter(|(k, _)| *k != "csrf").collect();
    expect_problem(&check(&n.app, form("/club/staff/accounts", Some(&admin), &without)).await, 403, "csrf_invalid");
    expect_problem(&check(&n.app, form("/club/staff/logout", Some(&admin), &[])).await, 403, "csrf_invalid");
    assert_eq!(n.accounts().await, before, "nothing changed");
    assert_eq!(n.sessions().await, 2, "the refused logout ended nothing");

    let token: &'static str = Box::leak(csrf(&n, &admin).await.into_boxed_str());
    let reply = check(&n.app, form("/club/staff/accounts", Some(&admin), &create(token))).await;
    expect_status(&reply, 303);
    assert_eq!(reply.headers[header::LOCATION], "/club/staff/accounts?lang=de&done=created");
    assert_eq!(n.accounts().await.last(), Some(&("neu".to_string(), true)));
    let page = check(&n.app, with_cookie("/club/staff/accounts?done=created", &admin)).await;
    expect_status(&page, 200);
    assert!(html(&page).contains("Das Konto wurde angelegt") && html(&page).contains("(neu)"), "{page:#?}");
    expect_status(&logged_in_reply(&n, "neu", "neu-password-1").await, 303);
}

async fn logged_in_reply(n: &StaffNode, name: &str, password: &str) -> Reply {
    login(n, name, password).await.0
}

#[tokio::test]
async fn a_box_office_account_cannot_reach_the_accounts_page() {
    let n = fresh().await;
    let kasse = logged_in(&n, "kasse", KASSE_PASSWORD).await;
    let home = check(&n.app, with_cookie("/club/staff?lang=en", &kasse)).await;
    expect_status(&home, 200);
    assert!(html(&home).contains("Box office: counter sales") && !html(&home).contains("/club/staff/accounts"), "{home:#?}");
    expect_problem(&check(&n.app, with_cookie("/club/staff/accounts", &kasse)).await, 403, "staff_forbidden");
    let token = csrf(&n, &kasse).await;
    let before = n.accounts().await;
    let fields = [("csrf", token.as_str()), ("action", "disable"), ("account", "1")];
    expect_problem(&check(&n.app, form("/club/staff/accounts", Some(&kasse), &fields)).await, 403, "staff_forbidden");
    assert_eq!(n.accounts().await, before);
    // A browser is shown a page, not JSON.
    let page = check(&n.app, with_cookie("/club/staff/accounts", &kasse).header("accept", "text/html")).await;
    expect_status(&page, 403);
    assert!(html(&page).contains("keine Berechtigung"), "{page:#?}");
}

#[tokio::test]
async fn disabling_an_account_ends_its_sessions_at_once_and_a_reset_password_too() {
    let n = fresh().await;
    let admin = logged_in(&n, "office", OFFICE_PASSWORD).await;
    let kasse = logged_in(&n, "kasse", KASSE_PASSWORD).await;
    let token = csrf(&n, &admin).await;

    let reset = [("csrf", token.as_str()), ("action", "password"), ("account", "2"), ("password", "another-secret-3")];
    expect_status(&check(&n.app, form("/club/staff/accounts", Some(&admin), &reset)).await, 303);
    expect_problem(&check(&n.app, with_cookie("/club/staff", &kasse)).await, 401, "staff_login_required");
    expect_status(&logged_in_reply(&n, "kasse", KASSE_PASSWORD).await, 401);
    let kasse = logged_in(&n, "kasse", "another-secret-3").await;

    let disable = [("csrf", token.as_str()), ("action", "disable"), ("account", "2")];
    expect_status(&check(&n.app, form("/club/staff/accounts", Some(&admin), &disable)).await, 303);
    expect_problem(&check(&n.app, with_cookie("/club/staff", &kasse)).await, 401, "staff_login_required");
    expect_status(&logged_in_reply(&n, "kasse", "another-secret-3").await, 401);
    assert_eq!(n.accounts().await[1], ("kasse".to_string(), false));
    // The last admin cannot disable themselves: 409 with the page again.
    let own = [("csrf", token.as_str()), ("action", "disable"), ("account", "1")];
    expect_status(&check(&n.app, form("/club/staff/accounts", Some(&admin), &own)).await, 409);
    expect_status(&check(&n.app, with_cookie("/club/staff", &admin)).await, 200);
}

#[tokio::test]
async fn sessions_and_accounts_survive_a_restart() {
    let n = fresh().await;
    let cookie = logged_in(&n, "kasse", KASSE_PASSWORD).await;
    let n = n.restart().await;
    let home = check(&n.app, with_cookie("/club/staff", &cookie)).await;
    expect_status(&home, 200);
    assert!(html(&home).contains("Kasse 1"));
    assert_eq!(n.accounts().await.len(), 2);
    expect_status(&logged_in_reply(&n, "office", OFFICE_PASSWORD).await, 303);
}

#[tokio::test]
async fn login_attempts_are_limited_per_login_and_per_address() {
    let n = fresh().await;
    for _ in 0..sturmfest_server::staff::login_burst_max {
        expect_status(&logged_in_reply(&n, "kasse", "wrong-password").await, 401);
    }
    let (limited, cookie) = login(&n, "kasse", KASSE_PASSWORD).await;
    expect_status(&limited, 429);
    assert!(limited.headers.contains_key(header::RETRY_AFTER) && cookie.is_none());
    // Another login from the same address is not held up by the first one's limit.
    expect_status(&logged_in_reply(&n, "office", OFFICE_PASSWORD).await, 303);

    let tight = StaffConfig {
        limits: LimitsConfig { per_ip: quota(3, 60_000), per_identity: quota(100, 1_000), keys_max: 1_000 },
        ..StaffConfig::default()
    };
    let n = node_with(tight).await;
    for name in ["a1", "a2", "a3"] {
        expect_status(&logged_in_reply(&n, name, "whatever-it-is").await, 401);
    }
    expect_status(&logged_in_reply(&n, "office", OFFICE_PASSWORD).await, 429);
}

#[tokio::test]
async fn only_the_tenants_api_token_creates_accounts_and_bad_input_is_refused() {
    let n = fresh().await;
    let body = json!({"login": "neu", "display_name": "Neu", "password": "long-enough-1", "roles": ["office"]});
    expect_problem(&check(&n.app, post("/api/v1/club/staff/accounts", body.clone())).await, 401, "unauthorized");
    expect_problem(&check(&n.app, post("/api/v1/club/staff/accounts", body.clone()).bearer(&n.rival)).await, 401, "unauthorized");
    expect_problem(&create_account(&n, "kasse", "Noch eine", "long-enough-1", &["office"]).await, 409, "staff_login_taken");
    expect_problem(&create_account(&n, "x", "X", "long-enough-1", &["office"]).await, 422, "staff_login_invalid");
    expect_problem(&create_account(&n, "neu", "Neu", "short", &["office"]).await, 422, "staff_password_invalid");
    expect_problem(&create_account(&n, "neu", "Neu", "long-enough-1", &["boss"]).await, 422, "staff_role_unknown");
    expect_problem(&create_account(&n, "neu", "Neu", "long-enough-1", &[]).await, 422, "staff_roles_empty");
    assert_eq!(n.accounts().await.len(), 2, "nothing was created");
}

#[tokio::test]
async fn one_tenants_session_opens_nothing_at_another_and_browsers_are_sent_to_the_login() {
    let n = fresh().await;
    let cookie = logged_in(&n, "office", OFFICE_PASSWORD).await;
    expect_problem(&check(&n.app, with_cookie("/rival/staff", &cookie)).await, 401, "staff_login_required");
    let browser = check(&n.app, get("/club/staff?lang=en").header("accept", "text/html")).await;
    expect_status(&browser, 303);
    assert!(browser.headers[header::LOCATION].to_str().unwrap().starts_with("/club/staff/login"));
    for (lang, label) in [("de", "Benutzername"), ("en", "User name")] {
        let page = check(&n.app, get(format!("/club/staff/login?lang={lang}"))).await;
        expect_status(&page, 200);
        let page = html(&page);
        assert!(page.contains(&format!("<label for=\"login\">{label}</label>")) && page.contains("autocomplete=\"current-password\""));
    }
    assert_eq!(check(&n.app, get("/nowhere/staff/login")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_admin_changes_roles_and_sees_refusals_in_the_pages_language() {
    let n = fresh().await;
    let admin = logged_in(&n, "office", OFFICE_PASSWORD).await;
    let kasse = logged_in(&n, "kasse", KASSE_PASSWORD).await;
    let token = csrf(&n, &admin).await;
    expect_problem(&check(&n.app, with_cookie("/club/staff/accounts", &kasse)).await, 403, "staff_forbidden");
    let promote = [("csrf", token.as_str()), ("action", "roles"), ("account", "2"), ("role_box_office", "on"), ("role_admin", "on")];
    let reply = check(&n.app, form("/club/staff/accounts", Some(&admin), &promote)).await;
    expect_status(&reply, 303);
    assert_eq!(reply.headers[header::LOCATION], "/club/staff/accounts?lang=de&done=roles");
    expect_status(&check(&n.app, with_cookie("/club/staff/accounts", &kasse)).await, 200);

    let taken = [("csrf", token.as_str()), ("action", "create"), ("login", "kasse"), ("display_name", "Zweite"), ("password", "long-enough-9"), ("role_office", "on")];
    let reply = check(&n.app, form("/club/staff/accounts?lang=en", Some(&admin), &taken)).await;
    expect_status(&reply, 409);
    assert!(html(&reply).contains("This user name is taken."), "{reply:#?}");
    let short = [("csrf", token.as_str()), ("action", "create"), ("login", "neu"), ("display_name", "Neu"), ("password", "short"), ("role_office", "on")];
    let reply = check(&n.app, form("/club/staff/accounts", Some(&admin), &short)).await;
    expect_status(&reply, 422);
    assert!(html(&reply).contains("Ein Passwort hat mindestens 10 Zeichen."), "{reply:#?}");
    assert_eq!(n.accounts().await.len(), 2);
}

#[tokio::test]
async fn a_node_served_over_https_marks_the_session_cookie_secure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut registry = Registry::default();
    let token = registry.add("club", "Eisclub").expect("add club");
    registry.save(dir.path()).expect("save registry");
    let options = NodeOptions { base_url: "https://tickets.example".into(), ..NodeOptions::default() };
    let opened = node::open_with(dir.path(), ShardConfig::default(), options).await.expect("open node");
    let app = app(opened.state.clone());
    let body = json!({"login": "office", "display_name": "Office", "password": OFFICE_PASSWORD, "roles": ["admin"]});
    expect_status(&check(&app, post("/api/v1/club/staff/accounts", body).bearer(&token)).await, 201);
    let reply = check(&app, form("/club/staff/login", None, &[("login", "office"), ("password", OFFICE_PASSWORD)])).await;
    expect_status(&reply, 303);
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.ends_with("; Secure") && cookie.contains("HttpOnly"), "{cookie}");
    drop(app);
    opened.close().await;
}

#[tokio::test]
async fn a_login_posted_from_another_site_is_refused_and_an_admin_can_end_every_login_of_an_account() {
    let n = fresh().await;
    let fields = [("login", "kasse"), ("password", KASSE_PASSWORD)];
    let forged = form("/club/staff/login", None, &fields).header("host", "tickets.example").header("origin", "https://evil.example");
    expect_problem(&check(&n.app, forged).await, 403, "csrf_invalid");
    assert_eq!(n.sessions().await, 0, "a forged login starts nothing");
    let same_site = form("/club/staff/login", None, &fields).header("host", "tickets.example").header("origin", "https://tickets.example");
    expect_status(&check(&n.app, same_site).await, 303);
    let configured = form("/club/staff/login", None, &fields).header("host", "10.0.0.5:8080").header("origin", "http://127.0.0.1:8080");
    expect_status(&check(&n.app, configured).await, 303);
    assert_eq!(n.sessions().await, 2, "the node's own base URL counts as same-site too");

    let admin = logged_in(&n, "office", OFFICE_PASSWORD).await;
    let token = csrf(&n, &admin).await;
    let end = [("csrf", token.as_str()), ("action", "end_sessions"), ("account", "2")];
    let reply = check(&n.app, form("/club/staff/accounts", Some(&admin), &end)).await;
    expect_status(&reply, 303);
    assert_eq!(reply.headers[header::LOCATION], "/club/staff/accounts?lang=de&done=ended");
    assert_eq!(n.sessions().await, 1, "only the admin's own session is left");
    assert_eq!(n.accounts().await[1], ("kasse".to_string(), true), "the account itself stays enabled");
}
