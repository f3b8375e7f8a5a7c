//! The module graph read from the code's own imports (see docs/layout.md).
//!
//! Every `.rs` file under `src/` (except the simulator, `src/sim`, which is
//! leaving the engine crate) is read as text: comments, strings and char
//! literals are blanked, then every `use crate::…` / `use super::…` /
//! `use self::…` tree (groups `{a, b::{c}}` expanded) and every inline
//! `crate::x::…` / `super::x::…` path names a target. A target resolves to
//! the deepest file module its path reaches (`crate::a::b::C` is
//! `src/a/b.rs` or `src/a/b/mod.rs` when that file exists, else `src/a.rs` or
//! `src/a/mod.rs`). Paths without `crate`/`super`/`self` are external crates
//! or a parent naming its own children (`pub use child::X` in a `mod.rs`):
//! structure, not a dependency, so they add no edge.
//!
//! Two checks: (a) no two top-level modules import each other; (b) the
//! file-level graph has no cycle. Each failure names the files involved.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Files = BTreeMap<String, String>;
type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every source file under `src/`, keyed by its path relative to `src/`.
fn read_src() -> Files {
    fn walk(dir: &Path, root: &Path, out: &mut Files) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let rel = p
                    .strip_prefix(root)
                    .expect("under src")
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&p)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
                out.insert(rel, text);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Files::new();
    walk(&root, &root, &mut files);
    files.retain(|p, _| !skipped(p));
    files
}

/// The simulator is moving out of the engine crate; it is not judged here.
fn skipped(path: &str) -> bool {
    path.starts_with("sim/") || path == "sim.rs"
}

/// The module path of a file (`a/b/mod.rs` and `a/b.rs` are `["a", "b"]`).
fn module_of(path: &str) -> Vec<String> {
    let stem = path.strip_suffix(".rs").unwrap_or(path);
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts
}

/// The source with comments, string literals and char literals blanked
/// (lifetimes kept), so that only code is searched for paths.
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !b
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // Raw string r"…" / r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            'scan: while j < b.len() {
                if b[j] == '"' {
                    let mut k = 0;
                    while k < hashes && b.get(j + 1 + k) == Some(&'#') {
                        k += 1;
                    }
                    if k == hashes {
                        j += 1 + hashes;
                        break 'scan;
                    }
                }
                j += 1;
            }
            i = j;
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Expands one use tree (`crate::a::{b, c::{d as e, self}}`) into paths.
fn expand_tree(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    let Some(open) = tree.find('{') else {
        let mut segs = prefix.to_vec();
        let t = tree.split(" as ").next().unwrap_or(tree);
        segs.extend(
            t.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "*")
                .map(str::to_string),
        );
        // `{self, …}` names the prefix itself.
        let keep_first = segs.first().cloned();
        segs.retain(|s| s != "self");
        if keep_first.as_deref() == Some("self") {
            segs.insert(0, "self".into());
        }
        out.push(segs);
        return;
    };
    let close = tree.rfind('}').unwrap_or(tree.len());
    let mut segs = prefix.to_vec();
    segs.extend(
        tree[..open]
            .trim_end_matches(':')
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    );
    let body = &tree[open + 1..close];
    let mut depth = 0;
    let mut start = 0;
    for (i, ch) in body.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand_tree(&body[start..i], &segs, out);
                start = i + 1;
            }
            _ => {}
        }
    }
    expand_tree(&body[start..], &segs, out);
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path a file names that starts with `crate`, `super` or `self`.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `use` trees (also `pub use`, `pub(crate) use`).
    let bytes: Vec<char> = code.chars().collect();
    let text: String = bytes.iter().collect();
    let mut from = 0;
    while let Some(pos) = text[from..].find("use ") {
        let at = from + pos;
        from = at + 4;
        let before = text[..at].chars().next_back();
        if before.is_some_and(is_ident) {
            continue;
        }
        let Some(end) = text[at..].find(';') else {
            break;
        };
        let tree = &text[at + 4..at + end];
        let first = tree.trim_start();
        if first.starts_with("crate::")
            || first.starts_with("super::")
            || first.starts_with("self::")
            || first.starts_with("crate::{")
        {
            expand_tree(tree, &[], &mut out);
        }
        from = at + end + 1;
    }
    // Inline paths: `crate::a::b`, `super::super::x`, `self::x`.
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let prev = if i == 0 { ' ' } else { chars[i - 1] };
        if !is_ident(prev) && prev != ':' && prev != '$' {
            for kw in ["crate::", "super::", "self::"] {
                let k: Vec<char> = kw.chars().collect();
                if chars[i..].starts_with(&k) {
                    let mut j = i;
                    while j < chars.len() && (is_ident(chars[j]) || chars[j] == ':') {
                        j += 1;
                    }
                    let p: String = chars[i..j].iter().collect();
                    let segs: Vec<String> = p
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                    out.push(segs);
                    i = j;
                    break;
                }
            }
        }
        i += 1;
    }
    // A bare `crate` (the head of `crate::{…}`) names no module; a path seen
    // both in a `use` and inline counts once.
    out.retain(|p| p.len() > 1);
    out.sort();
    out.dedup();
    out
}

