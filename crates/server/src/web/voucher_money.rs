//! The voucher office's money pages (roles voucher_office and admin): settlement —
//! run it for a programme, one merchant or all, over a period of Berlin days, and
//! list the settlements with their statements (CSV, PDF) and the pain.001 payout
//! files — and the city report: liability, payables, payout clearing and expired
//! value per programme, loads and redemptions per Berlin day as a table and a bar
//! chart, and the rolling twelve-month volume against the EUR 1 million threshold
//! of the limited-network exemption, with its 80 % and 90 % warnings.
//!
//! The files are served under `/{tenant}/vouchers/settlement/…` as well as under
//! the API, because the staff cookie's path is `/{tenant}/` and never reaches
//! `/api/`; both call the same functions in `http/vouchers_settle.rs`.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sturmfest_core::ledger::ProgrammeId;
use sturmfest_core::vouchers::MerchantId;
use sturmfest_core::TimeMs;

use super::format::{date_time, euros};
use super::i18n::{Lang, Texts};
use super::voucher_merchants::{ProgrammeOption, gate, gate_form};
use super::voucher_nav::VoucherNav;
use super::html;
use crate::http::problem::Problem;
use crate::http::vouchers_settle::{PayoutQuery, StatementQuery, payout_reply, period, settle, statement_reply};
use crate::staff::StaffSession;
use crate::vouchers::reports::{VolumeLevel, exemption_threshold_cents, report, report_days_max};

/// Settlements the page lists, newest first; older ones stay in the API.
pub const settlements_listed_max: usize = 200;
/// Days the report shows unless asked for others.
pub const report_days_default: i64 = 31;
const _: () = assert!(report_days_default <= report_days_max as i64);

pub struct MoneyTexts {
    pub settlement: &'static str,
    pub run: &'static str,
    pub programme: &'static str,
    pub merchant: &'static str,
    pub all_merchants: &'static str,
    pub first_day: &'static str,
    pub last_day: &'static str,
    pub run_button: &'static str,
    pub run_hint: &'static str,
    pub settled: &'static str,
    pub refused: &'static str,
    pub settlements: &'static str,
    pub no_settlements: &'static str,
    pub number: &'static str,
    pub period: &'static str,
    pub redeemed: &'static str,
    pub reversed: &'static str,
    pub amount: &'static str,
    pub made: &'static str,
    pub statement: &'static str,
    pub payout: &'static str,
    pub payout_hint: &'static str,
    pub debtor_name: &'static str,
    pub debtor_iban: &'static str,
    pub show_links: &'static str,
    pub payout_file: &'static str,
    pub no_programmes: &'static str,
    pub report: &'static str,
    pub show: &'static str,
    pub volume: &'static str,
    pub volume_since: &'static str,
    pub of_threshold: &'static str,
    pub warning_80: &'static str,
    pub warning_90: &'static str,
    pub exceeded: &'static str,
    pub below: &'static str,
    pub programmes: &'static str,
    pub liability: &'static str,
    pub payable: &'static str,
    pub payout_clearing: &'static str,
    pub expired_value: &'static str,
    pub days: &'static str,
    pub day: &'static str,
    pub loaded: &'static str,
    pub loads: &'static str,
    pub redemptions: &'static str,
    pub expired: &'static str,
    pub chart_title: &'static str,
    pub chart_desc: &'static str,
    pub error_period: &'static str,
    pub error_other: &'static str,
}

