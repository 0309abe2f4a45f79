//! A V4L2 camera: the unit's own eye. Opened by path, a mode negotiated from what the device
//! offers, frames converted to RGB, numbered by the driver and timed at capture; a camera that
//! disappears (a loose USB cable, a driver reset) is reopened, and numbering goes on.
//!
//! `device` talks to the driver; `negotiate`, `convert`, `mjpeg` and `timeline` are pure and
//! tested without a camera; `tests/v4l2_vm.rs` tests the whole on a real V4L2 driver.

pub mod convert;
mod device;
mod mjpeg;
pub mod negotiate;
mod timeline;

use super::reconnect::Reconnect;
use super::{FrameError, FrameSource, OpenError};
use crate::config_issue::ConfigIssue;
use crate::frame::Frame;
use crate::shutdown::Shutdown;
use device::Capture;
use negotiate::{FourCc, Interval, Mode};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use timeline::Timeline;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraConfig {
    /// The size asked for; the closest one the camera offers is taken.
    pub width: u32,
    pub height: u32,
    /// Frames per second asked for; the closest rate the camera offers in that mode is taken.
    pub fps: u32,
    /// Pixel formats to ask for, most wanted first (MJPG, YUYV and RGB3 are converted).
    pub formats: Vec<String>,
    /// Driver buffers (memory-mapped) between the camera and us.
    pub buffers: u32,
    /// Floor of the wait before reopening a camera that went away; the wait's ceiling doubles
    /// with each failed attempt up to `reopen_max_ms`, each wait drawn at random under it.
    pub reopen_min_ms: u64,
    pub reopen_max_ms: u64,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            width: 1920,
            height: 1080,
            fps: 25,
            formats: vec!["MJPG".into(), "YUYV".into()],
            buffers: 4,
            reopen_min_ms: 500,
            reopen_max_ms: 10_000,
        }
    }
}

impl CameraConfig {
    /// What is wrong with `[source.camera]`, keys relative to it.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        for (key, value) in [("width", self.width), ("height", self.height), ("fps", self.fps)] {
            if value == 0 {
                issues.push(ConfigIssue::new(key, "is 0", "must be above 0"));
            }
        }
        if self.formats.is_empty() {
            issues.push(ConfigIssue::new(
                "formats",
                "is empty",
                "list at least one of MJPG, YUYV, RGB3",
            ));
        }
        for bad in self.formats.iter().filter(|f| FourCc::parse(f).is_none()) {
            issues.push(ConfigIssue::new(
                "formats",
                format!("`{bad}` is not a four-character V4L2 format code"),
                "use codes such as MJPG or YUYV",
            ));
        }
        if !(2..=32).contains(&self.buffers) {
            issues.push(ConfigIssue::new(
                "buffers",
                format!("{} is outside 2..32", self.buffers),
                "must be 2 to 32",
            ));
        }
        if self.reopen_min_ms == 0 || self.reopen_min_ms > self.reopen_max_ms {
            issues.push(ConfigIssue::new(
                "reopen_min_ms",
                "is 0 or above reopen_max_ms",
                "must be above 0 and at most reopen_max_ms",
            ));
        }
        issues
    }
}

/// CLOCK_MONOTONIC, the clock V4L2 drivers timestamp frames on.
fn monotonic_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// A V4L2 camera as a frame source.
///
/// Reopening policy: when capturing fails (the device is gone: ENODEV, EIO; or it delivered
/// nothing for several frame intervals), that call returns an error and the device is closed.
/// Each later call waits, then makes ONE attempt to open it again and returns an error if that
/// fails; the wait (jittered, `backoff.rs`) starts at `reopen_min_ms` and grows up to
/// `reopen_max_ms`, and goes back to the minimum once a frame arrives. So a call never blocks longer than `reopen_max_ms` plus
/// one open, or the stall timeout while streaming, and the caller sees every failed attempt
/// (and may stop).
pub struct CameraSource {
    path: PathBuf,
    description: String,
    config: CameraConfig,
    capture: Option<Capture>,
    timeline: Timeline,
    reconnect: Reconnect,
}

impl CameraSource {
    /// Opens the camera; a path that is not a capture device is an error here, at start.
    pub fn open(path: &Path, config: CameraConfig) -> Result<Self, OpenError> {
        let open_error = |detail: String| OpenError::Camera { path: path.to_path_buf(), detail };
        if let Some(issue) = config.issues().into_iter().next() {
            return Err(open_error(issue.under("source.camera").to_string()));
        }
        let capture = Capture::open(path, &config).map_err(|e| open_error(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            description: path.display().to_string(),
            reconnect: Reconnect::new(config.reopen_min_ms, config.reopen_max_ms),
            config,
            capture: Some(capture),
            timeline: Timeline::new(monotonic_now()),
        })
    }

    /// The negotiated mode, while the camera is open.
    pub fn mode(&self) -> Option<Mode> {
        self.capture.as_ref().map(|c| c.mode)
    }

