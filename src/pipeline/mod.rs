//! The live pipeline: capture → queue → recognise → fuse → records → sink.
//!
//! Capture runs on its own thread and never waits (the [`FrameQueue`] drops its oldest frame
//! when recognition falls behind); recognition, fusion and record building run on the calling
//! thread; the sink (MQTT, or stdout) must not block either. Shutdown is a flag checked between
//! frames: capture stops, the queue drains, fusion flushes its tracks, so no read already seen
//! is lost on a clean stop.

pub mod frame_queue;
pub mod sink;
pub mod stamp;

pub use frame_queue::{FrameQueue, Pop};
pub use sink::{Outgoing, OutgoingImage, ReadSink};
pub use stamp::ReadStamp;

use crate::frame::Frame;
use crate::fuse::{FusedRead, Fuser, FusionConfig};
use crate::imaging::encode_jpeg;
use crate::models::sha256_hex;
use crate::read_record::{new_read_id, FrameTimes, Identity, ImageRef, Images, ReadRecord};
use crate::recognizer::{PlateRead, Recognizer};
use crate::source::FrameSource;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Frames waiting between capture and recognition; when full the oldest is dropped.
    pub frame_queue: usize,
    /// Replay a video file at its own frame rate (as a camera would deliver it) instead of as
    /// fast as recognition goes.
    pub realtime: bool,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self { frame_queue: 4, realtime: false }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageConfig {
    /// Attach the overview frame (JPEG) to each read.
    pub overview: bool,
    /// Overview frames wider than this are scaled down.
    pub overview_max_width: u32,
    /// Attach the plate crop (JPEG) to each read.
    pub plate_crop: bool,
    pub jpeg_quality: u8,
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self { overview: true, overview_max_width: 1280, plate_crop: true, jpeg_quality: 85 }
    }
}

/// Counters the status heartbeat reports; shared with the capture thread.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub frames_captured: AtomicU64,
    pub frames_failed: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub frames_recognised: AtomicU64,
    pub recognition_errors: AtomicU64,
    pub reads_emitted: AtomicU64,
    pub image_errors: AtomicU64,
    /// Frames waiting for recognition right now.
    pub queue_depth: AtomicU64,
    /// Vehicles being followed by fusion right now.
    pub active_tracks: AtomicU64,
    /// Time spent in recognition (detector + OCR + formats), in total and on the last frame, µs.
    pub inference_us_total: AtomicU64,
    pub inference_us_last: AtomicU64,
}

impl PipelineStats {
    pub fn snapshot(&self) -> serde_json::Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "frames_captured": get(&self.frames_captured),
            "frames_failed": get(&self.frames_failed),
            "frames_dropped": get(&self.frames_dropped),
            "frames_recognised": get(&self.frames_recognised),
            "recognition_errors": get(&self.recognition_errors),
            "reads_emitted": get(&self.reads_emitted),
            "image_errors": get(&self.image_errors),
            "queue_depth": get(&self.queue_depth),
            "active_tracks": get(&self.active_tracks),
            "inference_seconds": get(&self.inference_us_total) as f64 / 1e6,
            "inference_ms_last": get(&self.inference_us_last) as f64 / 1e3,
        })
    }
}

/// What the best frame of a track carries until its read is emitted.
type Evidence = Arc<Frame>;

/// Runs `source` through the pipeline until the source ends or `stop` is set. `alive` is called
/// at least every `tick` while the pipeline makes progress (the systemd watchdog is fed from it,
/// so a hung recognition stops the feeding).
#[allow(clippy::too_many_arguments)]
pub fn run(
    source: Box<dyn FrameSource>,
    recognizer: &mut Recognizer,
    identity: &Identity,
    stamp: &ReadStamp,
    config: &PipelineConfig,
    fusion: &FusionConfig,
    images: &ImageConfig,
    sink: &mut dyn ReadSink,
    stop: &Arc<AtomicBool>,
    stats: &Arc<PipelineStats>,
    mut alive: impl FnMut(),
) {
    let queue = Arc::new(FrameQueue::new(config.frame_queue));
    let capture = spawn_capture(source, Arc::clone(&queue), Arc::clone(stop), Arc::clone(stats), config.realtime);
    let mut fuser: Fuser<Evidence> = Fuser::new(fusion.clone());
    let tick = Duration::from_millis(200);
    let started = Instant::now();
    let mut last_monotonic = Duration::ZERO;
    let mut last_frame_at = Instant::now();
    loop {
        alive();
        match queue.pop(tick) {
            Pop::Frame(frame) => {
                last_monotonic = frame.monotonic;
                last_frame_at = Instant::now();
                let frame = Arc::new(frame);
                let recognition_started = Instant::now();
                let recognised = recognizer.recognize(&frame.image);
                let micros = recognition_started.elapsed().as_micros() as u64;
                stats.inference_us_total.fetch_add(micros, Ordering::Relaxed);
                stats.inference_us_last.store(micros, Ordering::Relaxed);
                let reads = match recognised {
                    Ok(recognition) => recognition.reads,
                    Err(error) => {
                        stats.recognition_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(origin = %frame.origin, frame = frame.seq, %error, "recognition failed, frame skipped");
                        Vec::new()
                    }
                };
                stats.frames_recognised.fetch_add(1, Ordering::Relaxed);
                let observations: Vec<(PlateRead, Evidence)> = reads.into_iter().map(|r| (r, Arc::clone(&frame))).collect();
                let due = fuser.observe(frame.monotonic, frame.seq, observations);
                emit(due, identity, stamp, images, sink, stats);
            }
            Pop::Timeout => {
                // No frame: time still passes for the vehicles being tracked (source time runs
                // on from the last frame at the wall clock's pace).
                let now = last_monotonic + last_frame_at.elapsed();
                emit(fuser.tick(now), identity, stamp, images, sink, stats);
            }
            Pop::Closed => break,
        }
        let queue_stats = queue.stats();
        stats.frames_dropped.store(queue_stats.dropped_oldest, Ordering::Relaxed);
        stats.queue_depth.store(queue_stats.depth as u64, Ordering::Relaxed);
        stats.active_tracks.store(fuser.active_tracks() as u64, Ordering::Relaxed);
    }
    emit(fuser.flush(), identity, stamp, images, sink, stats);
    if capture.join().is_err() {
        tracing::error!("the capture thread panicked");
    }
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "pipeline stopped");
}

