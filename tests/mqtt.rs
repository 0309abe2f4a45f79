//! Delivery to a real Mosquitto: nothing lost when the broker is down, frozen, killed or
//! restarted; mutual TLS; status with Last Will; the daemon end to end.

mod common;

use anpr_edge::publish::{Class, Message, MqttConfig, MqttSink, TlsFiles};
use common::broker::{free_port, Broker, Certificates};
use common::subscriber::Subscriber;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(port: u16) -> MqttConfig {
    let text = format!(
        "host = \"127.0.0.1\"\nport = {port}\ninsecure_dev = true\nbackoff_min_ms = 1000\nbackoff_max_ms = 2000\nstatus_interval_s = 1\nkeep_alive_s = 5\n"
    );
    toml::from_str(&text).expect("mqtt config")
}

fn no_status() -> anpr_edge::publish::StatusSource {
    Arc::new(|| serde_json::json!({}))
}

fn message(i: usize) -> Message {
    let id = format!("read-{i:04}");
    Message { payload: serde_json::json!({ "read_id": id }).to_string().into_bytes(), id, topic: "anpr/box/reads".into(), class: Class::Read }
}

fn ids_on(received: &[(String, Vec<u8>, bool)], topic: &str) -> Vec<String> {
    received
        .iter()
        .filter(|(t, _, _)| t == topic)
        .filter_map(|(_, p, _)| serde_json::from_slice::<serde_json::Value>(p).ok())
        .filter_map(|v| v["read_id"].as_str().map(str::to_string))
        .collect()
}

fn all_arrived(received: &[(String, Vec<u8>, bool)], n: usize) -> bool {
    ids_on(received, "anpr/box/reads").into_iter().collect::<BTreeSet<_>>().len() >= n
}

