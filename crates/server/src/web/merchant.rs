//! The merchant redemption page, `/{tenant}/merchant`: a shop's till in the browser
//! that keeps redeeming city vouchers when the node is unreachable (docs/OFFLINE.md,
//! docs/MERCHANT.md). The page is a static shell; `assets/merchant.js` does the work
//! with WebCrypto and IndexedDB: it enrols an Ed25519 key with the office's pairing
//! code, signs every device call exactly as `vouchers/device.rs` does, redeems online
//! as the device, and offline checks the card's balance certificate against the
//! tenant's cached keys, journals the redemption and syncs the journal once when the
//! node answers again. A service worker (`assets/merchant-sw.js`, served at
//! `/{tenant}/merchant-sw.js` so its scope covers the page) keeps the page and its
//! script loadable while the node is down. The page adds no rule of its own: the
//! node decides online, and offline the script applies the same limits as the Rust
//! device.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::i18n::Lang;
use super::{LangQuery, assets};
use crate::http::AppState;
use crate::http::extract::PathParams;

/// The page's texts. A struct of its own so a missing translation is a compile error.
pub struct MerchantTexts {
    pub title: &'static str,
    pub switch_to: &'static str,
    pub intro: &'static str,
    pub enrol_heading: &'static str,
    pub pairing_code: &'static str,
    pub pairing_help: &'static str,
    pub programme: &'static str,
    pub allowance: &'static str,
    pub allowance_help: &'static str,
    pub enrol_button: &'static str,
    pub redeem_heading: &'static str,
    pub card: &'static str,
    pub card_help: &'static str,
    pub scan: &'static str,
    pub amount: &'static str,
    pub amount_help: &'static str,
    pub pin: &'static str,
    pub pin_help: &'static str,
    pub redeem_button: &'static str,
    pub check_button: &'static str,
    pub sync_button: &'static str,
    pub noscript: &'static str,
    pub times_note: &'static str,
    // Texts the script shows.
    pub enrolling: &'static str,
    pub enrolled: &'static str,
    pub online_ready: &'static str,
    pub redeemed: &'static str,
    pub rest_paid_otherwise: &'static str,
    pub balance: &'static str,
    pub qr_text: &'static str,
    pub offline_redeemed: &'static str,
    pub offline_status: &'static str,
    pub synced: &'static str,
    pub nothing_to_sync: &'static str,
    pub amount_invalid: &'static str,
    pub no_allowance: &'static str,
    pub allowance_expired: &'static str,
    pub not_a_qr: &'static str,
    pub certificate_bad: &'static str,
    pub other_programme: &'static str,
    pub revoked: &'static str,
    pub over_cap: &'static str,
    pub over_balance: &'static str,
    pub over_allowance: &'static str,
    pub webcrypto_missing: &'static str,
    pub error: &'static str,
    /// Problem codes of the device calls, in the till's words.
    pub problems: &'static [(&'static str, &'static str)],
}

