//! The fleet's broker access policy (`deploy/mosquitto/anpr-fleet.conf` and `.acl`, as shipped,
//! only paths and port changed) on a real Mosquitto with certificates made here by openssl:
//! a unit speaks only for itself, reads only its own and the fleet's commands and hotlists, and
//! the centre reads everything and publishes only hotlists and commands.
//!
//! A denied publish is dropped by the broker without telling the client (MQTT 3.1.1), so every
//! "did not arrive" is proved by order, not by waiting: the forbidden message is followed, on
//! the same connection, by a permitted marker; the broker handles one connection's messages in
//! order, so once the marker has arrived the forbidden message would have arrived before it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use common::broker::{free_port, Certificates};
use rumqttc::{Client, Connection, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bounds waiting on the network (a broker that never answers), not speed.
const PATIENCE: Duration = Duration::from_secs(20);

/// The shipped configuration with this test's paths and port: every other line as shipped.
fn shipped_config(dir: &Path, port: u16, certs: &Certificates) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/mosquitto");
    let acl = root.join("anpr-fleet.acl");
    let shipped = std::fs::read_to_string(root.join("anpr-fleet.conf")).expect("shipped conf");
    let mut conf = String::from("user root\npersistence false\n");
    for line in shipped.lines() {
        let key = line.split_whitespace().next().unwrap_or_default();
        let replaced = match key {
            "listener" => format!("listener {port} 127.0.0.1"),
            "cafile" => format!("cafile {}", certs.ca.display()),
            "certfile" => format!("certfile {}", certs.server_cert.display()),
            "keyfile" => format!("keyfile {}", certs.server_key.display()),
            "acl_file" => format!("acl_file {}", acl.display()),
            _ => line.to_string(),
        };
        conf.push_str(&replaced);
        conf.push('\n');
    }
    let path = dir.join("mosquitto.conf");
    std::fs::write(&path, conf).expect("conf");
    path
}

struct Mosquitto(Child);

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One client on the broker's TLS port with the certificate `cn`; what arrives on its
/// subscriptions comes out of the channel as (topic, payload).
struct Peer {
    client: Client,
    received: mpsc::Receiver<(String, Vec<u8>)>,
    subscribed: mpsc::Receiver<()>,
}

impl Peer {
    fn connect(port: u16, ca: &Path, (cert, key): &(PathBuf, PathBuf), cn: &str) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).expect("ca") {
            roots.add(c.expect("ca cert")).expect("root");
        }
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(cert).expect("cert").map(|c| c.expect("pem")).collect();
        let key = PrivateKeyDer::from_pem_file(key).expect("key");
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client auth");
        let mut options = MqttOptions::new(cn, "localhost", port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(tls))));
        let (client, connection) = Client::new(options, 64);
        let (tx, received) = mpsc::channel();
        let (connected_tx, connected) = mpsc::channel();
        let (subscribed_tx, subscribed) = mpsc::channel();
        std::thread::spawn(move || pump(connection, tx, connected_tx, subscribed_tx));
        connected.recv_timeout(PATIENCE).expect("connected with the certificate");
        Self { client, received, subscribed }
    }

    /// Returns once the broker acknowledged the subscription, so that what is published after
    /// it is routed through it.
    fn subscribe(&self, filter: &str) {
        self.client.subscribe(filter, QoS::AtLeastOnce).expect("subscribe");
        self.subscribed.recv_timeout(PATIENCE).expect("SUBACK");
    }

    fn publish(&self, topic: &str, payload: &str) {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload.as_bytes()).expect("publish");
    }

    /// Everything that arrives until `marker` does, marker excluded.
    fn until(&self, marker: &str) -> Vec<(String, String)> {
        let deadline = Instant::now() + PATIENCE;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (topic, payload) = self
                .received
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("marker {marker} never arrived; before it: {before:?}"));
            let payload = String::from_utf8_lossy(&payload).to_string();
            if payload == marker {
                return before;
            }
            before.push((topic, payload));
        }
    }
}

