//! The core's one integration-test binary. `ledger` tests the voucher ledger with
//! scripts and a reference model. `scenario` drives the state machine with
//! readable text scripts checked against inline snapshots, `props` throws random
//! command sequences at it and checks every reply against an independent auditor,
//! replay and snapshot restore, `queue` does both for the waiting room, and `tidy`
//! keeps the workspace's house rules. `vouchers` runs the ledger inside the tenant:
//! through `Tenant::apply`, snapshots and replay; `cards` tests voucher programmes,
//! merchants, devices and cards on top of it with a scenario and a reference model;
//! `offline` tests offline redemption (allowances, syncs, risk) with worked examples
//! and a model, crashing and recovering the tenant at random points.
//! `payments` walks online payments through success, decline, late and duplicate
//! webhooks and refunds, and throws random interleavings of them at a tiny venue.

mod amend;
mod cards;
mod ledger;
mod offline;
mod payments;
mod props;
mod purchases;
mod queue;
mod rooms;
mod scenario;
mod staff;
mod tidy;
mod vouchers;
