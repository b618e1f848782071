//! The operator's page, `/operator`: sign in with the operator token, then every
//! city with voucher programmes on one page — its twelve-month volume against the
//! limited-network threshold as text and as a bar, the warning when it is near,
//! and per programme the liability, expired value and the last days' loads and
//! redemptions. German and English, phone first, no script.
//!
//! The sign-in form posts the token once; the answer is an `HttpOnly;
//! SameSite=Strict; Path=/operator` cookie holding an HMAC session
//! (`operator.rs`), never the token. The sign-in checks `Origin` like the staff
//! login; sign-out needs the session's CSRF token. Figures come from the same
//! functions as the API (`http/operator.rs`), and the CSV link is the API's CSV.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sturmfest_core::{Cents, TimeMs};

use super::format::euros;
use super::html;
use super::i18n::{Lang, Texts};
use crate::http::AppState;
use crate::http::operator::{Format, per_mille, period, report_out, respond};
use crate::operator::{Session, cookie_name};
use crate::vouchers::reports::{VolumeLevel, exemption_threshold_cents};

/// The page's own texts, German and English.
pub struct OperatorTexts {
    pub heading: &'static str,
    pub sign_in_title: &'static str,
    pub sign_in_intro: &'static str,
    pub token_label: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub token_wrong: &'static str,
    pub not_configured: &'static str,
    pub origin_refused: &'static str,
    pub session_invalid: &'static str,
    pub period: &'static str,
    pub csv: &'static str,
    pub no_cities: &'static str,
    pub unavailable: &'static str,
    pub volume: &'static str,
    pub of_threshold: &'static str,
    pub since: &'static str,
    pub level_below: &'static str,
    pub level_80: &'static str,
    pub level_90: &'static str,
    pub level_exceeded: &'static str,
    pub programmes: &'static str,
    pub programme: &'static str,
    pub liability: &'static str,
    pub expired_value: &'static str,
    pub loads: &'static str,
    pub redemptions: &'static str,
    pub day: &'static str,
    pub days_of: &'static str,
    pub bar_label: &'static str,
}

static operator_de: OperatorTexts = OperatorTexts {
    heading: "Betrieb: Gutscheine aller Städte",
    sign_in_title: "Anmeldung Betrieb",
    sign_in_intro: "Melden Sie sich mit dem Betreiber-Token dieses Knotens an (sturmfest operator-token).",
    token_label: "Betreiber-Token",
    sign_in: "Anmelden",
    sign_out: "Abmelden",
    token_wrong: "Dieses Token ist nicht das Betreiber-Token.",
    not_configured: "Dieser Knoten hat noch kein Betreiber-Token. Erzeugen Sie eines mit „sturmfest operator-token“ und starten Sie neu.",
    origin_refused: "Diese Anmeldung kam von einer fremden Seite und wurde abgelehnt.",
    session_invalid: "Die Sitzung ist abgelaufen oder das Formular ist veraltet. Bitte neu anmelden.",
    period: "Tage",
    csv: "Als CSV herunterladen",
    no_cities: "Noch keine Stadt hat ein Gutscheinprogramm.",
    unavailable: "Gerade nicht erreichbar (die übrigen Städte sind vollständig):",
    volume: "Zahlungsvolumen der letzten 12 Monate",
    of_threshold: "von",
    since: "seit",
    level_below: "Unter 80 % der Schwelle.",
    level_80: "Warnung: mindestens 80 % der Schwelle von 1 Mio. € (§ 2 ZAG) erreicht.",
    level_90: "Warnung: mindestens 90 % der Schwelle von 1 Mio. € (§ 2 ZAG) erreicht.",
    level_exceeded: "Schwelle überschritten: Anzeige bei der BaFin nötig (§ 2 Abs. 2 ZAG).",
    programmes: "Programme",
    programme: "Programm",
    liability: "Guthaben",
    expired_value: "Verfallen",
    loads: "Aufladungen",
    redemptions: "Einlösungen",
    day: "Tag",
    days_of: "Tage von",
    bar_label: "Volumen im Verhältnis zur Schwelle; Markierungen bei 80 % und 90 %",
};

