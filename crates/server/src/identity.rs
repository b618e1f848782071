//! Verified e-mail identities for the waiting room: one queue place per person,
//! not per browser tab. A fan proves control of an address by entering a six-digit
//! code that was mailed to it; in return they get the tenant's pseudonymous
//! `IdentityKey` for that address and a signed `Kind::Identity` credential that
//! any node can check offline. The waiting room deduplicates on the key.
//!
//! Everything is bounded: pending verifications (`pending_verifications_max`, full
//! → `Busy`), tries per code (`code_attempts_max`, then locked until the code
//! expires) and mails per address (`resend_interval_ms`, `mails_per_window_max`
//! per `mail_window_ms`). Time comes in as `now_ms` so tests are deterministic;
//! the code itself is drawn from the OS's random source and reaches the test the
//! way it reaches a fan: by e-mail. Only an HMAC of each code is kept.
//!
//! The store is in memory and per node: a restart forgets pending codes (the fan
//! asks for a new one). docs/MAIL.md describes the flow.

use std::collections::{BTreeSet, HashMap, VecDeque};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rand::Rng;
use subtle::ConstantTimeEq;

use crate::credentials::{CredentialError, Kind, Verifier};
use crate::mail::{Delivery, Mail, MailError, Outbox};
use crate::tenants::Credentials;

/// RFC 5321's limit for a path (`<` and `>` excluded): no relay takes longer.
pub const address_bytes_max: usize = 254;
/// RFC 5321's limit for the part before the `@`.
pub const local_part_bytes_max: usize = 64;
/// RFC 1035's limit for one DNS label.
pub const domain_label_bytes_max: usize = 63;
/// A code is this many decimal digits: easy to type from a phone's mail app, and
/// with `code_attempts_max` tries a guess succeeds with probability 5 in a million.
pub const code_digits: u32 = 6;
/// Wrong codes allowed before the address is locked until its code expires.
pub const code_attempts_max: u32 = 5;
/// A new code may be mailed to the same address at most this often …
pub const resend_interval_ms: i64 = 60_000;
/// … and at most `mails_per_window_max` times per `mail_window_ms`, so nobody can
/// use the waiting room to flood someone's mailbox.
pub const mails_per_window_max: usize = 5;
pub const mail_window_ms: i64 = 60 * 60 * 1000;

const code_modulus: u32 = 10u32.pow(code_digits);
const _: () = assert!(code_modulus == 1_000_000);
const _: () = assert!(resend_interval_ms * (mails_per_window_max as i64) <= mail_window_ms);

/// Domain separation for the tenant-keyed HMACs (see `Credentials::keyed_digest`).
const identity_domain: &[u8] = b"identity\0";
const code_domain: &[u8] = b"verification code\0";

/// Per-tenant settings of the verification flow.
#[derive(Clone, Debug)]
pub struct VerificationConfig {
    /// Where fans reach this node, e.g. `https://tickets.eisclub.example`; the
    /// link in the mail is `{base_url}/{tenant}/verify?e=…&c=…`.
    pub base_url: String,
    /// The organizer's name as the mail shows it.
    pub organizer_name: String,
    /// Addresses with a live code or a send history kept for the resend limits.
    pub pending_verifications_max: usize,
    /// How long a mailed code can be entered. Also how long an address stays
    /// locked after `code_attempts_max` wrong codes.
    pub code_lifetime_ms: i64,
    /// How long the signed identity credential is valid.
    pub credential_lifetime_ms: i64,
}

impl VerificationConfig {
    pub fn new(base_url: &str, organizer_name: &str) -> VerificationConfig {
        VerificationConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            organizer_name: organizer_name.to_string(),
            pending_verifications_max: 100_000,
            code_lifetime_ms: 15 * 60 * 1000,
            credential_lifetime_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// Why a text is not accepted as an e-mail address. Codes are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("no e-mail address given")]
    Empty,
    #[error("the e-mail address is longer than 254 bytes")]
    TooLong,
    #[error("not of the form name@domain")]
    Malformed,
    #[error("the part before the @ is not valid")]
    LocalPart,
    #[error("the domain is not valid")]
    Domain,
}

impl AddressError {
    pub fn code(self) -> &'static str {
        match self {
            AddressError::Empty => "email_empty",
            AddressError::TooLong => "email_too_long",
            AddressError::Malformed => "email_malformed",
            AddressError::LocalPart => "email_local_part",
            AddressError::Domain => "email_domain",
        }
    }
}