/// Publishes `n` messages at a steady pace, calling `fault(i)` before message `i`.
fn publish_through(sink: &MqttSink, n: usize, mut fault: impl FnMut(usize)) {
    for i in 0..n {
        fault(i);
        let started = Instant::now();
        sink.submit(message(i));
        assert!(started.elapsed() < Duration::from_millis(50), "submit blocked for {:?}", started.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn assert_every_message_once_or_duplicated(received: &[(String, Vec<u8>, bool)], n: usize) {
    let ids = ids_on(received, "anpr/box/reads");
    let distinct: BTreeSet<_> = ids.iter().cloned().collect();
    let expected: BTreeSet<_> = (0..n).map(|i| message(i).id).collect();
    let missing: Vec<_> = expected.difference(&distinct).collect();
    assert!(missing.is_empty(), "{} of {n} messages lost: {:?}", missing.len(), &missing[..missing.len().min(10)]);
    eprintln!("{n} sent, {} received, {} duplicates (same id)", ids.len(), ids.len() - distinct.len());
}

#[test]
fn nothing_is_lost_when_a_broker_without_persistence_freezes_and_dies() {
    let mut broker = Broker::start(false);
    let subscriber = Subscriber::start(broker.port, "anpr/box/#");
    let sink = MqttSink::start(&config(broker.port), "box", no_status()).expect("start");
    publish_through(&sink, 300, |i| {
        if i == 100 {
            broker.freeze(); // what is sent now stays unacknowledged
        }
        if i == 200 {
            broker.kill();
            std::thread::sleep(Duration::from_millis(300));
            broker.resume();
            subscriber.wait_subscribed(Duration::from_secs(10));
        }
    });
    let received = subscriber.wait_until(Duration::from_secs(40), |r| all_arrived(r, 300));
    assert_every_message_once_or_duplicated(&received, 300);
    let stats = sink.stats();
    assert!(stats.republished > 0, "the session was lost, so messages in flight were published again: {stats:?}");
    let report = sink.shutdown(Duration::from_secs(5));
    assert!(report.unacknowledged.is_empty(), "{report:?}");
}

#[test]
fn nothing_is_lost_across_a_clean_restart_of_a_persistent_broker() {
    let mut broker = Broker::start(true);
    let subscriber = Subscriber::start(broker.port, "anpr/box/#");
    let sink = MqttSink::start(&config(broker.port), "box", no_status()).expect("start");
    publish_through(&sink, 200, |i| {
        if i == 80 {
            broker.stop();
        }
        if i == 120 {
            broker.resume();
            subscriber.wait_subscribed(Duration::from_secs(10));
        }
    });
    let received = subscriber.wait_until(Duration::from_secs(40), |r| all_arrived(r, 200));
    assert_every_message_once_or_duplicated(&received, 200);
    assert!(sink.shutdown(Duration::from_secs(5)).unacknowledged.is_empty());
}

#[test]
fn a_broker_that_is_down_at_start_gets_everything_once_it_is_up() {
    let port = free_port();
    let sink = MqttSink::start(&config(port), "box", no_status()).expect("start without a broker");
    publish_through(&sink, 50, |_| {});
    assert!(!sink.is_connected());
    assert_eq!(sink.stats().pending + sink.stats().in_flight, 50, "everything is kept");
    let _broker = Broker::start_on(port, false, None);
    // The unit's duty ends at the broker's PUBACK: every message must be acknowledged.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.stats().acked < 50 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sink.stats().acked, 50, "{:?}", sink.stats());
    assert!(sink.shutdown(Duration::from_secs(5)).unacknowledged.is_empty());
}

#[test]
fn status_is_online_while_running_and_offline_after_a_stop() {
    let broker = Broker::start(false);
    let subscriber = Subscriber::start(broker.port, "anpr/box/status");
    let sink = MqttSink::start(&config(broker.port), "box", Arc::new(|| serde_json::json!({"fps": 12.5}))).expect("start");
    let states = |r: &[(String, Vec<u8>, bool)]| -> Vec<serde_json::Value> {
        r.iter().filter_map(|(_, p, _)| serde_json::from_slice(p).ok()).collect()
    };
    let received = subscriber.wait_until(Duration::from_secs(10), |r| states(r).iter().filter(|s| s["state"] == "online").count() >= 2);
    let online: Vec<_> = states(&received).into_iter().filter(|s| s["state"] == "online").collect();
    assert!(online.len() >= 2, "an online status and a heartbeat: {online:?}");
    assert_eq!(online[1]["fps"], 12.5, "the heartbeat carries what the pipeline reports");
    assert!(online[1]["outbox"]["pending"].is_number());
    sink.shutdown(Duration::from_secs(2));
    let received = subscriber.wait_until(Duration::from_secs(10), |r| states(r).iter().any(|s| s["state"] == "offline"));
    let last = states(&received).pop().expect("status");
    assert_eq!((last["state"].as_str(), last["reason"].as_str()), (Some("offline"), Some("stopped")));
    // retained: a subscriber arriving later still learns the unit is offline
    let late = Subscriber::start(broker.port, "anpr/box/status");
    let retained = late.wait_until(Duration::from_secs(5), |r| !r.is_empty());
    assert!(retained.first().is_some_and(|(_, p, retain)| *retain && String::from_utf8_lossy(p).contains("offline")));
}

#[test]
fn mutual_tls_is_required_and_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = Certificates::make(dir.path(), "box");
    let broker = Broker::start_with(false, Some(&certs));
    let subscriber = Subscriber::start(broker.port, "anpr/box/#");
    let mut config = config(broker.tls_port.expect("tls port"));
    config.insecure_dev = false;
    config.tls = Some(TlsFiles { ca_file: certs.ca.clone(), client_cert_file: certs.client_cert.clone(), client_key_file: certs.client_key.clone() });
    let sink = MqttSink::start(&config, "box", no_status()).expect("start");
    publish_through(&sink, 20, |_| {});
    let received = subscriber.wait_until(Duration::from_secs(20), |r| all_arrived(r, 20));
    assert_every_message_once_or_duplicated(&received, 20);
    sink.shutdown(Duration::from_secs(2));

    // Without a client certificate the broker refuses the unit: nothing is acknowledged.
    let other = Certificates::make(&dir.path().join("other").tap_mkdir(), "intruder");
    let mut wrong = config.clone();
    wrong.tls = Some(TlsFiles { ca_file: certs.ca.clone(), client_cert_file: other.client_cert, client_key_file: other.client_key });
    let sink = MqttSink::start(&wrong, "box", no_status()).expect("start");
    sink.submit(message(999));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sink.stats().acked, 0, "a certificate from another CA must not be accepted");
    assert!(!sink.is_connected());
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).expect("mkdir");
        self
    }
}

