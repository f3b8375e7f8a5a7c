//! [`SimHandle`]: starts the simulator on its own OS thread (a
//! current-thread tokio runtime, so it never takes more than one core from
//! the engine's pinned stages), and is the embedding program's and the
//! tests' way in: URLs, pause/resume, faults, ground-truth books, counters.

use crate::control::{Fault, SimStats};
use crate::market::SymState;
use crate::spec::{SimSpec, sym_info};
use crate::state::{Inner, SimBook, Stats, SymSlot};
use crate::venues::{self, VenueSimSymbol};
use crate::{SimVenue, binance, market, replay, server};
use anyhow::{Context, bail};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// A running simulator. Dropping it shuts it down.
pub struct SimHandle {
    inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
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
        venue_symbols: &[VenueSimSymbol],
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
            gen_busy: AtomicUsize::new(0),
            silence_until: Mutex::new(None),
            fail_snapshots: AtomicU32::new(0),
            stats: Stats::default(),
            rest_weight: binance::weight::RestWeight::default(),
            conns: Mutex::new(Vec::new()),
            next_conn_id: AtomicU64::new(1),
            replay,
            any_subscription: AtomicBool::new(false),
            subscribed: Notify::new(),
            update_id: AtomicU64::new(update_id),
            venues: venue_sims,
            orders: binance::orders::OrderDesk::default(),
            user: binance::user_stream::UserStream::default(),
            order_faults: binance::faults::OrderFaults::default(),
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
                    tokio::spawn(binance::account_api::run_timers(inner2.clone()));
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
    /// [`crate::binance::SIM_API_KEY`] / [`crate::binance::SIM_API_SECRET`]).
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
    pub fn venue_book(&self, venue: SimVenue, symbol: &str) -> Option<SimBook> {
        self.inner.venues.book(venue, symbol)
    }

    /// The touch a Bybit/OKX symbol's ticker streams add up to (Bybit
    /// snapshot + deltas; OKX the last `bbo-tbt`/`tickers`), base quantities.
    pub fn venue_ticker(&self, venue: SimVenue, symbol: &str) -> Option<venues::SimTop> {
        self.inner.venues.ticker(venue, symbol)
    }

    /// Ticker frames written to subscribers of a Bybit/OKX symbol:
    /// (`tickers`, `bbo-tbt`).
    pub fn venue_ticker_frames(&self, venue: SimVenue, symbol: &str) -> Option<(u64, u64)> {
        self.inner.venues.ticker_frames(venue, symbol)
    }

    /// Injects a Bybit/OKX per-symbol fault; false for an unknown symbol.
    pub fn inject_venue(&self, venue: SimVenue, symbol: &str, f: venues::VenueFault) -> bool {
        self.inner.venues.inject(venue, symbol, f)
    }

    /// Connection and subscribe-op counters of a venue (Binance: connection
    /// opens only; its streams and incoming messages are in [`SimStats`]).
    pub fn pacing(&self, venue: SimVenue) -> venues::PacingReport {
        self.inner.venues.pacing(venue)
    }

    /// `POST /fapi/v1/order` requests received with this `newClientOrderId`
    /// (any answer, faults and refusals included).
    pub fn new_order_requests(&self, client_order_id: &str) -> u64 {
        self.inner.order_faults.requests_for(client_order_id)
    }

    /// Every counted `newClientOrderId` and its new-order requests.
    pub fn new_order_requests_by_client_id(&self) -> HashMap<String, u64> {
        self.inner.order_faults.requests_by_client_id()
    }

    /// The active listenKey, if any.
    pub fn listen_key(&self) -> Option<String> {
        self.inner.user.active_key()
    }

    /// Sets how long a listenKey lives without a keepalive (Binance: 60
    /// min), for the active key (from now) and later ones.
    pub fn set_listen_key_validity(&self, validity: Duration) {
        self.inner.user.set_validity(validity)
    }

    /// Sets the wallet balance (USDT, e.g. `"1000"`); false if unparsable.
    pub fn set_wallet_balance(&self, usdt: &str) -> bool {
        self.inner.set_wallet(usdt)
    }

    /// Sets the account's order-rate limits (Binance: 300 per 10 s, 1200
    /// per minute); `exchangeInfo.rateLimits` publishes the new ones and
    /// new orders beyond them get HTTP 429 `-1015`.
    pub fn set_order_limits(&self, per_10s: usize, per_min: usize) {
        self.inner.set_order_limits(per_10s, per_min)
    }

    /// Sets the account's leverage (default
    /// [`crate::binance::DEFAULT_LEVERAGE`]).
    pub fn set_leverage(&self, leverage: u32) {
        self.inner.set_leverage(leverage)
    }

    /// Sets the maker and taker fee rates (`"0.0002"`, `"0.0005"`); false
    /// if unparsable.
    pub fn set_fee_rates(&self, maker: &str, taker: &str) -> bool {
        self.inner.set_fees(maker, taker)
    }

    /// Charges the Binance account's commissions in `asset` (`"BNB"`),
    /// `per_usdt` of it per USDT of commission (`"0.0015"`), outside the
    /// USDT wallet; `"USDT"` goes back to USDT. False for a bad asset or
    /// rate.
    pub fn set_commission_asset(&self, asset: &str, per_usdt: &str) -> bool {
        self.inner.set_commission_asset(asset, per_usdt)
    }

    /// Moves a generated symbol's best bid to about `price` from its next
    /// depth update on (asks a spread above), so resting orders can be
    /// crossed on purpose; the random walk goes on from there.
    pub fn steer_market(&self, symbol: &str, price: &str) -> bool {
        self.inner.steer(symbol, price)
    }

    /// The simulated account: wallet, positions, open orders, trades kept.
    pub fn account(&self) -> crate::SimAccount {
        self.inner.account()
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
