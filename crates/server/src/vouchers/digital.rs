//! Digital cards bought online: their code, id and batch derived from the purchase,
//! their QR text with a fresh balance certificate, the card as a one-page PDF, and
//! the card e-mail.
//!
//! # Derived, not stored
//!
//! A digital card's code must reach the holder twice — in the e-mail and on the card
//! page — and again after a restart (a re-sent e-mail, a reloaded page). Codes never
//! enter the core or the log (`http/vouchers.rs`), so the node cannot look one up.
//! Instead everything the card needs is derived from the purchase id with one keyed
//! digest: `HMAC-SHA256(tenant secret, "voucher digital card\0" ‖ purchase-id-be)`.
//! Its first 19 bytes are the code's payload symbols (95 bits, like a random code),
//! the next 8 the card id, the next 4 the batch id (top bit set, so a digital card's
//! batch of one stays out of the small numbers an office gives its print runs). The
//! purchase id itself is not secret (it is inside the card page's token); without the
//! tenant secret nobody can compute a code from it.
//!
//! # No PIN
//!
//! A digital card has no PIN. Its page and e-mail are the bearer secret, the same
//! way a printed card's code is; a PIN sent in the same e-mail as the code would
//! add nothing. The holder protects the e-mail; the office can block the card and
//! move its balance like any other.

use krilla::Document;
use krilla::geom::Point;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};
use sturmfest_core::vouchers::{BatchId, CardId, CardState, NewCard, PurchaseId};
use sturmfest_core::{Cents, TimeMs};

use super::codes::{CardCode, CodeKey, code_payload_symbols};
use super::offline::{BalanceCertificate, certificate_valid_ms, qr_text};
use crate::http::TenantHandle;
use crate::tenants::Credentials;
use crate::web::format::euros;
use crate::web::i18n::Lang;

/// Domain of the digest a digital card is derived from (`Credentials::keyed_digest`).
const digital_card_domain: &[u8] = b"voucher digital card\0";
/// Set in every derived batch id.
pub const digital_batch_bit: u32 = 1 << 31;

const _: () = assert!(code_payload_symbols + 8 + 4 <= 32);

/// What a purchase's digital card is: derived, see the module documentation.
pub struct DigitalCard {
    pub card: CardId,
    pub code: CardCode,
    pub batch: BatchId,
}

impl DigitalCard {
    pub fn derive(credentials: &Credentials, purchase: PurchaseId) -> DigitalCard {
        let digest = credentials.keyed_digest(digital_card_domain, &purchase.0.to_be_bytes());
        let payload: [u8; code_payload_symbols] = digest[..code_payload_symbols].try_into().expect("19 bytes");
        let at = code_payload_symbols;
        let card = u64::from_be_bytes(digest[at..at + 8].try_into().expect("8 bytes")).max(1);
        let batch = u32::from_be_bytes(digest[at + 8..at + 12].try_into().expect("4 bytes")) | digital_batch_bit;
        DigitalCard { card: CardId(card), code: CardCode::from_payload(payload), batch: BatchId(batch) }
    }

    /// The card as `StartPurchase` names it: id and code digest, no PIN.
    pub fn new_card(&self, key: &CodeKey) -> NewCard {
        NewCard { id: self.card, code_digest: key.code_digest(&self.code), pin_digest: None }
    }
}

/// A card as its page, its e-mail and its PDF show it.
#[derive(Clone, Debug)]
pub struct CardView {
    pub card: CardId,
    pub code: String,
    pub balance: Cents,
    pub state: CardState,
    pub expires_at: Option<TimeMs>,
    /// `CODE~CERTIFICATE`, freshly signed: what the merchant till scans.
    pub qr: String,
    /// The programme's name and look (`ProgrammeDesign`).
    pub programme_name: String,
    pub design: sturmfest_core::vouchers::ProgrammeDesign,
}

/// The card `code` names with a fresh certificate of its balance; `None` when no
/// card has that code (a purchase not yet paid).
pub async fn card_view(handle: &TenantHandle, key: &CodeKey, code: &CardCode) -> Option<CardView> {
    let digest = key.code_digest(code);
    let now = TimeMs(crate::runtime::wall_clock_ms());
    let found = handle
        .shard
        .read(move |t| {
            let v = t.vouchers();
            let card = *v.card_by_code(&digest)?;
            let balance = v.balance(t.ledger(), card.id)?;
            // The serial grows with every booking, as the till's certificates' do.
            let serial = v.bookings().iter().filter(|b| b.card == card.id).count() as u64;
            let programme = v.programme(card.programme)?;
            let cap = programme.limits.card_offline_cents_max;
            let state = v.state_at(card.id, now)?;
            Some((card, balance, serial, cap, state, programme.name.clone(), programme.design.clone()))
        })
        .await
        .ok()??;
    let (card, balance, serial, cap, state, programme_name, design) = found;
    let certificate = BalanceCertificate {
        programme: card.programme,
        card: card.id,
        balance,
        serial,
        issued_at: now,
        valid_until: TimeMs(now.0 + certificate_valid_ms),
        offline_cap: cap,
    };
    let qr = qr_text(&code.grouped(), &certificate.sign(&handle.credentials.keyring));
    Some(CardView { card: card.id, code: code.grouped(), balance, state, expires_at: card.expires_at, qr, programme_name, design })
}

