//! Property tests: random command sequences against a small, crowded venue (two
//! blocks of 3 x 6 seats and a standing area of 10, two events) so holds collide,
//! quotas and limits bite, holds expire mid-run and sales are paused and resumed.
//!
//! For every generated run they prove:
//! - after every command, `check_invariants()` holds;
//! - an independent auditor, which knows only the commands and the replies, agrees:
//!   no seat is ever held or sold twice, a seat's state in the core is exactly what
//!   the replies said, held and sold counts match, and free + held + sold = capacity;
//!   it expires holds itself by the clock (pauses shift expiry) and answers repeated
//!   idempotency keys itself;
//! - replaying the recorded envelopes into a fresh tenant gives equal outcomes and an
//!   equal tenant (`==` on the whole state, indices included);
//! - `Tenant::restore(parts())` taken at a random point equals the live tenant, and the
//!   rest of the run applied to both gives equal outcomes and equal final states.
//!
//! Cases come from proptest's random seed; a failure prints the shrunk command list,
//! and `PROPTEST_RNG_SEED` reproduces a run.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::Config;
use sturmfest_core::limits::idempotency_window_ms;
use sturmfest_core::*;

const BLOCK_ROWS: usize = 3;
const ROW_SEATS: usize = 6;
const SEATS: u32 = (2 * BLOCK_ROWS * ROW_SEATS) as u32;
const STANDING: u32 = 10;
const HOLD_MS: i64 = 300_000;
const START_MS: i64 = 1_000_000;

fn venue_spec() -> VenueSpec {
    let block = |name: &str| BlockSpec {
        name: name.into(),
        rows: (0..BLOCK_ROWS)
            .map(|r| RowSpec {
                label: (r + 1).to_string(),
                seats: (0..ROW_SEATS).map(|s| SeatSpec { label: (s + 1).to_string(), x: s as i32, y: r as i32 }).collect(),
            })
            .collect(),
    };
    VenueSpec {
        name: "Kleines Stadion".into(),
        blocks: vec![block("A"), block("B")],
        standing: vec![StandingSpec { name: "Nord".into(), capacity: STANDING }],
    }
}

/// Event 0 sells everything with a box-office quota; event 1 sells block A only (so
/// block B is not for sale), has a reserved quota and a sale window that opens late
/// and closes mid-run.
fn event_specs() -> [EventSpec; 2] {
    let tariffs = |base: i64| {
        vec![
            TariffSpec { name: "Erw".into(), price: Cents(base) },
            TariffSpec { name: "Erm".into(), price: Cents(base / 2) },
        ]
    };
    let all = EventSpec {
        name: "Heimspiel".into(),
        venue: VenueId(0),
        starts_at: TimeMs(START_MS + 40 * 3_600_000),
        sale_opens_at: TimeMs(0),
        sale_closes_at: TimeMs(START_MS + 40 * 3_600_000),
        categories: vec![
            CategorySpec {
                name: "Sitz".into(),
                places: CategoryPlaces::Blocks(vec![BlockId(1), BlockId(0)]),
                tariffs: tariffs(2900),
            },
            CategorySpec { name: "Steh".into(), places: CategoryPlaces::Standing(AreaId(0)), tariffs: tariffs(1500) },
        ],
        quotas: [None, Some(12), None],
        hold_duration_ms: HOLD_MS,
        order_tickets_max: 4,
        customer_tickets_max: 6,
    };
    let partial = EventSpec {
        name: "Pokal".into(),
        sale_opens_at: TimeMs(START_MS + 120_000),
        sale_closes_at: TimeMs(START_MS + 3 * 3_600_000),
        categories: vec![
            CategorySpec { name: "Sitz".into(), places: CategoryPlaces::Blocks(vec![BlockId(0)]), tariffs: tariffs(4000) },
            CategorySpec { name: "Steh".into(), places: CategoryPlaces::Standing(AreaId(0)), tariffs: tariffs(900) },
        ],
        quotas: [None, None, Some(3)],
        hold_duration_ms: 120_000,
        order_tickets_max: 6,
        customer_tickets_max: 6,
        ..all.clone()
    };
    [all, partial]
}

// ----- the workload -----

