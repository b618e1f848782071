//! Staff logins at the edge: argon2id password hashes, session ids, the session
//! cookie, CSRF tokens, login rate limits, and the `StaffSession` extractor with
//! its role check. The accounts and sessions themselves live in the core
//! (`sturmfest_core::staff`), so they are as durable as every sale; this module is
//! everything the pure core must not do — hash, draw randomness, read the clock.
//!
//! **Passwords.** argon2id, version 0x13, m = 19 MiB, t = 2, p = 1: the OWASP
//! baseline for argon2id; one hash took 69 ms on one core of the dev machine in the
//! test build (dependencies at opt-level 1), so a login costs a blocking thread
//! tens of milliseconds, and the login limits bound how many a caller can ask for. Hashing and verifying run on `spawn_blocking`, never on the
//! tenant's writer and never on the async workers. An unknown login is verified
//! against a dummy hash with the same parameters, so timing does not tell which
//! logins exist; unknown, disabled and wrong-password logins get one answer.
//!
//! **Sessions.** Every login draws a fresh 256-bit id from the OS random source
//! (rotation: a login never reuses or adopts an id, so a planted cookie is useless)
//! and writes `StartSession` with only its SHA-256 digest through the writer; the
//! cookie carries the id. A session ends at its absolute expiry
//! (`session_lifetime_ms_default`, one long shift), at logout, when the account is
//! disabled or its password changed, or when a ninth login evicts the oldest. There
//! is no sliding idle timeout: extending a session on use would write a log record
//! per page view; the absolute lifetime bounds a forgotten login instead.
//!
//! **Cookie.** `sf_staff=<id>; Path=/{tenant}/; HttpOnly; SameSite=Strict;
//! Max-Age=<lifetime>`, plus `Secure` when the node's base URL is `https://`. The
//! path keeps one tenant's cookie away from another tenant's pages.
//!
//! **CSRF.** Every state-changing form carries `csrf = base64url(HMAC-SHA256(tenant
//! secret, "staff-csrf\0" ‖ session id))`, compared in constant time. It is bound
//! to the session, so it rotates with it, and `SameSite=Strict` is a second fence.
//! The login form has no session yet to bind a token to; there a browser's `Origin`
//! header, when sent, must name this node (its `Host`, or the configured base URL),
//! so another site cannot log a victim into an account the attacker controls.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sturmfest_core as core;
use sturmfest_core::staff::{LoginName, Role, Roles, SessionDigest, StaffAccountId, StaffCommand, StaffReply};
use subtle::ConstantTimeEq;

use crate::http::problem::Problem;
use crate::http::{AppState, TenantHandle};
use crate::ratelimit::{Limits, LimitsConfig, RetryAfter, quota};
use crate::runtime::wall_clock_ms;

pub const cookie_name: &str = "sf_staff";
/// Twelve hours: one long shift at the box office, and then a fresh login.
pub const session_lifetime_ms_default: i64 = 12 * 3_600_000;
pub const password_bytes_min: usize = 10;
/// Bounds the work one login can cost before argon2 even starts.
pub const password_bytes_max: usize = 1_024;
/// argon2id memory in KiB, passes, lanes (see the module comment).
pub const argon2_memory_kib: u32 = 19 * 1024;
pub const argon2_passes: u32 = 2;
pub const argon2_lanes: u32 = 1;
/// Login attempts for one login name at once, then one more per refill: slows a
/// guesser to a few hundred tries a day while a typo costs a cashier nothing.
pub const login_burst_max: u32 = 5;
pub const login_refill_ms: u64 = 60_000;
/// Login attempts from one IPv4 address (or IPv6 /64): a whole office behind one
/// NAT logs in at shift start.
pub const login_ip_burst_max: u32 = 30;
pub const login_ip_refill_ms: u64 = 2_000;

const _: () = assert!(session_lifetime_ms_default <= sturmfest_core::staff::limits::session_lifetime_ms_max);
const _: () = assert!(password_bytes_min < password_bytes_max);

