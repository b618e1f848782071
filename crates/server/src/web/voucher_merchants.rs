//! The voucher office's merchant pages (roles voucher_office and admin): the
//! merchants with their masked IBANs, programmes and tills; onboarding a merchant,
//! accepting it in a further programme, a till's one-time pairing code, revoking a
//! till and binding a merchant staff account; and per programme the offline policy
//! with the worst-case loss it allows, the allowances open now and the risk entries
//! booked so far.
//!
//! Like the club office (`web/office.rs`) every page is server-rendered and works
//! without script; a form is checked for session, CSRF token and role, in that
//! order, and answers with a redirect. The one exception is the pairing code: it is
//! shown once in the answer to its POST, because it enrols a till and must not sit
//! in a URL or in the browser's history. Each action is one call of the helper the
//! JSON API uses (`http/vouchers.rs`, `http/vouchers_device.rs`,
//! `http/vouchers_settle.rs`), so the pages add no rule of their own.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sturmfest_core as core;
use sturmfest_core::ledger::{DeviceId, ProgrammeId};
use sturmfest_core::staff::{Role, StaffAccountId};
use sturmfest_core::vouchers::{MerchantId, OfflinePolicy};
use sturmfest_core::{Cents, TimeMs};

use super::format::{date_time, euros};
use super::i18n::{Lang, Texts};
use super::voucher_nav::VoucherNav;
use super::{html, not_found};
use crate::http::problem::Problem;
use crate::staff::StaffSession;

/// The most a euro field of these pages takes: EUR 10 million, above every limit the
/// core accepts (`offline_allowance_cents_limit` is EUR 100,000).
pub const form_euros_cents_max: i64 = 1_000_000_000;
const _: () = assert!(core::vouchers::limits::offline_allowance_cents_limit <= form_euros_cents_max);

pub struct MerchantTexts {
    pub merchants: &'static str,
    pub no_merchants: &'static str,
    pub onboard: &'static str,
    pub name: &'static str,
    pub iban: &'static str,
    pub iban_hint: &'static str,
    pub create: &'static str,
    pub programmes: &'static str,
    pub no_programmes: &'static str,
    pub accept_in: &'static str,
    pub accept: &'static str,
    pub devices: &'static str,
    pub no_devices: &'static str,
    pub device: &'static str,
    pub registered: &'static str,
    pub revoked: &'static str,
    pub active: &'static str,
    pub revoke: &'static str,
    pub pairing: &'static str,
    pub pairing_new: &'static str,
    pub pairing_for: &'static str,
    pub pairing_hint: &'static str,
    pub valid_until: &'static str,
    pub staff_account: &'static str,
    pub bind: &'static str,
    pub bound_to: &'static str,
    pub no_merchant_accounts: &'static str,
    pub done: &'static str,
    pub offline_title: &'static str,
    pub programme: &'static str,
    pub choose: &'static str,
    pub worst_case: &'static str,
    pub worst_case_means: &'static str,
    pub not_configured: &'static str,
    pub open_now: &'static str,
    pub devices_bound: &'static str,
    pub devices_bound_hint: &'static str,
    pub lost: &'static str,
    pub policy: &'static str,
    pub device_max: &'static str,
    pub open_max: &'static str,
    pub card_cap: &'static str,
    pub lifetime: &'static str,
    pub lifetime_text: &'static str,
    pub change: &'static str,
    pub save: &'static str,
    pub euro_hint: &'static str,
    pub allowances: &'static str,
    pub no_allowances: &'static str,
    pub merchant: &'static str,
    pub amount: &'static str,
    pub expires: &'static str,
    pub risk_entries: &'static str,
    pub no_risk: &'static str,
    pub time: &'static str,
    pub card: &'static str,
    pub error_iban: &'static str,
    pub error_name: &'static str,
    pub error_amount: &'static str,
    pub error_limits: &'static str,
    pub error_other: &'static str,
}