#[derive(Clone, Debug)]
enum Op {
    HoldSeats { event: u8, seats: Vec<u8>, who: Who },
    HoldStanding { event: u8, quantity: u8, who: Who },
    HoldBest { event: u8, category: u8, block: Option<u8>, quantity: u8, who: Who },
    Release { pick: u8 },
    Confirm { pick: u8 },
    CancelAll { pick: u8, refund: bool },
    CancelSome { pick: u8, tickets: Vec<u8>, refund: bool },
    Refund { pick: u8, cents: u16 },
    Sale { event: u8, action: u8 },
    Tick,
    /// Sends the previous envelope again, with a key, as a client retry would.
    Retry,
}

#[derive(Clone, Debug)]
struct Who {
    customer: u8,
    channel: u8,
    tariff: u8,
}

#[derive(Clone, Debug)]
enum Advance {
    None,
    Small(u16),
    /// Tens of seconds to a few minutes: enough to pass a hold's expiry.
    Large(u32),
    /// Exactly to the earliest expiry the auditor knows of, to hit the boundary.
    ToNextExpiry,
}

#[derive(Clone, Debug)]
struct Step {
    advance: Advance,
    key: Option<u8>,
    op: Op,
}

fn who() -> impl Strategy<Value = Who> {
    (0u8..8, prop_oneof![6 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8)], prop_oneof![8 => Just(0u8), 1 => 0u8..3])
        .prop_map(|(customer, channel, tariff)| Who { customer, channel, tariff })
}

fn op() -> impl Strategy<Value = Op> {
    // Event 2 does not exist: an occasional unknown_event keeps that path honest.
    let event = prop_oneof![12 => Just(0u8), 6 => Just(1u8), 1 => Just(2u8)];
    // Category 1 is standing (best available refuses it) and category 2 does not exist.
    let category = prop_oneof![10 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)];
    let quantity = prop_oneof![10 => 1u8..5, 1 => 5u8..8];
    prop_oneof![
        8 => (event.clone(), prop_oneof![1 => Just(Vec::new()), 12 => prop::collection::vec(0u8..(SEATS as u8 + 2), 1..5)], who())
            .prop_map(|(event, seats, who)| Op::HoldSeats { event, seats, who }),
        5 => (event.clone(), prop_oneof![1 => Just(0u8), 12 => quantity.clone()], who()).prop_map(|(event, quantity, who)| Op::HoldStanding { event, quantity, who }),
        8 => (event.clone(), category, prop::option::weighted(0.3, 0u8..3), quantity.clone(), who())
            .prop_map(|(event, category, block, quantity, who)| Op::HoldBest { event, category, block, quantity, who }),
        2 => any::<u8>().prop_map(|pick| Op::Release { pick }),
        7 => any::<u8>().prop_map(|pick| Op::Confirm { pick }),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(pick, refund)| Op::CancelAll { pick, refund }),
        2 => (any::<u8>(), prop::collection::vec(0u8..7, 0..4), any::<bool>())
            .prop_map(|(pick, tickets, refund)| Op::CancelSome { pick, tickets, refund }),
        2 => (any::<u8>(), 0u16..12_000).prop_map(|(pick, cents)| Op::Refund { pick, cents }),
        2 => (event, 0u8..20).prop_map(|(event, action)| Op::Sale { event, action }),
        1 => Just(Op::Tick),
        1 => Just(Op::Retry),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let advance = prop_oneof![
        4 => Just(Advance::None),
        8 => (0u16..3_000).prop_map(Advance::Small),
        1 => (10_000u32..400_000).prop_map(Advance::Large),
        1 => Just(Advance::ToNextExpiry),
    ];
    (advance, prop::option::weighted(0.2, 0u8..8), op()).prop_map(|(advance, key, op)| Step { advance, key, op })
}

/// Turns abstract steps into envelopes. Hold and order picks are resolved against
/// what the run has produced so far, so most of them name something real.
struct Driver {
    now: i64,
    holds: Vec<HoldId>,
    orders: u64,
    last: Option<Envelope>,
}

impl Driver {
    fn envelope(&mut self, step: &Step, auditor: &Auditor) -> Envelope {
        self.now = match step.advance {
            Advance::None => self.now,
            Advance::Small(ms) => self.now + i64::from(ms),
            Advance::Large(ms) => self.now + i64::from(ms),
            Advance::ToNextExpiry => auditor.next_expiry().map_or(self.now, |at| at.0.max(self.now)),
        };
        let command = match &step.op {
            Op::Retry => match &self.last {
                Some(last) => {
                    let idempotency =
                        last.idempotency.or(step.key.map(|k| Idempotency { key: IdemKey(u128::from(k)), fingerprint: 0 }));
                    let envelope = Envelope { time: TimeMs(self.now), idempotency, command: last.command.clone() };
                    return self.remember(envelope);
                }
                None => Command::Tick,
            },
            op => self.command(op),
        };
        let idempotency = step.key.map(|k| Idempotency { key: IdemKey(u128::from(k)), fingerprint: fingerprint(&command) });
        self.remember(Envelope { time: TimeMs(self.now), idempotency, command })
    }

