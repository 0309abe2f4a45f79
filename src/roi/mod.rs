//! Regions of interest: the lanes of a camera, as polygons, outside which no plate is read or
//! reported and no motion wakes the detector. A parked car or a side road in view would
//! otherwise keep the detector busy and fill the reports with plates nobody asked for.
//!
//! A plate belongs to a region when the centre of its box lies inside the polygon: the centre
//! moves little when the detector's box grows or shrinks by a few pixels from frame to frame,
//! and a plate straddling a lane line is counted in the lane that holds most of it. No region
//! configured is the whole frame.

pub mod draw;
pub mod polygon;

use crate::config_issue::ConfigIssue;
use crate::geometry::BoundingBox;
use polygon::Polygon;
use serde::{Deserialize, Serialize};

/// `[roi]`: the regions of the camera; none means the whole frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoiConfig {
    pub regions: Vec<RegionConfig>,
}

/// `[[roi.regions]]`: one polygon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// Shown on `roi preview` and in warnings.
    pub name: String,
    /// What the numbers of `points` are; no default, so that a pixel polygon is never read as
    /// fractions or the other way round.
    pub units: Units,
    /// Corners in order around the region, `[x, y]` from the top left of the frame.
    pub points: Vec<[f32; 2]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// 0..1 of the frame's width and height: the region survives a change of resolution.
    Fraction,
    /// Pixels of the frame as the camera delivers it.
    Pixels,
}

impl RoiConfig {
    /// Problems as issues keyed under `roi` (`regions[1].points`).
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        for (i, region) in self.regions.iter().enumerate() {
            let key = |k: &str| format!("regions[{i}].{k}");
            if region.name.trim().is_empty() {
                issues.push(ConfigIssue::new(key("name"), "is empty", "name the lane"));
            }
            if self.regions[..i].iter().any(|r| r.name == region.name) {
                issues.push(ConfigIssue::new(
                    key("name"),
                    format!("`{}` names two regions", region.name),
                    "give each region its own name",
                ));
            }
            issues.extend(region.point_issues().map(|(problem, fix)| {
                ConfigIssue::new(key("points"), format!("region `{}`: {problem}", region.name), fix)
            }));
        }
        issues
    }

    /// The regions in the pixels of a `width` × `height` frame; `None` when there are none (the
    /// whole frame counts).
    pub fn for_frame(&self, width: u32, height: u32) -> Option<Regions> {
        if self.regions.is_empty() {
            return None;
        }
        let named = self
            .regions
            .iter()
            .map(|r| {
                let polygon = r.polygon();
                let polygon = match r.units {
                    Units::Fraction => polygon.scaled(width as f32, height as f32),
                    Units::Pixels => polygon,
                };
                (r.name.clone(), polygon)
            })
            .collect();
        Some(Regions { named, width, height })
    }
}

impl RegionConfig {
    fn polygon(&self) -> Polygon {
        Polygon::new(self.points.iter().map(|&[x, y]| (x, y)).collect())
    }

    /// What is wrong with the points, as (problem, fix); at most one, the first that matters.
    fn point_issues(&self) -> Option<(String, &'static str)> {
        if self.points.len() < 3 {
            return Some((
                format!("has {} points", self.points.len()),
                "give at least 3 corners, in order around the lane",
            ));
        }
        let numbers = self.points.iter().flatten();
        if let Some(bad) = numbers.clone().find(|v| !v.is_finite()) {
            return Some((format!("{bad} is not a number"), "give finite numbers"));
        }
        match self.units {
            Units::Fraction => {
                if let Some(bad) = numbers.clone().find(|v| !(0.0..=1.0).contains(*v)) {
                    return Some((
                        format!("{bad} is outside 0..1 with units = \"fraction\""),
                        "give fractions of the frame, or set units = \"pixels\"",
                    ));
                }
            }
            Units::Pixels => {
                if let Some(bad) = numbers.clone().find(|v| **v < 0.0) {
                    return Some((
                        format!("{bad} is a negative pixel"),
                        "give pixels from the top left corner",
                    ));
                }
            }
        }
        let polygon = self.polygon();
        if polygon.crosses_itself() {
            return Some((
                "crosses itself (or has a corner on another edge)".into(),
                "list the corners in order around the lane, clockwise or not",
            ));
        }
        if polygon.area() == 0.0 {
            return Some(("encloses no area".into(), "give corners that are not on one line"));
        }
        None
    }
}

/// The regions of interest of one frame size, in its pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Regions {
    named: Vec<(String, Polygon)>,
    width: u32,
    height: u32,
}

impl Regions {
    pub fn contains(&self, x: f32, y: f32) -> bool {
        self.named.iter().any(|(_, p)| p.contains(x, y))
    }

    /// Whether a plate at `bbox` is of interest: its centre lies in a region.
    pub fn keeps(&self, bbox: &BoundingBox) -> bool {
        self.contains((bbox.x1 + bbox.x2) / 2.0, (bbox.y1 + bbox.y2) / 2.0)
    }

    /// Each region's name and polygon, in the order configured.
    pub fn named(&self) -> &[(String, Polygon)] {
        &self.named
    }

