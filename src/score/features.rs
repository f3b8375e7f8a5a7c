//! Per-instrument feature state, fed by book tops and public trades.
//!
//! Every feature is an `f64` in a fixed slot of the registry
//! ([`super::registry`]). The state keeps fixed-capacity rings, allocated
//! once at construction, all keyed by exchange time (`exch_ms`): taker trade
//! flow over `trade_flow_window_ms`, a mid history over `return_horizon_ms`,
//! order-flow imbalance contributions (100 ms / 1 s / 10 s), squared mid
//! log returns (1 s / 10 s) and trade counts (1 s / 10 s).
//!
//! Each input updates the rings (O(1) amortized, for every feature, so a
//! model swapped in later finds its windows already filled); [`FeatureState::compute`]
//! then evaluates only the slots of the [`FeaturePlan`] made from the
//! model's feature names, once per event. Nothing here allocates or panics
//! after construction, whatever the input.

use super::registry::FeaturePlan;
pub use super::registry::{FEATURE_NAMES, feature_index, idx};
use super::window::WindowSums;
use crate::core::{BookTop, Instrument, N_FEATURES, Side, TOP_LEVELS, Trade};
use std::collections::VecDeque;

/// Trades kept in the flow window. When more trades than this fall inside
/// the window, the oldest are evicted early (the feature then covers a
/// slightly shorter window).
pub const FLOW_CAPACITY: usize = 4096;

/// Mid samples kept for the return feature. Samples are thinned to at most
/// one per `max(1, horizon / (MID_CAPACITY / 2))` ms, so the ring always
/// covers at least twice the horizon; the reference mid is therefore exact to
/// within that spacing (1 ms for horizons up to ~2 s).
pub const MID_CAPACITY: usize = 2048;

/// Squared returns are summed as integers in units of this many bps²
/// (so that window sums are exact): `realized_vol_*` resolves 1e-3 bps
/// near zero.
pub const VOL_QUANTUM_BPS2: f64 = 1e-6;
/// One squared return is capped at 1e6 bps² (a 1000 bps jump).
const VOL_MAX_UNITS: i64 = 1_000_000_000_000;

/// Squared log return between two mids (given as bid + ask, any scale),
/// in [`VOL_QUANTUM_BPS2`] units.
#[inline]
pub fn squared_return_units(prev_mid2: i64, mid2: i64) -> i64 {
    let r = (mid2 as f64 / prev_mid2 as f64).ln() * 1e4;
    let u = (r * r / VOL_QUANTUM_BPS2).round();
    if u.is_finite() {
        (u as i64).clamp(0, VOL_MAX_UNITS)
    } else {
        VOL_MAX_UNITS
    }
}

/// Order-flow imbalance windows (ms) of `ofi_100ms`, `ofi_1s`, `ofi_10s`.
pub const OFI_WINDOWS_MS: [i64; 3] = [100, 1_000, 10_000];
/// Realized volatility windows (ms) of `realized_vol_1s_bps`, `realized_vol_10s_bps`.
pub const VOL_WINDOWS_MS: [i64; 2] = [1_000, 10_000];
/// Trade intensity windows (ms) of `trade_intensity_1s`, `trade_intensity_10s`.
pub const INTENSITY_WINDOWS_MS: [i64; 2] = [1_000, 10_000];
/// Book updates kept for the OFI windows (more within 10 s evicts early).
pub const OFI_CAPACITY: usize = 16_384;
/// Mid changes kept for the volatility windows.
pub const VOL_CAPACITY: usize = 8_192;
/// Trades kept for the intensity windows.
pub const INTENSITY_CAPACITY: usize = 8_192;
/// Cap of `time_since_last_trade_ms` (also its value before any trade).
pub const TRADE_AGE_CAP_MS: i64 = 60_000;
/// One OFI contribution is clamped to this many quantity units, so that
/// 16 384 of them cannot overflow an `i64` sum.
const OFI_CLAMP: i64 = 100_000_000_000_000;

/// Best levels of the previous usable book (for OFI).
#[derive(Debug, Clone, Copy)]
struct Touch {
    bid_px: i64,
    bid_qty: i64,
    ask_px: i64,
    ask_qty: i64,
}

