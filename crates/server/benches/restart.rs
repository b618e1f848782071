//! Restart time with a long log: builds a 10,000,000-record log of a real tenant on
//! a SQLite file through `Committer::commit` (holds, releases, orders, ticks of the
//! demo arena) with a snapshot every 250,000 records exactly as the writer takes
//! them — except the last, so the restart faces the worst case, a full interval of
//! records to replay — then times `Committer::recover` (lease, latest snapshot,
//! replay with every invariant checked) three times.
//!
//! `cargo bench -p sturmfest-server --bench restart` (`STURMFEST_RESTART_RECORDS`
//! overrides the record count). Prints its figures; no divan, the set-up dominates.

use std::sync::Arc;
use std::time::Instant;

use sturmfest_core as core;
use sturmfest_log::TenantId;
use sturmfest_log::sqlite::SqliteLog;
use sturmfest_server::runtime::{Committer, ShardConfig};

fn env(time: i64, command: core::Command) -> core::Envelope {
    core::Envelope { time: core::TimeMs(time), idempotency: None, command }
}

fn main() {
    let records: u64 =
        std::env::var("STURMFEST_RESTART_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let interval = ShardConfig::default().snapshot_interval_records;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let tenant = TenantId::new("bench").unwrap();

    let built = Instant::now();
    runtime.block_on(async {
        let log = Arc::new(SqliteLog::open(&path).await.unwrap());
        let (mut committer, _) = Committer::recover(log, tenant.clone()).await.unwrap();
        let now = jiff::Zoned::now();
        let starts = now.checked_add(jiff::Span::new().days(30)).unwrap();
        let opens = now.checked_sub(jiff::Span::new().days(1)).unwrap();
        let mut time = jiff::Timestamp::now().as_millisecond();
        let setup = vec![
            env(time, core::Command::CreateVenue(sturmfest_server::demo::arena())),
            env(time, core::Command::CreateEvent(sturmfest_server::demo::game(core::VenueId(0), "Bench", &starts, &opens))),
            env(time, core::Command::Sale { event: core::EventId(0), action: core::SaleAction::Open }),
        ];
        committer.commit(setup).await.unwrap();
        // 2,000 sold seats, so snapshots and replay carry real orders.
        let mut next_hold = 1u64;
        let mut sold = Vec::new();
        for seat in 0..2_000u32 {
            sold.push(env(time, hold(seat, u64::from(seat))));
        }
        for hold_id in 1..=2_000u64 {
            sold.push(env(
                time,
                core::Command::Confirm {
                    hold: core::HoldId(hold_id),
                    payment: format!("pay-{hold_id}"),
                    buyer: core::Buyer { name: "Fan".into(), email: format!("fan{hold_id}@example.org") },
                },
            ));
        }
        next_hold += 2_000;
        for outcome in committer.commit(sold).await.unwrap() {
            outcome.unwrap();
        }
        let mut written = committer_seq(&committer);
        let mut since_snapshot = written;
        while written < records {
            let pairs = ((records - written) / 2).clamp(1, 1_000);
            let mut batch = Vec::with_capacity(pairs as usize * 2);
            for i in 0..pairs {
                batch.push(env(time, hold(2_000 + (i % 1_000) as u32, i)));
            }
            for i in 0..pairs {
                batch.push(env(time, core::Command::Release { hold: core::HoldId(next_hold + i) }));
            }
            next_hold += pairs;
            time += 1;
            let outcomes = committer.commit(batch).await.unwrap();
            assert!(outcomes.iter().all(Result::is_ok));
            written += pairs * 2;
            since_snapshot += pairs * 2;
            if since_snapshot >= interval && written < records {
                committer.snapshot().await.unwrap();
                since_snapshot = 0;
            }
        }
    });
    let log_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("log.db-wal")).map(|m| m.len()).unwrap_or(0);
    println!(
        "built a log of {records} records ({:.0} MiB) in {:.1} s",
        log_bytes as f64 / 1048576.0,
        built.elapsed().as_secs_f64()
    );

    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let report = runtime.block_on(async {
            let log = Arc::new(SqliteLog::open(&path).await.unwrap());
            let (committer, report) = Committer::recover(log, tenant.clone()).await.unwrap();
            assert_eq!(committer_seq(&committer), report.last_seq);
            report
        });
        let seconds = started.elapsed().as_secs_f64();
        assert!(report.last_seq >= records, "{report:?}");
        println!(
            "recovered: snapshot at seq {:?}, {} records replayed, last seq {}, in {seconds:.3} s",
            report.snapshot_seq, report.records_replayed, report.last_seq
        );
        times.push(seconds);
    }
    times.sort_by(f64::total_cmp);
    println!("restart with {records} log records: median {:.3} s (target < 5 s)", times[1]);
}

fn hold(seat: u32, customer: u64) -> core::Command {
    core::Command::Hold(core::HoldRequest {
        event: core::EventId(0),
        customer: core::CustomerId(customer),
        channel: core::Channel::Online,
        selection: core::Selection::Seats(vec![core::SeatId(seat)]),
        tariff: core::TariffId(0),
        admission: None,
    })
}

fn committer_seq(committer: &Committer<SqliteLog>) -> u64 {
    committer.last_seq()
}
