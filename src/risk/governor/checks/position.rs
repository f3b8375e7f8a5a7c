//! Exposure checks: position per instrument (quantity and notional), gross
//! exposure across instruments, order notional and open orders.

use super::super::{Governor, MAX_OPEN_ORDERS};
use crate::core::{Action, Decision, InstrumentId, Money, SkipReason};
use crate::risk::governor::exact_notional;

impl Governor {
    /// Position after this order, counting orders in flight on its side
    /// (those of unknown outcome among them, as if they fill).
    pub(in crate::risk::governor) fn projected(&self, d: &Decision) -> i128 {
        let i = d.inst.idx();
        let pos = self.position(d.inst) as i128;
        match d.action {
            Action::Buy => pos + self.open_buy.get(i).copied().unwrap_or(0) as i128 + d.qty as i128,
            _ => pos - self.open_sell.get(i).copied().unwrap_or(0) as i128 - d.qty as i128,
        }
    }

    pub(in crate::risk::governor) fn check_position(&self, d: &Decision) -> Option<SkipReason> {
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
    pub(in crate::risk::governor) fn value_at(&self, i: usize, qty: i64, mid2: i64) -> Money {
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

    pub(in crate::risk::governor) fn check_notional(&self, d: &Decision) -> Option<SkipReason> {
        let inst = self.instruments.try_get(d.inst)?;
        let notional = exact_notional(Self::touch(d), d.qty, inst.price_scale, inst.qty_scale);
        (notional > self.limits.max_order_notional).then_some(SkipReason::MaxOrderNotional)
    }

    pub(in crate::risk::governor) fn check_open_orders(&self) -> Option<SkipReason> {
        let max = (self.cfg.max_open_orders as usize).min(MAX_OPEN_ORDERS);
        (self.open.len() >= max).then_some(SkipReason::MaxOpenOrders)
    }
}
