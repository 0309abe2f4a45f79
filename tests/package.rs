//! The Debian package, built for real by scripts/package.sh (cargo-deb) from this build: its
//! control data, its contents, its layout once unpacked into a throwaway root, and its
//! maintainer script run against that root.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use std::path::Path;
use std::process::Command;

/// Standard output of a command that must succeed (its standard error in the message if not).
fn run(command: &mut Command) -> String {
    run_both(command).0
}

fn run_both(command: &mut Command) -> (String, String) {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{command:?} failed:\n{stderr}");
    (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

#[test]
fn the_package_installs_binary_unit_config_models_and_runtime() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stdout = run(Command::new("bash")
        .arg(root.join("scripts/package.sh"))
        .args(["--no-build", "--fast"])
        .current_dir(root));
    let deb =
        std::path::PathBuf::from(stdout.lines().last().expect("package.sh prints the .deb").trim());
    assert!(deb.is_file() && deb.extension().is_some_and(|e| e == "deb"), "{}", deb.display());

    let info = run(Command::new("dpkg-deb").arg("--info").arg(&deb));
    for field in [
        "Package: anpr-edge",
        "Version: 0.1.0-1",
        "Architecture: amd64",
        "Suggests: gpsd",
        "Depends: ",
    ] {
        assert!(info.contains(field), "no `{field}` in\n{info}");
    }
    for library in ["libopencv-core", "libavcodec", "libavformat", "libswscale"] {
        assert!(
            info.contains(library),
            "{library} not among the shared-library dependencies computed from the binary:\n{info}"
        );
    }
    for script in ["postinst", "prerm", "postrm", "conffiles"] {
        assert!(info.contains(script), "no {script} in\n{info}");
    }

    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    for (path, mode) in [
        (" usr/bin/anpr-edge", "-rwxr-xr-x"),
        (" lib/systemd/system/anpr-edge.service", "-rw-r--r--"),
        (" etc/anpr-edge/anpr-edge.toml", "-rw-r--r--"),
        (" usr/lib/anpr-edge/libonnxruntime.so", "-rw-r--r--"),
        (
            " usr/share/anpr-edge/models/yolo-v9-t-416-license-plates-end2end1-f32.onnx",
            "-rw-r--r--",
        ),
        (" usr/share/anpr-edge/models/cct_xs_v2_global.onnx", "-rw-r--r--"),
        (" usr/share/doc/anpr-edge/README.md", "-rw-r--r--"),
        (" usr/share/doc/anpr-edge/docs/daemon.md", "-rw-r--r--"),
    ] {
        let line = contents
            .lines()
            .find(|l| l.ends_with(path))
            .unwrap_or_else(|| panic!("{path} not in the package:\n{contents}"));
        assert!(
            line.starts_with(mode) && line.contains(" 0/0 "),
            "{line}: mode {mode}, owned by root"
        );
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let control = dir.path().join("control");
    run(Command::new("dpkg-deb").arg("--control").arg(&deb).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).expect("conffiles");
    assert_eq!(
        conffiles.trim(),
        "/etc/anpr-edge/anpr-edge.toml",
        "the configuration survives upgrades"
    );

    // Unpacked into a throwaway root, the binary finds its models and ONNX Runtime beside it
    // (<prefix>/share, <prefix>/lib), with nothing from /usr/local.
    let target = dir.path().join("root");
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&target));
    let binary = target.join("usr/bin/anpr-edge");
    let packaged =
        |c: &mut Command| run_both(c.env_remove("ANPR_MODELS_DIR").env_remove("ORT_DYLIB_PATH"));
    let (_, verify) = packaged(Command::new(&binary).args(["models", "verify"]));
    let models = target.join("usr/share/anpr-edge/models").display().to_string();
    assert!(
        verify.lines().count() >= 3
            && verify.lines().all(|l| l.starts_with("ok ") && l.contains(&models)),
        "{verify}"
    );
    // And it reads a plate with the packaged ONNX Runtime.
    let still = root.join("../shared/data/openalpr-eu-dev/eu3.jpg");
    if still.is_file() {
        let (read, _) = packaged(Command::new(&binary).arg("replay").arg(&still).arg("--json"));
        assert!(read.lines().any(|l| l.contains("\"text\"")), "{read}");
    }
    let unit =
        std::fs::read_to_string(target.join("lib/systemd/system/anpr-edge.service")).expect("unit");
    assert_eq!(
        unit,
        std::fs::read_to_string(root.join("systemd/anpr-edge.service")).expect("unit")
    );
    let config =
        std::fs::read_to_string(target.join("etc/anpr-edge/anpr-edge.toml")).expect("config");
    assert!(
        config.lines().filter(|l| l.starts_with('#')).count() > 50,
        "the shipped configuration is the commented one"
    );

    // The postinst lays the state directory out as systemd does for the DynamicUser unit.
    run(Command::new("sh")
        .arg(control.join("postinst"))
        .arg("configure")
        .env("DPKG_ROOT", &target));
    let private = target.join("var/lib/private/anpr-edge");
    assert!(private.is_dir());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(target.join("var/lib/private")).expect("private").permissions().mode()
            & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::read_link(target.join("var/lib/anpr-edge")).expect("symlink"),
        Path::new("private/anpr-edge")
    );
    // Run twice (a reconfigure) it changes nothing; purge removes it.
    run(Command::new("sh")
        .arg(control.join("postinst"))
        .arg("configure")
        .env("DPKG_ROOT", &target));
    run(Command::new("sh").arg(control.join("postrm")).arg("purge").env("DPKG_ROOT", &target));
    assert!(
        !private.exists() && std::fs::symlink_metadata(target.join("var/lib/anpr-edge")).is_err()
    );
}
