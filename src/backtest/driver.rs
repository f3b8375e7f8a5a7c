//! The replay driver: a recording's records, in recorded-time order, through
//! the engine's own code on one thread: each venue's protocol
//! (`venue::wiring::replay_protocols`: parse, sync, chunking), the real
//! feed-to-book queue, then the book stage's `apply`, the score stage's
//! `Scorer`, the risk `Governor` (with its journal) and the `PaperExec`
//! matcher, exactly the calls the stage threads make, in order. Time is the
//! recording's: the thread's replay clock (`core::clock::set_replay_ns`) and
//! the governor's manual wall clock follow the records, so two replays of
//! one recording are identical to the byte (no wall clock, no thread
//! interleaving). What the stage threads do only when idle (publishing
//! views, answering API queries) is not run; governor housekeeping runs
//! every 100 ms and HOLD sums are flushed every second of recorded time.

use super::latency::{LatencyModel, Pending};
use super::ledger::Ledger;
use crate::app::engine::{instruments_from_config, load_model, per_instrument};
use crate::book::{BookStage, MAX_LEVELS};
use crate::capture::{Kind, Merged, RecordRef, format};
use crate::config::{Config, JournalConfig, WaitKind};
use crate::core::clock::set_replay_ns;
use crate::core::{
    BookTop, Clock, Decision, ExecReport, InstrumentTable, MarketEvent, ScoreInput, TOP_LEVELS,
    Venue, Verdict,
};
use crate::exec::PaperExec;
use crate::feed::{Protocol, RestReply};
use crate::pipeline::channel::{FanIn, Rx};
use crate::pipeline::shared::Shared;
use crate::risk::{Governor, build_intent};
use crate::score::Scorer;
use crate::telemetry::metrics::Metrics;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the code runs.
    Max,
    /// N times recorded time (1 = real time).
    Factor(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Speed, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(format!("`{s}`: expected `max` or a positive factor")),
        }
    }
}

/// What a replay does besides feeding the books.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Records before this (unix ns) only warm up feeds, books and features:
    /// no risk, no orders.
    pub from_ns: Option<u64>,
    /// Stop at the first record after this (unix ns).
    pub to_ns: Option<u64>,
    pub speed: Speed,
    /// Run risk and execution (false: scoring only, e.g. features export).
    pub trade: bool,
    /// Write the governor's journal here (must be empty or absent).
    pub journal_dir: Option<PathBuf>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            from_ns: None,
            to_ns: None,
            speed: Speed::Max,
            trade: true,
            journal_dir: None,
        }
    }
}

/// What a replay sees, for tools built on it (features export, tests).
pub trait Observer {
    /// A book update reached the score stage (after the book applied it).
    fn on_book(&mut self, _top: &BookTop) {}
    /// A decision (HOLD included) left the scorer.
    fn on_decision(&mut self, _d: &Decision) {}
    /// After each record: the replay's state at recorded time `ts_ns`.
    fn after_record(&mut self, _ts_ns: u64, _replay: &Replay) {}
}

/// An observer that watches nothing.
pub struct NoObserver;
impl Observer for NoObserver {}

/// Counts of one replay.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReplayStats {
    pub records: u64,
    pub frames: u64,
    pub rest_replies: u64,
    pub opens: u64,
    pub closes: u64,
    /// `Dropped` markers met (the recorder lost records there; replayed as a close).
    pub dropped_markers: u64,
    /// Records of connections the config does not plan (skipped).
    pub unmapped: u64,
    /// Connections whose recorded URL differs from the config's plan.
    pub url_mismatches: u64,
    pub market_events: u64,
    pub decisions: u64,
    pub orders: u64,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
    /// Wall-clock time the replay took (not part of any deterministic output).
    pub wall_ns: u64,
}

/// One replay in progress.
pub struct Replay {
    shared: Arc<Shared>,
    protos: [Vec<Box<dyn Protocol>>; Venue::COUNT],
    md_rx: Rx<MarketEvent>,
    book: BookStage,
    scorer: Scorer,
    gov: Governor,
    exec: PaperExec,
    exec_cfg: crate::config::ExecConfig,
    ticks: Vec<i64>,
    clock: Clock,
    latency: LatencyModel,
    pending: Pending,
    reports: Vec<ExecReport>,
    journal: Option<crate::journal::JournalWriter>,
    journal_cap: usize,
    opts: ReplayOptions,
    pub stats: ReplayStats,
    pub ledger: Ledger,
    /// Verdict counts by governor slot (slot 0 = EXECUTE).
    pub verdicts: Vec<u64>,
    next_housekeeping_ns: u64,
    next_holds_ns: u64,
    /// Per instrument: the last top the score stage saw.
    pub tops: Vec<Option<BookTop>>,
    pace: Option<(Instant, u64)>,
}

