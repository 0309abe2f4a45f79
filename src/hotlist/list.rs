//! A hotlist as an operator writes it, parsed and validated completely before anything uses it.
//!
//! Two formats carry the same content (a list-level `version` and entries of plate, list name,
//! category, action, optional expiry and note):
//!
//! ```text
//! # CSV: comments and blank lines are ignored; the first line is the version, then the header
//! version,2026-12-01.1
//! plate,list,category,action,expires,note
//! 1-ABC-234,police-bxl,stolen,alert,2027-01-31T23:59:59Z,"grey Golf, seen on the E40"
//! 2XYZ789,lez-brussels,lez-exempt,allow,,
//! ```
//!
//! ```json
//! {"version": "2026-12-01.1", "entries": [
//!   {"plate": "1-ABC-234", "list": "police-bxl", "category": "stolen", "action": "alert",
//!    "expires": "2027-01-31T23:59:59Z", "note": "grey Golf"}]}
//! ```
//!
//! Every error names where (the CSV line, or the JSON line for a syntax error and the entry
//! number for a bad value), the field and what to write instead. Plates are normalised as reads
//! are (upper case; spaces, dashes and dots removed), so `1-abc-234` and `1ABC234` are one plate.
//! A signed list (`signature`, base64 Ed25519 over the exact bytes of the body, as
//! `openssl pkeyutl -sign -rawin` makes it) is checked with [`crate::signing`].

use crate::signing::{self, SignatureError, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::SystemTime;

/// Longest plate accepted: the OCR reads at most 10 characters, and the matcher packs a plate
/// into 64 bits (6 bits a character).
pub const MAX_PLATE_CHARS: usize = 10;
/// Bounds the memory a list may take (≈ 300 bytes an entry with its index), and keeps a CSV
/// list within one MQTT message (the publisher accepts `MAX_INCOMING_BYTES`, 32 MiB).
pub const MAX_ENTRIES: usize = 500_000;
const MAX_NAME_CHARS: usize = 64;
const MAX_NOTE_CHARS: usize = 256;
const CSV_HEADER: [&str; 6] = ["plate", "list", "category", "action", "expires", "note"];

/// Ordered: `Alert` before `Allow`, which is the matcher's precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Tell the control room at once, with the images.
    Alert,
    /// An exemption (e.g. a low-emission-zone permit): never an alert on its own.
    Allow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Normalised: `A-Z0-9` only, 1 to [`MAX_PLATE_CHARS`] characters.
    pub plate: String,
    pub list: String,
    pub category: String,
    pub action: Action,
    /// Not matched from this instant on.
    pub expires: Option<SystemTime>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hotlist {
    pub version: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// By file name: `.json` is JSON, anything else CSV.
    pub fn of_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Csv,
        }
    }
}

/// Where in the input a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based line of the input.
    Line(usize),
    /// 1-based entry of a JSON list.
    Entry(usize),
    /// 1-based entry of one part of a delta (`added`, `changed`, `removed`).
    DeltaEntry(&'static str, usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Entry(n) => write!(f, "entry {n}"),
            Location::DeltaEntry(part, n) => write!(f, "`{part}` entry {n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}, field `{field}`: {problem}")]
pub struct ListError {
    pub at: Location,
    pub field: &'static str,
    pub problem: String,
}

/// Why a list was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("the hotlist is not valid: {0}")]
    Invalid(#[from] ListError),
    #[error("the hotlist is not signed, and hotlist.public_key requires a signature (base64 Ed25519 over the body)")]
    Unsigned,
    #[error("the hotlist's signature is refused: {0}")]
    Signature(#[from] SignatureError),
}

pub(super) fn error(at: Location, field: &'static str, problem: impl Into<String>) -> ListError {
    ListError { at, field, problem: problem.into() }
}

/// Upper case without spaces, dashes and dots; `None` when anything else is not a letter or digit.
pub fn normalise(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' ' | '-' | '.' => {}
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_uppercase()),
            _ => return None,
        }
    }
    Some(out)
}

/// What an entry says before validation, from either format (and a delta's entries).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntry {
    plate: String,
    list: String,
    category: String,
    action: String,
    #[serde(default)]
    expires: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJson {
    version: String,
    entries: Vec<RawEntry>,
}

