//! A hotlist update as a delta: the entries added, changed and removed between two versions,
//! so that a 1 % change of a 100,000-entry list travels as 1 % of it, not the whole list.
//!
//! ```json
//! {"base": "2026-12-01.1", "version": "2026-12-01.2",
//!  "added":   [{"plate": "1-ABC-234", "list": "police-bxl", "category": "stolen",
//!               "action": "alert", "expires": "2027-01-31T23:59:59Z", "note": "grey Golf"}],
//!  "changed": [ ...entries as in a JSON list, whole... ],
//!  "removed": [{"plate": "2XYZ789", "list": "lez-brussels"}]}
//! ```
//!
//! An entry is named by its plate and its list (a plate may stand on several lists). A delta
//! applies to its `base` version only, and only as a whole: every `changed` and `removed` entry
//! must be in the base, no `added` one may be, and the result is validated as a full list is
//! (`list.rs`). A delta is signed like a list (Ed25519 over the exact bytes). Pure: parsing,
//! applying and diffing read nothing and write nothing.

use super::list::{
    check_count, error, finish, validate, Action, Entry, Hotlist, ListError, Location, RawEntry,
};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// The versions a delta joins, and what it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub base: String,
    pub version: String,
    pub added: Vec<Entry>,
    pub changed: Vec<Entry>,
    /// (plate, list) of each entry removed.
    pub removed: Vec<(String, String)>,
}

