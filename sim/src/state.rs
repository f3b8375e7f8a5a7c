//! The state shared by the handle, the generator or replayer and the
//! server: the symbols with their ground-truth books and fault flags, the
//! registry of Binance WebSocket connections and their subscriptions, the
//! counters behind `/sim/stats`, and the Bybit/OKX venues and the order desk.

use crate::binance::{self, SymInfo};
use crate::market::SymState;
use crate::{SimStats, venues};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

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
    pub(crate) fn snapshot(&self) -> SimStats {
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
    pub target: Option<(usize, binance::wire::StreamKind)>,
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
    pub gen_busy: AtomicUsize,
    pub silence_until: Mutex<Option<Instant>>,
    pub fail_snapshots: AtomicU32,
    pub stats: Stats,
    /// Binance REST request weight per client IP.
    pub rest_weight: binance::weight::RestWeight,
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
    pub orders: binance::orders::OrderDesk,
    /// The account's user data stream (listenKeys, private connections).
    pub user: binance::user_stream::UserStream,
    /// The order venue's fault switches and counters.
    pub order_faults: binance::faults::OrderFaults,
}

impl Inner {
    /// Index of a symbol, case-insensitive.
    pub fn sym_index(&self, symbol: &str) -> Option<usize> {
        self.by_upper.get(&symbol.to_ascii_uppercase()).copied()
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Marks one generator tick in progress until the guard drops. A
    /// generator takes it *before* it checks [`Inner::is_paused`], so
    /// [`crate::SimHandle::pause`] (flag first, then this count, both SeqCst) either
    /// is seen by the tick or waits for the tick to end: after `pause`
    /// returns, no update is generated any more.
    pub(crate) fn begin_tick(&self) -> TickGuard<'_> {
        self.gen_busy.fetch_add(1, Ordering::SeqCst);
        TickGuard(&self.gen_busy)
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

    /// The best price a taker meets: the best ask for a buy, the best bid
    /// for a sell.
    pub fn touch(&self, sym: usize, buy: bool) -> Option<i64> {
        let st = self.syms.get(sym)?.state.lock();
        let lvl = if buy {
            st.book.best_ask()
        } else {
            st.book.best_bid()
        };
        lvl.map(|(p, _)| p)
    }

    /// The mid price of a symbol (the mark price of the simulated account).
    pub fn mid(&self, sym: usize) -> Option<i64> {
        let st = self.syms.get(sym)?.state.lock();
        Some((st.book.best_bid()?.0 + st.book.best_ask()?.0) / 2)
    }

    /// Removes a finished connection from the registry.
    pub fn unregister(&self, id: u64) {
        self.conns.lock().retain(|c| c.id != id);
    }
}

/// See [`Inner::begin_tick`].
pub(crate) struct TickGuard<'a>(&'a AtomicUsize);

impl Drop for TickGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
