//! The waiting room's provably fair draw (docs/DRAW.md has the algorithm for anyone
//! who wants to recompute it without this code).
//!
//! Everyone who joins a sale's pre-queue before the opening gets a place in an order
//! nobody could choose: when the pre-queue opens, the server publishes
//! `commitment = SHA-256(seed)` for a seed of 32 random bytes it keeps secret; at the
//! opening it reveals the seed. Each queue id's place follows from
//! `SHA-256(seed ‖ id)`, smallest first. Once committed, the server cannot pick a
//! seed that favours anyone without breaking SHA-256, and nobody who joins can
//! predict the order before the seed is revealed. Ids are pseudonymous, so the list
//! can be published.
//!
//! Everything here is pure: the seed arrives from the caller (who draws it from the
//! OS's random source), and the order is a function of the seed and the set of ids.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes of a queue id.
pub const queue_id_bytes: usize = 16;
/// Bytes of a draw seed.
pub const seed_bytes: usize = 32;
/// Most entries one published draw may list: a full stadium's crowd several times.
pub const draw_entries_max: usize = 10_000_000;
/// The format name every published draw document carries.
pub const draw_format: &str = "sturmfest-draw-v1";

/// The room's pseudonymous queue id (the core's type), printed as 32 lowercase hex digits.
pub use sturmfest_core::queue::QueueId;

/// The secret behind a draw's commitment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Seed(pub [u8; seed_bytes]);

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A seed is secret until the opening; debug output must not leak it.
        f.write_str("Seed(…)")
    }
}

/// Why a text is not a queue id, a seed or a commitment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be {digits} lowercase hex digits, got {got:?}")]
pub struct BadHex {
    pub what: &'static str,
    pub digits: usize,
    pub got: String,
}

fn parse_hex<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N], BadHex> {
    let bad = || BadHex { what, digits: N * 2, got: text.chars().take(80).collect() };
    // Exactly one spelling per value: a published list cannot hide a duplicate
    // behind upper-case digits.
    if text.len() != N * 2 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad());
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| bad())?;
    Ok(out)
}

/// Parses a queue id in its one spelling, 32 lowercase hex digits.
pub fn parse_queue_id(text: &str) -> Result<QueueId, BadHex> {
    parse_hex("a queue id", text).map(QueueId)
}

impl Seed {
    pub fn parse(text: &str) -> Result<Seed, BadHex> {
        parse_hex("a seed", text).map(Seed)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `SHA-256(seed)`, published before anyone can join.
    pub fn commitment(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }
}

/// Parses a commitment (64 hex digits).
pub fn parse_commitment(text: &str) -> Result<[u8; 32], BadHex> {
    parse_hex("a commitment", text)
}

/// The sort key of one id: `SHA-256(seed ‖ id)`, compared as bytes.
pub fn draw_key(seed: &Seed, id: &QueueId) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(seed.0);
    hasher.update(id.0);
    hasher.finalize().into()
}

/// The drawn order of a set of ids: first place first. The result depends on the
/// set only, not on the order the ids are given in.
pub fn draw_order(seed: &Seed, ids: &BTreeSet<QueueId>) -> Vec<QueueId> {
    let mut keyed: Vec<([u8; 32], QueueId)> = ids.iter().map(|id| (draw_key(seed, id), *id)).collect();
    // Equal keys would need a SHA-256 collision; the id breaks the tie anyway, so
    // the order is total and the same everywhere.
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, id)| id).collect()
}

/// A draw as published: before the opening without `seed` and `order`, after it
/// with both. docs/DRAW.md describes the fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrawDocument {
    pub format: String,
    pub tenant: String,
    pub event: u32,
    /// RFC 3339: when the commitment was published (the pre-queue opened).
    pub committed_at: String,
    /// RFC 3339: the sale's opening, when the seed is revealed.
    pub opens_at: String,
    pub commitment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// Every pre-queue id, ascending.
    pub entries: Vec<String>,
    /// The order the waiting room admits in, first place first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<String>>,
}

