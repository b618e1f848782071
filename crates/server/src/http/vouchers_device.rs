//! Offline voucher redemption over HTTP: the office's calls (a programme's offline
//! policy and worst-case exposure, a merchant's one-time pairing code, revoking a
//! device) as `Office` (the admin token or a voucher office session), a device's enrolment with that code, and the calls a merchant device
//! makes with its own key (`vouchers/offline.rs` signs and checks them): an
//! allowance with the revocation list and the tenant's public keys, a card's balance
//! certificate, an online redemption as the device, and the sync of its offline
//! journal. Devices, not staff sessions, make these calls; a revoked device may still
//! sync (what it took before the revocation is honoured) but gets no allowance.
//!
//! A pairing code is stateless: base64url of merchant (u32) ‖ expiry (i64) ‖ the
//! first 12 bytes of a keyed digest of both under the tenant secret. The device id
//! is derived from the code, so the code enrols exactly one key: the same key again
//! answers the same device, another key is `409 device_exists` from the core.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sturmfest_core as core;
use sturmfest_core::ledger::{DeviceId, ProgrammeId};
use sturmfest_core::vouchers::{
    CardId, CardState, MerchantId, OfflineOutcome, OfflinePolicy, OfflineRedemption, RedemptionId, VoucherCommand,
    VoucherRejection, VoucherReply,
};
use sturmfest_core::{Cents, TimeMs};

use crate::http::dto::euros;
use crate::http::handlers::{ApiResult, json, run, tenant, unexpected};
use crate::http::vouchers::Office;
use crate::http::problem::Problem;
use crate::http::{AppState, TenantHandle};
use crate::runtime::wall_clock_ms;
use crate::vouchers::codes::{CardCode, CodeKey, Pin};
use crate::vouchers::offline::*;

/// A pairing code is good for a day.
pub const pairing_valid_ms: i64 = 24 * 3_600_000;
const pairing_domain: &[u8] = b"device pairing\0";
const device_id_domain: &[u8] = b"device id\0";
const code_key_domain: &[u8] = b"voucher code key\0";

/// The routes of this file, merged into the app by `http::app`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/{tenant}/vouchers/programmes/{programme}/offline", post(configure).get(exposure))
        .route("/api/v1/{tenant}/vouchers/merchants/{merchant}/pairing", post(pairing))
        .route("/api/v1/{tenant}/vouchers/devices/enrol", post(enrol))
        .route("/api/v1/{tenant}/vouchers/device/allowance", post(allowance))
        .route("/api/v1/{tenant}/vouchers/device/certificate", post(certificate))
        .route("/api/v1/{tenant}/vouchers/device/redeem", post(redeem))
        .route("/api/v1/{tenant}/vouchers/device/sync", post(sync))
        .route("/api/v1/{tenant}/vouchers/device/keys", get(keys))
        // The office revokes a till (web/voucher_merchants.rs has the page for it).
        .route("/api/v1/{tenant}/vouchers/devices/{device}/revoke", post(revoke))
}

fn rejection(r: VoucherRejection) -> Problem {
    Problem::from_rejection(&core::Rejection::Voucher(r))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body).map_err(|e| Problem::unprocessable("body_invalid", format!("the JSON body does not fit: {e}")))
}

fn code_key(handle: &TenantHandle) -> CodeKey {
    CodeKey::new(handle.credentials.keyed_digest(code_key_domain, b""))
}

/// The device a signed request comes from, checked against its registered key.
async fn device_of(handle: &TenantHandle, slug: &str, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(DeviceId, MerchantId, bool), Problem> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let refused = |e: DeviceAuthError| Problem::new(StatusCode::UNAUTHORIZED, e.code(), "Device not authenticated", e.to_string());
    let (Some(device), Some(time), Some(signature)) = (header(device_header), header(device_time_header), header(device_signature_header)) else {
        return Err(refused(DeviceAuthError::Malformed));
    };
    let device = DeviceId(device.parse().map_err(|_| refused(DeviceAuthError::Malformed))?);
    let time = TimeMs(time.parse().map_err(|_| refused(DeviceAuthError::Malformed))?);
    let known = handle.shard.read(move |t| t.vouchers().device(device).copied()).await?;
    // An unknown device is refused like a bad signature: nothing to tell apart.
    let Some(known) = known else { return Err(refused(DeviceAuthError::BadSignature)) };
    verify_request(&known.public_key, slug, device, time, TimeMs(wall_clock_ms()), method.as_str(), uri.path(), body, &signature)
        .map_err(refused)?;
    Ok((device, known.merchant, known.revoked_at.is_some()))
}

