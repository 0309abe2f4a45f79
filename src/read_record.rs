//! The read record: what the unit says about one vehicle, as it leaves the device.
//!
//! Versioned (`schema`), documented in docs/read-record.md and in `schema/read.schema.json`; a test
//! checks that every record the code builds validates against that file, so the two cannot
//! drift apart.

use crate::device_id::{CameraId, DeviceId};
use crate::fuse::{Direction, FusedRead};
use crate::geometry::BoundingBox;
use crate::hotlist::AlertLevel;
use crate::position::Position;
use crate::privacy::{Disposition, PublishedPlate};
use crate::time_format::rfc3339_ms;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

pub const SCHEMA: &str = "anpr-edge/read/3";

/// The JSON Schema of [`ReadRecord`], shipped with the binary.
pub const JSON_SCHEMA: &str = include_str!("../schema/read.schema.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
}

/// Where an image of the read is, and how to check it is the one meant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRef {
    /// The MQTT topic the JPEG is published on (raw bytes, same read id in the topic).
    pub topic: String,
    pub sha256: String,
    pub bytes: usize,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Images {
    pub overview: Option<ImageRef>,
    pub plate: Option<ImageRef>,
    /// A hit's context: frames from before and after its best one, oldest first.
    #[serde(default)]
    pub context: Vec<ContextImageRef>,
}

/// A context frame of a hit, and when it was taken relative to the best frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextImageRef {
    /// Milliseconds from the best frame (negative: before it).
    pub offset_ms: i64,
    #[serde(flatten)]
    pub image: ImageRef,
}

/// What a record reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// A confirmed hit raised from the frames of a vehicle still in view, ahead of fusion; the
    /// vehicle's own read follows with the same `vehicle_id`.
    Alert,
    /// One vehicle, fused over every frame it was read on.
    Vehicle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadRecord {
    pub schema: String,
    /// Unique, and the same on every retry of this read: consumers deduplicate by it.
    pub read_id: String,
    /// `alert` (early, from the frames so far) or `vehicle` (the fused read).
    pub report: Report,
    /// The vehicle the record is about: an alert and its vehicle's read share it.
    pub vehicle_id: String,
    pub device_id: DeviceId,
    pub camera_id: CameraId,
    pub site: Site,
    /// Why the unit reads plates (`privacy.purpose`).
    pub purpose: String,
    /// UTC time of the frame the reported text was best read on (RFC 3339, ms).
    pub captured_at: String,
    pub first_seen: String,
    pub last_seen: String,
    pub plate: PublishedPlate,
    /// The plate on the best frame, in its pixels.
    pub bbox: BoundingBox,
    /// Number of the best frame within its source.
    pub frame: u64,
    /// Frames the vehicle was read on, and how many of them read the reported text.
    pub frames: u32,
    pub agreeing_frames: u32,
    pub direction: Option<Direction>,
    /// What the hotlist made of the read; it decides what else the record carries.
    pub disposition: Disposition,
    /// `disposition == "hit"`: the plate matched a hotlist entry with action "alert".
    pub hit: bool,
    /// The hotlist entry the read matched (alert or allow), or null.
    pub hotlist: Option<crate::hotlist::HotlistMatch>,
    /// A hit's grade under the alert policy (`confirmed` or `possible`), or null.
    pub alert_level: Option<AlertLevel>,
    /// On a vehicle's read: the `read_id` of the alert it raised earlier, or null. A vehicle
    /// with an alert raises no second one: its read is not sent on the hits topic again.
    pub alert_id: Option<String>,
    pub images: Images,
    /// Where the unit was when the read was made (gpsd, or the configured site), or null.
    pub position: Option<Position>,
    /// Whether the system clock was synchronised when the read was made: a false here means
    /// the timestamps may be wrong.
    pub clock_synchronised: bool,
    /// The unit's Ed25519 signature over the canonical record (`read_signing.rs`), when the
    /// unit has a `[signing]` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<ReadSignature>,
}

/// What a record reports, and the records it links to.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub report: Report,
    pub vehicle_id: String,
    /// On a vehicle's read: the alert the vehicle raised earlier.
    pub alert_id: Option<String>,
    /// A hit's grade under the alert policy.
    pub alert_level: Option<AlertLevel>,
}

/// Who signed a read, and the signature (base64) over its canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadSignature {
    /// Always `Ed25519`.
    pub alg: String,
    /// `signing::key_id` of the public key that verifies it.
    pub key_id: String,
    pub value: String,
}

/// Who and where the unit is: the same on every record.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub device_id: DeviceId,
    pub camera_id: CameraId,
    pub site: Site,
    pub purpose: String,
}

/// What the pipeline keeps with a fused read's best frame: its wall-clock time and monotonic
/// time, so first/last seen can be given in UTC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameTimes {
    pub captured_at: SystemTime,
    pub monotonic: Duration,
}

/// Wall time of a monotonic instant, anchored on a frame whose both times are known.
fn wall_time(anchor: FrameTimes, monotonic: Duration) -> SystemTime {
    if monotonic >= anchor.monotonic {
        anchor.captured_at + (monotonic - anchor.monotonic)
    } else {
        anchor.captured_at - (anchor.monotonic - monotonic)
    }
}

impl ReadRecord {
    /// `plate` is what `privacy::policy` let out of `fused.best.plate` for `disposition`.
    /// The record's images are added by the caller, once encoded under this id.
    pub fn new<P>(
        read_id: String,
        link: Link,
        identity: &Identity,
        fused: &FusedRead<P>,
        times: FrameTimes,
        plate: PublishedPlate,
        disposition: Disposition,
    ) -> Self {
        let best = &fused.best;
        Self {
            schema: SCHEMA.to_string(),
            read_id,
            report: link.report,
            vehicle_id: link.vehicle_id,
            device_id: identity.device_id.clone(),
            camera_id: identity.camera_id.clone(),
            site: identity.site.clone(),
            purpose: identity.purpose.clone(),
            captured_at: rfc3339_ms(times.captured_at),
            first_seen: rfc3339_ms(wall_time(times, fused.first_seen)),
            last_seen: rfc3339_ms(wall_time(times, fused.last_seen)),
            plate,
            bbox: best.bbox,
            frame: fused.best_frame,
            frames: fused.frames,
            agreeing_frames: fused.agreeing_frames,
            direction: fused.direction,
            disposition,
            hit: disposition == Disposition::Hit,
            hotlist: None,
            alert_level: link.alert_level,
            alert_id: link.alert_id,
            images: Images::default(),
            position: None,
            clock_synchronised: false,
            signature: None,
        }
    }
}

/// A new read id: a UUIDv7, so ids sort by creation time and never repeat across reboots.
pub fn new_read_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
