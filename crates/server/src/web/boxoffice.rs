//! The box office: a counter page for staff with the box-office role and the JSON
//! call behind it. A counter sale is an ordinary hold on the box-office channel
//! followed by a confirmation, so it draws on the same inventory, counts against
//! the box-office quota, and stops at the same brake as the online shop: the core
//! decides all three, this file only parses the counter's input and renders.
//!
//! The page renders the game, its categories and tariffs and, when the sale is not
//! open, the reason (the brake's message) on the server, with the sale form
//! disabled. `assets/boxoffice.js` sends the sale as JSON with the session's CSRF
//! token in a header and shows the change and the tickets' QR codes; printing is
//! the existing A6 PDF (`tickets.rs`).

use askama::Template;
use axum::Json;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sturmfest_core as core;
use sturmfest_core::staff::Role;

use super::format::{date_time, euros};
use super::i18n::{Lang, Texts};
use super::{assets, html, script_json};
use crate::http::TenantHandle;
use crate::http::extract::{JsonBody, PathParams};
use crate::http::problem::Problem;
use crate::staff::StaffSession;
use crate::tenants::{customer_id, scoped_key};

/// The header the counter's script sends the session's CSRF token in.
pub const csrf_header: &str = "x-csrf-token";
/// Longest card-terminal reference kept with an order (the core allows 128 bytes
/// for the whole payment text, which also carries the method).
pub const card_reference_bytes_max: usize = 100;
/// Most cash one sale accepts, so a typo of three extra zeros is caught.
pub const cash_given_cents_max: i64 = 10_000_00;

pub struct BoxOfficeTexts {
    pub title: &'static str,
    pub choose_game: &'static str,
    pub no_games: &'static str,
    pub sell: &'static str,
    pub what: &'static str,
    pub mode_seats: &'static str,
    pub mode_best: &'static str,
    pub mode_standing: &'static str,
    pub seats_label: &'static str,
    pub seats_hint: &'static str,
    pub category: &'static str,
    pub quantity: &'static str,
    pub tariff: &'static str,
    pub payment: &'static str,
    pub cash: &'static str,
    pub card: &'static str,
    pub given: &'static str,
    pub card_reference: &'static str,
    pub buyer: &'static str,
    pub sell_button: &'static str,
    pub not_selling: &'static str,
    pub sold: &'static str,
    pub order: &'static str,
    pub total: &'static str,
    pub change: &'static str,
    pub print: &'static str,
    pub hand_over: &'static str,
    pub next_sale: &'static str,
    pub free: &'static str,
    pub back: &'static str,
    pub working: &'static str,
    pub cash_short: &'static str,
    pub error: &'static str,
}

pub static BOX_DE: BoxOfficeTexts = BoxOfficeTexts {
    title: "Kasse",
    choose_game: "Spiel wählen",
    no_games: "Keine Spiele angelegt.",
    sell: "Verkauf",
    what: "Was",
    mode_seats: "Sitzplätze eingeben",
    mode_best: "Beste N in Kategorie",
    mode_standing: "Stehplätze",
    seats_label: "Block Reihe Plätze",
    seats_hint: "z. B. „A 3 5-8“ oder „B 1 4,5“",
    category: "Kategorie",
    quantity: "Anzahl",
    tariff: "Tarif",
    payment: "Zahlung",
    cash: "Bar",
    card: "Karte",
    given: "Gegeben (€)",
    card_reference: "Beleg-Nr. des Kartenterminals",
    buyer: "Name (optional)",
    sell_button: "Verkaufen",
    not_selling: "Der Verkauf ist nicht offen:",
    sold: "Verkauft",
    order: "Bestellung",
    total: "Summe",
    change: "Rückgeld",
    print: "Drucken (PDF)",
    hand_over: "Zum Scannen zeigen",
    next_sale: "Nächster Verkauf",
    free: "frei",
    back: "Alle Spiele",
    working: "Wird gebucht …",
    cash_short: "Der gegebene Betrag reicht nicht.",
    error: "Fehler",
};

