//! The ledger state machine: `Ledger::apply(envelope)`.
//!
//! Every command first lets time pass (`now` only moves forward, due reservations
//! expire), then runs its handler. A handler checks its rejections in the order written
//! above it and changes nothing before the last check has passed, so a rejected command
//! leaves the state exactly as the time step left it, and replaying every command
//! (accepted or not) reproduces the state bit for bit.
//!
//! Checks come in two groups. First the request's shape and the facts it names that can
//! never change once true (ids valid, accounts exist and share a programme, the amount
//! is in range, a reservation is one). Then idempotency: a known transfer id with
//! identical fields is answered with its first reply, with other fields refused. Only
//! then the facts that do change (a reservation's state, capacity, balances). That order
//! is what makes a retry of an accepted command always get its first reply: everything
//! before the idempotency check is still true when the retry arrives.

use std::collections::{BTreeMap, BTreeSet};

use super::limits::*;
use super::*;
use LedgerRejection as R;

/// The outcome of one ledger command.
pub type LedgerOutcome = Result<LedgerReply, LedgerRejection>;

/// The whole ledger: accounts, the immutable transfer history, the state of every
/// reservation, and the offline-risk entries. Compare two ledgers with `==`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Ledger {
    pub(super) now: TimeMs,
    pub(super) accounts: BTreeMap<AccountId, Account>,
    /// Every accepted transfer, in the order it was applied.
    pub(super) transfers: Vec<Transfer>,
    /// Where each transfer id sits in `transfers`.
    pub(super) index: BTreeMap<TransferId, usize>,
    /// The state of every reservation ever made.
    pub(super) pending: BTreeMap<TransferId, PendingState>,
    /// `(expires_at, id)` of every reservation still pending, so expiry pops the earliest.
    pub(super) expiry: BTreeSet<(TimeMs, TransferId)>,
    pub(super) risk: Vec<RiskEntry>,
}

/// Which of an account's sums a movement changes.
#[derive(Clone, Copy)]
enum Bucket {
    Posted,
    Pending,
}

impl Account {
    /// Adds `delta` (negative to release a reservation) to one of the four sums.
    fn book(&mut self, side: Side, bucket: Bucket, delta: i64) {
        let sum = match (side, bucket) {
            (Side::Debit, Bucket::Posted) => &mut self.debits_posted,
            (Side::Credit, Bucket::Posted) => &mut self.credits_posted,
            (Side::Debit, Bucket::Pending) => &mut self.debits_pending,
            (Side::Credit, Bucket::Pending) => &mut self.credits_pending,
        };
        sum.0 += delta;
        assert!(sum.0 >= 0, "account {:?}: a sum of amounts went negative", self.id);
    }
}

/// A movement that makes an account's available balance smaller may not take it below
/// zero on a kind with a floor; one that makes its reach larger may not take it above
/// the ceiling. Movements in the other direction are always allowed, so a card below
/// zero by recorded risk can still be loaded.
fn check_limits(before: &Account, after: &Account) -> Result<(), LedgerRejection> {
    if after.kind.has_floor() && after.available() < before.available() && after.available().0 < 0 {
        return Err(R::InsufficientBalance { account: after.id });
    }
    if let Some(ceiling) = after.ceiling
        && after.reach() > before.reach()
        && after.reach() > ceiling
    {
        return Err(R::CeilingExceeded { account: after.id });
    }
    Ok(())
}

fn check_amount(amount: Cents) -> Result<(), LedgerRejection> {
    if amount.0 <= 0 || amount.0 > transfer_amount_cents_max {
        return Err(R::AmountInvalid);
    }
    Ok(())
}

/// The reply a transfer record was accepted with; a retry gets it again.
fn reply_of(transfer: &Transfer) -> LedgerReply {
    let id = transfer.id;
    match transfer.kind {
        TransferKind::Single => LedgerReply::Transferred { transfer: id },
        TransferKind::Reserve { expires_at, .. } => LedgerReply::Reserved { transfer: id, expires_at },
        TransferKind::Post { pending, released } => {
            LedgerReply::Posted { transfer: id, pending, amount: transfer.amount, released }
        }
        TransferKind::Void { pending } => LedgerReply::Voided { transfer: id, pending, released: transfer.amount },
        TransferKind::OfflineRisk { shortfall, .. } => LedgerReply::RiskBooked { transfer: id, shortfall },
    }
}

