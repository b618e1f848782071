//! City voucher programmes, merchants, their devices and the cards, on top of the ledger.
//!
//! `Vouchers::apply(&mut Ledger, &VoucherEnvelope) -> VoucherOutcome` is the only way
//! this state changes. It keeps no balance of its own: every cent lives in the tenant's
//! `Ledger`, and a voucher command that moves money does so with exactly one ledger
//! transfer (expiry: one per expiring card). The voucher state holds what the ledger
//! cannot know: who may redeem where, which card is in which state, the PIN and its
//! failed attempts, and the journal of every booking it made (`Booking`), which the
//! invariant check adds up per card and compares with the card's ledger account.
//!
//! # Accounts
//!
//! Account and transfer ids of the voucher domain live in a reserved namespace (top
//! byte `0x56`, see `card_account` and friends), so they are derived from voucher ids
//! and never collide with what a client creates through raw `Command::Ledger`; the
//! tenant refuses raw ledger commands that name this namespace, so a card's account
//! only ever moves through voucher commands. A programme has four accounts: provider
//! clearing (online loads and refunds), sales-point cash (loads paid in cash),
//! expired value, and offline risk (allowances are reserved from it, overspends paid
//! from it: `vouchers/offline.rs`). A merchant has one
//! payable account per programme it is accepted in. A card has one account whose
//! ceiling is the programme's `card_balance_cents_max`, so the ledger itself refuses to
//! load beyond it.
//!
//! # Commands and their shapes
//!
//! - `CreateProgramme { id, name, limits, expiry }` opens the four programme accounts.
//! - `CreateMerchant { id, name, iban }`: the IBAN is opaque text the edge parsed and
//!   checked (mod 97); the core only bounds its length. `AcceptMerchant { merchant,
//!   programme }` opens the payable account; a merchant may be in several programmes.
//! - `RegisterDevice { device, merchant, public_key }`, `RevokeDevice { device }`.
//! - `IssueCards { programme, batch, medium, cards }`: at most `batch_cards_max` cards,
//!   each with the keyed digest of its code (and of its PIN, if it has one). Every
//!   issued card is `Inactive` and holds nothing: printed cards until sold at a
//!   counter, digital ones until the online payment cleared.
//! - `ActivateCard { card, amount, paid_via, expires_at }`: the sale. The card becomes
//!   `Active` only in the command whose ledger transfer (clearing or cash → card)
//!   succeeded: value on the card and the active state are one decision.
//!   `LoadCard { card, amount, paid_via }` adds value later.
//! - `Redeem { redemption, card, merchant, device, amount, pin }`: idempotent by the
//!   client-chosen `RedemptionId`; card → the merchant's payable for the card's
//!   programme; a partial redemption leaves the rest. A wrong PIN is not a rejection
//!   but an accepted `PinRefused` reply, because the failed attempt must be recorded
//!   (a rejection changes nothing); after `pin_attempts_max` failures in a row the
//!   card is blocked (`BlockReason::PinAttempts`).
//! - `ReverseRedemption { redemption, merchant }` within the programme's
//!   `reversal_window_ms`, at most once (a retry gets the first reply).
//! - `RefundCard { card, amount, reference }` (card → clearing, paid back to the
//!   holder), `BlockCard { card }`, `MoveBalance { from, to }` (a blocked card's whole
//!   balance onto an active card of the same programme).
//! - `ConfigureOffline { programme, policy }`, `GrantAllowance { device, programme,
//!   amount, expires_at }`, `SyncOffline { device, redemptions }`: offline redemption
//!   with bounded risk, documented in `vouchers/offline.rs`.
//! - `StartPurchase`, `PurchaseSucceeded`, `PurchaseFailed`, `PurchaseRefunded`: a
//!   new digital card or a load paid online through a provider, decided in one
//!   command when the payment succeeds (`vouchers/purchase.rs`).
//! - `ExpireCards`: books every due card's balance to the programme's expired-value
//!   account (never deleted) and marks it `Expired`. Every voucher command and every
//!   tenant `Tick` does the same first, at most `card_expiries_per_command_max` cards
//!   at a time; a card past its expiry is refused as expired even before that.
//!
//! # Expiry: the edge computes, the core checks
//!
//! A voucher claim falls under the regular German limitation period (§§ 195, 199
//! BGB): three years, counted from the end of the year in which the claim arose, the
//! sale. So a card expires at the start of the fourth year after the year of its sale,
//! in the programme's local time (Europe/Berlin). The core has no time-zone database,
//! so the edge computes that instant and sends it in `ActivateCard`; the core checks it
//! is the start of a UTC year `Y + 4` within `expiry_zone_offset_ms_max` (no zone is
//! further from UTC), where `Y` is the year of the sale as seen from some zone. The
//! expiry is therefore fixed at the sale, not at printing: a printed card that waits a
//! year on the shelf still gets its full period.
//!
//! Handlers check their rejections in the order written above each in `state.rs` and
//! change nothing before the last check (including the ledger's own) has passed.

