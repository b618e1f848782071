//! The waiting room's runtime around the core's `WaitingRoom`: per-tenant services
//! the HTTP handlers share (proof-of-work secret and spent set, rate limits, e-mail
//! verification, checkout measurements), the signed queue-place and admission
//! credentials, and the driver task that moves every room along — it ticks a room at
//! its opening, hands in the draw computed from the committed seed, and admits fans
//! at the rate checkout can serve.
//!
//! The admission controller is additive-increase, multiplicative-decrease on the
//! number admitted per driver tick: while checkout answers fast and without
//! overload it lets in a few more each tick; a slow or shedding checkout halves it.
//! The core caps every admission by the room's active maximum and by the places the
//! event has left, so the controller can only ever be too slow, never too generous.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use sturmfest_core as core;
use sturmfest_core::queue::{self, Phase, RoomCommand};

use crate::credentials::{Keyring, Kind, Verifier};
use crate::draw::{self, Seed};
use crate::identity::Verifications;
use crate::pow::SpentChallenges;
use crate::ratelimit::{Limits, LimitsConfig};
use crate::runtime::{Shard, wall_clock_ms};

/// How often the driver looks at every room.
pub const driver_interval_ms: u64 = 200;
/// Checkout latency (holds and confirmations, EWMA) above which admission backs off.
pub const checkout_latency_target_us: u64 = 250_000;
/// Admissions per driver tick: start, additive step, ceiling.
pub const admit_batch_initial: u32 = 20;
pub const admit_batch_step: u32 = 10;
pub const admit_batch_max: u32 = 2_000;
/// Spent proof-of-work challenges remembered per tenant.
pub const spent_challenges_max: usize = 500_000;
/// Proof-of-work difficulty when the room is calm.
pub const pow_base_bits_default: u32 = 16;

/// Body of a queue-place credential: event (u32) ‖ identity (u128) ‖ queue id (16)
/// ‖ rank (u32, `rank_none` until the fan has one).
pub const place_body_bytes: usize = 4 + 16 + 16 + 4;
/// The first place credentials had no rank; they are still accepted.
pub const place_body_bytes_v1: usize = 4 + 16 + 16;
/// The rank field of a place whose fan is not ranked yet (pre-queue before the draw).
pub const rank_none: u32 = u32::MAX;
/// Verified place credentials remembered per tenant, so a fan's repeated polls with
/// the same credential check its signature once. A full shard is forgotten whole.
pub const place_cache_max: usize = 1 << 20;
const place_cache_shards: usize = 16;
/// Body of an admission credential: event (u32) ‖ identity (u128) ‖ until (i64 ms).
pub const admission_body_bytes: usize = 4 + 16 + 8;

/// Checkout's health as the admission controller sees it.
#[derive(Default)]
pub struct CheckoutStats {
    /// EWMA of hold and confirm latency, microseconds.
    latency_ewma_us: AtomicU64,
    /// Overload answers (503) since the driver last looked.
    shed: AtomicU64,
}

impl CheckoutStats {
    pub fn record(&self, latency: Duration) {
        let sample = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        // A lost race between two updates drops one sample; the average survives it.
        let old = self.latency_ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 { sample } else { old - old / 8 + sample / 8 };
        self.latency_ewma_us.store(new, Ordering::Relaxed);
    }

    pub fn record_shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn latency_us(&self) -> u64 {
        self.latency_ewma_us.load(Ordering::Relaxed)
    }

    fn take_shed(&self) -> u64 {
        self.shed.swap(0, Ordering::Relaxed)
    }
}

/// What the driver measured of one room, for the waiting page's estimate.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoomRate {
    /// Admissions per second, EWMA over driver ticks.
    pub admitted_per_sec: f64,
    batch: u32,
}

/// Everything the waiting-room handlers of one tenant share.
pub struct RoomServices {
    pub pow_secret: [u8; 32],
    /// Difficulty when calm; `pow::difficulty_bits` raises it with the line.
    pub pow_base_bits: u32,
    /// The most the line's length may raise it to (`NodeOptions::pow_bits_max`).
    pub pow_bits_max: u32,
    pub spent: SpentChallenges,
    pub limits: Limits,
    /// `None` when the node has no mail relay configured: no identities can be
    /// verified then, and the join endpoints say so.
    pub verifications: Option<Mutex<Verifications>>,
    pub checkout: CheckoutStats,
    pub rates: Mutex<BTreeMap<u32, RoomRate>>,
    pub places: PlaceCache,
}

impl RoomServices {
    pub fn new(pow_secret: [u8; 32], base_bits: u32, verifications: Option<Verifications>) -> RoomServices {
        RoomServices {
            pow_secret,
            pow_base_bits: base_bits,
            pow_bits_max: crate::pow::difficulty_bits_max,
            spent: SpentChallenges::new(spent_challenges_max),
            limits: Limits::new(LimitsConfig::default()),
            verifications: verifications.map(Mutex::new),
            checkout: CheckoutStats::default(),
            rates: Mutex::new(BTreeMap::new()),
            places: PlaceCache::default(),
        }
    }

