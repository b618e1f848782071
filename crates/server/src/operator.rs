//! The node's operator: the one who hosts many cities (tenants) on this node and
//! must see all their voucher figures side by side — liability, expired value,
//! loads and redemptions per day, and each issuer's twelve-month volume against the
//! limited-network threshold (`vouchers/reports.rs`).
//!
//! The operator has a token of its own, not any tenant's: 192 random bits, stored
//! only as its SHA-256 digest in `operator.json` next to `tenants.json` (written the
//! same way: atomically, mode 0600). `sturmfest operator-token` and `sturmfest demo`
//! make a new one and print it once; a new token also makes a new session secret,
//! so every page session of the old token ends with it. The node reads the file at
//! start, like the tenant registry.
//!
//! The page (`web/operator.rs`) signs in with the token and then holds a session
//! that is an HMAC, not a server-side record: `nonce.expires_ms.tag` with the tag
//! HMAC-SHA256(secret, domain ‖ nonce ‖ expires). Signing out puts the nonce on a
//! bounded in-memory list until the session would have expired anyway; a restart
//! forgets that list, so a stolen cookie could outlive a sign-out across a restart
//! — for at most `session_lifetime_ms`, and rotating the token ends it at once.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::tenants::{RegistryError, write_private_file};

pub const operator_file_name: &str = "operator.json";
/// How long a page session lasts after sign-in.
pub const session_lifetime_ms: i64 = 8 * 60 * 60 * 1000;
/// Signed-out sessions remembered at most; beyond that the one that would expire
/// first is forgotten first.
pub const revoked_sessions_max: usize = 1_024;
pub const cookie_name: &str = "sf_operator";

const session_domain: &[u8] = b"operator session\0";
const csrf_domain: &[u8] = b"operator csrf\0";

/// What `operator.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OperatorFile {
    /// Hex SHA-256 of the operator token.
    pub token_sha256: String,
    /// Hex 32-byte key for page sessions and CSRF tokens.
    pub secret: String,
}

/// Makes a new operator token (and session secret), stores its digest in
/// `dir/operator.json` and returns the token — shown once, stored only hashed.
pub fn rotate_token(dir: &Path) -> Result<String, RegistryError> {
    let mut token_bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut token_bytes);
    let token = format!("sfo_{}", hex::encode(token_bytes));
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let file = OperatorFile { token_sha256: hex::encode(Sha256::digest(token.as_bytes())), secret: hex::encode(secret) };
    write_private_file(dir, operator_file_name, &serde_json::to_vec_pretty(&file).expect("operator file serializes"))?;
    Ok(token)
}

/// The operator's keys, decoded once at start.
#[derive(Clone)]
pub struct OperatorKeys {
    token_sha256: [u8; 32],
    secret: [u8; 32],
}

impl OperatorKeys {
    /// `Ok(None)` when the data directory has no operator yet.
    pub fn load(dir: &Path) -> Result<Option<OperatorKeys>, RegistryError> {
        let path = dir.join(operator_file_name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RegistryError::Io { path, source }),
        };
        let file: OperatorFile = serde_json::from_slice(&bytes).map_err(|source| RegistryError::Format { path: path.clone(), source })?;
        let decode = |text: &str| hex::decode(text).ok().and_then(|v| <[u8; 32]>::try_from(v).ok());
        match (decode(&file.token_sha256), decode(&file.secret)) {
            (Some(token_sha256), Some(secret)) => Ok(Some(OperatorKeys { token_sha256, secret })),
            _ => Err(RegistryError::Format {
                path,
                source: serde::de::Error::custom("token_sha256 and secret must be 64 hex digits each"),
            }),
        }
    }

    pub fn token_matches(&self, token: &str) -> bool {
        let digest = Sha256::digest(token.trim().as_bytes());
        bool::from(digest.as_slice().ct_eq(&self.token_sha256))
    }

    fn mac(&self, domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret).expect("any key length");
        mac.update(domain);
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// A page session the cookie proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    nonce: [u8; 16],
    pub expires_ms: i64,
}

