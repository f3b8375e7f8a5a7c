//! The risk governor: every decision passes a fixed sequence of checks, each
//! a small method, first failure wins (the SKIP reason label in brackets):
//!
//! 1. kill switch (`kill_switch`, HOLDs included)
//! 2. circuit breaker open (`circuit_open:<trip reason>`, HOLDs included)
//! 3. HOLD (`hold`)
//! 4. a `required` auxiliary heartbeat stale or missing
//!    (`heartbeat_missing:<service>`); `advisory` ones only raise
//!    `qt_heartbeat_stale` and log once
//! 5. book not in sync (`book_out_of_sync`), older than `max_book_age_ms`
//!    (`book_stale`), a side empty (`book_empty`)
//! 6. skip-flat-sell (`skip_flat_sell`): long-only unless
//!    `risk.skip_flat_sell = false`: a SELL while the position (net of SELL
//!    orders in flight) is flat or short is skipped, and a SELL larger than
//!    that held quantity is skipped too (`sell_exceeds_position`): it is
//!    never clipped, so the order sent is always the size the model asked
//!    for and a long-only instrument can never go short
//! 7. instrument rules: touch price on the tick (`tick_size`), quantity a
//!    multiple of the lot (`lot_size`), qty × touch ≥ `min_notional`
//!    (`min_notional`)
//! 8. price band: the order's protective limit price within
//!    `price_band_bps` of the mid (`price_band`)
//! 9. position per instrument: |position + in-flight + qty| ≤ the
//!    instrument's `max_position` (`max_position`) and × mid ≤
//!    `max_position_notional` (`max_position_notional`); the sum over
//!    instruments of |position| × mid ≤ `max_gross_exposure`
//!    (`gross_exposure`)
//! 10. order notional: qty × touch ≤ `max_order_notional`
//!     (`max_order_notional`)
//! 11. open orders < `max_open_orders` (`max_open_orders`)
//! 12. order rate: ≤ `max_orders_per_sec` in any 1000 ms (`order_rate`) and
//!     ≤ `max_orders_per_min` in any 60 s (`order_rate_minute`)
//! 13. daily trade cap per UTC day **and** trading mode
//!     (`daily_trade_cap`); `qt_daily_trade_cap_warning` at
//!     `daily_cap_warn_ratio` of it
//!
//! then EXECUTE, recorded in the rate windows and the daily count.
//!
//! Fills and order reports ([`Governor::on_report`]) feed positions, today's
//! realized PnL (net of fees), equity (realized + unrealized at the latest
//! mids) and its peak, and the streaks of losing closing fills and rejected
//! orders. Any limit passed trips the circuit breaker ([`Breaker`]):
//! `daily_loss`, `drawdown`, `consecutive_losses`, `consecutive_rejects`
//! (or `manual` from the API). Every limit is "at the limit passes, past it
//! blocks"; 0 turns an optional limit off.

use super::breaker::{Breaker, BreakerEvent, Trip, TripReason};
use super::heartbeat::is_fresh;
use super::metrics::RiskMetrics;
use super::price::limit_price;
use crate::config::{HeartbeatPolicy, RiskConfig, TradingMode};
use crate::core::clock::{format_day, utc_day};
use crate::core::{
    Action, Clock, Decision, ExecReport, InstrumentId, InstrumentTable, Money, OrderIntent,
    OrderStatus, Side, SkipReason, Verdict,
};
use crate::exec::positions::Position;
use crate::journal::{Change, Entry, Event, JournalTx};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Hard ceiling on orders in flight the governor tracks.
pub const MAX_OPEN_ORDERS: usize = 1024;

const NS_PER_SEC: u64 = 1_000_000_000;
/// Distinct (instrument, verdict) HOLD sums kept before a flush.
const MAX_HOLD_TALLIES: usize = 256;

/// HOLD decisions of one instrument with one verdict, not yet journaled.
#[derive(Debug, Clone, Copy)]
struct HoldTally {
    inst: InstrumentId,
    slot: usize,
    count: u64,
    first_id: u64,
    last_id: u64,
    last_ms: i64,
    model_version: u16,
}
const NS_PER_MIN: u64 = 60 * NS_PER_SEC;

/// An order sent and not yet reported done.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenOrder {
    pub client_order_id: u64,
    pub inst: InstrumentId,
    pub side: Side,
    pub remaining: i64,
}

/// Today's counters in one trading mode.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayState {
    pub day: i64,
    /// EXECUTE verdicts (orders) today.
    pub trades: u32,
    /// Realized PnL today, gross of fees.
    pub realized: Money,
    pub fees: Money,
    /// Highest equity seen today (realized net + unrealized).
    pub peak: Money,
    pub equity: Money,
    pub equity_seen: bool,
    pub losses: u32,
    pub rejects: u32,
    /// An override reset acknowledged today's loss (see `loss_floor`).
    pub loss_ack: bool,
    /// The realized PnL (net, ≤ 0) the last override acknowledged: the
    /// daily loss limit counts from it, so a further `max_daily_loss`
    /// still trips. 0 without an override.
    pub loss_floor: Money,
}

impl DayState {
    fn new(day: i64) -> Self {
        DayState {
            day,
            ..Default::default()
        }
    }

    pub fn realized_net(&self) -> Money {
        self.realized - self.fees
    }

    /// Loss counted against `max_daily_loss`: below the floor, ≥ 0.
    pub fn loss_past_floor(&self) -> Money {
        (self.loss_floor - self.realized_net()).max(Money::ZERO)
    }

    /// What an override does: today's loss so far becomes the floor and
    /// the drawdown counts from the current equity.
    pub fn acknowledge(&mut self) {
        self.loss_ack = true;
        self.loss_floor = self.realized_net().min(Money::ZERO);
        if self.equity_seen {
            self.peak = self.equity;
        }
    }

    pub fn drawdown(&self) -> Money {
        if self.equity_seen {
            (self.peak - self.equity).max(Money::ZERO)
        } else {
            Money::ZERO
        }
    }
}

/// A heartbeat gate resolved at startup.
struct HbGate {
    service: String,
    required: bool,
    max_age_ms: i64,
    slot: Arc<AtomicI64>,
    stale: Option<bool>,
}

/// A state-changing admin request, carried to the risk stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Close the breaker; `override_` forces it while a condition holds.
    Reset {
        override_: bool,
        reason: String,
        client: String,
    },
    /// Open the breaker by hand.
    Trip { reason: String, client: String },
    KillSwitch {
        on: bool,
        reason: String,
        client: String,
    },
}

/// The answer to a [`Command`]: a JSON body, or an HTTP status and error.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ok(Value),
    Refused(u16, String),
}

