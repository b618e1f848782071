//! The waiting room's HTTP calls: the organizer puts a sale behind a room; a fan
//! proves an e-mail address, solves a proof of work, joins, and polls a status that
//! carries their signed place and, once admitted, a signed admission for checkout;
//! anyone fetches the published draw and checks it (docs/DRAW.md).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use sturmfest_core as core;
use sturmfest_core::queue::{self, IdentityKey, Phase, QueueId, RoomCommand, RoomConfig};
use utoipa::ToSchema;

use super::extract::*;
use super::handlers::{ApiResult, admin, admin_scope, idem, json, run, tenant};
use super::problem::Problem;
use super::{AppState, TenantHandle};
use crate::draw::{DrawDocument, Seed};
use crate::http::dto::{parse_time, time_string};
use crate::identity::open_credential;
use crate::pow::{self, Challenge};
use crate::runtime::wall_clock_ms;
use crate::views::RoomView;
use crate::waiting::{PlaceClaim, admission_credential, place_credential, queue_id_for};

/// The caller's address, from the socket; tests without one count as loopback.
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
        Ok(ClientIp(ip))
    }
}

fn pow_scope(slug: &str, event: u32) -> String {
    format!("{slug}/event/{event}/join")
}

// ----- organizer -----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomIn {
    /// RFC 3339: when fans may start joining (at most 14 days before the sale opens).
    pub prequeue_opens_at: String,
    /// How long an admitted fan may shop (10–3600 s).
    pub checkout_window_secs: i64,
    /// Fans in checkout at once.
    pub admitted_active_max: u32,
    /// Most fans the room takes (default 2,000,000).
    pub entries_max: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomCreated {
    pub event: u32,
    /// SHA-256 of the draw's secret seed, published before anyone joins (docs/DRAW.md).
    pub commitment: String,
}

#[utoipa::path(post, path = "/api/v1/{tenant}/events/{event}/room", tag = "admin",
    params(("tenant" = String, Path), ("event" = u32, Path), ("Idempotency-Key" = String, Header)),
    request_body = RoomIn,
    responses((status = 201, body = RoomCreated), (status = 409, description = "room_exists (problem+json)")))]
pub async fn create_room(
    State(state): State<AppState>,
    PathParams((slug, event)): PathParams<(String, u32)>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: JsonBody<RoomIn>,
) -> ApiResult {
    let handle = admin(&state, &slug, &bearer)?;
    let input = body.value;
    let prequeue_opens_at =
        parse_time(&input.prequeue_opens_at).map_err(|e| Problem::unprocessable("invalid_body", format!("prequeue_opens_at: {e}")))?;
    let opens_at = handle
        .shard
        .read(move |t| t.event(core::EventId(event)).map(|e| e.spec.sale_opens_at))
        .await?
        .ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownEvent))?;
    let config = RoomConfig {
        prequeue_opens_at,
        opens_at,
        checkout_window_ms: input.checkout_window_secs.saturating_mul(1000),
        admitted_active_max: input.admitted_active_max,
        entries_max: input.entries_max.unwrap_or(queue::limits::room_entries_max),
    };
    // A retry with the same key replays the first reply, so the seed drawn here for
    // a retry is never used: the committed seed is the first one.
    let seed: [u8; 32] = rand::random();
    let command = core::Command::CreateRoom { event: core::EventId(event), config, seed };
    run(handle, idem(&admin_scope(&bearer), &key, body.fingerprint), command).await?;
    let seed = handle.shard.read(move |t| t.room(core::EventId(event)).map(|r| r.seed)).await?.unwrap_or(seed);
    Ok(json(StatusCode::CREATED, &RoomCreated { event, commitment: hex::encode(Seed(seed).commitment()) }))
}

// ----- identity -----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityStartIn {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfirmIn {
    pub email: String,
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityStarted {
    pub code_expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityOut {
    /// Signed identity credential (kind 4) for joining waiting rooms.
    pub identity: String,
    pub expires_at: String,
}

fn mail_unavailable() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "mail_unavailable",
        "E-mail is not configured",
        "this node has no mail relay configured, so addresses cannot be verified",
    )
    .retry_after(60)
}

