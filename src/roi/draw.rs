//! The regions drawn over a frame for an installer to check (`anpr-edge roi preview`): each
//! polygon filled in a translucent colour, outlined, and labelled with its name, sized to the
//! frame so that the picture reads the same on a 640 px still and a 4K camera.

use super::Regions;
use image::RgbImage;
use opencv::core::{Mat, Point, Rect, Scalar, Vec3b, Vector};
use opencv::imgproc;
use opencv::prelude::*;

/// One colour per region, in turn (RGB: the frame's bytes are RGB, not OpenCV's BGR).
const PALETTE: [[u8; 3]; 6] =
    [[255, 64, 64], [64, 200, 255], [255, 220, 0], [80, 255, 80], [255, 64, 255], [255, 150, 40]];

/// How much of the region's colour covers the picture inside it.
const FILL_ALPHA: f32 = 0.3;

/// Draws every region over `image`.
pub fn draw(image: &mut RgbImage, regions: &Regions) -> opencv::Result<()> {
    for (i, (_, polygon)) in regions.named().iter().enumerate() {
        fill(image, polygon, PALETTE[i % PALETTE.len()]);
    }
    let (width, height) = image.dimensions();
    let thickness = (width.max(height) / 400).max(2) as i32;
    // Readable on a 480 px still too.
    let font_scale = (f64::from(width.max(height)) / 1400.0).max(0.45);
    let mut frame =
        Mat::new_rows_cols_with_bytes_mut::<Vec3b>(height as i32, width as i32, image.as_mut())?;
    for (i, (name, polygon)) in regions.named().iter().enumerate() {
        let [r, g, b] = PALETTE[i % PALETTE.len()];
        let colour = Scalar::new(f64::from(r), f64::from(g), f64::from(b), 0.0);
        let corners: Vector<Point> = polygon
            .points
            .iter()
            .map(|&(x, y)| Point::new(x.round() as i32, y.round() as i32))
            .collect();
        let outline: Vector<Vector<Point>> = std::iter::once(corners).collect();
        imgproc::polylines(&mut frame, &outline, true, colour, thickness, imgproc::LINE_AA, 0)?;
        label(&mut frame, name, polygon.bounds(), colour, font_scale, thickness)?;
    }
    Ok(())
}

/// Blends the region's colour into every pixel whose centre lies inside it.
fn fill(image: &mut RgbImage, polygon: &super::polygon::Polygon, colour: [u8; 3]) {
    let bounds = polygon.bounds();
    let Some((x0, y0, w, h)) = bounds.pixel_rect(image.width(), image.height()) else { return };
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            if polygon.contains(x as f32 + 0.5, y as f32 + 0.5) {
                let pixel = image.get_pixel_mut(x, y);
                for (c, tint) in pixel.0.iter_mut().zip(colour) {
                    *c = (f32::from(*c) * (1.0 - FILL_ALPHA) + f32::from(tint) * FILL_ALPHA) as u8;
                }
            }
        }
    }
}

/// The region's name in a dark box at its top left corner, kept inside the frame, so that it
/// reads on a bright sky and on dark asphalt alike.
fn label(
    frame: &mut opencv::boxed_ref::BoxedRefMut<'_, Mat>,
    name: &str,
    bounds: crate::geometry::BoundingBox,
    colour: Scalar,
    font_scale: f64,
    thickness: i32,
) -> opencv::Result<()> {
    let font = imgproc::FONT_HERSHEY_SIMPLEX;
    let text_thickness = (thickness / 2).max(1);
    let mut baseline = 0;
    let size = imgproc::get_text_size(name, font, font_scale, text_thickness, &mut baseline)?;
    let pad = thickness * 2;
    let (box_w, box_h) = (size.width + 2 * pad, size.height + baseline + 2 * pad);
    let x = (bounds.x1.round() as i32 + thickness).clamp(0, (frame.cols() - box_w).max(0));
    let y = (bounds.y1.round() as i32 + thickness).clamp(0, (frame.rows() - box_h).max(0));
    let background = Scalar::new(20.0, 20.0, 20.0, 0.0);
    imgproc::rectangle(frame, Rect::new(x, y, box_w, box_h), background, -1, imgproc::LINE_8, 0)?;
    let origin = Point::new(x + pad, y + pad + size.height);
    imgproc::put_text(
        frame,
        name,
        origin,
        font,
        font_scale,
        colour,
        text_thickness,
        imgproc::LINE_AA,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::super::{RegionConfig, RoiConfig, Units};
    use super::*;

    #[test]
    fn only_the_region_and_its_label_change_and_the_rest_of_the_frame_stays() {
        let frame = RgbImage::from_pixel(400, 300, image::Rgb([100, 100, 100]));
        let config = RoiConfig {
            regions: vec![RegionConfig {
                name: "lane 1".into(),
                units: Units::Fraction,
                points: vec![[0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.5, 0.9]],
            }],
        };
        let regions = config.for_frame(400, 300).expect("regions");
        let mut drawn = frame.clone();
        draw(&mut drawn, &regions).expect("drawn");
        assert_ne!(drawn.get_pixel(280, 210), frame.get_pixel(280, 210), "inside: tinted");
        assert_eq!(drawn.get_pixel(280, 210).0, [146, 89, 89], "30 % of the first colour");
        assert_eq!(drawn.get_pixel(50, 50), frame.get_pixel(50, 50), "outside: as it was");
        assert_eq!(drawn.get_pixel(390, 290), frame.get_pixel(390, 290));
    }
}