/// What recovery hands the governor (see `risk::recovery`).
#[derive(Debug, Clone, Default)]
pub struct RiskSeed {
    /// Filled position per instrument (scaled qty).
    pub positions: Vec<i64>,
    /// Average-cost books per instrument (for unrealized PnL).
    pub books: Vec<Position>,
    /// Orders with no final report in the journal.
    pub open_orders: Vec<OpenOrder>,
    pub today: Option<DayState>,
    pub breaker_open: Option<Trip>,
    /// Oldest first.
    pub breaker_history: Vec<BreakerEvent>,
    /// Last kill-switch state in the journal, with its reason.
    pub kill_switch: Option<(bool, String)>,
    pub next_client_order_id: u64,
    /// Latest record stamp of this mode in the journal (0: none).
    pub last_ts_ms: i64,
}

/// px × qty in quote units, exact (`10.000 × 100.1 = 1001`).
pub fn exact_notional(px: i64, qty: i64, price_scale: u8, qty_scale: u8) -> Money {
    Money::notional(px, qty, price_scale, qty_scale)
}

/// The money limits of [`RiskConfig`] as exact amounts (config floats
/// rounded once to 1e-8: `0.05` is exactly `0.05000000`).
#[derive(Debug, Clone, Copy)]
struct MoneyLimits {
    max_order_notional: Money,
    max_gross_exposure: Money,
    max_daily_loss: Money,
    max_drawdown: Money,
}

fn static_slot(r: SkipReason) -> usize {
    1 + SkipReason::ALL.iter().position(|x| *x == r).unwrap_or(0)
}

pub struct Governor {
    cfg: RiskConfig,
    instruments: Arc<InstrumentTable>,
    max_position: Vec<i64>,
    max_pos_notional: Vec<Money>,
    min_notional: Vec<Money>,
    limits: MoneyLimits,
    qty_units: Vec<f64>,
    clock: Clock,
    mode: TradingMode,
    kill_switch: bool,
    kill_reason: String,
    positions: Vec<i64>,
    books: Vec<Position>,
    /// Latest mid per instrument, as bid + ask (scaled price × 2, exact;
    /// 0 = none yet).
    marks: Vec<i64>,
    open_buy: Vec<i64>,
    open_sell: Vec<i64>,
    open: Vec<OpenOrder>,
    sent: VecDeque<u64>,
    sent_min: VecDeque<u64>,
    /// Per trading mode (indexed by `mode_idx`).
    daily: [DayState; 3],
    breaker: Breaker,
    gates: Vec<HbGate>,
    slippage_bps: f64,
    next_coid: u64,
    /// Verdict slots: 0 = EXECUTE, then `SkipReason::ALL`, then
    /// `circuit_open:<r>` per trip reason, then `heartbeat_missing:<s>`.
    labels: Vec<Arc<str>>,
    verdicts: Vec<u64>,
    last_slot: usize,
    journal: Option<JournalTx>,
    record_holds: bool,
    /// HOLDs awaiting their summed journal record (bounded: flushed when
    /// full, when the second changes and when the stage idles or stops).
    holds: Vec<HoldTally>,
    holds_second: i64,
    metrics: Option<RiskMetrics>,
    cap_warned: bool,
    /// The clock's unix ms at the current event.
    now_ms: i64,
    /// The latest journal stamp (never goes back; 0 = none yet). Records
    /// are stamped `max(stamp_ms, now_ms)`, so a wall clock stepped back
    /// cannot write them out of order, and today is the later of the
    /// clock's UTC day and this stamp's: activity recorded on a day keeps
    /// that day (and its counters) however far the clock steps back.
    stamp_ms: i64,
}

