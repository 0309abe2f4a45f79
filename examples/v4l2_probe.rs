//! Exercises the V4L2 camera source on a real device: the `vivid` virtual camera inside the VM
//! that `scripts/v4l2-vm/run.sh` boots (`tests/v4l2_vm.rs` runs it). Prints one line per check,
//! `V4L2TEST ok NAME …` or `V4L2TEST fail NAME …` (and `V4L2TEST info …`), and exits non-zero
//! if any check failed.
//!
//!   v4l2_probe [CAPTURE_NODE [OUTPUT_NODE]]   the checks (default /dev/video0, /dev/video1)
//!   v4l2_probe --record DIR [CAPTURE_NODE]    writes vivid's capability lists and a raw YUYV
//!                                             frame to DIR, for `testdata/v4l2/`
//!
//! The checks expect vivid as `run.sh` loads it (one instance, a capture and an output node,
//! the webcam input, its default 75 % colour bars) and need root to unbind it through sysfs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use anpr_edge::frame::Frame;
use anpr_edge::source::camera::negotiate::{FourCc, Interval, Mode};
use anpr_edge::source::{CameraConfig, CameraSource, FrameSource};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use v4l::video::Capture;

struct Report {
    failed: bool,
}

impl Report {
    fn check(&mut self, name: &str, ok: bool, detail: impl std::fmt::Display) {
        println!("V4L2TEST {} {name} {detail}", if ok { "ok" } else { "fail" });
        self.failed |= !ok;
    }
}

