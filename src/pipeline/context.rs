//! The context ring: the last few seconds of the camera, sampled and scaled down, from which a
//! hit's evidence takes the frames before and after its best one.
//!
//! Bounded by construction: `ringbuf`'s heap ring with a fixed capacity, the oldest frame
//! overwritten by the newest. Frames are sampled every `images.context_interval_ms` and scaled
//! to `images.context_max_width`, so the ring costs a few MiB (12 frames of 640 × 360 RGB: 8 MiB)
//! whatever the camera's resolution, and one resize per sample. Only a hit's read carries
//! context, so nothing is sampled, and what was held is let go, while the hotlist in force has
//! no `alert` entry (none loaded, the default): that is 9 MiB less peak memory with a 1280 × 960
//! camera (docs/memory.md). A list loaded live starts the sampling, so a hit
//! in its first seconds has fewer frames before it. Single-threaded (the recognition loop owns
//! it), so the ring is used unsplit.

use crate::frame::Frame;
use crate::imaging::{resize_region_into, ImageConfig};
use image::RgbImage;
use ringbuf::traits::{Consumer, Observer, RingBuffer};
use ringbuf::HeapRb;
use std::sync::Arc;
use std::time::Duration;

/// Frames kept besides the ones asked for before and after: fusion emits a vehicle up to its
/// max delay (1.5 s by default) after its best frame, and the ring must still hold what came
/// before that frame then (6 samples at 250 ms).
const SLACK: usize = 6;

/// A sampled frame.
#[derive(Debug)]
pub struct ContextFrame {
    pub monotonic: Duration,
    pub image: RgbImage,
}

pub struct ContextRing {
    ring: Option<HeapRb<Arc<ContextFrame>>>,
    interval: Duration,
    max_width: u32,
    before: usize,
    after: usize,
    last: Option<Duration>,
}

impl ContextRing {
    pub fn new(config: &ImageConfig) -> Self {
        let (before, after) = (config.context_before as usize, config.context_after as usize);
        let wanted = config.overview && before + after > 0;
        Self {
            ring: wanted.then(|| HeapRb::new(before + after + SLACK)),
            interval: Duration::from_millis(config.context_interval_ms),
            max_width: config.context_max_width,
            before,
            after,
            last: None,
        }
    }

    /// Keeps `frame` if a sample is due and a read `can_hit`; while none can, holds nothing. A
    /// frame that cannot be scaled is not kept (the hit then has one context frame less, never
    /// less of its read).
    pub fn offer(&mut self, frame: &Frame, can_hit: bool) {
        let Some(ring) = self.ring.as_mut() else { return };
        if !can_hit {
            ring.clear();
            self.last = None;
            return;
        }
        if self.last.is_some_and(|last| frame.monotonic.saturating_sub(last) < self.interval) {
            return;
        }
        let (w, h) = (frame.image.width(), frame.image.height());
        let width = w.min(self.max_width).max(1);
        let height = ((u64::from(h) * u64::from(width)) / u64::from(w.max(1))).max(1) as u32;
        let mut pixels = vec![0u8; width as usize * height as usize * 3];
        if resize_region_into(&frame.image, (0, 0, w, h), &mut pixels, width, height).is_err() {
            return;
        }
        let Some(image) = RgbImage::from_raw(width, height, pixels) else { return };
        self.last = Some(frame.monotonic);
        ring.push_overwrite(Arc::new(ContextFrame { monotonic: frame.monotonic, image }));
    }

    /// The sampled frames nearest to `best`: up to `before` earlier and `after` later ones,
    /// oldest first.
    pub fn around(&self, best: Duration) -> Vec<Arc<ContextFrame>> {
        let Some(ring) = self.ring.as_ref() else { return Vec::new() };
        let earlier: Vec<_> = ring.iter().filter(|f| f.monotonic < best).collect();
        let later = ring.iter().filter(|f| f.monotonic > best).take(self.after);
        earlier[earlier.len().saturating_sub(self.before)..]
            .iter()
            .map(|f| Arc::clone(f))
            .chain(later.map(Arc::clone))
            .collect()
    }

    /// Frames held now.
    pub fn held(&self) -> usize {
        self.ring.as_ref().map_or(0, |ring| ring.occupied_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn frame(ms: u64) -> Frame {
        Frame {
            seq: ms,
            media_time: None,
            captured_at: SystemTime::now(),
            monotonic: Duration::from_millis(ms),
            origin: "t".into(),
            image: RgbImage::new(1920, 1080),
        }
    }

    #[test]
    fn samples_are_scaled_bounded_and_taken_around_the_best_frame() {
        let mut ring = ContextRing::new(&ImageConfig::default());
        for ms in (0..5000).step_by(40) {
            ring.offer(&frame(ms), true);
        }
        assert_eq!(ring.held(), 2 + 2 + SLACK, "the oldest are overwritten");
        let around = ring.around(Duration::from_millis(4000));
        let times: Vec<u128> = around.iter().map(|f| f.monotonic.as_millis()).collect();
        // A sample at least 250 ms after the last: every 280 ms on the 40 ms grid.
        assert_eq!(times, [3640u128, 3920, 4200, 4480]);
        assert!(around.iter().all(|f| f.image.dimensions() == (640, 360)));
    }

    #[test]
    fn nothing_is_held_while_no_read_can_hit() {
        let mut ring = ContextRing::new(&ImageConfig::default());
        ring.offer(&frame(0), false);
        assert_eq!(ring.held(), 0);
        ring.offer(&frame(300), true);
        ring.offer(&frame(600), true);
        assert_eq!(ring.held(), 2);
        ring.offer(&frame(900), false);
        assert_eq!(ring.held(), 0, "the list lost its alerts: the frames held are let go");
        ring.offer(&frame(950), true);
        assert_eq!(ring.held(), 1, "sampling starts again at once");
    }

    #[test]
    fn no_ring_without_context_frames_or_overviews() {
        for config in [
            ImageConfig { context_before: 0, context_after: 0, ..ImageConfig::default() },
            ImageConfig { overview: false, ..ImageConfig::default() },
        ] {
            let mut ring = ContextRing::new(&config);
            ring.offer(&frame(0), true);
            assert_eq!(ring.held(), 0);
            assert!(ring.around(Duration::ZERO).is_empty());
        }
    }
}
