//! Binance USD-M's trading session (testnet/live): it owns order entry
//! and the private stream for the engine, off the hot path.
//!
//! Two threads: the **hand-off thread** takes intents from the exec
//! stage's ring, builds the client order id (`exec::client_id`), registers
//! the order on the desk, signs the request and hands it to the **runtime
//! thread** (a tokio current-thread runtime) that sends it and runs the
//! rest: the unknown-outcome resolver's queries (`resolve`), the clock
//! offset, the private stream with its listenKey and gap fills (`stream`,
//! `gap`), and a timer that settles fills waiting for their commission and
//! fetches trades the venue says happened but no event brought.
//!
//! At start, before either thread runs, the session journals its client id
//! scheme (`client_ids`: venue, prefix, epoch) and waits on the journal's
//! barrier (`JournalTx::sync`) until that record is written and fsynced:
//! every venue client id this life sends is derivable from the disk before
//! the first request can leave. The engine starts the session before the
//! risk stage, whose `order` records (journaled before an intent reaches
//! exec) therefore all follow it in the journal's queue (those keep the
//! configured fsync policy). A journal that refuses the record, or does not
//! get it to disk within [`JOURNAL_BARRIER_TIMEOUT`], refuses the start. The orders
//! the startup reconciliation matched are tracked from the start; the
//! missing ones are queried by client id (`desk::recovered`).
//!
//! At stop (exec closed the hand-off) the runtime finishes the orders in
//! flight, cancels the open orders (`safety`) and, with
//! `trading.flatten_on_stop`, closes the venue's positions (`flatten`),
//! all within [`Timings::stop_budget`]; the private stream, the resolver
//! and the tick keep running through that stop work, so the fills it
//! brings reach exec like any other, and end only after it.
//!
//! Modules: `desk` (orders, lifecycle, parking, reports to exec), `place`
//! (one order's request and what its answer means), `resolve` (resolver
//! and clock tasks), `stream` (user data stream), `gap` (REST gap fill),
//! `api` (the REST calls beyond order entry), `safety` (dead man's switch,
//! cancel on stop), `flatten` (flatten on stop), `reconcile` (periodic
//! reconciliation, `/api/orders`), `account` (the account as the venue
//! states it, and the position discrepancy alarm), `metrics`.

mod account;
pub mod api;
pub mod desk;
mod flatten;
mod gap;
pub mod metrics;
pub mod order_rate;
mod place;
mod reconcile;
mod resolve;
mod safety;
mod stream;

use crate::config::Config;
use crate::core::Venue;
use crate::exec::client_id::ClientIdGen;
use crate::exec::unknown::ResolverConfig;
use crate::pipeline::shared::Shared;
use crate::venue::adapter::{RunningSession, TradingContext, TradingSession};
use crate::venue::binance::SymbolMap;
use crate::venue::binance::config::BinanceConfig;
use crate::venue::binance::signed::{ApiCredentials, SignedClient, TimeInForce};
use anyhow::{Context, Result, bail};
use desk::Desk;
use metrics::SessionMetrics;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// The session's timings (from `[venues.binance]`; tests shorten them).
#[derive(Debug, Clone)]
pub struct Timings {
    pub order_timeout: Duration,
    pub keepalive: Duration,
    pub clock_sync: Duration,
    /// How long a fill without commission waits for the report with it.
    pub fee_wait: Duration,
    /// Order pause after a 429 / `-1003` / `-1015` without `Retry-After`.
    pub pause_default: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub resolver: ResolverConfig,
    /// `countdownCancelAll` countdown per traded symbol (zero = off),
    /// re-armed every quarter of it.
    pub dead_man: Duration,
    /// Cancel every open order of the traded symbols at stop.
    pub cancel_on_stop: bool,
}

/// What the session does at stop beyond canceling (from `[trading]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopWork {
    /// Close every traded symbol's venue position with reduce-only orders.
    pub flatten: bool,
    /// The longest flattening may take; the engine exits after it anyway.
    pub flatten_timeout: Duration,
}

impl StopWork {
    fn from_config(t: &crate::config::trading::TradingConfig) -> StopWork {
        StopWork {
            flatten: t.flatten_on_stop,
            flatten_timeout: Duration::from_millis(t.flatten_timeout_ms),
        }
    }
}

impl Default for Timings {
    /// The timings of a default `[venues.binance]` section.
    fn default() -> Self {
        Timings::from_config(
            &BinanceConfig::default(),
            &crate::config::trading::TradingConfig::default(),
            crate::config::TradingMode::Testnet,
        )
    }
}

