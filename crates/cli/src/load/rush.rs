//! The rush: the club's sale behind its waiting room, played end to end over real
//! sockets. A fresh game on a venue (the demo arena: 3,000 seats and two terraces of
//! 1,500) opens `--opens-in` seconds from now; tens of thousands of fans arrive in
//! the minute around the opening, each with an identity the club issued, a solved
//! proof of work and a join; they poll their place with jitter, and when admitted
//! hold and pay with the admission. Box-office terminals sell under their quota at
//! the same moment. Afterwards every order is read back (no seat twice, tickets +
//! free + held = capacity), the published draw is recomputed from its seed, and the
//! order the fans were admitted in is checked against it.
//!
//! **Scheduling.** A fan is a small state machine (arrive → in line → shopping →
//! gone) kept in one timer heap; a fixed pool of `--concurrency` workers pops whoever
//! is due and runs one step. No task per fan: 50,000 fans cost 50,000 heap entries,
//! and at most `--concurrency` requests are ever in flight. Proof-of-work solving —
//! the CPU each fan's phone would spend — runs on at most `--solvers` blocking
//! threads and is timed, because on one machine it competes with the server.
//!
//! **Many clients, one machine.** The server limits challenges and joins per client
//! IP. Against a loopback server each fan joins from its own loopback address
//! (127.0.0.0/8 is all loopback on Linux), as fans behind different networks would.
//!
//! **Why the admission-order check is sound.** The room admits strictly by rank and
//! keeps a cursor `A` = how many ranks were admitted so far; `A` never decreases,
//! and a waiting fan of rank `r` (0-based; a pre-queue fan's rank is their index
//! in the published draw order) is told position `p = r - A + 1`. Every status
//! reply the generator sees for a pre-queue fan therefore pins `A` at the moment the
//! server answered: `waiting at p` means `A = r + 1 - p` exactly, `admitted`,
//! `done` or `expired` mean `A ≥ r + 1`. The moment lies somewhere between sending
//! the request and reading the reply, so two replies are ordered only when one was
//! read before the other was sent. The check sorts the replies and sweeps: for every
//! reply Y, the largest lower bound on `A` among replies read before Y was sent must
//! not exceed Y's upper bound. A fan admitted ahead of someone drawn before them who
//! was still waiting, a position that does not follow from the draw, or a cursor
//! that moved back all show up as such a pair — and poll jitter cannot produce a
//! false alarm, because overlapping requests are never compared. Late fans (after
//! the opening) queue by arrival, which the generator cannot see exactly, so only
//! pre-queue fans are checked; every one of them must be listed in the draw.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use sturmfest_server::draw::{DrawDefect, DrawDocument};

use super::flash_sale::{self, Admin, Availability, SalePlan, availability_cache_ms, id_of};
use super::http::{Conn, Failure, Headers, Reply, Target};
use super::stats::{self, Kind, LatencySummary, Stats, per_second};
use super::verify::{self, AckedOrder, Places};

#[derive(clap::Args, Debug, Clone)]
pub struct RushArgs {
    // Run the server with STURMFEST_POW_BASE_BITS=12 and STURMFEST_POW_BITS_MAX=12:
    // the generator pays every fan's proof of work itself.
    #[command(flatten)]
    pub server: super::ServerArgs,
    /// Venue of the fresh game (the demo arena is venue 0).
    #[arg(long, default_value_t = 0)]
    pub venue: u32,
    /// Fans arriving; fan n holds the identity of account `rush-<run>-<n>`.
    #[arg(long, default_value_t = 50_000)]
    pub fans: u64,
    /// The sale opens this many seconds after the game is created.
    #[arg(long, default_value_t = 30)]
    pub opens_in: u64,
    /// Fans arrive within this many seconds around the opening…
    #[arg(long, default_value_t = 60)]
    pub arrival_secs: u64,
    /// …this share of them before it (into the drawn pre-queue), the rest after.
    #[arg(long, default_value_t = 0.5)]
    pub before_share: f64,
    /// Connections, each with at most one request in flight.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Threads solving proofs of work at once.
    #[arg(long, default_value_t = 2)]
    pub solvers: usize,
    /// A waiting fan polls its status every poll-min-ms..poll-max-ms (uniform).
    #[arg(long, default_value_t = 1_000)]
    pub poll_min_ms: u64,
    #[arg(long, default_value_t = 3_000)]
    pub poll_max_ms: u64,
    /// Box-office terminals selling from the opening on, with the admin token.
    #[arg(long, default_value_t = 4)]
    pub terminals: u32,
    /// The box office's quota of places.
    #[arg(long, default_value_t = 500)]
    pub box_office_quota: u32,
    /// A terminal pauses this long between two sales.
    #[arg(long, default_value_t = 100)]
    pub terminal_pause_ms: u64,
    /// How long an admitted fan may shop.
    #[arg(long, default_value_t = 120)]
    pub checkout_window_secs: u64,
    /// Fans in checkout at once.
    #[arg(long, default_value_t = 500)]
    pub admitted_active_max: u32,
    /// Share of admitted fans asking for standing places; the rest best-available seats.
    #[arg(long, default_value_t = 0.4)]
    pub standing: f64,
    /// Share of holds released instead of paid.
    #[arg(long, default_value_t = 0.05)]
    pub abandon: f64,
    /// hold_duration_secs of the game (30..=600).
    #[arg(long, default_value_t = 60)]
    pub hold_secs: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Hard limit on the whole run, from the game's creation.
    #[arg(long, default_value_t = 300)]
    pub max_seconds: u64,
    /// The server's process id: its resident memory (/proc/<pid>/status VmRSS) is
    /// read before the first join and as the line grows.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Only measure status polls: join every fan, wait for the opening, then poll
    /// their statuses round-robin for `--poll-seconds` as fast as the connections go.
    #[arg(long)]
    pub polls_only: bool,
    #[arg(long, default_value_t = 10)]
    pub poll_seconds: u64,
}

/// `POST /identity/issue` takes at most this many accounts per call.
const identity_issue_batch_max: usize = 1_000;
/// Arrival (challenge, work, join) is tried this often before the fan gives up.
const join_attempts_max: u32 = 6;
/// An admitted fan goes shopping at most this often (between rounds it re-polls,
/// since places that looked taken come back when others abandon).
const shop_rounds_max: u32 = 3;
/// Holds tried within one shopping round.
const hold_attempts_max: u32 = 4;
/// One checkout request is sent at most this often (503, broken connection).
const checkout_attempts_max: u32 = 4;
const quantity_max: u32 = 4;
/// A worker with no fan due sleeps at most this long before looking again.
const scheduler_idle_ms: u64 = 5;
/// The monitor reads availability (and the server's memory) this often.
const monitor_interval_ms: u64 = 250;
/// The driver ticks rooms every 200 ms: give the pre-queue that long to open.
const room_open_wait_ms: u64 = 400;
/// Retry-After is honoured up to this; rate limits say more only when abused.
const retry_after_secs_max: u64 = 5;
const concurrency_max: usize = 10_000;
const fans_max: u64 = 2_000_000;
const solvers_max: usize = 64;
/// The core's own figure from `cargo bench -p sturmfest-core --bench queue`
/// (BENCHMARKS.md), quoted when the server's memory cannot be read.
const core_bytes_per_fan_measured: u64 = 95;

/// A price category of the game as the fans and terminals choose from it.
#[derive(Clone, Debug)]
struct Category {
    id: u32,
    /// `Some` for a standing terrace.
    area: Option<u32>,
    tariffs: u32,
}

fn categories(detail: &Value) -> Result<Vec<Category>, String> {
    let list = detail.get("categories").and_then(Value::as_array).ok_or("event detail without categories")?;
    Ok(list
        .iter()
        .enumerate()
        .map(|(i, c)| Category {
            id: c.get("id").and_then(id_of).unwrap_or(i as u32),
            area: c.get("area").and_then(id_of),
            tariffs: c.get("tariffs").and_then(Value::as_array).map_or(1, |t| t.len().max(1) as u32),
        })
        .collect())
}

/// Where a fan is in their visit.
#[derive(Debug)]
enum FanState {
    Arrive { attempts: u32 },
    InLine { token: String, prequeue: bool, admitted: bool, shop_rounds: u32 },
}

