//! The flash-sale scenario: thousands of seeded fans race for one event's seats and
//! standing places over a fixed pool of keep-alive connections, then the run reads
//! every order back and checks that nothing was sold twice or lost.
//!
//! Each fan draws from its own ChaCha stream (seed, fan number), so a fan's intent is
//! reproducible whatever the scheduling; only the server's replies differ between runs.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::http::{Conn, Headers, Reply, Target};
use super::stats::{self, Kind, Stats, per_second};
use super::verify::{self, AckedOrder, Counts, OrderRecord, Places};

#[derive(clap::Args, Debug, Clone)]
pub struct FlashSaleArgs {
    #[command(flatten)]
    pub server: super::ServerArgs,
    /// Venue for the fresh event created when `--event` is not given.
    #[arg(long, default_value_t = 0)]
    pub venue: u32,
    /// Sell this existing event (whose sale must be open) instead of creating one.
    #[arg(long)]
    pub event: Option<u32>,
    /// Fans arriving; each is customer `fan-<n>`.
    #[arg(long, default_value_t = 20_000)]
    pub fans: u64,
    /// Connections, each with at most one request in flight.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Share of holds released (DELETE) instead of confirmed.
    #[arg(long, default_value_t = 0.1)]
    pub abandon: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of fans asking for best-available seats.
    #[arg(long, default_value_t = 0.5)]
    pub best_available: f64,
    /// Share of fans asking for standing places; the rest pick seats themselves.
    #[arg(long, default_value_t = 0.2)]
    pub standing: f64,
    /// Share of confirms sent a second time with the same Idempotency-Key.
    #[arg(long, default_value_t = 0.02)]
    pub replay: f64,
    /// hold_duration_secs of a created event (30..=600).
    #[arg(long, default_value_t = 30)]
    pub hold_secs: u64,
    /// Hard limit on the selling phase.
    #[arg(long, default_value_t = 120)]
    pub max_seconds: u64,
}

/// A fan tries at most this many holds (after seat_unavailable, sold_out, ...).
const fan_hold_attempts_max: u32 = 6;
/// One request is sent at most this often (503 with Retry-After, broken connection).
pub(super) const call_attempts_max: u32 = 4;
/// Retry-After is honoured up to this; a longer one ends the fan's attempt.
pub(super) const retry_after_secs_max: u64 = 2;
/// A fan that sees no free place but live holds re-reads availability this often,
/// since abandoned holds come back; then it leaves.
const fan_waits_max: u32 = 3;
const fan_wait_ms: u64 = 200;
/// Availability is cacheable for 1 s; the final read waits it out.
pub(super) const availability_cache_ms: u64 = 1_100;
const orders_page_limit: u32 = 500;
const orders_pages_max: u32 = 100_000;
const quantity_max: u32 = 4;
const concurrency_max: usize = 10_000;

/// What every worker shares: targets, the seat map and the local view of taken seats.
struct Shared {
    base: String,
    event: u32,
    run: String,
    args: FlashSaleArgs,
    seats: SeatMap,
    area_tariffs: HashMap<u32, u32>,
    category_tariffs: HashMap<u32, u32>,
    next_fan: AtomicU64,
    stop: AtomicBool,
    sold_seen: AtomicU64,
    deadline: Instant,
}

/// The event's seats as fetched once, plus a lock-free local guess of which are
/// taken: set on our own holds and on seat_unavailable, cleared on our releases.
struct SeatMap {
    ids: Vec<u32>,
    index_of: HashMap<u32, usize>,
    taken: Vec<AtomicBool>,
    /// A row group per seat; seats of one group with consecutive ids are adjacent.
    row: Vec<u32>,
    category: Vec<Option<u32>>,
    /// Block id → seat indices in id order.
    blocks: HashMap<u32, Vec<usize>>,
}

impl SeatMap {
    fn parse(body: &Value) -> Result<SeatMap, String> {
        let list = body.get("seats").and_then(Value::as_array).ok_or("seat list without \"seats\"")?;
        let mut rows: HashMap<String, u32> = HashMap::new();
        let mut entries = Vec::with_capacity(list.len());
        for s in list {
            let id = s.get("id").and_then(Value::as_u64).ok_or_else(|| format!("seat without id: {s}"))? as u32;
            let block = s.get("block").and_then(id_of).unwrap_or(0);
            let row_key = format!("{block}/{}", s.get("row").map(Value::to_string).unwrap_or_default());
            let next = rows.len() as u32;
            let row = *rows.entry(row_key).or_insert(next);
            let category = s.get("category").and_then(id_of);
            let free = s.get("state").and_then(Value::as_str) == Some("free") && category.is_some();
            entries.push((id, block, row, category, free));
        }
        entries.sort_unstable_by_key(|e| e.0);
        let mut map = SeatMap {
            ids: Vec::with_capacity(entries.len()),
            index_of: HashMap::with_capacity(entries.len()),
            taken: Vec::with_capacity(entries.len()),
            row: Vec::with_capacity(entries.len()),
            category: Vec::with_capacity(entries.len()),
            blocks: HashMap::new(),
        };
        for (i, (id, block, row, category, free)) in entries.into_iter().enumerate() {
            map.ids.push(id);
            map.index_of.insert(id, i);
            map.taken.push(AtomicBool::new(!free));
            map.row.push(row);
            map.category.push(category);
            map.blocks.entry(block).or_default().push(i);
        }
        Ok(map)
    }

