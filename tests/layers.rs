//! The structure of `src/` against ARCHITECTURE.md: every module of the library sits in one
//! layer of the table there, imports only from its own layer and the layers below, and no
//! modules (top-level ones, nor files inside one) import each other in a circle. A file keeps
//! at most 500 lines before its tests. The rules are read from ARCHITECTURE.md itself, so the
//! page cannot drift from the code: moving a module means moving its row.
//!
//! Imports are read as text: every `crate::…`, `super::…` and `self::…` path outside comments,
//! `use` groups (`{a, b::c}`) expanded.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES_BEFORE_TESTS: usize = 500;

/// Violations accepted for now, named exactly; empty since the redesign of issue #10 paid the
/// last. A violation not listed here fails the tests, and so does a debt listed here that is
/// gone, so the list can only shrink and always says what is left.
const KNOWN_DEBTS: &[&str] = &[];

/// Fails on `found` violations not in KNOWN_DEBTS, and on debts of `kind` no longer found.
fn judge(kind: &str, found: Vec<String>) {
    let new: Vec<&String> = found.iter().filter(|v| !KNOWN_DEBTS.contains(&v.as_str())).collect();
    let paid: Vec<&&str> =
        KNOWN_DEBTS.iter().filter(|d| d.contains(kind) && !found.iter().any(|v| v == *d)).collect();
    assert!(
        new.is_empty(),
        "{kind}: new violations:\n{}",
        new.iter().map(|v| v.as_str()).collect::<Vec<_>>().join("\n")
    );
    assert!(paid.is_empty(), "{kind}: debts paid, delete them from KNOWN_DEBTS: {paid:?}");
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Module path (`["publish", "outbox"]`) → its file, for every `.rs` file of the library.
fn library_files() -> BTreeMap<Vec<String>, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut module = prefix.to_vec();
                if name != "mod" {
                    module.push(name);
                }
                out.insert(module, path);
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(&root().join("src"), &[], &mut files);
    // The binary (main.rs and the command line) is the top of the house, not a library module.
    files.retain(|module, _| {
        module.first().is_some_and(|m| m != "main" && m != "cli" && m != "lib")
    });
    files
}

/// The source without comments and string literals, so that neither counts as an import.
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c == '"' && !escaped {
                        break;
                    }
                    escaped = c == '\\' && !escaped;
                }
                out.push_str("\"\"");
            }
            // A char literal such as '"' must not open a string; lifetimes pass through.
            '\'' => {
                let mut ahead = chars.clone();
                let literal =
                    matches!((ahead.next(), ahead.next()), (Some('\\'), _) | (Some(_), Some('\'')));
                if literal {
                    let mut escaped = false;
                    for c in chars.by_ref() {
                        if c == '\'' && !escaped {
                            break;
                        }
                        escaped = c == '\\' && !escaped;
                    }
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path that starts with `crate`, `super` or `self` in `code`, groups expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let bytes: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        if starts_word {
            for head in ["crate::", "super::", "self::"] {
                let h: Vec<char> = head.chars().collect();
                if bytes[i..].starts_with(&h) {
                    let first = head.trim_end_matches(':').to_string();
                    let (list, end) = parse_tail(&bytes, i + h.len(), vec![first]);
                    found.extend(list);
                    i = end;
                    break;
                }
            }
        }
        i += 1;
    }
    found
}

/// Parses `a::b::{c, d::e}` from `at`, each full path prefixed with `prefix`.
fn parse_tail(s: &[char], mut at: usize, mut prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    loop {
        while at < s.len() && s[at].is_whitespace() {
            at += 1;
        }
        if at < s.len() && s[at] == '{' {
            let mut all = Vec::new();
            at += 1;
            loop {
                while at < s.len() && (s[at].is_whitespace() || s[at] == ',') {
                    at += 1;
                }
                if at >= s.len() || s[at] == '}' {
                    return (all, at + 1);
                }
                let (list, end) = parse_tail(s, at, prefix.clone());
                all.extend(list);
                at = end;
            }
        }
        let start = at;
        while at < s.len() && (s[at].is_alphanumeric() || s[at] == '_') {
            at += 1;
        }
        if start == at {
            return (vec![prefix], at);
        }
        prefix.push(s[start..at].iter().collect());
        if s.get(at) == Some(&':') && s.get(at + 1) == Some(&':') {
            at += 2;
        } else {
            return (vec![prefix], at);
        }
    }
}

/// The library file a path in `from` names: the longest module prefix that is a file.
fn resolve(
    path: &[String],
    from: &[String],
    files: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut base: Vec<String> = Vec::new();
    let rest;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") | Some("super") => {
            // `self` is the file's own module (the folder's for a mod.rs), `super` its parent.
            base = from.to_vec();
            let mut parts = path;
            if parts[0] == "self" {
                parts = &parts[1..];
            }
            let mut ups = 0;
            while parts.first().is_some_and(|p| p == "super") {
                ups += 1;
                parts = &parts[1..];
            }
            for _ in 0..ups {
                base.pop();
            }
            rest = parts;
        }
        _ => return None,
    }
    let mut best = None;
    let mut module = base.clone();
    if files.contains_key(&module) && !module.is_empty() {
        best = Some(module.clone());
    }
    for part in rest {
        module.push(part.clone());
        if files.contains_key(&module) {
            best = Some(module.clone());
        } else {
            break;
        }
    }
    best
}

