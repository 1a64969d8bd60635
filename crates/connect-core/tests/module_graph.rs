#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The modules of connect-core import each other without cycles: each
//! module uses only modules below it (the map at the top of `src/lib.rs`).
//!
//! An import is any `crate::module` path in code (comments and doc comments
//! are skipped). Names re-exported at the crate root (`crate::Message`) are
//! not followed: within the crate, write the module path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the modules its files name as `crate::module`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let module_of = |path: &Path| -> Option<String> {
        let relative = path.strip_prefix(&src).unwrap();
        let first = relative.components().next()?.as_os_str().to_str()?;
        match first {
            "lib.rs" => None,
            file => Some(file.trim_end_matches(".rs").to_owned()),
        }
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for file in &files {
        let Some(module) = module_of(file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (index, _) in code.match_indices("crate::") {
                let rest = &code[index + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if name != module && modules.contains(&name) {
                    graph.get_mut(&module).unwrap().insert(name);
                }
            }
        }
    }
    graph
}

/// A cycle of `graph`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        states: &mut BTreeMap<String, State>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match states.get(node) {
            Some(State::Done) => return None,
            Some(State::Open) => {
                let start = path.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        states.insert(node.to_owned(), State::Open);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, states, path) {
                return Some(cycle);
            }
        }
        path.pop();
        states.insert(node.to_owned(), State::Done);
        None
    }
    let mut states = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut states, &mut Vec::new()))
}

#[test]
fn the_modules_of_connect_core_import_each_other_without_cycles() {
    let graph = imports();
    assert!(graph.contains_key("runtime") && graph.contains_key("listener"));
    assert!(
        graph["runtime"].contains("dead_letter"),
        "the import scan finds imports: {graph:?}"
    );
    if let Some(cycle) = cycle(&graph) {
        panic!(
            "connect-core modules import each other in a cycle: {}",
            cycle.join(" → ")
        );
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
}
