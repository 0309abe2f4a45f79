//! `anpr-edge privacy-report --config FILE [--json]`: the privacy sheet of a configuration.

use anpr_edge::config::Config;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PrivacyReportArgs {
    /// The configuration file.
    #[arg(long, short, default_value = "/etc/anpr-edge/anpr-edge.toml")]
    config: PathBuf,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &PrivacyReportArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let sheet = anpr_edge::privacy_sheet::sheet(&config);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &sheet)?;
        writeln!(out)?;
    } else {
        out.write_all(anpr_edge::privacy_sheet::render_text(&sheet).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
