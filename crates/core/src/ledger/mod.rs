//! The double-entry ledger for city gift vouchers: stored value that never loses a cent.
//!
//! `Ledger::apply(&LedgerEnvelope) -> Result<LedgerReply, LedgerRejection>` is the only
//! way its state changes. Like the ticketing core it is pure: time arrives in the
//! envelope, every id is chosen by the client, and every iterated collection is ordered.
//! It is part of `Tenant` (one ledger per tenant, programmes inside it): the tenant's
//! `Command::Ledger` routes here with the tenant's time, and `Ledger::parts` /
//! `Ledger::restore` put it into the tenant's snapshot.
//!
//! # The model
//!
//! Accounts belong to a programme (one city's voucher) and have a kind: a `Card` holds
//! a customer's stored value, `MerchantPayable` what is owed to a shop for redemptions,
//! `ProviderClearing` what the payment provider collected for loads, `SalesPointCash`
//! cash taken at a counter, `ExpiredValue` value forfeited by expired cards,
//! `OfflineRisk` overspend written off after offline redemptions, and `Issuer` the
//! programme's own funds (promotional top-ups, corrections). A transfer moves integer
//! cents from one account (debit) to another (credit) of the same programme; it is
//! immutable and idempotent by its client-chosen `TransferId`.
//!
//! Transfers are single-phase (`Transfer`: posted at once) or two-phase (`Reserve` a
//! pending amount with a timeout, then `Post` all or part of it or `Void` it; an
//! unfinished reservation expires by time). `Post` and `Void` carry their own
//! `TransferId`, so a retried post is answered from memory instead of being refused as
//! "already posted".
//!
//! # Sign convention
//!
//! Every account keeps four non-negative sums: `debits_posted`, `credits_posted`,
//! `debits_pending`, `credits_pending`. Its signed balance is
//! `credits_posted - debits_posted`, for every kind alike. Because every transfer adds
//! its amount to one account's debits and to another account's credits, **the balances
//! of all accounts sum to zero**, and so do pending debits minus pending credits.
//! Kinds that hold what the programme owes (cards, merchant payables, expired value,
//! issuer funds) are credit-normal and show positive balances; kinds that hold what the
//! programme has or has lost (provider clearing, counter cash, offline risk) are
//! debit-normal and show negative balances.
//!
//! # Limits an account enforces itself
//!
//! Seen from its normal side, an account has an *available* balance (posted balance
//! minus pending outflows) and a *reach* (posted balance plus pending inflows). Kinds
//! with a floor (`AccountKind::has_floor`) never let a transfer take `available` below
//! zero; an account created with a ceiling never lets a transfer take `reach` above
//! it. Cards must have a ceiling (the most stored value a card may hold). Counting
//! pending amounts on the unfavourable side means posting or voiding a reservation can
//! never break a limit, so those commands need no balance check.
//!
//! The one way below a floor is `BookOfflineRisk`: a merchant device that redeemed a
//! card offline reports it, and the ledger books the redemption even if the card did
//! not cover it, records the uncovered part (the shortfall) as a `RiskEntry`, and
//! bounds shortfalls per booking and per card. **Invariant:** a card's available
//! balance is never below minus the sum of its recorded shortfalls.

mod check;
pub mod limits;
mod parts;
mod state;

pub use parts::LedgerParts;
pub use state::{Ledger, LedgerOutcome};

use crate::ids::{Cents, TimeMs};

macro_rules! ledger_id {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);
    };
}

ledger_id!(
    /// A ledger account, chosen by the client so a retried creation is recognised; 0 is
    /// never a valid id (it is what an uninitialised field looks like).
    AccountId(u128)
);
ledger_id!(
    /// A transfer (of any phase), chosen by the client; it is the idempotency key. 0 is
    /// never valid.
    TransferId(u128)
);
ledger_id!(
    /// A voucher programme: one city's voucher. Money never crosses programmes.
    ProgrammeId(u32)
);
ledger_id!(
    /// The merchant device that reported an offline redemption.
    DeviceId(u64)
);

/// The side of an account on which its natural balance grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Debit,
    Credit,
}

/// What an account stands for. The kind fixes the account's normal side and whether it
/// has a floor; the ceiling is chosen per account at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountKind {
    /// A customer's stored value. Credit-normal, floor at zero, ceiling required.
    Card,
    /// What the programme owes a merchant for redemptions. Credit-normal, floor at zero:
    /// a payout never exceeds what is owed.
    MerchantPayable,
    /// What the payment provider collected for online loads and has not yet settled.
    /// Debit-normal, no floor: chargebacks and settlement timing can swing it either way.
    ProviderClearing,
    /// Cash taken at a sales point. Debit-normal, floor at zero: a till cannot hand over
    /// more cash than it holds.
    SalesPointCash,
    /// Value forfeited by expired cards. Credit-normal, floor at zero: a goodwill
    /// re-credit never gives back more than expired.
    ExpiredValue,
    /// Offline overspend the programme wrote off. Debit-normal, no floor.
    OfflineRisk,
    /// The programme's own funds (promotional top-ups, corrections). Credit-normal, no
    /// floor: the issuer may fund more than it has booked in.
    Issuer,
    /// Merchant payouts settled and on their way to the merchants' banks in a payout
    /// file. Credit-normal (what the programme still has to transfer), no floor: the
    /// bank's debit of the city account is booked outside this ledger.
    PayoutClearing,
}

