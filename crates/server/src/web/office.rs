//! The club office's pages (roles office and admin): venues and the seat-map
//! import, games and a form to create one, the sale's open / pause / resume /
//! close, the sales overview per category and block with an SVG chart, orders
//! search, order detail with cancel and refund, and the CSV export.
//!
//! Every page is server-rendered and works without script; forms post back and
//! answer with a redirect (post/redirect/get) after checking the session, the
//! CSRF token and the role, in that order, so a forged form learns nothing. The
//! pages decide nothing: each action is one core command, and the numbers shown
//! are the core's own counters.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;
use sturmfest_core as core;
use sturmfest_core::staff::Role;

use super::format::{date_time, euros};
use super::i18n::{Lang, Texts};
use super::{html, not_found};
use crate::http::TenantHandle;
use crate::http::extract::PathParams;
use crate::http::problem::Problem;
use crate::staff::StaffSession;
use crate::venue_import;

/// Most orders one search lists.
pub const search_results_max: usize = 100;
/// Price categories the new-game form offers.
pub const form_categories_max: usize = 4;
/// Longest accepted pause message (the core refuses longer ones too).
pub const pause_message_bytes_max: usize = 500;

pub struct OfficeTexts {
    pub title: &'static str,
    pub games: &'static str,
    pub game: &'static str,
    pub venues: &'static str,
    pub orders: &'static str,
    pub new_game: &'static str,
    pub import_venue: &'static str,
    pub no_games: &'static str,
    pub no_venues: &'static str,
    pub overview: &'static str,
    pub sale: &'static str,
    pub action: &'static str,
    pub open: &'static str,
    pub pause: &'static str,
    pub resume: &'static str,
    pub close: &'static str,
    pub pause_message: &'static str,
    pub resume_at: &'static str,
    pub apply: &'static str,
    pub category: &'static str,
    pub block: &'static str,
    pub capacity: &'static str,
    pub sold: &'static str,
    pub held: &'static str,
    pub free: &'static str,
    pub revenue: &'static str,
    pub chart_title: &'static str,
    pub chart_desc: &'static str,
    pub export_csv: &'static str,
    pub search: &'static str,
    pub search_label: &'static str,
    pub search_hint: &'static str,
    pub no_orders: &'static str,
    pub order: &'static str,
    pub buyer: &'static str,
    pub email: &'static str,
    pub created: &'static str,
    pub channel: &'static str,
    pub paid: &'static str,
    pub refunded: &'static str,
    pub payment: &'static str,
    pub tickets: &'static str,
    pub place: &'static str,
    pub tariff: &'static str,
    pub price: &'static str,
    pub status: &'static str,
    pub valid: &'static str,
    pub cancelled: &'static str,
    pub cancel_title: &'static str,
    pub cancel_hint: &'static str,
    pub refund_full: &'static str,
    pub refund_none: &'static str,
    pub cancel_button: &'static str,
    pub done: &'static str,
    pub venue: &'static str,
    pub name: &'static str,
    pub import_file: &'static str,
    pub import_text: &'static str,
    pub import_help: &'static str,
    pub preview: &'static str,
    pub create: &'static str,
    pub line: &'static str,
    pub errors: &'static str,
    pub counts: &'static str,
    pub seats: &'static str,
    pub rows: &'static str,
    pub blocks: &'static str,
    pub standing_areas: &'static str,
    pub standing_places: &'static str,
    pub starts: &'static str,
    pub sale_opens: &'static str,
    pub sale_closes: &'static str,
    pub berlin_time: &'static str,
    pub places: &'static str,
    pub tariffs: &'static str,
    pub tariffs_hint: &'static str,
    pub quotas: &'static str,
    pub quota_hint: &'static str,
    pub online: &'static str,
    pub box_office: &'static str,
    pub reserved: &'static str,
    pub tickets_per_order: &'static str,
    pub back: &'static str,
    pub amend: &'static str,
    pub amend_hint: &'static str,
    pub error_other: &'static str,
}

pub static OFFICE_DE: OfficeTexts = OfficeTexts {
    title: "Geschäftsstelle",
    games: "Spiele",
    game: "Spiel",
    venues: "Spielstätten",
    orders: "Bestellungen",
    new_game: "Neues Spiel",
    import_venue: "Saalplan importieren",
    no_games: "Noch keine Spiele.",
    no_venues: "Noch keine Spielstätten.",
    overview: "Verkaufsübersicht",
    sale: "Verkauf steuern",
    action: "Aktion",
    open: "Öffnen",
    pause: "Pausieren (Notbremse)",
    resume: "Fortsetzen",
    close: "Beenden",
    pause_message: "Hinweis für Fans (bei Pause)",
    resume_at: "Geplante Fortsetzung (optional)",
    apply: "Ausführen",
    category: "Kategorie",
    block: "Block",
    capacity: "Plätze",
    sold: "verkauft",
    held: "reserviert",
    free: "frei",
    revenue: "Umsatz",
    chart_title: "Verkauf je Kategorie",
    chart_desc: "Balken je Kategorie: verkauft, reserviert und frei. Dieselben Zahlen stehen in der Tabelle.",
    export_csv: "Tickets als CSV exportieren",
    search: "Suchen",
    search_label: "Bestellnummer, Name oder E-Mail",
    search_hint: "Ganze Bestellnummer oder ein Teil von Name bzw. E-Mail",
    no_orders: "Keine Bestellungen gefunden.",
    order: "Bestellung",
    buyer: "Name",
    email: "E-Mail",
    created: "Zeit",
    channel: "Kanal",
    paid: "Bezahlt",
    refunded: "Erstattet",
    payment: "Zahlung",
    tickets: "Tickets",
    place: "Platz",
    tariff: "Tarif",
    price: "Preis",
    status: "Status",
    valid: "gültig",
    cancelled: "storniert",
    cancel_title: "Stornieren",
    cancel_hint: "Keine Auswahl = ganze Bestellung",
    refund_full: "Preis erstatten",
    refund_none: "Nicht erstatten",
    cancel_button: "Stornieren",
    done: "Erledigt.",
    venue: "Spielstätte",
    name: "Name",
    import_file: "Datei (CSV)",
    import_text: "Inhalt",
    import_help: "Format: docs/VENUE-IMPORT.md – je Zeile „Block,Reihe,erster Platz,letzter Platz“ oder „standing,Name,Kapazität“.",
    preview: "Vorschau",
    create: "Anlegen",
    line: "Zeile",
    errors: "Fehler in der Datei",
    counts: "Vorschau",
    seats: "Sitzplätze",
    rows: "Reihen",
    blocks: "Blöcke",
    standing_areas: "Stehbereiche",
    standing_places: "Stehplätze",
    starts: "Anstoß / Bully",
    sale_opens: "Verkauf ab",
    sale_closes: "Verkauf bis",
    berlin_time: "Zeiten in Berlin (MEZ/MESZ)",
    places: "Blöcke / Stehbereiche",
    tariffs: "Tarife",
    tariffs_hint: "Je Zeile „Name Preis“, z. B. „Erwachsene 29,00“",
    quotas: "Kontingente je Kanal",
    quota_hint: "leer = ohne Grenze",
    online: "Online",
    box_office: "Kasse",
    reserved: "Zurückgehalten",
    tickets_per_order: "Tickets je Bestellung",
    back: "Zur Geschäftsstelle",
    amend: "Verkaufszeiten, Kontingente und Preise ändern",
    amend_hint: "Neue Preise gelten für neue Reservierungen; bestehende Bestellungen bleiben unverändert. Ein Kontingent kann nicht unter das bereits Verkaufte und Reservierte sinken.",
    error_other: "Das ging nicht.",
};

