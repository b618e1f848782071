//! The fan shop on a game's page: what the page needs to draw the seat map and
//! take holds (`assets/shop.js`), and the shop's texts in German and English. The
//! map itself is drawn in the browser from `GET …/seats` — the venue's seats with
//! their drawing positions and states — so the page stays small and the states can
//! be refreshed without reloading it. Holds go through the public API like any
//! client's; the page adds no rule of its own.

use sturmfest_core as core;

use super::i18n::Lang;

/// The shop's fixed texts. A struct of its own so a missing translation is a
/// compile error, as for the other pages (`i18n::Texts`).
pub struct ShopTexts {
    pub heading: &'static str,
    pub map_heading: &'static str,
    pub map_help: &'static str,
    pub map_label: &'static str,
    pub map_keys: &'static str,
    pub zoom_in: &'static str,
    pub zoom_out: &'static str,
    pub legend_free: &'static str,
    pub legend_taken: &'static str,
    pub legend_selected: &'static str,
    pub tariff: &'static str,
    pub hold_selected: &'static str,
    pub best_heading: &'static str,
    pub best_help: &'static str,
    pub quantity: &'static str,
    pub best_button: &'static str,
    pub cart_heading: &'static str,
    pub total: &'static str,
    pub time_left: &'static str,
    pub release: &'static str,
    pub checkout_note: &'static str,
    pub buyer_name: &'static str,
    pub buyer_email: &'static str,
    pub pay_button: &'static str,
    pub name_missing: &'static str,
    pub email_invalid: &'static str,
    pub paying: &'static str,
    pub noscript: &'static str,
    pub queue_button: &'static str,
    // Texts the script shows.
    pub seat_label: &'static str,
    pub state_free: &'static str,
    pub state_held: &'static str,
    pub state_sold: &'static str,
    pub state_not_for_sale: &'static str,
    pub state_selected: &'static str,
    pub selected_n: &'static str,
    pub selected_none: &'static str,
    pub too_many_seats: &'static str,
    pub held: &'static str,
    pub held_until: &'static str,
    pub hold_expired: &'static str,
    pub released: &'static str,
    pub queue_first: &'static str,
    pub busy: &'static str,
    pub offline: &'static str,
    pub error: &'static str,
    pub time_suffix: &'static str,
    /// Rejection codes a fan can meet while holding, in the page's words.
    pub problems: &'static [(&'static str, &'static str)],
}

