//! Where reads go: `[output] kind` and the `[mqtt]` section of the file mean something only
//! together, so they are parsed once, after the file is read, into one [`Output`]: the daemon
//! and the privacy sheet never meet a "kind = mqtt" without its broker.

use crate::config_issue::{under, ConfigIssue};
use crate::publish::{Mqtt, MqttConfig};
use serde::{Deserialize, Serialize};

/// `[output]` as the file has it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    pub kind: OutputKind,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// One JSON record per line on standard output.
    #[default]
    Stdout,
    /// Reads, hits, images and status on the MQTT broker of `[mqtt]`.
    Mqtt,
}

/// Where reads go, with what the destination needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Output {
    /// One JSON record per line on standard output.
    #[default]
    Stdout,
    /// The MQTT broker of `[mqtt]`, its section parsed (TLS files read); boxed, as the
    /// section is large beside nothing.
    Mqtt(Box<Mqtt>),
}

impl Output {
    /// `[output]` and `[mqtt]` as the file has them, or every issue under its full key. A
    /// `[mqtt]` section is checked even under `kind = "stdout"`: it is there to be used.
    pub fn parse(
        section: &OutputConfig,
        mqtt: Option<&MqttConfig>,
    ) -> Result<Output, Vec<ConfigIssue>> {
        let Some(mqtt) = mqtt else {
            return match section.kind {
                OutputKind::Stdout => Ok(Output::Stdout),
                OutputKind::Mqtt => Err(vec![ConfigIssue::new(
                    "mqtt",
                    "is missing: output.kind is \"mqtt\" but there is no [mqtt] section",
                    "add [mqtt] with the broker, or set output.kind = \"stdout\"",
                )]),
            };
        };
        let mqtt = mqtt.parse().map_err(|issues| under("mqtt", issues).collect::<Vec<_>>())?;
        Ok(match section.kind {
            OutputKind::Stdout => Output::Stdout,
            OutputKind::Mqtt => Output::Mqtt(Box::new(mqtt)),
        })
    }

    /// The broker reads go to, if they go to one.
    pub fn mqtt(&self) -> Option<&Mqtt> {
        match self {
            Output::Stdout => None,
            Output::Mqtt(mqtt) => Some(mqtt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqtt(extra: &str) -> MqttConfig {
        toml::from_str(&format!("host = \"broker.example\"\n{extra}")).expect("[mqtt]")
    }

    #[test]
    fn each_kind_becomes_its_destination() {
        let stdout = OutputConfig { kind: OutputKind::Stdout };
        let to_mqtt = OutputConfig { kind: OutputKind::Mqtt };
        let bench = mqtt("insecure_dev = true");
        assert_eq!(Output::parse(&stdout, None), Ok(Output::Stdout));
        assert_eq!(Output::parse(&stdout, Some(&bench)), Ok(Output::Stdout));
        let parsed = Output::parse(&to_mqtt, Some(&bench)).expect("mqtt");
        assert_eq!(parsed.mqtt().map(|mqtt| &mqtt.section), Some(&bench));
    }

    #[test]
    fn mqtt_without_its_section_or_with_a_wrong_one_names_the_key() {
        let to_mqtt = OutputConfig { kind: OutputKind::Mqtt };
        let keys = |result: Result<Output, Vec<ConfigIssue>>| -> Vec<String> {
            result.expect_err("refused").into_iter().map(|issue| issue.key).collect()
        };
        assert_eq!(keys(Output::parse(&to_mqtt, None)), ["mqtt"]);
        assert_eq!(keys(Output::parse(&to_mqtt, Some(&mqtt("")))), ["mqtt.tls"]);
        let stdout = OutputConfig { kind: OutputKind::Stdout };
        assert_eq!(keys(Output::parse(&stdout, Some(&mqtt("")))), ["mqtt.tls"]);
    }
}
