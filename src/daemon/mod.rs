//! The daemon: configuration in, a running unit, and a clean stop on SIGTERM or SIGINT.
//!
//! [`Unit::build`] prepares everything that can be prepared before the first frame (the
//! models, the source, the spool, the metrics socket; the keys, the hotlist and the TLS files
//! came with the configuration, `config::Prepared`) and fails with one clear message;
//! [`Unit::run`] starts the unit's threads and runs the pipeline. Once running, faults of a
//! frame, an image or the network cost that frame, image or delay, never the reads already
//! made. A signed command may end a run to apply a new configuration ([`Ending::Restart`]);
//! `service` starts the next one.
//!
//! A unit has a part it has once (`shared`: the models, the hotlist, privacy, the position,
//! retention, the metrics endpoint) and a part per camera (`camera`: the source, its regions
//! of interest, gating, fusion, the pipeline loop), so that several cameras can share one set
//! of models, one hotlist and one output. `delivery` is where reads go (the MQTT publisher
//! with its control plane, or standard output), `status` the snapshot the heartbeat and the
//! metrics report, `threads` the unit's threads and their stop.

mod camera;
mod delivery;
mod shared;
mod status;
mod threads;
mod unit;

pub use camera::open_source;
pub use unit::{Ending, Failed, Unit};

use crate::config::Config;
use crate::shutdown::Shutdown;

/// Runs the unit on `config` once: until the source ends, a signal, or a command that asks for
/// a restart (`service::serve` starts it again).
pub fn run(config: &Config) -> Result<Ending, Failed> {
    let unit = Unit::build(config).map_err(|error| Failed { started: false, error })?;
    unit.run(&Shutdown::new())
}
