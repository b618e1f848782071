//! The binary's one integration-test binary: real `sturmfest` child processes on
//! real sockets — crash recovery under SIGKILL, a failing disk, the load generator
//! end to end — and `verify-draw` on published draws.

mod crash;
mod disk_failure;
mod rush;
mod verify_draw;
mod voucher_crash;
