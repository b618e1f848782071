//! The invariant checker: recounts everything from first principles and compares it
//! with the incrementally maintained state. Debug builds run it for the touched event
//! after every command; tests, the simulator and `sturmfest verify` run it in full.

use std::collections::{BTreeMap, BTreeSet};

use crate::event::{Counts, SaleStatus, SeatState};
use crate::ids::*;
use crate::state::{Place, Places, Tenant};

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

impl Tenant {
    /// Panics with the broken invariant; a broken invariant is a bug, never input.
    pub fn check_invariants(&self) {
        if let Err(why) = self.check_invariants_result() {
            panic!("invariant broken: {why}");
        }
    }

    pub fn check_event(&self, event: EventId) {
        if let Err(why) = self.check_event_result(event) {
            panic!("invariant broken in event {event}: {why}");
        }
    }

    /// The full check: the voucher ledger's, the voucher state against it, the
    /// staff's, then the ticketing state's.
    pub fn check_invariants_result(&self) -> Result<(), String> {
        self.ledger().check_invariants_result().map_err(|why| format!("ledger: {why}"))?;
        self.vouchers().check_invariants_result(self.ledger()).map_err(|why| format!("vouchers: {why}"))?;
        self.staff().check_invariants_result().map_err(|why| format!("staff: {why}"))?;
        self.check_ticketing_result()
    }

    /// Everything but the ledger: rooms, events, holds and orders. `restore` uses it
    /// alone because `Ledger::restore` already ran the ledger's full recount.
    pub(crate) fn check_ticketing_result(&self) -> Result<(), String> {
        for (_, sale_room) in self.rooms() {
            sale_room.room.check_invariants();
        }
        for event in self.events() {
            self.check_event_result(event.id)?;
        }
        for hold in self.holds() {
            ensure!(self.event(hold.event).is_some(), "hold {} names a missing event", hold.id);
            ensure!(self.order_of_hold(hold.id).is_none(), "hold {} is live and confirmed", hold.id);
        }
        for (i, order) in self.orders().iter().enumerate() {
            ensure!(order.id == OrderId(i as u64 + 1), "order ids are dense");
            ensure!(self.order_of_hold(order.hold) == Some(order.id), "order {} not indexed", order.id);
            ensure!(order.refunded() <= order.paid(), "order {} refunded more than paid", order.id);
            ensure!(order.refunds.iter().all(|r| r.amount.0 > 0), "refunds are positive");
        }
        self.check_payments_result()
    }

    /// Every paid payment is in exactly one of: attached to one order of its own
    /// (that order names it and cost what was paid), owed back, or given back; no
    /// order carries two payments; unpaid payments have no order.
    fn check_payments_result(&self) -> Result<(), String> {
        use crate::payments::PaymentState;
        let mut orders_paid: BTreeSet<OrderId> = BTreeSet::new();
        for (i, payment) in self.payments().iter().enumerate() {
            ensure!(payment.id.0 == i as u64 + 1, "payment ids are dense");
            ensure!(
                self.payment_by_session(payment.provider, &payment.session).map(|p| p.id) == Some(payment.id),
                "payment {} not indexed by its session",
                payment.id
            );
            ensure!(payment.amount.0 > 0 || payment.hold.price_each.0 == 0, "payment {} amount", payment.id);
            if let PaymentState::Succeeded { order } = payment.state {
                let o = self.order(order).ok_or(format!("payment {} names missing order {order}", payment.id))?;
                ensure!(o.payment == payment.reference(), "order {order} does not name payment {}", payment.id);
                ensure!(o.paid() == payment.amount, "order {order} cost other than payment {} took", payment.id);
                ensure!(o.event == payment.hold.event, "order {order} is of another event");
                ensure!(orders_paid.insert(order), "order {order} paid by two payments");
            }
        }
        Ok(())
    }

