//! The waiting room: one per event sale, a pure state machine that turns a rush at
//! the opening into a fair queue and admits fans to checkout only as fast as
//! checkout can serve them.
//!
//! The pre-queue opens before the sale (`prequeue_opens_at`); everyone who joins
//! before `opens_at` gets a place in the order of a draw that is computed outside
//! the core (it needs SHA-256, docs/DRAW.md) and handed in as `Draw`. Later arrivals
//! queue in arrival order behind the whole pre-queue. One identity (a digest of a
//! verified account) has one entry: joining again returns the same place. `Admit`
//! lets the next fans into checkout, never more at once than the configured maximum
//! nor than the places still unsold; each gets a checkout window that runs out by
//! time unless they `Finish` first. `Pause` is the emergency brake: no admissions,
//! every place kept, windows frozen and extended by the pause's length on `Resume`.
//! `SoldOut` is final and every waiting fan sees it at once.
//!
//! Like `Tenant::apply`, every command first lets time pass (`now` only moves
//! forward; due checkout windows expire unless the room is paused), then runs its
//! handler. Handlers check rejections in the order written above each and change
//! nothing before the last check has passed, so replaying the same commands yields
//! the same room, bit for bit. Domain failures are `RoomRejection` values; a broken
//! invariant is a panic (`check_invariants`, run after every command in debug builds).
//!
//! Layout, because a rush means a million entries on one node: entries live in a
//! `Vec` in join order (24 bytes each); two `BTreeMap`s find an entry by identity
//! and by queue id. Pre-queue entries are exactly the first `prequeue_len` entries
//! (time only moves forward, so no pre-queue join can follow a late one); a late
//! entry's rank is its index, a pre-queue entry's rank is its place in the draw.
//! Admission is strictly by rank, so a cursor `admitted_upto` splits the ranks into
//! those that left the line and those still waiting, and a waiting fan's position is
//! `rank - admitted_upto + 1` in O(1). Only admitted fans (bounded by
//! `admitted_active_max`) carry a deadline, in two small ordered indexes.

use std::collections::{BTreeMap, BTreeSet, btree_map};
use std::ops::Range;

use crate::ids::TimeMs;

mod invariants;
mod parts;

pub use parts::{EntryParts, RoomParts, StatusParts};

/// Every limit of the waiting room, named with its unit last.
pub mod limits {
    #![allow(non_upper_case_globals)]

    /// Entries (distinct identities) one room may hold: a full arena's rush many
    /// times over. Positions and ranks are `u32`.
    pub const room_entries_max: u32 = 2_000_000;
    /// The most fans a room may configure to be in checkout at once.
    pub const room_admitted_active_max: u32 = 100_000;
    /// The most fans one `Admit` may let in; also bounds one command's work.
    pub const admit_count_max: u32 = 100_000;
    /// The pause message shown to every waiting fan.
    pub const pause_message_bytes_max: usize = crate::limits::message_bytes_max;
    pub const checkout_window_ms_min: i64 = 10_000;
    pub const checkout_window_ms_max: i64 = 3_600_000;
    /// How long before the opening the pre-queue may open: long enough to announce
    /// a sale days ahead, short enough that a typo cannot open it a year early.
    pub const prequeue_lead_ms_max: i64 = 14 * 24 * 3_600_000;

    // `rank + 1` is a position and must not overflow.
    const _: () = assert!(room_entries_max < u32::MAX);
    const _: () = assert!(room_admitted_active_max <= room_entries_max);
    const _: () = assert!(admit_count_max <= room_entries_max);
    const _: () = assert!(checkout_window_ms_min > 0 && checkout_window_ms_min < checkout_window_ms_max);
    // A pause is never longer than this, so shifting a deadline by a pause cannot
    // overflow either (`TimeMs::plus_ms` saturates in any case).
    const _: () = assert!(prequeue_lead_ms_max < i64::MAX / 4);
}

use limits::*;

/// A verified identity (account or e-mail) as the edge digested it. The core never
/// sees the address itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdentityKey(pub u128);

/// A pseudonymous queue id: what the fan sees on the waiting page and what the
/// published draw lists (docs/DRAW.md). Unique per room, so a draw over the set of
/// ids names every pre-queue entry exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub [u8; 16]);

