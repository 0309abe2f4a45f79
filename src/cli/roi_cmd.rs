//! `anpr-edge roi preview`: the regions of interest drawn over a frame of the camera, for an
//! installer to check them; and the `[roi]` section read on its own for `replay --roi`.

use anpr_edge::config::Config;
use anpr_edge::roi::RoiConfig;
use anyhow::Context;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum RoiCommand {
    /// Draw the regions of `[roi]` over one frame and write the picture (JPEG or PNG).
    Preview(PreviewArgs),
}

#[derive(clap::Args)]
pub struct PreviewArgs {
    /// The configuration with the `[roi]` section (without `--frame`, its `[source]` gives
    /// the frame).
    #[arg(long, short)]
    config: PathBuf,
    /// An image or a video to take the frame from (its first) instead of the configured source.
    #[arg(long)]
    frame: Option<PathBuf>,
    /// Where to write the picture; `.jpg` or `.png`.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(command: &RoiCommand) -> anyhow::Result<ExitCode> {
    match command {
        RoiCommand::Preview(args) => preview(args),
    }
}

fn preview(args: &PreviewArgs) -> anyhow::Result<ExitCode> {
    let roi = load_regions(&args.config)?;
    let mut source = match &args.frame {
        Some(path) => anpr_edge::source::open(path)
            .with_context(|| format!("opening --frame {}", path.display()))?,
        None => anpr_edge::daemon::open_source(&Config::load(&args.config)?.source)?,
    };
    let frame = loop {
        match source.next_frame() {
            Some(Ok(frame)) => break frame,
            Some(Err(error)) => tracing::warn!(%error, "frame lost, taking the next"),
            None => anyhow::bail!("{}: no frame came from the source", source.describe()),
        }
    };
    let mut image = frame.image;
    let (width, height) = image.dimensions();
    let Some(regions) = roi.for_frame(width, height) else {
        anyhow::bail!(
            "{}: no [[roi.regions]]: the whole frame counts, there is nothing to draw",
            args.config.display()
        );
    };
    let beyond = regions.beyond_frame();
    if !beyond.is_empty() {
        tracing::warn!(regions = ?beyond, width, height, "regions with corners outside this {width}×{height} frame: check their units");
    }
    anpr_edge::roi::draw::draw(&mut image, &regions).context("drawing the regions")?;
    image.save(&args.out).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "{}: {} region(s) over frame {} of {} ({width}×{height})",
        args.out.display(),
        regions.named().len(),
        frame.seq,
        frame.origin
    );
    Ok(ExitCode::SUCCESS)
}

/// The `[roi]` of `path`, checked: the unit's whole configuration, or a file that holds only
/// that section (other sections are not looked at).
pub fn load_regions(path: &Path) -> anyhow::Result<RoiConfig> {
    #[derive(Deserialize)]
    struct OnlyRoi {
        #[serde(default)]
        roi: RoiConfig,
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the configuration", path.display()))?;
    let only: OnlyRoi = toml::from_str(&text)
        .with_context(|| format!("{}: [roi] does not parse", path.display()))?;
    let issues: Vec<String> =
        anpr_edge::config_issue::under("roi", only.roi.issues()).map(|i| i.to_string()).collect();
    anyhow::ensure!(issues.is_empty(), "{}: {}", path.display(), issues.join("\n  "));
    Ok(only.roi)
}
