//! Every limit of the ledger, named with its unit last, related by compile-time asserts.
//!
//! The sums an account keeps are `i64` cents. They cannot overflow because every
//! transfer record adds at most `transfer_amount_cents_max` to at most one debit and one
//! credit sum, and at most `ledger_transfers_max` records exist: the asserts below prove
//! the worst case fits with room to spare, so the arithmetic needs no checks.

#![allow(non_upper_case_globals)]

/// Accounts per ledger (cards, merchants and the few programme accounts).
pub const ledger_accounts_max: usize = 4_000_000;
/// Transfer records kept in memory. Beyond this new transfers are refused
/// (`too_many_transfers`) until a later slice archives settled history.
pub const ledger_transfers_max: usize = 16_000_000;
/// Reservations pending at once.
pub const ledger_pendings_max: usize = 1_000_000;

/// The largest single transfer: a merchant settlement of a big city's programme.
pub const transfer_amount_cents_max: i64 = 100_000_000;
/// The largest ceiling an account may be created with.
pub const account_ceiling_cents_max: i64 = 1_000_000_000_000;

/// A reservation lives at least this long; shorter would expire between a till's
/// reserve and its post.
pub const pending_timeout_ms_min: i64 = 1_000;
/// A reservation lives at most a week, so held value always comes back.
pub const pending_timeout_ms_max: i64 = 7 * 24 * 3_600_000;

/// The most one offline redemption may leave uncovered, as a device's offline limit.
pub const risk_shortfall_cents_max: i64 = 5_000;
/// The most a card's recorded shortfalls may add up to.
pub const card_risk_cents_max: i64 = 15_000;

const _: () = assert!(ledger_pendings_max <= ledger_transfers_max);
const _: () = assert!(ledger_accounts_max <= ledger_transfers_max);
// The worst per-account sum: every record of the history on one side of one account.
const _: () = assert!((ledger_transfers_max as i64) * transfer_amount_cents_max < i64::MAX / 1024);
// Reach and available are differences of two such sums plus a ceiling.
const _: () = assert!(account_ceiling_cents_max < i64::MAX / 1024);
const _: () = assert!(transfer_amount_cents_max <= account_ceiling_cents_max);
const _: () = assert!(pending_timeout_ms_min < pending_timeout_ms_max);
const _: () = assert!(0 < risk_shortfall_cents_max && risk_shortfall_cents_max <= card_risk_cents_max);
const _: () = assert!(card_risk_cents_max <= transfer_amount_cents_max);