/// 32 lowercase hex digits: the one spelling the published draw uses.
impl std::fmt::Display for QueueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomConfig {
    pub prequeue_opens_at: TimeMs,
    /// The sale's opening: joins before it are drawn, joins from it on queue by arrival.
    pub opens_at: TimeMs,
    /// How long an admitted fan may stay in checkout.
    pub checkout_window_ms: i64,
    /// The most fans in checkout at once, whatever `Admit` asks for.
    pub admitted_active_max: u32,
    /// The most entries this room takes; at most `room_entries_max`.
    pub entries_max: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomCommand {
    Join { identity: IdentityKey, queue_id: QueueId },
    /// The drawn order of the pre-queue: `order[k]` is the entry index (join order,
    /// 0-based) of the fan at rank `k`. Must be a permutation of `0..prequeue_len`.
    Draw { order: Vec<u32> },
    /// Let up to `count` next fans into checkout; `unsold_places` is what the
    /// ticketing core still has to sell, so checkout never holds more fans than places.
    Admit { count: u32, unsold_places: u32 },
    /// The fan's checkout ended (bought or left); frees the slot.
    Finish { identity: IdentityKey },
    Pause { message: String, resume_at: Option<TimeMs> },
    Resume,
    SoldOut,
    /// Lets time pass so due checkout windows expire even when nothing else happens.
    Tick,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomEnvelope {
    pub time: TimeMs,
    pub command: RoomCommand,
}

/// Where one fan stands, as of the room's last command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Joined before the opening; the draw has not placed them yet.
    PreQueue,
    /// 1 is next.
    Waiting { position: u32 },
    /// In checkout until `until`. While the room is paused this deadline is frozen
    /// as it stood; resuming moves it later by the pause's length.
    Admitted { until: TimeMs },
    /// Checkout ended (bought or left).
    Done,
    /// The checkout window ran out.
    Expired,
    /// Still in line when the sale sold out: nothing left to wait for.
    SoldOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before `prequeue_opens_at`: joins are turned away.
    NotYetOpen,
    /// Joins go into the pre-queue.
    PreQueue,
    /// Opened, but the draw has not been handed in: nobody is admitted yet.
    AwaitingDraw,
    Admitting,
    Paused,
    SoldOut,
}

/// What every waiting fan is shown while the brake is pulled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseNotice {
    pub since: TimeMs,
    pub message: String,
    pub resume_at: Option<TimeMs>,
}

/// Entries by stage; `entries` is their sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoomCounts {
    pub entries: u32,
    pub prequeue: u32,
    pub waiting: u32,
    pub admitted: u32,
    pub done: u32,
    pub expired: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    New,
    /// The identity was already in the room: this is its existing place.
    Existing,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomReply {
    Joined { kind: JoinKind, queue_id: QueueId, place: Place },
    Drawn { entries: u32 },
    /// `ranks` are the queue ranks (0-based) let in; they were positions `1..=admitted`.
    Admitted { admitted: u32, ranks: Range<u32>, until: TimeMs },
    Finished,
    Paused,
    Resumed { paused_ms: i64 },
    /// `told` fans were still in line (pre-queue or waiting) and now see sold out.
    SoldOut { told: u32 },
    Ticked { expired: u32 },
}

/// Domain rejections of the waiting room, checked in the order documented on each
/// handler. Codes are stable once released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomRejection {
    InvalidConfig { reason: &'static str },
    InvalidRequest { reason: &'static str },
    RoomNotOpen { prequeue_opens_at: TimeMs },
    SoldOut,
    QueueIdTaken,
    RoomFull { max: u32 },
    DrawTooEarly { opens_at: TimeMs },
    AlreadyDrawn,
    DrawNotPermutation { reason: &'static str },
    DrawPending,
    RoomPaused { message: String, resume_at: Option<TimeMs> },
    UnknownIdentity,
    NotAdmitted,
    NotPaused,
}

impl RoomRejection {
    /// The stable code, snake_case, for problem+json.
    pub fn code(&self) -> &'static str {
        use RoomRejection::*;
        match self {
            InvalidConfig { .. } => "invalid_config",
            InvalidRequest { .. } => "invalid_request",
            RoomNotOpen { .. } => "room_not_open",
            SoldOut => "sold_out",
            QueueIdTaken => "queue_id_taken",
            RoomFull { .. } => "room_full",
            DrawTooEarly { .. } => "draw_too_early",
            AlreadyDrawn => "already_drawn",
            DrawNotPermutation { .. } => "draw_not_permutation",
            DrawPending => "draw_pending",
            RoomPaused { .. } => "room_paused",
            UnknownIdentity => "unknown_identity",
            NotAdmitted => "not_admitted",
            NotPaused => "not_paused",
        }
    }
}

pub type RoomOutcome = Result<RoomReply, RoomRejection>;

/// An entry's stage. Stored (not derived) so the invariant checker can recount the
/// stages against the cursor and the admitted index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Stage {
    PreQueue,
    Waiting,
    Admitted,
    Done,
    Expired,
}

