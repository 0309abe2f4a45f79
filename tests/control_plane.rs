//! The control plane end to end: the daemon, a real Mosquitto, and commands made the way an
//! operator makes them (`anpr-edge command sign` with an openssl key). A command for this unit
//! and one for the fleet are taken and answered, a snapshot arrives as a JPEG; a replay (also after a restart of the
//! process), a forged signature and another unit's configuration are refused with their
//! reason; a new configuration is applied by a restart in the same process and confirmed once
//! it reaches the broker; one that cannot reach the broker is rolled back after its probation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use common::broker::Broker;
use common::keys::key_pair;
use common::subscriber::Subscriber;
use rumqttc::{Client, MqttOptions, QoS};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

const UNIT: &str = "unit-a";

/// A synthetic video long enough to outlast the test at its own pace.
fn long_video(dir: &Path) -> PathBuf {
    let path = dir.join("long.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=300:size=320x240:rate=4",
        ])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&path)
        .status()
        .expect("ffmpeg (scripts/setup.sh installs it)");
    assert!(status.success(), "ffmpeg made no video");
    path
}

struct Unit {
    dir: tempfile::TempDir,
    broker: Broker,
    operator: PathBuf,
    video: PathBuf,
    public: PathBuf,
}

impl Unit {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (operator, public) = key_pair(dir.path(), "operator");
        let video = long_video(dir.path());
        Self { broker: Broker::start(false), operator, video, public, dir }
    }

    fn config(&self, device: &str, purpose: &str, broker_port: u16) -> String {
        format!(
            "[device]\nid = \"{device}\"\n[device.site]\nname = \"control test\"\n[privacy]\npurpose = \"{purpose}\"\nnon_hit_plate = \"clear\"\n\
             [source]\nkind = \"file\"\npath = \"{}\"\n[pipeline]\nrealtime = true\n[output]\nkind = \"mqtt\"\n\
             [mqtt]\nhost = \"127.0.0.1\"\nport = {broker_port}\ninsecure_dev = true\nbackoff_min_ms = 100\nbackoff_max_ms = 500\n\
             [control]\npublic_key = \"{}\"\nstate_dir = \"{}\"\nprobation_s = 10\n",
            self.video.display(),
            self.public.display(),
            self.dir.path().join("state").display()
        )
    }

    fn start(&self) -> Child {
        let file = self.dir.path().join("anpr-edge.toml");
        std::fs::write(&file, self.config(UNIT, "first purpose", self.broker.port)).expect("write");
        common::binary()
            .args(["run", "--config"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("daemon.log")).expect("log"))
            .spawn()
            .expect("start the daemon")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// A signed envelope, made by the operator's command line.
    fn sign(&self, key: &Path, target: &str, action: &str, config: Option<&str>) -> Vec<u8> {
        let mut command = common::binary();
        command.args(["command", "sign", "--key"]).arg(key);
        command.args(["--target", target, "--action", action]);
        if let Some(config) = config {
            let file = self.dir.path().join("new-config.toml");
            std::fs::write(&file, config).expect("write");
            command.arg("--config").arg(file);
        }
        let output = command.output().expect("anpr-edge command sign");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    }
}

fn id_of(envelope: &[u8]) -> String {
    let envelope: serde_json::Value = serde_json::from_slice(envelope).expect("envelope");
    let body: serde_json::Value =
        serde_json::from_str(envelope["body"].as_str().expect("body")).expect("command");
    body["id"].as_str().expect("id").to_string()
}

fn json(payload: &[u8]) -> serde_json::Value {
    serde_json::from_slice(payload).unwrap_or_default()
}

/// Every answer received for command `id`, in order.
fn answers(results: &Subscriber, id: &str) -> Vec<serde_json::Value> {
    results.received().iter().map(|(_, p, _)| json(p)).filter(|a| a["id"] == id).collect()
}

fn wait_answers(
    results: &Subscriber,
    id: &str,
    count: usize,
    unit: &Unit,
) -> Vec<serde_json::Value> {
    results.wait_until(Duration::from_secs(60), |_| answers(results, id).len() >= count);
    let found = answers(results, id);
    assert!(
        found.len() >= count,
        "{count} answers to {id} expected, got {found:?}\n{}",
        unit.log()
    );
    found
}

/// Waits for an `online` status carrying `purpose` after the first `after` messages.
fn wait_online(status: &Subscriber, purpose: &str, after: usize, unit: &Unit) -> usize {
    let online = |received: &[(String, Vec<u8>, bool)]| {
        received.iter().skip(after).any(|(_, p, _)| {
            let s = json(p);
            s["state"] == "online" && s["purpose"] == purpose
        })
    };
    let received = status.wait_until(Duration::from_secs(60), online);
    assert!(online(&received), "no online status with purpose {purpose:?}\n{}", unit.log());
    received.len()
}

fn stop(mut daemon: Child) {
    let _ = std::process::Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status();
    let _ = daemon.wait();
}

