//! What [`Config::parse`](super::Config::parse) makes of the file: the values with a rule of
//! their own parsed (the ids, where reads go), and the files the configuration names read
//! (keys, the hotlist; the TLS files with `[mqtt]`). They are read once, while the file is
//! checked, so what `check-config` checks is what the unit runs with, and a file changed
//! between the check and the start cannot be half one and half the other.

use super::{Config, DeviceConfig, Output};
use crate::config_issue::{under, ConfigIssue};
use crate::control::ControlConfig;
use crate::hotlist::LiveHotlist;
use crate::read_signing::SigningConfig;
use crate::signing::{SigningKey, VerifyingKey};
use std::sync::Arc;

#[derive(Clone)]
pub struct Prepared {
    pub device: DeviceConfig,
    pub output: Output,
    /// The hotlist in force at start: the file loaded (its signature checked), or none until
    /// one arrives over MQTT.
    pub hotlist: Arc<LiveHotlist>,
    /// The operator's key commands must be signed with (`[control]`); none without it.
    pub operator_key: Option<VerifyingKey>,
    /// The key every read is signed with (`[signing]`); none without it.
    pub signing_key: Option<SigningKey>,
}

impl std::fmt::Debug for Prepared {
    /// Without the keys' bytes or the whole list.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("device", &self.device)
            .field("output", &self.output)
            .field("hotlist", &self.hotlist.status())
            .field("operator_key", &self.operator_key.is_some())
            .field("signing_key", &self.signing_key.is_some())
            .finish()
    }
}

/// The value of `result`, or none with its issues added to `issues`.
fn take<T>(issues: &mut Vec<ConfigIssue>, result: Result<T, Vec<ConfigIssue>>) -> Option<T> {
    result.map_err(|found| issues.extend(found)).ok()
}

impl Config<()> {
    /// What the sections make, reading the files they name; or none, and every issue under
    /// its full key (issues of sections whose value is not needed are in the list too).
    pub(super) fn prepare(&self) -> (Option<Prepared>, Vec<ConfigIssue>) {
        let section = |name: &str, issues: Vec<ConfigIssue>| under(name, issues).collect();
        let mut issues = Vec::new();
        let device = take(
            &mut issues,
            self.device_section.clone().parse().map_err(|i| section("device", i)),
        );
        issues.extend(self.issues());
        let hotlist = take(&mut issues, self.hotlist.parse().map_err(|i| section("hotlist", i)));
        // Output::parse names its issues in full: `[output]` and `[mqtt]` are two sections.
        let output =
            take(&mut issues, Output::parse(&self.output_section, self.mqtt_section.as_ref()));
        let control = self.control.as_ref().map(ControlConfig::parse).transpose();
        let operator_key = take(&mut issues, control.map_err(|i| section("control", i)));
        let signing = self.signing.as_ref().map(SigningConfig::parse).transpose();
        let signing_key = take(&mut issues, signing.map_err(|i| section("signing", i)));
        let prepared = match (device, output, hotlist, operator_key, signing_key) {
            (Some(device), Some(output), Some(hotlist), Some(operator_key), Some(signing_key)) => {
                let hotlist = Arc::new(hotlist);
                Some(Prepared { device, output, hotlist, operator_key, signing_key })
            }
            _ => None,
        };
        (prepared, issues)
    }

    /// These sections with what was made of them.
    pub(super) fn with(self, parsed: Prepared) -> Config {
        let Config {
            device_section,
            source,
            runtime,
            recognition,
            roi,
            pipeline,
            fusion,
            images,
            privacy,
            hotlist,
            output_section,
            mqtt_section,
            spool,
            signing,
            position,
            health,
            control,
            parsed: (),
        } = self;
        Config {
            device_section,
            source,
            runtime,
            recognition,
            roi,
            pipeline,
            fusion,
            images,
            privacy,
            hotlist,
            output_section,
            mqtt_section,
            spool,
            signing,
            position,
            health,
            control,
            parsed,
        }
    }
}
