//! The configuration parser on any text an operator (or a broken disk) could leave in
//! /etc/anpr-edge/anpr-edge.toml: a configuration or an error naming the file, never a panic.
#![no_main]

use anpr_edge::config::Config;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

const PATH: &str = "/etc/anpr-edge/anpr-edge.toml";

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Err(error) = Config::parse(text, Path::new(PATH)) {
        assert!(error.to_string().contains(PATH), "an error that does not name the file: {error}");
    }
});
