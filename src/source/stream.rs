//! A live network stream (RTSP) decoded by OpenCV's FFmpeg backend, reconnected when it drops.

use super::reconnect::Reconnect;
use super::{FrameError, FrameSource, OpenError};
use crate::frame::Frame;
use crate::imaging::rgb_from_bgr_mat;
use crate::shutdown::Shutdown;
use opencv::core::{Mat, Vector};
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};
use serde::{Deserialize, Serialize};
use std::time::{Instant, SystemTime};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Floor of the wait before reconnecting a dropped stream; grows (jittered) up to
    /// `reconnect_max_ms`.
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// How long opening or reading may stall before the stream counts as dropped.
    pub timeout_ms: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self { reconnect_min_ms: 500, reconnect_max_ms: 10_000, timeout_ms: 5_000 }
    }
}

pub struct RtspStream {
    url: String,
    /// The URL without credentials: what logs and records may show.
    description: String,
    config: StreamConfig,
    capture: Option<VideoCapture>,
    buffer: Mat,
    next_seq: u64,
    started: Instant,
    reconnect: Reconnect,
}

/// `rtsp://user:secret@host/path` → `rtsp://host/path`: passwords stay out of logs and records.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl RtspStream {
    /// Opens the stream; a stream that cannot be reached at start is an error (the operator
    /// mistyped the URL far more often than the camera is down at that moment).
    pub fn open(url: &str, config: StreamConfig) -> Result<Self, OpenError> {
        let mut stream = Self {
            url: url.to_string(),
            description: redact(url),
            reconnect: Reconnect::new(config.reconnect_min_ms, config.reconnect_max_ms),
            config,
            capture: None,
            buffer: Mat::default(),
            next_seq: 0,
            started: Instant::now(),
        };
        stream.capture = Some(
            stream
                .connect()
                .map_err(|detail| OpenError::Stream { url: stream.description.clone(), detail })?,
        );
        Ok(stream)
    }

    fn connect(&self) -> Result<VideoCapture, String> {
        let timeout = self.config.timeout_ms.min(i32::MAX as u64) as i32;
        let params = Vector::from_slice(&[
            videoio::CAP_PROP_OPEN_TIMEOUT_MSEC,
            timeout,
            videoio::CAP_PROP_READ_TIMEOUT_MSEC,
            timeout,
        ]);
        let capture = VideoCapture::from_file_with_params(&self.url, videoio::CAP_FFMPEG, &params)
            .map_err(|e| e.to_string())?;
        if capture.is_opened().map_err(|e| e.to_string())? {
            Ok(capture)
        } else {
            Err("the stream does not answer or cannot be decoded".into())
        }
    }

    fn lost(&mut self, seq: u64, reason: String) -> Option<Result<Frame, FrameError>> {
        self.capture = None;
        Some(Err(FrameError { origin: self.description.clone(), seq, reason }))
    }
}

impl FrameSource for RtspStream {
    fn describe(&self) -> &str {
        &self.description
    }

    fn len_hint(&self) -> Option<u64> {
        None
    }

    fn is_live(&self) -> bool {
        true
    }

    fn watch(&mut self, shutdown: &Shutdown) {
        self.reconnect.watch(shutdown);
    }

    /// Ends only when the unit stops: a dropped stream yields one error per reconnection
    /// attempt, each after a jittered backoff that grows up to `reconnect_max_ms` (cut short by a
    /// stop), so a call blocks at most that long plus the open timeout.
    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        let seq = self.next_seq;
        if self.capture.is_none() {
            if !self.reconnect.wait() {
                return None;
            }
            match self.connect() {
                Ok(capture) => {
                    tracing::info!(stream = %self.description, "stream reconnected");
                    self.capture = Some(capture);
                }
                Err(detail) => {
                    return Some(Err(FrameError {
                        origin: self.description.clone(),
                        seq,
                        reason: format!("reconnecting: {detail}"),
                    }))
                }
            }
        }
        let capture = self.capture.as_mut()?;
        match capture.read(&mut self.buffer) {
            Ok(true) if !self.buffer.empty() => {}
            Ok(_) => return self.lost(seq, "the stream ended or stalled; reconnecting".into()),
            Err(e) => return self.lost(seq, format!("decoding failed: {e}; reconnecting")),
        }
        self.next_seq += 1;
        self.reconnect.reset();
        match rgb_from_bgr_mat(&self.buffer) {
            Ok(image) => Some(Ok(Frame {
                seq,
                media_time: None,
                captured_at: SystemTime::now(),
                monotonic: self.started.elapsed(),
                origin: self.description.clone(),
                image,
            })),
            Err(e) => Some(Err(FrameError {
                origin: self.description.clone(),
                seq,
                reason: format!("colour conversion failed: {e}"),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_description() {
        assert_eq!(
            redact("rtsp://admin:s3cret@10.1.2.3:554/stream1"),
            "rtsp://10.1.2.3:554/stream1"
        );
        assert_eq!(redact("rtsp://10.1.2.3/stream1"), "rtsp://10.1.2.3/stream1");
        assert_eq!(redact("rtsp://u:p@w@host/x"), "rtsp://host/x");
    }
}