pub static MERCHANT_DE: MerchantTexts = MerchantTexts {
    merchants: "Händler",
    no_merchants: "Noch keine Händler.",
    onboard: "Händler aufnehmen",
    name: "Name",
    iban: "IBAN",
    iban_hint: "Für die Auszahlung; wird mit Prüfziffer geprüft.",
    create: "Aufnehmen",
    programmes: "Programme",
    no_programmes: "in keinem Programm",
    accept_in: "In weiteres Programm aufnehmen",
    accept: "Aufnehmen",
    devices: "Kassengeräte",
    no_devices: "Keine Geräte.",
    device: "Gerät",
    registered: "angemeldet",
    revoked: "gesperrt",
    active: "aktiv",
    revoke: "Gerät sperren",
    pairing: "Kopplungscode",
    pairing_new: "Kopplungscode für neues Gerät",
    pairing_for: "Kopplungscode für",
    pairing_hint: "Auf dem neuen Kassengerät eingeben. Der Code meldet genau ein Gerät an.",
    valid_until: "gültig bis",
    staff_account: "Mitarbeiterkonto (Rolle Händler)",
    bind: "Konto verbinden",
    bound_to: "Verbundene Konten",
    no_merchant_accounts: "Keine Konten mit der Rolle Händler.",
    done: "Erledigt.",
    offline_title: "Offline & Risiko",
    programme: "Programm",
    choose: "Anzeigen",
    worst_case: "Größtmöglicher Verlust",
    worst_case_means: "So viel könnten die Kassen dieses Programms offline höchstens mehr einlösen, als die Karten decken: die Obergrenze aller offenen Offline-Kontingente zusammen.",
    not_configured: "Offline-Einlösung ist für dieses Programm nicht eingerichtet: Geräte erhalten kein Kontingent, der Verlust ist 0.",
    open_now: "Jetzt offen",
    devices_bound: "Geräte × Höchstbetrag je Gerät",
    devices_bound_hint: "aktive Geräte der Händler im Programm",
    lost: "Bisher gebuchte Risikobeträge",
    policy: "Regeln",
    device_max: "Höchstbetrag je Gerät",
    open_max: "Höchstbetrag aller offenen Kontingente",
    card_cap: "Offline-Grenze je Karte",
    lifetime: "Laufzeit eines Kontingents",
    lifetime_text: "1 Minute bis 3 Tage (wählt das Gerät), danach 2 Tage zum Abgleich",
    change: "Regeln ändern",
    save: "Speichern",
    euro_hint: "in Euro, z. B. 500,00",
    allowances: "Offene Kontingente",
    no_allowances: "Keine offenen Kontingente.",
    merchant: "Händler",
    amount: "Betrag",
    expires: "endet",
    risk_entries: "Risikobuchungen",
    no_risk: "Noch keine Risikobuchungen.",
    time: "Zeit",
    card: "Karte",
    error_iban: "Die IBAN ist nicht gültig (Länge oder Prüfziffer). Es wurde nichts angelegt.",
    error_name: "Bitte einen Namen angeben (höchstens 200 Zeichen).",
    error_amount: "Bitte Beträge in Euro angeben, z. B. 500,00.",
    error_limits: "Die Beträge passen nicht: je Gerät höchstens so viel wie alle zusammen, jeweils bis 100.000,00 €.",
    error_other: "Das ging nicht.",
};

