//! The hotlist in force, replaced atomically while the unit runs: from the file on disk
//! (watched) and from retained MQTT messages on `<prefix>/<device>/hotlist` and
//! `<prefix>/fleet/hotlist`.
//!
//! Design:
//! - A new list is verified (signature, when a key is configured) and validated completely,
//!   and indexed, before one pointer swap makes it current; matching never sees half a list,
//!   and a rejected list leaves the old one matching. The last rejection is kept for the status.
//! - The unit follows one list: the last valid update from any source replaces it. Versions
//!   are opaque labels, so an update is recognised as a repeat by its version and content:
//!   the same bytes again (a retained message arrives again at every resubscription) are a
//!   no-op without parsing; a known version with different content is refused (bump the
//!   version), so one version always means one content.
//! - MQTT messages are handed from the publisher's thread to the updater's thread through a
//!   one-slot mailbox (latest wins: only the newest list matters), so a large list is never
//!   parsed on the thread that sends hits. The updater polls the file's modification time and
//!   size every `poll_interval_s`, sleeping in between.
//!
//! The MQTT payload is a JSON envelope: `{"format": "csv"|"json", "version": "<V>",
//! "signature": "<base64 Ed25519 over body>" (optional), "body": "<the list as text>"}`. The
//! envelope's version must equal the one in the body. A file's signature is in `<file>.sig`.

use super::list::{Action, Format, Hotlist, RejectReason};
use super::matcher::{Matcher, Verdict};
use crate::shutdown::Shutdown;
use crate::signing::VerifyingKey;
use crate::worker::Worker;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

/// The MQTT payload carrying a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub format: Format,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    pub body: String,
}

/// Where an update came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateSource {
    File(PathBuf),
    Mqtt(String),
}

impl std::fmt::Display for UpdateSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpdateSource::File(path) => write!(f, "file {}", path.display()),
            UpdateSource::Mqtt(topic) => write!(f, "mqtt {topic}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    #[error("{from}: cannot read the hotlist: {problem}")]
    Read { from: UpdateSource, problem: String },
    #[error("{from}: not a hotlist envelope {{format, version, signature, body}}: {problem}")]
    Envelope { from: UpdateSource, problem: String },
    #[error("{from}: {reason}")]
    Rejected { from: UpdateSource, reason: RejectReason },
    #[error("{from}: the envelope says version `{envelope}` but the list says `{body}`")]
    VersionMismatch { from: UpdateSource, envelope: String, body: String },
    #[error("{from}: version `{version}` is already loaded with other content; give the new list a new version")]
    VersionReused { from: UpdateSource, version: String },
}

/// What an accepted update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Replaced {
        version: String,
        entries: usize,
    },
    /// The list in force already (same bytes, or same version and content).
    Unchanged {
        version: String,
    },
}

/// What to do with a valid list, from the versions and content hashes alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Replace,
    Unchanged,
    VersionReused,
}

fn decide(current: Option<(&str, &str)>, version: &str, sha256: &str) -> Decision {
    match current {
        Some((_, sha)) if sha == sha256 => Decision::Unchanged,
        Some((v, _)) if v == version => Decision::VersionReused,
        _ => Decision::Replace,
    }
}

struct Loaded {
    matcher: Matcher,
    /// Whether any entry is an `alert` (expiry aside): without one no read can hit.
    alerts: bool,
    sha256: String,
    source: UpdateSource,
    loaded_at: SystemTime,
}

#[derive(Debug, Clone)]
struct Rejection {
    reason: String,
    at: SystemTime,
}

/// The list in force, shared by the pipeline (matching) and the updater (replacing).
pub struct LiveHotlist {
    current: RwLock<Option<Arc<Loaded>>>,
    key: Option<VerifyingKey>,
    tolerance: u32,
    last_rejection: Mutex<Option<Rejection>>,
    /// Serialises updates, so that two sources cannot both decide against the same old list.
    updating: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is one assignment: a panic elsewhere cannot leave it half-done.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LiveHotlist {
    /// No list yet: every read is [`Verdict::NoMatch`] until one is accepted.
    pub fn new(key: Option<VerifyingKey>, tolerance: u32) -> Self {
        Self {
            current: RwLock::new(None),
            key,
            tolerance,
            last_rejection: Mutex::new(None),
            updating: Mutex::new(()),
        }
    }

    fn current(&self) -> Option<Arc<Loaded>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The verdict on a read's text at `now`.
    pub fn check(&self, text: &str, now: SystemTime) -> Verdict {
        self.current().map_or(Verdict::NoMatch, |l| l.matcher.check(text, now, self.tolerance))
    }

    /// Whether the list in force could make a read a hit: one is loaded and has an `alert`
    /// entry. What is kept only for hits (the context ring) is not kept otherwise.
    pub fn can_alert(&self) -> bool {
        self.current().is_some_and(|l| l.alerts)
    }

    /// An MQTT payload (the envelope of the module's doc).
    pub fn offer_envelope(
        &self,
        payload: &[u8],
        source: UpdateSource,
        now: SystemTime,
    ) -> Result<Applied, UpdateError> {
        let envelope: Envelope = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(e) => {
                return Err(self
                    .rejected(UpdateError::Envelope { from: source, problem: e.to_string() }, now))
            }
        };
        self.offer_checked(
            envelope.body.as_bytes(),
            envelope.format,
            envelope.signature.as_deref(),
            Some(&envelope.version),
            source,
            now,
        )
    }

