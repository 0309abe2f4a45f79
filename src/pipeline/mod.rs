//! The live pipeline: capture → queue → recognise → fuse → records → sink.
//!
//! Capture runs on its own thread and never waits (the [`FrameQueue`] drops its oldest frame
//! when recognition falls behind); recognition, fusion and record building run on the calling
//! thread; the sink (MQTT, or stdout) must not block either. One [`Shutdown`] token stops it:
//! capture stops (a backoff wait in a source ends at once), the queue drains, fusion flushes its
//! tracks, so no read already seen is lost on a clean stop. A capture thread that dies, or a
//! sink that fails, stops the pipeline with an error instead of leaving it waiting for frames
//! that will never come (and feeding the watchdog meanwhile).

pub mod assemble;
pub mod context;
pub mod evidence;
pub mod frame_queue;
pub mod gate;
pub mod hit_path;
pub mod scene_cut;
pub mod sink;
pub mod snapshot;
pub mod stamp;

pub use assemble::ReadStages;
pub use context::ContextRing;
pub use evidence::Evidence;
pub use frame_queue::{FrameQueue, Pop};
pub use gate::{GatingConfig, MotionGate};
pub use hit_path::HitPath;
pub use scene_cut::SceneCuts;
pub use snapshot::Snapshots;
pub use stamp::ReadStamp;

use crate::fuse::{FusedRead, Fuser, FusionConfig};
use crate::geometry::BoundingBox;
use crate::hotlist::{AlertLevel, Verdict};
use crate::imaging::ImageConfig;
use crate::outgoing::{ReadSink, SinkFailed};
use crate::plate::PlateRead;
use crate::recognizer::Recognise;
use crate::roi::RoiConfig;
use crate::shutdown::Shutdown;
use crate::source::FrameSource;
use crate::worker::{Died, Worker};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Frames of a live source waiting between capture and recognition; when full the oldest
    /// is dropped. A recording replayed as fast as possible is decoded one frame ahead instead.
    pub frame_queue: usize,
    /// Replay a video file at its own frame rate (as a camera would deliver it) instead of as
    /// fast as recognition goes.
    pub realtime: bool,
    pub gating: GatingConfig,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self { frame_queue: 4, realtime: false, gating: GatingConfig::default() }
    }
}

/// Counters the status heartbeat reports; shared with the capture thread.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub frames_captured: AtomicU64,
    pub frames_failed: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub frames_recognised: AtomicU64,
    /// Frames the motion gate kept from the detector (nothing moved, nothing tracked).
    pub frames_gated: AtomicU64,
    /// Plates detected outside the regions of interest (`[roi]`), neither read nor reported.
    pub plates_outside_roi: AtomicU64,
    pub recognition_errors: AtomicU64,
    pub reads_emitted: AtomicU64,
    /// Vehicles that hit an `alert` entry of the hotlist: by an early alert, or by their
    /// fused read (once per vehicle).
    pub hits: AtomicU64,
    /// Alerts raised from a vehicle's frames before fusion ended it (each a confirmed hit).
    pub alerts: AtomicU64,
    /// Vehicles' hits graded `possible` (fuzzy, or too little evidence): an officer must look.
    pub possible_hits: AtomicU64,
    pub image_errors: AtomicU64,
    /// Frames waiting for recognition right now.
    pub queue_depth: AtomicU64,
    /// Vehicles being followed by fusion right now.
    pub active_tracks: AtomicU64,
    /// Bytes of image data fusion's tracks keep for their reads right now (`evidence.rs`).
    pub evidence_bytes: AtomicU64,
    /// Tracks fusion did not emit because they were no vehicle (phantom reads), since the start.
    pub phantoms_suppressed: AtomicU64,
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
            "frames_gated": get(&self.frames_gated),
            "plates_outside_roi": get(&self.plates_outside_roi),
            "recognition_errors": get(&self.recognition_errors),
            "reads_emitted": get(&self.reads_emitted),
            "hits": get(&self.hits),
            "alerts": get(&self.alerts),
            "possible_hits": get(&self.possible_hits),
            "image_errors": get(&self.image_errors),
            "queue_depth": get(&self.queue_depth),
            "active_tracks": get(&self.active_tracks),
            "evidence_bytes": get(&self.evidence_bytes),
            "phantoms_suppressed": get(&self.phantoms_suppressed),
            "inference_seconds": get(&self.inference_us_total) as f64 / 1e6,
            "inference_ms_last": get(&self.inference_us_last) as f64 / 1e3,
        })
    }
}

