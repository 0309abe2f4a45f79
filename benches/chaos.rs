//! The chaos bench (issue 25): the project's publisher (`MqttSink`, spool on) in a process of its
//! own, against Mosquitto (`BROKER=mosquitto`) or the three-node Aedes cluster (`cluster`), for
//! `ROUNDS` rounds (default: as many as fit in 10 minutes). Each round submits 20 messages
//! (every fourth a hit) and inflicts a fault drawn from the printed `SEED`:
//! - the broker frozen (SIGSTOP, then SIGCONT), killed (SIGKILL, then started again) or
//!   restarted (SIGTERM, then started); on the cluster a node, and `node_killed` one of the two
//!   nodes the consumer is not on, started again later;
//! - through the loopback relay in front of each broker (`tests/common/mqtt_proxy.rs`):
//!   packets delayed, held (one direction, then let go at once) or the connection cut;
//! - the unit starved (`stress-ng` on every core, the unit at `nice` 19) or frozen
//!   (SIGSTOP/SIGCONT);
//! - the unit SIGKILLed and started again from its spool.
//!
//! Then every fault is healed and the unit stopped cleanly: what it did not see acknowledged
//! stays in its spool for the next round's process. A message the unit counted as acknowledged
//! (submitted and no longer in the spool) must reach the consumer, a persistent-session client
//! subscribed at QoS 1 (on the cluster, on node 0, which is only ever frozen); a round that
//! loses one prints the seed and the round. After a Mosquitto restart the unit is let through
//! only once the consumer has subscribed again, so a message the consumer misses was lost by
//! the unit or by a broker that acknowledged it, not by a consumer away. The last line is one JSON object.
//!
//! `CHAOS_ROLE=unit` runs the unit: it reads `<id> <class>` lines on stdin, submits each and
//! answers `ok`; `flush` stops it cleanly and it answers with the ids left unacknowledged.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

#[allow(dead_code)]
#[path = "../tests/common/broker.rs"]
mod broker;
#[path = "../tests/common/cluster.rs"]
mod cluster;
// The broker's certificates are made with the tests' openssl helper.
#[allow(dead_code)]
#[path = "../tests/common/keys.rs"]
mod keys;
#[path = "../tests/common/mqtt_proxy.rs"]
mod mqtt_proxy;
#[allow(dead_code)]
#[path = "../tests/common/subscriber.rs"]
mod subscriber;

use anpr_edge::backoff::SplitMix64;
use anpr_edge::message::{Class, Message};
use anpr_edge::publish::{MqttConfig, MqttSink, Setup, Topics};
use mqtt_proxy::{Dir, MqttProxy};
use rumqttc::QoS;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use subscriber::Subscriber;

const DEVICE: &str = "chaos";
const PER_ROUND: usize = 20;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if std::env::var("CHAOS_ROLE").as_deref() == Ok("unit") {
        unit();
    } else {
        controller();
    }
}

fn message(id: &str, hit: bool) -> Message {
    let topics = Topics::new("anpr", &DEVICE.parse().expect("a unit id"));
    let payload = serde_json::json!({ "read_id": id, "plate": "1ABC234", "pad": "x".repeat(400) });
    Message {
        id: id.to_string(),
        topic: if hit { topics.hits } else { topics.reads },
        payload: payload.to_string().into_bytes(),
        class: if hit { Class::Hit } else { Class::Read },
    }
}

