//! What a read learns from the unit itself: where the unit was when the plate was best read,
//! and whether its clock can be trusted.

use crate::clock::ClockState;
use crate::position::PositionProvider;
use crate::read_record::ReadRecord;
use std::time::SystemTime;

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

    /// Stamps `record`, whose best frame was captured at `captured_at`.
    pub fn apply(&self, record: &mut ReadRecord, captured_at: SystemTime) {
        record.position = self.position.at(captured_at);
        record.clock_synchronised = (self.clock)().trusted();
    }
}
