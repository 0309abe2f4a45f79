//! The publisher (`anpr_edge::publish`) against a real Mosquitto, message by message: delivery,
//! status and Last Will, mutual TLS, a broker down at start, frozen then killed and restarted
//! (without and with persistence), frozen then thawed, a full outbox, and a unit with two
//! brokers that loses one.
//!
//! How "every message arrived" is made a sound check: a subscriber sees what a broker accepts
//! only while it is subscribed there, and a restarted broker without persistence has forgotten
//! every subscription. So the publisher reaches the broker through a gate (a TCP relay, below)
//! that stays shut until the test's subscriber has subscribed again on the new broker, and the
//! broker is frozen only once the subscriber holds everything acknowledged so far. A message
//! the subscriber misses was then really lost by the publisher. Duplicates are allowed, with
//! the same id and the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use common::wait_for;

use anpr_edge::message::{Class, Message};
use anpr_edge::publish::{MqttConfig, MqttError, MqttSink, StatusSource, TlsFiles, Topics};
use common::broker::{free_port, Broker, Certificates};
use common::gate::Gate;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEVICE: &str = "box";

fn topics() -> Topics {
    Topics::new("anpr", &DEVICE.parse().expect("id"))
}

fn config(port: u16) -> MqttConfig {
    config_at_qos(port, 1)
}

fn config_at_qos(port: u16, qos: u8) -> MqttConfig {
    let text = format!(
        "host = \"127.0.0.1\"\nport = {port}\ninsecure_dev = true\nbackoff_min_ms = 100\nbackoff_max_ms = 500\nstatus_interval_s = 1\nkeep_alive_s = 5\nqos = {qos}\n"
    );
    toml::from_str(&text).expect("mqtt config")
}

fn no_status() -> StatusSource {
    Arc::new(|| serde_json::json!({}))
}

fn message(id: String, class: Class, padding: usize) -> Message {
    let topic = if class == Class::Hit { topics().hits } else { topics().reads };
    let payload =
        serde_json::json!({ "id": id, "pad": "x".repeat(padding) }).to_string().into_bytes();
    Message { id, topic, payload, class }
}

fn read(i: usize) -> Message {
    message(format!("read-{i:04}"), Class::Read, 0)
}

fn hit(i: usize) -> Message {
    message(format!("hit-{i:04}"), Class::Hit, 0)
}

/// Submits and checks that the caller was not kept waiting on the network. The bound is not a
/// speed figure: these tests submit while the broker is absent or unreachable for longer than
/// it, so a submit that waited for the connection would exceed it, and a loaded machine's
/// scheduling never comes near it.
fn submit(sink: &MqttSink, message: Message) -> anpr_edge::publish::SubmitOutcome {
    let started = Instant::now();
    let outcome = sink.submit(message);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "submit waited {:?}: it blocks on the connection",
        started.elapsed()
    );
    outcome
}

#[derive(Debug, Clone)]
struct Received {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

impl Received {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_default()
    }
}

