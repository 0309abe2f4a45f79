//! The durable spool: every message the outbox holds, on disk, so that neither a power cut nor
//! a restart loses a read the broker has not acknowledged.
//!
//! Design:
//! - The spool is the durable copy, the outbox (`publish/outbox.rs`) the RAM copy and the only
//!   place that decides what to send and what to drop: a message is put here when it is
//!   submitted, before the outbox takes it, and removed (a remove record) when the outbox lets
//!   it go: on its PUBACK, or dropped by the outbox's policy (images first, then the oldest
//!   non-hit read, hits last). So the spool's live content is exactly the outbox's, bounded by
//!   `mqtt.outbox_bytes`, and there is one drop policy, not two that could disagree. Its own
//!   pure policy (`policy.rs`) adds what only a store that survives restarts needs: the age
//!   limit, the fsync schedule and the byte bound of the files.
//! - Append-only segment files (`NNNNNNNNNNNNNNNNNNNN.seg`), framed records with a CRC32C each
//!   (`record.rs`). Acknowledgements arrive out of order (hits overtake reads, a PUBACK per
//!   packet), so a removal is a record of its own rather than a moving read pointer; a segment
//!   file is deleted once it and every older one hold no live message, and when the files
//!   exceed `max_bytes` the oldest live segment's messages are written again at the head; both
//!   at the periodic [`Spool::tick`], never inside a put or a remove.
//! - Records go to the file with one `write` each, never through a user-space buffer: a killed
//!   process loses nothing written; the fsync policy decides what a power cut can lose.
//! - At start every segment is scanned; a torn or corrupt tail is truncated and a corrupt
//!   stretch in the middle skipped, both counted and logged; the live messages come back in
//!   the order they were first put (`seq`), and writing goes on in a new segment.

pub mod config;
pub mod policy;
pub mod record;

pub use config::{FsyncPolicy, SpoolConfig};
use policy::SegmentUse;
use record::{Record, Removal};

use crate::message::{Class, Message};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool.dir: {}: {what}: {source}; the daemon must be able to write there (systemd: StateDirectory=anpr-edge)", path.display())]
    Io { path: PathBuf, what: &'static str, source: std::io::Error },
    #[error("message {id}: its id or topic is too long to spool")]
    TooLong { id: String },
}

/// What the spool holds and what it found wrong, for the status heartbeat.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SpoolStats {
    /// Bytes of the segment files (removed records not yet compacted away included).
    pub bytes: u64,
    /// Messages held.
    pub records: usize,
    pub segments: usize,
    /// Age of the oldest message held, in seconds (0 when empty).
    pub oldest_age_s: u64,
    /// Reads and images dropped for being older than `max_age_s`.
    pub expired: u64,
    /// Damaged stretches skipped in the middle of segments at start, and their bytes.
    pub corrupt_skipped: u64,
    pub corrupt_bytes: u64,
    /// Bytes of torn or corrupt tails truncated at start.
    pub truncated_bytes: u64,
    /// Messages that could not be written (disk full…): held in RAM only.
    pub write_errors: u64,
}

/// A message held, as the spool indexes it (its bytes are in the file and in the outbox).
#[derive(Debug)]
struct Live {
    seq: u64,
    segment: u64,
    class: Class,
    created_ms: u64,
}

pub struct Spool {
    config: SpoolConfig,
    head: File,
    head_number: u64,
    segments: BTreeMap<u64, SegmentUse>,
    live: HashMap<String, Live>,
    next_seq: u64,
    unsynced: bool,
    last_sync: Instant,
    stats: SpoolStats,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.seg"))
}

/// Makes a new segment's name durable: without it a power cut could lose the file's entry in
/// the folder although its data was synced.
fn sync_dir(dir: &Path) {
    if let Err(error) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(%error, dir = %dir.display(), "fsync of the spool folder failed");
    }
}

fn segment_number(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".seg")?.parse().ok()
}

