//! Whether this unit takes a command: pure, the clock given, so every refusal is a table test.
//!
//! The checks, in order (the first that fails is the reason given): size, envelope, signature
//! by the configured key, command syntax, target (this unit, or the fleet) and the topic it
//! came on agreeing with it, times (issued no later than a small clock skew from now, not
//! expired, a lifetime of at most a day), and an id never taken before. The ids taken are kept
//! until their command expires, which is exactly as long as a replay could otherwise succeed;
//! the lifetime bound keeps that memory small, and the gate holds at most `MAX_LIVE_IDS`.

use super::command::{Action, Command, Envelope, Target, MAX_COMMAND_BYTES};
use crate::device_id::DeviceId;
use crate::signing::{SignatureError, VerifyingKey};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// A command issued this far in the unit's future is still taken (clocks of a fleet differ).
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);
/// The longest a command may be valid: bounds how long its id must be remembered.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Ids of unexpired commands remembered at once; past that new commands are refused.
pub const MAX_LIVE_IDS: usize = 4096;

/// The topic a command arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// `<prefix>/<device>/control`
    Unit,
    /// `<prefix>/fleet/control`
    Fleet,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("no command key is configured (control.public_key), so no command is taken")]
    NoKey,
    #[error("{bytes} bytes is more than a command may have ({MAX_COMMAND_BYTES})")]
    TooLarge { bytes: usize },
    #[error("not a command envelope ({0}); make one with `anpr-edge command sign`")]
    NotAnEnvelope(String),
    #[error("unsigned; every command must be signed by the key in control.public_key")]
    Unsigned,
    #[error("bad signature: {0}")]
    Signature(SignatureError),
    #[error("the signed body is not a command: {0}")]
    NotACommand(String),
    #[error("meant for unit `{target}`, not this one")]
    OtherUnit { target: String },
    #[error("a fleet command arrived on this unit's own topic, or a unit's on the fleet topic")]
    WrongTopic,
    #[error("`{field}` is not an RFC 3339 time: {value}")]
    BadTime { field: &'static str, value: String },
    #[error("issued at {issued_at}, later than this unit's clock allows")]
    NotYetIssued { issued_at: String },
    #[error("expired at {expires_at}")]
    Expired { expires_at: String },
    #[error("valid for longer than a day; issue commands with a shorter expiry")]
    LifetimeTooLong,
    #[error("id {id} was taken before (a replay)")]
    Replayed { id: String },
    #[error("{MAX_LIVE_IDS} unexpired commands are already held; try again once some expire")]
    TooManyLive,
    #[error("action `config` needs a `config` field with the complete configuration")]
    ConfigMissing,
    #[error("only action `config` carries a `config` field")]
    ConfigUnexpected,
}

/// A refusal, with what could be read of the command for the result message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// Before the signature is verified, the id the body claims (never trusted, only echoed).
    pub id: Option<String>,
    pub action: Option<Action>,
    pub reason: Refusal,
}

pub struct CommandGate {
    key: Option<VerifyingKey>,
    device_id: DeviceId,
    /// Ids taken, with the expiry of their command.
    taken: BTreeMap<String, SystemTime>,
}

impl CommandGate {
    pub fn new(key: Option<VerifyingKey>, device_id: &DeviceId) -> Self {
        Self { key, device_id: device_id.clone(), taken: BTreeMap::new() }
    }

    /// Remembers the ids taken before a restart: a broker keeping the unit's session delivers
    /// its queued commands again, and the restart must not make them new.
    pub fn with_taken(mut self, taken: BTreeMap<String, SystemTime>) -> Self {
        self.taken = taken;
        self
    }

    /// The ids taken and still unexpired, with their command's expiry (what to keep on disk).
    pub fn taken(&self) -> &BTreeMap<String, SystemTime> {
        &self.taken
    }

