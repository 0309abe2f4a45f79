//! The control plane at work on a unit: takes the commands arriving on its control topics off
//! the publisher's thread, decides on each with `control::CommandGate`, acts, and answers every
//! one on `<prefix>/<device>/control/result`.
//!
//! - `status`: the heartbeat is published now.
//! - `config`: the new configuration is checked exactly as `check-config` checks a file, must
//!   keep this unit's `device.id` and its `[control]` section (or the centre would lose it), is
//!   written to the state folder (`state.rs`) and applied by a restart of the unit's pipeline
//!   in this process ([`Restart`]; `service::serve` does it). It is on probation until it
//!   reaches the broker: a start that fails, or no broker within `control.probation_s`, brings
//!   back the configuration before it, and the answer says so.
//! - `snapshot`: the next frame recognised leaves on `<prefix>/<device>/snapshot`, every plate
//!   detected on it blurred (`pipeline/snapshot.rs`); answered once it left, or refused when no
//!   frame came within [`SNAPSHOT_WAIT`].
//!
//! Commands wait in a bounded mailbox ([`MAILBOX`]): the publisher's thread never blocks on
//! one, and a flood beyond it is dropped with a log line (a command that matters is sent again
//! under a new id once the centre sees no answer).

pub mod state;

use crate::config::Config;
use crate::control::{Action, Arrival, Command, CommandGate, Outcome, Target};
use crate::pipeline::Snapshots;
use crate::publish::ControlLink;
use crate::shutdown::Shutdown;
use crate::time_format::rfc3339_ms;
use crate::worker::Worker;
use state::StateDir;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Commands waiting for the agent at once.
pub const MAILBOX: usize = 16;

/// How long a snapshot waits for a frame (a camera gone, a source ended).
pub const SNAPSHOT_WAIT: Duration = Duration::from_secs(10);

/// Where the publisher's thread leaves commands: never blocks.
#[derive(Clone)]
pub struct Mailbox(SyncSender<(Arrival, Vec<u8>)>);

impl Mailbox {
    pub fn put(&self, arrival: Arrival, payload: &[u8]) {
        if let Err(TrySendError::Full(_)) = self.0.try_send((arrival, payload.to_vec())) {
            tracing::warn!(waiting = MAILBOX, "command dropped: the control mailbox is full");
        }
    }
}

/// Set when the unit is to start again (a configuration taken, or rolled back).
#[derive(Clone, Default)]
pub struct Restart(Arc<AtomicBool>);

