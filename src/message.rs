//! A message on its way to the central broker: what the outbox holds in RAM and the spool on
//! disk. Both stages below and above speak this one type, so neither imports the other.

/// What a message is, which decides its priority and its place in the drop order
/// (`publish/outbox.rs`). Its on-disk code is fixed in `spool/record.rs`, not by this order:
/// reordering the variants changes nothing stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Hit,
    Read,
    Image,
    /// An image of a hit: the control room's evidence, sent before every read, but still an
    /// image, dropped before any read.
    HitImage,
}

impl Class {
    /// Every class, for the code that must know them all.
    pub const ALL: [Class; 4] = [Class::Hit, Class::HitImage, Class::Read, Class::Image];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Stable across retries: the read id (and image kind), what consumers deduplicate by.
    pub id: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub class: Class,
}
