//! One overview frame on demand (the control plane's `snapshot` command, for aiming a camera):
//! asked from any thread, taken by the recognition loop from the next frame it recognises, with
//! every plate detected on that frame blurred as a non-hit's overview is (`privacy::policy::
//! snapshot`), and handed to the read sink. One snapshot is asked at a time; nothing is copied
//! from a frame unless one is asked.

use crate::geometry::BoundingBox;
use crate::imaging::{encode_jpeg, ImageConfig};
use crate::outgoing::ReadSink;
use crate::privacy::policy::OverviewRelease;
use crate::privacy::Privacy;
use crate::sync::lock;
use image::RgbImage;
use std::sync::Mutex;

/// A snapshot that left: where it went and what was blurred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub topic: String,
    pub bytes: usize,
    pub plates_blurred: usize,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Idle,
    Asked(String),
    Done(String, Result<Taken, String>),
}

/// The desk where a snapshot is asked for and its outcome collected.
#[derive(Debug, Default)]
pub struct Snapshots(Mutex<State>);

impl Snapshots {
    /// Asks for a snapshot under `id`; false when one is already asked and not collected.
    pub fn ask(&self, id: &str) -> bool {
        let mut state = lock(&self.0);
        if matches!(*state, State::Idle) {
            *state = State::Asked(id.to_string());
            true
        } else {
            false
        }
    }

    /// The outcome of the snapshot asked, once taken (then the desk is free again).
    pub fn collect(&self) -> Option<(String, Result<Taken, String>)> {
        let mut state = lock(&self.0);
        match std::mem::take(&mut *state) {
            State::Done(id, outcome) => Some((id, outcome)),
            other => {
                *state = other;
                None
            }
        }
    }

    /// Gives up the snapshot asked (no frame came): the desk is free again.
    pub fn cancel(&self) {
        *lock(&self.0) = State::Idle;
    }

    /// The id of the snapshot asked, if one waits for a frame.
    fn asked(&self) -> Option<String> {
        match &*lock(&self.0) {
            State::Asked(id) => Some(id.clone()),
            _ => None,
        }
    }

    /// Takes the asked snapshot, if any, from `image` with its detected `plates`.
    pub(super) fn serve(
        &self,
        image: &RgbImage,
        plates: &[BoundingBox],
        images: &ImageConfig,
        privacy: &Privacy,
        sink: &mut dyn ReadSink,
    ) {
        let Some(id) = self.asked() else { return };
        let outcome = take(&id, image, plates, images, privacy, sink);
        let mut state = lock(&self.0);
        // Cancelled meanwhile: nobody waits for this one any more.
        if matches!(&*state, State::Asked(asked) if *asked == id) {
            *state = State::Done(id, outcome);
        }
    }
}

fn take(
    id: &str,
    image: &RgbImage,
    plates: &[BoundingBox],
    images: &ImageConfig,
    privacy: &Privacy,
    sink: &mut dyn ReadSink,
) -> Result<Taken, String> {
    let blurred = match crate::privacy::policy::snapshot(&privacy.config) {
        OverviewRelease::Blurred { windscreen } => {
            crate::privacy::blur::blurred(image, plates, &privacy.config.blur, windscreen)
                .map_err(|e| format!("the frame could not be blurred, so it is not sent: {e}"))?
        }
        OverviewRelease::Clear => image.clone(),
        OverviewRelease::None => return Err("the privacy policy releases no overview".into()),
    };
    let whole = (0, 0, blurred.width(), blurred.height());
    let (jpeg, _, _) = encode_jpeg(&blurred, whole, images.overview_max_width, images.jpeg_quality)
        .map_err(|e| format!("the frame could not be encoded: {e}"))?;
    let bytes = jpeg.len();
    let topic = sink.snapshot(id, jpeg).ok_or_else(|| {
        "this unit's output takes no snapshot (output.kind is not mqtt)".to_string()
    })?;
    Ok(Taken { topic, bytes, plates_blurred: plates.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_snapshot_at_a_time_collected_once() {
        let desk = Snapshots::default();
        assert!(desk.ask("c1"));
        assert!(!desk.ask("c2"), "one at a time");
        assert_eq!(desk.asked().as_deref(), Some("c1"));
        assert!(desk.collect().is_none(), "not taken yet");
        *lock(&desk.0) = State::Done("c1".into(), Err("no".into()));
        assert_eq!(desk.collect(), Some(("c1".to_string(), Err("no".to_string()))));
        assert!(desk.collect().is_none());
        assert!(desk.ask("c3"), "free again");
        desk.cancel();
        assert!(desk.asked().is_none());
    }
}
