//! A fixed-bucket histogram of durations, as Prometheus reads one: cumulative counts per upper
//! bound, a sum and a count. Fixed memory (the bounds are constants), pure.

use serde::Serialize;
use std::time::Duration;

/// Upper bounds in seconds, from what a control room would call instant to what it would call
/// late: a hit alert's capture-to-PUBACK time lands in the first few on a healthy link.
pub const BOUNDS_S: [f64; 12] = [0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Histogram {
    /// Observations at or under each bound of [`BOUNDS_S`] (cumulative, as Prometheus has them).
    buckets: [u64; BOUNDS_S.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, value: Duration) {
        let seconds = value.as_secs_f64();
        for (bucket, bound) in self.buckets.iter_mut().zip(BOUNDS_S) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// As the status heartbeat carries it, and `/metrics` renders it (`health::render` knows
    /// an object with `le`, `buckets`, `sum` and `count` is a histogram).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "le": BOUNDS_S,
            "buckets": self.buckets,
            "sum": self.sum,
            "count": self.count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_cumulative_per_bound() {
        let mut h = Histogram::default();
        for ms in [10, 60, 60, 400, 20_000] {
            h.observe(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 5);
        assert_eq!(h.buckets, [1, 1, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4]);
        assert!((h.sum - 20.53).abs() < 1e-9);
        assert_eq!(h.to_json()["buckets"][2], 3);
    }
}
