//! The risk governor: every decision passes a fixed sequence of checks, each
//! a small method returning `Option<SkipReason>`, first failure wins:
//!
//! 1. kill switch (`kill_switch`, HOLDs included)
//! 2. HOLD (`hold`)
//! 3. book not in sync, or older than `max_book_age_ms` (`book_out_of_sync`)
//! 4. a side of the book empty (`book_empty`)
//! 5. skip-flat-sell (`skip_flat_sell`): this engine is **long-only** unless
//!    `risk.skip_flat_sell = false`. With it on, a SELL is only allowed to
//!    reduce a long position: a SELL while the position (net of SELL orders
//!    still in flight) is flat or short is skipped.
//! 6. max position (`max_position`): |position + in-flight orders of the same
//!    side + signed qty| above the instrument's `max_position`
//! 7. max order notional (`max_order_notional`): qty × touch price
//! 8. order rate (`order_rate`): at most `max_orders_per_sec` orders in any
//!    1000 ms (fixed ring of send times)
//! 9. daily trade cap (`daily_trade_cap`): orders per UTC day (from the
//!    injected [`Clock`]) **and trading mode**; a new UTC day starts at 0
//!
//! then EXECUTE, which records the order in the rate window and the daily
//! count. Positions come from the exec stage's fill reports
//! ([`Governor::on_report`]); orders sent but not yet done are tracked so the
//! position check sees them ([`Governor::on_order_sent`]).

use crate::config::{RiskConfig, TradingMode};
use crate::core::clock::{format_day, utc_day};
use crate::core::{
    Action, Clock, Decision, ExecReport, InstrumentId, InstrumentTable, OrderIntent, Side,
    SkipReason, Verdict,
};
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Arc;

/// Orders in flight (sent, not yet done) the governor tracks. When that many
/// are open, new orders are skipped with `order_rate` until reports arrive.
pub const MAX_OPEN_ORDERS: usize = 1024;

const NS_PER_SEC: u64 = 1_000_000_000;

/// An order sent and not yet reported done.
#[derive(Debug, Clone, Copy)]
struct OpenOrder {
    client_order_id: u64,
    inst: InstrumentId,
    side: Side,
    remaining: i64,
}

/// Orders counted on one UTC day in one trading mode.
#[derive(Debug, Clone, Copy, Default)]
struct DayCount {
    day: i64,
    count: u32,
}

pub struct Governor {
    cfg: RiskConfig,
    instruments: Arc<InstrumentTable>,
    max_position: Vec<i64>,
    clock: Clock,
    mode: TradingMode,
    kill_switch: bool,
    /// Filled position per instrument (scaled qty), from exec reports.
    positions: Vec<i64>,
    /// Remaining qty of in-flight BUY / SELL orders per instrument.
    open_buy: Vec<i64>,
    open_sell: Vec<i64>,
    open: Vec<OpenOrder>,
    /// Monotonic send times (ns) of the orders of the last second.
    sent: VecDeque<u64>,
    /// Per trading mode (indexed by `mode as usize`).
    daily: [DayCount; 3],
    /// `[0]` = EXECUTE, `[1 + i]` = `SkipReason::ALL[i]`.
    verdicts: [u64; 1 + SkipReason::ALL.len()],
}

fn mode_idx(m: TradingMode) -> usize {
    match m {
        TradingMode::Paper => 0,
        TradingMode::Testnet => 1,
        TradingMode::Live => 2,
    }
}

/// px × qty in quote units with a single rounding (exact at limits like
/// `10.000 × 100.1 = 1001`).
pub fn exact_notional(px: i64, qty: i64, price_scale: u8, qty_scale: u8) -> f64 {
    let raw = px as i128 * qty as i128;
    raw as f64 / 10f64.powi(price_scale as i32 + qty_scale as i32)
}

fn reason_idx(r: SkipReason) -> usize {
    SkipReason::ALL.iter().position(|x| *x == r).unwrap_or(0)
}

