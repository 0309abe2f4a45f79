//! A unit of the fleet on a real clustered broker: three Aedes nodes sharing messages and
//! sessions through Redis (`tests/cluster/`). The unit is given every node (`mqtt.hosts`); the
//! node it is on freezes with reads in flight and is killed; the unit moves to the next node
//! with the same outbox and session, and a consumer on a third node receives every read, the
//! unacknowledged ones published again under the same id.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use common::wait_for;

use anpr_edge::message::{Class, Message};
use anpr_edge::publish::{MqttConfig, MqttSink, Topics};
use common::broker::free_port;
use common::cluster::Cluster;
use common::gate::Gate;
use common::subscriber::Subscriber;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const UNIT: &str = "unit-a";

fn read(i: usize) -> Message {
    record(format!("read-{i:04}"), Class::Read)
}

fn record(id: String, class: Class) -> Message {
    let payload = serde_json::json!({ "read_id": id, "plate": "1ABC234", "pad": "x".repeat(900) });
    let topics = Topics::new("anpr", &UNIT.parse().expect("id"));
    Message {
        id,
        topic: if class == Class::Hit { topics.hits } else { topics.reads },
        payload: payload.to_string().into_bytes(),
        class,
    }
}

/// Each read id received, with the payloads it came with.
fn by_id(consumer: &Subscriber) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut seen: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (_, payload, _) in consumer.received() {
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
        if let Some(id) = json["read_id"].as_str() {
            seen.entry(id.to_string()).or_default().push(payload);
        }
    }
    seen
}

#[test]
fn a_unit_loses_its_node_and_every_read_reaches_a_consumer_on_another() {
    loses_its_node(1);
}

/// QoS 2, the fleet's setting: Aedes acknowledges a QoS 1 publish before it hands it to the
/// cluster, and passes a QoS 2 one on before its PUBREC (docs/fleet-scale.md). The unit comes
/// to the next node with a session kept in Redis, in which the frozen node may have taken
/// some of its packet ids; it closes those exchanges before anything else.
#[test]
fn at_qos_2_a_unit_loses_its_node_and_every_read_reaches_a_consumer_on_another() {
    loses_its_node(2);
}

/// Aedes passes a QoS 2 publish on when it receives it, and keeps its packet id taken in the
/// session (in Redis) until the PUBREL. The cable is pulled while the frozen node has a window
/// of publishes unread; it reads them when it thaws, so the unit comes back to a kept session
/// in which those ids are taken. Unless the unit closes those exchanges first, every new
/// publish that reuses one of the ids is taken for a retransmission: PUBREC, never passed on,
/// then a PUBCOMP that tells the unit it is delivered (Aedes compares ids only). Hits raised
/// meanwhile go first on the new connection, so they are the publishes that would take those
/// ids.
#[test]
fn at_qos_2_a_unit_back_on_its_kept_session_closes_the_open_exchanges_and_loses_nothing() {
    let cluster = Cluster::start(2);
    let gate = Gate::start(free_port(), cluster.ports[0], true);
    let config: MqttConfig = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {}\ninsecure_dev = true\nbackoff_min_ms = 100\nbackoff_max_ms = 500\nkeep_alive_s = 5\nqos = 2\n",
        gate.port
    ))
    .expect("mqtt config");
    let sink = MqttSink::start(&config, UNIT, Arc::new(|| serde_json::json!({}))).expect("start");
    assert!(wait_for(Duration::from_secs(20), || sink.is_connected()), "the unit never connected");
    let consumer = Subscriber::start(cluster.ports[1], &format!("anpr/{UNIT}/+"));
    let mut sent: Vec<Message> = (0..300).map(read).collect();
    let hits: Vec<Message> = (0..10).map(|i| record(format!("hit-{i:04}"), Class::Hit)).collect();
    for (i, message) in sent.iter().enumerate() {
        if i == 100 {
            assert!(
                wait_for(Duration::from_secs(20), || sink.stats().acked == 100
                    && by_id(&consumer).len() == 100),
                "before the fault: {:?}",
                sink.stats()
            );
            cluster.freeze(0);
        }
        if i == 200 {
            let stats = sink.stats();
            assert!(stats.in_flight > 0, "reads are in flight on the frozen node: {stats:?}");
            gate.shut();
            cluster.thaw(0);
            for hit in &hits {
                sink.submit(hit.clone());
            }
            std::thread::sleep(Duration::from_millis(500));
            gate.open();
        }
        sink.submit(message.clone());
        std::thread::sleep(Duration::from_millis(5));
    }
    sent.extend(hits);
    wait_for(Duration::from_secs(30), || by_id(&consumer).len() >= sent.len());
    let received = by_id(&consumer);
    let missing: Vec<&str> =
        sent.iter().map(|m| m.id.as_str()).filter(|id| !received.contains_key(*id)).collect();
    let stats = sink.stats();
    assert!(
        missing.is_empty(),
        "{} lost, {stats:?}: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(stats.republished > 0, "the reads in flight at the cut went again: {stats:?}");
    assert!(sink.shutdown(Duration::from_secs(5)).unacknowledged.is_empty());
}

