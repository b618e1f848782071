//! The durable, hash-chained, fenced command log of sturmfest.
//!
//! The log knows nothing of tickets: a record's payload is opaque bytes. Each tenant
//! has one chain of records; records are written in batches (one batch = one group
//! commit = one row = one fsync) by the single writer holding the tenant's lease.
//! See `PROTOCOL.md` next to this crate for the commit and recovery protocol.
//!
//! Backends: [`sqlite::SqliteLog`] (the default store) and [`mem::MemLog`] (the
//! fault-injecting store of the deterministic simulator). Both implement [`Backend`].

// Limits are named like values with their unit last (`batch_records_max`), in the
// TigerBeetle style the project follows, so they are lowercase on purpose.
#![allow(non_upper_case_globals)]

pub mod mem;
pub mod record;
pub mod recover;
pub mod sqlite;

use std::future::Future;

pub use record::{
    Chain, Corruption, InvalidTenantId, Record, TenantId, batch_bytes_max, batch_records_max,
    genesis_hash, record_frame_overhead_bytes, record_payload_bytes_max,
};
pub use recover::{RecoveryReport, Repair, TornTail, VerifyReport, recover, verify};

/// Largest snapshot a tenant may store.
pub const snapshot_bytes_max: usize = 1024 * 1024 * 1024;
/// Snapshots kept per tenant: the newest plus one fallback in case the newest is bad.
pub const snapshots_kept_count: usize = 2;
/// Batches fetched per page when reading the log; bounds memory during replay.
pub const read_page_batches_max: usize = 64;

/// The right to append to one tenant's log, valid until someone acquires a newer epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub tenant: TenantId,
    pub epoch: u64,
    /// Head of the log when the lease was taken (before any recovery repair).
    pub last_seq: u64,
    pub last_hash: [u8; 32],
}

impl Lease {
    /// A chain that seals records under this lease, continuing after `last_seq`.
    pub fn chain(&self) -> Chain {
        Chain::resume(
            self.tenant.clone(),
            self.epoch,
            self.last_seq,
            self.last_hash,
        )
    }
}

/// A tenant's `heads` row: the commit point of its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub epoch: u64,
    pub last_seq: u64,
    pub last_hash: [u8; 32],
}

/// A stored snapshot of a tenant's state after record `seq`, whose hash is `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub seq: u64,
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
}

/// One `batches` row as stored: key columns plus the undecoded blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    pub first_seq: u64,
    pub last_seq: u64,
    pub epoch: u64,
    pub blob: Vec<u8>,
}

impl StoredBatch {
    /// Decodes the blob (version, framing, CRC, seqs) and checks it agrees with the
    /// row's key columns. Chain links are checked by the caller.
    pub fn decode(&self) -> Result<Vec<Record>, Corruption> {
        let records = record::decode_batch(&self.blob)?;
        let (first, last) = (&records[0], &records[records.len() - 1]);
        if first.seq != self.first_seq || last.seq != self.last_seq || first.epoch != self.epoch {
            return Err(Corruption::RowMismatch {
                row_first: self.first_seq,
                row_last: self.last_seq,
                row_epoch: self.epoch,
                first: first.seq,
                last: last.seq,
                epoch: first.epoch,
            });
        }
        Ok(records)
    }
}

/// Why an append (or another lease-bound write) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fence {
    /// Someone acquired a newer epoch; this writer must stop.
    StaleEpoch {
        lease_epoch: u64,
        current_epoch: u64,
    },
    /// The epoch matches but the batch does not start right after the stored head.
    SeqConflict {
        expected_last_seq: u64,
        current_last_seq: u64,
    },
    /// The tenant has no head row: nobody ever acquired it.
    NoHead,
}

