//! A finished read on its way out of the pipeline, and the trait of every place it can go (the
//! MQTT publisher on a unit, standard output for a replay, the signing wrapper around either).

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

/// An image that travels with a read.
#[derive(Debug, Clone)]
pub struct OutgoingImage {
    pub kind: ImageKind,
    pub topic: String,
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
    /// Where the image `kind` of read `read_id` will be found.
    fn image_topic(&self, read_id: &str, kind: ImageKind) -> String;

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
}
