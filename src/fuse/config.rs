//! `[fusion]`: how reads become vehicles, and whether the camera stands or moves.

use crate::config_issue::ConfigIssue;
use serde::{Deserialize, Serialize};

/// Whether the camera stands by the road or rides in a car.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Camera {
    /// A roadside box: a vehicle's plate moves smoothly through the frame, and the same text
    /// seen again after the vehicle left is a new passage.
    Fixed,
    /// A patrol car: boxes jump with the unit's own motion, a car overtaken or parked leaves
    /// view and comes back, so the plate text decides what is the same vehicle.
    Moving,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FusionConfig {
    /// `fixed` or `moving`. Left out: `moving` when `[position]` takes gpsd (a mobile unit),
    /// else `fixed`.
    pub camera: Option<Camera>,
    /// A track with no read for this long is a vehicle that has left: it is emitted.
    pub leave_after_ms: u64,
    /// A track is emitted at the latest this long after its first read, even while the vehicle
    /// is still in view, so a hit reaches the control room fast. Later reads of the same
    /// vehicle join the emitted track and are not emitted again.
    pub max_delay_ms: u64,
    /// Reads whose texts differ by at most this many edits (O and 0 equal) may be one vehicle.
    pub max_text_distance: usize,
    /// Least overlap (IoU) of a read's box with the track's last box for the box alone to tie
    /// a differently read text to the track.
    pub min_box_iou: f32,
    /// Tracks followed at once; past it the oldest is emitted early. Bounds memory on a busy
    /// road: each track keeps a payload (the pipeline's evidence of the read: plate crop and
    /// overview JPEG) for at most 4 candidate texts, and none once its read went out.
    pub max_tracks: usize,
    /// On a video or live source a track is a vehicle once its text, fitting a plate format,
    /// was read legibly (see `min_confidence`, `min_plate_width_px`, `min_chars`) on this many
    /// frames, or once at `confirm_confidence`; a track that is neither when it ends is a
    /// phantom (a sign, a far plate read as noise, half a plate at the frame's edge) and is not
    /// emitted. A folder of stills keeps every read whatever the evidence keys say.
    pub confirm_frames: u32,
    /// Legible frames a text that fits no plate format of `[recognition.formats]` needs: a
    /// foreign plate is still a vehicle, on more evidence.
    pub confirm_frames_unformatted: u32,
    /// One legible read of a formatted text at least this confident is a vehicle on its own.
    pub confirm_confidence: f32,
    /// Least OCR confidence for a read to count as evidence of its text. Below it a read may
    /// follow a vehicle but never names one, nor makes one.
    pub min_confidence: f32,
    /// Least width of the plate's box, px, for a read to count as evidence of its text: a
    /// plate narrower than this is not legible to a person either.
    pub min_plate_width_px: f32,
    /// Least characters a text needs to name a vehicle: fewer is a piece of a plate.
    pub min_chars: usize,
    /// A text read again within this long after its vehicle was last read is that vehicle:
    /// on a moving camera wherever its box is (a car overtaken, hidden by a bus, back in view);
    /// on both, a vehicle already reported is not reported again for its plate, one edit from
    /// it, or a piece of it (a queue that stops and goes, the next shot of a cut).
    pub rejoin_window_ms: u64,
    /// Moving camera: the exact text read again within this long after the vehicle was last
    /// read (a parked car passed a second time) gets the same vehicle id and is not emitted
    /// again. 0 turns it off.
    pub revisit_s: u64,
}

impl Default for FusionConfig {
    fn default() -> Self {
        Self {
            camera: None,
            leave_after_ms: 700,
            max_delay_ms: 3000,
            max_text_distance: 2,
            min_box_iou: 0.3,
            max_tracks: 8,
            confirm_frames: 2,
            confirm_frames_unformatted: 3,
            confirm_confidence: 0.95,
            min_confidence: 0.6,
            min_plate_width_px: 40.0,
            min_chars: 4,
            rejoin_window_ms: 10_000,
            revisit_s: 600,
        }
    }
}

impl FusionConfig {
    /// The camera fusion works for (`fixed` until the configuration says otherwise).
    pub fn camera(&self) -> Camera {
        self.camera.unwrap_or(Camera::Fixed)
    }

    /// What is wrong with `[fusion]`, keys relative to it.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        for (key, value) in
            [("leave_after_ms", self.leave_after_ms), ("max_delay_ms", self.max_delay_ms)]
        {
            if value == 0 {
                issues.push(ConfigIssue::new(key, "is 0", "give a wait above 0 ms"));
            }
        }
        if self.max_tracks == 0 {
            issues.push(ConfigIssue::new("max_tracks", "is 0", "give at least 1"));
        }
        for (key, value) in [
            ("min_box_iou", self.min_box_iou),
            ("confirm_confidence", self.confirm_confidence),
            ("min_confidence", self.min_confidence),
        ] {
            if !(0.0..=1.0).contains(&value) {
                issues.push(ConfigIssue::new(
                    key,
                    format!("{value} is outside 0..1"),
                    "give a value between 0 and 1",
                ));
            }
        }
        for (key, value) in [
            ("confirm_frames", self.confirm_frames),
            ("confirm_frames_unformatted", self.confirm_frames_unformatted),
        ] {
            if value == 0 {
                issues.push(ConfigIssue::new(key, "is 0", "give at least 1 legible frame"));
            }
        }
        if !(self.min_plate_width_px >= 0.0 && self.min_plate_width_px <= 4096.0) {
            issues.push(ConfigIssue::new(
                "min_plate_width_px",
                format!("{} is outside 0..4096", self.min_plate_width_px),
                "give a plate width in pixels, such as 40",
            ));
        }
        if self.min_chars == 0 {
            issues.push(ConfigIssue::new("min_chars", "is 0", "give at least 1 character"));
        }
        if self.rejoin_window_ms < self.leave_after_ms {
            issues.push(ConfigIssue::new(
                "rejoin_window_ms",
                format!("{} is below fusion.leave_after_ms", self.rejoin_window_ms),
                "give at least fusion.leave_after_ms",
            ));
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_key() {
        let keys =
            |c: FusionConfig| -> Vec<String> { c.issues().into_iter().map(|i| i.key).collect() };
        assert_eq!(keys(FusionConfig { max_tracks: 0, ..FusionConfig::default() }), ["max_tracks"]);
        assert_eq!(
            keys(FusionConfig { confirm_frames: 0, ..FusionConfig::default() }),
            ["confirm_frames"]
        );
        assert_eq!(
            keys(FusionConfig { confirm_confidence: 1.5, ..FusionConfig::default() }),
            ["confirm_confidence"]
        );
        assert_eq!(
            keys(FusionConfig { rejoin_window_ms: 100, ..FusionConfig::default() }),
            ["rejoin_window_ms"]
        );
        assert!(FusionConfig::default().issues().is_empty());
    }

    #[test]
    fn the_camera_is_fixed_unless_told() {
        assert_eq!(FusionConfig::default().camera(), Camera::Fixed);
        let moving = FusionConfig { camera: Some(Camera::Moving), ..FusionConfig::default() };
        assert_eq!(moving.camera(), Camera::Moving);
    }
}
