//! `eval` on video, what a person reads: the totals over the clips (the JSON of
//! `benches/real_video.sh`), and one HTML page with every miss, duplicate and phantom shown
//! with its frame and plate, so an integrator sees on their own recording *why*.

use super::video::ClipOutcome;
use base64::Engine;
use serde::Serialize;
use std::fmt::Write as _;

/// One clip's line of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ClipLine {
    pub clip: String,
    pub vehicles: usize,
    pub read_once: usize,
    pub missed: Vec<String>,
    pub duplicates: Vec<String>,
    /// The texts of the reports that name no labelled vehicle.
    pub phantoms: Vec<String>,
    pub frames: u64,
    pub error: Option<String>,
}

/// The totals over the clips.
#[derive(Debug, Clone, Serialize)]
pub struct VideoSummary {
    pub clips: usize,
    pub vehicles: usize,
    pub read_once: usize,
    pub missed: usize,
    pub duplicates: usize,
    pub phantoms: usize,
    /// Phantoms that are a missed vehicle misread (counted in `phantoms` and `missed` too).
    pub misreads: usize,
    pub frames: u64,
    pub seconds: f64,
    /// Frames per second over all clips, decoding, gating, recognition and fusion included.
    pub fps: f64,
    pub per_clip: Vec<ClipLine>,
}

impl VideoSummary {
    /// The totals in one sentence, as the command prints them and the report heads its page.
    pub fn totals(&self) -> String {
        format!(
            "{} clips, {} vehicles: {} read once, {} missed, {} read more than once; {} phantom \
             reports ({} of them a missed vehicle misread); {:.1} frames/s",
            self.clips,
            self.vehicles,
            self.read_once,
            self.missed,
            self.duplicates,
            self.phantoms,
            self.misreads,
            self.fps
        )
    }
}

pub fn summarise(outcomes: &[ClipOutcome]) -> VideoSummary {
    let per_clip: Vec<ClipLine> = outcomes
        .iter()
        .map(|o| ClipLine {
            clip: clip_name(o),
            vehicles: o.score.vehicles,
            read_once: o.score.read_once.len(),
            missed: o.score.missed.clone(),
            duplicates: o.score.duplicates.clone(),
            phantoms: o.score.phantoms.iter().map(|&r| o.reports[r].text.clone()).collect(),
            frames: o.frames,
            error: o.error.clone(),
        })
        .collect();
    let sum = |f: fn(&ClipOutcome) -> usize| outcomes.iter().map(f).sum::<usize>();
    let frames = outcomes.iter().map(|o| o.frames).sum::<u64>();
    let seconds = outcomes.iter().map(|o| o.seconds).sum::<f64>();
    VideoSummary {
        clips: outcomes.len(),
        vehicles: sum(|o| o.score.vehicles),
        read_once: sum(|o| o.score.read_once.len()),
        missed: sum(|o| o.score.missed.len()),
        duplicates: sum(|o| o.score.duplicates.len()),
        phantoms: sum(|o| o.score.phantoms.len()),
        misreads: sum(|o| o.score.misreads.len()),
        frames,
        seconds,
        fps: if seconds > 0.0 { frames as f64 / seconds } else { 0.0 },
        per_clip,
    }
}

fn clip_name(outcome: &ClipOutcome) -> String {
    outcome.truth.clip.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn img(jpeg: Option<&[u8]>, height: u32) -> String {
    jpeg.map_or_else(
        || "<em>no image</em>".into(),
        |j| {
            let data = base64::engine::general_purpose::STANDARD.encode(j);
            format!("<img height=\"{height}\" src=\"data:image/jpeg;base64,{data}\">")
        },
    )
}

/// One self-contained page: the totals, then per clip every vehicle that was not read exactly
/// once and every phantom, each with its frame and plate.
pub fn render_html(outcomes: &[ClipOutcome], summary: &VideoSummary) -> String {
    let mut html = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>anpr-edge eval: video</title>\
         <style>body{font-family:sans-serif}td,th{padding:4px 8px;border-bottom:1px solid #ccc;\
         vertical-align:top}table{border-collapse:collapse}</style><h1>Video evaluation</h1>",
    );
    let _ = write!(html, "<p>{}.</p>", summary.totals());
    for outcome in outcomes {
        let _ = write!(html, "<h2>{}</h2>", escape(&clip_name(outcome)));
        if let Some(error) = &outcome.error {
            let _ = write!(html, "<p><b>not run:</b> {}</p>", escape(error));
        }
        let score = &outcome.score;
        html.push_str("<table><tr><th>what</th><th>plate</th><th>read</th><th>frame</th><th>plate crop</th></tr>");
        for (v, vehicle) in outcome.truth.vehicles.iter().enumerate() {
            let missed = score.missed.contains(vehicle);
            if !missed && !score.duplicates.contains(vehicle) {
                continue;
            }
            let what = if missed { "missed" } else { "read more than once" };
            let sighting = outcome.sightings.get(v).and_then(Option::as_ref);
            let read = sighting.map_or_else(
                || "never read on any frame".into(),
                |s| {
                    format!(
                        "best frame read {} at {:.2} on a plate {:.0} px wide",
                        escape(&s.text),
                        s.confidence,
                        s.width
                    )
                },
            );
            let _ = write!(
                html,
                "<tr><td>{what}</td><td>{}</td><td>{read}</td><td>{}</td><td>{}</td></tr>",
                escape(vehicle),
                img(sighting.map(|s| s.overview.as_slice()), 160),
                img(sighting.map(|s| s.crop.as_slice()), 48)
            );
        }
        for &r in score.phantoms.iter().chain(&score.repeats) {
            let report = &outcome.reports[r];
            let what = if score.repeats.contains(&r) {
                "repeated report"
            } else if score.misreads.contains(&r) {
                "phantom (a missed vehicle misread)"
            } else {
                "phantom"
            };
            let _ = write!(
                html,
                "<tr><td>{what}</td><td>–</td><td>{} at {:.2}, {} of {} frames agreeing (frame {})</td><td>{}</td><td>{}</td></tr>",
                escape(&report.text),
                report.confidence,
                report.agreeing_frames,
                report.frames,
                report.frame,
                img(report.overview.as_deref(), 160),
                img(report.crop.as_deref(), 48)
            );
        }
        html.push_str("</table>");
    }
    html
}
