//! Merchant statements: what a settlement (`sturmfest_core::vouchers::Settle`)
//! counted, line by line, as CSV and as PDF.
//!
//! A period is given in Berlin calendar dates, first and last day inclusive; the edge
//! turns it into `[from, until)` instants at local midnight (`Period::instants`), so
//! a redemption at 23:30 UTC on 30 November is in December. A statement of a period
//! already settled lists exactly what the settlement counted (the core recomputes it
//! from the redemptions, `settlement_items`); a statement of an open period is a
//! preview of what settling it now would count.
//!
//! The lines add up to the settlement's amount by construction, and the tests check
//! that they equal the ledger movements of the merchant's payable to the cent.

use jiff::civil::Date;
use krilla::Document;
use krilla::geom::Point;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};
use sturmfest_core::ledger::ProgrammeId;
use sturmfest_core::vouchers::{MerchantId, PeriodItem, SettlementId};
use sturmfest_core::{Cents, TimeMs};

use crate::vouchers::programme_time_zone;

/// The longest period one statement or payout run may cover, both ends counted: a
/// leap year, so a yearly run is always possible and the scan stays bounded.
pub const period_days_max: i32 = 366;

/// A period of Berlin calendar days, both inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub first: Date,
    pub last: Date,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeriodError {
    /// Not `YYYY-MM-DD`.
    DateInvalid,
    /// Last day before the first, or longer than `period_days_max`.
    RangeInvalid,
}

impl PeriodError {
    pub fn code(self) -> &'static str {
        match self {
            PeriodError::DateInvalid => "date_invalid",
            PeriodError::RangeInvalid => "period_invalid",
        }
    }
}

fn zone() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(programme_time_zone).expect("the bundled tz database knows Europe/Berlin")
}

/// Local midnight at the start of `day` in Berlin, in ms since the epoch.
fn midnight(day: Date) -> TimeMs {
    let start = day.to_zoned(zone()).expect("midnight exists in Berlin (DST changes at 02:00)");
    TimeMs(start.timestamp().as_millisecond())
}

/// An instant as Berlin local date and time, `YYYY-MM-DD HH:MM:SS`.
pub fn berlin_time(at: TimeMs) -> String {
    match jiff::Timestamp::from_millisecond(at.0) {
        Ok(t) => t.to_zoned(zone()).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => String::from("?"),
    }
}

impl Period {
    pub fn parse(first: &str, last: &str) -> Result<Period, PeriodError> {
        let first: Date = first.trim().parse().map_err(|_| PeriodError::DateInvalid)?;
        let last: Date = last.trim().parse().map_err(|_| PeriodError::DateInvalid)?;
        // Both days count: a period from 1 January to 31 December has 365 days.
        let days = (last - first).get_days() + 1;
        if last < first || days > period_days_max {
            return Err(PeriodError::RangeInvalid);
        }
        Ok(Period { first, last })
    }

    /// `[from, until)`: Berlin midnight starting the first day and ending the last.
    pub fn instants(&self) -> (TimeMs, TimeMs) {
        let after = self.last.tomorrow().expect("dates in the range a card can live");
        (midnight(self.first), midnight(after))
    }
}

/// One line of a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// When it happened (the redemption, or the reversal), Berlin time.
    pub at: String,
    pub kind: LineKind,
    /// The redemption id as the till chose it (32 hex digits).
    pub redemption: String,
    /// Positive for a redemption (owed to the merchant), negative for a reversal.
    pub amount: Cents,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    Redemption,
    Reversal,
}

impl LineKind {
    pub fn code(self) -> &'static str {
        match self {
            LineKind::Redemption => "redemption",
            LineKind::Reversal => "reversal",
        }
    }
}

/// A merchant's statement for a period of one programme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub city: String,
    pub programme: ProgrammeId,
    pub programme_name: String,
    pub merchant: MerchantId,
    pub merchant_name: String,
    pub iban: String,
    pub period: Period,
    pub lines: Vec<Line>,
    pub redeemed: Cents,
    pub reversed: Cents,
    /// What is (or, for a preview, would be) paid: `redeemed - reversed`.
    pub net: Cents,
    /// The settlement, if the period is settled; `None` for a preview.
    pub settlement: Option<SettlementId>,
}

/// Why no statement can be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementError {
    UnknownProgramme,
    UnknownMerchant,
}

