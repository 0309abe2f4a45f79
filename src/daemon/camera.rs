//! The part of a unit that belongs to one camera: its frames (the source), the recognizer
//! reading within its regions of interest, its counters and snapshot requests, and the pipeline
//! loop over them (gating and fusion, with the settings of `[pipeline]` and `[fusion]`).
//! Everything else comes from the part the unit has once (`shared`).

use crate::config::{Config, SourceConfig};
use crate::outgoing::ReadSink;
use crate::pipeline::{self, PipelineStats, ReadStages, Run, Snapshots};
use crate::read_signing::SigningSink;
use crate::recognizer::Recognizer;
use crate::shutdown::Shutdown;
use crate::source::FrameSource;
use anyhow::Context;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often systemd's watchdog is told the pipeline is alive (it is told only from the
/// pipeline loop, so a hung recognition stops the notifications and systemd restarts us).
const WATCHDOG_PING: Duration = Duration::from_secs(2);

pub struct Camera {
    source: Box<dyn FrameSource>,
    recognizer: Recognizer,
    pub stats: Arc<PipelineStats>,
    /// Where the control plane asks for a snapshot of this camera's frames.
    pub snapshots: Arc<Snapshots>,
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

impl Camera {
    /// The camera's source opened, and `recognizer` (the unit's models) set to read within its
    /// regions of interest.
    pub fn build(config: &Config, recognizer: Recognizer) -> anyhow::Result<Self> {
        Ok(Self {
            source: open_source(&config.source)?,
            recognizer: recognizer.within(config.roi.clone()),
            stats: Arc::new(PipelineStats::default()),
            snapshots: Arc::new(Snapshots::default()),
        })
    }

    pub fn describe(&self) -> &str {
        self.source.describe()
    }

    /// Runs the pipeline until the source ends or the shutdown: reads made by `stages` go to
    /// `sink`, signed when the configuration has a key (`[signing]`).
    pub fn run(
        mut self,
        config: &Config,
        stages: &ReadStages,
        sink: &mut dyn ReadSink,
        shutdown: &Shutdown,
    ) -> anyhow::Result<()> {
        let run = Run {
            config: &config.pipeline,
            fusion: &config.fusion,
            stats: &self.stats,
            shutdown,
            snapshots: Some(&self.snapshots),
            roi: &config.roi,
        };
        let mut last_ping = Instant::now();
        let alive = move || {
            if last_ping.elapsed() >= WATCHDOG_PING {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                last_ping = Instant::now();
            }
        };
        let recognizer = &mut self.recognizer;
        Ok(match &config.prepared().signing_key {
            Some(key) => {
                let mut signing = SigningSink::new(sink, key);
                pipeline::run(self.source, recognizer, stages, &mut signing, run, alive)
            }
            None => pipeline::run(self.source, recognizer, stages, sink, run, alive),
        }?)
    }
}
