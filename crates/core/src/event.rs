//! Events (games) at a venue: price categories, channel quotas, the sale window and
//! sale status, and the live inventory — one state per seat plus counters that are
//! maintained incrementally so availability costs O(categories), not O(seats).

use std::collections::BTreeMap;

use crate::ids::*;
use crate::limits::*;
use crate::outcome::Rejection;
use crate::venue::{Venue, check_name};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    pub name: String,
    pub venue: VenueId,
    pub starts_at: TimeMs,
    pub sale_opens_at: TimeMs,
    pub sale_closes_at: TimeMs,
    pub categories: Vec<CategorySpec>,
    /// Per channel (`Channel::index`): at most this many tickets held or sold; `None` = no cap.
    pub quotas: [Option<u32>; 3],
    pub hold_duration_ms: i64,
    pub order_tickets_max: u32,
    /// Online only: held plus sold tickets per customer for this event.
    pub customer_tickets_max: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategorySpec {
    pub name: String,
    pub places: CategoryPlaces,
    pub tariffs: Vec<TariffSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CategoryPlaces {
    Blocks(Vec<BlockId>),
    Standing(AreaId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TariffSpec {
    pub name: String,
    pub price: Cents,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaleStatus {
    /// Created, not yet on sale.
    Draft,
    Open,
    Paused { since: TimeMs, message: String, resume_at: Option<TimeMs> },
    Closed,
}

impl SaleStatus {
    pub fn code(&self) -> &'static str {
        match self {
            SaleStatus::Draft => "draft",
            SaleStatus::Open => "open",
            SaleStatus::Paused { .. } => "paused",
            SaleStatus::Closed => "closed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeatState {
    /// In no price category of this event (e.g. a camera platform).
    NotForSale,
    Free,
    Held(HoldId),
    Sold(OrderId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counts {
    pub capacity: u32,
    pub held: u32,
    pub sold: u32,
}

impl Counts {
    pub fn free(&self) -> u32 {
        self.capacity - self.held - self.sold
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub spec: EventSpec,
    pub sale: SaleStatus,
    pub seats: Vec<SeatState>,
    pub seat_category: Vec<Option<CategoryId>>,
    pub area_category: Vec<Option<CategoryId>>,
    pub areas: Vec<Counts>,
    pub categories: Vec<Counts>,
    pub blocks_free: Vec<u32>,
    pub rows_free: Vec<u32>,
    /// Per `Channel::index`; `capacity` unused (quota lives in the spec).
    pub channels: [Counts; 3],
    /// Online tickets held or sold per customer.
    pub customers: BTreeMap<CustomerId, u32>,
}

impl Event {
    pub fn build(id: EventId, spec: EventSpec, venue: &Venue) -> Result<Event, Rejection> {
        validate(&spec, venue)?;
        let mut seat_category = vec![None; venue.seats.len()];
        let mut area_category = vec![None; venue.spec.standing.len()];
        let mut categories = vec![Counts::default(); spec.categories.len()];
        for (c, category) in spec.categories.iter().enumerate() {
            let cat = CategoryId(c as u16);
            match &category.places {
                CategoryPlaces::Blocks(blocks) => {
                    for block in blocks {
                        let range = venue.blocks[usize::from(block.0)].seats.clone();
                        categories[c].capacity += range.len() as u32;
                        for seat in range {
                            seat_category[seat as usize] = Some(cat);
                        }
                    }
                }
                CategoryPlaces::Standing(area) => {
                    area_category[usize::from(area.0)] = Some(cat);
                    categories[c].capacity += venue.spec.standing[usize::from(area.0)].capacity;
                }
            }
        }
        let seats = seat_category
            .iter()
            .map(|c| if c.is_some() { SeatState::Free } else { SeatState::NotForSale })
            .collect::<Vec<_>>();
        let rows_free = venue
            .rows
            .iter()
            .map(|row| row.seats.clone().filter(|s| seats[*s as usize] == SeatState::Free).count() as u32)
            .collect();
        let blocks_free = venue
            .blocks
            .iter()
            .map(|b| b.seats.clone().filter(|s| seats[*s as usize] == SeatState::Free).count() as u32)
            .collect();
        let areas = venue
            .spec
            .standing
            .iter()
            .enumerate()
            .map(|(a, area)| Counts {
                capacity: if area_category[a].is_some() { area.capacity } else { 0 },
                held: 0,
                sold: 0,
            })
            .collect();
        Ok(Event {
            id,
            spec,
            sale: SaleStatus::Draft,
            seats,
            seat_category,
            area_category,
            areas,
            categories,
            blocks_free,
            rows_free,
            channels: [Counts::default(); 3],
            customers: BTreeMap::new(),
        })
    }

    pub fn capacity(&self) -> u32 {
        self.categories.iter().map(|c| c.capacity).sum()
    }

    pub fn free(&self) -> u32 {
        self.categories.iter().map(Counts::free).sum()
    }

    pub fn sold(&self) -> u32 {
        self.categories.iter().map(|c| c.sold).sum()
    }

    pub fn held(&self) -> u32 {
        self.categories.iter().map(|c| c.held).sum()
    }

    /// Sale gate shared by holds and confirmations, checked in this order:
    /// status (draft, paused, closed), then the window (not started, ended).
    pub fn check_sale(&self, now: TimeMs) -> Result<(), Rejection> {
        match &self.sale {
            SaleStatus::Draft => return Err(Rejection::SaleNotOpen),
            SaleStatus::Closed => return Err(Rejection::SaleClosed),
            SaleStatus::Paused { message, resume_at, .. } => {
                return Err(Rejection::SalePaused { message: message.clone(), resume_at: *resume_at });
            }
            SaleStatus::Open => {}
        }
        if now < self.spec.sale_opens_at {
            return Err(Rejection::SaleNotStarted { opens_at: self.spec.sale_opens_at });
        }
        if now >= self.spec.sale_closes_at {
            return Err(Rejection::SaleEnded);
        }
        Ok(())
    }
}

fn validate(spec: &EventSpec, venue: &Venue) -> Result<(), Rejection> {
    let invalid = |why: &str| Err(Rejection::InvalidEvent { reason: why.to_string() });
    if check_name(&spec.name).is_err() {
        return invalid("event name must be 1 to 96 bytes");
    }
    if spec.sale_opens_at >= spec.sale_closes_at {
        return invalid("the sale must open before it closes");
    }
    if spec.categories.is_empty() || spec.categories.len() > event_categories_max {
        return invalid("an event needs 1 to 64 price categories");
    }
    if !(hold_duration_ms_min..=hold_duration_ms_max).contains(&spec.hold_duration_ms) {
        return invalid("hold duration must be 10 s to 1 h");
    }
    if spec.order_tickets_max == 0 || spec.order_tickets_max > hold_tickets_max {
        return invalid("tickets per order must be 1 to 64");
    }
    if spec.customer_tickets_max < spec.order_tickets_max {
        return invalid("tickets per customer must be at least tickets per order");
    }
    let mut block_used = vec![false; venue.blocks.len()];
    let mut area_used = vec![false; venue.spec.standing.len()];
    for (c, category) in spec.categories.iter().enumerate() {
        if check_name(&category.name).is_err() {
            return invalid("category name must be 1 to 96 bytes");
        }
        if spec.categories[..c].iter().any(|other| other.name == category.name) {
            return invalid("category names must be unique");
        }
        if category.tariffs.is_empty() || category.tariffs.len() > category_tariffs_max {
            return invalid("a category needs 1 to 16 tariffs");
        }
        for tariff in &category.tariffs {
            if check_name(&tariff.name).is_err() {
                return invalid("tariff name must be 1 to 96 bytes");
            }
            if tariff.price.0 < 0 || tariff.price.0 > price_cents_max {
                return invalid("prices must be 0 to 100000.00 EUR");
            }
        }
        match &category.places {
            CategoryPlaces::Blocks(blocks) => {
                if blocks.is_empty() {
                    return invalid("a seated category needs at least one block");
                }
                for block in blocks {
                    let Some(used) = block_used.get_mut(usize::from(block.0)) else {
                        return invalid("category names a block the venue does not have");
                    };
                    if *used {
                        return invalid("a block belongs to at most one category");
                    }
                    *used = true;
                }
            }
            CategoryPlaces::Standing(area) => {
                let Some(used) = area_used.get_mut(usize::from(area.0)) else {
                    return invalid("category names a standing area the venue does not have");
                };
                if *used {
                    return invalid("a standing area belongs to at most one category");
                }
                *used = true;
            }
        }
    }
    Ok(())
}
