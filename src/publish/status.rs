//! The unit's status messages on `<prefix>/<device>/status`: the heartbeat, the final
//! `offline`, the Last Will. One shape for all three, so a consumer reads them alike.

use std::sync::Arc;
use std::time::SystemTime;

/// What the heartbeat reports besides the publisher's own counters (pipeline counters, model
/// versions…): called on the publisher's thread.
pub type StatusSource = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// `{"device_id", "state", "time"?, …fields, …extra}`: `fields` are the stated purpose and
/// the like, in every message; `extra` what this one adds; `timed` false for the Last Will,
/// written once at connection time.
pub fn status_payload(
    device_id: &str,
    fields: &serde_json::Value,
    state: &str,
    extra: serde_json::Value,
    timed: bool,
) -> Vec<u8> {
    let mut status = serde_json::json!({ "device_id": device_id, "state": state });
    if let Some(map) = status.as_object_mut() {
        if timed {
            map.insert("time".into(), crate::time_format::rfc3339_ms(SystemTime::now()).into());
        }
        if let serde_json::Value::Object(fields) = fields {
            map.extend(fields.clone());
        }
        if let serde_json::Value::Object(extra) = extra {
            map.extend(extra);
        }
    }
    status.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_carries_the_device_the_fields_and_what_it_adds() {
        let fields = serde_json::json!({"purpose": "test"});
        let will =
            status_payload("box", &fields, "offline", serde_json::json!({"reason": "x"}), false);
        let will: serde_json::Value = serde_json::from_slice(&will).expect("json");
        assert_eq!(
            will,
            serde_json::json!({"device_id": "box", "state": "offline", "purpose": "test", "reason": "x"})
        );
        let beat = status_payload("box", &fields, "online", serde_json::json!({}), true);
        let beat: serde_json::Value = serde_json::from_slice(&beat).expect("json");
        assert!(beat["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{beat}");
    }
}
