//! The unit as a service: runs the daemon on its configuration file, or on the configuration a
//! signed command gave it (kept in `control.state_dir`, `control_agent::state`), starts it
//! again after such a command, and goes back to the configuration before when the new one does
//! not start. A configuration that started is judged by the control agent (did it reach the
//! broker within `control.probation_s`?).

use crate::config::Config;
use crate::control_agent::state::StateDir;
use crate::daemon::{self, Ending};
use anyhow::Context;
use std::path::Path;
use std::time::SystemTime;

/// Runs the unit with the configuration in `path`, or with the one a command gave it (in
/// `control.state_dir`), until it stops; a restart asked by a command starts it again.
pub fn serve(path: &Path) -> anyhow::Result<()> {
    let base = Config::load(path)?;
    let state = match &base.control {
        Some(control) => Some(StateDir::open(&control.state_dir).with_context(|| {
            format!("control.state_dir: cannot make {}", control.state_dir.display())
        })?),
        None => None,
    };
    loop {
        let accepted = state.as_ref().and_then(StateDir::accepted);
        let on_probation = state.as_ref().and_then(StateDir::probation).is_some();
        let config = match &accepted {
            None => base.clone(),
            Some(file) => match Config::load(file) {
                Ok(config) => {
                    tracing::info!(file = %file.display(), fallback = %path.display(), on_probation, "running the configuration taken by command");
                    config
                }
                Err(error) => {
                    roll_back(state.as_ref(), &format!("it no longer loads: {error}"))?;
                    continue;
                }
            },
        };
        match daemon::run(&config) {
            Ok(Ending::Stopped) => return Ok(()),
            Ok(Ending::Restart) => {
                tracing::info!("starting again with the configuration now in force")
            }
            Err(failed) if on_probation && !failed.started => {
                tracing::error!(error = %format!("{:#}", failed.error), "the configuration taken by command did not start");
                roll_back(state.as_ref(), &format!("it did not start: {:#}", failed.error))?;
            }
            Err(failed) => return Err(failed.error),
        }
    }
}

fn roll_back(state: Option<&StateDir>, reason: &str) -> anyhow::Result<()> {
    let state = state.context("a configuration taken by command without control.state_dir")?;
    let outcome = state
        .roll_back(reason, SystemTime::now())
        .context("rolling back to the configuration before the one taken by command")?;
    tracing::warn!(id = ?outcome.id, reason, "configuration rolled back");
    Ok(())
}
