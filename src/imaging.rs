//! Pixel work shared by the stages, done by OpenCV on borrowed buffers so no frame is copied
//! just to be resized.

use image::RgbImage;
use opencv::core::{Mat, Rect, Size, Vec3b};
use opencv::imgproc;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};

/// `[images]`: which JPEGs a read carries and how they are encoded (what of them may leave the
/// device is `privacy::policy`'s decision).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageConfig {
    /// Attach the overview frame (JPEG) to each read.
    pub overview: bool,
    /// Overview frames wider than this are scaled down.
    pub overview_max_width: u32,
    /// Attach the plate crop (JPEG) to each read.
    pub plate_crop: bool,
    pub jpeg_quality: u8,
    /// Context frames a hit carries from before its best frame, and from after it (sampled
    /// every `context_interval_ms`, at most `context_max_width` wide): what the car did around
    /// the read, for whoever must judge it later. Only a hit's, and only with `overview`.
    pub context_before: u32,
    pub context_after: u32,
    pub context_interval_ms: u64,
    pub context_max_width: u32,
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self {
            overview: true,
            overview_max_width: 1280,
            plate_crop: true,
            jpeg_quality: 85,
            context_before: 2,
            context_after: 2,
            context_interval_ms: 250,
            context_max_width: 640,
        }
    }
}

/// Resizes the `rect` (x, y, w, h) of `src` into `dst`, an RGB buffer of `dst_w` × `dst_h`,
/// with bilinear interpolation: the interpolation both models were trained with.
pub fn resize_region_into(
    src: &RgbImage,
    rect: (u32, u32, u32, u32),
    dst: &mut [u8],
    dst_w: u32,
    dst_h: u32,
) -> opencv::Result<()> {
    let src_mat = Mat::new_rows_cols_with_bytes::<Vec3b>(
        src.height() as i32,
        src.width() as i32,
        src.as_raw(),
    )?;
    let (x, y, w, h) = rect;
    let roi = Mat::roi(&src_mat, Rect::new(x as i32, y as i32, w as i32, h as i32))?;
    let mut dst_mat = Mat::new_rows_cols_with_bytes_mut::<Vec3b>(dst_h as i32, dst_w as i32, dst)?;
    imgproc::resize(
        &roi,
        &mut dst_mat,
        Size::new(dst_w as i32, dst_h as i32),
        0.0,
        0.0,
        imgproc::INTER_LINEAR,
    )
}

/// Converts an OpenCV BGR frame (what video decoding yields) into an RGB image.
pub fn rgb_from_bgr_mat(bgr: &Mat) -> opencv::Result<RgbImage> {
    let (width, height) = (bgr.cols() as u32, bgr.rows() as u32);
    let mut rgb = RgbImage::new(width, height);
    let mut dst =
        Mat::new_rows_cols_with_bytes_mut::<Vec3b>(height as i32, width as i32, &mut rgb)?;
    imgproc::cvt_color_def(bgr, &mut dst, imgproc::COLOR_BGR2RGB)?;
    Ok(rgb)
}

/// Encodes `rect` (x, y, w, h) of `image` as JPEG, scaled down to at most `max_width` pixels
/// wide; returns the bytes and the encoded size.
pub fn encode_jpeg(
    image: &RgbImage,
    rect: (u32, u32, u32, u32),
    max_width: u32,
    quality: u8,
) -> opencv::Result<(Vec<u8>, u32, u32)> {
    use opencv::core::{Vector, CV_8UC3};
    let src = Mat::new_rows_cols_with_bytes::<Vec3b>(
        image.height() as i32,
        image.width() as i32,
        image.as_raw(),
    )?;
    let (x, y, w, h) = rect;
    let roi = Mat::roi(&src, Rect::new(x as i32, y as i32, w as i32, h as i32))?;
    let (out_w, out_h) = if w > max_width && max_width > 0 {
        (max_width, ((h as u64 * max_width as u64) / w as u64).max(1) as u32)
    } else {
        (w, h)
    };
    let mut bgr = Mat::new_rows_cols_with_default(
        out_h as i32,
        out_w as i32,
        CV_8UC3,
        opencv::core::Scalar::default(),
    )?;
    if (out_w, out_h) != (w, h) {
        let mut scaled = Mat::default();
        imgproc::resize(
            &roi,
            &mut scaled,
            Size::new(out_w as i32, out_h as i32),
            0.0,
            0.0,
            imgproc::INTER_AREA,
        )?;
        imgproc::cvt_color_def(&scaled, &mut bgr, imgproc::COLOR_RGB2BGR)?;
    } else {
        imgproc::cvt_color_def(&roi, &mut bgr, imgproc::COLOR_RGB2BGR)?;
    }
    let mut buffer = Vector::<u8>::new();
    let params = Vector::from_slice(&[
        opencv::imgcodecs::IMWRITE_JPEG_QUALITY,
        i32::from(quality.clamp(1, 100)),
    ]);
    opencv::imgcodecs::imencode(".jpg", &bgr, &mut buffer, &params)?;
    Ok((buffer.to_vec(), out_w, out_h))
}
