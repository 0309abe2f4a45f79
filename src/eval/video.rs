//! `eval` on video, the running half: each clip goes through the live pipeline exactly as
//! `run` would take it from a file (the same capture, motion gate, scene cuts, fusion and
//! records), with a sink that keeps the vehicles it reports. Only the unit's own wiring is left
//! out: no broker, no hotlist, plates in clear so they can be scored.

use super::clips::{score_clip, ClipScore, ClipTruth};
use crate::device_id::IdError;
use crate::fuse::FusionConfig;
use crate::hotlist::{AlertPolicy, LiveHotlist};
use crate::imaging::ImageConfig;
use crate::outgoing::{ImageKind, ImageNames, Outgoing, ReadSink, SinkFailed};
use crate::pipeline::{self, PipelineConfig, PipelineStats, ReadStages, ReadStamp, Run};
use crate::plate::{edit_distance, fold};
use crate::privacy::{PlateTreatment, Privacy, PrivacyConfig};
use crate::read_record::{Identity, Report, Site};
use crate::recognizer::{Recognise, Recognition, RecognizeError};
use crate::roi::RoiConfig;
use crate::shutdown::Shutdown;
use image::RgbImage;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// How the clips are run: the sections of a unit's configuration that shape its reads.
#[derive(Debug, Clone, Default)]
pub struct VideoSettings {
    pub pipeline: PipelineConfig,
    pub fusion: FusionConfig,
    pub roi: RoiConfig,
    /// Keep each report's overview and plate crop, and each labelled vehicle's best frame
    /// (for the HTML report).
    pub images: bool,
}

/// A vehicle the clip's run reported.
#[derive(Debug, Clone)]
pub struct Reported {
    pub text: String,
    pub confidence: f32,
    pub frames: u32,
    pub agreeing_frames: u32,
    pub frame: u64,
    pub overview: Option<Vec<u8>>,
    pub crop: Option<Vec<u8>>,
}

/// The best read of a labelled vehicle's plate (its text within two edits) on any frame: what
/// a person looks at when the vehicle was missed.
#[derive(Debug, Clone)]
pub struct BestSighting {
    pub text: String,
    pub confidence: f32,
    pub width: f32,
    pub overview: Vec<u8>,
    pub crop: Vec<u8>,
}

/// One clip: what was reported, how it scores, and what it cost.
#[derive(Debug)]
pub struct ClipOutcome {
    pub truth: ClipTruth,
    pub reports: Vec<Reported>,
    pub score: ClipScore,
    /// Per labelled vehicle, the best sighting, when images were asked for.
    pub sightings: Vec<Option<BestSighting>>,
    pub frames: u64,
    pub seconds: f64,
    /// Why the clip could not be run (it then scores every vehicle missed).
    pub error: Option<String>,
}

/// Runs one clip through the pipeline with `recognizer` and scores its reports.
pub fn evaluate_clip(
    truth: &ClipTruth,
    recognizer: &mut dyn Recognise,
    settings: &VideoSettings,
) -> ClipOutcome {
    let started = Instant::now();
    let mut watch = Watch {
        inner: recognizer,
        labels: truth.vehicles.iter().map(|v| fold(v)).collect(),
        best: vec![None; truth.vehicles.len()],
        images: settings.images,
    };
    let (reports, frames, error) = match run_clip(truth, &mut watch, settings) {
        Ok((reports, frames)) => (reports, frames, None),
        Err(error) => (Vec::new(), 0, Some(error)),
    };
    let texts: Vec<String> = reports.iter().map(|r| r.text.clone()).collect();
    ClipOutcome {
        truth: truth.clone(),
        score: score_clip(&truth.vehicles, &texts),
        reports,
        sightings: watch.best,
        frames,
        seconds: started.elapsed().as_secs_f64(),
        error,
    }
}

