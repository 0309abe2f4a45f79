//! One frame in, every plate on it read: detection, one batched OCR call, country formats.

use crate::detect::{Detection, DetectorConfig, PlateDetector};
use crate::geometry::BoundingBox;
use crate::models::ModelError;
use crate::ocr::decode::{mean_confidence, region_guess};
use crate::ocr::{OcrConfig, PlateReader, RegionGuess};
use crate::plate_format::{FormatConfig, FormatsError, PlateFormats};
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

/// What was read on a plate, and how sure the models are of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateText {
    /// The plate as reported: OCR text settled by the country formats.
    pub text: String,
    /// What the OCR model read before the formats settled confusable characters.
    pub ocr_text: String,
    /// Mean of `char_confidences`.
    pub confidence: f32,
    pub char_confidences: Vec<f32>,
    /// Country code of the plate format the text follows, if any.
    pub format: Option<String>,
    /// The OCR region head's guess, when the model has one.
    pub region: Option<RegionGuess>,
}

/// A plate read on one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlateRead {
    #[serde(flatten)]
    pub plate: PlateText,
    /// The plate on the frame, in frame pixels.
    pub bbox: BoundingBox,
    pub detection_score: f32,
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
}

pub struct Recognizer {
    detector: PlateDetector,
    reader: PlateReader,
    formats: PlateFormats,
}

impl Recognizer {
    /// Loads both models once; the recognizer is then reused for every frame.
    pub fn load(
        environment: &Environment,
        models_dir: &Path,
        config: &RecognitionConfig,
    ) -> Result<Self, LoadError> {
        Ok(Self {
            detector: PlateDetector::load(environment, models_dir, &config.detector)?,
            reader: PlateReader::load(environment, models_dir, &config.ocr)?,
            formats: PlateFormats::bundled(config.formats.clone())?,
        })
    }

    pub fn detector(&mut self) -> &mut PlateDetector {
        &mut self.detector
    }

    pub fn reader(&mut self) -> &mut PlateReader {
        &mut self.reader
    }

    /// Every plate on `image`, best detection first.
    pub fn recognize(&mut self, image: &RgbImage) -> Result<Recognition, RecognizeError> {
        let started = Instant::now();
        let detections = self.detector.detect(image)?;
        let detected = Instant::now();
        let boxes: Vec<BoundingBox> = detections.iter().map(|d| d.bbox).collect();
        let readings = self.reader.read(image, &boxes)?;
        let times = StageTimes { detect: detected - started, ocr: detected.elapsed() };
        let regions = self.reader.regions();
        let alphabet = self.reader.alphabet();
        let mut unread = Vec::new();
        let mut reads = Vec::with_capacity(detections.len());
        for (detection, reading) in detections.iter().zip(readings) {
            if reading.text.is_empty() {
                unread.push(*detection);
                continue;
            }
            reads.push({
                let resolved = self.formats.resolve(&reading, alphabet, regions);
                PlateRead {
                    plate: PlateText {
                        confidence: mean_confidence(&resolved.char_confidences),
                        text: resolved.text,
                        ocr_text: reading.text.clone(),
                        char_confidences: resolved.char_confidences,
                        format: resolved.format,
                        region: region_guess(&reading.region_distribution, regions),
                    },
                    bbox: detection.bbox,
                    detection_score: detection.score,
                }
            });
        }
        Ok(Recognition { reads, unread, times })
    }
}
