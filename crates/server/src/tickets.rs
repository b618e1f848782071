//! Real tickets: a compact signed credential per ticket, its QR code, and the PDF a
//! fan prints or shows on a phone. A gate holding the organizer's public keys checks
//! the QR offline (`verify_ticket`); nothing in it needs the server.
//!
//! The credential is an `sf1` credential of `Kind::Ticket` (docs/CREDENTIALS.md,
//! "Ticket (kind 3)") whose body is a small fixed binary layout, version byte first,
//! so the QR stays at a version a cheap phone camera reads from a crumpled print.
//! The event's own keys sign it (`Keyring::for_event`, derived from the tenant's
//! keyring): a gate loads the public keys of its one event
//! (`GET /api/v1/{tenant}/events/{event}/keys`), so it accepts that event's tickets
//! and no other's, and the event is inside the signed body as well.
//!
//! The PDF is drawn with krilla: one A6 page per ticket, DejaVu Sans embedded (and
//! subset) so every viewer shows the same glyphs, and the QR drawn as vector
//! rectangles from the module matrix, so it stays sharp at any print size.

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use qrcode::{Color as Module, EcLevel, QrCode};
use sturmfest_core as core;
use sturmfest_core::{CategoryId, EventId, Order, OrderId, Place, TimeMs};

use crate::credentials::{CredentialError, Keyring, Kind, Verifier, credential_chars_max};
use crate::web::format::{date_time, euros};
use crate::web::i18n::Lang;

/// The body layout this code writes; a reader rejects any other.
pub const ticket_body_version: u8 = 1;
/// Longest holder hint in the body. Enough to tell "Erika Muster" from a stranger at
/// the gate (the full name is printed on the ticket), and about what a seat ticket
/// holds before its QR code grows from version 8 to 9 at level M.
pub const holder_hint_bytes_max: usize = 12;
const place_tag_seat: u8 = 0;
const place_tag_standing: u8 = 1;
/// Version, event, order, index, place tag, category, start, hint length.
const body_fixed_bytes: usize = 1 + 4 + 8 + 2 + 1 + 2 + 8 + 1;
/// The longest body: a seat (4 bytes) and a full hint.
pub const ticket_body_bytes_max: usize = body_fixed_bytes + 4 + holder_hint_bytes_max;

const _: () = assert!(ticket_body_bytes_max <= crate::credentials::body_bytes_max);
// A ticket's index in its order is a u16 in the body.
const _: () = assert!(core::limits::hold_tickets_max <= u16::MAX as u32);

/// Medium error correction restores 15 % of the modules: a fold, a smudge or a
/// scratched phone screen, at about a fifth more modules than Low.
const qr_ec_level: EcLevel = EcLevel::M;
/// The quiet zone the QR standard asks for, in modules on every side.
const qr_quiet_modules: usize = 4;
/// Bytes a QR code of version 40 at level M holds; any credential fits.
const qr_bytes_max_at_m: usize = 2331;
const _: () = assert!(credential_chars_max <= qr_bytes_max_at_m);

/// What a ticket credential says, after its signature checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketClaim {
    pub event: EventId,
    pub order: OrderId,
    /// The ticket's position in its order (stable: cancelling one keeps the others').
    pub index: u16,
    pub place: Place,
    pub category: CategoryId,
    /// When the event starts: a gate that scans for a different day sees it at once.
    pub starts_at: TimeMs,
    /// At most `holder_hint_bytes_max` bytes of the holder's name; may be empty.
    pub holder_hint: String,
}

/// Why a ticket credential is not accepted. The codes are stable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error("the ticket body has a version this reader does not know")]
    UnknownVersion,
    #[error("the ticket body does not follow its layout")]
    Malformed,
    #[error("the ticket is for another event")]
    OtherEvent,
}

impl TicketError {
    pub fn code(&self) -> &'static str {
        match self {
            TicketError::Credential(inner) => inner.code(),
            TicketError::UnknownVersion => "ticket_unknown_version",
            TicketError::Malformed => "ticket_malformed",
            TicketError::OtherEvent => "ticket_other_event",
        }
    }
}

