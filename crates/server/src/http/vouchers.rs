//! The voucher office's JSON API under `/api/v1/{tenant}/vouchers/`: programmes,
//! merchants and their devices, card batches, sale activation and loads, the holder's
//! balance enquiry, redemptions and their reversal, blocking and moving a balance.
//! Every call but the balance enquiry is the voucher office's (`Office`): either the
//! tenant's admin token (automation), or a staff session of an account with the
//! `voucher_office` role (or admin), whose state-changing calls also carry the
//! session's CSRF token in `X-CSRF-Token`.
//!
//! Codes and PINs never reach the core or the log: the edge turns them into keyed
//! digests (`vouchers/codes.rs`) under a key derived from the tenant secret, and a
//! card is found by its code's digest. A batch's codes exist only in the one HTTP
//! response that issues it; the core remembers only `CardsIssued { batch, cards }`
//! for the idempotency key, so a retry with the same key cannot show the codes
//! again and is answered `409 batch_already_issued` naming the batch (see
//! `issue_batch`).

use super::room::ClientIp;
use axum::extract::State;
use axum::http::StatusCode;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use sturmfest_core as core;
use sturmfest_core::ledger::{AccountKind, DeviceId, ProgrammeId};
use sturmfest_core::vouchers::{
    BatchId, CardId, CardMedium, CardState, ExpiryRule, MerchantId, NewCard, PaidVia, ProgrammeLimits, RedemptionId,
    SalesPointId, VoucherCommand, VoucherRejection, VoucherReply, programme_account,
};
use sturmfest_core::{Cents, TimeMs};
use utoipa::ToSchema;

use crate::http::dto::{euros, time_string};
use crate::http::extract::*;
use crate::http::handlers::{ApiResult, admin, admin_scope, idem, json, run, tenant, unexpected};
use crate::staff::StaffSession;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sturmfest_core::staff::Role;
use crate::http::problem::Problem;
use crate::http::{AppState, TenantHandle};
use crate::vouchers::codes::{CardCode, CodeKey, Pin};
use crate::vouchers::iban::Iban;
use crate::vouchers::card_expires_at;

/// Who calls the voucher office's API: the admin token, or a staff session with the
/// `voucher_office` role. The idempotency scope keeps their keys apart (a session's
/// keys are its account's). A bearer header wins over a cookie, so automation never
/// depends on a browser's state.
pub struct Office {
    pub scope: String,
    via: Via,
}

enum Via {
    Token(Bearer),
    Staff(Box<TenantHandle>),
}

/// The header a staff session's state-changing API call carries its CSRF token in.
pub const csrf_header: &str = "x-csrf-token";

impl Office {
    /// The tenant this caller was authenticated for; a token is checked here.
    pub fn handle<'a>(&'a self, state: &'a AppState, slug: &str) -> Result<&'a TenantHandle, Problem> {
        match &self.via {
            Via::Staff(handle) => Ok(handle),
            Via::Token(bearer) => admin(state, slug, bearer),
        }
    }
}

impl FromRequestParts<AppState> for Office {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Office, Self::Rejection> {
        use axum::response::IntoResponse;
        let bearer = Bearer::from_request_parts(parts, state).await.map_err(|p| p.into_response())?;
        if bearer.0.is_some() {
            return Ok(Office { scope: admin_scope(&bearer), via: Via::Token(bearer) });
        }
        if crate::staff::session_id_from(&parts.headers).is_none() {
            return Err(Problem::unauthorized().into_response());
        }
        // Staff API calls answer problem+json, never a login redirect.
        parts.headers.remove(axum::http::header::ACCEPT);
        let staff = StaffSession::from_request_parts(parts, state).await.map_err(|d| d.into_response())?;
        staff.require(Role::VoucherOffice).map_err(|d| d.problem().into_response())?;
        let safe = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
        if !safe {
            let token = parts.headers.get(csrf_header).and_then(|v| v.to_str().ok()).unwrap_or("");
            staff.check_csrf(token).map_err(|d| d.problem().into_response())?;
        }
        Ok(Office { scope: format!("staff:{}", staff.account.0), via: Via::Staff(Box::new(staff.handle.clone())) })
    }
}

/// Digits of a generated PIN: the shortest `Pin::parse` takes. Three wrong tries
/// block the card, so a guess succeeds with odds of 3 in 10,000.
pub const pin_generated_digits: usize = crate::vouchers::codes::pin_digits_min;
const _: () = assert!(pin_generated_digits >= 4);

/// Domain of the key that card codes and PINs are digested under (`keyed_digest`).
const code_key_domain: &[u8] = b"voucher code key\0";

/// The key a tenant's card codes and PINs are digested under.
pub fn code_key(handle: &TenantHandle) -> CodeKey {
    CodeKey::new(handle.credentials.keyed_digest(code_key_domain, b""))
}

fn rejection(r: VoucherRejection) -> Problem {
    Problem::from_rejection(&core::Rejection::Voucher(r))
}

fn parse_code(input: &str) -> Result<CardCode, Problem> {
    CardCode::parse(input).map_err(|e| Problem::unprocessable(e.code(), e.to_string()))
}