/// How the pipeline runs, besides what it reads from and delivers to.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    pub config: &'a PipelineConfig,
    pub fusion: &'a FusionConfig,
    pub stats: &'a Arc<PipelineStats>,
    pub shutdown: &'a Shutdown,
    /// Where a snapshot is asked for (the control plane); `None`: never.
    pub snapshots: Option<&'a Snapshots>,
    /// The regions the motion gate watches (the recognizer reads only there too).
    pub roi: &'a RoiConfig,
}

/// Why the pipeline stopped other than by its source ending or a shutdown.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot start the capture thread: {0}")]
    CaptureThread(std::io::Error),
    #[error("capture stopped for good: {0}")]
    CaptureDied(#[from] Died),
    #[error("the reads cannot be delivered: {0}")]
    Sink(#[from] SinkFailed),
}

/// How long the recognition loop waits for a frame before it lets time pass for fusion (and
/// calls `alive`).
const TICK: Duration = Duration::from_millis(200);

/// How often a recording's capture, waiting for recognition to take its frame, looks for a stop.
const POLL: Duration = Duration::from_millis(100);

/// How long a stopping pipeline goes on recognising the frames still queued. Past it, they are
/// dropped (counted): on a starved host one frame took 4.6 s, so a full queue of four cost more
/// than systemd's TimeoutStopSec (20 s) with the broker flush, and the SIGKILL that followed
/// would have lost the vehicles fusion was following, which are reads and not mere frames.
const STOP_DRAIN: Duration = Duration::from_secs(2);

/// Runs `source` through the pipeline until the source ends or the shutdown comes. `alive` is
/// called at least every [`TICK`] while the pipeline makes progress (the systemd watchdog is
/// fed from it, so a hung recognition stops the feeding). Every read gets the hotlist's
/// verdict. Reads already fused are delivered before it returns, an error included.
pub fn run(
    source: Box<dyn FrameSource>,
    recognizer: &mut dyn Recognise,
    stages: &ReadStages,
    sink: &mut dyn ReadSink,
    run: Run<'_>,
    mut alive: impl FnMut(),
) -> Result<(), PipelineError> {
    let Run { config, fusion, stats, shutdown, snapshots, roi } = run;
    let queue = Arc::new(FrameQueue::new(config.frame_queue));
    let mut fuser: Fuser<Evidence> = Fuser::new(fusion.clone());
    let stills = source.frames_are_scenes();
    if stills {
        fuser = fuser.keeping_single_reads();
    }
    let capture = spawn_capture(source, &queue, shutdown, stats, config.realtime)
        .map_err(PipelineError::CaptureThread)?;
    let mut hits = HitPath::new(stages, stills);
    let mut context = ContextRing::new(stages.images);
    // Stills are each a scene of their own: there is no motion between them to judge.
    let enabled = config.gating.enabled && !stills;
    let mut gate =
        MotionGate::new(GatingConfig { enabled, ..config.gating.clone() }).within(roi.clone());
    let mut cuts = SceneCuts::default();
    let started = Instant::now();
    let mut last_monotonic = Duration::ZERO;
    let mut last_frame_at = Instant::now();
    let mut delivered = Ok(());
    while delivered.is_ok() {
        alive();
        if shutdown.asked_since().is_some_and(|since| since >= STOP_DRAIN) {
            let discarded = queue.discard();
            if discarded > 0 {
                tracing::warn!(frames = discarded, "stopping: queued frames not recognised in time are dropped; every vehicle already followed is still reported");
            }
        }
        let due = match queue.pop(TICK) {
            Pop::Frame(frame) => {
                last_monotonic = frame.monotonic;
                last_frame_at = Instant::now();
                let frame = Arc::new(frame);
                context.offer(&frame, stages.hotlist.can_alert());
                // Stills are each a scene of their own already.
                let mut due = if !stills && cuts.is_cut(&frame.image) {
                    tracing::debug!(
                        frame = frame.seq,
                        "scene cut: every vehicle followed left view"
                    );
                    fuser.cut()
                } else {
                    Vec::new()
                };
                if !gate.should_run(&frame.image, fuser.active_tracks() > 0) {
                    stats.frames_gated.fetch_add(1, Ordering::Relaxed);
                    if let Some(snapshots) = snapshots {
                        snapshots.serve(&frame.image, &[], stages.images, stages.privacy, sink);
                    }
                    // A skipped frame still moves fusion's clock: the vehicle that left ends.
                    due.extend(fuser.tick(frame.monotonic));
                } else {
                    let (observations, plates) =
                        recognise(recognizer, &frame, stages.images, stats);
                    if let Some(snapshots) = snapshots {
                        snapshots.serve(&frame.image, &plates, stages.images, stages.privacy, sink);
                    }
                    let matches = hits.matches(&observations, stages, frame.captured_at);
                    let observed = fuser.observe(frame.monotonic, frame.seq, observations);
                    let raised =
                        hits.raise(matches, &observed.vehicles, &context, stages, sink, stats);
                    match raised {
                        // An alert already sent always gets its vehicle's read.
                        Ok(alerted) => alerted.into_iter().for_each(|v| fuser.keep_hit(v)),
                        Err(failed) => {
                            delivered = Err(failed);
                            break;
                        }
                    }
                    due.extend(observed.due);
                }
                due
            }
            // No frame: time still passes for the vehicles being tracked (source time runs on
            // from the last frame at the wall clock's pace).
            Pop::Timeout => fuser.tick(last_monotonic + last_frame_at.elapsed()),
            Pop::Closed => break,
        };
        delivered = emit(due, &mut hits, &context, stages, sink, stats);
        keep_small(&mut fuser, stages.images, stats);
        let queue_stats = queue.stats();
        stats.frames_dropped.store(queue_stats.dropped_oldest, Ordering::Relaxed);
        stats.queue_depth.store(queue_stats.depth as u64, Ordering::Relaxed);
        stats.active_tracks.store(fuser.active_tracks() as u64, Ordering::Relaxed);
        stats.phantoms_suppressed.store(fuser.phantoms_suppressed(), Ordering::Relaxed);
    }
    if delivered.is_err() {
        // The sink is gone: capture has nothing to feed.
        shutdown.trigger("the read sink failed");
    }
    let flushed = emit(fuser.flush(), &mut hits, &context, stages, sink, stats);
    stats.phantoms_suppressed.store(fuser.phantoms_suppressed(), Ordering::Relaxed);
    let captured = capture.join();
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "pipeline stopped");
    delivered?;
    flushed?;
    captured?;
    Ok(())
}

