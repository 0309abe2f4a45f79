//! Keyed, rotating pseudonyms of non-hit plates: HMAC-SHA256(plate, key of the period).
//!
//! Design: the centre may count and link reads of one car within a period (traffic statistics,
//! journey times) but must not recover plates, nor link a car across periods. A plain hash of a
//! plate is reversible by trying every plate (a few hundred million), so the hash is keyed with
//! a secret the centre does not hold. The secret comes from `key_file` — one fleet-wide file,
//! so that two cameras give one car the same pseudonym — or, without a file, from the system's
//! random generator at start (held in memory only: pseudonyms then link nothing across cameras
//! or restarts, the most private and least useful choice). Each period's key is derived from the
//! secret (HMAC-SHA256(secret, "anpr-edge/plate-period/" ‖ period number)), so a period key
//! that leaks exposes that period only, and periods are aligned on UTC (a daily key changes at
//! 00:00 UTC on every unit of the fleet at once). The secret and the period keys are never
//! logged or published: `Debug` prints neither, and no record or status carries them.

use crate::config_issue::ConfigIssue;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// Least length of the secret: 256 bits, the size of HMAC-SHA256's output.
pub const MIN_SECRET_BYTES: usize = 32;

/// `[privacy.keyed_hash]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyedHashConfig {
    /// Fleet-wide secret (at least 32 bytes, e.g. `openssl rand -hex 32`); without it a random
    /// key is made at start and held in memory only.
    pub key_file: Option<PathBuf>,
    /// Hours each key is used for; a divisor or a multiple of 24, so periods start at 00:00 UTC.
    pub period_hours: u32,
}

impl Default for KeyedHashConfig {
    fn default() -> Self {
        Self { key_file: None, period_hours: 24 }
    }
}

impl KeyedHashConfig {
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let h = self.period_hours;
        if h == 0 || !(24u32.is_multiple_of(h) || h.is_multiple_of(24)) {
            issues.push(ConfigIssue::new("period_hours", format!("{h} does not divide a day"), "give a divisor of 24 (1, 2, 3, 4, 6, 8, 12) or a multiple of 24, so periods start at 00:00 UTC"));
        }
        if let Some(file) = &self.key_file {
            if !file.is_file() {
                issues.push(ConfigIssue::new("key_file", format!("{} is not a readable file", file.display()), format!("make one with `openssl rand -hex 32 > {}` (mode 0400) or leave key_file out for a random in-memory key", file.display())));
            }
        }
        issues
    }

    fn period(&self) -> Duration {
        Duration::from_secs(u64::from(self.period_hours) * 3600)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("privacy.keyed_hash.key_file: cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("privacy.keyed_hash.key_file: {path} holds {bytes} bytes; the secret needs at least {MIN_SECRET_BYTES} (make one with `openssl rand -hex 32`)")]
    Short { path: PathBuf, bytes: usize },
    #[error("privacy.keyed_hash: the system's random generator failed, so no in-memory key could be made: {0}")]
    Random(getrandom::Error),
}

/// Where the secret came from: told in the privacy sheet and the start log (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    File(PathBuf),
    RandomInMemory,
}

/// The pseudonym of one plate, as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pseudonym {
    /// `"hmac-sha256"`.
    pub algorithm: String,
    /// Lowercase hex of HMAC-SHA256(normalised plate, key of the period).
    pub value: String,
    /// Start of the period whose key made it (UTC): pseudonyms link only within one period.
    pub period_start: String,
}

/// Holds the secret; makes pseudonyms.
pub struct Pseudonymiser {
    secret: Vec<u8>,
    period: Duration,
    source: KeySource,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pseudonymiser")
            .field("secret", &"<redacted>")
            .field("period", &self.period)
            .field("source", &self.source)
            .finish()
    }
}

