//! A merchant device that keeps redeeming when the node is unreachable, written in
//! Rust so tests (and a native till) use the same rules as the merchant page.
//!
//! It keeps its Ed25519 key, the allowance the node granted, the tenant's public
//! keys, the programme's revocation list and a numbered journal of its offline
//! redemptions. Offline it checks a card's QR text (code and balance certificate)
//! against the tenant's keys, refuses revoked cards, and takes at most the card's
//! offline cap minus what it already took from that card, at most what the
//! certificate says the card holds minus that, and at most what is left of its
//! allowance: every offline cent counts against the allowance, because offline the
//! device cannot know whether the card still covers it. When the node is back it
//! sends the journal once; the node books each entry exactly once by its id, so a
//! repeated sync (a lost reply) is harmless.
//!
//! The device is transport-free: it builds `DeviceRequest`s (method, path, signed
//! headers, body) and reads the JSON replies; whoever holds it sends them.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::SigningKey;
use rand::RngCore;
use serde_json::{Value, json};
use sturmfest_core::ledger::{DeviceId, ProgrammeId};
use sturmfest_core::vouchers::CardId;
use sturmfest_core::{Cents, TimeMs};

use crate::credentials::{StoredKey, Verifier};
use crate::vouchers::offline::*;

/// A request for the node, signed when it comes from an enrolled device.
#[derive(Clone, Debug)]
pub struct DeviceRequest {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One offline redemption as the device journals it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub id: u128,
    pub sequence: u64,
    pub card: CardId,
    pub amount: Cents,
    pub at: TimeMs,
    pub certificate_serial: u64,
    pub certificate_balance: Cents,
}

/// Why the device refuses an offline redemption.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OfflineRefusal {
    #[error("the device holds no allowance")]
    NoAllowance,
    #[error("the allowance has expired")]
    AllowanceExpired,
    #[error("not a card QR code")]
    NotAQr,
    #[error("the certificate is not valid: {0}")]
    Certificate(String),
    #[error("the card is of another programme")]
    OtherProgramme,
    #[error("the card is blocked")]
    Revoked,
    #[error("the amount is not positive")]
    AmountInvalid,
    #[error("over the card's offline limit: {left} left")]
    OverCap { left: Cents },
    #[error("over the card's certified balance: {left} left")]
    OverBalance { left: Cents },
    #[error("over the device's allowance: {left} left")]
    OverAllowance { left: Cents },
}

#[derive(Clone, Debug)]
struct Held {
    programme: ProgrammeId,
    amount: Cents,
    expires_at: TimeMs,
    card_cap: Cents,
    used: Cents,
    taken: BTreeMap<CardId, Cents>,
}

pub struct Device {
    tenant: String,
    key: SigningKey,
    pub id: Option<DeviceId>,
    verifier: Option<Verifier>,
    revoked: BTreeSet<CardId>,
    allowance: Option<Held>,
    journal: Vec<JournalEntry>,
    /// Entries before this index were confirmed by a sync.
    synced: usize,
    next_sequence: u64,
}

fn api(tenant: &str, path: &str) -> String {
    format!("/api/v1/{tenant}/vouchers{path}")
}

