//! The API handlers. Each parses its input into core types, checks credentials,
//! sends one command (or one read) to the tenant's shard and renders the outcome.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sturmfest_core as core;

use crate::http::dto::*;
use crate::http::extract::*;
use crate::http::problem::Problem;
use crate::http::{AppState, TenantHandle};
use crate::tenants::{customer_id, scoped_key};

pub const customer_bytes_max: usize = 128;
pub const order_page_max: usize = 1_000;

pub(crate) type ApiResult = Result<Response, Problem>;

pub(crate) fn tenant<'a>(state: &'a AppState, slug: &str) -> Result<&'a TenantHandle, Problem> {
    state.tenants.get(slug).ok_or_else(|| Problem::not_found("unknown_tenant", format!("no organizer named {slug:?}")))
}

pub(crate) fn admin<'a>(state: &'a AppState, slug: &str, bearer: &Bearer) -> Result<&'a TenantHandle, Problem> {
    let handle = tenant(state, slug)?;
    match &bearer.0 {
        Some(token) if handle.credentials.token_matches(token) => Ok(handle),
        _ => Err(Problem::unauthorized()),
    }
}

pub(crate) fn idem(scope: &str, key: &IdempotencyKey, fingerprint: u64) -> Option<core::Idempotency> {
    Some(core::Idempotency { key: core::IdemKey(scoped_key(scope, &key.0)), fingerprint })
}

pub(crate) fn admin_scope(bearer: &Bearer) -> String {
    format!("admin:{}", bearer.0.as_deref().unwrap_or(""))
}

pub(crate) async fn run(handle: &TenantHandle, idempotency: Option<core::Idempotency>, command: core::Command) -> Result<core::Reply, Problem> {
    match handle.shard.execute(idempotency, command).await? {
        Ok(reply) => Ok(reply),
        Err(rejection) => Err(Problem::from_rejection(&rejection)),
    }
}

pub(crate) fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    (status, Json(value)).into_response()
}

pub(crate) fn unexpected(reply: &core::Reply) -> Problem {
    tracing::error!(?reply, "the core answered with an unexpected reply kind");
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "an internal error occurred")
}

// ----- venues -----

#[utoipa::path(post, path = "/api/v1/{tenant}/venues", tag = "admin",
    params(("tenant" = String, Path)), request_body = VenueIn,
    responses((status = 201, body = Created), (status = "4XX", description = "problem+json")))]
pub async fn create_venue(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: JsonBody<VenueIn>,
) -> ApiResult {
    let handle = admin(&state, &slug, &bearer)?;
    let spec = body.value.into_spec().map_err(|e| Problem::unprocessable("invalid_venue", e))?;
    let reply = run(handle, idem(&admin_scope(&bearer), &key, body.fingerprint), core::Command::CreateVenue(spec)).await?;
    let core::Reply::VenueCreated { venue } = reply else { return Err(unexpected(&reply)) };
    Ok(json(StatusCode::CREATED, &Created { id: u64::from(venue.0) }))
}

#[utoipa::path(get, path = "/api/v1/{tenant}/venues/{venue}", tag = "admin",
    params(("tenant" = String, Path), ("venue" = u32, Path)),
    responses((status = 200, body = VenueOut), (status = "4XX", description = "problem+json")))]
pub async fn get_venue(
    State(state): State<AppState>,
    PathParams((slug, venue)): PathParams<(String, u32)>,
    bearer: Bearer,
) -> ApiResult {
    let handle = admin(&state, &slug, &bearer)?;
    let out = handle
        .shard
        .read(move |t| t.venue(core::VenueId(venue)).map(|v| VenueOut::of(core::VenueId(venue), v)))
        .await?;
    let out = out.ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownVenue))?;
    Ok(json(StatusCode::OK, &out))
}

// ----- events -----

#[utoipa::path(post, path = "/api/v1/{tenant}/events", tag = "admin",
    params(("tenant" = String, Path)), request_body = EventIn,
    responses((status = 201, body = Created), (status = "4XX", description = "problem+json")))]
pub async fn create_event(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: JsonBody<EventIn>,
) -> ApiResult {
    let handle = admin(&state, &slug, &bearer)?;
    let spec = body.value.into_spec().map_err(|e| Problem::unprocessable("invalid_event", e))?;
    let reply = run(handle, idem(&admin_scope(&bearer), &key, body.fingerprint), core::Command::CreateEvent(spec)).await?;
    let core::Reply::EventCreated { event } = reply else { return Err(unexpected(&reply)) };
    Ok(json(StatusCode::CREATED, &Created { id: u64::from(event.0) }))
}