fn spawn_capture(
    mut source: Box<dyn FrameSource>,
    queue: Arc<FrameQueue>,
    stop: Arc<AtomicBool>,
    stats: Arc<PipelineStats>,
    realtime: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || {
            // A recording replayed as fast as possible must not lose frames to its own speed.
            let live = source.is_live() || realtime;
            let started = Instant::now();
            let mut first_media_time = None;
            while !stop.load(Ordering::Relaxed) {
                match source.next_frame() {
                    Some(Ok(frame)) => {
                        if realtime {
                            if let Some(media_time) = frame.media_time {
                                let offset = *first_media_time.get_or_insert(media_time);
                                let due = media_time.saturating_sub(offset);
                                if let Some(wait) = due.checked_sub(started.elapsed()) {
                                    std::thread::sleep(wait);
                                }
                            }
                        }
                        stats.frames_captured.fetch_add(1, Ordering::Relaxed);
                        if live {
                            queue.push(frame);
                        } else if queue.push_wait(frame, || stop.load(Ordering::Relaxed), Duration::from_millis(100)).is_err() {
                            break;
                        }
                    }
                    Some(Err(error)) => {
                        stats.frames_failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%error, "frame lost");
                    }
                    None => {
                        tracing::info!(source = source.describe(), "source ended");
                        break;
                    }
                }
            }
            queue.close();
        })
        .unwrap_or_else(|e| {
            // Without a capture thread nothing can be read: make that loud, then let the
            // pipeline see a closed queue and stop.
            tracing::error!(error = %e, "cannot start the capture thread");
            std::thread::spawn(|| {})
        })
}

fn emit(due: Vec<FusedRead<Evidence>>, identity: &Identity, stamp: &ReadStamp, images: &ImageConfig, sink: &mut dyn ReadSink, stats: &PipelineStats) {
    for fused in due {
        let outgoing = build_outgoing(&fused, identity, stamp, images, sink, stats);
        stats.reads_emitted.fetch_add(1, Ordering::Relaxed);
        sink.deliver(outgoing);
    }
}

/// The record and its images. A failed image encoding costs the image, never the read.
fn build_outgoing(
    fused: &FusedRead<Evidence>,
    identity: &Identity,
    stamp: &ReadStamp,
    config: &ImageConfig,
    sink: &dyn ReadSink,
    stats: &PipelineStats,
) -> Outgoing {
    let read_id = new_read_id();
    let frame = &fused.best_payload;
    let mut attached = Vec::new();
    let mut refs = Images::default();
    let mut encode = |kind: &'static str, rect: Option<(u32, u32, u32, u32)>, max_width: u32| -> Option<ImageRef> {
        let rect = rect?;
        match encode_jpeg(&frame.image, rect, max_width, config.jpeg_quality) {
            Ok((jpeg, width, height)) => {
                let topic = sink.image_topic(&read_id, kind);
                let reference = ImageRef { topic: topic.clone(), sha256: sha256_hex(&jpeg), bytes: jpeg.len(), width, height };
                attached.push(OutgoingImage { kind, topic, jpeg });
                Some(reference)
            }
            Err(error) => {
                stats.image_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%read_id, kind, %error, "image not encoded; the read goes without it");
                None
            }
        }
    };
    let (w, h) = (frame.image.width(), frame.image.height());
    if config.overview {
        refs.overview = encode("overview", Some((0, 0, w, h)), config.overview_max_width);
    }
    if config.plate_crop {
        refs.plate = encode("plate", fused.best.bbox.pixel_rect(w, h), u32::MAX);
    }
    let times = FrameTimes { captured_at: frame.captured_at, monotonic: frame.monotonic };
    let mut record = ReadRecord::new(read_id, identity, fused, times, refs);
    // Where and with which clock the read was made, before anything derives from the record.
    stamp.apply(&mut record);
    Outgoing { record, images: attached }
}
