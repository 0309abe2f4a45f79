//! The daemon as a mobile unit: a real-time replay of real plates while a real gpsd replays a
//! recorded drive, with the Prometheus endpoint on. Every read carries a position the log
//! states and the clock's state; the metrics are scraped over loopback while it runs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use anpr_edge::position::{PositionConfig, PositionKind, PositionProvider};
use common::gpsd::{drive_log, logged_fixes, FakeGps};
use common::metrics::{get, metric};
use common::records::{assert_follows_schema, folded_texts, json_lines};
use std::time::{Duration, Instant};

#[test]
fn reads_carry_the_gpsd_position_and_metrics_are_scraped_while_running() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (video, expected) = common::road_video(&folder, dir.path());
    let mut gps = FakeGps::start(&drive_log(), Duration::from_millis(40), false);
    // gpsfake feeds once a client watches, and gpsd needs a few sentences before its first fix:
    // wait for one, so that the daemon's first read already has gpsd's position to get.
    let config = PositionConfig {
        source: PositionKind::Gpsd,
        gpsd_port: gps.port,
        reconnect_min_ms: 100,
        ..PositionConfig::default()
    };
    let probe = PositionProvider::start(&config, None, None).expect("probe");
    let deadline = Instant::now() + Duration::from_secs(20);
    while probe.current().is_none_or(|p| p.lost) {
        assert!(
            Instant::now() < deadline,
            "gpsfake's gpsd gave no fix within 20 s: {}",
            gps.report()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let metrics_port = common::broker::free_port();
    let config = dir.path().join("anpr-edge.toml");
    std::fs::write(
        &config,
        format!(
            "[device]\nid = \"car-7\"\n[device.site]\nname = \"patrol car 7\"\n[privacy]\npurpose = \"fleet test\"\nnon_hit_plate = \"clear\"\n[source]\nkind = \"file\"\npath = \"{}\"\n\
             [pipeline]\nrealtime = true\n[position]\nsource = \"gpsd\"\ngpsd_port = {}\nreconnect_min_ms = 100\n\
             [health]\nmetrics_port = {metrics_port}\n",
            video.display(),
            gps.port
        ),
    )
    .expect("config");
    let daemon = common::binary()
        .args(["run", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the daemon");

    // Scrape while it runs (the video lasts 6 s at its own pace).
    let started = Instant::now();
    let mut scraped = None;
    let mut not_found = None;
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(response) = get(metrics_port, "/metrics") {
            if metric(&response, "anpr_edge_pipeline_frames_recognised_total")
                // Any progress: how fast the box recognises is a benchmark's business.
                .is_some_and(|n| n >= 1.0)
            {
                not_found = get(metrics_port, "/").ok();
                scraped = Some(response);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = daemon.wait_with_output().expect("daemon output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    let response = scraped
        .unwrap_or_else(|| panic!("never scraped a recognised frame; daemon log:\n{stderr}"));
    assert!(
        response.starts_with("HTTP/1.1 200 OK\r\n")
            && response.contains("Content-Type: text/plain; version=0.0.4"),
        "{response}"
    );
    let body = response.split("\r\n\r\n").nth(1).expect("body");
    for name in [
        "anpr_edge_fps",
        "anpr_edge_pipeline_frames_captured_total",
        "anpr_edge_pipeline_frames_dropped_total",
        "anpr_edge_pipeline_queue_depth",
        "anpr_edge_pipeline_active_tracks",
        "anpr_edge_pipeline_inference_seconds_total",
        "anpr_edge_pipeline_inference_ms_last",
        "anpr_edge_clock_synchronised",
        "anpr_edge_position_latitude",
        "anpr_edge_position_age_ms",
    ] {
        assert!(metric(body, name).is_some(), "{name} missing from\n{body}");
    }
    assert!(
        metric(body, "anpr_edge_pipeline_inference_ms_last").is_some_and(|ms| ms > 0.0),
        "{body}"
    );
    assert!(
        body.contains("anpr_edge_models_info{detector=\"detector-f32\",ocr=\"ocr-v2\"} 1"),
        "{body}"
    );
    let synchronised = anpr_edge::clock::probe().trusted();
    assert_eq!(
        metric(body, "anpr_edge_clock_synchronised"),
        Some(if synchronised { 1.0 } else { 0.0 })
    );
    assert!(not_found.is_some_and(|r| r.starts_with("HTTP/1.1 404")), "only /metrics is served");

    // The replay is paced as a camera (`realtime`): on a starved machine recognition drops
    // frames and may never confirm a car (under stress-ng --cpu 2 the third was not read). What
    // this test checks is the position and the metrics of the reads made, so it asks for at
    // least one read, each of a car of the video and none twice.
    let records = json_lines(&output.stdout);
    let texts = folded_texts(&records);
    assert!(!texts.is_empty(), "no read made; daemon log:\n{stderr}");
    let mut unique = texts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), texts.len(), "one read per car: {texts:?}");
    assert!(texts.iter().all(|t| expected.contains(t)), "{texts:?} are cars of {expected:?}");
    let (logged, _) = logged_fixes(&drive_log());
    for record in &records {
        assert_follows_schema(record);
        assert_eq!(record["clock_synchronised"], synchronised, "the read says what the clock said");
        let position = &record["position"];
        assert_eq!(position["source"], "gpsd", "{record}");
        let (lat, lon) = (
            position["latitude"].as_f64().expect("lat"),
            position["longitude"].as_f64().expect("lon"),
        );
        // A read is placed where the unit was when its best frame was captured: interpolated
        // between the two fixes around that time, so on the drive between two logged fixes.
        // gpsfake plays the log in a loop (140 sentences at 40 ms: a lap every 5.6 s), so the last
        // fix before the log's lost stretch and the first one of the next lap are neighbours
        // too: a read made across the wrap lies between them.
        let mut fixes: Vec<_> = logged.values().collect();
        fixes.extend(fixes.first().copied());
        let between = |v: f64, a: f64, b: f64| v >= a.min(b) - 1e-7 && v <= a.max(b) + 1e-7;
        assert!(
            fixes.windows(2).any(|pair| between(lat, pair[0].latitude, pair[1].latitude)
                && between(lon, pair[0].longitude, pair[1].longitude)),
            "a position on the drive, between two fixes the log states: {position}"
        );
        let fix_time = position["fix_time"].as_str().expect("fix_time");
        assert!(logged.contains_key(fix_time), "the nearer fix is a logged one: {position}");
        assert!(position["age_ms"].as_u64().expect("age") <= 30_000);
    }
}