/// Order-flow imbalance of one book update (Cont, Kukanov, Stoikov 2014):
/// the bid side's contribution minus the ask side's, in quantity units.
#[inline]
pub fn ofi_contribution(prev: (i64, i64, i64, i64), now: (i64, i64, i64, i64)) -> i64 {
    let (pbp, pbq, pap, paq) = prev;
    let (bp, bq, ap, aq) = now;
    let e_bid = if bp > pbp {
        bq
    } else if bp == pbp {
        bq - pbq
    } else {
        -pbq
    };
    let e_ask = if ap < pap {
        aq
    } else if ap == pap {
        aq - paq
    } else {
        -paq
    };
    e_bid.saturating_sub(e_ask)
}

/// Feature state of one instrument.
pub struct FeatureState {
    price_scale: u8,
    qty_scale: u8,
    /// Tick size in price units (at least 1).
    tick: i64,
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
    ofi: WindowSums<i64, 3>,
    vol: WindowSums<i64, 2>,
    intensity: WindowSums<i64, 2>,
    /// Touch and mid of the previous usable book (reset by an unusable one,
    /// so that nothing is measured across a resync).
    prev_touch: Option<Touch>,
    /// Bid + ask of the previous usable book (0: none).
    prev_mid2: i64,
    last_trade_ms: Option<i64>,
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
        .with_tick(inst.tick)
    }

    /// State for an instrument with the given fixed-point scales (tick 1).
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
            tick: 1,
            flow_window_ms: trade_flow_window_ms.min(i64::MAX as u64) as i64,
            horizon_ms,
            mid_spacing_ms: (horizon_ms / (MID_CAPACITY as i64 / 2)).max(1),
            flow: VecDeque::with_capacity(FLOW_CAPACITY),
            buy_qty: 0,
            sell_qty: 0,
            mids: VecDeque::with_capacity(MID_CAPACITY),
            clock_ms: i64::MIN,
            last_book: None,
            ofi: WindowSums::new(OFI_CAPACITY, OFI_WINDOWS_MS),
            vol: WindowSums::new(VOL_CAPACITY, VOL_WINDOWS_MS),
            intensity: WindowSums::new(INTENSITY_CAPACITY, INTENSITY_WINDOWS_MS),
            prev_touch: None,
            prev_mid2: 0,
            last_trade_ms: None,
        }
    }

    /// The tick size in price units (non-positive values become 1).
    pub fn with_tick(mut self, tick: i64) -> Self {
        self.tick = tick.max(1);
        self
    }

    /// The last book seen (in sync or not).
    pub fn last_book(&self) -> Option<&BookTop> {
        self.last_book.as_ref()
    }

    /// Whether the last book can be scored: in sync and two-sided.
    pub fn book_usable(&self) -> bool {
        self.last_book.as_ref().is_some_and(usable)
    }

    /// Samples dropped early from the OFI, volatility and intensity rings
    /// because more than their capacity fell inside a window.
    pub fn evicted_early(&self) -> u64 {
        self.ofi.evicted() + self.vol.evicted() + self.intensity.evicted()
    }

    fn advance_clock(&mut self, exch_ms: i64) {
        if exch_ms > self.clock_ms {
            self.clock_ms = exch_ms;
        }
        self.expire();
    }

    fn expire(&mut self) {
        let cutoff = self.clock_ms.saturating_sub(self.flow_window_ms);
        while let Some(&(t, q)) = self.flow.front() {
            if t > cutoff {
                break;
            }
            self.pop_flow(q);
        }
        self.ofi.expire(self.clock_ms);
        self.vol.expire(self.clock_ms);
        self.intensity.expire(self.clock_ms);
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
        self.last_trade_ms = Some(self.last_trade_ms.map_or(exch_ms, |t| t.max(exch_ms)));
        self.intensity.push(exch_ms, 1);
        if exch_ms < self.clock_ms {
            self.intensity.expire(self.clock_ms);
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
    /// history and the OFI and volatility windows; every book becomes the
    /// "last book" (so that trades arriving while the book is out of sync
    /// are not scored against a stale book).
    pub fn on_book(&mut self, book: &BookTop) {
        self.advance_clock(book.exch_ms);
        self.last_book = Some(*book);
        let mid = self.mid_of(book);
        if !(usable(book) && mid.is_finite() && mid > 0.0) {
            self.prev_touch = None;
            self.prev_mid2 = 0;
            return;
        }
        let t = book.exch_ms;
        let touch = Touch {
            bid_px: book.bids[0].px,
            bid_qty: book.bids[0].qty.max(0),
            ask_px: book.asks[0].px,
            ask_qty: book.asks[0].qty.max(0),
        };
        if let Some(p) = self.prev_touch {
            let e = ofi_contribution(
                (p.bid_px, p.bid_qty, p.ask_px, p.ask_qty),
                (touch.bid_px, touch.bid_qty, touch.ask_px, touch.ask_qty),
            );
            self.ofi.push(t, e.clamp(-OFI_CLAMP, OFI_CLAMP));
            if t < self.clock_ms {
                // A late book: its sample may already be outside a window.
                self.ofi.expire(self.clock_ms);
            }
        }
        self.prev_touch = Some(touch);
        let mid2 = touch.bid_px.saturating_add(touch.ask_px);
        if self.prev_mid2 > 0 && mid2 != self.prev_mid2 {
            self.vol.push(t, squared_return_units(self.prev_mid2, mid2));
            if t < self.clock_ms {
                self.vol.expire(self.clock_ms);
            }
        }
        self.prev_mid2 = mid2;
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

    /// Every feature on the last book (see [`FeatureState::compute_plan`]).
    pub fn compute(&mut self) -> Option<[f64; N_FEATURES]> {
        self.compute_plan(FeaturePlan::all())
    }

    /// The planned features on the last book, at the latest exchange time
    /// seen; unplanned slots are 0. `None` when the last book is out of
    /// sync, one-sided or has a non-positive mid, or a feature is not finite.
    pub fn compute_plan(&mut self, plan: FeaturePlan) -> Option<[f64; N_FEATURES]> {
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
        f[idx::BOOK_IMBALANCE] = imbalance(sb, sa);

        // The windows were expired to `clock_ms` by the last input.
        let (buy, sell) = (qty(self.buy_qty), qty(self.sell_qty));
        f[idx::TRADE_FLOW_IMBALANCE] = imbalance(buy, sell);

        if let Some(m0) = self.reference_mid(self.clock_ms) {
            f[idx::RETURN_BPS] = (mid - m0) / m0 * 1e4;
        }

        if book.xv_best_bid > 0 && book.xv_best_ask > 0 {
            // The book stage writes cross-venue prices in this instrument's scale.
            let xv_mid = 0.5 * (px(book.xv_best_bid) + px(book.xv_best_ask));
            f[idx::CROSS_VENUE_MID_DIFF_BPS] = (mid - xv_mid) / mid * 1e4;
        }
        f[idx::LEAD_LAG_RETURN_BPS] = book.xv_lead_lag_bps as f64;

        if plan.has(idx::BOOK_IMBALANCE_5) {
            f[idx::BOOK_IMBALANCE_5] = f[idx::BOOK_IMBALANCE];
        }
        if plan.has(idx::BOOK_IMBALANCE_10) {
            let e = &book.extra;
            f[idx::BOOK_IMBALANCE_10] =
                imbalance(qty(e.bid_qty_10.max(0)), qty(e.ask_qty_10.max(0)));
        }
        for (k, slot) in [idx::OFI_100MS, idx::OFI_1S, idx::OFI_10S]
            .into_iter()
            .enumerate()
        {
            if plan.has(slot) {
                f[slot] = qty(self.ofi.sum(k));
            }
        }
        for (k, slot) in [idx::REALIZED_VOL_1S_BPS, idx::REALIZED_VOL_10S_BPS]
            .into_iter()
            .enumerate()
        {
            if plan.has(slot) {
                f[slot] = (self.vol.sum(k).max(0) as f64 * VOL_QUANTUM_BPS2).sqrt();
            }
        }
        for (k, slot) in [idx::TRADE_INTENSITY_1S, idx::TRADE_INTENSITY_10S]
            .into_iter()
            .enumerate()
        {
            if plan.has(slot) {
                f[slot] = self.intensity.count(k) as f64 * 1e3 / INTENSITY_WINDOWS_MS[k] as f64;
            }
        }
        if plan.has(idx::SPREAD_TICKS) || plan.has(idx::MICROPRICE_OFFSET_TICKS) {
            let tick = px(self.tick);
            f[idx::SPREAD_TICKS] =
                book.asks[0].px.saturating_sub(book.bids[0].px) as f64 / self.tick as f64;
            f[idx::MICROPRICE_OFFSET_TICKS] = (micro - mid) / tick;
        }
        if plan.has(idx::CROSS_VENUE_BASIS_BPS) {
            let other = book.extra.xv_other_mid;
            if other.is_finite() && other > 0.0 {
                f[idx::CROSS_VENUE_BASIS_BPS] = (mid - other) / other * 1e4;
            }
        }
        if plan.has(idx::IS_LEAD_VENUE) {
            f[idx::IS_LEAD_VENUE] = if book.extra.xv_leader { 1.0 } else { 0.0 };
        }
        if plan.has(idx::TIME_SINCE_LAST_TRADE_MS) {
            f[idx::TIME_SINCE_LAST_TRADE_MS] = match self.last_trade_ms {
                Some(t) => self.clock_ms.saturating_sub(t).clamp(0, TRADE_AGE_CAP_MS) as f64,
                None => TRADE_AGE_CAP_MS as f64,
            };
        }
        // Unplanned slots of the groups computed together go back to 0.
        for (i, v) in f.iter_mut().enumerate() {
            if !plan.has(i) {
                *v = 0.0;
            }
        }

        if f.iter().all(|v| v.is_finite()) {
            Some(f)
        } else {
            None
        }
    }
}

/// (a - b) / (a + b), 0 when both are 0.
#[inline]
fn imbalance(a: f64, b: f64) -> f64 {
    if a + b > 0.0 { (a - b) / (a + b) } else { 0.0 }
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
            extra: Default::default(),
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

    #[test]
    fn ofi_over_three_windows() {
        let mut s = FeatureState::with_scales(2, 3, 1_000, 500);
        let f = |s: &mut FeatureState| {
            let v = s.compute().unwrap();
            (v[idx::OFI_100MS], v[idx::OFI_1S], v[idx::OFI_10S])
        };
        s.on_book(&book(1_000, &[(9_900, 3_000)], &[(10_100, 1_000)]));
        assert_eq!(f(&mut s), (0.0, 0.0, 0.0)); // first book: nothing to compare
        // Bid same price, 3 -> 5: +2; ask unchanged: 0.
        s.on_book(&book(1_050, &[(9_900, 5_000)], &[(10_100, 1_000)]));
        // Bid up (new qty 1): +1; ask down (new qty 4): -4. e = -3.
        s.on_book(&book(1_100, &[(9_950, 1_000)], &[(10_050, 4_000)]));
        // Bid down (old qty 1 gone): -1; ask up (old qty 4 gone): +4. e = +3.
        s.on_book(&book(1_200, &[(9_900, 2_000)], &[(10_100, 2_000)]));
        assert_eq!(f(&mut s), (3.0, 2.0, 2.0));
        s.on_book(&book(2_100, &[(9_900, 2_000)], &[(10_100, 2_000)]));
        // (2000, 2100]: 0; (1100, 2100]: +3 and 0; 10 s: all.
        assert_eq!(f(&mut s), (0.0, 3.0, 2.0));
        // An out-of-sync book breaks the chain: no contribution across it.
        let mut b = book(2_200, &[(9_000, 9_000)], &[(11_000, 9_000)]);
        b.in_sync = false;
        s.on_book(&b);
        s.on_book(&book(2_300, &[(9_990, 7_000)], &[(10_010, 1_000)]));
        assert_eq!(f(&mut s), (0.0, 0.0, 2.0));
        s.on_book(&book(20_000, &[(9_990, 7_000)], &[(10_010, 1_000)]));
        assert_eq!(f(&mut s), (0.0, 0.0, 0.0));
    }

    #[test]
    fn realized_vol_over_windows() {
        let mut s = FeatureState::with_scales(2, 3, 1_000, 500);
        s.on_book(&book(0, &[(9_900, 1_000)], &[(10_100, 1_000)])); // mid 100
        s.on_book(&book(500, &[(10_000, 1_000)], &[(10_200, 1_000)])); // mid 101
        s.on_book(&book(600, &[(10_000, 9_000)], &[(10_200, 1_000)])); // mid 101 again: no sample
        s.on_book(&book(1_200, &[(9_900, 1_000)], &[(10_100, 1_000)])); // mid 100
        // ln(1.01) = 99.5033 bps each way; r² = 9900.908409 bps², kept in
        // micro-bps² units.
        let r = 1.01f64.ln() * 1e4;
        let q = (r * r * 1e6).round();
        assert_eq!(q, 9_900_908_409.0);
        let (one, two) = ((q * 1e-6).sqrt(), (2.0 * q * 1e-6).sqrt());
        let v = s.compute().unwrap();
        close(v[idx::REALIZED_VOL_1S_BPS], two);
        close(v[idx::REALIZED_VOL_10S_BPS], two);
        s.on_book(&book(1_600, &[(9_900, 1_000)], &[(10_100, 1_000)]));
        let v = s.compute().unwrap();
        close(v[idx::REALIZED_VOL_1S_BPS], one);
        close(v[idx::REALIZED_VOL_10S_BPS], two);
        s.on_book(&book(30_000, &[(9_900, 1_000)], &[(10_100, 1_000)]));
        let v = s.compute().unwrap();
        assert_eq!(
            (v[idx::REALIZED_VOL_1S_BPS], v[idx::REALIZED_VOL_10S_BPS]),
            (0.0, 0.0)
        );
    }

    #[test]
    fn trade_intensity_and_age() {
        let mut s = FeatureState::with_scales(2, 3, 1_000, 500);
        s.on_book(&book(0, &[(9_900, 1_000)], &[(10_100, 1_000)]));
        let v = s.compute().unwrap();
        assert_eq!(v[idx::TIME_SINCE_LAST_TRADE_MS], 60_000.0); // no trade yet
        for t in [0, 100, 900] {
            s.on_trade(t, &trade(Side::Buy, 1_000));
        }
        s.on_trade(1_000, &trade(Side::Sell, 0)); // empty: not a trade
        s.on_trade(1_500, &trade(Side::Sell, 1_000));
        let v = s.compute().unwrap();
        // (500, 1500]: 900 and 1500 -> 2 per s; 4 trades over 10 s -> 0.4 per s.
        assert_eq!(v[idx::TRADE_INTENSITY_1S], 2.0);
        assert_eq!(v[idx::TRADE_INTENSITY_10S], 0.4);
        assert_eq!(v[idx::TIME_SINCE_LAST_TRADE_MS], 0.0);
        s.on_book(&book(1_800, &[(9_900, 1_000)], &[(10_100, 1_000)]));
        assert_eq!(s.compute().unwrap()[idx::TIME_SINCE_LAST_TRADE_MS], 300.0);
        s.on_book(&book(100_000, &[(9_900, 1_000)], &[(10_100, 1_000)]));
        let v = s.compute().unwrap();
        assert_eq!(v[idx::TIME_SINCE_LAST_TRADE_MS], 60_000.0);
        assert_eq!(
            (v[idx::TRADE_INTENSITY_1S], v[idx::TRADE_INTENSITY_10S]),
            (0.0, 0.0)
        );
    }

    #[test]
    fn ticks_depth10_and_cross_venue() {
        // Tick 0.50 (50 at scale 2).
        let mut s = FeatureState::with_scales(2, 3, 1_000, 500).with_tick(50);
        let mut b = book(1, &[(9_900, 3_000)], &[(10_100, 1_000)]);
        b.extra.bid_qty_10 = 6_000;
        b.extra.ask_qty_10 = 2_000;
        b.extra.xv_other_mid = 99.5;
        b.extra.xv_leader = true;
        s.on_book(&b);
        let v = s.compute().unwrap();
        assert_eq!(v[idx::SPREAD_TICKS], 4.0); // 2.00 / 0.50
        close(v[idx::MICROPRICE_OFFSET_TICKS], 1.0); // 100.5 - 100 = 0.50
        close(v[idx::BOOK_IMBALANCE_10], 0.5); // (6 - 2) / 8
        close(v[idx::BOOK_IMBALANCE_5], 0.5); // one level each: (3 - 1) / 4
        close(v[idx::CROSS_VENUE_BASIS_BPS], 0.5 / 99.5 * 1e4);
        assert_eq!(v[idx::IS_LEAD_VENUE], 1.0);
        b.extra = Default::default();
        s.on_book(&b);
        let v = s.compute().unwrap();
        assert_eq!(v[idx::CROSS_VENUE_BASIS_BPS], 0.0);
        assert_eq!(v[idx::BOOK_IMBALANCE_10], 0.0);
        assert_eq!(v[idx::IS_LEAD_VENUE], 0.0);
    }

    #[test]
    fn only_planned_features_are_filled() {
        let mut s = FeatureState::with_scales(2, 3, 1_000, 500);
        s.on_book(&book(1_000, &[(9_900, 3_000)], &[(10_100, 1_000)]));
        s.on_book(&book(1_050, &[(9_900, 5_000)], &[(10_100, 1_000)]));
        s.on_trade(1_060, &trade(Side::Buy, 1_000));
        let plan = FeaturePlan::from_names(["ofi_1s"]).unwrap();
        let v = s.compute_plan(plan).unwrap();
        assert_eq!(v[idx::OFI_1S], 2.0);
        assert_eq!(v[idx::OFI_10S], 0.0); // not planned, although non-zero
        assert_eq!(v[idx::TRADE_INTENSITY_1S], 0.0);
        assert_eq!(v[idx::TIME_SINCE_LAST_TRADE_MS], 0.0);
        close(v[idx::MID], 100.0); // base set
        assert_eq!(s.compute().unwrap()[idx::OFI_10S], 2.0);
    }

    /// Inputs of the property test.
    #[derive(Clone, Copy, Debug)]
    #[allow(clippy::large_enum_variant)]
    enum In {
        Book(BookTop),
        Trade(i64, Trade),
    }

    /// The features recomputed from the whole input history, by the
    /// definitions (no windows kept between calls).
    fn naive(hist: &[In], flow_w: i64, horizon: i64, tick: i64) -> Option<[f64; N_FEATURES]> {
        use crate::core::fixed::to_f64;
        let (ps, qs) = (2u8, 3u8);
        let clock = hist
            .iter()
            .map(|e| match e {
                In::Book(b) => b.exch_ms,
                In::Trade(t, _) => *t,
            })
            .max()?;
        let book = hist.iter().rev().find_map(|e| match e {
            In::Book(b) => Some(*b),
            _ => None,
        })?;
        if !usable(&book) {
            return None;
        }
        let mut f = [0.0; N_FEATURES];
        let bid = to_f64(book.bids[0].px, ps);
        let ask = to_f64(book.asks[0].px, ps);
        let mid = (bid + ask) / 2.0;
        f[idx::MID] = mid;
        let bq = to_f64(book.bids[0].qty.max(0), qs);
        let aq = to_f64(book.asks[0].qty.max(0), qs);
        let micro = if bq + aq > 0.0 {
            (bid * aq + ask * bq) / (bq + aq)
        } else {
            mid
        };
        f[idx::MICROPRICE_OFFSET_BPS] = (micro - mid) / mid * 1e4;
        f[idx::SPREAD_BPS] = (ask - bid) / mid * 1e4;
        let side = |l: &[Level], n: u8| -> f64 {
            l[..(n as usize).min(TOP_LEVELS)]
                .iter()
                .map(|l| to_f64(l.qty.max(0), qs))
                .sum()
        };
        f[idx::BOOK_IMBALANCE] =
            imbalance(side(&book.bids, book.n_bids), side(&book.asks, book.n_asks));
        f[idx::BOOK_IMBALANCE_5] = f[idx::BOOK_IMBALANCE];
        f[idx::BOOK_IMBALANCE_10] = imbalance(
            to_f64(book.extra.bid_qty_10, qs),
            to_f64(book.extra.ask_qty_10, qs),
        );
        f[idx::SPREAD_TICKS] = (book.asks[0].px - book.bids[0].px) as f64 / tick as f64;
        f[idx::MICROPRICE_OFFSET_TICKS] = (micro - mid) / to_f64(tick, ps);

        // Walk the history with the documented rules.
        let (mut clk, mut prev_touch, mut prev_mid2) = (i64::MIN, None::<BookTop>, 0i64);
        let (mut ofi_t, mut vol_t, mut int_t) = (i64::MIN, i64::MIN, i64::MIN);
        let mut ofi = Vec::new();
        let mut vol = Vec::new();
        let mut ints = Vec::new();
        let mut flow: Vec<(i64, i64)> = Vec::new();
        let mut mids: Vec<(i64, f64)> = Vec::new();
        let mut last_trade = None::<i64>;
        for e in hist {
            match *e {
                In::Book(b) => {
                    clk = clk.max(b.exch_ms);
                    let m = (to_f64(b.bids[0].px, ps) + to_f64(b.asks[0].px, ps)) / 2.0;
                    if !usable(&b) {
                        prev_touch = None;
                        prev_mid2 = 0;
                        continue;
                    }
                    if let Some(p) = prev_touch {
                        ofi_t = ofi_t.max(b.exch_ms);
                        // Cont-Kukanov-Stoikov, written out again here.
                        let (pb, pa, nb, na) = (p.bids[0], p.asks[0], b.bids[0], b.asks[0]);
                        let bid_part = match nb.px.cmp(&pb.px) {
                            std::cmp::Ordering::Greater => nb.qty,
                            std::cmp::Ordering::Equal => nb.qty - pb.qty,
                            std::cmp::Ordering::Less => -pb.qty,
                        };
                        let ask_part = match na.px.cmp(&pa.px) {
                            std::cmp::Ordering::Less => na.qty,
                            std::cmp::Ordering::Equal => na.qty - pa.qty,
                            std::cmp::Ordering::Greater => -pa.qty,
                        };
                        ofi.push((ofi_t, bid_part - ask_part));
                    }
                    prev_touch = Some(b);
                    let mid2 = b.bids[0].px + b.asks[0].px;
                    if prev_mid2 > 0 && mid2 != prev_mid2 {
                        vol_t = vol_t.max(b.exch_ms);
                        let r = (mid2 as f64 / prev_mid2 as f64).ln() * 1e4;
                        vol.push((vol_t, (r * r * 1e6).round() as i64));
                    }
                    prev_mid2 = mid2;
                    if mids.last().is_none_or(|&(t, _)| b.exch_ms > t) {
                        mids.push((b.exch_ms, m));
                    }
                }
                In::Trade(t, tr) => {
                    clk = clk.max(t);
                    if tr.qty <= 0 {
                        continue;
                    }
                    last_trade = Some(last_trade.map_or(t, |l: i64| l.max(t)));
                    int_t = int_t.max(t);
                    ints.push(int_t);
                    // Late: already outside the flow window when it came.
                    // (Flow entries at or before the cutoff are gone by then.)
                    if t <= clk - flow_w {
                        continue;
                    }
                    flow.retain(|&(ft, _)| ft > clk - flow_w);
                    let flow_t = flow.last().map_or(t, |&(ft, _)| t.max(ft));
                    let q = if tr.aggressor == Side::Buy {
                        tr.qty
                    } else {
                        -tr.qty
                    };
                    flow.push((flow_t, q));
                }
            }
        }
        let within = |t: i64, w: i64| t > clock - w;
        for (k, slot) in [idx::OFI_100MS, idx::OFI_1S, idx::OFI_10S]
            .into_iter()
            .enumerate()
        {
            let sum: i64 = ofi
                .iter()
                .filter(|(t, _)| within(*t, OFI_WINDOWS_MS[k]))
                .map(|x| x.1)
                .sum();
            f[slot] = to_f64(sum, qs);
        }
        for (k, slot) in [idx::REALIZED_VOL_1S_BPS, idx::REALIZED_VOL_10S_BPS]
            .into_iter()
            .enumerate()
        {
            let sum: i64 = vol
                .iter()
                .filter(|(t, _)| within(*t, VOL_WINDOWS_MS[k]))
                .map(|x| x.1)
                .sum();
            f[slot] = (sum as f64 * 1e-6).sqrt();
        }
        for (k, slot) in [idx::TRADE_INTENSITY_1S, idx::TRADE_INTENSITY_10S]
            .into_iter()
            .enumerate()
        {
            let n = ints
                .iter()
                .filter(|t| within(**t, INTENSITY_WINDOWS_MS[k]))
                .count();
            f[slot] = n as f64 * 1e3 / INTENSITY_WINDOWS_MS[k] as f64;
        }
        let (buy, sell) =
            flow.iter()
                .filter(|(t, _)| within(*t, flow_w))
                .fold(
                    (0, 0),
                    |(b, s), &(_, q)| {
                        if q > 0 { (b + q, s) } else { (b, s - q) }
                    },
                );
        f[idx::TRADE_FLOW_IMBALANCE] = imbalance(to_f64(buy, qs), to_f64(sell, qs));
        if let Some(&(_, m0)) = mids.iter().rev().find(|(t, _)| *t <= clock - horizon) {
            f[idx::RETURN_BPS] = (mid - m0) / m0 * 1e4;
        }
        f[idx::TIME_SINCE_LAST_TRADE_MS] =
            last_trade.map_or(TRADE_AGE_CAP_MS, |t| (clock - t).clamp(0, TRADE_AGE_CAP_MS)) as f64;
        Some(f)
    }

    #[test]
    fn incremental_equals_naive_on_random_sequences() {
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        let names = FEATURE_NAMES;
        for seed in 0..60u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let tick = 5;
            let mut s = FeatureState::with_scales(2, 3, 700, 300).with_tick(tick);
            let mut hist = Vec::new();
            let mut t = 1_000i64;
            let mut mid = 10_000i64;
            for step in 0..250 {
                // Mostly forward in time, sometimes a jump, sometimes back.
                t += match rng.random_range(0..20) {
                    0 => -rng.random_range(0..300),
                    1 => rng.random_range(1_000..12_000),
                    _ => rng.random_range(0..120),
                };
                let ev = if rng.random_bool(0.6) {
                    mid += tick * rng.random_range(-2..=2);
                    let half = tick * rng.random_range(1..4);
                    let mut b = book(
                        t,
                        &[
                            (mid - half, rng.random_range(0..5_000)),
                            (mid - half - tick, 1_000),
                        ],
                        &[(mid + half, rng.random_range(0..5_000))],
                    );
                    b.in_sync = rng.random_range(0..15) != 0;
                    b.extra.bid_qty_10 = rng.random_range(0..20_000);
                    b.extra.ask_qty_10 = rng.random_range(0..20_000);
                    In::Book(b)
                } else {
                    let side = if rng.random_bool(0.5) {
                        Side::Buy
                    } else {
                        Side::Sell
                    };
                    In::Trade(t, trade(side, rng.random_range(0..3_000)))
                };
                match ev {
                    In::Book(b) => s.on_book(&b),
                    In::Trade(t, tr) => s.on_trade(t, &tr),
                }
                hist.push(ev);
                let got = s.compute_plan(FeaturePlan::all());
                let want = naive(&hist, 700, 300, tick);
                match (got, want) {
                    (None, None) => {}
                    (Some(g), Some(w)) => {
                        for k in 0..N_FEATURES {
                            if [
                                idx::CROSS_VENUE_MID_DIFF_BPS,
                                idx::LEAD_LAG_RETURN_BPS,
                                idx::CROSS_VENUE_BASIS_BPS,
                                idx::IS_LEAD_VENUE,
                            ]
                            .contains(&k)
                            {
                                continue; // pass-throughs of the book stage's inputs (tested above)
                            }
                            assert!(
                                (g[k] - w[k]).abs() <= 1e-9 * w[k].abs().max(1.0),
                                "seed {seed} step {step} {}: incremental {} naive {}",
                                names[k],
                                g[k],
                                w[k]
                            );
                        }
                        // Integer-summed windows are exact.
                        for k in [
                            idx::OFI_100MS,
                            idx::OFI_1S,
                            idx::OFI_10S,
                            idx::REALIZED_VOL_1S_BPS,
                            idx::REALIZED_VOL_10S_BPS,
                            idx::TRADE_INTENSITY_1S,
                            idx::TRADE_INTENSITY_10S,
                        ] {
                            assert_eq!(g[k], w[k], "seed {seed} step {step} {}", names[k]);
                        }
                    }
                    (g, w) => panic!("seed {seed} step {step}: {g:?} vs {w:?}"),
                }
            }
        }
    }
}
