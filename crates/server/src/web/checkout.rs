//! The checkout's pages: the test provider's hosted page (`/pay/test/{tenant}/
//! {session}`, Pay / Decline / Cancel plus the test switches for a duplicate or a
//! late webhook) and the confirmation page a payment returns to
//! (`/{tenant}/payments/{payment}`): the order with its places, total and time once
//! paid; "waiting for the provider" (it reloads itself every two seconds, no script)
//! while started; and after a decline or cancel how long the places stay held, with
//! a button that starts a new payment for the same hold. Own texts (`CheckoutTexts`).

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sturmfest_core as core;
use sturmfest_core::payments::{PaymentFailure, PaymentState, ProviderKind};

use super::format::{date_time, euros};
use super::i18n::{Lang, Texts};
use super::{LangQuery, html};
use crate::http::AppState;
use crate::http::extract::PathParams;
use crate::http::payments::{Delivery, Pressed, begin_payment, press, redeliver, return_url};
use crate::payments::test_provider::Action;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pay/test/{tenant}/{session}", get(provider_page).post(provider_submit))
        .route("/pay/test/{tenant}/{session}/deliver", post(deliver_held))
        .route("/{tenant}/payments/{payment}", get(confirmation_page))
        .route("/{tenant}/payments/{payment}/retry", post(retry))
        .route("/{tenant}/orders/{order}/tickets.pdf", get(tickets_pdf))
}

pub struct CheckoutTexts {
    pub provider_title: &'static str,
    pub provider_note: &'static str,
    pub payee: &'static str,
    pub amount: &'static str,
    pub delivery_legend: &'static str,
    pub delivery_normal: &'static str,
    pub delivery_duplicate: &'static str,
    pub delivery_late: &'static str,
    pub pay: &'static str,
    pub decline: &'static str,
    pub cancel: &'static str,
    pub session_done: &'static str,
    pub session_unknown: &'static str,
    pub back_to_shop: &'static str,
    pub paid_heading: &'static str,
    pub paid_message: &'static str,
    pub pending_heading: &'static str,
    pub pending_message: &'static str,
    pub declined_heading: &'static str,
    pub cancelled_heading: &'static str,
    pub expired_heading: &'static str,
    /// Followed by the time the hold ends.
    pub still_held_until: &'static str,
    pub hold_ended: &'static str,
    pub refund_heading: &'static str,
    pub refund_due_message: &'static str,
    pub refunded_message: &'static str,
    pub try_again: &'static str,
    pub order_number: &'static str,
    pub ordered_at: &'static str,
    pub buyer: &'static str,
    pub place: &'static str,
    pub price: &'static str,
    pub total: &'static str,
    pub download: &'static str,
}

pub static DE: CheckoutTexts = CheckoutTexts {
    provider_title: "Testzahlung",
    provider_note: "Test-Zahlungsanbieter: Es wird kein echtes Geld bewegt.",
    payee: "Empfänger",
    amount: "Betrag",
    delivery_legend: "Testschalter: Benachrichtigung an den Shop",
    delivery_normal: "sofort",
    delivery_duplicate: "doppelt",
    delivery_late: "verspätet (erst nach Ablauf der Reservierung)",
    pay: "Bezahlen",
    decline: "Zahlung ablehnen",
    cancel: "Abbrechen",
    session_done: "Diese Zahlung ist abgeschlossen.",
    session_unknown: "Diese Zahlung gibt es nicht.",
    back_to_shop: "Zurück zum Spiel",
    paid_heading: "Danke – Ihre Bestellung ist bestätigt",
    paid_message: "Die Zahlung ist eingegangen. Ihre Tickets sind gebucht.",
    pending_heading: "Zahlung wird bestätigt …",
    pending_message: "Wir warten auf die Bestätigung des Zahlungsanbieters. Diese Seite aktualisiert sich selbst.",
    declined_heading: "Zahlung abgelehnt",
    cancelled_heading: "Zahlung abgebrochen",
    expired_heading: "Zahlung abgelaufen",
    still_held_until: "Ihre Plätze bleiben reserviert bis",
    hold_ended: "Die Reservierung ist abgelaufen. Bitte wählen Sie Ihre Plätze neu.",
    refund_heading: "Plätze nicht mehr verfügbar",
    refund_due_message: "Die Zahlung kam erst, als Ihre Plätze schon vergeben waren. Der Betrag wird erstattet.",
    refunded_message: "Die Zahlung kam erst, als Ihre Plätze schon vergeben waren. Der Betrag wurde erstattet.",
    try_again: "Erneut bezahlen",
    order_number: "Bestellnummer",
    ordered_at: "Bestellt am",
    buyer: "Käufer",
    place: "Platz",
    price: "Preis",
    total: "Summe",
    download: "Tickets als PDF laden",
};