fn identity_problem(e: &crate::identity::IdentityError) -> Problem {
    use crate::identity::IdentityError as E;
    let status = match e {
        E::Busy | E::Mail(_) => StatusCode::SERVICE_UNAVAILABLE,
        E::ResendTooSoon { .. } | E::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let problem = Problem::new(status, e.code(), "E-mail verification", e.to_string());
    match e {
        E::ResendTooSoon { retry_after_s } | E::Locked { retry_after_s } => problem.retry_after((*retry_after_s).clamp(1, u64::from(u32::MAX)) as u32),
        E::Busy | E::Mail(_) => problem.retry_after(5),
        _ => problem,
    }
}

#[utoipa::path(post, path = "/api/v1/{tenant}/identity", tag = "public",
    params(("tenant" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body = IdentityStartIn,
    responses((status = 202, body = IdentityStarted), (status = 429, description = "too many mails (problem+json)")))]
pub async fn identity_start(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    ClientIp(ip): ClientIp,
    _key: IdempotencyKey,
    body: JsonBody<IdentityStartIn>,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    handle.room.limits.check_ip(ip)?;
    let verifications = handle.room.verifications.as_ref().ok_or_else(mail_unavailable)?;
    let started = verifications.lock().expect("verifications lock").start(&body.value.email, wall_clock_ms());
    let started = started.map_err(|e| identity_problem(&e))?;
    let out = IdentityStarted { code_expires_at: time_string(core::TimeMs(started.code_expires_at_ms)) };
    Ok(json(StatusCode::ACCEPTED, &out))
}

#[utoipa::path(post, path = "/api/v1/{tenant}/identity/confirm", tag = "public",
    params(("tenant" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body = IdentityConfirmIn,
    responses((status = 200, body = IdentityOut), (status = 422, description = "wrong or expired code (problem+json)")))]
pub async fn identity_confirm(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    ClientIp(ip): ClientIp,
    _key: IdempotencyKey,
    body: JsonBody<IdentityConfirmIn>,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    handle.room.limits.check_ip(ip)?;
    let verifications = handle.room.verifications.as_ref().ok_or_else(mail_unavailable)?;
    let verified = verifications.lock().expect("verifications lock").confirm(&body.value.email, &body.value.code, wall_clock_ms());
    let verified = verified.map_err(|e| identity_problem(&e))?;
    let out = IdentityOut { identity: verified.credential, expires_at: time_string(core::TimeMs(verified.credential_expires_at_ms)) };
    Ok(json(StatusCode::OK, &out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityIssueIn {
    /// The organizer's own customer-account ids (1–128 bytes each, at most 1,000):
    /// accounts the club's shop already verified, e.g. season-ticket holders.
    pub accounts: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentitiesOut {
    /// One signed identity (kind 4) per account, in the order asked.
    pub identities: Vec<String>,
    pub expires_at: String,
}

/// Most accounts per issue call.
pub const issue_accounts_max: usize = 1_000;
/// How long an issued identity is valid.
pub const issued_identity_lifetime_ms: i64 = 24 * 3_600_000;

#[utoipa::path(post, path = "/api/v1/{tenant}/identity/issue", tag = "admin",
    params(("tenant" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body = IdentityIssueIn,
    responses((status = 200, body = IdentitiesOut), (status = 401, description = "admin token required (problem+json)")))]
pub async fn identity_issue(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    bearer: Bearer,
    _key: IdempotencyKey,
    body: JsonBody<IdentityIssueIn>,
) -> ApiResult {
    let handle = admin(&state, &slug, &bearer)?;
    let accounts = body.value.accounts;
    if accounts.is_empty() || accounts.len() > issue_accounts_max || accounts.iter().any(|a| a.is_empty() || a.len() > 128) {
        return Err(Problem::unprocessable("invalid_body", "accounts: 1 to 1,000 ids of 1 to 128 bytes"));
    }
    let expires_at = wall_clock_ms() + issued_identity_lifetime_ms;
    let identities = accounts
        .iter()
        .map(|account| {
            // Accounts and e-mail addresses live in separate key spaces.
            let digest = handle.credentials.keyed_digest(b"account\0", account.as_bytes());
            let mut body = digest[..16].to_vec();
            body.extend_from_slice(&expires_at.to_be_bytes());
            handle.credentials.keyring.sign(crate::credentials::Kind::Identity, &body)
        })
        .collect();
    Ok(json(StatusCode::OK, &IdentitiesOut { identities, expires_at: time_string(core::TimeMs(expires_at)) }))
}

// ----- joining -----

#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeOut {
    /// Find a counter so that SHA-256(challenge ":" counter) has `difficulty`
    /// leading zero bits (docs/POW.md).
    pub challenge: String,
    pub difficulty: u32,
    pub expires_at: String,
}

#[utoipa::path(get, path = "/api/v1/{tenant}/events/{event}/queue/challenge", tag = "public",
    params(("tenant" = String, Path), ("event" = u32, Path)),
    responses((status = 200, body = ChallengeOut), (status = 429, description = "rate limited (problem+json)")))]
pub async fn challenge(
    State(state): State<AppState>,
    PathParams((slug, event)): PathParams<(String, u32)>,
    ClientIp(ip): ClientIp,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    handle.room.limits.check_ip(ip)?;
    let now = wall_clock_ms().max(0) as u64;
    // Harder as the line outgrows what checkout admits: a rush pays for its size.
    let rate = handle.room.rate(event).admitted_per_sec.max(1.0);
    let joins = handle.room.spent.len() as f64 / 180.0;
    let load_percent = ((joins / rate) * 100.0).min(f64::from(u32::MAX)) as u32;
    let ceiling = handle.room.pow_bits_max.max(handle.room.pow_base_bits);
    let difficulty = pow::difficulty_bits(handle.room.pow_base_bits, load_percent).min(ceiling);
    let challenge = Challenge::random(&pow_scope(&slug, event), difficulty, now);
    let out = ChallengeOut {
        challenge: challenge.seal(&handle.room.pow_secret),
        difficulty,
        expires_at: time_string(core::TimeMs(challenge.expires_ms as i64)),
    };
    Ok(json(StatusCode::OK, &out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinIn {
    /// The identity credential from `POST /identity/confirm`.
    pub identity: String,
    /// The solved challenge; not needed to come back to an existing place.
    pub pow: Option<PowIn>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowIn {
    pub challenge: String,
    pub counter: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JoinOut {
    /// Your pseudonymous queue id, as the published draw lists it.
    pub queue_id: String,
    /// Signed place (kind 1): pass it to the status call; it survives refresh and
    /// switching device.
    pub token: String,
    pub status: StatusOut,
}

#[utoipa::path(post, path = "/api/v1/{tenant}/events/{event}/queue", tag = "public",
    params(("tenant" = String, Path), ("event" = u32, Path), ("Idempotency-Key" = String, Header)),
    request_body = JoinIn,
    responses((status = 201, body = JoinOut), (status = 200, body = JoinOut, description = "already in the room"),
        (status = 409, description = "room not open, sold out (problem+json)"), (status = 429, description = "rate limited")))]
pub async fn join(
    State(state): State<AppState>,
    PathParams((slug, event)): PathParams<(String, u32)>,
    ClientIp(ip): ClientIp,
    _key: IdempotencyKey,
    body: JsonBody<JoinIn>,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    handle.room.limits.check_ip(ip)?;
    let now = wall_clock_ms();
    let identity = open_credential(handle.credentials.keyring.verifier(), &body.value.identity, now)
        .map_err(|e| Problem::new(StatusCode::UNAUTHORIZED, "identity_invalid", "Identity not accepted", e.to_string()))?
        .0;
    handle.room.limits.check_identity(identity)?;
    let queue_id = queue_id_for(&handle.credentials, event, identity);
    // A refresh or a second device comes straight back to its place: one read, no
    // work, nothing written to the log.
    let (current, rank) = status_of(handle, event, identity).await?;
    if current.place != "none" {
        let token = place_credential(&handle.credentials.keyring, event, identity, queue_id, rank);
        return Ok(json(StatusCode::OK, &JoinOut { queue_id: hex::encode(queue_id), token, status: current }));
    }
    let pow = body.value.pow.as_ref().ok_or_else(|| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "pow_required", "Proof of work required", "solve a challenge from GET …/queue/challenge first")
    })?;
    let solved = pow::verify(&handle.room.pow_secret, &pow.challenge, pow.counter, now.max(0) as u64, &pow_scope(&slug, event))?;
    handle.room.spent.redeem(solved, now.max(0) as u64)?;
    let command = RoomCommand::Join { identity: IdentityKey(identity), queue_id: QueueId(queue_id) };
    let reply = run(handle, None, core::Command::Room { event: core::EventId(event), command }).await?;
    let core::Reply::Room { reply: queue::RoomReply::Joined { kind, place, .. }, .. } = reply else {
        return Err(super::handlers::unexpected(&reply));
    };
    // Two devices joining at once: the second Join finds the first's place.
    let fresh = kind == queue::JoinKind::New;
    // The reply says where the fan stands and the view, refreshed before the reply,
    // the rest: no second trip through the writer. A late arrival's place is
    // signed without its rank; the first poll hands out the ranked one.
    let view = handle.shard.views.room(event).ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownRoom))?;
    let notice = view.message.clone().map(|message| (message, view.resume_at));
    let status = status_out(handle, event, identity, view.phase, Some(place), view.opens_at, notice, view.waiting);
    let token = place_credential(&handle.credentials.keyring, event, identity, queue_id, None);
    let out = JoinOut { queue_id: hex::encode(queue_id), token, status };
    Ok(json(if fresh { StatusCode::CREATED } else { StatusCode::OK }, &out))
}

// ----- status -----

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOut {
    /// `not_yet_open`, `pre_queue`, `drawing`, `admitting`, `paused`, `sold_out`.
    pub phase: String,
    /// `pre_queue`, `waiting`, `admitted`, `done`, `expired`, `sold_out`.
    pub place: String,
    /// While waiting: 1 is next.
    pub position: Option<u32>,
    /// While waiting: seconds until admission at the measured rate.
    pub estimate_secs: Option<u64>,
    pub admissions_per_minute: u64,
    /// While admitted: the signed admission (kind 2) to send with holds and the
    /// end of the checkout window.
    pub admission: Option<String>,
    pub admitted_until: Option<String>,
    pub opens_at: String,
    pub message: Option<String>,
    pub resume_at: Option<String>,
    /// Free places now, per category: `{"id","name","free"}`.
    #[schema(value_type = Vec<crate::views::CategoryFree>)]
    pub categories: crate::views::CategoriesFree,
    pub waiting: u32,
    /// A newer signed place that carries the fan's rank: poll with it from now on
    /// (the old one stays valid but costs the server more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A fan's status from the writer's state: one trip through the tenant's inbox.
/// Also returns the fan's rank, once it has one, for its signed place.
async fn status_of(handle: &TenantHandle, event: u32, identity: u128) -> Result<(StatusOut, Option<u32>), Problem> {
    let looked = handle
        .shard
        .read(move |t| {
            let sale_room = t.room(core::EventId(event))?;
            let room = &sale_room.room;
            let notice = room.pause_notice().cloned();
            let fan = IdentityKey(identity);
            Some((room.phase(), room.place(fan), room.rank(fan), room.config().opens_at, notice, room.counts().waiting))
        })
        .await?
        .ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownRoom))?;
    let (phase, place, rank, opens_at, notice, waiting) = looked;
    let notice = notice.map(|n| (n.message, n.resume_at));
    Ok((status_out(handle, event, identity, phase, place, opens_at, notice, waiting), rank))
}

