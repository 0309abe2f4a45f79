//! The privacy sheet (`anpr-edge privacy-report`): from the effective configuration, what leaves the device for a hit, a
//! non-hit and an allow-listed read, how long what it stores is kept, and why it reads plates —
//! the page a data-protection officer attaches to a DPIA. It reads the whole configuration, so it
//! sits above `config`, beside the daemon, not inside the `privacy` stage.
//!
//! Design: nothing here decides. Each disposition's line comes from [`policy::release`] and its
//! plate fields from running [`policy::publish_plate`] on a sample plate, the very functions the
//! pipeline runs; so the sheet cannot drift from what the code does.

use crate::config::{Config, Output};
use crate::device_id::DeviceId;
use crate::plate::PlateText;
use crate::privacy::policy::{self, OverviewRelease, Release};
use crate::privacy::pseudonym::KeySource;
use crate::privacy::{Disposition, PlateTreatment};
use serde::Serialize;
use std::fmt::Write;
use std::time::SystemTime;

/// Every field of a read record besides `plate` and `images` (described per disposition): the
/// schema's `required` list, which the tests check every record against, so it cannot drift.
pub fn record_fields() -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(crate::read_record::JSON_SCHEMA).unwrap_or_default();
    let required = schema["required"].as_array().cloned().unwrap_or_default();
    required
        .iter()
        .filter_map(|f| f.as_str())
        .filter(|f| !matches!(*f, "plate" | "images"))
        .map(str::to_string)
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct DispositionSheet {
    pub disposition: Disposition,
    pub release: Release,
    /// The `plate.*` fields that carry a value (the others are null).
    pub plate_fields: Vec<String>,
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetentionSheet {
    pub days: u32,
    pub hit_days: u32,
    pub sweep_interval_s: u64,
    /// What the sweeper enforces retention on.
    pub stores: Vec<String>,
    /// What the unit holds in memory only (gone at a stop, so no retention applies).
    pub memory_only: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sheet {
    pub device_id: DeviceId,
    pub site: String,
    pub purpose: String,
    pub destination: String,
    pub record_fields: Vec<String>,
    pub reads: Vec<DispositionSheet>,
    pub pseudonym: Option<String>,
    /// What a `snapshot` command sends, when the unit takes commands.
    pub snapshot: Option<String>,
    pub blur: String,
    pub retention: RetentionSheet,
    pub status_fields: Vec<String>,
}

fn sample_plate() -> PlateText {
    PlateText {
        text: "SAMPLE1".into(),
        ocr_text: "SAMPLE1".into(),
        confidence: 0.9,
        char_confidences: vec![0.9; 7],
        format: Some("BE".into()),
        region: Some(crate::plate::RegionGuess { name: "Belgium".into(), confidence: 0.9 }),
    }
}

fn plate_fields(release: &Release) -> Vec<String> {
    // The pseudonym field is filled whenever a key exists; the sheet shows it for the
    // configured treatment with a key made for the purpose (never the unit's own key).
    let key = crate::privacy::Pseudonymiser::from_secret(
        &[0u8; 32],
        &crate::privacy::KeyedHashConfig::default(),
    );
    let published =
        policy::publish_plate(release, &sample_plate(), Some(&key), SystemTime::UNIX_EPOCH);
    match serde_json::to_value(&published) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| format!("plate.{k}"))
            .collect(),
        _ => Vec::new(),
    }
}

fn overview(release: OverviewRelease) -> Option<String> {
    match release {
        OverviewRelease::None => None,
        OverviewRelease::Clear => Some("overview (unblurred)".to_string()),
        OverviewRelease::Blurred { windscreen: false } => {
            Some("overview, every detected plate blurred".to_string())
        }
        OverviewRelease::Blurred { windscreen: true } => {
            Some("overview, every detected plate and the estimated windscreen blurred".to_string())
        }
    }
}

fn images(release: &Release) -> Vec<String> {
    let mut out: Vec<String> = overview(release.overview).into_iter().collect();
    if release.plate_crop {
        out.push("plate crop (unblurred)".to_string());
    }
    if release.context {
        out.push("context frames from before and after the read (unblurred)".to_string());
    }
    out
}

