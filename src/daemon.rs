//! The daemon: configuration in, a running pipeline, and a clean stop on SIGTERM or SIGINT.
//!
//! Startup checks everything that can be checked before the first frame (configuration,
//! runtime, models, source) and fails with one clear message; once running, faults of a frame,
//! an image or the network cost that frame, image or delay, never the reads already made.
//! A signed command may end a run to apply a new configuration ([`Ending::Restart`]);
//! `service` starts the next one.

use crate::config::{Config, Output, SourceConfig};
use crate::control::Arrival;
use crate::control_agent::{Mailbox, Restart};
use crate::hotlist::mailbox::Kind;
use crate::hotlist::updater::Updater;
use crate::hotlist::{HotlistConfig, LiveHotlist};
use crate::outgoing::{ImageNames, ReadSink};
use crate::pipeline::sink::StdoutSink;
use crate::pipeline::{self, PipelineStats, ReadStages, ReadStamp, Run, Snapshots};
use crate::position::PositionProvider;
use crate::privacy::retention::{SweepReport, Sweeper};
use crate::privacy::Privacy;
use crate::publish::{ControlHandler, MqttSink, Setup, StatusSource, Topics};
use crate::read_signing::SigningSink;
use crate::recognizer::Recognizer;
use crate::runtime::{self, RuntimeOptions};
use crate::shutdown::Shutdown;
use crate::source::FrameSource;
use crate::spool::Spool;
use crate::worker::Worker;
use anyhow::Context;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// How often systemd's watchdog is told the pipeline is alive (it is told only from the
/// pipeline loop, so a hung recognition stops the notifications and systemd restarts us).
const WATCHDOG_PING: Duration = Duration::from_secs(2);

/// How long a stopping unit waits for the broker to acknowledge what it still holds.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(10);

/// The pipeline's part of the status heartbeat (and of the metrics, rendered from the same
/// snapshot): counters, frames per second since the previous call, which models run, the hotlist
/// in force, the oldest item the unit holds, whether the clock is synchronised and where the
/// unit is (the purpose is in every status message, the Last Will included: see
/// `publish::Setup::status_fields`).
fn status_source(
    config: &Config,
    stats: &Arc<PipelineStats>,
    hotlist: &Arc<LiveHotlist>,
    retention: &Arc<std::sync::Mutex<SweepReport>>,
    stamp: &Arc<ReadStamp>,
) -> StatusSource {
    let stats = Arc::clone(stats);
    let hotlist = Arc::clone(hotlist);
    let retention = Arc::clone(retention);
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
        let retention = match retention.lock() {
            Ok(report) => report.status(SystemTime::now()),
            Err(_) => serde_json::Value::Null,
        };
        let clock = (stamp.clock)();
        serde_json::json!({
            "fps": fps,
            "pipeline": stats.snapshot(),
            "models": models,
            "hotlist": hotlist.status(),
            "hotlist_version": hotlist.version(),
            "hotlist_behind": hotlist.behind(),
            "retention": retention,
            "clock": { "state": clock, "synchronised": clock.trusted() },
            "position": stamp.position.current(),
        })
    })
}

/// `base`, with the fields of `figures` added once they are there.
fn with_figures(base: StatusSource, figures: &Arc<OnceLock<StatusSource>>) -> StatusSource {
    let figures = Arc::clone(figures);
    Arc::new(move || {
        let mut snapshot = base();
        if let (Some(figures), serde_json::Value::Object(map)) = (figures.get(), &mut snapshot) {
            if let serde_json::Value::Object(extra) = figures() {
                map.extend(extra);
            }
        }
        snapshot
    })
}

/// The hotlist at start: the file when one is configured (a bad one stops the start, naming
/// what is wrong), else none until one arrives over MQTT.
fn load_hotlist(config: &HotlistConfig) -> anyhow::Result<LiveHotlist> {
    let key = config
        .public_key
        .as_deref()
        .map(crate::signing::load_verifying_key)
        .transpose()
        .context("hotlist.public_key")?;
    let live = LiveHotlist::new(key, config.fuzzy_tolerance);
    if let Some(file) = &config.file {
        let applied = live.load_file(file, SystemTime::now()).context("loading hotlist.file")?;
        tracing::info!(?applied, "hotlist loaded");
    }
    Ok(live)
}

