//! FFmpeg demuxing and decoding, shared by the video file and the RTSP stream: a container or a
//! stream goes in, RGB frames with their position in the recording come out.
//!
//! Why FFmpeg directly and not OpenCV's `VideoCapture`: OpenCV's videoio needs its imgcodecs,
//! which on Debian loads GDAL, GDCM, poppler and some 240 libraries whether used or not; the
//! unit's peak memory on video fell by their weight (docs/memory.md).

use crate::imaging::append_rows;
use ffmpeg::codec::threading;
use ffmpeg::format::{context::Input, Pixel};
use ffmpeg::software::scaling;
use ffmpeg::util::error::EAGAIN;
use ffmpeg::{Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;
use image::RgbImage;
use std::sync::Once;
use std::time::Duration;

/// Decoding threads per video: one. Frame threading holds a set of reference frames per thread
/// (FFmpeg's decoder held 25 MiB at 1280 × 960 under OpenCV's automatic count) while the detector already keeps
/// both cores of a 2-core box busy; one thread decodes 1080p H.264 several times faster than
/// real time on the development machine (docs/memory.md).
const DECODE_THREADS: usize = 1;

/// What one call to [`Decoder::next`] could not deliver.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// One packet or frame could not be decoded; the next call goes on with the next packet.
    #[error("decoding failed: {0}")]
    Frame(String),
    /// The container or the connection failed; for a stream, reconnect.
    #[error("reading failed: {0}")]
    Read(String),
}

/// A decoded frame and where it sits in the recording (from its timestamp, when it has one).
pub struct Decoded {
    pub image: RgbImage,
    pub media_time: Option<Duration>,
}

pub struct Decoder {
    input: Input,
    stream_index: usize,
    time_base: Rational,
    start_time: Option<i64>,
    frame_rate: Option<f64>,
    frame_count: Option<u64>,
    decoder: ffmpeg::decoder::Video,
    decoded: ffmpeg::frame::Video,
    /// The last 4:2:0 frame packed for conversion, its allocation kept (see [`to_rgb`]).
    i420: Vec<u8>,
    /// The container is read to its end and the decoder told so: what it still holds comes out.
    draining: bool,
}

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Initialisation only registers the network protocols on FFmpeg 5; it cannot fail there.
        if let Err(e) = ffmpeg::init() {
            tracing::warn!(error = %e, "FFmpeg initialisation reported an error");
        }
        // Corrupt packets are reported per frame by the sources; FFmpeg's own chatter below
        // errors would fill journald.
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    });
}

impl Decoder {
    /// Opens `url` (a path or an `rtsp://` URL) with FFmpeg's demuxer `options` and the decoder
    /// of its best video stream.
    pub fn open(url: &str, options: Dictionary) -> Result<Self, String> {
        init();
        let input =
            ffmpeg::format::input_with_dictionary(&url, options).map_err(|e| e.to_string())?;
        let stream = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or_else(|| "it holds no video stream".to_string())?;
        let mut context = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| e.to_string())?;
        context.set_threading(threading::Config {
            kind: threading::Type::Frame,
            count: DECODE_THREADS,
            ..Default::default()
        });
        let decoder =
            context.decoder().video().map_err(|e| format!("no decoder for its video ({e})"))?;
        let rational =
            |r: Rational| (r.numerator() > 0 && r.denominator() > 0).then(|| f64::from(r));
        let frame_rate = rational(stream.avg_frame_rate()).or_else(|| rational(stream.rate()));
        let time_base = stream.time_base();
        let frame_count = u64::try_from(stream.frames()).ok().filter(|n| *n > 0).or_else(|| {
            // Without a frame count in the container, estimate it as OpenCV did: duration × rate.
            let seconds = stream.duration() as f64 * rational(time_base)?;
            let estimate = (seconds * frame_rate?).round();
            (estimate >= 1.0).then_some(estimate as u64)
        });
        let start_time = Some(stream.start_time()).filter(|t| *t != ffmpeg::ffi::AV_NOPTS_VALUE);
        let stream_index = stream.index();
        Ok(Self {
            input,
            stream_index,
            time_base,
            start_time,
            frame_rate,
            frame_count,
            decoder,
            decoded: ffmpeg::frame::Video::empty(),
            i420: Vec::new(),
            draining: false,
        })
    }

    /// Frames per second the container states, when it states one.
    pub fn frame_rate(&self) -> Option<f64> {
        self.frame_rate
    }

    /// How many frames the container holds, stated or estimated from its duration.
    pub fn frame_count(&self) -> Option<u64> {
        self.frame_count
    }

    /// The next frame; `Ok(None)` at the end of the input.
    pub fn next(&mut self) -> Result<Option<Decoded>, DecodeError> {
        loop {
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => return self.convert().map(Some),
                Err(ffmpeg::Error::Eof) => return Ok(None),
                Err(ffmpeg::Error::Other { errno: EAGAIN }) if !self.draining => {}
                Err(e) => return Err(DecodeError::Frame(e.to_string())),
            }
            let mut packet = Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() != self.stream_index => {}
                Ok(()) => {
                    if let Err(e) = self.decoder.send_packet(&packet) {
                        return Err(DecodeError::Frame(e.to_string()));
                    }
                }
                Err(ffmpeg::Error::Eof) => {
                    self.draining = true;
                    self.decoder.send_eof().map_err(|e| DecodeError::Frame(e.to_string()))?;
                }
                Err(e) => return Err(DecodeError::Read(e.to_string())),
            }
        }
    }

    fn convert(&mut self) -> Result<Decoded, DecodeError> {
        // The frame budget's colour-conversion stage (docs/frame-cost.md); free unless a
        // subscriber asks for the `anpr_edge::stage` spans.
        let image = tracing::trace_span!(target: "anpr_edge::stage", "colour")
            .in_scope(|| to_rgb(&self.decoded, &mut self.i420))?;
        Ok(Decoded { image, media_time: self.media_time() })
    }

    fn media_time(&self) -> Option<Duration> {
        let ticks = self.decoded.timestamp()? - self.start_time.unwrap_or(0);
        let seconds = ticks as f64 * f64::from(self.time_base);
        (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
    }
}