    /// The command in `payload` if this unit takes it now; taking it remembers its id.
    pub fn admit(
        &mut self,
        arrival: Arrival,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<Command, Refused> {
        let refuse = |reason| Refused { id: None, action: None, reason };
        let key = self.key.as_ref().ok_or_else(|| refuse(Refusal::NoKey))?;
        if payload.len() > MAX_COMMAND_BYTES {
            return Err(refuse(Refusal::TooLarge { bytes: payload.len() }));
        }
        let envelope: Envelope = serde_json::from_slice(payload)
            .map_err(|e| refuse(Refusal::NotAnEnvelope(e.to_string())))?;
        // Until the signature holds, only the id the body claims is read, so that the operator
        // can match the refusal to what was sent; nothing else of it is used.
        let claimed = claimed_id(&envelope.body);
        let refuse = |reason| Refused { id: claimed.clone(), action: None, reason };
        let signature = envelope.signature.as_deref().ok_or_else(|| refuse(Refusal::Unsigned))?;
        crate::signing::verify(key, envelope.body.as_bytes(), signature)
            .map_err(|e| refuse(Refusal::Signature(e)))?;
        let command: Command = serde_json::from_str(&envelope.body)
            .map_err(|e| refuse(Refusal::NotACommand(e.to_string())))?;
        let refuse =
            |reason| Refused { id: Some(command.id.clone()), action: Some(command.action), reason };
        match (&command.target, arrival) {
            (Target::Unit(id), _) if self.device_id.as_str() != id => {
                return Err(refuse(Refusal::OtherUnit { target: id.clone() }))
            }
            (Target::Unit(_), Arrival::Fleet) | (Target::Fleet, Arrival::Unit) => {
                return Err(refuse(Refusal::WrongTopic))
            }
            _ => {}
        }
        let time = |field: &'static str, value: &str| {
            humantime::parse_rfc3339_weak(value)
                .map_err(|_| refuse(Refusal::BadTime { field, value: value.to_string() }))
        };
        let issued = time("issued_at", &command.issued_at)?;
        let expires = time("expires_at", &command.expires_at)?;
        if issued > now + CLOCK_SKEW {
            return Err(refuse(Refusal::NotYetIssued { issued_at: command.issued_at.clone() }));
        }
        if expires <= now {
            return Err(refuse(Refusal::Expired { expires_at: command.expires_at.clone() }));
        }
        if expires.duration_since(issued).unwrap_or(Duration::ZERO) > MAX_LIFETIME {
            return Err(refuse(Refusal::LifetimeTooLong));
        }
        match (command.action, command.config.is_some()) {
            (Action::Config, false) => return Err(refuse(Refusal::ConfigMissing)),
            (Action::Status | Action::Snapshot, true) => {
                return Err(refuse(Refusal::ConfigUnexpected))
            }
            _ => {}
        }
        self.taken.retain(|_, expiry| *expiry > now);
        if self.taken.contains_key(&command.id) {
            return Err(refuse(Refusal::Replayed { id: command.id.clone() }));
        }
        if self.taken.len() >= MAX_LIVE_IDS {
            return Err(refuse(Refusal::TooManyLive));
        }
        self.taken.insert(command.id.clone(), expires);
        Ok(command)
    }
}

