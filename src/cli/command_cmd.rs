//! `anpr-edge command …`: the operator's side of the control plane. `sign` makes a command and
//! signs it with the operator's key; `envelope` wraps a command signed elsewhere (an offline
//! machine, `openssl pkeyutl -sign -rawin`), as `hotlist envelope` does for lists; `check` says
//! whether a unit would take an envelope, with the same gate the unit runs.

use anpr_edge::control::{Action, Arrival, Command, CommandGate, Envelope, Target};
use anpr_edge::device_id::DeviceId;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

#[derive(clap::Subcommand)]
pub enum CommandCommand {
    /// Make a command and print its signed envelope, to publish (not retained) on
    /// <prefix>/<device>/control, or <prefix>/fleet/control with --target fleet.
    Sign {
        /// The operator's Ed25519 private key (PEM), whose public half is the units'
        /// control.public_key.
        #[arg(long)]
        key: PathBuf,
        /// A unit's device.id, or `fleet`.
        #[arg(long)]
        target: String,
        #[arg(long, value_enum)]
        action: CliAction,
        /// With `--action config`: the complete new configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// How long the command stays valid (the unit refuses it afterwards; at most a day).
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
    /// Wrap a command JSON file and its signature (FILE.sig, base64) into an envelope.
    Envelope { file: PathBuf },
    /// Whether the unit `--device` would take this envelope now, and if not why.
    Check {
        file: PathBuf,
        #[arg(long)]
        public_key: PathBuf,
        #[arg(long)]
        device: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CliAction {
    Status,
    Snapshot,
    Config,
}

impl From<CliAction> for Action {
    fn from(action: CliAction) -> Self {
        match action {
            CliAction::Status => Action::Status,
            CliAction::Snapshot => Action::Snapshot,
            CliAction::Config => Action::Config,
        }
    }
}

pub fn run(command: &CommandCommand) -> anyhow::Result<ExitCode> {
    match command {
        CommandCommand::Sign { key, target, action, config, ttl } => {
            let key = anpr_edge::signing::load_signing_key(key)?;
            let target =
                if target == "fleet" { Target::Fleet } else { Target::Unit(target.clone()) };
            let mut command = Command::new(target, (*action).into(), SystemTime::now(), *ttl);
            command.config = match (action, config) {
                (CliAction::Config, Some(path)) => {
                    Some(std::fs::read_to_string(path).with_context(|| {
                        format!("{}: cannot read the configuration", path.display())
                    })?)
                }
                (CliAction::Config, None) => anyhow::bail!("--action config needs --config FILE"),
                (_, Some(_)) => anyhow::bail!("--config goes with --action config only"),
                (_, None) => None,
            };
            println!("{}", serde_json::to_string(&Envelope::signed(&command, &key)?)?);
        }
        CommandCommand::Envelope { file } => {
            let body = std::fs::read_to_string(file)
                .with_context(|| format!("{}: cannot read the command", file.display()))?;
            serde_json::from_str::<Command>(&body)
                .with_context(|| format!("{}: not a command", file.display()))?;
            // FILE.sig beside it, as for hotlists.
            let sig = anpr_edge::hotlist::live::signature_path(file);
            let signature = std::fs::read_to_string(&sig)
                .with_context(|| format!("{}: no signature beside the command", sig.display()))?;
            let envelope = Envelope { body, signature: Some(signature.trim().to_string()) };
            println!("{}", serde_json::to_string(&envelope)?);
        }
        CommandCommand::Check { file, public_key, device } => {
            let key = anpr_edge::signing::load_verifying_key(public_key)?;
            let payload = std::fs::read(file)
                .with_context(|| format!("{}: cannot read the envelope", file.display()))?;
            let envelope: Envelope = serde_json::from_slice(&payload)
                .with_context(|| format!("{}: not a command envelope", file.display()))?;
            let target = serde_json::from_str::<Command>(&envelope.body).map(|c| c.target);
            let arrival =
                if matches!(target, Ok(Target::Fleet)) { Arrival::Fleet } else { Arrival::Unit };
            let unit: DeviceId = device.parse().with_context(|| format!("--device {device}"))?;
            let mut gate = CommandGate::new(Some(key), &unit);
            match gate.admit(arrival, &payload, SystemTime::now()) {
                Ok(command) => println!(
                    "{}: unit {device} takes it: {:?} {}, expires {}",
                    file.display(),
                    command.action,
                    command.id,
                    command.expires_at
                ),
                Err(refused) => {
                    anyhow::bail!(
                        "{}: unit {device} refuses it: {}",
                        file.display(),
                        refused.reason
                    )
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
