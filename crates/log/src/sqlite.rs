//! The default store: one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! All writes go through one connection, so they are serialized and each `append` is
//! one `BEGIN IMMEDIATE … COMMIT` with one WAL fsync. Reads use a small separate pool
//! so replay and verification never wait behind the writer (WAL lets readers run
//! beside it). Queries are runtime `sqlx::query` calls on a schema created at open.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use crate::record::{Chain, encode_batch};
use crate::{
    Backend, Fence, Head, Lease, LogError, Record, Snapshot, StoredBatch, TenantId,
    assert_batch_sealed_by, genesis_hash, snapshot_bytes_max, snapshot_crc, snapshots_kept_count,
};

/// How long a statement waits for a lock held by another process before failing.
pub const busy_timeout_ms: u64 = 5_000;
/// Reader connections; replay is sequential, so a couple suffice.
pub const read_connections_max: u32 = 2;

const schema: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS heads (
        tenant TEXT PRIMARY KEY NOT NULL,
        epoch INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        last_hash BLOB NOT NULL
    )",
    // A rowid table (not WITHOUT ROWID): blobs are large, and SQLite advises rowid
    // tables for rows bigger than a fraction of a page.
    "CREATE TABLE IF NOT EXISTS batches (
        tenant TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        blob BLOB NOT NULL,
        PRIMARY KEY (tenant, first_seq)
    )",
    "CREATE TABLE IF NOT EXISTS quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        blob BLOB NOT NULL,
        reason TEXT NOT NULL,
        by_epoch INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS snapshots (
        tenant TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hash BLOB NOT NULL,
        crc32 INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (tenant, seq)
    )",
];

/// A handle on one SQLite log file.
pub struct SqliteLog {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Set by the first failed write; from then on every call returns `Poisoned`.
    poisoned: AtomicBool,
}

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_millis(busy_timeout_ms))
}

fn to_sql(n: u64) -> i64 {
    i64::try_from(n).expect("seqs and epochs stay below 2^63")
}

fn from_sql(n: i64) -> u64 {
    // Stored integers are written by this code from u64 values below 2^63; a negative
    // value means the file was edited by hand, and wrapping makes it an absurd seq
    // that the chain check rejects.
    n as u64
}

fn hash_from_sql(bytes: &[u8]) -> [u8; 32] {
    let mut hash = [0u8; 32];
    // A wrong-sized hash (hand edit) is zero-padded or cut; the chain check then fails.
    let n = bytes.len().min(32);
    hash[..n].copy_from_slice(&bytes[..n]);
    hash
}

