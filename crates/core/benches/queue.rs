//! Waiting-room figures for the brief's target "1,000,000 queued fans on one node in
//! < 1 GiB": joins per second and `place()` lookups per second with a million fans,
//! and the room's memory per queued fan.
//!
//! Memory is measured, not estimated: this bench binary installs a global allocator
//! that wraps the system allocator and counts live bytes, and `main` prints how many
//! bytes a room with a million drawn fans holds (everything the room allocated and
//! still owns: entries, both indexes, the draw) and the peak while it was built
//! (vector growth copies). Allocator bookkeeping outside the requested sizes is not
//! counted. Identities and queue ids are pseudo-random, as digests are, so the
//! B-trees see the insertion pattern of a real rush. Release builds skip the
//! per-command invariant check, as production does.

#![allow(non_upper_case_globals)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use sturmfest_core::TimeMs;
use sturmfest_core::queue::limits::room_entries_max;
use sturmfest_core::queue::*;

struct Counting;

static live_bytes: AtomicUsize = AtomicUsize::new(0);
static peak_bytes: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = live_bytes.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        peak_bytes.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live_bytes.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a fresh block plus a freed one, which is what a moving realloc
        // costs at its peak; an in-place one is over-counted only in the peak.
        let now = live_bytes.fetch_add(new_size, Ordering::Relaxed) + new_size;
        peak_bytes.fetch_max(now, Ordering::Relaxed);
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        live_bytes.fetch_sub(layout.size(), Ordering::Relaxed);
        moved
    }
}

#[global_allocator]
static allocator: Counting = Counting;

const fans_count: u32 = 1_000_000;
const pre: i64 = 1_000_000;
const opens: i64 = 2_000_000;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn identity(i: u32) -> IdentityKey {
    IdentityKey(u128::from(splitmix(u64::from(i))) << 64 | u128::from(splitmix(u64::from(i) + (1 << 40))))
}

fn queue_id(i: u32) -> QueueId {
    let a = splitmix(u64::from(i) + (2 << 40)).to_le_bytes();
    let b = splitmix(u64::from(i) + (3 << 40)).to_le_bytes();
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&a);
    id[8..].copy_from_slice(&b);
    QueueId(id)
}

fn empty_room() -> WaitingRoom {
    WaitingRoom::new(RoomConfig {
        prequeue_opens_at: TimeMs(pre),
        opens_at: TimeMs(opens),
        checkout_window_ms: 600_000,
        admitted_active_max: 5_000,
        entries_max: room_entries_max,
    })
    .expect("bench config")
}

fn joins() -> Vec<RoomEnvelope> {
    (0..fans_count)
        .map(|i| RoomEnvelope {
            time: TimeMs(pre + i64::from(i) / 1_000),
            command: RoomCommand::Join { identity: identity(i), queue_id: queue_id(i) },
        })
        .collect()
}

/// A million fans in the pre-queue, drawn, the first 5,000 admitted.
fn full_room(joins: &[RoomEnvelope]) -> WaitingRoom {
    let mut room = empty_room();
    for envelope in joins {
        room.apply(envelope).expect("join");
    }
    let mut order: Vec<u32> = (0..fans_count).collect();
    order.sort_unstable_by_key(|&i| splitmix(u64::from(i) + (4 << 40)));
    room.apply(&RoomEnvelope { time: TimeMs(opens), command: RoomCommand::Draw { order } }).expect("draw");
    let admit = RoomCommand::Admit { count: 5_000, unsold_places: 6_000 };
    room.apply(&RoomEnvelope { time: TimeMs(opens + 1), command: admit }).expect("admit");
    room
}

fn main() {
    let joins = joins();
    let before = live_bytes.load(Ordering::Relaxed);
    peak_bytes.store(before, Ordering::Relaxed);
    let room = full_room(&joins);
    let held = live_bytes.load(Ordering::Relaxed) - before;
    let peak = peak_bytes.load(Ordering::Relaxed) - before;
    assert_eq!(room.counts().entries, fans_count);
    println!(
        "waiting room, {fans_count} fans drawn (measured by a counting allocator): {:.1} MiB held = {:.1} bytes per queued fan; peak while building {:.1} MiB",
        held as f64 / (1 << 20) as f64,
        held as f64 / f64::from(fans_count),
        peak as f64 / (1 << 20) as f64,
    );
    drop(room);
    divan::main();
}

/// A million joins into an empty room: the rush before the opening.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn joins_1m(bencher: divan::Bencher) {
    let joins = joins();
    bencher.counter(divan::counter::ItemsCount::new(joins.len())).with_inputs(empty_room).bench_local_values(|mut room| {
        for envelope in &joins {
            assert!(room.apply(envelope).is_ok());
        }
        room
    });
}

/// A million status lookups (in an order unrelated to joining) in a room of a
/// million drawn fans.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn place_lookups_1m(bencher: divan::Bencher) {
    let room = full_room(&joins());
    let asks: Vec<IdentityKey> = (0..fans_count).map(|i| identity(splitmix(u64::from(i)) as u32 % fans_count)).collect();
    bencher.counter(divan::counter::ItemsCount::new(asks.len())).bench_local(|| {
        let mut waiting = 0u32;
        for identity in &asks {
            if let Some(Place::Waiting { .. }) = room.place(*identity) {
                waiting += 1;
            }
        }
        assert!(waiting > 0);
        waiting
    });
}
