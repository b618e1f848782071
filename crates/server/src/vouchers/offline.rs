//! What carries the core's voucher decisions to a merchant device that cannot reach
//! it: the signed **balance certificate** of a card (credential kind 5, inside the
//! card's QR text), the signed **revocation list** of a programme's blocked cards
//! (kind 6, a digest of the list), and the **device request signature** with which a
//! device (not a staff session) authenticates its calls. The layouts are in
//! docs/CREDENTIALS.md and docs/OFFLINE.md; the device side is `vouchers/device.rs`,
//! the HTTP side `http/vouchers_device.rs`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use sturmfest_core::ledger::{DeviceId, ProgrammeId};
use sturmfest_core::vouchers::CardId;
use sturmfest_core::{Cents, TimeMs};

use crate::credentials::{CredentialError, Keyring, Kind, Verifier};

/// A certificate is good for a day: a device offline longer trusts the balance less
/// than the cap it enforces anyway.
pub const certificate_valid_ms: i64 = 24 * 3_600_000;
/// A device request's time may differ from the node's by at most this much.
pub const device_clock_skew_ms_max: i64 = 5 * 60_000;
/// Joins a card code and its certificate in the QR text.
pub const qr_separator: char = '~';
/// The first byte of every certificate and revocation-list body.
const layout_version: u8 = 1;
const request_context: &[u8] = b"sturmfest device request v1\0";

/// What a card's certificate says; `serial` grows with every booking of the card, so
/// of two certificates the one with the higher serial is the newer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BalanceCertificate {
    pub programme: ProgrammeId,
    pub card: CardId,
    pub balance: Cents,
    pub serial: u64,
    pub issued_at: TimeMs,
    pub valid_until: TimeMs,
    /// The most a device may take from this card while offline.
    pub offline_cap: Cents,
}

/// Why an offline check refuses a certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("{0}")]
    Credential(#[from] CredentialError),
    #[error("the certificate's body is not a known layout")]
    Malformed,
    #[error("the certificate has expired")]
    Expired,
}

impl CertificateError {
    pub fn code(&self) -> &'static str {
        match self {
            CertificateError::Credential(e) => e.code(),
            CertificateError::Malformed => "certificate_malformed",
            CertificateError::Expired => "certificate_expired",
        }
    }
}

impl BalanceCertificate {
    /// 53 bytes, big-endian: version ‖ programme u32 ‖ card u64 ‖ balance i64 ‖
    /// serial u64 ‖ issued_at i64 ‖ valid_until i64 ‖ offline cap i64.
    pub fn body(&self) -> Vec<u8> {
        let mut out = vec![layout_version];
        out.extend(self.programme.0.to_be_bytes());
        out.extend(self.card.0.to_be_bytes());
        out.extend(self.balance.0.to_be_bytes());
        out.extend(self.serial.to_be_bytes());
        out.extend(self.issued_at.0.to_be_bytes());
        out.extend(self.valid_until.0.to_be_bytes());
        out.extend(self.offline_cap.0.to_be_bytes());
        out
    }

