//! The small `Copy` events that flow between pipeline stages. Each carries the
//! monotonic receive stamp of the frame it came from (`recv_ns`) end to end,
//! and the stamp of the previous stage's hand-off (`hop_ns`) so each stage can
//! record its own latency.

use super::fixed::Money;
use super::instrument::{InstrumentId, Venue};

/// Order or aggressor side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }

    /// +1 for buy, -1 for sell.
    #[inline]
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

/// One price level: scaled price and absolute scaled quantity (0 = remove).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    pub px: i64,
    pub qty: i64,
}

/// Levels of each side carried by one [`DepthChunk`].
pub const CHUNK_LEVELS: usize = 8;

/// First chunk of a full snapshot: clear the book before applying.
pub const CHUNK_RESET: u8 = 1;
/// Last chunk of one venue update: the book is consistent after it.
pub const CHUNK_END: u8 = 2;

/// A slice of one venue depth update (or snapshot). A large update is split
/// into several chunks; only the one flagged [`CHUNK_END`] leaves the book in
/// a state that matches the venue.
#[derive(Debug, Clone, Copy, Default)]
pub struct DepthChunk {
    pub flags: u8,
    pub n_bids: u8,
    pub n_asks: u8,
    /// Venue update id after this update (Binance `u`, Bybit `u`, OKX `seqId`).
    pub update_id: u64,
    pub bids: [Level; CHUNK_LEVELS],
    pub asks: [Level; CHUNK_LEVELS],
}

impl DepthChunk {
    #[inline]
    pub fn is_reset(&self) -> bool {
        self.flags & CHUNK_RESET != 0
    }

    #[inline]
    pub fn is_end(&self) -> bool {
        self.flags & CHUNK_END != 0
    }

    pub fn bids(&self) -> &[Level] {
        &self.bids[..self.n_bids as usize]
    }

    pub fn asks(&self) -> &[Level] {
        &self.asks[..self.n_asks as usize]
    }
}

/// A public trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    pub px: i64,
    pub qty: i64,
    /// Taker side.
    pub aggressor: Side,
    pub trade_id: u64,
}

/// Best bid/offer as published by the venue (Binance bookTicker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bbo {
    pub bid: Level,
    pub ask: Level,
    pub update_id: u64,
}

/// Feed-level state changes that the book stage must know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedStatus {
    /// The book can no longer be trusted (gap, reconnect, overflow); a
    /// snapshot (a RESET chunk) will follow when resync completes.
    OutOfSync,
}

/// Events stay inline (`Copy`, no allocation): the depth chunk is the large
/// variant on purpose.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy)]
pub enum MarketBody {
    Depth(DepthChunk),
    Trade(Trade),
    Bbo(Bbo),
    Status(FeedStatus),
}

/// Feed stage -> book stage.
#[derive(Debug, Clone, Copy)]
pub struct MarketEvent {
    pub venue: Venue,
    pub inst: InstrumentId,
    /// Monotonic ns when the frame carrying this event was received.
    pub recv_ns: u64,
    /// Exchange event time (unix ms).
    pub exch_ms: i64,
    pub body: MarketBody,
}

/// Levels of each side in a [`BookTop`].
pub const TOP_LEVELS: usize = 5;

/// Book stage -> score stage: the top of one book after a consistent update.
#[derive(Debug, Clone, Copy)]
pub struct BookTop {
    pub venue: Venue,
    pub inst: InstrumentId,
    pub recv_ns: u64,
    pub hop_ns: u64,
    pub exch_ms: i64,
    pub update_id: u64,
    pub in_sync: bool,
    pub n_bids: u8,
    pub n_asks: u8,
    pub bids: [Level; TOP_LEVELS],
    pub asks: [Level; TOP_LEVELS],
    /// Cross-venue best bid/ask for this underlying (0 when unknown).
    pub xv_best_bid: i64,
    pub xv_best_ask: i64,
    /// The leading venue's mid return minus this book's over the lead-lag
    /// horizon, in bps (0 when this venue leads or nothing is known; see
    /// `book::consolidated`).
    pub xv_lead_lag_bps: f32,
    /// Inputs of the deeper and cross-venue features (`score::registry`).
    pub extra: TopExtras,
}

