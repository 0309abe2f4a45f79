//! Command-line interface: argument parsing and one function per subcommand.

mod command_cmd;
mod daemon_cmd;
mod eval_cmd;
mod hotlist_cmd;
mod models_cmd;
mod privacy_cmd;
mod replay_cmd;
mod roi_cmd;
mod verify_cmd;

use anpr_edge::detect::DetectorModel;
use anpr_edge::ocr::{EnsembleMode, OcrModel};
use anpr_edge::recognizer::{RecognitionConfig, Recognizer};
use anpr_edge::runtime::{self, RuntimeOptions};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "anpr-edge", version, about = "Edge ANPR: reads number plates on the device")]
struct Cli {
    #[command(flatten)]
    engine: EngineArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the models and the runtime are, and how they run.
#[derive(clap::Args)]
struct EngineArgs {
    /// Folder holding the model files (default: the installed models folder).
    #[arg(long, env = "ANPR_MODELS_DIR", global = true)]
    models: Option<PathBuf>,
    /// The ONNX Runtime library, libonnxruntime.so (default: the installed one).
    #[arg(long, env = "ORT_DYLIB_PATH", global = true)]
    ort_lib: Option<PathBuf>,
    /// Inference threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Let idle inference threads spin before sleeping: lower latency, more CPU burnt.
    #[arg(long, global = true)]
    spin: bool,
    /// Plate detector model.
    #[arg(long, value_enum, global = true)]
    detector: Option<DetectorModel>,
    /// Plate OCR model.
    #[arg(long, value_enum, global = true)]
    ocr: Option<OcrModel>,
    /// Minimum detector score (0..1).
    #[arg(long, global = true)]
    min_score: Option<f32>,
    /// When the OCR ensemble reads a plate again (`recognition.ocr.ensemble.mode`).
    #[arg(long, value_enum, global = true)]
    ensemble: Option<EnsembleMode>,
    /// Models of the ensemble's further reads, e.g. `v2,v1`.
    #[arg(long, value_enum, value_delimiter = ',', global = true)]
    ensemble_models: Option<Vec<OcrModel>>,
    /// Crop margins of the ensemble's reads, fractions of the box, e.g. `0,0.08`.
    #[arg(long, value_delimiter = ',', global = true, allow_negative_numbers = true)]
    ensemble_margins: Option<Vec<f32>>,
    /// Plate probability at which the cascade takes the first read (0..1).
    #[arg(long, global = true)]
    ensemble_accept: Option<f32>,
}

impl EngineArgs {
    fn recognition_config(&self) -> anyhow::Result<RecognitionConfig> {
        let mut config = RecognitionConfig::default();
        if let Some(model) = self.detector {
            config.detector.model = model;
        }
        if let Some(model) = self.ocr {
            config.ocr.model = model;
        }
        if let Some(score) = self.min_score {
            anyhow::ensure!((0.0..=1.0).contains(&score), "--min-score {score} is outside 0..1");
            config.detector.min_score = score;
        }
        let ensemble = &mut config.ocr.ensemble;
        if let Some(mode) = self.ensemble {
            ensemble.mode = mode;
        }
        if let Some(models) = &self.ensemble_models {
            ensemble.models = models.clone();
        }
        if let Some(margins) = &self.ensemble_margins {
            ensemble.margins = margins.clone();
        }
        if let Some(p) = self.ensemble_accept {
            ensemble.accept_probability = p;
        }
        if let Some(issue) = config.ocr.issues().into_iter().next() {
            anyhow::bail!("the --ensemble options: {}", issue.under("recognition.ocr"));
        }
        Ok(config)
    }

    fn load_recognizer(&self) -> anyhow::Result<Recognizer> {
        self.load_recognizer_with(&self.recognition_config()?)
    }

    /// The models as `recognition` configures them (a unit's `[recognition]`), on this
    /// command line's runtime options.
    fn load_recognizer_with(&self, recognition: &RecognitionConfig) -> anyhow::Result<Recognizer> {
        let options = RuntimeOptions {
            library: self.ort_lib.clone(),
            threads: self.threads.unwrap_or_else(runtime::default_threads),
            spin: self.spin,
        };
        let environment = runtime::init(&options)?;
        let models = anpr_edge::models::locate_folder(self.models.as_deref())?;
        let recognizer = Recognizer::load(&environment, &models, recognition)
            .with_context(|| format!("loading the models from {}", models.display()))?;
        Ok(recognizer)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Read plates from an image, a folder of images or a video; one line per read.
    Replay(replay_cmd::ReplayArgs),
    /// Score reads against ground truth (openalpr-benchmarks format).
    Eval(eval_cmd::EvalArgs),
    /// Run the unit: capture, read, fuse and deliver reads as the configuration says.
    Run(daemon_cmd::RunArgs),
    /// Check a configuration file: print the effective configuration, or what is wrong.
    CheckConfig(daemon_cmd::CheckConfigArgs),
    /// What leaves the device for hits, non-hits and allow-listed reads, retention, purpose.
    PrivacyReport(privacy_cmd::PrivacyReportArgs),
    /// Check a signed read (and its images) against the unit's public key.
    Verify(verify_cmd::VerifyArgs),
    /// Install and check model files.
    #[command(subcommand)]
    Models(models_cmd::ModelsCommand),
    /// Check the regions of interest: draw them over a frame of the camera.
    #[command(subcommand)]
    Roi(roi_cmd::RoiCommand),
    /// Check a hotlist, or wrap it into the MQTT envelope.
    #[command(subcommand)]
    Hotlist(hotlist_cmd::HotlistCommand),
    /// Make, wrap or check a signed command for a unit or the fleet.
    #[command(subcommand, name = "command")]
    Control(command_cmd::CommandCommand),
}

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            // ONNX Runtime's own log is very chatty at info level: keep it at warn unless asked.
            tracing_subscriber::EnvFilter::try_new(format!(
                "ort=warn,{}",
                std::env::var("ANPR_LOG").unwrap_or_else(|_| "warn".into())
            ))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Replay(args) => replay_cmd::run(&cli.engine, args),
        Command::Eval(args) => eval_cmd::run(&cli.engine, args),
        Command::Models(command) => models_cmd::run(&cli.engine, command),
        Command::Run(args) => daemon_cmd::run(args),
        Command::CheckConfig(args) => daemon_cmd::check_config(args),
        Command::PrivacyReport(args) => privacy_cmd::run(args),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Roi(command) => roi_cmd::run(command),
        Command::Hotlist(command) => hotlist_cmd::run(command),
        Command::Control(command) => command_cmd::run(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("anpr-edge: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A progress bar on a terminal, nothing when stderr is piped.
fn progress_bar(len: Option<u64>) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} {msg}")
    {
        bar.set_style(style);
    }
    bar
}
