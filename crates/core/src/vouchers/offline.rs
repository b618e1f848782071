//! Offline redemption with bounded risk: allowances, device syncs and risk entries.
//!
//! While a merchant device is online it asks for an **allowance**: a two-phase ledger
//! reservation from its programme's offline-risk account to the merchant's payable,
//! with a timeout. While the core is unreachable the device redeems cards against
//! their signed balance certificates and keeps a numbered journal of what it took.
//! When it is back it sends that journal (`SyncOffline`), and each redemption is
//! booked exactly once, keyed by its device-chosen `RedemptionId`:
//!
//! 1. the card pays what it has, down to zero (one card → payable transfer, booked to
//!    the card's journal as `OfflineRedemption`);
//! 2. what the card could not cover (an overspend: the card was also spent online or
//!    on another device meanwhile, or it was blocked) is paid from the allowance, at
//!    most what is left of it, and recorded as a risk entry (card, device, amount);
//! 3. anything beyond the allowance is **unpaid**: recorded on the redemption, never
//!    booked. A device that lies about what it took therefore costs the programme at
//!    most its allowance.
//!
//! A sync closes the device's open allowance: the sum of its risk parts is posted
//! (one `Post` of the reservation; the ledger releases the rest), or the whole
//! reservation is voided when nothing was overspent. A sync whose every redemption
//! is already known changes nothing at all, so a retried sync is harmless even after
//! the device got its next allowance. An empty sync is how a device that redeemed
//! nothing offline gives its allowance back.
//!
//! # The bound
//!
//! `ConfigureOffline` sets, per programme, the most one allowance may be and the most
//! all open allowances of the programme may add up to. Every cent the programme can
//! lose to offline redemptions that are not yet synced is inside an open allowance,
//! so the second figure is the programme's **worst-case loss** at any moment;
//! `offline_exposure` reports it with what is open now and what was lost so far.
//! Risk entries add up to the risk account's posted debits, per programme.
//!
//! # What is honoured
//!
//! A redemption from a revoked device is honoured when it was made before the
//! revocation (the device could not know); one made after is refused. A blocked,
//! expired or inactive card pays nothing (its value belongs to the rightful holder or
//! is already booked as expired), so such a redemption is paid from the allowance
//! alone: the device could not have seen the block if its revocation list was older.
//! Only redemptions made while the allowance was valid (`granted_at..=expires_at`)
//! draw on it. Offline redemptions take no PIN: the device cannot check one.
//!
//! Rejections of the whole command are checked in the order written above each
//! handler; a refusal of one redemption inside an accepted sync is recorded with it
//! (`OfflineOutcome::Refused`), so it too is answered the same on every retry.

use std::collections::{BTreeMap, BTreeSet};

use super::limits::*;
use super::state::programme_account;
use super::*;
use crate::ledger::{AccountKind, Ledger, LedgerCommand, LedgerEnvelope, PendingState};
use VoucherRejection as R;

/// How a programme lets its devices redeem offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflinePolicy {
    /// The most one allowance may reserve.
    pub device_allowance_cents_max: Cents,
    /// The most all open allowances of the programme may reserve together: the
    /// worst-case loss.
    pub open_allowances_cents_max: Cents,
}

/// One redemption a device made offline, as it reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineRedemption {
    /// Chosen by the device; the idempotency key, shared with online redemptions.
    pub id: RedemptionId,
    /// The device's journal number: each is used once per device.
    pub sequence: u64,
    pub card: CardId,
    pub amount: Cents,
    /// When the device says it redeemed (its own clock).
    pub at: TimeMs,
    /// The serial of the balance certificate the device relied on.
    pub certificate_serial: u64,
    /// The balance that certificate stated.
    pub certificate_balance: Cents,
}

