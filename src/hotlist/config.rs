//! The `[hotlist]` section of the configuration.

use super::alert::AlertPolicy;
use super::live::LiveHotlist;
use crate::config_issue::{under, ConfigIssue};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Largest tolerance accepted: beyond 3 steps a 7-character plate matches too many others.
pub const MAX_TOLERANCE: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotlistConfig {
    /// The list on disk (CSV, or JSON when it ends in `.json`), loaded at start and watched;
    /// its signature, when one is needed, beside it in `<file>.sig`.
    pub file: Option<PathBuf>,
    /// Ed25519 public key (PEM): when set, only lists signed by it are accepted.
    pub public_key: Option<PathBuf>,
    /// Confusable characters plus missing/extra characters a read may differ by (0: exact only).
    pub fuzzy_tolerance: u32,
    /// How often the file's modification time and size are looked at.
    pub poll_interval_s: u64,
    /// Take lists from the retained `<prefix>/<device>/hotlist` message.
    pub mqtt_device_topic: bool,
    /// Take lists from the retained `<prefix>/fleet/hotlist` message.
    pub mqtt_fleet_topic: bool,
    /// `[hotlist.alert]`: the evidence a match needs to be a confirmed hit.
    pub alert: AlertPolicy,
}

impl Default for HotlistConfig {
    fn default() -> Self {
        Self {
            file: None,
            public_key: None,
            fuzzy_tolerance: 1,
            poll_interval_s: 5,
            mqtt_device_topic: true,
            mqtt_fleet_topic: true,
            alert: AlertPolicy::default(),
        }
    }
}

impl HotlistConfig {
    /// The list in force at start, or what is wrong with `[hotlist]`, keys relative to it.
    /// The list is loaded whole, signature included, so that check-config says what the start
    /// would, and the start runs with what was checked; without a file, none until one arrives
    /// over MQTT.
    pub fn parse(&self) -> Result<LiveHotlist, Vec<ConfigIssue>> {
        let mut issues: Vec<ConfigIssue> = under("alert", self.alert.issues()).collect();
        if self.fuzzy_tolerance > MAX_TOLERANCE {
            issues.push(ConfigIssue::new(
                "fuzzy_tolerance",
                format!("{} is above {MAX_TOLERANCE}", self.fuzzy_tolerance),
                "1 allows one confusable or missing character, 0 exact only",
            ));
        }
        if !(1..=3600).contains(&self.poll_interval_s) {
            issues.push(ConfigIssue::new(
                "poll_interval_s",
                format!("{} is outside 1..3600 seconds", self.poll_interval_s),
                "give 1 to 3600",
            ));
        }
        let key = match self.public_key.as_deref().map(crate::signing::load_verifying_key) {
            None => Some(None),
            Some(Ok(key)) => Some(Some(key)),
            Some(Err(e)) => {
                issues.push(ConfigIssue::new("public_key", e.to_string(), ""));
                None
            }
        };
        let live = key.map(|key| LiveHotlist::new(key, self.fuzzy_tolerance));
        match (&self.file, &live) {
            (Some(file), _) if !file.is_file() => issues.push(ConfigIssue::new(
                "file",
                format!("{} is not a file", file.display()),
                "give the hotlist (CSV or .json) or leave the key out",
            )),
            (Some(file), Some(live)) => {
                if let Err(e) = live.load_file(file, std::time::SystemTime::now()) {
                    issues.push(ConfigIssue::new("file", e.to_string(), ""));
                }
            }
            _ => {}
        }
        match live {
            Some(live) if issues.is_empty() => Ok(live),
            _ => Err(issues),
        }
    }
}