fn mode_idx(m: TradingMode) -> usize {
    match m {
        TradingMode::Paper => 0,
        TradingMode::Testnet => 1,
        TradingMode::Live => 2,
    }
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
        let now_ms = clock.unix_ms();

        let max_pos_notional = (0..n)
            .map(|i| {
                instruments
                    .try_get(InstrumentId(i as u16))
                    .and_then(|inst| cfg.max_position_notional_by_symbol.get(&inst.symbol))
                    .copied()
                    .map(Money::from_f64)
                    .unwrap_or(Money::from_f64(cfg.max_position_notional))
            })
            .collect();
        let min_notional = (0..n)
            .map(|i| {
                instruments
                    .try_get(InstrumentId(i as u16))
                    .map(|x| Money::from_f64(x.min_notional))
                    .unwrap_or(Money::ZERO)
            })
            .collect();
        let limits = MoneyLimits {
            max_order_notional: Money::from_f64(cfg.max_order_notional),
            max_gross_exposure: Money::from_f64(cfg.max_gross_exposure),
            max_daily_loss: Money::from_f64(cfg.max_daily_loss),
            max_drawdown: Money::from_f64(cfg.max_drawdown),
        };
        let qty_units = (0..n)
            .map(|i| {
                instruments
                    .try_get(InstrumentId(i as u16))
                    .map(|x| x.qty_f64(1) * x.contract_value)
                    .unwrap_or(0.0)
            })
            .collect();
        let breaker = Breaker::new();
        let mut labels: Vec<Arc<str>> = vec![Arc::from("")];
        labels.extend(SkipReason::ALL.iter().map(|r| Arc::from(r.as_str())));
        labels.extend(breaker.labels().iter().cloned());
        labels.extend(
            cfg.heartbeats
                .iter()
                .map(|h| Arc::from(format!("heartbeat_missing:{}", h.service))),
        );
        let store = super::heartbeat::Heartbeats::new();
        let mut g = Governor {
            kill_switch: cfg.kill_switch,
            kill_reason: if cfg.kill_switch {
                "config: risk.kill_switch = true".into()
            } else {
                String::new()
            },
            cfg: cfg.clone(),
            instruments,
            max_position,
            max_pos_notional,
            min_notional,
            limits,
            qty_units,
            clock,
            mode,
            positions: vec![0; n],
            books: vec![Position::default(); n],
            marks: vec![0; n],
            open_buy: vec![0; n],
            open_sell: vec![0; n],
            open: Vec::with_capacity(MAX_OPEN_ORDERS),
            sent: VecDeque::with_capacity(cfg.max_orders_per_sec.max(1) as usize),
            sent_min: VecDeque::with_capacity(cfg.max_orders_per_min.clamp(1, 100_000) as usize),
            // No day yet: the first journaled change opens one.
            daily: [DayState::new(i64::MIN); 3],
            breaker,
            gates: Vec::new(),
            slippage_bps: 0.0,
            next_coid: 1,
            verdicts: vec![0; labels.len()],
            labels,
            last_slot: 0,
            journal: None,
            record_holds: false,
            holds: Vec::with_capacity(MAX_HOLD_TALLIES),
            holds_second: 0,
            metrics: None,
            cap_warned: false,
            now_ms,
            stamp_ms: 0,
        };
        g.attach_heartbeats(&store);
        g
    }

    /// Reads heartbeats from `store` (the engine's shared one).
    pub fn attach_heartbeats(&mut self, store: &super::heartbeat::Heartbeats) {
        self.gates = self
            .cfg
            .heartbeats
            .iter()
            .map(|h| HbGate {
                service: h.service.clone(),
                required: h.policy == HeartbeatPolicy::Required,
                max_age_ms: h.max_age_ms as i64,
                slot: store
                    .slot(&h.service)
                    .unwrap_or_else(|| Arc::new(AtomicI64::new(0))),
                stale: None,
            })
            .collect();
    }

    /// Journals decisions, verdicts, orders, fills and state changes.
    pub fn set_journal(&mut self, j: JournalTx, record_holds: bool) {
        self.journal = Some(j);
        self.record_holds = record_holds;
    }

    /// Takes the journal sender away (a replay closes its journal with it).
    pub fn take_journal(&mut self) -> Option<JournalTx> {
        self.journal.take()
    }

    pub fn journal(&self) -> Option<&JournalTx> {
        self.journal.as_ref()
    }

    pub fn attach_metrics(&mut self, m: RiskMetrics) {
        m.kill_switch.set(self.kill_switch as i64);
        m.breaker_open.set(self.breaker.is_open() as i64);
        self.metrics = Some(m);
    }

    /// The slippage the exec side allows: the price band judges the limit
    /// price `touch ± max_slippage_bps`.
    pub fn set_max_slippage_bps(&mut self, bps: f64) {
        self.slippage_bps = if bps.is_finite() { bps.max(0.0) } else { 0.0 };
    }

    /// Takes the next client order id.
    pub fn next_client_order_id(&mut self) -> u64 {
        let id = self.next_coid;
        self.next_coid += 1;
        id
    }

    fn tick(&mut self) {
        self.now_ms = self.clock.unix_ms();
    }

    /// Today (UTC) at `now_ms`: never earlier than the last record's day.
    fn cur_day(&self) -> i64 {
        utc_day(self.now_ms).max(utc_day(self.stamp_ms))
    }

    /// Stamps and journals a record (the stamp moves on without a journal
    /// too, so the day logic is the same with and without one).
    fn journal_event(&mut self, event: Event) {
        self.stamp_ms = self.stamp_ms.max(self.now_ms);
        if let Some(j) = &self.journal {
            j.send(Entry {
                ts_ms: self.stamp_ms,
                mode: self.mode,
                event,
            });
        }
    }

    /// Judges one decision at monotonic time `now_ns`. An EXECUTE is
    /// recorded in the rate windows and the daily count before returning.
    pub fn check(&mut self, d: &Decision, now_ns: u64) -> Verdict {
        self.tick();
        self.observe_book(d);
        let (v, slot) = match self.first_failure(d, now_ns) {
            Some(x) => x,
            None => {
                self.record_execute(now_ns);
                (Verdict::Execute, 0)
            }
        };
        self.verdicts[slot] += 1;
        self.last_slot = slot;
        v
    }

    /// The full label of the last verdict (`""` for EXECUTE, e.g.
    /// `circuit_open:daily_loss` or `heartbeat_missing:rl_trainer`).
    pub fn last_label(&self) -> &Arc<str> {
        &self.labels[self.last_slot]
    }

    /// Verdict slot of the last verdict (index into [`Governor::labels`]).
    pub fn last_slot(&self) -> usize {
        self.last_slot
    }

    /// Every verdict label, by slot (0 = EXECUTE).
    pub fn labels(&self) -> &[Arc<str>] {
        &self.labels
    }

    fn skip(r: SkipReason) -> Option<(Verdict, usize)> {
        Some((Verdict::Skip(r), static_slot(r)))
    }

    fn first_failure(&mut self, d: &Decision, now_ns: u64) -> Option<(Verdict, usize)> {
        if self.kill_switch {
            return Self::skip(SkipReason::KillSwitch);
        }
        if let Some(t) = self.breaker.trip_info() {
            let slot = 1 + SkipReason::ALL.len() + t.reason.idx();
            return Some((Verdict::Skip(SkipReason::CircuitOpen), slot));
        }
        if d.action == Action::Hold {
            return Self::skip(SkipReason::Hold);
        }
        if let Some(k) = self.required_heartbeat_missing() {
            let slot = 1 + SkipReason::ALL.len() + TripReason::ALL.len() + k;
            return Some((Verdict::Skip(SkipReason::HeartbeatMissing), slot));
        }
        let r = self
            .check_book(d, now_ns)
            .or_else(|| self.check_flat_sell(d))
            .or_else(|| self.check_instrument_rules(d))
            .or_else(|| self.check_price_band(d))
            .or_else(|| self.check_position(d))
            .or_else(|| self.check_notional(d))
            .or_else(|| self.check_open_orders())
            .or_else(|| self.check_order_rate(now_ns))
            .or_else(|| self.check_daily_cap())?;
        Self::skip(r)
    }

    fn required_heartbeat_missing(&self) -> Option<usize> {
        let now = self.now_ms;
        self.gates.iter().position(|g| {
            g.required && !is_fresh(g.slot.load(Ordering::Relaxed), now, g.max_age_ms)
        })
    }

    fn check_book(&self, d: &Decision, now_ns: u64) -> Option<SkipReason> {
        if !d.book.in_sync {
            return Some(SkipReason::BookOutOfSync);
        }
        let max_age_ns = self.cfg.max_book_age_ms.saturating_mul(1_000_000);
        if now_ns.saturating_sub(d.book.recv_ns) > max_age_ns {
            return Some(SkipReason::BookStale);
        }
        let ok = |l: Option<crate::core::Level>| l.is_some_and(|l| l.px > 0 && l.qty > 0);
        (!(ok(d.book.best_bid()) && ok(d.book.best_ask()))).then_some(SkipReason::BookEmpty)
    }

    fn check_flat_sell(&self, d: &Decision) -> Option<SkipReason> {
        if !self.cfg.skip_flat_sell || d.action != Action::Sell {
            return None;
        }
        let i = d.inst.idx();
        let held = self.position(d.inst) - self.open_sell.get(i).copied().unwrap_or(0);
        if held <= 0 {
            return Some(SkipReason::SkipFlatSell);
        }
        // Never resized: the SELL is the model's size or nothing.
        (d.qty > held).then_some(SkipReason::SellExceedsPosition)
    }

    fn touch(d: &Decision) -> i64 {
        match d.action {
            Action::Sell => d.book.bids[0].px,
            _ => d.book.asks[0].px,
        }
    }

    fn check_instrument_rules(&self, d: &Decision) -> Option<SkipReason> {
        let Some(inst) = self.instruments.try_get(d.inst) else {
            // No such instrument: nothing may be opened.
            return Some(SkipReason::MaxPosition);
        };
        if d.qty <= 0 {
            return Some(SkipReason::LotSize);
        }
        let touch = Self::touch(d);
        if touch % inst.tick.max(1) != 0 {
            return Some(SkipReason::TickSize);
        }
        if d.qty % inst.lot.max(1) != 0 {
            return Some(SkipReason::LotSize);
        }
        let n = exact_notional(touch, d.qty, inst.price_scale, inst.qty_scale);
        let min = self
            .min_notional
            .get(d.inst.idx())
            .copied()
            .unwrap_or(Money::ZERO);
        (n < min).then_some(SkipReason::MinNotional)
    }

    fn check_price_band(&self, d: &Decision) -> Option<SkipReason> {
        let band = self.cfg.price_band_bps;
        if band <= 0.0 {
            return None;
        }
        let inst = self.instruments.try_get(d.inst)?;
        let side = d.action.side()?;
        let mid = (d.book.bids[0].px as f64 + d.book.asks[0].px as f64) / 2.0;
        let limit = limit_price(side, Self::touch(d), inst.tick, self.slippage_bps) as f64;
        let dev_bps = (limit - mid).abs() / mid * 1e4;
        (dev_bps.is_nan() || dev_bps > band + 1e-9).then_some(SkipReason::PriceBand)
    }

    /// Position after this order, counting orders in flight on its side.
    fn projected(&self, d: &Decision) -> i128 {
        let i = d.inst.idx();
        let pos = self.position(d.inst) as i128;
        match d.action {
            Action::Buy => pos + self.open_buy.get(i).copied().unwrap_or(0) as i128 + d.qty as i128,
            _ => pos - self.open_sell.get(i).copied().unwrap_or(0) as i128 - d.qty as i128,
        }
    }

    fn check_position(&self, d: &Decision) -> Option<SkipReason> {
        let i = d.inst.idx();
        let max = self.max_position.get(i).copied().unwrap_or(0);
        let projected = self.projected(d);
        if projected.abs() > max as i128 {
            return Some(SkipReason::MaxPosition);
        }
        let mid2 = d.book.bids[0].px.saturating_add(d.book.asks[0].px);
        let projected = projected.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        let notional = self.value_at(i, projected, mid2);
        let limit = self.max_pos_notional.get(i).copied().unwrap_or(Money::ZERO);
        if limit > Money::ZERO && notional > limit {
            return Some(SkipReason::MaxPositionNotional);
        }
        let gross_limit = self.limits.max_gross_exposure;
        if gross_limit > Money::ZERO {
            let mut gross = notional;
            for j in 0..self.positions.len() {
                if j == i {
                    continue;
                }
                let q = self.positions[j] + self.open_buy[j] - self.open_sell[j];
                gross += self.value_at(j, q, self.marks[j]);
            }
            if gross > gross_limit {
                return Some(SkipReason::GrossExposure);
            }
        }
        None
    }

    /// |qty| of instrument `i` valued at a mid given as bid + ask, exact.
    fn value_at(&self, i: usize, qty: i64, mid2: i64) -> Money {
        let Some(x) = self.instruments.try_get(InstrumentId(i as u16)) else {
            return Money::ZERO;
        };
        let v =
            Money::notional(mid2, qty.saturating_abs(), x.price_scale, x.qty_scale).mul_div(1, 2);
        if x.contract_value == 1.0 {
            v
        } else {
            Money::from_f64(v.to_f64() * x.contract_value)
        }
    }

    fn check_notional(&self, d: &Decision) -> Option<SkipReason> {
        let inst = self.instruments.try_get(d.inst)?;
        let notional = exact_notional(Self::touch(d), d.qty, inst.price_scale, inst.qty_scale);
        (notional > self.limits.max_order_notional).then_some(SkipReason::MaxOrderNotional)
    }

    fn check_open_orders(&self) -> Option<SkipReason> {
        let max = (self.cfg.max_open_orders as usize).min(MAX_OPEN_ORDERS);
        (self.open.len() >= max).then_some(SkipReason::MaxOpenOrders)
    }

    fn check_order_rate(&mut self, now_ns: u64) -> Option<SkipReason> {
        expire(&mut self.sent, now_ns, NS_PER_SEC);
        expire(&mut self.sent_min, now_ns, NS_PER_MIN);
        if self.sent.len() >= self.cfg.max_orders_per_sec as usize {
            return Some(SkipReason::OrderRate);
        }
        (self.sent_min.len() >= self.cfg.max_orders_per_min as usize)
            .then_some(SkipReason::OrderRateMinute)
    }

    /// Today's state in the current mode, rolled over on a new UTC day.
    /// The day only moves forward: a wall clock stepped back across
    /// midnight keeps today's trades, PnL and streaks. Rolled over lazily,
    /// only right before a change that is journaled (so recovery from the
    /// journal rolls over at the same point).
    fn today(&mut self) -> &mut DayState {
        let day = self.cur_day();
        let c = &mut self.daily[mode_idx(self.mode)];
        if day > c.day {
            *c = DayState::new(day);
            self.cap_warned = false;
            if let Some(m) = &self.metrics {
                m.cap_warning.set(0);
            }
        }
        c
    }

    fn check_daily_cap(&mut self) -> Option<SkipReason> {
        let cap = self.cfg.daily_trade_cap;
        (self.today().trades >= cap).then_some(SkipReason::DailyTradeCap)
    }

    fn record_execute(&mut self, now_ns: u64) {
        if self.sent.len() >= self.cfg.max_orders_per_sec.max(1) as usize {
            self.sent.pop_front();
        }
        self.sent.push_back(now_ns);
        if self.sent_min.len() >= self.cfg.max_orders_per_min.max(1) as usize {
            self.sent_min.pop_front();
        }
        self.sent_min.push_back(now_ns);
        let cap = self.cfg.daily_trade_cap;
        let ratio = self.cfg.daily_cap_warn_ratio;
        let c = self.today();
        c.trades = c.trades.saturating_add(1);
        let trades = c.trades;
        if !self.cap_warned && trades as f64 >= (cap as f64 * ratio).ceil() {
            self.cap_warned = true;
            if let Some(m) = &self.metrics {
                m.cap_warning.set(1);
            }
            tracing::warn!(
                trades,
                cap,
                mode = self.mode.as_str(),
                "daily trade cap: {}% reached",
                (ratio * 100.0).round()
            );
        }
    }

    /// Marks the instrument at the decision's mid and re-evaluates equity.
    fn observe_book(&mut self, d: &Decision) {
        let i = d.inst.idx();
        if i >= self.marks.len() || !d.book.in_sync || d.book.n_bids == 0 || d.book.n_asks == 0 {
            return;
        }
        if let Some(inst) = self.instruments.try_get(d.inst) {
            let mid2 = d.book.bids[0].px.saturating_add(d.book.asks[0].px);
            if mid2 > 0 && mid2 != self.marks[i] {
                self.marks[i] = mid2;
                self.books[i].mark_px = inst.px_f64(mid2) / 2.0;
                self.evaluate_equity();
            }
        }
    }

    fn unrealized(&self) -> Money {
        self.books
            .iter()
            .zip(&self.qty_units)
            .map(|(p, u)| p.unrealized(*u))
            .sum()
    }

    /// Updates today's equity and peak; trips on daily loss or drawdown.
    /// On a new day nothing has happened on yet, waits for its first record.
    fn evaluate_equity(&mut self) {
        if self.cur_day() > self.daily[mode_idx(self.mode)].day {
            return;
        }
        let unreal = self.unrealized();
        let c = self.today();
        c.equity = c.realized_net() + unreal;
        if !c.equity_seen || c.equity > c.peak {
            c.peak = c.equity;
        }
        c.equity_seen = true;
        let c = *c;
        if let Some(m) = &self.metrics {
            m.daily_realized.set(c.realized_net().to_f64());
            m.drawdown.set(c.drawdown().to_f64());
        }
        let (loss, dd) = (self.limits.max_daily_loss, self.limits.max_drawdown);
        if loss > Money::ZERO && c.loss_past_floor() > loss {
            self.trip(
                TripReason::DailyLoss,
                format!(
                    "realized {} today ({} past the floor {}) is past the loss limit {loss}",
                    c.realized_net(),
                    c.loss_past_floor(),
                    c.loss_floor,
                ),
            );
        }
        if dd > Money::ZERO && c.drawdown() > dd {
            self.trip(
                TripReason::Drawdown,
                format!(
                    "equity {} is {} below today's peak {} (limit {dd})",
                    c.equity,
                    c.drawdown(),
                    c.peak,
                ),
            );
        }
    }

    fn trip(&mut self, r: TripReason, detail: String) {
        self.trip_by(r, detail, "auto", String::new());
    }

    fn trip_by(&mut self, r: TripReason, detail: String, by: &'static str, client: String) -> bool {
        let Some(c) = self.breaker.trip(r, detail, by, client, self.now_ms) else {
            return false;
        };
        tracing::warn!(reason = r.as_str(), detail = %c.detail, by, "circuit breaker OPEN");
        if let Some(m) = &self.metrics {
            m.breaker_open.set(1);
            m.breaker_trips.with_label_values(&[r.as_str()]).inc();
        }
        self.journal_event(Event::Breaker {
            open: true,
            change: Box::new(c),
        });
        true
    }

    /// Conditions that hold now and would re-trip the breaker.
    pub fn holding_conditions(&mut self) -> Vec<String> {
        self.tick();
        let cfg_loss = self.limits.max_daily_loss;
        let cfg_dd = self.limits.max_drawdown;
        let c = self.day_state();
        let mut v = Vec::new();
        if cfg_loss > Money::ZERO && c.loss_past_floor() > cfg_loss {
            v.push(format!(
                "daily_loss: realized {} today is {} past the floor {}, limit {cfg_loss}",
                c.realized_net(),
                c.loss_past_floor(),
                c.loss_floor
            ));
        }
        if cfg_dd > Money::ZERO && c.drawdown() > cfg_dd {
            v.push(format!(
                "drawdown: {} below today's peak is past {cfg_dd}",
                c.drawdown()
            ));
        }
        v
    }

    /// Applies an admin command (from the API, via the risk stage).
    pub fn apply(&mut self, cmd: Command) -> Reply {
        self.tick();
        match cmd {
            Command::Reset {
                override_,
                reason,
                client,
            } => {
                let reason = reason.trim().to_string();
                if override_ && reason.is_empty() {
                    return Reply::Refused(400, "an override needs a reason (&reason=...)".into());
                }
                if !self.breaker.is_open() {
                    return Reply::Ok(json!({"state": "CLOSED", "changed": false}));
                }
                let holding = self.holding_conditions();
                if !override_ && !holding.is_empty() {
                    return Reply::Refused(
                        409,
                        format!(
                            "trip condition still holds: {}; reset with override=true&reason=... to force",
                            holding.join("; ")
                        ),
                    );
                }
                let day = self.today();
                if override_ {
                    // The operator accepted today's loss and drawdown so
                    // far: the limits count again from here, so a further
                    // `max_daily_loss` or `max_drawdown` still trips.
                    day.acknowledge();
                }
                day.losses = 0;
                day.rejects = 0;
                let why = if reason.is_empty() {
                    "reset".to_string()
                } else {
                    reason
                };
                let detail = holding.join("; ");
                self.close_breaker(why, detail, "api", client, override_);
                Reply::Ok(json!({"state": "CLOSED", "changed": true, "override": override_}))
            }
            Command::Trip { reason, client } => {
                let reason = reason.trim().to_string();
                if reason.is_empty() {
                    return Reply::Refused(400, "a trip needs a reason (?reason=...)".into());
                }
                if let Some(t) = self.breaker.trip_info() {
                    return Reply::Refused(
                        409,
                        format!("already open: {} ({})", t.reason.as_str(), t.detail),
                    );
                }
                self.trip_by(TripReason::Manual, reason, "api", client);
                Reply::Ok(json!({"state": "OPEN", "reason": "manual", "changed": true}))
            }
            Command::KillSwitch { on, reason, client } => {
                let reason = reason.trim().to_string();
                if reason.is_empty() {
                    return Reply::Refused(
                        400,
                        "the kill switch needs a reason (reason=...)".into(),
                    );
                }
                let changed = self.kill_switch != on;
                self.kill_switch = on;
                self.kill_reason = reason.clone();
                if let Some(m) = &self.metrics {
                    m.kill_switch.set(on as i64);
                }
                tracing::warn!(on, reason = %reason, client = %client, "kill switch set");
                self.journal_event(Event::KillSwitch {
                    on,
                    change: Box::new(Change {
                        reason,
                        detail: String::new(),
                        by: "api",
                        client,
                        override_: false,
                    }),
                });
                Reply::Ok(json!({"kill_switch": on, "changed": changed}))
            }
        }
    }

    fn close_breaker(
        &mut self,
        why: String,
        detail: String,
        by: &'static str,
        client: String,
        override_: bool,
    ) {
        if let Some(c) = self
            .breaker
            .close(why, detail, by, client, override_, self.now_ms)
        {
            tracing::warn!(reason = %c.reason, by, client = %c.client, override_, "circuit breaker CLOSED");
            if let Some(m) = &self.metrics {
                m.breaker_open.set(0);
            }
            self.journal_event(Event::Breaker {
                open: false,
                change: Box::new(c),
            });
        }
    }

    /// Periodic work (the stage calls it every ~100 ms): day rollover,
    /// breaker cool-down, heartbeat gauges and their log lines.
    pub fn housekeeping(&mut self) {
        self.tick();
        let cd = self.cfg.breaker.cooldown_secs;
        // Only automatic trips cool down: a manual trip (a desk halt) stays
        // open until someone resets it.
        if cd > 0
            && let Some(t) = self.breaker.trip_info()
            && t.reason != TripReason::Manual
            && self.now_ms.saturating_sub(t.since_ms) >= (cd as i64) * 1000
            && self.holding_conditions().is_empty()
        {
            let day = self.today();
            day.losses = 0;
            day.rejects = 0;
            self.close_breaker(
                format!("cool-down of {cd} s elapsed"),
                String::new(),
                "cooldown",
                String::new(),
                false,
            );
        }
        let now = self.now_ms;
        for g in &mut self.gates {
            let t = g.slot.load(Ordering::Relaxed);
            let stale = !is_fresh(t, now, g.max_age_ms);
            if g.stale != Some(stale) {
                let policy = if g.required { "required" } else { "advisory" };
                if stale {
                    tracing::warn!(
                        service = %g.service,
                        policy,
                        last_seen_ms = t,
                        "auxiliary heartbeat stale or missing{}",
                        if g.required { ": trading blocked" } else { " (advisory: trading goes on)" }
                    );
                } else if g.stale.is_some() {
                    tracing::info!(service = %g.service, policy, "auxiliary heartbeat back");
                }
                g.stale = Some(stale);
                if let Some(m) = &self.metrics {
                    m.heartbeat_stale
                        .with_label_values(&[g.service.as_str(), policy])
                        .set(stale as i64);
                }
            }
        }
        if let Some(m) = &self.metrics {
            let c = self.daily[mode_idx(self.mode)];
            m.consecutive_losses.set(c.losses as i64);
            m.consecutive_rejects.set(c.rejects as i64);
            m.open_orders.set(self.open.len() as i64);
        }
    }

    /// Tracks an order that was sent, so its quantity counts toward the
    /// position limits until its `Done` report; journals it.
    pub fn on_order_sent(&mut self, o: &OrderIntent) {
        self.journal_event(Event::Order {
            client_order_id: o.client_order_id,
            decision_id: o.decision.id,
            inst: o.decision.inst,
            side: o.side,
            qty: o.qty,
            limit_px: o.limit_px,
        });
        self.track_open(OpenOrder {
            client_order_id: o.client_order_id,
            inst: o.decision.inst,
            side: o.side,
            remaining: o.qty,
        });
    }

    fn track_open(&mut self, o: OpenOrder) {
        let i = o.inst.idx();
        if i >= self.positions.len() || self.open.len() >= MAX_OPEN_ORDERS || o.remaining <= 0 {
            return;
        }
        self.open.push(o);
        self.adjust_open(i, o.side, o.remaining);
    }

    /// Journals a decision and its verdict. HOLDs are journaled one by one
    /// only with `record_holds`; otherwise they are summed per instrument
    /// and verdict and written as one `holds` record at least once a second,
    /// so the journal still accounts for every decision.
    pub fn journal_verdict(&mut self, d: &Decision, v: Verdict) {
        if self.journal.is_none() {
            return;
        }
        if d.action == Action::Hold && !self.record_holds {
            self.tally_hold(d);
            return;
        }
        self.journal_event(Event::Decision {
            decision_id: d.id,
            inst: d.inst,
            action: d.action,
            score: d.score,
            confidence: d.confidence,
            qty: d.qty,
            bid: d.book.bids[0].px,
            ask: d.book.asks[0].px,
            model_version: d.model_version,
        });
        self.journal_event(Event::Verdict {
            decision_id: d.id,
            inst: d.inst,
            skip: match v {
                Verdict::Execute => None,
                Verdict::Skip(_) => Some(self.last_label().clone()),
            },
        });
    }

    fn tally_hold(&mut self, d: &Decision) {
        let second = self.stamp_ms.max(self.now_ms).div_euclid(1000);
        if second != self.holds_second || self.holds.len() == MAX_HOLD_TALLIES {
            self.flush_holds();
            self.holds_second = second;
        }
        let slot = self.last_slot;
        let now_ms = self.stamp_ms.max(self.now_ms);
        match self
            .holds
            .iter_mut()
            .find(|t| t.inst == d.inst && t.slot == slot && t.model_version == d.model_version)
        {
            Some(t) => {
                t.count += 1;
                t.first_id = t.first_id.min(d.id);
                t.last_id = t.last_id.max(d.id);
                t.last_ms = now_ms;
            }
            None => self.holds.push(HoldTally {
                inst: d.inst,
                slot,
                count: 1,
                first_id: d.id,
                last_id: d.id,
                last_ms: now_ms,
                model_version: d.model_version,
            }),
        }
    }

    /// Writes the summed HOLDs not yet journaled (the risk stage calls this
    /// when it idles and when it stops).
    pub fn flush_holds(&mut self) {
        // Stamped like every record: never before one already written.
        for t in &self.holds {
            self.stamp_ms = self.stamp_ms.max(t.last_ms);
        }
        let Some(j) = &self.journal else {
            self.holds.clear();
            return;
        };
        for t in self.holds.drain(..) {
            j.send(Entry {
                ts_ms: self.stamp_ms,
                mode: self.mode,
                event: Event::Holds {
                    inst: t.inst,
                    count: t.count,
                    first_decision_id: t.first_id,
                    last_decision_id: t.last_id,
                    reason: self.labels[t.slot].clone(),
                    model_version: t.model_version,
                },
            });
        }
    }

    fn adjust_open(&mut self, i: usize, side: Side, delta: i64) {
        let slot = match side {
            Side::Buy => &mut self.open_buy[i],
            Side::Sell => &mut self.open_sell[i],
        };
        *slot = (*slot + delta).max(0);
    }

    /// Updates positions, in-flight orders, today's PnL and the streaks
    /// from an exec report; journals it; may trip the breaker.
    pub fn on_report(&mut self, r: &ExecReport) {
        self.tick();
        match *r {
            ExecReport::Fill {
                client_order_id,
                inst,
                side,
                px,
                qty,
                fee,
                position_after,
                realized_pnl,
            } => {
                self.journal_event(Event::Fill {
                    client_order_id,
                    inst,
                    side,
                    px,
                    qty,
                    fee,
                    position_after,
                    realized_pnl,
                });
                self.apply_fill(inst, side, px, qty, fee, position_after, realized_pnl);
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
                self.after_fill(realized_pnl, fee);
            }
            ExecReport::Done {
                client_order_id,
                inst,
                status,
            } => {
                self.journal_event(Event::OrderDone {
                    client_order_id,
                    inst,
                    status,
                    note: "",
                });
                self.close_open(client_order_id);
                self.after_done(status);
            }
        }
    }

    fn close_open(&mut self, client_order_id: u64) {
        if let Some(k) = self
            .open
            .iter()
            .position(|o| o.client_order_id == client_order_id)
        {
            let o = self.open.swap_remove(k);
            self.adjust_open(o.inst.idx(), o.side, -o.remaining);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_fill(
        &mut self,
        inst: InstrumentId,
        side: Side,
        px: i64,
        qty: i64,
        fee: Money,
        position_after: i64,
        realized_pnl: Money,
    ) {
        let i = inst.idx();
        if let Some(p) = self.positions.get_mut(i) {
            *p = position_after;
        }
        if let (Some(b), Some(x)) = (self.books.get_mut(i), self.instruments.try_get(inst)) {
            let unit = x.qty_f64(1) * x.contract_value;
            b.apply_fill(
                side,
                qty,
                unit,
                crate::exec::paper::notional(x, px, qty),
                fee,
            );
            if self.marks[i] <= 0 {
                self.marks[i] = px.saturating_mul(2);
                b.mark_px = x.px_f64(px);
            }
        }
        let c = self.today();
        c.realized += realized_pnl;
        c.fees += fee;
    }

    fn after_fill(&mut self, realized_pnl: Money, fee: Money) {
        let max = self.cfg.max_consecutive_losses;
        let c = self.today();
        if !realized_pnl.is_zero() {
            if realized_pnl - fee < Money::ZERO {
                c.losses += 1;
            } else {
                c.losses = 0;
            }
        }
        let losses = c.losses;
        self.evaluate_equity();
        if max > 0 && losses > max {
            self.trip(
                TripReason::ConsecutiveLosses,
                format!("{losses} losing closing fills in a row (limit {max})"),
            );
        }
    }

    fn after_done(&mut self, status: OrderStatus) {
        let max = self.cfg.max_consecutive_rejects;
        let c = self.today();
        match status {
            OrderStatus::Rejected => c.rejects += 1,
            OrderStatus::Filled | OrderStatus::PartiallyFilled | OrderStatus::Canceled => {
                c.rejects = 0
            }
            _ => {}
        }
        let rejects = c.rejects;
        if max > 0 && rejects > max {
            self.trip(
                TripReason::ConsecutiveRejects,
                format!("{rejects} orders rejected in a row (limit {max})"),
            );
        }
    }

    /// Restores what recovery found in the journal. Orders still open in
    /// the journal are tracked, then closed as canceled (the paper matcher
    /// keeps no resting orders across a restart), which is journaled.
    pub fn restore(&mut self, seed: &RiskSeed) {
        self.tick();
        for (i, p) in seed.positions.iter().enumerate() {
            if let Some(x) = self.positions.get_mut(i) {
                *x = *p;
            }
        }
        for (i, b) in seed.books.iter().enumerate() {
            if let Some(x) = self.books.get_mut(i) {
                *x = *b;
                if b.mark_px > 0.0
                    && let Some(x) = self.instruments.try_get(InstrumentId(i as u16))
                {
                    self.marks[i] =
                        (b.mark_px * 2.0 * crate::core::fixed::pow10(x.price_scale) as f64).round()
                            as i64;
                }
            }
        }
        // The journal's last stamp is where the risk day clock resumes: a
        // restart with the wall clock behind it stays on the journal's day.
        self.stamp_ms = self.stamp_ms.max(seed.last_ts_ms);
        // The last recorded day as it was: today while the clock is not
        // past it, else shown fresh and rolled over at the next change.
        if let Some(t) = seed.today {
            self.daily[mode_idx(self.mode)] = t;
        }
        if let Some(t) = seed.today
            && t.day >= self.cur_day()
        {
            let ratio = self.cfg.daily_cap_warn_ratio;
            if t.trades as f64 >= (self.cfg.daily_trade_cap as f64 * ratio).ceil() {
                self.cap_warned = true;
                if let Some(m) = &self.metrics {
                    m.cap_warning.set(1);
                }
            }
        }
        self.breaker
            .restore(seed.breaker_open.clone(), seed.breaker_history.clone());
        if let Some(m) = &self.metrics {
            m.breaker_open.set(self.breaker.is_open() as i64);
        }
        if let Some((on, reason)) = &seed.kill_switch
            && !self.cfg.kill_switch
        {
            self.kill_switch = *on;
            self.kill_reason = reason.clone();
            if let Some(m) = &self.metrics {
                m.kill_switch.set(*on as i64);
            }
        }
        self.next_coid = self.next_coid.max(seed.next_client_order_id);
        for o in &seed.open_orders {
            self.track_open(*o);
        }
        for o in &seed.open_orders {
            self.journal_event(Event::OrderDone {
                client_order_id: o.client_order_id,
                inst: o.inst,
                status: OrderStatus::Canceled,
                note: "recovery: no final report before the restart",
            });
            self.close_open(o.client_order_id);
            // As a later recovery will read this record.
            self.after_done(OrderStatus::Canceled);
        }
    }

    /// Mirrors the heartbeat store's count of refused future stamps into
    /// `qt_heartbeat_future_rejected_total`.
    pub fn note_heartbeat_future_rejected(&mut self, total: u64) {
        if let Some(m) = &self.metrics {
            let c = &m.heartbeat_future_rejected;
            c.inc_by(total.saturating_sub(c.get()));
        }
    }

    pub fn set_kill_switch(&mut self, on: bool) {
        self.kill_switch = on;
        if let Some(m) = &self.metrics {
            m.kill_switch.set(on as i64);
        }
    }

    pub fn kill_switch(&self) -> bool {
        self.kill_switch
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
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

    /// Today's state (UTC, per the clock) in the current mode.
    pub fn day_state(&self) -> DayState {
        let c = self.daily[mode_idx(self.mode)];
        let day = utc_day(self.clock.unix_ms()).max(utc_day(self.stamp_ms));
        if c.day >= day { c } else { DayState::new(day) }
    }

    /// Orders counted today (UTC, per the clock) in the current mode.
    pub fn daily_trades(&self) -> u32 {
        self.day_state().trades
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

    pub fn open_orders(&self) -> &[OpenOrder] {
        &self.open
    }

    /// Verdicts so far: EXECUTE count and SKIP count per reason (summed over
    /// details for `circuit_open` and `heartbeat_missing`).
    pub fn verdict_count(&self, v: Verdict) -> u64 {
        match v {
            Verdict::Execute => self.verdicts[0],
            Verdict::Skip(r) => {
                let base = r.as_str();
                self.labels
                    .iter()
                    .zip(&self.verdicts)
                    .skip(1)
                    .filter(|(l, _)| {
                        let l: &str = l;
                        l == base || l.strip_prefix(base).is_some_and(|x| x.starts_with(':'))
                    })
                    .map(|(_, n)| n)
                    .sum()
            }
        }
    }

    /// Count of one full verdict label (`circuit_open:manual`, ...).
    pub fn label_count(&self, label: &str) -> u64 {
        self.labels
            .iter()
            .position(|l| &**l == label)
            .map(|k| self.verdicts[k])
            .unwrap_or(0)
    }

    /// `GET /api/circuit-breaker/status`.
    pub fn breaker_status(&self) -> Value {
        let c = self.day_state();
        let now = self.clock.unix_ms();
        let (state, reason, detail, since) = match self.breaker.trip_info() {
            Some(t) => (
                "OPEN",
                t.reason.as_str(),
                t.detail.as_str(),
                Some(t.since_ms),
            ),
            None => ("CLOSED", "", "", None),
        };
        json!({
            "state": state,
            "reason": reason,
            "detail": detail,
            "since_ms": since,
            "since": since.map(crate::journal::report::fmt_ms),
            "open_for_secs": since.map(|s| (now - s).max(0) / 1000),
            "cooldown_secs": self.cfg.breaker.cooldown_secs,
            "counters": {
                "trips": self.breaker.trips,
                "resets": self.breaker.resets,
                "utc_day": format_day(c.day),
                "daily_realized_pnl": c.realized_net().to_f64(),
                "equity": c.equity.to_f64(),
                "peak_equity": c.peak.to_f64(),
                "drawdown": c.drawdown().to_f64(),
                "consecutive_losses": c.losses,
                "consecutive_rejects": c.rejects,
                "loss_acknowledged": c.loss_ack,
                "loss_floor": c.loss_floor.to_f64(),
                "loss_past_floor": c.loss_past_floor().to_f64(),
            },
            "thresholds": {
                "max_daily_loss": self.cfg.max_daily_loss,
                "max_drawdown": self.cfg.max_drawdown,
                "max_consecutive_losses": self.cfg.max_consecutive_losses,
                "max_consecutive_rejects": self.cfg.max_consecutive_rejects,
            },
        })
    }

    /// The published view (JSON, for `GET /api/risk` and `Shared::risk`).
    pub fn view(&self) -> Value {
        let mut positions = serde_json::Map::new();
        let mut limits = serde_json::Map::new();
        let mut pos_notional = serde_json::Map::new();
        for inst in self.instruments.iter() {
            let i = inst.id.idx();
            let key = format!("{}:{}", inst.venue.as_str(), inst.symbol);
            positions.insert(
                key.clone(),
                json!(inst.qty_f64(self.positions.get(i).copied().unwrap_or(0))),
            );
            pos_notional.insert(
                key.clone(),
                json!(
                    self.max_pos_notional
                        .get(i)
                        .copied()
                        .unwrap_or(Money::ZERO)
                        .to_f64()
                ),
            );
            limits.insert(
                key,
                json!(inst.qty_f64(self.max_position.get(i).copied().unwrap_or(0))),
            );
        }
        let mut reasons = serde_json::Map::new();
        for (l, n) in self.labels.iter().zip(&self.verdicts).skip(1) {
            reasons.insert(l.to_string(), json!(n));
        }
        let now = self.clock.unix_ms();
        let heartbeats: Vec<Value> = self
            .gates
            .iter()
            .map(|g| {
                let t = g.slot.load(Ordering::Relaxed);
                json!({
                    "service": g.service,
                    "policy": if g.required { "required" } else { "advisory" },
                    "max_age_ms": g.max_age_ms,
                    "last_seen_ms": (t > 0).then_some(t),
                    "age_ms": (t > 0).then(|| now.saturating_sub(t)),
                    "stale": !is_fresh(t, now, g.max_age_ms),
                })
            })
            .collect();
        let c = self.day_state();
        json!({
            "mode": self.mode.as_str(),
            "utc_day": format_day(c.day),
            "daily_trades": c.trades,
            "daily_trade_cap": self.cfg.daily_trade_cap,
            "daily_trade_cap_warning": self.cap_warned,
            "daily_realized_pnl": c.realized_net().to_f64(),
            "daily_fees": c.fees.to_f64(),
            "equity": c.equity.to_f64(),
            "peak_equity": c.peak.to_f64(),
            "drawdown": c.drawdown().to_f64(),
            "consecutive_losses": c.losses,
            "consecutive_rejects": c.rejects,
            "kill_switch": self.kill_switch,
            "kill_switch_reason": self.kill_reason,
            "circuit_breaker": self.breaker_status(),
            "positions": positions,
            "open_orders": self.open.len(),
            "next_client_order_id": self.next_coid,
            "heartbeats": heartbeats,
            "limits": {
                "max_order_notional": self.cfg.max_order_notional,
                "max_orders_per_sec": self.cfg.max_orders_per_sec,
                "max_orders_per_min": self.cfg.max_orders_per_min,
                "max_open_orders": self.cfg.max_open_orders,
                "daily_trade_cap": self.cfg.daily_trade_cap,
                "daily_cap_warn_ratio": self.cfg.daily_cap_warn_ratio,
                "skip_flat_sell": self.cfg.skip_flat_sell,
                "max_book_age_ms": self.cfg.max_book_age_ms,
                "price_band_bps": self.cfg.price_band_bps,
                "max_gross_exposure": self.cfg.max_gross_exposure,
                "max_daily_loss": self.cfg.max_daily_loss,
                "max_drawdown": self.cfg.max_drawdown,
                "max_consecutive_losses": self.cfg.max_consecutive_losses,
                "max_consecutive_rejects": self.cfg.max_consecutive_rejects,
                "max_position": limits,
                "max_position_notional": pos_notional,
            },
            "verdicts": {
                "execute": self.verdicts[0],
                "skip": reasons,
            },
        })
    }
}

fn expire(q: &mut VecDeque<u64>, now_ns: u64, window: u64) {
    while let Some(&t) = q.front() {
        if now_ns.saturating_sub(t) < window {
            break;
        }
        q.pop_front();
    }
}

#[cfg(test)]
#[path = "governor_tests.rs"]
pub(crate) mod tests;