impl Spool {
    /// Opens (or creates) the spool in `config.dir` and recovers what it holds: the messages
    /// not yet acknowledged, in the order they were first spooled.
    pub fn open(config: &SpoolConfig) -> Result<(Self, Vec<Message>), SpoolError> {
        let dir = &config.dir;
        let io =
            |what: &'static str| move |source| SpoolError::Io { path: dir.clone(), what, source };
        std::fs::create_dir_all(dir).map_err(io("cannot create the folder"))?;
        let mut numbers: Vec<u64> = std::fs::read_dir(dir)
            .map_err(io("cannot list the folder"))?
            .filter_map(|entry| entry.ok().and_then(|e| segment_number(&e.path())))
            .collect();
        numbers.sort_unstable();
        let mut stats = SpoolStats::default();
        let mut segments = BTreeMap::new();
        let mut held: HashMap<String, (u64, u64, Message, u64)> = HashMap::new();
        for &number in &numbers {
            let path = segment_path(dir, number);
            let bytes = std::fs::read(&path).map_err(|source| SpoolError::Io {
                path: path.clone(),
                what: "cannot read a segment",
                source,
            })?;
            let scan = record::scan(&bytes);
            if scan.corrupt_stretches > 0 {
                tracing::error!(segment = %path.display(), stretches = scan.corrupt_stretches, bytes = scan.corrupt_bytes, kept = scan.records.len(), "corrupt records in the spool skipped");
            }
            if scan.valid_len < bytes.len() {
                let truncated = bytes.len() - scan.valid_len;
                tracing::warn!(segment = %path.display(), truncated_bytes = truncated, "torn or corrupt end of a spool segment truncated");
                let file = OpenOptions::new().write(true).open(&path).map_err(|source| {
                    SpoolError::Io {
                        path: path.clone(),
                        what: "cannot open a segment to truncate it",
                        source,
                    }
                })?;
                file.set_len(scan.valid_len as u64).and_then(|()| file.sync_all()).map_err(
                    |source| SpoolError::Io {
                        path: path.clone(),
                        what: "cannot truncate a segment",
                        source,
                    },
                )?;
                stats.truncated_bytes += truncated as u64;
            }
            stats.corrupt_skipped += scan.corrupt_stretches as u64;
            stats.corrupt_bytes += scan.corrupt_bytes as u64;
            segments.insert(number, SegmentUse { number, bytes: scan.valid_len as u64, live: 0 });
            for r in scan.records {
                match r {
                    Record::Put { seq, class, created_ms, id, topic, payload } => {
                        // A copy written forward by compaction replaces the older one.
                        held.insert(
                            id.clone(),
                            (seq, created_ms, Message { id, topic, payload, class }, number),
                        );
                    }
                    Record::Remove { id, .. } => {
                        held.remove(&id);
                    }
                }
            }
        }
        let head_number = numbers.last().map_or(1, |n| n + 1);
        let head_path = segment_path(dir, head_number);
        let head =
            OpenOptions::new().create(true).append(true).open(&head_path).map_err(|source| {
                SpoolError::Io { path: head_path, what: "cannot create a segment", source }
            })?;
        segments.insert(head_number, SegmentUse { number: head_number, bytes: 0, live: 0 });
        sync_dir(dir);
        let mut live = HashMap::new();
        let mut recovered: Vec<(u64, Message)> = Vec::with_capacity(held.len());
        for (id, (seq, created_ms, message, segment)) in held {
            if let Some(s) = segments.get_mut(&segment) {
                s.live += 1;
            }
            live.insert(id, Live { seq, segment, class: message.class, created_ms });
            recovered.push((seq, message));
        }
        recovered.sort_unstable_by_key(|(seq, _)| *seq);
        let next_seq = recovered.last().map_or(0, |(seq, _)| seq + 1);
        let mut spool = Self {
            config: config.clone(),
            head,
            head_number,
            segments,
            live,
            next_seq,
            unsynced: false,
            last_sync: Instant::now(),
            stats,
        };
        spool.compact();
        tracing::info!(dir = %dir.display(), recovered = recovered.len(), segments = numbers.len(), "spool opened");
        Ok((spool, recovered.into_iter().map(|(_, m)| m).collect()))
    }

    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    fn head_path(&self) -> PathBuf {
        segment_path(&self.config.dir, self.head_number)
    }

    /// Writes one framed record at the head; on failure the head is cut back to where it was,
    /// so a half-written frame never sits before later records.
    fn append(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let head = self.segments.get(&self.head_number).map_or(0, |s| s.bytes);
        if let Err(error) = self.head.write_all(frame) {
            let _ = self.head.set_len(head);
            return Err(error);
        }
        if let Some(s) = self.segments.get_mut(&self.head_number) {
            s.bytes += frame.len() as u64;
        }
        self.unsynced = true;
        Ok(())
    }

