//! `anpr-edge hotlist …`: check a list (or a delta against its base) as the unit would, wrap
//! a list into the MQTT envelope, and make the delta between two lists.

use anpr_edge::hotlist::live::signature_path;
use anpr_edge::hotlist::{envelope, Action, Delta, DeltaEnvelope, Envelope, Format, Hotlist};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum HotlistCommand {
    /// Validate a list (CSV, or JSON when it ends in .json) and its signature, as the unit does;
    /// with --base, FILE is a delta, checked by applying it to that list.
    Check {
        file: PathBuf,
        /// Require a valid signature by this Ed25519 public key (PEM); it is in FILE.sig.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// The list (CSV or JSON) the delta FILE applies to.
        #[arg(long)]
        base: Option<PathBuf>,
    },
    /// Print the delta that turns list OLD into list NEW (entries added, changed, removed), as
    /// JSON; with --key, sign it and write the signature to OUT.sig.
    Diff {
        old: PathBuf,
        new: PathBuf,
        /// Write the delta here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Sign the delta with this Ed25519 private key (PEM), as lists are signed; needs --out.
        #[arg(long, requires = "out")]
        key: Option<PathBuf>,
    },
    /// Print the MQTT envelope of a list for a retained publish on <prefix>/<device>/hotlist
    /// or <prefix>/fleet/hotlist, or with --delta of a delta for …/hotlist/delta (the
    /// signature, if any, taken from FILE.sig).
    Envelope {
        file: PathBuf,
        /// Check the signature with this Ed25519 public key (PEM) before wrapping.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// FILE is a delta (made by `hotlist diff`).
        #[arg(long)]
        delta: bool,
        /// Write the envelope as one zstd frame (binary, for `mosquitto_pub -s`): a unit takes
        /// both, and the signature is over the list's text either way.
        #[arg(long)]
        compress: bool,
    },
}

/// The list, validated and (with a key) verified, its text and signature.
fn load(
    file: &Path,
    public_key: Option<&Path>,
) -> anyhow::Result<(Hotlist, Format, String, Option<String>)> {
    let key = public_key.map(anpr_edge::signing::load_verifying_key).transpose()?;
    let body = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read the list as UTF-8 text", file.display()))?;
    let signature =
        std::fs::read_to_string(signature_path(file)).ok().map(|s| s.trim().to_string());
    let format = Format::of_path(file);
    let list = Hotlist::parse_signed(body.as_bytes(), format, signature.as_deref(), key.as_ref())
        .with_context(|| file.display().to_string())?;
    Ok((list, format, body, signature))
}

/// A delta file, verified with `public_key` when given (its signature in FILE.sig).
fn load_delta(file: &Path, public_key: Option<&Path>) -> anyhow::Result<Delta> {
    let body = std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    if let Some(path) = public_key {
        let key = anpr_edge::signing::load_verifying_key(path)?;
        let signature = std::fs::read_to_string(signature_path(file)).with_context(|| {
            format!("{}: no signature beside the delta (--public-key needs it)", file.display())
        })?;
        anpr_edge::signing::verify(&key, &body, signature.trim())
            .with_context(|| format!("{}: the signature is refused", file.display()))?;
    }
    Delta::parse(&body).with_context(|| format!("{}: not a valid delta", file.display()))
}

pub fn run(command: &HotlistCommand) -> anyhow::Result<ExitCode> {
    match command {
        HotlistCommand::Check { file, public_key, base: Some(base) } => {
            let delta = load_delta(file, public_key.as_deref())?;
            let (base_list, _, _, _) = load(base, None)?;
            let made = delta.apply(&base_list).with_context(|| {
                format!("{} does not apply to {}", file.display(), base.display())
            })?;
            println!(
                "{}: valid delta from version {} to {} ({} added, {} changed, {} removed): {} entries",
                file.display(),
                delta.base,
                delta.version,
                delta.added.len(),
                delta.changed.len(),
                delta.removed.len(),
                made.entries.len()
            );
        }
        HotlistCommand::Diff { old, new, out, key } => {
            let (old_list, _, _, _) = load(old, None)?;
            let (new_list, _, _, _) = load(new, None)?;
            anyhow::ensure!(
                old_list.version != new_list.version,
                "{} and {} are both version {}; give the new list a new version",
                old.display(),
                new.display(),
                new_list.version
            );
            let json = Delta::between(&old_list, &new_list).to_json();
            match out {
                Some(path) => {
                    std::fs::write(path, &json)
                        .with_context(|| format!("writing the delta {}", path.display()))?;
                    if let Some(key) = key {
                        let key = anpr_edge::signing::load_signing_key(key)?;
                        let sig = signature_path(path);
                        std::fs::write(&sig, anpr_edge::signing::sign(&key, json.as_bytes()))
                            .with_context(|| format!("writing the signature {}", sig.display()))?;
                    }
                }
                None => println!("{json}"),
            }
        }
        HotlistCommand::Check { file, public_key, base: None } => {
            let (list, _, _, signature) = load(file, public_key.as_deref())?;
            let now = std::time::SystemTime::now();
            let alerts = list.entries.iter().filter(|e| e.action == Action::Alert).count();
            let expired =
                list.entries.iter().filter(|e| e.expires.is_some_and(|t| t <= now)).count();
            let signed = match (public_key, signature) {
                (Some(_), _) => "signature valid",
                (None, Some(_)) => "signature present, not checked (no --public-key)",
                (None, None) => "unsigned",
            };
            println!(
                "{}: valid, version {}, {} entries ({alerts} alert, {} allow, {expired} expired), {signed}",
                file.display(),
                list.version,
                list.entries.len(),
                list.entries.len() - alerts
            );
        }
        HotlistCommand::Envelope { file, public_key, delta, compress } => {
            let json = if *delta {
                let made = load_delta(file, public_key.as_deref())?;
                let body = std::fs::read_to_string(file).with_context(|| {
                    format!("{}: cannot read the delta as UTF-8 text", file.display())
                })?;
                let signature = std::fs::read_to_string(signature_path(file))
                    .ok()
                    .map(|s| s.trim().to_string());
                serde_json::to_vec(&DeltaEnvelope {
                    base: made.base,
                    version: made.version,
                    signature,
                    body,
                })?
            } else {
                let (list, format, body, signature) = load(file, public_key.as_deref())?;
                serde_json::to_vec(&Envelope { format, version: list.version, signature, body })?
            };
            let mut out = std::io::stdout().lock();
            if *compress {
                out.write_all(&envelope::compress(&json).context("compressing the envelope")?)?;
            } else {
                out.write_all(&json)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