/// What checking a published draw found wrong. Each variant names the first defect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrawDefect {
    #[error("format is {0:?}, expected \"sturmfest-draw-v1\"")]
    Format(String),
    #[error("{0}")]
    Malformed(BadHex),
    #[error("{0} entries; a draw lists at most 10,000,000")]
    TooManyEntries(usize),
    #[error("entry {index} ({id}) is not greater than the one before: the list must be ascending and free of duplicates")]
    EntriesNotAscending { index: usize, id: String },
    #[error("the seed is not revealed yet (before the opening); nothing to check but the format")]
    NotRevealed,
    #[error("SHA-256(seed) is {actual}, but the published commitment is {committed}: this seed is not the committed one")]
    CommitmentMismatch { committed: String, actual: String },
    #[error("the published order has {published} places, the entries {entries}")]
    OrderLength { published: usize, entries: usize },
    #[error("place {place}: the published order has {published}, the seed gives {expected}")]
    OrderMismatch { place: usize, published: String, expected: String },
}

/// A checked draw: the order recomputed from the revealed seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedDraw {
    pub order: Vec<QueueId>,
    /// Whether the document published an order (which then matched).
    pub order_published: bool,
}

impl DrawDocument {
    /// Builds the document for a revealed draw.
    pub fn revealed(
        tenant: &str,
        event: u32,
        committed_at: &str,
        opens_at: &str,
        seed: &Seed,
        ids: &BTreeSet<QueueId>,
    ) -> DrawDocument {
        DrawDocument {
            format: draw_format.into(),
            tenant: tenant.into(),
            event,
            committed_at: committed_at.into(),
            opens_at: opens_at.into(),
            commitment: hex::encode(seed.commitment()),
            seed: Some(seed.to_hex()),
            entries: ids.iter().map(ToString::to_string).collect(),
            order: Some(draw_order(seed, ids).iter().map(ToString::to_string).collect()),
        }
    }

    /// Recomputes the draw from the revealed seed and the published entries, and
    /// compares it with the published order (if any).
    pub fn check(&self) -> Result<CheckedDraw, DrawDefect> {
        if self.format != draw_format {
            return Err(DrawDefect::Format(self.format.clone()));
        }
        let committed = parse_commitment(&self.commitment).map_err(DrawDefect::Malformed)?;
        if self.entries.len() > draw_entries_max {
            return Err(DrawDefect::TooManyEntries(self.entries.len()));
        }
        let mut ids = BTreeSet::new();
        let mut previous: Option<QueueId> = None;
        for (index, text) in self.entries.iter().enumerate() {
            let id = parse_queue_id(text).map_err(DrawDefect::Malformed)?;
            if previous.is_some_and(|p| p >= id) {
                return Err(DrawDefect::EntriesNotAscending { index, id: text.clone() });
            }
            previous = Some(id);
            ids.insert(id);
        }
        let Some(seed_text) = &self.seed else { return Err(DrawDefect::NotRevealed) };
        let seed = Seed::parse(seed_text).map_err(DrawDefect::Malformed)?;
        if seed.commitment() != committed {
            return Err(DrawDefect::CommitmentMismatch {
                committed: self.commitment.clone(),
                actual: hex::encode(seed.commitment()),
            });
        }
        let order = draw_order(&seed, &ids);
        if let Some(published) = &self.order {
            if published.len() != order.len() {
                return Err(DrawDefect::OrderLength { published: published.len(), entries: order.len() });
            }
            for (place, (text, expected)) in published.iter().zip(&order).enumerate() {
                if *text != expected.to_string() {
                    return Err(DrawDefect::OrderMismatch {
                        place: place + 1,
                        published: text.clone(),
                        expected: expected.to_string(),
                    });
                }
            }
        }
        Ok(CheckedDraw { order, order_published: self.order.is_some() })
    }
}
