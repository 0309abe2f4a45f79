//! From a finished read to the messages that carry it: the record on the reads topic (and on
//! the hits topic for a hit), each image on its own topic, every message with its class and
//! the id consumers deduplicate by. Pure: no broker, no clock.

use super::topics::Topics;
use crate::message::{Class, Message};
use crate::outgoing::{ImageKind, Outgoing};
use crate::read_record::Report;

/// The id of a read's message on the hits topic is its read id and this.
pub const ON_HITS_TOPIC: &str = "/hit";

/// The capture time of the read a hits-topic message carries, if `message` is one.
pub fn hit_captured_at(message: &Message) -> Option<std::time::SystemTime> {
    #[derive(serde::Deserialize)]
    struct Captured {
        captured_at: String,
    }
    if message.class != Class::Hit || !message.id.ends_with(ON_HITS_TOPIC) {
        return None;
    }
    let read: Captured = serde_json::from_slice(&message.payload).ok()?;
    humantime::parse_rfc3339(&read.captured_at).ok()
}

/// The messages of one read. A hit goes on the hits topic as well as on reads, as
/// [`Class::Hit`] (ahead of every queued non-hit, dropped last), and its images as
/// [`Class::HitImage`] (before every read, but dropped before any read), so the control room
/// gets the alert with its evidence first. An early alert (`report: alert`) goes on the hits
/// topic only (it is not a vehicle: its vehicle's read follows), and a vehicle's read that
/// raised one (`alert_id`) on reads only, so the control room hears of a vehicle once. A hit's
/// context frames go as [`Class::Image`]: after every read, and dropped first.
pub fn messages(read: Outgoing, topics: &Topics) -> Result<Vec<Message>, serde_json::Error> {
    let record = &read.record;
    let payload = serde_json::to_vec(record)?;
    let mut out = Vec::with_capacity(2 + read.images.len());
    let alert = record.report == Report::Alert;
    if record.hit && record.alert_id.is_none() {
        out.push(Message {
            id: format!("{}{ON_HITS_TOPIC}", record.read_id),
            topic: topics.hits.clone(),
            payload: payload.clone(),
            class: Class::Hit,
        });
    }
    let (read_class, image_class) =
        if record.hit { (Class::Hit, Class::HitImage) } else { (Class::Read, Class::Image) };
    if !alert {
        out.push(Message {
            id: record.read_id.clone(),
            topic: topics.reads.clone(),
            payload,
            class: read_class,
        });
    }
    for image in read.images {
        // A context frame is evidence around a hit, not the hit: the first dropped under pressure.
        let class =
            if matches!(image.kind, ImageKind::Context(_)) { Class::Image } else { image_class };
        out.push(Message {
            id: format!("{}/{}", record.read_id, image.kind),
            topic: topics.image(&record.read_id, image.kind),
            payload: image.jpeg,
            class,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outgoing::OutgoingImage;
    use crate::publish::outbox::Outbox;
    use crate::read_record::ReadRecord;

    fn outgoing(hit: bool) -> Outgoing {
        let record: ReadRecord = serde_json::from_value(serde_json::json!({
            "schema": crate::read_record::SCHEMA, "read_id": "r1", "report": "vehicle", "vehicle_id": "v1", "device_id": "box", "camera_id": "cam0",
            "site": {"name": "s"}, "purpose": "test", "captured_at": "2026-12-01T07:00:00.000Z", "first_seen": "2026-12-01T07:00:00.000Z",
            "last_seen": "2026-12-01T07:00:00.000Z",
            "plate": {"text": "AB12", "pseudonym": null, "ocr_text": "AB12", "confidence": 0.9, "char_confidences": [0.9], "format": null, "region": null},
            "bbox": {"x1": 0.0, "y1": 0.0, "x2": 1.0, "y2": 1.0}, "frame": 0, "frames": 1, "agreeing_frames": 1, "direction": null,
            "disposition": if hit { "hit" } else { "non_hit" }, "hit": hit, "hotlist": null, "alert_level": null, "alert_id": null, "position": null, "clock_synchronised": true, "images": {"overview": null, "plate": null, "context": []}
        }))
        .expect("record");
        let images = [ImageKind::Overview, ImageKind::Plate]
            .map(|kind| OutgoingImage { kind, jpeg: vec![0xff, 0xd8] });
        Outgoing { record, images: images.to_vec() }
    }

    #[test]
    fn only_the_hits_topic_message_of_a_hit_is_timed_by_its_capture() {
        let topics = Topics::new("anpr", &"box".parse().expect("id"));
        let sent = messages(outgoing(true), &topics).expect("json");
        let captured = humantime::parse_rfc3339("2026-12-01T07:00:00.000Z").expect("time");
        assert_eq!(hit_captured_at(&sent[0]), Some(captured));
        assert!(sent[1..].iter().all(|m| hit_captured_at(m).is_none()));
        let plain = messages(outgoing(false), &topics).expect("json");
        assert!(plain.iter().all(|m| hit_captured_at(m).is_none()));
    }

    #[test]
    fn a_hit_travels_as_a_hit_on_the_hits_topic_with_its_images() {
        let topics = Topics::new("anpr", &"box".parse().expect("id"));
        let sent: Vec<(String, Class)> = messages(outgoing(true), &topics)
            .expect("json")
            .into_iter()
            .map(|m| (m.topic, m.class))
            .collect();
        assert_eq!(
            sent,
            [
                ("anpr/box/hits".to_string(), Class::Hit),
                ("anpr/box/reads".to_string(), Class::Hit),
                ("anpr/box/images/r1/overview".to_string(), Class::HitImage),
                ("anpr/box/images/r1/plate".to_string(), Class::HitImage),
            ]
        );
        let sent: Vec<(String, Class)> = messages(outgoing(false), &topics)
            .expect("json")
            .into_iter()
            .map(|m| (m.topic, m.class))
            .collect();
        assert_eq!(
            sent,
            [
                ("anpr/box/reads".to_string(), Class::Read),
                ("anpr/box/images/r1/overview".to_string(), Class::Image),
                ("anpr/box/images/r1/plate".to_string(), Class::Image),
            ]
        );
        // And in the outbox a hit and its images overtake a non-hit queued before them.
        let mut outbox = Outbox::new(100, 1 << 20);
        for m in messages(outgoing(false), &topics)
            .expect("json")
            .into_iter()
            .chain(messages(outgoing(true), &topics).expect("json"))
        {
            outbox.push(Message { id: format!("{}#{}", m.topic, m.class as usize), ..m });
        }
        let mut order = Vec::new();
        while let Some(m) = outbox.next_to_send(100) {
            let (id, class) = (m.id.clone(), m.class);
            order.push(class);
            assert!(outbox.mark_sent(&id));
        }
        assert_eq!(
            order,
            [
                Class::Hit,
                Class::Hit,
                Class::HitImage,
                Class::HitImage,
                Class::Read,
                Class::Image,
                Class::Image
            ]
        );
    }
}