/// What the book stage adds to a [`BookTop`] for the features beyond the
/// top levels: depth to 10 levels and the other venues' mid.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TopExtras {
    /// Quantity on the best 10 levels of each side; filled only while the
    /// loaded model uses `book_imbalance_10` (0 otherwise).
    pub bid_qty_10: i64,
    pub ask_qty_10: i64,
    /// Mean mid of the other in-sync venues of this underlying, in quote
    /// units (0 when there is none).
    pub xv_other_mid: f64,
    /// This venue leads its underlying (`book::consolidated`).
    pub xv_leader: bool,
}

impl BookTop {
    pub fn best_bid(&self) -> Option<Level> {
        (self.n_bids > 0).then(|| self.bids[0])
    }

    pub fn best_ask(&self) -> Option<Level> {
        (self.n_asks > 0).then(|| self.asks[0])
    }
}

/// Book stage -> score stage.
#[derive(Debug, Clone, Copy)]
pub enum ScoreInput {
    Book(BookTop),
    Trade {
        venue: Venue,
        inst: InstrumentId,
        recv_ns: u64,
        hop_ns: u64,
        exch_ms: i64,
        trade: Trade,
    },
}

/// What the model wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Buy,
    Sell,
    Hold,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Buy => "BUY",
            Action::Sell => "SELL",
            Action::Hold => "HOLD",
        }
    }

    pub fn side(self) -> Option<Side> {
        match self {
            Action::Buy => Some(Side::Buy),
            Action::Sell => Some(Side::Sell),
            Action::Hold => None,
        }
    }
}

/// Number of features carried on a decision (see `score::features`).
pub const N_FEATURES: usize = 22;

/// Score stage -> risk stage. Carries the book top it was made on, so that
/// risk and the paper matcher judge it against the same market.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub id: u64,
    pub venue: Venue,
    pub inst: InstrumentId,
    pub recv_ns: u64,
    pub hop_ns: u64,
    pub exch_ms: i64,
    pub action: Action,
    pub score: f32,
    pub confidence: f32,
    /// The model version that made it: an index into `score::versions`.
    pub model_version: u16,
    /// Which slots of `features` were computed (bit per slot; see
    /// `score::registry`); the others are 0.
    pub feature_mask: u32,
    /// Desired order quantity (scaled), from the strategy config.
    pub qty: i64,
    pub features: [f32; N_FEATURES],
    /// The book the decision was made on.
    pub book: BookTop,
}

/// Why a decision was not executed. A SKIP is a normal, counted outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    Hold,
    BookOutOfSync,
    BookEmpty,
    MaxPosition,
    MaxOrderNotional,
    OrderRate,
    DailyTradeCap,
    SkipFlatSell,
    KillSwitch,
    BookStale,
    TickSize,
    LotSize,
    MinNotional,
    PriceBand,
    MaxPositionNotional,
    GrossExposure,
    MaxOpenOrders,
    OrderRateMinute,
    /// The circuit breaker is open (label `circuit_open:<trip reason>`).
    CircuitOpen,
    /// A required auxiliary heartbeat is stale (`heartbeat_missing:<service>`).
    HeartbeatMissing,
    /// Long-only: a SELL larger than the position held (net of SELL orders
    /// in flight); it would go short.
    SellExceedsPosition,
    /// The venue's private (user data) stream is down or catching up: no
    /// fill could be heard, so no order goes out.
    PrivateStreamDown,
    /// The venue stopped order traffic (HTTP 429/418) until `Retry-After`.
    VenueBudgetSpent,
    /// The account's order-rate window at the venue is full (kept below
    /// `exchangeInfo`'s ORDERS limits, before the venue's `-1015`).
    VenueOrderRate,
}