    fn remember(&mut self, envelope: Envelope) -> Envelope {
        self.last = Some(envelope.clone());
        envelope
    }

    fn command(&self, op: &Op) -> Command {
        let request = |event: u8, who: &Who, selection: Selection| {
            Command::Hold(HoldRequest {
                event: EventId(u32::from(event)),
                customer: CustomerId(u64::from(who.customer)),
                channel: Channel::ALL[usize::from(who.channel)],
                selection,
                tariff: TariffId(u16::from(who.tariff)),
                admission: None,
            })
        };
        // Mostly one of the newest holds (a buyer confirms what they just held), now
        // and then any hold so far, which is often ended or confirmed already.
        let hold = |pick: u8| match self.holds.len() {
            0 => HoldId(u64::from(pick % 3)),
            n if pick < 192 => self.holds[n - 1 - usize::from(pick) % n.min(3)],
            n => self.holds[usize::from(pick) % n],
        };
        let order = |pick: u8| OrderId(u64::from(pick) % (self.orders + 2));
        let refund = |yes: bool| if yes { RefundMode::Full } else { RefundMode::None };
        match op {
            Op::HoldSeats { event, seats, who } => {
                request(*event, who, Selection::Seats(seats.iter().map(|s| SeatId(u32::from(*s))).collect()))
            }
            Op::HoldStanding { event, quantity, who } => {
                request(*event, who, Selection::Standing { area: AreaId(0), quantity: u32::from(*quantity) })
            }
            Op::HoldBest { event, category, block, quantity, who } => request(
                *event,
                who,
                Selection::BestAvailable {
                    category: CategoryId(u16::from(*category)),
                    block: block.map(|b| BlockId(u16::from(b))),
                    quantity: u32::from(*quantity),
                },
            ),
            Op::Release { pick } => Command::Release { hold: hold(*pick) },
            Op::Confirm { pick } => Command::Confirm {
                hold: hold(*pick),
                payment: format!("pay-{pick}"),
                buyer: Buyer { name: "Fan".into(), email: "fan@example.org".into() },
            },
            Op::CancelAll { pick, refund: r } => {
                Command::Cancel { order: order(*pick), tickets: TicketSelection::All, refund: refund(*r) }
            }
            Op::CancelSome { pick, tickets, refund: r } => Command::Cancel {
                order: order(*pick),
                tickets: TicketSelection::Some(tickets.iter().map(|t| u16::from(*t)).collect()),
                refund: refund(*r),
            },
            Op::Refund { pick, cents } => {
                Command::Refund { order: order(*pick), amount: Cents(i64::from(*cents)), reference: "kulanz".into() }
            }
            Op::Sale { event, action } => Command::Sale {
                event: EventId(u32::from(*event)),
                // Closing is final, so it is rare; resuming is common so pauses end.
                action: match action {
                    0..=3 => SaleAction::Open,
                    4..=6 => SaleAction::Pause { message: "Störung".into(), resume_at: None },
                    7..=18 => SaleAction::Resume,
                    _ => SaleAction::Close,
                },
            },
            Op::Tick | Op::Retry => Command::Tick,
        }
    }

    fn observe(&mut self, outcome: &Outcome) {
        match outcome {
            Ok(Reply::Held(receipt)) if !self.holds.contains(&receipt.hold) => self.holds.push(receipt.hold),
            Ok(Reply::Confirmed { order, .. }) => self.orders = self.orders.max(order.0),
            _ => {}
        }
    }
}

/// A stable digest of the command, as the edge would compute over the request body.
fn fingerprint(command: &Command) -> u64 {
    format!("{command:?}").bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

// ----- the auditor -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Hold(HoldId),
    Order(OrderId),
}

#[derive(Clone, Debug)]
struct AuditHold {
    event: EventId,
    places: Places,
    expires_at: TimeMs,
    total: Cents,
}

