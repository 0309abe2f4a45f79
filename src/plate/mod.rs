//! The plate, the domain every stage speaks of: what was read on it ([`PlateText`]), where and
//! how surely on one frame ([`PlateRead`]), the OCR's guess of its country ([`RegionGuess`]), and
//! how two plate texts compare ([`fold`], [`edit_distance`]). It sits at the bottom of the house
//! so that fusion, the hotlist, privacy and the record name a plate without depending on the
//! models that read it.

pub mod compare;

pub use compare::{edit_distance, fold};

use crate::geometry::BoundingBox;
use serde::{Deserialize, Serialize};

/// The region head's best guess of where a plate was issued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionGuess {
    pub name: String,
    pub confidence: f32,
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
