//! Commands: the only way state changes. Each arrives in an `Envelope` that carries
//! the time (the core reads no clock) and an optional idempotency key.

use crate::event::EventSpec;
use crate::ids::*;
use crate::ledger::LedgerCommand;
use crate::queue::{IdentityKey, RoomCommand, RoomConfig};
use crate::venue::VenueSpec;
use crate::vouchers::VoucherCommand;

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
    /// Lets time pass so due holds and checkout windows expire even when nobody
    /// else sends a command.
    Tick,
    /// Puts an event's sale behind a waiting room. `config.opens_at` must be the
    /// sale's opening. The seed is the secret behind the draw's published
    /// commitment (docs/DRAW.md); it arrives here so it is as durable as the room.
    CreateRoom { event: EventId, config: RoomConfig, seed: [u8; 32] },
    /// A waiting-room command: `Join`, `Draw`, `Admit`, `Finish` or `Tick`. The
    /// brake and sold-out come from the sale itself, and `Admit`'s `unsold_places`
    /// is replaced by what the event really has left.
    Room { event: EventId, command: RoomCommand },
    /// A voucher-ledger command, applied at the envelope's time to the tenant's one
    /// ledger (a tenant is a city; its programmes live inside the ledger). The
    /// ledger is idempotent by transfer id on its own; an idempotency key on the
    /// envelope works as for any command.
    Ledger(LedgerCommand),
    /// A voucher command (programmes, merchants, devices, cards; see `vouchers`),
    /// applied at the envelope's time; its money moves through the tenant's ledger.
    /// Raw `Ledger` commands may not name the voucher domain's accounts or transfers.
    Voucher(VoucherCommand),
    /// A staff-account command (`staff`): accounts, roles, logins and logouts, so
    /// office logins are as durable as the sales they make.
    Staff(crate::staff::StaffCommand),
    /// Changes what a club may change once a game exists: the sale window, the
    /// channel quotas and tariff prices (`state/amend.rs`). Existing holds keep the
    /// price they were taken at and orders are never touched.
    AmendEvent { event: EventId, amendment: EventAmendment },
    /// An online payment (`payments`): started for a hold, then the provider's
    /// verdict; a success confirms the hold into an order in the same command.
    Payment(crate::payments::PaymentCommand),
}

/// The new values of an `AmendEvent`; fields not listed keep their value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventAmendment {
    pub sale_opens_at: TimeMs,
    pub sale_closes_at: TimeMs,
    /// Per `Channel::index`; `None` = no cap. A quota may not go below what the
    /// channel has held and sold.
    pub quotas: [Option<u32>; 3],
    /// New prices by (category, tariff).
    pub prices: Vec<(CategoryId, TariffId, Cents)>,
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
    /// For an online hold in an event behind a waiting room: the identity the room
    /// admitted. Other channels and events without a room ignore it.
    pub admission: Option<IdentityKey>,
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
