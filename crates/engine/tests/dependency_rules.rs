//! The architecture's arrows, checked on the real dependency graph that
//! `cargo metadata` resolves: shell and CLI → engine → graph, never back;
//! no production crate links the test emulator (an HTTP server) or Tauri
//! below the shell.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// Every package reached from `root` through normal (non-dev, non-build)
/// dependencies, on this platform, by name.
fn normal_closure(meta: &Value, root: &str) -> BTreeSet<String> {
    let packages: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let start = packages
        .iter()
        .find(|(_, name)| **name == root)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("no package {root} in the workspace"));
    let mut seen = BTreeSet::new();
    let mut todo = vec![start];
    while let Some(id) = todo.pop() {
        if !seen.insert(packages[id].to_string()) && id != start {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            if normal {
                todo.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    seen.remove(root);
    seen
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .arg("--filter-platform")
        .arg(host())
        .current_dir(std::env::var_os("CARGO_MANIFEST_DIR").expect("tests run by cargo"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn host() -> String {
    let out = Command::new("rustc").arg("-vV").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .unwrap()
}

#[test]
fn dependencies_point_one_way_and_production_never_links_the_emulator() {
    let meta = metadata();
    let engine = normal_closure(&meta, "nuage-engine");
    let graph = normal_closure(&meta, "nuage-graph");
    let cli = normal_closure(&meta, "nuage-cli");
    let app = normal_closure(&meta, "nuage-app");

    for front in ["nuage-cli", "nuage-app", "tauri"] {
        assert!(!engine.contains(front), "the engine depends on {front}");
    }
    assert!(
        !engine.iter().any(|p| p.starts_with("tauri")),
        "the engine depends on Tauri"
    );
    for up in ["nuage-engine", "nuage-cli", "nuage-app"] {
        assert!(!graph.contains(up), "nuage-graph depends on {up}");
    }
    assert!(!cli.contains("nuage-app"), "the CLI depends on the app");
    assert!(!app.contains("nuage-cli"), "the app depends on the CLI");
    for (name, closure) in [
        ("nuage-engine", &engine),
        ("nuage-graph", &graph),
        ("nuage-cli", &cli),
        ("nuage-app", &app),
    ] {
        assert!(
            !closure.contains("nuage-emulator"),
            "{name} links the test emulator in production"
        );
        // The emulator's server stack must not ride along either.
        assert!(!closure.contains("axum"), "{name} links axum in production");
    }
    // The rules are checked on a real graph, not an empty one.
    assert!(engine.contains("nuage-graph") && engine.contains("rusqlite"));
    assert!(app.contains("tauri") && app.contains("nuage-engine"));
}
