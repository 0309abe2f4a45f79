//! The plate detector: a YOLOv9 model with non-maximum suppression inside its graph.

use super::letterbox::Letterbox;
use crate::geometry::BoundingBox;
use crate::imaging::resize_region_into;
use crate::models::{LoadedModel, ModelError};
use image::RgbImage;
use ort::environment::Environment;
use ort::session::Session;
use ort::value::{TensorRef, ValueType};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Grey the model was trained to see around a letterboxed frame.
const PAD_VALUE: f32 = 114.0 / 255.0;
const INPUT_NAME: &str = "images";
const OUTPUT_NAME: &str = "output0";
/// batch index, x1, y1, x2, y2, class, score
const OUTPUT_COLUMNS: usize = 7;

/// Which detector file runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DetectorModel {
    /// The upstream int8 (dynamically quantised) file, as shipped.
    Int8,
    /// The same network with its weights dequantised to float32 (models/dequantize_detector.py).
    F32,
    /// The float network re-targeted to a 384 × 384 input.
    #[value(name = "f32-384")]
    #[serde(rename = "f32-384")]
    F32_384,
    /// … to a 352 × 352 input.
    #[value(name = "f32-352")]
    #[serde(rename = "f32-352")]
    F32_352,
    /// … to a 320 × 320 input.
    #[value(name = "f32-320")]
    #[serde(rename = "f32-320")]
    F32_320,
}

impl DetectorModel {
    pub fn manifest_id(self) -> &'static str {
        match self {
            DetectorModel::Int8 => "detector-int8",
            DetectorModel::F32 => "detector-f32",
            DetectorModel::F32_384 => "detector-f32-384",
            DetectorModel::F32_352 => "detector-f32-352",
            DetectorModel::F32_320 => "detector-f32-320",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    pub model: DetectorModel,
    /// Detections scoring below this are ignored (0..1).
    pub min_score: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self { model: DetectorModel::F32, min_score: 0.4 }
    }
}

/// A plate found in a frame, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Detection {
    pub bbox: BoundingBox,
    pub score: f32,
}

pub struct PlateDetector {
    session: Session,
    path: PathBuf,
    input_size: u32,
    min_score: f32,
    /// Reused between frames: the model input (CHW floats) and the resized frame (HWC bytes).
    input: Vec<f32>,
    resized: Vec<u8>,
}

impl PlateDetector {
    pub fn load(
        environment: &Environment,
        models_dir: &Path,
        config: &DetectorConfig,
    ) -> Result<Self, ModelError> {
        let LoadedModel { session, path, entry } =
            crate::models::load(environment, models_dir, config.model.manifest_id())?;
        let input_size = check_contract(&session, &path, &entry.inputs)?;
        let plane = (input_size * input_size) as usize;
        Ok(Self {
            session,
            path,
            input_size,
            min_score: config.min_score,
            input: vec![PAD_VALUE; 3 * plane],
            resized: Vec::new(),
        })
    }

    pub fn input_size(&self) -> u32 {
        self.input_size
    }

    /// Plates in `image`, boxes in its pixels and clipped to it, best score first.
    pub fn detect(&mut self, image: &RgbImage) -> Result<Vec<Detection>, DetectError> {
        let letterbox = self.preprocess(image)?;
        // The frame budget's inference stage (docs/frame-cost.md): the model and its rows.
        let _inference = tracing::trace_span!(target: "anpr_edge::stage", "detector").entered();
        let s = self.input_size as usize;
        let tensor = TensorRef::from_array_view(([1usize, 3, s, s], self.input.as_slice()))
            .map_err(DetectError::Runtime)?;
        let outputs =
            self.session.run(ort::inputs![INPUT_NAME => tensor]).map_err(DetectError::Runtime)?;
        let (shape, rows) =
            outputs[OUTPUT_NAME].try_extract_tensor::<f32>().map_err(DetectError::Runtime)?;
        if shape.len() != 2 || shape[1] as usize != OUTPUT_COLUMNS {
            return Err(DetectError::Output { path: self.path.clone(), shape: shape.to_vec() });
        }
        Ok(decode_detections(rows, &letterbox, image.width(), image.height(), self.min_score))
    }