impl TicketClaim {
    /// The body layout of docs/CREDENTIALS.md, integers big-endian.
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.holder_hint.len() <= holder_hint_bytes_max, "holder hint of {} bytes", self.holder_hint.len());
        let mut out = Vec::with_capacity(ticket_body_bytes_max);
        out.push(ticket_body_version);
        out.extend_from_slice(&self.event.0.to_be_bytes());
        out.extend_from_slice(&self.order.0.to_be_bytes());
        out.extend_from_slice(&self.index.to_be_bytes());
        match self.place {
            Place::Seat(seat) => {
                out.push(place_tag_seat);
                out.extend_from_slice(&seat.0.to_be_bytes());
            }
            Place::Standing(area) => {
                out.push(place_tag_standing);
                out.extend_from_slice(&area.0.to_be_bytes());
            }
        }
        out.extend_from_slice(&self.category.0.to_be_bytes());
        out.extend_from_slice(&self.starts_at.0.to_be_bytes());
        out.push(self.holder_hint.len() as u8);
        out.extend_from_slice(self.holder_hint.as_bytes());
        assert!(out.len() <= ticket_body_bytes_max);
        out
    }

    /// Reads a body back; anything but exactly one well-formed layout is an error.
    pub fn decode(body: &[u8]) -> Result<TicketClaim, TicketError> {
        let mut reader = Reader(body);
        if reader.take::<1>()?[0] != ticket_body_version {
            return Err(TicketError::UnknownVersion);
        }
        let event = EventId(u32::from_be_bytes(reader.take()?));
        let order = OrderId(u64::from_be_bytes(reader.take()?));
        let index = u16::from_be_bytes(reader.take()?);
        let place = match reader.take::<1>()?[0] {
            place_tag_seat => Place::Seat(core::SeatId(u32::from_be_bytes(reader.take()?))),
            place_tag_standing => Place::Standing(core::AreaId(u16::from_be_bytes(reader.take()?))),
            _ => return Err(TicketError::Malformed),
        };
        let category = CategoryId(u16::from_be_bytes(reader.take()?));
        let starts_at = TimeMs(i64::from_be_bytes(reader.take()?));
        let hint_len = usize::from(reader.take::<1>()?[0]);
        if hint_len > holder_hint_bytes_max || reader.0.len() != hint_len {
            return Err(TicketError::Malformed);
        }
        let holder_hint = std::str::from_utf8(reader.0).map_err(|_| TicketError::Malformed)?.to_string();
        Ok(TicketClaim { event, order, index, place, category, starts_at, holder_hint })
    }
}

/// A cursor over a body that answers `Malformed` instead of panicking when short.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], TicketError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(TicketError::Malformed)?;
        self.0 = rest;
        Ok(*head)
    }
}

/// The holder hint for a buyer's name: trimmed, cut to `holder_hint_bytes_max` bytes
/// at a character boundary (then trimmed again, so no dangling space).
pub fn holder_hint(name: &str) -> String {
    let name = name.trim();
    let mut end = name.len().min(holder_hint_bytes_max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].trim_end().to_string()
}

/// What each valid ticket of `order` claims, in order, with its index in the order.
pub fn claims(order: &Order, starts_at: TimeMs) -> Vec<TicketClaim> {
    let hint = holder_hint(&order.buyer.name);
    order
        .tickets
        .iter()
        .enumerate()
        .filter(|(_, t)| t.cancelled_at.is_none())
        .map(|(i, t)| TicketClaim {
            event: order.event,
            order: order.id,
            index: u16::try_from(i).expect("an order has at most hold_tickets_max tickets"),
            place: t.place,
            category: t.category,
            starts_at,
            holder_hint: hint.clone(),
        })
        .collect()
}

/// One signed credential per valid (not cancelled) ticket of `order`, in order,
/// signed with the event's keys derived from the tenant's `keyring`. `starts_at` is
/// the event's start, which the order does not carry.
pub fn ticket_credentials(keyring: &Keyring, order: &Order, starts_at: TimeMs) -> Vec<String> {
    let event_keys = keyring.for_event(order.event.0);
    claims(order, starts_at).iter().map(|claim| event_keys.sign(Kind::Ticket, &claim.encode())).collect()
}

