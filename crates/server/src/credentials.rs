//! Signed credentials: how a decision of the core reaches places the core is not —
//! a gate scanning tickets offline, any node checking a waiting-room place, a
//! merchant device, a stream edge. Each tenant has a keyring of Ed25519 keys; the
//! newest active key signs, every key not revoked verifies, so keys rotate without
//! invalidating what is already out there. docs/CREDENTIALS.md has the format.
//!
//! A credential is `sf1.<kind>.<key id>.<body>.<signature>` (body and signature in
//! unpadded base64url). The signature covers a domain-separation prefix, the tenant,
//! the kind, the key id and the body, so a credential of one tenant or kind is
//! never accepted as another's. What the body means — which event, which place,
//! until when — belongs to each kind and is checked by its user after `verify`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// What every credential text starts with; a new format gets a new prefix.
pub const credential_prefix: &str = "sf1";
/// Signed before everything else, so these signatures mean nothing to any other
/// protocol that might share a key by mistake.
const signing_context: &[u8] = b"sturmfest credential v1\0";
/// Largest body; credentials travel in URLs, cookies and QR codes.
pub const body_bytes_max: usize = 512;
/// Longest credential text accepted for parsing (prefix, kind, key id, body,
/// signature and separators, with room to spare).
pub const credential_chars_max: usize = 1024;
/// Prefix of the HMAC message that derives an event's ticket key (`Keyring::for_event`).
const event_key_context: &[u8] = b"sturmfest event ticket key v1\0";
/// Most keys one keyring keeps (active, retired and revoked).
pub const keyring_keys_max: usize = 64;

const _: () = assert!(body_bytes_max.div_ceil(3) * 4 + 86 + 32 <= credential_chars_max);

/// What a credential stands for. The number is part of the signed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A place in a waiting room.
    QueuePlace,
    /// Admission from a waiting room into the checkout.
    Admission,
    /// A ticket, checked at the gate.
    Ticket,
    /// A verified e-mail identity (`identity.rs`): one per person in a waiting room.
    Identity,
    /// A voucher card's balance, for offline merchant devices (`vouchers/offline.rs`).
    BalanceCertificate,
    /// The digest of a programme's blocked cards, pushed to devices (`vouchers/offline.rs`).
    RevocationList,
}

impl Kind {
    pub fn code(self) -> u8 {
        match self {
            Kind::QueuePlace => 1,
            Kind::Admission => 2,
            Kind::Ticket => 3,
            Kind::Identity => 4,
            Kind::BalanceCertificate => 5,
            Kind::RevocationList => 6,
        }
    }

    fn from_code(code: u8) -> Option<Kind> {
        [Kind::QueuePlace, Kind::Admission, Kind::Ticket, Kind::Identity, Kind::BalanceCertificate, Kind::RevocationList]
            .into_iter().find(|k| k.code() == code)
    }
}

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Signs new credentials (exactly one key of a keyring) and verifies.
    Active,
    /// Verifies what it signed before a rotation; signs nothing new.
    Retired,
    /// Verifies nothing: the key is compromised or its credentials are withdrawn.
    Revoked,
}

/// One key as stored in the tenant registry (secret) or published (public only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    pub id: u32,
    pub state: KeyState,
    /// Hex of the 32-byte Ed25519 secret; absent in a published key set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Unpadded base64url of the 32-byte public key.
    pub public: String,
}

/// Why a credential is not accepted. The codes are stable; the HTTP layer shows
/// them as problem codes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("not a sturmfest credential")]
    Malformed,
    #[error("a credential of another kind")]
    WrongKind,
    #[error("signed with a key this tenant does not have")]
    UnknownKey,
    #[error("signed with a revoked key")]
    RevokedKey,
    #[error("the signature does not match")]
    BadSignature,
}

impl CredentialError {
    pub fn code(&self) -> &'static str {
        match self {
            CredentialError::Malformed => "credential_malformed",
            CredentialError::WrongKind => "credential_wrong_kind",
            CredentialError::UnknownKey => "credential_unknown_key",
            CredentialError::RevokedKey => "credential_revoked_key",
            CredentialError::BadSignature => "credential_bad_signature",
        }
    }
}

/// A stored keyring that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("key {0}: {1}")]
    BadKey(u32, &'static str),
    #[error("a keyring needs exactly one active key, found {0}")]
    ActiveCount(usize),
    #[error("key id {0} appears twice")]
    DuplicateId(u32),
    #[error("a keyring holds at most 64 keys")]
    TooManyKeys,
}