/// The config a replay of `dir` runs: `cfg`, with the instruments of each
/// venue that loads them from REST taken from the recording (as the engine
/// that recorded used them).
pub fn replay_config(dir: &Path, mut cfg: Config) -> Result<Config> {
    let files = crate::capture::list_files(dir)
        .with_context(|| format!("listing recording files in {}", dir.display()))?;
    if files.is_empty() {
        bail!("no recording files (*.qtcap.zst) in {}", dir.display());
    }
    for v in Venue::ALL {
        let adapter = crate::venue::registry::adapter(v);
        if !adapter.instruments_from_rest(&cfg.venues) {
            continue;
        }
        let Some(first) = files.iter().find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(format::parse_file_name)
                .is_some_and(|(_, fv, _)| fv == v)
        }) else {
            continue;
        };
        let mut m = Merged::open(dir, Some(&[v]))?;
        let Some(r) = m.next() else { continue };
        if r.header.kind != Kind::Meta {
            bail!("{}: first record is not the meta record", first.display());
        }
        let meta: serde_json::Value = serde_json::from_slice(r.payload)
            .with_context(|| format!("{}: meta record", first.display()))?;
        let recorded: Vec<crate::config::InstrumentConfig> =
            serde_json::from_value(meta["instruments"].clone())
                .with_context(|| format!("{}: recorded instruments", first.display()))?;
        cfg.instruments.retain(|i| i.venue != v);
        cfg.instruments.extend(recorded);
        adapter.clear_instruments_from_rest(&mut cfg.venues);
    }
    Ok(cfg)
}

impl Replay {
    /// Builds the engine's stages for `cfg` (instruments, model, risk, exec
    /// and backtest sections) on this thread.
    pub fn new(cfg: &Config, opts: ReplayOptions) -> Result<Replay> {
        let table: Arc<InstrumentTable> = Arc::new(instruments_from_config(cfg)?);
        let model = load_model(&cfg.model.path)?;
        let metrics = Arc::new(Metrics::new());
        let shared = Arc::new(Shared::new(
            table.clone(),
            metrics.clone(),
            model.version().to_string(),
            cfg.mode,
        ));
        // Deep enough for any one record's events (a 1000-level snapshot is
        // 63 chunks a side); drained after every record.
        // One ring per recorded connection, as live.
        let mut md_fan = FanIn::new("feed_to_book", 1 << 16, WaitKind::Park, &metrics);
        let protos = crate::venue::wiring::replay_protocols(cfg, &shared, &mut md_fan);
        let md_rx = md_fan.into_rx();
        let qty = per_instrument(cfg, &table, |ic| &ic.order_qty)?;
        let max_pos = per_instrument(cfg, &table, |ic| &ic.max_position)?;
        let scorer = Scorer::new(&shared, model, &cfg.model, qty);
        let clock = Clock::manual(0);
        let mut gov = Governor::new(&cfg.risk, table.clone(), max_pos, clock.clone(), cfg.mode);
        let mut exec_cfg = cfg.exec.clone();
        if cfg.backtest.taker_fee_bps >= 0.0 {
            exec_cfg.taker_fee_bps = cfg.backtest.taker_fee_bps;
        }
        gov.set_max_slippage_bps(exec_cfg.max_slippage_bps);
        let journal_cap = 1 << 16;
        let journal = match &opts.journal_dir {
            Some(dir) if opts.trade => {
                if dir.is_dir() && std::fs::read_dir(dir)?.next().is_some() {
                    bail!(
                        "{} is not empty: a backtest journal starts in an empty directory (choose another --out)",
                        dir.display()
                    );
                }
                let jc = JournalConfig {
                    enabled: true,
                    dir: dir.display().to_string(),
                    fsync: crate::config::FsyncPolicy::Batch,
                    batch_ms: 1000,
                    queue_capacity: journal_cap,
                    record_holds: cfg.journal.record_holds,
                };
                let (tx, w) = crate::journal::start(&jc, table.clone(), &metrics)
                    .with_context(|| format!("starting the journal in {}", dir.display()))?;
                gov.set_journal(tx, jc.record_holds);
                Some(w)
            }
            _ => None,
        };
        let exec = PaperExec::new(shared.clone(), exec_cfg.clone());
        let book = BookStage::new(shared.clone(), MAX_LEVELS);
        let ticks = table.iter().map(|i| i.tick).collect();
        let n_slots = gov.labels().len();
        let ledger = Ledger::new(table.clone());
        Ok(Replay {
            tops: vec![None; table.len()],
            shared,
            protos,
            md_rx,
            book,
            scorer,
            gov,
            exec,
            exec_cfg,
            ticks,
            clock,
            latency: LatencyModel::from_config(&cfg.backtest),
            pending: Pending::default(),
            reports: Vec::with_capacity(64),
            journal,
            journal_cap,
            opts,
            stats: ReplayStats::default(),
            ledger,
            verdicts: vec![0; n_slots],
            next_housekeeping_ns: 0,
            next_holds_ns: 0,
            pace: None,
        })
    }

