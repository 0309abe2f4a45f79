//! The frame budget (issue 29 §1, docs/frame-cost.md): one video, a file or an RTSP stream,
//! through the per-frame path of `replay` plus fusion, with the time of every stage.
//!
//! Each stage is timed where the library does it: the sources, the detector and the OCR open
//! `trace` spans of target `anpr_edge::stage` (colour, letterbox, detector, crops, ocr) that this
//! bench's subscriber sums; demux and decode is the source's own time without its colour span,
//! and fusion is `Fuser::observe`, timed here. What no stage holds (country formats, the
//! ensemble's vote, regions of interest, the frame's bookkeeping) is `other`: the whole path
//! minus the sum of the stages. The first frame warms the models up and is not counted.
//!
//! Prints one JSON line: `source`, `resolution`, `frames`, `ms_per_frame`, `cpu_s` (process CPU
//! over the counted frames), `stages` (ms per frame), `vehicles` (the fused reads, to show the
//! path read what it should). `benches/frame_cost.sh` runs it beside the peer.
//!
//!   FRAME_COST_SOURCE=VIDEO_OR_RTSP_URL cargo bench --bench frame_cost
//!
//! Without FRAME_COST_SOURCE it reads the 720p roundabout clip of ../shared/data/real-video.
//! ANPR_BENCH_THREADS sets ONNX Runtime's threads (default 2, as the peer's), ANPR_BENCH_SPIN=1
//! lets its idle threads spin, ANPR_BENCH_DETECTOR picks the detector file (`int8`, `f32`,
//! `f32-384`, ...; default the configuration's): the detector's options, on the same frames.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use anpr_edge::detect::DetectorModel;
use anpr_edge::frame::Frame;
use anpr_edge::fuse::{Fuser, FusionConfig};
use anpr_edge::recognizer::{RecognitionConfig, Recognizer};
use anpr_edge::replay::{replay, ReplayEvent};
use anpr_edge::runtime::{self, RuntimeOptions};
use anpr_edge::source::{self, FrameError, FrameSource, RtspStream, StreamConfig};
use clap::ValueEnum;
use rustix::time::{clock_gettime, ClockId};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::span::Id;
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The target of the library's stage spans.
const STAGE_TARGET: &str = "anpr_edge::stage";

/// Time spent inside each stage span, by span name, summed over every thread.
#[derive(Clone, Default)]
struct StageClock {
    totals: Arc<Mutex<BTreeMap<&'static str, Duration>>>,
}

/// When the span was entered, kept in the span's extensions.
struct Entered(Instant);

impl StageClock {
    fn take(&self) -> BTreeMap<&'static str, Duration> {
        std::mem::take(&mut *self.totals.lock().unwrap())
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StageClock {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.is_span() && metadata.target() == STAGE_TARGET {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.is_span() && metadata.target() == STAGE_TARGET
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Entered(Instant::now()));
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(Entered(at)) = span.extensions_mut().remove::<Entered>() {
                *self.totals.lock().unwrap().entry(span.name()).or_default() += at.elapsed();
            }
        }
    }
}

/// The source, its time per frame (demux, decode, colour), and its end: a live stream ends
/// at its first lost frame, which is the server's end of the clip.
struct Timed {
    inner: Box<dyn FrameSource>,
    /// Nanoseconds in `next_frame`, shared with the loop that resets it after the first frame.
    spent: Arc<AtomicU64>,
    ended: bool,
}

impl FrameSource for Timed {
    fn describe(&self) -> &str {
        self.inner.describe()
    }

    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }

    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        if self.ended {
            return None;
        }
        let started = Instant::now();
        let next = self.inner.next_frame();
        self.spent.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        match next {
            Some(Err(error)) if self.inner.is_live() => {
                eprintln!("frame_cost: the stream ended ({error})");
                self.ended = true;
                None
            }
            next => next,
        }
    }
}

fn process_cpu() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn open(source: &str) -> Box<dyn FrameSource> {
    if source.starts_with("rtsp://") {
        Box::new(RtspStream::open(source, StreamConfig::default()).expect("open the stream"))
    } else {
        source::open(&PathBuf::from(source)).expect("open the video")
    }
}

fn ms(d: Duration, frames: u64) -> f64 {
    d.as_secs_f64() * 1000.0 / frames.max(1) as f64
}

