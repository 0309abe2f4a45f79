//! The outbox and the spool behind it as one thing: every rule that keeps the spool's live
//! content equal to the outbox's lives here, once, and the MQTT edge (`mqtt.rs`, `driver.rs`)
//! only calls it under its one lock.
//!
//! - A message is spooled before the outbox takes it, and leaves the spool when the outbox lets
//!   it go: on its PUBACK (acknowledged) or by the outbox's drop policy (dropped). An image the
//!   disk cannot keep is refused rather than held in RAM that reads may need; a read or a hit
//!   the disk cannot keep is still held in RAM until the broker has it.
//! - What the spool recovered at start goes into the outbox first, in its order.
//! - The spool's periodic work (fsync schedule, compaction, age limit) runs only in
//!   [`DurableOutbox::tick`], which the network thread calls on a timer: a submit or a PUBACK
//!   never copies or fsyncs a segment.
//!
//! No I/O except the spool's own file writes, no rumqttc type: unit-tested on a temp folder.

use super::outbox::{Outbox, OutboxStats, SubmitOutcome};
use crate::message::{Class, Message};
use crate::spool::record::Removal;
use crate::spool::{Spool, SpoolStats};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub struct DurableOutbox {
    outbox: Outbox,
    spool: Option<Spool>,
}

/// What was held when the publisher closed the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub stats: OutboxStats,
    /// In flight first, then pending in sending order.
    pub messages: Vec<Message>,
    /// The spool's folder, where those messages wait for the next start.
    pub spooled: Option<PathBuf>,
    /// Ids of the held messages the spool does not hold either: lost at this stop.
    pub lost: Vec<String>,
}

impl DurableOutbox {
    /// The spool's recovered messages, if any, go in first.
    pub fn new(outbox: Outbox, spool: Option<(Spool, Vec<Message>)>) -> Self {
        let mut durable = Self { outbox, spool: None };
        if let Some((spool, recovered)) = spool {
            durable.spool = Some(spool);
            for message in recovered {
                let outcome = durable.outbox.push(message);
                durable.forget(&outcome.dropped);
            }
        }
        durable
    }

    /// The outbox dropped these: the spool lets them go too.
    fn forget(&mut self, dropped: &[Message]) {
        if let Some(spool) = &mut self.spool {
            for m in dropped {
                spool.remove(&m.id, Removal::Dropped);
            }
        }
    }

    /// Spools the message, then lets the outbox take it; what was dropped for room is logged
    /// and returned.
    pub fn push(&mut self, message: Message) -> SubmitOutcome {
        let spooled = match &mut self.spool {
            None => true,
            Some(spool) => match spool.put(&message) {
                Ok(()) => true,
                Err(error) if message.class == Class::Image => {
                    tracing::warn!(%error, id = %message.id, "image not spooled: dropped (images go first when the disk is full)");
                    false
                }
                Err(error) => {
                    tracing::error!(%error, id = %message.id, "message not spooled: held in RAM only until the broker has it");
                    false
                }
            },
        };
        let outcome = if !spooled && message.class == Class::Image {
            self.outbox.refuse(message)
        } else {
            self.outbox.push(message)
        };
        self.forget(&outcome.dropped);
        for m in &outcome.dropped {
            tracing::warn!(id = %m.id, class = ?m.class, "outbox full: message dropped");
        }
        outcome
    }

    pub fn next_to_send(&self, max_in_flight: usize) -> Option<&Message> {
        self.outbox.next_to_send(max_in_flight)
    }

    pub fn mark_sent(&mut self, id: &str) -> bool {
        self.outbox.mark_sent(id)
    }

    pub fn on_pkid_assigned(&mut self, pkid: u16) {
        self.outbox.on_pkid_assigned(pkid);
    }

    pub fn on_subscriptions_queued(&mut self, count: usize) {
        self.outbox.on_subscriptions_queued(count);
    }

