//! Venue simulator: a Binance USD-M futures market on loopback, the ground
//! truth the engine's integration tests compare their books against, the
//! demo's market and the target of benches.
//!
//! This file owns the public API ([`SimSpec`], [`SimHandle`], [`Fault`],
//! [`SimStats`], [`SimBook`]) and the state shared by the generator, the
//! replayer and the server. The pieces:
//! * `market`: the random-walk generator and the ground-truth book per symbol;
//! * `binance`: the Binance wire format (JSON frames, REST bodies, stream names);
//! * `server`: the axum app (WebSocket streams, REST, control endpoints) and
//!   the fan-out of frames to connections;
//! * `replay`: streaming a recorded file instead of generating;
//! * `weight`: Binance's REST request-weight limit per client IP (429/418
//!   with `Retry-After`, `X-MBX-USED-WEIGHT-1M`);
//! * `orders`: Binance's signed order endpoints (new/cancel/query/open
//!   orders/positionRisk) against the ground-truth books.
//!
//! Everything runs on one OS thread with a current-thread tokio runtime, so
//! the simulator never competes with the engine's pinned stage threads for
//! more than one core.
//!
//! Faults are injected with [`SimHandle::inject`] (or `POST /sim/fault/...`),
//! see [`Fault`].

mod binance;
pub mod frames;
mod market;
pub mod orders;
mod replay;
mod server;
pub mod venues;
mod weight;

#[cfg(test)]
mod tests;

use crate::core::fixed::{decimals_of, parse_decimal};
use crate::core::format_decimal;
use anyhow::{Context, bail};
use binance::SymInfo;
use market::SymState;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// One simulated symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSymbol {
    /// Venue symbol as on the wire (`BTCUSDT`).
    pub symbol: String,
    /// Tick size as the venue writes it (`"0.10"`); its decimals set the price scale.
    pub tick_size: String,
    /// Lot size as the venue writes it (`"0.001"`); its decimals set the qty scale.
    pub lot_size: String,
    /// Starting mid price of the random walk.
    pub start_price: f64,
}

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimSpec {
    /// Listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Seed of the random walk: the same seed gives the same market per symbol.
    pub seed: u64,
    /// Market-data messages per second per symbol (depth + bookTicker + aggTrade).
    pub rate_per_symbol: u32,
    /// Price levels per side kept in each book.
    pub levels: u32,
    /// Interval of the WebSocket pings the server sends.
    pub ping_interval: Duration,
    pub symbols: Vec<SimSymbol>,
    /// Replay this recorded file instead of generating (see `replay`).
    pub replay_file: Option<PathBuf>,
}

impl SimSpec {
    /// Builds a spec from the engine config: the Binance instruments of the
    /// table, start prices from `cfg.start_prices` (default 100.0), tick and
    /// lot strings formatted from the instrument's scaled values.
    pub fn from_config(
        cfg: &crate::config::SimConfig,
        instruments: &crate::core::InstrumentTable,
    ) -> anyhow::Result<SimSpec> {
        let listen: SocketAddr = cfg
            .listen
            .parse()
            .with_context(|| format!("sim.listen `{}` is not an address", cfg.listen))?;
        let symbols = instruments
            .of_venue(crate::core::Venue::Binance)
            .map(|i| SimSymbol {
                symbol: i.symbol.clone(),
                tick_size: format_decimal(i.tick, i.price_scale),
                lot_size: format_decimal(i.lot, i.qty_scale),
                start_price: cfg.start_prices.get(&i.symbol).copied().unwrap_or(100.0),
            })
            .collect();
        Ok(SimSpec {
            listen,
            seed: cfg.seed,
            rate_per_symbol: cfg.rate_per_symbol,
            levels: cfg.levels,
            ping_interval: Duration::from_secs(cfg.ping_interval_secs.max(1)),
            symbols,
            replay_file: cfg.replay_file.as_ref().map(PathBuf::from),
        })
    }
}