#[utoipa::path(get, path = "/api/v1/{tenant}/events", tag = "public",
    params(("tenant" = String, Path)), responses((status = 200, body = EventList)))]
pub async fn list_events(State(state): State<AppState>, PathParams(slug): PathParams<String>) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let list = handle.shard.read(|t| EventList { events: t.events().iter().map(EventSummary::of).collect() }).await?;
    Ok(json(StatusCode::OK, &list))
}

#[utoipa::path(get, path = "/api/v1/{tenant}/events/{event}", tag = "public",
    params(("tenant" = String, Path), ("event" = u32, Path)),
    responses((status = 200, body = EventOut), (status = 404, description = "problem+json")))]
pub async fn get_event(State(state): State<AppState>, PathParams((slug, event)): PathParams<(String, u32)>) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let out = handle.shard.read(move |t| t.event(core::EventId(event)).map(EventOut::of)).await?;
    let out = out.ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownEvent))?;
    Ok(json(StatusCode::OK, &out))
}

#[utoipa::path(get, path = "/api/v1/{tenant}/events/{event}/availability", tag = "public",
    params(("tenant" = String, Path), ("event" = u32, Path)),
    responses((status = 200, body = Availability), (status = 304, description = "unchanged since If-None-Match"),
        (status = 404, description = "problem+json")))]
pub async fn availability(
    State(state): State<AppState>,
    PathParams((slug, event)): PathParams<(String, u32)>,
    headers: HeaderMap,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let (body, version) = handle
        .shard
        .views
        .availability(event)
        .ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownEvent))?;
    let etag = format!("\"{}-{version}\"", handle.shard_epoch);
    let mut response = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = (StatusCode::OK, body).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=1"));
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SeatsQuery {
    /// `states`: only `{"event", "states"}`, one character per seat in id order —
    /// `f` free, `h` held, `s` sold, `n` not for sale — for refreshing a drawn map.
    pub view: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/{tenant}/events/{event}/seats", tag = "public",
    params(("tenant" = String, Path), ("event" = u32, Path), SeatsQuery),
    responses((status = 200, body = SeatMap), (status = 304, description = "unchanged since If-None-Match"),
        (status = 404, description = "problem+json")))]
pub async fn seats(
    State(state): State<AppState>,
    PathParams((slug, event)): PathParams<(String, u32)>,
    QueryParams(query): QueryParams<SeatsQuery>,
    headers: HeaderMap,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let states_only = match query.view.as_deref() {
        None => false,
        Some("states") => true,
        Some(_) => return Err(Problem::unprocessable("invalid_query", "view must be `states` or absent")),
    };
    // The availability view's version changes with every hold, sale and release of
    // the event, so it versions the seat states too: an unchanged map costs a 304
    // and no trip through the writer. Taken before the read, the tag can only be
    // older than the body, never newer, so a client never keeps a stale map.
    let (_, version) = handle.shard.views.availability(event).ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownEvent))?;
    let etag = format!("\"{}-{version}{}\"", handle.shard_epoch, if states_only { "-s" } else { "" });
    let mut response = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let out = handle
            .shard
            .read(move |t| {
                let e = t.event(core::EventId(event))?;
                let body = if states_only {
                    let states: String = e
                        .seats
                        .iter()
                        .map(|s| match s {
                            core::SeatState::NotForSale => 'n',
                            core::SeatState::Free => 'f',
                            core::SeatState::Held(_) => 'h',
                            core::SeatState::Sold(_) => 's',
                        })
                        .collect();
                    serde_json::to_vec(&serde_json::json!({"event": event, "states": states}))
                } else {
                    serde_json::to_vec(&SeatMap::of(e, t.venue(e.spec.venue)?))
                };
                Some(body.expect("json"))
            })
            .await?;
        let body = out.ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownEvent))?;
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[utoipa::path(post, path = "/api/v1/{tenant}/events/{event}/sale", tag = "admin",
    params(("tenant" = String, Path), ("event" = u32, Path)), request_body = SaleIn,
    responses((status = 200, body = SaleOut), (status = "4XX", description = "problem+json")))]