fn check_name(at: Location, field: &'static str, value: &str) -> Result<(), ListError> {
    if value.trim().is_empty() {
        return Err(error(at, field, "is empty; give a name"));
    }
    if value.chars().count() > MAX_NAME_CHARS || value.chars().any(char::is_control) {
        return Err(error(
            at,
            field,
            format!("must be at most {MAX_NAME_CHARS} characters without control characters"),
        ));
    }
    Ok(())
}

pub(super) fn validate(at: Location, raw: RawEntry) -> Result<Entry, ListError> {
    let plate = normalise(&raw.plate).ok_or_else(|| {
        error(
            at,
            "plate",
            format!("`{}` has a character other than letters, digits, spaces, - and .", raw.plate),
        )
    })?;
    if plate.is_empty() || plate.len() > MAX_PLATE_CHARS {
        return Err(error(
            at,
            "plate",
            format!("`{}` must have 1 to {MAX_PLATE_CHARS} letters or digits", raw.plate),
        ));
    }
    check_name(at, "list", &raw.list)?;
    let category = raw.category.trim();
    if category.is_empty()
        || category.len() > 32
        || !category
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(error(
            at,
            "category",
            format!(
                "`{}` must be 1 to 32 of a-z, 0-9, - and _ (e.g. stolen, wanted, lez-exempt)",
                raw.category
            ),
        ));
    }
    let action = match raw.action.trim() {
        "alert" => Action::Alert,
        "allow" => Action::Allow,
        other => {
            return Err(error(at, "action", format!("`{other}` is neither `alert` nor `allow`")))
        }
    };
    let expires = match raw.expires.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(
            humantime::parse_rfc3339(text)
                .map_err(|_| error(at, "expires", format!("`{text}` is not an RFC 3339 UTC time; write e.g. 2027-01-31T23:59:59Z, or leave it empty")))?,
        ),
    };
    let note = raw.note.filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(error(at, "note", format!("is longer than {MAX_NOTE_CHARS} characters")));
    }
    Ok(Entry {
        plate,
        list: raw.list.trim().to_string(),
        category: category.to_string(),
        action,
        expires,
        note,
    })
}

/// Splits one CSV line: fields separated by commas, a field in double quotes may hold commas,
/// and `""` inside quotes is one quote.
fn split_csv(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            (false, '"') if at_start && field.is_empty() => quoted = true,
            (false, '"') => {
                return Err(
                    "a quote inside an unquoted field; put the whole field in double quotes",
                )
            }
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => {
                quoted = false;
                if !matches!(chars.peek(), None | Some(',')) {
                    return Err("text after a closing quote; a quoted field ends at a comma");
                }
            }
            (_, c) => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("a quoted field is not closed on its line");
    }
    fields.push(field);
    Ok(fields)
}

fn parse_csv(text: &str) -> Result<Hotlist, ListError> {
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (n, first) = lines.next().ok_or_else(|| {
        error(
            Location::Line(1),
            "version",
            "the list is empty; its first line is `version,<VERSION>`",
        )
    })?;
    let version = match split_csv(first) {
        Ok(f) if f.len() == 2 && f[0].trim() == "version" => f[1].trim().to_string(),
        _ => {
            return Err(error(
                Location::Line(n),
                "version",
                "the first line must be `version,<VERSION>`",
            ))
        }
    };
    let (n, header) = lines.next().ok_or_else(|| {
        error(
            Location::Line(n + 1),
            "header",
            format!("missing; the second line is `{}`", CSV_HEADER.join(",")),
        )
    })?;
    if !split_csv(header).is_ok_and(|f| f.iter().map(|s| s.trim()).eq(CSV_HEADER)) {
        return Err(error(
            Location::Line(n),
            "header",
            format!("must be `{}`", CSV_HEADER.join(",")),
        ));
    }
    let mut entries = Vec::new();
    let mut at = Vec::new();
    for (n, line) in lines {
        let fields = split_csv(line).map_err(|p| error(Location::Line(n), "line", p))?;
        if fields.len() != CSV_HEADER.len() {
            return Err(error(
                Location::Line(n),
                "line",
                format!(
                    "has {} fields, not {}; leave expires and note empty (`,,`) when unused",
                    fields.len(),
                    CSV_HEADER.len()
                ),
            ));
        }
        let mut f = fields.into_iter();
        let mut next = || f.next().unwrap_or_default();
        let raw = RawEntry {
            plate: next(),
            list: next(),
            category: next(),
            action: next(),
            expires: Some(next()),
            note: Some(next()),
        };
        entries.push(validate(Location::Line(n), raw)?);
        at.push(Location::Line(n));
        check_count(entries.len(), Location::Line(n))?;
    }
    finish(version, entries, &at, Location::Line(1))
}