    pub fn rate(&self, event: u32) -> RoomRate {
        self.rates.lock().expect("rates lock").get(&event).copied().unwrap_or_default()
    }
}

// ----- credentials -----

/// A signed place in `event`'s room; `rank` once the fan has one (see
/// `WaitingRoom::rank`), so later polls need not ask the writer where it stands.
pub fn place_credential(keyring: &Keyring, event: u32, identity: u128, queue_id: [u8; 16], rank: Option<u32>) -> String {
    let mut body = Vec::with_capacity(place_body_bytes);
    body.extend_from_slice(&event.to_be_bytes());
    body.extend_from_slice(&identity.to_be_bytes());
    body.extend_from_slice(&queue_id);
    body.extend_from_slice(&rank.unwrap_or(rank_none).to_be_bytes());
    keyring.sign(Kind::QueuePlace, &body)
}

/// What a genuine queue-place credential says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaceClaim {
    pub event: u32,
    pub identity: u128,
    pub queue_id: [u8; 16],
    pub rank: Option<u32>,
}

/// The place a queue-place credential stands for, if it is genuine and for `event`.
pub fn open_place(verifier: &Verifier, event: u32, text: &str) -> Option<PlaceClaim> {
    let body = verifier.verify(Kind::QueuePlace, text).ok()?;
    if body.len() != place_body_bytes && body.len() != place_body_bytes_v1 {
        return None;
    }
    let claim = PlaceClaim {
        event: u32::from_be_bytes(body[..4].try_into().ok()?),
        identity: u128::from_be_bytes(body[4..20].try_into().ok()?),
        queue_id: body[20..36].try_into().ok()?,
        rank: match body.get(36..40) {
            Some(rank) => Some(u32::from_be_bytes(rank.try_into().ok()?)).filter(|r| *r != rank_none),
            None => None,
        },
    };
    (claim.event == event).then_some(claim)
}

/// Place credentials whose signature this node has checked, keyed by the SHA-256 of
/// the credential's exact text: a fan polls with the same credential every few
/// seconds, and an Ed25519 verification costs more than the rest of the poll. Only
/// a credential byte-for-byte equal to a verified one hits, so a forgery is always
/// verified (and refused). Keys do not change while a node runs (tenants and their
/// keyrings are loaded at start), so nothing here outlives a revocation.
pub struct PlaceCache {
    shards: Vec<Mutex<HashMap<[u8; 32], PlaceClaim>>>,
}

impl Default for PlaceCache {
    fn default() -> PlaceCache {
        PlaceCache { shards: (0..place_cache_shards).map(|_| Mutex::new(HashMap::new())).collect() }
    }
}

