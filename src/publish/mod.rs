//! The last stage of the data flow: delivering reads to the central MQTT broker, losing nothing
//! while it is away.
//!
//! Decisions without I/O: `outbox` (what to send, drop, send again), `durable` (the outbox and
//! the spool kept equal), `messages` (a read's messages), `status` (the status messages),
//! `topics` (where everything goes), `hit_acks` (how long hits take to be acknowledged). I/O: `driver` (the thread on rumqttc's event loop),
//! `lost_connection` (what of rumqttc's state outlives a connection) and `mqtt` (the handle the
//! unit holds). `config`, `qos` and `tls` check the `[mqtt]` section and the
//! unit's certificates.

pub mod config;
mod driver;
mod durable;
mod hit_acks;
mod lost_connection;
mod messages;
mod mqtt;
pub mod outbox;
mod qos;
mod status;
mod tls;
pub mod topics;

pub use config::{Mqtt, MqttConfig, MqttConfigError, TlsFiles};
pub use driver::ControlHandler;
pub use mqtt::{ControlLink, MqttError, MqttSink, Setup, ShutdownReport};
pub use outbox::{Outbox, OutboxStats, SubmitOutcome};
pub use qos::{MaxInFlight, Qos};
pub use status::StatusSource;
pub use topics::Topics;

/// Largest message the unit accepts from the broker (a hotlist update), in bytes.
pub const MAX_INCOMING_BYTES: usize = 32 << 20;
