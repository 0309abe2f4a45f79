//! The part of a unit it has once, however many cameras it has: the models, what makes a read
//! (identity, hotlist, privacy, position and clock, how images are named), retention, and the
//! threads that keep them current (the retention sweeper, the hotlist updater, the gpsd client,
//! the metrics endpoint), prepared by [`Shared::build`] and started by [`SharedThreads::start`].

use super::threads::Threads;
use crate::config::Config;
use crate::health::server::MetricsServer;
use crate::hotlist::mailbox::Mailbox;
use crate::hotlist::updater::Updater;
use crate::hotlist::LiveHotlist;
use crate::outgoing::ImageNames;
use crate::pipeline::{ReadStages, ReadStamp};
use crate::position::gpsd_client::GpsdClient;
use crate::position::PositionProvider;
use crate::privacy::retention::{SweepReport, Sweeper};
use crate::privacy::Privacy;
use crate::publish::StatusSource;
use crate::read_record::Identity;
use crate::recognizer::Recognizer;
use crate::runtime::{self, RuntimeOptions};
use crate::shutdown::Shutdown;
use crate::worker::Worker;
use anyhow::Context;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What every read of the unit is made with.
pub struct Shared {
    pub identity: Identity,
    pub hotlist: Arc<LiveHotlist>,
    pub privacy: Privacy,
    pub stamp: Arc<ReadStamp>,
    /// The last retention sweep, for the status.
    pub retention: Arc<Mutex<SweepReport>>,
}

/// The shared part's threads, prepared and not started.
pub struct SharedThreads {
    sweeper: Sweeper,
    sweep_every: Duration,
    hotlist: Arc<LiveHotlist>,
    hotlist_file: Option<std::path::PathBuf>,
    hotlist_poll: Duration,
    gpsd: Option<GpsdClient>,
    metrics: Option<MetricsServer>,
}

/// The unit's one set of models: ONNX Runtime started and the recognizer loaded.
pub fn load_models(config: &Config) -> anyhow::Result<Recognizer> {
    let options = RuntimeOptions {
        library: config.runtime.ort_library.clone(),
        threads: config.runtime.threads.unwrap_or_else(runtime::default_threads),
        ..RuntimeOptions::default()
    };
    let environment = runtime::init(&options)?;
    let models = crate::models::locate_folder(config.runtime.models_dir.as_deref())?;
    Recognizer::load(&environment, &models, &config.recognition)
        .with_context(|| format!("loading the models from {}", models.display()))
}

impl Shared {
    /// Loads the privacy key, runs the first retention sweep (before the first frame, so
    /// nothing past its retention outlives a restart and the first heartbeat already reports
    /// what the unit holds) and binds the metrics port.
    pub fn build(config: &Config) -> anyhow::Result<(Self, SharedThreads)> {
        let privacy = Privacy::start(&config.privacy)?;
        if let Some(pseudonymiser) = &privacy.pseudonymiser {
            tracing::info!(key = ?pseudonymiser.source(), "non-hit plates are published as keyed hashes");
        }
        let hotlist = Arc::clone(&config.prepared().hotlist);
        if config.hotlist.file.is_some() {
            tracing::info!(hotlist = %hotlist.status(), "hotlist loaded");
        }
        let sweeper = Sweeper::from_config(&config.privacy.retention);
        let retention = Arc::new(Mutex::new(sweeper.sweep(SystemTime::now())));
        let site = &config.device().site;
        let (position, gpsd) =
            PositionProvider::new(&config.position, site.latitude, site.longitude);
        let clock = crate::clock::probe();
        if !clock.trusted() {
            tracing::warn!(?clock, "the system clock is not synchronised: reads are flagged clock_synchronised = false until it is");
        }
        let metrics = match config.health.metrics_port {
            Some(port) => Some(MetricsServer::bind(port).with_context(|| {
                format!("health.metrics_port: cannot listen on 127.0.0.1:{port}")
            })?),
            None => None,
        };
        let threads = SharedThreads {
            sweeper,
            sweep_every: Duration::from_secs(config.privacy.retention.sweep_interval_s),
            hotlist: Arc::clone(&hotlist),
            hotlist_file: config.hotlist.file.clone(),
            hotlist_poll: Duration::from_secs(config.hotlist.poll_interval_s),
            gpsd,
            metrics,
        };
        let stamp = Arc::new(ReadStamp { position, clock: crate::clock::probe });
        let shared = Self { identity: config.identity(), hotlist, privacy, stamp, retention };
        Ok((shared, threads))
    }

    /// The stages a read goes through, naming its images with `image_names`.
    pub fn stages<'a>(&'a self, config: &'a Config, image_names: &'a ImageNames) -> ReadStages<'a> {
        ReadStages {
            identity: &self.identity,
            hotlist: &self.hotlist,
            stamp: &self.stamp,
            images: &config.images,
            image_names,
            privacy: &self.privacy,
            alerts: &config.hotlist.alert,
        }
    }
}

impl SharedThreads {
    /// Starts each thread into `threads` (so that one failing to start stops those before it),
    /// the metrics endpoint answering with `metrics`; the hotlist updater's mailbox, for lists
    /// that arrive over MQTT.
    pub fn start(
        self,
        retention: &Arc<Mutex<SweepReport>>,
        metrics: StatusSource,
        threads: &mut Threads,
    ) -> anyhow::Result<Arc<Mailbox>> {
        let shutdown = threads.shutdown().clone();
        let (mailbox, updater) =
            Updater::start(self.hotlist, self.hotlist_file, self.hotlist_poll, &shutdown)
                .context("starting the hotlist thread")?;
        threads.push(updater);
        // A unit that cannot sweep does not start: retention not enforced would be a privacy
        // fault.
        threads.push(
            sweep(self.sweeper, self.sweep_every, &shutdown, retention)
                .context("starting the retention sweeper")?,
        );
        if let Some(gpsd) = self.gpsd {
            threads.push(gpsd.start(&shutdown).context("starting the gpsd client thread")?);
        }
        if let Some(server) = self.metrics {
            threads.push(server.serve(metrics, &shutdown).context("starting the metrics thread")?);
        }
        Ok(mailbox)
    }
}

/// Sweeps every `interval` until the shutdown; each report replaces the last one the status
/// shows.
fn sweep(
    sweeper: Sweeper,
    interval: Duration,
    shutdown: &Shutdown,
    report: &Arc<Mutex<SweepReport>>,
) -> std::io::Result<Worker> {
    let (shutdown, report) = (shutdown.clone(), Arc::clone(report));
    Worker::spawn("retention", move || {
        while !shutdown.wait(interval) {
            let swept = sweeper.sweep(SystemTime::now());
            *crate::sync::lock(&report) = swept;
        }
    })
}
