//! A patrol car's camera: `anpr-edge run` on a moving-camera video made from the real
//! photographs (tests/common/moving.rs) reads each vehicle exactly once and no phantom; and the
//! figures of benches/mobile.sh (an ignored test here, so it shares the material and the scoring).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use common::moving::{self, Material, Score};
use common::records::json_lines;
use std::path::Path;
use std::time::Instant;

/// What one run of the daemon over a clip gave.
struct Run {
    texts: Vec<String>,
    phantoms_suppressed: u64,
    seconds: f64,
}

fn run(dir: &Path, video: &Path, fusion: &str) -> Run {
    let config = dir.join("mobile.toml");
    let text = format!(
        "[device]\nid = \"patrol-7\"\n[device.site]\nname = \"patrol car\"\n\
         [source]\nkind = \"file\"\npath = \"{}\"\n[privacy]\npurpose = \"mobile test\"\n\
         non_hit_plate = \"clear\"\n[images]\noverview = false\nplate_crop = false\n\
         [fusion]\n{fusion}\n",
        video.display()
    );
    std::fs::write(&config, text).expect("write config");
    let started = Instant::now();
    let output = common::binary()
        .args(["run", "--config"])
        .arg(&config)
        .env("ANPR_LOG", "info")
        .output()
        .expect("run anpr-edge");
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let texts = json_lines(&output.stdout)
        .iter()
        .map(|record| record["plate"]["text"].as_str().expect("plate text").to_string())
        .collect();
    // The daemon's last words carry its counters.
    let phantoms_suppressed = stderr
        .rsplit("\"phantoms_suppressed\":")
        .next()
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect("phantoms_suppressed in the final stats");
    Run { texts, phantoms_suppressed, seconds }
}

fn scored(material: &Material, run: &Run) -> Score {
    moving::score(&run.texts, &material.vehicles)
}

#[test]
fn a_moving_camera_reads_each_vehicle_once_and_no_phantom() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let drive = moving::drive_video(&folder, dir.path());
    let run = run(dir.path(), &drive.video, "camera = \"moving\"");
    let score = scored(&drive, &run);
    assert_eq!(
        (score.vehicles_read_once, score.duplicates, score.phantoms),
        (drive.vehicles.len(), 0, 0),
        "each vehicle once, nothing else: {score:?}\nread {:?}\nexpected {:?}",
        run.texts,
        drive.vehicles
    );
}

/// benches/mobile.sh: the figures for the moving drive and for the fixed road, written as one
/// JSON object to the file `MOBILE_BENCH_OUT` names. The material is rendered into the folder
/// `MOBILE_MATERIAL` names when set (kept, to replay by hand), else into a temporary one.
#[test]
#[ignore = "a bench: benches/mobile.sh runs it"]
fn mobile_bench() {
    let Some(folder) = common::eval_images() else { return };
    let out = std::env::var_os("MOBILE_BENCH_OUT").expect("MOBILE_BENCH_OUT: where the figures go");
    let dir = tempfile::tempdir().expect("tempdir");
    let material = std::env::var_os("MOBILE_MATERIAL").map_or(dir.path().to_path_buf(), Into::into);
    let started = Instant::now();
    let drive = moving::drive_video(&folder, &material);
    let road = moving::approaching_road_video(&folder, &material);
    let render_s = started.elapsed().as_secs_f64();
    let every_read = "confirm_frames = 1\nconfirm_frames_unformatted = 1\nconfirm_confidence = 0.0\nmin_confidence = 0.0\nmin_plate_width_px = 0\nmin_chars = 1";
    let figures = |material: &Material, fusion: &str| {
        let run = run(dir.path(), &material.video, fusion);
        let score = scored(material, &run);
        eprintln!("{fusion:?}: {score:?} read {:?}", run.texts);
        serde_json::json!({
            "fusion": fusion,
            "score": score,
            "phantoms_suppressed": run.phantoms_suppressed,
            "fps": material.frames as f64 / run.seconds,
        })
    };
    let moving_default = figures(&drive, "camera = \"moving\"");
    let moving_fixed = figures(&drive, "camera = \"fixed\"");
    let moving_today = figures(&drive, &format!("camera = \"fixed\"\n{every_read}"));
    let road_after = figures(&road, "camera = \"fixed\"");
    let road_before = figures(&road, &format!("camera = \"fixed\"\n{every_read}"));
    let headline = &moving_default["score"];
    let json = serde_json::json!({
        "vehicles_expected": headline["vehicles_expected"],
        "vehicles_read_once": headline["vehicles_read_once"],
        "duplicates": headline["duplicates"],
        "phantoms": headline["phantoms"],
        "missed": headline["missed"],
        "frames": drive.frames,
        "fps": moving_default["fps"],
        "render_s": render_s,
        "drive": {
            "moving": moving_default,
            "fixed_fusion": moving_fixed,
            "fixed_fusion_every_read": moving_today,
        },
        "fixed_road": {
            "frames": road.frames,
            "phantom_suppression": road_after,
            "every_read": road_before,
        },
    });
    std::fs::write(out, json.to_string()).expect("write the figures");
}
