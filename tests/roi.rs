//! Regions of interest on real photographs: a plate outside the regions is not reported, one
//! inside is reported exactly as without them; `roi preview` draws them over a real frame;
//! `check-config` names a region's mistake by its full key.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use anpr_edge::plate::PlateRead;
use anpr_edge::recognizer::RecognitionConfig;
use anpr_edge::roi::{RegionConfig, RoiConfig, Units};
use anpr_edge::source::decode_still;
use std::path::{Path, PathBuf};

/// Every tenth photograph of the folder in name order (not picked by hand), with its truth:
/// the plate's box (x, y, w, h) and text.
fn sample(folder: &Path) -> Vec<(PathBuf, [f32; 4], String)> {
    let mut photos: Vec<PathBuf> = std::fs::read_dir(folder)
        .expect("folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    photos.sort();
    photos
        .into_iter()
        .step_by(10)
        .map(|photo| {
            let truth = std::fs::read_to_string(photo.with_extension("txt")).expect("truth");
            let fields: Vec<&str> = truth.lines().next().expect("a line").split('\t').collect();
            let number = |i: usize| fields[i].trim().parse::<f32>().expect("a number");
            let bbox = [number(1), number(2), number(3), number(4)];
            (photo, bbox, fields[5].trim().to_string())
        })
        .collect()
}

fn pixels(name: &str, points: Vec<[f32; 2]>) -> RoiConfig {
    RoiConfig { regions: vec![RegionConfig { name: name.into(), units: Units::Pixels, points }] }
}

/// The plate's box grown by its own width and height on each side.
fn around([x, y, w, h]: [f32; 4]) -> RoiConfig {
    let (x1, y1, x2, y2) = ((x - w).max(0.0), (y - h).max(0.0), x + 2.0 * w, y + 2.0 * h);
    pixels("around", vec![[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
}

/// The half of the frame (left or right) that does not hold the plate's centre.
fn away([x, _, w, _]: [f32; 4], width: u32, height: u32) -> RoiConfig {
    let (width, height, middle) = (width as f32, height as f32, width as f32 / 2.0);
    let (x1, x2) = if x + w / 2.0 < middle { (middle, width) } else { (0.0, middle) };
    pixels("away", vec![[x1, 0.0], [x2, 0.0], [x2, height], [x1, height]])
}

fn fold(read: &PlateRead) -> String {
    anpr_edge::plate::fold(&read.plate.text)
}

#[test]
fn a_plate_outside_the_regions_is_not_reported_and_one_inside_is_reported_as_without_them() {
    let Some(folder) = common::eval_images() else { return };
    let mut recognizer = common::recognizer(&RecognitionConfig::default());
    let mut read_without = 0;
    for (photo, truth_box, truth) in sample(&folder) {
        let image = decode_still(&photo).expect("decode");
        let truth = anpr_edge::plate::fold(&truth);
        recognizer = recognizer.within(RoiConfig::default());
        let without = recognizer.recognize(&image).expect("recognised");
        assert_eq!(without.outside_roi, 0, "no regions: nothing is outside");

        let inside = around(truth_box);
        let regions = inside.for_frame(image.width(), image.height()).expect("regions");
        recognizer = recognizer.within(inside.clone());
        let within = recognizer.recognize(&image).expect("recognised");
        let expected: Vec<&PlateRead> =
            without.reads.iter().filter(|r| regions.keeps(&r.bbox)).collect();
        let texts = |reads: &[&PlateRead]| reads.iter().map(|r| fold(r)).collect::<Vec<_>>();
        let got: Vec<&PlateRead> = within.reads.iter().collect();
        assert_eq!(texts(&got), texts(&expected), "{}", photo.display());
        for (a, b) in got.iter().zip(&expected) {
            assert_eq!(a.bbox, b.bbox, "{}", photo.display());
            assert!((a.plate.confidence - b.plate.confidence).abs() < 1e-3, "{}", photo.display());
        }
        if without.reads.iter().any(|r| fold(r) == truth) {
            read_without += 1;
            assert!(texts(&got).contains(&truth), "{}: {truth} lost inside", photo.display());
        }

        recognizer = recognizer.within(away(truth_box, image.width(), image.height()));
        let elsewhere = recognizer.recognize(&image).expect("recognised");
        assert!(
            elsewhere.reads.iter().all(|r| fold(r) != truth),
            "{}: {truth} reported from outside the regions",
            photo.display()
        );
        if without.reads.iter().any(|r| fold(r) == truth) {
            assert!(elsewhere.outside_roi >= 1, "{}: counted", photo.display());
        }
    }
    assert!(read_without >= 5, "the sample must hold plates that are read: {read_without}");
}

fn write_roi(dir: &Path, body: &str) -> PathBuf {
    let file = dir.join("roi.toml");
    std::fs::write(&file, body).expect("write");
    file
}

#[test]
fn replay_with_roi_drops_the_plate_outside_and_counts_it() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // eu3.jpg's plate is at x 348..439 of a 480 px wide photograph: the left third misses it.
    let roi = "[[roi.regions]]\nname = \"left\"\nunits = \"fraction\"\npoints = [[0, 0], [0.33, 0], [0.33, 1], [0, 1]]\n";
    let file = write_roi(dir.path(), roi);
    let photo = folder.join("eu3.jpg");
    let run = |extra: &[&std::ffi::OsStr]| {
        let output = common::binary()
            .arg("replay")
            .arg(&photo)
            .arg("--json")
            .args(extra)
            .output()
            .expect("replay");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let without = run(&[]);
    assert!(without.contains("FWE50") && !without.contains("plates_outside_roi"), "{without}");
    let with = run(&["--roi".as_ref(), file.as_os_str()]);
    assert!(!with.contains("FWE50"), "{with}");
    assert!(with.contains("\"plates_outside_roi\":1"), "{with}");
}

#[test]
fn roi_preview_draws_the_regions_over_a_real_frame() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let photo = folder.join("eu3.jpg");
    let input = decode_still(&photo).expect("decode");
    let roi = "[[roi.regions]]\nname = \"lane 1\"\nunits = \"fraction\"\npoints = [[0.2, 0.4], [0.8, 0.4], [0.95, 0.95], [0.05, 0.95]]\n";
    // The unit's own configuration: its source gives the frame.
    let config = format!(
        "[device]\nid = \"box-1\"\n[device.site]\nname = \"test\"\n[source]\nkind = \"file\"\npath = \"{}\"\n[privacy]\npurpose = \"test\"\n{roi}",
        photo.display()
    );
    let file = write_roi(dir.path(), &config);
    let out = dir.path().join("preview.png");
    let output = common::binary()
        .args(["roi", "preview", "--config"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("roi preview");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let drawn = image::open(&out).expect("a picture").to_rgb8();
    assert_eq!(drawn.dimensions(), input.dimensions());
    let (w, h) = (input.width() as f32, input.height() as f32);
    let at = |fx: f32, fy: f32| ((fx * w) as u32, (fy * h) as u32);
    let (x, y) = at(0.5, 0.8);
    assert_ne!(drawn.get_pixel(x, y), input.get_pixel(x, y), "inside the outline: tinted");
    let (x, y) = at(0.5, 0.1);
    assert_eq!(drawn.get_pixel(x, y), input.get_pixel(x, y), "outside: the frame as it was");

    // --frame takes the picture from elsewhere; a file with only [roi] will do.
    let file = write_roi(dir.path(), roi);
    let other = folder.join("eu7.jpg");
    let output = common::binary()
        .args(["roi", "preview", "--config"])
        .arg(&file)
        .arg("--frame")
        .arg(&other)
        .arg("--out")
        .arg(dir.path().join("other.jpg"))
        .output()
        .expect("roi preview");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let drawn = image::open(dir.path().join("other.jpg")).expect("a JPEG").to_rgb8();
    assert_eq!(drawn.dimensions(), decode_still(&other).expect("decode").dimensions());
}

#[test]
fn check_config_names_a_bad_region_by_its_full_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "[device]\nid = \"box-1\"\n[device.site]\nname = \"test\"\n[source]\nkind = \"file\"\npath = \"{}\"\n[privacy]\npurpose = \"test\"\n[[roi.regions]]\nname = \"lane 1\"\nunits = \"fraction\"\npoints = [[0.1, 0.5], [0.9, 0.5]]\n",
        env!("CARGO_MANIFEST_DIR")
    );
    let file = write_roi(dir.path(), &config);
    let output = common::binary().arg("check-config").arg(&file).output().expect("check-config");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("roi.regions[0].points") && stderr.contains("2 points"), "{stderr}");
}
