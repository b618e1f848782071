//! Settlement: paying a merchant what its redemptions earned in a period.
//!
//! `VoucherCommand::Settle { programme, merchant, from, until }` closes the period
//! `from <= at < until` for one merchant in one programme. The core adds up the
//! merchant's redemptions made in the period and the reversals not yet counted (each
//! reversal counts in the first settlement made after it, see `period_items`), and moves the
//! net amount from the merchant's payable to the programme's payout clearing account
//! (`AccountKind::PayoutClearing`, opened with the first settlement of a programme):
//! from then on the money is on its way to the merchant's bank, in a payout file.
//!
//! # Never paid twice, never forgotten
//!
//! Each (programme, merchant) has a cursor, the end of its last settled period.
//! A settlement must start exactly at the cursor; the first one must start no later
//! than the merchant was created, so nothing it redeemed falls before it. Periods
//! therefore tile the merchant's time without gaps or overlaps: every redemption and
//! reversal is in exactly one settlement once time has moved past it. A retry of a
//! settled period (same programme, merchant, from, until) gets the first reply; any
//! other period starting before the cursor is refused as already settled.
//!
//! A period whose reversals exceed its redemptions (a large reversal of an earlier
//! period's redemption) is refused as `net_negative`: the office settles a longer
//! period instead, so the payout file never has to claw money back. A period with no
//! movement is recorded with amount zero (the cursor moves on) and makes no transfer.
//! A reversal made after the settlement of its redemption's period (a reversal window
//! reaching past the period's end) counts in the merchant's next settlement.
//!
//! The edge computes `from` and `until` from Berlin calendar dates; the core only
//! needs them ordered and `until <= now`, so every redemption of the period is known.

use super::limits::*;
use super::state::{payable_account, programme_account};
use super::*;
use crate::ledger::{AccountKind, Ledger};
use VoucherRejection as R;

/// Settlements per tenant: one a merchant a month for 100,000 merchants over years
/// would exceed it; a tenant that big settles in a separate programme.
#[allow(non_upper_case_globals)]
pub const tenant_settlements_max: usize = 1_000_000;

/// A settlement's number, `1, 2, …` in the order the tenant made them: payout files
/// name it, so it must be stable and unique, not secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SettlementId(pub u32);

/// One closed period of one merchant in one programme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub id: SettlementId,
    pub programme: ProgrammeId,
    pub merchant: MerchantId,
    pub from: TimeMs,
    pub until: TimeMs,
    /// Sum and count of the redemptions made in the period.
    pub redeemed: Cents,
    pub redemptions: u32,
    /// Sum and count of the reversals made in the period.
    pub reversed: Cents,
    pub reversals: u32,
    /// `redeemed - reversed`, never negative: what the payout file pays.
    pub amount: Cents,
    /// The transfer payable → payout clearing; `None` when the amount is zero.
    pub transfer: Option<TransferId>,
    /// The first voucher transfer id not yet made when the settlement was: a reversal
    /// with a lower id happened before it. Ids, not times, because a reversal and a
    /// settlement may share a millisecond.
    pub watermark: TransferId,
    pub at: TimeMs,
}

/// One line of a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeriodItem<'a> {
    /// The redemption was made in the period.
    Redemption(&'a Redemption),
    /// The redemption's reversal counts in this settlement.
    Reversal(&'a Redemption),
    /// An offline redemption synced in the period: what the card and the device's
    /// allowance paid into the payable (never the unpaid rest). It counts by its sync
    /// time, because that is when the payable was credited.
    Offline(&'a super::OfflineRecord),
}

impl PeriodItem<'_> {
    /// What an offline record paid the merchant: the card's part plus the allowance's.
    pub fn offline_paid(record: &super::OfflineRecord) -> Cents {
        match record.outcome {
            super::OfflineOutcome::Booked { card_part, risk_part, .. } => card_part.plus(risk_part),
            super::OfflineOutcome::Refused(_) => Cents::ZERO,
        }
    }
}

/// The period's redemptions and reversals, as a statement adds them up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeriodSums {
    pub redeemed: Cents,
    pub redemptions: u32,
    pub reversed: Cents,
    pub reversals: u32,
}

impl PeriodSums {
    pub fn net(&self) -> Cents {
        Cents(self.redeemed.0 - self.reversed.0)
    }
}

