//! The venue seam, read from the code itself: outside `src/venue/` (where
//! each venue's folder and the registry live) no source file may name a
//! venue: no `Binance`/`Bybit`/`Okx` identifier (the `Venue` enum's
//! variants, its own definition in `src/core/instrument.rs` excepted) and no
//! `binance`/`bybit`/`okx` module path (`venue::okx::...`, `bybit::probe`,
//! `use crate::venue::{binance, ...}`). Code reaches a venue through
//! `venue::registry` or iterates `Venue::ALL`. Comments, string literals
//! and test-only code (`#[cfg(test)]` items, `tests.rs`/`*_tests.rs` files
//! and files only a `#[cfg(test)] mod` pulls in) are not checked: a test may
//! build a Binance instrument as data. The simulator (its own crate,
//! `sim/`) speaks the venues' protocols by design and is outside the seam,
//! and so is `src/embedded_sim.rs`, the binary's bridge that maps each
//! engine venue to the simulator's own (the "its simulator module" step of
//! adding a venue).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

const VARIANTS: [&str; 3] = ["Binance", "Bybit", "Okx"];
const MODULES: [&str; 3] = ["binance", "bybit", "okx"];

/// Paths (relative to the crate root, `/`-separated) that may name venues.
fn allowed(rel: &str) -> bool {
    rel.starts_with("src/venue/") || rel == "src/embedded_sim.rs" || rel == "src/core/instrument.rs"
}