pub static DE: ShopTexts = ShopTexts {
    heading: "Tickets kaufen",
    map_heading: "Saalplan",
    map_help: "Tippen Sie auf freie Plätze, um sie auszuwählen. Mit der Tastatur: in den Plan springen, mit den Pfeiltasten bewegen, mit Eingabe oder Leertaste wählen, + und − zoomen.",
    map_label: "Saalplan: freie Plätze wählen",
    map_keys: "Pfeiltasten bewegen, Eingabe wählt einen Platz.",
    zoom_in: "Vergrößern",
    zoom_out: "Verkleinern",
    legend_free: "frei",
    legend_taken: "vergeben",
    legend_selected: "ausgewählt",
    tariff: "Tarif",
    hold_selected: "Ausgewählte Plätze reservieren",
    best_heading: "Beste verfügbare Plätze",
    best_help: "Nebeneinander in der gewählten Kategorie, oder Stehplätze.",
    quantity: "Anzahl",
    best_button: "Plätze suchen und reservieren",
    cart_heading: "Warenkorb",
    total: "Summe",
    time_left: "Reserviert noch",
    release: "Reservierung freigeben",
    checkout_note: "Sie bezahlen auf der Seite des Zahlungsanbieters. Bis zum Ende der Zeit bleiben die Plätze für Sie reserviert.",
    buyer_name: "Name",
    buyer_email: "E-Mail-Adresse",
    pay_button: "Bezahlen",
    name_missing: "Bitte geben Sie Ihren Namen ein.",
    email_invalid: "Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de.",
    paying: "Weiter zum Zahlungsanbieter …",
    noscript: "Für die Platzwahl wird JavaScript benötigt.",
    queue_button: "Zum Warteraum",
    seat_label: "Block {block}, Reihe {row}, Platz {seat}",
    state_free: "frei",
    state_held: "reserviert",
    state_sold: "verkauft",
    state_not_for_sale: "nicht im Verkauf",
    state_selected: "ausgewählt",
    selected_n: "{n} ausgewählt",
    selected_none: "Noch keine Plätze ausgewählt.",
    too_many_seats: "Höchstens {n} Tickets pro Bestellung.",
    held: "Ihre Plätze sind reserviert.",
    held_until: "bis {time}",
    hold_expired: "Die Reservierung ist abgelaufen; die Plätze sind wieder frei.",
    released: "Die Reservierung ist freigegeben.",
    queue_first: "Dieser Verkauf läuft über den Warteraum: Bitte stellen Sie sich zuerst an.",
    busy: "Gerade ist viel los. Bitte versuchen Sie es in ein paar Sekunden noch einmal.",
    offline: "Keine Verbindung. Bitte prüfen Sie Ihre Internetverbindung.",
    error: "Das hat nicht geklappt. Bitte versuchen Sie es noch einmal.",
    time_suffix: " Uhr",
    problems: &[
        ("seat_unavailable", "Mindestens einer der Plätze ist inzwischen vergeben. Bitte wählen Sie neu."),
        ("not_enough_adjacent_seats", "So viele Plätze nebeneinander sind in dieser Kategorie nicht mehr frei."),
        ("sold_out", "Ausverkauft."),
        ("quota_exhausted", "Das Online-Kontingent ist erschöpft."),
        ("customer_limit_reached", "Sie haben die Höchstzahl an Tickets für dieses Spiel erreicht."),
        ("hold_too_large", "Zu viele Tickets für eine Bestellung."),
        ("too_many_holds", "Sie haben schon eine offene Reservierung."),
        ("seats_span_categories", "Bitte wählen Sie Plätze aus nur einer Kategorie."),
        ("tariff_not_in_category", "Diesen Tarif gibt es in dieser Kategorie nicht."),
        ("sale_paused", "Der Verkauf ist gerade angehalten."),
        ("sale_not_started", "Der Verkauf hat noch nicht begonnen."),
        ("sale_not_open", "Der Verkauf ist nicht geöffnet."),
        ("sale_ended", "Der Verkauf ist beendet."),
        ("sale_closed", "Der Verkauf ist beendet."),
        ("admission_required", "Dieser Verkauf läuft über den Warteraum: Bitte stellen Sie sich zuerst an."),
        ("admission_invalid", "Ihre Einlasszeit ist abgelaufen oder ungültig. Bitte zurück in den Warteraum."),
        ("not_admitted", "Ihre Einlasszeit ist abgelaufen. Bitte zurück in den Warteraum."),
        ("hold_ended", "Die Reservierung ist abgelaufen; bitte wählen Sie Ihre Plätze neu."),
        ("buyer_email_invalid", "Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de."),
        ("buyer_name_invalid", "Bitte geben Sie Ihren Namen ein."),
    ],
};

pub static EN: ShopTexts = ShopTexts {
    heading: "Buy tickets",
    map_heading: "Seat map",
    map_help: "Tap free seats to choose them. With a keyboard: move into the map, walk with the arrow keys, choose with Enter or Space, zoom with + and −.",
    map_label: "Seat map: choose free seats",
    map_keys: "Arrow keys move, Enter chooses a seat.",
    zoom_in: "Zoom in",
    zoom_out: "Zoom out",
    legend_free: "free",
    legend_taken: "taken",
    legend_selected: "chosen",
    tariff: "Fare",
    hold_selected: "Hold the chosen seats",
    best_heading: "Best available",
    best_help: "Side by side in the chosen category, or standing places.",
    quantity: "Number",
    best_button: "Find and hold places",
    cart_heading: "Cart",
    total: "Total",
    time_left: "Held for",
    release: "Release the hold",
    checkout_note: "You pay on the payment provider's page. The seats stay held for you until the time is up.",
    buyer_name: "Name",
    buyer_email: "E-mail address",
    pay_button: "Pay",
    name_missing: "Please enter your name.",
    email_invalid: "Please enter a valid e-mail address, e.g. name@example.org.",
    paying: "On to the payment provider …",
    noscript: "Choosing seats needs JavaScript.",
    queue_button: "To the waiting room",
    seat_label: "Block {block}, row {row}, seat {seat}",
    state_free: "free",
    state_held: "held",
    state_sold: "sold",
    state_not_for_sale: "not on sale",
    state_selected: "chosen",
    selected_n: "{n} chosen",
    selected_none: "No seats chosen yet.",
    too_many_seats: "At most {n} tickets per order.",
    held: "Your places are held.",
    held_until: "until {time}",
    hold_expired: "The hold has run out; the places are free again.",
    released: "The hold is released.",
    queue_first: "This sale runs through the waiting room: please queue first.",
    busy: "It is busy right now. Please try again in a few seconds.",
    offline: "No connection. Please check your internet connection.",
    error: "That did not work. Please try again.",
    time_suffix: "",
    problems: &[
        ("seat_unavailable", "At least one of the seats has been taken meanwhile. Please choose again."),
        ("not_enough_adjacent_seats", "There are no longer that many seats side by side in this category."),
        ("sold_out", "Sold out."),
        ("quota_exhausted", "The online allocation is used up."),
        ("customer_limit_reached", "You have reached the most tickets allowed for this game."),
        ("hold_too_large", "Too many tickets for one order."),
        ("too_many_holds", "You already have an open hold."),
        ("seats_span_categories", "Please choose seats from one category only."),
        ("tariff_not_in_category", "This fare does not exist in this category."),
        ("sale_paused", "The sale is paused right now."),
        ("sale_not_started", "The sale has not started yet."),
        ("sale_not_open", "The sale is not open."),
        ("sale_ended", "The sale has ended."),
        ("sale_closed", "The sale has ended."),
        ("admission_required", "This sale runs through the waiting room: please queue first."),
        ("admission_invalid", "Your admission has run out or is not valid. Please go back to the waiting room."),
        ("not_admitted", "Your admission has run out. Please go back to the waiting room."),
        ("hold_ended", "Your hold has ended; please choose your seats again."),
        ("buyer_email_invalid", "Please enter a valid e-mail address, e.g. name@example.org."),
        ("buyer_name_invalid", "Please enter your name."),
    ],
};

