//! Evaluation against ground truth: how well the unit reads plates, stated in numbers an
//! operator can quote (accuracy, detection recall, confusions, time per image), and on video
//! how many vehicles it reports once, misses, repeats, and what it reports that is none.

pub mod clips;
pub mod ground_truth;
pub mod report;
pub mod score;
pub mod video;
pub mod video_report;

pub use clips::{load_clips, score_clip, ClipScore, ClipTruth};
pub use ground_truth::{load_folder, GroundTruthError, TruthImage, TruthPlate};
pub use score::{score, CountryScore, EvalSummary, ImageOutcome, NO_FORMAT};
pub use video::{evaluate_clip, ClipOutcome, VideoSettings};
pub use video_report::{summarise, VideoSummary};

use crate::recognizer::Recognizer;
use std::time::Instant;

/// Runs every image through `recognizer`, timing decode and recognition together, after one
/// untimed warm-up run (the first inference also allocates and tunes).
pub fn evaluate(
    images: &[TruthImage],
    recognizer: &mut Recognizer,
    mut progress: impl FnMut(),
) -> Vec<ImageOutcome> {
    if let Some(first) = images.first() {
        if let Ok(image) = crate::source::decode_still(&first.image) {
            let _ = recognizer.recognize(&image);
        }
    }
    images
        .iter()
        .map(|truth| {
            let name = truth
                .image
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let started = Instant::now();
            let result = crate::source::decode_still(&truth.image)
                .and_then(|image| recognizer.recognize(&image).map_err(|e| e.to_string()));
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            progress();
            match result {
                Ok(recognition) => ImageOutcome {
                    image: name,
                    truths: truth.plates.clone(),
                    reads: recognition
                        .reads
                        .iter()
                        .map(|r| (r.plate.text.clone(), r.bbox))
                        .collect(),
                    unread: recognition.unread.iter().map(|d| d.bbox).collect(),
                    ms: Some(ms),
                    ocr_ms: Some(recognition.times.ocr.as_secs_f64() * 1000.0),
                    error: None,
                },
                Err(error) => ImageOutcome {
                    image: name,
                    truths: truth.plates.clone(),
                    reads: Vec::new(),
                    unread: Vec::new(),
                    ms: None,
                    ocr_ms: None,
                    error: Some(error),
                },
            }
        })
        .collect()
}
