//! Every limit of the core, named with its unit last, related by compile-time asserts.

#![allow(non_upper_case_globals)]

pub const name_bytes_max: usize = 96;
pub const label_bytes_max: usize = 16;
pub const payment_ref_bytes_max: usize = 128;
/// A provider's session reference; with the provider's code and a colon it must
/// still fit an order's payment reference.
pub const payment_session_bytes_max: usize = 100;
/// Payments per tenant (every started checkout counts, paid or not).
pub const tenant_payments_max: usize = 4_000_000;
pub const buyer_name_bytes_max: usize = 128;
pub const buyer_email_bytes_max: usize = 254;
pub const message_bytes_max: usize = 512;

pub const tenant_venues_max: usize = 64;
pub const tenant_events_max: usize = 4096;
pub const venue_blocks_max: usize = 512;
pub const venue_rows_max: usize = 8192;
pub const row_seats_max: usize = 512;
pub const venue_seats_max: usize = 100_000;
pub const venue_areas_max: usize = 64;
pub const area_capacity_max: u32 = 200_000;
pub const event_categories_max: usize = 64;
pub const category_tariffs_max: usize = 16;
pub const price_cents_max: i64 = 10_000_000;

/// No single hold (and so no single order) may exceed this many tickets.
pub const hold_tickets_max: u32 = 64;
pub const hold_duration_ms_min: i64 = 10_000;
pub const hold_duration_ms_max: i64 = 3_600_000;
/// Live holds per tenant; beyond this new holds are rejected until some expire.
pub const tenant_holds_max: usize = 1_000_000;

/// How long a completed idempotent command's reply is remembered.
pub const idempotency_window_ms: i64 = 24 * 3_600_000;
/// Remembered replies per tenant; the oldest is forgotten first beyond this.
pub const idempotency_keys_max: usize = 2_000_000;

const _: () = assert!(row_seats_max <= venue_seats_max);
const _: () = assert!(venue_seats_max <= u32::MAX as usize);
const _: () = assert!(hold_duration_ms_min < hold_duration_ms_max);
// A whole hold at the highest price must not overflow i64 cents.
const _: () = assert!((hold_tickets_max as i64) * price_cents_max < i64::MAX / 1024);
const _: () = assert!(venue_areas_max <= u16::MAX as usize);
const _: () = assert!(venue_blocks_max <= u16::MAX as usize);
const _: () = assert!(payment_session_bytes_max + "stripe:".len() <= payment_ref_bytes_max);
