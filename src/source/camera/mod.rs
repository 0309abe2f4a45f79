//! A V4L2 camera: the unit's own eye. Opened by path, a mode negotiated from what the device
//! offers, frames converted to RGB, numbered by the driver and timed at capture; a camera that
//! disappears (a loose USB cable, a driver reset) is reopened, and numbering goes on.

pub mod convert;
pub mod negotiate;

use super::{FrameError, FrameSource, OpenError};
use crate::backoff::Backoff;
use crate::frame::Frame;
use negotiate::{FormatOffer, FourCc, Mode, SizeOffer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::Device;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Pixel formats to ask for, most wanted first (MJPG, YUYV and RGB3 are converted).
    pub formats: Vec<String>,
    /// Driver buffers (memory-mapped) between the camera and us.
    pub buffers: u32,
    /// First wait before reopening a camera that went away; doubles up to `reopen_max_ms`.
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
    pub fn validate(&self) -> Result<(), (String, String)> {
        let problem = |key: &str, text: &str| Err((format!("source.{key}"), text.to_string()));
        if self.width == 0 || self.height == 0 || self.fps == 0 {
            return problem("width", "width, height and fps must be above 0");
        }
        if self.formats.is_empty() {
            return problem("formats", "list at least one of MJPG, YUYV, RGB3");
        }
        if let Some(bad) = self.formats.iter().find(|f| FourCc::parse(f).is_none()) {
            return Err(("source.formats".into(), format!("`{bad}` is not a four-character V4L2 format code such as MJPG or YUYV")));
        }
        if !(2..=32).contains(&self.buffers) {
            return problem("buffers", "must be 2 to 32");
        }
        if self.reopen_min_ms == 0 || self.reopen_min_ms > self.reopen_max_ms {
            return problem("reopen_min_ms", "must be above 0 and at most source.reopen_max_ms");
        }
        Ok(())
    }
}

struct Open {
    // Field order matters: the stream must be dropped (buffers unmapped) before the device.
    stream: Stream<'static>,
    _device: Device,
    mode: Mode,
    stride: u32,
}

pub struct CameraSource {
    path: PathBuf,
    description: String,
    config: CameraConfig,
    open: Option<Open>,
    /// Added to the driver's sequence numbers, which restart at 0 when the device is reopened,
    /// so that the numbers of this source never go back.
    seq_base: u64,
    next_seq: u64,
    started: Instant,
    backoff: Backoff,
}

fn open_error(path: &Path, detail: String) -> OpenError {
    OpenError::Camera { path: path.to_path_buf(), detail }
}

/// What the device offers, as plain data for [`negotiate::choose`].
fn offers(device: &Device) -> std::io::Result<Vec<FormatOffer>> {
    let mut offers = Vec::new();
    for format in device.enum_formats()? {
        let sizes = device
            .enum_framesizes(format.fourcc)?
            .into_iter()
            .map(|s| match s.size {
                v4l::framesize::FrameSizeEnum::Discrete(d) => SizeOffer::Discrete { width: d.width, height: d.height },
                v4l::framesize::FrameSizeEnum::Stepwise(s) => SizeOffer::Stepwise {
                    min_width: s.min_width,
                    max_width: s.max_width,
                    step_width: s.step_width,
                    min_height: s.min_height,
                    max_height: s.max_height,
                    step_height: s.step_height,
                },
            })
            .collect();
        offers.push(FormatOffer { fourcc: FourCc(format.fourcc.repr), sizes });
    }
    Ok(offers)
}

