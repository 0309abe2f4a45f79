//! Matching a read against the hotlist, with OCR error margins: the pure heart of the hotlist.
//!
//! Design:
//! - A read matches an entry **exactly** when their normalised texts are equal, and **fuzzily**
//!   within `tolerance` when the difference is only characters that plate fonts and the OCR
//!   confuse (O/0/D/Q, I/1/L, B/8, S/5, Z/2, G/6: one each) and at most one missing or extra
//!   character (one more). Tolerance 0 is exact only. Other substitutions never match: a wrong
//!   alert sends a patrol after an innocent driver.
//! - Precedence when several entries match: an `alert` always wins over an `allow` (an
//!   exemption must never hide a stolen car); then exact before fuzzy, then the smaller
//!   distance, then the entry first in the list's canonical order (by plate, then list name:
//!   `list.rs`), so that the content alone decides. `allow` entries match exactly only: an
//!   exemption granted to a near-miss would exempt another vehicle.
//! - Expired entries never match; the clock is an argument, so the module stays pure.
//! - Indexed, no scan: every plate (at most 10 characters) packs into a `u64`, 6 bits a
//!   character. Three sorted arrays of (key, entry) are searched by bisection: the exact text,
//!   the *class key* (each confusable character replaced by its class's representative), and
//!   the class key with one character deleted (the deletion neighbourhood). A read with one
//!   extra character finds its entry by deleting each of its characters in turn in the class
//!   array; a read missing one finds it in the deletion array. About 9 keys of 16 bytes an
//!   entry: the index of 100 000 entries takes ≈ 14 MB, and a match well under a microsecond
//!   (`benches/hotlist.rs`), so there is no reason for a linear scan at any list size.

use super::list::{Action, Hotlist, MAX_PLATE_CHARS};
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    Exact,
    Fuzzy,
}

/// What a read matched, as the record reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotlistMatch {
    pub list: String,
    pub category: String,
    pub action: Action,
    /// The plate as listed (normalised); withheld (`None`) from a published read whose own
    /// plate is withheld (`privacy::policy::publish_match`).
    pub plate: Option<String>,
    pub match_kind: MatchKind,
    /// Confusable characters plus missing/extra characters between the read and the listing.
    pub distance: u32,
    pub note: Option<String>,
    /// The version of the list that matched.
    pub list_version: String,
}

/// The hotlist's decision on one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    NoMatch,
    Alert(HotlistMatch),
    Allow(HotlistMatch),
}

impl Verdict {
    pub fn is_hit(&self) -> bool {
        matches!(self, Verdict::Alert(_))
    }

    pub fn matched(&self) -> Option<&HotlistMatch> {
        match self {
            Verdict::NoMatch => None,
            Verdict::Alert(m) | Verdict::Allow(m) => Some(m),
        }
    }
}

/// The representative of a character's confusable class (itself when it has none).
fn class_of(c: u8) -> u8 {
    match c {
        b'0' | b'D' | b'Q' => b'O',
        b'1' | b'L' => b'I',
        b'8' => b'B',
        b'5' => b'S',
        b'2' => b'Z',
        b'6' => b'G',
        c => c,
    }
}

/// 1..=36 for 0-9A-Z, so that no packed plate is a prefix code of another.
fn code(c: u8) -> Option<u64> {
    match c {
        b'0'..=b'9' => Some(u64::from(c - b'0') + 1),
        b'A'..=b'Z' => Some(u64::from(c - b'A') + 11),
        _ => None,
    }
}

fn pack(chars: impl IntoIterator<Item = u8>) -> Option<u64> {
    let mut key = 0u64;
    for (i, c) in chars.into_iter().enumerate() {
        if i >= MAX_PLATE_CHARS {
            return None;
        }
        key = (key << 6) | code(c)?;
    }
    Some(key)
}

fn class_key(text: &[u8]) -> Vec<u8> {
    text.iter().map(|&c| class_of(c)).collect()
}

fn without(text: &[u8], i: usize) -> impl Iterator<Item = u8> + '_ {
    text.iter().enumerate().filter(move |&(j, _)| j != i).map(|(_, &c)| c)
}

/// Confusable substitutions between equally long texts, `None` when another character differs.
fn substitutions(a: &[u8], b: &[u8]) -> Option<u32> {
    let mut n = 0;
    for (&x, &y) in a.iter().zip(b) {
        if x != y {
            if class_of(x) != class_of(y) {
                return None;
            }
            n += 1;
        }
    }
    Some(n)
}

