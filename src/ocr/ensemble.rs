//! The OCR ensemble's decision: several reads of one plate (both models, a few crops of the
//! detected box) become one read. Pure: readings in, a winner out.
//!
//! Every read proposes its text (as the country formats settled it) as a hypothesis. Each
//! hypothesis is scored by the evidence of *all* reads: the mean over the reads of the
//! probability each one gives that exact text (its slot probabilities of the characters, and of
//! padding after them), times the formats' prior for the text's shape. So a text two reads agree
//! on beats one a single read is a little surer of, a model that is unsure of a character lends
//! its second choice, and a shape no country has needs more evidence than one a believed country
//! has. A cascade keeps the cost down: the other reads are only made for a plate whose first
//! read is doubtful.

use super::decode::{Alphabet, OcrReading};

/// A text some read proposed, with the formats' prior for its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    pub text: String,
    pub prior: f32,
}

/// The hypothesis the reads agree on best.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    /// Index into the hypotheses.
    pub winner: usize,
    /// The winner's share of the evidence over all hypotheses (0..1).
    pub posterior: f32,
    /// For each character of the winner, the mean probability the reads give it.
    pub char_confidences: Vec<f32>,
}

/// Where each character of a `len`-character text sits in `reading`'s slots: where the reading
/// put its own characters when the lengths agree (a model may pad between them), else from the
/// first slot on.
fn positions(reading: &OcrReading, pad: usize, len: usize) -> Vec<usize> {
    let own: Vec<usize> = reading
        .slots
        .iter()
        .enumerate()
        .filter(|(_, slot)| super::decode::argmax(slot).0 != pad)
        .map(|(i, _)| i)
        .collect();
    if own.len() == len {
        own
    } else {
        (0..len).collect()
    }
}

/// The probability `reading` gives `text`: its characters at their slots and padding in every
/// other slot. 0 when the text does not fit the slots or holds a character outside the alphabet.
pub fn likelihood(reading: &OcrReading, text: &str, alphabet: &Alphabet) -> f32 {
    let Some(pad) = alphabet.pad_index() else { return 0.0 };
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > reading.slots.len() {
        return 0.0;
    }
    let at = positions(reading, pad, chars.len());
    let mut p = 1.0;
    let mut next = 0;
    for (i, slot) in reading.slots.iter().enumerate() {
        let wanted = if at.get(next) == Some(&i) {
            next += 1;
            alphabet.index_of(chars[next - 1])
        } else {
            Some(pad)
        };
        p *= wanted.and_then(|w| slot.get(w)).copied().unwrap_or(0.0);
    }
    p
}

/// The probability each read gives each character of `text`, averaged over the reads.
fn char_confidences(readings: &[&OcrReading], text: &str, alphabet: &Alphabet) -> Vec<f32> {
    let Some(pad) = alphabet.pad_index() else { return Vec::new() };
    let chars: Vec<char> = text.chars().collect();
    let mut sums = vec![0.0; chars.len()];
    for reading in readings {
        for (k, &slot) in positions(reading, pad, chars.len()).iter().enumerate() {
            sums[k] += reading
                .slots
                .get(slot)
                .zip(alphabet.index_of(chars[k]))
                .and_then(|(s, c)| s.get(c))
                .copied()
                .unwrap_or(0.0);
        }
    }
    sums.iter().map(|s| s / readings.len().max(1) as f32).collect()
}