pub static OFFICE_EN: OfficeTexts = OfficeTexts {
    title: "Club office",
    games: "Games",
    game: "Game",
    venues: "Venues",
    orders: "Orders",
    new_game: "New game",
    import_venue: "Import a seat map",
    no_games: "No games yet.",
    no_venues: "No venues yet.",
    overview: "Sales overview",
    sale: "Control the sale",
    action: "Action",
    open: "Open",
    pause: "Pause (emergency brake)",
    resume: "Resume",
    close: "Close",
    pause_message: "Message for fans (when pausing)",
    resume_at: "Planned resumption (optional)",
    apply: "Apply",
    category: "Category",
    block: "Block",
    capacity: "Places",
    sold: "sold",
    held: "held",
    free: "free",
    revenue: "Revenue",
    chart_title: "Sales per category",
    chart_desc: "One bar per category: sold, held and free. The table holds the same numbers.",
    export_csv: "Export tickets as CSV",
    search: "Search",
    search_label: "Order number, name or e-mail",
    search_hint: "The whole order number, or part of a name or e-mail",
    no_orders: "No orders found.",
    order: "Order",
    buyer: "Name",
    email: "E-mail",
    created: "Time",
    channel: "Channel",
    paid: "Paid",
    refunded: "Refunded",
    payment: "Payment",
    tickets: "Tickets",
    place: "Place",
    tariff: "Tariff",
    price: "Price",
    status: "Status",
    valid: "valid",
    cancelled: "cancelled",
    cancel_title: "Cancel",
    cancel_hint: "Nothing ticked = the whole order",
    refund_full: "Refund the price",
    refund_none: "No refund",
    cancel_button: "Cancel tickets",
    done: "Done.",
    venue: "Venue",
    name: "Name",
    import_file: "File (CSV)",
    import_text: "Content",
    import_help: "Format: docs/VENUE-IMPORT.md – one line per row “block,row,first seat,last seat”, or “standing,name,capacity”.",
    preview: "Preview",
    create: "Create",
    line: "Line",
    errors: "Errors in the file",
    counts: "Preview",
    seats: "Seats",
    rows: "Rows",
    blocks: "Blocks",
    standing_areas: "Standing areas",
    standing_places: "Standing places",
    starts: "Face-off",
    sale_opens: "Sale opens",
    sale_closes: "Sale closes",
    berlin_time: "Times in Berlin (CET/CEST)",
    places: "Blocks / standing areas",
    tariffs: "Tariffs",
    tariffs_hint: "One per line, “name price”, e.g. “Adults 29.00”",
    quotas: "Quotas per channel",
    quota_hint: "empty = no limit",
    online: "Online",
    box_office: "Box office",
    reserved: "Reserved",
    tickets_per_order: "Tickets per order",
    back: "Back to the office",
    amend: "Change sale times, quotas and prices",
    amend_hint: "New prices apply to new holds; existing orders stay as they are. A quota cannot go below what is already sold and held.",
    error_other: "That did not work.",
};

pub fn office_texts(lang: Lang) -> &'static OfficeTexts {
    match lang {
        Lang::De => &OFFICE_DE,
        Lang::En => &OFFICE_EN,
    }
}

#[derive(Deserialize)]
pub struct OfficeQuery {
    lang: Option<String>,
    q: Option<String>,
    done: Option<String>,
}

fn see_other(to: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

/// Session (by the extractor), then role: the office pages are for office and admin.
fn gate(staff: &StaffSession, headers: &HeaderMap) -> Result<(), Response> {
    staff.require(Role::Office).map_err(|d| d.respond(&staff.slug, headers))
}

/// For forms: CSRF first, then the role.
fn gate_form(staff: &StaffSession, headers: &HeaderMap, csrf: &str) -> Result<(), Response> {
    staff.gate_form(headers, csrf, Role::Office)
}

fn channel_text(channel: core::Channel, o: &OfficeTexts) -> &'static str {
    match channel {
        core::Channel::Online => o.online,
        core::Channel::BoxOffice => o.box_office,
        core::Channel::Reserved => o.reserved,
    }
}

// ----- the office home: games and venues -----

pub struct GameRow {
    pub id: u32,
    pub name: String,
    pub starts: String,
    pub status: &'static str,
    pub pause_message: Option<String>,
    pub sold: u32,
    pub free: u32,
}

pub struct VenueRow {
    pub name: String,
    pub seats: usize,
    pub standing: u32,
}

#[derive(Template)]
#[template(path = "office_home.html")]
struct HomePage<'a> {
    lang: Lang,
    t: &'static Texts,
    o: &'static OfficeTexts,
    organizer: &'a str,
    slug: &'a str,
    games: Vec<GameRow>,
    venues: Vec<VenueRow>,
    done: bool,
}

