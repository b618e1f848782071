//! The holder's pages for buying and loading voucher cards online
//! (docs/DIGITAL-CARDS.md), German and English, phone first, no script:
//!
//! - `/{tenant}/card/buy`: amount (euros, within the programme's load limit), e-mail
//!   and consent; with `?mode=load` a printed card's code, with `?card=` a digital
//!   card's token: a load instead of a new card. The form posts to the same path,
//!   which opens the provider session and sends the holder to the provider's page.
//! - `/{tenant}/card/purchases/{token}`: where the provider returns the holder:
//!   waiting (reloads itself every two seconds), declined (try again), loaded, money
//!   owed back, or — for a new card once paid — on to the card page.
//! - `/{tenant}/card/digital/{token}`: the digital card: its QR code (SVG, drawn on
//!   the server, carrying `CODE~CERTIFICATE` with a certificate signed for this
//!   view), the code in groups, balance, validity, and a form to load it.
//!
//! The purchase token (`Credentials::token_for`) is the only key to a card page.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sturmfest_core::Cents;
use sturmfest_core::ledger::ProgrammeId;
use sturmfest_core::payments::PaymentFailure;
use sturmfest_core::vouchers::{CardState, PurchaseStatus, PurchaseTarget};

use super::format::euros;
use super::i18n::{Lang, Texts};
use super::{html, not_found};
use crate::http::AppState;
use crate::http::extract::PathParams;
use crate::vouchers::digital::valid_until;
use crate::vouchers::online::{self, Want};

/// The pages' own texts.
pub struct CardOnlineTexts {
    pub buy_title: &'static str,
    pub buy_intro: &'static str,
    pub load_title: &'static str,
    pub load_intro: &'static str,
    pub programme: &'static str,
    pub amount: &'static str,
    /// Followed by the range, e.g. "1,00 € – 60,00 €".
    pub amount_hint: &'static str,
    pub email: &'static str,
    pub email_hint: &'static str,
    pub code: &'static str,
    pub consent: &'static str,
    pub pay: &'static str,
    pub amount_invalid: &'static str,
    pub email_invalid: &'static str,
    pub consent_missing: &'static str,
    pub code_invalid: &'static str,
    pub refused: &'static str,
    pub too_many: &'static str,
    pub no_programme: &'static str,
    pub pending_heading: &'static str,
    pub pending_message: &'static str,
    pub declined_heading: &'static str,
    pub cancelled_heading: &'static str,
    pub expired_heading: &'static str,
    pub try_again: &'static str,
    pub loaded_heading: &'static str,
    pub refund_heading: &'static str,
    pub refund_due_message: &'static str,
    pub refunded_message: &'static str,
    pub card_title: &'static str,
    pub card_intro: &'static str,
    pub balance: &'static str,
    pub valid_until: &'static str,
    pub state: &'static str,
    pub active: &'static str,
    pub blocked: &'static str,
    pub expired: &'static str,
    pub qr_label: &'static str,
    pub load_this: &'static str,
    pub to_card: &'static str,
}

