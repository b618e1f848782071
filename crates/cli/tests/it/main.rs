//! The binary's one integration-test binary: real `sturmfest` child processes on
//! real sockets — crash recovery under SIGKILL, a failing disk, the load generator
//! end to end, the demo's club, city and operator — and `verify-draw` on published
//! draws.

mod crash;
mod demo;
mod disk_failure;
mod rush;
mod verify_draw;
mod voucher_crash;
