//! Commands: the only way state changes. Each arrives in an `Envelope` that carries
//! the time (the core reads no clock) and an optional idempotency key.

use crate::event::EventSpec;
use crate::ids::*;
use crate::venue::VenueSpec;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub time: TimeMs,
    pub idempotency: Option<Idempotency>,
    pub command: Command,
}

/// A key plus a digest of the request it was first used with: the same key with a
/// different request is rejected instead of silently returning the first reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Idempotency {
    pub key: IdemKey,
    pub fingerprint: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    CreateVenue(VenueSpec),
    CreateEvent(EventSpec),
    Sale { event: EventId, action: SaleAction },
    Hold(HoldRequest),
    Release { hold: HoldId },
    Confirm { hold: HoldId, payment: String, buyer: Buyer },
    Cancel { order: OrderId, tickets: TicketSelection, refund: RefundMode },
    Refund { order: OrderId, amount: Cents, reference: String },
    /// Lets time pass so due holds expire even when nobody else sends a command.
    Tick,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaleAction {
    Open,
    /// The emergency brake: holds and checkouts stop, existing holds freeze.
    Pause { message: String, resume_at: Option<TimeMs> },
    Resume,
    Close,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldRequest {
    pub event: EventId,
    pub customer: CustomerId,
    pub channel: Channel,
    pub selection: Selection,
    pub tariff: TariffId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    Seats(Vec<SeatId>),
    Standing { area: AreaId, quantity: u32 },
    BestAvailable { category: CategoryId, block: Option<BlockId>, quantity: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buyer {
    pub name: String,
    pub email: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketSelection {
    All,
    /// Indices into the order's ticket list.
    Some(Vec<u16>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundMode {
    Full,
    None,
}