/// The rank of a pre-queue entry before the draw.
const RANK_NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    queue_id: QueueId,
    /// 0-based place in the admission order; `RANK_NONE` in the pre-queue until the draw.
    rank: u32,
    stage: Stage,
}

// The layout the memory target rests on: 16 + 4 + 1, padded to 24.
const _: () = assert!(std::mem::size_of::<Entry>() == 24);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    Running,
    Paused(PauseNotice),
    /// Final: nothing reopens a sold-out room.
    SoldOut,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingRoom {
    config: RoomConfig,
    now: TimeMs,
    /// In join order; an entry's index never changes.
    entries: Vec<Entry>,
    identities: BTreeMap<IdentityKey, u32>,
    queue_ids: BTreeMap<QueueId, u32>,
    /// Entries `0..prequeue_len` joined before the opening.
    prequeue_len: u32,
    /// The draw: `order[rank]` is the pre-queue entry at that rank. `None` until drawn.
    order: Option<Vec<u32>>,
    /// Ranks below this have been admitted (and may since be done or expired).
    admitted_upto: u32,
    /// Entry index → checkout deadline, for admitted entries only.
    admitted: BTreeMap<u32, TimeMs>,
    /// (deadline, entry index): the admitted entries by when they fall due.
    expiry: BTreeSet<(TimeMs, u32)>,
    counts: RoomCounts,
    status: Status,
}

impl WaitingRoom {
    /// Order: the pre-queue opens no later than the sale and not absurdly early;
    /// window length; active maximum; entries maximum.
    pub fn new(config: RoomConfig) -> Result<WaitingRoom, RoomRejection> {
        let invalid = |reason| Err(RoomRejection::InvalidConfig { reason });
        if config.prequeue_opens_at > config.opens_at {
            return invalid("the pre-queue must open no later than the sale");
        }
        if config.opens_at.0.saturating_sub(config.prequeue_opens_at.0) > prequeue_lead_ms_max {
            return invalid("the pre-queue opens too long before the sale");
        }
        if !(checkout_window_ms_min..=checkout_window_ms_max).contains(&config.checkout_window_ms) {
            return invalid("checkout window out of range");
        }
        if config.admitted_active_max == 0 || config.admitted_active_max > room_admitted_active_max {
            return invalid("admitted_active_max out of range");
        }
        if config.entries_max == 0 || config.entries_max > room_entries_max {
            return invalid("entries_max out of range");
        }
        Ok(WaitingRoom {
            config,
            now: TimeMs::default(),
            entries: Vec::new(),
            identities: BTreeMap::new(),
            queue_ids: BTreeMap::new(),
            prequeue_len: 0,
            order: None,
            admitted_upto: 0,
            admitted: BTreeMap::new(),
            expiry: BTreeSet::new(),
            counts: RoomCounts::default(),
            status: Status::Running,
        })
    }

    pub fn apply(&mut self, envelope: &RoomEnvelope) -> RoomOutcome {
        // Time never goes backwards: a late-stamped command is treated as happening
        // now, exactly as `Tenant::apply` does.
        self.now = self.now.max(envelope.time);
        let expired = self.expire_due();
        let outcome = match &envelope.command {
            RoomCommand::Join { identity, queue_id } => self.join(*identity, *queue_id),
            RoomCommand::Draw { order } => self.draw(order),
            RoomCommand::Admit { count, unsold_places } => self.admit(*count, *unsold_places),
            RoomCommand::Finish { identity } => self.finish(*identity),
            RoomCommand::Pause { message, resume_at } => self.pause(message, *resume_at),
            RoomCommand::Resume => self.resume(),
            RoomCommand::SoldOut => self.sold_out(),
            RoomCommand::Tick => Ok(RoomReply::Ticked { expired }),
        };
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
        outcome
    }

    // ----- queries -----

    pub fn config(&self) -> &RoomConfig {
        &self.config
    }

    pub fn now(&self) -> TimeMs {
        self.now
    }

    pub fn counts(&self) -> RoomCounts {
        self.counts
    }