pub static DE: MerchantTexts = MerchantTexts {
    title: "Gutscheine einlösen",
    switch_to: "English",
    intro: "Kasse für Stadtgutscheine. Funktioniert auch ohne Verbindung zum Server, im Rahmen des Offline-Kontingents.",
    enrol_heading: "Gerät anmelden",
    pairing_code: "Kopplungscode",
    pairing_help: "Den Code bekommen Sie vom Gutscheinbüro. Er gilt einmal und 24 Stunden.",
    programme: "Gutscheinprogramm (Nummer)",
    allowance: "Offline-Kontingent in Euro",
    allowance_help: "So viel darf dieses Gerät ohne Verbindung einlösen.",
    enrol_button: "Gerät anmelden",
    redeem_heading: "Einlösen",
    card: "Karte (QR-Text oder Code)",
    card_help: "QR-Code scannen oder den Code von der Karte eintippen.",
    scan: "Mit der Kamera scannen",
    amount: "Betrag in Euro",
    amount_help: "Zum Beispiel 12,50",
    pin: "PIN (falls die Karte eine hat)",
    pin_help: "Ohne Verbindung wird keine PIN geprüft.",
    redeem_button: "Einlösen",
    check_button: "Guthaben prüfen",
    sync_button: "Jetzt abgleichen",
    noscript: "Diese Kasse braucht JavaScript.",
    times_note: "Zeiten in deutscher Zeit (Europe/Berlin).",
    enrolling: "Gerät wird angemeldet …",
    enrolled: "Gerät {device} ist angemeldet.",
    online_ready: "Online. Offline-Kontingent: {left}.",
    redeemed: "{amount} eingelöst, {left} bleiben auf der Karte.",
    rest_paid_otherwise: "Den Rest der Rechnung bitte anders bezahlen lassen.",
    balance: "Guthaben: {balance}.",
    qr_text: "QR-Text der Karte",
    offline_redeemed: "Offline: {amount} eingelöst.",
    offline_status: "Offline — {n} abzugleichen, {left} Kontingent übrig.",
    synced: "Abgeglichen: {booked} gebucht, {refused} abgelehnt, {duplicates} schon bekannt.",
    nothing_to_sync: "Nichts abzugleichen.",
    amount_invalid: "Bitte einen Betrag über 0 eingeben, z. B. 12,50.",
    no_allowance: "Ohne Verbindung geht es nicht: dieses Gerät hat kein Offline-Kontingent.",
    allowance_expired: "Das Offline-Kontingent ist abgelaufen. Bitte wieder verbinden.",
    not_a_qr: "Ohne Verbindung braucht es den QR-Code der Karte (oder vorher einmal „Guthaben prüfen“).",
    certificate_bad: "Der QR-Code ist ungültig oder abgelaufen.",
    other_programme: "Die Karte gehört zu einem anderen Programm.",
    revoked: "Die Karte ist gesperrt.",
    over_cap: "Zu viel für ohne Verbindung: höchstens noch {left} von dieser Karte.",
    over_balance: "Mehr als das Guthaben der Karte: höchstens noch {left}.",
    over_allowance: "Mehr als das Offline-Kontingent: höchstens noch {left}.",
    webcrypto_missing: "Dieser Browser kann keine Ed25519-Schlüssel erzeugen.",
    error: "Das hat nicht geklappt. Bitte noch einmal versuchen.",
    problems: &[
        ("pairing_code_invalid", "Der Kopplungscode ist falsch oder abgelaufen."),
        ("device_exists", "Mit diesem Code ist schon ein anderes Gerät angemeldet."),
        ("unknown_card", "Diese Karte gibt es nicht."),
        ("code_invalid", "Der Code ist nicht richtig eingetippt."),
        ("insufficient_balance", "Das Guthaben der Karte reicht nicht."),
        ("pin_wrong", "Die PIN ist falsch."),
        ("pin_required", "Diese Karte braucht eine PIN."),
        ("pin_invalid", "Eine PIN hat 4 bis 6 Ziffern."),
        ("card_blocked", "Die Karte ist gesperrt."),
        ("card_not_active", "Die Karte ist noch nicht freigeschaltet."),
        ("merchant_not_accepted", "Ihr Geschäft nimmt an diesem Programm nicht teil."),
        ("device_revoked", "Dieses Gerät ist gesperrt."),
        ("device_bad_signature", "Das Gerät ist nicht (mehr) angemeldet."),
        ("device_clock_skew", "Die Uhr des Geräts geht falsch."),
        ("risk_bound_reached", "Das Offline-Kontingent des Programms ist ausgeschöpft."),
        ("allowance_open", "Dieses Gerät hat schon ein offenes Kontingent."),
        ("amount_invalid", "Der Betrag ist nicht zulässig."),
    ],
};

