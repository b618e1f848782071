//! Crash consistency of the real binary: every acknowledged write survives SIGKILL.
//!
//! The test runs `sturmfest serve` as a child process on a temporary data directory,
//! drives it with a handful of blocking HTTP clients (holds of named seats, best
//! available seats and standing places, each confirmed under its own
//! `Idempotency-Key`) and SIGKILLs it after a random delay drawn from a seeded RNG, so
//! the kill lands anywhere: mid-batch, mid-fsync, mid-snapshot, mid-reply. Snapshots
//! are taken every few hundred records so that recoveries start from them as well as
//! from genesis, and now and then the server is also killed while it is still
//! recovering. The test keeps a reference model of what the server acknowledged: every
//! hold answered `201` (with its places) and every confirm answered `201` (with its
//! order id); a request in flight at the kill is never counted. After each restart
//! it reads every order back through the admin API and checks that
//!
//! - every acknowledged order, and every order read back after an earlier restart, is
//!   still there with exactly the places of its hold;
//! - each order belongs to a hold the server acknowledged, and no hold has two orders;
//! - no seat is in two valid tickets, and availability agrees with the orders
//!   (`sold` = valid tickets, `sold + held + free = capacity`);
//! - a hold that was acknowledged but not yet confirmed is still alive unless it may
//!   have expired: confirming it succeeds, or its seats still show as held;
//! - a confirm that failed with the kill, retried with the same `Idempotency-Key`,
//!   answers the order that the first attempt committed (or makes the one order if it
//!   did not commit), and a further confirm under another key is refused with
//!   `hold_already_confirmed` naming that same order.
//!
//! Most restarts check the events still selling (or with unsettled holds); every few
//! cycles the check covers every event ever sold and `sturmfest verify` checks the
//! killed data directory (hash chain, replay from genesis to the logged outcomes,
//! invariants, snapshot equals replay), and once more after a final clean SIGTERM
//! stop. The run fails unless the requested number of kills happened and orders were
//! acknowledged in at least half of the cycles, so it cannot pass by doing nothing.
//! Made to fail on purpose by acknowledging each batch before appending it, the test
//! reports a lost acknowledged order within a few cycles.
//!
//! `STURMFEST_CRASH_CYCLES` sets the number of kill cycles (default 20; CI runs 200),
//! `STURMFEST_CRASH_SEED` replays a seed's workload and kill delays (timing still
//! varies between runs). A failure names the seed and the cycle.

#![allow(non_upper_case_globals)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

const sturmfest_bin: &str = env!("CARGO_BIN_EXE_sturmfest");
const tenant_slug: &str = "crash";

const crash_cycles_default: u64 = 20;
/// `sturmfest verify` (which replays the whole log) and the check of every event ever
/// sold run this often, and at the end: every 10 cycles, or about 20 times in a long
/// run, so their cost does not grow with the square of the run.
const verify_interval_cycles_min: u64 = 10;
const verify_runs_max: u64 = 20;
const clients_count: usize = 4;
const kill_delay_ms_min: u64 = 2;
const kill_delay_ms_max: u64 = 300;
/// Small, so snapshots are written (and interrupted) under load and recoveries
/// start from them, not only from genesis.
const snapshot_interval_records: u64 = 200;
/// The shortest hold the core allows, so abandoned holds expire within the run.
const hold_duration_ms: i64 = 10_000;
/// A hold counts as possibly expired this long before its nominal expiry: covers
/// the request's own latency and the gap between sending a hold and its commit.
const expiry_margin_ms: i64 = 2_000;
/// Below this many free places the event is retired and a fresh one opened.
const event_free_places_min: u64 = 40;
const server_ready_timeout_ms: u64 = 60_000;
const server_stop_timeout_ms: u64 = 60_000;
const request_timeout_ms: u64 = 30_000;
const server_log_bytes_max: usize = 64 * 1024;

/// Two blocks of 8 rows × 20 seats and one standing area: small enough that the
/// events sell out over the cycles and the test moves on to fresh ones.
fn venue() -> Value {
    let rows = |block: i32| -> Vec<Value> {
        (0..8)
            .map(|r| {
                json!({"label": (r + 1).to_string(), "seat_count": 20, "first_label": 1,
                       "x": block * 250, "y": r * 12, "dx": 10})
            })
            .collect()
    };
    json!({"name": "Crashhalle",
           "blocks": [{"name": "A", "rows": rows(0)}, {"name": "B", "rows": rows(1)}],
           "standing": [{"name": "Stehplatz", "capacity": 120}]})
}

fn event(venue: u64, number: usize) -> Value {
    json!({"name": format!("Crashspiel {number}"), "venue": venue,
           "starts_at": "2099-12-02T19:30:00+01:00",
           "sale_opens_at": "2020-01-01T00:00:00+01:00", "sale_closes_at": "2099-12-02T19:30:00+01:00",
           "categories": [
               {"name": "Sitzplatz", "blocks": [0, 1], "tariffs": [{"name": "Erwachsene", "price_cents": 2900}]},
               {"name": "Stehplatz", "area": 0, "tariffs": [{"name": "Erwachsene", "price_cents": 1500}]}],
           "quotas": {"online": null, "box_office": null, "reserved": null},
           "hold_duration_secs": hold_duration_ms / 1000, "order_tickets_max": 8, "customer_tickets_max": 8})
}

