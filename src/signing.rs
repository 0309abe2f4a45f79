//! Ed25519 keys and signatures, for everything the unit signs or must see signed: the reads it
//! signs as evidence, the hotlists it accepts only from the key it was given.
//!
//! Keys are PEM files as `openssl genpkey -algorithm ed25519` writes them (a PKCS#8 private key;
//! its public half from `openssl pkey -pubout`, a SubjectPublicKeyInfo), so an operator makes and
//! inspects them with a tool every box already has. Signatures travel as standard base64 of the
//! 64 signature bytes.

use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::Signer;
use std::path::{Path, PathBuf};

pub use ed25519_dalek::{SigningKey, VerifyingKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: cannot read the key: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not an Ed25519 {kind} key in PEM ({problem}); make one with {how}")]
    Format { path: PathBuf, kind: &'static str, problem: String, how: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature is not base64 of 64 bytes")]
    Encoding,
    #[error("the signature does not match the data and the key {key_id}")]
    Mismatch { key_id: String },
}

/// The unit's private key (PKCS#8 PEM).
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let pem = read_key_file(path)?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| KeyError::Format {
        path: path.to_path_buf(),
        kind: "private",
        problem: e.to_string(),
        how: "`openssl genpkey -algorithm ed25519 -out KEY.pem`",
    })
}

/// A public key (SubjectPublicKeyInfo PEM).
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let pem = read_key_file(path)?;
    VerifyingKey::from_public_key_pem(&pem).map_err(|e| KeyError::Format {
        path: path.to_path_buf(),
        kind: "public",
        problem: e.to_string(),
        how: "`openssl pkey -in KEY.pem -pubout -out KEY.pub.pem`",
    })
}

fn read_key_file(path: &Path) -> Result<String, KeyError> {
    let error = |source| KeyError::Read { path: path.to_path_buf(), source };
    let bytes = crate::small_file::read(path).map_err(error)?;
    String::from_utf8(bytes)
        .map_err(|e| error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// Base64 of the signature of `message`.
pub fn sign(key: &SigningKey, message: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.sign(message).to_bytes())
}

/// Checks `signature` (base64, as [`sign`] writes it) over `message`. Strict verification:
/// no malleable or small-order signatures are accepted.
pub fn verify(key: &VerifyingKey, message: &[u8], signature: &str) -> Result<(), SignatureError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Encoding)?;
    let bytes: [u8; 64] = bytes.try_into().map_err(|_| SignatureError::Encoding)?;
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    key.verify_strict(message, &signature)
        .map_err(|_| SignatureError::Mismatch { key_id: key_id(key) })
}

/// A short name of a public key (the first 16 hex digits of the SHA-256 of its 32 bytes), for
/// logs and records to say which key signed without printing the key.
pub fn key_id(key: &VerifyingKey) -> String {
    crate::digest::sha256_hex(key.as_bytes())[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePrivateKey, EncodePublicKey};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write key");
        path
    }

    #[test]
    fn keys_round_trip_through_pem_files_and_sign() {
        let dir = tempfile::tempdir().expect("tempdir");
        let private = key().to_pkcs8_pem(LineEnding::LF).expect("pem");
        let public = key().verifying_key().to_public_key_pem(LineEnding::LF).expect("pem");
        let signing = load_signing_key(&write(dir.path(), "k.pem", &private)).expect("private key");
        let verifying =
            load_verifying_key(&write(dir.path(), "k.pub.pem", &public)).expect("public key");
        let signature = sign(&signing, b"read 1");
        assert_eq!(verify(&verifying, b"read 1", &signature), Ok(()));
        assert!(matches!(
            verify(&verifying, b"read 2", &signature),
            Err(SignatureError::Mismatch { .. })
        ));
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(matches!(
            verify(&other, b"read 1", &signature),
            Err(SignatureError::Mismatch { .. })
        ));
        assert_eq!(verify(&verifying, b"read 1", "not base64!"), Err(SignatureError::Encoding));
        assert_eq!(verify(&verifying, b"read 1", "AAAA"), Err(SignatureError::Encoding));
    }

    #[test]
    fn a_wrong_file_names_itself_and_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let public = key().verifying_key().to_public_key_pem(LineEnding::LF).expect("pem");
        let e = load_signing_key(&write(dir.path(), "pub-as-private.pem", &public))
            .expect_err("a public key is no private key")
            .to_string();
        assert!(e.contains("pub-as-private.pem") && e.contains("openssl genpkey"), "{e}");
        let e =
            load_verifying_key(&dir.path().join("absent.pem")).expect_err("missing").to_string();
        assert!(e.contains("absent.pem"), "{e}");
        let e = load_verifying_key(&write(dir.path(), "junk.pem", "hello"))
            .expect_err("junk")
            .to_string();
        assert!(e.contains("junk.pem") && e.contains("-pubout"), "{e}");
        let e = load_signing_key(Path::new("/dev/zero")).expect_err("endless").to_string();
        assert!(e.contains("/dev/zero") && e.contains("larger than"), "{e}");
    }

    #[test]
    fn key_ids_differ_between_keys() {
        let a = key_id(&key().verifying_key());
        assert_eq!(a.len(), 16);
        assert_ne!(a, key_id(&SigningKey::from_bytes(&[8; 32]).verifying_key()));
    }
}
