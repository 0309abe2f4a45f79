//! Choosing the camera mode: which of the formats the device offers, at which size and frame
//! interval. Pure: the device's answers come in as plain data, so every choice is tested
//! without a camera (on lists recorded from real drivers, `testdata/v4l2/`).

use std::fmt;

/// A V4L2 four-character pixel format code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        (bytes.len() == 4 && bytes.iter().all(|b| b.is_ascii_graphic()))
            .then(|| FourCc([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The formats this unit can convert.
pub const CONVERTIBLE: [FourCc; 3] = [FourCc(*b"MJPG"), FourCc(*b"YUYV"), FourCc(*b"RGB3")];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeOffer {
    Discrete {
        width: u32,
        height: u32,
    },
    Stepwise {
        min_width: u32,
        max_width: u32,
        step_width: u32,
        min_height: u32,
        max_height: u32,
        step_height: u32,
    },
}

/// One pixel format the device offers. `sizes` is empty when the driver does not enumerate
/// sizes (VIDIOC_ENUM_FRAMESIZES is optional): then the configured size is asked for and the
/// driver adjusts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatOffer {
    pub fourcc: FourCc,
    pub sizes: Vec<SizeOffer>,
}

/// A frame interval in seconds, `numerator / denominator` (V4L2 speaks in intervals, not rates:
/// 1/30 is 30 frames per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub numerator: u32,
    pub denominator: u32,
}

impl Interval {
    pub fn per_second(fps: u32) -> Self {
        Self { numerator: 1, denominator: fps }
    }

    /// Frames per second; 0 for a degenerate interval a driver might report.
    pub fn fps(self) -> f64 {
        if self.numerator == 0 {
            0.0
        } else {
            f64::from(self.denominator) / f64::from(self.numerator)
        }
    }

    fn seconds(self) -> f64 {
        if self.denominator == 0 {
            f64::INFINITY
        } else {
            f64::from(self.numerator) / f64::from(self.denominator)
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} s ({:.2} fps)", self.numerator, self.denominator, self.fps())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalOffer {
    Discrete(Interval),
    /// A range (V4L2 reports continuous ranges the same way, with a step of its smallest unit).
    Stepwise {
        min: Interval,
        max: Interval,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub fourcc: FourCc,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the camera offers none of the formats asked for ({wanted}); it offers {offered}. Set source.camera.formats to some of {convertible}")]
pub struct NoMode {
    pub wanted: String,
    pub offered: String,
    pub convertible: String,
}

fn snap(value: u32, min: u32, max: u32, step: u32) -> u32 {
    let v = value.clamp(min, max.max(min));
    let step = step.max(1);
    (min + (v - min) / step * step).min(max.max(min))
}

/// The offered size closest to `width` × `height` in pixel count (a larger one on a tie: more
/// pixels on the plate), or the requested size itself when a stepwise range allows it.
pub fn closest_size(sizes: &[SizeOffer], width: u32, height: u32) -> Option<(u32, u32)> {
    let wanted = u64::from(width) * u64::from(height);
    let candidates = sizes.iter().map(|s| match *s {
        SizeOffer::Discrete { width, height } => (width, height),
        SizeOffer::Stepwise {
            min_width,
            max_width,
            step_width,
            min_height,
            max_height,
            step_height,
        } => (
            snap(width, min_width, max_width, step_width),
            snap(height, min_height, max_height, step_height),
        ),
    });
    candidates.min_by_key(|&(w, h)| {
        let area = u64::from(w) * u64::from(h);
        (area.abs_diff(wanted), std::cmp::Reverse(area))
    })
}

/// The first preferred format the device offers (and this unit converts), at its closest size.
pub fn choose(
    offers: &[FormatOffer],
    preferred: &[FourCc],
    width: u32,
    height: u32,
) -> Result<Mode, NoMode> {
    for wanted in preferred.iter().filter(|f| CONVERTIBLE.contains(f)) {
        if let Some(offer) = offers.iter().find(|o| o.fourcc == *wanted) {
            let (width, height) = if offer.sizes.is_empty() {
                (width, height)
            } else {
                closest_size(&offer.sizes, width, height).unwrap_or((width, height))
            };
            return Ok(Mode { fourcc: *wanted, width, height });
        }
    }
    let list = |formats: &mut dyn Iterator<Item = FourCc>| {
        formats.map(|f| f.to_string()).collect::<Vec<_>>().join(", ")
    };
    Err(NoMode {
        wanted: list(&mut preferred.iter().copied()),
        offered: list(&mut offers.iter().map(|o| o.fourcc)),
        convertible: list(&mut CONVERTIBLE.iter().copied()),
    })
}

/// The offered interval closest to `fps` frames per second, compared as rates (a faster one on
/// a tie: a passing car is seen on more frames). Within a range the exact rate asked for is
/// chosen and the driver rounds it to its step when it is set. `None` when the driver lists no
/// intervals (VIDIOC_ENUM_FRAMEINTERVALS is optional): then `fps` is asked for as it is.
pub fn closest_interval(offers: &[IntervalOffer], fps: u32) -> Option<Interval> {
    let wanted = Interval::per_second(fps);
    let candidates = offers.iter().map(|o| match *o {
        IntervalOffer::Discrete(i) => i,
        IntervalOffer::Stepwise { min, max } => {
            if wanted.seconds() < min.seconds() {
                min
            } else if wanted.seconds() > max.seconds() {
                max
            } else {
                wanted
            }
        }
    });
    candidates.min_by(|a, b| {
        let (da, db) = ((a.fps() - f64::from(fps)).abs(), (b.fps() - f64::from(fps)).abs());
        da.total_cmp(&db).then(b.fps().total_cmp(&a.fps()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fourcc(s: &str) -> FourCc {
        FourCc::parse(s).expect("fourcc")
    }

    fn interval(text: &str) -> Interval {
        let (n, d) = text.split_once('/').expect("n/d");
        Interval {
            numerator: n.parse().expect("numerator"),
            denominator: d.parse().expect("denominator"),
        }
    }

    /// What a typical USB webcam reports (the shape of a UVC camera's `v4l2-ctl
    /// --list-formats-ext`): YUYV is slow at large sizes, MJPEG is not.
    fn webcam() -> Vec<FormatOffer> {
        let discrete = |sizes: &[(u32, u32)]| {
            sizes.iter().map(|&(width, height)| SizeOffer::Discrete { width, height }).collect()
        };
        vec![
            FormatOffer { fourcc: fourcc("YUYV"), sizes: discrete(&[(640, 480), (1280, 720)]) },
            FormatOffer {
                fourcc: fourcc("MJPG"),
                sizes: discrete(&[(640, 480), (1280, 720), (1920, 1080)]),
            },
            FormatOffer { fourcc: fourcc("H264"), sizes: discrete(&[(1920, 1080)]) },
        ]
    }

    /// The capability lists the `vivid` driver of Linux 6.1 reported inside the test VM
    /// (recorded by `scripts/v4l2-vm/record-testdata.sh`): one line per format and size,
    /// `FOURCC WxH interval…`, and a `formats` line with every format it offers.
    struct Recorded {
        formats: Vec<FormatOffer>,
        intervals: Vec<(FourCc, u32, u32, Vec<IntervalOffer>)>,
    }

    fn vivid() -> Recorded {
        let text =
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/v4l2/vivid-caps.txt"));
        let mut recorded = Recorded { formats: Vec::new(), intervals: Vec::new() };
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let mut words = line.split_whitespace();
            let head = words.next().expect("a word");
            if head == "formats" {
                for f in words {
                    if let Some(f) = FourCc::parse(f) {
                        if !recorded.formats.iter().any(|o| o.fourcc == f) {
                            recorded.formats.push(FormatOffer { fourcc: f, sizes: Vec::new() });
                        }
                    }
                }
                continue;
            }
            let f = fourcc(head);
            let (w, h) = words.next().and_then(|s| s.split_once('x')).expect("WxH");
            let (width, height) = (w.parse().expect("width"), h.parse().expect("height"));
            let offer = recorded
                .formats
                .iter_mut()
                .find(|o| o.fourcc == f)
                .expect("format listed before its sizes");
            offer.sizes.push(SizeOffer::Discrete { width, height });
            recorded.intervals.push((
                f,
                width,
                height,
                words.map(|i| IntervalOffer::Discrete(interval(i))).collect(),
            ));
        }
        recorded
    }

    #[test]
    fn the_first_preferred_format_wins_at_the_closest_size() {
        let mode = choose(&webcam(), &[fourcc("MJPG"), fourcc("YUYV")], 1920, 1080).expect("mode");
        assert_eq!(mode, Mode { fourcc: fourcc("MJPG"), width: 1920, height: 1080 });
        let mode = choose(&webcam(), &[fourcc("YUYV"), fourcc("MJPG")], 1920, 1080).expect("mode");
        assert_eq!(mode, Mode { fourcc: fourcc("YUYV"), width: 1280, height: 720 });
    }

    #[test]
    fn formats_this_unit_cannot_convert_are_skipped() {
        let mode = choose(&webcam(), &[fourcc("H264"), fourcc("YUYV")], 640, 480).expect("mode");
        assert_eq!(mode.fourcc, fourcc("YUYV"));
    }

    #[test]
    fn no_usable_format_is_an_error_listing_what_there_is() {
        let e = choose(&webcam(), &[fourcc("H264"), fourcc("NV12")], 640, 480).expect_err("none");
        let text = e.to_string();
        assert!(
            text.contains("YUYV, MJPG, H264")
                && text.contains("H264, NV12")
                && text.contains("source.camera.formats"),
            "{text}"
        );
    }

    #[test]
    fn a_driver_that_lists_no_sizes_is_asked_for_the_configured_one() {
        let offers = [FormatOffer { fourcc: fourcc("YUYV"), sizes: Vec::new() }];
        assert_eq!(
            choose(&offers, &[fourcc("YUYV")], 800, 600),
            Ok(Mode { fourcc: fourcc("YUYV"), width: 800, height: 600 })
        );
    }

    #[test]
    fn stepwise_ranges_give_the_requested_size_snapped_to_the_step() {
        let sizes = [SizeOffer::Stepwise {
            min_width: 16,
            max_width: 4096,
            step_width: 16,
            min_height: 16,
            max_height: 2160,
            step_height: 8,
        }];
        assert_eq!(closest_size(&sizes, 1920, 1080), Some((1920, 1080)));
        assert_eq!(closest_size(&sizes, 1000, 1001), Some((992, 1000)));
        assert_eq!(closest_size(&sizes, 9000, 9000), Some((4096, 2160)));
    }

    #[test]
    fn on_a_tie_the_larger_size_wins() {
        let sizes = [
            SizeOffer::Discrete { width: 100, height: 100 },
            SizeOffer::Discrete { width: 300, height: 100 },
        ];
        assert_eq!(closest_size(&sizes, 200, 100), Some((300, 100)));
    }

    #[test]
    fn the_closest_frame_rate_is_chosen_and_a_faster_one_on_a_tie() {
        let offers: Vec<IntervalOffer> =
            ["1/30", "1/15", "1/5"].map(|i| IntervalOffer::Discrete(interval(i))).to_vec();
        assert_eq!(closest_interval(&offers, 25), Some(interval("1/30")));
        assert_eq!(closest_interval(&offers, 10), Some(interval("1/15")));
        assert_eq!(closest_interval(&offers, 1), Some(interval("1/5")));
        assert_eq!(closest_interval(&[], 25), None);
    }

    #[test]
    fn a_range_of_intervals_gives_the_rate_asked_for_or_its_nearest_end() {
        let range = [IntervalOffer::Stepwise { min: interval("1/60"), max: interval("1/1") }];
        assert_eq!(closest_interval(&range, 25), Some(interval("1/25")));
        assert_eq!(closest_interval(&range, 120), Some(interval("1/60")));
    }

    #[test]
    fn fourcc_codes_parse_strictly() {
        assert_eq!(FourCc::parse("MJPG"), Some(FourCc(*b"MJPG")));
        assert_eq!(FourCc::parse("MJP"), None);
        assert_eq!(FourCc::parse("MJ G"), None);
    }

    #[test]
    fn on_vivids_recorded_lists_mjpeg_falls_back_to_yuyv_at_the_closest_size_and_rate() {
        let vivid = vivid();
        assert!(vivid.formats.iter().all(|o| o.fourcc != fourcc("MJPG")), "vivid offers no MJPEG");
        let mode =
            choose(&vivid.formats, &[fourcc("MJPG"), fourcc("YUYV")], 800, 600).expect("mode");
        assert_eq!(mode, Mode { fourcc: fourcc("YUYV"), width: 640, height: 480 });
        let mode =
            choose(&vivid.formats, &[fourcc("MJPG"), fourcc("YUYV")], 1920, 1080).expect("mode");
        assert_eq!(mode, Mode { fourcc: fourcc("YUYV"), width: 1920, height: 1080 });
        let rates = |w, h| {
            &vivid
                .intervals
                .iter()
                .find(|(f, fw, fh, _)| *f == fourcc("YUYV") && *fw == w && *fh == h)
                .expect("size recorded")
                .3
        };
        assert_eq!(closest_interval(rates(640, 480), 25), Some(interval("1/25")));
        // Large sizes are slow in vivid, as on real webcams: the fastest it has is chosen.
        let fastest_1080p = closest_interval(rates(1920, 1080), 60).expect("interval");
        assert!(rates(1920, 1080)
            .iter()
            .all(|o| matches!(o, IntervalOffer::Discrete(i) if i.fps() <= fastest_1080p.fps())));
        let mode = choose(&vivid.formats, &[fourcc("RGB3")], 320, 200).expect("mode");
        assert_eq!(mode, Mode { fourcc: fourcc("RGB3"), width: 320, height: 180 });
    }
}
