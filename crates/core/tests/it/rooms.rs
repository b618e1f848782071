//! The waiting room inside the tenant: the sale and its room never disagree. The
//! brake pauses the room in the same command and keeps every place; admission is
//! capped by what the event has left; an online hold needs an identity the room has
//! in checkout, while the box office sells without queueing; the last confirmed
//! place sells the room out for everyone in line; and a snapshot brings the room
//! back exactly. The tenant's full invariant check runs after every step.

use sturmfest_core::queue::{IdentityKey, Phase, Place, QueueId, RoomCommand, RoomConfig, RoomReply};
use sturmfest_core::*;

const OPENS: i64 = 1_000_000;
const HOUR: i64 = 3_600_000;

struct World {
    tenant: Tenant,
    now: i64,
}

impl World {
    /// One block of 4 seats and a standing area of 2: 6 places. The sale opens at
    /// `OPENS`; the room's pre-queue an hour earlier; two fans in checkout at once.
    fn new() -> World {
        let mut w = World::without_room();
        w.ok(Command::CreateRoom { event: EventId(0), config: World::config(), seed: [7; 32] });
        w
    }

    fn config() -> RoomConfig {
        RoomConfig {
            prequeue_opens_at: TimeMs(OPENS - HOUR),
            opens_at: TimeMs(OPENS),
            checkout_window_ms: 300_000,
            admitted_active_max: 2,
            entries_max: 1_000,
        }
    }

    fn without_room() -> World {
        let mut w = World { tenant: Tenant::new(), now: OPENS - 2 * HOUR };
        let seats = (1..=4).map(|s| SeatSpec { label: s.to_string(), x: s * 10, y: 0 }).collect();
        w.ok(Command::CreateVenue(VenueSpec {
            name: "Halle".into(),
            blocks: vec![BlockSpec { name: "A".into(), rows: vec![RowSpec { label: "1".into(), seats }] }],
            standing: vec![StandingSpec { name: "Kurve".into(), capacity: 2 }],
        }));
        let tariff = |cents| vec![TariffSpec { name: "Erwachsene".into(), price: Cents(cents) }];
        w.ok(Command::CreateEvent(EventSpec {
            name: "Derby".into(),
            venue: VenueId(0),
            starts_at: TimeMs(OPENS + 48 * HOUR),
            sale_opens_at: TimeMs(OPENS),
            sale_closes_at: TimeMs(OPENS + 48 * HOUR),
            categories: vec![
                CategorySpec { name: "Sitz".into(), places: CategoryPlaces::Blocks(vec![BlockId(0)]), tariffs: tariff(2900) },
                CategorySpec { name: "Steh".into(), places: CategoryPlaces::Standing(AreaId(0)), tariffs: tariff(1500) },
            ],
            quotas: [None, None, None],
            hold_duration_ms: 600_000,
            order_tickets_max: 4,
            customer_tickets_max: 4,
        }));
        w.ok(Command::Sale { event: EventId(0), action: SaleAction::Open });
        w
    }

    fn run(&mut self, command: Command) -> Outcome {
        let outcome = self.tenant.apply(&Envelope { time: TimeMs(self.now), idempotency: None, command });
        self.tenant.check_invariants();
        outcome
    }

    #[track_caller]
    fn ok(&mut self, command: Command) -> Reply {
        self.run(command).unwrap_or_else(|r| panic!("rejected: {}", r.code()))
    }

    #[track_caller]
    fn rejected(&mut self, command: Command) -> &'static str {
        match self.run(command) {
            Ok(reply) => panic!("accepted: {reply:?}"),
            Err(r) => r.code(),
        }
    }

    fn room(&mut self, command: RoomCommand) -> Outcome {
        self.run(Command::Room { event: EventId(0), command })
    }

    fn join(&mut self, fan: u8) {
        let reply = self.room(RoomCommand::Join { identity: IdentityKey(u128::from(fan)), queue_id: QueueId([fan; 16]) });
        assert!(matches!(reply, Ok(Reply::Room { reply: RoomReply::Joined { .. }, .. })), "{reply:?}");
    }

    fn place(&self, fan: u8) -> Option<Place> {
        self.tenant.room(EventId(0)).unwrap().room.place(IdentityKey(u128::from(fan)))
    }

    fn open_and_draw(&mut self, fans: &[u8]) {
        self.now = OPENS - HOUR / 2;
        for fan in fans {
            self.join(*fan);
        }
        self.now = OPENS;
        let order: Vec<u32> = (0..fans.len() as u32).rev().collect();
        self.ok(Command::Room { event: EventId(0), command: RoomCommand::Draw { order } });
    }

    fn admit(&mut self, count: u32) -> u32 {
        match self.room(RoomCommand::Admit { count, unsold_places: u32::MAX }) {
            Ok(Reply::Room { reply: RoomReply::Admitted { admitted, .. }, .. }) => admitted,
            other => panic!("{other:?}"),
        }
    }

    fn hold(&mut self, fan: u8, channel: Channel, admission: Option<u8>, seats: &[u32]) -> Outcome {
        self.run(Command::Hold(HoldRequest {
            event: EventId(0),
            customer: CustomerId(u64::from(fan)),
            channel,
            selection: Selection::Seats(seats.iter().map(|s| SeatId(*s)).collect()),
            tariff: TariffId(0),
            admission: admission.map(|a| IdentityKey(u128::from(a))),
        }))
    }
}