/// A fault to inject into the simulated venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Close every open WS connection now, abruptly (TCP dropped, no close frame).
    DropConnections,
    /// Close each currently open connection after it has sent N more data frames.
    DropAfter(u64),
    /// The next depth update of this symbol is applied to the ground-truth
    /// book but not sent, so clients see `pu` != their last `u`.
    Gap(String),
    /// Send nothing (no data, no pings) for this long; sockets stay open and
    /// the market does not move meanwhile.
    Silence(Duration),
    /// The next frame of this symbol (any of its streams) is sent truncated
    /// (invalid JSON); its event still applies to the ground-truth book.
    Malformed(String),
    /// The next N REST depth requests answer HTTP 503 with Binance's -1001 body.
    FailSnapshots(u32),
    /// Every current subscription of this symbol (all its streams, on every
    /// connection) goes silent while the sockets and the other symbols keep
    /// flowing (a silent subscription); a new subscription of the same
    /// stream (after `UNSUBSCRIBE`/`SUBSCRIBE`, or on a new connection) is
    /// served normally. The market keeps moving.
    SilentStream(String),
    /// Like [`Fault::SilentStream`], and the connections open now stay deaf
    /// to this symbol: a resubscription on them is acknowledged but gets
    /// nothing. Only a new connection is served (tests the reconnect that
    /// follows a resubscribe that did not help).
    DeafStream(String),
}

/// Counters of the simulator since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SimStats {
    pub connections_total: u64,
    pub connections_open: u64,
    /// Market-data frames written to sockets.
    pub messages_sent: u64,
    /// Depth updates generated (or replayed), including gapped ones.
    pub depth_updates: u64,
    /// Successful REST depth snapshots.
    pub snapshots_served: u64,
    /// Incoming text messages on all connections (SUBSCRIBE and others).
    pub subscribe_messages: u64,
    /// Connections dropped because their outgoing queue filled up (slow
    /// readers). Addition to the brief's field list.
    pub slow_disconnects: u64,
    /// Most streams one connection asked for (URL plus `SUBSCRIBE`s),
    /// counted before the 1024-stream cap.
    pub max_streams_per_conn: u64,
    /// Streams refused because a connection already had 1024.
    pub stream_limit_refusals: u64,
    /// Most incoming messages one connection sent within one second.
    pub max_incoming_per_sec: u64,
    /// Connections closed for sending more than 10 messages in a second.
    pub incoming_rate_disconnects: u64,
    /// Binance REST requests received (any answer).
    pub rest_requests: u64,
    /// The REST weight limit per window per IP (Binance: 2400 per minute).
    pub rest_weight_limit: u64,
    /// REST weight served, all IPs and windows together.
    pub rest_weight_total: u64,
    /// Most weight one IP used within one window.
    pub rest_weight_max_used: u64,
    /// HTTP 429 answers (weight exceeded).
    pub rest_throttled_429: u64,
    /// HTTP 418 answers (a request before a Retry-After had passed).
    pub rest_banned_418: u64,
    /// Requests that arrived while their IP's Retry-After was running (more
    /// than 200 ms after the 429: the client could have known).
    pub rest_requests_during_retry_after: u64,
    /// Requests that arrived within 200 ms of their IP's 429 (already in
    /// flight when it was sent); answered 429 too.
    pub rest_in_flight_after_429: u64,
}

/// A consistent copy of a ground-truth book.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimBook {
    /// The last update id (`u`) applied to this book.
    pub last_update_id: u64,
    /// (price, qty) scaled by the instrument's scales, best (highest) first.
    pub bids: Vec<(i64, i64)>,
    /// (price, qty) scaled, best (lowest) first.
    pub asks: Vec<(i64, i64)>,
}

/// Atomic counters behind [`SimStats`].
#[derive(Default)]
pub(crate) struct Stats {
    pub connections_total: AtomicU64,
    pub connections_open: AtomicU64,
    pub messages_sent: AtomicU64,
    pub depth_updates: AtomicU64,
    pub snapshots_served: AtomicU64,
    pub subscribe_messages: AtomicU64,
    pub slow_disconnects: AtomicU64,
    pub max_streams_per_conn: AtomicU64,
    pub stream_limit_refusals: AtomicU64,
    pub max_incoming_per_sec: AtomicU64,
    pub incoming_rate_disconnects: AtomicU64,
}

