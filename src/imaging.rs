//! Pixel work shared by the stages, done by OpenCV on borrowed buffers so no frame is copied
//! just to be resized.

use image::RgbImage;
use opencv::core::{Mat, Rect, Size, Vec3b};
use opencv::imgproc;
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
    resize_region_with(src, rect, dst, dst_w, dst_h, imgproc::INTER_LINEAR)
}

fn resize_region_with(
    src: &RgbImage,
    rect: (u32, u32, u32, u32),
    dst: &mut [u8],
    dst_w: u32,
    dst_h: u32,
    interpolation: i32,
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
        interpolation,
    )
}

/// Appends `rows` rows of `row` bytes each from `data`, the first at `start` and each next one
/// `stride` bytes on: a region of an image, or a decoded plane, without the bytes around it.
/// `None` when `data` ends too early.
pub fn append_rows(
    out: &mut Vec<u8>,
    data: &[u8],
    start: usize,
    stride: usize,
    row: usize,
    rows: usize,
) -> Option<()> {
    out.reserve(row * rows);
    for y in 0..rows {
        let from = start + y * stride;
        out.extend_from_slice(data.get(from..from + row)?);
    }
    Some(())
}

/// Converts `i420` (Y, then U, then V, each without row padding) of `width` × `height` into
/// RGB with BT.601 video-range coefficients, the conversion FFmpeg's swscale applies by default.
pub fn rgb_from_i420(i420: &[u8], width: u32, height: u32) -> opencv::Result<RgbImage> {
    let src = Mat::new_rows_cols_with_bytes::<u8>((height * 3 / 2) as i32, width as i32, i420)?;
    let mut rgb = RgbImage::new(width, height);
    let mut dst =
        Mat::new_rows_cols_with_bytes_mut::<Vec3b>(height as i32, width as i32, &mut rgb)?;
    imgproc::cvt_color_def(&src, &mut dst, imgproc::COLOR_YUV2RGB_I420)?;
    Ok(rgb)
}

/// Why an image could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum JpegError {
    #[error("scaling failed: {0}")]
    Scale(#[from] opencv::Error),
    #[error("JPEG encoding failed: {0}")]
    Encode(#[from] jpeg_encoder::EncodingError),
    #[error("the region {rect:?} is not inside the {width} × {height} image")]
    OutOfBounds { rect: (u32, u32, u32, u32), width: u32, height: u32 },
    #[error("{width} × {height} is larger than a JPEG may be (65 535 pixels a side)")]
    TooLarge { width: u32, height: u32 },
}

/// Encodes `rect` (x, y, w, h) of `image` as JPEG, scaled down to at most `max_width` pixels
/// wide; returns the bytes and the encoded size.
///
/// `jpeg-encoder` (Rust, SIMD) rather than OpenCV's `imencode`: imgcodecs loads GDAL and its
/// company into every process; it takes 1.8× libjpeg-turbo's time on a 1280 × 960 overview
/// (docs/memory.md), once per read, never per frame.
pub fn encode_jpeg(
    image: &RgbImage,
    rect: (u32, u32, u32, u32),
    max_width: u32,
    quality: u8,
) -> Result<(Vec<u8>, u32, u32), JpegError> {
    let (x, y, w, h) = rect;
    let (out_w, out_h) = if w > max_width && max_width > 0 {
        (max_width, ((h as u64 * max_width as u64) / w as u64).max(1) as u32)
    } else {
        (w, h)
    };
    let inside = x.checked_add(w).is_some_and(|right| right <= image.width())
        && y.checked_add(h).is_some_and(|bottom| bottom <= image.height());
    if !inside {
        return Err(JpegError::OutOfBounds { rect, width: image.width(), height: image.height() });
    }
    let too_large = || JpegError::TooLarge { width: out_w, height: out_h };
    let (jpeg_w, jpeg_h) = (
        u16::try_from(out_w).map_err(|_| too_large())?,
        u16::try_from(out_h).map_err(|_| too_large())?,
    );
    let mut pixels = Vec::new();
    let whole = rect == (0, 0, image.width(), image.height());
    if (out_w, out_h) == (w, h) && !whole {
        let stride = image.width() as usize * 3;
        let start = y as usize * stride + x as usize * 3;
        append_rows(&mut pixels, image.as_raw(), start, stride, w as usize * 3, h as usize)
            .ok_or(JpegError::OutOfBounds { rect, width: image.width(), height: image.height() })?;
    } else if (out_w, out_h) != (w, h) {
        pixels.resize(out_w as usize * out_h as usize * 3, 0);
        resize_region_with(image, rect, &mut pixels, out_w, out_h, imgproc::INTER_AREA)?;
    }
    // The whole image unscaled is encoded from its own buffer: a frame-sized copy less at the
    // moment a read's overview is made (docs/memory.md).
    let pixels: &[u8] = if (out_w, out_h) == (w, h) && whole { image.as_raw() } else { &pixels };
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, quality.clamp(1, 100)).encode(
        pixels,
        jpeg_w,
        jpeg_h,
        jpeg_encoder::ColorType::Rgb,
    )?;
    Ok((jpeg, out_w, out_h))
}