/// The unit's process: the project's publisher with its spool, driven by stdin.
fn unit() {
    let hosts: Vec<String> =
        env("CHAOS_HOSTS", String::new()).split(',').map(|h| format!("\"{h}\"")).collect();
    let config: MqttConfig = toml::from_str(&format!(
        "hosts = [{}]\ninsecure_dev = true\nbackoff_min_ms = 50\nbackoff_max_ms = 500\nkeep_alive_s = 5\nqos = {}\noutbox_messages = 100000\noutbox_bytes = 67108864\n",
        hosts.join(", "),
        env("CHAOS_QOS", 2u8)
    ))
    .expect("mqtt config");
    let spool = anpr_edge::spool::SpoolConfig {
        dir: env("CHAOS_SPOOL", String::new()).into(),
        ..anpr_edge::spool::SpoolConfig::default()
    };
    let mut setup = Setup::new(Arc::new(|| serde_json::json!({})));
    setup.spool = Some(anpr_edge::spool::Spool::open(&spool).expect("the unit's spool"));
    let sink = MqttSink::start_with(&config, DEVICE, setup).expect("the unit");
    let mut out = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        if line == "flush" {
            break;
        }
        let (id, class) = line.split_once(' ').expect("<id> <class>");
        let outcome = sink.submit(message(id, class == "hit"));
        assert!(outcome.held, "{id} was not held: the outbox is bounded above the bench's load");
        writeln!(out, "ok").expect("stdout");
    }
    let report = sink.shutdown(Duration::from_secs(30));
    let stats = serde_json::to_string(&report.stats).expect("stats");
    let unacknowledged = serde_json::to_string(&report.unacknowledged).expect("ids");
    writeln!(out, "unacked {unacknowledged} {stats}").expect("stdout");
}

/// The rounds' choices from the seed (the backoff's SplitMix64).
struct Rng(SplitMix64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n.max(1)
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.below(high - low))
    }
}

enum Brokers {
    Mosquitto(broker::Broker),
    Cluster(cluster::Cluster),
}

/// How a fault struck during a round is healed at its end.
type Heal = Box<dyn FnOnce(&mut Bench)>;

