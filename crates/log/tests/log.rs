//! Integration tests of the log through its public API.
//!
//! The SQLite tests each open a fresh file in a temp dir and drive the real store:
//! appends and paged reads, fencing of stale writers and of misplaced batches, a
//! corrupted blob written with raw SQL that recovery must detect, quarantine and step
//! past, and snapshots with their CRC. The mem-store tests drive the fault-injecting
//! store: crashes drop exactly the unsynced batches, an I/O error poisons a handle for
//! good, and over many seeds a crash-and-recover cycle never loses an acknowledged
//! record and always leaves a log that verifies.

use futures::executor::block_on;
use sqlx::Row;
use sturmfest_log::mem::{Failpoint, MemLog, MemStore};
use sturmfest_log::sqlite::SqliteLog;
use sturmfest_log::{
    Backend, Chain, Fence, LogError, Record, Repair, TenantId, genesis_hash, recover, verify,
};

fn tenant(slug: &str) -> TenantId {
    TenantId::new(slug).unwrap()
}

fn seal(chain: &mut Chain, count: usize, tag: u8) -> Vec<Record> {
    (0..count)
        .map(|i| chain.seal(vec![tag, (i % 251) as u8, 0xAB]))
        .collect()
}

async fn open_temp() -> (tempfile::TempDir, SqliteLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteLog::open(dir.path().join("log.db")).await.unwrap();
    (dir, log)
}

async fn raw_pool(dir: &tempfile::TempDir) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("log.db"));
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap()
}

async fn replay_all<B: Backend>(log: &B, t: &TenantId) -> Vec<Record> {
    let mut seen = Vec::new();
    let report = recover(log, t, None, Repair::ReportOnly, |r| seen.push(r.clone()))
        .await
        .unwrap();
    assert_eq!(report.torn, None);
    assert_eq!(report.records_replayed, seen.len() as u64);
    seen
}

#[tokio::test]
async fn appended_batches_read_back_in_order_and_survive_reopening_the_file() {
    let (dir, log) = open_temp().await;
    let t = tenant("hc-nord");
    let lease = log.acquire(&t).await.unwrap();
    assert_eq!(
        (lease.epoch, lease.last_seq, lease.last_hash),
        (1, 0, genesis_hash)
    );
    let mut chain = lease.chain();
    let mut written = Vec::new();
    // More batches than one read page holds, so paging is exercised.
    for b in 0..150u32 {
        let batch = seal(&mut chain, 1 + (b as usize % 7), b as u8);
        log.append(&lease, &batch).await.unwrap();
        written.extend(batch);
    }
    assert_eq!(replay_all(&log, &t).await, written);
    let head = log.head(&t).await.unwrap().unwrap();
    assert_eq!(
        (head.last_seq, head.last_hash),
        (chain.last_seq(), chain.last_hash)
    );
    log.close().await;

    let log = SqliteLog::open(dir.path().join("log.db")).await.unwrap();
    assert_eq!(replay_all(&log, &t).await, written);
    let page = log.read_batches(&t, 5, 2).await.unwrap();
    assert!(
        page[0].first_seq <= 5 && page[0].last_seq >= 5,
        "first page starts at the batch holding seq 5"
    );
    let report = verify(&log, &t).await.unwrap();
    assert_eq!(
        (report.batches, report.records, report.problem),
        (150, written.len() as u64, None)
    );
}

#[tokio::test]
async fn a_stale_lease_is_fenced_after_another_acquire() {
    let (_dir, log) = open_temp().await;
    let t = tenant("city-1");
    let old = log.acquire(&t).await.unwrap();
    let mut old_chain = old.chain();
    log.append(&old, &seal(&mut old_chain, 3, 1)).await.unwrap();

    let new = log.acquire(&t).await.unwrap();
    assert_eq!(
        (new.epoch, new.last_seq, new.last_hash),
        (2, 3, old_chain.last_hash)
    );
    let err = log
        .append(&old, &seal(&mut old_chain, 2, 2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LogError::Fenced {
                fence: Fence::StaleEpoch {
                    lease_epoch: 1,
                    current_epoch: 2
                },
                ..
            }
        ),
        "{err:?}"
    );
    let mut new_chain = new.chain();
    log.append(&new, &seal(&mut new_chain, 2, 3)).await.unwrap();
    assert_eq!(replay_all(&log, &t).await.len(), 5);
    assert!(matches!(
        log.put_snapshot(&old, 3, old_chain.last_hash, b"s").await,
        Err(LogError::Fenced { .. })
    ));
}

