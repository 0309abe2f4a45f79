//! A recorded video file, decoded by FFmpeg ([`super::decode`]).

use super::decode::{DecodeError, Decoder};
use super::{FrameError, FrameSource, OpenError};
use crate::frame::Frame;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// How many undecodable frames in a row end the stream: a damaged stretch is skipped, a file
/// that is garbage to the end is not read forever.
const MAX_CONSECUTIVE_FAILURES: u32 = 25;

pub struct VideoFile {
    description: String,
    decoder: Decoder,
    next_seq: u64,
    consecutive_failures: u32,
    frame_interval: Option<Duration>,
    last_media_time: Option<Duration>,
    opened: Instant,
}

impl VideoFile {
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let description = path.display().to_string();
        let decoder = Decoder::open(&description, ffmpeg_next::Dictionary::new())
            .map_err(|detail| OpenError::Unplayable { path: path.to_path_buf(), detail })?;
        let frame_interval = decoder.frame_rate().map(|fps| Duration::from_secs_f64(1.0 / fps));
        Ok(Self {
            description,
            decoder,
            next_seq: 0,
            consecutive_failures: 0,
            frame_interval,
            last_media_time: None,
            opened: Instant::now(),
        })
    }

    /// The frame's position in the recording. A frame without a timestamp, or one that does
    /// not advance (some files repeat the last), is placed one frame interval after the
    /// previous, so media time always increases.
    fn media_time(&mut self, reported: Option<Duration>) -> Option<Duration> {
        let time = match (reported, self.last_media_time) {
            (Some(t), Some(last)) if t > last => Some(t),
            (_, Some(last)) => self.frame_interval.map(|i| last + i),
            (t, None) => t,
        };
        self.last_media_time = time.or(self.last_media_time);
        time
    }

    fn failure(&mut self, seq: u64, reason: String) -> Option<Result<Frame, FrameError>> {
        self.consecutive_failures += 1;
        if self.consecutive_failures > MAX_CONSECUTIVE_FAILURES {
            return None;
        }
        Some(Err(FrameError { origin: self.description.clone(), seq, reason }))
    }
}

impl FrameSource for VideoFile {
    fn describe(&self) -> &str {
        &self.description
    }

    fn len_hint(&self) -> Option<u64> {
        self.decoder.frame_count()
    }

    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let decoded = match self.decoder.next() {
            Ok(Some(decoded)) => decoded,
            Ok(None) => return None,
            Err(e @ DecodeError::Frame(_)) => return self.failure(seq, e.to_string()),
            // A container that cannot be read on is reported once; a second failure ends it.
            Err(e @ DecodeError::Read(_)) => {
                self.consecutive_failures = MAX_CONSECUTIVE_FAILURES;
                return Some(Err(FrameError {
                    origin: self.description.clone(),
                    seq,
                    reason: e.to_string(),
                }));
            }
        };
        self.consecutive_failures = 0;
        let media_time = self.media_time(decoded.media_time);
        let monotonic = media_time.unwrap_or_else(|| self.opened.elapsed());
        Some(Ok(Frame {
            seq,
            media_time,
            captured_at: SystemTime::now(),
            monotonic,
            origin: self.description.clone(),
            image: decoded.image,
        }))
    }
}
