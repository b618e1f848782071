//! A self-hosted proof of work that a fan's browser does before joining a waiting
//! room (docs/POW.md has the format for anyone writing a solver).
//!
//! Bots pay per join in CPU time; fans pay a fraction of a second. No third-party
//! service sees anyone, and nothing is stored in the browser: the challenge is a
//! text the server authenticates with HMAC-SHA256 under its own secret, so it keeps
//! no state per challenge it hands out — only, once a challenge is redeemed, its
//! nonce until the challenge expires ([`SpentChallenges`]), so one solution buys
//! one join.
//!
//! A challenge text is `pow1.<scope>.<difficulty bits>.<expires ms>.<nonce>.<tag>`;
//! a solution is a counter such that `SHA-256(text ‖ ":" ‖ counter)` starts with at
//! least `difficulty bits` zero bits. Everything here is pure except
//! [`Challenge::random`]: time arrives as an argument, never from a clock, so
//! verification is deterministic and testable.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What every challenge text starts with; a new format gets a new prefix.
pub const challenge_prefix: &str = "pow1";
/// MAC'd before the text, so a tag made here means nothing to any other use of the
/// same secret (the tenant secret also signs hold and order tokens).
const mac_context: &[u8] = b"sturmfest pow v1\0";
/// Bytes of a challenge's nonce; also its identity in [`SpentChallenges`].
pub const nonce_bytes: usize = 16;
/// Bytes of the HMAC-SHA256 tag kept in the text: 128 bits are beyond forging, and
/// a shorter text is cheaper to hash on every attempt.
pub const tag_bytes: usize = 16;
/// Longest scope, e.g. `club/event/3/join`.
pub const scope_bytes_max: usize = 64;
/// The easiest challenge ever issued: cheap enough for any phone, still a cost in
/// bulk.
pub const difficulty_bits_min: u32 = 12;
/// The hardest challenge ever issued: about 16.8 million hashes expected, a few
/// seconds in a desktop browser and perhaps twenty on an old phone. Harder would
/// shut out fans on slow phones, which is the opposite of fair.
pub const difficulty_bits_max: u32 = 24;
/// The difficulty when arrivals are within capacity.
pub const difficulty_bits_base: u32 = 16;
/// How long a challenge may be solved and redeemed. Long enough for the slowest
/// phone at [`difficulty_bits_max`], short enough that the spent set stays small.
pub const challenge_ttl_ms: u64 = 180_000;
/// Most redeemed challenges remembered at once. Entries leave when their challenge
/// expires, so this sustains `spent_challenges_max / challenge_ttl` redemptions per
/// second (about 2,800/s) — above the brief's flash crowd of 50,000 fans in a
/// minute. Each entry costs about 80 bytes: 40 MB when full.
pub const spent_challenges_max: usize = 500_000;
/// Longest challenge text accepted for parsing: the prefix, a full scope, two
/// numbers, nonce and tag in hex and five dots, with room to spare.
pub const challenge_chars_max: usize = 256;

const _: () = assert!(difficulty_bits_min <= difficulty_bits_base && difficulty_bits_base <= difficulty_bits_max);
const _: () = assert!(spent_challenges_max as u64 * 1000 / challenge_ttl_ms >= 50_000 / 60);
const _: () = assert!(4 + scope_bytes_max + 2 + 20 + 2 * nonce_bytes + 2 * tag_bytes + 5 <= challenge_chars_max);

/// What the server asks a client to work on. Sealed into text with [`Challenge::seal`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Which action the work buys, e.g. `club/event/3/join`: lowercase letters,
    /// digits, `/`, `_` and `-`, so it never contains the text's `.` separator.
    pub scope: String,
    /// Leading zero bits the work hash must have.
    pub difficulty_bits: u32,
    /// Milliseconds since the Unix epoch from which the challenge is expired.
    pub expires_ms: u64,
    pub nonce: [u8; nonce_bytes],
}

