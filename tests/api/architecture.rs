//! The top-level modules of `src/` form layers: no module reaches, through any
//! chain of `crate::` paths, back to itself. Inline paths count as much as
//! `use` lines (the cycles this test was written for were all inline).
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// Every `.rs` file under `dir`, with the top-level module it belongs to.
fn sources(dir: &Path, top: Option<&str>, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let module = top.map_or(name.clone(), str::to_owned);
        if path.is_dir() {
            sources(&path, Some(&module), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((module, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The first segment of each path a text names through `crate::`: the
/// `crate::a::b` form and each item of a `crate::{a, b::c}` group.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(ch);
                }
            }
            found.insert(first_segment(&item));
        } else {
            found.insert(first_segment(rest));
        }
    }
    found.remove("");
    found
}

fn first_segment(path: &str) -> String {
    path.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// A cycle through `start`, if the graph has one.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_top_level_module_depends_on_itself_through_others() {
    let mut files = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), None, &mut files);
    let modules: BTreeSet<String> =
        files.iter().map(|(m, _)| m.clone()).filter(|m| m != "main" && m != "lib").collect();
    assert!(modules.contains("reconcile") && modules.contains("config"), "read the source tree: {modules:?}");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &files {
        if !modules.contains(module) {
            continue;
        }
        let uses = crate_paths(text).into_iter().filter(|m| m != module && modules.contains(m));
        graph.entry(module.clone()).or_default().extend(uses);
    }
    let cycles: Vec<String> = modules.iter().filter_map(|m| cycle_from(&graph, m)).map(|c| c.join(" → ")).collect();
    assert!(cycles.is_empty(), "modules that reach themselves:\n{}", cycles.join("\n"));
}

#[test]
fn the_path_reader_sees_inline_paths_and_groups() {
    let text = "use crate::{a, b::{c, d}, e::f};\nfn g() { crate::h::i(); let _ = crate::j; }";
    let expected: BTreeSet<String> = ["a", "b", "e", "h", "j"].into_iter().map(String::from).collect();
    assert_eq!(crate_paths(text), expected);
}

#[test]
fn a_cycle_is_found_and_a_chain_is_not() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry((*a).to_owned()).or_default().insert((*b).to_owned());
        }
        g
    };
    let looped = graph(&[("config", "db"), ("db", "store"), ("store", "config")]);
    assert_eq!(cycle_from(&looped, "config").unwrap(), ["config", "db", "store", "config"]);
    let chain = graph(&[("config", "db"), ("db", "store")]);
    assert_eq!(cycle_from(&chain, "config"), None);
}

/// The sibling files of one folder that a text names: `super::x` and
/// `crate::<folder path>::x`, for each sibling `x`.
fn sibling_paths(text: &str, folder: &str, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("super::") {
        rest = &rest[at + "super::".len()..];
        let names: Vec<String> = match rest.strip_prefix('{') {
            Some(group) => group[..group.find('}').unwrap_or(group.len())].split(',').map(first_segment).collect(),
            None => vec![first_segment(rest)],
        };
        found.extend(names.into_iter().filter(|n| siblings.contains(n)));
    }
    // `crate::` paths, nested groups expanded: `crate::{inbox::{event::X}}` too.
    let folder: Vec<&str> = folder.split("::").collect();
    for path in crate_trees(text) {
        if path.len() > folder.len() && path.iter().zip(&folder).all(|(a, b)| a == b) {
            let next = &path[folder.len()];
            if siblings.contains(next) {
                found.insert(next.clone());
            }
        }
    }
    found
}