    pub fn from_body(body: &[u8]) -> Result<BalanceCertificate, CertificateError> {
        if body.len() != 53 || body[0] != layout_version {
            return Err(CertificateError::Malformed);
        }
        let u32_at = |i: usize| u32::from_be_bytes(body[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_be_bytes(body[i..i + 8].try_into().expect("8 bytes"));
        let i64_at = |i: usize| i64::from_be_bytes(body[i..i + 8].try_into().expect("8 bytes"));
        Ok(BalanceCertificate {
            programme: ProgrammeId(u32_at(1)),
            card: CardId(u64_at(5)),
            balance: Cents(i64_at(13)),
            serial: u64_at(21),
            issued_at: TimeMs(i64_at(29)),
            valid_until: TimeMs(i64_at(37)),
            offline_cap: Cents(i64_at(45)),
        })
    }

    pub fn sign(&self, keyring: &Keyring) -> String {
        keyring.sign(Kind::BalanceCertificate, &self.body())
    }

    /// Checks signature, layout and validity at `now` (the device's clock).
    pub fn verify(verifier: &Verifier, text: &str, now: TimeMs) -> Result<BalanceCertificate, CertificateError> {
        let certificate = BalanceCertificate::from_body(&verifier.verify(Kind::BalanceCertificate, text)?)?;
        if now >= certificate.valid_until {
            return Err(CertificateError::Expired);
        }
        Ok(certificate)
    }
}

/// The QR text of a card: its code, the separator, its certificate.
pub fn qr_text(code: &str, certificate: &str) -> String {
    format!("{code}{qr_separator}{certificate}")
}

/// Splits a scanned QR text into code and certificate.
pub fn split_qr(text: &str) -> Option<(&str, &str)> {
    text.trim().split_once(qr_separator)
}

/// The digest a revocation list is signed as: SHA-256 of the sorted card ids
/// (u64 big-endian each).
pub fn revocation_digest(cards: &[CardId]) -> [u8; 32] {
    let mut sorted: Vec<u64> = cards.iter().map(|c| c.0).collect();
    sorted.sort_unstable();
    let mut hash = Sha256::new();
    for card in sorted {
        hash.update(card.to_be_bytes());
    }
    hash.finalize().into()
}

/// A revocation list credential: version ‖ programme u32 ‖ issued_at i64 ‖ count u32
/// ‖ digest (32): 49 bytes. The list itself travels beside it.
pub fn sign_revocations(keyring: &Keyring, programme: ProgrammeId, issued_at: TimeMs, cards: &[CardId]) -> String {
    let mut body = vec![layout_version];
    body.extend(programme.0.to_be_bytes());
    body.extend(issued_at.0.to_be_bytes());
    body.extend((cards.len() as u32).to_be_bytes());
    body.extend(revocation_digest(cards));
    keyring.sign(Kind::RevocationList, &body)
}

/// Checks a revocation list against its credential; returns when it was issued.
pub fn verify_revocations(verifier: &Verifier, text: &str, programme: ProgrammeId, cards: &[CardId]) -> Result<TimeMs, CertificateError> {
    let body = verifier.verify(Kind::RevocationList, text)?;
    if body.len() != 49 || body[0] != layout_version || body[1..5] != programme.0.to_be_bytes() {
        return Err(CertificateError::Malformed);
    }
    let count = u32::from_be_bytes(body[13..17].try_into().expect("4 bytes"));
    if count as usize != cards.len() || body[17..49] != revocation_digest(cards) {
        return Err(CertificateError::Malformed);
    }
    Ok(TimeMs(i64::from_be_bytes(body[5..13].try_into().expect("8 bytes"))))
}

// ----- device requests -----

/// The header names of a signed device request.
pub const device_header: &str = "x-device";
pub const device_time_header: &str = "x-device-time";
pub const device_signature_header: &str = "x-device-signature";

/// What a device signs: the context, the tenant, the device, its clock, the method,
/// the path and the SHA-256 of the body. The tenant and path inside the message keep
/// a signature for one call from being used for another.
pub fn request_message(tenant: &str, device: DeviceId, time: TimeMs, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = request_context.to_vec();
    out.push(tenant.len() as u8);
    out.extend(tenant.as_bytes());
    out.extend(device.0.to_be_bytes());
    out.extend(time.0.to_be_bytes());
    out.extend(method.as_bytes());
    out.push(0);
    out.extend(path.as_bytes());
    out.push(0);
    out.extend(Sha256::digest(body));
    out
}

/// The three header values of a request signed by `key`.
pub fn sign_request(key: &SigningKey, tenant: &str, device: DeviceId, time: TimeMs, method: &str, path: &str, body: &[u8]) -> [(String, String); 3] {
    let signature = key.sign(&request_message(tenant, device, time, method, path, body));
    [
        (device_header.to_string(), device.0.to_string()),
        (device_time_header.to_string(), time.0.to_string()),
        (device_signature_header.to_string(), URL_SAFE_NO_PAD.encode(signature.to_bytes())),
    ]
}

/// Why a device request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceAuthError {
    #[error("the device headers are missing or malformed")]
    Malformed,
    #[error("the device's clock is too far from the node's")]
    ClockSkew,
    #[error("the signature does not match the device's key")]
    BadSignature,
}

impl DeviceAuthError {
    pub fn code(self) -> &'static str {
        match self {
            DeviceAuthError::Malformed => "device_auth_malformed",
            DeviceAuthError::ClockSkew => "device_clock_skew",
            DeviceAuthError::BadSignature => "device_bad_signature",
        }
    }
}

