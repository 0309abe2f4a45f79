//! The hotlist in the running daemon, on a real Mosquitto, with keys and signatures made by the
//! openssl command: a signed list file turns one car of a real road video into a hit on the
//! hits topic (with its images) and leaves the others non-hits; retained MQTT updates replace
//! the list while the daemon runs, and malformed or badly signed ones are refused while the old
//! list keeps matching. The plates on the lists are read from the ground truth of the photographs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use anpr_edge::hotlist::{Envelope, Format};
use common::broker::Broker;
use common::keys::{key_pair, sign};
use common::records::{
    assert_follows_schema, assert_images_arrived, folded_text, json_on, Received,
};
use common::subscriber::Subscriber;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HEADER: &str = "plate,list,category,action,expires,note\n";

fn daemon_config(dir: &Path, video: &Path, port: u16, hotlist: &str, realtime: bool) -> PathBuf {
    let path = dir.join("anpr-edge.toml");
    let text = format!(
        "[device]\nid = \"box\"\n[device.site]\nname = \"E40 test\"\n[source]\nkind = \"file\"\npath = \"{}\"\n\
         [privacy]\npurpose = \"hotlist test\"\nnon_hit_plate = \"clear\"\n\
         [pipeline]\nrealtime = {realtime}\n[hotlist]\n{hotlist}\n\
         [output]\nkind = \"mqtt\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\ninsecure_dev = true\nstatus_interval_s = 1\n",
        video.display()
    );
    std::fs::write(&path, text).expect("config");
    path
}

