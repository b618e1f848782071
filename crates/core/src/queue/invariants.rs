//! The waiting room's invariant checker: recounts everything from the entries and
//! compares it with the cursor, the draw, the indexes and the counters kept
//! incrementally. A broken invariant is a bug, never input, so it panics. Debug
//! builds run it after every command; tests run it after every step. It is O(n)
//! in the entries, which is why release builds do not run it per command.

use super::*;

impl WaitingRoom {
    /// Panics naming the first broken invariant.
    pub fn check_invariants(&self) {
        let n = self.entries.len();
        assert!(n <= self.config.entries_max as usize, "more entries than the room takes");
        assert_eq!(self.counts.entries as usize, n, "entry counter");
        self.check_indexes();
        self.check_draw();
        self.check_stages();
        self.check_windows();
    }

    /// Every identity and every queue id names exactly one entry, and every entry is
    /// named by exactly one of each: no identity holds two places.
    fn check_indexes(&self) {
        let n = self.entries.len();
        assert_eq!(self.identities.len(), n, "one identity per entry");
        assert_eq!(self.queue_ids.len(), n, "one queue id per entry");
        let mut by_identity = vec![false; n];
        for &index in self.identities.values() {
            let slot = by_identity.get_mut(index as usize).expect("identity points at an entry");
            assert!(!*slot, "entry {index} has two identities");
            *slot = true;
        }
        let mut by_queue_id = vec![false; n];
        for (queue_id, &index) in &self.queue_ids {
            let slot = by_queue_id.get_mut(index as usize).expect("queue id points at an entry");
            assert!(!*slot, "entry {index} has two queue ids");
            *slot = true;
            assert_eq!(self.entries[index as usize].queue_id, *queue_id, "queue id index agrees with the entry");
        }
    }

    /// The pre-queue is a prefix of the entries; once drawn, the order is a
    /// permutation of it and agrees with each entry's rank; late entries are ranked
    /// by arrival, so every rank is used exactly once.
    fn check_draw(&self) {
        let n = self.entries.len();
        let prequeue = self.prequeue_len as usize;
        assert!(prequeue <= n);
        if self.now < self.config.opens_at {
            assert_eq!(prequeue, n, "before the opening every entry is in the pre-queue");
        }
        match &self.order {
            None => {
                assert_eq!(self.admitted_upto, 0, "nobody is admitted before the draw");
                for (index, entry) in self.entries[..prequeue].iter().enumerate() {
                    assert_eq!((entry.rank, entry.stage), (RANK_NONE, Stage::PreQueue), "undrawn entry {index}");
                }
            }
            Some(order) => {
                assert!(self.now >= self.config.opens_at, "drawn before the opening");
                assert_eq!(order.len(), prequeue, "the draw covers the pre-queue");
                let mut seen = vec![false; prequeue];
                for (rank, &index) in order.iter().enumerate() {
                    let slot = seen.get_mut(index as usize).expect("the draw names pre-queue entries");
                    assert!(!*slot, "the draw names entry {index} twice");
                    *slot = true;
                    assert_eq!(self.entries[index as usize].rank as usize, rank, "entry {index} has its drawn rank");
                }
            }
        }
        for (index, entry) in self.entries.iter().enumerate().skip(prequeue) {
            assert_eq!(entry.rank as usize, index, "late entry {index} is ranked by arrival");
            assert_ne!(entry.stage, Stage::PreQueue, "late entry {index} in the pre-queue");
        }
    }

    /// Admission is strictly in order: ranks below the cursor left the line, ranks
    /// from it on are waiting, so no waiting fan stands ahead of an admitted one and
    /// the waiting positions run from 1 (after any undrawn pre-queue) without gaps.
    /// The counters equal a recount.
    fn check_stages(&self) {
        let n = self.entries.len();
        let ahead = if self.order.is_none() { self.prequeue_len } else { 0 };
        let mut counts = RoomCounts { entries: n as u32, ..RoomCounts::default() };
        let mut positions = vec![false; n];
        for (index, entry) in self.entries.iter().enumerate() {
            match entry.stage {
                Stage::PreQueue => {
                    assert!(self.order.is_none(), "entry {index} still in the pre-queue after the draw");
                    counts.prequeue += 1;
                }
                Stage::Waiting => {
                    counts.waiting += 1;
                    assert!(entry.rank >= self.admitted_upto, "waiting entry {index} behind the cursor");
                    let position = entry.rank - self.admitted_upto + 1;
                    let slot = positions.get_mut(position as usize - 1).expect("position within the entries");
                    assert!(!*slot, "two waiting fans at position {position}");
                    *slot = true;
                }
                Stage::Admitted | Stage::Done | Stage::Expired => {
                    assert!(entry.rank < self.admitted_upto, "entry {index} admitted out of order");
                    match entry.stage {
                        Stage::Admitted => counts.admitted += 1,
                        Stage::Done => counts.done += 1,
                        _ => counts.expired += 1,
                    }
                    assert_eq!(entry.stage == Stage::Admitted, self.admitted.contains_key(&(index as u32)));
                }
            }
        }
        assert_eq!(counts, self.counts, "counters equal a recount");
        let expected = ahead as usize..(ahead + counts.waiting) as usize;
        assert!(
            positions.iter().enumerate().all(|(p, taken)| *taken == expected.contains(&p)),
            "waiting positions are {}..={} without gaps",
            expected.start + 1,
            expected.end
        );
        assert_eq!(counts.admitted + counts.done + counts.expired, self.admitted_upto, "the cursor counts admissions");
        assert!(counts.admitted <= self.config.admitted_active_max, "checkout over its maximum");
    }

    /// Deadlines: the expiry index mirrors the admitted map; while running nothing
    /// due is left and nothing lasts longer than a window from now; while paused
    /// every deadline was still running at the pause and none was granted after it,
    /// which is what "no admission while paused" leaves behind.
    fn check_windows(&self) {
        let mirrored: BTreeSet<(TimeMs, u32)> = self.admitted.iter().map(|(&index, &until)| (until, index)).collect();
        assert_eq!(mirrored, self.expiry, "expiry index mirrors the admitted deadlines");
        let window = self.config.checkout_window_ms;
        let (after, latest) = match &self.status {
            Status::Paused(notice) => {
                assert!(notice.since <= self.now);
                assert!(notice.message.len() <= pause_message_bytes_max);
                (notice.since, notice.since.plus_ms(window))
            }
            Status::Running | Status::SoldOut => (self.now, self.now.plus_ms(window)),
        };
        for (&index, &until) in &self.admitted {
            assert!(until > after, "entry {index}'s window should have expired");
            assert!(until <= latest, "entry {index}'s window was granted while paused or is too long");
        }
    }
}
