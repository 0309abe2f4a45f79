//! Fusion: the reads of one vehicle across frames become one read.
//!
//! A car passing a camera is read on many frames, not always identically (a frame with motion
//! blur reads `1ABC23B` where the others read `1ABC238`). Fusion groups reads into tracks — the
//! same plate text, or nearly, in a box that continues the last one, within a time window — and
//! emits one read per track with the text best supported over its frames.
//!
//! On video a track must also be a vehicle, decided by evidence (`track::VehicleRule`): its
//! text read *legibly* (confidently enough, on a plate wide enough, long enough) on a few
//! frames, or once very confidently. One that ends as neither — a far plate read as noise, a
//! sign, a piece of a plate — is a phantom: never emitted, counted. A plate read confidently
//! with another text is another vehicle wherever its box is (a car taking the place of the one
//! before it); a scene cut ends every track ([`Fuser::cut`]); a vehicle reported is not
//! reported again for its plate read again soon after, or a piece of it (`recent.rs`); a
//! vehicle a hotlist alert was raised on is always reported ([`Fuser::keep_hit`]). A folder of
//! stills keeps every read ([`Fuser::keeping_single_reads`]). Why, measured on real footage:
//! docs/fusion.md.
//!
//! A moving camera (`camera = "moving"`) keeps a track past the vehicle's leaving for
//! `rejoin_window_ms` so that its text read again, whatever the box did, is the same vehicle,
//! and remembers emitted vehicles for `revisit_s` (`revisit.rs`) so that a parked car passed
//! twice keeps its id. Boxes still separate two cars on one frame.
//!
//! Design: pure. Time is passed in (`at`, monotonic), nothing is read from a clock and nothing is
//! sent anywhere, so every policy here (association, when to emit, phantoms, memory bound) is
//! unit-tested frame by frame. The caller owns the clock and the I/O.

mod config;
mod read;
mod recent;
mod revisit;
mod track;

pub use config::{Camera, FusionConfig};
pub use read::{Direction, EmitReason, FusedRead};

use crate::plate::fold;
use crate::plate::PlateRead;
use recent::Recent;
use revisit::Revisits;
use std::time::Duration;
use track::{Track, VehicleRule};

/// The fusion state: the tracks being followed.
pub struct Fuser<P> {
    config: FusionConfig,
    rule: VehicleRule,
    tracks: Vec<Track<P>>,
    revisits: Revisits,
    recent: Recent,
    next_vehicle: u64,
    phantoms_suppressed: u64,
}

/// What one frame's reads did to the fusion state.
#[derive(Debug)]
pub struct Observed<P> {
    /// Reads due now (vehicles that left, or past the max delay).
    pub due: Vec<FusedRead<P>>,
    /// The vehicle each of the frame's reads was given to, in the order they came. A vehicle
    /// that turns out a phantom never has a fused read; on a moving camera a vehicle seen again
    /// gets the id it had.
    pub vehicles: Vec<u64>,
}

impl<P: Clone> Fuser<P> {
    pub fn new(config: FusionConfig) -> Self {
        let rule = VehicleRule::from_config(&config);
        let revisit = match config.camera() {
            Camera::Moving => Duration::from_secs(config.revisit_s),
            Camera::Fixed => Duration::ZERO,
        };
        let recent = Recent::new(Duration::from_millis(config.rejoin_window_ms));
        Self {
            config,
            rule,
            tracks: Vec::new(),
            revisits: Revisits::new(revisit),
            recent,
            next_vehicle: 1,
            phantoms_suppressed: 0,
        }
    }

    /// Every read is a vehicle, however briefly seen: for a folder of photographs, where each
    /// frame is its own scene and one frame is all a car gets.
    pub fn keeping_single_reads(mut self) -> Self {
        self.rule = VehicleRule::EVERY_READ;
        self.recent = Recent::new(Duration::ZERO);
        self
    }

