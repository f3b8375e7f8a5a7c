//! The engine: builds the instrument table, loads the model, optionally
//! asks the caller's [`EmbeddedVenues`] starter for in-process venues (the
//! binary's simulator; the engine names none), creates the bounded queues, spawns the
//! stage threads (feed per venue -> book -> score -> risk -> exec, with
//! exec reports flowing back to risk), starts the ops server, and stops it
//! all in order.

use super::fused::{FusedStages, run_fused};
use crate::book::stage::BookRunner;
use crate::book::{MAX_LEVELS, run_book_stage};
use crate::config::{Config, Layout, TradingMode};
use crate::core::{Clock, Instrument, InstrumentId, InstrumentTable, MarketEvent, parse_decimal};
use crate::exec::gateway::Gateway;
use crate::exec::stage::{ExecRunner, Outbox, run_exec_stage_with};
use crate::pipeline::channel::{FanIn, Rx, spsc};
use crate::pipeline::shared::Shared;
use crate::pipeline::thread::spawn_stage;
use crate::risk::control::RiskControl;
use crate::risk::stage::RiskRunner;
use crate::risk::{Governor, run_risk_stage};
use crate::score::reload::ModelControl;
use crate::score::stage::ScoreRunner;
use crate::score::{Model, run_score_stage};
use crate::telemetry::metrics::Metrics;
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::watch;

/// The model embedded in the binary, used when `config/model.json` is not
/// found (e.g. the demo run from another directory).
pub const EMBEDDED_MODEL: &str = include_str!("../../config/model.json");

/// Knobs for tests and tools.
#[derive(Clone, Default)]
pub struct EngineOptions {
    /// Wall clock for UTC-day counters (tests inject a manual one).
    pub clock: Option<Clock>,
    /// Skip the ops HTTP server.
    pub no_ops: bool,
    /// No sockets: no simulator, no feed threads. Frames are pushed in
    /// through [`Engine::take_injector`] (benches, soak tests).
    pub inject: bool,
    /// Starts the in-process venues when `[sim] enabled` (the binary passes
    /// its simulator); without it such a config is refused.
    pub embedded_venues: Option<StartEmbeddedVenues>,
    /// Trading settings for a venue mode (client id prefix, time in
    /// force); the defaults until `[trading]` fills them.
    pub trading: TradingSettings,
    /// Live mode armed (`run --live` or `QT_LIVE=1`): one of the live
    /// interlock's conditions (`app::interlock`).
    pub live_armed: bool,
}

/// Venues running inside this process (the binary's simulator): the engine
/// only asks them for their base URLs, fills them into the venues whose URLs
/// are empty, and keeps them alive until it stops.
pub trait EmbeddedVenues: Send + Sync + 'static {
    /// `ws://host:port`, the WebSocket base of every embedded venue.
    fn ws_url(&self) -> String;
    /// `http://host:port`, the REST base of every embedded venue.
    fn rest_url(&self) -> String;
    /// The concrete value, for the embedding program and its tests.
    fn as_any(&self) -> &dyn std::any::Any;
    /// The trading endpoints and credentials the embedded venue serves for
    /// `venue` (used by a venue whose trading endpoints are empty).
    fn trading(&self, _venue: crate::core::Venue) -> Option<SimTrading> {
        None
    }
}

pub use crate::venue::adapter::{SimTrading, TradingSettings};

/// Starts the embedded venues for a config and its instrument table.
pub type StartEmbeddedVenues = Arc<
    dyn Fn(&Config, &InstrumentTable) -> Result<Box<dyn EmbeddedVenues>> + Send + Sync + 'static,
>;

/// The in-process frame injector ([`EngineOptions::inject`]).
pub use crate::venue::inject::Injector;