pub static MERCHANT_EN: MerchantTexts = MerchantTexts {
    merchants: "Merchants",
    no_merchants: "No merchants yet.",
    onboard: "Onboard a merchant",
    name: "Name",
    iban: "IBAN",
    iban_hint: "For payouts; its check digits are checked.",
    create: "Onboard",
    programmes: "Programmes",
    no_programmes: "in no programme",
    accept_in: "Accept in a further programme",
    accept: "Accept",
    devices: "Till devices",
    no_devices: "No devices.",
    device: "Device",
    registered: "registered",
    revoked: "revoked",
    active: "active",
    revoke: "Revoke device",
    pairing: "Pairing code",
    pairing_new: "Pairing code for a new device",
    pairing_for: "Pairing code for",
    pairing_hint: "Type it on the new till. The code enrols exactly one device.",
    valid_until: "valid until",
    staff_account: "Staff account (merchant role)",
    bind: "Bind account",
    bound_to: "Bound accounts",
    no_merchant_accounts: "No accounts with the merchant role.",
    done: "Done.",
    offline_title: "Offline & risk",
    programme: "Programme",
    choose: "Show",
    worst_case: "Worst-case loss",
    worst_case_means: "This is the most this programme's tills can redeem offline beyond what the cards cover: the cap on all open offline allowances together.",
    not_configured: "Offline redemption is not set up for this programme: devices get no allowance, the loss is 0.",
    open_now: "Open now",
    devices_bound: "Devices × maximum per device",
    devices_bound_hint: "active devices of the programme's merchants",
    lost: "Risk booked so far",
    policy: "Policy",
    device_max: "Maximum per device",
    open_max: "Maximum of all open allowances",
    card_cap: "Offline cap per card",
    lifetime: "Allowance lifetime",
    lifetime_text: "1 minute to 3 days (the device chooses), then 2 days to sync",
    change: "Change the policy",
    save: "Save",
    euro_hint: "in euros, e.g. 500.00",
    allowances: "Open allowances",
    no_allowances: "No open allowances.",
    merchant: "Merchant",
    amount: "Amount",
    expires: "ends",
    risk_entries: "Risk entries",
    no_risk: "No risk entries yet.",
    time: "Time",
    card: "Card",
    error_iban: "The IBAN is not valid (length or check digits). Nothing was created.",
    error_name: "Please give a name (at most 200 characters).",
    error_amount: "Please give amounts in euros, e.g. 500.00.",
    error_limits: "The amounts do not fit: per device at most the total, each up to €100,000.00.",
    error_other: "That did not work.",
};

pub fn merchant_texts(lang: Lang) -> &'static MerchantTexts {
    match lang {
        Lang::De => &MERCHANT_DE,
        Lang::En => &MERCHANT_EN,
    }
}

/// A refusal as the page says it: known codes in the page's language, others with
/// the API's detail so nothing is hidden.
pub fn error_text(problem: &Problem, m: &MerchantTexts) -> String {
    match problem.code {
        "iban_invalid" => m.error_iban.to_string(),
        "name_invalid" => m.error_name.to_string(),
        "limits_invalid" => m.error_limits.to_string(),
        _ => format!("{} ({}: {})", m.error_other, problem.code, problem.detail),
    }
}

#[derive(Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
    done: Option<String>,
    programme: Option<u32>,
}

fn see_other(to: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

/// Session (by the extractor), then role: these pages are the voucher office's.
pub fn gate(staff: &StaffSession, headers: &HeaderMap) -> Result<(), Response> {
    staff.require(Role::VoucherOffice).map_err(|d| d.respond(&staff.slug, headers))
}

/// For forms: CSRF first, then the role.
pub fn gate_form(staff: &StaffSession, headers: &HeaderMap, csrf: &str) -> Result<(), Response> {
    staff.gate_form(headers, csrf, Role::VoucherOffice)
}

/// `DE•• •••• •••• •••• ••30 00` style is long on a phone: the country, then only
/// the last four characters, which is what a clerk compares with a letter.
pub fn masked_iban(iban: &str) -> String {
    let chars: Vec<char> = iban.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.len() < 6 {
        return "••••".into();
    }
    let country: String = chars[..2].iter().collect();
    let last: String = chars[chars.len() - 4..].iter().collect();
    format!("{country}•• •••• {last}")
}

/// Euros as typed (`format::parse_euros`), at most `form_euros_cents_max`.
pub fn parse_form_euros(text: &str) -> Option<Cents> {
    super::format::parse_euros(text).filter(|&cents| cents <= form_euros_cents_max).map(Cents)
}

/// A programme for the selectors.
pub struct ProgrammeOption {
    pub id: u32,
    pub name: String,
}

// ----- merchants -----

pub struct DeviceRow {
    pub id: u64,
    pub registered: String,
    pub revoked: Option<String>,
}

pub struct MerchantRow {
    pub id: u32,
    pub name: String,
    pub iban: String,
    pub programmes: Vec<String>,
    /// Programmes it is not yet accepted in: the accept form's choices.
    pub other_programmes: Vec<ProgrammeOption>,
    pub devices: Vec<DeviceRow>,
    /// Logins of the staff accounts bound to it.
    pub accounts: Vec<String>,
}

/// A freshly made pairing code, shown once.
pub struct Pairing {
    pub merchant: String,
    pub code: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "voucher_merchants.html")]