pub static BOX_EN: BoxOfficeTexts = BoxOfficeTexts {
    title: "Box office",
    choose_game: "Choose a game",
    no_games: "No games yet.",
    sell: "Sale",
    what: "What",
    mode_seats: "Type seats",
    mode_best: "Best N in a category",
    mode_standing: "Standing",
    seats_label: "Block row seats",
    seats_hint: "e.g. “A 3 5-8” or “B 1 4,5”",
    category: "Category",
    quantity: "Quantity",
    tariff: "Tariff",
    payment: "Payment",
    cash: "Cash",
    card: "Card",
    given: "Given (€)",
    card_reference: "Card terminal receipt no.",
    buyer: "Name (optional)",
    sell_button: "Sell",
    not_selling: "The sale is not open:",
    sold: "Sold",
    order: "Order",
    total: "Total",
    change: "Change",
    print: "Print (PDF)",
    hand_over: "Show to scan",
    next_sale: "Next sale",
    free: "free",
    back: "All games",
    working: "Booking …",
    cash_short: "The amount given is not enough.",
    error: "Error",
};

/// The counter is for box-office staff and the club office (admins may all).
fn require_counter(staff: &StaffSession) -> Result<(), crate::staff::Denied> {
    if staff.may(Role::Office) { Ok(()) } else { staff.require(Role::BoxOffice) }
}

pub fn box_texts(lang: Lang) -> &'static BoxOfficeTexts {
    match lang {
        Lang::De => &BOX_DE,
        Lang::En => &BOX_EN,
    }
}

pub struct GameLink {
    pub id: u32,
    pub name: String,
    pub starts: String,
    pub status: &'static str,
    pub free: u32,
}

pub struct Category {
    pub id: usize,
    pub name: String,
    pub standing: bool,
    pub free: u32,
    /// (index, "name price") per tariff.
    pub tariffs: Vec<(usize, String)>,
}

#[derive(Template)]
#[template(path = "boxoffice.html")]
struct BoxOfficePage<'a> {
    lang: Lang,
    t: &'static Texts,
    b: &'static BoxOfficeTexts,
    organizer: &'a str,
    slug: &'a str,
    games: Vec<GameLink>,
    game: Option<GameLink>,
    /// Why the counter cannot sell now (draft, paused with its message, closed).
    blocked: Option<String>,
    categories: Vec<Category>,
    config: String,
    script: &'static str,
}

#[derive(Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
    event: Option<u32>,
}

fn status_text(event: &core::Event, lang: Lang) -> &'static str {
    let t = lang.texts();
    match event.sale {
        core::SaleStatus::Draft => t.sale_draft,
        core::SaleStatus::Open => t.sale_open,
        core::SaleStatus::Paused { .. } => t.sale_paused,
        core::SaleStatus::Closed => t.sale_closed,
    }
}

fn game_link(event: &core::Event, lang: Lang) -> GameLink {
    GameLink {
        id: event.id.0,
        name: event.spec.name.clone(),
        starts: date_time(event.spec.starts_at, lang),
        status: status_text(event, lang),
        free: event.free(),
    }
}

/// What stops the counter from selling, in the page's words; the brake's own
/// message is shown as the club wrote it.
fn blocked(event: &core::Event, lang: Lang) -> Option<String> {
    let t = lang.texts();
    match &event.sale {
        core::SaleStatus::Open => None,
        core::SaleStatus::Paused { message, resume_at, .. } => {
            let mut text = if message.is_empty() { t.sale_paused.to_string() } else { message.clone() };
            if let Some(at) = resume_at {
                text.push_str(&format!(" ({} {})", t.resume_at, date_time(*at, lang)));
            }
            Some(text)
        }
        core::SaleStatus::Draft => Some(t.sale_draft.to_string()),
        core::SaleStatus::Closed => Some(t.sale_closed.to_string()),
    }
}