/// A tenant's keys with their secrets: signs and verifies.
#[derive(Clone)]
pub struct Keyring {
    tenant: String,
    active: (u32, SigningKey),
    verifier: Verifier,
    stored: Vec<StoredKey>,
}

/// A tenant's public keys: verifies only. This is what a gate or an edge holds.
#[derive(Clone, Debug)]
pub struct Verifier {
    tenant: String,
    keys: BTreeMap<u32, (KeyState, VerifyingKey)>,
}

fn message(tenant: &str, kind: Kind, key_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(signing_context.len() + 1 + tenant.len() + 5 + body.len());
    out.extend_from_slice(signing_context);
    out.push(u8::try_from(tenant.len()).expect("tenant slugs are at most 32 bytes"));
    out.extend_from_slice(tenant.as_bytes());
    out.push(kind.code());
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn stored_key(id: u32, state: KeyState, key: &SigningKey) -> StoredKey {
    StoredKey {
        id,
        state,
        secret: Some(hex::encode(key.to_bytes())),
        public: URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
    }
}

impl Keyring {
    /// A fresh keyring with one active key made from `secret` (32 bytes from the
    /// OS's random source; the caller draws them so this module stays testable).
    pub fn generate(tenant: &str, secret: [u8; 32]) -> Keyring {
        let stored = vec![stored_key(1, KeyState::Active, &SigningKey::from_bytes(&secret))];
        Keyring::load(tenant, &stored).expect("a fresh keyring is valid")
    }

    /// Rebuilds a keyring from its stored keys, checking every key.
    pub fn load(tenant: &str, stored: &[StoredKey]) -> Result<Keyring, KeyringError> {
        if stored.len() > keyring_keys_max {
            return Err(KeyringError::TooManyKeys);
        }
        let mut keys = BTreeMap::new();
        let mut active = Vec::new();
        for key in stored {
            let secret = key.secret.as_deref().ok_or(KeyringError::BadKey(key.id, "no secret"))?;
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(secret, &mut bytes).map_err(|_| KeyringError::BadKey(key.id, "secret is not 64 hex digits"))?;
            let signing = SigningKey::from_bytes(&bytes);
            if URL_SAFE_NO_PAD.encode(signing.verifying_key().to_bytes()) != key.public {
                return Err(KeyringError::BadKey(key.id, "public key does not belong to the secret"));
            }
            if keys.insert(key.id, (key.state, signing.verifying_key())).is_some() {
                return Err(KeyringError::DuplicateId(key.id));
            }
            if key.state == KeyState::Active {
                active.push((key.id, signing));
            }
        }
        if active.len() != 1 {
            return Err(KeyringError::ActiveCount(active.len()));
        }
        let active = active.pop().expect("one active key");
        Ok(Keyring {
            tenant: tenant.to_string(),
            active,
            verifier: Verifier { tenant: tenant.to_string(), keys },
            stored: stored.to_vec(),
        })
    }

    /// The keys to store (with secrets).
    pub fn stored(&self) -> &[StoredKey] {
        &self.stored
    }

    /// The public key set to publish: what gates and other nodes load.
    pub fn published(&self) -> Vec<StoredKey> {
        self.stored.iter().map(|k| StoredKey { secret: None, ..k.clone() }).collect()
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// A new active key signs from now on; the old one retires and still verifies.
    pub fn rotate(&self, secret: [u8; 32]) -> Result<Keyring, KeyringError> {
        let id = self.stored.iter().map(|k| k.id).max().unwrap_or(0) + 1;
        let mut stored = self.stored.clone();
        for key in &mut stored {
            if key.state == KeyState::Active {
                key.state = KeyState::Retired;
            }
        }
        stored.push(stored_key(id, KeyState::Active, &SigningKey::from_bytes(&secret)));
        Keyring::load(&self.tenant, &stored)
    }

    /// Withdraws a retired key: what it signed is no longer accepted anywhere that
    /// loads the new key set. The active key cannot be revoked without a rotation.
    pub fn revoke(&self, id: u32) -> Result<Keyring, KeyringError> {
        let mut stored = self.stored.clone();
        let key = stored.iter_mut().find(|k| k.id == id).ok_or(KeyringError::BadKey(id, "no such key"))?;
        if key.state == KeyState::Active {
            return Err(KeyringError::BadKey(id, "the active key cannot be revoked; rotate first"));
        }
        key.state = KeyState::Revoked;
        Keyring::load(&self.tenant, &stored)
    }

    /// The keyring of one event's tickets: for every key of this keyring, a key with
    /// the same id and state whose secret is derived as HMAC-SHA256(tenant key
    /// secret, `event_key_context` ‖ event id, big-endian). Deterministic, so nothing
    /// new is stored and every node derives the same keys; one-way, so an event's
    /// keys (secret or public) say nothing about another event's or the tenant's.
    /// Rotating or revoking a tenant key rotates or revokes it for every event.
    pub fn for_event(&self, event: u32) -> Keyring {
        use hmac::{Hmac, KeyInit, Mac};
        let derived: Vec<StoredKey> = self
            .stored
            .iter()
            .map(|key| {
                let mut secret = [0u8; 32];
                hex::decode_to_slice(key.secret.as_deref().expect("a loaded keyring has secrets"), &mut secret)
                    .expect("a loaded keyring's secrets are hex");
                let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&secret).expect("HMAC takes any key length");
                mac.update(event_key_context);
                mac.update(&event.to_be_bytes());
                let seed: [u8; 32] = mac.finalize().into_bytes().into();
                stored_key(key.id, key.state, &SigningKey::from_bytes(&seed))
            })
            .collect();
        Keyring::load(&self.tenant, &derived).expect("derived keys keep ids and states, so the keyring stays valid")
    }

    /// Signs `body` as a credential of `kind`.
    pub fn sign(&self, kind: Kind, body: &[u8]) -> String {
        assert!(body.len() <= body_bytes_max, "credential body of {} bytes", body.len());
        let (id, key) = &self.active;
        let signature = key.sign(&message(&self.tenant, kind, *id, body));
        format!(
            "{credential_prefix}.{}.{id}.{}.{}",
            kind.code(),
            URL_SAFE_NO_PAD.encode(body),
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}

impl Verifier {
    /// A verifier from a published key set (secrets ignored if present).
    pub fn from_published(tenant: &str, keys: &[StoredKey]) -> Result<Verifier, KeyringError> {
        if keys.len() > keyring_keys_max {
            return Err(KeyringError::TooManyKeys);
        }
        let mut out = BTreeMap::new();
        for key in keys {
            let bytes: [u8; 32] = URL_SAFE_NO_PAD
                .decode(&key.public)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(KeyringError::BadKey(key.id, "public key is not 32 bytes of base64url"))?;
            let public = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyringError::BadKey(key.id, "not a curve point"))?;
            if out.insert(key.id, (key.state, public)).is_some() {
                return Err(KeyringError::DuplicateId(key.id));
            }
        }
        Ok(Verifier { tenant: tenant.to_string(), keys: out })
    }

    /// Checks a credential's form, kind, key and signature; returns its body.
    /// Hostile text (any length, any bytes) gets an error, never a panic.
    pub fn verify(&self, kind: Kind, text: &str) -> Result<Vec<u8>, CredentialError> {
        if text.len() > credential_chars_max {
            return Err(CredentialError::Malformed);
        }
        let mut parts = text.split('.');
        let (Some(prefix), Some(kind_text), Some(id_text), Some(body_text), Some(sig_text), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CredentialError::Malformed);
        };
        if prefix != credential_prefix {
            return Err(CredentialError::Malformed);
        }
        let found_kind = canonical_u32(kind_text)
            .and_then(|c| u8::try_from(c).ok())
            .and_then(Kind::from_code)
            .ok_or(CredentialError::Malformed)?;
        let key_id = canonical_u32(id_text).ok_or(CredentialError::Malformed)?;
        let body = URL_SAFE_NO_PAD.decode(body_text).map_err(|_| CredentialError::Malformed)?;
        let signature: [u8; 64] = URL_SAFE_NO_PAD
            .decode(sig_text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(CredentialError::Malformed)?;
        if body.len() > body_bytes_max {
            return Err(CredentialError::Malformed);
        }
        if found_kind != kind {
            return Err(CredentialError::WrongKind);
        }
        let (state, public) = self.keys.get(&key_id).ok_or(CredentialError::UnknownKey)?;
        if *state == KeyState::Revoked {
            return Err(CredentialError::RevokedKey);
        }
        public
            .verify_strict(&message(&self.tenant, kind, key_id, &body), &Signature::from_bytes(&signature))
            .map_err(|_| CredentialError::BadSignature)?;
        Ok(body)
    }
}

/// A decimal u32 in its one canonical spelling (no sign, no leading zeros), so one
/// credential has exactly one text.
fn canonical_u32(text: &str) -> Option<u32> {
    let canonical = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}
