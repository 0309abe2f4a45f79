//! A live network stream (RTSP) decoded by FFmpeg ([`super::decode`]), reconnected when it drops.

use super::decode::{DecodeError, Decoder};
use super::reconnect::Reconnect;
use super::{FrameError, FrameSource, OpenError};
use crate::frame::Frame;
use crate::shutdown::Shutdown;
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
    decoder: Option<Decoder>,
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
            decoder: None,
            next_seq: 0,
            started: Instant::now(),
        };
        stream.decoder = Some(
            stream
                .connect()
                .map_err(|detail| OpenError::Stream { url: stream.description.clone(), detail })?,
        );
        Ok(stream)
    }

    fn connect(&self) -> Result<Decoder, String> {
        let mut options = ffmpeg_next::Dictionary::new();
        // Interleaved in the RTSP connection: one TCP port through the box's firewall, and no
        // frames torn by lost UDP datagrams (what OpenCV's FFmpeg backend chose too).
        options.set("rtsp_transport", "tcp");
        // Microseconds; bounds the connection and every read, so a camera that stops sending
        // counts as dropped instead of stalling capture.
        options.set("timeout", &(self.config.timeout_ms.saturating_mul(1000)).to_string());
        Decoder::open(&self.url, options)
    }

    fn lost(&mut self, seq: u64, reason: String) -> Option<Result<Frame, FrameError>> {
        self.decoder = None;
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
        if self.decoder.is_none() {
            if !self.reconnect.wait() {
                return None;
            }
            match self.connect() {
                Ok(decoder) => {
                    tracing::info!(stream = %self.description, "stream reconnected");
                    self.decoder = Some(decoder);
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
        let decoder = self.decoder.as_mut()?;
        let decoded = match decoder.next() {
            Ok(Some(decoded)) => decoded,
            Ok(None) => return self.lost(seq, "the stream ended; reconnecting".into()),
            // One damaged picture costs that picture; the connection goes on.
            Err(e @ DecodeError::Frame(_)) => {
                self.next_seq += 1;
                return Some(Err(FrameError {
                    origin: self.description.clone(),
                    seq,
                    reason: e.to_string(),
                }));
            }
            Err(e @ DecodeError::Read(_)) => return self.lost(seq, format!("{e}; reconnecting")),
        };
        self.next_seq += 1;
        self.reconnect.reset();
        Some(Ok(Frame {
            seq,
            media_time: None,
            captured_at: SystemTime::now(),
            monotonic: self.started.elapsed(),
            origin: self.description.clone(),
            image: decoded.image,
        }))
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
