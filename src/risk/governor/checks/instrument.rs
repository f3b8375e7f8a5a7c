//! Instrument-level checks: the long-only flat-sell rule, the instrument's
//! tick / lot / min-notional rules, and the price band around the mid.

use super::super::Governor;
use crate::core::{Action, Decision, Money, SkipReason};
use crate::risk::governor::exact_notional;
use crate::risk::price::limit_price;

impl Governor {
    pub(in crate::risk::governor) fn check_flat_sell(&self, d: &Decision) -> Option<SkipReason> {
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

    pub(in crate::risk::governor) fn check_instrument_rules(
        &self,
        d: &Decision,
    ) -> Option<SkipReason> {
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

    pub(in crate::risk::governor) fn check_price_band(&self, d: &Decision) -> Option<SkipReason> {
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
}