/// One frame through recognition: its reads, each with the evidence fusion keeps for it, and
/// every plate detected on it (read or not).
fn recognise(
    recognizer: &mut dyn Recognise,
    frame: &Arc<crate::frame::Frame>,
    images: &ImageConfig,
    stats: &PipelineStats,
) -> (Vec<(PlateRead, Evidence)>, Arc<[BoundingBox]>) {
    let recognition_started = Instant::now();
    let recognised = recognizer.recognize(&frame.image);
    let micros = recognition_started.elapsed().as_micros() as u64;
    stats.inference_us_total.fetch_add(micros, Ordering::Relaxed);
    stats.inference_us_last.store(micros, Ordering::Relaxed);
    stats.frames_recognised.fetch_add(1, Ordering::Relaxed);
    let recognition = match recognised {
        Ok(recognition) => {
            let outside = recognition.outside_roi as u64;
            stats.plates_outside_roi.fetch_add(outside, Ordering::Relaxed);
            recognition
        }
        Err(error) => {
            stats.recognition_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(origin = %frame.origin, frame = frame.seq, %error, "recognition failed, frame skipped");
            return (Vec::new(), Arc::from([]));
        }
    };
    let plates: Arc<[BoundingBox]> = recognition
        .reads
        .iter()
        .map(|r| r.bbox)
        .chain(recognition.unread.iter().map(|d| d.bbox))
        .collect();
    let reads = recognition.reads.into_iter().map(|r| {
        let evidence = Evidence::new(frame, &plates, &r.bbox, images);
        (r, evidence)
    });
    (reads.collect(), plates)
}