#[derive(Clone, Debug)]
struct AuditOrder {
    event: EventId,
    places: Vec<Option<Place>>,
    prices: Vec<Cents>,
    paid: Cents,
    refunded: Cents,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sale {
    Draft,
    Open,
    Paused { since: TimeMs },
    Closed,
}

/// A reference model built only from the commands sent and the replies received; it
/// shares no code with the core beyond the public types.
struct Auditor {
    now: TimeMs,
    sale: Vec<Sale>,
    hold_ms: Vec<i64>,
    holds: BTreeMap<HoldId, AuditHold>,
    orders: BTreeMap<OrderId, AuditOrder>,
    seats: BTreeMap<(EventId, SeatId), Owner>,
    /// (held, sold) standing places per event.
    standing: BTreeMap<EventId, (u32, u32)>,
    keys: BTreeMap<IdemKey, (TimeMs, u64, Reply)>,
}

impl Auditor {
    fn new(specs: &[EventSpec]) -> Auditor {
        Auditor {
            now: TimeMs(0),
            sale: vec![Sale::Draft; specs.len()],
            hold_ms: specs.iter().map(|s| s.hold_duration_ms).collect(),
            holds: BTreeMap::new(),
            orders: BTreeMap::new(),
            seats: BTreeMap::new(),
            standing: BTreeMap::new(),
            keys: BTreeMap::new(),
        }
    }

    fn next_expiry(&self) -> Option<TimeMs> {
        self.holds
            .values()
            .filter(|h| !matches!(self.sale[h.event.0 as usize], Sale::Paused { .. }))
            .map(|h| h.expires_at)
            .min()
    }

    /// Checks one outcome against the model and advances the model by it.
    fn apply(&mut self, envelope: &Envelope, outcome: &Outcome) {
        self.now = self.now.max(envelope.time);
        self.expire();
        self.keys.retain(|_, (at, _, _)| at.0 > self.now.0 - idempotency_window_ms);
        if let Some(idem) = envelope.idempotency {
            if let Some((_, fingerprint, reply)) = self.keys.get(&idem.key) {
                if *fingerprint == idem.fingerprint {
                    assert_eq!(outcome.as_ref(), Ok(reply), "a retry returns the first reply");
                } else {
                    assert_eq!(outcome, &Err(Rejection::IdempotencyKeyReused), "a key with a new request is refused");
                }
                return;
            }
        }
        let Ok(reply) = outcome else { return };
        if let Some(idem) = envelope.idempotency {
            self.keys.insert(idem.key, (self.now, idem.fingerprint, reply.clone()));
        }
        match (&envelope.command, reply) {
            (Command::CreateVenue(_), Reply::VenueCreated { .. }) | (Command::CreateEvent(_), Reply::EventCreated { .. }) => {}
            (Command::Sale { event, action }, Reply::SaleChanged { event: changed }) => {
                assert_eq!(event, changed);
                self.sale_changed(*event, action);
            }
            (Command::Hold(request), Reply::Held(receipt)) => self.held(request, receipt),
            (Command::Release { hold }, Reply::Released { hold: released }) => {
                assert_eq!(hold, released);
                let hold = self.holds.remove(hold).expect("only a live hold can be released");
                self.give_back(&hold);
            }
            (Command::Confirm { hold, .. }, Reply::Confirmed { order, total }) => self.confirmed(*hold, *order, *total),
            (Command::Cancel { order, tickets, refund }, Reply::Cancelled { order: cancelled, tickets: n, refunded }) => {
                assert_eq!(order, cancelled);
                self.cancelled(*order, tickets, *refund, *n, *refunded);
            }
            (Command::Refund { order, amount, .. }, Reply::Refunded { order: refunded, amount: paid_back }) => {
                assert_eq!((order, amount), (refunded, paid_back));
                let o = self.orders.get_mut(order).expect("only a known order is refunded");
                assert!(amount.0 > 0 && o.refunded.0 + amount.0 <= o.paid.0, "refund within what was paid");
                o.refunded = o.refunded.plus(*amount);
            }
            (Command::Tick, Reply::Ticked { .. }) => {}
            (command, reply) => panic!("reply {reply:?} does not answer {command:?}"),
        }
    }

    fn expire(&mut self) {
        let due: Vec<HoldId> = self
            .holds
            .iter()
            .filter(|(_, h)| h.expires_at <= self.now && !matches!(self.sale[h.event.0 as usize], Sale::Paused { .. }))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let hold = self.holds.remove(&id).unwrap();
            self.give_back(&hold);
        }
    }

