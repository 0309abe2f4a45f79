//! What a read learns from the unit itself at the moment it is made: where the unit is and
//! whether its clock can be trusted.

use crate::clock::ClockState;
use crate::position::PositionProvider;
use crate::read_record::ReadRecord;

pub struct ReadStamp {
    pub position: PositionProvider,
    /// The clock's state now: [`crate::clock::probe`] in the daemon.
    pub clock: fn() -> ClockState,
}

impl ReadStamp {
    /// A unit that does not know where it is, with the real clock probe.
    pub fn unplaced() -> Self {
        Self { position: PositionProvider::Unknown, clock: crate::clock::probe }
    }

    pub fn apply(&self, record: &mut ReadRecord) {
        record.position = self.position.current();
        record.clock_synchronised = (self.clock)().trusted();
    }
}
