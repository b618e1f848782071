//! The holder's JSON calls for buying and loading voucher cards online
//! (docs/DIGITAL-CARDS.md): `POST /api/v1/{tenant}/vouchers/purchases` starts a
//! purchase — a new digital card, or a load of a card named by its code or by the
//! token of the purchase that bought it — and answers where to pay; `GET
//! /api/v1/{tenant}/vouchers/purchases/{purchase}` tells how it stands. The provider's
//! webhook (`http/payments.rs`) settles it. No token is needed: the money is the
//! holder's, the card's value appears only once the provider says it was paid. A load
//! by code counts against the same per-address budget as the balance enquiry.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sturmfest_core::ledger::ProgrammeId;
use sturmfest_core::vouchers::{CardId, PurchaseId, PurchaseTarget, VoucherRejection};
use sturmfest_core::{self as core, Cents};

use crate::http::dto::euros;
use crate::http::extract::*;
use crate::http::handlers::{ApiResult, idem, json, tenant};
use crate::http::problem::Problem;
use crate::http::{AppState, TenantHandle};
use crate::vouchers::codes::CardCode;
use crate::vouchers::online::{self, Want};
use crate::web::i18n::Lang;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/{tenant}/vouchers/purchases", post(start))
        .route("/api/v1/{tenant}/vouchers/purchases/{purchase}", get(status))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseIn {
    /// Needed for a new card when the tenant runs several programmes.
    pub programme: Option<u32>,
    pub amount_cents: i64,
    pub email: String,
    /// `de` (default) or `en`: the provider page, the return page and the e-mail.
    pub lang: Option<String>,
    /// Load the card with this code instead of buying a new one.
    pub code: Option<String>,
    /// Load the digital card this purchase token bought.
    pub card: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PurchaseOut {
    pub purchase_id: u64,
    /// `started`, `declined`, `cancelled`, `expired`, `succeeded`, `refund_due`, `refunded`.
    pub state: &'static str,
    /// `new_card` or `load`.
    pub kind: &'static str,
    pub provider: &'static str,
    pub amount_cents: i64,
    pub amount: String,
    /// For a new card once paid: its page (the QR, the code, the balance).
    pub card_url: Option<String>,
}

fn lang_of(text: Option<&str>) -> Result<Lang, Problem> {
    match text {
        None | Some("de") => Ok(Lang::De),
        Some("en") => Ok(Lang::En),
        Some(_) => Err(Problem::unprocessable("invalid_body", "lang must be de or en")),
    }
}

fn rejection(r: VoucherRejection) -> Problem {
    Problem::from_rejection(&core::Rejection::Voucher(r))
}

/// The tenant's only programme, for a purchase that names none.
async fn only_programme(handle: &TenantHandle) -> Result<ProgrammeId, Problem> {
    let ids: Vec<ProgrammeId> = handle.shard.read(|t| t.vouchers().programmes().map(|p| p.id).collect()).await?;
    match ids.as_slice() {
        [only] => Ok(*only),
        [] => Err(rejection(VoucherRejection::UnknownProgramme)),
        _ => Err(Problem::unprocessable("programme_required", "this city runs several programmes: name one")),
    }
}

/// The card a load names (by code or by its purchase token) and its programme.
pub async fn load_target(handle: &TenantHandle, code: Option<&str>, card: Option<&str>) -> Result<(CardId, ProgrammeId), Problem> {
    let card = match (code, card) {
        (Some(code), None) => {
            let code = CardCode::parse(code).map_err(|e| Problem::unprocessable(e.code(), "this is not a card code"))?;
            let digest = crate::http::vouchers::code_key(handle).code_digest(&code);
            handle.shard.read(move |t| t.vouchers().card_by_code(&digest).map(|c| c.id)).await?
        }
        (None, Some(token)) => {
            let purchase = online::open_token(&handle.credentials, token)
                .ok_or_else(|| Problem::not_found("unknown_purchase", "no purchase with this token"))?;
            handle
                .shard
                .read(move |t| match t.vouchers().purchase(purchase)?.target {
                    PurchaseTarget::NewCard { card, .. } => Some(card.id),
                    PurchaseTarget::Load { card } => Some(card),
                })
                .await?
        }
        _ => return Err(Problem::unprocessable("invalid_body", "name the card to load by code or by card token, not both")),
    };
    let card = card.ok_or_else(|| rejection(VoucherRejection::UnknownCard))?;
    let programme = handle.shard.read(move |t| t.vouchers().card(card).map(|c| c.programme)).await?;
    Ok((card, programme.ok_or_else(|| rejection(VoucherRejection::UnknownCard))?))
}

async fn start(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    crate::http::room::ClientIp(ip): crate::http::room::ClientIp,
    key: IdempotencyKey,
    body: JsonBody<PurchaseIn>,
) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let input = body.value;
    let lang = lang_of(input.lang.as_deref())?;
    let (want, programme) = if input.code.is_some() || input.card.is_some() {
        // A wrong code answers `unknown_card`: the balance enquiry's per-address
        // budget, so guessing codes here is no cheaper than there.
        if input.code.is_some() {
            handle.room.limits.check_ip(ip)?;
        }
        let (card, programme) = load_target(handle, input.code.as_deref(), input.card.as_deref()).await?;
        if input.programme.is_some_and(|p| p != programme.0) {
            return Err(rejection(VoucherRejection::ProgrammesDiffer));
        }
        (Want::Load(card), programme)
    } else {
        let programme = match input.programme {
            Some(p) => ProgrammeId(p),
            None => only_programme(handle).await?,
        };
        (Want::NewCard, programme)
    };
    let idempotency = idem("voucher-purchase", &key, body.fingerprint);
    let started =
        online::begin(handle, &slug, programme, want, Cents(input.amount_cents), &input.email, lang, idempotency).await?;
    Ok(json(StatusCode::CREATED, &started))
}

/// A purchase as `GET …/purchases/{purchase}` answers it; `None` when unknown.
pub async fn read_purchase(handle: &TenantHandle, slug: &str, purchase: PurchaseId) -> Result<Option<PurchaseOut>, Problem> {
    let credentials = handle.credentials.clone();
    let slug = slug.to_string();
    Ok(handle
        .shard
        .read(move |t| {
            let p = t.vouchers().purchase(purchase)?;
            let status = p.state.status();
            let new_card = matches!(p.target, PurchaseTarget::NewCard { .. });
            let card_url = (new_card && status == core::vouchers::PurchaseStatus::Succeeded)
                .then(|| online::card_path(&slug, &credentials, purchase, Lang::De));
            Some(PurchaseOut {
                purchase_id: p.id.0,
                state: status.code(),
                kind: if new_card { "new_card" } else { "load" },
                provider: p.provider.code(),
                amount_cents: p.amount.0,
                amount: euros(p.amount),
                card_url,
            })
        })
        .await?)
}

async fn status(State(state): State<AppState>, PathParams((slug, token)): PathParams<(String, String)>) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let unknown = || Problem::not_found("unknown_purchase", "no purchase with this token");
    let purchase = online::open_token(&handle.credentials, &token).ok_or_else(unknown)?;
    let out = read_purchase(handle, &slug, purchase).await?.ok_or_else(unknown)?;
    Ok(json(StatusCode::OK, &out))
}
