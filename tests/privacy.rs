//! Privacy by design on real parts: blurred non-hit overviews of the real photographs that the
//! project's own detector and OCR can no longer read (while the same image as a hit still
//! reads), retention enforced on real files with an injected clock, the privacy sheet printed
//! by the binary checked against the policy, and the daemon's records under the privacy
//! defaults and with keyed hashes (the key never in its output).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use common::broker::Broker;
use common::records::{assert_follows_schema, json_lines, json_on};
use common::subscriber::Subscriber;

use anpr_edge::eval::ground_truth::load_folder;
use anpr_edge::frame::Frame;
use anpr_edge::geometry::BoundingBox;
use anpr_edge::imaging::encode_jpeg;
use anpr_edge::imaging::ImageConfig;
use anpr_edge::pipeline::evidence::{self, Evidence, Jpeg};
use anpr_edge::plate::{edit_distance, fold};
use anpr_edge::privacy::policy::{publish_plate, release, OverviewRelease};
use anpr_edge::privacy::retention::{RetentionConfig, Sweeper};
use anpr_edge::privacy::{
    Disposition, KeyedHashConfig, PlateTreatment, PrivacyConfig, Pseudonymiser,
};
use anpr_edge::recognizer::{RecognitionConfig, Recognizer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The overview as the pipeline sends it for `disposition` under `privacy`, from the evidence a
/// track keeps of the frame (`packed`: as it keeps it once a newer frame came), with the default
/// `[images]`; then decoded as the centre would.
fn sent_overview(
    recognizer: &mut Recognizer,
    image: &image::RgbImage,
    privacy: &PrivacyConfig,
    disposition: Disposition,
    packed: bool,
) -> Option<image::RgbImage> {
    let images = ImageConfig::default();
    let recognition = recognizer.recognize(image).expect("recognise the original");
    let plates: Arc<[BoundingBox]> = recognition
        .reads
        .iter()
        .map(|r| r.bbox)
        .chain(recognition.unread.iter().map(|d| d.bbox))
        .collect();
    let frame = Arc::new(Frame {
        seq: 0,
        media_time: None,
        captured_at: SystemTime::now(),
        monotonic: Duration::ZERO,
        origin: "test".into(),
        image: image.clone(),
    });
    // The crop is not looked at here: any box will do for the read's own.
    let read = plates.first().copied().unwrap_or(BoundingBox::from_xywh(0.0, 0.0, 1.0, 1.0));
    let mut evidence = Evidence::new(&frame, &plates, &read, &images);
    if packed {
        assert!(evidence::pack(std::iter::once(&mut evidence), &images).is_empty());
    }
    let jpeg = match release(privacy, &images, disposition).overview {
        OverviewRelease::None => return None,
        OverviewRelease::Clear => evidence.clear_overview(&images).expect("kept").expect("encoded"),
        OverviewRelease::Blurred { windscreen } => {
            let out = evidence.blurred_overview(&privacy.blur, windscreen);
            let out = out.expect("kept").expect("blurred");
            let (bytes, width, height) = encode_jpeg(
                &out,
                (0, 0, out.width(), out.height()),
                images.overview_max_width,
                images.jpeg_quality,
            )
            .expect("encode");
            Jpeg { bytes, width, height }
        }
    };
    Some(image::load_from_memory(&jpeg.bytes).expect("decode the JPEG sent").to_rgb8())
}

#[test]
fn no_plate_can_be_read_on_a_blurred_non_hit_while_the_hit_image_reads() {
    let Some(folder) = common::eval_images() else { return };
    let truth = load_folder(&folder).expect("ground truth");
    assert!(truth.len() >= 50, "the real photographs with their .txt ground truth");
    let mut recognizer = common::recognizer(&RecognitionConfig::default());
    let privacy = PrivacyConfig::with_purpose("test");
    let (mut plates, mut hit_read) = (0, 0);
    for image in &truth {
        let original = anpr_edge::source::decode_still(&image.image).expect("decode");
        let name = image.image.display();
        let texts: Vec<String> = image.plates.iter().map(|p| fold(&p.text)).collect();
        plates += texts.len();

        let hit = sent_overview(&mut recognizer, &original, &privacy, Disposition::Hit, true)
            .expect("a hit has an overview");
        let reads: Vec<String> = recognizer
            .recognize(&hit)
            .expect("recognise")
            .reads
            .iter()
            .map(|r| fold(&r.plate.text))
            .collect();
        hit_read += texts.iter().filter(|t| reads.contains(t)).count();

        // A read due on the frame it was made on goes from the whole frame, any later one from
        // the packed overview: both must hide every plate.
        for packed in [false, true] {
            let blurred =
                sent_overview(&mut recognizer, &original, &privacy, Disposition::NonHit, packed)
                    .expect("a non-hit has a blurred overview");
            let after = recognizer.recognize(&blurred).expect("recognise the blurred image");
            for read in &after.reads {
                for candidate in [&read.plate.text, &read.plate.ocr_text] {
                    let candidate = fold(candidate);
                    for t in &texts {
                        let d = edit_distance(&candidate, t);
                        assert!(d > 2, "{name} (packed {packed}): truth {t} still readable on the blurred overview as {candidate} (distance {d})");
                    }
                }
            }
        }
        let allowed =
            sent_overview(&mut recognizer, &original, &privacy, Disposition::Allowed, true);
        assert!(allowed.is_none(), "allowed: no image");
    }
    assert_eq!(hit_read, plates, "every truth plate is read on the overview sent for a hit");
}

#[test]
fn the_windscreen_option_blurs_more_and_keeps_the_plates_unreadable() {
    let Some(folder) = common::eval_images() else { return };
    let mut recognizer = common::recognizer(&RecognitionConfig::default());
    let mut privacy = PrivacyConfig::with_purpose("test");
    privacy.blur.windscreen = true;
    let original = anpr_edge::source::decode_still(&folder.join("eu7.jpg")).expect("decode");
    let plain = sent_overview(
        &mut recognizer,
        &original,
        &PrivacyConfig::with_purpose("test"),
        Disposition::NonHit,
        true,
    )
    .expect("overview");
    let more = sent_overview(&mut recognizer, &original, &privacy, Disposition::NonHit, true)
        .expect("overview");
    let changed = |a: &image::RgbImage, b: &image::RgbImage| {
        a.pixels()
            .zip(b.pixels())
            .filter(|(p, q)| p.0.iter().zip(q.0).any(|(x, y)| x.abs_diff(y) > 8))
            .count()
    };
    assert!(changed(&plain, &more) > 1000, "the windscreen region above the plate is blurred too");
    let truth = common::truth_of(&folder, "eu7.jpg");
    for read in recognizer.recognize(&more).expect("recognise").reads {
        assert!(edit_distance(&fold(&read.plate.text), &truth) > 2, "{}", read.plate.text);
    }
}

fn stored_at(path: &Path, at: SystemTime) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, b"jpeg").expect("write");
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(at)
        .expect("set mtime");
}