struct MerchantsPage<'a> {
    lang: Lang,
    t: &'static Texts,
    m: &'static MerchantTexts,
    organizer: &'a str,
    slug: &'a str,
    nav_items: Vec<(String, &'static str, bool)>,
    nav_label: &'static str,
    csrf: String,
    merchants: Vec<MerchantRow>,
    /// (id, login) of enabled accounts with the merchant role.
    merchant_accounts: Vec<(u32, String)>,
    pairing: Option<Pairing>,
    done: bool,
    error: Option<String>,
    /// The onboarding form's one-time key: a double submit onboards once.
    form_key: String,
    /// The onboarding form's values after a refusal, so nothing typed is lost.
    typed_name: String,
    typed_iban: String,
}

struct MerchantsView {
    error: Option<String>,
    pairing: Option<Pairing>,
    typed: (String, String),
    done: bool,
}

pub async fn merchants_page(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    let view = MerchantsView { error: None, pairing: None, typed: Default::default(), done: query.done.is_some() };
    render_merchants(&staff, lang, view).await
}

async fn render_merchants(staff: &StaffSession, lang: Lang, view: MerchantsView) -> Response {
    let read = staff
        .handle
        .shard
        .read(move |t| {
            let v = t.vouchers();
            let merchants = v
                .merchants()
                .map(|m| MerchantRow {
                    id: m.id.0,
                    name: m.name.clone(),
                    iban: masked_iban(&m.iban),
                    programmes: m.programmes.iter().filter_map(|p| v.programme(*p)).map(|p| p.name.clone()).collect(),
                    other_programmes: v
                        .programmes()
                        .filter(|p| !m.programmes.contains(&p.id))
                        .map(|p| ProgrammeOption { id: p.id.0, name: p.name.clone() })
                        .collect(),
                    devices: v
                        .devices()
                        .filter(|d| d.merchant == m.id)
                        .map(|d| DeviceRow { id: d.id.0, registered: date_time(d.registered_at, lang), revoked: d.revoked_at.map(|at| date_time(at, lang)) })
                        .collect(),
                    accounts: t.staff().accounts().iter().filter(|a| a.merchant == Some(m.id)).map(|a| a.login.as_str().to_string()).collect(),
                })
                .collect::<Vec<_>>();
            let accounts = t
                .staff()
                .accounts()
                .iter()
                .filter(|a| a.is_enabled() && a.roles.contains(Role::Merchant))
                .map(|a| (a.id.0, a.login.as_str().to_string()))
                .collect::<Vec<_>>();
            (merchants, accounts)
        })
        .await;
    let (mut merchants, merchant_accounts) = match read {
        Ok(read) => read,
        Err(e) => return Problem::from(e).into_response(),
    };
    merchants.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.id.cmp(&b.id)));
    let nav = VoucherNav::of(lang);
    let status = if view.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = MerchantsPage {
        lang,
        t: lang.texts(),
        m: merchant_texts(lang),
        organizer: &staff.handle.name,
        slug: &staff.slug,
        nav_items: nav.items(&staff.slug, lang, "merchants"),
        nav_label: nav.label,
        csrf: staff.csrf_token(),
        merchants,
        merchant_accounts,
        pairing: view.pairing,
        done: view.done,
        error: view.error,
        form_key: format!("{:032x}", rand::random::<u128>()),
        typed_name: view.typed.0,
        typed_iban: view.typed.1,
    };
    with_status(html(&page, lang), status)
}