/// A fan due at `at_us` (microseconds since the run started). Ordered by time,
/// then fan number, so the heap is deterministic for equal times.
#[derive(Debug)]
struct Due {
    at_us: u64,
    fan: u32,
    state: FanState,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at_us, self.fan) == (other.at_us, other.fan)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at_us, self.fan).cmp(&(other.at_us, other.fan))
    }
}

/// What one status reply (or join reply) of a pre-queue fan said about the room's
/// admission cursor; see the module comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    Waiting { position: u32 },
    /// Admitted, done or expired: the cursor has passed this fan.
    Passed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub fan: u32,
    /// Microseconds since the run started: request written, reply read.
    pub sent_us: u64,
    pub received_us: u64,
    pub seen: Seen,
}

/// Checks that the sightings of drawn fans are consistent with one non-decreasing
/// admission cursor (module comment). `rank` maps a fan to their 0-based place in
/// the draw; fans without a rank are skipped. Returns the violations, capped.
pub fn check_admission_order(sightings: &[Sighting], rank: &HashMap<u32, u32>) -> Vec<String> {
    const listed_max: usize = 10;
    let mut violations = Vec::new();
    // (sent, received, lower, upper, fan) with bounds on the cursor.
    let mut bounds: Vec<(u64, u64, u64, u64, u32)> = Vec::with_capacity(sightings.len());
    for s in sightings {
        let Some(&r) = rank.get(&s.fan) else { continue };
        let r = u64::from(r);
        match s.seen {
            Seen::Waiting { position } => {
                let position = u64::from(position);
                if position == 0 || position > r + 1 {
                    if violations.len() < listed_max {
                        violations.push(format!("fan {} drawn at place {} was told position {position}", s.fan, r + 1));
                    }
                    continue;
                }
                let cursor = r + 1 - position;
                bounds.push((s.sent_us, s.received_us, cursor, cursor, s.fan));
            }
            Seen::Passed => bounds.push((s.sent_us, s.received_us, r + 1, u64::MAX, s.fan)),
        }
    }
    let mut by_received: Vec<usize> = (0..bounds.len()).collect();
    by_received.sort_unstable_by_key(|&i| bounds[i].1);
    let mut by_sent: Vec<usize> = (0..bounds.len()).collect();
    by_sent.sort_unstable_by_key(|&i| bounds[i].0);
    let (mut next, mut lower_max, mut lower_from) = (0, 0u64, None::<usize>);
    let mut found = 0u64;
    for &y in &by_sent {
        while next < by_received.len() && bounds[by_received[next]].1 < bounds[y].0 {
            let x = by_received[next];
            if bounds[x].2 > lower_max || lower_from.is_none() {
                lower_max = lower_max.max(bounds[x].2);
                lower_from = Some(x);
            }
            next += 1;
        }
        if let Some(x) = lower_from
            && lower_max > bounds[y].3
        {
            found += 1;
            if violations.len() < listed_max {
                let (xs, ys) = (&bounds[x], &bounds[y]);
                violations.push(format!(
                    "fan {} (draw place {}) was seen waiting with {} admitted ahead at {:.3} s, after fan {} (draw place {}) showed {} admitted at {:.3} s",
                    ys.4,
                    rank[&ys.4] + 1,
                    ys.3,
                    ys.0 as f64 / 1e6,
                    xs.4,
                    rank[&xs.4] + 1,
                    xs.2,
                    xs.1 as f64 / 1e6
                ));
            }
        }
    }
    if found > 0 {
        violations.push(format!("{found} status replies contradict the draw order"));
    }
    violations
}

/// A distinct loopback address per fan (127.1.0.0 and up), so per-IP limits see
/// one client per fan.
fn fan_source(fan: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 1 + (fan >> 16) as u8, (fan >> 8) as u8, fan as u8))
}

fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn iso_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

/// Everything the workers share.
struct Shared {
    args: RushArgs,
    authority: String,
    base: String,
    event: u32,
    run: String,
    spread_sources: bool,
    identities: Vec<String>,
    categories: Vec<Category>,
    started: Instant,
    opens_at: Instant,
    deadline: Instant,
    queue: Mutex<BinaryHeap<Reverse<Due>>>,
    /// Fans popped by a worker and not yet back in the heap or gone.
    in_flight: AtomicU64,
    stop: AtomicBool,
    solvers: tokio::sync::Semaphore,
    joined: AtomicU64,
    joined_prequeue: AtomicU64,
    admitted_seen: AtomicU64,
    sold_out_at_us: AtomicU64,
    waiting_max: AtomicU64,
    admissions_per_minute_max: AtomicU64,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    fn push(&self, due: Due) {
        self.queue.lock().expect("queue lock").push(Reverse(due));
    }
}

/// Per-worker tallies, summed for the report.
#[derive(Clone, Debug, Default)]
struct Tally {
    arrived: u64,
    rate_limited: u64,
    join_retries: u64,
    join_gave_up: u64,
    turned_away_sold_out: u64,
    left_sold_out: u64,
    left_expired: u64,
    holds: u64,
    hold_gave_up: u64,
    abandoned: u64,
    confirmed: u64,
    tickets_confirmed: u64,
    confirm_rejected: u64,
    solves: u64,
    solve_us: u64,
    /// Difficulty (bits) → challenges solved.
    difficulty: BTreeMap<u32, u64>,
}

impl Tally {
    fn absorb(&mut self, o: &Tally) {
        self.arrived += o.arrived;
        self.rate_limited += o.rate_limited;
        self.join_retries += o.join_retries;
        self.join_gave_up += o.join_gave_up;
        self.turned_away_sold_out += o.turned_away_sold_out;
        self.left_sold_out += o.left_sold_out;
        self.left_expired += o.left_expired;
        self.holds += o.holds;
        self.hold_gave_up += o.hold_gave_up;
        self.abandoned += o.abandoned;
        self.confirmed += o.confirmed;
        self.tickets_confirmed += o.tickets_confirmed;
        self.confirm_rejected += o.confirm_rejected;
        self.solves += o.solves;
        self.solve_us += o.solve_us;
        for (bits, n) in &o.difficulty {
            *self.difficulty.entry(*bits).or_default() += n;
        }
    }
}

/// A fan that joined: their pseudonymous id and whether the join said pre-queue.
#[derive(Clone, Debug)]
struct Joined {
    fan: u32,
    queue_id: String,
    token: String,
    prequeue: bool,
}

#[derive(Default)]
struct Findings {
    stats: Stats,
    tally: Tally,
    acked: Vec<AckedOrder>,
    sightings: Vec<Sighting>,
    joined: Vec<Joined>,
    /// Microseconds since the start at which a fan was first seen admitted.
    admissions_us: Vec<u64>,
    violations: Vec<String>,
}

impl Findings {
    fn absorb(&mut self, o: Findings) {
        self.stats.absorb(&o.stats);
        self.tally.absorb(&o.tally);
        self.acked.extend(o.acked);
        self.sightings.extend(o.sightings);
        self.joined.extend(o.joined);
        self.admissions_us.extend(o.admissions_us);
        self.violations.extend(o.violations);
    }
}

/// What a step decided for the fan.
enum Next {
    Again(Due),
    Gone,
}

struct Worker {
    shared: Arc<Shared>,
    conn: Conn,
    rng: ChaCha8Rng,
    found: Findings,
    keys: u64,
    worker: usize,
}

impl Worker {
    fn key(&mut self) -> String {
        self.keys += 1;
        format!("rush-{}-{}-{}", self.shared.run, self.worker, self.keys)
    }

    fn jitter_us(&mut self) -> u64 {
        let (lo, hi) = (self.shared.args.poll_min_ms, self.shared.args.poll_max_ms.max(self.shared.args.poll_min_ms));
        self.rng.random_range(lo..=hi) * 1000
    }

    /// One request on `conn`, recorded under `kind`; no retry.
    async fn send(
        stats: &mut Stats,
        conn: &mut Conn,
        kind: Kind,
        method: Method,
        path: &str,
        headers: &Headers<'_>,
        body: Option<&Value>,
    ) -> Result<Reply, Failure> {
        let body = body.map(|b| Bytes::from(serde_json::to_vec(b).expect("JSON values serialize")));
        let result = conn.send(method, path, headers, body).await;
        stats.record(kind, &result);
        result
    }