impl Governor {
    /// `max_position[i]` is the largest absolute position (scaled qty) of
    /// instrument `i`; an instrument without an entry may not trade.
    pub fn new(
        cfg: &RiskConfig,
        instruments: Arc<InstrumentTable>,
        max_position: Vec<i64>,
        clock: Clock,
        mode: TradingMode,
    ) -> Governor {
        let n = instruments.len().max(max_position.len());
        let today = utc_day(clock.unix_ms());
        Governor {
            kill_switch: cfg.kill_switch,
            cfg: cfg.clone(),
            instruments,
            max_position,
            clock,
            mode,
            positions: vec![0; n],
            open_buy: vec![0; n],
            open_sell: vec![0; n],
            open: Vec::with_capacity(MAX_OPEN_ORDERS),
            sent: VecDeque::with_capacity(cfg.max_orders_per_sec.max(1) as usize),
            daily: [DayCount {
                day: today,
                count: 0,
            }; 3],
            verdicts: [0; 1 + SkipReason::ALL.len()],
        }
    }

    /// Judges one decision at monotonic time `now_ns`. An EXECUTE is
    /// recorded in the rate window and the daily count before returning.
    pub fn check(&mut self, d: &Decision, now_ns: u64) -> Verdict {
        let v = match self.first_failure(d, now_ns) {
            Some(r) => Verdict::Skip(r),
            None => {
                self.record_execute(now_ns);
                Verdict::Execute
            }
        };
        match v {
            Verdict::Execute => self.verdicts[0] += 1,
            Verdict::Skip(r) => self.verdicts[1 + reason_idx(r)] += 1,
        }
        v
    }

    fn first_failure(&mut self, d: &Decision, now_ns: u64) -> Option<SkipReason> {
        self.check_kill_switch()
            .or_else(|| self.check_hold(d))
            .or_else(|| self.check_book_sync(d, now_ns))
            .or_else(|| self.check_book_empty(d))
            .or_else(|| self.check_flat_sell(d))
            .or_else(|| self.check_max_position(d))
            .or_else(|| self.check_notional(d))
            .or_else(|| self.check_order_rate(now_ns))
            .or_else(|| self.check_daily_cap())
    }

    fn check_kill_switch(&self) -> Option<SkipReason> {
        self.kill_switch.then_some(SkipReason::KillSwitch)
    }

    fn check_hold(&self, d: &Decision) -> Option<SkipReason> {
        (d.action == Action::Hold).then_some(SkipReason::Hold)
    }

    fn check_book_sync(&self, d: &Decision, now_ns: u64) -> Option<SkipReason> {
        let max_age_ns = self.cfg.max_book_age_ms.saturating_mul(1_000_000);
        let stale = now_ns.saturating_sub(d.book.recv_ns) > max_age_ns;
        (!d.book.in_sync || stale).then_some(SkipReason::BookOutOfSync)
    }

    fn check_book_empty(&self, d: &Decision) -> Option<SkipReason> {
        let ok = |l: Option<crate::core::Level>| l.is_some_and(|l| l.px > 0 && l.qty > 0);
        (!(ok(d.book.best_bid()) && ok(d.book.best_ask()))).then_some(SkipReason::BookEmpty)
    }

    fn check_flat_sell(&self, d: &Decision) -> Option<SkipReason> {
        if !self.cfg.skip_flat_sell || d.action != Action::Sell {
            return None;
        }
        let i = d.inst.idx();
        let pos = self.position(d.inst) - self.open_sell.get(i).copied().unwrap_or(0);
        (pos <= 0).then_some(SkipReason::SkipFlatSell)
    }

    fn check_max_position(&self, d: &Decision) -> Option<SkipReason> {
        let i = d.inst.idx();
        let max = self.max_position.get(i).copied().unwrap_or(0);
        if d.qty <= 0 || self.instruments.try_get(d.inst).is_none() {
            // No order size or no such instrument: nothing may be opened.
            return Some(SkipReason::MaxPosition);
        }
        let pos = self.position(d.inst) as i128;
        let projected = match d.action {
            Action::Buy => pos + self.open_buy.get(i).copied().unwrap_or(0) as i128 + d.qty as i128,
            _ => pos - self.open_sell.get(i).copied().unwrap_or(0) as i128 - d.qty as i128,
        };
        (projected.abs() > max as i128).then_some(SkipReason::MaxPosition)
    }

