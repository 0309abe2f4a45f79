//! The daemon: configuration in, a running pipeline, and a clean stop on SIGTERM or SIGINT.
//!
//! Startup checks everything that can be checked before the first frame (configuration,
//! runtime, models, source) and fails with one clear message; once running, faults of a frame,
//! an image or the network cost that frame, image or delay, never the reads already made.

use crate::config::{Config, OutputKind, SourceConfig};
use crate::pipeline::sink::StdoutSink;
use crate::publish::{MqttSink, StatusSource};
use crate::pipeline::{self, PipelineStats, ReadStamp};
use crate::position::PositionProvider;
use crate::recognizer::Recognizer;
use crate::runtime::{self, RuntimeOptions};
use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often systemd's watchdog is told the pipeline is alive (it is told only from the
/// pipeline loop, so a hung recognition stops the notifications and systemd restarts us).
const WATCHDOG_PING: Duration = Duration::from_secs(2);

/// How long a stopping unit waits for the broker to acknowledge what it still holds.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(10);

/// The pipeline's part of the status heartbeat (and of the metrics, rendered from the same
/// snapshot): counters, frames per second since the previous call, which models run, whether
/// the clock is synchronised and where the unit is.
fn status_source(config: &Config, stats: &Arc<PipelineStats>, stamp: &Arc<ReadStamp>) -> StatusSource {
    let stats = Arc::clone(stats);
    let stamp = Arc::clone(stamp);
    let models = serde_json::json!({
        "detector": config.recognition.detector.model.manifest_id(),
        "ocr": config.recognition.ocr.model.manifest_id(),
    });
    let last = std::sync::Mutex::new((Instant::now(), 0u64));
    Arc::new(move || {
        let recognised = stats.frames_recognised.load(Ordering::Relaxed);
        let fps = match last.lock() {
            Ok(mut last) => {
                let seconds = last.0.elapsed().as_secs_f64();
                let fps = if seconds > 0.0 { (recognised - last.1) as f64 / seconds } else { 0.0 };
                *last = (Instant::now(), recognised);
                fps
            }
            Err(_) => 0.0,
        };
        let clock = (stamp.clock)();
        serde_json::json!({
            "fps": fps,
            "pipeline": stats.snapshot(),
            "models": models,
            "clock": { "state": clock, "synchronised": clock.trusted() },
            "position": stamp.position.current(),
        })
    })
}

pub fn run(config: &Config) -> anyhow::Result<()> {
    let options = RuntimeOptions {
        library: config.runtime.ort_library.clone(),
        threads: config.runtime.threads.unwrap_or_else(runtime::default_threads),
        ..RuntimeOptions::default()
    };
    let environment = runtime::init(&options)?;
    let models = crate::models::locate_folder(config.runtime.models_dir.as_deref())?;
    let mut recognizer = Recognizer::load(&environment, &models, &config.recognition)
        .with_context(|| format!("loading the models from {}", models.display()))?;
    let source = match &config.source {
        SourceConfig::File { path } => crate::source::open(path).with_context(|| "opening source.path")?,
        SourceConfig::Rtsp { url, stream } => {
            Box::new(crate::source::RtspStream::open(url, stream.clone()).with_context(|| "opening source.url")?)
        }
        SourceConfig::Camera { device, camera } => {
            Box::new(crate::source::CameraSource::open(device, camera.clone()).with_context(|| "opening source.device")?)
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).context("installing the signal handlers")?;
    }
    let stats = Arc::new(PipelineStats::default());
    let identity = config.identity();
    let position = PositionProvider::start(&config.position, config.device.site.latitude, config.device.site.longitude)
        .context("starting the gpsd client thread")?;
    let stamp = Arc::new(ReadStamp { position, clock: crate::clock::probe });
    let clock = crate::clock::probe();
    if !clock.trusted() {
        tracing::warn!(?clock, "the system clock is not synchronised: reads are flagged clock_synchronised = false until it is");
    }
    // Its own status source, so that scrapes and heartbeats do not share one fps window.
    let _metrics = match config.health.metrics_port {
        Some(port) => Some(
            crate::health::server::MetricsServer::start(port, status_source(config, &stats, &stamp))
                .with_context(|| format!("health.metrics_port: cannot listen on 127.0.0.1:{port}"))?,
        ),
        None => None,
    };
    tracing::info!(device = %identity.device_id, source = source.describe(), "started");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let mut last_ping = Instant::now();
    let alive = || {
        if last_ping.elapsed() >= WATCHDOG_PING {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            last_ping = Instant::now();
        }
    };
    match (config.output.kind, &config.mqtt) {
        (OutputKind::Mqtt, Some(mqtt)) => {
            let mut sink = MqttSink::start(mqtt, &identity.device_id, status_source(config, &stats, &stamp)).context("starting the MQTT publisher")?;
            pipeline::run(source, &mut recognizer, &identity, &stamp, &config.pipeline, &config.fusion, &config.images, &mut sink, &stop, &stats, alive);
            let report = sink.shutdown(SHUTDOWN_FLUSH);
            if report.unacknowledged.is_empty() {
                tracing::info!(acked = report.stats.acked, "every read was acknowledged by the broker");
            } else {
                tracing::error!(
                    unacknowledged = report.unacknowledged.len(),
                    first = report.unacknowledged.first().map(String::as_str).unwrap_or_default(),
                    "the broker did not acknowledge these messages before the stop; without the durable spool they are lost"
                );
                anyhow::bail!(
                    "{} messages (reads and images) were not acknowledged by the broker {}:{} before the stop",
                    report.unacknowledged.len(),
                    mqtt.host,
                    mqtt.port()
                );
            }
        }
        (OutputKind::Mqtt, None) => anyhow::bail!("output.kind is \"mqtt\" but there is no [mqtt] section"),
        (OutputKind::Stdout, _) => {
            let stdout = std::io::stdout();
            let mut sink = StdoutSink::new(stdout.lock());
            pipeline::run(source, &mut recognizer, &identity, &stamp, &config.pipeline, &config.fusion, &config.images, &mut sink, &stop, &stats, alive);
            anyhow::ensure!(!sink.failed(), "standard output was closed; reads after that were not written");
        }
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    tracing::info!(stats = %stats.snapshot(), stopped_by_signal = stop.load(Ordering::Relaxed), "stopped");
    Ok(())
}