fn run_clip(
    truth: &ClipTruth,
    recognizer: &mut Watch<'_>,
    settings: &VideoSettings,
) -> Result<(Vec<Reported>, u64), String> {
    let source = crate::source::open(&truth.clip).map_err(|e| e.to_string())?;
    let identity = Identity {
        device_id: "eval".parse().map_err(|e: IdError| e.to_string())?,
        camera_id: "eval".parse().map_err(|e: IdError| e.to_string())?,
        site: Site { name: "eval".into(), latitude: None, longitude: None },
        purpose: "evaluation".into(),
    };
    let privacy_config = PrivacyConfig {
        non_hit_plate: PlateTreatment::Clear,
        non_hit_plate_crop: settings.images,
        ..PrivacyConfig::with_purpose("evaluation")
    };
    let privacy = Privacy::start(&privacy_config).map_err(|e| e.to_string())?;
    let images = ImageConfig {
        overview: settings.images,
        plate_crop: settings.images,
        ..ImageConfig::default()
    };
    let (hotlist, stamp, alerts) =
        (LiveHotlist::new(None, 1), ReadStamp::unplaced(), AlertPolicy::default());
    let stages = ReadStages {
        identity: &identity,
        hotlist: &hotlist,
        stamp: &stamp,
        images: &images,
        image_names: &ImageNames::unpublished(),
        privacy: &privacy,
        alerts: &alerts,
    };
    let stats = Arc::new(PipelineStats::default());
    let shutdown = Shutdown::new();
    let run = Run {
        config: &settings.pipeline,
        fusion: &settings.fusion,
        stats: &stats,
        shutdown: &shutdown,
        snapshots: None,
        roi: &settings.roi,
    };
    let mut sink = Keep(Vec::new());
    pipeline::run(source, recognizer, &stages, &mut sink, run, || {}).map_err(|e| e.to_string())?;
    let frames = stats.frames_recognised.load(Ordering::Relaxed)
        + stats.frames_gated.load(Ordering::Relaxed);
    Ok((sink.0, frames))
}

/// Keeps the vehicles reported (alerts are not vehicles: none is raised without a hotlist).
struct Keep(Vec<Reported>);

impl ReadSink for Keep {
    fn deliver(&mut self, read: Outgoing) -> Result<(), SinkFailed> {
        let record = &read.record;
        if record.report != Report::Vehicle {
            return Ok(());
        }
        let image = |kind| read.images.iter().find(|i| i.kind == kind).map(|i| i.jpeg.clone());
        self.0.push(Reported {
            text: record.plate.text.clone().unwrap_or_default(),
            confidence: record.plate.confidence,
            frames: record.frames,
            agreeing_frames: record.agreeing_frames,
            frame: record.frame,
            overview: image(ImageKind::Overview),
            crop: image(ImageKind::Plate),
        });
        Ok(())
    }
}

/// The recognizer the pipeline runs, watched: the best read of each labelled plate is kept.
struct Watch<'a> {
    inner: &'a mut dyn Recognise,
    labels: Vec<String>,
    best: Vec<Option<BestSighting>>,
    images: bool,
}

impl Recognise for Watch<'_> {
    fn recognize(&mut self, image: &RgbImage) -> Result<Recognition, RecognizeError> {
        let recognition = self.inner.recognize(image)?;
        if self.images {
            for read in &recognition.reads {
                let text = fold(&read.plate.text);
                let Some(v) = self.labels.iter().position(|l| edit_distance(l, &text) <= 2) else {
                    continue;
                };
                if self.best[v].as_ref().is_some_and(|b| b.confidence >= read.plate.confidence) {
                    continue;
                }
                let rect = read.bbox.pixel_rect(image.width(), image.height());
                let whole = (0, 0, image.width(), image.height());
                let jpeg = |rect, width| {
                    crate::imaging::encode_jpeg(image, rect, width, 80).ok().map(|j| j.0)
                };
                if let (Some(overview), Some(crop)) =
                    (jpeg(whole, 640), rect.and_then(|r| jpeg(r, 400)))
                {
                    self.best[v] = Some(BestSighting {
                        text: read.plate.text.clone(),
                        confidence: read.plate.confidence,
                        width: read.bbox.width(),
                        overview,
                        crop,
                    });
                }
            }
        }
        Ok(recognition)
    }
}