#[test]
fn a_signed_hotlist_file_turns_one_car_of_a_real_video_into_a_hit() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(false);
    let subscriber = Subscriber::start(broker.port, "anpr/#");
    let (video, _) = common::road_video(&folder, dir.path());
    let (stolen, exempt, passing) = (
        common::plate_of(&folder, "eu7.jpg"),
        common::plate_of(&folder, "test_004.jpg"),
        common::plate_of(&folder, "eu3.jpg"),
    );
    let (private, public) = key_pair(dir.path(), "hotlist");
    let body = format!("version,e2e-1\n{HEADER}{stolen},police,stolen,alert,,grey van\n{exempt},lez,lez-exempt,allow,,\nZZ999ZZ,police,wanted,alert,,\n");
    let list = dir.path().join("hotlist.csv");
    std::fs::write(&list, &body).expect("list");
    let hotlist = format!("file = \"{}\"\npublic_key = \"{}\"\n", list.display(), public.display());

    // Unsigned, then tampered after signing: the daemon refuses to start, naming why.
    let config = daemon_config(dir.path(), &video, broker.port, &hotlist, false);
    let output = common::binary().args(["run", "--config"]).arg(&config).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success()
            && stderr.contains("hotlist.file")
            && stderr.contains("not signed"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("hotlist.csv.sig"), sign(dir.path(), &private, &body))
        .expect("signature");
    std::fs::write(&list, body.replace("grey van", "red van")).expect("tampered");
    let output = common::binary().args(["run", "--config"]).arg(&config).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("signature does not match"), "{stderr}");
    let hotlist_cmd = |verb: &str| {
        common::binary()
            .args(["hotlist", verb])
            .arg(&list)
            .arg("--public-key")
            .arg(&public)
            .output()
            .expect("hotlist command")
    };
    let output = hotlist_cmd("check");
    assert!(
        !output.status.success()
            && String::from_utf8_lossy(&output.stderr).contains("signature does not match"),
        "{output:?}"
    );

    std::fs::write(&list, &body).expect("list as signed");
    let output = hotlist_cmd("check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success()
            && stdout.contains(
                "valid, version e2e-1, 3 entries (2 alert, 1 allow, 0 expired), signature valid"
            ),
        "{output:?}"
    );
    let output = hotlist_cmd("envelope");
    let envelope: Envelope =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"));
    assert_eq!(
        (envelope.format, envelope.version.as_str(), envelope.body.as_str()),
        (Format::Csv, "e2e-1", body.as_str())
    );
    assert!(
        envelope.signature.is_some_and(|s| !s.is_empty()),
        "the signature travels in the envelope"
    );
    let output = common::binary().args(["run", "--config"]).arg(&config).output().expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let received = subscriber.wait_until(Duration::from_secs(10), |r| {
        json_on(r, "anpr/box/status").iter().any(|s| s["state"] == "offline")
    });

    let hits = json_on(&received, "anpr/box/hits");
    assert_eq!(hits.len(), 1, "one hit: {hits:?}");
    let hit = &hits[0];
    assert_eq!(folded_text(hit), anpr_edge::plate::fold(&stolen));
    assert_eq!(hit["hit"], true);
    let matched = &hit["hotlist"];
    assert_eq!(
        (matched["plate"].as_str(), matched["list"].as_str(), matched["category"].as_str()),
        (Some(stolen.as_str()), Some("police"), Some("stolen")),
        "{hit}"
    );
    assert_eq!(
        (matched["action"].as_str(), matched["note"].as_str(), matched["list_version"].as_str()),
        (Some("alert"), Some("grey van"), Some("e2e-1"))
    );
    let kind_and_distance = (matched["match_kind"].as_str(), matched["distance"].as_u64());
    assert!(
        matches!(kind_and_distance, (Some("exact"), Some(0)) | (Some("fuzzy"), Some(1))),
        "{kind_and_distance:?}"
    );
    assert_images_arrived(hit, &received, &["overview", "plate"]);

    let reads = json_on(&received, "anpr/box/reads");
    let mut by_plate = std::collections::BTreeMap::new();
    for read in &reads {
        assert_follows_schema(read);
        by_plate.insert(folded_text(read), read.clone());
    }
    assert_eq!(by_plate.len(), 3, "{reads:?}");
    let fold = anpr_edge::plate::fold;
    let vehicle = &by_plate[&fold(&stolen)];
    assert_eq!(vehicle["vehicle_id"], hit["vehicle_id"], "the hit's vehicle is also on reads");
    if hit["report"] == "alert" {
        assert_eq!(vehicle["alert_id"], hit["read_id"], "its read names the alert: {vehicle}");
        assert_eq!(hit["alert_level"], "confirmed");
    } else {
        assert_eq!(vehicle["read_id"], hit["read_id"], "the hit is also on reads");
    }
    assert_eq!(
        (
            by_plate[&fold(&passing)]["hit"].as_bool(),
            by_plate[&fold(&passing)]["hotlist"].is_null()
        ),
        (Some(false), true)
    );
    let allowed = &by_plate[&fold(&exempt)];
    assert_eq!(
        (allowed["hit"].as_bool(), allowed["hotlist"]["action"].as_str()),
        (Some(false), Some("allow")),
        "an exemption is no hit: {allowed}"
    );
    assert!(
        allowed["images"]["overview"].is_null() && allowed["images"]["plate"].is_null(),
        "an exempt vehicle leaves no image: {allowed}"
    );
    let passing_read = &by_plate[&fold(&passing)];
    assert!(
        passing_read["images"]["overview"].is_object() && passing_read["images"]["plate"].is_null(),
        "a non-hit: blurred overview, no crop: {passing_read}"
    );

    let status = json_on(&received, "anpr/box/status")
        .into_iter()
        .find(|s| s["state"] == "online")
        .expect("a heartbeat");
    let h = &status["hotlist"];
    assert_eq!(
        (h["version"].as_str(), h["entries"].as_u64()),
        (Some("e2e-1"), Some(3)),
        "{status}"
    );
    assert!(
        h["source"].as_str().is_some_and(|s| s.contains("hotlist.csv"))
            && h["signed_by"].as_str().is_some_and(|k| k.len() == 16),
        "{status}"
    );
}

/// Publishes a retained message and waits for the broker's acknowledgement.
fn publish_retained(port: u16, topic: &str, payload: Vec<u8>) {
    publish(port, topic, payload, true)
}