static de: CardOnlineTexts = CardOnlineTexts {
    buy_title: "Gutscheinkarte online kaufen",
    buy_intro: "Sie erhalten eine digitale Karte mit QR-Code per E-Mail und auf einer eigenen Seite. Im Geschäft zeigen Sie den QR-Code vor.",
    load_title: "Gutscheinkarte online aufladen",
    load_intro: "Laden Sie Guthaben auf Ihre Karte. Es steht bereit, sobald die Zahlung bestätigt ist.",
    programme: "Gutschein",
    amount: "Betrag in Euro",
    amount_hint: "Möglich sind",
    email: "E-Mail-Adresse",
    email_hint: "Dorthin schicken wir die Karte.",
    code: "Kartencode",
    consent: "Ich stimme den Gutscheinbedingungen zu: Die Karte gilt drei Jahre ab Ende des Kaufjahres und wird nicht bar ausgezahlt.",
    pay: "Weiter zur Zahlung",
    amount_invalid: "Bitte geben Sie einen Betrag im möglichen Bereich ein, z. B. 30,00.",
    email_invalid: "Bitte geben Sie eine gültige E-Mail-Adresse ein.",
    consent_missing: "Bitte stimmen Sie den Gutscheinbedingungen zu.",
    code_invalid: "Diesen Kartencode gibt es nicht. Bitte prüfen Sie die Eingabe.",
    refused: "Diese Karte kann gerade nicht aufgeladen werden (gesperrt, abgelaufen oder das Guthaben wäre zu hoch).",
    too_many: "Zu viele Versuche. Bitte warten Sie einen Moment.",
    no_programme: "Hier werden noch keine Gutscheinkarten verkauft.",
    pending_heading: "Zahlung wird bestätigt …",
    pending_message: "Wir warten auf die Bestätigung des Zahlungsanbieters. Diese Seite aktualisiert sich selbst.",
    declined_heading: "Zahlung abgelehnt",
    cancelled_heading: "Zahlung abgebrochen",
    expired_heading: "Zahlung abgelaufen",
    try_again: "Erneut versuchen",
    loaded_heading: "Guthaben aufgeladen",
    refund_heading: "Aufladung nicht möglich",
    refund_due_message: "Die Karte konnte den Betrag nicht mehr aufnehmen. Der Betrag wird erstattet.",
    refunded_message: "Die Karte konnte den Betrag nicht mehr aufnehmen. Der Betrag wurde erstattet.",
    card_title: "Ihre digitale Gutscheinkarte",
    card_intro: "Zeigen Sie im Geschäft den QR-Code vor. Wer den Code kennt, kann mit der Karte bezahlen: Geben Sie diese Seite nicht weiter.",
    balance: "Guthaben",
    valid_until: "Gültig bis",
    state: "Status",
    active: "aktiv",
    blocked: "gesperrt",
    expired: "abgelaufen",
    qr_label: "QR-Code der Karte",
    load_this: "Diese Karte online aufladen",
    to_card: "Zur Karte",
};

static en: CardOnlineTexts = CardOnlineTexts {
    buy_title: "Buy a voucher card online",
    buy_intro: "You get a digital card with a QR code by e-mail and on a page of its own. Show the QR code in the shop.",
    load_title: "Load a voucher card online",
    load_intro: "Add value to your card. It is there as soon as the payment is confirmed.",
    programme: "Voucher",
    amount: "Amount in euros",
    amount_hint: "Possible:",
    email: "E-mail address",
    email_hint: "We send the card there.",
    code: "Card code",
    consent: "I accept the voucher terms: the card is valid for three years from the end of the year of purchase and is not paid out in cash.",
    pay: "Continue to payment",
    amount_invalid: "Please enter an amount in the possible range, e.g. 30.00.",
    email_invalid: "Please enter a valid e-mail address.",
    consent_missing: "Please accept the voucher terms.",
    code_invalid: "There is no card with this code. Please check what you typed.",
    refused: "This card cannot be loaded now (blocked, expired, or the balance would be too high).",
    too_many: "Too many attempts. Please wait a moment.",
    no_programme: "No voucher cards are sold here yet.",
    pending_heading: "Confirming your payment …",
    pending_message: "We are waiting for the payment provider's confirmation. This page refreshes itself.",
    declined_heading: "Payment declined",
    cancelled_heading: "Payment cancelled",
    expired_heading: "Payment expired",
    try_again: "Try again",
    loaded_heading: "Card loaded",
    refund_heading: "Load not possible",
    refund_due_message: "The card could no longer take the amount. The amount will be refunded.",
    refunded_message: "The card could no longer take the amount. The amount has been refunded.",
    card_title: "Your digital voucher card",
    card_intro: "Show the QR code in the shop. Whoever knows the code can pay with the card: do not share this page.",
    balance: "Balance",
    valid_until: "Valid until",
    state: "State",
    active: "active",
    blocked: "blocked",
    expired: "expired",
    qr_label: "The card's QR code",
    load_this: "Load this card online",
    to_card: "To the card",
};

pub fn texts(lang: Lang) -> &'static CardOnlineTexts {
    match lang {
        Lang::De => &de,
        Lang::En => &en,
    }
}

#[derive(Deserialize, Default)]
pub struct BuyQuery {
    lang: Option<String>,
    /// `load`: a printed card's code is asked for.
    mode: Option<String>,
    /// A digital card's purchase token: load that card.
    card: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct BuyForm {
    #[serde(default)]
    programme: Option<u32>,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    consent: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    card: Option<String>,
}

pub struct ProgrammeChoice {
    pub id: u32,
    pub name: String,
    pub range: String,
}

#[derive(Template)]
#[template(path = "card_buy.html")]
struct BuyPage<'a> {
    lang: Lang,
    t: &'static Texts,
    c: &'static CardOnlineTexts,
    organizer: &'a str,
    slug: &'a str,
    programmes: Vec<ProgrammeChoice>,
    /// Load a printed card by its code.
    with_code: bool,
    /// Load this digital card (its purchase token).
    card: Option<String>,
    amount: String,
    email: String,
    error: Option<&'static str>,
}