#[test]
fn every_acknowledged_order_survives_sigkill_at_random_moments() {
    let cycles = env_u64("STURMFEST_CRASH_CYCLES").unwrap_or(crash_cycles_default);
    assert!(cycles > 0, "STURMFEST_CRASH_CYCLES must be at least 1: a crash test that kills nothing proves nothing");
    let seed = env_u64("STURMFEST_CRASH_SEED").unwrap_or_else(|| wall_ms() as u64);
    let started = Instant::now();
    let stats = match CrashRun::run(seed, cycles) {
        Ok(stats) => stats,
        Err(why) => panic!("crash test failed (reproduce with STURMFEST_CRASH_SEED={seed}): {why}"),
    };
    println!(
        "crash test: seed {seed}, {} cycles, {} SIGKILLs under load (+{} during recovery), {} holds and {} orders \
         acknowledged, {} requests cut by a kill, orders in {} cycles, {} same-key confirm retries ({} replayed the committed order, {} made it \
         now, {} ended), {} holds abandoned, {} events, {} verify runs ok; {:.1} s ({:.1} s restarting, {:.1} s checking, \
         {:.1} s verifying)",
        stats.cycles,
        stats.kills,
        stats.recovery_kills,
        stats.holds_acked,
        stats.orders_acked,
        stats.requests_cut,
        stats.cycles_with_orders,
        stats.retries,
        stats.retries_replayed,
        stats.retries_fresh,
        stats.retries_ended,
        stats.abandoned,
        stats.events,
        stats.verifies,
        started.elapsed().as_secs_f64(),
        stats.restart_ms as f64 / 1000.0,
        stats.check_ms as f64 / 1000.0,
        stats.verify_ms as f64 / 1000.0,
    );
    assert_eq!(stats.kills, cycles, "seed {seed}: every cycle must end in a SIGKILL");
    assert!(
        stats.cycles_with_orders * 2 >= cycles,
        "seed {seed}: orders were acknowledged in only {} of {cycles} cycles; the kills hit an idle server",
        stats.cycles_with_orders
    );
}

#[test]
fn a_clean_stop_writes_a_snapshot_that_the_restart_replays_from() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = add_tenant(dir.path()).unwrap();
    let mut server = Server::start(dir.path()).unwrap();
    let api = Api::new(&server.addr, &token);
    let event = set_up_sale(&api, 1).unwrap();
    let mut orders = Vec::new();
    for n in 0..5 {
        let selection = json!({"type": "best_available", "category": 0, "block": null, "quantity": 2});
        let body = json!({"customer": format!("fan-{n}"), "tariff": 0, "selection": selection});
        let (status, hold) =
            api.post(&format!("/events/{event}/holds"), &format!("hold-{n}"), &body, Caller::Buyer).unwrap();
        assert_eq!(status, 201, "{hold}");
        let hold_id = hold["hold_id"].as_u64().unwrap();
        let path = format!("/holds/{}/confirm", hold["hold"].as_str().unwrap());
        let (status, order) = api.post(&path, &format!("pay-{n}"), &confirm_body(hold_id), Caller::Admin).unwrap();
        assert_eq!(status, 201, "{order}");
        orders.push(order["order_id"].as_u64().unwrap());
    }
    server.terminate().unwrap();
    // The log reader thread may still be behind the exited server on a busy machine.
    if let Err(why) = server.wait_for_log("snapshot written") {
        panic!("a clean stop writes a snapshot: {why}");
    }

    let mut server = Server::start(dir.path()).unwrap();
    let recovered = server.wait_for_log("tenant recovered").unwrap();
    let snapshot_seq = field(&recovered, "snapshot_seq").expect("the restart starts from a snapshot");
    assert_eq!(field(&recovered, "replayed"), Some(0), "nothing to replay past the snapshot: {recovered}");
    assert_eq!(field(&recovered, "last_seq"), Some(snapshot_seq), "{recovered}");
    let api = Api::new(&server.addr, &token);
    let seen = read_orders(&api, event).unwrap();
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), orders, "the orders survive the snapshot round trip");
    server.terminate().unwrap();

    let verified = verify(dir.path()).unwrap();
    assert!(verified.contains(&format!("snapshot at seq {snapshot_seq} equals replay")), "{verified}");
}

// ----- the crash run -----

