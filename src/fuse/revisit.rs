//! A moving camera's memory of vehicles already read: a parked car passed a second time, or
//! a car met again down the road, keeps its vehicle id and is not emitted again.
//!
//! Only the exact text (O and 0 equal) links, and only within `revisit_s` of the last read:
//! over minutes, two cars one misread apart are likelier than one car misread.

use std::collections::VecDeque;
use std::time::Duration;

/// Vehicles remembered at once; past it the oldest is forgotten (bounds memory on a shift).
const MAX_REMEMBERED: usize = 4096;

struct Remembered {
    text: String,
    vehicle: u64,
    last_seen: Duration,
}

pub(super) struct Revisits {
    window: Duration,
    remembered: VecDeque<Remembered>,
}

impl Revisits {
    pub fn new(window: Duration) -> Self {
        Self { window, remembered: VecDeque::new() }
    }

    /// Keeps `vehicle`, last read as `text` at `last_seen`, for the window.
    pub fn remember(&mut self, text: &str, vehicle: u64, last_seen: Duration) {
        if self.window.is_zero() {
            return;
        }
        if self.remembered.len() >= MAX_REMEMBERED {
            self.remembered.pop_front();
        }
        self.remembered.push_back(Remembered { text: text.to_string(), vehicle, last_seen });
    }

    /// The vehicle last read as `text` within the window before `at`, taken out of memory (it
    /// is followed again and remembered anew when it leaves).
    pub fn take(&mut self, text: &str, at: Duration) -> Option<u64> {
        let window = self.window;
        self.remembered.retain(|r| at.saturating_sub(r.last_seen) <= window);
        let index = self.remembered.iter().rposition(|r| r.text == text)?;
        self.remembered.remove(index).map(|r| r.vehicle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_linked_within_the_window_only_and_exactly() {
        let mut r = Revisits::new(Duration::from_secs(60));
        r.remember("AB123CD", 7, Duration::from_secs(10));
        assert_eq!(r.take("AB123CE", Duration::from_secs(20)), None, "one edit is another car");
        assert_eq!(r.take("AB123CD", Duration::from_secs(20)), Some(7));
        assert_eq!(r.take("AB123CD", Duration::from_secs(21)), None, "taken out once followed");
        r.remember("AB123CD", 7, Duration::from_secs(30));
        assert_eq!(r.take("AB123CD", Duration::from_secs(91)), None, "past the window");
    }

    #[test]
    fn a_zero_window_remembers_nothing_and_memory_is_bounded() {
        let mut off = Revisits::new(Duration::ZERO);
        off.remember("AB123CD", 1, Duration::ZERO);
        assert_eq!(off.take("AB123CD", Duration::ZERO), None);
        let mut r = Revisits::new(Duration::from_secs(60));
        for i in 0..(MAX_REMEMBERED as u64 + 1) {
            r.remember(&format!("X{i}"), i, Duration::ZERO);
        }
        assert_eq!(r.remembered.len(), MAX_REMEMBERED);
        assert_eq!(r.take("X0", Duration::ZERO), None, "the oldest was forgotten");
    }
}
