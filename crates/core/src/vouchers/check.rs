//! The voucher invariant checker. It needs the ledger beside the voucher state,
//! because the point is that the two agree: every card's ledger account exists with
//! the programme's ceiling, holds nothing pending, and its balance equals what the
//! voucher journal (`Booking`s) adds up to for that card; every booking's transfer is
//! in the ledger with the same amount; inactive and expired cards hold nothing; every
//! redemption id appears once, and a reversal references its redemption's ledger
//! transfer and exists at most once. Tests run it after every command.

use std::collections::{BTreeMap, BTreeSet};

use super::limits::*;
use super::state::PROGRAMME_KINDS;
use super::*;
use crate::ledger::{AccountKind, Ledger};

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

impl Vouchers {
    /// Panics with the broken invariant; a broken invariant is a bug, never input.
    pub fn check_invariants(&self, ledger: &Ledger) {
        if let Err(why) = self.check_invariants_result(ledger) {
            panic!("voucher invariant broken: {why}");
        }
    }

    /// The full check against the ledger.
    pub fn check_invariants_result(&self, ledger: &Ledger) -> Result<(), String> {
        self.check_parties(ledger)?;
        let balances = self.check_bookings(ledger)?;
        self.check_cards(ledger, &balances)?;
        self.check_redemptions(ledger)?;
        self.check_offline(ledger)?;
        self.check_settlements(ledger)?;
        self.check_purchases()
    }

    /// Every settlement: numbered by its place, its transfer (if any) moves exactly its
    /// amount from the payable to payout clearing, its sums are what the redemptions
    /// still add up to for its period (a later command cannot change a settled
    /// period), periods of a merchant follow each other without gap or overlap, and
    /// the cursors are their ends.
    fn check_settlements(&self, ledger: &Ledger) -> Result<(), String> {
        let mut cursors: BTreeMap<(ProgrammeId, MerchantId), &Settlement> = BTreeMap::new();
        for (place, s) in self.settlements.iter().enumerate() {
            ensure!(s.id.0 as usize == place + 1, "settlement {:?} out of place", s.id);
            ensure!(s.from < s.until && s.until <= s.at && s.at <= self.now, "settlement {:?} period", s.id);
            let previous = cursors.get(&(s.programme, s.merchant)).map(|p| p.watermark);
            let sums = self.period_sums(s.programme, s.merchant, (s.from, s.until), previous, s.watermark);
            ensure!(
                (sums.redeemed, sums.redemptions, sums.reversed, sums.reversals) == (s.redeemed, s.redemptions, s.reversed, s.reversals),
                "settlement {:?} sums changed after it was made", s.id
            );
            ensure!(s.amount == sums.net() && s.amount.0 >= 0, "settlement {:?} amount", s.id);
            match s.transfer {
                None => ensure!(s.amount.0 == 0, "settlement {:?} pays without a transfer", s.id),
                Some(t) => {
                    let transfer = ledger.transfer(t).ok_or(format!("settlement {:?} not in the ledger", s.id))?;
                    ensure!(
                        transfer.amount == s.amount
                            && transfer.debit == payable_account(s.programme, s.merchant)
                            && transfer.credit == programme_account(s.programme, AccountKind::PayoutClearing),
                        "settlement {:?} differs from its transfer", s.id
                    );
                }
            }
            if let Some(previous) = cursors.insert((s.programme, s.merchant), s) {
                ensure!(previous.until == s.from && previous.watermark <= s.watermark, "settlement {:?} does not start where the last one ended", s.id);
            }
        }
        let last: BTreeMap<(ProgrammeId, MerchantId), SettlementId> = cursors.into_iter().map(|(k, s)| (k, s.id)).collect();
        ensure!(last == self.last_settlement, "last settlements differ from the settlements");
        Ok(())
    }

