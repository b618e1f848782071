//! Server-rendered pages (askama templates compiled into the binary), German and
//! English, phone first. Pages read the same tenant state as the API; they add no
//! business logic of their own. The waiting page is the one page with script: two
//! small plain files (`assets.rs`) that drive the room's public JSON calls.

pub mod assets;
pub mod boxoffice;
pub mod card;
// Digital voucher cards bought and loaded online (brief I).
pub mod card_online;
pub mod checkout;
pub mod format;
pub mod i18n;
pub mod office;
pub mod operator;
pub mod merchant;
pub mod shop;
pub mod staff;
pub mod voucher_money;
pub mod voucher_merchants;
pub mod voucher_nav;
pub mod voucher_office;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use sturmfest_core as core;

use crate::http::AppState;
use crate::http::extract::PathParams;
use format::{date_time, euros};
use i18n::{Lang, Texts};

/// The page routes, merged into the app next to the API.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/{tenant}", get(events_page))
        .route("/{tenant}/events/{event}", get(event_page))
        .route("/{tenant}/events/{event}/queue", get(queue_page))
        .route("/assets/{file}", get(assets::serve))
        .route("/{tenant}/staff", get(staff::home))
        .route("/{tenant}/staff/login", get(staff::login_page).post(staff::login_submit))
        .route("/{tenant}/staff/logout", axum::routing::post(staff::logout))
        .route("/{tenant}/staff/accounts", get(staff::accounts_page).post(staff::accounts_submit))
        // Box office and club office (helper B): counter sale, office pages.
        .route("/{tenant}/boxoffice", get(boxoffice::page))
        .route("/{tenant}/boxoffice/sell", axum::routing::post(boxoffice::sell))
        .route("/{tenant}/boxoffice/orders/{order}/tickets.pdf", get(boxoffice::tickets_pdf))
        .route("/{tenant}/office", get(office::home))
        .route("/{tenant}/office/venues/import", get(office::import_page).post(office::import_submit))
        .route("/{tenant}/office/events/new", get(office::new_game_page).post(office::new_game_submit))
        .route("/{tenant}/office/events/{event}", get(office::event_page))
        .route("/{tenant}/office/events/{event}/sale", axum::routing::post(office::sale_submit))
        .route("/{tenant}/office/events/{event}/amend", axum::routing::post(office::amend_submit))
        .route("/{tenant}/office/events/{event}/tickets.csv", get(office::event_csv))
        .route("/{tenant}/office/orders", get(office::orders_page))
        .route("/{tenant}/office/orders/{order}", get(office::order_page))
        .route("/{tenant}/office/orders/{order}/cancel", axum::routing::post(office::cancel_submit))
        // Voucher card holder's balance page.
        .route("/{tenant}/card", get(card::card_page).post(card::card_submit))
        // Digital voucher cards bought and loaded online: `web/card_online.rs`.
        .route("/{tenant}/card/buy", get(card_online::buy_page).post(card_online::buy_submit))
        .route("/{tenant}/card/purchases/{purchase}", get(card_online::purchase_page))
        .route("/{tenant}/card/digital/{purchase}", get(card_online::digital_page))
        // Checkout: the test provider's page and the payment confirmation page.
        .merge(checkout::routes())
        // The merchant redemption page with offline mode (web/merchant.rs).
        .route("/{tenant}/merchant", get(merchant::page))
        .route("/{tenant}/merchant-sw.js", get(merchant::service_worker))
        // The operator's page across cities (brief J): `web/operator.rs`.
        .route("/operator", get(operator::page))
        .route("/operator/login", axum::routing::post(operator::sign_in))
        .route("/operator/logout", axum::routing::post(operator::sign_out))
        .route("/operator/report.csv", get(operator::csv))
        // The voucher office: overview, cards and counter (web/voucher_office.rs).
        .route("/{tenant}/vouchers", get(voucher_office::overview))
        .route("/{tenant}/vouchers/programmes", axum::routing::post(voucher_office::create_programme))
        .route("/{tenant}/vouchers/programmes/{programme}/design", axum::routing::post(voucher_office::design_submit))
        .route("/{tenant}/vouchers/expiry", axum::routing::post(voucher_office::expire))
        .route("/{tenant}/vouchers/cards", get(voucher_office::cards))
        .route("/{tenant}/vouchers/cards/batch", axum::routing::post(voucher_office::issue_batch))
        .route("/{tenant}/vouchers/cards/lookup", axum::routing::post(voucher_office::lookup))
        .route("/{tenant}/vouchers/cards/action", axum::routing::post(voucher_office::card_action))
        .route("/{tenant}/vouchers/counter", get(voucher_office::counter).post(voucher_office::counter_submit))
        // Voucher office: merchants and tills, offline risk, settlement, report (helper H;
        // web/voucher_merchants.rs, web/voucher_money.rs).
        .route("/{tenant}/vouchers/merchants", get(voucher_merchants::merchants_page).post(voucher_merchants::onboard_submit))
        .route("/{tenant}/vouchers/merchants/{merchant}/accept", axum::routing::post(voucher_merchants::accept_submit))
        .route("/{tenant}/vouchers/merchants/{merchant}/pairing", axum::routing::post(voucher_merchants::pairing_submit))
        .route("/{tenant}/vouchers/merchants/{merchant}/bind", axum::routing::post(voucher_merchants::bind_submit))
        .route("/{tenant}/vouchers/devices/{device}/revoke", axum::routing::post(voucher_merchants::revoke_submit))
        .route("/{tenant}/vouchers/offline", get(voucher_merchants::offline_page))
        .route("/{tenant}/vouchers/offline/{programme}", axum::routing::post(voucher_merchants::policy_submit))
        .route("/{tenant}/vouchers/settlement", get(voucher_money::settlement_page).post(voucher_money::settle_submit))
        .route("/{tenant}/vouchers/settlement/statement", get(voucher_money::statement_file))
        .route("/{tenant}/vouchers/settlement/payout", get(voucher_money::payout_file))
        .route("/{tenant}/vouchers/report", get(voucher_money::report_page))
}