pub static EN: MerchantTexts = MerchantTexts {
    title: "Redeem vouchers",
    switch_to: "Deutsch",
    intro: "Till for city vouchers. Keeps working without a connection to the server, within its offline allowance.",
    enrol_heading: "Enrol this device",
    pairing_code: "Pairing code",
    pairing_help: "The voucher office gives you the code. It works once, for 24 hours.",
    programme: "Voucher programme (number)",
    allowance: "Offline allowance in euros",
    allowance_help: "What this device may redeem without a connection.",
    enrol_button: "Enrol device",
    redeem_heading: "Redeem",
    card: "Card (QR text or code)",
    card_help: "Scan the QR code or type the code printed on the card.",
    scan: "Scan with the camera",
    amount: "Amount in euros",
    amount_help: "For example 12.50",
    pin: "PIN (if the card has one)",
    pin_help: "No PIN is checked without a connection.",
    redeem_button: "Redeem",
    check_button: "Check balance",
    sync_button: "Sync now",
    noscript: "This till needs JavaScript.",
    times_note: "Times in German time (Europe/Berlin).",
    enrolling: "Enrolling the device …",
    enrolled: "Device {device} is enrolled.",
    online_ready: "Online. Offline allowance: {left}.",
    redeemed: "{amount} redeemed, {left} left on the card.",
    rest_paid_otherwise: "The rest of the bill is paid otherwise.",
    balance: "Balance: {balance}.",
    qr_text: "Card QR text",
    offline_redeemed: "Offline: {amount} redeemed.",
    offline_status: "Offline — {n} to sync, {left} allowance left.",
    synced: "Synced: {booked} booked, {refused} refused, {duplicates} already known.",
    nothing_to_sync: "Nothing to sync.",
    amount_invalid: "Please enter an amount above 0, e.g. 12.50.",
    no_allowance: "Not possible without a connection: this device holds no offline allowance.",
    allowance_expired: "The offline allowance has expired. Please reconnect.",
    not_a_qr: "Without a connection the card's QR code is needed (or use “Check balance” once before).",
    certificate_bad: "The QR code is not valid or has expired.",
    other_programme: "The card belongs to another programme.",
    revoked: "The card is blocked.",
    over_cap: "Too much for offline: at most {left} more from this card.",
    over_balance: "More than the card's balance: at most {left} more.",
    over_allowance: "More than the offline allowance: at most {left} more.",
    webcrypto_missing: "This browser cannot create Ed25519 keys.",
    error: "That did not work. Please try again.",
    problems: &[
        ("pairing_code_invalid", "The pairing code is wrong or has expired."),
        ("device_exists", "Another device is already enrolled with this code."),
        ("unknown_card", "There is no such card."),
        ("code_invalid", "The code is not typed correctly."),
        ("insufficient_balance", "The card's balance is not enough."),
        ("pin_wrong", "The PIN is wrong."),
        ("pin_required", "This card needs a PIN."),
        ("pin_invalid", "A PIN has 4 to 6 digits."),
        ("card_blocked", "The card is blocked."),
        ("card_not_active", "The card is not activated yet."),
        ("merchant_not_accepted", "Your shop is not part of this programme."),
        ("device_revoked", "This device is revoked."),
        ("device_bad_signature", "This device is not (or no longer) enrolled."),
        ("device_clock_skew", "The device's clock is wrong."),
        ("risk_bound_reached", "The programme's offline allowance is used up."),
        ("allowance_open", "This device already holds an open allowance."),
        ("amount_invalid", "The amount is not allowed."),
    ],
};

fn texts(lang: Lang) -> &'static MerchantTexts {
    match lang {
        Lang::De => &DE,
        Lang::En => &EN,
    }
}

