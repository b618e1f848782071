//! The runtime: one writer task per tenant shard, fed by a bounded inbox.
//!
//! The writer drains whatever has queued (up to `batch_commands_max`), stamps each
//! command with the time, applies it to the in-memory `Tenant`, seals the encoded
//! commands into one batch of log records and appends that batch in one durable
//! transaction (group commit: one fsync for the whole batch). Only then are the
//! replies sent and the reads of that batch answered, so nobody ever observes a
//! decision that is not yet durable. If the append fails the writer stops for good:
//! pending replies are dropped (callers see `ShardError::Stopped`), nothing that was
//! not flushed is acknowledged, and a restart recovers from what is on disk.
//!
//! A full inbox is answered at once with `ShardError::Overloaded` (HTTP 503 with
//! Retry-After) — never an unbounded buffer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sturmfest_core as core;
use sturmfest_log::recover::{Repair, recover};
use sturmfest_log::{Backend, Chain, Lease, LogError, Record, TenantId};
use tokio::sync::{mpsc, oneshot};

use crate::codec::{self, LogEntry, OutcomeSummary};
use crate::views::Views;

#[derive(Clone, Debug)]
pub struct ShardConfig {
    pub inbox_requests_max: usize,
    pub batch_commands_max: usize,
    /// A snapshot is written after this many records since the last one.
    pub snapshot_interval_records: u64,
    /// How often the writer checks whether holds fell due and sends a `Tick`.
    pub tick_interval_ms: u64,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig {
            inbox_requests_max: 16_384,
            batch_commands_max: 4_096,
            snapshot_interval_records: 250_000,
            tick_interval_ms: 1_000,
        }
    }
}

const _: () = assert!(4_096 <= sturmfest_log::batch_records_max);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("the tenant's inbox is full")]
    Overloaded,
    #[error("the tenant's writer has stopped")]
    Stopped,
    #[error("the command encodes to {bytes} bytes, more than one log record holds")]
    TooLarge { bytes: usize },
}

type ReadFn = Box<dyn FnOnce(&core::Tenant) + Send>;

enum Request {
    Apply {
        idempotency: Option<core::Idempotency>,
        command: core::Command,
        reply: oneshot::Sender<core::Outcome>,
    },
    Read(ReadFn),
}

/// A handle to one tenant's writer; cheap to clone.
#[derive(Clone)]
pub struct Shard {
    pub tenant: TenantId,
    inbox: mpsc::Sender<Request>,
    running: Arc<AtomicBool>,
    pub views: Arc<Views>,
}

/// What starting a shard found on disk.
#[derive(Debug, Clone)]
pub struct StartReport {
    pub epoch: u64,
    pub snapshot_seq: Option<u64>,
    pub records_replayed: u64,
    pub last_seq: u64,
    pub torn: Option<sturmfest_log::TornTail>,
}

impl Shard {
    /// Takes the tenant's lease, restores the latest snapshot, replays the log tail
    /// (quarantining a torn tail), checks every invariant and starts the writer.
    pub async fn start<B: Backend + 'static>(
        backend: Arc<B>,
        tenant_id: TenantId,
        config: ShardConfig,
    ) -> Result<(Shard, StartReport, tokio::task::JoinHandle<()>), StartError> {
        let (committer, start) = Committer::recover(backend, tenant_id.clone()).await?;
        let (inbox, rx) = mpsc::channel(config.inbox_requests_max);
        let running = Arc::new(AtomicBool::new(true));
        let views = Arc::new(Views::default());
        views.refresh(&committer.tenant);
        let writer = Writer {
            records_since_snapshot: start.records_replayed,
            committer,
            clock_ms: 0,
            views: views.clone(),
            running: running.clone(),
            config,
        };
        let task = tokio::spawn(writer.run(rx));
        Ok((Shard { tenant: tenant_id, inbox, running, views }, start, task))
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Applies one command durably; resolves once it is in the log.
    pub async fn execute(
        &self,
        idempotency: Option<core::Idempotency>,
        command: core::Command,
    ) -> Result<core::Outcome, ShardError> {
        // Only these commands carry unbounded lists (seat maps, price tables); a
        // command too large for one record must be refused here, never reach the
        // writer, where sealing it would stop the tenant.
        if matches!(command, core::Command::CreateVenue(_) | core::Command::CreateEvent(_)) {
            let bytes = codec::entry_bytes_bound(idempotency.as_ref(), &command);
            if bytes > sturmfest_log::record_payload_bytes_max {
                return Err(ShardError::TooLarge { bytes });
            }
        }
        let (reply, rx) = oneshot::channel();
        self.submit(Request::Apply { idempotency, command, reply })?;
        rx.await.map_err(|_| ShardError::Stopped)
    }

    /// Queues a command without waiting for its outcome. It is still applied in
    /// order: a later `read` or `execute` from anyone sees it. For follow-ups that
    /// must not cost the caller a second group commit.
    pub fn execute_detached(&self, command: core::Command) -> Result<(), ShardError> {
        let (reply, _) = oneshot::channel();
        self.submit(Request::Apply { idempotency: None, command, reply })
    }

    /// Runs `f` on the tenant state in order with the commands: it sees every command
    /// submitted before it, and only once they are durable.
    pub async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&core::Tenant) -> R + Send + 'static,
    ) -> Result<R, ShardError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Request::Read(Box::new(move |tenant| {
            let _ = tx.send(f(tenant));
        })))?;
        rx.await.map_err(|_| ShardError::Stopped)
    }

    fn submit(&self, request: Request) -> Result<(), ShardError> {
        if !self.is_running() {
            return Err(ShardError::Stopped);
        }
        self.inbox.try_send(request).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ShardError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => ShardError::Stopped,
        })
    }
}

