//! What position a read gets from the stream of gpsd reports: the latest fix, aged, and
//! forgotten past a limit. Pure: time comes in as a monotonic [`Duration`], so every case (a
//! fix lost, gpsd gone, a stationary car) is a unit test.
//!
//! Design: the receiver's last good fix stays valid for `max_fix_age` after it was received,
//! because a car in a tunnel or under a bridge is still close to where it was seen; the read
//! says how old the fix is and that it is the last known one (`lost`), so the control room
//! can judge. Past `max_fix_age` a read gets no position rather than a wrong one. Course over
//! ground is noise when standing still, so the direction of travel is given only above
//! `moving_speed_mps`, and the heading kept is the last one measured while moving.

use super::gpsd_json::{FixMode, Report, Sky};
use super::{FixQuality, Position, PositionKind};
use std::collections::VecDeque;
use std::time::Duration;

/// Fixes kept to place a read between them: at gpsd's 1 Hz, the last 8 s, more than fusion
/// takes from a vehicle's best frame to its emission.
const RECENT_FIXES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixPolicy {
    pub max_fix_age: Duration,
    pub moving_speed_mps: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct Fix {
    latitude: f64,
    longitude: f64,
    altitude_m: Option<f64>,
    mode: FixMode,
    eph_m: Option<f64>,
    speed_mps: Option<f64>,
    time: Option<String>,
    received: Duration,
}

#[derive(Debug, Clone)]
pub struct FixTracker {
    policy: FixPolicy,
    last: Option<Fix>,
    sky: Option<Sky>,
    /// Course over ground, last measured while moving.
    heading_deg: Option<f64>,
    moving: bool,
    /// The receiver (or gpsd) has no fix now: `last` is the last known one.
    lost: bool,
    /// When the latest fixes were received and where they were, oldest first.
    recent: VecDeque<(Duration, f64, f64)>,
}

impl FixTracker {
    pub fn new(policy: FixPolicy) -> Self {
        Self {
            policy,
            last: None,
            sky: None,
            heading_deg: None,
            moving: false,
            lost: true,
            recent: VecDeque::with_capacity(RECENT_FIXES),
        }
    }

    pub fn observe(&mut self, report: Report, now: Duration) {
        match report {
            Report::Tpv(tpv) => match (tpv.mode, tpv.latitude, tpv.longitude) {
                (FixMode::TwoD | FixMode::ThreeD, Some(latitude), Some(longitude)) => {
                    self.moving = tpv.speed_mps.is_some_and(|s| s >= self.policy.moving_speed_mps);
                    if self.moving {
                        if let Some(track) = tpv.track_deg {
                            self.heading_deg = Some(track.rem_euclid(360.0));
                        }
                    }
                    self.last = Some(Fix {
                        latitude,
                        longitude,
                        altitude_m: if tpv.mode == FixMode::ThreeD { tpv.altitude_m } else { None },
                        mode: tpv.mode,
                        eph_m: tpv.eph_m,
                        speed_mps: tpv.speed_mps,
                        time: tpv.time,
                        received: now,
                    });
                    self.lost = false;
                    if self.recent.len() == RECENT_FIXES {
                        self.recent.pop_front();
                    }
                    self.recent.push_back((now, latitude, longitude));
                }
                // A TPV without a usable position: the receiver lost its fix.
                _ => self.lost = true,
            },
            Report::Sky(sky) => self.sky = Some(sky),
            Report::Other(_) => {}
        }
    }

    /// gpsd went away: whatever was known is the last known fix from now on.
    pub fn connection_lost(&mut self) {
        self.lost = true;
    }

    /// The position a read made at `now` gets, or none when no fix is recent enough.
    pub fn position(&self, now: Duration) -> Option<Position> {
        let fix = self.last.as_ref()?;
        let age = now.saturating_sub(fix.received);
        if age > self.policy.max_fix_age {
            return None;
        }
        let moving = self.moving && !self.lost;
        Some(Position {
            source: PositionKind::Gpsd,
            latitude: fix.latitude,
            longitude: fix.longitude,
            altitude_m: fix.altitude_m,
            fix: Some(FixQuality {
                mode: if fix.mode == FixMode::ThreeD { "3d" } else { "2d" }.to_string(),
                eph_m: fix.eph_m,
                satellites_used: self.sky.and_then(|s| s.satellites_used),
                hdop: self.sky.and_then(|s| s.hdop),
            }),
            speed_mps: if self.lost { None } else { fix.speed_mps },
            heading_deg: self.heading_deg,
            direction_of_travel: if moving {
                self.heading_deg.map(|h| compass_point(h).to_string())
            } else {
                None
            },
            fix_time: fix.time.clone(),
            age_ms: Some(age.as_millis() as u64),
            lost: self.lost,
        })
    }

    /// The position of a read whose frame was captured at `at`: between two fixes received
    /// around it, where the unit was then (interpolated by time, the age the time to the
    /// nearer fix), not where it is by the time the read is emitted; after the last fix, as
    /// [`FixTracker::position`] says.
    pub fn position_at(&self, at: Duration) -> Option<Position> {
        let mut position = self.position(at)?;
        // Fixes come in receiving order, so at most one pair brackets `at`.
        let mut around = self.recent.iter().zip(self.recent.iter().skip(1));
        if let Some((before, after)) = around.find(|(before, after)| before.0 <= at && at < after.0)
        {
            let span = (after.0 - before.0).as_secs_f64();
            let t = (at - before.0).as_secs_f64() / span;
            position.latitude = before.1 + (after.1 - before.1) * t;
            position.longitude = before.2 + (after.2 - before.2) * t;
            position.age_ms = Some((at - before.0).min(after.0 - at).as_millis() as u64);
        }
        Some(position)
    }
}

/// The eight-point compass direction of a course in degrees from true north.
pub fn compass_point(degrees: f64) -> &'static str {
    const POINTS: [&str; 8] = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
    // invariant: rem_euclid(8) of a finite value lies in 0..8.
    POINTS[((degrees.rem_euclid(360.0) + 22.5) / 45.0).floor() as usize % 8]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::gpsd_json::Tpv;

    fn policy() -> FixPolicy {
        FixPolicy { max_fix_age: Duration::from_secs(10), moving_speed_mps: 1.0 }
    }

    fn tpv(mode: FixMode, speed: f64, track: f64) -> Report {
        Report::Tpv(Tpv {
            mode,
            time: Some("2026-06-01T10:00:00.000Z".into()),
            latitude: Some(50.0),
            longitude: Some(4.0),
            altitude_m: Some(56.0),
            speed_mps: Some(speed),
            track_deg: Some(track),
            eph_m: Some(5.0),
        })
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn nothing_before_the_first_fix() {
        let mut t = FixTracker::new(policy());
        assert_eq!(t.position(secs(0)), None);
        t.observe(
            Report::Tpv(Tpv {
                mode: FixMode::NoFix,
                time: None,
                latitude: None,
                longitude: None,
                altitude_m: None,
                speed_mps: None,
                track_deg: None,
                eph_m: None,
            }),
            secs(1),
        );
        assert_eq!(t.position(secs(1)), None);
    }

    #[test]
    fn a_moving_fix_has_speed_heading_and_direction() {
        let mut t = FixTracker::new(policy());
        t.observe(Report::Sky(Sky { satellites_used: Some(8), hdop: Some(0.9) }), secs(0));
        t.observe(tpv(FixMode::ThreeD, 15.0, 92.0), secs(1));
        let p = t.position(secs(3)).expect("fresh fix");
        assert_eq!((p.latitude, p.longitude, p.altitude_m), (50.0, 4.0, Some(56.0)));
        assert_eq!(
            (p.speed_mps, p.heading_deg, p.direction_of_travel),
            (Some(15.0), Some(92.0), Some("E".to_string()))
        );
        assert_eq!(p.age_ms, Some(2000));
        assert!(!p.lost);
        let q = p.fix.expect("quality");
        assert_eq!(
            (q.mode.as_str(), q.satellites_used, q.hdop, q.eph_m),
            ("3d", Some(8), Some(0.9), Some(5.0))
        );
    }

    #[test]
    fn standing_still_keeps_the_last_heading_and_gives_no_direction() {
        let mut t = FixTracker::new(policy());
        t.observe(tpv(FixMode::ThreeD, 12.0, 181.0), secs(0));
        t.observe(tpv(FixMode::TwoD, 0.2, 37.0), secs(1));
        let p = t.position(secs(1)).expect("fix");
        assert_eq!(
            (p.heading_deg, p.direction_of_travel, p.speed_mps),
            (Some(181.0), None, Some(0.2))
        );
        assert_eq!(
            (p.altitude_m, p.fix.expect("q").mode.as_str()),
            (None, "2d"),
            "a 2D fix has no altitude"
        );
    }

    #[test]
    fn a_lost_fix_gives_the_last_one_with_its_age_until_too_old() {
        let mut t = FixTracker::new(policy());
        t.observe(tpv(FixMode::ThreeD, 15.0, 0.0), secs(5));
        t.observe(
            Report::Tpv(Tpv {
                mode: FixMode::NoFix,
                time: None,
                latitude: None,
                longitude: None,
                altitude_m: None,
                speed_mps: None,
                track_deg: None,
                eph_m: None,
            }),
            secs(6),
        );
        let p = t.position(secs(9)).expect("last known");
        assert!(p.lost);
        assert_eq!(
            (p.age_ms, p.speed_mps, p.direction_of_travel, p.heading_deg),
            (Some(4000), None, None, Some(0.0))
        );
        assert_eq!(
            t.position(secs(15)).map(|p| p.age_ms),
            Some(Some(10_000)),
            "at the limit still given"
        );
        assert_eq!(
            t.position(secs(16)),
            None,
            "past max_fix_age: no position rather than a wrong one"
        );
        t.observe(tpv(FixMode::ThreeD, 15.0, 0.0), secs(20));
        assert!(!t.position(secs(20)).expect("back").lost, "a new fix clears the loss");
    }

    #[test]
    fn gpsd_going_away_marks_the_fix_lost() {
        let mut t = FixTracker::new(policy());
        t.observe(tpv(FixMode::ThreeD, 15.0, 270.0), secs(0));
        t.connection_lost();
        let p = t.position(secs(1)).expect("last known");
        assert!(p.lost && p.direction_of_travel.is_none());
    }

    #[test]
    fn compass_points() {
        let got: Vec<&str> = [0.0, 22.4, 22.6, 90.0, 180.0, 225.0, 315.0, 337.6, 359.9, -45.0]
            .map(compass_point)
            .to_vec();
        assert_eq!(got, ["N", "N", "NE", "E", "S", "SW", "NW", "N", "N", "NW"]);
    }

    #[test]
    fn a_read_between_two_fixes_is_placed_where_the_unit_was_then() {
        let at = |lat: f64, lon: f64| {
            Report::Tpv(Tpv {
                mode: FixMode::ThreeD,
                time: None,
                latitude: Some(lat),
                longitude: Some(lon),
                altitude_m: None,
                speed_mps: Some(14.0),
                track_deg: Some(90.0),
                eph_m: None,
            })
        };
        let mut t = FixTracker::new(policy());
        t.observe(at(50.0, 4.0), secs(10));
        t.observe(at(50.0, 4.001), secs(11));
        t.observe(at(50.0, 4.002), secs(12));
        let p = t.position_at(Duration::from_millis(10_250)).expect("placed");
        assert!((p.longitude - 4.00025).abs() < 1e-9, "{}", p.longitude);
        assert_eq!(p.age_ms, Some(250));
        assert_eq!(p.speed_mps, Some(14.0));
        let later = t.position_at(Duration::from_millis(12_500)).expect("after the last fix");
        assert_eq!((later.longitude, later.age_ms), (4.002, Some(500)));
    }
}
