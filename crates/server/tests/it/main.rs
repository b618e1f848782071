//! The server's one integration-test binary: the HTTP API driven through
//! `app(state)` on a real SQLite store, the committer at the edges of the record
//! format, signed credentials, the waiting room's fair draw, its proof of work and
//! rate limits, outgoing mail over real SMTP to an in-process sink
//! (`support::smtp_sink`), e-mail identity verification, the server-rendered pages
//! and the waiting page in headless Chromium (`browser`), signed tickets with their
//! QR codes and PDFs (read back with poppler), and the deterministic simulator of
//! the commit path, and staff logins with their sessions, CSRF tokens and roles
//! (`staff`), and the voucher office's API through a whole day (`vouchers_api`), a merchant
//! device redeeming while the node is stopped and syncing once (`vouchers_offline`),
//! payments through the test provider with signed webhooks and the ticket e-mail
//! (`payments`), and the checkout in Chromium (`checkout_browser`), and the merchant till page
//! redeeming offline and syncing once in headless Chromium (`merchant_browser`), and the
//! voucher office's merchant, offline-risk, settlement and report pages, and in Chromium (`voucher_merchants`,
//! `voucher_merchants_browser`).

mod api;
mod boxoffice;
mod browser;
mod checkout_browser;
mod committer;
mod credentials;
mod draw;
mod identity;
mod mail;
mod office;
mod office_browser;
mod operator;
mod operator_browser;
mod merchant_browser;
mod pages;
mod payments;
mod pow;
mod ratelimit;
mod room;
mod sim;
mod staff;
mod stripe;
mod support;
mod tickets;
mod vouchers_api;
mod vouchers_offline;
mod vouchers_online;
mod vouchers_online_browser;
mod vouchers_pages;
mod vouchers_reports;
mod vouchers_settlement;
mod voucher_office;
mod voucher_office_browser;
mod voucher_merchants;
mod voucher_merchants_browser;