impl PlaceCache {
    pub fn open(&self, verifier: &Verifier, event: u32, text: &str) -> Option<PlaceClaim> {
        let key: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        let shard = &self.shards[key[0] as usize % place_cache_shards];
        if let Some(claim) = shard.lock().expect("place cache lock").get(&key) {
            return (claim.event == event).then_some(*claim);
        }
        let claim = open_place(verifier, event, text)?;
        let mut map = shard.lock().expect("place cache lock");
        if map.len() >= place_cache_max / place_cache_shards {
            map.clear();
        }
        map.insert(key, claim);
        Some(claim)
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().expect("place cache lock").len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub fn admission_credential(keyring: &Keyring, event: u32, identity: u128, until: core::TimeMs) -> String {
    let mut body = Vec::with_capacity(admission_body_bytes);
    body.extend_from_slice(&event.to_be_bytes());
    body.extend_from_slice(&identity.to_be_bytes());
    body.extend_from_slice(&until.0.to_be_bytes());
    keyring.sign(Kind::Admission, &body)
}

/// The admitted identity, if the credential is genuine, for `event` and not past
/// its window. The core checks the window again when the hold arrives.
pub fn open_admission(verifier: &Verifier, event: u32, text: &str, now_ms: i64) -> Option<u128> {
    let body = verifier.verify(Kind::Admission, text).ok()?;
    let body: [u8; admission_body_bytes] = body.try_into().ok()?;
    (u32::from_be_bytes(body[..4].try_into().ok()?) == event).then_some(())?;
    let until = i64::from_be_bytes(body[20..].try_into().ok()?);
    (now_ms < until).then_some(())?;
    Some(u128::from_be_bytes(body[4..20].try_into().ok()?))
}

/// A fan's pseudonymous queue id in one event: stable for the identity (a retry
/// or a second device gets the same), unlinkable across events and tenants.
pub fn queue_id_for(credentials: &crate::tenants::Credentials, event: u32, identity: u128) -> [u8; 16] {
    let digest = credentials.keyed_digest(b"queue\0", &[event.to_be_bytes().as_slice(), &identity.to_be_bytes()].concat());
    digest[..16].try_into().expect("16 bytes")
}

// ----- the driver -----

/// One room as the driver needs to see it.
struct RoomLook {
    event: u32,
    phase: Phase,
    opens_at: i64,
    prequeue_opens_at: i64,
    next_expiry: Option<i64>,
    seed: [u8; 32],
    /// Only while awaiting the draw: the pre-queue ids in entry order.
    prequeue: Vec<[u8; 16]>,
    admitted: u32,
    waiting: u32,
    admitted_active_max: u32,
}

fn look(tenant: &core::Tenant) -> Vec<RoomLook> {
    tenant
        .rooms()
        .map(|(event, sale_room)| {
            let room = &sale_room.room;
            let phase = room.phase();
            RoomLook {
                event: event.0,
                phase,
                opens_at: room.config().opens_at.0,
                prequeue_opens_at: room.config().prequeue_opens_at.0,
                next_expiry: room.next_expiry().map(|t| t.0),
                seed: sale_room.seed,
                prequeue: if phase == Phase::AwaitingDraw { room.prequeue().map(|q| q.0).collect() } else { Vec::new() },
                admitted: room.counts().admitted,
                waiting: room.counts().waiting,
                admitted_active_max: room.config().admitted_active_max,
            }
        })
        .collect()
}

/// The drawn order of a pre-queue as `Draw` wants it: entry indexes by rank.
pub fn draw_indexes(seed: &[u8; 32], prequeue: &[[u8; 16]]) -> Vec<u32> {
    let ids: BTreeSet<queue::QueueId> = prequeue.iter().map(|q| queue::QueueId(*q)).collect();
    let index: BTreeMap<[u8; 16], u32> = prequeue.iter().enumerate().map(|(i, q)| (*q, i as u32)).collect();
    draw::draw_order(&Seed(*seed), &ids).into_iter().map(|id| index[&id.0]).collect()
}

/// Runs until the shard stops: every `driver_interval_ms`, moves each room along.
pub async fn drive(shard: Shard, services: std::sync::Arc<RoomServices>) {
    let mut interval = tokio::time::interval(Duration::from_millis(driver_interval_ms));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if !shard.is_running() {
            return;
        }
        let Ok(rooms) = shard.read(look).await else { continue };
        if rooms.is_empty() {
            continue;
        }
        let now = wall_clock_ms();
        let shed = services.checkout.take_shed();
        for room in rooms {
            let command = match room.phase {
                Phase::NotYetOpen if now >= room.prequeue_opens_at => Some(RoomCommand::Tick),
                Phase::PreQueue if now >= room.opens_at => Some(RoomCommand::Tick),
                Phase::AwaitingDraw => Some(RoomCommand::Draw { order: draw_indexes(&room.seed, &room.prequeue) }),
                // Only when someone waits and checkout has room: an idle room
                // writes nothing to the log.
                Phase::Admitting if room.waiting > 0 && room.admitted < room.admitted_active_max => {
                    let count = next_batch(&services, room.event, shed);
                    Some(RoomCommand::Admit { count, unsold_places: 0 })
                }
                _ if room.next_expiry.is_some_and(|at| at <= now) => Some(RoomCommand::Tick),
                _ => None,
            };
            let Some(command) = command else { continue };
            let admitting = matches!(command, RoomCommand::Admit { .. });
            let outcome = shard.execute(None, core::Command::Room { event: core::EventId(room.event), command }).await;
            if let Ok(Ok(core::Reply::Room { reply: queue::RoomReply::Admitted { admitted, .. }, .. })) = &outcome {
                record_admitted(&services, room.event, *admitted);
            } else if admitting {
                record_admitted(&services, room.event, 0);
            }
            if let Ok(Err(rejection)) = outcome {
                tracing::debug!(event = room.event, code = rejection.code(), "room driver");
            }
        }
    }
}

/// AIMD: grow the batch while checkout is healthy, halve it when it is not.
fn next_batch(services: &RoomServices, event: u32, shed: u64) -> u32 {
    let healthy = shed == 0 && services.checkout.latency_us() < checkout_latency_target_us;
    let mut rates = services.rates.lock().expect("rates lock");
    let rate = rates.entry(event).or_default();
    rate.batch = match (rate.batch, healthy) {
        (0, _) => admit_batch_initial,
        (b, true) => (b + admit_batch_step).min(admit_batch_max),
        (b, false) => (b / 2).max(1),
    };
    rate.batch
}

fn record_admitted(services: &RoomServices, event: u32, admitted: u32) {
    let per_sec = f64::from(admitted) * 1000.0 / driver_interval_ms as f64;
    let mut rates = services.rates.lock().expect("rates lock");
    let rate = rates.entry(event).or_default();
    rate.admitted_per_sec = if rate.admitted_per_sec == 0.0 { per_sec } else { rate.admitted_per_sec * 0.9 + per_sec * 0.1 };
}
