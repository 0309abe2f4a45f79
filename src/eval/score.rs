//! Scoring reads against ground truth. Pure.
//!
//! Definitions (also in docs/accuracy-and-speed.md):
//! - a truth plate is *read exactly* when any read of its image has the same text, letter O and
//!   digit 0 counted as equal (the reference annotations mix them);
//! - a truth plate is *detected* when a detection (read or unread) has IoU ≥ 0.5 with its box;
//! - *character accuracy* is Σ (n − edit distance) / Σ n over truth plates, n = the longer of
//!   truth and read, comparing each plate with the read of its best-overlapping detection
//!   (an undetected plate scores 0 of its length);
//! - confusions count truth→read character pairs at equal positions of same-length texts;
//! - a plate's *country* is that of the listed formats its true text follows (several when
//!   countries share a shape, none for a plate of an unlisted country such as the US).

use super::ground_truth::TruthPlate;
use crate::geometry::BoundingBox;
use crate::plate::{edit_distance, fold};
use crate::plate_format::PlateFormats;
use serde::Serialize;
use std::collections::BTreeMap;

pub const MIN_IOU: f32 = 0.5;

/// What the unit made of one image.
#[derive(Debug, Clone)]
pub struct ImageOutcome {
    pub image: String,
    pub truths: Vec<TruthPlate>,
    /// (text, box) of each read.
    pub reads: Vec<(String, BoundingBox)>,
    /// Boxes detected but not read.
    pub unread: Vec<BoundingBox>,
    /// End-to-end time for the image (decode, detect, read), ms; `None` if it failed.
    pub ms: Option<f64>,
    /// The OCR stage's share of it (every read of every plate, the ensemble's too), ms.
    pub ocr_ms: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Miss {
    pub image: String,
    pub truth: String,
    pub truth_box: BoundingBox,
    pub reads: Vec<String>,
    pub detected: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Confusion {
    pub truth: char,
    pub read: char,
    pub count: usize,
}

/// Exact accuracy on the plates whose true text follows one country's formats.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CountryScore {
    /// Country codes joined by `/` when countries share the shape; empty for no listed format.
    pub country: String,
    pub plates: usize,
    pub exact: f64,
}

/// The label of plates that follow no listed format.
pub const NO_FORMAT: &str = "";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvalSummary {
    pub images: usize,
    pub failed_images: usize,
    pub plates: usize,
    pub exact: f64,
    pub char_accuracy: f64,
    pub det_recall: f64,
    /// Reads whose box overlaps no truth plate: reads of things that are not annotated plates.
    pub extra_reads: usize,
    pub ms_median: f64,
    pub ms_p95: f64,
    /// The OCR stage alone: what the ensemble's further reads cost shows here.
    pub ocr_ms_median: f64,
    pub ocr_ms_p95: f64,
    pub confusions: Vec<Confusion>,
    pub misses: Vec<Miss>,
    /// Per country of the truth's format, most plates first.
    pub countries: Vec<CountryScore>,
}

/// The `q`-quantile (0..1) of `values` by nearest rank; 0 for none.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn best_overlap<'a, T>(
    truth: &BoundingBox,
    candidates: impl Iterator<Item = (&'a BoundingBox, T)>,
) -> Option<T> {
    candidates
        .map(|(b, t)| (truth.iou(b), t))
        .filter(|(iou, _)| *iou >= MIN_IOU)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, t)| t)
}

