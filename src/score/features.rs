//! Per-instrument feature state, fed by book tops and public trades.
//!
//! Every feature is an `f64` in a fixed slot (see [`FEATURE_NAMES`]). The
//! state keeps two fixed-capacity rings (allocated once, at construction):
//! taker trade flow over `trade_flow_window_ms` and a mid history over
//! `return_horizon_ms`, both keyed by exchange time (`exch_ms`). Nothing here
//! allocates or panics after construction, whatever the input.

use crate::core::{BookTop, Instrument, N_FEATURES, Side, TOP_LEVELS, Trade};
use std::collections::VecDeque;

/// Feature names, in the slot order of `Decision::features` and of the
/// array given to [`crate::score::Model::score`].
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "mid",
    "microprice_offset_bps",
    "spread_bps",
    "book_imbalance",
    "trade_flow_imbalance",
    "return_bps",
    "cross_venue_mid_diff_bps",
    "lead_lag_return_bps",
];

/// Slot of each feature in the feature array.
pub mod idx {
    pub const MID: usize = 0;
    pub const MICROPRICE_OFFSET_BPS: usize = 1;
    pub const SPREAD_BPS: usize = 2;
    pub const BOOK_IMBALANCE: usize = 3;
    pub const TRADE_FLOW_IMBALANCE: usize = 4;
    pub const RETURN_BPS: usize = 5;
    pub const CROSS_VENUE_MID_DIFF_BPS: usize = 6;
    /// The leading venue's return minus this venue's (`book::consolidated`).
    pub const LEAD_LAG_RETURN_BPS: usize = 7;
}

/// Slot of a feature name, if known.
pub fn feature_index(name: &str) -> Option<usize> {
    FEATURE_NAMES.iter().position(|n| *n == name)
}

/// Trades kept in the flow window. When more trades than this fall inside
/// the window, the oldest are evicted early (the feature then covers a
/// slightly shorter window).
pub const FLOW_CAPACITY: usize = 4096;

/// Mid samples kept for the return feature. Samples are thinned to at most
/// one per `max(1, horizon / (MID_CAPACITY / 2))` ms, so the ring always
/// covers at least twice the horizon; the reference mid is therefore exact to
/// within that spacing (1 ms for horizons up to ~2 s).
pub const MID_CAPACITY: usize = 2048;

/// Feature state of one instrument.
pub struct FeatureState {
    price_scale: u8,
    qty_scale: u8,
    flow_window_ms: i64,
    horizon_ms: i64,
    mid_spacing_ms: i64,
    /// (exch_ms, signed taker qty: + buy, - sell), oldest first.
    flow: VecDeque<(i64, i64)>,
    buy_qty: i64,
    sell_qty: i64,
    /// (exch_ms, mid), oldest first.
    mids: VecDeque<(i64, f64)>,
    /// Latest exchange time seen on this instrument (books and trades).
    clock_ms: i64,
    last_book: Option<BookTop>,
}

impl FeatureState {
    /// State for `inst`, with the windows of the model config (ms).
    pub fn new(inst: &Instrument, trade_flow_window_ms: u64, return_horizon_ms: u64) -> Self {
        Self::with_scales(
            inst.price_scale,
            inst.qty_scale,
            trade_flow_window_ms,
            return_horizon_ms,
        )
    }

    /// State for an instrument with the given fixed-point scales.
    pub fn with_scales(
        price_scale: u8,
        qty_scale: u8,
        trade_flow_window_ms: u64,
        return_horizon_ms: u64,
    ) -> Self {
        let horizon_ms = return_horizon_ms.min(i64::MAX as u64) as i64;
        FeatureState {
            price_scale: price_scale.min(18),
            qty_scale: qty_scale.min(18),
            flow_window_ms: trade_flow_window_ms.min(i64::MAX as u64) as i64,
            horizon_ms,
            mid_spacing_ms: (horizon_ms / (MID_CAPACITY as i64 / 2)).max(1),
            flow: VecDeque::with_capacity(FLOW_CAPACITY),
            buy_qty: 0,
            sell_qty: 0,
            mids: VecDeque::with_capacity(MID_CAPACITY),
            clock_ms: i64::MIN,
            last_book: None,
        }
    }

    /// The last book seen (in sync or not).
    pub fn last_book(&self) -> Option<&BookTop> {
        self.last_book.as_ref()
    }

    /// Whether the last book can be scored: in sync and two-sided.
    pub fn book_usable(&self) -> bool {
        self.last_book.as_ref().is_some_and(usable)
    }

    fn advance_clock(&mut self, exch_ms: i64) {
        if exch_ms > self.clock_ms {
            self.clock_ms = exch_ms;
        }
        self.expire_flow();
    }

