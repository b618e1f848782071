//! Helpers shared by several test modules of this binary: the SMTP sink that the
//! mail and identity tests deliver to.

pub mod smtp_sink;
pub mod fake_stripe;
