//! Axis-aligned boxes in image pixels, shared by detection, evaluation and (later) fusion.

use serde::{Deserialize, Serialize};

/// A box in pixel coordinates of the image it was found in; `x2`/`y2` are exclusive edges.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BoundingBox {
    pub fn from_xywh(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x1: x, y1: y, x2: x + w, y2: y + h }
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union; 0 for disjoint or empty boxes.
    pub fn iou(&self, other: &BoundingBox) -> f32 {
        let inter = BoundingBox {
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
            x2: self.x2.min(other.x2),
            y2: self.y2.min(other.y2),
        }
        .area();
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    /// The box limited to an image of `width` × `height`: detections near the border may
    /// extend past it, and a crop must never read outside the frame.
    pub fn clipped(&self, width: u32, height: u32) -> BoundingBox {
        let (w, h) = (width as f32, height as f32);
        BoundingBox {
            x1: self.x1.clamp(0.0, w),
            y1: self.y1.clamp(0.0, h),
            x2: self.x2.clamp(0.0, w),
            y2: self.y2.clamp(0.0, h),
        }
    }

    /// Whole-pixel rectangle `(x, y, w, h)` covering the box, or `None` when it has no pixel.
    pub fn pixel_rect(&self, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
        let c = self.clipped(width, height);
        let x1 = c.x1.floor() as u32;
        let y1 = c.y1.floor() as u32;
        let x2 = (c.x2.ceil() as u32).min(width);
        let y2 = (c.y2.ceil() as u32).min(height);
        (x2 > x1 && y2 > y1).then(|| (x1, y1, x2 - x1, y2 - y1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_boxes_is_one_and_of_disjoint_is_zero() {
        let a = BoundingBox::from_xywh(10.0, 10.0, 20.0, 10.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        let b = BoundingBox::from_xywh(100.0, 100.0, 5.0, 5.0);
        assert_eq!(a.iou(&b), 0.0);
    }

    #[test]
    fn iou_of_half_overlap() {
        let a = BoundingBox::from_xywh(0.0, 0.0, 10.0, 10.0);
        let b = BoundingBox::from_xywh(5.0, 0.0, 10.0, 10.0);
        // intersection 50, union 150
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn clipping_keeps_boxes_inside_the_image() {
        let b = BoundingBox { x1: -5.0, y1: 3.0, x2: 120.0, y2: 90.0 };
        let c = b.clipped(100, 80);
        assert_eq!(c, BoundingBox { x1: 0.0, y1: 3.0, x2: 100.0, y2: 80.0 });
        assert_eq!(b.pixel_rect(100, 80), Some((0, 3, 100, 77)));
    }

    #[test]
    fn a_box_outside_the_image_has_no_pixels() {
        let b = BoundingBox { x1: 200.0, y1: 3.0, x2: 220.0, y2: 9.0 };
        assert_eq!(b.pixel_rect(100, 80), None);
    }
}
