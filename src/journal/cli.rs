//! `quantum-trader journal ...`: the day report, and a write-throughput
//! measurement of the journal writer at each fsync policy. The bench writes
//! only into a fresh directory it creates itself inside `--dir` and removes
//! only that directory: whatever `--dir` already holds (a production
//! journal, say) is never touched.

use super::record::{Entry, Event};
use super::report::DayReport;
use super::{parse_day, read_day};
use crate::config::{Config, FsyncPolicy, JournalConfig, TradingMode};
use crate::core::{InstrumentId, Side};
use crate::telemetry::metrics::Metrics;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;

#[derive(Subcommand, Debug)]
pub enum JournalCmd {
    /// Print one UTC day's report: decisions, verdicts, orders, fills,
    /// volume, fees, realized PnL, max drawdown, breaker events.
    Report(ReportArgs),
    /// Measure the journal's write throughput at each fsync policy.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The UTC day, YYYY-MM-DD.
    #[arg(long)]
    pub day: String,
    /// Trading mode whose records to report.
    #[arg(long, default_value = "paper")]
    pub mode: String,
    /// Journal directory (default: `journal.dir` of --config, or the newest demo run's,
    /// `var/demo/<run>/journal`).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Where to write: the bench creates a fresh subdirectory of its own
    /// in it (and the directory itself if missing), and removes only what
    /// it created.
    #[arg(long, default_value = "/tmp/qt-journal-bench")]
    pub dir: PathBuf,
    /// Records per run with `fsync = "batch"`.
    #[arg(long, default_value_t = 200_000)]
    pub records: u64,
    /// Records per run with `fsync = "always"` (one fsync each).
    #[arg(long, default_value_t = 2_000)]
    pub always_records: u64,
}

/// Runs a `journal` subcommand.
pub fn run(cmd: JournalCmd) -> Result<ExitCode> {
    match cmd {
        JournalCmd::Report(a) => report(a),
        JournalCmd::Bench(a) => bench(a),
    }
}

