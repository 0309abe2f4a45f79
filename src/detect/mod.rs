//! Stage 2 of the data flow: finding plates in a frame.

pub mod detector;
pub mod letterbox;

pub use detector::{Detection, DetectorConfig, DetectorModel, PlateDetector};
