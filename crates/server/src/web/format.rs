//! Numbers and times as people read them: euros with two decimals in the page's
//! language, times in Europe/Berlin whatever the server's zone.

use jiff::tz::TimeZone;
use sturmfest_core as core;

use super::i18n::Lang;

/// `29,00 €` in German, `€29.00` in English.
pub fn euros(cents: core::Cents, lang: Lang) -> String {
    let sign = if cents.0 < 0 { "-" } else { "" };
    let abs = cents.0.unsigned_abs();
    let (whole, part) = (abs / 100, abs % 100);
    let grouped = group_thousands(whole, if lang == Lang::De { '.' } else { ',' });
    match lang {
        Lang::De => format!("{sign}{grouped},{part:02}\u{a0}€"),
        Lang::En => format!("{sign}€{grouped}.{part:02}"),
    }
}

fn group_thousands(mut n: u64, separator: char) -> String {
    let mut groups = Vec::new();
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let mut out = groups.pop().expect("one group").to_string();
    while let Some(g) = groups.pop() {
        out.push(separator);
        out.push_str(&format!("{g:03}"));
    }
    out
}

fn berlin() -> TimeZone {
    TimeZone::get("Europe/Berlin").expect("the bundled tz database has Europe/Berlin")
}

/// `Mi., 02.12.2026, 19:30 Uhr` / `Wed 2 Dec 2026, 19:30` in Berlin time.
pub fn date_time(t: core::TimeMs, lang: Lang) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(t.0) else { return String::new() };
    let zoned = ts.to_zoned(berlin());
    match lang {
        Lang::De => {
            let day = ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."][zoned.weekday().to_monday_zero_offset() as usize];
            format!("{day}, {}, {} Uhr", zoned.strftime("%d.%m.%Y"), zoned.strftime("%H:%M"))
        }
        Lang::En => zoned.strftime("%a %-d %b %Y, %H:%M").to_string(),
    }
}
