//! Camera pixel formats to RGB. Pure: bytes in, an image out.

use image::RgbImage;

/// Why one camera buffer could not become a picture. The camera stays usable: only this frame
/// is lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("{format} frame of {width}x{height} (row stride {stride} bytes) needs {needed} bytes, the driver filled {got}; the camera sent a truncated frame")]
    Short {
        format: &'static str,
        width: u32,
        height: u32,
        stride: usize,
        needed: usize,
        got: usize,
    },
    #[error(
        "YUYV needs an even width, the driver set {width}; configure an even source.camera.width"
    )]
    OddWidth { width: u32 },
    #[error("the driver set an empty frame size {width}x{height}; the camera is misconfigured, reconnect it")]
    Empty { width: u32, height: u32 },
    #[error("corrupt MJPEG frame ({detail}); a USB camera short of bandwidth sends these: try a lower size or rate")]
    Mjpeg { detail: String },
}

/// Bytes a frame of `rows` rows of `row_bytes` each needs when rows start `stride` bytes apart
/// (the last row needs no padding).
fn needed(stride: usize, rows: usize, row_bytes: usize) -> usize {
    stride * rows.saturating_sub(1) + row_bytes
}

/// YUYV (YUV 4:2:2, bytes Y0 U Y1 V) to RGB, BT.601 limited range as USB and CSI cameras deliver
/// it. `stride` is the bytes per row the driver reports (it may pad rows); each pair of pixels
/// shares its U and V, as the camera sampled them.
pub fn yuyv_to_rgb(
    data: &[u8],
    width: u32,
    height: u32,
    stride: u32,
) -> Result<RgbImage, ConvertError> {
    if !width.is_multiple_of(2) {
        return Err(ConvertError::OddWidth { width });
    }
    let (w, h, stride) = geometry(width, height, stride, 2)?;
    let needed = needed(stride, h, w * 2);
    if data.len() < needed {
        return Err(ConvertError::Short {
            format: "YUYV",
            width,
            height,
            stride,
            needed,
            got: data.len(),
        });
    }
    let mut image = RgbImage::new(width, height);
    for (row, out_row) in image.chunks_exact_mut(w * 3).enumerate() {
        let src = &data[row * stride..row * stride + w * 2];
        for (pair, px) in src.chunks_exact(4).zip(out_row.chunks_exact_mut(6)) {
            let (u, v) = (i32::from(pair[1]) - 128, i32::from(pair[3]) - 128);
            // Fixed point, scaled by 256: R = 1.164(Y-16) + 1.596V, G = 1.164(Y-16) - 0.391U
            // - 0.813V, B = 1.164(Y-16) + 2.018U. The +128 rounds the final shift.
            let (rv, guv, bu) = (409 * v, -100 * u - 208 * v, 516 * u);
            for (k, y) in [pair[0], pair[2]].into_iter().enumerate() {
                let c = 298 * (i32::from(y) - 16) + 128;
                px[k * 3] = clamp((c + rv) >> 8);
                px[k * 3 + 1] = clamp((c + guv) >> 8);
                px[k * 3 + 2] = clamp((c + bu) >> 8);
            }
        }
    }
    Ok(image)
}

/// Width and height as sizes, and the row stride (at least one packed row of `bytes_per_pixel`).
fn geometry(
    width: u32,
    height: u32,
    stride: u32,
    bytes_per_pixel: usize,
) -> Result<(usize, usize, usize), ConvertError> {
    if width == 0 || height == 0 {
        return Err(ConvertError::Empty { width, height });
    }
    let w = width as usize;
    Ok((w, height as usize, (stride as usize).max(w * bytes_per_pixel)))
}