/// The per-node settings of staff logins.
#[derive(Clone, Debug)]
pub struct StaffConfig {
    pub session_lifetime_ms: i64,
    /// The node's own origin (scheme, host, port), accepted as a login form's
    /// `Origin`; the node sets it from its base URL.
    pub base_origin: String,
    /// Adds `Secure` to the cookie; the node sets it when its base URL is https.
    pub secure_cookies: bool,
    pub limits: LimitsConfig,
}

impl Default for StaffConfig {
    fn default() -> StaffConfig {
        StaffConfig {
            session_lifetime_ms: session_lifetime_ms_default,
            base_origin: String::new(),
            secure_cookies: false,
            limits: LimitsConfig {
                per_ip: quota(login_ip_burst_max, login_ip_refill_ms),
                per_identity: quota(login_burst_max, login_refill_ms),
                keys_max: crate::ratelimit::limiter_keys_max,
            },
        }
    }
}

/// One tenant's staff-login services.
pub struct StaffServices {
    pub config: StaffConfig,
    limits: Arc<Limits>,
}

impl StaffServices {
    pub fn new(config: StaffConfig) -> StaffServices {
        let limits = Arc::new(Limits::new(config.limits));
        StaffServices { config, limits }
    }

    /// The limits, so the node can prune idle keys (`ratelimit::spawn_retain`).
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }
}

// ----- passwords -----

fn argon2() -> Argon2<'static> {
    let params = Params::new(argon2_memory_kib, argon2_passes, argon2_lanes, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password is not accepted as a new one.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.len() < password_bytes_min || password.len() > password_bytes_max {
        return Err(format!("a password has {password_bytes_min} to {password_bytes_max} bytes"));
    }
    Ok(())
}

/// Hashes on a blocking thread: a PHC string with a fresh random salt.
pub async fn hash_password(password: String) -> Result<String, Problem> {
    tokio::task::spawn_blocking(move || argon2().hash_password(password.as_bytes()).map(|h| h.to_string()))
        .await
        .map_err(|_| internal("password hashing task failed"))?
        .map_err(|e| internal(&format!("password hashing failed: {e}")))
}

/// Verifies on a blocking thread; `None` verifies against a dummy hash, so an
/// unknown login costs the same time as a wrong password.
async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let dummy = dummy_hash();
        let (hash, real) = match &hash {
            Some(h) => (h.as_str(), true),
            None => (dummy, false),
        };
        argon2().verify_password(password.as_bytes(), hash).is_ok() && real
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| argon2().hash_password(b"not a password anyone has").expect("hashing a literal").to_string())
}

fn internal(why: &str) -> Problem {
    tracing::error!(why, "staff login internals");
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "an internal error occurred")
}

// ----- sessions and cookies -----

pub fn session_digest(id: &[u8; 32]) -> SessionDigest {
    SessionDigest(Sha256::digest(id).into())
}

fn cookie_value(id: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// The session id from a `Cookie` header, if one of its cookies is ours and well formed.
pub fn session_id_from(headers: &HeaderMap) -> Option<[u8; 32]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == cookie_name)
        .find_map(|(_, value)| URL_SAFE_NO_PAD.decode(value).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()))
}

pub fn set_cookie(slug: &str, id: &[u8; 32], config: &StaffConfig) -> HeaderValue {
    let secure = if config.secure_cookies { "; Secure" } else { "" };
    let max_age = config.session_lifetime_ms / 1000;
    let text = format!("{cookie_name}={}; Path=/{slug}/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}", cookie_value(id));
    HeaderValue::from_str(&text).expect("a slug and base64 are header-safe")
}

pub fn clear_cookie(slug: &str, config: &StaffConfig) -> HeaderValue {
    let secure = if config.secure_cookies { "; Secure" } else { "" };
    let text = format!("{cookie_name}=; Path=/{slug}/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    HeaderValue::from_str(&text).expect("a slug is header-safe")
}

// ----- login and logout -----

/// Whether a login POST may come from where it says: no `Origin` (older clients,
/// API tools) passes; one that names this node's `Host` or `base_origin` passes.
pub fn origin_allowed(headers: &HeaderMap, base_origin: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) || origin.eq_ignore_ascii_case(base_origin.trim_end_matches('/'))
}

