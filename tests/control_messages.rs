//! Property test of incoming MQTT control messages against a real Mosquitto: whatever bytes
//! arrive on the unit's control topic (empty, binary, not UTF-8, up to 64 KiB) reach the
//! control handler unchanged, and the publisher goes on delivering reads meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use common::wait_for;

use anpr_edge::message::{Class, Message};
use anpr_edge::publish::{ControlHandler, MqttConfig, MqttSink, Setup, Topics};
use common::broker::Broker;
use common::subscriber::Subscriber;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rumqttc::{Client, MqttOptions, QoS};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn arbitrary_control_messages_reach_the_handler_unchanged_and_reads_keep_flowing() {
    let broker = Broker::start(false);
    let subscriber = Subscriber::start(broker.port, "anpr/box/reads");
    let config: MqttConfig = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {}\ninsecure_dev = true\n",
        broker.port
    ))
    .expect("config");
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let collect = Arc::clone(&seen);
    let control: ControlHandler = Arc::new(move |_topic: &str, payload: &[u8]| {
        collect.lock().expect("lock").push(payload.to_vec())
    });
    let mut setup = Setup::new(Arc::new(|| serde_json::json!({})));
    setup.control = control;
    let sink = MqttSink::start_with(&config, "box", setup).expect("start");
    assert!(wait_for(Duration::from_secs(10), || sink.is_connected()), "the publisher connected");
    let mut options = MqttOptions::new("control-sender", "127.0.0.1", broker.port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut connection) = Client::new(options, 16);
    std::thread::spawn(move || for _ in connection.iter() {});
    let topic = Topics::new("anpr", &"box".parse().expect("id")).control;
    // The subscription to the control topic follows the connection: probe until a message
    // gets through, rather than guess how long the SUBACK takes.
    let subscribed = wait_for(Duration::from_secs(10), || {
        client.publish(topic.as_str(), QoS::AtLeastOnce, false, b"probe".to_vec()).expect("probe");
        wait_for(Duration::from_millis(200), || !seen.lock().expect("lock").is_empty())
    });
    assert!(subscribed, "the control subscription never took effect");
    // A later probe may still land among the cases: each case looks only at what arrived
    // after it started, and ignores probes.

    let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
    let n = std::sync::atomic::AtomicUsize::new(0);
    let payloads = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        proptest::collection::vec(any::<u8>(), 0..65_536),
        ".{0,200}".prop_map(String::into_bytes)
    ];
    runner
        .run(&payloads, |payload| {
            let before = seen.lock().expect("lock").len();
            client
                .publish(topic.as_str(), QoS::AtLeastOnce, false, payload.clone())
                .expect("publish");
            let arrived = wait_for(Duration::from_secs(5), || {
                let seen = seen.lock().expect("lock");
                let mut after =
                    seen[before.min(seen.len())..].iter().filter(|p| p.as_slice() != b"probe");
                after.next() == Some(&payload) || (payload == b"probe" && seen.len() > before)
            });
            prop_assert!(
                arrived,
                "a control message of {} bytes never reached the handler unchanged",
                payload.len()
            );
            let id = format!("read-{}", n.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            sink.submit(Message {
                id: id.clone(),
                topic: "anpr/box/reads".into(),
                payload: id.clone().into_bytes(),
                class: Class::Read,
            });
            let delivered = subscriber.wait_until(Duration::from_secs(5), |r| {
                r.iter().any(|(_, p, _)| p == id.as_bytes())
            });
            prop_assert!(
                delivered.iter().any(|(_, p, _)| p == id.as_bytes()),
                "{id} was not delivered after the control message"
            );
            Ok(())
        })
        .expect("control messages");
    assert!(sink.shutdown(Duration::from_secs(5)).unacknowledged.is_empty());
}