#[derive(Default, Debug)]
struct Stats {
    cycles: u64,
    kills: u64,
    recovery_kills: u64,
    holds_acked: u64,
    orders_acked: u64,
    requests_cut: u64,
    cycles_with_orders: u64,
    retries: u64,
    retries_replayed: u64,
    retries_fresh: u64,
    retries_ended: u64,
    abandoned: u64,
    events: u64,
    verifies: u64,
    restart_ms: u64,
    check_ms: u64,
    verify_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Place {
    Seat(u32),
    Standing(u16),
}

/// A hold the server acknowledged with `201`.
#[derive(Clone, Debug)]
struct HoldAcked {
    event: u64,
    token: String,
    /// Sorted, so they compare with an order's tickets.
    places: Vec<Place>,
    /// Wall-clock time the hold request was sent; the server's expiry is no earlier
    /// than this plus the hold duration.
    sent_at_ms: i64,
    /// The key of a confirm that was sent but not answered (in flight at the kill).
    confirm_key: Option<String>,
}

/// What the server has promised, as far as the clients can know.
#[derive(Default)]
struct Model {
    holds: HashMap<u64, HoldAcked>,
    /// Acknowledged holds without a known order that are still tracked.
    pending: BTreeSet<u64>,
    /// Order id → hold id: every order acknowledged with `201`, and every order read
    /// back after a restart; none of them may ever disappear.
    orders: BTreeMap<u64, u64>,
    orders_acked: u64,
    holds_acked: u64,
    /// Requests that failed in transport: in flight at the kill, never acknowledged.
    requests_cut: u64,
    failures: Vec<String>,
}

impl Model {
    fn hold_acked(&mut self, id: u64, hold: HoldAcked) {
        let previous = self.holds.insert(id, hold);
        if previous.is_some() {
            self.failures.push(format!("hold id {id} acknowledged twice"));
        }
        self.pending.insert(id);
        self.holds_acked += 1;
    }

    fn order_acked(&mut self, order: u64, hold: u64) {
        if let Some(other) = self.orders.insert(order, hold)
            && other != hold
        {
            self.failures.push(format!("order {order} acknowledged for hold {hold} and for hold {other}"));
        }
        self.pending.remove(&hold);
        self.orders_acked += 1;
    }
}

struct CrashRun {
    dir: tempfile::TempDir,
    token: String,
    rng: ChaCha8Rng,
    model: Arc<Mutex<Model>>,
    events: Vec<u64>,
    venue: u64,
    stats: Stats,
}

/// Appends the server's log to a failure, so a red run shows what the server said.
fn with_log(server: &Server) -> impl Fn(String) -> String + '_ {
    move |why| format!("{why}\n--- server log (tail) ---\n{}", server.log())
}

