//! One vehicle being followed: the texts its frames read, how they weigh, whether it is a
//! vehicle yet, and how well a new read continues it.

use super::config::FusionConfig;
use super::read::{Direction, EmitReason, FusedRead};
use crate::geometry::BoundingBox;
use crate::plate_text::{edit_distance, fold};
use crate::recognizer::PlateRead;
use std::time::Duration;

/// Distinct texts one track may weigh; more are folded into the least supported one's slot.
const MAX_TEXTS_PER_TRACK: usize = 4;

/// What makes a track a vehicle rather than a phantom: its winning text read alike on
/// `frames` frames, or once at `confidence`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Confirm {
    pub frames: u32,
    pub confidence: f32,
}

impl Confirm {
    /// Every read is a vehicle: a folder of photographs, each its own scene.
    pub const EVERY_READ: Confirm = Confirm { frames: 1, confidence: 0.0 };
}

#[derive(Debug, Clone)]
struct Candidate<P> {
    folded: String,
    weight: f32,
    frames: u32,
    best: PlateRead,
    best_frame: u64,
    best_payload: P,
}

#[derive(Debug)]
pub(super) struct Track<P> {
    pub vehicle: u64,
    candidates: heapless::Vec<Candidate<P>, MAX_TEXTS_PER_TRACK>,
    pub first_seen: Duration,
    pub last_seen: Duration,
    first_box: BoundingBox,
    last_box: BoundingBox,
    frames: u32,
    /// Its read went out (or, for a vehicle seen again, went out before): later frames join
    /// silently.
    pub emitted: bool,
}

impl<P: Clone> Track<P> {
    pub fn new(vehicle: u64, read: PlateRead, frame: u64, at: Duration, payload: P) -> Self {
        let mut track = Track {
            vehicle,
            candidates: heapless::Vec::new(),
            first_seen: at,
            last_seen: at,
            first_box: read.bbox,
            last_box: read.bbox,
            frames: 0,
            emitted: false,
        };
        track.add(read, frame, at, payload);
        track
    }

    pub fn add(&mut self, read: PlateRead, frame: u64, at: Duration, payload: P) {
        self.frames += 1;
        self.last_seen = at;
        self.last_box = read.bbox;
        let folded = fold(&read.plate.text);
        let weight = read.plate.confidence;
        if let Some(c) = self.candidates.iter_mut().find(|c| c.folded == folded) {
            c.weight += weight;
            c.frames += 1;
            if read.plate.confidence > c.best.plate.confidence {
                c.best = read;
                c.best_frame = frame;
                c.best_payload = payload;
            }
            return;
        }
        let candidate = Candidate {
            folded,
            weight,
            frames: 1,
            best: read,
            best_frame: frame,
            best_payload: payload,
        };
        if let Err(candidate) = self.candidates.push(candidate) {
            // The table is full: the new text replaces the least supported one only if it is
            // stronger, so a burst of noise cannot evict the text most frames agreed on.
            if let Some(weakest) =
                self.candidates.iter_mut().min_by(|a, b| a.weight.total_cmp(&b.weight))
            {
                if weakest.weight < candidate.weight {
                    *weakest = candidate;
                }
            }
        }
    }

    fn winner(&self) -> Option<&Candidate<P>> {
        self.candidates
            .iter()
            .max_by(|a, b| a.weight.total_cmp(&b.weight).then(a.frames.cmp(&b.frames)))
    }

    /// The text the track would be emitted with now, folded.
    pub fn winning_text(&self) -> Option<&str> {
        self.winner().map(|c| c.folded.as_str())
    }

    /// Whether the track is a vehicle: its winning text agreed on enough frames, or was read
    /// once confidently. A far plate read as six different noisy texts is none of these until
    /// the car comes close.
    pub fn confirmed(&self, confirm: Confirm) -> bool {
        self.winner().is_some_and(|c| {
            c.frames >= confirm.frames || c.best.plate.confidence >= confirm.confidence
        })
    }

    /// How well `read`, seen at `at`, continues this track: `None` if it does not, else a cost
    /// (lower is better).
    pub fn match_cost(
        &self,
        read: &PlateRead,
        at: Duration,
        config: &FusionConfig,
        confirm: Confirm,
    ) -> Option<f32> {
        let folded = fold(&read.plate.text);
        let distance = self
            .candidates
            .iter()
            .map(|c| edit_distance(&c.folded, &folded))
            .min()
            .unwrap_or(usize::MAX);
        let iou = self.last_box.iou(&read.bbox);
        let text_close = distance <= config.max_text_distance;
        let part = self.candidates.iter().any(|c| is_part(&c.folded, &folded));
        // The box speaks for the vehicle only while it is in view: another car in the same
        // place seconds later (the car ahead of a patrol car) is not this one.
        let in_view =
            at.saturating_sub(self.last_seen) <= Duration::from_millis(config.leave_after_ms);
        let box_continues = in_view && iou >= config.min_box_iou;
        if distance == 0
            || (text_close && iou > 0.0)
            || (box_continues && distance <= folded.len() / 2)
        {
            Some(distance as f32 + (1.0 - iou))
        } else if part && in_view && (iou > 0.0 || self.nearness(&read.bbox).is_some()) {
            // Half a plate at the frame's edge as the car enters or leaves view, next to the
            // whole plate: read clearly, yet the same plate.
            Some(1.5 + (1.0 - iou))
        } else if text_close {
            // Same text nearly, box jumped (a fast car at a low frame rate, a moving camera).
            Some(distance as f32 + 2.0)
        } else if in_view
            && (read.plate.confidence < confirm.confidence || !self.confirmed(confirm))
        {
            // A plate that resolves as it comes closer: unreadable noise where the track was,
            // or the first clear read where only noise was, is the same plate.
            self.nearness(&read.bbox).map(|n| 3.0 + n)
        } else {
            None
        }
    }

    /// How far `bbox`'s centre is from the last box's, in plate widths, when within one.
    fn nearness(&self, bbox: &BoundingBox) -> Option<f32> {
        let centre = |b: &BoundingBox| ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
        let ((ax, ay), (bx, by)) = (centre(&self.last_box), centre(bbox));
        let width = (self.last_box.x2 - self.last_box.x1).max(bbox.x2 - bbox.x1).max(1.0);
        let apart = ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt() / width;
        (apart <= 1.0).then_some(apart)
    }

    pub fn fused(&self, reason: EmitReason) -> Option<FusedRead<P>> {
        let winner = self.winner()?;
        let growth = self.last_box.area() / self.first_box.area().max(1.0);
        let direction = if self.frames < 2 {
            None
        } else if growth > 1.15 {
            Some(Direction::Approaching)
        } else if growth < 1.0 / 1.15 {
            Some(Direction::Receding)
        } else {
            None
        };
        Some(FusedRead {
            vehicle: self.vehicle,
            best: winner.best.clone(),
            best_frame: winner.best_frame,
            best_payload: winner.best_payload.clone(),
            agreeing_frames: winner.frames,
            frames: self.frames,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            direction,
            reason,
        })
    }

    /// For the debug log of a suppressed phantom: its text, frames and best confidence.
    pub fn describe(&self) -> (String, u32, f32) {
        self.winner().map_or((String::new(), self.frames, 0.0), |c| {
            (c.best.plate.text.clone(), self.frames, c.best.plate.confidence)
        })
    }
}

/// Whether one text is a piece of the other (at least 3 characters of it): what the frame's
/// edge leaves of a plate.
fn is_part(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 3 && short.len() < long.len() && long.contains(short)
}