/// The statement of `merchant` in `programme` for `period`, from tenant state.
pub fn statement(
    tenant: &sturmfest_core::Tenant,
    city: &str,
    programme: ProgrammeId,
    merchant: MerchantId,
    period: Period,
) -> Result<Statement, StatementError> {
    let v = tenant.vouchers();
    let p = v.programme(programme).ok_or(StatementError::UnknownProgramme)?;
    let m = v.merchant(merchant).ok_or(StatementError::UnknownMerchant)?;
    let (from, until) = period.instants();
    let settled = v
        .settlements()
        .iter()
        .rev()
        .find(|s| (s.programme, s.merchant, s.from, s.until) == (programme, merchant, from, until))
        .map(|s| s.id);
    let items: Vec<PeriodItem<'_>> = match settled {
        Some(id) => v.settlement_items(id).expect("a listed settlement").collect(),
        None => v.preview_items(programme, merchant, (from, until)).collect(),
    };
    let mut lines: Vec<Line> = items
        .into_iter()
        .map(|item| match item {
            PeriodItem::Redemption(r) => Line {
                at: berlin_time(r.at),
                kind: LineKind::Redemption,
                redemption: format!("{:032x}", r.id.0),
                amount: r.amount,
            },
            PeriodItem::Reversal(r) => Line {
                at: berlin_time(r.reversal.expect("a reversal item has one").at),
                kind: LineKind::Reversal,
                redemption: format!("{:032x}", r.id.0),
                amount: Cents(-r.amount.0),
            },
            // Offline: booked when the till synced; what the card and the till's
            // allowance paid (docs/OFFLINE.md).
            PeriodItem::Offline(r) => Line {
                at: berlin_time(r.synced_at),
                kind: LineKind::Redemption,
                redemption: format!("{:032x}", r.redemption.id.0),
                amount: PeriodItem::offline_paid(r),
            },
        })
        .collect();
    // By time; the text sorts like the instant (fixed-width local time), and a stable
    // sort keeps a redemption before its reversal in the same second.
    lines.sort_by(|a, b| a.at.cmp(&b.at));
    let redeemed = lines.iter().filter(|l| l.kind == LineKind::Redemption).fold(Cents::ZERO, |s, l| s.plus(l.amount));
    let reversed = Cents(-lines.iter().filter(|l| l.kind == LineKind::Reversal).map(|l| l.amount.0).sum::<i64>());
    Ok(Statement {
        city: city.to_string(),
        programme,
        programme_name: p.name.clone(),
        merchant,
        merchant_name: m.name.clone(),
        iban: m.iban.clone(),
        period,
        lines,
        redeemed,
        reversed,
        net: Cents(redeemed.0 - reversed.0),
        settlement: settled,
    })
}

/// Cents as euros with two decimals and a point, as spreadsheets and banks read it.
pub fn decimal(c: Cents) -> String {
    let sign = if c.0 < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.0.unsigned_abs() / 100, c.0.unsigned_abs() % 100)
}

/// The statement as CSV: a header line, one line per redemption or reversal, then
/// the totals as lines of their own kind (`total_redeemed`, `total_reversed`, `net`).
pub fn statement_csv(s: &Statement) -> String {
    let mut out = String::from("date_time_berlin,kind,redemption,amount_eur\n");
    for line in &s.lines {
        out.push_str(&format!("{},{},{},{}\n", line.at, line.kind.code(), line.redemption, decimal(line.amount)));
    }
    out.push_str(&format!(",total_redeemed,,{}\n", decimal(s.redeemed)));
    out.push_str(&format!(",total_reversed,,{}\n", decimal(Cents(-s.reversed.0))));
    out.push_str(&format!(",net,,{}\n", decimal(s.net)));
    out
}

/// Labels of the statement PDF.
pub struct StatementTexts {
    pub title: &'static str,
    pub merchant: &'static str,
    pub programme: &'static str,
    pub period: &'static str,
    pub settlement: &'static str,
    pub preview: &'static str,
    pub redemption: &'static str,
    pub reversal: &'static str,
    pub redeemed: &'static str,
    pub reversed: &'static str,
    pub net: &'static str,
    pub page: &'static str,
}

pub static statement_texts_de: StatementTexts = StatementTexts {
    title: "Abrechnung Gutscheineinlösungen",
    merchant: "Händler",
    programme: "Programm",
    period: "Zeitraum",
    settlement: "Abrechnung Nr.",
    preview: "Vorschau – noch nicht abgerechnet",
    redemption: "Einlösung",
    reversal: "Storno",
    redeemed: "Summe Einlösungen",
    reversed: "Summe Stornos",
    net: "Auszahlungsbetrag",
    page: "Seite",
};

pub static statement_texts_en: StatementTexts = StatementTexts {
    title: "Voucher redemption statement",
    merchant: "Merchant",
    programme: "Programme",
    period: "Period",
    settlement: "Settlement no.",
    preview: "Preview – not settled yet",
    redemption: "Redemption",
    reversal: "Reversal",
    redeemed: "Total redeemed",
    reversed: "Total reversed",
    net: "Amount paid out",
    page: "Page",
};

static font_ttf: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// A4 portrait in points.
const a4_width_pt: f32 = 595.28;
const a4_height_pt: f32 = 841.89;
const margin_pt: f32 = 48.0;
const line_pt: f32 = 14.0;
/// Lines of redemptions per page after the header.
const page_lines_max: usize = 44;

