//! Orders in flight and positions: orders sent are tracked until their
//! `Done` report (their quantity counts toward the position limits), exec
//! reports are journaled and move positions, in-flight quantity and the
//! day ledger.

use super::{Governor, MAX_OPEN_ORDERS};
use crate::core::{ExecReport, InstrumentId, Money, OrderIntent, Side};
use crate::journal::Event;

/// An order sent and not yet reported done.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenOrder {
    pub client_order_id: u64,
    pub inst: InstrumentId,
    pub side: Side,
    pub remaining: i64,
}

/// px × qty in quote units, exact (`10.000 × 100.1 = 1001`).
pub fn exact_notional(px: i64, qty: i64, price_scale: u8, qty_scale: u8) -> Money {
    Money::notional(px, qty, price_scale, qty_scale)
}

impl Governor {
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

    pub(super) fn track_open(&mut self, o: OpenOrder) {
        let i = o.inst.idx();
        if i >= self.positions.len() || self.open.len() >= MAX_OPEN_ORDERS || o.remaining <= 0 {
            return;
        }
        self.open.push(o);
        self.adjust_open(i, o.side, o.remaining);
    }

    pub(super) fn adjust_open(&mut self, i: usize, side: Side, delta: i64) {
        let slot = match side {
            Side::Buy => &mut self.open_buy[i],
            Side::Sell => &mut self.open_sell[i],
        };
        *slot = (*slot + delta).max(0);
    }

    /// Updates positions, in-flight orders, today's PnL and the streaks
    /// from an exec report; journals it; may trip the breaker.
    pub fn on_report(&mut self, r: &ExecReport) {
        self.report(r, true);
    }

    /// [`Governor::on_report`]; a fill is journaled only with `journal`
    /// (restore's fills made while the engine was down were journaled by
    /// the start, before its reconciliation records).
    pub(super) fn report(&mut self, r: &ExecReport, journal: bool) {
        self.tick();
        match *r {
            ExecReport::Fill {
                client_order_id,
                inst,
                side,
                px,
                qty,
                fee,
                fee_asset,
                position_after,
                realized_pnl,
            } => {
                if journal {
                    self.journal_event(Event::Fill {
                        client_order_id,
                        inst,
                        side,
                        px,
                        qty,
                        fee,
                        fee_asset,
                        position_after,
                        realized_pnl,
                    });
                }
                // A fee in another asset (BNB) has no quote price here: the
                // daily loss, drawdown and loss streaks see quote fees only.
                let fee = if fee_asset.is_quote() {
                    fee
                } else {
                    crate::core::Money::ZERO
                };
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
                // A session's own order at stop (flatten on stop) says so.
                let note = if crate::exec::gateway::is_stop_order(client_order_id) {
                    "flatten_on_stop"
                } else {
                    ""
                };
                self.journal_event(Event::OrderDone {
                    client_order_id,
                    inst,
                    status,
                    note,
                });
                self.close_open(client_order_id);
                self.after_done(status);
            }
        }
    }

    pub(super) fn close_open(&mut self, client_order_id: u64) {
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