/// Publishes a message and waits for the broker's acknowledgement.
fn publish(port: u16, topic: &str, payload: Vec<u8>, retain: bool) {
    let mut options =
        rumqttc::MqttOptions::new(format!("test-pub-{}", std::process::id()), "127.0.0.1", port);
    options.set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut connection) = rumqttc::Client::new(options, 8);
    client.publish(topic, rumqttc::QoS::AtLeastOnce, retain, payload).expect("queue the publish");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match connection.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)))) => {
                let _ = client.disconnect();
                return;
            }
            Ok(Err(e)) => panic!("publishing to {topic}: {e}"),
            _ => {}
        }
    }
    panic!("the broker did not acknowledge the message on {topic}");
}

/// The hotlist's envelope, arguments in the order of `hotlist::live`'s tests: body, version.
fn envelope(body: &str, version: &str, signature: Option<String>) -> Vec<u8> {
    serde_json::to_vec(&Envelope {
        format: Format::Csv,
        version: version.into(),
        signature,
        body: body.into(),
    })
    .expect("json")
}

/// Waits for a message that `matches` (the newest such), panicking with what arrived.
fn wait_for(
    subscriber: &Subscriber,
    within: Duration,
    what: &str,
    matches: impl Fn(&Received) -> Option<serde_json::Value>,
) -> serde_json::Value {
    let received = subscriber.wait_until(within, |r| matches(r).is_some());
    matches(&received).unwrap_or_else(|| {
        let topics: Vec<String> = received
            .iter()
            .map(|(t, p, _)| format!("{t} {}", String::from_utf8_lossy(&p[..p.len().min(300)])))
            .collect();
        panic!("{what} never arrived; received: {topics:#?}")
    })
}

/// A video of four real cars, each in view 0.8 s at 10 frames/s with `gap` frames of empty
/// road between them, and their plates.
fn four_cars(folder: &Path, dir: &Path, gap: usize) -> (PathBuf, Vec<String>) {
    const CARS: [&str; 4] = ["eu3.jpg", "eu7.jpg", "test_004.jpg", "eu1.jpg"];
    let empty = image::RgbImage::new(64, 48);
    let (mut stills, mut counts) = (vec![empty.clone()], vec![10]);
    for name in CARS {
        stills.push(anpr_edge::source::decode_still(&folder.join(name)).expect("decode"));
        stills.push(empty.clone());
        counts.extend([8, gap]);
    }
    let video = dir.join("road.mp4");
    common::write_video_frames(&video, &stills, &counts, 1280, 960, 10.0);
    (video, CARS.iter().map(|n| common::plate_of(folder, n)).collect())
}

