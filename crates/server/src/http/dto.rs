//! Request and response bodies of the HTTP API, with their OpenAPI schemas, and the
//! explicit conversions from core types. Serialization marks the boundary: nothing
//! here leaks into the core, and the core's types never derive `Serialize`.

use serde::{Deserialize, Serialize};
use sturmfest_core as core;
use utoipa::ToSchema;

pub fn time_string(t: core::TimeMs) -> String {
    jiff::Timestamp::from_millisecond(t.0).map(|ts| ts.to_string()).unwrap_or_else(|_| t.0.to_string())
}

pub fn euros(c: core::Cents) -> String {
    c.to_string()
}

// ----- venues -----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VenueIn {
    pub name: String,
    #[serde(default)]
    pub blocks: Vec<BlockIn>,
    #[serde(default)]
    pub standing: Vec<StandingIn>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockIn {
    pub name: String,
    pub rows: Vec<RowIn>,
}

/// A row lists its seats, or generates `seat_count` numbered seats left to right.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RowIn {
    pub label: String,
    #[serde(default)]
    pub seats: Vec<SeatIn>,
    pub seat_count: Option<u32>,
    pub first_label: Option<u32>,
    pub x: Option<i32>,
    pub y: Option<i32>,
    pub dx: Option<i32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatIn {
    pub label: String,
    pub x: i32,
    pub y: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StandingIn {
    pub name: String,
    pub capacity: u32,
}

impl VenueIn {
    /// Expands generated rows. Counts are checked against the core's limits before
    /// anything is expanded: `seat_count` turns 30 bytes of JSON into 512 seats, so a
    /// body within the size limit could otherwise ask for millions of them.
    pub fn into_spec(self) -> Result<core::VenueSpec, &'static str> {
        use core::limits::{venue_areas_max, venue_blocks_max, venue_rows_max, venue_seats_max};
        if self.blocks.len() > venue_blocks_max {
            return Err("a venue has at most 512 blocks");
        }
        if self.standing.len() > venue_areas_max {
            return Err("a venue has at most 64 standing areas");
        }
        let rows: usize = self.blocks.iter().map(|b| b.rows.len()).sum();
        if rows > venue_rows_max {
            return Err("a venue has at most 8192 rows");
        }
        let seats: u64 = self
            .blocks
            .iter()
            .flat_map(|b| &b.rows)
            .map(|r| r.seat_count.map_or(r.seats.len() as u64, u64::from))
            .sum();
        if seats > venue_seats_max as u64 {
            return Err("a venue has at most 100000 seats");
        }
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for block in self.blocks {
            let mut rows = Vec::with_capacity(block.rows.len());
            for row in block.rows {
                let seats = match (row.seat_count, row.seats.is_empty()) {
                    (Some(_), false) => return Err("a row gives either seats or seat_count, not both"),
                    (Some(count), true) => {
                        if count == 0 || count as usize > core::limits::row_seats_max {
                            return Err("seat_count must be 1 to 512");
                        }
                        let first = row.first_label.unwrap_or(1);
                        let (x, y, dx) = (row.x.unwrap_or(0), row.y.unwrap_or(0), row.dx.unwrap_or(10));
                        (0..count)
                            .map(|i| core::SeatSpec {
                                label: (first.saturating_add(i)).to_string(),
                                x: x.saturating_add(dx.saturating_mul(i as i32)),
                                y,
                            })
                            .collect()
                    }
                    (None, _) => row.seats.into_iter().map(|s| core::SeatSpec { label: s.label, x: s.x, y: s.y }).collect(),
                };
                rows.push(core::RowSpec { label: row.label, seats });
            }
            blocks.push(core::BlockSpec { name: block.name, rows });
        }
        let standing =
            self.standing.into_iter().map(|a| core::StandingSpec { name: a.name, capacity: a.capacity }).collect();
        Ok(core::VenueSpec { name: self.name, blocks, standing })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VenueOut {
    pub id: u32,
    pub name: String,
    pub capacity_seats: u32,
    pub blocks: Vec<BlockOut>,
    pub areas: Vec<AreaOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlockOut {
    pub id: u16,
    pub name: String,
    pub rows: Vec<RowOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RowOut {
    pub label: String,
    /// Seat ids of this row, left to right; ids are consecutive.
    pub first_seat: u32,
    pub seat_count: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AreaOut {
    pub id: u16,
    pub name: String,
    pub capacity: u32,
}

impl VenueOut {
    pub fn of(id: core::VenueId, v: &core::Venue) -> VenueOut {
        VenueOut {
            id: id.0,
            name: v.spec.name.clone(),
            capacity_seats: v.seat_count(),
            blocks: v
                .spec
                .blocks
                .iter()
                .zip(&v.blocks)
                .enumerate()
                .map(|(b, (spec, block))| BlockOut {
                    id: b as u16,
                    name: spec.name.clone(),
                    rows: block
                        .rows
                        .clone()
                        .zip(&spec.rows)
                        .map(|(r, row)| {
                            let seats = &v.rows[r as usize].seats;
                            RowOut { label: row.label.clone(), first_seat: seats.start, seat_count: seats.len() as u32 }
                        })
                        .collect(),
                })
                .collect(),
            areas: v
                .spec
                .standing
                .iter()
                .enumerate()
                .map(|(a, area)| AreaOut { id: a as u16, name: area.name.clone(), capacity: area.capacity })
                .collect(),
        }
    }
}

// ----- events -----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    pub name: String,
    pub venue: u32,
    /// RFC 3339, e.g. `2026-12-02T19:30:00+01:00`.
    pub starts_at: String,
    pub sale_opens_at: String,
    pub sale_closes_at: String,
    pub categories: Vec<CategoryIn>,
    #[serde(default)]
    pub quotas: QuotasIn,
    #[serde(default = "default_hold_secs")]
    pub hold_duration_secs: u32,
    #[serde(default = "default_order_max")]
    pub order_tickets_max: u32,
    #[serde(default = "default_customer_max")]
    pub customer_tickets_max: u32,
}

fn default_hold_secs() -> u32 {
    600
}
fn default_order_max() -> u32 {
    8
}
fn default_customer_max() -> u32 {
    8
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryIn {
    pub name: String,
    /// Seated: block ids. Give either `blocks` or `area`.
    pub blocks: Option<Vec<u16>>,
    /// Standing: an area id.
    pub area: Option<u16>,
    pub tariffs: Vec<TariffIn>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TariffIn {
    pub name: String,
    pub price_cents: i64,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotasIn {
    pub online: Option<u32>,
    pub box_office: Option<u32>,
    pub reserved: Option<u32>,
}

pub fn parse_time(s: &str) -> Result<core::TimeMs, &'static str> {
    let ts: jiff::Timestamp = s.parse().map_err(|_| "times must be RFC 3339, e.g. 2026-12-02T19:30:00+01:00")?;
    Ok(core::TimeMs(ts.as_millisecond()))
}

impl EventIn {
    pub fn into_spec(self) -> Result<core::EventSpec, &'static str> {
        let mut categories = Vec::with_capacity(self.categories.len());
        for c in self.categories {
            let places = match (c.blocks, c.area) {
                (Some(blocks), None) => core::CategoryPlaces::Blocks(blocks.into_iter().map(core::BlockId).collect()),
                (None, Some(area)) => core::CategoryPlaces::Standing(core::AreaId(area)),
                _ => return Err("a category gives either blocks or area"),
            };
            let tariffs = c
                .tariffs
                .into_iter()
                .map(|t| core::TariffSpec { name: t.name, price: core::Cents(t.price_cents) })
                .collect();
            categories.push(core::CategorySpec { name: c.name, places, tariffs });
        }
        Ok(core::EventSpec {
            name: self.name,
            venue: core::VenueId(self.venue),
            starts_at: parse_time(&self.starts_at)?,
            sale_opens_at: parse_time(&self.sale_opens_at)?,
            sale_closes_at: parse_time(&self.sale_closes_at)?,
            categories,
            quotas: [self.quotas.online, self.quotas.box_office, self.quotas.reserved],
            hold_duration_ms: i64::from(self.hold_duration_secs) * 1000,
            order_tickets_max: self.order_tickets_max,
            customer_tickets_max: self.customer_tickets_max,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SaleOut {
    /// `draft`, `open`, `paused` or `closed`.
    pub status: String,
    pub opens_at: String,
    pub closes_at: String,
    /// While paused: the announcement shown to buyers.
    pub message: Option<String>,
    pub resume_at: Option<String>,
}

impl SaleOut {
    pub fn of(e: &core::Event) -> SaleOut {
        let (message, resume_at) = match &e.sale {
            core::SaleStatus::Paused { message, resume_at, .. } => (Some(message.clone()), resume_at.map(time_string)),
            _ => (None, None),
        };
        SaleOut {
            status: e.sale.code().to_string(),
            opens_at: time_string(e.spec.sale_opens_at),
            closes_at: time_string(e.spec.sale_closes_at),
            message,
            resume_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventSummary {
    pub id: u32,
    pub name: String,
    pub venue: u32,
    pub starts_at: String,
    pub sale: SaleOut,
    pub capacity: u32,
    pub free: u32,
}

impl EventSummary {
    pub fn of(e: &core::Event) -> EventSummary {
        EventSummary {
            id: e.id.0,
            name: e.spec.name.clone(),
            venue: e.spec.venue.0,
            starts_at: time_string(e.spec.starts_at),
            sale: SaleOut::of(e),
            capacity: e.capacity(),
            free: e.free(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    #[serde(flatten)]
    pub summary: EventSummary,
    pub categories: Vec<CategoryOut>,
    pub quotas: QuotasIn,
    pub hold_duration_secs: i64,
    pub order_tickets_max: u32,
    pub customer_tickets_max: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryOut {
    pub id: u16,
    pub name: String,
    /// `seated` or `standing`.
    pub kind: String,
    pub blocks: Vec<u16>,
    pub area: Option<u16>,
    pub tariffs: Vec<TariffOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TariffOut {
    pub id: u16,
    pub name: String,
    pub price_cents: i64,
    pub price: String,
}

impl EventOut {
    pub fn of(e: &core::Event) -> EventOut {
        EventOut {
            summary: EventSummary::of(e),
            categories: e
                .spec
                .categories
                .iter()
                .enumerate()
                .map(|(c, cat)| CategoryOut {
                    id: c as u16,
                    name: cat.name.clone(),
                    kind: match cat.places {
                        core::CategoryPlaces::Blocks(_) => "seated".into(),
                        core::CategoryPlaces::Standing(_) => "standing".into(),
                    },
                    blocks: match &cat.places {
                        core::CategoryPlaces::Blocks(b) => b.iter().map(|b| b.0).collect(),
                        core::CategoryPlaces::Standing(_) => vec![],
                    },
                    area: match cat.places {
                        core::CategoryPlaces::Standing(a) => Some(a.0),
                        core::CategoryPlaces::Blocks(_) => None,
                    },
                    tariffs: cat
                        .tariffs
                        .iter()
                        .enumerate()
                        .map(|(t, tariff)| TariffOut {
                            id: t as u16,
                            name: tariff.name.clone(),
                            price_cents: tariff.price.0,
                            price: euros(tariff.price),
                        })
                        .collect(),
                })
                .collect(),
            quotas: QuotasIn {
                online: e.spec.quotas[0],
                box_office: e.spec.quotas[1],
                reserved: e.spec.quotas[2],
            },
            hold_duration_secs: e.spec.hold_duration_ms / 1000,
            order_tickets_max: e.spec.order_tickets_max,
            customer_tickets_max: e.spec.customer_tickets_max,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleIn {
    /// `open`, `pause`, `resume` or `close`.
    pub action: String,
    pub message: Option<String>,
    pub resume_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub id: u64,
}

// ----- availability and seats -----

#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct Availability {
    pub event: u32,
    pub sale: String,
    pub message: Option<String>,
    pub resume_at: Option<String>,
    pub capacity: u32,
    pub free: u32,
    pub held: u32,
    pub sold: u32,
    pub categories: Vec<CategoryAvailability>,
    pub blocks: Vec<PlaceFree>,
    pub areas: Vec<PlaceFree>,
}

#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct CategoryAvailability {
    pub id: u16,
    pub name: String,
    pub kind: String,
    pub capacity: u32,
    pub free: u32,
    pub held: u32,
    pub sold: u32,
}

#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct PlaceFree {
    pub id: u16,
    pub name: String,
    pub free: u32,
}

impl Availability {
    pub fn of(e: &core::Event, venue: &core::Venue) -> Availability {
        let sale = SaleOut::of(e);
        Availability {
            event: e.id.0,
            sale: sale.status,
            message: sale.message,
            resume_at: sale.resume_at,
            capacity: e.capacity(),
            free: e.free(),
            held: e.held(),
            sold: e.sold(),
            categories: e
                .categories
                .iter()
                .zip(&e.spec.categories)
                .enumerate()
                .map(|(c, (counts, spec))| CategoryAvailability {
                    id: c as u16,
                    name: spec.name.clone(),
                    kind: match spec.places {
                        core::CategoryPlaces::Blocks(_) => "seated".into(),
                        core::CategoryPlaces::Standing(_) => "standing".into(),
                    },
                    capacity: counts.capacity,
                    free: counts.free(),
                    held: counts.held,
                    sold: counts.sold,
                })
                .collect(),
            blocks: venue
                .spec
                .blocks
                .iter()
                .enumerate()
                .filter(|(b, _)| {
                    let block = core::BlockId(*b as u16);
                    e.spec.categories.iter().any(|c| matches!(&c.places, core::CategoryPlaces::Blocks(bs) if bs.contains(&block)))
                })
                .map(|(b, spec)| PlaceFree { id: b as u16, name: spec.name.clone(), free: e.blocks_free[b] })
                .collect(),
            areas: venue
                .spec
                .standing
                .iter()
                .enumerate()
                .filter(|(a, _)| e.area_category[*a].is_some())
                .map(|(a, spec)| PlaceFree { id: a as u16, name: spec.name.clone(), free: e.areas[a].free() })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatMap {
    pub event: u32,
    pub seats: Vec<SeatOut>,
    pub areas: Vec<PlaceFree>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatOut {
    pub id: u32,
    pub block: u16,
    pub row: String,
    pub seat: String,
    pub x: i32,
    pub y: i32,
    pub category: Option<u16>,
    /// `free`, `held`, `sold` or `not_for_sale`.
    pub state: &'static str,
}

impl SeatMap {
    pub fn of(e: &core::Event, venue: &core::Venue) -> SeatMap {
        let seats = (0..venue.seat_count())
            .map(|s| {
                let id = core::SeatId(s);
                let (_, row, seat) = venue.seat_labels(id).expect("seat ids are dense");
                let spec = venue.seat_spec(id).expect("seat ids are dense");
                SeatOut {
                    id: s,
                    block: venue.seats[s as usize].block.0,
                    row: row.to_string(),
                    seat: seat.to_string(),
                    x: spec.x,
                    y: spec.y,
                    category: e.seat_category[s as usize].map(|c| c.0),
                    state: match e.seats[s as usize] {
                        core::SeatState::NotForSale => "not_for_sale",
                        core::SeatState::Free => "free",
                        core::SeatState::Held(_) => "held",
                        core::SeatState::Sold(_) => "sold",
                    },
                }
            })
            .collect();
        let availability = Availability::of(e, venue);
        SeatMap { event: e.id.0, seats, areas: availability.areas }
    }
}

// ----- holds and orders -----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldIn {
    /// The buyer's identity as the shop knows it (account id, session); 1–128 bytes.
    pub customer: String,
    #[serde(default)]
    pub tariff: u16,
    pub selection: SelectionIn,
    /// Staff only: `box_office` or `reserved`. Public holds are `online`.
    pub channel: Option<String>,
    /// For an event behind a waiting room: the admission credential from the
    /// queue status (kind 2). The hold is then the admitted fan's.
    pub admission: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SelectionIn {
    Seats { seats: Vec<u32> },
    Standing { area: u16, quantity: u32 },
    BestAvailable { category: u16, block: Option<u16>, quantity: u32 },
}

impl SelectionIn {
    pub fn into_core(self) -> core::Selection {
        match self {
            SelectionIn::Seats { seats } => core::Selection::Seats(seats.into_iter().map(core::SeatId).collect()),
            SelectionIn::Standing { area, quantity } => {
                core::Selection::Standing { area: core::AreaId(area), quantity }
            }
            SelectionIn::BestAvailable { category, block, quantity } => core::Selection::BestAvailable {
                category: core::CategoryId(category),
                block: block.map(core::BlockId),
                quantity,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceOut {
    pub seat: Option<u32>,
    pub area: Option<u16>,
    /// e.g. `Block A · Reihe 3 · Platz 12` or `Stehplatz Nord`.
    pub label: String,
}

pub fn place_out(venue: &core::Venue, place: core::Place) -> PlaceOut {
    match place {
        core::Place::Seat(seat) => {
            let label = venue
                .seat_labels(seat)
                .map(|(b, r, s)| format!("Block {b} · Reihe {r} · Platz {s}"))
                .unwrap_or_default();
            PlaceOut { seat: Some(seat.0), area: None, label }
        }
        core::Place::Standing(area) => PlaceOut {
            seat: None,
            area: Some(area.0),
            label: venue.spec.standing.get(usize::from(area.0)).map(|a| a.name.clone()).unwrap_or_default(),
        },
    }
}

pub fn places_out(venue: &core::Venue, places: &core::Places) -> Vec<PlaceOut> {
    match places {
        core::Places::Seats(seats) => seats.iter().map(|s| place_out(venue, core::Place::Seat(*s))).collect(),
        core::Places::Standing { area, quantity } => {
            (0..*quantity).map(|_| place_out(venue, core::Place::Standing(*area))).collect()
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldOut {
    /// The token that addresses this hold (release, confirm).
    pub hold: String,
    pub hold_id: u64,
    pub event: u32,
    pub expires_at: String,
    pub places: Vec<PlaceOut>,
    pub total_cents: i64,
    pub total: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Released {
    pub released: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmIn {
    pub payment_ref: String,
    pub buyer: BuyerIn,
    /// The admission the hold was taken with, if any: confirming ends that fan's
    /// checkout window and frees the slot for the next in line.
    pub admission: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyerIn {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Confirmed {
    /// The token that addresses this order.
    pub order: String,
    pub order_id: u64,
    pub total_cents: i64,
    pub total: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderOut {
    pub order_id: u64,
    pub event: u32,
    pub channel: &'static str,
    pub created_at: String,
    pub payment_ref: String,
    pub buyer: BuyerIn,
    pub tickets: Vec<TicketOut>,
    pub paid_cents: i64,
    pub paid: String,
    pub refunded_cents: i64,
    pub refunded: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketOut {
    pub index: u16,
    #[serde(flatten)]
    pub place: PlaceOut,
    pub category: u16,
    pub tariff: u16,
    pub price_cents: i64,
    /// `valid` or `cancelled`.
    pub state: &'static str,
}

impl OrderOut {
    pub fn of(o: &core::Order, venue: &core::Venue) -> OrderOut {
        OrderOut {
            order_id: o.id.0,
            event: o.event.0,
            channel: o.channel.code(),
            created_at: time_string(o.created_at),
            payment_ref: o.payment.clone(),
            buyer: BuyerIn { name: o.buyer.name.clone(), email: o.buyer.email.clone() },
            tickets: o
                .tickets
                .iter()
                .enumerate()
                .map(|(i, t)| TicketOut {
                    index: i as u16,
                    place: place_out(venue, t.place),
                    category: t.category.0,
                    tariff: t.tariff.0,
                    price_cents: t.price.0,
                    state: if t.cancelled_at.is_some() { "cancelled" } else { "valid" },
                })
                .collect(),
            paid_cents: o.paid().0,
            paid: euros(o.paid()),
            refunded_cents: o.refunded().0,
            refunded: euros(o.refunded()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub orders: Vec<OrderOut>,
    /// Pass as `after` for the next page; `null` at the end.
    pub next_after: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelIn {
    /// Ticket indices; omit or `null` for the whole order.
    pub tickets: Option<Vec<u16>>,
    /// `full` or `none`.
    pub refund: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancelledOut {
    pub order_id: u64,
    pub tickets_cancelled: u32,
    pub refunded_cents: i64,
    pub refunded: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundIn {
    pub amount_cents: i64,
    pub reference: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundedOut {
    pub order_id: u64,
    pub amount_cents: i64,
    pub amount: String,
}