fn clamp(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Packed RGB24 rows (V4L2 `RGB3`) to an image, dropping row padding.
pub fn rgb24_to_rgb(
    data: &[u8],
    width: u32,
    height: u32,
    stride: u32,
) -> Result<RgbImage, ConvertError> {
    let (w, h, stride) = geometry(width, height, stride, 3)?;
    let needed = needed(stride, h, w * 3);
    if data.len() < needed {
        return Err(ConvertError::Short {
            format: "RGB24",
            width,
            height,
            stride,
            needed,
            got: data.len(),
        });
    }
    let mut image = RgbImage::new(width, height);
    for (row, out_row) in image.chunks_exact_mut(w * 3).enumerate() {
        out_row.copy_from_slice(&data[row * stride..row * stride + w * 3]);
    }
    Ok(image)
}

/// A motion-JPEG frame to an image; a frame without Huffman tables, as USB cameras send them,
/// is decoded with the standard ones (see `mjpeg`).
pub fn mjpeg_to_rgb(data: &[u8]) -> Result<RgbImage, ConvertError> {
    let fixed = super::mjpeg::with_standard_tables(data);
    image::load_from_memory_with_format(fixed.as_deref().unwrap_or(data), image::ImageFormat::Jpeg)
        .map(|i| i.into_rgb8())
        .map_err(|e| ConvertError::Mjpeg { detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// YUYV bytes for one pair of pixels of the same colour.
    fn pair(y: u8, u: u8, v: u8) -> [u8; 4] {
        [y, u, y, v]
    }

    fn testdata(name: &str) -> Vec<u8> {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/v4l2").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Largest per-channel difference between `image` and the reference picture `expected`
    /// (a PNG in testdata), and how many channel values differ by more than `tolerance`.
    fn compare(image: &RgbImage, expected: &str, tolerance: u8) -> (u8, usize) {
        let expected =
            image::load_from_memory(&testdata(expected)).expect("reference PNG").into_rgb8();
        assert_eq!(image.dimensions(), expected.dimensions(), "size");
        let diffs = image.as_raw().iter().zip(expected.as_raw()).map(|(a, b)| a.abs_diff(*b));
        diffs.fold((0, 0), |(max, over), d| (max.max(d), over + usize::from(d > tolerance)))
    }

    #[test]
    fn yuyv_reference_colours_convert_within_two_levels() {
        // (Y, U, V) of 75 % colour bars in BT.601 limited range, and the RGB they stand for.
        let cases: [((u8, u8, u8), [u8; 3]); 8] = [
            ((180, 128, 128), [191, 191, 191]), // grey 75 %
            ((16, 128, 128), [0, 0, 0]),        // black
            ((235, 128, 128), [255, 255, 255]), // white
            ((65, 100, 212), [191, 0, 0]),      // red 75 %
            ((112, 72, 58), [0, 191, 0]),       // green 75 %
            ((35, 212, 114), [0, 0, 191]),      // blue 75 %
            ((162, 44, 142), [191, 191, 0]),    // yellow 75 %
            ((84, 184, 198), [191, 0, 191]),    // magenta 75 %
        ];
        for ((y, u, v), rgb) in cases {
            let img = yuyv_to_rgb(&pair(y, u, v), 2, 1, 4).expect("convert");
            for px in img.pixels() {
                for c in 0..3 {
                    assert!(
                        px[c].abs_diff(rgb[c]) <= 2,
                        "YUV {y},{u},{v} -> {:?}, expected {rgb:?}",
                        px.0
                    );
                }
            }
        }
    }

    #[test]
    fn out_of_range_yuv_saturates_instead_of_wrapping() {
        let img = yuyv_to_rgb(&[255, 255, 255, 255, 0, 0, 0, 0], 4, 1, 8).expect("convert");
        assert_eq!(img.get_pixel(0, 0).0, [255, 125, 255]);
        assert_eq!(img.get_pixel(2, 0).0, [0, 135, 0]);
    }

    #[test]
    fn row_padding_is_skipped() {
        // 2x2 frame, rows padded to 8 bytes: the padding must not shift the second row.
        let mut data = Vec::new();
        data.extend_from_slice(&pair(235, 128, 128));
        data.extend_from_slice(&[0xAA; 4]);
        data.extend_from_slice(&pair(16, 128, 128));
        let img = yuyv_to_rgb(&data, 2, 2, 8).expect("convert");
        assert_eq!(img.get_pixel(1, 0).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(0, 1).0, [0, 0, 0]);
    }

    #[test]
    fn short_or_odd_buffers_are_errors_not_panics() {
        assert!(matches!(
            yuyv_to_rgb(&[0; 7], 2, 2, 4),
            Err(ConvertError::Short { needed: 8, got: 7, .. })
        ));
        assert_eq!(yuyv_to_rgb(&[0; 12], 3, 1, 6), Err(ConvertError::OddWidth { width: 3 }));
        assert!(matches!(rgb24_to_rgb(&[0; 5], 1, 2, 3), Err(ConvertError::Short { .. })));
        assert!(matches!(mjpeg_to_rgb(b"\xff\xd8 not really"), Err(ConvertError::Mjpeg { .. })));
        assert!(matches!(mjpeg_to_rgb(&[]), Err(ConvertError::Mjpeg { .. })));
        assert_eq!(yuyv_to_rgb(&[], 0, 0, 0), Err(ConvertError::Empty { width: 0, height: 0 }));
        assert_eq!(
            rgb24_to_rgb(&[0; 3], 1, 0, 3),
            Err(ConvertError::Empty { width: 1, height: 0 })
        );
    }

    #[test]
    fn rgb24_rows_are_copied_without_padding() {
        let data = [1, 2, 3, 9, 4, 5, 6, 9];
        let img = rgb24_to_rgb(&data, 1, 2, 4).expect("convert");
        assert_eq!(img.into_raw(), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn an_encoded_mjpeg_frame_decodes() {
        let mut jpeg = Vec::new();
        let img = RgbImage::from_pixel(16, 8, image::Rgb([200, 30, 30]));
        img.write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .expect("encode");
        let back = mjpeg_to_rgb(&jpeg).expect("decode");
        assert_eq!(back.dimensions(), (16, 8));
        assert!(back.get_pixel(8, 4)[0] > 180);
    }

    /// A frame the vivid driver delivered (YUYV, 160x120 cut from its 320x180 colour bars and
    /// text overlay) against FFmpeg's conversion of the same bytes to RGB24.
    #[test]
    fn a_recorded_vivid_yuyv_frame_matches_ffmpeg_within_two_levels() {
        let frame = testdata("vivid-yuyv-160x120.raw");
        let image = yuyv_to_rgb(&frame, 160, 120, 320).expect("convert");
        let (max, over) = compare(&image, "vivid-yuyv-160x120.ffmpeg.png", 2);
        assert_eq!(over, 0, "{over} channel values differ by more than 2 (largest {max})");
    }

    /// An MJPEG frame as a USB camera sends it (no Huffman tables, 4:2:2), made by FFmpeg from
    /// the recorded vivid frame, against FFmpeg's own decoding of it.
    #[test]
    fn a_camera_style_mjpeg_frame_without_huffman_tables_matches_ffmpeg() {
        let jpeg = testdata("vivid-160x120.mjpeg");
        assert!(
            !jpeg.windows(2).any(|w| w == [0xFF, 0xC4]),
            "the test frame must lack its DHT segment"
        );
        let image = mjpeg_to_rgb(&jpeg).expect("decode");
        assert_eq!(image.dimensions(), (160, 120));
        let (max, over) = compare(&image, "vivid-160x120.mjpeg.ffmpeg.png", 2);
        assert_eq!(over, 0, "{over} channel values differ by more than 2 (largest {max})");
    }
}