fn euro_text(c: Cents, de: bool) -> String {
    let text = decimal(c);
    if de { format!("{} €", text.replace('.', ",")) } else { format!("€{text}") }
}

/// The statement as a PDF: A4 pages, the header on each, the lines, the totals on
/// the last page. Same statement, same bytes (no creation date).
pub fn statement_pdf(s: &Statement, de: bool) -> Vec<u8> {
    let t = if de { &statement_texts_de } else { &statement_texts_en };
    let font = Font::new(font_ttf.into(), 0).expect("the bundled DejaVu Sans parses");
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(format!("{} – {}", t.title, s.merchant_name))
            .language(if de { "de" } else { "en" }.to_string())
            .creator("sturmfest".to_string()),
    );
    let chunks: Vec<&[Line]> = if s.lines.is_empty() { vec![&[]] } else { s.lines.chunks(page_lines_max).collect() };
    let pages = chunks.len();
    for (index, chunk) in chunks.into_iter().enumerate() {
        let settings = PageSettings::from_wh(a4_width_pt, a4_height_pt).expect("A4 is a valid page size");
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        let mut y = margin_pt;
        let text = |surface: &mut krilla::surface::Surface<'_>, y: f32, x: f32, size: f32, line: &str| {
            surface.draw_text(Point::from_xy(x, y), font.clone(), size, line, false, TextDirection::Auto);
        };
        y += 16.0;
        text(&mut surface, y, margin_pt, 15.0, t.title);
        y += line_pt * 1.5;
        text(&mut surface, y, margin_pt, 10.0, &s.city);
        y += line_pt;
        text(&mut surface, y, margin_pt, 10.0, &format!("{}: {} ({})", t.merchant, s.merchant_name, s.iban));
        y += line_pt;
        text(&mut surface, y, margin_pt, 10.0, &format!("{}: {}", t.programme, s.programme_name));
        y += line_pt;
        text(&mut surface, y, margin_pt, 10.0, &format!("{}: {} – {}", t.period, s.period.first, s.period.last));
        y += line_pt;
        let status = match s.settlement {
            Some(id) => format!("{} {}", t.settlement, id.0),
            None => t.preview.to_string(),
        };
        text(&mut surface, y, margin_pt, 10.0, &status);
        y += line_pt * 1.5;
        for line in chunk {
            let kind = match line.kind {
                LineKind::Redemption => t.redemption,
                LineKind::Reversal => t.reversal,
            };
            text(&mut surface, y, margin_pt, 9.0, &line.at);
            text(&mut surface, y, margin_pt + 120.0, 9.0, kind);
            text(&mut surface, y, margin_pt + 200.0, 8.0, &line.redemption);
            text(&mut surface, y, a4_width_pt - margin_pt - 70.0, 9.0, &euro_text(line.amount, de));
            y += line_pt;
        }
        if index + 1 == pages {
            y += line_pt * 0.5;
            for (label, amount) in [(t.redeemed, s.redeemed), (t.reversed, Cents(-s.reversed.0)), (t.net, s.net)] {
                text(&mut surface, y, margin_pt, 10.0, label);
                text(&mut surface, y, a4_width_pt - margin_pt - 70.0, 10.0, &euro_text(amount, de));
                y += line_pt;
            }
        }
        let footer = format!("{} {} / {pages}", t.page, index + 1);
        let bottom = a4_height_pt - margin_pt / 2.0;
        text(&mut surface, bottom, margin_pt, 8.0, &footer);
        surface.finish();
        page.finish();
    }
    document.finish().expect("a document without export constraints always serializes")
}

#[cfg(test)]
mod tests {
    //! Berlin days become the right instants across a DST change; amounts print
    //! with two decimals and their sign.

    use super::*;

    #[test]
    fn a_berlin_month_starts_and_ends_at_local_midnight() {
        let p = Period::parse("2026-10-01", "2026-10-31").unwrap();
        let (from, until) = p.instants();
        assert_eq!(from.0, "2026-09-30T22:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond());
        // Summer time ends on 25 October: November starts at 23:00 UTC.
        assert_eq!(until.0, "2026-10-31T23:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond());
        assert_eq!(Period::parse("2026-10-02", "2026-10-01"), Err(PeriodError::RangeInvalid));
        assert!(Period::parse("2026-01-01", "2027-01-01").is_ok(), "366 days");
        assert_eq!(Period::parse("2026-01-01", "2027-01-02"), Err(PeriodError::RangeInvalid));
        assert_eq!(Period::parse("2026-13-01", "2026-12-01"), Err(PeriodError::DateInvalid));
        assert_eq!(decimal(Cents(-5)), "-0.05");
        assert_eq!(decimal(Cents(123_456)), "1234.56");
    }
}
