//! The tenant's waiting rooms: one per event that sells behind a queue. The room
//! decides who may shop (see `queue`); the tenant ties it to the sale, so the two
//! never disagree: the sale's brake pauses the room in the same command, the last
//! confirmed place sells the room out, admission is capped by what the event really
//! has left, and an online hold in such an event needs an identity the room admitted.

use crate::command::SaleAction;
use crate::event::SaleStatus;
use crate::ids::*;
use crate::outcome::*;
use crate::queue::{IdentityKey, Place as RoomPlace, RoomCommand, RoomConfig, RoomEnvelope, RoomRejection, RoomReply, WaitingRoom};

use super::Tenant;

/// A room and the secret behind its draw's commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleRoom {
    pub room: WaitingRoom,
    pub seed: [u8; 32],
}

impl Tenant {
    pub fn room(&self, event: EventId) -> Option<&SaleRoom> {
        self.rooms.get(&event)
    }

    pub fn rooms(&self) -> impl Iterator<Item = (EventId, &SaleRoom)> {
        self.rooms.iter().map(|(e, r)| (*e, r))
    }

    /// Order: unknown event; room exists; opening differs from the sale's; the
    /// room's own config checks.
    pub(super) fn create_room(&mut self, event: EventId, config: &RoomConfig, seed: [u8; 32]) -> Outcome {
        let spec = &self.events.get(event.0 as usize).ok_or(Rejection::UnknownEvent)?.spec;
        if self.rooms.contains_key(&event) {
            return Err(Rejection::RoomExists);
        }
        if config.opens_at != spec.sale_opens_at {
            return Err(Rejection::InvalidRequest { reason: "the room opens with the sale: opens_at must be the sale's opening" });
        }
        let mut room = WaitingRoom::new(config.clone()).map_err(Rejection::Room)?;
        // Bring the room to the tenant's time so its phase is current from the start.
        room.apply(&RoomEnvelope { time: self.now, command: RoomCommand::Tick }).expect("a tick is never rejected");
        self.rooms.insert(event, SaleRoom { room, seed });
        Ok(Reply::RoomCreated { event })
    }

    /// Order: unknown event; no room; a command reserved to the sale (pause,
    /// resume, sold out); then the room's own order.
    pub(super) fn room_command(&mut self, event: EventId, command: &RoomCommand) -> Outcome {
        let unsold = {
            let event = self.events.get(event.0 as usize).ok_or(Rejection::UnknownEvent)?;
            event.capacity() - event.sold()
        };
        let now = self.now;
        let room = &mut self.rooms.get_mut(&event).ok_or(Rejection::UnknownRoom)?.room;
        let command = match command {
            RoomCommand::Pause { .. } | RoomCommand::Resume | RoomCommand::SoldOut => {
                return Err(Rejection::InvalidRequest { reason: "the sale's brake and sell-out drive the room; send them to the sale" });
            }
            RoomCommand::Admit { count, .. } => RoomCommand::Admit { count: *count, unsold_places: unsold },
            other => other.clone(),
        };
        let reply = room.apply(&RoomEnvelope { time: now, command }).map_err(Rejection::Room)?;
        Ok(Reply::Room { event, reply })
    }

    /// Lets every room's time pass with the tenant's (checkout windows expire).
    pub(super) fn tick_rooms(&mut self) {
        let now = self.now;
        for sale_room in self.rooms.values_mut() {
            sale_room.room.apply(&RoomEnvelope { time: now, command: RoomCommand::Tick }).expect("a tick is never rejected");
        }
    }

    /// Whether an online hold may be taken: events without a room, yes; with one,
    /// only for an identity the room has in checkout right now.
    pub(super) fn check_admission(&self, event: EventId, admission: Option<IdentityKey>) -> Result<(), Rejection> {
        let Some(sale_room) = self.rooms.get(&event) else { return Ok(()) };
        let identity = admission.ok_or(Rejection::AdmissionRequired)?;
        match sale_room.room.place(identity) {
            // The room's clock may trail the tenant's by a command; the deadline decides.
            Some(RoomPlace::Admitted { until }) if until > self.now => Ok(()),
            Some(_) => Err(Rejection::Room(RoomRejection::NotAdmitted)),
            None => Err(Rejection::Room(RoomRejection::UnknownIdentity)),
        }
    }

    /// After a sale change: the brake pauses the room, a restart resumes it, a
    /// closed sale ends it. Checked before the sale changed, so it cannot fail.
    pub(super) fn sale_changed_room(&mut self, event: EventId, action: &SaleAction) {
        let now = self.now;
        let Some(sale_room) = self.rooms.get_mut(&event) else { return };
        let room = &mut sale_room.room;
        if room.phase() == crate::queue::Phase::SoldOut {
            return;
        }
        let command = match (action, &self.events[event.0 as usize].sale) {
            (SaleAction::Pause { message, resume_at }, SaleStatus::Paused { .. }) => {
                // The room only announces a restart that is still ahead.
                RoomCommand::Pause { message: message.clone(), resume_at: resume_at.filter(|at| *at > now) }
            }
            (SaleAction::Resume, SaleStatus::Open) if room.pause_notice().is_some() => RoomCommand::Resume,
            (SaleAction::Close, SaleStatus::Closed) => RoomCommand::SoldOut,
            _ => return,
        };
        room.apply(&RoomEnvelope { time: now, command }).expect("the sale checked what the room checks");
    }

    /// After a confirmation: with nothing free and nothing held, the room is sold
    /// out and every fan in line is told at once.
    pub(super) fn confirmed_room(&mut self, event: EventId) {
        let now = self.now;
        // Most events have no room: look that up before counting anything.
        let Some(sale_room) = self.rooms.get_mut(&event) else { return };
        let e = &self.events[event.0 as usize];
        let done = e.free() == 0 && e.held() == 0;
        if done && sale_room.room.phase() != crate::queue::Phase::SoldOut {
            let reply = sale_room.room.apply(&RoomEnvelope { time: now, command: RoomCommand::SoldOut });
            assert!(matches!(reply, Ok(RoomReply::SoldOut { .. })), "{reply:?}");
        }
    }
}
