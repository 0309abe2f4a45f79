//! The service unit under a REAL systemd: scripts/systemd-vm/run.sh boots Debian's kernel under
//! QEMU with this machine's root as the read-only lower layer of an overlay, installs the unit
//! exactly as shipped (systemd/anpr-edge.service, /usr/bin/anpr-edge = this build, the models and
//! ONNX Runtime where the package puts them, the package's postinst) and a configuration derived
//! from systemd/anpr-edge.toml replaying a video of real photographs to a Mosquitto broker in the
//! VM, then runs /lib/systemd/systemd as PID 1. Its driver (scripts/systemd-vm/driver.sh) checks
//! Type=notify readiness, the dynamic user and the sandbox as the kernel sees them, the
//! StateDirectory and the spool, reads made by ONNX Runtime inside the system-call filter,
//! the watchdog (pings keep coming while the pipeline runs; a frozen daemon killed and
//! restarted under a test-only WatchdogSec set from the ping gaps measured in that VM, so a slow
//! host is not taken for a hung daemon) and a clean stop. Checks that read the process's /proc
//! entry or enter its namespace first check that it is the same process, and say NOT CHECKED
//! otherwise.
//!
//! Skipped (and passing) only where QEMU cannot run at all, or the shared photographs are
//! absent, and the CI variable is not set.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every check the driver makes; each must report `SYSTEMDTEST ok NAME`.
const CHECKS: &[&str] = &[
    "systemd-pid1",
    "broker",
    "ready",
    "unit-installed",
    "dynamic-user",
    "sandbox",
    "protect-system",
    "state-directory",
    "reads",
    "read-record",
    "clock-adjtimex",
    "spool",
    "watchdog-fed",
    "watchdog-set",
    "watchdog-fires",
    "watchdog-restart",
    "stop-clean",
    "offline",
    "no-sigsys",
];

/// QEMU is killed by the script after this (SYSTEMD_VM_TIMEOUT); the script itself, and what it
/// may download first (the kernel package), after this and a margin.
const VM_TIMEOUT_S: u64 = 600;
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(VM_TIMEOUT_S + 180);

#[test]
fn the_unit_runs_the_daemon_under_a_real_systemd_in_a_vm() {
    let images = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/openalpr-eu-dev");
    if !std::path::Path::new(images).is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{images} is missing: CI must run this test on the real photographs"
        );
        eprintln!("SKIPPED: {images} is absent, so there is nothing to replay");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/systemd-vm/run.sh");
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(script)
        .env("SYSTEMD_VM_BINARY", env!("CARGO_BIN_EXE_anpr-edge"))
        .env("SYSTEMD_VM_IMAGES", images)
        .env("SYSTEMD_VM_TIMEOUT", VM_TIMEOUT_S.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout ends QEMU with it.
        .process_group(0)
        .spawn()
        .expect("run scripts/systemd-vm/run.sh");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the script") {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            // The whole process group this test created for the script (QEMU included).
            let _ =
                Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let took = started.elapsed();
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let Some(status) = status else {
        panic!("the script ran past {SCRIPT_TIMEOUT:?} and was killed:\n{stdout}\n{stderr}")
    };
    if status.code() == Some(77) {
        assert!(
            std::env::var_os("CI").is_none(),
            "QEMU cannot run, and in CI this test must:\n{stderr}"
        );
        eprintln!("SKIPPED: QEMU cannot run here, so systemd cannot be booted:\n{stderr}");
        return;
    }
    eprintln!("{stdout}{stderr}VM run: {took:.1?}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("SYSTEMDTEST fail")).collect();
    assert!(failed.is_empty(), "failed checks:\n{}\n\n{stdout}\n{stderr}", failed.join("\n"));
    for check in CHECKS {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("SYSTEMDTEST ok {check} "))),
            "check {check} did not pass:\n{stdout}\n{stderr}"
        );
    }
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
}