#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

/// One game as a card or page header shows it.
pub struct EventCard {
    pub id: u32,
    pub name: String,
    pub starts: String,
    pub status: &'static str,
    pub status_class: &'static str,
    /// The opening time, the pause message or nothing.
    pub detail: String,
    pub free: u32,
    pub capacity: u32,
    pub from_price: String,
}

pub struct CategoryRow {
    /// The category's index, as the API's availability and queue status name it.
    pub id: usize,
    pub name: String,
    pub kind: &'static str,
    pub prices: String,
    pub free: u32,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage<'a> {
    lang: Lang,
    t: &'static Texts,
    organizer: &'a str,
    slug: &'a str,
    events: Vec<EventCard>,
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage<'a> {
    lang: Lang,
    t: &'static Texts,
    organizer: &'a str,
    slug: &'a str,
    venue: String,
    e: EventCard,
    pause_message: Option<String>,
    categories: Vec<CategoryRow>,
    has_room: bool,
    shop: Option<shop::Shop>,
    shop_js: &'static str,
}

fn card(event: &core::Event, lang: Lang) -> EventCard {
    let t = lang.texts();
    let (status, status_class, detail) = match &event.sale {
        core::SaleStatus::Draft => (t.sale_draft, "draft", format!("{} {}", t.sale_opens, date_time(event.spec.sale_opens_at, lang))),
        core::SaleStatus::Open if event.free() == 0 && event.held() == 0 => (t.sold_out, "soldout", String::new()),
        core::SaleStatus::Open => (t.sale_open, "open", String::new()),
        core::SaleStatus::Paused { resume_at, .. } => (
            t.sale_paused,
            "paused",
            resume_at.map(|at| format!("{} {}", t.resume_at, date_time(at, lang))).unwrap_or_default(),
        ),
        core::SaleStatus::Closed => (t.sale_closed, "closed", String::new()),
    };
    let from = event.spec.categories.iter().flat_map(|c| &c.tariffs).map(|tariff| tariff.price).min();
    EventCard {
        id: event.id.0,
        name: event.spec.name.clone(),
        starts: date_time(event.spec.starts_at, lang),
        status,
        status_class,
        detail,
        free: event.free(),
        capacity: event.capacity(),
        from_price: from.map(|p| euros(p, lang)).unwrap_or_default(),
    }
}

fn html(page: &impl Template, lang: Lang) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = Html(body).into_response();
            response.headers_mut().insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
            response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-language"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Browsers get a page in their language; API clients that wandered here get the
/// same problem+json as any other unknown path.
fn not_found(lang: Lang, headers: &HeaderMap) -> Response {
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if !wants_html {
        return crate::http::problem::Problem::not_found("not_found", "no such path").into_response();
    }
    (StatusCode::NOT_FOUND, Html(format!("<!doctype html><html lang=\"{}\"><meta charset=\"utf-8\"><p>{}</p></html>", lang.code(), lang.texts().not_found)))
        .into_response()
}

async fn events_page(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return not_found(lang, &headers) };
    let Ok(mut events) = handle.shard.read(move |t| t.events().iter().map(|e| (e.spec.starts_at, card(e, lang))).collect::<Vec<_>>()).await
    else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    events.sort_by_key(|(starts, card)| (*starts, card.id));
    let page = EventsPage {
        lang,
        t: lang.texts(),
        organizer: &handle.name,
        slug: &slug,
        events: events.into_iter().map(|(_, c)| c).collect(),
    };
    html(&page, lang)
}

async fn event_page(
    State(state): State<AppState>,
    PathParams((slug, event)): PathParams<(String, u32)>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return not_found(lang, &headers) };
    let shop_slug = slug.clone();
    let read = handle
        .shard
        .read(move |t| {
            let event = t.event(core::EventId(event))?;
            let venue = t.venue(event.spec.venue)?;
            let has_room = t.room(event.id).is_some();
            let shop = shop::shop(&shop_slug, event, venue, has_room, lang);
            Some((card(event, lang), venue.spec.name.clone(), pause_message(event), categories(event, lang), has_room, shop))
        })
        .await;
    let Ok(read) = read else { return StatusCode::SERVICE_UNAVAILABLE.into_response() };
    let Some((e, venue, pause_message, categories, has_room, shop)) = read else { return not_found(lang, &headers) };
    let page = EventPage {
        lang,
        t: lang.texts(),
        organizer: &handle.name,
        slug: &slug,
        venue,
        e,
        pause_message,
        categories,
        has_room,
        shop,
        shop_js: assets::path("shop.js"),
    };
    html(&page, lang)
}