impl CrashRun {
    fn run(seed: u64, cycles: u64) -> Result<Stats, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let token = add_tenant(dir.path())?;
        let mut run = CrashRun {
            dir,
            token,
            rng: ChaCha8Rng::seed_from_u64(seed),
            model: Arc::default(),
            events: Vec::new(),
            venue: 0,
            stats: Stats::default(),
        };
        {
            let server = Server::start(run.dir.path())?;
            let api = Api::new(&server.addr, &run.token);
            run.venue = create_venue(&api).map_err(with_log(&server))?;
            run.new_event(&api).map_err(with_log(&server))?;
            // Dropping the server kills it; the first cycle starts from a restart.
        }
        let interval = verify_interval_cycles_min.max(cycles / verify_runs_max);
        for cycle in 1..=cycles {
            // The cycle after a verify checks every event; the others those still live.
            let scope = if cycle % interval == 1 { Scope::AllEvents } else { Scope::LiveEvents };
            run.cycle(cycle, scope).map_err(|why| format!("cycle {cycle}: {why}"))?;
            if cycle % interval == 0 || cycle == cycles {
                let started = Instant::now();
                verify(run.dir.path()).map_err(|why| format!("cycle {cycle}: verify after SIGKILL: {why}"))?;
                run.stats.verify_ms += started.elapsed().as_millis() as u64;
                run.stats.verifies += 1;
            }
        }
        // A last restart checks the last kill, then a clean stop must exit 0 and leave
        // a log (and snapshot) that verifies.
        let mut server = Server::start(run.dir.path()).map_err(|why| format!("final restart: {why}"))?;
        let api = Api::new(&server.addr, &run.token);
        run.check_after_restart(&api, Scope::AllEvents)
            .map_err(with_log(&server))
            .map_err(|why| format!("final check: {why}"))?;
        server.terminate().map_err(|why| format!("final SIGTERM: {why}"))?;
        let verified = verify(run.dir.path()).map_err(|why| format!("verify after the clean stop: {why}"))?;
        if !verified.contains("equals replay") {
            return Err(format!("the clean stop left no snapshot that equals the replay:\n{verified}"));
        }
        run.stats.verifies += 1;
        run.stats.cycles = cycles;
        run.stats.events = run.events.len() as u64;
        let model = run.model.lock().unwrap();
        run.stats.holds_acked = model.holds_acked;
        run.stats.orders_acked = model.orders_acked;
        run.stats.requests_cut = model.requests_cut;
        Ok(run.stats)
    }

    fn new_event(&mut self, api: &Api) -> Result<u64, String> {
        let id = set_up_sale_at(api, self.venue, self.events.len() + 1)?;
        self.events.push(id);
        Ok(id)
    }

    /// Restart, check everything the server promised, then load and SIGKILL.
    fn cycle(&mut self, cycle: u64, scope: Scope) -> Result<(), String> {
        if self.rng.random_bool(0.1) {
            // Killed while recovering (or even before): the next recovery must cope.
            let mut early = Server::launch(self.dir.path())?;
            std::thread::sleep(Duration::from_millis(self.rng.random_range(0..=60)));
            early.kill()?;
            self.stats.recovery_kills += 1;
        }
        let started = Instant::now();
        let mut server = Server::start(self.dir.path())?;
        self.stats.restart_ms += started.elapsed().as_millis() as u64;
        let started = Instant::now();
        let api = Api::new(&server.addr, &self.token);
        self.check_after_restart(&api, scope).map_err(with_log(&server))?;
        self.stats.check_ms += started.elapsed().as_millis() as u64;

        let event = *self.events.last().expect("an event");
        let (status, availability) = api.get(&format!("/events/{event}/availability")).map_err(|e| e.to_string())?;
        if status != 200 || availability["free"].as_u64().ok_or("free")? < event_free_places_min {
            self.new_event(&api).map_err(with_log(&server))?;
        }
        let event = *self.events.last().expect("an event");
        let free_seats = Arc::new(seats_in_state(&api, event, "free")?);

        let orders_before = self.model.lock().unwrap().orders_acked;
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..clients_count)
            .map(|i| {
                let client = Client {
                    api: Api::new(&server.addr, &self.token),
                    model: self.model.clone(),
                    stop: stop.clone(),
                    rng: ChaCha8Rng::seed_from_u64(self.rng.random()),
                    event,
                    free_seats: free_seats.clone(),
                    tag: format!("{cycle}-{i}"),
                };
                std::thread::spawn(move || client.run())
            })
            .collect();
        std::thread::sleep(Duration::from_millis(self.rng.random_range(kill_delay_ms_min..=kill_delay_ms_max)));
        let killed = server.kill();
        stop.store(true, Ordering::Release);
        for client in clients {
            client.join().map_err(|_| "a client thread panicked".to_string())?;
        }
        killed?;
        self.stats.kills += 1;
        let model = self.model.lock().unwrap();
        if !model.failures.is_empty() {
            return Err(format!("under load: {}", model.failures.join("; ")));
        }
        if model.orders_acked > orders_before {
            self.stats.cycles_with_orders += 1;
        }
        Ok(())
    }

    /// Runs with no load on the server: reads every order back and checks it against
    /// the model, then settles the holds whose fate the kill left open.
    fn check_after_restart(&mut self, api: &Api, scope: Scope) -> Result<(), String> {
        let mut hold_of_order: HashMap<u64, u64> = HashMap::new();
        let mut order_of_hold: HashMap<u64, u64> = HashMap::new();
        let model = self.model.lock().unwrap();
        let events: BTreeSet<u64> = match scope {
            Scope::AllEvents => self.events.iter().copied().collect(),
            // The two newest events (the load's, and the one before a sell-out) and
            // every event with a hold still to settle.
            Scope::LiveEvents => {
                let newest = self.events.iter().rev().take(2).copied();
                newest.chain(model.pending.iter().map(|h| model.holds[h].event)).collect()
            }
        };
        for &event in &events {
            let orders = read_orders(api, event)?;
            let mut seats = HashSet::new();
            let mut tickets = 0u64;
            for (&id, order) in &orders {
                for place in &order.places {
                    if let Place::Seat(seat) = place
                        && !seats.insert(*seat)
                    {
                        return Err(format!("seat {seat} of event {event} is in two valid tickets"));
                    }
                }
                tickets += order.places.len() as u64;
                let hold =
                    order.payment_ref.strip_prefix("pay-").and_then(|h| h.parse::<u64>().ok()).ok_or_else(|| {
                        format!("order {id} has a payment reference no client sent: {}", order.payment_ref)
                    })?;
                let Some(acked) = model.holds.get(&hold) else {
                    return Err(format!("order {id} confirms hold {hold}, which the server never acknowledged"));
                };
                if acked.event != event || acked.places != order.places {
                    return Err(format!(
                        "order {id} has {:?} of event {event}, but its hold {hold} was acknowledged with {:?} of event {}",
                        order.places, acked.places, acked.event
                    ));
                }
                if let Some(other) = order_of_hold.insert(hold, id) {
                    return Err(format!("hold {hold} has two orders: {other} and {id}"));
                }
                if hold_of_order.insert(id, hold).is_some() {
                    return Err(format!("order {id} is listed twice"));
                }
            }
            let (status, a) = api.get(&format!("/events/{event}/availability")).map_err(|e| e.to_string())?;
            if status != 200 {
                return Err(format!("availability of event {event} answered {status}: {a}"));
            }
            let count = |k: &str| a[k].as_u64().ok_or_else(|| format!("availability without {k}: {a}"));
            let (sold, held, free, capacity) = (count("sold")?, count("held")?, count("free")?, count("capacity")?);
            if sold != tickets {
                return Err(format!(
                    "event {event}: availability says {sold} sold, the orders hold {tickets} valid tickets"
                ));
            }
            if sold + held + free != capacity {
                return Err(format!("event {event}: sold {sold} + held {held} + free {free} != capacity {capacity}"));
            }
        }
        for (&order, &hold) in &model.orders {
            if !events.contains(&model.holds[&hold].event) {
                continue;
            }
            match hold_of_order.get(&order) {
                Some(&h) if h == hold => {}
                Some(h) => return Err(format!("order {order} was for hold {hold}, now it is for hold {h}")),
                None => return Err(format!("acknowledged order {order} (hold {hold}) is lost")),
            }
        }
        drop(model);
        self.settle_pending(api, &order_of_hold)
    }

    /// Every acknowledged hold without a known order is confirmed now (retrying an
    /// unanswered confirm under its own key), or abandoned after checking its seats
    /// are still held. Orders that committed without a reply are adopted.
    fn settle_pending(&mut self, api: &Api, order_of_hold: &HashMap<u64, u64>) -> Result<(), String> {
        let pending: Vec<u64> = self.model.lock().unwrap().pending.iter().copied().collect();
        let mut abandoned = Vec::new();
        for hold in pending {
            let acked = self.model.lock().unwrap().holds[&hold].clone();
            let committed = order_of_hold.get(&hold).copied();
            let may_have_expired = wall_ms() + expiry_margin_ms >= acked.sent_at_ms + hold_duration_ms;
            let path = format!("/holds/{}/confirm", acked.token);
            if committed.is_some() && acked.confirm_key.is_none() {
                return Err(format!("hold {hold} has order {committed:?} but no confirm was ever sent"));
            }
            let key = match (&acked.confirm_key, committed) {
                (Some(key), _) if self.rng.random_bool(0.8) => key.clone(),
                (_, Some(order)) => {
                    // Committed but unanswered, and this client does not retry: the
                    // order stays (checked from now on) and is the hold's only one.
                    self.expect_single_order(api, hold, &acked, order)?;
                    self.model.lock().unwrap().orders.insert(order, hold);
                    self.model.lock().unwrap().pending.remove(&hold);
                    continue;
                }
                (_, None) if self.rng.random_bool(0.75) => format!("late-{hold}"),
                (_, None) => {
                    abandoned.push(hold);
                    continue;
                }
            };
            let same_key = acked.confirm_key.as_deref() == Some(key.as_str());
            let (status, reply) =
                api.post(&path, &key, &confirm_body(hold), Caller::Admin).map_err(|e| e.to_string())?;
            if same_key {
                self.stats.retries += 1;
            }
            match status {
                201 => {
                    let order =
                        reply["order_id"].as_u64().ok_or_else(|| format!("confirm reply without order_id: {reply}"))?;
                    match committed {
                        Some(first) if first != order => {
                            return Err(format!(
                                "retrying hold {hold}'s confirm under key {key} made order {order}, but order {first} had committed"
                            ));
                        }
                        Some(_) => self.stats.retries_replayed += 1,
                        None if same_key => self.stats.retries_fresh += 1,
                        None => {}
                    }
                    self.expect_single_order(api, hold, &acked, order)?;
                    self.model.lock().unwrap().order_acked(order, hold);
                }
                410 if reply["code"] == "hold_ended" && committed.is_none() && may_have_expired => {
                    if same_key {
                        self.stats.retries_ended += 1;
                    }
                    self.model.lock().unwrap().pending.remove(&hold);
                }
                _ => {
                    return Err(format!(
                        "confirming acknowledged hold {hold} (sent {} ms ago, committed order {committed:?}) under key {key} \
                         answered {status}: {reply}",
                        wall_ms() - acked.sent_at_ms
                    ));
                }
            }
        }
        if abandoned.is_empty() {
            return Ok(());
        }
        let events: BTreeSet<u64> = {
            let model = self.model.lock().unwrap();
            abandoned.iter().map(|h| model.holds[h].event).collect()
        };
        let mut held = HashSet::new();
        for event in events {
            held.extend(seats_in_state(api, event, "held")?.into_iter().map(|s| (event, s)));
        }
        let mut model = self.model.lock().unwrap();
        for hold in abandoned {
            let acked = &model.holds[&hold];
            // Checked after the seat map was read, so a hold still young now was young then.
            let young = wall_ms() + expiry_margin_ms < acked.sent_at_ms + hold_duration_ms;
            for place in &acked.places {
                if let Place::Seat(seat) = place
                    && young
                    && !held.contains(&(acked.event, *seat))
                {
                    return Err(format!(
                        "acknowledged hold {hold} lost seat {seat} of event {} before expiry",
                        acked.event
                    ));
                }
            }
            model.pending.remove(&hold);
            self.stats.abandoned += 1;
        }
        Ok(())
    }

    /// A confirm under a key never used before must be refused and name `order`.
    fn expect_single_order(&self, api: &Api, hold: u64, acked: &HoldAcked, order: u64) -> Result<(), String> {
        let path = format!("/holds/{}/confirm", acked.token);
        let (status, reply) =
            api.post(&path, &format!("again-{hold}"), &confirm_body(hold), Caller::Admin).map_err(|e| e.to_string())?;
        if status == 409 && reply["code"] == "hold_already_confirmed" && reply["order_id"].as_u64() == Some(order) {
            Ok(())
        } else {
            Err(format!("a second confirm of hold {hold} (order {order}) under a new key answered {status}: {reply}"))
        }
    }
}