fn pump(
    mut connection: Connection,
    tx: mpsc::Sender<(String, Vec<u8>)>,
    connected: mpsc::Sender<()>,
    subscribed: mpsc::Sender<()>,
) {
    for event in connection.iter() {
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let _ = connected.send(());
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                let _ = subscribed.send(());
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

struct Fleet {
    _broker: Mosquitto,
    _dir: tempfile::TempDir,
    unit_a: Peer,
    unit_b: Peer,
    centre: Peer,
}

fn fleet() -> Fleet {
    let dir = tempfile::tempdir().expect("tempdir");
    // The CA, the broker's certificate and a first client; the units and the centre get their
    // own certificates from the same CA.
    let certs = Certificates::make(dir.path(), "unused");
    let port = free_port();
    let conf = shipped_config(dir.path(), port, &certs);
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto (scripts/setup.sh installs it)");
    let broker = Mosquitto(child);
    let deadline = Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let peer = |cn: &str| {
        Peer::connect(port, &certs.ca, &Certificates::issue(dir.path(), cn, cn, "client.ext"), cn)
    };
    let (unit_a, unit_b, centre) = (peer("unit-a"), peer("unit-b"), peer("anpr-centre"));
    Fleet { _broker: broker, _dir: dir, unit_a, unit_b, centre }
}

#[test]
fn a_unit_speaks_only_for_itself_and_reads_only_what_is_meant_for_it() {
    let f = fleet();
    f.centre.subscribe("anpr/#");
    for filter in
        ["anpr/unit-a/control", "anpr/fleet/hotlist", "anpr/unit-b/control", "anpr/+/reads"]
    {
        f.unit_a.subscribe(filter);
    }
    f.centre.publish("anpr/unit-a/control", "ready");
    assert!(f.unit_a.until("ready").is_empty());

    // What a unit may publish reaches the centre; what it may not never does.
    f.unit_a.publish("anpr/unit-a/reads", "a's read");
    f.unit_a.publish("anpr/unit-b/reads", "a forging b's read");
    f.unit_a.publish("anpr/unit-b/status", "a forging b's status");
    f.unit_a.publish("anpr/fleet/hotlist", "a forging a fleet hotlist");
    f.unit_a.publish("anpr/unit-a/control", "a commanding itself");
    f.unit_a.publish("anpr/unit-a/status", "a's marker");
    let at_centre = f.centre.until("a's marker");
    let payloads: Vec<&str> = at_centre.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(payloads, ["ready", "a's read"], "only what unit-a may publish arrived");

    // A unit reads its own commands and the fleet's hotlists, never another unit's traffic.
    f.unit_b.publish("anpr/unit-b/reads", "b's read");
    f.unit_b.publish("anpr/unit-b/status", "b's marker");
    let at_centre = f.centre.until("b's marker");
    assert_eq!(at_centre, [("anpr/unit-b/reads".to_string(), "b's read".to_string())]);
    f.centre.publish("anpr/unit-b/control", "for b only");
    f.centre.publish("anpr/fleet/hotlist", "fleet list");
    f.centre.publish("anpr/unit-a/control", "for a");
    let at_a = f.unit_a.until("for a");
    let payloads: Vec<&str> = at_a.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        payloads,
        ["fleet list"],
        "unit-a got the fleet's list and none of unit-b's read or commands"
    );
}

#[test]
fn the_centre_reads_everything_and_issues_lists_and_commands_but_speaks_for_no_unit() {
    let f = fleet();
    f.unit_b.subscribe("anpr/unit-b/hotlist");
    f.unit_b.subscribe("anpr/fleet/control");
    f.unit_b.subscribe("anpr/unit-b/control");
    f.centre.subscribe("$share/centre/anpr/+/reads");
    f.centre.publish("anpr/unit-b/control", "ready");
    assert!(f.unit_b.until("ready").is_empty());

    f.centre.publish("anpr/unit-b/hotlist", "b's list");
    f.centre.publish("anpr/fleet/control", "fleet command");
    f.centre.publish("anpr/unit-b/reads", "the centre forging b's read");
    f.centre.publish("anpr/unit-b/control", "b's command");
    let at_b = f.unit_b.until("b's command");
    let payloads: Vec<&str> = at_b.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(payloads, ["b's list", "fleet command"]);

    // The forged read went nowhere; a unit's own read reaches a shared-subscription consumer.
    // The marker travels through the same shared subscription as the read.
    f.unit_b.publish("anpr/unit-b/reads", "b's read");
    f.unit_b.publish("anpr/unit-b/reads", "b's marker");
    let at_centre = f.centre.until("b's marker");
    let payloads: Vec<&str> = at_centre.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(payloads, ["b's read"]);
}
