//! One spool record on disk: length framing with a CRC32C per record, and the scan that finds
//! every intact record in a segment's bytes however they were damaged.
//!
//! Frame: `magic "SP"` · `u32 LE body length` · `u32 LE CRC32C of the body` · body.
//! Body: kind `1` (put) · `u64 seq` · `u8 class` · `u64 created (ms since the epoch)` ·
//! `u16 id length` · id · `u16 topic length` · topic · payload (the rest); or kind `2`
//! (remove) · `u8 reason` · id (the rest).
//!
//! Class codes (fixed: spools written by earlier versions use them; a new class takes a new
//! code, never a used one): `0` hit · `1` read · `2` image · `3` image of a hit.
//! Removal reasons: `1` acknowledged · `2` dropped. Integers are little-endian.
//!
//! Design: pure functions over byte slices, so framing and recovery are tested (and
//! property-tested) without files. The scan never fails: a frame whose CRC does not match, or
//! whose length runs past the end, is skipped by searching forward byte by byte for the next
//! frame that checks out; damage followed by an intact frame is a corrupt stretch in the middle
//! (reported, the records after it kept), damage that reaches the end is a torn tail (the
//! caller truncates it). A 32-bit CRC over a frame whose magic and length also fit makes a
//! false resynchronisation on garbage vanishingly rare.

use crate::message::Class;

const MAGIC: [u8; 2] = *b"SP";
pub const HEADER: usize = 10;
/// Larger than any message the publisher accepts (rumqttc's 16 MiB packet limit).
pub const MAX_BODY: usize = 17 << 20;

const PUT: u8 = 1;
const REMOVE: u8 = 2;

/// Why a message left the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Acknowledged = 1,
    Dropped = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Put { seq: u64, class: Class, created_ms: u64, id: String, topic: String, payload: Vec<u8> },
    Remove { reason: Removal, id: String },
}

/// The class code table of the module documentation; an exhaustive match, so a new class
/// cannot be written without a code of its own.
fn class_byte(class: Class) -> u8 {
    match class {
        Class::Hit => 0,
        Class::Read => 1,
        Class::Image => 2,
        Class::HitImage => 3,
    }
}

fn class_of(byte: u8) -> Option<Class> {
    Class::ALL.into_iter().find(|c| class_byte(*c) == byte)
}

fn push_short(out: &mut Vec<u8>, text: &str) -> Option<()> {
    let len = u16::try_from(text.len()).ok()?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    Some(())
}

impl Record {
    /// The framed bytes; `None` when the id or topic is longer than 65 535 bytes or the body
    /// larger than [`MAX_BODY`] (the publisher refuses such messages before).
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        match self {
            Record::Put { seq, class, created_ms, id, topic, payload } => {
                body.push(PUT);
                body.extend_from_slice(&seq.to_le_bytes());
                body.push(class_byte(*class));
                body.extend_from_slice(&created_ms.to_le_bytes());
                push_short(&mut body, id)?;
                push_short(&mut body, topic)?;
                body.extend_from_slice(payload);
            }
            Record::Remove { reason, id } => {
                body.push(REMOVE);
                body.push(*reason as u8);
                body.extend_from_slice(id.as_bytes());
            }
        }
        if body.len() > MAX_BODY {
            return None;
        }
        let mut frame = Vec::with_capacity(HEADER + body.len());
        frame.extend_from_slice(&MAGIC);
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        frame.extend_from_slice(&body);
        Some(frame)
    }

    /// The record in a body whose CRC matched; `None` when it still makes no sense (an unknown
    /// kind, a length past the end, text that is not UTF-8).
    fn decode_body(body: &[u8]) -> Option<Record> {
        let mut r = Reader(body);
        match r.u8()? {
            PUT => {
                let seq = r.u64()?;
                let class = class_of(r.u8()?)?;
                let created_ms = r.u64()?;
                let id = r.short_text()?;
                let topic = r.short_text()?;
                Some(Record::Put { seq, class, created_ms, id, topic, payload: r.0.to_vec() })
            }
            REMOVE => {
                let reason = match r.u8()? {
                    1 => Removal::Acknowledged,
                    2 => Removal::Dropped,
                    _ => return None,
                };
                Some(Record::Remove { reason, id: String::from_utf8(r.0.to_vec()).ok()? })
            }
            _ => None,
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn short_text(&mut self) -> Option<String> {
        let len = u16::from_le_bytes(self.take(2)?.try_into().ok()?);
        String::from_utf8(self.take(usize::from(len))?.to_vec()).ok()
    }
}

/// The frame starting at `at`: the record and the frame's length, when everything checks out.
fn frame_at(bytes: &[u8], at: usize) -> Option<(Record, usize)> {
    let header = bytes.get(at..at.checked_add(HEADER)?)?;
    if header[..2] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(header[2..6].try_into().ok()?) as usize;
    if len > MAX_BODY {
        return None;
    }
    let crc = u32::from_le_bytes(header[6..10].try_into().ok()?);
    let body = bytes.get(at + HEADER..at + HEADER + len)?;
    if crc32c::crc32c(body) != crc {
        return None;
    }
    Some((Record::decode_body(body)?, HEADER + len))
}

/// What a scan found in a segment's bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Every intact record, in file order.
    pub records: Vec<Record>,
    /// Damaged stretches followed by an intact record (their records are lost, the rest kept).
    pub corrupt_stretches: usize,
    /// Bytes in those stretches.
    pub corrupt_bytes: usize,
    /// Where the intact data ends: the bytes after it are a torn or damaged tail to truncate.
    pub valid_len: usize,
}

