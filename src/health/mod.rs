//! Health metrics for Prometheus: the same snapshot the MQTT status heartbeat publishes,
//! rendered as Prometheus text and served on a loopback port (`server`), off by default.
//!
//! Design: [`render`] is pure and generic over the snapshot's JSON: every number becomes a
//! metric named after its path (`pipeline.frames_dropped` → `anpr_edge_pipeline_frames_dropped`),
//! a boolean becomes 0/1, and the strings of an object become the labels of one
//! `<path>_info` metric of value 1 (times, `*_time` and `*_at`, are left out: a label that
//! changes every second would be a new series every second). So a stage that adds figures to the heartbeat (the spool's
//! size, the hotlist's version) has them scraped with no code here; the one line to add is
//! its counters' names in [`COUNTERS`], so that they are typed `counter` and get `_total`.

pub mod server;

use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// `[health]`: the Prometheus endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Serve `http://127.0.0.1:<port>/metrics`; absent: no endpoint.
    pub metrics_port: Option<u16>,
}

/// Snapshot paths that only ever grow (Prometheus counters); everything else is a gauge.
pub const COUNTERS: &[&str] = &[
    "pipeline.frames_captured",
    "pipeline.frames_failed",
    "pipeline.frames_dropped",
    "pipeline.frames_recognised",
    "pipeline.frames_gated",
    "pipeline.plates_outside_roi",
    "pipeline.recognition_errors",
    "pipeline.reads_emitted",
    "pipeline.image_errors",
    "pipeline.hits",
    "pipeline.alerts",
    "pipeline.possible_hits",
    "pipeline.phantoms_suppressed",
    "outbox.acked",
    "outbox.republished",
    "outbox.dropped_hits",
    "outbox.dropped_reads",
    "outbox.dropped_images",
    "spool.expired",
    "spool.write_errors",
    "pipeline.inference_seconds",
];

const PREFIX: &str = "anpr_edge";

fn metric_name(path: &str) -> String {
    let mut name = String::from(PREFIX);
    for part in path.split('.') {
        name.push('_');
        name.extend(part.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        }));
    }
    name
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The Prometheus text exposition (format 0.0.4) of a snapshot.
pub fn render(snapshot: &serde_json::Value) -> String {
    let mut out = String::new();
    walk(snapshot, "", &mut out);
    out
}

fn walk(value: &serde_json::Value, path: &str, out: &mut String) {
    let serde_json::Value::Object(map) = value else { return };
    let mut labels = Vec::new();
    for (key, child) in map {
        let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        match child {
            serde_json::Value::Number(n) => {
                if let Some(v) = n.as_f64() {
                    sample(&child_path, v, out);
                }
            }
            serde_json::Value::Bool(b) => sample(&child_path, if *b { 1.0 } else { 0.0 }, out),
            // A time changes on every fix: as a label it would make a new series each second.
            serde_json::Value::String(_) if key.ends_with("_time") || key.ends_with("_at") => {}
            serde_json::Value::String(s) => labels.push((key.clone(), s.clone())),
            serde_json::Value::Object(fields) if is_histogram(fields) => {
                histogram(&child_path, fields, out)
            }
            serde_json::Value::Object(_) => walk(child, &child_path, out),
            serde_json::Value::Null | serde_json::Value::Array(_) => {}
        }
    }
    if !labels.is_empty() {
        let name = if path.is_empty() {
            format!("{PREFIX}_info")
        } else {
            format!("{}_info", metric_name(path))
        };
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}=\"{}\"",
                    metric_name(k).trim_start_matches("anpr_edge_"),
                    escape_label(v)
                )
            })
            .collect();
        let _ = writeln!(out, "# TYPE {name} gauge\n{name}{{{}}} 1", labels.join(","));
    }
}

/// `crate::histogram::Histogram::to_json`'s shape.
fn is_histogram(fields: &serde_json::Map<String, serde_json::Value>) -> bool {
    ["le", "buckets", "sum", "count"].iter().all(|k| fields.contains_key(*k))
}

