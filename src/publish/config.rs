//! Configuration of the MQTT publisher (`[mqtt]` in the configuration file) and its checks.

pub use super::tls::TlsFiles;
use super::topics::is_topic_level;
use crate::config_issue::{under, ConfigIssue};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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

/// What is wrong with `[mqtt]`: every issue, each under its full key (`mqtt.…`).
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct MqttConfigError(pub Vec<ConfigIssue>);

impl MqttConfigError {
    /// The key of the first issue.
    pub fn key(&self) -> String {
        self.0.first().map(|issue| issue.key.clone()).unwrap_or_default()
    }
}

impl MqttConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls.is_some() { 8883 } else { 1883 })
    }

    /// What is wrong with the section short of reading the TLS files; keys relative to
    /// `[mqtt]`.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut issue = |key: &str, problem: String, fix: &str| {
            issues.push(ConfigIssue::new(key, problem, fix));
        };
        if self.host.trim().is_empty() {
            issue("host", "is empty".into(), "give the broker's name or address");
        }
        if self.tls.is_none() && !self.insecure_dev {
            issue(
                "tls",
                "is missing: reads must cross the network encrypted".into(),
                "give [mqtt.tls] with ca_file, client_cert_file and client_key_file, or set mqtt.insecure_dev = true for a bench broker",
            );
        }
        // rumqttc refuses an empty id with a persistent session, by panicking.
        if self.client_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
            issue("client_id", "is empty".into(), "leave it out for `anpr-edge-<device id>`");
        }
        if !is_topic_level(&self.topic_prefix) {
            issue(
                "topic_prefix",
                format!("`{}` is not one topic level", self.topic_prefix),
                "give one level, without + # or /",
            );
        }
        if !(5..=u64::from(u16::MAX)).contains(&self.keep_alive_s) {
            issue(
                "keep_alive_s",
                format!("{} is outside 5..65535", self.keep_alive_s),
                "give 5 to 65535 (MQTT carries it in 16 bits)",
            );
        }
        if self.outbox_bytes < 1024 {
            issue(
                "outbox_bytes",
                format!("{} is below 1024", self.outbox_bytes),
                "give at least 1024: the outbox needs room for a read",
            );
        }
        if self.max_in_flight == 0 {
            issue("max_in_flight", "is 0".into(), "must be at least 1");
        } else if self.outbox_messages < 2 * usize::from(self.max_in_flight) {
            // Messages in flight cannot be dropped for room; the rest of the outbox must be
            // large enough for the drop policy to have something to choose from.
            issue(
                "outbox_messages",
                format!(
                    "{} is below twice mqtt.max_in_flight ({})",
                    self.outbox_messages, self.max_in_flight
                ),
                "raise it or lower mqtt.max_in_flight",
            );
        }
        if self.backoff_min_ms == 0 || self.backoff_min_ms > self.backoff_max_ms {
            issue(
                "backoff_min_ms",
                "is 0 or above mqtt.backoff_max_ms".into(),
                "must be above 0 and at most mqtt.backoff_max_ms",
            );
        }
        if self.status_interval_s == 0 {
            issue("status_interval_s", "is 0".into(), "must be at least 1");
        }
        issues
    }

    /// The TLS client configuration made from `[mqtt.tls]`, reading each file once; `None`
    /// for plain TCP. The issue's key is relative to `[mqtt]`.
    pub fn client_tls(&self) -> Result<Option<Arc<rustls::ClientConfig>>, ConfigIssue> {
        match &self.tls {
            None => Ok(None),
            Some(files) => super::tls::client_config(files).map(Some).map_err(|i| i.under("tls")),
        }
    }

    /// Every issue of the section, then the TLS files: what the publisher starts with.
    pub fn check(&self) -> Result<Option<Arc<rustls::ClientConfig>>, MqttConfigError> {
        let issues: Vec<ConfigIssue> = under("mqtt", self.issues()).collect();
        if !issues.is_empty() {
            return Err(MqttConfigError(issues));
        }
        self.client_tls().map_err(|issue| MqttConfigError(vec![issue.under("mqtt")]))
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
            assert!(!error.0[0].problem.starts_with("mqtt."), "{}", error.0[0].problem);
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
