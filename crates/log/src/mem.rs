//! An in-memory, fault-injecting store for the deterministic simulator.
//!
//! [`MemStore`] is the "disk", shared by every node of a simulation; [`MemLog`] is
//! one process's handle on it, with its own poison flag and failpoint. The store
//! tracks which batches are synced and which were written but not yet synced (an
//! append whose fsync failed). [`MemStore::crash`] drops the unsynced ones and,
//! decided by the seed alone, may leave the last one torn on disk, as a power cut
//! in the middle of a write could. There is no clock and no global RNG; all futures
//! complete on first poll.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::record::{Chain, encode_batch};
use crate::sqlite::pick_intact_snapshot;
use crate::{
    Backend, Fence, Head, Lease, LogError, Record, Snapshot, StoredBatch, TenantId,
    assert_batch_sealed_by, genesis_hash, snapshot_bytes_max, snapshot_crc, snapshots_kept_count,
};

/// A fault to inject into the next append of one handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// The write fails before anything reaches the disk.
    WriteFails,
    /// The batch is written (visible to readers, head moved) but its fsync fails, so
    /// it stays unsynced until the next crash.
    FsyncFails,
}

/// How a crash damaged the last unsynced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// Cut to this many bytes.
    Truncated { bytes_kept: usize },
    /// One bit flipped.
    BitFlipped { byte: usize, bit: u8 },
}

/// What a crash did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CrashReport {
    /// Unsynced batches that vanished, as (tenant, first_seq).
    pub dropped: Vec<(TenantId, u64)>,
    /// The unsynced batch left torn on disk, if any, with its head row kept.
    pub torn: Option<(TenantId, u64, Tear)>,
}

#[derive(Debug, Clone)]
struct MemBatch {
    last_seq: u64,
    epoch: u64,
    blob: Vec<u8>,
    /// Global write order, so "the last unsynced batch" is well defined.
    written_at: u64,
    synced: bool,
}

#[derive(Debug, Clone)]
struct TenantDisk {
    /// The head as readers see it (page cache).
    head: Head,
    /// The head as the last successful sync left it on disk.
    synced_head: Head,
    batches: BTreeMap<u64, MemBatch>,
    quarantine: Vec<(u64, MemBatch, String)>,
    /// (snapshot, stored crc), ascending by seq.
    snapshots: Vec<(Snapshot, i64)>,
}

#[derive(Debug, Default)]
struct Disk {
    tenants: BTreeMap<TenantId, TenantDisk>,
    writes_count: u64,
}

impl Disk {
    /// A successful commit fsyncs the file, which makes every earlier write durable,
    /// including a batch whose own fsync failed earlier. That batch was never
    /// acknowledged (its writer got `Io` and is poisoned), so either outcome, lost or
    /// kept, is allowed; what must hold is that nothing acknowledged is ever lost.
    fn sync_all(&mut self) {
        for tenant in self.tenants.values_mut() {
            for batch in tenant.batches.values_mut() {
                batch.synced = true;
            }
            tenant.synced_head = tenant.head.clone();
        }
    }
}

/// The simulated disk. Cloning shares it.
#[derive(Clone, Default)]
pub struct MemStore {
    disk: Arc<Mutex<Disk>>,
}

/// One process's handle on a [`MemStore`].
pub struct MemLog {
    store: MemStore,
    poisoned: AtomicBool,
    failpoint: Mutex<Option<Failpoint>>,
}

