//! What of rumqttc's state outlives a lost connection, and what is put right before the next.
//!
//! Reaches into rumqttc's public fields: read against rumqttc 0.25.1 (`eventloop.rs`,
//! `state.rs`), which Cargo.toml pins exactly, so an upgrade is a decision that rereads this.
//! - `state.events`: events queued before the failure would be handed out after the next
//!   ConnAck, among the new connection's; they belong to the old one and are returned to be
//!   handled now.
//! - `pending`: what rumqttc saved to send on a resumed session. Its publishes are all in the
//!   outbox, which sends them again as new publishes; nothing may come before the outbox's
//!   publishes in the next connection, or packet ids no longer follow hand-over order
//!   (`outbox.rs`). At QoS 2 it is replaced by the PUBRELs that close every id, see
//!   [`releases`]; so it is at the unit's start ([`close_every_id`]).
//! - `state.collision`: a publish parked on an id collision never reached the wire, and is in
//!   the outbox too.
//! - An acknowledgement rumqttc refused: it queues an incoming packet's event before it checks
//!   the packet, so a PUBACK or PUBCOMP it found unsolicited (it knows no exchange under that
//!   id, and drops the connection for it) is among the queued events. It is not handed on; see
//!   [`drop_refused_ack`].

use super::qos::MaxInFlight;
use rumqttc::{ConnectionError, Event, EventLoop, Packet, PubRel, QoS, Request, StateError};
use std::collections::VecDeque;

/// What the old connection leaves to the next.
pub struct Forgotten {
    /// Its events still queued, to be handled before anything of the next.
    pub events: Vec<Event>,
    /// The packet ids of the QoS 2 exchanges a resumed session closes first.
    pub closing: Vec<u16>,
}

/// Puts rumqttc right after a connection loss, which `error` caused. `qos` is that of the
/// unit's publishes, whose ids run from 1 to `max_in_flight` (rumqttc's `inflight`).
pub fn forget_connection(
    eventloop: &mut EventLoop,
    error: &ConnectionError,
    qos: QoS,
    max_in_flight: MaxInFlight,
) -> Forgotten {
    let mut events = eventloop.state.events.drain(..).collect();
    if let ConnectionError::MqttState(StateError::Unsolicited(pkid)) = error {
        drop_refused_ack(&mut events, *pkid);
    }
    eventloop.state.collision = None;
    Forgotten { events, closing: close_every_id(eventloop, qos, max_in_flight) }
}

/// Makes the next connection, if the broker kept the session, start with a PUBREL for every
/// id at QoS 2 ([`releases`]) and nothing else; returns those ids. Also at the unit's start: a
/// process started again (after a crash, a SIGKILL, a power cut) cannot know which exchanges
/// the one before it left open in the session the broker kept.
pub fn close_every_id(eventloop: &mut EventLoop, qos: QoS, max_in_flight: MaxInFlight) -> Vec<u16> {
    let closing: Vec<u16> =
        if qos == QoS::ExactlyOnce { max_in_flight.ids().collect() } else { Vec::new() };
    eventloop.pending = releases(&closing);
    closing
}

/// Removes the acknowledgement under `pkid` that rumqttc refused as unsolicited: the last one
/// queued, since rumqttc stops at it. Such an acknowledgement answers no exchange the client
/// knows of, so it cannot say which message arrived; counted, it would release whichever
/// message the outbox maps to that id (issue 25: a hit the broker had taken for a
/// retransmission and never passed on). Not counted, that message is published again: a
/// duplicate at worst.
pub fn drop_refused_ack(events: &mut Vec<Event>, pkid: u16) {
    let refused = events.iter().rposition(|event| match event {
        Event::Incoming(Packet::PubAck(ack)) => ack.pkid == pkid,
        Event::Incoming(Packet::PubComp(completion)) => completion.pkid == pkid,
        _ => false,
    });
    if let Some(i) = refused {
        events.remove(i);
    }
}