#[test]
fn retained_mqtt_updates_replace_the_list_in_a_running_daemon_and_bad_ones_are_refused() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(false);
    let subscriber = Subscriber::start(broker.port, "anpr/box/#");
    // 4 s of empty road between two cars, so that updates can be made and confirmed.
    let (video, plates) = four_cars(&folder, dir.path(), 40);
    let (private, public) = key_pair(dir.path(), "operator");
    let (intruder, _) = key_pair(dir.path(), "intruder");

    // v1, signed and retained before the daemon starts: cars 1, 2 and 4.
    let v1 = format!(
        "version,v1\n{HEADER}{},l,stolen,alert,,\n{},l,stolen,alert,,\n{},l,wanted,alert,,\n",
        plates[0], plates[1], plates[3]
    );
    publish_retained(
        broker.port,
        "anpr/box/hotlist",
        envelope(&v1, "v1", Some(sign(dir.path(), &private, &v1))),
    );
    let config = daemon_config(
        dir.path(),
        &video,
        broker.port,
        &format!("public_key = \"{}\"\n", public.display()),
        true,
    );
    let mut daemon = common::binary()
        .args(["run", "--config"])
        .arg(config)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");

    let fold = anpr_edge::plate::fold;
    let hit_of = |car: usize| {
        let text = fold(&plates[car]);
        move |r: &Received| json_on(r, "anpr/box/hits").into_iter().find(|h| folded_text(h) == text)
    };
    let status_where = |pred: fn(&serde_json::Value) -> bool| {
        move |r: &Received| {
            json_on(r, "anpr/box/status").into_iter().rev().find(|s| pred(&s["hotlist"]))
        }
    };

    let first = wait_for(&subscriber, Duration::from_secs(40), "car 1's hit", hit_of(0));
    assert_eq!(first["hotlist"]["list_version"], "v1", "{first}");

    // Malformed (an unknown action), then signed by another key on the fleet topic: refused.
    let bad = v1.replace("wanted,alert", "wanted,alarm");
    publish_retained(
        broker.port,
        "anpr/box/hotlist",
        envelope(
            &bad.replace("version,v1", "version,v2"),
            "v2",
            Some(sign(dir.path(), &private, &bad.replace("version,v1", "version,v2"))),
        ),
    );
    let status = wait_for(
        &subscriber,
        Duration::from_secs(10),
        "the rejection of a malformed list",
        status_where(|h| {
            h["last_rejection"]["reason"].as_str().is_some_and(|r| r.contains("alarm"))
        }),
    );
    assert_eq!(status["hotlist"]["version"], "v1", "the old list stays: {status}");
    let v2 = format!("version,v2\n{HEADER}{},l,stolen,alert,,\n", plates[2]);
    publish_retained(
        broker.port,
        "anpr/fleet/hotlist",
        envelope(&v2, "v2", Some(sign(dir.path(), &intruder, &v2))),
    );
    let status = wait_for(
        &subscriber,
        Duration::from_secs(10),
        "the rejection of a badly signed list",
        status_where(|h| {
            h["last_rejection"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("signature does not match"))
        }),
    );
    assert_eq!(status["hotlist"]["version"], "v1", "the old list stays: {status}");

    let second =
        wait_for(&subscriber, Duration::from_secs(20), "car 2's hit under the old list", hit_of(1));
    assert_eq!(second["hotlist"]["list_version"], "v1", "{second}");

    // A good v2 on the fleet topic, with 100 000 more entries (one ≈ 3 MB message), replaces v1
    // without a restart: car 3 alerts, car 4 no longer.
    let v2 = (0..100_000).fold(v2, |mut list, i| {
        list.push_str(&format!("Q{i:06}X,national,stolen,alert,,\n"));
        list
    });
    publish_retained(
        broker.port,
        "anpr/fleet/hotlist",
        envelope(&v2, "v2", Some(sign(dir.path(), &private, &v2))),
    );
    let status = wait_for(
        &subscriber,
        Duration::from_secs(10),
        "v2 in the status",
        status_where(|h| h["version"] == "v2"),
    );
    assert_eq!(
        (status["hotlist"]["entries"].as_u64(), status["hotlist"]["source"].as_str()),
        (Some(100_001), Some("mqtt anpr/fleet/hotlist")),
        "{status}"
    );
    let third = wait_for(&subscriber, Duration::from_secs(20), "car 3's hit under v2", hit_of(2));
    assert_eq!(third["hotlist"]["list_version"], "v2", "{third}");
    let counted = |r: &Received| {
        json_on(r, "anpr/box/status").into_iter().find(|s| s["pipeline"]["hits"] == 3)
    };
    wait_for(&subscriber, Duration::from_secs(10), "3 hits counted in the heartbeat", counted);

    let exit = daemon.wait().expect("daemon");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(exit.success(), "{stderr}");
    assert!(stderr.contains("hotlist update rejected"), "rejections are logged: {stderr}");
    let received = subscriber.wait_until(Duration::from_secs(5), |r| {
        json_on(r, "anpr/box/reads").iter().any(|r| folded_text(r) == fold(&plates[3]))
    });
    let fourth = json_on(&received, "anpr/box/reads")
        .into_iter()
        .find(|r| folded_text(r) == fold(&plates[3]))
        .expect("car 4's read");
    assert_eq!(
        (fourth["hit"].as_bool(), fourth["hotlist"].is_null()),
        (Some(false), true),
        "removed by v2: {fourth}"
    );
    assert_eq!(json_on(&received, "anpr/box/hits").len(), 3, "cars 1 to 3 and no other");
}