/// Which events a check after a restart reads back.
#[derive(Clone, Copy)]
enum Scope {
    AllEvents,
    LiveEvents,
}

// ----- the clients -----

struct Client {
    api: Api,
    model: Arc<Mutex<Model>>,
    stop: Arc<AtomicBool>,
    rng: ChaCha8Rng,
    event: u64,
    free_seats: Arc<Vec<u32>>,
    tag: String,
}

impl Client {
    /// Holds and confirms until the server dies under it (any transport error) or the
    /// cycle ends. Only `201` answers go into the model.
    fn run(mut self) {
        for n in 0u64.. {
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            let (selection, wanted) = self.selection();
            let body = json!({"customer": format!("fan-{}-{n}", self.tag), "tariff": 0, "selection": selection});
            let sent_at_ms = wall_ms();
            let Ok((status, reply)) = self.api.post(
                &format!("/events/{}/holds", self.event),
                &format!("hold-{}-{n}", self.tag),
                &body,
                Caller::Buyer,
            ) else {
                return self.cut();
            };
            match (status, reply["code"].as_str()) {
                (201, _) => {}
                (409, Some("seat_unavailable" | "sold_out" | "not_enough_adjacent_seats")) => continue,
                (503, _) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                _ => return self.fail(format!("hold {body} answered {status}: {reply}")),
            }
            let (Some(hold), Some(token)) = (reply["hold_id"].as_u64(), reply["hold"].as_str()) else {
                return self.fail(format!("hold reply without hold_id or hold: {reply}"));
            };
            let places = places_of(&reply["places"]);
            if !wanted.matches(&places) {
                return self.fail(format!("hold {hold} asked for {wanted:?} and got {places:?}"));
            }
            let acked =
                HoldAcked { event: self.event, token: token.to_string(), places, sent_at_ms, confirm_key: None };
            self.model.lock().unwrap().hold_acked(hold, acked);
            if self.rng.random_bool(0.15) {
                continue; // Abandoned: settled after the restart or left to expire.
            }
            let key = format!("confirm-{}-{n}", self.tag);
            let path = format!("/holds/{token}/confirm");
            self.model.lock().unwrap().holds.get_mut(&hold).expect("just added").confirm_key = Some(key.clone());
            let Ok((status, reply)) = self.api.post(&path, &key, &confirm_body(hold), Caller::Admin) else {
                return self.cut();
            };
            match (status, reply["order_id"].as_u64()) {
                (201, Some(order)) => self.model.lock().unwrap().order_acked(order, hold),
                _ => return self.fail(format!("confirming fresh hold {hold} answered {status}: {reply}")),
            }
        }
    }

