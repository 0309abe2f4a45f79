//! Irreversible blurring of the plates (and, optionally, the windscreen) on a non-hit overview.
//!
//! Design: every plate the detector found on the frame is hidden, not only the one the read is
//! about (a second car's plate is as personal), each with a margin around its box because a
//! box can be a few pixels off. Each region is pixelated into cells of a quarter of its
//! smaller side (each cell is the mean of its pixels: the detail is gone, not hidden), the
//! cells are Gaussian-blurred into each other (σ = one cell) and stretched back smoothly, so
//! neither a character nor the cell grid survives. Blurring the few cells instead of the
//! full-size region is the same low-pass at a fraction of the cost (measured in
//! `benches/privacy.rs`: a large-kernel blur of the full region cost 8–64× more). The
//! strength is fixed, not configurable: an operator must not be able to make it readable.
//!
//! No vehicle detector exists, so the windscreen is estimated from the plate alone: for a car
//! seen from the front or back, the windscreen is about 2.7 plate widths wide and 1–2 plate
//! widths above the plate. The region used is generous (3.4 widths wide, 0.5 to 2.8 widths
//! above), and still wrong for lorries, buses, steep or side views: it is a best effort.

use crate::config_issue::ConfigIssue;
use crate::geometry::BoundingBox;
use image::RgbImage;
use opencv::core::{Mat, Rect, Size, Vec3b};
use opencv::imgproc;
use serde::{Deserialize, Serialize};

/// `[privacy.blur]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlurConfig {
    /// Added on every side of a plate box, as a fraction of the box's longer side.
    pub margin: f32,
    /// Also blur the estimated windscreen (occupants) above each plate.
    pub windscreen: bool,
}

impl Default for BlurConfig {
    fn default() -> Self {
        Self { margin: 0.25, windscreen: false }
    }
}

impl BlurConfig {
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if !(0.1..=2.0).contains(&self.margin) {
            issues.push(ConfigIssue::new(
                "margin",
                format!("{} is outside 0.1..2", self.margin),
                "give a fraction of the plate box's longer side, 0.1 to 2",
            ));
        }
        issues
    }
}

/// The pixel rectangles `(x, y, w, h)` to blur on a `width` × `height` frame. Pure.
pub fn regions(
    plates: &[BoundingBox],
    width: u32,
    height: u32,
    config: &BlurConfig,
    windscreen: bool,
) -> Vec<(u32, u32, u32, u32)> {
    let mut out = Vec::with_capacity(plates.len() * 2);
    for plate in plates {
        let m = config.margin * plate.width().max(plate.height());
        let padded =
            BoundingBox { x1: plate.x1 - m, y1: plate.y1 - m, x2: plate.x2 + m, y2: plate.y2 + m };
        out.extend(padded.pixel_rect(width, height));
        if windscreen {
            out.extend(windscreen_of(plate).pixel_rect(width, height));
        }
    }
    out
}

/// The estimated windscreen above a plate (see the module's comment for the geometry).
pub fn windscreen_of(plate: &BoundingBox) -> BoundingBox {
    let w = plate.width();
    let cx = (plate.x1 + plate.x2) / 2.0;
    BoundingBox {
        x1: cx - 1.7 * w,
        x2: cx + 1.7 * w,
        y1: plate.y1 - 2.8 * w,
        y2: plate.y1 - 0.5 * w,
    }
}

/// Pixelates and blurs each region of `image` in place.
pub fn blur_regions(image: &mut RgbImage, regions: &[(u32, u32, u32, u32)]) -> opencv::Result<()> {
    let (width, height) = image.dimensions();
    let mut frame =
        Mat::new_rows_cols_with_bytes_mut::<Vec3b>(height as i32, width as i32, image.as_mut())?;
    for &(x, y, w, h) in regions {
        let block = (w.min(h) / 4).max(4) as i32;
        let (w, h) = (w as i32, h as i32);
        let mut roi = Mat::roi_mut(&mut frame, Rect::new(x as i32, y as i32, w, h))?;
        let mut cells = Mat::default();
        imgproc::resize(
            &roi,
            &mut cells,
            Size::new((w + block - 1) / block, (h + block - 1) / block),
            0.0,
            0.0,
            imgproc::INTER_AREA,
        )?;
        let mut smeared = Mat::default();
        imgproc::gaussian_blur_def(&cells, &mut smeared, Size::new(3, 3), 1.0)?;
        imgproc::resize(&smeared, &mut roi, Size::new(w, h), 0.0, 0.0, imgproc::INTER_LINEAR)?;
    }
    Ok(())
}

/// A copy of `image` with every plate of `plates` (and the windscreens, if asked) blurred.
pub fn blurred(
    image: &RgbImage,
    plates: &[BoundingBox],
    config: &BlurConfig,
    windscreen: bool,
) -> opencv::Result<RgbImage> {
    let mut copy = image.clone();
    blur_regions(&mut copy, &regions(plates, image.width(), image.height(), config, windscreen))?;
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(width: u32, height: u32) -> RgbImage {
        let mut state = 12345u32;
        RgbImage::from_fn(width, height, |_, _| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = (state >> 16) as u8;
            image::Rgb([v, v.wrapping_mul(3), v.wrapping_add(91)])
        })
    }

    #[test]
    fn regions_have_a_margin_and_stay_inside_the_frame() {
        let plate = BoundingBox { x1: 100.0, y1: 200.0, x2: 200.0, y2: 225.0 };
        let config = BlurConfig::default();
        assert_eq!(regions(&[plate], 640, 480, &config, false), vec![(75, 175, 150, 75)]);
        let edge = BoundingBox { x1: 600.0, y1: 460.0, x2: 660.0, y2: 490.0 };
        let r = regions(&[edge], 640, 480, &config, false);
        assert!(r.iter().all(|&(x, y, w, h)| x + w <= 640 && y + h <= 480), "{r:?}");
        let both = regions(&[plate], 640, 480, &config, true);
        assert_eq!(both.len(), 2);
        let (_, wy, ww, wh) = both[1];
        assert!(wy + wh <= 200 && ww >= 300, "windscreen above the plate, wider than it: {both:?}");
    }

    #[test]
    fn only_the_regions_change_and_their_detail_is_gone() {
        let original = noise(320, 240);
        let plate = BoundingBox { x1: 100.0, y1: 100.0, x2: 180.0, y2: 120.0 };
        let out = blurred(&original, &[plate], &BlurConfig::default(), false).expect("blur");
        let (rx, ry, rw, rh) = regions(&[plate], 320, 240, &BlurConfig::default(), false)[0];
        let inside = |x: u32, y: u32| x >= rx && x < rx + rw && y >= ry && y < ry + rh;
        let mut changed_outside = 0;
        let mut neighbour_diff = 0u64;
        for (x, y, p) in out.enumerate_pixels() {
            if !inside(x, y) && p != original.get_pixel(x, y) {
                changed_outside += 1;
            }
            if inside(x, y) && inside(x + 1, y) {
                neighbour_diff += u64::from(p[0].abs_diff(out.get_pixel(x + 1, y)[0]));
            }
        }
        assert_eq!(changed_outside, 0, "nothing outside the plate regions is touched");
        let mean_step = neighbour_diff as f64 / f64::from((rw - 1) * rh);
        // Noise has a mean neighbour step of ~85 grey levels; a blurred block field about 1.
        assert!(mean_step < 3.0, "high-frequency detail survived: mean step {mean_step}");
    }
}