/// Why one redemption of a sync was not booked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfflineRefusal {
    /// The id is an online redemption's.
    IdTaken,
    /// The device used this sequence number before.
    SequenceReused,
    UnknownCard,
    /// The merchant is not accepted in the card's programme.
    MerchantNotAccepted,
    /// Dated after the sync arrived.
    InTheFuture,
    /// Made after the device was revoked.
    AfterRevocation,
}

impl OfflineRefusal {
    pub fn code(self) -> &'static str {
        match self {
            OfflineRefusal::IdTaken => "redemption_id_reused",
            OfflineRefusal::SequenceReused => "sequence_reused",
            OfflineRefusal::UnknownCard => "unknown_card",
            OfflineRefusal::MerchantNotAccepted => "merchant_not_accepted",
            OfflineRefusal::InTheFuture => "time_in_the_future",
            OfflineRefusal::AfterRevocation => "device_revoked",
        }
    }
}

/// What became of one synced redemption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfflineOutcome {
    /// `card_part + risk_part + unpaid == amount`.
    Booked {
        card_part: Cents,
        /// The card → payable transfer, if the card paid anything.
        card_transfer: Option<TransferId>,
        risk_part: Cents,
        unpaid: Cents,
    },
    Refused(OfflineRefusal),
}

/// A synced offline redemption and what became of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineRecord {
    pub redemption: OfflineRedemption,
    pub device: DeviceId,
    pub merchant: MerchantId,
    pub synced_at: TimeMs,
    pub outcome: OfflineOutcome,
}

/// How a sync ended an allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowanceClose {
    /// The ledger `Post` or `Void` that ended the reservation.
    pub transfer: TransferId,
    /// Paid to the merchant for overspends.
    pub used: Cents,
    pub released: Cents,
    pub at: TimeMs,
}

/// A reservation held for one device's offline redemptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// The ledger reservation (risk account → the merchant's payable).
    pub reservation: TransferId,
    pub device: DeviceId,
    pub merchant: MerchantId,
    pub programme: ProgrammeId,
    pub amount: Cents,
    pub granted_at: TimeMs,
    /// The device stops redeeming offline at this instant; the reservation lives
    /// `allowance_sync_grace_ms` longer so the sync can still draw on it.
    pub expires_at: TimeMs,
    pub closed: Option<AllowanceClose>,
}

/// An overspend paid from an allowance: what the programme lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineRiskEntry {
    pub redemption: RedemptionId,
    pub card: CardId,
    pub device: DeviceId,
    pub programme: ProgrammeId,
    pub allowance: TransferId,
    pub amount: Cents,
    pub at: TimeMs,
}

/// What a programme stands to lose offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineExposure {
    /// The configured bound on open allowances: the worst case at any moment.
    pub bound: Cents,
    /// What the open allowances reserve now.
    pub open: Cents,
    /// What risk entries booked so far.
    pub lost: Cents,
}

/// The offline slice of the voucher state.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Offline {
    pub(super) policies: BTreeMap<ProgrammeId, OfflinePolicy>,
    pub(super) allowances: BTreeMap<TransferId, Allowance>,
    /// A device's latest allowance not closed by a sync (it may have lapsed).
    pub(super) by_device: BTreeMap<DeviceId, TransferId>,
    pub(super) records: BTreeMap<RedemptionId, OfflineRecord>,
    pub(super) sequences: BTreeSet<(DeviceId, u64)>,
    pub(super) risk: Vec<OfflineRiskEntry>,
}

/// What a snapshot stores of the offline slice; the sequence and device indexes are
/// rebuilt.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OfflineParts {
    pub policies: Vec<(ProgrammeId, OfflinePolicy)>,
    pub allowances: Vec<Allowance>,
    pub records: Vec<OfflineRecord>,
    pub risk: Vec<OfflineRiskEntry>,
}

impl Offline {
    pub(super) fn parts(&self) -> OfflineParts {
        OfflineParts {
            policies: self.policies.iter().map(|(k, v)| (*k, *v)).collect(),
            allowances: self.allowances.values().copied().collect(),
            records: self.records.values().copied().collect(),
            risk: self.risk.clone(),
        }
    }