fn status_text(sale: &core::SaleStatus, t: &Texts) -> &'static str {
    match sale {
        core::SaleStatus::Draft => t.sale_draft,
        core::SaleStatus::Open => t.sale_open,
        core::SaleStatus::Paused { .. } => t.sale_paused,
        core::SaleStatus::Closed => t.sale_closed,
    }
}

pub async fn home(staff: StaffSession, Query(query): Query<OfficeQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    let t = lang.texts();
    let read = staff
        .handle
        .shard
        .read(move |tenant| {
            let games = tenant
                .events()
                .iter()
                .map(|e| GameRow {
                    id: e.id.0,
                    name: e.spec.name.clone(),
                    starts: date_time(e.spec.starts_at, lang),
                    status: status_text(&e.sale, t),
                    pause_message: super::pause_message(e),
                    sold: e.sold(),
                    free: e.free(),
                })
                .collect::<Vec<_>>();
            let venues = tenant
                .venues()
                .iter()
                .map(|v| VenueRow { name: v.spec.name.clone(), seats: v.seats.len(), standing: v.spec.standing.iter().map(|s| s.capacity).sum() })
                .collect::<Vec<_>>();
            (games, venues)
        })
        .await;
    let (games, venues) = match read {
        Ok(read) => read,
        Err(e) => return Problem::from(e).into_response(),
    };
    let page = HomePage {
        lang,
        t,
        o: office_texts(lang),
        organizer: &staff.handle.name,
        slug: &staff.slug,
        games,
        venues,
        done: query.done.is_some(),
    };
    html(&page, lang)
}

// ----- one game: the sales overview and the sale's controls -----

pub struct CountRow {
    pub name: String,
    pub capacity: u32,
    pub sold: u32,
    pub held: u32,
    pub free: u32,
    pub revenue: String,
}

#[derive(Template)]
#[template(path = "office_event.html")]
struct EventPage<'a> {
    lang: Lang,
    t: &'static Texts,
    o: &'static OfficeTexts,
    organizer: &'a str,
    slug: &'a str,
    csrf: String,
    id: u32,
    name: String,
    starts: String,
    status: &'static str,
    pause_message: Option<String>,
    categories: Vec<CountRow>,
    blocks: Vec<CountRow>,
    chart: String,
    done: bool,
    error: Option<String>,
    amend: AmendFields,
}

/// The amend form's current values, as `datetime-local` and euro texts.
pub struct AmendFields {
    pub opens: String,
    pub closes: String,
    pub quotas: [String; 3],
    /// (field name `price_<category>_<tariff>`, label, current price as typed).
    pub prices: Vec<(String, String, String)>,
}

fn local_berlin(t: core::TimeMs) -> String {
    jiff::Timestamp::from_millisecond(t.0)
        .ok()
        .and_then(|ts| jiff::tz::TimeZone::get("Europe/Berlin").ok().map(|tz| ts.to_zoned(tz).strftime("%Y-%m-%dT%H:%M").to_string()))
        .unwrap_or_default()
}

fn amend_fields(spec: &core::EventSpec) -> AmendFields {
    let price = |c: core::Cents| format!("{},{:02}", c.0 / 100, c.0 % 100);
    AmendFields {
        opens: local_berlin(spec.sale_opens_at),
        closes: local_berlin(spec.sale_closes_at),
        quotas: spec.quotas.map(|q| q.map(|q| q.to_string()).unwrap_or_default()),
        prices: spec
            .categories
            .iter()
            .enumerate()
            .flat_map(|(c, category)| {
                category.tariffs.iter().enumerate().map(move |(t, tariff)| (format!("price_{c}_{t}"), format!("{} · {}", category.name, tariff.name), price(tariff.price)))
            })
            .collect(),
    }
}

/// The overview's numbers, straight from the core's counters; revenue is the sum of
/// the valid tickets' prices, less nothing else (refunds are per order).
pub struct Overview {
    pub categories: Vec<(String, core::Counts, core::Cents)>,
    pub blocks: Vec<(String, core::Counts, core::Cents)>,
}

pub fn overview(tenant: &core::Tenant, event: &core::Event) -> Overview {
    let venue = tenant.venue(event.spec.venue).expect("an event's venue exists");
    let mut category_revenue = vec![0i64; event.spec.categories.len()];
    let mut block_revenue = vec![0i64; venue.blocks.len()];
    for order in tenant.orders().iter().filter(|o| o.event == event.id) {
        for ticket in order.valid_tickets() {
            category_revenue[usize::from(ticket.category.0)] += ticket.price.0;
            if let core::Place::Seat(seat) = ticket.place {
                let block = venue.seat(seat).expect("a sold seat exists").block;
                block_revenue[usize::from(block.0)] += ticket.price.0;
            }
        }
    }
    let categories = event
        .spec
        .categories
        .iter()
        .zip(&event.categories)
        .zip(category_revenue)
        .map(|((spec, counts), revenue)| (spec.name.clone(), *counts, core::Cents(revenue)))
        .collect();
    let blocks = venue
        .blocks
        .iter()
        .zip(&venue.spec.blocks)
        .zip(block_revenue)
        .filter_map(|((block, spec), revenue)| {
            let mut counts = core::Counts::default();
            for seat in block.seats.clone() {
                match event.seats[seat as usize] {
                    core::SeatState::NotForSale => continue,
                    core::SeatState::Free => {}
                    core::SeatState::Held(_) => counts.held += 1,
                    core::SeatState::Sold(_) => counts.sold += 1,
                }
                counts.capacity += 1;
            }
            (counts.capacity > 0).then(|| (spec.name.clone(), counts, core::Cents(revenue)))
        })
        .collect();
    Overview { categories, blocks }
}

