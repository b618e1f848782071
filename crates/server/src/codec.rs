//! The log codec: core commands and snapshots to bytes and back.
//!
//! Core types are deliberately not `Serialize`; this module mirrors them with
//! serde types and converts explicitly, so the wire format is written down in one
//! place and a core refactor cannot silently change what is on disk. Every payload
//! starts with a format version byte. Decoding never panics on bad bytes.

use serde::{Deserialize, Serialize};
use sturmfest_core as core;
use sturmfest_core::ledger;
use sturmfest_core::queue;
use sturmfest_core::staff;
use sturmfest_core::vouchers;

mod payment_wire;
mod purchase_wire;
mod voucher_wire;
use payment_wire::*;
use purchase_wire::*;
use voucher_wire::*;

pub const entry_format_version: u8 = 1;
/// 2 appends the waiting rooms after the version-1 body; 3 appends the voucher ledger
/// after the version-2 body; 4 appends the voucher domain (programmes, merchants,
/// devices, cards, redemptions, bookings) after the version-3 body; 5 appends the
/// staff accounts and sessions after the version-4 body (`staff_to`/`staff_from`); 6
/// appends the offline voucher slice (policies, allowances, offline redemptions, risk
/// entries: `offline_to`/`offline_from`) after the version-5 body.
/// Versions 1 to 4 still decode (no rooms, empty ledger, no vouchers, no staff).
/// 6 also appends the voucher settlements and the staff accounts' merchant bindings
/// (`(account, merchant)` pairs) after the offline slice.
/// 6 finally appends the online payments (`codec/payment_wire.rs`).
/// 7 appends the voucher purchases paid online (`codec/purchase_wire.rs`) after the
/// version-6 body; versions 1 to 6 decode with none.
/// 8 appends the programmes' designs (`(programme, accent, tagline)`, only those not
/// the default: `designs_to`) after the version-7 body; versions 1 to 7 decode with
/// the default design.
pub const snapshot_format_version: u8 = 8;

/// One log record's payload: the command as applied plus a summary of its outcome,
/// so replay can assert it reproduced the same decision (a pair assertion across
/// the write/read boundary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub envelope: core::Envelope,
    pub outcome: OutcomeSummary,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeSummary {
    /// `ok:<reply kind>` or the rejection code.
    pub code: String,
    /// The id a reply created or touched (hold, order, event, venue), else 0. For a
    /// ledger reply, whose ids the client chose, the number the ledger decided
    /// instead (a risk booking's shortfall, what a post or void released, when a
    /// reservation expires, how many a tick expired), so replay checks the decision.
    pub id: u64,
}

impl OutcomeSummary {
    pub fn of(outcome: &core::Outcome) -> OutcomeSummary {
        use core::Reply::*;
        match outcome {
            Err(rejection) => OutcomeSummary { code: rejection.code().to_string(), id: 0 },
            Ok(reply) => {
                let (kind, id) = match reply {
                    VenueCreated { venue } => ("venue_created", u64::from(venue.0)),
                    EventCreated { event } => ("event_created", u64::from(event.0)),
                    SaleChanged { event } => ("sale_changed", u64::from(event.0)),
                    Held(receipt) => ("held", receipt.hold.0),
                    Released { hold } => ("released", hold.0),
                    Confirmed { order, .. } => ("confirmed", order.0),
                    Cancelled { order, .. } => ("cancelled", order.0),
                    Refunded { order, .. } => ("refunded", order.0),
                    Ticked { expired } => ("ticked", u64::from(*expired)),
                    RoomCreated { event } => ("room_created", u64::from(event.0)),
                    Room { event, .. } => ("room", u64::from(event.0)),
                    Ledger(reply) => ledger_summary(reply),
                    Voucher(reply) => voucher_summary(reply),
                    Staff(reply) => staff_summary(reply),
                    EventAmended { event } => ("event_amended", u64::from(event.0)),
                    Payment(reply) => payment_summary(reply),
                };
                OutcomeSummary { code: format!("ok:{kind}"), id }
            }
        }
    }
}

