//! Tickets as a gate sees them. A real tenant (the demo arena and a game) sells an
//! order of two seats and one of standing places through `Tenant::apply`; the tests
//! sign its tickets with the event's keys derived from the tenant's keyring and
//! check them with that event's published keys only, as an offline gate would.
//!
//! What they prove: a ticket credential round-trips to exactly the claim of its
//! ticket and cancelled tickets get none; the body is byte for byte the layout in
//! docs/CREDENTIALS.md; a ticket of another organizer, another kind, a revoked key,
//! any single changed character, any arbitrary text, and a correctly signed body
//! that breaks the layout are each rejected with their stable code, never a panic;
//! a typical ticket stays a small QR code. The PDF is parsed back with poppler: every
//! fact is printed in German and in English, the font is embedded, and the QR on
//! every page, rendered to pixels and decoded with `rqrr`, is exactly that ticket's
//! credential and verifies — the real proof that a gate can scan it.
//!
//! CI installs poppler-utils (`.ci/run`); there a missing `pdftotext` fails the PDF
//! tests. A developer machine without it is told so and those tests return early.

// Fixed instants are named like values, unit last, as in the library.
#![allow(non_upper_case_globals)]

use std::process::Command;

use jiff::civil::date;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use sturmfest_core::{self as core, Buyer, Envelope, Place, Reply, Tenant};
use sturmfest_server::credentials::{Keyring, Kind, Verifier};
use sturmfest_server::demo;
use sturmfest_server::tickets::{
    self, OrderView, PlaceLabel, PrintedTicket, TicketClaim, TicketError, holder_hint, qr_svg, qr_version, ticket_credentials,
    ticket_pdf, verify_ticket,
};
use sturmfest_server::web::i18n::Lang;

const organizer: &str = "EC Sturmvögel Nordstadt";

struct World {
    tenant: Tenant,
    keyring: Keyring,
    /// Two seats in block B, row 3, seats 12 and 13; bought by Erika.
    seats: core::OrderId,
    /// Three places on the north terrace; bought by Jürgen.
    standing: core::OrderId,
    starts_at: core::TimeMs,
    event: core::EventId,
}

fn apply(tenant: &mut Tenant, time: core::TimeMs, command: core::Command) -> Reply {
    tenant.apply(&Envelope { time, idempotency: None, command }).expect("the command is accepted")
}

fn world() -> World {
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let starts = date(2026, 3, 4).at(19, 30, 0, 0).to_zoned(berlin.clone()).unwrap();
    let opens = date(2026, 2, 25).at(14, 0, 0, 0).to_zoned(berlin).unwrap();
    let now = core::TimeMs(opens.timestamp().as_millisecond() + 60_000);
    let mut tenant = Tenant::new();
    let Reply::VenueCreated { venue } = apply(&mut tenant, now, core::Command::CreateVenue(demo::arena())) else { panic!() };
    let spec = demo::game(venue, "EC Sturmvögel – Eisbären Hafenstadt (Play-off, Spiel 3)", &starts, &opens);
    let starts_at = spec.starts_at;
    let Reply::EventCreated { event } = apply(&mut tenant, now, core::Command::CreateEvent(spec)) else { panic!() };
    apply(&mut tenant, now, core::Command::Sale { event, action: core::SaleAction::Open });
    let venue = tenant.venue(venue).unwrap();
    // Block B is the second block; its row 3 seats 12 and 13 are neighbours.
    let row = venue.blocks[1].rows.start + 2;
    let first = core::SeatId(venue.rows[row as usize].seats.start + 11);
    let mut buy = |selection, name: &str| {
        let hold = core::HoldRequest {
            event,
            customer: core::CustomerId(name.len() as u64),
            channel: core::Channel::Online,
            selection,
            tariff: core::TariffId(0),
            admission: None,
        };
        let Reply::Held(receipt) = apply(&mut tenant, now, core::Command::Hold(hold)) else { panic!() };
        let buyer = Buyer { name: name.into(), email: "fan@example.org".into() };
        let confirm = core::Command::Confirm { hold: receipt.hold, payment: format!("pay-{name}"), buyer };
        let Reply::Confirmed { order, .. } = apply(&mut tenant, now, confirm) else { panic!() };
        order
    };
    let seats = buy(core::Selection::Seats(vec![first, core::SeatId(first.0 + 1)]), "Erika Mustermann");
    let standing = buy(core::Selection::Standing { area: core::AreaId(0), quantity: 3 }, "Jürgen Müller-Lüdenscheidt");
    World { tenant, keyring: Keyring::generate("club", [7; 32]), seats, standing, starts_at, event }
}

