//! Retention: what the unit stores is deleted once older than the configured age.
//!
//! Design: [`decide`] is pure — items with their ages, a policy, an injected clock in; which
//! items to delete and the oldest one kept out — so it is tested at day 31 without waiting a
//! month. The [`Sweeper`] is the I/O edge: it lists every [`Store`] the daemon owns (each
//! configured directory today; the durable spool joins the list as one more `Store`), deletes
//! what `decide` says, and reports per store what it holds, for the status heartbeat. A file
//! whose time lies in the future (a clock set back) is kept and counted as new: deleting on a
//! wrong clock would lose evidence, and the next sweep after the clock is right catches it.

use crate::config_issue::ConfigIssue;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const DAY: Duration = Duration::from_secs(86_400);

/// `[privacy.retention]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days anything the unit stores is kept.
    pub days: u32,
    /// Days hits are kept (default: `days`).
    pub hit_days: Option<u32>,
    /// Seconds between two sweeps.
    pub sweep_interval_s: u64,
    /// Folders of files the unit owns (exported evidence, saved images…), swept recursively;
    /// files under a `hits` sub-folder follow `hit_days`.
    pub directories: Vec<PathBuf>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { days: 30, hit_days: None, sweep_interval_s: 3600, directories: Vec::new() }
    }
}

impl RetentionConfig {
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.days == 0 {
            issues.push(ConfigIssue::new("days", "is 0", "must be at least 1"));
        }
        if self.hit_days == Some(0) {
            issues.push(ConfigIssue::new(
                "hit_days",
                "is 0",
                "must be at least 1 (or left out to follow days)",
            ));
        }
        if self.sweep_interval_s == 0 {
            issues.push(ConfigIssue::new("sweep_interval_s", "is 0", "must be at least 1"));
        }
        for dir in self.directories.iter().filter(|d| !d.is_absolute()) {
            issues.push(ConfigIssue::new(
                "directories",
                format!("{} is a relative path", dir.display()),
                "give an absolute path",
            ));
        }
        issues
    }

    pub fn policy(&self) -> Policy {
        let days = |d: u32| DAY * d;
        Policy { max_age: days(self.days), hit_max_age: days(self.hit_days.unwrap_or(self.days)) }
    }
}

/// How long a store keeps non-hits and hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub max_age: Duration,
    pub hit_max_age: Duration,
}

/// One thing a store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub path: PathBuf,
    pub stored_at: SystemTime,
    pub hit: bool,
}

/// What to do with a store's items at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Indices into the items given.
    pub delete: Vec<usize>,
    /// When the oldest item kept was stored.
    pub oldest_kept: Option<SystemTime>,
    pub kept: usize,
}

/// Pure: which of `items` are past their retention at `now`.
pub fn decide(items: &[Item], policy: &Policy, now: SystemTime) -> Decision {
    let mut delete = Vec::new();
    let mut oldest_kept: Option<SystemTime> = None;
    for (i, item) in items.iter().enumerate() {
        let max_age = if item.hit { policy.hit_max_age } else { policy.max_age };
        // A time in the future has age zero: kept (see the module's comment).
        let age = now.duration_since(item.stored_at).unwrap_or_default();
        if age > max_age {
            delete.push(i);
        } else {
            oldest_kept = Some(oldest_kept.map_or(item.stored_at, |o| o.min(item.stored_at)));
        }
    }
    Decision { kept: items.len() - delete.len(), delete, oldest_kept }
}

/// Something the daemon stores on disk and must keep only so long.
pub trait Store: Send {
    /// A name for the status message and the privacy sheet.
    fn name(&self) -> String;
    fn policy(&self) -> Policy;
    fn list(&self) -> std::io::Result<Vec<Item>>;
    fn delete(&self, item: &Item) -> std::io::Result<()>;
}

/// A folder of files: each file is an item, stored at its modification time; a file with a
/// `hits` folder on its path is a hit.
pub struct DirectoryStore {
    pub root: PathBuf,
    pub policy: Policy,
}

impl DirectoryStore {
    fn walk(&self, dir: &Path, hit: bool, out: &mut Vec<Item>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                self.walk(&path, hit || entry.file_name() == "hits", out)?;
            } else if kind.is_file() {
                out.push(Item { stored_at: entry.metadata()?.modified()?, path, hit });
            }
        }
        Ok(())
    }
}

impl Store for DirectoryStore {
    fn name(&self) -> String {
        format!("directory {}", self.root.display())
    }

    fn policy(&self) -> Policy {
        self.policy
    }

    fn list(&self) -> std::io::Result<Vec<Item>> {
        let mut items = Vec::new();
        match self.walk(&self.root, false, &mut items) {
            // A folder not made yet holds nothing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.root.exists() => Ok(items),
            other => other.map(|()| items),
        }
    }

    fn delete(&self, item: &Item) -> std::io::Result<()> {
        std::fs::remove_file(&item.path)
    }
}

/// What one sweep found and did in one store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreReport {
    pub store: String,
    pub items: usize,
    pub deleted: usize,
    pub errors: usize,
    #[serde(serialize_with = "time_or_null")]
    pub oldest: Option<SystemTime>,
}

/// One sweep over every store.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepReport {
    pub stores: Vec<StoreReport>,
}