/// Checks a scanned ticket offline against the public keys of the gate's event
/// (`event_keys`): form, kind, key and signature, then the body, then that the body
/// names that event. A ticket of another event fails at the signature already (its
/// event's keys differ); the body check makes the claim explicit. Hostile text of
/// any length gets an error, never a panic. Whether the ticket is used or cancelled
/// is the gate's next question.
pub fn verify_ticket(event_keys: &Verifier, event: EventId, text: &str) -> Result<TicketClaim, TicketError> {
    let body = event_keys.verify(Kind::Ticket, text)?;
    let claim = TicketClaim::decode(&body)?;
    if claim.event != event {
        return Err(TicketError::OtherEvent);
    }
    Ok(claim)
}

fn qr_code(text: &str) -> QrCode {
    assert!(text.len() <= credential_chars_max, "QR text of {} bytes; tickets carry credentials", text.len());
    QrCode::with_error_correction_level(text, qr_ec_level).expect("a credential fits a QR code at level M")
}

/// The QR code of `text` (a credential) as a standalone SVG with its quiet zone,
/// for web pages and e-mails. At most `credential_chars_max` bytes.
pub fn qr_svg(text: &str) -> String {
    qr_code(text)
        .render::<qrcode::render::svg::Color>()
        .quiet_zone(true)
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build()
}

/// The QR version (1 to 40) `text` gets at this module's error-correction level.
pub fn qr_version(text: &str) -> i16 {
    match qr_code(text).version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
    }
}

// ----- the PDF -----

/// The font every ticket embeds (DejaVu Sans; licence next to it).
pub(crate) static font_ttf: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// A6 portrait in points: small enough for a phone screen, prints four to an A4.
const page_width_pt: f32 = 297.64;
const page_height_pt: f32 = 419.53;
const margin_pt: f32 = 22.0;
const qr_side_max_pt: f32 = 150.0;
/// Below this a QR of version 8 plus its quiet zone drops under 2 pt (0.7 mm) per
/// module, which gate scanners read reliably only from good prints.
const qr_side_min_pt: f32 = 110.0;
/// DejaVu Sans averages a little under 0.6 em per character; wrapping by character
/// count with this width keeps ordinary text inside the margins without measuring.
const char_width_em: f32 = 0.56;

/// The order as a ticket page shows it, resolved from tenant state (`printable`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderView {
    pub organizer: String,
    pub event_name: String,
    pub starts_at: TimeMs,
    pub venue_name: String,
    pub order: OrderId,
    pub holder: String,
}

/// Where a ticket admits to, in the venue's own labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlaceLabel {
    Seat { block: String, row: String, seat: String },
    Standing { area: String },
}

/// One ticket as its page shows it, with the credential its QR carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrintedTicket {
    pub index: u16,
    pub place: PlaceLabel,
    pub category: String,
    pub price: core::Cents,
    pub credential: String,
}

/// Everything the PDF of `order` shows, with one fresh credential per valid ticket
/// (signed with the event's keys derived from `keyring`); `None` when the tenant has
/// no such order.
pub fn printable(tenant: &core::Tenant, keyring: &Keyring, organizer: &str, order: OrderId) -> Option<(OrderView, Vec<PrintedTicket>)> {
    let order = tenant.order(order)?;
    let event = tenant.event(order.event)?;
    let venue = tenant.venue(event.spec.venue)?;
    let view = OrderView {
        organizer: organizer.to_string(),
        event_name: event.spec.name.clone(),
        starts_at: event.spec.starts_at,
        venue_name: venue.spec.name.clone(),
        order: order.id,
        holder: order.buyer.name.clone(),
    };
    let valid = order.tickets.iter().filter(|t| t.cancelled_at.is_none());
    let event_keys = keyring.for_event(order.event.0);
    let tickets = claims(order, event.spec.starts_at)
        .into_iter()
        .zip(valid)
        .map(|(claim, ticket)| {
            let place = match ticket.place {
                Place::Seat(seat) => {
                    let (block, row, seat) = venue.seat_labels(seat).expect("a sold seat exists in its venue");
                    PlaceLabel::Seat { block: block.into(), row: row.into(), seat: seat.into() }
                }
                Place::Standing(area) => PlaceLabel::Standing {
                    area: venue.spec.standing.get(usize::from(area.0)).map_or_else(String::new, |a| a.name.clone()),
                },
            };
            let category = event.spec.categories.get(usize::from(ticket.category.0)).map_or_else(String::new, |c| c.name.clone());
            PrintedTicket {
                index: claim.index,
                place,
                category,
                price: ticket.price,
                credential: event_keys.sign(Kind::Ticket, &claim.encode()),
            }
        })
        .collect();
    Some((view, tickets))
}

