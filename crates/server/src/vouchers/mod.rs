//! The edge of the voucher domain: what the core (`sturmfest_core::vouchers`) needs
//! computed outside it because it takes randomness, a key or a time-zone database.
//! `codes.rs` generates and parses card codes and turns codes and PINs into the keyed
//! digests the core stores; `card_expires_at` computes a card's expiry from its sale
//! in the programme's local time, which the core only checks for plausibility;
//! `iban.rs` checks merchants' IBANs. `offline.rs` signs balance certificates,
//! revocation lists and device requests; `device.rs` is a merchant device that
//! redeems offline within its allowance. `digital.rs` derives a digital card from its
//! purchase and renders it; `online.rs` buys and loads cards through a payment provider. The JSON API over all this is `http/vouchers.rs`.

pub mod codes;
pub mod design;
pub mod device;
pub mod digital;
pub mod iban;
pub mod offline;
pub mod online;
pub mod pain001;
pub mod reports;
pub mod settlement;

use sturmfest_core::TimeMs;

/// The time zone every German city programme reckons years in.
pub const programme_time_zone: &str = "Europe/Berlin";

/// When a card sold at `sold_at` expires: the regular limitation period (§§ 195, 199
/// BGB) of three years runs from the end of the year of the sale, so the card expires
/// at 1 January 00:00 local time of the fourth year after the year of sale.
pub fn card_expires_at(sold_at: TimeMs) -> TimeMs {
    let zone = jiff::tz::TimeZone::get(programme_time_zone).expect("the bundled tz database knows Europe/Berlin");
    let sold = jiff::Timestamp::from_millisecond(sold_at.0).expect("a sale time within jiff's range").to_zoned(zone.clone());
    let start = jiff::civil::date(sold.year() + 4, 1, 1).to_zoned(zone).expect("1 January 00:00 exists in Berlin");
    TimeMs(start.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    //! The expiry the edge computes is what the core accepts, also at the year end
    //! where Berlin is already in the next year and UTC is not.

    use super::*;
    use sturmfest_core::ledger::ProgrammeId;
    use sturmfest_core::vouchers::*;
    use sturmfest_core::{Cents, Command, Envelope, Reply, Tenant};

    fn ms(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_card_sold_in_2026_expires_when_2030_begins_in_berlin() {
        assert_eq!(card_expires_at(TimeMs(ms("2026-06-15T10:00:00Z"))), TimeMs(ms("2029-12-31T23:00:00Z")));
        // 23:30 UTC on New Year's Eve is already 2027 in Berlin: the sale's year is 2027.
        assert_eq!(card_expires_at(TimeMs(ms("2026-12-31T23:30:00Z"))), TimeMs(ms("2030-12-31T23:00:00Z")));
    }

    #[test]
    fn the_core_accepts_the_expiry_the_edge_computes_across_the_year_end() {
        for sold in ["2026-06-15T10:00:00Z", "2026-12-31T22:59:59Z", "2026-12-31T23:30:00Z", "2027-01-01T00:30:00Z"] {
            let at = TimeMs(ms(sold));
            let mut tenant = Tenant::new();
            let limits = ProgrammeLimits {
                card_balance_cents_max: Cents(25_000),
                load_cents_max: Cents(25_000),
                card_offline_cents_max: Cents(1_000),
                reversal_window_ms: 60_000,
            };
            let card = NewCard { id: CardId(1), code_digest: [1; 32], pin_digest: None };
            let commands = [
                VoucherCommand::CreateProgramme { id: ProgrammeId(1), name: "Stadt".into(), limits, expiry: ExpiryRule::EndOfThirdYearAfterSale },
                VoucherCommand::IssueCards { programme: ProgrammeId(1), batch: BatchId(1), medium: CardMedium::Printed, cards: vec![card] },
                VoucherCommand::ActivateCard {
                    card: CardId(1),
                    amount: Cents(1_000),
                    paid_via: PaidVia::Cash { sales_point: SalesPointId(1) },
                    expires_at: card_expires_at(at),
                },
            ];
            for command in commands {
                let outcome = tenant.apply(&Envelope { time: at, idempotency: None, command: Command::Voucher(command) });
                assert!(matches!(outcome, Ok(Reply::Voucher(_))), "sold {sold}: {outcome:?}");
            }
        }
    }
}
