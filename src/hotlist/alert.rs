//! The alert policy: when a hotlist match becomes an alert the control room acts on, and how sure
//! it is.
//!
//! OCR is fallible, so a match is graded, not trusted: an **exact** match on enough evidence
//! (frames that read the listed plate, each confident, on a confident detection) is a
//! `confirmed` hit; anything less — a fuzzy match (a confusable or a missing/extra character),
//! or an exact match on too little evidence — is a `possible` hit that needs the officer's eye.
//!
//! Speed goes where certainty is: the hotlist is checked on every frame's reads, and a vehicle
//! whose frames reach `confirmed` raises its alert at once, without waiting for fusion to end
//! the vehicle ([`AlertDesk::observe`]). A possible hit waits for fusion, whose vote over all
//! the vehicle's frames is the better evidence for a person to judge. The vehicle's fused read
//! follows either way, linked to the alert by its vehicle id; no vehicle raises two alerts.
//!
//! Design: pure, like fusion — the caller passes every frame's matched reads and the fused
//! reads, nothing is read from a clock or sent. Memory is bounded: the desk follows at most
//! [`VEHICLES_FOLLOWED`] vehicles; past it the one matched longest ago is forgotten (the worst
//! case is a second alert for a vehicle that has been in view longer than 31 others).

use super::matcher::{HotlistMatch, MatchKind};
use crate::config_issue::ConfigIssue;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// `[hotlist.alert]`: the evidence a match needs before it is an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertPolicy {
    /// Raise a confirmed hit as soon as the frames of a vehicle reach it, before fusion ends.
    pub early: bool,
    /// Frames that must read the listed plate exactly before a hit is confirmed.
    pub min_frames: u32,
    /// Least OCR confidence (mean over the characters) of each of those frames' reads.
    pub min_confidence: f32,
    /// Least detection score of each of those frames' plates.
    pub min_detection_score: f32,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        Self { early: true, min_frames: 2, min_confidence: 0.8, min_detection_score: 0.5 }
    }
}

impl AlertPolicy {
    /// What is wrong with `[hotlist.alert]`, keys relative to it.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.min_frames == 0 {
            issues.push(ConfigIssue::new("min_frames", "is 0", "give at least 1 frame"));
        }
        for (key, value) in [
            ("min_confidence", self.min_confidence),
            ("min_detection_score", self.min_detection_score),
        ] {
            if !(0.0..=1.0).contains(&value) {
                issues.push(ConfigIssue::new(
                    key,
                    format!("{value} is outside 0..1"),
                    "give a score between 0 and 1",
                ));
            }
        }
        issues
    }

    /// Whether one frame's read counts towards a confirmed hit.
    fn frame_counts(&self, read: &FrameEvidence) -> bool {
        read.confidence >= self.min_confidence && read.detection_score >= self.min_detection_score
    }
}

/// How sure an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    /// An exact match on the evidence the policy asks for.
    Confirmed,
    /// A fuzzy match, or an exact one on too little evidence: an officer must compare the
    /// images with the listing before acting.
    Possible,
}

/// What one frame says about the match, as the policy weighs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameEvidence {
    pub confidence: f32,
    pub detection_score: f32,
}

/// What the fused read of a vehicle says, as the policy weighs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedEvidence {
    /// Frames whose read equals the reported text.
    pub agreeing_frames: u32,
    /// The reported text's best frame.
    pub best: FrameEvidence,
}

/// The level of a fused read's match. A fused read has weighed every frame, so its agreeing
/// frames stand for the policy's `min_frames` (frames are not checked one by one here: the best
/// frame's scores stand for them); a single photograph (`still`) is all there is of its vehicle,
/// so one frame is enough.
pub fn level_of(
    policy: &AlertPolicy,
    found: &HotlistMatch,
    fused: FusedEvidence,
    still: bool,
) -> AlertLevel {
    let frames_needed = if still { 1 } else { policy.min_frames };
    if found.match_kind == MatchKind::Exact
        && fused.agreeing_frames >= frames_needed
        && policy.frame_counts(&fused.best)
    {
        AlertLevel::Confirmed
    } else {
        AlertLevel::Possible
    }
}

