//! Core apply rate: seat-hold commands per second on one core, in memory.
//!
//! Each iteration takes a fresh tenant with the demo-sized arena (3,000 seats in 8
//! blocks, 2 terraces) and applies 3,000 single-seat holds (every seat once), then
//! 3,000 releases — the hot path of a rush. Release builds skip the per-command
//! debug invariant check, as production does.

#![allow(non_upper_case_globals)]

use sturmfest_core::*;

fn main() {
    divan::main();
}

const seats_count: u32 = 3_000;

fn venue() -> VenueSpec {
    VenueSpec {
        name: "Arena".into(),
        blocks: (0..8)
            .map(|b| BlockSpec {
                name: format!("B{b}"),
                rows: (0..15)
                    .map(|r| RowSpec {
                        label: r.to_string(),
                        seats: (0..25).map(|s| SeatSpec { label: s.to_string(), x: s, y: r }).collect(),
                    })
                    .collect(),
            })
            .collect(),
        standing: vec![StandingSpec { name: "Nord".into(), capacity: 1500 }],
    }
}

fn tenant() -> Tenant {
    let mut t = Tenant::new();
    let env = |command| Envelope { time: TimeMs(1_000), idempotency: None, command };
    t.apply(&env(Command::CreateVenue(venue()))).unwrap();
    let spec = EventSpec {
        name: "Game".into(),
        venue: VenueId(0),
        starts_at: TimeMs(10_000_000),
        sale_opens_at: TimeMs(0),
        sale_closes_at: TimeMs(10_000_000),
        categories: vec![
            CategorySpec {
                name: "Sitz".into(),
                places: CategoryPlaces::Blocks((0..8).map(BlockId).collect()),
                tariffs: vec![TariffSpec { name: "Erw".into(), price: Cents(2900) }],
            },
            CategorySpec {
                name: "Steh".into(),
                places: CategoryPlaces::Standing(AreaId(0)),
                tariffs: vec![TariffSpec { name: "Erw".into(), price: Cents(1500) }],
            },
        ],
        quotas: [None, None, None],
        hold_duration_ms: 600_000,
        order_tickets_max: 8,
        customer_tickets_max: 8,
    };
    t.apply(&env(Command::CreateEvent(spec))).unwrap();
    t.apply(&env(Command::Sale { event: EventId(0), action: SaleAction::Open })).unwrap();
    t
}

fn holds() -> Vec<Envelope> {
    (0..seats_count)
        .map(|s| Envelope {
            time: TimeMs(2_000 + i64::from(s)),
            idempotency: None,
            command: Command::Hold(HoldRequest {
                event: EventId(0),
                customer: CustomerId(u64::from(s)),
                channel: Channel::Online,
                selection: Selection::Seats(vec![SeatId(s)]),
                tariff: TariffId(0),
                admission: None,
            }),
        })
        .collect()
}

#[divan::bench(sample_count = 30)]
fn seat_holds(bencher: divan::Bencher) {
    let commands = holds();
    bencher
        .counter(divan::counter::ItemsCount::new(seats_count as usize))
        .with_inputs(tenant)
        .bench_local_values(|mut t| {
            for envelope in &commands {
                let outcome = t.apply(envelope);
                assert!(outcome.is_ok());
            }
            t
        });
}

#[divan::bench(sample_count = 30)]
fn seat_holds_then_releases(bencher: divan::Bencher) {
    let commands = holds();
    let releases: Vec<Envelope> = (1..=u64::from(seats_count))
        .map(|h| Envelope { time: TimeMs(6_000), idempotency: None, command: Command::Release { hold: HoldId(h) } })
        .collect();
    bencher
        .counter(divan::counter::ItemsCount::new(2 * seats_count as usize))
        .with_inputs(tenant)
        .bench_local_values(|mut t| {
            for envelope in commands.iter().chain(&releases) {
                assert!(t.apply(envelope).is_ok());
            }
            t
        });
}

#[divan::bench(sample_count = 30)]
fn best_available_pairs(bencher: divan::Bencher) {
    // 25-seat rows hold 12 adjacent pairs each: 1,440 pairs fit in the 3,000 seats.
    let commands: Vec<Envelope> = (0..1_400u32)
        .map(|i| Envelope {
            time: TimeMs(2_000 + i64::from(i)),
            idempotency: None,
            command: Command::Hold(HoldRequest {
                event: EventId(0),
                customer: CustomerId(u64::from(i)),
                channel: Channel::Online,
                selection: Selection::BestAvailable { category: CategoryId(0), block: None, quantity: 2 },
                tariff: TariffId(0),
                admission: None,
            }),
        })
        .collect();
    bencher
        .counter(divan::counter::ItemsCount::new(commands.len()))
        .with_inputs(tenant)
        .bench_local_values(|mut t| {
            for envelope in &commands {
                assert!(t.apply(envelope).is_ok());
            }
            t
        });
}
