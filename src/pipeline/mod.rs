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

use crate::outgoing::{Outgoing, OutgoingImage, ReadSink};
pub use frame_queue::{FrameQueue, Pop};
pub use stamp::ReadStamp;

use crate::digest::sha256_hex;
use crate::frame::Frame;
use crate::fuse::{FusedRead, Fuser, FusionConfig};
use crate::geometry::BoundingBox;
use crate::hotlist::{LiveHotlist, Verdict};
use crate::imaging::{encode_jpeg, ImageConfig};
use crate::privacy::policy::{publish_match, publish_plate, OverviewRelease};
use crate::privacy::{Disposition, Privacy};
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

/// Counters the status heartbeat reports; shared with the capture thread.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub frames_captured: AtomicU64,
    pub frames_failed: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub frames_recognised: AtomicU64,
    pub recognition_errors: AtomicU64,
    pub reads_emitted: AtomicU64,
    /// Reads that matched an `alert` entry of the hotlist.
    pub hits: AtomicU64,
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
            "hits": get(&self.hits),
            "image_errors": get(&self.image_errors),
            "queue_depth": get(&self.queue_depth),
            "active_tracks": get(&self.active_tracks),
            "inference_seconds": get(&self.inference_us_total) as f64 / 1e6,
            "inference_ms_last": get(&self.inference_us_last) as f64 / 1e3,
        })
    }
}

/// What turns a fused read into what leaves the device, in the order applied: the hotlist's
/// verdict, the privacy policy for it (plate, images, blur), who and where the unit is, and the
/// position and clock stamp.
#[derive(Clone, Copy)]
pub struct ReadStages<'a> {
    pub identity: &'a Identity,
    pub hotlist: &'a LiveHotlist,
    pub stamp: &'a ReadStamp,
    pub images: &'a ImageConfig,
    pub privacy: &'a Privacy,
}

/// What the best frame of a track carries until its read is emitted: the frame, and every
/// plate detected on it (read or not), so that all of them can be blurred.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub frame: Arc<Frame>,
    pub plates: Arc<[BoundingBox]>,
}