mod check;
mod offline;
mod parts;
mod purchase;
mod settle;
mod state;

pub use offline::{
    Allowance, AllowanceClose, OfflineExposure, OfflineOutcome, OfflineParts, OfflinePolicy, OfflineRecord, OfflineRedemption,
    OfflineRefusal, OfflineRiskEntry, SyncSummary,
};
pub use parts::VoucherParts;
pub use purchase::{
    Purchase, PurchaseReply, PurchaseState, PurchaseStatus, PurchaseTarget, purchase_email_bytes_max,
    tenant_purchases_max,
};
pub use settle::{PeriodItem, PeriodSums, Settlement, SettlementId, tenant_settlements_max};
pub use state::{Vouchers, card_account, in_voucher_namespace, payable_account, programme_account};

use crate::ids::{Cents, TimeMs};
pub use crate::ledger::{DeviceId, LedgerRejection, ProgrammeId, TransferId};

/// Every limit of the voucher domain, named with its unit last.
pub mod limits {
    #![allow(non_upper_case_globals)]

    /// Programmes per tenant (a city runs a handful: the city voucher, a region's).
    pub const tenant_programmes_max: usize = 64;
    /// Longest tagline a programme's cards carry (`ProgrammeDesign`).
    pub const design_tagline_bytes_max: usize = 120;
    pub const tenant_merchants_max: usize = 100_000;
    pub const tenant_devices_max: usize = 200_000;
    /// Cards per tenant; each has a ledger account, so this stays below the ledger's.
    pub const tenant_cards_max: usize = 2_000_000;
    /// Redemptions remembered per tenant (for idempotency and statements).
    pub const tenant_redemptions_max: usize = 8_000_000;
    /// Cards one `IssueCards` may create: bounds one command's work and log record.
    pub const batch_cards_max: usize = 2_000;
    /// The highest balance any programme may allow on one card (the German limited
    /// network exemption is about volume, not cards; 2,500.00 keeps cards "small").
    pub const card_balance_cents_limit: i64 = 250_000;
    /// The longest reversal window a programme may configure: 30 days.
    pub const reversal_window_ms_max: i64 = 30 * 24 * 3_600_000;
    /// Wrong PINs in a row before a card is blocked.
    pub const pin_attempts_max: u8 = 3;
    /// Cards one command expires before it does its own work; the rest follow with the
    /// next command or tick (a card past expiry is refused as expired meanwhile).
    pub const card_expiries_per_command_max: usize = 1_000;
    /// No time zone is further than 14 hours from UTC (Pacific/Kiritimati is +14).
    pub const expiry_zone_offset_ms_max: i64 = 14 * 3_600_000;
    /// Names of programmes and merchants.
    pub const voucher_name_bytes_max: usize = crate::limits::name_bytes_max;
    /// An IBAN is at most 34 characters (ISO 13616); the shortest (Norway) has 15.
    pub const iban_bytes_min: usize = 15;
    pub const iban_bytes_max: usize = 34;
    pub const refund_reference_bytes_max: usize = crate::limits::payment_ref_bytes_max;

    /// The most any programme may configure for one allowance or for all open ones:
    /// 100,000.00, a large city's worst case for a day without its core.
    pub const offline_allowance_cents_limit: i64 = 10_000_000;
    /// An allowance lets a device redeem offline for at least a minute and at most
    /// three days (a long weekend without the core).
    pub const allowance_window_ms_min: i64 = 60_000;
    pub const allowance_window_ms_max: i64 = 3 * 24 * 3_600_000;
    /// The reservation outlives the device's offline window by this much, so a sync
    /// arriving late can still draw on it.
    pub const allowance_sync_grace_ms: i64 = 2 * 24 * 3_600_000;
    /// Offline redemptions in one sync: bounds one command's work and log record.
    pub const sync_redemptions_max: usize = 1_000;