    /// A checkout request, retried with the same Idempotency-Key on 503 and on a
    /// broken connection; `None` when every attempt failed or time is up.
    async fn checkout_call(&mut self, kind: Kind, method: Method, path: &str, body: Option<&Value>) -> Option<Reply> {
        let key = self.key();
        let headers = Headers { idempotency_key: Some(&key), bearer: None };
        for _ in 0..checkout_attempts_max {
            if Instant::now() >= self.shared.deadline {
                return None;
            }
            match Self::send(&mut self.found.stats, &mut self.conn, kind, method.clone(), path, &headers, body).await {
                Ok(reply) if reply.status == StatusCode::SERVICE_UNAVAILABLE => {
                    let secs = reply.retry_after_secs.unwrap_or(1).min(retry_after_secs_max);
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                }
                Ok(reply) => return Some(reply),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        None
    }

    async fn run(mut self, mode: Mode) -> Findings {
        loop {
            if self.shared.stop.load(Ordering::Relaxed) || Instant::now() >= self.shared.deadline {
                break;
            }
            let now = self.shared.now_us();
            let (popped, wait_us) = {
                let mut queue = self.shared.queue.lock().expect("queue lock");
                match queue.peek() {
                    Some(Reverse(due)) if due.at_us <= now => {
                        self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
                        (queue.pop().map(|r| r.0), 0)
                    }
                    Some(Reverse(due)) => (None, due.at_us - now),
                    None if self.shared.in_flight.load(Ordering::Relaxed) == 0 => break,
                    None => (None, scheduler_idle_ms * 1000),
                }
            };
            let Some(due) = popped else {
                tokio::time::sleep(Duration::from_micros(wait_us.min(scheduler_idle_ms * 1000))).await;
                continue;
            };
            let next = match due.state {
                FanState::Arrive { attempts } => self.arrive(due.fan, attempts, mode).await,
                FanState::InLine { token, prequeue, admitted, shop_rounds } => {
                    self.poll(due.fan, token, prequeue, admitted, shop_rounds).await
                }
            };
            if let Next::Again(due) = next {
                self.shared.push(due);
            }
            // Only after the push, so no worker sees an empty heap and nobody in
            // flight while this fan still has a step to go.
            self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        self.found
    }

    fn later(&self, fan: u32, after_us: u64, state: FanState) -> Next {
        Next::Again(Due { at_us: self.shared.now_us() + after_us, fan, state })
    }

    fn retry_arrival(&mut self, fan: u32, attempts: u32, after_us: u64) -> Next {
        if attempts + 1 >= join_attempts_max {
            self.found.tally.join_gave_up += 1;
            return Next::Gone;
        }
        self.found.tally.join_retries += 1;
        self.later(fan, after_us, FanState::Arrive { attempts: attempts + 1 })
    }

    /// Challenge, work, join — from the fan's own address.
    async fn arrive(&mut self, fan: u32, attempts: u32, mode: Mode) -> Next {
        if attempts == 0 {
            self.found.tally.arrived += 1;
        }
        let shared = self.shared.clone();
        let mut conn =
            if shared.spread_sources { Conn::from_source(&shared.authority, fan_source(fan)) } else { Conn::new(&shared.authority) };
        let path = format!("{}/events/{}/queue/challenge", shared.base, shared.event);
        let reply = Self::send(&mut self.found.stats, &mut conn, Kind::Challenge, Method::GET, &path, &Headers::default(), None).await;
        let challenge = match reply {
            Ok(r) if r.status == StatusCode::OK => r.json(),
            Ok(r) if r.status == StatusCode::TOO_MANY_REQUESTS => {
                self.found.tally.rate_limited += 1;
                let secs = r.retry_after_secs.unwrap_or(1).min(retry_after_secs_max);
                return self.retry_arrival(fan, attempts, secs * 1_000_000);
            }
            _ => return self.retry_arrival(fan, attempts, 500_000),
        };
        let Some((text, bits)) = challenge.and_then(|c| {
            Some((c.get("challenge")?.as_str()?.to_string(), c.get("difficulty")?.as_u64()? as u32))
        }) else {
            self.found.violations.push(format!("fan {fan}: a challenge reply without challenge and difficulty"));
            return Next::Gone;
        };
        let counter = {
            let _permit = shared.solvers.acquire().await.expect("the semaphore is never closed");
            let solving = text.clone();
            let solved = tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                (sturmfest_server::pow::solve(&solving, bits), started.elapsed())
            })
            .await;
            match solved {
                Ok((Some(counter), took)) => {
                    self.found.tally.solves += 1;
                    self.found.tally.solve_us += took.as_micros() as u64;
                    *self.found.tally.difficulty.entry(bits).or_default() += 1;
                    counter
                }
                _ => return self.retry_arrival(fan, attempts, 0),
            }
        };
        let body = json!({"identity": shared.identities[fan as usize], "pow": {"challenge": text, "counter": counter}});
        let path = format!("{}/events/{}/queue", shared.base, shared.event);
        let key = self.key();
        let headers = Headers { idempotency_key: Some(&key), bearer: None };
        let sent_us = shared.now_us();
        let reply = Self::send(&mut self.found.stats, &mut conn, Kind::Join, Method::POST, &path, &headers, Some(&body)).await;
        let received_us = shared.now_us();
        let reply = match reply {
            Ok(r) => r,
            Err(_) => return self.retry_arrival(fan, attempts, 200_000),
        };
        match (reply.status.as_u16(), reply.problem_code().as_deref()) {
            (200 | 201, _) => {}
            (429, _) => {
                self.found.tally.rate_limited += 1;
                let secs = reply.retry_after_secs.unwrap_or(1).min(retry_after_secs_max);
                return self.retry_arrival(fan, attempts, secs * 1_000_000);
            }
            (409, Some("sold_out")) => {
                self.found.tally.turned_away_sold_out += 1;
                return Next::Gone;
            }
            // Not open yet, expired or replayed work, overload: a new challenge.
            (409 | 410 | 503, _) => return self.retry_arrival(fan, attempts, 300_000),
            _ => {
                self.found.tally.join_gave_up += 1;
                return Next::Gone;
            }
        }
        let Some(v) = reply.json() else {
            self.found.violations.push(format!("fan {fan}: join reply is not JSON"));
            return Next::Gone;
        };
        let (Some(queue_id), Some(token), Some(place)) = (
            v.get("queue_id").and_then(Value::as_str),
            v.get("token").and_then(Value::as_str),
            v.pointer("/status/place").and_then(Value::as_str),
        ) else {
            self.found.violations.push(format!("fan {fan}: join reply without queue_id, token and status: {v}"));
            return Next::Gone;
        };
        let prequeue = place == "pre_queue";
        shared.joined.fetch_add(1, Ordering::Relaxed);
        if prequeue {
            shared.joined_prequeue.fetch_add(1, Ordering::Relaxed);
        }
        self.found.joined.push(Joined { fan, queue_id: queue_id.to_string(), token: token.to_string(), prequeue });
        self.note(fan, sent_us, received_us, &v["status"]);
        if mode == Mode::JoinOnly {
            return Next::Gone;
        }
        let state = FanState::InLine { token: token.to_string(), prequeue, admitted: false, shop_rounds: 0 };
        let after = if place == "admitted" { 0 } else { self.jitter_us() };
        self.later(fan, after, state)
    }

    /// Records what a status said about the admission cursor, for the order check.
    fn note(&mut self, fan: u32, sent_us: u64, received_us: u64, status: &Value) {
        let seen = match status.get("place").and_then(Value::as_str) {
            Some("waiting") => match status.get("position").and_then(Value::as_u64) {
                Some(p) => Seen::Waiting { position: p as u32 },
                None => return,
            },
            Some("admitted" | "done" | "expired") => Seen::Passed,
            _ => return,
        };
        self.found.sightings.push(Sighting { fan, sent_us, received_us, seen });
        if let Some(w) = status.get("waiting").and_then(Value::as_u64) {
            self.shared.waiting_max.fetch_max(w, Ordering::Relaxed);
        }
        if let Some(a) = status.get("admissions_per_minute").and_then(Value::as_u64) {
            self.shared.admissions_per_minute_max.fetch_max(a, Ordering::Relaxed);
        }
    }

    async fn poll(&mut self, fan: u32, token: String, prequeue: bool, mut admitted: bool, shop_rounds: u32) -> Next {
        let shared = self.shared.clone();
        let path = format!("{}/events/{}/queue/status?token={token}", shared.base, shared.event);
        let sent_us = shared.now_us();
        let reply = Self::send(&mut self.found.stats, &mut self.conn, Kind::Status, Method::GET, &path, &Headers::default(), None).await;
        let received_us = shared.now_us();
        let again = |me: &mut Worker, admitted: bool, shop_rounds: u32| {
            let after = me.jitter_us();
            me.later(fan, after, FanState::InLine { token: token.clone(), prequeue, admitted, shop_rounds })
        };
        let status = match reply {
            Ok(r) if r.status == StatusCode::OK => match r.json() {
                Some(v) => v,
                None => {
                    self.found.violations.push(format!("fan {fan}: status reply is not JSON"));
                    return Next::Gone;
                }
            },
            _ => return again(self, admitted, shop_rounds),
        };
        self.note(fan, sent_us, received_us, &status);
        // Like the waiting page: poll with the ranked place the server hands out.
        let token = match status.get("token").and_then(Value::as_str) {
            Some(ranked) => ranked.to_string(),
            None => token,
        };
        let again = |me: &mut Worker, admitted: bool, shop_rounds: u32| {
            let after = me.jitter_us();
            me.later(fan, after, FanState::InLine { token: token.clone(), prequeue, admitted, shop_rounds })
        };
        match status.get("place").and_then(Value::as_str) {
            Some("admitted") => {
                if !admitted {
                    admitted = true;
                    self.found.admissions_us.push(received_us);
                    shared.admitted_seen.fetch_add(1, Ordering::Relaxed);
                }
                let Some(admission) = status.get("admission").and_then(Value::as_str) else {
                    self.found.violations.push(format!("fan {fan}: admitted without an admission: {status}"));
                    return Next::Gone;
                };
                let free: Vec<(u32, u64)> = status
                    .get("categories")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| Some((c.get("id").and_then(id_of)?, c.get("free")?.as_u64()?)))
                    .collect();
                match self.shop(fan, admission, free).await {
                    Shopped::Done => Next::Gone,
                    Shopped::TryAgain if shop_rounds + 1 < shop_rounds_max => again(self, admitted, shop_rounds + 1),
                    Shopped::TryAgain => {
                        self.found.tally.hold_gave_up += 1;
                        Next::Gone
                    }
                }
            }
            Some("done") => Next::Gone,
            Some("expired") => {
                self.found.tally.left_expired += 1;
                Next::Gone
            }
            Some("sold_out") => {
                self.found.tally.left_sold_out += 1;
                Next::Gone
            }
            _ if status.get("phase").and_then(Value::as_str) == Some("sold_out") => {
                self.found.tally.left_sold_out += 1;
                Next::Gone
            }
            _ => again(self, admitted, shop_rounds),
        }
    }

