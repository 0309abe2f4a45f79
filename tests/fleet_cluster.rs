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
use common::mqtt_proxy::{Dir, MqttProxy, Packet, PUBLISH, PUBREC, PUBREL};
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

/// Issue 25, made deterministic. A unit back on its kept session closes every id it may use
/// (one PUBREL each); a hit raised during the outage goes first. The relay
/// holds the unit's second PUBREL (id X) and everything after it until the unit sends a PUBLISH
/// under X, then hands them to the broker in one write: the interleaving a starved broker
/// produces by itself when it reads several of the unit's packets at once. Aedes handles the
/// packets of one read concurrently, so the PUBLISH's lookup finds the old exchange X still
/// stored and takes the hit for its retransmission (PUBREC, never passed on). The unit must not
/// send it: an id is free again at its PUBCOMP (MQTT 3.1.1 §2.3.1), so the hit waits for the
/// PUBCOMP of X; once the PUBLISH cannot come, the test lets the held packets go itself.
#[test]
fn at_qos_2_a_hit_never_takes_the_id_of_an_exchange_still_being_closed() {
    let cluster = Cluster::start(1);
    let proxy = MqttProxy::start(cluster.ports[0]);
    let consumer = Subscriber::start(cluster.ports[0], &format!("anpr/{UNIT}/+"));
    consumer.wait_subscribed(Duration::from_secs(20));
    // Two ids (with the control subscription's, rumqttc's counter runs 1, 2, 1, 2 …), so the
    // exchanges closed on the new connection are exactly the ids its first publishes take.
    let config: MqttConfig = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {}\ninsecure_dev = true\nbackoff_min_ms = 100\nbackoff_max_ms = 200\nkeep_alive_s = 30\nqos = 2\nmax_in_flight = 2\n",
        proxy.port
    ))
    .expect("mqtt config");
    let sink = MqttSink::start(&config, UNIT, Arc::new(|| serde_json::json!({}))).expect("start");
    assert!(wait_for(Duration::from_secs(20), || sink.is_connected()), "the unit never connected");
    let reads: Vec<Message> = (0..3).map(read).collect();
    let hit = record("hit-0000".into(), Class::Hit);
    sink.submit(reads[0].clone());
    assert!(wait_for(Duration::from_secs(20), || sink.stats().acked == 1), "{:?}", sink.stats());
    // The broker's answers stop reaching the unit: two exchanges stay open on its side while the
    // broker stores both (its PUBRECs, seen here, say so).
    proxy.hold(Dir::ToClient, |p| p.kind == PUBREC, |_, _| false);
    sink.submit(reads[1].clone());
    sink.submit(reads[2].clone());
    let stored = |trace: &[Packet]| trace.iter().filter(|p| p.kind == PUBREC && p.held).count();
    assert!(
        wait_for(Duration::from_secs(20), || stored(&proxy.trace()) == 2),
        "the broker stored both: {}",
        proxy.trace_text()
    );
    sink.submit(hit.clone());
    // On the next connection: the first PUBREL passes, the second (id X) and all after it wait
    // for a PUBLISH under X.
    let mut releases = 0;
    proxy.hold(
        Dir::ToBroker,
        move |p| {
            releases += usize::from(p.conn > 1 && p.kind == PUBREL);
            releases == 2
        },
        |p, held| p.kind == PUBLISH && p.pkid != 0 && p.pkid == held[0].pkid,
    );
    proxy.cut();
    // The unit has said all it will before the PUBCOMP of X once its heartbeat (QoS 0, sent at
    // the connection before any read) is held and it hands nothing over.
    let said_all = || {
        let trace = proxy.trace();
        let heartbeat = trace.iter().any(|p| p.held && p.kind == PUBLISH && p.pkid == 0);
        let released = trace.iter().any(|p| p.held && p.kind == PUBLISH && p.pkid != 0);
        released || (heartbeat && sink.stats().in_flight == 0)
    };
    assert!(wait_for(Duration::from_secs(20), said_all), "{}", proxy.trace_text());
    proxy.release(Dir::ToBroker);
    let mut sent = reads;
    sent.push(hit);
    wait_for(Duration::from_secs(20), || {
        sink.stats().acked >= 4 && by_id(&consumer).len() >= sent.len()
    });
    let received = by_id(&consumer);
    let missing: Vec<&str> =
        sent.iter().map(|m| m.id.as_str()).filter(|id| !received.contains_key(*id)).collect();
    let trace = proxy.trace_text();
    assert!(missing.is_empty(), "lost {missing:?}, {:?}, on the wire:\n{trace}", sink.stats());
    assert_eq!(reused_before_pubcomp(&proxy.trace()), Vec::<u16>::new(), "on the wire:\n{trace}");
    assert!(sink.shutdown(Duration::from_secs(5)).unacknowledged.is_empty());
}