pub static MONEY_DE: MoneyTexts = MoneyTexts {
    settlement: "Abrechnung",
    run: "Abrechnung ausführen",
    programme: "Programm",
    merchant: "Händler",
    all_merchants: "Alle Händler",
    first_day: "Erster Tag",
    last_day: "Letzter Tag",
    run_button: "Abrechnen",
    run_hint: "Berliner Kalendertage. Ein Zeitraum lässt sich erst abrechnen, wenn er vorbei ist; ein zweiter Lauf ändert nichts.",
    settled: "Abgerechnet",
    refused: "Nicht abgerechnet",
    settlements: "Abrechnungen",
    no_settlements: "Noch keine Abrechnungen.",
    number: "Nr.",
    period: "Zeitraum",
    redeemed: "Eingelöst",
    reversed: "Storniert",
    amount: "Auszahlung",
    made: "erstellt",
    statement: "Abrechnung",
    payout: "Auszahlungsdatei (pain.001)",
    payout_hint: "Das zahlende Konto der Stadt; es wird nur für die Datei verwendet und nicht gespeichert.",
    debtor_name: "Kontoinhaber",
    debtor_iban: "IBAN des Kontos",
    show_links: "Dateien anzeigen",
    payout_file: "pain.001",
    no_programmes: "Noch keine Programme.",
    report: "Bericht",
    show: "Anzeigen",
    volume: "Zahlungsvolumen der letzten 12 Monate",
    volume_since: "seit",
    of_threshold: "der Schwelle von 1.000.000,00 € für begrenzte Netze",
    warning_80: "Achtung: Das Volumen der letzten 12 Monate hat 80 % der Schwelle von 1 Mio. € (Ausnahme für begrenzte Netze, § 2 Abs. 1 Nr. 10 ZAG) erreicht. Die Anzeige an die BaFin vorbereiten.",
    warning_90: "Warnung: Das Volumen der letzten 12 Monate hat 90 % der Schwelle von 1 Mio. € erreicht. Die Anzeige an die BaFin ist bei Überschreiten fällig.",
    exceeded: "Die Schwelle von 1 Mio. € ist überschritten: Die Ausnahme für begrenzte Netze muss der BaFin angezeigt werden.",
    below: "Unter 80 % der Schwelle.",
    programmes: "Programme",
    liability: "Guthaben der Karten",
    payable: "Offen an Händler",
    payout_clearing: "Zur Auszahlung",
    expired_value: "Verfallen",
    days: "Tage",
    day: "Tag",
    loaded: "Aufgeladen",
    loads: "Aufladungen",
    redemptions: "Einlösungen",
    expired: "Verfallen",
    chart_title: "Aufladungen und Einlösungen je Tag",
    chart_desc: "Je Tag ein Balken für Aufgeladen (blau) und Eingelöst (orange) in Euro. Dieselben Zahlen stehen in der Tabelle.",
    error_period: "Bitte einen Zeitraum aus ganzen Tagen angeben, der letzte nicht vor dem ersten, höchstens 366 Tage.",
    error_other: "Das ging nicht.",
};

pub static MONEY_EN: MoneyTexts = MoneyTexts {
    settlement: "Settlement",
    run: "Run a settlement",
    programme: "Programme",
    merchant: "Merchant",
    all_merchants: "All merchants",
    first_day: "First day",
    last_day: "Last day",
    run_button: "Settle",
    run_hint: "Berlin calendar days. A period can be settled once it is over; running it again changes nothing.",
    settled: "Settled",
    refused: "Not settled",
    settlements: "Settlements",
    no_settlements: "No settlements yet.",
    number: "No.",
    period: "Period",
    redeemed: "Redeemed",
    reversed: "Reversed",
    amount: "Payout",
    made: "made",
    statement: "Statement",
    payout: "Payout file (pain.001)",
    payout_hint: "The city's paying account; used for the file only, not stored.",
    debtor_name: "Account holder",
    debtor_iban: "Account IBAN",
    show_links: "Show files",
    payout_file: "pain.001",
    no_programmes: "No programmes yet.",
    report: "Report",
    show: "Show",
    volume: "Payment volume of the last 12 months",
    volume_since: "since",
    of_threshold: "of the €1,000,000.00 limited-network threshold",
    warning_80: "Attention: the volume of the last 12 months has reached 80 % of the €1 million threshold (limited-network exemption, § 2 (1) no. 10 ZAG). Prepare the notification to BaFin.",
    warning_90: "Warning: the volume of the last 12 months has reached 90 % of the €1 million threshold. The notification to BaFin is due once it is exceeded.",
    exceeded: "The €1 million threshold is exceeded: the limited-network exemption must be notified to BaFin.",
    below: "Below 80 % of the threshold.",
    programmes: "Programmes",
    liability: "Card balances",
    payable: "Owed to merchants",
    payout_clearing: "Awaiting payout",
    expired_value: "Expired",
    days: "Days",
    day: "Day",
    loaded: "Loaded",
    loads: "Loads",
    redemptions: "Redemptions",
    expired: "Expired",
    chart_title: "Loads and redemptions per day",
    chart_desc: "Per day one bar for loaded (blue) and redeemed (orange) in euros. The table holds the same numbers.",
    error_period: "Please give a period of whole days, the last not before the first, at most 366 days.",
    error_other: "That did not work.",
};