/// Where messages on the subscribed topics go: hotlists and their deltas to the updater's
/// mailbox, commands (the unit's control topic, the fleet's) to the control agent's.
fn control_handler(
    hotlist_topics: Vec<(String, Kind)>,
    updater: &Updater,
    commands: [(String, Arrival); 2],
    agent: Mailbox,
) -> ControlHandler {
    let mailbox = updater.mailbox();
    Arc::new(move |topic: &str, payload: &[u8]| {
        if let Some((_, arrival)) = commands.iter().find(|(t, _)| t == topic) {
            agent.put(*arrival, payload);
        } else if let Some(kind) = hotlist_topics.iter().find(|(t, _)| t == topic).map(|t| t.1) {
            if payload.is_empty() {
                // An empty retained message is how a retained message is cleared.
                tracing::info!(
                    topic,
                    "retained hotlist cleared on the broker; the list in force stays"
                );
            } else {
                mailbox.put(topic, kind, payload);
            }
        } else {
            tracing::info!(
                topic,
                bytes = payload.len(),
                "message on a topic the unit does not use"
            );
        }
    })
}

/// How one run of the unit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The source ended, or a signal stopped the unit.
    Stopped,
    /// A command changed the configuration (or it was rolled back): start again.
    Restart,
}

/// A run that failed, and whether its pipeline had started (a configuration on probation that
/// fails before is rolled back).
#[derive(Debug)]
pub struct Failed {
    pub started: bool,
    pub error: anyhow::Error,
}

/// Runs the unit on `config` once: until the source ends, a signal, or a command that asks for
/// a restart (`service::serve` starts it again).
pub fn run(config: &Config) -> Result<Ending, Failed> {
    let mut started = false;
    let restart = Restart::default();
    match run_unit(config, &restart, &mut started) {
        Ok(()) if restart.asked() => Ok(Ending::Restart),
        Ok(()) => Ok(Ending::Stopped),
        Err(error) => Err(Failed { started, error }),
    }
}

/// The frames `source` configures, opened (`roi preview` grabs its frame from it too).
pub fn open_source(source: &SourceConfig) -> anyhow::Result<Box<dyn FrameSource>> {
    Ok(match source {
        SourceConfig::File { path } => {
            crate::source::open(path).with_context(|| "opening source.path")?
        }
        SourceConfig::Rtsp { url, stream } => Box::new(
            crate::source::RtspStream::open(url, stream.clone())
                .with_context(|| "opening source.url")?,
        ),
        SourceConfig::Camera { device, camera } => Box::new(
            crate::source::CameraSource::open(device, camera.clone())
                .with_context(|| "opening source.device")?,
        ),
    })
}