struct PdfTexts {
    title: &'static str,
    row: &'static str,
    seat: &'static str,
    standing: &'static str,
    category: &'static str,
    price: &'static str,
    order: &'static str,
    of: &'static str,
    holder: &'static str,
    admits: &'static str,
    no_tickets: &'static str,
}

fn pdf_texts(lang: Lang) -> &'static PdfTexts {
    match lang {
        Lang::De => &PdfTexts {
            title: "Tickets",
            row: "Reihe",
            seat: "Platz",
            standing: "Stehplatz",
            category: "Kategorie",
            price: "Preis",
            order: "Bestellung",
            of: "von",
            holder: "Inhaber",
            admits: "Gilt für einen Einlass. Der QR-Code wird am Eingang geprüft.",
            no_tickets: "Diese Bestellung hat keine gültigen Tickets mehr.",
        },
        Lang::En => &PdfTexts {
            title: "Tickets",
            row: "Row",
            seat: "Seat",
            standing: "Standing",
            category: "Category",
            price: "Price",
            order: "Order",
            of: "of",
            holder: "Holder",
            admits: "Admits one. The QR code is checked at the entrance.",
            no_tickets: "This order has no valid tickets left.",
        },
    }
}

/// The ticket PDF: one A6 page per ticket in `lang`, or one page saying there are
/// none. Same input, same bytes (no creation date, no random id), so a re-download
/// is the very same file.
pub fn ticket_pdf(view: &OrderView, tickets: &[PrintedTicket], lang: Lang) -> Vec<u8> {
    let texts = pdf_texts(lang);
    let font = Font::new(font_ttf.into(), 0).expect("the bundled DejaVu Sans parses");
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(format!("{} – {}", view.event_name, texts.title))
            .language(lang.code().to_string())
            .creator("sturmfest".to_string()),
    );
    let settings = || PageSettings::from_wh(page_width_pt, page_height_pt).expect("A6 is a valid page size");
    if tickets.is_empty() {
        let mut page = document.start_page_with(settings());
        let mut pen = Pen { surface: page.surface(), font: &font, y: margin_pt };
        pen.header(view, lang);
        pen.lines(texts.no_tickets, 11.0, 3);
        pen.finish();
        page.finish();
    }
    for (position, ticket) in tickets.iter().enumerate() {
        let mut page = document.start_page_with(settings());
        let mut pen = Pen { surface: page.surface(), font: &font, y: margin_pt };
        pen.header(view, lang);
        pen.y += 8.0;
        let place = match &ticket.place {
            PlaceLabel::Seat { block, row, seat } => format!("Block {block} · {} {row} · {} {seat}", texts.row, texts.seat),
            PlaceLabel::Standing { area } => format!("{} · {area}", texts.standing),
        };
        pen.lines(&place, 14.0, 3);
        pen.y += 2.0;
        pen.lines(&format!("{}: {}", texts.category, ticket.category), 10.0, 2);
        pen.lines(&format!("{}: {}", texts.price, euros(ticket.price, lang)), 10.0, 1);

        // The QR takes what is left between the text and the order lines below it.
        let below_pt = 2.0 * 14.0 + 24.0;
        let room = page_height_pt - pen.y - below_pt - 12.0;
        let side = room.clamp(qr_side_min_pt, qr_side_max_pt);
        draw_qr(&mut pen.surface, &ticket.credential, (page_width_pt - side) / 2.0, pen.y + 8.0, side);
        pen.y += side + 8.0;

        let order_line = format!("{} {} · Ticket {} {} {}", texts.order, view.order.0, position + 1, texts.of, tickets.len());
        pen.lines(&order_line, 9.0, 1);
        pen.lines(&format!("{}: {}", texts.holder, view.holder), 9.0, 1);
        pen.surface.set_fill(Some(grey()));
        pen.text_at(page_height_pt - 14.0, texts.admits, 7.0);
        pen.finish();
        page.finish();
    }
    document.finish().expect("a document without export constraints always serializes")
}

