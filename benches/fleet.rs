//! The fleet bench: `UNITS` simulated units in one process, each the project's own publisher
//! (`MqttSink`: outbox, topics, status heartbeat and Last Will, the fleet hotlist subscription),
//! on a real three-node cluster (`tests/cluster/`: Aedes nodes sharing messages and sessions
//! through Redis), spread over the nodes by their client ids. Each unit sends `RATE` reads a
//! second (≈1 KiB, shaped like a record; with `IMAGES=1` a ≈25 KiB overview each) for
//! `SECONDS`; one consumer on node 0 (a persistent session) receives them. A third of the way
//! in, node 1 is killed and started again 5 s later; two thirds in, a retained fleet hotlist of
//! `HOTLIST_ENTRIES` (100,000) entries is published. `JITTER=0` gives every unit the plain
//! doubling backoff instead of the jittered one; `SPOOL=1` puts each unit's outbox on a durable
//! spool of its own (in a temporary folder; `fsync` every 200 ms, the default). `ENGINE=rmqtt`
//! runs the cluster on rmqttd's Raft cluster instead of Aedes (`RMQTTD` names the binary); a
//! killed rmqtt node cannot start again until its Raft port is free (TIME_WAIT, about a
//! minute), so there the node is started again after the run, and `node_restart_s` says when
//! it listened.
//!
//! Run by `benches/fleet/run.sh`; prints one JSON object as its last line.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

#[path = "../tests/common/cluster.rs"]
mod cluster;

use anpr_edge::message::{Class, Message};
use anpr_edge::outgoing::ImageKind;
use anpr_edge::publish::{ControlHandler, MqttConfig, MqttSink, Setup, Topics};
use cluster::{Cluster, Engine};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// This process's resident memory, KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Received {
    /// read id → copies received
    copies: HashMap<String, u32>,
    /// capture-to-arrival of each first copy, ms
    latencies: Vec<u64>,
}

