//! The hotlist in force, replaced atomically while the unit runs: from the file on disk
//! (watched), from full lists on `<prefix>/<device>/hotlist` and `<prefix>/fleet/hotlist`, and
//! from deltas on `…/hotlist/delta` (`envelope.rs` has what the payloads look like).
//!
//! Design:
//! - A new list is verified (signature, when a key is configured) and validated completely,
//!   and indexed, before one pointer swap makes it current; matching never sees half a list,
//!   and a rejected list leaves the old one matching. The last rejection is kept for the status.
//! - A delta is verified and validated the same way, then applied to the list held when that is
//!   its base, and the list it makes is indexed and swapped in the same way. When it is not,
//!   `sequence.rs` decides (pure) whether it waits for its base or is an old one; one that does
//!   not apply changes nothing. Every such outcome is logged with the versions held and needed.
//! - The unit follows one list: the last valid full list from any source replaces it. A list is
//!   known by its version and its content (`Hotlist::digest`, whatever bytes it came in): the
//!   same bytes again (a retained message arrives again at every resubscription) are a no-op
//!   without parsing; a known version with different content is refused (bump the version), so
//!   one version always means one content, reached whole or by deltas.
//! - MQTT messages reach the updater's thread through a bounded mailbox (`mailbox.rs`), so a
//!   large list is never parsed on the thread that sends hits. The updater polls the file's
//!   modification time and size every `poll_interval_s`, sleeping in between.
//!
//! A file's signature is in `<file>.sig`.

use super::delta::{Delta, DeltaError};
use super::envelope::{self, DeltaEnvelope, Envelope, OpenError};
use super::list::{check_signature, Action, Format, Hotlist, RejectReason};
use super::matcher::{Matcher, Verdict};
use super::sequence::{By, Sequence, Skip, Step};
use crate::signing::VerifyingKey;
use crate::sync::lock;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

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
    #[error("{from}: {problem}")]
    Open { from: UpdateSource, problem: OpenError },
    #[error("{from}: not a hotlist envelope {{format, version, signature, body}}: {problem}")]
    Envelope { from: UpdateSource, problem: String },
    #[error("{from}: not a hotlist delta envelope {{base, version, signature, body}}: {problem}")]
    DeltaEnvelope { from: UpdateSource, problem: String },
    #[error("{from}: {reason}")]
    Rejected { from: UpdateSource, reason: RejectReason },
    #[error("{from}: the envelope says version `{envelope}` but the list says `{body}`")]
    VersionMismatch { from: UpdateSource, envelope: String, body: String },
    #[error("{from}: version `{version}` is already loaded with other content; give the new list a new version")]
    VersionReused { from: UpdateSource, version: String },
    #[error("{from}: the delta does not apply, nothing of it is: {error}")]
    Delta { from: UpdateSource, error: DeltaError },
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
    /// Valid, and not applied (yet): out of order (see `sequence.rs`).
    Skipped(Skip),
}

/// What to do with a valid list, from the versions and content digests alone.
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
    /// The content's identity: [`Hotlist::digest`].
    sha256: String,
    /// SHA-256 of the body it came in whole (none when a delta made it): the same bytes again
    /// are known without parsing.
    body_sha256: Option<String>,
    source: UpdateSource,
    loaded_at: SystemTime,
}

impl Loaded {
    fn new(
        list: Hotlist,
        body_sha256: Option<String>,
        source: UpdateSource,
        now: SystemTime,
    ) -> Self {
        Self {
            alerts: list.entries.iter().any(|e| e.action == Action::Alert),
            sha256: list.digest(),
            matcher: Matcher::new(list),
            body_sha256,
            source,
            loaded_at: now,
        }
    }
}

#[derive(Debug, Clone)]
struct Rejection {
    reason: String,
    at: SystemTime,
}

/// What the heartbeat says of the order of updates: whether the unit is behind, and the version
/// it wants when it knows it.
#[derive(Debug, Clone, Default)]
struct Behind {
    behind: bool,
    wants: Option<String>,
}