/// `src` with comments and the contents of string and char literals blanked
/// (newlines kept, so line numbers hold).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |c: u8| if c == b'\n' { b'\n' } else { b' ' };
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.extend([b' ', b' ']);
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.extend([b' ', b' ']);
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == b'r' && matches!(b.get(i + 1), Some(b'"') | Some(b'#')) && {
            let mut j = i + 1;
            while b.get(j) == Some(&b'#') {
                j += 1;
            }
            b.get(j) == Some(&b'"') && (i == 0 || !is_ident(b[i - 1]))
        } {
            // Raw string r#"..."#.
            let mut hashes = 0;
            i += 1;
            while b[i] == b'#' {
                hashes += 1;
                i += 1;
            }
            i += 1;
            out.extend(std::iter::repeat_n(b' ', hashes + 2));
            while i < b.len() {
                if b[i] == b'"' && b[i + 1..].iter().take(hashes).all(|&h| h == b'#') {
                    out.extend(std::iter::repeat_n(b' ', hashes + 1));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(b[i]));
                i += 1;
            }
        } else if c == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    out.push(b' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(b' ');
            i += 1;
        } else if c == b'\'' && b.get(i + 2) == Some(&b'\'') {
            out.extend([b' ', b' ', b' ']);
            i += 3;
        } else if c == b'\'' && b.get(i + 1) == Some(&b'\\') {
            // '\n', '\'', '\u{..}'
            out.push(b' ');
            i += 1;
            while i < b.len() && !(b[i] == b'\'' && b[i - 1] != b'\\') {
                out.push(b' ');
                i += 1;
            }
            out.push(b' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `code` (already stripped) with every `#[cfg(test)]` item blanked; the
/// names of `#[cfg(test)] mod name;` declarations go to `test_mods`.
fn drop_test_items(code: &str, test_mods: &mut Vec<String>) -> String {
    let mut out = code.as_bytes().to_vec();
    let mut from = 0;
    while let Some(p) = code[from..].find("#[cfg(test)]") {
        let start = from + p;
        let b = code.as_bytes();
        let mut i = start + "#[cfg(test)]".len();
        // The item ends at its `;` or at the `}` closing its first `{`.
        let mut depth = 0;
        let mut end = b.len();
        while i < b.len() {
            match b[i] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let item = &code[start..end];
        if !item.contains('{') {
            let words: Vec<&str> = item
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .collect();
            if let Some(k) = words.iter().position(|w| *w == "mod")
                && let Some(name) = words.get(k + 1)
            {
                test_mods.push(name.to_string());
            }
        }
        for c in &mut out[start..end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        from = end;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The venue names `code` (stripped, test items dropped) uses, as
/// `(line, what)`.
fn venue_names(code: &str) -> Vec<(usize, String)> {
    let b = code.as_bytes();
    let mut hits = Vec::new();
    let mut i = 0;
    let mut line = 1;
    // Inside a `use` statement, a bare venue module name (`{bybit, okx}`)
    // is a module path too.
    let mut in_use = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c == b';' {
            in_use = false;
        }
        if !is_ident(c) || (i > 0 && is_ident(b[i - 1])) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && is_ident(b[j]) {
            j += 1;
        }
        let w = &code[i..j];
        if w == "use" {
            in_use = true;
        }
        let before = code[..i].trim_end();
        let after = code[j..].trim_start();
        if VARIANTS.contains(&w) {
            hits.push((line, w.to_string()));
        } else if MODULES.contains(&w)
            && (after.starts_with("::") || before.ends_with("::") || in_use)
            && !before.ends_with('.')
        {
            hits.push((line, format!("module path `{w}`")));
        }
        i = j;
    }
    hits
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every venue name outside the seam, as `path:line: what`.
fn violations(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut test_only: HashSet<PathBuf> = HashSet::new();
    let mut out = Vec::new();
    let mut code_of = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let mut mods = Vec::new();
        let code = drop_test_items(&strip(&text), &mut mods);
        let dir = if f
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
        {
            f.parent().unwrap().to_path_buf()
        } else {
            f.with_extension("")
        };
        for m in mods {
            test_only.insert(dir.join(format!("{m}.rs")));
            test_only.insert(dir.join(&m).join("mod.rs"));
        }
        code_of.push((f.clone(), code));
    }
    for (f, code) in code_of {
        let rel = f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let name = f.file_name().unwrap().to_string_lossy();
        if allowed(&rel)
            || test_only.contains(&f)
            || name == "tests.rs"
            || name.ends_with("_tests.rs")
        {
            continue;
        }
        for (line, what) in venue_names(&code) {
            out.push(format!("{rel}:{line}: {what}"));
        }
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(option_env!("CARGO_MANIFEST_DIR").unwrap_or("."))
}

#[test]
fn no_venue_is_named_outside_src_venue() {
    let v = violations(&root());
    assert!(
        v.is_empty(),
        "venue names outside src/venue/ (reach venues through venue::registry, or iterate Venue::ALL):\n{}",
        v.join("\n")
    );
}

#[test]
fn the_scanner_sees_a_planted_match_arm_and_module_paths() {
    let code = |s: &str| drop_test_items(&strip(s), &mut Vec::new());
    let planted = "fn f(v: Venue) -> u8 {\n    match v {\n        Venue::Bybit => 1,\n        _ => 0,\n    }\n}\n";
    assert_eq!(
        venue_names(&code(planted)),
        [(3, "Bybit".to_string())],
        "a `Venue::Bybit =>` arm must be caught"
    );
    for (src, want) in [
        ("use crate::venue::okx::probe;", "module path `okx`"),
        (
            "use crate::venue::{bybit, instruments};",
            "module path `bybit`",
        ),
        ("let x = binance::depth_weight(5);", "module path `binance`"),
        ("let v = crate::core::Venue::Okx;", "Okx"),
    ] {
        let hits = venue_names(&code(src));
        assert_eq!(hits.len(), 1, "{src}: {hits:?}");
        assert_eq!(hits[0].1, want, "{src}");
    }
    // Prose, strings, field names and test code are not venue knowledge.
    for src in [
        "/// Binance sends depth. Bybit too.\nfn f() {}",
        "let s = \"Venue::Okx binance::x\";",
        "let r = r#\"Bybit\"#;",
        "c.venues.binance = None;",
        "#[cfg(test)]\nmod tests {\n    fn t() { let v = Venue::Binance; }\n}\n",
    ] {
        assert!(venue_names(&code(src)).is_empty(), "{src}");
    }
}

#[test]
fn the_scanner_sees_a_planted_arm_in_the_ops_sources() {
    // A copy of src/ with `Venue::Bybit =>` planted in an ops file fails.
    let tmp = std::env::temp_dir().join(format!("qt_venue_seam_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let ops = tmp.join("src/ops");
    std::fs::create_dir_all(&ops).unwrap();
    std::fs::write(
        ops.join("planted.rs"),
        "//! planted\nuse crate::core::Venue;\npub fn f(v: Venue) -> u8 {\n    match v {\n        Venue::Bybit => 1,\n        _ => 0,\n    }\n}\n",
    )
    .unwrap();
    let v = violations(&tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(v, ["src/ops/planted.rs:5: Bybit"]);
}