/// `hotlist diff` makes the signed delta between two lists; `hotlist check --base` applies it
/// to the base as the unit will, and refuses one that is tampered with, or that does not apply.
#[test]
fn a_signed_delta_made_by_diff_is_checked_against_its_base_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (private, public) = key_pair(dir.path(), "operator");
    let head = "plate,list,category,action,expires,note\n";
    let old = dir.path().join("v1.csv");
    let new = dir.path().join("v2.csv");
    let stale = dir.path().join("v0.csv");
    std::fs::write(
        &old,
        format!(
            "version,v1\n{head}1ABC234,police,stolen,alert,,\n2XYZ789,lez,lez-exempt,allow,,\n"
        ),
    )
    .expect("v1");
    std::fs::write(&new, format!("version,v2\n{head}1ABC234,police,stolen,alert,,grey Golf\n3DEF456,police,wanted,alert,2027-01-31T23:59:59Z,\n")).expect("v2");
    std::fs::write(&stale, format!("version,v0\n{head}1ABC234,police,stolen,alert,,\n"))
        .expect("v0");
    let delta = dir.path().join("v1-v2.json");
    let anpr = |args: &[&std::ffi::OsStr]| common::binary().args(args).output().expect("run");
    let made = anpr(&[
        "hotlist".as_ref(),
        "diff".as_ref(),
        old.as_ref(),
        new.as_ref(),
        "--out".as_ref(),
        delta.as_ref(),
        "--key".as_ref(),
        private.as_ref(),
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let check = |base: &Path| {
        anpr(&[
            "hotlist".as_ref(),
            "check".as_ref(),
            delta.as_ref(),
            "--base".as_ref(),
            base.as_ref(),
            "--public-key".as_ref(),
            public.as_ref(),
        ])
    };
    let checked = check(&old);
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    assert!(
        said.contains("from version v1 to v2 (1 added, 1 changed, 1 removed): 2 entries"),
        "{said}"
    );
    let refused = check(&stale);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("version `v0`") && said.contains("full list"),
        "{said}"
    );
    let body = std::fs::read_to_string(&delta).expect("delta").replace("grey Golf", "red Golf");
    std::fs::write(&delta, body).expect("tamper");
    let refused = check(&old);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("signature"), "{said}");
}