    fn check_notional(&self, d: &Decision) -> Option<SkipReason> {
        let inst = self.instruments.try_get(d.inst)?;
        let touch = match d.action {
            Action::Sell => d.book.bids[0].px,
            _ => d.book.asks[0].px,
        };
        let notional = exact_notional(touch, d.qty, inst.price_scale, inst.qty_scale);
        (notional > self.cfg.max_order_notional || !notional.is_finite())
            .then_some(SkipReason::MaxOrderNotional)
    }

    fn expire_rate_window(&mut self, now_ns: u64) {
        while let Some(&t) = self.sent.front() {
            if now_ns.saturating_sub(t) < NS_PER_SEC {
                break;
            }
            self.sent.pop_front();
        }
    }

    fn check_order_rate(&mut self, now_ns: u64) -> Option<SkipReason> {
        self.expire_rate_window(now_ns);
        let full = self.sent.len() >= self.cfg.max_orders_per_sec as usize
            || self.open.len() >= MAX_OPEN_ORDERS;
        full.then_some(SkipReason::OrderRate)
    }

    /// Rolls the current mode's count over when the UTC day changed.
    fn today(&mut self) -> &mut DayCount {
        let day = utc_day(self.clock.unix_ms());
        let c = &mut self.daily[mode_idx(self.mode)];
        if c.day != day {
            *c = DayCount { day, count: 0 };
        }
        c
    }

    fn check_daily_cap(&mut self) -> Option<SkipReason> {
        let cap = self.cfg.daily_trade_cap;
        (self.today().count >= cap).then_some(SkipReason::DailyTradeCap)
    }

    fn record_execute(&mut self, now_ns: u64) {
        if self.sent.len() >= self.cfg.max_orders_per_sec.max(1) as usize {
            self.sent.pop_front();
        }
        self.sent.push_back(now_ns);
        let c = self.today();
        c.count = c.count.saturating_add(1);
    }

    /// Tracks an order that was sent, so its quantity counts toward the
    /// position limits until its `Done` report.
    pub fn on_order_sent(&mut self, o: &OrderIntent) {
        let i = o.decision.inst.idx();
        if i >= self.positions.len() || self.open.len() >= MAX_OPEN_ORDERS || o.qty <= 0 {
            return;
        }
        self.open.push(OpenOrder {
            client_order_id: o.client_order_id,
            inst: o.decision.inst,
            side: o.side,
            remaining: o.qty,
        });
        self.adjust_open(i, o.side, o.qty);
    }

    fn adjust_open(&mut self, i: usize, side: Side, delta: i64) {
        let slot = match side {
            Side::Buy => &mut self.open_buy[i],
            Side::Sell => &mut self.open_sell[i],
        };
        *slot = (*slot + delta).max(0);
    }

    /// Updates positions and in-flight orders from an exec report.
    pub fn on_report(&mut self, r: &ExecReport) {
        match *r {
            ExecReport::Fill {
                client_order_id,
                inst,
                qty,
                position_after,
                ..
            } => {
                if let Some(p) = self.positions.get_mut(inst.idx()) {
                    *p = position_after;
                }
                if let Some(k) = self
                    .open
                    .iter()
                    .position(|o| o.client_order_id == client_order_id)
                {
                    let o = &mut self.open[k];
                    let q = qty.clamp(0, o.remaining);
                    o.remaining -= q;
                    let (i, side) = (o.inst.idx(), o.side);
                    self.adjust_open(i, side, -q);
                }
            }
            ExecReport::Done {
                client_order_id, ..
            } => {
                if let Some(k) = self
                    .open
                    .iter()
                    .position(|o| o.client_order_id == client_order_id)
                {
                    let o = self.open.swap_remove(k);
                    self.adjust_open(o.inst.idx(), o.side, -o.remaining);
                }
            }
        }
    }

    pub fn set_kill_switch(&mut self, on: bool) {
        self.kill_switch = on;
    }

    pub fn kill_switch(&self) -> bool {
        self.kill_switch
    }

    /// Switches the trading mode; each mode keeps its own daily count.
    pub fn set_mode(&mut self, mode: TradingMode) {
        self.mode = mode;
    }

