//! Standard output as a destination for reads: the replay default.

use crate::outgoing::{Outgoing, ReadSink};
use std::io::Write;

/// Writes one JSON record per line to standard output (the replay default); images are not
/// written, their references are.
pub struct StdoutSink<W: Write> {
    out: W,
    failed: bool,
}

impl<W: Write> StdoutSink<W> {
    pub fn new(out: W) -> Self {
        Self { out, failed: false }
    }

    /// Whether a write failed (a closed pipe): the caller stops the pipeline.
    pub fn failed(&self) -> bool {
        self.failed
    }
}

impl<W: Write> ReadSink for StdoutSink<W> {
    fn deliver(&mut self, read: Outgoing) {
        let written = serde_json::to_writer(&mut self.out, &read.record)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(self.out))
            .and_then(|()| self.out.flush());
        if let Err(error) = written {
            if !self.failed {
                tracing::error!(%error, "cannot write reads to standard output");
            }
            self.failed = true;
        }
    }

    fn image_topic(&self, read_id: &str, kind: &str) -> String {
        format!("stdout/images/{read_id}/{kind}")
    }
}