    const _: () = assert!(allowance_window_ms_max + allowance_sync_grace_ms <= crate::ledger::limits::pending_timeout_ms_max);
    const _: () = assert!(allowance_window_ms_min + allowance_sync_grace_ms >= crate::ledger::limits::pending_timeout_ms_min);
    const _: () = assert!(offline_allowance_cents_limit <= crate::ledger::limits::transfer_amount_cents_max);
    const _: () = assert!(tenant_cards_max <= crate::ledger::limits::ledger_accounts_max / 2);
    const _: () = assert!(card_balance_cents_limit <= crate::ledger::limits::transfer_amount_cents_max);
    const _: () = assert!(batch_cards_max <= tenant_cards_max);
    const _: () = assert!(pin_attempts_max >= 1);
    const _: () = assert!(tenant_programmes_max <= u8::MAX as usize);
}

macro_rules! voucher_id {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);
    };
}

voucher_id!(
    /// A card, chosen by the edge (random, so card ids reveal no sales volume); 0 is
    /// never valid.
    CardId(u64)
);
voucher_id!(
    /// A merchant (a shop) of the tenant.
    MerchantId(u32)
);
voucher_id!(
    /// A batch of issued cards (one print run, or one online sale's digital cards).
    BatchId(u32)
);
voucher_id!(
    /// A redemption, chosen by the device so a retry is recognised; 0 is never valid.
    RedemptionId(u128)
);
voucher_id!(
    /// A voucher purchase paid online, chosen by the edge (random, nonzero) so the edge
    /// can derive the digital card's code from it before the command runs.
    PurchaseId(u64)
);
voucher_id!(
    /// A sales point (counter) where cards are sold and loaded for cash.
    SalesPointId(u32)
);

/// A programme's limits, checked at creation against the `limits` module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgrammeLimits {
    /// The most one card may hold: the ceiling of every card account.
    pub card_balance_cents_max: Cents,
    /// The most one activation or load may add.
    pub load_cents_max: Cents,
    /// The most a device may redeem from one card while offline (for the offline slice).
    pub card_offline_cents_max: Cents,
    /// How long after a redemption its merchant may reverse it.
    pub reversal_window_ms: i64,
}

/// How a programme's cards expire. One rule today; an enum so a programme's choice is
/// recorded rather than implied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryRule {
    /// At the start of the fourth year after the year of sale, local time (see the
    /// module documentation).
    EndOfThirdYearAfterSale,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Programme {
    pub id: ProgrammeId,
    pub name: String,
    pub limits: ProgrammeLimits,
    pub expiry: ExpiryRule,
    pub created_at: TimeMs,
    /// How its cards look to holders; the default until `SetDesign`.
    pub design: ProgrammeDesign,
}

/// A programme's look on its cards, pages and e-mails: an accent colour and a line
/// of text (e.g. "Gilt in 120 Geschäften der Innenstadt"). The core checks only the
/// range and the text; the edge checks that white text on the accent is readable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgrammeDesign {
    /// sRGB as 0xRRGGBB.
    pub accent_rgb: u32,
    pub tagline: String,
}

