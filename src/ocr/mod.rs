//! Stage 3 of the data flow: reading the text of each plate found in a frame.

pub mod config;
pub mod decode;
pub mod ensemble;
pub mod reader;

pub use config::{EnsembleConfig, EnsembleMode, OcrConfig, OcrModel};
pub use decode::OcrReading;
pub use reader::PlateReader;