/// Deltas over MQTT in a running daemon replaying four real cars in real time: a signed delta
/// made by `hotlist diff` adds car 2 and car 2 alerts under it; a delta signed by another key
/// changes nothing; a delta for a version the unit does not hold is ignored and the heartbeat
/// says the unit is behind, until the full list (compressed, on the unit's own topic) restores
/// it and car 4, listed there, alerts.
#[test]
fn deltas_change_the_list_live_and_a_unit_behind_is_restored_by_the_full_list() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(false);
    let subscriber = Subscriber::start(broker.port, "anpr/box/#");
    // 6 s of empty road between two cars: room for two updates and their heartbeats.
    let (video, plates) = four_cars(&folder, dir.path(), 60);
    let (private, public) = key_pair(dir.path(), "operator");
    let (intruder, _) = key_pair(dir.path(), "intruder");
    let anpr = |args: &[&std::ffi::OsStr]| {
        let output = common::binary().args(args).output().expect("run");
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    };
    // A signed list file per version: car 1 in v1, cars 1-2 in v2 and v3 (v3 adds car 3).
    let list = |version: &str, cars: &[usize]| {
        let rows: String =
            cars.iter().map(|&c| format!("{},l,stolen,alert,,\n", plates[c])).collect();
        let path = dir.path().join(format!("{version}.csv"));
        let body = format!("version,{version}\n{HEADER}ZZ999ZZ,l,wanted,alert,,\n{rows}");
        std::fs::write(&path, &body).expect("list");
        std::fs::write(
            dir.path().join(format!("{version}.csv.sig")),
            sign(dir.path(), &private, &body),
        )
        .expect("signature");
        path
    };
    // The delta envelope of OLD to NEW, signed by `key`.
    let delta = |old: &Path, new: &Path, key: &Path| {
        let out = dir.path().join("delta.json");
        anpr(&[
            "hotlist".as_ref(),
            "diff".as_ref(),
            old.as_ref(),
            new.as_ref(),
            "--out".as_ref(),
            out.as_ref(),
            "--key".as_ref(),
            key.as_ref(),
        ]);
        anpr(&["hotlist".as_ref(), "envelope".as_ref(), out.as_ref(), "--delta".as_ref()])
    };
    let (v1, v2, v3) = (list("v1", &[0]), list("v2", &[0, 1]), list("v3", &[0, 1, 2]));
    let (v7, v8) = (list("v7", &[0]), list("v8", &[0, 3]));
    publish_retained(
        broker.port,
        "anpr/box/hotlist",
        anpr(&["hotlist".as_ref(), "envelope".as_ref(), v1.as_ref()]),
    );
    let config = daemon_config(
        dir.path(),
        &video,
        broker.port,
        &format!("public_key = \"{}\"\n", public.display()),
        true,
    );
    let mut daemon = common::binary()
        .args(["run", "--config"])
        .arg(config)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    let fold = anpr_edge::plate::fold;
    let hit_of = |car: usize| {
        let text = fold(&plates[car]);
        move |r: &Received| json_on(r, "anpr/box/hits").into_iter().find(|h| folded_text(h) == text)
    };
    let heartbeat = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        let what = "a heartbeat";
        wait_for(&subscriber, Duration::from_secs(15), what, |r| {
            json_on(r, "anpr/box/status")
                .into_iter()
                .rev()
                .find(|s| s["state"] == "online" && pred(s))
        })
    };
    let first = wait_for(&subscriber, Duration::from_secs(40), "car 1's hit", hit_of(0));
    assert_eq!(first["hotlist"]["list_version"], "v1", "{first}");

    publish(broker.port, "anpr/fleet/hotlist/delta", delta(&v1, &v2, &private), false);
    let status = heartbeat(&|s| s["hotlist_version"] == "v2");
    assert_eq!(
        (status["hotlist_behind"].as_bool(), status["hotlist"]["entries"].as_u64()),
        (Some(false), Some(3)),
        "{status}"
    );
    assert_eq!(status["hotlist"]["source"], "mqtt anpr/fleet/hotlist/delta");
    let second = wait_for(&subscriber, Duration::from_secs(20), "car 2's hit under v2", hit_of(1));
    assert_eq!(second["hotlist"]["list_version"], "v2", "the delta's plate hits: {second}");

    // Signed by another key: refused, the list stays v2 and the unit is not behind.
    publish(broker.port, "anpr/fleet/hotlist/delta", delta(&v2, &v3, &intruder), false);
    let status = heartbeat(&|s| {
        s["hotlist"]["last_rejection"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("signature does not match"))
    });
    assert_eq!(
        (status["hotlist_version"].as_str(), status["hotlist_behind"].as_bool()),
        (Some("v2"), Some(false)),
        "{status}"
    );
    // For a base the unit does not hold: ignored, and the unit says it is behind.
    publish(broker.port, "anpr/fleet/hotlist/delta", delta(&v7, &v8, &private), false);
    let status = heartbeat(&|s| s["hotlist_behind"] == true);
    assert_eq!(
        (status["hotlist_version"].as_str(), status["hotlist"]["wants"].as_str()),
        (Some("v2"), Some("v8")),
        "{status}"
    );
    // The centre answers with the full list on the unit's own topic, compressed.
    let full = anpr(&["hotlist".as_ref(), "envelope".as_ref(), v8.as_ref(), "--compress".as_ref()]);
    assert!(full.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]), "a zstd frame");
    publish_retained(broker.port, "anpr/box/hotlist", full);
    let status = heartbeat(&|s| s["hotlist_version"] == "v8");
    assert_eq!(status["hotlist_behind"], false, "{status}");

    let fourth = wait_for(&subscriber, Duration::from_secs(30), "car 4's hit under v8", hit_of(3));
    assert_eq!(fourth["hotlist"]["list_version"], "v8", "{fourth}");
    let exit = daemon.wait().expect("daemon");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(exit.success(), "{stderr}");
    assert!(
        stderr.contains("holds version `v2` and the delta to `v8` needs `v7`"),
        "the unit says why it ignored the delta: {stderr}"
    );
    let received = subscriber.wait_until(Duration::from_secs(10), |r| {
        json_on(r, "anpr/box/status").iter().any(|s| s["state"] == "offline")
    });
    let hits: Vec<String> = json_on(&received, "anpr/box/hits").iter().map(folded_text).collect();
    assert!(!hits.contains(&fold(&plates[2])), "car 3 was only in the refused delta: {hits:?}");
}
