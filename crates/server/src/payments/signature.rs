//! Webhook signatures in the scheme Stripe documents, used by both providers:
//! the header `t=<unix seconds>,v1=<hex HMAC-SHA256>` (several `v1` entries are
//! allowed while a secret rolls over) signs the string `"{t}.{raw body}"` with the
//! endpoint secret. A signature is accepted when any `v1` matches in constant time
//! and `t` lies within the tolerance of the receiver's clock, so a captured webhook
//! cannot be replayed days later.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a webhook's timestamp may be from the receiver's clock, as Stripe's
/// libraries default to.
pub const signature_tolerance_s: i64 = 300;
/// A header longer than this is refused before any parsing.
pub const signature_header_bytes_max: usize = 2048;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing or malformed")]
    Malformed,
    #[error("the signature timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed at `t` (unix seconds).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body).finalize().into_bytes()))
}

/// Checks a header against `body` at `now_s` (unix seconds).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now_s: i64) -> Result<(), SignatureError> {
    if header.len() > signature_header_bytes_max {
        return Err(SignatureError::Malformed);
    }
    let mut t: Option<i64> = None;
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    for item in header.split(',') {
        let (key, value) = item.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match key {
            "t" => t = Some(value.parse().map_err(|_| SignatureError::Malformed)?),
            // A malformed v1 cannot match; others (v0, future schemes) are ignored as documented.
            "v1" => candidates.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now_s - t).abs() > signature_tolerance_s {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, t, body);
    if candidates.iter().any(|c| expected.clone().verify_slice(c).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    //! The scheme against its own rules: a fresh signature verifies, one changed
    //! byte of body or secret does not, a stale or future timestamp does not, any of
    //! several v1 values may match, and malformed headers are refused.

    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_secret_and_time() {
        let body = br#"{"type":"payment.succeeded"}"#;
        let header = sign(b"whsec_1", 1_000, body);
        assert_eq!(verify(b"whsec_1", &header, body, 1_000), Ok(()));
        assert_eq!(verify(b"whsec_1", &header, body, 1_300), Ok(()));
        assert_eq!(verify(b"whsec_1", &header, body, 1_301), Err(SignatureError::Stale));
        assert_eq!(verify(b"whsec_1", &header, body, 699), Err(SignatureError::Stale));
        assert_eq!(verify(b"whsec_2", &header, body, 1_000), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"whsec_1", &header, br#"{"type":"payment.succeedeD"}"#, 1_000), Err(SignatureError::Mismatch));
        let rolled = format!("{header},v1={}", "00".repeat(32));
        let rolled_first = format!("t=1000,v1={},{}", "ab".repeat(32), header.split_once(',').unwrap().1);
        assert_eq!(verify(b"whsec_1", &rolled, body, 1_000), Ok(()));
        assert_eq!(verify(b"whsec_1", &rolled_first, body, 1_000), Ok(()));
        for bad in ["", "t=1000", "v1=00", "t=x,v1=00", "garbage", &"t=1,".repeat(600)] {
            assert_eq!(verify(b"whsec_1", bad, body, 1_000), Err(SignatureError::Malformed), "{bad:?}");
        }
    }
}