    /// The frame interval the camera took, while it is open and when its driver says.
    pub fn interval(&self) -> Option<Interval> {
        self.capture.as_ref().and_then(|c| c.interval)
    }

    fn error(&self, seq: u64, reason: String) -> Option<Result<Frame, FrameError>> {
        Some(Err(FrameError { origin: self.description.clone(), seq, reason }))
    }

    fn reopen(&mut self) -> Result<(), String> {
        let capture = Capture::open(&self.path, &self.config)
            .map_err(|e| format!("the camera is away, reopening failed: {e}"))?;
        tracing::info!(camera = %self.description, "camera reopened");
        self.capture = Some(capture);
        self.timeline.restart();
        Ok(())
    }
}

impl FrameSource for CameraSource {
    fn describe(&self) -> &str {
        &self.description
    }

    fn len_hint(&self) -> Option<u64> {
        None
    }

    fn is_live(&self) -> bool {
        true
    }

    fn watch(&mut self, shutdown: &Shutdown) {
        self.reconnect.watch(shutdown);
    }

    /// Ends only when the unit stops; see the reopening policy on [`CameraSource`]. An error that happens before
    /// the driver numbered a frame carries the number the next frame will get.
    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        if self.capture.is_none() {
            if !self.reconnect.wait() {
                return None;
            }
            if let Err(reason) = self.reopen() {
                return self.error(self.timeline.next_seq(), reason);
            }
        }
        let capture = self.capture.as_mut()?;
        let (mode, stride) = (capture.mode, capture.stride);
        let buffer = match capture.next() {
            Ok(buffer) => buffer,
            Err(e) => {
                let reason = match e.kind() {
                    std::io::ErrorKind::TimedOut => {
                        "the camera delivered no frame in time; it hangs, reopening".to_string()
                    }
                    _ => format!("capture failed ({e}); the camera went away, reopening"),
                };
                self.capture = None;
                return self.error(self.timeline.next_seq(), reason);
            }
        };
        self.reconnect.reset();
        let seq = self.timeline.number(buffer.sequence);
        let (monotonic, captured_at) =
            self.timeline.time(buffer.timestamp, monotonic_now(), SystemTime::now());
        if buffer.damaged {
            return Some(Err(FrameError {
                origin: self.description.clone(),
                seq,
                reason: "the driver flagged the frame as damaged".into(),
            }));
        }
        let image = match &mode.fourcc.0 {
            b"YUYV" => convert::yuyv_to_rgb(buffer.data, mode.width, mode.height, stride),
            b"RGB3" => convert::rgb24_to_rgb(buffer.data, mode.width, mode.height, stride),
            // negotiate picks only convertible formats, and MJPG is the one left.
            _ => convert::mjpeg_to_rgb(buffer.data),
        };
        Some(match image {
            Ok(image) => Ok(Frame {
                seq,
                media_time: None,
                captured_at,
                monotonic,
                origin: self.description.clone(),
                image,
            }),
            Err(e) => {
                Err(FrameError { origin: self.description.clone(), seq, reason: e.to_string() })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_value_names_its_key() {
        let key = |c: CameraConfig| c.issues()[0].clone().under("source").key;
        assert_eq!(key(CameraConfig { fps: 0, ..CameraConfig::default() }), "source.fps");
        assert_eq!(key(CameraConfig { height: 0, ..CameraConfig::default() }), "source.height");
        assert_eq!(
            key(CameraConfig { formats: vec!["MJPEG".into()], ..CameraConfig::default() }),
            "source.formats"
        );
        assert_eq!(key(CameraConfig { buffers: 1, ..CameraConfig::default() }), "source.buffers");
        assert_eq!(
            key(CameraConfig { reopen_min_ms: 20_000, ..CameraConfig::default() }),
            "source.reopen_min_ms"
        );
        assert!(CameraConfig::default().issues().is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<CameraConfig>("width = 640\nframerate = 30\n")
            .expect_err("unknown key");
        assert!(e.to_string().contains("framerate"), "{e}");
    }

    #[test]
    fn paths_that_are_no_camera_are_refused_with_what_is_wrong() {
        let open = |path: &Path| match CameraSource::open(path, CameraConfig::default()) {
            Ok(_) => panic!("{} opened as a camera", path.display()),
            Err(e) => e.to_string(),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = open(&dir.path().join("video9"));
        assert!(
            missing.contains("video9") && missing.contains("No such file or device"),
            "{missing}"
        );
        let file = dir.path().join("notes.txt");
        std::fs::write(&file, "x").expect("write");
        let file = open(&file);
        assert!(
            file.contains("notes.txt")
                && file.contains("is not a device file (it is a regular file)"),
            "{file}"
        );
        let folder = open(dir.path());
        assert!(folder.contains("(it is a folder)"), "{folder}");
        let null = open(Path::new("/dev/null"));
        assert!(null.starts_with("/dev/null: is not a V4L2 device"), "{null}");
    }
}
