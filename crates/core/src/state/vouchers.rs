//! The tenant's voucher ledger and voucher domain: one of each per tenant (a city),
//! its programmes inside them. The tenant only carries them through the log and into
//! snapshots; every decision is the ledger's own (`ledger/state.rs`) or the voucher
//! domain's (`vouchers/state.rs`). Both clocks follow the tenant's: a command runs at
//! the tenant's time, and a tenant `Tick` ticks both, so due reservations and due
//! cards expire even when no voucher command arrives. A raw ledger command may not
//! name an account or transfer of the voucher namespace: a card's account moves only
//! through voucher commands, which keep the card's state and journal beside it.

use crate::ledger::{Ledger, LedgerCommand, LedgerEnvelope};
use crate::outcome::*;
use crate::vouchers::{VoucherCommand, VoucherEnvelope, Vouchers, in_voucher_namespace};

use super::Tenant;

impl Tenant {
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn vouchers(&self) -> &Vouchers {
        &self.vouchers
    }

    /// Runs a ledger command at the tenant's time. The tenant's time never trails
    /// the envelope's, so the ledger sees exactly the time it would see on its own.
    /// Order: a named account or transfer in the voucher namespace; the ledger's own.
    pub(super) fn ledger_command(&mut self, command: &LedgerCommand) -> Outcome {
        if self.names_voucher_ids(command) {
            return Err(Rejection::InvalidRequest { reason: "voucher accounts and transfers move only through voucher commands" });
        }
        let envelope = LedgerEnvelope { time: self.now, command: command.clone() };
        self.ledger.apply(&envelope).map(Reply::Ledger).map_err(Rejection::Ledger)
    }

    fn names_voucher_ids(&self, command: &LedgerCommand) -> bool {
        let ids: Vec<u128> = match *command {
            LedgerCommand::CreateAccount { id, .. } => vec![id.0],
            LedgerCommand::Transfer { id, debit, credit, .. } | LedgerCommand::Reserve { id, debit, credit, .. } => {
                vec![id.0, debit.0, credit.0]
            }
            LedgerCommand::Post { id, pending, .. } | LedgerCommand::Void { id, pending } => vec![id.0, pending.0],
            LedgerCommand::BookOfflineRisk { id, card, merchant, .. } => vec![id.0, card.0, merchant.0],
            LedgerCommand::Tick => Vec::new(),
        };
        ids.into_iter().any(in_voucher_namespace)
    }

    /// Runs a voucher command at the tenant's time against the tenant's ledger.
    pub(super) fn voucher_command(&mut self, command: &VoucherCommand) -> Outcome {
        let envelope = VoucherEnvelope { time: self.now, command: command.clone() };
        self.vouchers.apply(&mut self.ledger, &envelope).map(Reply::Voucher).map_err(Rejection::Voucher)
    }

    /// Lets the ledger's time pass with the tenant's (due reservations expire).
    pub(super) fn tick_ledger(&mut self) {
        let envelope = LedgerEnvelope { time: self.now, command: LedgerCommand::Tick };
        let reply = self.ledger.apply(&envelope);
        assert!(reply.is_ok(), "a ledger tick is never rejected: {reply:?}");
    }

    /// Lets the voucher domain's time pass with the tenant's when a card is due. A tick
    /// with nothing due leaves the voucher state alone, clock included, so a tenant
    /// that never had vouchers restores from a snapshot written before they existed
    /// (format version 3) to exactly what a replay of its log gives.
    pub(super) fn tick_vouchers(&mut self) {
        if self.vouchers.next_expiry().is_none_or(|at| at > self.now) {
            return;
        }
        let envelope = VoucherEnvelope { time: self.now, command: VoucherCommand::ExpireCards };
        let reply = self.vouchers.apply(&mut self.ledger, &envelope);
        assert!(reply.is_ok(), "expiring cards is never rejected: {reply:?}");
    }
}