fn histogram(path: &str, fields: &serde_json::Map<String, serde_json::Value>, out: &mut String) {
    let numbers = |key: &str| -> Vec<f64> {
        fields[key]
            .as_array()
            .map_or_else(Vec::new, |a| a.iter().filter_map(|v| v.as_f64()).collect())
    };
    let (bounds, buckets) = (numbers("le"), numbers("buckets"));
    let name = metric_name(path);
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (bound, count) in bounds.iter().zip(&buckets) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let count = fields["count"].as_f64().unwrap_or(0.0);
    let sum = fields["sum"].as_f64().unwrap_or(0.0);
    let _ = writeln!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
    );
}

fn sample(path: &str, value: f64, out: &mut String) {
    let counter = COUNTERS.contains(&path);
    let name = if counter { format!("{}_total", metric_name(path)) } else { metric_name(path) };
    let _ = writeln!(
        out,
        "# TYPE {name} {}\n{name} {value}",
        if counter { "counter" } else { "gauge" }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_is_rendered_as_one() {
        let mut h = crate::histogram::Histogram::default();
        h.observe(std::time::Duration::from_millis(60));
        let text = render(&serde_json::json!({ "hits": { "ack_seconds": h.to_json() } }));
        assert!(text.starts_with("# TYPE anpr_edge_hits_ack_seconds histogram\n"), "{text}");
        for line in [
            "anpr_edge_hits_ack_seconds_bucket{le=\"0.05\"} 0\n",
            "anpr_edge_hits_ack_seconds_bucket{le=\"0.075\"} 1\n",
            "anpr_edge_hits_ack_seconds_bucket{le=\"+Inf\"} 1\n",
            "anpr_edge_hits_ack_seconds_sum 0.06\nanpr_edge_hits_ack_seconds_count 1\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn numbers_booleans_and_strings_of_a_snapshot() {
        let snapshot = serde_json::json!({
            "fps": 24.5,
            "clock_synchronised": false,
            "pipeline": { "frames_dropped": 3, "queue_depth": 2, "inference_seconds": 1.25 },
            "models": { "detector": "f32", "ocr": "v2" },
            "position": null,
            "gps": { "source": "gpsd", "fix_time": "2026-06-01T10:00:05.000Z", "sent_at": "x" },
            "spool": { "bytes": 4096, "messages": 7 },
            "hotlist": { "version": "2026-12-01T06:00:00Z \"a\"", "entries": 12 },
        });
        let text = render(&snapshot);
        for line in [
            "# TYPE anpr_edge_fps gauge\nanpr_edge_fps 24.5\n",
            "anpr_edge_clock_synchronised 0\n",
            "# TYPE anpr_edge_pipeline_frames_dropped_total counter\nanpr_edge_pipeline_frames_dropped_total 3\n",
            "# TYPE anpr_edge_pipeline_queue_depth gauge\nanpr_edge_pipeline_queue_depth 2\n",
            "anpr_edge_pipeline_inference_seconds_total 1.25\n",
            "anpr_edge_models_info{detector=\"f32\",ocr=\"v2\"} 1\n",
            "anpr_edge_spool_bytes 4096\n",
            "anpr_edge_hotlist_entries 12\n",
            "anpr_edge_hotlist_info{version=\"2026-12-01T06:00:00Z \\\"a\\\"\"} 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("position"), "null values are left out:\n{text}");
        assert!(
            text.contains("anpr_edge_gps_info{source=\"gpsd\"} 1\n"),
            "times are no labels:\n{text}"
        );
        // Each metric is typed exactly once.
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(types, samples);
    }

    #[test]
    fn names_are_valid_prometheus_names() {
        let text = render(&serde_json::json!({ "Odd-Key": { "with space": 1 } }));
        assert!(text.contains("anpr_edge_odd_key_with_space 1\n"), "{text}");
    }
}
