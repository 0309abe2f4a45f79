//! The plate OCR model (fast-plate-ocr CCT): the crops of a frame read in batched calls of a
//! bounded size.

use super::config::OcrModel;
use super::decode::{Alphabet, OcrReading};
use crate::geometry::BoundingBox;
use crate::imaging::resize_region_into;
use crate::models::{LoadedModel, ModelError};
use image::RgbImage;
use ort::environment::Environment;
use ort::session::Session;
use ort::value::{TensorRef, ValueType};
use std::path::{Path, PathBuf};

const INPUT_NAME: &str = "input";

/// Crops read in one model call at most; more are read in further calls. ONNX Runtime's arena
/// keeps the buffers of the largest call for the life of the process, and the crops of a frame
/// are its plates times the ensemble's variants (24 for 8 doubtful plates), so without a cap a
/// busy moment would raise the peak for good: with 8 cars in view at 720p the cap took `run`
/// from 164 to 155 MiB (docs/accuracy-and-speed.md, Many vehicles in view). The model reads
/// each crop alone either way: the 59 reads of `replay` on the EU photographs came out byte for
/// byte the same.
const MAX_CROPS_PER_CALL: usize = 4;
const REGION_OUTPUT: &str = "region";

pub struct PlateReader {
    session: Session,
    path: PathBuf,
    alphabet: Alphabet,
    regions: Vec<String>,
    plate_output: String,
    has_region_head: bool,
    width: u32,
    height: u32,
    /// Reused between frames: the batch of resized crops, NHWC bytes.
    batch: Vec<u8>,
}

impl PlateReader {
    pub fn load(
        environment: &Environment,
        models_dir: &Path,
        model: OcrModel,
    ) -> Result<Self, ModelError> {
        let LoadedModel { session, path, entry } =
            crate::models::load(environment, models_dir, model.manifest_id())?;
        let contract = |detail: String| ModelError::Contract {
            path: path.clone(),
            expected: entry.outputs.clone(),
            detail,
        };
        let alphabet = entry
            .alphabet
            .as_deref()
            .zip(entry.pad_char)
            .and_then(|(chars, pad)| Alphabet::new(chars, pad))
            .ok_or_else(|| {
                contract("the manifest gives no alphabet with its padding character".into())
            })?;
        let (height, width) =
            match session.inputs().iter().find(|i| i.name() == INPUT_NAME).map(|i| i.dtype()) {
                Some(ValueType::Tensor { shape, .. })
                    if shape.len() == 4 && shape[3] == 3 && shape[1] > 0 && shape[2] > 0 =>
                {
                    (shape[1] as u32, shape[2] as u32)
                }
                other => {
                    return Err(contract(format!(
                        "input `{INPUT_NAME}` is {other:?}, expected u8 [N,H,W,3]"
                    )))
                }
            };
        let plate_output = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .find(|name| name != REGION_OUTPUT)
            .ok_or_else(|| contract("the model has no plate output".into()))?;
        let has_region_head = session.outputs().iter().any(|o| o.name() == REGION_OUTPUT);
        if has_region_head && entry.regions.is_empty() {
            return Err(contract(
                "the model has a region head but the manifest lists no regions".into(),
            ));
        }
        Ok(Self {
            session,
            path,
            alphabet,
            regions: entry.regions.clone(),
            plate_output,
            has_region_head,
            width,
            height,
            batch: Vec::new(),
        })
    }

    /// The names of the region head's classes (empty without one).
    pub fn regions(&self) -> &[String] {
        if self.has_region_head {
            &self.regions
        } else {
            &[]
        }
    }

    pub fn alphabet(&self) -> &Alphabet {
        &self.alphabet
    }

    /// Reads every box of `image`, [`MAX_CROPS_PER_CALL`] to a model call; the result has one
    /// reading per box.
    pub fn read(
        &mut self,
        image: &RgbImage,
        boxes: &[BoundingBox],
    ) -> Result<Vec<OcrReading>, OcrError> {
        let rects: Vec<_> =
            boxes.iter().filter_map(|b| b.pixel_rect(image.width(), image.height())).collect();
        if rects.len() != boxes.len() {
            return Err(OcrError::EmptyBox);
        }
        let mut readings = Vec::with_capacity(rects.len());
        for chunk in rects.chunks(MAX_CROPS_PER_CALL) {
            readings.extend(self.read_rects(image, chunk)?);
        }
        Ok(readings)
    }

    /// Reads `rects` of `image` in one model call.
    fn read_rects(
        &mut self,
        image: &RgbImage,
        rects: &[(u32, u32, u32, u32)],
    ) -> Result<Vec<OcrReading>, OcrError> {
        let crop_len = (self.width * self.height * 3) as usize;
        self.batch.resize(crop_len * rects.len(), 0);
        // The frame budget's crop and OCR stages (docs/frame-cost.md), spanned apart.
        let crops = tracing::trace_span!(target: "anpr_edge::stage", "crops").entered();
        for (rect, slot) in rects.iter().zip(self.batch.chunks_exact_mut(crop_len)) {
            resize_region_into(image, *rect, slot, self.width, self.height)
                .map_err(OcrError::Resize)?;
        }
        drop(crops);
        let _inference = tracing::trace_span!(target: "anpr_edge::stage", "ocr").entered();
        let shape = [rects.len(), self.height as usize, self.width as usize, 3];
        let tensor = TensorRef::from_array_view((shape, self.batch.as_slice()))
            .map_err(OcrError::Runtime)?;
        let outputs =
            self.session.run(ort::inputs![INPUT_NAME => tensor]).map_err(OcrError::Runtime)?;
        let (plate_shape, plates) = outputs[self.plate_output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(OcrError::Runtime)?;
        let per_plate = plates.len() / rects.len();
        if plate_shape.len() != 3
            || plate_shape[2] as usize != self.alphabet.len()
            || per_plate * rects.len() != plates.len()
        {
            return Err(OcrError::Output { path: self.path.clone(), shape: plate_shape.to_vec() });
        }
        let mut readings: Vec<OcrReading> =
            plates.chunks_exact(per_plate).map(|slots| self.alphabet.decode(slots)).collect();
        if self.has_region_head {
            let (_, regions) =
                outputs[REGION_OUTPUT].try_extract_tensor::<f32>().map_err(OcrError::Runtime)?;
            if regions.len() == self.regions.len() * readings.len() {
                for (reading, dist) in
                    readings.iter_mut().zip(regions.chunks_exact(self.regions.len()))
                {
                    reading.region_distribution = dist.to_vec();
                }
            }
        }
        Ok(readings)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error("OCR inference failed: {0}")]
    Runtime(ort::Error),
    #[error("resizing a plate crop failed: {0}")]
    Resize(opencv::Error),
    #[error("a plate box has no pixel inside the frame")]
    EmptyBox,
    #[error("{path}: OCR output has shape {shape:?}, expected [N, slots, alphabet]")]
    Output { path: PathBuf, shape: Vec<i64> },
}