fn parse_pin(input: Option<&str>) -> Result<Option<Pin>, Problem> {
    input
        .map(|p| {
            Pin::parse(p).ok_or_else(|| Problem::unprocessable("pin_invalid", "a PIN has 4 to 6 digits"))
        })
        .transpose()
}

/// The card a typed code names, for the office's card look-up.
pub(crate) async fn find_card(handle: &TenantHandle, input: &str) -> Result<CardId, Problem> {
    let code = parse_code(input)?;
    card_of(handle, &code_key(handle), &code).await
}

/// The card a code names; `404 unknown_card` when no card has it.
async fn card_of(handle: &TenantHandle, key: &CodeKey, code: &CardCode) -> Result<CardId, Problem> {
    let digest = key.code_digest(code);
    let card = handle.shard.read(move |t| t.vouchers().card_by_code(&digest).map(|c| c.id)).await?;
    card.ok_or_else(|| rejection(VoucherRejection::UnknownCard))
}

fn cents(amount: i64) -> Result<Cents, Problem> {
    if amount <= 0 {
        return Err(rejection(VoucherRejection::AmountInvalid));
    }
    Ok(Cents(amount))
}

/// A random id in `1..=max`: ids chosen at the edge reveal no counts.
fn random_id(max: u64) -> u64 {
    rand::rng().random_range(1..=max)
}

/// JSON numbers are exact only below 2^53; ids that clients see stay there.
const json_id_max: u64 = (1 << 53) - 1;

// ----- programmes -----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeIn {
    pub name: String,
    /// The most one card may hold, in cents (at most 250,000).
    pub card_balance_cents_max: i64,
    /// The most one activation or load may add, in cents.
    pub load_cents_max: i64,
    /// The most a device may redeem from one card while offline (for offline tills).
    pub card_offline_cents_max: i64,
    /// How long after a redemption its merchant may reverse it (at most 30 days).
    pub reversal_window_secs: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdOut {
    pub id: u64,
}

#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/programmes", tag = "admin",
    params(("tenant" = String, Path)), request_body = ProgrammeIn,
    responses((status = 201, body = IdOut), (status = "4XX", description = "problem+json")))]
pub async fn create_programme(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<ProgrammeIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let programme = create_programme_with(handle, idem(&office.scope, &key, body.fingerprint), body.value).await?;
    Ok(json(StatusCode::CREATED, &IdOut { id: u64::from(programme.0) }))
}

/// `CreateProgramme` for the API and the office page alike.
pub(crate) async fn create_programme_with(handle: &TenantHandle, idempotency: Option<core::Idempotency>, input: ProgrammeIn) -> Result<ProgrammeId, Problem> {
    let limits = ProgrammeLimits {
        card_balance_cents_max: Cents(input.card_balance_cents_max),
        load_cents_max: Cents(input.load_cents_max),
        card_offline_cents_max: Cents(input.card_offline_cents_max),
        reversal_window_ms: input.reversal_window_secs.checked_mul(1_000).ok_or_else(|| rejection(VoucherRejection::LimitsInvalid))?,
    };
    // Programmes are few (at most 64) and listed; the next id is the highest plus one.
    // Two offices racing get one `programme_exists` (409) and retry.
    let id = handle.shard.read(|t| t.vouchers().programmes().map(|p| p.id.0).max().unwrap_or(0) + 1).await?;
    let command = VoucherCommand::CreateProgramme {
        id: ProgrammeId(id),
        name: input.name.trim().to_string(),
        limits,
        expiry: ExpiryRule::EndOfThirdYearAfterSale,
    };
    let reply = run(handle, idempotency, core::Command::Voucher(command)).await?;
    let core::Reply::Voucher(VoucherReply::ProgrammeCreated { programme }) = reply else { return Err(unexpected(&reply)) };
    Ok(programme)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgrammeOut {
    pub id: u32,
    pub name: String,
    pub card_balance_cents_max: i64,
    pub load_cents_max: i64,
    pub card_offline_cents_max: i64,
    pub reversal_window_secs: i64,
    pub created_at: String,
    /// Issued cards of every state.
    pub cards: u64,
    /// What the programme owes card holders: the sum of its cards' balances.
    pub liability_cents: i64,
    pub liability: String,
    /// Value of expired cards, booked to the programme's expired-value account.
    pub expired_value_cents: i64,
    pub expired_value: String,
    /// The cards' accent colour, `#rrggbb` (`POST …/design`).
    pub accent: String,
    /// The line of text the cards carry; may be empty.
    pub tagline: String,
}

#[utoipa::path(get, path = "/api/v1/{tenant}/vouchers/programmes/{programme}", tag = "admin",
    params(("tenant" = String, Path), ("programme" = u32, Path)),
    responses((status = 200, body = ProgrammeOut), (status = "4XX", description = "problem+json")))]