/// Why a solution is not accepted, checked in the order listed. The codes are
/// stable; the HTTP layer shows them as problem codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    #[error("not a challenge issued by this server")]
    Malformed,
    #[error("the challenge's tag does not match: it was altered or not issued here")]
    Forged,
    #[error("the challenge is for another action")]
    WrongScope,
    #[error("the challenge has expired; fetch a new one")]
    Expired,
    #[error("the counter does not give enough leading zero bits")]
    Insufficient,
    #[error("this challenge was already redeemed")]
    Replayed,
    #[error("too many challenges are being redeemed at once; retry shortly")]
    Overloaded,
}

impl PowError {
    pub fn code(self) -> &'static str {
        match self {
            PowError::Malformed => "pow_malformed",
            PowError::Forged => "pow_forged",
            PowError::WrongScope => "pow_wrong_scope",
            PowError::Expired => "pow_expired",
            PowError::Insufficient => "pow_insufficient",
            PowError::Replayed => "pow_replayed",
            PowError::Overloaded => "pow_overloaded",
        }
    }
}

/// True for a scope [`Challenge::seal`] accepts.
pub fn scope_is_valid(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= scope_bytes_max
        && scope.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/_-".contains(&b))
}

impl Challenge {
    /// A challenge that expires `ttl_ms` after `now_ms`; the nonce comes from the
    /// caller so tests can fix it.
    pub fn new(scope: &str, difficulty_bits: u32, now_ms: u64, ttl_ms: u64, nonce: [u8; nonce_bytes]) -> Challenge {
        assert!(scope_is_valid(scope), "invalid pow scope {scope:?}");
        assert!((difficulty_bits_min..=difficulty_bits_max).contains(&difficulty_bits), "difficulty {difficulty_bits} bits");
        Challenge { scope: scope.to_string(), difficulty_bits, expires_ms: now_ms.saturating_add(ttl_ms), nonce }
    }

    /// A challenge with a nonce from the OS-seeded generator, valid for
    /// [`challenge_ttl_ms`]. The nonce need not be secret, only unique: it is what
    /// [`SpentChallenges`] remembers.
    pub fn random(scope: &str, difficulty_bits: u32, now_ms: u64) -> Challenge {
        let mut nonce = [0u8; nonce_bytes];
        rand::rng().fill_bytes(&mut nonce);
        Challenge::new(scope, difficulty_bits, now_ms, challenge_ttl_ms, nonce)
    }

    /// The text the client receives and hashes: the fields, then the tag over them.
    pub fn seal(&self, secret: &[u8]) -> String {
        let body = format!(
            "{challenge_prefix}.{}.{}.{}.{}",
            self.scope,
            self.difficulty_bits,
            self.expires_ms,
            hex::encode(self.nonce)
        );
        let tag = hex::encode(&tag(secret, &body)[..tag_bytes]);
        let text = format!("{body}.{tag}");
        debug_assert_eq!(parse(&text).as_ref(), Ok(self), "a sealed challenge parses back");
        text
    }
}

fn tag(secret: &[u8], body: &str) -> [u8; 32] {
    mac(secret, body).finalize().into_bytes().into()
}

fn mac(secret: &[u8], body: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(mac_context);
    mac.update(body.as_bytes());
    mac
}

/// Reads the fields of a challenge text *without* checking its tag: for solvers and
/// tests. The server uses [`verify`].
pub fn parse(text: &str) -> Result<Challenge, PowError> {
    parse_with_tag(text).map(|(challenge, _, _)| challenge)
}

