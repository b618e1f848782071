//! The tenant registry: which organizers this node serves, their API token (stored
//! only as a SHA-256 digest — tokens are 192-bit random, so a slow password hash
//! adds nothing) and a per-tenant secret that signs hold and order tokens.
//!
//! Stored as `tenants.json` in the data directory, written atomically (temp file,
//! fsync, rename, fsync of the directory) with mode 0600.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sturmfest_log::TenantId;
use subtle::ConstantTimeEq;

use crate::credentials::{Keyring, StoredKey};

pub const registry_file_name: &str = "tenants.json";
/// Slugs that would shadow the server's own paths.
pub const reserved_slugs: [&str; 6] = ["api", "healthz", "assets", "static", "admin", "operator"];

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TenantConfig {
    pub slug: String,
    pub name: String,
    /// Hex SHA-256 of the API token.
    pub token_sha256: String,
    /// Hex 32-byte key for hold and order tokens.
    pub secret: String,
    /// Ed25519 keys for credentials (queue places, admissions, tickets); see
    /// `credentials.rs`. Registries written before keys existed get them at start.
    #[serde(default)]
    pub signing_keys: Vec<StoredKey>,
    /// Box-office terminals: each has its own token (stored hashed) that may sell
    /// at the counter and nothing else, so a lost counter PC costs one token, not
    /// the organizer's admin token.
    #[serde(default)]
    pub terminals: Vec<TerminalConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TerminalConfig {
    pub name: String,
    pub token_sha256: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Registry {
    pub tenants: Vec<TenantConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid registry: {source}")]
    Format { path: PathBuf, source: serde_json::Error },
    #[error("invalid tenant slug {0:?}: use 1 to 32 of a-z, 0-9 and '-'")]
    Slug(String),
    #[error("tenant {0} exists already")]
    Exists(String),
}

impl Registry {
    pub fn load(dir: &Path) -> Result<Registry, RegistryError> {
        let path = dir.join(registry_file_name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| RegistryError::Format { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry::default()),
            Err(source) => Err(RegistryError::Io { path, source }),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), RegistryError> {
        let bytes = serde_json::to_vec_pretty(self).expect("registry serializes");
        write_private_file(dir, registry_file_name, &bytes)
    }

    /// Adds a tenant and returns its API token — shown once, stored only hashed.
    pub fn add(&mut self, slug: &str, name: &str) -> Result<String, RegistryError> {
        TenantId::new(slug).map_err(|_| RegistryError::Slug(slug.to_string()))?;
        // Pages live at /{tenant}; these first path segments belong to the server.
        if reserved_slugs.contains(&slug) {
            return Err(RegistryError::Slug(slug.to_string()));
        }
        if self.tenants.iter().any(|t| t.slug == slug) {
            return Err(RegistryError::Exists(slug.to_string()));
        }
        let mut token_bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut token_bytes);
        let token = format!("sft_{}", hex::encode(token_bytes));
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        self.tenants.push(TenantConfig {
            slug: slug.to_string(),
            name: name.to_string(),
            token_sha256: hex::encode(Sha256::digest(token.as_bytes())),
            secret: hex::encode(secret),
            signing_keys: new_keyring(slug).stored().to_vec(),
            terminals: Vec::new(),
        });
        Ok(token)
    }

    /// Adds a box-office terminal and returns its token (shown once, stored hashed).
    pub fn add_terminal(&mut self, slug: &str, name: &str) -> Result<String, RegistryError> {
        let tenant = self.tenants.iter_mut().find(|t| t.slug == slug).ok_or_else(|| RegistryError::Slug(slug.to_string()))?;
        if name.is_empty() || name.len() > 64 || tenant.terminals.iter().any(|t| t.name == name) {
            return Err(RegistryError::Exists(format!("{slug}/{name}")));
        }
        let mut token_bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut token_bytes);
        let token = format!("sfk_{}", hex::encode(token_bytes));
        tenant.terminals.push(TerminalConfig { name: name.to_string(), token_sha256: hex::encode(Sha256::digest(token.as_bytes())) });
        Ok(token)
    }

    /// Gives every tenant without signing keys a fresh keyring; true if any did.
    pub fn ensure_signing_keys(&mut self) -> bool {
        let mut changed = false;
        for tenant in self.tenants.iter_mut().filter(|t| t.signing_keys.is_empty()) {
            tenant.signing_keys = new_keyring(&tenant.slug).stored().to_vec();
            changed = true;
        }
        changed
    }
}

/// Writes `dir/name` atomically with mode 0600: a temp file, fsync, rename, fsync of
/// the directory. For files that hold secrets or their digests (`tenants.json`,
/// `operator.json`), so a crash leaves the old file or the new one, never half.
pub(crate) fn write_private_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), RegistryError> {
    let path = dir.join(name);
    let temp = dir.join(format!("{name}.tmp"));
    let io = |source| RegistryError::Io { path: path.clone(), source };
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&temp, &path).map_err(io)?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

fn new_keyring(slug: &str) -> Keyring {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    Keyring::generate(slug, secret)
}

impl Registry {
    /// Issues a new API token for an existing tenant; the old one stops working at
    /// the next start. Used by `demo`, which prints a token every time it starts.
    pub fn rotate_token(&mut self, slug: &str) -> Option<String> {
        let tenant = self.tenants.iter_mut().find(|t| t.slug == slug)?;
        let mut token_bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut token_bytes);
        let token = format!("sft_{}", hex::encode(token_bytes));
        tenant.token_sha256 = hex::encode(Sha256::digest(token.as_bytes()));
        Some(token)
    }
}