/// Escapes text for HTML content and attribute values.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The texts the script shows, as JSON safe inside `<script type="application/json">`.
fn script_config(slug: &str, lang: Lang, t: &MerchantTexts) -> String {
    let problems: serde_json::Map<String, serde_json::Value> = t.problems.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect();
    let config = serde_json::json!({
        "tenant": slug,
        "lang": lang.code(),
        "sw": format!("/{slug}/merchant-sw.js"),
        "texts": {
            "enrolling": t.enrolling, "enrolled": t.enrolled, "online_ready": t.online_ready, "redeemed": t.redeemed,
            "rest_paid_otherwise": t.rest_paid_otherwise, "balance": t.balance, "qr_text": t.qr_text,
            "offline_redeemed": t.offline_redeemed, "offline_status": t.offline_status, "synced": t.synced,
            "nothing_to_sync": t.nothing_to_sync, "amount_invalid": t.amount_invalid, "no_allowance": t.no_allowance,
            "allowance_expired": t.allowance_expired, "not_a_qr": t.not_a_qr, "certificate_bad": t.certificate_bad,
            "other_programme": t.other_programme, "revoked": t.revoked, "over_cap": t.over_cap,
            "over_balance": t.over_balance, "over_allowance": t.over_allowance, "webcrypto_missing": t.webcrypto_missing,
            "error": t.error, "problems": problems,
        },
    });
    serde_json::to_string(&config).expect("json").replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// The till page. It does not read the tenant's state: everything it shows comes
/// from the device calls, so the same shell works from the service worker's cache.
pub async fn page(State(state): State<AppState>, PathParams(slug): PathParams<String>, Query(query): Query<LangQuery>, headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let Some(handle) = state.tenants.get(&slug) else { return super::not_found(lang, &headers) };
    let t = texts(lang);
    let other = lang.other().code();
    let body = format!(
        r##"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – {organizer}</title>
<style>
:root {{ --ink: #14202b; --muted: #4a5a68; --line: #d5dde4; --accent: #0b5394; --warn: #8a1c1c; --ok: #1d6b35; }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; font: 17px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f6f8fa; }}
header, main, footer {{ max-width: 40rem; margin: 0 auto; padding: 0.75rem 1rem; }}
header {{ display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; }}
header a {{ color: var(--accent); }}
h1 {{ font-size: 1.4rem; margin: 0.5rem 0; }}
h2 {{ font-size: 1.15rem; margin: 0 0 0.25rem; }}
.card {{ background: #fff; border: 1px solid var(--line); border-radius: 0.5rem; padding: 0.9rem 1rem; margin: 0.75rem 0; }}
.help {{ color: var(--muted); margin: 0.1rem 0 0.4rem; font-size: 0.9rem; }}
label {{ display: block; font-weight: 600; margin: 0.6rem 0 0.2rem; }}
input {{ width: 100%; font: inherit; padding: 0.7rem; border: 1px solid var(--muted); border-radius: 0.4rem; }}
button {{ font: inherit; font-weight: 600; margin: 0.6rem 0.4rem 0.2rem 0; padding: 0.75rem 1.1rem; min-height: 2.75rem; border: 0; border-radius: 0.4rem; background: var(--accent); color: #fff; cursor: pointer; }}
button.secondary {{ background: #fff; color: var(--accent); border: 2px solid var(--accent); }}
button[disabled] {{ opacity: 0.6; cursor: progress; }}
a:focus-visible, button:focus-visible, input:focus-visible {{ outline: 3px solid var(--accent); outline-offset: 2px; }}
.status {{ font-weight: 600; }}
.status.offline {{ color: var(--warn); }}
.ok {{ border-left: 4px solid var(--ok); padding: 0.5rem 0.75rem; background: #f0f8f2; }}
.bad {{ border-left: 4px solid var(--warn); padding: 0.5rem 0.75rem; background: #fff4f4; }}
code {{ display: block; overflow-wrap: anywhere; font-size: 0.75rem; color: var(--muted); }}
footer {{ color: var(--muted); font-size: 0.875rem; }}
[hidden] {{ display: none !important; }}
</style>
</head>
<body>
<header><strong>{organizer}</strong><a href="?lang={other}" hreflang="{other}" lang="{other}">{switch_to}</a></header>
<main>
<h1>{title}</h1>
<p class="help">{intro}</p>
<noscript><p class="bad">{noscript}</p></noscript>
<p id="status" class="status" role="status" aria-live="polite"></p>
<div id="result" role="alert" aria-live="assertive"></div>
<section id="enrol" class="card" hidden aria-labelledby="enrol-h">
<h2 id="enrol-h">{enrol_heading}</h2>
<form id="enrol-form" novalidate>
<label for="pairing">{pairing_code}</label>
<p class="help" id="pairing-help">{pairing_help}</p>
<input id="pairing" name="pairing" autocomplete="off" autocapitalize="off" spellcheck="false" required aria-describedby="pairing-help">
<label for="programme">{programme}</label>
<input id="programme" name="programme" inputmode="numeric" value="1" required>
<label for="allowance">{allowance}</label>
<p class="help" id="allowance-help">{allowance_help}</p>
<input id="allowance" name="allowance" inputmode="decimal" value="50,00" aria-describedby="allowance-help">
<button type="submit">{enrol_button}</button>
</form>
</section>
<section id="redeem" class="card" hidden aria-labelledby="redeem-h">
<h2 id="redeem-h">{redeem_heading}</h2>
<form id="redeem-form" novalidate>
<label for="card">{card}</label>
<p class="help" id="card-help">{card_help}</p>
<input id="card" name="card" autocomplete="off" autocapitalize="characters" spellcheck="false" required aria-describedby="card-help">
<button type="button" id="scan" class="secondary" hidden>{scan}</button>
<video id="camera" hidden playsinline muted width="320" height="240"></video>
<label for="amount">{amount}</label>
<p class="help" id="amount-help">{amount_help}</p>
<input id="amount" name="amount" inputmode="decimal" autocomplete="off" required aria-describedby="amount-help">
<label for="pin">{pin}</label>
<p class="help" id="pin-help">{pin_help}</p>
<input id="pin" name="pin" inputmode="numeric" autocomplete="off" type="password" aria-describedby="pin-help">
<button type="submit" id="redeem-button">{redeem_button}</button>
<button type="button" id="check" class="secondary">{check_button}</button>
<button type="button" id="sync" class="secondary">{sync_button}</button>
</form>
</section>
</main>
<footer>{times_note}</footer>
<script type="application/json" id="merchant-config">{config}</script>
<script src="{js}" defer></script>
</body>
</html>"##,
        lang = lang.code(),
        title = esc(t.title),
        organizer = esc(&handle.name),
        other = other,
        switch_to = esc(t.switch_to),
        intro = esc(t.intro),
        noscript = esc(t.noscript),
        enrol_heading = esc(t.enrol_heading),
        pairing_code = esc(t.pairing_code),
        pairing_help = esc(t.pairing_help),
        programme = esc(t.programme),
        allowance = esc(t.allowance),
        allowance_help = esc(t.allowance_help),
        enrol_button = esc(t.enrol_button),
        redeem_heading = esc(t.redeem_heading),
        card = esc(t.card),
        card_help = esc(t.card_help),
        scan = esc(t.scan),
        amount = esc(t.amount),
        amount_help = esc(t.amount_help),
        pin = esc(t.pin),
        pin_help = esc(t.pin_help),
        redeem_button = esc(t.redeem_button),
        check_button = esc(t.check_button),
        sync_button = esc(t.sync_button),
        times_note = esc(t.times_note),
        config = script_config(&slug, lang, t),
        js = assets::path("merchant.js"),
    );
    let mut response = Html(body).into_response();
    response.headers_mut().insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-language"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The service worker, under the tenant's path so its scope (`/{tenant}/`) covers
/// the page. Not hashed: a browser checks it for updates itself; `no-cache` makes
/// it ask every time.
pub async fn service_worker(State(state): State<AppState>, PathParams(slug): PathParams<String>) -> Response {
    if state.tenants.get(&slug).is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let body = include_str!("../../assets/merchant-sw.js").replace("__MERCHANT_JS__", assets::path("merchant.js"));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
