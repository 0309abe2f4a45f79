//! Replay through real sources: a video built from real photographs, folders with bad files.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use anpr_edge::recognizer::RecognitionConfig;
use anpr_edge::replay::{replay, ReplayEvent};
use anpr_edge::source::{self, decode_still};
use common::records::json_lines;
use std::collections::BTreeSet;

/// Three real photographs, each held for five frames.
const CLIP: [&str; 3] = ["eu3.jpg", "eu7.jpg", "test_004.jpg"];

/// The `CLIP` photographs, five frames each at 10 frames/s, as an H.264 video in `dir`.
fn write_clip(folder: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    let video = dir.join("clip.mp4");
    let images: Vec<_> =
        CLIP.iter().map(|name| decode_still(&folder.join(name)).expect("decode")).collect();
    common::write_video(&video, &images, 5, 1280, 960, 10.0);
    video
}

#[test]
fn a_video_of_real_plates_is_replayed_frame_by_frame() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let video = write_clip(&folder, dir.path());

    let mut source = source::open(&video).expect("open video");
    assert_eq!(source.len_hint(), Some(15));
    let mut recognizer = common::recognizer(&RecognitionConfig::default());
    let mut texts = BTreeSet::new();
    let mut frame_numbers = Vec::new();
    let mut media_times = Vec::new();
    let summary = replay(source.as_mut(), &mut recognizer, |event| {
        if let ReplayEvent::Frame { frame, recognition, .. } = event {
            frame_numbers.push(frame.seq);
            media_times.push(frame.media_time.expect("a video frame has a media time"));
            texts.extend(recognition.reads.iter().map(|r| anpr_edge::plate::fold(&r.plate.text)));
        }
    });
    assert_eq!(summary.frames, 15);
    assert_eq!(summary.failed_frames, 0);
    assert_eq!(frame_numbers, (0..15).collect::<Vec<u64>>(), "frames numbered in order, none lost");
    assert!(media_times.windows(2).all(|w| w[0] < w[1]), "media time increases: {media_times:?}");
    for name in CLIP {
        let truth = common::truth_of(&folder, name);
        assert!(
            texts.contains(&truth),
            "{truth} (from {name}) not read in the video; read {texts:?}"
        );
    }
}

#[test]
fn a_damaged_stretch_of_a_video_costs_the_frames_it_spoils_not_the_rest() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let video = write_clip(&folder, dir.path());
    // Garbage over the middle of the file: the second car's frames, as a failing card would
    // leave them. The container's index (at the end, ffmpeg's default) stays whole.
    let mut bytes = std::fs::read(&video).expect("read");
    let (from, to) = (bytes.len() * 2 / 5, bytes.len() / 2);
    bytes[from..to].iter_mut().enumerate().for_each(|(i, b)| *b = (i * 151 % 251) as u8);
    std::fs::write(&video, bytes).expect("write");

    let mut source = source::open(&video).expect("a damaged video still opens");
    let mut recognizer = common::recognizer(&RecognitionConfig::default());
    let mut texts = BTreeSet::new();
    let summary = replay(source.as_mut(), &mut recognizer, |event| {
        if let ReplayEvent::Frame { recognition, .. } = event {
            texts.extend(recognition.reads.iter().map(|r| anpr_edge::plate::fold(&r.plate.text)));
        }
    });
    assert!(summary.frames >= 10, "the frames around the damage are read: {summary:?}");
    for name in [CLIP[0], CLIP[CLIP.len() - 1]] {
        let truth = common::truth_of(&folder, name);
        assert!(
            texts.contains(&truth),
            "{truth} ({name}, clear of the damage) not read: {texts:?}"
        );
    }
}

#[test]
fn a_corrupt_image_in_a_folder_costs_that_image_only() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(folder.join("eu3.jpg"), dir.path().join("a.jpg")).expect("copy");
    let mut truncated = std::fs::read(folder.join("eu7.jpg")).expect("read");
    truncated.truncate(600);
    std::fs::write(dir.path().join("b.jpg"), truncated).expect("write");
    std::fs::write(dir.path().join("c.jpg"), b"this is no jpeg").expect("write");
    std::fs::copy(folder.join("test_004.jpg"), dir.path().join("d.jpg")).expect("copy");

    let output = common::binary().args(["replay", "--json"]).arg(dir.path()).output().expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let lines = json_lines(&output.stdout);
    let summary = &lines.last().expect("summary")["summary"];
    assert_eq!(summary["frames"], 2, "{stdout}");
    assert_eq!(summary["failed_frames"], 2, "{stdout}");
    let origins: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l["origin"].as_str())
        .map(|o| o.rsplit('/').next().unwrap_or(o).to_string())
        .collect();
    assert_eq!(origins, ["a.jpg", "d.jpg"].iter().map(|s| s.to_string()).collect());
    assert!(
        stderr.contains("c.jpg") && stderr.contains("b.jpg"),
        "each bad image is named: {stderr}"
    );
}