pub fn sheet(config: &Config) -> Sheet {
    let privacy = &config.privacy;
    let reads = Disposition::ALL
        .iter()
        .map(|&d| {
            let release = policy::release(privacy, &config.images, d);
            DispositionSheet {
                disposition: d,
                plate_fields: plate_fields(&release),
                images: images(&release),
                release,
            }
        })
        .collect();
    let pseudonym = (privacy.non_hit_plate == PlateTreatment::KeyedHash).then(|| {
        let source = match &privacy.keyed_hash.key_file {
            Some(path) => KeySource::File(path.clone()),
            None => KeySource::RandomInMemory,
        };
        let key = match source {
            KeySource::File(path) => format!(
                "a period key derived from the secret in {} (shared by the fleet: every unit gives one car the same pseudonym within a period)",
                path.display()
            ),
            KeySource::RandomInMemory => "a period key derived from a random secret made at start and held in memory only (pseudonyms link nothing across units or restarts)".into(),
        };
        format!(
            "HMAC-SHA256 of the plate under {key}; the key changes every {} h at a UTC boundary, so reads link within a period only; the secret is never logged nor published, and the centre cannot recover plates",
            privacy.keyed_hash.period_hours
        )
    });
    let destination = match config.output() {
        Output::Mqtt(mqtt) => format!(
            "MQTT broker {} (topics {}/{}/…)",
            mqtt.section.brokers_text(),
            mqtt.section.topic_prefix,
            config.device().id
        ),
        Output::Stdout => "standard output (no network)".into(),
    };
    let snapshot = match (&config.control, config.output()) {
        (Some(control), Output::Mqtt(_)) => overview(policy::snapshot(privacy)).map(|frame| {
            format!(
                "one frame on each `snapshot` command signed by the key in {} (for aiming the camera): {frame}; not stored on the unit",
                control.public_key.display()
            )
        }),
        _ => None,
    };
    let retention = &privacy.retention;
    let mut stores: Vec<String> = retention
        .directories
        .iter()
        .map(|d| format!("directory {} (files under a hits/ folder are hits)", d.display()))
        .collect();
    let mut memory_only = vec!["fusion's tracks (at most a few seconds)".to_string()];
    match (&config.spool, config.output()) {
        (Some(spool), Output::Mqtt(_)) => {
            let age =
                |s: u64| humantime::format_duration(std::time::Duration::from_secs(s)).to_string();
            let hits = spool.hit_max_age_s.map_or_else(
                || "hits kept until delivered".to_string(),
                |s| format!("hits older than {} dropped", age(s)),
            );
            stores.push(format!(
                "the spool {} (reads and images until the broker acknowledges them; reads and images older than {} dropped by the spool itself, {hits})",
                spool.dir.display(),
                age(spool.max_age_s)
            ))
        }
        (None, Output::Mqtt(_)) => memory_only.insert(
            0,
            "the outbox (reads and images waiting for the broker's acknowledgement; no [spool])"
                .into(),
        ),
        (_, Output::Stdout) => {}
    }
    Sheet {
        device_id: config.device().id.clone(),
        site: config.device().site.name.clone(),
        purpose: privacy.purpose.clone(),
        destination,
        record_fields: record_fields(),
        reads,
        pseudonym,
        snapshot,
        blur: format!(
            "every detected plate pixelated into cells of a quarter of the region, the cells blurred into each other (irreversible); margin {} of the plate box's longer side; windscreen {}",
            privacy.blur.margin,
            if privacy.blur.windscreen { "also blurred (estimated from the plate's position: no vehicle detector)" } else { "not blurred" }
        ),
        retention: RetentionSheet {
            days: retention.days,
            hit_days: retention.hit_days.unwrap_or(retention.days),
            sweep_interval_s: retention.sweep_interval_s,
            stores,
            memory_only,
        },
        status_fields: ["state", "purpose", "pipeline counters", "retention.oldest_item"].iter().map(|f| f.to_string()).collect(),
    }
}

fn disposition_title(d: Disposition) -> &'static str {
    match d {
        Disposition::Hit => "Hit (plate on a hotlist with action alert)",
        Disposition::NonHit => "Non-hit (plate on no list)",
        Disposition::Allowed => {
            "Allow-listed (plate on a list with action allow, e.g. an exemption)"
        }
    }
}