/// The distance between a read and a listed plate: confusable substitutions, plus one for a
/// missing or extra character; `None` when they differ otherwise.
pub fn distance(read: &str, listed: &str) -> Option<u32> {
    let (r, l) = (read.as_bytes(), listed.as_bytes());
    if r.len() == l.len() {
        return substitutions(r, l);
    }
    let (long, short) = if r.len() > l.len() { (r, l) } else { (l, r) };
    if long.len() != short.len() + 1 {
        return None;
    }
    (0..long.len())
        .filter_map(|i| substitutions(&without(long, i).collect::<Vec<_>>(), short))
        .min()
        .map(|d| d + 1)
}

/// A list ready to match: the entries and their three indexes.
#[derive(Debug, Clone)]
pub struct Matcher {
    list: Hotlist,
    exact: Vec<(u64, u32)>,
    classes: Vec<(u64, u32)>,
    deletions: Vec<(u64, u32)>,
}

fn lookup(index: &[(u64, u32)], key: u64) -> impl Iterator<Item = u32> + '_ {
    let start = index.partition_point(|&(k, _)| k < key);
    index[start..].iter().take_while(move |&&(k, _)| k == key).map(|&(_, i)| i)
}

impl Matcher {
    pub fn new(list: Hotlist) -> Self {
        let mut exact = Vec::with_capacity(list.entries.len());
        let mut classes = Vec::with_capacity(list.entries.len());
        let mut deletions = Vec::with_capacity(list.entries.len() * 8);
        for (i, entry) in list.entries.iter().enumerate() {
            // invariant: the list module admits at most MAX_ENTRIES (< u32::MAX) entries of
            // 1..=MAX_PLATE_CHARS characters 0-9A-Z, which all pack.
            let i = i as u32;
            let text = entry.plate.as_bytes();
            let class = class_key(text);
            exact.extend(pack(text.iter().copied()).map(|k| (k, i)));
            classes.extend(pack(class.iter().copied()).map(|k| (k, i)));
            deletions
                .extend((0..class.len()).filter_map(|d| pack(without(&class, d))).map(|k| (k, i)));
        }
        for index in [&mut exact, &mut classes, &mut deletions] {
            index.sort_unstable();
            index.dedup();
        }
        Self { list, exact, classes, deletions }
    }

    /// The list it matches (what a delta applies to).
    pub fn list(&self) -> &Hotlist {
        &self.list
    }

    pub fn version(&self) -> &str {
        &self.list.version
    }

    pub fn len(&self) -> usize {
        self.list.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.entries.is_empty()
    }

