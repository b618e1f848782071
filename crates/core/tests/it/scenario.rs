//! Scenario tests: the state machine driven by short text scripts, one command a line,
//! with the transcript of outcomes held as an inline `expect!` snapshot. They prove the
//! documented behaviour of holds, best available, expiry, the pause brake,
//! confirmation, cancellation, refunds, limits, quotas, the sale gate and idempotency,
//! and after every single command the runner recounts all invariants and checks that
//! a snapshot (`parts` → `restore`) rebuilds a tenant equal to the live one.
//! Update snapshots with `UPDATE_EXPECT=1 cargo test -p sturmfest-core`, then read
//! every changed line: a snapshot is only as good as the review it got.
//!
//! The language, one statement a line (`#` starts a comment):
//!
//! ```text
//! venue arena: block A rows 3 seats 10; block B rows 2 seats 8; standing Nord 100
//! event game at arena: cat Sitz blocks A B tariffs Erw=29.00 Erm=19.00; cat Steh area Nord tariffs Erw=15.00;
//!     hold 600s; order max 8; customer max 8; quotas box_office=20; sale 10:00:00..20:00:00
//! at 14:00:00 open game            # also: close, pause game "message", resume
//! at 14:00:01 hold game seats A-1-5 A-1-6 by fan-7 via box_office tariff Erm
//! hold game best 4 in Sitz [block A] | hold game standing 3 in Nord
//! release h1 | confirm h1 pay p-1 | cancel o1 all | cancel o1 tickets 0 2 norefund
//! refund o1 10.00 ref r-1 | tick | show game | show h1
//! key k1 hold game ...             # idempotency key; the fingerprint is the rest of the line
//! ```
//!
//! Seats are named `block-row-seat`; rows and seats are numbered from 1. A line without
//! `at` keeps the previous time (the script starts at 00:00:00). Event defaults: hold
//! 600 s, order max 8, customer max 64, no quotas, sale 00:00:00..48:00:00.

use std::collections::BTreeMap;

use expect_test::{Expect, expect};
use sturmfest_core::*;

fn check(script: &str, expect: Expect) {
    let mut runner = Runner::new();
    for line in script.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if !line.is_empty() {
            runner.run_line(line);
        }
    }
    expect.assert_eq(&runner.out);
}

struct Runner {
    tenant: Tenant,
    now: i64,
    venues: BTreeMap<String, VenueId>,
    events: BTreeMap<String, EventId>,
    out: String,
}

const BUYER_NAME: &str = "Erika Mustermann";

impl Runner {
    fn new() -> Runner {
        Runner { tenant: Tenant::new(), now: 0, venues: BTreeMap::new(), events: BTreeMap::new(), out: String::new() }
    }

    fn run_line(&mut self, line: &str) {
        let mut rest = line;
        if let Some(after) = rest.strip_prefix("at ") {
            let (time, tail) = after.split_once(' ').unwrap_or((after, ""));
            self.now = parse_time(time);
            rest = tail.trim();
        }
        let mut idempotency = None;
        if let Some(after) = rest.strip_prefix("key ") {
            let (key, tail) = after.split_once(' ').expect("key NAME COMMAND");
            rest = tail.trim();
            idempotency =
                Some(Idempotency { key: IdemKey(u128::from(digest(key))), fingerprint: digest(rest) });
        }
        let words = words(rest);
        let verb = words[0].as_str();
        if verb == "show" {
            let line = self.show(&words[1]);
            self.print(&format!("show {}", words[1]), &line);
            return;
        }
        let command = self.command(rest, &words);
        let envelope = Envelope { time: TimeMs(self.now), idempotency, command };
        let outcome = self.tenant.apply(&envelope);
        self.tenant.check_invariants();
        let restored = Tenant::restore(self.tenant.parts()).expect("a snapshot of a live tenant restores");
        assert_eq!(restored, self.tenant, "restore(parts()) rebuilds the live tenant");
        let text = match &outcome {
            Ok(reply) => self.reply(&envelope.command, reply),
            Err(rejection) => self.rejection(rejection, &envelope.command),
        };
        if let (Command::CreateVenue(spec), Ok(Reply::VenueCreated { venue })) = (&envelope.command, &outcome) {
            self.venues.insert(spec.name.clone(), *venue);
        }
        if let (Command::CreateEvent(spec), Ok(Reply::EventCreated { event })) = (&envelope.command, &outcome) {
            self.events.insert(spec.name.clone(), *event);
        }
        let head = match &envelope.idempotency {
            Some(_) => format!("{verb} (keyed)"),
            None => verb.to_string(),
        };
        self.print(&head, &text);
    }

    fn print(&mut self, head: &str, text: &str) {
        self.out.push_str(&format!("{} {head} -> {text}\n", fmt_time(self.now)));
    }

    fn command(&self, line: &str, w: &[String]) -> Command {
        match w[0].as_str() {
            "venue" => Command::CreateVenue(self.venue_spec(line)),
            "event" => Command::CreateEvent(self.event_spec(line)),
            "open" | "close" | "resume" | "pause" => {
                let action = match w[0].as_str() {
                    "open" => SaleAction::Open,
                    "close" => SaleAction::Close,
                    "resume" => SaleAction::Resume,
                    _ => SaleAction::Pause { message: w.get(2).cloned().unwrap_or_default(), resume_at: None },
                };
                Command::Sale { event: self.event_id(&w[1]), action }
            }
            "hold" => Command::Hold(self.hold_request(w)),
            "release" => Command::Release { hold: HoldId(number(&w[1], 'h')) },
            "confirm" => {
                let payment = option(w, "pay").unwrap_or_default();
                let buyer = Buyer { name: BUYER_NAME.into(), email: "erika@example.org".into() };
                Command::Confirm { hold: HoldId(number(&w[1], 'h')), payment, buyer }
            }
            "cancel" => {
                let tickets = match w[2].as_str() {
                    "all" => TicketSelection::All,
                    "tickets" => TicketSelection::Some(
                        w[3..].iter().take_while(|t| t.parse::<u16>().is_ok()).map(|t| t.parse().unwrap()).collect(),
                    ),
                    other => panic!("cancel o1 all|tickets ..., not {other}"),
                };
                let refund = if w.iter().any(|t| t == "norefund") { RefundMode::None } else { RefundMode::Full };
                Command::Cancel { order: OrderId(number(&w[1], 'o')), tickets, refund }
            }
            "refund" => Command::Refund {
                order: OrderId(number(&w[1], 'o')),
                amount: parse_cents(&w[2]),
                reference: option(w, "ref").unwrap_or_else(|| "r".into()),
            },
            "tick" => Command::Tick,
            other => panic!("unknown statement {other:?}"),
        }
    }

