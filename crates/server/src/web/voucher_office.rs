//! The city voucher office's own pages (role `voucher_office`, or admin): the
//! overview of its programmes with a form to create one and the button that books
//! expired cards, the cards page (issue a printed batch as a CSV download, list
//! batches, look a card up by code with its bookings, block it, move its balance,
//! refund it), and the counter (sell a printed card, load a sold one).
//!
//! Every page is server-rendered and works without script. Forms check the session
//! (extractor), then the CSRF token, then the role, in that order, so a forged form
//! learns nothing. The pages decide nothing: each action is one core command through
//! the same function the JSON API calls (`http/vouchers.rs`, the `*_with` helpers),
//! under the clerk's own idempotency scope, with a key the form carries (drawn when
//! the form is rendered), so a double click or a resent form is answered once.
//!
//! A card's code never appears in a URL: look-ups and card actions post it in the
//! body and answer with the page itself rather than a redirect (which would have to
//! carry the code). Programme creation redirects (post/redirect/get).

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde::Deserialize;
use sturmfest_core as core;
use sturmfest_core::ledger::AccountKind;
use sturmfest_core::staff::Role;
use sturmfest_core::vouchers::{BookingKind, CardMedium, CardState, PaidVia, payable_account, programme_account};

use super::format::{date_time, euros};
use super::i18n::{Lang, Texts};
use super::voucher_nav::VoucherNav;
use super::html;
use crate::http::TenantHandle;
use crate::http::extract::{IdempotencyKey, fingerprint};
use crate::http::handlers::idem;
use crate::http::problem::Problem;
use crate::http::vouchers as api;
use crate::staff::StaffSession;

/// Bookings the card page lists, newest first; older ones are summed in the balance.
pub const card_bookings_shown_max: usize = 200;
/// The most a form may ask of one batch; the core's own limit.
pub const batch_cards_max: usize = core::vouchers::limits::batch_cards_max;

// ----- texts -----

pub struct VoucherOfficeTexts {
    pub programmes: &'static str,
    pub no_programmes: &'static str,
    pub programme: &'static str,
    pub name: &'static str,
    pub balance_max: &'static str,
    pub load_max: &'static str,
    pub offline_max: &'static str,
    pub reversal_window: &'static str,
    pub minutes: &'static str,
    pub cards_by_state: &'static str,
    pub inactive: &'static str,
    pub active: &'static str,
    pub blocked: &'static str,
    pub expired: &'static str,
    pub liability: &'static str,
    pub expired_value: &'static str,
    pub new_programme: &'static str,
    pub create: &'static str,
    pub programme_created: &'static str,
    pub design_title: &'static str,
    pub accent: &'static str,
    pub tagline: &'static str,
    pub design_hint: &'static str,
    pub design_save: &'static str,
    pub expiry_title: &'static str,
    pub expiry_hint: &'static str,
    pub expiry_button: &'static str,
    pub expiry_done: &'static str,
    pub issue_title: &'static str,
    pub count: &'static str,
    pub count_hint: &'static str,
    pub with_pin: &'static str,
    pub issue_button: &'static str,
    pub shown_once: &'static str,
    pub batches: &'static str,
    pub no_batches: &'static str,
    pub batch: &'static str,
    pub medium: &'static str,
    pub printed: &'static str,
    pub digital: &'static str,
    pub issued_at: &'static str,
    pub lookup_title: &'static str,
    pub code: &'static str,
    pub code_hint: &'static str,
    pub lookup_button: &'static str,
    pub card: &'static str,
    pub state: &'static str,
    pub balance: &'static str,
    pub valid_until: &'static str,
    pub not_sold: &'static str,
    pub pin: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub history: &'static str,
    pub no_bookings: &'static str,
    pub when: &'static str,
    pub what: &'static str,
    pub amount: &'static str,
    pub detail: &'static str,
    pub k_activation: &'static str,
    pub k_load: &'static str,
    pub k_redemption: &'static str,
    pub k_reversal: &'static str,
    pub k_refund: &'static str,
    pub k_move_out: &'static str,
    pub k_move_in: &'static str,
    pub k_expiry: &'static str,
    pub k_offline: &'static str,
    pub cash_at: &'static str,
    pub reference: &'static str,
    pub merchant: &'static str,
    pub block_title: &'static str,
    pub block_hint: &'static str,
    pub block_button: &'static str,
    pub blocked_done: &'static str,
    pub move_title: &'static str,
    pub move_hint: &'static str,
    pub move_to: &'static str,
    pub move_button: &'static str,
    pub moved_done: &'static str,
    pub refund_title: &'static str,
    pub refund_hint: &'static str,
    pub refund_button: &'static str,
    pub refunded_done: &'static str,
    pub amount_euros: &'static str,
    pub amount_hint: &'static str,
    pub counter_sell: &'static str,
    pub counter_load: &'static str,
    pub paid_with: &'static str,
    pub cash: &'static str,
    pub by_card: &'static str,
    pub sales_point: &'static str,
    pub terminal_reference: &'static str,
    pub terminal_hint: &'static str,
    pub sell_button: &'static str,
    pub load_button: &'static str,
    pub sold_done: &'static str,
    pub loaded_done: &'static str,
    pub next_customer: &'static str,
    // Refusals, by the problem's code.
    pub e_amount: &'static str,
    pub e_code: &'static str,
    pub e_unknown_card: &'static str,
    pub e_load_too_large: &'static str,
    pub e_ceiling: &'static str,
    pub e_not_inactive: &'static str,
    pub e_inactive: &'static str,
    pub e_blocked: &'static str,
    pub e_expired: &'static str,
    pub e_insufficient: &'static str,
    pub e_not_blocked: &'static str,
    pub e_same: &'static str,
    pub e_programmes_differ: &'static str,
    pub e_nothing: &'static str,
    pub e_reference: &'static str,
    pub e_name: &'static str,
    pub e_limits: &'static str,
    pub e_batch_size: &'static str,
    pub e_batch_again: &'static str,
    pub e_programme: &'static str,
    pub e_sales_point: &'static str,
    pub e_form_key: &'static str,
    pub e_repeated: &'static str,
}