/// Why a login did not start a session.
#[derive(Debug)]
pub enum LoginError {
    /// Wrong password, unknown or disabled login: one answer for all three.
    Failed,
    RateLimited(RetryAfter),
    Other(Problem),
}

/// A started session: the id goes into the cookie, never into the log.
pub struct Started {
    pub id: [u8; 32],
    pub account: StaffAccountId,
    pub expires_at: core::TimeMs,
}

/// Counts the attempt against the IP's and the login's limits, verifies the
/// password off the async workers, then writes `StartSession` with a fresh id.
pub async fn login(handle: &TenantHandle, login: &str, password: &str, ip: IpAddr) -> Result<Started, LoginError> {
    let typed = login.trim().to_lowercase();
    let services = &handle.staff;
    services.limits.check_ip(ip).map_err(LoginError::RateLimited)?;
    let key = handle.credentials.keyed_digest(b"staff-login\0", typed.as_bytes());
    let key = u128::from_le_bytes(key[..16].try_into().expect("16 bytes"));
    services.limits.check_identity(key).map_err(LoginError::RateLimited)?;
    if password.len() > password_bytes_max {
        return Err(LoginError::Failed);
    }
    let found = match LoginName::parse(&typed) {
        Some(name) => handle
            .shard
            .read(move |t| t.staff().account_by_login(&name).map(|a| (a.id, a.password_hash.clone(), a.is_enabled())))
            .await
            .map_err(|e| LoginError::Other(e.into()))?,
        None => None,
    };
    let (account, hash, enabled) = match found {
        Some((id, hash, enabled)) => (Some(id), Some(hash), enabled),
        None => (None, None, false),
    };
    let hash_seen = hash.clone().unwrap_or_default();
    let verified = verify_password(password.to_string(), hash).await;
    let (Some(account), true, true) = (account, verified, enabled) else { return Err(LoginError::Failed) };
    let mut id = [0u8; 32];
    rand::rng().fill_bytes(&mut id);
    let expires_at = core::TimeMs(wall_clock_ms().saturating_add(services.config.session_lifetime_ms));
    let command = StaffCommand::StartSession { account, session: session_digest(&id), expires_at };
    match handle.shard.execute(None, core::Command::Staff(command)).await.map_err(|e| LoginError::Other(e.into()))? {
        Ok(core::Reply::Staff(StaffReply::SessionStarted { expires_at, .. })) => {
            // A password reset between our read and our write ended every session
            // before ours began, so ours would outlive it: end it before anyone
            // holds its cookie. (A disable in that window is refused by the core.)
            let verified_hash = hash_seen;
            let current = handle
                .shard
                .read(move |t| t.staff().account(account).map(|a| a.password_hash.clone()))
                .await
                .map_err(|e| LoginError::Other(e.into()))?;
            if current.as_deref() != Some(verified_hash.as_str()) {
                let end = StaffCommand::EndSession { session: session_digest(&id) };
                let _ = handle.shard.execute(None, core::Command::Staff(end)).await;
                return Err(LoginError::Failed);
            }
            Ok(Started { id, account, expires_at })
        }
        // Disabled between the read and the write: the same answer as a wrong password.
        Err(core::Rejection::Staff(sturmfest_core::staff::StaffRejection::AccountDisabled)) => Err(LoginError::Failed),
        Err(rejection) => Err(LoginError::Other(Problem::from_rejection(&rejection))),
        Ok(other) => Err(LoginError::Other(internal(&format!("unexpected reply {other:?}")))),
    }
}