pub static EN: CheckoutTexts = CheckoutTexts {
    provider_title: "Test payment",
    provider_note: "Test payment provider: no real money moves.",
    payee: "Payee",
    amount: "Amount",
    delivery_legend: "Test switch: notification to the shop",
    delivery_normal: "at once",
    delivery_duplicate: "twice",
    delivery_late: "late (only after the hold has ended)",
    pay: "Pay",
    decline: "Decline payment",
    cancel: "Cancel",
    session_done: "This payment is finished.",
    session_unknown: "There is no such payment.",
    back_to_shop: "Back to the game",
    paid_heading: "Thank you – your order is confirmed",
    paid_message: "Your payment arrived. Your tickets are booked.",
    pending_heading: "Confirming your payment …",
    pending_message: "We are waiting for the payment provider's confirmation. This page refreshes itself.",
    declined_heading: "Payment declined",
    cancelled_heading: "Payment cancelled",
    expired_heading: "Payment expired",
    still_held_until: "Your seats stay held until",
    hold_ended: "Your hold has ended. Please choose your seats again.",
    refund_heading: "Seats no longer available",
    refund_due_message: "The payment arrived after your seats had gone. The amount will be refunded.",
    refunded_message: "The payment arrived after your seats had gone. The amount has been refunded.",
    try_again: "Pay again",
    order_number: "Order number",
    ordered_at: "Ordered",
    buyer: "Buyer",
    place: "Place",
    price: "Price",
    total: "Total",
    download: "Download the tickets (PDF)",
};

pub fn texts(lang: Lang) -> &'static CheckoutTexts {
    match lang {
        Lang::De => &DE,
        Lang::En => &EN,
    }
}

pub struct ProviderView {
    pub amount: String,
    /// The session still waits for the fan's choice.
    pub open: bool,
    pub return_url: String,
}

#[derive(Template)]
#[template(path = "pay_test.html")]
struct ProviderPage<'a> {
    lang: Lang,
    t: &'static Texts,
    c: &'static CheckoutTexts,
    organizer: &'a str,
    slug: &'a str,
    session: &'a str,
    payment: Option<ProviderView>,
}

pub struct OrderView {
    pub number: u64,
    pub created: String,
    pub buyer: String,
    /// Place label and price.
    pub tickets: Vec<(String, String)>,
    pub total: String,
    /// The re-download link of the ticket PDF.
    pub pdf: String,
}

#[derive(Template)]
#[template(path = "payment.html")]
struct ConfirmationPage<'a> {
    lang: Lang,
    t: &'static Texts,
    c: &'static CheckoutTexts,
    organizer: &'a str,
    slug: &'a str,
    token: &'a str,
    heading: &'static str,
    message: String,
    /// `ok` or `notice`: the message's colour band.
    tone: &'static str,
    refresh: bool,
    retry: bool,
    event: u32,
    event_name: String,
    event_starts: String,
    amount: String,
    order: Option<OrderView>,
}

fn lang_of(query: &LangQuery, headers: &HeaderMap) -> Lang {
    Lang::negotiate(query.lang.as_deref(), headers)
}

fn missing(lang: Lang, headers: &HeaderMap) -> Response {
    super::not_found(lang, headers)
}

