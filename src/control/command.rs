//! What a command is, as the operator writes it and the unit reads it.
//!
//! ```json
//! {"id": "0193…", "issued_at": "2026-12-02T20:00:00.000Z", "expires_at": "2026-12-02T20:05:00.000Z",
//!  "target": "unit-a" | "fleet", "action": "status" | "snapshot" | "config", "config": "<TOML>"}
//! ```
//! `config` carries a complete configuration file and only with `action = "config"`.

use crate::signing::SigningKey;
use crate::time_format::rfc3339_ms;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// The largest command accepted: a complete configuration file fits with room to spare, and a
/// unit never parses megabytes because someone published them on its control topic.
pub const MAX_COMMAND_BYTES: usize = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Publish the status heartbeat now.
    Status,
    /// Publish one overview frame now, blurred under the privacy policy (for aiming the camera).
    Snapshot,
    /// Replace the configuration: validated as `check-config` does, written atomically, applied
    /// by a restart, rolled back if it does not start.
    Config,
}

/// Who a command is for: one unit by its `device.id`, or every unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Fleet,
    Unit(String),
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Target::Fleet => s.serialize_str("fleet"),
            Target::Unit(id) => s.serialize_str(id),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(if name == "fleet" { Target::Fleet } else { Target::Unit(name) })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// Unique per command: a unit takes an id once.
    pub id: String,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339; the unit refuses the command from then on.
    pub expires_at: String,
    pub target: Target,
    pub action: Action,
    /// The new configuration (TOML text), with `action = "config"` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

impl Command {
    /// A new command with a fresh id, valid for `ttl` from `now`.
    pub fn new(target: Target, action: Action, now: SystemTime, ttl: Duration) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            issued_at: rfc3339_ms(now),
            expires_at: rfc3339_ms(now + ttl),
            target,
            action,
            config: None,
        }
    }
}

/// A command as it travels: its exact JSON text and the signature over those bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The command's JSON, as signed.
    pub body: String,
    /// Base64 Ed25519 signature over `body`'s bytes, or absent (then the unit refuses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Envelope {
    /// `command` written out and signed with `key`.
    pub fn signed(command: &Command, key: &SigningKey) -> Result<Self, serde_json::Error> {
        let body = serde_json::to_string(command)?;
        let signature = Some(crate::signing::sign(key, body.as_bytes()));
        Ok(Self { body, signature })
    }
}

/// What the unit says about each command on `<prefix>/<device>/control/result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The command's id, or null when the message was too broken to carry one.
    pub id: Option<String>,
    pub action: Option<Action>,
    pub accepted: bool,
    /// Why it was refused, or what became of it once taken (e.g. a configuration rolled back).
    pub detail: String,
    /// When the unit decided (RFC 3339).
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_round_trips_and_the_fleet_is_a_target_of_its_own() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_241_009);
        let mut command = Command::new(Target::Fleet, Action::Config, now, Duration::from_secs(60));
        command.config = Some("[device]\nid = \"x\"\n".into());
        let text = serde_json::to_string(&command).expect("json");
        assert!(text.contains("\"target\":\"fleet\""), "{text}");
        assert_eq!(serde_json::from_str::<Command>(&text).expect("parse"), command);
        let unit: Target = serde_json::from_str("\"unit-a\"").expect("target");
        assert_eq!(unit, Target::Unit("unit-a".into()));
    }

    #[test]
    fn an_unknown_field_or_action_is_no_command() {
        let base = r#"{"id":"1","issued_at":"2026-12-02T20:00:00Z","expires_at":"2026-12-02T20:05:00Z","target":"fleet""#;
        assert!(serde_json::from_str::<Command>(&format!("{base},\"action\":\"status\"}}")).is_ok());
        assert!(
            serde_json::from_str::<Command>(&format!("{base},\"action\":\"reboot\"}}")).is_err()
        );
        assert!(serde_json::from_str::<Command>(&format!(
            "{base},\"action\":\"status\",\"sudo\":true}}"
        ))
        .is_err());
    }
}
