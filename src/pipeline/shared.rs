//! State the stages share with the ops side: atomics written by the owning
//! stage and only read elsewhere (health, progress), small views published at
//! low rate (positions, risk), and the request channel for book snapshots.
//! Nothing here is locked on the hot path.

use crate::core::{InstrumentTable, Venue};
use crate::telemetry::latency::LatencyBook;
use crate::telemetry::metrics::Metrics;
use parking_lot::Mutex;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering, fence};

/// A venue's trading session as readiness and the APIs see it, written by
/// the session (venue modes only; all zero/false in paper). Whether its
/// private stream is up and whether its order traffic is stopped are in
/// [`Shared::venue_gates`], where risk reads them.
#[derive(Default)]
pub struct TradingHealth {
    /// A trading session runs for this venue.
    pub active: AtomicBool,
    /// Orders whose outcome is unknown (on the resolver's watch list).
    pub unresolved_orders: AtomicU64,
    /// Their quantity that could still fill, per instrument index and side
    /// is in the risk governor's open orders; this is their summed notional
    /// in quote units × 1e8 (exact `Money`).
    pub unresolved_notional: AtomicI64,
    /// Server minus local clock, ms (`GET /fapi/v1/time`).
    pub clock_offset_ms: AtomicI64,
    /// The account as the venue states it (`pipeline::account`).
    pub account: Mutex<crate::pipeline::account::AccountView>,
}

/// Health of one venue's feed, written by its feed thread(s).
#[derive(Default)]
pub struct FeedHealth {
    /// Every connection of the venue is open and live (a venue's symbols may
    /// be split over several connections).
    pub connected: AtomicBool,
    pub last_msg_ns: AtomicU64,
    pub messages: AtomicU64,
    conns: Mutex<ConnCount>,
}

/// The venue's connections (sessions) and how many of them are live.
#[derive(Default)]
struct ConnCount {
    sessions: u32,
    live: u32,
}

impl FeedHealth {
    /// One more connection of this venue runs (not live yet). Returns the
    /// new `connected`.
    pub fn open_session(&self) -> bool {
        let mut c = self.conns.lock();
        c.sessions += 1;
        self.publish(&c)
    }

    /// A connection stopped for good; `live`: whether it was live.
    pub fn close_session(&self, live: bool) -> bool {
        let mut c = self.conns.lock();
        c.sessions = c.sessions.saturating_sub(1);
        if live {
            c.live = c.live.saturating_sub(1);
        }
        self.publish(&c)
    }

    /// One connection's liveness goes from `*me` to `live`. Returns the new
    /// `connected`: every connection of the venue live.
    pub fn set_live(&self, me: &mut bool, live: bool) -> bool {
        let mut c = self.conns.lock();
        if *me != live {
            *me = live;
            if live {
                c.live += 1;
            } else {
                c.live = c.live.saturating_sub(1);
            }
        }
        self.publish(&c)
    }

    fn publish(&self, c: &ConnCount) -> bool {
        let all = c.sessions > 0 && c.live >= c.sessions;
        self.connected.store(all, Ordering::Relaxed);
        all
    }
}

/// Health of one instrument's book, written by the book stage.
#[derive(Default)]
pub struct BookHealth {
    pub in_sync: AtomicBool,
    pub last_update_ns: AtomicU64,
    pub update_id: AtomicU64,
    pub updates: AtomicU64,
}

/// The last top of book one instrument's ticker streams gave (Binance
/// `bookTicker`, Bybit `tickers` with its deltas merged, OKX `bbo-tbt` and
/// `tickers`), written by the book stage only. A sequence lock: the writer
/// never waits, a reader retries while a write is in progress.
#[derive(Default)]
pub struct TickerCell {
    seq: AtomicU64,
    bid_px: AtomicI64,
    bid_qty: AtomicI64,
    ask_px: AtomicI64,
    ask_qty: AtomicI64,
    exch_ms: AtomicI64,
    /// Ticker updates applied.
    pub updates: AtomicU64,
}

/// A consistent read of a [`TickerCell`] (scaled fixed-point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TickerRead {
    pub bid: crate::core::Level,
    pub ask: crate::core::Level,
    pub exch_ms: i64,
    pub updates: u64,
}

