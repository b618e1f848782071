//! Newtypes for every identifier and quantity the core handles.
//!
//! The edge (HTTP, CLI, log codec) parses raw input into these types, so the core
//! never sees a raw string where an id is meant. Ids that the core assigns are dense
//! and sequential per tenant, which keeps replay deterministic.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// A venue (arena) of one tenant; index into the tenant's venue list.
    VenueId(u32)
);
id_type!(
    /// An event (game) of one tenant; index into the tenant's event list.
    EventId(u32)
);
id_type!(
    /// A seat of a venue; seats of one row have consecutive ids, so adjacency is `id + 1`.
    SeatId(u32)
);
id_type!(
    /// A seated block of a venue.
    BlockId(u16)
);
id_type!(
    /// A row of a venue (global index over all blocks).
    RowId(u32)
);
id_type!(
    /// A standing area (terrace) of a venue.
    AreaId(u16)
);
id_type!(
    /// A price category of an event.
    CategoryId(u16)
);
id_type!(
    /// A tariff (adult, reduced, ...) inside a price category.
    TariffId(u16)
);
id_type!(
    /// A hold; sequential per tenant, never reused.
    HoldId(u64)
);
id_type!(
    /// An order; sequential per tenant, never reused.
    OrderId(u64)
);
id_type!(
    /// A buyer, as a stable 64-bit digest of the identity the edge authenticated.
    CustomerId(u64)
);

/// A point in time in milliseconds since the Unix epoch (UTC). Time enters the core
/// only inside commands; the core never reads a clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TimeMs(pub i64);

impl TimeMs {
    pub fn plus_ms(self, ms: i64) -> TimeMs {
        TimeMs(self.0.saturating_add(ms))
    }
}

/// Money in integer euro cents. Never a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cents(pub i64);

impl Cents {
    pub const ZERO: Cents = Cents(0);

    pub fn times(self, n: u32) -> Cents {
        Cents(self.0.checked_mul(i64::from(n)).expect("price overflow is excluded by limits"))
    }

    pub fn plus(self, other: Cents) -> Cents {
        Cents(self.0.checked_add(other.0).expect("amount overflow is excluded by limits"))
    }
}

impl fmt::Display for Cents {
    /// Euros with two decimals, e.g. `23.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// The sales channel a hold comes through; each has its own quota per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Online,
    BoxOffice,
    /// Contingents kept back by the club (sponsors, away fans); only staff sell them.
    Reserved,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Online, Channel::BoxOffice, Channel::Reserved];

    pub fn index(self) -> usize {
        match self {
            Channel::Online => 0,
            Channel::BoxOffice => 1,
            Channel::Reserved => 2,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::BoxOffice => "box_office",
            Channel::Reserved => "reserved",
        }
    }
}

/// An idempotency key as the edge scoped it (credential + client key, digested).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdemKey(pub u128);