    /// Hold what the fan wants (standing or best-available, 1–4 places), then pay
    /// with the admission — or abandon, releasing the hold at once.
    async fn shop(&mut self, fan: u32, admission: &str, mut free: Vec<(u32, u64)>) -> Shopped {
        let shared = self.shared.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(shared.args.seed);
        rng.set_stream(u64::from(fan));
        let wants_standing = rng.random::<f64>() < shared.args.standing;
        let mut quantity = rng.random_range(1..=quantity_max);
        let holds = format!("{}/events/{}/holds", shared.base, shared.event);
        let mut held = None;
        for _ in 0..hold_attempts_max {
            let open: Vec<(&Category, u64)> = shared
                .categories
                .iter()
                .filter_map(|c| free.iter().find(|f| f.0 == c.id).filter(|f| f.1 > 0).map(|f| (c, f.1)))
                .collect();
            let preferred: Vec<&(&Category, u64)> = open.iter().filter(|(c, _)| c.area.is_some() == wants_standing).collect();
            let pool: Vec<&(&Category, u64)> = if preferred.is_empty() { open.iter().collect() } else { preferred };
            if pool.is_empty() {
                return Shopped::TryAgain;
            }
            let (category, left) = *pool[rng.random_range(0..pool.len())];
            let q = quantity.min(left as u32).max(1);
            let selection = match category.area {
                Some(area) => json!({"type": "standing", "area": area, "quantity": q}),
                None => json!({"type": "best_available", "category": category.id, "block": null, "quantity": q}),
            };
            let tariff = rng.random_range(0..category.tariffs);
            let body = json!({"customer": format!("rush-{fan}"), "tariff": tariff, "selection": selection, "admission": admission});
            let Some(reply) = self.checkout_call(Kind::Hold, Method::POST, &holds, Some(&body)).await else {
                return Shopped::TryAgain;
            };
            if reply.status == StatusCode::CREATED {
                let v = reply.json().unwrap_or_default();
                match (v.get("hold").and_then(Value::as_str), Places::from_hold_reply(&v)) {
                    (Some(token), Ok(places)) => held = Some((token.to_string(), places)),
                    _ => self.found.violations.push(format!("hold reply not per contract: {v}")),
                }
                break;
            }
            match reply.problem_code().as_deref() {
                Some("sold_out" | "not_enough_adjacent_seats") => {
                    if q == 1 {
                        for f in free.iter_mut().filter(|f| f.0 == category.id) {
                            f.1 = 0;
                        }
                    }
                    quantity = (q / 2).max(1);
                }
                // The window ended, the sale stopped or the fan's own limit: nothing
                // another choice would change.
                _ => {
                    self.found.tally.hold_gave_up += 1;
                    return Shopped::Done;
                }
            }
        }
        let Some((token, places)) = held else { return Shopped::TryAgain };
        self.found.tally.holds += 1;
        if rng.random::<f64>() < shared.args.abandon {
            let path = format!("{}/holds/{token}", shared.base);
            if self.checkout_call(Kind::Release, Method::DELETE, &path, None).await.is_some_and(|r| r.status == StatusCode::OK) {
                self.found.tally.abandoned += 1;
            }
            return Shopped::Done;
        }
        // An online buyer pays: start a payment for the hold, then press Pay at the
        // test provider, whose webhook makes the order before it answers.
        let path = format!("{}/holds/{token}/payments", shared.base);
        let body = json!({
            "buyer": {"name": format!("Fan {fan}"), "email": format!("fan-{fan}@example.org")},
            "admission": admission,
        });
        let session = match self.checkout_call(Kind::Confirm, Method::POST, &path, Some(&body)).await {
            Some(reply) if reply.status == StatusCode::CREATED => {
                match reply.json().and_then(|v| test_session(v.get("redirect_url")?.as_str()?)) {
                    Some(session) => session,
                    None => {
                        self.found.violations.push(format!("fan {fan}: payment reply without a test-provider session"));
                        return Shopped::Done;
                    }
                }
            }
            _ => {
                self.found.tally.confirm_rejected += 1;
                return Shopped::Done;
            }
        };
        let path = format!("{}/payments/test/{session}", shared.base);
        let pay = json!({"action": "pay"});
        match self.checkout_call(Kind::Confirm, Method::POST, &path, Some(&pay)).await {
            Some(reply) if reply.status == StatusCode::OK => match reply.json() {
                Some(v) if v.get("state").and_then(Value::as_str) == Some("succeeded") => match v.get("order_id").and_then(Value::as_u64) {
                    Some(order_id) => {
                        self.found.tally.confirmed += 1;
                        self.found.tally.tickets_confirmed += u64::from(places.count());
                        self.found.acked.push(AckedOrder { order_id, fan: u64::from(fan), places });
                    }
                    None => self.found.violations.push(format!("fan {fan}: succeeded payment without order_id")),
                },
                _ => self.found.tally.confirm_rejected += 1,
            },
            _ => self.found.tally.confirm_rejected += 1,
        }
        Shopped::Done
    }
}

enum Shopped {
    Done,
    TryAgain,
}

/// The session in a test-provider redirect URL: `/pay/test/{tenant}/{session}?lang=…`.
pub(crate) fn test_session(redirect_url: &str) -> Option<String> {
    let path = redirect_url.split('?').next()?;
    path.starts_with("/pay/test/").then(|| path.rsplit('/').next().map(str::to_string)).flatten()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The whole visit: join, wait, shop.
    Rush,
    /// Join and leave: `--polls-only` polls the collected places afterwards.
    JoinOnly,
}