impl Ledger {
    /// An empty ledger at time zero.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Lets time pass to the envelope's time (never backwards), expires due
    /// reservations, then runs the command. The only way the ledger changes.
    pub fn apply(&mut self, envelope: &LedgerEnvelope) -> LedgerOutcome {
        self.now = self.now.max(envelope.time);
        let expired = self.expire_due();
        let outcome = match envelope.command {
            LedgerCommand::CreateAccount { id, programme, kind, ceiling } => {
                self.create_account(id, programme, kind, ceiling)
            }
            LedgerCommand::Transfer { id, debit, credit, amount } => self.single(id, debit, credit, amount),
            LedgerCommand::Reserve { id, debit, credit, amount, timeout_ms } => {
                self.reserve(id, debit, credit, amount, timeout_ms)
            }
            LedgerCommand::Post { id, pending, amount } => self.post(id, pending, amount),
            LedgerCommand::Void { id, pending } => self.void(id, pending),
            LedgerCommand::BookOfflineRisk { id, card, merchant, amount, device, receipt } => {
                self.book_offline_risk(id, card, merchant, amount, device, receipt)
            }
            LedgerCommand::Tick => Ok(LedgerReply::Ticked { expired }),
        };
        // The full check recounts the whole history, which would make a long run
        // quadratic; debug builds check the accounts this command named, and tests run
        // the full `check_invariants` after every command.
        if cfg!(debug_assertions) {
            for account in self.touched(&envelope.command) {
                if let Some(account) = self.accounts.get(&account) {
                    Ledger::check_account(account);
                }
            }
        }
        outcome
    }

    // ----- queries -----

    /// The latest time any command brought.
    pub fn now(&self) -> TimeMs {
        self.now
    }

    /// The account with this id, if it was created.
    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    /// How many accounts exist: what a command that opens several checks capacity by.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// Every account, by id.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// The accepted transfer with this id, of any phase.
    pub fn transfer(&self, id: TransferId) -> Option<&Transfer> {
        self.index.get(&id).map(|i| &self.transfers[*i])
    }

