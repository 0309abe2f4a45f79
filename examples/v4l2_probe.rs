//! Exercises the V4L2 camera source on a real device (the `vivid` virtual camera, inside the VM
//! that `scripts/v4l2-vm/run.sh` boots; `tests/v4l2_vm.rs` runs it). Prints one line per check,
//! `V4L2TEST ok NAME …` or `V4L2TEST fail NAME …`, and exits non-zero if any check failed.
//!
//!   v4l2_probe [/dev/video0]

use anpr_edge::source::camera::negotiate::FourCc;
use anpr_edge::source::{CameraConfig, CameraSource, FrameSource};
use std::path::Path;
use std::time::Duration;
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

fn config(format: &str) -> CameraConfig {
    CameraConfig { width: 640, height: 480, fps: 30, formats: vec![format.into()], reopen_min_ms: 100, reopen_max_ms: 400, ..CameraConfig::default() }
}

/// vivid's default pattern holds 75 % colour bars: white, yellow, cyan, green, magenta, red,
/// blue, black, left to right (its text overlay covers the top rows, so the middle row is read).
/// The colours along the row must show them in that order.
fn bars_look_right(image: &image::RgbImage) -> Result<(), String> {
    let expected: [[u8; 3]; 8] =
        [[191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0], [191, 0, 191], [191, 0, 0], [0, 0, 191], [0, 0, 0]];
    let near = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| (i32::from(*x) - i32::from(y)).abs() <= 24);
    let row = image.height() / 2;
    let mut seen: Vec<[u8; 3]> = Vec::new();
    for x in 0..image.width() {
        let px = image.get_pixel(x, row).0;
        if let Some(e) = expected.iter().find(|e| near(px, **e)) {
            if seen.last() != Some(e) {
                seen.push(*e);
            }
        }
    }
    let order: Vec<usize> = seen.iter().filter_map(|s| expected.iter().position(|e| e == s)).collect();
    let mut wanted = 0;
    for i in &order {
        if *i == wanted {
            wanted += 1;
        }
    }
    if wanted == expected.len() {
        Ok(())
    } else {
        Err(format!("colour runs along row {row}: {order:?} (0 white … 7 black)"))
    }
}

fn capture(report: &mut Report, device: &Path, format: &str) {
    let mut source = match CameraSource::open(device, config(format)) {
        Ok(source) => source,
        Err(e) => return report.check(&format!("open-{format}"), false, e),
    };
    let mode = source.mode();
    report.check(&format!("negotiate-{format}"), mode.is_some_and(|m| m.fourcc == FourCc::parse(format).expect("fourcc")), format!("{mode:?}"));
    let mut frames = Vec::new();
    for _ in 0..10 {
        match source.next_frame() {
            Some(Ok(frame)) => frames.push(frame),
            Some(Err(e)) => return report.check(&format!("capture-{format}"), false, e),
            None => return report.check(&format!("capture-{format}"), false, "source ended"),
        }
    }
    let seqs: Vec<u64> = frames.iter().map(|f| f.seq).collect();
    report.check(&format!("sequence-{format}"), seqs.windows(2).all(|w| w[1] > w[0]), format!("{seqs:?}"));
    let times: Vec<Duration> = frames.iter().filter_map(|f| f.media_time).collect();
    report.check(&format!("timestamps-{format}"), times.len() == 10 && times.windows(2).all(|w| w[1] > w[0]), format!("{:?}..{:?}", times.first(), times.last()));
    let last = frames.last().expect("frames");
    report.check(&format!("size-{format}"), last.image.dimensions() == (640, 480), format!("{:?}", last.image.dimensions()));
    match bars_look_right(&last.image) {
        Ok(()) => report.check(&format!("colours-{format}"), true, "75% colour bars"),
        Err(e) => report.check(&format!("colours-{format}"), false, e),
    }
}

/// vivid's "Disconnect" control simulates a USB unplug: the open handles fail until all are
/// closed, then the device works again. The source must report, reopen and keep numbering.
fn disconnect(report: &mut Report, device: &Path) {
    let mut source = match CameraSource::open(device, config("YUYV")) {
        Ok(source) => source,
        Err(e) => return report.check("reopen", false, e),
    };
    let mut last_seq = 0;
    for _ in 0..3 {
        if let Some(Ok(frame)) = source.next_frame() {
            last_seq = frame.seq;
        }
    }
    let unplugged = (|| -> std::io::Result<()> {
        let control_handle = v4l::Device::with_path(device)?;
        let disconnect = control_handle
            .query_controls()?
            .into_iter()
            .find(|c| c.name.eq_ignore_ascii_case("disconnect"))
            .ok_or_else(|| std::io::Error::other("vivid has no Disconnect control"))?;
        control_handle.set_control(v4l::control::Control { id: disconnect.id, value: v4l::control::Value::None })
    })();
    report.check("unplug", unplugged.is_ok(), format!("{unplugged:?}"));
    let mut errors = 0;
    let mut resumed = None;
    for _ in 0..40 {
        match source.next_frame() {
            Some(Ok(frame)) => {
                resumed = Some(frame.seq);
                break;
            }
            Some(Err(e)) => {
                if errors == 0 {
                    println!("V4L2TEST info first error after unplug: {e}");
                }
                errors += 1;
            }
            None => break,
        }
    }
    report.check("reported", errors > 0, format!("{errors} frame errors while unplugged"));
    report.check("reopened", resumed.is_some_and(|s| s > last_seq), format!("last before {last_seq}, first after {resumed:?}"));
}

fn main() {
    let device = std::env::args().nth(1).unwrap_or_else(|| "/dev/video0".into());
    let device = Path::new(&device);
    let mut report = Report { failed: false };
    match v4l::Device::with_path(device).and_then(|d| d.enum_formats()) {
        Ok(formats) => {
            let list: Vec<String> = formats.iter().map(|f| f.fourcc.to_string()).collect();
            report.check("formats", true, list.join(","));
            for format in ["YUYV", "RGB3", "MJPG"] {
                if list.iter().any(|f| f == format) {
                    capture(&mut report, device, format);
                } else {
                    println!("V4L2TEST info {format} not offered by this device");
                }
            }
        }
        Err(e) => report.check("formats", false, e),
    }
    disconnect(&mut report, device);
    std::process::exit(i32::from(report.failed));
}
