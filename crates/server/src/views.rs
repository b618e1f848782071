//! Published read views: each event's availability (serialized to JSON once per
//! change) and sale state, and the venues (immutable once created). The writer
//! refreshes them after each durable batch and before it replies, so a client sees
//! its own write, and handlers render replies and polls without a second trip
//! through the writer's inbox — a poll costs a lock and a reference count.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use sturmfest_core as core;

use crate::http::dto::{Availability, SaleOut};

#[derive(Default)]
pub struct Views {
    events: RwLock<Vec<Option<Published>>>,
    venues: RwLock<Vec<Arc<core::Venue>>>,
}

struct Published {
    value: Availability,
    json: Bytes,
    etag: u64,
    sale: SaleOut,
    venue: u32,
}

impl Views {
    /// Called by the writer after each durable batch.
    pub fn refresh(&self, tenant: &core::Tenant) {
        if self.venues.read().expect("views lock").len() < tenant.venues().len() {
            let mut venues = self.venues.write().expect("views lock");
            let known = venues.len();
            venues.extend(tenant.venues()[known..].iter().map(|v| Arc::new(v.clone())));
        }
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
            current[index] = Some(Published { value, json, etag, sale, venue });
        }
    }

    /// The event's availability as JSON plus a version usable as an ETag.
    pub fn availability(&self, event: u32) -> Option<(Bytes, u64)> {
        let current = self.events.read().expect("views lock");
        current.get(event as usize)?.as_ref().map(|p| (p.json.clone(), p.etag))
    }

    /// Free places per category as `{"id","name","free"}`, for the waiting room's
    /// status poll: taken from the published value, so a poll parses no JSON.
    pub fn categories_free(&self, event: u32) -> Vec<serde_json::Value> {
        let current = self.events.read().expect("views lock");
        let Some(published) = current.get(event as usize).and_then(Option::as_ref) else { return Vec::new() };
        published.value.categories.iter().map(|c| serde_json::json!({"id": c.id, "name": c.name, "free": c.free})).collect()
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
