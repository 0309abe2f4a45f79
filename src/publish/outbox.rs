//! The outbox: every message the unit has not yet seen acknowledged by the broker.
//!
//! Design: a pure state machine in the manner of rumqttc's own `MqttState` — it never touches
//! the network and knows no rumqttc type. It is told what happened (the client took a message,
//! a publish went out with packet id N, PUBACK N came back, the connection was lost) and answers
//! what to send next and what to drop. So every delivery rule below is unit-tested without a
//! broker, and the I/O edge (`mqtt.rs`) stays a thin translation of rumqttc's events.
//!
//! - Priority: hits, then the images of hits, then reads, then images; first in, first out
//!   within each class.
//! - Bounded in messages and in bytes; messages in flight count (they are still held). When
//!   full, the oldest image is dropped first, then the images of hits (a read is never dropped
//!   to keep an image), then the oldest non-hit read, and a hit only when nothing but hits is
//!   held. Every drop is counted by class. A message larger than the whole
//!   byte bound is refused at once, without dropping anything for it.
//! - Images in flight count against images only: when the only images left are in flight
//!   (they cannot be recalled), reads and hits may use their room, so the outbox holds at most
//!   the bound plus the images in flight (at most `max_in_flight` of them, which entered within
//!   the bound: twice the bound at the very worst).
//! - Messages in flight are never dropped: the broker may already have them.
//! - A message leaves only on the acknowledgement of its own publish: the PUBACK at QoS 1, the
//!   PUBCOMP at QoS 2 (`mqtt.qos`; both are "the acknowledgement" below). When the connection
//!   is lost, every message in flight goes back to the front of its class, in its original
//!   order, and is published again on the next connection (consumers deduplicate by message id).
//!
//! Packet ids. rumqttc does not say which message a packet id belongs to; it reports
//! `Outgoing::Publish(pkid)` when it sends a publish. Why the k-th such event of a connection
//! belongs to the k-th message handed to the client in that connection (read in rumqttc 0.25.1,
//! `eventloop.rs` and `state.rs`):
//! 1. Only the publisher's own thread hands messages over (`try_publish`), into one bounded
//!    FIFO channel. The event loop takes requests from it in order; the only queue it serves
//!    first, `pending` (what `EventLoop::clean` saved from the last connection), holds no
//!    publish after the edge has put it right (`lost_connection.rs`), only the PUBRELs that
//!    close QoS 2 exchanges, which emit no `Publish` event.
//! 2. For each publish taken, `MqttState::outgoing_publish` assigns the next id and queues
//!    `Outgoing::Publish(pkid)`; queued events are handed out first in, first out.
//! 3. The one exception, an id collision (the next id still awaits its PUBACK or PUBREC, which
//!    needs out-of-order acknowledgements), parks that publish and stops taking requests until
//!    the acknowledgement for that id; the parked publish then goes out and its `Publish(pkid)`
//!    follows that event. The order of `Publish` events is still the order of hand-over.
//! 4. QoS 0 publishes (the status) report packet id 0, which is ignored here.
//! 5. An id is reused only once its exchange is over: the PUBACK at QoS 1, the PUBCOMP at
//!    QoS 2 (MQTT 3.1.1 §2.3.1), and that acknowledgement's event comes before the reuse's
//!    `Publish` event, so the previous holder has left the outbox by then. rumqttc itself frees
//!    a QoS 2 id at its PUBREC and would give it to a new publish while the PUBREL of the old
//!    exchange still awaits its PUBCOMP; a broker that handles the packets of one read
//!    concurrently (Aedes 1.2) then finds the old exchange still stored and takes the new
//!    publish for its retransmission: PUBREC, never passed on, then PUBCOMPs that tell the unit
//!    it is delivered (issue 25). So the outbox follows rumqttc's id counter (it gives the next
//!    id in turn, `state.rs` `next_pkid`, to publishes and subscriptions alike) and holds a
//!    message back while the id it would get is still open ([`Outbox::next_to_send`]).
//!
//! So an id arriving in a `Publish` event belongs to the oldest in-flight message without one.
//! No id survives a connection: on a connection loss the edge first hands over the events
//! rumqttc had queued (they belong to the old connection), then empties rumqttc's `pending` of
//! publishes, and calls [`Outbox::on_session_lost`]. rumqttc would retransmit them only when
//! the broker kept the session, and clears them when it did not (the case that loses messages
//! unless someone keeps them); emptying it always leaves one rule: the outbox republishes
//! everything unacknowledged after every reconnection. The cost is at most `max_in_flight`
//! duplicates per reconnection to a broker that kept the session, sent as new publishes rather
//! than as DUP retransmissions; for QoS 1 the broker keeps no state per incoming id, so both are
//! handled alike. For QoS 2 it does, until the PUBREL: on a resumed session the edge closes every
//! id the unit's publishes can take with a PUBREL each before anything else, and tells the
//! outbox ([`Outbox::expect_completions`]) that the next PUBCOMP of each of those ids is that
//! exchange's; until it comes, no message is given the id (point 5).