pub async fn get_programme(
    State(state): State<AppState>,
    PathParams((slug, programme)): PathParams<(String, u32)>,
    office: Office,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let id = ProgrammeId(programme);
    let out = handle
        .shard
        .read(move |t| {
            let vouchers = t.vouchers();
            let p = vouchers.programme(id)?;
            let liability = vouchers.liability(t.ledger(), id);
            let expired = t.ledger().account(programme_account(id, AccountKind::ExpiredValue)).expect("every programme has its accounts").balance();
            Some(ProgrammeOut {
                id: id.0,
                name: p.name.clone(),
                card_balance_cents_max: p.limits.card_balance_cents_max.0,
                load_cents_max: p.limits.load_cents_max.0,
                card_offline_cents_max: p.limits.card_offline_cents_max.0,
                reversal_window_secs: p.limits.reversal_window_ms / 1_000,
                created_at: time_string(p.created_at),
                cards: vouchers.cards().filter(|c| c.programme == id).count() as u64,
                liability_cents: liability.0,
                liability: euros(liability),
                expired_value_cents: expired.0,
                expired_value: euros(expired),
                accent: crate::vouchers::design::accent_text(p.design.accent_rgb),
                tagline: p.design.tagline.clone(),
            })
        })
        .await?;
    Ok(json(StatusCode::OK, &out.ok_or_else(|| rejection(VoucherRejection::UnknownProgramme))?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DesignIn {
    /// `#rrggbb`; white text on it must reach a contrast of 4.5:1.
    pub accent: String,
    /// At most 120 bytes, one line; may be empty.
    #[serde(default)]
    pub tagline: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DesignOut {
    pub programme: u32,
    pub accent: String,
    pub tagline: String,
}

/// How the programme's cards look to holders (digital card page, card e-mail and
/// PDF): an accent colour and a line of text. The last design set wins.
#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/programmes/{programme}/design", tag = "admin",
    params(("tenant" = String, Path), ("programme" = u32, Path)), request_body = DesignIn,
    responses((status = 200, body = DesignOut), (status = "4XX", description = "problem+json")))]
pub async fn set_design(
    State(state): State<AppState>,
    PathParams((slug, programme)): PathParams<(String, u32)>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<DesignIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let input = &body.value;
    let out = set_design_with(handle, idem(&office.scope, &key, body.fingerprint), ProgrammeId(programme), &input.accent, &input.tagline).await?;
    Ok(json(StatusCode::OK, &out))
}

/// `SetDesign` for the API and the office's overview page; the edge checks the
/// colour's form and contrast, the core the tagline.
pub(crate) async fn set_design_with(
    handle: &TenantHandle,
    idempotency: Option<core::Idempotency>,
    programme: ProgrammeId,
    accent: &str,
    tagline: &str,
) -> Result<DesignOut, Problem> {
    let design = crate::vouchers::design::design(accent, tagline).map_err(|e| Problem::unprocessable(e.code(), e.to_string()))?;
    let command = VoucherCommand::SetDesign { programme, design: design.clone() };
    let reply = run(handle, idempotency, core::Command::Voucher(command)).await?;
    let core::Reply::Voucher(VoucherReply::DesignSet { .. }) = reply else { return Err(unexpected(&reply)) };
    Ok(DesignOut { programme: programme.0, accent: crate::vouchers::design::accent_text(design.accent_rgb), tagline: design.tagline })
}

// ----- merchants and devices -----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantIn {
    pub name: String,
    /// Printed (`DE89 3704 …`) or electronic form; the mod-97 checksum is checked.
    pub iban: String,
}

#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/merchants", tag = "admin",
    params(("tenant" = String, Path)), request_body = MerchantIn,
    responses((status = 201, body = IdOut), (status = "4XX", description = "problem+json")))]
pub async fn create_merchant(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<MerchantIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let merchant = onboard_merchant(handle, idem(&office.scope, &key, body.fingerprint), &body.value.name, &body.value.iban).await?;
    Ok(json(StatusCode::CREATED, &IdOut { id: u64::from(merchant.0) }))
}

/// Onboards a merchant: the IBAN is checked here (`iban_invalid`, nothing created),
/// the name by the core. Shared by the API and the office's merchants page.
pub(crate) async fn onboard_merchant(handle: &TenantHandle, idempotency: Option<core::Idempotency>, name: &str, iban: &str) -> Result<MerchantId, Problem> {
    let iban = Iban::parse(iban).map_err(|e| Problem::unprocessable("iban_invalid", e.to_string()))?;
    let id = MerchantId(random_id(u64::from(u32::MAX)) as u32);
    let command = VoucherCommand::CreateMerchant { id, name: name.trim().to_string(), iban: iban.as_str().to_string() };
    let reply = run(handle, idempotency, core::Command::Voucher(command)).await?;
    let core::Reply::Voucher(VoucherReply::MerchantCreated { merchant }) = reply else { return Err(unexpected(&reply)) };
    Ok(merchant)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptIn {
    pub programme: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedOut {
    pub merchant: u32,
    pub programme: u32,
}

#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/merchants/{merchant}/accept", tag = "admin",
    params(("tenant" = String, Path), ("merchant" = u32, Path)), request_body = AcceptIn,
    responses((status = 200, body = AcceptedOut), (status = "4XX", description = "problem+json")))]
pub async fn accept_merchant(
    State(state): State<AppState>,
    PathParams((slug, merchant)): PathParams<(String, u32)>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<AcceptIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let (merchant, programme) = accept_in(handle, idem(&office.scope, &key, body.fingerprint), MerchantId(merchant), ProgrammeId(body.value.programme)).await?;
    Ok(json(StatusCode::OK, &AcceptedOut { merchant: merchant.0, programme: programme.0 }))
}