/// Checks a request's signature with the device's registered public key.
#[allow(clippy::too_many_arguments)]
pub fn verify_request(
    public_key: &[u8; 32],
    tenant: &str,
    device: DeviceId,
    time: TimeMs,
    now: TimeMs,
    method: &str,
    path: &str,
    body: &[u8],
    signature: &str,
) -> Result<(), DeviceAuthError> {
    if time.0.abs_diff(now.0) > device_clock_skew_ms_max as u64 {
        return Err(DeviceAuthError::ClockSkew);
    }
    let bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(DeviceAuthError::Malformed)?;
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| DeviceAuthError::BadSignature)?;
    key.verify_strict(&request_message(tenant, device, time, method, path, body), &Signature::from_bytes(&bytes))
        .map_err(|_| DeviceAuthError::BadSignature)
}

#[cfg(test)]
mod tests {
    //! Certificates and revocation lists round trip and refuse what was changed; a
    //! device request verifies only for its own tenant, path, body and key.

    use super::*;

    fn ring() -> Keyring {
        Keyring::generate("stadt", [3; 32])
    }

    #[test]
    fn a_certificate_round_trips_and_expires() {
        let c = BalanceCertificate {
            programme: ProgrammeId(1),
            card: CardId(77),
            balance: Cents(4_250),
            serial: 3,
            issued_at: TimeMs(1_000),
            valid_until: TimeMs(2_000),
            offline_cap: Cents(2_000),
        };
        let text = c.sign(&ring());
        let verifier = ring().verifier().clone();
        assert_eq!(BalanceCertificate::verify(&verifier, &text, TimeMs(1_500)), Ok(c));
        assert_eq!(BalanceCertificate::verify(&verifier, &text, TimeMs(2_000)), Err(CertificateError::Expired));
        let other = Keyring::generate("stadt", [4; 32]).verifier().clone();
        assert!(BalanceCertificate::verify(&other, &text, TimeMs(1_500)).is_err(), "another tenant's key");
        let qr = qr_text("ABCD-EFGH", &text);
        let (code, cert) = split_qr(&qr).unwrap();
        assert_eq!((code, cert), ("ABCD-EFGH", text.as_str()));
    }

    #[test]
    fn a_revocation_list_must_match_its_digest() {
        let cards = [CardId(9), CardId(3)];
        let text = sign_revocations(&ring(), ProgrammeId(2), TimeMs(5), &cards);
        let verifier = ring().verifier().clone();
        assert_eq!(verify_revocations(&verifier, &text, ProgrammeId(2), &[CardId(3), CardId(9)]), Ok(TimeMs(5)));
        assert!(verify_revocations(&verifier, &text, ProgrammeId(2), &[CardId(3)]).is_err(), "a card dropped");
        assert!(verify_revocations(&verifier, &text, ProgrammeId(1), &cards).is_err(), "another programme");
    }

    #[test]
    fn a_device_request_verifies_only_as_signed() {
        let key = SigningKey::from_bytes(&[8; 32]);
        let public = key.verifying_key().to_bytes();
        let [_, _, (_, sig)] = sign_request(&key, "stadt", DeviceId(5), TimeMs(10_000), "POST", "/p", b"{}");
        let ok = |tenant, path, body: &[u8], now| verify_request(&public, tenant, DeviceId(5), TimeMs(10_000), TimeMs(now), "POST", path, body, &sig);
        assert_eq!(ok("stadt", "/p", b"{}", 10_000), Ok(()));
        assert_eq!(ok("other", "/p", b"{}", 10_000), Err(DeviceAuthError::BadSignature));
        assert_eq!(ok("stadt", "/q", b"{}", 10_000), Err(DeviceAuthError::BadSignature));
        assert_eq!(ok("stadt", "/p", b"{ }", 10_000), Err(DeviceAuthError::BadSignature));
        assert_eq!(ok("stadt", "/p", b"{}", 10_000 + 6 * 60_000), Err(DeviceAuthError::ClockSkew));
    }
}
