//! `AmendEvent`: a club changes a game's sale window, quotas and prices after it
//! was created. What it proves: a new price applies to new holds only (a hold
//! taken before keeps its price, and so does its order); a quota cannot go below
//! what its channel holds and sold, and at that bound the channel is full; a
//! closed sale and a waiting room's opening cannot be amended; every rejection
//! changes nothing; and the amended tenant survives a snapshot round trip and
//! passes the invariant check.

use sturmfest_core::*;

struct T {
    tenant: Tenant,
    now: i64,
}

impl T {
    fn apply(&mut self, command: Command) -> Outcome {
        self.now += 1_000;
        let outcome = self.tenant.apply(&Envelope { time: TimeMs(self.now), idempotency: None, command });
        self.tenant.check_invariants();
        outcome
    }

    fn hold(&mut self, channel: Channel, seats: &[u32]) -> Outcome {
        self.apply(Command::Hold(HoldRequest {
            event: EventId(0),
            customer: CustomerId(seats[0] as u64),
            channel,
            selection: Selection::Seats(seats.iter().map(|s| SeatId(*s)).collect()),
            tariff: TariffId(0),
            admission: None,
        }))
    }

    fn spec(&self) -> EventSpec {
        self.tenant.event(EventId(0)).unwrap().spec.clone()
    }
}

fn setup() -> T {
    let mut t = T { tenant: Tenant::new(), now: 1_000_000 };
    let row = |label: &str| RowSpec { label: label.into(), seats: (1..=10).map(|s| SeatSpec { label: s.to_string(), x: s, y: 0 }).collect() };
    let venue = VenueSpec { name: "Halle".into(), blocks: vec![BlockSpec { name: "A".into(), rows: vec![row("1"), row("2")] }], standing: vec![] };
    assert_eq!(t.apply(Command::CreateVenue(venue)), Ok(Reply::VenueCreated { venue: VenueId(0) }));
    let spec = EventSpec {
        name: "Derby".into(),
        venue: VenueId(0),
        starts_at: TimeMs(9_000_000),
        sale_opens_at: TimeMs(0),
        sale_closes_at: TimeMs(9_000_000),
        categories: vec![CategorySpec {
            name: "Sitzplatz".into(),
            places: CategoryPlaces::Blocks(vec![BlockId(0)]),
            tariffs: vec![TariffSpec { name: "Erwachsene".into(), price: Cents(2000) }, TariffSpec { name: "Kind".into(), price: Cents(1000) }],
        }],
        quotas: [None, Some(10), None],
        hold_duration_ms: 600_000,
        order_tickets_max: 8,
        customer_tickets_max: 8,
    };
    assert_eq!(t.apply(Command::CreateEvent(spec)), Ok(Reply::EventCreated { event: EventId(0) }));
    assert!(t.apply(Command::Sale { event: EventId(0), action: SaleAction::Open }).is_ok());
    t
}

fn amendment(t: &T) -> EventAmendment {
    let spec = t.spec();
    EventAmendment { sale_opens_at: spec.sale_opens_at, sale_closes_at: spec.sale_closes_at, quotas: spec.quotas, prices: vec![] }
}

fn amend(t: &mut T, amendment: EventAmendment) -> Outcome {
    t.apply(Command::AmendEvent { event: EventId(0), amendment })
}