pub async fn sale(
    State(state): State<AppState>,
    PathParams((slug, event)): PathParams<(String, u32)>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: JsonBody<SaleIn>,
) -> ApiResult {
    let handle = admin(&state, &slug, &bearer)?;
    let input = body.value;
    let action = match input.action.as_str() {
        "open" => core::SaleAction::Open,
        "pause" => core::SaleAction::Pause {
            message: input.message.unwrap_or_default(),
            resume_at: input
                .resume_at
                .as_deref()
                .map(parse_time)
                .transpose()
                .map_err(|e| Problem::unprocessable("invalid_body", e))?,
        },
        "resume" => core::SaleAction::Resume,
        "close" => core::SaleAction::Close,
        _ => return Err(Problem::unprocessable("invalid_body", "action must be open, pause, resume or close")),
    };
    let command = core::Command::Sale { event: core::EventId(event), action };
    let reply = run(handle, idem(&admin_scope(&bearer), &key, body.fingerprint), command).await?;
    // The views were refreshed before the reply was sent.
    let out = handle.shard.views.sale(event).ok_or_else(|| unexpected(&reply))?;
    Ok(json(StatusCode::OK, &out))
}

// ----- holds -----

#[utoipa::path(post, path = "/api/v1/{tenant}/events/{event}/holds", tag = "public",
    params(("tenant" = String, Path), ("event" = u32, Path), ("Idempotency-Key" = String, Header)),
    request_body = HoldIn,
    responses((status = 201, body = HoldOut), (status = 409, description = "not available (problem+json)"),
        (status = 503, description = "overloaded, see Retry-After")))]
pub async fn create_hold(
    State(state): State<AppState>,
    PathParams((slug, event)): PathParams<(String, u32)>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: JsonBody<HoldIn>,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let input = body.value;
    if input.customer.is_empty() || input.customer.len() > customer_bytes_max {
        return Err(Problem::unprocessable("invalid_body", "customer must be 1 to 128 bytes"));
    }
    let channel = match input.channel.as_deref() {
        None | Some("online") => core::Channel::Online,
        // The counter sells with a terminal token; reserved places need the organizer.
        Some("box_office") => {
            match &bearer.0 {
                Some(token) if handle.credentials.terminal_matches(token) => {}
                _ => return Err(Problem::unauthorized()),
            }
            core::Channel::BoxOffice
        }
        Some("reserved") => {
            admin(&state, &slug, &bearer)?;
            core::Channel::Reserved
        }
        Some(_) => return Err(Problem::unprocessable("invalid_body", "channel must be online, box_office or reserved")),
    };
    let started = std::time::Instant::now();
    let admission = match &input.admission {
        None => None,
        Some(text) => Some(
            crate::waiting::open_admission(handle.credentials.keyring.verifier(), event, text, crate::runtime::wall_clock_ms())
                .ok_or_else(|| Problem::new(StatusCode::FORBIDDEN, "admission_invalid", "Admission not accepted", "the admission is not valid for this event, or its checkout window has ended"))?,
        ),
    };
    // An admitted fan is the identity the room admitted: per-person limits count
    // against that identity, whatever the shop calls them.
    let customer = admission.map_or_else(|| customer_id(&input.customer), |identity| identity as u64);
    let command = core::Command::Hold(core::HoldRequest {
        event: core::EventId(event),
        customer: core::CustomerId(customer),
        channel,
        selection: input.selection.into_core(),
        tariff: core::TariffId(input.tariff),
        admission: admission.map(sturmfest_core::queue::IdentityKey),
    });
    let scope = format!("hold-create:{}", input.customer);
    let outcome = run(handle, idem(&scope, &key, body.fingerprint), command).await;
    record_checkout(handle, started, &outcome);
    let reply = outcome?;
    let core::Reply::Held(receipt) = reply else { return Err(unexpected(&reply)) };
    // Rendered from the published venue: a second trip through the inbox could
    // answer 503 for a hold that exists, and would wait for another commit.
    let venue = handle.shard.views.venue_of_event(receipt.event.0).ok_or_else(|| unexpected(&core::Reply::Held(receipt.clone())))?;
    let out = HoldOut {
        hold: handle.credentials.token_for("hold", receipt.hold.0),
        hold_id: receipt.hold.0,
        event: receipt.event.0,
        expires_at: time_string(receipt.expires_at),
        places: places_out(&venue, &receipt.places),
        total_cents: receipt.total.0,
        total: euros(receipt.total),
    };
    Ok(json(StatusCode::CREATED, &out))
}