fn parse_json(text: &str) -> Result<Hotlist, ListError> {
    let raw: RawJson = serde_json::from_str(text)
        .map_err(|e| error(Location::Line(e.line().max(1)), "json", e.to_string()))?;
    check_count(raw.entries.len(), Location::Entry(raw.entries.len()))?;
    let at: Vec<Location> = (1..=raw.entries.len()).map(Location::Entry).collect();
    let entries = raw
        .entries
        .into_iter()
        .zip(&at)
        .map(|(e, &at)| validate(at, e))
        .collect::<Result<Vec<_>, _>>()?;
    finish(raw.version, entries, &at, Location::Line(1))
}

pub(super) fn check_count(n: usize, at: Location) -> Result<(), ListError> {
    if n > MAX_ENTRIES {
        return Err(error(
            at,
            "entries",
            format!(
                "more than {MAX_ENTRIES} entries; split the list or raise the bound in the code"
            ),
        ));
    }
    Ok(())
}

/// Checks what concerns the whole list (the version, duplicate plates within one list) and puts
/// the entries in their canonical order, by plate then list: a list is its content, whatever
/// order its text or the deltas that made it gave, so a list reached by deltas equals the same
/// list received whole (and matches the same way: the matcher's last tie-break is this order).
pub(super) fn finish(
    version: String,
    mut entries: Vec<Entry>,
    at: &[Location],
    version_at: Location,
) -> Result<Hotlist, ListError> {
    let version = version.trim().to_string();
    check_name(version_at, "version", &version)?;
    let mut seen = std::collections::HashMap::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        if let Some(first) = seen.insert((entry.plate.as_str(), entry.list.as_str()), i) {
            return Err(error(
                at[i],
                "plate",
                format!(
                    "{} is already on list `{}` at {}; keep one entry",
                    entry.plate, entry.list, at[first]
                ),
            ));
        }
    }
    entries.sort_unstable_by(|a, b| (&a.plate, &a.list).cmp(&(&b.plate, &b.list)));
    Ok(Hotlist { version, entries })
}

/// With a key, `signature` must be there and valid over `body` (a list's or a delta's).
pub(super) fn check_signature(
    body: &[u8],
    signature: Option<&str>,
    key: Option<&VerifyingKey>,
) -> Result<(), RejectReason> {
    if let Some(key) = key {
        let signature = signature.filter(|s| !s.trim().is_empty()).ok_or(RejectReason::Unsigned)?;
        signing::verify(key, body, signature)?;
    }
    Ok(())
}

impl Hotlist {
    /// Parses and validates `body`.
    pub fn parse(body: &[u8], format: Format) -> Result<Self, ListError> {
        let text = std::str::from_utf8(body).map_err(|e| {
            let line = body[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
            error(Location::Line(line), "text", "is not UTF-8; save the list as UTF-8")
        })?;
        match format {
            Format::Csv => parse_csv(text),
            Format::Json => parse_json(text),
        }
    }

    /// SHA-256 (hex) of the content: the version and each entry, in the canonical order, with
    /// every field in one fixed form. The list's identity, whichever bytes it came in (CSV or
    /// JSON, compressed or not, whole or made by deltas).
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        // Each field is length-prefixed, so no two contents give the same stream.
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(self.version.as_bytes());
        for e in &self.entries {
            field(e.plate.as_bytes());
            field(e.list.as_bytes());
            field(e.category.as_bytes());
            field(if e.action == Action::Alert { b"alert" } else { b"allow" });
            let expires = e.expires.map(|t| humantime::format_rfc3339_nanos(t).to_string());
            field(expires.as_deref().unwrap_or("").as_bytes());
            field(e.note.as_deref().unwrap_or("").as_bytes());
        }
        crate::digest::hex(&hash.finalize())
    }