    fn hold_request(&self, w: &[String]) -> HoldRequest {
        let event = self.event_id(&w[1]);
        let spec = self.tenant.event(event).map(|e| e.spec.clone());
        let venue = spec.as_ref().and_then(|s| self.tenant.venue(s.venue));
        let (selection, category) = match w[2].as_str() {
            "seats" => {
                let names: Vec<&String> = w[3..].iter().take_while(|t| t.contains('-')).collect();
                let seats: Vec<SeatId> = names.iter().map(|n| venue.map_or(SeatId(u32::MAX), |v| seat_id(v, n))).collect();
                let category = seats
                    .first()
                    .and_then(|s| self.tenant.event(event)?.seat_category.get(s.0 as usize).copied().flatten());
                (Selection::Seats(seats), category)
            }
            "best" => {
                let quantity = w[3].parse().expect("best N in CATEGORY");
                let category = spec.as_ref().map_or(CategoryId(u16::MAX), |s| category_id(s, &w[5]));
                let block = option(w, "block").map(|b| venue.map_or(BlockId(u16::MAX), |v| block_id(&v.spec, &b)));
                (Selection::BestAvailable { category, block, quantity }, Some(category))
            }
            "standing" => {
                let quantity = w[3].parse().expect("standing N in AREA");
                let area = venue.map_or(AreaId(u16::MAX), |v| area_id(&v.spec, &w[5]));
                let category = self.tenant.event(event).and_then(|e| e.area_category.get(usize::from(area.0)).copied().flatten());
                (Selection::Standing { area, quantity }, category)
            }
            other => panic!("hold EVENT seats|best|standing, not {other}"),
        };
        let tariff = match (option(w, "tariff"), spec, category) {
            (None, ..) => TariffId(0),
            (Some(name), Some(spec), Some(category)) => spec
                .categories
                .get(usize::from(category.0))
                .and_then(|c| c.tariffs.iter().position(|t| t.name == name))
                .map_or(TariffId(u16::MAX), |t| TariffId(t as u16)),
            (Some(_), ..) => TariffId(u16::MAX),
        };
        let channel = match option(w, "via").as_deref() {
            None | Some("online") => Channel::Online,
            Some("box_office") => Channel::BoxOffice,
            Some("reserved") => Channel::Reserved,
            Some(other) => panic!("unknown channel {other}"),
        };
        let customer = CustomerId(digest(&option(w, "by").unwrap_or_else(|| "fan".into())));
        HoldRequest { event, customer, channel, selection, tariff, admission: None }
    }

    fn venue_spec(&self, line: &str) -> VenueSpec {
        let (head, body) = line.split_once(':').expect("venue NAME: PARTS");
        let name = head.trim_start_matches("venue").trim().to_string();
        let mut spec = VenueSpec { name, blocks: Vec::new(), standing: Vec::new() };
        for part in body.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let w: Vec<&str> = part.split_whitespace().collect();
            match w[0] {
                "block" => {
                    let rows: usize = option_str(&w, "rows").parse().unwrap();
                    let seats: usize = option_str(&w, "seats").parse().unwrap();
                    let rows = (1..=rows)
                        .map(|r| RowSpec {
                            label: r.to_string(),
                            seats: (1..=seats)
                                .map(|s| SeatSpec { label: s.to_string(), x: s as i32, y: r as i32 })
                                .collect(),
                        })
                        .collect();
                    spec.blocks.push(BlockSpec { name: w[1].to_string(), rows });
                }
                "standing" => spec.standing.push(StandingSpec { name: w[1].into(), capacity: w[2].parse().unwrap() }),
                other => panic!("venue part {other}"),
            }
        }
        spec
    }

    fn event_spec(&self, line: &str) -> EventSpec {
        let (head, body) = line.split_once(':').expect("event NAME at VENUE: PARTS");
        let head: Vec<&str> = head.split_whitespace().collect();
        let venue = self.venues.get(head[3]).copied().unwrap_or(VenueId(u32::MAX));
        let venue_spec = self.tenant.venue(venue).map(|v| v.spec.clone());
        let mut spec = EventSpec {
            name: head[1].to_string(),
            venue,
            starts_at: TimeMs(parse_time("48:00:00")),
            sale_opens_at: TimeMs(0),
            sale_closes_at: TimeMs(parse_time("48:00:00")),
            categories: Vec::new(),
            quotas: [None; 3],
            hold_duration_ms: 600_000,
            order_tickets_max: 8,
            customer_tickets_max: 64,
        };
        for part in body.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let w: Vec<&str> = part.split_whitespace().collect();
            match w[0] {
                "cat" => {
                    let tariffs_at = w.iter().position(|t| *t == "tariffs").expect("cat ... tariffs");
                    let places = match w[2] {
                        "blocks" => CategoryPlaces::Blocks(
                            w[3..tariffs_at]
                                .iter()
                                .map(|b| venue_spec.as_ref().map_or(BlockId(u16::MAX), |v| block_id(v, b)))
                                .collect(),
                        ),
                        "area" => CategoryPlaces::Standing(
                            venue_spec.as_ref().map_or(AreaId(u16::MAX), |v| area_id(v, w[3])),
                        ),
                        other => panic!("cat NAME blocks|area, not {other}"),
                    };
                    let tariffs = w[tariffs_at + 1..]
                        .iter()
                        .map(|t| {
                            let (name, price) = t.split_once('=').expect("NAME=PRICE");
                            TariffSpec { name: name.into(), price: parse_cents(price) }
                        })
                        .collect();
                    spec.categories.push(CategorySpec { name: w[1].into(), places, tariffs });
                }
                "hold" => spec.hold_duration_ms = w[1].trim_end_matches('s').parse::<i64>().unwrap() * 1000,
                "order" => spec.order_tickets_max = w[2].parse().unwrap(),
                "customer" => spec.customer_tickets_max = w[2].parse().unwrap(),
                "quotas" => {
                    for quota in &w[1..] {
                        let (channel, n) = quota.split_once('=').unwrap();
                        let channel = Channel::ALL.iter().find(|c| c.code() == channel).expect("channel code");
                        spec.quotas[channel.index()] = Some(n.parse().unwrap());
                    }
                }
                "sale" => {
                    let (from, to) = w[1].split_once("..").expect("sale FROM..TO");
                    spec.sale_opens_at = TimeMs(parse_time(from));
                    spec.sale_closes_at = TimeMs(parse_time(to));
                }
                other => panic!("event part {other}"),
            }
        }
        spec
    }

    fn event_id(&self, name: &str) -> EventId {
        self.events.get(name).copied().unwrap_or(EventId(u32::MAX))
    }

    fn show(&self, name: &str) -> String {
        if let Some(hold) = name.strip_prefix('h').and_then(|n| n.parse().ok()).map(HoldId) {
            return match (self.tenant.hold_of(hold), self.tenant.order_of_hold(hold)) {
                (Some(live), _) => format!("live until {}", fmt_time(live.expires_at.0)),
                (None, Some(order)) => format!("confirmed as o{order}"),
                (None, None) => "not live".to_string(),
            };
        }
        let event_name = name;
        let event = self.tenant.event(self.event_id(event_name)).expect("show a known event");
        let mut text = event.sale.code().to_string();
        for (spec, counts) in event.spec.categories.iter().zip(&event.categories) {
            text.push_str(&format!(
                "; {} free {} held {} sold {}",
                spec.name,
                counts.free(),
                counts.held,
                counts.sold
            ));
        }
        for (channel, counts) in Channel::ALL.iter().zip(&event.channels) {
            if counts.held + counts.sold > 0 {
                text.push_str(&format!("; {} {}", channel.code(), counts.held + counts.sold));
            }
        }
        text
    }

    fn reply(&self, command: &Command, reply: &Reply) -> String {
        match reply {
            Reply::VenueCreated { venue } => {
                let venue = self.tenant.venue(*venue).unwrap();
                let standing: u32 = venue.spec.standing.iter().map(|a| a.capacity).sum();
                format!("venue {} with {} seats and {standing} standing", venue.spec.name, venue.seat_count())
            }
            Reply::EventCreated { event } => {
                let event = self.tenant.event(*event).unwrap();
                format!("event {} with capacity {}", event.spec.name, event.capacity())
            }
            Reply::SaleChanged { event } => self.tenant.event(*event).unwrap().sale.code().to_string(),
            Reply::Held(receipt) => {
                let venue = self.venue_of(receipt.event);
                let places = match &receipt.places {
                    Places::Seats(seats) => seats.iter().map(|s| seat_name(venue, *s)).collect::<Vec<_>>().join(" "),
                    Places::Standing { area, quantity } => {
                        format!("{quantity} x {}", venue.spec.standing[usize::from(area.0)].name)
                    }
                };
                format!("h{} {places} total {} until {}", receipt.hold, receipt.total, fmt_time(receipt.expires_at.0))
            }
            Reply::Released { hold } => format!("released h{hold}"),
            Reply::RoomCreated { event } => format!("room for event {event}"),
            Reply::Room { reply, .. } => format!("room {reply:?}"),
            Reply::Staff(reply) => format!("staff {reply:?}"),
            Reply::EventAmended { event } => format!("amended event {event}"),
            Reply::Payment(reply) => format!("payment {reply:?}"),
            Reply::Ledger(reply) => format!("ledger {reply:?}"),
            Reply::Voucher(reply) => format!("voucher {reply:?}"),
            Reply::Confirmed { order, total } => {
                let Command::Confirm { hold, .. } = command else { unreachable!() };
                format!("o{order} from h{hold} total {total}")
            }
            Reply::Cancelled { order, tickets, refunded } => {
                let order = self.tenant.order(*order).unwrap();
                format!(
                    "cancelled {tickets} of o{}, refunded {refunded}; o{} paid {} refunded {} valid {}",
                    order.id,
                    order.id,
                    order.paid(),
                    order.refunded(),
                    order.valid_tickets().count()
                )
            }
            Reply::Refunded { order, amount } => {
                let o = self.tenant.order(*order).unwrap();
                format!("refunded {amount} on o{order}; paid {} refunded {}", o.paid(), o.refunded())
            }
            Reply::Ticked { expired } => format!("{expired} expired"),
        }
    }

    fn rejection(&self, rejection: &Rejection, command: &Command) -> String {
        let seat_event = match command {
            Command::Hold(request) => self.tenant.event(request.event).map(|e| e.spec.venue),
            _ => None,
        };
        let named = |seat: &SeatId| match seat_event.and_then(|v| self.tenant.venue(v)) {
            Some(venue) if venue.seat(*seat).is_some() => seat_name(venue, *seat),
            _ => format!("#{}", seat.0),
        };
        let detail = match rejection {
            Rejection::SeatUnavailable { seat }
            | Rejection::SeatNotForSale { seat }
            | Rejection::DuplicateSeat { seat }
            | Rejection::UnknownSeat { seat } => named(seat),
            Rejection::SaleNotStarted { opens_at } => format!("opens {}", fmt_time(opens_at.0)),
            other if other.detail() == other.code().replace('_', " ") => String::new(),
            other => other.detail(),
        };
        if detail.is_empty() { format!("! {}", rejection.code()) } else { format!("! {}: {detail}", rejection.code()) }
    }

    fn venue_of(&self, event: EventId) -> &Venue {
        self.tenant.venue(self.tenant.event(event).unwrap().spec.venue).unwrap()
    }
}

