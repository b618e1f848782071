//! The two languages of every page, German first. A page's language comes from
//! `?lang=de|en`, else the browser's `Accept-Language`, else German — no cookie,
//! so the waiting room needs none beyond its queue token.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT_LANGUAGE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::De => Lang::En,
            Lang::En => Lang::De,
        }
    }

    /// `?lang=` wins; then the first of de/en in `Accept-Language` by q-value.
    pub fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Lang {
        match query {
            Some("de") => return Lang::De,
            Some("en") => return Lang::En,
            _ => {}
        }
        let Some(header) = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else { return Lang::De };
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',').take(16) {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
                .unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("de") => Lang::De,
                Some("en") => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::De, |(_, lang)| lang)
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::De => &DE,
            Lang::En => &EN,
        }
    }
}

/// Every fixed text of the pages. One struct, so a missing translation is a
/// compile error, not a blank on the page.
pub struct Texts {
    pub language_name: &'static str,
    pub switch_to: &'static str,
    pub games: &'static str,
    pub no_games: &'static str,
    pub free_of: &'static str,
    pub from_price: &'static str,
    pub sale_draft: &'static str,
    pub sale_open: &'static str,
    pub sale_paused: &'static str,
    pub sale_closed: &'static str,
    pub sale_opens: &'static str,
    pub sold_out: &'static str,
    pub resume_at: &'static str,
    pub category: &'static str,
    pub price: &'static str,
    pub available: &'static str,
    pub seated: &'static str,
    pub standing: &'static str,
    pub back: &'static str,
    pub times_note: &'static str,
    pub not_found: &'static str,
    pub queue_link: &'static str,
    pub queue_title: &'static str,
    pub queue_intro: &'static str,
    pub noscript: &'static str,
    pub no_room: &'static str,
    pub step_identity: &'static str,
    pub email_label: &'static str,
    pub email_button: &'static str,
    pub code_sent: &'static str,
    pub code_label: &'static str,
    pub code_button: &'static str,
    pub other_email: &'static str,
    pub mail_unavailable: &'static str,
    pub email_invalid: &'static str,
    pub code_wrong: &'static str,
    pub too_many: &'static str,
    pub step_join: &'static str,
    pub identity_held: &'static str,
    pub join_button: &'static str,
    pub pow_progress: &'static str,
    pub phase_not_yet_open: &'static str,
    pub phase_pre_queue: &'static str,
    pub phase_drawing: &'static str,
    pub phase_admitting: &'static str,
    pub phase_paused: &'static str,
    pub phase_sold_out: &'static str,
    pub place_pre_queue: &'static str,
    pub place_waiting: &'static str,
    pub place_admitted: &'static str,
    pub place_done: &'static str,
    pub place_expired: &'static str,
    pub place_sold_out: &'static str,
    pub position: &'static str,
    pub estimate: &'static str,
    pub estimate_less: &'static str,
    pub estimate_one: &'static str,
    pub estimate_minutes: &'static str,
    pub estimate_unknown: &'static str,
    pub rate: &'static str,
    pub rate_per_minute: &'static str,
    pub in_line: &'static str,
    pub admitted_until: &'static str,
    pub to_shop: &'static str,
    pub admission_held: &'static str,
    pub busy: &'static str,
    pub offline: &'static str,
    pub error: &'static str,
    pub updated: &'static str,
    /// After a clock time: " Uhr" in German, nothing in English.
    pub time_suffix: &'static str,
}