    /// The file and, when present, its signature `<file>.sig`.
    pub fn load_file(&self, path: &Path, now: SystemTime) -> Result<Applied, UpdateError> {
        let source = UpdateSource::File(path.to_path_buf());
        let body = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                return Err(
                    self.rejected(UpdateError::Read { from: source, problem: e.to_string() }, now)
                )
            }
        };
        let signature = std::fs::read_to_string(signature_path(path)).ok();
        self.offer_checked(&body, Format::of_path(path), signature.as_deref(), None, source, now)
    }

    /// Verifies, validates and indexes `body`, then makes it current (or not, see [`decide`]).
    /// A rejection is kept for the status and leaves the current list in force.
    fn offer_checked(
        &self,
        body: &[u8],
        format: Format,
        signature: Option<&str>,
        envelope_version: Option<&str>,
        source: UpdateSource,
        now: SystemTime,
    ) -> Result<Applied, UpdateError> {
        let _one_at_a_time = lock(&self.updating);
        let sha256 = crate::digest::sha256_hex(body);
        let current = self.current();
        if let Some(c) = current.as_ref().filter(|c| c.sha256 == sha256) {
            return Ok(Applied::Unchanged { version: c.matcher.version().to_string() });
        }
        let list = match Hotlist::parse_signed(body, format, signature, self.key.as_ref()) {
            Ok(list) => list,
            Err(reason) => {
                return Err(self.rejected(UpdateError::Rejected { from: source, reason }, now))
            }
        };
        if let Some(envelope) = envelope_version.filter(|v| v.trim() != list.version) {
            return Err(self.rejected(
                UpdateError::VersionMismatch {
                    from: source,
                    envelope: envelope.to_string(),
                    body: list.version,
                },
                now,
            ));
        }
        let version = list.version.clone();
        match decide(
            current.as_ref().map(|c| (c.matcher.version(), c.sha256.as_str())),
            &version,
            &sha256,
        ) {
            Decision::Unchanged => Ok(Applied::Unchanged { version }),
            Decision::VersionReused => {
                Err(self.rejected(UpdateError::VersionReused { from: source, version }, now))
            }
            Decision::Replace => {
                let entries = list.entries.len();
                let alerts = list.entries.iter().any(|e| e.action == Action::Alert);
                let loaded = Arc::new(Loaded {
                    alerts,
                    matcher: Matcher::new(list),
                    sha256,
                    source,
                    loaded_at: now,
                });
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(loaded);
                Ok(Applied::Replaced { version, entries })
            }
        }
    }

    fn rejected(&self, error: UpdateError, now: SystemTime) -> UpdateError {
        *lock(&self.last_rejection) = Some(Rejection { reason: error.to_string(), at: now });
        error
    }

    /// The hotlist's part of the status heartbeat.
    pub fn status(&self) -> serde_json::Value {
        let rejection = lock(&self.last_rejection).clone().map(|r| serde_json::json!({ "reason": r.reason, "at": crate::time_format::rfc3339_ms(r.at) }));
        let key = self.key.as_ref().map(crate::signing::key_id);
        match self.current() {
            Some(l) => serde_json::json!({
                "version": l.matcher.version(),
                "entries": l.matcher.len(),
                "sha256": l.sha256,
                "source": l.source.to_string(),
                "loaded_at": crate::time_format::rfc3339_ms(l.loaded_at),
                "signed_by": key,
                "last_rejection": rejection,
            }),
            None => {
                serde_json::json!({ "version": null, "entries": 0, "signed_by": key, "last_rejection": rejection })
            }
        }
    }
}

/// Where the signature of a list file is: `<file>.sig`.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".sig");
    PathBuf::from(name)
}

/// What identifies a version of the file on disk without reading it.
fn stamp(path: &Path) -> Option<(SystemTime, u64, Option<SystemTime>)> {
    let meta = std::fs::metadata(path).ok()?;
    let sig = std::fs::metadata(signature_path(path)).and_then(|m| m.modified()).ok();
    Some((meta.modified().ok()?, meta.len(), sig))
}

/// The one-slot mailbox from the MQTT thread to the updater.
#[derive(Default)]
pub struct Mailbox {
    slot: Mutex<Option<(String, Vec<u8>)>>,
    stopping: AtomicBool,
    wake: Condvar,
}

