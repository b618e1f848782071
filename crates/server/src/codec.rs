//! The log codec: core commands and snapshots to bytes and back.
//!
//! Core types are deliberately not `Serialize`; this module mirrors them with
//! serde types and converts explicitly, so the wire format is written down in one
//! place and a core refactor cannot silently change what is on disk. Every payload
//! starts with a format version byte. Decoding never panics on bad bytes.

use serde::{Deserialize, Serialize};
use sturmfest_core as core;
use sturmfest_core::queue;

pub const entry_format_version: u8 = 1;
/// 2 appends the waiting rooms after the version-1 body; version 1 still decodes.
pub const snapshot_format_version: u8 = 2;

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
    /// The id a reply created or touched (hold, order, event, venue), else 0.
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
                };
                OutcomeSummary { code: format!("ok:{kind}"), id }
            }
        }
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
    Ok(LogEntry { envelope: wire.envelope.into(), outcome: wire.outcome })
}

pub fn encode_snapshot(parts: &core::TenantParts) -> Vec<u8> {
    let wire = WireParts::from(parts);
    let rooms: Vec<WireRoom> = parts.rooms.iter().map(|(event, seed, room)| room_to(*event, *seed, room)).collect();
    let mut out = vec![snapshot_format_version];
    postcard::to_io(&wire, &mut out).expect("writing to a Vec cannot fail");
    postcard::to_io(&rooms, &mut out).expect("writing to a Vec cannot fail");
    out
}

pub fn decode_snapshot(bytes: &[u8]) -> Result<core::TenantParts, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    let malformed = |e: postcard::Error| DecodeError::Malformed(e.to_string());
    match version {
        1 => Ok(postcard::from_bytes::<WireParts>(body).map_err(malformed)?.into()),
        2 => {
            let (wire, rest): (WireParts, _) = postcard::take_from_bytes(body).map_err(malformed)?;
            let rooms: Vec<WireRoom> = postcard::from_bytes(rest).map_err(malformed)?;
            let mut parts: core::TenantParts = wire.into();
            parts.rooms = rooms.into_iter().map(room_from).collect::<Result<_, _>>()?;
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

#[cfg(test)]
mod tests {
    //! The codec against the core's own state: a tenant with a waiting room mid-sale
    //! survives a snapshot round trip, room commands and admitted holds survive the
    //! entry round trip, and a version-1 snapshot (before rooms) still decodes.

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
        assert_eq!(bytes[0], 2);
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
}