/// The file-level graph: file -> the files it imports.
fn file_graph(files: &Files) -> Graph {
    let modules: BTreeMap<Vec<String>, String> =
        files.keys().map(|p| (module_of(p), p.clone())).collect();
    let mut g = Graph::new();
    for (path, text) in files {
        let me = module_of(path);
        let mut targets = BTreeSet::new();
        for segs in paths_in(&code_only(text)) {
            let abs: Vec<String> = match segs.first().map(String::as_str) {
                Some("crate") => segs[1..].to_vec(),
                Some("self") => me.iter().chain(&segs[1..]).cloned().collect(),
                Some("super") => {
                    let mut base = me.clone();
                    let mut k = 0;
                    while segs.get(k).is_some_and(|s| s == "super") {
                        base.pop();
                        k += 1;
                    }
                    base.extend(segs[k..].iter().cloned());
                    base
                }
                _ => continue,
            };
            if abs.first().is_some_and(|s| skipped(&format!("{s}/"))) {
                continue;
            }
            let target = (0..=abs.len())
                .rev()
                .find_map(|k| modules.get(&abs[..k]))
                .cloned();
            if let Some(t) = target
                && t != *path
            {
                targets.insert(t);
            }
        }
        g.insert(path.clone(), targets);
    }
    g
}

/// The top-level module of a file (`<root>` for lib.rs/main.rs).
fn top(path: &str) -> String {
    module_of(path)
        .first()
        .cloned()
        .unwrap_or_else(|| "<root>".into())
}

/// (a): top-level pairs that import each other, each with an example edge
/// in both directions.
fn two_way_pairs(g: &Graph) -> Vec<String> {
    let mut edges: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for (a, ts) in g {
        for b in ts {
            let (ta, tb) = (top(a), top(b));
            if ta != tb && ta != "<root>" && tb != "<root>" {
                edges
                    .entry((ta, tb))
                    .or_insert_with(|| (a.clone(), b.clone()));
            }
        }
    }
    let mut out = Vec::new();
    for ((ta, tb), (a, b)) in &edges {
        if ta < tb
            && let Some((c, d)) = edges.get(&(tb.clone(), ta.clone()))
        {
            out.push(format!("{ta} <-> {tb}: {a} -> {b} and {c} -> {d}"));
        }
    }
    out
}

