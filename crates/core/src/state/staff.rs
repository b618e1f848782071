//! The tenant's staff accounts and sessions (see `staff`). The tenant carries them
//! through the log and into snapshots; every decision is the staff domain's own.
//! Its clock follows the tenant's: every command first lets the staff's time pass,
//! so a due session has ended before any command (or read after it) can use it.

use crate::outcome::*;
use crate::staff::{Staff, StaffCommand};

use super::Tenant;

impl Tenant {
    pub fn staff(&self) -> &Staff {
        &self.staff
    }

    /// Runs a staff command at the tenant's time.
    pub(super) fn staff_command(&mut self, command: &StaffCommand) -> Outcome {
        self.staff.apply(self.now, command).map(Reply::Staff).map_err(Rejection::Staff)
    }

    /// Lets the staff's time pass with the tenant's; returns the sessions that ended.
    pub(super) fn advance_staff(&mut self) -> u32 {
        self.staff.advance(self.now)
    }
}
