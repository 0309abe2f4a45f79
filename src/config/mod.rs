//! The daemon's configuration: one TOML file, one section per stage, every key documented in
//! `systemd/anpr-edge.toml`. Unknown keys are errors, so a typo never silently falls back to a
//! default; every error names the file, the key and what to write instead.

mod device;
mod output;
mod prepared;

use device::DeviceSection;
pub use device::{DeviceConfig, SiteConfig};
pub use output::{Output, OutputConfig, OutputKind};
pub use prepared::Prepared;

use crate::config_issue::{under, ConfigIssue};
use crate::control::ControlConfig;
use crate::fuse::{Camera, FusionConfig};
use crate::health::HealthConfig;
use crate::hotlist::HotlistConfig;
use crate::imaging::ImageConfig;
use crate::pipeline::PipelineConfig;
use crate::position::{PositionConfig, PositionKind};
use crate::privacy::PrivacyConfig;
use crate::publish::MqttConfig;
use crate::read_record::{Identity, Site};
use crate::read_signing::SigningConfig;
use crate::recognizer::RecognitionConfig;
use crate::roi::RoiConfig;
use crate::source::{CameraConfig, StreamConfig};
use crate::spool::SpoolConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The configuration: the sections as the file has them, and what [`Config::parse`] made of
/// them ([`Prepared`]). The file is first read into `Config<()>`: serde stops at its first
/// mistake, so a value with a rule of its own (an id, the QoS) is kept as the file has it and
/// parsed after reading, with every other check, and reported beside the other mistakes
/// instead of hiding them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config<Parsed = Prepared> {
    /// `[device]` as the file has it; parsed, [`Config::device`].
    #[serde(rename = "device")]
    device_section: DeviceSection,
    pub source: SourceConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub recognition: RecognitionConfig,
    /// The camera's lanes; none: the whole frame.
    #[serde(default)]
    pub roi: RoiConfig,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub fusion: FusionConfig,
    #[serde(default)]
    pub images: ImageConfig,
    /// What leaves the device for hits and non-hits, the purpose, retention. Required: a unit
    /// must say why it reads plates.
    pub privacy: PrivacyConfig,
    #[serde(default)]
    pub hotlist: HotlistConfig,
    /// `[output]` as the file has it; where reads go is [`Config::output`].
    #[serde(rename = "output", default)]
    output_section: OutputConfig,
    /// `[mqtt]` as the file has it: the broker, when `output.kind = "mqtt"`.
    #[serde(rename = "mqtt")]
    mqtt_section: Option<MqttConfig>,
    /// The durable spool behind the MQTT outbox; without it, what the broker has not
    /// acknowledged lives in RAM only.
    pub spool: Option<SpoolConfig>,
    /// The key every read is signed with (tamper evidence); without it reads are unsigned.
    pub signing: Option<SigningConfig>,
    #[serde(default)]
    pub position: PositionConfig,
    #[serde(default)]
    pub health: HealthConfig,
    /// Signed commands from the centre; without it every command is refused (and answered).
    pub control: Option<ControlConfig>,
    /// Not keys of the file: what [`Config::parse`] made of them.
    #[serde(skip)]
    parsed: Parsed,
}

/// Where frames come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// A recorded video file, or a folder of stills, or one still.
    File { path: PathBuf },
    /// A live RTSP stream (an IP camera); reconnection in `[source.stream]`.
    Rtsp {
        url: String,
        #[serde(default)]
        stream: StreamConfig,
    },
    /// A V4L2 camera; its mode in `[source.camera]`.
    Camera {
        device: PathBuf,
        #[serde(default)]
        camera: CameraConfig,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Folder of model files (default: the installed one).
    pub models_dir: Option<PathBuf>,
    /// libonnxruntime.so (default: the installed one).
    pub ort_library: Option<PathBuf>,
    /// Inference threads (default: one per core).
    pub threads: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// Not TOML, or not the shape of a configuration: serde stops at the first such mistake.
    #[error("{path}: {issue}")]
    Parse { path: PathBuf, issue: ConfigIssue },
    /// Every value that is wrong, each under its full key.
    #[error("{path}: {}", list(issues))]
    Invalid { path: PathBuf, issues: Vec<ConfigIssue> },
}

