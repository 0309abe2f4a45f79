//! The control plane: signed commands from the centre to one unit or to the whole fleet.
//!
//! A command travels on `<prefix>/<device>/control` or `<prefix>/fleet/control` as an
//! [`Envelope`]: the command's JSON text and an Ed25519 signature over exactly those bytes, made
//! with the operator's key (`anpr-edge command sign`, or openssl and `anpr-edge command
//! envelope`). `command` says what a command is; `gate` decides, without I/O and with the clock
//! given, whether this unit takes it: signed by the configured key, meant for this unit (and
//! arriving on the topic that says so), issued and not expired, never seen before. Every
//! command, taken or refused, gets a [`Outcome`] on `<prefix>/<device>/control/result`.

pub mod command;
pub mod config;
pub mod gate;

pub use command::{Action, Command, Envelope, Outcome, Target};
pub use config::ControlConfig;
pub use gate::{Arrival, CommandGate, Refusal, Refused};
