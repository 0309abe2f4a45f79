//! The unit's status as the heartbeat and the metrics endpoint report it: the pipeline's
//! counters, frames per second since the previous call, which models run, the hotlist in force,
//! the oldest item the unit holds, whether the clock is synchronised and where the unit is (the
//! purpose is in every status message, the Last Will included: see
//! `publish::Setup::status_fields`).

use crate::config::Config;
use crate::hotlist::LiveHotlist;
use crate::pipeline::{PipelineStats, ReadStamp};
use crate::privacy::retention::SweepReport;
use crate::publish::StatusSource;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

/// What a status snapshot is made of.
#[derive(Clone)]
pub struct StatusParts {
    pub stats: Arc<PipelineStats>,
    pub hotlist: Arc<LiveHotlist>,
    pub retention: Arc<Mutex<SweepReport>>,
    pub stamp: Arc<ReadStamp>,
}

/// A status source of its own: each reader (heartbeat, scrapes) gets its own fps window.
pub fn status_source(config: &Config, parts: &StatusParts) -> StatusSource {
    let StatusParts { stats, hotlist, retention, stamp } = parts.clone();
    let models = serde_json::json!({
        "detector": config.recognition.detector.model.manifest_id(),
        "ocr": config.recognition.ocr.model.manifest_id(),
    });
    let last = Mutex::new((Instant::now(), 0u64));
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
pub fn with_figures(base: StatusSource, figures: &Arc<OnceLock<StatusSource>>) -> StatusSource {
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