impl World {
    fn order(&self, id: core::OrderId) -> &core::Order {
        self.tenant.order(id).unwrap()
    }

    fn credentials(&self, id: core::OrderId) -> Vec<String> {
        ticket_credentials(&self.keyring, self.order(id), self.starts_at)
    }

    /// The gate's view: its event's published keys, no secrets.
    fn gate(&self) -> Verifier {
        Verifier::from_published("club", &self.keyring.for_event(self.event.0).published()).unwrap()
    }

    /// The event's keys with secrets, to sign made-up bodies.
    fn event_keys(&self) -> Keyring {
        self.keyring.for_event(self.event.0)
    }
}

#[test]
fn a_ticket_credential_round_trips_to_exactly_its_tickets_claim() {
    let w = world();
    let order = w.order(w.seats);
    let credentials = w.credentials(w.seats);
    assert_eq!(credentials.len(), 2);
    for (index, text) in credentials.iter().enumerate() {
        let claim = verify_ticket(&w.gate(), w.event, text).unwrap();
        let ticket = &order.tickets[index];
        assert_eq!(
            claim,
            TicketClaim {
                event: order.event,
                order: order.id,
                index: index as u16,
                place: ticket.place,
                category: ticket.category,
                starts_at: w.starts_at,
                holder_hint: "Erika Muster".into(),
            }
        );
    }
    let standing = w.credentials(w.standing);
    let claims: Vec<_> = standing.iter().map(|t| verify_ticket(&w.gate(), w.event, t).unwrap()).collect();
    assert_eq!(claims.iter().map(|c| c.index).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(claims.iter().all(|c| c.place == Place::Standing(core::AreaId(0))));
    // "Jürgen Müller-Lüdenscheidt": each "ü" is two bytes, so 12 bytes hold 10 letters.
    assert!(claims.iter().all(|c| c.holder_hint == "Jürgen Mül"));
}

#[test]
fn a_cancelled_ticket_gets_no_credential_and_the_others_keep_their_index() {
    let mut w = world();
    let cancel = core::Command::Cancel {
        order: w.standing,
        tickets: core::TicketSelection::Some(vec![1]),
        refund: core::RefundMode::Full,
    };
    let now = w.tenant.now();
    apply(&mut w.tenant, now, cancel);
    let indices: Vec<u16> = w.credentials(w.standing).iter().map(|t| verify_ticket(&w.gate(), w.event, t).unwrap().index).collect();
    assert_eq!(indices, [0, 2]);
}

#[test]
fn the_body_is_the_documented_layout_byte_for_byte() {
    let claim = TicketClaim {
        event: core::EventId(7),
        order: core::OrderId(4242),
        index: 1,
        place: Place::Seat(core::SeatId(0x0102_0304)),
        category: core::CategoryId(2),
        starts_at: core::TimeMs(1_772_649_000_000),
        holder_hint: "Erika".into(),
    };
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
    assert_eq!(
        hex(&claim.encode()),
        // version | event | order | index | tag seat | seat | category | starts_at | hint len | "Erika"
        "01 00 00 00 07 00 00 00 00 00 00 10 92 00 01 00 01 02 03 04 00 02 00 00 01 9c ba 1d 2c 40 05 45 72 69 6b 61"
    );
    let standing = TicketClaim { place: Place::Standing(core::AreaId(0x0a0b)), holder_hint: String::new(), ..claim.clone() };
    assert_eq!(
        hex(&standing.encode()),
        "01 00 00 00 07 00 00 00 00 00 00 10 92 00 01 01 0a 0b 00 02 00 00 01 9c ba 1d 2c 40 00"
    );
    assert_eq!(TicketClaim::decode(&claim.encode()), Ok(claim));
    assert_eq!(TicketClaim::decode(&standing.encode()), Ok(standing));
}

#[test]
fn a_tampered_foreign_or_misshapen_ticket_is_rejected_with_its_code() {
    let w = world();
    let text = &w.credentials(w.seats)[0];
    let code = |result: Result<TicketClaim, TicketError>| result.unwrap_err().code();

    let e = w.event;
    // Another organizer with the very same key: the tenant is inside the signature.
    let rival = Verifier::from_published("rival", &w.event_keys().published()).unwrap();
    assert_eq!(code(verify_ticket(&rival, e, text)), "credential_bad_signature");
    // Another organizer's own key id 1: same id, other key.
    let stranger = Keyring::generate("club", [9; 32]);
    assert_eq!(code(verify_ticket(stranger.for_event(e.0).verifier(), e, text)), "credential_bad_signature");
    // The tenant's own keys do not verify a ticket, nor do another event's: a gate
    // that loaded the wrong game's keys turns every fan away instead of letting
    // the wrong game's tickets in.
    assert_eq!(code(verify_ticket(w.keyring.verifier(), e, text)), "credential_bad_signature");
    let other = core::EventId(e.0 + 1);
    assert_eq!(code(verify_ticket(w.keyring.for_event(other.0).verifier(), other, text)), "credential_bad_signature");
    // Another kind signed by the right key is not a ticket.
    let identity = w.event_keys().sign(Kind::Identity, &[0; 24]);
    assert_eq!(code(verify_ticket(&w.gate(), e, &identity)), "credential_wrong_kind");
    // Rotation keeps old tickets valid; revoking the old key withdraws them.
    let rotated = w.keyring.rotate([8; 32]).unwrap();
    assert!(verify_ticket(rotated.for_event(e.0).verifier(), e, text).is_ok());
    let revoked = rotated.revoke(1).unwrap();
    assert_eq!(code(verify_ticket(revoked.for_event(e.0).verifier(), e, text)), "credential_revoked_key");
    // The body changed after signing.
    let mut parts: Vec<String> = text.split('.').map(String::from).collect();
    let mut body = parts[3].clone().into_bytes();
    body[2] = if body[2] == b'A' { b'B' } else { b'A' };
    parts[3] = String::from_utf8(body).unwrap();
    assert_eq!(code(verify_ticket(&w.gate(), e, &parts.join("."))), "credential_bad_signature");
    assert_eq!(code(verify_ticket(&w.gate(), e, "")), "credential_malformed");

    // Correctly signed bodies that break the layout: a reader never trusts a body
    // just because the signature holds (an old or future signer could have made it).
    let good = TicketClaim::decode(&w.gate().verify(Kind::Ticket, text).unwrap()).unwrap().encode();
    let signed = |body: &[u8]| w.event_keys().sign(Kind::Ticket, body);
    // A body naming another event, signed with this event's keys (a signer bug or
    // a stolen event key), is still refused by this event's gate.
    let mut elsewhere = good.clone();
    elsewhere[1..5].copy_from_slice(&(e.0 + 1).to_be_bytes());
    assert_eq!(code(verify_ticket(&w.gate(), e, &signed(&elsewhere))), "ticket_other_event");
    let mut future = good.clone();
    future[0] = 2;
    assert_eq!(code(verify_ticket(&w.gate(), e, &signed(&future))), "ticket_unknown_version");
    let mut bad_tag = good.clone();
    bad_tag[15] = 9;
    let mut bad_utf8 = good.clone();
    *bad_utf8.last_mut().unwrap() = 0xff;
    let mut long_hint = good[..good.len() - 13].to_vec();
    long_hint.push(13);
    long_hint.extend_from_slice(b"Erika Musterm");
    let misshapen: [&[u8]; 6] = [&[], &good[..1], &good[..good.len() - 1], &[good.as_slice(), &[0]].concat(), &bad_tag, &bad_utf8];
    for body in misshapen.into_iter().chain([long_hint.as_slice()]) {
        assert_eq!(code(verify_ticket(&w.gate(), e, &signed(body))), "ticket_malformed", "{body:?}");
    }
}

#[test]
fn the_holder_hint_is_short_and_cut_at_a_character_boundary() {
    assert_eq!(holder_hint("  Erika Mustermann "), "Erika Muster");
    assert_eq!(holder_hint("Zoë"), "Zoë");
    assert_eq!(holder_hint(""), "");
    // 11 ASCII bytes then "ß" (2 bytes) would end at 13: the hint stops before it.
    assert_eq!(holder_hint("Annas Strauß"), "Annas Strau");
    assert_eq!(holder_hint("Anna Strauß"), "Anna Strauß");
    // A cut right after a space leaves no dangling space.
    assert_eq!(holder_hint("Hanna Maria Weiß"), "Hanna Maria");
    assert_eq!(holder_hint("日本語の名前です"), "日本語の");
}

#[test]
fn a_typical_ticket_is_a_small_qr_code() {
    let w = world();
    let text = &w.credentials(w.seats)[0];
    let version = qr_version(text);
    eprintln!("a seated ticket with a 12-byte hint: {} characters, QR version {version} at level M", text.len());
    // Measured: 153 characters, version 8 (49 × 49 modules). The bounds leave no
    // room for a layout that quietly grows into version 9.
    assert!(text.len() <= 160, "{} characters", text.len());
    assert!(version <= 8, "QR version {version}");
    // The hint costs no QR version: without it the ticket is version 8 all the same.
    let no_hint = TicketClaim { holder_hint: String::new(), ..verify_ticket(&w.gate(), w.event, text).unwrap() };
    let short = w.event_keys().sign(Kind::Ticket, &no_hint.encode());
    assert_eq!((short.len(), qr_version(&short)), (137, 8));
    let svg = qr_svg(text);
    assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.contains("#000000"), "{svg:.200}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_is_rejected_and_never_panics(text in "\\PC{0,300}|sf1\\.3\\.1\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,90}") {
        let verifier = Keyring::generate("club", [7; 32]).for_event(3).verifier().clone();
        prop_assert!(verify_ticket(&verifier, core::EventId(3), &text).is_err());
    }

    #[test]
    fn every_single_character_change_is_rejected(position in 0usize..160, replacement in proptest::char::any()) {
        let keyring = Keyring::generate("club", [7; 32]).for_event(3);
        let claim = TicketClaim {
            event: core::EventId(3),
            order: core::OrderId(981),
            index: 0,
            place: Place::Seat(core::SeatId(1234)),
            category: core::CategoryId(1),
            starts_at: core::TimeMs(1_772_649_000_000),
            holder_hint: "Erika Muster".into(),
        };
        let text = keyring.sign(Kind::Ticket, &claim.encode());
        let mut chars: Vec<char> = text.chars().collect();
        let at = position % chars.len();
        prop_assume!(chars[at] != replacement);
        chars[at] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert!(verify_ticket(keyring.verifier(), core::EventId(3), &changed).is_err(), "{changed}");
    }

    #[test]
    fn any_signed_body_decodes_or_fails_cleanly_and_claims_round_trip(
        body in proptest::collection::vec(any::<u8>(), 0..48),
        event in any::<u32>(), order in any::<u64>(), index in any::<u16>(), seat in any::<u32>(), area in any::<u16>(),
        standing in any::<bool>(), category in any::<u16>(), starts_at in any::<i64>(), hint in "\\PC{0,12}",
    ) {
        let keyring = Keyring::generate("club", [7; 32]).for_event(event);
        let _ = verify_ticket(keyring.verifier(), core::EventId(event), &keyring.sign(Kind::Ticket, &body));
        let place = if standing { Place::Standing(core::AreaId(area)) } else { Place::Seat(core::SeatId(seat)) };
        let claim = TicketClaim {
            event: core::EventId(event),
            order: core::OrderId(order),
            index,
            place,
            category: core::CategoryId(category),
            starts_at: core::TimeMs(starts_at),
            holder_hint: holder_hint(&hint),
        };
        prop_assert_eq!(verify_ticket(keyring.verifier(), core::EventId(event), &keyring.sign(Kind::Ticket, &claim.encode())), Ok(claim));
    }
}

