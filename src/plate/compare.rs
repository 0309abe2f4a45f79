//! Comparing plate texts as people and OCR models confuse them: the reference annotations and
//! the models mix the letter O and the digit 0, so texts are compared folded, and "how far
//! apart" is the edit distance. Fusion (is this the same vehicle?) and evaluation (was this read
//! right?) must agree on both, so both take them from here.

/// `text` with the letter O read as the digit 0.
pub fn fold(text: &str) -> String {
    text.chars().map(|c| if c == 'O' { '0' } else { c }).collect()
}

/// Levenshtein distance: insertions, deletions and substitutions of characters, each counting 1.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("ABC", "ABC"), 0);
        assert_eq!(edit_distance("ABC", "AC"), 1);
        assert_eq!(edit_distance("ABC", "AXC"), 1);
        assert_eq!(edit_distance("", "AB"), 2);
    }

    #[test]
    fn fold_reads_the_letter_o_as_zero_only() {
        assert_eq!(fold("1-ABO-0Q0"), "1-AB0-0Q0");
    }
}
