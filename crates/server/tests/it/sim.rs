//! The deterministic simulator of the commit path (in the spirit of TigerBeetle's
//! VOPR): it proves that what the server acknowledges survives crashes, failed
//! fsyncs and torn writes, that state always equals replay of the durable log, and
//! that no seat is ever sold or held twice. One `u64` seed drives a ChaCha RNG that
//! makes every decision — the workload of concurrent fans and a box-office admin,
//! the simulated clock (small steps and jumps past hold expiry), batch sizes,
//! crashes, injected write/fsync failures and how a power cut tears the disk — so a
//! failing seed replays bit for bit. Batches go through `Committer::commit` on a
//! fault-injecting `MemStore`, exactly the code the server runs; after every crash or
//! failed append a new committer comes up through `Committer::recover` on the same
//! store, as a restarted process would, and the old one must find itself fenced (or
//! poisoned, after a failed append). Two references judge
//! every step: a mirror `Tenant` fed only the durably committed envelopes (the
//! recovered state must equal it with `==`), and an auditor — an independent, plain
//! model of seats, holds, orders, expiry, pauses and idempotency — that checks every
//! outcome (each success is allowed, each rejection is justified) and recounts
//! sold + held + free == capacity from its own records and from the tenant's holds
//! and orders. The fans check their own acknowledged replies: an acknowledged order
//! or a still-unexpired acknowledged hold is never lost. A safety phase with faults is
//! followed by a liveness phase without them that must converge: every hold expires,
//! and each event can still be sold out completely.
//!
//! `STURMFEST_SIM_COMMANDS` sets the total number of commands (default 200 000),
//! spread over fixed and fresh seeds; `STURMFEST_SIM_SEED` runs exactly one seed.

// Limits are named like values with their unit last, as in the rest of the project.
#![allow(non_upper_case_globals)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};

use futures::executor::block_on;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sturmfest_core::limits::idempotency_window_ms;
use sturmfest_core::{
    BlockId, BlockSpec, CategoryId, CategoryPlaces, CategorySpec, Cents, Channel, Command, CustomerId, Envelope,
    EventId, EventSpec, HoldId, HoldReceipt, HoldRequest, IdemKey, Idempotency, OrderId, Outcome, Place, Places,
    RefundMode, Rejection, Reply, RowSpec, SaleAction, SaleStatus, SeatId, SeatSpec, SeatState, Selection,
    StandingSpec, TariffId, TariffSpec, Tenant, TicketSelection, TimeMs, VenueId, VenueSpec,
};
use sturmfest_log::mem::{CrashReport, Failpoint, MemLog, MemStore};
use sturmfest_log::{Fence, LogError, Repair, TenantId, recover};
use sturmfest_server::runtime::{Committer, replay_one};

/// Commands of one seed's safety phase. Fixed per seed (not derived from the total)
/// so that `STURMFEST_SIM_SEED` replays a failing seed exactly.
const seed_commands_count: u64 = 6_250;
const default_commands_count: u64 = 200_000;
/// Seeds that run every time, so a regression on a known-good seed is caught even on
/// a day when the fresh seeds are lucky.
const fixed_seeds: [u64; 8] = [
    1,
    42,
    0x5EED_0000_0000_0001,
    0xDEAD_BEEF,
    0x0123_4567_89AB_CDEF,
    0xC0FF_EE00_1234,
    0xFFFF_FFFF_FFFF_FFFF,
    2_026_04_01,
];

const batch_commands_max: usize = 48;
const fans_min_count: usize = 8;
const fans_max_count: usize = 24;
const hold_duration_ms_min: i64 = 10_000;
const hold_duration_ms_max: i64 = 60_000;
const clock_step_ms_max: i64 = 2_000;
/// A jump always passes the longest hold, so jumps make holds expire in bulk.
const clock_jump_ms_max: i64 = 70_000;
/// After a restart the new process's clock may be behind the old one's.
const restart_skew_ms_max: i64 = 3_000;
/// Faults per 1000 batches in the safety phase.
const crash_before_append_per_mille: u32 = 10;
const write_fails_per_mille: u32 = 10;
const fsync_fails_per_mille: u32 = 25;
const crash_after_commit_per_mille: u32 = 15;
const kill_after_commit_per_mille: u32 = 5;
const snapshot_per_mille: u32 = 40;

const _: () = assert!(hold_duration_ms_min >= sturmfest_core::limits::hold_duration_ms_min);
const _: () = assert!(clock_jump_ms_max > hold_duration_ms_max);
const _: () = assert!(batch_commands_max <= sturmfest_log::batch_records_max);
// A seed's simulated time span stays well inside the idempotency window (checked at
// runtime too), so every retry is answered from memory and the auditor's model of
// remembered replies never has to forget.
const _: () =
    assert!((seed_commands_count as i64) * (clock_step_ms_max + clock_jump_ms_max / 20) < idempotency_window_ms);

thread_local! {
    static RUNNING_SEED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The first line of any failure names the seed; the panic's details follow.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(seed) = RUNNING_SEED.with(Cell::get) {
                eprintln!(
                    "sim failed: reproduce with STURMFEST_SIM_SEED={seed} cargo test -p sturmfest-server --test it sim"
                );
            }
            previous(info);
        }));
    });
}