impl TickerCell {
    /// Stores a new top (single writer: the book stage).
    #[inline]
    pub fn store(&self, bid: crate::core::Level, ask: crate::core::Level, exch_ms: i64) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.bid_px.store(bid.px, Ordering::Relaxed);
        self.bid_qty.store(bid.qty, Ordering::Relaxed);
        self.ask_px.store(ask.px, Ordering::Relaxed);
        self.ask_qty.store(ask.qty, Ordering::Relaxed);
        self.exch_ms.store(exch_ms, Ordering::Relaxed);
        self.updates.fetch_add(1, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// A consistent copy.
    pub fn load(&self) -> TickerRead {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let r = TickerRead {
                bid: crate::core::Level {
                    px: self.bid_px.load(Ordering::Relaxed),
                    qty: self.bid_qty.load(Ordering::Relaxed),
                },
                ask: crate::core::Level {
                    px: self.ask_px.load(Ordering::Relaxed),
                    qty: self.ask_qty.load(Ordering::Relaxed),
                },
                exch_ms: self.exch_ms.load(Ordering::Relaxed),
                updates: self.updates.load(Ordering::Relaxed),
            };
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return r;
            }
        }
    }
}

/// Progress of one stage, written by the stage.
#[derive(Default)]
pub struct StageHealth {
    pub processed: AtomicU64,
    pub last_progress_ns: AtomicU64,
    /// Items waiting in the stage's input queue (sampled by the stage).
    pub backlog: AtomicU64,
    /// TEST-ONLY stall injection (`[ops] test_hooks`): while set, the stage
    /// thread blocks inside [`StageHealth::tick`] and processes nothing.
    pub hold: AtomicBool,
}

impl StageHealth {
    #[inline]
    pub fn tick(&self, now: u64) {
        self.processed.fetch_add(1, Ordering::Relaxed);
        self.last_progress_ns.store(now, Ordering::Relaxed);
        if self.hold.load(Ordering::Relaxed) {
            self.held();
        }
    }

    /// Blocks the calling stage thread while [`StageHealth::hold`] is set.
    #[cold]
    #[inline(never)]
    fn held(&self) {
        while self.hold.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

pub const STAGES: [&str; 4] = ["book", "score", "risk", "exec"];

/// A request for one book's levels, answered by the book stage.
pub struct BookQuery {
    pub inst: crate::core::InstrumentId,
    pub depth: usize,
    pub reply: crossbeam_channel::Sender<BookSnapshot>,
}

/// A consistent copy of one book (scaled integers).
#[derive(Debug, Clone, Default)]
pub struct BookSnapshot {
    pub in_sync: bool,
    pub update_id: u64,
    pub last_update_ns: u64,
    pub bids: Vec<(i64, i64)>,
    pub asks: Vec<(i64, i64)>,
}

/// One position as shown by the API and the status line.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PositionView {
    pub venue: String,
    pub symbol: String,
    pub qty: f64,
    pub avg_entry_px: f64,
    pub mark_px: f64,
    pub realized_pnl: f64,
    pub unrealized_pnl: f64,
    pub fees: f64,
    pub fills: u64,
    pub volume_quote: f64,
}

/// One paper fill, as kept in the bounded recent-fills list.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct FillView {
    pub client_order_id: u64,
    pub venue: String,
    pub symbol: String,
    pub side: String,
    pub px: String,
    pub qty: String,
    pub fee: f64,
    /// The asset the fee is in (the quote asset's name for a quote fee).
    pub fee_asset: String,
    pub position_after: String,
}

/// Fees paid on one venue in one asset, exact decimal text.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct FeeView {
    pub venue: String,
    pub asset: String,
    pub amount: String,
    /// The instruments' quote asset: these reduce realized PnL; the others
    /// are only counted (no price converts them).
    pub quote: bool,
}

/// Fills kept in [`PositionsView::recent_fills`].
pub const RECENT_FILLS: usize = 256;

/// The exec stage's published view.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PositionsView {
    pub positions: Vec<PositionView>,
    pub realized_pnl: f64,
    pub unrealized_pnl: f64,
    /// Fees paid in the quote (realized PnL net of fees subtracts these).
    pub fees: f64,
    /// Every fee, per venue and asset (quote and other assets).
    pub fees_by_asset: Vec<FeeView>,
    pub orders: u64,
    pub fills: u64,
    pub rejects: u64,
    /// The last [`RECENT_FILLS`] fills, oldest first.
    pub recent_fills: Vec<FillView>,
}

