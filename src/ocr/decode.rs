//! Turning the OCR model's per-slot probabilities into text, per-character confidences and a
//! region guess. Pure: no model, no pixels.

use crate::plate::RegionGuess;

/// What the OCR model read on one plate crop.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrReading {
    /// The most probable character of every slot that is not padding.
    pub text: String,
    /// The probability of each character of `text`.
    pub char_confidences: Vec<f32>,
    /// For each character of `text`, the model's full distribution over the alphabet, so that
    /// later stages can weigh an alternative (the `0` behind an `O`) with the model's own numbers.
    pub char_distributions: Vec<Vec<f32>>,
    /// Region head output as a distribution over the model's regions, when it has one.
    pub region_distribution: Vec<f32>,
    /// Every slot's distribution, padding included: what the ensemble needs to ask how likely
    /// this model finds a text another model (or crop) read.
    pub slots: Vec<Vec<f32>>,
}

impl OcrReading {
    /// Mean character probability: the plate's confidence (0 for an empty read).
    pub fn confidence(&self) -> f32 {
        mean_confidence(&self.char_confidences)
    }
}

pub fn mean_confidence(char_confidences: &[f32]) -> f32 {
    if char_confidences.is_empty() {
        0.0
    } else {
        char_confidences.iter().sum::<f32>() / char_confidences.len() as f32
    }
}

/// The alphabet an OCR model reads over, with its padding character.
#[derive(Debug, Clone, PartialEq)]
pub struct Alphabet {
    chars: Vec<char>,
    pad: char,
}

impl Alphabet {
    pub fn new(chars: &str, pad: char) -> Option<Self> {
        let chars: Vec<char> = chars.chars().collect();
        chars.contains(&pad).then_some(Self { chars, pad })
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    pub fn index_of(&self, c: char) -> Option<usize> {
        self.chars.iter().position(|&a| a == c)
    }

    /// Decodes one plate: `slots` holds `slot_count × len()` probabilities, slot by slot.
    ///
    /// Padding is removed wherever it stands, not only at the end: a model that pads in the
    /// middle has still told us that no character stands there.
    pub fn decode(&self, slots: &[f32]) -> OcrReading {
        let mut reading = OcrReading {
            text: String::new(),
            char_confidences: Vec::new(),
            char_distributions: Vec::new(),
            region_distribution: Vec::new(),
            slots: Vec::new(),
        };
        for slot in slots.chunks_exact(self.chars.len()) {
            reading.slots.push(slot.to_vec());
            let (best, p) = argmax(slot);
            let c = self.chars[best];
            if c != self.pad {
                reading.text.push(c);
                reading.char_confidences.push(p);
                reading.char_distributions.push(slot.to_vec());
            }
        }
        reading
    }

    pub fn char_at(&self, index: usize) -> char {
        self.chars[index]
    }

    pub fn pad_index(&self) -> Option<usize> {
        self.index_of(self.pad)
    }
}

/// Index and value of the largest element (the first one on ties); (0, 0) when there is none.
pub fn argmax(values: &[f32]) -> (usize, f32) {
    let mut best = (0, 0.0);
    let mut best_value = f32::NEG_INFINITY;
    for (i, &v) in values.iter().enumerate() {
        if v > best_value {
            best_value = v;
            best = (i, v);
        }
    }
    best
}

/// The region with the highest probability.
pub fn region_guess(distribution: &[f32], names: &[String]) -> Option<RegionGuess> {
    if distribution.is_empty() || distribution.len() != names.len() {
        return None;
    }
    let (best, p) = argmax(distribution);
    Some(RegionGuess { name: names[best].clone(), confidence: p })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alphabet() -> Alphabet {
        Alphabet::new("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_", '_').expect("alphabet")
    }

    fn one_hot(alphabet: &Alphabet, text: &str, slots: usize, p: f32) -> Vec<f32> {
        let n = alphabet.len();
        let mut out = vec![(1.0 - p) / (n - 1) as f32; slots * n];
        for (i, c) in text.chars().chain(std::iter::repeat('_')).take(slots).enumerate() {
            out[i * n + alphabet.index_of(c).expect("char")] = p;
        }
        out
    }

    #[test]
    fn padding_is_removed_and_confidences_kept_per_character() {
        let a = alphabet();
        let r = a.decode(&one_hot(&a, "BA123CD", 10, 0.9));
        assert_eq!(r.text, "BA123CD");
        assert_eq!(r.char_confidences.len(), 7);
        assert!(r.char_confidences.iter().all(|&c| (c - 0.9).abs() < 1e-6));
        assert_eq!(r.char_distributions[0].len(), 37);
        assert!((r.confidence() - 0.9).abs() < 1e-6);
    }

    #[test]
    fn padding_in_the_middle_is_dropped_too() {
        let a = alphabet();
        let r = a.decode(&one_hot(&a, "AB_12", 5, 0.8));
        assert_eq!(r.text, "AB12");
    }

    #[test]
    fn an_all_padding_read_is_empty_with_zero_confidence() {
        let a = alphabet();
        let r = a.decode(&one_hot(&a, "", 9, 0.99));
        assert_eq!(r.text, "");
        assert_eq!(r.confidence(), 0.0);
    }

    #[test]
    fn the_alphabet_must_contain_its_padding() {
        assert!(Alphabet::new("ABC", '_').is_none());
    }

    #[test]
    fn region_guess_takes_the_most_probable_name() {
        let names = vec!["Belgium".to_string(), "France".to_string()];
        let g = region_guess(&[0.3, 0.7], &names).expect("guess");
        assert_eq!(g.name, "France");
        assert!(region_guess(&[0.3], &names).is_none());
    }
}
