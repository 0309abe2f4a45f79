//! Criterion benchmarks of the recognition path on real images: pre-processing, detector, OCR
//! (batch 1 and 4), the whole per-image path, and replay throughput of a video in frames/s.
//!
//! Needs the installed models (scripts/setup.sh) and ../shared/data; prints why and measures
//! nothing without them. Run: `cargo bench --bench recognition`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use anpr_edge::geometry::BoundingBox;
use anpr_edge::recognizer::{RecognitionConfig, Recognizer};
use anpr_edge::runtime::{self, RuntimeOptions};
use anpr_edge::source::{self, decode_still};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::path::PathBuf;
use std::time::Duration;

#[path = "../tests/common/mod.rs"]
mod common;

fn recognizer() -> Option<(Recognizer, PathBuf)> {
    let images = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/openalpr-eu-dev");
    if !images.is_dir() {
        eprintln!("benches skipped: {} is absent", images.display());
        return None;
    }
    let threads = std::env::var("ANPR_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(runtime::default_threads);
    let options = RuntimeOptions {
        library: std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from),
        threads,
        spin: false,
    };
    let environment = runtime::init(&options).expect("ONNX Runtime: run scripts/setup.sh");
    let config = RecognitionConfig::default();
    let recognizer =
        Recognizer::load(&environment, &common::models_dir(), &config).expect("models");
    Some((recognizer, images))
}

fn stages(c: &mut Criterion) {
    let Some((mut recognizer, images)) = recognizer() else { return };
    // The largest photograph of the set (2048×1536) and a typical small one.
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&images)
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    paths.sort();
    let large_path = paths
        .iter()
        .max_by_key(|p| decode_still(p).map(|i| i.width() * i.height()).unwrap_or(0))
        .expect("images")
        .clone();
    let large = decode_still(&large_path).expect("decode");
    let small = decode_still(&images.join("eu3.jpg")).expect("decode");

    let mut group = c.benchmark_group("stages");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function(format!("preprocess_{}x{}", large.width(), large.height()), |b| {
        b.iter(|| recognizer.detector().preprocess(&large).expect("preprocess"))
    });
    group.bench_function(format!("preprocess_{}x{}", small.width(), small.height()), |b| {
        b.iter(|| recognizer.detector().preprocess(&small).expect("preprocess"))
    });
    group.bench_function("detector", |b| {
        b.iter(|| recognizer.detector().detect(&small).expect("detect"))
    });
    let plate = recognizer
        .detector()
        .detect(&small)
        .expect("detect")
        .first()
        .expect("a plate on eu3.jpg")
        .bbox;
    let batch: Vec<BoundingBox> = (0..4)
        .map(|i| BoundingBox { x1: plate.x1 + i as f32, x2: plate.x2 + i as f32, ..plate })
        .collect();
    group.bench_function("ocr_batch_1", |b| {
        b.iter(|| recognizer.reader().read(&small, &batch[..1]).expect("read"))
    });
    group.bench_function("ocr_batch_4", |b| {
        b.iter(|| recognizer.reader().read(&small, &batch).expect("read"))
    });
    group.bench_function(format!("decode_jpeg_{}x{}", large.width(), large.height()), |b| {
        b.iter(|| decode_still(&large_path).expect("decode"))
    });
    group.bench_function(
        format!("per_image_decode_detect_read_{}x{}", large.width(), large.height()),
        |b| {
            b.iter(|| {
                let image = decode_still(&large_path).expect("decode");
                recognizer.recognize(&image).expect("recognize")
            })
        },
    );
    group.finish();
}

fn replay_throughput(c: &mut Criterion) {
    let Some((mut recognizer, images)) = recognizer() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let video = dir.path().join("replay.mp4");
    let stills: Vec<_> = ["eu3.jpg", "eu7.jpg", "test_004.jpg", "test_010.jpg"]
        .iter()
        .map(|n| decode_still(&images.join(n)).expect("decode"))
        .collect();
    const FRAMES_EACH: usize = 8;
    common::write_video(&video, &stills, FRAMES_EACH, 1280, 720, 25.0);
    let frames = (stills.len() * FRAMES_EACH) as u64;

    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(frames));
    group.bench_function("video_1280x720_frames", |b| {
        b.iter_batched(
            || source::open(&video).expect("open"),
            |mut source| {
                let summary = anpr_edge::replay::replay(source.as_mut(), &mut recognizer, |_| {});
                assert_eq!(summary.frames, frames);
                summary
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, stages, replay_throughput);
criterion_main!(benches);