    /// Spools a message the outbox is about to hold.
    pub fn put(&mut self, message: &Message) -> Result<(), SpoolError> {
        let (seq, created_ms) = (self.next_seq, now_ms());
        let record = Record::Put {
            seq,
            class: message.class,
            created_ms,
            id: message.id.clone(),
            topic: message.topic.clone(),
            payload: message.payload.clone(),
        };
        let frame =
            record.encode().ok_or_else(|| SpoolError::TooLong { id: message.id.clone() })?;
        if let Err(source) = self.append(&frame) {
            self.stats.write_errors += 1;
            return Err(SpoolError::Io { path: self.head_path(), what: "cannot write", source });
        }
        self.next_seq += 1;
        if let Some(old) = self.live.insert(
            message.id.clone(),
            Live { seq, segment: self.head_number, class: message.class, created_ms },
        ) {
            self.release(old.segment);
        }
        if let Some(s) = self.segments.get_mut(&self.head_number) {
            s.live += 1;
        }
        self.sync_if_due();
        self.after_write();
        Ok(())
    }

    /// The outbox let the message go (acknowledged or dropped). A removal is not synced on its
    /// own: losing it to a power cut only sends the message once more.
    pub fn remove(&mut self, id: &str, reason: Removal) {
        let Some(old) = self.live.remove(id) else { return };
        self.release(old.segment);
        let Some(frame) = (Record::Remove { reason, id: id.to_string() }).encode() else { return };
        if let Err(error) = self.append(&frame) {
            tracing::warn!(%error, id, "cannot write a removal to the spool; the message may be sent again after a restart");
        }
        self.after_write();
    }

    fn release(&mut self, segment: u64) {
        if let Some(s) = self.segments.get_mut(&segment) {
            s.live = s.live.saturating_sub(1);
        }
    }

    fn sync_if_due(&mut self) {
        let interval = Duration::from_millis(self.config.fsync_interval_ms);
        if policy::sync_due(
            self.config.fsync,
            interval,
            self.unsynced,
            self.last_sync,
            Instant::now(),
        ) {
            self.sync();
        }
    }

