//! The hotlist's thread: applies the MQTT updates the mailbox hands it (full lists and deltas,
//! in the order they came) and reloads the list file when it changes, looking at its
//! modification time and size every `poll_interval_s` and sleeping in between.

use super::live::{signature_path, Applied, LiveHotlist, UpdateError, UpdateSource};
use super::mailbox::{Kind, Mailbox, Next};
use super::sequence::Skip;
use crate::shutdown::Shutdown;
use crate::worker::Worker;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What identifies a version of the file on disk without reading it.
fn stamp(path: &Path) -> Option<(SystemTime, u64, Option<SystemTime>)> {
    let meta = std::fs::metadata(path).ok()?;
    let sig = std::fs::metadata(signature_path(path)).and_then(|m| m.modified()).ok();
    Some((meta.modified().ok()?, meta.len(), sig))
}

/// The updater thread: applies MQTT updates as they arrive and reloads the file when it changes,
/// until the unit's shutdown.
pub struct Updater;

fn log_outcome(outcome: &Result<Applied, UpdateError>, source: &str) {
    match outcome {
        Ok(Applied::Replaced { version, entries }) => {
            tracing::info!(source, version, entries, "hotlist replaced")
        }
        Ok(Applied::Unchanged { version }) => tracing::debug!(source, version, "hotlist unchanged"),
        Ok(Applied::Skipped(skip @ Skip::Waits { .. })) => {
            tracing::warn!(source, %skip, "hotlist update not applied; the list held stays in force")
        }
        Ok(Applied::Skipped(skip)) => {
            tracing::info!(source, %skip, "hotlist update not applied; the list held stays in force")
        }
        Err(error) => {
            tracing::warn!(%error, "hotlist update rejected; the previous list stays in force")
        }
    }
}

impl Updater {
    /// Starts watching `file` (already loaded by the caller, or absent) every `poll`; the
    /// mailbox MQTT messages are put in, and the thread.
    pub fn start(
        live: Arc<LiveHotlist>,
        file: Option<PathBuf>,
        poll: Duration,
        shutdown: &Shutdown,
    ) -> std::io::Result<(Arc<Mailbox>, Worker)> {
        let mailbox = Arc::new(Mailbox::default());
        let inbox = Arc::clone(&mailbox);
        let stopping = Arc::clone(&mailbox);
        shutdown.on_trigger(move || stopping.stop());
        let thread = Worker::spawn("hotlist", move || {
            // Unknown at first: the first poll reads the file once more, so a change made
            // between the caller's load and this thread's start is not missed (the same bytes
            // again are a no-op).
            let mut seen = None;
            let mut next_poll = std::time::Instant::now() + poll;
            loop {
                match inbox.next(next_poll) {
                    Next::Stop => return,
                    Next::Message(message, dropped) => {
                        if dropped > 0 {
                            live.missed_deltas();
                        }
                        let source = UpdateSource::Mqtt(message.topic.clone());
                        let now = SystemTime::now();
                        let outcome = match message.kind {
                            Kind::Full => live.offer_envelope(&message.payload, source, now),
                            Kind::Delta => live.offer_delta(&message.payload, source, now),
                        };
                        log_outcome(&outcome, &message.topic);
                    }
                    Next::Timeout => {}
                }
                if std::time::Instant::now() >= next_poll {
                    next_poll = std::time::Instant::now() + poll;
                    if let Some(path) = &file {
                        let now = stamp(path);
                        if now != seen {
                            // Recorded even when the load fails: a bad file is reported once,
                            // not at every poll, and read again when it changes.
                            seen = now;
                            log_outcome(
                                &live.load_file(path, SystemTime::now()),
                                &path.display().to_string(),
                            );
                        }
                    }
                }
            }
        })?;
        Ok((mailbox, thread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hotlist::live::tests::{envelope, t0, V1, V2};

    #[test]
    fn the_updater_reloads_a_changed_file_and_applies_mailbox_messages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("list.csv");
        std::fs::write(&path, V1).expect("write");
        let live = Arc::new(LiveHotlist::new(None, 0));
        live.load_file(&path, t0()).expect("v1");
        let shutdown = Shutdown::new();
        let (mailbox, updater) = Updater::start(
            Arc::clone(&live),
            Some(path.clone()),
            Duration::from_millis(20),
            &shutdown,
        )
        .expect("thread");
        let wait_for = |plate: &str| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !live.check(plate, t0()).is_hit() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{plate} never became current: {}",
                    live.status()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        // A different size, so the change shows even where mtime has a coarse resolution.
        std::fs::write(&path, format!("{V2}# changed\n")).expect("write");
        wait_for("CD34");
        mailbox.put("anpr/fleet/hotlist", Kind::Full, &envelope(V1, "v1", None));
        wait_for("AB12");
        assert_eq!(live.status()["source"], "mqtt anpr/fleet/hotlist");
        shutdown.trigger("test");
        updater.join().expect("the updater stops at the shutdown");
    }
}