#[test]
fn online_holds_need_an_admitted_identity_and_the_box_office_does_not_queue() {
    let mut w = World::new();
    w.open_and_draw(&[1, 2, 3]);
    assert_eq!(w.hold(1, Channel::Online, None, &[0]).unwrap_err().code(), "admission_required");
    assert_eq!(w.hold(1, Channel::Online, Some(1), &[0]).unwrap_err().code(), "not_admitted");
    assert_eq!(w.hold(9, Channel::Online, Some(9), &[0]).unwrap_err().code(), "unknown_identity");
    // The box office sells from the same inventory at the same moment, unqueued.
    assert!(w.hold(50, Channel::BoxOffice, None, &[3]).is_ok());

    assert_eq!(w.admit(5), 2, "two in checkout at once");
    // The draw reversed the pre-queue: fans 3 and 2 are first.
    assert!(matches!(w.place(3), Some(Place::Admitted { .. })));
    assert_eq!(w.place(1), Some(Place::Waiting { position: 1 }));
    assert!(w.hold(3, Channel::Online, Some(3), &[0]).is_ok());
    assert_eq!(w.hold(1, Channel::Online, Some(1), &[1]).unwrap_err().code(), "not_admitted");

    // The checkout window runs out: no new holds for fan 2, and the slot frees.
    w.now = OPENS + 300_001;
    assert_eq!(w.hold(2, Channel::Online, Some(2), &[1]).unwrap_err().code(), "not_admitted");
    w.ok(Command::Tick);
    assert_eq!(w.place(2), Some(Place::Expired));
    assert_eq!(w.admit(5), 1, "fan 1 takes the freed slot");
}

#[test]
fn admission_never_exceeds_what_the_event_has_left() {
    let mut w = World::new();
    w.open_and_draw(&[1, 2, 3, 4, 5, 6, 7]);
    // The box office sells 5 of the 6 places before anyone is admitted.
    for seat in 0..4 {
        let held = w.hold(40 + seat as u8, Channel::BoxOffice, None, &[seat]).unwrap();
        let Reply::Held(receipt) = held else { panic!() };
        w.ok(Command::Confirm { hold: receipt.hold, payment: "cash".into(), buyer: Buyer { name: "K".into(), email: String::new() } });
    }
    assert_eq!(w.admit(100), 2, "6 places, 4 sold: 2 left, and 2 may shop at once");
    let mut w = World::new();
    w.open_and_draw(&[1, 2, 3, 4, 5, 6, 7]);
    for seat in 0..4 {
        let Reply::Held(receipt) = w.hold(40 + seat as u8, Channel::BoxOffice, None, &[seat]).unwrap() else { panic!() };
        w.ok(Command::Confirm { hold: receipt.hold, payment: "cash".into(), buyer: Buyer { name: "K".into(), email: String::new() } });
    }
    let standing = Command::Hold(HoldRequest {
        event: EventId(0),
        customer: CustomerId(80),
        channel: Channel::BoxOffice,
        selection: Selection::Standing { area: AreaId(0), quantity: 1 },
        tariff: TariffId(0),
        admission: None,
    });
    let Reply::Held(receipt) = w.ok(standing) else { panic!() };
    w.ok(Command::Confirm { hold: receipt.hold, payment: "cash".into(), buyer: Buyer { name: "K".into(), email: String::new() } });
    assert_eq!(w.admit(100), 1, "6 places, 5 sold: one fan, though two could shop at once");
}