/// A real subscriber (rumqttc, QoS 1) that subscribes again on every connection and counts its
/// subscriptions, so a test can wait until it is subscribed on a restarted broker.
struct Watcher {
    received: Arc<Mutex<Vec<Received>>>,
    subscriptions: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Watcher {
    /// `persistent`: clean_session = false, so a broker that keeps sessions queues for it.
    fn start(port: u16, filter: &str, persistent: bool) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let id = format!("watch-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(32 << 20, 1 << 20)
            .set_clean_session(!persistent);
        let (client, mut connection) = Client::new(options, 16);
        let watcher = Watcher {
            received: Arc::default(),
            subscriptions: Arc::default(),
            stop: Arc::default(),
        };
        let (received, subscriptions, stop, filter) = (
            Arc::clone(&watcher.received),
            Arc::clone(&watcher.subscriptions),
            Arc::clone(&watcher.stop),
            filter.to_string(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match connection.recv_timeout(Duration::from_millis(100)) {
                    Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                        client
                            .try_subscribe(filter.as_str(), QoS::AtLeastOnce)
                            .expect("subscribe request");
                    }
                    Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                        subscriptions.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        received.lock().expect("lock").push(Received {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        })
                    }
                    Ok(Err(_)) => std::thread::sleep(Duration::from_millis(50)),
                    Ok(Ok(_)) | Err(_) => {}
                }
            }
        });
        watcher.wait_subscribed(0);
        watcher
    }

    fn subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::Relaxed)
    }

    /// Waits for a subscription after the first `before`.
    fn wait_subscribed(&self, before: usize) {
        assert!(
            wait_for(Duration::from_secs(10), || self.subscriptions() > before),
            "the test subscriber could not subscribe"
        );
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    fn wait_until(&self, within: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        wait_for(within, || done(&self.received()));
        self.received()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Ids that arrived on the reads and hits topics, in order of arrival.
fn arrived_ids(received: &[Received]) -> Vec<String> {
    let t = topics();
    received
        .iter()
        .filter(|r| r.topic == t.reads || r.topic == t.hits)
        .filter_map(|r| r.json()["id"].as_str().map(str::to_string))
        .collect()
}

fn distinct(received: &[Received]) -> usize {
    arrived_ids(received).into_iter().collect::<BTreeSet<_>>().len()
}

/// Every sent message arrived, and every arrival is a sent message, byte for byte: duplicates
/// only with the same id.
fn assert_all_arrived(received: &[Received], sent: &[Message]) {
    let by_id: BTreeMap<&str, &Message> = sent.iter().map(|m| (m.id.as_str(), m)).collect();
    let mut seen = BTreeSet::new();
    for r in received.iter().filter(|r| r.topic != topics().status) {
        let id = r.json()["id"].as_str().map(str::to_string).unwrap_or_default();
        let original = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{id:?} on {} was never sent", r.topic));
        assert_eq!(
            (&r.topic, &r.payload),
            (&original.topic, &original.payload),
            "{id} arrived changed"
        );
        seen.insert(id);
    }
    let missing: Vec<&str> = by_id.keys().filter(|id| !seen.contains(**id)).copied().collect();
    assert!(
        missing.is_empty(),
        "{} of {} messages lost: {:?}",
        missing.len(),
        sent.len(),
        &missing[..missing.len().min(10)]
    );
    let arrivals = received.iter().filter(|r| r.topic != topics().status).count();
    eprintln!(
        "{} sent, {arrivals} received, {} duplicates (same id, same bytes)",
        sent.len(),
        arrivals - seen.len()
    );
}

fn states(received: &[Received]) -> Vec<serde_json::Value> {
    received.iter().filter(|r| r.topic == topics().status).map(Received::json).collect()
}

#[test]
fn two_hundred_reads_arrive_and_the_status_is_online_then_offline_retained() {
    let broker = Broker::start(false);
    let watcher = Watcher::start(broker.port, "anpr/box/#", false);
    let sink = MqttSink::start(
        &config(broker.port),
        DEVICE,
        Arc::new(|| serde_json::json!({"fps": 12.5})),
    )
    .expect("start");
    let sent: Vec<Message> = (0..200).map(read).collect();
    for m in &sent {
        assert!(submit(&sink, m.clone()).held);
    }
    let received = watcher.wait_until(Duration::from_secs(15), |r| distinct(r) >= 200);
    assert_all_arrived(&received, &sent);
    assert!(wait_for(Duration::from_secs(5), || sink.stats().acked == 200), "{:?}", sink.stats());

    let late = Watcher::start(broker.port, "anpr/box/status", false);
    let retained = late.wait_until(Duration::from_secs(5), |r| !r.is_empty());
    let online = retained.first().expect("a retained status");
    assert!(online.retain, "the status is retained");
    let online = online.json();
    assert_eq!(
        (online["state"].as_str(), online["device_id"].as_str(), online["fps"].as_f64()),
        (Some("online"), Some(DEVICE), Some(12.5)),
        "{online}"
    );
    assert!(online["outbox"]["acked"].is_number() && online["uptime_s"].is_number(), "{online}");

    let report = sink.shutdown(Duration::from_secs(5));
    assert!(report.unacknowledged.is_empty() && report.messages.is_empty(), "{report:?}");
    assert_eq!(report.stats.acked, 200);
    let received = watcher
        .wait_until(Duration::from_secs(5), |r| states(r).iter().any(|s| s["state"] == "offline"));
    let last = states(&received).pop().expect("a status");
    assert_eq!(
        (last["state"].as_str(), last["reason"].as_str()),
        (Some("offline"), Some("stopped")),
        "{last}"
    );
    let later = Watcher::start(broker.port, "anpr/box/status", false);
    let retained = later.wait_until(Duration::from_secs(5), |r| !r.is_empty());
    assert!(
        retained.first().is_some_and(|r| r.retain && r.json()["state"] == "offline"),
        "{retained:?}"
    );
}

#[test]
fn the_last_will_says_offline_when_the_connection_dies_or_the_sink_is_dropped() {
    let broker = Broker::start(false);
    let gate = Gate::start(free_port(), broker.port, true);
    let watcher = Watcher::start(broker.port, "anpr/box/status", false);
    let sink = MqttSink::start(&config(gate.port), DEVICE, no_status()).expect("start");
    let last_state =
        |r: &[Received]| states(r).last().and_then(|s| s["state"].as_str().map(str::to_string));
    let offline_by_will = |r: &[Received]| {
        states(r)
            .last()
            .is_some_and(|s| s["state"] == "offline" && s["reason"] == "connection lost")
    };

    watcher.wait_until(Duration::from_secs(10), |r| last_state(r).as_deref() == Some("online"));
    gate.shut(); // the connection dies without a DISCONNECT, and stays away
    let received = watcher.wait_until(Duration::from_secs(10), offline_by_will);
    assert!(
        offline_by_will(&received),
        "the Last Will after a lost connection: {:?}",
        states(&received)
    );
    assert!(!sink.is_connected());

    gate.open();
    let before = watcher.received().len();
    let received = watcher.wait_until(Duration::from_secs(10), |r| {
        r.len() > before && last_state(r).as_deref() == Some("online")
    });
    assert_eq!(
        last_state(&received).as_deref(),
        Some("online"),
        "back online after the reconnection"
    );
    let started = Instant::now();
    drop(sink); // no shutdown: as if the process vanished
    assert!(started.elapsed() < Duration::from_secs(2), "dropping took {:?}", started.elapsed());
    let received = watcher.wait_until(Duration::from_secs(10), offline_by_will);
    assert!(offline_by_will(&received), "the Last Will after a drop: {:?}", states(&received));
}

#[test]
fn mutual_tls_works_and_plain_tcp_needs_insecure_dev() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = Certificates::make(dir.path(), DEVICE);
    let broker = Broker::start_with(false, Some(&certs));
    let watcher = Watcher::start(broker.port, "anpr/box/#", false);
    let mut tls = config(broker.tls_port.expect("tls port"));
    tls.insecure_dev = false;
    let files = TlsFiles {
        ca_file: certs.ca.clone(),
        client_cert_file: certs.client_cert.clone(),
        client_key_file: certs.client_key.clone(),
    };
    tls.tls = Some(files.clone());
    let sink = MqttSink::start(&tls, DEVICE, no_status()).expect("start over TLS");
    let sent: Vec<Message> = (0..20).map(read).collect();
    for m in &sent {
        submit(&sink, m.clone());
    }
    let received = watcher.wait_until(Duration::from_secs(15), |r| distinct(r) >= 20);
    assert_all_arrived(&received, &sent);
    assert!(sink.shutdown(Duration::from_secs(5)).unacknowledged.is_empty());

    let mut plain = config(broker.port);
    plain.insecure_dev = false;
    let error = plain.check().expect_err("plain TCP without insecure_dev");
    assert_eq!(error.key(), "mqtt.tls");
    assert!(
        error.to_string().starts_with("mqtt.tls: ")
            && error.to_string().contains("insecure_dev = true"),
        "{error}"
    );
    assert_eq!(plain.check().err().map(|e| e.key()), Some("mqtt.tls".to_string()));
    let refused = MqttSink::start(&plain, DEVICE, no_status()).err().expect("refused");
    assert!(
        matches!(refused, MqttError::Config(_)) && refused.to_string().starts_with("mqtt.tls: "),
        "{refused}"
    );

    // Files that cannot work are refused at start, naming the key, not retried forever.
    let wrong_key = TlsFiles { client_key_file: dir.path().join("ca.key"), ..files.clone() };
    let not_a_cert = TlsFiles { client_cert_file: certs.client_key.clone(), ..files };
    for (files, key, names) in [
        (wrong_key, "mqtt.tls", "client_key_file"),
        (not_a_cert, "mqtt.tls.client_cert_file", "client.key"),
    ] {
        let mut config = tls.clone();
        config.tls = Some(files);
        let error = config.check().expect_err("bad TLS files");
        assert_eq!(error.key(), key, "{error}");
        assert!(error.to_string().contains(names), "{error}");
        assert!(MqttSink::start(&config, DEVICE, no_status()).is_err());
    }
}

#[test]
fn a_broker_down_at_start_gets_everything_once_up_hits_first() {
    let port = free_port();
    let sink = MqttSink::start(&config(port), DEVICE, no_status()).expect("start without a broker");
    let sent: Vec<Message> = (0..50)
        .flat_map(|i| if i % 10 == 9 { vec![read(i), hit(i)] } else { vec![read(i)] })
        .collect();
    for m in &sent {
        assert!(submit(&sink, m.clone()).held);
    }
    std::thread::sleep(Duration::from_millis(700)); // several failed attempts
    let stats = sink.stats();
    assert!(!sink.is_connected());
    assert_eq!(
        (stats.pending, stats.in_flight),
        (55, 0),
        "everything is kept, nothing handed to rumqttc: {stats:?}"
    );

    let broker = Broker::start(false);
    let watcher = Watcher::start(broker.port, "anpr/box/#", false);
    let _gate = Gate::start(port, broker.port, true); // the broker appears on the unit's port
    let received = watcher.wait_until(Duration::from_secs(15), |r| distinct(r) >= 55);
    assert_all_arrived(&received, &sent);
    let order = arrived_ids(&received);
    let last_hit = order.iter().rposition(|id| id.starts_with("hit-")).expect("hits");
    let first_read = order.iter().position(|id| id.starts_with("read-")).expect("reads");
    assert!(last_hit < first_read, "hits go before every queued read: {order:?}");
    assert!(wait_for(Duration::from_secs(5), || sink.stats().acked == 55), "{:?}", sink.stats());
    assert!(sink.shutdown(Duration::from_secs(5)).unacknowledged.is_empty());
}

/// What happens to the frozen broker while messages are in flight: it is killed and started
/// again on the same port, or the cable is pulled and it thaws.
enum Fault {
    KillAndRestart,
    CutAndThaw,
}

/// The broker freezes with messages in flight (so they stay unacknowledged), then `fault`,
/// while the unit keeps submitting; every message arrives.
fn freeze_then(fault: Fault, persistence: bool, qos: u8) {
    let mut broker = Broker::start(persistence);
    let gate = Gate::start(free_port(), broker.port, true);
    let watcher = Watcher::start(broker.port, "anpr/box/#", true);
    let sink = MqttSink::start(&config_at_qos(gate.port, qos), DEVICE, no_status()).expect("start");
    let sent: Vec<Message> = (0..300).map(read).collect();
    for (i, m) in sent.iter().enumerate() {
        if i == 100 {
            // Everything acknowledged so far is with the subscriber before the freeze.
            assert!(wait_for(Duration::from_secs(10), || sink.stats().acked == 100
                && distinct(&watcher.received()) == 100));
            broker.freeze();
        }
        if i == 200 {
            let stats = sink.stats();
            assert!(
                stats.in_flight > 0 && stats.acked == 100,
                "messages are in flight, unacknowledged: {stats:?}"
            );
            gate.shut();
            match fault {
                Fault::KillAndRestart => {
                    broker.kill();
                    let subscribed = watcher.subscriptions();
                    broker.resume();
                    watcher.wait_subscribed(subscribed);
                }
                Fault::CutAndThaw => {
                    broker.thaw();
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            gate.open();
        }
        submit(&sink, m.clone());
        std::thread::sleep(Duration::from_millis(5));
    }
    let received = watcher.wait_until(Duration::from_secs(20), |r| distinct(r) >= 300);
    assert_all_arrived(&received, &sent);
    let stats = sink.stats();
    assert!(stats.republished > 0, "what was in flight was published again: {stats:?}");
    let report = sink.shutdown(Duration::from_secs(5));
    assert!(report.unacknowledged.is_empty(), "{report:?}");
}

#[test]
fn nothing_is_lost_when_a_frozen_broker_without_persistence_is_killed_and_restarted() {
    freeze_then(Fault::KillAndRestart, false, 1);
}

#[test]
fn nothing_is_lost_when_a_frozen_persistent_broker_is_killed_and_restarted() {
    freeze_then(Fault::KillAndRestart, true, 1);
}

#[test]
fn nothing_is_lost_at_qos_2_when_a_frozen_persistent_broker_is_killed_and_restarted() {
    freeze_then(Fault::KillAndRestart, true, 2);
}

/// At QoS 2 the broker holds each publish it received under its packet id until the PUBREL,
/// and keeps that in the session. The cable is pulled while the frozen broker has a window of
/// publishes unread; it reads them when it thaws, so the unit comes back to a kept session in
/// which those ids are taken, and closes those exchanges before anything else. Mosquitto
/// compares a reused id's content, so it is not the broker that would lose the new publishes
/// (Aedes is: tests/fleet_cluster.rs); it is the one whose inbound window is small: with 32
/// QoS 2 publishes in flight, more than its 20, it acknowledged 37 reads here that it never
/// delivered, hence `mqtt.max_in_flight` at most 20 at QoS 2.
#[test]
fn at_qos_2_a_resumed_session_closes_the_open_exchanges_and_nothing_is_lost() {
    freeze_then(Fault::CutAndThaw, false, 2);
}

/// Two brokers that share nothing (two Mosquittos, as a standby would be): the one the unit
/// publishes to freezes with messages in flight and is killed; the unit moves to the other
/// with the same outbox and publishes there what the first never acknowledged. Every message
/// arrives on one of them; duplicates only under the same id.
#[test]
fn when_its_broker_dies_the_unit_moves_to_the_next_and_loses_nothing() {
    let mut first = Broker::start(false);
    let second_port = free_port();
    let on_first = Watcher::start(first.port, "anpr/box/#", true);
    let text = format!(
        "hosts = [\"127.0.0.1:{}\", \"127.0.0.1:{second_port}\"]\ninsecure_dev = true\nbackoff_min_ms = 100\nbackoff_max_ms = 500\nstatus_interval_s = 1\nkeep_alive_s = 5\n",
        first.port
    );
    let config: MqttConfig = toml::from_str(&text).expect("mqtt config");
    // Whichever of the two the unit tries first, only the first broker is up until the freeze.
    let sink = MqttSink::start(&config, DEVICE, no_status()).expect("start");
    let sent: Vec<Message> = (0..300).map(read).collect();
    let mut second = None;
    for (i, m) in sent.iter().enumerate() {
        if i == 100 {
            assert!(wait_for(Duration::from_secs(10), || sink.stats().acked == 100
                && distinct(&on_first.received()) == 100));
            let broker = Broker::start_on(second_port, false, None);
            second = Some((Watcher::start(second_port, "anpr/box/#", true), broker));
            first.freeze();
        }
        if i == 200 {
            let stats = sink.stats();
            assert!(
                stats.in_flight > 0 && stats.acked == 100,
                "messages are in flight, unacknowledged by the first broker: {stats:?}"
            );
            first.kill();
        }
        submit(&sink, m.clone());
        std::thread::sleep(Duration::from_millis(5));
    }
    let (on_second, _second_broker) = second.expect("the second broker was started");
    let both = || [on_first.received(), on_second.received()].concat();
    assert!(wait_for(Duration::from_secs(20), || distinct(&both()) >= 300), "{:?}", sink.stats());
    assert_all_arrived(&both(), &sent);
    assert!(
        distinct(&on_second.received()) >= 100,
        "the second broker got at least what was submitted after the freeze"
    );
    let stats = sink.stats();
    assert!(stats.republished > 0, "what the first never acknowledged went again: {stats:?}");
    let report = sink.shutdown(Duration::from_secs(5));
    assert!(report.unacknowledged.is_empty(), "{report:?}");
}

#[test]
fn a_broker_that_thaws_gets_every_large_message_on_the_same_connection() {
    let broker = Broker::start(false);
    let watcher = Watcher::start(broker.port, "anpr/box/#", false);
    let sink = MqttSink::start(&config(broker.port), DEVICE, no_status()).expect("start");
    assert!(wait_for(Duration::from_secs(10), || sink.is_connected()));
    broker.freeze();
    // 6 MiB: more than the sockets buffer, so rumqttc's writes wait on the frozen broker.
    let sent: Vec<Message> =
        (0..12).map(|i| message(format!("big-{i:02}"), Class::Read, 512 << 10)).collect();
    for m in &sent {
        submit(&sink, m.clone());
    }
    std::thread::sleep(Duration::from_secs(2));
    broker.thaw();
    let received = watcher.wait_until(Duration::from_secs(15), |r| distinct(r) >= 12);
    assert_all_arrived(&received, &sent);
    wait_for(Duration::from_secs(5), || sink.stats().acked == 12);
    let stats = sink.stats();
    assert_eq!(
        (stats.acked, stats.republished),
        (12, 0),
        "all acknowledged, none needed a reconnection: {stats:?}"
    );
}

#[test]
fn a_full_outbox_keeps_hits_drops_the_oldest_reads_and_counts_every_drop() {
    let port = free_port();
    let mut config = config(port);
    config.outbox_messages = 8;
    config.max_in_flight = Some(4);
    let sink = MqttSink::start(&config, DEVICE, no_status()).expect("start");
    let dropped_ids = |outcome: anpr_edge::publish::SubmitOutcome| {
        outcome.dropped.into_iter().map(|m| m.id).collect::<Vec<_>>()
    };
    for i in 0..3 {
        assert_eq!(dropped_ids(submit(&sink, hit(i))), Vec::<String>::new());
    }
    for i in 0..10 {
        let expected: Vec<String> = if i >= 5 { vec![read(i - 5).id] } else { vec![] };
        assert_eq!(dropped_ids(submit(&sink, read(i))), expected, "read {i}");
    }
    for i in 3..8 {
        assert_eq!(
            dropped_ids(submit(&sink, hit(i))),
            vec![read(i + 2).id],
            "a hit takes the place of the oldest read"
        );
    }
    assert_eq!(
        dropped_ids(submit(&sink, hit(8))),
        vec![hit(0).id],
        "only hits are held: the oldest hit goes"
    );
    let outcome = submit(&sink, read(10));
    assert!(!outcome.held, "a read never pushes out a hit");
    assert_eq!(dropped_ids(outcome), vec![read(10).id]);
    let stats = sink.stats();
    assert_eq!(
        (stats.dropped_hits, stats.dropped_reads, stats.dropped_images, stats.pending),
        (1, 11, 0, 8),
        "{stats:?}"
    );

    let broker = Broker::start(false);
    let watcher = Watcher::start(broker.port, "anpr/box/#", false);
    let _gate = Gate::start(port, broker.port, true);
    let kept: Vec<Message> = (1..9).map(hit).collect();
    let received = watcher.wait_until(Duration::from_secs(15), |r| distinct(r) >= 8);
    assert_all_arrived(&received, &kept);
    assert!(sink.shutdown(Duration::from_secs(5)).unacknowledged.is_empty());
}