impl SkipReason {
    pub const ALL: [SkipReason; 24] = [
        SkipReason::Hold,
        SkipReason::BookOutOfSync,
        SkipReason::BookEmpty,
        SkipReason::MaxPosition,
        SkipReason::MaxOrderNotional,
        SkipReason::OrderRate,
        SkipReason::DailyTradeCap,
        SkipReason::SkipFlatSell,
        SkipReason::KillSwitch,
        SkipReason::BookStale,
        SkipReason::TickSize,
        SkipReason::LotSize,
        SkipReason::MinNotional,
        SkipReason::PriceBand,
        SkipReason::MaxPositionNotional,
        SkipReason::GrossExposure,
        SkipReason::MaxOpenOrders,
        SkipReason::OrderRateMinute,
        SkipReason::CircuitOpen,
        SkipReason::HeartbeatMissing,
        SkipReason::SellExceedsPosition,
        SkipReason::PrivateStreamDown,
        SkipReason::VenueBudgetSpent,
        SkipReason::VenueOrderRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Hold => "hold",
            SkipReason::BookOutOfSync => "book_out_of_sync",
            SkipReason::BookEmpty => "book_empty",
            SkipReason::MaxPosition => "max_position",
            SkipReason::MaxOrderNotional => "max_order_notional",
            SkipReason::OrderRate => "order_rate",
            SkipReason::DailyTradeCap => "daily_trade_cap",
            SkipReason::SkipFlatSell => "skip_flat_sell",
            SkipReason::KillSwitch => "kill_switch",
            SkipReason::BookStale => "book_stale",
            SkipReason::TickSize => "tick_size",
            SkipReason::LotSize => "lot_size",
            SkipReason::MinNotional => "min_notional",
            SkipReason::PriceBand => "price_band",
            SkipReason::MaxPositionNotional => "max_position_notional",
            SkipReason::GrossExposure => "gross_exposure",
            SkipReason::MaxOpenOrders => "max_open_orders",
            SkipReason::OrderRateMinute => "order_rate_minute",
            SkipReason::CircuitOpen => "circuit_open",
            SkipReason::HeartbeatMissing => "heartbeat_missing",
            SkipReason::SellExceedsPosition => "sell_exceeds_position",
            SkipReason::PrivateStreamDown => "private_stream_down",
            SkipReason::VenueBudgetSpent => "venue_budget_spent",
            SkipReason::VenueOrderRate => "venue_order_rate",
        }
    }
}

/// Risk's judgement of one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Execute,
    Skip(SkipReason),
}

/// Risk stage -> exec stage: an order the governor allowed.
#[derive(Debug, Clone, Copy)]
pub struct OrderIntent {
    pub client_order_id: u64,
    pub side: Side,
    pub qty: i64,
    /// Worst price the order may fill at (price-band protection).
    pub limit_px: i64,
    pub decision: Decision,
    pub hop_ns: u64,
}

/// Order lifecycle states (see `exec::order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    New,
    Accepted,
    PartiallyFilled,
    Filled,
    Canceled,
    Rejected,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::Accepted => "accepted",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Rejected => "rejected",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled | OrderStatus::Canceled | OrderStatus::Rejected
        )
    }
}

/// Exec stage -> risk stage: what happened to an order.
#[derive(Debug, Clone, Copy)]
pub enum ExecReport {
    Fill {
        client_order_id: u64,
        inst: InstrumentId,
        side: Side,
        px: i64,
        qty: i64,
        /// The commission, exact, in `fee_asset`.
        fee: Money,
        /// The quote (the fee reduces realized PnL) or another asset (it
        /// is only counted per asset: no price converts it).
        fee_asset: super::FeeAsset,
        /// Position (scaled qty) after this fill.
        position_after: i64,
        /// Gross of fees, quote currency, exact.
        realized_pnl: Money,
    },
    /// The order is done (filled, canceled remainder, or rejected).
    Done {
        client_order_id: u64,
        inst: InstrumentId,
        status: OrderStatus,
    },
}