use std::collections::VecDeque;

pub use crate::message::{Class, Message};

/// From the first sent to the last.
const SEND_ORDER: [Class; 4] = [Class::Hit, Class::HitImage, Class::Read, Class::Image];
/// From the first dropped to the last.
const DROP_ORDER: [Class; 4] = [Class::Image, Class::HitImage, Class::Read, Class::Hit];

/// Where a class's pending queue is in `Outbox::pending`.
fn slot(class: Class) -> usize {
    match class {
        Class::Hit => 0,
        Class::HitImage => 1,
        Class::Read => 2,
        Class::Image => 3,
    }
}

/// What became of a pushed message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubmitOutcome {
    /// The message is held until the broker acknowledges it. False when the outbox is full of
    /// messages that rank above it, or it is larger than the whole byte bound.
    pub held: bool,
    /// What was dropped to make room, oldest first; the pushed message itself last when it
    /// was not held.
    pub dropped: Vec<Message>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct OutboxStats {
    pub pending: usize,
    pub in_flight: usize,
    pub bytes: usize,
    pub acked: u64,
    /// Messages sent again because the connection was lost before their PUBACK.
    pub republished: u64,
    pub dropped_hits: u64,
    pub dropped_reads: u64,
    pub dropped_images: u64,
}

#[derive(Debug)]
struct InFlight {
    /// None from hand-over until rumqttc reports the publish going out.
    pkid: Option<u16>,
    message: Message,
}

#[derive(Debug)]
pub struct Outbox {
    max_messages: usize,
    max_bytes: usize,
    pending: [VecDeque<Message>; 4],
    /// In hand-over order, which is the order of rumqttc's `Publish` events.
    in_flight: VecDeque<InFlight>,
    /// Ids of QoS 2 exchanges of an earlier connection that a resumed session closes: the
    /// next PUBCOMP of each is theirs.
    closing: Vec<u16>,
    /// The id rumqttc gave last, as its events said (0 before any): its counter gives the
    /// next one in turn, from 1 to `max_in_flight`.
    last_id: u16,
    /// Subscriptions handed to rumqttc whose id is not yet reported: they take theirs from the
    /// same counter, ahead of the publishes handed over after them.
    subscriptions_queued: usize,
    bytes: usize,
    stats: OutboxStats,
}

impl Outbox {
    pub fn new(max_messages: usize, max_bytes: usize) -> Self {
        Self {
            max_messages: max_messages.max(1),
            max_bytes: max_bytes.max(1),
            pending: [VecDeque::new(), VecDeque::new(), VecDeque::new(), VecDeque::new()],
            in_flight: VecDeque::new(),
            closing: Vec::new(),
            last_id: 0,
            subscriptions_queued: 0,
            bytes: 0,
            stats: OutboxStats::default(),
        }
    }

    fn held(&self) -> usize {
        self.pending.iter().map(VecDeque::len).sum::<usize>() + self.in_flight.len()
    }

    /// Whether something must be dropped. Images in flight cannot be recalled (the broker may
    /// have them), so once no image is left pending they do not count: a read or a hit is
    /// never dropped to keep an image that is merely on its way. The outbox then holds at most
    /// the bound plus the images in flight, which entered within the bound.
    fn over_bound(&self) -> bool {
        let is_image = |class: Class| matches!(class, Class::Image | Class::HitImage);
        let images_pending =
            [Class::Image, Class::HitImage].iter().any(|c| !self.pending[slot(*c)].is_empty());
        let (mut messages, mut bytes) = (self.held(), self.bytes);
        if !images_pending {
            for flying in self.in_flight.iter().filter(|f| is_image(f.message.class)) {
                messages -= 1;
                bytes -= flying.message.payload.len();
            }
        }
        messages > self.max_messages || bytes > self.max_bytes
    }

    fn count_drop(&mut self, class: Class) {
        match class {
            Class::Hit => self.stats.dropped_hits += 1,
            Class::Read => self.stats.dropped_reads += 1,
            Class::Image | Class::HitImage => self.stats.dropped_images += 1,
        }
    }

    /// Adds a message, dropping what the policy says to make room (possibly the message itself,
    /// when everything held ranks above it).
    pub fn push(&mut self, message: Message) -> SubmitOutcome {
        if message.payload.len() > self.max_bytes {
            // Dropping everything else would not make room for it.
            self.count_drop(message.class);
            return SubmitOutcome { held: false, dropped: vec![message] };
        }
        let class = slot(message.class);
        // Where the new message stands in its queue; drops from the front move it up.
        let mut position = self.pending[class].len();
        self.bytes += message.payload.len();
        self.pending[class].push_back(message);
        let mut outcome = SubmitOutcome { held: true, dropped: Vec::new() };
        while self.over_bound() {
            let Some(dropped) = self.drop_one() else { break };
            if slot(dropped.class) == class {
                if position == 0 {
                    outcome.held = false;
                } else {
                    position -= 1;
                }
            }
            outcome.dropped.push(dropped);
        }
        outcome
    }

