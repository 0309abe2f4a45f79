//! The little pattern language of `formats.toml`: `L` letter, `D` digit, `A` either, each
//! optionally repeated `{n}` or `{m,n}` times.

/// What one position of a plate admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Letter,
    Digit,
    Any,
}

impl Class {
    pub fn admits(self, c: char) -> bool {
        match self {
            Class::Letter => c.is_ascii_uppercase(),
            Class::Digit => c.is_ascii_digit(),
            Class::Any => c.is_ascii_uppercase() || c.is_ascii_digit(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatternError {
    #[error(
        "pattern `{pattern}`: `{found}` at position {position} is not L, D, A or a {{m,n}} repeat"
    )]
    Unexpected { pattern: String, found: char, position: usize },
    #[error("pattern `{pattern}`: malformed repeat `{{{repeat}}}`; write {{n}} or {{m,n}} with m <= n <= 10")]
    Repeat { pattern: String, repeat: String },
    #[error("pattern `{pattern}` expands to more than {limit} sequences; split it")]
    TooMany { pattern: String, limit: usize },
}

/// A bound on expansion, so a careless pattern cannot make start-up slow.
const MAX_SEQUENCES: usize = 4096;

/// Every concrete class sequence `pattern` allows.
pub fn expand(pattern: &str) -> Result<Vec<Vec<Class>>, PatternError> {
    let mut parts: Vec<(Class, usize, usize)> = Vec::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let class = match chars[i] {
            'L' => Class::Letter,
            'D' => Class::Digit,
            'A' => Class::Any,
            '{' if !parts.is_empty() => {
                let end = chars[i..].iter().position(|&c| c == '}').map(|e| i + e);
                let repeat: String = chars[i + 1..end.unwrap_or(chars.len())].iter().collect();
                let bad =
                    || PatternError::Repeat { pattern: pattern.into(), repeat: repeat.clone() };
                let end = end.ok_or_else(bad)?;
                let (min, max) = parse_repeat(&repeat).ok_or_else(bad)?;
                if let Some(last) = parts.last_mut() {
                    *last = (last.0, min, max);
                }
                i = end + 1;
                continue;
            }
            found => {
                return Err(PatternError::Unexpected {
                    pattern: pattern.into(),
                    found,
                    position: i,
                })
            }
        };
        parts.push((class, 1, 1));
        i += 1;
    }
    let mut sequences: Vec<Vec<Class>> = vec![Vec::new()];
    for (class, min, max) in parts {
        let mut next = Vec::new();
        for s in &sequences {
            for n in min..=max {
                let mut longer = s.clone();
                longer.extend(std::iter::repeat_n(class, n));
                next.push(longer);
            }
        }
        if next.len() > MAX_SEQUENCES {
            return Err(PatternError::TooMany { pattern: pattern.into(), limit: MAX_SEQUENCES });
        }
        sequences = next;
    }
    Ok(sequences)
}

fn parse_repeat(text: &str) -> Option<(usize, usize)> {
    let (min, max) = match text.split_once(',') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let n = text.trim().parse().ok()?;
            (n, n)
        }
    };
    (min <= max && max <= 10).then_some((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Class::*;

    #[test]
    fn plain_classes_expand_to_one_sequence() {
        assert_eq!(expand("LDA").expect("ok"), vec![vec![Letter, Digit, Any]]);
    }

    #[test]
    fn repeats_expand_to_every_length() {
        let s = expand("L{1,2}D{2}").expect("ok");
        assert_eq!(s, vec![vec![Letter, Digit, Digit], vec![Letter, Letter, Digit, Digit]]);
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        assert!(matches!(
            expand("LX"),
            Err(PatternError::Unexpected { found: 'X', position: 1, .. })
        ));
        assert!(matches!(expand("L{3,1}"), Err(PatternError::Repeat { .. })));
        assert!(matches!(expand("L{2"), Err(PatternError::Repeat { .. })));
        assert!(matches!(expand("{2}"), Err(PatternError::Unexpected { .. })));
        assert!(matches!(
            expand("A{1,10}A{1,10}A{1,10}A{1,10}"),
            Err(PatternError::TooMany { .. })
        ));
    }

    #[test]
    fn classes_admit_the_right_characters() {
        assert!(Letter.admits('B') && !Letter.admits('8') && !Letter.admits('b'));
        assert!(Digit.admits('8') && !Digit.admits('B'));
        assert!(Any.admits('B') && Any.admits('8') && !Any.admits('-'));
    }
}
