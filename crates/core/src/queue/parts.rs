//! A waiting room taken apart for a snapshot and put together again. The parts are
//! the room's facts (entries in join order, the draw, the cursor, the status); every
//! index is rebuilt on restore and every invariant checked.

use super::{Entry, PauseNotice, QueueId, RANK_NONE, RoomConfig, RoomCounts, Stage, Status, WaitingRoom};
use crate::ids::TimeMs;
use crate::queue::IdentityKey;

/// One entry: who, under which queue id, where in line, and (in checkout) until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryParts {
    pub identity: IdentityKey,
    pub queue_id: QueueId,
    /// 0-based rank; `None` in the pre-queue before the draw.
    pub rank: Option<u32>,
    /// 0 pre-queue, 1 waiting, 2 admitted, 3 done, 4 expired.
    pub stage: u8,
    /// The checkout deadline of an admitted entry.
    pub until: Option<TimeMs>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusParts {
    Running,
    Paused(PauseNotice),
    SoldOut,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomParts {
    pub config: RoomConfig,
    pub now: TimeMs,
    pub entries: Vec<EntryParts>,
    pub prequeue_len: u32,
    pub order: Option<Vec<u32>>,
    pub admitted_upto: u32,
    pub status: StatusParts,
}

const STAGES: [Stage; 5] = [Stage::PreQueue, Stage::Waiting, Stage::Admitted, Stage::Done, Stage::Expired];

impl WaitingRoom {
    pub fn parts(&self) -> RoomParts {
        let mut identities = vec![IdentityKey(0); self.entries.len()];
        for (identity, &index) in &self.identities {
            identities[index as usize] = *identity;
        }
        RoomParts {
            config: self.config.clone(),
            now: self.now,
            entries: self
                .entries
                .iter()
                .enumerate()
                .map(|(index, entry)| EntryParts {
                    identity: identities[index],
                    queue_id: entry.queue_id,
                    rank: (entry.rank != RANK_NONE).then_some(entry.rank),
                    stage: STAGES.iter().position(|s| *s == entry.stage).expect("a known stage") as u8,
                    until: self.admitted.get(&(index as u32)).copied(),
                })
                .collect(),
            prequeue_len: self.prequeue_len,
            order: self.order.clone(),
            admitted_upto: self.admitted_upto,
            status: match &self.status {
                Status::Running => StatusParts::Running,
                Status::Paused(notice) => StatusParts::Paused(notice.clone()),
                Status::SoldOut => StatusParts::SoldOut,
            },
        }
    }

    /// Rebuilds a room from its parts. Structural defects are errors; a room that
    /// is well-formed but breaks an invariant panics in `check_invariants`, as a
    /// snapshot we wrote ourselves and checksummed cannot lie by accident.
    pub fn restore(parts: RoomParts) -> Result<WaitingRoom, String> {
        let mut room = WaitingRoom::new(parts.config).map_err(|r| format!("room config: {}", r.code()))?;
        room.now = parts.now;
        if parts.prequeue_len as usize > parts.entries.len() || parts.admitted_upto as usize > parts.entries.len() {
            return Err("room cursor beyond its entries".into());
        }
        let mut counts = RoomCounts::default();
        for (index, entry) in parts.entries.iter().enumerate() {
            let index = index as u32;
            let stage = *STAGES.get(usize::from(entry.stage)).ok_or("unknown room entry stage")?;
            if room.identities.insert(entry.identity, index).is_some() || room.queue_ids.insert(entry.queue_id, index).is_some() {
                return Err("room identity or queue id repeated".into());
            }
            match (stage, entry.until) {
                (Stage::Admitted, Some(until)) => {
                    room.admitted.insert(index, until);
                    room.expiry.insert((until, index));
                }
                (Stage::Admitted, None) | (_, Some(_)) => return Err("checkout deadline on the wrong entry".into()),
                _ => {}
            }
            match stage {
                Stage::PreQueue => counts.prequeue += 1,
                Stage::Waiting => counts.waiting += 1,
                Stage::Admitted => counts.admitted += 1,
                Stage::Done => counts.done += 1,
                Stage::Expired => counts.expired += 1,
            }
            counts.entries += 1;
            room.entries.push(Entry { queue_id: entry.queue_id, rank: entry.rank.unwrap_or(RANK_NONE), stage });
        }
        room.prequeue_len = parts.prequeue_len;
        room.order = parts.order;
        room.admitted_upto = parts.admitted_upto;
        room.counts = counts;
        room.status = match parts.status {
            StatusParts::Running => Status::Running,
            StatusParts::Paused(notice) => Status::Paused(notice),
            StatusParts::SoldOut => Status::SoldOut,
        };
        room.check_invariants();
        Ok(room)
    }
}
