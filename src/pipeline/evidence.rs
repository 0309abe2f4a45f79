//! Evidence: what a track keeps of the frame a read came from, until the vehicle's read goes
//! out — the overview, the plate crop, and every plate on the frame (to blur them).
//!
//! Why it is not simply the frame: fusion keeps the best frame of each text a track read (up to
//! 4 a track, `fusion.max_tracks` tracks), and with several cars in view nearly every frame is
//! some track's best. A 1280 × 720 RGB frame is 2.6 MiB; eight cars in view held some 16 such
//! frames at once, 40 MiB more peak memory than one car at a time (docs/accuracy-and-speed.md,
//! Memory). So a frame is held whole only while it is recognised, shared by all its reads
//! through one `Arc`; once its reads are fused and the reads due are out, [`pack`] turns what
//! tracks still keep of it into what a read needs, made once per frame however many keep it:
//!
//! - the overview, encoded as the JPEG a hit sends (`images.overview_max_width`,
//!   `images.jpeg_quality`): a hit's overview is those bytes, as before;
//! - the read's plate as its crop in pixels, taken when the read is made (a plate's worth of
//!   bytes), so the plate image is encoded from the same pixels as before.
//!
//! A non-hit's blurred overview is made from the packed JPEG decoded, every plate blurred at
//! that size, and encoded again: blurred as before, one JPEG generation more. Nothing of the
//! overview is kept when `images.overview` is off.
//!
//! Packing waits for nothing: a frame kept one frame longer in case the next one's reads replace
//! it would save an encoding only where few tracks are followed, and cost a whole frame of peak
//! memory where many are.
//!
//! Bound: per payload one overview JPEG and one plate crop, no whole frame; payloads are at most
//! `fusion.max_tracks` × 4, and none for a track whose read went out.