fn count_rows(rows: &[(String, core::Counts, core::Cents)], lang: Lang) -> Vec<CountRow> {
    rows.iter()
        .map(|(name, c, revenue)| CountRow {
            name: name.clone(),
            capacity: c.capacity,
            sold: c.sold,
            held: c.held,
            free: c.free(),
            revenue: euros(*revenue, lang),
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A horizontal stacked bar per row (sold, held, free), drawn on the server; it is
/// `role="img"` with a title and description, and the table next to it is the
/// text alternative with the same numbers. Colours keep ≥ 4.5:1 against the
/// labels drawn on white.
pub fn bar_chart(rows: &[CountRow], o: &OfficeTexts) -> String {
    const width: u32 = 320;
    const label_h: u32 = 18;
    const bar_h: u32 = 16;
    const row_h: u32 = label_h + bar_h + 10;
    let height = rows.len() as u32 * row_h + 24;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-labelledby=\"chart-title chart-desc\"><title id=\"chart-title\">{}</title><desc id=\"chart-desc\">{}</desc>",
        escape(o.chart_title),
        escape(o.chart_desc)
    );
    for (i, row) in rows.iter().enumerate() {
        let y = i as u32 * row_h;
        let scale = |n: u32| if row.capacity == 0 { 0 } else { (u64::from(n) * u64::from(width) / u64::from(row.capacity)) as u32 };
        let (sold, held) = (scale(row.sold), scale(row.held));
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"13\" fill=\"#14202b\">{} – {} {} / {}</text>",
            y + 13,
            escape(&row.name),
            row.sold,
            escape(o.sold),
            row.capacity
        ));
        let bar_y = y + label_h;
        svg.push_str(&format!("<rect x=\"0\" y=\"{bar_y}\" width=\"{width}\" height=\"{bar_h}\" fill=\"#e3e9ef\"/>"));
        svg.push_str(&format!("<rect class=\"sold\" x=\"0\" y=\"{bar_y}\" width=\"{sold}\" height=\"{bar_h}\" fill=\"#0b5394\"/>"));
        svg.push_str(&format!("<rect class=\"held\" x=\"{sold}\" y=\"{bar_y}\" width=\"{held}\" height=\"{bar_h}\" fill=\"#b45f06\"/>"));
    }
    let legend_y = rows.len() as u32 * row_h + 14;
    svg.push_str(&format!(
        "<rect x=\"0\" y=\"{}\" width=\"10\" height=\"10\" fill=\"#0b5394\"/><text x=\"14\" y=\"{legend_y}\" font-size=\"12\" fill=\"#14202b\">{}</text><rect x=\"90\" y=\"{}\" width=\"10\" height=\"10\" fill=\"#b45f06\"/><text x=\"104\" y=\"{legend_y}\" font-size=\"12\" fill=\"#14202b\">{}</text><rect x=\"180\" y=\"{}\" width=\"10\" height=\"10\" fill=\"#e3e9ef\" stroke=\"#4a5a68\"/><text x=\"194\" y=\"{legend_y}\" font-size=\"12\" fill=\"#14202b\">{}</text></svg>",
        legend_y - 9,
        escape(o.sold),
        legend_y - 9,
        escape(o.held),
        legend_y - 9,
        escape(o.free)
    ));
    svg
}

pub async fn event_page(
    staff: StaffSession,
    PathParams((_slug, event)): PathParams<(String, u32)>,
    Query(query): Query<OfficeQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    render_event(&staff, event, lang, query.done.is_some(), None, &headers).await
}

async fn render_event(staff: &StaffSession, event: u32, lang: Lang, done: bool, error: Option<String>, headers: &HeaderMap) -> Response {
    let t = lang.texts();
    let o = office_texts(lang);
    let read = staff
        .handle
        .shard
        .read(move |tenant| {
            let e = tenant.event(core::EventId(event))?;
            let overview = overview(tenant, e);
            Some((e.spec.name.clone(), date_time(e.spec.starts_at, lang), status_text(&e.sale, t), super::pause_message(e), overview, amend_fields(&e.spec)))
        })
        .await;
    let found = match read {
        Ok(found) => found,
        Err(e) => return Problem::from(e).into_response(),
    };
    let Some((name, starts, status, pause_message, overview, amend)) = found else { return not_found(lang, headers) };
    let categories = count_rows(&overview.categories, lang);
    let page = EventPage {
        lang,
        t,
        o,
        organizer: &staff.handle.name,
        slug: &staff.slug,
        csrf: staff.csrf_token(),
        id: event,
        name,
        starts,
        status,
        pause_message,
        chart: bar_chart(&categories, o),
        categories,
        blocks: count_rows(&overview.blocks, lang),
        done,
        error,
        amend,
    };
    let status = if page.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    with_status(html(&page, lang), status)
}

/// Parses the amend form (`opens`, `closes`, `quota_*`, `price_<c>_<t>`) into
/// the core's amendment; every listed price is sent, unchanged ones too.
pub fn amendment(fields: &[(String, String)]) -> Result<core::EventAmendment, String> {
    let one = |key: &str| fields.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str()).trim();
    let time = |key: &str, label: &str| berlin_local(one(key)).ok_or_else(|| format!("{label}: not a date and time"));
    let quota = |key: &str| -> Result<Option<u32>, String> {
        match one(key) {
            "" => Ok(None),
            text => text.parse().map(Some).map_err(|_| format!("quota {text:?} is not a whole number")),
        }
    };
    let mut prices = Vec::new();
    for (key, value) in fields {
        let Some(rest) = key.strip_prefix("price_") else { continue };
        let Some((c, t)) = rest.split_once('_') else { continue };
        let (Ok(c), Ok(t)) = (c.parse(), t.parse()) else { continue };
        let cents = super::format::parse_euros(value).ok_or_else(|| format!("{value:?} is not a price in euros"))?;
        prices.push((core::CategoryId(c), core::TariffId(t), core::Cents(cents)));
    }
    Ok(core::EventAmendment {
        sale_opens_at: time("opens", "sale opens")?,
        sale_closes_at: time("closes", "sale closes")?,
        quotas: [quota("quota_online")?, quota("quota_box_office")?, quota("quota_reserved")?],
        prices,
    })
}

