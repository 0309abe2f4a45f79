//! `anpr-edge models …`: install model files from a local folder, and check them.

use super::EngineArgs;
use anpr_edge::models::{self, InstallOutcome, Manifest};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ModelsCommand {
    /// Copy the manifest's models from local folders, checking every SHA-256.
    Install {
        /// Folders to take model files from (several allowed, first match wins).
        #[arg(long = "from", required = true)]
        from: Vec<PathBuf>,
        /// Where to install them.
        #[arg(long = "to")]
        to: PathBuf,
        /// Models that may be missing without failing (by manifest id).
        #[arg(long = "optional")]
        optional: Vec<String>,
    },
    /// Check that every model in the models folder has its pinned hash.
    Verify,
}

pub fn run(engine: &EngineArgs, command: &ModelsCommand) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::bundled()?;
    match command {
        ModelsCommand::Install { from, to, optional } => {
            let outcomes = models::install(&manifest, from, to)?;
            let mut failed = false;
            for (entry, outcome) in outcomes {
                match outcome {
                    InstallOutcome::Installed { from } => {
                        eprintln!("installed {} from {}", entry.file, from.display())
                    }
                    InstallOutcome::AlreadyPresent => {
                        eprintln!("{} already installed, hash checked", entry.file)
                    }
                    InstallOutcome::WrongHash { path, actual } => {
                        failed |= !optional.contains(&entry.id);
                        eprintln!("REJECTED {}: sha256 {actual}, expected {}; the file is not the pinned model", path.display(), entry.sha256);
                    }
                    InstallOutcome::NotFound if optional.contains(&entry.id) => {
                        eprintln!("optional {} not found in the given folders, skipped", entry.file)
                    }
                    InstallOutcome::NotFound => {
                        failed = true;
                        eprintln!(
                            "MISSING {} (sha256 {}): not in {}. It comes from: {}. No machine here can download it: copy it into one of those folders.",
                            entry.file,
                            entry.sha256,
                            from.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
                            entry.source
                        );
                    }
                }
            }
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        ModelsCommand::Verify => {
            let folder = models::locate_folder(engine.models.as_deref())?;
            let mut failed = false;
            for entry in &manifest.models {
                match models::read_verified(&folder, entry) {
                    Ok((path, _)) => eprintln!("ok {}", path.display()),
                    Err(error) => {
                        failed = true;
                        eprintln!("{error}");
                    }
                }
            }
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
    }
}
