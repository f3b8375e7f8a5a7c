//! A fresh journal for each demo run. `quantum-trader run` without
//! `--config` (the embedded demo) journals into its own directory,
//! `var/demo/<run>/journal`, so a second demo run on the same UTC day starts
//! with an empty day ledger (no trades counted yet, flat positions, breaker
//! closed) instead of inheriting the first run's spent daily trade cap. The
//! cap still works as a cap within each run. Only the newest
//! [`DEMO_RUNS_KEPT`] run directories are kept; older ones are removed.
//!
//! A config given with `--config` is never touched: its `journal.dir` keeps
//! the daily trade cap, PnL and breaker per UTC day and mode across restarts.

use super::Config;
use crate::core::clock::{format_day, utc_day};
use std::path::{Path, PathBuf};

/// Where demo runs keep their journals (relative to the working directory).
pub const DEMO_RUNS_DIR: &str = "var/demo";

/// Demo run directories kept (the newest, by name: names are UTC stamps).
pub const DEMO_RUNS_KEPT: usize = 5;

/// The name of a demo run started at `now_ms` by process `pid`:
/// `2026-12-07T18-13-20.123Z-4242` (sorts chronologically).
pub fn run_name(now_ms: i64, pid: u32) -> String {
    let ms_of_day = now_ms.rem_euclid(86_400_000);
    let (h, m) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
    let (s, ms) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!(
        "{}T{h:02}-{m:02}-{s:02}.{ms:03}Z-{pid}",
        format_day(utc_day(now_ms))
    )
}

/// Whether a directory name is a demo run's (`YYYY-MM-DDTHH-MM-SS.mmmZ-pid`):
/// pruning never touches anything else.
pub fn is_run_name(name: &str) -> bool {
    let b = name.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b[i].is_ascii_digit());
    b.len() > 25
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b'-'
        && digits(14..16)
        && b[16] == b'-'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && &b[23..25] == b"Z-"
        && digits(25..b.len())
}

/// Points `cfg`'s journal at a fresh run directory under `root`
/// (`<root>/<run>/journal`, created), then removes the oldest run
/// directories beyond [`DEMO_RUNS_KEPT`]. Returns the journal directory.
pub fn use_fresh_demo_journal(
    cfg: &mut Config,
    root: &Path,
    now_ms: i64,
) -> std::io::Result<PathBuf> {
    let dir = root
        .join(run_name(now_ms, std::process::id()))
        .join("journal");
    std::fs::create_dir_all(&dir)?;
    cfg.journal.dir = dir.to_string_lossy().into_owned();
    prune_runs(root, DEMO_RUNS_KEPT)?;
    Ok(dir)
}

/// Run directories under `root`, oldest first.
pub fn runs(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<(String, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(root)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if is_run_name(&name) && e.file_type()?.is_dir() {
            v.push((name, e.path()));
        }
    }
    v.sort();
    Ok(v.into_iter().map(|(_, p)| p).collect())
}

/// The newest demo run's journal directory under `root`, if any (what
/// `journal report` reads without `--dir` or `--config`).
pub fn latest_demo_journal(root: &Path) -> Option<PathBuf> {
    runs(root).ok()?.pop().map(|p| p.join("journal"))
}

/// Removes the oldest run directories so that `keep` remain.
pub fn prune_runs(root: &Path, keep: usize) -> std::io::Result<()> {
    let all = runs(root)?;
    let n = all.len().saturating_sub(keep);
    for p in &all[..n] {
        if let Err(e) = std::fs::remove_dir_all(p) {
            tracing::warn!(dir = %p.display(), error = %e, "cannot remove an old demo run");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("qt-demo-runs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn run_names_sort_by_time_and_are_recognised() {
        // 2026-11-23 01:02:03.004 UTC.
        let t = 20_780i64 * 86_400_000 + 3_723_004;
        assert_eq!(run_name(t, 42), "2026-11-23T01-02-03.004Z-42");
        assert!(is_run_name(&run_name(t, 42)));
        assert!(run_name(t, 99) < run_name(t + 1, 1));
        for bad in [
            "journal",
            "2026-11-23",
            "2026-11-23T01-02-03.004Z-",
            "x026-11-23T01-02-03.004Z-1",
        ] {
            assert!(!is_run_name(bad), "{bad}");
        }
    }

    #[test]
    fn each_run_gets_a_fresh_journal_and_old_runs_are_pruned() {
        let root = tmp("prune");
        std::fs::create_dir_all(root.join("keep-me")).unwrap();
        let t0 = 20_780i64 * 86_400_000;
        let mut dirs = Vec::new();
        for k in 0..(DEMO_RUNS_KEPT as i64 + 2) {
            let mut cfg = Config::demo();
            let d = use_fresh_demo_journal(&mut cfg, &root, t0 + k * 1000).unwrap();
            assert_eq!(cfg.journal.dir, d.to_string_lossy());
            assert!(d.is_dir());
            assert!(!dirs.contains(&d), "a fresh directory each run");
            dirs.push(d);
        }
        let left = runs(&root).unwrap();
        assert_eq!(left.len(), DEMO_RUNS_KEPT);
        // The oldest two went, the newest stayed, other names untouched.
        assert!(!dirs[0].exists() && !dirs[1].exists());
        assert!(dirs[2..].iter().all(|d| d.is_dir()));
        assert!(root.join("keep-me").is_dir());
        assert_eq!(latest_demo_journal(&root).as_ref(), dirs.last());
        let _ = std::fs::remove_dir_all(&root);
    }
}
