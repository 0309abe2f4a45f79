//! The RTSP source against a real RTSP server on loopback (GStreamer's, serving a video of real
//! plates): reads arrive, the daemon survives the server going away and coming back, and
//! SIGTERM stops it cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use anpr_edge::source::decode_still;
use common::broker::free_port;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(video: &std::path::Path, port: u16) -> Server {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/rtsp_server.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(video)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0: scripts/setup.sh)");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("server output");
    assert!(line.starts_with("READY"), "RTSP server did not start: {line}");
    Server(child)
}

/// Lines of the daemon's stdout, as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    lines(child.stdout.take().expect("stdout"))
}

fn lines(output: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for_reads(
    rx: &mpsc::Receiver<String>,
    count: usize,
    within: Duration,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    let mut reads = Vec::new();
    while reads.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => reads.push(serde_json::from_str(&line).expect("JSON record")),
            Err(_) => break,
        }
    }
    reads
}

#[test]
fn reads_come_from_an_rtsp_stream_that_drops_and_returns() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = image::RgbImage::new(64, 48);
    let car = decode_still(&folder.join("eu3.jpg")).expect("decode");
    let video = dir.path().join("camera.mp4");
    common::write_video_frames(&video, &[car, empty], &[8, 12], 1280, 960, 10.0);
    let port = free_port();
    let server = start_server(&video, port);

    let config = dir.path().join("anpr-edge.toml");
    std::fs::write(
        &config,
        format!(
            "[device]\nid = \"rtsp-box\"\n[device.site]\nname = \"test\"\n[privacy]\npurpose = \"test\"\nnon_hit_plate = \"clear\"\n[source]\nkind = \"rtsp\"\n\
             url = \"rtsp://viewer:secret@127.0.0.1:{port}/cam\"\n[source.stream]\nreconnect_min_ms = 200\nreconnect_max_ms = 1000\ntimeout_ms = 3000\n"
        ),
    )
    .expect("config");
    let mut daemon = common::binary()
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start anpr-edge");
    let rx = lines_of(&mut daemon);

    let first = wait_for_reads(&rx, 1, Duration::from_secs(30));
    assert_eq!(first.len(), 1, "no read from the stream within 30 s");
    let expected = "FWE50";
    assert_eq!(anpr_edge::plate::fold(first[0]["plate"]["text"].as_str().expect("text")), expected);

    // The camera goes away and comes back on the same address. Only a read of a frame
    // captured after the return counts: one fused before may still be on its way out.
    drop(server);
    std::thread::sleep(Duration::from_secs(2));
    let returned = anpr_edge::time_format::rfc3339_ms(std::time::SystemTime::now());
    let _server = start_server(&video, port);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut after = Vec::new();
    while after.is_empty() && Instant::now() < deadline {
        let reads = wait_for_reads(&rx, 1, deadline.saturating_duration_since(Instant::now()));
        // RFC 3339 times in UTC with fixed digits order as text.
        after.extend(
            reads
                .into_iter()
                .filter(|r| r["captured_at"].as_str().is_some_and(|t| t >= returned.as_str())),
        );
    }
    assert_eq!(after.len(), 1, "no read of a frame captured after the stream came back");

    let status =
        Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status().expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = daemon.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "anpr-edge did not stop within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(exit.success(), "exit {exit:?}: {stderr}");
    assert!(!stderr.contains("secret"), "the stream password leaked into the logs: {stderr}");
}

#[test]
fn sigterm_during_a_long_reconnection_backoff_stops_the_daemon_at_once() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let car = decode_still(&folder.join("eu3.jpg")).expect("decode");
    let video = dir.path().join("camera.mp4");
    common::write_video_frames(&video, &[car], &[100], 640, 480, 10.0);
    let port = free_port();
    let server = start_server(&video, port);
    let config = dir.path().join("anpr-edge.toml");
    std::fs::write(
        &config,
        format!(
            "[device]\nid = \"rtsp-box\"\n[device.site]\nname = \"test\"\n[privacy]\npurpose = \"test\"\n[source]\nkind = \"rtsp\"\n\
             url = \"rtsp://127.0.0.1:{port}/cam\"\n[source.stream]\nreconnect_min_ms = 10000\nreconnect_max_ms = 10000\ntimeout_ms = 3000\n"
        ),
    )
    .expect("config");
    let mut daemon = common::binary()
        .env("ANPR_LOG", "info")
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start anpr-edge");
    let log = lines(daemon.stderr.take().expect("stderr"));
    let deadline = Instant::now() + Duration::from_secs(60);
    // Waits for a line containing `what`; the lines seen on the way, for the failure message.
    let wait_for_line = |what: &str| {
        let mut seen = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = log.recv_timeout(left).unwrap_or_else(|_| panic!("no {what:?} in: {seen}"));
            if line.contains(what) {
                return;
            }
            seen.push_str(&line);
            seen.push('\n');
        }
    };
    wait_for_line("started");
    // The camera goes away: the daemon says so and waits 10 s before it tries again.
    drop(server);
    wait_for_line("reconnecting");
    let status =
        Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status().expect("kill");
    assert!(status.success());
    let signalled = Instant::now();
    let exit = loop {
        if let Some(exit) = daemon.try_wait().expect("wait") {
            break exit;
        }
        // Well short of the backoff: a stop that waited it out would take 10 s.
        assert!(signalled.elapsed() < Duration::from_secs(7), "SIGTERM waited for the backoff");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit {exit:?}");
}