    /// Drops the oldest pending message of the lowest class there is.
    fn drop_one(&mut self) -> Option<Message> {
        let class = *DROP_ORDER.iter().find(|c| !self.pending[slot(**c)].is_empty())?;
        let message = self.pending[slot(class)].pop_front()?;
        self.bytes -= message.payload.len();
        self.count_drop(class);
        Some(message)
    }

    /// The next message to hand to the client: hits first, oldest first within a class; `None`
    /// when nothing is pending, when `max_in_flight` messages already await their
    /// acknowledgement, or while the id rumqttc would give it (its ids run from 1 to
    /// `max_in_flight`) still names an open exchange: a message in flight or an exchange being
    /// closed. Its acknowledgement frees the id and the edge asks again.
    pub fn next_to_send(&self, max_in_flight: usize) -> Option<&Message> {
        if self.in_flight.len() >= max_in_flight || self.id_in_use(self.next_id(max_in_flight)) {
            return None;
        }
        SEND_ORDER.iter().find_map(|c| self.pending[slot(*c)].front())
    }

    /// The id rumqttc will give the next publish handed over: the one after those of the
    /// requests it has not yet reported (subscriptions, then publishes in flight without one).
    fn next_id(&self, max_in_flight: usize) -> Option<u16> {
        let unreported =
            self.subscriptions_queued + self.in_flight.iter().filter(|f| f.pkid.is_none()).count();
        let ahead = usize::from(self.last_id) + unreported;
        u16::try_from(ahead % max_in_flight.max(1) + 1).ok()
    }

    fn id_in_use(&self, id: Option<u16>) -> bool {
        id.is_some_and(|id| {
            self.closing.contains(&id) || self.in_flight.iter().any(|f| f.pkid == Some(id))
        })
    }

    /// The edge handed rumqttc `count` subscriptions: each takes the next id of its counter.
    pub fn on_subscriptions_queued(&mut self, count: usize) {
        self.subscriptions_queued += count;
    }

    /// rumqttc sent a subscription under `pkid`.
    pub fn on_subscription_sent(&mut self, pkid: u16) {
        self.subscriptions_queued = self.subscriptions_queued.saturating_sub(1);
        self.last_id = pkid;
    }

    /// The client took the message [`Self::next_to_send`] returned: it is in flight now.
    /// Returns false (and changes nothing) when `id` is not that message.
    pub fn mark_sent(&mut self, id: &str) -> bool {
        let Some(class) = SEND_ORDER.iter().find(|c| !self.pending[slot(**c)].is_empty()) else {
            return false;
        };
        let queue = &mut self.pending[slot(*class)];
        if queue.front().is_none_or(|m| m.id != id) {
            return false;
        }
        let Some(message) = queue.pop_front() else { return false };
        self.in_flight.push_back(InFlight { pkid: None, message });
        true
    }

    /// rumqttc sent a publish with packet id `pkid`: it is the oldest message in flight still
    /// without an id (see the module documentation). Id 0 is a QoS 0 publish (the status).
    pub fn on_pkid_assigned(&mut self, pkid: u16) {
        if pkid == 0 {
            return;
        }
        self.last_id = pkid;
        if let Some(f) = self.in_flight.iter_mut().find(|f| f.pkid.is_none()) {
            f.pkid = Some(pkid);
        }
    }

    /// The broker acknowledged packet `pkid` (PUBACK or PUBCOMP): the message holding that id
    /// is delivered and leaves the outbox. `None` for an id no message holds (an
    /// acknowledgement from a connection already given up) and for the completion of an
    /// exchange being closed.
    pub fn on_puback(&mut self, pkid: u16) -> Option<Message> {
        if let Some(closed) = self.closing.iter().position(|id| *id == pkid) {
            self.closing.swap_remove(closed);
            return None;
        }
        let i = self.in_flight.iter().position(|f| f.pkid == Some(pkid))?;
        let f = self.in_flight.remove(i)?;
        self.bytes -= f.message.payload.len();
        self.stats.acked += 1;
        Some(f.message)
    }

    /// The connection is lost and with it every packet id: nothing in flight will be
    /// acknowledged any more. Everything in flight goes back to the front of its class, in its
    /// original order, to be published again.
    pub fn on_session_lost(&mut self) {
        while let Some(f) = self.in_flight.pop_back() {
            self.stats.republished += 1;
            self.pending[slot(f.message.class)].push_front(f.message);
        }
        // The next connection's edge says again which exchanges it closes; the subscriptions
        // not yet sent were dropped with the connection (`lost_connection.rs`).
        self.closing.clear();
        self.subscriptions_queued = 0;
    }

    /// The resumed session starts by closing these QoS 2 exchanges of the last connection,
    /// one PUBREL each (`lost_connection.rs`): the next PUBCOMP of each id is theirs, and no
    /// message takes such an id before it ([`Self::next_to_send`]).
    pub fn expect_completions(&mut self, pkids: &[u16]) {
        self.closing = pkids.to_vec();
    }

