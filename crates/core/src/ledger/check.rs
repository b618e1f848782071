//! The ledger's invariant checker: recomputes every account's sums from the transfer
//! history and the reservation states, and compares them with the incrementally kept
//! ones; then proves money is conserved, every account is within its limits (below a
//! floor only by recorded risk), and every reservation, post, void and risk entry is
//! consistent with the others. Debug builds check the touched accounts after every
//! command; tests run the full check after every command.

use std::collections::BTreeMap;

use super::limits::*;
use super::*;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// `[debits_posted, credits_posted, debits_pending, credits_pending]` of one account.
pub(super) type Sums = [i64; 4];

impl Ledger {
    /// Panics with the broken invariant; a broken invariant is a bug, never input.
    pub fn check_invariants(&self) {
        if let Err(why) = self.check_invariants_result() {
            panic!("ledger invariant broken: {why}");
        }
    }

    /// Panics if one account is outside its limits.
    pub fn check_account(account: &Account) {
        if let Err(why) = Ledger::check_account_result(account) {
            panic!("ledger invariant broken in account {:?}: {why}", account.id);
        }
    }

    /// The full check: history, reservations, risk entries, then every account's sums
    /// against its history, its limits, and conservation over all accounts.
    pub fn check_invariants_result(&self) -> Result<(), String> {
        self.check_history()?;
        self.check_reservations()?;
        self.check_risk()?;
        let recomputed = self.recompute()?;
        let mut totals: Sums = [0; 4];
        for (id, account) in &self.accounts {
            ensure!(account.id == *id, "account {id:?} is filed under another id");
            Ledger::check_account_result(account)?;
            let kept =
                [account.debits_posted.0, account.credits_posted.0, account.debits_pending.0, account.credits_pending.0];
            let history = recomputed.get(id).copied().unwrap_or_default();
            ensure!(kept == history, "account {id:?} keeps {kept:?} but its history adds up to {history:?}");
            for (total, sum) in totals.iter_mut().zip(kept) {
                *total += sum;
            }
        }
        // Every transfer debits and credits the same amount, so the balances
        // (credits - debits) of all accounts sum to zero, posted and pending alike.
        ensure!(totals[0] == totals[1], "posted debits {} and credits {} differ", totals[0], totals[1]);
        ensure!(totals[2] == totals[3], "pending debits {} and credits {} differ", totals[2], totals[3]);
        Ok(())
    }

    /// One account's own rules: sums non-negative; within the floor except by recorded
    /// risk (cards only); within the ceiling; cards have one.
    pub fn check_account_result(account: &Account) -> Result<(), String> {
        let sums = [account.debits_posted, account.credits_posted, account.debits_pending, account.credits_pending];
        ensure!(sums.iter().all(|s| s.0 >= 0), "negative sum in {sums:?}");
        let risk = account.risk_shortfall.0;
        ensure!((0..=card_risk_cents_max).contains(&risk), "risk shortfall {risk} out of range");
        ensure!(account.kind == AccountKind::Card || risk == 0, "only cards carry risk");
        if account.kind.has_floor() {
            ensure!(account.available().0 >= -risk, "available {} below what risk {risk} covers", account.available());
        }
        ensure!(account.kind != AccountKind::Card || account.ceiling.is_some(), "a card without a ceiling");
        if let Some(ceiling) = account.ceiling {
            ensure!(ceiling.0 > 0 && ceiling.0 <= account_ceiling_cents_max, "ceiling {ceiling} out of range");
            ensure!(account.reach() <= ceiling, "reach {} above ceiling {ceiling}", account.reach());
        }
        Ok(())
    }

    /// The four sums of every account as the history and reservation states say.
    pub(super) fn recompute(&self) -> Result<BTreeMap<AccountId, Sums>, String> {
        let mut sums: BTreeMap<AccountId, Sums> = BTreeMap::new();
        let mut add = |debit: AccountId, credit: AccountId, amount: i64, offset: usize| {
            sums.entry(debit).or_default()[offset] += amount;
            sums.entry(credit).or_default()[offset + 1] += amount;
        };
        for transfer in &self.transfers {
            let amount = transfer.amount.0;
            match transfer.kind {
                TransferKind::Single | TransferKind::OfflineRisk { .. } | TransferKind::Post { .. } => {
                    add(transfer.debit, transfer.credit, amount, 0)
                }
                TransferKind::Reserve { .. } => {
                    let state = self.pending.get(&transfer.id).ok_or(format!("reservation {:?} has no state", transfer.id))?;
                    if matches!(state, PendingState::Pending { .. }) {
                        add(transfer.debit, transfer.credit, amount, 2);
                    }
                }
                TransferKind::Void { .. } => {}
            }
        }
        Ok(sums)
    }

