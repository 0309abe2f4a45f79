//! The last stage of the data flow: delivering reads to the central MQTT broker, losing nothing
//! while it is away.
//!
//! `outbox` decides (what to send, what to drop, what to send again) without any I/O; `mqtt`
//! is the rumqttc edge; `config` and `tls` check the `[mqtt]` section and the unit's
//! certificates; `topics` names where everything goes.

pub mod config;
pub mod mqtt;
pub mod outbox;
mod tls;
pub mod topics;

pub use config::{MqttConfig, MqttConfigError, TlsFiles};
pub use mqtt::{ControlHandler, MqttError, MqttSink, Setup, ShutdownReport, StatusSource};
pub use outbox::{Class, Message, Outbox, OutboxStats, SubmitOutcome};
pub use topics::Topics;

/// Largest message the unit accepts from the broker (a hotlist update), in bytes.
pub const MAX_INCOMING_BYTES: usize = 32 << 20;
