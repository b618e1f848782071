//! The navigation every page of the city voucher office shares (template partial
//! `voucher_nav.html`). Each page lives in its own file; this one only names them,
//! so the office reads as one place in German and in English.

use super::i18n::Lang;

pub struct VoucherNav {
    /// The landmark's label and the office's name.
    pub label: &'static str,
    pub overview: &'static str,
    pub cards: &'static str,
    pub counter: &'static str,
    pub merchants: &'static str,
    pub offline: &'static str,
    pub settlement: &'static str,
    pub report: &'static str,
}

const DE: VoucherNav = VoucherNav {
    label: "Gutscheinbüro",
    overview: "Übersicht",
    cards: "Karten",
    counter: "Verkauf",
    merchants: "Händler",
    offline: "Offline & Risiko",
    settlement: "Abrechnung",
    report: "Bericht",
};

const EN: VoucherNav = VoucherNav {
    label: "Voucher office",
    overview: "Overview",
    cards: "Cards",
    counter: "Counter",
    merchants: "Merchants",
    offline: "Offline & risk",
    settlement: "Settlement",
    report: "Report",
};

/// The pages of the office, in menu order: (key, path below `/{tenant}/vouchers`).
/// A page passes its key as `active` so the menu marks it with `aria-current`.
pub const pages: [(&str, &str); 7] = [
    ("overview", ""),
    ("cards", "/cards"),
    ("counter", "/counter"),
    ("merchants", "/merchants"),
    ("offline", "/offline"),
    ("settlement", "/settlement"),
    ("report", "/report"),
];

impl VoucherNav {
    pub fn of(lang: Lang) -> &'static VoucherNav {
        match lang {
            Lang::De => &DE,
            Lang::En => &EN,
        }
    }

    pub fn name(&self, key: &str) -> &'static str {
        match key {
            "cards" => self.cards,
            "counter" => self.counter,
            "merchants" => self.merchants,
            "offline" => self.offline,
            "settlement" => self.settlement,
            "report" => self.report,
            _ => self.overview,
        }
    }

    /// (href, name, current) for each menu entry.
    pub fn items(&self, slug: &str, lang: Lang, active: &str) -> Vec<(String, &'static str, bool)> {
        pages
            .iter()
            .map(|(key, path)| (format!("/{slug}/vouchers{path}?lang={}", lang.code()), self.name(key), *key == active))
            .collect()
    }
}
