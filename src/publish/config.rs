//! Configuration of the MQTT publisher (`[mqtt]` in the configuration file) and its checks.

use super::qos::{MaxInFlight, Qos};
pub use super::tls::TlsFiles;
use super::topics::is_topic_level;
use crate::config_issue::{under, ConfigIssue};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker's name or address; or give `hosts` instead.
    #[serde(default)]
    pub host: String,
    /// Several brokers (the nodes of a cluster, or a standby), each `name` or `name:port`: the
    /// unit moves to the next one whenever a connection fails.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// For `host`, and for each of `hosts` given without one. Default: 8883 with TLS, 1883
    /// without.
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
    /// Publishes awaiting their acknowledgement at once. Default 32 at QoS 1; at QoS 2 16, and
    /// at most 20 ([`MaxInFlight`], what [`MqttConfig::parse`] makes of it).
    #[serde(default)]
    pub max_in_flight: Option<u16>,
    /// MQTT QoS of reads, hits and images: 1, a message leaves the outbox at its PUBACK; 2, at
    /// its PUBCOMP, which a broker sends only once it has passed the message on. The number,
    /// as the file has it: [`MqttConfig::parse`] makes it a [`Qos`] with every other check.
    #[serde(default = "defaults::qos")]
    pub qos: u8,
    /// Floor of the wait before a reconnection attempt; its ceiling doubles after each failure
    /// up to the maximum, and each wait is drawn at random under it (`backoff.rs`).
    #[serde(default = "defaults::backoff_min_ms")]
    pub backoff_min_ms: u64,
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Draw each wait at random under its ceiling (the default). `false` is the plain
    /// doubling, for measuring what the jitter saves a fleet (`benches/fleet.rs`).
    #[serde(default = "defaults::backoff_jitter")]
    pub backoff_jitter: bool,
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
    pub fn qos() -> u8 {
        1
    }
    pub fn outbox_bytes() -> usize {
        64 << 20
    }
    pub fn backoff_min_ms() -> u64 {
        500
    }
    pub fn backoff_max_ms() -> u64 {
        30_000
    }
    pub fn backoff_jitter() -> bool {
        true
    }
    pub fn status_interval_s() -> u64 {
        30
    }
}

/// `[mqtt]` parsed: what the publisher starts with, each number the file gives in the type its
/// user needs, and the TLS configuration made from the files, which are read once.
#[derive(Debug, Clone)]
pub struct Mqtt {
    pub section: MqttConfig,
    pub qos: Qos,
    pub max_in_flight: MaxInFlight,
    /// `None` for plain TCP (`insecure_dev`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl PartialEq for Mqtt {
    /// Everything else is made from the section.
    fn eq(&self, other: &Self) -> bool {
        self.section == other.section
    }
}

impl MqttConfig {
    /// The section parsed, its TLS files read; or every issue, keys relative to `[mqtt]`.
    pub fn parse(&self) -> Result<Mqtt, Vec<ConfigIssue>> {
        let mut issues = self.issues();
        let qos = Qos::try_from(self.qos).map_err(|problem| ConfigIssue::new("qos", problem, ""));
        // A wrong QoS is reported on its own; the window is checked against the default one.
        let max_in_flight =
            MaxInFlight::parse(self.max_in_flight, qos.as_ref().copied().unwrap_or_default())
                .map_err(|(problem, fix)| ConfigIssue::new("max_in_flight", problem, fix));
        if let Some(window) = max_in_flight.as_ref().ok().copied() {
            if self.outbox_messages < 2 * window.messages() {
                // Messages in flight cannot be dropped for room; the rest of the outbox must be
                // large enough for the drop policy to have something to choose from.
                issues.push(ConfigIssue::new(
                    "outbox_messages",
                    format!(
                        "{} is below twice mqtt.max_in_flight ({})",
                        self.outbox_messages,
                        window.get()
                    ),
                    "raise it or lower mqtt.max_in_flight",
                ));
            }
        }
        let tls = self.client_tls();
        match (qos, max_in_flight, tls) {
            (Ok(qos), Ok(max_in_flight), Ok(tls)) if issues.is_empty() => {
                Ok(Mqtt { section: self.clone(), qos, max_in_flight, tls })
            }
            (qos, max_in_flight, tls) => {
                issues.extend([qos.err(), max_in_flight.err(), tls.err()].into_iter().flatten());
                Err(issues)
            }
        }
    }

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

    /// Every broker as (name, port), in the configured order; an entry of `hosts` that does
    /// not parse is left out (`issues` names it).
    pub fn brokers(&self) -> Vec<(String, u16)> {
        if self.hosts.is_empty() {
            return vec![(self.host.clone(), self.port())];
        }
        self.hosts.iter().filter_map(|entry| broker_address(entry, self.port()).ok()).collect()
    }