pub fn scan(bytes: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut at = 0;
    while at < bytes.len() {
        if let Some((record, len)) = frame_at(bytes, at) {
            out.records.push(record);
            at += len;
            out.valid_len = at;
            continue;
        }
        match (at + 1..bytes.len()).find(|&i| frame_at(bytes, i).is_some()) {
            Some(next) => {
                out.corrupt_stretches += 1;
                out.corrupt_bytes += next - at;
                at = next;
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn put(seq: u64, id: &str, payload: &[u8]) -> Record {
        Record::Put {
            seq,
            class: Class::Read,
            created_ms: 1_700_000_000_000 + seq,
            id: id.into(),
            topic: format!("anpr/u/reads/{id}"),
            payload: payload.to_vec(),
        }
    }

    fn log(records: &[Record]) -> Vec<u8> {
        records.iter().flat_map(|r| r.encode().expect("encodable")).collect()
    }

    #[test]
    fn records_round_trip() {
        let records = vec![
            put(1, "a", b"{}"),
            Record::Put {
                seq: 2,
                class: Class::Image,
                created_ms: 0,
                id: "a/plate".into(),
                topic: "t".into(),
                payload: vec![],
            },
            Record::Remove { reason: Removal::Acknowledged, id: "a".into() },
            Record::Remove { reason: Removal::Dropped, id: "a/plate".into() },
        ];
        let bytes = log(&records);
        let s = scan(&bytes);
        assert_eq!(
            s,
            Scan { records, corrupt_stretches: 0, corrupt_bytes: 0, valid_len: bytes.len() }
        );
    }

    /// The bytes on disk, pinned: a change here misreads every spool already written.
    #[test]
    fn the_format_is_fixed_to_the_byte() {
        let put = Record::Put {
            seq: 0x0102,
            class: Class::HitImage,
            created_ms: 0x0A0B,
            id: "r1".into(),
            topic: "t/x".into(),
            payload: b"{}".to_vec(),
        };
        let body: Vec<u8> = [
            &[1][..],                        // put
            &[0x02, 0x01, 0, 0, 0, 0, 0, 0], // seq
            &[3],                            // class: image of a hit
            &[0x0B, 0x0A, 0, 0, 0, 0, 0, 0], // created
            &[2, 0],
            b"r1",
            &[3, 0],
            b"t/x",
            b"{}",
        ]
        .concat();
        let frame = put.encode().expect("encodable");
        assert_eq!(&frame[..2], b"SP");
        assert_eq!(frame[2..6], (body.len() as u32).to_le_bytes());
        assert_eq!(frame[6..10], crc32c::crc32c(&body).to_le_bytes());
        assert_eq!(frame[10..], body[..]);
        let codes: Vec<u8> = [Class::Hit, Class::Read, Class::Image, Class::HitImage]
            .map(|class| {
                let r = Record::Put {
                    seq: 0,
                    class,
                    created_ms: 0,
                    id: "r".into(),
                    topic: "t".into(),
                    payload: Vec::new(),
                };
                r.encode().expect("encodable")[HEADER + 9]
            })
            .to_vec();
        assert_eq!(codes, [0, 1, 2, 3]);
        let remove = Record::Remove { reason: Removal::Dropped, id: "r1".into() };
        assert_eq!(remove.encode().expect("encodable")[HEADER..], [2, 2, b'r', b'1']);
        let acked = Record::Remove { reason: Removal::Acknowledged, id: "r1".into() };
        assert_eq!(acked.encode().expect("encodable")[HEADER + 1], 1);
    }

    #[test]
    fn a_record_of_every_class_round_trips() {
        let records: Vec<Record> = Class::ALL
            .iter()
            .enumerate()
            .map(|(i, &class)| Record::Put {
                seq: i as u64,
                class,
                created_ms: 0,
                id: format!("r{i}"),
                topic: "t".into(),
                payload: b"x".to_vec(),
            })
            .collect();
        assert_eq!(scan(&log(&records)).records, records);
    }

    #[test]
    fn a_torn_tail_is_found_at_every_cut() {
        let records = vec![put(1, "a", &[7; 100]), put(2, "b", &[8; 100])];
        let bytes = log(&records);
        let first = records[0].encode().expect("encodable").len();
        for cut in 0..bytes.len() {
            let s = scan(&bytes[..cut]);
            let intact = usize::from(cut >= first);
            assert_eq!(s.records.len(), intact, "cut at {cut}");
            assert_eq!(s.valid_len, if intact == 1 { first } else { 0 }, "cut at {cut}");
            assert_eq!(s.corrupt_stretches, 0, "a tail is truncated, not a stretch: cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_byte_in_the_middle_loses_that_record_only() {
        let records: Vec<Record> =
            (0..5).map(|i| put(i, &format!("r{i}"), &[i as u8; 50])).collect();
        let frames: Vec<Vec<u8>> = records.iter().map(|r| r.encode().expect("encodable")).collect();
        let start_of_2: usize = frames[..2].iter().map(Vec::len).sum();
        for offset in 0..frames[2].len() {
            let mut bytes = frames.concat();
            bytes[start_of_2 + offset] ^= 0x41;
            let s = scan(&bytes);
            let ids: Vec<_> = s
                .records
                .iter()
                .map(|r| match r {
                    Record::Put { id, .. } | Record::Remove { id, .. } => id.as_str(),
                })
                .collect();
            assert_eq!(ids, ["r0", "r1", "r3", "r4"], "flip at {offset}");
            assert_eq!(
                (s.corrupt_stretches, s.corrupt_bytes, s.valid_len),
                (1, frames[2].len(), bytes.len()),
                "flip at {offset}"
            );
        }
    }

    #[test]
    fn over_long_texts_are_not_encodable() {
        assert_eq!(put(1, &"x".repeat(70_000), b"").encode(), None);
    }

    proptest! {
        /// The decoder on arbitrary bytes: never panics, and what it keeps is only whole frames.
        #[test]
        fn scanning_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let s = scan(&bytes);
            prop_assert!(s.valid_len <= bytes.len());
            prop_assert!(s.corrupt_bytes <= bytes.len());
        }

        /// Intact records survive any damage to a stretch of bytes outside them.
        #[test]
        fn records_after_damage_survive(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 2..8),
            damage in proptest::collection::vec(any::<u8>(), 1..64),
            at in any::<prop::sample::Index>(),
        ) {
            let records: Vec<Record> = payloads.iter().enumerate().map(|(i, p)| put(i as u64, &format!("r{i}"), p)).collect();
            let frames: Vec<Vec<u8>> = records.iter().map(|r| r.encode().expect("encodable")).collect();
            let hit = at.index(frames.len());
            let mut bytes = Vec::new();
            for (i, frame) in frames.iter().enumerate() {
                if i == hit {
                    // The damaged frame: its bytes overwritten from the start by the damage.
                    let mut broken = frame.clone();
                    for (b, d) in broken.iter_mut().zip(&damage) {
                        *b ^= d | 1;
                    }
                    bytes.extend(broken);
                } else {
                    bytes.extend(frame);
                }
            }
            let s = scan(&bytes);
            let expected: Vec<Record> = records.iter().enumerate().filter(|(i, _)| *i != hit).map(|(_, r)| r.clone()).collect();
            prop_assert_eq!(s.records, expected);
        }
    }
}
