//! The risk governor: every decision passes a fixed sequence of checks, each
//! a small method, first failure wins (the SKIP reason label in brackets):
//!
//! 1. kill switch (`kill_switch`, HOLDs included)
//! 2. circuit breaker open (`circuit_open:<trip reason>`, HOLDs included)
//! 3. HOLD (`hold`)
//! 4. a `required` auxiliary heartbeat stale or missing
//!    (`heartbeat_missing:<service>`); `advisory` ones only raise
//!    `qt_heartbeat_stale` and log once; then, in testnet/live (venue
//!    gates attached), the venue's private stream down
//!    (`private_stream_down`) or its order traffic stopped by a 429/418
//!    (`venue_budget_spent`)
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
//! 9. position per instrument: |position + in-flight (unknown outcome included) + qty| ≤ the
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
//!
//! Where each part lives:
//! - [`checks`]: the ordered checks above, one file per family (health:
//!   heartbeats and book; instrument rules and price band; position,
//!   notional and open orders; order rates; the daily trade cap), and the
//!   bookkeeping of an EXECUTE;
//! - [`ledger`]: the day ledger ([`DayState`]: trades, realized PnL, fees,
//!   equity, peak, loss floor, streaks per UTC day and trading mode) and
//!   the daily loss / drawdown trips;
//! - [`orders`]: positions and orders in flight, fed by exec reports;
//! - [`breaker_control`]: tripping and closing the breaker, the admin
//!   [`Command`]s, housekeeping (cool-down, heartbeat gauges);
//! - [`audit`]: journaling decisions and verdicts, HOLDs summed per second;
//! - [`seed`]: what restart recovery hands back ([`RiskSeed`]);
//! - [`view`]: verdict counts and the JSON of `/api/risk` and
//!   `/api/circuit-breaker/status`.

mod audit;
mod breaker_control;
mod checks;
mod ledger;
mod orders;
mod seed;
mod view;

pub use breaker_control::{Command, Reply};
pub use ledger::DayState;
pub use orders::{OpenOrder, exact_notional};
pub use seed::RiskSeed;

use super::breaker::Breaker;
use super::metrics::RiskMetrics;
use crate::config::{HeartbeatPolicy, RiskConfig, TradingMode};
use crate::core::clock::utc_day;
use crate::core::{Clock, Decision, InstrumentId, InstrumentTable, Money, SkipReason, Verdict};
use crate::exec::positions::Position;
use crate::journal::{Entry, Event, JournalTx};
use audit::HoldTally;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

/// Hard ceiling on orders in flight the governor tracks.
pub const MAX_OPEN_ORDERS: usize = 1024;

const NS_PER_SEC: u64 = 1_000_000_000;
/// Distinct (instrument, verdict) HOLD sums kept before a flush.
const MAX_HOLD_TALLIES: usize = 256;

const NS_PER_MIN: u64 = 60 * NS_PER_SEC;

/// A heartbeat gate resolved at startup.
struct HbGate {
    service: String,
    required: bool,
    max_age_ms: i64,
    slot: Arc<AtomicI64>,
    stale: Option<bool>,
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
    /// The live order path's venue facts (private stream, order traffic,
    /// unknown-outcome exposure); `None`: not checked (tests, replays).
    venue_gates: Option<Arc<crate::pipeline::venue_gates::VenueGates>>,
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
            venue_gates: None,
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

    /// Reads the live order path's venue facts from `gates` (the engine's
    /// shared ones): private stream up, order traffic stopped.
    pub fn attach_venue_gates(&mut self, gates: Arc<crate::pipeline::venue_gates::VenueGates>) {
        self.venue_gates = Some(gates);
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
}

#[cfg(test)]
pub(crate) mod tests;