/// A delta waiting for its base, and where it came from.
type Pending = (Delta, UpdateSource);

/// The list in force, shared by the pipeline (matching) and the updater (replacing).
pub struct LiveHotlist {
    current: RwLock<Option<Arc<Loaded>>>,
    key: Option<VerifyingKey>,
    tolerance: u32,
    last_rejection: Mutex<Option<Rejection>>,
    /// Serialises updates, so that two sources cannot both decide against the same old list,
    /// and holds what is known of their order.
    updating: Mutex<Sequence<Pending>>,
    /// Copied from the sequence after each update, so that a heartbeat never waits for one.
    behind: Mutex<Behind>,
}

impl LiveHotlist {
    /// No list yet: every read is [`Verdict::NoMatch`] until one is accepted.
    pub fn new(key: Option<VerifyingKey>, tolerance: u32) -> Self {
        Self {
            current: RwLock::new(None),
            key,
            tolerance,
            last_rejection: Mutex::new(None),
            updating: Mutex::new(Sequence::default()),
            behind: Mutex::new(Behind::default()),
        }
    }

    fn current(&self) -> Option<Arc<Loaded>> {
        crate::sync::read(&self.current).clone()
    }

    fn install(&self, loaded: Loaded) {
        *crate::sync::write(&self.current) = Some(Arc::new(loaded));
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

    /// The version in force, if any.
    pub fn version(&self) -> Option<String> {
        self.current().map(|l| l.matcher.version().to_string())
    }

    /// Whether the unit knows of a version it cannot reach (`sequence.rs`).
    pub fn behind(&self) -> bool {
        lock(&self.behind).behind
    }

    /// A full list's MQTT payload (`envelope.rs`), compressed or not.
    pub fn offer_envelope(
        &self,
        payload: &[u8],
        source: UpdateSource,
        now: SystemTime,
    ) -> Result<Applied, UpdateError> {
        let parsed = envelope::open(payload)
            .map_err(|problem| UpdateError::Open { from: source.clone(), problem })
            .and_then(|opened| {
                serde_json::from_slice::<Envelope>(&opened).map_err(|e| UpdateError::Envelope {
                    from: source.clone(),
                    problem: e.to_string(),
                })
            });
        let envelope = parsed.map_err(|e| self.rejected(e, now))?;
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

    /// Verifies, validates and indexes `body`, then makes it current (or not, see [`decide`]
    /// and `sequence.rs`). A rejection is kept for the status and leaves the current list in
    /// force.
    fn offer_checked(
        &self,
        body: &[u8],
        format: Format,
        signature: Option<&str>,
        envelope_version: Option<&str>,
        source: UpdateSource,
        now: SystemTime,
    ) -> Result<Applied, UpdateError> {
        let mut sequence = lock(&self.updating);
        let body_sha256 = crate::digest::sha256_hex(body);
        let current = self.current();
        if let Some(c) = current.as_ref().filter(|c| c.body_sha256.as_ref() == Some(&body_sha256)) {
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
        let held = current.as_ref().map(|c| c.matcher.version().to_string());
        if let Some(skip) = sequence.full(held.as_deref(), &list.version) {
            return Ok(Applied::Skipped(skip));
        }
        let version = list.version.clone();
        let sha256 = list.digest();
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
                self.install(Loaded::new(list, Some(body_sha256), source, now));
                sequence.moved(held.as_deref(), &version, By::Full);
                self.follow(&mut sequence, &version, true, now);
                Ok(Applied::Replaced { version, entries })
            }
        }
    }

    /// A delta's MQTT payload (`envelope.rs`), compressed or not: applied when the list held
    /// is its base, else kept or ignored as `sequence.rs` decides. Nothing of a delta that is
    /// malformed, wrongly signed or does not apply is applied.
    pub fn offer_delta(
        &self,
        payload: &[u8],
        source: UpdateSource,
        now: SystemTime,
    ) -> Result<Applied, UpdateError> {
        let checked = self.check_delta(payload, &source);
        let delta = checked.map_err(|e| self.rejected(e, now))?;
        let mut sequence = lock(&self.updating);
        let held = self.version();
        let step = sequence.delta(held.as_deref(), &delta.base, &delta.version);
        let applied = match step {
            Step::Apply => {
                let base = delta.base.clone();
                match self.apply(&mut sequence, &delta, source, now) {
                    Ok(applied) => {
                        self.follow(&mut sequence, &delta.version, false, now);
                        Ok(applied)
                    }
                    Err(error) => {
                        tracing::debug!(base, "the delta does not apply to its base");
                        Err(self.rejected(error, now))
                    }
                }
            }
            Step::Wait(skip) => {
                let (base, version) = (delta.base.clone(), delta.version.clone());
                if let Some(dropped) = sequence.wait(base, version, (delta, source)) {
                    tracing::warn!(base = dropped.base, version = dropped.version, "a waiting hotlist delta dropped: too many wait; the unit stays behind until a full list");
                }
                Ok(Applied::Skipped(skip))
            }
            Step::Ignore(skip) => Ok(Applied::Skipped(skip)),
        };
        self.publish_behind(&sequence);
        applied
    }

    /// Deltas dropped from the mailbox unread: the unit cannot know what it missed.
    pub fn missed_deltas(&self) {
        let mut sequence = lock(&self.updating);
        sequence.missed(None);
        self.publish_behind(&sequence);
    }

    /// The payload opened, its envelope read, its signature checked, and the delta validated.
    fn check_delta(&self, payload: &[u8], source: &UpdateSource) -> Result<Delta, UpdateError> {
        let from = || source.clone();
        let opened = envelope::open(payload)
            .map_err(|problem| UpdateError::Open { from: from(), problem })?;
        let envelope: DeltaEnvelope = serde_json::from_slice(&opened)
            .map_err(|e| UpdateError::DeltaEnvelope { from: from(), problem: e.to_string() })?;
        let body = envelope.body.as_bytes();
        check_signature(body, envelope.signature.as_deref(), self.key.as_ref())
            .map_err(|reason| UpdateError::Rejected { from: from(), reason })?;
        let delta = Delta::parse(body).map_err(|e| UpdateError::Rejected {
            from: from(),
            reason: RejectReason::Invalid(e),
        })?;
        let (said, made) = (
            format!("`{}` to `{}`", envelope.base.trim(), envelope.version.trim()),
            format!("`{}` to `{}`", delta.base, delta.version),
        );
        if said != made {
            return Err(UpdateError::VersionMismatch { from: from(), envelope: said, body: made });
        }
        Ok(delta)
    }

    /// Applies `delta` to the list held (its base) and swaps the result in. One that does not
    /// apply leaves the unit behind: it cannot reach the delta's version but by a full list.
    fn apply(
        &self,
        sequence: &mut Sequence<Pending>,
        delta: &Delta,
        source: UpdateSource,
        now: SystemTime,
    ) -> Result<Applied, UpdateError> {
        // Applied only to the list held (its base): there is one, since the delta matched it.
        let made = match self.current() {
            Some(current) => delta.apply(current.matcher.list()),
            None => Err(DeltaError::OtherBase {
                base: delta.base.clone(),
                held: "(none)".into(),
                version: delta.version.clone(),
            }),
        };
        let list = made.map_err(|error| {
            sequence.missed(Some(delta.version.clone()));
            UpdateError::Delta { from: source.clone(), error }
        })?;
        let entries = list.entries.len();
        self.install(Loaded::new(list, None, source, now));
        sequence.moved(Some(&delta.base), &delta.version, By::Delta);
        Ok(Applied::Replaced { version: delta.version.clone(), entries })
    }

    /// After the list became `held`: applies the waiting deltas that follow it, in turn, then
    /// drops those that are old now (every one left, after a full list).
    fn follow(
        &self,
        sequence: &mut Sequence<Pending>,
        held: &str,
        after_full: bool,
        now: SystemTime,
    ) {
        let mut held = held.to_string();
        while let Some(waiting) = sequence.ready(&held) {
            let (delta, source) = &waiting.delta;
            match self.apply(sequence, delta, source.clone(), now) {
                Ok(_) => {
                    tracing::info!(
                        base = held,
                        version = waiting.version,
                        "a waiting hotlist delta applied"
                    );
                    held = waiting.version;
                }
                Err(error) => {
                    tracing::warn!(%error, "a waiting hotlist delta does not apply");
                    self.rejected(error, now);
                    break;
                }
            }
        }
        for dropped in sequence.settle(&held, after_full) {
            tracing::info!(
                held,
                base = dropped.base,
                version = dropped.version,
                "a waiting hotlist delta dropped: the list held is newer"
            );
        }
        self.publish_behind(sequence);
    }

    fn publish_behind(&self, sequence: &Sequence<Pending>) {
        *lock(&self.behind) =
            Behind { behind: sequence.behind(), wants: sequence.wants().map(str::to_string) };
    }

    fn rejected(&self, error: UpdateError, now: SystemTime) -> UpdateError {
        *lock(&self.last_rejection) = Some(Rejection { reason: error.to_string(), at: now });
        error
    }

    /// The hotlist's part of the status heartbeat: `sha256` is the content's digest, `wants`
    /// the version the unit knows of and cannot reach (when it is behind and knows its name).
    pub fn status(&self) -> serde_json::Value {
        let rejection = lock(&self.last_rejection).clone().map(|r| serde_json::json!({ "reason": r.reason, "at": crate::time_format::rfc3339_ms(r.at) }));
        let key = self.key.as_ref().map(crate::signing::key_id);
        let wants = lock(&self.behind).wants.clone();
        match self.current() {
            Some(l) => serde_json::json!({
                "version": l.matcher.version(),
                "entries": l.matcher.len(),
                "sha256": l.sha256,
                "source": l.source.to_string(),
                "loaded_at": crate::time_format::rfc3339_ms(l.loaded_at),
                "signed_by": key,
                "wants": wants,
                "last_rejection": rejection,
            }),
            None => {
                serde_json::json!({ "version": null, "entries": 0, "signed_by": key, "wants": wants, "last_rejection": rejection })
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

/// Also the fixtures of the updater's tests (`updater.rs`).
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    pub(crate) const V1: &str =
        "version,v1\nplate,list,category,action,expires,note\nAB12,l,stolen,alert,,\n";
    pub(crate) const V2: &str =
        "version,v2\nplate,list,category,action,expires,note\nCD34,l,wanted,alert,,\n";

    pub(crate) fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    pub(crate) fn envelope(body: &str, version: &str, signature: Option<String>) -> Vec<u8> {
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

    fn delta(
        base: &str,
        version: &str,
        body: &str,
        key: Option<&ed25519_dalek::SigningKey>,
    ) -> Vec<u8> {
        let body = format!(r#"{{"base":"{base}","version":"{version}",{body}}}"#);
        serde_json::to_vec(&DeltaEnvelope {
            base: base.into(),
            version: version.into(),
            signature: key.map(|k| crate::signing::sign(k, body.as_bytes())),
            body,
        })
        .expect("json")
    }

    const ADD_EF56: &str =
        r#""added":[{"plate":"EF56","list":"l","category":"stolen","action":"alert"}]"#;

    fn delta_source() -> UpdateSource {
        UpdateSource::Mqtt("anpr/fleet/hotlist/delta".into())
    }

    #[test]
    fn a_delta_on_the_list_held_swaps_in_the_list_it_makes_equal_to_that_list_received_whole() {
        let live = LiveHotlist::new(None, 0);
        live.offer_envelope(&envelope(V1, "v1", None), mqtt(), t0()).expect("v1");
        let applied = live.offer_delta(&delta("v1", "v2", ADD_EF56, None), delta_source(), t0());
        assert_eq!(applied, Ok(Applied::Replaced { version: "v2".into(), entries: 2 }));
        assert!(live.check("EF56", t0()).is_hit() && live.check("AB12", t0()).is_hit());
        assert!(!live.behind());
        let by_delta = live.status();
        // The same list whole, its entries in another order, compressed: nothing changes.
        let whole = "version,v2\nplate,list,category,action,expires,note\nEF56,l,stolen,alert,,\nAB12,l,stolen,alert,,\n";
        let packed = envelope::compress(&envelope(whole, "v2", None)).expect("zstd");
        assert_eq!(
            live.offer_envelope(&packed, mqtt(), t0()),
            Ok(Applied::Unchanged { version: "v2".into() })
        );
        assert_eq!(live.status()["sha256"], by_delta["sha256"]);
        // The retained v1 that the delta moved on from, arriving again, is an old list.
        let again = live.offer_envelope(&envelope(V1, "v1", None), mqtt(), t0());
        assert!(matches!(again, Ok(Applied::Skipped(Skip::OldList { .. }))), "{again:?}");
        assert!(live.check("EF56", t0()).is_hit(), "still v2");
    }

    #[test]
    fn a_delta_for_another_base_changes_nothing_and_leaves_the_unit_behind_until_a_full_list() {
        let live = LiveHotlist::new(None, 0);
        live.offer_envelope(&envelope(V1, "v1", None), mqtt(), t0()).expect("v1");
        let skipped = live.offer_delta(&delta("v5", "v6", ADD_EF56, None), delta_source(), t0());
        let Ok(Applied::Skipped(skip)) = skipped else { panic!("{skipped:?}") };
        let said = skip.to_string();
        assert!(said.contains("holds version `v1`") && said.contains("needs `v5`"), "{said}");
        assert!(live.behind() && live.check("AB12", t0()).is_hit());
        assert_eq!(live.status()["wants"], "v6");
        // The full list of v5 comes: the waiting delta follows it at once.
        let v5 = V2.replace("version,v2", "version,v5");
        assert!(matches!(
            live.offer_envelope(&envelope(&v5, "v5", None), mqtt(), t0()),
            Ok(Applied::Replaced { .. })
        ));
        assert_eq!(live.version().as_deref(), Some("v6"));
        assert!(live.check("EF56", t0()).is_hit() && live.check("CD34", t0()).is_hit());
        assert!(!live.behind(), "{}", live.status());
        assert!(live.status()["wants"].is_null());
    }

    #[test]
    fn a_delta_wrongly_signed_malformed_or_not_matching_its_base_changes_nothing_and_says_why() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[6; 32]);
        let live = LiveHotlist::new(Some(key.verifying_key()), 0);
        let signed = envelope(V1, "v1", Some(crate::signing::sign(&key, V1.as_bytes())));
        live.offer_envelope(&signed, mqtt(), t0()).expect("v1");
        let refused = |payload: Vec<u8>, needle: &str| {
            let e = live.offer_delta(&payload, delta_source(), t0()).expect_err(needle);
            assert!(e.to_string().contains(needle), "{e}");
            assert_eq!(live.version().as_deref(), Some("v1"));
            assert!(!live.check("EF56", t0()).is_hit() && live.check("AB12", t0()).is_hit());
            assert!(live.status()["last_rejection"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains(needle)));
        };
        refused(delta("v1", "v2", ADD_EF56, Some(&other)), "signature does not match");
        refused(delta("v1", "v2", ADD_EF56, None), "not signed");
        refused(b"{\"base\":\"v1\"}".to_vec(), "delta envelope");
        refused(delta("v1", "v2", &ADD_EF56.replace("alert", "alarm"), Some(&key)), "alarm");
        assert!(!live.behind(), "nothing of these says a newer version exists");
        let absent = r#""removed":[{"plate":"ZZ99","list":"l"}]"#;
        refused(delta("v1", "v2", absent, Some(&key)), "ZZ99");
        assert!(live.behind(), "its base is held, yet the unit cannot reach v2 but whole");
        assert_eq!(live.status()["wants"], "v2");
    }
}
