//! One frame in, every plate on it read: detection, batched OCR calls, country formats, and
//! for a doubtful plate the ensemble's further reads (batched calls per model) and its vote.

use crate::detect::{Detection, DetectorConfig, PlateDetector};
use crate::geometry::BoundingBox;
use crate::models::ModelError;
use crate::ocr::decode::{mean_confidence, region_guess, OcrReading};
use crate::ocr::ensemble::{likelihood, vote, Hypothesis};
use crate::ocr::{EnsembleConfig, EnsembleMode, OcrConfig, OcrModel, PlateReader};
use crate::plate::{PlateRead, PlateText};
use crate::plate_format::{FormatConfig, FormatsError, PlateFormats, Resolved};
use crate::roi::{Roi, RoiConfig};
use image::RgbImage;
use ort::environment::Environment;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// Configuration of the recognition stages, one section each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecognitionConfig {
    pub detector: DetectorConfig,
    pub ocr: OcrConfig,
    pub formats: FormatConfig,
}

/// How long each stage took on a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    pub detect: Duration,
    pub ocr: Duration,
}

/// Everything recognition found on one frame.
#[derive(Debug, Clone, Default)]
pub struct Recognition {
    pub reads: Vec<PlateRead>,
    /// Plates detected but with no character the OCR could read: not reads, but evidence
    /// that something plate-like was there (and counted in detection recall).
    pub unread: Vec<Detection>,
    /// Plates detected outside the regions of interest: neither read nor reported.
    pub outside_roi: usize,
    pub times: StageTimes,
}

/// What the pipeline needs of recognition: one frame in, every plate read. The models'
/// [`Recognizer`] is the one the unit runs; the pipeline's own tests drive its loop frame by
/// frame with a scripted one.
pub trait Recognise {
    fn recognize(&mut self, image: &RgbImage) -> Result<Recognition, RecognizeError>;
}

