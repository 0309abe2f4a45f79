//! Signed reads (tamper evidence): the unit signs every read with its Ed25519 key, and anyone
//! holding the unit's public key checks a read and its images (`anpr-edge verify`).
//!
//! Canonical form, what is signed: the record's JSON as published, without its `signature`
//! field, parsed and written again with every object's keys sorted (by their bytes), no
//! whitespace, numbers in the shortest form that reads back to the same value (serde_json's).
//! Signing what was parsed back from the published bytes, not the in-memory record, makes the
//! signer and a verifier (which only has those bytes) canonicalise the very same values. The
//! record names each image by its SHA-256, so the signature covers the images too.
//!
//! Keys and signatures are `signing.rs`'s: this module only decides what is signed.

use crate::config_issue::ConfigIssue;
use crate::outgoing::{ImageKind, Outgoing, ReadSink, SinkFailed};
use crate::read_record::{ReadRecord, ReadSignature};
use crate::signing::{self, SignatureError, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub const ALGORITHM: &str = "Ed25519";

/// The `[signing]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// The unit's private key, PKCS#8 PEM (`openssl genpkey -algorithm ed25519`).
    pub key_file: PathBuf,
}

impl SigningConfig {
    /// The key, loaded once for the check and the unit both; or the issue, key relative to
    /// `[signing]`.
    pub fn parse(&self) -> Result<SigningKey, Vec<ConfigIssue>> {
        signing::load_signing_key(&self.key_file)
            .map_err(|e| vec![ConfigIssue::new("key_file", e.to_string(), "")])
    }
}

/// The bytes signed for `record` (a read as JSON, with or without its signature).
pub fn canonical(record: &serde_json::Value) -> Vec<u8> {
    let mut record = record.clone();
    if let Some(map) = record.as_object_mut() {
        map.remove("signature");
    }
    // serde_json's map is ordered by key (no `preserve_order` feature), and its compact
    // writer puts no whitespace.
    record.to_string().into_bytes()
}

/// Signs `record` in place.
pub fn sign_record(record: &mut ReadRecord, key: &SigningKey) -> Result<(), serde_json::Error> {
    record.signature = None;
    let published: serde_json::Value = serde_json::from_slice(&serde_json::to_vec(record)?)?;
    let value = signing::sign(key, &canonical(&published));
    record.signature = Some(ReadSignature {
        alg: ALGORITHM.into(),
        key_id: signing::key_id(&key.verifying_key()),
        value,
    });
    Ok(())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("not a read record: {0}")]
    NotARead(String),
    #[error("the read carries no signature: the unit had no [signing] key")]
    Unsigned,
    #[error("the read is signed with {alg}, not Ed25519")]
    Algorithm { alg: String },
    #[error("the read was signed by key {signed_by}, not by the key given ({given}): check that you have the right unit's public key")]
    OtherKey { signed_by: String, given: String },
    #[error("the read was changed after it was signed (or the signature was): {0}")]
    Signature(SignatureError),
    #[error("image {path}: its SHA-256 {sha256} is not one the read names ({named}): it is not this read's image, or it was changed")]
    Image { path: PathBuf, sha256: String, named: String },
}

/// What a successful check established.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub read_id: String,
    pub key_id: String,
    /// For each image given: which of the read's images it is (`overview`, `plate`, or a
    /// hit's context frame `context-<i>`).
    pub images: Vec<(PathBuf, String)>,
}

/// Checks a read (its bytes as received) and the images given with it against `key`.
pub fn verify_read(
    read: &[u8],
    key: &VerifyingKey,
    images: &[(PathBuf, Vec<u8>)],
) -> Result<Verified, VerifyError> {
    let value: serde_json::Value =
        serde_json::from_slice(read).map_err(|e| VerifyError::NotARead(e.to_string()))?;
    let record: ReadRecord =
        serde_json::from_value(value.clone()).map_err(|e| VerifyError::NotARead(e.to_string()))?;
    let signature = record.signature.as_ref().ok_or(VerifyError::Unsigned)?;
    if signature.alg != ALGORITHM {
        return Err(VerifyError::Algorithm { alg: signature.alg.clone() });
    }
    let given = signing::key_id(key);
    if signature.key_id != given {
        return Err(VerifyError::OtherKey { signed_by: signature.key_id.clone(), given });
    }
    signing::verify(key, &canonical(&value), &signature.value).map_err(VerifyError::Signature)?;
    let named = |image: &Option<crate::read_record::ImageRef>| {
        image.as_ref().map_or_else(|| "none".to_string(), |i| i.sha256.clone())
    };
    let mut kinds = vec![
        (ImageKind::Overview.to_string(), named(&record.images.overview)),
        (ImageKind::Plate.to_string(), named(&record.images.plate)),
    ];
    kinds.extend(
        record
            .images
            .context
            .iter()
            .enumerate()
            .map(|(i, context)| (ImageKind::Context(i).to_string(), context.image.sha256.clone())),
    );
    let mut checked = Vec::new();
    for (path, bytes) in images {
        let sha256 = crate::digest::sha256_hex(bytes);
        let Some((kind, _)) = kinds.iter().find(|(_, named)| *named == sha256) else {
            let named = kinds.iter().map(|(k, s)| format!("{k} {s}")).collect::<Vec<_>>();
            let named = named.join(", ");
            return Err(VerifyError::Image { path: path.clone(), sha256, named });
        };
        checked.push((path.clone(), kind.clone()));
    }
    Ok(Verified { read_id: record.read_id, key_id: given, images: checked })
}