pub fn texts(lang: Lang) -> &'static ShopTexts {
    match lang {
        Lang::De => &DE,
        Lang::En => &EN,
    }
}

/// A price category as the shop offers it.
pub struct ShopCategory {
    pub id: usize,
    pub name: String,
    /// The standing area, for standing categories.
    pub area: Option<u16>,
}

/// The shop part of a game's page, when the sale is open.
pub struct Shop {
    pub t: &'static ShopTexts,
    pub categories: Vec<ShopCategory>,
    pub order_tickets_max: u32,
    pub has_seats: bool,
    /// JSON for the script's `<script type="application/json">` block, escaped.
    pub config: String,
}

/// The shop for an open sale; `None` while nothing can be bought (draft, paused,
/// closed, sold out), when the page says why instead.
pub fn shop(slug: &str, event: &core::Event, venue: &core::Venue, has_room: bool, lang: Lang) -> Option<Shop> {
    let open = matches!(event.sale, core::SaleStatus::Open) && (event.free() > 0 || event.held() > 0);
    if !open {
        return None;
    }
    let t = texts(lang);
    let categories: Vec<serde_json::Value> = event
        .spec
        .categories
        .iter()
        .enumerate()
        .map(|(id, c)| {
            let area = match c.places {
                core::CategoryPlaces::Standing(area) => Some(area.0),
                core::CategoryPlaces::Blocks(_) => None,
            };
            let tariffs: Vec<serde_json::Value> =
                c.tariffs.iter().map(|tariff| serde_json::json!({"name": tariff.name, "price_cents": tariff.price.0})).collect();
            serde_json::json!({"id": id, "name": c.name, "area": area, "tariffs": tariffs})
        })
        .collect();
    let mut texts = serde_json::Map::new();
    macro_rules! put {
        ($($field:ident),* $(,)?) => { $(texts.insert(stringify!($field).to_string(), t.$field.into());)* };
    }
    put!(
        map_keys, seat_label, state_free, state_held, state_sold, state_not_for_sale, state_selected, selected_n,
        selected_none, too_many_seats, held, held_until, hold_expired, released, queue_first, busy, offline, error,
        time_suffix, name_missing, email_invalid, paying,
    );
    let problems: serde_json::Map<String, serde_json::Value> = t.problems.iter().map(|(code, text)| ((*code).to_string(), (*text).into())).collect();
    texts.insert("problems".into(), problems.into());
    let config = serde_json::json!({
        "tenant": slug,
        "event": event.id.0,
        "lang": lang.code(),
        "has_room": has_room,
        "order_tickets_max": event.spec.order_tickets_max,
        "blocks": venue.spec.blocks.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
        "categories": categories,
        "texts": texts,
    });
    Some(Shop {
        t,
        categories: event
            .spec
            .categories
            .iter()
            .enumerate()
            .map(|(id, c)| ShopCategory {
                id,
                name: c.name.clone(),
                area: match c.places {
                    core::CategoryPlaces::Standing(area) => Some(area.0),
                    core::CategoryPlaces::Blocks(_) => None,
                },
            })
            .collect(),
        order_tickets_max: event.spec.order_tickets_max,
        has_seats: !venue.seats.is_empty(),
        config: super::script_json(&config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both languages name the same problem codes, in the same order, so the
    /// script never falls back to the generic text in one language only.
    #[test]
    fn both_languages_translate_the_same_problems() {
        let codes = |t: &ShopTexts| t.problems.iter().map(|(c, _)| *c).collect::<Vec<_>>();
        assert_eq!(codes(&DE), codes(&EN));
        assert!(DE.problems.iter().chain(EN.problems).all(|(_, text)| !text.is_empty()));
    }
}