/// The `id` an unverified body claims, when it is a short string.
fn claimed_id(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value["id"].as_str().filter(|id| id.len() <= 128).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::command::Envelope;
    use crate::signing::SigningKey;

    const T0: u64 = 1_796_241_000;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + s)
    }

    fn operator() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn gate() -> CommandGate {
        CommandGate::new(Some(operator().verifying_key()), &"unit-a".parse().expect("id"))
    }

    fn command(target: Target, action: Action) -> Command {
        Command::new(target, action, at(0), Duration::from_secs(300))
    }

    fn signed(c: &Command) -> Vec<u8> {
        serde_json::to_vec(&Envelope::signed(c, &operator()).expect("sign")).expect("json")
    }

    fn refusal(g: &mut CommandGate, arrival: Arrival, payload: &[u8], now: u64) -> Refusal {
        g.admit(arrival, payload, at(now)).expect_err("refused").reason
    }

    #[test]
    fn a_signed_command_for_this_unit_or_the_fleet_is_taken_once() {
        let mut g = gate();
        let own = command(Target::Unit("unit-a".into()), Action::Status);
        assert_eq!(g.admit(Arrival::Unit, &signed(&own), at(10)), Ok(own.clone()));
        assert_eq!(
            refusal(&mut g, Arrival::Unit, &signed(&own), 20),
            Refusal::Replayed { id: own.id.clone() }
        );
        let fleet = command(Target::Fleet, Action::Snapshot);
        assert!(g.admit(Arrival::Fleet, &signed(&fleet), at(10)).is_ok());
    }

    #[test]
    fn each_reason_to_refuse_is_named() {
        let mut g = gate();
        let own = command(Target::Unit("unit-a".into()), Action::Status);
        let other = command(Target::Unit("unit-b".into()), Action::Status);
        assert_eq!(
            refusal(&mut g, Arrival::Unit, &signed(&other), 10),
            Refusal::OtherUnit { target: "unit-b".into() }
        );
        assert_eq!(refusal(&mut g, Arrival::Fleet, &signed(&own), 10), Refusal::WrongTopic);
        let fleet = command(Target::Fleet, Action::Status);
        assert_eq!(refusal(&mut g, Arrival::Unit, &signed(&fleet), 10), Refusal::WrongTopic);
        assert!(matches!(
            refusal(&mut g, Arrival::Unit, &signed(&own), 300),
            Refusal::Expired { .. }
        ));
        let unsigned = serde_json::to_vec(&Envelope {
            body: serde_json::to_string(&own).expect("json"),
            signature: None,
        })
        .expect("json");
        assert_eq!(refusal(&mut g, Arrival::Unit, &unsigned, 10), Refusal::Unsigned);
        let refused = g.admit(Arrival::Unit, &unsigned, at(10)).expect_err("unsigned");
        assert_eq!(refused.id.as_deref(), Some(own.id.as_str()), "the claimed id, to match it");
        let mut forged = command(Target::Unit("unit-a".into()), Action::Status);
        let mut envelope = Envelope::signed(&forged, &SigningKey::from_bytes(&[9; 32])).expect("s");
        assert!(matches!(
            refusal(&mut g, Arrival::Unit, &serde_json::to_vec(&envelope).expect("j"), 10),
            Refusal::Signature(SignatureError::Mismatch { .. })
        ));
        // A valid signature over other bytes: the body was changed after signing.
        forged.action = Action::Snapshot;
        envelope.signature = Envelope::signed(&own, &operator()).expect("s").signature;
        envelope.body = serde_json::to_string(&forged).expect("json");
        assert!(matches!(
            refusal(&mut g, Arrival::Unit, &serde_json::to_vec(&envelope).expect("j"), 10),
            Refusal::Signature(_)
        ));
        assert!(matches!(
            refusal(&mut g, Arrival::Unit, b"reboot now", 10),
            Refusal::NotAnEnvelope(_)
        ));
        assert_eq!(
            refusal(&mut g, Arrival::Unit, &vec![b' '; MAX_COMMAND_BYTES + 1], 10),
            Refusal::TooLarge { bytes: MAX_COMMAND_BYTES + 1 }
        );
        let mut no_config = own.clone();
        no_config.action = Action::Config;
        assert_eq!(refusal(&mut g, Arrival::Unit, &signed(&no_config), 10), Refusal::ConfigMissing);
        let mut stray = own.clone();
        stray.config = Some(String::new());
        assert_eq!(refusal(&mut g, Arrival::Unit, &signed(&stray), 10), Refusal::ConfigUnexpected);
        let mut keyless = CommandGate::new(None, &"unit-a".parse().expect("id"));
        assert_eq!(refusal(&mut keyless, Arrival::Unit, &signed(&own), 10), Refusal::NoKey);
    }

    #[test]
    fn times_are_checked_with_a_skew_and_a_bounded_lifetime() {
        let mut g = gate();
        let mut early = command(Target::Unit("unit-a".into()), Action::Status);
        early.issued_at = crate::time_format::rfc3339_ms(at(600));
        early.expires_at = crate::time_format::rfc3339_ms(at(900));
        assert!(matches!(
            refusal(&mut g, Arrival::Unit, &signed(&early), 0),
            Refusal::NotYetIssued { .. }
        ));
        assert!(g.admit(Arrival::Unit, &signed(&early), at(400)).is_ok(), "within the skew");
        let mut long = command(Target::Unit("unit-a".into()), Action::Status);
        long.expires_at = crate::time_format::rfc3339_ms(at(2 * 86_400));
        assert_eq!(refusal(&mut g, Arrival::Unit, &signed(&long), 10), Refusal::LifetimeTooLong);
        let mut garbled = command(Target::Unit("unit-a".into()), Action::Status);
        garbled.expires_at = "tomorrow".into();
        assert_eq!(
            refusal(&mut g, Arrival::Unit, &signed(&garbled), 10),
            Refusal::BadTime { field: "expires_at", value: "tomorrow".into() }
        );
    }

    #[test]
    fn ids_taken_before_a_restart_stay_taken() {
        let mut before = gate();
        let own = command(Target::Unit("unit-a".into()), Action::Status);
        assert!(before.admit(Arrival::Unit, &signed(&own), at(10)).is_ok());
        let mut after = gate().with_taken(before.taken().clone());
        assert_eq!(
            refusal(&mut after, Arrival::Unit, &signed(&own), 20),
            Refusal::Replayed { id: own.id.clone() }
        );
    }

    #[test]
    fn ids_are_forgotten_once_their_command_expired_and_the_memory_is_bounded() {
        let mut g = gate();
        for _ in 0..MAX_LIVE_IDS {
            let c = command(Target::Fleet, Action::Status);
            assert!(g.admit(Arrival::Fleet, &signed(&c), at(1)).is_ok());
        }
        let one_more = command(Target::Fleet, Action::Status);
        assert_eq!(refusal(&mut g, Arrival::Fleet, &signed(&one_more), 2), Refusal::TooManyLive);
        let later = Command::new(Target::Fleet, Action::Status, at(400), Duration::from_secs(60));
        assert!(g.admit(Arrival::Fleet, &signed(&later), at(401)).is_ok(), "the old ids expired");
        assert_eq!(g.taken.len(), 1);
    }
}