fn failure(args: &[&str], path: &std::path::Path) -> String {
    let output = common::binary().args(args).arg(path).output().expect("run");
    assert!(!output.status.success(), "expected failure for {}", path.display());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_paths_give_one_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = failure(&["replay"], &dir.path().join("nope.mp4"));
    assert!(e.contains("nope.mp4") && e.contains("no such file"), "{e}");
    let e = failure(&["replay"], dir.path());
    assert!(e.contains("holds no images"), "{e}");
    let video = dir.path().join("broken.mp4");
    std::fs::write(&video, vec![0u8; 4096]).expect("write");
    let e = failure(&["replay"], &video);
    assert!(e.contains("broken.mp4") && e.contains("not a video"), "{e}");
    let e = failure(&["eval"], dir.path());
    assert!(e.contains("no IMG.jpg"), "{e}");
}

#[test]
fn a_missing_or_altered_model_is_named_with_its_hash() {
    let Some(folder) = common::eval_images() else { return };
    let image = folder.join("eu3.jpg");
    let manifest = anpr_edge::models::Manifest::bundled().expect("manifest");
    let detector = manifest
        .entry(anpr_edge::detect::DetectorConfig::default().model.manifest_id())
        .expect("entry");
    let models = tempfile::tempdir().expect("tempdir");
    let output = common::binary()
        .env("ANPR_MODELS_DIR", models.path())
        .arg("replay")
        .arg(&image)
        .output()
        .expect("run");
    let e = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        e.contains(&detector.file) && e.contains(&detector.sha256) && e.contains("missing"),
        "{e}"
    );

    let installed = common::models_dir();
    for entry in &manifest.models {
        if installed.join(&entry.file).exists() {
            std::fs::copy(installed.join(&entry.file), models.path().join(&entry.file))
                .expect("copy");
        }
    }
    let mut bytes = std::fs::read(installed.join(&detector.file)).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(models.path().join(&detector.file), bytes).expect("write");
    let output = common::binary()
        .env("ANPR_MODELS_DIR", models.path())
        .arg("replay")
        .arg(&image)
        .output()
        .expect("run");
    let e = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        e.contains(&detector.file) && e.contains(&detector.sha256) && e.contains("corrupt"),
        "{e}"
    );
}

/// `anpr-edge eval --json --report REPORT FOLDER`, which must succeed: its one JSON object.
fn eval_json(folder: &std::path::Path, report: &std::path::Path) -> serde_json::Value {
    let output = common::binary()
        .args(["eval", "--json", "--report"])
        .arg(report)
        .arg(folder)
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    serde_json::from_str(&stdout).expect("one JSON object")
}

#[test]
fn eval_json_has_the_documented_keys() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["eu3.jpg", "eu7.jpg"] {
        std::fs::copy(folder.join(name), dir.path().join(name)).expect("copy");
        let txt = std::path::Path::new(name).with_extension("txt");
        std::fs::copy(folder.join(&txt), dir.path().join(&txt)).expect("copy");
    }
    let report = dir.path().join("report.html");
    let summary = eval_json(dir.path(), &report);
    for key in ["images", "plates", "exact", "char_accuracy", "det_recall", "ms_median", "ms_p95"] {
        assert!(summary.get(key).is_some(), "missing key {key}: {summary}");
    }
    assert_eq!(summary["images"], 2);
    assert!(summary["ms_median"].as_f64().expect("ms") > 0.0);
    assert_eq!(summary["configuration"]["ocr"]["ensemble"]["mode"], "cascade", "{summary}");
    assert!(summary["countries"].as_array().is_some_and(|c| !c.is_empty()), "{summary}");
    let html = std::fs::read_to_string(&report).expect("report written");
    assert!(html.contains("<h1>anpr-edge evaluation"));
    assert!(html.contains("Per country") && html.contains("Confusions"));
}