    pub fn sync(&mut self) {
        if let Err(error) = self.head.sync_data() {
            tracing::warn!(%error, segment = %self.head_path().display(), "fsync of the spool failed");
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
    }

    fn after_write(&mut self) {
        let full = self
            .segments
            .get(&self.head_number)
            .is_some_and(|s| s.bytes >= self.config.segment_bytes);
        if full {
            self.rotate();
        }
    }

    fn rotate(&mut self) {
        let number = self.head_number + 1;
        let path = segment_path(&self.config.dir, number);
        match OpenOptions::new().create(true).append(true).open(&path) {
            Ok(file) => {
                self.sync();
                sync_dir(&self.config.dir);
                self.head = file;
                self.head_number = number;
                self.segments.insert(number, SegmentUse { number, bytes: 0, live: 0 });
            }
            // The current head keeps growing; the next write tries again.
            Err(error) => {
                tracing::warn!(%error, segment = %path.display(), "cannot start a new spool segment")
            }
        }
    }

    /// Deletes dead segments and copies the oldest live ones forward until the files are
    /// within the byte bound (each round moves one segment; at most one round per segment).
    fn compact(&mut self) {
        for _ in 0..=self.segments.len() {
            let uses: Vec<SegmentUse> = self.segments.values().copied().collect();
            let plan = policy::compaction(&uses, self.config.max_bytes);
            if plan.delete.is_empty() && plan.copy_forward.is_none() {
                return;
            }
            for number in plan.delete {
                self.delete_segment(number);
            }
            match plan.copy_forward {
                Some(number) if self.copy_forward(number) => {}
                _ => return,
            }
        }
    }

    fn delete_segment(&mut self, number: u64) {
        let path = segment_path(&self.config.dir, number);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                self.segments.remove(&number);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                self.segments.remove(&number);
            }
            Err(error) => {
                tracing::warn!(%error, segment = %path.display(), "cannot delete a spent spool segment")
            }
        }
    }

    /// False when the segment could not be moved (it stays; the next tick tries again).
    fn copy_forward(&mut self, number: u64) -> bool {
        let path = segment_path(&self.config.dir, number);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, segment = %path.display(), "cannot read a spool segment to compact it");
                return false;
            }
        };
        let mut moved = Vec::new();
        for r in record::scan(&bytes).records {
            let Record::Put { ref id, seq, .. } = r else { continue };
            let current = self.live.get(id).is_some_and(|l| l.segment == number && l.seq == seq);
            if !current {
                continue;
            }
            let Some(frame) = r.encode() else { continue };
            if let Err(error) = self.append(&frame) {
                tracing::warn!(%error, "cannot compact the spool (disk full?); segment kept");
                return false;
            }
            moved.push(id.clone());
        }
        // The copies must be on the disk before the originals go.
        self.sync();
        let head = self.head_number;
        for id in &moved {
            if let Some(l) = self.live.get_mut(id) {
                l.segment = head;
            }
        }
        if let Some(s) = self.segments.get_mut(&head) {
            s.live += moved.len();
        }
        if let Some(s) = self.segments.get_mut(&number) {
            s.live = 0;
        }
        // Its remove records may refer to older segments, all dead (it was the oldest live one).
        self.delete_segment(number);
        true
    }

    /// Periodic work: the fsync schedule, compaction, and the ids that are now too old to keep
    /// (the caller removes them from the outbox and then from here, as drops). Compaction runs
    /// here and not after each write, so that a put or a remove never copies and fsyncs a
    /// segment: between two ticks the files may pass `max_bytes` by what was written since.
    pub fn tick(&mut self) -> Vec<String> {
        self.sync_if_due();
        self.compact();
        let max_age_ms = self.config.max_age_s.saturating_mul(1000);
        let hit_max_age_ms = self.config.hit_max_age_s.map(|s| s.saturating_mul(1000));
        policy::expired(
            self.live.iter().map(|(id, l)| (id.as_str(), l.class, l.created_ms)),
            now_ms(),
            max_age_ms,
            hit_max_age_ms,
        )
    }

    /// A message dropped for its age.
    pub fn expire(&mut self, id: &str) {
        if self.live.contains_key(id) {
            self.stats.expired += 1;
            self.remove(id, Removal::Dropped);
        }
    }

    /// How often [`Self::tick`] should run.
    pub fn tick_every(&self) -> Duration {
        match self.config.fsync {
            FsyncPolicy::Interval => {
                Duration::from_millis(self.config.fsync_interval_ms).min(Duration::from_secs(1))
            }
            FsyncPolicy::PerRecord => Duration::from_secs(1),
        }
    }

    /// Whether the message is held here (it will be sent after a restart).
    pub fn holds(&self, id: &str) -> bool {
        self.live.contains_key(id)
    }

    /// When the oldest message held was spooled.
    pub fn oldest(&self) -> Option<SystemTime> {
        self.live
            .values()
            .map(|l| l.created_ms)
            .min()
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    pub fn stats(&self) -> SpoolStats {
        let oldest_age_s = self
            .oldest()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map_or(0, |d| d.as_secs());
        SpoolStats {
            bytes: self.segments.values().map(|s| s.bytes).sum(),
            records: self.live.len(),
            segments: self.segments.len(),
            oldest_age_s,
            ..self.stats
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if self.unsynced {
            self.sync();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> SpoolConfig {
        SpoolConfig {
            dir: dir.to_path_buf(),
            segment_bytes: 64 << 10,
            max_bytes: 1 << 20,
            ..SpoolConfig::default()
        }
    }

    fn msg(id: &str, class: Class, bytes: usize) -> Message {
        Message { id: id.into(), topic: format!("anpr/u/{id}"), payload: vec![b'x'; bytes], class }
    }

    fn ids(messages: &[Message]) -> Vec<&str> {
        messages.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn what_was_not_removed_comes_back_in_order_after_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut spool, recovered) = Spool::open(&config(dir.path())).expect("open");
            assert!(recovered.is_empty());
            for (id, class) in [
                ("r1", Class::Read),
                ("h1", Class::Hit),
                ("r2", Class::Read),
                ("i1", Class::Image),
                ("r3", Class::Read),
            ] {
                spool.put(&msg(id, class, 100)).expect("put");
            }
            spool.remove("r2", Removal::Acknowledged);
            spool.remove("i1", Removal::Dropped);
            spool.remove("absent", Removal::Acknowledged);
            assert_eq!(spool.stats().records, 3);
        }
        let (mut spool, recovered) = Spool::open(&config(dir.path())).expect("reopen");
        assert_eq!(ids(&recovered), ["r1", "h1", "r3"]);
        assert_eq!(recovered[0], msg("r1", Class::Read, 100), "the whole message comes back");
        spool.put(&msg("r4", Class::Read, 10)).expect("put after recovery");
        drop(spool);
        let (_, recovered) = Spool::open(&config(dir.path())).expect("reopen");
        assert_eq!(ids(&recovered), ["r1", "h1", "r3", "r4"], "sequence numbers continue");
    }

    #[test]
    fn spent_segments_are_deleted_and_the_files_stay_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut spool, _) = Spool::open(&config(dir.path())).expect("open");
        // A hit that stays unacknowledged pins its segment: compaction must move it.
        spool.put(&msg("pinned", Class::Hit, 1000)).expect("put");
        for i in 0..2000 {
            let id = format!("r{i}");
            spool.put(&msg(&id, Class::Read, 4000)).expect("put");
            spool.remove(&id, Removal::Acknowledged);
            // The ticks compact: between two of them the files grow by what was written.
            if i % 25 == 24 {
                spool.tick();
                assert!(spool.stats().bytes <= 1 << 20, "after {i}: {:?}", spool.stats());
            }
        }
        let files = std::fs::read_dir(dir.path()).expect("ls").count();
        assert!(files <= 20, "{files} segment files");
        drop(spool);
        let (_, recovered) = Spool::open(&config(dir.path())).expect("reopen");
        assert_eq!(ids(&recovered), ["pinned"]);
    }

    #[test]
    fn a_torn_tail_and_a_corrupt_middle_are_reported_and_the_rest_recovered() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut spool, _) = Spool::open(&config(dir.path())).expect("open");
            for i in 0..10 {
                spool.put(&msg(&format!("r{i}"), Class::Read, 200)).expect("put");
            }
        }
        let segment = segment_path(dir.path(), 1);
        let mut bytes = std::fs::read(&segment).expect("read");
        let frame = bytes.len() / 10;
        bytes[3 * frame + 40] ^= 0xff; // r3 damaged
        bytes.truncate(bytes.len() - 5); // r9 torn
        std::fs::write(&segment, &bytes).expect("write");
        let (spool, recovered) =
            Spool::open(&config(dir.path())).expect("a damaged spool still opens");
        assert_eq!(ids(&recovered), ["r0", "r1", "r2", "r4", "r5", "r6", "r7", "r8"]);
        let s = spool.stats();
        assert_eq!(
            (s.corrupt_skipped, s.corrupt_bytes, s.truncated_bytes),
            (1, frame as u64, (frame - 5) as u64)
        );
        assert_eq!(
            std::fs::metadata(&segment).expect("stat").len(),
            (9 * frame) as u64,
            "the tail is cut off"
        );
    }

    #[test]
    fn old_reads_expire_hits_stay_without_a_hit_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut spool, _) =
            Spool::open(&SpoolConfig { max_age_s: 1, hit_max_age_s: None, ..config(dir.path()) })
                .expect("open");
        spool.put(&msg("h", Class::Hit, 1)).expect("put");
        spool.put(&msg("r", Class::Read, 1)).expect("put");
        assert!(spool.tick().is_empty());
        assert!(spool.oldest().is_some());
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(spool.tick(), ["r"]);
        spool.expire("r");
        assert_eq!((spool.stats().records, spool.stats().expired), (1, 1));
    }

    #[test]
    fn a_hit_past_its_own_limit_expires_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut spool, _) = Spool::open(&SpoolConfig {
            max_age_s: 3600,
            hit_max_age_s: Some(1),
            ..config(dir.path())
        })
        .expect("open");
        spool.put(&msg("h", Class::Hit, 1)).expect("put");
        spool.put(&msg("r", Class::Read, 1)).expect("put");
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(spool.tick(), ["h"], "the hit's limit, not the reads'");
    }

    #[test]
    fn an_unwritable_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"").expect("write");
        let e = Spool::open(&config(&file)).err().expect("a file is no folder").to_string();
        assert!(e.contains("spool.dir") && e.contains("not-a-folder"), "{e}");
    }
}