#[test]
fn retention_on_real_files_with_a_fake_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("evidence");
    let day = |n: u32| {
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(1_750_000_000)
            + Duration::from_secs(86_400) * n
    };
    let (old, recent, hit, old_hit) = (
        root.join("a/day0.jpg"),
        root.join("a/day2.jpg"),
        root.join("hits/day0.jpg"),
        root.join("hits/x/day-10.jpg"),
    );
    stored_at(&old, day(0));
    stored_at(&recent, day(2));
    stored_at(&hit, day(0));
    stored_at(&old_hit, day(0) - Duration::from_secs(86_400 * 10));
    let fresh = root.join("a/day20.jpg");
    stored_at(&fresh, day(20));
    let config = RetentionConfig {
        hit_days: Some(35),
        directories: vec![root.clone(), dir.path().join("not-made-yet")],
        ..RetentionConfig::default()
    };
    let sweeper = Sweeper::from_config(&config);

    let report = sweeper.sweep(day(31));
    assert!(!old.exists(), "day 0 is past 30 days at day 31");
    assert!(recent.exists(), "day 2 is kept");
    assert!(hit.exists(), "a hit of day 0 is within its own 35 days");
    assert!(!old_hit.exists(), "a hit of day -10 is past 35 days");
    assert_eq!(report.stores[0].deleted, 2);
    assert_eq!(report.stores[0].items, 3);
    assert_eq!(report.oldest(), Some(day(0)), "the oldest item held is the day-0 hit");
    assert_eq!(report.stores[1].items, 0, "a folder not made yet holds nothing and is no error");
    let status = report.status(day(31));
    assert_eq!(status["oldest_item_age_s"], 31 * 86_400);

    let later = sweeper.sweep(day(36));
    assert!(
        !hit.exists() && !recent.exists() && fresh.exists(),
        "at day 36 the hit (35 days) and day 2 (30 days) are gone"
    );
    assert_eq!(later.oldest(), Some(day(20)));
}

fn write_config(dir: &Path, source: &Path, privacy: &str) -> PathBuf {
    let path = dir.join("anpr-edge.toml");
    let text = format!("[device]\nid = \"dpia-box\"\n[device.site]\nname = \"Rue de la Loi\"\n[source]\nkind = \"file\"\npath = \"{}\"\n{privacy}", source.display());
    std::fs::write(&path, text).expect("config");
    path
}