#[test]
fn the_brake_pauses_the_room_in_the_same_command_and_resume_continues_in_order() {
    let mut w = World::new();
    w.open_and_draw(&[1, 2, 3]);
    w.admit(1);
    let until_before = match w.place(3) {
        Some(Place::Admitted { until }) => until,
        other => panic!("{other:?}"),
    };
    w.now += 10_000;
    w.ok(Command::Sale { event: EventId(0), action: SaleAction::Pause { message: "Kurze Pause".into(), resume_at: Some(TimeMs(w.now + HOUR)) } });
    let room = &w.tenant.room(EventId(0)).unwrap().room;
    assert_eq!(room.phase(), Phase::Paused);
    assert_eq!(room.pause_notice().unwrap().message, "Kurze Pause");
    assert_eq!(w.room(RoomCommand::Admit { count: 1, unsold_places: 6 }).unwrap_err().code(), "room_paused");
    assert_eq!(w.room(RoomCommand::Resume).unwrap_err().code(), "invalid_request", "only the sale drives the brake");
    // Places survive the brake.
    assert_eq!(w.place(2), Some(Place::Waiting { position: 1 }));

    w.now += 60_000;
    w.ok(Command::Sale { event: EventId(0), action: SaleAction::Resume });
    assert_eq!(w.tenant.room(EventId(0)).unwrap().room.phase(), Phase::Admitting);
    match w.place(3) {
        Some(Place::Admitted { until }) => assert_eq!(until.0, until_before.0 + 60_000, "the window got the pause back"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.admit(1), 1);
    assert!(matches!(w.place(2), Some(Place::Admitted { .. })), "resume continues in the drawn order");
}

#[test]
fn the_last_confirmed_place_sells_the_room_out_for_everyone_in_line() {
    let mut w = World::new();
    w.open_and_draw(&[1, 2, 3]);
    for (i, seat) in (0..4u32).enumerate() {
        let Reply::Held(receipt) = w.hold(60 + i as u8, Channel::BoxOffice, None, &[seat]).unwrap() else { panic!() };
        w.ok(Command::Confirm { hold: receipt.hold, payment: "card".into(), buyer: Buyer { name: "K".into(), email: String::new() } });
    }
    let standing = w
        .run(Command::Hold(HoldRequest {
            event: EventId(0),
            customer: CustomerId(70),
            channel: Channel::BoxOffice,
            selection: Selection::Standing { area: AreaId(0), quantity: 2 },
            tariff: TariffId(0),
            admission: None,
        }))
        .unwrap();
    let Reply::Held(receipt) = standing else { panic!() };
    assert_eq!(w.tenant.room(EventId(0)).unwrap().room.phase(), Phase::Admitting, "held is not sold");
    w.ok(Command::Confirm { hold: receipt.hold, payment: "card".into(), buyer: Buyer { name: "K".into(), email: String::new() } });
    assert_eq!(w.tenant.room(EventId(0)).unwrap().room.phase(), Phase::SoldOut);
    for fan in [1, 2, 3] {
        assert_eq!(w.place(fan), Some(Place::SoldOut));
    }
    assert_eq!(w.room(RoomCommand::Join { identity: IdentityKey(99), queue_id: QueueId([99; 16]) }).unwrap_err().code(), "sold_out");
}

#[test]
fn a_room_comes_back_from_a_snapshot_exactly_and_rooms_are_checked_on_creation() {
    let mut w = World::new();
    w.open_and_draw(&[1, 2, 3, 4]);
    w.admit(2);
    w.now += 1_000;
    w.ok(Command::Sale { event: EventId(0), action: SaleAction::Pause { message: "Halt".into(), resume_at: None } });
    let restored = Tenant::restore(w.tenant.parts()).expect("restore");
    assert_eq!(restored, w.tenant);

    let config = w.tenant.room(EventId(0)).unwrap().room.config().clone();
    assert_eq!(w.rejected(Command::CreateRoom { event: EventId(0), config: config.clone(), seed: [0; 32] }), "room_exists");
    assert_eq!(w.rejected(Command::CreateRoom { event: EventId(5), config: config.clone(), seed: [0; 32] }), "unknown_event");
    assert_eq!(w.rejected(Command::Room { event: EventId(5), command: RoomCommand::Tick }), "unknown_event");
    let mut bare = World::without_room();
    let late = RoomConfig { opens_at: TimeMs(OPENS + 1), ..config };
    assert_eq!(bare.rejected(Command::CreateRoom { event: EventId(0), config: late, seed: [0; 32] }), "invalid_request");
    let no_window = RoomConfig { checkout_window_ms: 1, ..World::config() };
    assert_eq!(bare.rejected(Command::CreateRoom { event: EventId(0), config: no_window, seed: [0; 32] }), "invalid_config");
    // Without a room, online holds need no admission.
    bare.now = OPENS;
    assert!(bare.hold(1, Channel::Online, None, &[0]).is_ok());
}