    /// Refuses a message without holding it (the spool could not keep an image), counted as a
    /// drop of its class.
    pub fn refuse(&mut self, message: Message) -> SubmitOutcome {
        self.count_drop(message.class);
        SubmitOutcome { held: false, dropped: vec![message] }
    }

    /// Drops a pending message by id (the spool's age limit), counted like any drop; `None`
    /// when it is not pending (in flight, where the broker may already have it, or gone).
    pub fn remove_pending(&mut self, id: &str) -> Option<Message> {
        let queue = self.pending.iter_mut().find(|q| q.iter().any(|m| m.id == id))?;
        let i = queue.iter().position(|m| m.id == id)?;
        let message = queue.remove(i)?;
        self.bytes -= message.payload.len();
        self.count_drop(message.class);
        Some(message)
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

    /// Takes everything still held: in flight first, then pending in sending order.
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
    use std::collections::{BTreeMap, BTreeSet};

    fn msg(id: &str, class: Class, bytes: usize) -> Message {
        Message { id: id.into(), topic: format!("t/{id}"), payload: vec![0; bytes], class }
    }

    /// Hands over up to `n` messages, as the edge does, and returns their ids.
    fn send(outbox: &mut Outbox, n: usize) -> Vec<String> {
        let mut sent = Vec::new();
        while sent.len() < n {
            let Some(id) = outbox.next_to_send(usize::MAX).map(|m| m.id.clone()) else { break };
            assert!(outbox.mark_sent(&id));
            sent.push(id);
        }
        sent
    }

    /// Hands over what rumqttc's ids, 1 to `max_in_flight`, let go now.
    fn send_within(outbox: &mut Outbox, max_in_flight: usize) -> Vec<String> {
        let mut sent = Vec::new();
        while let Some(id) = outbox.next_to_send(max_in_flight).map(|m| m.id.clone()) {
            assert!(outbox.mark_sent(&id));
            sent.push(id);
        }
        sent
    }

    fn ids(messages: &[Message]) -> Vec<&str> {
        messages.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn an_image_in_flight_never_costs_a_read_its_place() {
        let mut o = Outbox::new(100, 1000);
        o.push(msg("i1", Class::Image, 600));
        assert_eq!(
            send(&mut o, 1),
            ["i1"],
            "the image is handed to the client: it cannot be recalled"
        );
        for id in ["r1", "r2", "r3"] {
            let outcome = o.push(msg(id, Class::Read, 300));
            assert!(outcome.held && outcome.dropped.is_empty(), "{id}: {outcome:?}");
        }
        assert_eq!(o.stats().bytes, 1500, "over the bound by no more than the image in flight");
        let outcome = o.push(msg("i2", Class::Image, 10));
        assert_eq!(
            (outcome.held, ids(&outcome.dropped)),
            (false, vec!["i2"]),
            "a new image still finds no room"
        );
        let outcome = o.push(msg("r4", Class::Read, 300));
        assert_eq!(
            ids(&outcome.dropped),
            ["r1"],
            "reads alone over the bound: the oldest read goes"
        );
        o.on_pkid_assigned(1);
        o.on_puback(1);
        let outcome = o.push(msg("i3", Class::Image, 100));
        assert!(
            outcome.held && outcome.dropped.is_empty(),
            "the image acknowledged, the bound holds for everything again: {outcome:?}"
        );
        assert_eq!((o.stats().dropped_reads, o.stats().dropped_images), (1, 1));
    }

    #[test]
    fn hits_go_first_then_reads_then_images_fifo_within_each() {
        let mut o = Outbox::new(100, 1 << 20);
        for (id, class) in [
            ("i1", Class::Image),
            ("r1", Class::Read),
            ("h1", Class::Hit),
            ("r2", Class::Read),
            ("h2", Class::Hit),
        ] {
            o.push(msg(id, class, 10));
        }
        assert_eq!(send(&mut o, 10), ["h1", "h2", "r1", "r2", "i1"]);
    }

    #[test]
    fn when_full_images_go_first_then_the_oldest_read_never_a_hit_while_others_are_held() {
        use Class::{Hit as H, HitImage as X, Image as I, Read as R};
        /// Pushed in order into an outbox of 3 messages → dropped, (hits, reads, images) dropped.
        type Case<'a> = (&'a [(&'a str, Class)], &'a [&'a str], (u64, u64, u64));
        let cases: &[Case] = &[
            (&[("i1", I), ("r1", R), ("r2", R), ("r3", R)], &["i1"], (0, 0, 1)),
            (&[("r1", R), ("i1", I), ("i2", I), ("h1", H), ("h2", H)], &["i1", "i2"], (0, 0, 2)),
            (&[("r1", R), ("h1", H), ("r2", R), ("r3", R)], &["r1"], (0, 1, 0)),
            (&[("h1", H), ("h2", H), ("h3", H), ("r1", R)], &["r1"], (0, 1, 0)),
            (&[("h1", H), ("h2", H), ("h3", H), ("i1", I)], &["i1"], (0, 0, 1)),
            (&[("h1", H), ("h2", H), ("h3", H), ("h4", H)], &["h1"], (1, 0, 0)),
            (&[("r1", R), ("h1", H), ("h2", H), ("h3", H), ("h4", H)], &["r1", "h1"], (1, 1, 0)),
            // A hit's image goes after plain images, before any read.
            (&[("r1", R), ("x1", X), ("i1", I), ("r2", R), ("r3", R)], &["i1", "x1"], (0, 0, 2)),
            (&[("x1", X), ("r1", R), ("r2", R), ("h1", H)], &["x1"], (0, 0, 1)),
        ];
        for (pushes, expected, (hits, reads, images)) in cases {
            let mut o = Outbox::new(3, 1 << 20);
            let mut dropped = Vec::new();
            for (id, class) in pushes.iter() {
                let outcome = o.push(msg(id, *class, 1));
                assert_eq!(
                    outcome.held,
                    !outcome.dropped.iter().any(|m| m.id == *id),
                    "pushing {id} of {pushes:?}"
                );
                dropped.extend(outcome.dropped);
            }
            assert_eq!(ids(&dropped), *expected, "pushing {pushes:?}");
            let s = o.stats();
            assert_eq!(
                (s.dropped_hits, s.dropped_reads, s.dropped_images),
                (*hits, *reads, *images),
                "pushing {pushes:?}"
            );
            assert_eq!(s.pending, 3, "pushing {pushes:?}");
        }
    }

    #[test]
    fn a_message_that_ranks_below_everything_held_is_not_held() {
        let mut o = Outbox::new(2, 1 << 20);
        o.push(msg("h1", Class::Hit, 1));
        o.push(msg("r1", Class::Read, 1));
        let outcome = o.push(msg("i1", Class::Image, 1));
        assert!(!outcome.held);
        assert_eq!(ids(&outcome.dropped), ["i1"]);
        let outcome = o.push(msg("r2", Class::Read, 1));
        assert!(outcome.held, "the older read goes, not the new one");
        assert_eq!(ids(&outcome.dropped), ["r1"]);
    }

    #[test]
    fn the_byte_bound_drops_images_before_reads_and_bytes_are_accounted() {
        let mut o = Outbox::new(100, 1000);
        o.push(msg("r1", Class::Read, 100));
        o.push(msg("i1", Class::Image, 800));
        let outcome = o.push(msg("r2", Class::Read, 200));
        assert_eq!(ids(&outcome.dropped), ["i1"]);
        assert_eq!(o.stats().bytes, 300);
        send(&mut o, 1);
        o.on_pkid_assigned(1);
        o.on_puback(1);
        assert_eq!(o.stats().bytes, 200, "an acknowledged message frees its bytes");
        o.drain();
        assert_eq!(o.stats().bytes, 0);
    }

    #[test]
    fn a_message_larger_than_the_byte_bound_is_refused_without_dropping_others() {
        let mut o = Outbox::new(100, 1000);
        o.push(msg("r1", Class::Read, 600));
        let outcome = o.push(msg("h1", Class::Hit, 1001));
        assert_eq!((outcome.held, ids(&outcome.dropped)), (false, vec!["h1"]));
        assert_eq!((o.stats().pending, o.stats().bytes, o.stats().dropped_hits), (1, 600, 1));
    }

    #[test]
    fn mark_sent_takes_only_the_message_next_in_line() {
        let mut o = Outbox::new(10, 1 << 20);
        o.push(msg("r1", Class::Read, 1));
        o.push(msg("h1", Class::Hit, 1));
        assert!(!o.mark_sent("r1"), "the hit goes first");
        assert!(!o.mark_sent("nope"));
        assert_eq!(o.stats().in_flight, 0);
        assert!(o.mark_sent("h1"));
        assert_eq!((o.stats().pending, o.stats().in_flight), (1, 1));
        assert!(!Outbox::new(1, 1).mark_sent("x"), "nothing pending");
    }

    #[test]
    fn a_message_leaves_only_on_its_own_puback() {
        let mut o = Outbox::new(10, 1 << 20);
        o.push(msg("a", Class::Read, 5));
        o.push(msg("b", Class::Read, 5));
        assert_eq!(send(&mut o, 2), ["a", "b"]);
        assert_eq!(o.on_puback(7), None, "no id assigned yet");
        o.on_pkid_assigned(7);
        o.on_pkid_assigned(8);
        assert_eq!(o.on_puback(8).map(|m| m.id).as_deref(), Some("b"));
        assert_eq!(o.on_puback(8), None, "a duplicate PUBACK changes nothing");
        assert_eq!(o.stats().in_flight, 1);
        assert_eq!(o.on_puback(7).map(|m| m.id).as_deref(), Some("a"));
        assert!(o.is_empty());
        assert_eq!(o.stats().acked, 2);
    }

    #[test]
    fn ids_are_reused_after_their_puback_and_qos0_is_ignored() {
        let mut o = Outbox::new(10, 1 << 20);
        for id in ["a", "b", "c"] {
            o.push(msg(id, Class::Read, 1));
        }
        send(&mut o, 2);
        o.on_pkid_assigned(0); // the status, QoS 0
        o.on_pkid_assigned(1); // a
        o.on_pkid_assigned(2); // b
        assert_eq!(o.on_puback(1).map(|m| m.id).as_deref(), Some("a"));
        send(&mut o, 1);
        o.on_pkid_assigned(1); // c reuses the freed id
        assert_eq!(o.on_puback(2).map(|m| m.id).as_deref(), Some("b"));
        assert_eq!(o.on_puback(1).map(|m| m.id).as_deref(), Some("c"));
    }

    #[test]
    fn a_message_waits_while_the_id_it_would_get_is_still_open() {
        let mut o = Outbox::new(10, 1 << 20);
        for id in ["a", "b", "c"] {
            o.push(msg(id, Class::Read, 1));
        }
        // rumqttc's ids run 1, 2, 1, … with two in flight.
        assert_eq!(send_within(&mut o, 2), ["a", "b"]);
        o.on_pkid_assigned(1);
        o.on_pkid_assigned(2);
        // b completes first; c would get id 1, whose exchange (a) is still open.
        assert_eq!(o.on_puback(2).map(|m| m.id).as_deref(), Some("b"));
        assert!(o.next_to_send(2).is_none(), "c waits for a's PUBCOMP");
        assert_eq!(o.on_puback(1).map(|m| m.id).as_deref(), Some("a"));
        assert_eq!(send_within(&mut o, 2), ["c"]);
    }

    #[test]
    fn the_id_of_an_exchange_being_closed_is_taken_only_after_its_pubcomp() {
        let mut o = Outbox::new(10, 1 << 20);
        o.push(msg("r", Class::Read, 1));
        assert_eq!(send_within(&mut o, 2), ["r"]);
        o.on_pkid_assigned(2);
        o.on_session_lost();
        o.push(msg("h", Class::Hit, 1));
        // The resumed session closes exchange 2; the control subscription takes id 1.
        o.expect_completions(&[2]);
        o.on_subscriptions_queued(1);
        assert!(o.next_to_send(2).is_none(), "h would get id 2, still being closed");
        o.on_subscription_sent(1);
        assert!(o.next_to_send(2).is_none());
        assert_eq!(o.on_puback(2), None, "the close's PUBCOMP releases no message");
        assert_eq!(send_within(&mut o, 2), ["h", "r"]);
        o.on_pkid_assigned(2);
        assert_eq!(o.on_puback(2).map(|m| m.id).as_deref(), Some("h"));
    }

    #[test]
    fn after_a_lost_session_everything_in_flight_is_sent_again_in_order() {
        let mut o = Outbox::new(10, 1 << 20);
        for (id, class) in [
            ("r1", Class::Read),
            ("r2", Class::Read),
            ("h1", Class::Hit),
            ("r3", Class::Read),
            ("h2", Class::Hit),
        ] {
            o.push(msg(id, class, 1));
        }
        assert_eq!(send(&mut o, 3), ["h1", "h2", "r1"]);
        o.on_pkid_assigned(1); // h1 went out; h2 and r1 had not yet
        o.on_session_lost();
        let s = o.stats();
        assert_eq!((s.republished, s.in_flight, s.pending), (3, 0, 5));
        assert_eq!(
            o.on_puback(1),
            None,
            "a PUBACK of the lost connection's id 1 acknowledges nothing now"
        );
        assert_eq!(send(&mut o, 10), ["h1", "h2", "r1", "r2", "r3"]);
        o.on_pkid_assigned(1);
        assert_eq!(
            o.on_puback(1).map(|m| m.id).as_deref(),
            Some("h1"),
            "ids map afresh in the new connection"
        );
    }

    #[test]
    fn in_flight_is_bounded_and_never_dropped_for_room() {
        let mut o = Outbox::new(3, 1 << 20);
        for id in ["a", "b", "c"] {
            o.push(msg(id, Class::Read, 1));
        }
        assert!(o.next_to_send(2).is_some_and(|m| m.id == "a"));
        assert!(o.mark_sent("a") && o.mark_sent("b"));
        assert!(o.next_to_send(2).is_none(), "two await their PUBACK");
        let outcome = o.push(msg("d", Class::Read, 1));
        assert_eq!(ids(&outcome.dropped), ["c"], "the oldest pending read, not one in flight");
        let outcome = o.push(msg("h", Class::Hit, 1));
        assert_eq!(ids(&outcome.dropped), ["d"]);
        assert_eq!(o.stats().in_flight, 2);
    }

    #[test]
    fn remove_pending_drops_only_pending_messages_and_counts_them() {
        let mut o = Outbox::new(10, 1 << 20);
        o.push(msg("r1", Class::Read, 3));
        o.push(msg("i1", Class::Image, 5));
        o.push(msg("r2", Class::Read, 7));
        send(&mut o, 1);
        assert_eq!(o.remove_pending("r1"), None, "in flight: the broker may have it");
        assert_eq!(o.remove_pending("i1").map(|m| m.id).as_deref(), Some("i1"));
        assert_eq!(o.remove_pending("i1"), None);
        let s = o.stats();
        assert_eq!(
            (s.pending, s.in_flight, s.bytes, s.dropped_images, s.dropped_reads),
            (1, 1, 10, 1, 0)
        );
        let outcome = o.refuse(msg("i2", Class::Image, 5));
        assert_eq!((outcome.held, ids(&outcome.dropped)), (false, vec!["i2"]));
        assert_eq!((o.stats().pending, o.stats().dropped_images), (1, 2));
    }

    #[test]
    fn drain_returns_in_flight_then_pending_in_sending_order() {
        let mut o = Outbox::new(10, 1 << 20);
        for (id, class) in
            [("i1", Class::Image), ("r1", Class::Read), ("h1", Class::Hit), ("r2", Class::Read)]
        {
            o.push(msg(id, class, 1));
        }
        send(&mut o, 1);
        assert_eq!(ids(&o.drain()), ["h1", "r1", "r2", "i1"]);
        assert!(o.is_empty());
    }

    /// xorshift64*: a fixed, dependency-free sequence of choices for the model below.
    struct Choices(u64);

    impl Choices {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % n
        }
    }

    /// rumqttc 0.25's client side as far as packet ids go (`MqttState::next_pkid`,
    /// `outgoing_publish`, collisions, the acknowledgements, its in-flight count), with a broker
    /// that acknowledges QoS 1 publishes (and sends QoS 2 PUBRECs) in any order, completes QoS 2
    /// exchanges in the order of their PUBRELs, and connections that fail at any point, the
    /// session resumed or not.
    #[derive(Default)]
    struct Model {
        max_inflight: u16,
        qos2: bool,
        channel: VecDeque<String>,
        /// Ids awaiting their PUBACK or PUBREC (`outgoing_pub`).
        slots: BTreeMap<u16, String>,
        last_pkid: u16,
        collision: Option<(u16, String)>,
        /// (pkid, message id) on the wire, not yet acknowledged or PUBREC'd.
        wire: Vec<(u16, String)>,
        /// QoS 2 exchanges released, awaiting their PUBCOMP, in order; `None` for one of an
        /// earlier connection closed on the resumed session.
        released: VecDeque<(u16, Option<String>)>,
        events: VecDeque<Event>,
        /// Publishes that took an id whose QoS 2 exchange was still open (none may), and old
        /// exchanges closed (the QoS 2 run must meet some).
        reuses: usize,
        closes: usize,
    }

    #[derive(Debug)]
    enum Event {
        Published(u16),
        /// The id and the message the broker acknowledged under it (PUBACK or PUBCOMP); `None`
        /// for the completion of an exchange of an earlier connection.
        Acknowledged(u16, Option<String>),
    }

    impl Model {
        fn next_pkid(&mut self) -> u16 {
            let next = self.last_pkid + 1;
            if next == self.max_inflight {
                self.last_pkid = 0;
                return next;
            }
            self.last_pkid = next;
            next
        }

        /// rumqttc's `inflight`: publishes sent and not yet acknowledged or completed.
        fn inflight(&self) -> usize {
            self.slots.len() + self.released.len()
        }

        /// The event loop takes one request when its flow control allows.
        fn take_request(&mut self) {
            if self.inflight() >= usize::from(self.max_inflight) || self.collision.is_some() {
                return;
            }
            let Some(id) = self.channel.pop_front() else { return };
            let pkid = self.next_pkid();
            if self.slots.contains_key(&pkid) {
                self.collision = Some((pkid, id));
                return;
            }
            if self.released.iter().any(|(p, _)| *p == pkid) {
                self.reuses += 1;
            }
            self.slots.insert(pkid, id.clone());
            self.wire.push((pkid, id));
            self.events.push_back(Event::Published(pkid));
        }

        /// A parked publish goes out once its id is acknowledged (`check_collision`).
        fn release_collision(&mut self, pkid: u16) {
            if self.collision.as_ref().is_some_and(|(p, _)| *p == pkid) {
                if let Some((pkid, id)) = self.collision.take() {
                    self.slots.insert(pkid, id.clone());
                    self.wire.push((pkid, id));
                    self.events.push_back(Event::Published(pkid));
                }
            }
        }

        /// The broker receives publish `i` on the wire: a PUBACK, or at QoS 2 a PUBREC (which
        /// frees the id's slot but not its place in flight) and the PUBREL that follows.
        fn broker_acks(&mut self, i: usize) {
            let (pkid, id) = self.wire.remove(i);
            self.slots.remove(&pkid);
            if self.qos2 {
                self.released.push_back((pkid, Some(id)));
            } else {
                self.events.push_back(Event::Acknowledged(pkid, Some(id)));
                self.release_collision(pkid);
            }
        }

        /// The broker completes the oldest released exchange.
        fn broker_completes(&mut self) {
            let Some((pkid, id)) = self.released.pop_front() else { return };
            self.closes += usize::from(id.is_none());
            self.events.push_back(Event::Acknowledged(pkid, id));
            self.release_collision(pkid);
        }

        /// What rumqttc's `clean` and the edge (`lost_connection.rs`) do together:
        /// unacknowledged publishes, the channel and the parked collision are forgotten; queued
        /// events are still handed out. At QoS 2, a resumed session first closes every id, once
        /// each; they are returned.
        fn connection_lost(&mut self, resumed: bool) -> Vec<u16> {
            let closing: Vec<u16> =
                if self.qos2 && resumed { (1..=self.max_inflight).collect() } else { Vec::new() };
            self.wire.clear();
            self.slots.clear();
            self.channel.clear();
            self.collision = None;
            self.released = closing.iter().map(|p| (*p, None)).collect();
            closing
        }
    }

    fn deliver_events(model: &mut Model, outbox: &mut Outbox, acked: &mut BTreeSet<String>) {
        while let Some(event) = model.events.pop_front() {
            match event {
                Event::Published(pkid) => outbox.on_pkid_assigned(pkid),
                Event::Acknowledged(pkid, id) => match (outbox.on_puback(pkid), id) {
                    (Some(m), Some(id)) => {
                        assert_eq!(m.id, id, "acknowledgement {pkid} was for {id}, not {}", m.id);
                        acked.insert(m.id);
                    }
                    (Some(m), None) => {
                        panic!("the close of an old exchange {pkid} released {}", m.id)
                    }
                    (None, _) => {}
                },
            }
        }
    }

    /// Returns how many id reuses and old-exchange closes the runs met.
    fn check_packet_ids_map_to_their_messages(qos2: bool) -> (usize, usize) {
        let (mut reuses, mut closes) = (0, 0);
        for seed in 1..=200u64 {
            let mut choices = Choices(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let max_inflight = 1 + choices.below(6) as u16;
            let mut model = Model { max_inflight, qos2, ..Model::default() };
            let mut outbox = Outbox::new(1000, 1 << 20);
            let mut acked = BTreeSet::new();
            let mut pushed = 0;
            for step in 0..400 {
                match choices.below(12) {
                    0..=2 if pushed < 150 => {
                        let class = if choices.below(4) == 0 { Class::Hit } else { Class::Read };
                        outbox.push(msg(&format!("m{pushed}"), class, 1));
                        pushed += 1;
                    }
                    3..=4 => {
                        while let Some(id) =
                            outbox.next_to_send(usize::from(max_inflight)).map(|m| m.id.clone())
                        {
                            if model.channel.len() >= 4 {
                                break; // the request channel is full: try_publish fails
                            }
                            model.channel.push_back(id.clone());
                            outbox.mark_sent(&id);
                        }
                    }
                    5..=6 => model.take_request(),
                    7..=8 if !model.wire.is_empty() => {
                        // Mostly in order, as Mosquitto does; sometimes not, to make collisions.
                        let i = if choices.below(4) == 0 {
                            choices.below(model.wire.len() as u64) as usize
                        } else {
                            0
                        };
                        model.broker_acks(i);
                    }
                    9..=10 => model.broker_completes(),
                    11 if step < 300 && choices.below(8) == 0 => {
                        // Some events are still queued when the connection fails: the edge hands
                        // them over first, then the outbox learns of the loss, then (a resumed
                        // session) of the exchanges the new connection closes.
                        let resumed = choices.below(2) == 0;
                        let closing = model.connection_lost(resumed);
                        deliver_events(&mut model, &mut outbox, &mut acked);
                        outbox.on_session_lost();
                        outbox.expect_completions(&closing);
                    }
                    _ => {}
                }
                if choices.below(3) == 0 {
                    deliver_events(&mut model, &mut outbox, &mut acked);
                }
            }
            // A calm end: everything flows until the outbox is empty.
            for _ in 0..10_000 {
                if outbox.is_empty() {
                    break;
                }
                while let Some(id) =
                    outbox.next_to_send(usize::from(max_inflight)).map(|m| m.id.clone())
                {
                    model.channel.push_back(id.clone());
                    outbox.mark_sent(&id);
                }
                model.take_request();
                if !model.wire.is_empty() {
                    model.broker_acks(0);
                }
                model.broker_completes();
                deliver_events(&mut model, &mut outbox, &mut acked);
            }
            assert!(outbox.is_empty(), "seed {seed}: {:?}", outbox.stats());
            assert_eq!(acked.len(), pushed, "seed {seed}: every message acknowledged once");
            assert_eq!(outbox.stats().acked as usize, pushed, "seed {seed}");
            reuses += model.reuses;
            closes += model.closes;
        }
        (reuses, closes)
    }

    #[test]
    fn packet_ids_map_to_their_messages_through_collisions_and_connection_losses() {
        check_packet_ids_map_to_their_messages(false);
    }

    /// No publish takes an id whose exchange awaits its PUBCOMP (issue 25), while the runs
    /// close exchanges of earlier connections.
    #[test]
    fn at_qos_2_no_id_is_reused_before_its_pubcomp_and_old_exchanges_release_none() {
        let (reuses, closes) = check_packet_ids_map_to_their_messages(true);
        assert!(reuses == 0 && closes > 0, "the runs met {reuses} reuses and {closes} closes");
    }
}