    fn expire_flow(&mut self) {
        let cutoff = self.clock_ms.saturating_sub(self.flow_window_ms);
        while let Some(&(t, q)) = self.flow.front() {
            if t > cutoff {
                break;
            }
            self.pop_flow(q);
        }
    }

    fn pop_flow(&mut self, q: i64) {
        self.flow.pop_front();
        if q >= 0 {
            self.buy_qty -= q;
        } else {
            self.sell_qty += q;
        }
    }

    /// Applies a public trade (taker side and quantity) at exchange time `exch_ms`.
    pub fn on_trade(&mut self, exch_ms: i64, trade: &Trade) {
        self.advance_clock(exch_ms);
        let qty = trade.qty.max(0);
        if qty == 0 {
            return;
        }
        // A trade already outside the window (late) does not count.
        if exch_ms <= self.clock_ms.saturating_sub(self.flow_window_ms) {
            return;
        }
        if self.flow.len() == FLOW_CAPACITY
            && let Some(&(_, q)) = self.flow.front()
        {
            self.pop_flow(q);
        }
        let signed = match trade.aggressor {
            Side::Buy => {
                self.buy_qty = self.buy_qty.saturating_add(qty);
                qty
            }
            Side::Sell => {
                self.sell_qty = self.sell_qty.saturating_add(qty);
                -qty
            }
        };
        // Keep the ring ordered by time even if the venue's clock steps back.
        self.flow
            .push_back((exch_ms.max(self.back_flow_ms()), signed));
    }

    fn back_flow_ms(&self) -> i64 {
        self.flow.back().map_or(i64::MIN, |&(t, _)| t)
    }

    /// Applies a book top. Only in-sync, two-sided books enter the mid
    /// history; every book becomes the "last book" (so that trades arriving
    /// while the book is out of sync are not scored against a stale book).
    pub fn on_book(&mut self, book: &BookTop) {
        self.advance_clock(book.exch_ms);
        self.last_book = Some(*book);
        if !usable(book) {
            return;
        }
        let mid = self.mid_of(book);
        if !(mid.is_finite() && mid > 0.0) {
            return;
        }
        let t = book.exch_ms;
        if let Some(&(last_t, _)) = self.mids.back()
            && t < last_t.saturating_add(self.mid_spacing_ms)
        {
            return;
        }
        if self.mids.len() == MID_CAPACITY {
            self.mids.pop_front();
        }
        self.mids.push_back((t, mid));
    }

    fn mid_of(&self, b: &BookTop) -> f64 {
        let bid = crate::core::fixed::to_f64(b.bids[0].px, self.price_scale);
        let ask = crate::core::fixed::to_f64(b.asks[0].px, self.price_scale);
        0.5 * (bid + ask)
    }

    /// Mid `horizon` ago: the latest sample at or before `now - horizon`.
    fn reference_mid(&mut self, now_ms: i64) -> Option<f64> {
        let target = now_ms.saturating_sub(self.horizon_ms);
        // Drop samples made obsolete by a later one that is still <= target.
        while self.mids.len() >= 2 && self.mids[1].0 <= target {
            self.mids.pop_front();
        }
        match self.mids.front() {
            Some(&(t, m)) if t <= target => Some(m),
            _ => None,
        }
    }

    /// Features on the last book, at the latest exchange time seen. `None`
    /// when the last book is out of sync, one-sided or has a non-positive mid.
    pub fn compute(&mut self) -> Option<[f64; N_FEATURES]> {
        let book = self.last_book?;
        if !usable(&book) {
            return None;
        }
        let ps = self.price_scale;
        let qs = self.qty_scale;
        let px = |v: i64| crate::core::fixed::to_f64(v, ps);
        let qty = |v: i64| crate::core::fixed::to_f64(v, qs);
        let bid = px(book.bids[0].px);
        let ask = px(book.asks[0].px);
        let mid = 0.5 * (bid + ask);
        if !(mid.is_finite() && mid > 0.0) {
            return None;
        }
        let mut f = [0.0; N_FEATURES];
        f[idx::MID] = mid;

        let bq = qty(book.bids[0].qty.max(0));
        let aq = qty(book.asks[0].qty.max(0));
        let micro = if bq + aq > 0.0 {
            (bid * aq + ask * bq) / (bq + aq)
        } else {
            mid
        };
        f[idx::MICROPRICE_OFFSET_BPS] = (micro - mid) / mid * 1e4;
        f[idx::SPREAD_BPS] = (ask - bid) / mid * 1e4;

        let nb = (book.n_bids as usize).min(TOP_LEVELS);
        let na = (book.n_asks as usize).min(TOP_LEVELS);
        let sb: f64 = book.bids[..nb].iter().map(|l| qty(l.qty.max(0))).sum();
        let sa: f64 = book.asks[..na].iter().map(|l| qty(l.qty.max(0))).sum();
        f[idx::BOOK_IMBALANCE] = if sb + sa > 0.0 {
            (sb - sa) / (sb + sa)
        } else {
            0.0
        };

        self.expire_flow();
        let (buy, sell) = (qty(self.buy_qty), qty(self.sell_qty));
        f[idx::TRADE_FLOW_IMBALANCE] = if buy + sell > 0.0 {
            (buy - sell) / (buy + sell)
        } else {
            0.0
        };

        if let Some(m0) = self.reference_mid(self.clock_ms) {
            f[idx::RETURN_BPS] = (mid - m0) / m0 * 1e4;
        }

        if book.xv_best_bid > 0 && book.xv_best_ask > 0 {
            // The book stage writes cross-venue prices in this instrument's scale.
            let xv_mid = 0.5 * (px(book.xv_best_bid) + px(book.xv_best_ask));
            f[idx::CROSS_VENUE_MID_DIFF_BPS] = (mid - xv_mid) / mid * 1e4;
        }
        f[idx::LEAD_LAG_RETURN_BPS] = book.xv_lead_lag_bps as f64;

        if f.iter().all(|v| v.is_finite()) {
            Some(f)
        } else {
            None
        }
    }
}