// ----- the office -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyIn {
    device_allowance_cents_max: i64,
    open_allowances_cents_max: i64,
}

async fn configure(State(state): State<AppState>, Path((slug, programme)): Path<(String, u32)>, office: Office, body: Bytes) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let input: PolicyIn = parse(&body)?;
    let policy = OfflinePolicy {
        device_allowance_cents_max: Cents(input.device_allowance_cents_max),
        open_allowances_cents_max: Cents(input.open_allowances_cents_max),
    };
    configure_policy(handle, ProgrammeId(programme), policy).await?;
    exposure_of(handle, ProgrammeId(programme)).await
}

/// Sets a programme's offline policy; the API and the office's offline page.
pub(crate) async fn configure_policy(handle: &TenantHandle, programme: ProgrammeId, policy: OfflinePolicy) -> Result<(), Problem> {
    run(handle, None, core::Command::Voucher(VoucherCommand::ConfigureOffline { programme, policy })).await.map(drop)
}

async fn exposure(State(state): State<AppState>, Path((slug, programme)): Path<(String, u32)>, office: Office) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    exposure_of(handle, ProgrammeId(programme)).await
}

/// Revokes a device: it gets no further allowance and cannot redeem online; what it
/// redeemed offline before the revocation still syncs. Revoking twice keeps the first
/// instant, so the call needs no Idempotency-Key.
async fn revoke(State(state): State<AppState>, Path((slug, device)): Path<(String, u64)>, office: Office) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let revoked_at = revoke_device(handle, DeviceId(device)).await?;
    Ok(json(StatusCode::OK, &json!({"device": device, "revoked_at": crate::http::dto::time_string(revoked_at)})))
}

/// The one `RevokeDevice` command, and the instant the device counts as revoked.
pub(crate) async fn revoke_device(handle: &TenantHandle, device: DeviceId) -> Result<TimeMs, Problem> {
    let reply = run(handle, None, core::Command::Voucher(VoucherCommand::RevokeDevice { device })).await?;
    let core::Reply::Voucher(VoucherReply::DeviceRevoked { .. }) = reply else { return Err(unexpected(&reply)) };
    let at = handle.shard.read(move |t| t.vouchers().device(device).and_then(|d| d.revoked_at)).await?;
    at.ok_or_else(|| unexpected(&reply))
}

/// The worst case, what is open now, what was lost, and the entries behind them.
async fn exposure_of(handle: &TenantHandle, programme: ProgrammeId) -> ApiResult {
    let out = handle
        .shard
        .read(move |t| {
            let v = t.vouchers();
            let exposure = v.offline_exposure(t.ledger(), programme)?;
            let open: Vec<_> = v
                .open_allowances(t.ledger())
                .filter(|a| a.programme == programme)
                .map(|a| json!({"device": a.device.0, "amount_cents": a.amount.0, "expires_at": a.expires_at.0}))
                .collect();
            let risk: Vec<_> = v
                .risk_entries()
                .iter()
                .filter(|r| r.programme == programme)
                .map(|r| json!({"card": r.card.0, "device": r.device.0, "amount_cents": r.amount.0, "redemption_id": format!("{:032x}", r.redemption.0)}))
                .collect();
            Some(json!({
                "worst_case_loss_cents": exposure.bound.0, "worst_case_loss": euros(exposure.bound),
                "open_cents": exposure.open.0, "lost_cents": exposure.lost.0, "lost": euros(exposure.lost),
                "open_allowances": open, "risk_entries": risk,
            }))
        })
        .await?;
    let out = out.ok_or_else(|| rejection(VoucherRejection::OfflineNotConfigured))?;
    Ok(json(StatusCode::OK, &out))
}