/// The operator side of a node: keys (if any), cookie settings, sign-outs.
pub struct OperatorState {
    keys: Option<OperatorKeys>,
    /// Adds `Secure` to the cookie (the node's base URL is https).
    pub secure_cookies: bool,
    /// The node's own origin, accepted as the sign-in form's `Origin`.
    pub base_origin: String,
    /// Signed-out nonces and when their session would have expired.
    revoked: Mutex<BTreeMap<[u8; 16], i64>>,
}

impl OperatorState {
    pub fn new(keys: Option<OperatorKeys>, secure_cookies: bool, base_origin: String) -> OperatorState {
        OperatorState { keys, secure_cookies, base_origin, revoked: Mutex::new(BTreeMap::new()) }
    }

    /// Whether `token` is the operator token. False on a node without operator.
    pub fn token_matches(&self, token: &str) -> bool {
        self.keys.as_ref().is_some_and(|k| k.token_matches(token))
    }

    pub fn configured(&self) -> bool {
        self.keys.is_some()
    }

    /// A new session from `now_ms`; returns it with its cookie value.
    pub fn start_session(&self, now_ms: i64) -> Option<(Session, String)> {
        let keys = self.keys.as_ref()?;
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let expires_ms = now_ms + session_lifetime_ms;
        let tag = keys.mac(session_domain, &[&nonce, &expires_ms.to_le_bytes()]);
        Some((Session { nonce, expires_ms }, format!("{}.{expires_ms}.{}", hex::encode(nonce), hex::encode(tag))))
    }

    /// The session a cookie value proves: tag valid, not expired, not signed out.
    pub fn open_session(&self, value: &str, now_ms: i64) -> Option<Session> {
        let keys = self.keys.as_ref()?;
        let mut parts = value.trim().split('.');
        let (nonce, expires, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let nonce: [u8; 16] = hex::decode(nonce).ok()?.try_into().ok()?;
        let expires_ms: i64 = expires.parse().ok()?;
        let tag = hex::decode(tag).ok()?;
        let expected = keys.mac(session_domain, &[&nonce, &expires_ms.to_le_bytes()]);
        if !bool::from(expected.as_slice().ct_eq(&tag)) || now_ms >= expires_ms {
            return None;
        }
        let revoked = self.revoked.lock().expect("revocation list lock").contains_key(&nonce);
        (!revoked).then_some(Session { nonce, expires_ms })
    }

    /// The session's CSRF token for the sign-out form.
    pub fn csrf_token(&self, session: &Session) -> String {
        self.keys.as_ref().map(|k| hex::encode(k.mac(csrf_domain, &[&session.nonce]))).unwrap_or_default()
    }

    pub fn csrf_matches(&self, session: &Session, token: &str) -> bool {
        let Some(keys) = self.keys.as_ref() else { return false };
        let Ok(sent) = hex::decode(token.trim()) else { return false };
        bool::from(keys.mac(csrf_domain, &[&session.nonce]).as_slice().ct_eq(&sent))
    }

    /// Ends a session before its time (sign-out).
    pub fn revoke(&self, session: &Session, now_ms: i64) {
        let mut revoked = self.revoked.lock().expect("revocation list lock");
        revoked.retain(|_, expires| *expires > now_ms);
        while revoked.len() >= revoked_sessions_max {
            let first = revoked.iter().min_by_key(|(_, expires)| **expires).map(|(nonce, _)| *nonce).expect("the list is not empty");
            revoked.remove(&first);
        }
        revoked.insert(session.nonce, session.expires_ms);
    }

    pub fn set_cookie(&self, value: &str) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!("{cookie_name}={value}; Path=/operator; HttpOnly; SameSite=Strict; Max-Age={}{secure}", session_lifetime_ms / 1000)
    }

