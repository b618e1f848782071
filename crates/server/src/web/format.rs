//! Numbers and times as people read them: euros with two decimals in the page's
//! language, times in Europe/Berlin whatever the server's zone.

use jiff::tz::TimeZone;
use sturmfest_core as core;

use super::i18n::Lang;

/// Longest euro amount a form field may hold, in bytes.
pub const euro_text_bytes_max: usize = 16;

/// Euros as people type them into any form — `25`, `25,5`, `25,00`, `25.00`,
/// `2.500,00`, `2,500.00`, with or without `€` — as cents; zero is allowed, each
/// caller bounds the amount. The last separator is the decimal one and must have one
/// or two digits after it; the other kind may group the whole euros by threes.
/// Refused: no digits, three decimals (`12,345` and `1.000` are typos or ambiguous,
/// not a thousand), a separator with nothing after it (`12,`), groups not of three
/// (`1.00,00`), signs, more than seven whole digits, and anything longer than
/// `euro_text_bytes_max`. One reading for every page, so a clerk meets the same rule
/// at every counter.
pub fn parse_euros(text: &str) -> Option<i64> {
    let text = text.trim().trim_end_matches('€').trim_start_matches('€').trim();
    if text.is_empty() || text.len() > euro_text_bytes_max {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (grouped, part, group_separator) = match text.rfind([',', '.']) {
        None => (text, "", None),
        Some(at) => {
            let decimal = text.as_bytes()[at];
            let part = &text[at + 1..];
            if !(1..=2).contains(&part.len()) || !digits(part) || text[..at].contains(char::from(decimal)) {
                return None;
            }
            (&text[..at], part, Some(if decimal == b',' { '.' } else { ',' }))
        }
    };
    let whole: String = match group_separator.filter(|s| grouped.contains(*s)) {
        None => grouped.to_string(),
        Some(separator) => {
            let groups: Vec<&str> = grouped.split(separator).collect();
            let first_ok = (1..=3).contains(&groups[0].len());
            if !first_ok || groups[1..].iter().any(|g| g.len() != 3) {
                return None;
            }
            groups.concat()
        }
    };
    if !digits(&whole) || whole.len() > 7 {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let part: i64 = if part.is_empty() { 0 } else { format!("{part:0<2}").parse().ok()? };
    Some(whole * 100 + part)
}

#[cfg(test)]
mod euro_input_tests {
    use super::parse_euros;

    #[test]
    fn euros_are_read_as_people_type_them_and_typos_are_refused() {
        for (text, cents) in [
            ("25", 2_500),
            ("0", 0),
            ("25,00", 2_500),
            ("25.5", 2_550),
            ("0,01", 1),
            (" 12,34 € ", 1_234),
            ("€7", 700),
            ("2.500,00", 250_000),
            ("2,500.00", 250_000),
            ("1.234.567,89", 123_456_789),
        ] {
            assert_eq!(parse_euros(text), Some(cents), "{text}");
        }
        for text in [
            "", "-5", "+5", "12,345", "1.000", "12,", ",5", "1.00,00", "1.2.3", "1,2,3", "abc", "1e3", "99999999", "5 5", "1..0",
            "12.345.678,00",
        ] {
            assert_eq!(parse_euros(text), None, "{text:?}");
        }
    }
}

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