    /// Every registered feature is computed on each event (the features
    /// export), not only the model's.
    pub fn compute_every_feature(&mut self) {
        self.scorer.compute_every_feature();
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The book stage (its books are what a live run's book stage had).
    pub fn books(&self) -> &BookStage {
        &self.book
    }

    /// Verdict labels by slot (slot 0 = EXECUTE).
    pub fn verdict_labels(&self) -> Vec<String> {
        self.gov.labels().iter().map(|l| l.to_string()).collect()
    }

    pub fn latency(&self) -> &LatencyModel {
        &self.latency
    }

    /// Replays every record of `dir` (within the options' window).
    pub fn run_dir(
        &mut self,
        dir: &Path,
        obs: &mut dyn Observer,
    ) -> Result<crate::capture::ReadStats> {
        let mut m = Merged::open(dir, None)
            .with_context(|| format!("opening the recording in {}", dir.display()))?;
        let t0 = Instant::now();
        while let Some(r) = m.next() {
            if self.opts.to_ns.is_some_and(|to| r.header.ts_ns > to) {
                break;
            }
            self.step(&r, obs);
        }
        self.finish();
        self.stats.wall_ns += t0.elapsed().as_nanos() as u64;
        Ok(m.stats.clone())
    }

    fn trading(&self, now: u64) -> bool {
        self.opts.trade && self.opts.from_ns.is_none_or(|f| now >= f)
    }

    /// One record through the engine.
    pub fn step(&mut self, r: &RecordRef<'_>, obs: &mut dyn Observer) {
        let ts = r.header.ts_ns;
        let now = ts.saturating_add(self.latency.feed_delay_ns);
        self.pace(ts);
        // Orders due before this record reach the matcher first.
        self.run_due(now);
        self.set_time(now);
        if self.stats.records == 0 {
            self.stats.first_ts_ns = ts;
            self.next_housekeeping_ns = now;
            self.next_holds_ns = now + 1_000_000_000;
        }
        self.stats.records += 1;
        self.stats.last_ts_ns = ts;
        let vi = r.venue as usize;
        let conn = r.header.conn as usize;
        if r.header.kind != Kind::Meta && conn >= self.protos[vi].len() {
            if self.stats.unmapped == 0 {
                tracing::warn!(
                    venue = r.venue.as_str(),
                    conn,
                    planned = self.protos[vi].len(),
                    "the recording has a connection the config does not plan; its records are skipped"
                );
            }
            self.stats.unmapped += 1;
            return;
        }
        match r.header.kind {
            Kind::Meta | Kind::Sent | Kind::End => {}
            Kind::Conn => {
                let want = self.protos[vi][conn].url();
                let got = String::from_utf8_lossy(r.payload);
                // The config's URL is empty where the engine filled in the
                // simulator's at start: nothing to compare then.
                if !url_path(&want).is_empty() && url_path(&want) != url_path(&got) {
                    self.stats.url_mismatches += 1;
                    tracing::warn!(venue = r.venue.as_str(), conn, recorded = %got, planned = %want, "recorded connection differs from the config's plan");
                }
            }
            Kind::Open => {
                self.stats.opens += 1;
                self.protos[vi][conn].on_open(&mut Vec::new());
            }
            Kind::Frame => {
                self.stats.frames += 1;
                self.protos[vi][conn].on_frame(r.payload, ts);
            }
            Kind::Rest => {
                if let Some((tag, result)) = format::parse_rest(r.payload) {
                    self.stats.rest_replies += 1;
                    self.protos[vi][conn].on_rest(RestReply { tag, result });
                }
            }
            Kind::Close => {
                self.stats.closes += 1;
                self.protos[vi][conn].on_close();
            }
            Kind::Dropped => {
                self.stats.dropped_markers += 1;
                self.protos[vi][conn].on_close();
            }
        }
        self.drain(now, obs);
        if now >= self.next_housekeeping_ns {
            self.next_housekeeping_ns = now + 100_000_000;
            self.gov.housekeeping();
            self.ledger.sample(now, &self.tops);
        }
        if now >= self.next_holds_ns {
            self.next_holds_ns = now + 1_000_000_000;
            self.gov.flush_holds();
        }
        self.journal_backpressure();
        obs.after_record(ts, self);
    }

    fn set_time(&self, now: u64) {
        set_replay_ns(now);
        self.clock.set_ms((now / 1_000_000) as i64);
    }

    /// Sleeps so that recorded time advances at the chosen speed.
    fn pace(&mut self, ts: u64) {
        let Speed::Factor(f) = self.opts.speed else {
            return;
        };
        let (start, t0) = *self.pace.get_or_insert((Instant::now(), ts));
        let due = Duration::from_nanos((ts.saturating_sub(t0) as f64 / f) as u64);
        let el = start.elapsed();
        if due > el {
            std::thread::sleep(due - el);
        }
    }

    /// The feed's events through book, score, risk (and into the order delay).
    fn drain(&mut self, now: u64, obs: &mut dyn Observer) {
        while let Some(ev) = self.md_rx.try_next() {
            self.stats.market_events += 1;
            let Some(si) = self.book.apply(&ev, now) else {
                continue;
            };
            if let ScoreInput::Book(top) = &si {
                if let Some(t) = self.tops.get_mut(top.inst.idx()) {
                    *t = Some(*top);
                }
                obs.on_book(top);
            }
            let Some(mut d) = self.scorer.on_input(&si) else {
                continue;
            };
            d.hop_ns = now;
            self.stats.decisions += 1;
            obs.on_decision(&d);
            if !self.trading(now) {
                continue;
            }
            let v = self.gov.check(&d, now);
            if let Some(c) = self.verdicts.get_mut(self.gov.last_slot()) {
                *c += 1;
            }
            self.gov.journal_verdict(&d, v);
            if v != Verdict::Execute {
                continue;
            }
            let tick = self.ticks.get(d.inst.idx()).copied().unwrap_or(1);
            let coid = self.gov.next_client_order_id();
            if let Some(mut o) = build_intent(&d, coid, tick, &self.exec_cfg) {
                o.hop_ns = now;
                self.gov.on_order_sent(&o);
                self.stats.orders += 1;
                let due = now.saturating_add(self.latency.order_delay_ns);
                self.pending.push(due, o);
            }
        }
        self.run_due(now);
    }

    /// Matches every order due by `upto`, against the book as it is at its
    /// due time (with no order delay: the book its decision saw).
    fn run_due(&mut self, upto: u64) {
        while let Some((due, mut o)) = self.pending.pop_due(upto) {
            self.set_time(due);
            if self.latency.order_delay_ns > 0
                && let Some(b) = self.book.book(o.decision.inst)
            {
                let top = &mut o.decision.book;
                let mut bids = [crate::core::Level::default(); TOP_LEVELS];
                let mut asks = [crate::core::Level::default(); TOP_LEVELS];
                let (nb, na) = b.top(&mut bids, &mut asks);
                top.bids = bids;
                top.asks = asks;
                top.n_bids = nb;
                top.n_asks = na;
                top.in_sync = b.in_sync;
            }
            self.latency
                .record_tick_to_order(due.saturating_sub(o.decision.recv_ns));
            let reports = &mut self.reports;
            self.exec.execute(&o, |r| reports.push(r));
            for r in self.reports.drain(..) {
                self.gov.on_report(&r);
                self.ledger.on_report(due, &r);
            }
        }
    }

    /// Keeps the journal writer's queue from overflowing (a dropped journal
    /// record would make the replay's journal depend on disk speed).
    fn journal_backpressure(&self) {
        let Some(j) = self.gov.journal() else { return };
        while j.stats().pending() as usize > self.journal_cap / 2 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// Executes what is still pending, flushes HOLD sums, takes the last
    /// sample, and closes the journal.
    pub fn finish(&mut self) {
        self.run_due(u64::MAX);
        let end = self
            .stats
            .last_ts_ns
            .saturating_add(self.latency.feed_delay_ns);
        self.set_time(end);
        self.gov.flush_holds();
        self.ledger.sample(end, &self.tops);
        // The writer stops once the last sender (the governor's) is gone.
        drop(self.gov.take_journal());
        if let Some(w) = self.journal.take() {
            w.join();
        }
        set_replay_ns(0);
    }
}

use std::time::Duration;

/// The path and query of a URL (the host differs between runs of a simulator).
fn url_path(u: &str) -> &str {
    let rest = u.split_once("://").map(|x| x.1).unwrap_or(u);
    rest.find('/').map(|i| &rest[i..]).unwrap_or("")
}
