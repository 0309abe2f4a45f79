//! Incoming MQTT control messages (the hotlist envelope on `<prefix>/<device>/hotlist` and
//! `<prefix>/fleet/hotlist`) against a unit with a list in force: whatever arrives, nothing
//! panics, and a message that is refused leaves the list in force matching as before.
#![no_main]

use anpr_edge::hotlist::{LiveHotlist, UpdateSource};
use libfuzzer_sys::fuzz_target;
use std::time::SystemTime;

const IN_FORCE: &str =
    "version,v1\nplate,list,category,action,expires,note\n1ABC234,police,stolen,alert,,\n";

fuzz_target!(|bytes: &[u8]| {
    let live = LiveHotlist::new(None, 1);
    let envelope =
        serde_json::json!({ "format": "csv", "version": "v1", "body": IN_FORCE }).to_string();
    live.offer_envelope(
        envelope.as_bytes(),
        UpdateSource::Mqtt("anpr/fleet/hotlist".into()),
        SystemTime::now(),
    )
    .expect("the list in force");
    let topic = if bytes.first().is_some_and(|b| b % 2 == 0) {
        "anpr/box/hotlist"
    } else {
        "anpr/fleet/hotlist"
    };
    if live.offer_envelope(bytes, UpdateSource::Mqtt(topic.into()), SystemTime::now()).is_err() {
        assert_eq!(live.status()["version"], "v1", "a refused update replaced the list");
        assert!(
            live.check("1ABC234", SystemTime::now()).is_hit(),
            "a refused update changed the matching"
        );
    }
});