/// A fan's status from the published room view and the rank its signed place
/// carries, without the writer: `None` where the view cannot tell — a fan the draw
/// has ranked since its place was signed, or one already let into checkout (at
/// most the room's active maximum, plus those done or expired).
fn status_from_view(handle: &TenantHandle, event: u32, claim: &PlaceClaim, view: &RoomView) -> Option<StatusOut> {
    let place = match (view.phase, claim.rank) {
        // Everyone still in line hears it at once. A place signed before the draw
        // may since have been admitted and bought: only the writer knows that.
        (Phase::SoldOut, Some(rank)) if rank >= view.admitted_upto => queue::Place::SoldOut,
        (Phase::NotYetOpen | Phase::PreQueue | Phase::AwaitingDraw, None) => queue::Place::PreQueue,
        (_, Some(rank)) if rank >= view.admitted_upto => queue::Place::Waiting { position: rank - view.admitted_upto + 1 },
        _ => return None,
    };
    let notice = view.message.clone().map(|message| (message, view.resume_at));
    Some(status_out(handle, event, claim.identity, view.phase, Some(place), view.opens_at, notice, view.waiting))
}

#[allow(clippy::too_many_arguments)]
fn status_out(
    handle: &TenantHandle,
    event: u32,
    identity: u128,
    phase: Phase,
    place: Option<queue::Place>,
    opens_at: core::TimeMs,
    notice: Option<(String, Option<core::TimeMs>)>,
    waiting: u32,
) -> StatusOut {
    let rate = handle.room.rate(event).admitted_per_sec;
    let (place_name, position, admitted_until) = match place {
        None => ("none", None, None),
        Some(queue::Place::PreQueue) => ("pre_queue", None, None),
        Some(queue::Place::Waiting { position }) => ("waiting", Some(position), None),
        Some(queue::Place::Admitted { until }) => ("admitted", None, Some(until)),
        Some(queue::Place::Done) => ("done", None, None),
        Some(queue::Place::Expired) => ("expired", None, None),
        Some(queue::Place::SoldOut) => ("sold_out", None, None),
    };
    let categories = handle.shard.views.categories_free(event);
    let (message, resume_at) = notice.map_or((None, None), |(message, resume_at)| (Some(message), resume_at));
    StatusOut {
        phase: phase_code(phase).to_string(),
        place: place_name.to_string(),
        position,
        estimate_secs: position.filter(|_| rate > 0.0).map(|p| (f64::from(p) / rate).ceil() as u64),
        admissions_per_minute: (rate * 60.0).round() as u64,
        admission: admitted_until.map(|until| admission_credential(&handle.credentials.keyring, event, identity, until)),
        admitted_until: admitted_until.map(time_string),
        opens_at: time_string(opens_at),
        message,
        resume_at: resume_at.map(time_string),
        categories,
        waiting,
        token: None,
    }
}

