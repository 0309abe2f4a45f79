//! One thing wrong with a configuration: the full key, what is wrong, and how to fix it. Every
//! section checks itself into a list of these with keys relative to it, and the section above
//! puts its own name in front ([`ConfigIssue::under`]), so `check-config` reports every
//! mistake at once, each under the key an operator searches the file for.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The full key once every section has prefixed it (`mqtt.tls.ca_file`).
    pub key: String,
    pub problem: String,
    /// What to write instead; may be empty when the problem says it all.
    pub fix: String,
}

impl ConfigIssue {
    pub fn new(key: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { key: key.into(), problem: problem.into(), fix: fix.into() }
    }

    /// The same issue one section up: `prefix.key` (or `prefix` for an issue of the whole
    /// section, whose key is empty).
    pub fn under(mut self, prefix: &str) -> Self {
        self.key =
            if self.key.is_empty() { prefix.into() } else { format!("{prefix}.{}", self.key) };
        self
    }
}

/// Every issue of a section, under its name.
pub fn under(prefix: &str, issues: Vec<ConfigIssue>) -> impl Iterator<Item = ConfigIssue> + '_ {
    issues.into_iter().map(move |issue| issue.under(prefix))
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.problem)?;
        } else {
            write!(f, "{}: {}", self.key, self.problem)?;
        }
        if !self.fix.is_empty() {
            write!(f, "; {}", self.fix)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issue_reads_key_problem_fix_under_every_section_above_it() {
        let issue = ConfigIssue::new("ca_file", "/x does not exist", "install the CA there");
        let issue = issue.under("tls").under("mqtt");
        assert_eq!(issue.to_string(), "mqtt.tls.ca_file: /x does not exist; install the CA there");
        let whole = ConfigIssue::new("", "is missing", "").under("privacy");
        assert_eq!(whole.to_string(), "privacy: is missing");
    }
}