/// Applies one replayed record and asserts it decides as it did the first time.
pub fn replay_one(tenant: &mut core::Tenant, record: &Record) -> Result<(), String> {
    let entry = codec::decode_entry(&record.payload)
        .map_err(|e| format!("record {} passed its checksum but does not decode: {e}", record.seq))?;
    let outcome = tenant.apply(&entry.envelope);
    let again = OutcomeSummary::of(&outcome);
    if again != entry.outcome {
        return Err(format!(
            "record {} replayed to {:?} but was logged as {:?}: the core is not deterministic",
            record.seq, again, entry.outcome
        ));
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("snapshot unusable: {0}")]
    Snapshot(String),
    #[error("replay failed: {0}")]
    Replay(String),
}

/// The commit protocol, free of tasks and clocks so the deterministic simulator
/// drives exactly the code the server runs: apply a batch to the core, seal it into
/// the chain, append it in one transaction, and only then hand out the outcomes.
pub struct Committer<B> {
    pub backend: Arc<B>,
    pub lease: Lease,
    pub chain: Chain,
    pub tenant: core::Tenant,
}

impl<B: Backend> Committer<B> {
    /// Takes the tenant's lease (fencing any older writer), restores the latest
    /// snapshot, replays the log tail (quarantining a torn tail) asserting every
    /// record decides as logged, and checks every invariant.
    pub async fn recover(backend: Arc<B>, tenant_id: TenantId) -> Result<(Committer<B>, StartReport), StartError> {
        let lease = backend.acquire(&tenant_id).await?;
        let (mut tenant, snapshot) = match backend.latest_snapshot(&tenant_id).await? {
            Some(snapshot) => {
                let parts = codec::decode_snapshot(&snapshot.bytes).map_err(|e| StartError::Snapshot(e.to_string()))?;
                let tenant = core::Tenant::restore(parts).map_err(StartError::Snapshot)?;
                (tenant, Some((snapshot.seq, snapshot.hash)))
            }
            None => (core::Tenant::new(), None),
        };
        let mut replay_error = None;
        let report = recover(&*backend, &tenant_id, snapshot, Repair::Quarantine(&lease), |record: &Record| {
            if replay_error.is_none() {
                if let Err(why) = replay_one(&mut tenant, record) {
                    replay_error = Some(why);
                }
            }
        })
        .await?;
        if let Some(why) = replay_error {
            return Err(StartError::Replay(why));
        }
        tenant.check_invariants();
        let chain = Chain::resume(tenant_id, lease.epoch, report.last_seq, report.last_hash);
        let start = StartReport {
            epoch: lease.epoch,
            snapshot_seq: snapshot.map(|s| s.0),
            records_replayed: report.records_replayed,
            last_seq: report.last_seq,
            torn: report.torn,
        };
        Ok((Committer { backend, lease, chain, tenant }, start))
    }

