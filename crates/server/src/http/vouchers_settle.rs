//! Settlement and report calls of the voucher office: settle a programme's merchants
//! for a period of Berlin days, a merchant's statement (JSON, CSV, PDF), the payout
//! file (pain.001.001.09) of a settled period, and the city's report (liability,
//! days, the twelve-month volume against the limited-network threshold). All of them are the office's
//! (`Office`: the admin token or a `voucher_office` staff session).
//!
//! Settling is idempotent by its period: the core answers a settled period with its
//! first reply, so the run takes no Idempotency-Key of its own, and a retried run
//! settles what the first left open and repeats the rest. Each merchant is one core
//! command; one merchant's refusal (say, `net_negative`) is reported beside the
//! others' settlements and stops nothing.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sturmfest_core as core;
use sturmfest_core::ledger::ProgrammeId;
use sturmfest_core::vouchers::{MerchantId, VoucherCommand, VoucherReply};
use utoipa::{IntoParams, ToSchema};

use crate::http::dto::euros;
use crate::http::extract::*;
use crate::http::handlers::{ApiResult, json, unexpected};
use crate::http::problem::Problem;
use crate::http::vouchers::Office;
use crate::http::AppState;
use crate::vouchers::iban::Iban;
use crate::vouchers::pain001::{self, Debtor, Payout, Transfer};
use crate::vouchers::settlement::{Period, Statement, StatementError, statement, statement_csv, statement_pdf};

pub(crate) fn period(first_day: &str, last_day: &str) -> Result<Period, Problem> {
    Period::parse(first_day, last_day).map_err(|e| {
        Problem::unprocessable(e.code(), "a period is first_day and last_day as YYYY-MM-DD (Berlin), at most 366 days")
    })
}