impl AccountKind {
    /// Every kind, in declaration order.
    pub const ALL: [AccountKind; 8] = [
        AccountKind::Card,
        AccountKind::MerchantPayable,
        AccountKind::ProviderClearing,
        AccountKind::SalesPointCash,
        AccountKind::ExpiredValue,
        AccountKind::OfflineRisk,
        AccountKind::Issuer,
        AccountKind::PayoutClearing,
    ];

    /// The side on which the account's natural balance grows.
    pub fn side(self) -> Side {
        match self {
            AccountKind::Card
            | AccountKind::MerchantPayable
            | AccountKind::ExpiredValue
            | AccountKind::Issuer
            | AccountKind::PayoutClearing => Side::Credit,
            AccountKind::ProviderClearing | AccountKind::SalesPointCash | AccountKind::OfflineRisk => Side::Debit,
        }
    }

    /// Whether transfers may not take the available balance below zero.
    pub fn has_floor(self) -> bool {
        match self {
            AccountKind::Card | AccountKind::MerchantPayable | AccountKind::SalesPointCash | AccountKind::ExpiredValue => {
                true
            }
            AccountKind::ProviderClearing | AccountKind::OfflineRisk | AccountKind::Issuer | AccountKind::PayoutClearing => false,
        }
    }

    /// A stable snake_case name.
    pub fn code(self) -> &'static str {
        match self {
            AccountKind::Card => "card",
            AccountKind::MerchantPayable => "merchant_payable",
            AccountKind::ProviderClearing => "provider_clearing",
            AccountKind::SalesPointCash => "sales_point_cash",
            AccountKind::ExpiredValue => "expired_value",
            AccountKind::OfflineRisk => "offline_risk",
            AccountKind::Issuer => "issuer",
            AccountKind::PayoutClearing => "payout_clearing",
        }
    }
}

/// An account and its running sums. All four sums are non-negative; see the module
/// documentation for the sign convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub programme: ProgrammeId,
    pub kind: AccountKind,
    /// The most the account's reach may be; required for cards.
    pub ceiling: Option<Cents>,
    pub created_at: TimeMs,
    pub debits_posted: Cents,
    pub credits_posted: Cents,
    pub debits_pending: Cents,
    pub credits_pending: Cents,
    /// Sum of the shortfalls of this card's risk entries: how far below zero its
    /// available balance may be. Always zero for other kinds.
    pub risk_shortfall: Cents,
}

impl Account {
    /// The signed posted balance, `credits_posted - debits_posted`, for every kind.
    pub fn balance(&self) -> Cents {
        Cents(self.credits_posted.0 - self.debits_posted.0)
    }

    /// The normal-side posted balance minus pending outflows: what the floor protects.
    pub fn available(&self) -> Cents {
        match self.kind.side() {
            Side::Credit => Cents(self.credits_posted.0 - self.debits_posted.0 - self.debits_pending.0),
            Side::Debit => Cents(self.debits_posted.0 - self.credits_posted.0 - self.credits_pending.0),
        }
    }

    /// The normal-side posted balance plus pending inflows: what the ceiling bounds.
    pub fn reach(&self) -> Cents {
        match self.kind.side() {
            Side::Credit => Cents(self.credits_posted.0 + self.credits_pending.0 - self.debits_posted.0),
            Side::Debit => Cents(self.debits_posted.0 + self.debits_pending.0 - self.credits_posted.0),
        }
    }
}

/// A command and the time it was accepted at the edge. The ledger reads no clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEnvelope {
    pub time: TimeMs,
    pub command: LedgerCommand,
}

/// What a client asks of the ledger. Every command that moves money carries a
/// client-chosen `TransferId`, so every one of them can be retried safely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerCommand {
    /// Opens an account. Repeating it with identical fields answers `AccountCreated`
    /// again; the same id with other fields is `account_id_reused`.
    CreateAccount { id: AccountId, programme: ProgrammeId, kind: AccountKind, ceiling: Option<Cents> },
    /// Moves `amount` from `debit` to `credit` at once.
    Transfer { id: TransferId, debit: AccountId, credit: AccountId, amount: Cents },
    /// Reserves `amount`: it counts against the debit account's available balance and
    /// the credit account's reach until posted, voided or expired after `timeout_ms`.
    Reserve { id: TransferId, debit: AccountId, credit: AccountId, amount: Cents, timeout_ms: i64 },
    /// Posts `amount` (at most the reserved amount) of a pending reservation and
    /// releases the rest.
    Post { id: TransferId, pending: TransferId, amount: Cents },
    /// Releases a pending reservation entirely.
    Void { id: TransferId, pending: TransferId },
    /// Books a redemption a merchant device made offline, even beyond the card's
    /// available balance; the uncovered part is recorded as a `RiskEntry`.
    BookOfflineRisk { id: TransferId, card: AccountId, merchant: AccountId, amount: Cents, device: DeviceId, receipt: u64 },
    /// Lets time pass so due reservations expire even when nobody else sends a command.
    Tick,
}