static DE: VoucherOfficeTexts = VoucherOfficeTexts {
    programmes: "Programme",
    no_programmes: "Noch kein Programm. Legen Sie unten das erste an.",
    programme: "Programm",
    name: "Name",
    balance_max: "Höchstguthaben je Karte",
    load_max: "Höchstbetrag je Aufladung",
    offline_max: "Offline-Grenze je Karte",
    reversal_window: "Stornofrist",
    minutes: "Minuten",
    cards_by_state: "Karten nach Status",
    inactive: "nicht verkauft",
    active: "aktiv",
    blocked: "gesperrt",
    expired: "abgelaufen",
    liability: "Ausstehendes Guthaben (Verbindlichkeit)",
    expired_value: "Verfallener Wert",
    new_programme: "Neues Programm",
    create: "Anlegen",
    programme_created: "Das Programm ist angelegt.",
    design_title: "Aussehen der Karten",
    accent: "Akzentfarbe",
    tagline: "Zeile auf der Karte",
    design_hint: "So sehen Inhaberinnen und Inhaber die digitale Karte, ihre E-Mail und ihr PDF. Weiße Schrift muss auf der Farbe lesbar sein (Kontrast mindestens 4,5 : 1).",
    design_save: "Aussehen speichern",
    expiry_title: "Abgelaufene Karten buchen",
    expiry_hint: "Bucht das Guthaben aller Karten, deren Gültigkeit vorbei ist, als verfallenen Wert. Der Wert wird gebucht, nicht gelöscht. Der Server tut das auch selbst, sobald eine Karte fällig ist.",
    expiry_button: "Abgelaufene Karten jetzt buchen",
    expiry_done: "Gebucht",
    issue_title: "Gedruckte Karten ausgeben",
    count: "Anzahl",
    count_hint: "1 bis 2.000 Karten",
    with_pin: "Mit PIN (jede Einlösung braucht die PIN)",
    issue_button: "Karten ausgeben und CSV herunterladen",
    shown_once: "Die Codes werden nur ein einziges Mal angezeigt: in der CSV-Datei, die dieser Knopf herunterlädt. Speichern und drucken Sie sie sofort. Der Server kennt die Codes danach nicht mehr.",
    batches: "Ausgegebene Stapel",
    no_batches: "Noch keine Karten ausgegeben.",
    batch: "Stapel",
    medium: "Art",
    printed: "gedruckt",
    digital: "digital",
    issued_at: "Ausgegeben",
    lookup_title: "Karte suchen",
    code: "Kartencode",
    code_hint: "20 Zeichen, Bindestriche und Leerzeichen sind egal",
    lookup_button: "Suchen",
    card: "Karte",
    state: "Status",
    balance: "Guthaben",
    valid_until: "Gültig bis",
    not_sold: "noch nicht verkauft",
    pin: "PIN",
    yes: "ja",
    no: "nein",
    history: "Buchungen",
    no_bookings: "Noch keine Buchungen.",
    when: "Zeit",
    what: "Vorgang",
    amount: "Betrag",
    detail: "Details",
    k_activation: "Verkauf",
    k_load: "Aufladung",
    k_redemption: "Einlösung",
    k_reversal: "Storno einer Einlösung",
    k_refund: "Auszahlung",
    k_move_out: "Guthaben übertragen (ab)",
    k_move_in: "Guthaben übertragen (zu)",
    k_expiry: "Verfall",
    k_offline: "Offline-Einlösung",
    cash_at: "bar, Verkaufsstelle",
    reference: "Referenz",
    merchant: "Händler",
    block_title: "Karte sperren",
    block_hint: "Bei Verlust oder Diebstahl. Das Guthaben bleibt erhalten und kann übertragen oder ausgezahlt werden.",
    block_button: "Sperren",
    blocked_done: "Die Karte ist gesperrt.",
    move_title: "Guthaben auf neue Karte übertragen",
    move_hint: "Nur von einer gesperrten Karte auf eine aktive Karte desselben Programms; das ganze Guthaben.",
    move_to: "Code der neuen Karte",
    move_button: "Übertragen",
    moved_done: "Übertragen",
    refund_title: "Guthaben auszahlen",
    refund_hint: "Zahlt den Betrag an den Karteninhaber zurück (aktive oder gesperrte Karte).",
    refund_button: "Auszahlen",
    refunded_done: "Ausgezahlt",
    amount_euros: "Betrag in Euro",
    amount_hint: "z. B. 25 oder 25,00",
    counter_sell: "Gedruckte Karte verkaufen",
    counter_load: "Karte aufladen",
    paid_with: "Bezahlt",
    cash: "bar",
    by_card: "mit Karte (Terminal)",
    sales_point: "Verkaufsstelle Nr.",
    terminal_reference: "Beleg-Nr. des Terminals",
    terminal_hint: "nur bei Kartenzahlung",
    sell_button: "Verkaufen",
    load_button: "Aufladen",
    sold_done: "Verkauft",
    loaded_done: "Aufgeladen",
    next_customer: "Das Formular ist bereit für den nächsten Kunden.",
    e_amount: "Der Betrag ist ungültig. Bitte in Euro mit höchstens zwei Nachkommastellen angeben, größer als null (z. B. 25,00).",
    e_code: "Dieser Kartencode ist nicht gültig. Bitte die Eingabe prüfen.",
    e_unknown_card: "Zu diesem Code gibt es keine Karte.",
    e_load_too_large: "Der Betrag ist höher als der Höchstbetrag je Aufladung des Programms.",
    e_ceiling: "Damit läge das Guthaben über dem Höchstguthaben je Karte.",
    e_not_inactive: "Diese Karte ist schon verkauft. Zum Aufladen bitte „Karte aufladen“ nutzen.",
    e_inactive: "Diese Karte ist noch nicht verkauft.",
    e_blocked: "Diese Karte ist gesperrt.",
    e_expired: "Diese Karte ist abgelaufen.",
    e_insufficient: "Das Guthaben der Karte reicht dafür nicht.",
    e_not_blocked: "Übertragen geht nur von einer gesperrten Karte. Bitte zuerst sperren.",
    e_same: "Die neue Karte ist dieselbe Karte.",
    e_programmes_differ: "Die neue Karte gehört zu einem anderen Programm.",
    e_nothing: "Auf der Karte ist kein Guthaben zum Übertragen.",
    e_reference: "Bitte eine Referenz angeben (höchstens 128 Zeichen).",
    e_name: "Bitte einen Namen angeben (höchstens 200 Zeichen).",
    e_limits: "Die Grenzen passen nicht: Höchstguthaben 0,01 bis 2.500,00 €, Aufladung und Offline-Grenze höchstens das Höchstguthaben, Stornofrist höchstens 30 Tage.",
    e_batch_size: "Bitte 1 bis 2.000 Karten angeben.",
    e_batch_again: "Dieser Stapel wurde mit diesem Formular schon ausgegeben. Die Codes wurden einmal angezeigt und können nicht noch einmal gezeigt werden. Falls die Datei fehlt: neuen Stapel ausgeben und den alten Druck vernichten.",
    e_programme: "Dieses Programm gibt es nicht.",
    e_sales_point: "Bei Barzahlung bitte die Nummer der Verkaufsstelle angeben, bei Kartenzahlung die Beleg-Nr.",
    e_form_key: "Das Formular ist unvollständig. Bitte die Seite neu laden.",
    e_repeated: "Dieses Formular wurde schon mit anderen Angaben abgeschickt. Bitte die Seite neu laden.",
};