#[test]
fn when_the_outbox_is_full_images_then_reads_go_but_hits_stay() {
    let port = free_port();
    let mut config = config(port);
    config.outbox_messages = 64;
    let sink = MqttSink::start(&config, "box", no_status()).expect("start");
    for i in 0..5 {
        sink.submit(Message { class: Class::Hit, id: format!("hit-{i}"), ..message(i) });
    }
    for i in 0..60 {
        sink.submit(Message { class: Class::Image, id: format!("img-{i}"), ..message(i) });
        sink.submit(message(i));
    }
    let stats = sink.stats();
    assert_eq!((stats.dropped_hits, stats.dropped_images, stats.dropped_reads), (0, 60, 1), "{stats:?}");
    assert_eq!(stats.pending + stats.in_flight, 64);
}

fn daemon_config(dir: &std::path::Path, source: &std::path::Path, mqtt: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("anpr-edge.toml");
    let text = format!(
        "[device]\nid = \"box\"\n[device.site]\nname = \"E40 test\"\n[source]\nkind = \"file\"\npath = \"{}\"\n{extra}\n\
         [output]\nkind = \"mqtt\"\n[mqtt]\n{mqtt}",
        source.display()
    );
    std::fs::write(&path, text).expect("config");
    path
}

fn statuses(received: &[(String, Vec<u8>, bool)]) -> Vec<serde_json::Value> {
    received.iter().filter(|(t, _, _)| t == "anpr/box/status").filter_map(|(_, p, _)| serde_json::from_slice(p).ok()).collect()
}

#[test]
fn the_daemon_delivers_one_read_per_vehicle_with_its_images_over_mutual_tls() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = Certificates::make(dir.path(), "box");
    let broker = Broker::start_with(false, Some(&certs));
    let subscriber = Subscriber::start(broker.port, "anpr/#");
    let (video, expected) = common::road_video(&folder, dir.path());
    let mqtt = format!(
        "host = \"127.0.0.1\"\nport = {}\n[mqtt.tls]\nca_file = \"{}\"\nclient_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
        broker.tls_port.expect("tls"),
        certs.ca.display(),
        certs.client_cert.display(),
        certs.client_key.display()
    );
    let output = common::binary().args(["run", "--config"]).arg(daemon_config(dir.path(), &video, &mqtt, "")).output().expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let received = subscriber.wait_until(Duration::from_secs(10), |r| statuses(r).iter().any(|s| s["state"] == "offline"));
    let reads: Vec<serde_json::Value> =
        received.iter().filter(|(t, _, _)| t == "anpr/box/reads").map(|(_, p, _)| serde_json::from_slice(p).expect("read JSON")).collect();
    let texts: Vec<String> = reads.iter().map(|r| anpr_edge::eval::score::fold(r["plate"]["text"].as_str().expect("text"))).collect();
    assert_eq!(texts, expected, "exactly one read per vehicle");
    for read in &reads {
        for kind in ["overview", "plate"] {
            let reference = &read["images"][kind];
            let topic = reference["topic"].as_str().expect("image topic");
            let (_, jpeg, _) = received.iter().find(|(t, _, _)| t == topic).unwrap_or_else(|| panic!("no image on {topic}"));
            assert_eq!(anpr_edge::models::sha256_hex(jpeg), reference["sha256"].as_str().expect("sha"), "image {topic} is the one the read names");
            assert_eq!(&jpeg[..2], &[0xff, 0xd8], "a JPEG");
        }
    }
    let states: Vec<String> = statuses(&received).iter().filter_map(|s| s["state"].as_str().map(str::to_string)).collect();
    assert_eq!(states.first().map(String::as_str), Some("online"), "{states:?}");
    assert_eq!(states.last().map(String::as_str), Some("offline"), "{states:?}");
}

