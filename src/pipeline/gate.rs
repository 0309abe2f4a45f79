//! Motion gating: whether a frame is worth the detector. A roadside camera looks at empty
//! road most of the time, and the detector is most of the CPU; a change detector on a tiny
//! grey copy of the frame costs a fraction of a millisecond.
//!
//! The gate errs towards running: any cell that changed, a vehicle fusion still tracks, the
//! frames just after motion (a car entering may change few pixels at first), and a periodic
//! frame regardless (a car that stopped in view, or a change too slow for the detector) all
//! run it. Only frames with no change anywhere, no track and no recent motion are skipped.
//! "Anywhere" is inside the regions of interest when some are configured: a flag waving over
//! the verge, or the trees of a side road, do not wake the detector for plates it would drop.

use crate::roi::{Roi, RoiConfig};
use image::RgbImage;
use serde::{Deserialize, Serialize};

/// `[pipeline.gating]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatingConfig {
    /// Skip the detector on frames where nothing moved.
    pub enabled: bool,
    /// Width of the grey copy compared between frames, px.
    pub width: u32,
    /// Cells across and down: one car in one lane must count, so the change is judged per cell,
    /// not over the whole frame.
    pub cells: u32,
    /// Mean absolute grey difference (0–255) in one cell that counts as motion.
    pub cell_threshold: f32,
    /// Frames the detector still runs after the last motion.
    pub hold_frames: u32,
    /// The detector runs at least once every this many frames, motion or not.
    pub max_skip: u32,
}

impl Default for GatingConfig {
    fn default() -> Self {
        Self {
            // On: benches/gating.sh measured 60 % fewer detector runs and no vehicle lost.
            enabled: true,
            width: 160,
            cells: 8,
            cell_threshold: 6.0,
            hold_frames: 10,
            max_skip: 25,
        }
    }
}

impl GatingConfig {
    /// Problems as (key under `pipeline.gating`, problem, fix).
    pub fn issues(&self) -> Vec<(&'static str, String, &'static str)> {
        let mut issues = Vec::new();
        if !(16..=640).contains(&self.width) {
            issues.push(("width", format!("{} is outside 16..640", self.width), "160 is enough"));
        }
        if self.cells == 0 || self.cells > self.width / 4 {
            issues.push(("cells", format!("{} cells", self.cells), "give 1 to width/4, e.g. 8"));
        }
        if !(self.cell_threshold > 0.0 && self.cell_threshold < 255.0) {
            issues.push((
                "cell_threshold",
                format!("{} is outside 0..255", self.cell_threshold),
                "give a grey difference such as 6",
            ));
        }
        if self.max_skip == 0 {
            issues.push(("max_skip", "is 0".into(), "give at least 1 (1: never skip)"));
        }
        issues
    }
}

/// The gate's state between frames.
#[derive(Debug)]
pub struct MotionGate {
    config: GatingConfig,
    roi: Roi,
    /// Which pixels of the grey copy lie in a region of interest, for the frame size it was
    /// made for; `None` while the whole frame counts.
    mask: Option<Mask>,
    previous: Option<Grey>,
    since_motion: u32,
    since_run: u32,
}

#[derive(Debug)]
struct Mask {
    frame: (u32, u32),
    inside: Vec<bool>,
}

/// A small grey copy of a frame, for comparing frames cheaply.
#[derive(Debug, PartialEq)]
pub(super) struct Grey {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl MotionGate {
    pub fn new(config: GatingConfig) -> Self {
        let hold = config.hold_frames;
        Self {
            config,
            roi: Roi::default(),
            mask: None,
            previous: None,
            since_motion: hold.saturating_add(1),
            since_run: 0,
        }
    }

    /// Counts motion only inside `roi`'s regions (everywhere when it has none).
    pub fn within(mut self, roi: RoiConfig) -> Self {
        self.roi = Roi::new(roi);
        self
    }

