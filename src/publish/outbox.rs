//! The outbox: every message the unit has not yet seen acknowledged by the broker.
//!
//! Design: a pure state machine in the manner of rumqttc's own `MqttState` — it never touches
//! the network, it is told what happened (a publish went out with packet id N, PUBACK N came
//! back, the session was lost) and it answers what to send next. That is why every delivery
//! rule below is unit-tested without a broker.
//!
//! - Priority: hits, then reads, then images; FIFO within each.
//! - Bounded in messages and in bytes (in-flight messages count: they are still held). When full,
//!   the oldest image is dropped first, then the oldest non-hit read, and a hit only when nothing
//!   but hits is held. Every drop is counted by class. A read is never dropped to keep an image.
//! - A message leaves only on PUBACK. After the broker comes back without the session, rumqttc
//!   has forgotten everything it had not sent or had not seen acknowledged, so every message in
//!   flight goes back to the front of its queue and is published again (consumers deduplicate
//!   by message id).
//!
//! Packet ids: rumqttc reports `Outgoing::Publish(pkid)` in the order it sends publishes, which
//! is the order of our `try_publish` calls (one request channel, first in first out; requests
//! it held across a reconnect are re-sent in their order, after the retransmissions of publishes
//! that already had ids). So an id not yet known belongs to the oldest in-flight message without
//! one, and an id already known is a retransmission of that message.

use std::collections::VecDeque;

/// What a message is, which decides its priority and its place in the drop order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Hit = 0,
    Read = 1,
    Image = 2,
}

const CLASSES: [Class; 3] = [Class::Hit, Class::Read, Class::Image];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Stable across retries: the read id (and image kind), what consumers deduplicate by.
    pub id: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub class: Class,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct OutboxStats {
    pub pending: usize,
    pub in_flight: usize,
    pub bytes: usize,
    pub acked: u64,
    pub republished: u64,
    pub dropped_hits: u64,
    pub dropped_reads: u64,
    pub dropped_images: u64,
}

#[derive(Debug)]
struct InFlight {
    pkid: Option<u16>,
    message: Message,
}

#[derive(Debug)]
pub struct Outbox {
    max_messages: usize,
    max_bytes: usize,
    pending: [VecDeque<Message>; 3],
    in_flight: VecDeque<InFlight>,
    bytes: usize,
    stats: OutboxStats,
}

impl Outbox {
    pub fn new(max_messages: usize, max_bytes: usize) -> Self {
        Self {
            max_messages: max_messages.max(1),
            max_bytes: max_bytes.max(1),
            pending: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
            in_flight: VecDeque::new(),
            bytes: 0,
            stats: OutboxStats::default(),
        }
    }

    fn held(&self) -> usize {
        self.pending.iter().map(VecDeque::len).sum::<usize>() + self.in_flight.len()
    }

    /// Adds a message; returns the messages dropped to make room for it (possibly itself, when
    /// it is a lower class than everything held and there is no room).
    pub fn push(&mut self, message: Message) -> Vec<Message> {
        self.bytes += message.payload.len();
        self.pending[message.class as usize].push_back(message);
        let mut dropped = Vec::new();
        while self.held() > self.max_messages || self.bytes > self.max_bytes {
            match self.drop_one() {
                Some(m) => dropped.push(m),
                None => break,
            }
        }
        dropped
    }

    /// Drops the oldest pending message of the lowest class there is. In-flight messages are
    /// not dropped: the broker may already have them, and dropping would break the id mapping.
    fn drop_one(&mut self) -> Option<Message> {
        let class = CLASSES.iter().rev().find(|c| !self.pending[**c as usize].is_empty())?;
        let message = self.pending[*class as usize].pop_front()?;
        self.bytes -= message.payload.len();
        match message.class {
            Class::Hit => self.stats.dropped_hits += 1,
            Class::Read => self.stats.dropped_reads += 1,
            Class::Image => self.stats.dropped_images += 1,
        }
        Some(message)
    }

    /// The next message to hand to the client, marked in flight; `None` when nothing is pending
    /// or `max_in_flight` messages already await their PUBACK.
    pub fn next_to_send(&mut self, max_in_flight: usize) -> Option<Message> {
        if self.in_flight.len() >= max_in_flight {
            return None;
        }
        let class = CLASSES.iter().find(|c| !self.pending[**c as usize].is_empty())?;
        let message = self.pending[*class as usize].pop_front()?;
        self.in_flight.push_back(InFlight { pkid: None, message: message.clone() });
        Some(message)
    }