fn list(issues: &[ConfigIssue]) -> String {
    match issues {
        [one] => one.to_string(),
        many => format!(
            "{} problems:\n{}",
            many.len(),
            many.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n")
        ),
    }
}

impl ConfigError {
    /// The issues found, whatever the kind of error (none for an unreadable file).
    pub fn issues(&self) -> Vec<ConfigIssue> {
        match self {
            ConfigError::Read { .. } => Vec::new(),
            ConfigError::Parse { issue, .. } => vec![issue.clone()],
            ConfigError::Invalid { issues, .. } => issues.clone(),
        }
    }
}

/// serde's complaint as an issue under the full key: a missing key is named by its own path
/// (`device.site`), not by the table that lacks it.
fn parse_issue(error: serde_path_to_error::Error<toml::de::Error>) -> ConfigIssue {
    let path = error.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let message = error.inner().message().to_string();
    let join =
        |field: &str| if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
    let field = |rest: &str| rest.split('`').nth(1).map(str::to_string);
    if let Some(name) = message.strip_prefix("missing field ").and_then(field) {
        return ConfigIssue::new(
            join(&name),
            "is missing",
            "add it (every key is described in systemd/anpr-edge.toml)",
        );
    }
    if let Some(name) = message.strip_prefix("unknown field ").and_then(field) {
        let expected = message
            .split_once(", expected ")
            .map_or(String::new(), |(_, e)| format!("expected {e}"));
        // serde_path_to_error's path already ends with the unknown key.
        let known = path == name || path.ends_with(&format!(".{name}"));
        let key = if known { path.clone() } else { join(&name) };
        return ConfigIssue::new(
            key,
            "is not a known key",
            format!("correct the spelling: {expected}"),
        );
    }
    if path.is_empty() {
        // Not TOML at all: toml's own text says where.
        return ConfigIssue::new("", error.inner().to_string().trim_end(), "");
    }
    ConfigIssue::new(path, message, "")
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// Parses and checks every section, reading the files it names once ([`Prepared`]);
    /// `path` is only for messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let file: Config<()> = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), issue: parse_issue(e) })?;
        let (prepared, issues) = file.prepare();
        let mut config = match prepared {
            Some(prepared) if issues.is_empty() => file.with(prepared),
            _ => return Err(ConfigError::Invalid { path: path.to_path_buf(), issues }),
        };
        config.follow_retention();
        config.follow_position();
        Ok(config)
    }

    /// What the retention policy decides for the stores that did not set their own limit.
    fn follow_retention(&mut self) {
        let hit_max_age_s = self.privacy.retention.policy().hit_max_age.as_secs();
        if let Some(spool) = &mut self.spool {
            spool.hit_max_age_s.get_or_insert(hit_max_age_s);
        }
    }

    /// A unit that takes its position from gpsd rides in a car: fusion works for a moving
    /// camera unless `fusion.camera` says otherwise.
    fn follow_position(&mut self) {
        let moving = self.position.source == PositionKind::Gpsd;
        self.fusion.camera.get_or_insert(if moving { Camera::Moving } else { Camera::Fixed });
    }

    /// `[device]`, its ids parsed.
    pub fn device(&self) -> &DeviceConfig {
        &self.parsed.device
    }

    /// Where reads go.
    pub fn output(&self) -> &Output {
        &self.parsed.output
    }

    /// What the files the configuration names held when it was checked.
    pub fn prepared(&self) -> &Prepared {
        &self.parsed
    }

    pub fn identity(&self) -> Identity {
        let device = self.device();
        Identity {
            device_id: device.id.clone(),
            camera_id: device.camera_id.clone(),
            site: Site {
                name: device.site.name.clone(),
                latitude: device.site.latitude,
                longitude: device.site.longitude,
            },
            purpose: self.privacy.purpose.clone(),
        }
    }
}