impl Timings {
    /// The longest the in-flight wait and the cancels at stop may take.
    pub fn cancel_budget(&self) -> Duration {
        (self.order_timeout * 2).max(Duration::from_secs(2))
    }

    /// The longest the stop work takes: answers in flight, the cancels,
    /// and (with `w.flatten`) the flatten and its last position check.
    pub fn stop_budget(&self, w: StopWork) -> Duration {
        let flatten = if w.flatten {
            w.flatten_timeout + self.order_timeout
        } else {
            Duration::ZERO
        };
        self.order_timeout + Duration::from_millis(500) + self.cancel_budget() + flatten
    }

    /// The venue section's timings, and the dead man's switch and
    /// cancel-on-stop of `[trading]`.
    fn from_config(
        vc: &BinanceConfig,
        t: &crate::config::trading::TradingConfig,
        mode: crate::config::TradingMode,
    ) -> Timings {
        Timings {
            order_timeout: Duration::from_millis(vc.order_timeout_ms),
            keepalive: Duration::from_millis(vc.listen_key_keepalive_ms),
            clock_sync: Duration::from_millis(vc.clock_sync_ms),
            fee_wait: Duration::from_millis(1_000),
            pause_default: Duration::from_millis(1_000),
            reconnect_min: Duration::from_millis(vc.backoff_min_ms.max(50)),
            reconnect_max: Duration::from_millis(vc.backoff_max_ms.max(100)),
            resolver: ResolverConfig::default(),
            dead_man: Duration::from_millis(t.dead_man_switch_ms),
            cancel_on_stop: t.cancel_on_stop(mode),
        }
    }
}

/// Everything the session's tasks share.
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub client: SignedClient,
    pub desk: Mutex<Desk>,
    pub syms: SymbolMap,
    pub m: SessionMetrics,
    pub t: Timings,
    pub tif: TimeInForce,
    /// `ws://host:port` or `wss://host` of the user data stream.
    pub stream_base: String,
    /// Set when exec closed the hand-off: no order comes any more (the
    /// dead man's switch and the halt watcher end).
    pub stop: watch::Receiver<bool>,
    /// Set when the stop work is done: the stream, resolver, clock and tick
    /// tasks end (they serve the stop work until then).
    pub finish: watch::Receiver<bool>,
    /// Client order ids of this life (the hand-off's and the stop orders').
    pub ids: ClientIdGen,
    pub stop_work: StopWork,
    /// Wakes the clock task (a `-1021`).
    pub remeasure: Notify,
    /// When the session started (unix ms): trades before it are not ours.
    pub start_ms: i64,
    /// The account's order-rate windows (`order_rate`).
    pub rate: Mutex<order_rate::OrderRate>,
    /// Orders sent and not answered yet (for a clean stop).
    pub in_flight: std::sync::atomic::AtomicU64,
    pub rtt: Mutex<crate::telemetry::latency::LatencyRecorder>,
    pub t2w: Mutex<crate::telemetry::latency::LatencyRecorder>,
    /// The mode's journal (reconciliation records).
    pub journal: Option<crate::journal::JournalTx>,
    pub mode: crate::config::TradingMode,
    /// `trading.reconcile_interval_secs` (0 = no periodic reconciliation).
    pub reconcile_secs: u64,
    /// `trading.adopt_unknown_orders`.
    pub policy: crate::config::AdoptPolicy,
    /// This engine's client id prefix.
    pub prefix: String,
    /// The last periodic reconciliation, as `/api/orders` shows it.
    pub last_reconcile: Mutex<serde_json::Value>,
    /// Instruments whose position difference is already counted (one
    /// alarm per difference, whether the account watcher or the periodic
    /// reconciliation saw it first; cleared when they agree again).
    pub position_alarms: Mutex<std::collections::HashSet<crate::core::InstrumentId>>,
    pub t2h: Mutex<crate::telemetry::latency::LatencyRecorder>,
}

impl Ctx {
    pub fn health(&self) -> &crate::pipeline::shared::TradingHealth {
        self.shared.trading(Venue::Binance)
    }

    pub fn now_ms() -> u64 {
        crate::core::clock::unix_ms().max(0) as u64
    }