pub async fn amend_submit(
    staff: StaffSession,
    PathParams((_slug, event)): PathParams<(String, u32)>,
    Query(query): Query<OfficeQuery>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let csrf = fields.iter().find(|(k, _)| k == "csrf").map_or("", |(_, v)| v.as_str());
    if let Err(r) = gate_form(&staff, &headers, csrf) {
        return r;
    }
    let amendment = match amendment(&fields) {
        Ok(amendment) => amendment,
        Err(why) => return render_event(&staff, event, lang, false, Some(why), &headers).await,
    };
    match staff.handle.shard.execute(None, core::Command::AmendEvent { event: core::EventId(event), amendment }).await {
        Ok(Ok(_)) => see_other(format!("/{}/office/events/{event}?lang={}&done=1", staff.slug, lang.code())),
        Ok(Err(rejection)) => {
            let status = Problem::from_rejection(&rejection).status;
            with_status(render_event(&staff, event, lang, false, Some(rejection.detail()), &headers).await, status)
        }
        Err(e) => Problem::from(e).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct SaleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    resume_at: String,
}

/// A `datetime-local` value (`2026-12-05T19:30`) read as Berlin time.
pub fn berlin_local(text: &str) -> Option<core::TimeMs> {
    let civil: jiff::civil::DateTime = text.trim().parse().ok()?;
    let zoned = civil.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").ok()?).ok()?;
    Some(core::TimeMs(zoned.timestamp().as_millisecond()))
}

pub async fn sale_submit(
    staff: StaffSession,
    PathParams((_slug, event)): PathParams<(String, u32)>,
    Query(query): Query<OfficeQuery>,
    headers: HeaderMap,
    Form(form): Form<SaleForm>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    let action = match form.action.as_str() {
        "open" => core::SaleAction::Open,
        "pause" => {
            let resume_at = match form.resume_at.trim() {
                "" => None,
                text => match berlin_local(text) {
                    Some(at) => Some(at),
                    None => return render_event(&staff, event, lang, false, Some(format!("{}: {text}", office_texts(lang).resume_at)), &headers).await,
                },
            };
            core::SaleAction::Pause { message: form.message.trim().chars().take(pause_message_bytes_max).collect(), resume_at }
        }
        "resume" => core::SaleAction::Resume,
        "close" => core::SaleAction::Close,
        _ => return render_event(&staff, event, lang, false, Some(office_texts(lang).error_other.into()), &headers).await,
    };
    match staff.handle.shard.execute(None, core::Command::Sale { event: core::EventId(event), action }).await {
        Ok(Ok(_)) => see_other(format!("/{}/office/events/{event}?lang={}&done=1", staff.slug, lang.code())),
        Ok(Err(rejection)) => {
            let status = Problem::from_rejection(&rejection).status;
            with_status(render_event(&staff, event, lang, false, Some(rejection.detail()), &headers).await, status)
        }
        Err(e) => Problem::from(e).into_response(),
    }
}

// ----- CSV export -----

/// One CSV field for German spreadsheets: `;` separated, quoted when needed, and a
/// leading `=`, `+`, `-` or `@` defused so a buyer's name is never run as a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if text.contains([';', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// `12,50` — euros with two decimals and a decimal comma, no currency sign, so
/// German Excel reads a number.
fn csv_euros(cents: core::Cents) -> String {
    let sign = if cents.0 < 0 { "-" } else { "" };
    let abs = cents.0.unsigned_abs();
    format!("{sign}{},{:02}", abs / 100, abs % 100)
}

/// `2026-12-05 19:30:00` in Berlin time.
fn csv_time(t: core::TimeMs) -> String {
    jiff::Timestamp::from_millisecond(t.0)
        .ok()
        .and_then(|ts| jiff::tz::TimeZone::get("Europe/Berlin").ok().map(|tz| ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M:%S").to_string()))
        .unwrap_or_default()
}

pub const csv_header: &str = "order;created_berlin;channel;buyer;email;payment;ticket;category;tariff;block;row;seat;standing_area;price_eur;status";

/// Every ticket of the event's orders, one line each, cancelled ones included
/// with their status; documented in docs/OFFICE.md.
pub fn tickets_csv(tenant: &core::Tenant, event: &core::Event) -> String {
    let venue = tenant.venue(event.spec.venue).expect("an event's venue exists");
    let mut out = String::from("\u{feff}");
    out.push_str(csv_header);
    out.push_str("\r\n");
    for order in tenant.orders().iter().filter(|o| o.event == event.id) {
        for (index, ticket) in order.tickets.iter().enumerate() {
            let category = &event.spec.categories[usize::from(ticket.category.0)];
            let tariff = category.tariffs.get(usize::from(ticket.tariff.0)).map_or("", |t| t.name.as_str());
            let (block, row, seat, area) = match ticket.place {
                core::Place::Seat(s) => {
                    let (b, r, s) = venue.seat_labels(s).unwrap_or(("", "", ""));
                    (b.to_string(), r.to_string(), s.to_string(), String::new())
                }
                core::Place::Standing(a) => {
                    (String::new(), String::new(), String::new(), venue.spec.standing.get(usize::from(a.0)).map_or_else(String::new, |s| s.name.clone()))
                }
            };
            let fields = [
                order.id.0.to_string(),
                csv_time(order.created_at),
                order.channel.code().to_string(),
                order.buyer.name.clone(),
                order.buyer.email.clone(),
                order.payment.clone(),
                (index + 1).to_string(),
                category.name.clone(),
                tariff.to_string(),
                block,
                row,
                seat,
                area,
                csv_euros(ticket.price),
                if ticket.cancelled_at.is_some() { "cancelled" } else { "valid" }.to_string(),
            ];
            out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(";"));
            out.push_str("\r\n");
        }
    }
    out
}

pub async fn event_csv(staff: StaffSession, PathParams((_slug, event)): PathParams<(String, u32)>, headers: HeaderMap) -> Response {
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    let read = staff.handle.shard.read(move |t| t.event(core::EventId(event)).map(|e| tickets_csv(t, e))).await;
    let csv = match read {
        Ok(Some(csv)) => csv,
        Ok(None) => return Problem::from_rejection(&core::Rejection::UnknownEvent).into_response(),
        Err(e) => return Problem::from(e).into_response(),
    };
    let mut response = csv.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&format!("attachment; filename=\"tickets-{event}.csv\"")).expect("ascii"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ----- orders: search, detail, cancel -----

pub struct OrderRow {
    pub id: u64,
    pub event: String,
    pub buyer: String,
    pub email: String,
    pub created: String,
    pub channel: &'static str,
    pub tickets: usize,
    pub paid: String,
}

#[derive(Template)]
#[template(path = "office_orders.html")]
struct OrdersPage<'a> {
    lang: Lang,
    t: &'static Texts,
    o: &'static OfficeTexts,
    organizer: &'a str,
    slug: &'a str,
    q: String,
    orders: Vec<OrderRow>,
}

/// Does `order` match the search text: the whole order number (`42` or `#42`),
/// or a case-insensitive part of the buyer's name or e-mail.
pub fn matches(order: &core::Order, q: &str) -> bool {
    let q = q.trim();
    if q.is_empty() {
        return true;
    }
    if let Ok(n) = q.trim_start_matches('#').parse::<u64>() {
        if order.id.0 == n {
            return true;
        }
    }
    let q = q.to_lowercase();
    order.buyer.name.to_lowercase().contains(&q) || order.buyer.email.to_lowercase().contains(&q)
}

pub async fn orders_page(staff: StaffSession, Query(query): Query<OfficeQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    let o = office_texts(lang);
    let q = query.q.clone().unwrap_or_default();
    let needle = q.clone();
    let read = staff
        .handle
        .shard
        .read(move |t| {
            t.orders()
                .iter()
                .rev()
                .filter(|order| matches(order, &needle))
                .take(search_results_max)
                .map(|order| OrderRow {
                    id: order.id.0,
                    event: t.event(order.event).map_or_else(String::new, |e| e.spec.name.clone()),
                    buyer: order.buyer.name.clone(),
                    email: order.buyer.email.clone(),
                    created: date_time(order.created_at, lang),
                    channel: channel_text(order.channel, o),
                    tickets: order.valid_tickets().count(),
                    paid: euros(order.paid(), lang),
                })
                .collect::<Vec<_>>()
        })
        .await;
    let orders = match read {
        Ok(orders) => orders,
        Err(e) => return Problem::from(e).into_response(),
    };
    let page = OrdersPage { lang, t: lang.texts(), o, organizer: &staff.handle.name, slug: &staff.slug, q, orders };
    html(&page, lang)
}

pub struct TicketRow {
    pub index: usize,
    pub place: String,
    pub category: String,
    pub tariff: String,
    pub price: String,
    pub valid: bool,
}

#[derive(Template)]
#[template(path = "office_order.html")]
struct OrderPage<'a> {
    lang: Lang,
    t: &'static Texts,
    o: &'static OfficeTexts,
    organizer: &'a str,
    slug: &'a str,
    csrf: String,
    id: u64,
    event: String,
    buyer: String,
    email: String,
    created: String,
    channel: &'static str,
    payment: String,
    paid: String,
    refunded: String,
    tickets: Vec<TicketRow>,
    done: bool,
    error: Option<String>,
}

pub async fn order_page(
    staff: StaffSession,
    PathParams((_slug, order)): PathParams<(String, u64)>,
    Query(query): Query<OfficeQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    render_order(&staff, order, lang, query.done.is_some(), None, &headers).await
}

async fn render_order(staff: &StaffSession, id: u64, lang: Lang, done: bool, error: Option<String>, headers: &HeaderMap) -> Response {
    let o = office_texts(lang);
    let read = staff
        .handle
        .shard
        .read(move |t| {
            let order = t.order(core::OrderId(id))?;
            let event = t.event(order.event)?;
            let venue = t.venue(event.spec.venue)?;
            let tickets = order
                .tickets
                .iter()
                .enumerate()
                .map(|(index, ticket)| {
                    let category = &event.spec.categories[usize::from(ticket.category.0)];
                    let place = match ticket.place {
                        core::Place::Seat(s) => {
                            let (b, r, s) = venue.seat_labels(s).unwrap_or(("", "", ""));
                            super::boxoffice::place_text(&crate::tickets::PlaceLabel::Seat { block: b.into(), row: r.into(), seat: s.into() }, lang)
                        }
                        core::Place::Standing(a) => venue.spec.standing.get(usize::from(a.0)).map_or_else(String::new, |s| s.name.clone()),
                    };
                    TicketRow {
                        index,
                        place,
                        category: category.name.clone(),
                        tariff: category.tariffs.get(usize::from(ticket.tariff.0)).map_or_else(String::new, |t| t.name.clone()),
                        price: euros(ticket.price, lang),
                        valid: ticket.cancelled_at.is_none(),
                    }
                })
                .collect::<Vec<_>>();
            Some((
                event.spec.name.clone(),
                order.buyer.clone(),
                date_time(order.created_at, lang),
                channel_text(order.channel, o),
                order.payment.clone(),
                euros(order.paid(), lang),
                euros(order.refunded(), lang),
                tickets,
            ))
        })
        .await;
    let found = match read {
        Ok(found) => found,
        Err(e) => return Problem::from(e).into_response(),
    };
    let Some((event, buyer, created, channel, payment, paid, refunded, tickets)) = found else { return not_found(lang, headers) };
    let page = OrderPage {
        lang,
        t: lang.texts(),
        o,
        organizer: &staff.handle.name,
        slug: &staff.slug,
        csrf: staff.csrf_token(),
        id,
        event,
        buyer: buyer.name,
        email: buyer.email,
        created,
        channel,
        payment,
        paid,
        refunded,
        tickets,
        done,
        error,
    };
    let status = if page.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    with_status(html(&page, lang), status)
}

/// Cancels tickets and refunds them through the core. This is the one place a
/// refund leaves the office: when online payments are refunded through the
/// payment provider, the provider call goes here, before the core command.
pub async fn cancel_and_refund(
    handle: &TenantHandle,
    order: core::OrderId,
    tickets: core::TicketSelection,
    refund: core::RefundMode,
) -> Result<core::Reply, Problem> {
    crate::payments::cancel_order(handle, order, tickets, refund, None).await
}

pub async fn cancel_submit(
    staff: StaffSession,
    PathParams((_slug, order)): PathParams<(String, u64)>,
    Query(query): Query<OfficeQuery>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let csrf = form.get("csrf").map_or("", String::as_str);
    if let Err(r) = gate_form(&staff, &headers, csrf) {
        return r;
    }
    let mut chosen: Vec<u16> = form.keys().filter_map(|k| k.strip_prefix("ticket_")?.parse().ok()).collect();
    chosen.sort_unstable();
    let tickets = if chosen.is_empty() { core::TicketSelection::All } else { core::TicketSelection::Some(chosen) };
    let refund = if form.get("refund").map(String::as_str) == Some("none") { core::RefundMode::None } else { core::RefundMode::Full };
    match cancel_and_refund(&staff.handle, core::OrderId(order), tickets, refund).await {
        Ok(_) => see_other(format!("/{}/office/orders/{order}?lang={}&done=1", staff.slug, lang.code())),
        Err(problem) if problem.status.is_server_error() => problem.into_response(),
        Err(problem) => {
            let detail = problem.detail.clone();
            with_status(render_order(&staff, order, lang, false, Some(detail), &headers).await, problem.status)
        }
    }
}

// ----- venue import -----

#[derive(Template)]
#[template(path = "office_import.html")]
struct ImportPage<'a> {
    lang: Lang,
    t: &'static Texts,
    o: &'static OfficeTexts,
    organizer: &'a str,
    slug: &'a str,
    csrf: String,
    name: String,
    data: String,
    errors: Vec<venue_import::ImportError>,
    counts: Option<venue_import::ImportCounts>,
    script: &'static str,
}