/// splitmix64: a tiny, well-mixed generator so crashes depend on the seed alone.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl MemStore {
    /// An empty disk.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A fresh process handle (not poisoned, no failpoint).
    pub fn open(&self) -> MemLog {
        MemLog {
            store: self.clone(),
            poisoned: AtomicBool::new(false),
            failpoint: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        // A panic while holding the lock is a bug in this module; keep going so the
        // simulator can report the original panic rather than a poisoned mutex.
        self.disk.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Batches written but not synced, as (tenant, first_seq).
    pub fn unsynced_batches(&self) -> Vec<(TenantId, u64)> {
        let disk = self.lock();
        let mut out = Vec::new();
        for (tenant, t) in &disk.tenants {
            for (first_seq, batch) in &t.batches {
                if !batch.synced {
                    out.push((tenant.clone(), *first_seq));
                }
            }
        }
        out
    }

    /// Simulates power loss. Every unsynced batch is lost and heads fall back to their
    /// synced state, except that, when the seed says so (half the time), the most
    /// recently written unsynced batch survives torn (truncated or one bit flipped)
    /// together with its head row: the worst case recovery must handle.
    pub fn crash(&self, seed: u64) -> CrashReport {
        let mut rng = seed;
        let mut disk = self.lock();
        let mut report = CrashReport::default();
        let last_unsynced = disk
            .tenants
            .iter()
            .flat_map(|(tenant, t)| {
                t.batches
                    .iter()
                    .filter(|(_, b)| !b.synced)
                    .map(move |(k, b)| (b.written_at, tenant.clone(), *k))
            })
            .max();
        let tear = !splitmix64(&mut rng).is_multiple_of(2);
        for (tenant, t) in disk.tenants.iter_mut() {
            let torn_key = match &last_unsynced {
                Some((_, torn_tenant, key)) if tear && torn_tenant == tenant => Some(*key),
                _ => None,
            };
            let lost: Vec<u64> = t
                .batches
                .iter()
                .filter(|(k, b)| !b.synced && Some(**k) != torn_key)
                .map(|(k, _)| *k)
                .collect();
            for key in lost {
                t.batches.remove(&key);
                report.dropped.push((tenant.clone(), key));
            }
            match torn_key {
                Some(key) => {
                    let batch = t.batches.get_mut(&key).expect("torn batch exists");
                    let len = batch.blob.len();
                    let how = if splitmix64(&mut rng).is_multiple_of(2) {
                        let bytes_kept = (splitmix64(&mut rng) % len as u64) as usize;
                        batch.blob.truncate(bytes_kept);
                        Tear::Truncated { bytes_kept }
                    } else {
                        let byte = (splitmix64(&mut rng) % len as u64) as usize;
                        let bit = (splitmix64(&mut rng) % 8) as u8;
                        batch.blob[byte] ^= 1 << bit;
                        Tear::BitFlipped { byte, bit }
                    };
                    batch.synced = true;
                    batch.written_at = 0;
                    t.synced_head = t.head.clone();
                    report.torn = Some((tenant.clone(), key, how));
                }
                None => t.head = t.synced_head.clone(),
            }
        }
        report
    }

    /// Flips one bit of a stored batch, as bit rot would (for tests).
    pub fn flip_bit(&self, tenant: &TenantId, first_seq: u64, byte: usize, bit: u8) {
        let mut disk = self.lock();
        let batch = disk
            .tenants
            .get_mut(tenant)
            .and_then(|t| t.batches.get_mut(&first_seq))
            .expect("batch exists");
        batch.blob[byte] ^= 1 << bit;
    }

    /// Number of quarantined batches of a tenant.
    pub fn quarantined_count(&self, tenant: &TenantId) -> usize {
        self.lock()
            .tenants
            .get(tenant)
            .map_or(0, |t| t.quarantine.len())
    }
}

impl MemLog {
    /// Makes the next append of this handle fail with `Io` (and poison the handle).
    pub fn fail_next_append(&self, failpoint: Failpoint) {
        *self.failpoint.lock().unwrap_or_else(|e| e.into_inner()) = Some(failpoint);
    }

    /// Whether an earlier write failure has poisoned this handle.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    fn check_poison(&self) -> Result<(), LogError> {
        if self.is_poisoned() {
            Err(LogError::Poisoned)
        } else {
            Ok(())
        }
    }

    fn fence(lease: &Lease, head: Option<&Head>, expected_last_seq: u64) -> LogError {
        let fence = match head {
            None => Fence::NoHead,
            Some(h) if h.epoch != lease.epoch => Fence::StaleEpoch {
                lease_epoch: lease.epoch,
                current_epoch: h.epoch,
            },
            Some(h) => Fence::SeqConflict {
                expected_last_seq,
                current_last_seq: h.last_seq,
            },
        };
        LogError::Fenced {
            tenant: lease.tenant.clone(),
            fence,
        }
    }

    fn injected(&self, failpoint: Failpoint) -> LogError {
        self.poisoned.store(true, Ordering::Release);
        LogError::Io(std::io::Error::other(format!(
            "injected failure: {failpoint:?}"
        )))
    }
}