/// A box-office terminal: from the opening on, sells 1–4 places at a time to the
/// counter's customers until its quota or the places run out.
async fn terminal(shared: Arc<Shared>, terminal: u32, token: String) -> Findings {
    let mut found = Findings::default();
    tokio::time::sleep_until(shared.opens_at.into()).await;
    let mut conn = Conn::new(&shared.authority);
    let mut rng = ChaCha8Rng::seed_from_u64(shared.args.seed ^ 0xb0c5);
    rng.set_stream(u64::from(terminal));
    let mut exhausted: HashSet<u32> = HashSet::new();
    let mut quantity = rng.random_range(1..=quantity_max);
    let holds = format!("{}/events/{}/holds", shared.base, shared.event);
    let mut keys = 0u64;
    while !shared.stop.load(Ordering::Relaxed) && Instant::now() < shared.deadline {
        let open: Vec<&Category> = shared.categories.iter().filter(|c| !exhausted.contains(&c.id)).collect();
        if open.is_empty() {
            break;
        }
        let category = open[rng.random_range(0..open.len())];
        let selection = match category.area {
            Some(area) => json!({"type": "standing", "area": area, "quantity": quantity}),
            None => json!({"type": "best_available", "category": category.id, "block": null, "quantity": quantity}),
        };
        let body = json!({"customer": format!("kasse-{terminal}"), "tariff": 0, "channel": "box_office", "selection": selection});
        keys += 1;
        let key = format!("rush-{}-kasse-{terminal}-{keys}", shared.run);
        let headers = Headers { idempotency_key: Some(&key), bearer: Some(&token) };
        let reply = Worker::send(&mut found.stats, &mut conn, Kind::Hold, Method::POST, &holds, &headers, Some(&body)).await;
        let Ok(reply) = reply else { continue };
        if reply.status == StatusCode::CREATED {
            let v = reply.json().unwrap_or_default();
            let (Some(hold), Ok(places)) = (v.get("hold").and_then(Value::as_str), Places::from_hold_reply(&v)) else {
                found.violations.push(format!("box-office hold reply not per contract: {v}"));
                break;
            };
            found.tally.holds += 1;
            let path = format!("{}/holds/{hold}/confirm", shared.base);
            let body = json!({"payment_ref": format!("kasse-{}-{terminal}-{keys}", shared.run),
                "buyer": {"name": "Kasse", "email": "kasse@example.org"}});
            let key = format!("{key}-pay");
            let headers = Headers { idempotency_key: Some(&key), bearer: Some(&token) };
            match Worker::send(&mut found.stats, &mut conn, Kind::Confirm, Method::POST, &path, &headers, Some(&body)).await {
                Ok(r) if r.status == StatusCode::CREATED => match r.json().and_then(|v| v.get("order_id")?.as_u64()) {
                    Some(order_id) => {
                        found.tally.confirmed += 1;
                        found.tally.tickets_confirmed += u64::from(places.count());
                        found.acked.push(AckedOrder { order_id, fan: u64::MAX - u64::from(terminal), places });
                    }
                    None => found.violations.push("box-office confirm reply without order_id".into()),
                },
                _ => found.tally.confirm_rejected += 1,
            }
            quantity = rng.random_range(1..=quantity_max);
        } else {
            match reply.problem_code().as_deref() {
                Some("quota_exhausted") if quantity == 1 => break,
                Some("sold_out" | "not_enough_adjacent_seats") if quantity == 1 => {
                    exhausted.insert(category.id);
                }
                Some("quota_exhausted" | "sold_out" | "not_enough_adjacent_seats") => quantity = (quantity / 2).max(1),
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(shared.args.terminal_pause_ms)).await;
    }
    found
}

/// Memory of the server as the line grows.
#[derive(Clone, Copy, Debug, Default)]
struct MemorySamples {
    before_bytes: u64,
    /// At the opening: RSS and pre-queue entries.
    at_opening: Option<(u64, u64)>,
    /// The largest RSS seen and the entries at that time.
    peak: Option<(u64, u64)>,
}

/// Reads availability every `monitor_interval_ms`: stops the run when the game is
/// sold out (nothing free, nothing held) and samples the server's memory.
async fn monitor(shared: Arc<Shared>, mut memory: MemorySamples) -> (Stats, MemorySamples) {
    let mut stats = Stats::default();
    let mut conn = Conn::new(&shared.authority);
    let path = format!("{}/events/{}/availability", shared.base, shared.event);
    while !shared.stop.load(Ordering::Relaxed) && Instant::now() < shared.deadline {
        tokio::time::sleep(Duration::from_millis(monitor_interval_ms)).await;
        if let Some(rss) = shared.args.server_pid.and_then(rss_bytes) {
            let entries = shared.joined.load(Ordering::Relaxed);
            if memory.at_opening.is_none() && Instant::now() >= shared.opens_at {
                memory.at_opening = Some((rss, shared.joined_prequeue.load(Ordering::Relaxed)));
            }
            if memory.peak.is_none_or(|(peak, _)| rss > peak) {
                memory.peak = Some((rss, entries));
            }
        }
        let reply = Worker::send(&mut stats, &mut conn, Kind::Availability, Method::GET, &path, &Headers::default(), None).await;
        let Some(avail) = reply.ok().filter(|r| r.status == StatusCode::OK).and_then(|r| r.json()) else { continue };
        let Ok(avail) = Availability::parse(&avail) else { continue };
        if Instant::now() >= shared.opens_at && avail.sold_out() {
            shared.sold_out_at_us.store(shared.now_us(), Ordering::Relaxed);
            shared.stop.store(true, Ordering::Relaxed);
        }
    }
    (stats, memory)
}

/// Sets up the game, the room and the identities; shared by both modes.
struct Setup {
    admin: Admin,
    target: Target,
    base: String,
    run: String,
    event: u32,
    venue: Value,
    categories: Vec<Category>,
    capacity: u64,
    identities: Vec<String>,
    started: Instant,
    opens_at: Instant,
    commitment: String,
}

async fn set_up(args: &RushArgs) -> Result<Setup, String> {
    let target = Target::parse(&args.server.url)?;
    let base = format!("{}/api/v1/{}", target.path, args.server.tenant);
    let run = format!("{:x}", jiff::Timestamp::now().as_nanosecond() as u64 ^ args.seed.rotate_left(32));
    let mut admin = Admin { conn: Conn::new(&target.authority), token: args.server.token.clone(), run: run.clone(), keys: 0 };

    // Identities first: issuing 50,000 takes a moment, and the opening is counted
    // from the game's creation.
    let issued = Instant::now();
    let mut identities = Vec::with_capacity(args.fans as usize);
    let accounts: Vec<String> = (0..args.fans).map(|fan| format!("rush-{run}-{fan}")).collect();
    for chunk in accounts.chunks(identity_issue_batch_max) {
        let reply = admin.call(Method::POST, &format!("{base}/identity/issue"), Some(json!({"accounts": chunk}))).await?;
        let list = reply.get("identities").and_then(Value::as_array).ok_or("identity/issue reply without identities")?;
        if list.len() != chunk.len() {
            return Err(format!("identity/issue answered {} identities for {} accounts", list.len(), chunk.len()));
        }
        identities.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
    }
    println!("identities: {} issued by the club in {:.2} s", identities.len(), issued.elapsed().as_secs_f64());

    let venue = admin.call(Method::GET, &format!("{base}/venues/{}", args.venue), None).await?;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let opens_at_ms = now_ms + (args.opens_in as i64) * 1000;
    let plan = SalePlan { opens_at_secs: opens_at_ms.div_euclid(1000) + 1, box_office_quota: Some(args.box_office_quota) };
    let (body, _) = flash_sale::event_body(args.venue, &venue, &run, args.hold_secs, plan)?;
    let created = admin.call(Method::POST, &format!("{base}/events"), Some(body)).await?;
    let event = created
        .get("event")
        .or_else(|| created.get("id"))
        .and_then(id_of)
        .ok_or_else(|| format!("POST /events reply without an event id: {created}"))?;
    let started = Instant::now();
    // Whole seconds in the event format: the opening is the next full second.
    let opens_at = started + Duration::from_millis((plan.opens_at_secs * 1000 - now_ms).max(0) as u64);
    admin.call(Method::POST, &format!("{base}/events/{event}/sale"), Some(json!({"action": "open"}))).await?;
    let room = json!({"prequeue_opens_at": iso_ms(now_ms - 1_000), "checkout_window_secs": args.checkout_window_secs,
        "admitted_active_max": args.admitted_active_max});
    let room = admin.call(Method::POST, &format!("{base}/events/{event}/room"), Some(room)).await?;
    let commitment = room.get("commitment").and_then(Value::as_str).unwrap_or_default().to_string();
    let detail = admin.call(Method::GET, &format!("{base}/events/{event}"), None).await?;
    let categories = categories(&detail)?;
    let avail = Availability::parse(&admin.call(Method::GET, &format!("{base}/events/{event}/availability"), None).await?)?;
    tokio::time::sleep(Duration::from_millis(room_open_wait_ms)).await;
    Ok(Setup {
        admin,
        target,
        base,
        run,
        event,
        venue,
        categories,
        capacity: avail.counts.capacity,
        identities,
        started,
        opens_at,
        commitment,
    })
}

fn is_loopback(authority: &str) -> bool {
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    host == "localhost" || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

pub async fn run(args: RushArgs) -> Result<(), String> {
    if args.fans == 0 || args.fans > fans_max {
        return Err(format!("--fans must be 1 to {fans_max}"));
    }
    let before_rss = args.server_pid.and_then(rss_bytes);
    if args.server_pid.is_some() && before_rss.is_none() {
        return Err(format!("cannot read /proc/{}/status", args.server_pid.unwrap_or(0)));
    }
    let setup = set_up(&args).await?;
    let concurrency = args.concurrency.clamp(1, concurrency_max);
    let spread_sources = is_loopback(&setup.target.authority);
    println!(
        "rush: {} tenant {} event {} (created for this run) — capacity {}, box-office quota {}, sale opens in {:.1} s",
        args.server.url,
        args.server.tenant,
        setup.event,
        setup.capacity,
        args.box_office_quota,
        setup.opens_at.saturating_duration_since(Instant::now()).as_secs_f64()
    );
    println!(
        "room: checkout window {} s, {} in checkout at once, draw commitment {}",
        args.checkout_window_secs, args.admitted_active_max, setup.commitment
    );
    println!(
        "fans {} over {} s around the opening ({:.0} % before) · concurrency {concurrency} · solvers {} · polls every {}–{} ms · terminals {} · seed {}{}",
        args.fans,
        args.arrival_secs,
        args.before_share * 100.0,
        args.solvers,
        args.poll_min_ms,
        args.poll_max_ms,
        args.terminals,
        args.seed,
        if spread_sources { " · each fan joins from its own 127.x address" } else { "" }
    );

    let shared = Arc::new(Shared {
        args: args.clone(),
        authority: setup.target.authority.clone(),
        base: setup.base.clone(),
        event: setup.event,
        run: setup.run.clone(),
        spread_sources,
        identities: setup.identities.clone(),
        categories: setup.categories.clone(),
        started: setup.started,
        opens_at: setup.opens_at,
        deadline: setup.started + Duration::from_secs(args.max_seconds),
        queue: Mutex::new(BinaryHeap::with_capacity(args.fans as usize)),
        in_flight: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        solvers: tokio::sync::Semaphore::new(args.solvers.clamp(1, solvers_max)),
        joined: AtomicU64::new(0),
        joined_prequeue: AtomicU64::new(0),
        admitted_seen: AtomicU64::new(0),
        sold_out_at_us: AtomicU64::new(0),
        waiting_max: AtomicU64::new(0),
        admissions_per_minute_max: AtomicU64::new(0),
    });
    let opening_us = setup.opens_at.saturating_duration_since(setup.started).as_micros() as u64;
    let mode = if args.polls_only { Mode::JoinOnly } else { Mode::Rush };
    {
        let mut queue = shared.queue.lock().expect("queue lock");
        let now_us = shared.now_us();
        let arrival_us = args.arrival_secs * 1_000_000;
        let before_us = ((arrival_us as f64 * args.before_share.clamp(0.0, 1.0)) as u64).min(opening_us.saturating_sub(now_us));
        let after_us = arrival_us.saturating_sub(before_us).max(1);
        for fan in 0..args.fans as u32 {
            let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0xa771);
            rng.set_stream(u64::from(fan));
            let at_us = if mode == Mode::JoinOnly {
                now_us
            } else if rng.random::<f64>() < args.before_share && before_us > 0 {
                opening_us - before_us + rng.random_range(0..before_us)
            } else {
                opening_us + rng.random_range(0..after_us)
            };
            queue.push(Reverse(Due { at_us, fan, state: FanState::Arrive { attempts: 0 } }));
        }
    }
    let memory = MemorySamples { before_bytes: before_rss.unwrap_or(0), ..Default::default() };
    let monitor = (mode == Mode::Rush).then(|| tokio::spawn(monitor(shared.clone(), memory)));
    let mut terminals = Vec::new();
    if mode == Mode::Rush {
        for t in 0..args.terminals {
            terminals.push(tokio::spawn(terminal(shared.clone(), t, args.server.token.clone())));
        }
    }
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0x7011);
        rng.set_stream(worker as u64);
        let w = Worker {
            shared: shared.clone(),
            conn: Conn::new(&setup.target.authority),
            rng,
            found: Findings::default(),
            keys: 0,
            worker,
        };
        workers.push(tokio::spawn(w.run(mode)));
    }
    let mut found = Findings::default();
    let mut fan_stats = Stats::default();
    for w in workers {
        let f = w.await.map_err(|e| format!("a worker panicked: {e}"))?;
        fan_stats.absorb(&f.stats);
        found.absorb(f);
    }
    let selling = shared.started.elapsed();
    // Fans done (or sold out, or time up): the terminals and the monitor stop too.
    shared.stop.store(true, Ordering::Relaxed);
    let mut box_office = Findings::default();
    for t in terminals {
        box_office.absorb(t.await.map_err(|e| format!("a terminal panicked: {e}"))?);
    }
    let (monitor_stats, memory) = match monitor {
        Some(m) => m.await.map_err(|e| format!("the monitor panicked: {e}"))?,
        None => (Stats::default(), memory),
    };
    let left_in_heap = shared.queue.lock().expect("queue lock").len();

    if mode == Mode::JoinOnly {
        return polls_only(&args, &setup, &shared, found, before_rss).await;
    }

    let mut setup = setup;
    let sold_out_at_us = shared.sold_out_at_us.load(Ordering::Relaxed);
    let why = if sold_out_at_us > 0 {
        "sold out (availability showed free 0, held 0)"
    } else if Instant::now() >= shared.deadline {
        "max-seconds passed"
    } else {
        "fans ran out"
    };
    println!();
    println!("stopped: {why} after {:.2} s ({} fans never got to their next step)", selling.as_secs_f64(), left_in_heap);
    let since_opening = |us: u64| (us as f64 - opening_us as f64) / 1e6;
    if sold_out_at_us > 0 {
        println!("sold out {:.2} s after the opening", since_opening(sold_out_at_us));
    } else {
        println!("not sold out");
    }

    // Read back: wait out the availability cache, then counters, orders, the draw.
    tokio::time::sleep(Duration::from_millis(availability_cache_ms)).await;
    let base = setup.base.clone();
    let event = setup.event;
    let last = Availability::parse(&setup.admin.call(Method::GET, &format!("{base}/events/{event}/availability"), None).await?)?;
    let mut read_stats = Stats::default();
    let read_started = Instant::now();
    let orders = flash_sale::read_orders(&mut setup.admin, &base, event, &mut read_stats).await?;
    let reading = read_started.elapsed();
    let area_capacity = flash_sale::area_capacities(&json!({}), Some(&setup.venue));
    let mut acked = found.acked.clone();
    acked.extend(box_office.acked.iter().cloned());
    let check = verify::verify(last.counts, &area_capacity, &orders, &acked);
    let mut violations = found.violations.clone();
    violations.extend(box_office.violations.iter().cloned());
    violations.extend(check.violations.iter().cloned());

    let mut draw_conn = Conn::new(&setup.target.authority);
    let draw_path = format!("{base}/events/{event}/queue/draw");
    let draw_reply =
        Worker::send(&mut read_stats, &mut draw_conn, Kind::Draw, Method::GET, &draw_path, &Headers::default(), None).await;
    let draw = draw_reply
        .ok()
        .filter(|r| r.status == StatusCode::OK)
        .and_then(|r| serde_json::from_slice::<DrawDocument>(&r.body).ok())
        .ok_or_else(|| format!("GET {draw_path} did not answer a draw document"))?;
    let draw_report = check_draw(&draw, &setup.commitment, &found, &mut violations);

    let mut stats = fan_stats;
    stats.absorb(&box_office.stats);
    stats.absorb(&monitor_stats);
    stats.absorb(&read_stats);
    let tally = found.tally.clone();
    let counter = box_office.tally.clone();

    println!(
        "fans: {} arrived, {} joined ({} into the pre-queue), {} turned away sold out, {} join gave up ({} retries, {} rate-limited 429)",
        tally.arrived,
        found.joined.len(),
        found.joined.iter().filter(|j| j.prequeue).count(),
        tally.turned_away_sold_out,
        tally.join_gave_up,
        tally.join_retries,
        tally.rate_limited
    );
    let mut admissions = found.admissions_us.clone();
    admissions.sort_unstable();
    let window = match (admissions.first(), admissions.last()) {
        (Some(&first), Some(&last_us)) if last_us > first => Duration::from_micros(last_us - first),
        _ => Duration::ZERO,
    };
    println!(
        "admitted: {} fans seen admitted; {:.0} admissions/s while checkout ran ({:.2}–{:.2} s after the opening, as seen by polls); server's peak estimate {} admissions/min; peak line {} waiting",
        admissions.len(),
        per_second(admissions.len() as u64, window),
        admissions.first().map_or(0.0, |&u| since_opening(u)),
        admissions.last().map_or(0.0, |&u| since_opening(u)),
        shared.admissions_per_minute_max.load(Ordering::Relaxed),
        shared.waiting_max.load(Ordering::Relaxed)
    );
    println!(
        "online: {} holds, {} orders, {} tickets; {} abandoned, {} gave up, {} confirm rejected; {} left sold out, {} window expired",
        tally.holds,
        tally.confirmed,
        tally.tickets_confirmed,
        tally.abandoned,
        tally.hold_gave_up,
        tally.confirm_rejected,
        tally.left_sold_out,
        tally.left_expired
    );
    println!(
        "box office: {} terminals, {} orders, {} tickets (quota {}), {} confirm rejected",
        args.terminals, counter.confirmed, counter.tickets_confirmed, args.box_office_quota, counter.confirm_rejected
    );
    let difficulty: Vec<String> = tally.difficulty.iter().map(|(b, n)| format!("{b} bits × {n}")).collect();
    println!(
        "proof of work: {} solved ({}), {:.2} s CPU in total, {:.2} ms per fan",
        tally.solves,
        if difficulty.is_empty() { "none".into() } else { difficulty.join(", ") },
        tally.solve_us as f64 / 1e6,
        if tally.solves == 0 { 0.0 } else { tally.solve_us as f64 / 1e3 / tally.solves as f64 }
    );
    let kinds = [
        Kind::Challenge,
        Kind::Join,
        Kind::Status,
        Kind::Availability,
        Kind::Hold,
        Kind::Release,
        Kind::Confirm,
        Kind::OrdersRead,
        Kind::Draw,
    ];
    print!("{}", stats::render(&stats, &kinds, |k| if k == Kind::OrdersRead || k == Kind::Draw { reading } else { selling }));
    let slow: Vec<&str> = kinds
        .iter()
        .filter(|k| LatencySummary::of(&stats.kind(**k).latency_us).is_some_and(|s| s.p99_ms >= 100.0))
        .map(|k| k.name())
        .collect();
    println!("  p99 < 100 ms on every request type: {}", if slow.is_empty() { "yes".to_string() } else { format!("NO ({})", slow.join(", ")) });
    println!("  429 replies (rate limits): {}", stats.statuses.get(&429).copied().unwrap_or(0));
    print_memory(&args, &memory);
    println!(
        "verification: availability capacity {} free {} held {} sold {}; {} orders read back with {} valid tickets",
        last.counts.capacity, last.counts.free, last.counts.held, last.counts.sold, check.orders, check.valid_tickets
    );
    let double_sold = check.violations.iter().any(|v| v.contains("sold twice"));
    println!("  double-sold seats: {}", if double_sold { "FOUND" } else { "none" });
    println!(
        "  valid tickets + free + held == capacity: {}",
        if check.valid_tickets + last.counts.free + last.counts.held == last.counts.capacity { "yes" } else { "NO" }
    );
    println!("  acknowledged orders: {}, all present with the same places: {}", check.acknowledged, if check.violations.iter().any(|v| v.contains("acknowledged")) { "NO" } else { "yes" });
    println!("{draw_report}");
    let five = stats.server_errors();
    if five > 0 {
        violations.push(format!("{five} replies were 5xx"));
    }
    if violations.is_empty() {
        println!("result: OK — no correctness violation");
        Ok(())
    } else {
        println!("result: {} VIOLATION(S)", violations.len());
        for v in &violations {
            println!("  - {v}");
        }
        Err(format!("the rush found {} correctness violation(s); first: {}", violations.len(), violations[0]))
    }
}

