//! What a command returns: a `Reply` on success or a `Rejection` — a value, never a
//! panic. Every rejection has a stable machine-readable code that the HTTP layer
//! exposes in problem+json; codes are never renamed once released.

use crate::ids::*;
use crate::ledger::{LedgerRejection, LedgerReply};
use crate::queue::{RoomRejection, RoomReply};
use crate::vouchers::{VoucherRejection, VoucherReply};

pub type Outcome = Result<Reply, Rejection>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    VenueCreated { venue: VenueId },
    EventCreated { event: EventId },
    SaleChanged { event: EventId },
    Held(HoldReceipt),
    Released { hold: HoldId },
    Confirmed { order: OrderId, total: Cents },
    Cancelled { order: OrderId, tickets: u32, refunded: Cents },
    Refunded { order: OrderId, amount: Cents },
    Ticked { expired: u32 },
    RoomCreated { event: EventId },
    Room { event: EventId, reply: RoomReply },
    Ledger(LedgerReply),
    Voucher(VoucherReply),
    Staff(crate::staff::StaffReply),
    EventAmended { event: EventId },
    Payment(crate::payments::PaymentReply),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldReceipt {
    pub hold: HoldId,
    pub event: EventId,
    pub expires_at: TimeMs,
    pub places: crate::Places,
    pub total: Cents,
}

/// Domain rejections. Checked in a fixed order per command, documented in `state.rs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    InvalidVenue { reason: String },
    InvalidEvent { reason: String },
    InvalidRequest { reason: &'static str },
    TooManyVenues,
    TooManyEvents,
    UnknownVenue,
    UnknownEvent,
    UnknownSeat { seat: SeatId },
    UnknownArea,
    UnknownCategory,
    UnknownBlock,
    UnknownTariff,
    UnknownHold,
    UnknownOrder,
    UnknownTicket,
    SaleNotOpen,
    SaleNotStarted { opens_at: TimeMs },
    SaleEnded,
    SalePaused { message: String, resume_at: Option<TimeMs> },
    SaleClosed,
    SaleAlreadyInState,
    SeatNotForSale { seat: SeatId },
    SeatUnavailable { seat: SeatId },
    DuplicateSeat { seat: SeatId },
    SeatsSpanCategories,
    TariffNotInCategory,
    NotEnoughAdjacentSeats,
    SoldOut,
    QuotaExhausted { channel: Channel },
    HoldTooLarge { max: u32 },
    CustomerLimitReached { max: u32 },
    TooManyHolds,
    HoldEnded,
    HoldAlreadyConfirmed { order: OrderId },
    TicketAlreadyCancelled,
    RefundExceedsPaid,
    IdempotencyKeyReused,
    UnknownRoom,
    RoomExists,
    /// An online hold in an event behind a waiting room named no admitted identity.
    AdmissionRequired,
    /// The waiting room refused; its own code is this rejection's code.
    Room(RoomRejection),
    /// The voucher ledger refused; its own code is this rejection's code.
    Ledger(LedgerRejection),
    /// The voucher domain refused; its own code is this rejection's code.
    Voucher(VoucherRejection),
    /// The staff domain refused; its own code is this rejection's code.
    Staff(crate::staff::StaffRejection),
    /// The payment domain refused; its own code is this rejection's code.
    Payment(crate::payments::PaymentRejection),
}

impl Rejection {
    /// The stable code, snake_case; the HTTP layer's `code` field and problem type.
    pub fn code(&self) -> &'static str {
        use Rejection::*;
        match self {
            InvalidVenue { .. } => "invalid_venue",
            InvalidEvent { .. } => "invalid_event",
            InvalidRequest { .. } => "invalid_request",
            TooManyVenues => "too_many_venues",
            TooManyEvents => "too_many_events",
            UnknownVenue => "unknown_venue",
            UnknownEvent => "unknown_event",
            UnknownSeat { .. } => "unknown_seat",
            UnknownArea => "unknown_area",
            UnknownCategory => "unknown_category",
            UnknownBlock => "unknown_block",
            UnknownTariff => "unknown_tariff",
            UnknownHold => "unknown_hold",
            UnknownOrder => "unknown_order",
            UnknownTicket => "unknown_ticket",
            SaleNotOpen => "sale_not_open",
            SaleNotStarted { .. } => "sale_not_started",
            SaleEnded => "sale_ended",
            SalePaused { .. } => "sale_paused",
            SaleClosed => "sale_closed",
            SaleAlreadyInState => "sale_already_in_state",
            SeatNotForSale { .. } => "seat_not_for_sale",
            SeatUnavailable { .. } => "seat_unavailable",
            DuplicateSeat { .. } => "duplicate_seat",
            SeatsSpanCategories => "seats_span_categories",
            TariffNotInCategory => "tariff_not_in_category",
            NotEnoughAdjacentSeats => "not_enough_adjacent_seats",
            SoldOut => "sold_out",
            QuotaExhausted { .. } => "quota_exhausted",
            HoldTooLarge { .. } => "hold_too_large",
            CustomerLimitReached { .. } => "customer_limit_reached",
            TooManyHolds => "too_many_holds",
            HoldEnded => "hold_ended",
            HoldAlreadyConfirmed { .. } => "hold_already_confirmed",
            TicketAlreadyCancelled => "ticket_already_cancelled",
            RefundExceedsPaid => "refund_exceeds_paid",
            IdempotencyKeyReused => "idempotency_key_reused",
            UnknownRoom => "unknown_room",
            RoomExists => "room_exists",
            AdmissionRequired => "admission_required",
            Room(rejection) => rejection.code(),
            Ledger(rejection) => rejection.code(),
            Voucher(rejection) => rejection.code(),
            Staff(rejection) => rejection.code(),
            Payment(rejection) => rejection.code(),
        }
    }

    /// A short English sentence for humans; the web layer may translate by `code`.
    pub fn detail(&self) -> String {
        use Rejection::*;
        match self {
            InvalidVenue { reason } | InvalidEvent { reason } => reason.clone(),
            InvalidRequest { reason } => (*reason).to_string(),
            UnknownSeat { seat } => format!("seat {seat} does not exist in this venue"),
            SeatNotForSale { seat } => format!("seat {seat} is not on sale for this event"),
            SeatUnavailable { seat } => format!("seat {seat} is already held or sold"),
            DuplicateSeat { seat } => format!("seat {seat} appears twice in the request"),
            SaleNotStarted { opens_at } => format!("the sale opens at {} (ms since epoch)", opens_at.0),
            SalePaused { message, .. } => format!("the sale is paused: {message}"),
            QuotaExhausted { channel } => format!("the {} quota is exhausted", channel.code()),
            HoldTooLarge { max } => format!("at most {max} tickets per order"),
            CustomerLimitReached { max } => format!("at most {max} tickets per customer for this event"),
            HoldAlreadyConfirmed { order } => format!("this hold was already confirmed as order {order}"),
            Staff(rejection) => rejection.detail().to_string(),
            other => other.code().replace('_', " "),
        }
    }
}
