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
};
