//! The last stage of the data flow: delivering reads to the central MQTT broker.
//!
//! `outbox` decides (what to send, what to drop, what to send again), `mqtt` does the I/O.

pub mod config;
pub mod mqtt;
pub mod outbox;

pub use config::{MqttConfig, TlsFiles};
pub use mqtt::{MqttSink, StatusSource, Topics};
pub use outbox::{Class, Message, Outbox, OutboxStats};
