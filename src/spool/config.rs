//! The `[spool]` section: where the durable spool lives, how often it reaches the disk, and
//! its bounds.

use crate::config_issue::ConfigIssue;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// fsync after every record: a read is on the disk before `submit` returns.
    PerRecord,
    /// fsync at most every `fsync_interval_ms`: at most that much is lost if power fails.
    #[default]
    Interval,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Under systemd's StateDirectory by default.
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub fsync_interval_ms: u64,
    /// Bound of the segment files on disk, removed records included (they are compacted away).
    pub max_bytes: u64,
    /// Reads and images older than this are dropped.
    pub max_age_s: u64,
    /// Hits older than this are dropped. Left out, the daemon sets it from the privacy
    /// retention of hits (`privacy.retention.hit_days`, else `days`): an undelivered hit is kept
    /// as long as the law lets the unit keep a hit, and no longer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hit_max_age_s: Option<u64>,
    /// A new segment file is started when the current one reaches this size.
    pub segment_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/anpr-edge/spool"),
            fsync: FsyncPolicy::Interval,
            fsync_interval_ms: 200,
            max_bytes: 256 << 20,
            max_age_s: 7 * 24 * 3600,
            hit_max_age_s: None,
            segment_bytes: 8 << 20,
        }
    }
}

impl SpoolConfig {
    /// Checks the section on its own and against the outbox it backs (which holds the same
    /// messages in RAM, so its byte bound is the spool's bound of live data); keys relative
    /// to `[spool]`.
    pub fn issues(&self, outbox_bytes: usize) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.dir.as_os_str().is_empty() {
            issues.push(ConfigIssue::new(
                "dir",
                "is empty",
                "give a folder the daemon may write (default /var/lib/anpr-edge/spool)",
            ));
        }
        if self.fsync == FsyncPolicy::Interval && !(1..=60_000).contains(&self.fsync_interval_ms) {
            issues.push(ConfigIssue::new(
                "fsync_interval_ms",
                format!("{} is outside 1..60000", self.fsync_interval_ms),
                "give 1 to 60000 ms",
            ));
        }
        if self.segment_bytes < 64 << 10 {
            issues.push(ConfigIssue::new(
                "segment_bytes",
                format!("{} is below 65536", self.segment_bytes),
                "give at least 65536",
            ));
        }
        if self.max_age_s == 0 {
            issues.push(ConfigIssue::new("max_age_s", "is 0", "must be at least 1"));
        }
        if self.hit_max_age_s == Some(0) {
            issues.push(ConfigIssue::new(
                "hit_max_age_s",
                "is 0",
                "must be at least 1 (or left out to follow privacy.retention)",
            ));
        }
        // Live data (at most the outbox's bytes, plus framing) must fit twice, with a segment
        // being written and one being copied forward, or compaction could never catch up.
        let least = 2 * (outbox_bytes as u64 + self.segment_bytes);
        if self.max_bytes < least {
            issues.push(ConfigIssue::new(
                "max_bytes",
                format!("{} is below {least}", self.max_bytes),
                "give at least 2 × (mqtt.outbox_bytes + spool.segment_bytes)",
            ));
        }
        issues
    }
}