struct Unit {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

struct Bench {
    qos: u8,
    brokers: Brokers,
    proxies: Vec<MqttProxy>,
    consumer: Subscriber,
    spool: tempfile::TempDir,
    unit: Option<Unit>,
    submitted: BTreeSet<String>,
    unacknowledged: BTreeSet<String>,
    lost: BTreeSet<String>,
    faults: BTreeMap<&'static str, u64>,
}

const MOSQUITTO_FAULTS: [&str; 10] = [
    "broker_frozen",
    "broker_killed",
    "broker_restarted",
    "packets_delayed",
    "packets_held",
    "connection_cut",
    "unit_starved",
    "unit_frozen",
    "unit_killed",
    "broker_frozen_then_killed",
];
const CLUSTER_FAULTS: [&str; 10] = [
    "node_frozen",
    "node_killed",
    "node_restarted",
    "packets_delayed",
    "packets_held",
    "connection_cut",
    "unit_starved",
    "unit_frozen",
    "unit_killed",
    "node_frozen_then_killed",
];

impl Bench {
    fn start_unit(&mut self) {
        let hosts: Vec<String> =
            self.proxies.iter().map(|p| format!("127.0.0.1:{}", p.port)).collect();
        let mut child = Command::new(std::env::current_exe().expect("this bench"))
            .env("CHAOS_ROLE", "unit")
            .env("CHAOS_HOSTS", hosts.join(","))
            .env("CHAOS_QOS", self.qos.to_string())
            .env("CHAOS_SPOOL", self.spool.path())
            .env("RUST_LOG", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the unit's process");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        self.unit = Some(Unit { child, stdin, stdout });
    }

    fn signal_unit(&self, signal: &str) {
        if let Some(unit) = &self.unit {
            let pid = unit.child.id().to_string();
            let _ = Command::new("kill").args([&format!("-{signal}"), &pid]).status();
        }
    }

    /// Submits one message; counted only once the unit has said it holds it (spooled).
    fn submit(&mut self, id: &str, hit: bool) {
        let unit = self.unit.as_mut().expect("a unit");
        writeln!(unit.stdin, "{id} {}", if hit { "hit" } else { "read" }).expect("to the unit");
        let mut line = String::new();
        unit.stdout.read_line(&mut line).expect("from the unit");
        assert_eq!(line.trim(), "ok", "the unit answered {line:?}");
        self.submitted.insert(id.to_string());
    }

    /// Stops the unit cleanly; what it did not see acknowledged stays in its spool.
    fn flush_unit(&mut self) -> serde_json::Value {
        let mut unit = self.unit.take().expect("a unit");
        writeln!(unit.stdin, "flush").expect("to the unit");
        let mut line = String::new();
        unit.stdout.read_line(&mut line).expect("from the unit");
        let _ = unit.child.wait();
        let rest = line.trim().strip_prefix("unacked ").expect("the unit's report");
        let (ids, stats) = rest.split_once(' ').expect("ids and stats");
        let ids: Vec<String> = serde_json::from_str(ids).expect("ids");
        self.unacknowledged = ids.into_iter().collect();
        serde_json::from_str(stats).expect("stats")
    }

    fn kill_unit(&mut self) {
        if let Some(mut unit) = self.unit.take() {
            let _ = unit.child.kill();
            let _ = unit.child.wait();
        }
    }

    /// The broker (or node) taken down by `kill` comes back; on Mosquitto the unit is let in
    /// only once the consumer has subscribed again.
    fn restart(&mut self, node: usize, clean: bool) {
        match &mut self.brokers {
            Brokers::Mosquitto(broker) => {
                let before = self.consumer.subscriptions();
                self.proxies[0].refuse(true);
                if clean {
                    broker.stop();
                } else {
                    broker.kill();
                }
                broker.resume();
                self.consumer.wait_subscribed_after(before, Duration::from_secs(30));
                self.proxies[0].refuse(false);
            }
            Brokers::Cluster(cluster) => {
                cluster.kill(node);
                assert!(cluster.try_resume(node, Duration::from_secs(60)), "node {node} came back");
            }
        }
    }

    fn kill(&mut self, node: usize) {
        match &mut self.brokers {
            Brokers::Mosquitto(broker) => broker.kill(),
            Brokers::Cluster(cluster) => cluster.kill(node),
        }
    }

    fn freeze(&self, node: usize, frozen: bool) {
        match (&self.brokers, frozen) {
            (Brokers::Mosquitto(b), true) => b.freeze(),
            (Brokers::Mosquitto(b), false) => b.thaw(),
            (Brokers::Cluster(c), true) => c.freeze(node),
            (Brokers::Cluster(c), false) => c.thaw(node),
        }
    }

    /// One round: `PER_ROUND` messages, the fault struck before message `at` and healed after
    /// `hold`, then a clean stop; returns the fault and the ids acknowledged and not received.
    fn round(&mut self, round: u64, rng: &mut Rng) -> (&'static str, Vec<String>) {
        let faults = match self.brokers {
            Brokers::Mosquitto(_) => MOSQUITTO_FAULTS,
            Brokers::Cluster(_) => CLUSTER_FAULTS,
        };
        let fault = faults[rng.below(faults.len() as u64) as usize];
        *self.faults.entry(fault).or_default() += 1;
        let at = rng.below(PER_ROUND as u64) as usize;
        let hold = rng.millis(100, 1500);
        // On the cluster: node 0 carries the consumer; the others may die.
        let node = 1 + rng.below(2) as usize;
        let frozen_node = rng.below(3) as usize;
        let direction = if rng.below(2) == 0 { Dir::ToBroker } else { Dir::ToClient };
        let delay = rng.millis(20, 300);
        if self.unit.is_none() {
            self.start_unit();
        }
        let mut heal: Option<Heal> = None;
        for i in 0..PER_ROUND {
            if i == at {
                heal = self.strike(fault, hold, node, frozen_node, direction, delay);
            }
            let id = format!("m{round:05}-{i:02}");
            self.submit(&id, i % 4 == 0);
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(heal) = heal {
            heal(self);
        }
        let stats = self.flush_unit();
        for fault in ["dropped_hits", "dropped_reads", "dropped_images"] {
            assert_eq!(stats[fault], 0, "the outbox dropped nothing: {stats}");
        }
        (fault, self.missing_after_settling())
    }

    /// Strikes `fault` now; returns how to heal it at the round's end, or heals it itself
    /// after `hold` when the unit cannot take messages meanwhile.
    fn strike(
        &mut self,
        fault: &'static str,
        hold: Duration,
        node: usize,
        frozen_node: usize,
        direction: Dir,
        delay: Duration,
    ) -> Option<Heal> {
        match fault {
            "broker_frozen" | "node_frozen" => {
                self.freeze(frozen_node, true);
                Some(Box::new(move |b: &mut Bench| {
                    std::thread::sleep(hold);
                    b.freeze(frozen_node, false);
                }))
            }
            "broker_killed" | "node_killed" => {
                self.kill(node);
                Some(Box::new(move |b: &mut Bench| {
                    std::thread::sleep(hold);
                    b.restart(node, false);
                }))
            }
            "broker_restarted" | "node_restarted" => {
                self.restart(node, true);
                None
            }
            "broker_frozen_then_killed" | "node_frozen_then_killed" => {
                let target = if matches!(self.brokers, Brokers::Cluster(_)) { node } else { 0 };
                self.freeze(target, true);
                Some(Box::new(move |b: &mut Bench| {
                    std::thread::sleep(hold);
                    b.restart(target, false);
                }))
            }
            "packets_delayed" => {
                self.proxies.iter().for_each(|p| p.delay(direction, delay));
                Some(Box::new(move |b: &mut Bench| {
                    b.proxies.iter().for_each(|p| p.delay(direction, Duration::ZERO));
                }))
            }
            "packets_held" => {
                self.proxies.iter().for_each(|p| p.hold(direction, |_| true, |_, _| false));
                Some(Box::new(move |b: &mut Bench| {
                    std::thread::sleep(hold);
                    b.proxies.iter().for_each(|p| p.release(direction));
                }))
            }
            "connection_cut" => {
                self.proxies.iter().for_each(MqttProxy::cut);
                None
            }
            "unit_starved" => {
                self.signal_unit_nice(19);
                // stress-ng's own timeout counts whole seconds: the burners are stopped here,
                // with its timeout only a bound should the bench die first.
                let mut burners = Command::new("stress-ng")
                    .args(["--cpu", "0", "--timeout", "60"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("stress-ng (scripts/setup.sh installs it)");
                Some(Box::new(move |b: &mut Bench| {
                    std::thread::sleep(hold);
                    let _ = Command::new("kill").args(["-INT", &burners.id().to_string()]).status();
                    let _ = burners.wait();
                    b.signal_unit_nice(0);
                }))
            }
            "unit_frozen" => {
                self.signal_unit("STOP");
                std::thread::sleep(hold);
                self.signal_unit("CONT");
                None
            }
            "unit_killed" => {
                self.kill_unit();
                std::thread::sleep(hold);
                self.start_unit();
                None
            }
            other => unreachable!("no fault {other}"),
        }
    }

    fn signal_unit_nice(&self, nice: i32) {
        if let Some(unit) = &self.unit {
            let _ = Command::new("renice")
                .args(["-n", &nice.to_string(), "-p", &unit.child.id().to_string()])
                .stdout(Stdio::null())
                .status();
        }
    }

    fn received(&self) -> BTreeMap<String, usize> {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (_, payload, _) in self.consumer.received() {
            let json: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
            if let Some(id) = json["read_id"].as_str() {
                *seen.entry(id.to_string()).or_default() += 1;
            }
        }
        seen
    }

    /// The acknowledged messages not received, once the consumer has had 10 s without a new
    /// arrival to receive them (the cluster's nodes hand messages on through Redis).
    fn missing_after_settling(&mut self) -> Vec<String> {
        let mut last = (0, Instant::now());
        loop {
            let received = self.received();
            let missing: Vec<String> = self
                .submitted
                .iter()
                .filter(|id| !self.unacknowledged.contains(*id) && !self.lost.contains(*id))
                .filter(|id| !received.contains_key(*id))
                .cloned()
                .collect();
            let count: usize = received.values().sum();
            if count != last.0 {
                last = (count, Instant::now());
            }
            if missing.is_empty() || last.1.elapsed() > Duration::from_secs(10) {
                return missing;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn controller() {
    let qos: u8 = env("QOS", 2);
    let engine = env("BROKER", "mosquitto".to_string());
    let seed: u64 = env(
        "SEED",
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64),
    );
    let rounds: u64 = env("ROUNDS", u64::MAX);
    let budget = Duration::from_secs(if rounds == u64::MAX { 600 } else { u64::MAX / 4 });
    eprintln!("chaos: seed {seed}, QoS {qos}, broker {engine}");
    let (brokers, ports) = match engine.as_str() {
        "mosquitto" => {
            let broker = broker::Broker::start(true);
            let port = broker.port;
            (Brokers::Mosquitto(broker), vec![port])
        }
        "cluster" => {
            let cluster = cluster::Cluster::start(3);
            let ports = cluster.ports.clone();
            (Brokers::Cluster(cluster), ports)
        }
        other => panic!("BROKER={other}: mosquitto or cluster"),
    };
    // QoS 1 whatever the unit's: rumqttc, the consumer's client, forgets the QoS 2 messages it
    // received (`incoming_pub`) at a lost connection and refuses the broker's PUBRELs for them
    // on the kept session as unsolicited, so it could never subscribe again.
    let consumer =
        Subscriber::start_with(ports[0], &format!("anpr/{DEVICE}/+"), true, QoS::AtLeastOnce);
    consumer.wait_subscribed(Duration::from_secs(30));
    let mut bench = Bench {
        qos,
        brokers,
        proxies: ports.iter().map(|p| MqttProxy::start(*p)).collect(),
        consumer,
        spool: tempfile::tempdir().expect("the unit's spool folder"),
        unit: None,
        submitted: BTreeSet::new(),
        unacknowledged: BTreeSet::new(),
        lost: BTreeSet::new(),
        faults: BTreeMap::new(),
    };
    let mut rng = Rng(SplitMix64(seed));
    let started = Instant::now();
    let mut done = 0;
    let mut lost_by_fault: BTreeMap<&str, usize> = BTreeMap::new();
    while done < rounds && started.elapsed() < budget {
        let (fault, missing) = bench.round(done, &mut rng);
        if !missing.is_empty() {
            eprintln!(
                "round {done} of SEED={seed} ({fault}) lost {} acknowledged: {missing:?} (replay: SEED={seed} ROUNDS={})",
                missing.len(),
                done + 1
            );
            *lost_by_fault.entry(fault).or_default() += missing.len();
            bench.lost.extend(missing);
        }
        done += 1;
        if done % 10 == 0 {
            eprintln!("chaos: {done} rounds, {} lost so far, {:?}", bench.lost.len(), bench.faults);
        }
    }
    // The last round's unacknowledged messages go out with the broker healthy.
    bench.start_unit();
    bench.flush_unit();
    let lost_in_last = bench.missing_after_settling();
    bench.lost.extend(lost_in_last);
    let received = bench.received();
    let acked = bench.submitted.len() - bench.unacknowledged.len();
    let delivered_unique = bench.submitted.iter().filter(|id| received.contains_key(*id)).count();
    let duplicates: usize = received.values().map(|n| n - 1).sum();
    println!(
        "{}",
        serde_json::json!({
            "rounds": done,
            "seed": seed,
            "qos": qos,
            "broker": engine,
            "messages": bench.submitted.len(),
            "acked": acked,
            "delivered_unique": delivered_unique,
            "lost": bench.lost.len(),
            "duplicates": duplicates,
            "faults": bench.faults,
            "lost_by_fault": lost_by_fault,
            "unacknowledged_at_end": bench.unacknowledged.len(),
            "lost_ids": bench.lost.iter().take(20).collect::<Vec<_>>(),
            "seconds": started.elapsed().as_secs(),
        })
    );
}