/// After a refusal: the page again with the reason, at the problem's status.
async fn refused(staff: &StaffSession, lang: Lang, problem: Problem, typed: (String, String)) -> Response {
    let status = problem.status;
    let view = MerchantsView { error: Some(error_text(&problem, merchant_texts(lang))), pairing: None, typed, done: false };
    with_status(render_merchants(staff, lang, view).await, status)
}

fn back_to_merchants(staff: &StaffSession, lang: Lang) -> Response {
    see_other(format!("/{}/vouchers/merchants?lang={}&done=1", staff.slug, lang.code()))
}

#[derive(Deserialize, Default)]
pub struct OnboardForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    iban: String,
    #[serde(default)]
    form_key: String,
}

pub async fn onboard_submit(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap, Form(form): Form<OnboardForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    // The form's key makes a second submit of the same form (a double click, a
    // reload) answer the first onboarding instead of creating the merchant twice.
    let idempotency = (!form.form_key.is_empty() && form.form_key.len() <= 64).then(|| {
        let key = crate::http::extract::IdempotencyKey(format!("page-onboard-{}", form.form_key));
        let typed = format!("{}\0{}", form.name.trim(), form.iban);
        crate::http::handlers::idem(&format!("staff:{}", staff.account.0), &key, crate::http::extract::fingerprint("POST", "/vouchers/merchants", typed.as_bytes()))
    });
    match crate::http::vouchers::onboard_merchant(&staff.handle, idempotency.flatten(), &form.name, &form.iban).await {
        Ok(_) => back_to_merchants(&staff, lang),
        Err(problem) => refused(&staff, lang, problem, (form.name, form.iban)).await,
    }
}

#[derive(Deserialize, Default)]
pub struct AcceptForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    programme: u32,
}

pub async fn accept_submit(
    staff: StaffSession,
    crate::http::extract::PathParams((_slug, merchant)): crate::http::extract::PathParams<(String, u32)>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
    Form(form): Form<AcceptForm>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    match crate::http::vouchers::accept_in(&staff.handle, None, MerchantId(merchant), ProgrammeId(form.programme)).await {
        Ok(_) => back_to_merchants(&staff, lang),
        Err(problem) => refused(&staff, lang, problem, Default::default()).await,
    }
}

#[derive(Deserialize, Default)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Shows the new code at once (see the module doc); a reload asks to resend the form
/// and simply makes another code, the first one stays good until it expires.
pub async fn pairing_submit(
    staff: StaffSession,
    crate::http::extract::PathParams((_slug, merchant)): crate::http::extract::PathParams<(String, u32)>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    let merchant = MerchantId(merchant);
    match crate::http::vouchers_device::pairing_code(&staff.handle, merchant).await {
        Ok((code, expires_at)) => {
            let name = staff.handle.shard.read(move |t| t.vouchers().merchant(merchant).map(|m| m.name.clone())).await.ok().flatten().unwrap_or_default();
            let pairing = Pairing { merchant: name, code, expires: date_time(TimeMs(expires_at), lang) };
            let mut response = render_merchants(&staff, lang, MerchantsView { error: None, pairing: Some(pairing), typed: Default::default(), done: false }).await;
            // A one-time enrolment secret: no cache may keep the page.
            response.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
            response
        }
        Err(problem) => refused(&staff, lang, problem, Default::default()).await,
    }
}

pub async fn revoke_submit(
    staff: StaffSession,
    crate::http::extract::PathParams((_slug, device)): crate::http::extract::PathParams<(String, u64)>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    match crate::http::vouchers_device::revoke_device(&staff.handle, DeviceId(device)).await {
        Ok(_) => back_to_merchants(&staff, lang),
        Err(problem) => refused(&staff, lang, problem, Default::default()).await,
    }
}

