//! The sturmfest server: the runtime that feeds the core and the log, the log codec,
//! the tenant registry and the HTTP API.

// Limits are named like values with their unit last, in the TigerBeetle style.
#![allow(non_upper_case_globals)]

pub mod codec;
pub mod credentials;
pub mod demo;
pub mod demo_city;
pub mod draw;
pub mod http;
pub mod identity;
pub mod mail;
pub mod node;
pub mod operator;
pub mod payments;
pub mod pow;
pub mod ratelimit;
pub mod runtime;
pub mod staff;
pub mod tenants;
pub mod tickets;
pub mod venue_import;
pub mod views;
pub mod vouchers;
pub mod waiting;
pub mod web;