/// A normalized e-mail address: surrounding white space removed, the domain in
/// lower case, the local part as typed.
///
/// The local part keeps its case because RFC 5321 lets a mailbox treat it as
/// case-sensitive, so mail goes to exactly what the fan typed. Identities compare
/// it case-insensitively (`comparison_form`) because practically every provider
/// delivers `Anna@` and `anna@` to one mailbox: otherwise changing one letter's case
/// would be a second lottery ticket. Nothing else is folded — not `+tags`, not dots
/// at one provider — since those rules differ per provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress {
    text: String,
}

impl EmailAddress {
    /// Quoted local parts, comments and IP-literal domains are refused: real fans
    /// do not use them, and each is a way to spell one mailbox twice.
    pub fn parse(input: &str) -> Result<EmailAddress, AddressError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(AddressError::Empty);
        }
        if trimmed.len() > address_bytes_max {
            return Err(AddressError::TooLong);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(AddressError::Malformed)?;
        if local.is_empty() || local.len() > local_part_bytes_max || !valid_local_part(local) {
            return Err(AddressError::LocalPart);
        }
        let domain = domain.to_lowercase();
        if !valid_domain(&domain) {
            return Err(AddressError::Domain);
        }
        let text = format!("{local}@{domain}");
        // Lowercasing can lengthen some characters; and whatever we accept must be
        // something the mail library will actually send to.
        if text.len() > address_bytes_max {
            return Err(AddressError::TooLong);
        }
        text.parse::<lettre::Address>().map_err(|_| AddressError::Malformed)?;
        Ok(EmailAddress { text })
    }

    /// The address mail is sent to.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The spelling identities are derived from: all of it in lower case.
    pub fn comparison_form(&self) -> String {
        self.text.to_lowercase()
    }
}

/// RFC 5322 dot-atom characters, plus any non-ASCII letter or digit (RFC 6531).
fn valid_local_part(local: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) || (!c.is_ascii() && c.is_alphanumeric());
    local.chars().all(allowed) && !local.starts_with('.') && !local.ends_with('.') && !local.contains("..")
}

/// At least two labels of letters, digits and inner hyphens; the last one not all
/// digits, so `1.2.3.4` is not mistaken for a domain.
fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= domain_label_bytes_max
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    labels.len() >= 2 && labels.iter().all(label_ok) && !labels[labels.len() - 1].chars().all(|c| c.is_ascii_digit())
}

/// A person's pseudonym within one tenant: the first 16 bytes (big-endian) of
/// HMAC-SHA256(tenant secret, "identity\0" ‖ address in comparison form). Stable
/// for the tenant, different across tenants, and not reversible without the secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityKey(pub u128);

impl IdentityKey {
    pub fn derive(tenant: &Credentials, address: &EmailAddress) -> IdentityKey {
        let digest = tenant.keyed_digest(identity_domain, address.comparison_form().as_bytes());
        IdentityKey(u128::from_be_bytes(digest[..16].try_into().expect("16 bytes")))
    }
}

/// Why a verification step did not succeed. Codes are stable; a `retry_after_s`
/// becomes the `Retry-After` header.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error("too many verifications in progress")]
    Busy,
    #[error("the mail could not be queued: {0}")]
    Mail(MailError),
    #[error("a code was mailed recently; ask again in {retry_after_s} s")]
    ResendTooSoon { retry_after_s: u64 },
    #[error("too many wrong codes; try again in {retry_after_s} s")]
    Locked { retry_after_s: u64 },
    #[error("no code was sent to this address, or it was forgotten")]
    NotStarted,
    #[error("the code has expired; ask for a new one")]
    Expired,
    #[error("wrong code; {attempts_left} tries left")]
    WrongCode { attempts_left: u32 },
    #[error("a code is six digits")]
    CodeMalformed,
}

impl IdentityError {
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::Address(e) => e.code(),
            IdentityError::Busy => "verification_busy",
            IdentityError::Mail(e) => e.code(),
            IdentityError::ResendTooSoon { .. } => "verification_resend_too_soon",
            IdentityError::Locked { .. } => "verification_locked",
            IdentityError::NotStarted => "verification_not_started",
            IdentityError::Expired => "verification_expired",
            IdentityError::WrongCode { .. } => "verification_wrong_code",
            IdentityError::CodeMalformed => "verification_code_malformed",
        }
    }
}

/// A code is on its way.
#[derive(Debug)]
pub struct Started {
    pub code_expires_at_ms: i64,
    /// The outcome of the mail, for a caller that wants to wait for it.
    pub delivery: Delivery,
}