pub fn money_texts(lang: Lang) -> &'static MoneyTexts {
    match lang {
        Lang::De => &MONEY_DE,
        Lang::En => &MONEY_EN,
    }
}

fn berlin_today() -> jiff::civil::Date {
    let zone = jiff::tz::TimeZone::get(crate::vouchers::programme_time_zone).expect("the bundled tz database knows Europe/Berlin");
    jiff::Timestamp::from_millisecond(crate::runtime::wall_clock_ms()).map(|t| t.to_zoned(zone).date()).unwrap_or_default()
}

fn berlin_day(at: TimeMs) -> String {
    let zone = jiff::tz::TimeZone::get(crate::vouchers::programme_time_zone).expect("the bundled tz database knows Europe/Berlin");
    jiff::Timestamp::from_millisecond(at.0).map(|t| t.to_zoned(zone).date().to_string()).unwrap_or_default()
}

/// Query values: everything but letters, digits and `-._` escaped, so refusal codes
/// stay readable in the address bar.
const query_escaped: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

fn enc(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, query_escaped).to_string()
}

// ----- settlement -----

#[derive(Deserialize, Default)]
pub struct SettlementQuery {
    lang: Option<String>,
    programme: Option<u32>,
    first_day: Option<String>,
    last_day: Option<String>,
    /// Settled in the run just made: how many, and `merchant:code` of refusals.
    settled: Option<u32>,
    refused: Option<String>,
    debtor_name: Option<String>,
    debtor_iban: Option<String>,
}

pub struct SettlementRow {
    pub id: u32,
    pub programme: String,
    pub merchant: String,
    pub first: String,
    pub last: String,
    pub redeemed: String,
    pub reversed: String,
    pub amount: String,
    pub made: String,
    pub csv: String,
    pub pdf: String,
    /// The payout file of the settlement's programme and period, when the paying
    /// account was given.
    pub payout: Option<String>,
}

pub struct RunResult {
    pub settled: u32,
    /// (merchant name or id, refusal code)
    pub refused: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "voucher_settlement.html")]
struct SettlementPage<'a> {
    lang: Lang,
    t: &'static Texts,
    s: &'static MoneyTexts,
    organizer: &'a str,
    slug: &'a str,
    nav_items: Vec<(String, &'static str, bool)>,
    nav_label: &'static str,
    csrf: String,
    programmes: Vec<ProgrammeOption>,
    merchants: Vec<ProgrammeOption>,
    programme: u32,
    first_day: String,
    last_day: String,
    debtor_name: String,
    debtor_iban: String,
    run: Option<RunResult>,
    settlements: Vec<SettlementRow>,
    error: Option<String>,
}

pub async fn settlement_page(staff: StaffSession, Query(query): Query<SettlementQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    render_settlement(&staff, lang, query, None).await
}