    fn sale_changed(&mut self, event: EventId, action: &SaleAction) {
        let before = self.sale[event.0 as usize];
        let after = match (before, action) {
            (Sale::Draft, SaleAction::Open) => Sale::Open,
            (Sale::Draft | Sale::Open, SaleAction::Pause { .. }) => Sale::Paused { since: self.now },
            (Sale::Paused { since }, SaleAction::Pause { .. }) => Sale::Paused { since },
            (Sale::Paused { .. }, SaleAction::Resume) => Sale::Open,
            (Sale::Draft | Sale::Open | Sale::Paused { .. }, SaleAction::Close) => Sale::Closed,
            (before, action) => panic!("sale change {action:?} accepted from {before:?}"),
        };
        if let (Sale::Paused { since }, false) = (before, matches!(after, Sale::Paused { .. })) {
            for hold in self.holds.values_mut().filter(|h| h.event == event) {
                hold.expires_at = hold.expires_at.plus_ms(self.now.0 - since.0);
            }
        }
        self.sale[event.0 as usize] = after;
    }

    fn held(&mut self, request: &HoldRequest, receipt: &HoldReceipt) {
        assert_eq!(receipt.event, request.event);
        assert_eq!(self.sale[request.event.0 as usize], Sale::Open, "holds only while the sale is open");
        assert_eq!(receipt.expires_at, self.now.plus_ms(self.hold_ms[request.event.0 as usize]));
        assert!(!self.holds.contains_key(&receipt.hold), "hold ids are never reused");
        match &receipt.places {
            Places::Seats(seats) => {
                if let Selection::Seats(wanted) = &request.selection {
                    assert_eq!(wanted, seats, "a seat hold holds exactly the seats asked for");
                }
                for seat in seats {
                    let previous = self.seats.insert((request.event, *seat), Owner::Hold(receipt.hold));
                    assert_eq!(previous, None, "seat {seat} handed out while owned");
                }
            }
            Places::Standing { quantity, .. } => {
                let (held, sold) = self.standing.entry(request.event).or_default();
                *held += quantity;
                assert!(*held + *sold <= STANDING, "standing over capacity");
            }
        }
        let hold = AuditHold {
            event: request.event,
            places: receipt.places.clone(),
            expires_at: receipt.expires_at,
            total: receipt.total,
        };
        self.holds.insert(receipt.hold, hold);
    }

    fn give_back(&mut self, hold: &AuditHold) {
        match &hold.places {
            Places::Seats(seats) => {
                for seat in seats {
                    let owner = self.seats.remove(&(hold.event, *seat));
                    assert!(matches!(owner, Some(Owner::Hold(_))), "a hold gives back only seats it held");
                }
            }
            Places::Standing { quantity, .. } => self.standing.get_mut(&hold.event).unwrap().0 -= quantity,
        }
    }

    fn confirmed(&mut self, hold_id: HoldId, order: OrderId, total: Cents) {
        let hold = self.holds.remove(&hold_id).expect("only a live hold is confirmed");
        assert!(matches!(self.sale[hold.event.0 as usize], Sale::Open), "confirm only while open");
        assert_eq!(total, hold.total, "the order costs what the hold quoted");
        assert_eq!(order.0, self.orders.len() as u64 + 1, "order ids are dense");
        let places: Vec<Option<Place>> = match &hold.places {
            Places::Seats(seats) => {
                for seat in seats {
                    let owner = self.seats.insert((hold.event, *seat), Owner::Order(order));
                    assert_eq!(owner, Some(Owner::Hold(hold_id)), "confirmed seats were held by this hold");
                }
                seats.iter().map(|s| Some(Place::Seat(*s))).collect()
            }
            Places::Standing { area, quantity } => {
                let counts = self.standing.get_mut(&hold.event).unwrap();
                counts.0 -= quantity;
                counts.1 += quantity;
                vec![Some(Place::Standing(*area)); *quantity as usize]
            }
        };
        let each = Cents(total.0 / places.len() as i64);
        let prices = vec![each; places.len()];
        self.orders.insert(order, AuditOrder { event: hold.event, places, prices, paid: total, refunded: Cents::ZERO });
    }

