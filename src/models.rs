//! The model files: their manifest, where they are found, and proof that they are the files the
//! manifest pins.
//!
//! A model that is missing or altered must stop the unit with a message naming the file, the
//! hash it should have and where it comes from: reads made by an unknown model are worthless
//! in court.

use crate::digest::sha256_hex;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The manifest shipped with this build (`models/manifest.toml`).
pub const MANIFEST_TOML: &str = include_str!("../models/manifest.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub id: String,
    pub role: String,
    pub file: String,
    pub sha256: String,
    pub inputs: String,
    pub outputs: String,
    pub source: String,
    pub licence: String,
    /// How a derived model is made from another one, when it is not an upstream file.
    #[serde(default)]
    pub derived_by: Option<String>,
    /// OCR models: the characters each slot's output is over, in order.
    #[serde(default)]
    pub alphabet: Option<String>,
    /// OCR models: the character that fills slots after the plate's last character.
    #[serde(default)]
    pub pad_char: Option<char>,
    /// OCR models with a region head: its classes, in output order.
    #[serde(default)]
    pub regions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("models/manifest.toml is malformed: {0}")]
    Manifest(#[from] toml::de::Error),
    #[error("no model with id `{id}` in the manifest; known: {known}")]
    UnknownId { id: String, known: String },
    #[error(
        "model file {path} is missing (expected sha256 {sha256}; it comes from: {source_note}). \
         Install it with scripts/setup.sh or `anpr-edge models install --from DIR`, or point --models / ANPR_MODELS_DIR at its folder"
    )]
    Missing { path: PathBuf, sha256: String, source_note: String },
    #[error("{path}: cannot read model file: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("model file {path} has sha256 {actual}, expected {expected}: the file is corrupt or not the pinned model; reinstall it")]
    HashMismatch { path: PathBuf, expected: String, actual: String },
    #[error("{path}: ONNX Runtime cannot load this model: {detail}")]
    Load { path: PathBuf, detail: String },
    #[error("{path}: the model does not have the expected interface ({expected}): {detail}")]
    Contract { path: PathBuf, expected: String, detail: String },
    #[error("no models folder found; looked in: {searched}. Run scripts/setup.sh, or give --models DIR / ANPR_MODELS_DIR")]
    NoFolder { searched: String },
}

impl Manifest {
    pub fn bundled() -> Result<Self, ModelError> {
        Ok(toml::from_str(MANIFEST_TOML)?)
    }

    pub fn entry(&self, id: &str) -> Result<&ModelEntry, ModelError> {
        self.models.iter().find(|m| m.id == id).ok_or_else(|| ModelError::UnknownId {
            id: id.to_string(),
            known: self.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// Folders looked in, in order, when none is named: beside the installed binary
/// (`<prefix>/share/anpr-edge/models`), then the usual prefixes.
pub fn default_folders() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(prefix) =
        std::env::current_exe().ok().and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
    {
        dirs.push(prefix.join("share/anpr-edge/models"));
    }
    dirs.push(PathBuf::from("/usr/local/share/anpr-edge/models"));
    dirs.push(PathBuf::from("/usr/share/anpr-edge/models"));
    dirs
}

/// The models folder: `explicit` (from `--models` or `ANPR_MODELS_DIR`) if given, else the
/// first default folder that exists.
pub fn locate_folder(explicit: Option<&Path>) -> Result<PathBuf, ModelError> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    let candidates = default_folders();
    candidates.iter().find(|d| d.is_dir()).cloned().ok_or_else(|| ModelError::NoFolder {
        searched: candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
    })
}

/// Reads the model `entry` from `folder` and returns its bytes once their hash is the pinned one.
pub fn read_verified(folder: &Path, entry: &ModelEntry) -> Result<(PathBuf, Vec<u8>), ModelError> {
    let path = folder.join(&entry.file);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelError::Missing {
                path,
                sha256: entry.sha256.clone(),
                source_note: entry.source.clone(),
            })
        }
        Err(source) => return Err(ModelError::Read { path, source }),
    };
    let actual = sha256_hex(&bytes);
    if actual != entry.sha256 {
        return Err(ModelError::HashMismatch { path, expected: entry.sha256.clone(), actual });
    }
    Ok((path, bytes))
}

/// A model loaded into an ONNX Runtime session, after its hash was checked.
pub struct LoadedModel {
    pub session: ort::session::Session,
    pub path: PathBuf,
    pub entry: ModelEntry,
}