impl Recognise for Recognizer {
    fn recognize(&mut self, image: &RgbImage) -> Result<Recognition, RecognizeError> {
        Recognizer::recognize(self, image)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecognizeError {
    #[error(transparent)]
    Detect(#[from] crate::detect::detector::DetectError),
    #[error(transparent)]
    Ocr(#[from] crate::ocr::reader::OcrError),
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Formats(#[from] FormatsError),
    #[error(
        "OCR model {0:?} reads another alphabet than {1:?}: the ensemble cannot weigh one's reads \
         with the other's numbers; give `recognition.ocr.ensemble.models` models of one alphabet"
    )]
    Alphabets(OcrModel, OcrModel),
}

pub struct Recognizer {
    detector: PlateDetector,
    /// The first model's reader first, then one per other model of the ensemble.
    readers: Vec<(OcrModel, PlateReader)>,
    ensemble: EnsembleConfig,
    formats: PlateFormats,
    roi: Roi,
}

impl Recognizer {
    /// Loads both models once; the recognizer is then reused for every frame.
    pub fn load(
        environment: &Environment,
        models_dir: &Path,
        config: &RecognitionConfig,
    ) -> Result<Self, LoadError> {
        // the detector first: a missing model is reported in the order the frame meets them
        let detector = PlateDetector::load(environment, models_dir, &config.detector)?;
        let ocr = &config.ocr;
        let mut readers = vec![(ocr.model, PlateReader::load(environment, models_dir, ocr.model)?)];
        if ocr.ensemble.mode != EnsembleMode::Off {
            for &model in &ocr.ensemble.models {
                if readers.iter().all(|(m, _)| *m != model) {
                    let reader = PlateReader::load(environment, models_dir, model)?;
                    if reader.alphabet() != readers[0].1.alphabet() {
                        return Err(LoadError::Alphabets(model, ocr.model));
                    }
                    readers.push((model, reader));
                }
            }
        }
        Ok(Self {
            detector,
            readers,
            ensemble: ocr.ensemble.clone(),
            formats: PlateFormats::bundled(config.formats.clone())?,
            roi: Roi::default(),
        })
    }

    /// Reads only the plates whose box centre lies in one of `roi`'s regions (all of them when
    /// it has none). The others are dropped before the OCR, which is then spared their crops.
    pub fn within(mut self, roi: RoiConfig) -> Self {
        self.roi = Roi::new(roi);
        self
    }

    /// Whether regions of interest limit what is read.
    pub fn has_roi(&self) -> bool {
        self.roi.is_set()
    }

    pub fn detector(&mut self) -> &mut PlateDetector {
        &mut self.detector
    }

    /// The country formats reads are settled by.
    pub fn formats(&self) -> &PlateFormats {
        &self.formats
    }

    /// The reader of every plate's first read.
    pub fn reader(&mut self) -> &mut PlateReader {
        &mut self.readers[0].1
    }

    /// Every plate on `image`, best detection first.
    pub fn recognize(&mut self, image: &RgbImage) -> Result<Recognition, RecognizeError> {
        let started = Instant::now();
        let mut detections = self.detector.detect(image)?;
        let found = detections.len();
        if let Some(regions) = self.roi.for_frame(image.width(), image.height()) {
            detections.retain(|d| regions.keeps(&d.bbox));
        }
        let outside_roi = found - detections.len();
        let detected = Instant::now();
        let boxes: Vec<BoundingBox> = detections.iter().map(|d| d.bbox).collect();
        let first = self.readers[0].1.read(image, &boxes)?;
        let resolved: Vec<Resolved> = first.iter().map(|r| self.resolve(r)).collect();
        let doubtful: Vec<usize> = (0..first.len())
            .filter(|&i| {
                let p = likelihood(&first[i], &resolved[i].text, self.readers[0].1.alphabet());
                self.ensemble.wants_more(p)
            })
            .collect();
        let more = self.read_again(image, &boxes, &first, &doubtful)?;
        let times = StageTimes { detect: detected - started, ocr: detected.elapsed() };
        let regions = self.readers[0].1.regions();
        let mut unread = Vec::new();
        let mut reads = Vec::with_capacity(detections.len());
        for (i, (detection, reading)) in detections.iter().zip(&first).enumerate() {
            let decided = match doubtful.binary_search(&i) {
                Ok(k) => self.decide(reading, &resolved[i], &more[k]),
                Err(_) => (!reading.text.is_empty()).then(|| PlateText {
                    confidence: mean_confidence(&resolved[i].char_confidences),
                    text: resolved[i].text.clone(),
                    ocr_text: reading.text.clone(),
                    char_confidences: resolved[i].char_confidences.clone(),
                    format: resolved[i].format.clone(),
                    region: None,
                }),
            };
            match decided {
                Some(mut plate) => {
                    plate.region = region_guess(&reading.region_distribution, regions);
                    reads.push(PlateRead {
                        plate,
                        bbox: detection.bbox,
                        detection_score: detection.score,
                    });
                }
                None => unread.push(*detection),
            }
        }
        Ok(Recognition { reads, unread, outside_roi, times })
    }

    /// `reading` settled by the country formats, with the first model's region belief.
    fn resolve(&self, reading: &OcrReading) -> Resolved {
        let first = &self.readers[0].1;
        self.formats.resolve(reading, first.alphabet(), first.regions())
    }

    /// For each doubtful plate, the ensemble's other reads of it: every model on every crop
    /// variant, but the first read itself, in batched calls per model. A model without a
    /// region head borrows the first read's, so that the formats weigh its text alike.
    fn read_again(
        &mut self,
        image: &RgbImage,
        boxes: &[BoundingBox],
        first: &[OcrReading],
        doubtful: &[usize],
    ) -> Result<Vec<Vec<OcrReading>>, RecognizeError> {
        let mut more: Vec<Vec<OcrReading>> = vec![Vec::new(); doubtful.len()];
        if doubtful.is_empty() {
            return Ok(more);
        }
        let first_model = self.readers[0].0;
        for &model in &self.ensemble.models {
            let Some((_, reader)) = self.readers.iter_mut().find(|(m, _)| *m == model) else {
                continue;
            };
            let mut owners = Vec::new();
            let mut variants = Vec::new();
            for (k, &i) in doubtful.iter().enumerate() {
                for &margin in &self.ensemble.margins {
                    if model == first_model && margin == 0.0 {
                        continue;
                    }
                    owners.push(k);
                    variants.push(with_margin(&boxes[i], margin));
                }
            }
            for (k, mut reading) in owners.into_iter().zip(reader.read(image, &variants)?) {
                if reading.region_distribution.is_empty() {
                    reading.region_distribution = first[doubtful[k]].region_distribution.clone();
                }
                more[k].push(reading);
            }
        }
        Ok(more)
    }

    /// The ensemble's read of one plate: every read proposes its settled text, the vote weighs
    /// each by the evidence of all reads and the formats' prior; `None` when no read has text.
    fn decide(
        &self,
        first: &OcrReading,
        first_resolved: &Resolved,
        more: &[OcrReading],
    ) -> Option<PlateText> {
        let first_reader = &self.readers[0].1;
        let readings: Vec<&OcrReading> = std::iter::once(first).chain(more).collect();
        let mut proposals: Vec<(Resolved, &OcrReading)> = vec![(first_resolved.clone(), first)];
        proposals.extend(more.iter().map(|r| (self.resolve(r), r)));
        proposals.retain(|(r, _)| !r.text.is_empty());
        let mut hypotheses: Vec<Hypothesis> = Vec::new();
        let mut sources = Vec::new();
        for (resolved, reading) in &proposals {
            if hypotheses.iter().all(|h| h.text != resolved.text) {
                let prior = self.formats.prior(
                    &resolved.text,
                    &first.region_distribution,
                    first_reader.regions(),
                );
                hypotheses.push(Hypothesis { text: resolved.text.clone(), prior });
                sources.push((resolved, *reading));
            }
        }
        let vote = vote(&readings, &hypotheses, first_reader.alphabet())?;
        let (resolved, reading) = sources[vote.winner];
        Some(PlateText {
            confidence: mean_confidence(&vote.char_confidences),
            text: resolved.text.clone(),
            ocr_text: reading.text.clone(),
            char_confidences: vote.char_confidences,
            format: resolved.format.clone(),
            region: None,
        })
    }
}

/// `bbox` with `margin` of its width and height added on each side (a negative one trims).
fn with_margin(bbox: &BoundingBox, margin: f32) -> BoundingBox {
    let (dx, dy) = (bbox.width() * margin, bbox.height() * margin);
    BoundingBox { x1: bbox.x1 - dx, y1: bbox.y1 - dy, x2: bbox.x2 + dx, y2: bbox.y2 + dy }
}
