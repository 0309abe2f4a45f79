//! `anpr-edge replay PATH`: reads from recorded material, printed as they come.

use super::{progress_bar, EngineArgs};
use anpr_edge::replay::{replay, FrameRead, ReplayEvent};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// An image, a folder of images, or a video file.
    path: PathBuf,
    /// One JSON object per line per read, then a JSON summary line.
    #[arg(long)]
    json: bool,
    /// Read only in the regions of interest of `[roi]` in this file (the unit's configuration,
    /// or a file with only that section).
    #[arg(long, value_name = "CONFIG")]
    roi: Option<PathBuf>,
}

pub fn run(engine: &EngineArgs, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let mut source = anpr_edge::source::open(&args.path)?;
    let mut recognizer = engine.load_recognizer()?;
    if let Some(file) = &args.roi {
        recognizer = recognizer.within(super::roi_cmd::load_regions(file)?);
    }
    let bar = progress_bar(source.len_hint());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_error = None;
    let summary = replay(source.as_mut(), &mut recognizer, |event| {
        bar.inc(1);
        let written = match event {
            ReplayEvent::Frame { frame, recognition, .. } => {
                recognition.reads.iter().try_for_each(|read| {
                    let record = FrameRead::new(frame, read.clone());
                    if args.json {
                        serde_json::to_writer(&mut out, &record).map_err(std::io::Error::other)?;
                        writeln!(out)
                    } else {
                        writeln!(
                            out,
                            "{}\tframe {}\t{}\tconfidence {:.2}\t{}",
                            record.origin,
                            record.frame,
                            record.read.plate.text,
                            record.read.plate.confidence,
                            record.read.plate.format.as_deref().unwrap_or("-")
                        )
                    }
                })
            }
            ReplayEvent::FrameFailed(error) => {
                bar.suspend(|| tracing::warn!(%error, "frame skipped"));
                Ok(())
            }
            ReplayEvent::RecognitionFailed { frame, error } => {
                bar.suspend(|| tracing::warn!(origin = %frame.origin, frame = frame.seq, %error, "recognition failed, frame skipped"));
                Ok(())
            }
        };
        if let Err(e) = written {
            write_error.get_or_insert(e);
        }
    });
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e).context("writing reads to standard output");
    }
    if args.json {
        serde_json::to_writer(&mut out, &serde_json::json!({ "summary": summary }))?;
        writeln!(out)?;
    } else {
        let outside = summary
            .plates_outside_roi
            .map_or(String::new(), |n| format!(", {n} plates outside the regions of interest"));
        writeln!(
            out,
            "{}: {} frames ({} failed), {} reads{outside} in {:.1} s, {:.1} frames/s",
            summary.source,
            summary.frames,
            summary.failed_frames,
            summary.reads,
            summary.seconds,
            summary.frames_per_second
        )?;
    }
    Ok(if summary.frames == 0 && summary.failed_frames > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
