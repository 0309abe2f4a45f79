//! One unit: prepared from its configuration by [`Unit::build`] (everything opened, loaded and
//! checked, no thread started), then run by [`Unit::run`] (its threads on one shutdown, the
//! pipeline, the stop).

use super::camera::Camera;
use super::delivery::{Destination, Links, Started};
use super::shared::{self, Shared, SharedThreads};
use super::status::{status_source, with_figures, StatusParts};
use super::threads::Threads;
use crate::config::Config;
use crate::control_agent::Restart;
use crate::outgoing::ImageNames;
use crate::publish::StatusSource;
use crate::shutdown::Shutdown;
use std::sync::{Arc, OnceLock};

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

/// A unit ready to run.
pub struct Unit {
    config: Config,
    shared: Shared,
    threads: SharedThreads,
    camera: Camera,
    destination: Destination,
}

impl Unit {
    /// Prepares everything a run needs, each failure with its context: the models, the
    /// camera's source, the shared part, the destination (the spool opened). The keys, the
    /// hotlist and the TLS files were read with the configuration (`config::Prepared`).
    pub fn build(config: &Config) -> anyhow::Result<Self> {
        let recognizer = shared::load_models(config)?;
        let camera = Camera::build(config, recognizer)?;
        let (shared, threads) = Shared::build(config)?;
        let destination = Destination::build(config)?;
        Ok(Self { config: config.clone(), shared, threads, camera, destination })
    }

    /// Runs the unit on `shutdown` until the source ends, a signal, or a command that asks for
    /// a restart.
    pub fn run(self, shutdown: &Shutdown) -> Result<Ending, Failed> {
        let not_started = |error| Failed { started: false, error };
        let Self { config, shared, threads: shared_threads, camera, destination } = self;
        let mut threads = Threads::new(shutdown).map_err(not_started)?;
        let restart = Restart::default();
        let parts = StatusParts {
            stats: Arc::clone(&camera.stats),
            hotlist: Arc::clone(&shared.hotlist),
            retention: Arc::clone(&shared.retention),
            stamp: Arc::clone(&shared.stamp),
        };
        // The metrics have a status source of their own, so that scrapes and heartbeats do not
        // share one fps window; the publisher's figures join it once the publisher runs.
        let figures: Arc<OnceLock<StatusSource>> = Arc::new(OnceLock::new());
        let metrics = with_figures(status_source(&config, &parts), &figures);
        let hotlists =
            shared_threads.start(&shared.retention, metrics, &mut threads).map_err(not_started)?;
        tracing::info!(device = %shared.identity.device_id, source = camera.describe(), "started");
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        let image_names = destination.image_names();
        let links = Links {
            status: status_source(&config, &parts),
            hotlists,
            snapshots: &camera.snapshots,
            restart: &restart,
            shutdown,
        };
        let (started, agent) = destination.start(&config, links).map_err(not_started)?;
        if let Some(agent) = agent {
            threads.push(agent);
        }
        if let Some(source) = started.figures() {
            // Set once, here, so it cannot already hold a value.
            let _ = figures.set(source);
        }
        let ran = run_pipeline(&config, &shared, camera, &image_names, started, shutdown);
        let stopped = ran.and_then(|()| stop(&parts, threads));
        match stopped {
            Ok(()) if restart.asked() => Ok(Ending::Restart),
            Ok(()) => Ok(Ending::Stopped),
            Err(error) => Err(Failed { started: true, error }),
        }
    }
}

/// The camera's pipeline into the started destination.
fn run_pipeline(
    config: &Config,
    shared: &Shared,
    camera: Camera,
    image_names: &ImageNames,
    started: Started,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let stages = shared.stages(config, image_names);
    started.run(|sink| camera.run(config, &stages, sink, shutdown))
}

/// Tells systemd, logs the figures and why the unit stopped, and joins its threads.
fn stop(parts: &StatusParts, threads: Threads) -> anyhow::Result<()> {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let stopped_by = threads.shutdown().reason().unwrap_or_else(|| "the end of the source".into());
    tracing::info!(stats = %parts.stats.snapshot(), stopped_by, "stopped");
    threads.stop()
}