async fn provider_page(
    State(state): State<AppState>,
    PathParams((slug, session)): PathParams<(String, String)>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&query, &headers);
    let Some(handle) = state.tenants.get(&slug) else { return missing(lang, &headers) };
    let credentials = handle.credentials.clone();
    let (slug2, session2) = (slug.clone(), session.clone());
    let view = handle
        .shard
        .read(move |t| {
            let Some(p) = t.payment_by_session(ProviderKind::Test, &session2) else {
                // A voucher purchase (`vouchers/online.rs`) pays through the same page.
                let p = t.vouchers().purchase_by_session(ProviderKind::Test, &session2)?;
                return Some(ProviderView {
                    amount: euros(p.amount, lang),
                    open: matches!(p.state, core::vouchers::PurchaseState::Started | core::vouchers::PurchaseState::Failed(_)),
                    return_url: crate::vouchers::online::return_path(&slug2, &credentials, p.id, lang),
                });
            };
            let token = credentials.token_for("payment", p.id.0);
            Some(ProviderView {
                amount: euros(p.amount, lang),
                open: matches!(p.state, PaymentState::Started | PaymentState::Failed(_)),
                return_url: return_url(&slug2, &token, lang.code()),
            })
        })
        .await;
    let Ok(payment) = view else { return StatusCode::SERVICE_UNAVAILABLE.into_response() };
    let page = ProviderPage {
        lang,
        t: lang.texts(),
        c: texts(lang),
        organizer: &handle.name,
        slug: &slug,
        session: &session,
        payment,
    };
    html(&page, lang)
}

#[derive(Deserialize)]
struct ProviderForm {
    action: String,
    delivery: Option<String>,
}

/// The fan's choice on the provider page: the provider signs its webhook and
/// delivers it (through the same verification as any webhook), then returns the
/// fan to the shop's confirmation page.
async fn provider_submit(
    State(state): State<AppState>,
    PathParams((slug, session)): PathParams<(String, String)>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    Form(form): Form<ProviderForm>,
) -> Response {
    let lang = lang_of(&query, &headers);
    let Some(handle) = state.tenants.get(&slug) else { return missing(lang, &headers) };
    let action = match form.action.as_str() {
        "pay" => Action::Pay,
        "decline" => Action::Decline,
        "cancel" => Action::Cancel,
        _ => return (StatusCode::BAD_REQUEST, "unknown action").into_response(),
    };
    let delivery = match form.delivery.as_deref() {
        Some("late") => Delivery::Late,
        Some("duplicate") => Delivery::Twice,
        _ => Delivery::Once,
    };
    let Ok(Some(pressed)) = press(&state, &slug, &session, action, delivery).await else { return missing(lang, &headers) };
    let back = match pressed {
        Pressed::Payment(payment) => return_url(&slug, &handle.credentials.token_for("payment", payment.0), lang.code()),
        Pressed::Purchase(purchase) => crate::vouchers::online::return_path(&slug, &handle.credentials, purchase, lang),
    };
    Redirect::to(&back).into_response()
}

