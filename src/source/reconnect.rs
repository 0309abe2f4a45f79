//! The wait before a live source tries to reach its device again (a camera reopened, a stream
//! reconnected): one policy for both, a jittered doubling backoff (`backoff.rs`) that a shutdown cuts short, so a stop
//! never waits for a 10-second backoff to run out.

use crate::backoff::Backoff;
use crate::shutdown::Shutdown;

pub struct Reconnect {
    backoff: Backoff,
    shutdown: Shutdown,
}

impl Reconnect {
    pub fn new(min_ms: u64, max_ms: u64) -> Self {
        Self { backoff: Backoff::new(min_ms, max_ms), shutdown: Shutdown::new() }
    }

    /// From now on the waits end when `shutdown` comes.
    pub fn watch(&mut self, shutdown: &Shutdown) {
        self.shutdown = shutdown.clone();
    }

    /// Waits before the next attempt; false when the unit is stopping instead (the source
    /// then ends).
    pub fn wait(&mut self) -> bool {
        !self.shutdown.wait(self.backoff.next_wait())
    }

    /// The device answered: the next loss waits the minimum again.
    pub fn reset(&mut self) {
        self.backoff.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_shutdown_ends_a_long_backoff_at_once() {
        let mut reconnect = Reconnect::new(60_000, 60_000);
        let shutdown = Shutdown::new();
        reconnect.watch(&shutdown);
        let trigger = shutdown.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            trigger.trigger("test");
        });
        let started = Instant::now();
        assert!(!reconnect.wait(), "the wait reports the stop");
        assert!(started.elapsed() < Duration::from_secs(60), "it did not wait the backoff out");
    }
}
