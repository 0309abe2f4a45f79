//! `mqtt.qos`, parsed once: the configuration file keeps the integers 1 and 2 that MQTT
//! operators know, the code holds a type with no third value, so nothing downstream compares
//! integers or guesses what an out-of-range one means.

use serde::{Deserialize, Serialize};

/// When a read, hit or image leaves the outbox: at its PUBACK (1) or its PUBCOMP (2). 2 is for a
/// broker that acknowledges QoS 1 before it has handed a message to its cluster, where a node
/// lost in between loses an acknowledged read (docs/fleet-scale.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Qos {
    /// QoS 1: delivered at the PUBACK.
    #[default]
    AtLeastOnce,
    /// QoS 2: delivered at the PUBCOMP.
    ExactlyOnce,
}

/// The most QoS 2 publishes a unit keeps open at once: Mosquitto's inbound window for them
/// (`max_inflight_messages`, 20 by default). Mosquitto 2.0.11 queues the publishes past it
/// without a PUBREC, and after a reconnection to the kept session it completed 47 of them with
/// a PUBCOMP and never delivered them (measured: `tests/mqtt_publish.rs` at QoS 2 with 32 in
/// flight). MQTT 3.1.1 has no way for a broker to announce its window.
pub const MAX_IN_FLIGHT_AT_QOS_2: u16 = 20;

impl Qos {
    /// Publishes awaiting their acknowledgement at once when `mqtt.max_in_flight` is left out:
    /// at QoS 2 under [`MAX_IN_FLIGHT_AT_QOS_2`].
    pub fn default_max_in_flight(self) -> u16 {
        match self {
            Qos::AtLeastOnce => 32,
            Qos::ExactlyOnce => 16,
        }
    }

    /// The most publishes in flight a broker keeps safe at this QoS, if it is limited.
    pub fn max_in_flight_limit(self) -> Option<u16> {
        match self {
            Qos::AtLeastOnce => None,
            Qos::ExactlyOnce => Some(MAX_IN_FLIGHT_AT_QOS_2),
        }
    }
}

impl TryFrom<u8> for Qos {
    type Error = String;

    /// The message is what `check-config` shows under `mqtt.qos`.
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            1 => Ok(Qos::AtLeastOnce),
            2 => Ok(Qos::ExactlyOnce),
            other => Err(format!(
                "{other} is not 1 or 2; give 1 (a read is delivered at its PUBACK) or 2 (at its PUBCOMP, for a cluster that acknowledges QoS 1 before forwarding)"
            )),
        }
    }
}

impl From<Qos> for u8 {
    fn from(qos: Qos) -> Self {
        match qos {
            Qos::AtLeastOnce => 1,
            Qos::ExactlyOnce => 2,
        }
    }
}

impl From<Qos> for rumqttc::QoS {
    fn from(qos: Qos) -> Self {
        match qos {
            Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
            Qos::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct Section {
        qos: Qos,
    }

    #[test]
    fn the_file_keeps_the_integers_1_and_2() {
        for (text, qos) in [("qos = 1", Qos::AtLeastOnce), ("qos = 2", Qos::ExactlyOnce)] {
            let section: Section = toml::from_str(text).expect(text);
            assert_eq!(section.qos, qos);
            assert_eq!(toml::to_string(&section).expect("serialise").trim(), text);
        }
    }

    #[test]
    fn any_other_integer_is_refused_saying_what_to_give() {
        for text in ["qos = 0", "qos = 3"] {
            let error = toml::from_str::<Section>(text).expect_err(text).to_string();
            assert!(error.contains("is not 1 or 2; give 1"), "{error}");
        }
    }

    #[test]
    fn each_maps_to_the_mqtt_qos_of_its_number() {
        assert_eq!(rumqttc::QoS::from(Qos::AtLeastOnce), rumqttc::QoS::AtLeastOnce);
        assert_eq!(rumqttc::QoS::from(Qos::ExactlyOnce), rumqttc::QoS::ExactlyOnce);
    }
}