fn pause_message(event: &core::Event) -> Option<String> {
    match &event.sale {
        core::SaleStatus::Paused { message, .. } if !message.is_empty() => Some(message.clone()),
        _ => None,
    }
}

fn categories(event: &core::Event, lang: Lang) -> Vec<CategoryRow> {
    let t = lang.texts();
    event
        .spec
        .categories
        .iter()
        .zip(&event.categories)
        .enumerate()
        .map(|(id, (spec, counts))| CategoryRow {
            id,
            name: spec.name.clone(),
            kind: match spec.places {
                core::CategoryPlaces::Blocks(_) => t.seated,
                core::CategoryPlaces::Standing(_) => t.standing,
            },
            prices: spec.tariffs.iter().map(|tariff| format!("{} {}", tariff.name, euros(tariff.price, lang))).collect::<Vec<_>>().join(" · "),
            free: counts.free(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage<'a> {
    lang: Lang,
    t: &'static Texts,
    organizer: &'a str,
    slug: &'a str,
    e: EventCard,
    opens: String,
    phase: &'static str,
    phase_text: &'static str,
    pause_message: Option<String>,
    resume_at: Option<String>,
    categories: Vec<CategoryRow>,
    /// What the script needs: ids, paths and every text it may show, as JSON that
    /// is safe inside a `<script>` element.
    config: String,
    pow_js: &'static str,
    queue_js: &'static str,
}

/// The waiting page. Its first paint is rendered here from the room's state — the
/// phase, the brake's message, free places — so it tells the truth before (or
/// without) any script; `queue.js` then identifies, joins and polls.
async fn queue_page(
    State(state): State<AppState>,
    PathParams((slug, event)): PathParams<(String, u32)>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return not_found(lang, &headers) };
    let read = handle
        .shard
        .read(move |t| {
            let event = t.event(core::EventId(event))?;
            let room = &t.room(event.id)?.room;
            let notice = room.pause_notice().map(|n| (n.message.clone(), n.resume_at));
            Some((card(event, lang), room.phase(), room.config().opens_at, notice, categories(event, lang)))
        })
        .await;
    let Ok(read) = read else { return StatusCode::SERVICE_UNAVAILABLE.into_response() };
    let Some((e, phase, opens_at, notice, categories)) = read else { return not_found(lang, &headers) };
    let t = lang.texts();
    let phase = crate::http::room::phase_code(phase);
    let (pause_message, resume_at) = match notice {
        Some((message, resume_at)) => ((!message.is_empty()).then_some(message), resume_at.map(|at| date_time(at, lang))),
        None => (None, None),
    };
    let config = serde_json::json!({
        "tenant": slug,
        "event": e.id,
        "lang": lang.code(),
        "shop": format!("/{slug}/events/{}", e.id),
        "texts": script_texts(t),
    });
    let page = QueuePage {
        lang,
        t,
        organizer: &handle.name,
        slug: &slug,
        opens: date_time(opens_at, lang),
        phase,
        phase_text: phase_text(t, phase),
        pause_message,
        resume_at,
        categories,
        config: script_json(&config),
        pow_js: assets::path("pow.js"),
        queue_js: assets::path("queue.js"),
        e,
    };
    html(&page, lang)
}

pub fn phase_text(t: &'static Texts, phase: &str) -> &'static str {
    match phase {
        "not_yet_open" => t.phase_not_yet_open,
        "pre_queue" => t.phase_pre_queue,
        "drawing" => t.phase_drawing,
        "paused" => t.phase_paused,
        "sold_out" => t.phase_sold_out,
        _ => t.phase_admitting,
    }
}

/// JSON for inside `<script type="application/json">`: `<`, `>` and `&` escaped so
/// an organizer's text can never close the element or open a comment.
fn script_json(value: &serde_json::Value) -> String {
    serde_json::to_string(value).expect("json").replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// The texts the script shows, taken from the one `Texts` table so there is no
/// second translation in JavaScript.
fn script_texts(t: &Texts) -> serde_json::Value {
    macro_rules! texts {
        ($($field:ident),* $(,)?) => {{
            let mut map = serde_json::Map::new();
            $(map.insert(stringify!($field).to_string(), t.$field.into());)*
            serde_json::Value::Object(map)
        }};
    }
    texts!(
        code_sent, mail_unavailable, email_invalid, code_wrong, too_many, identity_held, pow_progress,
        phase_not_yet_open, phase_pre_queue, phase_drawing, phase_admitting, phase_paused, phase_sold_out,
        place_pre_queue, place_waiting, place_admitted, place_done, place_expired, place_sold_out,
        estimate_less, estimate_one, estimate_minutes, estimate_unknown, rate_per_minute,
        busy, offline, error, resume_at, time_suffix,
    )
}