    pub(super) fn restore(parts: OfflineParts) -> Result<Offline, String> {
        let mut o = Offline::default();
        for (programme, policy) in parts.policies {
            if o.policies.insert(programme, policy).is_some() {
                return Err("an offline policy appears twice".into());
            }
        }
        let mut newest: BTreeMap<DeviceId, Allowance> = BTreeMap::new();
        for a in parts.allowances {
            if newest.get(&a.device).is_none_or(|n| n.reservation < a.reservation) {
                newest.insert(a.device, a);
            }
            if o.allowances.insert(a.reservation, a).is_some() {
                return Err("an allowance appears twice".into());
            }
        }
        // A device's newest allowance is indexed until a sync closes it; older ones
        // lapsed and were replaced by a grant (reservation ids only grow).
        for (device, a) in newest {
            if a.closed.is_none() {
                o.by_device.insert(device, a.reservation);
            }
        }
        for r in parts.records {
            let counted = r.outcome != OfflineOutcome::Refused(OfflineRefusal::SequenceReused);
            if counted && !o.sequences.insert((r.device, r.redemption.sequence)) {
                return Err("an offline sequence number is booked twice".into());
            }
            if o.records.insert(r.redemption.id, r).is_some() {
                return Err("an offline redemption appears twice".into());
            }
        }
        o.risk = parts.risk;
        Ok(o)
    }
}

impl Vouchers {
    // ----- queries -----

    pub fn offline_policy(&self, programme: ProgrammeId) -> Option<OfflinePolicy> {
        self.offline.policies.get(&programme).copied()
    }

    pub fn allowance(&self, reservation: TransferId) -> Option<&Allowance> {
        self.offline.allowances.get(&reservation)
    }

    /// The device's allowance that may still be drawn on: not closed by a sync and
    /// its reservation pending and not yet due.
    pub fn open_allowance(&self, ledger: &Ledger, device: DeviceId) -> Option<&Allowance> {
        let reservation = self.offline.by_device.get(&device)?;
        let allowance = &self.offline.allowances[reservation];
        self.is_open(ledger, allowance).then_some(allowance)
    }