    /// The phase as of the room's last command; the runtime sends `Tick` at the
    /// opening so a room with no traffic still moves on.
    pub fn phase(&self) -> Phase {
        match self.status {
            Status::SoldOut => Phase::SoldOut,
            Status::Paused(_) => Phase::Paused,
            Status::Running if self.now < self.config.prequeue_opens_at => Phase::NotYetOpen,
            Status::Running if self.now < self.config.opens_at => Phase::PreQueue,
            Status::Running if self.order.is_none() => Phase::AwaitingDraw,
            Status::Running => Phase::Admitting,
        }
    }

    pub fn pause_notice(&self) -> Option<&PauseNotice> {
        match &self.status {
            Status::Paused(notice) => Some(notice),
            _ => None,
        }
    }

    /// O(log n): one map lookup, then arithmetic (plus one more lookup if admitted).
    pub fn place(&self, identity: IdentityKey) -> Option<Place> {
        self.identities.get(&identity).map(|&index| self.place_of(index))
    }

    /// The fan's 0-based rank in the admission order, once it has one: a late
    /// arrival from its join, a pre-queue fan from the draw. Ranks never change, so
    /// a runtime may hand a fan its rank in a signed place and answer later polls
    /// from `admitted_upto` alone: ranks at or above it are still waiting, at
    /// position `rank - admitted_upto + 1`.
    pub fn rank(&self, identity: IdentityKey) -> Option<u32> {
        let index = *self.identities.get(&identity)?;
        let rank = self.entries[index as usize].rank;
        (rank != RANK_NONE).then_some(rank)
    }

    /// Ranks below this have been admitted (and may since be done or expired).
    pub fn admitted_upto(&self) -> u32 {
        self.admitted_upto
    }

    pub fn place_by_queue_id(&self, queue_id: QueueId) -> Option<Place> {
        self.queue_ids.get(&queue_id).map(|&index| self.place_of(index))
    }

    pub fn queue_id(&self, identity: IdentityKey) -> Option<QueueId> {
        self.identities.get(&identity).map(|&index| self.entries[index as usize].queue_id)
    }