/// What the HTTP layer needs of a tenant's credentials, decoded once at start.
#[derive(Clone)]
pub struct Credentials {
    token_sha256: [u8; 32],
    terminal_sha256: Vec<[u8; 32]>,
    secret: [u8; 32],
    pub keyring: Keyring,
}

impl Credentials {
    pub fn of(config: &TenantConfig) -> Result<Credentials, String> {
        let token_sha256 = hex::decode(&config.token_sha256)
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| format!("tenant {}: token_sha256 must be 64 hex digits", config.slug))?;
        let secret = hex::decode(&config.secret)
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| format!("tenant {}: secret must be 64 hex digits", config.slug))?;
        let keyring = Keyring::load(&config.slug, &config.signing_keys)
            .map_err(|e| format!("tenant {}: signing keys: {e}", config.slug))?;
        let mut terminal_sha256 = Vec::new();
        for terminal in &config.terminals {
            let digest = hex::decode(&terminal.token_sha256)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or_else(|| format!("tenant {}: terminal {}: token_sha256 must be 64 hex digits", config.slug, terminal.name))?;
            terminal_sha256.push(digest);
        }
        Ok(Credentials { token_sha256, terminal_sha256, secret, keyring })
    }

    /// A box-office terminal's token (or the admin token, which may do anything).
    pub fn terminal_matches(&self, token: &str) -> bool {
        let digest = Sha256::digest(token.as_bytes());
        let terminal = self.terminal_sha256.iter().fold(false, |found, t| found | bool::from(digest.as_slice().ct_eq(t)));
        terminal || self.token_matches(token)
    }

    pub fn token_matches(&self, token: &str) -> bool {
        let digest = Sha256::digest(token.as_bytes());
        bool::from(digest.as_slice().ct_eq(&self.token_sha256))
    }

    /// `"<id>.<32 hex digits of HMAC-SHA256(secret, kind:id)>"`.
    pub fn token_for(&self, kind: &str, id: u64) -> String {
        format!("{id}.{}", hex::encode(&self.tag(kind, id)[..16]))
    }

    /// The id inside a token, if the token was made by `token_for` with this kind.
    pub fn open_token(&self, kind: &str, token: &str) -> Option<u64> {
        let (id, tag) = token.split_once('.')?;
        let id: u64 = id.parse().ok()?;
        let tag = hex::decode(tag).ok()?;
        if tag.len() != 16 {
            return None;
        }
        bool::from(self.tag(kind, id)[..16].ct_eq(&tag)).then_some(id)
    }

    /// HMAC-SHA256 under the tenant secret of `domain ‖ data`. Each use passes its
    /// own NUL-terminated domain (`identity.rs`), so no two uses can produce the
    /// same input and none collides with the `kind:id` token tags.
    pub(crate) fn keyed_digest(&self, domain: &[u8], data: &[u8]) -> [u8; 32] {
        debug_assert!(domain.ends_with(b"\0"), "a digest domain ends with NUL");
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret).expect("any key length");
        mac.update(domain);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    fn tag(&self, kind: &str, id: u64) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret).expect("any key length");
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(&id.to_le_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Stable 64-bit customer id from the identity string the shop sends.
pub fn customer_id(customer: &str) -> u64 {
    let digest = Sha256::digest([b"customer\0".as_slice(), customer.as_bytes()].concat());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// An idempotency key scoped to whoever sent it, so clients cannot collide.
pub fn scoped_key(scope: &str, key: &str) -> u128 {
    let digest = Sha256::digest([scope.as_bytes(), b"\0", key.as_bytes()].concat());
    u128::from_le_bytes(digest[..16].try_into().expect("16 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_token_opens_only_with_its_own_kind_and_tenant() {
        let mut registry = Registry::default();
        registry.add("club", "Club").unwrap();
        registry.add("city", "City").unwrap();
        let club = Credentials::of(&registry.tenants[0]).unwrap();
        let city = Credentials::of(&registry.tenants[1]).unwrap();
        let token = club.token_for("hold", 17);
        assert_eq!(club.open_token("hold", &token), Some(17));
        assert_eq!(club.open_token("order", &token), None);
        assert_eq!(city.open_token("hold", &token), None);
        let forged = token.replacen("17.", "18.", 1);
        assert_eq!(club.open_token("hold", &forged), None);
    }

    #[test]
    fn slugs_that_would_shadow_the_servers_own_paths_are_refused() {
        let mut registry = Registry::default();
        for slug in reserved_slugs {
            assert!(matches!(registry.add(slug, "X"), Err(RegistryError::Slug(_))), "{slug}");
        }
        assert!(registry.add("apis", "X").is_ok());
    }

    #[test]
    fn an_api_token_is_checked_against_its_digest_only() {
        let mut registry = Registry::default();
        let token = registry.add("club", "Club").unwrap();
        let credentials = Credentials::of(&registry.tenants[0]).unwrap();
        assert!(credentials.token_matches(&token));
        assert!(!credentials.token_matches("sft_wrong"));
        assert!(!registry.tenants[0].token_sha256.contains(&token[4..]));
    }
}