/// A unit started again (a crash, a power cut) finds the session its last process left in
/// the broker, with the exchanges open at the crash, of which it knows nothing. Aedes takes a
/// new publish under such an id for a retransmission and never passes it on (PUBREC, then
/// PUBCOMP: delivered, for the unit). So the unit closes every id at its start too.
#[test]
fn at_qos_2_a_unit_started_again_closes_what_its_last_process_left_open() {
    let cluster = Cluster::start(1);
    let proxy = MqttProxy::start(cluster.ports[0]);
    let consumer = Subscriber::start(cluster.ports[0], &format!("anpr/{UNIT}/+"));
    let config: MqttConfig = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {}\ninsecure_dev = true\nbackoff_min_ms = 100\nbackoff_max_ms = 200\nkeep_alive_s = 30\nqos = 2\nmax_in_flight = 2\n",
        proxy.port
    ))
    .expect("mqtt config");
    let start =
        || MqttSink::start(&config, UNIT, Arc::new(|| serde_json::json!({}))).expect("start");
    let first = start();
    assert!(wait_for(Duration::from_secs(20), || first.is_connected()), "never connected");
    // The subscription takes id 1, the reads 2 and 1; the third read's id 2 stays open.
    first.submit(read(0));
    first.submit(read(1));
    assert!(wait_for(Duration::from_secs(20), || first.stats().acked == 2), "{:?}", first.stats());
    proxy.hold(Dir::ToClient, |p| p.kind == PUBREC, |_, _| false);
    first.submit(read(2));
    assert!(
        wait_for(Duration::from_secs(20), || proxy.holding(Dir::ToClient)),
        "the broker stored the third read: {}",
        proxy.trace_text()
    );
    // The process dies with that exchange open; a new one starts on the same session.
    proxy.refuse(true);
    proxy.cut();
    first.shutdown(Duration::ZERO);
    proxy.refuse(false);
    let second = start();
    let hit = record("hit-0000".into(), Class::Hit);
    second.submit(hit.clone());
    let arrived = || by_id(&consumer).contains_key(&hit.id);
    wait_for(Duration::from_secs(20), || second.stats().acked == 1 && arrived());
    assert!(arrived(), "{} lost, {:?}:\n{}", hit.id, second.stats(), proxy.trace_text());
    assert!(second.shutdown(Duration::from_secs(5)).unacknowledged.is_empty());
}

/// The ids the unit sent a new PUBLISH under while its PUBREL of that id awaited the PUBCOMP,
/// read from the relay's trace per connection (MQTT 3.1.1 §2.3.1: not before the PUBCOMP).
fn reused_before_pubcomp(trace: &[Packet]) -> Vec<u16> {
    let mut releasing: BTreeSet<(usize, u16)> = BTreeSet::new();
    let mut reused = Vec::new();
    for p in trace {
        match (p.dir, p.kind) {
            (Dir::ToBroker, PUBREL) => {
                releasing.insert((p.conn, p.pkid));
            }
            (Dir::ToClient, common::mqtt_proxy::PUBCOMP) => {
                releasing.remove(&(p.conn, p.pkid));
            }
            (Dir::ToBroker, PUBLISH) if releasing.contains(&(p.conn, p.pkid)) => {
                reused.push(p.pkid)
            }
            _ => {}
        }
    }
    reused
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