    pub fn clear_cookie(&self) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!("{cookie_name}=; Path=/operator; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }
}

// ----- the figures of every city -----

/// One city's voucher figures for the operator.
pub struct CityFigures {
    pub slug: String,
    pub name: String,
    pub report: crate::vouchers::reports::Report,
    pub days: BTreeMap<sturmfest_core::ledger::ProgrammeId, BTreeMap<jiff::civil::Date, crate::vouchers::reports::DayReport>>,
}

/// The figures of every city the node could read, and the cities it could not.
pub struct Cities {
    pub figures: Vec<CityFigures>,
    /// (slug, name) of every tenant whose shard did not answer (stopped, or
    /// overloaded): listed as unavailable, so one failed city never hides the others.
    pub unavailable: Vec<(String, String)>,
}

/// The figures of every tenant that has a voucher programme, by slug. Each city is
/// read from its own shard; the figures are the city report's (`report`) and its
/// days split by programme (`programme_days`). A city whose shard fails is named in
/// `unavailable` and the others are reported all the same.
pub async fn cities(
    state: &crate::http::AppState,
    now: sturmfest_core::TimeMs,
    first: jiff::civil::Date,
    last: jiff::civil::Date,
) -> Cities {
    use crate::vouchers::reports::{programme_days, report};
    let mut slugs: Vec<&String> = state.tenants.keys().collect();
    slugs.sort();
    let mut out = Cities { figures: Vec::new(), unavailable: Vec::new() };
    for slug in slugs {
        let handle = &state.tenants[slug];
        let figures = handle
            .shard
            .read(move |t| {
                if t.vouchers().programmes().next().is_none() {
                    return None;
                }
                let now = now.max(t.vouchers().now());
                Some((report(t, now, first, last), programme_days(t, first, last)))
            })
            .await;
        match figures {
            Ok(Some((report, days))) => out.figures.push(CityFigures { slug: slug.clone(), name: handle.name.clone(), report, days }),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(tenant = %slug, error = %e, "operator report: the city did not answer");
                out.unavailable.push((slug.clone(), handle.name.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    //! Sessions: a cookie opens only with its own tag and before it expires; a
    //! signed-out session stays out; CSRF tokens are the session's own.

    use super::*;

    fn state() -> (OperatorState, String) {
        let dir = tempfile_dir();
        let token = rotate_token(&dir).unwrap();
        let keys = OperatorKeys::load(&dir).unwrap().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        (OperatorState::new(Some(keys), false, String::new()), token)
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let mut bytes = [0u8; 8];
        rand::rng().fill_bytes(&mut bytes);
        let dir = std::env::temp_dir().join(format!("sturmfest-operator-{}", hex::encode(bytes)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_session_opens_with_its_own_tag_until_it_expires_or_signs_out() {
        let (s, token) = state();
        assert!(s.token_matches(&token));
        assert!(!s.token_matches("sfo_wrong"));
        let (session, cookie) = s.start_session(1_000).unwrap();
        assert_eq!(s.open_session(&cookie, 1_000), Some(session));
        assert_eq!(s.open_session(&cookie, 1_000 + session_lifetime_ms), None, "expired");
        let later = cookie.replacen(&format!(".{}.", session.expires_ms), &format!(".{}.", session.expires_ms + 1), 1);
        assert_eq!(s.open_session(&later, 1_000), None, "an extended expiry breaks the tag");
        let csrf = s.csrf_token(&session);
        assert!(s.csrf_matches(&session, &csrf));
        let (other, _) = s.start_session(1_000).unwrap();
        assert!(!s.csrf_matches(&other, &csrf));
        s.revoke(&session, 2_000);
        assert_eq!(s.open_session(&cookie, 2_000), None, "signed out");
    }

    #[test]
    fn a_node_without_operator_opens_nothing() {
        let s = OperatorState::new(None, false, String::new());
        assert!(!s.token_matches(""));
        assert!(s.start_session(0).is_none());
    }
}
