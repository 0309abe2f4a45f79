//! Frame numbers and capture times of a camera across reopenings. Pure: the driver's sequence
//! numbers and buffer timestamps come in, the source's own go out.
//!
//! The driver numbers frames from 0 at every stream start and skips a number for every frame it
//! dropped; the source keeps those gaps (they show lost frames) but never goes back when the
//! camera is reopened: the first frame after a reopening takes the next free number.

use std::time::{Duration, SystemTime};

#[derive(Debug, Clone)]
pub struct Timeline {
    /// CLOCK_MONOTONIC when the source started: capture times are measured from it.
    started: Duration,
    /// The driver's number and ours for one frame of the current stream; `None` until the
    /// first frame of a stream.
    anchor: Option<(u32, u64)>,
    last_driver_seq: u32,
    next_seq: u64,
    last_time: Duration,
}

impl Timeline {
    pub fn new(started: Duration) -> Self {
        Self { started, anchor: None, last_driver_seq: 0, next_seq: 0, last_time: Duration::ZERO }
    }

    /// The number the next frame will get unless the driver reports a gap: what a frame lost
    /// before the driver numbered it is reported under.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The stream restarted (the camera was reopened): the driver counts from 0 again.
    pub fn restart(&mut self) {
        self.anchor = None;
    }

    /// Our number for the frame the driver numbered `driver_seq`.
    pub fn number(&mut self, driver_seq: u32) -> u64 {
        let seq = match self.anchor {
            // A number that goes back within one stream (a 32-bit wrap after 4.5 years at 30
            // frames per second, or a driver that restarted on its own) re-anchors like a reopening.
            Some((driver, ours)) if driver_seq > self.last_driver_seq => {
                ours + u64::from(driver_seq - driver)
            }
            _ => {
                self.anchor = Some((driver_seq, self.next_seq));
                self.next_seq
            }
        };
        self.last_driver_seq = driver_seq;
        self.next_seq = seq + 1;
        seq
    }

    /// Capture time of a frame: since the source started, and on the wall clock. The driver's
    /// timestamp (taken when the frame was captured, on CLOCK_MONOTONIC) is used when it has
    /// one that is plausible: not after `now` (when the frame was dequeued) and not before the
    /// source started. Otherwise `now` stands in, late by however long the frame waited in the
    /// driver's queue. The wall clock is `wall_now` back-dated by that wait. Times since the
    /// start never go back, so the gaps fusion measures are never negative.
    pub fn time(
        &mut self,
        driver_time: Option<Duration>,
        now: Duration,
        wall_now: SystemTime,
    ) -> (Duration, SystemTime) {
        let captured = driver_time.filter(|t| *t <= now && *t >= self.started).unwrap_or(now);
        self.last_time = self.last_time.max(captured.saturating_sub(self.started));
        let waited = now.saturating_sub(self.started).saturating_sub(self.last_time);
        (self.last_time, wall_now.checked_sub(waited).unwrap_or(wall_now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_numbers_are_kept_with_their_gaps() {
        let mut t = Timeline::new(Duration::ZERO);
        let seqs: Vec<u64> = [0, 1, 2, 5, 6].into_iter().map(|s| t.number(s)).collect();
        assert_eq!(seqs, [0, 1, 2, 5, 6]);
        assert_eq!(t.next_seq(), 7);
    }

    #[test]
    fn numbering_continues_after_a_reopening_whatever_the_driver_restarts_from() {
        let mut t = Timeline::new(Duration::ZERO);
        for s in 0..4 {
            t.number(s);
        }
        t.restart();
        assert_eq!(t.number(0), 4);
        assert_eq!(t.number(2), 6, "a gap after the reopening still shows");
        t.restart();
        assert_eq!(t.number(1000), 7, "a driver that keeps counting across opens");
        assert_eq!(t.number(1001), 8);
    }

    #[test]
    fn a_first_frame_not_numbered_zero_is_still_frame_zero() {
        let mut t = Timeline::new(Duration::ZERO);
        assert_eq!(t.number(17), 0);
        assert_eq!(t.number(18), 1);
    }

    #[test]
    fn a_driver_number_going_back_never_makes_ours_go_back() {
        let mut t = Timeline::new(Duration::ZERO);
        t.number(u32::MAX - 1);
        t.number(u32::MAX);
        assert_eq!(t.number(0), 2);
        assert_eq!(t.number(3), 5);
        assert_eq!(t.number(3), 6, "a repeated number is a new frame, not an old one");
    }

    #[test]
    fn driver_timestamps_are_used_when_plausible() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let wall = SystemTime::UNIX_EPOCH + s(1_000_000);
        let mut t = Timeline::new(s(100));
        let mut time = |driver, now| t.time(driver, now, wall).0;
        assert_eq!(
            time(Some(s(101)), s(101) + ms(30)),
            s(1),
            "the driver's capture time, not the dequeue time"
        );
        assert_eq!(time(None, s(102)), s(2), "no driver time: the dequeue time");
        assert_eq!(time(Some(s(500)), s(103)), s(3), "a driver time in the future is not believed");
        assert_eq!(time(Some(s(50)), s(104)), s(4), "nor one from before the source started");
        assert_eq!(time(Some(s(103)), s(105)), s(4), "times never go back");
    }

    #[test]
    fn the_wall_clock_is_back_dated_by_the_wait_in_the_driver() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut t = Timeline::new(Duration::from_secs(100));
        let (_, captured_at) =
            t.time(Some(Duration::from_millis(101_000)), Duration::from_millis(101_040), wall);
        assert_eq!(captured_at, wall - Duration::from_millis(40));
        let (_, captured_at) = t.time(None, Duration::from_secs(102), wall);
        assert_eq!(captured_at, wall);
    }
}