/// The challenge, the text its tag covers, and the tag.
fn parse_with_tag(text: &str) -> Result<(Challenge, &str, [u8; tag_bytes]), PowError> {
    if text.len() > challenge_chars_max {
        return Err(PowError::Malformed);
    }
    let (body, tag_hex) = text.rsplit_once('.').ok_or(PowError::Malformed)?;
    let mut fields = body.split('.');
    let (Some(prefix), Some(scope), Some(bits), Some(expires), Some(nonce), None) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(PowError::Malformed);
    };
    if prefix != challenge_prefix || !scope_is_valid(scope) {
        return Err(PowError::Malformed);
    }
    let difficulty_bits = decimal(bits).and_then(|b| u32::try_from(b).ok()).ok_or(PowError::Malformed)?;
    if !(difficulty_bits_min..=difficulty_bits_max).contains(&difficulty_bits) {
        return Err(PowError::Malformed);
    }
    let expires_ms = decimal(expires).ok_or(PowError::Malformed)?;
    let nonce = lower_hex::<nonce_bytes>(nonce).ok_or(PowError::Malformed)?;
    let tag = lower_hex::<tag_bytes>(tag_hex).ok_or(PowError::Malformed)?;
    Ok((Challenge { scope: scope.to_string(), difficulty_bits, expires_ms, nonce }, body, tag))
}

/// A decimal number in its one canonical spelling: digits only, no sign, no leading
/// zero. The tag already pins the exact text; this keeps parsing equally strict.
fn decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

fn lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// `SHA-256(text ‖ ":" ‖ counter in decimal)`: the hash whose leading zero bits are
/// the work.
pub fn work_hash(challenge_text: &str, counter: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(challenge_text.as_bytes());
    hasher.update(b":");
    hasher.update(counter.to_string().as_bytes());
    hasher.finalize().into()
}

/// Zero bits before the first one bit, reading bytes in order and each byte from its
/// most significant bit.
pub fn leading_zero_bits(hash: &[u8; 32]) -> u32 {
    let mut bits = 0;
    for byte in hash {
        bits += byte.leading_zeros();
        if *byte != 0 {
            break;
        }
    }
    bits
}

/// A solution that passed [`verify`]; only [`SpentChallenges::redeem`] consumes it,
/// so a caller cannot redeem what was not verified.
#[derive(Debug, PartialEq, Eq)]
pub struct Solved {
    nonce: [u8; nonce_bytes],
    expires_ms: u64,
}

impl Solved {
    pub fn nonce(&self) -> [u8; nonce_bytes] {
        self.nonce
    }

    pub fn expires_ms(&self) -> u64 {
        self.expires_ms
    }
}

/// Checks a solution statelessly, in this order: the text parses (`pow_malformed`),
/// its tag is ours (`pow_forged`) — so no field of a forged text decides anything —,
/// it is for `scope` (`pow_wrong_scope`), it has not expired (`pow_expired`: expired
/// from `expires_ms` on), and the work hash has enough leading zero bits
/// (`pow_insufficient`). Replay is the job of [`SpentChallenges::redeem`].
pub fn verify(secret: &[u8], challenge_text: &str, counter: u64, now_ms: u64, scope: &str) -> Result<Solved, PowError> {
    let (challenge, body, tag) = parse_with_tag(challenge_text)?;
    // `verify_truncated_left` compares in constant time.
    mac(secret, body).verify_truncated_left(&tag).map_err(|_| PowError::Forged)?;
    if challenge.scope != scope {
        return Err(PowError::WrongScope);
    }
    if now_ms >= challenge.expires_ms {
        return Err(PowError::Expired);
    }
    if leading_zero_bits(&work_hash(challenge_text, counter)) < challenge.difficulty_bits {
        return Err(PowError::Insufficient);
    }
    Ok(Solved { nonce: challenge.nonce, expires_ms: challenge.expires_ms })
}

/// The smallest counter that solves `challenge_text` at `difficulty_bits`, trying
/// 0, 1, 2, … like the browser solver does. For tests and command-line clients;
/// `None` only if every u64 fails, which no real difficulty allows.
pub fn solve(challenge_text: &str, difficulty_bits: u32) -> Option<u64> {
    (0..=u64::MAX).find(|counter| leading_zero_bits(&work_hash(challenge_text, *counter)) >= difficulty_bits)
}

