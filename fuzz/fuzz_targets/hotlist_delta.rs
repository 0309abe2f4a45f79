//! The hotlist delta parser on any bytes: a delta or an error, never a panic; and a delta it
//! accepts, applied to a small list, either makes a valid list of the delta's version or is
//! refused as a whole, and the delta between the base and that list applies to give it again.
#![no_main]

use anpr_edge::hotlist::{Delta, Format, Hotlist};
use libfuzzer_sys::fuzz_target;

const BASE: &str = "version,1\nplate,list,category,action,expires,note\n1ABC234,police,stolen,alert,,\n2XYZ789,lez,lez-exempt,allow,,\n";

fuzz_target!(|bytes: &[u8]| {
    let Ok(delta) = Delta::parse(bytes) else { return };
    let Ok(base) = Hotlist::parse(BASE.as_bytes(), Format::Csv) else { return };
    let Ok(made) = delta.apply(&base) else { return };
    assert_eq!(made.version, delta.version);
    let again = Delta::between(&base, &made).apply(&base).expect("the diff applies to its base");
    assert_eq!(again.version, made.version);
    let key = |l: &Hotlist| {
        let mut e: Vec<_> = l.entries.iter().map(|e| format!("{e:?}")).collect();
        e.sort();
        e
    };
    assert_eq!(key(&again), key(&made), "the diff of base and made makes made");
});