    /// True while order traffic is stopped (a 429/418 and its
    /// `Retry-After`, from an order reply or the shared REST budget; or a
    /// full order-rate window).
    pub fn orders_paused(&self, now_ms: u64) -> bool {
        let g = &self.shared.venue_gates;
        g.rest_stopped(Venue::Binance, now_ms as i64)
            || g.order_rate_paused(Venue::Binance, now_ms as i64)
    }

    /// Admits one new order into the account's order-rate windows at
    /// `now_ms`; when that fills a window, or no order may go, new orders
    /// stop until it rolls (risk SKIPs `venue_order_rate`). False: refused.
    pub fn admit_order(&self, now_ms: u64) -> bool {
        let (admitted, full) = {
            let mut r = self.rate.lock();
            match r.admit(now_ms) {
                Ok(()) => (true, r.full_until(now_ms)),
                Err(until) => (false, Some(until)),
            }
        };
        if let Some(until) = full {
            self.pause_for_order_rate(until);
        }
        admitted
    }

    /// New orders wait until `until_ms` for the order-rate window.
    pub fn pause_for_order_rate(&self, until_ms: u64) {
        let g = &self.shared.venue_gates;
        let now = Self::now_ms() as i64;
        if !g.order_rate_paused(Venue::Binance, now) {
            self.m.order_rate_stop();
            tracing::info!(
                for_ms = (until_ms as i64 - now).max(0),
                "binance order-rate window full: new orders wait until it rolls (risk SKIPs venue_order_rate)"
            );
        }
        g.pause_for_order_rate(Venue::Binance, until_ms as i64);
    }

    /// Sets whether the private stream is up (risk SKIPs
    /// `private_stream_down` while it is not).
    pub fn set_stream_up(&self, up: bool) {
        self.shared
            .venue_gates
            .set_private_stream_up(Venue::Binance, up);
    }

    /// Stops order traffic for `d` (a 429 and its `Retry-After`).
    pub fn pause_orders(&self, d: Duration) {
        let until = (Self::now_ms() + d.as_millis() as u64) as i64;
        self.shared
            .venue_gates
            .venue(Venue::Binance)
            .rest_stopped_until_ms
            .fetch_max(until, Ordering::AcqRel);
        tracing::warn!(
            pause_ms = d.as_millis() as u64,
            "binance order traffic stopped until Retry-After has passed"
        );
    }
}

/// Latency slot of frame received → the order request's first bytes
/// written to the socket (the order connection's write stamp, `order_wire`).
pub const TICK_TO_WIRE: &str = "tick_to_wire";
/// Latency slot of frame received → the signed request handed to the
/// session's runtime thread (before any I/O).
pub const TICK_TO_HANDOFF: &str = "tick_to_handoff";
/// Latency slot of order request sent → its answer.
pub const ORDER_ROUND_TRIP: &str = "order_round_trip";

/// How long the start waits for the client id scheme record to be on disk
/// (the journal's barrier) before refusing to trade.
pub const JOURNAL_BARRIER_TIMEOUT: Duration = Duration::from_secs(5);

/// The Binance trading session (see the module doc).
pub struct BinanceTrading;

struct Running {
    handoff: JoinHandle<()>,
    stop_budget: Duration,
}

impl RunningSession for Running {
    fn stop_budget(&self) -> Duration {
        self.stop_budget
    }

    fn join(self: Box<Self>, timeout: Duration) {
        let until = std::time::Instant::now() + timeout;
        while !self.handoff.is_finished() && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.handoff.is_finished() {
            let _ = self.handoff.join();
        } else {
            tracing::error!("binance trading session did not stop in time");
        }
    }
}

/// Picks the trading endpoints and credentials: the configured ones, or
/// the built-in simulator's for empty ones.
fn endpoints(
    ctx: &TradingContext<'_>,
    vc: &BinanceConfig,
) -> Result<(String, String, ApiCredentials)> {
    let sim = ctx.sim.as_ref();
    let rest = if vc.trade_rest_url.is_empty() {
        match sim {
            Some(s) => s.rest_url.clone(),
            None => bail!(
                "venues.binance.trade_rest_url is empty: that means the built-in simulator, which is not running ([sim] enabled = false)"
            ),
        }
    } else {
        vc.trade_rest_url.clone()
    };
    let stream = if vc.user_stream_url.is_empty() {
        match sim {
            Some(s) => s.ws_url.clone(),
            None => bail!(
                "venues.binance.user_stream_url is empty: that means the built-in simulator, which is not running ([sim] enabled = false)"
            ),
        }
    } else {
        vc.user_stream_url.clone()
    };
    let creds = if vc.api_key_env.is_empty() && vc.trade_rest_url.is_empty() {
        match sim {
            Some(s) => ApiCredentials::new(s.api_key.clone(), s.api_secret.clone()),
            None => bail!("venues.binance.api_key_env is empty"),
        }
    } else {
        ApiCredentials::from_env(&vc.api_key_env, &vc.api_secret_env)
            .map_err(|e| anyhow::anyhow!("venues.binance: {e}"))?
    };
    Ok((rest, stream.trim_end_matches('/').to_string(), creds))
}

