//! Choosing the camera mode: which of the formats the device offers, at which size. Pure: the
//! device's answers come in as plain data, so every choice is tested without a camera.

use std::fmt;

/// A V4L2 four-character pixel format code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        (bytes.len() == 4 && bytes.iter().all(|b| b.is_ascii_graphic())).then(|| FourCc([bytes[0], bytes[1], bytes[2], bytes[3]]))
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
    Discrete { width: u32, height: u32 },
    Stepwise { min_width: u32, max_width: u32, step_width: u32, min_height: u32, max_height: u32, step_height: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatOffer {
    pub fourcc: FourCc,
    pub sizes: Vec<SizeOffer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub fourcc: FourCc,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the camera offers none of the formats asked for ({wanted}); it offers {offered}. Set source.formats to some of {convertible}")]
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
        SizeOffer::Stepwise { min_width, max_width, step_width, min_height, max_height, step_height } => {
            (snap(width, min_width, max_width, step_width), snap(height, min_height, max_height, step_height))
        }
    });
    candidates.min_by_key(|&(w, h)| {
        let area = u64::from(w) * u64::from(h);
        (area.abs_diff(wanted), std::cmp::Reverse(area))
    })
}

/// The first preferred format the device offers (and this unit converts), at its closest size.
pub fn choose(offers: &[FormatOffer], preferred: &[FourCc], width: u32, height: u32) -> Result<Mode, NoMode> {
    for wanted in preferred.iter().filter(|f| CONVERTIBLE.contains(f)) {
        if let Some(offer) = offers.iter().find(|o| o.fourcc == *wanted) {
            if let Some((width, height)) = closest_size(&offer.sizes, width, height) {
                return Ok(Mode { fourcc: *wanted, width, height });
            }
        }
    }
    let list = |formats: &mut dyn Iterator<Item = FourCc>| formats.map(|f| f.to_string()).collect::<Vec<_>>().join(", ");
    Err(NoMode {
        wanted: list(&mut preferred.iter().copied()),
        offered: list(&mut offers.iter().map(|o| o.fourcc)),
        convertible: list(&mut CONVERTIBLE.iter().copied()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fourcc(s: &str) -> FourCc {
        FourCc::parse(s).expect("fourcc")
    }

    /// What a typical USB camera (and, for YUYV, the vivid test driver) reports.
    fn webcam() -> Vec<FormatOffer> {
        let discrete = |sizes: &[(u32, u32)]| sizes.iter().map(|&(width, height)| SizeOffer::Discrete { width, height }).collect();
        vec![
            FormatOffer { fourcc: fourcc("YUYV"), sizes: discrete(&[(640, 480), (1280, 720)]) },
            FormatOffer { fourcc: fourcc("MJPG"), sizes: discrete(&[(640, 480), (1280, 720), (1920, 1080)]) },
            FormatOffer { fourcc: fourcc("H264"), sizes: discrete(&[(1920, 1080)]) },
        ]
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
        assert!(text.contains("YUYV, MJPG, H264") && text.contains("H264, NV12"), "{text}");
    }

    #[test]
    fn stepwise_ranges_give_the_requested_size_snapped_to_the_step() {
        let sizes = [SizeOffer::Stepwise { min_width: 16, max_width: 4096, step_width: 16, min_height: 16, max_height: 2160, step_height: 8 }];
        assert_eq!(closest_size(&sizes, 1920, 1080), Some((1920, 1080)));
        assert_eq!(closest_size(&sizes, 1000, 1001), Some((992, 1000)));
        assert_eq!(closest_size(&sizes, 9000, 9000), Some((4096, 2160)));
    }

    #[test]
    fn on_a_tie_the_larger_size_wins() {
        let sizes = [SizeOffer::Discrete { width: 100, height: 100 }, SizeOffer::Discrete { width: 300, height: 100 }];
        assert_eq!(closest_size(&sizes, 200, 100), Some((300, 100)));
    }

    #[test]
    fn fourcc_codes_parse_strictly() {
        assert_eq!(FourCc::parse("MJPG"), Some(FourCc(*b"MJPG")));
        assert_eq!(FourCc::parse("MJP"), None);
        assert_eq!(FourCc::parse("MJ G"), None);
    }
}