impl SqliteLog {
    /// Opens (creating if needed) the log at `path` and creates the schema.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteLog, LogError> {
        let path = path.as_ref();
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options(path))
            .await?;
        for statement in schema {
            sqlx::query(*statement).execute(&writer).await?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(read_connections_max)
            .connect_with(options(path).create_if_missing(false))
            .await?;
        Ok(SqliteLog {
            writer,
            reader,
            poisoned: AtomicBool::new(false),
        })
    }

    /// Closes both pools, waiting for in-flight statements.
    pub async fn close(self) {
        self.writer.close().await;
        self.reader.close().await;
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

    /// Runs a write; any error from the store poisons the handle.
    ///
    /// Why poison instead of retry: when fsync fails, Linux may already have dropped
    /// the dirty pages and marked them clean, so a retried fsync "succeeds" while the
    /// data is gone (PostgreSQL's 2018 "fsyncgate"). The only safe answer is to stop
    /// this writer, never acknowledge, and let a fresh process recover from what the
    /// disk really holds. We poison on any store error inside a write transaction, not
    /// only on fsync, because SQLite does not tell us reliably which one it was.
    fn poison_on_error<T>(&self, result: Result<T, sqlx::Error>) -> Result<T, LogError> {
        result.map_err(|e| {
            self.poisoned.store(true, Ordering::Release);
            tracing::error!(error = %e, "sqlite log write failed; handle poisoned");
            LogError::from(e)
        })
    }

    async fn read_head(
        conn: &mut SqliteConnection,
        tenant: &TenantId,
    ) -> Result<Option<Head>, sqlx::Error> {
        let row = sqlx::query("SELECT epoch, last_seq, last_hash FROM heads WHERE tenant = ?")
            .bind(tenant.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        Ok(row.map(|row| Head {
            epoch: from_sql(row.get(0)),
            last_seq: from_sql(row.get(1)),
            last_hash: hash_from_sql(row.get::<&[u8], _>(2)),
        }))
    }

    fn fence_for(lease: &Lease, head: Option<&Head>, expected_last_seq: u64) -> LogError {
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

    async fn append_tx(
        &self,
        lease: &Lease,
        batch: &[Record],
        blob: Vec<u8>,
    ) -> Result<Result<(), LogError>, sqlx::Error> {
        let first = &batch[0];
        let last = &batch[batch.len() - 1];
        let expected_last_seq = first.seq - 1;
        // BEGIN IMMEDIATE takes SQLite's write lock up front, so the transaction can
        // never fail half-way with SQLITE_BUSY on lock upgrade.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let head = Self::read_head(&mut tx, &lease.tenant).await?;
        let head = match head {
            Some(h) if h.epoch == lease.epoch && h.last_seq == expected_last_seq => h,
            other => {
                tx.rollback().await?;
                return Ok(Err(Self::fence_for(
                    lease,
                    other.as_ref(),
                    expected_last_seq,
                )));
            }
        };
        // Pair assertion, write side: the batch must continue the stored chain. The
        // head comes from disk, so a mismatch is reported, not asserted.
        let chain = Chain::resume(lease.tenant.clone(), 0, head.last_seq, head.last_hash);
        if let Err(corruption) = chain.verify_next(first) {
            tx.rollback().await?;
            return Ok(Err(LogError::Corrupt {
                tenant: lease.tenant.clone(),
                corruption,
            }));
        }
        // The fence. The SELECT above is only a fast path for a precise error; this
        // conditional UPDATE is what decides. It is safe without SERIALIZABLE or
        // advisory locks: the UPDATE takes the row lock (SQLite: the database write
        // lock; PostgreSQL under READ COMMITTED: the row lock). A racing `acquire` or
        // `append` on the same row blocks until we commit, then PostgreSQL re-checks
        // its WHERE against the new row version and changes 0 rows. So of two writers,
        // at most one moves the head from (epoch, last_seq) and the other is fenced;
        // the PRIMARY KEY (tenant, first_seq) on `batches` is a second line of defence.
        let updated = sqlx::query(
            "UPDATE heads SET last_seq = ?, last_hash = ?
             WHERE tenant = ? AND epoch = ? AND last_seq = ? AND last_hash = ?",
        )
        .bind(to_sql(last.seq))
        .bind(&last.hash[..])
        .bind(lease.tenant.as_str())
        .bind(to_sql(lease.epoch))
        .bind(to_sql(expected_last_seq))
        .bind(&head.last_hash[..])
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            let head = Self::read_head(&mut tx, &lease.tenant).await?;
            tx.rollback().await?;
            return Ok(Err(Self::fence_for(
                lease,
                head.as_ref(),
                expected_last_seq,
            )));
        }
        sqlx::query(
            "INSERT INTO batches (tenant, first_seq, last_seq, epoch, blob) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(lease.tenant.as_str())
        .bind(to_sql(first.seq))
        .bind(to_sql(last.seq))
        .bind(to_sql(lease.epoch))
        .bind(blob)
        .execute(&mut *tx)
        .await?;
        // With synchronous=FULL in WAL mode, COMMIT returns only after the WAL is
        // fsynced: this is the one fsync of the group commit.
        tx.commit().await?;
        Ok(Ok(()))
    }
}

impl Backend for SqliteLog {
    async fn acquire(&self, tenant: &TenantId) -> Result<Lease, LogError> {
        self.check_poison()?;
        let row = sqlx::query(
            "INSERT INTO heads (tenant, epoch, last_seq, last_hash) VALUES (?, 1, 0, ?)
             ON CONFLICT (tenant) DO UPDATE SET epoch = epoch + 1
             RETURNING epoch, last_seq, last_hash",
        )
        .bind(tenant.as_str())
        .bind(&genesis_hash[..])
        .fetch_one(&self.writer)
        .await;
        let row = self.poison_on_error(row)?;
        Ok(Lease {
            tenant: tenant.clone(),
            epoch: from_sql(row.get(0)),
            last_seq: from_sql(row.get(1)),
            last_hash: hash_from_sql(row.get::<&[u8], _>(2)),
        })
    }

    async fn append(&self, lease: &Lease, batch: &[Record]) -> Result<(), LogError> {
        self.check_poison()?;
        assert_batch_sealed_by(lease, batch);
        let blob = encode_batch(batch);
        let result = self.append_tx(lease, batch, blob).await;
        self.poison_on_error(result)?
    }

    async fn head(&self, tenant: &TenantId) -> Result<Option<Head>, LogError> {
        self.check_poison()?;
        let mut conn = self.reader.acquire().await?;
        Ok(Self::read_head(&mut conn, tenant).await?)
    }

    async fn read_batches(
        &self,
        tenant: &TenantId,
        from_seq: u64,
        batches_max: usize,
    ) -> Result<Vec<StoredBatch>, LogError> {
        self.check_poison()?;
        // Keyset paging on the primary key: start at the batch containing `from_seq`
        // (the greatest first_seq <= from_seq) and walk forward by first_seq.
        let rows = sqlx::query(
            "SELECT first_seq, last_seq, epoch, blob FROM batches
             WHERE tenant = ? AND last_seq >= ? AND first_seq >= coalesce(
                 (SELECT max(first_seq) FROM batches WHERE tenant = ? AND first_seq <= ?), 0)
             ORDER BY first_seq LIMIT ?",
        )
        .bind(tenant.as_str())
        .bind(to_sql(from_seq))
        .bind(tenant.as_str())
        .bind(to_sql(from_seq))
        .bind(i64::try_from(batches_max).unwrap_or(i64::MAX))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| StoredBatch {
                first_seq: from_sql(row.get(0)),
                last_seq: from_sql(row.get(1)),
                epoch: from_sql(row.get(2)),
                blob: row.get(3),
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
        let result: Result<Result<u64, LogError>, sqlx::Error> = async {
            let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
            let updated = sqlx::query(
                "UPDATE heads SET last_seq = ?, last_hash = ? WHERE tenant = ? AND epoch = ?",
            )
            .bind(to_sql(last_seq))
            .bind(&last_hash[..])
            .bind(lease.tenant.as_str())
            .bind(to_sql(lease.epoch))
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                let head = Self::read_head(&mut tx, &lease.tenant).await?;
                tx.rollback().await?;
                return Ok(Err(Self::fence_for(lease, head.as_ref(), last_seq)));
            }
            sqlx::query(
                "INSERT INTO quarantine (tenant, first_seq, last_seq, epoch, blob, reason, by_epoch)
                 SELECT tenant, first_seq, last_seq, epoch, blob, ?, ? FROM batches
                 WHERE tenant = ? AND first_seq >= ? ORDER BY first_seq",
            )
            .bind(reason)
            .bind(to_sql(lease.epoch))
            .bind(lease.tenant.as_str())
            .bind(to_sql(from_first_seq))
            .execute(&mut *tx)
            .await?;
            let moved = sqlx::query("DELETE FROM batches WHERE tenant = ? AND first_seq >= ?")
                .bind(lease.tenant.as_str())
                .bind(to_sql(from_first_seq))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(Ok(moved))
        }
        .await;
        self.poison_on_error(result)?
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
        let crc = snapshot_crc(seq, &hash, bytes);
        let result: Result<Result<(), LogError>, sqlx::Error> = async {
            let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
            let head = Self::read_head(&mut tx, &lease.tenant).await?;
            // A snapshot must describe a prefix of the committed log, written by the
            // current writer; a stale writer's state may include unlogged commands.
            match &head {
                Some(h) if h.epoch == lease.epoch && seq <= h.last_seq => {}
                _ => {
                    tx.rollback().await?;
                    return Ok(Err(Self::fence_for(lease, head.as_ref(), seq)));
                }
            }
            sqlx::query("INSERT OR REPLACE INTO snapshots (tenant, seq, hash, crc32, bytes) VALUES (?, ?, ?, ?, ?)")
                .bind(lease.tenant.as_str())
                .bind(to_sql(seq))
                .bind(&hash[..])
                .bind(i64::from(crc))
                .bind(bytes)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "DELETE FROM snapshots WHERE tenant = ? AND seq NOT IN
                 (SELECT seq FROM snapshots WHERE tenant = ? ORDER BY seq DESC LIMIT ?)",
            )
            .bind(lease.tenant.as_str())
            .bind(lease.tenant.as_str())
            .bind(snapshots_kept_count as i64)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        }
        .await;
        self.poison_on_error(result)?
    }

    async fn latest_snapshot(&self, tenant: &TenantId) -> Result<Option<Snapshot>, LogError> {
        self.check_poison()?;
        let rows = sqlx::query(
            "SELECT seq, hash, crc32, bytes FROM snapshots WHERE tenant = ? ORDER BY seq DESC",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.reader)
        .await?;
        let candidates = rows.into_iter().map(|row| {
            let snapshot = Snapshot {
                seq: from_sql(row.get(0)),
                hash: hash_from_sql(row.get::<&[u8], _>(1)),
                bytes: row.get(3),
            };
            (snapshot, row.get::<i64, _>(2))
        });
        pick_intact_snapshot(tenant, candidates)
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, LogError> {
        self.check_poison()?;
        let rows = sqlx::query("SELECT tenant FROM heads ORDER BY tenant")
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter()
            .map(|row| Ok(TenantId::new(row.get::<&str, _>(0))?))
            .collect()
    }
}

/// Newest first: returns the first snapshot whose CRC checks, warning about damaged
/// newer ones; errors if there were snapshots but none is intact.
pub(crate) fn pick_intact_snapshot(
    tenant: &TenantId,
    newest_first: impl Iterator<Item = (Snapshot, i64)>,
) -> Result<Option<Snapshot>, LogError> {
    let mut damaged = None;
    for (snapshot, stored_crc) in newest_first {
        if i64::from(snapshot_crc(snapshot.seq, &snapshot.hash, &snapshot.bytes)) == stored_crc {
            return Ok(Some(snapshot));
        }
        tracing::warn!(%tenant, seq = snapshot.seq, "snapshot fails its crc; trying an older one");
        damaged.get_or_insert(snapshot.seq);
    }
    match damaged {
        None => Ok(None),
        Some(seq) => Err(LogError::Corrupt {
            tenant: tenant.clone(),
            corruption: crate::Corruption::SnapshotCrc { seq },
        }),
    }
}
