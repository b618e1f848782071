//! Published read views: each event's availability (serialized to JSON once per
//! change) and sale state, each waiting room's phase and admission cursor, and the
//! venues (immutable once created). The writer
//! refreshes them after each durable batch and before it replies, so a client sees
//! its own write, and handlers render replies and polls without a second trip
//! through the writer's inbox — a poll costs a lock and a reference count.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use sturmfest_core as core;

use crate::http::dto::{Availability, SaleOut};

#[derive(Default)]
pub struct Views {
    events: RwLock<Vec<Option<Published>>>,
    venues: RwLock<Vec<Arc<core::Venue>>>,
    rooms: RwLock<BTreeMap<u32, Arc<RoomView>>>,
}

/// What every fan of one waiting room shares, as of the writer's last batch: with
/// the rank a fan's signed place carries, it answers a waiting fan's poll without a
/// trip through the writer (see `WaitingRoom::rank`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomView {
    pub phase: core::queue::Phase,
    pub opens_at: core::TimeMs,
    pub message: Option<String>,
    pub resume_at: Option<core::TimeMs>,
    pub waiting: u32,
    pub admitted_upto: u32,
}

impl RoomView {
    fn of(room: &core::queue::WaitingRoom) -> RoomView {
        let notice = room.pause_notice();
        RoomView {
            phase: room.phase(),
            opens_at: room.config().opens_at,
            message: notice.map(|n| n.message.clone()),
            resume_at: notice.and_then(|n| n.resume_at),
            waiting: room.counts().waiting,
            admitted_upto: room.admitted_upto(),
        }
    }

    /// Whether `room` would publish as this view, without building one.
    fn matches(&self, room: &core::queue::WaitingRoom) -> bool {
        let notice = room.pause_notice();
        self.phase == room.phase()
            && self.opens_at == room.config().opens_at
            && self.message.as_deref() == notice.map(|n| n.message.as_str())
            && self.resume_at == notice.and_then(|n| n.resume_at)
            && self.waiting == room.counts().waiting
            && self.admitted_upto == room.admitted_upto()
    }
}

struct Published {
    value: Availability,
    json: Bytes,
    etag: u64,
    sale: SaleOut,
    venue: u32,
    free: CategoriesFree,
}

/// Free places per category as the waiting room's status poll shows them, built
/// once per change so a poll copies a reference count, not strings.
#[derive(Clone, Debug, Default)]
pub struct CategoriesFree(Arc<Vec<CategoryFree>>);

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CategoryFree {
    pub id: u16,
    pub name: String,
    pub free: u32,
}

impl serde::Serialize for CategoriesFree {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl CategoriesFree {
    pub fn iter(&self) -> impl Iterator<Item = &CategoryFree> {
        self.0.iter()
    }
}

impl Views {
    /// Called by the writer after each durable batch.
    pub fn refresh(&self, tenant: &core::Tenant) {
        if self.venues.read().expect("views lock").len() < tenant.venues().len() {
            let mut venues = self.venues.write().expect("views lock");
            let known = venues.len();
            venues.extend(tenant.venues()[known..].iter().map(|v| Arc::new(v.clone())));
        }
        self.refresh_rooms(tenant);
        let mut fresh = Vec::new();
        {
            let current = self.events.read().expect("views lock");
            for event in tenant.events() {
                let venue = tenant.venue(event.spec.venue).expect("events name existing venues");
                let value = Availability::of(event, venue);
                let index = event.id.0 as usize;
                let unchanged = current.get(index).and_then(Option::as_ref).is_some_and(|p| p.value == value);
                if !unchanged {
                    fresh.push((index, value, SaleOut::of(event), event.spec.venue.0));
                }
            }
        }
        if fresh.is_empty() {
            return;
        }
        let mut current = self.events.write().expect("views lock");
        for (index, value, sale, venue) in fresh {
            if current.len() <= index {
                current.resize_with(index + 1, || None);
            }
            let etag = current[index].as_ref().map_or(1, |p| p.etag + 1);
            let json = Bytes::from(serde_json::to_vec(&value).expect("availability serializes"));
            let free = CategoriesFree(Arc::new(
                value.categories.iter().map(|c| CategoryFree { id: c.id, name: c.name.clone(), free: c.free }).collect(),
            ));
            current[index] = Some(Published { value, json, etag, sale, venue, free });
        }
    }

    fn refresh_rooms(&self, tenant: &core::Tenant) {
        let stale: Vec<(u32, RoomView)> = {
            let current = self.rooms.read().expect("views lock");
            tenant
                .rooms()
                .filter(|(event, sale_room)| !current.get(&event.0).is_some_and(|v| v.matches(&sale_room.room)))
                .map(|(event, sale_room)| (event.0, RoomView::of(&sale_room.room)))
                .collect()
        };
        if !stale.is_empty() {
            let mut current = self.rooms.write().expect("views lock");
            for (event, view) in stale {
                current.insert(event, Arc::new(view));
            }
        }
    }

    /// The event's waiting room as of the last batch, if it has one.
    pub fn room(&self, event: u32) -> Option<Arc<RoomView>> {
        self.rooms.read().expect("views lock").get(&event).cloned()
    }

    /// The event's availability as JSON plus a version usable as an ETag.
    pub fn availability(&self, event: u32) -> Option<(Bytes, u64)> {
        let current = self.events.read().expect("views lock");
        current.get(event as usize)?.as_ref().map(|p| (p.json.clone(), p.etag))
    }

    /// Free places per category as `{"id","name","free"}`, for the waiting room's
    /// status poll.
    pub fn categories_free(&self, event: u32) -> CategoriesFree {
        let current = self.events.read().expect("views lock");
        current.get(event as usize).and_then(Option::as_ref).map(|p| p.free.clone()).unwrap_or_default()
    }

    pub fn sale(&self, event: u32) -> Option<SaleOut> {
        let current = self.events.read().expect("views lock");
        current.get(event as usize)?.as_ref().map(|p| p.sale.clone())
    }

    /// The venue an event takes place in; venues never change once created.
    pub fn venue_of_event(&self, event: u32) -> Option<Arc<core::Venue>> {
        let venue = self.events.read().expect("views lock").get(event as usize)?.as_ref()?.venue;
        self.venues.read().expect("views lock").get(venue as usize).cloned()
    }
}
