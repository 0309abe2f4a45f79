//! What leaves the device for one read, from the `[privacy]` and `[images]` configuration and
//! the read's [`Disposition`]. Pure.
//!
//! Design: one function, [`release`], decides; the pipeline builds records and images from its
//! answer and the privacy sheet (`report.rs`) is printed from the same answer, so the sheet
//! cannot promise what the code does not do. The decision fails closed: a plate that should be
//! hashed but has no key leaves as nothing, never in clear.
//!
//! What a minimised (hashed or dropped) plate keeps, and why: `confidence` (the mean; says how
//! much to trust counts, says nothing of the plate), `format` and `region` (the country: shared
//! by millions of cars, and what traffic statistics ask for). What it loses: `text` and
//! `ocr_text` (the plate itself), and `char_confidences`, whose length is the plate's length
//! and whose values serve only someone checking a reading against an image of the plate — which
//! a non-hit does not carry.

use super::pseudonym::{Pseudonym, Pseudonymiser};
use super::{Disposition, PlateTreatment, PrivacyConfig};
use crate::hotlist::HotlistMatch;
use crate::imaging::ImageConfig;
use crate::plate::PlateText;
use crate::plate::RegionGuess;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// The plate as it leaves the device: in clear for a hit, minimised for the others as
/// `[privacy]` says (see `privacy::policy` for what each field reveals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedPlate {
    /// The plate as reported (country formats applied), or null when hashed or dropped.
    pub text: Option<String>,
    /// The keyed, rotating hash of the plate when `non_hit_plate = "keyed_hash"`, else null.
    pub pseudonym: Option<Pseudonym>,
    /// What the OCR read before the formats, or null unless the plate is in clear.
    pub ocr_text: Option<String>,
    /// Mean of the per-character probabilities.
    pub confidence: f32,
    /// Per-character probabilities, or null unless the plate is in clear.
    pub char_confidences: Option<Vec<f32>>,
    pub format: Option<String>,
    pub region: Option<RegionGuess>,
}

/// How the overview frame leaves the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OverviewRelease {
    /// Not sent.
    None,
    /// Sent as captured.
    Clear,
    /// Sent with every detected plate (and the windscreen, if configured) blurred.
    Blurred { windscreen: bool },
}

/// Everything that leaves the device for one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Release {
    pub disposition: Disposition,
    pub plate: PlateTreatment,
    /// `ocr_text` and `char_confidences` (only with the plate in clear).
    pub character_detail: bool,
    pub overview: OverviewRelease,
    pub plate_crop: bool,
    /// Context frames from around the best one (a hit's evidence), unblurred like its overview.
    pub context: bool,
}

/// A snapshot asked by the centre (for aiming the camera) is nobody's offence: its frame leaves
/// as a non-hit's overview does, every plate on it blurred, whatever `images.overview` says.
pub fn snapshot(privacy: &PrivacyConfig) -> OverviewRelease {
    OverviewRelease::Blurred { windscreen: privacy.blur.windscreen }
}

pub fn release(privacy: &PrivacyConfig, images: &ImageConfig, disposition: Disposition) -> Release {
    match disposition {
        Disposition::Hit => Release {
            disposition,
            plate: PlateTreatment::Clear,
            character_detail: true,
            overview: if images.overview { OverviewRelease::Clear } else { OverviewRelease::None },
            plate_crop: images.plate_crop,
            context: images.overview && images.context_before + images.context_after > 0,
        },
        Disposition::NonHit | Disposition::Allowed => {
            let plate = privacy.non_hit_plate;
            let non_hit = disposition == Disposition::NonHit;
            Release {
                disposition,
                plate,
                character_detail: plate == PlateTreatment::Clear,
                overview: if non_hit && images.overview {
                    OverviewRelease::Blurred { windscreen: privacy.blur.windscreen }
                } else {
                    OverviewRelease::None
                },
                plate_crop: non_hit
                    && images.plate_crop
                    && privacy.non_hit_plate_crop
                    && plate == PlateTreatment::Clear,
                context: false,
            }
        }
    }
}