impl Stats {
    fn snapshot(&self) -> SimStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimStats {
            connections_total: l(&self.connections_total),
            connections_open: l(&self.connections_open),
            messages_sent: l(&self.messages_sent),
            depth_updates: l(&self.depth_updates),
            snapshots_served: l(&self.snapshots_served),
            subscribe_messages: l(&self.subscribe_messages),
            slow_disconnects: l(&self.slow_disconnects),
            max_streams_per_conn: l(&self.max_streams_per_conn),
            stream_limit_refusals: l(&self.stream_limit_refusals),
            max_incoming_per_sec: l(&self.max_incoming_per_sec),
            incoming_rate_disconnects: l(&self.incoming_rate_disconnects),
            ..SimStats::default()
        }
    }
}

/// One simulated symbol: static facts, its book state and its fault switches.
pub(crate) struct SymSlot {
    pub info: SymInfo,
    /// Book, generator or replay state. The generator applies events and the
    /// REST handler snapshots under this one lock, so a snapshot's
    /// `lastUpdateId` is exactly the events applied.
    pub state: Mutex<SymState>,
    pub gap_next: AtomicBool,
    pub malformed_next: AtomicBool,
}

/// A subscription of one connection.
pub(crate) struct Sub {
    /// The stream name echoed in combined frames, exactly as subscribed.
    pub name: Arc<str>,
    /// Symbol index and stream kind; `None` for an unknown symbol or stream
    /// (nothing is sent for it, like Binance).
    pub target: Option<(usize, binance::StreamKind)>,
    /// Silenced by [`Fault::SilentStream`]: nothing is sent for it.
    pub muted: bool,
}

/// The part of a WebSocket connection the fan-out and the fault switches see.
pub(crate) struct ConnShared {
    pub id: u64,
    /// Combined-stream wrapper (`/stream`) or raw payloads (`/ws`).
    pub combined: bool,
    pub tx: mpsc::Sender<axum::extract::ws::Utf8Bytes>,
    pub subs: Mutex<Vec<Sub>>,
    pub kill: Notify,
    pub killed: AtomicBool,
    /// Data frames still allowed before an abrupt close (`< 0`: unlimited).
    pub budget: AtomicI64,
    /// Symbols this connection no longer serves ([`Fault::DeafStream`]).
    pub deaf: Mutex<Vec<usize>>,
}

impl ConnShared {
    /// Asks the connection task to drop the socket abruptly.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill.notify_one();
    }

    /// Resolves once [`ConnShared::kill`] was called.
    pub async fn killed(&self) {
        self.kill.notified().await
    }
}

/// State shared by the handle, the generator/replayer and the server.
pub(crate) struct Inner {
    pub syms: Vec<SymSlot>,
    /// Upper-case symbol -> index.
    pub by_upper: HashMap<String, usize>,
    /// Lower-case symbol -> index (stream names).
    pub by_lower: HashMap<String, usize>,
    pub rate: u32,
    pub levels: usize,
    pub ping_interval: Duration,
    pub paused: AtomicBool,
    /// Generator ticks in progress (see [`Inner::begin_tick`]).
    gen_busy: std::sync::atomic::AtomicUsize,
    silence_until: Mutex<Option<Instant>>,
    pub fail_snapshots: AtomicU32,
    pub stats: Stats,
    /// Binance REST request weight per client IP.
    pub rest_weight: weight::RestWeight,
    pub conns: Mutex<Vec<Arc<ConnShared>>>,
    pub next_conn_id: AtomicU64,
    /// Replay mode (REST depth serves recorded snapshots).
    pub replay: bool,
    /// Set (and notified) once any connection has subscribed to something.
    pub any_subscription: AtomicBool,
    pub subscribed: Notify,
    /// Last update id drawn from the global (all-symbol) counter.
    pub update_id: AtomicU64,
    /// The Bybit and OKX venues (`venues`).
    pub venues: venues::VenueSims,
    /// The simulated Binance account behind the signed order endpoints.
    pub orders: orders::OrderDesk,
}