    fn mark(&self, seats: &[u32], taken: bool) {
        for seat in seats {
            if let Some(&i) = self.index_of.get(seat) {
                self.taken[i].store(taken, Ordering::Relaxed);
            }
        }
    }

    fn is_taken(&self, i: usize) -> bool {
        self.taken[i].load(Ordering::Relaxed)
    }

    /// Up to `quantity` adjacent seats in `block` that look free, starting at a
    /// random place; `None` when the block looks full.
    fn pick(&self, block: u32, quantity: u32, rng: &mut ChaCha8Rng) -> Option<Vec<u32>> {
        let seats = self.blocks.get(&block)?;
        if seats.is_empty() {
            return None;
        }
        let start = rng.random_range(0..seats.len());
        let first = (0..seats.len()).map(|k| (start + k) % seats.len()).find(|&k| !self.is_taken(seats[k]))?;
        let mut picked = vec![self.ids[seats[first]]];
        let mut k = first;
        while picked.len() < quantity as usize && k + 1 < seats.len() {
            let (a, b) = (seats[k], seats[k + 1]);
            let adjacent = self.row[a] == self.row[b] && self.ids[b] == self.ids[a] + 1;
            if !adjacent || self.is_taken(b) || self.category[a] != self.category[b] {
                break;
            }
            picked.push(self.ids[b]);
            k += 1;
        }
        Some(picked)
    }

    fn category_of(&self, seat: u32) -> Option<u32> {
        self.index_of.get(&seat).and_then(|&i| self.category[i])
    }
}

pub(super) fn id_of(v: &Value) -> Option<u32> {
    v.as_u64().or_else(|| v.get("id").and_then(Value::as_u64)).map(|n| n as u32)
}

/// The parts of `GET /events/{event}/availability` the fans use.
#[derive(Clone, Debug, Default)]
pub(super) struct Availability {
    pub(super) counts: Counts,
    /// (category id, free) of seated categories.
    pub(super) seated: Vec<(u32, u64)>,
    pub(super) blocks: Vec<(u32, u64)>,
    pub(super) areas: Vec<(u32, u64)>,
}