    fn check_parties(&self, ledger: &Ledger) -> Result<(), String> {
        ensure!(self.programmes.len() <= tenant_programmes_max, "too many programmes");
        for (id, programme) in &self.programmes {
            ensure!(programme.id == *id, "programme {id:?} filed under another id");
            for kind in PROGRAMME_KINDS {
                let account = ledger.account(programme_account(*id, kind)).ok_or(format!("programme {id:?} lacks {kind:?}"))?;
                ensure!(account.kind == kind && account.programme == *id, "programme {id:?} account {kind:?} mislabelled");
            }
        }
        for (id, merchant) in &self.merchants {
            ensure!(merchant.id == *id, "merchant {id:?} filed under another id");
            ensure!(merchant.programmes.windows(2).all(|w| w[0] < w[1]), "merchant {id:?} programmes unsorted");
            for programme in &merchant.programmes {
                ensure!(self.programmes.contains_key(programme), "merchant {id:?} in a missing programme");
                let account = ledger.account(payable_account(*programme, *id)).ok_or("merchant lacks its payable")?;
                ensure!(account.kind == AccountKind::MerchantPayable && account.programme == *programme, "payable mislabelled");
            }
        }
        for (id, device) in &self.devices {
            ensure!(device.id == *id && self.merchants.contains_key(&device.merchant), "device {id:?} orphaned");
        }
        let mut per_batch: BTreeMap<BatchId, u32> = BTreeMap::new();
        for card in self.cards.values() {
            *per_batch.entry(card.batch).or_default() += 1;
        }
        for (id, batch) in &self.batches {
            ensure!(batch.id == *id && self.programmes.contains_key(&batch.programme), "batch {id:?} orphaned");
            ensure!(per_batch.get(id).copied().unwrap_or(0) == batch.cards, "batch {id:?} card count");
            ensure!((1..=batch_cards_max as u32).contains(&batch.cards), "batch {id:?} size");
        }
        ensure!(per_batch.keys().all(|b| self.batches.contains_key(b)), "a card names a missing batch");
        Ok(())
    }

    /// Every booking against the ledger; returns each card's balance by the journal.
    fn check_bookings(&self, ledger: &Ledger) -> Result<BTreeMap<CardId, i64>, String> {
        let mut balances: BTreeMap<CardId, i64> = BTreeMap::new();
        let mut transfers: BTreeMap<TransferId, usize> = BTreeMap::new();
        let mut highest = 0u128;
        for booking in &self.bookings {
            ensure!(in_voucher_namespace(booking.transfer.0), "booking {:?} outside the namespace", booking.transfer);
            highest = highest.max(booking.transfer.0 & ((1u128 << 120) - 1));
            let card = self.cards.get(&booking.card).ok_or(format!("booking names missing card {:?}", booking.card))?;
            let transfer = ledger.transfer(booking.transfer).ok_or(format!("booking {:?} not in the ledger", booking.transfer))?;
            ensure!(transfer.amount == booking.amount && booking.amount.0 > 0, "booking {:?} amount differs", booking.transfer);
            let account = card_account(card.id);
            let side_ok = if booking.kind.credits_card() { transfer.credit == account } else { transfer.debit == account };
            ensure!(side_ok, "booking {:?} ({:?}) is not on its card's side", booking.transfer, booking.kind);
            let signed = if booking.kind.credits_card() { booking.amount.0 } else { -booking.amount.0 };
            *balances.entry(card.id).or_default() += signed;
            *transfers.entry(booking.transfer).or_default() += 1;
            ensure!(booking.paid_via.is_some() == matches!(booking.kind, BookingKind::Activation | BookingKind::Load | BookingKind::Refund), "booking {:?} payment record", booking.transfer);
        }
        for (transfer, count) in &transfers {
            ensure!(*count <= 2, "transfer {transfer:?} booked {count} times");
        }
        ensure!(highest <= u128::from(self.next_transfer), "transfer counter {} behind {highest}", self.next_transfer);
        Ok(balances)
    }