    fn cancelled(&mut self, id: OrderId, which: &TicketSelection, refund: RefundMode, n: u32, refunded: Cents) {
        let order = self.orders.get_mut(&id).expect("only a known order is cancelled");
        let indices: Vec<usize> = match which {
            TicketSelection::All => (0..order.places.len()).filter(|i| order.places[*i].is_some()).collect(),
            TicketSelection::Some(list) => list.iter().map(|i| usize::from(*i)).collect(),
        };
        assert_eq!(indices.len() as u32, n, "the reply counts the cancelled tickets");
        let mut amount = Cents::ZERO;
        for i in indices {
            let place = order.places[i].take().expect("a cancelled ticket was valid");
            amount = amount.plus(order.prices[i]);
            match place {
                Place::Seat(seat) => {
                    let owner = self.seats.remove(&(order.event, seat));
                    assert_eq!(owner, Some(Owner::Order(id)), "a cancelled seat was sold to this order");
                }
                Place::Standing(_) => self.standing.get_mut(&order.event).unwrap().1 -= 1,
            }
        }
        let expected = match refund {
            RefundMode::Full => Cents(amount.0.min(order.paid.0 - order.refunded.0)),
            RefundMode::None => Cents::ZERO,
        };
        assert_eq!(refunded, expected, "a cancellation refunds its tickets, capped at what is left");
        order.refunded = order.refunded.plus(refunded);
    }

    /// Compares the model with the core's visible state.
    fn compare(&self, tenant: &Tenant) {
        for event in tenant.events() {
            let mut held = 0;
            let mut sold = 0;
            for (seat, state) in event.seats.iter().enumerate() {
                let expected = match self.seats.get(&(event.id, SeatId(seat as u32))) {
                    Some(Owner::Hold(h)) => SeatState::Held(*h),
                    Some(Owner::Order(o)) => SeatState::Sold(*o),
                    None if *state == SeatState::NotForSale => SeatState::NotForSale,
                    None => SeatState::Free,
                };
                assert_eq!(*state, expected, "event {} seat {seat}", event.id);
                held += u32::from(matches!(expected, SeatState::Held(_)));
                sold += u32::from(matches!(expected, SeatState::Sold(_)));
            }
            let (standing_held, standing_sold) = self.standing.get(&event.id).copied().unwrap_or_default();
            assert_eq!(event.held(), held + standing_held, "event {} held", event.id);
            assert_eq!(event.sold(), sold + standing_sold, "event {} sold", event.id);
            assert_eq!(event.free() + event.held() + event.sold(), event.capacity(), "event {} adds up", event.id);
            let expected_sale = match (&event.sale, self.sale[event.id.0 as usize]) {
                (SaleStatus::Draft, Sale::Draft) | (SaleStatus::Open, Sale::Open) | (SaleStatus::Closed, Sale::Closed) => {
                    true
                }
                (SaleStatus::Paused { since, .. }, Sale::Paused { since: model }) => *since == model,
                _ => false,
            };
            assert!(expected_sale, "event {} sale status {:?}", event.id, event.sale);
        }
        assert_eq!(tenant.holds().count(), self.holds.len(), "live holds");
        for hold in tenant.holds() {
            assert_eq!(hold.expires_at, self.holds[&hold.id].expires_at, "hold {} expiry", hold.id);
        }
        for order in tenant.orders() {
            let model = &self.orders[&order.id];
            assert_eq!((order.paid(), order.refunded()), (model.paid, model.refunded), "order {} money", order.id);
        }
    }
}

// ----- the properties -----

struct Run {
    envelopes: Vec<Envelope>,
    outcomes: Vec<Outcome>,
}

fn setup() -> Vec<Envelope> {
    let at = |command| Envelope { time: TimeMs(START_MS), idempotency: None, command };
    let mut setup = vec![at(Command::CreateVenue(venue_spec()))];
    setup.extend(event_specs().into_iter().map(|spec| at(Command::CreateEvent(spec))));
    setup.push(at(Command::Sale { event: EventId(0), action: SaleAction::Open }));
    setup.push(at(Command::Sale { event: EventId(1), action: SaleAction::Open }));
    setup
}