#[test]
fn the_same_order_gives_the_same_pdf_bytes() {
    let w = world();
    let (view, printed) = tickets::printable(&w.tenant, &w.keyring, organizer, w.seats).unwrap();
    let first = ticket_pdf(&view, &printed, Lang::De);
    assert!(first.starts_with(b"%PDF-"));
    assert_eq!(first, ticket_pdf(&view, &printed, Lang::De), "a re-download must be the same file");
    assert!(tickets::printable(&w.tenant, &w.keyring, organizer, core::OrderId(99)).is_none());
}

#[test]
fn each_event_has_its_own_keys_derived_from_the_tenants_and_following_their_life() {
    let tenant = Keyring::generate("club", [7; 32]);
    let (three, four) = (tenant.for_event(3), tenant.for_event(4));
    let public = |k: &Keyring| k.published().into_iter().map(|k| (k.id, k.state, k.public)).collect::<Vec<_>>();
    // The same on every node and every call: nothing to store or replicate.
    assert_eq!(public(&three), public(&tenant.for_event(3)));
    assert_ne!(public(&three), public(&four));
    assert_ne!(public(&three), public(&tenant));
    // Another tenant's event 3 has other keys.
    assert_ne!(public(&three), public(&Keyring::generate("club", [8; 32]).for_event(3)));
    // Ids and states follow the tenant's keys through rotation and revocation.
    let rotated = tenant.rotate([9; 32]).unwrap().revoke(1).unwrap();
    let states: Vec<_> = public(&rotated.for_event(3)).into_iter().map(|(id, state, _)| (id, state)).collect();
    let expected: Vec<_> = rotated.published().into_iter().map(|k| (k.id, k.state)).collect();
    assert_eq!(states, expected);
    assert_eq!(public(&rotated.for_event(3))[0].2, public(&three)[0].2, "key 1 of event 3 is still key 1 of event 3");
}