async fn programmes(handle: &crate::http::TenantHandle, lang: Lang) -> Vec<ProgrammeChoice> {
    handle
        .shard
        .read(move |t| {
            t.vouchers()
                .programmes()
                .map(|p| ProgrammeChoice {
                    id: p.id.0,
                    name: p.name.clone(),
                    range: format!("{} – {}", euros(Cents(100).min(p.limits.load_cents_max), lang), euros(p.limits.load_cents_max, lang)),
                })
                .collect()
        })
        .await
        .unwrap_or_default()
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn buy_page(State(state): State<AppState>, PathParams(slug): PathParams<String>, Query(query): Query<BuyQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return not_found(lang, &headers) };
    let page = BuyPage {
        lang,
        t: lang.texts(),
        c: texts(lang),
        organizer: &handle.name,
        slug: &slug,
        programmes: programmes(handle, lang).await,
        with_code: query.mode.as_deref() == Some("load") && query.card.is_none(),
        card: query.card.clone(),
        amount: String::new(),
        email: String::new(),
        error: None,
    };
    let error = page.programmes.is_empty().then_some(page.c.no_programme);
    no_store(html(&BuyPage { error, ..page }, lang))
}

pub async fn buy_submit(
    State(state): State<AppState>,
    PathParams(slug): PathParams<String>,
    Query(query): Query<BuyQuery>,
    crate::http::room::ClientIp(ip): crate::http::room::ClientIp,
    headers: HeaderMap,
    Form(form): Form<BuyForm>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return not_found(lang, &headers) };
    let c = texts(lang);
    let choices = programmes(handle, lang).await;
    let with_code = form.code.is_some();
    let again = |error: &'static str, choices: Vec<ProgrammeChoice>| {
        let page = BuyPage {
            lang,
            t: lang.texts(),
            c,
            organizer: &handle.name,
            slug: &slug,
            programmes: choices,
            with_code,
            card: form.card.clone(),
            amount: form.amount.clone(),
            email: form.email.clone(),
            error: Some(error),
        };
        let mut response = html(&page, lang);
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        no_store(response)
    };
    let Some(cents) = crate::web::format::parse_euros(&form.amount).filter(|c| *c > 0) else {
        return again(c.amount_invalid, choices);
    };
    if online::check_email(&form.email).is_err() {
        return again(c.email_invalid, choices);
    }
    if form.consent.is_none() {
        return again(c.consent_missing, choices);
    }
    let code = form.code.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let card = form.card.as_deref().filter(|s| !s.is_empty());
    // A typed code is checked against the balance page's per-address budget.
    if code.is_some() && handle.room.limits.check_ip(ip).is_err() {
        let mut response = again(c.too_many, choices);
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return response;
    }
    let target = if code.is_some() || card.is_some() {
        match crate::http::vouchers_online::load_target(handle, code, card).await {
            Ok((card, programme)) => (Want::Load(card), programme),
            Err(_) => return again(c.code_invalid, choices),
        }
    } else {
        let programme = match (form.programme, choices.as_slice()) {
            (Some(p), _) => ProgrammeId(p),
            (None, [only]) => ProgrammeId(only.id),
            _ => return again(c.no_programme, choices),
        };
        (Want::NewCard, programme)
    };
    match online::begin(handle, &slug, target.1, target.0, Cents(cents), &form.email, lang, None).await {
        Ok(started) => Redirect::to(&started.redirect_url).into_response(),
        Err(problem) if problem.status == StatusCode::UNPROCESSABLE_ENTITY => again(c.amount_invalid, choices),
        Err(problem) if problem.status == StatusCode::CONFLICT => again(c.refused, choices),
        Err(problem) => problem.into_response(),
    }
}

#[derive(Template)]
#[template(path = "card_purchase.html")]
struct PurchasePage<'a> {
    lang: Lang,
    t: &'static Texts,
    c: &'static CardOnlineTexts,
    organizer: &'a str,
    heading: &'static str,
    message: String,
    tone: &'static str,
    refresh: bool,
    retry: Option<String>,
    amount: String,
}