static EN: VoucherOfficeTexts = VoucherOfficeTexts {
    programmes: "Programmes",
    no_programmes: "No programme yet. Create the first one below.",
    programme: "Programme",
    name: "Name",
    balance_max: "Highest balance per card",
    load_max: "Highest amount per load",
    offline_max: "Offline limit per card",
    reversal_window: "Reversal window",
    minutes: "minutes",
    cards_by_state: "Cards by state",
    inactive: "not sold",
    active: "active",
    blocked: "blocked",
    expired: "expired",
    liability: "Outstanding balances (liability)",
    expired_value: "Expired value",
    new_programme: "New programme",
    create: "Create",
    programme_created: "The programme is created.",
    design_title: "How the cards look",
    accent: "Accent colour",
    tagline: "Line on the card",
    design_hint: "This is how holders see the digital card, its e-mail and its PDF. White text must be readable on the colour (contrast at least 4.5:1).",
    design_save: "Save the look",
    expiry_title: "Book expired cards",
    expiry_hint: "Books the balance of every card whose validity has ended as expired value. The value is booked, not deleted. The server also does this by itself as soon as a card falls due.",
    expiry_button: "Book expired cards now",
    expiry_done: "Booked",
    issue_title: "Issue printed cards",
    count: "Number of cards",
    count_hint: "1 to 2,000 cards",
    with_pin: "With PIN (every redemption needs the PIN)",
    issue_button: "Issue cards and download the CSV",
    shown_once: "The codes are shown once only: in the CSV file this button downloads. Save and print it now. Afterwards the server no longer knows the codes.",
    batches: "Issued batches",
    no_batches: "No cards issued yet.",
    batch: "Batch",
    medium: "Medium",
    printed: "printed",
    digital: "digital",
    issued_at: "Issued",
    lookup_title: "Find a card",
    code: "Card code",
    code_hint: "20 characters; dashes and spaces do not matter",
    lookup_button: "Find",
    card: "Card",
    state: "State",
    balance: "Balance",
    valid_until: "Valid until",
    not_sold: "not sold yet",
    pin: "PIN",
    yes: "yes",
    no: "no",
    history: "Bookings",
    no_bookings: "No bookings yet.",
    when: "Time",
    what: "Booking",
    amount: "Amount",
    detail: "Details",
    k_activation: "Sale",
    k_load: "Load",
    k_redemption: "Redemption",
    k_reversal: "Redemption reversed",
    k_refund: "Refund",
    k_move_out: "Balance moved (out)",
    k_move_in: "Balance moved (in)",
    k_expiry: "Expiry",
    k_offline: "Offline redemption",
    cash_at: "cash, sales point",
    reference: "Reference",
    merchant: "Merchant",
    block_title: "Block the card",
    block_hint: "When it is lost or stolen. The balance stays and can be moved or refunded.",
    block_button: "Block",
    blocked_done: "The card is blocked.",
    move_title: "Move the balance to a new card",
    move_hint: "Only from a blocked card to an active card of the same programme; the whole balance.",
    move_to: "Code of the new card",
    move_button: "Move",
    moved_done: "Moved",
    refund_title: "Refund the balance",
    refund_hint: "Pays the amount back to the card holder (active or blocked card).",
    refund_button: "Refund",
    refunded_done: "Refunded",
    amount_euros: "Amount in euros",
    amount_hint: "e.g. 25 or 25.00",
    counter_sell: "Sell a printed card",
    counter_load: "Load a card",
    paid_with: "Paid",
    cash: "in cash",
    by_card: "by card (terminal)",
    sales_point: "Sales point no.",
    terminal_reference: "Terminal receipt no.",
    terminal_hint: "card payments only",
    sell_button: "Sell",
    load_button: "Load",
    sold_done: "Sold",
    loaded_done: "Loaded",
    next_customer: "The form is ready for the next customer.",
    e_amount: "The amount is not valid. Give euros with at most two decimals, above zero (e.g. 25.00).",
    e_code: "This card code is not valid. Please check what you typed.",
    e_unknown_card: "There is no card with this code.",
    e_load_too_large: "The amount is above the programme's highest amount per load.",
    e_ceiling: "The balance would exceed the highest balance per card.",
    e_not_inactive: "This card is already sold. Use “Load a card” to add value.",
    e_inactive: "This card is not sold yet.",
    e_blocked: "This card is blocked.",
    e_expired: "This card has expired.",
    e_insufficient: "The card's balance is not enough for this.",
    e_not_blocked: "A balance can only be moved from a blocked card. Block it first.",
    e_same: "The new card is the same card.",
    e_programmes_differ: "The new card belongs to another programme.",
    e_nothing: "There is no balance on the card to move.",
    e_reference: "Please give a reference (at most 128 characters).",
    e_name: "Please give a name (at most 200 characters).",
    e_limits: "The limits do not fit: highest balance €0.01 to €2,500.00, load and offline limit at most the highest balance, reversal window at most 30 days.",
    e_batch_size: "Please ask for 1 to 2,000 cards.",
    e_batch_again: "This form already issued its batch. The codes were shown once and cannot be shown again. If the file is missing: issue a new batch and destroy the old print run.",
    e_programme: "There is no such programme.",
    e_sales_point: "For cash give the sales point number; for a card payment the terminal's receipt number.",
    e_form_key: "The form is incomplete. Please reload the page.",
    e_repeated: "This form was already sent with other values. Please reload the page.",
};

