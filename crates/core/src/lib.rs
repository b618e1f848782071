//! The sturmfest core: a pure, deterministic state machine per tenant.
//!
//! `Tenant::apply(&Envelope) -> Outcome` is the only way state changes. The core does
//! no I/O, reads no clock and no random source, and depends on no other crate: time
//! arrives inside each command, ids are assigned sequentially, and every collection
//! that is iterated is ordered. Same commands in, same state out, bit for bit.
//! Domain failures are `Rejection` values; broken invariants are panics.

pub mod command;
pub mod event;
pub mod ids;
mod invariants;
pub mod ledger;
pub mod limits;
pub mod outcome;
pub mod payments;
pub mod queue;
pub mod staff;
pub mod state;
pub mod venue;
pub mod vouchers;

pub use command::*;
pub use event::*;
pub use ids::*;
pub use outcome::*;
pub use state::*;
pub use venue::*;