/// Accepts a merchant in one more programme (region); the API and the office page.
pub(crate) async fn accept_in(
    handle: &TenantHandle,
    idempotency: Option<core::Idempotency>,
    merchant: MerchantId,
    programme: ProgrammeId,
) -> Result<(MerchantId, ProgrammeId), Problem> {
    let command = VoucherCommand::AcceptMerchant { merchant, programme };
    let reply = run(handle, idempotency, core::Command::Voucher(command)).await?;
    let core::Reply::Voucher(VoucherReply::MerchantAccepted { merchant, programme }) = reply else { return Err(unexpected(&reply)) };
    Ok((merchant, programme))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceIn {
    /// The till's Ed25519 public key, 32 bytes as 64 hex digits.
    pub public_key: String,
}

#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/merchants/{merchant}/devices", tag = "admin",
    params(("tenant" = String, Path), ("merchant" = u32, Path)), request_body = DeviceIn,
    responses((status = 201, body = IdOut), (status = "4XX", description = "problem+json")))]
pub async fn register_device(
    State(state): State<AppState>,
    PathParams((slug, merchant)): PathParams<(String, u32)>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<DeviceIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let public_key: [u8; 32] = hex::decode(body.value.public_key.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| Problem::unprocessable("public_key_invalid", "an Ed25519 public key is 32 bytes as 64 hex digits"))?;
    let device = DeviceId(random_id(json_id_max));
    let command = VoucherCommand::RegisterDevice { device, merchant: MerchantId(merchant), public_key };
    let reply = run(handle, idem(&office.scope, &key, body.fingerprint), core::Command::Voucher(command)).await?;
    let core::Reply::Voucher(VoucherReply::DeviceRegistered { device }) = reply else { return Err(unexpected(&reply)) };
    Ok(json(StatusCode::CREATED, &IdOut { id: device.0 }))
}

// ----- batches -----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    /// 1 to 2,000 cards.
    pub count: u32,
    /// `printed` (sold at a counter) or `digital` (sent by e-mail).
    pub medium: String,
    /// Whether each card gets a PIN that redemptions must give.
    pub pin: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedCardOut {
    /// The code in groups of four, as printed.
    pub code: String,
    pub pin: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOut {
    pub batch: u32,
    pub programme: u32,
    pub medium: String,
    /// Every code and PIN of the batch. Shown in this response only: the server
    /// keeps only their keyed digests and cannot show them again.
    pub cards: Vec<IssuedCardOut>,
}

/// Issues a batch. The codes and PINs are drawn here, only their digests go into the
/// command, and the codes go back in this response once. The core remembers the
/// reply `CardsIssued { batch }` under the idempotency key; a retry with the same
/// key gets that remembered batch, which is not the one this request drew (batch ids
/// are random), so it is answered `409 batch_already_issued` with the batch id and
/// no codes, and no second batch is made. Codes of a lost response cannot be
/// recovered; the batch's cards hold nothing until sold, so the office issues a new
/// batch and destroys the old print run (blocking its cards needs the codes).
#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/programmes/{programme}/batches", tag = "admin",
    params(("tenant" = String, Path), ("programme" = u32, Path)), request_body = BatchIn,
    responses((status = 201, body = BatchOut), (status = 409, description = "problem+json `batch_already_issued`: a retry; codes are shown once"),
        (status = "4XX", description = "problem+json")))]
pub async fn issue_batch(
    State(state): State<AppState>,
    PathParams((slug, programme)): PathParams<(String, u32)>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<BatchIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let out = issue_batch_with(handle, idem(&office.scope, &key, body.fingerprint), programme, body.value).await?;
    Ok(json(StatusCode::CREATED, &out))
}

/// `IssueCards` for the API and the office page: draws the codes, sends only their
/// digests, and returns the codes this once (see `issue_batch`).
pub(crate) async fn issue_batch_with(handle: &TenantHandle, idempotency: Option<core::Idempotency>, programme: u32, input: BatchIn) -> Result<BatchOut, Problem> {
    let medium = match input.medium.as_str() {
        "printed" => CardMedium::Printed,
        "digital" => CardMedium::Digital,
        other => return Err(Problem::unprocessable("medium_invalid", format!("medium is `printed` or `digital`, not {other:?}"))),
    };
    if input.count == 0 || input.count as usize > core::vouchers::limits::batch_cards_max {
        return Err(rejection(VoucherRejection::BatchSizeInvalid));
    }
    let code_key = code_key(handle);
    // The thread's RNG is not `Send`: draw everything before the first await.
    let (batch, cards, printed) = {
        let mut rng = rand::rng();
        let batch = BatchId(rng.random_range(1..=u32::MAX));
        let mut printed = Vec::with_capacity(input.count as usize);
        let mut cards = Vec::with_capacity(input.count as usize);
        for _ in 0..input.count {
            let code = CardCode::generate(&mut rng);
            let id = CardId(rng.next_u64().max(1));
            let pin = input.pin.then(|| {
                let pin = rng.random_range(0..10u32.pow(pin_generated_digits as u32));
                format!("{pin:0width$}", width = pin_generated_digits)
            });
            let pin_digest = pin.as_deref().map(|p| code_key.pin_digest(id, &Pin::parse(p).expect("a generated PIN parses")));
            cards.push(NewCard { id, code_digest: code_key.code_digest(&code), pin_digest });
            printed.push(IssuedCardOut { code: code.grouped(), pin });
        }
        (batch, cards, printed)
    };
    let command = VoucherCommand::IssueCards { programme: ProgrammeId(programme), batch, medium, cards };
    let reply = run(handle, idempotency, core::Command::Voucher(command)).await?;
    let core::Reply::Voucher(VoucherReply::CardsIssued { batch: issued, cards }) = reply else { return Err(unexpected(&reply)) };
    if issued != batch {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "batch_already_issued",
            "Already done",
            "this Idempotency-Key already issued a batch; its codes were shown once, in the first response, and cannot be shown again",
        )
        .with("batch", serde_json::json!(issued.0))
        .with("cards", serde_json::json!(cards)));
    }
    Ok(BatchOut { batch: batch.0, programme, medium: input.medium, cards: printed })
}