/// Finds the model `id` of the manifest in `folder`, checks its hash and opens a session on
/// it with full graph optimisation and no memory pattern (the runtime's thread pool is the
/// environment's).
pub fn load(
    environment: &ort::environment::Environment,
    folder: &Path,
    id: &str,
) -> Result<LoadedModel, ModelError> {
    use ort::session::{builder::GraphOptimizationLevel, Session};
    let manifest = Manifest::bundled()?;
    let entry = manifest.entry(id)?.clone();
    let (path, bytes) = read_verified(folder, &entry)?;
    let load_error = |detail: String| ModelError::Load { path: path.clone(), detail };
    let session = Session::builder(environment)
        .map_err(|e| load_error(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| load_error(e.to_string()))?
        // The memory pattern pre-plans a block per input shape, and OCR batches and photographs
        // vary in shape: off, peak memory is 17 MiB lower in replay and 16 MiB in `run`, speed
        // within noise (docs/memory.md). The CPU arena stays: without it
        // `run` peaked higher and the detector was no faster.
        .with_memory_pattern(false)
        .map_err(|e| load_error(e.to_string()))?
        .commit_from_memory(&bytes)
        .map_err(|e| load_error(e.to_string()))?;
    Ok(LoadedModel { session, path, entry })
}

/// What `models install` did with one manifest entry.
#[derive(Debug)]
pub enum InstallOutcome {
    Installed { from: PathBuf },
    AlreadyPresent,
    NotFound,
    WrongHash { path: PathBuf, actual: String },
}

/// Copies every manifest model found (with the right hash) in one of `sources` into `target`.
///
/// Design: a file is written under a temporary name and renamed, so an interrupted install never
/// leaves a half-written model that a later start would trip over.
pub fn install(
    manifest: &Manifest,
    sources: &[PathBuf],
    target: &Path,
) -> std::io::Result<Vec<(ModelEntry, InstallOutcome)>> {
    std::fs::create_dir_all(target)?;
    let mut outcomes = Vec::new();
    for entry in &manifest.models {
        if read_verified(target, entry).is_ok() {
            outcomes.push((entry.clone(), InstallOutcome::AlreadyPresent));
            continue;
        }
        let mut outcome = InstallOutcome::NotFound;
        for source in sources {
            match read_verified(source, entry) {
                Ok((path, bytes)) => {
                    let temporary = target.join(format!(".{}.partial", entry.file));
                    std::fs::write(&temporary, &bytes)?;
                    std::fs::rename(&temporary, target.join(&entry.file))?;
                    outcome = InstallOutcome::Installed { from: path };
                    break;
                }
                Err(ModelError::HashMismatch { path, actual, .. }) => {
                    outcome = InstallOutcome::WrongHash { path, actual }
                }
                Err(_) => {}
            }
        }
        outcomes.push((entry.clone(), outcome));
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_manifest_parses_and_pins_every_model() {
        let manifest = Manifest::bundled().expect("bundled manifest");
        assert!(manifest.models.len() >= 3);
        for m in &manifest.models {
            assert_eq!(m.sha256.len(), 64, "{} must pin a full sha256", m.id);
            assert!(m.sha256.chars().all(|c| c.is_ascii_hexdigit()));
        }
        assert!(manifest.entry("ocr-v2").is_ok());
        assert!(matches!(manifest.entry("nope"), Err(ModelError::UnknownId { .. })));
    }

    #[test]
    fn a_missing_model_names_file_hash_and_source() {
        let manifest = Manifest::bundled().expect("bundled manifest");
        let entry = manifest.entry("ocr-v1").expect("entry");
        let dir = tempfile::tempdir().expect("tempdir");
        let message = read_verified(dir.path(), entry).expect_err("missing").to_string();
        assert!(message.contains("cct_xs_v1_global.onnx"), "{message}");
        assert!(message.contains(&entry.sha256), "{message}");
        assert!(message.contains("fast-plate-ocr"), "{message}");
    }

    #[test]
    fn a_model_with_other_bytes_is_rejected_with_both_hashes() {
        let manifest = Manifest::bundled().expect("bundled manifest");
        let entry = manifest.entry("ocr-v1").expect("entry");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(&entry.file), b"not a model").expect("write");
        let message = read_verified(dir.path(), entry).expect_err("hash").to_string();
        assert!(message.contains(&entry.sha256), "{message}");
        assert!(message.contains(&sha256_hex(b"not a model")), "{message}");
    }

    #[test]
    fn install_copies_only_files_with_the_pinned_hash() {
        let manifest = Manifest {
            models: vec![ModelEntry {
                id: "x".into(),
                role: "ocr".into(),
                file: "x.onnx".into(),
                sha256: sha256_hex(b"good"),
                inputs: String::new(),
                outputs: String::new(),
                source: "test".into(),
                licence: "test".into(),
                derived_by: None,
                alphabet: None,
                pad_char: None,
                regions: Vec::new(),
            }],
        };
        let bad = tempfile::tempdir().expect("tempdir");
        let good = tempfile::tempdir().expect("tempdir");
        let target = tempfile::tempdir().expect("tempdir");
        std::fs::write(bad.path().join("x.onnx"), b"evil").expect("write");
        std::fs::write(good.path().join("x.onnx"), b"good").expect("write");
        let outcomes = install(
            &manifest,
            &[bad.path().to_path_buf(), good.path().to_path_buf()],
            target.path(),
        )
        .expect("install");
        assert!(matches!(outcomes[0].1, InstallOutcome::Installed { .. }));
        assert_eq!(std::fs::read(target.path().join("x.onnx")).expect("read"), b"good");
        let again = install(&manifest, &[], target.path()).expect("install");
        assert!(matches!(again[0].1, InstallOutcome::AlreadyPresent));
    }
}