    pub fn on_subscription_sent(&mut self, pkid: u16) {
        self.outbox.on_subscription_sent(pkid);
    }

    pub fn expect_completions(&mut self, pkids: &[u16]) {
        self.outbox.expect_completions(pkids);
    }

    /// The broker has the message: it leaves both copies.
    pub fn on_puback(&mut self, pkid: u16) -> Option<Message> {
        let message = self.outbox.on_puback(pkid)?;
        if let Some(spool) = &mut self.spool {
            spool.remove(&message.id, Removal::Acknowledged);
        }
        Some(message)
    }

    pub fn on_session_lost(&mut self) {
        self.outbox.on_session_lost();
    }

    /// How often [`Self::tick`] has work to do; `None` without a spool.
    pub fn tick_every(&self) -> Option<Duration> {
        self.spool.as_ref().map(Spool::tick_every)
    }

    /// The spool's periodic work. A pending message past the age limit leaves the outbox and
    /// then the spool, and is returned; one in flight stays (the broker may have it).
    pub fn tick(&mut self) -> Vec<Message> {
        let Some(spool) = &mut self.spool else { return Vec::new() };
        let mut expired = Vec::new();
        for id in spool.tick() {
            if let Some(m) = self.outbox.remove_pending(&id) {
                tracing::warn!(id = %m.id, class = ?m.class, "older than the spool's age limit (spool.max_age_s, or hit_max_age_s for a hit): dropped");
                spool.expire(&id);
                expired.push(m);
            }
        }
        expired
    }

    pub fn is_empty(&self) -> bool {
        self.outbox.is_empty()
    }

    pub fn stats(&self) -> OutboxStats {
        self.outbox.stats()
    }

    pub fn spool_stats(&self) -> Option<SpoolStats> {
        self.spool.as_ref().map(Spool::stats)
    }

    pub fn spool_oldest(&self) -> Option<SystemTime> {
        self.spool.as_ref().and_then(Spool::oldest)
    }

    /// The outbox's and the spool's figures as the heartbeat carries them.
    pub fn figures(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut figures = serde_json::Map::new();
        figures.insert("outbox".into(), serde_json::to_value(self.stats()).unwrap_or_default());
        if let Some(spool) = self.spool_stats() {
            figures.insert("spool".into(), serde_json::to_value(spool).unwrap_or_default());
        }
        figures
    }