impl Vouchers {
    /// What a settlement of `merchant` in `programme` for `from <= at < until`, made
    /// at `watermark`, counts: the redemptions made in the period, and every reversal
    /// made before the watermark that no earlier settlement counted — of a redemption
    /// in the period, or of an earlier period's redemption reversed after that
    /// period's settlement (`previous`, the watermark of the merchant's last one). So each reversal
    /// counts in the first settlement after it, which is also why the payable always
    /// covers the amount: whatever was reversed before the settlement is already off
    /// the payable and is counted here. A reversal happens at most
    /// `reversal_window_ms_max` after its redemption, which bounds the scan.
    pub fn period_sums(
        &self,
        programme: ProgrammeId,
        merchant: MerchantId,
        (from, until): (TimeMs, TimeMs),
        previous: Option<TransferId>,
        watermark: TransferId,
    ) -> PeriodSums {
        self.period_items(programme, merchant, (from, until), previous, watermark).fold(PeriodSums::default(), |mut sums, item| {
            match item {
                PeriodItem::Redemption(r) => {
                    sums.redeemed = sums.redeemed.plus(r.amount);
                    sums.redemptions += 1;
                }
                PeriodItem::Reversal(r) => {
                    sums.reversed = sums.reversed.plus(r.amount);
                    sums.reversals += 1;
                }
                PeriodItem::Offline(record) => {
                    sums.redeemed = sums.redeemed.plus(PeriodItem::offline_paid(record));
                    sums.redemptions += 1;
                }
            }
            sums
        })
    }