async fn render_settlement(staff: &StaffSession, lang: Lang, query: SettlementQuery, error: Option<String>) -> Response {
    let slug = staff.slug.clone();
    let debtor = query.debtor_name.clone().filter(|n| !n.trim().is_empty()).zip(query.debtor_iban.clone().filter(|i| !i.trim().is_empty()));
    let read = staff
        .handle
        .shard
        .read(move |t| {
            let v = t.vouchers();
            let programmes: Vec<ProgrammeOption> = v.programmes().map(|p| ProgrammeOption { id: p.id.0, name: p.name.clone() }).collect();
            let merchants: Vec<ProgrammeOption> = v.merchants().map(|m| ProgrammeOption { id: m.id.0, name: m.name.clone() }).collect();
            let rows = v
                .settlements()
                .iter()
                .rev()
                .take(settlements_listed_max)
                .map(|s| {
                    let first = berlin_day(s.from);
                    let last = berlin_day(TimeMs(s.until.0 - 1));
                    let file = |format: &str| {
                        format!(
                            "/{slug}/vouchers/settlement/statement?merchant={}&programme={}&first_day={first}&last_day={last}&format={format}&lang={}",
                            s.merchant.0,
                            s.programme.0,
                            lang.code()
                        )
                    };
                    SettlementRow {
                        id: s.id.0,
                        programme: v.programme(s.programme).map(|p| p.name.clone()).unwrap_or_default(),
                        merchant: v.merchant(s.merchant).map(|m| m.name.clone()).unwrap_or_default(),
                        redeemed: euros(s.redeemed, lang),
                        reversed: euros(s.reversed, lang),
                        amount: euros(s.amount, lang),
                        made: date_time(s.at, lang),
                        csv: file("csv"),
                        pdf: file("pdf"),
                        payout: debtor.as_ref().map(|(name, iban)| {
                            format!(
                                "/{slug}/vouchers/settlement/payout?programme={}&first_day={first}&last_day={last}&debtor_name={}&debtor_iban={}",
                                s.programme.0,
                                enc(name),
                                enc(iban)
                            )
                        }),
                        first,
                        last,
                    }
                })
                .collect::<Vec<_>>();
            (programmes, merchants, rows)
        })
        .await;
    let (programmes, merchants, settlements) = match read {
        Ok(read) => read,
        Err(e) => return Problem::from(e).into_response(),
    };
    let yesterday = berlin_today().yesterday().map(|d| d.to_string()).unwrap_or_default();
    let run = query.settled.map(|settled| RunResult {
        settled,
        refused: query
            .refused
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter_map(|item| item.split_once(':'))
            .map(|(m, code)| {
                let name = m.parse().ok().and_then(|id: u32| merchants.iter().find(|x| x.id == id)).map_or(m.to_string(), |x| x.name.clone());
                (name, code.to_string())
            })
            .collect(),
    });
    let nav = VoucherNav::of(lang);
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = SettlementPage {
        lang,
        t: lang.texts(),
        s: money_texts(lang),
        organizer: &staff.handle.name,
        slug: &staff.slug,
        nav_items: nav.items(&staff.slug, lang, "settlement"),
        nav_label: nav.label,
        csrf: staff.csrf_token(),
        programme: query.programme.or(programmes.first().map(|p| p.id)).unwrap_or(0),
        programmes,
        merchants,
        first_day: query.first_day.unwrap_or_else(|| yesterday.clone()),
        last_day: query.last_day.unwrap_or(yesterday),
        debtor_name: query.debtor_name.unwrap_or_default(),
        debtor_iban: query.debtor_iban.unwrap_or_default(),
        run,
        settlements,
        error,
    };
    let mut response = html(&page, lang);
    *response.status_mut() = status;
    response
}

#[derive(Deserialize, Default)]
pub struct SettleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    programme: u32,
    /// A merchant's id, or `all`.
    #[serde(default)]
    merchant: String,
    #[serde(default)]
    first_day: String,
    #[serde(default)]
    last_day: String,
}

