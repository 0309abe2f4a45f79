//! The V4L2 camera source against a real V4L2 device: the `vivid` virtual camera of Debian's
//! kernel, booted under QEMU by scripts/v4l2-vm/run.sh, driven by examples/v4l2_probe.rs
//! (format negotiation, YUYV and RGB24 conversion checked on vivid's colour bars, driver
//! sequence numbers and timestamps, and a simulated unplug that the source must survive).

use std::process::Command;

#[test]
fn the_camera_source_works_on_a_real_v4l2_device_in_a_vm() {
    if Command::new("qemu-system-x86_64").arg("--version").output().is_err() && std::env::var_os("CI").is_none() {
        eprintln!("SKIPPED: qemu-system-x86_64 is not installed (scripts/setup.sh installs it)");
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let probe = exe.parent().and_then(|deps| deps.parent()).expect("target dir").join("examples/v4l2_probe");
    assert!(probe.is_file(), "{} missing: cargo test builds the examples", probe.display());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/v4l2-vm/run.sh");
    let output = Command::new("bash").arg(script).arg(&probe).output().expect("run the VM");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for check in ["formats", "negotiate-YUYV", "sequence-YUYV", "timestamps-YUYV", "size-YUYV", "colours-YUYV", "colours-RGB3", "unplug", "reported", "reopened"] {
        assert!(stdout.contains(&format!("V4L2TEST ok {check} ")), "check {check} did not pass:\n{stdout}\n{stderr}");
    }
    assert!(!stdout.contains("V4L2TEST fail"), "{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
}
