//! Signed reads end to end: a unit with a key made by openssl signs what it reads from a real
//! photograph; `anpr-edge verify` accepts the read with the unit's public key and names what
//! is wrong with a changed read, another unit's key and a missing signature.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

mod common;

use common::keys::key_pair;
use common::records::assert_follows_schema;
use std::path::Path;

fn verify(dir: &Path, key: &str, read: &str) -> (bool, String) {
    let output = common::binary()
        .args(["verify", "--key"])
        .arg(dir.join(key))
        .arg(dir.join(read))
        .output()
        .expect("verify");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn a_signed_read_verifies_and_a_changed_one_is_refused_with_the_reason() {
    let Some(folder) = common::eval_images() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (unit_key, _) = key_pair(dir.path(), "unit");
    key_pair(dir.path(), "other");
    let config = dir.path().join("anpr-edge.toml");
    let text = format!(
        "[device]\nid = \"box\"\n[device.site]\nname = \"E40\"\n[source]\nkind = \"file\"\npath = \"{}\"\n[privacy]\npurpose = \"signed reads test\"\nnon_hit_plate = \"clear\"\n[signing]\nkey_file = \"{}\"\n",
        folder.join("eu3.jpg").display(),
        unit_key.display()
    );
    std::fs::write(&config, text).expect("config");
    let output = common::binary().args(["run", "--config"]).arg(&config).output().expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let line = String::from_utf8(output.stdout).expect("utf-8");
    let read: serde_json::Value =
        serde_json::from_str(line.lines().next().expect("one read")).expect("JSON");
    assert_follows_schema(&read);
    std::fs::write(dir.path().join("read.json"), line.lines().next().expect("read"))
        .expect("write");

    let (ok, said) = verify(dir.path(), "unit.pub.pem", "read.json");
    assert!(ok && said.contains("verified"), "{said}");

    let plate = read["plate"]["text"].as_str().expect("text");
    let changed = line.lines().next().expect("read").replacen(
        &format!("\"text\":\"{plate}\""),
        "\"text\":\"ZZZ999\"",
        1,
    );
    std::fs::write(dir.path().join("changed.json"), changed).expect("write");
    let (ok, said) = verify(dir.path(), "unit.pub.pem", "changed.json");
    assert!(
        !ok && said.contains("NOT VERIFIED") && said.contains("changed after it was signed"),
        "{said}"
    );

    let (ok, said) = verify(dir.path(), "other.pub.pem", "read.json");
    assert!(!ok && said.contains("not by the key given"), "{said}");

    let mut unsigned = read.clone();
    unsigned.as_object_mut().expect("object").remove("signature");
    std::fs::write(dir.path().join("unsigned.json"), unsigned.to_string()).expect("write");
    let (ok, said) = verify(dir.path(), "unit.pub.pem", "unsigned.json");
    assert!(!ok && said.contains("no signature"), "{said}");
}
