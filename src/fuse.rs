//! Fusion: the reads of one vehicle across consecutive frames become one read.
//!
//! A car passing a camera is read on many frames, not always identically (a frame with motion
//! blur reads `1ABC23B` where the others read `1ABC238`). Fusion groups reads into tracks — the
//! same plate text, or nearly, in a box that continues the last one, within a time window — and
//! emits one read per track with the text most frames agreed on.
//!
//! Design: pure. Time is passed in (`at`, monotonic), nothing is read from a clock and nothing is
//! sent anywhere, so every policy here (association, when to emit, memory bound) is unit-tested
//! frame by frame. The caller owns the clock and the I/O.

use crate::config_issue::ConfigIssue;
use crate::geometry::BoundingBox;
use crate::plate_text::{edit_distance, fold};
use crate::recognizer::PlateRead;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FusionConfig {
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
    /// road: each track keeps the best frame of at most 4 candidate texts.
    pub max_tracks: usize,
}

impl Default for FusionConfig {
    fn default() -> Self {
        Self {
            leave_after_ms: 700,
            max_delay_ms: 1500,
            max_text_distance: 2,
            min_box_iou: 0.3,
            max_tracks: 8,
        }
    }
}

impl FusionConfig {
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
        if !(0.0..=1.0).contains(&self.min_box_iou) {
            issues.push(ConfigIssue::new(
                "min_box_iou",
                format!("{} is outside 0..1", self.min_box_iou),
                "give an overlap between 0 and 1",
            ));
        }
        issues
    }
}

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
    /// The vehicle this read is about, unique within one [`Fuser`]: a hit alert raised on one
    /// of its frames before fusion ended carries the same id, so the two records link.
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
}

/// Distinct texts one track may weigh; more are folded into the least supported one's slot.
const MAX_TEXTS_PER_TRACK: usize = 4;

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
struct Track<P> {
    vehicle: u64,
    candidates: heapless::Vec<Candidate<P>, MAX_TEXTS_PER_TRACK>,
    first_seen: Duration,
    last_seen: Duration,
    first_box: BoundingBox,
    last_box: BoundingBox,
    frames: u32,
    emitted: bool,
}