/// The pairing code's mac: the first 12 bytes of the keyed digest.
fn pairing_mac(handle: &TenantHandle, merchant: u32, expires_at: i64) -> [u8; 12] {
    let mut data = merchant.to_be_bytes().to_vec();
    data.extend(expires_at.to_be_bytes());
    handle.credentials.keyed_digest(pairing_domain, &data)[..12].try_into().expect("12 bytes")
}

async fn pairing(State(state): State<AppState>, Path((slug, merchant)): Path<(String, u32)>, office: Office) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let (code, expires_at) = pairing_code(handle, MerchantId(merchant)).await?;
    Ok(json(StatusCode::CREATED, &json!({"pairing_code": code, "expires_at": expires_at})))
}

/// A new pairing code for one of the merchant's tills and when it expires (ms);
/// the API and the office's merchants page.
pub(crate) async fn pairing_code(handle: &TenantHandle, merchant: MerchantId) -> Result<(String, i64), Problem> {
    if handle.shard.read(move |t| t.vouchers().merchant(merchant).is_none()).await? {
        return Err(rejection(VoucherRejection::UnknownMerchant));
    }
    let expires_at = wall_clock_ms() + pairing_valid_ms;
    let mut bytes = merchant.0.to_be_bytes().to_vec();
    bytes.extend(expires_at.to_be_bytes());
    bytes.extend(pairing_mac(handle, merchant.0, expires_at));
    Ok((URL_SAFE_NO_PAD.encode(bytes), expires_at))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolIn {
    pairing_code: String,
    /// Hex of the device's 32-byte Ed25519 public key.
    public_key: String,
}

async fn enrol(State(state): State<AppState>, Path(slug): Path<String>, body: Bytes) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let input: EnrolIn = parse(&body)?;
    let bad = || Problem::new(StatusCode::FORBIDDEN, "pairing_code_invalid", "Pairing refused", "the pairing code is wrong or expired");
    let bytes = URL_SAFE_NO_PAD.decode(input.pairing_code.trim()).map_err(|_| bad())?;
    if bytes.len() != 24 {
        return Err(bad());
    }
    let merchant = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
    let expires_at = i64::from_be_bytes(bytes[4..12].try_into().expect("8 bytes"));
    let mac = pairing_mac(handle, merchant, expires_at);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&mac[..], &bytes[12..])) || expires_at <= wall_clock_ms() {
        return Err(bad());
    }
    let public_key: [u8; 32] = hex::decode(input.public_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .filter(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_ok())
        .ok_or_else(|| Problem::unprocessable("public_key_invalid", "an Ed25519 public key is 64 hex digits"))?;
    let digest = handle.credentials.keyed_digest(device_id_domain, &bytes);
    let device = (u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) & ((1 << 53) - 1)).max(1);
    let command = VoucherCommand::RegisterDevice { device: DeviceId(device), merchant: MerchantId(merchant), public_key };
    run(handle, None, core::Command::Voucher(command)).await?;
    Ok(json(StatusCode::CREATED, &json!({"device": device, "merchant": merchant})))
}

// ----- the device -----