pub struct Engine {
    /// The layout running (`auto` resolved).
    layout: Layout,
    shared: Arc<Shared>,
    stop_tx: watch::Sender<bool>,
    feeds: Vec<JoinHandle<()>>,
    stages: Vec<(&'static str, JoinHandle<()>)>,
    ops: Option<crate::ops::server::OpsHandle>,
    sim: Option<Box<dyn EmbeddedVenues>>,
    config: Config,
    injector: Option<Injector>,
    journal: Option<crate::journal::JournalWriter>,
    publisher: Option<crate::publish::PublisherHandle>,
    /// The feed recorder's writer (`[record] enabled`), stopped after the feeds.
    capture: Option<crate::capture::RecorderHandle>,
    /// Model reload and shadow state (the score stage and the model API).
    model_ctl: Arc<ModelControl>,
    /// The venue trading session (testnet/live).
    session: Option<Box<dyn crate::venue::adapter::RunningSession>>,
    /// What the start of testnet/live found (empty in paper).
    startup: Arc<super::startup::StartupState>,
}

/// Slack on a trading session's stop budget: exec takes its reports this
/// much longer, and the engine waits twice this much longer for it.
const SESSION_STOP_SLACK: std::time::Duration = std::time::Duration::from_secs(1);

/// Starts the trading session of the one venue this config trades, and
/// returns the exec stage's gateway to it.
fn start_session(
    cfg: &Config,
    shared: &Arc<Shared>,
    sim: Option<&dyn EmbeddedVenues>,
    epoch_floor_ms: Option<u64>,
    settings: TradingSettings,
    startup: &super::startup::StartupState,
    journal: Option<crate::journal::JournalTx>,
) -> Result<(Gateway, Box<dyn crate::venue::adapter::RunningSession>)> {
    let traded: Vec<crate::core::Venue> = crate::core::Venue::ALL
        .into_iter()
        .filter(|v| shared.instruments.of_venue(*v).next().is_some())
        .collect();
    let [venue] = traded[..] else {
        bail!(
            "mode `{}` trades one venue per engine in this build; the instruments name {}",
            cfg.mode.as_str(),
            traded
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let Some(session) = crate::venue::registry::ADAPTERS
        .iter()
        .find(|a| a.venue() == venue)
        .and_then(|a| a.trading())
    else {
        bail!(
            "mode `{}`: venue {venue} has no trading session yet (paper only)",
            cfg.mode.as_str()
        );
    };
    // The account as the preflight found it: the session keeps it current.
    if let Some(s) = startup.venues.iter().find(|s| s.account.venue == venue) {
        seed_account_view(shared, venue, &s.account.snapshot);
    }
    // The orders the startup reconciliation found working at this venue.
    let adopted = startup
        .venues
        .iter()
        .filter(|s| s.account.venue == venue)
        .flat_map(|s| s.reconciliation.working().cloned())
        .collect();
    // The journal's open orders the venue did not list: to query.
    let missing = startup
        .venues
        .iter()
        .filter(|s| s.account.venue == venue)
        .flat_map(|s| s.reconciliation.missing.iter().cloned())
        .collect();
    let (exec_ports, session_ports) = crate::exec::gateway::ports(
        cfg.pipeline.queue_capacity,
        cfg.pipeline.exec.wait,
        &shared.metrics,
    );
    let running = session.start(crate::venue::adapter::TradingContext {
        cfg,
        shared,
        ports: session_ports,
        settings,
        sim: sim.and_then(|s| s.trading(venue)),
        epoch_floor_ms,
        adopted,
        missing,
        journal,
    })?;
    // Exec takes the session's reports for as long as its stop work may
    // take (cancels, flatten on stop).
    let mut exec_ports = exec_ports;
    exec_ports.drain = running.stop_budget() + SESSION_STOP_SLACK;
    Ok((Gateway::Venue(exec_ports), running))
}

/// Seeds `venue`'s account view (`pipeline::account`) with the preflight's
/// balances and positions (a traded instrument it does not list is flat),
/// stamped with the venue's time now.
fn seed_account_view(
    shared: &Shared,
    venue: crate::core::Venue,
    snap: &crate::exec::reconcile::VenueSnapshot,
) {
    use crate::pipeline::account::{AccountSource, AssetBalance, StatedPosition};
    let at = crate::core::clock::unix_ms() + snap.clock_offset_ms;
    let mut v = shared.trading(venue).account.lock();
    for b in &snap.balances {
        let stated = AssetBalance {
            wallet: b.wallet,
            available: Some(b.available),
            at_ms: at,
        };
        if v.set_balance(&b.asset, stated, AccountSource::Preflight)
            .is_err()
        {
            tracing::warn!(asset = %b.asset, "account view full: balance left out");
        }
    }
    for i in shared.instruments.of_venue(venue) {
        let p = snap.positions.iter().find(|p| p.inst == i.id);
        let stated = StatedPosition {
            qty: p.map_or(0, |p| p.qty),
            entry_price: p.map_or_else(|| "0".into(), |p| p.entry_price.clone()),
            unrealized: None,
            at_ms: at,
        };
        v.set_position(i.id, stated, AccountSource::Preflight);
    }
}

/// Builds the instrument table from the config.
pub fn instruments_from_config(cfg: &Config) -> Result<InstrumentTable> {
    let mut t = InstrumentTable::new();
    for (i, ic) in cfg.instruments.iter().enumerate() {
        let venue = ic.venue;
        let underlying = if ic.underlying.is_empty() {
            &ic.symbol
        } else {
            &ic.underlying
        };
        let mut inst = Instrument::new(
            InstrumentId(0),
            venue,
            &ic.symbol,
            underlying,
            &ic.tick_size,
            &ic.lot_size,
            ic.min_notional,
        )
        .map_err(|e| anyhow::anyhow!("instruments[{i}]: {e}"))?;
        inst.quote_asset = crate::venue::quote_asset(venue, &ic.symbol).unwrap_or_default();
        t.push(inst);
    }
    Ok(t)
}

/// Per-instrument scaled values of an instrument-config decimal field.
pub fn per_instrument(
    cfg: &Config,
    table: &InstrumentTable,
    f: impl Fn(&crate::config::InstrumentConfig) -> &str,
) -> Result<Vec<i64>> {
    let mut v = vec![0; table.len()];
    for ic in &cfg.instruments {
        let id = table.find(ic.venue, &ic.symbol).context("instrument")?;
        let scale = table.get(id).qty_scale;
        v[id.idx()] = parse_decimal(f(ic).as_bytes(), scale)
            .map_err(|e| anyhow::anyhow!("{} {}: {e}", ic.venue, ic.symbol))?;
    }
    Ok(v)
}

/// Loads the model file, falling back to the embedded model for the default path.
pub fn load_model(path: &str) -> Result<Model> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let dir = std::path::Path::new(path)
                .parent()
                .unwrap_or(std::path::Path::new("."));
            Model::from_json_in(&text, dir).with_context(|| format!("model file {path}"))
        }
        Err(e) if path == "config/model.json" && e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(
                "config/model.json not found here; using the model embedded in the binary"
            );
            Model::from_json(EMBEDDED_MODEL).context("embedded model")
        }
        Err(e) => bail!("cannot read model file {path}: {e}"),
    }
}