impl Inner {
    /// The counters of `/sim/stats`.
    pub fn snapshot_stats(&self) -> SimStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let w = &self.rest_weight;
        SimStats {
            rest_requests: l(&w.requests),
            rest_weight_limit: w.limit(),
            rest_weight_total: l(&w.weight_total),
            rest_weight_max_used: l(&w.max_used),
            rest_throttled_429: l(&w.throttled_429),
            rest_banned_418: l(&w.banned_418),
            rest_requests_during_retry_after: l(&w.during_retry_after),
            rest_in_flight_after_429: l(&w.in_flight_after_429),
            ..self.stats.snapshot()
        }
    }

    /// Index of a symbol, case-insensitive.
    pub fn sym_index(&self, symbol: &str) -> Option<usize> {
        self.by_upper.get(&symbol.to_ascii_uppercase()).copied()
    }

    /// True while a [`Fault::Silence`] is in force.
    pub fn silenced(&self) -> bool {
        let mut g = self.silence_until.lock();
        match *g {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *g = None;
                false
            }
            None => false,
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Marks one generator tick in progress until the guard drops. A
    /// generator takes it *before* it checks [`Inner::is_paused`], so
    /// [`SimHandle::pause`] (flag first, then this count, both SeqCst) either
    /// is seen by the tick or waits for the tick to end: after `pause`
    /// returns, no update is generated any more.
    pub(crate) fn begin_tick(&self) -> TickGuard<'_> {
        self.gen_busy.fetch_add(1, Ordering::SeqCst);
        TickGuard(&self.gen_busy)
    }

    /// Applies a fault (shared by [`SimHandle::inject`] and the control API).
    pub fn inject(&self, fault: Fault) {
        tracing::info!(?fault, "sim: fault injected");
        match fault {
            Fault::DropConnections => {
                for c in self.conns.lock().iter() {
                    c.kill();
                }
                self.venues.kill_all();
            }
            Fault::DropAfter(n) => {
                for c in self.conns.lock().iter() {
                    if n == 0 {
                        c.kill();
                    } else {
                        c.budget
                            .store(n.min(i64::MAX as u64) as i64, Ordering::Relaxed);
                    }
                }
            }
            Fault::Gap(s) => match self.sym_index(&s) {
                Some(i) => self.syms[i].gap_next.store(true, Ordering::Relaxed),
                None => tracing::warn!(symbol = %s, "sim: gap fault for unknown symbol"),
            },
            Fault::Malformed(s) => match self.sym_index(&s) {
                Some(i) => self.syms[i].malformed_next.store(true, Ordering::Relaxed),
                None => tracing::warn!(symbol = %s, "sim: malformed fault for unknown symbol"),
            },
            Fault::Silence(d) => {
                *self.silence_until.lock() = Instant::now().checked_add(d);
            }
            Fault::FailSnapshots(n) => self.fail_snapshots.store(n, Ordering::Relaxed),
            Fault::SilentStream(s) => self.mute(&s, false),
            Fault::DeafStream(s) => self.mute(&s, true),
        }
    }

    /// Mutes every current subscription of `symbol`; `deaf`: the open
    /// connections also ignore its later subscriptions.
    fn mute(&self, symbol: &str, deaf: bool) {
        let Some(i) = self.sym_index(symbol) else {
            tracing::warn!(symbol, "sim: silent fault for unknown symbol");
            return;
        };
        for c in self.conns.lock().iter() {
            if deaf {
                c.deaf.lock().push(i);
            }
            for sub in c.subs.lock().iter_mut() {
                if sub.target.is_some_and(|(x, _)| x == i) {
                    sub.muted = true;
                }
            }
        }
    }

    /// A consistent copy of one ground-truth book.
    pub fn book(&self, symbol: &str) -> Option<SimBook> {
        let i = self.sym_index(symbol)?;
        let st = self.syms[i].state.lock();
        Some(SimBook {
            last_update_id: st.last_u,
            bids: st.book.top_bids(usize::MAX),
            asks: st.book.top_asks(usize::MAX),
        })
    }

    /// Removes a finished connection from the registry.
    pub fn unregister(&self, id: u64) {
        self.conns.lock().retain(|c| c.id != id);
    }
}