/// What a transfer record is, beyond its accounts and amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    /// Posted at once.
    Single,
    /// A reservation; its current state is in `Ledger::pending_state`.
    Reserve { timeout_ms: i64, expires_at: TimeMs },
    /// Posted `amount` of `pending` and released `released`.
    Post { pending: TransferId, released: Cents },
    /// Released `pending`; the record's amount is what was released.
    Void { pending: TransferId },
    /// An offline redemption; `shortfall` is the part the card did not cover.
    OfflineRisk { device: DeviceId, receipt: u64, shortfall: Cents },
}

/// An immutable entry of the transfer history. For `Post` and `Void` the accounts are
/// those of the reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub id: TransferId,
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount: Cents,
    pub kind: TransferKind,
    pub at: TimeMs,
}

/// Where a reservation stands. Only `Pending` counts in the pending sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingState {
    Pending { expires_at: TimeMs },
    Posted { by: TransferId },
    Voided { by: TransferId },
    Expired { at: TimeMs },
}

/// The record of an offline-risk booking, kept so the overspend can be followed up
/// (device, receipt) and so a card's negative balance is always explained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskEntry {
    pub transfer: TransferId,
    pub card: AccountId,
    pub merchant: AccountId,
    pub amount: Cents,
    /// The part of `amount` the card's available balance did not cover; may be zero.
    pub shortfall: Cents,
    pub device: DeviceId,
    pub receipt: u64,
    pub at: TimeMs,
}

/// A successful command's answer. A retried command gets the very same reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerReply {
    AccountCreated { account: AccountId },
    Transferred { transfer: TransferId },
    Reserved { transfer: TransferId, expires_at: TimeMs },
    Posted { transfer: TransferId, pending: TransferId, amount: Cents, released: Cents },
    Voided { transfer: TransferId, pending: TransferId, released: Cents },
    RiskBooked { transfer: TransferId, shortfall: Cents },
    Ticked { expired: u32 },
}

/// Domain rejections, checked per command in the order documented on its handler in
/// `ledger/state.rs`. Codes are stable once released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerRejection {
    AccountIdInvalid,
    CeilingInvalid,
    AccountIdReused,
    TooManyAccounts,
    TransferIdInvalid,
    DebitAccountNotFound,
    CreditAccountNotFound,
    AccountsSame,
    RiskDebitNotCard,
    RiskCreditNotMerchant,
    ProgrammesDiffer,
    AmountInvalid,
    TimeoutInvalid,
    PendingNotFound,
    TransferNotPending,
    AmountExceedsPending,
    TransferIdReused,
    PendingExpired,
    PendingAlreadyPosted,
    PendingAlreadyVoided,
    TooManyTransfers,
    TooManyPendings,
    RiskLimitExceeded,
    /// The transfer would take `account` below its floor.
    InsufficientBalance { account: AccountId },
    /// The transfer would take `account` above its ceiling.
    CeilingExceeded { account: AccountId },
}

impl LedgerRejection {
    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        use LedgerRejection::*;
        match self {
            AccountIdInvalid => "account_id_invalid",
            CeilingInvalid => "ceiling_invalid",
            AccountIdReused => "account_id_reused",
            TooManyAccounts => "too_many_accounts",
            TransferIdInvalid => "transfer_id_invalid",
            DebitAccountNotFound => "debit_account_not_found",
            CreditAccountNotFound => "credit_account_not_found",
            AccountsSame => "accounts_same",
            RiskDebitNotCard => "risk_debit_not_card",
            RiskCreditNotMerchant => "risk_credit_not_merchant",
            ProgrammesDiffer => "programmes_differ",
            AmountInvalid => "amount_invalid",
            TimeoutInvalid => "timeout_invalid",
            PendingNotFound => "pending_not_found",
            TransferNotPending => "transfer_not_pending",
            AmountExceedsPending => "amount_exceeds_pending",
            TransferIdReused => "transfer_id_reused",
            PendingExpired => "pending_expired",
            PendingAlreadyPosted => "pending_already_posted",
            PendingAlreadyVoided => "pending_already_voided",
            TooManyTransfers => "too_many_transfers",
            TooManyPendings => "too_many_pendings",
            RiskLimitExceeded => "risk_limit_exceeded",
            InsufficientBalance { .. } => "insufficient_balance",
            CeilingExceeded { .. } => "ceiling_exceeded",
        }
    }
}