// ----- cards -----

/// Where the money came from: exactly one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaidViaIn {
    /// Cash at this sales point (counter).
    pub sales_point: Option<u32>,
    /// An online payment's provider reference.
    pub provider_reference: Option<String>,
}

impl PaidViaIn {
    fn parse(self) -> Result<PaidVia, Problem> {
        match (self.sales_point, self.provider_reference) {
            (Some(point), None) => Ok(PaidVia::Cash { sales_point: SalesPointId(point) }),
            (None, Some(reference)) => Ok(PaidVia::Provider { reference: reference.trim().to_string() }),
            _ => Err(Problem::unprocessable("paid_via_invalid", "paid_via has exactly one of `sales_point` and `provider_reference`")),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardMoneyIn {
    pub code: String,
    pub amount_cents: i64,
    pub paid_via: PaidViaIn,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CardOut {
    /// `inactive`, `active`, `blocked` or `expired`.
    pub state: &'static str,
    pub balance_cents: i64,
    /// The balance in euros with two decimals, e.g. `"12.34"`.
    pub balance: String,
    /// From this instant the card is expired (RFC 3339, UTC); null before its sale.
    pub expires_at: Option<String>,
    /// The same instant in Europe/Berlin, as the holder reads it.
    pub expires_at_local: Option<String>,
    pub pin_required: bool,
}

fn berlin(at: TimeMs) -> Option<String> {
    let zone = jiff::tz::TimeZone::get(crate::vouchers::programme_time_zone).ok()?;
    Some(jiff::Timestamp::from_millisecond(at.0).ok()?.to_zoned(zone).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

async fn card_out(handle: &TenantHandle, card: CardId) -> Result<CardOut, Problem> {
    let out = handle
        .shard
        .read(move |t| {
            let vouchers = t.vouchers();
            let c = vouchers.card(card)?;
            let balance = vouchers.balance(t.ledger(), card)?;
            let state = vouchers.state_at(card, vouchers.now().max(TimeMs(crate::runtime::wall_clock_ms())))?;
            Some(CardOut {
                state: state.code(),
                balance_cents: balance.0,
                balance: euros(balance),
                expires_at: c.expires_at.map(time_string),
                expires_at_local: c.expires_at.and_then(berlin),
                pin_required: c.pin_digest.is_some(),
            })
        })
        .await?;
    out.ok_or_else(|| rejection(VoucherRejection::UnknownCard))
}

#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/cards/activate", tag = "admin",
    params(("tenant" = String, Path)), request_body = CardMoneyIn,
    responses((status = 200, body = CardOut), (status = "4XX", description = "problem+json")))]
pub async fn activate_card(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<CardMoneyIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    Ok(json(StatusCode::OK, &activate_card_with(handle, idem(&office.scope, &key, body.fingerprint), body.value).await?))
}

/// `ActivateCard` (the sale of a printed card) for the API and the office counter.
pub(crate) async fn activate_card_with(handle: &TenantHandle, idempotency: Option<core::Idempotency>, input: CardMoneyIn) -> Result<CardOut, Problem> {
    let code = parse_code(&input.code)?;
    let amount = cents(input.amount_cents)?;
    let paid_via = input.paid_via.parse()?;
    let card = card_of(handle, &code_key(handle), &code).await?;
    // The writer stamps the command a moment later; the core accepts any expiry that
    // starts year Y + 4 as seen from some zone, so only a sale within milliseconds of
    // a New Year could differ, and then by a year boundary the core still accepts.
    let expires_at = card_expires_at(TimeMs(crate::runtime::wall_clock_ms()));
    let command = VoucherCommand::ActivateCard { card, amount, paid_via, expires_at };
    let reply = run(handle, idempotency, core::Command::Voucher(command)).await?;
    let core::Reply::Voucher(VoucherReply::CardActivated { .. }) = reply else { return Err(unexpected(&reply)) };
    card_out(handle, card).await
}

#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/cards/load", tag = "admin",
    params(("tenant" = String, Path)), request_body = CardMoneyIn,
    responses((status = 200, body = CardOut), (status = "4XX", description = "problem+json")))]
pub async fn load_card(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<CardMoneyIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    Ok(json(StatusCode::OK, &load_card_with(handle, idem(&office.scope, &key, body.fingerprint), body.value).await?))
}

/// `LoadCard` (adding value to a sold card) for the API and the office counter.
pub(crate) async fn load_card_with(handle: &TenantHandle, idempotency: Option<core::Idempotency>, input: CardMoneyIn) -> Result<CardOut, Problem> {
    let code = parse_code(&input.code)?;
    let amount = cents(input.amount_cents)?;
    let paid_via = input.paid_via.parse()?;
    let card = card_of(handle, &code_key(handle), &code).await?;
    let command = VoucherCommand::LoadCard { card, amount, paid_via };
    let reply = run(handle, idempotency, core::Command::Voucher(command)).await?;
    let core::Reply::Voucher(VoucherReply::CardLoaded { .. }) = reply else { return Err(unexpected(&reply)) };
    card_out(handle, card).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeIn {
    pub code: String,
}

/// The holder's balance enquiry. A POST so the code stays out of URLs and access
/// logs; it changes nothing and needs no credentials or Idempotency-Key: the code
/// itself (95 random bits) is the secret. It takes no PIN on purpose: a read cannot
/// record a failed attempt, so checking PINs here would let anyone try all of them.
#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/cards/balance", tag = "public",
    params(("tenant" = String, Path)), request_body = CodeIn,
    responses((status = 200, body = CardOut), (status = "4XX", description = "problem+json")))]
pub async fn card_balance(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    ClientIp(ip): ClientIp,
    body: JsonBody<CodeIn>,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    // Public and unauthenticated: the same per-address budget as joining a waiting
    // room (60 at once, one more a second), so guessing codes costs real time on
    // top of 95 random bits.
    handle.room.limits.check_ip(ip)?;
    let code = parse_code(&body.value.code)?;
    let card = card_of(handle, &code_key(handle), &code).await?;
    Ok(json(StatusCode::OK, &card_out(handle, card).await?))
}

/// What the holder's balance page shows for a typed code: state, balance and expiry.
/// The caller has counted the request against the per-address limit.
pub(crate) async fn holder_lookup(handle: &TenantHandle, input: &str) -> Result<(CardState, Cents, Option<TimeMs>), Problem> {
    let code = parse_code(input)?;
    let card = card_of(handle, &code_key(handle), &code).await?;
    let found = handle
        .shard
        .read(move |t| {
            let v = t.vouchers();
            let state = v.state_at(card, v.now().max(TimeMs(crate::runtime::wall_clock_ms())))?;
            Some((state, v.balance(t.ledger(), card)?, v.card(card)?.expires_at))
        })
        .await?;
    found.ok_or_else(|| rejection(VoucherRejection::UnknownCard))
}

#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/cards/block", tag = "admin",
    params(("tenant" = String, Path)), request_body = CodeIn,
    responses((status = 200, body = CardOut), (status = "4XX", description = "problem+json")))]
