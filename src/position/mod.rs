//! Where the unit is when it reads a plate: from gpsd on a mobile unit (a police car), or from
//! the configuration on a fixed box. Every read carries the [`Position`] the
//! [`PositionProvider`] gives at the moment the read is made.
//!
//! `gpsd_json` parses gpsd's reports, `fix` decides what a read gets from them (both pure),
//! `gpsd_client` is the network edge.

pub mod fix;
pub mod gpsd_client;
pub mod gpsd_json;

use crate::config_issue::ConfigIssue;
use crate::worker::OwnedWorker;
use fix::{FixPolicy, FixTracker};
use gpsd_client::{GpsdClient, GpsdEndpoint};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// `[position]`: where the position of each read comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PositionConfig {
    /// `config`: a fixed box at `[device.site]`'s latitude/longitude; `gpsd`: a mobile unit.
    pub source: PositionKind,
    pub gpsd_host: String,
    pub gpsd_port: u16,
    /// A read gets the last fix until it is this old (seconds), then no position.
    pub max_fix_age_s: u64,
    /// Below this speed (m/s) the unit counts as standing: no direction of travel.
    pub moving_speed_mps: f64,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
}

impl Default for PositionConfig {
    fn default() -> Self {
        Self {
            source: PositionKind::Config,
            gpsd_host: "127.0.0.1".into(),
            gpsd_port: 2947,
            max_fix_age_s: 30,
            moving_speed_mps: 1.0,
            reconnect_min_ms: 500,
            reconnect_max_ms: 10_000,
        }
    }
}

impl PositionConfig {
    /// What is wrong with `[position]`, keys relative to it.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.gpsd_host.trim().is_empty() {
            issues.push(ConfigIssue::new(
                "gpsd_host",
                "is empty",
                "name gpsd's host (normally 127.0.0.1)",
            ));
        }
        if self.gpsd_port == 0 {
            issues.push(ConfigIssue::new(
                "gpsd_port",
                "is 0",
                "give gpsd's TCP port (it listens on 2947)",
            ));
        }
        if self.max_fix_age_s == 0 {
            issues.push(ConfigIssue::new("max_fix_age_s", "is 0", "must be at least 1"));
        }
        if !(self.moving_speed_mps.is_finite() && self.moving_speed_mps >= 0.0) {
            issues.push(ConfigIssue::new(
                "moving_speed_mps",
                format!("{} is not a speed", self.moving_speed_mps),
                "give 0 or more (m/s)",
            ));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            issues.push(ConfigIssue::new(
                "reconnect_min_ms",
                "is 0 or above position.reconnect_max_ms",
                "must be above 0 and at most position.reconnect_max_ms",
            ));
        }
        issues
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionKind {
    Config,
    Gpsd,
}

/// How good a gpsd fix is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixQuality {
    /// `2d` or `3d`.
    pub mode: String,
    /// Estimated horizontal error, metres.
    pub eph_m: Option<f64>,
    pub satellites_used: Option<u32>,
    pub hdop: Option<f64>,
}

/// The position a read was made at (the `position` field of the read record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub source: PositionKind,
    pub latitude: f64,
    pub longitude: f64,
    pub altitude_m: Option<f64>,
    /// null for a fixed box.
    pub fix: Option<FixQuality>,
    /// Speed over ground, m/s (null when unknown or the fix is lost).
    pub speed_mps: Option<f64>,
    /// Course over ground (degrees from true north), the last one measured while moving.
    pub heading_deg: Option<f64>,
    /// The unit's own direction of travel (N, NE, … NW) while it moves, else null.
    pub direction_of_travel: Option<String>,
    /// The fix's UTC time as the receiver stated it.
    pub fix_time: Option<String>,
    /// How old the fix was when the read was made, ms (null for a fixed box).
    pub age_ms: Option<u64>,
    /// The receiver has no fix now: this is the last known one.
    pub lost: bool,
}

/// Gives each read its position; cheap to ask (a lock and a copy), never blocks on gpsd.
pub enum PositionProvider {
    /// A fixed box without coordinates in its configuration.
    Unknown,
    Fixed(Position),
    Gpsd {
        tracker: Arc<Mutex<FixTracker>>,
        origin: Instant,
        /// The client's thread when this provider owns it ([`PositionProvider::start`]); a
        /// unit runs it on its own shutdown instead.
        _client: Option<OwnedWorker>,
    },
}

