//! Standard output as a destination for reads: the replay default.

use crate::outgoing::{Outgoing, ReadSink, SinkFailed};
use std::io::Write;

/// Writes one JSON record per line to standard output (the replay default); images are not
/// written, their references are.
pub struct StdoutSink<W: Write> {
    out: W,
}

impl<W: Write> StdoutSink<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }
}

impl<W: Write> ReadSink for StdoutSink<W> {
    /// A write that fails (a closed pipe) stops the pipeline: nobody reads the records any more.
    fn deliver(&mut self, read: Outgoing) -> Result<(), SinkFailed> {
        serde_json::to_writer(&mut self.out, &read.record)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(self.out))
            .and_then(|()| self.out.flush())
            .map_err(|source| SinkFailed::Write { destination: "standard output", source })
    }
}