    /// Tracks being followed now.
    pub fn active_tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Every payload the tracks hold, for the caller to shrink in place (the pipeline packs
    /// each best frame into what its read needs). At most `max_tracks` × 4, one per candidate
    /// text, and none of a track whose read went out.
    pub fn payloads_mut(&mut self) -> impl Iterator<Item = &mut P> {
        self.tracks.iter_mut().flat_map(|t| t.payloads_mut())
    }

    /// Tracks that ended without being a vehicle (phantoms, and pieces of a vehicle already
    /// reported), since the start.
    pub fn phantoms_suppressed(&self) -> u64 {
        self.phantoms_suppressed
    }

    /// A hotlist alert was raised on `vehicle`'s frames: it is reported whatever the evidence
    /// rules would say, so the alert already sent always has its vehicle's read.
    pub fn keep_hit(&mut self, vehicle: u64) {
        if let Some(track) = self.tracks.iter_mut().find(|t| t.vehicle == vehicle) {
            track.hit = true;
        }
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
                .filter_map(|(i, t)| {
                    t.match_cost(&read, at, &self.config, self.rule).map(|cost| (i, cost))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, _)) => {
                    taken[i] = true;
                    let track = &mut self.tracks[i];
                    vehicles.push(track.vehicle);
                    track.add(read, frame, at, payload, self.rule);
                    if track.emitted() {
                        self.recent.seen_until(track.vehicle, at);
                    }
                }
                None => {
                    if self.tracks.len() >= self.config.max_tracks {
                        out.extend(self.evict_oldest());
                        taken.pop();
                    }
                    let seen_before = self.revisits.take(&fold(&read.plate.text), at);
                    let vehicle = seen_before.unwrap_or_else(|| {
                        self.next_vehicle += 1;
                        self.next_vehicle - 1
                    });
                    vehicles.push(vehicle);
                    let mut track = Track::new(vehicle, read, frame, at, payload, self.rule);
                    if seen_before.is_some() {
                        track.mark_emitted();
                    }
                    self.tracks.push(track);
                    taken.push(true);
                }
            }
        }
        Observed { due: out, vehicles }
    }

    /// The whole picture changed (a cut in a recording, a camera moved to another view): no
    /// vehicle followed so far is in view any more, so every track ends now and the next
    /// frame's plates, wherever their boxes are, are new vehicles.
    pub fn cut(&mut self) -> Vec<FusedRead<P>> {
        let tracks = std::mem::take(&mut self.tracks);
        tracks.into_iter().filter_map(|t| self.retire(t, EmitReason::Cut)).collect()
    }

    fn evict_oldest(&mut self) -> Option<FusedRead<P>> {
        let (oldest, _) = self.tracks.iter().enumerate().min_by_key(|(_, t)| t.last_seen)?;
        let track = self.tracks.remove(oldest);
        self.retire(track, EmitReason::TooManyTracks)
    }

    /// A track leaves the table: its read if it was not emitted yet and is a vehicle; counted
    /// if it is a phantom; remembered for a revisit if it was a vehicle.
    fn retire(&mut self, mut track: Track<P>, reason: EmitReason) -> Option<FusedRead<P>> {
        let read = if track.emitted() {
            None
        } else if track.confirmed(self.rule) {
            self.release(&mut track, reason)
        } else {
            self.count_phantom(&track);
            return None;
        };
        if let Some(text) = track.winning_text() {
            self.revisits.remember(text, track.vehicle, track.last_seen);
            self.recent.seen_until(track.vehicle, track.last_seen);
        }
        read
    }

    /// The read of a confirmed track, unless it is a vehicle reported already: its text, or a
    /// piece of it, read again just after it left view or in the next shot is the same car. A
    /// hit is reported whatever came before it.
    fn release(&mut self, track: &mut Track<P>, reason: EmitReason) -> Option<FusedRead<P>> {
        let read = track.fused(reason);
        track.mark_emitted();
        let text = track.winning_text()?.to_string();
        if !track.hit {
            if let Some(vehicle) = self.recent.covering(&text, track.first_seen) {
                self.phantoms_suppressed += 1;
                tracing::debug!(vehicle = track.vehicle, plate = %text, of = vehicle, "read suppressed: that vehicle was reported already");
                return None;
            }
        }
        self.recent.remember(&text, track.vehicle, track.last_seen);
        read
    }

    fn count_phantom(&mut self, track: &Track<P>) {
        self.phantoms_suppressed += 1;
        let (text, frames, confidence) = track.describe();
        tracing::debug!(vehicle = track.vehicle, plate = %text, frames, confidence, "phantom read suppressed: its text was not read legibly on enough frames");
    }

    /// Emits what is due at `at`: tracks whose vehicle left, and tracks past the max delay that
    /// are vehicles. A track that is no vehicle yet waits for a legible read until it leaves.
    pub fn tick(&mut self, at: Duration) -> Vec<FusedRead<P>> {
        let leave = Duration::from_millis(self.config.leave_after_ms);
        let max_delay = Duration::from_millis(self.config.max_delay_ms);
        // A moving camera keeps a vehicle that left, so that its text read again is still it.
        let keep = match self.config.camera() {
            Camera::Moving => Duration::from_millis(self.config.rejoin_window_ms),
            Camera::Fixed => leave,
        };
        let mut out = Vec::new();
        let mut retired = Vec::new();
        for mut track in std::mem::take(&mut self.tracks) {
            let since = at.saturating_sub(track.last_seen);
            if !track.emitted() && track.confirmed(self.rule) {
                let reason = if since > leave {
                    Some(EmitReason::Left)
                } else if track.first_legible.is_some_and(|t| at.saturating_sub(t) >= max_delay) {
                    Some(EmitReason::MaxDelay)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    out.extend(self.release(&mut track, reason));
                }
            }
            retired.push(track);
        }
        let (retired, kept): (Vec<_>, Vec<_>) =
            retired.into_iter().partition(|t| at.saturating_sub(t.last_seen) > keep);
        // A track that is no vehicle yet waits out the window too: read once, hidden, read
        // again, it is one vehicle read on two frames, not two phantoms.
        self.tracks = kept;
        for track in retired {
            out.extend(self.retire(track, EmitReason::Left));
        }
        out
    }

    /// Emits every track not yet emitted that is a vehicle (end of a recording, shutdown).
    pub fn flush(&mut self) -> Vec<FusedRead<P>> {
        let tracks = std::mem::take(&mut self.tracks);
        tracks.into_iter().filter_map(|t| self.retire(t, EmitReason::Flush)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BoundingBox;
    use crate::plate::PlateText;

    fn read(text: &str, confidence: f32, x: f32, w: f32) -> PlateRead {
        PlateRead {
            plate: PlateText {
                text: text.into(),
                ocr_text: text.into(),
                confidence,
                char_confidences: vec![confidence; text.len()],
                // A text the country formats know: the evidence rules for a plate.
                format: Some("XX".into()),
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
        assert_eq!(out[0].last_seen, ms(2960), "emitted on the first frame at or past 3 s");
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
    fn the_same_text_after_the_vehicle_left_is_the_vehicle_within_the_rejoin_window_only() {
        let mut f = fuser();
        let mut out = f.observe(ms(0), 0, vec![(read("AB123CD", 0.99, 100.0, 100.0), 0)]).due;
        out.extend(f.observe(ms(2000), 50, vec![(read("AB123CD", 0.99, 100.0, 100.0), 50)]).due);
        out.extend(f.observe(ms(4000), 100, vec![(read("AB123C0", 0.99, 300.0, 100.0), 100)]).due);
        out.extend(f.flush());
        assert_eq!(out.len(), 1, "a queue that stops and goes: one car, {out:?}");
        assert_eq!(f.phantoms_suppressed(), 2);
        out.extend(
            f.observe(ms(15_000), 300, vec![(read("AB123CD", 0.99, 100.0, 100.0), 300)]).due,
        );
        out.extend(f.flush());
        assert_eq!(out.len(), 2, "past the window it is a new passage");
    }

    #[test]
    fn a_car_that_takes_the_place_of_the_one_before_it_is_a_new_vehicle() {
        // A barrier: one car read clearly for a while, then the next one in the same place,
        // with no empty frame between them, also read clearly.
        let mut frames: Vec<_> =
            (0..30u64).map(|i| (40 * i, vec![read("AB123CD", 0.99, 400.0, 100.0)])).collect();
        frames.extend((30..60u64).map(|i| (40 * i, vec![read("XY987ZW", 0.98, 402.0, 100.0)])));
        let mut f = fuser();
        let (vehicles, out) = drive(&mut f, &frames);
        let texts: Vec<_> = out.iter().map(|r| r.best.plate.text.as_str()).collect();
        assert_eq!(texts, ["AB123CD", "XY987ZW"]);
        assert_ne!(vehicles[0], vehicles[59]);
        // Emitted at the max delay first: the next car still does not join the emitted track.
        let mut slow = Fuser::new(FusionConfig { max_delay_ms: 400, ..FusionConfig::default() });
        let (_, out) = drive(&mut slow, &frames);
        assert_eq!(out.len(), 2, "{out:?}");
    }

    #[test]
    fn a_cut_ends_every_track_and_the_next_shot_is_new_vehicles() {
        let mut f = fuser();
        for i in 0..5u64 {
            f.observe(ms(40 * i), i, vec![(read("AB123CD", 0.9, 400.0, 100.0), i)]);
        }
        let out = f.cut();
        assert_eq!((out.len(), out[0].reason, f.active_tracks()), (1, EmitReason::Cut, 0));
        // The next shot: another car where the last one was, read less than clearly.
        for i in 5..10u64 {
            f.observe(ms(40 * i), i, vec![(read("XY987ZW", 0.7, 400.0, 100.0), i)]);
        }
        let out = f.flush();
        assert_eq!(out.iter().map(|r| r.best.plate.text.as_str()).collect::<Vec<_>>(), ["XY987ZW"]);
    }

    #[test]
    fn blobs_pieces_and_far_plates_name_no_vehicle_but_a_hit_is_always_reported() {
        let mut f = fuser();
        let noise = (0..10u64).map(|i| (40 * i, vec![read("12104", 0.3, 480.0, 60.0)]));
        let (_, out) = drive(&mut f, &noise.collect::<Vec<_>>());
        assert!(out.is_empty(), "agreeing on ten frames at 0.3 is no vehicle: {out:?}");
        let tiny: Vec<_> =
            (0..10u64).map(|i| (40 * i, vec![read("AB123CD", 0.9, 480.0, 24.0)])).collect();
        assert!(drive(&mut fuser(), &tiny).1.is_empty(), "a plate 24 px wide is not legible");
        let piece: Vec<_> =
            (0..10u64).map(|i| (40 * i, vec![read("4B1", 0.99, 480.0, 60.0)])).collect();
        assert!(drive(&mut fuser(), &piece).1.is_empty(), "three characters are a piece");
        let mut unformatted = read("173D441", 0.97, 200.0, 80.0);
        unformatted.plate.format = None;
        let once = [(0, vec![unformatted.clone()]), (40, vec![unformatted.clone()])];
        assert!(drive(&mut fuser(), &once).1.is_empty(), "a text no format knows needs more");
        let thrice: Vec<_> = (0..3u64).map(|i| (40 * i, vec![unformatted.clone()])).collect();
        assert_eq!(drive(&mut fuser(), &thrice).1.len(), 1);
        // The same tiny plate, listed: the alert raised on its frames keeps its vehicle.
        let mut f = fuser();
        let first = f.observe(ms(0), 0, vec![(read("AB123CD", 0.9, 480.0, 24.0), 0)]);
        f.keep_hit(first.vehicles[0]);
        f.observe(ms(40), 1, vec![(read("AB123CD", 0.9, 480.0, 24.0), 1)]);
        assert_eq!(f.flush().len(), 1, "a hit is never suppressed");
    }

    #[test]
    fn a_misread_in_a_continuing_box_joins_the_track() {
        let mut f = fuser();
        f.observe(ms(0), 0, vec![(read("AB123CD", 0.99, 100.0, 100.0), 0)]);
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
        let mut f = fuser();
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
        let mut out = f.observe(ms(0), 0, vec![(read("AAA111", 0.99, 0.0, 50.0), 0)]).due;
        out.extend(f.observe(ms(10), 1, vec![(read("BBB222", 0.9, 200.0, 50.0), 1)]).due);
        out.extend(f.observe(ms(20), 2, vec![(read("CCC333", 0.9, 400.0, 50.0), 2)]).due);
        assert_eq!(f.active_tracks(), 2);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].best.plate.text, "AAA111");
        assert_eq!(out[0].reason, EmitReason::TooManyTracks);
    }

    #[test]
    fn a_track_holds_one_payload_per_text_and_none_once_its_read_went_out() {
        let mut f = fuser();
        // One car stopped in view for 5 s, read as two texts; its best frame is the 4th.
        for i in 0..20u64 {
            let (text, confidence) = if i % 2 == 0 { ("AB123CD", 0.9) } else { ("AB123C0X", 0.5) };
            let confidence = if i == 4 { 0.99 } else { confidence };
            let due = f.observe(ms(100 * i), i, vec![(read(text, confidence, 100.0, 100.0), i)]);
            assert!(due.due.is_empty());
            assert_eq!(f.payloads_mut().count(), if i == 0 { 1 } else { 2 }, "frame {i}");
        }
        let mut out = Vec::new();
        for i in 20..50u64 {
            out.extend(
                f.observe(ms(100 * i), i, vec![(read("AB123CD", 0.9, 100.0, 100.0), i)]).due,
            );
            if !out.is_empty() {
                assert_eq!(f.active_tracks(), 1, "the car is still in view");
                assert_eq!(f.payloads_mut().count(), 0, "frame {i}: nothing kept once read out");
            }
        }
        assert_eq!((out.len(), out[0].reason, out[0].best_payload), (1, EmitReason::MaxDelay, 4));
        assert!(f.flush().is_empty(), "read out once");
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

    /// Every read of a run of frames, and what came due at the end (flushed).
    fn drive(
        f: &mut Fuser<u64>,
        frames: &[(u64, Vec<PlateRead>)],
    ) -> (Vec<Vec<u64>>, Vec<FusedRead<u64>>) {
        let mut vehicles = Vec::new();
        let mut out = Vec::new();
        for (i, (at, reads)) in frames.iter().enumerate() {
            let reads = reads.iter().map(|r| (r.clone(), i as u64)).collect();
            let observed = f.observe(ms(*at), i as u64, reads);
            vehicles.push(observed.vehicles);
            out.extend(observed.due);
        }
        out.extend(f.flush());
        (vehicles, out)
    }

    fn moving(config: FusionConfig) -> Fuser<u64> {
        Fuser::new(FusionConfig { camera: Some(Camera::Moving), ..config })
    }

    #[test]
    fn a_single_low_confidence_read_on_video_is_a_phantom_and_counted() {
        let mut f = fuser();
        let observed = f.observe(ms(0), 0, vec![(read("1RT1111", 0.55, 100.0, 60.0), 0)]);
        assert_eq!(observed.vehicles.len(), 1, "the read is still told its track");
        assert!(f.tick(ms(5000)).is_empty(), "a phantom is not a vehicle");
        assert!(f.flush().is_empty());
        assert_eq!((f.phantoms_suppressed(), f.active_tracks()), (1, 0));
        // The same read once at the end of a recording is no vehicle either.
        f.observe(ms(6000), 1, vec![(read("1RT1111", 0.55, 100.0, 60.0), 1)]);
        assert!(f.flush().is_empty());
        assert_eq!(f.phantoms_suppressed(), 2);
    }

    #[test]
    fn one_confident_read_or_two_agreeing_ones_are_a_vehicle() {
        let (_, out) = drive(&mut fuser(), &[(0, vec![read("AB123CD", 0.97, 100.0, 60.0)])]);
        assert_eq!(out.len(), 1, "a fast car read once, clearly");
        let two = [
            (0, vec![read("AB123CD", 0.6, 100.0, 60.0)]),
            (40, vec![read("AB123CD", 0.6, 104.0, 60.0)]),
        ];
        let mut f = fuser();
        let (_, out) = drive(&mut f, &two);
        assert_eq!((out.len(), f.phantoms_suppressed()), (1, 0), "read alike twice");
    }

    #[test]
    fn stills_and_confirm_frames_1_at_any_confidence_keep_every_read() {
        let single = [(0, vec![read("1RT1111", 0.3, 100.0, 60.0)])];
        let (_, out) = drive(&mut fuser().keeping_single_reads(), &single);
        assert_eq!(out.len(), 1, "a photograph is its own vehicle");
        let every =
            FusionConfig { confirm_frames: 1, min_confidence: 0.0, ..FusionConfig::default() };
        assert_eq!(drive(&mut Fuser::new(every), &single).1.len(), 1);
    }

    /// A far car ahead: a different noisy text on every frame in the same place over 1.8 s
    /// (past the max delay), its plate shaking a little, then the car close and read clearly,
    /// its box growing out of where the noise was.
    fn far_car_resolving() -> Vec<(u64, Vec<PlateRead>)> {
        let mut frames: Vec<(u64, Vec<PlateRead>)> = (0..18u64)
            .map(|i| {
                let text = format!("{}N{}", ["H1", "4RM", "NN1W", "7M"][i as usize % 4], i);
                let jitter = if i % 2 == 0 { 3.0 } else { -3.0 };
                (100 * i, vec![read(&text, 0.3 + 0.02 * (i % 5) as f32, 500.0 + jitter, 24.0)])
            })
            .collect();
        for i in 0..12u64 {
            let w = 28.0 + 10.0 * i as f32;
            frames.push((1800 + 100 * i, vec![read("AB123CD", 0.99, 500.0 - 2.0 * i as f32, w)]));
        }
        frames
    }

    #[test]
    fn a_plate_that_resolves_as_it_comes_closer_is_one_vehicle_read_clearly() {
        for mut f in [fuser(), moving(FusionConfig::default())] {
            let (vehicles, out) = drive(&mut f, &far_car_resolving());
            let texts: Vec<_> = out.iter().map(|r| r.best.plate.text.as_str()).collect();
            assert_eq!(texts, ["AB123CD"], "one vehicle, its clear text, not six phantoms");
            assert!(vehicles.iter().flatten().all(|v| *v == out[0].vehicle), "{vehicles:?}");
            assert_eq!(f.phantoms_suppressed(), 0);
        }
    }

    #[test]
    fn on_a_moving_camera_a_plate_whose_box_jumped_after_a_gap_is_the_same_vehicle() {
        // Read twice on the left, hidden for 3 s, back on the far right for ten frames.
        let mut frames = vec![
            (0, vec![read("AB123CD", 0.99, 100.0, 80.0)]),
            (40, vec![read("AB123CD", 0.99, 110.0, 80.0)]),
        ];
        for i in 0..10u64 {
            frames.push((3000 + 40 * i, vec![read("AB123C0", 0.98, 900.0 - 5.0 * i as f32, 90.0)]));
        }
        let mut f = moving(FusionConfig::default());
        let (vehicles, out) = drive(&mut f, &frames);
        assert_eq!(out.len(), 1, "one read: {out:?}");
        assert!(vehicles.iter().flatten().all(|v| *v == out[0].vehicle));
        let (_, fixed) = drive(&mut fuser(), &frames);
        assert_eq!(fixed.len(), 1, "a fixed camera reports the vehicle once too");
        let mut later = frames.clone();
        later.iter_mut().skip(2).for_each(|(at, _)| *at += 10_000);
        let (_, fixed) = drive(&mut fuser(), &later);
        assert_eq!(fixed.len(), 2, "past the rejoin window a fixed camera sees two passages");
    }

    #[test]
    fn on_a_moving_camera_two_cars_that_read_alike_on_one_frame_are_two() {
        let frames: Vec<_> = (0..5u64)
            .map(|i| {
                let x = 10.0 * i as f32;
                (
                    40 * i,
                    vec![
                        read("AB123CD", 0.99, 100.0 + x, 80.0),
                        read("AB123CE", 0.99, 700.0 - x, 80.0),
                    ],
                )
            })
            .collect();
        let (vehicles, out) = drive(&mut moving(FusionConfig::default()), &frames);
        assert_eq!(out.len(), 2);
        assert!(vehicles.iter().all(|v| v[0] != v[1]));
    }

    #[test]
    fn on_a_moving_camera_another_car_in_the_same_place_later_is_another_vehicle() {
        // The car ahead changes: the box is where the last one was, the text 3 edits away.
        let mut frames: Vec<_> =
            (0..5u64).map(|i| (40 * i, vec![read("AB123CD", 0.99, 400.0, 80.0)])).collect();
        frames.extend((0..5u64).map(|i| (2000 + 40 * i, vec![read("AB999CD", 0.99, 400.0, 80.0)])));
        let (_, out) = drive(&mut moving(FusionConfig::default()), &frames);
        let texts: Vec<_> = out.iter().map(|r| r.best.plate.text.as_str()).collect();
        assert_eq!(texts, ["AB123CD", "AB999CD"]);
    }

    #[test]
    fn a_parked_car_passed_twice_keeps_its_id_and_is_read_once() {
        let pass = |from: u64| -> Vec<(u64, Vec<PlateRead>)> {
            (0..6u64)
                .map(|i| {
                    (from + 40 * i, vec![read("AB123CD", 0.99, 200.0 + 60.0 * i as f32, 80.0)])
                })
                .collect()
        };
        let config = FusionConfig { revisit_s: 300, ..FusionConfig::default() };
        let mut f = moving(config.clone());
        let mut frames = pass(0);
        frames.extend(pass(120_000));
        let (vehicles, out) = drive(&mut f, &frames);
        assert_eq!(out.len(), 1, "the second pass is linked, not new");
        assert!(vehicles.iter().flatten().all(|v| *v == out[0].vehicle));
        let mut later = pass(0);
        later.extend(pass(400_000));
        let (vehicles, out) = drive(&mut moving(config), &later);
        assert_eq!(out.len(), 2, "past revisit_s it is a new vehicle");
        assert_ne!(vehicles[0], vehicles[6]);
        let (_, fixed) = drive(&mut fuser(), &frames);
        assert_eq!(fixed.len(), 2, "a fixed camera never links passages");
    }

    #[test]
    fn half_a_plate_at_the_frames_edge_is_the_plate_not_another_vehicle() {
        // Entering at the right edge: the first three characters, read clearly, then the plate.
        let mut frames = vec![(0, vec![read("LM6", 1.0, 866.0, 93.0)])];
        frames.extend(
            (1..8u64)
                .map(|i| (100 * i, vec![read("LM633BD", 1.0, 860.0 - 110.0 * i as f32, 178.0)])),
        );
        frames.push((800, vec![read("633BD", 0.81, 0.0, 96.0)]));
        let (_, out) = drive(&mut fuser(), &frames);
        let texts: Vec<_> = out.iter().map(|r| r.best.plate.text.as_str()).collect();
        assert_eq!(texts, ["LM633BD"]);
    }

    #[test]
    fn on_a_moving_camera_two_brief_sightings_of_one_plate_make_a_vehicle() {
        let frames = [
            (0, vec![read("AB123CD", 0.9, 100.0, 80.0)]),
            (2500, vec![read("AB123CD", 0.9, 700.0, 80.0)]),
        ];
        let mut f = moving(FusionConfig::default());
        let (vehicles, out) = drive(&mut f, &frames);
        assert_eq!((out.len(), f.phantoms_suppressed()), (1, 0), "{out:?}");
        assert_eq!(vehicles[0], vehicles[1]);
        let mut fixed = fuser();
        let (_, out) = drive(&mut fixed, &frames);
        assert_eq!(
            (out.len(), fixed.phantoms_suppressed()),
            (0, 2),
            "two passages, each a phantom"
        );
    }
}
