//! `[recognition.ocr]`: which model reads every plate first, and when and how the ensemble
//! reads a doubtful plate again.

use crate::config_issue::{under, ConfigIssue};
use serde::{Deserialize, Serialize};

/// Which OCR file runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OcrModel {
    /// 9 slots, text only.
    V1,
    /// 10 slots and a region head (66 regions, Belgium, the Netherlands and France among them).
    V2,
}

impl OcrModel {
    pub fn manifest_id(self) -> &'static str {
        match self {
            OcrModel::V1 => "ocr-v1",
            OcrModel::V2 => "ocr-v2",
        }
    }
}

/// `[recognition.ocr]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcrConfig {
    /// The model of every plate's first read.
    pub model: OcrModel,
    /// The other reads of a doubtful plate, and how they are decided.
    pub ensemble: EnsembleConfig,
}

impl Default for OcrConfig {
    fn default() -> Self {
        Self { model: OcrModel::V2, ensemble: EnsembleConfig::default() }
    }
}

impl OcrConfig {
    /// What is wrong with `[ocr]`, keys relative to it.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        under("ensemble", self.ensemble.issues()).collect()
    }
}

/// When the ensemble reads a plate more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum EnsembleMode {
    /// One read per plate, by `recognition.ocr.model` on the detected box.
    Off,
    /// The other reads only when the first one is doubtful (below `accept_probability`).
    Cascade,
    /// Every read for every plate (the most CPU).
    Always,
}

/// `[recognition.ocr.ensemble]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnsembleConfig {
    pub mode: EnsembleMode,
    /// The models that read every crop variant once the ensemble runs.
    pub models: Vec<OcrModel>,
    /// Crop variants: the margin added on each side of the detected box, as a fraction of its
    /// width and height (negative trims). 0 is the box as detected.
    pub margins: Vec<f32>,
    /// A first read whose text has at least this probability (the model's, all slots together)
    /// is taken without asking the others.
    pub accept_probability: f32,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        Self {
            mode: EnsembleMode::Cascade,
            models: vec![OcrModel::V2, OcrModel::V1],
            margins: vec![0.0, 0.15],
            accept_probability: 0.95,
        }
    }
}

impl EnsembleConfig {
    /// What is wrong with `[ensemble]`, keys relative to it.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if !(0.0..=1.0).contains(&self.accept_probability) {
            issues.push(ConfigIssue::new(
                "accept_probability",
                format!("{} is outside 0..1", self.accept_probability),
                "give a probability between 0 and 1",
            ));
        }
        if self.mode != EnsembleMode::Off {
            for (key, empty) in
                [("models", self.models.is_empty()), ("margins", self.margins.is_empty())]
            {
                if empty {
                    issues.push(ConfigIssue::new(
                        key,
                        "is empty, so the ensemble has nothing to read with",
                        "list at least one model and one margin (0 is the box as detected), \
                         or set mode = \"off\"",
                    ));
                }
            }
        }
        if let Some(m) = self.margins.iter().find(|m| !(-0.2..=0.5).contains(*m)) {
            issues.push(ConfigIssue::new(
                "margins",
                format!("{m} is outside -0.2..0.5"),
                "give margins as a fraction of the box, e.g. [0.0, 0.08]",
            ));
        }
        issues
    }

    /// Whether a plate whose first read gives its own text `first_probability` needs the others.
    pub fn wants_more(&self, first_probability: f32) -> bool {
        match self.mode {
            EnsembleMode::Off => false,
            EnsembleMode::Cascade => first_probability < self.accept_probability,
            EnsembleMode::Always => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cascade_asks_the_others_only_for_a_doubtful_first_read() {
        let cascade = EnsembleConfig::default();
        assert!(cascade.wants_more(cascade.accept_probability - 0.01));
        assert!(!cascade.wants_more(cascade.accept_probability));
        let off = EnsembleConfig { mode: EnsembleMode::Off, ..EnsembleConfig::default() };
        assert!(!off.wants_more(0.0));
        let always = EnsembleConfig { mode: EnsembleMode::Always, ..EnsembleConfig::default() };
        assert!(always.wants_more(1.0));
    }

    #[test]
    fn mistakes_in_the_section_name_their_key() {
        let bad = EnsembleConfig {
            accept_probability: 1.5,
            margins: vec![0.9],
            ..EnsembleConfig::default()
        };
        let keys: Vec<String> = bad.issues().iter().map(|i| i.key.clone()).collect();
        assert_eq!(keys, vec!["accept_probability", "margins"]);
        let empty =
            EnsembleConfig { models: Vec::new(), margins: Vec::new(), ..EnsembleConfig::default() };
        let keys: Vec<String> = empty.issues().iter().map(|i| i.key.clone()).collect();
        assert_eq!(keys, vec!["models", "margins"]);
        let off = EnsembleConfig { mode: EnsembleMode::Off, ..empty };
        assert!(off.issues().is_empty(), "one read needs neither");
        assert!(EnsembleConfig::default().issues().is_empty());
    }
}