    fn selection(&mut self) -> (Value, Wanted) {
        let quantity = self.rng.random_range(1..=4u32);
        match self.rng.random_range(0..10) {
            0..4 if self.free_seats.len() >= 3 => {
                // A run of seats that were free when the cycle began; other clients
                // may have them by now, which the server must refuse cleanly.
                let count = self.rng.random_range(1..=3usize);
                let start = self.rng.random_range(0..=self.free_seats.len() - count);
                let seats = self.free_seats[start..start + count].to_vec();
                let wanted = Wanted::Places(seats.iter().map(|&s| Place::Seat(s)).collect());
                (json!({"type": "seats", "seats": seats}), wanted)
            }
            0..8 => (
                json!({"type": "best_available", "category": 0, "block": null, "quantity": quantity}),
                Wanted::Seats(quantity as usize),
            ),
            _ => (
                json!({"type": "standing", "area": 0, "quantity": quantity}),
                Wanted::Places(vec![Place::Standing(0); quantity as usize]),
            ),
        }
    }

    fn cut(&self) {
        self.model.lock().unwrap().requests_cut += 1;
    }

    fn fail(&self, why: String) {
        self.model.lock().unwrap().failures.push(format!("client {}: {why}", self.tag));
    }
}

#[derive(Debug)]
enum Wanted {
    /// Exactly these places (sorted).
    Places(Vec<Place>),
    /// This many distinct seats, the server's choice.
    Seats(usize),
}

impl Wanted {
    fn matches(&self, places: &[Place]) -> bool {
        match self {
            Wanted::Places(wanted) => {
                let mut wanted = wanted.clone();
                wanted.sort();
                wanted == places
            }
            Wanted::Seats(count) => {
                let seats: HashSet<_> = places.iter().filter(|p| matches!(p, Place::Seat(_))).collect();
                seats.len() == *count && places.len() == *count
            }
        }
    }
}

fn confirm_body(hold: u64) -> Value {
    // The payment reference names the hold, so every order read back can be traced
    // to the hold it came from.
    json!({"payment_ref": format!("pay-{hold}"), "buyer": {"name": "Erika Muster", "email": "erika@example.org"}})
}

/// Sorted places from a hold reply's `places` or an order's `tickets`.
fn places_of(list: &Value) -> Vec<Place> {
    let mut places: Vec<Place> = list
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| match (p["seat"].as_u64(), p["area"].as_u64()) {
            (Some(seat), _) => Some(Place::Seat(seat as u32)),
            (None, Some(area)) => Some(Place::Standing(area as u16)),
            (None, None) => None,
        })
        .collect();
    places.sort();
    places
}

// ----- the API -----