impl Device {
    /// A device with a key from `secret` (the caller's random bytes).
    pub fn new(tenant: &str, secret: [u8; 32]) -> Device {
        Device {
            tenant: tenant.to_string(),
            key: SigningKey::from_bytes(&secret),
            id: None,
            verifier: None,
            revoked: BTreeSet::new(),
            allowance: None,
            journal: Vec::new(),
            synced: 0,
            next_sequence: 1,
        }
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// The unsigned enrolment with the office's pairing code.
    pub fn enrol_request(&self, pairing_code: &str) -> DeviceRequest {
        let body = json!({"pairing_code": pairing_code, "public_key": self.public_key_hex()});
        DeviceRequest { method: "POST", path: api(&self.tenant, "/devices/enrol"), headers: Vec::new(), body: body.to_string().into_bytes() }
    }

    pub fn enrolled(&mut self, reply: &Value) {
        self.id = reply["device"].as_u64().map(DeviceId);
    }

    /// A request signed with the device key at the device's clock `now`.
    pub fn signed(&self, path: &str, body: Value, now: TimeMs) -> DeviceRequest {
        let id = self.id.expect("an enrolled device");
        let path = api(&self.tenant, path);
        let body = body.to_string().into_bytes();
        let headers = sign_request(&self.key, &self.tenant, id, now, "POST", &path, &body).to_vec();
        DeviceRequest { method: "POST", path, headers, body }
    }

    pub fn allowance_request(&self, programme: ProgrammeId, amount: Cents, window_secs: i64, now: TimeMs) -> DeviceRequest {
        self.signed("/device/allowance", json!({"programme": programme.0, "amount_cents": amount.0, "window_secs": window_secs}), now)
    }

    /// Takes the allowance reply: keys, checked revocation list, the limits.
    pub fn take_allowance(&mut self, reply: &Value) -> Result<(), String> {
        let keys: Vec<StoredKey> = serde_json::from_value(reply["keys"].clone()).map_err(|e| e.to_string())?;
        let verifier = Verifier::from_published(&self.tenant, &keys).map_err(|e| e.to_string())?;
        let programme = ProgrammeId(reply["programme"].as_u64().ok_or("programme")? as u32);
        let revoked: Vec<CardId> =
            reply["revoked_cards"].as_array().ok_or("revoked_cards")?.iter().filter_map(|c| c.as_u64()).map(CardId).collect();
        verify_revocations(&verifier, reply["revocations"].as_str().ok_or("revocations")?, programme, &revoked)
            .map_err(|e| e.code().to_string())?;
        self.revoked = revoked.into_iter().collect();
        self.verifier = Some(verifier);
        self.allowance = Some(Held {
            programme,
            amount: Cents(reply["amount_cents"].as_i64().ok_or("amount_cents")?),
            expires_at: TimeMs(reply["expires_at"].as_i64().ok_or("expires_at")?),
            card_cap: Cents(reply["card_offline_cents_max"].as_i64().ok_or("cap")?),
            used: Cents::ZERO,
            taken: BTreeMap::new(),
        });
        Ok(())
    }

    /// What is left of the allowance.
    pub fn allowance_left(&self) -> Cents {
        self.allowance.as_ref().map_or(Cents::ZERO, |a| Cents(a.amount.0 - a.used.0))
    }

    /// Redeems offline from a card's QR text, or says why not; journals on success.
    pub fn redeem_offline(&mut self, qr: &str, amount: Cents, now: TimeMs) -> Result<&JournalEntry, OfflineRefusal> {
        let verifier = self.verifier.as_ref().ok_or(OfflineRefusal::NoAllowance)?;
        let held = self.allowance.as_ref().ok_or(OfflineRefusal::NoAllowance)?;
        if now > held.expires_at {
            return Err(OfflineRefusal::AllowanceExpired);
        }
        let (_, certificate) = split_qr(qr).ok_or(OfflineRefusal::NotAQr)?;
        let cert = BalanceCertificate::verify(verifier, certificate, now).map_err(|e| OfflineRefusal::Certificate(e.code().into()))?;
        if cert.programme != held.programme {
            return Err(OfflineRefusal::OtherProgramme);
        }
        if self.revoked.contains(&cert.card) {
            return Err(OfflineRefusal::Revoked);
        }
        if amount.0 <= 0 {
            return Err(OfflineRefusal::AmountInvalid);
        }
        let taken = held.taken.get(&cert.card).copied().unwrap_or(Cents::ZERO);
        let cap_left = Cents(held.card_cap.0.min(cert.offline_cap.0) - taken.0);
        if amount > cap_left {
            return Err(OfflineRefusal::OverCap { left: cap_left.max(Cents::ZERO) });
        }
        let balance_left = Cents(cert.balance.0 - taken.0);
        if amount > balance_left {
            return Err(OfflineRefusal::OverBalance { left: balance_left.max(Cents::ZERO) });
        }
        let allowance_left = Cents(held.amount.0 - held.used.0);
        if amount > allowance_left {
            return Err(OfflineRefusal::OverAllowance { left: allowance_left });
        }
        let held = self.allowance.as_mut().expect("checked");
        held.used = held.used.plus(amount);
        held.taken.insert(cert.card, taken.plus(amount));
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        let entry = JournalEntry {
            id: u128::from_be_bytes(id).max(1),
            sequence: self.next_sequence,
            card: cert.card,
            amount,
            at: now,
            certificate_serial: cert.serial,
            certificate_balance: cert.balance,
        };
        self.next_sequence += 1;
        self.journal.push(entry);
        Ok(self.journal.last().expect("pushed"))
    }

    /// Journal entries not yet confirmed by a sync.
    pub fn pending(&self) -> &[JournalEntry] {
        &self.journal[self.synced..]
    }

    pub fn sync_request(&self, now: TimeMs) -> DeviceRequest {
        let entries: Vec<Value> = self
            .pending()
            .iter()
            .map(|e| {
                json!({"redemption_id": format!("{:032x}", e.id), "sequence": e.sequence, "card": e.card.0,
                       "amount_cents": e.amount.0, "at": e.at.0, "certificate_serial": e.certificate_serial,
                       "certificate_balance_cents": e.certificate_balance.0})
            })
            .collect();
        self.signed("/device/sync", json!({"redemptions": entries}), now)
    }

    /// The node booked the journal: the node closed the allowance, so it is gone here too.
    pub fn synced(&mut self) {
        self.synced = self.journal.len();
        self.allowance = None;
    }
}