fn plate_line(release: &Release) -> &'static str {
    match release.plate {
        PlateTreatment::Clear => "in clear",
        PlateTreatment::KeyedHash => "replaced by a keyed hash (pseudonym); the text is not sent",
        PlateTreatment::Drop => "dropped: not sent in any form",
    }
}

/// The sheet as plain text.
pub fn render_text(sheet: &Sheet) -> String {
    let mut out = String::new();
    // invariant: writing to a String cannot fail.
    let _ = writeln!(out, "PRIVACY SHEET — anpr-edge unit {} at {}", sheet.device_id, sheet.site);
    let _ = writeln!(out, "\nPurpose: {}", sheet.purpose);
    let _ = writeln!(out, "Sent to: {}", sheet.destination);
    let _ = writeln!(out, "Every read carries: {}", sheet.record_fields.join(", "));
    for read in &sheet.reads {
        let _ = writeln!(out, "\n{}", disposition_title(read.disposition));
        let _ = writeln!(out, "  plate: {}", plate_line(&read.release));
        let _ = writeln!(
            out,
            "  plate fields sent: {}",
            if read.plate_fields.is_empty() { "none".into() } else { read.plate_fields.join(", ") }
        );
        let _ = writeln!(
            out,
            "  images sent: {}",
            if read.images.is_empty() { "none".into() } else { read.images.join("; ") }
        );
    }
    if let Some(pseudonym) = &sheet.pseudonym {
        let _ = writeln!(out, "\nPseudonymisation: {pseudonym}");
    }
    if let Some(snapshot) = &sheet.snapshot {
        let _ = writeln!(out, "\nSnapshots: {snapshot}");
    }
    let _ = writeln!(out, "\nBlurring: {}", sheet.blur);
    let r = &sheet.retention;
    let _ = writeln!(
        out,
        "\nRetention: {} days; hits {} days; enforced by the daemon every {} s on:",
        r.days, r.hit_days, r.sweep_interval_s
    );
    if r.stores.is_empty() {
        let _ = writeln!(out, "  - no store on disk is configured: the unit keeps nothing on disk");
    }
    for store in &r.stores {
        let _ = writeln!(out, "  - {store}");
    }
    let _ = writeln!(out, "Held in memory only, lost at a stop: {}", r.memory_only.join("; "));
    let _ = writeln!(out, "\nStatus messages carry: {}", sheet.status_fields.join(", "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_fields_come_from_the_schema() {
        let fields = record_fields();
        for f in ["schema", "read_id", "purpose", "captured_at", "disposition", "hit"] {
            assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
        }
        assert!(!fields.iter().any(|f| f == "plate" || f == "images"));
    }

    #[test]
    fn the_spool_is_a_store_and_without_it_the_outbox_is_memory_only() {
        let base = format!(
            "[device]\nid = \"b\"\n[device.site]\nname = \"s\"\n[source]\nkind = \"file\"\npath = \"{}\"\n[privacy]\npurpose = \"journey time statistics\"\n\
             [output]\nkind = \"mqtt\"\n[mqtt]\nhost = \"b\"\ninsecure_dev = true\n",
            env!("CARGO_MANIFEST_DIR")
        );
        let parse =
            |text: &str| Config::parse(text, std::path::Path::new("t.toml")).expect("config");
        let spooled = sheet(&parse(&format!(
            "{base}[spool]\ndir = \"/var/lib/anpr-edge/spool\"\nmax_age_s = 86400\n"
        )));
        assert!(
            spooled.retention.stores.iter().any(|s| s.contains("/var/lib/anpr-edge/spool")
                && s.contains("1day")
                && s.contains("hits older than 30days dropped")),
            "{:?}",
            spooled.retention.stores
        );
        assert!(!spooled.retention.memory_only.iter().any(|s| s.contains("outbox")));
        let unspooled = sheet(&parse(&base));
        assert!(unspooled.retention.stores.is_empty());
        assert!(
            unspooled.retention.memory_only.iter().any(|s| s.contains("outbox")),
            "{:?}",
            unspooled.retention.memory_only
        );
    }
}