#[derive(Deserialize, Default)]
pub struct ImportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    data: String,
}

pub async fn import_page(staff: StaffSession, Query(query): Query<OfficeQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    render_import(&staff, lang, ImportForm::default(), Vec::new(), None)
}

fn render_import(
    staff: &StaffSession,
    lang: Lang,
    form: ImportForm,
    errors: Vec<venue_import::ImportError>,
    counts: Option<venue_import::ImportCounts>,
) -> Response {
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = ImportPage {
        lang,
        t: lang.texts(),
        o: office_texts(lang),
        organizer: &staff.handle.name,
        slug: &staff.slug,
        csrf: staff.csrf_token(),
        name: form.name,
        data: form.data,
        errors,
        counts,
        script: super::assets::path("office.js"),
    };
    with_status(html(&page, lang), status)
}

/// `action=preview` parses and shows the counts; `action=create` parses again and
/// creates the venue. Nothing is created from a file with errors.
pub async fn import_submit(staff: StaffSession, Query(query): Query<OfficeQuery>, headers: HeaderMap, Form(form): Form<ImportForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    let spec = match venue_import::parse(&form.data, &form.name) {
        Ok(spec) => spec,
        Err(errors) => return render_import(&staff, lang, form, errors, None),
    };
    let counts = venue_import::counts(&spec);
    if form.action != "create" {
        return render_import(&staff, lang, form, Vec::new(), Some(counts));
    }
    match crate::http::handlers::run(&staff.handle, None, core::Command::CreateVenue(spec)).await {
        Ok(_) => see_other(format!("/{}/office?lang={}&done=1", staff.slug, lang.code())),
        Err(problem) if problem.status.is_server_error() => problem.into_response(),
        Err(problem) => {
            let error = venue_import::ImportError { line: 0, message: problem.detail.clone() };
            render_import(&staff, lang, form, vec![error], None)
        }
    }
}

