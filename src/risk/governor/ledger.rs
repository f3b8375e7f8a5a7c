//! The day ledger: [`DayState`] per UTC day and trading mode (trades,
//! realized PnL and fees, equity and its peak, the loss floor an override
//! sets, the losing-fill and reject streaks), fed by fills, order reports
//! and book marks; trips the breaker on daily loss, drawdown and streaks.

use super::{Governor, mode_idx};
use crate::core::{Decision, InstrumentId, Money, OrderStatus, Side};
use crate::risk::breaker::TripReason;

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
    pub(super) fn new(day: i64) -> Self {
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

impl Governor {
    /// Today's state in the current mode, rolled over on a new UTC day.
    /// The day only moves forward: a wall clock stepped back across
    /// midnight keeps today's trades, PnL and streaks. Rolled over lazily,
    /// only right before a change that is journaled (so recovery from the
    /// journal rolls over at the same point).
    pub(super) fn today(&mut self) -> &mut DayState {
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

    /// Marks the instrument at the decision's mid and re-evaluates equity.
    pub(super) fn observe_book(&mut self, d: &Decision) {
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

    pub(super) fn unrealized(&self) -> Money {
        self.books
            .iter()
            .zip(&self.qty_units)
            .map(|(p, u)| p.unrealized(*u))
            .sum()
    }

    /// Updates today's equity and peak; trips on daily loss or drawdown.
    /// On a new day nothing has happened on yet, waits for its first record.
    pub(super) fn evaluate_equity(&mut self) {
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

    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_fill(
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

    pub(super) fn after_fill(&mut self, realized_pnl: Money, fee: Money) {
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

    pub(super) fn after_done(&mut self, status: OrderStatus) {
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
}