async fn keys(State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    Ok(json(StatusCode::OK, &json!({"keys": handle.credentials.keyring.published()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowanceIn {
    programme: u32,
    amount_cents: i64,
    /// How long the device may redeem offline, in seconds.
    window_secs: i64,
}

#[derive(Serialize)]
struct AllowanceOut {
    reservation: String,
    programme: u32,
    amount_cents: i64,
    expires_at: i64,
    /// The programme's per-card offline cap.
    card_offline_cents_max: i64,
    revoked_cards: Vec<u64>,
    revocations: String,
    keys: Vec<crate::credentials::StoredKey>,
}

async fn allowance(State(state): State<AppState>, Path(slug): Path<String>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let (device, _, _) = device_of(handle, &slug, &method, &uri, &headers, &body).await?;
    let input: AllowanceIn = parse(&body)?;
    let programme = ProgrammeId(input.programme);
    let expires_at = TimeMs(wall_clock_ms().saturating_add(input.window_secs.saturating_mul(1_000)));
    let command = VoucherCommand::GrantAllowance { device, programme, amount: Cents(input.amount_cents), expires_at };
    let reply = run(handle, None, core::Command::Voucher(command)).await?;
    let core::Reply::Voucher(VoucherReply::AllowanceGranted { reservation, amount, expires_at, .. }) = reply else {
        return Err(unexpected(&reply));
    };
    let (blocked, cap) = handle
        .shard
        .read(move |t| {
            let v = t.vouchers();
            let blocked: Vec<CardId> = v
                .cards()
                .filter(|c| c.programme == programme && matches!(c.state, CardState::Blocked(_)))
                .map(|c| c.id)
                .collect();
            (blocked, v.programme(programme).map(|p| p.limits.card_offline_cents_max.0).unwrap_or(0))
        })
        .await?;
    let revocations = sign_revocations(&handle.credentials.keyring, programme, TimeMs(wall_clock_ms()), &blocked);
    Ok(json(
        StatusCode::CREATED,
        &AllowanceOut {
            reservation: format!("{:032x}", reservation.0),
            programme: programme.0,
            amount_cents: amount.0,
            expires_at: expires_at.0,
            card_offline_cents_max: cap,
            revoked_cards: blocked.iter().map(|c| c.0).collect(),
            revocations,
            keys: handle.credentials.keyring.published(),
        },
    ))
}

/// The card a code names and its current certificate as QR text.
async fn certified(handle: &TenantHandle, code: &CardCode) -> Result<(CardId, String, Cents), Problem> {
    let digest = code_key(handle).code_digest(code);
    let now = TimeMs(wall_clock_ms());
    let found = handle
        .shard
        .read(move |t| {
            let v = t.vouchers();
            let card = *v.card_by_code(&digest)?;
            let balance = v.balance(t.ledger(), card.id)?;
            let serial = v.bookings().iter().filter(|b| b.card == card.id).count() as u64;
            let cap = v.programme(card.programme)?.limits.card_offline_cents_max;
            Some((card, balance, serial, cap))
        })
        .await?;
    let (card, balance, serial, cap) = found.ok_or_else(|| rejection(VoucherRejection::UnknownCard))?;
    let certificate = BalanceCertificate {
        programme: card.programme,
        card: card.id,
        balance,
        serial,
        issued_at: now,
        valid_until: TimeMs(now.0 + certificate_valid_ms),
        offline_cap: cap,
    };
    Ok((card.id, qr_text(&code.grouped(), &certificate.sign(&handle.credentials.keyring)), balance))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeIn {
    code: String,
}

async fn certificate(State(state): State<AppState>, Path(slug): Path<String>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    device_of(handle, &slug, &method, &uri, &headers, &body).await?;
    let input: CodeIn = parse(&body)?;
    let code = CardCode::parse(&input.code).map_err(|e| Problem::unprocessable(e.code(), e.to_string()))?;
    let (card, qr, balance) = certified(handle, &code).await?;
    Ok(json(StatusCode::OK, &json!({"card": card.0, "qr": qr, "balance_cents": balance.0, "balance": euros(balance)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceRedeemIn {
    redemption_id: String,
    code: String,
    amount_cents: i64,
    pin: Option<String>,
}

fn parse_id(text: &str) -> Result<RedemptionId, Problem> {
    u128::from_str_radix(text.trim(), 16)
        .ok()
        .filter(|id| *id != 0 && text.trim().len() <= 32)
        .map(RedemptionId)
        .ok_or_else(|| rejection(VoucherRejection::RedemptionIdInvalid))
}

async fn redeem(State(state): State<AppState>, Path(slug): Path<String>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let (device, merchant, _) = device_of(handle, &slug, &method, &uri, &headers, &body).await?;
    let input: DeviceRedeemIn = parse(&body)?;
    let code = CardCode::parse(&input.code).map_err(|e| Problem::unprocessable(e.code(), e.to_string()))?;
    let key = code_key(handle);
    let digest = key.code_digest(&code);
    let card = handle.shard.read(move |t| t.vouchers().card_by_code(&digest).map(|c| c.id)).await?;
    let card = card.ok_or_else(|| rejection(VoucherRejection::UnknownCard))?;
    let pin = match input.pin.as_deref() {
        Some(p) => Some(Pin::parse(p).ok_or_else(|| Problem::unprocessable("pin_invalid", "a PIN has 4 to 6 digits"))?),
        None => None,
    };
    let command = VoucherCommand::Redeem {
        redemption: parse_id(&input.redemption_id)?,
        card,
        merchant,
        device,
        amount: Cents(input.amount_cents),
        pin_digest: pin.map(|p| key.pin_digest(card, &p)),
    };
    let reply = run(handle, None, core::Command::Voucher(command)).await?;
    match reply {
        core::Reply::Voucher(VoucherReply::Redeemed { amount, balance, .. }) => {
            let (_, qr, _) = certified(handle, &code).await?;
            Ok(json(StatusCode::CREATED, &json!({"amount_cents": amount.0, "balance_cents": balance.0, "balance": euros(balance), "qr": qr})))
        }
        core::Reply::Voucher(VoucherReply::PinRefused { attempts_left, .. }) => Err(crate::http::vouchers::pin_refused(attempts_left)),
        other => Err(unexpected(&other)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryIn {
    redemption_id: String,
    sequence: u64,
    card: u64,
    amount_cents: i64,
    at: i64,
    certificate_serial: u64,
    certificate_balance_cents: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncIn {
    redemptions: Vec<EntryIn>,
}

async fn sync(State(state): State<AppState>, Path(slug): Path<String>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> ApiResult {
    let handle = tenant(&state, &slug)?;
    let (device, _, _) = device_of(handle, &slug, &method, &uri, &headers, &body).await?;
    let input: SyncIn = parse(&body)?;
    let mut redemptions = Vec::with_capacity(input.redemptions.len());
    for e in &input.redemptions {
        redemptions.push(OfflineRedemption {
            id: parse_id(&e.redemption_id)?,
            sequence: e.sequence,
            card: CardId(e.card),
            amount: Cents(e.amount_cents),
            at: TimeMs(e.at),
            certificate_serial: e.certificate_serial,
            certificate_balance: Cents(e.certificate_balance_cents),
        });
    }
    let ids: Vec<RedemptionId> = redemptions.iter().map(|r| r.id).collect();
    let reply = run(handle, None, core::Command::Voucher(VoucherCommand::SyncOffline { device, redemptions })).await?;
    let core::Reply::Voucher(VoucherReply::Synced { summary, .. }) = reply else { return Err(unexpected(&reply)) };
    let outcomes = handle
        .shard
        .read(move |t| {
            ids.iter()
                .filter_map(|id| t.vouchers().offline_redemption(*id))
                .map(|r| match r.outcome {
                    OfflineOutcome::Booked { card_part, risk_part, unpaid, .. } => json!({
                        "redemption_id": format!("{:032x}", r.redemption.id.0), "status": "booked",
                        "card_cents": card_part.0, "risk_cents": risk_part.0, "unpaid_cents": unpaid.0,
                    }),
                    OfflineOutcome::Refused(why) => json!({
                        "redemption_id": format!("{:032x}", r.redemption.id.0), "status": "refused", "code": why.code(),
                    }),
                })
                .collect::<Vec<_>>()
        })
        .await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "booked": summary.booked, "refused": summary.refused, "duplicates": summary.duplicates,
            "card_cents": summary.card_paid.0, "risk_cents": summary.risk_paid.0, "unpaid_cents": summary.unpaid.0,
            "released_cents": summary.released.0, "redemptions": outcomes,
        }),
    ))
}
