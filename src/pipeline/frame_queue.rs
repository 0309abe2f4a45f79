//! The queue between capture and recognition.
//!
//! Policy when full, for a live source (a camera, a stream, a recording replayed in real time):
//! the OLDEST waiting frame is dropped and counted. Capture never waits — a camera that is not
//! read loses frames in the driver anyway, and the newest frame is the one most likely to show a
//! vehicle still in view. A recording replayed as fast as possible instead decodes its next
//! frame only once the queue is empty ([`FrameQueue::wait_until_empty`]): nothing is gained by
//! skipping frames of a file, and one frame decoded ahead keeps recognition busy (decoding is
//! several times faster) for the memory of one frame, where filling the queue cost four more
//! (3.7 MB each at 1280 × 960). Frames only are dropped here; reads are never queued here and so
//! never dropped by it.
//!
//! Design: a mutex and a condition variable around a `VecDeque` of fixed capacity. A lock-free
//! SPSC ring (`ringbuf`) cannot drop its oldest element from the producer side, which is exactly
//! the policy needed, and with a handful of frames per second the lock is never contended long.

use crate::frame::Frame;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    pub depth: usize,
    pub pushed: u64,
    pub dropped_oldest: u64,
}

struct State {
    frames: VecDeque<Frame>,
    closed: bool,
    stats: QueueStats,
}

pub struct FrameQueue {
    capacity: usize,
    state: Mutex<State>,
    ready: Condvar,
    space: Condvar,
}

/// What a consumer gets when it asks for a frame.
#[derive(Debug)]
pub enum Pop {
    Frame(Frame),
    /// Nothing arrived within the wait; the consumer can do periodic work and ask again.
    Timeout,
    /// The producer closed the queue and it is empty.
    Closed,
}