    pub fn mode(&self) -> TradingMode {
        self.mode
    }

    /// Filled position of an instrument (scaled qty).
    pub fn position(&self, inst: InstrumentId) -> i64 {
        self.positions.get(inst.idx()).copied().unwrap_or(0)
    }

    /// Orders counted today (UTC, per the clock) in the current mode.
    pub fn daily_trades(&self) -> u32 {
        let c = self.daily[mode_idx(self.mode)];
        if c.day == utc_day(self.clock.unix_ms()) {
            c.count
        } else {
            0
        }
    }

    pub fn daily_trade_cap(&self) -> u32 {
        self.cfg.daily_trade_cap
    }

    pub fn config(&self) -> &RiskConfig {
        &self.cfg
    }

    pub fn instruments(&self) -> &Arc<InstrumentTable> {
        &self.instruments
    }

    /// Verdicts so far: EXECUTE count and SKIP count per reason.
    pub fn verdict_count(&self, v: Verdict) -> u64 {
        match v {
            Verdict::Execute => self.verdicts[0],
            Verdict::Skip(r) => self.verdicts[1 + reason_idx(r)],
        }
    }

    /// The published view (JSON, for the API and `Shared::risk`).
    pub fn view(&self) -> serde_json::Value {
        let mut positions = serde_json::Map::new();
        let mut limits = serde_json::Map::new();
        for inst in self.instruments.iter() {
            let i = inst.id.idx();
            let key = format!("{}:{}", inst.venue.as_str(), inst.symbol);
            positions.insert(
                key.clone(),
                json!(inst.qty_f64(self.positions.get(i).copied().unwrap_or(0))),
            );
            limits.insert(
                key,
                json!(inst.qty_f64(self.max_position.get(i).copied().unwrap_or(0))),
            );
        }
        let mut reasons = serde_json::Map::new();
        for (k, r) in SkipReason::ALL.iter().enumerate() {
            reasons.insert(r.as_str().to_string(), json!(self.verdicts[1 + k]));
        }
        json!({
            "mode": self.mode.as_str(),
            "utc_day": format_day(utc_day(self.clock.unix_ms())),
            "daily_trades": self.daily_trades(),
            "daily_trade_cap": self.cfg.daily_trade_cap,
            "kill_switch": self.kill_switch,
            "positions": positions,
            "open_orders": self.open.len(),
            "limits": {
                "max_order_notional": self.cfg.max_order_notional,
                "max_orders_per_sec": self.cfg.max_orders_per_sec,
                "daily_trade_cap": self.cfg.daily_trade_cap,
                "skip_flat_sell": self.cfg.skip_flat_sell,
                "max_book_age_ms": self.cfg.max_book_age_ms,
                "max_position": limits,
            },
            "verdicts": {
                "execute": self.verdicts[0],
                "skip": reasons,
            },
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::{BookTop, Instrument, Level, N_FEATURES, OrderStatus, TOP_LEVELS, Venue};

    /// BTCUSDT-like: tick 0.1 (scale 1), lot 0.001 (scale 3).
    pub(crate) fn table() -> Arc<InstrumentTable> {
        let mut t = InstrumentTable::new();
        t.push(
            Instrument::new(
                InstrumentId(0),
                Venue::Binance,
                "BTCUSDT",
                "BTCUSDT",
                "0.1",
                "0.001",
                5.0,
            )
            .unwrap(),
        );
        Arc::new(t)
    }

    /// bid 100.0 x 5, ask 100.1 x 5 (scaled: px scale 1, qty scale 3).
    pub(crate) fn decision(action: Action, qty: i64, recv_ns: u64) -> Decision {
        let mut bids = [Level::default(); TOP_LEVELS];
        let mut asks = [Level::default(); TOP_LEVELS];
        bids[0] = Level {
            px: 1_000,
            qty: 5_000,
        };
        asks[0] = Level {
            px: 1_001,
            qty: 5_000,
        };
        Decision {
            id: 1,
            venue: Venue::Binance,
            inst: InstrumentId(0),
            recv_ns,
            hop_ns: recv_ns,
            exch_ms: 0,
            action,
            score: 0.9,
            confidence: 0.9,
            model_version: 0,
            qty,
            features: [0.0; N_FEATURES],
            book: BookTop {
                venue: Venue::Binance,
                inst: InstrumentId(0),
                recv_ns,
                hop_ns: recv_ns,
                exch_ms: 0,
                update_id: 1,
                in_sync: true,
                n_bids: 1,
                n_asks: 1,
                bids,
                asks,
                xv_best_bid: 0,
                xv_best_ask: 0,
                xv_lead_lag_bps: 0.0,
            },
        }
    }

    pub(crate) fn cfg() -> RiskConfig {
        RiskConfig {
            max_order_notional: 1_000.0,
            max_orders_per_sec: 1_000,
            daily_trade_cap: 1_000,
            skip_flat_sell: true,
            kill_switch: false,
            max_book_age_ms: 5_000,
        }
    }

    const DAY_MS: i64 = 86_400_000;
    const T0: i64 = 20_000 * DAY_MS + 3_600_000; // 2024-10-04 01:00 UTC

    fn gov(cfg: RiskConfig, max_pos: i64) -> Governor {
        Governor::new(
            &cfg,
            table(),
            vec![max_pos],
            Clock::manual(T0),
            TradingMode::Paper,
        )
    }

    const SEC: u64 = NS_PER_SEC;
    const NOW: u64 = 10 * SEC;

    fn fill(g: &mut Governor, side: Side, qty: i64) {
        let pos = g.position(InstrumentId(0)) + side.sign() * qty;
        g.on_report(&ExecReport::Fill {
            client_order_id: 0,
            inst: InstrumentId(0),
            side,
            px: 1_000,
            qty,
            fee: 0.0,
            position_after: pos,
            realized_pnl: 0.0,
        });
    }

    fn skip(r: SkipReason) -> Verdict {
        Verdict::Skip(r)
    }

    #[test]
    fn kill_switch_and_hold() {
        let mut g = gov(cfg(), 10_000);
        assert_eq!(
            g.check(&decision(Action::Hold, 1, NOW), NOW),
            skip(SkipReason::Hold)
        );
        g.set_kill_switch(true);
        assert_eq!(
            g.check(&decision(Action::Buy, 1, NOW), NOW),
            skip(SkipReason::KillSwitch)
        );
        assert_eq!(
            g.check(&decision(Action::Hold, 1, NOW), NOW),
            skip(SkipReason::KillSwitch)
        );
        g.set_kill_switch(false);
        assert_eq!(
            g.check(&decision(Action::Buy, 1, NOW), NOW),
            Verdict::Execute
        );
        let mut c = cfg();
        c.kill_switch = true;
        assert!(gov(c, 10_000).kill_switch());
        assert_eq!(g.verdict_count(skip(SkipReason::KillSwitch)), 2);
        assert_eq!(g.verdict_count(Verdict::Execute), 1);
    }

    #[test]
    fn book_sync_age_and_empty() {
        let mut g = gov(cfg(), 10_000);
        let mut d = decision(Action::Buy, 1, NOW);
        d.book.in_sync = false;
        assert_eq!(g.check(&d, NOW), skip(SkipReason::BookOutOfSync));
        // Exactly max_book_age_ms old passes; one ns more does not.
        let d = decision(Action::Buy, 1, NOW);
        assert_eq!(g.check(&d, NOW + 5_000_000_000), Verdict::Execute);
        assert_eq!(
            g.check(&d, NOW + 5_000_000_001),
            skip(SkipReason::BookOutOfSync)
        );
        let mut d = decision(Action::Buy, 1, NOW);
        d.book.n_asks = 0;
        assert_eq!(g.check(&d, NOW), skip(SkipReason::BookEmpty));
        let mut d = decision(Action::Sell, 1, NOW);
        d.book.n_bids = 0;
        assert_eq!(g.check(&d, NOW), skip(SkipReason::BookEmpty));
    }

    #[test]
    fn skip_flat_sell() {
        let mut g = gov(cfg(), 10_000);
        let sell = decision(Action::Sell, 1_000, NOW);
        assert_eq!(g.check(&sell, NOW), skip(SkipReason::SkipFlatSell));
        fill(&mut g, Side::Sell, 1_000); // short
        assert_eq!(g.check(&sell, NOW), skip(SkipReason::SkipFlatSell));
        fill(&mut g, Side::Buy, 3_000); // long 2
        assert_eq!(g.check(&sell, NOW), Verdict::Execute);
        // Off: a flat SELL opens a short.
        let mut c = cfg();
        c.skip_flat_sell = false;
        let mut g = gov(c, 10_000);
        assert_eq!(g.check(&sell, NOW), Verdict::Execute);
    }

    #[test]
    fn in_flight_sells_count_toward_flat() {
        let mut g = gov(cfg(), 10_000);
        fill(&mut g, Side::Buy, 1_000);
        let sell = decision(Action::Sell, 1_000, NOW);
        assert_eq!(g.check(&sell, NOW), Verdict::Execute);
        g.on_order_sent(&intent(7, Side::Sell, 1_000, sell));
        // The in-flight SELL already closes the position.
        assert_eq!(g.check(&sell, NOW), skip(SkipReason::SkipFlatSell));
        g.on_report(&ExecReport::Done {
            client_order_id: 7,
            inst: InstrumentId(0),
            status: OrderStatus::Canceled,
        });
        assert_eq!(g.check(&sell, NOW), Verdict::Execute);
    }

    fn intent(id: u64, side: Side, qty: i64, d: Decision) -> OrderIntent {
        OrderIntent {
            client_order_id: id,
            side,
            qty,
            limit_px: 0,
            decision: d,
            hop_ns: 0,
        }
    }

    #[test]
    fn max_position() {
        let mut g = gov(cfg(), 2_000);
        let buy = decision(Action::Buy, 1_000, NOW);
        fill(&mut g, Side::Buy, 1_000);
        // 1 + 1 = 2 = max: passes.
        assert_eq!(g.check(&buy, NOW), Verdict::Execute);
        fill(&mut g, Side::Buy, 1_000);
        assert_eq!(g.check(&buy, NOW), skip(SkipReason::MaxPosition));
        // In-flight buys count too.
        let mut g = gov(cfg(), 2_000);
        g.on_order_sent(&intent(1, Side::Buy, 1_500, buy));
        assert_eq!(g.check(&buy, NOW), skip(SkipReason::MaxPosition));
        g.on_report(&ExecReport::Fill {
            client_order_id: 1,
            inst: InstrumentId(0),
            side: Side::Buy,
            px: 1_001,
            qty: 500,
            fee: 0.0,
            position_after: 500,
            realized_pnl: 0.0,
        });
        g.on_report(&ExecReport::Done {
            client_order_id: 1,
            inst: InstrumentId(0),
            status: OrderStatus::Canceled,
        });
        assert_eq!(g.check(&buy, NOW), Verdict::Execute);
        // Short side, no flat-sell rule.
        let mut c = cfg();
        c.skip_flat_sell = false;
        let mut g = gov(c, 2_000);
        let sell = decision(Action::Sell, 2_000, NOW);
        assert_eq!(g.check(&sell, NOW), Verdict::Execute);
        fill(&mut g, Side::Sell, 2_000);
        assert_eq!(g.check(&sell, NOW), skip(SkipReason::MaxPosition));
        // Zero qty or an unknown instrument never trades.
        assert_eq!(
            g.check(&decision(Action::Buy, 0, NOW), NOW),
            skip(SkipReason::MaxPosition)
        );
        let mut d = decision(Action::Buy, 1, NOW);
        d.inst = InstrumentId(5);
        assert_eq!(g.check(&d, NOW), skip(SkipReason::MaxPosition));
    }

    #[test]
    fn max_order_notional() {
        let mut c = cfg();
        c.max_order_notional = 1_001.0; // 10 @ 100.1 = 1001
        let mut g = gov(c, 100_000);
        assert_eq!(
            g.check(&decision(Action::Buy, 10_000, NOW), NOW),
            Verdict::Execute
        );
        assert_eq!(
            g.check(&decision(Action::Buy, 10_001, NOW), NOW),
            skip(SkipReason::MaxOrderNotional)
        );
        // SELL uses the bid: 10.01 @ 100.0 = 1001.
        fill(&mut g, Side::Buy, 50_000);
        assert_eq!(
            g.check(&decision(Action::Sell, 10_010, NOW), NOW),
            Verdict::Execute
        );
        assert_eq!(
            g.check(&decision(Action::Sell, 10_011, NOW), NOW),
            skip(SkipReason::MaxOrderNotional)
        );
    }

    #[test]
    fn order_rate_window_slides() {
        let mut c = cfg();
        c.max_orders_per_sec = 3;
        let mut g = gov(c, 100_000);
        let d = decision(Action::Buy, 1, NOW);
        for k in 0..3 {
            let t = NOW + k * 100_000_000;
            assert_eq!(g.check(&d, t), Verdict::Execute, "order {k}");
        }
        assert_eq!(g.check(&d, NOW + 300_000_000), skip(SkipReason::OrderRate));
        // The first order leaves the window 1000 ms after it was sent.
        assert_eq!(g.check(&d, NOW + SEC - 1), skip(SkipReason::OrderRate));
        assert_eq!(g.check(&d, NOW + SEC), Verdict::Execute);
        assert_eq!(g.check(&d, NOW + SEC + 1), skip(SkipReason::OrderRate));
        assert_eq!(g.check(&d, NOW + SEC + 100_000_000), Verdict::Execute);
    }

    #[test]
    fn daily_cap_resets_on_a_new_utc_day() {
        let mut c = cfg();
        c.daily_trade_cap = 2;
        let clock = Clock::manual(T0);
        let mut g = Governor::new(
            &c,
            table(),
            vec![100_000],
            clock.clone(),
            TradingMode::Paper,
        );
        let d = decision(Action::Buy, 1, NOW);
        assert_eq!(g.check(&d, NOW), Verdict::Execute);
        assert_eq!(g.check(&d, NOW), Verdict::Execute);
        assert_eq!(g.daily_trades(), 2);
        assert_eq!(g.check(&d, NOW), skip(SkipReason::DailyTradeCap));
        clock.set_ms(T0 - 3_600_000 + DAY_MS - 1); // 23:59:59.999 same day
        assert_eq!(g.check(&d, NOW), skip(SkipReason::DailyTradeCap));
        clock.set_ms(T0 - 3_600_000 + DAY_MS); // midnight
        assert_eq!(g.daily_trades(), 0);
        assert_eq!(g.check(&d, NOW), Verdict::Execute);
        assert_eq!(g.daily_trades(), 1);
        let v = g.view();
        assert_eq!(v["utc_day"], "2024-10-05");
        assert_eq!(v["daily_trades"], 1);
        assert_eq!(v["verdicts"]["skip"]["daily_trade_cap"], 2);
    }

    #[test]
    fn daily_cap_is_per_trading_mode() {
        let mut c = cfg();
        c.daily_trade_cap = 1;
        let mut g = gov(c, 100_000);
        let d = decision(Action::Buy, 1, NOW);
        assert_eq!(g.check(&d, NOW), Verdict::Execute);
        assert_eq!(g.check(&d, NOW), skip(SkipReason::DailyTradeCap));
        g.set_mode(TradingMode::Live);
        assert_eq!(g.daily_trades(), 0);
        assert_eq!(g.check(&d, NOW), Verdict::Execute);
        assert_eq!(g.check(&d, NOW), skip(SkipReason::DailyTradeCap));
        g.set_mode(TradingMode::Paper);
        assert_eq!(g.daily_trades(), 1);
        assert_eq!(g.view()["mode"], "paper");
    }

    #[test]
    fn view_shape() {
        let mut g = gov(cfg(), 10_000);
        fill(&mut g, Side::Buy, 2_000);
        let v = g.view();
        assert_eq!(v["positions"]["binance:BTCUSDT"], 2.0);
        assert_eq!(v["limits"]["max_position"]["binance:BTCUSDT"], 10.0);
        assert_eq!(v["kill_switch"], false);
        assert_eq!(v["daily_trade_cap"], 1_000);
        assert_eq!(v["utc_day"], "2024-10-04");
    }
}
