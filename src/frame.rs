//! The frame: one decoded picture with the identity and timing every later stage needs.

use image::RgbImage;
use std::time::{Duration, SystemTime};

/// A decoded picture in RGB, numbered and timed at the source.
///
/// Frame numbers and capture times are kept from the source onwards because enforcement rules
/// (and investigators) ask which frame, at what time, a read came from.
#[derive(Debug, Clone)]
pub struct Frame {
    /// 0-based number of the frame within its source, counting frames that failed to decode,
    /// so a gap in the numbers shows a lost frame.
    pub seq: u64,
    /// Position in the recording for a video, `None` for stills and live cameras.
    pub media_time: Option<Duration>,
    /// Wall-clock time the frame was captured (for recorded material: when it was decoded).
    pub captured_at: SystemTime,
    /// Monotonic time of capture, from the source's own start: what fusion measures gaps and
    /// delays with. For a video it is the media time, so a recording replayed faster than real
    /// time still has its vehicles moving at their real pace.
    pub monotonic: Duration,
    /// Where the frame came from: an image file, or the video or device path.
    pub origin: String,
    pub image: RgbImage,
}