    /// Entries that may be within `tolerance` of `read` (normalised); a superset checked by
    /// [`distance`].
    fn candidates(&self, read: &[u8], tolerance: u32) -> Vec<u32> {
        let mut found: Vec<u32> = pack(read.iter().copied())
            .map(|k| lookup(&self.exact, k).collect())
            .unwrap_or_default();
        if tolerance == 0 {
            return found;
        }
        let class = class_key(read);
        if let Some(k) = pack(class.iter().copied()) {
            found.extend(lookup(&self.classes, k));
            found.extend(lookup(&self.deletions, k));
        }
        for d in 0..class.len() {
            if let Some(k) = pack(without(&class, d)) {
                found.extend(lookup(&self.classes, k));
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The verdict on a read's text at `now` (see the module's precedence).
    pub fn check(&self, text: &str, now: SystemTime, tolerance: u32) -> Verdict {
        let Some(read) = super::list::normalise(text) else { return Verdict::NoMatch };
        let mut best: Option<(Action, u32, u32)> = None;
        for i in self.candidates(read.as_bytes(), tolerance) {
            let entry = &self.list.entries[i as usize];
            if entry.expires.is_some_and(|e| e <= now) {
                continue;
            }
            let Some(d) = distance(&read, &entry.plate) else { continue };
            if d > tolerance || (entry.action == Action::Allow && d > 0) {
                continue;
            }
            // Alert before allow, then the smaller distance (exact is 0), then the canonical order.
            let rank = (entry.action, d, i);
            if best.is_none_or(|b| rank < b) {
                best = Some(rank);
            }
        }
        let Some((action, distance, i)) = best else { return Verdict::NoMatch };
        let entry = &self.list.entries[i as usize];
        let found = HotlistMatch {
            list: entry.list.clone(),
            category: entry.category.clone(),
            action,
            plate: Some(entry.plate.clone()),
            match_kind: if distance == 0 { MatchKind::Exact } else { MatchKind::Fuzzy },
            distance,
            note: entry.note.clone(),
            list_version: self.list.version.clone(),
        };
        match action {
            Action::Alert => Verdict::Alert(found),
            Action::Allow => Verdict::Allow(found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hotlist::Entry;
    use std::time::Duration;

    fn entry(plate: &str, list: &str, action: Action, expires: Option<SystemTime>) -> Entry {
        Entry {
            plate: plate.into(),
            list: list.into(),
            category: "stolen".into(),
            action,
            expires,
            note: None,
        }
    }

    fn matcher(entries: Vec<Entry>) -> Matcher {
        Matcher::new(Hotlist { version: "t1".into(), entries })
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    /// (kind, distance) of the match, or None.
    fn found(m: &Matcher, read: &str, tolerance: u32) -> Option<(MatchKind, u32, String)> {
        m.check(read, now(), tolerance)
            .matched()
            .map(|h| (h.match_kind, h.distance, h.plate.clone().unwrap_or_default()))
    }

    #[test]
    fn each_confusable_pair_is_one_fuzzy_step() {
        let pairs = [
            ('O', '0'),
            ('O', 'D'),
            ('O', 'Q'),
            ('0', 'D'),
            ('0', 'Q'),
            ('D', 'Q'),
            ('I', '1'),
            ('I', 'L'),
            ('1', 'L'),
            ('B', '8'),
            ('S', '5'),
            ('Z', '2'),
            ('G', '6'),
        ];
        for (a, b) in pairs {
            for (listed, read) in [(a, b), (b, a)] {
                let m = matcher(vec![entry(&format!("XK{listed}47"), "l", Action::Alert, None)]);
                let read = format!("XK{read}47");
                assert_eq!(
                    found(&m, &read, 1),
                    Some((MatchKind::Fuzzy, 1, format!("XK{listed}47"))),
                    "{listed}→{read}"
                );
                assert_eq!(found(&m, &read, 0), None, "tolerance 0 is exact only: {listed}→{read}");
            }
        }
    }

    #[test]
    fn distances_add_up_and_other_substitutions_never_match() {
        let m = matcher(vec![entry("1ABC234", "l", Action::Alert, None)]);
        type Case = (&'static str, u32, Option<(MatchKind, u32)>);
        let table: [Case; 12] = [
            ("1ABC234", 0, Some((MatchKind::Exact, 0))),
            ("1-abc 234", 0, Some((MatchKind::Exact, 0))),
            ("1.ABC.234", 0, Some((MatchKind::Exact, 0))),
            ("IABC234", 1, Some((MatchKind::Fuzzy, 1))),
            ("IA8C234", 1, None),
            ("IA8C234", 2, Some((MatchKind::Fuzzy, 2))),
            ("IA8CZ34", 2, None),
            ("IA8CZ34", 3, Some((MatchKind::Fuzzy, 3))),
            ("1ABC2345", 1, Some((MatchKind::Fuzzy, 1))),
            ("1ABC34", 1, Some((MatchKind::Fuzzy, 1))),
            ("ABC234", 1, Some((MatchKind::Fuzzy, 1))),
            ("1ABC23", 1, Some((MatchKind::Fuzzy, 1))),
        ];
        for (read, tolerance, want) in table {
            assert_eq!(
                found(&m, read, tolerance).map(|(k, d, _)| (k, d)),
                want,
                "{read} at tolerance {tolerance}"
            );
        }
        for (read, tolerance) in [
            ("1ABC235", 3),
            ("1XBC234", 3),
            ("1ABC2", 3),
            ("1ABC23456", 3),
            ("X1ABC2345", 3),
            ("", 3),
            ("1ÄBC234", 3),
        ] {
            assert_eq!(found(&m, read, tolerance), None, "{read}");
        }
        // One missing character and a confusion together: 2.
        assert_eq!(found(&m, "IABC34", 2).map(|(k, d, _)| (k, d)), Some((MatchKind::Fuzzy, 2)));
        assert_eq!(found(&m, "IABC34", 1), None);
        assert_eq!(found(&m, "I4BC2345", 3), None, "two insertions are never one");
    }

    #[test]
    fn distance_is_symmetric_and_matches_the_index() {
        for (a, b, d) in [
            ("AB12", "AB12", Some(0)),
            ("AB12", "A812", Some(1)),
            ("AB12", "AB1", Some(1)),
            ("AB12", "XAB12", Some(1)),
            ("AB12", "XB12", None),
            ("AB", "ABCD", None),
            ("AB12", "A81", Some(2)),
        ] {
            assert_eq!(distance(a, b), d, "{a} {b}");
            assert_eq!(distance(b, a), d, "{b} {a}");
        }
    }

    #[test]
    fn expired_entries_never_match() {
        let m = matcher(vec![
            entry("AB12", "old", Action::Alert, Some(now() - Duration::from_secs(1))),
            entry("AB12", "edge", Action::Alert, Some(now())),
            entry("CD34", "new", Action::Alert, Some(now() + Duration::from_secs(1))),
        ]);
        assert_eq!(m.check("AB12", now(), 1), Verdict::NoMatch);
        assert!(m.check("CD34", now(), 1).is_hit());
        assert_eq!(m.check("CD34", now() + Duration::from_secs(1), 1), Verdict::NoMatch);
    }

    #[test]
    fn an_alert_is_never_hidden_by_an_allow_and_exact_beats_fuzzy() {
        let m = matcher(vec![
            entry("AB12", "lez", Action::Allow, None),
            entry("A812", "stolen", Action::Alert, None),
        ]);
        let v = m.check("AB12", now(), 1);
        assert!(v.is_hit(), "an exact allow does not hide a fuzzy alert: {v:?}");
        assert_eq!(v.matched().map(|h| (h.list.as_str(), h.distance)), Some(("stolen", 1)));
        assert!(
            matches!(m.check("AB12", now(), 0), Verdict::Allow(_)),
            "at tolerance 0 only the allow matches"
        );
        // allow entries match exactly only.
        assert_eq!(m.check("A812", now(), 1).matched().map(|h| h.action), Some(Action::Alert));
        let lez = matcher(vec![entry("AB12", "lez", Action::Allow, None)]);
        assert_eq!(lez.check("A812", now(), 3), Verdict::NoMatch);

        let m = matcher(vec![
            entry("A812", "fuzzy-first", Action::Alert, None),
            entry("AB12", "exact", Action::Alert, None),
            entry("AB12", "exact-later", Action::Alert, None),
            entry("A8I2", "two-away", Action::Alert, None),
        ]);
        assert_eq!(
            m.check("AB12", now(), 2).matched().map(|h| (h.list.as_str(), h.match_kind)),
            Some(("exact", MatchKind::Exact))
        );
        assert_eq!(
            m.check("ABI2", now(), 2).matched().map(|h| (h.list.as_str(), h.distance)),
            Some(("exact", 1))
        );
    }

    #[test]
    fn the_match_reports_the_listing_and_the_version() {
        let mut e = entry("ZZ99", "wanted-list", Action::Alert, None);
        e.category = "wanted".into();
        e.note = Some("armed".into());
        let v = matcher(vec![e]).check("zz-99", now(), 1);
        let want = HotlistMatch {
            list: "wanted-list".into(),
            category: "wanted".into(),
            action: Action::Alert,
            plate: Some("ZZ99".into()),
            match_kind: MatchKind::Exact,
            distance: 0,
            note: Some("armed".into()),
            list_version: "t1".into(),
        };
        assert_eq!(v, Verdict::Alert(want));
    }

    #[test]
    fn the_index_agrees_with_a_scan_over_random_plates() {
        // A tiny deterministic generator: the index must find exactly what a full scan finds.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        const ALPHABET: &[u8] = b"0O1IL8B5S2Z6GDQAX";
        let mut plate = |n: usize| {
            (0..n)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char)
                .collect::<String>()
        };
        let entries: Vec<Entry> = (0..400)
            .map(|i| entry(&plate(3 + i % 3), &format!("l{i}"), Action::Alert, None))
            .collect();
        let m = matcher(entries.clone());
        for i in 0..2000 {
            let read = plate(2 + i % 5);
            for tolerance in [0, 1, 2] {
                let scan = entries
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| {
                        distance(&read, &e.plate).filter(|&d| d <= tolerance).map(|d| (d, i))
                    })
                    .min();
                let got = m.check(&read, now(), tolerance);
                assert_eq!(
                    got.matched().map(|h| h.distance),
                    scan.map(|(d, _)| d),
                    "{read} at {tolerance}"
                );
                assert_eq!(
                    got.matched().map(|h| h.list.clone()),
                    scan.map(|(_, i)| entries[i].list.clone()),
                    "{read} at {tolerance}"
                );
            }
        }
    }
}
