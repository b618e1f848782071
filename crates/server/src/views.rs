//! Published read views: each event's availability, serialized to JSON once per
//! change by the writer and handed out as shared bytes, so a poll costs a lock and a
//! reference-count increment, not a trip through the writer's inbox.

use std::sync::RwLock;

use bytes::Bytes;
use sturmfest_core as core;

use crate::http::dto::Availability;

#[derive(Default)]
pub struct Views {
    events: RwLock<Vec<Option<Published>>>,
}

struct Published {
    value: Availability,
    json: Bytes,
    etag: u64,
}

impl Views {
    /// Called by the writer after each durable batch.
    pub fn refresh(&self, tenant: &core::Tenant) {
        let mut fresh = Vec::new();
        {
            let current = self.events.read().expect("views lock");
            for event in tenant.events() {
                let venue = tenant.venue(event.spec.venue).expect("events name existing venues");
                let value = Availability::of(event, venue);
                let index = event.id.0 as usize;
                let unchanged = current.get(index).and_then(Option::as_ref).is_some_and(|p| p.value == value);
                if !unchanged {
                    fresh.push((index, value));
                }
            }
        }
        if fresh.is_empty() {
            return;
        }
        let mut current = self.events.write().expect("views lock");
        for (index, value) in fresh {
            if current.len() <= index {
                current.resize_with(index + 1, || None);
            }
            let etag = current[index].as_ref().map_or(1, |p| p.etag + 1);
            let json = Bytes::from(serde_json::to_vec(&value).expect("availability serializes"));
            current[index] = Some(Published { value, json, etag });
        }
    }

    /// The event's availability as JSON plus a version usable as an ETag.
    pub fn availability(&self, event: u32) -> Option<(Bytes, u64)> {
        let current = self.events.read().expect("views lock");
        current.get(event as usize)?.as_ref().map(|p| (p.json.clone(), p.etag))
    }
}