    /// Letterboxes `image` into the reused input tensor.
    pub fn preprocess(&mut self, image: &RgbImage) -> Result<Letterbox, DetectError> {
        let _letterbox = tracing::trace_span!(target: "anpr_edge::stage", "letterbox").entered();
        let lb = Letterbox::fit(image.width(), image.height(), self.input_size);
        let (rw, rh) = (lb.resized_width as usize, lb.resized_height as usize);
        self.resized.resize(rw * rh * 3, 0);
        resize_region_into(
            image,
            (0, 0, image.width(), image.height()),
            &mut self.resized,
            lb.resized_width,
            lb.resized_height,
        )
        .map_err(DetectError::Resize)?;
        let s = self.input_size as usize;
        let plane = s * s;
        self.input.fill(PAD_VALUE);
        let (red, rest) = self.input.split_at_mut(plane);
        let (green, blue) = rest.split_at_mut(plane);
        let (left, top) = (lb.pad_left as usize, lb.pad_top as usize);
        for (y, row) in self.resized.chunks_exact(rw * 3).enumerate() {
            let offset = (top + y) * s + left;
            let (r, g, b) = (
                &mut red[offset..offset + rw],
                &mut green[offset..offset + rw],
                &mut blue[offset..offset + rw],
            );
            for (x, px) in row.chunks_exact(3).enumerate() {
                r[x] = px[0] as f32 / 255.0;
                g[x] = px[1] as f32 / 255.0;
                b[x] = px[2] as f32 / 255.0;
            }
        }
        Ok(lb)
    }
}

/// Turns the model's rows into detections on the source frame: drops rows under `min_score`
/// and boxes that have no pixel left after clipping, sorts best first.
pub fn decode_detections(
    rows: &[f32],
    letterbox: &Letterbox,
    width: u32,
    height: u32,
    min_score: f32,
) -> Vec<Detection> {
    let mut detections: Vec<Detection> = rows
        .chunks_exact(OUTPUT_COLUMNS)
        .filter(|row| row[6] >= min_score && row.iter().all(|v| v.is_finite()))
        .filter_map(|row| {
            let input_box = BoundingBox { x1: row[1], y1: row[2], x2: row[3], y2: row[4] };
            let bbox = letterbox.to_source(&input_box).clipped(width, height);
            bbox.pixel_rect(width, height).map(|_| Detection { bbox, score: row[6] })
        })
        .collect();
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    detections
}

fn check_contract(session: &Session, path: &Path, expected: &str) -> Result<u32, ModelError> {
    let contract = |detail: String| ModelError::Contract {
        path: path.to_path_buf(),
        expected: expected.to_string(),
        detail,
    };
    let input = session
        .inputs()
        .iter()
        .find(|i| i.name() == INPUT_NAME)
        .ok_or_else(|| contract(format!("no input named `{INPUT_NAME}`")))?;
    let size = match input.dtype() {
        ValueType::Tensor { shape, .. }
            if shape.len() == 4 && shape[1] == 3 && shape[2] == shape[3] && shape[2] > 0 =>
        {
            shape[2] as u32
        }
        other => return Err(contract(format!("input `{INPUT_NAME}` is {other:?}"))),
    };
    if !session.outputs().iter().any(|o| o.name() == OUTPUT_NAME) {
        return Err(contract(format!("no output named `{OUTPUT_NAME}`")));
    }
    Ok(size)
}

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("detector inference failed: {0}")]
    Runtime(ort::Error),
    #[error("resizing the frame for the detector failed: {0}")]
    Resize(opencv::Error),
    #[error("{path}: detector output has shape {shape:?}, expected [N, 7]")]
    Output { path: PathBuf, shape: Vec<i64> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_mapped_back_filtered_and_sorted() {
        let lb = Letterbox::fit(832, 624, 416); // scale 0.5, pad_top 52
        #[rustfmt::skip]
        let rows = [
            0.0, 10.0, 62.0, 50.0, 72.0, 0.0, 0.6,   // kept: (20,20)-(100,40)
            0.0, 100.0, 100.0, 120.0, 110.0, 0.0, 0.3, // below min score
            0.0, 200.0, 152.0, 260.0, 172.0, 0.0, 0.9, // kept, best
            0.0, 10.0, 0.0, 50.0, 40.0, 0.0, 0.95,     // entirely in the top padding: no pixels
        ];
        let d = decode_detections(&rows, &lb, 832, 624, 0.4);
        assert_eq!(d.len(), 2);
        assert!((d[0].score - 0.9).abs() < 1e-6);
        assert_eq!(d[1].bbox, BoundingBox { x1: 20.0, y1: 20.0, x2: 100.0, y2: 40.0 });
    }

    #[test]
    fn boxes_past_the_border_are_clipped() {
        let lb = Letterbox::fit(416, 416, 416);
        let rows = [0.0, -10.0, 400.0, 30.0, 430.0, 0.0, 0.8];
        let d = decode_detections(&rows, &lb, 416, 416, 0.4);
        assert_eq!(d[0].bbox, BoundingBox { x1: 0.0, y1: 400.0, x2: 30.0, y2: 416.0 });
    }

    #[test]
    fn non_finite_rows_are_ignored() {
        let lb = Letterbox::fit(416, 416, 416);
        let rows = [0.0, f32::NAN, 1.0, 30.0, 40.0, 0.0, 0.8];
        assert!(decode_detections(&rows, &lb, 416, 416, 0.4).is_empty());
    }
}