// ----- a new game -----

pub struct PlaceOption {
    /// `b<index>` for a block, `s<index>` for a standing area.
    pub value: String,
    pub label: String,
}

pub struct VenueOption {
    pub id: u32,
    pub name: String,
    pub places: Vec<PlaceOption>,
}

#[derive(Template)]
#[template(path = "office_new_game.html")]
struct NewGamePage<'a> {
    lang: Lang,
    t: &'static Texts,
    o: &'static OfficeTexts,
    organizer: &'a str,
    slug: &'a str,
    csrf: String,
    venues: Vec<VenueOption>,
    venue: Option<VenueOption>,
    slots: Vec<usize>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NewGameQuery {
    lang: Option<String>,
    venue: Option<u32>,
}

pub async fn new_game_page(staff: StaffSession, Query(query): Query<NewGameQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    render_new_game(&staff, lang, query.venue, None).await
}

async fn render_new_game(staff: &StaffSession, lang: Lang, venue: Option<u32>, error: Option<String>) -> Response {
    let read = staff
        .handle
        .shard
        .read(|t| {
            t.venues()
                .iter()
                .enumerate()
                .map(|(id, v)| VenueOption {
                    id: id as u32,
                    name: v.spec.name.clone(),
                    places: v
                        .spec
                        .blocks
                        .iter()
                        .enumerate()
                        .map(|(i, b)| PlaceOption { value: format!("b{i}"), label: format!("Block {}", b.name) })
                        .chain(v.spec.standing.iter().enumerate().map(|(i, s)| PlaceOption { value: format!("s{i}"), label: format!("{} ({})", s.name, s.capacity) }))
                        .collect(),
                })
                .collect::<Vec<_>>()
        })
        .await;
    let mut venues = match read {
        Ok(venues) => venues,
        Err(e) => return Problem::from(e).into_response(),
    };
    let chosen = venue.and_then(|id| venues.iter().position(|v| v.id == id)).map(|i| venues.remove(i));
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = NewGamePage {
        lang,
        t: lang.texts(),
        o: office_texts(lang),
        organizer: &staff.handle.name,
        slug: &staff.slug,
        csrf: staff.csrf_token(),
        venues,
        venue: chosen,
        slots: (0..form_categories_max).collect(),
        error,
    };
    with_status(html(&page, lang), status)
}

/// `Erwachsene 29,00` per line → tariffs; the price is the last word.
pub fn parse_tariffs(text: &str) -> Result<Vec<core::TariffSpec>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (name, price) = line.rsplit_once(char::is_whitespace).ok_or_else(|| format!("{line:?}: write a name and a price"))?;
            let price = super::format::parse_euros(price).ok_or_else(|| format!("{line:?}: {price:?} is not a price in euros"))?;
            Ok(core::TariffSpec { name: name.trim().to_string(), price: core::Cents(price) })
        })
        .collect()
}