pub async fn block_card(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<CodeIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    Ok(json(StatusCode::OK, &block_card_with(handle, idem(&office.scope, &key, body.fingerprint), &body.value.code).await?))
}

/// `BlockCard` (a lost card) for the API and the office's card page.
pub(crate) async fn block_card_with(handle: &TenantHandle, idempotency: Option<core::Idempotency>, code: &str) -> Result<CardOut, Problem> {
    let code = parse_code(code)?;
    let card = card_of(handle, &code_key(handle), &code).await?;
    let reply = run(handle, idempotency, core::Command::Voucher(VoucherCommand::BlockCard { card })).await?;
    let core::Reply::Voucher(VoucherReply::CardBlocked { .. }) = reply else { return Err(unexpected(&reply)) };
    card_out(handle, card).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveIn {
    /// The blocked card's code.
    pub from: String,
    /// An active card of the same programme.
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MovedOut {
    pub amount_cents: i64,
    pub amount: String,
    /// The receiving card after the move.
    pub to: CardOut,
}

#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/cards/move", tag = "admin",
    params(("tenant" = String, Path)), request_body = MoveIn,
    responses((status = 200, body = MovedOut), (status = "4XX", description = "problem+json")))]
pub async fn move_balance(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<MoveIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    Ok(json(StatusCode::OK, &move_balance_with(handle, idem(&office.scope, &key, body.fingerprint), &body.value.from, &body.value.to).await?))
}

