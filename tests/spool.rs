//! Fault tests of the durable spool with the real daemon, real models on the 54 real
//! photographs and a real Mosquitto: the broker killed 50 times during a replay of more than
//! 2 000 reads, the daemon killed 20 times while the broker is down, and a spool whose
//! segments were truncated and damaged. Every figure is printed (`--nocapture` shows them).
//!
//! How "every read arrived" is made a sound check: the daemon reaches the broker through a
//! gate (tests/common/gate.rs); at each fault the gate is shut first (the daemon's connection
//! is cut at that random point, mid-publish), then the broker is SIGKILLed once the subscriber
//! has had time to take what the broker accepted, restarted, and the gate opened again only
//! when the subscriber has subscribed again. A read the subscriber never sees was then lost by
//! the daemon, not by a broker that forgot a subscription.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use anpr_edge::message::{Class, Message};
use anpr_edge::spool::record::Record;
use anpr_edge::spool::{Spool, SpoolConfig};
use common::broker::{free_port, Broker};
use common::gate::Gate;
use common::metrics;
use common::records::json_on;
use common::subscriber::Subscriber;
use common::Random;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const READS: &str = "anpr/box/reads";

fn daemon_config(dir: &Path, source: &Path, port: u16, spool: &Path, extra: &str) -> PathBuf {
    let path = dir.join("anpr-edge.toml");
    let text = format!(
        "[device]\nid = \"box\"\n[device.site]\nname = \"E40 test\"\n[source]\nkind = \"file\"\npath = \"{}\"\n[privacy]\npurpose = \"spool test\"\nnon_hit_plate = \"clear\"\n{extra}\n\
         [output]\nkind = \"mqtt\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\ninsecure_dev = true\nbackoff_min_ms = 100\nbackoff_max_ms = 400\n\
         [spool]\ndir = \"{}\"\nsegment_bytes = 1048576\n",
        source.display(),
        spool.display()
    );
    std::fs::write(&path, text).expect("config");
    path
}

/// The daemon, and its log read on a thread of its own so that a full pipe never stalls it.
struct Daemon {
    child: Child,
    log: std::thread::JoinHandle<String>,
}