#[derive(Deserialize, Default)]
pub struct BindForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account: u32,
}

pub async fn bind_submit(
    staff: StaffSession,
    crate::http::extract::PathParams((_slug, merchant)): crate::http::extract::PathParams<(String, u32)>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
    Form(form): Form<BindForm>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    match crate::http::vouchers_settle::bind(&staff.handle, None, StaffAccountId(form.account), Some(MerchantId(merchant))).await {
        Ok(_) => back_to_merchants(&staff, lang),
        Err(problem) => refused(&staff, lang, problem, Default::default()).await,
    }
}

// ----- offline and risk -----

pub struct AllowanceRow {
    pub device: u64,
    pub merchant: String,
    pub amount: String,
    pub expires: String,
}

pub struct RiskRow {
    pub at: String,
    pub device: u64,
    pub card: u64,
    pub amount: String,
}

/// One programme's offline figures, all in the page's language.
pub struct Risk {
    pub programme: ProgrammeOption,
    pub card_cap: String,
    /// `None`: offline is not configured for the programme.
    pub policy: Option<RiskPolicy>,
    pub allowances: Vec<AllowanceRow>,
    pub entries: Vec<RiskRow>,
}

pub struct RiskPolicy {
    pub worst_case: String,
    pub open_now: String,
    pub open_count: usize,
    pub devices: usize,
    pub devices_bound: String,
    pub lost: String,
    pub device_max: String,
    pub open_max: String,
    /// The form's current values, as typed (`500,00` / `500.00`).
    pub device_max_input: String,
    pub open_max_input: String,
}

#[derive(Template)]
#[template(path = "voucher_offline.html")]
struct OfflinePage<'a> {
    lang: Lang,
    t: &'static Texts,
    m: &'static MerchantTexts,
    organizer: &'a str,
    slug: &'a str,
    nav_items: Vec<(String, &'static str, bool)>,
    nav_label: &'static str,
    csrf: String,
    programmes: Vec<ProgrammeOption>,
    risk: Option<Risk>,
    done: bool,
    error: Option<String>,
}

fn input_euros(c: Cents, lang: Lang) -> String {
    match lang {
        Lang::De => format!("{},{:02}", c.0 / 100, c.0 % 100),
        Lang::En => format!("{}.{:02}", c.0 / 100, c.0 % 100),
    }
}

/// What the page shows of a programme, read in one go from the tenant.
fn risk_of(t: &core::Tenant, programme: ProgrammeId, lang: Lang) -> Option<Risk> {
    let v = t.vouchers();
    let p = v.programme(programme)?;
    let merchant_name = |id: MerchantId| v.merchant(id).map(|m| m.name.clone()).unwrap_or_default();
    let policy = v.offline_policy(programme).zip(v.offline_exposure(t.ledger(), programme)).map(|(policy, exposure)| {
        let accepted = v.merchants_in(programme);
        let devices = v.devices().filter(|d| d.revoked_at.is_none() && accepted.contains(&d.merchant)).count();
        let devices_bound = Cents(policy.device_allowance_cents_max.0.saturating_mul(devices as i64));
        RiskPolicy {
            worst_case: euros(exposure.bound, lang),
            open_now: euros(exposure.open, lang),
            open_count: v.open_allowances(t.ledger()).filter(|a| a.programme == programme).count(),
            devices,
            devices_bound: euros(devices_bound, lang),
            lost: euros(exposure.lost, lang),
            device_max: euros(policy.device_allowance_cents_max, lang),
            open_max: euros(policy.open_allowances_cents_max, lang),
            device_max_input: input_euros(policy.device_allowance_cents_max, lang),
            open_max_input: input_euros(policy.open_allowances_cents_max, lang),
        }
    });
    let allowances = v
        .open_allowances(t.ledger())
        .filter(|a| a.programme == programme)
        .map(|a| AllowanceRow { device: a.device.0, merchant: merchant_name(a.merchant), amount: euros(a.amount, lang), expires: date_time(a.expires_at, lang) })
        .collect();
    let entries = v
        .risk_entries()
        .iter()
        .filter(|r| r.programme == programme)
        .map(|r| RiskRow { at: date_time(r.at, lang), device: r.device.0, card: r.card.0, amount: euros(r.amount, lang) })
        .collect();
    Some(Risk {
        programme: ProgrammeOption { id: p.id.0, name: p.name.clone() },
        card_cap: euros(p.limits.card_offline_cents_max, lang),
        policy,
        allowances,
        entries,
    })
}