impl<P: Clone> Track<P> {
    fn new(vehicle: u64, read: PlateRead, frame: u64, at: Duration, payload: P) -> Self {
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

    fn add(&mut self, read: PlateRead, frame: u64, at: Duration, payload: P) {
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

    /// How well `read` continues this track: `None` if it does not, else a cost (lower is better).
    fn match_cost(&self, read: &PlateRead, config: &FusionConfig) -> Option<f32> {
        let folded = fold(&read.plate.text);
        let distance = self
            .candidates
            .iter()
            .map(|c| edit_distance(&c.folded, &folded))
            .min()
            .unwrap_or(usize::MAX);
        let iou = self.last_box.iou(&read.bbox);
        let text_close = distance <= config.max_text_distance;
        let box_continues = iou >= config.min_box_iou;
        if distance == 0
            || (text_close && (box_continues || iou > 0.0))
            || (box_continues && distance <= folded.len() / 2)
        {
            Some(distance as f32 + (1.0 - iou))
        } else if text_close {
            // Same text nearly, box jumped (a fast car at a low frame rate): a weak match.
            Some(distance as f32 + 2.0)
        } else {
            None
        }
    }

    fn fused(&self, reason: EmitReason) -> Option<FusedRead<P>> {
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
}

/// The fusion state: the tracks being followed.
pub struct Fuser<P> {
    config: FusionConfig,
    tracks: Vec<Track<P>>,
    next_vehicle: u64,
}

/// What one frame's reads did to the fusion state.
#[derive(Debug)]
pub struct Observed<P> {
    /// Reads due now (vehicles that left, or past the max delay).
    pub due: Vec<FusedRead<P>>,
    /// The vehicle each of the frame's reads was given to, in the order they came.
    pub vehicles: Vec<u64>,
}

impl<P: Clone> Fuser<P> {
    pub fn new(config: FusionConfig) -> Self {
        Self { config, tracks: Vec::new(), next_vehicle: 1 }
    }

    /// Tracks being followed now.
    pub fn active_tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Adds the reads of one frame seen at `at`: the reads that are due, and the vehicle each
    /// read was given to.
    ///
    /// Each read joins the best-matching track not already given a read of this frame (two
    /// plates on one frame are two vehicles), or starts a new one.
    pub fn observe(&mut self, at: Duration, frame: u64, reads: Vec<(PlateRead, P)>) -> Observed<P> {
        let mut out = self.tick(at);
        let mut vehicles = Vec::with_capacity(reads.len());
        let mut taken = vec![false; self.tracks.len()];
        for (read, payload) in reads {
            let best = self
                .tracks
                .iter()
                .enumerate()
                .filter(|(i, _)| !taken[*i])
                .filter_map(|(i, t)| t.match_cost(&read, &self.config).map(|cost| (i, cost)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, _)) => {
                    taken[i] = true;
                    vehicles.push(self.tracks[i].vehicle);
                    self.tracks[i].add(read, frame, at, payload);
                }
                None => {
                    if self.tracks.len() >= self.config.max_tracks {
                        out.extend(self.evict_oldest());
                        taken.pop();
                    }
                    let vehicle = self.next_vehicle;
                    self.next_vehicle += 1;
                    vehicles.push(vehicle);
                    self.tracks.push(Track::new(vehicle, read, frame, at, payload));
                    taken.push(true);
                }
            }
        }
        Observed { due: out, vehicles }
    }

    fn evict_oldest(&mut self) -> Option<FusedRead<P>> {
        let (oldest, _) = self.tracks.iter().enumerate().min_by_key(|(_, t)| t.last_seen)?;
        let track = self.tracks.remove(oldest);
        if track.emitted {
            None
        } else {
            track.fused(EmitReason::TooManyTracks)
        }
    }

    /// Emits what is due at `at`: tracks whose vehicle left, and tracks past the max delay.
    pub fn tick(&mut self, at: Duration) -> Vec<FusedRead<P>> {
        let leave = Duration::from_millis(self.config.leave_after_ms);
        let max_delay = Duration::from_millis(self.config.max_delay_ms);
        let mut out = Vec::new();
        self.tracks.retain_mut(|track| {
            let gone = at.saturating_sub(track.last_seen) > leave;
            if !track.emitted {
                let reason = if gone {
                    Some(EmitReason::Left)
                } else if at.saturating_sub(track.first_seen) >= max_delay {
                    Some(EmitReason::MaxDelay)
                } else {
                    None
                };
                if let Some(read) = reason.and_then(|r| track.fused(r)) {
                    out.push(read);
                    track.emitted = true;
                }
            }
            !gone
        });
        out
    }

    /// Emits every track not yet emitted (end of a recording, shutdown).
    pub fn flush(&mut self) -> Vec<FusedRead<P>> {
        let tracks = std::mem::take(&mut self.tracks);
        tracks
            .into_iter()
            .filter(|t| !t.emitted)
            .filter_map(|t| t.fused(EmitReason::Flush))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recognizer::PlateText;

    fn read(text: &str, confidence: f32, x: f32, w: f32) -> PlateRead {
        PlateRead {
            plate: PlateText {
                text: text.into(),
                ocr_text: text.into(),
                confidence,
                char_confidences: vec![confidence; text.len()],
                format: None,
                region: None,
            },
            bbox: BoundingBox { x1: x, y1: 100.0, x2: x + w, y2: 100.0 + w / 4.0 },
            detection_score: 0.9,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn fuser() -> Fuser<u64> {
        Fuser::new(FusionConfig::default())
    }

    #[test]
    fn one_vehicle_over_many_frames_is_one_read_with_the_majority_text() {
        let mut f = fuser();
        let mut out = Vec::new();
        let texts = ["1ABC238", "1ABC238", "1ABC23B", "1ABC238", "1ABC238"];
        for (i, text) in texts.iter().enumerate() {
            let confidence = if *text == "1ABC23B" { 0.99 } else { 0.9 };
            out.extend(
                f.observe(
                    ms(40 * i as u64),
                    i as u64,
                    vec![(read(text, confidence, 100.0 + 5.0 * i as f32, 100.0), i as u64)],
                )
                .due,
            );
        }
        assert!(out.is_empty(), "nothing due while the car is in view");
        out.extend(f.tick(ms(40 * 4 + 701)));
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!(r.best.plate.text, "1ABC238");
        assert_eq!((r.agreeing_frames, r.frames), (4, 5));
        assert_eq!(r.first_seen, ms(0));
        assert_eq!(r.last_seen, ms(160));
        assert_eq!(r.reason, EmitReason::Left);
        assert_eq!(f.active_tracks(), 0);
    }

    #[test]
    fn a_vehicle_still_in_view_is_emitted_at_the_max_delay_and_only_once() {
        let mut f = fuser();
        let mut out = Vec::new();
        for i in 0..100u64 {
            out.extend(f.observe(ms(40 * i), i, vec![(read("AB123CD", 0.9, 100.0, 100.0), i)]).due);
        }
        out.extend(f.tick(ms(40 * 99 + 701)));
        assert_eq!(out.len(), 1, "one read per vehicle");
        assert_eq!(out[0].reason, EmitReason::MaxDelay);
        assert_eq!(out[0].last_seen, ms(1480), "emitted on the first frame at or past 1.5 s");
    }

    #[test]
    fn two_plates_on_one_frame_are_two_vehicles() {
        let mut f = fuser();
        for i in 0..3u64 {
            f.observe(
                ms(40 * i),
                i,
                vec![
                    (read("AB123CD", 0.9, 100.0, 100.0), i),
                    (read("AB123CE", 0.9, 400.0, 100.0), i),
                ],
            );
        }
        let out = f.flush();
        let mut texts: Vec<_> = out.iter().map(|r| r.best.plate.text.clone()).collect();
        texts.sort();
        assert_eq!(texts, vec!["AB123CD", "AB123CE"]);
        assert!(out.iter().all(|r| r.frames == 3));
    }

    #[test]
    fn each_read_is_told_its_vehicle_and_the_fused_read_carries_it() {
        let mut f = fuser();
        let first = f.observe(
            ms(0),
            0,
            vec![(read("AB123CD", 0.9, 100.0, 100.0), 0), (read("XY987ZW", 0.9, 600.0, 100.0), 0)],
        );
        let second = f.observe(
            ms(40),
            1,
            vec![(read("XY987ZW", 0.9, 602.0, 100.0), 1), (read("AB123CD", 0.9, 102.0, 100.0), 1)],
        );
        let [a, x] = first.vehicles[..] else { panic!("two vehicles: {:?}", first.vehicles) };
        assert_ne!(a, x);
        assert_eq!(second.vehicles, [x, a], "the same cars keep their ids");
        let out = f.flush();
        let by_text = |t: &str| out.iter().find(|r| r.best.plate.text == t).map(|r| r.vehicle);
        assert_eq!((by_text("AB123CD"), by_text("XY987ZW")), (Some(a), Some(x)));
        let later = f.observe(ms(5000), 2, vec![(read("AB123CD", 0.9, 100.0, 100.0), 2)]);
        assert!(!later.vehicles.contains(&a), "a vehicle seen again after it left is a new one");
    }

    #[test]
    fn a_different_plate_elsewhere_starts_a_new_track() {
        let mut f = fuser();
        f.observe(ms(0), 0, vec![(read("AB123CD", 0.9, 100.0, 100.0), 0)]);
        f.observe(ms(40), 1, vec![(read("XY987ZW", 0.9, 600.0, 100.0), 1)]);
        assert_eq!(f.active_tracks(), 2);
    }

    #[test]
    fn the_same_text_after_the_vehicle_left_is_a_new_read() {
        let mut f = fuser();
        let mut out = f.observe(ms(0), 0, vec![(read("AB123CD", 0.9, 100.0, 100.0), 0)]).due;
        out.extend(f.observe(ms(2000), 50, vec![(read("AB123CD", 0.9, 100.0, 100.0), 50)]).due);
        out.extend(f.flush());
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_misread_in_a_continuing_box_joins_the_track() {
        let mut f = fuser();
        f.observe(ms(0), 0, vec![(read("AB123CD", 0.9, 100.0, 100.0), 0)]);
        f.observe(ms(40), 1, vec![(read("A8I23C0", 0.5, 102.0, 100.0), 1)]);
        assert_eq!(f.active_tracks(), 1);
        let out = f.flush();
        assert_eq!(out[0].best.plate.text, "AB123CD");
        assert_eq!(out[0].best_payload, 0);
    }

    #[test]
    fn a_growing_plate_is_approaching_and_a_shrinking_one_receding() {
        let mut f = fuser();
        for i in 0..5u64 {
            f.observe(
                ms(40 * i),
                i,
                vec![(read("AB123CD", 0.9, 100.0, 80.0 + 20.0 * i as f32), i)],
            );
        }
        assert_eq!(f.flush()[0].direction, Some(Direction::Approaching));
        for i in 0..5u64 {
            f.observe(
                ms(40 * i),
                i,
                vec![(read("AB123CD", 0.9, 100.0, 160.0 - 20.0 * i as f32), i)],
            );
        }
        assert_eq!(f.flush()[0].direction, Some(Direction::Receding));
    }

    #[test]
    fn the_track_count_is_bounded_and_the_oldest_is_emitted_first() {
        let mut f = Fuser::new(FusionConfig { max_tracks: 2, ..FusionConfig::default() });
        let mut out = f.observe(ms(0), 0, vec![(read("AAA111", 0.9, 0.0, 50.0), 0)]).due;
        out.extend(f.observe(ms(10), 1, vec![(read("BBB222", 0.9, 200.0, 50.0), 1)]).due);
        out.extend(f.observe(ms(20), 2, vec![(read("CCC333", 0.9, 400.0, 50.0), 2)]).due);
        assert_eq!(f.active_tracks(), 2);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].best.plate.text, "AAA111");
        assert_eq!(out[0].reason, EmitReason::TooManyTracks);
    }

    #[test]
    fn many_noisy_texts_do_not_evict_the_majority() {
        let mut f = fuser();
        for i in 0..10u64 {
            f.observe(ms(10 * i), i, vec![(read("AB123CD", 0.9, 100.0, 100.0), i)]);
        }
        let noise = ["AB123CE", "AB123CF", "AB123CG", "AB123CH", "AB123CJ", "AB123CK"];
        for (j, text) in noise.iter().enumerate() {
            f.observe(
                ms(100 + 10 * j as u64),
                10 + j as u64,
                vec![(read(text, 0.3, 100.0, 100.0), 0)],
            );
        }
        assert_eq!(f.flush()[0].best.plate.text, "AB123CD");
    }

    #[test]
    fn config_validation_names_the_key() {
        let bad = FusionConfig { max_tracks: 0, ..FusionConfig::default() };
        let keys: Vec<String> = bad.issues().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["max_tracks"]);
        assert!(FusionConfig::default().issues().is_empty());
    }
}