/// Splits on whitespace but keeps a `"quoted message"` as one word, without quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (word, tail) = quoted.split_once('"').expect("closing quote");
            out.push(word.to_string());
            rest = tail.trim_start();
        } else {
            let (word, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push(word.to_string());
            rest = tail.trim_start();
        }
    }
    out
}

/// The word after `name`, as in `by fan-7` or `pay p-1`.
fn option(w: &[String], name: &str) -> Option<String> {
    w.iter().position(|t| t == name).and_then(|i| w.get(i + 1)).cloned()
}

fn option_str<'a>(w: &[&'a str], name: &str) -> &'a str {
    let i = w.iter().position(|t| *t == name).unwrap_or_else(|| panic!("missing {name}"));
    w[i + 1]
}

fn number(word: &str, prefix: char) -> u64 {
    word.strip_prefix(prefix).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{prefix}N, not {word}"))
}

/// FNV-1a: a stable digest for customer names, idempotency keys and fingerprints.
fn digest(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// `HH:MM:SS` or `HH:MM:SS.mmm`; hours may pass 24 to reach the next day.
fn parse_time(text: &str) -> i64 {
    let (hms, ms) = text.split_once('.').unwrap_or((text, "0"));
    let parts: Vec<i64> = hms.split(':').map(|p| p.parse().expect("HH:MM:SS")).collect();
    assert_eq!(parts.len(), 3, "time is HH:MM:SS, not {text}");
    ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + ms.parse::<i64>().expect("milliseconds")
}

fn fmt_time(ms: i64) -> String {
    let s = ms / 1000;
    let base = format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    if ms % 1000 == 0 { base } else { format!("{base}.{:03}", ms % 1000) }
}

fn parse_cents(text: &str) -> Cents {
    let (euros, cents) = text.split_once('.').unwrap_or((text, "0"));
    let negative = euros.starts_with('-');
    let euros: i64 = euros.trim_start_matches('-').parse().expect("euros");
    let cents: i64 = format!("{cents:0<2}").parse().expect("cents");
    let value = euros * 100 + cents;
    Cents(if negative { -value } else { value })
}

fn block_id(venue: &VenueSpec, name: &str) -> BlockId {
    venue.blocks.iter().position(|b| b.name == name).map_or(BlockId(u16::MAX), |b| BlockId(b as u16))
}

fn area_id(venue: &VenueSpec, name: &str) -> AreaId {
    venue.standing.iter().position(|a| a.name == name).map_or(AreaId(u16::MAX), |a| AreaId(a as u16))
}

fn category_id(event: &EventSpec, name: &str) -> CategoryId {
    event.categories.iter().position(|c| c.name == name).map_or(CategoryId(u16::MAX), |c| CategoryId(c as u16))
}

/// `A-1-5` → the seat's id; an unknown name maps to an id past the venue's seats.
fn seat_id(venue: &Venue, name: &str) -> SeatId {
    let parts: Vec<&str> = name.split('-').collect();
    let unknown = SeatId(venue.seat_count() + 1000);
    let [block, row, seat] = parts[..] else { return unknown };
    let b = block_id(&venue.spec, block);
    let Some(block_spec) = venue.spec.blocks.get(usize::from(b.0)) else { return unknown };
    let Some(r) = block_spec.rows.iter().position(|r| r.label == row) else { return unknown };
    let Some(s) = block_spec.rows[r].seats.iter().position(|s| s.label == seat) else { return unknown };
    let row_id = venue.blocks[usize::from(b.0)].rows.start as usize + r;
    SeatId(venue.rows[row_id].seats.start + s as u32)
}

fn seat_name(venue: &Venue, seat: SeatId) -> String {
    let (block, row, seat) = venue.seat_labels(seat).expect("a seat of this venue");
    format!("{block}-{row}-{seat}")
}

// ----- the scenarios -----

#[test]
fn specific_seats_are_held_once_and_a_taken_seat_is_refused() {
    check(
        r#"
venue arena: block A rows 3 seats 10; block B rows 2 seats 8; block Presse rows 1 seats 4; standing Nord 100
event game at arena: cat Sitz blocks A tariffs Erw=29.00 Erm=19.00; cat Gast blocks B tariffs Erw=25.00
at 14:00:00 open game
at 14:00:01 hold game seats A-1-5 A-1-6 by fan-7
at 14:00:02 hold game seats A-1-6 A-1-7 by fan-8
at 14:00:03 hold game seats A-1-7 A-1-7 by fan-8
at 14:00:04 hold game seats A-1-7 Z-9-9 by fan-8
at 14:00:05 hold game seats A-1-7 B-1-1 by fan-8
at 14:00:06 hold game seats Presse-1-1 by fan-8
at 14:00:07 hold game seats A-1-7 A-1-8 by fan-8 tariff Erm
at 14:00:08 hold game seats A-1-9 by fan-8 tariff Kind
at 14:00:09 hold game seats by fan-8
at 14:00:10 hold game standing 1 in Nord
show game
"#,
        expect![[r#"
            00:00:00 venue -> venue arena with 50 seats and 100 standing
            00:00:00 event -> event game with capacity 46
            14:00:00 open -> open
            14:00:01 hold -> h1 A-1-5 A-1-6 total 58.00 until 14:10:01
            14:00:02 hold -> ! seat_unavailable: A-1-6
            14:00:03 hold -> ! duplicate_seat: A-1-7
            14:00:04 hold -> ! unknown_seat: #1050
            14:00:05 hold -> ! seats_span_categories
            14:00:06 hold -> ! seat_not_for_sale: Presse-1-1
            14:00:07 hold -> h2 A-1-7 A-1-8 total 38.00 until 14:10:07
            14:00:08 hold -> ! unknown_tariff
            14:00:09 hold -> ! invalid_request: select at least one place
            14:00:10 hold -> ! unknown_area
            14:00:10 show game -> open; Sitz free 26 held 4 sold 0; Gast free 16 held 0 sold 0; online 4
        "#]],
    );
}

#[test]
fn best_available_picks_the_centred_adjacent_run_and_skips_full_rows() {
    check(
        r#"
venue arena: block A rows 2 seats 6; block B rows 2 seats 6
event game at arena: cat Sitz blocks B A tariffs Erw=10.00; order max 6
at 14:00:00 open game
at 14:00:01 hold game best 2 in Sitz block A
at 14:00:02 hold game best 2 in Sitz block A
at 14:00:03 hold game best 1 in Sitz block A
at 14:00:04 hold game seats A-1-1 A-1-6
at 14:00:05 hold game best 2 in Sitz block A
at 14:00:06 hold game seats A-2-1 A-2-6
at 14:00:07 hold game best 2 in Sitz block A
at 14:00:08 hold game best 1 in Sitz block A
at 14:00:09 hold game best 1 in Sitz block A
at 14:00:10 hold game best 1 in Sitz block A
at 14:00:11 hold game best 4 in Sitz
at 14:00:12 hold game best 6 in Sitz
show game
"#,
        expect![[r#"
            00:00:00 venue -> venue arena with 24 seats and 0 standing
            00:00:00 event -> event game with capacity 24
            14:00:00 open -> open
            14:00:01 hold -> h1 A-1-3 A-1-4 total 20.00 until 14:10:01
            14:00:02 hold -> h2 A-1-1 A-1-2 total 20.00 until 14:10:02
            14:00:03 hold -> h3 A-1-5 total 10.00 until 14:10:03
            14:00:04 hold -> ! seat_unavailable: A-1-1
            14:00:05 hold -> h4 A-2-3 A-2-4 total 20.00 until 14:10:05
            14:00:06 hold -> h5 A-2-1 A-2-6 total 20.00 until 14:10:06
            14:00:07 hold -> ! not_enough_adjacent_seats
            14:00:08 hold -> h6 A-1-6 total 10.00 until 14:10:08
            14:00:09 hold -> h7 A-2-2 total 10.00 until 14:10:09
            14:00:10 hold -> h8 A-2-5 total 10.00 until 14:10:10
            14:00:11 hold -> h9 B-1-2 B-1-3 B-1-4 B-1-5 total 40.00 until 14:10:11
            14:00:12 hold -> h10 B-2-1 B-2-2 B-2-3 B-2-4 B-2-5 B-2-6 total 60.00 until 14:10:12
            14:00:12 show game -> open; Sitz free 2 held 22 sold 0; online 22
        "#]],
    );
}

#[test]
fn best_available_tells_not_enough_adjacent_seats_apart_from_sold_out() {
    check(
        r#"
venue hall: block A rows 2 seats 4
event game at hall: cat Sitz blocks A tariffs Erw=10.00
at 14:00:00 open game
at 14:00:01 hold game seats A-1-2 A-1-3 A-2-2 A-2-4
at 14:00:02 hold game best 2 in Sitz
at 14:00:03 hold game best 5 in Sitz
at 14:00:04 hold game best 1 in Sitz
at 14:00:05 hold game best 1 in Sitz
at 14:00:06 hold game best 2 in Sitz
at 14:00:07 hold game best 1 in Sitz
at 14:00:08 hold game best 1 in Sitz
at 14:00:09 hold game best 1 in Sitz
at 14:00:10 hold game best 2 in Sitz block B
at 14:00:11 hold game best 1 in Logen
"#,
        expect![[r#"
            00:00:00 venue -> venue hall with 8 seats and 0 standing
            00:00:00 event -> event game with capacity 8
            14:00:00 open -> open
            14:00:01 hold -> h1 A-1-2 A-1-3 A-2-2 A-2-4 total 40.00 until 14:10:01
            14:00:02 hold -> ! not_enough_adjacent_seats
            14:00:03 hold -> ! sold_out
            14:00:04 hold -> h2 A-1-1 total 10.00 until 14:10:04
            14:00:05 hold -> h3 A-1-4 total 10.00 until 14:10:05
            14:00:06 hold -> ! not_enough_adjacent_seats
            14:00:07 hold -> h4 A-2-3 total 10.00 until 14:10:07
            14:00:08 hold -> h5 A-2-1 total 10.00 until 14:10:08
            14:00:09 hold -> ! sold_out
            14:00:10 hold -> ! unknown_block
            14:00:11 hold -> ! unknown_category
        "#]],
    );
}

#[test]
fn standing_areas_sell_up_to_their_capacity_and_get_places_back() {
    check(
        r#"
venue arena: block A rows 1 seats 4; standing Nord 5; standing Sued 5
event game at arena: cat Steh area Nord tariffs Erw=15.00 Erm=9.50; cat Sitz blocks A tariffs Erw=30.00
at 14:00:00 open game
at 14:00:01 hold game standing 3 in Nord by fan-1
at 14:00:02 hold game standing 3 in Nord by fan-2
at 14:00:03 hold game standing 2 in Nord by fan-2 tariff Erm
at 14:00:04 hold game standing 1 in Nord by fan-3
at 14:00:05 hold game standing 1 in Sued by fan-3
at 14:00:06 hold game standing 0 in Nord by fan-3
at 14:00:07 hold game best 1 in Steh
at 14:00:08 confirm h1 pay p-1
at 14:00:09 release h2
at 14:00:10 hold game standing 2 in Nord by fan-3
at 14:00:11 cancel o1 tickets 0 2
at 14:00:12 hold game standing 2 in Nord by fan-4
show game
"#,
        expect![[r#"
            00:00:00 venue -> venue arena with 4 seats and 10 standing
            00:00:00 event -> event game with capacity 9
            14:00:00 open -> open
            14:00:01 hold -> h1 3 x Nord total 45.00 until 14:10:01
            14:00:02 hold -> ! sold_out
            14:00:03 hold -> h2 2 x Nord total 19.00 until 14:10:03
            14:00:04 hold -> ! sold_out
            14:00:05 hold -> ! unknown_area
            14:00:06 hold -> ! invalid_request: select at least one place
            14:00:07 hold -> ! invalid_request: best available needs a seated category
            14:00:08 confirm -> o1 from h1 total 45.00
            14:00:09 release -> released h2
            14:00:10 hold -> h3 2 x Nord total 30.00 until 14:10:10
            14:00:11 cancel -> cancelled 2 of o1, refunded 30.00; o1 paid 45.00 refunded 30.00 valid 1
            14:00:12 hold -> h4 2 x Nord total 30.00 until 14:10:12
            14:00:12 show game -> open; Steh free 0 held 4 sold 1; Sitz free 4 held 0 sold 0; online 5
        "#]],
    );
}

#[test]
fn a_hold_expires_at_exactly_its_expiry_time() {
    check(
        r#"
venue hall: block A rows 1 seats 4
event game at hall: cat Sitz blocks A tariffs Erw=10.00; hold 60s
at 14:00:00 open game
at 14:00:00 hold game seats A-1-1 by fan-1
at 14:00:30 hold game seats A-1-2 by fan-2
at 14:00:59.999 tick
show h1
at 14:01:00 tick
show h1
at 14:01:00 confirm h1 pay p-1
at 14:01:00 hold game seats A-1-1 by fan-3
at 14:01:30 confirm h2 pay p-2
at 14:01:59.999 confirm h3 pay p-3
show game
"#,
        expect![[r#"
            00:00:00 venue -> venue hall with 4 seats and 0 standing
            00:00:00 event -> event game with capacity 4
            14:00:00 open -> open
            14:00:00 hold -> h1 A-1-1 total 10.00 until 14:01:00
            14:00:30 hold -> h2 A-1-2 total 10.00 until 14:01:30
            14:00:59.999 tick -> 0 expired
            14:00:59.999 show h1 -> live until 14:01:00
            14:01:00 tick -> 1 expired
            14:01:00 show h1 -> not live
            14:01:00 confirm -> ! hold_ended
            14:01:00 hold -> h3 A-1-1 total 10.00 until 14:02:00
            14:01:30 confirm -> ! hold_ended
            14:01:59.999 confirm -> o1 from h3 total 10.00
            14:01:59.999 show game -> open; Sitz free 3 held 0 sold 1; online 1
        "#]],
    );
}

#[test]
fn a_pause_freezes_holds_and_resuming_shifts_their_expiry_by_the_pause_length() {
    check(
        r#"
venue arena: block A rows 3 seats 10; block B rows 2 seats 8; standing Nord 100
event game at arena: cat Sitz blocks A B tariffs Erw=29.00 Erm=19.00; cat Steh area Nord tariffs Erw=15.00; hold 600s
event other at arena: cat Sitz blocks A tariffs Erw=10.00; hold 600s
at 14:00:00 open game
at 14:00:00 open other
at 14:00:01 hold game seats A-1-5 A-1-6 by fan-7
at 14:00:01 hold other seats A-1-5 by fan-7
at 14:00:02 hold game best 4 in Sitz by fan-8
at 14:00:03 pause game "Technische Störung"
at 14:00:04 hold game best 2 in Sitz by fan-9
at 14:00:05 confirm h1 pay p-1
at 14:05:00 pause game "Neustart gegen 14:10"
at 14:05:01 release h3
at 14:10:01 tick
show h1
show h2
at 14:10:30 resume game
show h1
at 14:20:27.999 tick
at 14:20:28 tick
show h1
at 14:20:28 confirm h1 pay p-1
show game
"#,
        expect![[r#"
            00:00:00 venue -> venue arena with 46 seats and 100 standing
            00:00:00 event -> event game with capacity 146
            00:00:00 event -> event other with capacity 30
            14:00:00 open -> open
            14:00:00 open -> open
            14:00:01 hold -> h1 A-1-5 A-1-6 total 58.00 until 14:10:01
            14:00:01 hold -> h2 A-1-5 total 10.00 until 14:10:01
            14:00:02 hold -> h3 A-1-1 A-1-2 A-1-3 A-1-4 total 116.00 until 14:10:02
            14:00:03 pause -> paused
            14:00:04 hold -> ! sale_paused: the sale is paused: Technische Störung
            14:00:05 confirm -> ! sale_paused: the sale is paused: Technische Störung
            14:05:00 pause -> paused
            14:05:01 release -> released h3
            14:10:01 tick -> 1 expired
            14:10:01 show h1 -> live until 14:10:01
            14:10:01 show h2 -> not live
            14:10:30 resume -> open
            14:10:30 show h1 -> live until 14:20:28
            14:20:27.999 tick -> 0 expired
            14:20:28 tick -> 1 expired
            14:20:28 show h1 -> not live
            14:20:28 confirm -> ! hold_ended
            14:20:28 show game -> open; Sitz free 46 held 0 sold 0; Steh free 100 held 0 sold 0
        "#]],
    );
}

#[test]
fn closing_a_paused_sale_lets_its_frozen_holds_run_out_later() {
    check(
        r#"
venue hall: block A rows 1 seats 4
event game at hall: cat Sitz blocks A tariffs Erw=10.00; hold 60s
at 14:00:00 open game
at 14:00:00 hold game seats A-1-1
at 14:00:30 pause game "Stromausfall"
at 14:02:30 close game
show h1
at 14:02:40 confirm h1 pay p-1
at 14:03:00 tick
"#,
        expect![[r#"
            00:00:00 venue -> venue hall with 4 seats and 0 standing
            00:00:00 event -> event game with capacity 4
            14:00:00 open -> open
            14:00:00 hold -> h1 A-1-1 total 10.00 until 14:01:00
            14:00:30 pause -> paused
            14:02:30 close -> closed
            14:02:30 show h1 -> live until 14:03:00
            14:02:40 confirm -> ! sale_closed
            14:03:00 tick -> 1 expired
        "#]],
    );
}

#[test]
fn confirming_ends_a_hold_once_and_an_expired_or_released_hold_cannot_be_confirmed() {
    check(
        r#"
venue hall: block A rows 1 seats 6
event game at hall: cat Sitz blocks A tariffs Erw=12.50; hold 60s
at 14:00:00 open game
at 14:00:00 hold game seats A-1-1 A-1-2
at 14:00:00 hold game seats A-1-3
at 14:00:00 hold game seats A-1-4
at 14:00:10 confirm h1 pay ""
at 14:00:11 confirm h1 pay p-1
at 14:00:12 confirm h1 pay p-2
at 14:00:13 release h1
at 14:00:14 release h2
at 14:00:15 release h2
at 14:00:16 confirm h2 pay p-3
at 14:01:00 confirm h3 pay p-4
at 14:01:01 release h99
at 14:01:02 confirm h99 pay p-5
show game
"#,
        expect![[r#"
            00:00:00 venue -> venue hall with 6 seats and 0 standing
            00:00:00 event -> event game with capacity 6
            14:00:00 open -> open
            14:00:00 hold -> h1 A-1-1 A-1-2 total 25.00 until 14:01:00
            14:00:00 hold -> h2 A-1-3 total 12.50 until 14:01:00
            14:00:00 hold -> h3 A-1-4 total 12.50 until 14:01:00
            14:00:10 confirm -> ! invalid_request: payment reference must be 1 to 128 bytes
            14:00:11 confirm -> o1 from h1 total 25.00
            14:00:12 confirm -> ! hold_already_confirmed: this hold was already confirmed as order 1
            14:00:13 release -> ! hold_already_confirmed: this hold was already confirmed as order 1
            14:00:14 release -> released h2
            14:00:15 release -> ! hold_ended
            14:00:16 confirm -> ! hold_ended
            14:01:00 confirm -> ! hold_ended
            14:01:01 release -> ! unknown_hold
            14:01:02 confirm -> ! unknown_hold
            14:01:02 show game -> open; Sitz free 4 held 0 sold 2; online 2
        "#]],
    );
}

#[test]
fn cancelling_returns_places_to_sale_and_refunds_are_capped_at_what_was_paid() {
    check(
        r#"
venue hall: block A rows 1 seats 6
event game at hall: cat Sitz blocks A tariffs Erw=29.00
at 14:00:00 open game
at 14:00:01 hold game seats A-1-1 A-1-2 A-1-3 by fan-1
at 14:00:02 confirm h1 pay p-1
at 14:00:03 cancel o1 tickets 1
at 14:00:04 hold game seats A-1-2 by fan-2
at 14:00:05 cancel o1 tickets 1
at 14:00:06 cancel o1 tickets 7
at 14:00:07 cancel o1 tickets 0 0
at 14:00:08 cancel o1 tickets
at 14:00:09 refund o1 40.00 ref r-1
at 14:00:10 refund o1 20.00 ref r-2
at 14:00:11 refund o1 0.00 ref r-3
at 14:00:12 cancel o1 all
at 14:00:13 cancel o1 all
at 14:00:14 refund o1 0.01 ref r-4
at 14:00:15 refund o2 1.00 ref r-5
at 14:00:16 hold game seats A-1-1 A-1-3 by fan-2
at 14:00:17 confirm h3 pay p-3
at 14:00:18 cancel o2 all norefund
at 14:00:19 refund o2 58.00 ref kulanz
show game
"#,
        expect![[r#"
            00:00:00 venue -> venue hall with 6 seats and 0 standing
            00:00:00 event -> event game with capacity 6
            14:00:00 open -> open
            14:00:01 hold -> h1 A-1-1 A-1-2 A-1-3 total 87.00 until 14:10:01
            14:00:02 confirm -> o1 from h1 total 87.00
            14:00:03 cancel -> cancelled 1 of o1, refunded 29.00; o1 paid 87.00 refunded 29.00 valid 2
            14:00:04 hold -> h2 A-1-2 total 29.00 until 14:10:04
            14:00:05 cancel -> ! ticket_already_cancelled
            14:00:06 cancel -> ! unknown_ticket
            14:00:07 cancel -> ! invalid_request: a ticket index appears twice
            14:00:08 cancel -> ! invalid_request: name 1 to all tickets of the order
            14:00:09 refund -> refunded 40.00 on o1; paid 87.00 refunded 69.00
            14:00:10 refund -> ! refund_exceeds_paid
            14:00:11 refund -> ! invalid_request: refund needs a positive amount and a reference
            14:00:12 cancel -> cancelled 2 of o1, refunded 18.00; o1 paid 87.00 refunded 87.00 valid 0
            14:00:13 cancel -> ! ticket_already_cancelled
            14:00:14 refund -> ! refund_exceeds_paid
            14:00:15 refund -> ! unknown_order
            14:00:16 hold -> h3 A-1-1 A-1-3 total 58.00 until 14:10:16
            14:00:17 confirm -> o2 from h3 total 58.00
            14:00:18 cancel -> cancelled 2 of o2, refunded 0.00; o2 paid 58.00 refunded 0.00 valid 0
            14:00:19 refund -> refunded 58.00 on o2; paid 58.00 refunded 58.00
            14:00:19 show game -> open; Sitz free 5 held 1 sold 0; online 1
        "#]],
    );
}

#[test]
fn cancelling_a_fully_refunded_order_records_no_zero_refund() {
    // The cancellation refund is capped at what is left to refund; when nothing is
    // left, no refund entry may be written (invariant: refunds are positive).
    check(
        r#"
venue hall: block A rows 1 seats 6
event game at hall: cat Sitz blocks A tariffs Erw=29.00
at 14:00:00 open game
at 14:00:01 hold game seats A-1-1 A-1-2
at 14:00:02 confirm h1 pay p-1
at 14:00:03 refund o1 58.00 ref kulanz
at 14:00:04 cancel o1 all
"#,
        expect![[r#"
            00:00:00 venue -> venue hall with 6 seats and 0 standing
            00:00:00 event -> event game with capacity 6
            14:00:00 open -> open
            14:00:01 hold -> h1 A-1-1 A-1-2 total 58.00 until 14:10:01
            14:00:02 confirm -> o1 from h1 total 58.00
            14:00:03 refund -> refunded 58.00 on o1; paid 58.00 refunded 58.00
            14:00:04 cancel -> cancelled 2 of o1, refunded 0.00; o1 paid 58.00 refunded 58.00 valid 0
        "#]],
    );
}

#[test]
fn a_refund_too_large_for_any_order_is_refused_rather_than_overflowing() {
    // The amount arrives from staff input; an absurd amount must be the rejection
    // `refund_exceeds_paid`, never an arithmetic overflow.
    check(
        r#"
venue hall: block A rows 1 seats 6
event game at hall: cat Sitz blocks A tariffs Erw=29.00
at 14:00:00 open game
at 14:00:01 hold game seats A-1-1
at 14:00:02 confirm h1 pay p-1
at 14:00:03 refund o1 0.01 ref r-1
at 14:00:04 refund o1 92233720368547758.07 ref r-2
"#,
        expect![[r#"
            00:00:00 venue -> venue hall with 6 seats and 0 standing
            00:00:00 event -> event game with capacity 6
            14:00:00 open -> open
            14:00:01 hold -> h1 A-1-1 total 29.00 until 14:10:01
            14:00:02 confirm -> o1 from h1 total 29.00
            14:00:03 refund -> refunded 0.01 on o1; paid 29.00 refunded 0.01
            14:00:04 refund -> ! refund_exceeds_paid
        "#]],
    );
}

#[test]
fn the_order_limit_applies_to_every_hold_and_the_customer_limit_only_online() {
    check(
        r#"
venue hall: block A rows 4 seats 10
event game at hall: cat Sitz blocks A tariffs Erw=10.00; order max 4; customer max 6
at 14:00:00 open game
at 14:00:01 hold game best 5 in Sitz by fan-1
at 14:00:02 hold game best 5 in Sitz by kasse via box_office
at 14:00:03 hold game best 4 in Sitz by fan-1
at 14:00:04 hold game best 3 in Sitz by fan-1
at 14:00:05 hold game best 2 in Sitz by fan-1
at 14:00:06 hold game best 1 in Sitz by fan-1
at 14:00:07 hold game best 4 in Sitz by fan-1 via box_office
at 14:00:08 hold game best 4 in Sitz by fan-2
at 14:00:09 confirm h1 pay p-1
at 14:00:10 release h2
at 14:00:11 hold game best 3 in Sitz by fan-1
at 14:00:12 cancel o1 tickets 0 1
at 14:00:13 hold game best 2 in Sitz by fan-1
at 14:00:14 hold game best 1 in Sitz by fan-1
at 14:00:15 hold game best 1 in Sitz by fan-1
at 14:00:16 hold game best 1 in Sitz by fan-1
"#,
        expect![[r#"
            00:00:00 venue -> venue hall with 40 seats and 0 standing
            00:00:00 event -> event game with capacity 40
            14:00:00 open -> open
            14:00:01 hold -> ! hold_too_large: at most 4 tickets per order
            14:00:02 hold -> ! hold_too_large: at most 4 tickets per order
            14:00:03 hold -> h1 A-1-4 A-1-5 A-1-6 A-1-7 total 40.00 until 14:10:03
            14:00:04 hold -> ! customer_limit_reached: at most 6 tickets per customer for this event
            14:00:05 hold -> h2 A-1-2 A-1-3 total 20.00 until 14:10:05
            14:00:06 hold -> ! customer_limit_reached: at most 6 tickets per customer for this event
            14:00:07 hold -> h3 A-2-4 A-2-5 A-2-6 A-2-7 total 40.00 until 14:10:07
            14:00:08 hold -> h4 A-3-4 A-3-5 A-3-6 A-3-7 total 40.00 until 14:10:08
            14:00:09 confirm -> o1 from h1 total 40.00
            14:00:10 release -> released h2
            14:00:11 hold -> ! customer_limit_reached: at most 6 tickets per customer for this event
            14:00:12 cancel -> cancelled 2 of o1, refunded 20.00; o1 paid 40.00 refunded 20.00 valid 2
            14:00:13 hold -> h5 A-1-4 A-1-5 total 20.00 until 14:10:13
            14:00:14 hold -> h6 A-1-3 total 10.00 until 14:10:14
            14:00:15 hold -> h7 A-1-8 total 10.00 until 14:10:15
            14:00:16 hold -> ! customer_limit_reached: at most 6 tickets per customer for this event
        "#]],
    );
}

#[test]
fn channel_quotas_cap_held_plus_sold_tickets_per_channel() {
    check(
        r#"
venue hall: block A rows 2 seats 10; standing Nord 50
event game at hall: cat Sitz blocks A tariffs Erw=10.00; cat Steh area Nord tariffs Erw=5.00; quotas box_office=3 reserved=2
at 14:00:00 open game
at 14:00:01 hold game best 2 in Sitz by kasse via box_office
at 14:00:02 hold game standing 2 in Nord by kasse via box_office
at 14:00:03 hold game standing 1 in Nord by kasse via box_office
at 14:00:04 hold game standing 3 in Nord by sponsor via reserved
at 14:00:05 hold game standing 2 in Nord by sponsor via reserved
at 14:00:06 hold game best 8 in Sitz by fan-1
at 14:00:07 confirm h1 pay bar-1
at 14:00:08 release h2
at 14:00:09 hold game standing 1 in Nord by kasse via box_office
at 14:00:10 hold game standing 1 in Nord by kasse via box_office
at 14:00:11 cancel o1 all
at 14:00:12 hold game best 2 in Sitz by kasse via box_office
show game
"#,
        expect![[r#"
            00:00:00 venue -> venue hall with 20 seats and 50 standing
            00:00:00 event -> event game with capacity 70
            14:00:00 open -> open
            14:00:01 hold -> h1 A-1-5 A-1-6 total 20.00 until 14:10:01
            14:00:02 hold -> ! quota_exhausted: the box_office quota is exhausted
            14:00:03 hold -> h2 1 x Nord total 5.00 until 14:10:03
            14:00:04 hold -> ! quota_exhausted: the reserved quota is exhausted
            14:00:05 hold -> h3 2 x Nord total 10.00 until 14:10:05
            14:00:06 hold -> h4 A-2-2 A-2-3 A-2-4 A-2-5 A-2-6 A-2-7 A-2-8 A-2-9 total 80.00 until 14:10:06
            14:00:07 confirm -> o1 from h1 total 20.00
            14:00:08 release -> released h2
            14:00:09 hold -> h5 1 x Nord total 5.00 until 14:10:09
            14:00:10 hold -> ! quota_exhausted: the box_office quota is exhausted
            14:00:11 cancel -> cancelled 2 of o1, refunded 20.00; o1 paid 20.00 refunded 20.00 valid 0
            14:00:12 hold -> h6 A-1-5 A-1-6 total 20.00 until 14:10:12
            14:00:12 show game -> open; Sitz free 10 held 10 sold 0; Steh free 47 held 3 sold 0; online 8; box_office 3; reserved 2
        "#]],
    );
}

#[test]
fn the_sale_gate_checks_status_before_the_sale_window() {
    check(
        r#"
venue hall: block A rows 1 seats 6
event game at hall: cat Sitz blocks A tariffs Erw=10.00; sale 10:00:00..12:00:00; hold 3600s
at 09:00:00 hold game seats A-1-1
at 09:00:01 resume game
at 09:00:02 open game
at 09:00:03 open game
at 09:30:00 hold game seats A-1-1
at 10:00:00 hold game seats A-1-1
at 11:59:59.999 hold game seats A-1-2
at 12:00:00 hold game seats A-1-3
at 12:00:00 confirm h2 pay p-1
at 12:00:01 pause game "nach Ende"
at 12:00:02 hold game seats A-1-3
at 12:00:03 close game
at 12:00:04 hold game seats A-1-3
at 12:00:05 confirm h2 pay p-2
at 12:00:06 open game
at 12:00:07 resume game
at 12:00:08 close game
at 12:00:09 hold nosuchgame seats A-1-1
at 12:00:10 open nosuchgame
show game
"#,
        expect![[r#"
            00:00:00 venue -> venue hall with 6 seats and 0 standing
            00:00:00 event -> event game with capacity 6
            09:00:00 hold -> ! sale_not_open
            09:00:01 resume -> ! sale_already_in_state
            09:00:02 open -> open
            09:00:03 open -> ! sale_already_in_state
            09:30:00 hold -> ! sale_not_started: opens 10:00:00
            10:00:00 hold -> h1 A-1-1 total 10.00 until 11:00:00
            11:59:59.999 hold -> h2 A-1-2 total 10.00 until 12:59:59.999
            12:00:00 hold -> ! sale_ended
            12:00:00 confirm -> ! sale_ended
            12:00:01 pause -> paused
            12:00:02 hold -> ! sale_paused: the sale is paused: nach Ende
            12:00:03 close -> closed
            12:00:04 hold -> ! sale_closed
            12:00:05 confirm -> ! sale_closed
            12:00:06 open -> ! sale_closed
            12:00:07 resume -> ! sale_closed
            12:00:08 close -> ! sale_closed
            12:00:09 hold -> ! unknown_event
            12:00:10 open -> ! unknown_event
            12:00:10 show game -> closed; Sitz free 5 held 1 sold 0; online 1
        "#]],
    );
}

#[test]
fn an_idempotent_retry_returns_the_first_reply_and_a_reused_key_is_refused() {
    check(
        r#"
venue hall: block A rows 1 seats 6
event game at hall: cat Sitz blocks A tariffs Erw=10.00; hold 60s
at 14:00:00 open game
at 14:00:01 key k1 hold game seats A-1-1 by fan-1
at 14:00:02 key k1 hold game seats A-1-1 by fan-1
show game
at 14:00:03 key k1 hold game seats A-1-2 by fan-1
at 14:00:04 key k2 hold game seats A-1-1 by fan-2
at 14:00:05 release h1
at 14:00:06 key k2 hold game seats A-1-1 by fan-2
at 14:00:07 key k3 confirm h2 pay p-1
at 14:00:08 key k3 confirm h2 pay p-1
at 14:00:09 confirm h2 pay p-1
show game
at 14:05:00 key k1 hold game seats A-1-1 by fan-1
at 38:00:00.999 key k1 hold game seats A-1-1 by fan-1
at 38:00:01 key k1 hold game seats A-1-1 by fan-1
at 38:00:02 key k1 hold game seats A-1-5 by fan-1
"#,
        expect![[r#"
            00:00:00 venue -> venue hall with 6 seats and 0 standing
            00:00:00 event -> event game with capacity 6
            14:00:00 open -> open
            14:00:01 hold (keyed) -> h1 A-1-1 total 10.00 until 14:01:01
            14:00:02 hold (keyed) -> h1 A-1-1 total 10.00 until 14:01:01
            14:00:02 show game -> open; Sitz free 5 held 1 sold 0; online 1
            14:00:03 hold (keyed) -> ! idempotency_key_reused
            14:00:04 hold (keyed) -> ! seat_unavailable: A-1-1
            14:00:05 release -> released h1
            14:00:06 hold (keyed) -> h2 A-1-1 total 10.00 until 14:01:06
            14:00:07 confirm (keyed) -> o1 from h2 total 10.00
            14:00:08 confirm (keyed) -> o1 from h2 total 10.00
            14:00:09 confirm -> ! hold_already_confirmed: this hold was already confirmed as order 1
            14:00:09 show game -> open; Sitz free 5 held 0 sold 1; online 1
            14:05:00 hold (keyed) -> h1 A-1-1 total 10.00 until 14:01:01
            38:00:00.999 hold (keyed) -> h1 A-1-1 total 10.00 until 14:01:01
            38:00:01 hold (keyed) -> ! seat_unavailable: A-1-1
            38:00:02 hold (keyed) -> h3 A-1-5 total 10.00 until 38:01:02
        "#]],
    );
}

#[test]
fn invalid_venue_specs_are_refused_with_the_first_reason() {
    check(
        r#"
venue empty:
venue a: block A rows 0 seats 3
venue b: block A rows 1 seats 0
venue c: block A rows 1 seats 513
venue d: block A rows 1 seats 2; block A rows 1 seats 2
venue e: standing Nord 0
venue f: standing Nord 200001
venue g: standing Nord 10; standing Nord 10
venue h: block ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ rows 1 seats 1
venue ok: block A rows 1 seats 512; standing Nord 200000
"#,
        expect![[r#"
            00:00:00 venue -> ! invalid_venue: a venue needs at least one block or standing area
            00:00:00 venue -> ! invalid_venue: a block needs at least one row
            00:00:00 venue -> ! invalid_venue: a row needs 1 to 512 seats
            00:00:00 venue -> ! invalid_venue: a row needs 1 to 512 seats
            00:00:00 venue -> ! invalid_venue: block names must be unique
            00:00:00 venue -> ! invalid_venue: standing capacity must be 1 to 200000
            00:00:00 venue -> ! invalid_venue: standing capacity must be 1 to 200000
            00:00:00 venue -> ! invalid_venue: standing area names must be unique
            00:00:00 venue -> ! invalid_venue: block name must be 1 to 96 bytes
            00:00:00 venue -> venue ok with 512 seats and 200000 standing
        "#]],
    );
}

#[test]
fn invalid_event_specs_are_refused_with_the_first_reason() {
    check(
        r#"
venue arena: block A rows 1 seats 4; block B rows 1 seats 4; standing Nord 10
event a at nowhere: cat Sitz blocks A tariffs Erw=1.00
event b at arena: cat Sitz blocks A tariffs Erw=1.00; sale 12:00:00..12:00:00
event c at arena: hold 600s
event d at arena: cat Sitz blocks A tariffs Erw=1.00; hold 9s
event e at arena: cat Sitz blocks A tariffs Erw=1.00; hold 3601s
event f at arena: cat Sitz blocks A tariffs Erw=1.00; order max 0
event g at arena: cat Sitz blocks A tariffs Erw=1.00; order max 65
event h at arena: cat Sitz blocks A tariffs Erw=1.00; order max 8; customer max 7
event i at arena: cat Sitz blocks A tariffs Erw=1.00; cat Sitz blocks B tariffs Erw=1.00
event j at arena: cat Sitz blocks A tariffs
event k at arena: cat Sitz blocks A tariffs Erw=-0.01
event l at arena: cat Sitz blocks A tariffs Erw=100000.01
event m at arena: cat Sitz blocks tariffs Erw=1.00
event n at arena: cat Sitz blocks A Z tariffs Erw=1.00
event o at arena: cat Sitz blocks A tariffs Erw=1.00; cat Mehr blocks B A tariffs Erw=1.00
event p at arena: cat Steh area Sued tariffs Erw=1.00
event q at arena: cat Steh area Nord tariffs Erw=1.00; cat Auch area Nord tariffs Erw=1.00
event ok at arena: cat Sitz blocks A tariffs Erw=100000.00; cat Steh area Nord tariffs Frei=0.00
"#,
        expect![[r#"
            00:00:00 venue -> venue arena with 8 seats and 10 standing
            00:00:00 event -> ! unknown_venue
            00:00:00 event -> ! invalid_event: the sale must open before it closes
            00:00:00 event -> ! invalid_event: an event needs 1 to 64 price categories
            00:00:00 event -> ! invalid_event: hold duration must be 10 s to 1 h
            00:00:00 event -> ! invalid_event: hold duration must be 10 s to 1 h
            00:00:00 event -> ! invalid_event: tickets per order must be 1 to 64
            00:00:00 event -> ! invalid_event: tickets per order must be 1 to 64
            00:00:00 event -> ! invalid_event: tickets per customer must be at least tickets per order
            00:00:00 event -> ! invalid_event: category names must be unique
            00:00:00 event -> ! invalid_event: a category needs 1 to 16 tariffs
            00:00:00 event -> ! invalid_event: prices must be 0 to 100000.00 EUR
            00:00:00 event -> ! invalid_event: prices must be 0 to 100000.00 EUR
            00:00:00 event -> ! invalid_event: a seated category needs at least one block
            00:00:00 event -> ! invalid_event: category names a block the venue does not have
            00:00:00 event -> ! invalid_event: a block belongs to at most one category
            00:00:00 event -> ! invalid_event: category names a standing area the venue does not have
            00:00:00 event -> ! invalid_event: a standing area belongs to at most one category
            00:00:00 event -> event ok with capacity 14
        "#]],
    );
}
