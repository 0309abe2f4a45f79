//! `anpr-edge eval FOLDER`: accuracy and speed against ground truth.

use super::{progress_bar, EngineArgs};
use anpr_edge::eval::{self, report};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Folder of IMG.jpg files with IMG.txt ground truth.
    folder: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write an HTML page showing every miss with its crop.
    #[arg(long)]
    report: Option<PathBuf>,
}

pub fn run(engine: &EngineArgs, args: &EvalArgs) -> anyhow::Result<ExitCode> {
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
