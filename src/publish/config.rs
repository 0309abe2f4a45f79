//! Configuration of the MQTT publisher (`[mqtt]` in the configuration file) and its checks.

use super::topics::is_topic_level;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    pub host: String,
    /// Default: 8883 with TLS, 1883 without.
    pub port: Option<u16>,
    /// Default: `anpr-edge-<device id>`.
    pub client_id: Option<String>,
    #[serde(default = "defaults::keep_alive_s")]
    pub keep_alive_s: u64,
    #[serde(default = "defaults::topic_prefix")]
    pub topic_prefix: String,
    /// Mutual TLS; required unless `insecure_dev` is set.
    pub tls: Option<TlsFiles>,
    /// Allows plain TCP, for a broker on the bench only: reads would cross the network readable.
    #[serde(default)]
    pub insecure_dev: bool,
    /// Messages (reads, hits, images) held until the broker acknowledges them.
    #[serde(default = "defaults::outbox_messages")]
    pub outbox_messages: usize,
    #[serde(default = "defaults::outbox_bytes")]
    pub outbox_bytes: usize,
    /// Publishes awaiting their PUBACK at once.
    #[serde(default = "defaults::max_in_flight")]
    pub max_in_flight: u16,
    /// Wait before the first reconnection attempt, doubled after each failure up to the maximum.
    #[serde(default = "defaults::backoff_min_ms")]
    pub backoff_min_ms: u64,
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Period of the status heartbeat on `<prefix>/<device>/status`.
    #[serde(default = "defaults::status_interval_s")]
    pub status_interval_s: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM file of the CA that signed the broker's certificate.
    pub ca_file: PathBuf,
    /// PEM certificate and key of this unit (the broker authenticates the unit with them).
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
}

mod defaults {
    pub fn keep_alive_s() -> u64 {
        30
    }
    pub fn topic_prefix() -> String {
        "anpr".into()
    }
    pub fn outbox_messages() -> usize {
        10_000
    }
    pub fn outbox_bytes() -> usize {
        64 << 20
    }
    pub fn max_in_flight() -> u16 {
        32
    }
    pub fn backoff_min_ms() -> u64 {
        500
    }
    pub fn backoff_max_ms() -> u64 {
        30_000
    }
    pub fn status_interval_s() -> u64 {
        30
    }
}

impl MqttConfig {
    /// `outbox_bytes` when the key is left out.
    pub fn default_outbox_bytes() -> usize {
        defaults::outbox_bytes()
    }
}

