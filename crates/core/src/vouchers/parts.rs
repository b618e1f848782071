//! Voucher state taken apart for a snapshot and put together again. The parts are
//! the facts (programmes, merchants, devices, batches, cards, redemptions, the
//! booking journal, the clock and the transfer counter); the indexes (cards by code,
//! the expiry order, a merchant's redemptions by time) are rebuilt, and the result
//! must pass the full check against the already restored ledger, so a snapshot that
//! decodes but disagrees with the ledger is refused.

use super::*;
use crate::ledger::Ledger;

/// What a snapshot stores of the voucher state; `Vouchers::restore` rebuilds the rest.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VoucherParts {
    pub now: TimeMs,
    pub next_transfer: u64,
    pub programmes: Vec<Programme>,
    pub merchants: Vec<Merchant>,
    pub devices: Vec<Device>,
    pub batches: Vec<Batch>,
    pub cards: Vec<Card>,
    pub redemptions: Vec<Redemption>,
    pub bookings: Vec<Booking>,
    /// Allowances, offline redemptions, risk entries (snapshot format 6 onwards).
    pub offline: OfflineParts,
    pub settlements: Vec<Settlement>,
    /// Purchases paid online, by id (snapshot format 7 onwards).
    pub purchases: Vec<Purchase>,
}

impl Vouchers {
    pub fn parts(&self) -> VoucherParts {
        VoucherParts {
            now: self.now,
            next_transfer: self.next_transfer,
            programmes: self.programmes.values().cloned().collect(),
            merchants: self.merchants.values().cloned().collect(),
            devices: self.devices.values().copied().collect(),
            batches: self.batches.values().copied().collect(),
            cards: self.cards.values().copied().collect(),
            redemptions: self.redemptions.values().copied().collect(),
            bookings: self.bookings.clone(),
            offline: self.offline.parts(),
            settlements: self.settlements.clone(),
            purchases: self.purchases.values().cloned().collect(),
        }
    }

    /// Rebuilds the voucher state and checks it against `ledger`.
    pub fn restore(parts: VoucherParts, ledger: &Ledger) -> Result<Vouchers, String> {
        let mut v = Vouchers { now: parts.now, next_transfer: parts.next_transfer, ..Vouchers::default() };
        let twice = |what: &str| format!("{what} appears twice");
        for p in parts.programmes {
            if v.programmes.insert(p.id, p).is_some() {
                return Err(twice("a programme"));
            }
        }
        for m in parts.merchants {
            if v.merchants.insert(m.id, m).is_some() {
                return Err(twice("a merchant"));
            }
        }
        for d in parts.devices {
            if v.devices.insert(d.id, d).is_some() {
                return Err(twice("a device"));
            }
        }
        for b in parts.batches {
            if v.batches.insert(b.id, b).is_some() {
                return Err(twice("a batch"));
            }
        }
        for c in parts.cards {
            if v.by_code.insert(c.code_digest, c.id).is_some() {
                return Err(twice("a code digest"));
            }
            if let (CardState::Active | CardState::Blocked(_), Some(at)) = (c.state, c.expires_at) {
                v.expiry.insert((at, c.id));
            }
            if v.cards.insert(c.id, c).is_some() {
                return Err(twice("a card"));
            }
        }
        for r in parts.redemptions {
            v.by_merchant.insert((r.merchant, r.at, r.id));
            if v.redemptions.insert(r.id, r).is_some() {
                return Err(twice("a redemption"));
            }
        }
        v.bookings = parts.bookings;
        v.offline = super::offline::Offline::restore(parts.offline)?;
        for (place, s) in parts.settlements.iter().enumerate() {
            if s.id.0 as usize != place + 1 {
                return Err(format!("settlement {:?} out of order", s.id));
            }
            v.last_settlement.insert((s.programme, s.merchant), s.id);
        }
        v.settlements = parts.settlements;
        v.restore_purchases(parts.purchases)?;
        v.check_invariants_result(ledger)?;
        Ok(v)
    }
}