/// `frame` as RGB. 4:2:0 in video range (what H.264 and H.265 cameras send) is packed into
/// `i420`, kept between frames, and converted by OpenCV straight into the image; any other
/// layout goes through FFmpeg's swscale.
///
/// Why not swscale for all: its output is an FFmpeg frame, copied once more into the image. Kept
/// between frames it holds one more RGB frame for good (3.7 MB at 1280 × 960, the 4:2:0 copy
/// half of that); made anew each frame its page faults cost 6 % more CPU at 1080p
/// (docs/memory.md). Both use BT.601 video-range coefficients.
fn to_rgb(frame: &ffmpeg::frame::Video, i420: &mut Vec<u8>) -> Result<RgbImage, DecodeError> {
    let (width, height) = (frame.width(), frame.height());
    if frame.format() != Pixel::YUV420P || width % 2 != 0 || height % 2 != 0 {
        return swscale_to_rgb(frame);
    }
    pack_i420(frame, i420)
        .ok_or_else(|| DecodeError::Frame("a decoded plane is smaller than stated".into()))?;
    crate::imaging::rgb_from_i420(i420, width, height)
        .map_err(|e| DecodeError::Frame(format!("conversion to RGB failed: {e}")))
}

/// The Y, U and V planes of a 4:2:0 `frame`, one after the other without row padding.
fn pack_i420(frame: &ffmpeg::frame::Video, i420: &mut Vec<u8>) -> Option<()> {
    let (width, height) = (frame.width() as usize, frame.height() as usize);
    i420.clear();
    for (plane, (w, h)) in
        [(width, height), (width / 2, height / 2), (width / 2, height / 2)].into_iter().enumerate()
    {
        append_rows(i420, frame.data(plane), 0, frame.stride(plane), w, h)?;
    }
    Some(())
}

/// Any layout FFmpeg decodes, through swscale (a converter per frame, 0.1 ms at 1080p: FFmpeg's
/// is not `Send`, and the source moves to the capture thread after it is opened).
fn swscale_to_rgb(frame: &ffmpeg::frame::Video) -> Result<RgbImage, DecodeError> {
    let (format, width, height) = (frame.format(), frame.width(), frame.height());
    let mut scaler = scaling::Context::get(
        format,
        width,
        height,
        Pixel::RGB24,
        width,
        height,
        scaling::Flags::BILINEAR,
    )
    .map_err(|e| DecodeError::Frame(format!("no conversion from {format:?} to RGB ({e})")))?;
    let mut rgb = ffmpeg::frame::Video::empty();
    scaler
        .run(frame, &mut rgb)
        .map_err(|e| DecodeError::Frame(format!("conversion to RGB failed: {e}")))?;
    rgb_rows(&rgb, width, height)
        .ok_or_else(|| DecodeError::Frame("the converted frame is smaller than stated".into()))
}

/// The RGB24 plane of `frame` without its row padding.
fn rgb_rows(frame: &ffmpeg::frame::Video, width: u32, height: u32) -> Option<RgbImage> {
    let mut pixels = Vec::new();
    append_rows(
        &mut pixels,
        frame.data(0),
        0,
        frame.stride(0),
        width as usize * 3,
        height as usize,
    )?;
    RgbImage::from_raw(width, height, pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4:2:0 frame with gradients in every plane and row padding FFmpeg chose.
    fn gradient(width: u32, height: u32) -> ffmpeg::frame::Video {
        let mut frame = ffmpeg::frame::Video::new(Pixel::YUV420P, width, height);
        for (plane, (w, h), step) in [
            (0, (width, height), 1),
            (1, (width / 2, height / 2), 3),
            (2, (width / 2, height / 2), 5),
        ] {
            let stride = frame.stride(plane);
            let data = frame.data_mut(plane);
            for y in 0..h as usize {
                for x in 0..w as usize {
                    data[y * stride + x] = (16 + (x * step + y * 2) % 224) as u8;
                }
            }
        }
        frame
    }

    #[test]
    fn the_opencv_path_converts_as_swscale_does() {
        let frame = gradient(96, 64);
        let mut i420 = Vec::new();
        let fast = to_rgb(&frame, &mut i420).expect("OpenCV conversion");
        let reference = swscale_to_rgb(&frame).expect("swscale conversion");
        assert_eq!(i420.len(), 96 * 64 * 3 / 2, "the planes packed without padding");
        let worst = fast
            .as_raw()
            .iter()
            .zip(reference.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .expect("pixels");
        assert!(worst <= 3, "the two conversions differ by up to {worst}");
    }

    #[test]
    fn an_odd_sized_frame_goes_through_swscale() {
        let frame = gradient(95, 63);
        let mut i420 = Vec::new();
        let image = to_rgb(&frame, &mut i420).expect("conversion");
        assert_eq!(image.dimensions(), (95, 63));
        assert!(i420.is_empty(), "the OpenCV path needs even sides");
    }
}
