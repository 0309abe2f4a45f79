//! One vehicle being followed: the texts its frames read, how they weigh, whether it is a
//! vehicle yet, and how well a new read continues it.

use super::config::FusionConfig;
use super::read::{Direction, EmitReason, FusedRead};
use crate::geometry::BoundingBox;
use crate::plate::PlateRead;
use crate::plate::{edit_distance, fold};
use std::time::Duration;

/// Distinct texts one track may weigh; a new one past it takes the slot of the least supported
/// text other than the leader.
const MAX_TEXTS_PER_TRACK: usize = 4;

/// What makes a track a vehicle rather than a phantom (`[fusion]`'s evidence keys).
///
/// A read is *legible* evidence of its text when it is confident enough, on a plate wide
/// enough in pixels and long enough in characters to be read at all; anything less (a far
/// plate read as noise, a sign, a piece of a plate) may follow a vehicle but never names one.
/// A track is a vehicle when its winning text was read legibly on `frames` frames, or once at
/// `confidence` when it fits a plate format; a text that fits no format needs
/// `frames_unformatted` legible frames.
#[derive(Debug, Clone, Copy)]
pub(super) struct VehicleRule {
    pub frames: u32,
    pub frames_unformatted: u32,
    pub confidence: f32,
    pub min_confidence: f32,
    pub min_width: f32,
    pub min_chars: usize,
}

impl VehicleRule {
    /// Every read is a vehicle: a folder of photographs, each its own scene.
    pub const EVERY_READ: VehicleRule = VehicleRule {
        frames: 1,
        frames_unformatted: 1,
        confidence: 0.0,
        min_confidence: 0.0,
        min_width: 0.0,
        min_chars: 1,
    };

    pub fn from_config(config: &FusionConfig) -> Self {
        Self {
            frames: config.confirm_frames,
            frames_unformatted: config.confirm_frames_unformatted,
            confidence: config.confirm_confidence,
            min_confidence: config.min_confidence,
            min_width: config.min_plate_width_px,
            min_chars: config.min_chars,
        }
    }

    /// Whether `read` is evidence of what its text is.
    pub fn legible(&self, read: &PlateRead) -> bool {
        read.plate.confidence >= self.min_confidence
            && read.bbox.width() >= self.min_width
            && read.plate.text.chars().count() >= self.min_chars
    }
}

#[derive(Debug, Clone)]
struct Candidate<P> {
    folded: String,
    /// Confidence summed over the frames that read this text.
    weight: f32,
    frames: u32,
    /// Confidence summed over the frames that read this text legibly, and their count.
    legible_weight: f32,
    legible_frames: u32,
    best: PlateRead,
    best_frame: u64,
    /// What the caller keeps of the best frame; `None` once the track's read went out, since
    /// nothing is built from it any more and it is the bulk of what a track holds.
    best_payload: Option<P>,
}

impl<P> Candidate<P> {
    /// Legible support first, any support after: a burst of noise never outweighs one clear
    /// read of the plate.
    fn support(&self) -> (f32, f32) {
        (self.legible_weight, self.weight)
    }
}

#[derive(Debug)]
pub(super) struct Track<P> {
    pub vehicle: u64,
    candidates: heapless::Vec<Candidate<P>, MAX_TEXTS_PER_TRACK>,
    pub first_seen: Duration,
    pub last_seen: Duration,
    /// When a text of it was first read legibly: from then on it is known which vehicle it is.
    pub first_legible: Option<Duration>,
    first_box: BoundingBox,
    last_box: BoundingBox,
    frames: u32,
    /// Its read went out (or, for a vehicle seen again, went out before): later frames join
    /// silently, and no payload is kept ([`Track::mark_emitted`]).
    emitted: bool,
    /// A hotlist alert was raised on its frames: whatever the evidence rules say, the vehicle
    /// is reported, so the alert is never left without its vehicle's read.
    pub hit: bool,
}

impl<P: Clone> Track<P> {
    pub fn new(
        vehicle: u64,
        read: PlateRead,
        frame: u64,
        at: Duration,
        payload: P,
        rule: VehicleRule,
    ) -> Self {
        let mut track = Track {
            vehicle,
            candidates: heapless::Vec::new(),
            first_seen: at,
            last_seen: at,
            first_legible: None,
            first_box: read.bbox,
            last_box: read.bbox,
            frames: 0,
            emitted: false,
            hit: false,
        };
        track.add(read, frame, at, payload, rule);
        track
    }

