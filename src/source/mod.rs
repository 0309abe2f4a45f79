//! Stage 1 of the data flow: frame sources.
//!
//! Every source — a still, a folder of stills, a video file, and in the daemon a camera or an
//! RTSP stream — yields numbered, timed [`Frame`]s through the one [`FrameSource`] trait, so the
//! stages after it never know where pictures come from.

pub mod camera;
mod decode;
mod reconnect;
mod still;
pub mod stream;
mod video;

pub use camera::{CameraConfig, CameraSource};
pub use still::{decode_still, StillImages};
pub use stream::{RtspStream, StreamConfig};
pub use video::VideoFile;

use crate::frame::Frame;
use crate::shutdown::Shutdown;
use std::path::{Path, PathBuf};

/// Why a source could not be opened: nothing can be read from it at all.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path}: no such file or folder; give an image, a folder of images or a video file")]
    NotFound { path: PathBuf },
    #[error("{path}: the folder holds no images (looked for {extensions}); point at a folder with .jpg/.png files")]
    EmptyFolder { path: PathBuf, extensions: &'static str },
    #[error("{path}: cannot list the folder: {source}")]
    ListFolder { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a video FFmpeg can open ({detail}); give a video file, an image or a folder of images")]
    Unplayable { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Camera { path: PathBuf, detail: String },
    #[error("{url}: cannot open the stream: {detail}. Check the URL, the credentials and that the camera is reachable")]
    Stream { url: String, detail: String },
}

/// One frame that could not be had. The source stays usable: the next call tries the next frame.
#[derive(Debug, thiserror::Error)]
#[error("{origin} (frame {seq}): {reason}")]
pub struct FrameError {
    pub origin: String,
    pub seq: u64,
    pub reason: String,
}

/// A supplier of frames.
///
/// Design: `next_frame` returns a per-frame `Err` instead of ending the stream, so one corrupt
/// JPEG in a folder, or one undecodable packet in a video, costs one frame and never the rest.
pub trait FrameSource: Send {
    /// What this source reads from, for logs and read records.
    fn describe(&self) -> &str;

    /// How many frames the source expects to yield, when it knows (for progress display).
    fn len_hint(&self) -> Option<u64>;

    /// Whether frames arrive on their own clock (a camera, a stream) rather than when asked
    /// for (a file): a live source's frames are dropped, not waited for, when recognition lags.
    fn is_live(&self) -> bool {
        false
    }

    /// Whether each frame is a scene of its own (a folder of photographs) rather than a moment
    /// of one: then a plate read on one frame is all a vehicle gets, not a phantom.
    fn frames_are_scenes(&self) -> bool {
        false
    }

    /// The next frame; `None` once the source is exhausted (or, for a live source, once the
    /// unit stops).
    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>>;

    /// A live source's waits between reconnection attempts end when `shutdown` comes.
    fn watch(&mut self, _shutdown: &Shutdown) {}
}

/// File name endings treated as stills; anything else that is a file is tried as a video.
pub const STILL_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp"];

pub(crate) fn is_still(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| STILL_EXTENSIONS.iter().any(|s| s.eq_ignore_ascii_case(e)))
}

/// Opens whatever `path` names: a folder of stills, one still, or a video file.
pub fn open(path: &Path) -> Result<Box<dyn FrameSource>, OpenError> {
    if path.is_dir() {
        Ok(Box::new(StillImages::from_folder(path)?))
    } else if !path.exists() {
        Err(OpenError::NotFound { path: path.to_path_buf() })
    } else if is_still(path) {
        Ok(Box::new(StillImages::from_files(vec![path.to_path_buf()])))
    } else {
        Ok(Box::new(VideoFile::open(path)?))
    }
}