/// Packs what the tracks keep of the frame just fused (`evidence.rs`: no track keeps a whole
/// frame past its turn), and reports the bytes they keep.
fn keep_small(fuser: &mut Fuser<Evidence>, images: &ImageConfig, stats: &PipelineStats) {
    for failed in evidence::pack(fuser.payloads_mut(), images) {
        stats.image_errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(frame = failed.seq, error = %failed.error, "overview not encoded; the reads of this frame go without it");
    }
    let bytes = evidence::held_bytes(fuser.payloads_mut().map(|e| &*e));
    stats.evidence_bytes.store(bytes as u64, Ordering::Relaxed);
}

/// Closes the queue when the capture thread ends, however it ends (a panic included), so the
/// recognition loop sees `Closed` instead of waiting for frames that will never come.
struct CloseOnExit(Arc<FrameQueue>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.close();
    }
}

fn spawn_capture(
    mut source: Box<dyn FrameSource>,
    queue: &Arc<FrameQueue>,
    shutdown: &Shutdown,
    stats: &Arc<PipelineStats>,
    realtime: bool,
) -> std::io::Result<Worker> {
    let (queue, shutdown, stats) = (Arc::clone(queue), shutdown.clone(), Arc::clone(stats));
    source.watch(&shutdown);
    Worker::spawn("capture", move || {
        let _close = CloseOnExit(Arc::clone(&queue));
        // A recording replayed as fast as possible must not lose frames to its own speed.
        let live = source.is_live() || realtime;
        let started = Instant::now();
        let mut first_media_time = None;
        while !shutdown.is_triggered() {
            if !live && !queue.wait_until_empty(|| shutdown.is_triggered(), POLL) {
                break;
            }
            match source.next_frame() {
                Some(Ok(frame)) => {
                    if realtime {
                        if let Some(media_time) = frame.media_time {
                            let offset = *first_media_time.get_or_insert(media_time);
                            let due = media_time.saturating_sub(offset);
                            if let Some(wait) = due.checked_sub(started.elapsed()) {
                                if shutdown.wait(wait) {
                                    break;
                                }
                            }
                        }
                    }
                    stats.frames_captured.fetch_add(1, Ordering::Relaxed);
                    // A live source's oldest frame goes when the queue is full; a recording's
                    // queue is empty here.
                    queue.push(frame);
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
    })
}

fn emit(
    due: Vec<FusedRead<Evidence>>,
    hits: &mut HitPath,
    context: &ContextRing,
    stages: &ReadStages,
    sink: &mut dyn ReadSink,
    stats: &PipelineStats,
) -> Result<(), SinkFailed> {
    for fused in due {
        let verdict = stages.hotlist.check(&fused.best.plate.text, std::time::SystemTime::now());
        let link = hits.link(&fused, &verdict);
        if let Verdict::Alert(hit) = &verdict {
            // A vehicle that alerted was counted then.
            if link.alert_id.is_none() {
                stats.hits.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!(plate = %fused.best.plate.text, list = %hit.list, category = %hit.category, match_kind = ?hit.match_kind, distance = hit.distance, "hotlist hit");
        }
        let around = if verdict.is_hit() {
            context.around(fused.best_payload.monotonic)
        } else {
            Vec::new()
        };
        let outgoing = assemble::build_outgoing(&fused, &verdict, link, &around, stages, stats);
        if outgoing.record.alert_level == Some(AlertLevel::Possible) {
            stats.possible_hits.fetch_add(1, Ordering::Relaxed);
        }
        stats.reads_emitted.fetch_add(1, Ordering::Relaxed);
        sink.deliver(outgoing)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::hotlist::LiveHotlist;
    use crate::imaging::ImageConfig;
    use crate::outgoing::{ImageKind, ImageNames, Outgoing};
    use crate::plate::PlateText;
    use crate::privacy::{Privacy, PrivacyConfig};
    use crate::read_record::{Identity, Report, Site};
    use crate::recognizer::{Recognition, RecognizeError};
    use crate::source::FrameError;
    use std::sync::mpsc;
    use std::time::SystemTime;

    /// What the scripted source does once its frames are out.
    #[derive(Clone, Copy)]
    enum Then {
        End,
        Panic,
        /// As a camera that went away: a 60 s backoff before each reopening attempt.
        Backoff,
        /// Frames for ever.
        Endless,
    }

    struct Scripted {
        frames: u64,
        next: u64,
        then: Then,
        shutdown: Shutdown,
    }

    impl Scripted {
        fn new(frames: u64, then: Then) -> Box<Self> {
            Box::new(Self { frames, next: 0, then, shutdown: Shutdown::new() })
        }

        fn frame(&mut self) -> Frame {
            let seq = self.next;
            self.next += 1;
            Frame {
                seq,
                media_time: None,
                captured_at: SystemTime::now(),
                monotonic: Duration::from_millis(40 * seq),
                origin: "scripted".into(),
                image: image::RgbImage::new(64, 48),
            }
        }
    }

    impl FrameSource for Scripted {
        fn describe(&self) -> &str {
            "scripted"
        }
        fn len_hint(&self) -> Option<u64> {
            None
        }
        fn is_live(&self) -> bool {
            matches!(self.then, Then::Backoff | Then::Endless)
        }
        fn watch(&mut self, shutdown: &Shutdown) {
            self.shutdown = shutdown.clone();
        }
        fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
            if self.next < self.frames {
                return Some(Ok(self.frame()));
            }
            match self.then {
                Then::End => None,
                Then::Panic => panic!("the decoder fell over"),
                Then::Backoff => {
                    if self.shutdown.wait(Duration::from_secs(60)) {
                        return None;
                    }
                    Some(Err(FrameError {
                        origin: "scripted".into(),
                        seq: self.next,
                        reason: "away".into(),
                    }))
                }
                Then::Endless => {
                    std::thread::sleep(Duration::from_millis(5));
                    Some(Ok(self.frame()))
                }
            }
        }
    }

    /// Reads the same plate on every frame, as the models would on a parked car, on a box this
    /// many pixels wide.
    struct OnePlate(f32);

    impl Recognise for OnePlate {
        fn recognize(&mut self, _: &image::RgbImage) -> Result<Recognition, RecognizeError> {
            let plate = PlateText {
                text: "1ABC234".into(),
                ocr_text: "1ABC234".into(),
                confidence: 0.9,
                char_confidences: vec![0.9; 7],
                format: Some("BE".into()),
                region: None,
            };
            let bbox = BoundingBox::from_xywh(4.0, 10.0, self.0, self.0 / 4.0);
            Ok(Recognition {
                reads: vec![PlateRead { plate, bbox, detection_score: 0.9 }],
                ..Recognition::default()
            })
        }
    }

    /// Keeps what it is given; fails from the `fail_from`-th read on.
    struct Collect {
        reads: Vec<Outgoing>,
        fail_from: usize,
    }

    impl ReadSink for Collect {
        fn deliver(&mut self, read: Outgoing) -> Result<(), SinkFailed> {
            if self.reads.len() >= self.fail_from {
                let source = std::io::ErrorKind::BrokenPipe.into();
                return Err(SinkFailed::Write { destination: "a closed test sink", source });
            }
            self.reads.push(read);
            Ok(())
        }
    }

    struct Outcome {
        result: Result<(), PipelineError>,
        reads: Vec<Outgoing>,
        stats: Arc<PipelineStats>,
    }

    /// Runs the pipeline on its own thread, so that a pipeline that never stops fails the test
    /// after a minute instead of hanging it.
    fn run_scripted(source: Box<Scripted>, fail_from: usize, shutdown: &Shutdown) -> Outcome {
        run_listing(source, fail_from, shutdown, None)
    }

    /// As [`run_scripted`], with the hotlist holding `listed` (CSV lines) when given.
    fn run_listing(
        source: Box<Scripted>,
        fail_from: usize,
        shutdown: &Shutdown,
        listed: Option<&'static str>,
    ) -> Outcome {
        run_plate(source, fail_from, shutdown, listed, 56.0)
    }

    /// As [`run_listing`], the plate read on a box `width` pixels wide.
    fn run_plate(
        source: Box<Scripted>,
        fail_from: usize,
        shutdown: &Shutdown,
        listed: Option<&'static str>,
        width: f32,
    ) -> Outcome {
        run_recognising(source, OnePlate(width), fail_from, shutdown, listed)
    }

    /// As [`run_listing`], with `recognizer` in place of the models.
    fn run_recognising(
        source: Box<Scripted>,
        mut recognizer: impl Recognise + Send + 'static,
        fail_from: usize,
        shutdown: &Shutdown,
        listed: Option<&'static str>,
    ) -> Outcome {
        let (done, outcome) = mpsc::channel();
        let shutdown = shutdown.clone();
        std::thread::spawn(move || {
            let identity = Identity {
                device_id: "t".parse().expect("id"),
                camera_id: "c".parse().expect("id"),
                site: Site { name: "s".into(), latitude: None, longitude: None },
                purpose: "test".into(),
            };
            let privacy = Privacy::start(&PrivacyConfig::with_purpose("test")).expect("privacy");
            let (hotlist, stamp, images) =
                (LiveHotlist::new(None, 1), ReadStamp::unplaced(), ImageConfig::default());
            let dir = tempfile::tempdir().expect("tempdir");
            if let Some(listed) = listed {
                let file = dir.path().join("hotlist.csv");
                let csv = format!("version,1\nplate,list,category,action,expires,note\n{listed}\n");
                std::fs::write(&file, csv).expect("hotlist");
                hotlist.load_file(&file, SystemTime::now()).expect("hotlist loads");
            }
            let stages = ReadStages {
                identity: &identity,
                hotlist: &hotlist,
                stamp: &stamp,
                images: &images,
                image_names: &ImageNames::unpublished(),
                privacy: &privacy,
                alerts: &crate::hotlist::AlertPolicy::default(),
            };
            let stats = Arc::new(PipelineStats::default());
            let (config, fusion) = (PipelineConfig::default(), FusionConfig::default());
            let run = Run {
                config: &config,
                fusion: &fusion,
                stats: &stats,
                shutdown: &shutdown,
                snapshots: None,
                roi: &RoiConfig::default(),
            };
            let mut sink = Collect { reads: Vec::new(), fail_from };
            let result = super::run(source, &mut recognizer, &stages, &mut sink, run, || {});
            let _ = done.send(Outcome { result, reads: sink.reads, stats });
        });
        outcome.recv_timeout(Duration::from_secs(60)).expect("the pipeline stopped")
    }

    #[test]
    fn the_frames_of_one_vehicle_become_one_read() {
        let outcome = run_scripted(Scripted::new(5, Then::End), usize::MAX, &Shutdown::new());
        assert!(outcome.result.is_ok());
        assert_eq!(outcome.reads.len(), 1);
        assert_eq!(outcome.reads[0].record.frames, 5);
        assert_eq!(outcome.stats.frames_recognised.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn a_listed_vehicle_alerts_from_its_frames_once_and_its_read_links_to_the_alert() {
        let listed = Some("1ABC234,police,stolen,alert,,");
        let outcome =
            run_listing(Scripted::new(5, Then::End), usize::MAX, &Shutdown::new(), listed);
        assert!(outcome.result.is_ok());
        let reports: Vec<_> = outcome.reads.iter().map(|r| &r.record).collect();
        assert_eq!(reports.len(), 2, "one alert, then the vehicle's read");
        let (alert, vehicle) = (reports[0], reports[1]);
        assert_eq!((alert.report, vehicle.report), (Report::Alert, Report::Vehicle));
        assert_eq!(alert.frame, 1, "raised on the second frame, the default evidence");
        assert_eq!(alert.alert_level, Some(AlertLevel::Confirmed));
        assert_eq!(alert.vehicle_id, vehicle.vehicle_id);
        assert_eq!(vehicle.alert_id.as_deref(), Some(alert.read_id.as_str()));
        let offsets: Vec<i64> = alert.images.context.iter().map(|c| c.offset_ms).collect();
        assert_eq!(offsets, [-40], "the alert's context: the sampled frame before it");
        let sent = &outcome.reads[0].images;
        assert!(sent.iter().any(|i| i.kind == ImageKind::Context(0)), "and its JPEG goes with it");
        assert_eq!((vehicle.frames, vehicle.alert_level), (5, Some(AlertLevel::Confirmed)));
        assert_eq!(outcome.stats.alerts.load(Ordering::Relaxed), 1);
        assert_eq!(outcome.stats.hits.load(Ordering::Relaxed), 1);

        let fuzzy = Some("1A8C234,police,stolen,alert,,");
        let outcome = run_listing(Scripted::new(5, Then::End), usize::MAX, &Shutdown::new(), fuzzy);
        let reports: Vec<_> = outcome.reads.iter().map(|r| &r.record).collect();
        assert_eq!(reports.len(), 1, "a fuzzy match waits for fusion");
        assert_eq!(reports[0].alert_level, Some(AlertLevel::Possible));
        assert_eq!(reports[0].alert_id, None);
        assert_eq!(outcome.stats.possible_hits.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_vehicle_that_raised_an_alert_is_reported_though_its_plate_is_too_small_to_name_one() {
        let listed = Some("1ABC234,police,stolen,alert,,");
        let (source, shutdown) = (Scripted::new(5, Then::End), Shutdown::new());
        let outcome = run_plate(source, usize::MAX, &shutdown, listed, 24.0);
        let reports: Vec<_> = outcome.reads.iter().map(|r| r.record.report).collect();
        assert_eq!(reports, [Report::Alert, Report::Vehicle], "the alert keeps its vehicle");
        let unlisted = run_plate(Scripted::new(5, Then::End), usize::MAX, &shutdown, None, 24.0);
        assert!(unlisted.reads.is_empty(), "unlisted, a 24 px plate is no vehicle");
        assert_eq!(unlisted.stats.phantoms_suppressed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_capture_thread_that_dies_stops_the_pipeline_with_its_reason_and_keeps_the_reads() {
        let outcome = run_scripted(Scripted::new(3, Then::Panic), usize::MAX, &Shutdown::new());
        let error = outcome.result.expect_err("a dead capture is an error").to_string();
        assert!(error.contains("capture") && error.contains("the decoder fell over"), "{error}");
        assert_eq!(outcome.reads.len(), 1, "the vehicle seen before is delivered");
    }

    #[test]
    fn a_stop_during_a_long_backoff_ends_the_pipeline_at_once() {
        let shutdown = Shutdown::new();
        let trigger = shutdown.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            trigger.trigger("SIGTERM");
        });
        let started = std::time::Instant::now();
        let outcome = run_scripted(Scripted::new(2, Then::Backoff), usize::MAX, &shutdown);
        assert!(outcome.result.is_ok(), "a stop is not an error");
        assert!(started.elapsed() < Duration::from_secs(30), "it did not wait out the 60 s");
        assert_eq!(outcome.reads.len(), 1, "fusion flushed the vehicle it was following");
    }

    /// Reads the plate as [`OnePlate`] does, but slowly, as a starved host would; asks for the
    /// stop while it recognises its second frame.
    struct SlowThenStop {
        plate: OnePlate,
        calls: u32,
        shutdown: Shutdown,
    }

    impl Recognise for SlowThenStop {
        fn recognize(&mut self, image: &image::RgbImage) -> Result<Recognition, RecognizeError> {
            self.calls += 1;
            if self.calls == 2 {
                self.shutdown.trigger("SIGTERM");
            }
            std::thread::sleep(STOP_DRAIN + Duration::from_millis(100));
            self.plate.recognize(image)
        }
    }

    #[test]
    fn a_stopping_pipeline_drops_the_frames_it_cannot_recognise_in_time_and_keeps_the_vehicle() {
        let shutdown = Shutdown::new();
        let slow = SlowThenStop { plate: OnePlate(56.0), calls: 0, shutdown: shutdown.clone() };
        // A live source with more frames waiting than a stop can afford to recognise.
        let outcome =
            run_recognising(Scripted::new(6, Then::Backoff), slow, usize::MAX, &shutdown, None);
        assert!(outcome.result.is_ok(), "a stop is not an error");
        let recognised = outcome.stats.frames_recognised.load(Ordering::Relaxed);
        assert_eq!(recognised, 2, "nothing recognised once the stop's drain time was spent");
        assert_eq!(outcome.reads.len(), 1, "fusion flushed the vehicle of those two frames");
        assert_eq!(outcome.reads[0].record.frames, 2);
    }

    #[test]
    fn a_sink_that_fails_stops_the_pipeline_and_the_capture() {
        let shutdown = Shutdown::new();
        // An endless source: only the sink's failure can stop this run.
        let outcome = run_scripted(Scripted::new(0, Then::Endless), 0, &shutdown);
        let error = outcome.result.expect_err("a failed sink is an error").to_string();
        assert!(error.contains("closed"), "{error}");
        assert!(shutdown.is_triggered());
    }
}