pub fn texts(lang: Lang) -> &'static VoucherOfficeTexts {
    match lang {
        Lang::De => &DE,
        Lang::En => &EN,
    }
}

/// What the clerk reads for a refusal: the page's own sentence for the codes a
/// clerk can cause, the problem's detail (English) for anything else.
fn refusal(lang: Lang, problem: &Problem) -> String {
    let v = texts(lang);
    let text = match problem.code {
        "amount_invalid" => v.e_amount,
        "card_code_length" | "card_code_character" | "card_code_check" => v.e_code,
        "unknown_card" => v.e_unknown_card,
        "load_too_large" => v.e_load_too_large,
        "ceiling_exceeded" => v.e_ceiling,
        "card_not_inactive" => v.e_not_inactive,
        "card_inactive" => v.e_inactive,
        "card_blocked" => v.e_blocked,
        "card_expired" => v.e_expired,
        "insufficient_balance" => v.e_insufficient,
        "card_not_blocked" => v.e_not_blocked,
        "cards_same" => v.e_same,
        "programmes_differ" => v.e_programmes_differ,
        "nothing_to_move" => v.e_nothing,
        "reference_invalid" => v.e_reference,
        "name_invalid" => v.e_name,
        "limits_invalid" => v.e_limits,
        "batch_size_invalid" => v.e_batch_size,
        "batch_already_issued" => v.e_batch_again,
        "unknown_programme" => v.e_programme,
        "paid_via_invalid" => v.e_sales_point,
        "idempotency_key_reused" => v.e_repeated,
        _ => return problem.detail.clone(),
    };
    text.to_string()
}

// ----- form plumbing -----

/// A positive euro amount as the office types it (`format::parse_euros`); zero is
/// refused too, since no voucher amount can be nothing.
pub fn parse_euros(text: &str) -> Option<i64> {
    super::format::parse_euros(text).filter(|&cents| cents > 0)
}

/// A fresh idempotency key for a form: 128 random bits.
fn form_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The form's key under the clerk's own scope (the same scope the JSON API gives a
/// staff session), fingerprinted over what the form asks so a key reused for a
/// different request is refused rather than answered with the first reply.
fn form_idempotency(staff: &StaffSession, key: &str, path: &str, fields: &[&str]) -> Result<Option<core::Idempotency>, ()> {
    let ok = !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(());
    }
    let fp = fingerprint("POST", path, fields.join("\u{0}").as_bytes());
    Ok(idem(&format!("staff:{}", staff.account.0), &IdempotencyKey(key.to_string()), fp))
}

/// Session (by the extractor), then role.
fn gate(staff: &StaffSession, headers: &HeaderMap) -> Result<(), Response> {
    staff.require(Role::VoucherOffice).map_err(|d| d.respond(&staff.slug, headers))
}

/// For forms: CSRF first, then the role.
fn gate_form(staff: &StaffSession, headers: &HeaderMap, csrf: &str) -> Result<(), Response> {
    staff.gate_form(headers, csrf, Role::VoucherOffice)
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

/// A refusal's status for the page: the problem's, except that server errors and
/// overload answer as the API does (problem+json, `Retry-After`).
fn refused(problem: Problem) -> Result<StatusCode, Response> {
    if problem.status.is_server_error() || problem.status == StatusCode::TOO_MANY_REQUESTS {
        return Err(problem.into_response());
    }
    Ok(problem.status)
}

#[derive(Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
    done: Option<String>,
}

/// Every form field any of these pages posts; absent fields are empty.
#[derive(Deserialize, Default)]
pub struct OfficeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    balance_max: String,
    #[serde(default)]
    load_max: String,
    #[serde(default)]
    offline_max: String,
    #[serde(default)]
    reversal_minutes: String,
    #[serde(default)]
    accent: String,
    #[serde(default)]
    tagline: String,
    #[serde(default)]
    programme: String,
    #[serde(default)]
    count: String,
    #[serde(default)]
    pin: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    paid: String,
    #[serde(default)]
    sales_point: String,
}

