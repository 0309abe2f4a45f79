//! An open V4L2 capture device, streaming: checking that a path is one, setting the mode
//! `negotiate` chose from what the driver offers, and handing out memory-mapped buffers. This
//! is the only part of the camera source that talks to the driver.

use super::negotiate::{
    self, FormatOffer, FourCc, Interval, IntervalOffer, Mode, NoMode, SizeOffer,
};
use super::CameraConfig;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::Duration;
use v4l::buffer::{Flags, Type};
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture as _;
use v4l::Device;

/// Why a path gives no camera. Each names what is wrong and what to do; the path itself is
/// added by the caller.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("No such file or device; is the camera plugged in and the path right? (`ls /dev/video*` lists the cameras)")]
    Missing,
    #[error("permission denied; run as a member of the `video` group (the systemd unit allows char-video4linux)")]
    PermissionDenied,
    #[error("cannot be read: {0}")]
    Inaccessible(io::Error),
    #[error(
        "is not a device file (it is a {kind}); give a V4L2 capture device such as /dev/video0"
    )]
    NotADevice { kind: &'static str },
    #[error("cannot be opened: {0}")]
    Open(io::Error),
    #[error("is not a V4L2 device (it does not answer VIDIOC_QUERYCAP: {0}); give a camera node such as /dev/video0")]
    NotV4l2(io::Error),
    #[error("is {card} ({driver}), which cannot capture video (a metadata or output node); a camera often has several /dev/video* nodes: try the next one")]
    NotCapture { card: String, driver: String },
    #[error("is {card} ({driver}), which cannot stream frames through memory-mapped buffers; this camera is not supported")]
    NoStreaming { card: String, driver: String },
    #[error("{0}")]
    NoMode(#[from] NoMode),
    #[error("the driver refused the mode: asked for {wanted}, it set {set}; list another format in source.camera.formats")]
    Refused { wanted: FourCc, set: String },
    #[error("{what} failed: {source}")]
    Driver { what: &'static str, source: io::Error },
}

fn driver(what: &'static str) -> impl FnOnce(io::Error) -> DeviceError {
    move |source| DeviceError::Driver { what, source }
}

/// A camera giving frames. Dropping it stops streaming, unmaps the buffers and closes the device.
pub struct Capture {
    /// `Option` only so that `drop` can take it out (see there).
    stream: Option<Stream<'static>>,
    pub mode: Mode,
    /// Bytes per row as the driver lays frames out (rows may be padded).
    pub stride: u32,
    /// The frame interval the driver took, when it says.
    pub interval: Option<Interval>,
}

/// One frame as the driver delivered it.
pub struct Buffer<'a> {
    pub data: &'a [u8],
    pub sequence: u32,
    /// When the driver captured the frame, on CLOCK_MONOTONIC; `None` when its timestamps are
    /// on another clock (a copied or unknown timestamp) or missing.
    pub timestamp: Option<Duration>,
    /// The driver flagged the frame as damaged (a USB transfer error, a lost packet).
    pub damaged: bool,
}

/// How long a frame may take before the camera counts as hung: several frame intervals, and
/// never less than this, as a camera in the dark may slow its rate to lengthen exposure.
const MIN_STALL: Duration = Duration::from_secs(5);

fn check_path(path: &Path) -> Result<(), DeviceError> {
    let metadata = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => DeviceError::Missing,
        io::ErrorKind::PermissionDenied => DeviceError::PermissionDenied,
        _ => DeviceError::Inaccessible(e),
    })?;
    let file_type = metadata.file_type();
    let kind = if file_type.is_char_device() {
        return Ok(());
    } else if file_type.is_dir() {
        "folder"
    } else if file_type.is_file() {
        "regular file"
    } else if file_type.is_block_device() {
        "block device"
    } else {
        "special file"
    };
    Err(DeviceError::NotADevice { kind })
}