/// Builds the core's event from the form's fields: `name`, `venue`, `starts`,
/// `opens`, `closes` (Berlin `datetime-local`), per category slot `i`:
/// `cat<i>_name`, `cat<i>_places` (`b<n>`/`s<n>`, repeated), `cat<i>_tariffs`,
/// and `quota_online`, `quota_box_office`, `quota_reserved`, `order_max`.
pub fn game_spec(fields: &[(String, String)]) -> Result<core::EventSpec, String> {
    let one = |key: &str| fields.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str()).trim();
    let time = |key: &str, label: &str| berlin_local(one(key)).ok_or_else(|| format!("{label}: not a date and time"));
    let venue: u32 = one("venue").parse().map_err(|_| "choose a venue".to_string())?;
    let mut categories = Vec::new();
    for slot in 0..form_categories_max {
        let name = one(&format!("cat{slot}_name"));
        let places: Vec<&str> = fields.iter().filter(|(k, _)| *k == format!("cat{slot}_places")).map(|(_, v)| v.as_str()).collect();
        if name.is_empty() && places.is_empty() {
            continue;
        }
        let tariffs = parse_tariffs(one(&format!("cat{slot}_tariffs")))?;
        let blocks: Vec<core::BlockId> = places.iter().filter_map(|p| p.strip_prefix('b')?.parse().ok()).map(core::BlockId).collect();
        let areas: Vec<core::AreaId> = places.iter().filter_map(|p| p.strip_prefix('s')?.parse().ok()).map(core::AreaId).collect();
        let places = match (blocks.is_empty(), areas.as_slice()) {
            (false, []) => core::CategoryPlaces::Blocks(blocks),
            (true, [area]) => core::CategoryPlaces::Standing(*area),
            _ => return Err(format!("{name}: choose blocks, or exactly one standing area")),
        };
        categories.push(core::CategorySpec { name: name.to_string(), places, tariffs });
    }
    let quota = |key: &str| -> Result<Option<u32>, String> {
        match one(key) {
            "" => Ok(None),
            text => text.parse().map(Some).map_err(|_| format!("quota {text:?} is not a whole number")),
        }
    };
    let order_max: u32 = match one("order_max") {
        "" => 8,
        text => text.parse().map_err(|_| format!("{text:?} is not a whole number"))?,
    };
    Ok(core::EventSpec {
        name: one("name").to_string(),
        venue: core::VenueId(venue),
        starts_at: time("starts", "kick-off")?,
        sale_opens_at: time("opens", "sale opens")?,
        sale_closes_at: time("closes", "sale closes")?,
        categories,
        quotas: [quota("quota_online")?, quota("quota_box_office")?, quota("quota_reserved")?],
        hold_duration_ms: 10 * 60 * 1000,
        order_tickets_max: order_max,
        customer_tickets_max: order_max,
    })
}

pub async fn new_game_submit(
    staff: StaffSession,
    Query(query): Query<NewGameQuery>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let csrf = fields.iter().find(|(k, _)| k == "csrf").map_or("", |(_, v)| v.as_str());
    if let Err(r) = gate_form(&staff, &headers, csrf) {
        return r;
    }
    let venue = fields.iter().find(|(k, _)| k == "venue").and_then(|(_, v)| v.parse().ok());
    let spec = match game_spec(&fields) {
        Ok(spec) => spec,
        Err(why) => return render_new_game(&staff, lang, venue, Some(why)).await,
    };
    match crate::http::handlers::run(&staff.handle, None, core::Command::CreateEvent(spec)).await {
        Ok(core::Reply::EventCreated { event }) => see_other(format!("/{}/office/events/{}?lang={}&done=1", staff.slug, event.0, lang.code())),
        Ok(other) => crate::http::handlers::unexpected(&other).into_response(),
        Err(problem) if problem.status.is_server_error() => problem.into_response(),
        Err(problem) => render_new_game(&staff, lang, venue, Some(problem.detail.clone())).await,
    }
}

#[cfg(test)]
mod tests {
    //! The office's pure pieces: search matching, CSV quoting and money, Berlin
    //! times from a form, tariffs and the whole game form.

    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("Müller; Anna"), "\"Müller; Anna\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_euros(core::Cents(2905)), "29,05");
        assert_eq!(csv_euros(core::Cents(-5)), "-0,05");
        assert_eq!(csv_time(core::TimeMs(1_780_000_000_000)), "2026-05-28 22:26:40", "summer time: UTC+2");
    }

    #[test]
    fn form_times_are_berlin_time_in_winter_and_summer() {
        assert_eq!(berlin_local("2026-12-05T19:30"), Some(core::TimeMs(1_796_495_400_000)));
        assert_eq!(berlin_local("2026-07-05T19:30"), Some(core::TimeMs(1_783_272_600_000)));
        assert_eq!(berlin_local("5.12.2026"), None);
    }

    #[test]
    fn the_game_form_becomes_an_event_or_says_what_is_wrong() {
        let f = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let base = [
            ("name", "Derby"),
            ("venue", "0"),
            ("starts", "2026-12-05T19:30"),
            ("opens", "2026-12-01T10:00"),
            ("closes", "2026-12-05T19:30"),
            ("cat0_name", "Sitzplatz"),
            ("cat0_places", "b0"),
            ("cat0_places", "b1"),
            ("cat0_tariffs", "Erwachsene 29,00\nErmäßigt 19.50"),
            ("cat1_name", "Stehplatz"),
            ("cat1_places", "s0"),
            ("cat1_tariffs", "Stehplatz 12"),
            ("quota_box_office", "100"),
        ];
        let spec = game_spec(&f(&base)).unwrap();
        assert_eq!(spec.categories.len(), 2);
        assert_eq!(spec.categories[0].places, core::CategoryPlaces::Blocks(vec![core::BlockId(0), core::BlockId(1)]));
        assert_eq!(spec.categories[0].tariffs[1], core::TariffSpec { name: "Ermäßigt".into(), price: core::Cents(1950) });
        assert_eq!(spec.categories[1].places, core::CategoryPlaces::Standing(core::AreaId(0)));
        assert_eq!(spec.quotas, [None, Some(100), None]);
        assert_eq!(spec.starts_at, core::TimeMs(1_796_495_400_000));

        let mut bad = base.to_vec();
        bad.push(("cat1_places", "s1"));
        assert!(game_spec(&f(&bad)).unwrap_err().contains("exactly one standing area"));
        let mut bad = base.to_vec();
        bad[8] = ("cat0_tariffs", "Erwachsene neunzehn");
        assert!(game_spec(&f(&bad)).unwrap_err().contains("not a price"));
        let mut bad = base.to_vec();
        bad[2] = ("starts", "tomorrow");
        assert!(game_spec(&f(&bad)).unwrap_err().contains("kick-off"));
    }
}