/// A proven address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub key: IdentityKey,
    /// `sf1.4.…` — see docs/CREDENTIALS.md.
    pub credential: String,
    pub credential_expires_at_ms: i64,
}

struct Pending {
    code_mac: [u8; 32],
    code_expires_at_ms: i64,
    attempts_left: u32,
    /// When mails went to this address within the last `mail_window_ms`, oldest first.
    sent_at_ms: VecDeque<i64>,
    /// When this entry stops mattering: the last mail's window has passed (which
    /// is after its code expired, see the assertion in `start`).
    forget_at_ms: i64,
}

/// One tenant's verification store.
pub struct Verifications {
    tenant: String,
    credentials: Credentials,
    config: VerificationConfig,
    outbox: Outbox,
    pending: HashMap<IdentityKey, Pending>,
    /// `pending` ordered by `forget_at_ms`, so forgetting is cheap.
    forget_order: BTreeSet<(i64, IdentityKey)>,
}

impl Verifications {
    pub fn new(tenant: &str, credentials: Credentials, config: VerificationConfig, outbox: Outbox) -> Verifications {
        assert!(config.pending_verifications_max >= 1);
        assert!(config.code_lifetime_ms >= 1 && config.code_lifetime_ms <= mail_window_ms, "a code outlives its send history");
        assert!(config.credential_lifetime_ms >= 1);
        Verifications {
            tenant: tenant.to_string(),
            credentials,
            config,
            outbox,
            pending: HashMap::new(),
            forget_order: BTreeSet::new(),
        }
    }

    /// The key for an address without verifying it (for lookups by the operator).
    pub fn key_of(&self, address: &EmailAddress) -> IdentityKey {
        IdentityKey::derive(&self.credentials, address)
    }