#[test]
fn a_new_price_applies_to_new_holds_and_never_to_an_existing_hold_or_order() {
    let mut t = setup();
    let Ok(Reply::Held(before)) = t.hold(Channel::Online, &[0, 1]) else { panic!("held") };
    assert_eq!(before.total, Cents(4000));
    let Ok(Reply::Held(sold)) = t.hold(Channel::Online, &[2]) else { panic!("held") };
    let buyer = Buyer { name: "E".into(), email: "e@x".into() };
    let Ok(Reply::Confirmed { order, .. }) = t.apply(Command::Confirm { hold: sold.hold, payment: "p".into(), buyer: buyer.clone() }) else { panic!("confirmed") };

    let mut change = amendment(&t);
    change.prices = vec![(CategoryId(0), TariffId(0), Cents(2500))];
    assert_eq!(amend(&mut t, change), Ok(Reply::EventAmended { event: EventId(0) }));
    assert_eq!(t.spec().categories[0].tariffs[0].price, Cents(2500));
    assert_eq!(t.spec().categories[0].tariffs[1].price, Cents(1000), "other tariffs keep their price");

    let Ok(Reply::Held(after)) = t.hold(Channel::Online, &[3]) else { panic!("held") };
    assert_eq!(after.total, Cents(2500), "a new hold pays the new price");
    let Ok(Reply::Confirmed { total, .. }) = t.apply(Command::Confirm { hold: before.hold, payment: "p".into(), buyer }) else { panic!("confirmed") };
    assert_eq!(total, Cents(4000), "a hold taken before keeps its price");
    assert_eq!(t.tenant.order(order).unwrap().paid(), Cents(2000), "an existing order is untouched");
}

#[test]
fn a_quota_cannot_go_below_what_its_channel_holds_and_sold() {
    let mut t = setup();
    assert!(t.hold(Channel::BoxOffice, &[0, 1, 2]).is_ok());
    let mut change = amendment(&t);
    change.quotas = [Some(0), Some(2), None];
    let before = t.spec();
    assert!(matches!(amend(&mut t, change.clone()), Err(Rejection::InvalidEvent { .. })));
    assert_eq!(t.spec(), before, "a rejected amendment changes nothing");
    change.quotas = [Some(0), Some(3), None];
    assert!(amend(&mut t, change).is_ok());
    assert_eq!(t.hold(Channel::BoxOffice, &[3]), Err(Rejection::QuotaExhausted { channel: Channel::BoxOffice }));
    assert_eq!(t.hold(Channel::Online, &[4]), Err(Rejection::QuotaExhausted { channel: Channel::Online }));
}

#[test]
fn the_window_prices_and_a_closed_sale_are_checked_before_anything_changes() {
    let mut t = setup();
    let before = t.spec();
    let mut change = amendment(&t);
    change.sale_opens_at = change.sale_closes_at;
    assert!(matches!(amend(&mut t, change), Err(Rejection::InvalidEvent { .. })));
    let mut change = amendment(&t);
    change.prices = vec![(CategoryId(0), TariffId(0), Cents(2500)), (CategoryId(0), TariffId(9), Cents(1))];
    assert_eq!(amend(&mut t, change), Err(Rejection::UnknownTariff));
    let mut change = amendment(&t);
    change.prices = vec![(CategoryId(3), TariffId(0), Cents(1))];
    assert_eq!(amend(&mut t, change), Err(Rejection::UnknownCategory));
    let mut change = amendment(&t);
    change.prices = vec![(CategoryId(0), TariffId(0), Cents(-1))];
    assert!(matches!(amend(&mut t, change), Err(Rejection::InvalidEvent { .. })));
    assert_eq!(t.spec(), before, "nothing changed");
    let unknown = Command::AmendEvent { event: EventId(7), amendment: amendment(&t) };
    assert_eq!(t.apply(unknown), Err(Rejection::UnknownEvent));

    // A later sale end is fine; a closed sale is final.
    let mut change = amendment(&t);
    change.sale_closes_at = TimeMs(8_000_000);
    assert!(amend(&mut t, change).is_ok());
    assert_eq!(t.spec().sale_closes_at, TimeMs(8_000_000));
    assert!(t.apply(Command::Sale { event: EventId(0), action: SaleAction::Close }).is_ok());
    let unchanged = amendment(&t);
    assert_eq!(amend(&mut t, unchanged), Err(Rejection::SaleClosed));

    let restored = Tenant::restore(t.tenant.parts()).expect("restores");
    assert_eq!(restored.event(EventId(0)).unwrap().spec, t.spec(), "the amendment is in the snapshot");
}