    /// Checks the signature first when a key is configured (nothing of an unsigned body is
    /// trusted), then parses.
    pub fn parse_signed(
        body: &[u8],
        format: Format,
        signature: Option<&str>,
        key: Option<&VerifyingKey>,
    ) -> Result<Self, RejectReason> {
        check_signature(body, signature, key)?;
        Ok(Self::parse(body, format)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "version,7\nplate,list,category,action,expires,note\n";

    fn csv(rows: &str) -> Result<Hotlist, ListError> {
        Hotlist::parse(format!("{HEAD}{rows}").as_bytes(), Format::Csv)
    }

    #[test]
    fn a_csv_list_parses_with_normalised_plates_quotes_and_comments() {
        let list = csv("# stolen cars\n1-abc-234,police bxl,stolen,alert,2027-01-31T23:59:59Z,\"grey Golf, \"\"E40\"\"\"\r\n\n2.XYZ 789,lez,lez-exempt,allow,,\n")
            .expect("valid");
        assert_eq!(list.version, "7");
        assert_eq!(list.entries.len(), 2);
        let e = &list.entries[0];
        assert_eq!(
            (e.plate.as_str(), e.list.as_str(), e.category.as_str(), e.action),
            ("1ABC234", "police bxl", "stolen", Action::Alert)
        );
        assert_eq!(e.note.as_deref(), Some("grey Golf, \"E40\""));
        assert_eq!(
            e.expires,
            Some(humantime::parse_rfc3339("2027-01-31T23:59:59Z").expect("time"))
        );
        assert_eq!(
            (list.entries[1].plate.as_str(), list.entries[1].expires, &list.entries[1].note),
            ("2XYZ789", None, &None)
        );
    }

    #[test]
    fn every_csv_rejection_names_the_line_and_the_field() {
        let cases: [(&str, usize, &str, &str); 11] = [
            ("A1,l,stolen,alrt,,\n", 3, "action", "neither `alert` nor `allow`"),
            ("A_1,l,stolen,alert,,\n", 3, "plate", "A_1"),
            ("ABCDEFGHIJK,l,stolen,alert,,\n", 3, "plate", "1 to 10"),
            ("--,l,stolen,alert,,\n", 3, "plate", "1 to 10"),
            ("A1,,stolen,alert,,\n", 3, "list", "empty"),
            ("A1,l,Stolen,alert,,\n", 3, "category", "a-z"),
            ("A1,l,stolen,alert,tomorrow,\n", 3, "expires", "RFC 3339"),
            ("A1,l,stolen,alert\n", 3, "line", "4 fields, not 6"),
            ("A1,l,stolen,alert,,\"open\n", 3, "line", "not closed"),
            ("A1,l,stolen,alert,,x\"y\n", 3, "line", "quote"),
            (
                "A1,l,stolen,alert,,\n#\nA-1,l,wanted,alert,,\n",
                5,
                "plate",
                "already on list `l` at line 3",
            ),
        ];
        for (rows, line, field, needle) in cases {
            let e = csv(rows).expect_err(rows);
            assert_eq!((e.at, e.field), (Location::Line(line), field), "{rows}: {e}");
            assert!(
                e.to_string().contains(needle)
                    && e.to_string().starts_with(&format!("line {line}, field `{field}`")),
                "{rows}: {e}"
            );
        }
        for (text, field) in [
            ("", "version"),
            ("plate,list\n", "version"),
            ("version,1\nplate,list\n", "header"),
            ("version,\n", "header"),
            ("version, \nplate,list,category,action,expires,note\n", "version"),
        ] {
            let e = Hotlist::parse(text.as_bytes(), Format::Csv).expect_err(text);
            assert_eq!(e.field, field, "{text:?}: {e}");
        }
        let e = Hotlist::parse(b"version,1\n\xff\n", Format::Csv).expect_err("not utf-8");
        assert_eq!((e.at, e.field), (Location::Line(2), "text"));
    }

    #[test]
    fn a_json_list_parses_and_its_errors_name_the_entry_or_line() {
        let json = r#"{"version": "v2", "entries": [
            {"plate": "ab-12", "list": "l", "category": "wanted", "action": "alert", "note": "n"},
            {"plate": "CD34", "list": "l", "category": "lez-exempt", "action": "allow", "expires": "2030-01-01T00:00:00Z"}]}"#;
        let list = Hotlist::parse(json.as_bytes(), Format::Json).expect("valid");
        assert_eq!(
            (list.version.as_str(), list.entries[0].plate.as_str(), list.entries[1].action),
            ("v2", "AB12", Action::Allow)
        );
        let bad = json.replace("\"allow\"", "\"ignore\"");
        let e = Hotlist::parse(bad.as_bytes(), Format::Json).expect_err("bad action");
        assert_eq!((e.at, e.field), (Location::Entry(2), "action"), "{e}");
        let e = Hotlist::parse(json.replace("\"note\"", "\"notes\"").as_bytes(), Format::Json)
            .expect_err("unknown field");
        assert_eq!((e.at, e.field), (Location::Line(2), "json"), "{e}");
        assert!(e.problem.contains("notes"), "{e}");
        let e = Hotlist::parse(b"{\"version\": \"1\"", Format::Json).expect_err("truncated");
        assert_eq!(e.at, Location::Line(1));
    }