impl Engine {
    /// Starts everything; returns once threads run and servers listen.
    pub fn start(mut cfg: Config, opts: EngineOptions) -> Result<Engine> {
        // The live interlock's static conditions, before any socket opens.
        super::interlock::check_static(
            &cfg,
            opts.live_armed,
            &crate::venue::account::has_order_entry,
            &|k| std::env::var(k).ok(),
        )
        .map_err(anyhow::Error::new)?;
        let table = instruments_from_config(&cfg)?;
        let model = load_model(&cfg.model.path)?;
        let sim = match (&opts.embedded_venues, cfg.sim.enabled && !opts.inject) {
            (Some(start), true) => Some(start(&cfg, &table)?),
            (None, true) => bail!(
                "[sim] enabled = true needs the built-in simulator, which only the quantum-trader binary embeds"
            ),
            (_, false) => None,
        };
        if let Some(s) = &sim {
            crate::venue::wiring::fill_sim_urls(&mut cfg, &s.ws_url(), &s.rest_url());
        }
        // Venues with `instruments_from_rest` replace the configured facts.
        let table = if crate::venue::instruments::wanted(&cfg) {
            crate::venue::instruments::load_into(&mut cfg)?;
            instruments_from_config(&cfg)?
        } else {
            table
        };
        let table = Arc::new(table);
        let metrics = Arc::new(Metrics::new());
        let shared = Arc::new(Shared::new(
            table.clone(),
            metrics.clone(),
            model.version().to_string(),
            cfg.mode,
        ));
        // The controls the admin API drives: owned here, handed to the stage
        // that serves each one and to the ops server (`Shared` holds no
        // handle to a module above the pipeline; docs/layout.md).
        let risk_ctl = Arc::new(RiskControl::new());
        let model_ctl = Arc::new(ModelControl::sharing(shared.wants_depth10.clone()));
        model_ctl.configure(crate::score::reload::ReloadSettings {
            path: cfg.model.path.clone(),
            shadow_decisions: cfg.model.shadow_decisions,
            min_agreement: cfg.model.shadow_min_agreement,
        });
        metrics
            .build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                model.version(),
                cfg.mode.as_str(),
            ])
            .set(1);
        let p = &cfg.pipeline;
        let cap = p.queue_capacity;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let layout = p.layout.resolve(cores, cfg.venues.enabled().len());
        // Feed to book: one ring per producer (each feed connection, or the
        // injector), made as the feeds start below; the stage that reads
        // them (book, or the fused thread) starts once they all exist.
        let mut md_fan = FanIn::new("feed_to_book", cap, p.book.wait, &metrics);
        // Exec's reports back to risk: a ring in both layouts (in the fused
        // one both its ends are on the fused thread).
        let (rep_tx, rep_rx) = spsc("exec_to_risk", cap, p.risk.wait, &metrics);
        let rep_rx = rep_rx.with_spin(p.risk.spin());
        shared.add_input_probe("risk", rep_rx.depth_probe());

        // Journal: recover first, then start the writer (which continues
        // the record ids).
        let clock = opts.clock.clone().unwrap_or_else(Clock::system);
        let (journal, recovery) = if cfg.journal.enabled {
            let dir = std::path::Path::new(&cfg.journal.dir);
            let rec = crate::risk::recovery::recover(dir, cfg.mode, clock.unix_ms(), &table)
                .with_context(|| format!("recovering from the journal in {}", dir.display()))?;
            tracing::info!("{}", rec.line);
            let (tx, w) = crate::journal::start(&cfg.journal, table.clone(), &metrics)
                .with_context(|| format!("starting the journal in {}", dir.display()))?;
            (Some((tx, w)), rec)
        } else {
            tracing::info!("journal disabled: nothing restored, nothing journaled");
            (None, crate::risk::recovery::Recovery::default())
        };
        let mut recovery = recovery;
        // After the journal: events beyond the publisher's memory buffer are
        // kept in it and read back (see `publish::replay`).
        let publisher = start_publisher(&cfg, &shared, journal.as_ref().map(|(tx, _)| tx))?;
        *risk_ctl.recovery.lock() = recovery.summary.clone();
        shared.admin.load_token(&cfg.admin.token_env);
        let (journal_tx, journal_writer) = match journal {
            Some((tx, w)) => (Some(tx), Some(w)),
            None => (None, None),
        };
        // Testnet/live: account, clock and startup reconciliation before
        // any stage runs (the interlock's dynamic conditions).
        let startup = Arc::new(
            super::startup::run(
                &cfg,
                &table,
                &shared,
                &mut recovery.seed,
                &recovery.venue_orders,
                &mut recovery.exec,
                journal_tx.as_ref(),
                clock.unix_ms(),
                &|v| sim.as_deref().and_then(|s| s.trading(v)),
            )
            .map_err(anyhow::Error::new)?,
        );

        // The order gateway: paper, or the venue's trading session.
        let (gateway, session) = if cfg.mode == TradingMode::Paper {
            (Gateway::Paper, None)
        } else {
            // The epoch floor: the journal's last stamp, every epoch it
            // journaled for this prefix and every id of ours the journal
            // or the venue holds open.
            let prefix = cfg.trading.client_id_prefix.clone();
            let floor = [(recovery.seed.last_ts_ms > 0).then_some(recovery.seed.last_ts_ms as u64)]
                .into_iter()
                .chain(
                    recovery
                        .client_id_epochs
                        .iter()
                        .filter(|(p, _)| *p == prefix)
                        .map(|(_, e)| Some(*e)),
                )
                .chain(startup.venues.iter().map(|v| v.client_id_epoch_floor))
                .flatten()
                .max();
            // The client order id prefix is the `[trading]` section's.
            let mut settings = opts.trading.clone();
            settings.client_id_prefix = prefix;
            let (g, s) = start_session(
                &cfg,
                &shared,
                sim.as_deref(),
                floor,
                settings,
                &startup,
                journal_tx.clone(),
            )?;
            (g, Some(s))
        };
        // The stages' state, moved onto the thread(s) that run them.
        let exec_seed = recovery.exec;
        let gov = {
            let max_pos = per_instrument(&cfg, &table, |ic| &ic.max_position)?;
            let mut gov = Governor::new(&cfg.risk, table.clone(), max_pos, clock, cfg.mode);
            gov.attach_heartbeats(&shared.heartbeats);
            if cfg.mode != TradingMode::Paper {
                gov.attach_venue_gates(shared.venue_gates.clone());
            }
            gov.attach_metrics(crate::risk::metrics::RiskMetrics::new(&metrics));
            if let Some(tx) = journal_tx {
                gov.set_journal(tx, cfg.journal.record_holds);
            }
            gov.restore(&recovery.seed);
            if let Some(p) = shared.publish.get() {
                let _ = p.status.verdict_labels.set(gov.labels().to_vec());
            }
            gov
        };
        let qty = per_instrument(&cfg, &table, |ic| &ic.order_qty)?;
        let mut stages = Vec::new();
        // What reads the feed rings, started once every feed exists.
        type StartReader = Box<
            dyn FnOnce(
                Rx<MarketEvent>,
            ) -> std::io::Result<(&'static str, std::thread::JoinHandle<()>)>,
        >;
        let start_reader: StartReader = if layout == Layout::Fused {
            let (shared2, ec, mc) = (shared.clone(), cfg.exec.clone(), cfg.model.clone());
            let (rctl, mctl) = (risk_ctl.clone(), model_ctl.clone());
            let build = move || FusedStages {
                book: BookRunner::new(shared2.clone(), MAX_LEVELS),
                score: ScoreRunner::new(shared2.clone(), mctl, model, &mc, qty),
                risk: RiskRunner::new(shared2.clone(), rctl, gov, ec.clone()),
                exec: ExecRunner::new(shared2, ec, exec_seed, Outbox::new(), gateway),
            };
            let shared2 = shared.clone();
            let core = p.book.core;
            Box::new(move |md_rx| {
                let h = spawn_stage("fused", core, move || {
                    run_fused(md_rx, rep_tx, rep_rx, shared2, build)
                })?;
                Ok(("fused", h))
            })
        } else {
            let (sc_tx, sc_rx) = spsc("book_to_score", cap, p.score.wait, &metrics);
            let (dec_tx, dec_rx) = spsc("score_to_risk", cap, p.risk.wait, &metrics);
            let (ord_tx, ord_rx) = spsc("risk_to_exec", cap, p.exec.wait, &metrics);
            let sc_rx = sc_rx.with_spin(p.score.spin());
            let dec_rx = dec_rx.with_spin(p.risk.spin());
            let ord_rx = ord_rx.with_spin(p.exec.spin());
            for (stage, probe) in [
                ("score", sc_rx.depth_probe()),
                ("risk", dec_rx.depth_probe()),
                ("exec", ord_rx.depth_probe()),
            ] {
                shared.add_input_probe(stage, probe);
            }
            {
                let shared = shared.clone();
                let ec = cfg.exec.clone();
                stages.push((
                    "exec",
                    spawn_stage("exec", p.exec.core, move || {
                        run_exec_stage_with(ord_rx, rep_tx, shared, ec, exec_seed, gateway)
                    })?,
                ));
            }
            {
                let shared2 = shared.clone();
                let ec = cfg.exec.clone();
                let ctl = risk_ctl.clone();
                stages.push((
                    "risk",
                    spawn_stage("risk", p.risk.core, move || {
                        run_risk_stage(dec_rx, rep_rx, ord_tx, shared2, ctl, gov, ec)
                    })?,
                ));
            }
            {
                let shared2 = shared.clone();
                let mc = cfg.model.clone();
                let ctl = model_ctl.clone();
                stages.push((
                    "score",
                    spawn_stage("score", p.score.core, move || {
                        run_score_stage(sc_rx, dec_tx, shared2, ctl, model, mc, qty)
                    })?,
                ));
            }
            let shared2 = shared.clone();
            let core = p.book.core;
            Box::new(move |md_rx| {
                let h = spawn_stage("book", core, move || {
                    run_book_stage(md_rx, sc_tx, shared2, MAX_LEVELS)
                })?;
                Ok(("book", h))
            })
        };

        // Recording (`[record]`): the feed sessions tap into it.
        let capture = if cfg.record.enabled && !opts.inject {
            let (rec, h) = crate::capture::start_for(&cfg, &metrics)
                .with_context(|| format!("starting the recorder in {}", cfg.record.dir))?;
            let _ = shared.capture.set(Arc::new(rec));
            tracing::info!(dir = cfg.record.dir, "recording every feed");
            Some(h)
        } else {
            None
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut feeds = Vec::new();
        let mut injector = None;
        if opts.inject {
            injector = crate::venue::wiring::injector(&cfg, &shared, &mut md_fan);
        }
        if !opts.inject {
            feeds.extend(crate::venue::wiring::spawn_feeds(
                &cfg,
                &shared,
                &mut md_fan,
                p.feed.core,
                &stop_rx,
            )?);
        }
        // Every producer exists: the reader takes their rings (and ends once
        // every producer is gone). Its input waits at most a ring's capacity
        // while it starts.
        let md_rx = md_fan.into_rx().with_spin(p.book.spin());
        shared.add_input_probe("book", md_rx.depth_probe());
        stages.push(start_reader(md_rx)?);

        let ops = if opts.no_ops {
            None
        } else {
            Some(
                crate::ops::server::start(
                    shared.clone(),
                    cfg.ops.clone(),
                    risk_ctl.clone(),
                    model_ctl.clone(),
                )
                .context("starting the ops server")?,
            )
        };
        tracing::info!(
            mode = cfg.mode.as_str(),
            layout = layout.as_str(),
            cores,
            model = model_version(&shared),
            instruments = table.len(),
            ops = ops.as_ref().map(|o| o.addr.to_string()).unwrap_or_default(),
            sim = sim.as_ref().map(|s| s.rest_url()).unwrap_or_default(),
            "engine started"
        );
        Ok(Engine {
            layout,
            shared,
            stop_tx,
            feeds,
            stages,
            ops,
            sim,
            config: cfg,
            injector,
            journal: journal_writer,
            publisher,
            capture,
            model_ctl,
            session,
            startup,
        })
    }

    /// What the start of testnet/live found: per venue the account, the
    /// reconciliation (matched and adopted orders, positions), the clock
    /// offset; the venue sessions seed their order tables from it.
    pub fn startup(&self) -> &Arc<super::startup::StartupState> {
        &self.startup
    }

    /// The hot path's layout: `threads` or `fused` (`auto` resolved by the
    /// cores available).
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The in-process injector (only with [`EngineOptions::inject`]).
    pub fn take_injector(&mut self) -> Option<Injector> {
        self.injector.take()
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The model control the score stage and the model API share (reloads).
    pub fn model_control(&self) -> &Arc<ModelControl> {
        &self.model_ctl
    }

    /// The effective config (simulator URLs filled in).
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(|o| o.addr)
    }

    /// The in-process venues started through [`EngineOptions::embedded_venues`].
    pub fn embedded_venues(&self) -> Option<&dyn EmbeddedVenues> {
        self.sim.as_deref()
    }

    /// Stops feeds, drains and joins the stages, stops servers.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // An injector still held by the engine holds a queue sender.
        self.injector = None;
        self.shared
            .running
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.shared.input_probes.lock().clear();
        // A stage frozen by the test-only stall hook must be able to drain.
        for s in &self.shared.stages {
            s.hold.store(false, std::sync::atomic::Ordering::Release);
        }
        let _ = self.stop_tx.send(true);
        for h in self.feeds.drain(..) {
            let _ = h.join();
        }
        // Feeds are gone: the recorder writes what they handed it and closes its files.
        if let Some(c) = self.capture.take() {
            c.stop();
        }
        // Feeds are gone, so the queues close in order: book, score, risk,
        // exec (the fused thread shuts its stages down in that order).
        for (name, h) in self.stages.drain(..).rev() {
            if h.join().is_err() {
                tracing::error!(stage = name, "stage thread panicked");
            }
        }
        // Exec closed the hand-off: the trading session finishes its
        // requests in flight and stops.
        if let Some(s) = self.session.take() {
            let budget = s.stop_budget() + 2 * SESSION_STOP_SLACK;
            s.join(budget);
        }
        // Stages are done: the publisher flushes their last events, reading
        // back from the journal what spilled (the writer still runs).
        if let Some(p) = self.publisher.take() {
            p.stop();
        }
        // The risk stage and the publisher held the last journal senders:
        // the writer drains, syncs and stops.
        if let Some(j) = self.journal.take() {
            j.join();
        }
        if let Some(o) = self.ops.take() {
            o.shutdown();
        }
        // Dropping the embedded venues stops them.
        drop(self.sim.take());
    }
}