/// A running simulator. Dropping it shuts it down.
pub struct SimHandle {
    inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn sym_info(s: &SimSymbol) -> anyhow::Result<SymInfo> {
    if s.symbol.is_empty() || !s.symbol.bytes().all(|c| c.is_ascii_alphanumeric()) {
        bail!(
            "sim symbol `{}` must be non-empty ASCII alphanumerics",
            s.symbol
        );
    }
    let price_scale = decimals_of(&s.tick_size);
    let qty_scale = decimals_of(&s.lot_size);
    if price_scale > 12 || qty_scale > 12 {
        bail!("sim symbol {}: too many decimals in tick/lot", s.symbol);
    }
    let tick = parse_decimal(s.tick_size.as_bytes(), price_scale)
        .map_err(|e| anyhow::anyhow!("sim symbol {}: tick_size: {e}", s.symbol))?;
    let lot = parse_decimal(s.lot_size.as_bytes(), qty_scale)
        .map_err(|e| anyhow::anyhow!("sim symbol {}: lot_size: {e}", s.symbol))?;
    if tick <= 0 || lot <= 0 {
        bail!("sim symbol {}: tick and lot must be positive", s.symbol);
    }
    let scaled = s.start_price * crate::core::fixed::pow10(price_scale) as f64;
    if !(s.start_price.is_finite() && s.start_price > 0.0 && scaled < 1e15) {
        bail!(
            "sim symbol {}: start_price must be positive and below 1e15 price units",
            s.symbol
        );
    }
    Ok(SymInfo {
        symbol: s.symbol.to_ascii_uppercase(),
        lower: s.symbol.to_ascii_lowercase(),
        tick_size: s.tick_size.clone(),
        lot_size: s.lot_size.clone(),
        price_scale,
        qty_scale,
        tick,
        lot,
    })
}

impl SimHandle {
    /// Starts the simulator on its own OS thread (current-thread tokio
    /// runtime). Returns once the listener is bound.
    pub fn start(spec: SimSpec) -> anyhow::Result<SimHandle> {
        Self::start_with_venues(spec, &[])
    }

