//! `mqtt.qos` and `mqtt.max_in_flight`, parsed once: the configuration file keeps the integers
//! MQTT operators know, the code holds types with no value outside the rule (no third QoS, no
//! window of 0 or past the broker's), so nothing downstream compares integers or guesses what
//! an out-of-range one means.

use std::ops::RangeInclusive;

/// When a read, hit or image leaves the outbox: at its PUBACK (1) or its PUBCOMP (2). 2 is for a
/// broker that acknowledges QoS 1 before it has handed a message to its cluster, where a node
/// lost in between loses an acknowledged read (docs/fleet-scale.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    fn default_max_in_flight(self) -> u16 {
        match self {
            Qos::AtLeastOnce => 32,
            Qos::ExactlyOnce => 16,
        }
    }

    /// The most publishes in flight a broker keeps safe at this QoS, if it is limited.
    fn max_in_flight_limit(self) -> Option<u16> {
        match self {
            Qos::AtLeastOnce => None,
            Qos::ExactlyOnce => Some(MAX_IN_FLIGHT_AT_QOS_2),
        }
    }
}

/// How many publishes await their acknowledgement at once: at least 1, and at QoS 2 at most
/// [`MAX_IN_FLIGHT_AT_QOS_2`]. rumqttc's packet ids run from 1 to it (its `inflight`), and the
/// outbox hands over at most that many messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxInFlight(u16);

impl MaxInFlight {
    /// `mqtt.max_in_flight` as given (or the default of `qos` when left out), or the problem
    /// and its fix for `check-config`.
    pub fn parse(given: Option<u16>, qos: Qos) -> Result<Self, (String, &'static str)> {
        let count = given.unwrap_or_else(|| qos.default_max_in_flight());
        if count == 0 {
            return Err(("is 0".into(), "must be at least 1"));
        }
        match qos.max_in_flight_limit().filter(|&limit| count > limit) {
            Some(limit) => Err((
                format!("{count} is above {limit} with mqtt.qos = 2"),
                "give at most 20 (or leave it out for 16): a broker whose QoS 2 window is smaller loses acknowledged reads at a reconnection (Mosquitto's is 20)",
            )),
            None => Ok(Self(count)),
        }
    }

    /// rumqttc's `inflight`.
    pub fn get(self) -> u16 {
        self.0
    }

    /// The packet ids rumqttc gives the unit's publishes.
    pub fn ids(self) -> RangeInclusive<u16> {
        1..=self.0
    }

    /// How many messages the outbox may have out at once.
    pub fn messages(self) -> usize {
        usize::from(self.0)
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

    #[test]
    fn the_file_keeps_the_integers_1_and_2() {
        for (number, qos) in [(1u8, Qos::AtLeastOnce), (2, Qos::ExactlyOnce)] {
            assert_eq!(Qos::try_from(number), Ok(qos));
            assert_eq!(u8::from(qos), number);
        }
    }

    #[test]
    fn any_other_integer_is_refused_saying_what_to_give() {
        for number in [0u8, 3] {
            let error = Qos::try_from(number).expect_err("refused");
            assert!(error.contains("is not 1 or 2; give 1"), "{error}");
        }
    }

    #[test]
    fn each_maps_to_the_mqtt_qos_of_its_number() {
        assert_eq!(rumqttc::QoS::from(Qos::AtLeastOnce), rumqttc::QoS::AtLeastOnce);
        assert_eq!(rumqttc::QoS::from(Qos::ExactlyOnce), rumqttc::QoS::ExactlyOnce);
    }

    #[test]
    fn the_window_defaults_by_qos_and_stays_within_the_brokers_at_qos_2() {
        let parse = |given, qos| MaxInFlight::parse(given, qos).map(MaxInFlight::get);
        assert_eq!(parse(None, Qos::AtLeastOnce), Ok(32));
        assert_eq!(parse(None, Qos::ExactlyOnce), Ok(16));
        assert_eq!(parse(Some(100), Qos::AtLeastOnce), Ok(100));
        assert_eq!(parse(Some(20), Qos::ExactlyOnce), Ok(20));
        assert!(parse(Some(21), Qos::ExactlyOnce).is_err());
        assert!(parse(Some(0), Qos::AtLeastOnce).is_err());
        let window = MaxInFlight::parse(Some(3), Qos::ExactlyOnce).expect("valid");
        assert_eq!((window.ids().collect::<Vec<_>>(), window.messages()), (vec![1, 2, 3], 3));
    }
}
