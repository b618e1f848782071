//! A ledger taken apart for a snapshot and put together again. The parts are the
//! ledger's facts: its time, the accounts (kind, programme, ceiling, creation time),
//! the transfer history in the order applied, the state of every reservation, and
//! the risk entries. The accounts also carry their sums, but only so restore can
//! compare them with what it recomputes: every index and every sum is rebuilt from
//! the history, and a snapshot whose stored sums disagree with its own history is
//! refused rather than trusted.

use std::collections::BTreeMap;

use super::*;

/// What a snapshot stores of a ledger; `Ledger::restore` rebuilds the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerParts {
    pub now: TimeMs,
    /// In id order, with the sums as they were kept (checked, never trusted).
    pub accounts: Vec<Account>,
    /// Every accepted transfer, in the order applied.
    pub transfers: Vec<Transfer>,
    /// The state of every reservation, in id order.
    pub pending: Vec<(TransferId, PendingState)>,
    /// Every offline-risk booking, in the order applied.
    pub risk: Vec<RiskEntry>,
}

impl Ledger {
    pub fn parts(&self) -> LedgerParts {
        LedgerParts {
            now: self.now,
            accounts: self.accounts.values().copied().collect(),
            transfers: self.transfers.clone(),
            pending: self.pending.iter().map(|(id, state)| (*id, *state)).collect(),
            risk: self.risk.clone(),
        }
    }

    /// Rebuilds a ledger from its parts: the transfer index and the expiry index
    /// from the history and the reservation states, every account's four sums and
    /// risk shortfall from the history and the risk entries. Then the stored
    /// accounts must equal the recomputed ones and the full invariant check must
    /// pass; anything else is an error, so a snapshot that decodes but lies is
    /// refused before it serves a single card.
    pub fn restore(parts: LedgerParts) -> Result<Ledger, String> {
        let mut ledger = Ledger { now: parts.now, ..Ledger::default() };
        for account in &parts.accounts {
            let blank = Account {
                debits_posted: Cents::ZERO,
                credits_posted: Cents::ZERO,
                debits_pending: Cents::ZERO,
                credits_pending: Cents::ZERO,
                risk_shortfall: Cents::ZERO,
                ..*account
            };
            if ledger.accounts.insert(account.id, blank).is_some() {
                return Err(format!("account {:?} appears twice", account.id));
            }
        }
        // The sums below cannot overflow only within the limits `ledger/limits.rs`
        // proves them for; check those first, as the handlers did when recording.
        if parts.transfers.len() > super::limits::ledger_transfers_max {
            return Err("transfer history over its limit".into());
        }
        for (i, transfer) in parts.transfers.iter().enumerate() {
            if !(1..=super::limits::transfer_amount_cents_max).contains(&transfer.amount.0) {
                return Err(format!("transfer {:?} amount {} out of range", transfer.id, transfer.amount));
            }
            if ledger.index.insert(transfer.id, i).is_some() {
                return Err(format!("transfer {:?} appears twice", transfer.id));
            }
        }
        ledger.transfers = parts.transfers;
        for (id, state) in parts.pending {
            if let PendingState::Pending { expires_at } = state {
                ledger.expiry.insert((expires_at, id));
            }
            if ledger.pending.insert(id, state).is_some() {
                return Err(format!("reservation {id:?} has two states"));
            }
        }
        if parts.risk.len() > ledger.transfers.len()
            || parts.risk.iter().any(|r| !(0..=super::limits::risk_shortfall_cents_max).contains(&r.shortfall.0))
        {
            return Err("risk entries out of range".into());
        }
        ledger.risk = parts.risk;
        ledger.recount()?;
        for stored in &parts.accounts {
            let rebuilt = &ledger.accounts[&stored.id];
            if rebuilt != stored {
                return Err(format!("account {:?} keeps {stored:?} but its history says {rebuilt:?}", stored.id));
            }
        }
        ledger.check_invariants_result()?;
        Ok(ledger)
    }

    /// Sets every account's sums and risk from the history and the risk entries.
    fn recount(&mut self) -> Result<(), String> {
        let sums = self.recompute()?;
        let mut shortfalls: BTreeMap<AccountId, Cents> = BTreeMap::new();
        for entry in &self.risk {
            let sum = shortfalls.entry(entry.card).or_insert(Cents::ZERO);
            *sum = sum.plus(entry.shortfall);
        }
        for (id, account) in &mut self.accounts {
            let [debits_posted, credits_posted, debits_pending, credits_pending] = sums.get(id).copied().unwrap_or_default();
            account.debits_posted = Cents(debits_posted);
            account.credits_posted = Cents(credits_posted);
            account.debits_pending = Cents(debits_pending);
            account.credits_pending = Cents(credits_pending);
            account.risk_shortfall = shortfalls.get(id).copied().unwrap_or(Cents::ZERO);
        }
        // History naming an account that does not exist is refused by the full check
        // (`check_history`); naming it here keeps the error close to its cause.
        if let Some(missing) = sums.keys().chain(shortfalls.keys()).find(|id| !self.accounts.contains_key(id)) {
            return Err(format!("history names the missing account {missing:?}"));
        }
        Ok(())
    }
}