fn report(a: ReportArgs) -> Result<ExitCode> {
    let Some(day) = parse_day(&a.day) else {
        eprintln!("--day: `{}` is not a date (YYYY-MM-DD)", a.day);
        return Ok(ExitCode::from(2));
    };
    let mode = match a.mode.as_str() {
        "paper" => TradingMode::Paper,
        "testnet" => TradingMode::Testnet,
        "live" => TradingMode::Live,
        m => {
            eprintln!("--mode: `{m}` is not paper, testnet or live");
            return Ok(ExitCode::from(2));
        }
    };
    let dir = match a.dir {
        Some(d) => d,
        None => {
            match &a.config {
                Some(p) => PathBuf::from(
                    Config::load(p)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
                        .journal
                        .dir,
                ),
                // The demo journals each run apart: the newest run's.
                None => crate::config::demo_run::latest_demo_journal(std::path::Path::new(
                    crate::config::demo_run::DEMO_RUNS_DIR,
                ))
                .unwrap_or_else(|| PathBuf::from(Config::demo().journal.dir)),
            }
        }
    };
    let read = read_day(&dir, day).with_context(|| format!("reading {}", dir.display()))?;
    let r = DayReport::build(&read, mode);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", r.render());
        if read.records.is_empty() {
            println!("(no journal file for this day in {})", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn bench(a: BenchArgs) -> Result<ExitCode> {
    if a.records == 0 || a.always_records == 0 {
        bail!("--records and --always-records must be positive");
    }
    let table = std::sync::Arc::new({
        let mut t = crate::core::InstrumentTable::new();
        t.push(
            crate::core::Instrument::new(
                InstrumentId(0),
                // Fill records of one instrument; which venue does not matter.
                crate::core::Venue::ALL[0],
                "BTCUSDT",
                "BTCUSDT",
                "0.10",
                "0.001",
                5.0,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        t
    });
    let scratch = Scratch::create(&a.dir)?;
    println!(
        "journal write throughput (fill records, ~230 bytes framed), dir {}",
        scratch.path.display()
    );
    for (policy, n) in [
        (FsyncPolicy::Always, a.always_records),
        (FsyncPolicy::Batch, a.records),
    ] {
        let run_dir = scratch.path.join(policy.as_str());
        let cfg = JournalConfig {
            dir: run_dir.to_string_lossy().into_owned(),
            fsync: policy,
            queue_capacity: 1 << 20,
            ..JournalConfig::default()
        };
        let m = Metrics::new();
        let (tx, w) = super::start(&cfg, table.clone(), &m)?;
        let t0 = Instant::now();
        let ts = crate::core::clock::unix_ms();
        let mut dropped = 0u64;
        for k in 0..n {
            let e = Entry {
                ts_ms: ts,
                mode: TradingMode::Paper,
                event: Event::Fill {
                    client_order_id: k,
                    inst: InstrumentId(0),
                    side: Side::Buy,
                    px: 6_000_010 + (k % 100) as i64,
                    qty: 2,
                    fee: crate::core::Money(4_800_000),
                    fee_asset: crate::core::FeeAsset::QUOTE,
                    position_after: 2 * (k as i64 % 5),
                    realized_pnl: crate::core::Money(-1_000_000),
                },
            };
            // The hot path never waits; the bench does, to measure the disk.
            let mut e = Some(e);
            while let Some(x) = e.take() {
                if !tx.send(x.clone()) {
                    dropped += 1;
                    std::thread::yield_now();
                    e = Some(x);
                }
            }
        }
        let stats = tx.stats().clone();
        drop(tx);
        w.join();
        let secs = t0.elapsed().as_secs_f64();
        let written = stats.written.load(Ordering::Relaxed);
        let bytes = stats.bytes.load(Ordering::Relaxed);
        println!(
            "fsync={:<6} records {:>8}  {:>10.0} records/s  {:>7.2} MB/s  fsyncs {:>7}  ({:.3} s, {} queue-full retries)",
            policy.as_str(),
            written,
            written as f64 / secs,
            bytes as f64 / secs / 1e6,
            stats.fsyncs.load(Ordering::Relaxed),
            secs,
            dropped
        );
    }
    scratch.remove();
    Ok(ExitCode::SUCCESS)
}

/// The bench's own directory: `<parent>/qt-journal-bench-<pid>-<ns>`,
/// created fresh (never an existing one).
struct Scratch {
    path: PathBuf,
    /// `parent` did not exist and was created for the bench.
    made_parent: Option<PathBuf>,
}

impl Scratch {
    fn create(parent: &std::path::Path) -> Result<Scratch> {
        let made_parent = (!parent.exists()).then(|| parent.to_path_buf());
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = parent.join(format!("qt-journal-bench-{}-{nanos}", std::process::id()));
        // `create_dir` (not `_all`) fails if it exists: never an existing one.
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Scratch { path, made_parent })
    }

    /// Removes the bench's directory, and the parent when the bench made it
    /// and it is empty.
    fn remove(self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("could not remove {}: {e}", self.path.display());
        }
        if let Some(p) = &self.made_parent {
            let _ = std::fs::remove_dir(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_never_touches_what_its_dir_already_holds() {
        let dir = crate::journal::tests::tmp_dir("bench-keep");
        std::fs::write(dir.join("2026-11-23.journal"), b"production").unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/keep"), b"x").unwrap();
        let args = BenchArgs {
            dir: dir.clone(),
            records: 50,
            always_records: 3,
        };
        assert_eq!(bench(args).unwrap(), ExitCode::SUCCESS);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec!["2026-11-23.journal", "sub"]);
        assert_eq!(
            std::fs::read(dir.join("2026-11-23.journal")).unwrap(),
            b"production"
        );
        assert_eq!(std::fs::read(dir.join("sub/keep")).unwrap(), b"x");
        // A missing dir is created for the run and removed after it.
        let fresh = dir.join("fresh");
        bench(BenchArgs {
            dir: fresh.clone(),
            records: 10,
            always_records: 1,
        })
        .unwrap();
        assert!(!fresh.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