/// Runs `source` through the pipeline until the source ends or `stop` is set. `alive` is called
/// at least every `tick` while the pipeline makes progress (the systemd watchdog is fed from it,
/// so a hung recognition stops the feeding). Every read gets the `hotlist`'s verdict.
#[allow(clippy::too_many_arguments)]
pub fn run(
    source: Box<dyn FrameSource>,
    recognizer: &mut Recognizer,
    stages: &ReadStages,
    config: &PipelineConfig,
    fusion: &FusionConfig,
    sink: &mut dyn ReadSink,
    stop: &Arc<AtomicBool>,
    stats: &Arc<PipelineStats>,
    mut alive: impl FnMut(),
) {
    let queue = Arc::new(FrameQueue::new(config.frame_queue));
    let capture = spawn_capture(
        source,
        Arc::clone(&queue),
        Arc::clone(stop),
        Arc::clone(stats),
        config.realtime,
    );
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
                let recognition = match recognised {
                    Ok(recognition) => recognition,
                    Err(error) => {
                        stats.recognition_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(origin = %frame.origin, frame = frame.seq, %error, "recognition failed, frame skipped");
                        Default::default()
                    }
                };
                stats.frames_recognised.fetch_add(1, Ordering::Relaxed);
                let plates: Arc<[BoundingBox]> = recognition
                    .reads
                    .iter()
                    .map(|r| r.bbox)
                    .chain(recognition.unread.iter().map(|d| d.bbox))
                    .collect();
                let evidence = Evidence { frame: Arc::clone(&frame), plates };
                let observations: Vec<(PlateRead, Evidence)> =
                    recognition.reads.into_iter().map(|r| (r, evidence.clone())).collect();
                let due = fuser.observe(frame.monotonic, frame.seq, observations);
                emit(due, stages, sink, stats);
            }
            Pop::Timeout => {
                // No frame: time still passes for the vehicles being tracked (source time runs
                // on from the last frame at the wall clock's pace).
                let now = last_monotonic + last_frame_at.elapsed();
                emit(fuser.tick(now), stages, sink, stats);
            }
            Pop::Closed => break,
        }
        let queue_stats = queue.stats();
        stats.frames_dropped.store(queue_stats.dropped_oldest, Ordering::Relaxed);
        stats.queue_depth.store(queue_stats.depth as u64, Ordering::Relaxed);
        stats.active_tracks.store(fuser.active_tracks() as u64, Ordering::Relaxed);
    }
    emit(fuser.flush(), stages, sink, stats);
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
                        } else if queue
                            .push_wait(
                                frame,
                                || stop.load(Ordering::Relaxed),
                                Duration::from_millis(100),
                            )
                            .is_err()
                        {
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

fn emit(
    due: Vec<FusedRead<Evidence>>,
    stages: &ReadStages,
    sink: &mut dyn ReadSink,
    stats: &PipelineStats,
) {
    for fused in due {
        let verdict = stages.hotlist.check(&fused.best.plate.text, std::time::SystemTime::now());
        if let Verdict::Alert(hit) = &verdict {
            stats.hits.fetch_add(1, Ordering::Relaxed);
            tracing::info!(plate = %fused.best.plate.text, list = %hit.list, category = %hit.category, match_kind = ?hit.match_kind, distance = hit.distance, "hotlist hit");
        }
        let outgoing = build_outgoing(&fused, &verdict, stages, sink, stats);
        stats.reads_emitted.fetch_add(1, Ordering::Relaxed);
        sink.deliver(outgoing);
    }
}

/// The record and its images, as `privacy::policy` lets them out for the hotlist's verdict. A
/// failed image encoding (or blurring) costs the image, never the read; a non-hit overview that
/// could not be blurred is not sent.
fn build_outgoing(
    fused: &FusedRead<Evidence>,
    verdict: &Verdict,
    stages: &ReadStages,
    sink: &dyn ReadSink,
    stats: &PipelineStats,
) -> Outgoing {
    let ReadStages { identity, stamp, images: config, privacy, .. } = *stages;
    let read_id = new_read_id();
    let disposition = Disposition::of(verdict);
    let release = crate::privacy::release(&privacy.config, config, disposition);
    let frame = &fused.best_payload.frame;
    let mut attached = Vec::new();
    let mut refs = Images::default();
    let mut encode = |kind: &'static str,
                      image: &image::RgbImage,
                      rect: Option<(u32, u32, u32, u32)>,
                      max_width: u32|
     -> Option<ImageRef> {
        let rect = rect?;
        match encode_jpeg(image, rect, max_width, config.jpeg_quality) {
            Ok((jpeg, width, height)) => {
                let topic = sink.image_topic(&read_id, kind);
                let reference = ImageRef {
                    topic: topic.clone(),
                    sha256: sha256_hex(&jpeg),
                    bytes: jpeg.len(),
                    width,
                    height,
                };
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
    let whole = Some((0, 0, w, h));
    match release.overview {
        OverviewRelease::None => {}
        OverviewRelease::Clear => {
            refs.overview = encode("overview", &frame.image, whole, config.overview_max_width)
        }
        OverviewRelease::Blurred { windscreen } => {
            match crate::privacy::blur::blurred(
                &frame.image,
                &fused.best_payload.plates,
                &privacy.config.blur,
                windscreen,
            ) {
                Ok(blurred) => {
                    refs.overview = encode("overview", &blurred, whole, config.overview_max_width)
                }
                Err(error) => {
                    stats.image_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%read_id, %error, "overview not blurred, so not sent; the read goes without it");
                }
            }
        }
    }
    if release.plate_crop {
        refs.plate = encode("plate", &frame.image, fused.best.bbox.pixel_rect(w, h), u32::MAX);
    }
    let times = FrameTimes { captured_at: frame.captured_at, monotonic: frame.monotonic };
    let plate = publish_plate(
        &release,
        &fused.best.plate,
        privacy.pseudonymiser.as_ref(),
        frame.captured_at,
    );
    let mut record = ReadRecord::new(read_id, identity, fused, times, plate, disposition, refs);
    record.hotlist = verdict.matched().map(|listed| publish_match(listed, &record.plate));
    // Where and with which clock the read was made, before anything derives from the record.
    stamp.apply(&mut record);
    Outgoing { record, images: attached }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuse::EmitReason;
    use crate::hotlist::{Action, HotlistMatch, MatchKind};
    use crate::privacy::PrivacyConfig;
    use crate::read_record::Site;
    use crate::recognizer::PlateText;
    use std::time::SystemTime;

    fn identity() -> Identity {
        Identity {
            device_id: "t".into(),
            camera_id: "c".into(),
            site: Site { name: "s".into(), latitude: None, longitude: None },
            purpose: "test".into(),
        }
    }

    /// A noisy frame (every pixel differs from its neighbours) with two plates on it; the read
    /// is about the first.
    fn fused() -> FusedRead<Evidence> {
        let mut state = 7u32;
        let image = image::RgbImage::from_fn(320, 240, |_, _| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = (state >> 16) as u8;
            image::Rgb([v, v, v])
        });
        let frame = Arc::new(Frame {
            seq: 3,
            media_time: None,
            captured_at: SystemTime::now(),
            monotonic: Duration::ZERO,
            origin: "test".into(),
            image,
        });
        let plates: Arc<[BoundingBox]> = Arc::from(vec![
            BoundingBox::from_xywh(40.0, 150.0, 80.0, 20.0),
            BoundingBox::from_xywh(200.0, 60.0, 80.0, 20.0),
        ]);
        let plate = PlateText {
            text: "1ABC234".into(),
            ocr_text: "1ABC234".into(),
            confidence: 0.9,
            char_confidences: vec![0.9; 7],
            format: None,
            region: None,
        };
        FusedRead {
            best: PlateRead { plate, bbox: plates[0], detection_score: 0.9 },
            best_frame: 3,
            best_payload: Evidence { frame, plates },
            agreeing_frames: 1,
            frames: 1,
            first_seen: Duration::ZERO,
            last_seen: Duration::ZERO,
            direction: None,
            reason: EmitReason::Flush,
        }
    }

    /// Mean step between horizontal neighbours inside `b` of the JPEG `kind` sent.
    fn detail(out: &Outgoing, kind: &str, b: BoundingBox) -> f64 {
        let jpeg = &out.images.iter().find(|i| i.kind == kind).expect("image sent").jpeg;
        let img = image::load_from_memory(jpeg).expect("jpeg").to_luma8();
        let (x0, y0, w, h) = b.pixel_rect(img.width(), img.height()).expect("inside");
        let mut sum = 0u64;
        for y in y0..y0 + h {
            for x in x0..x0 + w - 1 {
                sum += u64::from(img.get_pixel(x, y)[0].abs_diff(img.get_pixel(x + 1, y)[0]));
            }
        }
        sum as f64 / f64::from((w - 1) * h)
    }

    fn listed(action: Action) -> HotlistMatch {
        HotlistMatch {
            list: "l".into(),
            category: "lez-exempt".into(),
            action,
            plate: Some("1ABC234".into()),
            match_kind: MatchKind::Exact,
            distance: 0,
            note: Some("permit 17".into()),
            list_version: "v1".into(),
        }
    }

    fn outgoing(disposition: Disposition) -> Outgoing {
        let verdict = match disposition {
            Disposition::Hit => Verdict::Alert(listed(Action::Alert)),
            Disposition::Allowed => Verdict::Allow(listed(Action::Allow)),
            Disposition::NonHit => Verdict::NoMatch,
        };
        let privacy = Privacy::start(&PrivacyConfig::with_purpose("test")).expect("privacy");
        let sink = sink::StdoutSink::new(Vec::new());
        let (identity, hotlist, stamp, images) =
            (identity(), LiveHotlist::new(None, 1), ReadStamp::unplaced(), ImageConfig::default());
        let stages = ReadStages {
            identity: &identity,
            hotlist: &hotlist,
            stamp: &stamp,
            images: &images,
            privacy: &privacy,
        };
        build_outgoing(&fused(), &verdict, &stages, &sink, &PipelineStats::default())
    }

    #[test]
    fn a_hit_leaves_whole_and_unblurred() {
        let out = outgoing(Disposition::Hit);
        assert_eq!(out.record.plate.text.as_deref(), Some("1ABC234"));
        assert!(out.record.hit && out.record.images.plate.is_some());
        assert_eq!(
            out.record.hotlist,
            Some(listed(Action::Alert)),
            "the control room sees the listing in full"
        );
        let f = fused();
        assert!(
            detail(&out, "overview", f.best_payload.plates[1]) > 30.0,
            "a hit's overview keeps its detail"
        );
    }

    #[test]
    fn a_non_hit_leaves_with_every_plate_blurred_and_no_plate_or_crop() {
        let out = outgoing(Disposition::NonHit);
        assert_eq!(
            (out.record.plate.text.as_ref(), out.record.images.plate.as_ref()),
            (None, None)
        );
        assert_eq!(out.images.len(), 1);
        for (i, plate) in fused().best_payload.plates.iter().enumerate() {
            let d = detail(&out, "overview", *plate);
            assert!(
                d < 3.0,
                "plate {i} (the read's own and the other car's) is blurred: detail {d}"
            );
        }
        assert_eq!(out.record.purpose, "test");
    }

    #[test]
    fn an_allowed_read_leaves_without_any_image() {
        let out = outgoing(Disposition::Allowed);
        assert!(
            out.images.is_empty()
                && out.record.images.overview.is_none()
                && out.record.images.plate.is_none()
        );
        assert_eq!(out.record.disposition, Disposition::Allowed);
        let published = out.record.hotlist.expect("the exemption that applied is named");
        assert_eq!(
            (published.plate, published.note),
            (None, None),
            "a withheld plate is not given away by its listing"
        );
        assert_eq!(published.category, "lez-exempt");
    }
}