    /// Applies and durably appends one batch. `Ok` carries the outcomes in order —
    /// they may be acknowledged now. On `Err` nothing of the batch may be
    /// acknowledged and this committer must not be used again (its in-memory state
    /// is ahead of the log); recover a new one from the store.
    pub async fn commit(&mut self, batch: Vec<core::Envelope>) -> Result<Vec<core::Outcome>, LogError> {
        let mut records = Vec::with_capacity(batch.len());
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut bytes = 1;
        for envelope in batch {
            let outcome = self.tenant.apply(&envelope);
            let entry = LogEntry { outcome: OutcomeSummary::of(&outcome), envelope };
            let record = self.chain.seal(codec::encode_entry(&entry));
            let record_bytes = sturmfest_log::record_frame_overhead_bytes + record.payload.len();
            // A few seat maps in one batch could outgrow one batch row: append what
            // fits first. Nothing is acknowledged before the last append returned.
            if bytes + record_bytes > sturmfest_log::batch_bytes_max {
                self.backend.append(&self.lease, &records).await?;
                records.clear();
                bytes = 1;
            }
            bytes += record_bytes;
            records.push(record);
            outcomes.push(outcome);
        }
        if !records.is_empty() {
            self.backend.append(&self.lease, &records).await?;
        }
        Ok(outcomes)
    }

    /// Seq of the last record in the log (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.chain.last_seq()
    }

    /// Stores a snapshot of the state after the last committed record.
    pub async fn snapshot(&self) -> Result<usize, LogError> {
        let bytes = codec::encode_snapshot(&self.tenant.parts());
        self.backend.put_snapshot(&self.lease, self.chain.last_seq(), self.chain.last_hash, &bytes).await?;
        Ok(bytes.len())
    }
}

struct Writer<B> {
    committer: Committer<B>,
    records_since_snapshot: u64,
    clock_ms: i64,
    views: Arc<Views>,
    running: Arc<AtomicBool>,
    config: ShardConfig,
}

impl<B: Backend + 'static> Writer<B> {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let mut ticker = tokio::time::interval(Duration::from_millis(self.config.tick_interval_ms));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(self.config.batch_commands_max);
        loop {
            tokio::select! {
                first = rx.recv() => match first {
                    Some(request) => batch.push(request),
                    None => break,
                },
                _ = ticker.tick() => {
                    let due = self.committer.tenant.next_expiry().is_some_and(|at| at.0 <= wall_clock_ms());
                    if !due {
                        continue;
                    }
                    let (reply, _) = oneshot::channel();
                    batch.push(Request::Apply { idempotency: None, command: core::Command::Tick, reply });
                }
            }
            while batch.len() < self.config.batch_commands_max {
                match rx.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            if let Err(e) = self.commit(&mut batch).await {
                tracing::error!(tenant = %self.committer.lease.tenant, error = %e, "log append failed; writer stops and acknowledges nothing more");
                self.running.store(false, Ordering::Release);
                // Dropping the batch drops every reply sender unanswered.
                batch.clear();
                rx.close();
                while rx.try_recv().is_ok() {}
                return;
            }
        }
        self.running.store(false, Ordering::Release);
        if self.records_since_snapshot > 0 {
            self.snapshot().await;
        }
    }

    async fn commit(&mut self, batch: &mut Vec<Request>) -> Result<(), LogError> {
        let mut envelopes = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let mut reads = Vec::new();
        for request in batch.drain(..) {
            match request {
                Request::Apply { idempotency, command, reply } => {
                    self.clock_ms = self.clock_ms.max(wall_clock_ms());
                    envelopes.push(core::Envelope { time: core::TimeMs(self.clock_ms), idempotency, command });
                    replies.push(reply);
                }
                Request::Read(f) => reads.push(f),
            }
        }
        let count = envelopes.len() as u64;
        let outcomes = self.committer.commit(envelopes).await?;
        self.records_since_snapshot += count;
        // Views first, so a client that got its reply also sees its write in a poll.
        self.views.refresh(&self.committer.tenant);
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
        for read in reads {
            read(&self.committer.tenant);
        }
        if self.records_since_snapshot >= self.config.snapshot_interval_records {
            self.snapshot().await;
        }
        Ok(())
    }

    async fn snapshot(&mut self) {
        match self.committer.snapshot().await {
            Ok(bytes) => {
                self.records_since_snapshot = 0;
                tracing::info!(tenant = %self.committer.lease.tenant, seq = self.committer.chain.last_seq(), bytes, "snapshot written");
            }
            Err(e) => tracing::warn!(tenant = %self.committer.lease.tenant, error = %e, "snapshot failed"),
        }
    }
}

/// The only clock read in the system's decision path: here, at the edge of the
/// core, stamped into the command so replay sees the same time.
pub fn wall_clock_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
