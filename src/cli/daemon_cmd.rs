//! `anpr-edge run --config FILE` and `anpr-edge check-config FILE`.

use anpr_edge::config::Config;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(long, short, default_value = "/etc/anpr-edge/anpr-edge.toml")]
    config: PathBuf,
}

#[derive(clap::Args)]
pub struct CheckConfigArgs {
    /// The configuration file to check.
    file: PathBuf,
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    anpr_edge::daemon::run(&config)?;
    Ok(ExitCode::SUCCESS)
}

pub fn check_config(args: &CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.file)?;
    let effective = toml::to_string_pretty(&config)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "# {}: valid. Effective configuration, defaults filled in:", args.file.display())?;
    out.write_all(effective.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