/// Starts the Redis publisher when a Redis URL is configured, and hands its
/// sink to the stages through `shared.publish`. With the journal on, events
/// beyond the publisher's memory buffer are kept in the journal and read
/// back from it ([`crate::publish::JournalReplay`]); without it they are
/// counted as dropped ([`crate::publish::NoReplay`]); with it, what earlier
/// engine lives left unwritten is written first ([`crate::publish::Backlog`]).
fn start_publisher(
    cfg: &Config,
    shared: &Arc<Shared>,
    journal: Option<&crate::journal::JournalTx>,
) -> Result<Option<crate::publish::PublisherHandle>> {
    let url = cfg.redis.effective_url();
    let services = crate::publish::services_to_read(cfg);
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    shared.metrics.redis.declare_services(&names);
    if url.is_empty() {
        return Ok(None);
    }
    let (sink, handle) = crate::publish::start(
        &cfg.redis,
        &services,
        &url,
        shared.clone(),
        cfg.ops.stall_timeout_ms,
        |epoch_ms| match journal {
            Some(tx) => crate::publish::Replay {
                source: Box::new(crate::publish::JournalReplay::new(
                    tx.clone(),
                    &cfg.journal.dir,
                    cfg.mode,
                    epoch_ms,
                )),
                backlog: (cfg.redis.backlog_days > 0).then(|| {
                    crate::publish::Backlog::new(
                        &cfg.journal.dir,
                        cfg.mode,
                        epoch_ms,
                        cfg.redis.backlog_days,
                        cfg.redis.buffer_capacity,
                    )
                }),
            },
            None => crate::publish::Replay {
                source: Box::new(crate::publish::NoReplay),
                backlog: None,
            },
        },
    )
    .context("starting the redis publisher")?;
    if shared.publish.set(sink).is_err() {
        bail!("the redis publisher was started twice");
    }
    Ok(Some(handle))
}

fn model_version(shared: &Shared) -> &str {
    &shared.model_version
}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.stages.is_empty() || !self.feeds.is_empty() {
            self.shutdown();
        }
    }
}