/// Everything the stages and the ops side share.
pub struct Shared {
    pub instruments: Arc<InstrumentTable>,
    pub metrics: Arc<Metrics>,
    pub latency: LatencyBook,
    pub feeds: [FeedHealth; Venue::COUNT],
    /// Per venue: its trading session (venue modes).
    pub trading: [TradingHealth; Venue::COUNT],
    pub books: Vec<BookHealth>,
    /// Per instrument: the last top from its ticker streams.
    pub tickers: Vec<TickerCell>,
    pub stages: [StageHealth; 4],
    /// The version of the model loaded at start (the live one may have
    /// changed since: `score::reload::ModelControl`).
    pub model_version: String,
    pub mode: crate::config::TradingMode,
    pub running: AtomicBool,
    pub positions: Mutex<PositionsView>,
    /// Per instrument: the exec stage's position, exact (signed, at the
    /// quantity scale), written on every fill (the venue sessions compare
    /// it with what the venue states).
    pub engine_positions: Vec<AtomicI64>,
    /// The risk stage's view, as JSON (owned and shaped by `risk/`).
    pub risk: Mutex<serde_json::Value>,
    /// Per venue name: its trading session's working orders and last
    /// periodic reconciliation, as JSON (`GET /api/orders`; shaped by the
    /// venue's session).
    pub orders: Mutex<std::collections::BTreeMap<String, serde_json::Value>>,
    pub book_queries: crossbeam_channel::Sender<BookQuery>,
    /// Consolidated cross-venue view per underlying, as JSON, republished
    /// by the book stage at most every 50 ms (`book::consolidated`).
    pub consolidated: Mutex<std::collections::HashMap<String, serde_json::Value>>,
    pub book_query_rx: crossbeam_channel::Receiver<BookQuery>,
    /// Per stage index, probes of the queues feeding it (read by readiness).
    pub input_probes: Mutex<Vec<(usize, crate::pipeline::channel::DepthProbe)>>,
    /// Auxiliary services' heartbeats (read by the risk governor).
    pub heartbeats: Arc<crate::pipeline::heartbeat::Heartbeats>,
    /// The admin bearer token (state-changing API calls).
    pub admin: crate::pipeline::admin::AdminToken,
    /// The Redis publisher's sink, set once at start when Redis is configured.
    pub publish: std::sync::OnceLock<crate::pipeline::outbox::Sink>,
    /// The feed recorder (`crate::capture`), set once at start when
    /// `[record] enabled`.
    pub capture: std::sync::OnceLock<Arc<dyn crate::pipeline::tap::Recording>>,
    /// Whether the live or shadow model uses the 10-level depth features:
    /// written by the score side's model control (`score::reload`), read by
    /// the book stage for every top it builds.
    pub wants_depth10: Arc<AtomicBool>,
    /// Per venue: private stream up, order traffic stopped (read by the
    /// risk governor; see
    /// [`crate::pipeline::venue_gates`]).
    pub venue_gates: Arc<crate::pipeline::venue_gates::VenueGates>,
}

impl Shared {
    pub fn new(
        instruments: Arc<InstrumentTable>,
        metrics: Arc<Metrics>,
        model_version: String,
        mode: crate::config::TradingMode,
    ) -> Shared {
        let (tx, rx) = crossbeam_channel::bounded(64);
        let books = (0..instruments.len())
            .map(|_| BookHealth::default())
            .collect();
        let tickers = (0..instruments.len())
            .map(|_| TickerCell::default())
            .collect();
        let engine_positions = (0..instruments.len()).map(|_| AtomicI64::new(0)).collect();
        Shared {
            instruments,
            metrics,
            latency: LatencyBook::default(),
            feeds: Default::default(),
            trading: Default::default(),
            books,
            tickers,
            stages: Default::default(),
            model_version,
            mode,
            running: AtomicBool::new(true),
            positions: Mutex::new(PositionsView::default()),
            engine_positions,
            risk: Mutex::new(serde_json::Value::Null),
            orders: Mutex::new(std::collections::BTreeMap::new()),
            book_queries: tx,
            consolidated: Mutex::new(std::collections::HashMap::new()),
            book_query_rx: rx,
            input_probes: Mutex::new(Vec::new()),
            heartbeats: Arc::new(crate::pipeline::heartbeat::Heartbeats::new()),
            admin: crate::pipeline::admin::AdminToken::default(),
            publish: std::sync::OnceLock::new(),
            capture: std::sync::OnceLock::new(),
            wants_depth10: Arc::new(AtomicBool::new(false)),
            venue_gates: Arc::new(crate::pipeline::venue_gates::VenueGates::new(mode)),
        }
    }