#[test]
fn the_privacy_sheet_says_what_the_policy_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("plate.key");
    let secret = "9f".repeat(32);
    std::fs::write(&key, &secret).expect("key");
    let evidence = dir.path().join("evidence");
    let privacy = format!(
        "[privacy]\npurpose = \"Low-emission zone enforcement\"\nnon_hit_plate = \"keyed_hash\"\n[privacy.blur]\nwindscreen = true\n\
         [privacy.keyed_hash]\nkey_file = \"{}\"\nperiod_hours = 12\n[privacy.retention]\ndays = 14\nhit_days = 60\ndirectories = [\"{}\"]\n",
        key.display(),
        evidence.display()
    );
    let path = write_config(dir.path(), dir.path(), &privacy);
    let config = anpr_edge::config::Config::load(&path).expect("config");

    let output = common::binary()
        .args(["privacy-report", "--json", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let sheet: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON sheet");
    assert_eq!(sheet["purpose"], "Low-emission zone enforcement");
    let sample = anpr_edge::plate::PlateText {
        text: "X".into(),
        ocr_text: "X".into(),
        confidence: 0.5,
        char_confidences: vec![0.5],
        format: Some("BE".into()),
        region: Some(anpr_edge::plate::RegionGuess { name: "Belgium".into(), confidence: 0.5 }),
    };
    let pseudonymiser = Pseudonymiser::from_secret(&[0u8; 32], &KeyedHashConfig::default());
    let reads = sheet["reads"].as_array().expect("reads");
    assert_eq!(reads.len(), 3);
    for (entry, disposition) in reads.iter().zip(Disposition::ALL) {
        let expected = release(&config.privacy, &config.images, disposition);
        assert_eq!(
            entry["release"],
            serde_json::to_value(expected).expect("json"),
            "{disposition:?}"
        );
        let plate = serde_json::to_value(publish_plate(
            &expected,
            &sample,
            Some(&pseudonymiser),
            SystemTime::now(),
        ))
        .expect("json");
        let fields: Vec<String> = plate
            .as_object()
            .expect("object")
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| format!("plate.{k}"))
            .collect();
        assert_eq!(entry["plate_fields"], serde_json::json!(fields), "{disposition:?}");
        let images = entry["images"].as_array().expect("images");
        assert_eq!(
            images.iter().any(|i| i.as_str().is_some_and(|s| s.starts_with("overview"))),
            expected.overview != OverviewRelease::None
        );
        assert_eq!(
            images.iter().any(|i| i.as_str().is_some_and(|s| s.starts_with("plate crop"))),
            expected.plate_crop
        );
    }
    assert_eq!(expected_plate(&reads[1]), PlateTreatment::KeyedHash);
    assert_eq!(
        (sheet["retention"]["days"].as_u64(), sheet["retention"]["hit_days"].as_u64()),
        (Some(14), Some(60))
    );
    assert!(sheet["retention"]["stores"].to_string().contains(&evidence.display().to_string()));

    let text =
        common::binary().args(["privacy-report", "--config"]).arg(&path).output().expect("run");
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    for needle in [
        "Purpose: Low-emission zone enforcement",
        "replaced by a keyed hash",
        "every 12 h",
        "Retention: 14 days; hits 60 days",
        "windscreen",
        "images sent: none",
    ] {
        assert!(text.contains(needle), "sheet lacks `{needle}`:\n{text}");
    }
    assert!(
        !text.contains(&secret) && !String::from_utf8_lossy(&output.stdout).contains(&secret),
        "the sheet never shows the key"
    );
}

fn expected_plate(entry: &serde_json::Value) -> PlateTreatment {
    serde_json::from_value(entry["release"]["plate"].clone()).expect("treatment")
}

fn daemon_records(dir: &Path, privacy: &str) -> (Vec<serde_json::Value>, String, Vec<String>) {
    let folder = common::eval_images().expect("images");
    let (video, expected) = common::road_video(&folder, dir);
    let config = write_config(dir, &video, privacy);
    let output = common::binary()
        .env("ANPR_LOG", "debug")
        .args(["run", "--config"])
        .arg(config)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let records = json_lines(&output.stdout);
    (records, format!("{stdout}\n{stderr}"), expected)
}