/// Ends this session only; the account's other sessions stay valid.
pub async fn logout(session: &StaffSession) -> Result<(), Problem> {
    let command = StaffCommand::EndSession { session: session_digest(&session.session_id) };
    match session.handle.shard.execute(None, core::Command::Staff(command)).await? {
        // Already ended (expired a moment ago, or a second logout tab): nothing to do.
        Ok(_) | Err(core::Rejection::Staff(sturmfest_core::staff::StaffRejection::UnknownSession)) => Ok(()),
        Err(rejection) => Err(Problem::from_rejection(&rejection)),
    }
}

// ----- the extractor -----

/// A request made inside a valid staff session of the tenant in the path.
pub struct StaffSession {
    pub slug: String,
    pub handle: TenantHandle,
    pub account: StaffAccountId,
    pub login: String,
    pub display_name: String,
    pub roles: Roles,
    pub expires_at: core::TimeMs,
    session_id: [u8; 32],
}

impl StaffSession {
    /// Admins may do everything; everyone else what their roles name.
    pub fn may(&self, role: Role) -> bool {
        self.roles.contains(role) || self.roles.contains(Role::Admin)
    }

    pub fn require(&self, role: Role) -> Result<(), Denied> {
        if self.may(role) { Ok(()) } else { Err(Denied::Forbidden) }
    }

    /// The token every form of this session carries.
    pub fn csrf_token(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.csrf_bytes())
    }

    fn csrf_bytes(&self) -> [u8; 32] {
        self.handle.credentials.keyed_digest(b"staff-csrf\0", &self.session_id)
    }

    /// Constant-time comparison of a form's token with this session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), Denied> {
        let Ok(sent) = URL_SAFE_NO_PAD.decode(token.trim()) else { return Err(Denied::CsrfInvalid) };
        if bool::from(sent.as_slice().ct_eq(&self.csrf_bytes())) { Ok(()) } else { Err(Denied::CsrfInvalid) }
    }

    /// The gate of every office form that changes something: the CSRF token, then
    /// the role; a refusal answered as `Denied::respond` does (a page for browsers).
    pub fn gate_form(&self, headers: &HeaderMap, csrf: &str, role: Role) -> Result<(), axum::response::Response> {
        self.check_csrf(csrf).and_then(|()| self.require(role)).map_err(|d| d.respond(&self.slug, headers))
    }
}

/// Why a staff request is refused. Browsers get a page (a login redirect for a
/// missing session); API clients get problem+json with the stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    UnknownTenant,
    /// No cookie, an unknown, ended or expired session, or a disabled account.
    LoginRequired,
    Forbidden,
    CsrfInvalid,
}

impl Denied {
    pub fn problem(self) -> Problem {
        match self {
            Denied::UnknownTenant => Problem::not_found("unknown_tenant", "no such organizer"),
            Denied::LoginRequired => Problem::new(
                StatusCode::UNAUTHORIZED,
                "staff_login_required",
                "Login required",
                "this page needs a staff login; the session is missing, ended or expired",
            ),
            Denied::Forbidden => Problem::new(
                StatusCode::FORBIDDEN,
                "staff_forbidden",
                "Not allowed",
                "this staff account's roles do not include this area",
            ),
            Denied::CsrfInvalid => Problem::new(
                StatusCode::FORBIDDEN,
                "csrf_invalid",
                "Form expired",
                "the form's CSRF token is missing or does not match this session; reload the page and send it again",
            ),
        }
    }