/// A PUBREL for each id: a resumed session at QoS 2 closes every id the unit's publishes can
/// take, not only the exchanges the old connection left open.
///
/// A broker holds an incoming QoS 2 publish under its packet id from the PUBLISH until the
/// PUBREL, for as long as it keeps the session (the unit's sessions are persistent, and a
/// cluster shares them between nodes). Left open there, an id stays taken: Aedes takes a later
/// new publish under it for a retransmission and drops it, after a PUBREC and PUBCOMP that
/// tell the unit it is delivered. The broker's open exchanges are not only those this
/// connection knows of: a unit started again holds none in memory, whatever its last process
/// left open. So every id is closed: a PUBREL for an id the broker holds releases that message
/// (a duplicate of one already passed on, under the same read id), and one for an id it does
/// not hold is answered with a PUBCOMP all the same (MQTT 3.1.1 §4.3.3). rumqttc sends
/// `pending` first, counts each PUBREL in flight until its PUBCOMP, and drops `pending` itself
/// when the broker did not keep the session, where nothing is held to release. The PUBRELs
/// emit no `Publish` event, so the outbox's mapping of ids to messages is untouched; the
/// outbox takes the next PUBCOMP of each id for its close and gives the id to no message
/// before it (`outbox.rs`).
pub fn releases(ids: &[u16]) -> VecDeque<Request> {
    ids.iter().map(|pkid| Request::PubRel(PubRel::new(*pkid))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::Qos;
    use rumqttc::Publish;

    fn four() -> MaxInFlight {
        MaxInFlight::parse(Some(4), Qos::ExactlyOnce).expect("a window of 4")
    }

    fn released(pending: &VecDeque<Request>) -> Vec<u16> {
        pending
            .iter()
            .map(|request| match request {
                Request::PubRel(release) => release.pkid,
                other => panic!("only PUBRELs are sent first, not {other:?}"),
            })
            .collect()
    }

    #[test]
    fn at_qos_2_every_id_is_closed_once_and_nothing_else_is_resent() {
        let options = rumqttc::MqttOptions::new("unit", "127.0.0.1", 1);
        let mut eventloop = EventLoop::new(options, 10);
        let mut publish = Publish::new("anpr/u/reads", QoS::ExactlyOnce, b"{}".to_vec());
        publish.pkid = 3;
        eventloop.pending.push_back(Request::Publish(publish));
        eventloop.pending.push_back(Request::PubRel(PubRel::new(3)));
        let forgotten = forget_connection(
            &mut eventloop,
            &ConnectionError::RequestsDone,
            QoS::ExactlyOnce,
            four(),
        );
        assert_eq!(forgotten.closing, [1, 2, 3, 4]);
        assert_eq!(released(&eventloop.pending), [1, 2, 3, 4]);
    }

    #[test]
    fn at_qos_1_nothing_is_closed_or_resent() {
        let options = rumqttc::MqttOptions::new("unit", "127.0.0.1", 1);
        let mut eventloop = EventLoop::new(options, 10);
        let mut publish = Publish::new("anpr/u/reads", QoS::AtLeastOnce, b"{}".to_vec());
        publish.pkid = 1;
        eventloop.pending.push_back(Request::Publish(publish));
        let forgotten = forget_connection(
            &mut eventloop,
            &ConnectionError::RequestsDone,
            QoS::AtLeastOnce,
            four(),
        );
        assert!(forgotten.closing.is_empty() && eventloop.pending.is_empty());
    }

    #[test]
    fn an_acknowledgement_rumqttc_refused_is_not_handed_on() {
        use rumqttc::{Outgoing, PubComp};
        let completion = |pkid| Event::Incoming(Packet::PubComp(PubComp::new(pkid)));
        let mut events =
            vec![completion(2), Event::Outgoing(Outgoing::PubRel(2)), completion(3), completion(2)];
        drop_refused_ack(&mut events, 2);
        assert_eq!(
            events,
            [completion(2), Event::Outgoing(Outgoing::PubRel(2)), completion(3)],
            "only the last PUBCOMP 2, the refused one, is gone"
        );
    }
}