static operator_en: OperatorTexts = OperatorTexts {
    heading: "Operations: vouchers of every city",
    sign_in_title: "Operator sign-in",
    sign_in_intro: "Sign in with this node's operator token (sturmfest operator-token).",
    token_label: "Operator token",
    sign_in: "Sign in",
    sign_out: "Sign out",
    token_wrong: "This is not the operator token.",
    not_configured: "This node has no operator token yet. Create one with \"sturmfest operator-token\" and restart.",
    origin_refused: "This sign-in came from another site and was refused.",
    session_invalid: "The session has ended or the form is stale. Please sign in again.",
    period: "days",
    csv: "Download as CSV",
    no_cities: "No city has a voucher programme yet.",
    unavailable: "Not reachable just now (the other cities are complete):",
    volume: "Payment volume of the last 12 months",
    of_threshold: "of",
    since: "since",
    level_below: "Below 80 % of the threshold.",
    level_80: "Warning: at least 80 % of the EUR 1 million threshold (§ 2 ZAG) reached.",
    level_90: "Warning: at least 90 % of the EUR 1 million threshold (§ 2 ZAG) reached.",
    level_exceeded: "Threshold exceeded: BaFin must be notified (§ 2 (2) ZAG).",
    programmes: "Programmes",
    programme: "Programme",
    liability: "Balances",
    expired_value: "Expired",
    loads: "Loads",
    redemptions: "Redemptions",
    day: "Day",
    days_of: "days of",
    bar_label: "Volume against the threshold; marks at 80 % and 90 %",
};

fn texts(lang: Lang) -> &'static OperatorTexts {
    match lang {
        Lang::De => &operator_de,
        Lang::En => &operator_en,
    }
}

pub struct DayRow {
    pub day: String,
    pub loads: String,
    pub redemptions: String,
}

pub struct ProgrammeView {
    pub id: u32,
    pub name: String,
    pub liability: String,
    pub expired_value: String,
    pub loads: String,
    pub redemptions: String,
    pub days: Vec<DayRow>,
}

pub struct CityView {
    pub slug: String,
    pub name: String,
    pub volume: String,
    pub percent: String,
    pub since: String,
    /// `below`, `warning_80`, … as the API names it.
    pub level: &'static str,
    pub level_text: &'static str,
    pub warn: bool,
    /// Bar width in the SVG's 0..1000 (the threshold), capped at the threshold.
    pub bar: i64,
    pub programmes: Vec<ProgrammeView>,
}

#[derive(Template)]
#[template(path = "operator_signin.html")]
struct SignInPage {
    lang: Lang,
    t: &'static Texts,
    o: &'static OperatorTexts,
    organizer: &'static str,
    error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "operator.html")]
struct ReportPage {
    lang: Lang,
    t: &'static Texts,
    o: &'static OperatorTexts,
    organizer: &'static str,
    csrf: String,
    days: u32,
    first: String,
    last: String,
    threshold: String,
    cities: Vec<CityView>,
    /// Cities whose figures could not be read just now.
    unavailable: Vec<String>,
}

const page_title: &str = "sturmfest · Betrieb / Operations";

#[derive(Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
    days: Option<u32>,
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(cookie_name)?.strip_prefix('=').map(str::to_string))
}