/// The hypothesis with the most evidence over all `readings`, weighted by its prior; `None`
/// without readings or hypotheses.
pub fn vote(
    readings: &[&OcrReading],
    hypotheses: &[Hypothesis],
    alphabet: &Alphabet,
) -> Option<Vote> {
    if readings.is_empty() || hypotheses.is_empty() {
        return None;
    }
    let scores: Vec<f32> = hypotheses
        .iter()
        .map(|h| {
            let evidence: f32 = readings.iter().map(|r| likelihood(r, &h.text, alphabet)).sum();
            h.prior * evidence / readings.len() as f32
        })
        .collect();
    let (winner, best) = super::decode::argmax(&scores);
    let total: f32 = scores.iter().sum();
    Some(Vote {
        winner,
        posterior: if total > 0.0 { best / total } else { 0.0 },
        char_confidences: char_confidences(readings, &hypotheses[winner].text, alphabet),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alphabet() -> Alphabet {
        Alphabet::new("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_", '_').expect("alphabet")
    }

    /// A reading over `slots` slots where slot i gives `p` to `text[i]` (padding after the
    /// text) and `alternatives` move some of that mass to another character: (slot, char, q).
    fn reading(
        text: &str,
        slots: usize,
        p: f32,
        alternatives: &[(usize, char, f32)],
    ) -> OcrReading {
        let a = alphabet();
        let n = a.len();
        let mut all = vec![0.0; slots * n];
        for (i, c) in text.chars().chain(std::iter::repeat('_')).take(slots).enumerate() {
            for v in &mut all[i * n..(i + 1) * n] {
                *v = (1.0 - p) / (n - 1) as f32;
            }
            all[i * n + a.index_of(c).expect("char")] = p;
        }
        for &(i, c, q) in alternatives {
            let top = a.decode(&all[i * n..(i + 1) * n]).text;
            let top = top
                .chars()
                .next()
                .map_or(a.pad_index().expect("pad"), |t| a.index_of(t).expect("char"));
            all[i * n + top] -= q;
            all[i * n + a.index_of(c).expect("char")] += q;
        }
        a.decode(&all)
    }

    fn hypotheses(texts: &[(&str, f32)]) -> Vec<Hypothesis> {
        texts.iter().map(|(t, p)| Hypothesis { text: t.to_string(), prior: *p }).collect()
    }

    #[test]
    fn the_likelihood_of_a_reads_own_text_is_the_product_of_its_slots() {
        let r = reading("AB12", 6, 0.9, &[]);
        let p = likelihood(&r, "AB12", &alphabet());
        assert!((p - 0.9f32.powi(6)).abs() < 1e-5, "{p}");
        assert!(likelihood(&r, "AB13", &alphabet()) < 0.01);
        assert_eq!(likelihood(&r, "AB1234567", &alphabet()), 0.0, "longer than the slots");
    }

    #[test]
    fn two_reads_that_agree_outvote_one_that_does_not() {
        let a = alphabet();
        let v2 = reading("7ABC123", 10, 0.95, &[]);
        let v1 = reading("7ABC128", 9, 0.9, &[]);
        let crop = reading("7ABC128", 10, 0.9, &[]);
        let h = hypotheses(&[("7ABC123", 1.0), ("7ABC128", 1.0)]);
        let vote = vote(&[&v2, &v1, &crop], &h, &a).expect("vote");
        assert_eq!(vote.winner, 1);
        assert!(vote.posterior > 0.5 && vote.posterior <= 1.0);
        assert_eq!(vote.char_confidences.len(), 7);
        assert!(vote.char_confidences[6] < 0.9, "the dissenting read lowers the last character");
    }

    #[test]
    fn one_sure_read_outweighs_two_that_hesitate() {
        // evidence, not a head count: two reads that give the 8 barely more than the 3 lose to
        // one that is sure of the 3
        let a = alphabet();
        let sure = reading("7ABC123", 10, 0.95, &[]);
        let hesitant = reading("7ABC128", 9, 0.9, &[(6, '3', 0.4)]);
        let crop = reading("7ABC128", 10, 0.9, &[(6, '3', 0.4)]);
        let h = hypotheses(&[("7ABC123", 1.0), ("7ABC128", 1.0)]);
        assert_eq!(vote(&[&sure, &hesitant, &crop], &h, &a).expect("vote").winner, 0);
    }

    #[test]
    fn a_read_unsure_of_a_character_lends_its_second_choice() {
        let a = alphabet();
        // the first read's 8 is barely ahead of a 3; the second read is sure of the 3
        let first = reading("7ABC128", 10, 0.95, &[(6, '3', 0.45)]);
        let second = reading("7ABC123", 9, 0.95, &[]);
        let h = hypotheses(&[("7ABC128", 1.0), ("7ABC123", 1.0)]);
        assert_eq!(vote(&[&first, &second], &h, &a).expect("vote").winner, 1);
    }

    #[test]
    fn the_prior_of_a_known_shape_settles_an_even_split() {
        let a = alphabet();
        let first = reading("BA123AB", 10, 0.9, &[(6, '8', 0.3)]);
        let second = reading("BA123A8", 10, 0.9, &[(6, 'B', 0.3)]);
        let h = hypotheses(&[("BA123A8", 0.1), ("BA123AB", 0.9)]);
        assert_eq!(vote(&[&second, &first], &h, &a).expect("vote").winner, 1);
    }

    #[test]
    fn a_read_with_padding_between_characters_still_supports_its_text() {
        let a = alphabet();
        let gap = reading("AB_12", 8, 0.9, &[]);
        assert_eq!(gap.text, "AB12");
        assert!(likelihood(&gap, "AB12", &a) > 0.3);
    }

    #[test]
    fn nothing_to_vote_on_is_no_vote() {
        let a = alphabet();
        assert!(vote(&[], &hypotheses(&[("A", 1.0)]), &a).is_none());
        assert!(vote(&[&reading("A", 4, 0.9, &[])], &[], &a).is_none());
    }
}