/// The centre's consumer: a persistent session on node 0, subscribed to every unit's reads.
fn consume(port: u16, received: Arc<Mutex<Received>>) -> Client {
    let mut options = MqttOptions::new("fleet-consumer", "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(false)
        .set_max_packet_size(64 << 20, 64 << 20);
    let (client, mut connection) = Client::new(options, 1024);
    let subscriber = client.clone();
    std::thread::spawn(move || {
        for event in connection.iter() {
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = subscriber.try_subscribe("anpr/+/reads", QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let json: serde_json::Value =
                        serde_json::from_slice(&p.payload).unwrap_or_default();
                    let (Some(id), Some(sent)) =
                        (json["read_id"].as_str(), json["sent_ms"].as_u64())
                    else {
                        continue;
                    };
                    let mut r = received.lock().expect("lock");
                    let copies = r.copies.entry(id.to_string()).or_insert(0);
                    *copies += 1;
                    if *copies == 1 {
                        r.latencies.push(now_ms().saturating_sub(sent));
                    }
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    });
    client
}

fn read(unit: &str, topics: &Topics, n: u64) -> Message {
    let id = format!("{unit}-{n:06}");
    let payload = serde_json::json!({
        "schema_version": 1, "read_id": id, "device_id": unit, "camera_id": "cam0",
        "sent_ms": now_ms(), "plate": "1ABC234", "country": "BE", "confidence": 0.97,
        "hit": false, "site": "fleet bench", "pad": "x".repeat(760),
    });
    Message {
        id,
        topic: topics.reads.clone(),
        payload: payload.to_string().into_bytes(),
        class: Class::Read,
    }
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[((last as f64) * p).round() as usize])
}

fn main() {
    let units: usize = env("UNITS", 1000);
    let seconds: u64 = env("SECONDS", 60);
    let rate: f64 = env("RATE", 1.0);
    let images = env("IMAGES", 0) == 1;
    let jitter = env("JITTER", 1) == 1;
    let entries: usize = env("HOTLIST_ENTRIES", 100_000);
    let spool = env("SPOOL", 0) == 1;
    // 2 by default: Aedes acknowledges QoS 1 before it hands a message to the cluster.
    let qos: u8 = env("QOS", 2);
    let spools = tempfile::tempdir().expect("a folder for the spools");

    let engine = match std::env::var("ENGINE").as_deref() {
        Ok("rmqtt") => Engine::Rmqtt,
        _ => Engine::Aedes,
    };
    let mut cluster = Cluster::start_engine(3, engine);
    let received = Arc::new(Mutex::new(Received::default()));
    let _centre = consume(cluster.ports[0], Arc::clone(&received));
    // The centre's hotlist publisher: a client of its own, as the consumers are.
    let mut options = MqttOptions::new("fleet-hotlist-publisher", "127.0.0.1", cluster.ports[0]);
    options.set_keep_alive(Duration::from_secs(30)).set_max_packet_size(64 << 20, 64 << 20);
    let (publisher, mut publishing) = Client::new(options, 16);
    std::thread::spawn(move || for _ in publishing.iter() {});
    let hotlist: Vec<u8> = (0..entries)
        .map(|i| {
            format!("{}{:06},stolen vehicle,fleet bench\n", ["1ABC", "2XYZ", "7QRS"][i % 3], i)
        })
        .collect::<String>()
        .into_bytes();
    let hotlist_len = hotlist.len();

    let hosts: Vec<String> = cluster.ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    let config: MqttConfig = toml::from_str(&format!(
        "hosts = [{}]\ninsecure_dev = true\nbackoff_min_ms = 500\nbackoff_max_ms = 10000\nbackoff_jitter = {jitter}\nkeep_alive_s = 10\nstatus_interval_s = 30\noutbox_messages = 2000\nqos = {qos}\n",
        hosts.join(", ")
    ))
    .expect("mqtt config");
    let rss_before = rss_kib();
    let hotlist_at: Arc<Vec<AtomicU64>> = Arc::new((0..units).map(|_| AtomicU64::new(0)).collect());
    let mut sinks = Vec::with_capacity(units);
    let mut names = Vec::with_capacity(units);
    for u in 0..units {
        let name = format!("sim-{u:05}");
        let topics = Topics::new("anpr", &name.parse().expect("a simulated unit id"));
        let mut setup = Setup::new(Arc::new(|| serde_json::json!({ "simulated": true })));
        setup.status_fields = serde_json::json!({ "purpose": "fleet bench" });
        setup.subscriptions = vec![topics.fleet_hotlist.clone()];
        let arrivals = Arc::clone(&hotlist_at);
        let control: ControlHandler = Arc::new(move |_topic: &str, payload: &[u8]| {
            if payload.len() == hotlist_len {
                arrivals[u].store(now_ms(), Ordering::Relaxed);
            }
        });
        setup.control = control;
        if spool {
            let config = anpr_edge::spool::SpoolConfig {
                dir: spools.path().join(&name),
                max_bytes: 16 << 20,
                segment_bytes: 1 << 20,
                ..anpr_edge::spool::SpoolConfig::default()
            };
            setup.spool = Some(anpr_edge::spool::Spool::open(&config).expect("a unit's spool"));
        }
        sinks.push(MqttSink::start_with(&config, &name, setup).expect("a simulated unit"));
        names.push((name, topics));
    }
    let all_connected = |sinks: &[MqttSink]| sinks.iter().filter(|s| s.is_connected()).count();
    let deadline = Instant::now() + Duration::from_secs(120);
    while all_connected(&sinks) < units && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("{} of {units} units connected", all_connected(&sinks));
    let unit_rss_kib = rss_kib().saturating_sub(rss_before) / units.max(1) as u64;

    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let started = Instant::now();
    let run = Duration::from_secs(seconds);
    let mut next: Vec<Instant> =
        (0..units).map(|u| started + period.mul_f64(u as f64 / units as f64)).collect();
    let mut counters = vec![0u64; units];
    let mut reads_sent = 0u64;
    // rmqtt: after the run (see the top of the file).
    let mut restarted = engine == Engine::Rmqtt;
    let (mut killed_at, mut storm_reconnect_s) = (None::<(Instant, u64)>, None);
    let mut node_restart_s = None;
    let mut hotlist_published: Option<u64> = None;
    let overview = vec![0xA5u8; 25 << 10];
    while started.elapsed() < run {
        let now = Instant::now();
        for u in 0..units {
            if now < next[u] {
                continue;
            }
            next[u] += period;
            let (name, topics) = &names[u];
            let message = read(name, topics, counters[u]);
            counters[u] += 1;
            if images {
                sinks[u].submit(Message {
                    id: format!("{}-overview", message.id),
                    topic: topics.image(&message.id, ImageKind::Overview),
                    payload: overview.clone(),
                    class: Class::Image,
                });
            }
            sinks[u].submit(message);
            reads_sent += 1;
        }
        let elapsed = started.elapsed();
        if killed_at.is_none() && elapsed >= run / 3 {
            cluster.kill(1);
            killed_at = Some((Instant::now(), now_ms()));
            eprintln!("node 1 killed at {:.1} s", elapsed.as_secs_f64());
        }
        if let Some((at, _)) = killed_at {
            if !restarted && at.elapsed() >= Duration::from_secs(5) {
                cluster.resume(1);
                restarted = true;
                node_restart_s = Some(at.elapsed().as_secs_f64());
            }
            if storm_reconnect_s.is_none() && all_connected(&sinks) == units {
                storm_reconnect_s = Some(at.elapsed().as_secs_f64());
            }
        }
        if hotlist_published.is_none() && elapsed >= run * 2 / 3 {
            let topic = Topics::new("anpr", &"centre".parse().expect("id")).fleet_hotlist;
            publisher.publish(topic, QoS::AtLeastOnce, true, hotlist.clone()).expect("publish");
            hotlist_published = Some(now_ms());
            eprintln!("fleet hotlist of {entries} entries ({hotlist_len} bytes) published");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if let (Some((at, _)), Engine::Rmqtt) = (killed_at, engine) {
        if cluster.try_resume(1, Duration::from_secs(120)) {
            node_restart_s = Some(at.elapsed().as_secs_f64());
        }
    }
    // Drain: every unit's outbox empty, then the consumer holding every read.
    let drain = Instant::now() + Duration::from_secs(60);
    while Instant::now() < drain
        && sinks.iter().any(|s| {
            let stats = s.stats();
            stats.pending + stats.in_flight > 0
        })
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let totals = |f: fn(&anpr_edge::publish::OutboxStats) -> u64| -> u64 {
        sinks.iter().map(|s| f(&s.stats())).sum()
    };
    let unacknowledged = totals(|s| (s.pending + s.in_flight) as u64);
    let dropped_reads = totals(|s| s.dropped_reads);
    // Every read that left a unit's outbox acknowledged (with IMAGES=1 images are acknowledged
    // too, so the reads are counted, not the PUBACKs).
    let acked_reads = reads_sent.saturating_sub(dropped_reads + unacknowledged);
    // The consumer may be behind an overloaded cluster: wait while reads still arrive (up to
    // 10 s without one, 180 s in all), so `lost` counts what never came, not what is late.
    let settle = Instant::now() + Duration::from_secs(180);
    let (mut last_count, mut last_arrival) = (0, Instant::now());
    loop {
        let count = received.lock().expect("lock").copies.len() as u64;
        if count > last_count {
            (last_count, last_arrival) = (count, Instant::now());
        }
        if count >= acked_reads
            || Instant::now() >= settle
            || last_arrival.elapsed() > Duration::from_secs(10)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let fanout_deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < fanout_deadline
        && hotlist_at.iter().any(|t| t.load(Ordering::Relaxed) == 0)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let hotlist_fanout_s = hotlist_published.and_then(|at| {
        let arrivals: Vec<u64> = hotlist_at.iter().map(|t| t.load(Ordering::Relaxed)).collect();
        (!arrivals.contains(&0))
            .then(|| arrivals.iter().max().map(|&last| last.saturating_sub(at) as f64 / 1000.0))
            .flatten()
    });
    // rmqtt nodes do not log connections: no peak to count there.
    let storm_peak = killed_at.filter(|_| engine == Engine::Aedes).map(|(_, ms)| {
        let mut times: Vec<u64> = (0..3)
            .flat_map(|n| cluster.connections(n))
            .filter(|(id, at)| id.starts_with("anpr-edge-sim-") && *at >= ms)
            .map(|(_, at)| at)
            .collect();
        times.sort_unstable();
        // The most connections in any 100 ms after the kill, as a rate per second.
        10 * (0..times.len())
            .map(|i| times[i..].iter().take_while(|&&t| t < times[i] + 100).count())
            .max()
            .unwrap_or(0)
    });
    let connected = all_connected(&sinks);
    let r = received.lock().expect("lock");
    let unique = r.copies.len() as u64;
    let duplicates: u64 = r.copies.values().map(|&c| u64::from(c) - 1).sum();
    let missing: Vec<String> = names
        .iter()
        .zip(&counters)
        .flat_map(|((name, _), &count)| (0..count).map(move |n| format!("{name}-{n:06}")))
        .filter(|id| !r.copies.contains_key(id))
        .take(20)
        .collect();
    if !missing.is_empty() {
        eprintln!("never received (first 20): {missing:?}");
    }
    let mut latencies = r.latencies.clone();
    latencies.sort_unstable();
    let summary = serde_json::json!({
        "units": units,
        "nodes": 3,
        "engine": format!("{engine:?}").to_lowercase(),
        "connected": connected,
        "seconds": seconds,
        "rate": rate,
        "images": images,
        "jitter": jitter,
        "qos": qos,
        "spool": spool,
        "reads_sent": reads_sent,
        "reads_acked": acked_reads,
        "reads_dropped": dropped_reads,
        "unacknowledged": unacknowledged,
        "reads_received_unique": unique,
        "lost": acked_reads.saturating_sub(unique),
        "duplicates": duplicates,
        "e2e_p50_ms": percentile(&latencies, 0.50),
        "e2e_p99_ms": percentile(&latencies, 0.99),
        "node_killed": killed_at.is_some(),
        "node_restart_s": node_restart_s,
        "storm_reconnect_s": storm_reconnect_s,
        "storm_peak_connects_per_s": storm_peak,
        "hotlist_entries": entries,
        "hotlist_fanout_s": hotlist_fanout_s,
        "unit_rss_kib": unit_rss_kib,
    });
    drop(r);
    for sink in sinks {
        let _ = sink.shutdown(Duration::from_secs(1));
    }
    println!("{summary}");
}
