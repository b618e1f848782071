//! The operator's report across cities, `GET /api/v1/operator/vouchers/report`:
//! for every tenant with voucher programmes, each programme's liability, expired
//! value and loads and redemptions per Berlin day, and per issuer (tenant) the
//! rolling twelve-month volume with its warning level. JSON, or CSV with
//! `format=csv`. Only the operator token (`operator.rs`) opens it; a tenant's own
//! token is refused like any wrong one, since one city must not read another's.
//!
//! The figures are the city report's (`vouchers/reports.rs`), read from each
//! city's shard; this file only adds them up and writes them out.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sturmfest_core::{Cents, TimeMs};
use utoipa::{IntoParams, ToSchema};

use crate::http::AppState;
use crate::http::dto::{euros, time_string};
use crate::http::extract::{Bearer, QueryParams};
use crate::http::handlers::{ApiResult, json};
use crate::http::problem::Problem;
use crate::http::vouchers_settle::DayReportOut;
use crate::vouchers::reports::{exemption_threshold_cents, warning_percents};

/// Days one operator report lists at most: a quarter, for every city at once.
pub const operator_days_max: u32 = 92;
/// Days listed when the query names none: the last week.
pub const operator_days_default: u32 = 7;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OperatorReportQuery {
    /// Berlin days listed, ending today: 1 to 92, default 7.
    pub days: Option<u32>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorProgrammeOut {
    pub id: u32,
    pub name: String,
    /// What holders' cards hold now.
    pub liability_cents: i64,
    pub liability: String,
    /// Owed to merchants, not yet settled.
    pub payable_cents: i64,
    /// Forfeited by expired cards.
    pub expired_value_cents: i64,
    pub expired_value: String,
    /// Only this programme's cards, per Berlin day.
    pub days: Vec<DayReportOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorCityOut {
    pub tenant: String,
    pub name: String,
    /// The issuer's redemptions net of reversals since `volume_since`.
    pub volume_12_months_cents: i64,
    pub volume_12_months: String,
    pub volume_since: String,
    /// Per mille of the threshold, rounded down (800 = the first warning).
    pub volume_per_mille: i64,
    /// `below`, `warning_80`, `warning_90` or `exceeded`.
    pub level: &'static str,
    pub programmes: Vec<OperatorProgrammeOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorReportOut {
    pub generated_at: String,
    pub first_day: String,
    pub last_day: String,
    pub threshold_cents: i64,
    pub warning_percents: Vec<i64>,
    pub cities: Vec<OperatorCityOut>,
    /// Cities whose figures could not be read just now (their store did not
    /// answer); the others are complete.
    pub unavailable: Vec<UnavailableCityOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnavailableCityOut {
    pub tenant: String,
    pub name: String,
}

/// Which output the caller asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// The Berlin days `first..=last` of a report of `days` days ending today.
pub fn period(days: Option<u32>) -> Result<(jiff::civil::Date, jiff::civil::Date), Problem> {
    let days = days.unwrap_or(operator_days_default);
    if days == 0 || days > operator_days_max {
        return Err(Problem::unprocessable("days_invalid", format!("days is 1 to {operator_days_max}")));
    }
    let zone = jiff::tz::TimeZone::get(crate::vouchers::programme_time_zone).map_err(|_| Problem::overloaded())?;
    let last = jiff::Timestamp::now().to_zoned(zone).date();
    let first = last.checked_sub(jiff::Span::new().days(i64::from(days) - 1)).map_err(|_| Problem::unprocessable("days_invalid", "too far back"))?;
    Ok((first, last))
}

pub fn format(text: Option<&str>) -> Result<Format, Problem> {
    match text.map(str::trim) {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(Problem::unprocessable("format_invalid", format!("format is `json` or `csv`, not {other:?}"))),
    }
}

pub fn per_mille(volume: Cents) -> i64 {
    (i128::from(volume.0) * 1000 / i128::from(exemption_threshold_cents)) as i64
}

fn day_out(day: &jiff::civil::Date, x: &crate::vouchers::reports::DayReport) -> DayReportOut {
    DayReportOut {
        day: day.to_string(),
        loaded_cents: x.loaded.0,
        loads: x.loads,
        redeemed_cents: x.redeemed.0,
        redemptions: x.redemptions,
        reversed_cents: x.reversed.0,
        reversals: x.reversals,
        expired_cents: x.expired.0,
    }
}

pub fn report_out(all: &crate::operator::Cities, now: TimeMs, first: jiff::civil::Date, last: jiff::civil::Date) -> OperatorReportOut {
    let cities = all
        .figures
        .iter()
        .map(|c| OperatorCityOut {
            tenant: c.slug.clone(),
            name: c.name.clone(),
            volume_12_months_cents: c.report.volume_12_months.0,
            volume_12_months: euros(c.report.volume_12_months),
            volume_since: time_string(c.report.volume_since),
            volume_per_mille: per_mille(c.report.volume_12_months),
            level: c.report.level.code(),
            programmes: c
                .report
                .programmes
                .iter()
                .map(|p| OperatorProgrammeOut {
                    id: p.id.0,
                    name: p.name.clone(),
                    liability_cents: p.liability.0,
                    liability: euros(p.liability),
                    payable_cents: p.payable.0,
                    expired_value_cents: p.expired_value.0,
                    expired_value: euros(p.expired_value),
                    days: c.days.get(&p.id).map(|days| days.iter().map(|(d, x)| day_out(d, x)).collect()).unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    OperatorReportOut {
        generated_at: time_string(now),
        first_day: first.to_string(),
        last_day: last.to_string(),
        threshold_cents: exemption_threshold_cents,
        warning_percents: warning_percents.to_vec(),
        cities,
        unavailable: all.unavailable.iter().map(|(tenant, name)| UnavailableCityOut { tenant: tenant.clone(), name: name.clone() }).collect(),
    }
}

/// A CSV field: quoted when it must be, and a leading `= + - @` defused so a
/// spreadsheet never runs a city's or programme's name as a formula.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// One line per city, programme and day; the programme's and the issuer's figures
/// repeat on each of its lines, so a spreadsheet can filter and pivot without joins.
pub fn report_csv(out: &OperatorReportOut) -> String {
    use crate::vouchers::settlement::decimal;
    let mut csv = String::from(
        "tenant,city,programme,programme_name,liability_eur,expired_value_eur,volume_12_months_eur,level,day,loaded_eur,loads,redeemed_eur,redemptions,reversed_eur,reversals,expired_eur\n",
    );
    for c in &out.cities {
        for p in &c.programmes {
            for d in &p.days {
                csv.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    field(&c.tenant),
                    field(&c.name),
                    p.id,
                    field(&p.name),
                    decimal(Cents(p.liability_cents)),
                    decimal(Cents(p.expired_value_cents)),
                    decimal(Cents(c.volume_12_months_cents)),
                    c.level,
                    d.day,
                    decimal(Cents(d.loaded_cents)),
                    d.loads,
                    decimal(Cents(d.redeemed_cents)),
                    d.redemptions,
                    decimal(Cents(d.reversed_cents)),
                    d.reversals,
                    decimal(Cents(d.expired_cents)),
                ));
            }
        }
    }
    // A city that did not answer gets one line saying so, never silence.
    for u in &out.unavailable {
        csv.push_str(&format!("{},{},,,,,,unavailable,,,,,,,,\n", field(&u.tenant), field(&u.name)));
    }
    csv
}

/// The report in the asked format, as a response.
pub fn respond(out: &OperatorReportOut, format: Format) -> axum::response::Response {
    match format {
        Format::Json => json(StatusCode::OK, out),
        Format::Csv => {
            let file = format!("attachment; filename=\"operator-vouchers-{}-{}.csv\"", out.first_day, out.last_day);
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, file)], report_csv(out)).into_response()
        }
    }
}

#[utoipa::path(get, path = "/api/v1/operator/vouchers/report", tag = "operator",
    params(OperatorReportQuery),
    responses((status = 200, body = OperatorReportOut, description = "JSON, or text/csv with format=csv"), (status = "4XX", description = "problem+json")))]
pub async fn operator_report(State(state): State<AppState>, bearer: Bearer, QueryParams(query): QueryParams<OperatorReportQuery>) -> ApiResult {
    // The token first: without it, nothing about the parameters is answered.
    if !bearer.0.as_deref().is_some_and(|t| state.operator.token_matches(t)) {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            "this call needs the node's operator token as 'Authorization: Bearer <token>' (`sturmfest operator-token`); a tenant's token does not open it",
        ));
    }
    let format = format(query.format.as_deref())?;
    let (first, last) = period(query.days)?;
    let now = TimeMs(crate::runtime::wall_clock_ms());
    let cities = crate::operator::cities(&state, now, first, last).await;
    Ok(respond(&report_out(&cities, now, first, last), format))
}