/// Edges between library files (module paths), test modules left out.
fn file_imports(
    files: &BTreeMap<Vec<String>, PathBuf>,
) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut edges = BTreeMap::new();
    for (module, file) in files {
        let source = std::fs::read_to_string(file).unwrap();
        let before_tests = source.split("#[cfg(test)]").next().unwrap_or_default();
        let targets: BTreeSet<Vec<String>> = paths(&code_only(before_tests))
            .iter()
            .filter_map(|p| resolve(p, module, files))
            .filter(|target| target != module)
            .collect();
        edges.insert(module.clone(), targets);
    }
    edges
}

/// The circles of a graph (strongly connected components of more than one node).
fn circles<N: Ord + Clone>(edges: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    // Plain reachability is enough at this size: a and b are in one circle when each reaches
    // the other.
    let reach = |from: &N| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<N, BTreeSet<N>> = edges.keys().map(|n| (n.clone(), reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for n in edges.keys() {
        if done.contains(n) || !reaches[n].contains(n) {
            continue;
        }
        let circle: Vec<N> = edges
            .keys()
            .filter(|m| reaches[n].contains(*m) && reaches.get(*m).is_some_and(|r| r.contains(n)))
            .cloned()
            .collect();
        done.extend(circle.iter().cloned());
        found.push(circle);
    }
    found
}

/// The layer table of ARCHITECTURE.md: rows `| N | name | `a`, `b` | rule |`, top-level modules.
fn layers() -> BTreeMap<String, (usize, String)> {
    let page = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut layer_of = BTreeMap::new();
    for line in page.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(Ok(number)) = cells.get(1).map(|c| c.parse::<usize>()) else { continue };
        let name = cells[2].to_string();
        // The modules are the `quoted` names of the third cell; `cli` is the binary.
        for module in cells[3].split('`').skip(1).step_by(2) {
            if module == "cli" {
                continue;
            }
            let previous = layer_of.insert(module.to_string(), (number, name.clone()));
            assert!(previous.is_none(), "ARCHITECTURE.md lists `{module}` in two layers");
        }
    }
    assert!(!layer_of.is_empty(), "ARCHITECTURE.md has no layer table");
    layer_of
}

#[test]
fn every_module_imports_only_its_own_layer_and_those_below() {
    let files = library_files();
    let layer_of = layers();
    let top: BTreeSet<String> = files.keys().map(|m| m[0].clone()).collect();
    let unlisted: Vec<&String> = top.iter().filter(|m| !layer_of.contains_key(*m)).collect();
    assert!(unlisted.is_empty(), "modules missing from ARCHITECTURE.md's layers: {unlisted:?}");
    let gone: Vec<&String> = layer_of.keys().filter(|m| !top.contains(*m)).collect();
    assert!(gone.is_empty(), "ARCHITECTURE.md lists modules that do not exist: {gone:?}");
    let mut wrong = Vec::new();
    for (from, targets) in file_imports(&files) {
        for to in targets {
            let (a, b) = (&layer_of[&from[0]], &layer_of[&to[0]]);
            if b.0 > a.0 {
                wrong.push(format!(
                    "{} (layer {} {}) imports {} (layer {} {})",
                    from.join("::"),
                    a.0,
                    a.1,
                    to.join("::"),
                    b.0,
                    b.1
                ));
            }
        }
    }
    judge(" imports ", wrong);
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let files = library_files();
    let by_file = file_imports(&files);
    let mut by_module: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in &by_file {
        let entry = by_module.entry(from[0].clone()).or_default();
        entry.extend(targets.iter().map(|t| t[0].clone()).filter(|t| *t != from[0]));
    }
    let modules = circles(&by_module).into_iter().map(|c| c.join(", "));
    let within = circles(&by_file)
        .into_iter()
        .map(|c| c.iter().map(|m| m.join("::")).collect::<Vec<_>>().join(", "));
    judge("circle: ", modules.chain(within).map(|c| format!("circle: {c}")).collect());
}

#[test]
fn no_file_is_over_the_line_limit_before_its_tests() {
    let long: Vec<String> = library_files()
        .values()
        .chain([root().join("src/main.rs")].iter())
        .filter_map(|file| {
            let source = std::fs::read_to_string(file).ok()?;
            let lines = source.split("#[cfg(test)]").next().unwrap_or_default().lines().count();
            let name = file.strip_prefix(root()).unwrap_or(file).display().to_string();
            (lines > MAX_LINES_BEFORE_TESTS).then(|| format!("{name} is over the line limit"))
        })
        .collect();
    judge(" is over the line limit", long);
}

#[test]
fn the_reader_sees_groups_relative_paths_and_skips_comments() {
    let code = code_only(
        "use crate::{a::B, c::{d, e::F}};\n// use crate::hidden;\nlet s = \"crate::nope\";\nsuper::g::h();",
    );
    let found = paths(&code);
    let joined: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(joined, ["crate::a::B", "crate::c::d", "crate::c::e::F", "super::g::h"]);
    let mut edges = BTreeMap::new();
    edges.insert(1, BTreeSet::from([2]));
    edges.insert(2, BTreeSet::from([3]));
    edges.insert(3, BTreeSet::from([1]));
    edges.insert(4, BTreeSet::from([1]));
    assert_eq!(circles(&edges), vec![vec![1, 2, 3]]);
}
