//! The daemon's path end to end with MQTT publishing on, against a real Mosquitto on loopback:
//! replay throughput (frames/s, reads/s), first-seen → received latency of reads at a
//! subscriber, and the process's peak resident memory.
//!
//! Needs the installed models, mosquitto and ../shared/data. Run: `cargo bench --bench daemon`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use anpr_edge::hotlist::LiveHotlist;
use anpr_edge::imaging::ImageConfig;
use anpr_edge::pipeline::{self, PipelineConfig, PipelineStats, ReadStages, ReadStamp, Run};
use anpr_edge::privacy::{Privacy, PrivacyConfig};
use anpr_edge::publish::{MqttSink, Topics};
use anpr_edge::read_record::{Identity, Site};
use anpr_edge::recognizer::{RecognitionConfig, Recognizer};
use anpr_edge::runtime::{self, RuntimeOptions};
use anpr_edge::shutdown::Shutdown;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[path = "../tests/common/mod.rs"]
mod common;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

fn daemon_with_mqtt(c: &mut Criterion) {
    let images = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/openalpr-eu-dev");
    if !images.is_dir() {
        eprintln!("bench skipped: {} is absent", images.display());
        return;
    }
    let options = RuntimeOptions {
        library: std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from),
        threads: runtime::default_threads(),
        spin: false,
    };
    let environment = runtime::init(&options).expect("ONNX Runtime");
    let mut recognizer =
        Recognizer::load(&environment, &common::models_dir(), &RecognitionConfig::default())
            .expect("models");
    let dir = tempfile::tempdir().expect("tempdir");
    let (video, plates) = common::road_video(&images, dir.path());
    let frames = 60u64; // 3 × (8 + 12)
    let broker = common::broker::Broker::start(false);
    let subscriber = common::subscriber::Subscriber::start(broker.port, "anpr/bench/reads");
    let mqtt: anpr_edge::publish::MqttConfig = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {}\ninsecure_dev = true\n",
        broker.port
    ))
    .expect("mqtt config");
    let identity = Identity {
        device_id: "bench".parse().expect("id"),
        camera_id: "cam0".parse().expect("id"),
        site: Site { name: "bench".into(), latitude: None, longitude: None },
        purpose: "bench".into(),
    };
    // The default privacy policy, so the figures include blurring each non-hit overview.
    let privacy = Privacy::start(&PrivacyConfig::with_purpose("bench")).expect("privacy");
    let (hotlist, stamp, image_config) =
        (LiveHotlist::new(None, 1), ReadStamp::unplaced(), ImageConfig::default());
    // The records name each image by the topic the publisher sends it on.
    let topics = Topics::new(&mqtt.topic_prefix, &identity.device_id);
    let stages = ReadStages {
        identity: &identity,
        hotlist: &hotlist,
        stamp: &stamp,
        images: &image_config,
        image_names: topics.image_names(),
        privacy: &privacy,
        alerts: &anpr_edge::hotlist::AlertPolicy::default(),
    };
    let shutdown = Shutdown::new();
    let stats = Arc::new(PipelineStats::default());
    let fusion = anpr_edge::fuse::FusionConfig::default();
    let config = PipelineConfig::default();
    let run = Run {
        config: &config,
        fusion: &fusion,
        stats: &stats,
        shutdown: &shutdown,
        snapshots: None,
        roi: &anpr_edge::roi::RoiConfig::default(),
    };
    let mut runs = 0u64;

    let mut group = c.benchmark_group("daemon");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(frames));
    group.bench_function("replay_1280x960_with_mqtt_frames", |b| {
        b.iter_batched(
            || anpr_edge::source::open(&video).expect("open"),
            |source| {
                let mut sink =
                    MqttSink::start(&mqtt, &identity.device_id, Arc::new(|| serde_json::json!({})))
                        .expect("mqtt");
                pipeline::run(source, &mut recognizer, &stages, &mut sink, run, || {})
                    .expect("the pipeline ran");
                let report = sink.shutdown(Duration::from_secs(10));
                assert!(report.unacknowledged.is_empty());
                runs += 1;
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // Latency of each read from the vehicle's first sighting to its arrival at a subscriber, at
    // real-time pace (a camera delivers 10 frames/s here), so fusion's waiting is included.
    let realtime = PipelineConfig { realtime: true, ..PipelineConfig::default() };
    let before = subscriber.received().len();
    let mut sink = MqttSink::start(&mqtt, &identity.device_id, Arc::new(|| serde_json::json!({})))
        .expect("mqtt");
    let mut arrivals = Vec::new();
    let source = anpr_edge::source::open(&video).expect("open");
    let watcher = std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            let mut seen = before;
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while arrivals.len() < plates.len() && std::time::Instant::now() < deadline {
                let received = subscriber.received();
                for (_, payload, _) in &received[seen..] {
                    arrivals.push((SystemTime::now(), payload.clone()));
                }
                seen = received.len();
                std::thread::sleep(Duration::from_millis(2));
            }
            arrivals
        });
        let run = Run { config: &realtime, ..run };
        pipeline::run(source, &mut recognizer, &stages, &mut sink, run, || {})
            .expect("the pipeline ran");
        handle.join().expect("watcher")
    });
    sink.shutdown(Duration::from_secs(5));
    let mut latencies: Vec<f64> = watcher
        .iter()
        .filter_map(|(at, payload)| {
            let record: serde_json::Value = serde_json::from_slice(payload).ok()?;
            let first_seen = parse_time(record["first_seen"].as_str()?)?;
            Some(at.duration_since(first_seen).ok()?.as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        latencies
            .get(((q * latencies.len() as f64).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0)
    };
    eprintln!(
        "daemon: {} reads over {runs} timed replays; first-seen → subscriber latency at real-time pace: median {:.0} ms, p99 {:.0} ms (fusion waits up to leave_after_ms = 700 after the last sighting); peak RSS {:.0} MiB",
        stats.reads_emitted.load(std::sync::atomic::Ordering::Relaxed),
        pick(0.5),
        pick(0.99),
        peak_rss_mib()
    );
}

criterion_group!(benches, daemon_with_mqtt);
criterion_main!(benches);