/// Who calls: buyers send no credentials, the organizer its API token.
#[derive(Clone, Copy)]
pub(crate) enum Caller {
    Buyer,
    Admin,
}

pub(crate) struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Api {
    pub(crate) fn new(addr: &str, token: &str) -> Api {
        // A fresh agent per server process: no pooled connection outlives a kill.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_millis(request_timeout_ms)))
            .build();
        Api { agent: config.into(), base: format!("http://{addr}/api/v1/{tenant_slug}"), token: token.to_string() }
    }

    pub(crate) fn get(&self, path: &str) -> Result<(u16, Value), ureq::Error> {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .call()?;
        answer(&mut response)
    }

    pub(crate) fn post(&self, path: &str, key: &str, body: &Value, caller: Caller) -> Result<(u16, Value), ureq::Error> {
        let mut request = self.agent.post(format!("{}{path}", self.base)).header("Idempotency-Key", key);
        if let Caller::Admin = caller {
            request = request.header("Authorization", format!("Bearer {}", self.token));
        }
        let mut response = request.content_type("application/json").send(body.to_string())?;
        answer(&mut response)
    }
}

fn answer(response: &mut ureq::http::Response<ureq::Body>) -> Result<(u16, Value), ureq::Error> {
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string()?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

struct OrderSeen {
    payment_ref: String,
    places: Vec<Place>,
}

/// Every order of an event, page by page; every ticket must be valid (nothing is
/// ever cancelled here).
fn read_orders(api: &Api, event: u64) -> Result<BTreeMap<u64, OrderSeen>, String> {
    let mut orders = BTreeMap::new();
    let mut after = 0;
    loop {
        let (status, page) =
            api.get(&format!("/events/{event}/orders?after={after}&limit=500")).map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("listing orders of event {event} answered {status}: {page}"));
        }
        for order in page["orders"].as_array().ok_or_else(|| format!("no orders list: {page}"))? {
            let id = order["order_id"].as_u64().ok_or("order_id")?;
            if order["event"].as_u64() != Some(event) {
                return Err(format!("order {id} listed under event {event}: {order}"));
            }
            let tickets = order["tickets"].as_array().ok_or("tickets")?;
            if tickets.iter().any(|t| t["state"] != "valid") {
                return Err(format!("order {id} has a ticket that is not valid: {order}"));
            }
            let seen = OrderSeen {
                payment_ref: order["payment_ref"].as_str().unwrap_or_default().to_string(),
                places: places_of(&order["tickets"]),
            };
            if seen.places.len() != tickets.len() {
                return Err(format!("order {id} has a ticket without a place: {order}"));
            }
            if orders.insert(id, seen).is_some() {
                return Err(format!("order {id} is listed twice"));
            }
        }
        match page["next_after"].as_u64() {
            Some(next) if next > after => after = next,
            Some(next) => return Err(format!("order pages do not advance: after {after} → {next}")),
            None => return Ok(orders),
        }
    }
}

fn seats_in_state(api: &Api, event: u64, state: &str) -> Result<Vec<u32>, String> {
    let (status, map) = api.get(&format!("/events/{event}/seats")).map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("seat map of event {event} answered {status}: {map}"));
    }
    Ok(map["seats"]
        .as_array()
        .ok_or("no seats")?
        .iter()
        .filter(|s| s["state"] == state)
        .filter_map(|s| s["id"].as_u64().map(|id| id as u32))
        .collect())
}

/// Creates the venue and one event and opens its sale; returns the event id.
pub(crate) fn set_up_sale(api: &Api, number: usize) -> Result<u64, String> {
    set_up_sale_at(api, create_venue(api)?, number)
}

fn create_venue(api: &Api) -> Result<u64, String> {
    let (status, created) = api.post("/venues", "venue-1", &venue(), Caller::Admin).map_err(|e| e.to_string())?;
    if status != 201 {
        return Err(format!("creating the venue answered {status}: {created}"));
    }
    created["id"].as_u64().ok_or_else(|| format!("no venue id in {created}"))
}

fn set_up_sale_at(api: &Api, venue: u64, number: usize) -> Result<u64, String> {
    let (status, created) = api
        .post("/events", &format!("event-{number}"), &event(venue, number), Caller::Admin)
        .map_err(|e| e.to_string())?;
    if status != 201 {
        return Err(format!("creating event {number} answered {status}: {created}"));
    }
    let id = created["id"].as_u64().ok_or("event id")?;
    let (status, sale) = api
        .post(&format!("/events/{id}/sale"), &format!("open-{number}"), &json!({"action": "open"}), Caller::Admin)
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("opening the sale of event {id} answered {status}: {sale}"));
    }
    Ok(id)
}

// ----- the child process -----