/// In sync, both sides present with positive prices.
fn usable(b: &BookTop) -> bool {
    b.in_sync && b.n_bids > 0 && b.n_asks > 0 && b.bids[0].px > 0 && b.asks[0].px > 0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::{InstrumentId, Level, Venue};

    /// A book with prices at scale 2 and quantities at scale 3.
    pub(crate) fn book(exch_ms: i64, bids: &[(i64, i64)], asks: &[(i64, i64)]) -> BookTop {
        let mut b = BookTop {
            venue: Venue::Binance,
            inst: InstrumentId(0),
            recv_ns: 0,
            hop_ns: 0,
            exch_ms,
            update_id: 1,
            in_sync: true,
            n_bids: bids.len() as u8,
            n_asks: asks.len() as u8,
            bids: [Level::default(); TOP_LEVELS],
            asks: [Level::default(); TOP_LEVELS],
            xv_best_bid: 0,
            xv_best_ask: 0,
            xv_lead_lag_bps: 0.0,
        };
        for (i, &(px, qty)) in bids.iter().enumerate() {
            b.bids[i] = Level { px, qty };
        }
        for (i, &(px, qty)) in asks.iter().enumerate() {
            b.asks[i] = Level { px, qty };
        }
        b
    }

    fn trade(side: Side, qty: i64) -> Trade {
        Trade {
            px: 10_000,
            qty,
            aggressor: side,
            trade_id: 1,
        }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn names_match_slots() {
        assert_eq!(FEATURE_NAMES.len(), N_FEATURES);
        assert_eq!(feature_index("mid"), Some(idx::MID));
        assert_eq!(feature_index("return_bps"), Some(idx::RETURN_BPS));
        assert_eq!(
            feature_index("lead_lag_return_bps"),
            Some(idx::LEAD_LAG_RETURN_BPS)
        );
        assert_eq!(feature_index("nope"), None);
    }

    #[test]
    fn book_features_exact() {
        let mut s = FeatureState::with_scales(2, 3, 1_000, 500);
        // bid 99.00 x 3.000, ask 101.00 x 1.000; more levels below.
        let b = book(
            1_000,
            &[(9_900, 3_000), (9_800, 1_000)],
            &[(10_100, 1_000), (10_200, 1_000), (10_300, 2_000)],
        );
        s.on_book(&b);
        let f = s.compute().unwrap();
        close(f[idx::MID], 100.0);
        // microprice = (99*1 + 101*3)/4 = 100.5 -> +50 bps
        close(f[idx::MICROPRICE_OFFSET_BPS], 50.0);
        close(f[idx::SPREAD_BPS], 200.0);
        // bids 4, asks 4 -> 0
        close(f[idx::BOOK_IMBALANCE], 0.0);
        close(f[idx::TRADE_FLOW_IMBALANCE], 0.0);
        close(f[idx::RETURN_BPS], 0.0);
        close(f[idx::CROSS_VENUE_MID_DIFF_BPS], 0.0);
        close(f[idx::LEAD_LAG_RETURN_BPS], 0.0);

        let b = book(1_001, &[(9_900, 3_000)], &[(10_100, 1_000)]);
        s.on_book(&b);
        let f = s.compute().unwrap();
        close(f[idx::BOOK_IMBALANCE], 0.5);
    }

    #[test]
    fn cross_venue_diff() {
        let mut s = FeatureState::with_scales(2, 3, 1_000, 500);
        let mut b = book(1, &[(9_900, 1_000)], &[(10_100, 1_000)]);
        b.xv_best_bid = 9_880;
        b.xv_best_ask = 10_080; // xv mid 99.80 -> (100 - 99.8)/100 = 20 bps
        s.on_book(&b);
        close(s.compute().unwrap()[idx::CROSS_VENUE_MID_DIFF_BPS], 20.0);
        b.xv_best_ask = 0;
        s.on_book(&b);
        close(s.compute().unwrap()[idx::CROSS_VENUE_MID_DIFF_BPS], 0.0);
    }

    #[test]
    fn trade_flow_window_expires_by_exchange_time() {
        let mut s = FeatureState::with_scales(2, 3, 1_000, 500);
        s.on_book(&book(0, &[(9_900, 1_000)], &[(10_100, 1_000)]));
        s.on_trade(100, &trade(Side::Buy, 3_000));
        s.on_trade(200, &trade(Side::Sell, 1_000));
        close(s.compute().unwrap()[idx::TRADE_FLOW_IMBALANCE], 0.5);
        // At 1_100 the trade at 100 is exactly one window old: expired.
        s.on_book(&book(1_100, &[(9_900, 1_000)], &[(10_100, 1_000)]));
        close(s.compute().unwrap()[idx::TRADE_FLOW_IMBALANCE], -1.0);
        s.on_trade(1_150, &trade(Side::Buy, 1_000));
        close(s.compute().unwrap()[idx::TRADE_FLOW_IMBALANCE], 0.0);
        s.on_book(&book(5_000, &[(9_900, 1_000)], &[(10_100, 1_000)]));
        close(s.compute().unwrap()[idx::TRADE_FLOW_IMBALANCE], 0.0);
        // A late trade outside the window is ignored.
        s.on_trade(10, &trade(Side::Buy, 1_000));
        close(s.compute().unwrap()[idx::TRADE_FLOW_IMBALANCE], 0.0);
    }

    #[test]
    fn flow_ring_is_bounded() {
        let mut s = FeatureState::with_scales(2, 3, 1_000_000, 500);
        s.on_book(&book(0, &[(9_900, 1_000)], &[(10_100, 1_000)]));
        for i in 0..(FLOW_CAPACITY as i64 + 10) {
            s.on_trade(1 + i, &trade(Side::Sell, 1));
        }
        s.on_trade(FLOW_CAPACITY as i64 + 20, &trade(Side::Buy, 1));
        assert_eq!(s.flow.len(), FLOW_CAPACITY);
        let f = s.compute().unwrap()[idx::TRADE_FLOW_IMBALANCE];
        close(f, (1.0 - 4095.0) / 4096.0);
    }

    #[test]
    fn return_over_horizon() {
        let mut s = FeatureState::with_scales(2, 3, 1_000, 500);
        s.on_book(&book(1_000, &[(9_900, 1_000)], &[(10_100, 1_000)])); // mid 100
        close(s.compute().unwrap()[idx::RETURN_BPS], 0.0); // no history yet
        s.on_book(&book(1_200, &[(10_000, 1_000)], &[(10_200, 1_000)])); // mid 101
        s.on_book(&book(1_500, &[(10_100, 1_000)], &[(10_300, 1_000)])); // mid 102
        // now 1500, target 1000 -> mid 100 -> +200 bps
        close(s.compute().unwrap()[idx::RETURN_BPS], 200.0);
        s.on_book(&book(1_700, &[(10_100, 1_000)], &[(10_300, 1_000)])); // mid 102
        // target 1200 -> mid 101
        close(
            s.compute().unwrap()[idx::RETURN_BPS],
            (102.0 - 101.0) / 101.0 * 1e4,
        );
    }

    #[test]
    fn unusable_books_are_not_scored() {
        let mut s = FeatureState::with_scales(2, 3, 1_000, 500);
        assert!(s.compute().is_none());
        s.on_book(&book(1, &[(9_900, 1_000)], &[]));
        assert!(s.compute().is_none());
        let mut b = book(2, &[(9_900, 1_000)], &[(10_100, 1_000)]);
        b.in_sync = false;
        s.on_book(&b);
        assert!(!s.book_usable());
        assert!(s.compute().is_none());
        // Zero quantities at the touch: microprice falls back to mid.
        s.on_book(&book(3, &[(9_900, 0)], &[(10_100, 0)]));
        let f = s.compute().unwrap();
        close(f[idx::MICROPRICE_OFFSET_BPS], 0.0);
        close(f[idx::BOOK_IMBALANCE], 0.0);
        // Garbage counts never index out of bounds.
        let mut b = book(4, &[(9_900, 1_000)], &[(10_100, 1_000)]);
        b.n_bids = 200;
        s.on_book(&b);
        assert!(s.compute().is_some());
    }
}
