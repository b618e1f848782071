//! The wire mirror of the voucher domain (`sturmfest_core::vouchers`): its commands
//! inside `WireCommand::Voucher`, its replies inside `WireReply::Voucher` (remembered
//! idempotent replies), and its snapshot section (format version 4). Like the rest
//! of the codec, field order is the format: variants and fields are only ever
//! appended, and every enum is spelled out by name so an unknown tag fails to decode
//! instead of turning into another.

use serde::{Deserialize, Serialize};
use sturmfest_core::ledger::{DeviceId, ProgrammeId, TransferId};
use sturmfest_core::vouchers as v;
use sturmfest_core::{Cents, TimeMs};

#[derive(Serialize, Deserialize)]
pub(super) struct WireLimits {
    card_balance_cents_max: i64,
    load_cents_max: i64,
    card_offline_cents_max: i64,
    reversal_window_ms: i64,
}

#[derive(Serialize, Deserialize)]
pub(super) enum WireExpiryRule {
    EndOfThirdYearAfterSale,
}

#[derive(Serialize, Deserialize)]
pub(super) enum WireMedium {
    Printed,
    Digital,
}

#[derive(Serialize, Deserialize)]
pub(super) enum WirePaidVia {
    Cash(u32),
    Provider(String),
}

#[derive(Serialize, Deserialize)]
pub(super) struct WireNewCard {
    id: u64,
    code_digest: [u8; 32],
    pin_digest: Option<[u8; 32]>,
}

#[derive(Serialize, Deserialize)]
pub(super) enum WireVoucherCommand {
    CreateProgramme { id: u32, name: String, limits: WireLimits, expiry: WireExpiryRule },
    CreateMerchant { id: u32, name: String, iban: String },
    AcceptMerchant { merchant: u32, programme: u32 },
    RegisterDevice { device: u64, merchant: u32, public_key: [u8; 32] },
    RevokeDevice { device: u64 },
    IssueCards { programme: u32, batch: u32, medium: WireMedium, cards: Vec<WireNewCard> },
    ActivateCard { card: u64, amount: i64, paid_via: WirePaidVia, expires_at: i64 },
    LoadCard { card: u64, amount: i64, paid_via: WirePaidVia },
    Redeem { redemption: u128, card: u64, merchant: u32, device: u64, amount: i64, pin_digest: Option<[u8; 32]> },
    ReverseRedemption { redemption: u128, merchant: u32 },
    RefundCard { card: u64, amount: i64, reference: String },
    BlockCard { card: u64 },
    MoveBalance { from: u64, to: u64 },
    ExpireCards,
    ConfigureOffline { programme: u32, device_allowance_cents_max: i64, open_allowances_cents_max: i64 },
    GrantAllowance { device: u64, programme: u32, amount: i64, expires_at: i64 },
    SyncOffline { device: u64, redemptions: Vec<WireOfflineRedemption> },
    Settle { programme: u32, merchant: u32, from: i64, until: i64 },
    Purchase(super::purchase_wire::WirePurchaseCommand),
    SetDesign { programme: u32, accent_rgb: u32, tagline: String },
}

#[derive(Serialize, Deserialize)]
pub(super) struct WireOfflineRedemption {
    id: u128,
    sequence: u64,
    card: u64,
    amount: i64,
    at: i64,
    certificate_serial: u64,
    certificate_balance: i64,
}

#[derive(Serialize, Deserialize)]
pub(super) struct WireSyncSummary {
    booked: u32,
    refused: u32,
    duplicates: u32,
    card_paid: i64,
    risk_paid: i64,
    unpaid: i64,
    released: i64,
}

#[derive(Serialize, Deserialize)]
pub(super) enum WireVoucherReply {
    ProgrammeCreated(u32),
    MerchantCreated(u32),
    MerchantAccepted { merchant: u32, programme: u32 },
    DeviceRegistered(u64),
    DeviceRevoked(u64),
    CardsIssued { batch: u32, cards: u32 },
    CardActivated { card: u64, balance: i64, expires_at: i64 },
    CardLoaded { card: u64, balance: i64 },
    Redeemed { redemption: u128, card: u64, amount: i64, balance: i64 },
    PinRefused { card: u64, attempts_left: u8 },
    Reversed { redemption: u128, amount: i64, balance: i64 },
    CardRefunded { card: u64, amount: i64, balance: i64 },
    CardBlocked(u64),
    BalanceMoved { from: u64, to: u64, amount: i64 },
    CardsExpired { cards: u32, value: i64 },
    OfflineConfigured(u32),
    AllowanceGranted { device: u64, reservation: u128, amount: i64, expires_at: i64 },
    Synced { device: u64, summary: WireSyncSummary },
    Settled { settlement: u32, amount: i64 },
    Purchase(super::purchase_wire::WirePurchaseReply),
    DesignSet(u32),
}

#[derive(Serialize, Deserialize)]
struct WireProgramme {
    id: u32,
    name: String,
    limits: WireLimits,
    expiry: WireExpiryRule,
    created_at: i64,
}

#[derive(Serialize, Deserialize)]
struct WireMerchant {
    id: u32,
    name: String,
    iban: String,
    programmes: Vec<u32>,
    created_at: i64,
}