/// What the device offers, as plain data for [`negotiate::choose`]. A format whose sizes cannot
/// be listed (the ioctl is optional) is offered with no sizes.
fn offers(device: &Device) -> io::Result<Vec<FormatOffer>> {
    let mut offers = Vec::new();
    for format in device.enum_formats()? {
        let sizes = device
            .enum_framesizes(format.fourcc)
            .unwrap_or_default()
            .into_iter()
            .map(|s| match s.size {
                v4l::framesize::FrameSizeEnum::Discrete(d) => {
                    SizeOffer::Discrete { width: d.width, height: d.height }
                }
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

/// The frame intervals offered for one mode; empty when the driver does not list them.
fn interval_offers(device: &Device, mode: Mode) -> Vec<IntervalOffer> {
    let interval =
        |f: v4l::Fraction| Interval { numerator: f.numerator, denominator: f.denominator };
    device
        .enum_frameintervals(v4l::FourCC::new(&mode.fourcc.0), mode.width, mode.height)
        .unwrap_or_default()
        .into_iter()
        .map(|i| match i.interval {
            v4l::frameinterval::FrameIntervalEnum::Discrete(d) => {
                IntervalOffer::Discrete(interval(d))
            }
            v4l::frameinterval::FrameIntervalEnum::Stepwise(s) => {
                IntervalOffer::Stepwise { min: interval(s.min), max: interval(s.max) }
            }
        })
        .collect()
}

impl Capture {
    /// Opens `path`, sets the mode and maps the buffers; streaming starts with the first frame.
    pub fn open(path: &Path, config: &CameraConfig) -> Result<Self, DeviceError> {
        check_path(path)?;
        let device = Device::with_path(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => DeviceError::Missing,
            io::ErrorKind::PermissionDenied => DeviceError::PermissionDenied,
            _ => DeviceError::Open(e),
        })?;
        let caps = device.query_caps().map_err(DeviceError::NotV4l2)?;
        let (card, driver_name) = (caps.card.clone(), caps.driver.clone());
        if !caps.capabilities.contains(v4l::capability::Flags::VIDEO_CAPTURE) {
            return Err(DeviceError::NotCapture { card, driver: driver_name });
        }
        if !caps.capabilities.contains(v4l::capability::Flags::STREAMING) {
            return Err(DeviceError::NoStreaming { card, driver: driver_name });
        }
        let offered = offers(&device).map_err(driver("listing the formats (VIDIOC_ENUM_FMT)"))?;
        let preferred: Vec<FourCc> =
            config.formats.iter().filter_map(|f| FourCc::parse(f)).collect();
        let mode = negotiate::choose(&offered, &preferred, config.width, config.height)?;

        let mut format = device.format().map_err(driver("reading the format (VIDIOC_G_FMT)"))?;
        format.width = mode.width;
        format.height = mode.height;
        format.fourcc = v4l::FourCC::new(&mode.fourcc.0);
        // Left as read, the previous mode's row stride would be kept by drivers that honour a
        // larger one (vivid does): zero asks for the natural one.
        (format.stride, format.size) = (0, 0);
        let set =
            device.set_format(&format).map_err(driver("setting the format (VIDIOC_S_FMT)"))?;
        if set.fourcc.repr != mode.fourcc.0 {
            return Err(DeviceError::Refused {
                wanted: mode.fourcc,
                set: format!("{} {}x{}", set.fourcc, set.width, set.height),
            });
        }
        // A driver may round the size (to its alignment); frames come at the size it set.
        let mode = Mode { width: set.width, height: set.height, ..mode };

        let wanted = negotiate::closest_interval(&interval_offers(&device, mode), config.fps)
            .unwrap_or(Interval::per_second(config.fps));
        let fraction = v4l::Fraction::new(wanted.numerator, wanted.denominator);
        let interval = match device.set_params(&v4l::video::capture::Parameters::new(fraction)) {
            Ok(params) if params.interval.numerator > 0 && params.interval.denominator > 0 => {
                Some(Interval {
                    numerator: params.interval.numerator,
                    denominator: params.interval.denominator,
                })
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(camera = %path.display(), error = %e, "the camera does not take a frame rate; it runs at its own");
                None
            }
        };
        if let Some(got) = interval.filter(|i| (i.fps() - f64::from(config.fps)).abs() > 0.5) {
            tracing::warn!(camera = %path.display(), wanted = config.fps, %got, "the camera cannot run at the configured rate in this mode");
        }

        let mut stream = Stream::with_buffers(&device, Type::VideoCapture, config.buffers)
            .map_err(driver("mapping the capture buffers (VIDIOC_REQBUFS)"))?;
        let period =
            interval.map_or(Duration::ZERO, |i| Duration::from_secs_f64(1.0 / i.fps().max(0.01)));
        stream.set_timeout((period * 5).clamp(MIN_STALL, Duration::from_secs(600)));
        tracing::info!(camera = %path.display(), %card, driver = %driver_name, ?mode, stride = set.stride, interval = ?interval, "camera streaming");
        Ok(Self { stream: Some(stream), mode, stride: set.stride, interval })
    }

    /// The next frame, waiting for it at most the stall timeout. Any error leaves the stream
    /// unusable (the crate's buffer bookkeeping is then out of step with the driver): drop it
    /// and open the camera again.
    pub fn next(&mut self) -> io::Result<Buffer<'_>> {
        let stream =
            self.stream.as_mut().ok_or_else(|| io::Error::other("the stream is closed"))?;
        let (data, meta) = CaptureStream::next(stream)?;
        let used = (meta.bytesused as usize).min(data.len());
        let monotonic = (meta.flags & Flags::TIMESTAMP_MASK) == Flags::TIMESTAMP_MONOTONIC;
        let timestamp = (monotonic && meta.timestamp.sec > 0).then(|| {
            Duration::new(
                meta.timestamp.sec.max(0) as u64,
                (meta.timestamp.usec.clamp(0, 999_999) * 1000) as u32,
            )
        });
        Ok(Buffer {
            data: &data[..used],
            sequence: meta.sequence,
            timestamp,
            damaged: meta.flags.contains(Flags::ERROR),
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // The v4l crate panics in its own drop when stopping the stream or unmapping fails with
        // anything but ENODEV, which a camera dying in other ways (EIO) can cause. A camera
        // going away must cost frames, never the capture thread.
        if let Some(stream) = self.stream.take() {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(stream))).is_err()
            {
                tracing::warn!("the camera could not be closed cleanly; its buffers may stay mapped until exit");
            }
        }
    }
}
