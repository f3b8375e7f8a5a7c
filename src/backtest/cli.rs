//! `quantum-trader backtest` and `quantum-trader features export`.

use super::driver::{NoObserver, Replay, ReplayOptions, Speed, replay_config};
use super::features::{CsvSink, FeatureExport, RowSink, parse_horizons};
use super::report::Report;
use crate::config::Config;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct BacktestArgs {
    /// Directory of a recording (`quantum-trader record` / `[record]`).
    #[arg(long)]
    pub data: PathBuf,
    /// Engine config (instruments, model, risk, exec, backtest); default: the demo.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Trade from this time on (RFC 3339 or unix ms); earlier records only warm up.
    #[arg(long)]
    pub from: Option<String>,
    /// Stop after this time (RFC 3339 or unix ms).
    #[arg(long)]
    pub to: Option<String>,
    /// `max`, or a factor of recorded time (1 = as recorded).
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    /// Output directory: journal/, report.json, report.html (must not hold a journal).
    #[arg(long, default_value = "var/backtest")]
    pub out: PathBuf,
    /// Order delay in µs (overrides `[backtest] order_delay_us`).
    #[arg(long)]
    pub order_delay_us: Option<u64>,
    /// Feed delay in µs (overrides `[backtest] feed_delay_us`).
    #[arg(long)]
    pub feed_delay_us: Option<u64>,
}

#[derive(clap::Subcommand, Debug)]
pub enum FeaturesCmd {
    /// Feature vectors and forward mid returns of every scored event.
    Export {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Forward-return horizons, e.g. `100ms,1s,10s`.
        #[arg(long, default_value = "100ms,1s,10s")]
        horizons: String,
        /// Output file (`.csv` or `.parquet`).
        #[arg(long)]
        out: PathBuf,
        /// `csv` or `parquet` (default: from the file extension).
        #[arg(long)]
        format: Option<String>,
    },
}

/// Unix ns of `2024-08-08T23:54:16Z` (RFC 3339) or of a unix-ms number.
pub fn parse_time(s: &str) -> Result<u64> {
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms * 1_000_000);
    }
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .with_context(|| format!("`{s}`: expected RFC 3339 (2026-12-07T15:00:00Z) or unix ms"))?;
    Ok(t.timestamp_nanos_opt().unwrap_or(0).max(0) as u64)
}

fn load(config: Option<&Path>) -> Result<Config> {
    Ok(match config {
        Some(p) => Config::load(p).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Config::demo(),
    })
}

/// Runs a backtest and writes its journal and report; returns the report.
pub fn backtest(a: &BacktestArgs) -> Result<Report> {
    let mut cfg = replay_config(&a.data, load(a.config.as_deref())?)?;
    if let Some(d) = a.order_delay_us {
        cfg.backtest.order_delay_us = d;
    }
    if let Some(d) = a.feed_delay_us {
        cfg.backtest.feed_delay_us = d;
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let opts = ReplayOptions {
        from_ns: a.from.as_deref().map(parse_time).transpose()?,
        to_ns: a.to.as_deref().map(parse_time).transpose()?,
        speed: a.speed,
        trade: true,
        journal_dir: Some(a.out.join("journal")),
    };
    let mut r = Replay::new(&cfg, opts)?;
    let read = r.run_dir(&a.data, &mut NoObserver)?;
    let rep = Report::build(&r, &read);
    let json = serde_json::to_string_pretty(&rep.json)?;
    std::fs::write(a.out.join("report.json"), json + "\n")?;
    std::fs::write(a.out.join("report.html"), rep.html())?;
    Ok(rep)
}

/// The `backtest` command: runs and prints the headline figures.
pub fn run_backtest(a: BacktestArgs) -> Result<()> {
    let rep = backtest(&a)?;
    let j = &rep.json;
    println!(
        "backtest: {} frames in {:.2} s ({:.0} frames/s) | pnl gross {:.4} net {:.4} fees {:.4} | orders {} fills {} | max drawdown {:.4}",
        j["replay"]["frames"],
        j["run"]["wall_seconds"].as_f64().unwrap_or(0.0),
        j["run"]["frames_per_second"].as_f64().unwrap_or(0.0),
        j["pnl_gross"].as_f64().unwrap_or(0.0),
        j["pnl_net"].as_f64().unwrap_or(0.0),
        j["fees"].as_f64().unwrap_or(0.0),
        j["orders"],
        j["fills"],
        j["max_drawdown"].as_f64().unwrap_or(0.0),
    );
    println!(
        "report: {}  {}  journal: {}",
        a.out.join("report.json").display(),
        a.out.join("report.html").display(),
        a.out.join("journal").display()
    );
    Ok(())
}

/// Exports features to `out`; returns the rows written.
pub fn export_features(
    data: &Path,
    config: Option<&Path>,
    horizons: &str,
    out: &Path,
    format: Option<&str>,
) -> Result<u64> {
    let horizons = parse_horizons(horizons).map_err(|e| anyhow::anyhow!("--horizons: {e}"))?;
    let format = match format {
        Some(f) => f.to_ascii_lowercase(),
        None => out
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("csv")
            .to_ascii_lowercase(),
    };
    if format != "csv" && format != "parquet" {
        bail!("--format `{format}`: expected csv or parquet");
    }
    let cfg = replay_config(data, load(config)?)?;
    let opts = ReplayOptions {
        trade: false,
        ..ReplayOptions::default()
    };
    let mut r = Replay::new(&cfg, opts)?;
    r.compute_every_feature();
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut csv;
    let mut pq;
    let sink: &mut dyn RowSink = if format == "parquet" {
        pq = super::parquet_sink::ParquetSink::new(file);
        &mut pq
    } else {
        csv = CsvSink::new(std::io::BufWriter::with_capacity(1 << 20, file));
        &mut csv
    };
    let table = r.shared().instruments.clone();
    let mut ex = FeatureExport::new(table, horizons, sink)?;
    r.run_dir(data, &mut ex)?;
    ex.finish()?;
    Ok(ex.rows_written)
}

pub fn run_features(cmd: FeaturesCmd) -> Result<()> {
    match cmd {
        FeaturesCmd::Export {
            data,
            config,
            horizons,
            out,
            format,
        } => {
            let n = export_features(&data, config.as_deref(), &horizons, &out, format.as_deref())?;
            println!("features: {n} rows -> {}", out.display());
            Ok(())
        }
    }
}