fn open_device(path: &Path, config: &CameraConfig) -> Result<Open, OpenError> {
    let metadata = std::fs::metadata(path).map_err(|e| open_error(path, format!("{e}")))?;
    {
        use std::os::unix::fs::FileTypeExt;
        if !metadata.file_type().is_char_device() {
            return Err(open_error(path, "is not a device file; give a V4L2 capture device such as /dev/video0".into()));
        }
    }
    let device = Device::with_path(path).map_err(|e| open_error(path, format!("cannot open: {e}")))?;
    let caps = device.query_caps().map_err(|e| open_error(path, format!("is not a V4L2 device: {e}")))?;
    if !caps.capabilities.contains(v4l::capability::Flags::VIDEO_CAPTURE) {
        return Err(open_error(path, format!("{} ({}) cannot capture video", caps.card, caps.driver)));
    }
    let offered = offers(&device).map_err(|e| open_error(path, format!("cannot list formats: {e}")))?;
    let preferred: Vec<FourCc> = config.formats.iter().filter_map(|f| FourCc::parse(f)).collect();
    let mode = negotiate::choose(&offered, &preferred, config.width, config.height).map_err(|e| open_error(path, e.to_string()))?;
    let mut format = device.format().map_err(|e| open_error(path, format!("cannot read the format: {e}")))?;
    format.width = mode.width;
    format.height = mode.height;
    format.fourcc = v4l::FourCC::new(&mode.fourcc.0);
    let set = device.set_format(&format).map_err(|e| open_error(path, format!("cannot set {}: {e}", mode.fourcc)))?;
    if set.fourcc.repr != mode.fourcc.0 || set.width != mode.width || set.height != mode.height {
        return Err(open_error(path, format!("asked for {} {}x{}, the driver set {} {}x{}", mode.fourcc, mode.width, mode.height, set.fourcc, set.width, set.height)));
    }
    match device.set_params(&v4l::video::capture::Parameters::with_fps(config.fps)) {
        Ok(params) => tracing::info!(camera = %path.display(), mode = ?mode, interval = %params.interval, "camera mode set"),
        Err(e) => tracing::warn!(camera = %path.display(), error = %e, "the camera does not take a frame rate; using its own"),
    }
    let stream = Stream::with_buffers(&device, Type::VideoCapture, config.buffers)
        .map_err(|e| open_error(path, format!("cannot map capture buffers: {e}")))?;
    Ok(Open { stream, _device: device, mode, stride: set.stride })
}

impl CameraSource {
    /// Opens the camera; a path that is not a capture device is an error here, at start.
    pub fn open(path: &Path, config: CameraConfig) -> Result<Self, OpenError> {
        config.validate().map_err(|(key, problem)| open_error(path, format!("{key}: {problem}")))?;
        let open = open_device(path, &config)?;
        Ok(Self {
            path: path.to_path_buf(),
            description: path.display().to_string(),
            backoff: Backoff::new(config.reopen_min_ms, config.reopen_max_ms),
            config,
            open: Some(open),
            seq_base: 0,
            next_seq: 0,
            started: Instant::now(),
        })
    }

    /// The negotiated mode, while the camera is open.
    pub fn mode(&self) -> Option<Mode> {
        self.open.as_ref().map(|o| o.mode)
    }

    fn lost(&mut self, reason: String) -> Option<Result<Frame, FrameError>> {
        self.open = None;
        self.seq_base = self.next_seq;
        Some(Err(FrameError { origin: self.description.clone(), seq: self.next_seq, reason }))
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

    /// Never ends. A camera that went away yields one error per reopening attempt, each after
    /// a backoff doubling up to `reopen_max_ms`, so a call blocks at most that long.
    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        if self.open.is_none() {
            std::thread::sleep(self.backoff.next_wait());
            match open_device(&self.path, &self.config) {
                Ok(open) => {
                    tracing::info!(camera = %self.description, "camera reopened");
                    self.open = Some(open);
                }
                Err(e) => return Some(Err(FrameError { origin: self.description.clone(), seq: self.next_seq, reason: format!("reopening: {e}") })),
            }
        }
        let open = self.open.as_mut()?;
        let (mode, stride) = (open.mode, open.stride);
        let (data, meta) = match CaptureStream::next(&mut open.stream) {
            Ok((data, meta)) => (data, *meta),
            Err(e) => return self.lost(format!("capture failed ({e}); the camera went away, reopening")),
        };
        let captured_at = SystemTime::now();
        let seq = self.seq_base + u64::from(meta.sequence);
        self.next_seq = seq + 1;
        self.backoff.reset();
        let used = &data[..(meta.bytesused as usize).min(data.len())];
        let image = match &mode.fourcc.0 {
            b"YUYV" => convert::yuyv_to_rgb(used, mode.width, mode.height, stride).map_err(|e| e.to_string()),
            b"RGB3" => convert::rgb24_to_rgb(used, mode.width, mode.height, stride).map_err(|e| e.to_string()),
            b"MJPG" => convert::mjpeg_to_rgb(used).map_err(|e| e.to_string()),
            _ => Err(format!("no conversion for {}", mode.fourcc)),
        };
        Some(match image {
            Ok(image) => Ok(Frame {
                seq,
                media_time: Some(Duration::new(meta.timestamp.sec.max(0) as u64, (meta.timestamp.usec.clamp(0, 999_999) * 1000) as u32)),
                captured_at,
                monotonic: self.started.elapsed(),
                origin: self.description.clone(),
                image,
            }),
            Err(reason) => Err(FrameError { origin: self.description.clone(), seq, reason }),
        })
    }
}