/// Signs every read on its way to `inner`.
pub struct SigningSink<'a> {
    inner: &'a mut dyn ReadSink,
    key: &'a SigningKey,
}

impl<'a> SigningSink<'a> {
    pub fn new(inner: &'a mut dyn ReadSink, key: &'a SigningKey) -> Self {
        Self { inner, key }
    }
}

impl ReadSink for SigningSink<'_> {
    fn deliver(&mut self, mut read: Outgoing) -> Result<(), SinkFailed> {
        if let Err(error) = sign_record(&mut read.record, self.key) {
            // A read that cannot be serialised cannot be published either; the sink says so.
            tracing::error!(read_id = %read.record.read_id, %error, "read not signable");
        }
        self.inner.deliver(read)
    }

    /// A snapshot is not a read: it goes unsigned, as it was given.
    fn snapshot(&mut self, id: &str, jpeg: Vec<u8>) -> Option<String> {
        self.inner.snapshot(id, jpeg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ReadRecord {
        let text = r#"{"schema":"anpr-edge/read/3","read_id":"0190aaaa-0000-7000-8000-000000000001","report":"vehicle","vehicle_id":"v1","device_id":"box","camera_id":"cam0",
            "site":{"name":"E40"},"purpose":"test","captured_at":"2026-01-01T00:00:00.000Z","first_seen":"2026-01-01T00:00:00.000Z","last_seen":"2026-01-01T00:00:00.500Z",
            "plate":{"text":"1ABC234","pseudonym":null,"ocr_text":"1ABC234","confidence":0.93,"char_confidences":[0.9,0.95,0.1,0.333],"format":"BE","region":null},
            "bbox":{"x1":1.5,"y1":2.0,"x2":30.25,"y2":12.0},"frame":7,"frames":3,"agreeing_frames":2,"direction":null,"disposition":"non_hit","hit":false,"hotlist":null,"alert_level":null,"alert_id":null,"position":null,"clock_synchronised":true,
            "images":{"overview":{"topic":"anpr/box/images/x/overview","sha256":"OVERVIEW","bytes":5,"width":1,"height":1},"plate":null,"context":[]}}"#;
        let mut record: ReadRecord = serde_json::from_str(text).expect("record");
        record.images.overview.as_mut().expect("overview").sha256 =
            crate::digest::sha256_hex(b"jpeg!");
        record
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn a_signed_read_verifies_with_its_images_and_any_change_is_named() {
        let mut r = record();
        sign_record(&mut r, &key(1)).expect("sign");
        let published = serde_json::to_vec(&r).expect("json");
        let public = key(1).verifying_key();
        let jpeg = vec![(PathBuf::from("overview.jpg"), b"jpeg!".to_vec())];
        let ok = verify_read(&published, &public, &jpeg).expect("verifies");
        assert_eq!(ok.images, [(PathBuf::from("overview.jpg"), "overview".to_string())]);
        // Pretty-printed or with its keys in another order, it is the same read.
        let value: serde_json::Value = serde_json::from_slice(&published).expect("json");
        assert!(verify_read(
            serde_json::to_string_pretty(&value).expect("pretty").as_bytes(),
            &public,
            &[]
        )
        .is_ok());

        let tampered =
            String::from_utf8(published.clone()).expect("utf-8").replace("1ABC234", "1ABC235");
        assert!(matches!(
            verify_read(tampered.as_bytes(), &public, &[]),
            Err(VerifyError::Signature(_))
        ));
        let other =
            verify_read(&published, &key(2).verifying_key(), &[]).expect_err("another unit's key");
        assert!(matches!(other, VerifyError::OtherKey { .. }), "{other}");
        let image =
            verify_read(&published, &public, &[(PathBuf::from("x.jpg"), b"jpeg?".to_vec())])
                .expect_err("another image");
        assert!(image.to_string().contains("x.jpg"), "{image}");
        assert_eq!(
            verify_read(&serde_json::to_vec(&record()).expect("json"), &public, &[]),
            Err(VerifyError::Unsigned)
        );
        assert!(matches!(verify_read(b"{", &public, &[]), Err(VerifyError::NotARead(_))));
    }

    #[test]
    fn the_canonical_form_sorts_keys_and_leaves_the_signature_out() {
        let value =
            serde_json::json!({"b": 1, "a": {"d": [1, 2], "c": 0.5}, "signature": {"x": 1}});
        assert_eq!(
            String::from_utf8(canonical(&value)).expect("utf-8"),
            r#"{"a":{"c":0.5,"d":[1,2]},"b":1}"#
        );
    }
}
