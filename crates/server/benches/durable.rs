//! Durable command rate: commands per second through the real commit path —
//! `Committer::commit` applies a batch to the core, seals it into the hash chain and
//! appends it to a SQLite file (WAL, synchronous=FULL) in one transaction with one
//! fsync. Each batch holds and releases single seats of the demo arena, so the
//! inventory never runs out; the batch size is the group-commit size.

use std::sync::Arc;

use sturmfest_core as core;
use sturmfest_log::TenantId;
use sturmfest_log::sqlite::SqliteLog;
use sturmfest_server::runtime::Committer;

fn main() {
    divan::main();
}

fn env(time: i64, command: core::Command) -> core::Envelope {
    core::Envelope { time: core::TimeMs(time), idempotency: None, command }
}

struct Rig {
    runtime: tokio::runtime::Runtime,
    committer: Committer<SqliteLog>,
    next_hold: u64,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let committer = runtime.block_on(async {
        let log = Arc::new(SqliteLog::open(dir.path().join("log.db")).await.unwrap());
        let (mut committer, _) = Committer::recover(log, TenantId::new("bench").unwrap()).await.unwrap();
        let now = jiff::Zoned::now();
        let starts = now.checked_add(jiff::Span::new().days(30)).unwrap();
        let opens = now.checked_sub(jiff::Span::new().days(1)).unwrap();
        let setup = vec![
            env(1, core::Command::CreateVenue(sturmfest_server::demo::arena())),
            env(1, core::Command::CreateEvent(sturmfest_server::demo::game(core::VenueId(0), "Bench", &starts, &opens))),
            env(1, core::Command::Sale { event: core::EventId(0), action: core::SaleAction::Open }),
        ];
        for outcome in committer.commit(setup).await.unwrap() {
            outcome.unwrap();
        }
        committer
    });
    Rig { runtime, committer, next_hold: 1, _dir: dir }
}

/// Half holds of distinct seats, half releases of those holds.
fn batch(rig: &mut Rig, size: usize) -> Vec<core::Envelope> {
    let now = jiff::Timestamp::now().as_millisecond();
    let pairs = size / 2;
    let mut commands = Vec::with_capacity(size);
    for i in 0..pairs {
        commands.push(env(
            now,
            core::Command::Hold(core::HoldRequest {
                event: core::EventId(0),
                customer: core::CustomerId(i as u64),
                channel: core::Channel::Online,
                selection: core::Selection::Seats(vec![core::SeatId((i % 3000) as u32)]),
                tariff: core::TariffId(0),
                admission: None,
            }),
        ));
    }
    for i in 0..pairs as u64 {
        commands.push(env(now, core::Command::Release { hold: core::HoldId(rig.next_hold + i) }));
    }
    rig.next_hold += pairs as u64;
    commands
}

#[divan::bench(args = [256, 1024, 4096], sample_count = 20, sample_size = 5)]
fn durable_commands(bencher: divan::Bencher, size: usize) {
    let mut rig = rig();
    bencher.counter(divan::counter::ItemsCount::new(size)).bench_local(|| {
        let commands = batch(&mut rig, size);
        let outcomes = rig.runtime.block_on(rig.committer.commit(commands)).unwrap();
        assert!(outcomes.iter().all(Result::is_ok));
    });
}