    /// Takes everything held and makes the spool durable: what it holds is sent at the next
    /// start.
    pub fn close(&mut self) -> Closed {
        let stats = self.outbox.stats();
        let messages = self.outbox.drain();
        let lost = messages
            .iter()
            .filter(|m| !self.spool.as_ref().is_some_and(|s| s.holds(&m.id)))
            .map(|m| m.id.clone())
            .collect();
        let spooled = self.spool.as_mut().map(|spool| {
            spool.sync();
            spool.dir().to_path_buf()
        });
        Closed { stats, messages, spooled, lost }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::SpoolConfig;
    use std::path::Path;

    fn msg(id: &str, class: Class, bytes: usize) -> Message {
        Message { id: id.into(), topic: format!("anpr/u/{id}"), payload: vec![b'x'; bytes], class }
    }

    fn open(dir: &Path, max_messages: usize) -> DurableOutbox {
        let config = SpoolConfig { dir: dir.to_path_buf(), ..SpoolConfig::default() };
        let spool = Spool::open(&config).expect("spool");
        DurableOutbox::new(Outbox::new(max_messages, 1 << 20), Some(spool))
    }

    /// Hands over what may go, then acknowledges it with packet ids 1, 2, …
    fn send_and_ack(durable: &mut DurableOutbox, n: u16) {
        for pkid in 1..=n {
            let id = durable.next_to_send(usize::MAX).expect("something to send").id.clone();
            assert!(durable.mark_sent(&id));
            durable.on_pkid_assigned(pkid);
        }
        for pkid in 1..=n {
            assert!(durable.on_puback(pkid).is_some());
        }
    }

    fn ids(messages: &[Message]) -> Vec<&str> {
        messages.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn the_spool_holds_exactly_what_the_outbox_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut durable = open(dir.path(), 3);
        for (id, class) in [("r1", Class::Read), ("i1", Class::Image), ("h1", Class::Hit)] {
            assert!(durable.push(msg(id, class, 10)).held);
        }
        // Full: the image goes, from both copies.
        let outcome = durable.push(msg("r2", Class::Read, 10));
        assert_eq!(ids(&outcome.dropped), ["i1"]);
        // h1 then r1 acknowledged: gone from the spool too.
        send_and_ack(&mut durable, 2);
        assert_eq!(durable.spool_stats().expect("spool").records, 1);
        let closed = durable.close();
        assert_eq!(ids(&closed.messages), ["r2"]);
        assert!(closed.lost.is_empty(), "{closed:?}");
        drop(durable);
        let mut reopened = open(dir.path(), 3);
        assert_eq!(ids(&reopened.close().messages), ["r2"], "r2 comes back after a restart");
    }

    #[test]
    fn what_is_in_flight_at_a_session_loss_is_sent_again_and_stays_spooled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut durable = open(dir.path(), 10);
        durable.push(msg("r1", Class::Read, 10));
        let id = durable.next_to_send(10).expect("r1").id.clone();
        durable.mark_sent(&id);
        durable.on_pkid_assigned(1);
        durable.on_session_lost();
        assert_eq!(durable.stats().republished, 1);
        assert_eq!(durable.on_puback(1), None, "the old connection's id means nothing now");
        assert_eq!(durable.spool_stats().expect("spool").records, 1);
        send_and_ack(&mut durable, 1);
        assert_eq!(durable.spool_stats().expect("spool").records, 0);
    }

    #[test]
    fn without_a_spool_everything_held_is_lost_at_close() {
        let mut durable = DurableOutbox::new(Outbox::new(10, 1 << 20), None);
        durable.push(msg("r1", Class::Read, 10));
        assert_eq!(durable.tick_every(), None);
        assert!(durable.tick().is_empty());
        let closed = durable.close();
        assert_eq!((closed.lost, closed.spooled), (vec!["r1".to_string()], None));
        assert!(durable.figures().get("spool").is_none());
    }

    #[test]
    fn a_pending_message_past_the_age_limit_leaves_both_copies_on_the_tick() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = SpoolConfig { dir: dir.path().into(), max_age_s: 1, ..SpoolConfig::default() };
        let spool = Spool::open(&config).expect("spool");
        let mut durable = DurableOutbox::new(Outbox::new(10, 1 << 20), Some(spool));
        durable.push(msg("r1", Class::Read, 10));
        durable.push(msg("r2", Class::Read, 10));
        let id = durable.next_to_send(10).expect("r1").id.clone();
        durable.mark_sent(&id);
        assert!(durable.tick().is_empty(), "nothing is old yet");
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(ids(&durable.tick()), ["r2"], "r1 is in flight: the broker may have it");
        assert_eq!(durable.spool_stats().expect("spool").expired, 1);
        assert_eq!(durable.stats().pending, 0);
    }

    #[test]
    fn an_image_the_disk_cannot_keep_is_refused_a_read_is_held() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut durable = open(dir.path(), 10);
        // A spool record cannot hold an id over 65 535 bytes: the spool refuses both.
        let long = "x".repeat(70_000);
        let image = durable.push(msg(&format!("{long}i"), Class::Image, 10));
        assert!(!image.held, "an image the disk cannot keep is not worth the RAM");
        let read = durable.push(msg(&format!("{long}r"), Class::Read, 10));
        assert!(read.held, "a read is kept in RAM until the broker has it");
        assert_eq!(durable.close().lost.len(), 1, "and it is reported lost at a stop");
    }
}