pub fn score(outcomes: &[ImageOutcome], formats: &PlateFormats) -> EvalSummary {
    let mut countries: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut plates = 0;
    let mut exact = 0;
    let mut detected = 0;
    let (mut chars_right, mut chars_total) = (0usize, 0usize);
    let mut extra_reads = 0;
    let mut confusions: BTreeMap<(char, char), usize> = BTreeMap::new();
    let mut misses = Vec::new();
    for outcome in outcomes {
        for truth in &outcome.truths {
            plates += 1;
            let truth_text = fold(&truth.text);
            let read_exactly = outcome.reads.iter().any(|(text, _)| fold(text) == truth_text);
            let overlapping_read =
                best_overlap(&truth.bbox, outcome.reads.iter().map(|(t, b)| (b, t.as_str())));
            let was_detected = overlapping_read.is_some()
                || best_overlap(&truth.bbox, outcome.unread.iter().map(|b| (b, ()))).is_some();
            exact += usize::from(read_exactly);
            let country = countries.entry(formats.countries_of(&truth.text).join("/")).or_default();
            country.0 += 1;
            country.1 += usize::from(read_exactly);
            detected += usize::from(was_detected);
            match overlapping_read {
                Some(read) => {
                    let read = fold(read);
                    let n = truth_text.chars().count().max(read.chars().count());
                    chars_right += n.saturating_sub(edit_distance(&truth_text, &read));
                    chars_total += n;
                    if read.chars().count() == truth_text.chars().count() {
                        for (t, r) in truth_text.chars().zip(read.chars()).filter(|(t, r)| t != r) {
                            *confusions.entry((t, r)).or_default() += 1;
                        }
                    }
                }
                None => chars_total += truth_text.chars().count(),
            }
            if !read_exactly {
                misses.push(Miss {
                    image: outcome.image.clone(),
                    truth: truth.text.clone(),
                    truth_box: truth.bbox,
                    reads: outcome.reads.iter().map(|(t, _)| t.clone()).collect(),
                    detected: was_detected,
                });
            }
        }
        extra_reads += outcome
            .reads
            .iter()
            .filter(|(_, b)| outcome.truths.iter().all(|t| t.bbox.iou(b) < MIN_IOU))
            .count();
    }
    let mut confusions: Vec<Confusion> = confusions
        .into_iter()
        .map(|((truth, read), count)| Confusion { truth, read, count })
        .collect();
    confusions.sort_by(|a, b| b.count.cmp(&a.count).then(a.truth.cmp(&b.truth)));
    let times: Vec<f64> = outcomes.iter().filter_map(|o| o.ms).collect();
    let ocr_times: Vec<f64> = outcomes.iter().filter_map(|o| o.ocr_ms).collect();
    let fraction = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let mut countries: Vec<CountryScore> = countries
        .into_iter()
        .map(|(country, (n, right))| CountryScore { country, plates: n, exact: fraction(right, n) })
        .collect();
    countries.sort_by(|a, b| b.plates.cmp(&a.plates).then(a.country.cmp(&b.country)));
    EvalSummary {
        images: outcomes.len(),
        failed_images: outcomes.iter().filter(|o| o.error.is_some()).count(),
        plates,
        exact: fraction(exact, plates),
        char_accuracy: fraction(chars_right, chars_total),
        det_recall: fraction(detected, plates),
        extra_reads,
        ms_median: quantile(&times, 0.5),
        ms_p95: quantile(&times, 0.95),
        ocr_ms_median: quantile(&ocr_times, 0.5),
        ocr_ms_p95: quantile(&ocr_times, 0.95),
        confusions,
        misses,
        countries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plate_format::FormatConfig;

    fn score(outcomes: &[ImageOutcome]) -> EvalSummary {
        super::score(outcomes, &PlateFormats::bundled(FormatConfig::default()).expect("formats"))
    }

    fn truth(text: &str, x: f32) -> TruthPlate {
        TruthPlate { bbox: BoundingBox::from_xywh(x, 0.0, 100.0, 20.0), text: text.into() }
    }

    fn outcome(
        truths: Vec<TruthPlate>,
        reads: &[(&str, f32)],
        unread: &[f32],
        ms: f64,
    ) -> ImageOutcome {
        ImageOutcome {
            image: "i.jpg".into(),
            truths,
            reads: reads
                .iter()
                .map(|(t, x)| (t.to_string(), BoundingBox::from_xywh(*x, 0.0, 100.0, 20.0)))
                .collect(),
            unread: unread.iter().map(|x| BoundingBox::from_xywh(*x, 0.0, 100.0, 20.0)).collect(),
            ms: Some(ms),
            ocr_ms: Some(ms / 4.0),
            error: None,
        }
    }

    #[test]
    fn letter_o_and_digit_zero_score_as_equal() {
        let s = score(&[outcome(vec![truth("BA1O0AB", 0.0)], &[("BA100AB", 0.0)], &[], 10.0)]);
        assert_eq!(s.exact, 1.0);
        assert_eq!(s.char_accuracy, 1.0);
        assert!(s.misses.is_empty());
    }

    #[test]
    fn a_wrong_character_counts_in_accuracy_and_confusions() {
        let s = score(&[outcome(vec![truth("BA123AB", 0.0)], &[("BA128AB", 0.0)], &[], 10.0)]);
        assert_eq!(s.exact, 0.0);
        assert!((s.char_accuracy - 6.0 / 7.0).abs() < 1e-9);
        assert_eq!(s.det_recall, 1.0);
        assert_eq!(s.confusions, vec![Confusion { truth: '3', read: '8', count: 1 }]);
        assert_eq!(s.misses[0].reads, vec!["BA128AB".to_string()]);
    }

    #[test]
    fn a_missing_character_costs_one_not_the_rest_of_the_plate() {
        let s = score(&[outcome(vec![truth("BA123AB", 0.0)], &[("BA12AB", 0.0)], &[], 10.0)]);
        assert!((s.char_accuracy - 6.0 / 7.0).abs() < 1e-9);
        assert!(s.confusions.is_empty(), "different lengths give no positional confusions");
    }

    #[test]
    fn undetected_plates_lower_recall_and_score_zero_characters() {
        let s = score(&[outcome(
            vec![truth("AAA111", 0.0), truth("BBB222", 500.0)],
            &[("AAA111", 0.0)],
            &[],
            10.0,
        )]);
        assert_eq!(s.plates, 2);
        assert_eq!(s.exact, 0.5);
        assert_eq!(s.det_recall, 0.5);
        assert!((s.char_accuracy - 0.5).abs() < 1e-9);
        assert!(!s.misses[0].detected);
    }

    #[test]
    fn an_unread_detection_still_counts_as_detected() {
        let s = score(&[outcome(vec![truth("AAA111", 0.0)], &[], &[0.0], 10.0)]);
        assert_eq!(s.det_recall, 1.0);
        assert_eq!(s.exact, 0.0);
    }

    #[test]
    fn reads_away_from_every_truth_are_extra() {
        let s = score(&[outcome(
            vec![truth("AAA111", 0.0)],
            &[("AAA111", 0.0), ("ZZZ999", 900.0)],
            &[],
            10.0,
        )]);
        assert_eq!(s.extra_reads, 1);
        assert_eq!(s.exact, 1.0);
    }

    #[test]
    fn accuracy_is_given_per_country_of_the_true_format() {
        let s = score(&[
            outcome(vec![truth("1ABC234", 0.0)], &[("1ABC234", 0.0)], &[], 10.0),
            outcome(vec![truth("1ABC235", 0.0)], &[("1ABC2E5", 0.0)], &[], 10.0),
            outcome(vec![truth("7XYZ1", 0.0)], &[("7XYZ1", 0.0)], &[], 10.0),
        ]);
        assert_eq!(
            s.countries,
            vec![
                CountryScore { country: "BE".into(), plates: 2, exact: 0.5 },
                CountryScore { country: NO_FORMAT.into(), plates: 1, exact: 1.0 },
            ]
        );
    }

    #[test]
    fn the_ocr_stage_is_timed_on_its_own() {
        let s = score(&[
            outcome(vec![truth("AAA111", 0.0)], &[("AAA111", 0.0)], &[], 40.0),
            outcome(vec![truth("AAA111", 0.0)], &[("AAA111", 0.0)], &[], 80.0),
        ]);
        assert_eq!((s.ms_median, s.ocr_ms_median, s.ocr_ms_p95), (40.0, 10.0, 20.0));
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.95), 95.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
        assert_eq!(quantile(&[7.0], 0.95), 7.0);
    }
}