use crate::frame::Frame;
use crate::geometry::BoundingBox;
use crate::imaging::{encode_jpeg, ImageConfig, JpegError};
use crate::privacy::blur::{blur_regions, blurred, regions, BlurConfig};
use image::RgbImage;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What a read keeps of its frame (see the module's comment).
#[derive(Debug, Clone)]
pub struct Evidence {
    pub seq: u64,
    pub captured_at: SystemTime,
    pub monotonic: Duration,
    /// Every plate detected on the frame (read or not), in its pixels, so all can be blurred.
    pub plates: Arc<[BoundingBox]>,
    /// The frame's size: what the boxes are measured in.
    pub width: u32,
    pub height: u32,
    /// The read's plate, unscaled; `None` with `images.plate_crop` off or a box outside the frame.
    crop: Option<Arc<RgbImage>>,
    overview: Overview,
}

/// The overview as kept now.
#[derive(Debug, Clone)]
enum Overview {
    /// The whole frame: only until its reads are fused ([`pack`]).
    Frame(Arc<Frame>),
    /// Packed: the overview a hit sends.
    Jpeg(Arc<Jpeg>),
    /// Not kept: `images.overview` is off, or it could not be encoded.
    None,
}

/// An encoded image and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jpeg {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Why a non-hit's overview could not be blurred.
#[derive(Debug, thiserror::Error)]
pub enum BlurError {
    #[error("the packed overview does not decode: {0}")]
    Decode(#[from] image::ImageError),
    #[error("blurring failed: {0}")]
    Blur(#[from] opencv::Error),
}

impl Evidence {
    /// The evidence of the read whose plate is `read` on `frame`, where `plates` were detected.
    pub fn new(
        frame: &Arc<Frame>,
        plates: &Arc<[BoundingBox]>,
        read: &BoundingBox,
        images: &ImageConfig,
    ) -> Self {
        let (width, height) = frame.image.dimensions();
        let crop = images.plate_crop.then(|| read.pixel_rect(width, height)).flatten().map(
            |(x, y, w, h)| Arc::new(image::imageops::crop_imm(&frame.image, x, y, w, h).to_image()),
        );
        Self {
            seq: frame.seq,
            captured_at: frame.captured_at,
            monotonic: frame.monotonic,
            plates: Arc::clone(plates),
            width,
            height,
            crop,
            overview: if images.overview {
                Overview::Frame(Arc::clone(frame))
            } else {
                Overview::None
            },
        }
    }

    /// The plate crop to encode, unscaled.
    pub fn plate_crop(&self) -> Option<&RgbImage> {
        self.crop.as_deref()
    }

    /// The overview as a hit sends it (clear, at most `images.overview_max_width` wide), or
    /// `None` when none is kept.
    pub fn clear_overview(&self, images: &ImageConfig) -> Option<Result<Jpeg, JpegError>> {
        match &self.overview {
            Overview::Frame(frame) => Some(encode_overview(&frame.image, images)),
            Overview::Jpeg(jpeg) => Some(Ok(Jpeg::clone(jpeg))),
            Overview::None => None,
        }
    }

    /// The overview with every plate of the frame (and the windscreens, if asked) blurred, at
    /// the size it is kept; `None` when none is kept.
    pub fn blurred_overview(
        &self,
        blur: &BlurConfig,
        windscreen: bool,
    ) -> Option<Result<RgbImage, BlurError>> {
        match &self.overview {
            Overview::Frame(frame) => {
                Some(blurred(&frame.image, &self.plates, blur, windscreen).map_err(BlurError::from))
            }
            Overview::Jpeg(jpeg) => Some(self.blurred_from(jpeg, blur, windscreen)),
            Overview::None => None,
        }
    }

    fn blurred_from(
        &self,
        jpeg: &Jpeg,
        blur: &BlurConfig,
        windscreen: bool,
    ) -> Result<RgbImage, BlurError> {
        // `into_rgb8` takes the decoded buffer as it is: no second frame-sized copy.
        let mut image =
            image::load_from_memory_with_format(&jpeg.bytes, image::ImageFormat::Jpeg)?.into_rgb8();
        let plates = scaled(&self.plates, (self.width, self.height), image.dimensions());
        let (w, h) = image.dimensions();
        blur_regions(&mut image, &regions(&plates, w, h, blur, windscreen))?;
        Ok(image)
    }
}

/// The overview of `image` as sent: whole, scaled to `images.overview_max_width`.
fn encode_overview(image: &RgbImage, images: &ImageConfig) -> Result<Jpeg, JpegError> {
    let whole = (0, 0, image.width(), image.height());
    let (bytes, width, height) =
        encode_jpeg(image, whole, images.overview_max_width, images.jpeg_quality)?;
    Ok(Jpeg { bytes, width, height })
}

/// `plates` measured on a `from` frame, measured on the same frame scaled to `to`.
fn scaled(plates: &[BoundingBox], from: (u32, u32), to: (u32, u32)) -> Vec<BoundingBox> {
    let sx = to.0 as f32 / from.0.max(1) as f32;
    let sy = to.1 as f32 / from.1.max(1) as f32;
    let scale = |b: &BoundingBox| BoundingBox {
        x1: b.x1 * sx,
        y1: b.y1 * sy,
        x2: b.x2 * sx,
        y2: b.y2 * sy,
    };
    plates.iter().map(scale).collect()
}

/// A frame whose overview could not be packed: its reads go without an overview.
#[derive(Debug)]
pub struct PackFailed {
    pub seq: u64,
    pub error: JpegError,
}

/// Packs every evidence in `held` that still keeps a whole frame (see the module's comment);
/// each frame is encoded once, however many evidences keep it.
pub fn pack<'a>(
    held: impl Iterator<Item = &'a mut Evidence>,
    images: &ImageConfig,
) -> Vec<PackFailed> {
    // Called after each frame, so the frames to pack are few (the last one): a short list,
    // searched linearly.
    let mut packed: Vec<(u64, Overview)> = Vec::new();
    let mut failed = Vec::new();
    for evidence in held {
        let Overview::Frame(frame) = &evidence.overview else { continue };
        let overview = match packed.iter().find(|(seq, _)| *seq == frame.seq) {
            Some((_, overview)) => overview.clone(),
            None => {
                let overview = match encode_overview(&frame.image, images) {
                    Ok(jpeg) => Overview::Jpeg(Arc::new(jpeg)),
                    Err(error) => {
                        failed.push(PackFailed { seq: frame.seq, error });
                        Overview::None
                    }
                };
                packed.push((frame.seq, overview.clone()));
                overview
            }
        };
        evidence.overview = overview;
    }
    failed
}

/// Bytes of image data `held` keeps, each shared frame or JPEG counted once.
pub fn held_bytes<'a>(held: impl Iterator<Item = &'a Evidence>) -> usize {
    let mut seen = BTreeSet::new();
    let mut bytes = 0;
    for evidence in held {
        let crop = evidence.crop.as_ref().map_or(0, |c| c.as_raw().len());
        let (address, size) = match &evidence.overview {
            Overview::Frame(frame) => (Arc::as_ptr(frame) as usize, frame.image.as_raw().len()),
            Overview::Jpeg(jpeg) => (Arc::as_ptr(jpeg) as usize, jpeg.bytes.len()),
            Overview::None => (0, 0),
        };
        bytes += crop;
        if seen.insert(address) {
            bytes += size;
        }
    }
    bytes
}

/// Also the detail measure of `assemble.rs`'s tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A noisy frame (every pixel differs from its neighbours), numbered `seq`.
    fn frame(seq: u64, width: u32, height: u32) -> Arc<Frame> {
        let mut state = 7u32 + seq as u32;
        let image = RgbImage::from_fn(width, height, |_, _| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = (state >> 16) as u8;
            image::Rgb([v, v, v])
        });
        Arc::new(Frame {
            seq,
            media_time: None,
            captured_at: SystemTime::now(),
            monotonic: Duration::from_millis(100 * seq),
            origin: "test".into(),
            image,
        })
    }

    /// Mean step between horizontal neighbours of the first channel inside `b` of `image`: low
    /// on a blurred plate, high on a legible one.
    pub(crate) fn detail<P>(image: &image::ImageBuffer<P, Vec<u8>>, b: &BoundingBox) -> f64
    where
        P: image::Pixel<Subpixel = u8>,
    {
        let (x0, y0, w, h) = b.pixel_rect(image.width(), image.height()).expect("inside");
        let mut sum = 0u64;
        for y in y0..y0 + h {
            for x in x0..x0 + w - 1 {
                let step = image.get_pixel(x, y).channels()[0]
                    .abs_diff(image.get_pixel(x + 1, y).channels()[0]);
                sum += u64::from(step);
            }
        }
        sum as f64 / f64::from((w - 1) * h)
    }

    fn plates() -> Arc<[BoundingBox]> {
        Arc::from(vec![
            BoundingBox::from_xywh(40.0, 100.0, 120.0, 30.0),
            BoundingBox::from_xywh(400.0, 40.0, 120.0, 30.0),
        ])
    }

    #[test]
    fn each_frame_kept_is_encoded_once_however_many_tracks_keep_it() {
        let images = ImageConfig::default();
        let (one, other, plates) = (frame(1, 640, 360), frame(2, 640, 360), plates());
        let mut held = [
            Evidence::new(&one, &plates, &plates[0], &images),
            Evidence::new(&one, &plates, &plates[1], &images),
            Evidence::new(&other, &plates, &plates[0], &images),
        ];
        let crops = 3 * 120 * 30 * 3;
        assert_eq!(held_bytes(held.iter()), 2 * 640 * 360 * 3 + crops, "each frame counted once");
        let clear = |e: &Evidence| e.clear_overview(&images).expect("kept").expect("encoded");
        let (clear_one, clear_other) = (clear(&held[0]), clear(&held[2]));
        assert!(pack(held.iter_mut(), &images).is_empty());
        let jpegs = clear_one.bytes.len() + clear_other.bytes.len();
        assert_eq!(held_bytes(held.iter()), jpegs + crops);
        assert!(clear(&held[0]) == clear_one && clear(&held[2]) == clear_other, "as sent before");
        let (a, b) = (&held[0].overview, &held[1].overview);
        assert!(
            matches!((a, b), (Overview::Jpeg(a), Overview::Jpeg(b)) if Arc::ptr_eq(a, b)),
            "two tracks of one frame share one JPEG"
        );
        assert_eq!(held[1].plate_crop().map(|c| c.dimensions()), Some((120, 30)));
    }

    #[test]
    fn a_packed_overview_scaled_down_is_blurred_where_its_plates_are() {
        let images = ImageConfig { overview_max_width: 320, ..ImageConfig::default() };
        let (frame, plates) = (frame(1, 640, 360), plates());
        let mut evidence = Evidence::new(&frame, &plates, &plates[0], &images);
        assert!(pack(std::iter::once(&mut evidence), &images).is_empty());
        let blurred = evidence.blurred_overview(&BlurConfig::default(), false);
        let blurred = blurred.expect("kept").expect("blurred");
        assert_eq!(blurred.dimensions(), (320, 180));
        for plate in scaled(&plates, (640, 360), (320, 180)) {
            let d = detail(&blurred, &plate);
            assert!(d < 3.0, "{plate:?} is blurred: detail {d}");
        }
        let elsewhere = BoundingBox::from_xywh(150.0, 120.0, 60.0, 30.0);
        assert!(detail(&blurred, &elsewhere) > 20.0, "the rest keeps its detail");
    }

    #[test]
    fn nothing_is_kept_of_an_image_the_configuration_never_sends() {
        let images = ImageConfig { overview: false, plate_crop: false, ..ImageConfig::default() };
        let (frame, plates) = (frame(1, 640, 360), plates());
        let evidence = Evidence::new(&frame, &plates, &plates[0], &images);
        assert!(evidence.clear_overview(&images).is_none() && evidence.plate_crop().is_none());
        assert_eq!(held_bytes(std::iter::once(&evidence)), 0);
    }
}