    /// How many addresses the store holds right now.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Mails a fresh code to `address`, replacing any earlier code (and its count
    /// of wrong tries) unless the address is locked.
    pub fn start(&mut self, address: &str, now_ms: i64) -> Result<Started, IdentityError> {
        let address = EmailAddress::parse(address)?;
        let key = self.key_of(&address);
        self.forget_until(now_ms);
        let store_full = self.pending.len() >= self.config.pending_verifications_max;
        match self.pending.get_mut(&key) {
            Some(entry) => {
                if entry.attempts_left == 0 && now_ms < entry.code_expires_at_ms {
                    return Err(IdentityError::Locked { retry_after_s: seconds_until(entry.code_expires_at_ms, now_ms) });
                }
                while entry.sent_at_ms.front().is_some_and(|&t| t + mail_window_ms <= now_ms) {
                    entry.sent_at_ms.pop_front();
                }
                let last = *entry.sent_at_ms.back().expect("a kept entry has a mail within its window");
                if now_ms < last + resend_interval_ms {
                    return Err(IdentityError::ResendTooSoon { retry_after_s: seconds_until(last + resend_interval_ms, now_ms) });
                }
                if entry.sent_at_ms.len() >= mails_per_window_max {
                    let oldest = entry.sent_at_ms[0];
                    return Err(IdentityError::ResendTooSoon { retry_after_s: seconds_until(oldest + mail_window_ms, now_ms) });
                }
            }
            None if store_full => return Err(IdentityError::Busy),
            None => {}
        }

        let code = rand::rng().random_range(0..code_modulus);
        let code_expires_at_ms = now_ms + self.config.code_lifetime_ms;
        // Mail first: if the outbox is full nothing is recorded, so the fan's retry
        // is not refused as "too soon" for a mail that never went out.
        let delivery = self.outbox.try_send(&self.mail(&address, code)).map_err(IdentityError::Mail)?;

        let code_mac = self.code_mac(key, code);
        let forget_at_ms = now_ms + mail_window_ms;
        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            code_mac,
            code_expires_at_ms,
            attempts_left: code_attempts_max,
            sent_at_ms: VecDeque::with_capacity(mails_per_window_max),
            forget_at_ms,
        });
        self.forget_order.remove(&(entry.forget_at_ms, key));
        entry.code_mac = code_mac;
        entry.code_expires_at_ms = code_expires_at_ms;
        entry.attempts_left = code_attempts_max;
        entry.sent_at_ms.push_back(now_ms);
        entry.forget_at_ms = forget_at_ms;
        assert!(entry.sent_at_ms.len() <= mails_per_window_max);
        assert!(entry.forget_at_ms >= entry.code_expires_at_ms);
        self.forget_order.insert((forget_at_ms, key));
        assert_eq!(self.pending.len(), self.forget_order.len());
        Ok(Started { code_expires_at_ms, delivery })
    }

    /// Checks a code. Spaces in it are ignored (the mail shows `123 456`). The same
    /// right code may be entered again until it expires and gives the same key:
    /// mail scanners open links before the fan does, and a fan may click twice.
    pub fn confirm(&mut self, address: &str, code: &str, now_ms: i64) -> Result<Verified, IdentityError> {
        let address = EmailAddress::parse(address)?;
        let code = parse_code(code)?;
        let key = self.key_of(&address);
        self.forget_until(now_ms);
        let expected = self.code_mac(key, code);
        let entry = self.pending.get_mut(&key).ok_or(IdentityError::NotStarted)?;
        if now_ms >= entry.code_expires_at_ms {
            return Err(IdentityError::Expired);
        }
        if entry.attempts_left == 0 {
            return Err(IdentityError::Locked { retry_after_s: seconds_until(entry.code_expires_at_ms, now_ms) });
        }
        if !bool::from(entry.code_mac.ct_eq(&expected)) {
            entry.attempts_left -= 1;
            return Err(IdentityError::WrongCode { attempts_left: entry.attempts_left });
        }
        let credential_expires_at_ms = now_ms + self.config.credential_lifetime_ms;
        let mut body = [0u8; identity_body_bytes];
        body[..16].copy_from_slice(&key.0.to_be_bytes());
        body[16..].copy_from_slice(&credential_expires_at_ms.to_be_bytes());
        let credential = self.credentials.keyring.sign(Kind::Identity, &body);
        Ok(Verified { key, credential, credential_expires_at_ms })
    }

    /// Drops entries whose last mail's window has passed.
    fn forget_until(&mut self, now_ms: i64) {
        while let Some(&(at, key)) = self.forget_order.first() {
            if at > now_ms {
                break;
            }
            self.forget_order.pop_first();
            let entry = self.pending.remove(&key).expect("forget_order mirrors pending");
            assert_eq!(entry.forget_at_ms, at);
        }
    }

    fn code_mac(&self, key: IdentityKey, code: u32) -> [u8; 32] {
        let mut data = [0u8; 20];
        data[..16].copy_from_slice(&key.0.to_be_bytes());
        data[16..].copy_from_slice(&code.to_be_bytes());
        self.credentials.keyed_digest(code_domain, &data)
    }

    /// The mail in German and English. The link carries the code, so whoever can
    /// read this mail can verify — exactly what typing the code proves anyway.
    fn mail(&self, address: &EmailAddress, code: u32) -> Mail {
        let spaced = format!("{:03} {:03}", code / 1000, code % 1000);
        let link = format!(
            "{}/{}/verify?e={}&c={:06}",
            self.config.base_url,
            self.tenant,
            utf8_percent_encode(address.as_str(), NON_ALPHANUMERIC),
            code
        );
        let minutes = self.config.code_lifetime_ms / 60_000;
        let organizer = &self.config.organizer_name;
        let text = format!(
            "Ihr Bestätigungscode für {organizer}: {spaced}\n\
             Er gilt {minutes} Minuten. Sie können auch diesen Link öffnen:\n{link}\n\n\
             Your confirmation code for {organizer}: {spaced}\n\
             It is valid for {minutes} minutes. You can also open this link:\n{link}\n\n\
             Wenn Sie keinen Code angefordert haben, ignorieren Sie diese E-Mail.\n\
             If you did not ask for a code, please ignore this e-mail.\n"
        );
        let (organizer_html, link_html) = (escape_html(organizer), escape_html(&link));
        let html = format!(
            "<!doctype html><html lang=\"de\"><body>\
             <p>Ihr Bestätigungscode für {organizer_html}:</p><p style=\"font-size:1.6em\"><strong>{spaced}</strong></p>\
             <p>Er gilt {minutes} Minuten. <a href=\"{link_html}\">Adresse bestätigen</a></p>\
             <hr><p lang=\"en\">Your confirmation code for {organizer_html}: <strong>{spaced}</strong><br>\
             It is valid for {minutes} minutes. <a href=\"{link_html}\">Confirm your address</a></p>\
             <p><small>Wenn Sie keinen Code angefordert haben, ignorieren Sie diese E-Mail. / \
             If you did not ask for a code, please ignore this e-mail.</small></p></body></html>"
        );
        Mail {
            to: address.as_str().to_string(),
            subject: format!("Ihr Code / Your code: {spaced}"),
            text,
            html: Some(html),
            attachments: Vec::new(),
        }
    }
}