/// The published draw: it must recompute from its seed, the seed must be the
/// committed one, its entries must be exactly the fans who joined before the
/// opening, and what fans were told must follow its order.
fn check_draw(draw: &DrawDocument, commitment: &str, found: &Findings, violations: &mut Vec<String>) -> String {
    let mut lines = Vec::new();
    if draw.commitment != commitment {
        violations.push(format!("the draw's commitment {} is not the one published at creation {commitment}", draw.commitment));
    }
    let checked = match draw.check() {
        Ok(checked) => checked,
        Err(DrawDefect::NotRevealed) => {
            violations.push("the draw is not revealed although the opening passed".into());
            return "draw: NOT revealed".into();
        }
        Err(defect) => {
            violations.push(format!("the published draw does not verify: {defect}"));
            return format!("draw: does NOT verify: {defect}");
        }
    };
    lines.push(format!(
        "draw: verified — {} pre-queue entries, SHA-256(seed) equals the commitment, the published order is the seed's",
        checked.order.len()
    ));
    let rank_of_id: HashMap<String, u32> = checked.order.iter().enumerate().map(|(i, id)| (id.to_string(), i as u32)).collect();
    let mut rank: HashMap<u32, u32> = HashMap::new();
    let mut missing = 0u64;
    let ours: HashSet<&str> = found.joined.iter().map(|j| j.queue_id.as_str()).collect();
    for j in &found.joined {
        match rank_of_id.get(&j.queue_id) {
            Some(&r) => {
                rank.insert(j.fan, r);
            }
            None if j.prequeue => missing += 1,
            None => {}
        }
    }
    if missing > 0 {
        violations.push(format!("{missing} fans told \"pre_queue\" at their join are not in the draw"));
    }
    let strangers = draw.entries.iter().filter(|e| !ours.contains(e.as_str())).count();
    if strangers > 0 {
        violations.push(format!("the draw lists {strangers} ids no fan of this run joined with"));
    }
    let order = check_admission_order(&found.sightings, &rank);
    let checked_sightings = found.sightings.iter().filter(|s| rank.contains_key(&s.fan)).count();
    if order.is_empty() {
        lines.push(format!(
            "admission order: consistent with the draw ({checked_sightings} status replies of {} drawn fans checked against one advancing cursor)",
            rank.len()
        ));
    } else {
        lines.push(format!("admission order: {} contradiction(s) with the draw", order.len()));
        violations.extend(order);
    }
    lines.join("\n")
}