    pub fn add(
        &mut self,
        read: PlateRead,
        frame: u64,
        at: Duration,
        payload: P,
        rule: VehicleRule,
    ) {
        self.frames += 1;
        self.last_seen = at;
        self.last_box = read.bbox;
        // An emitted track builds no read any more: its frames need not be kept.
        let payload = (!self.emitted).then_some(payload);
        let folded = fold(&read.plate.text);
        let weight = read.plate.confidence;
        let legible = rule.legible(&read);
        let (legible_weight, legible_frames) = if legible { (weight, 1) } else { (0.0, 0) };
        if legible {
            self.first_legible.get_or_insert(at);
        }
        if let Some(c) = self.candidates.iter_mut().find(|c| c.folded == folded) {
            c.weight += weight;
            c.frames += 1;
            c.legible_weight += legible_weight;
            c.legible_frames += legible_frames;
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
            legible_weight,
            legible_frames,
            best: read,
            best_frame: frame,
            best_payload: payload,
        };
        if let Err(candidate) = self.candidates.push(candidate) {
            // The table is full: the new text takes the place of the least supported one other
            // than the leader, so a burst of noise cannot evict the text most frames agreed on,
            // and a plate that comes into focus late still gets its text counted (a one-frame
            // newcomer never outweighs misreads that piled up while the plate was blurred).
            let leader = self.candidates.iter().enumerate().max_by(|a, b| by_support(a.1, b.1));
            let leader = leader.map(|(i, _)| i);
            let weakest = self
                .candidates
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != leader)
                .min_by(|a, b| by_support(a.1, b.1))
                .map(|(i, _)| i);
            if let Some(slot) = weakest.and_then(|i| self.candidates.get_mut(i)) {
                *slot = candidate;
            }
        }
    }

    /// The text the track reports: the best-supported legible text that is not a piece of
    /// another legible one (half a plate at the frame's edge never names its vehicle); while
    /// no text is legible, the best supported of all.
    fn winner(&self) -> Option<&Candidate<P>> {
        let legible = |c: &&Candidate<P>| c.legible_frames > 0;
        let whole = |c: &&Candidate<P>| {
            !self.candidates.iter().any(|o| {
                o.legible_frames > 0
                    && is_part(&c.folded, &o.folded)
                    && o.folded.len() > c.folded.len()
            })
        };
        self.candidates
            .iter()
            .filter(legible)
            .filter(whole)
            .max_by(|a, b| by_support(a, b))
            .or_else(|| self.candidates.iter().max_by(|a, b| by_support(a, b)))
    }

    /// Whether some text of the track was read legibly: the track knows which vehicle it is.
    fn established(&self) -> bool {
        self.candidates.iter().any(|c| c.legible_frames > 0)
    }

    /// The text the track would be emitted with now, folded.
    pub fn winning_text(&self) -> Option<&str> {
        self.winner().map(|c| c.folded.as_str())
    }

    /// Whether the track is a vehicle: its winning text read legibly on enough frames, or
    /// once very confidently in a plate format, or a hotlist alert was raised on it. A far
    /// plate read as six different noisy texts is none of these until the car comes close.
    pub fn confirmed(&self, rule: VehicleRule) -> bool {
        self.winner().is_some_and(|c| {
            let needed =
                if c.best.plate.format.is_some() { rule.frames } else { rule.frames_unformatted };
            let once = c.best.plate.format.is_some()
                && c.best.plate.confidence >= rule.confidence
                && rule.legible(&c.best);
            self.hit || (c.legible_frames > 0 && (c.legible_frames >= needed || once))
        })
    }

    /// How well `read`, seen at `at`, continues this track: `None` if it does not, else a cost
    /// (lower is better).
    pub fn match_cost(
        &self,
        read: &PlateRead,
        at: Duration,
        config: &FusionConfig,
        rule: VehicleRule,
    ) -> Option<f32> {
        let folded = fold(&read.plate.text);
        let legible = rule.legible(read);
        // A plate read confidently with a text unlike every text the track read legibly is
        // another vehicle, wherever its box is: the car that took the place of the one before
        // it at a stop line. Less confident, it may be this plate misread (a blurred frame).
        if legible
            && read.plate.confidence >= rule.confidence
            && self.established()
            && !self.candidates.iter().filter(|c| c.legible_frames > 0).any(|c| {
                edit_distance(&c.folded, &folded) <= config.max_text_distance
                    || is_part(&c.folded, &folded)
            })
        {
            return None;
        }
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
        } else if in_view && (!legible || !self.established()) {
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

    /// Whether its read went out.
    pub fn emitted(&self) -> bool {
        self.emitted
    }

    /// Its read went out (or went out before, for a vehicle seen again): the payloads are let
    /// go, so a vehicle that stays in view after its read costs its texts, not its frames.
    pub fn mark_emitted(&mut self) {
        self.emitted = true;
        for candidate in self.candidates.iter_mut() {
            candidate.best_payload = None;
        }
    }

    /// The payloads the track holds: at most one per candidate text, none once emitted.
    pub fn payloads_mut(&mut self) -> impl Iterator<Item = &mut P> {
        self.candidates.iter_mut().filter_map(|c| c.best_payload.as_mut())
    }

    /// Its read now, unless it was emitted (its payloads are gone then).
    pub fn fused(&self, reason: EmitReason) -> Option<FusedRead<P>> {
        let winner = self.winner()?;
        let best_payload = winner.best_payload.clone()?;
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
            best_payload,
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

fn by_support<P>(a: &Candidate<P>, b: &Candidate<P>) -> std::cmp::Ordering {
    let ((al, aw), (bl, bw)) = (a.support(), b.support());
    al.total_cmp(&bl).then(aw.total_cmp(&bw)).then(a.frames.cmp(&b.frames))
}

/// Whether one text is a piece of the other (at least 3 characters of it): what the frame's
/// edge leaves of a plate.
pub(super) fn is_part(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 3 && short.len() < long.len() && long.contains(short)
}