/// The phase as the status call and the waiting page name it.
pub fn phase_code(phase: Phase) -> &'static str {
    match phase {
        Phase::NotYetOpen => "not_yet_open",
        Phase::PreQueue => "pre_queue",
        Phase::AwaitingDraw => "drawing",
        Phase::Admitting => "admitting",
        Phase::Paused => "paused",
        Phase::SoldOut => "sold_out",
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: String,
}

#[utoipa::path(get, path = "/api/v1/{tenant}/events/{event}/queue/status", tag = "public",
    params(("tenant" = String, Path), ("event" = u32, Path), ("token" = String, Query)),
    responses((status = 200, body = StatusOut), (status = 401, description = "not a place of this room (problem+json)")))]
pub async fn status(
    State(state): State<AppState>,
    PathParams((slug, event)): PathParams<(String, u32)>,
    Query(query): Query<TokenQuery>,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let claim = handle.room.places.open(handle.credentials.keyring.verifier(), event, &query.token).ok_or_else(|| {
        Problem::new(StatusCode::UNAUTHORIZED, "queue_token_invalid", "Not a place in this room", "the queue token is not valid for this event")
    })?;
    // Most polls are a waiting fan's: answered from the published view, no writer.
    let viewed = handle.shard.views.room(event).and_then(|view| status_from_view(handle, event, &claim, &view));
    let out = match viewed {
        Some(out) => out,
        None => {
            let (mut out, rank) = status_of(handle, event, claim.identity).await?;
            if rank.is_some() && claim.rank.is_none() {
                out.token = Some(place_credential(&handle.credentials.keyring, event, claim.identity, claim.queue_id, rank));
            }
            out
        }
    };
    let mut response: Response = json(StatusCode::OK, &out);
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

// ----- the published draw -----

#[utoipa::path(get, path = "/api/v1/{tenant}/events/{event}/queue/draw", tag = "public",
    params(("tenant" = String, Path), ("event" = u32, Path)),
    responses((status = 200, description = "the draw document of docs/DRAW.md"), (status = 404, description = "no room (problem+json)")))]
