//! Scene cuts: the whole picture changed from one frame to the next. In a recording it is an
//! edit (one shot of a parking lot cut to the next); live, a camera turned to another view.
//! Either way no vehicle followed so far is in view any more, so fusion ends every track
//! (`Fuser::cut`) instead of letting the next shot's car, in the same place, join them.
//!
//! A cut changes the brightness of nearly every part of the frame by a lot at once; a pan, a
//! handheld walk or a car filling the view changes part of it, or all of it by less. Measured on
//! `../shared/data/real-video` (64 px wide grey copies): the three cuts of the Dutch parking
//! clip move the mean grey level by 74–75 with 45–46 of 48 cells changed; the fastest handheld
//! pans of the other clips by at most 31, with at most 34 cells. The thresholds sit between.

use super::gate::{downscale, Grey};
use image::RgbImage;

/// Width of the grey copy compared, px.
const WIDTH: u32 = 64;
/// Cells across and down the copy.
const CELLS: usize = 8;
/// Mean absolute grey difference over the whole copy that a cut reaches.
const MEAN_CHANGE: f64 = 45.0;
/// Mean absolute grey difference in one cell that counts it as changed.
const CELL_CHANGE: f64 = 25.0;
/// Share of the cells a cut changes.
const CELLS_CHANGED: f64 = 0.9;

/// The last frame's size and grey copy.
#[derive(Debug, Default)]
pub struct SceneCuts {
    previous: Option<((u32, u32), Grey)>,
}

impl SceneCuts {
    /// Whether `image` is the first frame of a new scene (never the first frame of all).
    pub fn is_cut(&mut self, image: &RgbImage) -> bool {
        let grey = downscale(image, WIDTH);
        let size = image.dimensions();
        let cut = self.previous.as_ref().is_some_and(|(previous_size, previous)| {
            // Another resolution is another stream.
            *previous_size != size || changed_whole(previous, &grey)
        });
        self.previous = Some((size, grey));
        cut
    }
}

fn changed_whole(previous: &Grey, grey: &Grey) -> bool {
    let (width, height) = (grey.width as usize, grey.height.max(1) as usize);
    let mut sums = [0u64; CELLS * CELLS];
    let mut counts = [0u64; CELLS * CELLS];
    let mut total = 0u64;
    for (i, (&a, &b)) in previous.pixels.iter().zip(&grey.pixels).enumerate() {
        let (x, y) = (i % width.max(1), i / width.max(1));
        let cell = (y * CELLS / height) * CELLS + x * CELLS / width.max(1);
        let difference = u64::from(a.abs_diff(b));
        sums[cell] += difference;
        counts[cell] += 1;
        total += difference;
    }
    let mean = total as f64 / grey.pixels.len().max(1) as f64;
    let cells = counts.iter().filter(|&&c| c > 0).count().max(1);
    let changed = sums
        .iter()
        .zip(&counts)
        .filter(|(&s, &c)| c > 0 && s as f64 / c as f64 >= CELL_CHANGE)
        .count();
    mean >= MEAN_CHANGE && changed as f64 >= CELLS_CHANGED * cells as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A scene: a horizontal brightness ramp with a few darker blocks (parked cars), seen
    /// `pan` px to the right; `other` shifts every level by half the range, as another place
    /// would look.
    fn scene(pan: u32, other: bool) -> RgbImage {
        RgbImage::from_fn(320, 240, |x, y| {
            let x = x + pan;
            let ramp = 30 + (x.min(399) * 200 / 400) as u8;
            let level = if other { ramp.wrapping_add(128) } else { ramp };
            let block = (x / 60).is_multiple_of(2) && (120..200).contains(&y);
            Rgb([if block { level / 3 } else { level }; 3])
        })
    }

    #[test]
    fn another_picture_is_a_cut_and_a_pan_or_a_passing_car_is_not() {
        let mut cuts = SceneCuts::default();
        assert!(!cuts.is_cut(&scene(0, false)), "the first frame starts the first scene");
        assert!(!cuts.is_cut(&scene(16, false)), "the camera panned 16 px");
        let mut car = scene(16, false);
        for y in 40..200 {
            for x in 20..300 {
                car.put_pixel(x, y, Rgb([0, 0, 0]));
            }
        }
        assert!(!cuts.is_cut(&car), "a dark car filling most of the frame");
        assert!(!cuts.is_cut(&scene(16, false)));
        assert!(cuts.is_cut(&scene(16, true)), "another place");
        assert!(cuts.is_cut(&RgbImage::new(64, 48)), "another resolution");
    }
}
