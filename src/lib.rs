//! anpr-edge: the software of an edge ANPR (automatic number plate recognition) unit.
//!
//! One module per stage of the unit's data flow, and one per thing the stages share. Which
//! module does what, the data flow from frame to MQTT, and which module may import which:
//! ARCHITECTURE.md, the one map of the code (`tests/layers.rs` holds the code to it).

pub mod allocator;
pub mod backoff;
pub mod clock;
pub mod config;
pub mod config_issue;
pub mod control;
pub mod control_agent;
pub mod daemon;
pub mod detect;
pub mod device_id;
pub mod digest;
pub mod eval;
pub mod frame;
pub mod fuse;
pub mod geometry;
pub mod health;
pub mod histogram;
pub mod hotlist;
pub mod imaging;
pub mod message;
pub mod models;
pub mod ocr;
pub mod outgoing;
pub mod pipeline;
pub mod plate;
pub mod plate_format;
pub mod position;
pub mod privacy;
pub mod privacy_sheet;
pub mod publish;
pub mod read_record;
pub mod read_signing;
pub mod recognizer;
pub mod replay;
pub mod roi;
pub mod runtime;
pub mod service;
pub mod shutdown;
pub mod signing;
pub mod small_file;
pub mod source;
pub mod spool;
pub mod sync;
pub mod time_format;
pub mod worker;
