//! `anpr-edge eval FOLDER`: accuracy and speed against ground truth, on photographs, or on
//! video clips read as `run` reads them (vehicles read once, missed, repeated, phantoms).

use super::{progress_bar, EngineArgs};
use anpr_edge::config::Config;
use anpr_edge::eval::{self, report, video_report, VideoSettings};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Folder of IMG.jpg files with IMG.txt ground truth, or of video clips (NAME.mp4, any
    /// video FFmpeg opens) with NAME.txt listing the plates of their legible vehicles.
    folder: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write an HTML page showing every miss (on video: every miss, duplicate and
    /// phantom) with its frame and crop.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Video clips: run them with the [pipeline], [fusion], [roi] and [recognition] sections of
    /// this unit configuration (default: the defaults `run` has).
    #[arg(long, value_name = "CONFIG")]
    config: Option<PathBuf>,
}

pub fn run(engine: &EngineArgs, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let clips = eval::load_clips(&args.folder)?;
    if !clips.is_empty() {
        return run_video(engine, args, &clips);
    }
    anyhow::ensure!(
        args.config.is_none(),
        "--config is for video clips, and {} holds none with a NAME.txt beside it",
        args.folder.display()
    );
    let images = eval::load_folder(&args.folder)?;
    let configuration = engine.recognition_config()?;
    let mut recognizer = engine.load_recognizer()?;
    let bar = progress_bar(Some(images.len() as u64));
    let outcomes = eval::evaluate(&images, &mut recognizer, || bar.inc(1));
    bar.finish_and_clear();
    for outcome in outcomes.iter().filter(|o| o.error.is_some()) {
        tracing::warn!(image = %outcome.image, error = outcome.error.as_deref().unwrap_or_default(), "image skipped");
    }
    let summary = eval::score(&outcomes, recognizer.formats());
    if let Some(path) = &args.report {
        std::fs::write(path, report::render_html(&summary, &args.folder))
            .with_context(|| format!("writing the report {}", path.display()))?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        // the summary's own keys stay as they were; the configuration that made it is added
        let mut json = serde_json::to_value(&summary)?;
        json["configuration"] = serde_json::to_value(&configuration)?;
        serde_json::to_writer(&mut out, &json)?;
        writeln!(out)?;
    } else {
        let ocr = &configuration.ocr;
        writeln!(
            out,
            "ocr               {:?} first; ensemble {:?} (models {:?}, margins {:?}, accept {})",
            ocr.model,
            ocr.ensemble.mode,
            ocr.ensemble.models,
            ocr.ensemble.margins,
            ocr.ensemble.accept_probability
        )?;
        writeln!(out, "images            {} ({} failed)", summary.images, summary.failed_images)?;
        writeln!(out, "plates            {}", summary.plates)?;
        writeln!(out, "exact             {:.1}%", summary.exact * 100.0)?;
        writeln!(out, "char accuracy     {:.1}%", summary.char_accuracy * 100.0)?;
        writeln!(out, "detection recall  {:.1}% (IoU >= 0.5)", summary.det_recall * 100.0)?;
        writeln!(out, "extra reads       {}", summary.extra_reads)?;
        writeln!(
            out,
            "ms per image      median {:.1}, p95 {:.1} (OCR: median {:.1}, p95 {:.1})",
            summary.ms_median, summary.ms_p95, summary.ocr_ms_median, summary.ocr_ms_p95
        )?;
        let confusions: Vec<String> = summary
            .confusions
            .iter()
            .take(10)
            .map(|c| format!("{}→{} ×{}", c.truth, c.read, c.count))
            .collect();
        writeln!(
            out,
            "confusions        {}",
            if confusions.is_empty() { "none".into() } else { confusions.join(", ") }
        )?;
        for country in &summary.countries {
            writeln!(
                out,
                "country {:9} {:.1}% of {}",
                report::country_label(&country.country),
                country.exact * 100.0,
                country.plates
            )?;
        }
        for miss in &summary.misses {
            writeln!(
                out,
                "miss  {}  truth {}  read {}",
                miss.image,
                miss.truth,
                if miss.reads.is_empty() { "-".into() } else { miss.reads.join(",") }
            )?;
        }
    }
    Ok(if summary.images == summary.failed_images { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn run_video(
    engine: &EngineArgs,
    args: &EvalArgs,
    clips: &[eval::ClipTruth],
) -> anyhow::Result<ExitCode> {
    let mut settings = VideoSettings { images: args.report.is_some(), ..VideoSettings::default() };
    let mut recognizer = match &args.config {
        Some(path) => {
            let config = Config::load(path)?;
            settings.pipeline = config.pipeline;
            settings.fusion = config.fusion;
            settings.roi = config.roi.clone();
            engine.load_recognizer_with(&config.recognition)?.within(config.roi)
        }
        None => engine.load_recognizer()?,
    };
    let bar = progress_bar(Some(clips.len() as u64));
    let outcomes: Vec<eval::ClipOutcome> = clips
        .iter()
        .map(|clip| {
            let outcome = eval::evaluate_clip(clip, &mut recognizer, &settings);
            bar.inc(1);
            outcome
        })
        .collect();
    bar.finish_and_clear();
    for outcome in outcomes.iter().filter(|o| o.error.is_some()) {
        tracing::warn!(clip = %outcome.truth.clip.display(), error = outcome.error.as_deref().unwrap_or_default(), "clip not run: its vehicles count as missed");
    }
    let summary = eval::summarise(&outcomes);
    if let Some(path) = &args.report {
        std::fs::write(path, video_report::render_html(&outcomes, &summary))
            .with_context(|| format!("writing the report {}", path.display()))?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let mut json = serde_json::to_value(&summary)?;
        json["fusion"] = serde_json::to_value(&settings.fusion)?;
        serde_json::to_writer(&mut out, &json)?;
        writeln!(out)?;
    } else {
        for clip in &summary.per_clip {
            let list = |v: &[String]| if v.is_empty() { "-".into() } else { v.join(",") };
            writeln!(
                out,
                "{:28} {} of {} vehicles read once; missed {}; duplicated {}; phantoms {}{}",
                clip.clip,
                clip.read_once,
                clip.vehicles,
                list(&clip.missed),
                list(&clip.duplicates),
                list(&clip.phantoms),
                clip.error.as_ref().map_or(String::new(), |e| format!(" (not run: {e})"))
            )?;
        }
        writeln!(out, "{}", summary.totals())?;
    }
    let all_failed = outcomes.iter().all(|o| o.error.is_some());
    Ok(if all_failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
