//! Letterboxing: fitting a frame into the detector's square input without distorting it, and
//! mapping boxes found there back onto the frame.
//!
//! Pure arithmetic, kept apart from pixels so that it is tested exactly.

use crate::geometry::BoundingBox;

/// Where a frame of `source` size lands inside the square model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Source pixels per input pixel, inverted: input = source × scale.
    pub scale: f32,
    /// Size of the resized frame inside the input.
    pub resized_width: u32,
    pub resized_height: u32,
    /// Padding before the resized frame (left, top); the rest of the input is padding too.
    pub pad_left: u32,
    pub pad_top: u32,
    pub input_size: u32,
}

impl Letterbox {
    /// Scales the frame to fit `input_size` (up or down), centred, the way YOLO models are fed:
    /// half the padding on each side, the odd pixel after the frame.
    pub fn fit(source_width: u32, source_height: u32, input_size: u32) -> Self {
        let scale = (input_size as f32 / source_width.max(1) as f32)
            .min(input_size as f32 / source_height.max(1) as f32);
        let resized_width = ((source_width as f32 * scale).round() as u32).clamp(1, input_size);
        let resized_height = ((source_height as f32 * scale).round() as u32).clamp(1, input_size);
        let pad_left = (input_size - resized_width) / 2;
        let pad_top = (input_size - resized_height) / 2;
        Self { scale, resized_width, resized_height, pad_left, pad_top, input_size }
    }

    /// Maps a box in input pixels back onto the source frame (not clipped).
    pub fn to_source(&self, b: &BoundingBox) -> BoundingBox {
        let (dx, dy) = (self.pad_left as f32, self.pad_top as f32);
        BoundingBox {
            x1: (b.x1 - dx) / self.scale,
            y1: (b.y1 - dy) / self.scale,
            x2: (b.x2 - dx) / self.scale,
            y2: (b.y2 - dy) / self.scale,
        }
    }

    /// Maps a box on the source frame into input pixels (the inverse of [`Self::to_source`]).
    pub fn to_input(&self, b: &BoundingBox) -> BoundingBox {
        let (dx, dy) = (self.pad_left as f32, self.pad_top as f32);
        BoundingBox {
            x1: b.x1 * self.scale + dx,
            y1: b.y1 * self.scale + dy,
            x2: b.x2 * self.scale + dx,
            y2: b.y2 * self.scale + dy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_landscape_frame_is_padded_top_and_bottom() {
        let lb = Letterbox::fit(2048, 1536, 416);
        assert_eq!((lb.resized_width, lb.resized_height), (416, 312));
        assert_eq!((lb.pad_left, lb.pad_top), (0, 52));
        assert!((lb.scale - 416.0 / 2048.0).abs() < 1e-6);
    }

    #[test]
    fn a_portrait_frame_is_padded_left_and_right() {
        let lb = Letterbox::fit(300, 600, 416);
        assert_eq!((lb.resized_width, lb.resized_height), (208, 416));
        assert_eq!((lb.pad_left, lb.pad_top), (104, 0));
    }

    #[test]
    fn an_odd_padding_puts_the_extra_pixel_after_the_frame() {
        let lb = Letterbox::fit(461, 346, 416);
        // 346 * 416/461 = 312.2 -> 312; padding 104 -> 52 above, 52 below
        assert_eq!(lb.resized_height, 312);
        assert_eq!(lb.pad_top, 52);
        let lb = Letterbox::fit(640, 479, 416);
        // 479 * 0.65 = 311.35 -> 311; padding 105 -> 52 above, 53 below
        assert_eq!((lb.resized_height, lb.pad_top), (311, 52));
    }

    #[test]
    fn small_frames_are_scaled_up() {
        let lb = Letterbox::fit(208, 104, 416);
        assert_eq!((lb.resized_width, lb.resized_height), (416, 208));
        assert!((lb.scale - 2.0).abs() < 1e-6);
    }

    #[test]
    fn mapping_to_the_input_and_back_is_the_identity() {
        let lb = Letterbox::fit(1280, 720, 416);
        let b = BoundingBox { x1: 100.0, y1: 200.0, x2: 300.0, y2: 260.0 };
        let back = lb.to_source(&lb.to_input(&b));
        for (a, e) in [(back.x1, b.x1), (back.y1, b.y1), (back.x2, b.x2), (back.y2, b.y2)] {
            assert!((a - e).abs() < 1e-3, "{back:?} != {b:?}");
        }
    }
}