#[test]
fn acknowledged_commands_survive_crashes_failed_fsyncs_and_torn_writes_and_seats_are_never_sold_twice() {
    install_panic_hook();
    let requested = env_u64("STURMFEST_SIM_COMMANDS").unwrap_or(default_commands_count);
    let single = env_u64("STURMFEST_SIM_SEED");
    let seeds: Vec<u64> = match single {
        Some(seed) => vec![seed],
        None => {
            let seed_count = requested.div_ceil(seed_commands_count).max(fixed_seeds.len() as u64 + 1);
            // Fresh seeds vary per run; only the seed itself has to be printed to
            // reproduce, so reading the wall clock here is harmless.
            let mut base = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let fresh = (fixed_seeds.len() as u64..seed_count).map(|_| splitmix64(&mut base));
            fixed_seeds.iter().copied().chain(fresh).collect()
        }
    };
    // Seeds are independent, so they spread over the cores; each seed's run is the
    // same whichever thread it lands on.
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
    let total = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let builder = std::thread::Builder::new().name(format!("sim-worker-{worker}"));
                builder
                    .spawn_scoped(scope, || {
                        let mut stats = Stats::default();
                        while !failed.load(Ordering::Relaxed) {
                            let Some(&seed) = seeds.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
                            RUNNING_SEED.with(|s| s.set(Some(seed)));
                            let run = std::panic::catch_unwind(|| Sim::new(seed).run());
                            RUNNING_SEED.with(|s| s.set(None));
                            match run {
                                Ok(run) => stats.add(&run),
                                Err(panic) => {
                                    failed.store(true, Ordering::Relaxed);
                                    std::panic::resume_unwind(panic);
                                }
                            }
                        }
                        stats
                    })
                    .expect("spawning a simulator thread")
            })
            .collect();
        let mut total = Stats::default();
        for handle in handles {
            match handle.join() {
                Ok(stats) => total.add(&stats),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        total
    });
    println!(
        "sim: seeds {} commands {} batches {} crashes {} failed appends {} torn tails {} dropped batches {} \
         recoveries {} (from snapshot {}) snapshots {} stale writers fenced {} retries {} holds acknowledged {} \
         orders acknowledged {}",
        seeds.len(),
        total.commands,
        total.batches,
        total.crashes,
        total.failed_appends,
        total.torn_tails,
        total.dropped_batches,
        total.recoveries,
        total.snapshot_recoveries,
        total.snapshots,
        total.stale_writers_fenced,
        total.retries,
        total.holds_acknowledged,
        total.orders_acknowledged,
    );
    match single {
        Some(_) => assert!(total.commands >= seed_commands_count, "the seed ran only {} commands", total.commands),
        None => {
            assert!(total.commands >= requested, "ran {} commands, {requested} requested", total.commands);
            // The faults must really have happened: a simulator whose faults were
            // switched off would pass every check while proving nothing.
            assert!(total.crashes > 0, "no crash happened");
            assert!(total.failed_appends > 0, "no append failed");
            assert!(total.torn_tails > 0, "no tail was torn");
            assert!(total.dropped_batches > 0, "no unsynced batch was dropped");
            assert!(total.snapshot_recoveries > 0, "no recovery went through a snapshot");
            assert!(total.stale_writers_fenced > 0, "no stale writer was fenced");
            assert!(total.orders_acknowledged > 0 && total.retries > 0, "the workload did nothing");
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    let raw = raw.trim().replace('_', "");
    let parsed = match raw.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => raw.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={raw} is not a u64: {e}")))
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What the edge would digest from a request body: FNV-1a over its debug form.
fn fingerprint(command: &Command) -> u64 {
    format!("{command:?}").bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn tenant_id() -> TenantId {
    TenantId::new("sim-club").expect("valid tenant id")
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

#[derive(Default, Clone, Debug)]
struct Stats {
    commands: u64,
    batches: u64,
    crashes: u64,
    failed_appends: u64,
    torn_tails: u64,
    dropped_batches: u64,
    recoveries: u64,
    snapshot_recoveries: u64,
    snapshots: u64,
    stale_writers_fenced: u64,
    retries: u64,
    holds_acknowledged: u64,
    orders_acknowledged: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.commands += o.commands;
        self.batches += o.batches;
        self.crashes += o.crashes;
        self.failed_appends += o.failed_appends;
        self.torn_tails += o.torn_tails;
        self.dropped_batches += o.dropped_batches;
        self.recoveries += o.recoveries;
        self.snapshot_recoveries += o.snapshot_recoveries;
        self.snapshots += o.snapshots;
        self.stale_writers_fenced += o.stale_writers_fenced;
        self.retries += o.retries;
        self.holds_acknowledged += o.holds_acknowledged;
        self.orders_acknowledged += o.orders_acknowledged;
    }
}

// ----- the venue -----

const blocks_count: usize = 2;
const rows_per_block_count: usize = 3;
const seats_per_row_count: usize = 8;
const standing_capacity: u32 = 20;

fn venue_spec() -> VenueSpec {
    let blocks = (0..blocks_count)
        .map(|b| BlockSpec {
            name: format!("Block {}", (b'A' + b as u8) as char),
            rows: (0..rows_per_block_count)
                .map(|r| RowSpec {
                    label: format!("{}", r + 1),
                    seats: (0..seats_per_row_count)
                        .map(|s| SeatSpec { label: format!("{}", s + 1), x: s as i32 * 10, y: r as i32 * 10 })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    VenueSpec {
        name: "Eisstadion am Rhein".into(),
        blocks,
        standing: vec![StandingSpec { name: "Stehplatz Nord".into(), capacity: standing_capacity }],
    }
}

/// The auditor's own reading of a venue spec: seats are numbered block → row → seat.
#[derive(Clone, Debug)]
struct Layout {
    /// (block, seat ids) per row, front to back within each block.
    rows: Vec<(usize, Range<u32>)>,
    block_rows: Vec<Vec<usize>>,
    seat_block: Vec<usize>,
    areas: Vec<u32>,
}

impl Layout {
    fn of(spec: &VenueSpec) -> Layout {
        let mut layout = Layout { rows: Vec::new(), block_rows: Vec::new(), seat_block: Vec::new(), areas: Vec::new() };
        for (b, block) in spec.blocks.iter().enumerate() {
            let mut rows = Vec::new();
            for row in &block.rows {
                let start = layout.seat_block.len() as u32;
                layout.seat_block.extend(row.seats.iter().map(|_| b));
                rows.push(layout.rows.len());
                layout.rows.push((b, start..layout.seat_block.len() as u32));
            }
            layout.block_rows.push(rows);
        }
        layout.areas = spec.standing.iter().map(|a| a.capacity).collect();
        layout
    }
}

// ----- the auditor: an independent model of what every outcome must mean -----

#[derive(Clone, Debug, PartialEq)]
enum Sale {
    Draft,
    Open,
    Paused { since: TimeMs, message: String, resume_at: Option<TimeMs> },
}

#[derive(Clone, Debug)]
struct AEvent {
    spec: EventSpec,
    venue: usize,
    sale: Sale,
    seat_category: Vec<Option<u16>>,
    area_category: Vec<Option<u16>>,
    owner: Vec<SeatState>,
    area_held: Vec<u32>,
    area_sold: Vec<u32>,
}

#[derive(Clone, Debug)]
struct AHold {
    event: usize,
    customer: CustomerId,
    channel: Channel,
    category: u16,
    places: Places,
    expires_at: TimeMs,
    price_each: Cents,
}

#[derive(Clone, Debug)]
struct ATicket {
    place: Place,
    price: Cents,
    cancelled: bool,
}

#[derive(Clone, Debug)]
struct AOrder {
    event: usize,
    hold: HoldId,
    customer: CustomerId,
    channel: Channel,
    tickets: Vec<ATicket>,
    refunds: Vec<Cents>,
}

impl AOrder {
    fn paid(&self) -> i64 {
        self.tickets.iter().map(|t| t.price.0).sum()
    }
    fn refunded(&self) -> i64 {
        self.refunds.iter().map(|r| r.0).sum()
    }
}

#[derive(Clone, Debug, Default)]
struct Auditor {
    now: TimeMs,
    layouts: Vec<Layout>,
    events: Vec<AEvent>,
    holds: BTreeMap<HoldId, AHold>,
    next_hold: u64,
    orders: Vec<AOrder>,
    confirmed: BTreeMap<HoldId, OrderId>,
    remembered: BTreeMap<IdemKey, (u64, Reply)>,
}

fn places_of_hold(places: &Places) -> Vec<Place> {
    match places {
        Places::Seats(seats) => seats.iter().map(|s| Place::Seat(*s)).collect(),
        Places::Standing { area, quantity } => vec![Place::Standing(*area); *quantity as usize],
    }
}

fn quantity_of(selection: &Selection) -> u32 {
    match selection {
        Selection::Seats(seats) => seats.len() as u32,
        Selection::Standing { quantity, .. } | Selection::BestAvailable { quantity, .. } => *quantity,
    }
}

impl Auditor {
    fn new() -> Auditor {
        Auditor { next_hold: 1, ..Auditor::default() }
    }

    /// Checks one durably committed outcome against the model and advances the model.
    fn apply(&mut self, envelope: &Envelope, outcome: &Outcome) -> Result<(), String> {
        self.now = self.now.max(envelope.time);
        let expired = self.expire_due();
        if let Some(idem) = envelope.idempotency {
            if let Some((fingerprint, reply)) = self.remembered.get(&idem.key) {
                if *fingerprint != idem.fingerprint {
                    ensure!(
                        *outcome == Err(Rejection::IdempotencyKeyReused),
                        "key reused with another request: {outcome:?}"
                    );
                } else {
                    ensure!(*outcome == Ok(reply.clone()), "retry answered {outcome:?}, first reply was {reply:?}");
                }
                return Ok(());
            }
        }
        match &envelope.command {
            Command::CreateVenue(spec) => {
                ensure!(
                    *outcome == Ok(Reply::VenueCreated { venue: VenueId(self.layouts.len() as u32) }),
                    "{outcome:?}"
                );
                self.layouts.push(Layout::of(spec));
            }
            Command::CreateEvent(spec) => {
                ensure!(
                    *outcome == Ok(Reply::EventCreated { event: EventId(self.events.len() as u32) }),
                    "{outcome:?}"
                );
                self.add_event(spec.clone());
            }
            Command::Sale { event, action } => self.sale(*event, action, outcome)?,
            Command::Hold(request) => self.hold(request, outcome)?,
            Command::Release { hold } => self.release(*hold, outcome)?,
            Command::Confirm { hold, .. } => self.confirm(*hold, outcome)?,
            Command::Cancel { order, tickets, refund } => self.cancel(*order, tickets, *refund, outcome)?,
            Command::Refund { order, amount, .. } => self.refund(*order, *amount, outcome)?,
            Command::Tick => {
                ensure!(*outcome == Ok(Reply::Ticked { expired }), "tick: {outcome:?}, expected {expired} expired")
            }
            // The simulator's workload has no waiting rooms and no vouchers (their own
            // models check them: crates/core/tests/it/queue.rs, rooms.rs, ledger.rs
            // vouchers.rs and cards.rs; committer.rs takes the ledger through a real store).
            Command::CreateRoom { .. } | Command::Room { .. } => ensure!(false, "the workload sends no room commands"),
            Command::Ledger(_) => ensure!(false, "the workload sends no ledger commands"),
            Command::Voucher(_) => ensure!(false, "the workload sends no voucher commands"),
            // Staff accounts have their own model: crates/core/tests/it/staff.rs.
            Command::Staff(_) => ensure!(false, "the workload sends no staff commands"),
            // Amendments are checked by the core scenario test and the office's HTTP tests.
            Command::AmendEvent { .. } => ensure!(false, "the workload sends no amendments"),
            Command::Payment(_) => ensure!(false, "the workload sends no payment commands"),
        }
        if let (Some(idem), Ok(reply)) = (envelope.idempotency, outcome) {
            self.remembered.insert(idem.key, (idem.fingerprint, reply.clone()));
        }
        Ok(())
    }

    fn add_event(&mut self, spec: EventSpec) {
        let venue = spec.venue.0 as usize;
        let layout = &self.layouts[venue];
        let mut seat_category = vec![None; layout.seat_block.len()];
        let mut area_category = vec![None; layout.areas.len()];
        for (c, category) in spec.categories.iter().enumerate() {
            match &category.places {
                CategoryPlaces::Blocks(blocks) => {
                    for (seat, block) in layout.seat_block.iter().enumerate() {
                        if blocks.contains(&BlockId(*block as u16)) {
                            seat_category[seat] = Some(c as u16);
                        }
                    }
                }
                CategoryPlaces::Standing(area) => area_category[usize::from(area.0)] = Some(c as u16),
            }
        }
        let owner =
            seat_category.iter().map(|c| if c.is_some() { SeatState::Free } else { SeatState::NotForSale }).collect();
        self.events.push(AEvent {
            spec,
            venue,
            sale: Sale::Draft,
            seat_category,
            owner,
            area_held: vec![0; area_category.len()],
            area_sold: vec![0; area_category.len()],
            area_category,
        });
    }

    fn expire_due(&mut self) -> u32 {
        let now = self.now;
        let due: Vec<HoldId> = self
            .holds
            .iter()
            .filter(|(_, h)| h.expires_at <= now && !matches!(self.events[h.event].sale, Sale::Paused { .. }))
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            let hold = self.holds.remove(id).expect("due hold is live");
            self.give_back(&hold, *id);
        }
        due.len() as u32
    }

    fn give_back(&mut self, hold: &AHold, id: HoldId) {
        let event = &mut self.events[hold.event];
        match &hold.places {
            Places::Seats(seats) => {
                for seat in seats {
                    assert_eq!(event.owner[seat.0 as usize], SeatState::Held(id), "auditor: hold returns its own seat");
                    event.owner[seat.0 as usize] = SeatState::Free;
                }
            }
            Places::Standing { area, quantity } => event.area_held[usize::from(area.0)] -= quantity,
        }
    }

    fn capacity(&self, e: usize) -> u32 {
        let event = &self.events[e];
        let seats = event.seat_category.iter().filter(|c| c.is_some()).count() as u32;
        let areas: u32 = (0..event.area_category.len())
            .filter(|a| event.area_category[*a].is_some())
            .map(|a| self.layouts[event.venue].areas[a])
            .sum();
        seats + areas
    }

    fn free(&self, e: usize) -> u32 {
        let event = &self.events[e];
        let seats = event.owner.iter().filter(|s| **s == SeatState::Free).count() as u32;
        let areas: u32 = (0..event.area_category.len())
            .filter(|a| event.area_category[*a].is_some())
            .map(|a| self.layouts[event.venue].areas[a] - event.area_held[a] - event.area_sold[a])
            .sum();
        seats + areas
    }

    fn category_free(&self, e: usize, category: u16) -> u32 {
        let event = &self.events[e];
        let seats = (0..event.owner.len())
            .filter(|s| event.seat_category[*s] == Some(category) && event.owner[*s] == SeatState::Free)
            .count() as u32;
        let areas: u32 = (0..event.area_category.len())
            .filter(|a| event.area_category[*a] == Some(category))
            .map(|a| self.layouts[event.venue].areas[a] - event.area_held[a] - event.area_sold[a])
            .sum();
        seats + areas
    }

    fn block_free(&self, e: usize, block: BlockId) -> u32 {
        let event = &self.events[e];
        let layout = &self.layouts[event.venue];
        (0..event.owner.len())
            .filter(|s| layout.seat_block[*s] == usize::from(block.0) && event.owner[*s] == SeatState::Free)
            .count() as u32
    }

    /// Tickets held or sold (valid) in event `e` matching `filter` on (customer, channel).
    fn used(&self, e: usize, filter: impl Fn(CustomerId, Channel) -> bool) -> u32 {
        let held: u32 = self
            .holds
            .values()
            .filter(|h| h.event == e && filter(h.customer, h.channel))
            .map(|h| h.places.count())
            .sum();
        let sold: u32 = self
            .orders
            .iter()
            .filter(|o| o.event == e && filter(o.customer, o.channel))
            .map(|o| o.tickets.iter().filter(|t| !t.cancelled).count() as u32)
            .sum();
        held + sold
    }

    fn sale_gate(&self, e: usize) -> Result<(), Rejection> {
        let event = &self.events[e];
        match &event.sale {
            Sale::Draft => Err(Rejection::SaleNotOpen),
            Sale::Paused { message, resume_at, .. } => {
                Err(Rejection::SalePaused { message: message.clone(), resume_at: *resume_at })
            }
            Sale::Open if self.now < event.spec.sale_opens_at => {
                Err(Rejection::SaleNotStarted { opens_at: event.spec.sale_opens_at })
            }
            Sale::Open if self.now >= event.spec.sale_closes_at => Err(Rejection::SaleEnded),
            Sale::Open => Ok(()),
        }
    }

    /// The spec of "best available": blocks in the category's listed order, rows front
    /// to back, and in the first row with a run of `quantity` free adjacent seats the
    /// run whose middle is closest to the row's middle (the leftmost on a tie).
    fn best_available(&self, e: usize, category: u16, block: Option<BlockId>, quantity: u32) -> Option<Vec<SeatId>> {
        let event = &self.events[e];
        let layout = &self.layouts[event.venue];
        let CategoryPlaces::Blocks(blocks) = &event.spec.categories[usize::from(category)].places else {
            return None;
        };
        for b in blocks.iter().filter(|b| block.is_none_or(|only| only == **b)) {
            for &row in &layout.block_rows[usize::from(b.0)] {
                let seats = layout.rows[row].1.clone();
                if (seats.len() as u32) < quantity {
                    continue;
                }
                let middle2 = i64::from(seats.start) * 2 + seats.len() as i64 - 1;
                let mut best: Option<(i64, u32)> = None;
                for start in seats.start..=seats.end - quantity {
                    if (start..start + quantity).all(|s| event.owner[s as usize] == SeatState::Free) {
                        let distance = (i64::from(start) * 2 + i64::from(quantity) - 1 - middle2).abs();
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

    fn hold(&mut self, request: &HoldRequest, outcome: &Outcome) -> Result<(), String> {
        let e = request.event.0 as usize;
        ensure!(e < self.events.len(), "hold for an unknown event: {outcome:?}");
        let q = quantity_of(&request.selection);
        let event = &self.events[e];
        let gate = self.sale_gate(e);
        let customer_used = if request.channel == Channel::Online {
            self.used(e, |c, ch| ch == Channel::Online && c == request.customer)
        } else {
            0
        };
        let channel_used = self.used(e, |_, ch| ch == request.channel);
        let quota = event.spec.quotas[request.channel.index()];
        let reply = match outcome {
            Ok(Reply::Held(receipt)) => receipt,
            Ok(other) => return Err(format!("hold answered {other:?}")),
            Err(rejection) => {
                let justified = match rejection {
                    Rejection::SaleNotOpen
                    | Rejection::SalePaused { .. }
                    | Rejection::SaleNotStarted { .. }
                    | Rejection::SaleEnded => gate.as_ref().err() == Some(rejection),
                    // Every later check runs only once the sale gate has passed.
                    _ if gate.is_err() => false,
                    Rejection::HoldTooLarge { max } => *max == event.spec.order_tickets_max && q > *max,
                    Rejection::CustomerLimitReached { max } => {
                        request.channel == Channel::Online
                            && *max == event.spec.customer_tickets_max
                            && customer_used + q > *max
                    }
                    Rejection::QuotaExhausted { channel } => {
                        *channel == request.channel && quota.is_some_and(|quota| channel_used + q > quota)
                    }
                    Rejection::SeatUnavailable { seat } => match &request.selection {
                        Selection::Seats(seats) => {
                            seats.contains(seat)
                                && matches!(event.owner[seat.0 as usize], SeatState::Held(_) | SeatState::Sold(_))
                        }
                        _ => false,
                    },
                    Rejection::SeatNotForSale { seat } => match &request.selection {
                        Selection::Seats(seats) => {
                            seats.contains(seat) && event.seat_category[seat.0 as usize].is_none()
                        }
                        _ => false,
                    },
                    Rejection::SoldOut => match &request.selection {
                        Selection::Standing { area, .. } => {
                            let a = usize::from(area.0);
                            self.layouts[event.venue].areas[a] - event.area_held[a] - event.area_sold[a] < q
                        }
                        // Restricted to one block, only that block's free seats count.
                        Selection::BestAvailable { category, block: None, .. } => self.category_free(e, category.0) < q,
                        Selection::BestAvailable { block: Some(block), .. } => self.block_free(e, *block) < q,
                        Selection::Seats(_) => false,
                    },
                    Rejection::NotEnoughAdjacentSeats => match &request.selection {
                        Selection::BestAvailable { category, block, .. } => {
                            self.best_available(e, category.0, *block, q).is_none()
                        }
                        _ => false,
                    },
                    _ => false,
                };
                ensure!(justified, "hold {request:?} rejected with {rejection:?}, which the model does not justify");
                return Ok(());
            }
        };
        ensure!(gate.is_ok(), "hold accepted although the sale gate says {gate:?}");
        ensure!(q >= 1 && q <= event.spec.order_tickets_max, "hold of {q} accepted");
        ensure!(reply.hold == HoldId(self.next_hold), "hold id {} but {} was next", reply.hold, self.next_hold);
        ensure!(reply.event == request.event, "receipt for another event");
        ensure!(reply.expires_at == self.now.plus_ms(event.spec.hold_duration_ms), "expiry {:?}", reply.expires_at);
        ensure!(reply.places.count() == q, "receipt holds {} places, {q} asked", reply.places.count());
        if request.channel == Channel::Online {
            ensure!(customer_used + q <= event.spec.customer_tickets_max, "customer limit ignored");
        }
        ensure!(quota.is_none_or(|quota| channel_used + q <= quota), "channel quota ignored");
        let category = match (&request.selection, &reply.places) {
            (Selection::Seats(asked), Places::Seats(got)) => {
                ensure!(asked == got, "asked seats {asked:?}, got {got:?}");
                let category = event.seat_category[got[0].0 as usize];
                ensure!(got.iter().all(|s| event.seat_category[s.0 as usize] == category), "seats span categories");
                category
            }
            (Selection::Standing { area, quantity }, Places::Standing { area: got_area, quantity: got_q }) => {
                ensure!(area == got_area && quantity == got_q, "standing receipt differs from request");
                let a = usize::from(area.0);
                ensure!(
                    self.layouts[event.venue].areas[a] - event.area_held[a] - event.area_sold[a] >= q,
                    "standing oversold"
                );
                event.area_category[a]
            }
            (Selection::BestAvailable { category, block, quantity }, Places::Seats(got)) => {
                let expected = self.best_available(e, category.0, *block, *quantity);
                ensure!(expected.as_ref() == Some(got), "best available chose {got:?}, the spec says {expected:?}");
                Some(category.0)
            }
            (selection, places) => return Err(format!("{selection:?} answered with {places:?}")),
        };
        let category = category.ok_or("held places not for sale")?;
        let tariff = event.spec.categories[usize::from(category)]
            .tariffs
            .get(usize::from(request.tariff.0))
            .ok_or("hold accepted with an unknown tariff")?;
        ensure!(reply.total == tariff.price.times(q), "total {:?}", reply.total);
        let hold = AHold {
            event: e,
            customer: request.customer,
            channel: request.channel,
            category,
            places: reply.places.clone(),
            expires_at: reply.expires_at,
            price_each: tariff.price,
        };
        let event = &mut self.events[e];
        match &hold.places {
            Places::Seats(seats) => {
                for seat in seats {
                    let owner = &mut event.owner[seat.0 as usize];
                    ensure!(*owner == SeatState::Free, "seat {seat} handed to hold {} but is {owner:?}", reply.hold);
                    *owner = SeatState::Held(reply.hold);
                }
            }
            Places::Standing { area, quantity } => event.area_held[usize::from(area.0)] += quantity,
        }
        self.holds.insert(reply.hold, hold);
        self.next_hold += 1;
        Ok(())
    }

    /// The rejection for a hold that is not live, as the model sees it.
    fn missing_hold(&self, id: HoldId) -> Rejection {
        match self.confirmed.get(&id) {
            Some(order) => Rejection::HoldAlreadyConfirmed { order: *order },
            None if id.0 >= 1 && id.0 < self.next_hold => Rejection::HoldEnded,
            None => Rejection::UnknownHold,
        }
    }

    fn release(&mut self, id: HoldId, outcome: &Outcome) -> Result<(), String> {
        match outcome {
            Ok(reply) => {
                ensure!(*reply == Reply::Released { hold: id }, "release answered {reply:?}");
                let hold = self.holds.remove(&id).ok_or(format!("released hold {id} that the model has not live"))?;
                self.give_back(&hold, id);
            }
            Err(rejection) => {
                ensure!(!self.holds.contains_key(&id), "release of live hold {id} rejected: {rejection:?}");
                ensure!(*rejection == self.missing_hold(id), "release of {id}: {rejection:?}");
            }
        }
        Ok(())
    }

    fn confirm(&mut self, id: HoldId, outcome: &Outcome) -> Result<(), String> {
        let Some(hold) = self.holds.get(&id) else {
            ensure!(*outcome == Err(self.missing_hold(id)), "confirm of hold {id} (not live): {outcome:?}");
            return Ok(());
        };
        let gate = self.sale_gate(hold.event);
        let (order, total) = match outcome {
            Ok(Reply::Confirmed { order, total }) => (*order, *total),
            Err(rejection) => {
                ensure!(gate.as_ref().err() == Some(rejection), "confirm of live hold {id} rejected: {rejection:?}");
                return Ok(());
            }
            Ok(other) => return Err(format!("confirm answered {other:?}")),
        };
        ensure!(gate.is_ok(), "confirm accepted although the sale gate says {gate:?}");
        ensure!(order == OrderId(self.orders.len() as u64 + 1), "order id {order} not dense");
        let hold = self.holds.remove(&id).expect("checked above");
        ensure!(total == hold.price_each.times(hold.places.count()), "total {total:?}");
        let event = &mut self.events[hold.event];
        match &hold.places {
            Places::Seats(seats) => {
                for seat in seats {
                    let owner = &mut event.owner[seat.0 as usize];
                    ensure!(*owner == SeatState::Held(id), "confirmed seat {seat} was {owner:?}");
                    *owner = SeatState::Sold(order);
                }
            }
            Places::Standing { area, quantity } => {
                event.area_held[usize::from(area.0)] -= quantity;
                event.area_sold[usize::from(area.0)] += quantity;
            }
        }
        let tickets = places_of_hold(&hold.places)
            .into_iter()
            .map(|place| ATicket { place, price: hold.price_each, cancelled: false })
            .collect();
        self.orders.push(AOrder {
            event: hold.event,
            hold: id,
            customer: hold.customer,
            channel: hold.channel,
            tickets,
            refunds: Vec::new(),
        });
        self.confirmed.insert(id, order);
        Ok(())
    }

    fn cancel(
        &mut self,
        id: OrderId,
        which: &TicketSelection,
        refund: RefundMode,
        outcome: &Outcome,
    ) -> Result<(), String> {
        let Some(index) = id.0.checked_sub(1).map(|i| i as usize).filter(|i| *i < self.orders.len()) else {
            ensure!(*outcome == Err(Rejection::UnknownOrder), "cancel of unknown order {id}: {outcome:?}");
            return Ok(());
        };
        let order = &self.orders[index];
        let indices: Result<Vec<usize>, Rejection> = match which {
            TicketSelection::All => {
                let valid: Vec<usize> = (0..order.tickets.len()).filter(|i| !order.tickets[*i].cancelled).collect();
                if valid.is_empty() { Err(Rejection::TicketAlreadyCancelled) } else { Ok(valid) }
            }
            TicketSelection::Some(list) if list.is_empty() || list.len() > order.tickets.len() => {
                Err(Rejection::InvalidRequest { reason: "name 1 to all tickets of the order" })
            }
            TicketSelection::Some(list) => {
                let mut seen = Vec::new();
                let mut result = Ok(());
                for i in list.iter().map(|i| usize::from(*i)) {
                    match order.tickets.get(i) {
                        None => {
                            result = Err(Rejection::UnknownTicket);
                            break;
                        }
                        Some(_) if seen.contains(&i) => {
                            result = Err(Rejection::InvalidRequest { reason: "a ticket index appears twice" });
                            break;
                        }
                        Some(t) if t.cancelled => {
                            result = Err(Rejection::TicketAlreadyCancelled);
                            break;
                        }
                        Some(_) => seen.push(i),
                    }
                }
                result.map(|()| seen)
            }
        };
        let indices = match (indices, outcome) {
            (Err(expected), Err(got)) => {
                ensure!(expected == *got, "cancel of {id}: expected {expected:?}, got {got:?}");
                return Ok(());
            }
            (Ok(indices), Ok(_)) => indices,
            (expected, got) => return Err(format!("cancel of {id} {which:?}: expected {expected:?}, got {got:?}")),
        };
        let amount: i64 = indices.iter().map(|i| order.tickets[*i].price.0).sum();
        let refunded = match refund {
            RefundMode::Full => amount.min(order.paid() - order.refunded()),
            RefundMode::None => 0,
        };
        let expected = Reply::Cancelled { order: id, tickets: indices.len() as u32, refunded: Cents(refunded) };
        ensure!(*outcome == Ok(expected.clone()), "cancel of {id}: expected {expected:?}, got {outcome:?}");
        let order = &mut self.orders[index];
        let event = &mut self.events[order.event];
        for i in indices {
            let ticket = &mut order.tickets[i];
            ticket.cancelled = true;
            match ticket.place {
                Place::Seat(seat) => {
                    let owner = &mut event.owner[seat.0 as usize];
                    ensure!(*owner == SeatState::Sold(id), "cancelled seat {seat} was {owner:?}");
                    *owner = SeatState::Free;
                }
                Place::Standing(area) => event.area_sold[usize::from(area.0)] -= 1,
            }
        }
        // A refund entry of zero would be no money moved: refunds are positive.
        if refunded > 0 {
            order.refunds.push(Cents(refunded));
        }
        Ok(())
    }

    fn refund(&mut self, id: OrderId, amount: Cents, outcome: &Outcome) -> Result<(), String> {
        let Some(index) = id.0.checked_sub(1).map(|i| i as usize).filter(|i| *i < self.orders.len()) else {
            ensure!(*outcome == Err(Rejection::UnknownOrder), "refund of unknown order {id}: {outcome:?}");
            return Ok(());
        };
        let order = &mut self.orders[index];
        if amount.0 <= 0 {
            ensure!(matches!(outcome, Err(Rejection::InvalidRequest { .. })), "refund of {amount:?}: {outcome:?}");
        } else if order.refunded() + amount.0 > order.paid() {
            ensure!(*outcome == Err(Rejection::RefundExceedsPaid), "refund over paid: {outcome:?}");
        } else {
            ensure!(*outcome == Ok(Reply::Refunded { order: id, amount }), "refund of {id}: {outcome:?}");
            order.refunds.push(amount);
        }
        Ok(())
    }

    fn sale(&mut self, id: EventId, action: &SaleAction, outcome: &Outcome) -> Result<(), String> {
        let e = id.0 as usize;
        ensure!(e < self.events.len(), "sale of unknown event: {outcome:?}");
        let now = self.now;
        let current = self.events[e].sale.clone();
        let next = match (&current, action) {
            (Sale::Draft, SaleAction::Open) => Ok(Sale::Open),
            (Sale::Open | Sale::Paused { .. }, SaleAction::Open) => Err(Rejection::SaleAlreadyInState),
            // The brake stops a running sale; a draft has nothing to stop.
            (Sale::Draft, SaleAction::Pause { .. }) => Err(Rejection::SaleNotOpen),
            (Sale::Open, SaleAction::Pause { message, resume_at }) => {
                Ok(Sale::Paused { since: now, message: message.clone(), resume_at: *resume_at })
            }
            (Sale::Paused { since, .. }, SaleAction::Pause { message, resume_at }) => {
                Ok(Sale::Paused { since: *since, message: message.clone(), resume_at: *resume_at })
            }
            (Sale::Paused { .. }, SaleAction::Resume) => Ok(Sale::Open),
            (Sale::Draft | Sale::Open, SaleAction::Resume) => Err(Rejection::SaleAlreadyInState),
            (_, SaleAction::Close) => return Err("the simulator never closes a sale".into()),
        };
        match next {
            Err(rejection) => {
                ensure!(*outcome == Err(rejection.clone()), "sale {action:?}: expected {rejection:?}, got {outcome:?}")
            }
            Ok(next) => {
                ensure!(*outcome == Ok(Reply::SaleChanged { event: id }), "sale {action:?}: {outcome:?}");
                if let (Sale::Paused { since, .. }, Sale::Open) = (&current, &next) {
                    // Resuming gives every frozen hold back the time the brake took.
                    let paused_ms = now.0 - since.0;
                    for hold in self.holds.values_mut().filter(|h| h.event == e) {
                        hold.expires_at = hold.expires_at.plus_ms(paused_ms);
                    }
                }
                self.events[e].sale = next;
            }
        }
        Ok(())
    }

    /// The whole model against the tenant, plus the capacity recount.
    fn compare(&self, tenant: &Tenant) -> Result<(), String> {
        ensure!(tenant.now() == self.now, "tenant now {:?}, model now {:?}", tenant.now(), self.now);
        ensure!(tenant.events().len() == self.events.len(), "event count");
        for (e, model) in self.events.iter().enumerate() {
            let event = &tenant.events()[e];
            let sale_agrees = match (&model.sale, &event.sale) {
                (Sale::Draft, SaleStatus::Draft) | (Sale::Open, SaleStatus::Open) => true,
                (
                    Sale::Paused { since, message, resume_at },
                    SaleStatus::Paused { since: s, message: m, resume_at: r },
                ) => since == s && message == m && resume_at == r,
                _ => false,
            };
            ensure!(sale_agrees, "event {e} sale {:?}, model {:?}", event.sale, model.sale);
            for (s, (got, want)) in event.seats.iter().zip(&model.owner).enumerate() {
                ensure!(got == want, "event {e} seat {s}: tenant {got:?}, model {want:?}");
            }
            for a in 0..model.area_held.len() {
                let counts = event.areas[a];
                ensure!(
                    counts.held == model.area_held[a] && counts.sold == model.area_sold[a],
                    "event {e} area {a}: tenant {counts:?}, model held {} sold {}",
                    model.area_held[a],
                    model.area_sold[a]
                );
            }
            // Recount from the tenant's own holds and orders, not its counters.
            let held: u32 = tenant.holds().filter(|h| h.event.0 as usize == e).map(|h| h.places.count()).sum();
            let sold: u32 = tenant
                .orders()
                .iter()
                .filter(|o| o.event.0 as usize == e)
                .map(|o| o.valid_tickets().count() as u32)
                .sum();
            let model_held: u32 = self.holds.values().filter(|h| h.event == e).map(|h| h.places.count()).sum();
            let model_sold = self.used(e, |_, _| true) - model_held;
            let (free, capacity) = (self.free(e), self.capacity(e));
            ensure!(
                held == model_held && sold == model_sold,
                "event {e}: held {held}/{model_held} sold {sold}/{model_sold}"
            );
            ensure!(held + sold + free == capacity, "event {e}: held {held} + sold {sold} + free {free} != {capacity}");
            let counters = (event.held(), event.sold(), event.free(), event.capacity());
            ensure!(counters == (held, sold, free, capacity), "event {e} counters {counters:?} vs recount");
        }
        ensure!(
            tenant.holds().count() == self.holds.len(),
            "{} live holds, model {}",
            tenant.holds().count(),
            self.holds.len()
        );
        for hold in tenant.holds() {
            let model = self.holds.get(&hold.id).ok_or(format!("hold {} is live but not in the model", hold.id))?;
            ensure!(
                hold.event.0 as usize == model.event
                    && hold.places == model.places
                    && hold.expires_at == model.expires_at
                    && hold.customer == model.customer
                    && hold.channel == model.channel
                    && hold.category == CategoryId(model.category),
                "hold {} differs: {hold:?} vs {model:?}",
                hold.id
            );
        }
        ensure!(
            tenant.orders().len() == self.orders.len(),
            "{} orders, model {}",
            tenant.orders().len(),
            self.orders.len()
        );
        for (order, model) in tenant.orders().iter().zip(&self.orders) {
            let tickets_agree =
                order.tickets.len() == model.tickets.len()
                    && order.tickets.iter().zip(&model.tickets).all(|(t, m)| {
                        t.place == m.place && t.price == m.price && t.cancelled_at.is_some() == m.cancelled
                    });
            let refunds: Vec<Cents> = order.refunds.iter().map(|r| r.amount).collect();
            ensure!(
                order.event.0 as usize == model.event
                    && order.hold == model.hold
                    && order.customer == model.customer
                    && order.channel == model.channel
                    && tickets_agree
                    && refunds == model.refunds,
                "order {} differs: {order:?} vs {model:?}",
                order.id
            );
        }
        Ok(())
    }
}

// ----- the simulated clients -----

#[derive(Clone, Debug)]
struct Request {
    command: Command,
    idempotency: Option<Idempotency>,
    /// A duplicate of an already answered request (a client that timed out on a reply
    /// that did arrive); it must be answered exactly as before and changes nothing.
    duplicate: bool,
}

#[derive(Clone, Debug)]
enum FanState {
    Idle,
    Holding {
        receipt: HoldReceipt,
    },
    /// A request whose batch crashed or failed: the fan does not know its fate.
    Unknown(Request),
}

#[derive(Clone, Debug)]
struct Fan {
    customer: CustomerId,
    state: FanState,
    last_answered: Option<(Request, Outcome)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Fan(usize),
    Admin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    CrashBeforeAppend,
    AppendFails(Failpoint),
    /// Committed (durable) but the process dies before any reply leaves it; with or
    /// without losing power (which then has nothing unsynced to drop).
    DiesAfterCommit {
        power_loss: bool,
    },
}

/// A batch whose append failed: what the log may or may not hold afterwards.
struct Uncertain {
    envelopes: Vec<Envelope>,
    /// Whether it must still be in the log when the next process recovers.
    survives: bool,
}

struct Sim {
    seed: u64,
    rng: ChaCha8Rng,
    store: MemStore,
    committer: Option<Committer<MemLog>>,
    clock_ms: i64,
    start_ms: i64,
    /// Every envelope in the durable log, at index seq - 1.
    durable: Vec<Envelope>,
    /// A tenant fed exactly `durable`, never restored from a snapshot.
    mirror: Tenant,
    auditor: Auditor,
    fans: Vec<Fan>,
    admin_unknown: Vec<Request>,
    next_key: u128,
    /// Hold receipts and orders the fans were told about: (order → hold).
    receipts: BTreeMap<HoldId, HoldReceipt>,
    acknowledged_orders: BTreeMap<OrderId, HoldId>,
    stats: Stats,
    faults: bool,
    /// What the last power cut did, for the next recovery to account for.
    last_crash: Option<CrashReport>,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let fans = (0..rng.random_range(fans_min_count..=fans_max_count))
            .map(|i| Fan { customer: CustomerId(1000 + i as u64), state: FanState::Idle, last_answered: None })
            .collect();
        let start_ms = 1_760_000_000_000 + rng.random_range(0..1_000_000_000);
        Sim {
            seed,
            rng,
            store: MemStore::new(),
            committer: None,
            clock_ms: start_ms,
            start_ms,
            durable: Vec::new(),
            mirror: Tenant::new(),
            auditor: Auditor::new(),
            fans,
            admin_unknown: Vec::new(),
            next_key: u128::from(seed) << 64,
            receipts: BTreeMap::new(),
            acknowledged_orders: BTreeMap::new(),
            stats: Stats::default(),
            faults: true,
            last_crash: None,
        }
    }

    fn run(mut self) -> Stats {
        let (committer, _) =
            block_on(Committer::recover(Arc::new(self.store.open()), tenant_id())).expect("fresh start");
        self.committer = Some(committer);
        self.setup();
        while self.stats.commands < seed_commands_count {
            self.step();
        }
        self.liveness();
        let span = self.auditor.now.0 - self.start_ms;
        assert!(span < idempotency_window_ms, "seed {} spanned {span} ms of simulated time", self.seed);
        self.stats
    }

    fn committer(&mut self) -> &mut Committer<MemLog> {
        self.committer.as_mut().expect("a committer is running")
    }

    fn new_key(&mut self, command: &Command) -> Idempotency {
        self.next_key += 1;
        Idempotency { key: IdemKey(self.next_key), fingerprint: fingerprint(command) }
    }

    fn envelope(&mut self, request: &Request) -> Envelope {
        self.clock_ms += self.rng.random_range(0..=3);
        Envelope { time: TimeMs(self.clock_ms), idempotency: request.idempotency, command: request.command.clone() }
    }

    /// Commits without faults; every outcome is delivered to the caller.
    fn commit_clean(&mut self, commands: Vec<Command>) -> Vec<Outcome> {
        let envelopes: Vec<Envelope> = commands
            .into_iter()
            .map(|command| {
                let idempotency = Some(self.new_key(&command));
                self.envelope(&Request { command, idempotency, duplicate: false })
            })
            .collect();
        self.stats.commands += envelopes.len() as u64;
        self.stats.batches += 1;
        let outcomes = block_on(self.committer().commit(envelopes.clone())).expect("append without faults");
        self.made_durable(envelopes, Some(&outcomes));
        self.check_state();
        outcomes
    }

    fn setup(&mut self) {
        let outcomes = self.commit_clean(vec![Command::CreateVenue(venue_spec())]);
        assert_eq!(outcomes, vec![Ok(Reply::VenueCreated { venue: VenueId(0) })]);
        let events = self.rng.random_range(1..=2u32);
        let mut commands = Vec::new();
        for e in 0..events {
            let tariffs = |adult: i64, reduced: i64| {
                vec![
                    TariffSpec { name: "Erwachsene".into(), price: Cents(adult) },
                    TariffSpec { name: "Ermäßigt".into(), price: Cents(reduced) },
                ]
            };
            // The second game keeps block B closed (camera platform) and opens its
            // sale a little later, so seats not for sale and a sale that has not
            // started are exercised too.
            let categories = if e == 0 {
                vec![
                    CategorySpec {
                        name: "Sitzplatz A".into(),
                        places: CategoryPlaces::Blocks(vec![BlockId(0)]),
                        tariffs: tariffs(2500, 1800),
                    },
                    CategorySpec {
                        name: "Sitzplatz B".into(),
                        places: CategoryPlaces::Blocks(vec![BlockId(1)]),
                        tariffs: tariffs(2200, 1500),
                    },
                    CategorySpec {
                        name: "Stehplatz".into(),
                        places: CategoryPlaces::Standing(sturmfest_core::AreaId(0)),
                        tariffs: tariffs(1200, 800),
                    },
                ]
            } else {
                vec![
                    CategorySpec {
                        name: "Sitzplatz".into(),
                        places: CategoryPlaces::Blocks(vec![BlockId(0)]),
                        tariffs: tariffs(3000, 2000),
                    },
                    CategorySpec {
                        name: "Stehplatz".into(),
                        places: CategoryPlaces::Standing(sturmfest_core::AreaId(0)),
                        tariffs: tariffs(1400, 900),
                    },
                ]
            };
            let day_ms = 86_400_000;
            commands.push(Command::CreateEvent(EventSpec {
                name: format!("Playoff-Heimspiel {}", e + 1),
                venue: VenueId(0),
                starts_at: TimeMs(self.start_ms + 20 * day_ms),
                sale_opens_at: TimeMs(self.start_ms + i64::from(e) * self.rng.random_range(0..=120_000)),
                sale_closes_at: TimeMs(self.start_ms + 10 * day_ms),
                categories,
                quotas: if e == 0 { [Some(60), None, Some(6)] } else { [None, None, Some(4)] },
                hold_duration_ms: self.rng.random_range(hold_duration_ms_min..=hold_duration_ms_max),
                order_tickets_max: 4,
                customer_tickets_max: 6,
            }));
        }
        for e in 0..events {
            commands.push(Command::Sale { event: EventId(e), action: SaleAction::Open });
        }
        let outcomes = self.commit_clean(commands);
        assert!(outcomes.iter().all(Result::is_ok), "setup failed: {outcomes:?}");
    }

    // ----- the safety phase -----

    fn step(&mut self) {
        self.clock_ms += if self.rng.random_ratio(2, 100) {
            self.rng.random_range(hold_duration_ms_min..=clock_jump_ms_max)
        } else {
            self.rng.random_range(0..=clock_step_ms_max)
        };
        let batch = self.gather_batch();
        let envelopes: Vec<Envelope> = batch.iter().map(|(_, request)| self.envelope(request)).collect();
        self.stats.commands += envelopes.len() as u64;
        self.stats.batches += 1;
        let fault = self.pick_fault();
        match fault {
            Fault::CrashBeforeAppend => {
                self.power_loss(false);
                self.fate_unknown(batch);
                self.restart(None);
            }
            Fault::AppendFails(failpoint) => {
                self.committer().backend.fail_next_append(failpoint);
                match block_on(self.committer().commit(envelopes.clone())) {
                    Err(LogError::Io(_)) => {}
                    other => panic!("append with {failpoint:?} injected returned {other:?}"),
                }
                self.stats.failed_appends += 1;
                // After a failed fsync the batch sits in the page cache: a power cut
                // drops or tears it, a mere process restart finds it and keeps it.
                let power_loss = self.rng.random_ratio(if failpoint == Failpoint::FsyncFails { 3 } else { 1 }, 5);
                if power_loss {
                    self.power_loss(failpoint == Failpoint::FsyncFails);
                }
                let survives = failpoint == Failpoint::FsyncFails && !power_loss;
                self.fate_unknown(batch);
                self.restart(Some(Uncertain { envelopes, survives }));
            }
            Fault::None | Fault::DiesAfterCommit { .. } => {
                let outcomes = block_on(self.committer().commit(envelopes.clone()))
                    .unwrap_or_else(|e| panic!("append without an injected fault failed: {e}"));
                self.made_durable(envelopes, Some(&outcomes));
                if let Fault::DiesAfterCommit { power_loss } = fault {
                    if power_loss {
                        self.power_loss(false);
                    }
                    self.fate_unknown(batch);
                    self.restart(None);
                } else {
                    for ((client, request), outcome) in batch.into_iter().zip(outcomes) {
                        self.deliver(client, request, outcome);
                    }
                    self.check_state();
                    if self.rng.random_ratio(snapshot_per_mille, 1000) {
                        block_on(self.committer().snapshot()).expect("snapshot without faults");
                        self.stats.snapshots += 1;
                    }
                }
            }
        }
    }

    fn pick_fault(&mut self) -> Fault {
        if !self.faults {
            return Fault::None;
        }
        let mut roll = self.rng.random_range(0..1000u32);
        for (per_mille, fault) in [
            (crash_before_append_per_mille, Fault::CrashBeforeAppend),
            (write_fails_per_mille, Fault::AppendFails(Failpoint::WriteFails)),
            (fsync_fails_per_mille, Fault::AppendFails(Failpoint::FsyncFails)),
            (crash_after_commit_per_mille, Fault::DiesAfterCommit { power_loss: true }),
            (kill_after_commit_per_mille, Fault::DiesAfterCommit { power_loss: false }),
        ] {
            if roll < per_mille {
                return fault;
            }
            roll -= per_mille;
        }
        Fault::None
    }

    /// Pulls the plug on the whole machine. At most the one batch whose fsync failed
    /// is unsynced, and only if `expect_unsynced`.
    fn power_loss(&mut self, expect_unsynced: bool) {
        let unsynced = self.store.unsynced_batches();
        assert_eq!(unsynced.len(), usize::from(expect_unsynced), "unsynced batches before the crash: {unsynced:?}");
        let report: CrashReport = self.store.crash(self.rng.random());
        self.stats.crashes += 1;
        self.stats.dropped_batches += report.dropped.len() as u64;
        if report.torn.is_some() {
            self.stats.torn_tails += 1;
        }
        assert_eq!(
            report.dropped.len() + usize::from(report.torn.is_some()),
            usize::from(expect_unsynced),
            "the crash touched what was synced: {report:?}"
        );
        self.last_crash = Some(report);
    }

    /// Starts a new process on the same store, as after a crash or a failed append:
    /// the old committer is dropped and must be fenced or poisoned from now on.
    fn restart(&mut self, uncertain: Option<Uncertain>) {
        let mut old = self.committer.take().expect("a committer was running");
        let crash = self.last_crash.take();
        let (committer, start) = block_on(Committer::recover(Arc::new(self.store.open()), tenant_id()))
            .unwrap_or_else(|e| panic!("recovery failed: {e}"));
        self.stats.recoveries += 1;
        if start.snapshot_seq.is_some() {
            self.stats.snapshot_recoveries += 1;
        }
        // The old process, were it still alive, can no longer write: its handle is
        // poisoned after a failed append, and its epoch is fenced by the new lease.
        let poisoned = old.backend.is_poisoned();
        let tick = Envelope { time: TimeMs(self.clock_ms), idempotency: None, command: Command::Tick };
        match block_on(old.commit(vec![tick])) {
            Err(LogError::Poisoned) if poisoned => {}
            Err(LogError::Fenced { fence: Fence::StaleEpoch { .. }, .. }) if !poisoned => {
                self.stats.stale_writers_fenced += 1;
            }
            other => panic!("a stale writer (poisoned: {poisoned}) appended: {other:?}"),
        }
        let torn = crash.as_ref().is_some_and(|c| c.torn.is_some());
        assert_eq!(start.torn.is_some(), torn, "recovery torn-tail report {:?} after crash {crash:?}", start.torn);
        let survivors = match uncertain {
            Some(u) if u.survives => u.envelopes,
            _ => Vec::new(),
        };
        let expected_seq = (self.durable.len() + survivors.len()) as u64;
        assert_eq!(
            start.last_seq,
            expected_seq,
            "recovered up to seq {} but {} records are durable and {} survive: {start:?}",
            start.last_seq,
            self.durable.len(),
            survivors.len()
        );
        self.made_durable(survivors, None);
        self.committer = Some(committer);
        if let Err(diff) = tenant_diff(&self.committer.as_ref().expect("running").tenant, &self.mirror) {
            panic!("the recovered tenant differs from replay of the durable log: {diff}");
        }
        self.check_state();
        if self.rng.random_ratio(3, 10) {
            self.clock_ms -= self.rng.random_range(0..=restart_skew_ms_max);
        }
    }

    /// Records envelopes that are now in the durable log: the mirror replays them
    /// (and must decide as the committer did), the auditor judges each outcome.
    fn made_durable(&mut self, envelopes: Vec<Envelope>, committed: Option<&[Outcome]>) {
        for (i, envelope) in envelopes.into_iter().enumerate() {
            let outcome = self.mirror.apply(&envelope);
            if let Some(committed) = committed {
                assert_eq!(outcome, committed[i], "the mirror decided {envelope:?} differently");
            }
            if let Err(why) = self.auditor.apply(&envelope, &outcome) {
                panic!("auditor: {why}\n  envelope {envelope:?}\n  outcome {outcome:?}");
            }
            self.durable.push(envelope);
        }
    }

    fn check_state(&mut self) {
        let tenant = &self.committer.as_ref().expect("running").tenant;
        tenant.check_invariants();
        if let Err(why) = self.auditor.compare(tenant) {
            panic!("auditor disagrees with the tenant: {why}");
        }
        if let Err(why) = self.check_acknowledged(tenant) {
            panic!("an acknowledged fact was lost: {why}");
        }
    }

    /// What the fans were told must still hold.
    fn check_acknowledged(&self, tenant: &Tenant) -> Result<(), String> {
        for (order, hold) in &self.acknowledged_orders {
            let got = tenant.order(*order).ok_or(format!("acknowledged order {order} is missing"))?;
            let receipt = &self.receipts[hold];
            let places: Vec<Place> = got.tickets.iter().map(|t| t.place).collect();
            ensure!(
                got.hold == *hold && got.event == receipt.event && places == places_of_hold(&receipt.places),
                "acknowledged order {order} (from hold {hold}, {:?}) is now {got:?}",
                receipt.places
            );
        }
        for (i, fan) in self.fans.iter().enumerate() {
            if let FanState::Holding { receipt } = &fan.state {
                if receipt.expires_at > tenant.now() {
                    let live = tenant.hold_of(receipt.hold);
                    ensure!(
                        live.is_some_and(|h| h.places == receipt.places),
                        "fan {i}'s acknowledged hold {} (expires {:?}, now {:?}) is {live:?}",
                        receipt.hold,
                        receipt.expires_at,
                        tenant.now()
                    );
                }
            }
        }
        Ok(())
    }

    fn gather_batch(&mut self) -> Vec<(Client, Request)> {
        let size = if self.rng.random_ratio(3, 10) {
            self.rng.random_range(1..=4)
        } else {
            self.rng.random_range(5..=batch_commands_max)
        };
        let mut batch = Vec::with_capacity(size);
        let mut busy = vec![false; self.fans.len()];
        for _ in 0..size * 2 {
            if batch.len() == size {
                break;
            }
            if self.rng.random_ratio(15, 100) {
                let request = self.admin_request();
                batch.push((Client::Admin, request));
                continue;
            }
            let i = self.rng.random_range(0..self.fans.len());
            if busy[i] {
                continue;
            }
            if let Some(request) = self.fan_request(i) {
                busy[i] = true;
                batch.push((Client::Fan(i), request));
            }
        }
        if batch.is_empty() {
            // The runtime's ticker: an empty batch would never reach the log.
            batch.push((Client::Admin, Request { command: Command::Tick, idempotency: None, duplicate: false }));
        }
        batch
    }

    fn fan_request(&mut self, i: usize) -> Option<Request> {
        match self.fans[i].state.clone() {
            FanState::Unknown(request) => {
                let roll = self.rng.random_range(0..100);
                if roll < 85 {
                    self.stats.retries += 1;
                    Some(request)
                } else if roll < 90 && request.idempotency.is_some() {
                    // A buggy client reuses the key for a different request.
                    let command = self.random_hold(i);
                    let key = request.idempotency.expect("checked").key;
                    Some(Request {
                        idempotency: Some(Idempotency { key, fingerprint: fingerprint(&command) }),
                        command,
                        duplicate: false,
                    })
                } else {
                    self.fans[i].state = FanState::Idle;
                    None
                }
            }
            FanState::Holding { receipt } => {
                let roll = self.rng.random_range(0..100);
                let command = if receipt.expires_at.0 <= self.clock_ms && roll < 70 {
                    self.fans[i].state = FanState::Idle;
                    return None;
                } else if roll < 45 {
                    Command::Confirm {
                        hold: receipt.hold,
                        payment: format!("psp-{}-{}", self.seed, receipt.hold),
                        buyer: sturmfest_core::Buyer { name: format!("Fan {i}"), email: format!("fan{i}@example.org") },
                    }
                } else if roll < 55 {
                    Command::Release { hold: receipt.hold }
                } else {
                    return None;
                };
                let idempotency = self.rng.random_ratio(9, 10).then(|| self.new_key(&command));
                Some(Request { command, idempotency, duplicate: false })
            }
            FanState::Idle => {
                if let Some((last, _)) = &self.fans[i].last_answered {
                    if self.rng.random_ratio(3, 100) {
                        return Some(Request { duplicate: true, ..last.clone() });
                    }
                }
                let command = self.random_hold(i);
                let idempotency = self.rng.random_ratio(85, 100).then(|| self.new_key(&command));
                Some(Request { command, idempotency, duplicate: false })
            }
        }
    }

    fn random_hold(&mut self, i: usize) -> Command {
        let rng = &mut self.rng;
        let e = rng.random_range(0..self.auditor.events.len());
        let event = &self.auditor.events[e];
        let layout = &self.auditor.layouts[event.venue];
        let channel = match rng.random_range(0..100) {
            0..80 => Channel::Online,
            80..95 => Channel::BoxOffice,
            _ => Channel::Reserved,
        };
        let quantity =
            if rng.random_ratio(3, 100) { event.spec.order_tickets_max + 1 } else { rng.random_range(1..=3) };
        let seated: Vec<usize> = (0..event.spec.categories.len())
            .filter(|c| matches!(event.spec.categories[*c].places, CategoryPlaces::Blocks(_)))
            .collect();
        let category = seated[rng.random_range(0..seated.len())];
        let CategoryPlaces::Blocks(blocks) = &event.spec.categories[category].places else { unreachable!() };
        let selection = match rng.random_range(0..100) {
            0..40 => {
                // Seats picked on a seat map that may be stale; now and then from a
                // block that is not on sale for this event.
                let block = if rng.random_ratio(5, 100) {
                    rng.random_range(0..layout.block_rows.len())
                } else {
                    usize::from(blocks[rng.random_range(0..blocks.len())].0)
                };
                let row = layout.block_rows[block][rng.random_range(0..layout.block_rows[block].len())];
                let seats = layout.rows[row].1.clone();
                let free: Vec<u32> = seats.clone().filter(|s| event.owner[*s as usize] == SeatState::Free).collect();
                let picked: Vec<u32> = if free.len() >= quantity as usize && rng.random_ratio(6, 10) {
                    let start = rng.random_range(0..=free.len() - quantity as usize);
                    free[start..start + quantity as usize].to_vec()
                } else {
                    let start = rng.random_range(seats.start..=seats.end - quantity.min(seats.len() as u32));
                    (start..start + quantity).filter(|s| *s < seats.end).collect()
                };
                Selection::Seats(picked.into_iter().map(SeatId).collect())
            }
            0..70 => Selection::Standing { area: sturmfest_core::AreaId(0), quantity },
            _ => {
                let block = rng.random_ratio(3, 10).then(|| blocks[rng.random_range(0..blocks.len())]);
                Selection::BestAvailable { category: CategoryId(category as u16), block, quantity }
            }
        };
        let tariff = TariffId(rng.random_range(0..2));
        Command::Hold(HoldRequest {
            event: EventId(e as u32),
            customer: self.fans[i].customer,
            channel,
            selection,
            tariff,
            admission: None,
        })
    }

    fn admin_request(&mut self) -> Request {
        if !self.admin_unknown.is_empty() && self.rng.random_ratio(7, 10) {
            self.stats.retries += 1;
            return self.admin_unknown.swap_remove(0);
        }
        let e = self.rng.random_range(0..self.auditor.events.len());
        let orders = self.auditor.orders.len();
        let command = match self.rng.random_range(0..100) {
            0..10 => Command::Tick,
            10..65 if orders > 0 => {
                // Mostly orders with something left to cancel: the office undoing
                // sales is what frees seats again in a sold-out arena.
                let valid: Vec<usize> =
                    (0..orders).filter(|o| self.auditor.orders[*o].tickets.iter().any(|t| !t.cancelled)).collect();
                let order = if !valid.is_empty() && self.rng.random_ratio(9, 10) {
                    valid[self.rng.random_range(0..valid.len())]
                } else {
                    self.rng.random_range(0..orders)
                };
                let tickets = self.auditor.orders[order].tickets.len();
                let which = if self.rng.random_ratio(1, 2) {
                    TicketSelection::All
                } else {
                    // Now and then an index past the order's end.
                    let past_end = usize::from(self.rng.random_ratio(1, 10));
                    let first = self.rng.random_range(0..tickets + past_end) as u16;
                    let mut list = vec![first];
                    if self.rng.random_ratio(1, 4) {
                        list.push(self.rng.random_range(0..tickets) as u16);
                    }
                    TicketSelection::Some(list)
                };
                let refund = if self.rng.random_ratio(7, 10) { RefundMode::Full } else { RefundMode::None };
                Command::Cancel { order: OrderId(order as u64 + 1), tickets: which, refund }
            }
            65..80 if orders > 0 => {
                let index = self.rng.random_range(0..orders);
                let left = self.auditor.orders[index].paid() - self.auditor.orders[index].refunded();
                // Often exactly what is left, so later cancellations find nothing to refund.
                let amount = match self.rng.random_range(0..4) {
                    0 => left,
                    1 => left + 1,
                    _ => self.rng.random_range(0..=left.max(1)),
                };
                Command::Refund { order: OrderId(index as u64 + 1), amount: Cents(amount), reference: "Kulanz".into() }
            }
            _ => {
                let action = match &self.auditor.events[e].sale {
                    Sale::Paused { .. } if self.rng.random_ratio(7, 10) => SaleAction::Resume,
                    Sale::Paused { .. } => SaleAction::Pause { message: "Technische Störung".into(), resume_at: None },
                    _ if self.rng.random_ratio(1, 20) => SaleAction::Pause {
                        message: "Notbremse: zu viele Anfragen".into(),
                        resume_at: Some(TimeMs(self.clock_ms + 60_000)),
                    },
                    _ if self.rng.random_ratio(1, 10) => SaleAction::Resume,
                    _ => return Request { command: Command::Tick, idempotency: None, duplicate: false },
                };
                Command::Sale { event: EventId(e as u32), action }
            }
        };
        let idempotency = (command != Command::Tick && self.rng.random_ratio(1, 2)).then(|| self.new_key(&command));
        Request { command, idempotency, duplicate: false }
    }

    /// Every client in a batch whose fate is unknown: fans retry later, the admin
    /// retries keyed requests.
    fn fate_unknown(&mut self, batch: Vec<(Client, Request)>) {
        for (client, request) in batch {
            match client {
                Client::Fan(i) if !request.duplicate => self.fans[i].state = FanState::Unknown(request),
                Client::Fan(_) => {}
                Client::Admin if request.idempotency.is_some() && self.admin_unknown.len() < 8 => {
                    self.admin_unknown.push(request);
                }
                Client::Admin => {}
            }
        }
    }

    fn deliver(&mut self, client: Client, request: Request, outcome: Outcome) {
        let Client::Fan(i) = client else { return };
        if request.duplicate {
            let (first, answer) = self.fans[i].last_answered.as_ref().expect("a duplicate repeats an answered request");
            assert_eq!(first.idempotency, request.idempotency);
            if first.idempotency.is_some() && answer.is_ok() {
                assert_eq!(&outcome, answer, "a duplicate of {:?} was answered differently", first.command);
            }
            return;
        }
        self.fans[i].last_answered = Some((request.clone(), outcome.clone()));
        let state = match (&request.command, outcome) {
            (Command::Hold(_), Ok(Reply::Held(receipt))) => {
                self.stats.holds_acknowledged += 1;
                self.receipts.insert(receipt.hold, receipt.clone());
                FanState::Holding { receipt }
            }
            (Command::Confirm { hold, .. }, Ok(Reply::Confirmed { order, .. })) => {
                self.stats.orders_acknowledged += 1;
                let previous = self.acknowledged_orders.insert(order, *hold);
                assert!(previous.is_none_or(|h| h == *hold), "order {order} acknowledged for two holds");
                // The next purchase on this phone is usually someone else's, so the
                // per-customer limit binds now and then rather than always.
                if self.rng.random_ratio(1, 2) {
                    self.fans[i].customer = CustomerId(self.fans[i].customer.0 + 1_000);
                }
                FanState::Idle
            }
            (Command::Confirm { hold, .. }, Err(Rejection::SalePaused { .. })) => {
                FanState::Holding { receipt: self.receipts[hold].clone() }
            }
            (Command::Hold(_) | Command::Confirm { .. } | Command::Release { .. }, _) => FanState::Idle,
            (command, outcome) => panic!("fan sent {command:?} and got {outcome:?}"),
        };
        self.fans[i].state = state;
    }

    // ----- the liveness phase -----

    /// Commits one fault-free batch of the liveness phase and delivers its replies.
    fn liveness_batch(&mut self, batch: Vec<(Client, Request)>) {
        if batch.is_empty() {
            return;
        }
        let envelopes: Vec<Envelope> = batch.iter().map(|(_, r)| self.envelope(r)).collect();
        self.stats.commands += envelopes.len() as u64;
        self.stats.batches += 1;
        let outcomes = block_on(self.committer().commit(envelopes.clone())).expect("append without faults");
        self.made_durable(envelopes, Some(&outcomes));
        for ((client, request), outcome) in batch.into_iter().zip(outcomes) {
            self.deliver(client, request, outcome);
        }
        self.check_state();
    }

    /// Without faults the system must converge: every unknown fate resolves, every
    /// hold expires, and each event can still be sold out to the last place.
    fn liveness(&mut self) {
        self.faults = false;
        // Every fan retries what it does not know; the admin resumes paused sales.
        let mut batch: Vec<(Client, Request)> = Vec::new();
        for i in 0..self.fans.len() {
            if let FanState::Unknown(request) = self.fans[i].state.clone() {
                batch.push((Client::Fan(i), request));
            }
        }
        batch.extend(self.admin_unknown.drain(..).map(|r| (Client::Admin, r)));
        self.liveness_batch(batch);
        // Only now are the retried admin calls decided: a retried pause lands here
        // and must be resumed too, so the resumes come in a second batch.
        let mut resumes = Vec::new();
        for e in 0..self.auditor.events.len() {
            if matches!(self.auditor.events[e].sale, Sale::Paused { .. }) {
                let command = Command::Sale { event: EventId(e as u32), action: SaleAction::Resume };
                resumes.push((Client::Admin, Request { command, idempotency: None, duplicate: false }));
            }
        }
        self.liveness_batch(resumes);
        assert!(self.auditor.events.iter().all(|e| e.sale == Sale::Open), "every sale is open again");
        assert!(self.fans.iter().all(|f| !matches!(f.state, FanState::Unknown(_))), "every fate is known");

        // Let the longest hold run out: nothing may stay held.
        self.clock_ms = self.clock_ms.max(self.auditor.now.0) + hold_duration_ms_max + 1_000;
        self.commit_clean(vec![Command::Tick]);
        let tenant = &self.committer().tenant;
        assert_eq!(tenant.holds().count(), 0, "holds outlived their expiry");
        for event in tenant.events() {
            assert_eq!(event.held(), 0, "event {} still holds places", event.id);
            assert_eq!(event.sold() + event.free(), event.capacity(), "event {} lost places", event.id);
        }
        for fan in &mut self.fans {
            fan.state = FanState::Idle;
        }

        // The box office sells every remaining place of every event.
        for e in 0..self.auditor.events.len() {
            self.sell_out(e);
        }

        // A last power cut: everything must come back exactly.
        self.power_loss(false);
        self.restart(None);
        self.check_full_replay();
    }

    fn sell_out(&mut self, e: usize) {
        let event = &self.auditor.events[e];
        let mut holds = Vec::new();
        for category in 0..event.spec.categories.len() {
            match &event.spec.categories[category].places {
                CategoryPlaces::Blocks(_) => {
                    let free: Vec<SeatId> = (0..event.owner.len() as u32)
                        .filter(|s| event.seat_category[*s as usize] == Some(category as u16))
                        .filter(|s| event.owner[*s as usize] == SeatState::Free)
                        .map(SeatId)
                        .collect();
                    for chunk in free.chunks(event.spec.order_tickets_max as usize) {
                        holds.push(Selection::Seats(chunk.to_vec()));
                    }
                }
                CategoryPlaces::Standing(area) => {
                    let a = usize::from(area.0);
                    let mut left = self.auditor.layouts[event.venue].areas[a] - event.area_held[a] - event.area_sold[a];
                    while left > 0 {
                        let quantity = left.min(event.spec.order_tickets_max);
                        holds.push(Selection::Standing { area: *area, quantity });
                        left -= quantity;
                    }
                }
            }
        }
        let commands = holds
            .into_iter()
            .map(|selection| {
                Command::Hold(HoldRequest {
                    event: EventId(e as u32),
                    customer: CustomerId(1),
                    channel: Channel::BoxOffice,
                    selection,
                    tariff: TariffId(0),
                    admission: None,
                })
            })
            .collect();
        let held = self.commit_clean(commands);
        let confirms = held
            .iter()
            .map(|outcome| match outcome {
                Ok(Reply::Held(receipt)) => Command::Confirm {
                    hold: receipt.hold,
                    payment: "Kasse".into(),
                    buyer: sturmfest_core::Buyer { name: "Abendkasse".into(), email: String::new() },
                },
                other => panic!("event {e}: a hold on free places failed without faults: {other:?}"),
            })
            .collect();
        let confirmed = self.commit_clean(confirms);
        assert!(confirmed.iter().all(Result::is_ok), "event {e}: confirmations failed: {confirmed:?}");
        let tenant = &self.committer().tenant;
        let event = &tenant.events()[e];
        assert_eq!((event.free(), event.held(), event.sold()), (0, 0, event.capacity()), "event {e} is not sold out");
        assert_eq!(self.auditor.free(e), 0, "the auditor sees free places in sold-out event {e}");
        let category = CategoryId(0);
        let one_more = Command::Hold(HoldRequest {
            event: EventId(e as u32),
            customer: CustomerId(1),
            channel: Channel::BoxOffice,
            selection: Selection::BestAvailable { category, block: None, quantity: 1 },
            tariff: TariffId(0),
            admission: None,
        });
        assert_eq!(self.commit_clean(vec![one_more]), vec![Err(Rejection::SoldOut)]);
    }

    /// The log read from genesis (ignoring snapshots) replays to the running state,
    /// and so does a fresh tenant fed the model's durable envelopes.
    fn check_full_replay(&mut self) {
        let mut fresh = Tenant::new();
        for envelope in &self.durable {
            let _ = fresh.apply(envelope);
        }
        let committer = self.committer.as_ref().expect("running");
        let mut from_log = Tenant::new();
        let mut failure = None;
        let report = block_on(recover(&*committer.backend, &tenant_id(), None, Repair::ReportOnly, |record| {
            if let Err(why) = replay_one(&mut from_log, record) {
                failure.get_or_insert(why);
            }
        }))
        .expect("reading the whole log");
        assert!(failure.is_none(), "replaying the log from genesis: {failure:?}");
        assert!(report.torn.is_none(), "the log is clean after recovery: {report:?}");
        assert_eq!(report.last_seq, self.durable.len() as u64);
        for (what, tenant) in
            [("fresh replay of the durable envelopes", &fresh), ("replay of the log from genesis", &from_log)]
        {
            if let Err(diff) = tenant_diff(&committer.tenant, tenant) {
                panic!("the running tenant differs from {what}: {diff}");
            }
        }
    }
}

/// `==` on tenants, explained part by part when it fails.
fn tenant_diff(got: &Tenant, want: &Tenant) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    fn part<T: PartialEq + Debug>(name: &str, got: &T, want: &T) -> Result<(), String> {
        if got == want {
            return Ok(());
        }
        let (mut g, mut w) = (format!("{got:?}"), format!("{want:?}"));
        g.truncate(3_000);
        w.truncate(3_000);
        Err(format!("{name} differs:\n    got  {g}\n    want {w}"))
    }
    let (g, w) = (got.parts(), want.parts());
    part("now", &g.now, &w.now)?;
    part("venues", &g.venues, &w.venues)?;
    part("events", &g.events, &w.events)?;
    part("next hold", &g.next_hold, &w.next_hold)?;
    part("holds", &g.holds, &w.holds)?;
    part("orders", &g.orders, &w.orders)?;
    part("idempotency", &g.idempotency, &w.idempotency)?;
    part("derived state", &format!("{got:?}"), &format!("{want:?}"))
}