/// Body of a `Kind::Identity` credential: identity key (16 bytes) ‖ expiry in ms
/// since the epoch (i64 big-endian). The tenant is part of what is signed.
pub const identity_body_bytes: usize = 24;

/// Why an identity credential is not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityCredentialError {
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error("the identity credential's body is not 24 bytes")]
    Body,
    #[error("the identity credential has expired")]
    Expired,
}

/// Checks an identity credential offline with the tenant's public keys.
pub fn open_credential(verifier: &Verifier, text: &str, now_ms: i64) -> Result<IdentityKey, IdentityCredentialError> {
    let body = verifier.verify(Kind::Identity, text)?;
    let body: [u8; identity_body_bytes] = body.try_into().map_err(|_| IdentityCredentialError::Body)?;
    let key = IdentityKey(u128::from_be_bytes(body[..16].try_into().expect("16 bytes")));
    let expires_at_ms = i64::from_be_bytes(body[16..].try_into().expect("8 bytes"));
    if now_ms >= expires_at_ms {
        return Err(IdentityCredentialError::Expired);
    }
    Ok(key)
}

fn parse_code(text: &str) -> Result<u32, IdentityError> {
    let digits: String = text.chars().filter(|c| *c != ' ').collect();
    if digits.len() != code_digits as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdentityError::CodeMalformed);
    }
    digits.parse().map_err(|_| IdentityError::CodeMalformed)
}

/// Whole seconds from `now_ms` until `until_ms`, rounded up and at least 1, as
/// `Retry-After` wants.
fn seconds_until(until_ms: i64, now_ms: i64) -> u64 {
    u64::try_from(until_ms.saturating_sub(now_ms)).unwrap_or(0).div_ceil(1000).max(1)
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Result<&str, AddressError>) {
        assert_eq!(EmailAddress::parse(input).as_ref().map(EmailAddress::as_str).map_err(|e| *e), expect, "{input:?}");
    }

    #[test]
    fn addresses_are_trimmed_and_their_domain_lowercased() {
        check("  Anna.Schmidt@Example.ORG \n", Ok("Anna.Schmidt@example.org"));
        check("fan+play-off@eisclub.example", Ok("fan+play-off@eisclub.example"));
        check("jürgen@münchen.example", Ok("jürgen@münchen.example"));
        assert_eq!(EmailAddress::parse("Anna@X.org").unwrap().comparison_form(), "anna@x.org");
    }

    #[test]
    fn obviously_invalid_addresses_are_refused_with_a_stable_reason() {
        check("", Err(AddressError::Empty));
        check("   ", Err(AddressError::Empty));
        check("anna", Err(AddressError::Malformed));
        check("@example.org", Err(AddressError::LocalPart));
        check(".anna@example.org", Err(AddressError::LocalPart));
        check("an..na@example.org", Err(AddressError::LocalPart));
        check("an na@example.org", Err(AddressError::LocalPart));
        check("\"a@b\"@example.org", Err(AddressError::LocalPart));
        check("anna@localhost", Err(AddressError::Domain));
        check("anna@1.2.3.4", Err(AddressError::Domain));
        check("anna@[127.0.0.1]", Err(AddressError::Domain));
        check("anna@-x.org", Err(AddressError::Domain));
        check("anna@example..org", Err(AddressError::Domain));
        check(&format!("{}@example.org", "a".repeat(65)), Err(AddressError::LocalPart));
        check(&format!("a@{}.org", "b".repeat(64)), Err(AddressError::Domain));
        check(&format!("a@{}.org", vec!["b".repeat(60); 5].join(".")), Err(AddressError::TooLong));
    }

    #[test]
    fn codes_accept_the_spaced_form_and_nothing_but_six_digits() {
        assert_eq!(parse_code("012 345").unwrap(), 12345);
        assert_eq!(parse_code("999999").unwrap(), 999_999);
        for bad in ["", "12345", "1234567", "12a456", "+12345", "１２３４５６"] {
            assert!(matches!(parse_code(bad), Err(IdentityError::CodeMalformed)), "{bad:?}");
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(seconds_until(1_001, 0), 2);
        assert_eq!(seconds_until(1_000, 0), 1);
        assert_eq!(seconds_until(0, 5), 1);
    }
}