/// The last valid day in Berlin, as the holder reads it.
pub fn valid_until(expires_at: TimeMs, lang: Lang) -> String {
    let zone = jiff::tz::TimeZone::get(super::programme_time_zone).expect("Europe/Berlin is bundled");
    let Ok(t) = jiff::Timestamp::from_millisecond(expires_at.0 - 1) else { return String::new() };
    let day = t.to_zoned(zone).date();
    match lang {
        Lang::De => day.strftime("%d.%m.%Y").to_string(),
        Lang::En => day.strftime("%-d %B %Y").to_string(),
    }
}

// ----- the PDF -----

const page_width_pt: f32 = 297.64;
const page_height_pt: f32 = 419.53;
const margin_pt: f32 = 22.0;
const qr_side_pt: f32 = 190.0;

/// The card on one A6 page: organizer, title, balance, validity, the QR and the
/// code in groups. Same input, same bytes.
pub fn card_pdf(organizer: &str, view: &CardView, lang: Lang) -> Vec<u8> {
    let (title, balance, valid, code) = match lang {
        Lang::De => ("Digitale Gutscheinkarte", "Guthaben", "Gültig bis", "Kartencode"),
        Lang::En => ("Digital voucher card", "Balance", "Valid until", "Card code"),
    };
    let font = Font::new(crate::tickets::font_ttf.into(), 0).expect("the bundled DejaVu Sans parses");
    let mut document = Document::new();
    document.set_metadata(Metadata::new().title(format!("{organizer} – {title}")).language(lang.code().to_string()).creator("sturmfest".to_string()));
    let settings = PageSettings::from_wh(page_width_pt, page_height_pt).expect("A6 is a valid page size");
    let mut page = document.start_page_with(settings);
    let mut surface = page.surface();
    let mut y = margin_pt;
    let line = |surface: &mut krilla::surface::Surface<'_>, text: &str, size: f32, y: &mut f32| {
        *y += size * 1.3;
        let clean: String = text.chars().filter(|c| !c.is_control()).take(40).collect();
        surface.draw_text(Point::from_xy(margin_pt, *y), font.clone(), size, &clean, false, TextDirection::Auto);
    };
    // The programme's band: its accent behind its name and tagline in white (the
    // office accepts only accents on which white text reaches 4.5:1).
    let accent = view.design.accent_rgb;
    let band_pt = if view.design.tagline.is_empty() { 34.0 } else { 50.0 };
    let mut band = krilla::geom::PathBuilder::new();
    band.push_rect(krilla::geom::Rect::from_xywh(0.0, 0.0, page_width_pt, band_pt).expect("a positive rectangle"));
    let colour = |rgb: u32| krilla::paint::Fill {
        paint: krilla::color::rgb::Color::new((rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8).into(),
        ..krilla::paint::Fill::default()
    };
    surface.set_fill(Some(colour(accent)));
    if let Some(band) = band.finish() {
        surface.draw_path(&band);
    }
    surface.set_fill(Some(colour(0xffffff)));
    let mut band_y = 6.0;
    line(&mut surface, &view.programme_name, 11.0, &mut band_y);
    if !view.design.tagline.is_empty() {
        line(&mut surface, &view.design.tagline, 8.0, &mut band_y);
    }
    surface.set_fill(Some(krilla::paint::Fill::default()));
    y = y.max(band_pt + 4.0);
    line(&mut surface, organizer, 9.0, &mut y);
    line(&mut surface, title, 15.0, &mut y);
    line(&mut surface, &format!("{balance}: {}", euros(view.balance, lang)), 12.0, &mut y);
    if let Some(at) = view.expires_at {
        line(&mut surface, &format!("{valid}: {}", valid_until(at, lang)), 10.0, &mut y);
    }
    crate::tickets::draw_qr(&mut surface, &view.qr, (page_width_pt - qr_side_pt) / 2.0, y + 8.0, qr_side_pt);
    y += qr_side_pt + 12.0;
    line(&mut surface, code, 9.0, &mut y);
    line(&mut surface, &view.code, 12.0, &mut y);
    surface.finish();
    page.finish();
    document.finish().expect("a document without export constraints always serializes")
}