pub static DE: Texts = Texts {
    language_name: "Deutsch",
    switch_to: "English",
    games: "Spiele",
    no_games: "Derzeit sind keine Spiele angesetzt.",
    free_of: "frei von",
    from_price: "ab",
    sale_draft: "Noch nicht im Verkauf",
    sale_open: "Im Verkauf",
    sale_paused: "Verkauf angehalten",
    sale_closed: "Verkauf beendet",
    sale_opens: "Verkaufsstart",
    sold_out: "Ausverkauft",
    resume_at: "Weiter voraussichtlich",
    category: "Kategorie",
    price: "Preis",
    available: "Frei",
    seated: "Sitzplatz",
    standing: "Stehplatz",
    back: "Alle Spiele",
    times_note: "Alle Zeiten in deutscher Zeit (Europe/Berlin).",
    not_found: "Diese Seite gibt es nicht.",
    queue_link: "Zum Warteraum",
    queue_title: "Warteraum",
    queue_intro: "Der Verkauf dieses Spiels läuft über einen Warteraum: eine E-Mail-Adresse, ein Platz. Wer vor dem Verkaufsstart da ist, bekommt einen zufällig ausgelosten Platz; wer später kommt, stellt sich hinten an.",
    noscript: "Zum Anstellen im Warteraum wird JavaScript benötigt. Bitte schalten Sie es ein oder nutzen Sie einen anderen Browser.",
    no_room: "Für dieses Spiel gibt es keinen Warteraum.",
    step_identity: "Schritt 1: E-Mail-Adresse bestätigen",
    email_label: "E-Mail-Adresse",
    email_button: "Code senden",
    code_sent: "Wir haben einen sechsstelligen Code an {email} geschickt.",
    code_label: "Code aus der E-Mail",
    code_button: "Bestätigen",
    other_email: "Andere E-Mail-Adresse verwenden",
    mail_unavailable: "Der E-Mail-Versand ist auf diesem Server gerade nicht eingerichtet, daher können wir Ihre Adresse nicht bestätigen. Bitte versuchen Sie es später noch einmal.",
    email_invalid: "Bitte prüfen Sie die E-Mail-Adresse.",
    code_wrong: "Der Code stimmt nicht oder ist abgelaufen.",
    too_many: "Zu viele Versuche. Bitte warten Sie {s} Sekunden.",
    step_join: "Schritt 2: Anstellen",
    identity_held: "Angemeldet als {email}.",
    join_button: "Anstellen",
    pow_progress: "Wir prüfen, dass Sie kein Bot sind …",
    phase_not_yet_open: "Der Warteraum ist noch nicht geöffnet.",
    phase_pre_queue: "Vorverkauf: Der Warteraum ist offen. Zum Verkaufsstart wird die Reihenfolge ausgelost.",
    phase_drawing: "Die Reihenfolge wird ausgelost …",
    phase_admitting: "Einlass läuft.",
    phase_paused: "Verkauf angehalten.",
    phase_sold_out: "Ausverkauft. Es gibt keine Tickets mehr.",
    place_pre_queue: "Sie sind dabei. Ihr Platz wird zum Verkaufsstart ausgelost.",
    place_waiting: "Sie warten.",
    place_admitted: "Sie sind dran!",
    place_done: "Sie haben gekauft. Viel Spaß beim Spiel!",
    place_expired: "Ihr Zeitfenster zum Kaufen ist abgelaufen.",
    place_sold_out: "Leider ausverkauft, bevor Sie an der Reihe waren.",
    position: "Ihre Position",
    estimate: "Geschätzte Wartezeit",
    estimate_less: "weniger als 1 Minute",
    estimate_one: "ca. 1 Minute",
    estimate_minutes: "ca. {n} Minuten",
    estimate_unknown: "noch keine Schätzung",
    rate: "Einlass",
    rate_per_minute: "{n} pro Minute",
    in_line: "Im Warteraum",
    admitted_until: "Ihr Zeitfenster endet",
    to_shop: "Weiter zum Ticketkauf",
    admission_held: "Ihre Einlassberechtigung ist auf diesem Gerät gespeichert.",
    busy: "Gerade ist viel los. Wir versuchen es gleich noch einmal.",
    offline: "Keine Verbindung. Wir versuchen es gleich noch einmal.",
    error: "Das hat nicht geklappt. Bitte versuchen Sie es noch einmal.",
    updated: "Stand",
    time_suffix: " Uhr",
};

pub static EN: Texts = Texts {
    language_name: "English",
    switch_to: "Deutsch",
    games: "Games",
    no_games: "No games are scheduled at the moment.",
    free_of: "free of",
    from_price: "from",
    sale_draft: "Not on sale yet",
    sale_open: "On sale",
    sale_paused: "Sale paused",
    sale_closed: "Sale ended",
    sale_opens: "Sale opens",
    sold_out: "Sold out",
    resume_at: "Expected to resume",
    category: "Category",
    price: "Price",
    available: "Free",
    seated: "Seated",
    standing: "Standing",
    back: "All games",
    times_note: "All times are German time (Europe/Berlin).",
    not_found: "There is no such page.",
    queue_link: "To the waiting room",
    queue_title: "Waiting room",
    queue_intro: "Tickets for this game are sold through a waiting room: one e-mail address, one place. Everyone who arrives before the sale opens gets a place in a random draw; later arrivals join the end of the line.",
    noscript: "Queueing in the waiting room needs JavaScript. Please switch it on or use another browser.",
    no_room: "This game has no waiting room.",
    step_identity: "Step 1: confirm your e-mail address",
    email_label: "E-mail address",
    email_button: "Send code",
    code_sent: "We sent a six-digit code to {email}.",
    code_label: "Code from the e-mail",
    code_button: "Confirm",
    other_email: "Use another e-mail address",
    mail_unavailable: "Sending e-mail is not set up on this server right now, so we cannot confirm your address. Please try again later.",
    email_invalid: "Please check the e-mail address.",
    code_wrong: "The code is wrong or has expired.",
    too_many: "Too many attempts. Please wait {s} seconds.",
    step_join: "Step 2: join the line",
    identity_held: "Signed in as {email}.",
    join_button: "Join the line",
    pow_progress: "We are checking that you are not a bot …",
    phase_not_yet_open: "The waiting room is not open yet.",
    phase_pre_queue: "Pre-queue: the waiting room is open. The order is drawn when the sale opens.",
    phase_drawing: "The order is being drawn …",
    phase_admitting: "Admission is under way.",
    phase_paused: "Sale paused.",
    phase_sold_out: "Sold out. There are no tickets left.",
    place_pre_queue: "You are in. Your place is drawn when the sale opens.",
    place_waiting: "You are waiting.",
    place_admitted: "It is your turn!",
    place_done: "You have bought. Enjoy the game!",
    place_expired: "Your time to buy has run out.",
    place_sold_out: "Sorry, sold out before your turn.",
    position: "Your position",
    estimate: "Estimated wait",
    estimate_less: "less than a minute",
    estimate_one: "about 1 minute",
    estimate_minutes: "about {n} minutes",
    estimate_unknown: "no estimate yet",
    rate: "Admission rate",
    rate_per_minute: "{n} per minute",
    in_line: "In the waiting room",
    admitted_until: "Your time to buy ends",
    to_shop: "Continue to buy tickets",
    admission_held: "Your admission is stored on this device.",
    busy: "It is busy right now. We will try again shortly.",
    offline: "No connection. We will try again shortly.",
    error: "That did not work. Please try again.",
    updated: "Updated",
    time_suffix: "",
};
