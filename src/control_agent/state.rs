//! What the control plane keeps in `control.state_dir` across restarts, one file each:
//! - `config.toml`: the configuration in force when one came by command (without it, the file
//!   given to `run --config` is);
//! - `config.previous.toml`: the one it replaced, gone back to when the new one fails;
//! - `config.failed.toml`: the last one that failed, kept for the operator to read;
//! - `probation.json` (`{"id", "since_ms"}`): `config.toml` started but has not yet reached the
//!   broker;
//! - `answers.json`: answers decided while no publisher ran (a rollback), sent at the next start;
//! - `taken.json` (`{"<id>": <expiry, ms since the epoch>}`): commands already taken.
//!
//! Every write replaces its file atomically, so a power cut leaves the old state or the new.

use crate::control::{Action, Outcome};
use crate::small_file::write_atomic;
use crate::time_format::rfc3339_ms;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Answers kept for the next start at most; older ones say less than the newest.
const MAX_ANSWERS: usize = 16;

/// The configuration taken by command `id`, started at `since_ms`, not yet confirmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probation {
    pub id: String,
    pub since_ms: u64,
}

pub struct StateDir {
    dir: PathBuf,
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl StateDir {
    /// The folder, made when missing.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `config.toml`, when a configuration came by command.
    pub fn accepted(&self) -> Option<PathBuf> {
        Some(self.path("config.toml")).filter(|p| p.exists())
    }

    pub fn probation(&self) -> Option<Probation> {
        self.read_json("probation.json")
    }

    /// Makes `text` (already checked) the configuration of the next start, on probation; the
    /// one in force is kept as the previous.
    pub fn accept(&self, id: &str, text: &str, now: SystemTime) -> io::Result<()> {
        if let Some(current) = self.accepted() {
            std::fs::rename(current, self.path("config.previous.toml"))?;
        }
        write_atomic(&self.path("config.toml"), text.as_bytes())?;
        self.write_json("probation.json", &Probation { id: id.into(), since_ms: millis(now) })
    }

    /// Ends the probation: the configuration reached the broker. Returns what it was.
    pub fn confirm(&self) -> io::Result<Option<Probation>> {
        let probation = self.probation();
        remove_if_there(&self.path("probation.json"))?;
        Ok(probation)
    }

    /// Goes back to the configuration before the one on probation (the file of `run --config`
    /// when there was none), keeps the failed one as `config.failed.toml`, and queues the
    /// answer that says so.
    pub fn roll_back(&self, reason: &str, now: SystemTime) -> io::Result<Outcome> {
        let probation = self.probation();
        if let Some(failed) = self.accepted() {
            std::fs::rename(failed, self.path("config.failed.toml"))?;
        }
        let previous = self.path("config.previous.toml");
        if previous.exists() {
            std::fs::rename(previous, self.path("config.toml"))?;
        }
        remove_if_there(&self.path("probation.json"))?;
        let outcome = Outcome {
            id: probation.map(|p| p.id),
            action: Some(Action::Config),
            accepted: false,
            detail: format!("rolled back to the configuration before it: {reason}"),
            at: rfc3339_ms(now),
        };
        self.push_answer(&outcome)?;
        Ok(outcome)
    }

    pub fn push_answer(&self, outcome: &Outcome) -> io::Result<()> {
        let mut answers: Vec<Outcome> = self.read_json("answers.json").unwrap_or_default();
        answers.push(outcome.clone());
        let keep_from = answers.len().saturating_sub(MAX_ANSWERS);
        self.write_json("answers.json", &answers[keep_from..])
    }

    /// The answers queued for this start, removed from the folder.
    pub fn take_answers(&self) -> io::Result<Vec<Outcome>> {
        let answers = self.read_json("answers.json").unwrap_or_default();
        remove_if_there(&self.path("answers.json"))?;
        Ok(answers)
    }

    pub fn taken(&self) -> BTreeMap<String, SystemTime> {
        let taken: BTreeMap<String, u64> = self.read_json("taken.json").unwrap_or_default();
        taken.into_iter().map(|(id, ms)| (id, UNIX_EPOCH + Duration::from_millis(ms))).collect()
    }

    pub fn save_taken(&self, taken: &BTreeMap<String, SystemTime>) -> io::Result<()> {
        let taken: BTreeMap<&str, u64> =
            taken.iter().map(|(id, expiry)| (id.as_str(), millis(*expiry))).collect();
        self.write_json("taken.json", &taken)
    }

    /// A missing file is `None`; so is a damaged one, said in the log (the state is advice to
    /// the next start, and a unit must start without it).
    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        let path = self.path(name);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "control state file damaged; ignored");
                None
            }
        }
    }

    fn write_json<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
        write_atomic(&self.path(name), &bytes)
    }
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_241_000 + s)
    }

    fn read(state: &StateDir, name: &str) -> Option<String> {
        std::fs::read_to_string(state.path(name)).ok()
    }

    #[test]
    fn a_configuration_is_accepted_confirmed_and_the_next_one_rolled_back_to_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::open(&dir.path().join("control")).expect("open");
        assert_eq!(state.accepted(), None);
        state.accept("c1", "first", at(0)).expect("accept");
        assert_eq!(state.probation(), Some(Probation { id: "c1".into(), since_ms: millis(at(0)) }));
        assert_eq!(state.confirm().expect("confirm").map(|p| p.id).as_deref(), Some("c1"));
        assert_eq!(state.probation(), None);
        state.accept("c2", "second", at(10)).expect("accept");
        assert_eq!(read(&state, "config.previous.toml").as_deref(), Some("first"));
        let outcome = state.roll_back("did not start", at(20)).expect("roll back");
        assert_eq!((outcome.id.as_deref(), outcome.accepted), (Some("c2"), false));
        assert!(outcome.detail.ends_with("did not start"), "{}", outcome.detail);
        assert_eq!(read(&state, "config.toml").as_deref(), Some("first"));
        assert_eq!(read(&state, "config.failed.toml").as_deref(), Some("second"));
        assert_eq!(state.probation(), None);
        assert_eq!(state.take_answers().expect("answers"), [outcome]);
        assert!(state.take_answers().expect("answers").is_empty(), "each answer is sent once");
    }

    #[test]
    fn the_first_configuration_by_command_rolls_back_to_the_file_given_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::open(dir.path()).expect("open");
        state.accept("c1", "first", at(0)).expect("accept");
        state.roll_back("no broker within 120 s", at(130)).expect("roll back");
        assert_eq!(state.accepted(), None);
    }

    #[test]
    fn taken_ids_survive_and_damage_is_no_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::open(dir.path()).expect("open");
        let taken = BTreeMap::from([("c1".to_string(), at(300))]);
        state.save_taken(&taken).expect("save");
        assert_eq!(state.taken(), taken);
        std::fs::write(state.path("taken.json"), b"{not json").expect("damage");
        assert!(state.taken().is_empty());
        for i in 0..20 {
            let outcome = Outcome {
                id: Some(format!("c{i}")),
                action: None,
                accepted: true,
                detail: String::new(),
                at: rfc3339_ms(at(i)),
            };
            state.push_answer(&outcome).expect("push");
        }
        let answers = state.take_answers().expect("answers");
        assert_eq!(answers.len(), MAX_ANSWERS);
        assert_eq!(answers[0].id.as_deref(), Some("c4"), "the oldest go first");
    }
}