/// Vehicles the desk follows at once; see the module's note on memory.
pub const VEHICLES_FOLLOWED: usize = 32;

#[derive(Debug)]
struct Followed {
    vehicle: u64,
    /// The listed plate the frames matched exactly, and how many counted frames did.
    listed: Option<String>,
    exact_frames: u32,
    /// The id of the alert sent for it.
    alert: Option<String>,
    /// Its fused read is out (a vehicle still in view past fusion's max delay is emitted and
    /// then followed on): it raises no alert any more.
    settled: bool,
}

/// What the early alerts of the vehicles in view have come to.
#[derive(Debug)]
pub struct AlertDesk {
    policy: AlertPolicy,
    followed: VecDeque<Followed>,
}

impl AlertDesk {
    pub fn new(policy: AlertPolicy) -> Self {
        Self { policy, followed: VecDeque::with_capacity(VEHICLES_FOLLOWED) }
    }

    pub fn policy(&self) -> &AlertPolicy {
        &self.policy
    }

    fn follow(&mut self, vehicle: u64) -> &mut Followed {
        let at = match self.followed.iter().position(|f| f.vehicle == vehicle) {
            Some(at) => at,
            None => {
                if self.followed.len() == VEHICLES_FOLLOWED {
                    self.followed.pop_front();
                }
                self.followed.push_back(Followed {
                    vehicle,
                    listed: None,
                    exact_frames: 0,
                    alert: None,
                    settled: false,
                });
                self.followed.len() - 1
            }
        };
        &mut self.followed[at]
    }

    /// One frame's read of `vehicle` matched `found`. When the vehicle is now a confirmed hit
    /// and has raised no alert yet, the frames that confirm it: the caller sends the alert now
    /// and then calls [`AlertDesk::sent`].
    pub fn observe(
        &mut self,
        vehicle: u64,
        found: &HotlistMatch,
        frame: FrameEvidence,
    ) -> Option<u32> {
        if !self.policy.early || found.match_kind != MatchKind::Exact {
            return None;
        }
        let counts = self.policy.frame_counts(&frame);
        let min_frames = self.policy.min_frames;
        let followed = self.follow(vehicle);
        if followed.alert.is_some() || followed.settled || !counts {
            return None;
        }
        // Frames count only while they agree on one listing: two plates of the list read
        // alternately on one vehicle are doubt, not evidence.
        if followed.listed.as_deref() != found.plate.as_deref() {
            followed.listed = found.plate.clone();
            followed.exact_frames = 0;
        }
        followed.exact_frames += 1;
        (followed.exact_frames >= min_frames).then_some(followed.exact_frames)
    }

    /// The alert `alert_id` was sent for `vehicle`.
    pub fn sent(&mut self, vehicle: u64, alert_id: String) {
        self.follow(vehicle).alert = Some(alert_id);
    }

