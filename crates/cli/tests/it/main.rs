//! The binary's one integration-test binary: real `sturmfest` child processes on
//! real sockets — crash recovery under SIGKILL and the load generator end to end.

mod crash;
mod disk_failure;