fn grey() -> Fill {
    Fill { paint: rgb::Color::new(90, 90, 90).into(), ..Fill::default() }
}

/// Writes lines top to bottom, keeping the baseline of the next one in `y`.
struct Pen<'a, 'p> {
    surface: Surface<'p>,
    font: &'a Font,
    y: f32,
}

impl Pen<'_, '_> {
    fn finish(self) {
        self.surface.finish();
    }

    fn header(&mut self, view: &OrderView, lang: Lang) {
        self.surface.set_fill(Some(grey()));
        self.lines(&view.organizer, 9.0, 1);
        self.surface.set_fill(Some(Fill::default()));
        self.y += 4.0;
        self.lines(&view.event_name, 15.0, 3);
        self.y += 2.0;
        self.lines(&date_time(view.starts_at, lang), 11.0, 1);
        self.lines(&view.venue_name, 11.0, 2);
    }

    fn lines(&mut self, text: &str, size_pt: f32, lines_max: usize) {
        let chars_max = ((page_width_pt - 2.0 * margin_pt) / (size_pt * char_width_em)) as usize;
        for line in wrap(text, chars_max, lines_max) {
            self.y += size_pt * 1.25;
            self.text_at(self.y, &line, size_pt);
        }
    }

    fn text_at(&mut self, baseline: f32, text: &str, size_pt: f32) {
        let origin = Point::from_xy(margin_pt, baseline);
        self.surface.draw_text(origin, self.font.clone(), size_pt, text, false, TextDirection::Auto);
    }
}

/// Word-wraps `text` into at most `lines_max` lines of at most `chars_max`
/// characters; a word longer than a line is cut, and text beyond the last line
/// ends in "…". Control characters become spaces (core names have none; this keeps
/// a stray one from reaching the PDF).
fn wrap(text: &str, chars_max: usize, lines_max: usize) -> Vec<String> {
    let chars_max = chars_max.max(2);
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut overflow = false;
    for word in cleaned.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = current.chars().count();
            let space = usize::from(used > 0);
            if used + space + word.len() <= chars_max {
                if space == 1 {
                    current.push(' ');
                }
                current.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut current));
            } else {
                lines.push(word.drain(..chars_max).collect());
            }
            if lines.len() == lines_max {
                overflow = true;
                break;
            }
        }
        if overflow {
            break;
        }
    }
    if !overflow && !current.is_empty() {
        lines.push(current);
    }
    if overflow && let Some(last) = lines.last_mut() {
        let kept: String = last.chars().take(chars_max - 1).collect();
        *last = format!("{}…", kept.trim_end());
    }
    lines
}

/// Draws the QR of `text` as filled rectangles, quiet zone included in `side`: one
/// rectangle per horizontal run of dark modules, so renderers show no seams.
pub(crate) fn draw_qr(surface: &mut Surface<'_>, text: &str, left: f32, top: f32, side: f32) {
    let code = qr_code(text);
    let width = code.width();
    let module = side / (width + 2 * qr_quiet_modules) as f32;
    let origin = (left + qr_quiet_modules as f32 * module, top + qr_quiet_modules as f32 * module);
    let colors = code.to_colors();
    let mut path = PathBuilder::new();
    for (y, row) in colors.chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            if row[x] == Module::Light {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && row[x] == Module::Dark {
                x += 1;
            }
            let rect = Rect::from_xywh(origin.0 + start as f32 * module, origin.1 + y as f32 * module, (x - start) as f32 * module, module)
                .expect("a run of modules is a positive rectangle");
            path.push_rect(rect);
        }
    }
    surface.set_fill(Some(Fill::default()));
    if let Some(path) = path.finish() {
        surface.draw_path(&path);
    }
}