/// A plain 1280×960 road with `photo` scaled by `scale` pasted with its top left at `at`.
fn on_the_road(photo: &image::RgbImage, scale: f32, at: (i64, i64)) -> image::RgbImage {
    let (w, h) = (photo.width() as f32 * scale, photo.height() as f32 * scale);
    let car =
        image::imageops::resize(photo, w as u32, h as u32, image::imageops::FilterType::Triangle);
    let mut road = image::RgbImage::from_pixel(1280, 960, image::Rgb([96, 96, 96]));
    image::imageops::overlay(&mut road, &car, at.0, at.1);
    road
}

/// The photograph of `name` 960 px wide in the middle of the road (a car at the stop line),
/// and where its plate's box lies on the road.
fn at_the_stop_line(folder: &std::path::Path, name: &str) -> (image::RgbImage, [f32; 4]) {
    let photo = decode_still(&folder.join(name)).expect("decode");
    let scale = 960.0 / photo.width() as f32;
    let text = std::fs::read_to_string(folder.join(name).with_extension("txt")).expect("truth");
    let numbers: Vec<f32> =
        text.split('\t').skip(1).take(4).map(|f| f.parse().expect("box")).collect();
    let plate = [
        160.0 + numbers[0] * scale,
        120.0 + numbers[1] * scale,
        numbers[2] * scale,
        numbers[3] * scale,
    ];
    (on_the_road(&photo, scale, (160, 120)), plate)
}

/// Renders of what the real clips do not hold, scored by `eval` on video as `run` would take
/// them:
/// - a queue at a barrier: three real cars stop at the same spot one after another, 2 s each,
///   with no empty frame between them, each plate's box on the last one's: one vehicle each,
///   and the next car is no cut (the road around it stays);
/// - a far car whose plate is 24 px wide, too small to read: no report;
/// - a plate a third hidden (by a post) for 2 s, then whole for 1 s: one vehicle, its whole
///   text, never the piece read on more frames.
#[test]
fn a_queue_a_far_plate_and_a_half_hidden_one_are_scored_by_eval_on_video() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let label = |clip: &str, names: &[&str]| {
        let lines: String = names
            .iter()
            .map(|name| format!("{clip}\t0\t0\t1280\t960\t{}\n", common::plate_of(&folder, name)))
            .collect();
        std::fs::write(dir.path().join(clip).with_extension("txt"), lines).expect("labels");
    };
    let queue: Vec<_> = CLIP.iter().map(|name| at_the_stop_line(&folder, name).0).collect();
    common::write_video(&dir.path().join("queue.mp4"), &queue, 20, 1280, 960, 10.0);
    label("queue.mp4", &CLIP);

    let photo = decode_still(&folder.join("test_004.jpg")).expect("decode");
    let far = on_the_road(&photo, 24.0 / 134.0, (600, 400));
    common::write_video(&dir.path().join("far.mp4"), &[far], 30, 1280, 960, 10.0);
    label("far.mp4", &[]);

    let (whole, [x, y, w, h]) = at_the_stop_line(&folder, "eu7.jpg");
    let mut hidden = whole.clone();
    let post =
        image::RgbImage::from_pixel((w * 0.35) as u32, (h * 2.0) as u32, image::Rgb([40, 40, 40]));
    image::imageops::overlay(&mut hidden, &post, (x + w * 0.65) as i64, (y - h * 0.5) as i64);
    let hidden_clip = dir.path().join("hidden.mp4");
    // The first five characters, read clearly on twice as many frames as the whole plate.
    common::write_video_frames(&hidden_clip, &[hidden, whole], &[20, 10], 1280, 960, 10.0);
    label("hidden.mp4", &["eu7.jpg"]);

    let report = dir.path().join("report.html");
    let summary = eval_json(dir.path(), &report);
    let counts: Vec<u64> = ["clips", "vehicles", "read_once", "missed", "duplicates", "phantoms"]
        .iter()
        .map(|k| summary[*k].as_u64().unwrap_or(u64::MAX))
        .collect();
    assert_eq!(counts, [3, 4, 4, 0, 0, 0], "{summary}");
    assert!(summary["fps"].as_f64().is_some_and(|f| f > 0.0), "{summary}");
    let html = std::fs::read_to_string(&report).expect("report");
    assert!(html.contains("4 read once"), "{html}");
}
