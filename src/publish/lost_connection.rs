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
//!   (`outbox.rs`). The QoS 2 exchanges are the exception, see [`releases_to_resend`].
//! - `state.collision`: a publish parked on an id collision never reached the wire, and is in
//!   the outbox too.
//! - An acknowledgement rumqttc refused: it queues an incoming packet's event before it checks
//!   the packet, so a PUBACK or PUBCOMP it found unsolicited (it knows no exchange under that
//!   id, and drops the connection for it) is among the queued events. It is not handed on; see
//!   [`drop_refused_ack`].

use rumqttc::{ConnectionError, Event, EventLoop, Packet, PubRel, QoS, Request, StateError};
use std::collections::VecDeque;

/// What the old connection leaves to the next.
pub struct Forgotten {
    /// Its events still queued, to be handled before anything of the next.
    pub events: Vec<Event>,
    /// The packet ids of the QoS 2 exchanges a resumed session closes first.
    pub closing: Vec<u16>,
}

/// Puts rumqttc right after a connection loss, which `error` caused.
pub fn forget_connection(eventloop: &mut EventLoop, error: &ConnectionError) -> Forgotten {
    let mut events = eventloop.state.events.drain(..).collect();
    if let ConnectionError::MqttState(StateError::Unsolicited(pkid)) = error {
        drop_refused_ack(&mut events, *pkid);
    }
    eventloop.pending = releases_to_resend(std::mem::take(&mut eventloop.pending));
    eventloop.state.collision = None;
    let closing = eventloop
        .pending
        .iter()
        .filter_map(|request| match request {
            Request::PubRel(release) => Some(release.pkid),
            _ => None,
        })
        .collect();
    Forgotten { events, closing }
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

/// A PUBREL for every QoS 2 exchange the old connection left open, once per id, and nothing
/// else.
///
/// A broker holds an incoming QoS 2 publish under its packet id from the PUBLISH until the
/// PUBREL, for as long as it keeps the session (the unit's sessions are persistent, and a
/// cluster shares them between nodes). Left open, such an id stays taken there: a later new
/// publish under it is taken for a retransmission and dropped, after a PUBREC and PUBCOMP that
/// tell the unit it is delivered. So each open exchange is closed on the resumed session: a
/// PUBREL for an id the broker holds releases that message (a duplicate of the outbox's
/// republication, under the same read id), and one for an id it never received is answered
/// with a PUBCOMP all the same (MQTT 3.1.1 §4.3.3). rumqttc sends `pending` first, counts each
/// PUBREL in flight until its PUBCOMP, and drops `pending` itself when the broker did not
/// keep the session, where nothing is held to release. The PUBREL emits no `Publish` event, so
/// the outbox's mapping of ids to messages is untouched; a PUBCOMP for an id no message holds
/// is ignored by the outbox.
///
/// Once per id: an id can be both released and taken again by a publish awaiting its PUBREC
/// (rumqttc frees it at the PUBREC), and a second PUBREL would draw a second PUBCOMP, which
/// rumqttc takes for unsolicited and drops the connection for.
pub fn releases_to_resend(pending: VecDeque<Request>) -> VecDeque<Request> {
    let mut ids: Vec<u16> = Vec::new();
    for request in pending {
        let pkid = match request {
            Request::Publish(publish) if publish.qos == QoS::ExactlyOnce => publish.pkid,
            Request::PubRel(release) => release.pkid,
            _ => continue,
        };
        if pkid != 0 && !ids.contains(&pkid) {
            ids.push(pkid);
        }
    }
    ids.into_iter().map(|pkid| Request::PubRel(PubRel::new(pkid))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::Publish;

    fn publish(qos: QoS, pkid: u16) -> Request {
        let mut publish = Publish::new("anpr/u/reads", qos, b"{}".to_vec());
        publish.pkid = pkid;
        Request::Publish(publish)
    }

    fn released(pending: Vec<Request>) -> Vec<u16> {
        releases_to_resend(pending.into())
            .into_iter()
            .map(|request| match request {
                Request::PubRel(release) => release.pkid,
                other => panic!("only PUBRELs are resent, not {other:?}"),
            })
            .collect()
    }

    #[test]
    fn qos_2_exchanges_are_closed_and_everything_else_is_left_to_the_outbox() {
        let pending = vec![
            publish(QoS::ExactlyOnce, 7),
            publish(QoS::AtLeastOnce, 8),
            Request::PubRel(PubRel::new(5)),
            // Taken from the request channel at the loss: never on the wire, no id yet.
            publish(QoS::ExactlyOnce, 0),
            publish(QoS::AtMostOnce, 0),
            Request::Subscribe(rumqttc::Subscribe::new("anpr/u/control", QoS::AtLeastOnce)),
        ];
        assert_eq!(released(pending), [7, 5]);
    }

    #[test]
    fn an_id_released_and_taken_again_is_released_once() {
        let pending = vec![publish(QoS::ExactlyOnce, 3), Request::PubRel(PubRel::new(3))];
        assert_eq!(released(pending), [3]);
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

    #[test]
    fn at_qos_1_nothing_is_resent() {
        assert!(
            released(vec![publish(QoS::AtLeastOnce, 1), publish(QoS::AtLeastOnce, 2)]).is_empty()
        );
    }
}
