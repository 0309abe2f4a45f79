//! Replay: recorded material through the recognition stages, one event per read.
//!
//! The live daemon reuses the same per-frame path; replay adds nothing but a loop over a
//! finite source and a summary.

use crate::frame::Frame;
use crate::plate::PlateRead;
use crate::recognizer::{Recognition, Recognizer};
use crate::source::{FrameError, FrameSource};
use serde::Serialize;
use std::time::{Duration, Instant};

/// A plate read together with the frame it was read on.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRead {
    pub origin: String,
    pub frame: u64,
    /// Position in the recording, for videos.
    pub media_time_ms: Option<u64>,
    /// UTC time the frame was captured (RFC 3339, milliseconds).
    pub captured_at: String,
    #[serde(flatten)]
    pub read: PlateRead,
}

impl FrameRead {
    pub fn new(frame: &Frame, read: PlateRead) -> Self {
        Self {
            origin: frame.origin.clone(),
            frame: frame.seq,
            media_time_ms: frame.media_time.map(|t| t.as_millis() as u64),
            captured_at: humantime::format_rfc3339_millis(frame.captured_at).to_string(),
            read,
        }
    }
}

/// What replay tells its caller as it goes.
#[derive(Debug)]
pub enum ReplayEvent<'a> {
    /// A frame was recognised: its reads (possibly none) and how long it took.
    Frame { frame: &'a Frame, recognition: &'a Recognition, took: Duration },
    /// A frame could not be decoded; the replay goes on with the next one.
    FrameFailed(&'a FrameError),
    /// A frame was decoded but recognition failed on it; the replay goes on.
    RecognitionFailed { frame: &'a Frame, error: String },
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplaySummary {
    pub source: String,
    pub frames: u64,
    pub failed_frames: u64,
    pub reads: u64,
    /// Plates detected outside the regions of interest, when some are given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plates_outside_roi: Option<u64>,
    pub seconds: f64,
    pub frames_per_second: f64,
}

/// Runs every frame of `source` through `recognizer`, reporting each to `on_event`.
/// Time per frame runs from asking the source for it (decoding included) to its reads.
pub fn replay(
    source: &mut dyn FrameSource,
    recognizer: &mut Recognizer,
    mut on_event: impl FnMut(ReplayEvent<'_>),
) -> ReplaySummary {
    let started = Instant::now();
    let mut summary = ReplaySummary {
        source: source.describe().to_string(),
        plates_outside_roi: recognizer.has_roi().then_some(0),
        ..ReplaySummary::default()
    };
    loop {
        let frame_started = Instant::now();
        let Some(next) = source.next_frame() else { break };
        let frame = match next {
            Ok(frame) => frame,
            Err(error) => {
                summary.failed_frames += 1;
                on_event(ReplayEvent::FrameFailed(&error));
                continue;
            }
        };
        summary.frames += 1;
        match recognizer.recognize(&frame.image) {
            Ok(recognition) => {
                summary.reads += recognition.reads.len() as u64;
                if let Some(outside) = &mut summary.plates_outside_roi {
                    *outside += recognition.outside_roi as u64;
                }
                on_event(ReplayEvent::Frame {
                    frame: &frame,
                    recognition: &recognition,
                    took: frame_started.elapsed(),
                });
            }
            Err(error) => {
                summary.failed_frames += 1;
                on_event(ReplayEvent::RecognitionFailed {
                    frame: &frame,
                    error: error.to_string(),
                });
            }
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.frames_per_second =
        if summary.seconds > 0.0 { summary.frames as f64 / summary.seconds } else { 0.0 };
    summary
}