/// A `sturmfest serve` child. Dropping it SIGKILLs and reaps it, so a failing test
/// leaks no server.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: String,
    ready: Option<mpsc::Receiver<String>>,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Spawns the server without waiting for it to listen.
    fn launch(data_dir: &Path) -> Result<Server, String> {
        Server::launch_wrapped(data_dir, &[])
    }

    /// Spawns the server under `wrapper` (e.g. `fiu-run -x`, which execs it with a
    /// fault-injection library preloaded) without waiting for it to listen.
    pub(crate) fn launch_wrapped(data_dir: &Path, wrapper: &[&str]) -> Result<Server, String> {
        let mut command = match wrapper.split_first() {
            None => Command::new(sturmfest_bin),
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(sturmfest_bin);
                command
            }
        };
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The child takes its settings from flags and from the variables set here
        // only, not from whatever STURMFEST_* the test itself runs under.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("STURMFEST_") {
                command.env_remove(name);
            }
        }
        command
            .env("STURMFEST_SNAPSHOT_INTERVAL_RECORDS", snapshot_interval_records.to_string())
            .env("STURMFEST_LOG", "info")
            .env("NO_COLOR", "1");
        let mut child = command.spawn().map_err(|e| format!("spawning {sturmfest_bin}: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
                if log.len() > server_log_bytes_max {
                    let cut = log.len() - server_log_bytes_max / 2;
                    let cut = (cut..log.len()).find(|&i| log.is_char_boundary(i)).unwrap_or(log.len());
                    log.drain(..cut);
                }
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        Ok(Server { child, addr: String::new(), ready: Some(rx), log })
    }

    /// Spawns the server and waits until it has recovered and listens.
    pub(crate) fn start(data_dir: &Path) -> Result<Server, String> {
        Server::start_wrapped(data_dir, &[])
    }

    pub(crate) fn start_wrapped(data_dir: &Path, wrapper: &[&str]) -> Result<Server, String> {
        let mut server = Server::launch_wrapped(data_dir, wrapper)?;
        let ready = server.ready.take().expect("fresh");
        match ready.recv_timeout(Duration::from_millis(server_ready_timeout_ms)) {
            Ok(addr) => {
                server.addr = addr;
                Ok(server)
            }
            Err(_) => {
                let status = server.child.try_wait().ok().flatten();
                std::thread::sleep(Duration::from_millis(100)); // let the log drain
                Err(format!("the server did not come up (exit: {status:?}):\n{}", server.log()))
            }
        }
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The first log line containing `needle`, waiting a little for the log to drain.
    fn wait_for_log(&self, needle: &str) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.log().lines().find(|l| l.contains(needle)) {
                return Ok(line.to_string());
            }
            if Instant::now() > deadline {
                return Err(format!("no {needle:?} in the server log:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL. Fails if the server had already exited on its own (a panic or a
    /// failed assertion is a finding, not a kill).
    pub(crate) fn kill(&mut self) -> Result<(), String> {
        use std::os::unix::process::ExitStatusExt;
        if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("the server exited by itself ({status}) before the kill:\n{}", self.log()));
        }
        self.child.kill().map_err(|e| e.to_string())?;
        let status = self.child.wait().map_err(|e| e.to_string())?;
        match status.signal() {
            Some(libc::SIGKILL) => Ok(()),
            _ => Err(format!("the server exited with {status} instead of dying of SIGKILL:\n{}", self.log())),
        }
    }

    /// SIGTERM, then wait for a clean exit (requests drained, snapshots written).
    fn terminate(&mut self) -> Result<(), String> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(|e| e.to_string())?;
        // SAFETY: `pid` is our own child, not yet reaped, so the id cannot be reused.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(format!("SIGTERM: {}", std::io::Error::last_os_error()));
        }
        let status = self.wait_exit(Duration::from_millis(server_stop_timeout_ms))?;
        std::thread::sleep(Duration::from_millis(50)); // let the log drain
        if status.success() { Ok(()) } else { Err(format!("a clean stop exited with {status}:\n{}", self.log())) }
    }

    fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!("the server did not stop within {timeout:?}:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn add_tenant(data_dir: &Path) -> Result<String, String> {
    let output = Command::new(sturmfest_bin)
        .args(["tenant", "add", tenant_slug, "--name", "Crash Test Club", "--data-dir"])
        .arg(data_dir)
        .env_remove("STURMFEST_DATA_DIR")
        .output()
        .map_err(|e| format!("spawning {sturmfest_bin}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("tenant add failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr)));
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("API token (shown once, stored only hashed): "))
        .map(|t| t.trim().to_string())
        .ok_or_else(|| format!("no API token in: {stdout}"))
}

/// Runs `sturmfest verify`; its stdout on exit 0, else everything it said.
pub(crate) fn verify(data_dir: &Path) -> Result<String, String> {
    let output = Command::new(sturmfest_bin)
        .args(["verify", "--data-dir"])
        .arg(data_dir)
        .env_remove("STURMFEST_DATA_DIR")
        .env("NO_COLOR", "1")
        .output()
        .map_err(|e| format!("spawning {sturmfest_bin}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!("verify exited with {}:\n{stdout}{}", output.status, String::from_utf8_lossy(&output.stderr)))
    }
}

/// `name=123` from a tracing line (any ANSI colouring stripped first).
fn field(line: &str, name: &str) -> Option<u64> {
    let plain = strip_ansi(line);
    let at = plain.find(&format!("{name}="))? + name.len() + 1;
    let digits: String = plain[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(value.trim().parse().unwrap_or_else(|_| panic!("{name} must be a whole number, not {value:?}")))
}

pub(crate) fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
