//! How long hits take to reach the broker: each hit's time from capture to its acknowledgement
//! on the hits topic (PUBACK, or PUBCOMP at `mqtt.qos = 2`), in a fixed-bucket histogram the
//! heartbeat and `/metrics` carry.

use super::messages::hit_captured_at;
use crate::histogram::Histogram;
use crate::message::Message;
use crate::sync::lock;
use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Debug, Default)]
pub struct HitAcks(Mutex<Histogram>);

impl HitAcks {
    /// The broker acknowledged `message`: timed if it is a hit on the hits topic.
    pub fn acknowledged(&self, message: &Message) {
        if let Some(captured) = hit_captured_at(message) {
            let latency = SystemTime::now().duration_since(captured).unwrap_or_default();
            lock(&self.0).observe(latency);
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "ack_seconds": lock(&self.0).to_json() })
    }
}