    /// The pre-queue's queue ids in entry-index order: what the draw is computed
    /// over; the draw's `order` names them by their index in this sequence.
    pub fn prequeue(&self) -> impl Iterator<Item = QueueId> + '_ {
        self.entries[..self.prequeue_len as usize].iter().map(|entry| entry.queue_id)
    }

    /// The draw as handed in: `order[rank]` is the pre-queue entry at that rank.
    pub fn draw_order(&self) -> Option<&[u32]> {
        self.order.as_deref()
    }

    /// When the next checkout window falls due, so a runtime knows when a `Tick` is
    /// worth sending. `None` while paused: nothing falls due then.
    pub fn next_expiry(&self) -> Option<TimeMs> {
        match self.status {
            Status::Paused(_) => None,
            _ => self.expiry.first().map(|(at, _)| *at),
        }
    }

    fn place_of(&self, index: u32) -> Place {
        let entry = &self.entries[index as usize];
        match entry.stage {
            Stage::PreQueue | Stage::Waiting if self.status == Status::SoldOut => Place::SoldOut,
            Stage::PreQueue => Place::PreQueue,
            Stage::Waiting => Place::Waiting { position: entry.rank - self.admitted_upto + 1 },
            Stage::Admitted => Place::Admitted { until: self.admitted[&index] },
            Stage::Done => Place::Done,
            Stage::Expired => Place::Expired,
        }
    }

    /// The entry at a rank: a pre-queue entry by the draw, a late one by arrival.
    fn entry_at_rank(&self, rank: u32) -> u32 {
        match &self.order {
            Some(order) if rank < self.prequeue_len => order[rank as usize],
            _ => {
                assert!(rank >= self.prequeue_len, "the pre-queue is ranked only by the draw");
                rank
            }
        }
    }

    // ----- time -----

    /// Expires every checkout window due by now. A paused room lets none run out:
    /// the brake must not cost anyone their checkout.
    fn expire_due(&mut self) -> u32 {
        if let Status::Paused(_) = self.status {
            return 0;
        }
        let mut expired = 0;
        while let Some(&(at, index)) = self.expiry.first() {
            if at > self.now {
                break;
            }
            self.expiry.pop_first();
            let until = self.admitted.remove(&index).expect("expiry entries point at admitted entries");
            assert_eq!(until, at, "expiry index and admitted deadline agree");
            let entry = &mut self.entries[index as usize];
            assert_eq!(entry.stage, Stage::Admitted);
            entry.stage = Stage::Expired;
            self.counts.admitted -= 1;
            self.counts.expired += 1;
            expired += 1;
        }
        expired
    }

    /// Moves every checkout deadline later by the pause's length: an admitted fan
    /// gets back exactly the time the brake took from them.
    fn thaw_windows(&mut self, paused_ms: i64) {
        assert!(paused_ms >= 0);
        for until in self.admitted.values_mut() {
            *until = until.plus_ms(paused_ms);
        }
        self.expiry = self.admitted.iter().map(|(&index, &until)| (until, index)).collect();
    }

    // ----- handlers -----

    /// Order: a known identity gets its existing place (a refresh or second device,
    /// so this comes before every gate); then too early; sold out; queue id taken;
    /// room full. Joins are accepted while paused: the brake keeps the line, and
    /// turning people away would make them retry harder.
    fn join(&mut self, identity: IdentityKey, queue_id: QueueId) -> RoomOutcome {
        // Entry handles, so a fresh join walks each B-tree once, not twice (lookup,
        // then insert): joins are the rush's hot path. A handle dropped on a
        // rejection inserts nothing.
        let by_identity = match self.identities.entry(identity) {
            btree_map::Entry::Occupied(known) => {
                let index = *known.get();
                let entry = &self.entries[index as usize];
                return Ok(RoomReply::Joined { kind: JoinKind::Existing, queue_id: entry.queue_id, place: self.place_of(index) });
            }
            btree_map::Entry::Vacant(vacant) => vacant,
        };
        if self.now < self.config.prequeue_opens_at {
            return Err(RoomRejection::RoomNotOpen { prequeue_opens_at: self.config.prequeue_opens_at });
        }
        if self.status == Status::SoldOut {
            return Err(RoomRejection::SoldOut);
        }
        let btree_map::Entry::Vacant(by_queue_id) = self.queue_ids.entry(queue_id) else {
            return Err(RoomRejection::QueueIdTaken);
        };
        let index = self.counts.entries;
        if index >= self.config.entries_max {
            return Err(RoomRejection::RoomFull { max: self.config.entries_max });
        }
        by_identity.insert(index);
        by_queue_id.insert(index);
        let entry = if self.now < self.config.opens_at {
            assert_eq!(index, self.prequeue_len, "pre-queue joins precede every late join");
            assert!(self.order.is_none(), "the draw happens after the opening");
            self.prequeue_len += 1;
            self.counts.prequeue += 1;
            Entry { queue_id, rank: RANK_NONE, stage: Stage::PreQueue }
        } else {
            // Behind the whole pre-queue, drawn or not, in arrival order.
            self.counts.waiting += 1;
            Entry { queue_id, rank: index, stage: Stage::Waiting }
        };
        self.entries.push(entry);
        self.counts.entries += 1;
        Ok(RoomReply::Joined { kind: JoinKind::New, queue_id, place: self.place_of(index) })
    }

    /// Order: before the opening (the pre-queue is not final yet); already drawn;
    /// not a permutation of the pre-queue (length, range, repetition). Allowed while
    /// paused or sold out: the draw only fixes the order, it admits nobody.
    fn draw(&mut self, order: &[u32]) -> RoomOutcome {
        if self.now < self.config.opens_at {
            return Err(RoomRejection::DrawTooEarly { opens_at: self.config.opens_at });
        }
        if self.order.is_some() {
            return Err(RoomRejection::AlreadyDrawn);
        }
        let reject = |reason| Err(RoomRejection::DrawNotPermutation { reason });
        if order.len() != self.prequeue_len as usize {
            return reject("the order's length differs from the pre-queue's");
        }
        let mut seen = vec![false; order.len()];
        for &index in order {
            match seen.get_mut(index as usize) {
                None => return reject("the order names an entry outside the pre-queue"),
                Some(true) => return reject("the order names an entry twice"),
                Some(slot) => *slot = true,
            }
        }
        for (rank, &index) in order.iter().enumerate() {
            let entry = &mut self.entries[index as usize];
            assert_eq!(entry.stage, Stage::PreQueue);
            entry.rank = rank as u32;
            entry.stage = Stage::Waiting;
        }
        self.counts.waiting += self.prequeue_len;
        self.counts.prequeue -= self.prequeue_len;
        self.order = Some(order.to_vec());
        Ok(RoomReply::Drawn { entries: self.prequeue_len })
    }

    /// Order: sold out; paused; not drawn yet (which includes before the opening);
    /// count is zero or over `admit_count_max`. Admitting fewer than asked (even
    /// none) is not a rejection: the line is short, or checkout is full.
    fn admit(&mut self, count: u32, unsold_places: u32) -> RoomOutcome {
        match &self.status {
            Status::SoldOut => return Err(RoomRejection::SoldOut),
            Status::Paused(notice) => {
                return Err(RoomRejection::RoomPaused {
                    message: notice.message.clone(),
                    resume_at: notice.resume_at,
                });
            }
            Status::Running => {}
        }
        if self.order.is_none() {
            return Err(RoomRejection::DrawPending);
        }
        if count == 0 || count > admit_count_max {
            return Err(RoomRejection::InvalidRequest { reason: "admit count out of range" });
        }
        // Never more fans in checkout than places left to buy: 50,000 fans racing
        // for 6,000 places would be the rush again, one step later.
        let cap = self.config.admitted_active_max.min(unsold_places);
        let admitted = count.min(cap.saturating_sub(self.counts.admitted)).min(self.counts.waiting);
        let until = self.now.plus_ms(self.config.checkout_window_ms);
        let first = self.admitted_upto;
        for rank in first..first + admitted {
            let index = self.entry_at_rank(rank);
            let entry = &mut self.entries[index as usize];
            assert_eq!((entry.rank, entry.stage), (rank, Stage::Waiting), "admission follows the ranks");
            entry.stage = Stage::Admitted;
            self.admitted.insert(index, until);
            let fresh = self.expiry.insert((until, index));
            assert!(fresh);
        }
        self.admitted_upto += admitted;
        self.counts.waiting -= admitted;
        self.counts.admitted += admitted;
        assert!(admitted == 0 || self.counts.admitted <= cap, "checkout over the cap");
        Ok(RoomReply::Admitted { admitted, ranks: first..first + admitted, until })
    }

    /// Order: unknown identity; not in checkout (waiting, done or expired). Allowed
    /// while paused and after sold out: leaving checkout never hurts anyone.
    fn finish(&mut self, identity: IdentityKey) -> RoomOutcome {
        let &index = self.identities.get(&identity).ok_or(RoomRejection::UnknownIdentity)?;
        if self.entries[index as usize].stage != Stage::Admitted {
            return Err(RoomRejection::NotAdmitted);
        }
        let until = self.admitted.remove(&index).expect("an admitted entry has a deadline");
        let removed = self.expiry.remove(&(until, index));
        assert!(removed, "an admitted entry is in the expiry index");
        self.entries[index as usize].stage = Stage::Done;
        self.counts.admitted -= 1;
        self.counts.done += 1;
        Ok(RoomReply::Finished)
    }

    /// Order: sold out; message too long; announced restart not in the future.
    /// Pausing a paused room updates the announcement and keeps `since`, so the
    /// windows are extended by the whole pause, not by its last part.
    fn pause(&mut self, message: &str, resume_at: Option<TimeMs>) -> RoomOutcome {
        if self.status == Status::SoldOut {
            return Err(RoomRejection::SoldOut);
        }
        if message.len() > pause_message_bytes_max {
            return Err(RoomRejection::InvalidRequest { reason: "pause message too long" });
        }
        if resume_at.is_some_and(|at| at <= self.now) {
            return Err(RoomRejection::InvalidRequest { reason: "the announced restart is not in the future" });
        }
        let since = match &self.status {
            Status::Paused(notice) => notice.since,
            _ => self.now,
        };
        self.status = Status::Paused(PauseNotice { since, message: message.to_string(), resume_at });
        Ok(RoomReply::Paused)
    }

    /// Order: sold out; not paused.
    fn resume(&mut self) -> RoomOutcome {
        let since = match &self.status {
            Status::SoldOut => return Err(RoomRejection::SoldOut),
            Status::Running => return Err(RoomRejection::NotPaused),
            Status::Paused(notice) => notice.since,
        };
        let paused_ms = self.now.0 - since.0;
        self.thaw_windows(paused_ms);
        self.status = Status::Running;
        Ok(RoomReply::Resumed { paused_ms })
    }

    /// Order: already sold out. Sold out ends a pause too; the fans still in
    /// checkout get their frozen time back and their windows run out as usual.
    fn sold_out(&mut self) -> RoomOutcome {
        let since = match &self.status {
            Status::SoldOut => return Err(RoomRejection::SoldOut),
            Status::Running => None,
            Status::Paused(notice) => Some(notice.since),
        };
        if let Some(since) = since {
            self.thaw_windows(self.now.0 - since.0);
        }
        self.status = Status::SoldOut;
        Ok(RoomReply::SoldOut { told: self.counts.prequeue + self.counts.waiting })
    }
}