#[test]
fn signed_commands_are_taken_answered_and_a_bad_configuration_is_rolled_back() {
    let unit = Unit::new();
    let results = Subscriber::start(unit.broker.port, &format!("anpr/{UNIT}/control/result"));
    let status = Subscriber::start(unit.broker.port, &format!("anpr/{UNIT}/status"));
    let (sender, mut connection) =
        Client::new(MqttOptions::new("operator", "127.0.0.1", unit.broker.port), 16);
    std::thread::spawn(move || for _ in connection.iter() {});
    let send = |topic: &str, envelope: &[u8]| {
        sender.publish(topic, QoS::AtLeastOnce, false, envelope.to_vec()).expect("publish")
    };
    let own_topic = format!("anpr/{UNIT}/control");
    let mut daemon = unit.start();
    // The unit subscribes before its first heartbeat, on the same connection.
    let mut seen = wait_online(&status, "first purpose", 0, &unit);

    let heartbeat = unit.sign(&unit.operator, UNIT, "status", None);
    send(&own_topic, &heartbeat);
    let answer = &wait_answers(&results, &id_of(&heartbeat), 1, &unit)[0];
    assert_eq!(
        (answer["accepted"].as_bool(), answer["action"].as_str()),
        (Some(true), Some("status")),
        "{answer}"
    );
    send(&own_topic, &heartbeat);
    let replay = &wait_answers(&results, &id_of(&heartbeat), 2, &unit)[1];
    assert_eq!(replay["accepted"], false, "{replay}");
    assert!(replay["detail"].as_str().unwrap().contains("replay"), "{replay}");

    // A snapshot: the next frame, blurred as a non-hit's overview, as a JPEG on its own topic.
    let frames = Subscriber::start(unit.broker.port, &format!("anpr/{UNIT}/snapshot"));
    let snapshot = unit.sign(&unit.operator, UNIT, "snapshot", None);
    send(&own_topic, &snapshot);
    let answer = &wait_answers(&results, &id_of(&snapshot), 1, &unit)[0];
    assert_eq!(answer["accepted"], true, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains(&format!("anpr/{UNIT}/snapshot")),
        "{answer}"
    );
    let jpeg = frames.wait_until(Duration::from_secs(20), |r| !r.is_empty());
    let picture = image::load_from_memory(&jpeg.first().expect("a snapshot arrived").1)
        .expect("the snapshot is a JPEG");
    assert_eq!((picture.width(), picture.height()), (320, 240), "the whole frame");

    let fleet = unit.sign(&unit.operator, "fleet", "status", None);
    send("anpr/fleet/control", &fleet);
    assert_eq!(wait_answers(&results, &id_of(&fleet), 1, &unit)[0]["accepted"], true);

    let (intruder, _) = key_pair(unit.dir.path(), "intruder");
    let forged = unit.sign(&intruder, UNIT, "status", None);
    send(&own_topic, &forged);
    let refused = &wait_answers(&results, &id_of(&forged), 1, &unit)[0];
    assert_eq!(refused["accepted"], false);
    assert!(refused["detail"].as_str().unwrap().contains("signature"), "{refused}");

    let other_unit = unit.config("unit-b", "first purpose", unit.broker.port);
    let misdirected = unit.sign(&unit.operator, UNIT, "config", Some(&other_unit));
    send(&own_topic, &misdirected);
    let refused = &wait_answers(&results, &id_of(&misdirected), 1, &unit)[0];
    assert_eq!(refused["accepted"], false);
    assert!(refused["detail"].as_str().unwrap().contains("unit-b"), "{refused}");

    // A new configuration: taken, the unit starts again with it, and confirms once connected.
    let second = unit.config(UNIT, "second purpose", unit.broker.port);
    let reconfigure = unit.sign(&unit.operator, UNIT, "config", Some(&second));
    send(&own_topic, &reconfigure);
    let both = wait_answers(&results, &id_of(&reconfigure), 2, &unit);
    assert_eq!(
        (both[0]["accepted"].as_bool(), both[1]["accepted"].as_bool()),
        (Some(true), Some(true)),
        "{both:?}"
    );
    assert!(both[1]["detail"].as_str().unwrap().contains("reached the broker"), "{both:?}");
    seen = wait_online(&status, "second purpose", seen, &unit);
    assert!(daemon.try_wait().expect("wait").is_none(), "restarted in the same process");

    // One that cannot reach its broker: rolled back after control.probation_s.
    let nowhere = unit.config(UNIT, "third purpose", common::broker::free_port());
    let bad = unit.sign(&unit.operator, UNIT, "config", Some(&nowhere));
    send(&own_topic, &bad);
    let both = wait_answers(&results, &id_of(&bad), 2, &unit);
    assert_eq!(
        (both[0]["accepted"].as_bool(), both[1]["accepted"].as_bool()),
        (Some(true), Some(false)),
        "{both:?}"
    );
    assert!(both[1]["detail"].as_str().unwrap().contains("rolled back"), "{both:?}");
    wait_online(&status, "second purpose", seen, &unit);
    let state = unit.dir.path().join("state");
    let failed = std::fs::read_to_string(state.join("config.failed.toml")).expect("kept");
    assert!(failed.contains("third purpose"), "the failed configuration is kept to be read");

    // A new process: the configuration taken by command is in force, the ids taken stay taken.
    stop(daemon);
    let seen = status.received().len();
    daemon = unit.start();
    wait_online(&status, "second purpose", seen, &unit);
    send(&own_topic, &heartbeat);
    let replay = &wait_answers(&results, &id_of(&heartbeat), 3, &unit)[2];
    assert!(replay["detail"].as_str().unwrap().contains("replay"), "after a restart: {replay}");
    stop(daemon);
}
