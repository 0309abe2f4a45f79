//! The spool's record decoder on whatever a segment file holds after a power cut or a bad
//! disk: the scan never panics, never claims more than it was given, and every record it
//! keeps encodes back to a frame that scans to the same record (what recovery replays is
//! exactly what was written).
#![no_main]

use anpr_edge::spool::record::{scan, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let found = scan(bytes);
    assert!(found.valid_len <= bytes.len());
    assert!(found.corrupt_bytes <= bytes.len());
    for record in &found.records {
        let frame = record.encode().expect("a decoded record is encodable");
        let again: Vec<Record> = scan(&frame).records;
        assert_eq!(again.as_slice(), std::slice::from_ref(record));
    }
});
