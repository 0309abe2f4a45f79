//! `anpr-edge run` end to end on a recorded video of real plates, and its refusals of bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use common::records::{assert_follows_schema, folded_texts, json_lines};
use std::path::Path;
use std::process::Command;

fn config(dir: &Path, source: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("anpr-edge.toml");
    let text = format!(
        "[device]\nid = \"test-box\"\n[device.site]\nname = \"test site\"\n\
         [source]\nkind = \"file\"\npath = \"{}\"\n[privacy]\npurpose = \"daemon test\"\n{extra}",
        source.display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// `anpr-edge check-config FLAGS CONFIG`, run bare (no models folder named), as an installer
/// checks a configuration before the unit is started.
fn check_config(flags: &[&str], config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_anpr-edge"))
        .arg("check-config")
        .args(flags)
        .arg(config)
        .output()
        .expect("run anpr-edge check-config")
}

fn run(config: &Path) -> std::process::Output {
    common::binary().args(["run", "--config"]).arg(config).output().expect("run anpr-edge")
}

#[test]
fn a_recorded_video_gives_exactly_one_read_per_vehicle() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // Fusion must join the frames of each car into one read and must not join different cars.
    let (video, expected) = common::road_video(&folder, dir.path());
    // The texts and crops are what this test checks, so it asks for them; what the privacy
    // defaults let out is checked by the next tests.
    let output =
        run(&config(dir.path(), &video, "non_hit_plate = \"clear\"\nnon_hit_plate_crop = true\n"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let records = json_lines(&output.stdout);
    assert_eq!(folded_texts(&records), expected, "one read per vehicle, in order of passing");

    let mut ids = std::collections::BTreeSet::new();
    for record in &records {
        assert_follows_schema(record);
        assert!(
            ids.insert(record["read_id"].as_str().expect("id").to_string()),
            "read ids are unique"
        );
        assert!(
            record["frames"].as_u64().expect("frames") >= 6,
            "fused over the frames the car was in view: {record}"
        );
        assert_eq!(record["device_id"], "test-box");
        assert!(record["images"]["overview"]["bytes"].as_u64().expect("overview") > 1000);
        assert!(record["images"]["plate"]["sha256"].as_str().expect("crop").len() == 64);
    }
}

#[test]
fn bad_configurations_give_one_clear_error_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, &str, &str); 4] = [
        ("[fusion]\nmax_dealy_ms = 100\n", "max_dealy_ms", "unknown key"),
        ("[pipeline]\nframe_queue = 0\n", "pipeline.frame_queue", "bad value"),
        (
            "[runtime]\nmodels_dir = \"/nonexistent/models\"\n",
            "/nonexistent/models",
            "missing models",
        ),
        ("[recognition.detector]\nmodel = \"yolo-v99\"\n", "yolo-v99", "unknown model"),
    ];
    for (extra, needle, what) in cases {
        let output = run(&config(dir.path(), dir.path(), extra));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{what}: accepted");
        assert!(stderr.contains(needle), "{what}: {stderr}");
        assert!(stderr.contains("anpr-edge: error:"), "{what}: {stderr}");
    }
    let output = run(&config(dir.path(), &dir.path().join("missing.mp4"), ""));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("source.path") && stderr.contains("missing.mp4"), "{stderr}");
}

#[test]
fn check_config_prints_the_effective_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config(dir.path(), dir.path(), "");
    let output = check_config(&[], &path);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        stdout.contains("valid") && stdout.contains("max_delay_ms = 3000"),
        "defaults are shown: {stdout}"
    );
    let quiet = check_config(&["--quiet"], &path);
    assert!(
        quiet.status.success() && quiet.stdout.is_empty() && quiet.stderr.is_empty(),
        "{quiet:?}"
    );
    std::fs::write(&path, "[device]\nid = \"\"\n").expect("write");
    let invalid = check_config(&["--quiet"], &path);
    assert!(
        !invalid.status.success()
            && String::from_utf8_lossy(&invalid.stderr).contains("anpr-edge.toml"),
        "the error still names the file: {invalid:?}"
    );
}

#[test]
fn check_config_reports_every_mistake_at_once_each_with_its_key_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Three independent mistakes in three sections.
    let extra =
        "[pipeline]\nframe_queue = 0\n[images]\njpeg_quality = 0\n[position]\ngpsd_port = 0\n";
    let path = config(dir.path(), dir.path(), extra);
    let output = check_config(&[], &path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "accepted: {stderr}");
    assert!(stderr.contains("3 problems"), "{stderr}");
    for line in [
        "pipeline.frame_queue: is 0; must be at least 1",
        "images.jpeg_quality: 0 is outside 1..100; give 1 to 100",
        "position.gpsd_port: is 0; give gpsd's TCP port",
    ] {
        assert!(stderr.contains(line), "missing {line:?} in {stderr}");
    }

    // A required key left out is named by its own full path, with the fix.
    let text = std::fs::read_to_string(&path).expect("read");
    let without_site: String = {
        let start = text.find("[device.site]").expect("a site table");
        let end = text[start + 1..].find("\n[").map_or(text.len(), |i| start + 1 + i + 1);
        format!("{}{}", &text[..start], &text[end..])
    };
    std::fs::write(&path, without_site).expect("write");
    let output = check_config(&[], &path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("device.site: is missing; add it"), "{stderr}");
}

#[test]
fn check_config_reports_a_bad_device_id_and_qos_beside_the_other_mistakes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = "[pipeline]\nframe_queue = 0\n[output]\nkind = \"mqtt\"\n[mqtt]\nhost = \"b\"\ninsecure_dev = true\nqos = 0\n";
    let path = config(dir.path(), dir.path(), extra);
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("id = \"test-box\"", "id = \"fleet\"")).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_anpr-edge"))
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "accepted: {stderr}");
    assert!(stderr.contains("3 problems"), "{stderr}");
    for line in [
        "device.id: `fleet` is reserved for the fleet-wide topics",
        "pipeline.frame_queue: is 0; must be at least 1",
        "mqtt.qos: 0 is not 1 or 2; give 1",
    ] {
        assert!(stderr.contains(line), "missing {line:?} in {stderr}");
    }
}

#[test]
fn a_camera_path_that_is_not_a_v4l2_device_is_one_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let regular = dir.path().join("video0");
    std::fs::write(&regular, b"not a device").expect("write");
    for (device, needle) in [
        (regular.as_path(), "is not a device file"),
        (Path::new("/dev/null"), "is not a V4L2 device"),
        (Path::new("/dev/video-nope"), "No such file"),
    ] {
        let path = dir.path().join("camera.toml");
        std::fs::write(
            &path,
            format!("[device]\nid = \"cam-box\"\n[device.site]\nname = \"x\"\n[privacy]\npurpose = \"test\"\n[source]\nkind = \"camera\"\ndevice = \"{}\"\n", device.display()),
        )
        .expect("config");
        let output = run(&path);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(
            stderr.contains(&device.display().to_string()) && stderr.contains(needle),
            "{stderr}"
        );
        assert_eq!(
            stderr.lines().filter(|l| l.contains("error")).count(),
            1,
            "one error line: {stderr}"
        );
    }
}
