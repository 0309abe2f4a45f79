//! The names a unit goes by: its device id (a level of every MQTT topic it uses, a field of
//! every record and the target of the centre's commands) and its camera id (a field of every
//! record). Each has one rule, in [`FromStr`], so the configuration cannot accept an id the
//! topics would refuse, nor the other way round.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The topic level that stands for every unit (`<prefix>/fleet/...`); no device may take it.
pub const FLEET: &str = "fleet";

/// Why a text is not an id; the message is what `check-config` shows under the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("`{0}` is not a topic-safe id (it is part of MQTT topics); use non-empty letters, digits, - or _")]
    NotTopicSafe(String),
    #[error("`{0}` is not a valid id; use non-empty letters, digits, - or _")]
    NotAnId(String),
    #[error("`{0}` is reserved for the fleet-wide topics; choose another id")]
    Reserved(String),
}

/// Non-empty ASCII letters, digits, `-` and `_`: one level of an MQTT topic with no wildcard,
/// separator or character a broker's access rules would have to escape.
fn is_id(text: &str) -> bool {
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    !text.is_empty() && text.chars().all(safe)
}

/// The unit's name in the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(String);

impl FromStr for DeviceId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, IdError> {
        if !is_id(text) {
            return Err(IdError::NotTopicSafe(text.to_string()));
        }
        if text == FLEET {
            return Err(IdError::Reserved(text.to_string()));
        }
        Ok(Self(text.to_string()))
    }
}

/// The camera's name on its unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CameraId(String);

impl FromStr for CameraId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, IdError> {
        if !is_id(text) {
            return Err(IdError::NotAnId(text.to_string()));
        }
        Ok(Self(text.to_string()))
    }
}

impl Default for CameraId {
    /// The camera of a unit that has one.
    fn default() -> Self {
        Self("cam0".into())
    }
}

/// What both ids share once parsed: their text, and serde through it.
macro_rules! id_text {
    ($id:ident) => {
        impl $id {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $id {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $id {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                text.parse()
            }
        }

        impl From<$id> for String {
            fn from(id: $id) -> String {
                id.0
            }
        }

        impl PartialEq<&str> for $id {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_text!(DeviceId);
id_text!(CameraId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_letters_digits_dash_and_underscore() {
        for (text, ok) in [
            ("box-1", true),
            ("Unit_07", true),
            ("", false),
            ("box 1", false),
            ("a/b", false),
            ("a+", false),
            ("#", false),
            ("box.1", false),
            ("é", false),
        ] {
            assert_eq!(text.parse::<DeviceId>().is_ok(), ok, "{text:?}");
            assert_eq!(text.parse::<CameraId>().is_ok(), ok, "{text:?}");
        }
    }

    #[test]
    fn only_the_device_id_may_not_be_the_fleet() {
        assert_eq!(
            FLEET.parse::<DeviceId>(),
            Err(IdError::Reserved(FLEET.to_string())),
            "the fleet's level"
        );
        assert!(FLEET.parse::<CameraId>().is_ok());
    }

    #[test]
    fn serde_goes_through_the_rule() {
        let id: DeviceId = serde_json::from_str("\"box-1\"").expect("valid");
        assert_eq!(id, "box-1");
        assert_eq!(serde_json::to_string(&id).expect("serialise"), "\"box-1\"");
        let error = serde_json::from_str::<DeviceId>("\"box 1\"").expect_err("refused");
        assert!(error.to_string().contains("not a topic-safe id"), "{error}");
    }
}