    /// Every open allowance, by reservation id.
    pub fn open_allowances<'a>(&'a self, ledger: &'a Ledger) -> impl Iterator<Item = &'a Allowance> + 'a {
        self.offline.by_device.values().map(|r| &self.offline.allowances[r]).filter(|a| self.is_open(ledger, a))
    }

    /// Every allowance ever granted, by reservation id.
    pub fn allowances(&self) -> impl Iterator<Item = &Allowance> {
        self.offline.allowances.values()
    }

    pub fn offline_redemption(&self, id: RedemptionId) -> Option<&OfflineRecord> {
        self.offline.records.get(&id)
    }

    pub fn offline_redemptions(&self) -> impl Iterator<Item = &OfflineRecord> {
        self.offline.records.values()
    }

    /// Every overspend paid from an allowance, in the order booked.
    pub fn risk_entries(&self) -> &[OfflineRiskEntry] {
        &self.offline.risk
    }

    /// The bound, what is open and what was lost, for a programme with a policy.
    pub fn offline_exposure(&self, ledger: &Ledger, programme: ProgrammeId) -> Option<OfflineExposure> {
        let policy = self.offline.policies.get(&programme)?;
        let open = self.open_allowances(ledger).filter(|a| a.programme == programme).fold(Cents::ZERO, |s, a| s.plus(a.amount));
        let lost = self.offline.risk.iter().filter(|r| r.programme == programme).fold(Cents::ZERO, |s, r| s.plus(r.amount));
        Some(OfflineExposure { bound: policy.open_allowances_cents_max, open, lost })
    }

    fn is_open(&self, ledger: &Ledger, allowance: &Allowance) -> bool {
        allowance.closed.is_none()
            && matches!(ledger.pending_state(allowance.reservation), Some(PendingState::Pending { expires_at }) if expires_at > self.now)
    }

    // ----- handlers -----

    /// Order: unknown programme; each figure within `1..=offline_allowance_cents_limit`
    /// and the device maximum within the open maximum. Setting it again replaces it;
    /// open allowances keep what they reserved.
    pub(super) fn configure_offline(&mut self, programme: ProgrammeId, policy: OfflinePolicy) -> VoucherOutcome {
        if !self.programmes.contains_key(&programme) {
            return Err(R::UnknownProgramme);
        }
        let within = |c: Cents| (1..=offline_allowance_cents_limit).contains(&c.0);
        if !within(policy.device_allowance_cents_max)
            || !within(policy.open_allowances_cents_max)
            || policy.device_allowance_cents_max > policy.open_allowances_cents_max
        {
            return Err(R::LimitsInvalid);
        }
        self.offline.policies.insert(programme, policy);
        Ok(VoucherReply::OfflineConfigured { programme })
    }

    /// Order: unknown device; device revoked; unknown programme; merchant accepted in
    /// the programme; no offline policy; amount within `1..=` the device maximum;
    /// `expires_at - now` within `allowance_window_ms_min..=allowance_window_ms_max`;
    /// the device has an open allowance; the open allowances of the programme would
    /// exceed the bound; the ledger (reservation capacity).
    pub(super) fn grant_allowance(
        &mut self,
        ledger: &mut Ledger,
        device: DeviceId,
        programme: ProgrammeId,
        amount: Cents,
        expires_at: TimeMs,
    ) -> VoucherOutcome {
        let till = *self.devices.get(&device).ok_or(R::UnknownDevice)?;
        if till.revoked_at.is_some() {
            return Err(R::DeviceRevoked);
        }
        if !self.programmes.contains_key(&programme) {
            return Err(R::UnknownProgramme);
        }
        if self.merchants[&till.merchant].programmes.binary_search(&programme).is_err() {
            return Err(R::MerchantNotAccepted);
        }
        let policy = *self.offline.policies.get(&programme).ok_or(R::OfflineNotConfigured)?;
        if amount.0 <= 0 || amount > policy.device_allowance_cents_max {
            return Err(R::AmountInvalid);
        }
        let window = expires_at.0.saturating_sub(self.now.0);
        if !(allowance_window_ms_min..=allowance_window_ms_max).contains(&window) {
            return Err(R::ExpiryInvalid);
        }
        if self.open_allowance(ledger, device).is_some() {
            return Err(R::AllowanceOpen);
        }
        let open = self.offline_exposure(ledger, programme).expect("policy checked").open;
        if open.plus(amount) > policy.open_allowances_cents_max {
            return Err(R::RiskBoundReached);
        }
        let reservation = self.next_transfer_id();
        let command = LedgerCommand::Reserve {
            id: reservation,
            debit: programme_account(programme, AccountKind::OfflineRisk),
            credit: payable_account(programme, till.merchant),
            amount,
            timeout_ms: window + allowance_sync_grace_ms,
        };
        ledger.apply(&LedgerEnvelope { time: self.now, command }).map_err(R::Ledger)?;
        self.next_transfer += 1;
        let allowance = Allowance {
            reservation,
            device,
            merchant: till.merchant,
            programme,
            amount,
            granted_at: self.now,
            expires_at,
            closed: None,
        };
        self.offline.allowances.insert(reservation, allowance);
        self.offline.by_device.insert(device, reservation);
        Ok(VoucherReply::AllowanceGranted { device, reservation, amount, expires_at })
    }

    /// Order: unknown device; batch size within `0..=sync_redemptions_max`; each
    /// redemption: id 0, amount, id or sequence twice in the batch; capacity
    /// (redemptions, ledger transfers). Then each new redemption, by sequence number,
    /// is refused (see `OfflineRefusal`, checked in its order) or booked, and the open
    /// allowance is closed — unless every redemption was already known.
    pub(super) fn sync_offline(&mut self, ledger: &mut Ledger, device: DeviceId, batch: &[OfflineRedemption]) -> VoucherOutcome {
        let till = *self.devices.get(&device).ok_or(R::UnknownDevice)?;
        if batch.len() > sync_redemptions_max {
            return Err(R::BatchSizeInvalid);
        }
        let mut ids = BTreeSet::new();
        let mut sequences = BTreeSet::new();
        for r in batch {
            if r.id.0 == 0 {
                return Err(R::RedemptionIdInvalid);
            }
            if r.amount.0 <= 0 || r.amount.0 > card_balance_cents_limit {
                return Err(R::AmountInvalid);
            }
            if !ids.insert(r.id) {
                return Err(R::RedemptionIdReused);
            }
            if !sequences.insert(r.sequence) {
                return Err(R::SequenceReused);
            }
        }
        let redemptions = self.redemptions.len() + self.offline.records.len();
        if redemptions + batch.len() > tenant_redemptions_max
            || ledger.transfers().len() + batch.len() + 1 > crate::ledger::limits::ledger_transfers_max
        {
            return Err(R::TooManyRedemptions);
        }
        let mut fresh: Vec<OfflineRedemption> = batch.iter().filter(|r| !self.offline.records.contains_key(&r.id)).copied().collect();
        let mut reply = SyncSummary { duplicates: (batch.len() - fresh.len()) as u32, ..SyncSummary::default() };
        if fresh.is_empty() && !batch.is_empty() {
            return Ok(VoucherReply::Synced { device, summary: reply });
        }
        fresh.sort_by_key(|r| r.sequence);
        let allowance = self.open_allowance(ledger, device).copied();
        let mut used = Cents::ZERO;
        for r in fresh {
            let outcome = match self.offline_refusal(&till, &r) {
                Some(why) => {
                    reply.refused += 1;
                    OfflineOutcome::Refused(why)
                }
                None => {
                    let card = self.cards[&r.card];
                    let card_part = match self.state_at(card.id, self.now) {
                        Some(CardState::Active) => r.amount.min(Vouchers::card_balance(ledger, card.id)),
                        _ => Cents::ZERO,
                    };
                    let overspend = Cents(r.amount.0 - card_part.0);
                    let risk_part = match allowance {
                        Some(a) if a.programme == card.programme && (a.granted_at..=a.expires_at).contains(&r.at) => {
                            overspend.min(Cents(a.amount.0 - used.0))
                        }
                        _ => Cents::ZERO,
                    };
                    let unpaid = Cents(overspend.0 - risk_part.0);
                    let card_transfer = if card_part.0 > 0 {
                        let payable = payable_account(card.programme, till.merchant);
                        let transfer = self.transfer(ledger, card_account(card.id), payable, card_part);
                        let transfer = transfer.expect("the card covers its part and capacity was checked");
                        self.book(transfer, card.id, BookingKind::OfflineRedemption, card_part, None);
                        Some(transfer)
                    } else {
                        None
                    };
                    if risk_part.0 > 0 {
                        let a = allowance.expect("a risk part needs an allowance");
                        used = used.plus(risk_part);
                        self.offline.risk.push(OfflineRiskEntry {
                            redemption: r.id,
                            card: card.id,
                            device,
                            programme: card.programme,
                            allowance: a.reservation,
                            amount: risk_part,
                            at: self.now,
                        });
                    }
                    reply.booked += 1;
                    reply.card_paid = reply.card_paid.plus(card_part);
                    reply.risk_paid = reply.risk_paid.plus(risk_part);
                    reply.unpaid = reply.unpaid.plus(unpaid);
                    OfflineOutcome::Booked { card_part, card_transfer, risk_part, unpaid }
                }
            };
            if outcome != OfflineOutcome::Refused(OfflineRefusal::SequenceReused) {
                self.offline.sequences.insert((device, r.sequence));
            }
            let record = OfflineRecord { redemption: r, device, merchant: till.merchant, synced_at: self.now, outcome };
            self.offline.records.insert(r.id, record);
        }
        if let Some(a) = allowance {
            reply.released = Cents(a.amount.0 - used.0);
            self.close_allowance(ledger, a, used);
        }
        Ok(VoucherReply::Synced { device, summary: reply })
    }

    /// Order: id taken online; sequence reused; unknown card; merchant not accepted
    /// in the card's programme; dated after now; made after the device's revocation.
    fn offline_refusal(&self, till: &Device, r: &OfflineRedemption) -> Option<OfflineRefusal> {
        use OfflineRefusal as F;
        if self.redemptions.contains_key(&r.id) {
            return Some(F::IdTaken);
        }
        if self.offline.sequences.contains(&(till.id, r.sequence)) {
            return Some(F::SequenceReused);
        }
        let Some(card) = self.cards.get(&r.card) else { return Some(F::UnknownCard) };
        if self.merchants[&till.merchant].programmes.binary_search(&card.programme).is_err() {
            return Some(F::MerchantNotAccepted);
        }
        if r.at > self.now {
            return Some(F::InTheFuture);
        }
        if till.revoked_at.is_some_and(|revoked| r.at > revoked) {
            return Some(F::AfterRevocation);
        }
        None
    }

    /// Posts what the sync's overspends used (the ledger releases the rest) or voids
    /// the reservation when nothing was used.
    fn close_allowance(&mut self, ledger: &mut Ledger, allowance: Allowance, used: Cents) {
        let id = self.next_transfer_id();
        let command = if used.0 > 0 {
            LedgerCommand::Post { id, pending: allowance.reservation, amount: used }
        } else {
            LedgerCommand::Void { id, pending: allowance.reservation }
        };
        let reply = ledger.apply(&LedgerEnvelope { time: self.now, command });
        assert!(reply.is_ok(), "an open allowance can be posted up to its amount or voided: {reply:?}");
        self.next_transfer += 1;
        let close = AllowanceClose { transfer: id, used, released: Cents(allowance.amount.0 - used.0), at: self.now };
        self.offline.allowances.get_mut(&allowance.reservation).expect("open").closed = Some(close);
        self.offline.by_device.remove(&allowance.device);
    }

    // ----- invariants -----

    /// Allowances against their reservations, risk entries against the risk
    /// accounts, records against the card journal.
    pub(super) fn check_offline(&self, ledger: &Ledger) -> Result<(), String> {
        let o = &self.offline;
        for (programme, policy) in &o.policies {
            if !self.programmes.contains_key(programme) || policy.device_allowance_cents_max > policy.open_allowances_cents_max {
                return Err(format!("offline policy of {programme:?} invalid"));
            }
        }
        let mut used_by: BTreeMap<TransferId, i64> = BTreeMap::new();
        let mut lost: BTreeMap<ProgrammeId, i64> = BTreeMap::new();
        for entry in &o.risk {
            if entry.amount.0 <= 0 {
                return Err("a risk entry without amount".into());
            }
            *used_by.entry(entry.allowance).or_default() += entry.amount.0;
            *lost.entry(entry.programme).or_default() += entry.amount.0;
            let record = o.records.get(&entry.redemption).ok_or("a risk entry without its redemption")?;
            if !matches!(record.outcome, OfflineOutcome::Booked { risk_part, .. } if risk_part == entry.amount) {
                return Err(format!("risk entry of {:?} differs from its redemption", entry.redemption));
            }
        }
        let mut pending: BTreeMap<ProgrammeId, i64> = BTreeMap::new();
        for (id, a) in &o.allowances {
            let transfer = ledger.transfer(*id).ok_or(format!("allowance {id:?} not in the ledger"))?;
            if transfer.amount != a.amount
                || transfer.debit != programme_account(a.programme, AccountKind::OfflineRisk)
                || transfer.credit != payable_account(a.programme, a.merchant)
            {
                return Err(format!("allowance {id:?} differs from its reservation"));
            }
            let used = used_by.get(id).copied().unwrap_or(0);
            let state = ledger.pending_state(*id).ok_or("allowance without reservation state")?;
            match (a.closed, state) {
                (Some(close), PendingState::Posted { by } | PendingState::Voided { by }) => {
                    if by != close.transfer || close.used.0 != used || close.used.0 + close.released.0 != a.amount.0 {
                        return Err(format!("allowance {id:?} closed with other figures than its risk entries"));
                    }
                }
                (None, PendingState::Pending { .. }) => {
                    *pending.entry(a.programme).or_default() += a.amount.0;
                    if used != 0 {
                        return Err(format!("open allowance {id:?} has risk entries"));
                    }
                }
                (None, PendingState::Expired { .. }) if used == 0 => {}
                (closed, state) => return Err(format!("allowance {id:?} is {closed:?} but its reservation {state:?}")),
            }
        }
        for programme in self.programmes.keys() {
            let risk = ledger.account(programme_account(*programme, AccountKind::OfflineRisk)).ok_or("no risk account")?;
            let lost = lost.get(programme).copied().unwrap_or(0);
            if risk.debits_posted.0 != lost || risk.credits_posted.0 != 0 {
                return Err(format!("risk account of {programme:?} moved {} but risk entries say {lost}", risk.debits_posted.0));
            }
            if risk.debits_pending.0 != pending.get(programme).copied().unwrap_or(0) {
                return Err(format!("risk account of {programme:?} reserves other than its open allowances"));
            }
        }
        for (device, reservation) in &o.by_device {
            if o.allowances.get(reservation).is_none_or(|a| a.device != *device || a.closed.is_some()) {
                return Err(format!("device {device:?} indexed to a closed or foreign allowance"));
            }
        }
        let offline_bookings = self.bookings.iter().filter(|b| b.kind == BookingKind::OfflineRedemption).count();
        let mut card_transfers = 0;
        for (id, r) in &o.records {
            if r.redemption.id != *id || !self.devices.contains_key(&r.device) {
                return Err(format!("offline redemption {id:?} filed wrongly"));
            }
            if let OfflineOutcome::Booked { card_part, card_transfer, risk_part, unpaid } = r.outcome {
                if card_part.0 + risk_part.0 + unpaid.0 != r.redemption.amount.0 || card_part.0 < 0 || risk_part.0 < 0 || unpaid.0 < 0 {
                    return Err(format!("offline redemption {id:?} parts do not add up"));
                }
                if card_transfer.is_some() != (card_part.0 > 0) {
                    return Err(format!("offline redemption {id:?} card transfer"));
                }
                if let Some(t) = card_transfer {
                    card_transfers += 1;
                    let transfer = ledger.transfer(t).ok_or("offline card transfer not in the ledger")?;
                    let card = self.cards.get(&r.redemption.card).ok_or("offline redemption of a missing card")?;
                    if transfer.amount != card_part
                        || transfer.debit != card_account(card.id)
                        || transfer.credit != payable_account(card.programme, r.merchant)
                    {
                        return Err(format!("offline redemption {id:?} differs from its transfer"));
                    }
                }
            }
        }
        if card_transfers != offline_bookings {
            return Err("offline card transfers and their bookings differ in number".into());
        }
        Ok(())
    }
}

/// What one sync did, in the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SyncSummary {
    pub booked: u32,
    pub refused: u32,
    /// Already known: nothing done for them.
    pub duplicates: u32,
    pub card_paid: Cents,
    pub risk_paid: Cents,
    pub unpaid: Cents,
    /// Given back from the closed allowance (zero when none was open).
    pub released: Cents,
}