    /// For a browser (`Accept: text/html`): a redirect to the login page, or a
    /// short page in the negotiated language; else problem+json.
    pub fn respond(self, slug: &str, headers: &HeaderMap) -> Response {
        let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
        if !wants_html {
            return self.problem().into_response();
        }
        let lang = crate::web::i18n::Lang::negotiate(None, headers);
        let s = lang.staff();
        let (status, text) = match self {
            Denied::LoginRequired => {
                let to = format!("/{slug}/staff/login?lang={}", lang.code());
                return (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
            }
            Denied::UnknownTenant => (StatusCode::NOT_FOUND, lang.texts().not_found),
            Denied::Forbidden => (StatusCode::FORBIDDEN, s.forbidden),
            Denied::CsrfInvalid => (StatusCode::FORBIDDEN, s.csrf_invalid),
        };
        let body = format!(
            "<!doctype html><html lang=\"{}\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{status}</title><p>{text}</p><p><a href=\"/{slug}/staff\">{}</a></p></html>",
            lang.code(),
            s.home_link
        );
        (status, Html(body)).into_response()
    }
}

/// The rejection of the extractor: a `Denied` plus what it needs to respond.
pub struct DeniedResponse(Response);

impl IntoResponse for DeniedResponse {
    fn into_response(self) -> Response {
        self.0
    }
}

impl FromRequestParts<AppState> for StaffSession {
    type Rejection = DeniedResponse;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<StaffSession, DeniedResponse> {
        let params = RawPathParams::from_request_parts(parts, state).await.ok();
        let slug = params.and_then(|p| p.iter().find(|(name, _)| *name == "tenant").map(|(_, v)| v.to_string())).unwrap_or_default();
        let deny = |d: Denied| DeniedResponse(d.respond(&slug, &parts.headers));
        let Some(handle) = state.tenants.get(&slug) else { return Err(deny(Denied::UnknownTenant)) };
        let Some(session_id) = session_id_from(&parts.headers) else { return Err(deny(Denied::LoginRequired)) };
        let digest = session_digest(&session_id);
        let now = core::TimeMs(wall_clock_ms());
        let found = handle
            .shard
            .read(move |t| {
                t.staff().valid_session(&digest, now).map(|(session, account)| {
                    (account.id, account.login.as_str().to_string(), account.display_name.clone(), account.roles, session.expires_at)
                })
            })
            .await;
        let found = match found {
            Ok(found) => found,
            Err(e) => return Err(DeniedResponse(Problem::from(e).into_response())),
        };
        let Some((account, login, display_name, roles, expires_at)) = found else {
            return Err(deny(Denied::LoginRequired));
        };
        Ok(StaffSession { handle: handle.clone(), slug, account, login, display_name, roles, expires_at, session_id })
    }
}


#[cfg(test)]
mod tests {
    //! The cookie and Origin parsing at the edge: our cookie is found among others
    //! and only when well formed; a cookie's attributes follow the config; a login
    //! `Origin` passes only for this node.

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_only_when_well_formed() {
        let id = [7u8; 32];
        let value = cookie_value(&id);
        let found = headers(&[(header::COOKIE, "a=1; sf_staff_x=2"), (header::COOKIE, &format!("theme=dark; {cookie_name}={value}"))]);
        assert_eq!(session_id_from(&found), Some(id));
        for bad in ["sf_staff=", "sf_staff=not base64!", "sf_staff=AAAA", "other=x"] {
            assert_eq!(session_id_from(&headers(&[(header::COOKIE, bad)])), None, "{bad}");
        }
        let config = StaffConfig { secure_cookies: true, ..StaffConfig::default() };
        let set = set_cookie("club", &id, &config);
        assert_eq!(set.to_str().unwrap(), format!("sf_staff={value}; Path=/club/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure"));
        assert!(clear_cookie("club", &StaffConfig::default()).to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn a_login_origin_passes_only_for_this_node() {
        let base = "https://tickets.example";
        assert!(origin_allowed(&headers(&[]), base), "no Origin: not a browser's cross-site form");
        assert!(origin_allowed(&headers(&[(header::HOST, "tickets.example"), (header::ORIGIN, "https://tickets.example")]), base));
        assert!(origin_allowed(&headers(&[(header::HOST, "internal:8080"), (header::ORIGIN, "https://tickets.example")]), base));
        assert!(!origin_allowed(&headers(&[(header::HOST, "tickets.example"), (header::ORIGIN, "https://evil.example")]), base));
        assert!(!origin_allowed(&headers(&[(header::ORIGIN, "null")]), base), "an opaque origin is not ours");
    }
}