    fn check_cards(&self, ledger: &Ledger, balances: &BTreeMap<CardId, i64>) -> Result<(), String> {
        ensure!(self.cards.len() <= tenant_cards_max, "too many cards");
        ensure!(self.by_code.len() == self.cards.len(), "code index size");
        let mut expiry = BTreeSet::new();
        for (id, card) in &self.cards {
            ensure!(card.id == *id && card.id.0 != 0, "card {id:?} filed under another id");
            ensure!(self.by_code.get(&card.code_digest) == Some(id), "card {id:?} not found by its code");
            let programme = self.programmes.get(&card.programme).ok_or(format!("card {id:?} in a missing programme"))?;
            ensure!(self.batches.get(&card.batch).is_some_and(|b| b.programme == card.programme), "card {id:?} batch");
            let account = ledger.account(card_account(*id)).ok_or(format!("card {id:?} has no account"))?;
            let max = programme.limits.card_balance_cents_max;
            ensure!(account.kind == AccountKind::Card && account.programme == card.programme, "card {id:?} account mislabelled");
            ensure!(account.ceiling == Some(max), "card {id:?} ceiling is not the programme's balance max");
            ensure!(account.debits_pending.0 == 0 && account.credits_pending.0 == 0, "card {id:?} has pending transfers");
            let balance = account.balance().0;
            let journal = balances.get(id).copied().unwrap_or(0);
            ensure!(balance == journal, "card {id:?} ledger balance {balance} but its bookings add up to {journal}");
            ensure!((0..=max.0).contains(&balance), "card {id:?} balance {balance} outside 0..={}", max.0);
            ensure!(account.risk_shortfall.0 == 0, "card {id:?} carries offline risk");
            match card.state {
                CardState::Inactive => {
                    ensure!(balance == 0, "inactive card {id:?} holds {balance}");
                    ensure!(card.activated_at.is_none() && card.expires_at.is_none(), "inactive card {id:?} dated");
                }
                CardState::Expired => ensure!(balance == 0, "expired card {id:?} holds {balance}"),
                CardState::Active | CardState::Blocked(_) => {
                    // A card blocked before its sale (stolen stock) was never dated.
                    let sold = card.activated_at.is_some();
                    ensure!(sold || matches!(card.state, CardState::Blocked(_)), "card {id:?} active without a sale");
                    ensure!(card.expires_at.is_some() == sold, "card {id:?} sold without expiry, or dated unsold");
                    ensure!(sold || balance == 0, "unsold blocked card {id:?} holds {balance}");
                    if let Some(expires_at) = card.expires_at {
                        expiry.insert((expires_at, *id));
                    }
                }
            }
            if card.state == CardState::Expired {
                ensure!(card.expires_at.is_some_and(|e| e <= self.now), "card {id:?} expired early");
            }
            let locked = matches!(card.state, CardState::Blocked(BlockReason::PinAttempts) | CardState::Expired);
            ensure!(card.pin_failures <= pin_attempts_max, "card {id:?} pin failures");
            ensure!(card.pin_failures < pin_attempts_max || locked, "card {id:?} not locked after too many PINs");
            ensure!(card.pin_digest.is_some() || card.pin_failures == 0, "card {id:?} without PIN has failures");
        }
        ensure!(expiry == self.expiry, "expiry index differs from the cards");
        Ok(())
    }

    fn check_redemptions(&self, ledger: &Ledger) -> Result<(), String> {
        let mut by_merchant = BTreeSet::new();
        for (id, r) in &self.redemptions {
            ensure!(r.id == *id && id.0 != 0, "redemption {id:?} filed under another id");
            let card = self.cards.get(&r.card).ok_or(format!("redemption {id:?} names a missing card"))?;
            ensure!(card.programme == r.programme, "redemption {id:?} programme");
            ensure!(self.merchants.contains_key(&r.merchant) && self.devices.contains_key(&r.device), "redemption {id:?} parties");
            let transfer = ledger.transfer(r.transfer).ok_or(format!("redemption {id:?} not in the ledger"))?;
            ensure!(
                transfer.amount == r.amount
                    && transfer.debit == card_account(r.card)
                    && transfer.credit == payable_account(r.programme, r.merchant),
                "redemption {id:?} differs from its transfer"
            );
            if let Some(reversal) = r.reversal {
                let back = ledger.transfer(reversal.transfer).ok_or(format!("reversal of {id:?} not in the ledger"))?;
                ensure!(reversal.transfer != r.transfer && reversal.at >= r.at, "reversal of {id:?} out of order");
                ensure!(
                    back.amount == r.amount && back.credit == transfer.debit && back.debit == transfer.credit,
                    "reversal of {id:?} does not mirror it"
                );
            }
            ensure!(by_merchant.insert((r.merchant, r.at, *id)), "redemption {id:?} indexed twice");
        }
        ensure!(by_merchant == self.by_merchant, "merchant index differs from the redemptions");
        let reversals: BTreeSet<TransferId> = self.redemptions.values().filter_map(|r| r.reversal.map(|v| v.transfer)).collect();
        let reversed = self.redemptions.values().filter(|r| r.reversal.is_some()).count();
        ensure!(reversals.len() == reversed, "two reversals share a transfer");
        let redemption_bookings = self.bookings.iter().filter(|b| b.kind == BookingKind::Redemption).count();
        let reversal_bookings = self.bookings.iter().filter(|b| b.kind == BookingKind::Reversal).count();
        ensure!(redemption_bookings == self.redemptions.len(), "redemptions and their bookings differ in number");
        ensure!(reversal_bookings == reversed, "reversals and their bookings differ in number");
        Ok(())
    }
}
