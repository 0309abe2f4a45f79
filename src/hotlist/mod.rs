//! The hotlist on the device: which plates the control room wants to hear about (`alert`) and
//! which it exempts (`allow`), matched against every read after fusion.
//!
//! `list` parses and validates a list (CSV or JSON, optionally Ed25519-signed); `delta` the
//! entries added, changed and removed between two versions (pure); `envelope` what a list or a
//! delta looks like on MQTT (signed, optionally compressed); `sequence` the order in which
//! deltas apply and whether the unit is behind (pure); `matcher` is the pure, indexed matching
//! with OCR error margins; `live` holds the current list behind an atomic swap and replaces it
//! from a watched file or from MQTT, fed by `mailbox` (bounded) through `updater` (the thread); `config` is the
//! `[hotlist]` section; `alert` grades a match (confirmed or possible) and raises a vehicle's
//! alert early, from its frames, when the evidence is there.

pub mod alert;
pub mod config;
pub mod delta;
pub mod envelope;
pub mod list;
pub mod live;
pub mod mailbox;
pub mod matcher;
pub mod sequence;
pub mod updater;

pub use alert::{AlertDesk, AlertLevel, AlertPolicy};
pub use config::HotlistConfig;
pub use delta::{Delta, DeltaError};
pub use envelope::{DeltaEnvelope, Envelope};
pub use list::{Action, Entry, Format, Hotlist, ListError};
pub use live::{LiveHotlist, UpdateSource};
pub use matcher::{HotlistMatch, MatchKind, Matcher, Verdict};