fn statement_problem(e: StatementError) -> Problem {
    use sturmfest_core::vouchers::VoucherRejection as V;
    let r = match e {
        StatementError::UnknownProgramme => V::UnknownProgramme,
        StatementError::UnknownMerchant => V::UnknownMerchant,
    };
    Problem::from_rejection(&core::Rejection::Voucher(r))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleIn {
    /// First Berlin day of the period, `YYYY-MM-DD`.
    pub first_day: String,
    /// Last Berlin day of the period (inclusive).
    pub last_day: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettledOut {
    pub merchant: u32,
    pub settlement: u32,
    pub amount_cents: i64,
    pub amount: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedOut {
    pub merchant: u32,
    /// The stable code of the core's refusal (`net_negative`, `period_gap`, …).
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettleRunOut {
    pub settled: Vec<SettledOut>,
    pub refused: Vec<RefusedOut>,
    pub total_cents: i64,
    pub total: String,
}

#[utoipa::path(post, path = "/api/v1/{tenant}/vouchers/programmes/{programme}/settlements", tag = "admin",
    params(("tenant" = String, Path), ("programme" = u32, Path)), request_body = SettleIn,
    responses((status = 200, body = SettleRunOut), (status = "4XX", description = "problem+json")))]
pub async fn settle_programme(
    State(state): State<AppState>,
    PathParams((slug, programme)): PathParams<(String, u32)>,
    office: Office,
    body: JsonBody<SettleIn>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    let period = period(&body.value.first_day, &body.value.last_day)?;
    let out = settle(handle, ProgrammeId(programme), period, None).await?;
    Ok(json(StatusCode::OK, &out))
}

/// Settles the programme's merchants (or only `only`) for the period, one core
/// command each; the API and the office's settlement page.
pub(crate) async fn settle(handle: &crate::http::TenantHandle, programme: ProgrammeId, period: Period, only: Option<MerchantId>) -> Result<SettleRunOut, Problem> {
    let (from, until) = period.instants();
    let merchants = handle
        .shard
        .read(move |t| {
            let v = t.vouchers();
            v.programme(programme)?;
            Some(v.merchants_in(programme))
        })
        .await?
        .ok_or_else(|| Problem::from_rejection(&core::Rejection::Voucher(core::vouchers::VoucherRejection::UnknownProgramme)))?;
    if let Some(m) = only.filter(|m| !merchants.contains(m)) {
        let known = handle.shard.read(move |t| t.vouchers().merchant(m).is_some()).await?;
        let r = if known { core::vouchers::VoucherRejection::MerchantNotAccepted } else { core::vouchers::VoucherRejection::UnknownMerchant };
        return Err(Problem::from_rejection(&core::Rejection::Voucher(r)));
    }
    let merchants: Vec<MerchantId> = merchants.into_iter().filter(|m| only.is_none_or(|o| o == *m)).collect();
    let mut out = SettleRunOut { settled: Vec::new(), refused: Vec::new(), total_cents: 0, total: String::new() };
    for merchant in merchants {
        let command = VoucherCommand::Settle { programme, merchant, from, until };
        match handle.shard.execute(None, core::Command::Voucher(command)).await? {
            Ok(core::Reply::Voucher(VoucherReply::Settled { settlement, amount })) => {
                out.total_cents += amount.0;
                out.settled.push(SettledOut { merchant: merchant.0, settlement: settlement.0, amount_cents: amount.0, amount: euros(amount) });
            }
            Ok(other) => return Err(unexpected(&other)),
            Err(rejection) => out.refused.push(RefusedOut { merchant: merchant.0, code: rejection.code().to_string() }),
        }
    }
    out.total = euros(core::Cents(out.total_cents));
    Ok(out)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatementQuery {
    pub programme: u32,
    pub first_day: String,
    pub last_day: String,
    /// `json` (default), `csv` or `pdf`.
    pub format: Option<String>,
    /// `de` (default) or `en`, for the PDF.
    pub lang: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatementLineOut {
    pub at_local: String,
    pub kind: &'static str,
    pub redemption_id: String,
    pub amount_cents: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatementOut {
    pub merchant: u32,
    pub programme: u32,
    pub first_day: String,
    pub last_day: String,
    /// The settlement's number; null while the period is open (a preview).
    pub settlement: Option<u32>,
    pub lines: Vec<StatementLineOut>,
    pub redeemed_cents: i64,
    pub reversed_cents: i64,
    pub net_cents: i64,
    pub net: String,
}

fn statement_out(s: &Statement) -> StatementOut {
    StatementOut {
        merchant: s.merchant.0,
        programme: s.programme.0,
        first_day: s.period.first.to_string(),
        last_day: s.period.last.to_string(),
        settlement: s.settlement.map(|id| id.0),
        lines: s
            .lines
            .iter()
            .map(|l| StatementLineOut { at_local: l.at.clone(), kind: l.kind.code(), redemption_id: l.redemption.clone(), amount_cents: l.amount.0 })
            .collect(),
        redeemed_cents: s.redeemed.0,
        reversed_cents: s.reversed.0,
        net_cents: s.net.0,
        net: euros(s.net),
    }
}

/// Who may read a merchant's statement: the office (`Office`), or a staff session of
/// a `merchant` account bound to that very merchant (and to no other).
pub enum StatementReader {
    Office(Office),
    Merchant(Box<crate::http::TenantHandle>, Option<MerchantId>),
}

impl axum::extract::FromRequestParts<AppState> for StatementReader {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        use sturmfest_core::staff::Role;
        let has_bearer = parts.headers.contains_key(header::AUTHORIZATION);
        if !has_bearer && crate::staff::session_id_from(&parts.headers).is_some() {
            let mut probe = parts.clone();
            probe.headers.remove(header::ACCEPT);
            let staff = crate::staff::StaffSession::from_request_parts(&mut probe, state).await.map_err(|d| d.into_response())?;
            if !staff.may(Role::VoucherOffice) && staff.roles.contains(Role::Merchant) {
                let account = staff.account;
                let bound = staff.handle.shard.read(move |t| t.staff().account(account).and_then(|a| a.merchant)).await;
                let bound = bound.map_err(|e| Problem::from(e).into_response())?;
                return Ok(StatementReader::Merchant(Box::new(staff.handle.clone()), bound));
            }
        }
        Ok(StatementReader::Office(Office::from_request_parts(parts, state).await?))
    }
}


#[utoipa::path(get, path = "/api/v1/{tenant}/vouchers/merchants/{merchant}/statement", tag = "admin",
    params(("tenant" = String, Path), ("merchant" = u32, Path), StatementQuery),
    responses((status = 200, body = StatementOut), (status = "4XX", description = "problem+json")))]
pub async fn merchant_statement(
    State(state): State<AppState>,
    PathParams((slug, merchant)): PathParams<(String, u32)>,
    reader: StatementReader,
    QueryParams(query): QueryParams<StatementQuery>,
) -> ApiResult {
    let handle = match &reader {
        StatementReader::Office(office) => office.handle(&state, &slug)?,
        // A merchant's staff see their own merchant's statements, nothing else.
        StatementReader::Merchant(handle, Some(bound)) if bound.0 == merchant => &**handle,
        StatementReader::Merchant(..) => return Err(crate::staff::Denied::Forbidden.problem()),
    };
    statement_reply(handle, MerchantId(merchant), &query).await
}

/// A merchant's statement as JSON, CSV or PDF (`query.format`); the API and the
/// office's settlement page, whose staff cookie does not reach `/api/`.
pub(crate) async fn statement_reply(handle: &crate::http::TenantHandle, merchant: MerchantId, query: &StatementQuery) -> ApiResult {
    let merchant = merchant.0;
    let period = period(&query.first_day, &query.last_day)?;
    let city = handle.name.clone();
    let programme = ProgrammeId(query.programme);
    let made = handle.shard.read(move |t| statement(t, &city, programme, MerchantId(merchant), period)).await?;
    let s = made.map_err(statement_problem)?;
    let file = format!("statement-m{}-p{}-{}-{}", s.merchant.0, s.programme.0, s.period.first, s.period.last);
    let attachment = |ext: &str| format!("attachment; filename=\"{file}.{ext}\"");
    match query.format.as_deref().unwrap_or("json") {
        "json" => Ok(json(StatusCode::OK, &statement_out(&s))),
        "csv" => Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, attachment("csv"))],
            statement_csv(&s),
        )
            .into_response()),
        "pdf" => {
            let de = query.lang.as_deref() != Some("en");
            let pdf = tokio::task::spawn_blocking(move || statement_pdf(&s, de)).await.map_err(|_| Problem::overloaded())?;
            Ok(([(header::CONTENT_TYPE, "application/pdf".to_string()), (header::CONTENT_DISPOSITION, attachment("pdf"))], pdf)
                .into_response())
        }
        _ => Err(Problem::unprocessable("format_invalid", "format is json, csv or pdf")),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PayoutQuery {
    pub first_day: String,
    pub last_day: String,
    /// The city's account that pays: its holder's name and IBAN (and BIC, optional).
    pub debtor_name: String,
    pub debtor_iban: String,
    pub debtor_bic: Option<String>,
    /// Requested execution date, `YYYY-MM-DD`; default the day after the period.
    pub execution_date: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/{tenant}/vouchers/programmes/{programme}/settlements/pain001", tag = "admin",
    params(("tenant" = String, Path), ("programme" = u32, Path), PayoutQuery),
    responses((status = 200, description = "pain.001.001.09 XML", content_type = "application/xml"), (status = "4XX", description = "problem+json")))]