#[test]
fn under_the_defaults_the_daemon_sends_no_plate_no_crop_and_a_blurred_overview() {
    if common::eval_images().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (records, output, expected) =
        daemon_records(dir.path(), "[privacy]\npurpose = \"Traffic counting\"\n");
    assert_eq!(records.len(), expected.len(), "one read per vehicle still: {output}");
    for record in &records {
        assert_follows_schema(record);
        assert_eq!(record["schema"], "anpr-edge/read/3");
        assert_eq!(record["purpose"], "Traffic counting");
        assert_eq!(
            (record["disposition"].as_str(), record["hit"].as_bool()),
            (Some("non_hit"), Some(false))
        );
        let plate = &record["plate"];
        for field in ["text", "pseudonym", "ocr_text", "char_confidences"] {
            assert!(plate[field].is_null(), "plate.{field} must not leave the device: {record}");
        }
        assert!(record["images"]["plate"].is_null(), "no crop of a non-hit: {record}");
        assert!(record["images"]["overview"]["bytes"].as_u64().expect("blurred overview") > 1000);
        let mut keys: Vec<String> = record
            .as_object()
            .expect("object")
            .keys()
            .filter(|k| *k != "plate" && *k != "images")
            .cloned()
            .collect();
        let mut sheet = anpr_edge::privacy_sheet::record_fields();
        keys.sort();
        sheet.sort();
        assert_eq!(keys, sheet, "the privacy sheet lists exactly the fields a record carries");
    }
    for t in &expected {
        assert!(!output.contains(t.as_str()), "plate {t} appears in the records or logs");
    }
}

#[test]
fn keyed_hashes_link_within_the_period_and_the_key_never_leaves() {
    if common::eval_images().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("plate.key");
    let secret = "5ec7e7".repeat(11);
    std::fs::write(&key, &secret).expect("key");
    let privacy = format!("[privacy]\npurpose = \"Journey times\"\nnon_hit_plate = \"keyed_hash\"\n[privacy.keyed_hash]\nkey_file = \"{}\"\n", key.display());
    let (records, output, expected) = daemon_records(dir.path(), &privacy);
    assert_eq!(records.len(), expected.len(), "{output}");
    let pseudonymiser =
        Pseudonymiser::load(&KeyedHashConfig { key_file: Some(key), period_hours: 24 })
            .expect("key");
    for (record, truth) in records.iter().zip(&expected) {
        assert_follows_schema(record);
        assert!(
            record["plate"]["text"].is_null() && record["plate"]["ocr_text"].is_null(),
            "{record}"
        );
        let pseudonym = &record["plate"]["pseudonym"];
        let captured: SystemTime =
            humantime::parse_rfc3339(record["captured_at"].as_str().expect("time")).expect("time");
        // The truth is folded (O = 0): the unit hashed what it read, one of the two spellings.
        let spellings = [truth.clone(), truth.replace('0', "O")];
        assert!(
            spellings.iter().any(|t| pseudonymiser.pseudonym(t, captured).value
                == pseudonym["value"].as_str().expect("value")),
            "the pseudonym is HMAC-SHA256 of the plate under the period key: {record}"
        );
        assert!(!output.contains(truth.as_str()), "plate {truth} leaked");
    }
    assert!(
        !output.contains(&secret) && !output.contains(&secret[..12]),
        "the key appears in the records or the logs"
    );
}

#[test]
fn the_daemon_enforces_retention_at_start_and_reports_the_oldest_item_held() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let evidence = dir.path().join("evidence");
    let now = SystemTime::now();
    let days_ago = |n: u64| {
        let t = now - Duration::from_secs(86_400 * n);
        // Whole seconds, so the time reported (ms) is exactly the file's.
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(
                t.duration_since(SystemTime::UNIX_EPOCH).expect("after 1970").as_secs(),
            )
    };
    let (old, recent, hit) =
        (evidence.join("old.jpg"), evidence.join("recent.jpg"), evidence.join("hits/old-hit.jpg"));
    stored_at(&old, days_ago(40));
    stored_at(&recent, days_ago(2));
    stored_at(&hit, days_ago(40));
    let broker = Broker::start(false);
    let subscriber = Subscriber::start(broker.port, "anpr/dpia-box/status");
    let (video, _) = common::road_video(&folder, dir.path());
    let privacy = format!(
        "[privacy]\npurpose = \"Retention test\"\n[privacy.retention]\nhit_days = 60\ndirectories = [\"{}\"]\n\
         [output]\nkind = \"mqtt\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\ninsecure_dev = true\n",
        evidence.display(),
        broker.port
    );
    let output = common::binary()
        .args(["run", "--config"])
        .arg(write_config(dir.path(), &video, &privacy))
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!old.exists(), "40 days old, past 30: deleted");
    assert!(recent.exists() && hit.exists(), "2 days old, and a hit within its 60 days: kept");

    let received = subscriber.wait_until(Duration::from_secs(10), |r| {
        r.iter().any(|(_, p, _)| String::from_utf8_lossy(p).contains("offline"))
    });
    let online: Vec<serde_json::Value> = json_on(&received, "anpr/dpia-box/status")
        .into_iter()
        .filter(|s| s["state"] == "online")
        .collect();
    assert!(!online.is_empty(), "no heartbeat");
    for status in online {
        assert_eq!(
            status["retention"]["oldest_item"],
            anpr_edge::time_format::rfc3339_ms(days_ago(40)),
            "{status}"
        );
        assert_eq!(status["retention"]["stores"][0]["items"], 2, "{status}");
    }
}