impl SweepReport {
    /// When the oldest item the unit still holds was stored, over all stores.
    pub fn oldest(&self) -> Option<SystemTime> {
        self.stores.iter().filter_map(|s| s.oldest).min()
    }

    /// The status heartbeat's part.
    pub fn status(&self, now: SystemTime) -> serde_json::Value {
        let oldest = self.oldest();
        serde_json::json!({
            "oldest_item": oldest.map(crate::time_format::rfc3339_ms),
            "oldest_item_age_s": oldest.map(|o| now.duration_since(o).unwrap_or_default().as_secs()),
            "stores": self.stores,
        })
    }
}

fn time_or_null<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&crate::time_format::rfc3339_ms(*t)),
        None => s.serialize_none(),
    }
}

/// Enforces retention on every store the daemon owns.
pub struct Sweeper {
    stores: Vec<Box<dyn Store>>,
}

impl Sweeper {
    pub fn new(stores: Vec<Box<dyn Store>>) -> Self {
        Self { stores }
    }

    /// The configured directories, each a [`DirectoryStore`] under the configured policy.
    pub fn from_config(config: &RetentionConfig) -> Self {
        let policy = config.policy();
        Self::new(
            config
                .directories
                .iter()
                .map(|root| {
                    Box::new(DirectoryStore { root: root.clone(), policy }) as Box<dyn Store>
                })
                .collect(),
        )
    }

    /// Adds a store (the durable spool, once it exists).
    pub fn add(&mut self, store: Box<dyn Store>) {
        self.stores.push(store);
    }

    /// Deletes what is past retention at `now` in every store. A store that cannot be listed
    /// or an item that cannot be deleted is logged and counted; the sweep goes on.
    pub fn sweep(&self, now: SystemTime) -> SweepReport {
        let mut report = SweepReport::default();
        for store in &self.stores {
            let name = store.name();
            let items = match store.list() {
                Ok(items) => items,
                Err(error) => {
                    tracing::error!(store = %name, %error, "cannot list the store: retention not enforced on it this sweep");
                    report.stores.push(StoreReport {
                        store: name,
                        items: 0,
                        deleted: 0,
                        errors: 1,
                        oldest: None,
                    });
                    continue;
                }
            };
            let decision = decide(&items, &store.policy(), now);
            let mut errors = 0;
            let mut oldest = decision.oldest_kept;
            for &i in &decision.delete {
                if let Err(error) = store.delete(&items[i]) {
                    errors += 1;
                    tracing::error!(store = %name, item = %items[i].path.display(), %error, "cannot delete an item past its retention");
                    // Still held, so still the oldest candidate.
                    oldest = Some(oldest.map_or(items[i].stored_at, |o| o.min(items[i].stored_at)));
                }
            }
            let deleted = decision.delete.len() - errors;
            if deleted > 0 {
                tracing::info!(store = %name, deleted, kept = decision.kept, "retention: deleted items past their age");
            }
            report.stores.push(StoreReport {
                store: name,
                items: items.len() - deleted,
                deleted,
                errors,
                oldest,
            });
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn day(n: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000) + DAY * n as u32
    }

    fn item(name: &str, at: SystemTime, hit: bool) -> Item {
        Item { path: PathBuf::from(name), stored_at: at, hit }
    }

    #[test]
    fn at_day_31_day_0_goes_and_day_2_stays() {
        let policy = RetentionConfig::default().policy();
        let items = [item("a", day(0), false), item("b", day(2), false), item("c", day(31), false)];
        let d = decide(&items, &policy, day(31));
        assert_eq!(d.delete, vec![0]);
        assert_eq!(d.oldest_kept, Some(day(2)));
        assert_eq!(d.kept, 2);
    }

    #[test]
    fn hits_follow_their_own_retention() {
        let policy = RetentionConfig { hit_days: Some(90), ..RetentionConfig::default() }.policy();
        let items =
            [item("read", day(0), false), item("hit", day(0), true), item("old hit", day(0), true)];
        assert_eq!(decide(&items, &policy, day(31)).delete, vec![0]);
        assert_eq!(decide(&items, &policy, day(91)).delete, vec![0, 1, 2]);
        let shorter =
            RetentionConfig { days: 30, hit_days: Some(7), ..RetentionConfig::default() }.policy();
        assert_eq!(decide(&[item("hit", day(0), true)], &shorter, day(8)).delete, vec![0]);
    }

    #[test]
    fn exactly_at_the_limit_is_kept_and_the_future_is_kept() {
        let policy = RetentionConfig::default().policy();
        assert!(decide(&[item("a", day(1), false)], &policy, day(31)).delete.is_empty());
        let future = decide(&[item("a", day(40), false)], &policy, day(31));
        assert!(future.delete.is_empty());
        assert_eq!(future.oldest_kept, Some(day(40)));
        assert_eq!(decide(&[], &policy, day(0)).oldest_kept, None);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(RetentionConfig { days: 0, ..RetentionConfig::default() }.issues().len() == 1);
        assert!(
            RetentionConfig { hit_days: Some(0), ..RetentionConfig::default() }.issues().len() == 1
        );
        assert!(
            RetentionConfig { directories: vec!["relative".into()], ..RetentionConfig::default() }
                .issues()
                .len()
                == 1
        );
    }
}
