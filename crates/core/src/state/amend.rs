//! Amending a game after it was created: the sale window, the channel quotas and
//! tariff prices. Everything else (venue, categories and their places, tariff
//! names) stays, because holds, orders, tickets and the waiting room refer to it.
//!
//! Safe by construction: a price lives in the spec only for new holds — a hold
//! keeps `price_each` and a ticket its `price` — so a price change never reaches
//! an existing hold or order; a quota may not go below what its channel already
//! holds and sold, so the quota invariant keeps holding; and an event behind a
//! waiting room keeps its opening, which the room was configured with.

use crate::command::EventAmendment;
use crate::event::SaleStatus;
use crate::ids::*;
use crate::limits::price_cents_max;
use crate::outcome::*;

use super::Tenant;

impl Tenant {
    /// Order: unknown event; closed sale; window; opening behind a room; quotas
    /// against held and sold per channel; each price's category, tariff and range.
    pub(super) fn amend_event(&mut self, id: EventId, amendment: &EventAmendment) -> Outcome {
        let invalid = |why: &str| Err(Rejection::InvalidEvent { reason: why.to_string() });
        let event = self.events.get(id.0 as usize).ok_or(Rejection::UnknownEvent)?;
        if event.sale == SaleStatus::Closed {
            return Err(Rejection::SaleClosed);
        }
        if amendment.sale_opens_at >= amendment.sale_closes_at {
            return invalid("the sale must open before it closes");
        }
        if self.room(id).is_some() && amendment.sale_opens_at != event.spec.sale_opens_at {
            return invalid("the opening of a sale behind a waiting room cannot move");
        }
        for channel in Channel::ALL {
            let counts = event.channels[channel.index()];
            if amendment.quotas[channel.index()].is_some_and(|quota| quota < counts.held + counts.sold) {
                return invalid("a quota may not go below the tickets its channel holds and sold");
            }
        }
        for (category, tariff, price) in &amendment.prices {
            let Some(spec) = event.spec.categories.get(usize::from(category.0)) else { return Err(Rejection::UnknownCategory) };
            if spec.tariffs.get(usize::from(tariff.0)).is_none() {
                return Err(Rejection::UnknownTariff);
            }
            if price.0 < 0 || price.0 > price_cents_max {
                return invalid("prices must be 0 to 100000.00 EUR");
            }
        }
        let event = &mut self.events[id.0 as usize];
        event.spec.sale_opens_at = amendment.sale_opens_at;
        event.spec.sale_closes_at = amendment.sale_closes_at;
        event.spec.quotas = amendment.quotas;
        for (category, tariff, price) in &amendment.prices {
            event.spec.categories[usize::from(category.0)].tariffs[usize::from(tariff.0)].price = *price;
        }
        Ok(Reply::EventAmended { event: id })
    }
}
