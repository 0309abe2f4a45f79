//! Plate text normalisation and country-format awareness.
//!
//! An OCR model reads characters one slot at a time and cannot know that a Belgian plate never
//! has a letter in its last three places. The country formats (data in `formats.toml`) settle
//! the characters that plate fonts make look alike (O/0, I/1, B/8, S/5, Z/2, …) by position,
//! using the model's own probability for the alternative, and the region head's guess decides
//! which countries are plausible. Pure: no model, no I/O.

mod pattern;

use crate::ocr::OcrReading;
use pattern::{expand, Class, PatternError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The formats shipped with this build.
pub const BUNDLED_FORMATS: &str = include_str!("formats.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatsFile {
    confusable: ConfusableFile,
    country: Vec<CountryFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfusableFile {
    letter_to_digit: BTreeMap<char, String>,
    digit_to_letter: BTreeMap<char, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountryFile {
    code: String,
    region: String,
    patterns: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FormatsError {
    #[error("plate formats: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("plate formats, country {country}: {source}")]
    Pattern { country: String, source: PatternError },
}

struct Country {
    code: String,
    region: String,
    /// Every concrete class sequence the country's patterns allow.
    sequences: Vec<Vec<Class>>,
}

/// When the formats may change what the model read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FormatConfig {
    /// Prior probability that a correct plate text follows none of the listed formats of its
    /// country (personalised, diplomatic, trade plates): the weight of keeping a read as it is.
    pub unlisted_format_probability: f32,
    /// The least probability the model must give a confusable character before it may replace
    /// the one it read: a format may settle a doubt, not overrule a certainty.
    pub min_swap_probability: f32,
}

impl Default for FormatConfig {
    fn default() -> Self {
        Self { unlisted_format_probability: 0.01, min_swap_probability: 0.001 }
    }
}

pub struct PlateFormats {
    countries: Vec<Country>,
    letter_to_digit: BTreeMap<char, String>,
    digit_to_letter: BTreeMap<char, String>,
    config: FormatConfig,
}

/// The text a reading settles on.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub text: String,
    pub char_confidences: Vec<f32>,
    /// Country code of the format the text follows, if any.
    pub format: Option<String>,
}

/// Upper case, letters and digits only: spaces, dashes and dots are not part of a plate's
/// identity (`1-ABC-234` and `1 ABC 234` are one plate).
pub fn normalise(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

impl PlateFormats {
    pub fn bundled(config: FormatConfig) -> Result<Self, FormatsError> {
        Self::parse(BUNDLED_FORMATS, config)
    }

    pub fn parse(toml_text: &str, config: FormatConfig) -> Result<Self, FormatsError> {
        let file: FormatsFile = toml::from_str(toml_text)?;
        let mut countries = Vec::new();
        for c in file.country {
            let mut sequences = Vec::new();
            for p in &c.patterns {
                let expanded = expand(p)
                    .map_err(|source| FormatsError::Pattern { country: c.code.clone(), source })?;
                for s in expanded {
                    if !sequences.contains(&s) {
                        sequences.push(s);
                    }
                }
            }
            countries.push(Country { code: c.code, region: c.region, sequences });
        }
        Ok(Self {
            countries,
            letter_to_digit: file.confusable.letter_to_digit,
            digit_to_letter: file.confusable.digit_to_letter,
            config,
        })
    }

    /// Settles `reading`'s text against the country formats (`region_names` are the region
    /// head's classes; empty when the model has none).
    ///
    /// Design: each way of making the text follow a format by swapping confusable characters is
    /// a hypothesis scored with the model's own numbers, log P(characters) + log P(country), where
    /// the region head gives P(country). Keeping the text as read is one more hypothesis, weighted
    /// by the chance that the plate is from a country without listed formats or follows none of
    /// its country's listed formats. A text that already follows a format is kept. So a format
    /// settles a doubt the model had (O at 0.6, 0 at 0.4 where only digits stand) and never
    /// forces a foreign plate into a format it does not have.
    pub fn resolve(
        &self,
        reading: &OcrReading,
        alphabet: &crate::ocr::decode::Alphabet,
        region_names: &[String],
    ) -> Resolved {
        let as_read = Resolved {
            text: reading.text.clone(),
            char_confidences: reading.char_confidences.clone(),
            format: None,
        };
        let chars: Vec<char> = reading.text.chars().collect();
        let (priors, keep_prior) = self.priors(&reading.region_distribution, region_names);
        let conforming = priors
            .iter()
            .filter(|(c, _)| c.sequences.iter().any(|s| follows(&chars, s)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((country, _)) = conforming {
            return Resolved { format: Some(country.code.clone()), ..as_read };
        }

        let log = |p: f32| p.max(1e-12).ln();
        let keep_score =
            reading.char_confidences.iter().map(|&p| log(p)).sum::<f32>() + log(keep_prior);
        let mut best: Option<(f32, Resolved)> = None;
        for (country, prior) in &priors {
            for sequence in country.sequences.iter().filter(|s| s.len() == chars.len()) {
                if let Some((text, confidences)) =
                    self.swap_into(&chars, sequence, reading, alphabet)
                {
                    let score = confidences.iter().map(|&p| log(p)).sum::<f32>() + log(*prior);
                    if score > keep_score && best.as_ref().is_none_or(|(s, _)| score > *s) {
                        best = Some((
                            score,
                            Resolved {
                                text,
                                char_confidences: confidences,
                                format: Some(country.code.clone()),
                            },
                        ));
                    }
                }
            }
        }
        best.map(|(_, r)| r).unwrap_or(as_read)
    }

    /// Each country with the region head's belief in it (1 for all without a head), and the
    /// weight of a text that follows none of them: the mass on countries without listed formats
    /// plus, for the listed ones, the chance of an unlisted format.
    fn priors(
        &self,
        region_distribution: &[f32],
        region_names: &[String],
    ) -> (Vec<(&Country, f32)>, f32) {
        let has_region_head =
            !region_names.is_empty() && region_distribution.len() == region_names.len();
        let priors: Vec<(&Country, f32)> = self
            .countries
            .iter()
            .map(|c| {
                let prior = if has_region_head {
                    region_probability(&c.region, region_distribution, region_names)
                } else {
                    1.0
                };
                (c, prior)
            })
            .collect();
        let unlisted = self.config.unlisted_format_probability;
        let keep_prior = if has_region_head {
            let covered: f32 = priors.iter().map(|(_, p)| p).sum::<f32>().min(1.0);
            (1.0 - covered) + covered * unlisted
        } else {
            unlisted
        };
        (priors, keep_prior)
    }

    /// How plausible `text` is as a plate before any OCR evidence, from its shape alone: the
    /// weight of following no listed format, plus the belief in the likeliest country whose
    /// listed format it follows. The ensemble weighs competing reads of one plate by it.
    pub fn prior(&self, text: &str, region_distribution: &[f32], region_names: &[String]) -> f32 {
        let chars: Vec<char> = text.chars().collect();
        let (priors, keep_prior) = self.priors(region_distribution, region_names);
        let fitting = priors
            .iter()
            .filter(|(c, _)| c.sequences.iter().any(|s| follows(&chars, s)))
            .map(|(_, p)| *p)
            .fold(0.0, f32::max);
        (keep_prior + fitting * (1.0 - self.config.unlisted_format_probability)).min(1.0)
    }

    /// The codes of every country whose listed formats `text` follows, in file order (several
    /// countries share a shape: `BA123AB` is Slovak, French and Italian alike).
    pub fn countries_of(&self, text: &str) -> Vec<&str> {
        let chars: Vec<char> = text.chars().collect();
        self.countries
            .iter()
            .filter(|c| c.sequences.iter().any(|s| follows(&chars, s)))
            .map(|c| c.code.as_str())
            .collect()
    }

    /// `chars` made to follow `sequence` by replacing each out-of-class character with its most
    /// probable confusable of the right class; `None` if some character has no such confusable.
    fn swap_into(
        &self,
        chars: &[char],
        sequence: &[Class],
        reading: &OcrReading,
        alphabet: &crate::ocr::decode::Alphabet,
    ) -> Option<(String, Vec<f32>)> {
        let mut text = String::with_capacity(chars.len());
        let mut confidences = Vec::with_capacity(chars.len());
        for (i, (&c, class)) in chars.iter().zip(sequence).enumerate() {
            if class.admits(c) {
                text.push(c);
                confidences.push(reading.char_confidences[i]);
                continue;
            }
            let alternatives = if c.is_ascii_digit() {
                self.digit_to_letter.get(&c)
            } else {
                self.letter_to_digit.get(&c)
            }?;
            let distribution = &reading.char_distributions[i];
            let (swapped, p) = alternatives
                .chars()
                .filter_map(|a| Some((a, *distribution.get(alphabet.index_of(a)?)?)))
                .filter(|(_, p)| *p >= self.config.min_swap_probability)
                .max_by(|a, b| a.1.total_cmp(&b.1))?;
            text.push(swapped);
            confidences.push(p);
        }
        Some((text, confidences))
    }
}

fn follows(chars: &[char], sequence: &[Class]) -> bool {
    chars.len() == sequence.len() && chars.iter().zip(sequence).all(|(&c, class)| class.admits(c))
}

/// The region head's probability for `region`; 0 for a region the head does not know.
fn region_probability(region: &str, distribution: &[f32], names: &[String]) -> f32 {
    names.iter().position(|n| n == region).and_then(|i| distribution.get(i)).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::decode::Alphabet;

    const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_";

    fn alphabet() -> Alphabet {
        Alphabet::new(ALPHABET, '_').expect("alphabet")
    }

    /// A reading of `text` where each character has probability `p`, and `alternatives` gives
    /// some slots a second candidate: (position, char, probability).
    fn reading(
        text: &str,
        p: f32,
        alternatives: &[(usize, char, f32)],
        region: &[(&str, f32)],
        names: &[String],
    ) -> OcrReading {
        let a = alphabet();
        let mut distributions: Vec<Vec<f32>> = text
            .chars()
            .map(|c| {
                let mut d = vec![0.0; a.len()];
                d[a.index_of(c).expect("char")] = p;
                d
            })
            .collect();
        for &(i, c, q) in alternatives {
            distributions[i][a.index_of(c).expect("char")] = q;
        }
        let mut region_distribution = vec![0.0; names.len()];
        for (name, q) in region {
            region_distribution[names.iter().position(|n| n == name).expect("region")] = *q;
        }
        OcrReading {
            text: text.into(),
            char_confidences: vec![p; text.len()],
            char_distributions: distributions,
            region_distribution,
            slots: Vec::new(),
        }
    }

    fn names() -> Vec<String> {
        [
            "Belgium",
            "Netherlands",
            "France",
            "Germany",
            "Luxembourg",
            "Slovakia",
            "Czech Republic",
            "Italy",
            "Spain",
            "United Kingdom",
            "Poland",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn formats() -> PlateFormats {
        PlateFormats::bundled(FormatConfig::default()).expect("bundled formats")
    }

    #[test]
    fn a_conforming_read_is_kept_and_its_format_named() {
        let r = reading("1ABC234", 0.9, &[], &[("Belgium", 0.9)], &names());
        let out = formats().resolve(&r, &alphabet(), &names());
        assert_eq!(out.text, "1ABC234");
        assert_eq!(out.format.as_deref(), Some("BE"));
    }

    #[test]
    fn a_letter_o_where_a_digit_belongs_becomes_zero() {
        // Belgian 1-ABC-2O4: the O sits where the format wants a digit.
        let r = reading("1ABC2O4", 0.9, &[(5, '0', 0.08)], &[("Belgium", 0.99)], &names());
        let out = formats().resolve(&r, &alphabet(), &names());
        assert_eq!(out.text, "1ABC204");
        assert_eq!(out.format.as_deref(), Some("BE"));
        assert!(
            (out.char_confidences[5] - 0.08).abs() < 1e-6,
            "the swapped character carries the model's own probability"
        );
    }

    #[test]
    fn a_digit_where_a_letter_belongs_becomes_the_letter() {
        // Slovak BA-123AB read with an 8 for the last B.
        let r = reading("BA123A8", 0.9, &[(6, 'B', 0.05)], &[("Slovakia", 0.99)], &names());
        let out = formats().resolve(&r, &alphabet(), &names());
        assert_eq!(out.text, "BA123AB");
        assert_eq!(out.format.as_deref(), Some("SK"));
    }

    #[test]
    fn the_most_probable_confusable_wins() {
        // a T where a Belgian plate has a digit: T can pass for 1 or 7, and the model gives 7 more
        let r = reading(
            "1ABCT34",
            0.9,
            &[(4, '1', 0.02), (4, '7', 0.06)],
            &[("Belgium", 0.99)],
            &names(),
        );
        let out = formats().resolve(&r, &alphabet(), &names());
        assert_eq!(out.text, "1ABC734");
    }

    #[test]
    fn a_character_with_no_confusable_of_the_right_class_blocks_the_format() {
        // X has no digit look-alike, so 1-ABC-X34 cannot be made Belgian.
        let r = reading("1ABCX34", 0.9, &[], &[("Belgium", 0.9)], &names());
        let out = formats().resolve(&r, &alphabet(), &names());
        assert_eq!(out.text, "1ABCX34");
        assert_eq!(out.format, None);
    }

    #[test]
    fn a_plate_of_an_unknown_format_is_left_as_read() {
        let r = reading(
            "WX12345",
            0.9,
            &[(2, 'T', 0.01)],
            &[("Poland", 0.9), ("Germany", 0.06)],
            &names(),
        );
        let out = formats().resolve(&r, &alphabet(), &names());
        assert_eq!(out.text, "WX12345");
        assert_eq!(out.format, None);
    }

    #[test]
    fn formats_of_implausible_countries_are_not_applied() {
        // Reads like a Belgian plate with an O, but the region head is sure it is Polish.
        let r = reading(
            "1ABC2O4",
            0.9,
            &[(5, '0', 0.08)],
            &[("Poland", 0.97), ("Belgium", 0.01)],
            &names(),
        );
        let out = formats().resolve(&r, &alphabet(), &names());
        assert_eq!(out.text, "1ABC2O4");
        assert_eq!(out.format, None);
    }

    #[test]
    fn a_confusable_the_model_all_but_excluded_is_not_swapped_in() {
        let r = reading("1ABC2O4", 0.9, &[(5, '0', 0.0001)], &[("Belgium", 0.99)], &names());
        let out = formats().resolve(&r, &alphabet(), &names());
        assert_eq!(out.text, "1ABC2O4");
    }

    #[test]
    fn a_doubtful_region_keeps_a_confident_read() {
        // Half the region mass is on countries without listed formats: a 0.9 O is not overruled
        // by a 0.08 zero.
        let r = reading("1ABC2O4", 0.9, &[(5, '0', 0.08)], &[("Belgium", 0.5)], &names());
        let out = formats().resolve(&r, &alphabet(), &names());
        assert_eq!(out.text, "1ABC2O4");
    }

    #[test]
    fn without_a_region_head_every_country_is_plausible() {
        let r = reading("1ABC2O4", 0.9, &[(5, '0', 0.08)], &[], &[]);
        let out = formats().resolve(&r, &alphabet(), &[]);
        assert_eq!(out.text, "1ABC204");
    }

    #[test]
    fn a_text_fitting_a_believed_country_is_more_plausible_than_one_fitting_none() {
        let f = formats();
        let mut region = vec![0.0; names().len()];
        region[names().iter().position(|n| n == "Slovakia").expect("region")] = 0.9;
        let fitting = f.prior("BA123AB", &region, &names());
        let unfitting = f.prior("BA123A8", &region, &names());
        assert!(fitting > 5.0 * unfitting, "{fitting} vs {unfitting}");
        assert!(fitting <= 1.0);
        // without a region head, every listed country is plausible
        assert!(f.prior("BA123AB", &[], &[]) > 0.9);
        assert!((f.prior("BA123A8", &[], &[]) - 0.01).abs() < 1e-6);
    }

    #[test]
    fn a_plate_shape_names_every_country_that_has_it() {
        let f = formats();
        assert_eq!(f.countries_of("1ABC234"), vec!["BE"]);
        assert!(f.countries_of("BA123AB").contains(&"SK"));
        assert_eq!(f.countries_of("ABC1234"), vec!["DE", "SK", "CZ"]);
        assert!(f.countries_of("ABC").is_empty());
    }

    #[test]
    fn normalise_strips_separators_and_upper_cases() {
        assert_eq!(normalise("1-abc 234"), "1ABC234");
        assert_eq!(normalise(" BA·123.AB "), "BA123AB");
    }

    #[test]
    fn a_bad_pattern_is_an_error_naming_the_country() {
        let text = "[confusable]\nletter_to_digit = {}\ndigit_to_letter = {}\n[[country]]\ncode = \"XX\"\nregion = \"X\"\npatterns = [\"LQ\"]\n";
        let e =
            PlateFormats::parse(text, FormatConfig::default()).err().expect("error").to_string();
        assert!(e.contains("XX"), "{e}");
    }
}
