//! The vehicles reported in the last moments, so that one car is never reported twice: its
//! plate read again just after it left view (a queue that stops and goes, a car hidden by the
//! one beside it), in the next shot of a cut, or a piece of its plate seen at the frame's edge
//! is the vehicle already reported, not another one.
//!
//! Only a text at most one edit from a reported one, or a piece of it, is covered, and only
//! within `window` of that vehicle's last read: two cars whose plates differ by one character
//! seconds apart are rarer than one car misread once, and over longer times the same text is a
//! new passage on a fixed camera.

use super::track::is_part;
use crate::plate::edit_distance;
use std::collections::VecDeque;
use std::time::Duration;

/// Vehicles remembered at once; past it the one reported first is forgotten. A busy road
/// reports a few vehicles a second, so this is far more than a window of seconds holds.
const MAX_REMEMBERED: usize = 64;

struct Reported {
    text: String,
    vehicle: u64,
    last_seen: Duration,
}

pub(super) struct Recent {
    window: Duration,
    reported: VecDeque<Reported>,
}

impl Recent {
    pub fn new(window: Duration) -> Self {
        Self { window, reported: VecDeque::new() }
    }

    /// `vehicle` was reported as `text` (folded), last read at `last_seen`.
    pub fn remember(&mut self, text: &str, vehicle: u64, last_seen: Duration) {
        if self.window.is_zero() {
            return;
        }
        self.reported.retain(|r| r.vehicle != vehicle);
        if self.reported.len() >= MAX_REMEMBERED {
            self.reported.pop_front();
        }
        self.reported.push_back(Reported { text: text.to_string(), vehicle, last_seen });
    }

    /// A reported `vehicle` was read until `last_seen`: its window runs from there.
    pub fn seen_until(&mut self, vehicle: u64, last_seen: Duration) {
        if let Some(r) = self.reported.iter_mut().find(|r| r.vehicle == vehicle) {
            r.last_seen = r.last_seen.max(last_seen);
        }
    }

    /// The reported vehicle whose text `text` (folded), first read at `first_seen`, repeats
    /// or is a piece of, within the window after that vehicle's last read. A vehicle still read
    /// after `first_seen` was in view beside this one: two plates at once are two vehicles.
    pub fn covering(&mut self, text: &str, first_seen: Duration) -> Option<u64> {
        let window = self.window;
        self.reported.retain(|r| first_seen.saturating_sub(r.last_seen) <= window);
        self.reported
            .iter()
            .rev()
            .filter(|r| r.last_seen < first_seen)
            .find(|r| {
                edit_distance(&r.text, text) <= 1
                    || (is_part(&r.text, text) && text.len() < r.text.len())
            })
            .map(|r| r.vehicle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_repeat_or_a_piece_of_a_reported_plate_is_covered_within_the_window() {
        let mut r = Recent::new(s(10));
        r.remember("LM633BD", 7, s(5));
        assert_eq!(r.covering("LM633BD", s(6)), Some(7));
        assert_eq!(r.covering("LM633B0", s(6)), Some(7), "one edit: the same car misread");
        assert_eq!(r.covering("633BD", s(6)), Some(7), "a piece at the frame's edge");
        assert_eq!(r.covering("XY987ZW", s(6)), None, "another car");
        assert_eq!(r.covering("LM633BD", s(5)), None, "read beside it: another car");
        assert_eq!(r.covering("LM633XY", s(6)), None, "two edits is another car");
        r.seen_until(7, s(20));
        assert_eq!(r.covering("LM633BD", s(29)), Some(7), "the window runs from the last read");
        assert_eq!(r.covering("LM633BD", s(31)), None, "a new passage past the window");
    }

    #[test]
    fn a_longer_text_is_not_covered_by_its_piece_and_memory_is_bounded() {
        let mut r = Recent::new(s(10));
        r.remember("633BD", 1, s(0));
        assert_eq!(r.covering("LM633BD", s(1)), None, "the whole plate is not a piece");
        for v in 0..200u64 {
            r.remember(&format!("AB{v:03}CD"), 100 + v, s(1));
        }
        assert_eq!(r.reported.len(), MAX_REMEMBERED);
        let mut off = Recent::new(Duration::ZERO);
        off.remember("AB123CD", 1, s(0));
        assert_eq!(off.covering("AB123CD", s(0)), None, "a zero window remembers nothing");
    }
}
