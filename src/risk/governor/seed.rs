//! Restart recovery's hand-over: [`RiskSeed`] (positions, books, open
//! orders, today's ledger, breaker, kill switch, ids) and
//! [`Governor::restore`], which applies it.

use super::{DayState, Governor, OpenOrder, mode_idx};
use crate::core::{InstrumentId, OrderStatus};
use crate::exec::positions::Position;
use crate::journal::Event;
use crate::risk::breaker::{BreakerEvent, Trip};

/// What recovery hands the governor (see `risk::recovery`).
#[derive(Debug, Clone, Default)]
pub struct RiskSeed {
    /// Filled position per instrument (scaled qty).
    pub positions: Vec<i64>,
    /// Average-cost books per instrument (for unrealized PnL).
    pub books: Vec<Position>,
    /// Orders with no final report in the journal.
    pub open_orders: Vec<OpenOrder>,
    /// Orders the startup reconciliation found still working at the venue
    /// or still to query there (testnet/live, moved here from
    /// `open_orders`): tracked, not closed, until their venue session
    /// reports them done.
    pub working_orders: Vec<OpenOrder>,
    pub today: Option<DayState>,
    pub breaker_open: Option<Trip>,
    /// Oldest first.
    pub breaker_history: Vec<BreakerEvent>,
    /// Last kill-switch state in the journal, with its reason.
    pub kill_switch: Option<(bool, String)>,
    pub next_client_order_id: u64,
    /// Latest record stamp of this mode in the journal (0: none).
    pub last_ts_ms: i64,
    /// Fills of our orders the venue made while the engine was down, found
    /// at start (testnet/live, `exec::missed_fills`), oldest first: applied
    /// by [`Governor::restore`] as exec reports, after `positions` (which
    /// do not hold them) and the working orders; the start journaled them
    /// (before its reconciliation records, as recovery reads them).
    pub startup_fills: Vec<crate::core::ExecReport>,
}

impl Governor {
    /// Restores what recovery found in the journal. Orders still open in
    /// the journal are tracked, then closed as canceled (the paper matcher
    /// keeps no resting orders across a restart), which is journaled;
    /// `working_orders` (at a venue) stay tracked until their reports.
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
        for o in seed.open_orders.iter().chain(&seed.working_orders) {
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
        for r in &seed.startup_fills {
            self.report(r, false);
        }
    }
}