/// (b): the first cycle found in the file graph, as a path `a -> b -> a`.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        n: &str,
        g: &Graph,
        mark: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        mark.insert(n.to_string(), Mark::Open);
        stack.push(n.to_string());
        for t in g.get(n).into_iter().flatten() {
            match mark.get(t).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|s| s == t).expect("open is on stack");
                    let mut cyc = stack[from..].to_vec();
                    cyc.push(t.clone());
                    return Some(cyc);
                }
                Mark::New => {
                    if let Some(c) = visit(t, g, mark, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        mark.insert(n.to_string(), Mark::Done);
        None
    }
    let mut mark = BTreeMap::new();
    for n in g.keys() {
        if mark.get(n).copied().unwrap_or(Mark::New) == Mark::New
            && let Some(c) = visit(n, g, &mut mark, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// Both checks; `Err` carries the report.
fn check(files: &Files) -> Result<(), String> {
    check_graph(file_graph(files))
}

/// Both checks on a graph.
fn check_graph(g: Graph) -> Result<(), String> {
    let mut report = String::new();
    let pairs = two_way_pairs(&g);
    if !pairs.is_empty() {
        report.push_str(&format!(
            "{} pair(s) of top-level modules import each other:\n  {}\n",
            pairs.len(),
            pairs.join("\n  ")
        ));
    }
    if let Some(c) = find_cycle(&g) {
        report.push_str(&format!("import loop between files: {}\n", c.join(" -> ")));
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(report)
    }
}

#[test]
fn no_two_top_level_modules_import_each_other_and_no_file_loops() {
    let files = read_src();
    assert!(files.len() > 50, "read {} files under src/", files.len());
    if let Err(report) = check(&files) {
        panic!("module graph (docs/layout.md):\n{report}");
    }
}

#[test]
fn config_importing_venue_fails_the_check() {
    // The pair that was open until the `[venues]` sections were type-erased
    // in `config`: an import back from config to venue must fail again.
    let mut files = read_src();
    files.insert(
        "config/planted.rs".into(),
        "//! planted\nuse crate::venue::registry::ADAPTERS;\n".into(),
    );
    let report = check(&files).expect_err("config importing venue must fail");
    assert!(report.contains("config <-> venue"), "{report}");
    assert!(
        report.contains("config/planted.rs -> venue/registry.rs"),
        "{report}"
    );
}

#[test]
fn a_planted_upward_import_fails_the_check() {
    let mut files = read_src();
    files.insert(
        "core/planted.rs".into(),
        "//! planted\nuse crate::app::engine::Engine;\n".into(),
    );
    let report = check(&files).expect_err("core importing app must fail");
    assert!(report.contains("app <-> core"), "{report}");
    assert!(
        report.contains("core/planted.rs -> app/engine.rs"),
        "{report}"
    );
}

#[test]
fn the_parser_reads_groups_super_and_inline_paths() {
    let src = r#"
        //! use crate::nope::x; (a comment)
        use crate::{a, b::{c, d::E as F}};
        use super::super::g::H;
        pub(crate) use self::k::L;
        fn f() { let s = "crate::str::x"; let c = '"'; crate::m::n(); }
        fn g<'a>(x: &'a str) -> &'a str { super::p::q(x) }
    "#;
    let mut got = paths_in(&code_only(src));
    got.sort();
    let want: Vec<Vec<String>> = [
        "crate::a",
        "crate::b::c",
        "crate::b::d::E",
        "crate::m::n",
        "self::k::L",
        "super::p::q",
        "super::super::g::H",
    ]
    .iter()
    .map(|p| p.split("::").map(str::to_string).collect())
    .collect();
    assert_eq!(got, want);
}

#[test]
fn a_file_loop_is_reported_with_its_path() {
    let mut files = Files::new();
    files.insert("lib.rs".into(), "pub mod a; pub mod b;".into());
    files.insert("a/mod.rs".into(), "pub mod x;".into());
    files.insert("a/x.rs".into(), "use crate::b::y::Y;".into());
    files.insert("b/mod.rs".into(), "pub mod y;".into());
    files.insert(
        "b/y.rs".into(),
        "pub fn f() { super::z(); crate::a::x::g(); }".into(),
    );
    let report = check(&files).expect_err("a loop");
    assert!(
        report.contains("import loop between files: a/x.rs -> b/y.rs -> a/x.rs"),
        "{report}"
    );
    assert!(report.contains("a <-> b"), "{report}");
}