/// `MoveBalance` (a blocked card's balance onto another card) for the API and the
/// office's card page.
pub(crate) async fn move_balance_with(handle: &TenantHandle, idempotency: Option<core::Idempotency>, from: &str, to: &str) -> Result<MovedOut, Problem> {
    let (from, to) = (parse_code(from)?, parse_code(to)?);
    let code_key = code_key(handle);
    let (from, to) = (card_of(handle, &code_key, &from).await?, card_of(handle, &code_key, &to).await?);
    let reply = run(handle, idempotency, core::Command::Voucher(VoucherCommand::MoveBalance { from, to })).await?;
    let core::Reply::Voucher(VoucherReply::BalanceMoved { amount, .. }) = reply else { return Err(unexpected(&reply)) };
    Ok(MovedOut { amount_cents: amount.0, amount: euros(amount), to: card_out(handle, to).await? })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundIn {
    /// What to pay back to the holder, in cents; at most the card's balance.
    pub amount_cents: i64,
    /// The payout's reference (a bank transfer's or the counter receipt's), 1 to 128 bytes.
    pub reference: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundedOut {
    pub amount_cents: i64,
    pub amount: String,
    /// The card after the refund.
    pub card: CardOut,
}

/// Pays value on a card back to its holder: card → the programme's provider
/// clearing account, which the office pays out from. An active or blocked card may
/// be refunded (a lost card's holder often wants the money rather than a new card);
/// an inactive or expired one is refused (`card_inactive`, `card_expired`), and more
/// than the balance is `insufficient_balance` from the ledger. The code is in the
/// path because the call names one card; the office's page sends it in the body.
#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/cards/{code}/refund", tag = "admin",
    params(("tenant" = String, Path), ("code" = String, Path)), request_body = RefundIn,
    responses((status = 200, body = RefundedOut), (status = "4XX", description = "problem+json")))]
pub async fn refund_card(
    State(state): State<AppState>,
    PathParams((slug, code)): PathParams<(String, String)>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<RefundIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let input = body.value;
    let out = refund_card_with(handle, idem(&office.scope, &key, body.fingerprint), &code, input.amount_cents, &input.reference).await?;
    Ok(json(StatusCode::OK, &out))
}

/// `RefundCard` for the API and the office's card page.
pub(crate) async fn refund_card_with(
    handle: &TenantHandle,
    idempotency: Option<core::Idempotency>,
    code: &str,
    amount_cents: i64,
    reference: &str,
) -> Result<RefundedOut, Problem> {
    let code = parse_code(code)?;
    let amount = cents(amount_cents)?;
    let card = card_of(handle, &code_key(handle), &code).await?;
    let command = VoucherCommand::RefundCard { card, amount, reference: reference.trim().to_string() };
    let reply = run(handle, idempotency, core::Command::Voucher(command)).await?;
    let core::Reply::Voucher(VoucherReply::CardRefunded { amount, .. }) = reply else { return Err(unexpected(&reply)) };
    Ok(RefundedOut { amount_cents: amount.0, amount: euros(amount), card: card_out(handle, card).await? })
}

// ----- expiry -----

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgrammeExpiryOut {
    pub programme: u32,
    /// Cards of the programme in the state `expired`.
    pub expired_cards: u64,
    /// Everything the programme's expired cards held, booked to its expired-value account.
    pub expired_value_cents: i64,
    pub expired_value: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiryOut {
    /// Cards this call expired. The node's writer also expires due cards on its own
    /// (and every voucher command does first), so this is often zero; the totals
    /// per programme are what the ledger holds.
    pub cards: u32,
    pub value_cents: i64,
    pub value: String,
    pub programmes: Vec<ProgrammeExpiryOut>,
}

/// Books every card whose expiry has passed: its balance goes to the programme's
/// expired-value account (booked, never deleted) and the card is `expired`. Takes
/// no body; one call expires at most `card_expiries_per_command_max` cards, the rest
/// follow with the next command or the writer's tick.
#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/expiry", tag = "admin",
    params(("tenant" = String, Path)),
    responses((status = 200, body = ExpiryOut), (status = "4XX", description = "problem+json")))]
pub async fn expire_cards(State(state): State<AppState>, PathParams(slug): PathParams<String>, office: Office, key: IdempotencyKey) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let fingerprint = crate::http::extract::fingerprint("POST", &format!("/api/v1/{slug}/vouchers/expiry"), b"");
    Ok(json(StatusCode::OK, &expire_cards_with(handle, idem(&office.scope, &key, fingerprint)).await?))
}

/// `ExpireCards` for the API and the office's overview.
pub(crate) async fn expire_cards_with(handle: &TenantHandle, idempotency: Option<core::Idempotency>) -> Result<ExpiryOut, Problem> {
    let reply = run(handle, idempotency, core::Command::Voucher(VoucherCommand::ExpireCards)).await?;
    let core::Reply::Voucher(VoucherReply::CardsExpired { cards, value }) = reply else { return Err(unexpected(&reply)) };
    let programmes = handle
        .shard
        .read(|t| {
            let vouchers = t.vouchers();
            vouchers
                .programmes()
                .map(|p| {
                    let value = t.ledger().account(programme_account(p.id, AccountKind::ExpiredValue)).expect("every programme has its accounts").balance();
                    ProgrammeExpiryOut {
                        programme: p.id.0,
                        expired_cards: vouchers.cards().filter(|c| c.programme == p.id && c.state == CardState::Expired).count() as u64,
                        expired_value_cents: value.0,
                        expired_value: euros(value),
                    }
                })
                .collect()
        })
        .await?;
    Ok(ExpiryOut { cards, value_cents: value.0, value: euros(value), programmes })
}

// ----- redemptions -----

/// A redemption id as clients write it: a UUID, or 1 to 32 hex digits; not zero.
fn parse_redemption(input: &str) -> Result<RedemptionId, Problem> {
    let hex: String = input.trim().chars().filter(|c| *c != '-').collect();
    let id = (1..=32)
        .contains(&hex.len())
        .then(|| u128::from_str_radix(&hex, 16).ok())
        .flatten()
        .filter(|id| *id != 0)
        .ok_or_else(|| rejection(VoucherRejection::RedemptionIdInvalid))?;
    Ok(RedemptionId(id))
}