#[tokio::test]
async fn batches_that_leave_a_gap_or_overlap_the_head_are_rejected() {
    let (_dir, log) = open_temp().await;
    let t = tenant("arena");
    let lease = log.acquire(&t).await.unwrap();
    let mut chain = lease.chain();
    let first = seal(&mut chain, 3, 1);
    log.append(&lease, &first).await.unwrap();

    let mut gap_chain = Chain::resume(t.clone(), lease.epoch, 4, chain.last_hash);
    let gap = log
        .append(&lease, &seal(&mut gap_chain, 2, 2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            gap,
            LogError::Fenced {
                fence: Fence::SeqConflict {
                    expected_last_seq: 4,
                    current_last_seq: 3
                },
                ..
            }
        ),
        "{gap:?}"
    );
    let mut overlap_chain = Chain::resume(t.clone(), lease.epoch, 1, first[0].hash);
    let overlap = log
        .append(&lease, &seal(&mut overlap_chain, 4, 3))
        .await
        .unwrap_err();
    assert!(
        matches!(
            overlap,
            LogError::Fenced {
                fence: Fence::SeqConflict {
                    expected_last_seq: 1,
                    ..
                },
                ..
            }
        ),
        "{overlap:?}"
    );
    let mut forked = Chain::resume(t.clone(), lease.epoch, 3, [9; 32]);
    let fork = log
        .append(&lease, &seal(&mut forked, 1, 4))
        .await
        .unwrap_err();
    assert!(matches!(fork, LogError::Corrupt { .. }), "{fork:?}");
    assert!(!log.is_poisoned(), "rejections are not i/o errors");

    log.append(&lease, &seal(&mut chain, 2, 5)).await.unwrap();
    assert_eq!(replay_all(&log, &t).await.len(), 5);
}

#[tokio::test]
async fn a_flipped_byte_in_a_stored_blob_is_quarantined_and_the_chain_continues() {
    let (dir, log) = open_temp().await;
    let t = tenant("vouchers");
    let lease = log.acquire(&t).await.unwrap();
    let mut chain = lease.chain();
    let good = seal(&mut chain, 4, 1);
    log.append(&lease, &good).await.unwrap();
    let good_hash = chain.last_hash;
    log.append(&lease, &seal(&mut chain, 4, 2)).await.unwrap();
    log.append(&lease, &seal(&mut chain, 4, 3)).await.unwrap();

    let raw = raw_pool(&dir).await;
    let blob: Vec<u8> =
        sqlx::query("SELECT blob FROM batches WHERE tenant = 'vouchers' AND first_seq = 5")
            .fetch_one(&raw)
            .await
            .unwrap()
            .get(0);
    let mut flipped = blob.clone();
    flipped[30] ^= 0x01;
    sqlx::query("UPDATE batches SET blob = ? WHERE tenant = 'vouchers' AND first_seq = 5")
        .bind(flipped)
        .execute(&raw)
        .await
        .unwrap();

    let checked = verify(&log, &t).await.unwrap();
    assert_eq!(
        checked.problem.as_ref().map(|p| p.at_seq),
        Some(5),
        "verify reports without repairing"
    );

    let lease = log.acquire(&t).await.unwrap();
    let mut applied = Vec::new();
    let report = recover(&log, &t, None, Repair::Quarantine(&lease), |r| {
        applied.push(r.seq)
    })
    .await
    .unwrap();
    assert_eq!(applied, vec![1, 2, 3, 4]);
    assert_eq!((report.last_seq, report.last_hash), (4, good_hash));
    let torn = report.torn.unwrap();
    assert_eq!((torn.at_seq, torn.batches_quarantined), (5, 2));
    assert!(torn.reason.contains("crc"), "{}", torn.reason);

    let quarantined: i64 = sqlx::query("SELECT count(*) FROM quarantine WHERE tenant = 'vouchers'")
        .fetch_one(&raw)
        .await
        .unwrap()
        .get(0);
    assert_eq!(quarantined, 2, "nothing is deleted");
    let head = log.head(&t).await.unwrap().unwrap();
    assert_eq!((head.last_seq, head.last_hash), (4, good_hash));

    let mut chain = Chain::resume(t.clone(), lease.epoch, report.last_seq, report.last_hash);
    log.append(&lease, &seal(&mut chain, 3, 9)).await.unwrap();
    let report = verify(&log, &t).await.unwrap();
    assert_eq!(
        (report.records, report.last_seq, report.problem),
        (7, 7, None)
    );
}