    /// The vehicle's fused read is out: the id of the alert it raised earlier, if any (so the
    /// read links to it and raises no second one). The vehicle alerts no more.
    pub fn settle(&mut self, vehicle: u64) -> Option<String> {
        let followed = self.follow(vehicle);
        followed.settled = true;
        followed.alert.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hotlist::Action;

    fn found(plate: &str, kind: MatchKind) -> HotlistMatch {
        HotlistMatch {
            list: "l".into(),
            category: "stolen".into(),
            action: Action::Alert,
            plate: Some(plate.into()),
            match_kind: kind,
            distance: u32::from(kind == MatchKind::Fuzzy),
            note: None,
            list_version: "1".into(),
        }
    }

    const SURE: FrameEvidence = FrameEvidence { confidence: 0.95, detection_score: 0.9 };
    const UNSURE: FrameEvidence = FrameEvidence { confidence: 0.6, detection_score: 0.9 };

    #[test]
    fn an_exact_match_alerts_on_the_frame_that_completes_the_evidence_and_only_once() {
        let mut desk = AlertDesk::new(AlertPolicy::default());
        let hit = found("1ABC234", MatchKind::Exact);
        assert_eq!(None, desk.observe(7, &hit, SURE), "one frame is not enough by default");
        assert_eq!(None, desk.observe(7, &hit, UNSURE), "an unsure frame does not count");
        assert_eq!(desk.observe(7, &hit, SURE), Some(2), "the second sure frame confirms");
        desk.sent(7, "alert-1".into());
        assert_eq!(None, desk.observe(7, &hit, SURE), "no second alert for the same vehicle");
        assert_eq!(desk.settle(7).as_deref(), Some("alert-1"));
        let mut quiet = AlertDesk::new(AlertPolicy::default());
        assert_eq!(quiet.settle(8), None, "emitted by fusion before any alert");
        for _ in 0..3 {
            assert_eq!(
                None,
                quiet.observe(8, &hit, SURE),
                "a vehicle still in view after its read"
            );
        }
    }

    #[test]
    fn fuzzy_matches_never_alert_early_and_vehicles_are_kept_apart() {
        let mut desk = AlertDesk::new(AlertPolicy { min_frames: 1, ..AlertPolicy::default() });
        assert_eq!(None, desk.observe(1, &found("1ABC234", MatchKind::Fuzzy), SURE));
        assert_eq!(None, desk.observe(1, &found("1ABC234", MatchKind::Fuzzy), SURE));
        assert_eq!(desk.observe(2, &found("1ABC234", MatchKind::Exact), SURE), Some(1));
        assert_eq!(desk.settle(1), None);
    }

    #[test]
    fn frames_count_only_while_they_agree_on_one_listing() {
        let mut desk = AlertDesk::new(AlertPolicy { min_frames: 2, ..AlertPolicy::default() });
        assert_eq!(None, desk.observe(1, &found("1ABC234", MatchKind::Exact), SURE));
        assert_eq!(None, desk.observe(1, &found("1ABC284", MatchKind::Exact), SURE));
        assert_eq!(desk.observe(1, &found("1ABC284", MatchKind::Exact), SURE), Some(2));
    }

    #[test]
    fn with_early_alerts_off_nothing_alerts_before_fusion() {
        let mut desk = AlertDesk::new(AlertPolicy { early: false, ..AlertPolicy::default() });
        for _ in 0..5 {
            assert_eq!(None, desk.observe(1, &found("1ABC234", MatchKind::Exact), SURE));
        }
    }

    #[test]
    fn the_desk_follows_a_bounded_number_of_vehicles() {
        let mut desk = AlertDesk::new(AlertPolicy::default());
        for vehicle in 0..(VEHICLES_FOLLOWED as u64 * 3) {
            desk.observe(vehicle, &found("1ABC234", MatchKind::Exact), SURE);
        }
        assert_eq!(desk.followed.len(), VEHICLES_FOLLOWED);
        assert!(desk.followed.iter().all(|f| f.vehicle >= VEHICLES_FOLLOWED as u64 * 2));
    }

    #[test]
    fn a_fused_read_is_confirmed_only_when_exact_on_enough_sure_frames() {
        let policy = AlertPolicy::default();
        let exact = found("1ABC234", MatchKind::Exact);
        let fused = |agreeing_frames, best| FusedEvidence { agreeing_frames, best };
        assert_eq!(level_of(&policy, &exact, fused(5, SURE), false), AlertLevel::Confirmed);
        assert_eq!(level_of(&policy, &exact, fused(1, SURE), false), AlertLevel::Possible);
        assert_eq!(level_of(&policy, &exact, fused(1, SURE), true), AlertLevel::Confirmed);
        assert_eq!(level_of(&policy, &exact, fused(5, UNSURE), false), AlertLevel::Possible);
        let fuzzy = found("1ABC234", MatchKind::Fuzzy);
        assert_eq!(level_of(&policy, &fuzzy, fused(9, SURE), true), AlertLevel::Possible);
    }

    #[test]
    fn policy_validation_names_the_key() {
        let bad = AlertPolicy { min_frames: 0, min_confidence: 1.5, ..AlertPolicy::default() };
        let keys: Vec<String> = bad.issues().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["min_frames", "min_confidence"]);
        assert!(AlertPolicy::default().issues().is_empty());
    }
}