impl PositionProvider {
    /// A provider used on its own (a test, a tool): the gpsd client's thread, if any, started
    /// here and stopped when the provider is dropped.
    pub fn start(
        config: &PositionConfig,
        latitude: Option<f64>,
        longitude: Option<f64>,
    ) -> std::io::Result<Self> {
        match Self::new(config, latitude, longitude) {
            (Self::Gpsd { tracker, origin, .. }, Some(client)) => {
                let client = OwnedWorker::start(|shutdown| client.start(shutdown))?;
                Ok(Self::Gpsd { tracker, origin, _client: Some(client) })
            }
            (provider, _) => Ok(provider),
        }
    }

    /// A fixed box at the configured site, or a gpsd client's tracker and the client, for the
    /// caller to start ([`GpsdClient::start`]).
    pub fn new(
        config: &PositionConfig,
        latitude: Option<f64>,
        longitude: Option<f64>,
    ) -> (Self, Option<GpsdClient>) {
        match config.source {
            PositionKind::Config => (
                match (latitude, longitude) {
                    (Some(latitude), Some(longitude)) => Self::Fixed(Position {
                        source: PositionKind::Config,
                        latitude,
                        longitude,
                        altitude_m: None,
                        fix: None,
                        speed_mps: None,
                        heading_deg: None,
                        direction_of_travel: None,
                        fix_time: None,
                        age_ms: None,
                        lost: false,
                    }),
                    _ => Self::Unknown,
                },
                None,
            ),
            PositionKind::Gpsd => {
                let policy = FixPolicy {
                    max_fix_age: Duration::from_secs(config.max_fix_age_s),
                    moving_speed_mps: config.moving_speed_mps,
                };
                let tracker = Arc::new(Mutex::new(FixTracker::new(policy)));
                let origin = Instant::now();
                let endpoint = GpsdEndpoint {
                    host: config.gpsd_host.clone(),
                    port: config.gpsd_port,
                    reconnect_min_ms: config.reconnect_min_ms,
                    reconnect_max_ms: config.reconnect_max_ms,
                };
                let client = GpsdClient::new(endpoint, Arc::clone(&tracker), origin);
                (Self::Gpsd { tracker, origin, _client: None }, Some(client))
            }
        }
    }

    /// The position of a read whose frame was captured at `captured_at` (wall clock): on a
    /// mobile unit where it was then, between the fixes around it.
    pub fn at(&self, captured_at: SystemTime) -> Option<Position> {
        match self {
            Self::Gpsd { tracker, origin, .. } => {
                let ago = SystemTime::now().duration_since(captured_at).unwrap_or_default();
                let at = origin.elapsed().saturating_sub(ago);
                // invariant: as in `current`.
                let guard = tracker.lock().unwrap_or_else(|p| p.into_inner());
                guard.position_at(at)
            }
            _ => self.current(),
        }
    }

    /// The position a read made now gets.
    pub fn current(&self) -> Option<Position> {
        match self {
            Self::Unknown => None,
            Self::Fixed(position) => Some(position.clone()),
            Self::Gpsd { tracker, origin, .. } => {
                let now = origin.elapsed();
                // invariant: tracker updates are single assignments, so a poisoned lock still
                // holds a consistent tracker.
                let guard = tracker.lock().unwrap_or_else(|p| p.into_inner());
                guard.position(now)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_box_is_where_its_configuration_says() {
        let provider =
            PositionProvider::start(&PositionConfig::default(), Some(50.8466), Some(4.3528))
                .expect("no thread");
        let p = provider.current().expect("configured");
        assert_eq!((p.source, p.latitude, p.longitude), (PositionKind::Config, 50.8466, 4.3528));
        assert_eq!((p.fix, p.speed_mps, p.age_ms, p.lost), (None, None, None, false));
        let unplaced =
            PositionProvider::start(&PositionConfig::default(), None, None).expect("no thread");
        assert_eq!(unplaced.current(), None);
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |c: PositionConfig| c.issues()[0].clone().under("position").key;
        assert_eq!(
            bad(PositionConfig { gpsd_port: 0, ..PositionConfig::default() }),
            "position.gpsd_port"
        );
        assert_eq!(
            bad(PositionConfig { gpsd_host: " ".into(), ..PositionConfig::default() }),
            "position.gpsd_host"
        );
        assert_eq!(
            bad(PositionConfig { moving_speed_mps: f64::NAN, ..PositionConfig::default() }),
            "position.moving_speed_mps"
        );
        assert_eq!(
            bad(PositionConfig { reconnect_min_ms: 20_000, ..PositionConfig::default() }),
            "position.reconnect_min_ms"
        );
        assert!(PositionConfig::default().issues().is_empty());
    }
}