/// The plate as it leaves the device under `release`; `at` picks the pseudonym's period.
pub fn publish_plate(
    release: &Release,
    plate: &PlateText,
    pseudonymiser: Option<&Pseudonymiser>,
    at: SystemTime,
) -> PublishedPlate {
    let (text, pseudonym) = match release.plate {
        PlateTreatment::Clear => (Some(plate.text.clone()), None),
        PlateTreatment::KeyedHash => (None, pseudonymiser.map(|p| p.pseudonym(&plate.text, at))),
        PlateTreatment::Drop => (None, None),
    };
    PublishedPlate {
        text,
        pseudonym,
        ocr_text: release.character_detail.then(|| plate.ocr_text.clone()),
        confidence: plate.confidence,
        char_confidences: release.character_detail.then(|| plate.char_confidences.clone()),
        format: plate.format.clone(),
        region: plate.region.clone(),
    }
}

/// The hotlist entry as it leaves the device with `plate`: the listed plate and the listing's
/// note only when the read's own plate leaves in clear, so that an allow-listed or fuzzy-matched
/// non-hit never carries in its match what its plate field withholds.
pub fn publish_match(listed: &HotlistMatch, plate: &PublishedPlate) -> HotlistMatch {
    if plate.text.is_some() {
        return listed.clone();
    }
    HotlistMatch { plate: None, note: None, ..listed.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::KeyedHashConfig;

    fn plate() -> PlateText {
        PlateText {
            text: "1ABC234".into(),
            ocr_text: "1A8C234".into(),
            confidence: 0.9,
            char_confidences: vec![0.9; 7],
            format: Some("BE".into()),
            region: None,
        }
    }

    #[test]
    fn a_hit_keeps_everything_unblurred() {
        let r = release(
            &PrivacyConfig::with_purpose("test"),
            &ImageConfig::default(),
            Disposition::Hit,
        );
        assert_eq!(r.plate, PlateTreatment::Clear);
        assert_eq!(r.overview, OverviewRelease::Clear);
        assert!(r.plate_crop && r.character_detail);
    }

    #[test]
    fn by_default_a_non_hit_has_no_plate_a_blurred_overview_and_no_crop() {
        let config = PrivacyConfig::with_purpose("test");
        let r = release(&config, &ImageConfig::default(), Disposition::NonHit);
        assert_eq!(r.plate, PlateTreatment::Drop);
        assert_eq!(r.overview, OverviewRelease::Blurred { windscreen: false });
        assert!(!r.plate_crop && !r.character_detail);
        let out = publish_plate(&r, &plate(), None, SystemTime::UNIX_EPOCH);
        assert_eq!(
            (out.text, out.pseudonym, out.ocr_text, out.char_confidences),
            (None, None, None, None)
        );
        assert_eq!(out.format.as_deref(), Some("BE"));
    }

    #[test]
    fn an_allowed_read_has_no_image_at_all() {
        let mut config = PrivacyConfig::with_purpose("test");
        config.non_hit_plate = PlateTreatment::Clear;
        config.non_hit_plate_crop = true;
        let r = release(&config, &ImageConfig::default(), Disposition::Allowed);
        assert_eq!((r.overview, r.plate_crop), (OverviewRelease::None, false));
        let non_hit = release(&config, &ImageConfig::default(), Disposition::NonHit);
        assert!(non_hit.plate_crop, "the crop of a non-hit goes only when configured");
    }

    #[test]
    fn a_hashed_plate_carries_only_its_pseudonym_and_fails_closed_without_a_key() {
        let mut config = PrivacyConfig::with_purpose("test");
        config.non_hit_plate = PlateTreatment::KeyedHash;
        let r = release(&config, &ImageConfig::default(), Disposition::NonHit);
        let key = Pseudonymiser::from_secret(&[1u8; 32], &KeyedHashConfig::default());
        let out = publish_plate(&r, &plate(), Some(&key), SystemTime::UNIX_EPOCH);
        assert_eq!(out.text, None);
        assert_eq!(out.ocr_text, None);
        assert_eq!(out.pseudonym, Some(key.pseudonym("1ABC234", SystemTime::UNIX_EPOCH)));
        let json = serde_json::to_string(&out).expect("json");
        assert!(!json.contains("1ABC234") && !json.contains("1A8C234"), "{json}");
        let keyless = publish_plate(&r, &plate(), None, SystemTime::UNIX_EPOCH);
        assert_eq!((keyless.text, keyless.pseudonym), (None, None));
    }

    #[test]
    fn switching_images_off_is_honoured_for_every_disposition() {
        let images = ImageConfig { overview: false, plate_crop: false, ..ImageConfig::default() };
        for d in Disposition::ALL {
            let r = release(&PrivacyConfig::with_purpose("test"), &images, d);
            assert_eq!((r.overview, r.plate_crop), (OverviewRelease::None, false), "{d:?}");
        }
    }
}