fn loses_its_node(qos: u8) {
    let mut cluster = Cluster::start(3);
    let hosts: Vec<String> = cluster.ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    let config: MqttConfig = toml::from_str(&format!(
        "hosts = [{}]\ninsecure_dev = true\nbackoff_min_ms = 100\nbackoff_max_ms = 500\nkeep_alive_s = 5\nqos = {qos}\n",
        hosts.join(", ")
    ))
    .expect("mqtt config");
    let sink = MqttSink::start(&config, UNIT, Arc::new(|| serde_json::json!({}))).expect("start");
    let client_id = format!("anpr-edge-{UNIT}");
    assert!(wait_for(Duration::from_secs(20), || sink.is_connected()), "the unit never connected");
    let on = cluster.nodes_of(&client_id);
    assert_eq!(on.len(), 1, "the unit is on one node: {on:?}");
    let first = on[0];
    // The unit moves to the next node in its list; the consumer is on the third.
    let consumer = Subscriber::start(cluster.ports[(first + 2) % 3], &format!("anpr/{UNIT}/reads"));
    let sent: Vec<Message> = (0..300).map(read).collect();
    for (i, message) in sent.iter().enumerate() {
        if i == 100 {
            assert!(
                wait_for(Duration::from_secs(20), || sink.stats().acked == 100
                    && by_id(&consumer).len() == 100),
                "before the fault: {:?}, {} received",
                sink.stats(),
                by_id(&consumer).len()
            );
            cluster.freeze(first);
        }
        if i == 200 {
            let stats = sink.stats();
            assert!(stats.in_flight > 0, "reads are in flight on the frozen node: {stats:?}");
            cluster.kill(first);
        }
        sink.submit(message.clone());
        std::thread::sleep(Duration::from_millis(5));
    }
    let arrived = wait_for(Duration::from_secs(30), || by_id(&consumer).len() >= sent.len());
    let received = by_id(&consumer);
    let missing: Vec<&str> =
        sent.iter().map(|m| m.id.as_str()).filter(|id| !received.contains_key(*id)).collect();
    assert!(
        arrived && missing.is_empty(),
        "{} lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let originals: BTreeMap<&str, &Vec<u8>> =
        sent.iter().map(|m| (m.id.as_str(), &m.payload)).collect();
    for (id, copies) in &received {
        assert!(copies.iter().all(|c| Some(&c) == originals.get(id.as_str())), "{id} changed");
    }
    let duplicates: usize = received.values().map(|c| c.len() - 1).sum();
    let stats = sink.stats();
    eprintln!("300 sent, {duplicates} duplicates (same id, same bytes), {stats:?}");
    assert!(stats.republished > 0, "what the lost node never acknowledged went again: {stats:?}");
    let now_on: Vec<usize> =
        cluster.nodes_of(&client_id).into_iter().filter(|&n| n != first).collect();
    assert_eq!(now_on, [(first + 1) % 3], "the unit moved to the next node of its list");
    // The killed node comes back and takes connections again.
    cluster.resume(first);
    let distinct: BTreeSet<&String> = received.keys().collect();
    assert_eq!(distinct.len(), 300);
    assert!(sink.shutdown(Duration::from_secs(5)).unacknowledged.is_empty());
}
