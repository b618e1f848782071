//! Operator reports of one city (tenant): what each programme owes, what came in and
//! went out per Berlin day, and the rolling twelve-month payment volume that decides
//! whether the city's voucher still fits the limited-network exemption.
//!
//! Everything is computed from tenant state: balances from the ledger, daily sums
//! from the voucher booking journal (which the invariant check ties to the ledger),
//! so a report can always be recomputed and compared (the tests do).
//!
//! # The limited-network threshold
//!
//! A payment instrument usable only in a limited network (a city's shops) is exempt
//! from the German Payment Services Supervision Act (§ 2 (1) no. 10 ZAG), but once
//! the payment transactions of the preceding twelve months exceed EUR 1 million the
//! issuer must notify BaFin (§ 2 (2) ZAG). We count as payment transactions the
//! redemptions at merchants, net of their reversals, made in the twelve months
//! before now (from the same Berlin day a year ago); loads are not payments to a
//! third party. The report warns at 80 % and 90 % of the threshold and says when it
//! is exceeded, so the city can notify in time.

use std::collections::BTreeMap;

use jiff::civil::Date;
use sturmfest_core::ledger::{AccountKind, ProgrammeId};
use sturmfest_core::vouchers::{BookingKind, programme_account};
use sturmfest_core::{Cents, Tenant, TimeMs};

use crate::vouchers::programme_time_zone;

/// § 2 (2) ZAG: EUR 1 million in the preceding twelve months.
pub const exemption_threshold_cents: i64 = 100_000_000;
/// Warn at these fractions of the threshold, in per cent.
pub const warning_percents: [i64; 2] = [80, 90];
/// Days one report lists at most.
pub const report_days_max: i32 = 366;

/// Where the twelve-month volume stands against the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeLevel {
    Below,
    /// At least 80 % (`warning_percents[0]`).
    Warning80,
    /// At least 90 %.
    Warning90,
    /// Above the threshold: the issuer must notify.
    Exceeded,
}