#[tokio::test]
async fn snapshots_round_trip_keep_the_newest_two_and_skip_one_that_fails_its_crc() {
    let (dir, log) = open_temp().await;
    let t = tenant("stream");
    assert_eq!(log.latest_snapshot(&t).await.unwrap(), None);
    let lease = log.acquire(&t).await.unwrap();
    let mut chain = lease.chain();
    let records = seal(&mut chain, 30, 1);
    log.append(&lease, &records).await.unwrap();
    for seq in [10u64, 20, 30] {
        let bytes = format!("state at {seq}").into_bytes();
        log.put_snapshot(&lease, seq, records[seq as usize - 1].hash, &bytes)
            .await
            .unwrap();
    }
    let latest = log.latest_snapshot(&t).await.unwrap().unwrap();
    assert_eq!(
        (latest.seq, latest.hash, latest.bytes.as_slice()),
        (30, records[29].hash, &b"state at 30"[..])
    );
    let raw = raw_pool(&dir).await;
    let kept: Vec<i64> = sqlx::query("SELECT seq FROM snapshots ORDER BY seq")
        .fetch_all(&raw)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kept, vec![20, 30]);
    assert!(matches!(
        log.put_snapshot(&lease, 31, [0; 32], b"ahead").await,
        Err(LogError::Fenced { .. })
    ));

    sqlx::query("UPDATE snapshots SET bytes = 'state at 3O' WHERE seq = 30")
        .execute(&raw)
        .await
        .unwrap();
    assert_eq!(
        log.latest_snapshot(&t).await.unwrap().unwrap().seq,
        20,
        "falls back to the older snapshot"
    );
    let report = verify(&log, &t).await.unwrap();
    assert_eq!(report.snapshot_matches, Some(true));
    sqlx::query("UPDATE snapshots SET crc32 = crc32 + 1 WHERE seq = 20")
        .execute(&raw)
        .await
        .unwrap();
    let err = log.latest_snapshot(&t).await.unwrap_err();
    assert!(matches!(err, LogError::Corrupt { .. }), "{err:?}");

    let latest = (20, records[19].hash);
    let report = recover(&log, &t, Some(latest), Repair::ReportOnly, |_| {})
        .await
        .unwrap();
    assert_eq!((report.records_replayed, report.last_seq), (10, 30));
}

#[tokio::test]
async fn tenants_are_listed_in_order_and_their_logs_stay_apart() {
    let (_dir, log) = open_temp().await;
    let (a, b) = (tenant("b-club"), tenant("a-city"));
    let lease_a = log.acquire(&a).await.unwrap();
    let lease_b = log.acquire(&b).await.unwrap();
    log.append(&lease_a, &seal(&mut lease_a.chain(), 2, 1))
        .await
        .unwrap();
    log.append(&lease_b, &seal(&mut lease_b.chain(), 5, 2))
        .await
        .unwrap();
    assert_eq!(log.tenants().await.unwrap(), vec![b.clone(), a.clone()]);
    assert_eq!(replay_all(&log, &a).await.len(), 2);
    assert_eq!(replay_all(&log, &b).await.len(), 5);
}

/// A crash seed that tears nothing, so "exactly the unsynced batches" is all a crash
/// with it changes.
fn seed_that_does_not_tear() -> u64 {
    let x = tenant("x");
    (0..64)
        .find(|&seed| {
            let probe = MemStore::new();
            let log = probe.open();
            let lease = block_on(log.acquire(&x)).unwrap();
            log.fail_next_append(Failpoint::FsyncFails);
            let _ = block_on(log.append(&lease, &seal(&mut lease.chain(), 1, 0)));
            probe.crash(seed).torn.is_none()
        })
        .unwrap()
}