pub async fn published_draw(State(state): State<AppState>, PathParams((slug, event)): PathParams<(String, u32)>) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let slug_for_doc = slug.clone();
    let document = handle
        .shard
        .read(move |t| {
            let sale_room = t.room(core::EventId(event))?;
            let room = &sale_room.room;
            let seed = Seed(sale_room.seed);
            let prequeue: Vec<[u8; 16]> = room.prequeue().map(|q| q.0).collect();
            let mut entries: Vec<String> = prequeue.iter().map(hex::encode).collect();
            entries.sort();
            let drawn = room.draw_order().map(|order| order.iter().map(|i| hex::encode(prequeue[*i as usize])).collect::<Vec<_>>());
            Some(DrawDocument {
                format: crate::draw::draw_format.into(),
                tenant: slug_for_doc,
                event,
                committed_at: time_string(room.config().prequeue_opens_at),
                opens_at: time_string(room.config().opens_at),
                commitment: hex::encode(seed.commitment()),
                // The seed stays secret until the draw is handed in at the opening.
                seed: drawn.as_ref().map(|_| seed.to_hex()),
                entries: if drawn.is_some() { entries } else { Vec::new() },
                order: drawn,
            })
        })
        .await?
        .ok_or_else(|| Problem::from_rejection(&core::Rejection::UnknownRoom))?;
    Ok(json(StatusCode::OK, &document))
}
