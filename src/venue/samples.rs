//! Where the recorded venue payloads live (`../shared/samples`, or
//! `$QT_SAMPLES`) and what a test does when they are absent: the one place
//! the adapters' sample tests, the benches and the end-to-end tests ask.

use std::path::{Path, PathBuf};

/// `../shared/samples` relative to the working directory (the repo root),
/// or `$QT_SAMPLES`; `None` when absent.
pub fn samples_dir() -> Option<PathBuf> {
    let p = std::env::var_os("QT_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/samples"));
    p.is_dir().then_some(p)
}

/// Says that the recorded venue payloads (`what` needs `path`) are absent:
/// a loud SKIP on a developer's machine, a failure under `CI=true`, where
/// `../shared/samples` is required (a CI run that skipped them would pass
/// without testing the parsers against real messages).
pub fn absent(what: &str, path: &Path) {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if ci {
        panic!(
            "{what}: {} is absent and CI=true: the recorded venue payloads in ../shared/samples are required in CI",
            path.display()
        );
    }
    eprintln!(
        "!!!!!!!! SKIP {what}: {} is absent (../shared/samples); real-message checks NOT run !!!!!!!!",
        path.display()
    );
}