    #[test]
    fn a_list_is_its_content_whatever_the_order_and_format_it_came_in() {
        let one =
            csv("B2,l,stolen,alert,,\nA1,m,stolen,alert,,\nA1,l,wanted,alert,,n\n").expect("csv");
        let json = r#"{"version": "7", "entries": [
            {"plate": "a-1", "list": "l", "category": "wanted", "action": "alert", "note": "n"},
            {"plate": "B2", "list": "l", "category": "stolen", "action": "alert"},
            {"plate": "A1", "list": "m", "category": "stolen", "action": "alert", "expires": ""}]}"#;
        let other = Hotlist::parse(json.as_bytes(), Format::Json).expect("json");
        assert_eq!(one, other);
        assert_eq!(one.digest(), other.digest());
        let keys: Vec<_> =
            one.entries.iter().map(|e| (e.plate.as_str(), e.list.as_str())).collect();
        assert_eq!(keys, [("A1", "l"), ("A1", "m"), ("B2", "l")], "by plate, then list");
        let mut changed = one.clone();
        changed.entries[0].note = None;
        assert_ne!(changed.digest(), one.digest());
        changed = Hotlist { version: "8".into(), ..one.clone() };
        assert_ne!(changed.digest(), one.digest());
    }

    #[test]
    fn a_configured_key_requires_a_valid_signature() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let body = format!("{HEAD}AB12,l,stolen,alert,,\n");
        let signature = signing::sign(&key, body.as_bytes());
        let public = key.verifying_key();
        let list =
            Hotlist::parse_signed(body.as_bytes(), Format::Csv, Some(&signature), Some(&public))
                .expect("signed");
        assert_eq!(list.entries.len(), 1);
        let tampered = body.replace("AB12", "AB13");
        assert!(matches!(
            Hotlist::parse_signed(
                tampered.as_bytes(),
                Format::Csv,
                Some(&signature),
                Some(&public)
            ),
            Err(RejectReason::Signature(_))
        ));
        assert_eq!(
            Hotlist::parse_signed(body.as_bytes(), Format::Csv, None, Some(&public)),
            Err(RejectReason::Unsigned)
        );
        let other = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let wrong = signing::sign(&other, body.as_bytes());
        assert!(matches!(
            Hotlist::parse_signed(body.as_bytes(), Format::Csv, Some(&wrong), Some(&public)),
            Err(RejectReason::Signature(_))
        ));
        // Without a key a signature is not needed (and not checked).
        assert!(Hotlist::parse_signed(body.as_bytes(), Format::Csv, None, None).is_ok());
    }

    /// The parser as a fuzz target: no input panics, every error names a line (or a JSON
    /// entry), and any valid list written out in either format reads back the same.
    mod props {
        use super::*;
        use proptest::prelude::*;

        fn quoted(s: &str) -> String {
            format!("\"{}\"", s.replace('"', "\"\""))
        }

        fn time(secs: u32) -> SystemTime {
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(secs))
        }

        fn entries() -> impl Strategy<Value = Vec<Entry>> {
            let entry = (
                "[A-Z0-9]{1,10}",
                "[a-zA-Z][a-zA-Z ,\"]{0,10}[a-zA-Z]",
                "[a-z0-9_-]{1,12}",
                any::<bool>(),
                proptest::option::of(any::<u32>()),
                proptest::option::of("[ -~]{1,30}"),
            )
                .prop_map(|(plate, list, category, alert, expires, note)| Entry {
                    plate,
                    list,
                    category,
                    action: if alert { Action::Alert } else { Action::Allow },
                    expires: expires.map(time),
                    note,
                });
            proptest::collection::vec(entry, 0..20).prop_map(|mut v| {
                let mut seen = std::collections::HashSet::new();
                v.retain(|e| seen.insert((e.plate.clone(), e.list.clone())));
                v
            })
        }

        fn to_csv(version: &str, entries: &[Entry]) -> String {
            let mut out = format!("# generated\nversion,{version}\n{}\n", CSV_HEADER.join(","));
            for e in entries {
                let expires = e
                    .expires
                    .map(|t| humantime::format_rfc3339_seconds(t).to_string())
                    .unwrap_or_default();
                let action = if e.action == Action::Alert { "alert" } else { "allow" };
                let fields = [
                    e.plate.as_str(),
                    &e.list,
                    &e.category,
                    action,
                    &expires,
                    e.note.as_deref().unwrap_or(""),
                ];
                out.push_str(&fields.map(quoted).join(","));
                out.push_str("\r\n");
            }
            out
        }

        fn to_json(version: &str, entries: &[Entry]) -> String {
            let entries: Vec<serde_json::Value> = entries
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "plate": e.plate, "list": e.list, "category": e.category, "action": e.action,
                        "expires": e.expires.map(|t| humantime::format_rfc3339_seconds(t).to_string()), "note": e.note,
                    })
                })
                .collect();
            serde_json::json!({ "version": version, "entries": entries }).to_string()
        }

        fn names_a_place(e: &ListError, text: &[u8]) -> bool {
            let lines = text.iter().filter(|&&b| b == b'\n').count() + 1;
            match e.at {
                Location::Line(n) => (1..=lines).contains(&n),
                Location::Entry(n) | Location::DeltaEntry(_, n) => n >= 1,
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            #[test]
            fn any_bytes_give_a_list_or_an_error_naming_a_line(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                for format in [Format::Csv, Format::Json] {
                    if let Err(e) = Hotlist::parse(&bytes, format) {
                        prop_assert!(names_a_place(&e, &bytes), "{e}");
                    }
                }
            }

            #[test]
            fn csv_like_text_gives_a_list_or_an_error_naming_a_line(body in "[a-zA-Z0-9,\" .:#-]{0,40}(\r?\n[a-zA-Z0-9,\" .:#-]{0,40}){0,8}", header in any::<bool>()) {
                let text = if header { format!("version,1\n{}\n{body}", CSV_HEADER.join(",")) } else { body };
                match Hotlist::parse(text.as_bytes(), Format::Csv) {
                    Ok(list) => prop_assert!(list.entries.iter().all(|e| !e.plate.is_empty() && e.plate.len() <= MAX_PLATE_CHARS)),
                    Err(e) => {
                        prop_assert!(matches!(e.at, Location::Line(_)), "{e}");
                        prop_assert!(names_a_place(&e, text.as_bytes()), "{e}");
                    }
                }
            }

            #[test]
            fn valid_lists_round_trip_through_both_formats(version in "[A-Za-z0-9.-]{1,20}", entries in entries()) {
                let mut sorted = entries.clone();
                sorted.sort_by(|a, b| (&a.plate, &a.list).cmp(&(&b.plate, &b.list)));
                let want = Hotlist { version: version.clone(), entries: sorted };
                prop_assert_eq!(Hotlist::parse(to_csv(&version, &entries).as_bytes(), Format::Csv), Ok(want.clone()));
                prop_assert_eq!(Hotlist::parse(to_json(&version, &entries).as_bytes(), Format::Json), Ok(want));
            }
        }
    }
}