fn tif_of(s: &str) -> Result<TimeInForce> {
    match s.to_ascii_uppercase().as_str() {
        "IOC" => Ok(TimeInForce::Ioc),
        "GTC" => Ok(TimeInForce::Gtc),
        other => bail!("time_in_force `{other}`: must be IOC or GTC"),
    }
}

impl BinanceTrading {
    /// Starts with explicit timings (tests shorten them).
    pub fn start_with(
        &self,
        ctx: TradingContext<'_>,
        t: Timings,
    ) -> Result<Box<dyn RunningSession>> {
        let cfg: &Config = ctx.cfg;
        let vc = cfg
            .venues
            .get::<BinanceConfig>()
            .cloned()
            .filter(|v| v.enabled)
            .context("[venues.binance] is not enabled")?;
        let (rest, stream_base, creds) = endpoints(&ctx, &vc)?;
        let tif = tif_of(&ctx.settings.time_in_force)?;
        let ids = ClientIdGen::start(
            &ctx.settings.client_id_prefix,
            Ctx::now_ms(),
            ctx.epoch_floor_ms,
        )
        .map_err(|e| anyhow::anyhow!("client order ids: {e}"))?;
        // The id scheme goes to the journal before any order can be sent
        // (see the module doc).
        if let Some(j) = &ctx.journal {
            let sent = j.send(crate::journal::Entry {
                ts_ms: crate::core::clock::unix_ms(),
                mode: cfg.mode,
                event: crate::journal::Event::ClientIds(Box::new(crate::journal::ClientIdsNote {
                    venue: Venue::Binance,
                    prefix: ids.prefix().to_string(),
                    epoch_ms: ids.epoch_ms(),
                })),
            });
            if !sent {
                bail!("the journal did not take the client id scheme record: refusing to trade");
            }
            // On disk, not only queued, before any order can leave.
            if let Err(e) = j.sync(JOURNAL_BARRIER_TIMEOUT) {
                bail!("the client id scheme record is not on disk ({e}): refusing to trade");
            }
        }
        let shared = ctx.shared.clone();
        let budget = crate::venue::binance::shared_budget(&shared, &vc);
        let client = SignedClient::new(&rest, creds, Some(budget))
            .with_timeout(t.order_timeout)
            .with_order_wire(t.order_timeout)
            .map_err(|e| anyhow::anyhow!("venues.binance trade_rest_url: {e}"))?;
        let m = SessionMetrics::new(&shared.metrics, Venue::Binance);
        let ports = ctx.ports;
        let mut desk = Desk::new(
            ports.reports,
            m.clone(),
            shared.clone(),
            Venue::Binance,
            t.resolver,
            t.fee_wait,
        )
        .with_done_kept(vc.done_orders_kept as usize);
        // The orders the startup reconciliation found working: tracked from
        // the start, so their fills and ends are applied, not parked.
        for o in ctx.adopted.iter().filter(|o| o.qty > o.filled) {
            desk.adopt(o);
        }
        // The journal's open orders the venue did not list: queried by id.
        for k in &ctx.missing {
            desk.recover(k, Ctx::now_ms());
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let (finish_tx, finish_rx) = watch::channel(false);
        let stop_work = StopWork::from_config(&cfg.trading);
        let stop_budget = t.stop_budget(stop_work);
        let lat = |name: &str| {
            Mutex::new(crate::telemetry::latency::LatencyRecorder::new(
                &shared.latency,
                name,
                shared.metrics.stage_hist(name),
            ))
        };
        let c = Arc::new(Ctx {
            syms: SymbolMap::new(&shared.instruments, Venue::Binance),
            shared: shared.clone(),
            client,
            desk: Mutex::new(desk),
            m,
            tif,
            stream_base,
            stop: stop_rx,
            finish: finish_rx,
            ids,
            stop_work,
            remeasure: Notify::new(),
            start_ms: crate::core::clock::unix_ms(),
            in_flight: std::sync::atomic::AtomicU64::new(0),
            rate: Mutex::new(order_rate::OrderRate::default()),
            rtt: lat(ORDER_ROUND_TRIP),
            t2w: lat(TICK_TO_WIRE),
            t2h: lat(TICK_TO_HANDOFF),
            t,
            journal: ctx.journal.clone(),
            mode: cfg.mode,
            reconcile_secs: cfg.trading.reconcile_interval_secs,
            policy: cfg.trading.adopt_unknown_orders,
            prefix: ctx.settings.client_id_prefix.clone(),
            last_reconcile: Mutex::new(serde_json::Value::Null),
            position_alarms: Mutex::new(std::collections::HashSet::new()),
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("binance session runtime")?;
        let handle = rt.handle().clone();
        let health = shared.trading(Venue::Binance);
        shared
            .venue_gates
            .set_private_stream_up(Venue::Binance, false);
        health.active.store(true, Ordering::Relaxed);
        // The runtime thread: the background tasks until stop.
        let c2 = c.clone();
        let runtime = std::thread::Builder::new()
            .name("session-binance".into())
            .spawn(move || {
                rt.block_on(async move {
                    // The order-rate limits before anything else (bounded:
                    // the defaults until the venue answers).
                    order_rate::load_limits(&c2).await;
                    let tasks = vec![
                        tokio::spawn(resolve::clock_task(c2.clone())),
                        tokio::spawn(resolve::resolver_task(c2.clone())),
                        tokio::spawn(resolve::tick_task(c2.clone())),
                        tokio::spawn(stream::stream_task(c2.clone())),
                        tokio::spawn(safety::dead_man_task(c2.clone())),
                        tokio::spawn(safety::halt_task(c2.clone())),
                        tokio::spawn(reconcile::reconcile_task(c2.clone())),
                        tokio::spawn(account::watch_task(c2.clone())),
                    ];
                    let mut stop = c2.stop.clone();
                    while !*stop.borrow() {
                        if stop.changed().await.is_err() {
                            break;
                        }
                    }
                    // Orders in flight get their answers (bounded by the
                    // request timeout), the open orders are canceled and
                    // the positions flattened (each bounded), then the
                    // tasks end.
                    let cancel = c2.t.cancel_budget();
                    let stopping = async {
                        place::wait_in_flight(&c2).await;
                        safety::on_stop(&c2).await;
                    };
                    if tokio::time::timeout(cancel, stopping).await.is_err() {
                        tracing::error!(
                            budget_ms = cancel.as_millis() as u64,
                            "binance stop: canceling the open orders did not finish in time"
                        );
                    }
                    if c2.stop_work.flatten {
                        flatten::flatten(&c2).await;
                    }
                    let _ = finish_tx.send(true);
                    for t in tasks {
                        t.abort();
                    }
                    c2.desk.lock().flush();
                    for l in [&c2.rtt, &c2.t2w, &c2.t2h] {
                        l.lock().flush();
                    }
                });
                // Dropping the runtime cancels what is left.
                drop(rt);
            })
            .context("spawning the binance session runtime thread")?;
        let c3 = c.clone();
        let mut orders = ports.orders;
        let handoff = std::thread::Builder::new()
            .name("orders-binance".into())
            .spawn(move || {
                place::handoff_loop(&c3, &handle, &mut orders);
                let _ = stop_tx.send(true);
                let _ = runtime.join();
                c3.health().active.store(false, Ordering::Relaxed);
                c3.set_stream_up(false);
                // The last reports go out; the ring to exec closes when the
                // desk is dropped with the last `Ctx`.
                c3.desk.lock().flush();
            })
            .context("spawning the binance order hand-off thread")?;
        tracing::info!(
            rest = %rest,
            prefix = %ctx.settings.client_id_prefix,
            flatten_on_stop = stop_work.flatten,
            "binance trading session started"
        );
        Ok(Box::new(Running {
            handoff,
            stop_budget,
        }))
    }
}

impl TradingSession for BinanceTrading {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    fn start(&self, ctx: TradingContext<'_>) -> Result<Box<dyn RunningSession>> {
        let vc = ctx
            .cfg
            .venues
            .get::<BinanceConfig>()
            .cloned()
            .unwrap_or_default();
        let t = Timings::from_config(&vc, &ctx.cfg.trading, ctx.cfg.mode);
        self.start_with(ctx, t)
    }
}
