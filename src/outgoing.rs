//! A finished read on its way out of the pipeline, and the trait of every place it can go (the
//! MQTT publisher on a unit, standard output for a replay, the signing wrapper around either).

use crate::read_record::ReadRecord;

/// The kind of a hit's context frame starts with this (`context-0`, `context-1`, …).
pub const CONTEXT: &str = "context";

/// An image that travels with a read.
#[derive(Debug, Clone)]
pub struct OutgoingImage {
    pub kind: String,
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
#[error("{0}")]
pub struct SinkFailed(pub String);

/// A destination for reads. `deliver` must not block on a network: a sink that cannot send
/// now keeps the read (bounded, with its own documented policy) and sends it later; an error
/// means it never will, and stops the pipeline.
pub trait ReadSink {
    fn deliver(&mut self, read: Outgoing) -> Result<(), SinkFailed>;
    /// Where the image `kind` of read `read_id` will be found.
    fn image_topic(&self, read_id: &str, kind: &str) -> String;

    /// Sends a snapshot (already blurred) asked by command `id`; where it went, or `None` for
    /// a sink that takes none (standard output).
    fn snapshot(&mut self, _id: &str, _jpeg: Vec<u8>) -> Option<String> {
        None
    }
}