fn session(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    state.operator.open_session(&cookie(headers)?, crate::runtime::wall_clock_ms())
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

fn sign_in_page(lang: Lang, error: Option<&'static str>, status: StatusCode) -> Response {
    let page = SignInPage { lang, t: lang.texts(), o: texts(lang), organizer: page_title, error };
    with_status(html(&page, lang), status)
}

fn see_other(to: String, cookie: Option<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn percent(volume: Cents, lang: Lang) -> String {
    let pm = per_mille(volume);
    match lang {
        Lang::De => format!("{},{}\u{a0}%", pm / 10, pm % 10),
        Lang::En => format!("{}.{}%", pm / 10, pm % 10),
    }
}

fn day_label(day: &str, lang: Lang) -> String {
    let Ok(date) = day.parse::<jiff::civil::Date>() else { return day.to_string() };
    match lang {
        Lang::De => {
            let weekday = ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"][date.weekday().to_monday_zero_offset() as usize];
            format!("{weekday} {}", date.strftime("%d.%m."))
        }
        Lang::En => date.strftime("%a %-d %b").to_string(),
    }
}

/// `3 · 77,50 €`: how many and how much.
fn count_sum(count: u32, cents: i64, lang: Lang) -> String {
    format!("{count} · {}", euros(Cents(cents), lang))
}

fn city_views(out: &crate::http::operator::OperatorReportOut, lang: Lang) -> Vec<CityView> {
    let o = texts(lang);
    out.cities
        .iter()
        .map(|c| {
            let volume = Cents(c.volume_12_months_cents);
            let level = VolumeLevel::of(volume);
            let since = c.volume_since.parse::<jiff::Timestamp>().map(|ts| super::format::date_time(TimeMs(ts.as_millisecond()), lang)).unwrap_or_default();
            CityView {
                slug: c.tenant.clone(),
                name: c.name.clone(),
                volume: euros(volume, lang),
                percent: percent(volume, lang),
                since,
                level: c.level,
                level_text: match level {
                    VolumeLevel::Below => o.level_below,
                    VolumeLevel::Warning80 => o.level_80,
                    VolumeLevel::Warning90 => o.level_90,
                    VolumeLevel::Exceeded => o.level_exceeded,
                },
                warn: level != VolumeLevel::Below,
                bar: c.volume_per_mille.clamp(0, 1000),
                programmes: c
                    .programmes
                    .iter()
                    .map(|p| {
                        let loads: u32 = p.days.iter().map(|d| d.loads).sum();
                        let loaded: i64 = p.days.iter().map(|d| d.loaded_cents).sum();
                        let redemptions: u32 = p.days.iter().map(|d| d.redemptions).sum();
                        let redeemed: i64 = p.days.iter().map(|d| d.redeemed_cents).sum();
                        ProgrammeView {
                            id: p.id,
                            name: p.name.clone(),
                            liability: euros(Cents(p.liability_cents), lang),
                            expired_value: euros(Cents(p.expired_value_cents), lang),
                            loads: count_sum(loads, loaded, lang),
                            redemptions: count_sum(redemptions, redeemed, lang),
                            days: p
                                .days
                                .iter()
                                .rev()
                                .map(|d| DayRow {
                                    day: day_label(&d.day, lang),
                                    loads: count_sum(d.loads, d.loaded_cents, lang),
                                    redemptions: count_sum(d.redemptions, d.redeemed_cents, lang),
                                })
                                .collect(),
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// `GET /operator`: the report for a signed-in operator, else the sign-in form.
pub async fn page(State(state): State<AppState>, Query(query): Query<PageQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(session) = session(&state, &headers) else {
        let error = (!state.operator.configured()).then_some(texts(lang).not_configured);
        return sign_in_page(lang, error, StatusCode::OK);
    };
    let days = query.days.unwrap_or(crate::http::operator::operator_days_default).clamp(1, crate::http::operator::operator_days_max);
    let Ok((first, last)) = period(Some(days)) else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let now = TimeMs(crate::runtime::wall_clock_ms());
    let cities = crate::operator::cities(&state, now, first, last).await;
    let out = report_out(&cities, now, first, last);
    let page = ReportPage {
        lang,
        t: lang.texts(),
        o: texts(lang),
        organizer: page_title,
        csrf: state.operator.csrf_token(&session),
        days,
        first: day_label(&out.first_day, lang),
        last: day_label(&out.last_day, lang),
        threshold: euros(Cents(exemption_threshold_cents), lang),
        cities: city_views(&out, lang),
        unavailable: out.unavailable.iter().map(|u| format!("{} (/{})", u.name, u.tenant)).collect(),
    };
    let mut response = html(&page, lang);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize, Default)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
}

/// `POST /operator/login`: the token once, a session cookie back.
pub async fn sign_in(State(state): State<AppState>, Query(query): Query<PageQuery>, headers: HeaderMap, Form(form): Form<SignInForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let o = texts(lang);
    if !crate::staff::origin_allowed(&headers, &state.operator.base_origin) {
        return sign_in_page(lang, Some(o.origin_refused), StatusCode::FORBIDDEN);
    }
    if !state.operator.configured() {
        return sign_in_page(lang, Some(o.not_configured), StatusCode::UNAUTHORIZED);
    }
    if !state.operator.token_matches(&form.token) {
        return sign_in_page(lang, Some(o.token_wrong), StatusCode::UNAUTHORIZED);
    }
    let Some((_, value)) = state.operator.start_session(crate::runtime::wall_clock_ms()) else {
        return sign_in_page(lang, Some(o.not_configured), StatusCode::UNAUTHORIZED);
    };
    see_other(format!("/operator?lang={}", lang.code()), Some(state.operator.set_cookie(&value)))
}

#[derive(Deserialize, Default)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /operator/logout`: ends the session (with its CSRF token) and the cookie.
pub async fn sign_out(State(state): State<AppState>, Query(query): Query<PageQuery>, headers: HeaderMap, Form(form): Form<SignOutForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(session) = session(&state, &headers) else {
        return sign_in_page(lang, Some(texts(lang).session_invalid), StatusCode::UNAUTHORIZED);
    };
    if !state.operator.csrf_matches(&session, &form.csrf) {
        return sign_in_page(lang, Some(texts(lang).session_invalid), StatusCode::FORBIDDEN);
    }
    state.operator.revoke(&session, crate::runtime::wall_clock_ms());
    see_other(format!("/operator?lang={}", lang.code()), Some(state.operator.clear_cookie()))
}

/// `GET /operator/report.csv`: the API's CSV for a signed-in operator.
pub async fn csv(State(state): State<AppState>, Query(query): Query<PageQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if session(&state, &headers).is_none() {
        return sign_in_page(lang, Some(texts(lang).session_invalid), StatusCode::UNAUTHORIZED);
    }
    let (first, last) = match period(query.days) {
        Ok(p) => p,
        Err(problem) => return problem.into_response(),
    };
    let now = TimeMs(crate::runtime::wall_clock_ms());
    respond(&report_out(&crate::operator::cities(&state, now, first, last).await, now, first, last), Format::Csv)
}