    pub fn feed(&self, v: Venue) -> &FeedHealth {
        &self.feeds[v as usize]
    }

    /// The venue's trading session state.
    pub fn trading(&self, v: Venue) -> &TradingHealth {
        &self.trading[v as usize]
    }

    pub fn stage(&self, name: &str) -> Option<&StageHealth> {
        STAGES
            .iter()
            .position(|s| *s == name)
            .map(|i| &self.stages[i])
    }

    /// The index of `name` in [`STAGES`] (its slot in [`Shared::stages`]).
    pub fn stage_index(name: &str) -> Option<usize> {
        STAGES.iter().position(|s| *s == name)
    }

    /// Registers a queue feeding `stage` (see [`Shared::input_waiting`]).
    pub fn add_input_probe(&self, stage: &str, probe: crate::pipeline::channel::DepthProbe) {
        if let Some(i) = STAGES.iter().position(|s| *s == stage) {
            self.input_probes.lock().push((i, probe));
        }
    }

    /// Items waiting in the queues feeding stage `i` (0 without probes).
    pub fn input_waiting(&self, i: usize) -> u64 {
        self.input_probes
            .lock()
            .iter()
            .filter(|(s, _)| *s == i)
            .map(|(_, p)| p() as u64)
            .sum()
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Asks the book stage for a copy of one book; `None` if it does not answer.
    pub fn query_book(
        &self,
        inst: crate::core::InstrumentId,
        depth: usize,
        timeout: std::time::Duration,
    ) -> Option<BookSnapshot> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.book_queries
            .try_send(BookQuery {
                inst,
                depth,
                reply: tx,
            })
            .ok()?;
        rx.recv_timeout(timeout).ok()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{FeedHealth, Shared};
    use crate::config::TradingMode;
    use crate::core::{Instrument, InstrumentId, InstrumentTable, Venue};
    use crate::telemetry::metrics::Metrics;
    use std::sync::Arc;

    /// Two binance instruments: BTCUSDT (0.10 / 0.001), ETHUSDT (0.01 / 0.001).
    pub(crate) fn test_shared() -> Shared {
        let mut t = InstrumentTable::new();
        t.push(
            Instrument::new(
                InstrumentId(0),
                Venue::Binance,
                "BTCUSDT",
                "BTCUSDT",
                "0.10",
                "0.001",
                5.0,
            )
            .unwrap(),
        );
        t.push(
            Instrument::new(
                InstrumentId(0),
                Venue::Binance,
                "ETHUSDT",
                "ETHUSDT",
                "0.01",
                "0.001",
                5.0,
            )
            .unwrap(),
        );
        Shared::new(
            Arc::new(t),
            Arc::new(Metrics::new()),
            "test-model".into(),
            TradingMode::Paper,
        )
    }

    #[test]
    fn a_venue_is_connected_only_while_every_connection_is_live() {
        let h = FeedHealth::default();
        let (mut a, mut b) = (false, false);
        assert!(!h.open_session());
        assert!(!h.open_session());
        assert!(!h.set_live(&mut a, true), "one of two connections live");
        assert!(h.set_live(&mut b, true), "both live");
        assert!(h.set_live(&mut b, true), "no change counted twice");
        assert!(!h.set_live(&mut a, false), "one dropped");
        assert!(!h.set_live(&mut a, false));
        assert!(
            h.close_session(false),
            "the dropped one stopped; the other is live"
        );
        assert!(!h.close_session(true), "no connection at all");
        assert!(!h.connected.load(std::sync::atomic::Ordering::Relaxed));
    }
}