impl Default for ProgrammeDesign {
    fn default() -> ProgrammeDesign {
        ProgrammeDesign { accent_rgb: 0x0b5394, tagline: String::new() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    pub id: MerchantId,
    pub name: String,
    /// Parsed and checked at the edge; the core stores it for payout files.
    pub iban: String,
    /// The programmes it is accepted in, ascending.
    pub programmes: Vec<ProgrammeId>,
    pub created_at: TimeMs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: DeviceId,
    pub merchant: MerchantId,
    /// Ed25519 public key the device signs offline redemptions with.
    pub public_key: [u8; 32],
    pub registered_at: TimeMs,
    pub revoked_at: Option<TimeMs>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardMedium {
    Printed,
    /// A QR code sent by e-mail and shown on a page.
    Digital,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    pub id: BatchId,
    pub programme: ProgrammeId,
    pub medium: CardMedium,
    pub issued_at: TimeMs,
    pub cards: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockReason {
    /// Reported lost or stolen, or blocked by the office.
    Reported,
    /// `pin_attempts_max` wrong PINs in a row.
    PinAttempts,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardState {
    /// Issued, not sold: holds nothing.
    Inactive,
    Active,
    /// Keeps its balance until it is moved, refunded or expires.
    Blocked(BlockReason),
    /// Its balance went to the programme's expired-value account.
    Expired,
}

impl CardState {
    pub fn code(self) -> &'static str {
        match self {
            CardState::Inactive => "inactive",
            CardState::Active => "active",
            CardState::Blocked(_) => "blocked",
            CardState::Expired => "expired",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Card {
    pub id: CardId,
    pub programme: ProgrammeId,
    pub batch: BatchId,
    /// Keyed digest (HMAC-SHA256, tenant secret) of the normalised card code.
    pub code_digest: [u8; 32],
    /// Keyed digest of the PIN, if the card has one.
    pub pin_digest: Option<[u8; 32]>,
    pub state: CardState,
    pub issued_at: TimeMs,
    pub activated_at: Option<TimeMs>,
    /// Set at activation; the instant from which the card is expired.
    pub expires_at: Option<TimeMs>,
    /// Wrong PINs since the last right one.
    pub pin_failures: u8,
}

/// One card in an `IssueCards` batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewCard {
    pub id: CardId,
    pub code_digest: [u8; 32],
    pub pin_digest: Option<[u8; 32]>,
}

/// Where the money for an activation or load came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaidVia {
    /// Cash at a counter: debits the programme's sales-point cash account.
    Cash { sales_point: SalesPointId },
    /// An online payment: debits the programme's provider clearing account.
    Provider { reference: String },
}

/// What a booking did to its card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookingKind {
    Activation,
    Load,
    Redemption,
    Reversal,
    Refund,
    MoveOut,
    MoveIn,
    Expiry,
    /// What the card paid of a redemption a device made offline.
    OfflineRedemption,
}

impl BookingKind {
    /// Whether the booking credits the card (adds value).
    pub fn credits_card(self) -> bool {
        matches!(self, BookingKind::Activation | BookingKind::Load | BookingKind::Reversal | BookingKind::MoveIn)
    }
}

/// One ledger transfer the voucher domain made, as it affected one card. A move is two
/// bookings (out and in) of one transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    pub transfer: TransferId,
    pub card: CardId,
    pub kind: BookingKind,
    pub amount: Cents,
    pub at: TimeMs,
    /// For activations and loads: the sales point or payment reference.
    pub paid_via: Option<PaidVia>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reversal {
    pub at: TimeMs,
    pub transfer: TransferId,
    /// The card's balance right after; kept so a retry gets the first reply.
    pub balance_after: Cents,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redemption {
    pub id: RedemptionId,
    pub card: CardId,
    pub programme: ProgrammeId,
    pub merchant: MerchantId,
    pub device: DeviceId,
    pub amount: Cents,
    pub at: TimeMs,
    pub transfer: TransferId,
    /// The card's balance right after; kept so a retry gets the first reply.
    pub balance_after: Cents,
    pub reversal: Option<Reversal>,
}

/// A command and the time it was accepted at the edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherEnvelope {
    pub time: TimeMs,
    pub command: VoucherCommand,
}

/// What a client asks of the voucher domain; shapes are documented on the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoucherCommand {
    CreateProgramme { id: ProgrammeId, name: String, limits: ProgrammeLimits, expiry: ExpiryRule },
    CreateMerchant { id: MerchantId, name: String, iban: String },
    AcceptMerchant { merchant: MerchantId, programme: ProgrammeId },
    RegisterDevice { device: DeviceId, merchant: MerchantId, public_key: [u8; 32] },
    RevokeDevice { device: DeviceId },
    IssueCards { programme: ProgrammeId, batch: BatchId, medium: CardMedium, cards: Vec<NewCard> },
    ActivateCard { card: CardId, amount: Cents, paid_via: PaidVia, expires_at: TimeMs },
    LoadCard { card: CardId, amount: Cents, paid_via: PaidVia },
    Redeem {
        redemption: RedemptionId,
        card: CardId,
        merchant: MerchantId,
        device: DeviceId,
        amount: Cents,
        pin_digest: Option<[u8; 32]>,
    },
    ReverseRedemption { redemption: RedemptionId, merchant: MerchantId },
    RefundCard { card: CardId, amount: Cents, reference: String },
    BlockCard { card: CardId },
    MoveBalance { from: CardId, to: CardId },
    ExpireCards,
    // ----- offline redemption (`vouchers/offline.rs`) -----
    ConfigureOffline { programme: ProgrammeId, policy: OfflinePolicy },
    GrantAllowance { device: DeviceId, programme: ProgrammeId, amount: Cents, expires_at: TimeMs },
    SyncOffline { device: DeviceId, redemptions: Vec<OfflineRedemption> },
    /// Closes a merchant's period `from <= at < until` in a programme and moves its
    /// net redemptions to payout clearing (`settle.rs`).
    Settle { programme: ProgrammeId, merchant: MerchantId, from: TimeMs, until: TimeMs },
    // ----- purchases paid online (`vouchers/purchase.rs`) -----
    /// Records a provider session for a new digital card or a load; issues nothing.
    StartPurchase {
        purchase: PurchaseId,
        programme: ProgrammeId,
        target: PurchaseTarget,
        amount: Cents,
        provider: crate::payments::ProviderKind,
        session: String,
        email: String,
    },
    /// The provider's verified webhook said the money is taken. Idempotent. Issues and
    /// activates the card (expiring at `expires_at`, computed at the edge) or loads it,
    /// or records that the money is owed back.
    PurchaseSucceeded { provider: crate::payments::ProviderKind, session: String, expires_at: TimeMs },
    /// The provider said the payment will not happen; ignored once paid or failed.
    PurchaseFailed { provider: crate::payments::ProviderKind, session: String, failure: crate::payments::PaymentFailure },
    /// The provider refunded a `RefundDue` purchase under `reference`.
    PurchaseRefunded { purchase: PurchaseId, reference: String },
    /// Sets how the programme's cards look (`ProgrammeDesign`); the last one wins.
    SetDesign { programme: ProgrammeId, design: ProgrammeDesign },
}

/// A successful command's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoucherReply {
    ProgrammeCreated { programme: ProgrammeId },
    MerchantCreated { merchant: MerchantId },
    MerchantAccepted { merchant: MerchantId, programme: ProgrammeId },
    DeviceRegistered { device: DeviceId },
    DeviceRevoked { device: DeviceId },
    CardsIssued { batch: BatchId, cards: u32 },
    CardActivated { card: CardId, balance: Cents, expires_at: TimeMs },
    CardLoaded { card: CardId, balance: Cents },
    Redeemed { redemption: RedemptionId, card: CardId, amount: Cents, balance: Cents },
    /// The PIN was wrong; the attempt is recorded. `attempts_left == 0` means the card
    /// is now blocked.
    PinRefused { card: CardId, attempts_left: u8 },
    Reversed { redemption: RedemptionId, amount: Cents, balance: Cents },
    CardRefunded { card: CardId, amount: Cents, balance: Cents },
    CardBlocked { card: CardId },
    BalanceMoved { from: CardId, to: CardId, amount: Cents },
    CardsExpired { cards: u32, value: Cents },
    OfflineConfigured { programme: ProgrammeId },
    /// `reservation` is the ledger reservation and names the allowance.
    AllowanceGranted { device: DeviceId, reservation: TransferId, amount: Cents, expires_at: TimeMs },
    Synced { device: DeviceId, summary: SyncSummary },
    Settled { settlement: SettlementId, amount: Cents },
    /// A purchase's state after a purchase command.
    Purchase(PurchaseReply),
    DesignSet { programme: ProgrammeId },
}

/// Domain rejections, checked per command in the order documented on its handler in
/// `vouchers/state.rs`. Codes are stable once released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoucherRejection {
    NameInvalid,
    LimitsInvalid,
    ProgrammeExists,
    TooManyProgrammes,
    UnknownProgramme,
    IbanInvalid,
    MerchantExists,
    TooManyMerchants,
    UnknownMerchant,
    DeviceExists,
    TooManyDevices,
    UnknownDevice,
    BatchSizeInvalid,
    BatchExists,
    CardIdInvalid,
    CardExists,
    CodeDigestTaken,
    TooManyCards,
    UnknownCard,
    AmountInvalid,
    LoadTooLarge,
    ReferenceInvalid,
    ExpiryInvalid,
    CardNotInactive,
    CardInactive,
    CardBlocked,
    CardExpired,
    RedemptionIdInvalid,
    RedemptionIdReused,
    UnknownRedemption,
    DeviceNotMerchants,
    DeviceRevoked,
    MerchantNotAccepted,
    PinRequired,
    TooManyRedemptions,
    RedemptionOfOtherMerchant,
    ReversalWindowClosed,
    CardNotBlocked,
    CardsSame,
    ProgrammesDiffer,
    NothingToMove,
    /// The programme has no offline policy.
    OfflineNotConfigured,
    /// The device already holds an open allowance.
    AllowanceOpen,
    /// Granting would take the programme's open allowances beyond its bound.
    RiskBoundReached,
    /// A sync names one sequence number twice.
    SequenceReused,
    /// A settlement period that is empty or ends before it starts.
    PeriodInvalid,
    /// A settlement period that has not ended yet.
    PeriodNotOver,
    /// A settlement period that starts before the merchant's last settled one ended.
    PeriodAlreadySettled,
    /// A settlement period that would leave time unsettled before it.
    PeriodGap,
    /// A settlement period whose reversals exceed its redemptions.
    NetNegative,
    TooManySettlements,
    /// The ledger refused the transfer; its own code is this rejection's code.
    Ledger(LedgerRejection),
    /// A purchase id that is 0 or already used.
    PurchaseIdInvalid,
    /// A provider session that is empty, too long, or already names a purchase.
    PurchaseSessionInvalid,
    EmailInvalid,
    UnknownPurchase,
    /// A refund was recorded for a purchase that owes none.
    NoRefundDue,
    TooManyPurchases,
    /// An accent beyond 0xFFFFFF, or a tagline too long or with control characters.
    DesignInvalid,
}

impl VoucherRejection {
    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        use VoucherRejection::*;
        match self {
            NameInvalid => "name_invalid",
            LimitsInvalid => "limits_invalid",
            ProgrammeExists => "programme_exists",
            TooManyProgrammes => "too_many_programmes",
            UnknownProgramme => "unknown_programme",
            IbanInvalid => "iban_invalid",
            MerchantExists => "merchant_exists",
            TooManyMerchants => "too_many_merchants",
            UnknownMerchant => "unknown_merchant",
            DeviceExists => "device_exists",
            TooManyDevices => "too_many_devices",
            UnknownDevice => "unknown_device",
            BatchSizeInvalid => "batch_size_invalid",
            BatchExists => "batch_exists",
            CardIdInvalid => "card_id_invalid",
            CardExists => "card_exists",
            CodeDigestTaken => "code_digest_taken",
            TooManyCards => "too_many_cards",
            UnknownCard => "unknown_card",
            AmountInvalid => "amount_invalid",
            LoadTooLarge => "load_too_large",
            ReferenceInvalid => "reference_invalid",
            ExpiryInvalid => "expiry_invalid",
            CardNotInactive => "card_not_inactive",
            CardInactive => "card_inactive",
            CardBlocked => "card_blocked",
            CardExpired => "card_expired",
            RedemptionIdInvalid => "redemption_id_invalid",
            RedemptionIdReused => "redemption_id_reused",
            UnknownRedemption => "unknown_redemption",
            DeviceNotMerchants => "device_not_merchants",
            DeviceRevoked => "device_revoked",
            MerchantNotAccepted => "merchant_not_accepted",
            PinRequired => "pin_required",
            TooManyRedemptions => "too_many_redemptions",
            RedemptionOfOtherMerchant => "redemption_of_other_merchant",
            ReversalWindowClosed => "reversal_window_closed",
            CardNotBlocked => "card_not_blocked",
            CardsSame => "cards_same",
            ProgrammesDiffer => "programmes_differ",
            NothingToMove => "nothing_to_move",
            OfflineNotConfigured => "offline_not_configured",
            AllowanceOpen => "allowance_open",
            RiskBoundReached => "risk_bound_reached",
            SequenceReused => "sequence_reused",
            PeriodInvalid => "period_invalid",
            PeriodNotOver => "period_not_over",
            PeriodAlreadySettled => "period_already_settled",
            PeriodGap => "period_gap",
            NetNegative => "net_negative",
            TooManySettlements => "too_many_settlements",
            Ledger(rejection) => rejection.code(),
            PurchaseIdInvalid => "purchase_id_invalid",
            PurchaseSessionInvalid => "invalid_payment_session",
            EmailInvalid => "email_invalid",
            UnknownPurchase => "unknown_purchase",
            NoRefundDue => "no_refund_due",
            TooManyPurchases => "too_many_purchases",
            DesignInvalid => "design_invalid",
        }
    }
}

/// The outcome of one voucher command.
pub type VoucherOutcome = Result<VoucherReply, VoucherRejection>;