fn open_hold(handle: &TenantHandle, token: &str, bearer: &Bearer) -> Result<core::HoldId, Problem> {
    if let Some(id) = handle.credentials.open_token("hold", token) {
        return Ok(core::HoldId(id));
    }
    // Staff (the organizer or a counter) may address holds by plain id.
    if let (Some(auth), Ok(id)) = (&bearer.0, token.parse::<u64>()) {
        if handle.credentials.terminal_matches(auth) {
            return Ok(core::HoldId(id));
        }
    }
    Err(Problem::not_found("unknown_hold", "no hold with this token"))
}

#[utoipa::path(delete, path = "/api/v1/{tenant}/holds/{hold}", tag = "public",
    params(("tenant" = String, Path), ("hold" = String, Path, description = "hold token"), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = Released), (status = "4XX", description = "problem+json")))]
pub async fn release_hold(
    State(state): State<AppState>,
    PathParams((slug, token)): PathParams<(String, String)>,
    bearer: Bearer,
    key: IdempotencyKey,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let hold = open_hold(handle, &token, &bearer)?;
    let fp = fingerprint("DELETE", &token, b"");
    let reply = run(handle, idem(&format!("hold:{}", hold.0), &key, fp), core::Command::Release { hold }).await?;
    let core::Reply::Released { hold } = reply else { return Err(unexpected(&reply)) };
    Ok(json(StatusCode::OK, &Released { released: hold.0 }))
}

#[utoipa::path(post, path = "/api/v1/{tenant}/holds/{hold}/confirm", tag = "public",
    params(("tenant" = String, Path), ("hold" = String, Path, description = "hold token"), ("Idempotency-Key" = String, Header)),
    request_body = ConfirmIn,
    responses((status = 201, body = Confirmed), (status = 410, description = "hold expired or released"),
        (status = "4XX", description = "problem+json")))]
pub async fn confirm_hold(
    State(state): State<AppState>,
    PathParams((slug, token)): PathParams<(String, String)>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: JsonBody<ConfirmIn>,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    // An online sale becomes an order only through a payment the provider reported
    // as succeeded (`POST /holds/{hold}/payments`); the counter confirms what it
    // was paid in cash or by card with its terminal token.
    match &bearer.0 {
        Some(auth) if handle.credentials.terminal_matches(auth) => {}
        _ => {
            return Err(Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_required",
                "Payment required",
                "a hold is bought through a payment: POST /holds/{hold}/payments",
            ));
        }
    }
    let hold = open_hold(handle, &token, &bearer)?;
    let input = body.value;
    let started = std::time::Instant::now();
    let command = core::Command::Confirm {
        hold,
        payment: input.payment_ref,
        buyer: core::Buyer { name: input.buyer.name, email: input.buyer.email },
    };
    let outcome = run(handle, idem(&format!("hold:{}", hold.0), &key, body.fingerprint), command).await;
    record_checkout(handle, started, &outcome);
    let reply = outcome?;
    let core::Reply::Confirmed { order, total } = reply else { return Err(unexpected(&reply)) };
    if let Some(text) = &input.admission {
        finish_checkout(handle, text);
    }
    Ok(json(
        StatusCode::CREATED,
        &Confirmed {
            order: handle.credentials.token_for("order", order.0),
            order_id: order.0,
            total_cents: total.0,
            total: euros(total),
        },
    ))
}

/// Feeds the waiting room's admission controller: how fast checkout answers, and
/// whether it had to shed load.
fn record_checkout(handle: &TenantHandle, started: std::time::Instant, outcome: &Result<core::Reply, Problem>) {
    match outcome {
        Err(problem) if problem.status == StatusCode::SERVICE_UNAVAILABLE => handle.room.checkout.record_shed(),
        _ => handle.room.checkout.record(started.elapsed()),
    }
}