    /// The brokers as one line for messages: `a:8883, b:8883`.
    pub fn brokers_text(&self) -> String {
        let brokers: Vec<String> =
            self.brokers().iter().map(|(host, port)| format!("{host}:{port}")).collect();
        brokers.join(", ")
    }

    /// What is wrong with the plain values of the section (not the QoS, the window or the TLS
    /// files: [`MqttConfig::parse`]); keys relative to `[mqtt]`.
    fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut issue = |key: &str, problem: String, fix: &str| {
            issues.push(ConfigIssue::new(key, problem, fix));
        };
        match (self.host.trim().is_empty(), self.hosts.is_empty()) {
            (true, true) => issue(
                "host",
                "is empty or missing".into(),
                "give the broker's name or address, or mqtt.hosts for several brokers",
            ),
            (false, false) => issue(
                "hosts",
                "is given besides mqtt.host".into(),
                "keep one of them: mqtt.host for one broker, mqtt.hosts for several",
            ),
            _ => {}
        }
        for (i, entry) in self.hosts.iter().enumerate() {
            if let Err(problem) = broker_address(entry, self.port()) {
                issue(&format!("hosts[{i}]"), problem, "give `name` or `name:port`");
            }
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
    fn client_tls(&self) -> Result<Option<Arc<rustls::ClientConfig>>, ConfigIssue> {
        match &self.tls {
            None => Ok(None),
            Some(files) => super::tls::client_config(files).map(Some).map_err(|i| i.under("tls")),
        }
    }

    /// [`MqttConfig::parse`] with the keys in full (`mqtt.…`): what the publisher starts with.
    pub fn check(&self) -> Result<Mqtt, MqttConfigError> {
        self.parse().map_err(|issues| MqttConfigError(under("mqtt", issues).collect()))
    }
}

/// `name`, `name:port`, `[v6 address]:port` or a bare IPv6 address.
fn broker_address(entry: &str, default_port: u16) -> Result<(String, u16), String> {
    let entry = entry.trim();
    let (host, port) = match entry.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, port)) => (host, Some(port.strip_prefix(':').unwrap_or(port))),
            None => return Err(format!("`{entry}` opens [ without closing it")),
        },
        None => match entry.split_once(':') {
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            _ => (entry, None),
        },
    };
    if host.is_empty() {
        return Err(format!("`{entry}` names no broker"));
    }
    let port = match port {
        None => default_port,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return Err(format!("`{entry}`: `{port}` is not a port (1 to 65535)")),
        },
    };
    Ok((host.to_string(), port))
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
            (c.port(), c.keep_alive_s, c.topic_prefix.as_str(), c.outbox_messages, c.outbox_bytes,),
            (1883, 30, "anpr", 10_000, 64 << 20)
        );
        let parsed = c.check().expect("valid");
        assert_eq!((parsed.max_in_flight.get(), parsed.qos), (32, Qos::AtLeastOnce));
        assert_eq!((c.backoff_min_ms, c.backoff_max_ms, c.status_interval_s), (500, 30_000, 30));
        assert!(c.backoff_jitter);
        let at_qos_2 = parse("qos = 2").check().expect("valid");
        assert_eq!((at_qos_2.max_in_flight.get(), at_qos_2.qos), (16, Qos::ExactlyOnce));
    }

    #[test]
    fn several_brokers_take_the_port_of_the_section_unless_they_name_one() {
        let c: MqttConfig = toml::from_str(
            "hosts = [\"a\", \"b:1884\", \"[::1]:1885\", \"[fe80::1]\", \"::1\"]\nport = 2000\ninsecure_dev = true",
        )
        .expect("config");
        assert!(c.check().is_ok());
        let expected = [("a", 2000), ("b", 1884), ("::1", 1885), ("fe80::1", 2000), ("::1", 2000)];
        let expected: Vec<(String, u16)> =
            expected.iter().map(|(h, p)| (h.to_string(), *p)).collect();
        assert_eq!(c.brokers(), expected);
        assert_eq!(parse("").brokers(), [("broker.example".to_string(), 1883)]);
        assert_eq!(parse("").brokers_text(), "broker.example:1883");
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
            ("insecure_dev = true", "mqtt.host"),
            ("host = \"a\"\nhosts = [\"b\"]\ninsecure_dev = true", "mqtt.hosts"),
            ("hosts = [\"a:1\", \"b:x\"]\ninsecure_dev = true", "mqtt.hosts[1]"),
            ("hosts = [\":8883\"]\ninsecure_dev = true", "mqtt.hosts[0]"),
            ("hosts = [\"a:0\"]\ninsecure_dev = true", "mqtt.hosts[0]"),
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
            ("host = \"h\"\ninsecure_dev = true\nqos = 2\nmax_in_flight = 21", "mqtt.max_in_flight"),
            ("host = \"h\"\ninsecure_dev = true\nqos = 3", "mqtt.qos"),
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
