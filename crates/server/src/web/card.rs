//! The card holder's balance page, `/{tenant}/card`: type the code printed on the
//! card (or shown on the digital card), see its balance in euros, its state and the
//! day it expires. The code travels in a POST body, never in a URL, and each look-up
//! counts against the same per-address budget as the balance API and waiting-room
//! joins, so guessing codes through the page is no cheaper than through the API.
//! No PIN is asked: a read cannot record failed attempts (see `http/vouchers.rs`).

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sturmfest_core::vouchers::CardState;
use sturmfest_core::{Cents, TimeMs};

use super::format::euros;
use super::i18n::{Lang, Texts};
use super::{LangQuery, html, not_found};
use crate::http::AppState;
use crate::http::extract::PathParams;
use crate::http::room::ClientIp;

/// The page's own texts, German and English.
pub struct CardTexts {
    pub title: &'static str,
    pub intro: &'static str,
    pub code_label: &'static str,
    pub code_hint: &'static str,
    pub check: &'static str,
    pub balance: &'static str,
    pub state: &'static str,
    pub expires: &'static str,
    pub not_sold: &'static str,
    pub active: &'static str,
    pub inactive: &'static str,
    pub blocked: &'static str,
    pub expired: &'static str,
    pub code_invalid: &'static str,
    pub unknown: &'static str,
    pub too_many: &'static str,
    /// Links to `web/card_online.rs`.
    pub load_online: &'static str,
    pub buy_online: &'static str,
}

static card_de: CardTexts = CardTexts {
    title: "Gutscheinkarte prüfen",
    intro: "Geben Sie den Code von Ihrer Karte ein, um Guthaben und Gültigkeit zu sehen.",
    code_label: "Kartencode",
    code_hint: "20 Zeichen, Bindestriche und Leerzeichen sind egal",
    check: "Guthaben anzeigen",
    balance: "Guthaben",
    state: "Status",
    expires: "Gültig bis",
    not_sold: "noch nicht verkauft",
    active: "aktiv",
    inactive: "nicht aktiviert",
    blocked: "gesperrt",
    expired: "abgelaufen",
    code_invalid: "Dieser Code ist nicht gültig. Bitte prüfen Sie die Eingabe.",
    unknown: "Zu diesem Code gibt es keine Karte.",
    too_many: "Zu viele Abfragen. Bitte warten Sie einen Moment.",
    load_online: "Diese Karte online aufladen",
    buy_online: "Neue Karte online kaufen",
};

static card_en: CardTexts = CardTexts {
    title: "Check a voucher card",
    intro: "Enter the code from your card to see its balance and validity.",
    code_label: "Card code",
    code_hint: "20 characters; dashes and spaces do not matter",
    check: "Show balance",
    balance: "Balance",
    state: "State",
    expires: "Valid until",
    not_sold: "not sold yet",
    active: "active",
    inactive: "not activated",
    blocked: "blocked",
    expired: "expired",
    code_invalid: "This code is not valid. Please check what you typed.",
    unknown: "There is no card with this code.",
    too_many: "Too many look-ups. Please wait a moment.",
    load_online: "Load this card online",
    buy_online: "Buy a new card online",
};

fn texts(lang: Lang) -> &'static CardTexts {
    match lang {
        Lang::De => &card_de,
        Lang::En => &card_en,
    }
}

/// A found card as the page shows it.
pub struct Found {
    pub balance: String,
    pub state: &'static str,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "card.html")]
struct CardPage<'a> {
    lang: Lang,
    t: &'static Texts,
    c: &'static CardTexts,
    organizer: &'a str,
    slug: &'a str,
    found: Option<Found>,
    error: Option<&'static str>,
}

/// The day a card expires, as the holder reads it: the last valid day in Berlin (a
/// card expiring at 1 January 00:00 is valid until 31 December).
pub(crate) fn last_valid_day(expires_at: TimeMs, lang: Lang) -> String {
    let zone = jiff::tz::TimeZone::get(crate::vouchers::programme_time_zone).expect("Europe/Berlin is bundled");
    let Ok(t) = jiff::Timestamp::from_millisecond(expires_at.0 - 1) else { return String::new() };
    let day = t.to_zoned(zone).date();
    match lang {
        Lang::De => day.strftime("%d.%m.%Y").to_string(),
        Lang::En => day.strftime("%-d %B %Y").to_string(),
    }
}

pub async fn card_page(State(state): State<AppState>, PathParams(slug): PathParams<String>, Query(query): Query<LangQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return not_found(lang, &headers) };
    let page = CardPage { lang, t: lang.texts(), c: texts(lang), organizer: &handle.name, slug: &slug, found: None, error: None };
    html(&page, lang)
}

#[derive(Deserialize, Default)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn card_submit(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    Query(query): Query<LangQuery>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return not_found(lang, &headers) };
    let c = texts(lang);
    let page = |found, error| CardPage { lang, t: lang.texts(), c, organizer: &handle.name, slug: &slug, found, error };
    if let Err(wait) = handle.room.limits.check_ip(ip) {
        let mut response = html(&page(None, Some(c.too_many)), lang);
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.secs()));
        return response;
    }
    match crate::http::vouchers::holder_lookup(handle, &form.code).await {
        Ok((card_state, balance, expires_at)) => {
            let state_text = match card_state {
                CardState::Active => c.active,
                CardState::Inactive => c.inactive,
                CardState::Blocked(_) => c.blocked,
                CardState::Expired => c.expired,
            };
            let shown = if matches!(card_state, CardState::Expired) { Cents::ZERO } else { balance };
            let found = Found {
                balance: euros(shown, lang),
                state: state_text,
                expires: expires_at.map_or_else(|| c.not_sold.to_string(), |e| last_valid_day(e, lang)),
            };
            html(&page(Some(found), None), lang)
        }
        Err(problem) => {
            let (status, text) = if problem.code == "unknown_card" {
                (StatusCode::NOT_FOUND, c.unknown)
            } else if problem.status == StatusCode::TOO_MANY_REQUESTS || problem.status == StatusCode::SERVICE_UNAVAILABLE {
                return problem.into_response();
            } else {
                (StatusCode::UNPROCESSABLE_ENTITY, c.code_invalid)
            };
            let mut response = html(&page(None, Some(text)), lang);
            *response.status_mut() = status;
            response
        }
    }
}