pub async fn settle_submit(staff: StaffSession, Query(query): Query<SettlementQuery>, headers: HeaderMap, Form(form): Form<SettleForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    let s = money_texts(lang);
    let again = SettlementQuery {
        programme: Some(form.programme),
        first_day: Some(form.first_day.clone()),
        last_day: Some(form.last_day.clone()),
        ..SettlementQuery::default()
    };
    let Ok(chosen) = period(&form.first_day, &form.last_day) else {
        return render_settlement(&staff, lang, again, Some(s.error_period.to_string())).await;
    };
    let only = match form.merchant.trim() {
        "" | "all" => None,
        id => match id.parse() {
            Ok(id) => Some(MerchantId(id)),
            Err(_) => return render_settlement(&staff, lang, again, Some(s.error_other.to_string())).await,
        },
    };
    match settle(&staff.handle, ProgrammeId(form.programme), chosen, only).await {
        Ok(out) => {
            let refused: Vec<String> = out.refused.iter().map(|r| format!("{}:{}", r.merchant, r.code)).collect();
            let to = format!(
                "/{}/vouchers/settlement?lang={}&programme={}&first_day={}&last_day={}&settled={}&refused={}",
                staff.slug,
                lang.code(),
                form.programme,
                chosen.first,
                chosen.last,
                out.settled.len(),
                enc(&refused.join(","))
            );
            (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
        }
        Err(problem) => {
            let status = problem.status;
            let text = format!("{} ({}: {})", s.error_other, problem.code, problem.detail);
            let mut response = render_settlement(&staff, lang, again, Some(text)).await;
            *response.status_mut() = status;
            response
        }
    }
}

#[derive(Deserialize)]
pub struct StatementFileQuery {
    merchant: u32,
    programme: u32,
    first_day: String,
    last_day: String,
    format: Option<String>,
    lang: Option<String>,
}

/// A statement file for the office's session (the API's reply, same bytes).
pub async fn statement_file(staff: StaffSession, Query(query): Query<StatementFileQuery>, headers: HeaderMap) -> Response {
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    let q = StatementQuery { programme: query.programme, first_day: query.first_day, last_day: query.last_day, format: query.format, lang: query.lang };
    match statement_reply(&staff.handle, MerchantId(query.merchant), &q).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

#[derive(Deserialize)]
pub struct PayoutFileQuery {
    programme: u32,
    first_day: String,
    last_day: String,
    debtor_name: String,
    debtor_iban: String,
    debtor_bic: Option<String>,
}

/// The pain.001 payout file for the office's session (the API's reply, same bytes).
pub async fn payout_file(staff: StaffSession, Query(query): Query<PayoutFileQuery>, headers: HeaderMap) -> Response {
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    let q = PayoutQuery {
        first_day: query.first_day,
        last_day: query.last_day,
        debtor_name: query.debtor_name,
        debtor_iban: query.debtor_iban,
        debtor_bic: query.debtor_bic.filter(|b| !b.trim().is_empty()),
        execution_date: None,
    };
    match payout_reply(&staff.handle, ProgrammeId(query.programme), q).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

// ----- the city report -----

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    lang: Option<String>,
    first_day: Option<String>,
    last_day: Option<String>,
}

pub struct ProgrammeRow {
    pub name: String,
    pub liability: String,
    pub payable: String,
    pub payout_clearing: String,
    pub expired_value: String,
}

pub struct DayRow {
    pub day: String,
    pub loaded_cents: i64,
    pub loaded: String,
    pub loads: u32,
    pub redeemed_cents: i64,
    pub redeemed: String,
    pub redemptions: u32,
    pub reversed: String,
    pub expired: String,
}

#[derive(Template)]
#[template(path = "voucher_report.html")]
struct ReportPage<'a> {
    lang: Lang,
    t: &'static Texts,
    s: &'static MoneyTexts,
    organizer: &'a str,
    slug: &'a str,
    nav_items: Vec<(String, &'static str, bool)>,
    nav_label: &'static str,
    first_day: String,
    last_day: String,
    volume: String,
    percent: String,
    since: String,
    /// `below`, `warning_80`, `warning_90` or `exceeded` (the API's codes).
    level: &'static str,
    warning: Option<&'static str>,
    below: &'static str,
    programmes: Vec<ProgrammeRow>,
    days: Vec<DayRow>,
    chart: String,
    error: Option<String>,
}

pub async fn report_page(staff: StaffSession, Query(query): Query<ReportQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    let s = money_texts(lang);
    let today = berlin_today();
    let last_default = today.to_string();
    let first_default = today.checked_sub(jiff::Span::new().days(report_days_default - 1)).unwrap_or(today).to_string();
    let first_text = query.first_day.clone().filter(|d| !d.trim().is_empty()).unwrap_or(first_default.clone());
    let last_text = query.last_day.clone().filter(|d| !d.trim().is_empty()).unwrap_or(last_default.clone());
    let (chosen, error) = match period(&first_text, &last_text) {
        Ok(p) if (p.last - p.first).get_days() < report_days_max => (p, None),
        _ => (period(&first_default, &last_default).expect("the default period is valid"), Some(s.error_period.to_string())),
    };
    let now = TimeMs(crate::runtime::wall_clock_ms());
    let read = staff.handle.shard.read(move |t| report(t, now.max(t.vouchers().now()), chosen.first, chosen.last)).await;
    let r = match read {
        Ok(r) => r,
        Err(e) => return Problem::from(e).into_response(),
    };
    let days: Vec<DayRow> = r
        .days
        .iter()
        .map(|(d, x)| DayRow {
            day: match lang {
                Lang::De => d.strftime("%d.%m.%Y").to_string(),
                Lang::En => d.strftime("%-d %b %Y").to_string(),
            },
            loaded_cents: x.loaded.0,
            loaded: euros(x.loaded, lang),
            loads: x.loads,
            redeemed_cents: x.redeemed.0,
            redeemed: euros(x.redeemed, lang),
            redemptions: x.redemptions,
            reversed: euros(x.reversed, lang),
            expired: euros(x.expired, lang),
        })
        .collect();
    // Tenths of a per cent, rounded down, so 79.99 % never reads as 80.0 %.
    let permille = i128::from(r.volume_12_months.0) * 1000 / i128::from(exemption_threshold_cents);
    let percent = match lang {
        Lang::De => format!("{},{} %", permille / 10, permille % 10),
        Lang::En => format!("{}.{}%", permille / 10, permille % 10),
    };
    let warning = match r.level {
        VolumeLevel::Below => None,
        VolumeLevel::Warning80 => Some(s.warning_80),
        VolumeLevel::Warning90 => Some(s.warning_90),
        VolumeLevel::Exceeded => Some(s.exceeded),
    };
    let nav = VoucherNav::of(lang);
    let page = ReportPage {
        lang,
        t: lang.texts(),
        s,
        organizer: &staff.handle.name,
        slug: &staff.slug,
        nav_items: nav.items(&staff.slug, lang, "report"),
        nav_label: nav.label,
        first_day: chosen.first.to_string(),
        last_day: chosen.last.to_string(),
        volume: euros(r.volume_12_months, lang),
        percent,
        since: date_time(r.volume_since, lang),
        level: r.level.code(),
        warning,
        below: s.below,
        programmes: r
            .programmes
            .iter()
            .map(|p| ProgrammeRow {
                name: p.name.clone(),
                liability: euros(p.liability, lang),
                payable: euros(p.payable, lang),
                payout_clearing: euros(p.payout_clearing, lang),
                expired_value: euros(p.expired_value, lang),
            })
            .collect(),
        chart: day_chart(&days, s),
        days,
        error,
    };
    let status = if page.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut response = html(&page, lang);
    *response.status_mut() = status;
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Two thin bars per day (loaded, redeemed), scaled to the period's largest amount
/// and drawn on the server. `role="img"` with a title and description; the table
/// below is its text alternative. The blue and the dark orange of the club office's
/// chart keep ≥ 4.5:1 against white.
pub fn day_chart(days: &[DayRow], s: &MoneyTexts) -> String {
    const width: i64 = 320;
    const label_w: i64 = 78;
    const bar_h: i64 = 7;
    const row_h: i64 = 2 * bar_h + 6;
    let bars_w = width - label_w;
    let top = days.iter().map(|d| d.loaded_cents.max(d.redeemed_cents)).max().unwrap_or(0).max(1);
    let scale = |cents: i64| (i128::from(cents.max(0)) * i128::from(bars_w) / i128::from(top)) as i64;
    let height = days.len() as i64 * row_h + 22;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-labelledby=\"day-chart-title day-chart-desc\"><title id=\"day-chart-title\">{}</title><desc id=\"day-chart-desc\">{}</desc>",
        escape(s.chart_title),
        escape(s.chart_desc)
    );
    for (i, d) in days.iter().enumerate() {
        let y = i as i64 * row_h;
        svg.push_str(&format!("<text x=\"0\" y=\"{}\" font-size=\"11\" fill=\"#14202b\">{}</text>", y + 12, escape(&d.day)));
        svg.push_str(&format!("<rect class=\"loaded\" x=\"{label_w}\" y=\"{}\" width=\"{}\" height=\"{bar_h}\" fill=\"#0b5394\"/>", y + 2, scale(d.loaded_cents)));
        svg.push_str(&format!("<rect class=\"redeemed\" x=\"{label_w}\" y=\"{}\" width=\"{}\" height=\"{bar_h}\" fill=\"#b45f06\"/>", y + 2 + bar_h, scale(d.redeemed_cents)));
    }
    let legend_y = days.len() as i64 * row_h + 14;
    svg.push_str(&format!(
        "<rect x=\"0\" y=\"{}\" width=\"10\" height=\"10\" fill=\"#0b5394\"/><text x=\"14\" y=\"{legend_y}\" font-size=\"12\" fill=\"#14202b\">{}</text><rect x=\"120\" y=\"{}\" width=\"10\" height=\"10\" fill=\"#b45f06\"/><text x=\"134\" y=\"{legend_y}\" font-size=\"12\" fill=\"#14202b\">{}</text></svg>",
        legend_y - 9,
        escape(s.loaded),
        legend_y - 9,
        escape(s.redeemed)
    ));
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(name: &str, loaded: i64, redeemed: i64) -> DayRow {
        DayRow {
            day: name.into(),
            loaded_cents: loaded,
            loaded: String::new(),
            loads: 0,
            redeemed_cents: redeemed,
            redeemed: String::new(),
            redemptions: 0,
            reversed: String::new(),
            expired: String::new(),
        }
    }

    #[test]
    fn the_day_chart_scales_every_bar_to_the_largest_amount() {
        let svg = day_chart(&[day("1", 10_000, 5_000), day("2", 0, 2_500), day("<3>", 0, 0)], &MONEY_EN);
        // 242 px of bars: the largest is full width, the others in proportion.
        assert!(svg.contains("class=\"loaded\" x=\"78\" y=\"2\" width=\"242\""), "{svg}");
        assert!(svg.contains("class=\"redeemed\" x=\"78\" y=\"9\" width=\"121\""), "{svg}");
        assert!(svg.contains("class=\"redeemed\" x=\"78\" y=\"29\" width=\"60\""), "{svg}");
        assert!(svg.contains("&lt;3&gt;") && !svg.contains("<3>"), "labels are escaped");
        assert_eq!(svg.matches("<rect class=").count(), 6);
    }

    #[test]
    fn an_empty_period_draws_no_bars_and_divides_by_nothing() {
        let svg = day_chart(&[day("1", 0, 0)], &MONEY_DE);
        assert!(svg.contains("width=\"0\""));
    }
}
