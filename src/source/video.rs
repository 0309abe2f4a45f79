//! A recorded video file, decoded by OpenCV (FFmpeg backend on Debian).

use super::{FrameError, FrameSource, OpenError};
use crate::frame::Frame;
use crate::imaging::rgb_from_bgr_mat;
use opencv::core::Mat;
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// How many undecodable frames in a row end the stream: a damaged stretch is skipped, a file
/// that is garbage to the end is not read forever.
const MAX_CONSECUTIVE_FAILURES: u32 = 25;

pub struct VideoFile {
    description: String,
    capture: VideoCapture,
    buffer: Mat,
    frame_count: Option<u64>,
    next_seq: u64,
    consecutive_failures: u32,
    frame_interval: Option<Duration>,
    last_media_time: Option<Duration>,
    opened: Instant,
}

impl VideoFile {
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let description = path.display().to_string();
        let opencv_error = |source| OpenError::OpenCv { path: path.to_path_buf(), source };
        let capture =
            VideoCapture::from_file(&description, videoio::CAP_FFMPEG).map_err(opencv_error)?;
        if !capture.is_opened().map_err(opencv_error)? {
            return Err(OpenError::Unplayable { path: path.to_path_buf() });
        }
        let frame_count = capture
            .get(videoio::CAP_PROP_FRAME_COUNT)
            .ok()
            .filter(|n| n.is_finite() && *n >= 1.0)
            .map(|n| n as u64);
        let frame_interval = capture
            .get(videoio::CAP_PROP_FPS)
            .ok()
            .filter(|fps| fps.is_finite() && *fps > 0.0)
            .map(|fps| Duration::from_secs_f64(1.0 / fps));
        Ok(Self {
            description,
            capture,
            buffer: Mat::default(),
            frame_count,
            next_seq: 0,
            consecutive_failures: 0,
            frame_interval,
            last_media_time: None,
            opened: Instant::now(),
        })
    }

    /// The frame's position in the recording. FFmpeg reports 0 for the last frames of some
    /// files; a position that does not advance is replaced by the previous one plus one frame
    /// interval, so media time always increases.
    fn media_time(&mut self) -> Option<Duration> {
        let reported = self
            .capture
            .get(videoio::CAP_PROP_POS_MSEC)
            .ok()
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0));
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
        self.frame_count
    }

    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        let seq = self.next_seq;
        self.next_seq += 1;
        match self.capture.read(&mut self.buffer) {
            Ok(true) if !self.buffer.empty() => {}
            // OpenCV reports the end of the file and an unreadable tail the same way.
            Ok(_) => return None,
            Err(e) => return self.failure(seq, format!("decoding failed: {e}")),
        }
        let media_time = self.media_time();
        match rgb_from_bgr_mat(&self.buffer) {
            Ok(image) => {
                self.consecutive_failures = 0;
                let monotonic = media_time.unwrap_or_else(|| self.opened.elapsed());
                Some(Ok(Frame {
                    seq,
                    media_time,
                    captured_at: SystemTime::now(),
                    monotonic,
                    origin: self.description.clone(),
                    image,
                }))
            }
            Err(e) => self.failure(seq, format!("colour conversion failed: {e}")),
        }
    }
}