/// Test switch: delivers a webhook held back by "late" now.
async fn deliver_held(State(state): State<AppState>, PathParams((slug, session)): PathParams<(String, String)>) -> Response {
    let Some(handle) = state.tenants.get(&slug) else { return StatusCode::NOT_FOUND.into_response() };
    let Some(held) = handle.payments.test.take_held(&session) else {
        return crate::http::problem::Problem::not_found("no_held_webhook", "no webhook is held for this session").into_response();
    };
    match redeliver(handle, &held).await {
        Ok(state) => (StatusCode::OK, axum::Json(serde_json::json!({ "delivered": true, "state": state.code() }))).into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn confirmation_page(
    State(state): State<AppState>,
    PathParams((slug, token)): PathParams<(String, String)>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&query, &headers);
    let Some((handle, payment)) = payment_of(&state, &slug, &token) else { return missing(lang, &headers) };
    let c = texts(lang);
    let (credentials, slug2) = (handle.credentials.clone(), slug.clone());
    let read = handle
        .shard
        .read(move |t| {
            let p = t.payment(payment)?;
            let event = t.event(p.hold.event)?;
            let venue = t.venue(event.spec.venue)?;
            let order = match p.state {
                PaymentState::Succeeded { order } => t.order(order).map(|o| OrderView {
                    number: o.id.0,
                    created: date_time(o.created_at, lang),
                    buyer: format!("{} · {}", o.buyer.name, o.buyer.email),
                    tickets: o
                        .valid_tickets()
                        .map(|ticket| (crate::http::dto::place_out(venue, ticket.place).label, euros(ticket.price, lang)))
                        .collect(),
                    total: euros(o.paid(), lang),
                    pdf: crate::payments::ticket_mail::tickets_path(&slug2, &credentials.token_for("order", o.id.0), lang),
                }),
                _ => None,
            };
            Some((
                p.state.clone(),
                t.hold_of(p.hold.id).map(|h| h.expires_at),
                p.hold.event.0,
                event.spec.name.clone(),
                date_time(event.spec.starts_at, lang),
                euros(p.amount, lang),
                order,
            ))
        })
        .await;
    let Ok(Some((state, hold_until, event, event_name, event_starts, amount, order))) = read else {
        return missing(lang, &headers);
    };
    let held = |heading| match hold_until {
        Some(at) => (heading, format!("{} {}.", c.still_held_until, date_time(at, lang)), "notice", false, true),
        None => (heading, c.hold_ended.to_string(), "notice", false, false),
    };
    let (heading, message, tone, refresh, retry) = match state {
        PaymentState::Succeeded { .. } => (c.paid_heading, c.paid_message.to_string(), "ok", false, false),
        PaymentState::Started => (c.pending_heading, c.pending_message.to_string(), "meta", true, false),
        PaymentState::Failed(PaymentFailure::Declined) => held(c.declined_heading),
        PaymentState::Failed(PaymentFailure::Cancelled) => held(c.cancelled_heading),
        PaymentState::Failed(PaymentFailure::Expired) => held(c.expired_heading),
        PaymentState::RefundDue => (c.refund_heading, c.refund_due_message.to_string(), "notice", false, false),
        PaymentState::Refunded { .. } => (c.refund_heading, c.refunded_message.to_string(), "notice", false, false),
    };
    let page = ConfirmationPage {
        lang,
        t: lang.texts(),
        c,
        organizer: &handle.name,
        slug: &slug,
        token: &token,
        heading,
        message,
        tone,
        refresh,
        retry,
        event,
        event_name,
        event_starts,
        amount,
        order,
    };
    let mut response = html(&page, lang);
    response.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

/// The order's tickets as a PDF, behind the order's HMAC token: the link in the
/// ticket e-mail and on the confirmation page. Fresh credentials each time.
async fn tickets_pdf(
    State(state): State<AppState>,
    PathParams((slug, token)): PathParams<(String, String)>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&query, &headers);
    let Some(handle) = state.tenants.get(&slug) else { return missing(lang, &headers) };
    let Some(order) = handle.credentials.open_token("order", &token).map(core::OrderId) else { return missing(lang, &headers) };
    let Some((pdf, _, _)) = crate::payments::ticket_mail::order_pdf(handle, order, lang).await else {
        return missing(lang, &headers);
    };
    let disposition = format!("inline; filename=\"tickets-{}.pdf\"", order.0);
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        pdf,
    )
        .into_response()
}

/// The tenant and the payment a confirmation-page token names, if both exist.
fn payment_of<'a>(state: &'a AppState, slug: &str, token: &str) -> Option<(&'a crate::http::TenantHandle, core::payments::PaymentId)> {
    let handle = state.tenants.get(slug)?;
    let payment = handle.credentials.open_token("payment", token)?;
    Some((handle, core::payments::PaymentId(payment)))
}

/// "Pay again" after a decline or cancel: a new payment for the same hold and buyer.
async fn retry(
    State(state): State<AppState>,
    PathParams((slug, token)): PathParams<(String, String)>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&query, &headers);
    let Some((handle, payment)) = payment_of(&state, &slug, &token) else { return missing(lang, &headers) };
    let found = handle.shard.read(move |t| t.payment(payment).map(|p| (p.hold.id, p.buyer.clone()))).await;
    let Ok(Some((hold, buyer))) = found else { return missing(lang, &headers) };
    match begin_payment(handle, &slug, hold, buyer, None, lang.code(), None).await {
        Ok(started) => Redirect::to(&started.redirect_url).into_response(),
        // The hold ended or was bought meanwhile: the confirmation page says which.
        Err(_) => Redirect::to(&return_url(&slug, &token, lang.code())).into_response(),
    }
}
