//! Privacy by design: what of a read may leave the device, decided on the device.
//!
//! The hit/no-hit decision is made here, on the unit, so the unit can minimise what it sends:
//! `policy` decides (pure) which fields and images leave for a hit, a non-hit and an
//! allow-listed read; `blur` makes the non-hit overview unreadable where plates are;
//! `pseudonym` replaces a non-hit plate by a keyed hash that rotates; `retention` deletes what
//! the unit stores once it is older than the configured age. The privacy sheet
//! (`crate::privacy_sheet`) is printed from the same decisions, so the sheet cannot say
//! something the code does not do.

pub mod blur;
pub mod policy;
pub mod pseudonym;
pub mod retention;

use crate::config_issue::{under, ConfigIssue};
use serde::{Deserialize, Serialize};

pub use blur::BlurConfig;
pub use policy::{release, PublishedPlate, Release};
pub use pseudonym::{KeyedHashConfig, Pseudonymiser};
pub use retention::RetentionConfig;

/// What the hotlist made of a read: the input of every privacy decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// On a hotlist with action "alert": everything leaves, unblurred.
    Hit,
    /// On no list: the plate is minimised and the images blurred.
    NonHit,
    /// On an allow list (e.g. a low-emission-zone exemption): no image at all.
    Allowed,
}

impl Disposition {
    pub const ALL: [Disposition; 3] = [Disposition::Hit, Disposition::NonHit, Disposition::Allowed];

    /// The hotlist's verdict, as far as privacy is concerned.
    pub fn of(verdict: &crate::hotlist::Verdict) -> Self {
        match verdict {
            crate::hotlist::Verdict::Alert(_) => Disposition::Hit,
            crate::hotlist::Verdict::Allow(_) => Disposition::Allowed,
            crate::hotlist::Verdict::NoMatch => Disposition::NonHit,
        }
    }
}

/// How the plate of a read that is not a hit leaves the device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateTreatment {
    /// The text as read.
    Clear,
    /// HMAC-SHA256 of the text under a key of the current period (see `[privacy.keyed_hash]`).
    KeyedHash,
    /// No plate at all: the read says that a vehicle passed, when, where and which way.
    #[default]
    Drop,
}

/// `[privacy]`: the purpose, and what leaves the device for reads that are not hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Why this unit reads plates; published in every read and every status message.
    pub purpose: String,
    /// The plate of a non-hit or allow-listed read: "clear", "keyed_hash" or "drop" (default).
    #[serde(default)]
    pub non_hit_plate: PlateTreatment,
    /// Send the plate crop of a non-hit (only with `non_hit_plate = "clear"`: a crop shows the
    /// plate a hash or a drop hides).
    #[serde(default)]
    pub non_hit_plate_crop: bool,
    #[serde(default)]
    pub blur: BlurConfig,
    #[serde(default)]
    pub keyed_hash: KeyedHashConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
}

impl PrivacyConfig {
    /// What is wrong with `[privacy]` and its sub-tables, keys relative to it.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.purpose.trim().len() < 3 {
            issues.push(ConfigIssue::new(
                "purpose",
                "must state why this unit reads plates; it is published with every read",
                "e.g. purpose = \"enforcement of the Brussels low-emission zone\"",
            ));
        }
        if self.non_hit_plate_crop && self.non_hit_plate != PlateTreatment::Clear {
            issues.push(ConfigIssue::new(
                "non_hit_plate_crop",
                "a plate crop shows the plate that non_hit_plate hides",
                "set it to false, or non_hit_plate = \"clear\"",
            ));
        }
        issues.extend(under("blur", self.blur.issues()));
        issues.extend(under("keyed_hash", self.keyed_hash.issues()));
        issues.extend(under("retention", self.retention.issues()));
        issues
    }

    /// A configuration with `purpose` and every default: for tests and benches.
    pub fn with_purpose(purpose: &str) -> Self {
        Self {
            purpose: purpose.into(),
            non_hit_plate: PlateTreatment::default(),
            non_hit_plate_crop: false,
            blur: BlurConfig::default(),
            keyed_hash: KeyedHashConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

/// What the pipeline needs at run time: the configuration and, when plates are hashed, the
/// key holder.
#[derive(Debug)]
pub struct Privacy {
    pub config: PrivacyConfig,
    pub pseudonymiser: Option<Pseudonymiser>,
}

impl Privacy {
    /// Loads the key when `non_hit_plate = "keyed_hash"`; the error names the key file.
    pub fn start(config: &PrivacyConfig) -> Result<Self, pseudonym::KeyError> {
        let pseudonymiser = match config.non_hit_plate {
            PlateTreatment::KeyedHash => Some(Pseudonymiser::load(&config.keyed_hash)?),
            PlateTreatment::Clear | PlateTreatment::Drop => None,
        };
        Ok(Self { config: config.clone(), pseudonymiser })
    }
}