impl Availability {
    pub(super) fn parse(v: &Value) -> Result<Availability, String> {
        let n = |field: &str| {
            v.get(field).and_then(Value::as_u64).ok_or_else(|| format!("availability without numeric {field:?}: {v}"))
        };
        let counts = Counts { capacity: n("capacity")?, free: n("free")?, held: n("held")?, sold: n("sold")? };
        let pairs = |field: &str, keep: &dyn Fn(&Value) -> bool| -> Vec<(u32, u64)> {
            v.get(field)
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter(|e| keep(e))
                        .filter_map(|e| Some((id_of(e.get("id")?)?, e.get("free")?.as_u64()?)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let seated = pairs("categories", &|c| c.get("kind").and_then(Value::as_str) != Some("standing"));
        Ok(Availability { counts, seated, blocks: pairs("blocks", &|_| true), areas: pairs("areas", &|_| true) })
    }

    pub(super) fn sold_out(&self) -> bool {
        self.counts.free == 0 && self.counts.held == 0
    }
}

/// What one hold attempt asks for.
#[derive(Clone, Debug)]
enum Choice {
    Seats(Vec<u32>),
    BestAvailable { category: u32, quantity: u32 },
    Standing { area: u32, quantity: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Seats,
    BestAvailable,
    Standing,
}

/// Per-worker tallies of what fans did; summed for the report.
#[derive(Clone, Debug, Default)]
struct Tally {
    fans: u64,
    fans_found_nothing: u64,
    fans_gave_up: u64,
    holds: u64,
    hold_retries: u64,
    released: u64,
    confirmed: u64,
    tickets_confirmed: u64,
    confirm_rejected: u64,
    replays: u64,
    replays_identical: u64,
    overload_waits: u64,
    stop_sold_out: u64,
}

impl Tally {
    fn absorb(&mut self, o: &Tally) {
        self.fans += o.fans;
        self.fans_found_nothing += o.fans_found_nothing;
        self.fans_gave_up += o.fans_gave_up;
        self.holds += o.holds;
        self.hold_retries += o.hold_retries;
        self.released += o.released;
        self.confirmed += o.confirmed;
        self.tickets_confirmed += o.tickets_confirmed;
        self.confirm_rejected += o.confirm_rejected;
        self.replays += o.replays;
        self.replays_identical += o.replays_identical;
        self.overload_waits += o.overload_waits;
        self.stop_sold_out += o.stop_sold_out;
    }
}

struct Worker {
    shared: Arc<Shared>,
    conn: Conn,
    stats: Stats,
    tally: Tally,
    acked: Vec<AckedOrder>,
    /// Contract violations seen in single replies (e.g. a replay that differs).
    violations: Vec<String>,
    keys: u64,
    worker: usize,
}

struct WorkerResult {
    stats: Stats,
    tally: Tally,
    acked: Vec<AckedOrder>,
    violations: Vec<String>,
}

impl Worker {
    fn key(&mut self) -> String {
        self.keys += 1;
        format!("lg-{}-{}-{}", self.shared.run, self.worker, self.keys)
    }

    /// Sends one request, retrying (with the same Idempotency-Key) on 503 and on a
    /// broken connection; `None` when every attempt failed or time is up.
    async fn call(&mut self, kind: Kind, method: Method, path: &str, key: Option<&str>, body: Option<&Value>) -> Option<Reply> {
        let body = body.map(|b| Bytes::from(serde_json::to_vec(b).expect("JSON values serialize")));
        let headers = Headers { idempotency_key: key, bearer: None };
        for _ in 0..call_attempts_max {
            if Instant::now() >= self.shared.deadline {
                return None;
            }
            let result = self.conn.send(method.clone(), path, &headers, body.clone()).await;
            self.stats.record(kind, &result);
            match result {
                Ok(reply) if reply.status == StatusCode::SERVICE_UNAVAILABLE => {
                    self.tally.overload_waits += 1;
                    let secs = reply.retry_after_secs.unwrap_or(1);
                    if secs > retry_after_secs_max {
                        return Some(reply);
                    }
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                }
                Ok(reply) => return Some(reply),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        None
    }

    async fn availability(&mut self) -> Option<Availability> {
        let path = format!("{}/events/{}/availability", self.shared.base, self.shared.event);
        let reply = self.call(Kind::Availability, Method::GET, &path, None, None).await?;
        if reply.status != StatusCode::OK {
            return None;
        }
        let avail = Availability::parse(&reply.json()?).ok()?;
        self.shared.sold_seen.fetch_max(avail.counts.sold, Ordering::Relaxed);
        if avail.sold_out() {
            self.shared.stop.store(true, Ordering::Relaxed);
        }
        Some(avail)
    }

    async fn run(mut self) -> WorkerResult {
        let fans = self.shared.args.fans;
        while !self.shared.stop.load(Ordering::Relaxed) && Instant::now() < self.shared.deadline {
            let fan = self.shared.next_fan.fetch_add(1, Ordering::Relaxed);
            if fan >= fans {
                break;
            }
            self.tally.fans += 1;
            self.fan(fan).await;
        }
        WorkerResult { stats: self.stats, tally: self.tally, acked: self.acked, violations: self.violations }
    }

    async fn fan(&mut self, fan: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.shared.args.seed);
        rng.set_stream(fan);
        let Some(mut avail) = self.availability().await else { return };
        for _ in 0..fan_waits_max {
            if avail.counts.free > 0 {
                break;
            }
            if avail.sold_out() {
                self.tally.stop_sold_out += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(fan_wait_ms)).await;
            let Some(again) = self.availability().await else { return };
            avail = again;
        }
        if avail.counts.free == 0 {
            self.tally.fans_found_nothing += 1;
            return;
        }
        let args = &self.shared.args;
        let roll: f64 = rng.random();
        let mode = if roll < args.best_available {
            Mode::BestAvailable
        } else if roll < args.best_available + args.standing {
            Mode::Standing
        } else {
            Mode::Seats
        };
        let mut quantity = rng.random_range(1..=quantity_max);
        let holds_path = format!("{}/events/{}/holds", self.shared.base, self.shared.event);
        let customer = format!("fan-{fan}");
        let mut held: Option<(String, Places)> = None;
        for attempt in 0..fan_hold_attempts_max {
            if attempt > 0 {
                self.tally.hold_retries += 1;
            }
            let Some(choice) = self.choose(mode, quantity, &avail, &mut rng) else { break };
            let (tariff_count, selection) = match &choice {
                Choice::Seats(seats) => (
                    self.shared.seats.category_of(seats[0]).and_then(|c| self.shared.category_tariffs.get(&c)).copied(),
                    json!({"type": "seats", "seats": seats}),
                ),
                Choice::BestAvailable { category, quantity } => (
                    self.shared.category_tariffs.get(category).copied(),
                    json!({"type": "best_available", "category": category, "block": null, "quantity": quantity}),
                ),
                Choice::Standing { area, quantity } => (
                    self.shared.area_tariffs.get(area).copied(),
                    json!({"type": "standing", "area": area, "quantity": quantity}),
                ),
            };
            let tariff = rng.random_range(0..tariff_count.unwrap_or(1).max(1));
            let body = json!({"customer": customer, "tariff": tariff, "selection": selection});
            let key = self.key();
            let Some(reply) = self.call(Kind::Hold, Method::POST, &holds_path, Some(&key), Some(&body)).await else {
                break;
            };
            if reply.status == StatusCode::CREATED {
                let Some(v) = reply.json() else { break };
                let places = Places::from_hold_reply(&v);
                let token = v.get("hold").and_then(Value::as_str).map(str::to_string);
                match (token, places) {
                    (Some(token), Ok(places)) => {
                        self.shared.seats.mark(&places.seats, true);
                        self.tally.holds += 1;
                        held = Some((token, places));
                    }
                    (token, places) => self
                        .violations
                        .push(format!("hold reply not per contract (hold {token:?}, places {places:?}): {v}")),
                }
                break;
            }
            let code = reply.problem_code().unwrap_or_default();
            match code.as_str() {
                "seat_unavailable" => {
                    let seat = reply.json().and_then(|v| unavailable_seat(&v));
                    match (seat, &choice) {
                        (Some(seat), _) => self.shared.seats.mark(&[seat], true),
                        // Without the seat's id we cannot tell which one; avoid them all.
                        (None, Choice::Seats(seats)) => self.shared.seats.mark(seats, true),
                        _ => {}
                    }
                }
                "not_enough_adjacent_seats" => {
                    if let Choice::BestAvailable { category, quantity: 1 } = choice {
                        zero(&mut avail.seated, category);
                    }
                    quantity = (quantity / 2).max(1);
                }
                "sold_out" => match choice {
                    Choice::BestAvailable { category, .. } => zero(&mut avail.seated, category),
                    Choice::Standing { area, quantity: q } => {
                        // Sold out may only mean "fewer than asked"; ask for fewer next.
                        if q == 1 {
                            zero(&mut avail.areas, area);
                        }
                        quantity = (q / 2).max(1);
                    }
                    Choice::Seats(_) => {}
                },
                // Our own limits or a closed sale: no other choice will help this fan.
                _ => break,
            }
        }
        let Some((token, places)) = held else {
            self.tally.fans_gave_up += 1;
            return;
        };
        if rng.random::<f64>() < self.shared.args.abandon {
            let path = format!("{}/holds/{token}", self.shared.base);
            let key = self.key();
            if let Some(reply) = self.call(Kind::Release, Method::DELETE, &path, Some(&key), None).await
                && reply.status == StatusCode::OK
            {
                self.tally.released += 1;
                self.shared.seats.mark(&places.seats, false);
            }
            return;
        }
        self.confirm(fan, &token, places, &mut rng).await;
    }

    /// Buys the hold as an online fan does: starts a payment (a retry with the same
    /// key must answer the same payment), then presses Pay at the test provider,
    /// whose webhook makes the order before it answers.
    async fn confirm(&mut self, fan: u64, token: &str, places: Places, rng: &mut ChaCha8Rng) {
        let path = format!("{}/holds/{token}/payments", self.shared.base);
        let body = json!({"buyer": {"name": format!("Fan {fan}"), "email": format!("fan-{fan}@example.org")}});
        let key = self.key();
        let Some(first) = self.call(Kind::Confirm, Method::POST, &path, Some(&key), Some(&body)).await else { return };
        if first.status != StatusCode::CREATED {
            self.tally.confirm_rejected += 1;
            return;
        }
        let Some(started) = first.json() else {
            self.violations.push(format!("payment reply for fan-{fan} is not JSON"));
            return;
        };
        if rng.random::<f64>() < self.shared.args.replay {
            self.tally.replays += 1;
            let Some(second) = self.call(Kind::Confirm, Method::POST, &path, Some(&key), Some(&body)).await else {
                return;
            };
            let same = second.status == first.status && second.json().as_ref() == Some(&started);
            if same {
                self.tally.replays_identical += 1;
            } else {
                self.violations.push(format!(
                    "payment start replayed with key {key} answered {} {} after {} {}",
                    second.status,
                    String::from_utf8_lossy(&second.body),
                    first.status,
                    started
                ));
            }
        }
        let Some(session) = started.get("redirect_url").and_then(Value::as_str).and_then(crate::load::rush::test_session) else {
            self.violations.push(format!("payment reply without a test-provider session: {started}"));
            return;
        };
        let path = format!("{}/payments/test/{session}", self.shared.base);
        let key = self.key();
        let Some(paid) = self.call(Kind::Confirm, Method::POST, &path, Some(&key), Some(&json!({"action": "pay"}))).await else { return };
        let order = paid.json().unwrap_or_default();
        if paid.status != StatusCode::OK || order.get("state").and_then(Value::as_str) != Some("succeeded") {
            self.tally.confirm_rejected += 1;
            return;
        }
        let Some(order_id) = order.get("order_id").and_then(Value::as_u64) else {
            self.violations.push(format!("succeeded payment without numeric order_id: {order}"));
            return;
        };
        self.tally.confirmed += 1;
        self.tally.tickets_confirmed += places.count() as u64;
        self.acked.push(AckedOrder { order_id, fan, places });
    }

    /// Picks what to ask for; falls back to another mode when the preferred one
    /// shows nothing free. `None` when nothing looks free anywhere.
    fn choose(&self, mode: Mode, quantity: u32, avail: &Availability, rng: &mut ChaCha8Rng) -> Option<Choice> {
        let order = match mode {
            Mode::Seats => [Mode::Seats, Mode::BestAvailable, Mode::Standing],
            Mode::BestAvailable => [Mode::BestAvailable, Mode::Seats, Mode::Standing],
            Mode::Standing => [Mode::Standing, Mode::BestAvailable, Mode::Seats],
        };
        for mode in order {
            match mode {
                Mode::Seats => {
                    // Try a few blocks that show free seats; the local view decides within.
                    let blocks: Vec<u32> = avail.blocks.iter().filter(|b| b.1 > 0).map(|b| b.0).collect();
                    for _ in 0..blocks.len().min(4) {
                        let block = blocks[rng.random_range(0..blocks.len())];
                        if let Some(seats) = self.shared.seats.pick(block, quantity, rng) {
                            return Some(Choice::Seats(seats));
                        }
                    }
                }
                Mode::BestAvailable => {
                    if let Some((category, free)) = pick_free(&avail.seated, rng) {
                        return Some(Choice::BestAvailable { category, quantity: quantity.min(free as u32) });
                    }
                }
                Mode::Standing => {
                    if let Some((area, free)) = pick_free(&avail.areas, rng) {
                        return Some(Choice::Standing { area, quantity: quantity.min(free as u32) });
                    }
                }
            }
        }
        None
    }
}

fn pick_free(list: &[(u32, u64)], rng: &mut ChaCha8Rng) -> Option<(u32, u64)> {
    let free: Vec<(u32, u64)> = list.iter().copied().filter(|e| e.1 > 0).collect();
    if free.is_empty() { None } else { Some(free[rng.random_range(0..free.len())]) }
}

fn zero(list: &mut [(u32, u64)], id: u32) {
    for e in list.iter_mut().filter(|e| e.0 == id) {
        e.1 = 0;
    }
}

/// The seat named by a seat_unavailable problem: a `seat` member if the server adds
/// one, else the number in "seat 12 is already held or sold".
fn unavailable_seat(problem: &Value) -> Option<u32> {
    if let Some(seat) = problem.get("seat").and_then(id_of) {
        return Some(seat);
    }
    let detail = problem.get("detail")?.as_str()?;
    let rest = &detail[detail.find("seat ")? + 5..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Admin and setup calls: one connection, no statistics, any non-2xx is fatal.
pub(super) struct Admin {
    pub(super) conn: Conn,
    pub(super) token: String,
    pub(super) run: String,
    pub(super) keys: u64,
}

impl Admin {
    pub(super) async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mutating = method != Method::GET;
        self.keys += 1;
        let key = format!("lg-{}-admin-{}", self.run, self.keys);
        let headers = Headers { idempotency_key: mutating.then_some(key.as_str()), bearer: Some(&self.token) };
        let body = body.map(|b| Bytes::from(serde_json::to_vec(&b).expect("JSON values serialize")));
        let mut last = String::new();
        for _ in 0..call_attempts_max {
            match self.conn.send(method.clone(), path, &headers, body.clone()).await {
                Ok(reply) if reply.status == StatusCode::SERVICE_UNAVAILABLE => {
                    last = format!("{method} {path}: 503");
                    let secs = reply.retry_after_secs.unwrap_or(1).min(retry_after_secs_max);
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                }
                Ok(reply) if reply.status.is_success() => {
                    return reply.json().ok_or_else(|| format!("{method} {path}: reply is not JSON"));
                }
                Ok(reply) => {
                    return Err(format!(
                        "{method} {path} answered {}: {}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    ));
                }
                Err(failure) => {
                    last = format!("{method} {path}: {failure}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Err(last)
    }
}

/// When a fresh event's sale opens and what the box office may sell of it.
#[derive(Clone, Copy, Debug)]
pub(super) struct SalePlan {
    /// Seconds since the Unix epoch.
    pub(super) opens_at_secs: i64,
    pub(super) box_office_quota: Option<u32>,
}

/// The request body for a fresh event: every block in seated categories (split in
/// two when there are several, so best_available has a choice), each standing area
/// its own category, the sale window from `plan.opens_at_secs` for a week.
pub(super) fn event_body(
    venue_id: u32,
    venue: &Value,
    run: &str,
    hold_secs: u64,
    plan: SalePlan,
) -> Result<(Value, usize), String> {
    let ids = |field: &str| -> Vec<u32> {
        venue
            .get(field)
            .and_then(Value::as_array)
            .map(|list| list.iter().enumerate().map(|(i, e)| e.get("id").and_then(id_of).unwrap_or(i as u32)).collect())
            .unwrap_or_default()
    };
    let blocks = ids("blocks");
    let areas = if venue.get("areas").is_some() { ids("areas") } else { ids("standing") };
    if blocks.is_empty() && areas.is_empty() {
        return Err(format!("venue {venue_id} has neither blocks nor standing areas: {venue}"));
    }
    let seated_tariffs = json!([{"name": "Erwachsene", "price_cents": 2900}, {"name": "Ermäßigt", "price_cents": 1900}]);
    let mut categories = Vec::new();
    let halves: Vec<&[u32]> = if blocks.len() >= 2 {
        let (a, b) = blocks.split_at(blocks.len() / 2);
        vec![a, b]
    } else if blocks.is_empty() {
        vec![]
    } else {
        vec![&blocks[..]]
    };
    for (i, half) in halves.iter().enumerate() {
        categories.push(json!({"name": format!("Sitzplatz {}", i + 1), "blocks": half, "tariffs": seated_tariffs}));
    }
    for area in &areas {
        categories.push(json!({
            "name": format!("Stehplatz {area}"), "area": area,
            "tariffs": [{"name": "Erwachsene", "price_cents": 1500}]}));
    }
    let now = jiff::Timestamp::now().as_second();
    let at = |secs: i64| jiff::Timestamp::from_second(secs).expect("near now").to_string();
    let week = 7 * 24 * 3600;
    let body = json!({
        "name": format!("Lasttest {run}"),
        "venue": venue_id,
        "starts_at": at(now + week),
        "sale_opens_at": at(plan.opens_at_secs),
        "sale_closes_at": at(now.max(plan.opens_at_secs) + week),
        "categories": categories,
        "quotas": {"online": null, "box_office": plan.box_office_quota, "reserved": null},
        "hold_duration_secs": hold_secs.clamp(30, 600),
        "order_tickets_max": 8,
        "customer_tickets_max": 8,
    });
    Ok((body, categories.len()))
}

/// Tariff counts per category id and per standing area, from the event detail.
pub(super) fn tariffs(detail: &Value) -> (HashMap<u32, u32>, HashMap<u32, u32>) {
    let mut by_category = HashMap::new();
    let mut by_area = HashMap::new();
    for (i, c) in detail.get("categories").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let id = c.get("id").and_then(id_of).unwrap_or(i as u32);
        let n = c.get("tariffs").and_then(Value::as_array).map_or(1, |t| t.len().max(1) as u32);
        by_category.insert(id, n);
        if let Some(area) = c.get("area").and_then(id_of) {
            by_area.insert(area, n);
        }
    }
    (by_category, by_area)
}

/// Standing capacity per area, when the seat list or venue states it.
pub(super) fn area_capacities(seats: &Value, venue: Option<&Value>) -> BTreeMap<u32, u32> {
    let mut out = BTreeMap::new();
    let lists = [seats.get("areas"), venue.and_then(|v| v.get("areas")), venue.and_then(|v| v.get("standing"))];
    for list in lists.into_iter().flatten() {
        for (i, a) in list.as_array().into_iter().flatten().enumerate() {
            if let Some(cap) = a.get("capacity").and_then(Value::as_u64) {
                out.entry(a.get("id").and_then(id_of).unwrap_or(i as u32)).or_insert(cap as u32);
            }
        }
    }
    out
}

pub async fn run(args: FlashSaleArgs) -> Result<(), String> {
    let target = Target::parse(&args.server.url)?;
    let base = format!("{}/api/v1/{}", target.path, args.server.tenant);
    // Idempotency keys are remembered for a day: a fresh run id per run keeps a
    // rerun with the same seed from replaying yesterday's replies.
    let run = format!("{:x}", jiff::Timestamp::now().as_nanosecond() as u64 ^ args.seed.rotate_left(32));
    let concurrency = args.concurrency.clamp(1, concurrency_max);
    let mut admin = Admin { conn: Conn::new(&target.authority), token: args.server.token.clone(), run: run.clone(), keys: 0 };

    let mut venue = None;
    let event = match args.event {
        Some(event) => event,
        None => {
            let v = admin.call(Method::GET, &format!("{base}/venues/{}", args.venue), None).await?;
            let plan = SalePlan { opens_at_secs: jiff::Timestamp::now().as_second() - 60, box_office_quota: None };
            let (body, _) = event_body(args.venue, &v, &run, args.hold_secs, plan)?;
            venue = Some(v);
            let created = admin.call(Method::POST, &format!("{base}/events"), Some(body)).await?;
            // docs/API.md names the field `event`; accept `id` too, as the server sends.
            let event = created
                .get("event")
                .or_else(|| created.get("id"))
                .and_then(id_of)
                .ok_or_else(|| format!("POST /events reply without an event id: {created}"))?;
            admin.call(Method::POST, &format!("{base}/events/{event}/sale"), Some(json!({"action": "open"}))).await?;
            event
        }
    };
    let detail = admin.call(Method::GET, &format!("{base}/events/{event}"), None).await?;
    if venue.is_none()
        && let Some(v) = detail.get("venue").and_then(id_of)
    {
        // Only for the standing capacities; the check runs without them if this fails.
        venue = admin.call(Method::GET, &format!("{base}/venues/{v}"), None).await.ok();
    }
    let seats_body = admin.call(Method::GET, &format!("{base}/events/{event}/seats"), None).await?;
    let seats = SeatMap::parse(&seats_body)?;
    let area_capacity = area_capacities(&seats_body, venue.as_ref());
    let (category_tariffs, area_tariffs) = tariffs(&detail);
    let first = Availability::parse(&admin.call(Method::GET, &format!("{base}/events/{event}/availability"), None).await?)?;
    let capacity = first.counts.capacity;

    println!(
        "flash sale: {} tenant {} event {event}{} — capacity {capacity} ({} seats listed, {} standing areas), {} free at start",
        args.server.url,
        args.server.tenant,
        if args.event.is_none() { " (created for this run)" } else { "" },
        seats.ids.len(),
        first.areas.len(),
        first.counts.free,
    );
    println!(
        "fans {} · concurrency {concurrency} · seed {} · best-available {} · standing {} · abandon {} · replay {} · max {} s",
        args.fans, args.seed, args.best_available, args.standing, args.abandon, args.replay, args.max_seconds
    );

    let started = Instant::now();
    let shared = Arc::new(Shared {
        base: base.clone(),
        event,
        run,
        args: args.clone(),
        seats,
        area_tariffs,
        category_tariffs,
        next_fan: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        sold_seen: AtomicU64::new(first.counts.sold),
        deadline: started + Duration::from_secs(args.max_seconds),
    });

    let progress = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(capacity);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} sold") {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let ticker = {
        let (shared, progress) = (shared.clone(), progress.clone());
        tokio::spawn(async move {
            // Bounded by the deadline like everything else; aborted when selling ends.
            while Instant::now() < shared.deadline {
                progress.set_position(shared.sold_seen.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let mut handles = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let w = Worker {
            shared: shared.clone(),
            conn: Conn::new(&target.authority),
            stats: Stats::default(),
            tally: Tally::default(),
            acked: Vec::new(),
            violations: Vec::new(),
            keys: 0,
            worker,
        };
        handles.push(tokio::spawn(w.run()));
    }
    let mut stats = Stats::default();
    let mut tally = Tally::default();
    let mut acked = Vec::new();
    let mut violations = Vec::new();
    for h in handles {
        let r = h.await.map_err(|e| format!("a worker panicked: {e}"))?;
        stats.absorb(&r.stats);
        tally.absorb(&r.tally);
        acked.extend(r.acked);
        violations.extend(r.violations);
    }
    let selling = started.elapsed();
    ticker.abort();
    progress.set_position(shared.sold_seen.load(Ordering::Relaxed));
    progress.finish_and_clear();
    let why = if shared.stop.load(Ordering::Relaxed) {
        "sold out (availability showed free 0, held 0)"
    } else if shared.next_fan.load(Ordering::Relaxed) >= args.fans {
        "fans ran out"
    } else {
        "max-seconds passed"
    };

    // Verification: wait out the availability cache, then read counters and orders.
    // Nothing writes any more; hold expiry moves held to free, which keeps the sum.
    tokio::time::sleep(Duration::from_millis(availability_cache_ms)).await;
    let last = Availability::parse(&admin.call(Method::GET, &format!("{base}/events/{event}/availability"), None).await?)?;
    let read_started = Instant::now();
    let mut read_stats = Stats::default();
    let orders = read_orders(&mut admin, &base, event, &mut read_stats).await?;
    let reading = read_started.elapsed();
    stats.absorb(&read_stats);
    let check = verify::verify(last.counts, &area_capacity, &orders, &acked);
    violations.extend(check.violations.iter().cloned());

    println!();
    println!("stopped: {why} after {:.2} s", selling.as_secs_f64());
    let selling_requests = stats.total() - stats.kind(Kind::OrdersRead).count();
    println!(
        "requests: {selling_requests} while selling, {:.0} req/s; confirmed {} orders = {:.0} orders/s, {} tickets = {:.0} tickets/s",
        per_second(selling_requests, selling),
        tally.confirmed,
        per_second(tally.confirmed, selling),
        tally.tickets_confirmed,
        per_second(tally.tickets_confirmed, selling),
    );
    println!(
        "fans: {} arrived, {} found nothing free, {} got no hold, holds {} (retries {}), released {}, confirm rejected {}, 503 waits {}",
        tally.fans,
        tally.fans_found_nothing,
        tally.fans_gave_up,
        tally.holds,
        tally.hold_retries,
        tally.released,
        tally.confirm_rejected,
        tally.overload_waits
    );
    print!(
        "{}",
        stats::render(&stats, &[Kind::Availability, Kind::Hold, Kind::Release, Kind::Confirm, Kind::OrdersRead], |k| {
            if k == Kind::OrdersRead { reading } else { selling }
        })
    );
    println!(
        "idempotency: {} confirms replayed with the same key, {} identical replies",
        tally.replays, tally.replays_identical
    );
    println!(
        "verification: availability capacity {} free {} held {} sold {}; {} orders read back with {} valid tickets ({} cancelled)",
        last.counts.capacity,
        last.counts.free,
        last.counts.held,
        last.counts.sold,
        check.orders,
        check.valid_tickets,
        check.cancelled_tickets
    );
    println!(
        "  acknowledged orders: {}, all present with the same places: {}; orders without an acknowledgement seen here: {}",
        check.acknowledged,
        if check.violations.iter().any(|v| v.contains("acknowledged")) { "NO" } else { "yes" },
        check.unacknowledged
    );
    let double_sold = check.violations.iter().any(|v| v.contains("sold twice"));
    println!("  double-sold seats: {}", if double_sold { "FOUND" } else { "none" });
    println!(
        "  valid tickets + free + held == capacity: {}",
        if check.valid_tickets + last.counts.free + last.counts.held == last.counts.capacity { "yes" } else { "NO" }
    );
    if stats.server_errors_not_overload() > 0 {
        violations.push(format!("{} replies were 5xx other than 503 overload", stats.server_errors_not_overload()));
    }
    if violations.is_empty() {
        println!("result: OK — no correctness violation");
        Ok(())
    } else {
        println!("result: {} VIOLATION(S)", violations.len());
        for v in &violations {
            println!("  - {v}");
        }
        Err(format!("flash sale found {} correctness violation(s); first: {}", violations.len(), violations[0]))
    }
}

/// Every order of the event, following `next_after` until it is null.
pub(super) async fn read_orders(
    admin: &mut Admin,
    base: &str,
    event: u32,
    stats: &mut Stats,
) -> Result<Vec<OrderRecord>, String> {
    let mut orders = Vec::new();
    let mut after: Option<u64> = None;
    for _ in 0..orders_pages_max {
        let path = match after {
            None => format!("{base}/events/{event}/orders?limit={orders_page_limit}"),
            Some(a) => format!("{base}/events/{event}/orders?after={a}&limit={orders_page_limit}"),
        };
        let headers = Headers { idempotency_key: None, bearer: Some(&admin.token) };
        let result = admin.conn.send(Method::GET, &path, &headers, None).await;
        stats.record(Kind::OrdersRead, &result);
        let reply = result.map_err(|e| format!("GET {path}: {e}"))?;
        if reply.status != StatusCode::OK {
            return Err(format!("GET {path} answered {}: {}", reply.status, String::from_utf8_lossy(&reply.body)));
        }
        let page = reply.json().ok_or_else(|| format!("GET {path}: reply is not JSON"))?;
        let list = page.get("orders").and_then(Value::as_array).ok_or_else(|| format!("GET {path}: no \"orders\""))?;
        for o in list {
            orders.push(OrderRecord::parse(o)?);
        }
        match page.get("next_after").and_then(Value::as_u64) {
            None => return Ok(orders),
            Some(next) if after.is_some_and(|a| next <= a) => {
                return Err(format!("GET {path}: next_after {next} does not advance past {}", after.unwrap_or(0)));
            }
            Some(next) => after = Some(next),
        }
    }
    Err(format!("more than {orders_pages_max} pages of orders"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat_list() -> Value {
        // Block 0 row 1: seats 0..4, seat 2 sold. Block 0 row 2: seats 4..6.
        json!({"seats": [
            {"id": 0, "block": 0, "row": "1", "category": 0, "state": "free"},
            {"id": 1, "block": 0, "row": "1", "category": 0, "state": "free"},
            {"id": 2, "block": 0, "row": "1", "category": 0, "state": "sold"},
            {"id": 3, "block": 0, "row": "1", "category": 0, "state": "free"},
            {"id": 4, "block": 0, "row": "2", "category": 0, "state": "free"},
            {"id": 5, "block": 0, "row": "2", "category": 0, "state": "free"},
            {"id": 6, "block": 1, "row": "1", "category": null, "state": "not_for_sale"}]})
    }

    #[test]
    fn picked_seats_are_adjacent_free_and_in_one_row() {
        let map = SeatMap::parse(&seat_list()).unwrap();
        for seed in 0..50 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let picked = map.pick(0, 4, &mut rng).unwrap();
            assert!(!picked.contains(&2) && !picked.contains(&6), "{picked:?}");
            assert!(picked.windows(2).all(|w| w[1] == w[0] + 1), "{picked:?}");
            assert!(!(picked.contains(&3) && picked.contains(&4)), "crossed a row: {picked:?}");
        }
        assert_eq!(map.pick(1, 1, &mut ChaCha8Rng::seed_from_u64(0)), None, "block 1 has nothing for sale");
    }

    #[test]
    fn a_block_taken_in_the_local_view_yields_no_pick() {
        let map = SeatMap::parse(&seat_list()).unwrap();
        map.mark(&[0, 1, 3, 4, 5], true);
        assert_eq!(map.pick(0, 2, &mut ChaCha8Rng::seed_from_u64(1)), None);
        map.mark(&[5], false);
        assert_eq!(map.pick(0, 2, &mut ChaCha8Rng::seed_from_u64(1)), Some(vec![5]));
    }

    #[test]
    fn the_unavailable_seat_is_read_from_the_problem() {
        assert_eq!(unavailable_seat(&json!({"seat": 17})), Some(17));
        assert_eq!(unavailable_seat(&json!({"detail": "seat 12 is already held or sold"})), Some(12));
        assert_eq!(unavailable_seat(&json!({"detail": "sold out"})), None);
    }

    #[test]
    fn availability_separates_seated_categories_from_standing() {
        let v = json!({"event": 0, "sale": "open", "capacity": 10, "free": 7, "held": 1, "sold": 2,
            "categories": [{"id": 0, "kind": "seated", "free": 4}, {"id": 1, "kind": "standing", "free": 3}],
            "blocks": [{"id": 0, "name": "A", "free": 4}], "areas": [{"id": 0, "name": "Nord", "free": 3}]});
        let a = Availability::parse(&v).unwrap();
        assert_eq!(a.counts, Counts { capacity: 10, free: 7, held: 1, sold: 2 });
        assert_eq!((a.seated, a.blocks, a.areas), (vec![(0, 4)], vec![(0, 4)], vec![(0, 3)]));
        assert!(!Availability::parse(&json!({"capacity": 1})).unwrap_err().is_empty());
    }

    #[test]
    fn a_fresh_event_puts_every_block_and_area_on_sale() {
        let venue = json!({"blocks": [{"id": 0}, {"id": 1}, {"id": 2}], "areas": [{"id": 0, "capacity": 100}]});
        let plan = SalePlan { opens_at_secs: 1_800_000_000, box_office_quota: Some(500) };
        let (body, categories) = event_body(0, &venue, "r", 5, plan).unwrap();
        assert_eq!(body["quotas"]["box_office"], json!(500));
        assert_eq!(categories, 3);
        assert_eq!(body["categories"][0]["blocks"], json!([0]));
        assert_eq!(body["categories"][1]["blocks"], json!([1, 2]));
        assert_eq!(body["categories"][2]["area"], json!(0));
        assert_eq!(body["hold_duration_secs"], json!(30), "clamped to the allowed range");
    }
}
