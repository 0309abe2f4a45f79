//! `anpr-edge hotlist …`: check a list as the unit would, and wrap it into the MQTT envelope.

use anpr_edge::hotlist::live::signature_path;
use anpr_edge::hotlist::{Action, Envelope, Format, Hotlist};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum HotlistCommand {
    /// Validate a list (CSV, or JSON when it ends in .json) and its signature, as the unit does.
    Check {
        file: PathBuf,
        /// Require a valid signature by this Ed25519 public key (PEM); it is in FILE.sig.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Print the MQTT envelope of a list for a retained publish on <prefix>/<device>/hotlist
    /// or <prefix>/fleet/hotlist (the signature, if any, taken from FILE.sig).
    Envelope {
        file: PathBuf,
        /// Check the signature with this Ed25519 public key (PEM) before wrapping.
        #[arg(long)]
        public_key: Option<PathBuf>,
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

pub fn run(command: &HotlistCommand) -> anyhow::Result<ExitCode> {
    match command {
        HotlistCommand::Check { file, public_key } => {
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
        HotlistCommand::Envelope { file, public_key } => {
            let (list, format, body, signature) = load(file, public_key.as_deref())?;
            println!(
                "{}",
                serde_json::to_string(&Envelope {
                    format,
                    version: list.version,
                    signature,
                    body
                })?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