/// The fan bought: their checkout slot goes to the next in line. Queued before the
/// confirmation is answered, so the fan's next status sees it, but not waited for:
/// a second group commit would double the confirmation's latency. Best effort —
/// the window would run out by itself.
pub(crate) fn finish_checkout(handle: &TenantHandle, admission: &str) {
    let verifier = handle.credentials.keyring.verifier();
    let Ok(body) = verifier.verify(crate::credentials::Kind::Admission, admission) else { return };
    let Ok(body) = <[u8; crate::waiting::admission_body_bytes]>::try_from(body) else { return };
    let event = u32::from_be_bytes(body[..4].try_into().expect("4 bytes"));
    let identity = u128::from_be_bytes(body[4..20].try_into().expect("16 bytes"));
    let command = sturmfest_core::queue::RoomCommand::Finish { identity: sturmfest_core::queue::IdentityKey(identity) };
    let _ = handle.shard.execute_detached(core::Command::Room { event: core::EventId(event), command });
}

// ----- orders -----

fn open_order(handle: &TenantHandle, token: &str, bearer: &Bearer) -> Result<core::OrderId, Problem> {
    if let Some(id) = handle.credentials.open_token("order", token) {
        return Ok(core::OrderId(id));
    }
    if let (Some(auth), Ok(id)) = (&bearer.0, token.parse::<u64>()) {
        if handle.credentials.token_matches(auth) {
            return Ok(core::OrderId(id));
        }
    }
    Err(Problem::not_found("unknown_order", "no order with this token"))
}

#[utoipa::path(get, path = "/api/v1/{tenant}/orders/{order}", tag = "public",
    params(("tenant" = String, Path), ("order" = String, Path, description = "order token (or id with admin token)")),
    responses((status = 200, body = OrderOut), (status = 404, description = "problem+json")))]
pub async fn get_order(
    State(state): State<AppState>,
    PathParams((slug, token)): PathParams<(String, String)>,
    bearer: Bearer,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let order = open_order(handle, &token, &bearer)?;
    let out = handle
        .shard
        .read(move |t| {
            let o = t.order(order)?;
            let venue = t.event(o.event).and_then(|e| t.venue(e.spec.venue))?;
            Some(OrderOut::of(o, venue))
        })
        .await?
        .ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownOrder))?;
    Ok(json(StatusCode::OK, &out))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Return orders with an id greater than this.
    #[serde(default)]
    pub after: u64,
    /// At most this many (1 to 1000, default 500).
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/{tenant}/events/{event}/orders", tag = "admin",
    params(("tenant" = String, Path), ("event" = u32, Path), PageQuery),
    responses((status = 200, body = OrderPage), (status = "4XX", description = "problem+json")))]
pub async fn list_orders(
    State(state): State<AppState>,
    PathParams((slug, event)): PathParams<(String, u32)>,
    QueryParams(page): QueryParams<PageQuery>,
    bearer: Bearer,
) -> ApiResult {
    let handle = admin(&state, &slug, &bearer)?;
    let limit = page.limit.unwrap_or(500).clamp(1, order_page_max);
    let out = handle
        .shard
        .read(move |t| {
            let e = t.event(core::EventId(event))?;
            let venue = t.venue(e.spec.venue)?;
            let start = usize::try_from(page.after).unwrap_or(usize::MAX).min(t.orders().len());
            let mut orders = Vec::new();
            let mut last = None;
            for o in &t.orders()[start..] {
                if orders.len() == limit {
                    break;
                }
                last = Some(o.id.0);
                if o.event == e.id {
                    orders.push(OrderOut::of(o, venue));
                }
            }
            let more = last.is_some_and(|l| (l as usize) < t.orders().len());
            Some(OrderPage { orders, next_after: if more { last } else { None } })
        })
        .await?
        .ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownEvent))?;
    Ok(json(StatusCode::OK, &out))
}

#[utoipa::path(post, path = "/api/v1/{tenant}/orders/{order}/cancel", tag = "admin",
    params(("tenant" = String, Path), ("order" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body = CancelIn,
    responses((status = 200, body = CancelledOut), (status = "4XX", description = "problem+json")))]
pub async fn cancel_order(
    State(state): State<AppState>,
    PathParams((slug, token)): PathParams<(String, String)>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: JsonBody<CancelIn>,
) -> ApiResult {
    let handle = admin(&state, &slug, &bearer)?;
    let order = open_order(handle, &token, &bearer)?;
    let input = body.value;
    let refund = match input.refund.as_str() {
        "full" => core::RefundMode::Full,
        "none" => core::RefundMode::None,
        _ => return Err(Problem::unprocessable("invalid_body", "refund must be full or none")),
    };
    let tickets = match input.tickets {
        None => core::TicketSelection::All,
        Some(list) => core::TicketSelection::Some(list),
    };
    let idempotency = idem(&admin_scope(&bearer), &key, body.fingerprint);
    let reply = crate::payments::cancel_order(handle, order, tickets, refund, idempotency).await?;
    let core::Reply::Cancelled { order, tickets, refunded } = reply else { return Err(unexpected(&reply)) };
    Ok(json(
        StatusCode::OK,
        &CancelledOut { order_id: order.0, tickets_cancelled: tickets, refunded_cents: refunded.0, refunded: euros(refunded) },
    ))
}

