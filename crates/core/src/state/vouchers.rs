//! The tenant's voucher ledger: one per tenant (a city), its programmes inside it.
//! The tenant only carries it through the log and into snapshots; every decision is
//! the ledger's own (`ledger/state.rs`). The ledger's clock follows the tenant's: a
//! ledger command runs at the tenant's time, and a tenant `Tick` ticks the ledger so
//! due reservations expire even when no voucher command arrives.

use crate::ledger::{Ledger, LedgerCommand, LedgerEnvelope};
use crate::outcome::*;

use super::Tenant;

impl Tenant {
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Runs a ledger command at the tenant's time. The tenant's time never trails
    /// the envelope's, so the ledger sees exactly the time it would see on its own.
    pub(super) fn ledger_command(&mut self, command: &LedgerCommand) -> Outcome {
        let envelope = LedgerEnvelope { time: self.now, command: command.clone() };
        self.ledger.apply(&envelope).map(Reply::Ledger).map_err(Rejection::Ledger)
    }

    /// Lets the ledger's time pass with the tenant's (due reservations expire).
    pub(super) fn tick_ledger(&mut self) {
        let envelope = LedgerEnvelope { time: self.now, command: LedgerCommand::Tick };
        let reply = self.ledger.apply(&envelope);
        assert!(reply.is_ok(), "a ledger tick is never rejected: {reply:?}");
    }
}