pub async fn purchase_page(
    State(state): State<AppState>,
    PathParams((slug, token)): PathParams<(String, String)>,
    Query(query): Query<BuyQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return not_found(lang, &headers) };
    let Some(purchase) = online::open_token(&handle.credentials, &token) else { return not_found(lang, &headers) };
    let read = handle
        .shard
        .read(move |t| {
            let v = t.vouchers();
            let p = v.purchase(purchase)?;
            let balance = v.balance(t.ledger(), p.target.card());
            Some((p.state.status(), p.target, p.amount, balance))
        })
        .await;
    let Ok(Some((status, target, amount, balance))) = read else { return not_found(lang, &headers) };
    let c = texts(lang);
    let new_card = matches!(target, PurchaseTarget::NewCard { .. });
    if status == PurchaseStatus::Succeeded && new_card {
        return no_store(Redirect::to(&online::card_path(&slug, &handle.credentials, purchase, lang)).into_response());
    }
    let retry = Some(format!("/{slug}/card/buy?lang={}", lang.code()));
    let (heading, message, tone, refresh, retry) = match status {
        PurchaseStatus::Started => (c.pending_heading, c.pending_message.to_string(), "meta", true, None),
        PurchaseStatus::Failed(PaymentFailure::Declined) => (c.declined_heading, String::new(), "notice", false, retry),
        PurchaseStatus::Failed(PaymentFailure::Cancelled) => (c.cancelled_heading, String::new(), "notice", false, retry),
        PurchaseStatus::Failed(PaymentFailure::Expired) => (c.expired_heading, String::new(), "notice", false, retry),
        PurchaseStatus::Succeeded => {
            let now = balance.map(|b| format!("{}: {}", c.balance, euros(b, lang))).unwrap_or_default();
            (c.loaded_heading, now, "ok", false, None)
        }
        PurchaseStatus::RefundDue => (c.refund_heading, c.refund_due_message.to_string(), "notice", false, None),
        PurchaseStatus::Refunded => (c.refund_heading, c.refunded_message.to_string(), "notice", false, None),
    };
    let page = PurchasePage {
        lang,
        t: lang.texts(),
        c,
        organizer: &handle.name,
        heading,
        message,
        tone,
        refresh,
        retry,
        amount: euros(amount, lang),
    };
    no_store(html(&page, lang))
}

#[derive(Template)]
#[template(path = "card_digital.html")]
struct DigitalPage<'a> {
    lang: Lang,
    t: &'static Texts,
    c: &'static CardOnlineTexts,
    organizer: &'a str,
    slug: &'a str,
    token: &'a str,
    qr_svg: String,
    qr_text: String,
    code: String,
    balance: String,
    valid_until: String,
    state: &'static str,
    loadable: bool,
    email: String,
    /// The programme's name, accent (`#rrggbb`) and tagline, on the card's band.
    programme: String,
    accent: String,
    tagline: String,
}

pub async fn digital_page(
    State(state): State<AppState>,
    PathParams((slug, token)): PathParams<(String, String)>,
    Query(query): Query<BuyQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return not_found(lang, &headers) };
    let Some(purchase) = online::open_token(&handle.credentials, &token) else { return not_found(lang, &headers) };
    let Some(view) = online::purchased_card(handle, purchase).await else {
        // Not paid (yet): the purchase's own page says how it stands.
        let known = handle.shard.read(move |t| t.vouchers().purchase(purchase).is_some()).await.unwrap_or(false);
        if known {
            return no_store(Redirect::to(&online::return_path(&slug, &handle.credentials, purchase, lang)).into_response());
        }
        return not_found(lang, &headers);
    };
    let email = handle.shard.read(move |t| t.vouchers().purchase(purchase).map(|p| p.email.clone())).await.ok().flatten().unwrap_or_default();
    let c = texts(lang);
    let (state_text, loadable, balance) = match view.state {
        CardState::Active | CardState::Inactive => (c.active, true, view.balance),
        CardState::Blocked(_) => (c.blocked, false, view.balance),
        CardState::Expired => (c.expired, false, Cents::ZERO),
    };
    let page = DigitalPage {
        lang,
        t: lang.texts(),
        c,
        organizer: &handle.name,
        slug: &slug,
        token: &token,
        qr_svg: crate::tickets::qr_svg(&view.qr),
        programme: view.programme_name.clone(),
        accent: crate::vouchers::design::accent_text(view.design.accent_rgb),
        tagline: view.design.tagline.clone(),
        qr_text: view.qr.clone(),
        code: view.code.clone(),
        balance: euros(balance, lang),
        valid_until: view.expires_at.map(|at| valid_until(at, lang)).unwrap_or_default(),
        state: state_text,
        loadable,
        email,
    };
    let mut response = no_store(html(&page, lang));
    // The page carries a bearer secret: keep it out of referrers and shared caches.
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