    /// The client refused the message just taken (its request queue is full): it goes back to
    /// the front of its queue.
    pub fn not_sent(&mut self, id: &str) {
        if let Some(i) = self.in_flight.iter().rposition(|f| f.pkid.is_none() && f.message.id == id) {
            if let Some(f) = self.in_flight.remove(i) {
                self.pending[f.message.class as usize].push_front(f.message);
            }
        }
    }

    /// rumqttc sent a publish with packet id `pkid`.
    pub fn on_outgoing_publish(&mut self, pkid: u16) {
        if pkid == 0 || self.in_flight.iter().any(|f| f.pkid == Some(pkid)) {
            return; // QoS 0, or a retransmission of a message we already know
        }
        if let Some(f) = self.in_flight.iter_mut().find(|f| f.pkid.is_none()) {
            f.pkid = Some(pkid);
        }
    }

    /// The broker acknowledged packet `pkid`: that message is delivered. Returns its id.
    pub fn on_puback(&mut self, pkid: u16) -> Option<String> {
        let i = self.in_flight.iter().position(|f| f.pkid == Some(pkid))?;
        let f = self.in_flight.remove(i)?;
        self.bytes -= f.message.payload.len();
        self.stats.acked += 1;
        Some(f.message.id)
    }

    /// The broker came back without our session: nothing in flight will be acknowledged, and
    /// rumqttc has discarded it. Everything in flight goes back to the front of its queue, in
    /// its original order.
    pub fn on_session_lost(&mut self) {
        while let Some(f) = self.in_flight.pop_back() {
            self.stats.republished += 1;
            self.pending[f.message.class as usize].push_front(f.message);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.held() == 0
    }

    pub fn stats(&self) -> OutboxStats {
        OutboxStats {
            pending: self.pending.iter().map(VecDeque::len).sum(),
            in_flight: self.in_flight.len(),
            bytes: self.bytes,
            ..self.stats
        }
    }

    /// Everything still held, in flight first (for a final report at shutdown).
    pub fn drain(&mut self) -> Vec<Message> {
        let mut all: Vec<Message> = self.in_flight.drain(..).map(|f| f.message).collect();
        for queue in &mut self.pending {
            all.extend(queue.drain(..));
        }
        self.bytes = 0;
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, class: Class, bytes: usize) -> Message {
        Message { id: id.into(), topic: format!("t/{id}"), payload: vec![0; bytes], class }
    }

    fn ids(outbox: &mut Outbox, n: usize) -> Vec<String> {
        (0..n).filter_map(|_| outbox.next_to_send(usize::MAX)).map(|m| m.id).collect()
    }

    #[test]
    fn hits_go_first_then_reads_then_images_fifo_within_each() {
        let mut o = Outbox::new(100, 1 << 20);
        o.push(msg("img1", Class::Image, 10));
        o.push(msg("r1", Class::Read, 1));
        o.push(msg("r2", Class::Read, 1));
        o.push(msg("h1", Class::Hit, 1));
        assert_eq!(ids(&mut o, 5), ["h1", "r1", "r2", "img1"]);
    }

    #[test]
    fn when_full_images_go_first_then_the_oldest_read_never_a_hit() {
        let cases: &[(&[(&str, Class)], &[&str], (u64, u64, u64))] = &[
            // held (in push order)            dropped        (hits, reads, images) dropped
            (&[("i1", Class::Image), ("r1", Class::Read), ("r2", Class::Read), ("r3", Class::Read)], &["i1"], (0, 0, 1)),
            (&[("r1", Class::Read), ("h1", Class::Hit), ("r2", Class::Read), ("r3", Class::Read)], &["r1"], (0, 1, 0)),
            (&[("h1", Class::Hit), ("h2", Class::Hit), ("h3", Class::Hit), ("r1", Class::Read)], &["r1"], (0, 1, 0)),
            (&[("h1", Class::Hit), ("h2", Class::Hit), ("h3", Class::Hit), ("h4", Class::Hit)], &["h1"], (1, 0, 0)),
        ];
        for (pushes, expected, counts) in cases {
            let mut o = Outbox::new(3, 1 << 20);
            let dropped: Vec<String> = pushes.iter().flat_map(|(id, c)| o.push(msg(id, *c, 1))).map(|m| m.id).collect();
            assert_eq!(&dropped, expected, "pushing {pushes:?}");
            let s = o.stats();
            assert_eq!((s.dropped_hits, s.dropped_reads, s.dropped_images), *counts, "pushing {pushes:?}");
            assert_eq!(s.pending, 3);
        }
    }

    #[test]
    fn the_byte_bound_drops_images_before_reads() {
        let mut o = Outbox::new(100, 1000);
        o.push(msg("r1", Class::Read, 100));
        o.push(msg("i1", Class::Image, 800));
        let dropped = o.push(msg("r2", Class::Read, 200));
        assert_eq!(dropped.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["i1"]);
        assert_eq!(o.stats().bytes, 300);
    }

    #[test]
    fn a_message_leaves_only_on_its_puback() {
        let mut o = Outbox::new(10, 1 << 20);
        o.push(msg("a", Class::Read, 5));
        o.push(msg("b", Class::Read, 5));
        assert_eq!(ids(&mut o, 2), ["a", "b"]);
        o.on_outgoing_publish(7);
        o.on_outgoing_publish(8);
        assert_eq!(o.on_puback(8).as_deref(), Some("b"));
        assert_eq!(o.on_puback(8), None, "a duplicate PUBACK changes nothing");
        assert_eq!(o.stats().in_flight, 1);
        assert_eq!(o.on_puback(7).as_deref(), Some("a"));
        assert!(o.is_empty());
        assert_eq!(o.stats().acked, 2);
    }

    #[test]
    fn a_retransmission_does_not_shift_the_id_mapping() {
        let mut o = Outbox::new(10, 1 << 20);
        for id in ["a", "b", "c"] {
            o.push(msg(id, Class::Read, 1));
        }
        ids(&mut o, 3);
        o.on_outgoing_publish(1); // a
        o.on_outgoing_publish(1); // a again, resent after a reconnect with the session kept
        o.on_outgoing_publish(2); // b
        o.on_outgoing_publish(3); // c
        assert_eq!(o.on_puback(3).as_deref(), Some("c"));
        assert_eq!(o.on_puback(2).as_deref(), Some("b"));
        assert_eq!(o.on_puback(1).as_deref(), Some("a"));
    }

    #[test]
    fn after_a_lost_session_everything_in_flight_is_sent_again_in_order() {
        let mut o = Outbox::new(10, 1 << 20);
        for (id, class) in [("r1", Class::Read), ("r2", Class::Read), ("h1", Class::Hit), ("r3", Class::Read)] {
            o.push(msg(id, class, 1));
        }
        assert_eq!(ids(&mut o, 2), ["h1", "r1"]);
        o.on_outgoing_publish(1);
        // r1 has no packet id yet: it was still in rumqttc's queue, which is lost too
        o.on_session_lost();
        assert_eq!(o.stats().republished, 2);
        assert_eq!(o.stats().in_flight, 0);
        assert_eq!(ids(&mut o, 5), ["h1", "r1", "r2", "r3"]);
        o.on_outgoing_publish(1);
        assert_eq!(o.on_puback(1).as_deref(), Some("h1"), "ids map afresh after the session loss");
    }

    #[test]
    fn a_refused_message_goes_back_to_the_front() {
        let mut o = Outbox::new(10, 1 << 20);
        o.push(msg("a", Class::Read, 1));
        o.push(msg("b", Class::Read, 1));
        let first = o.next_to_send(10).expect("a");
        o.not_sent(&first.id);
        assert_eq!(ids(&mut o, 2), ["a", "b"]);
    }

    #[test]
    fn in_flight_is_bounded() {
        let mut o = Outbox::new(10, 1 << 20);
        for id in ["a", "b", "c"] {
            o.push(msg(id, Class::Read, 1));
        }
        assert!(o.next_to_send(2).is_some());
        assert!(o.next_to_send(2).is_some());
        assert!(o.next_to_send(2).is_none());
    }

    #[test]
    fn in_flight_messages_are_never_dropped_for_room() {
        let mut o = Outbox::new(2, 1 << 20);
        o.push(msg("a", Class::Read, 1));
        o.push(msg("b", Class::Read, 1));
        ids(&mut o, 2);
        let dropped = o.push(msg("c", Class::Read, 1));
        assert_eq!(dropped.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["c"]);
        assert_eq!(o.stats().in_flight, 2);
    }
}