/// What every page of the office shares: the menu, the session's CSRF token and a
/// fresh idempotency key for its forms.
struct Frame {
    nav_items: Vec<(String, &'static str, bool)>,
    nav_label: &'static str,
    csrf: String,
    key: String,
}

fn frame(staff: &StaffSession, lang: Lang, active: &str) -> Frame {
    let nav = VoucherNav::of(lang);
    Frame { nav_items: nav.items(&staff.slug, lang, active), nav_label: nav.label, csrf: staff.csrf_token(), key: form_key() }
}

// ----- overview -----

pub struct ProgrammeRow {
    pub id: u32,
    pub name: String,
    pub balance_max: String,
    pub load_max: String,
    pub offline_max: String,
    pub reversal_minutes: i64,
    pub inactive: u64,
    pub active: u64,
    pub blocked: u64,
    pub expired: u64,
    pub liability: String,
    pub expired_value: String,
    /// The cards' look: `#rrggbb` and the tagline.
    pub accent: String,
    pub tagline: String,
}

/// The typed values of the new-programme form, kept when it is refused.
#[derive(Default)]
pub struct ProgrammeFields {
    pub name: String,
    pub balance_max: String,
    pub load_max: String,
    pub offline_max: String,
    pub reversal_minutes: String,
}

#[derive(Template)]
#[template(path = "voucher_office_overview.html")]
struct OverviewPage<'a> {
    lang: Lang,
    t: &'static Texts,
    v: &'static VoucherOfficeTexts,
    organizer: &'a str,
    slug: &'a str,
    nav_items: Vec<(String, &'static str, bool)>,
    nav_label: &'static str,
    csrf: String,
    key: String,
    programmes: Vec<ProgrammeRow>,
    created: bool,
    /// Cards and value the last "book expired cards" expired.
    expiry: Option<(u32, String)>,
    error: Option<String>,
    fields: ProgrammeFields,
}

async fn programme_rows(handle: &TenantHandle, lang: Lang) -> Result<Vec<ProgrammeRow>, Problem> {
    Ok(handle
        .shard
        .read(move |t| {
            let vouchers = t.vouchers();
            let now = vouchers.now().max(core::TimeMs(crate::runtime::wall_clock_ms()));
            vouchers
                .programmes()
                .map(|p| {
                    let mut counts = [0u64; 4];
                    for card in vouchers.cards().filter(|c| c.programme == p.id) {
                        let index = match vouchers.state_at(card.id, now).unwrap_or(card.state) {
                            CardState::Inactive => 0,
                            CardState::Active => 1,
                            CardState::Blocked(_) => 2,
                            CardState::Expired => 3,
                        };
                        counts[index] += 1;
                    }
                    let expired = t.ledger().account(programme_account(p.id, AccountKind::ExpiredValue)).expect("every programme has its accounts").balance();
                    ProgrammeRow {
                        id: p.id.0,
                        name: p.name.clone(),
                        balance_max: euros(p.limits.card_balance_cents_max, lang),
                        load_max: euros(p.limits.load_cents_max, lang),
                        offline_max: euros(p.limits.card_offline_cents_max, lang),
                        reversal_minutes: p.limits.reversal_window_ms / 60_000,
                        inactive: counts[0],
                        active: counts[1],
                        blocked: counts[2],
                        expired: counts[3],
                        liability: euros(vouchers.liability(t.ledger(), p.id), lang),
                        expired_value: euros(expired, lang),
                        accent: crate::vouchers::design::accent_text(p.design.accent_rgb),
                        tagline: p.design.tagline.clone(),
                    }
                })
                .collect()
        })
        .await?)
}

async fn render_overview(
    staff: &StaffSession,
    lang: Lang,
    created: bool,
    expiry: Option<(u32, String)>,
    error: Option<String>,
    fields: ProgrammeFields,
) -> Response {
    let programmes = match programme_rows(&staff.handle, lang).await {
        Ok(rows) => rows,
        Err(problem) => return problem.into_response(),
    };
    let f = frame(staff, lang, "overview");
    let page = OverviewPage {
        lang,
        t: lang.texts(),
        v: texts(lang),
        organizer: &staff.handle.name,
        slug: &staff.slug,
        nav_items: f.nav_items,
        nav_label: f.nav_label,
        csrf: f.csrf,
        key: f.key,
        programmes,
        created,
        expiry,
        error,
        fields,
    };
    html(&page, lang)
}

pub async fn overview(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    render_overview(&staff, lang, query.done.is_some(), None, None, ProgrammeFields::default()).await
}

pub async fn create_programme(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap, Form(form): Form<OfficeForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    let v = texts(lang);
    let fields = ProgrammeFields {
        name: form.name.clone(),
        balance_max: form.balance_max.clone(),
        load_max: form.load_max.clone(),
        offline_max: form.offline_max.clone(),
        reversal_minutes: form.reversal_minutes.clone(),
    };
    let amounts = (parse_euros(&form.balance_max), parse_euros(&form.load_max), parse_euros(&form.offline_max));
    let minutes = form.reversal_minutes.trim().parse::<i64>().ok().filter(|m| (0..=60 * 24 * 30).contains(m));
    let ((Some(balance), Some(load), Some(offline)), Some(minutes)) = (amounts, minutes) else {
        let error = if minutes.is_none() { v.e_limits } else { v.e_amount };
        return with_status(render_overview(&staff, lang, false, None, Some(error.to_string()), fields).await, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let path = format!("/{}/vouchers/programmes", staff.slug);
    let (b, l, o, m) = (balance.to_string(), load.to_string(), offline.to_string(), minutes.to_string());
    let Ok(idempotency) = form_idempotency(&staff, &form.key, &path, &[form.name.trim(), &b, &l, &o, &m]) else {
        return with_status(render_overview(&staff, lang, false, None, Some(v.e_form_key.to_string()), fields).await, StatusCode::BAD_REQUEST);
    };
    let input = api::ProgrammeIn {
        name: form.name.clone(),
        card_balance_cents_max: balance,
        load_cents_max: load,
        card_offline_cents_max: offline,
        reversal_window_secs: minutes * 60,
    };
    match api::create_programme_with(&staff.handle, idempotency, input).await {
        Ok(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/{}/vouchers?lang={}&done=1", staff.slug, lang.code()))]).into_response(),
        Err(problem) => {
            let error = refusal(lang, &problem);
            match refused(problem) {
                Ok(status) => with_status(render_overview(&staff, lang, false, None, Some(error), fields).await, status),
                Err(response) => response,
            }
        }
    }
}

/// The look of a programme's cards. Setting it twice is harmless (the last wins), so
/// the form needs no idempotency key.
pub async fn design_submit(
    staff: StaffSession,
    crate::http::extract::PathParams((_slug, programme)): crate::http::extract::PathParams<(String, u32)>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
    Form(form): Form<OfficeForm>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    let programme = sturmfest_core::ledger::ProgrammeId(programme);
    match api::set_design_with(&staff.handle, None, programme, &form.accent, &form.tagline).await {
        Ok(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/{}/vouchers?lang={}#programme-row-{}", staff.slug, lang.code(), programme.0))])
            .into_response(),
        Err(problem) => {
            let error = refusal(lang, &problem);
            match refused(problem) {
                Ok(status) => with_status(render_overview(&staff, lang, false, None, Some(error), ProgrammeFields::default()).await, status),
                Err(response) => response,
            }
        }
    }
}

pub async fn expire(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap, Form(form): Form<OfficeForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    let path = format!("/{}/vouchers/expiry", staff.slug);
    let Ok(idempotency) = form_idempotency(&staff, &form.key, &path, &[]) else {
        let error = texts(lang).e_form_key.to_string();
        return with_status(render_overview(&staff, lang, false, None, Some(error), ProgrammeFields::default()).await, StatusCode::BAD_REQUEST);
    };
    match api::expire_cards_with(&staff.handle, idempotency).await {
        Ok(out) => render_overview(&staff, lang, false, Some((out.cards, euros(core::Cents(out.value_cents), lang))), None, ProgrammeFields::default()).await,
        Err(problem) => problem.into_response(),
    }
}

// ----- cards: batches and look-up -----

pub struct BatchRow {
    pub id: u32,
    pub programme: String,
    pub medium: &'static str,
    pub cards: u32,
    pub issued_at: String,
}

pub struct BookingRow {
    pub at: String,
    pub what: &'static str,
    /// Signed, as it changed the card: `+25,00 €`, `-3,50 €`.
    pub amount: String,
    pub detail: String,
}

/// A found card as the page shows it. `code` is the code as printed (groups of
/// four), so the action forms can post it again.
pub struct FoundCard {
    pub code: String,
    pub programme: String,
    pub state: &'static str,
    pub state_code: &'static str,
    pub balance: String,
    pub valid_until: String,
    pub pin: bool,
    pub bookings: Vec<BookingRow>,
    pub bookings_more: usize,
}

#[derive(Template)]
#[template(path = "voucher_office_cards.html")]
struct CardsPage<'a> {
    lang: Lang,
    t: &'static Texts,
    v: &'static VoucherOfficeTexts,
    organizer: &'a str,
    slug: &'a str,
    nav_items: Vec<(String, &'static str, bool)>,
    nav_label: &'static str,
    csrf: String,
    key: String,
    programmes: Vec<(u32, String)>,
    batches: Vec<BatchRow>,
    found: Option<FoundCard>,
    /// The code typed into the look-up form, kept when it is refused.
    typed: String,
    done: Option<String>,
    error: Option<String>,
}

fn state_text(state: CardState, v: &VoucherOfficeTexts) -> &'static str {
    match state {
        CardState::Inactive => v.inactive,
        CardState::Active => v.active,
        CardState::Blocked(_) => v.blocked,
        CardState::Expired => v.expired,
    }
}

async fn batch_rows(handle: &TenantHandle, lang: Lang) -> Result<(Vec<(u32, String)>, Vec<BatchRow>), Problem> {
    let v = texts(lang);
    Ok(handle
        .shard
        .read(move |t| {
            let vouchers = t.vouchers();
            let programmes: Vec<(u32, String)> = vouchers.programmes().map(|p| (p.id.0, p.name.clone())).collect();
            // Batches are found through their cards (every batch has at least one);
            // a scan of the cards is fine for a clerk's page.
            let ids: std::collections::BTreeSet<core::vouchers::BatchId> = vouchers.cards().map(|c| c.batch).collect();
            let mut batches: Vec<(core::TimeMs, BatchRow)> = ids
                .into_iter()
                .filter_map(|id| vouchers.batch(id))
                .map(|b| (b.issued_at, BatchRow {
                    id: b.id.0,
                    programme: vouchers.programme(b.programme).map_or_else(String::new, |p| p.name.clone()),
                    medium: match b.medium {
                        CardMedium::Printed => v.printed,
                        CardMedium::Digital => v.digital,
                    },
                    cards: b.cards,
                    issued_at: date_time(b.issued_at, lang),
                }))
                .collect();
            // Newest first: the clerk looks for the run just printed.
            batches.sort_by_key(|(at, b)| std::cmp::Reverse((*at, b.id)));
            (programmes, batches.into_iter().map(|(_, b)| b).collect())
        })
        .await?)
}

/// The card and its bookings, newest first. Bookings are one journal for the whole
/// tenant; a look-up scans it once, which is fine for a clerk's click.
async fn found_card(handle: &TenantHandle, code: &str, lang: Lang) -> Result<FoundCard, Problem> {
    let card = api::find_card(handle, code).await?;
    let printed = crate::vouchers::codes::CardCode::parse(code).map(|c| c.grouped()).unwrap_or_default();
    let v = texts(lang);
    let found = handle
        .shard
        .read(move |t| {
            let vouchers = t.vouchers();
            let c = vouchers.card(card)?;
            let now = vouchers.now().max(core::TimeMs(crate::runtime::wall_clock_ms()));
            let state = vouchers.state_at(card, now)?;
            let balance = vouchers.balance(t.ledger(), card)?;
            // A payable account's id ends in its merchant's id (`payable_account`).
            let merchant_name = |account: core::ledger::AccountId| {
                let merchant = core::vouchers::MerchantId(account.0 as u32);
                (payable_account(c.programme, merchant) == account)
                    .then(|| vouchers.merchant(merchant))
                    .flatten()
                    .map(|m| format!("{} {}", v.merchant, m.name))
            };
            let mut rows: Vec<BookingRow> = Vec::new();
            let mine: Vec<&core::vouchers::Booking> = vouchers.bookings().iter().filter(|b| b.card == card).collect();
            let more = mine.len().saturating_sub(card_bookings_shown_max);
            for b in mine.iter().rev().take(card_bookings_shown_max) {
                let transfer = t.ledger().transfer(b.transfer);
                let detail = match (&b.paid_via, b.kind) {
                    (Some(PaidVia::Cash { sales_point }), _) => format!("{} {}", v.cash_at, sales_point.0),
                    (Some(PaidVia::Provider { reference }), _) => format!("{}: {reference}", v.reference),
                    (None, BookingKind::Redemption) => transfer.and_then(|tr| merchant_name(tr.credit)).unwrap_or_default(),
                    (None, BookingKind::Reversal) => transfer.and_then(|tr| merchant_name(tr.debit)).unwrap_or_default(),
                    _ => String::new(),
                };
                let what = match b.kind {
                    BookingKind::Activation => v.k_activation,
                    BookingKind::Load => v.k_load,
                    BookingKind::Redemption => v.k_redemption,
                    BookingKind::Reversal => v.k_reversal,
                    BookingKind::Refund => v.k_refund,
                    BookingKind::MoveOut => v.k_move_out,
                    BookingKind::MoveIn => v.k_move_in,
                    BookingKind::Expiry => v.k_expiry,
                    BookingKind::OfflineRedemption => v.k_offline,
                };
                let sign = if b.kind.credits_card() { "+" } else { "-" };
                rows.push(BookingRow { at: date_time(b.at, lang), what, amount: format!("{sign}{}", euros(b.amount, lang)), detail });
            }
            Some(FoundCard {
                code: printed,
                programme: vouchers.programme(c.programme).map_or_else(String::new, |p| p.name.clone()),
                state: state_text(state, v),
                state_code: state.code(),
                // An expired card's value is booked away; before the booking command
                // runs the ledger still holds it, but the holder can no longer use it.
                balance: euros(if state == CardState::Expired { core::Cents::ZERO } else { balance }, lang),
                valid_until: c.expires_at.map_or_else(|| v.not_sold.to_string(), |e| super::card::last_valid_day(e, lang)),
                pin: c.pin_digest.is_some(),
                bookings: rows,
                bookings_more: more,
            })
        })
        .await?;
    found.ok_or_else(|| Problem::from_rejection(&core::Rejection::Voucher(core::vouchers::VoucherRejection::UnknownCard)))
}

struct CardsView {
    found: Option<FoundCard>,
    typed: String,
    done: Option<String>,
    error: Option<String>,
}

async fn render_cards(staff: &StaffSession, lang: Lang, view: CardsView) -> Response {
    let (programmes, batches) = match batch_rows(&staff.handle, lang).await {
        Ok(rows) => rows,
        Err(problem) => return problem.into_response(),
    };
    let f = frame(staff, lang, "cards");
    let page = CardsPage {
        lang,
        t: lang.texts(),
        v: texts(lang),
        organizer: &staff.handle.name,
        slug: &staff.slug,
        nav_items: f.nav_items,
        nav_label: f.nav_label,
        csrf: f.csrf,
        key: f.key,
        programmes,
        batches,
        found: view.found,
        typed: view.typed,
        done: view.done,
        error: view.error,
    };
    html(&page, lang)
}

pub async fn cards(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    render_cards(&staff, lang, CardsView { found: None, typed: String::new(), done: None, error: None }).await
}

/// A refused card form: the page again with the clerk's sentence and the problem's
/// status, the found card kept when there is one.
async fn cards_refused(staff: &StaffSession, lang: Lang, problem: Problem, code: &str) -> Response {
    let error = refusal(lang, &problem);
    let status = match refused(problem) {
        Ok(status) => status,
        Err(response) => return response,
    };
    let found = found_card(&staff.handle, code, lang).await.ok();
    let typed = if found.is_some() { String::new() } else { code.to_string() };
    with_status(render_cards(staff, lang, CardsView { found, typed, done: None, error: Some(error) }).await, status)
}

/// `;`-separated, with a byte-order mark so spreadsheet programs read it as UTF-8.
/// Codes and PINs are letters and digits only, so nothing needs quoting.
pub fn batch_csv(batch: &api::BatchOut) -> String {
    let mut out = String::from("\u{feff}code;pin\r\n");
    for card in &batch.cards {
        out.push_str(&card.code);
        out.push(';');
        out.push_str(card.pin.as_deref().unwrap_or(""));
        out.push_str("\r\n");
    }
    out
}

pub async fn issue_batch(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap, Form(form): Form<OfficeForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    let v = texts(lang);
    let fail = |error: &'static str| CardsView { found: None, typed: String::new(), done: None, error: Some(error.to_string()) };
    let Some(count) = form.count.trim().parse::<u32>().ok().filter(|c| (1..=batch_cards_max as u32).contains(c)) else {
        return with_status(render_cards(&staff, lang, fail(v.e_batch_size)).await, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let Ok(programme) = form.programme.trim().parse::<u32>() else {
        return with_status(render_cards(&staff, lang, fail(v.e_programme)).await, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let pin = !form.pin.is_empty();
    let path = format!("/{}/vouchers/programmes/{programme}/batches", staff.slug);
    let (count_text, pin_text) = (count.to_string(), pin.to_string());
    let Ok(idempotency) = form_idempotency(&staff, &form.key, &path, &[&count_text, &pin_text]) else {
        return with_status(render_cards(&staff, lang, fail(v.e_form_key)).await, StatusCode::BAD_REQUEST);
    };
    let input = api::BatchIn { count, medium: "printed".to_string(), pin };
    match api::issue_batch_with(&staff.handle, idempotency, programme, input).await {
        Ok(batch) => {
            let mut response = batch_csv(&batch).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            let disposition = format!("attachment; filename=\"cards-batch-{}.csv\"", batch.batch);
            headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("ascii"));
            // The codes exist only in this response: no cache may keep them.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(problem) => {
            let error = refusal(lang, &problem);
            match refused(problem) {
                Ok(status) => with_status(render_cards(&staff, lang, CardsView { found: None, typed: String::new(), done: None, error: Some(error) }).await, status),
                Err(response) => response,
            }
        }
    }
}

pub async fn lookup(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap, Form(form): Form<OfficeForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    match found_card(&staff.handle, &form.code, lang).await {
        Ok(found) => render_cards(&staff, lang, CardsView { found: Some(found), typed: String::new(), done: None, error: None }).await,
        Err(problem) => cards_refused(&staff, lang, problem, &form.code).await,
    }
}

/// Block, move or refund the card named by `code`; the page shows the card after.
pub async fn card_action(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap, Form(form): Form<OfficeForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    let v = texts(lang);
    let h = &staff.handle;
    let base = format!("/{}/vouchers/cards", staff.slug);
    let key_refused = || Problem::bad_request("form_key_invalid", v.e_form_key);
    let outcome: Result<String, Problem> = match form.action.as_str() {
        "block" => match form_idempotency(&staff, &form.key, &format!("{base}/block"), &[&form.code]) {
            Ok(idempotency) => api::block_card_with(h, idempotency, &form.code).await.map(|_| v.blocked_done.to_string()),
            Err(()) => Err(key_refused()),
        },
        "move" => match form_idempotency(&staff, &form.key, &format!("{base}/move"), &[&form.code, &form.to]) {
            Ok(idempotency) => api::move_balance_with(h, idempotency, &form.code, &form.to)
                .await
                .map(|moved| format!("{}: {}", v.moved_done, euros(core::Cents(moved.amount_cents), lang))),
            Err(()) => Err(key_refused()),
        },
        "refund" => match parse_euros(&form.amount) {
            None => Err(Problem::from_rejection(&core::Rejection::Voucher(core::vouchers::VoucherRejection::AmountInvalid))),
            Some(cents) => {
                let amount = cents.to_string();
                match form_idempotency(&staff, &form.key, &format!("{base}/refund"), &[&form.code, &amount, form.reference.trim()]) {
                    Ok(idempotency) => api::refund_card_with(h, idempotency, &form.code, cents, &form.reference)
                        .await
                        .map(|r| format!("{}: {}", v.refunded_done, euros(core::Cents(r.amount_cents), lang))),
                    Err(()) => Err(key_refused()),
                }
            }
        },
        _ => Err(Problem::bad_request("action_invalid", "action is block, move or refund")),
    };
    match outcome {
        Ok(done) => match found_card(h, &form.code, lang).await {
            Ok(found) => render_cards(&staff, lang, CardsView { found: Some(found), typed: String::new(), done: Some(done), error: None }).await,
            Err(problem) => problem.into_response(),
        },
        Err(problem) => cards_refused(&staff, lang, problem, &form.code).await,
    }
}

// ----- the counter -----

/// What the counter shows after a sale or load.
pub struct CounterResult {
    pub what: &'static str,
    pub code: String,
    pub balance: String,
    pub valid_until: String,
}

#[derive(Template)]
#[template(path = "voucher_office_counter.html")]
struct CounterPage<'a> {
    lang: Lang,
    t: &'static Texts,
    v: &'static VoucherOfficeTexts,
    organizer: &'a str,
    slug: &'a str,
    nav_items: Vec<(String, &'static str, bool)>,
    nav_label: &'static str,
    csrf: String,
    key: String,
    result: Option<CounterResult>,
    error: Option<String>,
    /// The sales point stays filled in for the next customer.
    sales_point: String,
}

fn render_counter(staff: &StaffSession, lang: Lang, result: Option<CounterResult>, error: Option<String>, sales_point: String) -> Response {
    let f = frame(staff, lang, "counter");
    let page = CounterPage {
        lang,
        t: lang.texts(),
        v: texts(lang),
        organizer: &staff.handle.name,
        slug: &staff.slug,
        nav_items: f.nav_items,
        nav_label: f.nav_label,
        csrf: f.csrf,
        key: f.key,
        result,
        error,
        sales_point,
    };
    html(&page, lang)
}

pub async fn counter(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate(&staff, &headers) {
        return r;
    }
    render_counter(&staff, lang, None, None, String::new())
}

/// Sell (`action=sell`: activate a printed card) or load (`action=load`), paid in
/// cash at a sales point or by card with the terminal's receipt number.
pub async fn counter_submit(staff: StaffSession, Query(query): Query<PageQuery>, headers: HeaderMap, Form(form): Form<OfficeForm>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    if let Err(r) = gate_form(&staff, &headers, &form.csrf) {
        return r;
    }
    let v = texts(lang);
    let sales_point = form.sales_point.trim().to_string();
    let refuse = |status: StatusCode, error: String| with_status(render_counter(&staff, lang, None, Some(error), sales_point.clone()), status);
    let Some(cents) = parse_euros(&form.amount) else { return refuse(StatusCode::UNPROCESSABLE_ENTITY, v.e_amount.to_string()) };
    let paid_via = match form.paid.as_str() {
        "card" if !form.reference.trim().is_empty() => api::PaidViaIn { sales_point: None, provider_reference: Some(form.reference.trim().to_string()) },
        "cash" => match sales_point.parse::<u32>() {
            Ok(point) => api::PaidViaIn { sales_point: Some(point), provider_reference: None },
            Err(_) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, v.e_sales_point.to_string()),
        },
        _ => return refuse(StatusCode::UNPROCESSABLE_ENTITY, v.e_sales_point.to_string()),
    };
    let sell = match form.action.as_str() {
        "sell" => true,
        "load" => false,
        _ => return refuse(StatusCode::BAD_REQUEST, v.e_form_key.to_string()),
    };
    let path = format!("/{}/vouchers/cards/{}", staff.slug, if sell { "activate" } else { "load" });
    let cents_text = cents.to_string();
    let paid_text = format!("{:?}/{:?}", paid_via.sales_point, paid_via.provider_reference);
    let Ok(idempotency) = form_idempotency(&staff, &form.key, &path, &[&form.code, &cents_text, &paid_text]) else {
        return refuse(StatusCode::BAD_REQUEST, v.e_form_key.to_string());
    };
    let input = api::CardMoneyIn { code: form.code.clone(), amount_cents: cents, paid_via };
    let outcome = if sell {
        api::activate_card_with(&staff.handle, idempotency, input).await
    } else {
        api::load_card_with(&staff.handle, idempotency, input).await
    };
    match outcome {
        Ok(card) => {
            let expires_at = card.expires_at.as_deref().and_then(|at| at.parse::<jiff::Timestamp>().ok());
            let valid_until = match expires_at {
                Some(at) => super::card::last_valid_day(core::TimeMs(at.as_millisecond()), lang),
                None => v.not_sold.to_string(),
            };
            let result = CounterResult {
                what: if sell { v.sold_done } else { v.loaded_done },
                code: crate::vouchers::codes::CardCode::parse(&form.code).map(|c| c.grouped()).unwrap_or_default(),
                balance: euros(core::Cents(card.balance_cents), lang),
                valid_until,
            };
            render_counter(&staff, lang, Some(result), None, sales_point)
        }
        Err(problem) => {
            let error = refusal(lang, &problem);
            match refused(problem) {
                Ok(status) => refuse(status, error),
                Err(response) => response,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voucher_amount_is_a_positive_euro_amount() {
        // The reading itself is `format::parse_euros`'s (tested there); the office
        // refuses nothing as an amount too.
        assert_eq!(parse_euros("25,00"), Some(2_500));
        assert_eq!(parse_euros("2.500,00"), Some(250_000));
        for text in ["0", "0,00", "12,345", "-5"] {
            assert_eq!(parse_euros(text), None, "{text:?}");
        }
    }

    #[test]
    fn the_batch_file_has_a_bom_a_header_and_one_line_per_card() {
        let batch = api::BatchOut {
            batch: 7,
            programme: 1,
            medium: "printed".into(),
            cards: vec![
                api::IssuedCardOut { code: "ABCD-EFGH".into(), pin: Some("0042".into()) },
                api::IssuedCardOut { code: "JKMN-PQRS".into(), pin: None },
            ],
        };
        assert_eq!(batch_csv(&batch), "\u{feff}code;pin\r\nABCD-EFGH;0042\r\nJKMN-PQRS;\r\n");
    }
}