impl Pseudonymiser {
    pub fn load(config: &KeyedHashConfig) -> Result<Self, KeyError> {
        let (secret, source) = match &config.key_file {
            Some(path) => {
                let bytes = crate::small_file::read(path)
                    .map_err(|source| KeyError::Read { path: path.clone(), source })?;
                // A key made by `openssl rand -hex 32` ends with a newline an editor may or may
                // not keep: the same file content must give the same key on every unit.
                let secret = bytes.trim_ascii().to_vec();
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(KeyError::Short { path: path.clone(), bytes: secret.len() });
                }
                (secret, KeySource::File(path.clone()))
            }
            None => {
                let mut secret = vec![0u8; MIN_SECRET_BYTES];
                getrandom::getrandom(&mut secret).map_err(KeyError::Random)?;
                (secret, KeySource::RandomInMemory)
            }
        };
        Ok(Self { secret, period: config.period(), source })
    }

    /// From a secret already in memory (tests, benches).
    pub fn from_secret(secret: &[u8], config: &KeyedHashConfig) -> Self {
        Self { secret: secret.to_vec(), period: config.period(), source: KeySource::RandomInMemory }
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The pseudonym of `plate` read at `at`. Pure: the same plate, secret and period always
    /// give the same value.
    pub fn pseudonym(&self, plate: &str, at: SystemTime) -> Pseudonym {
        let period_secs = self.period.as_secs().max(1);
        let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let index = since_epoch / period_secs;
        let period_key =
            mac(&self.secret, &[b"anpr-edge/plate-period/".as_slice(), &index.to_be_bytes()]);
        let normalised: String = plate
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let value = mac(&period_key, &[normalised.as_bytes()]);
        Pseudonym {
            algorithm: "hmac-sha256".into(),
            value: value.iter().map(|b| format!("{b:02x}")).collect(),
            period_start: crate::time_format::rfc3339_ms(
                UNIX_EPOCH + Duration::from_secs(index * period_secs),
            ),
        }
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // invariant: HMAC accepts keys of any length, so new_from_slice cannot fail.
    let mut mac = HmacSha256::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn daily() -> Pseudonymiser {
        Pseudonymiser::from_secret(
            b"fleet secret of at least thirty-two bytes!",
            &KeyedHashConfig::default(),
        )
    }

    #[test]
    fn same_plate_same_period_same_pseudonym_next_period_another() {
        let p = daily();
        let day = 20_000 * DAY;
        let morning = p.pseudonym("1-ABC-123", at(day + 3600));
        let evening = p.pseudonym("1ABC123", at(day + DAY - 1));
        assert_eq!(
            morning, evening,
            "one car is linkable within its day (separators do not matter)"
        );
        assert_eq!(morning.period_start, "2024-10-04T00:00:00.000Z");
        let tomorrow = p.pseudonym("1ABC123", at(day + DAY));
        assert_ne!(tomorrow.value, morning.value, "a new day, a new key: no link across days");
        assert_ne!(p.pseudonym("1ABC124", at(day)).value, morning.value, "different plates differ");
        assert_eq!(morning.value.len(), 64);
    }

    #[test]
    fn two_units_with_the_same_secret_agree_and_a_different_secret_does_not() {
        let one = daily();
        let two = daily();
        assert_eq!(one.pseudonym("XYZ987", at(5 * DAY)), two.pseudonym("XYZ987", at(5 * DAY)));
        let other = Pseudonymiser::from_secret(
            b"another fleet's secret, also long enough",
            &KeyedHashConfig::default(),
        );
        assert_ne!(
            other.pseudonym("XYZ987", at(5 * DAY)).value,
            one.pseudonym("XYZ987", at(5 * DAY)).value
        );
    }

    #[test]
    fn shorter_periods_rotate_on_their_boundary() {
        let p = Pseudonymiser::from_secret(
            &[7u8; 32],
            &KeyedHashConfig { key_file: None, period_hours: 6 },
        );
        assert_eq!(p.pseudonym("AB12CD", at(6 * 3600 - 1)), p.pseudonym("AB12CD", at(1)));
        assert_ne!(p.pseudonym("AB12CD", at(6 * 3600)), p.pseudonym("AB12CD", at(1)));
    }

    #[test]
    fn the_secret_never_shows_in_debug_or_in_a_pseudonym() {
        let secret = b"0123456789abcdef0123456789abcdef-very-secret";
        let p = Pseudonymiser::from_secret(secret, &KeyedHashConfig::default());
        let debug = format!("{p:?}");
        assert!(!debug.contains("0123456789abcdef") && debug.contains("redacted"), "{debug}");
        let published = serde_json::to_string(&p.pseudonym("AB12CD", at(0))).expect("json");
        assert!(!published.contains("0123456789abcdef"), "{published}");
    }

    #[test]
    fn key_files_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let short = dir.path().join("short.key");
        std::fs::write(&short, "tooshort\n").expect("write");
        let e = Pseudonymiser::load(&KeyedHashConfig {
            key_file: Some(short.clone()),
            period_hours: 24,
        })
        .expect_err("short")
        .to_string();
        assert!(e.contains("short.key") && e.contains("openssl rand"), "{e}");
        let good = dir.path().join("fleet.key");
        std::fs::write(&good, format!("{}\n", "ab".repeat(32))).expect("write");
        let with_newline = Pseudonymiser::load(&KeyedHashConfig {
            key_file: Some(good.clone()),
            period_hours: 24,
        })
        .expect("key");
        std::fs::write(&good, "ab".repeat(32)).expect("write");
        let without =
            Pseudonymiser::load(&KeyedHashConfig { key_file: Some(good), period_hours: 24 })
                .expect("key");
        assert_eq!(
            with_newline.pseudonym("A1", at(0)),
            without.pseudonym("A1", at(0)),
            "a trailing newline does not change the key"
        );
        assert!(KeyedHashConfig { key_file: None, period_hours: 5 }.issues().len() == 1);
        assert!(KeyedHashConfig { key_file: None, period_hours: 48 }.issues().is_empty());
        assert!(
            KeyedHashConfig { key_file: Some(dir.path().join("absent")), period_hours: 24 }
                .issues()
                .len()
                == 1
        );
    }

    #[test]
    fn random_keys_differ_between_starts() {
        let a = Pseudonymiser::load(&KeyedHashConfig::default()).expect("random key");
        let b = Pseudonymiser::load(&KeyedHashConfig::default()).expect("random key");
        assert_eq!(a.source(), &KeySource::RandomInMemory);
        assert_ne!(a.pseudonym("AB12CD", at(0)), b.pseudonym("AB12CD", at(0)));
    }
}
