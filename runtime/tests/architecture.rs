//! The shape `ARCHITECTURE.md` describes, checked on the sources: what each layer may import,
//! where a database driver and task spawning may appear, and that the graph of imports between
//! the files of `runtime/src` has no cycle.
//!
//! Imports are read from the code (comments and doc comments are skipped): every `crate::`,
//! `super::` and `self::` path, `use` groups included, is resolved to the deepest module of the
//! crate it names. A path into one's own file is not an edge, and unit tests (the `#[cfg(test)]`
//! module at the end of a file) are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One source file: its module path (`core::error`) and its code without comments.
struct Source {
    module: Vec<String>,
    code: String,
}

fn sources() -> BTreeMap<String, Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let mut module: Vec<String> = relative
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_owned)
                .collect();
            if module.last().is_some_and(|last| last == "mod" || last == "lib") {
                module.pop();
            }
            let text = fs::read_to_string(&path).unwrap();
            // Unit tests come last in a file and may import what the file's code may not.
            let code = without_comments(text.split("#[cfg(test)]").next().unwrap_or(""));
            (module.join("::"), Source { module, code })
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The code of a file without its comments, string contents kept (a URL in a string has `//`).
fn without_comments(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut previous = '\0';
        let mut cut = line.len();
        for (at, c) in line.char_indices() {
            if c == '"' && previous != '\\' {
                in_string = !in_string;
            }
            if !in_string && c == '/' && previous == '/' {
                cut = at - 1;
                break;
            }
            previous = c;
        }
        code.push_str(&line[..cut]);
        code.push('\n');
    }
    code
}

/// The code with the contents of its string literals left out (messages may name anything).
fn without_strings(code: &str) -> String {
    let mut kept = String::with_capacity(code.len());
    let (mut in_string, mut previous) = (false, '\0');
    for c in code.chars() {
        if c == '"' && previous != '\\' {
            in_string = !in_string;
            kept.push(c);
        } else if !in_string {
            kept.push(c);
        }
        previous = c;
    }
    kept
}

/// Every path the code names, starting with `crate`, `super` or `self`, with `use` groups
/// (`a::{b, c::D}`) expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut at = 0;
    while at < bytes.len() {
        let starts_word =
            at == 0 || !(bytes[at - 1].is_alphanumeric() || bytes[at - 1] == '_' || bytes[at - 1] == '$');
        let rest: String = bytes[at..bytes.len().min(at + 7)].iter().collect();
        let head = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|h| rest.starts_with(h));
        match head.filter(|_| starts_word) {
            Some(head) => {
                let (path, end) = read_path(&bytes, at);
                expand(&path, &mut found);
                at = end.max(at + head.len());
            }
            None => at += 1,
        }
    }
    found
}

/// The path starting at `at`, with any `{...}` group kept whole, and where it ends.
fn read_path(chars: &[char], mut at: usize) -> (String, usize) {
    let mut path = String::new();
    let mut depth = 0;
    while at < chars.len() {
        let c = chars[at];
        let keep =
            c.is_alphanumeric() || c == '_' || c == ':' || (depth > 0 && matches!(c, ',' | ' ' | '\n' | '*'));
        if c == '{' {
            depth += 1;
        } else if c == '}' {
            if depth == 0 {
                break;
            }
            depth -= 1;
        } else if !keep {
            break;
        }
        path.push(c);
        at += 1;
        if depth == 0 && c == '}' {
            break;
        }
    }
    (path, at)
}

fn expand(path: &str, found: &mut Vec<Vec<String>>) {
    match path.find('{') {
        None => found.push(segments(path)),
        Some(open) => {
            let prefix = &path[..open];
            let inner = &path[open + 1..path.rfind('}').unwrap_or(path.len())];
            for part in split_top(inner) {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                if part == "self" {
                    found.push(segments(prefix));
                } else {
                    expand(&format!("{prefix}{part}"), found);
                }
            }
        }
    }
}

fn split_top(inner: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (at, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
}

fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "*")
        .map(str::to_owned)
        .collect()
}

/// The module of the crate a path from `from` names: the deepest existing one.
fn resolve(from: &[String], path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut base: Vec<String> = match path.first()?.as_str() {
        "crate" => Vec::new(),
        // A file is its module, whether `a/b.rs` or `a/b/mod.rs`.
        "self" => from.to_vec(),
        "super" => {
            let mut base = from.to_vec();
            base.pop();
            base
        }
        _ => return None,
    };
    let mut rest = &path[1..];
    while rest.first().is_some_and(|s| s == "super") {
        base.pop();
        rest = &rest[1..];
    }
    let mut deepest = base.clone();
    for segment in rest {
        base.push(segment.clone());
        if modules.contains(&base) {
            deepest = base.clone();
        } else {
            break;
        }
    }
    Some(deepest)
}