/// Every path a text names through `crate::`, with `use` groups expanded into
/// one path each (segments only; `self` and globs end a path).
fn crate_trees(text: &str) -> Vec<Vec<String>> {
    /// Reads `a::b::{c, d::e}` at the start of `s` below `prefix`; returns how
    /// many bytes it read.
    fn tree(s: &str, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
        let mut path = prefix.to_vec();
        let mut i = 0;
        loop {
            let rest = &s[i..];
            let trimmed = rest.trim_start();
            i += rest.len() - trimmed.len();
            if let Some(group) = trimmed.strip_prefix('{') {
                i += 1;
                let mut inner = group;
                loop {
                    let read = tree(inner, &path, out);
                    i += read;
                    inner = &inner[read..];
                    let after = inner.trim_start();
                    i += inner.len() - after.len();
                    match after.chars().next() {
                        Some(',') => {
                            i += 1;
                            inner = &after[1..];
                        }
                        Some('}') => return i + 1,
                        _ => return i,
                    }
                }
            }
            let name = first_segment(trimmed);
            if name.is_empty() {
                if path.len() > prefix.len() {
                    out.push(path);
                }
                return i;
            }
            i += name.len();
            if name != "self" {
                path.push(name);
            }
            match s[i..].strip_prefix("::") {
                Some(_) => i += 2,
                None => {
                    if path.len() > prefix.len() {
                        out.push(path);
                    }
                    return i;
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let read = tree(rest, &[], &mut out);
        rest = &rest[read.min(rest.len())..];
    }
    out
}

#[test]
fn nested_use_groups_are_read_as_paths() {
    let paths = crate_trees("use crate::{db::stmt, inbox::{event::{NewEvent, Stored}, writer::insert_events}};");
    let shown: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(shown, ["db::stmt", "inbox::event::NewEvent", "inbox::event::Stored", "inbox::writer::insert_events"]);
    let files: BTreeSet<String> = ["event", "writer", "spool"].map(str::to_owned).into();
    let text = "use crate::{inbox::{event::NewEvent, writer::insert_events}};";
    assert_eq!(sibling_paths(text, "inbox", &files), ["event", "writer"].map(str::to_owned).into());
}

/// Inside each folder too, no file reaches back to itself through its
/// siblings (`mod.rs`, which declares them, is left out: a child naming what
/// its parent defines is the ordinary shape of a module).
#[test]
fn no_file_depends_on_itself_through_its_siblings() {
    fn folders(dir: &Path, name: &str, out: &mut Vec<(String, BTreeMap<String, String>)>) {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let inner = if name.is_empty() { stem } else { format!("{name}::{stem}") };
                folders(&path, &inner, out);
            } else if path.extension().is_some_and(|e| e == "rs") && stem != "mod" {
                files.insert(stem, std::fs::read_to_string(&path).unwrap());
            }
        }
        if !name.is_empty() {
            out.push((name.to_owned(), files));
        }
    }
    let mut all = Vec::new();
    folders(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), "", &mut all);
    assert!(all.iter().any(|(f, files)| f == "reconcile" && files.contains_key("batch")), "read the folders");
    let mut cycles = Vec::new();
    for (folder, files) in &all {
        let siblings: BTreeSet<String> = files.keys().cloned().collect();
        let graph: BTreeMap<String, BTreeSet<String>> = files
            .iter()
            .map(|(name, text)| {
                let mut uses = sibling_paths(text, folder, &siblings);
                uses.remove(name);
                (name.clone(), uses)
            })
            .collect();
        cycles.extend(
            siblings.iter().filter_map(|f| cycle_from(&graph, f)).map(|c| format!("{folder}: {}", c.join(" → "))),
        );
    }
    assert!(cycles.is_empty(), "files that reach themselves through their siblings:\n{}", cycles.join("\n"));
}

/// Every `.rs` file under `src/`, as `(path below src/, text without comment lines)`.
fn source_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let shown = path.to_string_lossy().split("/src/").last().unwrap().to_owned();
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
                out.push((shown, code));
            }
        }
    }
    let mut files = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    files
}

/// Where a seat is decided (the rule), written (members) and audited: in
/// `seats/` only, over the primitives of `store/` (issue 39).
#[test]
fn no_seat_is_decided_or_written_outside_seats() {
    let files = source_files();
    let needles = [
        "target_seat(",
        "manual_seat(",
        "members::put(",
        "members::put_many(",
        "members::enforce(",
        "members::release_directory(",
        "audit::record(",
        "audit::record_many(",
    ];
    let mut found = Vec::new();
    for (file, code) in &files {
        let home = file.starts_with("seats/") || file.starts_with("store/");
        for needle in needles {
            if !home && code.contains(needle) {
                found.push(format!("{file} names {needle}"));
            }
        }
    }
    assert!(files.iter().any(|(f, _)| f == "seats/manual.rs"), "read src/");
    assert!(found.is_empty(), "a seat decided or written outside seats/:\n{}", found.join("\n"));
}