/// What is wrong with `[mqtt]`: each message starts with the key and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum MqttConfigError {
    #[error("mqtt.host: is empty; give the broker's name or address")]
    EmptyHost,
    #[error(
        "mqtt.tls: is missing: reads must cross the network encrypted. Give [mqtt.tls] with ca_file, \
         client_cert_file and client_key_file, or set mqtt.insecure_dev = true for a bench broker"
    )]
    TlsMissing,
    #[error("mqtt.tls.{key}: {} does not exist; install the unit's {what} there or correct the path", path.display())]
    TlsFileMissing { key: &'static str, what: &'static str, path: PathBuf },
    #[error("mqtt.tls.{key}: {}: cannot read: {source}", path.display())]
    TlsFileUnreadable { key: &'static str, path: PathBuf, source: std::io::Error },
    #[error("mqtt.tls.{key}: {}: {problem}", path.display())]
    TlsFileInvalid { key: &'static str, path: PathBuf, problem: String },
    /// rustls refused the files together (a key that does not fit the certificate).
    #[error("mqtt.tls: {problem}")]
    TlsRejected { problem: String },
    #[error("mqtt.{key}: {problem}")]
    Invalid { key: &'static str, problem: String },
}

impl MqttConfigError {
    /// The key at fault, `mqtt.…`.
    pub fn key(&self) -> String {
        match self {
            Self::EmptyHost => "mqtt.host".into(),
            Self::TlsMissing | Self::TlsRejected { .. } => "mqtt.tls".into(),
            Self::TlsFileMissing { key, .. }
            | Self::TlsFileUnreadable { key, .. }
            | Self::TlsFileInvalid { key, .. } => {
                format!("mqtt.tls.{key}")
            }
            Self::Invalid { key, .. } => format!("mqtt.{key}"),
        }
    }

    /// The message without its leading key.
    pub fn problem(&self) -> String {
        let text = self.to_string();
        match text.strip_prefix(&format!("{}: ", self.key())) {
            Some(problem) => problem.to_string(),
            None => text,
        }
    }
}

impl MqttConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls.is_some() { 8883 } else { 1883 })
    }

    /// Checks what can be checked before connecting, the TLS files included (read and parsed).
    pub fn check(&self) -> Result<(), MqttConfigError> {
        let invalid =
            |key: &'static str, problem: String| Err(MqttConfigError::Invalid { key, problem });
        if self.host.trim().is_empty() {
            return Err(MqttConfigError::EmptyHost);
        }
        match &self.tls {
            None if !self.insecure_dev => return Err(MqttConfigError::TlsMissing),
            Some(files) => {
                super::tls::client_config(files)?;
            }
            None => {}
        }
        if let Some(id) = &self.client_id {
            // rumqttc refuses an empty id with a persistent session, by panicking.
            if id.trim().is_empty() {
                return invalid(
                    "client_id",
                    "is empty; leave it out for `anpr-edge-<device id>`".into(),
                );
            }
        }
        if !is_topic_level(&self.topic_prefix) {
            return invalid(
                "topic_prefix",
                format!("`{}` must be one topic level, without + # or /", self.topic_prefix),
            );
        }
        if !(5..=u64::from(u16::MAX)).contains(&self.keep_alive_s) {
            return invalid(
                "keep_alive_s",
                format!("{} is outside 5..65535 (MQTT carries it in 16 bits)", self.keep_alive_s),
            );
        }
        if self.outbox_bytes < 1024 {
            return invalid(
                "outbox_bytes",
                "must be at least 1024: the outbox needs room for a read".into(),
            );
        }
        if self.max_in_flight == 0 {
            return invalid("max_in_flight", "must be at least 1".into());
        }
        if self.outbox_messages < 2 * usize::from(self.max_in_flight) {
            // Messages in flight cannot be dropped for room; the rest of the outbox must be
            // large enough for the drop policy to have something to choose from.
            return invalid(
                "outbox_messages",
                format!("must be at least twice mqtt.max_in_flight ({})", self.max_in_flight),
            );
        }
        if self.backoff_min_ms == 0 || self.backoff_min_ms > self.backoff_max_ms {
            return invalid(
                "backoff_min_ms",
                "must be above 0 and at most mqtt.backoff_max_ms".into(),
            );
        }
        if self.status_interval_s == 0 {
            return invalid("status_interval_s", "must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> MqttConfig {
        toml::from_str(&format!("host = \"broker.example\"\ninsecure_dev = true\n{extra}"))
            .expect("config")
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = parse("");
        assert_eq!(
            (
                c.port(),
                c.keep_alive_s,
                c.topic_prefix.as_str(),
                c.outbox_messages,
                c.outbox_bytes,
                c.max_in_flight
            ),
            (1883, 30, "anpr", 10_000, 64 << 20, 32)
        );
        assert_eq!((c.backoff_min_ms, c.backoff_max_ms, c.status_interval_s), (500, 30_000, 30));
        assert!(c.check().is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error =
            toml::from_str::<MqttConfig>("host = \"h\"\ninsecure_dev = true\noutbox_size = 3\n")
                .expect_err("unknown key");
        assert!(error.to_string().contains("outbox_size"), "{error}");
    }

    #[test]
    fn every_error_names_its_key() {
        let cases: &[(&str, &str)] = &[
            ("host = \"\"\ninsecure_dev = true", "mqtt.host"),
            ("host = \"h\"", "mqtt.tls"),
            ("host = \"h\"\ninsecure_dev = false", "mqtt.tls"),
            ("host = \"h\"\n[tls]\nca_file = \"/nonexistent/ca.pem\"\nclient_cert_file = \"/x\"\nclient_key_file = \"/y\"", "mqtt.tls.ca_file"),
            ("host = \"h\"\ninsecure_dev = true\nclient_id = \" \"", "mqtt.client_id"),
            ("host = \"h\"\ninsecure_dev = true\ntopic_prefix = \"a/b\"", "mqtt.topic_prefix"),
            ("host = \"h\"\ninsecure_dev = true\nkeep_alive_s = 2", "mqtt.keep_alive_s"),
            ("host = \"h\"\ninsecure_dev = true\nkeep_alive_s = 70000", "mqtt.keep_alive_s"),
            ("host = \"h\"\ninsecure_dev = true\noutbox_bytes = 10", "mqtt.outbox_bytes"),
            ("host = \"h\"\ninsecure_dev = true\nmax_in_flight = 0", "mqtt.max_in_flight"),
            ("host = \"h\"\ninsecure_dev = true\noutbox_messages = 63", "mqtt.outbox_messages"),
            ("host = \"h\"\ninsecure_dev = true\nbackoff_min_ms = 0", "mqtt.backoff_min_ms"),
            ("host = \"h\"\ninsecure_dev = true\nbackoff_min_ms = 2000\nbackoff_max_ms = 1000", "mqtt.backoff_min_ms"),
            ("host = \"h\"\ninsecure_dev = true\nstatus_interval_s = 0", "mqtt.status_interval_s"),
        ];
        for (text, key) in cases {
            let config: MqttConfig = toml::from_str(text).expect("parses");
            let error = config.check().expect_err(text);
            assert_eq!(error.key(), *key, "{text}");
            assert!(error.to_string().starts_with(&format!("{key}: ")), "{error}");
            assert!(!error.problem().starts_with("mqtt."), "{}", error.problem());
        }
    }

    #[test]
    fn a_missing_tls_file_says_what_to_put_there() {
        let config: MqttConfig =
            toml::from_str("host = \"h\"\n[tls]\nca_file = \"/nonexistent/ca.pem\"\nclient_cert_file = \"/x\"\nclient_key_file = \"/y\"").expect("parses");
        let error = config.check().expect_err("missing CA");
        assert_eq!(error.to_string(), "mqtt.tls.ca_file: /nonexistent/ca.pem does not exist; install the unit's CA certificate (PEM) there or correct the path");
    }
}