/// Every edge: importing file → imported file (by module path).
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeSet<Vec<String>> = sources.values().map(|s| s.module.clone()).collect();
    let mut edges = BTreeMap::new();
    for (name, source) in &sources {
        let targets: &mut BTreeSet<String> = edges.entry(name.clone()).or_default();
        for path in paths(&source.code) {
            if let Some(target) = resolve(&source.module, &path, &modules) {
                let target = target.join("::");
                if &target != name {
                    targets.insert(target);
                }
            }
        }
    }
    edges
}

fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
}

#[test]
fn layers_import_only_what_they_may() {
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("core", &["core"][..]),
        ("write", &["core", "write"][..]),
        ("read", &["core", "read"][..]),
        ("backend", &["core", "backend"][..]),
        ("process", &["core", "write", "read", "process"][..]),
    ]);
    let mut broken = Vec::new();
    for (from, targets) in edges() {
        let Some(may) = allowed.get(layer(&from)) else {
            continue;
        };
        for target in targets {
            if !may.contains(&layer(&target)) {
                broken.push(format!("{from} imports {target}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports across the layers' rules:\n{}",
        broken.join("\n")
    );
}

#[test]
fn only_backends_name_a_driver_and_the_model_spawns_nothing() {
    let mut broken = Vec::new();
    for (name, source) in sources() {
        let layer = layer(&name);
        let code = without_strings(&source.code);
        if code.contains("sqlx") && !matches!(layer, "backend" | "") {
            broken.push(format!("{name} names sqlx"));
        }
        if layer == "core" && (code.contains("spawn") || code.contains("tokio::task")) {
            broken.push(format!("{name} spawns a task"));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_module_graph_has_no_cycle() {
    let edges = edges();
    // Depth-first search with colours: a grey node met again closes a cycle.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    let mut stack: Vec<&str> = Vec::new();
    fn visit<'a>(
        node: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(node, 1);
        stack.push(node);
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|n| *n == next).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[from..].iter().map(|n| (*n).to_owned()).collect();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(cycle) = visit(next, edges, state, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node, 2);
        None
    }
    for node in edges.keys() {
        if !state.contains_key(node.as_str()) {
            if let Some(cycle) = visit(node, &edges, &mut state, &mut stack) {
                panic!("import cycle: {}", cycle.join(" -> "));
            }
        }
    }
    assert!(
        edges.len() > 40,
        "expected to read the whole crate, read {} files",
        edges.len()
    );
    // The reader finds imports at all: a few that are known to be there.
    for (from, to) in [
        ("core::store", "core::limits"),
        ("write::execute", "write::chronicle"),
        ("read::runner::apply", "read::runner::session"),
        ("backend::postgres::append", "backend::postgres::database"),
    ] {
        assert!(
            edges[from].contains(to),
            "{from} should import {to}: {:?}",
            edges[from]
        );
    }
}

#[test]
fn the_reader_resolves_paths_as_rustc_does() {
    let modules: BTreeSet<Vec<String>> = [
        vec![],
        vec!["core".to_owned()],
        vec!["core".to_owned(), "error".to_owned()],
    ]
    .into_iter()
    .collect();
    let from = vec!["core".to_owned(), "store".to_owned()];
    let path = |p: &str| segments(p);
    assert_eq!(
        resolve(&from, &path("super::error::StoreError"), &modules),
        Some(vec!["core".to_owned(), "error".to_owned()])
    );
    assert_eq!(
        resolve(&from, &path("crate::core::error::StoreError"), &modules),
        Some(vec!["core".to_owned(), "error".to_owned()])
    );
    assert_eq!(resolve(&from, &path("crate::StoreError"), &modules), Some(vec![]));
    let mut found = Vec::new();
    expand("crate::core::{error::{A, B}, self}", &mut found);
    assert_eq!(
        found,
        vec![
            path("crate::core::error::A"),
            path("crate::core::error::B"),
            path("crate::core")
        ]
    );
    assert_eq!(
        without_comments("let a = \"http://x\"; // b"),
        "let a = \"http://x\"; \n"
    );
}
