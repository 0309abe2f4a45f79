//! Pixel work shared by the stages, done by OpenCV on borrowed buffers so no frame is copied
//! just to be resized.

use image::RgbImage;
use opencv::core::{Mat, Rect, Size, Vec3b};
use opencv::imgproc;
use opencv::prelude::*;

/// Resizes the `rect` (x, y, w, h) of `src` into `dst`, an RGB buffer of `dst_w` × `dst_h`,
/// with bilinear interpolation: the interpolation both models were trained with.
pub fn resize_region_into(
    src: &RgbImage,
    rect: (u32, u32, u32, u32),
    dst: &mut [u8],
    dst_w: u32,
    dst_h: u32,
) -> opencv::Result<()> {
    let src_mat = Mat::new_rows_cols_with_bytes::<Vec3b>(src.height() as i32, src.width() as i32, src.as_raw())?;
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
    let mut dst = Mat::new_rows_cols_with_bytes_mut::<Vec3b>(height as i32, width as i32, &mut rgb)?;
    imgproc::cvt_color_def(bgr, &mut dst, imgproc::COLOR_BGR2RGB)?;
    Ok(rgb)
}