fn ledger_summary(reply: &ledger::LedgerReply) -> (&'static str, u64) {
    use ledger::LedgerReply as L;
    // Low 64 bits of a client-chosen id: the command carries the id anyway.
    let low = |id: u128| id as u64;
    match *reply {
        L::AccountCreated { account } => ("ledger_account_created", low(account.0)),
        L::Transferred { transfer } => ("ledger_transferred", low(transfer.0)),
        L::Reserved { expires_at, .. } => ("ledger_reserved", expires_at.0 as u64),
        L::Posted { released, .. } => ("ledger_posted", released.0 as u64),
        L::Voided { released, .. } => ("ledger_voided", released.0 as u64),
        L::RiskBooked { shortfall, .. } => ("ledger_risk_booked", shortfall.0 as u64),
        L::Ticked { expired } => ("ledger_ticked", u64::from(expired)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty payload")]
    Empty,
    #[error("unknown format version {0}")]
    Version(u8),
    #[error("malformed payload: {0}")]
    Malformed(String),
}

pub fn encode_entry(entry: &LogEntry) -> Vec<u8> {
    let wire = WireEntry { envelope: WireEnvelope::from(&entry.envelope), outcome: entry.outcome.clone() };
    let mut out = vec![entry_format_version];
    postcard::to_io(&wire, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// An upper bound of the encoded entry for `command`, whatever its time and outcome:
/// lets the runtime refuse a command that would not fit one log record.
pub fn entry_bytes_bound(idempotency: Option<&core::Idempotency>, command: &core::Command) -> usize {
    let envelope = core::Envelope { time: core::TimeMs(i64::MIN), idempotency: idempotency.cloned(), command: command.clone() };
    let outcome = OutcomeSummary { code: "x".repeat(outcome_code_bytes_max), id: u64::MAX };
    encode_entry(&LogEntry { envelope, outcome }).len()
}

/// Longest outcome code: rejection codes and `ok:<kind>` are short ASCII words.
const outcome_code_bytes_max: usize = 64;

pub fn decode_entry(bytes: &[u8]) -> Result<LogEntry, DecodeError> {
    let body = versioned(bytes, entry_format_version)?;
    let wire: WireEntry = postcard::from_bytes(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    staff_record_checked(&wire)?;
    Ok(LogEntry { envelope: wire.envelope.into(), outcome: wire.outcome })
}

pub fn encode_snapshot(parts: &core::TenantParts) -> Vec<u8> {
    let wire = WireParts::from(parts);
    let rooms: Vec<WireRoom> = parts.rooms.iter().map(|(event, seed, room)| room_to(*event, *seed, room)).collect();
    let mut out = vec![snapshot_format_version];
    postcard::to_io(&wire, &mut out).expect("writing to a Vec cannot fail");
    postcard::to_io(&rooms, &mut out).expect("writing to a Vec cannot fail");
    postcard::to_io(&ledger_to(&parts.ledger), &mut out).expect("writing to a Vec cannot fail");
    postcard::to_io(&vouchers_to(&parts.vouchers), &mut out).expect("writing to a Vec cannot fail");
    postcard::to_io(&staff_to(&parts.staff), &mut out).expect("writing to a Vec cannot fail");
    postcard::to_io(&offline_to(&parts.vouchers.offline), &mut out).expect("writing to a Vec cannot fail");
    postcard::to_io(&settlements_to(&parts.vouchers.settlements), &mut out).expect("writing to a Vec cannot fail");
    let bindings: Vec<(u32, u32)> =
        parts.staff.accounts.iter().filter_map(|a| a.merchant.map(|m| (a.id.0, m.0))).collect();
    postcard::to_io(&bindings, &mut out).expect("writing to a Vec cannot fail");
    postcard::to_io(&payments_to(&parts.payments), &mut out).expect("writing to a Vec cannot fail");
    postcard::to_io(&purchases_to(&parts.vouchers.purchases), &mut out).expect("writing to a Vec cannot fail");
    postcard::to_io(&designs_to(&parts.vouchers), &mut out).expect("writing to a Vec cannot fail");
    out
}

pub fn decode_snapshot(bytes: &[u8]) -> Result<core::TenantParts, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    let malformed = |e: postcard::Error| DecodeError::Malformed(e.to_string());
    match version {
        1 => Ok(postcard::from_bytes::<WireParts>(body).map_err(malformed)?.into()),
        2..=8 => {
            let (wire, rest): (WireParts, _) = postcard::take_from_bytes(body).map_err(malformed)?;
            let (rooms, rest): (Vec<WireRoom>, _) = postcard::take_from_bytes(rest).map_err(malformed)?;
            let mut parts: core::TenantParts = wire.into();
            parts.rooms = rooms.into_iter().map(room_from).collect::<Result<_, _>>()?;
            let rest = if version >= 3 {
                let (ledger, rest): (WireLedger, _) = postcard::take_from_bytes(rest).map_err(malformed)?;
                parts.ledger = ledger_from(ledger);
                rest
            } else {
                rest
            };
            let rest = if version >= 4 {
                let (vouchers, rest): (WireVouchers, _) = postcard::take_from_bytes(rest).map_err(malformed)?;
                parts.vouchers = vouchers_from(vouchers);
                rest
            } else {
                rest
            };
            let rest = if version >= 5 {
                let (staff, rest): (WireStaff, _) = postcard::take_from_bytes(rest).map_err(malformed)?;
                parts.staff = staff_from(staff)?;
                rest
            } else {
                rest
            };
            let rest = if version >= 6 {
                let (offline, rest): (WireOffline, _) = postcard::take_from_bytes(rest).map_err(malformed)?;
                parts.vouchers.offline = offline_from(offline);
                let (settlements, rest): (Vec<WireSettlement>, _) = postcard::take_from_bytes(rest).map_err(malformed)?;
                parts.vouchers.settlements = settlements_from(settlements);
                let (bindings, rest): (Vec<(u32, u32)>, _) = postcard::take_from_bytes(rest).map_err(malformed)?;
                for (account, merchant) in bindings {
                    let bound = (account as usize).checked_sub(1).and_then(|i| parts.staff.accounts.get_mut(i));
                    let bound = bound.ok_or_else(|| DecodeError::Malformed(format!("a merchant binding of unknown account {account}")))?;
                    bound.merchant = Some(sturmfest_core::vouchers::MerchantId(merchant));
                }
                let (payments, rest): (Vec<WirePayment>, _) = postcard::take_from_bytes(rest).map_err(malformed)?;
                parts.payments = payments_from(payments);
                rest
            } else {
                rest
            };
            let rest = if version >= 7 {
                let (purchases, rest): (Vec<WirePurchase>, _) = postcard::take_from_bytes(rest).map_err(malformed)?;
                parts.vouchers.purchases = purchases_from(purchases);
                rest
            } else {
                rest
            };
            let rest = if version >= 8 {
                let (designs, rest): (Vec<(u32, u32, String)>, _) = postcard::take_from_bytes(rest).map_err(malformed)?;
                designs_from(&mut parts.vouchers, designs)?;
                rest
            } else {
                rest
            };
            // A body longer than its version says is a mislabelled snapshot, not one to guess at.
            if !rest.is_empty() {
                return Err(DecodeError::Malformed(format!("{} bytes after a version-{version} snapshot", rest.len())));
            }
            Ok(parts)
        }
        other => Err(DecodeError::Version(other)),
    }
}

fn versioned(bytes: &[u8], expected: u8) -> Result<&[u8], DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != expected {
        return Err(DecodeError::Version(version));
    }
    Ok(body)
}

// ----- wire types (field order is the format: append only, never reorder) -----

#[derive(Serialize, Deserialize)]
struct WireEntry {
    envelope: WireEnvelope,
    outcome: OutcomeSummary,
}

#[derive(Serialize, Deserialize)]
struct WireEnvelope {
    time_ms: i64,
    idempotency: Option<(u128, u64)>,
    command: WireCommand,
}

#[derive(Serialize, Deserialize)]
enum WireCommand {
    CreateVenue(WireVenue),
    CreateEvent(WireEvent),
    Sale { event: u32, action: WireSaleAction },
    Hold { event: u32, customer: u64, channel: u8, selection: WireSelection, tariff: u16 },
    Release { hold: u64 },
    Confirm { hold: u64, payment: String, buyer_name: String, buyer_email: String },
    Cancel { order: u64, tickets: Option<Vec<u16>>, refund_full: bool },
    Refund { order: u64, amount: i64, reference: String },
    Tick,
    CreateRoom { event: u32, config: WireRoomConfig, seed: [u8; 32] },
    Room { event: u32, command: WireRoomCommand },
    /// A hold naming the identity a waiting room admitted; plain `Hold` when none.
    HoldAdmitted { event: u32, customer: u64, channel: u8, selection: WireSelection, tariff: u16, admission: u128 },
    Ledger(WireLedgerCommand),
    Voucher(WireVoucherCommand),
    /// Appended last: older records keep their variant indices.
    Staff(WireStaffCommand),
    AmendEvent { event: u32, sale_opens_at: i64, sale_closes_at: i64, quotas: [Option<u32>; 3], prices: Vec<(u16, u16, i64)> },
    /// Appended after `Staff`.
    Payment(WirePaymentCommand),
}

#[derive(Serialize, Deserialize)]
enum WireSaleAction {
    Open,
    Pause { message: String, resume_at: Option<i64> },
    Resume,
    Close,
}

#[derive(Serialize, Deserialize, Clone)]
enum WireSelection {
    Seats(Vec<u32>),
    Standing { area: u16, quantity: u32 },
    BestAvailable { category: u16, block: Option<u16>, quantity: u32 },
}

#[derive(Serialize, Deserialize)]
struct WireVenue {
    name: String,
    blocks: Vec<(String, Vec<(String, Vec<(String, i32, i32)>)>)>,
    standing: Vec<(String, u32)>,
}

#[derive(Serialize, Deserialize)]
struct WireEvent {
    name: String,
    venue: u32,
    starts_at: i64,
    sale_opens_at: i64,
    sale_closes_at: i64,
    categories: Vec<WireCategory>,
    quotas: [Option<u32>; 3],
    hold_duration_ms: i64,
    order_tickets_max: u32,
    customer_tickets_max: u32,
}

#[derive(Serialize, Deserialize)]
struct WireCategory {
    name: String,
    blocks: Option<Vec<u16>>,
    area: Option<u16>,
    tariffs: Vec<(String, i64)>,
}

#[derive(Serialize, Deserialize)]
struct WireParts {
    now: i64,
    venues: Vec<WireVenue>,
    events: Vec<(WireEvent, WireSale)>,
    holds: Vec<WireHold>,
    next_hold: u64,
    orders: Vec<WireOrder>,
    idempotency: Vec<(u128, u64, i64, WireReply)>,
}

#[derive(Serialize, Deserialize)]
enum WireSale {
    Draft,
    Open,
    Paused { since: i64, message: String, resume_at: Option<i64> },
    Closed,
}

#[derive(Serialize, Deserialize)]
struct WireHold {
    id: u64,
    event: u32,
    customer: u64,
    channel: u8,
    category: u16,
    tariff: u16,
    places: WireSelection,
    created_at: i64,
    expires_at: i64,
    price_each: i64,
}

#[derive(Serialize, Deserialize)]
struct WireOrder {
    id: u64,
    event: u32,
    customer: u64,
    channel: u8,
    hold: u64,
    tickets: Vec<WireTicket>,
    payment: String,
    buyer: (String, String),
    created_at: i64,
    refunds: Vec<(i64, i64, String)>,
}

#[derive(Serialize, Deserialize)]
struct WireTicket {
    seat: Option<u32>,
    area: Option<u16>,
    category: u16,
    tariff: u16,
    price: i64,
    cancelled_at: Option<i64>,
}

#[derive(Serialize, Deserialize)]
enum WireReply {
    VenueCreated(u32),
    EventCreated(u32),
    SaleChanged(u32),
    Held { hold: u64, event: u32, expires_at: i64, places: WireSelection, total: i64 },
    Released(u64),
    Confirmed { order: u64, total: i64 },
    Cancelled { order: u64, tickets: u32, refunded: i64 },
    Refunded { order: u64, amount: i64 },
    Ticked(u32),
    RoomCreated(u32),
    Room { event: u32, reply: WireRoomReply },
    Ledger(WireLedgerReply),
    Voucher(WireVoucherReply),
    Staff(WireStaffReply),
    EventAmended(u32),
    Payment(WirePaymentReply),
}

// ----- conversions -----

fn channel_to(c: core::Channel) -> u8 {
    c.index() as u8
}

/// Unknown channel bytes decode as `Reserved`, the most restricted channel; the
/// record's checksum and hash chain already rule out corruption reaching here.
fn channel_from(c: u8) -> core::Channel {
    match c {
        0 => core::Channel::Online,
        1 => core::Channel::BoxOffice,
        _ => core::Channel::Reserved,
    }
}

impl From<&core::Envelope> for WireEnvelope {
    fn from(e: &core::Envelope) -> Self {
        use core::Command as C;
        let command = match &e.command {
            C::CreateVenue(spec) => WireCommand::CreateVenue(spec.into()),
            C::CreateEvent(spec) => WireCommand::CreateEvent(spec.into()),
            C::Sale { event, action } => WireCommand::Sale {
                event: event.0,
                action: match action {
                    core::SaleAction::Open => WireSaleAction::Open,
                    core::SaleAction::Pause { message, resume_at } => {
                        WireSaleAction::Pause { message: message.clone(), resume_at: resume_at.map(|t| t.0) }
                    }
                    core::SaleAction::Resume => WireSaleAction::Resume,
                    core::SaleAction::Close => WireSaleAction::Close,
                },
            },
            C::Hold(r) => match r.admission {
                None => WireCommand::Hold {
                    event: r.event.0,
                    customer: r.customer.0,
                    channel: channel_to(r.channel),
                    selection: selection_to(&r.selection),
                    tariff: r.tariff.0,
                },
                Some(identity) => WireCommand::HoldAdmitted {
                    event: r.event.0,
                    customer: r.customer.0,
                    channel: channel_to(r.channel),
                    selection: selection_to(&r.selection),
                    tariff: r.tariff.0,
                    admission: identity.0,
                },
            },
            C::Release { hold } => WireCommand::Release { hold: hold.0 },
            C::Confirm { hold, payment, buyer } => WireCommand::Confirm {
                hold: hold.0,
                payment: payment.clone(),
                buyer_name: buyer.name.clone(),
                buyer_email: buyer.email.clone(),
            },
            C::Cancel { order, tickets, refund } => WireCommand::Cancel {
                order: order.0,
                tickets: match tickets {
                    core::TicketSelection::All => None,
                    core::TicketSelection::Some(list) => Some(list.clone()),
                },
                refund_full: *refund == core::RefundMode::Full,
            },
            C::Refund { order, amount, reference } => {
                WireCommand::Refund { order: order.0, amount: amount.0, reference: reference.clone() }
            }
            C::Tick => WireCommand::Tick,
            C::CreateRoom { event, config, seed } => {
                WireCommand::CreateRoom { event: event.0, config: room_config_to(config), seed: *seed }
            }
            C::Room { event, command } => WireCommand::Room { event: event.0, command: room_command_to(command) },
            C::Ledger(command) => WireCommand::Ledger(ledger_command_to(command)),
            C::Voucher(command) => WireCommand::Voucher(voucher_command_to(command)),
            C::Staff(command) => WireCommand::Staff(staff_command_to(command)),
            C::AmendEvent { event, amendment } => WireCommand::AmendEvent {
                event: event.0,
                sale_opens_at: amendment.sale_opens_at.0,
                sale_closes_at: amendment.sale_closes_at.0,
                quotas: amendment.quotas,
                prices: amendment.prices.iter().map(|(c, t, p)| (c.0, t.0, p.0)).collect(),
            },
            C::Payment(command) => WireCommand::Payment(payment_command_to(command)),
        };
        WireEnvelope {
            time_ms: e.time.0,
            idempotency: e.idempotency.map(|i| (i.key.0, i.fingerprint)),
            command,
        }
    }
}

impl From<WireEnvelope> for core::Envelope {
    fn from(w: WireEnvelope) -> Self {
        use core::Command as C;
        let command = match w.command {
            WireCommand::CreateVenue(v) => C::CreateVenue(v.into()),
            WireCommand::CreateEvent(e) => C::CreateEvent(e.into()),
            WireCommand::Sale { event, action } => C::Sale {
                event: core::EventId(event),
                action: match action {
                    WireSaleAction::Open => core::SaleAction::Open,
                    WireSaleAction::Pause { message, resume_at } => {
                        core::SaleAction::Pause { message, resume_at: resume_at.map(core::TimeMs) }
                    }
                    WireSaleAction::Resume => core::SaleAction::Resume,
                    WireSaleAction::Close => core::SaleAction::Close,
                },
            },
            WireCommand::Hold { event, customer, channel, selection, tariff } => C::Hold(core::HoldRequest {
                event: core::EventId(event),
                customer: core::CustomerId(customer),
                channel: channel_from(channel),
                selection: selection_from(selection),
                tariff: core::TariffId(tariff),
                admission: None,
            }),
            WireCommand::HoldAdmitted { event, customer, channel, selection, tariff, admission } => {
                C::Hold(core::HoldRequest {
                    event: core::EventId(event),
                    customer: core::CustomerId(customer),
                    channel: channel_from(channel),
                    selection: selection_from(selection),
                    tariff: core::TariffId(tariff),
                    admission: Some(queue::IdentityKey(admission)),
                })
            }
            WireCommand::CreateRoom { event, config, seed } => {
                C::CreateRoom { event: core::EventId(event), config: room_config_from(config), seed }
            }
            WireCommand::Room { event, command } => C::Room { event: core::EventId(event), command: room_command_from(command) },
            WireCommand::Release { hold } => C::Release { hold: core::HoldId(hold) },
            WireCommand::Confirm { hold, payment, buyer_name, buyer_email } => C::Confirm {
                hold: core::HoldId(hold),
                payment,
                buyer: core::Buyer { name: buyer_name, email: buyer_email },
            },
            WireCommand::Cancel { order, tickets, refund_full } => C::Cancel {
                order: core::OrderId(order),
                tickets: match tickets {
                    None => core::TicketSelection::All,
                    Some(list) => core::TicketSelection::Some(list),
                },
                refund: if refund_full { core::RefundMode::Full } else { core::RefundMode::None },
            },
            WireCommand::Refund { order, amount, reference } => {
                C::Refund { order: core::OrderId(order), amount: core::Cents(amount), reference }
            }
            WireCommand::Tick => C::Tick,
            WireCommand::Ledger(command) => C::Ledger(ledger_command_from(command)),
            WireCommand::Voucher(command) => C::Voucher(voucher_command_from(command)),
            WireCommand::Staff(command) => C::Staff(staff_command_from(command)),
            WireCommand::AmendEvent { event, sale_opens_at, sale_closes_at, quotas, prices } => C::AmendEvent {
                event: core::EventId(event),
                amendment: core::EventAmendment {
                    sale_opens_at: core::TimeMs(sale_opens_at),
                    sale_closes_at: core::TimeMs(sale_closes_at),
                    quotas,
                    prices: prices.into_iter().map(|(c, t, p)| (core::CategoryId(c), core::TariffId(t), core::Cents(p))).collect(),
                },
            },
            WireCommand::Payment(command) => C::Payment(payment_command_from(command)),
        };
        core::Envelope {
            time: core::TimeMs(w.time_ms),
            idempotency: w
                .idempotency
                .map(|(key, fingerprint)| core::Idempotency { key: core::IdemKey(key), fingerprint }),
            command,
        }
    }
}

fn selection_to(s: &core::Selection) -> WireSelection {
    match s {
        core::Selection::Seats(seats) => WireSelection::Seats(seats.iter().map(|s| s.0).collect()),
        core::Selection::Standing { area, quantity } => WireSelection::Standing { area: area.0, quantity: *quantity },
        core::Selection::BestAvailable { category, block, quantity } => WireSelection::BestAvailable {
            category: category.0,
            block: block.map(|b| b.0),
            quantity: *quantity,
        },
    }
}

fn selection_from(s: WireSelection) -> core::Selection {
    match s {
        WireSelection::Seats(seats) => core::Selection::Seats(seats.into_iter().map(core::SeatId).collect()),
        WireSelection::Standing { area, quantity } => {
            core::Selection::Standing { area: core::AreaId(area), quantity }
        }
        WireSelection::BestAvailable { category, block, quantity } => core::Selection::BestAvailable {
            category: core::CategoryId(category),
            block: block.map(core::BlockId),
            quantity,
        },
    }
}

fn places_to(p: &core::Places) -> WireSelection {
    match p {
        core::Places::Seats(seats) => WireSelection::Seats(seats.iter().map(|s| s.0).collect()),
        core::Places::Standing { area, quantity } => WireSelection::Standing { area: area.0, quantity: *quantity },
    }
}

fn places_from(s: WireSelection) -> core::Places {
    match s {
        WireSelection::Seats(seats) => core::Places::Seats(seats.into_iter().map(core::SeatId).collect()),
        WireSelection::Standing { area, quantity } => core::Places::Standing { area: core::AreaId(area), quantity },
        // Never written for places; decode defensively as an empty seat list, which
        // `Tenant::restore` then rejects as an invalid hold.
        WireSelection::BestAvailable { .. } => core::Places::Seats(Vec::new()),
    }
}

impl From<&core::VenueSpec> for WireVenue {
    fn from(v: &core::VenueSpec) -> Self {
        WireVenue {
            name: v.name.clone(),
            blocks: v
                .blocks
                .iter()
                .map(|b| {
                    let rows = b
                        .rows
                        .iter()
                        .map(|r| (r.label.clone(), r.seats.iter().map(|s| (s.label.clone(), s.x, s.y)).collect()))
                        .collect();
                    (b.name.clone(), rows)
                })
                .collect(),
            standing: v.standing.iter().map(|a| (a.name.clone(), a.capacity)).collect(),
        }
    }
}

impl From<WireVenue> for core::VenueSpec {
    fn from(w: WireVenue) -> Self {
        core::VenueSpec {
            name: w.name,
            blocks: w
                .blocks
                .into_iter()
                .map(|(name, rows)| core::BlockSpec {
                    name,
                    rows: rows
                        .into_iter()
                        .map(|(label, seats)| core::RowSpec {
                            label,
                            seats: seats.into_iter().map(|(label, x, y)| core::SeatSpec { label, x, y }).collect(),
                        })
                        .collect(),
                })
                .collect(),
            standing: w.standing.into_iter().map(|(name, capacity)| core::StandingSpec { name, capacity }).collect(),
        }
    }
}

impl From<&core::EventSpec> for WireEvent {
    fn from(e: &core::EventSpec) -> Self {
        WireEvent {
            name: e.name.clone(),
            venue: e.venue.0,
            starts_at: e.starts_at.0,
            sale_opens_at: e.sale_opens_at.0,
            sale_closes_at: e.sale_closes_at.0,
            categories: e
                .categories
                .iter()
                .map(|c| WireCategory {
                    name: c.name.clone(),
                    blocks: match &c.places {
                        core::CategoryPlaces::Blocks(b) => Some(b.iter().map(|b| b.0).collect()),
                        core::CategoryPlaces::Standing(_) => None,
                    },
                    area: match &c.places {
                        core::CategoryPlaces::Standing(a) => Some(a.0),
                        core::CategoryPlaces::Blocks(_) => None,
                    },
                    tariffs: c.tariffs.iter().map(|t| (t.name.clone(), t.price.0)).collect(),
                })
                .collect(),
            quotas: e.quotas,
            hold_duration_ms: e.hold_duration_ms,
            order_tickets_max: e.order_tickets_max,
            customer_tickets_max: e.customer_tickets_max,
        }
    }
}

impl From<WireEvent> for core::EventSpec {
    fn from(w: WireEvent) -> Self {
        core::EventSpec {
            name: w.name,
            venue: core::VenueId(w.venue),
            starts_at: core::TimeMs(w.starts_at),
            sale_opens_at: core::TimeMs(w.sale_opens_at),
            sale_closes_at: core::TimeMs(w.sale_closes_at),
            categories: w
                .categories
                .into_iter()
                .map(|c| core::CategorySpec {
                    name: c.name,
                    places: match (c.blocks, c.area) {
                        (Some(blocks), _) => core::CategoryPlaces::Blocks(blocks.into_iter().map(core::BlockId).collect()),
                        (None, Some(area)) => core::CategoryPlaces::Standing(core::AreaId(area)),
                        // Validation in the core rejects an empty block list.
                        (None, None) => core::CategoryPlaces::Blocks(Vec::new()),
                    },
                    tariffs: c
                        .tariffs
                        .into_iter()
                        .map(|(name, price)| core::TariffSpec { name, price: core::Cents(price) })
                        .collect(),
                })
                .collect(),
            quotas: w.quotas,
            hold_duration_ms: w.hold_duration_ms,
            order_tickets_max: w.order_tickets_max,
            customer_tickets_max: w.customer_tickets_max,
        }
    }
}

fn reply_to(r: &core::Reply) -> WireReply {
    use core::Reply::*;
    match r {
        VenueCreated { venue } => WireReply::VenueCreated(venue.0),
        EventCreated { event } => WireReply::EventCreated(event.0),
        SaleChanged { event } => WireReply::SaleChanged(event.0),
        Held(h) => WireReply::Held {
            hold: h.hold.0,
            event: h.event.0,
            expires_at: h.expires_at.0,
            places: places_to(&h.places),
            total: h.total.0,
        },
        Released { hold } => WireReply::Released(hold.0),
        Confirmed { order, total } => WireReply::Confirmed { order: order.0, total: total.0 },
        Cancelled { order, tickets, refunded } => {
            WireReply::Cancelled { order: order.0, tickets: *tickets, refunded: refunded.0 }
        }
        Refunded { order, amount } => WireReply::Refunded { order: order.0, amount: amount.0 },
        Ticked { expired } => WireReply::Ticked(*expired),
        RoomCreated { event } => WireReply::RoomCreated(event.0),
        Room { event, reply } => WireReply::Room { event: event.0, reply: room_reply_to(reply) },
        Ledger(reply) => WireReply::Ledger(ledger_reply_to(reply)),
        Voucher(reply) => WireReply::Voucher(voucher_reply_to(reply)),
        Staff(reply) => WireReply::Staff(staff_reply_to(reply)),
        EventAmended { event } => WireReply::EventAmended(event.0),
        Payment(reply) => WireReply::Payment(payment_reply_to(reply)),
    }
}

fn reply_from(w: WireReply) -> core::Reply {
    use core::Reply::*;
    match w {
        WireReply::VenueCreated(v) => VenueCreated { venue: core::VenueId(v) },
        WireReply::EventCreated(e) => EventCreated { event: core::EventId(e) },
        WireReply::SaleChanged(e) => SaleChanged { event: core::EventId(e) },
        WireReply::Held { hold, event, expires_at, places, total } => Held(core::HoldReceipt {
            hold: core::HoldId(hold),
            event: core::EventId(event),
            expires_at: core::TimeMs(expires_at),
            places: places_from(places),
            total: core::Cents(total),
        }),
        WireReply::Released(h) => Released { hold: core::HoldId(h) },
        WireReply::Confirmed { order, total } => Confirmed { order: core::OrderId(order), total: core::Cents(total) },
        WireReply::Cancelled { order, tickets, refunded } => {
            Cancelled { order: core::OrderId(order), tickets, refunded: core::Cents(refunded) }
        }
        WireReply::Refunded { order, amount } => Refunded { order: core::OrderId(order), amount: core::Cents(amount) },
        WireReply::Ticked(n) => Ticked { expired: n },
        WireReply::RoomCreated(e) => RoomCreated { event: core::EventId(e) },
        WireReply::Room { event, reply } => Room { event: core::EventId(event), reply: room_reply_from(reply) },
        WireReply::Ledger(reply) => Ledger(ledger_reply_from(reply)),
        WireReply::Voucher(reply) => Voucher(voucher_reply_from(reply)),
        WireReply::Staff(reply) => Staff(staff_reply_from(reply)),
        WireReply::EventAmended(e) => EventAmended { event: core::EventId(e) },
        WireReply::Payment(reply) => Payment(payment_reply_from(reply)),
    }
}

impl From<&core::TenantParts> for WireParts {
    fn from(p: &core::TenantParts) -> Self {
        WireParts {
            now: p.now.0,
            venues: p.venues.iter().map(WireVenue::from).collect(),
            events: p
                .events
                .iter()
                .map(|(spec, sale)| {
                    let sale = match sale {
                        core::SaleStatus::Draft => WireSale::Draft,
                        core::SaleStatus::Open => WireSale::Open,
                        core::SaleStatus::Paused { since, message, resume_at } => WireSale::Paused {
                            since: since.0,
                            message: message.clone(),
                            resume_at: resume_at.map(|t| t.0),
                        },
                        core::SaleStatus::Closed => WireSale::Closed,
                    };
                    (WireEvent::from(spec), sale)
                })
                .collect(),
            holds: p
                .holds
                .iter()
                .map(|h| WireHold {
                    id: h.id.0,
                    event: h.event.0,
                    customer: h.customer.0,
                    channel: channel_to(h.channel),
                    category: h.category.0,
                    tariff: h.tariff.0,
                    places: places_to(&h.places),
                    created_at: h.created_at.0,
                    expires_at: h.expires_at.0,
                    price_each: h.price_each.0,
                })
                .collect(),
            next_hold: p.next_hold,
            orders: p
                .orders
                .iter()
                .map(|o| WireOrder {
                    id: o.id.0,
                    event: o.event.0,
                    customer: o.customer.0,
                    channel: channel_to(o.channel),
                    hold: o.hold.0,
                    tickets: o
                        .tickets
                        .iter()
                        .map(|t| WireTicket {
                            seat: match t.place {
                                core::Place::Seat(s) => Some(s.0),
                                core::Place::Standing(_) => None,
                            },
                            area: match t.place {
                                core::Place::Standing(a) => Some(a.0),
                                core::Place::Seat(_) => None,
                            },
                            category: t.category.0,
                            tariff: t.tariff.0,
                            price: t.price.0,
                            cancelled_at: t.cancelled_at.map(|c| c.0),
                        })
                        .collect(),
                    payment: o.payment.clone(),
                    buyer: (o.buyer.name.clone(), o.buyer.email.clone()),
                    created_at: o.created_at.0,
                    refunds: o.refunds.iter().map(|r| (r.amount.0, r.at.0, r.reference.clone())).collect(),
                })
                .collect(),
            idempotency: p
                .idempotency
                .iter()
                .map(|(key, e)| (key.0, e.fingerprint, e.at.0, reply_to(&e.reply)))
                .collect(),
        }
    }
}

impl From<WireParts> for core::TenantParts {
    fn from(w: WireParts) -> Self {
        core::TenantParts {
            now: core::TimeMs(w.now),
            venues: w.venues.into_iter().map(Into::into).collect(),
            events: w
                .events
                .into_iter()
                .map(|(spec, sale)| {
                    let sale = match sale {
                        WireSale::Draft => core::SaleStatus::Draft,
                        WireSale::Open => core::SaleStatus::Open,
                        WireSale::Paused { since, message, resume_at } => core::SaleStatus::Paused {
                            since: core::TimeMs(since),
                            message,
                            resume_at: resume_at.map(core::TimeMs),
                        },
                        WireSale::Closed => core::SaleStatus::Closed,
                    };
                    (spec.into(), sale)
                })
                .collect(),
            holds: w
                .holds
                .into_iter()
                .map(|h| core::Hold {
                    id: core::HoldId(h.id),
                    event: core::EventId(h.event),
                    customer: core::CustomerId(h.customer),
                    channel: channel_from(h.channel),
                    category: core::CategoryId(h.category),
                    tariff: core::TariffId(h.tariff),
                    places: places_from(h.places),
                    created_at: core::TimeMs(h.created_at),
                    expires_at: core::TimeMs(h.expires_at),
                    price_each: core::Cents(h.price_each),
                })
                .collect(),
            next_hold: w.next_hold,
            orders: w
                .orders
                .into_iter()
                .map(|o| core::Order {
                    id: core::OrderId(o.id),
                    event: core::EventId(o.event),
                    customer: core::CustomerId(o.customer),
                    channel: channel_from(o.channel),
                    hold: core::HoldId(o.hold),
                    tickets: o
                        .tickets
                        .into_iter()
                        .map(|t| core::Ticket {
                            place: match (t.seat, t.area) {
                                (Some(seat), _) => core::Place::Seat(core::SeatId(seat)),
                                (None, Some(area)) => core::Place::Standing(core::AreaId(area)),
                                // Restore's recount rejects a ticket without a place
                                // only if it names a bad area; u16::MAX never exists.
                                (None, None) => core::Place::Standing(core::AreaId(u16::MAX)),
                            },
                            category: core::CategoryId(t.category),
                            tariff: core::TariffId(t.tariff),
                            price: core::Cents(t.price),
                            cancelled_at: t.cancelled_at.map(core::TimeMs),
                        })
                        .collect(),
                    payment: o.payment,
                    buyer: core::Buyer { name: o.buyer.0, email: o.buyer.1 },
                    created_at: core::TimeMs(o.created_at),
                    refunds: o
                        .refunds
                        .into_iter()
                        .map(|(amount, at, reference)| core::RefundEntry {
                            amount: core::Cents(amount),
                            at: core::TimeMs(at),
                            reference,
                        })
                        .collect(),
                })
                .collect(),
            idempotency: w
                .idempotency
                .into_iter()
                .map(|(key, fingerprint, at, reply)| {
                    (core::IdemKey(key), core::IdemEntry { fingerprint, at: core::TimeMs(at), reply: reply_from(reply) })
                })
                .collect(),
            rooms: Vec::new(),
            ledger: ledger::Ledger::new().parts(),
            vouchers: vouchers::VoucherParts::default(),
            staff: staff::StaffParts::default(),
            payments: Vec::new(),
        }
    }
}

// ----- waiting rooms (appended: older records and snapshots decode unchanged) -----

#[derive(Serialize, Deserialize)]
struct WireRoomConfig {
    prequeue_opens_at: i64,
    opens_at: i64,
    checkout_window_ms: i64,
    admitted_active_max: u32,
    entries_max: u32,
}

#[derive(Serialize, Deserialize)]
enum WireRoomCommand {
    Join { identity: u128, queue_id: [u8; 16] },
    Draw { order: Vec<u32> },
    Admit { count: u32, unsold_places: u32 },
    Finish { identity: u128 },
    Pause { message: String, resume_at: Option<i64> },
    Resume,
    SoldOut,
    Tick,
}

#[derive(Serialize, Deserialize)]
enum WirePlace {
    PreQueue,
    Waiting(u32),
    Admitted(i64),
    Done,
    Expired,
    SoldOut,
}

#[derive(Serialize, Deserialize)]
enum WireRoomReply {
    Joined { existing: bool, queue_id: [u8; 16], place: WirePlace },
    Drawn(u32),
    Admitted { admitted: u32, first: u32, end: u32, until: i64 },
    Finished,
    Paused,
    Resumed(i64),
    SoldOut(u32),
    Ticked(u32),
}

#[derive(Serialize, Deserialize)]
struct WireRoom {
    event: u32,
    seed: [u8; 32],
    config: WireRoomConfig,
    now: i64,
    /// identity, queue id, rank, stage, checkout deadline
    entries: Vec<(u128, [u8; 16], Option<u32>, u8, Option<i64>)>,
    prequeue_len: u32,
    order: Option<Vec<u32>>,
    admitted_upto: u32,
    /// 0 running, 1 paused (with the notice), 2 sold out
    status: u8,
    pause: Option<(i64, String, Option<i64>)>,
}

fn room_config_to(c: &queue::RoomConfig) -> WireRoomConfig {
    WireRoomConfig {
        prequeue_opens_at: c.prequeue_opens_at.0,
        opens_at: c.opens_at.0,
        checkout_window_ms: c.checkout_window_ms,
        admitted_active_max: c.admitted_active_max,
        entries_max: c.entries_max,
    }
}

fn room_config_from(w: WireRoomConfig) -> queue::RoomConfig {
    queue::RoomConfig {
        prequeue_opens_at: core::TimeMs(w.prequeue_opens_at),
        opens_at: core::TimeMs(w.opens_at),
        checkout_window_ms: w.checkout_window_ms,
        admitted_active_max: w.admitted_active_max,
        entries_max: w.entries_max,
    }
}

fn room_command_to(c: &queue::RoomCommand) -> WireRoomCommand {
    use queue::RoomCommand as R;
    match c {
        R::Join { identity, queue_id } => WireRoomCommand::Join { identity: identity.0, queue_id: queue_id.0 },
        R::Draw { order } => WireRoomCommand::Draw { order: order.clone() },
        R::Admit { count, unsold_places } => WireRoomCommand::Admit { count: *count, unsold_places: *unsold_places },
        R::Finish { identity } => WireRoomCommand::Finish { identity: identity.0 },
        R::Pause { message, resume_at } => WireRoomCommand::Pause { message: message.clone(), resume_at: resume_at.map(|t| t.0) },
        R::Resume => WireRoomCommand::Resume,
        R::SoldOut => WireRoomCommand::SoldOut,
        R::Tick => WireRoomCommand::Tick,
    }
}

fn room_command_from(w: WireRoomCommand) -> queue::RoomCommand {
    use queue::RoomCommand as R;
    match w {
        WireRoomCommand::Join { identity, queue_id } => {
            R::Join { identity: queue::IdentityKey(identity), queue_id: queue::QueueId(queue_id) }
        }
        WireRoomCommand::Draw { order } => R::Draw { order },
        WireRoomCommand::Admit { count, unsold_places } => R::Admit { count, unsold_places },
        WireRoomCommand::Finish { identity } => R::Finish { identity: queue::IdentityKey(identity) },
        WireRoomCommand::Pause { message, resume_at } => R::Pause { message, resume_at: resume_at.map(core::TimeMs) },
        WireRoomCommand::Resume => R::Resume,
        WireRoomCommand::SoldOut => R::SoldOut,
        WireRoomCommand::Tick => R::Tick,
    }
}

fn place_to(p: &queue::Place) -> WirePlace {
    match p {
        queue::Place::PreQueue => WirePlace::PreQueue,
        queue::Place::Waiting { position } => WirePlace::Waiting(*position),
        queue::Place::Admitted { until } => WirePlace::Admitted(until.0),
        queue::Place::Done => WirePlace::Done,
        queue::Place::Expired => WirePlace::Expired,
        queue::Place::SoldOut => WirePlace::SoldOut,
    }
}

fn place_from(w: WirePlace) -> queue::Place {
    match w {
        WirePlace::PreQueue => queue::Place::PreQueue,
        WirePlace::Waiting(position) => queue::Place::Waiting { position },
        WirePlace::Admitted(until) => queue::Place::Admitted { until: core::TimeMs(until) },
        WirePlace::Done => queue::Place::Done,
        WirePlace::Expired => queue::Place::Expired,
        WirePlace::SoldOut => queue::Place::SoldOut,
    }
}

fn room_reply_to(r: &queue::RoomReply) -> WireRoomReply {
    use queue::RoomReply as R;
    match r {
        R::Joined { kind, queue_id, place } => WireRoomReply::Joined {
            existing: *kind == queue::JoinKind::Existing,
            queue_id: queue_id.0,
            place: place_to(place),
        },
        R::Drawn { entries } => WireRoomReply::Drawn(*entries),
        R::Admitted { admitted, ranks, until } => {
            WireRoomReply::Admitted { admitted: *admitted, first: ranks.start, end: ranks.end, until: until.0 }
        }
        R::Finished => WireRoomReply::Finished,
        R::Paused => WireRoomReply::Paused,
        R::Resumed { paused_ms } => WireRoomReply::Resumed(*paused_ms),
        R::SoldOut { told } => WireRoomReply::SoldOut(*told),
        R::Ticked { expired } => WireRoomReply::Ticked(*expired),
    }
}

fn room_reply_from(w: WireRoomReply) -> queue::RoomReply {
    use queue::RoomReply as R;
    match w {
        WireRoomReply::Joined { existing, queue_id, place } => R::Joined {
            kind: if existing { queue::JoinKind::Existing } else { queue::JoinKind::New },
            queue_id: queue::QueueId(queue_id),
            place: place_from(place),
        },
        WireRoomReply::Drawn(entries) => R::Drawn { entries },
        WireRoomReply::Admitted { admitted, first, end, until } => {
            R::Admitted { admitted, ranks: first..end, until: core::TimeMs(until) }
        }
        WireRoomReply::Finished => R::Finished,
        WireRoomReply::Paused => R::Paused,
        WireRoomReply::Resumed(paused_ms) => R::Resumed { paused_ms },
        WireRoomReply::SoldOut(told) => R::SoldOut { told },
        WireRoomReply::Ticked(expired) => R::Ticked { expired },
    }
}

fn room_to(event: core::EventId, seed: [u8; 32], p: &queue::RoomParts) -> WireRoom {
    let (status, pause) = match &p.status {
        queue::StatusParts::Running => (0, None),
        queue::StatusParts::Paused(n) => (1, Some((n.since.0, n.message.clone(), n.resume_at.map(|t| t.0)))),
        queue::StatusParts::SoldOut => (2, None),
    };
    WireRoom {
        event: event.0,
        seed,
        config: room_config_to(&p.config),
        now: p.now.0,
        entries: p.entries.iter().map(|e| (e.identity.0, e.queue_id.0, e.rank, e.stage, e.until.map(|t| t.0))).collect(),
        prequeue_len: p.prequeue_len,
        order: p.order.clone(),
        admitted_upto: p.admitted_upto,
        status,
        pause,
    }
}

fn room_from(w: WireRoom) -> Result<(core::EventId, [u8; 32], queue::RoomParts), DecodeError> {
    let status = match (w.status, w.pause) {
        (0, None) => queue::StatusParts::Running,
        (1, Some((since, message, resume_at))) => queue::StatusParts::Paused(queue::PauseNotice {
            since: core::TimeMs(since),
            message,
            resume_at: resume_at.map(core::TimeMs),
        }),
        (2, None) => queue::StatusParts::SoldOut,
        _ => return Err(DecodeError::Malformed("room status".into())),
    };
    Ok((
        core::EventId(w.event),
        w.seed,
        queue::RoomParts {
            config: room_config_from(w.config),
            now: core::TimeMs(w.now),
            entries: w
                .entries
                .into_iter()
                .map(|(identity, queue_id, rank, stage, until)| queue::EntryParts {
                    identity: queue::IdentityKey(identity),
                    queue_id: queue::QueueId(queue_id),
                    rank,
                    stage,
                    until: until.map(core::TimeMs),
                })
                .collect(),
            prequeue_len: w.prequeue_len,
            order: w.order,
            admitted_upto: w.admitted_upto,
            status,
        },
    ))
}

// ----- the voucher ledger (appended: older records and snapshots decode unchanged) -----

/// The account kinds by name, so an unknown kind fails to decode instead of
/// turning into another.
#[derive(Serialize, Deserialize)]
enum WireAccountKind {
    Card,
    MerchantPayable,
    ProviderClearing,
    SalesPointCash,
    ExpiredValue,
    OfflineRisk,
    Issuer,
    PayoutClearing,
}

#[derive(Serialize, Deserialize)]
enum WireLedgerCommand {
    CreateAccount { id: u128, programme: u32, kind: WireAccountKind, ceiling: Option<i64> },
    Transfer { id: u128, debit: u128, credit: u128, amount: i64 },
    Reserve { id: u128, debit: u128, credit: u128, amount: i64, timeout_ms: i64 },
    Post { id: u128, pending: u128, amount: i64 },
    Void { id: u128, pending: u128 },
    BookOfflineRisk { id: u128, card: u128, merchant: u128, amount: i64, device: u64, receipt: u64 },
    Tick,
}

#[derive(Serialize, Deserialize)]
enum WireLedgerReply {
    AccountCreated(u128),
    Transferred(u128),
    Reserved { transfer: u128, expires_at: i64 },
    Posted { transfer: u128, pending: u128, amount: i64, released: i64 },
    Voided { transfer: u128, pending: u128, released: i64 },
    RiskBooked { transfer: u128, shortfall: i64 },
    Ticked(u32),
}

#[derive(Serialize, Deserialize)]
struct WireAccount {
    id: u128,
    programme: u32,
    kind: WireAccountKind,
    ceiling: Option<i64>,
    created_at: i64,
    /// debits posted, credits posted, debits pending, credits pending, risk shortfall:
    /// stored only so restore can check what it recomputes from the history.
    sums: [i64; 5],
}

#[derive(Serialize, Deserialize)]
enum WireTransferKind {
    Single,
    Reserve { timeout_ms: i64, expires_at: i64 },
    Post { pending: u128, released: i64 },
    Void { pending: u128 },
    OfflineRisk { device: u64, receipt: u64, shortfall: i64 },
}

#[derive(Serialize, Deserialize)]
struct WireTransfer {
    id: u128,
    debit: u128,
    credit: u128,
    amount: i64,
    kind: WireTransferKind,
    at: i64,
}

#[derive(Serialize, Deserialize)]
enum WirePendingState {
    Pending(i64),
    Posted(u128),
    Voided(u128),
    Expired(i64),
}

#[derive(Serialize, Deserialize)]
struct WireRiskEntry {
    transfer: u128,
    card: u128,
    merchant: u128,
    amount: i64,
    shortfall: i64,
    device: u64,
    receipt: u64,
    at: i64,
}

#[derive(Serialize, Deserialize)]
struct WireLedger {
    now: i64,
    accounts: Vec<WireAccount>,
    transfers: Vec<WireTransfer>,
    pending: Vec<(u128, WirePendingState)>,
    risk: Vec<WireRiskEntry>,
}

fn kind_to(k: ledger::AccountKind) -> WireAccountKind {
    use ledger::AccountKind as K;
    match k {
        K::Card => WireAccountKind::Card,
        K::MerchantPayable => WireAccountKind::MerchantPayable,
        K::ProviderClearing => WireAccountKind::ProviderClearing,
        K::SalesPointCash => WireAccountKind::SalesPointCash,
        K::ExpiredValue => WireAccountKind::ExpiredValue,
        K::OfflineRisk => WireAccountKind::OfflineRisk,
        K::Issuer => WireAccountKind::Issuer,
        K::PayoutClearing => WireAccountKind::PayoutClearing,
    }
}

fn kind_from(w: WireAccountKind) -> ledger::AccountKind {
    use ledger::AccountKind as K;
    match w {
        WireAccountKind::Card => K::Card,
        WireAccountKind::MerchantPayable => K::MerchantPayable,
        WireAccountKind::ProviderClearing => K::ProviderClearing,
        WireAccountKind::SalesPointCash => K::SalesPointCash,
        WireAccountKind::ExpiredValue => K::ExpiredValue,
        WireAccountKind::OfflineRisk => K::OfflineRisk,
        WireAccountKind::Issuer => K::Issuer,
        WireAccountKind::PayoutClearing => K::PayoutClearing,
    }
}

fn ledger_command_to(c: &ledger::LedgerCommand) -> WireLedgerCommand {
    use ledger::LedgerCommand as L;
    match *c {
        L::CreateAccount { id, programme, kind, ceiling } => WireLedgerCommand::CreateAccount {
            id: id.0,
            programme: programme.0,
            kind: kind_to(kind),
            ceiling: ceiling.map(|c| c.0),
        },
        L::Transfer { id, debit, credit, amount } => {
            WireLedgerCommand::Transfer { id: id.0, debit: debit.0, credit: credit.0, amount: amount.0 }
        }
        L::Reserve { id, debit, credit, amount, timeout_ms } => {
            WireLedgerCommand::Reserve { id: id.0, debit: debit.0, credit: credit.0, amount: amount.0, timeout_ms }
        }
        L::Post { id, pending, amount } => WireLedgerCommand::Post { id: id.0, pending: pending.0, amount: amount.0 },
        L::Void { id, pending } => WireLedgerCommand::Void { id: id.0, pending: pending.0 },
        L::BookOfflineRisk { id, card, merchant, amount, device, receipt } => WireLedgerCommand::BookOfflineRisk {
            id: id.0,
            card: card.0,
            merchant: merchant.0,
            amount: amount.0,
            device: device.0,
            receipt,
        },
        L::Tick => WireLedgerCommand::Tick,
    }
}

fn ledger_command_from(w: WireLedgerCommand) -> ledger::LedgerCommand {
    use ledger::{AccountId as A, LedgerCommand as L, TransferId as T};
    match w {
        WireLedgerCommand::CreateAccount { id, programme, kind, ceiling } => L::CreateAccount {
            id: A(id),
            programme: ledger::ProgrammeId(programme),
            kind: kind_from(kind),
            ceiling: ceiling.map(core::Cents),
        },
        WireLedgerCommand::Transfer { id, debit, credit, amount } => {
            L::Transfer { id: T(id), debit: A(debit), credit: A(credit), amount: core::Cents(amount) }
        }
        WireLedgerCommand::Reserve { id, debit, credit, amount, timeout_ms } => {
            L::Reserve { id: T(id), debit: A(debit), credit: A(credit), amount: core::Cents(amount), timeout_ms }
        }
        WireLedgerCommand::Post { id, pending, amount } => L::Post { id: T(id), pending: T(pending), amount: core::Cents(amount) },
        WireLedgerCommand::Void { id, pending } => L::Void { id: T(id), pending: T(pending) },
        WireLedgerCommand::BookOfflineRisk { id, card, merchant, amount, device, receipt } => L::BookOfflineRisk {
            id: T(id),
            card: A(card),
            merchant: A(merchant),
            amount: core::Cents(amount),
            device: ledger::DeviceId(device),
            receipt,
        },
        WireLedgerCommand::Tick => L::Tick,
    }
}

fn ledger_reply_to(r: &ledger::LedgerReply) -> WireLedgerReply {
    use ledger::LedgerReply as L;
    match *r {
        L::AccountCreated { account } => WireLedgerReply::AccountCreated(account.0),
        L::Transferred { transfer } => WireLedgerReply::Transferred(transfer.0),
        L::Reserved { transfer, expires_at } => WireLedgerReply::Reserved { transfer: transfer.0, expires_at: expires_at.0 },
        L::Posted { transfer, pending, amount, released } => WireLedgerReply::Posted {
            transfer: transfer.0,
            pending: pending.0,
            amount: amount.0,
            released: released.0,
        },
        L::Voided { transfer, pending, released } => {
            WireLedgerReply::Voided { transfer: transfer.0, pending: pending.0, released: released.0 }
        }
        L::RiskBooked { transfer, shortfall } => WireLedgerReply::RiskBooked { transfer: transfer.0, shortfall: shortfall.0 },
        L::Ticked { expired } => WireLedgerReply::Ticked(expired),
    }
}

fn ledger_reply_from(w: WireLedgerReply) -> ledger::LedgerReply {
    use ledger::{LedgerReply as L, TransferId as T};
    match w {
        WireLedgerReply::AccountCreated(account) => L::AccountCreated { account: ledger::AccountId(account) },
        WireLedgerReply::Transferred(transfer) => L::Transferred { transfer: T(transfer) },
        WireLedgerReply::Reserved { transfer, expires_at } => {
            L::Reserved { transfer: T(transfer), expires_at: core::TimeMs(expires_at) }
        }
        WireLedgerReply::Posted { transfer, pending, amount, released } => L::Posted {
            transfer: T(transfer),
            pending: T(pending),
            amount: core::Cents(amount),
            released: core::Cents(released),
        },
        WireLedgerReply::Voided { transfer, pending, released } => {
            L::Voided { transfer: T(transfer), pending: T(pending), released: core::Cents(released) }
        }
        WireLedgerReply::RiskBooked { transfer, shortfall } => {
            L::RiskBooked { transfer: T(transfer), shortfall: core::Cents(shortfall) }
        }
        WireLedgerReply::Ticked(expired) => L::Ticked { expired },
    }
}

fn ledger_to(p: &ledger::LedgerParts) -> WireLedger {
    use ledger::{PendingState as P, TransferKind as K};
    WireLedger {
        now: p.now.0,
        accounts: p
            .accounts
            .iter()
            .map(|a| WireAccount {
                id: a.id.0,
                programme: a.programme.0,
                kind: kind_to(a.kind),
                ceiling: a.ceiling.map(|c| c.0),
                created_at: a.created_at.0,
                sums: [a.debits_posted.0, a.credits_posted.0, a.debits_pending.0, a.credits_pending.0, a.risk_shortfall.0],
            })
            .collect(),
        transfers: p
            .transfers
            .iter()
            .map(|t| WireTransfer {
                id: t.id.0,
                debit: t.debit.0,
                credit: t.credit.0,
                amount: t.amount.0,
                kind: match t.kind {
                    K::Single => WireTransferKind::Single,
                    K::Reserve { timeout_ms, expires_at } => WireTransferKind::Reserve { timeout_ms, expires_at: expires_at.0 },
                    K::Post { pending, released } => WireTransferKind::Post { pending: pending.0, released: released.0 },
                    K::Void { pending } => WireTransferKind::Void { pending: pending.0 },
                    K::OfflineRisk { device, receipt, shortfall } => {
                        WireTransferKind::OfflineRisk { device: device.0, receipt, shortfall: shortfall.0 }
                    }
                },
                at: t.at.0,
            })
            .collect(),
        pending: p
            .pending
            .iter()
            .map(|(id, state)| {
                let state = match *state {
                    P::Pending { expires_at } => WirePendingState::Pending(expires_at.0),
                    P::Posted { by } => WirePendingState::Posted(by.0),
                    P::Voided { by } => WirePendingState::Voided(by.0),
                    P::Expired { at } => WirePendingState::Expired(at.0),
                };
                (id.0, state)
            })
            .collect(),
        risk: p
            .risk
            .iter()
            .map(|r| WireRiskEntry {
                transfer: r.transfer.0,
                card: r.card.0,
                merchant: r.merchant.0,
                amount: r.amount.0,
                shortfall: r.shortfall.0,
                device: r.device.0,
                receipt: r.receipt,
                at: r.at.0,
            })
            .collect(),
    }
}

fn ledger_from(w: WireLedger) -> ledger::LedgerParts {
    use ledger::{AccountId as A, PendingState as P, TransferId as T, TransferKind as K};
    use core::{Cents, TimeMs};
    ledger::LedgerParts {
        now: TimeMs(w.now),
        accounts: w
            .accounts
            .into_iter()
            .map(|a| {
                let [debits_posted, credits_posted, debits_pending, credits_pending, risk_shortfall] = a.sums.map(Cents);
                ledger::Account {
                    id: A(a.id),
                    programme: ledger::ProgrammeId(a.programme),
                    kind: kind_from(a.kind),
                    ceiling: a.ceiling.map(Cents),
                    created_at: TimeMs(a.created_at),
                    debits_posted,
                    credits_posted,
                    debits_pending,
                    credits_pending,
                    risk_shortfall,
                }
            })
            .collect(),
        transfers: w
            .transfers
            .into_iter()
            .map(|t| ledger::Transfer {
                id: T(t.id),
                debit: A(t.debit),
                credit: A(t.credit),
                amount: Cents(t.amount),
                kind: match t.kind {
                    WireTransferKind::Single => K::Single,
                    WireTransferKind::Reserve { timeout_ms, expires_at } => K::Reserve { timeout_ms, expires_at: TimeMs(expires_at) },
                    WireTransferKind::Post { pending, released } => K::Post { pending: T(pending), released: Cents(released) },
                    WireTransferKind::Void { pending } => K::Void { pending: T(pending) },
                    WireTransferKind::OfflineRisk { device, receipt, shortfall } => {
                        K::OfflineRisk { device: ledger::DeviceId(device), receipt, shortfall: Cents(shortfall) }
                    }
                },
                at: TimeMs(t.at),
            })
            .collect(),
        pending: w
            .pending
            .into_iter()
            .map(|(id, state)| {
                let state = match state {
                    WirePendingState::Pending(at) => P::Pending { expires_at: TimeMs(at) },
                    WirePendingState::Posted(by) => P::Posted { by: T(by) },
                    WirePendingState::Voided(by) => P::Voided { by: T(by) },
                    WirePendingState::Expired(at) => P::Expired { at: TimeMs(at) },
                };
                (T(id), state)
            })
            .collect(),
        risk: w
            .risk
            .into_iter()
            .map(|r| ledger::RiskEntry {
                transfer: T(r.transfer),
                card: A(r.card),
                merchant: A(r.merchant),
                amount: Cents(r.amount),
                shortfall: Cents(r.shortfall),
                device: ledger::DeviceId(r.device),
                receipt: r.receipt,
                at: TimeMs(r.at),
            })
            .collect(),
    }
}

// ----- staff accounts and sessions (appended; self-contained so snapshot sections
// can be renumbered without touching the rest) -----

#[derive(Serialize, Deserialize)]
enum WireStaffCommand {
    CreateAccount { login: String, display_name: String, password_hash: String, roles: u8 },
    ChangePassword { account: u32, password_hash: String },
    SetRoles { account: u32, roles: u8 },
    Disable { account: u32 },
    StartSession { account: u32, session: [u8; 32], expires_at: i64 },
    EndSession { session: [u8; 32] },
    EndAllSessions { account: u32 },
    BindMerchant { account: u32, merchant: Option<u32> },
}

#[derive(Serialize, Deserialize)]
enum WireStaffReply {
    AccountCreated(u32),
    PasswordChanged { account: u32, sessions_ended: u32 },
    RolesSet(u32),
    Disabled { account: u32, sessions_ended: u32 },
    SessionStarted { account: u32, expires_at: i64, evicted: Option<[u8; 32]> },
    SessionEnded(u32),
    SessionsEnded { account: u32, sessions_ended: u32 },
    MerchantBound { account: u32 },
}

#[derive(Serialize, Deserialize)]
struct WireStaffAccount {
    id: u32,
    login: String,
    display_name: String,
    password_hash: String,
    roles: u8,
    created_at: i64,
    disabled_at: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct WireStaff {
    accounts: Vec<WireStaffAccount>,
    /// (digest, account, started_at, expires_at)
    sessions: Vec<([u8; 32], u32, i64, i64)>,
}

/// `decode_entry` refuses a record whose login does not parse before converting
/// (`staff_record_checked`), so this only ever sees logins the edge parsed.
fn login_from(text: String) -> staff::LoginName {
    staff::LoginName::parse(&text).expect("decode_entry checked the login")
}

fn staff_record_checked(wire: &WireEntry) -> Result<(), DecodeError> {
    match &wire.envelope.command {
        WireCommand::Staff(WireStaffCommand::CreateAccount { login, .. }) if !staff::LoginName::is_valid(login) => {
            Err(DecodeError::Malformed("a staff login that does not parse".into()))
        }
        _ => Ok(()),
    }
}

/// Unknown role bits are dropped rather than guessed; a record's checksum and hash
/// chain already rule out corruption reaching here.
fn roles_from(bits: u8) -> staff::Roles {
    staff::Roles::from_bits(bits).unwrap_or(staff::Roles::NONE)
}

fn staff_command_to(c: &staff::StaffCommand) -> WireStaffCommand {
    use staff::StaffCommand as S;
    match c {
        S::CreateAccount { login, display_name, password_hash, roles } => WireStaffCommand::CreateAccount {
            login: login.as_str().to_string(),
            display_name: display_name.clone(),
            password_hash: password_hash.clone(),
            roles: roles.bits(),
        },
        S::ChangePassword { account, password_hash } => {
            WireStaffCommand::ChangePassword { account: account.0, password_hash: password_hash.clone() }
        }
        S::SetRoles { account, roles } => WireStaffCommand::SetRoles { account: account.0, roles: roles.bits() },
        S::Disable { account } => WireStaffCommand::Disable { account: account.0 },
        S::StartSession { account, session, expires_at } => {
            WireStaffCommand::StartSession { account: account.0, session: session.0, expires_at: expires_at.0 }
        }
        S::EndSession { session } => WireStaffCommand::EndSession { session: session.0 },
        S::EndAllSessions { account } => WireStaffCommand::EndAllSessions { account: account.0 },
        S::BindMerchant { account, merchant } => WireStaffCommand::BindMerchant { account: account.0, merchant: merchant.map(|m| m.0) },
    }
}

fn staff_command_from(w: WireStaffCommand) -> staff::StaffCommand {
    use staff::StaffCommand as S;
    let id = staff::StaffAccountId;
    match w {
        WireStaffCommand::CreateAccount { login, display_name, password_hash, roles } => {
            S::CreateAccount { login: login_from(login), display_name, password_hash, roles: roles_from(roles) }
        }
        WireStaffCommand::ChangePassword { account, password_hash } => S::ChangePassword { account: id(account), password_hash },
        WireStaffCommand::SetRoles { account, roles } => S::SetRoles { account: id(account), roles: roles_from(roles) },
        WireStaffCommand::Disable { account } => S::Disable { account: id(account) },
        WireStaffCommand::StartSession { account, session, expires_at } => S::StartSession {
            account: id(account),
            session: staff::SessionDigest(session),
            expires_at: core::TimeMs(expires_at),
        },
        WireStaffCommand::EndSession { session } => S::EndSession { session: staff::SessionDigest(session) },
        WireStaffCommand::EndAllSessions { account } => S::EndAllSessions { account: id(account) },
        WireStaffCommand::BindMerchant { account, merchant } => {
            S::BindMerchant { account: id(account), merchant: merchant.map(sturmfest_core::vouchers::MerchantId) }
        }
    }
}

fn staff_reply_to(r: &staff::StaffReply) -> WireStaffReply {
    use staff::StaffReply as S;
    match *r {
        S::AccountCreated { account } => WireStaffReply::AccountCreated(account.0),
        S::PasswordChanged { account, sessions_ended } => WireStaffReply::PasswordChanged { account: account.0, sessions_ended },
        S::RolesSet { account } => WireStaffReply::RolesSet(account.0),
        S::Disabled { account, sessions_ended } => WireStaffReply::Disabled { account: account.0, sessions_ended },
        S::SessionStarted { account, expires_at, evicted } => WireStaffReply::SessionStarted {
            account: account.0,
            expires_at: expires_at.0,
            evicted: evicted.map(|d| d.0),
        },
        S::SessionEnded { account } => WireStaffReply::SessionEnded(account.0),
        S::SessionsEnded { account, sessions_ended } => WireStaffReply::SessionsEnded { account: account.0, sessions_ended },
        S::MerchantBound { account } => WireStaffReply::MerchantBound { account: account.0 },
    }
}

fn staff_reply_from(w: WireStaffReply) -> staff::StaffReply {
    use staff::StaffReply as S;
    let id = staff::StaffAccountId;
    match w {
        WireStaffReply::AccountCreated(a) => S::AccountCreated { account: id(a) },
        WireStaffReply::PasswordChanged { account, sessions_ended } => S::PasswordChanged { account: id(account), sessions_ended },
        WireStaffReply::RolesSet(a) => S::RolesSet { account: id(a) },
        WireStaffReply::Disabled { account, sessions_ended } => S::Disabled { account: id(account), sessions_ended },
        WireStaffReply::SessionStarted { account, expires_at, evicted } => S::SessionStarted {
            account: id(account),
            expires_at: core::TimeMs(expires_at),
            evicted: evicted.map(staff::SessionDigest),
        },
        WireStaffReply::SessionEnded(a) => S::SessionEnded { account: id(a) },
        WireStaffReply::SessionsEnded { account, sessions_ended } => S::SessionsEnded { account: id(account), sessions_ended },
        WireStaffReply::MerchantBound { account } => S::MerchantBound { account: id(account) },
    }
}

/// The number replay compares: the account a reply created or touched, or how many
/// sessions a command ended (the decision that depends on the state).
fn staff_summary(reply: &staff::StaffReply) -> (&'static str, u64) {
    use staff::StaffReply as S;
    match *reply {
        S::AccountCreated { account } => ("staff_account_created", u64::from(account.0)),
        S::PasswordChanged { sessions_ended, .. } => ("staff_password_changed", u64::from(sessions_ended)),
        S::RolesSet { account } => ("staff_roles_set", u64::from(account.0)),
        S::Disabled { sessions_ended, .. } => ("staff_disabled", u64::from(sessions_ended)),
        // Whether an old session was evicted is the decision worth checking on replay.
        S::SessionStarted { evicted, .. } => ("staff_session_started", u64::from(evicted.is_some())),
        S::SessionEnded { account } => ("staff_session_ended", u64::from(account.0)),
        S::SessionsEnded { sessions_ended, .. } => ("staff_sessions_ended", u64::from(sessions_ended)),
        S::MerchantBound { account } => ("staff_merchant_bound", u64::from(account.0)),
    }
}

fn staff_to(p: &staff::StaffParts) -> WireStaff {
    WireStaff {
        accounts: p
            .accounts
            .iter()
            .map(|a| WireStaffAccount {
                id: a.id.0,
                login: a.login.as_str().to_string(),
                display_name: a.display_name.clone(),
                password_hash: a.password_hash.clone(),
                roles: a.roles.bits(),
                created_at: a.created_at.0,
                disabled_at: a.disabled_at.map(|t| t.0),
            })
            .collect(),
        sessions: p.sessions.iter().map(|s| (s.digest.0, s.account.0, s.started_at.0, s.expires_at.0)).collect(),
    }
}

/// Unlike a log record, a snapshot section is refused outright when a login or a
/// role set does not parse: nothing to replay could correct it.
fn staff_from(w: WireStaff) -> Result<staff::StaffParts, DecodeError> {
    let bad = |what: &str| DecodeError::Malformed(format!("staff snapshot: {what}"));
    let mut accounts = Vec::with_capacity(w.accounts.len());
    for a in w.accounts {
        accounts.push(staff::Account {
            id: staff::StaffAccountId(a.id),
            login: staff::LoginName::parse(&a.login).ok_or_else(|| bad("a login that does not parse"))?,
            display_name: a.display_name,
            password_hash: a.password_hash,
            roles: staff::Roles::from_bits(a.roles).ok_or_else(|| bad("unknown role bits"))?,
            created_at: core::TimeMs(a.created_at),
            disabled_at: a.disabled_at.map(core::TimeMs),
            // Bindings travel in the version-6 section after the settlements.
            merchant: None,
        });
    }
    let sessions = w
        .sessions
        .into_iter()
        .map(|(digest, account, started_at, expires_at)| staff::Session {
            digest: staff::SessionDigest(digest),
            account: staff::StaffAccountId(account),
            started_at: core::TimeMs(started_at),
            expires_at: core::TimeMs(expires_at),
        })
        .collect();
    Ok(staff::StaffParts { accounts, sessions })
}

#[cfg(test)]
mod tests {
    //! The codec against the core's own state: a tenant with a waiting room mid-sale
    //! and a voucher ledger mid-day survives a snapshot round trip, room commands,
    //! admitted holds and every ledger command survive the entry round trip, every
    //! ledger reply survives as a remembered idempotent reply, and a version-1
    //! snapshot (before rooms) and a version-2 one (before the ledger) still decode.
    //! Every voucher command survives the entry round trip and replays to the same
    //! decisions; a tenant with programmes, cards and redemptions, or with staff
    //! accounts and sessions, survives a version-5 snapshot, and version-3 (before
    //! vouchers) and version-4 (before staff) snapshots still decode.

    use super::*;
    use sturmfest_core::queue::{IdentityKey, QueueId, RoomCommand, RoomConfig};

    fn env(time: i64, command: core::Command) -> core::Envelope {
        core::Envelope { time: core::TimeMs(time), idempotency: None, command }
    }

    fn tenant_with_room() -> (core::Tenant, Vec<core::Envelope>) {
        let opens = jiff::Timestamp::from_second(2_000_000_000).unwrap();
        let starts = opens.to_zoned(jiff::tz::TimeZone::UTC).checked_add(jiff::Span::new().days(3)).unwrap();
        let open_zoned = opens.to_zoned(jiff::tz::TimeZone::UTC);
        let t0 = opens.as_millisecond();
        let config = RoomConfig {
            prequeue_opens_at: core::TimeMs(t0 - 3_600_000),
            opens_at: core::TimeMs(t0),
            checkout_window_ms: 300_000,
            admitted_active_max: 2,
            entries_max: 100,
        };
        let join = |i: u8| core::Command::Room {
            event: core::EventId(0),
            command: RoomCommand::Join { identity: IdentityKey(u128::from(i)), queue_id: QueueId([i; 16]) },
        };
        let game = crate::demo::game(core::VenueId(0), "Spiel", &starts, &open_zoned);
        let amend = core::Command::AmendEvent {
            event: core::EventId(0),
            amendment: core::EventAmendment {
                sale_opens_at: game.sale_opens_at,
                sale_closes_at: game.sale_closes_at.plus_ms(60_000),
                quotas: [Some(2_000), Some(500), None],
                prices: vec![(core::CategoryId(0), core::TariffId(1), core::Cents(2_250))],
            },
        };
        let commands = vec![
            env(t0 - 7_200_000, core::Command::CreateVenue(crate::demo::arena())),
            env(t0 - 7_200_000, core::Command::CreateEvent(crate::demo::game(core::VenueId(0), "Spiel", &starts, &open_zoned))),
            env(t0 - 7_200_000, core::Command::Sale { event: core::EventId(0), action: core::SaleAction::Open }),
            env(t0 - 7_200_000, core::Command::CreateRoom { event: core::EventId(0), config, seed: [3; 32] }),
            env(t0 - 60_000, join(1)),
            env(t0 - 50_000, join(2)),
            env(t0 - 40_000, join(3)),
            env(t0, core::Command::Room { event: core::EventId(0), command: RoomCommand::Draw { order: vec![2, 0, 1] } }),
            env(t0 + 1, join(4)),
            env(t0 + 2, core::Command::Room { event: core::EventId(0), command: RoomCommand::Admit { count: 9, unsold_places: 0 } }),
            env(
                t0 + 3,
                core::Command::Hold(core::HoldRequest {
                    event: core::EventId(0),
                    customer: core::CustomerId(3),
                    channel: core::Channel::Online,
                    selection: core::Selection::Seats(vec![core::SeatId(0)]),
                    tariff: core::TariffId(0),
                    admission: Some(IdentityKey(3)),
                }),
            ),
            env(t0 + 4, amend),
            env(t0 + 4, core::Command::Sale { event: core::EventId(0), action: core::SaleAction::Pause { message: "Halt".into(), resume_at: None } }),
        ];
        let mut tenant = core::Tenant::new();
        for envelope in &commands {
            tenant.apply(envelope).unwrap_or_else(|r| panic!("{envelope:?}: {}", r.code()));
        }
        (tenant, commands)
    }

    #[test]
    fn a_tenant_with_a_paused_waiting_room_round_trips_through_a_snapshot() {
        let (tenant, _) = tenant_with_room();
        let bytes = encode_snapshot(&tenant.parts());
        assert_eq!(bytes[0], snapshot_format_version);
        let restored = core::Tenant::restore(decode_snapshot(&bytes).unwrap()).unwrap();
        assert_eq!(restored, tenant);
    }

    #[test]
    fn room_commands_and_admitted_holds_round_trip_and_replay_to_the_same_state() {
        let (tenant, commands) = tenant_with_room();
        let mut replayed = core::Tenant::new();
        for envelope in commands {
            let entry = LogEntry { envelope, outcome: OutcomeSummary { code: "ok:x".into(), id: 0 } };
            let back = decode_entry(&encode_entry(&entry)).unwrap();
            assert_eq!(back, entry);
            replayed.apply(&back.envelope).unwrap();
        }
        assert_eq!(replayed, tenant);
    }

    #[test]
    fn a_version_1_snapshot_without_rooms_still_decodes() {
        let (tenant, _) = tenant_with_room();
        let mut parts = tenant.parts();
        parts.rooms.clear();
        let mut v1 = vec![1u8];
        postcard::to_io(&WireParts::from(&parts), &mut v1).unwrap();
        assert_eq!(decode_snapshot(&v1).unwrap(), parts);
        assert!(matches!(decode_snapshot(&[9, 0]), Err(DecodeError::Version(9))));
    }

    // ----- the voucher ledger -----

    use sturmfest_core::ledger::{
        AccountId, AccountKind, DeviceId, LedgerCommand as L, LedgerReply, PendingState, ProgrammeId, TransferId,
    };

    const T0: i64 = 1_700_000_000_000;

    fn ledger(time: i64, command: L) -> core::Envelope {
        env(time, core::Command::Ledger(command))
    }

    /// Every ledger command variant, every account kind, and at least one of each
    /// reply: loads, a redemption, a post for less, a void, an expiry by the
    /// tenant's tick, a risk booking below zero, and a rejection. Odd commands carry
    /// an idempotency key, so the tenant remembers ledger replies too.
    fn ledger_commands() -> Vec<core::Envelope> {
        let p = ProgrammeId(7);
        let a = |n: u128| AccountId(n);
        let t = |n: u128| TransferId(n);
        let c = core::Cents;
        let big = u128::MAX - 1;
        let mut commands: Vec<core::Envelope> = AccountKind::ALL
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                let ceiling = (*kind == AccountKind::Card).then_some(c(15_000));
                ledger(T0, L::CreateAccount { id: a(i as u128 + 1), programme: p, kind: *kind, ceiling })
            })
            .collect();
        // Ids 1..=7 follow `AccountKind::ALL`: 1 card, 2 merchant, 3 clearing, 4 cash.
        commands.extend([
            ledger(T0, L::CreateAccount { id: a(big), programme: p, kind: AccountKind::Card, ceiling: Some(c(10_000)) }),
            ledger(T0 + 1, L::Transfer { id: t(1), debit: a(3), credit: a(1), amount: c(5_000) }),
            ledger(T0 + 2, L::Transfer { id: t(big), debit: a(4), credit: a(big), amount: c(2_000) }),
            ledger(T0 + 3, L::Transfer { id: t(2), debit: a(1), credit: a(2), amount: c(1_250) }),
            ledger(T0 + 4, L::Reserve { id: t(3), debit: a(1), credit: a(2), amount: c(2_000), timeout_ms: 60_000 }),
            ledger(T0 + 5, L::Post { id: t(4), pending: t(3), amount: c(1_500) }),
            ledger(T0 + 6, L::Reserve { id: t(5), debit: a(1), credit: a(2), amount: c(300), timeout_ms: 60_000 }),
            ledger(T0 + 7, L::Void { id: t(6), pending: t(5) }),
            ledger(T0 + 8, L::Reserve { id: t(7), debit: a(big), credit: a(2), amount: c(700), timeout_ms: 1_000 }),
            ledger(T0 + 9, L::Reserve { id: t(8), debit: a(1), credit: a(2), amount: c(100), timeout_ms: 600_000 }),
            env(T0 + 2_000, core::Command::Tick),
            ledger(T0 + 2_001, L::BookOfflineRisk { id: t(9), card: a(1), merchant: a(2), amount: c(3_000), device: DeviceId(u64::MAX), receipt: 42 }),
            ledger(T0 + 2_002, L::Transfer { id: t(10), debit: a(1), credit: a(2), amount: c(1) }),
            ledger(T0 + 2_003, L::Tick),
        ]);
        for (i, envelope) in commands.iter_mut().enumerate() {
            if i % 2 == 1 {
                envelope.idempotency = Some(core::Idempotency { key: core::IdemKey(i as u128), fingerprint: 9 });
            }
        }
        commands
    }

    fn tenant_with_room_and_ledger() -> (core::Tenant, Vec<core::Envelope>) {
        let (mut tenant, mut commands) = tenant_with_room();
        let room_time = tenant.now().0;
        let mut rejected = Vec::new();
        for mut envelope in ledger_commands() {
            // After the room's commands: the tenant's clock only moves forward.
            envelope.time = core::TimeMs(envelope.time.0 - T0 + room_time + 1);
            if let Err(rejection) = tenant.apply(&envelope) {
                rejected.push(rejection.code());
            }
            commands.push(envelope);
        }
        assert_eq!(rejected, ["insufficient_balance"], "only the redemption from a card below zero is refused");
        (tenant, commands)
    }

    #[test]
    fn every_ledger_command_round_trips_as_a_log_entry_and_replays_to_the_same_state() {
        let commands = ledger_commands();
        // An exhaustive match, so a new command variant fails here until it is covered.
        let variant = |command: &L| match command {
            L::CreateAccount { .. } => "create_account",
            L::Transfer { .. } => "transfer",
            L::Reserve { .. } => "reserve",
            L::Post { .. } => "post",
            L::Void { .. } => "void",
            L::BookOfflineRisk { .. } => "book_offline_risk",
            L::Tick => "tick",
        };
        let variants: std::collections::BTreeSet<&str> = commands
            .iter()
            .filter_map(|e| match &e.command {
                core::Command::Ledger(command) => Some(variant(command)),
                _ => None,
            })
            .collect();
        assert_eq!(variants.len(), 7, "every ledger command variant is covered");
        let mut original = core::Tenant::new();
        let mut replayed = core::Tenant::new();
        for envelope in commands {
            let outcome = original.apply(&envelope);
            let entry = LogEntry { envelope, outcome: OutcomeSummary::of(&outcome) };
            let back = decode_entry(&encode_entry(&entry)).unwrap();
            assert_eq!(back, entry);
            assert!(encode_entry(&entry).len() <= entry_bytes_bound(entry.envelope.idempotency.as_ref(), &entry.envelope.command));
            assert_eq!(OutcomeSummary::of(&replayed.apply(&back.envelope)), entry.outcome, "replay decides the same");
        }
        assert_eq!(replayed, original);
        let card = original.ledger().account(AccountId(1)).unwrap();
        assert!(card.available().0 < 0 && card.risk_shortfall.0 > 0, "the run took a card below zero by recorded risk");
        assert!(matches!(original.ledger().pending_state(TransferId(7)), Some(PendingState::Expired { .. })));
    }

    #[test]
    fn ledger_outcomes_summarise_the_decision() {
        let posted = Ok(core::Reply::Ledger(LedgerReply::Posted {
            transfer: TransferId(4),
            pending: TransferId(3),
            amount: core::Cents(1_500),
            released: core::Cents(500),
        }));
        assert_eq!(OutcomeSummary::of(&posted), OutcomeSummary { code: "ok:ledger_posted".into(), id: 500 });
        let refused = Err(core::Rejection::Ledger(sturmfest_core::ledger::LedgerRejection::InsufficientBalance {
            account: AccountId(1),
        }));
        assert_eq!(OutcomeSummary::of(&refused), OutcomeSummary { code: "insufficient_balance".into(), id: 0 });
    }

    #[test]
    fn a_tenant_with_a_voucher_ledger_round_trips_through_a_snapshot() {
        let (tenant, _) = tenant_with_room_and_ledger();
        let parts = tenant.parts();
        assert!(parts.ledger.accounts.len() == AccountKind::ALL.len() + 1 && parts.ledger.risk.len() == 1, "{:?}", parts.ledger);
        assert!(parts.ledger.pending.iter().any(|(_, s)| matches!(s, PendingState::Pending { .. })), "one still pending");
        let remembered_ledger_replies =
            parts.idempotency.iter().filter(|(_, e)| matches!(e.reply, core::Reply::Ledger(_))).count();
        assert!(remembered_ledger_replies >= 6, "{remembered_ledger_replies}");
        let bytes = encode_snapshot(&parts);
        assert_eq!(bytes[0], snapshot_format_version);
        let decoded = decode_snapshot(&bytes).unwrap();
        assert_eq!(decoded, parts);
        let restored = core::Tenant::restore(decoded).unwrap();
        assert_eq!(restored, tenant);
        for account in tenant.ledger().accounts() {
            assert_eq!(restored.ledger().account(account.id), Some(account));
        }
        assert!(matches!(decode_snapshot(&bytes[..bytes.len() - 1]), Err(DecodeError::Malformed(_))), "a cut ledger");
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(decode_snapshot(&longer), Err(DecodeError::Malformed(_))), "bytes after the ledger");
    }

    #[test]
    fn a_version_2_snapshot_with_rooms_and_no_ledger_still_decodes() {
        let (tenant, _) = tenant_with_room();
        let parts = tenant.parts();
        assert!(!parts.rooms.is_empty());
        let mut v2 = vec![2u8];
        postcard::to_io(&WireParts::from(&parts), &mut v2).unwrap();
        let rooms: Vec<WireRoom> = parts.rooms.iter().map(|(event, seed, room)| room_to(*event, *seed, room)).collect();
        postcard::to_io(&rooms, &mut v2).unwrap();
        let decoded = decode_snapshot(&v2).unwrap();
        assert_eq!(decoded, parts, "rooms back, ledger empty");
        assert_eq!(core::Tenant::restore(decoded).unwrap(), tenant);
        // The same body labelled 3 lacks its ledger, and is refused rather than guessed at.
        v2[0] = 3;
        assert!(matches!(decode_snapshot(&v2), Err(DecodeError::Malformed(_))));
    }

    // ----- the voucher domain -----

    use sturmfest_core::vouchers::{
        BatchId, CardId, CardMedium, ExpiryRule, MerchantId, NewCard, OfflinePolicy, OfflineRedemption, PaidVia, ProgrammeLimits,
        RedemptionId, SalesPointId, VoucherCommand as V,
    };

    /// The start of the fourth year after `now`'s UTC year, as the edge would send it
    /// for a UTC programme.
    fn expiry_after(now: i64) -> core::TimeMs {
        let year = jiff::Timestamp::from_millisecond(now).unwrap().to_zoned(jiff::tz::TimeZone::UTC).year();
        let start = jiff::civil::date(year + 4, 1, 1).to_zoned(jiff::tz::TimeZone::UTC).unwrap();
        core::TimeMs(start.timestamp().as_millisecond())
    }

    /// Every voucher command variant and every reply, a wrong PIN and a rejection,
    /// starting at `t`. Odd commands carry an idempotency key, so the tenant remembers
    /// voucher replies too.
    fn voucher_commands(t: i64) -> Vec<core::Envelope> {
        let p = ProgrammeId(3);
        let limits = ProgrammeLimits {
            card_balance_cents_max: core::Cents(25_000),
            load_cents_max: core::Cents(15_000),
            card_offline_cents_max: core::Cents(2_000),
            reversal_window_ms: 600_000,
        };
        let card = |n: u64, pin: Option<[u8; 32]>| NewCard { id: CardId(n), code_digest: [n as u8; 32], pin_digest: pin };
        let cash = PaidVia::Cash { sales_point: SalesPointId(4) };
        let online = PaidVia::Provider { reference: "psp-77".into() };
        let v = |dt: i64, command: V| env(t + dt, core::Command::Voucher(command));
        let redeem = |id: u128, card: u64, amount: i64, pin: Option<[u8; 32]>| V::Redeem {
            redemption: RedemptionId(id),
            card: CardId(card),
            merchant: MerchantId(9),
            device: DeviceId(90),
            amount: core::Cents(amount),
            pin_digest: pin,
        };
        let mut commands = vec![
            v(0, V::CreateProgramme { id: p, name: "Stadtgutschein".into(), limits, expiry: ExpiryRule::EndOfThirdYearAfterSale }),
            v(0, V::CreateMerchant { id: MerchantId(9), name: "Buchladen".into(), iban: "DE89370400440532013000".into() }),
            v(0, V::AcceptMerchant { merchant: MerchantId(9), programme: p }),
            v(0, V::RegisterDevice { device: DeviceId(90), merchant: MerchantId(9), public_key: [7; 32] }),
            v(0, V::RegisterDevice { device: DeviceId(91), merchant: MerchantId(9), public_key: [8; 32] }),
            v(0, V::IssueCards { programme: p, batch: BatchId(1), medium: CardMedium::Printed, cards: vec![card(u64::MAX, Some([5; 32])), card(2, None)] }),
            v(0, V::IssueCards { programme: p, batch: BatchId(2), medium: CardMedium::Digital, cards: vec![card(3, None)] }),
            v(1, V::ActivateCard { card: CardId(u64::MAX), amount: core::Cents(10_000), paid_via: cash, expires_at: expiry_after(t + 1) }),
            v(2, V::ActivateCard { card: CardId(2), amount: core::Cents(5_000), paid_via: online.clone(), expires_at: expiry_after(t + 2) }),
            v(3, V::LoadCard { card: CardId(2), amount: core::Cents(1_000), paid_via: online }),
            v(4, redeem(u128::MAX, u64::MAX, 1_250, Some([5; 32]))),
            v(5, redeem(2, u64::MAX, 100, Some([6; 32]))),
            v(6, redeem(3, 2, 9_999, None)),
            v(7, V::ReverseRedemption { redemption: RedemptionId(u128::MAX), merchant: MerchantId(9) }),
            v(8, V::RefundCard { card: CardId(2), amount: core::Cents(500), reference: "refund-1".into() }),
            v(9, V::BlockCard { card: CardId(2) }),
            v(10, V::MoveBalance { from: CardId(2), to: CardId(u64::MAX) }),
            v(11, V::RevokeDevice { device: DeviceId(91) }),
            v(12, V::ExpireCards),
            v(13, redeem(4, u64::MAX, 300, Some([5; 32]))),
            v(14, V::Settle { programme: p, merchant: MerchantId(9), from: core::TimeMs(t), until: core::TimeMs(t + 14) }),
            v(15, V::ConfigureOffline {
                programme: p,
                policy: OfflinePolicy {
                    device_allowance_cents_max: core::Cents(5_000),
                    open_allowances_cents_max: core::Cents(20_000),
                },
            }),
            v(16, V::GrantAllowance { device: DeviceId(90), programme: p, amount: core::Cents(3_000), expires_at: core::TimeMs(t + 3_600_000) }),
            // Card u64::MAX holds 152.00 (its 100.00 and card 2's 55.00, less 3.00): 12.50 of 164.50 is
            // overspent; card 3 was never sold, so its 1.00 is all overspend.
            v(17, V::SyncOffline {
                device: DeviceId(90),
                redemptions: vec![
                    OfflineRedemption {
                        id: RedemptionId(70),
                        sequence: 1,
                        card: CardId(u64::MAX),
                        amount: core::Cents(16_450),
                        at: core::TimeMs(t + 16),
                        certificate_serial: 4,
                        certificate_balance: core::Cents(14_500),
                    },
                    OfflineRedemption {
                        id: RedemptionId(71),
                        sequence: 2,
                        card: CardId(3),
                        amount: core::Cents(100),
                        at: core::TimeMs(t + 16),
                        certificate_serial: 5,
                        certificate_balance: core::Cents(0),
                    },
                ],
            }),
            v(18, V::SetDesign { programme: p, design: sturmfest_core::vouchers::ProgrammeDesign { accent_rgb: 0x8a1c1c, tagline: "Gilt in der Altstadt".into() } }),
        ];
        for (i, envelope) in commands.iter_mut().enumerate() {
            if i % 2 == 1 {
                envelope.idempotency = Some(core::Idempotency { key: core::IdemKey(1_000 + i as u128), fingerprint: 5 });
            }
        }
        commands
    }

    fn tenant_with_vouchers() -> (core::Tenant, Vec<core::Envelope>) {
        let (mut tenant, mut commands) = tenant_with_room_and_ledger();
        let mut rejected = Vec::new();
        for envelope in voucher_commands(tenant.now().0 + 1) {
            if let Err(rejection) = tenant.apply(&envelope) {
                rejected.push(rejection.code());
            }
            commands.push(envelope);
        }
        assert_eq!(rejected, ["insufficient_balance"], "only the redemption beyond a card's balance is refused");
        (tenant, commands)
    }

    #[test]
    fn every_voucher_command_round_trips_as_a_log_entry_and_replays_to_the_same_state() {
        let commands = voucher_commands(T0);
        // An exhaustive match, so a new command variant fails here until it is covered.
        let variant = |command: &V| match command {
            V::CreateProgramme { .. } => "create_programme",
            V::CreateMerchant { .. } => "create_merchant",
            V::AcceptMerchant { .. } => "accept_merchant",
            V::RegisterDevice { .. } => "register_device",
            V::RevokeDevice { .. } => "revoke_device",
            V::IssueCards { .. } => "issue_cards",
            V::ActivateCard { .. } => "activate_card",
            V::LoadCard { .. } => "load_card",
            V::Redeem { .. } => "redeem",
            V::ReverseRedemption { .. } => "reverse_redemption",
            V::RefundCard { .. } => "refund_card",
            V::BlockCard { .. } => "block_card",
            V::MoveBalance { .. } => "move_balance",
            V::ExpireCards => "expire_cards",
            V::ConfigureOffline { .. } => "configure_offline",
            V::GrantAllowance { .. } => "grant_allowance",
            V::SyncOffline { .. } => "sync_offline",
            V::Settle { .. } => "settle",
            // Covered in `codec/purchase_wire.rs`'s own tests.
            V::StartPurchase { .. } | V::PurchaseSucceeded { .. } | V::PurchaseFailed { .. } | V::PurchaseRefunded { .. } => {
                "purchase"
            }
            V::SetDesign { .. } => "set_design",
        };
        let variants: std::collections::BTreeSet<&str> = commands
            .iter()
            .filter_map(|e| match &e.command {
                core::Command::Voucher(command) => Some(variant(command)),
                _ => None,
            })
            .collect();
        assert_eq!(variants.len(), 19, "every voucher command variant is covered");
        let mut original = core::Tenant::new();
        let mut replayed = core::Tenant::new();
        let mut codes = Vec::new();
        for envelope in commands {
            let outcome = original.apply(&envelope);
            let entry = LogEntry { envelope, outcome: OutcomeSummary::of(&outcome) };
            let bytes = encode_entry(&entry);
            let back = decode_entry(&bytes).unwrap();
            assert_eq!(back, entry);
            assert!(bytes.len() <= entry_bytes_bound(entry.envelope.idempotency.as_ref(), &entry.envelope.command));
            assert_eq!(OutcomeSummary::of(&replayed.apply(&back.envelope)), entry.outcome, "replay decides the same");
            codes.push(entry.outcome.code);
        }
        assert_eq!(replayed, original);
        assert!(codes.contains(&"ok:voucher_pin_refused".to_string()), "{codes:?}");
        assert!(codes.contains(&"insufficient_balance".to_string()), "{codes:?}");
        let card = original.vouchers().balance(original.ledger(), CardId(u64::MAX)).unwrap();
        assert_eq!(card, core::Cents(0), "152.00 after the reversal, the move and 3.00 redeemed, all of it redeemed offline");
        let risk: Vec<i64> = original.vouchers().risk_entries().iter().map(|r| r.amount.0).collect();
        assert_eq!(risk, [1_250, 100], "the overspend and the unsold card's redemption came from the allowance");
    }

    #[test]
    fn a_full_offline_sync_fits_one_log_record() {
        use sturmfest_core::vouchers::limits::sync_redemptions_max;
        let redemptions = (0..sync_redemptions_max as u64)
            .map(|n| OfflineRedemption {
                id: RedemptionId(u128::MAX - u128::from(n)),
                sequence: u64::MAX - n,
                card: CardId(u64::MAX),
                amount: core::Cents(i64::MAX),
                at: core::TimeMs(i64::MIN),
                certificate_serial: u64::MAX,
                certificate_balance: core::Cents(i64::MIN),
            })
            .collect();
        let sync = V::SyncOffline { device: DeviceId(u64::MAX), redemptions };
        let key = core::Idempotency { key: core::IdemKey(u128::MAX), fingerprint: u64::MAX };
        let bytes = entry_bytes_bound(Some(&key), &core::Command::Voucher(sync));
        assert!(bytes <= sturmfest_log::record_payload_bytes_max / 4, "{bytes} bytes: a sync is far from the record limit");
    }

    #[test]
    fn a_full_card_batch_fits_one_log_record() {
        use sturmfest_core::vouchers::limits::batch_cards_max;
        let cards = (0..batch_cards_max as u64)
            .map(|n| NewCard { id: CardId(u64::MAX - n), code_digest: [0xFF; 32], pin_digest: Some([0xFF; 32]) })
            .collect();
        let issue = V::IssueCards { programme: ProgrammeId(u32::MAX), batch: BatchId(u32::MAX), medium: CardMedium::Digital, cards };
        let key = core::Idempotency { key: core::IdemKey(u128::MAX), fingerprint: u64::MAX };
        let bytes = entry_bytes_bound(Some(&key), &core::Command::Voucher(issue));
        assert!(bytes <= sturmfest_log::record_payload_bytes_max / 16, "{bytes} bytes: a batch is far from the record limit");
    }

    #[test]
    fn voucher_outcomes_summarise_the_decision() {
        let redeemed = Ok(core::Reply::Voucher(sturmfest_core::vouchers::VoucherReply::Redeemed {
            redemption: RedemptionId(1),
            card: CardId(2),
            amount: core::Cents(1_250),
            balance: core::Cents(3_750),
        }));
        assert_eq!(OutcomeSummary::of(&redeemed), OutcomeSummary { code: "ok:voucher_redeemed".into(), id: 3_750 });
        let refused = Err(core::Rejection::Voucher(sturmfest_core::vouchers::VoucherRejection::CardBlocked));
        assert_eq!(OutcomeSummary::of(&refused), OutcomeSummary { code: "card_blocked".into(), id: 0 });
    }

    #[test]
    fn a_tenant_with_vouchers_round_trips_through_a_version_5_snapshot() {
        let (tenant, commands) = tenant_with_vouchers();
        let parts = tenant.parts();
        assert!(parts.vouchers.cards.len() == 3 && parts.vouchers.redemptions.len() == 2, "{:?}", parts.vouchers);
        assert!(parts.vouchers.redemptions.iter().any(|r| r.reversal.is_some()), "a reversal to carry");
        let remembered =
            parts.idempotency.iter().filter(|(_, e)| matches!(e.reply, core::Reply::Voucher(_))).count();
        assert!(remembered >= 8, "{remembered}");
        assert_eq!(parts.vouchers.offline.risk.len(), 2, "offline risk entries to carry");
        let bytes = encode_snapshot(&parts);
        assert_eq!(bytes[0], snapshot_format_version);
        let decoded = decode_snapshot(&bytes).unwrap();
        assert_eq!(decoded, parts);
        let restored = core::Tenant::restore(decoded).unwrap();
        assert_eq!(restored, tenant);
        let mut replayed = core::Tenant::new();
        for envelope in &commands {
            replayed.apply(envelope).ok();
        }
        assert_eq!(replayed, restored, "the snapshot equals the replay of the log");
        assert!(matches!(decode_snapshot(&bytes[..bytes.len() - 1]), Err(DecodeError::Malformed(_))), "cut short");
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(decode_snapshot(&longer), Err(DecodeError::Malformed(_))), "bytes after the last section");
    }

    // ----- staff accounts and sessions -----

    use sturmfest_core::staff::{LoginName, Role, Roles, SessionDigest, StaffAccountId, StaffCommand as S};

    /// Every staff command variant, with a rejection and an eviction among them.
    fn staff_commands(t0: i64) -> Vec<core::Envelope> {
        let staff = |time: i64, command: S| env(time, core::Command::Staff(command));
        let create = |login: &str, roles: &[Role]| S::CreateAccount {
            login: LoginName::parse(login).unwrap(),
            display_name: format!("{login} Ä"),
            password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${login}"),
            roles: Roles::of(roles),
        };
        let id = StaffAccountId;
        let mut commands = vec![
            staff(t0, create("office", &[Role::Admin, Role::Office])),
            staff(t0, create("kasse", &[Role::BoxOffice])),
            staff(t0, create("haendler.1", &[Role::Merchant, Role::VoucherOffice])),
            staff(t0 + 1, S::SetRoles { account: id(2), roles: Roles::of(&[Role::BoxOffice, Role::Office]) }),
            staff(t0 + 2, S::Disable { account: id(1) }),
        ];
        for n in 0..9u8 {
            commands.push(staff(t0 + 3 + i64::from(n), S::StartSession { account: id(2), session: SessionDigest([n; 32]), expires_at: core::TimeMs(t0 + 3_600_000) }));
        }
        commands.extend([
            staff(t0 + 20, S::StartSession { account: id(3), session: SessionDigest([200; 32]), expires_at: core::TimeMs(t0 + 7_200_000) }),
            staff(t0 + 21, S::EndSession { session: SessionDigest([5; 32]) }),
            staff(t0 + 22, S::ChangePassword { account: id(3), password_hash: "$argon2id$new".into() }),
            staff(t0 + 23, S::StartSession { account: id(3), session: SessionDigest([201; 32]), expires_at: core::TimeMs(t0 + 7_200_000) }),
            staff(t0 + 24, S::EndAllSessions { account: id(1) }),
            staff(t0 + 25, S::StartSession { account: id(2), session: SessionDigest([202; 32]), expires_at: core::TimeMs(t0 + 7_200_000) }),
            staff(t0 + 26, S::BindMerchant { account: id(3), merchant: Some(sturmfest_core::vouchers::MerchantId(u32::MAX)) }),
        ]);
        commands
    }

    #[test]
    fn every_staff_command_round_trips_as_a_log_entry_and_replays_to_the_same_state() {
        let commands = staff_commands(T0);
        let variant = |command: &S| match command {
            S::CreateAccount { .. } => "create",
            S::ChangePassword { .. } => "password",
            S::SetRoles { .. } => "roles",
            S::Disable { .. } => "disable",
            S::StartSession { .. } => "start",
            S::EndSession { .. } => "end",
            S::EndAllSessions { .. } => "end_all",
            S::BindMerchant { .. } => "bind_merchant",
        };
        let variants: std::collections::BTreeSet<&str> = commands
            .iter()
            .filter_map(|e| match &e.command {
                core::Command::Staff(command) => Some(variant(command)),
                _ => None,
            })
            .collect();
        assert_eq!(variants.len(), 8, "every staff command variant is covered");
        let mut original = core::Tenant::new();
        let mut replayed = core::Tenant::new();
        let mut codes = Vec::new();
        for (i, mut envelope) in commands.into_iter().enumerate() {
            if i % 3 == 0 {
                envelope.idempotency = Some(core::Idempotency { key: core::IdemKey(1_000 + i as u128), fingerprint: 1 });
            }
            let outcome = original.apply(&envelope);
            let entry = LogEntry { envelope, outcome: OutcomeSummary::of(&outcome) };
            codes.push(entry.outcome.code.clone());
            let back = decode_entry(&encode_entry(&entry)).unwrap();
            assert_eq!(back, entry);
            assert_eq!(OutcomeSummary::of(&replayed.apply(&back.envelope)), entry.outcome, "replay decides the same");
        }
        assert_eq!(replayed, original);
        assert!(codes.contains(&"staff_last_admin".to_string()), "{codes:?}");
        assert!(codes.iter().filter(|c| *c == "ok:staff_session_started").count() >= 11, "{codes:?}");
        // A record whose login does not parse is refused, never guessed at.
        let mut bad = vec![entry_format_version];
        let wire = WireEntry {
            envelope: WireEnvelope {
                time_ms: 0,
                idempotency: None,
                command: WireCommand::Staff(WireStaffCommand::CreateAccount { login: "Not Valid".into(), display_name: "x".into(), password_hash: "$x".into(), roles: 1 }),
            },
            outcome: OutcomeSummary { code: "ok:x".into(), id: 0 },
        };
        postcard::to_io(&wire, &mut bad).unwrap();
        assert!(matches!(decode_entry(&bad), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn a_tenant_with_staff_rooms_and_a_ledger_round_trips_through_a_version_5_snapshot() {
        let (mut tenant, _) = tenant_with_room_and_ledger();
        let t0 = tenant.now().0 + 1;
        for envelope in staff_commands(t0) {
            let _ = tenant.apply(&envelope);
        }
        let parts = tenant.parts();
        assert_eq!(parts.staff.accounts.len(), 3);
        assert_eq!(parts.staff.accounts[2].merchant, Some(sturmfest_core::vouchers::MerchantId(u32::MAX)), "a bound merchant account");
        assert!(parts.staff.sessions.len() >= 9, "{:?}", parts.staff.sessions.len());
        let bytes = encode_snapshot(&parts);
        assert_eq!(bytes[0], snapshot_format_version);
        let decoded = decode_snapshot(&bytes).unwrap();
        assert_eq!(decoded, parts);
        assert_eq!(core::Tenant::restore(decoded).unwrap(), tenant);
        assert!(matches!(decode_snapshot(&bytes[..bytes.len() - 1]), Err(DecodeError::Malformed(_))), "cut offline section");
        // The same body labelled 4 carries bytes after its vouchers and is refused.
        let mut as_v4 = bytes.clone();
        as_v4[0] = 4;
        assert!(matches!(decode_snapshot(&as_v4), Err(DecodeError::Malformed(_))));
    }

    /// Writes `tenant` as a snapshot of `version` (3, 4 or 5): the sections that
    /// version had, nothing after.
    fn older_snapshot(parts: &core::TenantParts, version: u8) -> Vec<u8> {
        let mut out = vec![version];
        postcard::to_io(&WireParts::from(parts), &mut out).unwrap();
        let rooms: Vec<WireRoom> = parts.rooms.iter().map(|(event, seed, room)| room_to(*event, *seed, room)).collect();
        postcard::to_io(&rooms, &mut out).unwrap();
        postcard::to_io(&ledger_to(&parts.ledger), &mut out).unwrap();
        if version >= 4 {
            postcard::to_io(&vouchers_to(&parts.vouchers), &mut out).unwrap();
        }
        if version >= 5 {
            postcard::to_io(&staff_to(&parts.staff), &mut out).unwrap();
        }
        out
    }

    #[test]
    fn a_version_5_snapshot_without_the_offline_section_still_decodes() {
        let (tenant, _) = tenant_with_room_and_ledger();
        let mut tenant = tenant;
        for envelope in voucher_commands(tenant.now().0 + 1).into_iter().take(19) {
            let _ = tenant.apply(&envelope);
        }
        let parts = tenant.parts();
        assert!(parts.vouchers.offline == sturmfest_core::vouchers::OfflineParts::default(), "nothing offline yet");
        let mut v5 = older_snapshot(&parts, 5);
        let decoded = decode_snapshot(&v5).unwrap();
        assert_eq!(decoded, parts);
        assert_eq!(core::Tenant::restore(decoded).unwrap(), tenant);
        // The same body labelled 6 lacks its offline section and is refused.
        v5[0] = 6;
        assert!(matches!(decode_snapshot(&v5), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn settlements_round_trip_through_a_version_6_snapshot_and_a_version_5_one_still_decodes() {
        let (tenant, _) = tenant_with_vouchers();
        let parts = tenant.parts();
        let settled = &parts.vouchers.settlements;
        assert!(settled.len() == 1 && settled[0].amount == core::Cents(300) && settled[0].transfer.is_some(), "{settled:?}");
        let bytes = encode_snapshot(&parts);
        assert_eq!(bytes[0], snapshot_format_version);
        let decoded = decode_snapshot(&bytes).unwrap();
        assert_eq!(decoded, parts);
        assert_eq!(core::Tenant::restore(decoded).unwrap(), tenant);
        assert!(matches!(decode_snapshot(&bytes[..bytes.len() - 1]), Err(DecodeError::Malformed(_))), "cut settlements");
        // A version-5 snapshot of a tenant without settlements decodes to no settlements.
        let (before, _) = tenant_with_room_and_ledger();
        let v5 = older_snapshot(&before.parts(), 5);
        assert_eq!(decode_snapshot(&v5).unwrap(), before.parts());
        // This body labelled 5 carries bytes after its staff and is refused.
        let mut as_v5 = bytes.clone();
        as_v5[0] = 5;
        assert!(matches!(decode_snapshot(&as_v5), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn a_version_3_snapshot_with_a_ledger_and_no_vouchers_or_staff_still_decodes() {
        let (tenant, _) = tenant_with_room_and_ledger();
        let parts = tenant.parts();
        let mut v3 = older_snapshot(&parts, 3);
        let decoded = decode_snapshot(&v3).unwrap();
        assert_eq!(decoded, parts, "rooms and ledger back, no vouchers, no staff");
        assert_eq!(core::Tenant::restore(decoded).unwrap(), tenant);
        // The same body labelled 4 lacks its vouchers, and is refused rather than guessed at.
        v3[0] = 4;
        assert!(matches!(decode_snapshot(&v3), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn a_version_4_snapshot_with_vouchers_and_no_staff_still_decodes() {
        let (tenant, _) = tenant_with_room_and_ledger();
        let parts = tenant.parts();
        let mut v4 = older_snapshot(&parts, 4);
        let decoded = decode_snapshot(&v4).unwrap();
        assert_eq!(decoded, parts, "no staff in, no staff out");
        assert_eq!(core::Tenant::restore(decoded).unwrap(), tenant);
        // The same body labelled 5 lacks its staff, and is refused rather than guessed at.
        v4[0] = 5;
        assert!(matches!(decode_snapshot(&v4), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn programme_designs_ride_in_a_version_8_snapshot_and_a_version_7_one_decodes_with_the_default() {
        let (tenant, _) = tenant_with_vouchers();
        let parts = tenant.parts();
        assert!(parts.vouchers.programmes.iter().any(|p| p.design != Default::default()), "the fixture sets a design");
        let bytes = encode_snapshot(&parts);
        assert_eq!(bytes[0], 8);
        assert_eq!(core::Tenant::restore(decode_snapshot(&bytes).unwrap()).unwrap(), tenant, "the design survives");
        let mut designs = Vec::new();
        postcard::to_io(&designs_to(&parts.vouchers), &mut designs).unwrap();
        let mut v7 = bytes[..bytes.len() - designs.len()].to_vec();
        v7[0] = 7;
        let old = decode_snapshot(&v7).unwrap();
        assert!(old.vouchers.programmes.iter().all(|p| p.design == Default::default()));
        // A design of a programme the snapshot does not have is refused.
        let mut bad = bytes[..bytes.len() - designs.len()].to_vec();
        postcard::to_io(&vec![(999u32, 0u32, String::new())], &mut bad).unwrap();
        assert!(matches!(decode_snapshot(&bad), Err(DecodeError::Malformed(_))));
    }
}