/// Each file that names a rule's needle without being one of its allowed files.
fn named_outside(files: &[(String, String)], rules: &[(&str, &[&str])]) -> Vec<String> {
    let mut found = Vec::new();
    for (file, code) in files {
        for (needle, allowed) in rules {
            if code.contains(needle) && !allowed.contains(&file.as_str()) {
                found.push(format!("{file} names {needle}"));
            }
        }
    }
    found
}

/// One engine decides a directory user's seat (issue 39): the rule's seat is
/// asked for only by the book (`seats/book.rs`), a member's seat is written one
/// at a time only by hand (`seats/manual.rs`), and no savepoint is opened to
/// try a change and undo it (the book saves and restores in memory); the hold
/// preview's savepoint is rolled back whole, by design.
#[test]
fn the_book_is_the_one_engine_for_user_changes() {
    let files = source_files();
    let rules: [(&str, &[&str]); 4] = [
        ("target_seat(", &["seats/rule.rs", "seats/book.rs"]),
        ("members::put(", &["seats/manual.rs"]),
        ("members::put_many(", &["seats/book.rs"]),
        ("c.begin()", &["seats/hold_preview.rs"]),
    ];
    let mut found = named_outside(&files, &rules);
    for (file, code) in &files {
        if code.contains("txn.begin()") || code.contains("savepoint.commit()") {
            found.push(format!("{file} opens a savepoint inside a transaction"));
        }
    }
    assert!(files.iter().any(|(f, _)| f == "seats/book.rs"), "read src/");
    assert!(found.is_empty(), "a second engine for user changes:\n{}", found.join("\n"));
}

/// The one door to seats (`seats::unit`): no code elsewhere locks a plan,
/// takes an organization's group lock for a seat change, or writes the
/// billing outbox's seat messages; only the modules that define those
/// primitives name them.
#[test]
fn only_the_seat_unit_locks_plans_and_writes_seat_messages() {
    let files = source_files();
    // (what is named, the files allowed to name it)
    let rules: [(&str, &[&str]); 5] = [
        ("lock_by_id", &["seats/unit.rs", "store/plans.rs"]),
        ("lock_by_org", &["seats/unit.rs", "store/plans.rs"]),
        ("lock_version = lock_version", &["store/plans.rs"]),
        ("announce_traced", &["seats/unit.rs", "billing/outbox.rs"]),
        ("outbox::announce", &["seats/unit.rs"]),
    ];
    let mut found = named_outside(&files, &rules);
    for (file, code) in &files {
        let group_lock = code.contains("queue::lock_group(") || code.contains("inbox::queue::lock_group");
        if group_lock && file != "seats/unit.rs" {
            found.push(format!("{file} takes a group lock for a seat change"));
        }
    }
    assert!(files.iter().any(|(f, _)| f == "seats/unit.rs"), "read src/");
    assert!(found.is_empty(), "outside the one door (seats::unit):\n{}", found.join("\n"));
}

/// The types `src/` defines, by name, with the files defining them.
fn type_definitions() -> BTreeMap<String, Vec<String>> {
    fn walk(dir: &Path, out: &mut BTreeMap<String, Vec<String>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                let Some(at) = words.iter().position(|w| matches!(*w, "struct" | "enum")) else { continue };
                // Only definitions: the line starts with them or with `pub…`.
                if !words[..at].iter().all(|w| w.starts_with("pub")) {
                    continue;
                }
                let Some(name) = words.get(at + 1).filter(|n| !n.starts_with('$')) else { continue };
                let name: String = name.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                out.entry(name).or_default().push(path.display().to_string());
            }
        }
    }
    let mut found = BTreeMap::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
    found
}

/// A type's name means one thing (issue 39: `Standing`, `Answer`, `BodyError`
/// and `Outcome` each meant two). The exceptions mirror one another on
/// purpose: the admin API's and the plan portal's request bodies, the fake
/// WorkOS's side of WorkOS's requests, and clap's `Command` beside the
/// domain's.
#[test]
fn no_two_types_share_a_name() {
    let mirrors = ["ApproveHold", "AuditQuery", "SetTier", "LinkRequest", "NewOrganization", "Command"];
    let shared: Vec<String> = type_definitions()
        .into_iter()
        .filter(|(name, files)| files.len() > 1 && !mirrors.contains(&name.as_str()))
        .map(|(name, files)| format!("{name}: {}", files.join(", ")))
        .collect();
    assert!(shared.is_empty(), "one name, several types:\n{}", shared.join("\n"));
}
