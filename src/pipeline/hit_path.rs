//! The hit path: every frame's reads are checked against the hotlist as they come, so a vehicle
//! that `hotlist::alert` confirms raises its alert at once, ahead of everything queued, instead
//! of waiting for fusion to end the vehicle. The vehicle's fused read follows through
//! [`HitPath::link`], which names the alert it raised so no second one goes out.

use super::assemble::{build_outgoing, ReadStages};
use super::context::ContextRing;
use super::evidence::Evidence;
use super::PipelineStats;
use crate::fuse::{EmitReason, FusedRead};
use crate::hotlist::alert::{level_of, FrameEvidence, FusedEvidence};
use crate::hotlist::{AlertDesk, AlertLevel, HotlistMatch, Verdict};
use crate::outgoing::{ReadSink, SinkFailed};
use crate::plate::PlateRead;
use crate::read_record::{new_read_id, Link, Report};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

/// A read of a frame that matched an alert entry, kept until fusion says whose vehicle it is.
pub struct FrameMatch {
    /// Its place among the frame's reads.
    index: usize,
    read: PlateRead,
    evidence: Evidence,
    found: HotlistMatch,
}

/// The early alerts of one pipeline run.
pub struct HitPath {
    desk: AlertDesk,
    /// Makes vehicle ids unique across runs (fusion counts from 1 on every start).
    run: String,
    /// Each frame is a scene of its own (a folder of photographs): one frame is all the
    /// evidence there is of its vehicle.
    stills: bool,
}

impl HitPath {
    pub fn new(stages: &ReadStages, stills: bool) -> Self {
        Self { desk: AlertDesk::new(stages.alerts.clone()), run: new_read_id(), stills }
    }

    pub fn vehicle_id(&self, vehicle: u64) -> String {
        format!("{}-{vehicle}", self.run)
    }

    /// The reads of a frame that match an alert entry (none while early alerts are off).
    pub fn matches(
        &self,
        reads: &[(PlateRead, Evidence)],
        stages: &ReadStages,
        now: SystemTime,
    ) -> Vec<FrameMatch> {
        if !self.desk.policy().early {
            return Vec::new();
        }
        reads
            .iter()
            .enumerate()
            .filter_map(|(index, (read, evidence))| {
                match stages.hotlist.check(&read.plate.text, now) {
                    Verdict::Alert(found) => Some(FrameMatch {
                        index,
                        read: read.clone(),
                        evidence: evidence.clone(),
                        found,
                    }),
                    Verdict::NoMatch | Verdict::Allow(_) => None,
                }
            })
            .collect()
    }

    /// Fusion gave the frame's reads to `vehicles`: sends the alert of every vehicle the
    /// frame confirmed, and names those vehicles.
    pub fn raise(
        &mut self,
        matches: Vec<FrameMatch>,
        vehicles: &[u64],
        context: &ContextRing,
        stages: &ReadStages,
        sink: &mut dyn ReadSink,
        stats: &PipelineStats,
    ) -> Result<Vec<u64>, SinkFailed> {
        let mut alerted = Vec::new();
        for FrameMatch { index, read, evidence, found } in matches {
            let Some(&vehicle) = vehicles.get(index) else { continue };
            let at = evidence.monotonic;
            let frame = FrameEvidence {
                confidence: read.plate.confidence,
                detection_score: read.detection_score,
            };
            let Some(agreeing_frames) = self.desk.observe(vehicle, &found, frame) else {
                continue;
            };
            let so_far = FusedRead {
                vehicle,
                best_frame: evidence.seq,
                best: read,
                best_payload: evidence,
                agreeing_frames,
                frames: agreeing_frames,
                first_seen: at,
                last_seen: at,
                direction: None,
                reason: EmitReason::Alert,
            };
            let link = Link {
                report: Report::Alert,
                vehicle_id: self.vehicle_id(vehicle),
                alert_id: None,
                alert_level: Some(AlertLevel::Confirmed),
            };
            let verdict = Verdict::Alert(found);
            let context = context.around(at);
            let outgoing = build_outgoing(&so_far, &verdict, link, &context, stages, stats);
            self.desk.sent(vehicle, outgoing.record.read_id.clone());
            stats.alerts.fetch_add(1, Ordering::Relaxed);
            stats.hits.fetch_add(1, Ordering::Relaxed);
            tracing::info!(plate = %so_far.best.plate.text, vehicle = %outgoing.record.vehicle_id, frames = agreeing_frames, "hit alert raised before fusion");
            sink.deliver(outgoing)?;
            alerted.push(vehicle);
        }
        Ok(alerted)
    }

    /// How a vehicle's fused read links to what was sent before it, and its hit's grade.
    pub fn link(&mut self, fused: &FusedRead<Evidence>, verdict: &Verdict) -> Link {
        let alert_level = match verdict {
            Verdict::Alert(found) => {
                let best = FrameEvidence {
                    confidence: fused.best.plate.confidence,
                    detection_score: fused.best.detection_score,
                };
                let evidence = FusedEvidence { agreeing_frames: fused.agreeing_frames, best };
                Some(level_of(self.desk.policy(), found, evidence, self.stills))
            }
            Verdict::NoMatch | Verdict::Allow(_) => None,
        };
        Link {
            report: Report::Vehicle,
            vehicle_id: self.vehicle_id(fused.vehicle),
            alert_id: self.desk.settle(fused.vehicle),
            alert_level,
        }
    }
}