#[derive(Serialize, Deserialize)]
struct WireDevice {
    id: u64,
    merchant: u32,
    public_key: [u8; 32],
    registered_at: i64,
    revoked_at: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct WireBatch {
    id: u32,
    programme: u32,
    medium: WireMedium,
    issued_at: i64,
    cards: u32,
}

#[derive(Serialize, Deserialize)]
enum WireCardState {
    Inactive,
    Active,
    BlockedReported,
    BlockedPinAttempts,
    Expired,
}

#[derive(Serialize, Deserialize)]
struct WireCard {
    id: u64,
    programme: u32,
    batch: u32,
    code_digest: [u8; 32],
    pin_digest: Option<[u8; 32]>,
    state: WireCardState,
    issued_at: i64,
    activated_at: Option<i64>,
    expires_at: Option<i64>,
    pin_failures: u8,
}

#[derive(Serialize, Deserialize)]
struct WireReversal {
    at: i64,
    transfer: u128,
    balance_after: i64,
}

#[derive(Serialize, Deserialize)]
struct WireRedemption {
    id: u128,
    card: u64,
    programme: u32,
    merchant: u32,
    device: u64,
    amount: i64,
    at: i64,
    transfer: u128,
    balance_after: i64,
    reversal: Option<WireReversal>,
}

#[derive(Serialize, Deserialize)]
enum WireBookingKind {
    Activation,
    Load,
    Redemption,
    Reversal,
    Refund,
    MoveOut,
    MoveIn,
    Expiry,
    OfflineRedemption,
}

#[derive(Serialize, Deserialize)]
struct WireBooking {
    transfer: u128,
    card: u64,
    kind: WireBookingKind,
    amount: i64,
    at: i64,
    paid_via: Option<WirePaidVia>,
}

/// The snapshot section of format version 4.
#[derive(Serialize, Deserialize)]
pub(super) struct WireVouchers {
    now: i64,
    next_transfer: u64,
    programmes: Vec<WireProgramme>,
    merchants: Vec<WireMerchant>,
    devices: Vec<WireDevice>,
    batches: Vec<WireBatch>,
    cards: Vec<WireCard>,
    redemptions: Vec<WireRedemption>,
    bookings: Vec<WireBooking>,
}

// ----- small conversions -----

fn limits_to(l: &v::ProgrammeLimits) -> WireLimits {
    WireLimits {
        card_balance_cents_max: l.card_balance_cents_max.0,
        load_cents_max: l.load_cents_max.0,
        card_offline_cents_max: l.card_offline_cents_max.0,
        reversal_window_ms: l.reversal_window_ms,
    }
}

fn limits_from(w: WireLimits) -> v::ProgrammeLimits {
    v::ProgrammeLimits {
        card_balance_cents_max: Cents(w.card_balance_cents_max),
        load_cents_max: Cents(w.load_cents_max),
        card_offline_cents_max: Cents(w.card_offline_cents_max),
        reversal_window_ms: w.reversal_window_ms,
    }
}

fn expiry_to(e: v::ExpiryRule) -> WireExpiryRule {
    match e {
        v::ExpiryRule::EndOfThirdYearAfterSale => WireExpiryRule::EndOfThirdYearAfterSale,
    }
}

fn expiry_from(w: WireExpiryRule) -> v::ExpiryRule {
    match w {
        WireExpiryRule::EndOfThirdYearAfterSale => v::ExpiryRule::EndOfThirdYearAfterSale,
    }
}

fn medium_to(m: v::CardMedium) -> WireMedium {
    match m {
        v::CardMedium::Printed => WireMedium::Printed,
        v::CardMedium::Digital => WireMedium::Digital,
    }
}

fn medium_from(w: WireMedium) -> v::CardMedium {
    match w {
        WireMedium::Printed => v::CardMedium::Printed,
        WireMedium::Digital => v::CardMedium::Digital,
    }
}

fn paid_to(p: &v::PaidVia) -> WirePaidVia {
    match p {
        v::PaidVia::Cash { sales_point } => WirePaidVia::Cash(sales_point.0),
        v::PaidVia::Provider { reference } => WirePaidVia::Provider(reference.clone()),
    }
}

fn paid_from(w: WirePaidVia) -> v::PaidVia {
    match w {
        WirePaidVia::Cash(point) => v::PaidVia::Cash { sales_point: v::SalesPointId(point) },
        WirePaidVia::Provider(reference) => v::PaidVia::Provider { reference },
    }
}

fn state_to(s: v::CardState) -> WireCardState {
    match s {
        v::CardState::Inactive => WireCardState::Inactive,
        v::CardState::Active => WireCardState::Active,
        v::CardState::Blocked(v::BlockReason::Reported) => WireCardState::BlockedReported,
        v::CardState::Blocked(v::BlockReason::PinAttempts) => WireCardState::BlockedPinAttempts,
        v::CardState::Expired => WireCardState::Expired,
    }
}

fn state_from(w: WireCardState) -> v::CardState {
    match w {
        WireCardState::Inactive => v::CardState::Inactive,
        WireCardState::Active => v::CardState::Active,
        WireCardState::BlockedReported => v::CardState::Blocked(v::BlockReason::Reported),
        WireCardState::BlockedPinAttempts => v::CardState::Blocked(v::BlockReason::PinAttempts),
        WireCardState::Expired => v::CardState::Expired,
    }
}

fn booking_kind_to(k: v::BookingKind) -> WireBookingKind {
    use v::BookingKind as K;
    match k {
        K::Activation => WireBookingKind::Activation,
        K::Load => WireBookingKind::Load,
        K::Redemption => WireBookingKind::Redemption,
        K::Reversal => WireBookingKind::Reversal,
        K::Refund => WireBookingKind::Refund,
        K::MoveOut => WireBookingKind::MoveOut,
        K::MoveIn => WireBookingKind::MoveIn,
        K::Expiry => WireBookingKind::Expiry,
        K::OfflineRedemption => WireBookingKind::OfflineRedemption,
    }
}

fn booking_kind_from(w: WireBookingKind) -> v::BookingKind {
    use v::BookingKind as K;
    match w {
        WireBookingKind::Activation => K::Activation,
        WireBookingKind::Load => K::Load,
        WireBookingKind::Redemption => K::Redemption,
        WireBookingKind::Reversal => K::Reversal,
        WireBookingKind::Refund => K::Refund,
        WireBookingKind::MoveOut => K::MoveOut,
        WireBookingKind::MoveIn => K::MoveIn,
        WireBookingKind::Expiry => K::Expiry,
        WireBookingKind::OfflineRedemption => K::OfflineRedemption,
    }
}

// ----- commands and replies -----

fn offline_redemption_to(r: &v::OfflineRedemption) -> WireOfflineRedemption {
    WireOfflineRedemption {
        id: r.id.0,
        sequence: r.sequence,
        card: r.card.0,
        amount: r.amount.0,
        at: r.at.0,
        certificate_serial: r.certificate_serial,
        certificate_balance: r.certificate_balance.0,
    }
}

fn offline_redemption_from(w: WireOfflineRedemption) -> v::OfflineRedemption {
    v::OfflineRedemption {
        id: v::RedemptionId(w.id),
        sequence: w.sequence,
        card: v::CardId(w.card),
        amount: Cents(w.amount),
        at: TimeMs(w.at),
        certificate_serial: w.certificate_serial,
        certificate_balance: Cents(w.certificate_balance),
    }
}

pub(super) fn voucher_command_to(c: &v::VoucherCommand) -> WireVoucherCommand {
    use v::VoucherCommand as C;
    use WireVoucherCommand as W;
    match c {
        C::CreateProgramme { id, name, limits, expiry } => {
            W::CreateProgramme { id: id.0, name: name.clone(), limits: limits_to(limits), expiry: expiry_to(*expiry) }
        }
        C::CreateMerchant { id, name, iban } => W::CreateMerchant { id: id.0, name: name.clone(), iban: iban.clone() },
        C::AcceptMerchant { merchant, programme } => W::AcceptMerchant { merchant: merchant.0, programme: programme.0 },
        C::RegisterDevice { device, merchant, public_key } => {
            W::RegisterDevice { device: device.0, merchant: merchant.0, public_key: *public_key }
        }
        C::RevokeDevice { device } => W::RevokeDevice { device: device.0 },
        C::IssueCards { programme, batch, medium, cards } => W::IssueCards {
            programme: programme.0,
            batch: batch.0,
            medium: medium_to(*medium),
            cards: cards
                .iter()
                .map(|c| WireNewCard { id: c.id.0, code_digest: c.code_digest, pin_digest: c.pin_digest })
                .collect(),
        },
        C::ActivateCard { card, amount, paid_via, expires_at } => {
            W::ActivateCard { card: card.0, amount: amount.0, paid_via: paid_to(paid_via), expires_at: expires_at.0 }
        }
        C::LoadCard { card, amount, paid_via } => W::LoadCard { card: card.0, amount: amount.0, paid_via: paid_to(paid_via) },
        C::Redeem { redemption, card, merchant, device, amount, pin_digest } => W::Redeem {
            redemption: redemption.0,
            card: card.0,
            merchant: merchant.0,
            device: device.0,
            amount: amount.0,
            pin_digest: *pin_digest,
        },
        C::ReverseRedemption { redemption, merchant } => {
            W::ReverseRedemption { redemption: redemption.0, merchant: merchant.0 }
        }
        C::RefundCard { card, amount, reference } => {
            W::RefundCard { card: card.0, amount: amount.0, reference: reference.clone() }
        }
        C::BlockCard { card } => W::BlockCard { card: card.0 },
        C::MoveBalance { from, to } => W::MoveBalance { from: from.0, to: to.0 },
        C::ExpireCards => W::ExpireCards,
        C::ConfigureOffline { programme, policy } => W::ConfigureOffline {
            programme: programme.0,
            device_allowance_cents_max: policy.device_allowance_cents_max.0,
            open_allowances_cents_max: policy.open_allowances_cents_max.0,
        },
        C::GrantAllowance { device, programme, amount, expires_at } => {
            W::GrantAllowance { device: device.0, programme: programme.0, amount: amount.0, expires_at: expires_at.0 }
        }
        C::SyncOffline { device, redemptions } => {
            W::SyncOffline { device: device.0, redemptions: redemptions.iter().map(offline_redemption_to).collect() }
        }
        C::Settle { programme, merchant, from, until } => {
            W::Settle { programme: programme.0, merchant: merchant.0, from: from.0, until: until.0 }
        }
        C::StartPurchase { .. } | C::PurchaseSucceeded { .. } | C::PurchaseFailed { .. } | C::PurchaseRefunded { .. } => {
            W::Purchase(super::purchase_wire::purchase_command_to(c).expect("a purchase command"))
        }
        C::SetDesign { programme, design } => {
            W::SetDesign { programme: programme.0, accent_rgb: design.accent_rgb, tagline: design.tagline.clone() }
        }
    }
}

pub(super) fn voucher_command_from(w: WireVoucherCommand) -> v::VoucherCommand {
    use v::VoucherCommand as C;
    use WireVoucherCommand as W;
    match w {
        W::CreateProgramme { id, name, limits, expiry } => {
            C::CreateProgramme { id: ProgrammeId(id), name, limits: limits_from(limits), expiry: expiry_from(expiry) }
        }
        W::CreateMerchant { id, name, iban } => C::CreateMerchant { id: v::MerchantId(id), name, iban },
        W::AcceptMerchant { merchant, programme } => {
            C::AcceptMerchant { merchant: v::MerchantId(merchant), programme: ProgrammeId(programme) }
        }
        W::RegisterDevice { device, merchant, public_key } => {
            C::RegisterDevice { device: DeviceId(device), merchant: v::MerchantId(merchant), public_key }
        }
        W::RevokeDevice { device } => C::RevokeDevice { device: DeviceId(device) },
        W::IssueCards { programme, batch, medium, cards } => C::IssueCards {
            programme: ProgrammeId(programme),
            batch: v::BatchId(batch),
            medium: medium_from(medium),
            cards: cards
                .into_iter()
                .map(|c| v::NewCard { id: v::CardId(c.id), code_digest: c.code_digest, pin_digest: c.pin_digest })
                .collect(),
        },
        W::ActivateCard { card, amount, paid_via, expires_at } => C::ActivateCard {
            card: v::CardId(card),
            amount: Cents(amount),
            paid_via: paid_from(paid_via),
            expires_at: TimeMs(expires_at),
        },
        W::LoadCard { card, amount, paid_via } => {
            C::LoadCard { card: v::CardId(card), amount: Cents(amount), paid_via: paid_from(paid_via) }
        }
        W::Redeem { redemption, card, merchant, device, amount, pin_digest } => C::Redeem {
            redemption: v::RedemptionId(redemption),
            card: v::CardId(card),
            merchant: v::MerchantId(merchant),
            device: DeviceId(device),
            amount: Cents(amount),
            pin_digest,
        },
        W::ReverseRedemption { redemption, merchant } => {
            C::ReverseRedemption { redemption: v::RedemptionId(redemption), merchant: v::MerchantId(merchant) }
        }
        W::RefundCard { card, amount, reference } => C::RefundCard { card: v::CardId(card), amount: Cents(amount), reference },
        W::BlockCard { card } => C::BlockCard { card: v::CardId(card) },
        W::MoveBalance { from, to } => C::MoveBalance { from: v::CardId(from), to: v::CardId(to) },
        W::ExpireCards => C::ExpireCards,
        W::ConfigureOffline { programme, device_allowance_cents_max, open_allowances_cents_max } => C::ConfigureOffline {
            programme: ProgrammeId(programme),
            policy: v::OfflinePolicy {
                device_allowance_cents_max: Cents(device_allowance_cents_max),
                open_allowances_cents_max: Cents(open_allowances_cents_max),
            },
        },
        W::GrantAllowance { device, programme, amount, expires_at } => C::GrantAllowance {
            device: DeviceId(device),
            programme: ProgrammeId(programme),
            amount: Cents(amount),
            expires_at: TimeMs(expires_at),
        },
        W::SyncOffline { device, redemptions } => {
            C::SyncOffline { device: DeviceId(device), redemptions: redemptions.into_iter().map(offline_redemption_from).collect() }
        }
        W::Settle { programme, merchant, from, until } => C::Settle {
            programme: ProgrammeId(programme),
            merchant: v::MerchantId(merchant),
            from: TimeMs(from),
            until: TimeMs(until),
        },
        W::Purchase(p) => super::purchase_wire::purchase_command_from(p),
        W::SetDesign { programme, accent_rgb, tagline } => {
            v::VoucherCommand::SetDesign { programme: ProgrammeId(programme), design: v::ProgrammeDesign { accent_rgb, tagline } }
        }
    }
}

pub(super) fn voucher_reply_to(r: &v::VoucherReply) -> WireVoucherReply {
    use v::VoucherReply as R;
    use WireVoucherReply as W;
    match *r {
        R::ProgrammeCreated { programme } => W::ProgrammeCreated(programme.0),
        R::MerchantCreated { merchant } => W::MerchantCreated(merchant.0),
        R::MerchantAccepted { merchant, programme } => W::MerchantAccepted { merchant: merchant.0, programme: programme.0 },
        R::DeviceRegistered { device } => W::DeviceRegistered(device.0),
        R::DeviceRevoked { device } => W::DeviceRevoked(device.0),
        R::CardsIssued { batch, cards } => W::CardsIssued { batch: batch.0, cards },
        R::CardActivated { card, balance, expires_at } => {
            W::CardActivated { card: card.0, balance: balance.0, expires_at: expires_at.0 }
        }
        R::CardLoaded { card, balance } => W::CardLoaded { card: card.0, balance: balance.0 },
        R::Redeemed { redemption, card, amount, balance } => {
            W::Redeemed { redemption: redemption.0, card: card.0, amount: amount.0, balance: balance.0 }
        }
        R::PinRefused { card, attempts_left } => W::PinRefused { card: card.0, attempts_left },
        R::Reversed { redemption, amount, balance } => {
            W::Reversed { redemption: redemption.0, amount: amount.0, balance: balance.0 }
        }
        R::CardRefunded { card, amount, balance } => W::CardRefunded { card: card.0, amount: amount.0, balance: balance.0 },
        R::CardBlocked { card } => W::CardBlocked(card.0),
        R::BalanceMoved { from, to, amount } => W::BalanceMoved { from: from.0, to: to.0, amount: amount.0 },
        R::CardsExpired { cards, value } => W::CardsExpired { cards, value: value.0 },
        R::OfflineConfigured { programme } => W::OfflineConfigured(programme.0),
        R::AllowanceGranted { device, reservation, amount, expires_at } => W::AllowanceGranted {
            device: device.0,
            reservation: reservation.0,
            amount: amount.0,
            expires_at: expires_at.0,
        },
        R::Synced { device, summary: s } => W::Synced {
            device: device.0,
            summary: WireSyncSummary {
                booked: s.booked,
                refused: s.refused,
                duplicates: s.duplicates,
                card_paid: s.card_paid.0,
                risk_paid: s.risk_paid.0,
                unpaid: s.unpaid.0,
                released: s.released.0,
            },
        },
        R::Settled { settlement, amount } => W::Settled { settlement: settlement.0, amount: amount.0 },
        R::Purchase(p) => W::Purchase(super::purchase_wire::purchase_reply_to(&p)),
        R::DesignSet { programme } => W::DesignSet(programme.0),
    }
}

pub(super) fn voucher_reply_from(w: WireVoucherReply) -> v::VoucherReply {
    use v::VoucherReply as R;
    use WireVoucherReply as W;
    let card = v::CardId;
    match w {
        W::ProgrammeCreated(p) => R::ProgrammeCreated { programme: ProgrammeId(p) },
        W::MerchantCreated(m) => R::MerchantCreated { merchant: v::MerchantId(m) },
        W::MerchantAccepted { merchant, programme } => {
            R::MerchantAccepted { merchant: v::MerchantId(merchant), programme: ProgrammeId(programme) }
        }
        W::DeviceRegistered(d) => R::DeviceRegistered { device: DeviceId(d) },
        W::DeviceRevoked(d) => R::DeviceRevoked { device: DeviceId(d) },
        W::CardsIssued { batch, cards } => R::CardsIssued { batch: v::BatchId(batch), cards },
        W::CardActivated { card: c, balance, expires_at } => {
            R::CardActivated { card: card(c), balance: Cents(balance), expires_at: TimeMs(expires_at) }
        }
        W::CardLoaded { card: c, balance } => R::CardLoaded { card: card(c), balance: Cents(balance) },
        W::Redeemed { redemption, card: c, amount, balance } => R::Redeemed {
            redemption: v::RedemptionId(redemption),
            card: card(c),
            amount: Cents(amount),
            balance: Cents(balance),
        },
        W::PinRefused { card: c, attempts_left } => R::PinRefused { card: card(c), attempts_left },
        W::Reversed { redemption, amount, balance } => {
            R::Reversed { redemption: v::RedemptionId(redemption), amount: Cents(amount), balance: Cents(balance) }
        }
        W::CardRefunded { card: c, amount, balance } => {
            R::CardRefunded { card: card(c), amount: Cents(amount), balance: Cents(balance) }
        }
        W::CardBlocked(c) => R::CardBlocked { card: card(c) },
        W::BalanceMoved { from, to, amount } => R::BalanceMoved { from: card(from), to: card(to), amount: Cents(amount) },
        W::CardsExpired { cards, value } => R::CardsExpired { cards, value: Cents(value) },
        W::OfflineConfigured(p) => R::OfflineConfigured { programme: ProgrammeId(p) },
        W::AllowanceGranted { device, reservation, amount, expires_at } => R::AllowanceGranted {
            device: DeviceId(device),
            reservation: TransferId(reservation),
            amount: Cents(amount),
            expires_at: TimeMs(expires_at),
        },
        W::Synced { device, summary: s } => R::Synced {
            device: DeviceId(device),
            summary: v::SyncSummary {
                booked: s.booked,
                refused: s.refused,
                duplicates: s.duplicates,
                card_paid: Cents(s.card_paid),
                risk_paid: Cents(s.risk_paid),
                unpaid: Cents(s.unpaid),
                released: Cents(s.released),
            },
        },
        W::Settled { settlement, amount } => R::Settled { settlement: v::SettlementId(settlement), amount: Cents(amount) },
        W::Purchase(p) => R::Purchase(super::purchase_wire::purchase_reply_from(p)),
        W::DesignSet(programme) => R::DesignSet { programme: ProgrammeId(programme) },
    }
}

/// The reply kind and the number the core decided (a balance, a count, what moved),
/// so replay checks the decision and not only that something was accepted.
pub(super) fn voucher_summary(reply: &v::VoucherReply) -> (&'static str, u64) {
    use v::VoucherReply as R;
    let cents = |c: Cents| c.0 as u64;
    match *reply {
        R::ProgrammeCreated { programme } => ("voucher_programme_created", u64::from(programme.0)),
        R::MerchantCreated { merchant } => ("voucher_merchant_created", u64::from(merchant.0)),
        R::MerchantAccepted { merchant, .. } => ("voucher_merchant_accepted", u64::from(merchant.0)),
        R::DeviceRegistered { device } => ("voucher_device_registered", device.0),
        R::DeviceRevoked { device } => ("voucher_device_revoked", device.0),
        R::CardsIssued { cards, .. } => ("voucher_cards_issued", u64::from(cards)),
        R::CardActivated { balance, .. } => ("voucher_card_activated", cents(balance)),
        R::CardLoaded { balance, .. } => ("voucher_card_loaded", cents(balance)),
        R::Redeemed { balance, .. } => ("voucher_redeemed", cents(balance)),
        R::PinRefused { attempts_left, .. } => ("voucher_pin_refused", u64::from(attempts_left)),
        R::Reversed { balance, .. } => ("voucher_reversed", cents(balance)),
        R::CardRefunded { balance, .. } => ("voucher_card_refunded", cents(balance)),
        R::CardBlocked { card } => ("voucher_card_blocked", card.0),
        R::BalanceMoved { amount, .. } => ("voucher_balance_moved", cents(amount)),
        R::CardsExpired { value, .. } => ("voucher_cards_expired", cents(value)),
        R::OfflineConfigured { programme } => ("voucher_offline_configured", u64::from(programme.0)),
        R::AllowanceGranted { amount, .. } => ("voucher_allowance_granted", cents(amount)),
        // What the merchant was paid is the decision a replay must reproduce.
        R::Synced { summary, .. } => ("voucher_synced", cents(summary.card_paid.plus(summary.risk_paid))),
        R::Settled { amount, .. } => ("voucher_settled", cents(amount)),
        R::Purchase(p) => super::purchase_wire::purchase_summary(&p),
        R::DesignSet { programme } => ("voucher_design_set", u64::from(programme.0)),
    }
}

// ----- the snapshot section -----

pub(super) fn vouchers_to(p: &v::VoucherParts) -> WireVouchers {
    WireVouchers {
        now: p.now.0,
        next_transfer: p.next_transfer,
        programmes: p
            .programmes
            .iter()
            .map(|x| WireProgramme {
                id: x.id.0,
                name: x.name.clone(),
                limits: limits_to(&x.limits),
                expiry: expiry_to(x.expiry),
                created_at: x.created_at.0,
            })
            .collect(),
        merchants: p
            .merchants
            .iter()
            .map(|m| WireMerchant {
                id: m.id.0,
                name: m.name.clone(),
                iban: m.iban.clone(),
                programmes: m.programmes.iter().map(|p| p.0).collect(),
                created_at: m.created_at.0,
            })
            .collect(),
        devices: p
            .devices
            .iter()
            .map(|d| WireDevice {
                id: d.id.0,
                merchant: d.merchant.0,
                public_key: d.public_key,
                registered_at: d.registered_at.0,
                revoked_at: d.revoked_at.map(|t| t.0),
            })
            .collect(),
        batches: p
            .batches
            .iter()
            .map(|b| WireBatch {
                id: b.id.0,
                programme: b.programme.0,
                medium: medium_to(b.medium),
                issued_at: b.issued_at.0,
                cards: b.cards,
            })
            .collect(),
        cards: p
            .cards
            .iter()
            .map(|c| WireCard {
                id: c.id.0,
                programme: c.programme.0,
                batch: c.batch.0,
                code_digest: c.code_digest,
                pin_digest: c.pin_digest,
                state: state_to(c.state),
                issued_at: c.issued_at.0,
                activated_at: c.activated_at.map(|t| t.0),
                expires_at: c.expires_at.map(|t| t.0),
                pin_failures: c.pin_failures,
            })
            .collect(),
        redemptions: p
            .redemptions
            .iter()
            .map(|r| WireRedemption {
                id: r.id.0,
                card: r.card.0,
                programme: r.programme.0,
                merchant: r.merchant.0,
                device: r.device.0,
                amount: r.amount.0,
                at: r.at.0,
                transfer: r.transfer.0,
                balance_after: r.balance_after.0,
                reversal: r
                    .reversal
                    .map(|x| WireReversal { at: x.at.0, transfer: x.transfer.0, balance_after: x.balance_after.0 }),
            })
            .collect(),
        bookings: p
            .bookings
            .iter()
            .map(|b| WireBooking {
                transfer: b.transfer.0,
                card: b.card.0,
                kind: booking_kind_to(b.kind),
                amount: b.amount.0,
                at: b.at.0,
                paid_via: b.paid_via.as_ref().map(paid_to),
            })
            .collect(),
    }
}

pub(super) fn vouchers_from(w: WireVouchers) -> v::VoucherParts {
    v::VoucherParts {
        offline: v::OfflineParts::default(),
        purchases: Vec::new(),
        now: TimeMs(w.now),
        next_transfer: w.next_transfer,
        programmes: w
            .programmes
            .into_iter()
            .map(|x| v::Programme {
                id: ProgrammeId(x.id),
                name: x.name,
                limits: limits_from(x.limits),
                expiry: expiry_from(x.expiry),
                created_at: TimeMs(x.created_at),
                // Snapshot version 8 appends the designs (`designs_to`); older ones have none.
                design: v::ProgrammeDesign::default(),
            })
            .collect(),
        merchants: w
            .merchants
            .into_iter()
            .map(|m| v::Merchant {
                id: v::MerchantId(m.id),
                name: m.name,
                iban: m.iban,
                programmes: m.programmes.into_iter().map(ProgrammeId).collect(),
                created_at: TimeMs(m.created_at),
            })
            .collect(),
        devices: w
            .devices
            .into_iter()
            .map(|d| v::Device {
                id: DeviceId(d.id),
                merchant: v::MerchantId(d.merchant),
                public_key: d.public_key,
                registered_at: TimeMs(d.registered_at),
                revoked_at: d.revoked_at.map(TimeMs),
            })
            .collect(),
        batches: w
            .batches
            .into_iter()
            .map(|b| v::Batch {
                id: v::BatchId(b.id),
                programme: ProgrammeId(b.programme),
                medium: medium_from(b.medium),
                issued_at: TimeMs(b.issued_at),
                cards: b.cards,
            })
            .collect(),
        cards: w
            .cards
            .into_iter()
            .map(|c| v::Card {
                id: v::CardId(c.id),
                programme: ProgrammeId(c.programme),
                batch: v::BatchId(c.batch),
                code_digest: c.code_digest,
                pin_digest: c.pin_digest,
                state: state_from(c.state),
                issued_at: TimeMs(c.issued_at),
                activated_at: c.activated_at.map(TimeMs),
                expires_at: c.expires_at.map(TimeMs),
                pin_failures: c.pin_failures,
            })
            .collect(),
        redemptions: w
            .redemptions
            .into_iter()
            .map(|r| v::Redemption {
                id: v::RedemptionId(r.id),
                card: v::CardId(r.card),
                programme: ProgrammeId(r.programme),
                merchant: v::MerchantId(r.merchant),
                device: DeviceId(r.device),
                amount: Cents(r.amount),
                at: TimeMs(r.at),
                transfer: TransferId(r.transfer),
                balance_after: Cents(r.balance_after),
                reversal: r.reversal.map(|x| v::Reversal {
                    at: TimeMs(x.at),
                    transfer: TransferId(x.transfer),
                    balance_after: Cents(x.balance_after),
                }),
            })
            .collect(),
        bookings: w
            .bookings
            .into_iter()
            .map(|b| v::Booking {
                transfer: TransferId(b.transfer),
                card: v::CardId(b.card),
                kind: booking_kind_from(b.kind),
                amount: Cents(b.amount),
                at: TimeMs(b.at),
                paid_via: b.paid_via.map(paid_from),
            })
            .collect(),
        // Settlements travel in their own section (snapshot version 6), read after staff.
        settlements: Vec::new(),
    }
}

// ----- the offline section (format version 6) -----

#[derive(Serialize, Deserialize)]
struct WireAllowanceClose {
    transfer: u128,
    used: i64,
    released: i64,
    at: i64,
}

#[derive(Serialize, Deserialize)]
struct WireAllowance {
    reservation: u128,
    device: u64,
    merchant: u32,
    programme: u32,
    amount: i64,
    granted_at: i64,
    expires_at: i64,
    closed: Option<WireAllowanceClose>,
}

#[derive(Serialize, Deserialize)]
enum WireOfflineRefusal {
    IdTaken,
    SequenceReused,
    UnknownCard,
    MerchantNotAccepted,
    InTheFuture,
    AfterRevocation,
}

#[derive(Serialize, Deserialize)]
enum WireOfflineOutcome {
    Booked { card_part: i64, card_transfer: Option<u128>, risk_part: i64, unpaid: i64 },
    Refused(WireOfflineRefusal),
}

#[derive(Serialize, Deserialize)]
struct WireOfflineRecord {
    redemption: WireOfflineRedemption,
    device: u64,
    merchant: u32,
    synced_at: i64,
    outcome: WireOfflineOutcome,
}

#[derive(Serialize, Deserialize)]
struct WireRiskEntry {
    redemption: u128,
    card: u64,
    device: u64,
    programme: u32,
    allowance: u128,
    amount: i64,
    at: i64,
}

/// The snapshot section of format version 6: policies, allowances, offline
/// redemptions and risk entries.
#[derive(Serialize, Deserialize)]
pub(super) struct WireOffline {
    policies: Vec<(u32, i64, i64)>,
    allowances: Vec<WireAllowance>,
    records: Vec<WireOfflineRecord>,
    risk: Vec<WireRiskEntry>,
}

pub(super) fn offline_to(p: &v::OfflineParts) -> WireOffline {
    use v::OfflineRefusal as F;
    WireOffline {
        policies: p
            .policies
            .iter()
            .map(|(id, x)| (id.0, x.device_allowance_cents_max.0, x.open_allowances_cents_max.0))
            .collect(),
        allowances: p
            .allowances
            .iter()
            .map(|a| WireAllowance {
                reservation: a.reservation.0,
                device: a.device.0,
                merchant: a.merchant.0,
                programme: a.programme.0,
                amount: a.amount.0,
                granted_at: a.granted_at.0,
                expires_at: a.expires_at.0,
                closed: a.closed.map(|c| WireAllowanceClose {
                    transfer: c.transfer.0,
                    used: c.used.0,
                    released: c.released.0,
                    at: c.at.0,
                }),
            })
            .collect(),
        records: p
            .records
            .iter()
            .map(|r| WireOfflineRecord {
                redemption: offline_redemption_to(&r.redemption),
                device: r.device.0,
                merchant: r.merchant.0,
                synced_at: r.synced_at.0,
                outcome: match r.outcome {
                    v::OfflineOutcome::Booked { card_part, card_transfer, risk_part, unpaid } => WireOfflineOutcome::Booked {
                        card_part: card_part.0,
                        card_transfer: card_transfer.map(|t| t.0),
                        risk_part: risk_part.0,
                        unpaid: unpaid.0,
                    },
                    v::OfflineOutcome::Refused(why) => WireOfflineOutcome::Refused(match why {
                        F::IdTaken => WireOfflineRefusal::IdTaken,
                        F::SequenceReused => WireOfflineRefusal::SequenceReused,
                        F::UnknownCard => WireOfflineRefusal::UnknownCard,
                        F::MerchantNotAccepted => WireOfflineRefusal::MerchantNotAccepted,
                        F::InTheFuture => WireOfflineRefusal::InTheFuture,
                        F::AfterRevocation => WireOfflineRefusal::AfterRevocation,
                    }),
                },
            })
            .collect(),
        risk: p
            .risk
            .iter()
            .map(|r| WireRiskEntry {
                redemption: r.redemption.0,
                card: r.card.0,
                device: r.device.0,
                programme: r.programme.0,
                allowance: r.allowance.0,
                amount: r.amount.0,
                at: r.at.0,
            })
            .collect(),
    }
}

pub(super) fn offline_from(w: WireOffline) -> v::OfflineParts {
    use v::OfflineRefusal as F;
    v::OfflineParts {
        policies: w
            .policies
            .into_iter()
            .map(|(id, device, open)| {
                let policy = v::OfflinePolicy {
                    device_allowance_cents_max: Cents(device),
                    open_allowances_cents_max: Cents(open),
                };
                (ProgrammeId(id), policy)
            })
            .collect(),
        allowances: w
            .allowances
            .into_iter()
            .map(|a| v::Allowance {
                reservation: TransferId(a.reservation),
                device: DeviceId(a.device),
                merchant: v::MerchantId(a.merchant),
                programme: ProgrammeId(a.programme),
                amount: Cents(a.amount),
                granted_at: TimeMs(a.granted_at),
                expires_at: TimeMs(a.expires_at),
                closed: a.closed.map(|c| v::AllowanceClose {
                    transfer: TransferId(c.transfer),
                    used: Cents(c.used),
                    released: Cents(c.released),
                    at: TimeMs(c.at),
                }),
            })
            .collect(),
        records: w
            .records
            .into_iter()
            .map(|r| v::OfflineRecord {
                redemption: offline_redemption_from(r.redemption),
                device: DeviceId(r.device),
                merchant: v::MerchantId(r.merchant),
                synced_at: TimeMs(r.synced_at),
                outcome: match r.outcome {
                    WireOfflineOutcome::Booked { card_part, card_transfer, risk_part, unpaid } => v::OfflineOutcome::Booked {
                        card_part: Cents(card_part),
                        card_transfer: card_transfer.map(TransferId),
                        risk_part: Cents(risk_part),
                        unpaid: Cents(unpaid),
                    },
                    WireOfflineOutcome::Refused(why) => v::OfflineOutcome::Refused(match why {
                        WireOfflineRefusal::IdTaken => F::IdTaken,
                        WireOfflineRefusal::SequenceReused => F::SequenceReused,
                        WireOfflineRefusal::UnknownCard => F::UnknownCard,
                        WireOfflineRefusal::MerchantNotAccepted => F::MerchantNotAccepted,
                        WireOfflineRefusal::InTheFuture => F::InTheFuture,
                        WireOfflineRefusal::AfterRevocation => F::AfterRevocation,
                    }),
                },
            })
            .collect(),
        risk: w
            .risk
            .into_iter()
            .map(|r| v::OfflineRiskEntry {
                redemption: v::RedemptionId(r.redemption),
                card: v::CardId(r.card),
                device: DeviceId(r.device),
                programme: ProgrammeId(r.programme),
                allowance: TransferId(r.allowance),
                amount: Cents(r.amount),
                at: TimeMs(r.at),
            })
            .collect(),
    }
}

// ----- the settlements (snapshot format version 6) -----

#[derive(Serialize, Deserialize)]
pub(super) struct WireSettlement {
    id: u32,
    programme: u32,
    merchant: u32,
    from: i64,
    until: i64,
    redeemed: i64,
    redemptions: u32,
    reversed: i64,
    reversals: u32,
    amount: i64,
    transfer: Option<u128>,
    watermark: u128,
    at: i64,
}

pub(super) fn settlements_to(list: &[v::Settlement]) -> Vec<WireSettlement> {
    list.iter()
        .map(|s| WireSettlement {
            id: s.id.0,
            programme: s.programme.0,
            merchant: s.merchant.0,
            from: s.from.0,
            until: s.until.0,
            redeemed: s.redeemed.0,
            redemptions: s.redemptions,
            reversed: s.reversed.0,
            reversals: s.reversals,
            amount: s.amount.0,
            transfer: s.transfer.map(|t| t.0),
            watermark: s.watermark.0,
            at: s.at.0,
        })
        .collect()
}

pub(super) fn settlements_from(list: Vec<WireSettlement>) -> Vec<v::Settlement> {
    list.into_iter()
        .map(|s| v::Settlement {
            id: v::SettlementId(s.id),
            programme: ProgrammeId(s.programme),
            merchant: v::MerchantId(s.merchant),
            from: TimeMs(s.from),
            until: TimeMs(s.until),
            redeemed: Cents(s.redeemed),
            redemptions: s.redemptions,
            reversed: Cents(s.reversed),
            reversals: s.reversals,
            amount: Cents(s.amount),
            transfer: s.transfer.map(TransferId),
            watermark: TransferId(s.watermark),
            at: TimeMs(s.at),
        })
        .collect()
}

/// The programmes' designs, snapshot version 8: `(programme, accent, tagline)` for
/// each programme whose design is not the default.
pub(super) fn designs_to(p: &v::VoucherParts) -> Vec<(u32, u32, String)> {
    p.programmes
        .iter()
        .filter(|x| x.design != v::ProgrammeDesign::default())
        .map(|x| (x.id.0, x.design.accent_rgb, x.design.tagline.clone()))
        .collect()
}

pub(super) fn designs_from(p: &mut v::VoucherParts, designs: Vec<(u32, u32, String)>) -> Result<(), super::DecodeError> {
    for (programme, accent_rgb, tagline) in designs {
        let found = p.programmes.iter_mut().find(|x| x.id.0 == programme);
        let found = found.ok_or_else(|| super::DecodeError::Malformed(format!("a design of unknown programme {programme}")))?;
        found.design = v::ProgrammeDesign { accent_rgb, tagline };
    }
    Ok(())
}
