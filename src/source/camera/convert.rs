//! Camera pixel formats to RGB. Pure: bytes in, an image out.

use image::RgbImage;

/// YUYV (YUV 4:2:2, Y0 U Y1 V) to RGB, BT.601 limited range as USB and CSI cameras deliver it.
/// `stride` is the bytes per row the driver reports (it may pad rows).
pub fn yuyv_to_rgb(data: &[u8], width: u32, height: u32, stride: u32) -> Result<RgbImage, String> {
    let (w, h, stride) = (width as usize, height as usize, stride.max(width * 2) as usize);
    if width % 2 != 0 {
        return Err(format!("YUYV needs an even width, got {width}"));
    }
    let needed = stride * (h.saturating_sub(1)) + w * 2;
    if data.len() < needed {
        return Err(format!("YUYV frame of {width}x{height} needs {needed} bytes, got {}", data.len()));
    }
    let mut out = vec![0u8; w * h * 3];
    for (row, out_row) in out.chunks_exact_mut(w * 3).enumerate() {
        let src = &data[row * stride..row * stride + w * 2];
        for (pair, px) in src.chunks_exact(4).zip(out_row.chunks_exact_mut(6)) {
            let (u, v) = (i32::from(pair[1]) - 128, i32::from(pair[3]) - 128);
            // Fixed-point BT.601: R = 1.164(Y-16) + 1.596V, G = 1.164(Y-16) - 0.392U - 0.813V,
            // B = 1.164(Y-16) + 2.017U, scaled by 256.
            let (rv, guv, bu) = (409 * v, -100 * u - 208 * v, 516 * u);
            for (k, y) in [pair[0], pair[2]].into_iter().enumerate() {
                let c = 298 * (i32::from(y) - 16) + 128;
                px[k * 3] = clamp((c + rv) >> 8);
                px[k * 3 + 1] = clamp((c + guv) >> 8);
                px[k * 3 + 2] = clamp((c + bu) >> 8);
            }
        }
    }
    RgbImage::from_raw(width, height, out).ok_or_else(|| "YUYV conversion produced a wrong size".to_string())
}

fn clamp(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Packed RGB24 rows (V4L2 `RGB3`) to an image, dropping row padding.
pub fn rgb24_to_rgb(data: &[u8], width: u32, height: u32, stride: u32) -> Result<RgbImage, String> {
    let (w, h, stride) = (width as usize, height as usize, stride.max(width * 3) as usize);
    let needed = stride * (h.saturating_sub(1)) + w * 3;
    if data.len() < needed {
        return Err(format!("RGB24 frame of {width}x{height} needs {needed} bytes, got {}", data.len()));
    }
    let mut out = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        out.extend_from_slice(&data[row * stride..row * stride + w * 3]);
    }
    RgbImage::from_raw(width, height, out).ok_or_else(|| "RGB24 conversion produced a wrong size".to_string())
}

/// A motion-JPEG frame to an image. Cameras often send JPEGs without Huffman tables (as MJPEG
/// allows); the decoder used here supplies the standard ones.
pub fn mjpeg_to_rgb(data: &[u8]) -> Result<RgbImage, String> {
    image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
        .map(|i| i.into_rgb8())
        .map_err(|e| format!("corrupt MJPEG frame: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// YUYV bytes for one pair of pixels of the same colour.
    fn pair(y: u8, u: u8, v: u8) -> [u8; 4] {
        [y, u, y, v]
    }

    #[test]
    fn yuyv_reference_colours_convert_within_two_levels() {
        // (Y, U, V) of 75 % colour bars in BT.601 limited range, and the RGB they stand for.
        let cases: [((u8, u8, u8), [u8; 3]); 6] = [
            ((180, 128, 128), [191, 191, 191]), // grey 75 %
            ((16, 128, 128), [0, 0, 0]),        // black
            ((235, 128, 128), [255, 255, 255]), // white
            ((65, 100, 212), [191, 0, 0]),      // red 75 %
            ((112, 72, 58), [0, 191, 0]),       // green 75 %
            ((35, 212, 114), [0, 0, 191]),      // blue 75 %
        ];
        for ((y, u, v), rgb) in cases {
            let img = yuyv_to_rgb(&pair(y, u, v), 2, 1, 4).expect("convert");
            for px in img.pixels() {
                for c in 0..3 {
                    assert!((i32::from(px[c]) - i32::from(rgb[c])).abs() <= 2, "YUV {y},{u},{v} -> {:?}, expected {rgb:?}", px.0);
                }
            }
        }
    }

    #[test]
    fn row_padding_is_skipped() {
        // 2x2 frame, rows padded to 8 bytes: the padding must not shift the second row.
        let mut data = Vec::new();
        data.extend_from_slice(&pair(235, 128, 128));
        data.extend_from_slice(&[0xAA; 4]);
        data.extend_from_slice(&pair(16, 128, 128));
        data.extend_from_slice(&[0xAA; 4]);
        let img = yuyv_to_rgb(&data, 2, 2, 8).expect("convert");
        assert_eq!(img.get_pixel(1, 0).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(0, 1).0, [0, 0, 0]);
    }

    #[test]
    fn short_or_odd_buffers_are_errors_not_panics() {
        assert!(yuyv_to_rgb(&[0; 7], 2, 2, 4).is_err());
        assert!(yuyv_to_rgb(&[0; 12], 3, 1, 6).is_err());
        assert!(rgb24_to_rgb(&[0; 5], 1, 2, 3).is_err());
        assert!(mjpeg_to_rgb(b"\xff\xd8 not really").is_err());
    }

    #[test]
    fn rgb24_rows_are_copied_without_padding() {
        let data = [1, 2, 3, 9, 4, 5, 6, 9];
        let img = rgb24_to_rgb(&data, 1, 2, 4).expect("convert");
        assert_eq!(img.into_raw(), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn an_mjpeg_frame_decodes() {
        let mut jpeg = Vec::new();
        let img = RgbImage::from_pixel(16, 8, image::Rgb([200, 30, 30]));
        img.write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).expect("encode");
        let back = mjpeg_to_rgb(&jpeg).expect("decode");
        assert_eq!(back.dimensions(), (16, 8));
        assert!(back.get_pixel(8, 4)[0] > 180);
    }
}