    /// Every record: indexed, valid id, amount in range, two existing distinct accounts
    /// of one programme, not from the future.
    fn check_history(&self) -> Result<(), String> {
        ensure!(self.index.len() == self.transfers.len(), "index and history lengths differ");
        ensure!(self.transfers.len() <= ledger_transfers_max, "history over its limit");
        ensure!(self.accounts.len() <= ledger_accounts_max, "accounts over their limit");
        for (i, transfer) in self.transfers.iter().enumerate() {
            let id = transfer.id;
            ensure!(id.0 != 0 && self.index.get(&id) == Some(&i), "transfer {id:?} is not indexed at {i}");
            ensure!(transfer.amount.0 > 0 && transfer.amount.0 <= transfer_amount_cents_max, "{id:?} amount");
            ensure!(transfer.at <= self.now, "{id:?} is from the future");
            let debit = self.accounts.get(&transfer.debit).ok_or(format!("{id:?} debits a missing account"))?;
            let credit = self.accounts.get(&transfer.credit).ok_or(format!("{id:?} credits a missing account"))?;
            ensure!(debit.id != credit.id, "{id:?} debits and credits one account");
            ensure!(debit.programme == credit.programme, "{id:?} crosses programmes");
            if i > 0 {
                ensure!(self.transfers[i - 1].at <= transfer.at, "history out of time order at {id:?}");
            }
        }
        Ok(())
    }

    /// Every reservation has a state; a pending one is in the expiry index and not yet
    /// due; a posted, voided or expired one is finished by exactly the record it names,
    /// for an amount that adds up to what was reserved.
    fn check_reservations(&self) -> Result<(), String> {
        let reservations = self.transfers.iter().filter(|t| matches!(t.kind, TransferKind::Reserve { .. })).count();
        ensure!(self.pending.len() == reservations, "{} states for {reservations} reservations", self.pending.len());
        let live = self.pending.values().filter(|s| matches!(s, PendingState::Pending { .. })).count();
        ensure!(self.expiry.len() == live && live <= ledger_pendings_max, "expiry index holds {}", self.expiry.len());
        for (id, state) in &self.pending {
            let reservation = self.transfer(*id).ok_or(format!("state for unknown reservation {id:?}"))?;
            let TransferKind::Reserve { timeout_ms, expires_at } = reservation.kind else {
                return Err(format!("{id:?} has a pending state but is no reservation"));
            };
            ensure!(expires_at == reservation.at.plus_ms(timeout_ms), "{id:?} expiry");
            let finisher = match *state {
                PendingState::Pending { expires_at: at } => {
                    ensure!(at == expires_at && at > self.now, "{id:?} should have expired");
                    ensure!(self.expiry.contains(&(at, *id)), "{id:?} is not in the expiry index");
                    None
                }
                PendingState::Expired { at } => {
                    ensure!(at == expires_at && at <= self.now, "{id:?} expired at {at:?}, due {expires_at:?}");
                    None
                }
                PendingState::Posted { by } | PendingState::Voided { by } => Some(by),
            };
            if let Some(by) = finisher {
                let end = self.transfer(by).ok_or(format!("{id:?} finished by unknown {by:?}"))?;
                let (pending, released) = match end.kind {
                    TransferKind::Post { pending, released } if matches!(state, PendingState::Posted { .. }) => {
                        (pending, released)
                    }
                    TransferKind::Void { pending } if matches!(state, PendingState::Voided { .. }) => (pending, end.amount),
                    _ => return Err(format!("{id:?} is {state:?} but {by:?} is {:?}", end.kind)),
                };
                ensure!(pending == *id, "{by:?} finishes {pending:?}, not {id:?}");
                ensure!((end.debit, end.credit) == (reservation.debit, reservation.credit), "{by:?} accounts");
                ensure!(end.at < expires_at, "{by:?} finished {id:?} after it expired");
                let posted = if matches!(end.kind, TransferKind::Post { .. }) { end.amount.0 } else { 0 };
                ensure!(posted + released.0 == reservation.amount.0, "{by:?} posts and releases more than reserved");
            }
        }
        for transfer in &self.transfers {
            if let TransferKind::Post { pending, .. } | TransferKind::Void { pending } = transfer.kind {
                let state = self.pending.get(&pending).ok_or(format!("{:?} finishes no reservation", transfer.id))?;
                let by = match *state {
                    PendingState::Posted { by } | PendingState::Voided { by } => by,
                    _ => return Err(format!("{:?} finished {pending:?} but it is {state:?}", transfer.id)),
                };
                ensure!(by == transfer.id, "{pending:?} finished twice, by {by:?} and {:?}", transfer.id);
            }
        }
        Ok(())
    }