fn redemption_string(id: RedemptionId) -> String {
    format!("{:032x}", id.0)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionIn {
    /// Chosen by the till (a UUID or up to 32 hex digits) so a retry is recognised:
    /// the same id with the same card, merchant, device and amount answers the first
    /// reply again and moves nothing.
    pub redemption_id: String,
    pub merchant: u32,
    pub device: u64,
    pub code: String,
    pub amount_cents: i64,
    pub pin: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedeemedOut {
    pub redemption_id: String,
    pub amount_cents: i64,
    pub amount: String,
    /// What is left on the card.
    pub balance_cents: i64,
    pub balance: String,
}

/// Redeems part or all of a card's balance; `409 insufficient_balance` carries the
/// card's `balance_cents` so the till can offer the rest. A wrong PIN is recorded by the core (three
/// in a row block the card) and answered `403 pin_refused` with `attempts_left`; the
/// idempotency key keeps that answer, so the next try with the right PIN takes a new
/// Idempotency-Key (the redemption id may stay, nothing was redeemed under it).
#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/redemptions", tag = "admin",
    params(("tenant" = String, Path)), request_body = RedemptionIn,
    responses((status = 201, body = RedeemedOut), (status = 403, description = "problem+json `pin_refused`"),
        (status = "4XX", description = "problem+json")))]
pub async fn redeem(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<RedemptionIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let input = body.value;
    let redemption = parse_redemption(&input.redemption_id)?;
    let code = parse_code(&input.code)?;
    let amount = cents(input.amount_cents)?;
    let pin = parse_pin(input.pin.as_deref())?;
    let code_key = code_key(handle);
    let card = card_of(handle, &code_key, &code).await?;
    let command = VoucherCommand::Redeem {
        redemption,
        card,
        merchant: MerchantId(input.merchant),
        device: DeviceId(input.device),
        amount,
        pin_digest: pin.map(|p| code_key.pin_digest(card, &p)),
    };
    let reply = match run(handle, idem(&office.scope, &key, body.fingerprint), core::Command::Voucher(command)).await {
        // The till offers the rest of the card and takes the difference otherwise.
        Err(problem) if problem.code == "insufficient_balance" => {
            let balance = handle.shard.read(move |t| t.vouchers().balance(t.ledger(), card)).await?.unwrap_or(Cents::ZERO);
            return Err(problem.with("balance_cents", serde_json::json!(balance.0)).with("balance", serde_json::json!(euros(balance))));
        }
        other => other?,
    };
    match reply {
        core::Reply::Voucher(VoucherReply::Redeemed { redemption, amount, balance, .. }) => Ok(json(
            StatusCode::CREATED,
            &RedeemedOut {
                redemption_id: redemption_string(redemption),
                amount_cents: amount.0,
                amount: euros(amount),
                balance_cents: balance.0,
                balance: euros(balance),
            },
        )),
        core::Reply::Voucher(VoucherReply::PinRefused { attempts_left, .. }) => Err(pin_refused(attempts_left)),
        other => Err(unexpected(&other)),
    }
}

/// The core accepted and recorded a wrong PIN; for the till it is a refusal.
pub(crate) fn pin_refused(attempts_left: u8) -> Problem {
    let detail = if attempts_left == 0 {
        "the PIN is wrong; the card is now blocked after too many wrong PINs".to_string()
    } else {
        format!("the PIN is wrong; {attempts_left} attempt(s) left before the card is blocked")
    };
    Problem::new(StatusCode::FORBIDDEN, "pin_refused", "PIN refused", detail)
        .with("attempts_left", serde_json::json!(attempts_left))
        .with("card_state", serde_json::json!(if attempts_left == 0 { CardState::Blocked(core::vouchers::BlockReason::PinAttempts).code() } else { "active" }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseIn {
    /// The merchant that redeemed: only it may reverse.
    pub merchant: u32,
}

#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/redemptions/{redemption}/reverse", tag = "admin",
    params(("tenant" = String, Path), ("redemption" = String, Path)), request_body = ReverseIn,
    responses((status = 200, body = RedeemedOut), (status = "4XX", description = "problem+json")))]
pub async fn reverse_redemption(
    State(state): State<AppState>,
    PathParams((slug, redemption)): PathParams<(String, String)>,
    office: Office,
    key: IdempotencyKey,
    body: JsonBody<ReverseIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let redemption = parse_redemption(&redemption)?;
    let command = VoucherCommand::ReverseRedemption { redemption, merchant: MerchantId(body.value.merchant) };
    let reply = run(handle, idem(&office.scope, &key, body.fingerprint), core::Command::Voucher(command)).await?;
    let core::Reply::Voucher(VoucherReply::Reversed { redemption, amount, balance }) = reply else { return Err(unexpected(&reply)) };
    Ok(json(
        StatusCode::OK,
        &RedeemedOut {
            redemption_id: redemption_string(redemption),
            amount_cents: amount.0,
            amount: euros(amount),
            balance_cents: balance.0,
            balance: euros(balance),
        },
    ))
}