#[utoipa::path(post, path = "/api/v1/{tenant}/orders/{order}/refunds", tag = "admin",
    params(("tenant" = String, Path), ("order" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body = RefundIn,
    responses((status = 201, body = RefundedOut), (status = "4XX", description = "problem+json")))]
pub async fn refund_order(
    State(state): State<AppState>,
    PathParams((slug, token)): PathParams<(String, String)>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: JsonBody<RefundIn>,
) -> ApiResult {
    let handle = admin(&state, &slug, &bearer)?;
    let order = open_order(handle, &token, &bearer)?;
    let input = body.value;
    let amount = core::Cents(input.amount_cents);
    let paid_online = handle
        .shard
        .read(move |t| t.order(order).is_some_and(|o| o.payment.starts_with("test:") || o.payment.starts_with("stripe:")))
        .await?;
    let (order, amount) = if paid_online {
        // Through the provider first (keyed, so a retry pays out once), then recorded.
        let provider_key = format!("{}:{}", admin_scope(&bearer), key.0);
        let idempotency = idem(&admin_scope(&bearer), &key, body.fingerprint);
        crate::payments::refund_order(handle, order, amount, Some(input.reference), &provider_key, idempotency)
            .await
            .map_err(crate::http::payments::problem_of)?
    } else {
        let command = core::Command::Refund { order, amount, reference: input.reference };
        let reply = run(handle, idem(&admin_scope(&bearer), &key, body.fingerprint), command).await?;
        let core::Reply::Refunded { order, amount } = reply else { return Err(unexpected(&reply)) };
        (order, amount)
    };
    Ok(json(StatusCode::CREATED, &RefundedOut { order_id: order.0, amount_cents: amount.0, amount: euros(amount) }))
}

/// A tenant's public signing keys, as gates and other nodes load them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct KeySet {
    pub tenant: String,
    /// Every key that was ever used: `active` signs, `retired` still verifies,
    /// `revoked` verifies nothing.
    pub keys: Vec<PublicKeyOut>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PublicKeyOut {
    pub id: u32,
    /// `active`, `retired` or `revoked`.
    pub state: String,
    /// Unpadded base64url of the 32-byte Ed25519 public key.
    pub public: String,
}

#[utoipa::path(get, path = "/api/v1/{tenant}/keys", tag = "public",
    params(("tenant" = String, Path)),
    responses((status = 200, body = KeySet), (status = 404, description = "problem+json")))]
pub async fn signing_keys(State(state): State<AppState>, PathParams(slug): PathParams<String>) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    Ok(key_set(slug, &handle.credentials.keyring))
}

fn key_set(tenant: String, keyring: &crate::credentials::Keyring) -> Response {
    let keys = keyring
        .published()
        .into_iter()
        .map(|k| PublicKeyOut {
            id: k.id,
            state: serde_json::to_value(k.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            public: k.public,
        })
        .collect();
    let mut response = json(StatusCode::OK, &KeySet { tenant, keys });
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    response
}

/// The public keys of one event's tickets (`Keyring::for_event`): what a gate of
/// that event loads to check tickets offline. Same ids and states as the tenant's
/// keys, so a rotation or revocation shows here too.
#[utoipa::path(get, path = "/api/v1/{tenant}/events/{event}/keys", tag = "public",
    params(("tenant" = String, Path), ("event" = u32, Path)),
    responses((status = 200, body = KeySet), (status = 404, description = "problem+json")))]
pub async fn event_signing_keys(State(state): State<AppState>, PathParams((slug, event)): PathParams<(String, u32)>) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let exists = handle.shard.read(move |t| t.event(core::EventId(event)).is_some()).await?;
    if !exists {
        return Err(Problem::from_rejection(&core::Rejection::UnknownEvent));
    }
    Ok(key_set(slug, &handle.credentials.keyring.for_event(event)))
}