    /// One risk entry per risk record, with the same fields; each card's shortfalls
    /// add up to what it keeps; no shortfall exceeds its booking or the limits.
    fn check_risk(&self) -> Result<(), String> {
        let records: Vec<&Transfer> =
            self.transfers.iter().filter(|t| matches!(t.kind, TransferKind::OfflineRisk { .. })).collect();
        ensure!(records.len() == self.risk.len(), "{} risk records, {} entries", records.len(), self.risk.len());
        let mut per_card: BTreeMap<AccountId, i64> = BTreeMap::new();
        for (record, entry) in records.iter().zip(&self.risk) {
            let TransferKind::OfflineRisk { device, receipt, shortfall } = record.kind else { unreachable!() };
            let fields = (record.id, record.debit, record.credit, record.amount, shortfall, device, receipt, record.at);
            let entry_fields =
                (entry.transfer, entry.card, entry.merchant, entry.amount, entry.shortfall, entry.device, entry.receipt, entry.at);
            ensure!(fields == entry_fields, "risk entry {entry:?} differs from its record");
            ensure!(shortfall.0 >= 0 && shortfall <= entry.amount, "{:?} shortfall exceeds the booking", record.id);
            ensure!(shortfall.0 <= risk_shortfall_cents_max, "{:?} shortfall over the limit", record.id);
            let card = self.accounts.get(&entry.card).ok_or("risk on a missing card")?;
            ensure!(card.kind == AccountKind::Card, "risk booked on a {}", card.kind.code());
            *per_card.entry(entry.card).or_default() += shortfall.0;
        }
        for account in self.accounts.values() {
            let recorded = per_card.get(&account.id).copied().unwrap_or(0);
            ensure!(account.risk_shortfall.0 == recorded, "{:?} keeps risk {} but entries say {recorded}", account.id, account.risk_shortfall);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The checker must be able to fail: each test corrupts one fact of a healthy
    //! ledger (only code inside the module can) and expects the check to name it.

    use super::*;

    fn healthy() -> Ledger {
        let mut ledger = Ledger::new();
        let programme = ProgrammeId(1);
        let commands = [
            LedgerCommand::CreateAccount { id: AccountId(1), programme, kind: AccountKind::ProviderClearing, ceiling: None },
            LedgerCommand::CreateAccount { id: AccountId(2), programme, kind: AccountKind::Card, ceiling: Some(Cents(10_000)) },
            LedgerCommand::CreateAccount { id: AccountId(3), programme, kind: AccountKind::MerchantPayable, ceiling: None },
            LedgerCommand::Transfer { id: TransferId(1), debit: AccountId(1), credit: AccountId(2), amount: Cents(5_000) },
            LedgerCommand::Reserve {
                id: TransferId(2),
                debit: AccountId(2),
                credit: AccountId(3),
                amount: Cents(1_000),
                timeout_ms: 60_000,
            },
            LedgerCommand::BookOfflineRisk {
                id: TransferId(3),
                card: AccountId(2),
                merchant: AccountId(3),
                amount: Cents(4_500),
                device: DeviceId(7),
                receipt: 1,
            },
        ];
        for command in commands {
            let outcome = ledger.apply(&LedgerEnvelope { time: TimeMs(1_000), command });
            assert!(outcome.is_ok(), "{outcome:?}");
        }
        ledger.check_invariants();
        ledger
    }

    fn broken(corrupt: impl FnOnce(&mut Ledger)) -> String {
        let mut ledger = healthy();
        corrupt(&mut ledger);
        ledger.check_invariants_result().expect_err("the corruption is noticed")
    }

    #[test]
    fn the_checker_notices_a_balance_that_differs_from_the_history() {
        let why = broken(|l| l.accounts.get_mut(&AccountId(2)).unwrap().credits_posted.0 += 1);
        assert!(why.contains("history adds up"), "{why}");
    }

    #[test]
    fn the_checker_notices_money_created_from_nothing() {
        let why = broken(|l| l.transfers[0].amount.0 += 1);
        assert!(why.contains("history adds up"), "{why}");
    }

    #[test]
    fn the_checker_notices_a_card_below_zero_without_recorded_risk() {
        let ledger = healthy();
        let mut card = *ledger.account(AccountId(2)).unwrap();
        assert_eq!((card.available(), card.risk_shortfall), (Cents(-500), Cents(500)), "the card is below zero by risk");
        Ledger::check_account_result(&card).expect("covered by its risk entry");
        card.risk_shortfall.0 -= 1;
        let why = Ledger::check_account_result(&card).expect_err("one cent is not covered");
        assert!(why.contains("below what risk"), "{why}");
        let why = broken(|l| l.accounts.get_mut(&AccountId(2)).unwrap().risk_shortfall.0 -= 1);
        assert!(why.contains("keeps risk"), "{why}");
    }

    #[test]
    fn the_checker_notices_a_lost_reservation() {
        let why = broken(|l| l.expiry.clear());
        assert!(why.contains("expiry index"), "{why}");
    }
}
