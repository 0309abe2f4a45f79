//! What the integration tests share: where the real models, runtime and images are.
#![allow(dead_code)] // each test crate uses its own subset of these helpers

use anpr_edge::recognizer::{RecognitionConfig, Recognizer};
use anpr_edge::runtime::{self, RuntimeOptions};
use std::path::PathBuf;

/// `../shared` beside the project: real images and models. Absent on a bare checkout, where the
/// tests that need it say so and pass; in CI (`CI` set) its absence is a failure.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{} is missing: CI must run these tests on the real data", dir.display());
    }
    eprintln!("SKIPPED: {} is absent, so this test has no real images to run on", dir.display());
    None
}

pub fn eval_images() -> Option<PathBuf> {
    shared_dir().map(|d| d.join("data/openalpr-eu-dev"))
}

/// The installed models (scripts/setup.sh), or ANPR_MODELS_DIR.
pub fn models_dir() -> PathBuf {
    let explicit = std::env::var_os("ANPR_MODELS_DIR").map(PathBuf::from);
    anpr_edge::models::locate_folder(explicit.as_deref())
        .expect("models folder: run scripts/setup.sh")
}

pub fn runtime_options() -> RuntimeOptions {
    RuntimeOptions {
        library: std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from),
        threads: 2,
        spin: false,
    }
}

pub fn recognizer(config: &RecognitionConfig) -> Recognizer {
    let environment =
        runtime::init(&runtime_options()).expect("ONNX Runtime: run scripts/setup.sh");
    Recognizer::load(&environment, &models_dir(), config).expect("models load")
}

/// The anpr-edge binary built for these tests.
pub fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_anpr-edge"));
    command.env("ANPR_MODELS_DIR", models_dir());
    command
}

/// Writes `images` (each shown for `frames_each` frames, scaled onto a `width` × `height`
/// canvas) into an H.264 video at `path` with the `ffmpeg` command (scripts/setup.sh).
pub fn write_video(
    path: &std::path::Path,
    images: &[image::RgbImage],
    frames_each: usize,
    width: u32,
    height: u32,
    fps: f64,
) {
    write_video_frames(path, images, &vec![frames_each; images.len()], width, height, fps)
}

/// Like [`write_video`], showing image `i` for `frames[i]` frames.
pub fn write_video_frames(
    path: &std::path::Path,
    images: &[image::RgbImage],
    frames: &[usize],
    width: u32,
    height: u32,
    fps: f64,
) {
    let scaled = images.iter().zip(frames).flat_map(|(rgb, &frames_each)| {
        let scaled =
            image::imageops::resize(rgb, width, height, image::imageops::FilterType::Triangle);
        std::iter::repeat_n(scaled, frames_each)
    });
    write_video_stream(path, scaled, width, height, fps)
}

/// Writes `frames` (each `width` × `height`) one by one into an H.264 video at `path` (the
/// codec cameras send and the RTSP test server streams), piped raw into `ffmpeg`, so a long
/// clip never sits in memory whole.
pub fn write_video_stream(
    path: &std::path::Path,
    frames: impl IntoIterator<Item = image::RgbImage>,
    width: u32,
    height: u32,
    fps: f64,
) {
    use std::io::Write;
    let mut ffmpeg = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s"])
        .arg(format!("{width}x{height}"))
        .args(["-r", &fps.to_string(), "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run ffmpeg (scripts/setup.sh installs it)");
    let mut input = ffmpeg.stdin.take().expect("ffmpeg's stdin");
    for frame in frames {
        assert_eq!(frame.dimensions(), (width, height), "every frame at the video's size");
        input.write_all(frame.as_raw()).expect("pipe a frame to ffmpeg");
    }
    drop(input);
    let status = ffmpeg.wait().expect("wait for ffmpeg");
    assert!(status.success(), "ffmpeg could not write {}: {status}", path.display());
}

/// Polls `done` every 10 ms until it holds (true) or `within` passes (false).
pub fn wait_for(within: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    true
}

pub mod broker;
pub mod cluster;
pub mod gate;
pub mod gpsd;
pub mod keys;
pub mod metrics;
pub mod moving;
pub mod mqtt_proxy;
pub mod records;
pub mod subscriber;

/// The first annotated plate of a photograph of the eval set, as annotated.
pub fn plate_of(folder: &std::path::Path, name: &str) -> String {
    let text = std::fs::read_to_string(folder.join(name).with_extension("txt")).expect("truth");
    text.lines().next().and_then(|l| l.split('\t').nth(5)).map(str::to_string).expect("plate")
}

/// [`plate_of`] with O and 0 folded.
pub fn truth_of(folder: &std::path::Path, name: &str) -> String {
    anpr_edge::plate::fold(&plate_of(folder, name))
}

/// A recorded road: each of three real cars in view for 0.8 s at 10 frames/s, then 1.2 s of
/// empty road. Returns the video and the plates in order of passing.
pub fn road_video(
    folder: &std::path::Path,
    dir: &std::path::Path,
) -> (std::path::PathBuf, Vec<String>) {
    const VEHICLES: [&str; 3] = ["eu3.jpg", "eu7.jpg", "test_004.jpg"];
    let empty = image::RgbImage::new(64, 48);
    let mut stills = Vec::new();
    let mut counts = Vec::new();
    for name in VEHICLES {
        stills.push(anpr_edge::source::decode_still(&folder.join(name)).expect("decode"));
        counts.push(8);
        stills.push(empty.clone());
        counts.push(12);
    }
    let video = dir.join("road.mp4");
    write_video_frames(&video, &stills, &counts, 1280, 960, 10.0);
    (video, VEHICLES.iter().map(|n| truth_of(folder, n)).collect())
}

/// Random choices for the fault tests (xorshift64*), seeded from the clock unless
/// `ANPR_TEST_SEED` is set; the seed is printed so that a failure can be replayed.
pub struct Random(u64);

impl Random {
    pub fn from_env_or_clock() -> Self {
        let seed = std::env::var("ANPR_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        eprintln!("ANPR_TEST_SEED={seed}");
        Self(seed)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % n.max(1)
    }

    pub fn millis(&mut self, from: u64, to: u64) -> std::time::Duration {
        std::time::Duration::from_millis(from + self.below(to - from + 1))
    }
}