fn main() {
    let source = std::env::var("FRAME_COST_SOURCE").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/real-video/uk-roundabout.mp4").into()
    });
    if !source.starts_with("rtsp://") && !PathBuf::from(&source).is_file() {
        eprintln!("frame_cost skipped: {source} is absent");
        return;
    }
    let clock = StageClock::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(clock.clone()))
        .expect("the only subscriber");
    let threads = std::env::var("ANPR_BENCH_THREADS").ok().and_then(|t| t.parse().ok());
    let options = RuntimeOptions {
        library: std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from),
        threads: threads.unwrap_or(2),
        spin: std::env::var("ANPR_BENCH_SPIN").is_ok_and(|s| s == "1"),
    };
    let environment = runtime::init(&options).expect("ONNX Runtime: run scripts/setup.sh");
    let models = std::env::var_os("ANPR_MODELS_DIR").map(PathBuf::from);
    let models = anpr_edge::models::locate_folder(models.as_deref()).expect("models folder");
    let mut config = RecognitionConfig::default();
    if let Ok(name) = std::env::var("ANPR_BENCH_DETECTOR") {
        config.detector.model = DetectorModel::from_str(&name, true).expect("ANPR_BENCH_DETECTOR");
    }
    let mut recognizer = Recognizer::load(&environment, &models, &config).expect("load the models");
    let mut fuser: Fuser<()> = Fuser::new(FusionConfig::default());

    let source_time = Arc::new(AtomicU64::new(0));
    let mut timed = Timed { inner: open(&source), spent: Arc::clone(&source_time), ended: false };
    let mut resolution = None;
    let mut counted = 0u64;
    let mut fusion = Duration::ZERO;
    let mut vehicles = Vec::new();
    let (mut started, mut cpu_started) = (Instant::now(), process_cpu());
    let summary = replay(&mut timed, &mut recognizer, |event| {
        let ReplayEvent::Frame { frame, recognition, .. } = event else { return };
        let at = Instant::now();
        let reads = recognition.reads.iter().map(|r| (r.clone(), ())).collect();
        let due = fuser.observe(frame.monotonic, frame.seq, reads).due;
        fusion += at.elapsed();
        vehicles.extend(due.into_iter().map(|f| f.best.plate.text));
        if resolution.is_none() {
            // The first frame warmed the models up; counting starts after it.
            resolution = Some(format!("{}x{}", frame.image.width(), frame.image.height()));
            clock.take();
            (fusion, started, cpu_started) = (Duration::ZERO, Instant::now(), process_cpu());
            source_time.store(0, Ordering::Relaxed);
        } else {
            counted += 1;
        }
    });
    let (wall, cpu) = (started.elapsed(), process_cpu() - cpu_started);
    vehicles.extend(fuser.flush().into_iter().map(|f| f.best.plate.text));
    assert!(counted > 0, "{source}: no frame after the first ({summary:?})");

    let spans = clock.take();
    let span = |name: &str| spans.get(name).copied().unwrap_or_default();
    let decode =
        Duration::from_nanos(source_time.load(Ordering::Relaxed)).saturating_sub(span("colour"));
    let stages = [
        ("decode", decode),
        ("colour", span("colour")),
        ("letterbox", span("letterbox")),
        ("detector", span("detector")),
        ("crops", span("crops")),
        ("ocr", span("ocr")),
        ("fusion", fusion),
    ];
    let sum: Duration = stages.iter().map(|(_, d)| *d).sum();
    let mut per_frame: serde_json::Map<String, serde_json::Value> =
        stages.iter().map(|(name, d)| (name.to_string(), ms(*d, counted).into())).collect();
    // Negative only when the stages overlapped the whole path, which this loop never does.
    let other = (wall.as_secs_f64() - sum.as_secs_f64()) * 1000.0 / counted as f64;
    per_frame.insert("other".into(), other.into());
    let line = serde_json::json!({
        "source": timed.describe(),
        "resolution": resolution,
        "frames": counted,
        "ms_per_frame": ms(wall, counted),
        "cpu_s": cpu.as_secs_f64(),
        "stages": per_frame,
        "failed_frames": summary.failed_frames,
        "vehicles": vehicles,
    });
    println!("{line}");
}