pub async fn payout_file(
    State(state): State<AppState>,
    PathParams((slug, programme)): PathParams<(String, u32)>,
    office: Office,
    QueryParams(query): QueryParams<PayoutQuery>,
) -> ApiResult {
    let handle = office.handle(&state, &slug)?;
    payout_reply(handle, ProgrammeId(programme), query).await
}

/// The pain.001 payout file of a settled period; the API and the settlement page.
pub(crate) async fn payout_reply(handle: &crate::http::TenantHandle, programme: ProgrammeId, query: PayoutQuery) -> ApiResult {
    let period = period(&query.first_day, &query.last_day)?;
    let (from, until) = period.instants();
    let debtor_iban = Iban::parse(&query.debtor_iban).map_err(|e| Problem::unprocessable("iban_invalid", e.to_string()))?;
    let name = query.debtor_name.trim().to_string();
    if name.is_empty() || name.len() > 140 {
        return Err(Problem::unprocessable("name_invalid", "debtor_name is 1 to 140 bytes"));
    }
    let execution_date = match &query.execution_date {
        Some(d) => d.trim().parse::<jiff::civil::Date>().map_err(|_| Problem::unprocessable("date_invalid", "execution_date is YYYY-MM-DD"))?,
        None => period.last.tomorrow().map_err(|_| Problem::unprocessable("date_invalid", "no day after the period"))?,
    };
    let found = handle
        .shard
        .read(move |t| {
            let v = t.vouchers();
            v.programme(programme)?;
            let mut transfers = Vec::new();
            let mut open = Vec::new();
            let mut last_at = core::TimeMs(0);
            for merchant in v.merchants_in(programme) {
                let settled = v.settlements().iter().rev().find(|s| (s.programme, s.merchant, s.from, s.until) == (programme, merchant, from, until));
                let Some(s) = settled else {
                    open.push(merchant.0);
                    continue;
                };
                last_at = last_at.max(s.at);
                if s.amount.0 == 0 {
                    continue;
                }
                let m = v.merchant(merchant).expect("listed");
                transfers.push(Transfer {
                    end_to_end_id: format!("SF-S{}-M{}", s.id.0, merchant.0),
                    creditor_name: m.name.clone(),
                    creditor_iban: m.iban.clone(),
                    amount: s.amount,
                    remittance: format!("Gutscheine {} {} bis {} Abrechnung {}", v.programme(programme)?.name, period.first, period.last, s.id.0),
                });
            }
            Some((transfers, open, last_at))
        })
        .await?;
    let Some((transfers, open, last_at)) = found else {
        return Err(Problem::from_rejection(&core::Rejection::Voucher(core::vouchers::VoucherRejection::UnknownProgramme)));
    };
    if !open.is_empty() {
        return Err(Problem::new(StatusCode::CONFLICT, "period_not_settled", "Period not settled", "settle every merchant of the programme for this period first")
            .with("merchants", serde_json::json!(open)));
    }
    if transfers.is_empty() {
        return Err(Problem::new(StatusCode::CONFLICT, "nothing_to_pay", "Nothing to pay", "every merchant's settlement for this period is zero; a bank refuses an empty payment"));
    }
    let payout = Payout {
        message_id: format!("SF-P{}-{}-{}", programme.0, period.first.strftime("%Y%m%d"), period.last.strftime("%Y%m%d")),
        created_at: last_at,
        execution_date: execution_date.to_string(),
        debtor: Debtor { name, iban: debtor_iban.as_str().to_string(), bic: query.debtor_bic.map(|b| b.trim().to_uppercase()) },
        transfers,
    };
    let file = format!("attachment; filename=\"payout-p{}-{}-{}.xml\"", programme.0, period.first, period.last);
    Ok(([(header::CONTENT_TYPE, "application/xml; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, file)], pain001::document(&payout))
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// First Berlin day listed; default 30 days before the last.
    pub first_day: Option<String>,
    /// Last Berlin day listed; default today.
    pub last_day: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgrammeReportOut {
    pub id: u32,
    pub name: String,
    pub liability_cents: i64,
    pub payable_cents: i64,
    pub payout_clearing_cents: i64,
    pub expired_value_cents: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayReportOut {
    pub day: String,
    pub loaded_cents: i64,
    pub loads: u32,
    pub redeemed_cents: i64,
    pub redemptions: u32,
    pub reversed_cents: i64,
    pub reversals: u32,
    pub expired_cents: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportOut {
    pub programmes: Vec<ProgrammeReportOut>,
    pub days: Vec<DayReportOut>,
    /// Redemptions net of reversals in the twelve months before now.
    pub volume_12_months_cents: i64,
    pub volume_12_months: String,
    /// RFC 3339: where the twelve months start (Berlin midnight a year ago).
    pub volume_since: String,
    pub threshold_cents: i64,
    /// `below`, `warning_80`, `warning_90` or `exceeded`.
    pub level: &'static str,
}

#[utoipa::path(get, path = "/api/v1/{tenant}/vouchers/reports", tag = "admin",
    params(("tenant" = String, Path), ReportQuery),
    responses((status = 200, body = ReportOut), (status = "4XX", description = "problem+json")))]
pub async fn city_report(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    office: Office,
    QueryParams(query): QueryParams<ReportQuery>,
) -> ApiResult {
    use crate::vouchers::reports::{exemption_threshold_cents, report, report_days_max};
    let handle = office.handle(&state, &slug)?;
    let now = core::TimeMs(crate::runtime::wall_clock_ms());
    let zone = jiff::tz::TimeZone::get(crate::vouchers::programme_time_zone).map_err(|_| Problem::overloaded())?;
    let today = jiff::Timestamp::now().to_zoned(zone).date();
    let day = |text: &Option<String>, default: jiff::civil::Date| -> Result<jiff::civil::Date, Problem> {
        match text {
            Some(t) => t.trim().parse().map_err(|_| Problem::unprocessable("date_invalid", "days are YYYY-MM-DD")),
            None => Ok(default),
        }
    };
    let last = day(&query.last_day, today)?;
    let first = day(&query.first_day, last.checked_sub(jiff::Span::new().days(30)).unwrap_or(last))?;
    if first > last || (last - first).get_days() + 1 > report_days_max {
        return Err(Problem::unprocessable("period_invalid", "first_day is not after last_day, at most 366 days"));
    }
    let r = handle.shard.read(move |t| report(t, now.max(t.vouchers().now()), first, last)).await?;
    let out = ReportOut {
        programmes: r
            .programmes
            .iter()
            .map(|p| ProgrammeReportOut {
                id: p.id.0,
                name: p.name.clone(),
                liability_cents: p.liability.0,
                payable_cents: p.payable.0,
                payout_clearing_cents: p.payout_clearing.0,
                expired_value_cents: p.expired_value.0,
            })
            .collect(),
        days: r
            .days
            .iter()
            .map(|(d, x)| DayReportOut {
                day: d.to_string(),
                loaded_cents: x.loaded.0,
                loads: x.loads,
                redeemed_cents: x.redeemed.0,
                redemptions: x.redemptions,
                reversed_cents: x.reversed.0,
                reversals: x.reversals,
                expired_cents: x.expired.0,
            })
            .collect(),
        volume_12_months_cents: r.volume_12_months.0,
        volume_12_months: euros(r.volume_12_months),
        volume_since: crate::http::dto::time_string(r.volume_since),
        threshold_cents: exemption_threshold_cents,
        level: r.level.code(),
    };
    Ok(json(StatusCode::OK, &out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindMerchantIn {
    pub account: u32,
    /// The merchant the account acts for; null unbinds it.
    pub merchant: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BoundOut {
    pub account: u32,
    pub merchant: Option<u32>,
}

#[utoipa::path(post, path = "/api/v1/{tenant}/staff/merchant-bindings", tag = "admin",
    params(("tenant" = String, Path)), request_body = BindMerchantIn,
    responses((status = 200, body = BoundOut), (status = "4XX", description = "problem+json")))]
pub async fn bind_merchant(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: JsonBody<BindMerchantIn>,
) -> ApiResult {
    use crate::http::handlers::{admin, admin_scope, idem};
    use sturmfest_core::staff::StaffAccountId;
    let handle = admin(&state, &slug, &bearer)?;
    let merchant = body.value.merchant.map(MerchantId);
    let account = bind(handle, idem(&admin_scope(&bearer), &key, body.fingerprint), StaffAccountId(body.value.account), merchant).await?;
    Ok(json(StatusCode::OK, &BoundOut { account: account.0, merchant: merchant.map(|m| m.0) }))
}

/// Binds a `merchant` staff account to a merchant (or unbinds it); the API and the
/// office's merchants page.
pub(crate) async fn bind(
    handle: &crate::http::TenantHandle,
    idempotency: Option<core::Idempotency>,
    account: sturmfest_core::staff::StaffAccountId,
    merchant: Option<MerchantId>,
) -> Result<sturmfest_core::staff::StaffAccountId, Problem> {
    use crate::http::handlers::run;
    use sturmfest_core::staff::{StaffCommand, StaffReply};
    if let Some(m) = merchant {
        let known = handle.shard.read(move |t| t.vouchers().merchant(m).is_some()).await?;
        if !known {
            return Err(Problem::from_rejection(&core::Rejection::Voucher(core::vouchers::VoucherRejection::UnknownMerchant)));
        }
    }
    let command = StaffCommand::BindMerchant { account, merchant };
    let reply = run(handle, idempotency, core::Command::Staff(command)).await?;
    let core::Reply::Staff(StaffReply::MerchantBound { account }) = reply else { return Err(unexpected(&reply)) };
    Ok(account)
}