impl Mailbox {
    /// Never blocks for long: replaces what was waiting (only the newest list matters).
    pub fn put(&self, topic: &str, payload: &[u8]) {
        if lock(&self.slot).replace((topic.to_string(), payload.to_vec())).is_some() {
            tracing::info!(topic, "a newer hotlist message replaced one not yet applied");
        }
        self.wake.notify_one();
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
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
                let message = {
                    let mut slot = lock(&inbox.slot);
                    while slot.is_none()
                        && !inbox.stopping.load(Ordering::Relaxed)
                        && std::time::Instant::now() < next_poll
                    {
                        let wait = next_poll.saturating_duration_since(std::time::Instant::now());
                        slot = inbox
                            .wake
                            .wait_timeout(slot, wait)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                    slot.take()
                };
                if inbox.stopping.load(Ordering::Relaxed) {
                    return;
                }
                if let Some((topic, payload)) = message {
                    let outcome = live.offer_envelope(
                        &payload,
                        UpdateSource::Mqtt(topic.clone()),
                        SystemTime::now(),
                    );
                    log_outcome(&outcome, &topic);
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

    const V1: &str = "version,v1\nplate,list,category,action,expires,note\nAB12,l,stolen,alert,,\n";
    const V2: &str = "version,v2\nplate,list,category,action,expires,note\nCD34,l,wanted,alert,,\n";

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn envelope(body: &str, version: &str, signature: Option<String>) -> Vec<u8> {
        serde_json::to_vec(&Envelope {
            format: Format::Csv,
            version: version.into(),
            signature,
            body: body.into(),
        })
        .expect("json")
    }

    fn mqtt() -> UpdateSource {
        UpdateSource::Mqtt("anpr/box/hotlist".into())
    }

    #[test]
    fn decisions_follow_version_and_content() {
        assert_eq!(decide(None, "v1", "a"), Decision::Replace);
        assert_eq!(decide(Some(("v1", "a")), "v1", "a"), Decision::Unchanged);
        assert_eq!(decide(Some(("v1", "a")), "v1", "b"), Decision::VersionReused);
        assert_eq!(decide(Some(("v1", "a")), "v2", "b"), Decision::Replace);
    }

    #[test]
    fn a_bad_update_leaves_the_old_list_matching() {
        let live = LiveHotlist::new(None, 1);
        assert_eq!(live.check("AB12", t0()), Verdict::NoMatch);
        assert_eq!(
            live.offer_envelope(&envelope(V1, "v1", None), mqtt(), t0()),
            Ok(Applied::Replaced { version: "v1".into(), entries: 1 })
        );
        assert!(live.check("AB12", t0()).is_hit());
        assert_eq!(
            live.offer_envelope(&envelope(V1, "v1", None), mqtt(), t0()),
            Ok(Applied::Unchanged { version: "v1".into() }),
            "a repeat is a no-op"
        );
        for bad in [
            b"not json".to_vec(),
            envelope(&V2.replace("alert", "alarm"), "v2", None),
            envelope(V2, "v3", None),
            envelope(&V1.replace("AB12", "AB13"), "v1", None),
        ] {
            assert!(
                live.offer_envelope(&bad, mqtt(), t0()).is_err(),
                "{}",
                String::from_utf8_lossy(&bad)
            );
            assert!(live.check("AB12", t0()).is_hit(), "the old list still matches");
        }
        let status = live.status();
        assert_eq!((status["version"].as_str(), status["entries"].as_u64()), (Some("v1"), Some(1)));
        assert!(
            status["last_rejection"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("already loaded")),
            "{status}"
        );
        assert_eq!(status["source"], "mqtt anpr/box/hotlist");
        assert!(matches!(
            live.offer_envelope(&envelope(V2, "v2", None), mqtt(), t0()),
            Ok(Applied::Replaced { .. })
        ));
        assert_eq!(live.check("AB12", t0()), Verdict::NoMatch);
        assert!(live.check("CD34", t0()).is_hit());
    }

    #[test]
    fn with_a_key_only_signed_updates_are_taken() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let live = LiveHotlist::new(Some(key.verifying_key()), 1);
        let e = live.offer_envelope(&envelope(V1, "v1", None), mqtt(), t0()).expect_err("unsigned");
        assert!(e.to_string().contains("not signed"), "{e}");
        let other = ed25519_dalek::SigningKey::from_bytes(&[6; 32]);
        let e = live
            .offer_envelope(
                &envelope(V1, "v1", Some(crate::signing::sign(&other, V1.as_bytes()))),
                mqtt(),
                t0(),
            )
            .expect_err("wrong key");
        assert!(e.to_string().contains("signature"), "{e}");
        assert_eq!(live.check("AB12", t0()), Verdict::NoMatch);
        let signed = envelope(V1, "v1", Some(crate::signing::sign(&key, V1.as_bytes())));
        assert!(matches!(live.offer_envelope(&signed, mqtt(), t0()), Ok(Applied::Replaced { .. })));
        assert!(live.check("AB12", t0()).is_hit());
    }

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
        mailbox.put("anpr/fleet/hotlist", &envelope(V1, "v1", None));
        wait_for("AB12");
        assert_eq!(live.status()["source"], "mqtt anpr/fleet/hotlist");
        shutdown.trigger("test");
        updater.join().expect("the updater stops at the shutdown");
    }
}