fn spawn(config: &Path) -> Daemon {
    let mut child = common::binary()
        .env("ANPR_LOG", "info")
        .args(["run", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let mut stderr = child.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    Daemon { child, log }
}

fn finish(daemon: Daemon, within: Duration) -> (bool, String) {
    let Daemon { child: mut daemon, log } = daemon;
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = daemon.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = daemon.kill();
            panic!("the daemon did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.success(), log.join().expect("log reader"))
}

/// The read ids that arrived, with how many times each did.
fn arrivals(received: &[(String, Vec<u8>, bool)]) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for read in json_on(received, READS) {
        *ids.entry(read["read_id"].as_str().expect("read_id").to_string()).or_insert(0) += 1;
    }
    ids
}

/// The read ids waiting in a spool (opened as the daemon opens it at start).
fn spooled_reads(dir: &Path) -> BTreeSet<String> {
    let (_, held) = Spool::open(&SpoolConfig { dir: dir.to_path_buf(), ..SpoolConfig::default() })
        .expect("open the spool");
    held.into_iter().filter(|m| m.topic == READS).map(|m| m.id).collect()
}

/// The reads a running daemon has written to its spool, counted from the segment files read
/// only ([`spooled_reads`] opens the spool as the daemon does, which would truncate a record
/// the daemon is writing).
fn reads_put_on_disk(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .flat_map(|bytes| anpr_edge::spool::record::scan(&bytes).records)
        .filter(|r| matches!(r, Record::Put { topic, .. } if topic == READS))
        .count()
}

fn reads_emitted(stderr: &str) -> u64 {
    let after = stderr.rsplit("reads_emitted").next().unwrap_or_default();
    after
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no reads_emitted in the log: {stderr}"))
}

/// A folder of `cycles` × the 54 photographs (links, named so that they sort in that order).
fn photo_cycles(folder: &Path, dir: &Path, cycles: usize) -> PathBuf {
    let mut photos: Vec<PathBuf> = std::fs::read_dir(folder)
        .expect("eval folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    photos.sort();
    let out = dir.join("stills");
    std::fs::create_dir(&out).expect("mkdir");
    for cycle in 0..cycles {
        for (i, photo) in photos.iter().enumerate() {
            std::os::unix::fs::symlink(photo, out.join(format!("{cycle:03}-{i:02}.jpg")))
                .expect("link");
        }
    }
    out
}

/// A broker appears on the daemon's `port` only once the test's subscriber is subscribed
/// there: the daemon, retrying every few hundred milliseconds, would otherwise deliver what it
/// spooled before the subscriber's SUBACK, and a broker without a session for the subscriber
/// forwards nothing published before it.
fn broker_appears_on(port: u16, filter: &str) -> (Broker, Subscriber, Gate) {
    let broker = Broker::start(false);
    let subscriber = Subscriber::start(broker.port, filter);
    let gate = Gate::start(port, broker.port, true);
    (broker, subscriber, gate)
}

#[test]
fn the_broker_killed_50_times_during_a_replay_of_2000_reads_loses_none() {
    let Some(folder) = common::eval_images() else { return };
    let mut random = Random::from_env_or_clock();
    let dir = tempfile::tempdir().expect("tempdir");
    let stills = photo_cycles(&folder, dir.path(), 40);
    let mut broker = Broker::start(false);
    let subscriber = Subscriber::start(broker.port, READS);
    let gate = Gate::start(free_port(), broker.port, true);
    // Reads only: images are not what this test counts, and encoding them would double its time.
    let images = "[images]\noverview = false\nplate_crop = false\n";
    let config = daemon_config(dir.path(), &stills, gate.port, &dir.path().join("spool"), images);
    let daemon = spawn(&config);
    let mut kills = 0;
    while kills < 50 {
        std::thread::sleep(random.millis(200, 1200));
        gate.shut();
        // What the broker accepted reaches the subscriber before the broker dies.
        std::thread::sleep(Duration::from_millis(150));
        broker.kill();
        kills += 1;
        std::thread::sleep(random.millis(0, 300));
        let before = subscriber.subscriptions();
        broker.resume();
        subscriber.wait_subscribed_after(before, Duration::from_secs(10));
        gate.open();
    }
    let (ok, stderr) = finish(daemon, Duration::from_secs(400));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("every read was acknowledged by the broker"), "{stderr}");
    let emitted = reads_emitted(&stderr);
    let received =
        subscriber.wait_until(Duration::from_secs(20), |r| arrivals(r).len() as u64 >= emitted);
    let ids = arrivals(&received);
    let arrived: usize = ids.values().sum();
    eprintln!(
        "broker killed {kills} times: reads sent {emitted}, distinct received {}, lost {}, duplicates {} (same id)",
        ids.len(),
        emitted.saturating_sub(ids.len() as u64),
        arrived - ids.len()
    );
    assert!(emitted >= 2000, "the replay made only {emitted} reads");
    assert_eq!(ids.len() as u64, emitted, "every read the daemon made arrived");
}

#[test]
fn the_daemon_killed_20_times_while_the_broker_is_down_delivers_every_spooled_read() {
    let Some(folder) = common::eval_images() else { return };
    let mut random = Random::from_env_or_clock();
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");
    let port = free_port();
    let config = daemon_config(dir.path(), &folder, port, &spool, "");
    let mut expected = BTreeSet::new();
    for _ in 0..20 {
        let mut daemon = spawn(&config);
        // Killed at a random moment once it has spooled a read of its own, not after a fixed
        // time: on a starved machine a run of 1-3 s had not yet loaded its models, and 20 runs
        // spooled 12 reads.
        let on_disk_before = reads_put_on_disk(&spool);
        let deadline = Instant::now() + Duration::from_secs(120);
        while reads_put_on_disk(&spool) <= on_disk_before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(random.millis(0, 1500));
        daemon.child.kill().expect("SIGKILL");
        let _ = daemon.child.wait();
        expected.extend(spooled_reads(&spool));
    }
    assert!(expected.len() >= 20, "only {} reads were spooled in 20 runs", expected.len());
    let (_broker, subscriber, _gate) = broker_appears_on(port, READS);
    let config = daemon_config(dir.path(), &folder.join("eu3.jpg"), port, &spool, "");
    let (ok, stderr) = finish(spawn(&config), Duration::from_secs(60));
    assert!(ok, "{stderr}");
    let received = subscriber.wait_until(Duration::from_secs(20), |r| {
        expected.iter().all(|id| arrivals(r).contains_key(id))
    });
    let ids = arrivals(&received);
    let missing: Vec<&String> = expected.iter().filter(|id| !ids.contains_key(*id)).collect();
    eprintln!(
        "daemon killed 20 times: {} reads spooled, {} arrived, {} lost",
        expected.len(),
        expected.len() - missing.len(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "{} of {} spooled reads never arrived: {missing:?}",
        missing.len(),
        expected.len()
    );
    assert!(
        spooled_reads(&spool).is_empty(),
        "the spool is empty once the broker acknowledged everything"
    );
}

/// The segment files of a spool and their sizes.
fn segment_sizes(dir: &Path) -> BTreeMap<PathBuf, u64> {
    std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| (e.path(), e.metadata().expect("stat").len()))
        .collect()
}

#[test]
fn a_truncated_and_a_damaged_segment_are_reported_and_every_intact_read_delivered() {
    let Some(folder) = common::eval_images() else { return };
    let mut random = Random::from_env_or_clock();
    let dir = tempfile::tempdir().expect("tempdir");
    let spool_dir = dir.path().join("spool");
    // Where each read's record lies: (segment, start, end), found from the file sizes alone.
    let mut placed: Vec<(String, PathBuf, u64, u64)> = Vec::new();
    {
        let config = SpoolConfig {
            dir: spool_dir.clone(),
            segment_bytes: 64 << 10,
            ..SpoolConfig::default()
        };
        let (mut spool, _) = Spool::open(&config).expect("open");
        for i in 0..60 {
            let id = format!("0190-test-{i:03}");
            let payload = serde_json::json!({ "read_id": id, "pad": "x".repeat(3000) })
                .to_string()
                .into_bytes();
            let before = segment_sizes(&spool_dir);
            spool
                .put(&Message { id: id.clone(), topic: READS.into(), payload, class: Class::Read })
                .expect("put");
            let (segment, end) = segment_sizes(&spool_dir)
                .into_iter()
                .find(|(p, len)| before.get(p).copied().unwrap_or(0) < *len)
                .expect("a segment grew");
            placed.push((id, segment.clone(), before.get(&segment).copied().unwrap_or(0), end));
        }
    }
    let segments: Vec<PathBuf> =
        placed.iter().map(|p| p.1.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    assert!(segments.len() >= 3, "{segments:?}");
    let (torn, damaged) = (&segments[0], &segments[1]);
    let torn_len = std::fs::metadata(torn).expect("stat").len();
    let cut = random.below(torn_len);
    std::fs::OpenOptions::new()
        .write(true)
        .open(torn)
        .expect("open")
        .set_len(cut)
        .expect("truncate");
    let mut bytes = std::fs::read(damaged).expect("read");
    // Not in the segment's last record: damage there would be a torn tail, the case above.
    let last_start = placed.iter().filter(|p| &p.1 == damaged).map(|p| p.2).max().expect("records");
    let at = random.below(last_start - 4) as usize;
    for b in &mut bytes[at..at + 4] {
        *b ^= 0xa5;
    }
    std::fs::write(damaged, &bytes).expect("write");
    let intact: BTreeSet<String> = placed
        .iter()
        .filter(|(_, seg, start, end)| {
            let in_torn_tail = seg == torn && *end > cut;
            let over_flipped_bytes = seg == damaged && *start < (at + 4) as u64 && *end > at as u64;
            !(in_torn_tail || over_flipped_bytes)
        })
        .map(|p| p.0.clone())
        .collect();

    let broker = Broker::start(false);
    let subscriber = Subscriber::start(broker.port, READS);
    let config = daemon_config(dir.path(), &folder.join("eu3.jpg"), broker.port, &spool_dir, "");
    let (ok, stderr) = finish(spawn(&config), Duration::from_secs(60));
    assert!(ok, "the daemon starts on a damaged spool: {stderr}");
    assert!(stderr.contains("corrupt records in the spool skipped"), "{stderr}");
    let on_a_boundary = cut == 0 || placed.iter().any(|p| &p.1 == torn && p.3 == cut);
    assert!(on_a_boundary || stderr.contains("spool segment truncated"), "{stderr}");
    let received = subscriber.wait_until(Duration::from_secs(20), |r| {
        intact.iter().all(|id| arrivals(r).contains_key(id))
    });
    let ids = arrivals(&received);
    let missing: Vec<&String> = intact.iter().filter(|id| !ids.contains_key(*id)).collect();
    eprintln!("damaged spool (cut at {cut} of {torn_len}, 4 bytes flipped at {at}): {} of 60 records intact, {} delivered", intact.len(), intact.len() - missing.len());
    assert!(missing.is_empty(), "intact records never delivered: {missing:?}");
    let spooled: BTreeSet<&String> = ids.keys().filter(|id| id.starts_with("0190-test-")).collect();
    assert_eq!(spooled.len(), intact.len(), "nothing damaged was delivered as if intact");
}

/// A small tmpfs, unmounted when the test ends however it ends.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).expect("mountpoint");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status();
        if status.is_ok_and(|s| s.success()) {
            return Some(Self(at.to_path_buf()));
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs (run as root) for the disk-full test"
        );
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?), so there is no disk to fill");
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_drops_images_first_keeps_every_read_and_the_daemon_runs_on() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // 1 MiB holds about a third of what the 54 photographs make with their images.
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "1m") else { return };
    let (port, metrics_port) = (free_port(), free_port());
    let health = format!("[health]\nmetrics_port = {metrics_port}\n");
    let config = daemon_config(dir.path(), &folder, port, &disk.0.join("spool"), &health);
    let daemon = spawn(&config);
    // The broker comes once the disk has refused an image (seen in the metrics, not after a
    // fixed time: on a starved machine 5 s had not filled it), while the daemon still holds
    // what it refused (its stop waits 10 s for the broker after the last photograph).
    let refused = metrics::wait_for(
        metrics_port,
        "anpr_edge_outbox_dropped_images_total",
        Duration::from_secs(120),
        |n| n >= 1.0,
    );
    assert!(
        refused.is_some_and(|n| n >= 1.0),
        "the disk never refused an image: {refused:?}; {:?}",
        metrics::get(metrics_port, "/metrics")
    );
    let (_broker, subscriber, _gate) = broker_appears_on(port, "anpr/box/#");
    let (ok, stderr) = finish(daemon, Duration::from_secs(120));
    assert!(ok, "every read reached the broker, so the stop is clean: {stderr}");
    let emitted = reads_emitted(&stderr);
    let received =
        subscriber.wait_until(Duration::from_secs(10), |r| arrivals(r).len() as u64 >= emitted);
    let ids = arrivals(&received);
    let images_refused = stderr.matches("image not spooled: dropped").count();
    let reads_unspooled = stderr.matches("message not spooled: held in RAM only").count();
    let first_status = json_on(&received, "anpr/box/status").into_iter().next().expect("a status");
    eprintln!(
        "disk full (1 MiB tmpfs): {emitted} reads made, {} arrived, {images_refused} images dropped, {reads_unspooled} reads held in RAM only; status: outbox {} spool {}",
        ids.len(),
        first_status["outbox"],
        first_status["spool"]
    );
    assert!(emitted >= 40, "the daemon read through the folder: {emitted} reads");
    assert_eq!(ids.len() as u64, emitted, "no read lost to the full disk");
    assert!(images_refused > 0, "the disk filled up: {stderr}");
    assert!(!stderr.contains("class=Read"), "no read was dropped: {stderr}");
    assert!(
        first_status["spool"]["write_errors"].as_u64().is_some_and(|n| n > 0),
        "{first_status}"
    );
    assert!(
        first_status["outbox"]["dropped_images"].as_u64().is_some_and(|n| n > 0),
        "{first_status}"
    );
    assert_eq!(first_status["outbox"]["dropped_reads"], 0, "{first_status}");
}