    /// Starts the simulator with Bybit and OKX instruments as well (see
    /// [`venues`]); their books follow the Binance symbol they name.
    pub fn start_with_venues(
        spec: SimSpec,
        venue_symbols: &[venues::VenueSimSymbol],
    ) -> anyhow::Result<SimHandle> {
        let levels = spec.levels.max(1) as usize;
        let mut syms = Vec::with_capacity(spec.symbols.len());
        let mut by_upper = HashMap::new();
        let mut by_lower = HashMap::new();
        let mut update_id: u64 = 1_000_000_000 + (spec.seed % 1_000) * 1_000;
        let replay = spec.replay_file.is_some();
        for (idx, s) in spec.symbols.iter().enumerate() {
            let info = sym_info(s)?;
            if by_upper.contains_key(&info.symbol) {
                bail!("sim symbol {} listed twice", info.symbol);
            }
            by_upper.insert(info.symbol.clone(), idx);
            by_lower.insert(info.lower.clone(), idx);
            let state = if replay {
                SymState::empty()
            } else {
                SymState::generated(&info, spec.seed, idx, s.start_price, levels, &mut update_id)
            };
            syms.push(SymSlot {
                info,
                state: Mutex::new(state),
                gap_next: AtomicBool::new(false),
                malformed_next: AtomicBool::new(false),
            });
        }
        let venue_sims = venues::VenueSims::new(venue_symbols, &by_upper, spec.seed, levels)?;
        let inner = Arc::new(Inner {
            syms,
            by_upper,
            by_lower,
            rate: spec.rate_per_symbol,
            levels,
            ping_interval: spec.ping_interval.max(Duration::from_millis(10)),
            paused: AtomicBool::new(false),
            gen_busy: std::sync::atomic::AtomicUsize::new(0),
            silence_until: Mutex::new(None),
            fail_snapshots: AtomicU32::new(0),
            stats: Stats::default(),
            rest_weight: weight::RestWeight::default(),
            conns: Mutex::new(Vec::new()),
            next_conn_id: AtomicU64::new(1),
            replay,
            any_subscription: AtomicBool::new(false),
            subscribed: Notify::new(),
            update_id: AtomicU64::new(update_id),
            venues: venue_sims,
            orders: orders::OrderDesk::default(),
        });
        // Open the replay file now so that a bad path fails `start`.
        let replay_rx = match &spec.replay_file {
            Some(p) => Some(replay::spawn_reader(p)?),
            None => None,
        };
        let listener = std::net::TcpListener::bind(spec.listen)
            .with_context(|| format!("sim: cannot bind {}", spec.listen))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("sim: cannot build tokio runtime")?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let inner2 = inner.clone();
        let thread = std::thread::Builder::new()
            .name("sim".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "sim: listener");
                            return;
                        }
                    };
                    match replay_rx {
                        Some(rx) => {
                            tokio::spawn(replay::run(inner2.clone(), rx));
                        }
                        None => {
                            tokio::spawn(market::run_generator(inner2.clone()));
                        }
                    }
                    tokio::spawn(venues::run(inner2.clone()));
                    let app = server::router(inner2);
                    tokio::select! {
                        r = axum::serve(
                            listener,
                            app.into_make_service_with_connect_info::<SocketAddr>(),
                        ) => {
                            if let Err(e) = r {
                                tracing::error!(error = %e, "sim: server stopped");
                            }
                        }
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime cancels every task and closes all sockets.
                drop(rt);
            })
            .context("sim: cannot spawn thread")?;
        tracing::info!(%addr, symbols = inner.syms.len(), replay, "sim: listening");
        Ok(SimHandle {
            inner,
            addr,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT` (append `/stream?streams=...` or `/ws/<stream>`).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The API key and secret the signed order endpoints accept (default
    /// [`orders::SIM_API_KEY`] / [`orders::SIM_API_SECRET`]).
    pub fn set_api_credentials(&self, key: &str, secret: &str) {
        self.inner.orders.set_credentials(key, secret);
    }

    /// `http://127.0.0.1:PORT`.
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops generating (or replaying); sockets stay open and pings continue.
    /// Returns once no generator tick is in progress any more (at most 2 s),
    /// so the ground-truth books no longer move. Call it from outside the
    /// simulator's runtime (tests, the embedding program).
    pub fn pause(&self) {
        self.inner.paused.store(true, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while self.inner.gen_busy.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Restarts generating after [`SimHandle::pause`].
    pub fn resume(&self) {
        self.inner.paused.store(false, Ordering::SeqCst);
    }

    /// A consistent copy of the ground-truth book at its last update id.
    pub fn book(&self, symbol: &str) -> Option<SimBook> {
        self.inner.book(symbol)
    }

    /// Injects a fault; see [`Fault`].
    pub fn inject(&self, fault: Fault) {
        self.inner.inject(fault)
    }

    pub fn stats(&self) -> SimStats {
        self.inner.snapshot_stats()
    }

    /// Sets the Binance REST weight limit per client IP and its window
    /// (Binance: 2400 per minute; tests use lower ones). 0 keeps a value.
    pub fn set_rest_weight_limit(&self, limit: u64, window: Duration) {
        self.inner.rest_weight.set(limit, window)
    }

    /// Ground truth of a Bybit or OKX book (base quantities).
    pub fn venue_book(&self, venue: crate::core::Venue, symbol: &str) -> Option<SimBook> {
        self.inner.venues.book(venue, symbol)
    }

    /// The touch a Bybit/OKX symbol's ticker streams add up to (Bybit
    /// snapshot + deltas; OKX the last `bbo-tbt`/`tickers`), base quantities.
    pub fn venue_ticker(&self, venue: crate::core::Venue, symbol: &str) -> Option<venues::SimTop> {
        self.inner.venues.ticker(venue, symbol)
    }

    /// Ticker frames written to subscribers of a Bybit/OKX symbol:
    /// (`tickers`, `bbo-tbt`).
    pub fn venue_ticker_frames(
        &self,
        venue: crate::core::Venue,
        symbol: &str,
    ) -> Option<(u64, u64)> {
        self.inner.venues.ticker_frames(venue, symbol)
    }

    /// Injects a Bybit/OKX per-symbol fault; false for an unknown symbol.
    pub fn inject_venue(
        &self,
        venue: crate::core::Venue,
        symbol: &str,
        f: venues::VenueFault,
    ) -> bool {
        self.inner.venues.inject(venue, symbol, f)
    }

    /// Connection and subscribe-op counters of a venue (Binance: connection
    /// opens only; its streams and incoming messages are in [`SimStats`]).
    pub fn pacing(&self, venue: crate::core::Venue) -> venues::PacingReport {
        self.inner.venues.pacing(venue)
    }

    /// Stops the runtime and joins the thread (also done on drop).
    pub fn shutdown(self) {
        drop(self)
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// See [`Inner::begin_tick`].
pub(crate) struct TickGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for TickGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