/// The counter page: the games, or one game's sale form.
pub async fn page(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(denied) = require_counter(&staff) {
        return denied.respond(&staff.slug, &headers);
    }
    let b = box_texts(lang);
    let selected = query.event;
    let read = staff
        .handle
        .shard
        .read(move |t| {
            let games: Vec<GameLink> = t.events().iter().map(|e| game_link(e, lang)).collect();
            let chosen = selected.and_then(|id| t.event(core::EventId(id))).map(|event| {
                let categories: Vec<Category> = event
                    .spec
                    .categories
                    .iter()
                    .zip(&event.categories)
                    .enumerate()
                    .map(|(id, (spec, counts))| Category {
                        id,
                        name: spec.name.clone(),
                        standing: matches!(spec.places, core::CategoryPlaces::Standing(_)),
                        free: counts.free(),
                        tariffs: spec.tariffs.iter().enumerate().map(|(i, tf)| (i, format!("{} {}", tf.name, euros(tf.price, lang)))).collect(),
                    })
                    .collect();
                (game_link(event, lang), blocked(event, lang), categories)
            });
            (games, chosen)
        })
        .await;
    let (games, chosen) = match read {
        Ok(read) => read,
        Err(e) => return Problem::from(e).into_response(),
    };
    if selected.is_some() && chosen.is_none() {
        return super::not_found(lang, &headers);
    }
    let (game, blocked, categories) = match chosen {
        Some((game, blocked, categories)) => (Some(game), blocked, categories),
        None => (None, None, Vec::new()),
    };
    let config = serde_json::json!({
        "sell": format!("/{}/boxoffice/sell", staff.slug),
        "csrf": staff.csrf_token(),
        "lang": lang.code(),
        "event": game.as_ref().map(|g| g.id),
        "categories": categories.iter().map(|c| serde_json::json!({
            "id": c.id, "standing": c.standing,
            "tariffs": c.tariffs.iter().map(|(i, label)| serde_json::json!({"id": i, "label": label})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "texts": {"working": b.working, "error": b.error, "cash_short": b.cash_short},
    });
    let page = BoxOfficePage {
        lang,
        t: lang.texts(),
        b,
        organizer: &staff.handle.name,
        slug: &staff.slug,
        games,
        game,
        blocked,
        categories,
        config: script_json(&config),
        script: assets::path("boxoffice.js"),
    };
    html(&page, lang)
}

// ----- the sale call -----

#[derive(Deserialize)]
pub struct SaleIn {
    pub event: u32,
    /// `seats` (with `seats`), `best` or `standing` (with `category` and `quantity`).
    pub kind: String,
    #[serde(default)]
    pub seats: String,
    #[serde(default)]
    pub category: u16,
    #[serde(default)]
    pub quantity: u32,
    pub tariff: u16,
    /// `cash` (with `given`, euros as typed: `50` or `50,00`) or `card` (with
    /// `card_reference`).
    pub payment: String,
    #[serde(default)]
    pub given: String,
    #[serde(default)]
    pub card_reference: String,
    #[serde(default)]
    pub buyer: String,
}

#[derive(Serialize)]
pub struct TicketOut {
    pub place: String,
    pub category: String,
    pub price: String,
    pub qr_svg: String,
}

#[derive(Serialize)]
pub struct SaleOut {
    pub order_id: u64,
    pub total_cents: i64,
    pub total: String,
    pub change_cents: i64,
    pub change: String,
    pub pdf: String,
    pub tickets: Vec<TicketOut>,
}

/// Parses `"A 3 5-8"`, `"A 3 5,6 9"`: a block name, a row label, then seat labels
/// or ranges `from-to` (inclusive, in the row's order). Labels are compared as the
/// venue spells them, block names without regard to case.
pub fn parse_seats(venue: &core::Venue, text: &str) -> Result<Vec<core::SeatId>, String> {
    let mut words = text.split_whitespace();
    let (Some(block_name), Some(row_label)) = (words.next(), words.next()) else {
        return Err("write block, row and seats, e.g. \"A 3 5-8\"".into());
    };
    let block = venue
        .spec
        .blocks
        .iter()
        .position(|b| b.name.eq_ignore_ascii_case(block_name))
        .ok_or_else(|| format!("no block {block_name:?}"))?;
    let block_spec = &venue.spec.blocks[block];
    let row_in_block = block_spec.rows.iter().position(|r| r.label == row_label).ok_or_else(|| format!("block {block_name} has no row {row_label:?}"))?;
    let row_spec = &block_spec.rows[row_in_block];
    let row = &venue.rows[(venue.blocks[block].rows.start as usize) + row_in_block];
    let position = |label: &str| {
        row_spec.seats.iter().position(|s| s.label == label).ok_or_else(|| format!("row {row_label} has no seat {label:?}"))
    };
    let mut seats = Vec::new();
    let items: Vec<&str> = words.flat_map(|w| w.split(',')).filter(|w| !w.is_empty()).collect();
    if items.is_empty() {
        return Err("name at least one seat".into());
    }
    for item in items {
        let (from, to) = match item.split_once('-') {
            Some((from, to)) => (position(from)?, position(to)?),
            None => (position(item)?, position(item)?),
        };
        if from > to {
            return Err(format!("range {item:?} runs backwards"));
        }
        for i in from..=to {
            let seat = core::SeatId(row.seats.start + i as u32);
            if seats.contains(&seat) {
                return Err(format!("seat {} named twice", row_spec.seats[i].label));
            }
            seats.push(seat);
        }
    }
    Ok(seats)
}

/// The cash the counter typed (`format::parse_euros`), at most `cash_given_cents_max`.
pub fn parse_euros(text: &str) -> Option<i64> {
    super::format::parse_euros(text).filter(|&cents| cents <= cash_given_cents_max)
}

/// `POST /{tenant}/boxoffice/sell`: hold on the box-office channel, check the cash,
/// confirm. Session, then CSRF header, then role; an `Idempotency-Key` header makes
/// a retried sale answer the first sale's order instead of selling twice.
pub async fn sell(staff: StaffSession, headers: HeaderMap, body: JsonBody<SaleIn>) -> Response {
    let token = headers.get(csrf_header).and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Err(denied) = staff.check_csrf(token).and_then(|()| require_counter(&staff)) {
        return denied.problem().into_response();
    }
    let lang = Lang::negotiate(None, &headers);
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(|k| (k.to_string(), body.fingerprint));
    match sell_inner(&staff, body.value, key, lang).await {
        Ok(out) => (StatusCode::CREATED, Json(out)).into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn sell_inner(staff: &StaffSession, input: SaleIn, key: Option<(String, u64)>, lang: Lang) -> Result<SaleOut, Problem> {
    let handle = &staff.handle;
    let payment = match input.payment.as_str() {
        "cash" => {
            let given = parse_euros(&input.given)
                .ok_or_else(|| Problem::unprocessable("cash_invalid", "given must be euros like 50 or 50,00, at most 10000"))?;
            Payment::Cash(given)
        }
        "card" => {
            let reference = input.card_reference.trim();
            if reference.is_empty() || reference.len() > card_reference_bytes_max {
                return Err(Problem::unprocessable("invalid_body", "card_reference must be 1 to 100 bytes"));
            }
            Payment::Card(reference.to_string())
        }
        _ => return Err(Problem::unprocessable("invalid_body", "payment must be cash or card")),
    };
    let event = core::EventId(input.event);
    let selection = match input.kind.as_str() {
        "seats" => {
            let text = input.seats.clone();
            let parsed = handle
                .shard
                .read(move |t| {
                    let event = t.event(event)?;
                    Some(parse_seats(t.venue(event.spec.venue)?, &text))
                })
                .await?;
            let seats = parsed
                .ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownEvent))?
                .map_err(|why| Problem::unprocessable("seats_invalid", why))?;
            core::Selection::Seats(seats)
        }
        "best" => core::Selection::BestAvailable { category: core::CategoryId(input.category), block: None, quantity: input.quantity },
        "standing" => {
            let category = input.category;
            let area = handle
                .shard
                .read(move |t| {
                    let event = t.event(event)?;
                    match event.spec.categories.get(usize::from(category))?.places {
                        core::CategoryPlaces::Standing(area) => Some(area),
                        core::CategoryPlaces::Blocks(_) => None,
                    }
                })
                .await?
                .ok_or_else(|| Problem::unprocessable("invalid_body", "category is not a standing category of this event"))?;
            core::Selection::Standing { area, quantity: input.quantity }
        }
        _ => return Err(Problem::unprocessable("invalid_body", "kind must be seats, best or standing")),
    };
    // Each counter is its own customer: per-customer limits apply online only.
    let customer = core::CustomerId(customer_id(&format!("staff:{}", staff.account.0)));
    let scope = |step: &str| {
        key.as_ref().map(|(k, fingerprint)| core::Idempotency {
            key: core::IdemKey(scoped_key(&format!("boxoffice:{}:{step}", staff.account.0), k)),
            fingerprint: *fingerprint,
        })
    };
    let hold = core::Command::Hold(core::HoldRequest {
        event,
        customer,
        channel: core::Channel::BoxOffice,
        selection,
        tariff: core::TariffId(input.tariff),
        admission: None,
    });
    let receipt = match crate::http::handlers::run(handle, scope("hold"), hold).await? {
        core::Reply::Held(receipt) => receipt,
        other => return Err(crate::http::handlers::unexpected(&other)),
    };
    let change = match &payment {
        Payment::Cash(given) if *given < receipt.total.0 => {
            // Nothing was paid: the places go back at once rather than at expiry.
            let _ = handle.shard.execute(None, core::Command::Release { hold: receipt.hold }).await;
            return Err(Problem::unprocessable("cash_insufficient", format!("the total is {} EUR", receipt.total))
                .with("total_cents", serde_json::json!(receipt.total.0)));
        }
        Payment::Cash(given) => given - receipt.total.0,
        Payment::Card(_) => 0,
    };
    let payment_text = match &payment {
        Payment::Cash(given) => format!("box_office:cash:given={given}"),
        Payment::Card(reference) => format!("box_office:card:{reference}"),
    };
    let buyer = core::Buyer { name: input.buyer.trim().chars().take(96).collect(), email: String::new() };
    let confirm = core::Command::Confirm { hold: receipt.hold, payment: payment_text, buyer };
    let order = match crate::http::handlers::run(handle, scope("confirm"), confirm).await {
        Ok(core::Reply::Confirmed { order, .. }) => order,
        Ok(other) => return Err(crate::http::handlers::unexpected(&other)),
        Err(problem) => {
            let _ = handle.shard.execute(None, core::Command::Release { hold: receipt.hold }).await;
            return Err(problem);
        }
    };
    let tickets = printed(handle, order, lang).await?.map(|(_, tickets)| tickets).unwrap_or_default();
    Ok(SaleOut {
        order_id: order.0,
        total_cents: receipt.total.0,
        total: euros(receipt.total, lang),
        change_cents: change,
        change: euros(core::Cents(change), lang),
        pdf: format!("/{}/boxoffice/orders/{}/tickets.pdf?lang={}", staff.slug, order.0, lang.code()),
        tickets: tickets
            .into_iter()
            .map(|t| TicketOut {
                place: place_text(&t.place, lang),
                category: t.category,
                price: euros(t.price, lang),
                qr_svg: inline_svg(crate::tickets::qr_svg(&t.credential)),
            })
            .collect(),
    })
}

/// The QR as an element to put into the page: without the XML declaration a
/// standalone file starts with.
fn inline_svg(svg: String) -> String {
    match svg.find("<svg") {
        Some(at) => svg[at..].to_string(),
        None => svg,
    }
}

enum Payment {
    Cash(i64),
    Card(String),
}

pub fn place_text(place: &crate::tickets::PlaceLabel, lang: Lang) -> String {
    match (place, lang) {
        (crate::tickets::PlaceLabel::Seat { block, row, seat }, Lang::De) => format!("Block {block}, Reihe {row}, Platz {seat}"),
        (crate::tickets::PlaceLabel::Seat { block, row, seat }, Lang::En) => format!("Block {block}, row {row}, seat {seat}"),
        (crate::tickets::PlaceLabel::Standing { area }, _) => area.clone(),
    }
}

async fn printed(
    handle: &TenantHandle,
    order: core::OrderId,
    _lang: Lang,
) -> Result<Option<(crate::tickets::OrderView, Vec<crate::tickets::PrintedTicket>)>, Problem> {
    let keyring = handle.credentials.keyring.clone();
    let organizer = handle.name.clone();
    Ok(handle.shard.read(move |t| crate::tickets::printable(t, &keyring, &organizer, order)).await?)
}

#[derive(Deserialize)]
pub struct LangOnly {
    lang: Option<String>,
}

/// `GET /{tenant}/boxoffice/orders/{order}/tickets.pdf`: the order's tickets to print.
pub async fn tickets_pdf(
    staff: StaffSession,
    PathParams((_slug, order)): PathParams<(String, u64)>,
    Query(query): Query<LangOnly>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(denied) = require_counter(&staff) {
        return denied.respond(&staff.slug, &headers);
    }
    let found = match printed(&staff.handle, core::OrderId(order), lang).await {
        Ok(found) => found,
        Err(problem) => return problem.into_response(),
    };
    let Some((view, tickets)) = found else {
        return Problem::from_rejection(&core::Rejection::UnknownOrder).into_response();
    };
    let pdf = tokio::task::spawn_blocking(move || crate::tickets::ticket_pdf(&view, &tickets, lang)).await;
    let Ok(pdf) = pdf else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let mut response = pdf.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    //! The counter's typed input: seat lists and ranges resolve to the venue's own
    //! seats or say which part is wrong; euro amounts parse in either notation.

    use super::*;

    fn venue() -> core::Venue {
        let row = |label: &str, x: i32| core::RowSpec {
            label: label.into(),
            seats: (1..=10).map(|s| core::SeatSpec { label: s.to_string(), x: s * 10, y: x }).collect(),
        };
        core::Venue::build(core::VenueSpec {
            name: "Halle".into(),
            blocks: vec![
                core::BlockSpec { name: "A".into(), rows: vec![row("1", 0), row("2", 10)] },
                core::BlockSpec { name: "B".into(), rows: vec![row("1", 0)] },
            ],
            standing: vec![],
        })
        .unwrap()
    }

    #[test]
    fn typed_seats_resolve_to_the_venues_seats_or_name_the_wrong_part() {
        let v = venue();
        let labels = |text: &str| -> Vec<String> {
            parse_seats(&v, text).unwrap().iter().map(|s| v.seat_labels(*s).map(|(b, r, s)| format!("{b}{r}-{s}")).unwrap()).collect()
        };
        assert_eq!(labels("A 2 5-7"), ["A2-5", "A2-6", "A2-7"]);
        assert_eq!(labels("b 1 4,5 9"), ["B1-4", "B1-5", "B1-9"]);
        for (bad, why) in [
            ("C 1 1", "no block"),
            ("A 9 1", "no row"),
            ("A 1 11", "no seat"),
            ("A 1", "at least one seat"),
            ("A 1 5-3", "backwards"),
            ("A 1 3 2-4", "named twice"),
            ("", "block, row and seats"),
        ] {
            let err = parse_seats(&v, bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn euros_parse_in_german_and_english_notation() {
        assert_eq!(parse_euros("50"), Some(5000));
        assert_eq!(parse_euros("50,5"), Some(5050));
        assert_eq!(parse_euros(" 12.34 "), Some(1234));
        for bad in ["", "-1", "1,234", "abc", "1.2.3", "100001"] {
            assert_eq!(parse_euros(bad), None, "{bad:?}");
        }
    }
}