pub async fn offline_page(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    render_offline(&staff, lang, query.programme, query.done.is_some(), None, &headers).await
}

async fn render_offline(staff: &StaffSession, lang: Lang, programme: Option<u32>, done: bool, error: Option<String>, headers: &HeaderMap) -> Response {
    let read = staff
        .handle
        .shard
        .read(move |t| {
            let programmes: Vec<ProgrammeOption> = t.vouchers().programmes().map(|p| ProgrammeOption { id: p.id.0, name: p.name.clone() }).collect();
            // Without a choice the first programme is shown: most cities run one.
            let chosen = programme.or(programmes.first().map(|p| p.id));
            let risk = chosen.map(|id| risk_of(t, ProgrammeId(id), lang));
            (programmes, risk)
        })
        .await;
    let (programmes, risk) = match read {
        Ok(read) => read,
        Err(e) => return Problem::from(e).into_response(),
    };
    let risk = match risk {
        Some(None) => return not_found(lang, headers),
        Some(Some(risk)) => Some(risk),
        None => None,
    };
    let nav = VoucherNav::of(lang);
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = OfflinePage {
        lang,
        t: lang.texts(),
        m: merchant_texts(lang),
        organizer: &staff.handle.name,
        slug: &staff.slug,
        nav_items: nav.items(&staff.slug, lang, "offline"),
        nav_label: nav.label,
        csrf: staff.csrf_token(),
        programmes,
        risk,
        done,
        error,
    };
    with_status(html(&page, lang), status)
}

#[derive(Deserialize, Default)]
pub struct PolicyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    device_max: String,
    #[serde(default)]
    open_max: String,
}

pub async fn policy_submit(
    staff: StaffSession,
    crate::http::extract::PathParams((_slug, programme)): crate::http::extract::PathParams<(String, u32)>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
    Form(form): Form<PolicyForm>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    let m = merchant_texts(lang);
    let (Some(device), Some(open)) = (parse_form_euros(&form.device_max), parse_form_euros(&form.open_max)) else {
        return render_offline(&staff, lang, Some(programme), false, Some(m.error_amount.to_string()), &headers).await;
    };
    let policy = OfflinePolicy { device_allowance_cents_max: device, open_allowances_cents_max: open };
    match crate::http::vouchers_device::configure_policy(&staff.handle, ProgrammeId(programme), policy).await {
        Ok(()) => see_other(format!("/{}/vouchers/offline?lang={}&programme={programme}&done=1", staff.slug, lang.code())),
        Err(problem) => {
            let status = problem.status;
            with_status(render_offline(&staff, lang, Some(programme), false, Some(error_text(&problem, m)), &headers).await, status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_euros_read_both_ways_of_writing() {
        let check = |text: &str, expect: Option<i64>| assert_eq!(parse_form_euros(text).map(|c| c.0), expect, "{text:?}");
        check("500", Some(50_000));
        check("500,5", Some(50_050));
        // The same reading as every other form (`format::parse_euros`).
        check("1.234,56", Some(123_456));
        check("1234.56", Some(123_456));
        check("12,345", None);
        check("-5", None);
        check("", None);
        check("10000000,01", None);
    }

    #[test]
    fn an_iban_shows_its_country_and_last_four_only() {
        assert_eq!(masked_iban("DE89370400440532013000"), "DE•• •••• 3000");
        assert_eq!(masked_iban("DE89"), "••••");
    }
}