/// The nonces of redeemed challenges, each kept until its challenge expires (after
/// that [`verify`] refuses the challenge anyway), at most `capacity` at once. Full
/// means redemptions arrive faster than challenges expire; a new one is then
/// refused with `pow_overloaded` instead of letting memory grow.
pub struct SpentChallenges {
    inner: Mutex<Spent>,
}

struct Spent {
    capacity: usize,
    expiry_by_nonce: HashMap<[u8; nonce_bytes], u64>,
    /// The same entries, soonest expiry first, so forgetting is cheap.
    by_expiry: BinaryHeap<Reverse<(u64, [u8; nonce_bytes])>>,
    /// The latest `now_ms` seen. Time only moves forward here: a caller's clock
    /// stepping back must not make a forgotten challenge redeemable again.
    now_ms: u64,
}

impl SpentChallenges {
    pub fn new(capacity: usize) -> SpentChallenges {
        assert!(capacity > 0);
        SpentChallenges {
            inner: Mutex::new(Spent {
                capacity,
                expiry_by_nonce: HashMap::new(),
                by_expiry: BinaryHeap::new(),
                now_ms: 0,
            }),
        }
    }

    /// Marks a verified challenge as used. `pow_expired` if the challenge expired by
    /// the latest time this set has seen (its entry may already be forgotten),
    /// `pow_replayed` if it was redeemed before, `pow_overloaded` if the set is full.
    pub fn redeem(&self, solved: Solved, now_ms: u64) -> Result<(), PowError> {
        let mut spent = self.inner.lock().expect("the spent set is never poisoned: nothing in it panics");
        spent.now_ms = spent.now_ms.max(now_ms);
        spent.forget_expired();
        if solved.expires_ms <= spent.now_ms {
            return Err(PowError::Expired);
        }
        if spent.expiry_by_nonce.contains_key(&solved.nonce) {
            return Err(PowError::Replayed);
        }
        if spent.expiry_by_nonce.len() >= spent.capacity {
            return Err(PowError::Overloaded);
        }
        spent.expiry_by_nonce.insert(solved.nonce, solved.expires_ms);
        spent.by_expiry.push(Reverse((solved.expires_ms, solved.nonce)));
        assert_eq!(spent.expiry_by_nonce.len(), spent.by_expiry.len());
        Ok(())
    }

    /// Redeemed challenges still remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("never poisoned").expiry_by_nonce.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Spent {
    fn forget_expired(&mut self) {
        while let Some(Reverse((expires_ms, nonce))) = self.by_expiry.peek().copied() {
            if expires_ms > self.now_ms {
                break;
            }
            self.by_expiry.pop();
            let removed = self.expiry_by_nonce.remove(&nonce);
            assert_eq!(removed, Some(expires_ms), "the heap and the map hold the same entries");
        }
    }
}

/// The difficulty for the next challenge: `base_bits` while arrivals are within
/// capacity, one bit more — twice the expected work — for every doubling of the
/// overload, always within `difficulty_bits_min..=difficulty_bits_max`.
///
/// `load_percent` is 100 × (join attempts per second) / (joins per second the
/// waiting room admits without growing), measured by its caller: 100 means
/// arrivals match capacity, 400 four times as many. Work proportional to the
/// overload keeps the price of one join in step with demand while an honest fan
/// never waits long: 16 bits at base become 20 bits only at 16× capacity.
pub fn difficulty_bits(base_bits: u32, load_percent: u32) -> u32 {
    let base = base_bits.clamp(difficulty_bits_min, difficulty_bits_max);
    // floor(log2(load / 100)) equals floor(log2(floor(load / 100))): the floor of a
    // base-2 log only steps at powers of two, which are integers.
    let doublings = (load_percent / 100).checked_ilog2().unwrap_or(0);
    base.saturating_add(doublings).min(difficulty_bits_max)
}
