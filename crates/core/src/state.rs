//! The tenant state machine: `Tenant::apply(envelope) -> Outcome`.
//!
//! Every command first lets time pass (`now` only moves forward, due holds expire),
//! then forgets idempotency entries older than the window, then answers a repeated
//! idempotency key from memory, and only then runs the command's handler. Handlers
//! check rejections in the order written at the top of each, and change nothing
//! before the last check has passed — a rejected command leaves the state exactly as
//! the time step left it. That is why replaying the log (which holds every applied
//! command, accepted or rejected) reproduces the state bit for bit.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::command::*;
use crate::event::*;
use crate::ids::*;
use crate::limits::*;
use crate::outcome::*;
use crate::venue::{Venue, VenueSpec};

mod amend;
mod payments;
mod rooms;
mod staff;
mod vouchers;

pub use rooms::SaleRoom;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Places {
    Seats(Vec<SeatId>),
    Standing { area: AreaId, quantity: u32 },
}

impl Places {
    pub fn count(&self) -> u32 {
        match self {
            Places::Seats(seats) => seats.len() as u32,
            Places::Standing { quantity, .. } => *quantity,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub id: HoldId,
    pub event: EventId,
    pub customer: CustomerId,
    pub channel: Channel,
    pub category: CategoryId,
    pub tariff: TariffId,
    pub places: Places,
    pub created_at: TimeMs,
    /// While the event is paused this is frozen; resuming shifts it by the pause length.
    pub expires_at: TimeMs,
    pub price_each: Cents,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Seat(SeatId),
    Standing(AreaId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub place: Place,
    pub category: CategoryId,
    pub tariff: TariffId,
    pub price: Cents,
    pub cancelled_at: Option<TimeMs>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundEntry {
    pub amount: Cents,
    pub at: TimeMs,
    pub reference: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub event: EventId,
    pub customer: CustomerId,
    pub channel: Channel,
    pub hold: HoldId,
    pub tickets: Vec<Ticket>,
    pub payment: String,
    pub buyer: Buyer,
    pub created_at: TimeMs,
    pub refunds: Vec<RefundEntry>,
}

impl Order {
    pub fn paid(&self) -> Cents {
        self.tickets.iter().fold(Cents::ZERO, |sum, t| sum.plus(t.price))
    }

    pub fn refunded(&self) -> Cents {
        self.refunds.iter().fold(Cents::ZERO, |sum, r| sum.plus(r.amount))
    }

    pub fn valid_tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.iter().filter(|t| t.cancelled_at.is_none())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdemEntry {
    pub fingerprint: u64,
    pub at: TimeMs,
    pub reply: Reply,
}

/// Everything that is not derivable: what a snapshot stores. `Tenant::restore`
/// rebuilds every index from it and checks all invariants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantParts {
    pub now: TimeMs,
    pub venues: Vec<VenueSpec>,
    pub events: Vec<(EventSpec, SaleStatus)>,
    pub holds: Vec<Hold>,
    pub next_hold: u64,
    pub orders: Vec<Order>,
    /// In the order they were remembered (oldest first).
    pub idempotency: Vec<(IdemKey, IdemEntry)>,
    /// Waiting rooms: event, draw seed, the room's parts.
    pub rooms: Vec<(EventId, [u8; 32], crate::queue::RoomParts)>,
    /// The voucher ledger's facts.
    pub ledger: crate::ledger::LedgerParts,
    /// Voucher programmes, merchants, devices and cards (their money is in `ledger`).
    pub vouchers: crate::vouchers::VoucherParts,
    /// Staff accounts and live sessions.
    pub staff: crate::staff::StaffParts,
    /// Online payments in id order.
    pub payments: Vec<crate::payments::Payment>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Tenant {
    now: TimeMs,
    venues: Vec<Venue>,
    events: Vec<Event>,
    holds: BTreeMap<HoldId, Hold>,
    next_hold: u64,
    /// `OrderId(n)` lives at index `n - 1`.
    orders: Vec<Order>,
    confirmed: BTreeMap<HoldId, OrderId>,
    expiry: BTreeSet<(TimeMs, HoldId)>,
    idempotency: BTreeMap<IdemKey, IdemEntry>,
    idempotency_order: VecDeque<(TimeMs, IdemKey)>,
    /// Waiting rooms by event; see `state/rooms.rs`.
    rooms: BTreeMap<EventId, SaleRoom>,
    /// The voucher ledger; see `state/vouchers.rs`.
    ledger: crate::ledger::Ledger,
    /// Programmes, merchants, devices and cards; see `state/vouchers.rs`.
    vouchers: crate::vouchers::Vouchers,
    /// Staff accounts and sessions; see `state/staff.rs`.
    staff: crate::staff::Staff,
    /// `PaymentId(n)` lives at index `n - 1`; see `state/payments.rs`.
    payments: Vec<crate::payments::Payment>,
    payment_sessions: BTreeMap<(crate::payments::ProviderKind, String), crate::payments::PaymentId>,
}

impl Tenant {
    pub fn new() -> Tenant {
        Tenant { next_hold: 1, ..Tenant::default() }
    }

    pub fn apply(&mut self, envelope: &Envelope) -> Outcome {
        self.now = self.now.max(envelope.time);
        let expired = self.expire_due();
        self.advance_staff();
        self.forget_idempotency();
        if let Some(idem) = envelope.idempotency {
            if let Some(entry) = self.idempotency.get(&idem.key) {
                if entry.fingerprint != idem.fingerprint {
                    return Err(Rejection::IdempotencyKeyReused);
                }
                return Ok(entry.reply.clone());
            }
        }
        let touched = touched_event(self, &envelope.command);
        let outcome = match &envelope.command {
            Command::CreateVenue(spec) => self.create_venue(spec),
            Command::CreateEvent(spec) => self.create_event(spec),
            Command::Sale { event, action } => self.sale(*event, action),
            Command::Hold(request) => self.hold(request),
            Command::Release { hold } => self.release(*hold),
            Command::Confirm { hold, payment, buyer } => self.confirm(*hold, payment, buyer),
            Command::Cancel { order, tickets, refund } => self.cancel(*order, tickets, *refund),
            Command::Refund { order, amount, reference } => self.refund(*order, *amount, reference),
            Command::Tick => {
                self.tick_rooms();
                self.tick_ledger();
                self.tick_vouchers();
                Ok(Reply::Ticked { expired })
            }
            Command::CreateRoom { event, config, seed } => self.create_room(*event, config, *seed),
            Command::Room { event, command } => self.room_command(*event, command),
            Command::Ledger(command) => self.ledger_command(command),
            Command::Voucher(command) => self.voucher_command(command),
            Command::Staff(command) => self.staff_command(command),
            Command::AmendEvent { event, amendment } => self.amend_event(*event, amendment),
            Command::Payment(command) => self.payment_command(command),
        };
        if let (Some(idem), Ok(reply)) = (envelope.idempotency, &outcome) {
            self.remember(idem, reply.clone());
        }
        if cfg!(debug_assertions) {
            if let Some(event) = touched.or_else(|| touched_event(self, &envelope.command)) {
                self.check_event(event);
            }
        }
        outcome
    }

    // ----- queries -----

    pub fn now(&self) -> TimeMs {
        self.now
    }

    pub fn venues(&self) -> &[Venue] {
        &self.venues
    }

    pub fn venue(&self, id: VenueId) -> Option<&Venue> {
        self.venues.get(id.0 as usize)
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn event(&self, id: EventId) -> Option<&Event> {
        self.events.get(id.0 as usize)
    }

    pub fn hold_of(&self, id: HoldId) -> Option<&Hold> {
        self.holds.get(&id)
    }

    pub fn holds(&self) -> impl Iterator<Item = &Hold> {
        self.holds.values()
    }

    pub fn order(&self, id: OrderId) -> Option<&Order> {
        let index = id.0.checked_sub(1)?;
        self.orders.get(usize::try_from(index).ok()?)
    }

    pub fn orders(&self) -> &[Order] {
        &self.orders
    }

    pub fn order_of_hold(&self, hold: HoldId) -> Option<OrderId> {
        self.confirmed.get(&hold).copied()
    }

    /// When the next hold, voucher reservation, voucher card or staff session falls
    /// due, so a runtime knows when a `Tick` is worth sending (a tick expires all).
    pub fn next_expiry(&self) -> Option<TimeMs> {
        let hold = self.expiry.first().map(|(at, _)| *at);
        [hold, self.ledger.next_expiry(), self.vouchers.next_expiry(), self.staff.next_expiry()].into_iter().flatten().min()
    }

    pub(crate) fn expiry_entries(&self) -> impl Iterator<Item = (TimeMs, HoldId)> + '_ {
        self.expiry.iter().copied()
    }

    // ----- time -----

    fn expire_due(&mut self) -> u32 {
        let mut expired = 0;
        while let Some(&(at, hold)) = self.expiry.first() {
            if at > self.now {
                break;
            }
            self.expiry.pop_first();
            let taken = self.holds.remove(&hold).expect("expiry entries point at live holds");
            assert_eq!(taken.expires_at, at, "expiry index and hold agree");
            self.return_places(&taken);
            expired += 1;
        }
        expired
    }

    fn forget_idempotency(&mut self) {
        let horizon = self.now.plus_ms(-idempotency_window_ms);
        while let Some(&(at, key)) = self.idempotency_order.front() {
            if at > horizon && self.idempotency_order.len() <= idempotency_keys_max {
                break;
            }
            self.idempotency_order.pop_front();
            self.idempotency.remove(&key);
        }
    }

    fn remember(&mut self, idem: Idempotency, reply: Reply) {
        let entry = IdemEntry { fingerprint: idem.fingerprint, at: self.now, reply };
        let previous = self.idempotency.insert(idem.key, entry);
        assert!(previous.is_none(), "a remembered key is answered before the handler runs");
        self.idempotency_order.push_back((self.now, idem.key));
    }

    // ----- venues and events -----

    fn create_venue(&mut self, spec: &VenueSpec) -> Outcome {
        if self.venues.len() >= tenant_venues_max {
            return Err(Rejection::TooManyVenues);
        }
        let venue = Venue::build(spec.clone())?;
        self.venues.push(venue);
        Ok(Reply::VenueCreated { venue: VenueId(self.venues.len() as u32 - 1) })
    }

    fn create_event(&mut self, spec: &EventSpec) -> Outcome {
        if self.events.len() >= tenant_events_max {
            return Err(Rejection::TooManyEvents);
        }
        let venue = self.venues.get(spec.venue.0 as usize).ok_or(Rejection::UnknownVenue)?;
        let id = EventId(self.events.len() as u32);
        let event = Event::build(id, spec.clone(), venue)?;
        self.events.push(event);
        Ok(Reply::EventCreated { event: id })
    }

    /// Order: unknown event, then whether the transition is allowed from the status.
    fn sale(&mut self, id: EventId, action: &SaleAction) -> Outcome {
        let now = self.now;
        let event = self.events.get(id.0 as usize).ok_or(Rejection::UnknownEvent)?;
        let next = match (&event.sale, action) {
            (SaleStatus::Closed, _) => return Err(Rejection::SaleClosed),
            (SaleStatus::Draft, SaleAction::Open) => SaleStatus::Open,
            (SaleStatus::Open | SaleStatus::Paused { .. }, SaleAction::Open) => {
                return Err(Rejection::SaleAlreadyInState);
            }
            // The brake stops a running sale; a draft has nothing to stop.
            (SaleStatus::Draft, SaleAction::Pause { .. }) => return Err(Rejection::SaleNotOpen),
            (SaleStatus::Open, SaleAction::Pause { message, resume_at }) => {
                if message.len() > message_bytes_max {
                    return Err(Rejection::InvalidRequest { reason: "pause message too long" });
                }
                SaleStatus::Paused { since: now, message: message.clone(), resume_at: *resume_at }
            }
            (SaleStatus::Paused { .. }, SaleAction::Pause { message, resume_at }) => {
                // Updating the announcement (new message or restart time) keeps `since`.
                if message.len() > message_bytes_max {
                    return Err(Rejection::InvalidRequest { reason: "pause message too long" });
                }
                let SaleStatus::Paused { since, .. } = event.sale else { unreachable!() };
                SaleStatus::Paused { since, message: message.clone(), resume_at: *resume_at }
            }
            (SaleStatus::Paused { .. }, SaleAction::Resume) => SaleStatus::Open,
            (SaleStatus::Draft | SaleStatus::Open, SaleAction::Resume) => {
                return Err(Rejection::SaleAlreadyInState);
            }
            (_, SaleAction::Close) => SaleStatus::Closed,
        };
        let was_paused_since = match event.sale {
            SaleStatus::Paused { since, .. } => Some(since),
            _ => None,
        };
        let now_paused = matches!(next, SaleStatus::Paused { .. });
        match (was_paused_since, now_paused) {
            (None, true) => self.freeze_holds(id),
            (Some(since), false) => self.thaw_holds(id, now.0 - since.0),
            _ => {}
        }
        self.events[id.0 as usize].sale = next;
        self.sale_changed_room(id, action);
        Ok(Reply::SaleChanged { event: id })
    }

    fn freeze_holds(&mut self, event: EventId) {
        for hold in self.holds.values().filter(|h| h.event == event) {
            let removed = self.expiry.remove(&(hold.expires_at, hold.id));
            assert!(removed, "a live hold of an unpaused event is in the expiry index");
        }
    }

    fn thaw_holds(&mut self, event: EventId, paused_ms: i64) {
        assert!(paused_ms >= 0);
        for hold in self.holds.values_mut().filter(|h| h.event == event) {
            hold.expires_at = hold.expires_at.plus_ms(paused_ms);
            let fresh = self.expiry.insert((hold.expires_at, hold.id));
            assert!(fresh);
        }
    }

    // ----- holds -----

    /// Order: unknown event; sale gate; empty selection; size over the order limit;
    /// places and their category (unknown seat/area/category/block, not for sale,
    /// duplicate, spanning categories); tariff; customer limit (online only); channel
    /// quota; tenant hold capacity; availability (seat taken, sold out, no adjacent run).
    fn hold(&mut self, request: &HoldRequest) -> Outcome {
        let now = self.now;
        let event = self.events.get(request.event.0 as usize).ok_or(Rejection::UnknownEvent)?;
        event.check_sale(now)?;
        if request.channel == Channel::Online {
            self.check_admission(request.event, request.admission)?;
        }
        let quantity = match &request.selection {
            Selection::Seats(seats) => seats.len() as u32,
            Selection::Standing { quantity, .. } | Selection::BestAvailable { quantity, .. } => *quantity,
        };
        if quantity == 0 {
            return Err(Rejection::InvalidRequest { reason: "select at least one place" });
        }
        if quantity > event.spec.order_tickets_max {
            return Err(Rejection::HoldTooLarge { max: event.spec.order_tickets_max });
        }
        let venue = &self.venues[event.spec.venue.0 as usize];
        let category = selection_category(event, venue, &request.selection)?;
        let tariff = event.spec.categories[usize::from(category.0)]
            .tariffs
            .get(usize::from(request.tariff.0))
            .ok_or(Rejection::UnknownTariff)?;
        let price_each = tariff.price;
        if request.channel == Channel::Online {
            let has = event.customers.get(&request.customer).copied().unwrap_or(0);
            if has + quantity > event.spec.customer_tickets_max {
                return Err(Rejection::CustomerLimitReached { max: event.spec.customer_tickets_max });
            }
        }
        if let Some(quota) = event.spec.quotas[request.channel.index()] {
            let used = event.channels[request.channel.index()];
            if used.held + used.sold + quantity > quota {
                return Err(Rejection::QuotaExhausted { channel: request.channel });
            }
        }
        if self.holds.len() >= tenant_holds_max {
            return Err(Rejection::TooManyHolds);
        }
        let places = match &request.selection {
            Selection::Seats(seats) => {
                for seat in seats {
                    if event.seats[seat.0 as usize] != SeatState::Free {
                        return Err(Rejection::SeatUnavailable { seat: *seat });
                    }
                }
                Places::Seats(seats.clone())
            }
            Selection::Standing { area, quantity } => {
                if event.areas[usize::from(area.0)].free() < *quantity {
                    return Err(Rejection::SoldOut);
                }
                Places::Standing { area: *area, quantity: *quantity }
            }
            Selection::BestAvailable { block, quantity, .. } => {
                let free = match block {
                    Some(block) => event.blocks_free[usize::from(block.0)],
                    None => event.categories[usize::from(category.0)].free(),
                };
                if free < *quantity {
                    return Err(Rejection::SoldOut);
                }
                let seats = best_available(event, venue, category, *block, *quantity)
                    .ok_or(Rejection::NotEnoughAdjacentSeats)?;
                Places::Seats(seats)
            }
        };
        // All checks passed: from here on the command only mutates.
        let expires_at = now.plus_ms(event.spec.hold_duration_ms);
        let id = HoldId(self.next_hold);
        self.next_hold += 1;
        let hold = Hold {
            id,
            event: request.event,
            customer: request.customer,
            channel: request.channel,
            category,
            tariff: request.tariff,
            places,
            created_at: now,
            expires_at,
            price_each,
        };
        self.take_places(&hold);
        let receipt = HoldReceipt {
            hold: id,
            event: hold.event,
            expires_at: hold.expires_at,
            places: hold.places.clone(),
            total: price_each.times(quantity),
        };
        self.expiry.insert((hold.expires_at, id));
        self.holds.insert(id, hold);
        Ok(Reply::Held(receipt))
    }

    fn release(&mut self, id: HoldId) -> Outcome {
        let Some(hold) = self.holds.remove(&id) else {
            return Err(self.missing_hold(id));
        };
        self.unindex_expiry(&hold);
        self.return_places(&hold);
        Ok(Reply::Released { hold: id })
    }

    fn missing_hold(&self, id: HoldId) -> Rejection {
        if let Some(order) = self.confirmed.get(&id) {
            Rejection::HoldAlreadyConfirmed { order: *order }
        } else if id.0 >= 1 && id.0 < self.next_hold {
            Rejection::HoldEnded
        } else {
            Rejection::UnknownHold
        }
    }

    fn unindex_expiry(&mut self, hold: &Hold) {
        let removed = self.expiry.remove(&(hold.expires_at, hold.id));
        let paused = matches!(self.events[hold.event.0 as usize].sale, SaleStatus::Paused { .. });
        assert!(removed != paused, "exactly the holds of unpaused events are indexed for expiry");
    }

    fn take_places(&mut self, hold: &Hold) {
        let event = &mut self.events[hold.event.0 as usize];
        let venue = &self.venues[event.spec.venue.0 as usize];
        let n = hold.places.count();
        match &hold.places {
            Places::Seats(seats) => {
                for seat in seats {
                    let state = &mut event.seats[seat.0 as usize];
                    assert_eq!(*state, SeatState::Free, "a seat is taken only when free");
                    *state = SeatState::Held(hold.id);
                    let info = venue.seats[seat.0 as usize];
                    event.rows_free[info.row.0 as usize] -= 1;
                    event.blocks_free[usize::from(info.block.0)] -= 1;
                }
            }
            Places::Standing { area, quantity } => {
                let counts = &mut event.areas[usize::from(area.0)];
                counts.held += quantity;
                assert!(counts.held + counts.sold <= counts.capacity, "standing never exceeds capacity");
            }
        }
        let category = &mut event.categories[usize::from(hold.category.0)];
        category.held += n;
        assert!(category.held + category.sold <= category.capacity);
        event.channels[hold.channel.index()].held += n;
        if hold.channel == Channel::Online {
            *event.customers.entry(hold.customer).or_insert(0) += n;
        }
    }

    /// Gives a hold's places back to sale (expiry or release); not for confirmation.
    fn return_places(&mut self, hold: &Hold) {
        let event = &mut self.events[hold.event.0 as usize];
        let venue = &self.venues[event.spec.venue.0 as usize];
        let n = hold.places.count();
        match &hold.places {
            Places::Seats(seats) => {
                for seat in seats {
                    let state = &mut event.seats[seat.0 as usize];
                    assert_eq!(*state, SeatState::Held(hold.id), "a hold returns only its own seats");
                    *state = SeatState::Free;
                    let info = venue.seats[seat.0 as usize];
                    event.rows_free[info.row.0 as usize] += 1;
                    event.blocks_free[usize::from(info.block.0)] += 1;
                }
            }
            Places::Standing { area, quantity } => {
                event.areas[usize::from(area.0)].held -= quantity;
            }
        }
        event.categories[usize::from(hold.category.0)].held -= n;
        event.channels[hold.channel.index()].held -= n;
        if hold.channel == Channel::Online {
            decrement_customer(event, hold.customer, n);
        }
    }

    // ----- orders -----

    /// Order: missing hold (already confirmed, ended, unknown); sale gate; payment
    /// reference and buyer fields.
    fn confirm(&mut self, id: HoldId, payment: &str, buyer: &Buyer) -> Outcome {
        let Some(hold) = self.holds.get(&id) else {
            return Err(self.missing_hold(id));
        };
        self.events[hold.event.0 as usize].check_sale(self.now)?;
        if payment.is_empty() || payment.len() > payment_ref_bytes_max {
            return Err(Rejection::InvalidRequest { reason: "payment reference must be 1 to 128 bytes" });
        }
        if buyer.name.len() > buyer_name_bytes_max || buyer.email.len() > buyer_email_bytes_max {
            return Err(Rejection::InvalidRequest { reason: "buyer name or e-mail too long" });
        }
        let hold = self.holds.remove(&id).expect("checked above");
        self.unindex_expiry(&hold);
        let order_id = self.sell_hold(hold, payment, buyer);
        let total = self.orders[(order_id.0 - 1) as usize].paid();
        Ok(Reply::Confirmed { order: order_id, total })
    }

    /// Turns a hold already taken out of `holds` and the expiry index into an order.
    pub(super) fn sell_hold(&mut self, hold: Hold, payment: &str, buyer: &Buyer) -> OrderId {
        let id = hold.id;
        let order_id = OrderId(self.orders.len() as u64 + 1);
        let event = &mut self.events[hold.event.0 as usize];
        let n = hold.places.count();
        let places: Vec<Place> = match &hold.places {
            Places::Seats(seats) => seats
                .iter()
                .map(|seat| {
                    let state = &mut event.seats[seat.0 as usize];
                    assert_eq!(*state, SeatState::Held(id));
                    *state = SeatState::Sold(order_id);
                    Place::Seat(*seat)
                })
                .collect(),
            Places::Standing { area, quantity } => {
                let counts = &mut event.areas[usize::from(area.0)];
                counts.held -= quantity;
                counts.sold += quantity;
                vec![Place::Standing(*area); *quantity as usize]
            }
        };
        let category = &mut event.categories[usize::from(hold.category.0)];
        category.held -= n;
        category.sold += n;
        let channel = &mut event.channels[hold.channel.index()];
        channel.held -= n;
        channel.sold += n;
        let tickets = places
            .into_iter()
            .map(|place| Ticket {
                place,
                category: hold.category,
                tariff: hold.tariff,
                price: hold.price_each,
                cancelled_at: None,
            })
            .collect();
        let order = Order {
            id: order_id,
            event: hold.event,
            customer: hold.customer,
            channel: hold.channel,
            hold: id,
            tickets,
            payment: payment.to_string(),
            buyer: buyer.clone(),
            created_at: self.now,
            refunds: Vec::new(),
        };
        let event = order.event;
        self.orders.push(order);
        self.confirmed.insert(id, order_id);
        self.confirmed_room(event);
        order_id
    }

    /// Order: unknown order; empty or unknown ticket indices; already cancelled.
    /// Cancelling is allowed whatever the sale status: the office must be able to
    /// undo a sale even while the brake is pulled.
    fn cancel(&mut self, id: OrderId, which: &TicketSelection, refund: RefundMode) -> Outcome {
        let now = self.now;
        let order = self.order(id).ok_or(Rejection::UnknownOrder)?;
        let indices: Vec<usize> = match which {
            TicketSelection::All => {
                let valid: Vec<usize> =
                    (0..order.tickets.len()).filter(|i| order.tickets[*i].cancelled_at.is_none()).collect();
                if valid.is_empty() {
                    return Err(Rejection::TicketAlreadyCancelled);
                }
                valid
            }
            TicketSelection::Some(list) => {
                if list.is_empty() || list.len() > order.tickets.len() {
                    return Err(Rejection::InvalidRequest { reason: "name 1 to all tickets of the order" });
                }
                let mut seen = Vec::with_capacity(list.len());
                for index in list {
                    let index = usize::from(*index);
                    let ticket = order.tickets.get(index).ok_or(Rejection::UnknownTicket)?;
                    if seen.contains(&index) {
                        return Err(Rejection::InvalidRequest { reason: "a ticket index appears twice" });
                    }
                    if ticket.cancelled_at.is_some() {
                        return Err(Rejection::TicketAlreadyCancelled);
                    }
                    seen.push(index);
                }
                seen
            }
        };
        let order_index = (id.0 - 1) as usize;
        let order = &mut self.orders[order_index];
        let event = &mut self.events[order.event.0 as usize];
        let venue = &self.venues[event.spec.venue.0 as usize];
        let mut amount = Cents::ZERO;
        for &index in &indices {
            let ticket = &mut order.tickets[index];
            ticket.cancelled_at = Some(now);
            amount = amount.plus(ticket.price);
            match ticket.place {
                Place::Seat(seat) => {
                    let state = &mut event.seats[seat.0 as usize];
                    assert_eq!(*state, SeatState::Sold(id));
                    *state = SeatState::Free;
                    let info = venue.seats[seat.0 as usize];
                    event.rows_free[info.row.0 as usize] += 1;
                    event.blocks_free[usize::from(info.block.0)] += 1;
                }
                Place::Standing(area) => event.areas[usize::from(area.0)].sold -= 1,
            }
            event.categories[usize::from(ticket.category.0)].sold -= 1;
        }
        let n = indices.len() as u32;
        event.channels[order.channel.index()].sold -= n;
        if order.channel == Channel::Online {
            decrement_customer(event, order.customer, n);
        }
        let refunded = match refund {
            RefundMode::Full => {
                // Never more than is left to refund; nothing is recorded when a
                // goodwill refund already covered everything (refunds are positive).
                let left = order.paid().0 - order.refunded().0;
                let amount = Cents(amount.0.min(left));
                if amount > Cents::ZERO {
                    order.refunds.push(RefundEntry { amount, at: now, reference: "cancellation".into() });
                }
                amount
            }
            RefundMode::None => Cents::ZERO,
        };
        Ok(Reply::Cancelled { order: id, tickets: n, refunded })
    }

    /// Order: unknown order; amount not positive or reference malformed; over paid.
    fn refund(&mut self, id: OrderId, amount: Cents, reference: &str) -> Outcome {
        let now = self.now;
        let order = self.order(id).ok_or(Rejection::UnknownOrder)?;
        if amount.0 <= 0 || reference.is_empty() || reference.len() > payment_ref_bytes_max {
            return Err(Rejection::InvalidRequest { reason: "refund needs a positive amount and a reference" });
        }
        // Compared as "more than what is left" so no amount can overflow the sum.
        if amount.0 > order.paid().0 - order.refunded().0 {
            return Err(Rejection::RefundExceedsPaid);
        }
        let order = &mut self.orders[(id.0 - 1) as usize];
        order.refunds.push(RefundEntry { amount, at: now, reference: reference.to_string() });
        Ok(Reply::Refunded { order: id, amount })
    }

    // ----- snapshots -----

    pub fn parts(&self) -> TenantParts {
        TenantParts {
            now: self.now,
            venues: self.venues.iter().map(|v| v.spec.clone()).collect(),
            events: self.events.iter().map(|e| (e.spec.clone(), e.sale.clone())).collect(),
            holds: self.holds.values().cloned().collect(),
            next_hold: self.next_hold,
            orders: self.orders.clone(),
            idempotency: self
                .idempotency_order
                .iter()
                .map(|(_, key)| (*key, self.idempotency[key].clone()))
                .collect(),
            rooms: self.rooms.iter().map(|(event, r)| (*event, r.seed, r.room.parts())).collect(),
            ledger: self.ledger.parts(),
            vouchers: self.vouchers.parts(),
            staff: self.staff.parts(),
            payments: self.payments.clone(),
        }
    }

    /// Rebuilds a tenant from snapshot parts; every index is recomputed and every
    /// invariant checked, so a snapshot that decodes but lies is refused.
    pub fn restore(parts: TenantParts) -> Result<Tenant, String> {
        let mut tenant = Tenant::new();
        tenant.now = parts.now;
        for spec in parts.venues {
            tenant.venues.push(Venue::build(spec).map_err(|r| r.detail())?);
        }
        for (i, (spec, sale)) in parts.events.into_iter().enumerate() {
            let venue = tenant.venues.get(spec.venue.0 as usize).ok_or("event names a missing venue")?;
            let mut event = Event::build(EventId(i as u32), spec, venue).map_err(|r| r.detail())?;
            event.sale = sale;
            tenant.events.push(event);
        }
        tenant.next_hold = parts.next_hold;
        for order in parts.orders {
            tenant.restore_order(order)?;
        }
        for hold in parts.holds {
            tenant.restore_hold(hold)?;
        }
        for (key, entry) in parts.idempotency {
            tenant.idempotency_order.push_back((entry.at, key));
            if tenant.idempotency.insert(key, entry).is_some() {
                return Err("duplicate idempotency key".into());
            }
        }
        for (event, seed, parts) in parts.rooms {
            if tenant.event(event).is_none() {
                return Err("room names a missing event".into());
            }
            let room = crate::queue::WaitingRoom::restore(parts)?;
            if tenant.rooms.insert(event, SaleRoom { room, seed }).is_some() {
                return Err("two rooms for one event".into());
            }
        }
        tenant.ledger = crate::ledger::Ledger::restore(parts.ledger).map_err(|why| format!("ledger: {why}"))?;
        tenant.vouchers =
            crate::vouchers::Vouchers::restore(parts.vouchers, &tenant.ledger).map_err(|why| format!("vouchers: {why}"))?;
        tenant.staff = crate::staff::Staff::restore(parts.staff, tenant.now).map_err(|why| format!("staff: {why}"))?;
        tenant.restore_payments(parts.payments)?;
        tenant.check_ticketing_result()?;
        Ok(tenant)
    }

    fn restore_hold(&mut self, hold: Hold) -> Result<(), String> {
        let event = self.events.get(hold.event.0 as usize).ok_or("hold names a missing event")?;
        if hold.id.0 == 0 || hold.id.0 >= self.next_hold || self.holds.contains_key(&hold.id) {
            return Err("hold id out of range or repeated".into());
        }
        if let Places::Seats(seats) = &hold.places {
            for seat in seats {
                if event.seats.get(seat.0 as usize) != Some(&SeatState::Free) {
                    return Err(format!("hold {} takes seat {} that is not free", hold.id, seat));
                }
            }
        }
        if !matches!(event.sale, SaleStatus::Paused { .. }) {
            self.expiry.insert((hold.expires_at, hold.id));
        }
        self.take_places(&hold);
        self.holds.insert(hold.id, hold);
        Ok(())
    }

    fn restore_order(&mut self, order: Order) -> Result<(), String> {
        if order.id.0 != self.orders.len() as u64 + 1 {
            return Err("orders must be dense and in id order".into());
        }
        let event = self.events.get_mut(order.event.0 as usize).ok_or("order names a missing event")?;
        let venue = &self.venues[event.spec.venue.0 as usize];
        let mut valid = 0;
        for ticket in order.valid_tickets() {
            valid += 1;
            let category = event.categories.get_mut(usize::from(ticket.category.0)).ok_or("bad category")?;
            category.sold += 1;
            match ticket.place {
                Place::Seat(seat) => {
                    let state = event.seats.get_mut(seat.0 as usize).ok_or("bad seat")?;
                    if *state != SeatState::Free {
                        return Err(format!("seat {seat} sold twice"));
                    }
                    *state = SeatState::Sold(order.id);
                    let info = venue.seats[seat.0 as usize];
                    event.rows_free[info.row.0 as usize] -= 1;
                    event.blocks_free[usize::from(info.block.0)] -= 1;
                }
                Place::Standing(area) => event.areas.get_mut(usize::from(area.0)).ok_or("bad area")?.sold += 1,
            }
        }
        event.channels[order.channel.index()].sold += valid;
        if order.channel == Channel::Online && valid > 0 {
            *event.customers.entry(order.customer).or_insert(0) += valid;
        }
        if self.confirmed.insert(order.hold, order.id).is_some() {
            return Err("two orders from one hold".into());
        }
        self.orders.push(order);
        Ok(())
    }
}

fn decrement_customer(event: &mut Event, customer: CustomerId, n: u32) {
    let count = event.customers.get_mut(&customer).expect("an online customer with tickets is counted");
    *count -= n;
    if *count == 0 {
        event.customers.remove(&customer);
    }
}

fn touched_event(tenant: &Tenant, command: &Command) -> Option<EventId> {
    match command {
        Command::Sale { event, .. } | Command::AmendEvent { event, .. } => Some(*event),
        Command::Hold(request) => Some(request.event),
        Command::Confirm { hold, .. } | Command::Release { hold } => match tenant.hold_of(*hold) {
            Some(live) => Some(live.event),
            None => tenant.order_of_hold(*hold).and_then(|o| tenant.order(o)).map(|o| o.event),
        },
        Command::Cancel { order, .. } | Command::Refund { order, .. } => tenant.order(*order).map(|o| o.event),
        Command::Payment(crate::payments::PaymentCommand::Start { hold, .. }) => tenant.hold_of(*hold).map(|h| h.event),
        Command::Payment(crate::payments::PaymentCommand::Succeeded { provider, session }) => {
            tenant.payment_by_session(*provider, session).map(|p| p.hold.event)
        }
        _ => None,
    }
    .filter(|e| tenant.event(*e).is_some())
}

/// Resolves which category a selection draws from, rejecting malformed selections.
fn selection_category(event: &Event, venue: &Venue, selection: &Selection) -> Result<CategoryId, Rejection> {
    match selection {
        Selection::Seats(seats) => {
            let mut category = None;
            for (i, seat) in seats.iter().enumerate() {
                let Some(seat_category) = event.seat_category.get(seat.0 as usize) else {
                    return Err(Rejection::UnknownSeat { seat: *seat });
                };
                let Some(seat_category) = seat_category else {
                    return Err(Rejection::SeatNotForSale { seat: *seat });
                };
                if seats[..i].contains(seat) {
                    return Err(Rejection::DuplicateSeat { seat: *seat });
                }
                match category {
                    None => category = Some(*seat_category),
                    Some(c) if c != *seat_category => return Err(Rejection::SeatsSpanCategories),
                    Some(_) => {}
                }
            }
            Ok(category.expect("selection is not empty"))
        }
        Selection::Standing { area, .. } => {
            let Some(category) = event.area_category.get(usize::from(area.0)) else {
                return Err(Rejection::UnknownArea);
            };
            category.ok_or(Rejection::UnknownArea)
        }
        Selection::BestAvailable { category, block, .. } => {
            let spec = event.spec.categories.get(usize::from(category.0)).ok_or(Rejection::UnknownCategory)?;
            let CategoryPlaces::Blocks(blocks) = &spec.places else {
                return Err(Rejection::InvalidRequest { reason: "best available needs a seated category" });
            };
            if let Some(block) = block {
                if usize::from(block.0) >= venue.blocks.len() || !blocks.contains(block) {
                    return Err(Rejection::UnknownBlock);
                }
            }
            Ok(*category)
        }
    }
}

/// Best available: the category's blocks in the order staff listed them (best
/// first), rows front to back, and within a row the run of `quantity` free adjacent
/// seats closest to the row's centre. Rows with too few free seats are skipped by
/// their counter, so a sold-out row costs one comparison.
fn best_available(
    event: &Event,
    venue: &Venue,
    category: CategoryId,
    only_block: Option<BlockId>,
    quantity: u32,
) -> Option<Vec<SeatId>> {
    let CategoryPlaces::Blocks(blocks) = &event.spec.categories[usize::from(category.0)].places else {
        return None;
    };
    for block in blocks.iter().filter(|b| only_block.is_none_or(|o| o == **b)) {
        if event.blocks_free[usize::from(block.0)] < quantity {
            continue;
        }
        for row_id in venue.blocks[usize::from(block.0)].rows.clone() {
            if event.rows_free[row_id as usize] < quantity {
                continue;
            }
            let seats = venue.rows[row_id as usize].seats.clone();
            let len = seats.len() as u32;
            let centre2 = i64::from(seats.start) * 2 + i64::from(len) - 1;
            let mut best: Option<(i64, u32)> = None;
            let mut run = 0u32;
            for seat in seats {
                run = if event.seats[seat as usize] == SeatState::Free { run + 1 } else { 0 };
                if run >= quantity {
                    let start = seat + 1 - quantity;
                    let mid2 = i64::from(start) * 2 + i64::from(quantity) - 1;
                    let distance = (mid2 - centre2).abs();
                    if best.is_none_or(|(d, _)| distance < d) {
                        best = Some((distance, start));
                    }
                }
            }
            if let Some((_, start)) = best {
                return Some((start..start + quantity).map(SeatId).collect());
            }
        }
    }
    None
}
