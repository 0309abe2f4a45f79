//! Stage 3 of the data flow: reading the text of each plate found in a frame.

pub mod decode;
pub mod reader;

pub use decode::{OcrReading, RegionGuess};
pub use reader::{OcrConfig, OcrModel, PlateReader};