/// A gate's verifier from an event's published key set
/// (`GET /api/v1/{tenant}/events/{event}/keys`, JSON).
pub(crate) fn gate_from_key_set(tenant: &str, json: &[u8]) -> Verifier {
    #[derive(serde::Deserialize)]
    struct KeySet {
        tenant: String,
        keys: Vec<sturmfest_server::credentials::StoredKey>,
    }
    let set: KeySet = serde_json::from_slice(json).expect("a key set");
    assert_eq!(set.tenant, tenant);
    assert!(set.keys.iter().all(|k| k.secret.is_none()), "published keys carry no secret");
    Verifier::from_published(tenant, &set.keys).expect("a valid key set")
}

// ----- the PDF, read back with poppler -----

pub(crate) fn poppler_available() -> bool {
    let present = ["pdftotext", "pdffonts", "pdftoppm"].iter().all(|tool| Command::new(tool).arg("-v").output().is_ok());
    if !present {
        assert!(std::env::var_os("CI").is_none(), "CI must install poppler-utils (see .ci/run); the PDF tests cannot run");
        eprintln!("pdftotext/pdffonts/pdftoppm not found: install Debian's poppler-utils to run the ticket PDF tests");
    }
    present
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The PDF's text, one string per page, with non-breaking spaces as spaces.
pub(crate) fn page_texts(pdf: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.pdf");
    std::fs::write(&path, pdf).unwrap();
    let text = run("pdftotext", &["-layout", "-enc", "UTF-8", path.to_str().unwrap(), "-"]);
    let mut pages: Vec<String> = text.split('\u{c}').map(|p| p.replace('\u{a0}', " ")).collect();
    pages.pop_if(|p| p.trim().is_empty());
    pages
}

/// Collapses runs of whitespace, so wrapped lines compare as one sentence.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_ticket_pdf_prints_every_fact_in_german_and_english_with_the_font_embedded() {
    if !poppler_available() {
        return;
    }
    let w = world();
    let (view, printed) = tickets::printable(&w.tenant, &w.keyring, organizer, w.seats).unwrap();
    let german = page_texts(&ticket_pdf(&view, &printed, Lang::De));
    assert_eq!(german.len(), 2, "one page per ticket");
    for (n, page) in german.iter().enumerate() {
        let page = flat(page);
        for expected in [
            organizer,
            "EC Sturmvögel – Eisbären Hafenstadt (Play-off, Spiel 3)",
            "Mi., 04.03.2026, 19:30 Uhr",
            "Eisarena am Stadtpark",
            &format!("Block B · Reihe 3 · Platz {}", 12 + n),
            "Kategorie: Sitzplatz Mitte",
            "Preis: 32,00 €",
            &format!("Bestellung {} · Ticket {} von 2", w.seats.0, n + 1),
            "Inhaber: Erika Mustermann",
        ] {
            assert!(page.contains(expected), "page {n} lacks {expected:?}:\n{page}");
        }
    }

    let (view, printed) = tickets::printable(&w.tenant, &w.keyring, organizer, w.standing).unwrap();
    let pdf = ticket_pdf(&view, &printed, Lang::En);
    let english = page_texts(&pdf);
    assert_eq!(english.len(), 3);
    let page = flat(&english[2]);
    for expected in [
        "Wed 4 Mar 2026, 19:30",
        "Standing · Stehplatz Nord",
        "Category: Stehplatz Nord",
        "Price: €16.00",
        "Ticket 3 of 3",
        "Holder: Jürgen Müller-Lüdenscheidt",
    ] {
        assert!(page.contains(expected), "lacks {expected:?}:\n{page}");
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let fonts = run("pdffonts", &[path.to_str().unwrap()]);
    let dejavu: Vec<&str> = fonts.lines().filter(|l| l.contains("DejaVuSans")).collect();
    assert!(!dejavu.is_empty(), "{fonts}");
    // Columns: name, type, encoding, emb, sub, uni, ...; every font embedded with a
    // Unicode map, so the text can be found and copied.
    for line in &dejavu {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let flags = &cols[cols.len() - 5..cols.len() - 2];
        assert_eq!(flags, ["yes", "yes", "yes"], "{fonts}");
    }
}

#[test]
fn an_order_without_valid_tickets_gets_one_page_that_says_so() {
    if !poppler_available() {
        return;
    }
    let view = OrderView {
        organizer: organizer.into(),
        event_name: "Testspiel".into(),
        starts_at: core::TimeMs(1_772_649_000_000),
        venue_name: "Eisarena".into(),
        order: core::OrderId(5),
        holder: "Erika".into(),
    };
    let pages = page_texts(&ticket_pdf(&view, &[], Lang::En));
    assert_eq!(pages.len(), 1);
    assert!(flat(&pages[0]).contains("This order has no valid tickets left."), "{}", pages[0]);
}

#[test]
fn very_long_names_wrap_and_stay_on_the_page() {
    if !poppler_available() {
        return;
    }
    let long = "Eishockey-Bundesliga-Zweite-Liga Play-off-Halbfinale Spiel 7 Entscheidung Verlängerung Penaltyschießen";
    let view = OrderView {
        organizer: organizer.into(),
        event_name: long.into(),
        starts_at: core::TimeMs(1_772_649_000_000),
        venue_name: "Multifunktionsarena am Stadtpark, Nordtribüne und Südkurve, Eingang Tor 3".into(),
        order: core::OrderId(5),
        holder: "Maximilian Alexander von und zu Hohenzollern-Sigmaringen-Nordstadt".into(),
    };
    let ticket = PrintedTicket {
        index: 0,
        place: PlaceLabel::Seat { block: "Nordtribüne Ober".into(), row: "Loge 12 links".into(), seat: "Sitz 1234 Mitte".into() },
        category: "Premium Business Loge mit Catering".into(),
        price: core::Cents(1_234_567),
        credential: Keyring::generate("club", [7; 32]).sign(Kind::Ticket, &[1; 41]),
    };
    let pdf = ticket_pdf(&view, std::slice::from_ref(&ticket), Lang::De);
    let page = flat(&page_texts(&pdf)[0]);
    assert!(page.contains("Preis: 12.345,67 €"), "{page}");
    // A word longer than a line is cut; text beyond the last allowed line ends in "…".
    assert!(page.contains("Eishockey-Bundesliga-Zweite") && page.contains("Play-off-Halbfinale Spiel 7"), "{page}");
    assert!(page.contains("Entscheidung") && !page.contains("Penaltyschießen"), "{page}");
    assert!(page.contains("Inhaber: Maximilian Alexander von und zu…"), "{page}");
    let right_pt = words_right_edge_pt(&pdf);
    assert!(right_pt <= 297.64 - 10.0, "text reaches {right_pt} pt on a 297.64 pt wide page");
    // The QR still decodes at the smaller size the long text leaves it.
    assert_eq!(decode_qr_pages(&pdf), [ticket.credential]);
}

/// The right edge of the rightmost word on any page, from `pdftotext -bbox`.
fn words_right_edge_pt(pdf: &[u8]) -> f32 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.pdf");
    std::fs::write(&path, pdf).unwrap();
    let html = run("pdftotext", &["-bbox", path.to_str().unwrap(), "-"]);
    let edges: Vec<f32> =
        html.split("xMax=\"").skip(1).map(|rest| rest.split('"').next().unwrap().parse().unwrap()).collect();
    assert!(edges.len() > 20, "{html}");
    edges.into_iter().fold(0.0, f32::max)
}

