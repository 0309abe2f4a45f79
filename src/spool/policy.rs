//! The spool's decisions, without I/O: when to fsync, which messages are too old to keep, and
//! which segment files to delete or compact to stay inside the byte bound.
//!
//! Design: like the outbox, pure functions of the state they are given, unit-tested here; the
//! spool's I/O (`mod.rs`) only carries them out.

use super::config::FsyncPolicy;
use crate::message::Class;
use std::time::{Duration, Instant};

/// Whether written records must be flushed to the disk now.
pub fn sync_due(
    policy: FsyncPolicy,
    interval: Duration,
    unsynced: bool,
    last_sync: Instant,
    now: Instant,
) -> bool {
    unsynced
        && match policy {
            FsyncPolicy::PerRecord => true,
            FsyncPolicy::Interval => now.saturating_duration_since(last_sync) >= interval,
        }
}

/// Ids of the messages too old to keep, oldest first: a hit older than `hit_max_age_ms`
/// (`None`: a hit is kept until the centre has it), anything else older than `max_age_ms`.
/// Images of a hit follow `max_age_ms`: the hit itself is the alert, its images are evidence
/// the privacy policy already lets go first.
pub fn expired<'a>(
    live: impl IntoIterator<Item = (&'a str, Class, u64)>,
    now_ms: u64,
    max_age_ms: u64,
    hit_max_age_ms: Option<u64>,
) -> Vec<String> {
    let mut old: Vec<(u64, &str)> = live
        .into_iter()
        .filter(|(_, class, created)| {
            let limit = if *class == Class::Hit { hit_max_age_ms } else { Some(max_age_ms) };
            limit.is_some_and(|limit| now_ms.saturating_sub(*created) > limit)
        })
        .map(|(id, _, created)| (created, id))
        .collect();
    old.sort_unstable();
    old.into_iter().map(|(_, id)| id.to_string()).collect()
}

/// A segment as the byte bound sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentUse {
    pub number: u64,
    pub bytes: u64,
    /// Messages put in this segment that are still held.
    pub live: usize,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compaction {
    /// Segments holding nothing any more, to delete.
    pub delete: Vec<u64>,
    /// The oldest segment still holding messages, whose live records are to be written again
    /// at the head so that it can be deleted.
    pub copy_forward: Option<u64>,
}

/// What to do with the segments (oldest first; the last is the head being written).
///
/// Only a prefix of dead segments is deleted: a remove record in a segment refers to a put in
/// that segment or an older one, so deleting a dead segment while an older one lives would
/// bring the messages it removed back at the next start. When the files exceed `max_bytes`,
/// the oldest live segment is copied forward (one per call: the spool's periodic tick calls
/// again until the files are within the bound).
pub fn compaction(segments: &[SegmentUse], max_bytes: u64) -> Compaction {
    let Some((_head, older)) = segments.split_last() else { return Compaction::default() };
    let dead = older.iter().take_while(|s| s.live == 0).count();
    let delete: Vec<u64> = older[..dead].iter().map(|s| s.number).collect();
    let remaining: u64 = segments[dead..].iter().map(|s| s.bytes).sum();
    let copy_forward = (remaining > max_bytes).then(|| older.get(dead).map(|s| s.number)).flatten();
    Compaction { delete, copy_forward }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_record_syncs_every_write_interval_waits() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert!(sync_due(FsyncPolicy::PerRecord, ms(100), true, t0, t0));
        assert!(
            !sync_due(FsyncPolicy::PerRecord, ms(100), false, t0, t0),
            "nothing written, nothing to sync"
        );
        assert!(!sync_due(FsyncPolicy::Interval, ms(100), true, t0, t0 + ms(99)));
        assert!(sync_due(FsyncPolicy::Interval, ms(100), true, t0, t0 + ms(100)));
    }

    #[test]
    fn old_non_hits_expire_oldest_first_hits_only_past_their_own_limit() {
        let live = [
            ("r2", Class::Read, 500),
            ("h", Class::Hit, 0),
            ("hi", Class::HitImage, 600),
            ("i", Class::Image, 100),
            ("r1", Class::Read, 200),
            ("new", Class::Read, 950),
        ];
        let all = || live.iter().map(|(a, b, c)| (*a, *b, *c));
        assert_eq!(
            expired(all(), 1000, 100, None),
            ["i", "r1", "r2", "hi"],
            "no hit limit: the hit stays"
        );
        assert!(expired(all(), 1000, 10_000, None).is_empty());
        assert_eq!(
            expired(all(), 1000, 100, Some(999)),
            ["h", "i", "r1", "r2", "hi"],
            "a hit past its limit goes too"
        );
        assert_eq!(
            expired(all(), 1000, 100, Some(1000)),
            ["i", "r1", "r2", "hi"],
            "a hit at its limit stays"
        );
        assert_eq!(
            expired(all(), 1000, 10_000, Some(999)),
            ["h"],
            "a hit limit shorter than the reads' applies to hits alone"
        );
    }

    fn seg(number: u64, bytes: u64, live: usize) -> SegmentUse {
        SegmentUse { number, bytes, live }
    }

    #[test]
    fn only_a_dead_prefix_is_deleted() {
        let c = compaction(
            &[seg(1, 10, 0), seg(2, 10, 0), seg(3, 10, 4), seg(4, 10, 0), seg(5, 10, 1)],
            1000,
        );
        assert_eq!(c, Compaction { delete: vec![1, 2], copy_forward: None });
        let c = compaction(&[seg(1, 10, 0)], 1000);
        assert_eq!(c, Compaction::default(), "the head is never deleted");
        assert_eq!(compaction(&[], 1000), Compaction::default());
    }

    #[test]
    fn over_the_bound_the_oldest_live_segment_is_copied_forward() {
        let c = compaction(&[seg(1, 100, 0), seg(2, 100, 3), seg(3, 100, 2), seg(4, 50, 1)], 200);
        assert_eq!(c, Compaction { delete: vec![1], copy_forward: Some(2) });
        let c = compaction(&[seg(7, 500, 3)], 200);
        assert_eq!(c.copy_forward, None, "the head alone is never copied into itself");
    }
}
