//! The `[control]` section: the key commands must be signed with, and where the unit keeps
//! what outlives a restart (configurations taken by command, the ids of commands taken).

use crate::config_issue::ConfigIssue;
use crate::signing::VerifyingKey;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Ed25519 public key (PEM) of the operator: only commands signed by it are taken.
    pub public_key: PathBuf,
    /// Writable by the unit (systemd's StateDirectory): the configuration in force when one
    /// came by command, the one before it, and the ids of commands already taken.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// How long a configuration taken by command has to reach the broker once started; a unit
    /// that does not goes back to the configuration before it.
    #[serde(default = "default_probation_s")]
    pub probation_s: u64,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/anpr-edge/control")
}

fn default_probation_s() -> u64 {
    120
}

impl ControlConfig {
    /// The operator's key, loaded once for the check and the unit both; or what is wrong
    /// with `[control]`, keys relative to it.
    pub fn parse(&self) -> Result<VerifyingKey, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let key = crate::signing::load_verifying_key(&self.public_key)
            .map_err(|e| issues.push(ConfigIssue::new("public_key", e.to_string(), "")))
            .ok();
        if !self.state_dir.is_absolute() {
            issues.push(ConfigIssue::new(
                "state_dir",
                format!("{} is not an absolute path", self.state_dir.display()),
                "give an absolute folder the unit may write, e.g. /var/lib/anpr-edge/control",
            ));
        }
        if !(10..=3600).contains(&self.probation_s) {
            issues.push(ConfigIssue::new(
                "probation_s",
                format!("{} is outside 10..3600 seconds", self.probation_s),
                "give 10 to 3600: long enough for the broker to be reached after a start",
            ));
        }
        match key {
            Some(key) if issues.is_empty() => Ok(key),
            _ => Err(issues),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_issue_under_its_key() {
        let c: ControlConfig = toml::from_str("public_key = \"/nonexistent.pub\"").expect("toml");
        assert_eq!(
            (c.state_dir.as_path(), c.probation_s),
            (std::path::Path::new("/var/lib/anpr-edge/control"), 120)
        );
        let bad = ControlConfig { state_dir: "state".into(), probation_s: 1, ..c };
        let issues = bad.parse().expect_err("three mistakes");
        let keys: Vec<String> = issues.into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["public_key", "state_dir", "probation_s"]);
    }
}