fn print_memory(args: &RushArgs, memory: &MemorySamples) {
    let per = |rss: u64, entries: u64| {
        if entries == 0 { "-".to_string() } else { format!("{:.0}", rss.saturating_sub(memory.before_bytes) as f64 / entries as f64) }
    };
    match (args.server_pid, memory.at_opening, memory.peak) {
        (Some(pid), opening, peak) => {
            let mib = |b: u64| b as f64 / (1 << 20) as f64;
            let mut line = format!("server memory (VmRSS of pid {pid}): {:.1} MiB before the first join", mib(memory.before_bytes));
            if let Some((rss, entries)) = opening {
                line += &format!("; {:.1} MiB at the opening with {entries} in the pre-queue = {} bytes per queued fan", mib(rss), per(rss, entries));
            }
            if let Some((rss, entries)) = peak {
                line += &format!("; peak {:.1} MiB with {entries} joined = {} bytes per fan", mib(rss), per(rss, entries));
            }
            println!("{line}");
            println!("  (an upper bound: the growth includes spent challenges, per-IP limiter keys, connections and the sale itself)");
        }
        (None, _, _) => println!(
            "server memory: not measured (no --server-pid); the core's queue bench measures {core_bytes_per_fan_measured} bytes per queued fan"
        ),
    }
}

