//! What fusion hands on: one vehicle's read, fused over the frames it was seen on.

use crate::plate::PlateRead;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Whether the vehicle came towards the camera (its plate grew) or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Approaching,
    Receding,
}

/// One vehicle's read, fused over the frames it was seen on. `P` is what the caller keeps with
/// the best frame (its image, for the overview and crop); fusion never looks inside it.
#[derive(Debug, Clone)]
pub struct FusedRead<P> {
    /// The vehicle this read is about, unique within one [`super::Fuser`]: a hit alert raised
    /// on one of its frames before fusion ended carries the same id, so the two records link.
    pub vehicle: u64,
    /// The read of the frame that read the winning text most confidently.
    pub best: PlateRead,
    pub best_frame: u64,
    pub best_payload: P,
    /// Frames whose read equals the winning text (O and 0 equal).
    pub agreeing_frames: u32,
    /// All frames the vehicle was read on.
    pub frames: u32,
    pub first_seen: Duration,
    pub last_seen: Duration,
    pub direction: Option<Direction>,
    /// Why it was emitted now.
    pub reason: EmitReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmitReason {
    /// Not emitted by fusion: a hit alert raised from the frames so far (`hotlist::alert`).
    Alert,
    Left,
    MaxDelay,
    TooManyTracks,
    Flush,
    /// The whole picture changed (a cut, the camera moved): every vehicle left view at once.
    Cut,
}