impl VolumeLevel {
    pub fn of(volume: Cents) -> VolumeLevel {
        let v = i128::from(volume.0) * 100;
        let t = i128::from(exemption_threshold_cents);
        if volume.0 > exemption_threshold_cents {
            VolumeLevel::Exceeded
        } else if v >= t * i128::from(warning_percents[1]) {
            VolumeLevel::Warning90
        } else if v >= t * i128::from(warning_percents[0]) {
            VolumeLevel::Warning80
        } else {
            VolumeLevel::Below
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            VolumeLevel::Below => "below",
            VolumeLevel::Warning80 => "warning_80",
            VolumeLevel::Warning90 => "warning_90",
            VolumeLevel::Exceeded => "exceeded",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgrammeReport {
    pub id: ProgrammeId,
    pub name: String,
    /// What holders' cards hold.
    pub liability: Cents,
    /// Owed to merchants, not yet settled.
    pub payable: Cents,
    /// Settled, on its way to merchants' banks.
    pub payout_clearing: Cents,
    /// Forfeited by expired cards.
    pub expired_value: Cents,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayReport {
    pub loaded: Cents,
    pub loads: u32,
    pub redeemed: Cents,
    pub redemptions: u32,
    pub reversed: Cents,
    pub reversals: u32,
    pub expired: Cents,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub programmes: Vec<ProgrammeReport>,
    pub days: BTreeMap<Date, DayReport>,
    /// Redemptions net of reversals since `volume_since`.
    pub volume_12_months: Cents,
    pub volume_since: TimeMs,
    pub level: VolumeLevel,
}

fn zone() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(programme_time_zone).expect("the bundled tz database knows Europe/Berlin")
}

fn berlin_date(at: TimeMs) -> Option<Date> {
    Some(jiff::Timestamp::from_millisecond(at.0).ok()?.to_zoned(zone()).date())
}

/// Berlin midnight a year before the Berlin day of `now`.
pub fn twelve_months_before(now: TimeMs) -> TimeMs {
    let day = berlin_date(now).and_then(|d| d.checked_sub(jiff::Span::new().years(1)).ok());
    day.and_then(|d| d.to_zoned(zone()).ok()).map_or(TimeMs(0), |z| TimeMs(z.timestamp().as_millisecond()))
}

/// The report of `tenant` at `now`, with days `first..=last` (Berlin).
pub fn report(tenant: &Tenant, now: TimeMs, first: Date, last: Date) -> Report {
    let v = tenant.vouchers();
    let ledger = tenant.ledger();
    let balance = |p: ProgrammeId, kind: AccountKind| ledger.account(programme_account(p, kind)).map_or(Cents::ZERO, |a| a.balance());
    let mut payables: BTreeMap<ProgrammeId, Cents> = BTreeMap::new();
    for account in ledger.accounts().filter(|a| a.kind == AccountKind::MerchantPayable) {
        let sum = payables.entry(account.programme).or_insert(Cents::ZERO);
        *sum = sum.plus(account.balance());
    }
    let programmes = v
        .programmes()
        .map(|p| ProgrammeReport {
            id: p.id,
            name: p.name.clone(),
            liability: v.liability(ledger, p.id),
            payable: payables.get(&p.id).copied().unwrap_or(Cents::ZERO),
            payout_clearing: balance(p.id, AccountKind::PayoutClearing),
            expired_value: balance(p.id, AccountKind::ExpiredValue),
        })
        .collect();
    let mut days: BTreeMap<Date, DayReport> = BTreeMap::new();
    let mut day = first;
    while day <= last {
        days.insert(day, DayReport::default());
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    let since = twelve_months_before(now);
    let mut volume = 0i64;
    for b in v.bookings() {
        let signed = match b.kind {
            BookingKind::Redemption | BookingKind::OfflineRedemption => b.amount.0,
            BookingKind::Reversal => -b.amount.0,
            _ => 0,
        };
        if b.at >= since && b.at <= now {
            volume += signed;
        }
        let Some(entry) = berlin_date(b.at).and_then(|d| days.get_mut(&d)) else { continue };
        entry.count(b.kind, b.amount);
    }
    let volume = Cents(volume);
    Report { programmes, days, volume_12_months: volume, volume_since: since, level: VolumeLevel::of(volume) }
}

impl DayReport {
    /// Adds one booking of the day. Shared by the city report and the per-programme
    /// days of the operator's report, so both count a day alike.
    fn count(&mut self, kind: BookingKind, amount: Cents) {
        match kind {
            BookingKind::Activation | BookingKind::Load => {
                self.loaded = self.loaded.plus(amount);
                self.loads += 1;
            }
            // A synced offline redemption counts on the day it was booked; what the
            // offline-risk account paid beyond the card is in the risk report, not here.
            BookingKind::Redemption | BookingKind::OfflineRedemption => {
                self.redeemed = self.redeemed.plus(amount);
                self.redemptions += 1;
            }
            BookingKind::Reversal => {
                self.reversed = self.reversed.plus(amount);
                self.reversals += 1;
            }
            BookingKind::Expiry => self.expired = self.expired.plus(amount),
            BookingKind::Refund | BookingKind::MoveOut | BookingKind::MoveIn => {}
        }
    }
}

/// The days `first..=last` (Berlin) of every programme of `tenant`, each day
/// counted as in `report` but only from the programme's own cards. Summed over
/// the programmes, a day equals the city report's day.
pub fn programme_days(tenant: &Tenant, first: Date, last: Date) -> BTreeMap<ProgrammeId, BTreeMap<Date, DayReport>> {
    let v = tenant.vouchers();
    let mut empty: BTreeMap<Date, DayReport> = BTreeMap::new();
    let mut day = first;
    while day <= last {
        empty.insert(day, DayReport::default());
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    let mut out: BTreeMap<ProgrammeId, BTreeMap<Date, DayReport>> = v.programmes().map(|p| (p.id, empty.clone())).collect();
    for b in v.bookings() {
        let Some(programme) = v.card(b.card).map(|c| c.programme) else { continue };
        let Some(entry) = berlin_date(b.at).and_then(|d| out.get_mut(&programme)?.get_mut(&d)) else { continue };
        entry.count(b.kind, b.amount);
    }
    out
}

#[cfg(test)]
mod tests {
    //! The threshold levels sit exactly at 80 %, 90 % and above 100 %.

    use super::*;

    #[test]
    fn the_levels_start_exactly_at_their_percentages() {
        assert_eq!(VolumeLevel::of(Cents(79_999_999)), VolumeLevel::Below);
        assert_eq!(VolumeLevel::of(Cents(80_000_000)), VolumeLevel::Warning80);
        assert_eq!(VolumeLevel::of(Cents(90_000_000)), VolumeLevel::Warning90);
        assert_eq!(VolumeLevel::of(Cents(100_000_000)), VolumeLevel::Warning90);
        assert_eq!(VolumeLevel::of(Cents(100_000_001)), VolumeLevel::Exceeded);
    }
}