/// Renders every page to grey pixels with `pdftoppm` and decodes the one QR code
/// on each with `rqrr`, as a gate's camera would.
pub(crate) fn decode_qr_pages(pdf: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.pdf");
    std::fs::write(&path, pdf).unwrap();
    let prefix = dir.path().join("page");
    // 150 dpi is a phone screen's scale, not a scanner's: modules of about 6 pixels.
    run("pdftoppm", &["-r", "150", "-gray", path.to_str().unwrap(), prefix.to_str().unwrap()]);
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pgm"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let data = std::fs::read(file).unwrap();
            let (width, height, pixels) = read_pgm(&data);
            let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
            let grids = image.detect_grids();
            assert_eq!(grids.len(), 1, "{}: one QR code per page", file.display());
            grids[0].decode().unwrap().1
        })
        .collect()
}

/// A binary PGM (`P5`, 8-bit) as pdftoppm writes it: three header fields, then pixels.
fn read_pgm(data: &[u8]) -> (usize, usize, &[u8]) {
    let mut fields = Vec::new();
    let mut at = 2;
    assert_eq!(&data[..2], b"P5");
    while fields.len() < 3 {
        while data[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while data[at].is_ascii_digit() {
            at += 1;
        }
        fields.push(std::str::from_utf8(&data[start..at]).unwrap().parse::<usize>().unwrap());
    }
    assert_eq!(fields[2], 255);
    let pixels = &data[at + 1..];
    assert_eq!(pixels.len(), fields[0] * fields[1]);
    (fields[0], fields[1], pixels)
}

#[test]
fn the_qr_on_every_page_decodes_to_that_tickets_credential_and_verifies() {
    if !poppler_available() {
        return;
    }
    let w = world();
    for order in [w.seats, w.standing] {
        let (view, printed) = tickets::printable(&w.tenant, &w.keyring, organizer, order).unwrap();
        let scanned = decode_qr_pages(&ticket_pdf(&view, &printed, Lang::De));
        let expected: Vec<String> = printed.iter().map(|t| t.credential.clone()).collect();
        assert_eq!(scanned, expected);
        assert_eq!(scanned, w.credentials(order), "the PDF carries the same credentials as ticket_credentials");
        for text in &scanned {
            let claim = verify_ticket(&w.gate(), w.event, text).unwrap();
            assert_eq!(claim.order, order);
        }
    }
}
