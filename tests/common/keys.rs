//! Keys and signatures made the way an operator makes them, with the openssl command: Ed25519
//! key pairs for signed hotlists, commands and reads, and a signature over a body.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `openssl args` in `dir`, panicking with its complaint; its standard output.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (scripts/setup.sh installs it)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// An Ed25519 key pair in `dir` as an operator makes it: (`{name}.pem`, `{name}.pub.pem`).
pub fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (private, public) = (format!("{name}.pem"), format!("{name}.pub.pem"));
    openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", &private]);
    openssl(dir, &["pkey", "-in", &private, "-pubout", "-out", &public]);
    (dir.join(private), dir.join(public))
}

/// Base64 of the Ed25519 signature openssl makes over `body` with `private`.
pub fn sign(dir: &Path, private: &Path, body: &str) -> String {
    let file = dir.join("to-sign");
    std::fs::write(&file, body).expect("write the body to sign");
    let signature = openssl(
        dir,
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            &private.display().to_string(),
            "-rawin",
            "-in",
            &file.display().to_string(),
        ],
    );
    let file = dir.join("signature.bin");
    std::fs::write(&file, signature).expect("write the signature");
    String::from_utf8(openssl(dir, &["base64", "-A", "-in", &file.display().to_string()]))
        .expect("base64 is text")
}