    /// Whether the detector should run on `image`; `tracking`: fusion follows a vehicle now.
    pub fn should_run(&mut self, image: &RgbImage, tracking: bool) -> bool {
        if !self.config.enabled {
            return true;
        }
        let grey = downscale(image, self.config.width);
        self.update_mask(image.dimensions(), &grey);
        let moved = match &self.previous {
            Some(previous) => self.changed(previous, &grey),
            // The first frame, or the size changed: nothing to compare with.
            None => true,
        };
        self.previous = Some(grey);
        self.since_motion = if moved { 0 } else { self.since_motion.saturating_add(1) };
        self.since_run = self.since_run.saturating_add(1);
        let run = tracking
            || self.since_motion <= self.config.hold_frames
            || self.since_run >= self.config.max_skip;
        if run {
            self.since_run = 0;
        }
        run
    }

    /// Works out the mask again when the frame size changed: each grey pixel is inside when
    /// the frame pixel it was sampled from is.
    fn update_mask(&mut self, frame: (u32, u32), grey: &Grey) {
        if self.mask.as_ref().is_some_and(|m| m.frame == frame) {
            return;
        }
        let (w, h) = frame;
        self.mask = self.roi.for_frame(w, h).map(|regions| {
            let inside = (0..grey.height)
                .flat_map(|y| (0..grey.width).map(move |x| (x, y)))
                .map(|(x, y)| {
                    let (sx, sy) = sampled(x, y, (grey.width, grey.height), frame);
                    regions.contains(sx as f32 + 0.5, sy as f32 + 0.5)
                })
                .collect();
            Mask { frame, inside }
        });
    }

