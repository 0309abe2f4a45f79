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
    /// Print nothing when the file is valid, only the error when it is not (the unit's
    /// ExecStartPre: the journal gets the problem, not the whole configuration at every start).
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    anpr_edge::service::serve(&args.config)?;
    Ok(ExitCode::SUCCESS)
}

pub fn check_config(args: &CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.file)?;
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let effective = toml::to_string_pretty(&config)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# {}: valid. Effective configuration, defaults filled in:",
        args.file.display()
    )?;
    out.write_all(effective.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