impl FrameQueue {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            state: Mutex::new(State {
                frames: VecDeque::with_capacity(capacity),
                closed: false,
                stats: QueueStats::default(),
            }),
            ready: Condvar::new(),
            space: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the deque half-modified (every change is
        // one call), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a frame; never blocks. Returns the frame dropped to make room, if any.
    pub fn push(&self, frame: Frame) -> Option<Frame> {
        let mut state = self.lock();
        let dropped = if state.frames.len() >= self.capacity {
            state.stats.dropped_oldest += 1;
            state.frames.pop_front()
        } else {
            None
        };
        state.frames.push_back(frame);
        state.stats.pushed += 1;
        drop(state);
        self.ready.notify_one();
        dropped
    }

    /// Waits until recognition has taken every queued frame (for recorded sources, before
    /// decoding the next). Returns false, without waiting on, once `give_up` turns true (checked
    /// every `poll`).
    pub fn wait_until_empty(&self, give_up: impl Fn() -> bool, poll: Duration) -> bool {
        let mut state = self.lock();
        while !state.frames.is_empty() {
            if give_up() {
                return false;
            }
            state = self
                .space
                .wait_timeout(state, poll)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        true
    }

    /// Takes the oldest frame, waiting at most `wait`.
    pub fn pop(&self, wait: Duration) -> Pop {
        let mut state = self.lock();
        loop {
            if let Some(frame) = state.frames.pop_front() {
                drop(state);
                self.space.notify_one();
                return Pop::Frame(frame);
            }
            if state.closed {
                return Pop::Closed;
            }
            let (next, timeout) = self
                .ready
                .wait_timeout(state, wait)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state = next;
            if timeout.timed_out() && state.frames.is_empty() {
                return if state.closed { Pop::Closed } else { Pop::Timeout };
            }
        }
    }

    /// Drops every queued frame (counted with the dropped ones) and returns how many: a
    /// stopping unit that cannot afford to recognise them all before systemd's stop timeout.
    pub fn discard(&self) -> usize {
        let mut state = self.lock();
        let discarded = state.frames.len();
        state.frames.clear();
        state.stats.dropped_oldest += discarded as u64;
        drop(state);
        self.space.notify_all();
        discarded
    }

    /// No more frames will come; the consumer drains what is queued, then sees `Closed`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub fn stats(&self) -> QueueStats {
        let state = self.lock();
        QueueStats { depth: state.frames.len(), ..state.stats }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::SystemTime;

    fn frame(seq: u64) -> Frame {
        Frame {
            seq,
            media_time: None,
            captured_at: SystemTime::now(),
            monotonic: Duration::from_millis(seq),
            origin: "test".into(),
            image: image::RgbImage::new(1, 1),
        }
    }

    fn seq(pop: Pop) -> Option<u64> {
        match pop {
            Pop::Frame(f) => Some(f.seq),
            _ => None,
        }
    }

    #[test]
    fn when_full_the_oldest_frame_is_dropped_and_counted() {
        let q = FrameQueue::new(2);
        assert!(q.push(frame(0)).is_none());
        assert!(q.push(frame(1)).is_none());
        assert_eq!(q.push(frame(2)).map(|f| f.seq), Some(0));
        assert_eq!(q.stats(), QueueStats { depth: 2, pushed: 3, dropped_oldest: 1 });
        assert_eq!(seq(q.pop(Duration::ZERO)), Some(1));
        assert_eq!(seq(q.pop(Duration::ZERO)), Some(2));
        assert!(matches!(q.pop(Duration::from_millis(1)), Pop::Timeout));
    }

    #[test]
    fn a_closed_queue_is_drained_before_it_reports_closed() {
        let q = FrameQueue::new(4);
        q.push(frame(7));
        q.close();
        assert_eq!(seq(q.pop(Duration::ZERO)), Some(7));
        assert!(matches!(q.pop(Duration::ZERO), Pop::Closed));
    }

    #[test]
    fn discarded_frames_are_counted_as_dropped_and_the_queue_then_closes_empty() {
        let q = FrameQueue::new(4);
        for seq in 0..3 {
            q.push(frame(seq));
        }
        assert_eq!(q.discard(), 3);
        assert_eq!(q.stats(), QueueStats { depth: 0, pushed: 3, dropped_oldest: 3 });
        q.close();
        assert!(matches!(q.pop(Duration::ZERO), Pop::Closed));
    }

    #[test]
    fn a_waiting_consumer_wakes_on_push_and_on_close() {
        let q = Arc::new(FrameQueue::new(4));
        let consumer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                (
                    seq(q.pop(Duration::from_secs(10))),
                    matches!(q.pop(Duration::from_secs(10)), Pop::Closed),
                )
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        q.push(frame(3));
        std::thread::sleep(Duration::from_millis(20));
        q.close();
        assert_eq!(consumer.join().expect("consumer"), (Some(3), true));
    }

    #[test]
    fn a_recording_waits_until_recognition_took_its_frame() {
        let q = Arc::new(FrameQueue::new(4));
        q.push(frame(0));
        let producer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                let waited = q.wait_until_empty(|| false, Duration::from_millis(5));
                q.push(frame(1));
                waited
            })
        };
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(q.stats().depth, 1, "the producer waits while a frame is queued");
        assert_eq!(seq(q.pop(Duration::ZERO)), Some(0));
        assert!(producer.join().expect("producer"));
        assert_eq!(seq(q.pop(Duration::from_secs(1))), Some(1));
        assert_eq!(q.stats().dropped_oldest, 0);
        q.push(frame(2));
        assert!(!q.wait_until_empty(|| true, Duration::from_millis(1)), "gives up when told to");
    }

    #[test]
    fn the_producer_never_blocks_on_a_full_queue() {
        // No consumer ever pops: a push that waited for room would never return, which the
        // timeout turns into a failure instead of a hung test.
        let q = std::sync::Arc::new(FrameQueue::new(1));
        let (done, pushed) = std::sync::mpsc::channel();
        let producer = std::sync::Arc::clone(&q);
        std::thread::spawn(move || {
            for i in 0..1000 {
                producer.push(frame(i));
            }
            let _ = done.send(());
        });
        assert!(pushed.recv_timeout(Duration::from_secs(30)).is_ok(), "a push waited for room");
        assert_eq!(q.stats().dropped_oldest, 999);
    }
}