impl Restart {
    pub fn asked(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

pub fn mailbox() -> (Mailbox, Receiver<(Arrival, Vec<u8>)>) {
    let (sender, receiver) = std::sync::mpsc::sync_channel(MAILBOX);
    (Mailbox(sender), receiver)
}

struct Agent {
    gate: CommandGate,
    /// `None` without `[control]`: every command is refused (no key), and answered.
    state: Option<StateDir>,
    current: Config,
    link: ControlLink,
    shutdown: Shutdown,
    restart: Restart,
    /// The configuration on probation: its command id and when it must have reached the broker.
    probation: Option<(String, Instant)>,
    snapshots: Arc<Snapshots>,
    /// The snapshot command waiting for its frame, and until when.
    snapshot: Option<(Command, Instant)>,
}

/// Starts the agent for the unit configured by `config`, answering through `link`.
pub fn start(
    config: &Config,
    link: ControlLink,
    snapshots: Arc<Snapshots>,
    inbox: Receiver<(Arrival, Vec<u8>)>,
    shutdown: &Shutdown,
    restart: &Restart,
) -> anyhow::Result<Worker> {
    use anyhow::Context as _;
    // The operator's key as the configuration was checked with it (`Config::parse`).
    let key = config.prepared().operator_key;
    let state = match &config.control {
        Some(control) => Some(StateDir::open(&control.state_dir).with_context(|| {
            format!("control.state_dir: cannot make {}", control.state_dir.display())
        })?),
        None => None,
    };
    let taken = state.as_ref().map(StateDir::taken).unwrap_or_default();
    let probation = match (&state, &config.control) {
        (Some(state), Some(control)) => state
            .probation()
            .map(|p| (p.id, Instant::now() + Duration::from_secs(control.probation_s))),
        _ => None,
    };
    let mut agent = Agent {
        gate: CommandGate::new(key, &config.device().id).with_taken(taken),
        state,
        current: config.clone(),
        link,
        shutdown: shutdown.clone(),
        restart: restart.clone(),
        probation,
        snapshots,
        snapshot: None,
    };
    Ok(Worker::spawn("control", move || agent.run(&inbox))?)
}

impl Agent {
    fn run(&mut self, inbox: &Receiver<(Arrival, Vec<u8>)>) {
        if let Some(state) = &self.state {
            match state.take_answers() {
                Ok(answers) => answers.iter().for_each(|a| self.answer(a)),
                Err(error) => tracing::warn!(%error, "answers of the last start not read"),
            }
        }
        while !self.shutdown.is_triggered() {
            self.watch_probation();
            self.watch_snapshot();
            match inbox.recv_timeout(Duration::from_millis(200)) {
                Ok((arrival, payload)) => self.on_command(arrival, &payload),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn answer(&self, outcome: &Outcome) {
        tracing::info!(id = ?outcome.id, action = ?outcome.action, accepted = outcome.accepted, detail = %outcome.detail, "command answered");
        match serde_json::to_vec(outcome) {
            Ok(payload) => self.link.answer(payload),
            Err(error) => tracing::error!(%error, "answer not serialisable"),
        }
    }

    fn reply(&self, command: &Command, accepted: bool, detail: impl Into<String>) {
        self.answer(&Outcome {
            id: Some(command.id.clone()),
            action: Some(command.action),
            accepted,
            detail: detail.into(),
            at: rfc3339_ms(SystemTime::now()),
        });
    }

    /// Confirms the configuration on probation once connected; brings the one before back
    /// when the broker was not reached in time.
    fn watch_probation(&mut self) {
        let Some((id, deadline)) = self.probation.clone() else { return };
        let Some(state) = &self.state else { return };
        if self.link.is_connected() {
            self.probation = None;
            match state.confirm() {
                Ok(_) => self.answer(&Outcome {
                    id: Some(id),
                    action: Some(Action::Config),
                    accepted: true,
                    detail: "the new configuration runs and reached the broker".into(),
                    at: rfc3339_ms(SystemTime::now()),
                }),
                Err(error) => tracing::error!(%error, "could not end the probation"),
            }
        } else if Instant::now() >= deadline {
            self.probation = None;
            let reason = "it did not reach the broker within control.probation_s";
            match state.roll_back(reason, SystemTime::now()) {
                Ok(_) => self.restart(&format!("configuration of command {id} rolled back")),
                Err(error) => tracing::error!(%error, "could not roll the configuration back"),
            }
        }
    }

    /// Answers the snapshot command once its frame left, or once it waited too long.
    fn watch_snapshot(&mut self) {
        let Some(deadline) = self.snapshot.as_ref().map(|(_, deadline)| *deadline) else {
            return;
        };
        let (accepted, detail) = match self.snapshots.collect() {
            Some((_, Ok(taken))) => (
                true,
                format!(
                    "published on {} ({} bytes, {} plates blurred)",
                    taken.topic, taken.bytes, taken.plates_blurred
                ),
            ),
            Some((_, Err(why))) => (false, why),
            None if Instant::now() >= deadline => {
                self.snapshots.cancel();
                (false, format!("no frame was recognised within {} s", SNAPSHOT_WAIT.as_secs()))
            }
            None => return,
        };
        if let Some((command, _)) = self.snapshot.take() {
            self.reply(&command, accepted, detail);
        }
    }

    fn restart(&self, why: &str) {
        self.restart.0.store(true, Ordering::Relaxed);
        self.shutdown.trigger(why);
    }

    fn on_command(&mut self, arrival: Arrival, payload: &[u8]) {
        let command = match self.gate.admit(arrival, payload, SystemTime::now()) {
            Ok(command) => command,
            Err(refused) => {
                return self.answer(&Outcome {
                    id: refused.id,
                    action: refused.action,
                    accepted: false,
                    detail: refused.reason.to_string(),
                    at: rfc3339_ms(SystemTime::now()),
                })
            }
        };
        if let Some(state) = &self.state {
            // Before acting: a command taken must stay taken if the unit stops right after.
            if let Err(error) = state.save_taken(self.gate.taken()) {
                tracing::error!(%error, "ids of taken commands not saved: a replay after a restart would be taken");
            }
        }
        match command.action {
            Action::Status => {
                self.link.heartbeat_now();
                self.reply(&command, true, "heartbeat published");
            }
            Action::Snapshot => {
                if self.snapshot.is_some() || !self.snapshots.ask(&command.id) {
                    self.reply(
                        &command,
                        false,
                        "a snapshot is already being taken; ask again once it is answered",
                    );
                } else {
                    self.snapshot = Some((command, Instant::now() + SNAPSHOT_WAIT));
                }
            }
            Action::Config => match self.review(&command) {
                Err(why) => self.reply(&command, false, why),
                Ok(text) => self.apply(&command, text),
            },
        }
    }

    /// The new configuration's text if this unit may take it, or why not.
    fn review<'c>(&self, command: &'c Command) -> Result<&'c str, String> {
        let text = command.config.as_deref().unwrap_or_default();
        if command.target == Target::Fleet {
            return Err("a complete configuration names one unit (device.id): send it to that unit, not to the fleet".into());
        }
        if self.probation.is_some() {
            return Err("the configuration of an earlier command is still on probation; send it again once that one is answered".into());
        }
        let name = format!("the configuration of command {}", command.id);
        let new = Config::parse(text, Path::new(&name)).map_err(|e| e.to_string())?;
        if new.device().id != self.current.device().id {
            return Err(format!(
                "device.id is `{}`, this unit is `{}`",
                new.device().id,
                self.current.device().id
            ));
        }
        if new.runtime != self.current.runtime {
            return Err("[runtime] differs: ONNX Runtime is loaded once per process, so change it in the unit's file and restart the service".into());
        }
        match (&new.control, &self.current.control) {
            (None, _) => Err("it has no [control] section: the unit would take no command after it, and could not be given another configuration".into()),
            (Some(new), Some(now)) if new.state_dir != now.state_dir => Err(format!(
                "control.state_dir changes ({} to {}): the configuration and its fallback live there, keep it",
                now.state_dir.display(),
                new.state_dir.display()
            )),
            _ => Ok(text),
        }
    }

    fn apply(&mut self, command: &Command, text: &str) {
        let Some(state) = &self.state else { return };
        match state.accept(&command.id, text, SystemTime::now()) {
            Ok(()) => {
                self.reply(command, true, "configuration checked and written; the unit restarts with it, on probation until it reaches the broker");
                self.restart(&format!("configuration replaced by command {}", command.id));
            }
            Err(error) => self.reply(
                command,
                false,
                format!("the configuration could not be written to control.state_dir: {error}"),
            ),
        }
    }
}