    /// Every accepted transfer, in the order applied.
    pub fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }

    /// Where a reservation stands; `None` if the id is no reservation.
    pub fn pending_state(&self, reservation: TransferId) -> Option<PendingState> {
        self.pending.get(&reservation).copied()
    }

    /// Every offline-risk booking, in the order applied.
    pub fn risk_entries(&self) -> &[RiskEntry] {
        &self.risk
    }

    /// When the next reservation falls due, so a runtime knows when a `Tick` is worth
    /// sending.
    pub fn next_expiry(&self) -> Option<TimeMs> {
        self.expiry.first().map(|(at, _)| *at)
    }

    fn touched(&self, command: &LedgerCommand) -> Vec<AccountId> {
        match *command {
            LedgerCommand::CreateAccount { id, .. } => vec![id],
            LedgerCommand::Transfer { debit, credit, .. } | LedgerCommand::Reserve { debit, credit, .. } => {
                vec![debit, credit]
            }
            LedgerCommand::Post { pending, .. } | LedgerCommand::Void { pending, .. } => {
                self.transfer(pending).map(|t| vec![t.debit, t.credit]).unwrap_or_default()
            }
            LedgerCommand::BookOfflineRisk { card, merchant, .. } => vec![card, merchant],
            LedgerCommand::Tick => Vec::new(),
        }
    }

    // ----- time -----

    /// Releases every reservation whose `expires_at` is not after `now`: a reservation
    /// is usable strictly before its expiry instant.
    fn expire_due(&mut self) -> u32 {
        let mut expired = 0;
        while let Some(&(at, id)) = self.expiry.first() {
            if at > self.now {
                break;
            }
            self.expiry.pop_first();
            let state = self.pending.get_mut(&id).expect("the expiry index names reservations");
            assert_eq!(*state, PendingState::Pending { expires_at: at }, "expiry index and state agree");
            *state = PendingState::Expired { at };
            let reservation = self.transfers[self.index[&id]];
            self.release(&reservation);
            expired += 1;
        }
        expired
    }

    /// Takes a reservation's whole amount out of both accounts' pending sums.
    fn release(&mut self, reservation: &Transfer) {
        assert!(matches!(reservation.kind, TransferKind::Reserve { .. }));
        let amount = reservation.amount.0;
        self.account_mut(reservation.debit).book(Side::Debit, Bucket::Pending, -amount);
        self.account_mut(reservation.credit).book(Side::Credit, Bucket::Pending, -amount);
    }

    fn account_mut(&mut self, id: AccountId) -> &mut Account {
        self.accounts.get_mut(&id).expect("transfers name existing accounts")
    }

    fn record(&mut self, transfer: Transfer) {
        assert!(self.transfers.len() < ledger_transfers_max, "capacity is checked before recording");
        let fresh = self.index.insert(transfer.id, self.transfers.len()).is_none();
        assert!(fresh, "a known transfer id is answered before recording");
        self.transfers.push(transfer);
    }

    // ----- accounts -----

    /// Order: account id; ceiling (within `1..=account_ceiling_cents_max`, required for
    /// cards); a known id (identical fields: the first reply; otherwise
    /// `account_id_reused`); capacity.
    fn create_account(
        &mut self,
        id: AccountId,
        programme: ProgrammeId,
        kind: AccountKind,
        ceiling: Option<Cents>,
    ) -> LedgerOutcome {
        if id.0 == 0 {
            return Err(R::AccountIdInvalid);
        }
        match ceiling {
            Some(c) if c.0 <= 0 || c.0 > account_ceiling_cents_max => return Err(R::CeilingInvalid),
            None if kind == AccountKind::Card => return Err(R::CeilingInvalid),
            _ => {}
        }
        if let Some(existing) = self.accounts.get(&id) {
            if (existing.programme, existing.kind, existing.ceiling) != (programme, kind, ceiling) {
                return Err(R::AccountIdReused);
            }
            return Ok(LedgerReply::AccountCreated { account: id });
        }
        if self.accounts.len() >= ledger_accounts_max {
            return Err(R::TooManyAccounts);
        }
        let account = Account {
            id,
            programme,
            kind,
            ceiling,
            created_at: self.now,
            debits_posted: Cents::ZERO,
            credits_posted: Cents::ZERO,
            debits_pending: Cents::ZERO,
            credits_pending: Cents::ZERO,
            risk_shortfall: Cents::ZERO,
        };
        self.accounts.insert(id, account);
        Ok(LedgerReply::AccountCreated { account: id })
    }

    // ----- transfers -----

    /// The two accounts of a transfer, checked in order: debit exists, credit exists.
    fn accounts_of(&self, debit: AccountId, credit: AccountId) -> Result<(Account, Account), LedgerRejection> {
        let debit = *self.accounts.get(&debit).ok_or(R::DebitAccountNotFound)?;
        let credit = *self.accounts.get(&credit).ok_or(R::CreditAccountNotFound)?;
        Ok((debit, credit))
    }

    /// The shared checks of `Transfer` and `Reserve`, up to the amount.
    fn pair(&self, id: TransferId, debit: AccountId, credit: AccountId, amount: Cents) -> Result<(Account, Account), LedgerRejection> {
        if id.0 == 0 {
            return Err(R::TransferIdInvalid);
        }
        let (debit, credit) = self.accounts_of(debit, credit)?;
        if debit.id == credit.id {
            return Err(R::AccountsSame);
        }
        if debit.programme != credit.programme {
            return Err(R::ProgrammesDiffer);
        }
        check_amount(amount)?;
        Ok((debit, credit))
    }

    /// `Some` if the id is known: its first reply if `same` says the request is
    /// identical, `transfer_id_reused` otherwise.
    fn known(&self, id: TransferId, same: impl Fn(&Transfer) -> bool) -> Option<LedgerOutcome> {
        let transfer = self.transfer(id)?;
        Some(if same(transfer) { Ok(reply_of(transfer)) } else { Err(R::TransferIdReused) })
    }

    /// Both accounts after a movement of `amount` into `bucket`, each checked against its
    /// limits: the debit account first.
    fn moved(debit: &Account, credit: &Account, bucket: Bucket, amount: Cents) -> Result<(Account, Account), LedgerRejection> {
        let mut debit_after = *debit;
        debit_after.book(Side::Debit, bucket, amount.0);
        check_limits(debit, &debit_after)?;
        let mut credit_after = *credit;
        credit_after.book(Side::Credit, bucket, amount.0);
        check_limits(credit, &credit_after)?;
        Ok((debit_after, credit_after))
    }

    /// Order: transfer id; debit account exists; credit account exists; accounts
    /// distinct; same programme; amount; a known id; history capacity; the debit
    /// account's limits; the credit account's limits.
    fn single(&mut self, id: TransferId, debit: AccountId, credit: AccountId, amount: Cents) -> LedgerOutcome {
        let (debit, credit) = self.pair(id, debit, credit, amount)?;
        let same = |t: &Transfer| {
            t.kind == TransferKind::Single && (t.debit, t.credit, t.amount) == (debit.id, credit.id, amount)
        };
        if let Some(answer) = self.known(id, same) {
            return answer;
        }
        if self.transfers.len() >= ledger_transfers_max {
            return Err(R::TooManyTransfers);
        }
        let (debit_after, credit_after) = Ledger::moved(&debit, &credit, Bucket::Posted, amount)?;
        // All checks passed: from here on the command only mutates.
        self.accounts.insert(debit.id, debit_after);
        self.accounts.insert(credit.id, credit_after);
        let transfer =
            Transfer { id, debit: debit.id, credit: credit.id, amount, kind: TransferKind::Single, at: self.now };
        self.record(transfer);
        Ok(reply_of(&transfer))
    }

    /// Order: as `Transfer` up to the amount; timeout within
    /// `pending_timeout_ms_min..=pending_timeout_ms_max`; a known id; history capacity;
    /// pending capacity; the debit account's limits; the credit account's limits.
    fn reserve(
        &mut self,
        id: TransferId,
        debit: AccountId,
        credit: AccountId,
        amount: Cents,
        timeout_ms: i64,
    ) -> LedgerOutcome {
        let (debit, credit) = self.pair(id, debit, credit, amount)?;
        if !(pending_timeout_ms_min..=pending_timeout_ms_max).contains(&timeout_ms) {
            return Err(R::TimeoutInvalid);
        }
        let same = |t: &Transfer| {
            matches!(t.kind, TransferKind::Reserve { timeout_ms: ms, .. } if ms == timeout_ms)
                && (t.debit, t.credit, t.amount) == (debit.id, credit.id, amount)
        };
        if let Some(answer) = self.known(id, same) {
            return answer;
        }
        if self.transfers.len() >= ledger_transfers_max {
            return Err(R::TooManyTransfers);
        }
        if self.expiry.len() >= ledger_pendings_max {
            return Err(R::TooManyPendings);
        }
        let (debit_after, credit_after) = Ledger::moved(&debit, &credit, Bucket::Pending, amount)?;
        // All checks passed: from here on the command only mutates.
        self.accounts.insert(debit.id, debit_after);
        self.accounts.insert(credit.id, credit_after);
        let expires_at = self.now.plus_ms(timeout_ms);
        let kind = TransferKind::Reserve { timeout_ms, expires_at };
        let transfer = Transfer { id, debit: debit.id, credit: credit.id, amount, kind, at: self.now };
        self.record(transfer);
        self.pending.insert(id, PendingState::Pending { expires_at });
        self.expiry.insert((expires_at, id));
        Ok(reply_of(&transfer))
    }

    /// The reservation a `Post` or `Void` names, checked in order: transfer id; the
    /// pending id names a transfer; that transfer is a reservation.
    fn reservation(&self, id: TransferId, pending: TransferId) -> Result<Transfer, LedgerRejection> {
        if id.0 == 0 {
            return Err(R::TransferIdInvalid);
        }
        let reservation = *self.transfer(pending).ok_or(R::PendingNotFound)?;
        if !matches!(reservation.kind, TransferKind::Reserve { .. }) {
            return Err(R::TransferNotPending);
        }
        Ok(reservation)
    }

    /// A reservation that is no longer pending cannot be posted or voided again.
    fn check_still_pending(&self, pending: TransferId) -> Result<(), LedgerRejection> {
        match self.pending[&pending] {
            PendingState::Pending { .. } => Ok(()),
            PendingState::Expired { .. } => Err(R::PendingExpired),
            PendingState::Posted { .. } => Err(R::PendingAlreadyPosted),
            PendingState::Voided { .. } => Err(R::PendingAlreadyVoided),
        }
    }

    /// Ends a pending reservation by `by`: out of the expiry index, into `state`.
    fn finish(&mut self, reservation: &Transfer, state: PendingState) {
        let Some(PendingState::Pending { expires_at }) = self.pending.insert(reservation.id, state) else {
            panic!("only a pending reservation is finished");
        };
        let removed = self.expiry.remove(&(expires_at, reservation.id));
        assert!(removed, "a pending reservation is in the expiry index");
        self.release(reservation);
    }

    /// Order: transfer id; the pending id names a transfer; it is a reservation;
    /// amount; amount at most the reserved amount; a known id; the reservation is still
    /// pending (else expired, already posted, already voided); history capacity. No
    /// balance check: the reservation already counted the whole amount against both
    /// accounts' limits, and posting part of it only gives some back.
    fn post(&mut self, id: TransferId, pending: TransferId, amount: Cents) -> LedgerOutcome {
        let reservation = self.reservation(id, pending)?;
        check_amount(amount)?;
        if amount > reservation.amount {
            return Err(R::AmountExceedsPending);
        }
        let same = |t: &Transfer| matches!(t.kind, TransferKind::Post { pending: p, .. } if p == pending) && t.amount == amount;
        if let Some(answer) = self.known(id, same) {
            return answer;
        }
        self.check_still_pending(pending)?;
        if self.transfers.len() >= ledger_transfers_max {
            return Err(R::TooManyTransfers);
        }
        // All checks passed: from here on the command only mutates.
        self.finish(&reservation, PendingState::Posted { by: id });
        self.account_mut(reservation.debit).book(Side::Debit, Bucket::Posted, amount.0);
        self.account_mut(reservation.credit).book(Side::Credit, Bucket::Posted, amount.0);
        let released = Cents(reservation.amount.0 - amount.0);
        let kind = TransferKind::Post { pending, released };
        let transfer = Transfer { id, debit: reservation.debit, credit: reservation.credit, amount, kind, at: self.now };
        self.record(transfer);
        Ok(reply_of(&transfer))
    }

    /// Order: transfer id; the pending id names a transfer; it is a reservation; a known
    /// id; the reservation is still pending; history capacity.
    fn void(&mut self, id: TransferId, pending: TransferId) -> LedgerOutcome {
        let reservation = self.reservation(id, pending)?;
        let same = |t: &Transfer| matches!(t.kind, TransferKind::Void { pending: p } if p == pending);
        if let Some(answer) = self.known(id, same) {
            return answer;
        }
        self.check_still_pending(pending)?;
        if self.transfers.len() >= ledger_transfers_max {
            return Err(R::TooManyTransfers);
        }
        // All checks passed: from here on the command only mutates.
        self.finish(&reservation, PendingState::Voided { by: id });
        let kind = TransferKind::Void { pending };
        let transfer = Transfer { kind, id, at: self.now, ..reservation };
        self.record(transfer);
        Ok(reply_of(&transfer))
    }

    // ----- offline risk -----

    /// Order: transfer id; card exists; merchant exists; the card is a `Card`; the
    /// merchant is a `MerchantPayable`; same programme; amount; a known id; history
    /// capacity; risk limits (this booking's shortfall, then the card's total); the
    /// merchant account's limits. The card's floor is not checked: that is the point.
    fn book_offline_risk(
        &mut self,
        id: TransferId,
        card: AccountId,
        merchant: AccountId,
        amount: Cents,
        device: DeviceId,
        receipt: u64,
    ) -> LedgerOutcome {
        if id.0 == 0 {
            return Err(R::TransferIdInvalid);
        }
        let (card, merchant) = self.accounts_of(card, merchant)?;
        if card.kind != AccountKind::Card {
            return Err(R::RiskDebitNotCard);
        }
        if merchant.kind != AccountKind::MerchantPayable {
            return Err(R::RiskCreditNotMerchant);
        }
        if card.programme != merchant.programme {
            return Err(R::ProgrammesDiffer);
        }
        check_amount(amount)?;
        let same = |t: &Transfer| {
            matches!(t.kind, TransferKind::OfflineRisk { device: d, receipt: r, .. } if (d, r) == (device, receipt))
                && (t.debit, t.credit, t.amount) == (card.id, merchant.id, amount)
        };
        if let Some(answer) = self.known(id, same) {
            return answer;
        }
        if self.transfers.len() >= ledger_transfers_max {
            return Err(R::TooManyTransfers);
        }
        // What the card's available balance covers is booked as an ordinary redemption
        // would be; only the rest is risk. A card already below zero covers nothing.
        let covered = card.available().0.clamp(0, amount.0);
        let shortfall = Cents(amount.0 - covered);
        if shortfall.0 > risk_shortfall_cents_max || card.risk_shortfall.0 + shortfall.0 > card_risk_cents_max {
            return Err(R::RiskLimitExceeded);
        }
        let mut merchant_after = merchant;
        merchant_after.book(Side::Credit, Bucket::Posted, amount.0);
        check_limits(&merchant, &merchant_after)?;
        // All checks passed: from here on the command only mutates.
        let mut card_after = card;
        card_after.book(Side::Debit, Bucket::Posted, amount.0);
        card_after.risk_shortfall = card_after.risk_shortfall.plus(shortfall);
        self.accounts.insert(card.id, card_after);
        self.accounts.insert(merchant.id, merchant_after);
        let kind = TransferKind::OfflineRisk { device, receipt, shortfall };
        let transfer = Transfer { id, debit: card.id, credit: merchant.id, amount, kind, at: self.now };
        self.record(transfer);
        let at = self.now;
        self.risk.push(RiskEntry { transfer: id, card: card.id, merchant: merchant.id, amount, shortfall, device, receipt, at });
        Ok(reply_of(&transfer))
    }
}