impl Backend for MemLog {
    async fn acquire(&self, tenant: &TenantId) -> Result<Lease, LogError> {
        self.check_poison()?;
        let mut disk = self.store.lock();
        let t = disk.tenants.entry(tenant.clone()).or_insert_with(|| {
            let head = Head {
                epoch: 0,
                last_seq: 0,
                last_hash: genesis_hash,
            };
            TenantDisk {
                head: head.clone(),
                synced_head: head,
                batches: BTreeMap::new(),
                quarantine: Vec::new(),
                snapshots: Vec::new(),
            }
        });
        t.head.epoch += 1;
        let head = t.head.clone();
        disk.sync_all();
        Ok(Lease {
            tenant: tenant.clone(),
            epoch: head.epoch,
            last_seq: head.last_seq,
            last_hash: head.last_hash,
        })
    }

    async fn append(&self, lease: &Lease, batch: &[Record]) -> Result<(), LogError> {
        self.check_poison()?;
        assert_batch_sealed_by(lease, batch);
        let failpoint = self
            .failpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if failpoint == Some(Failpoint::WriteFails) {
            return Err(self.injected(Failpoint::WriteFails));
        }
        let mut disk = self.store.lock();
        disk.writes_count += 1;
        let written_at = disk.writes_count;
        let (first, last) = (&batch[0], &batch[batch.len() - 1]);
        let expected_last_seq = first.seq - 1;
        let t = disk.tenants.get_mut(&lease.tenant);
        let head = t.as_ref().map(|t| t.head.clone());
        let Some(t) =
            t.filter(|t| t.head.epoch == lease.epoch && t.head.last_seq == expected_last_seq)
        else {
            return Err(Self::fence(lease, head.as_ref(), expected_last_seq));
        };
        let chain = Chain::resume(lease.tenant.clone(), 0, t.head.last_seq, t.head.last_hash);
        if let Err(corruption) = chain.verify_next(first) {
            return Err(LogError::Corrupt {
                tenant: lease.tenant.clone(),
                corruption,
            });
        }
        assert!(
            !t.batches.contains_key(&first.seq),
            "primary key (tenant, first_seq) violated"
        );
        let fsync_fails = failpoint == Some(Failpoint::FsyncFails);
        t.batches.insert(
            first.seq,
            MemBatch {
                last_seq: last.seq,
                epoch: lease.epoch,
                blob: encode_batch(batch),
                written_at,
                synced: false,
            },
        );
        t.head.last_seq = last.seq;
        t.head.last_hash = last.hash;
        if fsync_fails {
            return Err(self.injected(Failpoint::FsyncFails));
        }
        disk.sync_all();
        Ok(())
    }

    async fn head(&self, tenant: &TenantId) -> Result<Option<Head>, LogError> {
        self.check_poison()?;
        Ok(self
            .store
            .lock()
            .tenants
            .get(tenant)
            .map(|t| t.head.clone()))
    }

    async fn read_batches(
        &self,
        tenant: &TenantId,
        from_seq: u64,
        batches_max: usize,
    ) -> Result<Vec<StoredBatch>, LogError> {
        self.check_poison()?;
        let disk = self.store.lock();
        let Some(t) = disk.tenants.get(tenant) else {
            return Ok(Vec::new());
        };
        let start = t
            .batches
            .range(..=from_seq)
            .next_back()
            .map_or(0, |(k, _)| *k);
        Ok(t.batches
            .range(start..)
            .filter(|(_, b)| b.last_seq >= from_seq)
            .take(batches_max)
            .map(|(k, b)| StoredBatch {
                first_seq: *k,
                last_seq: b.last_seq,
                epoch: b.epoch,
                blob: b.blob.clone(),
            })
            .collect())
    }