/// Why a delta does not apply to a list: nothing of it is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    #[error("the delta applies to version `{base}`, and the list held is version `{held}`; it needs the full list of version `{version}`")]
    OtherBase { base: String, held: String, version: String },
    #[error("`{part}` names {plate} on list `{list}`, which version `{base}` does not hold")]
    Absent { part: &'static str, plate: String, list: String, base: String },
    #[error("`added` names {plate} on list `{list}`, which version `{base}` holds already; put it under `changed`")]
    Present { plate: String, list: String, base: String },
    #[error("the list the delta makes is not valid: {0}")]
    Result(ListError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    plate: String,
    list: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelta {
    base: String,
    version: String,
    #[serde(default)]
    added: Vec<RawEntry>,
    #[serde(default)]
    changed: Vec<RawEntry>,
    #[serde(default)]
    removed: Vec<RawKey>,
}

fn key(entry: &Entry) -> (&str, &str) {
    (entry.plate.as_str(), entry.list.as_str())
}

impl Delta {
    /// Parses and validates a delta's JSON; every error names the part and entry.
    pub fn parse(body: &[u8]) -> Result<Self, ListError> {
        let raw: RawDelta = serde_json::from_slice(body)
            .map_err(|e| error(Location::Line(e.line().max(1)), "json", e.to_string()))?;
        let entries = |part: &'static str, raws: Vec<RawEntry>| {
            check_count(raws.len(), Location::DeltaEntry(part, raws.len()))?;
            raws.into_iter()
                .enumerate()
                .map(|(i, raw)| validate(Location::DeltaEntry(part, i + 1), raw))
                .collect::<Result<Vec<_>, _>>()
        };
        let added = entries("added", raw.added)?;
        let changed = entries("changed", raw.changed)?;
        check_count(raw.removed.len(), Location::DeltaEntry("removed", raw.removed.len()))?;
        let mut removed = Vec::with_capacity(raw.removed.len());
        for (i, k) in raw.removed.into_iter().enumerate() {
            let at = Location::DeltaEntry("removed", i + 1);
            let plate = super::list::normalise(&k.plate)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| error(at, "plate", format!("`{}` is not a plate", k.plate)))?;
            removed.push((plate, k.list.trim().to_string()));
        }
        let (base, version) = (raw.base.trim().to_string(), raw.version.trim().to_string());
        for (field, value) in [("base", &base), ("version", &version)] {
            if value.is_empty() {
                return Err(error(Location::Line(1), field, "is empty; give the version"));
            }
        }
        if base == version {
            return Err(error(
                Location::Line(1),
                "version",
                "equals `base`; a delta makes a new version",
            ));
        }
        // One entry named twice would make the result depend on the order of the parts.
        let mut named = HashSet::new();
        let parts = added.iter().map(key).chain(changed.iter().map(key));
        for (plate, list) in parts.chain(removed.iter().map(|(p, l)| (p.as_str(), l.as_str()))) {
            if !named.insert((plate, list)) {
                return Err(error(
                    Location::Line(1),
                    "plate",
                    format!("{plate} on list `{list}` is named twice; name each entry once"),
                ));
            }
        }
        Ok(Delta { base, version, added, changed, removed })
    }

    /// The list this delta makes of `base`: its entries in their order, the changed ones in
    /// place, the removed ones gone, the added ones at the end; validated as a full list.
    pub fn apply(&self, base: &Hotlist) -> Result<Hotlist, DeltaError> {
        if base.version != self.base {
            return Err(DeltaError::OtherBase {
                base: self.base.clone(),
                held: base.version.clone(),
                version: self.version.clone(),
            });
        }
        let held: HashSet<(&str, &str)> = base.entries.iter().map(key).collect();
        let absent = |part, (plate, list): (&str, &str)| DeltaError::Absent {
            part,
            plate: plate.to_string(),
            list: list.to_string(),
            base: self.base.clone(),
        };
        if let Some(e) = self.added.iter().find(|e| held.contains(&key(e))) {
            return Err(DeltaError::Present {
                plate: e.plate.clone(),
                list: e.list.clone(),
                base: self.base.clone(),
            });
        }
        if let Some(e) = self.changed.iter().find(|e| !held.contains(&key(e))) {
            return Err(absent("changed", key(e)));
        }
        if let Some((p, l)) =
            self.removed.iter().find(|(p, l)| !held.contains(&(p.as_str(), l.as_str())))
        {
            return Err(absent("removed", (p.as_str(), l.as_str())));
        }
        let changed: HashMap<(&str, &str), &Entry> =
            self.changed.iter().map(|e| (key(e), e)).collect();
        let removed: HashSet<(&str, &str)> =
            self.removed.iter().map(|(p, l)| (p.as_str(), l.as_str())).collect();
        let entries: Vec<Entry> = base
            .entries
            .iter()
            .filter(|e| !removed.contains(&key(e)))
            .map(|e| changed.get(&key(e)).map_or_else(|| e.clone(), |c| (*c).clone()))
            .chain(self.added.iter().cloned())
            .collect();
        check_count(entries.len(), Location::Entry(entries.len())).map_err(DeltaError::Result)?;
        let at: Vec<Location> = (1..=entries.len()).map(Location::Entry).collect();
        finish(self.version.clone(), entries, &at, Location::Line(1)).map_err(DeltaError::Result)
    }

    /// What turns `old` into `new`.
    pub fn between(old: &Hotlist, new: &Hotlist) -> Self {
        let before: HashMap<(&str, &str), &Entry> =
            old.entries.iter().map(|e| (key(e), e)).collect();
        let after: HashSet<(&str, &str)> = new.entries.iter().map(key).collect();
        let mut delta = Delta {
            base: old.version.clone(),
            version: new.version.clone(),
            added: Vec::new(),
            changed: Vec::new(),
            removed: Vec::new(),
        };
        for entry in &new.entries {
            match before.get(&key(entry)) {
                None => delta.added.push(entry.clone()),
                Some(was) if *was != entry => delta.changed.push(entry.clone()),
                Some(_) => {}
            }
        }
        delta.removed = old
            .entries
            .iter()
            .filter(|e| !after.contains(&key(e)))
            .map(|e| (e.plate.clone(), e.list.clone()))
            .collect();
        delta
    }

    /// The delta as the JSON [`Delta::parse`] reads.
    pub fn to_json(&self) -> String {
        let entry = |e: &Entry| {
            serde_json::json!({
                "plate": e.plate,
                "list": e.list,
                "category": e.category,
                "action": match e.action { Action::Alert => "alert", Action::Allow => "allow" },
                "expires": e.expires.map(|t| humantime::format_rfc3339(t).to_string()),
                "note": e.note,
            })
        };
        let removed: Vec<_> = self
            .removed
            .iter()
            .map(|(plate, list)| serde_json::json!({ "plate": plate, "list": list }))
            .collect();
        serde_json::json!({
            "base": self.base,
            "version": self.version,
            "added": self.added.iter().map(entry).collect::<Vec<_>>(),
            "changed": self.changed.iter().map(entry).collect::<Vec<_>>(),
            "removed": removed,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::list::Format;
    use super::*;

    fn list(version: &str, rows: &str) -> Hotlist {
        let csv = format!("version,{version}\nplate,list,category,action,expires,note\n{rows}");
        Hotlist::parse(csv.as_bytes(), Format::Csv).expect("list")
    }

    const V1: &str = "1ABC234,police,stolen,alert,,\n2XYZ789,lez,lez-exempt,allow,,\n3DEF456,police,wanted,alert,2027-01-31T23:59:59Z,note\n";

    #[test]
    fn a_delta_between_two_lists_makes_the_second_of_the_first_and_survives_its_json() {
        let old = list("1", V1);
        let new = list("2", "1ABC234,police,stolen,alert,,moved\n3DEF456,police,wanted,alert,2027-01-31T23:59:59Z,note\n4GHI789,police,stolen,alert,,\n");
        let delta = Delta::between(&old, &new);
        assert_eq!((delta.added.len(), delta.changed.len(), delta.removed.len()), (1, 1, 1));
        let parsed = Delta::parse(delta.to_json().as_bytes()).expect("its own JSON parses");
        assert_eq!(parsed, delta);
        let made = parsed.apply(&old).expect("applies to its base");
        let sorted = |l: &Hotlist| {
            let mut e = l.entries.clone();
            e.sort_by(|a, b| (&a.plate, &a.list).cmp(&(&b.plate, &b.list)));
            e
        };
        assert_eq!((made.version.as_str(), sorted(&made)), ("2", sorted(&new)));
    }

    #[test]
    fn a_delta_that_does_not_apply_changes_nothing_and_says_why() {
        let old = list("1", V1);
        let other = list("0", V1);
        let add = |json: &str| Delta::parse(json.as_bytes()).expect("delta");
        let delta =
            add(r#"{"base":"1","version":"2","removed":[{"plate":"9ZZZ999","list":"police"}]}"#);
        assert!(matches!(delta.apply(&other), Err(DeltaError::OtherBase { .. })));
        let error = delta.apply(&old).expect_err("absent").to_string();
        assert!(error.contains("9ZZZ999") && error.contains("`removed`"), "{error}");
        let twice = add(
            r#"{"base":"1","version":"2","added":[{"plate":"1-abc-234","list":"police","category":"stolen","action":"alert"}]}"#,
        );
        assert!(twice.apply(&old).expect_err("present").to_string().contains("under `changed`"));
        let change = add(
            r#"{"base":"1","version":"2","changed":[{"plate":"5AAA555","list":"police","category":"stolen","action":"alert"}]}"#,
        );
        assert!(matches!(change.apply(&old), Err(DeltaError::Absent { part: "changed", .. })));
    }

    #[test]
    fn bad_deltas_name_the_part_the_entry_and_the_field() {
        let error = |json: &str| Delta::parse(json.as_bytes()).expect_err("bad").to_string();
        let e = error(
            r#"{"base":"1","version":"2","added":[{"plate":"1ABC234","list":"p","category":"stolen","action":"arrest"}]}"#,
        );
        assert!(e.contains("`added` entry 1") && e.contains("action"), "{e}");
        assert!(error(r#"{"base":"1","version":"1"}"#).contains("equals `base`"));
        assert!(error(r#"{"version":"2"}"#).contains("base"));
        let e = error(
            r#"{"base":"1","version":"2","removed":[{"plate":"1ABC234","list":"p"},{"plate":"1-ABC-234","list":"p"}]}"#,
        );
        assert!(e.contains("named twice"), "{e}");
    }
}
