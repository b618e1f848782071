//! The HTTP JSON API (axum). `app(state)` builds the whole router, so tests drive
//! the full stack without a socket; only this module knows HTTP.

pub mod dto;
pub mod extract;
pub mod handlers;
// The operator's report across cities (brief J).
pub mod operator;
pub mod payments;
pub mod problem;
pub mod room;
pub mod staff;
pub mod vouchers;
// Offline voucher redemption: device-signed calls, pairing, exposure.
pub mod vouchers_device;
// Digital voucher cards bought and loaded online (brief I).
pub mod vouchers_online;
pub mod vouchers_settle;

use std::collections::HashMap;
use std::sync::Arc;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{BoxError, Router};
use tower::ServiceBuilder;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::runtime::Shard;
use crate::tenants::Credentials;
use problem::Problem;

/// Largest accepted request body (a 100,000-seat venue import fits).
pub const request_body_bytes_max: usize = 8 * 1024 * 1024;
/// Requests in flight at once; beyond this new requests get 503 at once.
pub const requests_in_flight_max: usize = 8_192;

#[derive(Clone)]
pub struct TenantHandle {
    /// The organizer's display name.
    pub name: String,
    /// The waiting room's per-tenant services (proof of work, limits, mail).
    pub room: std::sync::Arc<crate::waiting::RoomServices>,
    pub shard: Shard,
    pub credentials: Credentials,
    /// Part of availability ETags so a restarted node never reuses an old tag.
    pub shard_epoch: u64,
    /// Staff logins: session settings and login rate limits (`staff.rs`).
    pub staff: Arc<crate::staff::StaffServices>,
    /// Payments: the tenant's provider and its webhook secret (`payments/`).
    pub payments: Arc<crate::payments::PaymentServices>,
}

#[derive(Clone)]
pub struct AppState {
    pub tenants: Arc<HashMap<String, TenantHandle>>,
    /// The node's operator (`operator.rs`): its token, page sessions, sign-outs.
    pub operator: Arc<crate::operator::OperatorState>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "sturmfest API", version = "1", description = "Tickets that survive the storm. Errors are RFC 9457 problem+json with a stable `code`."),
    tags((name = "public", description = "Calls for buyers; no credentials"), (name = "admin", description = "Calls for the organizer; `Authorization: Bearer <token>`"))
)]
struct ApiDoc;

/// The API router and its OpenAPI document, built from the same route list.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use handlers::*;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_venue))
        .routes(routes!(get_venue))
        .routes(routes!(create_event, list_events))
        .routes(routes!(get_event))
        .routes(routes!(availability))
        .routes(routes!(seats))
        .routes(routes!(sale))
        .routes(routes!(create_hold))
        .routes(routes!(release_hold))
        .routes(routes!(confirm_hold))
        .routes(routes!(get_order))
        .routes(routes!(list_orders))
        .routes(routes!(cancel_order))
        .routes(routes!(refund_order))
        .routes(routes!(signing_keys))
        .routes(routes!(event_signing_keys))
        .routes(routes!(room::create_room))
        .routes(routes!(room::identity_start))
        .routes(routes!(room::identity_confirm))
        .routes(routes!(room::identity_issue))
        .routes(routes!(room::challenge))
        .routes(routes!(room::join))
        .routes(routes!(room::status))
        .routes(routes!(room::published_draw))
        .routes(routes!(staff::create_staff_account))
        .routes(routes!(vouchers::create_programme))
        .routes(routes!(vouchers::get_programme))
        .routes(routes!(vouchers::set_design))
        .routes(routes!(vouchers::create_merchant))
        .routes(routes!(vouchers::accept_merchant))
        .routes(routes!(vouchers::register_device))
        .routes(routes!(vouchers::issue_batch))
        .routes(routes!(vouchers::activate_card))
        .routes(routes!(vouchers::load_card))
        .routes(routes!(vouchers::card_balance))
        .routes(routes!(vouchers::block_card))
        .routes(routes!(vouchers::move_balance))
        .routes(routes!(vouchers::redeem))
        .routes(routes!(vouchers::reverse_redemption))
        // Voucher office (brief G): refunds to the holder and booking expired cards.
        .routes(routes!(vouchers::refund_card))
        .routes(routes!(vouchers::expire_cards))
        // Voucher settlement (statements, payout runs, pain.001 files).
        .routes(routes!(vouchers_settle::settle_programme))
        .routes(routes!(vouchers_settle::merchant_statement))
        .routes(routes!(vouchers_settle::payout_file))
        .routes(routes!(vouchers_settle::city_report))
        .routes(routes!(vouchers_settle::bind_merchant))
        // Operator across cities (brief J): its own token, no tenant in the path.
        .routes(routes!(operator::operator_report))
        .split_for_parts()
}

pub fn app(state: AppState) -> Router {
    let (api, openapi) = router();
    let openapi_json = openapi.to_pretty_json().expect("the OpenAPI document serializes");
    api.route(
        "/api/openapi.json",
        get(move || {
            let body = openapi_json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    )
    .route("/healthz", get(healthz))
    // Offline voucher redemption (devices, pairing, exposure): `http/vouchers_device.rs`.
    .merge(vouchers_device::routes())
    // Payments (checkout): start, status, provider webhooks.
    .merge(payments::routes())
    // Digital voucher cards bought and loaded online: `http/vouchers_online.rs`.
    .merge(vouchers_online::routes())
    .merge(crate::web::pages())
    .fallback(|| async { Problem::not_found("not_found", "no such path") })
    .method_not_allowed_fallback(|| async {
        Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed", "this path does not take this method")
    })
    .layer(DefaultBodyLimit::max(request_body_bytes_max))
    .layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: BoxError| async { Problem::overloaded() }))
            .load_shed()
            .concurrency_limit(requests_in_flight_max),
    )
    .with_state(state)
}

async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let stopped: Vec<&str> = state.tenants.iter().filter(|(_, h)| !h.shard.is_running()).map(|(s, _)| s.as_str()).collect();
    if stopped.is_empty() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        Problem::store_unavailable().with("tenants", serde_json::json!(stopped)).into_response()
    }
}
