//! The V4L2 camera source against a real V4L2 driver: the `vivid` virtual camera of Debian's
//! kernel, booted under QEMU by scripts/v4l2-vm/run.sh, driven by examples/v4l2_probe.rs
//! (format, size and rate negotiation; YUYV and RGB24 conversion checked on vivid's colour
//! bars; driver sequence numbers and timestamps; refusals of paths that are no camera; a
//! simulated unplug and a real one, the driver unbound and bound again, that the source must
//! survive with its numbering intact).
//!
//! Skipped (and passing) only where QEMU cannot run at all and the CI variable is not set.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// Every check the probe makes; each must report `V4L2TEST ok NAME`.
const CHECKS: &[&str] = &[
    "formats",
    "negotiate-YUYV",
    "sequence-YUYV",
    "monotonic-YUYV",
    "wallclock-YUYV",
    "media-time-YUYV",
    "size-YUYV",
    "colours-YUYV",
    "negotiate-RGB3",
    "sequence-RGB3",
    "monotonic-RGB3",
    "wallclock-RGB3",
    "media-time-RGB3",
    "size-RGB3",
    "colours-RGB3",
    "negotiate-closest",
    "refuse-missing",
    "refuse-file",
    "refuse-null",
    "refuse-output",
    "disconnect",
    "disconnect-reported",
    "disconnect-reopened",
    "unbind",
    "unbind-reported",
    "unbind-bounded",
    "rebind",
    "rebind-reopened",
    "rebind-numbering",
];

/// The probe, built by the cargo running this test with the same profile: `cargo test` builds
/// examples, but not when asked for this one test (`--test v4l2_vm`), and a stale probe would
/// test old code.
fn probe() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/PROFILE");
    let target_dir = profile_dir.parent().expect("target dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()).expect("profile name") {
        "debug" => "dev",
        other => other,
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "--example", "v4l2_probe", "--profile", profile, "--target-dir"])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // Cargo gives tests the variables it gives the crates it compiles; some build scripts (ring's)
    // rebuild when one of them changes, so passed on they would make this build and the
    // enclosing `cargo test` rebuild each other's dependencies every time.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_crates = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
            "OUT_DIR",
        ];
        if set_for_crates.iter().any(|prefix| name.starts_with(prefix)) {
            build.env_remove(name.as_ref());
        }
    }
    let status = build.status().expect("run cargo");
    assert!(status.success(), "building examples/v4l2_probe.rs failed");
    profile_dir.join("examples/v4l2_probe")
}

#[test]
fn the_camera_source_works_on_a_real_v4l2_device_in_a_vm() {
    let probe = probe();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/v4l2-vm/run.sh");
    let started = Instant::now();
    let output =
        Command::new("bash").arg(script).arg(&probe).output().expect("run scripts/v4l2-vm/run.sh");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(77) {
        assert!(
            std::env::var_os("CI").is_none(),
            "QEMU cannot run, and in CI this test must:\n{stderr}"
        );
        eprintln!("SKIPPED: QEMU cannot run here, so no V4L2 device can be tested:\n{stderr}");
        return;
    }
    eprintln!("{stdout}{stderr}VM run: {took:.1?}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("V4L2TEST fail")).collect();
    assert!(failed.is_empty(), "failed checks:\n{}\n\n{stdout}\n{stderr}", failed.join("\n"));
    for check in CHECKS {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("V4L2TEST ok {check} "))),
            "check {check} did not pass:\n{stdout}\n{stderr}"
        );
    }
    assert!(output.status.success(), "{stdout}\n{stderr}");
}
