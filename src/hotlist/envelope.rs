//! What a hotlist update looks like on MQTT: a full list or a delta in a JSON envelope with its
//! signature, the whole payload optionally compressed with zstd.
//!
//! - A full list: `{"format": "csv"|"json", "version": "<V>", "signature": "<base64>"?,
//!   "body": "<the list as text>"}`; the envelope's version must equal the body's.
//! - A delta: `{"base": "<B>", "version": "<V>", "signature": "<base64>"?, "body": "<the delta
//!   JSON>"}` (`delta.rs`); its base and version must equal the body's.
//! - Compressed: the MQTT payload is one zstd frame whose content is that same envelope; it is
//!   recognised by the frame's magic number (an envelope starts with `{`), so a publisher that
//!   does not compress is still understood. A 100,000-entry CSV list of 5 MB is 0.8–1.1 MB
//!   compressed (docs/hotlist.md).
//!
//! The signature is Ed25519 over the exact bytes of `body`, uncompressed: what the unit verifies
//! is what it parses, and the same list has the same signature however it travels. So the
//! payload is decompressed before anything is verified; the decompressed size is bounded by
//! [`MAX_OPENED_BYTES`], so a small payload cannot make the unit hold more than a message could.

use super::list::Format;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::io::Read;

/// The most a compressed payload may open to: the largest MQTT message the unit takes (an
/// uncompressed envelope never exceeds it either).
pub const MAX_OPENED_BYTES: usize = 32 << 20;

/// The first bytes of a zstd frame (RFC 8878, 3.1.1).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// zstd's level for lists: 19 makes a 100,000-entry list 16 % of its text against 22 % at the
/// default 3, in about a second of the centre's time, once per list; opening costs the same at
/// every level.
pub const COMPRESSION_LEVEL: i32 = 19;

/// The MQTT payload carrying a full list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub format: Format,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    pub body: String,
}

/// The MQTT payload carrying a delta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaEnvelope {
    pub base: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the payload starts as zstd but does not decompress: {0}")]
    Corrupt(String),
    #[error("the payload decompresses to more than {MAX_OPENED_BYTES} bytes, the bound of one update; split the list")]
    TooLarge,
}

/// The envelope's bytes: `payload` itself, or its zstd frame decompressed (bounded).
pub fn open(payload: &[u8]) -> Result<Cow<'_, [u8]>, OpenError> {
    if !payload.starts_with(&ZSTD_MAGIC) {
        return Ok(Cow::Borrowed(payload));
    }
    let decoder =
        zstd::stream::read::Decoder::new(payload).map_err(|e| OpenError::Corrupt(e.to_string()))?;
    let mut opened = Vec::new();
    // One byte past the bound tells a payload at the bound from one beyond it.
    decoder
        .take(MAX_OPENED_BYTES as u64 + 1)
        .read_to_end(&mut opened)
        .map_err(|e| OpenError::Corrupt(e.to_string()))?;
    if opened.len() > MAX_OPENED_BYTES {
        return Err(OpenError::TooLarge);
    }
    Ok(Cow::Owned(opened))
}

/// `envelope` (its JSON) as one zstd frame at [`COMPRESSION_LEVEL`].
pub fn compress(envelope: &[u8]) -> std::io::Result<Vec<u8>> {
    zstd::bulk::compress(envelope, COMPRESSION_LEVEL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_envelope_opens_to_its_bytes_and_a_plain_one_is_itself() {
        let envelope = br#"{"format":"csv","version":"v1","body":"version,v1\n"}"#;
        assert_eq!(open(envelope), Ok(Cow::Borrowed(&envelope[..])));
        let packed = compress(envelope).expect("compress");
        assert!(packed.starts_with(&ZSTD_MAGIC));
        assert_eq!(open(&packed).expect("opens").as_ref(), &envelope[..]);
        let mut broken = packed.clone();
        broken.truncate(packed.len() - 3);
        assert!(matches!(open(&broken), Err(OpenError::Corrupt(_))), "a cut frame is refused");
    }

    #[test]
    fn a_payload_that_opens_beyond_the_bound_is_refused_unread() {
        // 40 MiB of one byte compresses to a few kilobytes: a bomb for an unbounded reader.
        let bomb = zstd::bulk::compress(&vec![b'{'; 40 << 20], 3).expect("compress");
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        assert_eq!(open(&bomb), Err(OpenError::TooLarge));
    }
}
