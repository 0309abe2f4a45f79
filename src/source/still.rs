//! Still images, one file or a whole folder, decoded in name order.

use super::{is_still, FrameError, FrameSource, OpenError};
use crate::frame::Frame;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

pub struct StillImages {
    description: String,
    files: Vec<PathBuf>,
    next: usize,
    started: Instant,
}

impl StillImages {
    pub fn from_files(files: Vec<PathBuf>) -> Self {
        let description = match files.as_slice() {
            [one] => one.display().to_string(),
            _ => format!("{} images", files.len()),
        };
        Self { description, files, next: 0, started: Instant::now() }
    }

    /// All stills directly in `folder`, sorted by name so runs are repeatable.
    pub fn from_folder(folder: &Path) -> Result<Self, OpenError> {
        let list_error = |source| OpenError::ListFolder { path: folder.to_path_buf(), source };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(folder).map_err(list_error)? {
            let path = entry.map_err(list_error)?.path();
            if path.is_file() && is_still(&path) {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(OpenError::EmptyFolder {
                path: folder.to_path_buf(),
                extensions: ".jpg .jpeg .png .bmp",
            });
        }
        files.sort();
        let mut source = Self::from_files(files);
        source.description = folder.display().to_string();
        Ok(source)
    }
}

/// Decodes a still and turns it upright as its EXIF orientation says, the way a viewer (and
/// OpenCV's `imread`) shows it: a phone picture stored sideways must be read upright.
pub fn decode_still(path: &Path) -> Result<RgbImage, String> {
    let reader = ImageReader::open(path)
        .map_err(|e| format!("cannot open: {e}"))?
        .with_guessed_format()
        .map_err(|e| format!("cannot read: {e}"))?;
    let mut decoder = reader.into_decoder().map_err(|e| format!("not a readable image: {e}"))?;
    let orientation = decoder.orientation().map_err(|e| format!("bad EXIF orientation: {e}"))?;
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|e| format!("corrupt image data: {e}"))?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

impl FrameSource for StillImages {
    fn describe(&self) -> &str {
        &self.description
    }

    fn len_hint(&self) -> Option<u64> {
        Some(self.files.len() as u64)
    }

    fn frames_are_scenes(&self) -> bool {
        true
    }

    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        let path = self.files.get(self.next)?;
        let seq = self.next as u64;
        self.next += 1;
        let origin = path.display().to_string();
        Some(match decode_still(path) {
            Ok(image) => Ok(Frame {
                seq,
                media_time: None,
                captured_at: SystemTime::now(),
                monotonic: self.started.elapsed(),
                origin,
                image,
            }),
            Err(reason) => Err(FrameError { origin, seq, reason }),
        })
    }
}