fn info(text: impl std::fmt::Display) {
    println!("V4L2TEST info {text}");
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;
const FPS: u32 = 25;

fn config(format: &str) -> CameraConfig {
    CameraConfig {
        width: WIDTH,
        height: HEIGHT,
        fps: FPS,
        formats: vec![format.into()],
        reopen_min_ms: 100,
        reopen_max_ms: 400,
        ..CameraConfig::default()
    }
}

/// vivid's default pattern: 75 % colour bars, white, yellow, cyan, green, magenta, red, blue,
/// black, left to right, each an eighth of the width (its text overlay covers the top rows).
const BARS: [(&str, [u8; 3]); 8] = [
    ("white", [191, 191, 191]),
    ("yellow", [191, 191, 0]),
    ("cyan", [0, 191, 191]),
    ("green", [0, 191, 0]),
    ("magenta", [191, 0, 191]),
    ("red", [191, 0, 0]),
    ("blue", [0, 0, 191]),
    ("black", [0, 0, 0]),
];

/// The centre of each bar, three quarters down the picture, must hold the bar's colour.
fn bars_look_right(image: &image::RgbImage, tolerance: u8) -> Result<String, String> {
    let bar = image.width() / 8;
    let y = image.height() * 3 / 4;
    let mut seen = Vec::new();
    let mut wrong = Vec::new();
    for (i, (name, rgb)) in BARS.iter().enumerate() {
        let px = image.get_pixel(bar * i as u32 + bar / 2, y).0;
        seen.push(format!("{name}={px:?}"));
        if px.iter().zip(rgb).any(|(a, b)| a.abs_diff(*b) > tolerance) {
            wrong.push(format!(
                "{name} at x={} is {px:?}, expected {rgb:?}",
                bar * i as u32 + bar / 2
            ));
        }
    }
    if wrong.is_empty() {
        Ok(seen.join(" "))
    } else {
        Err(wrong.join("; "))
    }
}

fn frames(source: &mut CameraSource, n: usize) -> Result<Vec<Frame>, String> {
    let mut frames = Vec::new();
    while frames.len() < n {
        match source.next_frame() {
            Some(Ok(frame)) => frames.push(frame),
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("the source ended".into()),
        }
    }
    Ok(frames)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// Negotiation, numbering, timing, size and colours of one format.
fn capture(report: &mut Report, device: &Path, format: &str) {
    let mut source = match CameraSource::open(device, config(format)) {
        Ok(source) => source,
        Err(e) => return report.check(&format!("open-{format}"), false, e),
    };
    let wanted = Mode {
        fourcc: FourCc::parse(format).unwrap_or(FourCc(*b"????")),
        width: WIDTH,
        height: HEIGHT,
    };
    let (mode, interval) = (source.mode(), source.interval());
    report.check(
        &format!("negotiate-{format}"),
        mode == Some(wanted) && interval == Some(Interval::per_second(FPS)),
        format!("{mode:?} {interval:?}"),
    );
    let opened = SystemTime::now();
    let frames = match frames(&mut source, 12) {
        Ok(frames) => frames,
        Err(e) => return report.check(&format!("capture-{format}"), false, e),
    };
    let seqs: Vec<u64> = frames.iter().map(|f| f.seq).collect();
    report.check(
        &format!("sequence-{format}"),
        seqs[0] == 0 && seqs.windows(2).all(|w| w[1] > w[0]),
        format!("{seqs:?}"),
    );
    let times: Vec<Duration> = frames.iter().map(|f| f.monotonic).collect();
    let steps: Vec<Duration> = times.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    let step = median(steps.clone());
    let period = Duration::from_secs(1) / FPS;
    report.check(
        &format!("monotonic-{format}"),
        times.windows(2).all(|w| w[1] > w[0]) && step > period * 7 / 10 && step < period * 13 / 10,
        format!(
            "{:?}..{:?}, median step {step:?} (period {period:?})",
            times[0],
            times[times.len() - 1]
        ),
    );
    let (earliest, now) = (opened - Duration::from_millis(100), SystemTime::now());
    let walls_ok = frames.windows(2).all(|w| w[1].captured_at > w[0].captured_at)
        && frames.iter().all(|f| f.captured_at >= earliest && f.captured_at <= now);
    report.check(
        &format!("wallclock-{format}"),
        walls_ok,
        "captured_at increases and lies within the capture",
    );
    let media = frames.iter().all(|f| f.media_time.is_none());
    report.check(&format!("media-time-{format}"), media, "None, as for every live source");
    let last = &frames[frames.len() - 1];
    report.check(
        &format!("size-{format}"),
        last.image.dimensions() == (WIDTH, HEIGHT),
        format!("{:?}", last.image.dimensions()),
    );
    match bars_look_right(&last.image, 8) {
        Ok(seen) => report.check(&format!("colours-{format}"), true, seen),
        Err(e) => report.check(&format!("colours-{format}"), false, e),
    }
}

/// A size and rate the camera does not offer give the closest it does.
fn closest(report: &mut Report, device: &Path) {
    let config = CameraConfig { width: 800, height: 600, fps: 1000, ..config("YUYV") };
    match CameraSource::open(device, config) {
        Ok(source) => {
            let (mode, interval) = (source.mode(), source.interval());
            let ok = mode.is_some_and(|m| (m.width, m.height) == (640, 480))
                && interval.is_some_and(|i| i.fps() >= 25.0);
            report.check(
                "negotiate-closest",
                ok,
                format!("800x600 at 1000 fps gave {mode:?} {interval:?}"),
            );
        }
        Err(e) => report.check("negotiate-closest", false, e),
    }
}

/// Paths that are no camera are refused, each with the path and what is wrong with it.
fn refusals(report: &mut Report, output_node: &Path) {
    let cases: [(&str, &Path, &str); 4] = [
        ("refuse-missing", Path::new("/dev/video77"), "No such file or device"),
        ("refuse-file", Path::new("/etc/hostname"), "is not a device file"),
        ("refuse-null", Path::new("/dev/null"), "is not a V4L2 device"),
        ("refuse-output", output_node, "cannot capture video"),
    ];
    for (name, path, needle) in cases {
        match CameraSource::open(path, CameraConfig::default()) {
            Ok(_) => report.check(name, false, format!("{} opened as a camera", path.display())),
            Err(e) => {
                let text = e.to_string();
                report.check(
                    name,
                    text.starts_with(&path.display().to_string()) && text.contains(needle),
                    text,
                );
            }
        }
    }
}

/// vivid's "Disconnect" control simulates a USB unplug: the open handles fail until all are
/// closed, then the device works again.
fn disconnect(report: &mut Report, device: &Path) {
    let mut source = match CameraSource::open(device, config("YUYV")) {
        Ok(source) => source,
        Err(e) => return report.check("disconnect", false, e),
    };
    let last_seq = match frames(&mut source, 3) {
        Ok(frames) => frames[2].seq,
        Err(e) => return report.check("disconnect", false, e),
    };
    let unplugged = (|| -> std::io::Result<()> {
        let control_handle = v4l::Device::with_path(device)?;
        let disconnect = control_handle
            .query_controls()?
            .into_iter()
            .find(|c| c.name.eq_ignore_ascii_case("disconnect"))
            .ok_or_else(|| std::io::Error::other("vivid has no Disconnect control"))?;
        control_handle.set_control(v4l::control::Control {
            id: disconnect.id,
            value: v4l::control::Value::None,
        })
    })();
    report.check("disconnect", unplugged.is_ok(), format!("{unplugged:?}"));
    let (errors, resumed) = until_a_frame(&mut source, 40);
    report.check(
        "disconnect-reported",
        !errors.is_empty(),
        format!("{} errors, first: {:?}", errors.len(), errors.first()),
    );
    report.check(
        "disconnect-reopened",
        resumed.is_some_and(|s| s == last_seq + 1),
        format!("last before {last_seq}, first after {resumed:?}"),
    );
}

/// Calls `next_frame` until it gives a frame (at most `calls` times): the errors before it and
/// the frame's number.
fn until_a_frame(source: &mut CameraSource, calls: usize) -> (Vec<String>, Option<u64>) {
    let mut errors = Vec::new();
    for _ in 0..calls {
        match source.next_frame() {
            Some(Ok(frame)) => return (errors, Some(frame.seq)),
            Some(Err(e)) => errors.push(e.to_string()),
            None => break,
        }
    }
    (errors, None)
}

/// A real hot-unplug: the driver is unbound from the device through sysfs while the source
/// streams, so the node disappears (as when a USB camera is pulled), then bound again.
fn unbind(report: &mut Report, device: &Path) {
    let sysfs = Path::new("/sys/bus/platform/drivers/vivid");
    let mut source = match CameraSource::open(device, config("YUYV")) {
        Ok(source) => source,
        Err(e) => return report.check("unbind", false, e),
    };
    let last_seq = match frames(&mut source, 3) {
        Ok(frames) => frames[2].seq,
        Err(e) => return report.check("unbind", false, e),
    };
    let unbound = std::fs::write(sysfs.join("unbind"), "vivid.0");
    report.check(
        "unbind",
        unbound.is_ok() && !device.exists(),
        format!("{unbound:?}, node present: {}", device.exists()),
    );
    // While the camera is away every call returns an error, none blocking past the backoff.
    let mut errors = Vec::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        match source.next_frame() {
            Some(Err(e)) => errors.push(e.to_string()),
            other => errors.push(format!("unexpected: {:?}", other.map(|r| r.map(|f| f.seq)))),
        }
        slowest = slowest.max(started.elapsed());
    }
    let all_errors = errors.iter().all(|e| !e.starts_with("unexpected"));
    report.check(
        "unbind-reported",
        all_errors && errors.iter().skip(1).all(|e| e.contains("No such file or device")),
        format!("{errors:?}"),
    );
    // 400 ms backoff at most, plus a failed open; generous for a loaded emulator.
    report.check(
        "unbind-bounded",
        slowest < Duration::from_millis(1400),
        format!("slowest call {slowest:?}"),
    );
    let bound = std::fs::write(sysfs.join("bind"), "vivid.0");
    report.check("rebind", bound.is_ok(), format!("{bound:?}"));
    let (errors, resumed) = until_a_frame(&mut source, 10);
    report.check(
        "rebind-reopened",
        resumed.is_some_and(|s| s == last_seq + 1),
        format!("last before {last_seq}, first after {resumed:?} ({} errors first)", errors.len()),
    );
    if let Some(seq) = resumed {
        let more = frames(&mut source, 3).map(|f| f.iter().map(|f| f.seq).collect::<Vec<_>>());
        report.check(
            "rebind-numbering",
            more.as_ref().is_ok_and(|s| s.windows(2).all(|w| w[1] > w[0]) && s[0] > seq),
            format!("{more:?}"),
        );
    }
}

fn checks(capture_node: &Path, output_node: &Path) -> bool {
    let mut report = Report { failed: false };
    match v4l::Device::with_path(capture_node).and_then(|d| d.enum_formats()) {
        Ok(formats) => {
            let list: Vec<String> = formats.iter().map(|f| f.fourcc.to_string()).collect();
            report.check("formats", list.iter().any(|f| f == "YUYV"), list.join(","));
            for format in ["YUYV", "RGB3", "MJPG"] {
                if list.iter().any(|f| f == format) {
                    capture(&mut report, capture_node, format);
                } else {
                    info(format!("{format} not offered by this device"));
                }
            }
        }
        Err(e) => report.check("formats", false, e),
    }
    closest(&mut report, capture_node);
    refusals(&mut report, output_node);
    disconnect(&mut report, capture_node);
    unbind(&mut report, capture_node);
    !report.failed
}

/// vivid's capability lists (every format; sizes and frame intervals of the ones this unit
/// converts) in the text form `negotiate`'s tests read, and a raw YUYV frame.
fn record(dir: &Path, device: &Path) -> std::io::Result<()> {
    let camera = v4l::Device::with_path(device)?;
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let caps = camera.query_caps()?;
    let mut text = format!(
        "# {} ({}) on Linux {}, recorded by examples/v4l2_probe.rs --record\n",
        caps.card,
        caps.driver,
        release.trim()
    );
    text += "# formats: every format offered; then per format and size: FOURCC WxH interval...\n";
    let formats = camera.enum_formats()?;
    text += &format!(
        "formats {}\n",
        formats
            .iter()
            .map(|f| f.fourcc.to_string().replace(' ', "_"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for format in formats.iter().filter(|f| [b"YUYV", b"RGB3", b"MJPG"].contains(&&f.fourcc.repr)) {
        for size in camera.enum_framesizes(format.fourcc)? {
            for d in size.size.to_discrete() {
                let intervals = camera.enum_frameintervals(format.fourcc, d.width, d.height)?;
                let list: Vec<String> = intervals
                    .iter()
                    .filter_map(|i| match &i.interval {
                        v4l::frameinterval::FrameIntervalEnum::Discrete(f) => {
                            Some(format!("{}/{}", f.numerator, f.denominator))
                        }
                        v4l::frameinterval::FrameIntervalEnum::Stepwise(_) => None,
                    })
                    .collect();
                text += &format!("{} {}x{} {}\n", format.fourcc, d.width, d.height, list.join(" "));
            }
        }
    }
    std::fs::write(dir.join("vivid-caps.txt"), text)?;

    let mut format = camera.format()?;
    (format.width, format.height, format.fourcc) = (320, 180, v4l::FourCC::new(b"YUYV"));
    let set = camera.set_format(&format)?;
    let mut stream =
        v4l::io::mmap::Stream::with_buffers(&camera, v4l::buffer::Type::VideoCapture, 4)?;
    for _ in 0..3 {
        v4l::io::traits::CaptureStream::next(&mut stream)?;
    }
    let (data, meta) = v4l::io::traits::CaptureStream::next(&mut stream)?;
    let name = format!("vivid-yuyv-{}x{}.raw", set.width, set.height);
    std::fs::File::create(dir.join(&name))?.write_all(&data[..meta.bytesused as usize])?;
    println!("V4L2TEST recorded {name} stride {} bytes {}", set.stride, meta.bytesused);
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ok = match args.first().map(String::as_str) {
        Some("--record") => {
            let dir = PathBuf::from(args.get(1).map_or("/run/share", String::as_str));
            let device = PathBuf::from(args.get(2).map_or("/dev/video0", String::as_str));
            match record(&dir, &device) {
                Ok(()) => true,
                Err(e) => {
                    println!("V4L2TEST fail record {e}");
                    false
                }
            }
        }
        _ => {
            let capture_node = PathBuf::from(args.first().map_or("/dev/video0", String::as_str));
            let output_node = PathBuf::from(args.get(1).map_or("/dev/video1", String::as_str));
            checks(&capture_node, &output_node)
        }
    };
    std::process::exit(if ok { 0 } else { 1 });
}