/// One run of the unit; `started` is set once its pipeline runs.
fn run_unit(config: &Config, restart: &Restart, started: &mut bool) -> anyhow::Result<()> {
    let options = RuntimeOptions {
        library: config.runtime.ort_library.clone(),
        threads: config.runtime.threads.unwrap_or_else(runtime::default_threads),
        ..RuntimeOptions::default()
    };
    let environment = runtime::init(&options)?;
    let models = crate::models::locate_folder(config.runtime.models_dir.as_deref())?;
    let mut recognizer = Recognizer::load(&environment, &models, &config.recognition)
        .with_context(|| format!("loading the models from {}", models.display()))?
        .within(config.roi.clone());
    let source = open_source(&config.source)?;

    let privacy = Privacy::start(&config.privacy)?;
    if let Some(pseudonymiser) = &privacy.pseudonymiser {
        tracing::info!(key = ?pseudonymiser.source(), "non-hit plates are published as keyed hashes");
    }
    let key = match &config.signing {
        Some(signing) => Some(
            crate::signing::load_signing_key(&signing.key_file)
                .context("loading signing.key_file")?,
        ),
        None => None,
    };
    let shutdown = Shutdown::new();
    let mut threads = Threads::new(&shutdown)?;
    let stats = Arc::new(PipelineStats::default());
    let identity = config.identity();
    let hotlist = Arc::new(load_hotlist(&config.hotlist)?);
    let updater = Updater::start(
        Arc::clone(&hotlist),
        config.hotlist.file.clone(),
        Duration::from_secs(config.hotlist.poll_interval_s),
    )
    .context("starting the hotlist thread")?;
    // The first sweep runs before the first frame, so nothing past its retention outlives a
    // restart and the first heartbeat already reports what the unit holds.
    let sweeper = Sweeper::from_config(&config.privacy.retention);
    let retention = Arc::new(std::sync::Mutex::new(sweeper.sweep(SystemTime::now())));
    threads.workers.push(
        spawn_sweeper(sweeper, config.privacy.retention.sweep_interval_s, &shutdown, &retention)
            .context("starting the retention sweeper")?,
    );
    let position = PositionProvider::start(
        &config.position,
        config.device.site.latitude,
        config.device.site.longitude,
    )
    .context("starting the gpsd client thread")?;
    let stamp = Arc::new(ReadStamp { position, clock: crate::clock::probe });
    let clock = crate::clock::probe();
    if !clock.trusted() {
        tracing::warn!(?clock, "the system clock is not synchronised: reads are flagged clock_synchronised = false until it is");
    }
    // Its own status source, so that scrapes and heartbeats do not share one fps window; the
    // publisher's figures join it once the publisher runs.
    let publisher_figures: Arc<OnceLock<StatusSource>> = Arc::new(OnceLock::new());
    let _metrics = match config.health.metrics_port {
        Some(port) => Some(
            crate::health::server::MetricsServer::start(
                port,
                with_figures(
                    status_source(config, &stats, &hotlist, &retention, &stamp),
                    &publisher_figures,
                ),
            )
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
    // The records name each image where the destination keeps it: the publisher's topic (the
    // same `Topics` the publisher sends it on), or nowhere for standard output.
    let image_names = match config.output() {
        Output::Mqtt(mqtt) => {
            Topics::new(&mqtt.topic_prefix, &identity.device_id).image_names().clone()
        }
        Output::Stdout => ImageNames::unpublished(),
    };
    let stages = ReadStages {
        identity: &identity,
        hotlist: &hotlist,
        stamp: &stamp,
        images: &config.images,
        image_names: &image_names,
        privacy: &privacy,
        alerts: &config.hotlist.alert,
    };
    let snapshots = Arc::new(Snapshots::default());
    let run = Run {
        config: &config.pipeline,
        fusion: &config.fusion,
        stats: &stats,
        shutdown: &shutdown,
        snapshots: Some(&snapshots),
        roi: &config.roi,
    };
    let run_pipeline = |sink: &mut dyn ReadSink| match &key {
        Some(key) => pipeline::run(
            source,
            &mut recognizer,
            &stages,
            &mut SigningSink::new(sink, key),
            run,
            alive,
        ),
        None => pipeline::run(source, &mut recognizer, &stages, sink, run, alive),
    };
    match config.output() {
        Output::Mqtt(mqtt) => {
            let topics = Topics::new(&mqtt.topic_prefix, &identity.device_id);
            let (device, fleet) =
                (config.hotlist.mqtt_device_topic, config.hotlist.mqtt_fleet_topic);
            let hotlist_topics: Vec<(String, Kind)> = [
                (device, topics.hotlist, Kind::Full),
                (device, topics.hotlist_delta, Kind::Delta),
                (fleet, topics.fleet_hotlist, Kind::Full),
                (fleet, topics.fleet_hotlist_delta, Kind::Delta),
            ]
            .into_iter()
            .filter_map(|(on, topic, kind)| on.then_some((topic, kind)))
            .collect();
            let mut setup = Setup::new(status_source(config, &stats, &hotlist, &retention, &stamp));
            setup.status_fields = serde_json::json!({ "purpose": config.privacy.purpose });
            let (agent_mailbox, agent_inbox) = crate::control_agent::mailbox();
            setup.control = control_handler(
                hotlist_topics.clone(),
                &updater,
                [
                    (topics.control.clone(), Arrival::Unit),
                    (topics.fleet_control.clone(), Arrival::Fleet),
                ],
                agent_mailbox,
            );
            setup.subscriptions = hotlist_topics.into_iter().map(|(topic, _)| topic).collect();
            if config.control.is_some() {
                setup.subscriptions.push(topics.fleet_control.clone());
            }
            if let Some(spool) = &config.spool {
                let (spool, recovered) = Spool::open(spool).context("opening the spool")?;
                let found = spool.stats();
                if found.corrupt_skipped > 0 || found.truncated_bytes > 0 {
                    tracing::warn!(
                        corrupt_skipped = found.corrupt_skipped,
                        corrupt_bytes = found.corrupt_bytes,
                        truncated_bytes = found.truncated_bytes,
                        recovered = recovered.len(),
                        "the spool was damaged; every intact message is kept"
                    );
                }
                if !recovered.is_empty() {
                    tracing::info!(
                        messages = recovered.len(),
                        "messages from before the last stop are sent first"
                    );
                }
                setup.spool = Some((spool, recovered));
            }
            let mut sink = MqttSink::start_with(mqtt, &identity.device_id, setup)
                .context("starting the MQTT publisher")?;
            // Set once, here, so it cannot already hold a value.
            let _ = publisher_figures.set(sink.figures_source());
            threads.workers.push(crate::control_agent::start(
                config,
                sink.control_link(),
                Arc::clone(&snapshots),
                agent_inbox,
                &shutdown,
                restart,
            )?);
            *started = true;
            let ran = run_pipeline(&mut sink);
            // What was fused before an error still goes out: flush whatever happened.
            let report = sink.shutdown(SHUTDOWN_FLUSH);
            ran?;
            if report.unacknowledged.is_empty() {
                tracing::info!(
                    acked = report.stats.acked,
                    "every read was acknowledged by the broker"
                );
            } else if let (Some(dir), true) = (&report.spooled, report.lost.is_empty()) {
                // Nothing is lost, so the stop succeeded: a non-zero exit would mark the unit
                // failed in systemd at every planned stop during a broker outage.
                tracing::warn!(
                    unacknowledged = report.unacknowledged.len(),
                    spool = %dir.display(),
                    "the broker did not acknowledge these messages before the stop; they are kept in the spool and sent at the next start"
                );
            } else {
                tracing::error!(
                    unacknowledged = report.unacknowledged.len(),
                    lost = report.lost.len(),
                    first = report.lost.first().map(String::as_str).unwrap_or_default(),
                    "the broker did not acknowledge these messages before the stop, and the spool does not hold them (no [spool], or the disk refused them): they are lost"
                );
                anyhow::bail!(
                    "{} messages (reads and images) were not acknowledged by the broker ({}) before the stop and are lost ({} kept in the spool)",
                    report.lost.len(),
                    mqtt.brokers_text(),
                    report.unacknowledged.len() - report.lost.len()
                );
            }
        }
        Output::Stdout => {
            let stdout = std::io::stdout();
            let mut sink = StdoutSink::new(stdout.lock());
            *started = true;
            run_pipeline(&mut sink)?;
        }
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    tracing::info!(stats = %stats.snapshot(), stopped_by = shutdown.reason().unwrap_or_else(|| "the end of the source".into()), "stopped");
    threads.stop()
}

/// The daemon's own threads (the signal watcher, the retention sweeper), stopped and joined
/// however `run` ends, an error included: the shutdown is triggered and the signal thread
/// released first, so no join waits for a thread that was never told to stop.
struct Threads {
    shutdown: Shutdown,
    signals: signal_hook::iterator::Handle,
    workers: Vec<Worker>,
}

impl Threads {
    /// SIGTERM and SIGINT trigger the shutdown, from a thread of their own (a signal handler
    /// may not wake other threads).
    fn new(shutdown: &Shutdown) -> anyhow::Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
            .context("installing the signal handlers")?;
        let handle = signals.handle();
        let trigger = shutdown.clone();
        let worker = Worker::spawn("signals", move || {
            if let Some(signal) = signals.forever().next() {
                let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                tracing::info!(signal = name, "stopping");
                trigger.trigger(name);
            }
        })
        .context("starting the signal thread")?;
        Ok(Self { shutdown: shutdown.clone(), signals: handle, workers: vec![worker] })
    }

    /// Stops and joins every thread; a thread that died is the error.
    fn stop(mut self) -> anyhow::Result<()> {
        self.release();
        for worker in std::mem::take(&mut self.workers) {
            worker.join()?;
        }
        Ok(())
    }

    fn release(&self) {
        self.shutdown.trigger("the daemon stopped");
        self.signals.close();
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        // The workers are joined when the field is dropped, after this.
        self.release();
    }
}

/// Sweeps every `interval_s` until the shutdown; each report replaces the last one the
/// status heartbeat shows. A unit that cannot start it does not start: retention not enforced
/// would be a privacy fault.
fn spawn_sweeper(
    sweeper: Sweeper,
    interval_s: u64,
    shutdown: &Shutdown,
    report: &Arc<std::sync::Mutex<SweepReport>>,
) -> std::io::Result<Worker> {
    let (shutdown, report) = (shutdown.clone(), Arc::clone(report));
    let interval = Duration::from_secs(interval_s);
    Worker::spawn("retention", move || {
        while !shutdown.wait(interval) {
            let swept = sweeper.sweep(std::time::SystemTime::now());
            *crate::sync::lock(&report) = swept;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_publishers_figures_join_the_snapshot_once_it_runs() {
        let figures: Arc<OnceLock<StatusSource>> = Arc::new(OnceLock::new());
        let snapshot = with_figures(Arc::new(|| serde_json::json!({ "fps": 1.0 })), &figures);
        assert_eq!(snapshot(), serde_json::json!({ "fps": 1.0 }));
        assert!(figures
            .set(Arc::new(|| serde_json::json!({ "outbox": { "pending": 3 } })))
            .is_ok());
        assert_eq!(snapshot(), serde_json::json!({ "fps": 1.0, "outbox": { "pending": 3 } }));
    }
}
