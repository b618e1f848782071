//! Per-IP and per-identity rate limits for the waiting room's join and verify
//! calls: keyed GCRA limiters from the `governor` crate, in memory, per node.
//!
//! An IPv4 address is one key. An IPv6 address is keyed by its /64 prefix: one
//! host or household usually owns a whole /64 and can pick any address in it, so a
//! per-address key would give it 2^64 fresh buckets. Many fans share one IPv4
//! address behind carrier-grade NAT (a stadium crowd on one mobile network), so the
//! per-IP quota is generous and the proof of work and the per-identity quota do the
//! fine-grained work.
//!
//! Memory is bounded twice. Idle keys — whose bucket is full again, so forgetting
//! them changes no decision — are dropped by [`Limits::retain_recent`], which the
//! owner of the limits (the node that serves the join endpoint) runs every
//! [`retain_interval_ms`] with [`spawn_retain`]. And each limiter holds at most
//! [`limiter_keys_max`] keys: when a flood of distinct keys fills it, it first prunes
//! (at most once per interval, so a flood cannot make every request pay for a
//! sweep) and, if still full, lets requests through *unlimited by that key* until
//! room appears. Failing open is deliberate: whoever holds that many addresses gets
//! a fresh bucket per address anyway, so refusing everyone would hand them a
//! lock-out of all fans; the proof of work still prices every join.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Join attempts one IPv4 address or IPv6 /64 may make at once…
pub const ip_burst_max: u32 = 60;
/// …and one more every this often: generous, because of carrier-grade NAT.
pub const ip_refill_ms: u64 = 1_000;
/// Join attempts one identity (a verified fan) may make at once…
pub const identity_burst_max: u32 = 5;
/// …and one more every this often: a fan joins once and retries rarely.
pub const identity_refill_ms: u64 = 10_000;
/// Most keys one limiter holds; an entry is about 40 bytes, so 20 MB when full.
pub const limiter_keys_max: usize = 500_000;
/// How often idle keys are dropped.
pub const retain_interval_ms: u64 = 10_000;

/// A denial: the caller may try again after `wait` (the HTTP layer answers 429 with
/// `Retry-After`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter {
    pub wait: Duration,
}

impl RetryAfter {
    /// Whole seconds for `Retry-After`, rounded up and at least 1: a client told 0
    /// would retry at once and be refused again.
    pub fn secs(self) -> u32 {
        let secs = self.wait.as_nanos().div_ceil(1_000_000_000).max(1);
        u32::try_from(secs).unwrap_or(u32::MAX)
    }
}

/// The key an address is limited by: IPv4 as is, IPv6 by its /64. An IPv4-mapped
/// IPv6 address (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4 peers) is the
/// IPv4 address, so one client has one key whichever socket it came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpKey {
    V4([u8; 4]),
    V6Net64([u8; 8]),
}

impl IpKey {
    pub fn of(ip: IpAddr) -> IpKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpKey::V4(v4.octets()),
            IpAddr::V6(v6) => IpKey::V6Net64(v6.octets()[..8].try_into().expect("8 of 16 bytes")),
        }
    }
}

/// The quotas and bound of a [`Limits`].
#[derive(Clone, Copy, Debug)]
pub struct LimitsConfig {
    pub per_ip: Quota,
    pub per_identity: Quota,
    pub keys_max: usize,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            per_ip: quota(ip_burst_max, ip_refill_ms),
            per_identity: quota(identity_burst_max, identity_refill_ms),
            keys_max: limiter_keys_max,
        }
    }
}

/// `burst_max` requests at once, then one per `refill_ms`.
pub fn quota(burst_max: u32, refill_ms: u64) -> Quota {
    let burst = NonZeroU32::new(burst_max).expect("a burst of at least one");
    Quota::with_period(Duration::from_millis(refill_ms)).expect("a refill period above zero").allow_burst(burst)
}

type Keyed<K, C> = RateLimiter<K, HashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Per-IP and per-identity limits on one clock (real by default, a
/// `governor::clock::FakeRelativeClock` in tests).
pub struct Limits<C: Clock = DefaultClock> {
    per_ip: Keyed<IpKey, C>,
    /// Identities are 128-bit ids of verified fans (e.g. a queue id), chosen by the
    /// caller; the limiter neither knows nor stores who they are.
    per_identity: Keyed<u128, C>,
    clock: C,
    keys_max: usize,
    /// When the last prune ran, so a full table is swept at most once per interval.
    last_retain: Mutex<Option<C::Instant>>,
}

impl Limits<DefaultClock> {
    pub fn new(config: LimitsConfig) -> Limits<DefaultClock> {
        Limits::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limits<C> {
    pub fn with_clock(config: LimitsConfig, clock: C) -> Limits<C> {
        assert!(config.keys_max > 0);
        // The limiters and `Limits` read one clock: a fake clock's clones share time.
        Limits {
            per_ip: RateLimiter::hashmap_with_clock(config.per_ip, clock.clone()),
            per_identity: RateLimiter::hashmap_with_clock(config.per_identity, clock.clone()),
            clock,
            keys_max: config.keys_max,
            last_retain: Mutex::new(None),
        }
    }

    /// Counts one request from `ip` (see [`IpKey`]).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        self.check(&self.per_ip, &IpKey::of(ip))
    }

    /// Counts one request by a verified identity.
    pub fn check_identity(&self, identity: u128) -> Result<(), RetryAfter> {
        self.check(&self.per_identity, &identity)
    }

    fn check<K: std::hash::Hash + Eq + Clone>(&self, limiter: &Keyed<K, C>, key: &K) -> Result<(), RetryAfter> {
        if limiter.len() >= self.keys_max {
            self.retain_if_due();
            if limiter.len() >= self.keys_max {
                // Full of keys in use: fail open (see the module comment).
                return Ok(());
            }
        }
        limiter.check_key(key).map_err(|not_until| RetryAfter { wait: not_until.wait_time_from(self.clock.now()) })
    }

    /// Drops every key whose bucket has refilled: it would be created again in the
    /// same state, so no decision changes. Called every [`retain_interval_ms`] by
    /// [`spawn_retain`], and by a check that finds a limiter full.
    pub fn retain_recent(&self) {
        *self.last_retain.lock().expect("never poisoned") = Some(self.clock.now());
        self.per_ip.retain_recent();
        self.per_identity.retain_recent();
    }

    fn retain_if_due(&self) {
        let now = self.clock.now();
        let due = self
            .last_retain
            .lock()
            .expect("never poisoned")
            .is_none_or(|last| now.duration_since(last) >= Duration::from_millis(retain_interval_ms).into());
        if due {
            self.retain_recent();
        }
    }

    /// Keys held: (per IP, per identity). For metrics and tests.
    pub fn keys(&self) -> (usize, usize) {
        (self.per_ip.len(), self.per_identity.len())
    }
}

/// Runs [`Limits::retain_recent`] every `interval` ([`retain_interval_ms`] in
/// production) until the limits are dropped. The node that builds the join
/// endpoint's state calls this once, on its tokio runtime.
pub fn spawn_retain<C>(limits: &Arc<Limits<C>>, interval: Duration) -> tokio::task::JoinHandle<()>
where
    C: Clock + Clone + Send + Sync + 'static,
    C::Instant: Send,
{
    let limits = Arc::downgrade(limits);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(limits) = limits.upgrade() else { return };
            limits.retain_recent();
        }
    })
}