#[test]
fn a_crash_drops_exactly_the_unsynced_batches() {
    let seed = seed_that_does_not_tear();
    block_on(async {
        let store = MemStore::new();
        let (x, y, z) = (tenant("x"), tenant("y"), tenant("z"));
        let (log_x, log_y, log_z) = (store.open(), store.open(), store.open());
        let lease_x = log_x.acquire(&x).await.unwrap();
        let lease_y = log_y.acquire(&y).await.unwrap();
        let lease_z = log_z.acquire(&z).await.unwrap();
        let (mut cx, mut cy, mut cz) = (lease_x.chain(), lease_y.chain(), lease_z.chain());
        log_x.append(&lease_x, &seal(&mut cx, 3, 1)).await.unwrap();
        log_y.append(&lease_y, &seal(&mut cy, 3, 1)).await.unwrap();
        log_z.append(&lease_z, &seal(&mut cz, 3, 1)).await.unwrap();
        log_x.fail_next_append(Failpoint::FsyncFails);
        log_y.fail_next_append(Failpoint::FsyncFails);
        assert!(matches!(
            log_x.append(&lease_x, &seal(&mut cx, 2, 2)).await,
            Err(LogError::Io(_))
        ));
        assert!(matches!(
            log_y.append(&lease_y, &seal(&mut cy, 2, 2)).await,
            Err(LogError::Io(_))
        ));
        assert_eq!(
            store.unsynced_batches(),
            vec![(x.clone(), 4), (y.clone(), 4)]
        );

        let report = store.crash(seed);
        assert_eq!(report.dropped, vec![(x.clone(), 4), (y.clone(), 4)]);
        assert_eq!(report.torn, None);
        assert!(store.unsynced_batches().is_empty());

        let fresh = store.open();
        for t in [&x, &y, &z] {
            assert_eq!(replay_all(&fresh, t).await.len(), 3, "{t}");
            assert_eq!(fresh.head(t).await.unwrap().unwrap().last_seq, 3);
        }
    });
}

#[test]
fn an_io_error_poisons_the_handle_for_every_later_call() {
    block_on(async {
        let store = MemStore::new();
        let t = tenant("poison");
        for failpoint in [Failpoint::WriteFails, Failpoint::FsyncFails] {
            let log = store.open();
            let lease = log.acquire(&t).await.unwrap();
            let mut chain = lease.chain();
            log.fail_next_append(failpoint);
            assert!(matches!(
                log.append(&lease, &seal(&mut chain, 1, 1)).await,
                Err(LogError::Io(_))
            ));
            assert!(log.is_poisoned());
            assert!(matches!(
                log.append(&lease, &seal(&mut lease.chain(), 1, 1)).await,
                Err(LogError::Poisoned)
            ));
            assert!(matches!(log.acquire(&t).await, Err(LogError::Poisoned)));
            assert!(matches!(log.head(&t).await, Err(LogError::Poisoned)));
            store.crash(0);
        }
        // A fresh process handle works again on the recovered disk.
        assert!(!store.open().is_poisoned());
    });
}

/// One crash cycle of a small simulation: returns every acknowledged record.
fn run_and_crash(store: &MemStore, t: &TenantId, seed: u64, acked: &mut Vec<Record>) {
    block_on(async {
        let log: MemLog = store.open();
        let lease = log.acquire(t).await.unwrap();
        let mut mirror = Vec::new();
        let report = recover(&log, t, None, Repair::Quarantine(&lease), |r| {
            mirror.push(r.clone())
        })
        .await
        .unwrap();
        assert!(
            mirror.len() >= acked.len(),
            "seed {seed}: lost acknowledged records"
        );
        assert_eq!(
            &mirror[..acked.len()],
            &acked[..],
            "seed {seed}: acknowledged records changed"
        );
        acked.clone_from(&mirror);
        let mut chain = Chain::resume(t.clone(), lease.epoch, report.last_seq, report.last_hash);
        let batches = 1 + seed % 4;
        for b in 0..batches {
            if b == batches - 1 && !seed.is_multiple_of(3) {
                log.fail_next_append(if seed.is_multiple_of(2) {
                    Failpoint::FsyncFails
                } else {
                    Failpoint::WriteFails
                });
            }
            let batch = seal(&mut chain, 1 + (seed as usize + b as usize) % 9, b as u8);
            if log.append(&lease, &batch).await.is_ok() {
                acked.extend(batch);
            } else {
                break;
            }
        }
        store.crash(seed.wrapping_mul(0x9E37_79B9));
    });
}

#[test]
fn crash_and_recover_cycles_never_lose_an_acknowledged_record() {
    let t = tenant("sim");
    let mut torn_seen = 0;
    for seed in 0..200u64 {
        let store = MemStore::new();
        let mut acked = Vec::new();
        for cycle in 0..6 {
            run_and_crash(&store, &t, seed * 31 + cycle, &mut acked);
        }
        torn_seen += store.quarantined_count(&t);
        block_on(async {
            let log = store.open();
            let lease = log.acquire(&t).await.unwrap();
            let mut all = Vec::new();
            recover(&log, &t, None, Repair::Quarantine(&lease), |r| {
                all.push(r.clone())
            })
            .await
            .unwrap();
            assert_eq!(&all[..acked.len()], &acked[..], "seed {seed}");
            let report = verify(&log, &t).await.unwrap();
            assert_eq!(report.problem, None, "seed {seed}");
        });
    }
    assert!(
        torn_seen > 0,
        "the simulation never produced a torn tail; it tests too little"
    );
}