/// Drives one run, checking invariants and the auditor after every command, and
/// takes a snapshot after `snapshot_at` steps that then shadows the live tenant.
fn run(steps: &[Step], snapshot_at: usize) -> (Tenant, Run) {
    let mut tenant = Tenant::new();
    let mut auditor = Auditor::new(&event_specs());
    let mut driver = Driver { now: START_MS, holds: Vec::new(), orders: 0, last: None };
    let mut record = Run { envelopes: Vec::new(), outcomes: Vec::new() };
    let mut shadow: Option<Tenant> = None;
    let setup = setup();
    for envelope in &setup {
        let outcome = tenant.apply(envelope);
        assert!(outcome.is_ok(), "setup: {outcome:?}");
        auditor.apply(envelope, &outcome);
        record.envelopes.push(envelope.clone());
        record.outcomes.push(outcome);
    }
    for (i, step) in steps.iter().enumerate() {
        if i == snapshot_at {
            let restored = Tenant::restore(tenant.parts()).expect("a live tenant's snapshot restores");
            assert_eq!(restored, tenant, "restore(parts()) equals the live tenant mid-run");
            shadow = Some(restored);
        }
        let envelope = driver.envelope(step, &auditor);
        let outcome = tenant.apply(&envelope);
        tenant.check_invariants();
        auditor.apply(&envelope, &outcome);
        auditor.compare(&tenant);
        driver.observe(&outcome);
        if let Some(shadow) = &mut shadow {
            let shadow_outcome = shadow.apply(&envelope);
            assert_eq!(shadow_outcome, outcome, "the restored tenant answers like the original");
        }
        record.envelopes.push(envelope);
        record.outcomes.push(outcome);
    }
    if let Some(shadow) = shadow {
        assert_eq!(shadow, tenant, "the restored tenant ends where the original ends");
    }
    (tenant, record)
}

fn config() -> Config {
    Config { cases: 1000, failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_runs_keep_invariants_agree_with_the_auditor_and_survive_snapshots(
        steps in prop::collection::vec(step(), 1..200),
        snapshot_at in any::<prop::sample::Index>(),
    ) {
        let snapshot_at = snapshot_at.index(steps.len());
        let (tenant, record) = run(&steps, snapshot_at);

        let mut replayed = Tenant::new();
        for (envelope, outcome) in record.envelopes.iter().zip(&record.outcomes) {
            prop_assert_eq!(&replayed.apply(envelope), outcome, "replay answers like the original");
        }
        prop_assert_eq!(&replayed, &tenant, "replay reproduces the state");

        let restored = Tenant::restore(tenant.parts()).expect("the final snapshot restores");
        prop_assert_eq!(&restored, &tenant, "restore(parts()) equals the final tenant");
    }
}

#[test]
fn the_workload_reaches_every_kind_of_reply() {
    // Guards the generator: a property over runs that never confirm, cancel or expire
    // anything would pass vacuously. Runs a fixed number of seeded runs and counts.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(step(), 100..200);
    let mut seen: BTreeMap<&'static str, u32> = BTreeMap::new();
    for _ in 0..40 {
        let steps = strategy.new_tree(&mut runner).expect("a workload").current();
        let (_, record) = run(&steps, steps.len() / 2);
        for outcome in &record.outcomes {
            let kind = match outcome {
                Ok(Reply::Held(r)) if matches!(r.places, Places::Standing { .. }) => "held standing",
                Ok(Reply::Held(_)) => "held seats",
                Ok(Reply::Released { .. }) => "released",
                Ok(Reply::Confirmed { .. }) => "confirmed",
                Ok(Reply::Cancelled { refunded, .. }) if refunded.0 > 0 => "cancelled with refund",
                Ok(Reply::Cancelled { .. }) => "cancelled",
                Ok(Reply::Refunded { .. }) => "refunded",
                Ok(Reply::Ticked { expired }) if *expired > 0 => "ticked with expiry",
                Ok(Reply::SaleChanged { .. }) => "sale changed",
                Ok(_) => "other reply",
                Err(rejection) => rejection.code(),
            };
            *seen.entry(kind).or_default() += 1;
        }
    }
    let wanted = [
        "held standing",
        "held seats",
        "released",
        "confirmed",
        "cancelled with refund",
        "cancelled",
        "refunded",
        "ticked with expiry",
        "sale changed",
        "seat_unavailable",
        "sold_out",
        "not_enough_adjacent_seats",
        "customer_limit_reached",
        "quota_exhausted",
        "sale_paused",
        "hold_ended",
        "hold_already_confirmed",
        "idempotency_key_reused",
        "refund_exceeds_paid",
        "seat_not_for_sale",
    ];
    let missing: Vec<&str> = wanted.iter().copied().filter(|k| !seen.contains_key(k)).collect();
    assert!(missing.is_empty(), "the workload never produced {missing:?}; saw {seen:?}");
}
