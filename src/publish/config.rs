//! Configuration of the MQTT publisher (`[mqtt]` in the configuration file).

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
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls.is_some() { 8883 } else { 1883 })
    }

    /// Checks what can be checked before connecting; the error names the key and the fix.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let problem = |key: &str, text: String| Err((format!("mqtt.{key}"), text));
        if self.host.trim().is_empty() {
            return problem("host", "is empty; give the broker's name or address".into());
        }
        match &self.tls {
            None if !self.insecure_dev => {
                return problem(
                    "tls",
                    "is missing: reads must cross the network encrypted. Give ca_file, client_cert_file and client_key_file, \
                     or set mqtt.insecure_dev = true for a bench broker"
                        .into(),
                );
            }
            Some(tls) => {
                for (key, path) in [("tls.ca_file", &tls.ca_file), ("tls.client_cert_file", &tls.client_cert_file), ("tls.client_key_file", &tls.client_key_file)] {
                    if let Err(e) = std::fs::metadata(path) {
                        return problem(key, format!("{}: {e}", path.display()));
                    }
                }
            }
            None => {}
        }
        let valid_segment = |s: &str| !s.is_empty() && !s.contains(['+', '#', '/']);
        if !valid_segment(&self.topic_prefix) {
            return problem("topic_prefix", format!("`{}` must be one topic level without + # or /", self.topic_prefix));
        }
        if self.keep_alive_s < 5 {
            return problem("keep_alive_s", "must be at least 5".into());
        }
        if self.outbox_messages == 0 || self.outbox_bytes < 1024 {
            return problem("outbox_messages", "the outbox needs room for at least one message and 1 KiB".into());
        }
        if self.max_in_flight == 0 {
            return problem("max_in_flight", "must be at least 1".into());
        }
        if self.outbox_messages < 2 * usize::from(self.max_in_flight) {
            // Messages in flight cannot be dropped for room; the rest of the outbox must be
            // large enough for the drop policy to have something to choose from.
            return problem("outbox_messages", format!("must be at least twice mqtt.max_in_flight ({})", self.max_in_flight));
        }
        if self.backoff_min_ms == 0 || self.backoff_min_ms > self.backoff_max_ms {
            return problem("backoff_min_ms", "must be above 0 and at most mqtt.backoff_max_ms".into());
        }
        if self.status_interval_s == 0 {
            return problem("status_interval_s", "must be at least 1".into());
        }
        Ok(())
    }
}
