//! The hotlist parser on any bytes, as CSV or JSON (the first byte chooses): a list or an
//! error, never a panic; and every entry of a list it accepts is found by the matcher, exactly,
//! while it has not expired (what the operator listed is what the unit looks for).
#![no_main]

use anpr_edge::hotlist::{Action, Format, Hotlist, MatchKind, Matcher, Verdict};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, SystemTime};

fuzz_target!(|bytes: &[u8]| {
    let Some((&choice, body)) = bytes.split_first() else { return };
    let format = if choice % 2 == 0 { Format::Csv } else { Format::Json };
    let Ok(list) = Hotlist::parse(body, format) else { return };
    let entries = list.entries.clone();
    let matcher = Matcher::new(list);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for entry in entries.iter().filter(|e| e.expires.is_none_or(|t| t > now)) {
        let verdict = matcher.check(&entry.plate, now, 0);
        let matched = verdict
            .matched()
            .unwrap_or_else(|| panic!("{} is listed but does not match", entry.plate));
        assert_eq!(matched.match_kind, MatchKind::Exact, "{}", entry.plate);
        if entry.action == Action::Alert {
            assert!(
                matches!(verdict, Verdict::Alert(_)),
                "an alert entry {} is outranked",
                entry.plate
            );
        }
    }
});
