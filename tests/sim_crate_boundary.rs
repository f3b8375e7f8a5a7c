//! The boundary between the engine library and the simulator crate, read
//! from the sources: no file of the engine library (`src/`, except the
//! binary's `main.rs` and its `embedded_sim.rs`) mentions `qt_sim`, no file
//! of the simulator (`sim/src/`) mentions `quantum_trader`, and the
//! simulator's manifest does not depend on the engine package. A planted
//! `use quantum_trader::…` in the simulator, or `use qt_sim::…` in the
//! engine, fails this test.

use std::path::{Path, PathBuf};

/// Files of the binary only: they may name both crates.
const BINARY_ONLY: [&str; 2] = ["src/main.rs", "src/embedded_sim.rs"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `(file, line number, line)` of every line of `text` that mentions `word`.
fn mentions(file: &str, text: &str, word: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(word))
        .map(|(n, l)| format!("{file}:{}: {}", n + 1, l.trim()))
        .collect()
}

/// Every mention of `word` in the `.rs` files under `root/dir`, except `skip`.
fn scan(root: &Path, dir: &str, word: &str, skip: &[&str]) -> (usize, Vec<String>) {
    let mut files = Vec::new();
    rust_files(&root.join(dir), &mut files);
    let mut found = Vec::new();
    let mut n = 0;
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .expect("under the root")
            .to_string_lossy()
            .replace('\\', "/");
        if skip.contains(&rel.as_str()) {
            continue;
        }
        n += 1;
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{rel}: {e}"));
        found.extend(mentions(&rel, &text, word));
    }
    (n, found)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn engine_library_never_names_the_simulator() {
    let (n, found) = scan(&root(), "src", "qt_sim", &BINARY_ONLY);
    assert!(n > 50, "only {n} engine files read: wrong root?");
    assert!(
        found.is_empty(),
        "the engine library must not use the simulator crate (only src/main.rs and \
         src/embedded_sim.rs may):\n{}",
        found.join("\n")
    );
    // The binary does wire it (else the check above proves nothing).
    let main = std::fs::read_to_string(root().join("src/embedded_sim.rs")).unwrap();
    assert!(main.contains("qt_sim::"));
}

#[test]
fn simulator_never_names_the_engine() {
    let (n, found) = scan(&root(), "sim/src", "quantum_trader", &[]);
    assert!(n > 10, "only {n} simulator files read: wrong root?");
    assert!(
        found.is_empty(),
        "the simulator must not use engine code (its venue facts come from the venues' \
         documentation):\n{}",
        found.join("\n")
    );
    let manifest = std::fs::read_to_string(root().join("sim/Cargo.toml")).unwrap();
    let deps: toml::Table = toml::from_str(&manifest).expect("sim/Cargo.toml is TOML");
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(t) = deps.get(section).and_then(|v| v.as_table()) {
            assert!(
                !t.contains_key("quantum-trader") && !t.contains_key("quantum_trader"),
                "sim/Cargo.toml [{section}] depends on the engine"
            );
        }
    }
}

#[test]
fn a_planted_import_is_caught() {
    let planted = "//! fine\nuse quantum_trader::venue::binance::USED_WEIGHT_HEADER;\n";
    assert_eq!(
        mentions("sim/src/server.rs", planted, "quantum_trader"),
        vec!["sim/src/server.rs:2: use quantum_trader::venue::binance::USED_WEIGHT_HEADER;"]
    );
    let planted = "use qt_sim::SimHandle;\n";
    assert_eq!(
        mentions("src/pipeline/engine.rs", planted, "qt_sim").len(),
        1
    );
    // And on disk: a planted file in a scratch tree is found by `scan`.
    let dir = std::env::temp_dir().join(format!("qt-boundary-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sim/src/okx")).unwrap();
    std::fs::write(dir.join("sim/src/lib.rs"), "//! ok\n").unwrap();
    std::fs::write(
        dir.join("sim/src/okx/ws.rs"),
        "use quantum_trader::core::Venue;\n",
    )
    .unwrap();
    let (n, found) = scan(&dir, "sim/src", "quantum_trader", &[]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(n, 2);
    assert_eq!(
        found,
        vec!["sim/src/okx/ws.rs:1: use quantum_trader::core::Venue;"]
    );
}