#[test]
fn a_video_damaged_mid_stream_is_reported_and_what_was_read_is_delivered() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (video, expected) = common::road_video(&folder, dir.path());
    // The middle of the stream overwritten (the index at the end stays): the decoder meets
    // garbage after the first car.
    let mut bytes = std::fs::read(&video).expect("video");
    let (from, to) = (bytes.len() * 45 / 100, bytes.len() * 80 / 100);
    for (i, b) in bytes[from..to].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31);
    }
    std::fs::write(&video, &bytes).expect("write");
    let port = free_port();
    let config = daemon_config(dir.path(), &video, port, &dir.path().join("spool"), "");
    let daemon = spawn(&config);
    // The broker is away while the damaged stream is read: what was read waits in the spool.
    std::thread::sleep(Duration::from_secs(3));
    let (_broker, subscriber, _gate) = broker_appears_on(port, READS);
    let (ok, stderr) = finish(daemon, Duration::from_secs(60));
    assert!(ok, "a damaged source is no reason to fail: {stderr}");
    assert!(stderr.contains("source ended"), "{stderr}");
    let emitted = reads_emitted(&stderr);
    let received =
        subscriber.wait_until(Duration::from_secs(10), |r| arrivals(r).len() as u64 >= emitted);
    let texts: BTreeSet<String> = json_on(&received, READS)
        .iter()
        .filter_map(|r| r["plate"]["text"].as_str().map(anpr_edge::plate::fold))
        .collect();
    let failed = stderr.matches("frame lost").count();
    eprintln!("damaged video: {failed} frames reported lost, {emitted} reads made, {} delivered: {texts:?} of {expected:?}", arrivals(&received).len());
    assert_eq!(arrivals(&received).len() as u64, emitted, "every read made was delivered");
    assert!(
        texts.contains(&expected[0]),
        "the car before the damage was read and delivered: {texts:?}"
    );
}

