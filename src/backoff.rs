//! The wait between attempts to get something lost back (a camera, a stream, gpsd, the broker):
//! a ceiling doubling from a minimum to a maximum, back to the minimum once it works again, and
//! each wait drawn at random under the ceiling ("full jitter", with the minimum as a floor).
//!
//! Why jitter: after a central outage every unit of a fleet loses the broker at the same
//! moment. With a plain doubling they all retry at the same moments too, and each retry is a
//! storm of TLS handshakes on the nodes that are back. Drawn uniformly in
//! `[min, min(max, 2 × ceiling)]`, the waits of 10,000 units spread over the whole interval,
//! while no wait is longer than twice the plain doubling's and, over an outage, the waits
//! are shorter on average (so a unit does not recover later for the jitter). The generator is seeded: from the OS for a unit, by hand in a test.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    ceiling: Duration,
    /// `None`: the plain doubling (what the tests and the fleet bench compare the jitter with).
    jitter: Option<SplitMix64>,
}

impl Backoff {
    /// Jittered, seeded from the operating system.
    pub fn new(min_ms: u64, max_ms: u64) -> Self {
        Self::seeded(min_ms, max_ms, os_seed())
    }

    /// Jittered, with the randomness fixed by `seed` (a test's, or a simulated fleet's).
    pub fn seeded(min_ms: u64, max_ms: u64, seed: u64) -> Self {
        Self { jitter: Some(SplitMix64(seed)), ..Self::without_jitter(min_ms, max_ms) }
    }

    /// The plain doubling: every unit that lost the broker at once retries at once.
    pub fn without_jitter(min_ms: u64, max_ms: u64) -> Self {
        let min = Duration::from_millis(min_ms);
        Self { min, max: Duration::from_millis(max_ms).max(min), ceiling: min, jitter: None }
    }

    /// The wait before the next attempt; each call doubles the ceiling, up to the maximum.
    pub fn next_wait(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (ceiling * 2).min(self.max);
        match &mut self.jitter {
            None => ceiling,
            Some(random) => {
                let top = (ceiling * 2).min(self.max);
                self.min + (top - self.min).mul_f64(random.unit())
            }
        }
    }

    pub fn reset(&mut self) {
        self.ceiling = self.min;
    }
}

/// A seed that differs between units and between starts of one unit.
fn os_seed() -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::getrandom(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        // Without the OS's randomness the clock still separates units that started apart.
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
                ^ u64::from(std::process::id())
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and every seed gives a full-period
/// sequence, which is all a retry schedule needs (nothing here is a secret). Also the chaos
/// bench's seeded choices, so that a printed seed replays the same rounds.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(waits: impl IntoIterator<Item = Duration>) -> Vec<u128> {
        waits.into_iter().map(|w| w.as_millis()).collect()
    }

    #[test]
    fn without_jitter_it_doubles_up_to_the_maximum_and_resets() {
        let mut b = Backoff::without_jitter(100, 500);
        assert_eq!(ms((0..5).map(|_| b.next_wait())), [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_wait().as_millis(), 100);
    }

    #[test]
    fn each_jittered_wait_lies_between_the_floor_and_twice_the_ceiling() {
        for seed in 0..200 {
            let mut b = Backoff::seeded(100, 1000, seed);
            let mut plain = Backoff::without_jitter(100, 1000);
            for _ in 0..8 {
                let (wait, ceiling) = (b.next_wait(), plain.next_wait());
                let top = (ceiling * 2).min(Duration::from_millis(1000));
                assert!(wait >= Duration::from_millis(100) && wait <= top, "{wait:?} {top:?}");
            }
        }
    }

    #[test]
    fn a_seed_fixes_the_waits_and_different_seeds_differ() {
        let waits = |seed| {
            let mut b = Backoff::seeded(500, 30_000, seed);
            ms((0..6).map(|_| b.next_wait()))
        };
        assert_eq!(waits(7), waits(7));
        assert_ne!(waits(7), waits(8));
    }

    /// The point of the jitter: units that lost the broker together no longer come back
    /// together. 1,000 units' first retries, in 100 ms bins over [500, 1000] ms: without jitter
    /// all in one bin, with it spread over five (no bin holds more than a quarter of them). Over a long outage the
    /// jittered waits are shorter on average (at the maximum they average (min + max) / 2), so
    /// a unit never comes back later for the jitter: between half and 1.2 × the plain total.
    #[test]
    fn a_fleet_spreads_its_retries_and_keeps_its_mean_wait() {
        let units = 1000u64;
        let mut bins = [0u32; 6];
        let (mut jittered, mut plain_total) = (Duration::ZERO, Duration::ZERO);
        for unit in 0..units {
            let mut b = Backoff::seeded(500, 30_000, unit);
            let first = b.next_wait();
            bins[((first.as_millis() - 500) / 100) as usize] += 1;
            jittered += first + (0..7).map(|_| b.next_wait()).sum::<Duration>();
            let mut plain = Backoff::without_jitter(500, 30_000);
            plain_total += (0..8).map(|_| plain.next_wait()).sum::<Duration>();
        }
        assert!(bins.iter().all(|&n| n <= 250), "first retries per 100 ms: {bins:?}");
        let ratio = jittered.as_secs_f64() / plain_total.as_secs_f64();
        assert!((0.5..=1.2).contains(&ratio), "mean wait {ratio:.2} × the plain doubling's");
        let mut plain = Backoff::without_jitter(500, 30_000);
        assert_eq!(plain.next_wait(), Duration::from_millis(500), "plain: all 1,000 at 500 ms");
    }

    #[test]
    fn equal_bounds_give_exactly_that_wait() {
        let mut b = Backoff::seeded(1000, 1000, 3);
        assert_eq!(ms((0..3).map(|_| b.next_wait())), [1000, 1000, 1000]);
    }
}