impl Config<()> {
    /// Every issue of the values of the sections, under its full key (the sections that name
    /// files, or hold values with a rule of their own, are parsed by [`Config::prepare`]).
    fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = self.device_issues();
        issues.extend(self.source_issues());
        let mut issue = |key: &str, problem: String, fix: &str| {
            issues.push(ConfigIssue::new(key, problem, fix));
        };
        if let Some(0) = self.runtime.threads {
            issue(
                "runtime.threads",
                "is 0".into(),
                "give at least 1, or leave it out for one per core",
            );
        }
        if self.pipeline.frame_queue == 0 {
            issue("pipeline.frame_queue", "is 0".into(), "must be at least 1");
        }
        for (key, problem, fix) in self.pipeline.gating.issues() {
            issue(&format!("pipeline.gating.{key}"), problem, fix);
        }
        if !(0.0..=1.0).contains(&self.recognition.detector.min_score) {
            issue(
                "recognition.detector.min_score",
                format!("{} is outside 0..1", self.recognition.detector.min_score),
                "give a score between 0 and 1",
            );
        }
        if !(1..=100).contains(&self.images.jpeg_quality) {
            issue(
                "images.jpeg_quality",
                format!("{} is outside 1..100", self.images.jpeg_quality),
                "give 1 to 100",
            );
        }
        if self.images.context_before + self.images.context_after > 8 {
            issue(
                "images.context_before",
                format!(
                    "{} before and {} after is more than 8 context frames",
                    self.images.context_before, self.images.context_after
                ),
                "give at most 8 together: each is a JPEG on every hit",
            );
        }
        if !(40..=5000).contains(&self.images.context_interval_ms) {
            issue(
                "images.context_interval_ms",
                format!("{} is outside 40..5000 ms", self.images.context_interval_ms),
                "give 40 to 5000",
            );
        }
        if self.images.context_max_width < 64 {
            issue(
                "images.context_max_width",
                format!("{} is under 64 pixels", self.images.context_max_width),
                "give at least 64",
            );
        }
        if self.health.metrics_port == Some(0) {
            issue(
                "health.metrics_port",
                "is 0".into(),
                "give a TCP port from 1, or leave it out for no metrics endpoint",
            );
        }
        issues.extend(under("recognition.ocr", self.recognition.ocr.issues()));
        issues.extend(under("roi", self.roi.issues()));
        issues.extend(under("fusion", self.fusion.issues()));
        issues.extend(under("privacy", self.privacy.issues()));
        issues.extend(under("position", self.position.issues()));
        issues.extend(self.spool_issues());
        issues
    }

    fn device_issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let site = &self.device_section.site;
        if let Some(lat) = site.latitude.filter(|l| !(-90.0..=90.0).contains(l)) {
            issues.push(ConfigIssue::new(
                "device.site.latitude",
                format!("{lat} is outside -90..90"),
                "give degrees north, -90 to 90",
            ));
        }
        if let Some(lon) = site.longitude.filter(|l| !(-180.0..=180.0).contains(l)) {
            issues.push(ConfigIssue::new(
                "device.site.longitude",
                format!("{lon} is outside -180..180"),
                "give degrees east, -180 to 180",
            ));
        }
        if self.position.source == PositionKind::Config
            && (site.latitude.is_none() != site.longitude.is_none())
        {
            issues.push(ConfigIssue::new(
                "device.site",
                "has only one of latitude and longitude",
                "give both, or neither (position.source = \"config\")",
            ));
        }
        issues
    }

    fn source_issues(&self) -> Vec<ConfigIssue> {
        match &self.source {
            SourceConfig::File { path } if !path.exists() => vec![ConfigIssue::new(
                "source.path",
                format!("{} does not exist", path.display()),
                "give a video file, an image or a folder of images",
            )],
            SourceConfig::File { .. } => Vec::new(),
            SourceConfig::Rtsp { url, stream } => {
                let mut issues = Vec::new();
                if !(url.starts_with("rtsp://") || url.starts_with("rtsps://")) {
                    issues.push(ConfigIssue::new(
                        "source.url",
                        format!("`{}` is not an rtsp:// URL", crate::source::stream::redact(url)),
                        "give rtsp://host/path or rtsps://host/path",
                    ));
                }
                if stream.reconnect_min_ms == 0 || stream.reconnect_min_ms > stream.reconnect_max_ms
                {
                    issues.push(ConfigIssue::new(
                        "source.stream.reconnect_min_ms",
                        "is 0 or above source.stream.reconnect_max_ms",
                        "must be above 0 and at most source.stream.reconnect_max_ms",
                    ));
                }
                issues
            }
            SourceConfig::Camera { camera, .. } => {
                under("source.camera", camera.issues()).collect()
            }
        }
    }

    fn spool_issues(&self) -> Vec<ConfigIssue> {
        let Some(spool) = &self.spool else { return Vec::new() };
        let outbox_bytes = self
            .mqtt_section
            .as_ref()
            .map_or(crate::publish::MqttConfig::default_outbox_bytes(), |m| m.outbox_bytes);
        let mut issues: Vec<ConfigIssue> = under("spool", spool.issues(outbox_bytes)).collect();
        let retention = self.privacy.retention.policy();
        let retention_s = retention.max_age.as_secs();
        if spool.max_age_s > retention_s {
            issues.push(ConfigIssue::new(
                "spool.max_age_s",
                format!("{} s keeps reads longer than privacy.retention.days ({} days = {retention_s} s)", spool.max_age_s, self.privacy.retention.days),
                "lower it",
            ));
        }
        let hit_retention_s = retention.hit_max_age.as_secs();
        if let Some(hit_max_age_s) = spool.hit_max_age_s.filter(|&s| s > hit_retention_s) {
            issues.push(ConfigIssue::new(
                "spool.hit_max_age_s",
                format!("{hit_max_age_s} s keeps hits longer than privacy.retention allows for hits ({hit_retention_s} s, from hit_days or else days)"),
                "lower it or leave it out",
            ));
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device_id::{CameraId, DeviceId};

    fn minimal(extra: &str) -> String {
        format!(
            "[device]\nid = \"box-1\"\n[device.site]\nname = \"E40 km 12\"\n[source]\nkind = \"file\"\npath = \"{}\"\n[privacy]\npurpose = \"LEZ enforcement\"\n{extra}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/anpr-edge/anpr-edge.toml"))
    }

    #[test]
    fn a_minimal_config_gets_defaults() {
        let config = parse(&minimal("")).expect("valid");
        assert_eq!(config.device().camera_id, "cam0");
        assert_eq!(config.pipeline.frame_queue, 4);
        assert_eq!(config.fusion.max_delay_ms, 3000);
    }

    /// The ids a unit can be configured with are the ids its topics and records take: the
    /// configuration parses them with the same rule, and each configured device id is one
    /// level of every topic, never the fleet's.
    #[test]
    fn the_configuration_and_the_topics_take_the_same_ids() {
        use crate::device_id::FLEET;
        use crate::publish::topics::{is_topic_level, Topics};
        let ids = ["box-1", "Unit_07", "fleet", "", "box 1", "a/b", "a+", "#", "box.1", "é"];
        for id in ids {
            let text = minimal("").replace("id = \"box-1\"", &format!("id = {id:?}"));
            let configured = parse(&text).map(|config| config.device().id.clone());
            assert_eq!(configured.is_ok(), id.parse::<DeviceId>().is_ok(), "device id {id:?}");
            if let Ok(device) = configured {
                assert!(is_topic_level(&device) && device != FLEET, "{id:?}");
                assert_eq!(Topics::new("anpr", &device).reads, format!("anpr/{id}/reads"));
                assert_eq!(parse(&text).expect("valid").identity().device_id, device);
            }
            let text = minimal("")
                .replace("id = \"box-1\"", &format!("id = \"box-1\"\ncamera_id = {id:?}"));
            let configured = parse(&text).map(|config| config.device().camera_id.clone());
            assert_eq!(configured.is_ok(), id.parse::<CameraId>().is_ok(), "camera id {id:?}");
        }
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let e =
            parse(&minimal("[fusion]\nmax_dalay_ms = 3\n")).expect_err("unknown key").to_string();
        assert!(e.contains("max_dalay_ms") && e.contains("anpr-edge.toml"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = parse(&minimal("[pipeline]\nframe_queue = 0\n")).expect_err("bad").to_string();
        assert!(e.contains("pipeline.frame_queue"), "{e}");
        let e = parse(&minimal("[images]\njpeg_quality = 0\n")).expect_err("bad").to_string();
        assert!(e.contains("images.jpeg_quality"), "{e}");
        let e = parse(&minimal("").replace("box-1", "box 1/#")).expect_err("bad").to_string();
        assert!(e.contains("device.id"), "{e}");
        let e = parse(&minimal("").replace(env!("CARGO_MANIFEST_DIR"), "/nope/video.mp4"))
            .expect_err("bad")
            .to_string();
        assert!(e.contains("source.path") && e.contains("/nope/video.mp4"), "{e}");
    }

    #[test]
    fn source_sub_tables_reject_unknown_keys_too() {
        let camera = "[device]\nid = \"a\"\n[device.site]\nname = \"x\"\n[privacy]\npurpose = \"test\"\n[source]\nkind = \"camera\"\ndevice = \"/dev/video0\"\n";
        let config = parse(camera).expect("camera with defaults");
        assert!(matches!(config.source, SourceConfig::Camera { .. }));
        let e = parse(&format!("{camera}[source.camera]\nwidht = 640\n"))
            .expect_err("typo")
            .to_string();
        assert!(e.contains("widht"), "{e}");
        let e = parse(&format!("{camera}[source.camera]\nformats = [\"MJPEG\"]\n"))
            .expect_err("bad fourcc")
            .to_string();
        assert!(e.contains("source.camera.formats") && e.contains("MJPEG"), "{e}");
        let rtsp = "[device]\nid = \"a\"\n[device.site]\nname = \"x\"\n[privacy]\npurpose = \"test\"\n[source]\nkind = \"rtsp\"\nurl = \"rtsp://cam/1\"\n[source.stream]\nreconect_min_ms = 5\n";
        let e = parse(rtsp).expect_err("typo").to_string();
        assert!(e.contains("reconect_min_ms"), "{e}");
    }

    #[test]
    fn every_issue_is_reported_and_a_missing_key_by_its_full_path() {
        let e = parse(&minimal("[pipeline]\nframe_queue = 0\n[fusion]\nmax_tracks = 0\n"))
            .expect_err("two mistakes");
        let keys: Vec<String> = e.issues().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["pipeline.frame_queue", "fusion.max_tracks"], "{e}");
        let e = parse("[device]\nid = \"a\"\n[source]\nkind = \"file\"\npath = \"/\"\n")
            .expect_err("no site");
        assert_eq!(e.issues()[0].key, "device.site", "{e}");
        let e = parse(&minimal("[fusion]\nmax_trax = 1\n")).expect_err("typo");
        assert_eq!(e.issues()[0].key, "fusion.max_trax", "{e}");
    }

    /// The ids and the QoS have rules of their own; a value that breaks one is reported with
    /// the other mistakes, not instead of them.
    #[test]
    fn a_bad_id_or_qos_does_not_hide_the_other_mistakes() {
        let text = minimal(
            "[pipeline]\nframe_queue = 0\n[output]\nkind = \"mqtt\"\n[mqtt]\nhost = \"b\"\ninsecure_dev = true\nqos = 3\nmax_in_flight = 0\n",
        )
        .replace("id = \"box-1\"", "id = \"box 1\"\ncamera_id = \"cam/0\"");
        let e = parse(&text).expect_err("five mistakes");
        let keys: Vec<String> = e.issues().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "device.id",
                "device.camera_id",
                "pipeline.frame_queue",
                "mqtt.qos",
                "mqtt.max_in_flight"
            ],
            "{e}"
        );
        assert!(e.to_string().contains("`box 1` is not a topic-safe id"), "{e}");
    }

    #[test]
    fn a_missing_section_is_named() {
        let e = parse("[device]\nid = \"a\"\n[device.site]\nname = \"x\"\n")
            .expect_err("no source")
            .to_string();
        assert!(e.contains("source"), "{e}");
    }

    #[test]
    fn mqtt_without_tls_needs_the_explicit_bench_switch() {
        let mqtt = "[output]\nkind = \"mqtt\"\n[mqtt]\nhost = \"broker.example\"\n";
        let e = parse(&minimal(mqtt)).expect_err("plain TCP refused").to_string();
        assert!(e.contains("mqtt.tls") && e.contains("insecure_dev"), "{e}");
        let config =
            parse(&minimal(&format!("{mqtt}insecure_dev = true\n"))).expect("bench broker allowed");
        assert_eq!(config.output().mqtt().expect("mqtt").section.port(), 1883);
        let e = parse(&minimal("[output]\nkind = \"mqtt\"\n")).expect_err("no section").to_string();
        assert!(e.contains("[mqtt]"), "{e}");
        let tls = "[mqtt.tls]\nca_file = \"/nope/ca.pem\"\nclient_cert_file = \"/nope/c.pem\"\nclient_key_file = \"/nope/k.pem\"\n";
        let e = parse(&minimal(&format!("{mqtt}{tls}"))).expect_err("missing CA").to_string();
        assert!(e.contains("mqtt.tls.ca_file") && e.contains("/nope/ca.pem"), "{e}");
    }

    #[test]
    fn privacy_needs_a_purpose_and_defaults_to_the_private_choice() {
        let config = parse(&minimal("")).expect("valid");
        assert_eq!(config.privacy.non_hit_plate, crate::privacy::PlateTreatment::Drop);
        assert!(!config.privacy.non_hit_plate_crop);
        assert_eq!(config.privacy.retention.days, 30);
        assert_eq!(config.identity().purpose, "LEZ enforcement");
        let without = minimal("").replace("[privacy]\npurpose = \"LEZ enforcement\"\n", "");
        let e = parse(&without).expect_err("no purpose").to_string();
        assert!(e.contains("privacy"), "{e}");
        let e = parse(&minimal("").replace("LEZ enforcement", ""))
            .expect_err("empty purpose")
            .to_string();
        assert!(e.contains("privacy.purpose"), "{e}");
        let e = parse(&minimal("non_hit_plate = \"keyed_hash\"\nnon_hit_plate_crop = true\n"))
            .expect_err("crop of a hashed plate")
            .to_string();
        assert!(e.contains("privacy.non_hit_plate_crop"), "{e}");
        let e = parse(&minimal("[privacy.keyed_hash]\nperiod_hours = 5\n"))
            .expect_err("period")
            .to_string();
        assert!(e.contains("privacy.keyed_hash.period_hours"), "{e}");
        let e = parse(&minimal("[privacy.retention]\ndays = 0\n")).expect_err("days").to_string();
        assert!(e.contains("privacy.retention.days"), "{e}");
        let e = parse(&minimal("[privacy.blur]\nmargn = 0.3\n")).expect_err("typo").to_string();
        assert!(e.contains("margn"), "{e}");
    }

    #[test]
    fn the_spool_section_is_checked_against_the_outbox_it_backs() {
        let config = parse(&minimal("[spool]\n")).expect("defaults");
        assert_eq!(config.spool.expect("spool").dir, PathBuf::from("/var/lib/anpr-edge/spool"));
        for (section, key) in [
            ("fsync_interval_ms = 0", "spool.fsync_interval_ms"),
            ("segment_bytes = 10", "spool.segment_bytes"),
            ("max_age_s = 0", "spool.max_age_s"),
            ("max_bytes = 1000000", "spool.max_bytes"),
            ("max_age_s = 2592001", "privacy.retention.days"),
            ("hit_max_age_s = 0", "spool.hit_max_age_s"),
            ("hit_max_age_s = 2592001", "spool.hit_max_age_s"),
            ("fsync = \"sometimes\"", "fsync"),
            ("max_byte = 1", "max_byte"),
        ] {
            let e =
                parse(&minimal(&format!("[spool]\n{section}\n"))).expect_err(section).to_string();
            assert!(e.contains(key), "{section}: {e}");
        }
        let small_outbox = "[output]\nkind = \"mqtt\"\n[mqtt]\nhost = \"b\"\ninsecure_dev = true\noutbox_bytes = 100000\n";
        let config = parse(&minimal(&format!("{small_outbox}[spool]\nmax_bytes = 1000000\nsegment_bytes = 65536\nfsync = \"per_record\"\n"))).expect("fits a small outbox");
        assert_eq!(config.spool.expect("spool").fsync, crate::spool::FsyncPolicy::PerRecord);
    }

    #[test]
    fn undelivered_hits_in_the_spool_follow_the_retention_of_hits_unless_set_shorter() {
        let spool = |extra: &str| parse(&minimal(extra)).expect("valid").spool.expect("spool");
        assert_eq!(
            spool("[spool]\n").hit_max_age_s,
            Some(30 * 86_400),
            "privacy.retention.days by default"
        );
        assert_eq!(
            spool("[privacy.retention]\nhit_days = 90\n[spool]\n").hit_max_age_s,
            Some(90 * 86_400),
            "hit_days when given"
        );
        assert_eq!(
            spool("[spool]\nhit_max_age_s = 3600\n").hit_max_age_s,
            Some(3600),
            "a shorter limit of its own"
        );
        let e =
            parse(&minimal("[privacy.retention]\nhit_days = 2\n[spool]\nhit_max_age_s = 172801\n"))
                .expect_err("longer than hit_days")
                .to_string();
        assert!(e.contains("spool.hit_max_age_s") && e.contains("172800"), "{e}");
    }

    #[test]
    fn a_signing_key_that_does_not_load_names_the_key_and_the_fix() {
        let e = parse(&minimal("[signing]\nkey_file = \"/nope/unit.key\"\n"))
            .expect_err("missing key")
            .to_string();
        assert!(e.contains("signing.key_file") && e.contains("/nope/unit.key"), "{e}");
    }

    proptest::proptest! {
        /// The parser on arbitrary text and on mangled valid files: an error or a valid
        /// configuration, never a panic.
        #[test]
        fn arbitrary_text_never_panics_the_parser(text in "\\PC{0,400}") {
            let _ = parse(&text);
        }

        #[test]
        fn mangled_configurations_never_panic_the_parser(cut in 0usize..2000, insert in "[ -~\n]{0,12}") {
            let text = include_str!("../../systemd/anpr-edge.toml").replace("/var/lib/anpr-edge/sample.mp4", env!("CARGO_MANIFEST_DIR"));
            let at = text.char_indices().map(|(i, _)| i).nth(cut % text.chars().count()).unwrap_or(0);
            let mangled = format!("{}{insert}{}", &text[..at], &text[at..]);
            let _ = parse(&mangled);
        }
    }

    #[test]
    fn hotlist_keys_are_checked() {
        let config = parse(&minimal("")).expect("valid");
        assert_eq!(
            (config.hotlist.file, config.hotlist.fuzzy_tolerance, config.hotlist.mqtt_fleet_topic),
            (None, 1, true)
        );
        for (extra, key) in [
            ("[hotlist]\nfuzzy_tolerance = 4\n", "hotlist.fuzzy_tolerance"),
            ("[hotlist]\npoll_interval_s = 0\n", "hotlist.poll_interval_s"),
            ("[hotlist]\nfile = \"/nope/list.csv\"\n", "hotlist.file"),
            ("[hotlist]\npublic_key = \"/nope/key.pem\"\n", "hotlist.public_key"),
            ("[hotlist]\nfuzy_tolerance = 1\n", "fuzy_tolerance"),
        ] {
            let e = parse(&minimal(extra)).expect_err(extra).to_string();
            assert!(e.contains(key), "{extra}: {e}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let list = dir.path().join("list.csv");
        std::fs::write(
            &list,
            "version,1\nplate,list,category,action,expires,note\nAB12,l,stolen,alrt,,\n",
        )
        .expect("write");
        let e = parse(&minimal(&format!("[hotlist]\nfile = \"{}\"\n", list.display())))
            .expect_err("bad list")
            .to_string();
        assert!(
            e.contains("hotlist.file") && e.contains("line 3, field `action`"),
            "check-config reads the list: {e}"
        );
        let e = parse(&minimal("").replace("box-1", "fleet")).expect_err("reserved").to_string();
        assert!(e.contains("device.id") && e.contains("reserved"), "{e}");
    }

    #[test]
    fn a_unit_on_gpsd_fuses_for_a_moving_camera_unless_told() {
        let camera = |extra: &str| parse(&minimal(extra)).expect("valid").fusion.camera;
        assert_eq!(camera(""), Some(Camera::Fixed));
        assert_eq!(camera("[position]\nsource = \"gpsd\"\n"), Some(Camera::Moving));
        assert_eq!(
            camera("[position]\nsource = \"gpsd\"\n[fusion]\ncamera = \"fixed\"\n"),
            Some(Camera::Fixed)
        );
        assert_eq!(camera("[fusion]\ncamera = \"moving\"\n"), Some(Camera::Moving));
    }

    #[test]
    fn position_and_health_keys_are_checked() {
        let config = parse(&minimal("")).expect("valid");
        assert_eq!(
            (config.position.source, config.health.metrics_port),
            (PositionKind::Config, None),
            "a fixed box, no endpoint"
        );
        let config = parse(&minimal(
            "[position]\nsource = \"gpsd\"\ngpsd_port = 12947\n[health]\nmetrics_port = 9187\n",
        ))
        .expect("valid");
        assert_eq!(
            (config.position.source, config.position.gpsd_port, config.health.metrics_port),
            (PositionKind::Gpsd, 12947, Some(9187))
        );
        let e = parse(&minimal("[position]\nsource = \"glonass\"\n"))
            .expect_err("bad source")
            .to_string();
        assert!(e.contains("glonass"), "{e}");
        let e =
            parse(&minimal("[position]\nmax_fix_age_s = 0\n")).expect_err("bad age").to_string();
        assert!(e.contains("position.max_fix_age_s"), "{e}");
        let e = parse(&minimal("[position]\ngpsd_prot = 1\n")).expect_err("typo").to_string();
        assert!(e.contains("gpsd_prot"), "{e}");
        let e = parse(&minimal("[health]\nmetrics_port = 0\n")).expect_err("port 0").to_string();
        assert!(e.contains("health.metrics_port"), "{e}");
        let e =
            parse(&minimal("").replace("name = \"E40 km 12\"", "name = \"E40\"\nlatitude = 50.1"))
                .expect_err("half a position")
                .to_string();
        assert!(e.contains("device.site"), "{e}");
    }

    #[test]
    fn roi_mistakes_are_reported_under_their_full_key() {
        let region = |units: &str, points: &str| {
            format!("[[roi.regions]]\nname = \"lane 1\"\nunits = \"{units}\"\npoints = {points}\n")
        };
        let config = parse(&minimal(&region("pixels", "[[0, 500], [1920, 500], [960, 1080]]")))
            .expect("valid");
        assert_eq!(config.roi.regions.len(), 1);
        assert!(parse(&minimal("")).expect("valid").roi.regions.is_empty(), "whole frame");
        for (bad, key, problem) in [
            (region("fraction", "[[0.1, 0.5], [0.9, 0.5]]"), "roi.regions[0].points", "2 points"),
            (
                region("fraction", "[[0.1, 0.5], [1.2, 0.5], [0.5, 1.0]]"),
                "roi.regions[0].points",
                "1.2 is outside 0..1",
            ),
            (
                region("pixels", "[[0, 0], [10, 10], [10, 0], [0, 10]]"),
                "roi.regions[0].points",
                "crosses itself",
            ),
            (region("inches", "[[0, 0], [10, 10], [10, 0]]"), "roi.regions[0].units", "inches"),
            (
                region("pixels", "[[0, 0], [10, 10], [10, 0]]").replace("units = \"pixels\"\n", ""),
                "roi.regions[0]",
                "units",
            ),
        ] {
            let e = parse(&minimal(&bad)).expect_err(&bad).to_string();
            assert!(e.contains(key) && e.contains(problem), "{bad}: {e}");
        }
    }

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../systemd/anpr-edge.toml")
            .replace("/var/lib/anpr-edge/sample.mp4", env!("CARGO_MANIFEST_DIR"));
        parse(&text).expect("the commented example under systemd/ must stay valid");
        let with_roi: String = text
            .lines()
            .map(|l| {
                if l.starts_with("# [[roi")
                    || l.starts_with("# name")
                    || l.starts_with("# units")
                    || l.starts_with("# points")
                {
                    &l[2..]
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config = parse(&with_roi).expect("its commented [[roi.regions]] too");
        assert_eq!(config.roi.regions.len(), 2);
    }
}