    /// The regions with a corner outside the frame (pixel regions drawn for another
    /// resolution): what lies outside is never seen, and the lane may be wrong altogether.
    pub fn beyond_frame(&self) -> Vec<&str> {
        let (w, h) = (self.width as f32, self.height as f32);
        self.named
            .iter()
            .filter(|(_, p)| p.points.iter().any(|&(x, y)| x > w || y > h))
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

/// The regions of a stream of frames, worked out again only when the frame size changes (a
/// folder of stills of several sizes, a camera that renegotiated its mode).
#[derive(Debug, Clone, Default)]
pub struct Roi {
    config: RoiConfig,
    current: Option<Regions>,
}

impl Roi {
    pub fn new(config: RoiConfig) -> Self {
        Self { config, current: None }
    }

    /// Whether regions are configured (otherwise the whole frame counts).
    pub fn is_set(&self) -> bool {
        !self.config.regions.is_empty()
    }

    /// The regions for a `width` × `height` frame; `None` when none is configured. Warns once
    /// per frame size about pixel corners outside the frame.
    pub fn for_frame(&mut self, width: u32, height: u32) -> Option<&Regions> {
        let stale = self.current.as_ref().is_none_or(|r| (r.width, r.height) != (width, height));
        if stale {
            self.current = self.config.for_frame(width, height);
            if let Some(regions) = &self.current {
                let beyond = regions.beyond_frame();
                if !beyond.is_empty() {
                    tracing::warn!(
                        regions = ?beyond, width, height,
                        "roi.regions: these regions have corners outside the frame; check their units and redraw them for this resolution (anpr-edge roi preview)"
                    );
                }
            }
        }
        self.current.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(units: Units, points: &[[f32; 2]]) -> RegionConfig {
        RegionConfig { name: "lane 1".into(), units, points: points.to_vec() }
    }

    fn config(regions: Vec<RegionConfig>) -> RoiConfig {
        RoiConfig { regions }
    }

    const LOWER_HALF: [[f32; 2]; 4] = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]];

    #[test]
    fn no_region_is_the_whole_frame() {
        assert_eq!(RoiConfig::default().for_frame(640, 480), None);
        assert!(RoiConfig::default().issues().is_empty());
    }

    #[test]
    fn fractions_follow_the_frame_size_and_pixels_do_not() {
        let c = config(vec![region(Units::Fraction, &LOWER_HALF)]);
        let small = c.for_frame(640, 480).expect("regions");
        assert!(small.contains(320.0, 400.0) && !small.contains(320.0, 200.0));
        let large = c.for_frame(1920, 1080).expect("regions");
        assert!(large.contains(960.0, 1000.0) && !large.contains(960.0, 500.0));
        let pixels =
            config(vec![region(Units::Pixels, &[[0.0, 240.0], [640.0, 240.0], [0.0, 480.0]])]);
        let on_large = pixels.for_frame(1920, 1080).expect("regions");
        assert!(on_large.contains(10.0, 400.0) && !on_large.contains(1000.0, 1000.0));
    }

    #[test]
    fn a_plate_counts_by_the_centre_of_its_box() {
        let regions = config(vec![region(Units::Fraction, &LOWER_HALF)])
            .for_frame(100, 100)
            .expect("regions");
        // Mostly below the line: kept; mostly above: not.
        assert!(regions.keeps(&BoundingBox { x1: 10.0, y1: 45.0, x2: 30.0, y2: 60.0 }));
        assert!(!regions.keeps(&BoundingBox { x1: 10.0, y1: 40.0, x2: 30.0, y2: 55.0 }));
    }

    #[test]
    fn a_plate_in_any_region_counts() {
        let left = RegionConfig {
            name: "left".into(),
            units: Units::Pixels,
            points: vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]],
        };
        let right = RegionConfig {
            name: "right".into(),
            units: Units::Pixels,
            points: vec![[90.0, 0.0], [100.0, 0.0], [100.0, 10.0], [90.0, 10.0]],
        };
        let regions = config(vec![left, right]).for_frame(100, 10).expect("regions");
        assert!(regions.contains(5.0, 5.0) && regions.contains(95.0, 5.0));
        assert!(!regions.contains(50.0, 5.0));
    }

    #[test]
    fn every_mistake_is_an_issue_under_its_region() {
        let c = config(vec![
            region(Units::Fraction, &[[0.0, 0.0], [1.0, 0.0]]),
            region(Units::Fraction, &[[0.0, 0.0], [1.5, 0.0], [1.0, 1.0]]),
            RegionConfig {
                name: " ".into(),
                units: Units::Pixels,
                points: vec![[0.0, 0.0], [10.0, 10.0], [10.0, 0.0], [0.0, 10.0]],
            },
            region(Units::Pixels, &[[0.0, 0.0], [5.0, 5.0], [10.0, 10.0]]),
            region(Units::Pixels, &[[0.0, -1.0], [5.0, 5.0], [10.0, 10.0]]),
        ]);
        let issues = c.issues();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "regions[0].points",
                "regions[1].name",
                "regions[1].points",
                "regions[2].name",
                "regions[2].points",
                "regions[3].name",
                "regions[3].points",
                "regions[4].name",
                "regions[4].points",
            ]
        );
        let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert!(text[0].contains("has 2 points"), "{text:?}");
        assert!(text[2].contains("1.5 is outside 0..1"), "{text:?}");
        assert!(text[4].contains("crosses itself"), "{text:?}");
        assert!(text[6].contains("no area"), "{text:?}");
        assert!(text[8].contains("negative"), "{text:?}");
    }

    #[test]
    fn pixel_corners_outside_the_frame_are_named_at_run_time() {
        let c = config(vec![region(Units::Pixels, &[[0.0, 0.0], [1920.0, 0.0], [0.0, 1080.0]])]);
        assert!(c.issues().is_empty(), "the frame size is not known before frames come");
        let mut roi = Roi::new(c);
        assert!(roi.for_frame(1920, 1080).expect("regions").beyond_frame().is_empty());
        assert_eq!(roi.for_frame(1280, 720).expect("regions").beyond_frame(), ["lane 1"]);
    }
}
