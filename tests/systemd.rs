//! The service unit under systemd/ is what a box runs: systemd itself must accept it, and its
//! hardening must stay where the README says it is.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use std::process::Command;

fn unit_for_this_build(dir: &std::path::Path) -> std::path::PathBuf {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/anpr-edge.service"))
            .expect("unit file");
    // systemd-analyze checks that ExecStart names an existing binary: point it at this build.
    let unit = dir.join("anpr-edge.service");
    std::fs::write(&unit, text.replace("/usr/bin/anpr-edge", env!("CARGO_BIN_EXE_anpr-edge")))
        .expect("write unit");
    unit
}

#[test]
fn systemd_accepts_the_unit_without_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_for_this_build(dir.path());
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (package systemd)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // verify exits 0 on unknown keys and other parse warnings: those land on stderr.
    assert!(stderr.trim().is_empty(), "systemd-analyze verify warned: {stderr}");
}

#[test]
fn the_unit_exposure_score_stays_below_two() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_for_this_build(dir.path());
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let text = String::from_utf8_lossy(&output.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for anpr-edge.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score in: {text}"));
    assert!(score < 2.0, "exposure {score} (README promises below 2.0)");
}