/// Every way a log operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("tenant {tenant}: append fenced: {fence:?}")]
    Fenced { tenant: TenantId, fence: Fence },
    /// The store failed. If this came from a write, the handle is now poisoned.
    #[error("log i/o error: {0}")]
    Io(#[source] std::io::Error),
    /// An earlier write failed; this handle refuses all further work. Reopen the store
    /// (which recovers from what is really on disk) instead of retrying.
    #[error("log handle poisoned by an earlier i/o error")]
    Poisoned,
    #[error("tenant {tenant}: corrupt log: {corruption}")]
    Corrupt {
        tenant: TenantId,
        corruption: Corruption,
    },
    /// Recovery from a snapshot found the log shorter than, or diverging before, the
    /// snapshot. Repairing would drop records the snapshot already reflects.
    #[error("tenant {tenant}: snapshot at seq {snapshot_seq} does not match the log: {reason}")]
    SnapshotMismatch {
        tenant: TenantId,
        snapshot_seq: u64,
        reason: String,
    },
    #[error("stored tenant id is invalid: {0}")]
    InvalidTenant(#[from] InvalidTenantId),
}

impl From<sqlx::Error> for LogError {
    fn from(e: sqlx::Error) -> LogError {
        LogError::Io(std::io::Error::other(e))
    }
}

/// A durable log store. Implementations must make every method atomic; `append` must
/// be durable before it returns `Ok`.
///
/// Methods return `Send` futures so that a runtime can hold a backend by generic type
/// and drive it from spawned tasks; no `dyn` is needed.
pub trait Backend: Send + Sync {
    /// Takes the writer lease for `tenant` by bumping its epoch (creating the head at
    /// epoch 1 if new). Every holder of an older epoch is fenced from then on.
    fn acquire(&self, tenant: &TenantId) -> impl Future<Output = Result<Lease, LogError>> + Send;

    /// Appends one batch in one durable transaction, if `lease` is still current and
    /// the batch starts right after the stored head. The batch must be well formed
    /// and sealed under `lease.epoch` (asserted: a malformed batch is a bug).
    fn append(
        &self,
        lease: &Lease,
        batch: &[Record],
    ) -> impl Future<Output = Result<(), LogError>> + Send;

    /// The tenant's head row, if the tenant exists.
    fn head(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<Head>, LogError>> + Send;

    /// Up to `batches_max` stored batches whose `last_seq >= from_seq`, in seq order.
    /// Page on with `from_seq = last page's last_seq + 1`.
    fn read_batches(
        &self,
        tenant: &TenantId,
        from_seq: u64,
        batches_max: usize,
    ) -> impl Future<Output = Result<Vec<StoredBatch>, LogError>> + Send;

    /// Moves every batch of the lease's tenant whose `first_seq >= from_first_seq`
    /// into quarantine (never deleting them) and resets the head to
    /// (`last_seq`, `last_hash`), in one transaction fenced by the lease epoch.
    /// Returns how many batches moved.
    fn quarantine(
        &self,
        lease: &Lease,
        from_first_seq: u64,
        reason: &str,
        last_seq: u64,
        last_hash: [u8; 32],
    ) -> impl Future<Output = Result<u64, LogError>> + Send;

    /// Stores a snapshot taken after record `seq` (hash `hash`), fenced by the lease,
    /// keeping the newest [`snapshots_kept_count`].
    fn put_snapshot(
        &self,
        lease: &Lease,
        seq: u64,
        hash: [u8; 32],
        bytes: &[u8],
    ) -> impl Future<Output = Result<(), LogError>> + Send;

    /// The newest snapshot whose CRC checks; an older one if the newest is damaged.
    /// Errors if snapshots exist but none is intact.
    fn latest_snapshot(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<Snapshot>, LogError>> + Send;

    /// Every tenant with a head row, sorted.
    fn tenants(&self) -> impl Future<Output = Result<Vec<TenantId>, LogError>> + Send;
}

/// The pair assertion before writing: a batch handed to `append` must be well formed
/// and sealed under the lease's epoch. Violations are programmer errors, so they panic.
pub(crate) fn assert_batch_sealed_by(lease: &Lease, batch: &[Record]) {
    if let Err(e) = record::check_batch_shape(batch, lease.epoch) {
        panic!("append of a malformed batch for {}: {e}", lease.tenant);
    }
    if let Err(e) = record::check_batch_links(&lease.tenant, batch) {
        panic!("append of an unlinked batch for {}: {e}", lease.tenant);
    }
}

/// CRC stored next to snapshot bytes.
pub(crate) fn snapshot_crc(seq: u64, hash: &[u8; 32], bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(hash);
    h.update(bytes);
    h.finalize()
}
