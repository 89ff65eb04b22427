//! The layout's rules, checked on the source tree (../shared/ARCHITECTURE.md, "Layout"):
//!
//! - imports point downward: a module imports only modules of its own layer or below, and
//!   modules of one layer do not import each other in a cycle;
//! - only `src/store/` writes SQL.
//!
//! Each top-level module of `src/` must be listed in [`LAYERS`]; a new one fails the test
//! until it is placed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first. A module may import its own layer and the layers below it.
const LAYERS: &[&[&str]] = &[
    // The binary, its commands, and what drives the whole service from outside.
    &["main", "cli", "commands", "app", "eval", "bench"],
    // The HTTP surface.
    &["http"],
    // The turn, and the capabilities that drive it.
    &["pipeline", "commerce", "flows", "analytics", "webhooks_out"],
    // What a turn is made of.
    &["compliance", "crm", "catalog", "llm", "guard", "score", "escalation", "sms", "jobs", "demo"],
    // All SQL.
    &["store"],
    // Values and plumbing with no knowledge of the rest.
    &["domain", "config", "clock", "text", "auth", "rows"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to: `src/http/api.rs` → `http`, `src/jobs.rs` → `jobs`.
fn top_module(file: &Path) -> String {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().to_string();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules a source text names through `crate::` (in paths and in
/// `use crate::{a, b::c}` groups). Macros exported at the crate root (`crate::with_db!`)
/// are not modules.
fn imported_modules(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in source.match_indices("crate::") {
        let rest = &source[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !name.is_empty() && name != "self" {
                    found.insert(name);
                }
            }
            continue;
        }
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        let is_macro = rest[name.len()..].starts_with('!');
        if !name.is_empty() && !is_macro {
            found.insert(name);
        }
    }
    found
}

/// Module → the modules it imports, over the whole tree.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src()) {
        let module = top_module(&file);
        if module == "lib" {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        let imports = graph.entry(module.clone()).or_default();
        imports.extend(imported_modules(&source).into_iter().filter(|m| *m != module));
    }
    graph
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<String> = import_graph().into_keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(unplaced.is_empty(), "place these modules in LAYERS: {unplaced:?}");
}

#[test]
fn imports_point_downward() {
    let graph = import_graph();
    let mut upward = Vec::new();
    for (module, imports) in &graph {
        let Some(own) = layer_of(module) else { continue };
        for imported in imports {
            if layer_of(imported).is_some_and(|theirs| theirs < own) {
                upward.push(format!("{module} imports {imported}"));
            }
        }
    }
    assert!(upward.is_empty(), "upward imports: {upward:#?}");
}

#[test]
fn modules_of_one_layer_import_each_other_without_a_cycle() {
    let graph = import_graph();
    // Depth-first search for a cycle among edges inside one layer.
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_string());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_string());
        for next in graph.get(module).into_iter().flatten() {
            if layer_of(next) == layer_of(module)
                && let Some(cycle) = visit(next, graph, path, done)
            {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn only_the_store_writes_sql() {
    let store = src().join("store");
    let mut outside = Vec::new();
    for file in rust_files(&src()) {
        if file.starts_with(&store) {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for needle in ["sqlx::query", "query_as::<", "query_scalar::<", "QueryBuilder", "with_db!(", "with_tx!("] {
            if source.contains(needle) {
                outside.push(format!("{}: {needle}", file.strip_prefix(src()).unwrap().display()));
            }
        }
    }
    assert!(outside.is_empty(), "SQL outside src/store/: {outside:#?}");
}

#[test]
fn the_checks_see_what_they_check() {
    // The parser finds paths, groups and nested paths, and skips root macros.
    let found = imported_modules(
        "use crate::store::Db;\nuse crate::{domain::Phone, sms};\nlet x = crate::llm::Draft::default();\ncrate::with_db!(db, |p| p);",
    );
    assert_eq!(found, ["domain", "llm", "sms", "store"].into_iter().map(String::from).collect());
    // The tree is read: the store imports the domain and nothing above it.
    let graph = import_graph();
    assert!(graph.contains_key("http") && graph.contains_key("store"), "{graph:?}");
    assert!(graph["http"].contains("store"));
}