    /// Whether any cell's mean absolute difference, over its pixels inside the regions of
    /// interest, reaches the threshold; a cell with none of them never counts.
    fn changed(&self, previous: &Grey, grey: &Grey) -> bool {
        if (previous.width, previous.height) != (grey.width, grey.height) {
            return true;
        }
        let cells = self.config.cells.max(1) as usize;
        let (width, height) = (grey.width as usize, grey.height as usize);
        let mut sums = vec![0u64; cells * cells];
        let mut counts = vec![0u64; cells * cells];
        for y in 0..height {
            let row = (y * cells / height.max(1)) * cells;
            for x in 0..width {
                let i = y * width + x;
                if self.mask.as_ref().is_some_and(|m| !m.inside[i]) {
                    continue;
                }
                let cell = row + x * cells / width.max(1);
                sums[cell] += u64::from(previous.pixels[i].abs_diff(grey.pixels[i]));
                counts[cell] += 1;
            }
        }
        let threshold = f64::from(self.config.cell_threshold);
        sums.iter().zip(&counts).any(|(&s, &c)| c > 0 && s as f64 / c as f64 >= threshold)
    }
}

/// A grey copy `width` px wide (nearest pixel: the gate compares frames of one camera, so
/// aliasing is the same on both).
pub(super) fn downscale(image: &RgbImage, width: u32) -> Grey {
    let (w, h) = image.dimensions();
    let out_w = width.min(w).max(1);
    let out_h = ((u64::from(h) * u64::from(out_w)) / u64::from(w.max(1))).max(1) as u32;
    let mut pixels = Vec::with_capacity((out_w * out_h) as usize);
    for y in 0..out_h {
        for x in 0..out_w {
            let (sx, sy) = sampled(x, y, (out_w, out_h), (w, h));
            let [r, g, b] = image.get_pixel(sx, sy).0;
            let luma = (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) / 1000;
            pixels.push(luma as u8);
        }
    }
    Grey { width: out_w, height: out_h, pixels }
}

/// The frame pixel that grey pixel `(x, y)` of a `grey`-sized copy of a `frame`-sized frame
/// is taken from.
fn sampled(x: u32, y: u32, grey: (u32, u32), frame: (u32, u32)) -> (u32, u32) {
    let along = |i: u32, from: u32, to: u32| {
        ((u64::from(i) * u64::from(to) / u64::from(from.max(1))) as u32).min(to.saturating_sub(1))
    };
    (along(x, grey.0, frame.0), along(y, grey.1, frame.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn road() -> RgbImage {
        RgbImage::from_fn(640, 360, |x, y| image::Rgb([(x / 3) as u8, (y / 2) as u8, 90]))
    }

    /// The road with a bright 40×30 px block (a car, as the gate sees it) at `x`, lane at y=300.
    fn car_at(x: u32) -> RgbImage {
        let mut image = road();
        for dy in 0..30 {
            for dx in 0..40 {
                if x + dx < 640 {
                    image.put_pixel(x + dx, 300 + dy, image::Rgb([250, 250, 250]));
                }
            }
        }
        image
    }

    fn gate() -> MotionGate {
        MotionGate::new(GatingConfig { enabled: true, ..GatingConfig::default() })
    }

    #[test]
    fn a_disabled_gate_runs_every_frame() {
        let mut gate = MotionGate::new(GatingConfig { enabled: false, ..GatingConfig::default() });
        assert!((0..50).all(|_| gate.should_run(&road(), false)));
    }

    #[test]
    fn empty_road_is_skipped_after_the_hold_but_checked_every_max_skip_frames() {
        let mut gate = gate();
        let runs: Vec<bool> = (0..60).map(|_| gate.should_run(&road(), false)).collect();
        // First frame: nothing to compare with, so it counts as motion and is held 10 frames.
        assert!(runs[..11].iter().all(|&r| r));
        assert!(runs[11..35].iter().all(|&r| !r), "{runs:?}");
        assert!(runs[35], "max_skip: one in 25 frames runs regardless");
        assert_eq!(runs.iter().filter(|&&r| r).count(), 12);
    }

    #[test]
    fn a_small_car_entering_one_lane_runs_the_detector_from_its_first_frame() {
        let mut gate = gate();
        for _ in 0..20 {
            gate.should_run(&road(), false);
        }
        // 40×30 px of 640×360 is half a percent of the frame: over the whole frame that is
        // noise, in its cell it is motion.
        assert!(gate.should_run(&car_at(600), false));
        for step in 1..10 {
            assert!(gate.should_run(&car_at(600 - step * 20), false), "step {step}");
        }
    }

    #[test]
    fn the_frames_after_motion_run_even_if_nothing_changes() {
        let mut gate = gate();
        for _ in 0..20 {
            gate.should_run(&road(), false);
        }
        assert!(gate.should_run(&car_at(300), false));
        // The car stands still: no change, but held for hold_frames.
        let held: Vec<bool> = (0..12).map(|_| gate.should_run(&car_at(300), false)).collect();
        assert!(held[..10].iter().all(|&r| r), "{held:?}");
        assert!(!held[10]);
    }

    #[test]
    fn a_tracked_vehicle_keeps_the_detector_running_on_every_frame() {
        let mut gate = gate();
        for _ in 0..20 {
            gate.should_run(&road(), false);
        }
        assert!((0..40).all(|_| gate.should_run(&car_at(300), true)));
    }

    #[test]
    fn sensor_noise_below_the_threshold_is_no_motion() {
        let mut gate = gate();
        for _ in 0..20 {
            gate.should_run(&road(), false);
        }
        let mut noisy = road();
        for (i, pixel) in noisy.pixels_mut().enumerate() {
            let d = (i % 5) as u8;
            pixel.0 = pixel.0.map(|c| c.saturating_add(d));
        }
        assert!(!gate.should_run(&noisy, false));
    }

    #[test]
    fn motion_outside_the_regions_of_interest_is_no_motion() {
        use crate::roi::{RegionConfig, Units};
        // The lane is the left half; the car drives in the right half.
        let left = RoiConfig {
            regions: vec![RegionConfig {
                name: "left lane".into(),
                units: Units::Fraction,
                points: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]],
            }],
        };
        let mut gate = gate().within(left);
        for _ in 0..20 {
            gate.should_run(&road(), false);
        }
        assert!((1..10).all(|step| !gate.should_run(&car_at(600 - step * 20), false)));
        assert!(gate.should_run(&car_at(100), false), "in the lane it counts");
    }

    #[test]
    fn bad_settings_are_issues() {
        let config = GatingConfig {
            width: 4,
            cells: 0,
            cell_threshold: 0.0,
            max_skip: 0,
            ..GatingConfig::default()
        };
        let keys: Vec<_> = config.issues().into_iter().map(|(k, _, _)| k).collect();
        assert_eq!(keys, ["width", "cells", "cell_threshold", "max_skip"]);
        assert!(GatingConfig::default().issues().is_empty());
    }
}