    async fn quarantine(
        &self,
        lease: &Lease,
        from_first_seq: u64,
        reason: &str,
        last_seq: u64,
        last_hash: [u8; 32],
    ) -> Result<u64, LogError> {
        self.check_poison()?;
        let mut disk = self.store.lock();
        let t = disk.tenants.get_mut(&lease.tenant);
        let head = t.as_ref().map(|t| t.head.clone());
        let Some(t) = t.filter(|t| t.head.epoch == lease.epoch) else {
            return Err(Self::fence(lease, head.as_ref(), last_seq));
        };
        let moved = t.batches.split_off(&from_first_seq);
        let count = moved.len() as u64;
        for (key, batch) in moved {
            t.quarantine.push((key, batch, reason.to_owned()));
        }
        t.head.last_seq = last_seq;
        t.head.last_hash = last_hash;
        disk.sync_all();
        Ok(count)
    }

    async fn put_snapshot(
        &self,
        lease: &Lease,
        seq: u64,
        hash: [u8; 32],
        bytes: &[u8],
    ) -> Result<(), LogError> {
        self.check_poison()?;
        assert!(
            bytes.len() <= snapshot_bytes_max,
            "snapshot of {} bytes exceeds the limit",
            bytes.len()
        );
        let mut disk = self.store.lock();
        let t = disk.tenants.get_mut(&lease.tenant);
        let head = t.as_ref().map(|t| t.head.clone());
        let Some(t) = t.filter(|t| t.head.epoch == lease.epoch && seq <= t.head.last_seq) else {
            return Err(Self::fence(lease, head.as_ref(), seq));
        };
        let crc = i64::from(snapshot_crc(seq, &hash, bytes));
        t.snapshots.retain(|(s, _)| s.seq != seq);
        t.snapshots.push((
            Snapshot {
                seq,
                hash,
                bytes: bytes.to_vec(),
            },
            crc,
        ));
        t.snapshots.sort_by_key(|(s, _)| s.seq);
        let excess = t.snapshots.len().saturating_sub(snapshots_kept_count);
        t.snapshots.drain(..excess);
        disk.sync_all();
        Ok(())
    }

    async fn latest_snapshot(&self, tenant: &TenantId) -> Result<Option<Snapshot>, LogError> {
        self.check_poison()?;
        let disk = self.store.lock();
        let Some(t) = disk.tenants.get(tenant) else {
            return Ok(None);
        };
        pick_intact_snapshot(tenant, t.snapshots.iter().rev().cloned())
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, LogError> {
        self.check_poison()?;
        Ok(self.store.lock().tenants.keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn tenant() -> TenantId {
        TenantId::new("stream-1").unwrap()
    }

    #[test]
    fn splitmix_is_a_pure_function_of_the_seed() {
        let (mut a, mut b) = (42, 42);
        let xs: Vec<u64> = (0..4).map(|_| splitmix64(&mut a)).collect();
        let ys: Vec<u64> = (0..4).map(|_| splitmix64(&mut b)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
    }

    #[test]
    fn the_same_seed_tears_the_same_way() {
        let run = |seed| {
            block_on(async {
                let store = MemStore::new();
                let log = store.open();
                let lease = log.acquire(&tenant()).await.unwrap();
                let mut chain = lease.chain();
                let batch: Vec<Record> = (0..5u8).map(|i| chain.seal(vec![i; 10])).collect();
                log.fail_next_append(Failpoint::FsyncFails);
                assert!(log.append(&lease, &batch).await.is_err());
                store.crash(seed)
            })
        };
        for seed in 0..8 {
            assert_eq!(run(seed), run(seed));
        }
        assert!((0..32).any(|seed| run(seed).torn.is_some()));
        assert!((0..32).any(|seed| run(seed).torn.is_none()));
    }
}
