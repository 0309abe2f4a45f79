//! The MQTT topics of one unit, all under `<prefix>/<device>/`.

use crate::device_id::{DeviceId, FLEET};
use crate::outgoing::{ImageKind, ImageNames};

/// The topics of one unit (`<prefix>` is `anpr` by default):
/// - `reads`: every read, QoS 1 (hits too);
/// - `hits`: hit records, QoS 1, sent ahead of every queued non-hit;
/// - `images/<read id>/<overview|plate>`: the JPEG bytes, QoS 1, the first to be dropped when
///   the outbox is full; the read names them with their SHA-256;
/// - `status`: retained; `online` with a periodic heartbeat, `offline` at a clean stop and,
///   as the Last Will, when the unit vanishes;
/// - `control`: subscribed on every connection; what arrives is handed to the control hook;
///   `fleet_control` (`<prefix>/fleet/control`) likewise when the unit takes commands, and
///   `control_result` carries the unit's answer to each command (QoS 0, not retained).
/// - `hotlist`, and `fleet_hotlist` (`<prefix>/fleet/hotlist`, shared by every unit): retained
///   full hotlists, subscribed on every connection when the `[hotlist]` section says so;
///   `hotlist_delta` and `fleet_hotlist_delta` (`…/hotlist/delta`) the deltas beside each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub reads: String,
    pub hits: String,
    pub status: String,
    pub control: String,
    pub control_result: String,
    pub fleet_control: String,
    pub hotlist: String,
    pub fleet_hotlist: String,
    pub hotlist_delta: String,
    pub fleet_hotlist_delta: String,
    /// A blurred overview asked by a `snapshot` command (QoS 1, not retained).
    pub snapshot: String,
    images: ImageNames,
}

impl Topics {
    /// `prefix` must pass [`is_topic_level`] (`[mqtt]`'s checks ensure it); a [`DeviceId`] is
    /// one level by its type, and never the fleet's.
    pub fn new(prefix: &str, device: &DeviceId) -> Self {
        let base = format!("{prefix}/{device}");
        Self {
            reads: format!("{base}/reads"),
            hits: format!("{base}/hits"),
            status: format!("{base}/status"),
            control: format!("{base}/control"),
            control_result: format!("{base}/control/result"),
            fleet_control: format!("{prefix}/{FLEET}/control"),
            hotlist: format!("{base}/hotlist"),
            fleet_hotlist: format!("{prefix}/{FLEET}/hotlist"),
            hotlist_delta: format!("{base}/hotlist/delta"),
            fleet_hotlist_delta: format!("{prefix}/{FLEET}/hotlist/delta"),
            snapshot: format!("{base}/snapshot"),
            images: ImageNames::under(format!("{base}/images")),
        }
    }

    /// Where the publisher sends image `kind` of read `read_id`.
    pub fn image(&self, read_id: &str, kind: ImageKind) -> String {
        self.images.name(read_id, kind)
    }

    /// The names of this unit's images, for the records of the reads it publishes.
    pub fn image_names(&self) -> &ImageNames {
        &self.images
    }
}

/// Whether `s` can stand as one level of a topic we publish to: not empty, no level separator,
/// no wildcard (a publish to a topic with `+` or `#` is refused by the broker).
pub fn is_topic_level(s: &str) -> bool {
    !s.is_empty() && !s.contains(['+', '#', '/', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_under_prefix_and_device() {
        let t = Topics::new("anpr", &"box-7".parse().expect("id"));
        assert_eq!(
            [t.reads.as_str(), t.hits.as_str(), t.status.as_str(), t.control.as_str()],
            ["anpr/box-7/reads", "anpr/box-7/hits", "anpr/box-7/status", "anpr/box-7/control"]
        );
        assert_eq!(t.image("0190-ab", ImageKind::Plate), "anpr/box-7/images/0190-ab/plate");
        assert_eq!(
            (t.hotlist.as_str(), t.fleet_hotlist.as_str()),
            ("anpr/box-7/hotlist", "anpr/fleet/hotlist")
        );
    }

    #[test]
    fn a_topic_level_has_no_separator_or_wildcard() {
        for (level, ok) in [
            ("anpr", true),
            ("box_1-a", true),
            ("", false),
            ("a/b", false),
            ("a+", false),
            ("#", false),
        ] {
            assert_eq!(is_topic_level(level), ok, "{level:?}");
        }
    }
}
