//! A finished read on its way out of the pipeline, and the trait of every place it can go (the
//! MQTT publisher on a unit, standard output for a replay, the signing wrapper around either).
//! An image travels named by its read and its [`ImageKind`]; where it is found is the
//! destination's [`ImageNames`], given to the pipeline with its stages, so that no sink
//! invents a place and the signed record names the place the publisher sends the image to.

use crate::read_record::ReadRecord;
use std::fmt;

/// Which image of a read it is. Its text (`overview`, `plate`, `context-0`, …) names the image
/// after its read id: in the image's topic, its message id and the check of a signed read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// The whole frame of the best read (blurred for a non-hit when configured).
    Overview,
    /// The plate's crop.
    Plate,
    /// A hit's context frame, numbered in time order from 0.
    Context(usize),
}

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageKind::Overview => f.write_str("overview"),
            ImageKind::Plate => f.write_str("plate"),
            ImageKind::Context(i) => write!(f, "context-{i}"),
        }
    }
}

/// Where a destination keeps the images of a read, as records name them:
/// `<base>/<read id>/<kind>`. The MQTT publisher's base is its images topic
/// (`publish::Topics::image_names`); a destination that keeps no image has
/// [`ImageNames::unpublished`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageNames {
    base: String,
}

impl ImageNames {
    /// Every image under `base`.
    pub fn under(base: impl Into<String>) -> Self {
        Self { base: base.into() }
    }

    /// For a destination that publishes no image (standard output, an evaluation): the name
    /// its records have always carried (`stdout/images/…`), so their content and signature stay
    /// what they were.
    pub fn unpublished() -> Self {
        Self::under("stdout/images")
    }

    /// Where image `kind` of read `read_id` is found.
    pub fn name(&self, read_id: &str, kind: ImageKind) -> String {
        format!("{}/{read_id}/{kind}", self.base)
    }
}

/// An image that travels with a read: which of the read's images it is, and its bytes.
#[derive(Debug, Clone)]
pub struct OutgoingImage {
    pub kind: ImageKind,
    pub jpeg: Vec<u8>,
}

/// A finished read and its images.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub record: ReadRecord,
    pub images: Vec<OutgoingImage>,
}

/// A sink that cannot take reads any more (standard output closed): the pipeline stops.
#[derive(Debug, thiserror::Error)]
pub enum SinkFailed {
    /// Writing to `destination` failed: nobody reads the records any more.
    #[error("cannot write reads to {destination}: {source}")]
    Write { destination: &'static str, source: std::io::Error },
}

/// A destination for reads. `deliver` must not block on a network: a sink that cannot send
/// now keeps the read (bounded, with its own documented policy) and sends it later; an error
/// means it never will, and stops the pipeline.
pub trait ReadSink {
    fn deliver(&mut self, read: Outgoing) -> Result<(), SinkFailed>;

    /// Sends a snapshot (already blurred) asked by command `id`; where it went, or `None` for
    /// a sink that takes none (standard output).
    fn snapshot(&mut self, _id: &str, _jpeg: Vec<u8>) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts are in topics, message ids and signed records already sent: they must not move.
    #[test]
    fn each_kind_keeps_its_name() {
        let names =
            [ImageKind::Overview, ImageKind::Plate, ImageKind::Context(0), ImageKind::Context(7)]
                .map(|kind| kind.to_string());
        assert_eq!(names, ["overview", "plate", "context-0", "context-7"]);
    }

    #[test]
    fn an_image_is_named_by_its_read_and_its_kind_under_the_destination() {
        let names = ImageNames::under("anpr/box/images");
        assert_eq!(names.name("r1", ImageKind::Context(1)), "anpr/box/images/r1/context-1");
        let unpublished = ImageNames::unpublished().name("r1", ImageKind::Overview);
        assert_eq!(unpublished, "stdout/images/r1/overview");
    }
}
