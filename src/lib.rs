//! anpr-edge: the software of an edge ANPR (automatic number plate recognition) unit.
//!
//! The modules follow the data flow of the unit, one stage per module:
//!
//! `source` (frames in) → `detect` (plate boxes) → `ocr` (plate text) →
//! `plate_format` (country formats, confusable characters) → `recognizer` (one frame, all plates
//! in the regions of interest of `roi`) → `fuse` (one read per vehicle) → `hotlist` (the
//! verdict) → `privacy` (what may leave the device: blur, pseudonyms, retention) → `publish`
//! (outbox and MQTT) backed by `spool` (on disk).
//! `pipeline` runs them as threads and bounded queues; `daemon` and `config` start it.
//!
//! Around them: `read_record` (what leaves the device), `read_signing` and `signing` (tamper
//! evidence), `position` and `clock` (where and when a read was made), `health` (metrics);
//! `runtime` and `models` load ONNX Runtime and the model files; `replay` and `eval` drive the
//! stages over recorded material; `control` decides on the centre's signed commands and
//! `control_agent` carries them out.

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