    pub fn check_event_result(&self, id: EventId) -> Result<(), String> {
        let event = self.event(id).ok_or("missing event")?;
        let venue = self.venue(event.spec.venue).ok_or("event without venue")?;
        let paused = matches!(event.sale, SaleStatus::Paused { .. });
        let mut categories = vec![Counts::default(); event.categories.len()];
        for (c, counts) in event.categories.iter().enumerate() {
            categories[c].capacity = counts.capacity;
        }
        let mut areas = vec![(0u32, 0u32); event.areas.len()];
        let mut channels = [(0u32, 0u32); 3];
        let mut customers: BTreeMap<CustomerId, u32> = BTreeMap::new();
        let mut seat_owner: Vec<SeatState> =
            event.seats.iter().map(|s| if *s == SeatState::NotForSale { *s } else { SeatState::Free }).collect();
        let mut claim = |seat: SeatId, owner: SeatState| -> Result<(), String> {
            let slot = seat_owner.get_mut(seat.0 as usize).ok_or(format!("seat {seat} out of range"))?;
            ensure!(*slot == SeatState::Free, "seat {seat} claimed twice ({slot:?} and {owner:?})");
            *slot = owner;
            Ok(())
        };
        let expiry: BTreeSet<_> = self.expiry_entries().collect();
        for hold in self.holds().filter(|h| h.event == id) {
            let n = hold.places.count();
            ensure!(n >= 1 && n <= event.spec.order_tickets_max, "hold {} size", hold.id);
            match &hold.places {
                Places::Seats(seats) => {
                    for seat in seats {
                        ensure!(event.seat_category[seat.0 as usize] == Some(hold.category), "hold seat category");
                        claim(*seat, SeatState::Held(hold.id))?;
                    }
                }
                Places::Standing { area, quantity } => {
                    ensure!(event.area_category[usize::from(area.0)] == Some(hold.category), "hold area category");
                    areas[usize::from(area.0)].0 += quantity;
                }
            }
            categories[usize::from(hold.category.0)].held += n;
            channels[hold.channel.index()].0 += n;
            if hold.channel == Channel::Online {
                *customers.entry(hold.customer).or_insert(0) += n;
            }
            ensure!(
                expiry.contains(&(hold.expires_at, hold.id)) != paused,
                "hold {} expiry indexing (paused: {paused})",
                hold.id
            );
            ensure!(hold.expires_at > self.now() || paused, "hold {} should have expired", hold.id);
        }
        for order in self.orders().iter().filter(|o| o.event == id) {
            let mut valid = 0;
            for ticket in order.valid_tickets() {
                valid += 1;
                categories[usize::from(ticket.category.0)].sold += 1;
                match ticket.place {
                    Place::Seat(seat) => {
                        ensure!(event.seat_category[seat.0 as usize] == Some(ticket.category), "ticket category");
                        claim(seat, SeatState::Sold(order.id))?;
                    }
                    Place::Standing(area) => areas[usize::from(area.0)].1 += 1,
                }
            }
            channels[order.channel.index()].1 += valid;
            if order.channel == Channel::Online && valid > 0 {
                *customers.entry(order.customer).or_insert(0) += valid;
            }
        }
        ensure!(seat_owner == event.seats, "seat states differ from holds and orders");
        for (c, counts) in categories.iter().enumerate() {
            ensure!(*counts == event.categories[c], "category {c} counters {:?} vs {counts:?}", event.categories[c]);
            ensure!(counts.held + counts.sold <= counts.capacity, "category {c} over capacity");
        }
        for (a, (held, sold)) in areas.iter().enumerate() {
            let counts = event.areas[a];
            ensure!(counts.held == *held && counts.sold == *sold, "area {a} counters");
            ensure!(held + sold <= counts.capacity, "area {a} over capacity");
        }
        for channel in Channel::ALL {
            let (held, sold) = channels[channel.index()];
            let counts = event.channels[channel.index()];
            ensure!(counts.held == held && counts.sold == sold, "channel {} counters", channel.code());
            if let Some(quota) = event.spec.quotas[channel.index()] {
                ensure!(held + sold <= quota, "channel {} over quota", channel.code());
            }
        }
        ensure!(customers == event.customers, "customer counters");
        for (c, count) in &customers {
            ensure!(*count <= event.spec.customer_tickets_max, "customer {c} over limit");
        }
        for (r, row) in venue.rows.iter().enumerate() {
            let free = row.seats.clone().filter(|s| event.seats[*s as usize] == SeatState::Free).count() as u32;
            ensure!(free == event.rows_free[r], "row {r} free counter");
        }
        for (b, block) in venue.blocks.iter().enumerate() {
            let free = block.seats.clone().filter(|s| event.seats[*s as usize] == SeatState::Free).count() as u32;
            ensure!(free == event.blocks_free[b], "block {b} free counter");
        }
        Ok(())
    }
}