#[test]
fn reads_older_than_the_age_limit_are_dropped_and_counted_hits_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A broker that is never there: everything waits, and ages.
    let mqtt: anpr_edge::publish::MqttConfig = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {}\ninsecure_dev = true\n",
        free_port()
    ))
    .expect("mqtt");
    let config =
        SpoolConfig { dir: dir.path().to_path_buf(), max_age_s: 1, ..SpoolConfig::default() };
    let (spool, _) = Spool::open(&config).expect("open");
    let mut setup = anpr_edge::publish::Setup::new(std::sync::Arc::new(|| serde_json::json!({})));
    setup.spool = Some((spool, Vec::new()));
    let sink = anpr_edge::publish::MqttSink::start_with(&mqtt, "box", setup).expect("start");
    for (id, class) in [("r1", Class::Read), ("h1", Class::Hit), ("i1", Class::Image)] {
        sink.submit(Message {
            id: id.into(),
            topic: READS.into(),
            payload: id.as_bytes().to_vec(),
            class,
        });
    }
    assert!(sink.spool_oldest().is_some());
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink.spool_stats().is_some_and(|s| s.expired < 2) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (outbox, spool) = (sink.stats(), sink.spool_stats().expect("spool"));
    assert_eq!(
        (outbox.dropped_reads, outbox.dropped_images, outbox.dropped_hits, outbox.pending),
        (1, 1, 0, 1),
        "{outbox:?}"
    );
    assert_eq!((spool.expired, spool.records), (2, 1), "{spool:?}");
    let report = sink.shutdown(Duration::from_millis(100));
    assert_eq!(report.unacknowledged, ["h1"]);
    assert!(
        report.lost.is_empty() && report.spooled.is_some(),
        "the hit waits in the spool: {report:?}"
    );
    assert_eq!(spooled_hits(dir.path()), ["h1"]);
}

fn spooled_hits(dir: &Path) -> Vec<String> {
    let (_, held) = Spool::open(&SpoolConfig { dir: dir.to_path_buf(), ..SpoolConfig::default() })
        .expect("open the spool");
    held.into_iter().filter(|m| m.class == Class::Hit).map(|m| m.id).collect()
}