    /// The lines of a statement: what `period_sums` adds up, in the merchant's
    /// redemption order (a redemption and its reversal may both appear).
    pub fn period_items(
        &self,
        programme: ProgrammeId,
        merchant: MerchantId,
        (from, until): (TimeMs, TimeMs),
        previous: Option<TransferId>,
        watermark: TransferId,
    ) -> impl Iterator<Item = PeriodItem<'_>> {
        // The previous settlement was made after its period ended, at `from` or later,
        // so a reversal it did not count is of a redemption at most a window before.
        let look_back = from.0.saturating_sub(reversal_window_ms_max);
        self.redemptions_of(merchant, TimeMs(look_back), until).filter(move |r| r.programme == programme).flat_map(move |r| {
            let redeemed = (r.at >= from).then_some(PeriodItem::Redemption(r));
            let reversed =
                r.reversal.filter(|v| v.transfer < watermark && (r.at >= from || previous.is_some_and(|p| v.transfer >= p)));
            redeemed.into_iter().chain(reversed.map(|_| PeriodItem::Reversal(r)))
        })
        .chain(
            self.offline_redemptions()
                .filter(move |r| {
                    r.merchant == merchant
                        && from <= r.synced_at
                        && r.synced_at < until
                        && PeriodItem::offline_paid(r).0 > 0
                        && self.card(r.redemption.card).is_some_and(|c| c.programme == programme)
                })
                .map(PeriodItem::Offline),
        )
    }

    /// A settlement's sums as they were counted, recomputed from the redemptions.
    pub fn settlement_items(&self, id: SettlementId) -> Option<impl Iterator<Item = PeriodItem<'_>>> {
        let s = *self.settlement(id)?;
        let previous = self.settlements[..s.id.0 as usize - 1]
            .iter()
            .rev()
            .find(|p| (p.programme, p.merchant) == (s.programme, s.merchant))
            .map(|p| p.watermark);
        Some(self.period_items(s.programme, s.merchant, (s.from, s.until), previous, s.watermark))
    }

    /// What settling the period now would count: a statement before the settlement.
    pub fn preview_items(
        &self,
        programme: ProgrammeId,
        merchant: MerchantId,
        period: (TimeMs, TimeMs),
    ) -> impl Iterator<Item = PeriodItem<'_>> {
        let previous = self.last_settlement(programme, merchant).map(|l| l.watermark);
        self.period_items(programme, merchant, period, previous, self.next_transfer_id())
    }

    /// The merchants accepted in a programme, ascending: who a payout run settles.
    pub fn merchants_in(&self, programme: ProgrammeId) -> Vec<MerchantId> {
        self.merchants.values().filter(|m| m.programmes.binary_search(&programme).is_ok()).map(|m| m.id).collect()
    }

    /// Every settlement, in the order made.
    pub fn settlements(&self) -> &[Settlement] {
        &self.settlements
    }

    pub fn settlement(&self, id: SettlementId) -> Option<&Settlement> {
        (id.0 as usize).checked_sub(1).and_then(|i| self.settlements.get(i))
    }

    /// The last settlement of a merchant in a programme: its `until` is where the
    /// next period starts.
    pub fn last_settlement(&self, programme: ProgrammeId, merchant: MerchantId) -> Option<&Settlement> {
        self.last_settlement.get(&(programme, merchant)).and_then(|id| self.settlement(*id))
    }

    /// Order: period empty or reversed (`from >= until`); unknown programme; unknown
    /// merchant; the same period settled before (its first reply); merchant not
    /// accepted in the programme; period not over (`until > now`); period starts
    /// before the cursor (`period_already_settled`); period leaves a gap after the
    /// cursor, or (first settlement) starts after the merchant was created
    /// (`period_gap`); capacity (settlements, and the payout account on a programme's
    /// first payout); net negative; the ledger (payable → payout clearing).
    pub(super) fn settle(
        &mut self,
        ledger: &mut Ledger,
        programme: ProgrammeId,
        merchant: MerchantId,
        from: TimeMs,
        until: TimeMs,
    ) -> VoucherOutcome {
        if from >= until {
            return Err(R::PeriodInvalid);
        }
        if !self.programmes.contains_key(&programme) {
            return Err(R::UnknownProgramme);
        }
        let shop = self.merchants.get(&merchant).ok_or(R::UnknownMerchant)?;
        if let Some(known) =
            self.settlements.iter().rev().find(|s| (s.programme, s.merchant, s.from, s.until) == (programme, merchant, from, until))
        {
            return Ok(VoucherReply::Settled { settlement: known.id, amount: known.amount });
        }
        if shop.programmes.binary_search(&programme).is_err() {
            return Err(R::MerchantNotAccepted);
        }
        if until > self.now {
            return Err(R::PeriodNotOver);
        }
        let last = self.last_settlement(programme, merchant).map(|l| (l.until, l.watermark));
        match last {
            Some((cursor, _)) if from < cursor => return Err(R::PeriodAlreadySettled),
            Some((cursor, _)) if from > cursor => return Err(R::PeriodGap),
            None if from > shop.created_at => return Err(R::PeriodGap),
            _ => {}
        }
        let payout = programme_account(programme, AccountKind::PayoutClearing);
        let payout_missing = ledger.account(payout).is_none();
        if self.settlements.len() >= tenant_settlements_max
            || (payout_missing && ledger.account_count() >= crate::ledger::limits::ledger_accounts_max)
        {
            return Err(R::TooManySettlements);
        }
        let watermark = self.next_transfer_id();
        let sums = self.period_sums(programme, merchant, (from, until), last.map(|(_, w)| w), watermark);
        let amount = sums.net();
        if amount.0 < 0 {
            return Err(R::NetNegative);
        }
        let payable = payable_account(programme, merchant);
        let transfer = if amount.0 > 0 {
            // The ledger's own checks, made here so that a programme's first payout
            // opens its payout account only for a transfer that will succeed (a
            // rejected command changes nothing). The payable is credit-normal with a
            // floor; the payout account has neither floor nor ceiling.
            use crate::ledger::{LedgerRejection as L, limits as ledger_limits};
            if amount.0 > ledger_limits::transfer_amount_cents_max {
                return Err(R::Ledger(L::AmountInvalid));
            }
            if ledger.account(payable).expect("an accepted merchant has its payable").available() < amount {
                return Err(R::Ledger(L::InsufficientBalance { account: payable }));
            }
            if ledger.transfers().len() >= ledger_limits::ledger_transfers_max {
                return Err(R::Ledger(L::TooManyTransfers));
            }
            if payout_missing {
                self.create_account(ledger, payout, programme, AccountKind::PayoutClearing, None);
            }
            let transfer = self.transfer(ledger, payable, payout, amount);
            assert!(transfer.is_ok(), "the ledger's checks were made above: {transfer:?}");
            transfer.ok()
        } else {
            None
        };
        let id = SettlementId(self.settlements.len() as u32 + 1);
        let record = Settlement {
            id,
            programme,
            merchant,
            from,
            until,
            redeemed: sums.redeemed,
            redemptions: sums.redemptions,
            reversed: sums.reversed,
            reversals: sums.reversals,
            amount,
            transfer,
            watermark,
            at: self.now,
        };
        self.settlements.push(record);
        self.last_settlement.insert((programme, merchant), id);
        Ok(VoucherReply::Settled { settlement: id, amount })
    }
}

const _: () = assert!(tenant_settlements_max <= u32::MAX as usize);