#[test]
fn a_killed_daemon_is_reported_offline_by_its_last_will() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(false);
    let subscriber = Subscriber::start(broker.port, "anpr/box/status");
    let (video, _) = common::road_video(&folder, dir.path());
    let mqtt = format!("host = \"127.0.0.1\"\nport = {}\ninsecure_dev = true\n", broker.port);
    let config = daemon_config(dir.path(), &video, &mqtt, "[pipeline]\nrealtime = true\n");
    let mut daemon = common::binary().args(["run", "--config"]).arg(config).spawn().expect("start");
    let online = subscriber.wait_until(Duration::from_secs(20), |r| statuses(r).iter().any(|s| s["state"] == "online"));
    assert!(statuses(&online).iter().any(|s| s["state"] == "online"), "the unit never came online");
    daemon.kill().expect("SIGKILL");
    let _ = daemon.wait();
    let received = subscriber.wait_until(Duration::from_secs(10), |r| statuses(r).iter().any(|s| s["state"] == "offline"));
    let last = statuses(&received).pop().expect("a status");
    assert_eq!((last["state"].as_str(), last["reason"].as_str()), (Some("offline"), Some("connection lost")), "{last}");
}

#[test]
fn an_unreachable_broker_does_not_stop_the_unit_from_reading() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mqtt = format!("host = \"127.0.0.1\"\nport = {}\ninsecure_dev = true\nbackoff_min_ms = 200\n", free_port());
    let config = daemon_config(dir.path(), &folder.join("eu3.jpg"), &mqtt, "");
    let output = common::binary().env("ANPR_LOG", "warn").args(["run", "--config"]).arg(config).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "undelivered reads make the exit status non-zero");
    assert!(stderr.contains("broker unreachable; reads are kept"), "{stderr}");
    assert!(stderr.contains("did not acknowledge") && stderr.contains("unacknowledged=3"), "the read and its two images are reported: {stderr}");
}

/// The daemon itself, replaying in real time, while the broker freezes, dies and comes back.
fn replay_through_a_broker_fault(persistence: bool) {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Broker::start(persistence);
    let subscriber = Subscriber::start(broker.port, "anpr/box/reads");
    let (video, expected) = common::road_video(&folder, dir.path());
    let mqtt = format!("host = \"127.0.0.1\"\nport = {}\ninsecure_dev = true\nbackoff_min_ms = 1000\nbackoff_max_ms = 1000\n", broker.port);
    let config = daemon_config(dir.path(), &video, &mqtt, "[pipeline]\nrealtime = true\n");
    let mut daemon = common::binary().args(["run", "--config"]).arg(config).stderr(std::process::Stdio::piped()).spawn().expect("start");
    // The first car is emitted about 1.5 s in: freeze the broker before, so its read stays
    // unacknowledged, then kill and restart the broker while the replay goes on.
    std::thread::sleep(Duration::from_millis(1000));
    if persistence {
        broker.stop();
    } else {
        broker.freeze();
        std::thread::sleep(Duration::from_millis(1500));
        broker.kill();
    }
    std::thread::sleep(Duration::from_millis(500));
    broker.resume();
    subscriber.wait_subscribed(Duration::from_secs(10));
    let status = daemon.wait().expect("daemon");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    assert!(status.success(), "{stderr}");
    let received = subscriber.wait_until(Duration::from_secs(10), |r| r.len() >= expected.len());
    let reads: Vec<serde_json::Value> = received.iter().filter_map(|(_, p, _)| serde_json::from_slice(p).ok()).collect();
    let mut by_id = std::collections::BTreeMap::new();
    for read in &reads {
        by_id.insert(read["read_id"].as_str().expect("id").to_string(), anpr_edge::eval::score::fold(read["plate"]["text"].as_str().expect("text")));
    }
    let mut texts: Vec<String> = by_id.into_values().collect();
    texts.sort();
    let mut wanted = expected.clone();
    wanted.sort();
    assert_eq!(texts, wanted, "every vehicle's read arrived (duplicates only with the same id); {} messages in all", reads.len());
}

#[test]
fn a_replay_loses_nothing_when_a_broker_without_persistence_freezes_and_dies() {
    replay_through_a_broker_fault(false);
}

#[test]
fn a_replay_loses_nothing_across_a_restart_of_a_persistent_broker() {
    replay_through_a_broker_fault(true);
}