/// `--polls-only`: every fan joined; after the opening, poll their statuses
/// round-robin over the connections for `--poll-seconds`.
async fn polls_only(
    args: &RushArgs,
    setup: &Setup,
    shared: &Arc<Shared>,
    found: Findings,
    before_rss: Option<u64>,
) -> Result<(), String> {
    let joined_rss = args.server_pid.and_then(rss_bytes);
    println!(
        "joined: {} of {} fans in {:.2} s ({} rate-limited 429, {} gave up); proof of work {:.2} s CPU",
        found.joined.len(),
        args.fans,
        shared.started.elapsed().as_secs_f64(),
        found.tally.rate_limited,
        found.tally.join_gave_up,
        found.tally.solve_us as f64 / 1e6
    );
    if let (Some(before), Some(after)) = (before_rss, joined_rss) {
        let n = found.joined.len().max(1) as f64;
        println!(
            "server memory (VmRSS of pid {}): {:.1} MiB before, {:.1} MiB with {} queued = {:.0} bytes per queued fan (upper bound)",
            args.server_pid.unwrap_or(0),
            before as f64 / (1 << 20) as f64,
            after as f64 / (1 << 20) as f64,
            found.joined.len(),
            after.saturating_sub(before) as f64 / n
        );
    }
    if found.joined.is_empty() {
        return Err("no fan joined; nothing to poll".into());
    }
    tokio::time::sleep_until((setup.opens_at + Duration::from_millis(room_open_wait_ms)).into()).await;
    let concurrency = args.concurrency.clamp(1, concurrency_max);
    // Each fan's first poll after the draw, as the waiting page makes it: the
    // server answers a place signed before the draw through the writer and hands
    // out one that carries the fan's rank. Measured apart from the steady polls.
    let started = Instant::now();
    let joined: Arc<Vec<String>> = Arc::new(found.joined.iter().map(|j| j.token.clone()).collect());
    let mut workers = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let joined = joined.clone();
        let (authority, prefix) = (setup.target.authority.clone(), format!("{}/events/{}/queue/status?token=", setup.base, setup.event));
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(&authority);
            let mut stats = Stats::default();
            let mut ranked = Vec::new();
            for i in (w..joined.len()).step_by(concurrency) {
                let path = format!("{prefix}{}", joined[i]);
                let reply = Worker::send(&mut stats, &mut conn, Kind::Status, Method::GET, &path, &Headers::default(), None).await;
                let fresh = reply.ok().and_then(|r| r.json()).and_then(|v| v.get("token")?.as_str().map(str::to_string));
                ranked.push((i, fresh.unwrap_or_else(|| joined[i].clone())));
            }
            (stats, ranked)
        }));
    }
    let mut first = Stats::default();
    let mut tokens = joined.as_ref().clone();
    let mut reissued = 0usize;
    for w in workers {
        let (stats, ranked) = w.await.map_err(|e| format!("a poller panicked: {e}"))?;
        first.absorb(&stats);
        for (i, token) in ranked {
            reissued += usize::from(token != tokens[i]);
            tokens[i] = token;
        }
    }
    let elapsed = started.elapsed();
    println!("first poll after the draw: {} of {} places re-issued with their rank in {:.2} s", reissued, tokens.len(), elapsed.as_secs_f64());
    print!("{}", stats::render(&first, &[Kind::Status], |_| elapsed));
    let tokens: Arc<Vec<String>> = Arc::new(tokens);
    let stop = Arc::new(AtomicBool::new(false));
    let places = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let (tokens, stop, places) = (tokens.clone(), stop.clone(), places.clone());
        let (authority, prefix) = (setup.target.authority.clone(), format!("{}/events/{}/queue/status?token=", setup.base, setup.event));
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(&authority);
            let mut stats = Stats::default();
            let mut seen: BTreeMap<String, u64> = BTreeMap::new();
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("{prefix}{}", tokens[i % tokens.len()]);
                let reply = Worker::send(&mut stats, &mut conn, Kind::Status, Method::GET, &path, &Headers::default(), None).await;
                // Parsing every reply would cost the generator, on the server's
                // cores, more than the poll costs the server: one in 16 is read.
                if i % (16 * concurrency) < concurrency
                    && let Ok(r) = &reply
                    && let Some(place) = r.json().and_then(|v| v.get("place")?.as_str().map(str::to_string))
                {
                    *seen.entry(place).or_default() += 1;
                }
                i += concurrency;
            }
            let mut all = places.lock().expect("places lock");
            for (k, v) in seen {
                *all.entry(k).or_default() += v;
            }
            stats
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.poll_seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut stats = Stats::default();
    for w in workers {
        stats.absorb(&w.await.map_err(|e| format!("a poller panicked: {e}"))?);
    }
    let elapsed = started.elapsed();
    println!(
        "status polls: {} fans' places round-robin over {concurrency} connections for {:.1} s",
        tokens.len(),
        elapsed.as_secs_f64()
    );
    print!("{}", stats::render(&stats, &[Kind::Status], |_| elapsed));
    let places: Vec<String> = places.lock().expect("places lock").iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!("  places answered (one reply in 16 read): {}", places.join(", "));
    if stats.server_errors() > 0 {
        return Err(format!("{} status polls answered 5xx", stats.server_errors()));
    }
    println!("result: OK");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(fan: u32, sent_us: u64, received_us: u64, position: u32) -> Sighting {
        Sighting { fan, sent_us, received_us, seen: Seen::Waiting { position } }
    }

    fn passed(fan: u32, sent_us: u64, received_us: u64) -> Sighting {
        Sighting { fan, sent_us, received_us, seen: Seen::Passed }
    }

    /// Fans 10, 11, 12 drawn at places 1, 2, 3.
    fn ranks() -> HashMap<u32, u32> {
        HashMap::from([(10, 0), (11, 1), (12, 2)])
    }

    #[test]
    fn admissions_in_draw_order_pass_the_check() {
        let s = [
            waiting(10, 0, 10, 1),
            waiting(12, 5, 15, 3),
            passed(10, 20, 30),
            waiting(11, 40, 50, 1),
            waiting(12, 40, 50, 2),
            passed(11, 60, 70),
            passed(12, 80, 90),
        ];
        assert_eq!(check_admission_order(&s, &ranks()), Vec::<String>::new());
    }

    #[test]
    fn a_fan_waiting_after_someone_drawn_behind_was_admitted_is_a_violation() {
        // Fan 12 (place 3) admitted; later fan 11 (place 2) still waits.
        let s = [passed(12, 0, 10), waiting(11, 20, 30, 1)];
        let v = check_admission_order(&s, &ranks());
        assert!(v.iter().any(|m| m.contains("fan 11 (draw place 2)")), "{v:?}");
    }

    #[test]
    fn overlapping_polls_are_never_compared() {
        // The admission may have happened between: both replies are possible.
        let s = [passed(12, 0, 30), waiting(11, 20, 40, 1)];
        assert_eq!(check_admission_order(&s, &ranks()), Vec::<String>::new());
    }

    #[test]
    fn a_position_the_draw_cannot_give_is_a_violation() {
        let v = check_admission_order(&[waiting(10, 0, 1, 2)], &ranks());
        assert!(v[0].contains("told position 2"), "{v:?}");
        // A cursor moving back: two admitted ahead, then one.
        let v = check_admission_order(&[waiting(12, 0, 1, 1), waiting(12, 5, 6, 2)], &ranks());
        assert!(!v.is_empty());
    }

    #[test]
    fn fans_without_a_draw_place_are_not_checked() {
        let s = [passed(99, 0, 1), waiting(98, 5, 6, 1)];
        assert_eq!(check_admission_order(&s, &ranks()), Vec::<String>::new());
    }

    #[test]
    fn every_fan_gets_a_distinct_loopback_address() {
        let a: HashSet<IpAddr> = (0..200_000u32).map(fan_source).collect();
        assert_eq!(a.len(), 200_000);
        assert!(a.iter().all(|ip| ip.is_loopback()));
        assert!(is_loopback("127.0.0.1:8080") && is_loopback("localhost:80") && !is_loopback("10.0.0.1:80"));
    }
}
