//! The modules of every crate form layers: no `use crate::..`/`super::..`
//! path makes two modules depend on each other, directly or round a
//! longer loop. A child module using its parent (or the parent its
//! child) does not count. Test modules (after `#[cfg(test)]`) and
//! comments, doc links included, are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Module path (`scheduler::run`) -> file, for one crate's `src`.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            found.insert(parts.join("::"), path);
        }
    }
    found
}

/// The code of a file without comments and without its test module.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module a `crate::`/`super::`/`self::` path names, seen from `from`.
fn resolve(from: &str, path: &str, known: &BTreeMap<String, PathBuf>) -> Option<String> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if from.is_empty() {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    match segments.first().copied() {
        Some("crate") => {
            base.clear();
            segments.remove(0);
        }
        Some("self") => {
            segments.remove(0);
        }
        Some("super") => {
            while segments.first() == Some(&"super") {
                base.pop();
                segments.remove(0);
            }
        }
        _ => return None,
    }
    (0..=segments.len()).rev().find_map(|take| {
        let mut candidate = base.clone();
        candidate.extend(&segments[..take]);
        let candidate = candidate.join("::");
        known.contains_key(&candidate).then_some(candidate)
    })
}

fn is_within(inner: &str, outer: &str) -> bool {
    outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}::"))
}

/// Every module that can reach itself again through `edges`.
fn modules_in_cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut cyclic = BTreeSet::new();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = edges[start].iter().collect();
        while let Some(next) = todo.pop() {
            if next == start {
                cyclic.insert(start.clone());
                break;
            }
            if seen.insert(next) {
                todo.extend(edges.get(next).into_iter().flatten());
            }
        }
    }
    cyclic
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut failures = Vec::new();
    for name in ["context", "core", "reactor", "concurrency", "fibrio"] {
        let known = modules(&crates.join(name).join("src"));
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, path) in &known {
            let code = code(path);
            let uses = edges.entry(module.clone()).or_default();
            for start in code.match_indices(['c', 's']).map(|(at, _)| at) {
                let rest = &code[start..];
                if !(rest.starts_with("crate::")
                    || rest.starts_with("super::")
                    || rest.starts_with("self::"))
                {
                    continue;
                }
                if start > 0 {
                    let before = code.as_bytes()[start - 1];
                    if before.is_ascii_alphanumeric() || before == b'_' {
                        continue;
                    }
                }
                let path: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let Some(target) = resolve(module, path.trim_end_matches(':'), &known) else {
                    continue;
                };
                if !is_within(module, &target) && !is_within(&target, module) {
                    uses.insert(target);
                }
            }
        }
        let cyclic = modules_in_cycles(&edges);
        if !cyclic.is_empty() {
            failures.push(format!("{name}: {cyclic:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "modules that depend on each other (directly or round a loop): {failures:?}"
    );
}

#[test]
fn the_checker_finds_a_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    edges.entry("c".into()).or_default().insert("a".into());
    edges.entry("d".into()).or_default().insert("a".into());
    let cyclic = modules_in_cycles(&edges);
    assert_eq!(
        cyclic,
        ["a", "b", "c"].map(String::from).into_iter().collect()
    );
}
