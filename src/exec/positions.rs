//! Positions: per instrument, the signed quantity (scaled, negative = short),
//! the average entry price, realized PnL (on reducing and flipping fills,
//! gross of fees), fees paid (tracked separately), traded volume and
//! unrealized PnL at a mark (the mid of the latest book seen).

use crate::core::{InstrumentId, InstrumentTable, Side};
use crate::pipeline::shared::{PositionView, PositionsView};
use std::sync::Arc;

/// The position of one instrument.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Position {
    /// Signed quantity (scaled).
    pub qty: i64,
    /// Average entry price of the open quantity (price units; 0 when flat).
    pub avg_px: f64,
    /// Realized PnL, quote currency, gross of fees.
    pub realized: f64,
    /// Fees paid, quote currency.
    pub fees: f64,
    pub fills: u64,
    /// Traded notional, quote currency.
    pub volume_quote: f64,
    /// Mark price (price units; 0 = none yet).
    pub mark_px: f64,
}

impl Position {
    /// Applies a fill of `qty` (scaled, > 0) at `px` (price units) with
    /// `notional` (quote) and `fee`; `qty_unit` converts scaled qty to base
    /// units. Returns the PnL this fill realized (gross of fees).
    pub fn apply_fill(
        &mut self,
        side: Side,
        px: f64,
        qty: i64,
        qty_unit: f64,
        notional: f64,
        fee: f64,
    ) -> f64 {
        let signed = side.sign() * qty.max(0);
        self.fills += 1;
        self.fees += fee;
        self.volume_quote += notional.abs();
        let pos = self.qty;
        let new = pos.saturating_add(signed);
        let mut realized = 0.0;
        if pos == 0 || pos.signum() == signed.signum() {
            // Opening or adding: the average moves.
            let (a, b) = (pos.unsigned_abs() as f64, signed.unsigned_abs() as f64);
            if a + b > 0.0 {
                self.avg_px = (self.avg_px * a + px * b) / (a + b);
            }
        } else {
            let closing = pos.unsigned_abs().min(signed.unsigned_abs()) as f64 * qty_unit;
            realized = (px - self.avg_px) * closing * pos.signum() as f64;
            if new == 0 {
                self.avg_px = 0.0;
            } else if new.signum() != pos.signum() {
                // Flipped: the excess opens at the fill price.
                self.avg_px = px;
            }
        }
        self.qty = new;
        self.realized += realized;
        realized
    }

    /// Unrealized PnL at the mark (0 when flat or without a mark).
    pub fn unrealized(&self, qty_unit: f64) -> f64 {
        if self.qty == 0 || self.mark_px <= 0.0 {
            return 0.0;
        }
        (self.mark_px - self.avg_px) * self.qty as f64 * qty_unit
    }
}

/// All positions, indexed by instrument.
pub struct Positions {
    instruments: Arc<InstrumentTable>,
    list: Vec<Position>,
    qty_units: Vec<f64>,
}

impl Positions {
    pub fn new(instruments: Arc<InstrumentTable>) -> Self {
        let qty_units = instruments
            .iter()
            .map(|i| i.qty_f64(1) * i.contract_value)
            .collect();
        Positions {
            list: vec![Position::default(); instruments.len()],
            instruments,
            qty_units,
        }
    }

    pub fn get(&self, inst: InstrumentId) -> Option<&Position> {
        self.list.get(inst.idx())
    }

    /// Applies a fill (scaled px and qty). Returns (position after,
    /// realized PnL of the fill), or `None` for an unknown instrument.
    pub fn apply_fill(
        &mut self,
        inst: InstrumentId,
        side: Side,
        px: i64,
        qty: i64,
        notional: f64,
        fee: f64,
    ) -> Option<(i64, f64)> {
        let i = self.instruments.try_get(inst)?;
        let pxf = i.px_f64(px);
        let unit = *self.qty_units.get(inst.idx())?;
        let p = self.list.get_mut(inst.idx())?;
        let r = p.apply_fill(side, pxf, qty, unit, notional, fee);
        Some((p.qty, r))
    }

    /// Sets the mark price (price units) used for unrealized PnL.
    pub fn set_mark(&mut self, inst: InstrumentId, mark_px: f64) {
        if let Some(p) = self.list.get_mut(inst.idx())
            && mark_px.is_finite()
            && mark_px > 0.0
        {
            p.mark_px = mark_px;
        }
    }

    /// Position in base units (for gauges).
    pub fn qty_f64(&self, inst: InstrumentId) -> f64 {
        match (self.list.get(inst.idx()), self.qty_units.get(inst.idx())) {
            (Some(p), Some(u)) => p.qty as f64 * u,
            _ => 0.0,
        }
    }

    pub fn unrealized_of(&self, inst: InstrumentId) -> f64 {
        match (self.list.get(inst.idx()), self.qty_units.get(inst.idx())) {
            (Some(p), Some(u)) => p.unrealized(*u),
            _ => 0.0,
        }
    }

    /// Total realized PnL, gross of fees.
    pub fn realized(&self) -> f64 {
        self.list.iter().map(|p| p.realized).sum()
    }

    pub fn unrealized(&self) -> f64 {
        self.list
            .iter()
            .zip(&self.qty_units)
            .map(|(p, u)| p.unrealized(*u))
            .sum()
    }

    pub fn fees(&self) -> f64 {
        self.list.iter().map(|p| p.fees).sum()
    }

    /// The published view (allocates; call at low rate). Totals:
    /// `realized_pnl` is gross of fees, `fees` separate.
    pub fn view(&self, orders: u64, fills: u64, rejects: u64) -> PositionsView {
        let positions = self
            .instruments
            .iter()
            .zip(&self.list)
            .map(|(i, p)| PositionView {
                venue: i.venue.as_str().to_string(),
                symbol: i.symbol.clone(),
                qty: self.qty_f64(i.id),
                avg_entry_px: p.avg_px,
                mark_px: p.mark_px,
                realized_pnl: p.realized,
                unrealized_pnl: self.unrealized_of(i.id),
                fees: p.fees,
                fills: p.fills,
                volume_quote: p.volume_quote,
            })
            .collect();
        PositionsView {
            positions,
            realized_pnl: self.realized(),
            unrealized_pnl: self.unrealized(),
            fees: self.fees(),
            orders,
            fills,
            rejects,
            recent_fills: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Instrument, Venue};

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    fn positions() -> Positions {
        let mut t = InstrumentTable::new();
        t.push(
            Instrument::new(
                InstrumentId(0),
                Venue::Binance,
                "BTCUSDT",
                "BTCUSDT",
                "0.01",
                "0.001",
                5.0,
            )
            .unwrap(),
        );
        Positions::new(Arc::new(t))
    }

    const I: InstrumentId = InstrumentId(0);
    const FEE: f64 = 4e-4;

    /// Fill of `units` base units at `px` (price units), 4 bps fee.
    fn fill(p: &mut Positions, side: Side, px: f64, units: i64) -> (i64, f64) {
        let n = px * units as f64;
        p.apply_fill(
            I,
            side,
            (px * 100.0).round() as i64,
            units * 1_000,
            n,
            n * FEE,
        )
        .unwrap()
    }

    #[test]
    fn round_trip_pnl_adds_up() {
        let mut p = positions();
        assert_eq!(fill(&mut p, Side::Buy, 100.0, 2), (2_000, 0.0));
        close(p.get(I).unwrap().avg_px, 100.0);
        p.set_mark(I, 105.0);
        close(p.unrealized(), 10.0);
        let (after, r) = fill(&mut p, Side::Sell, 110.0, 1);
        assert_eq!(after, 1_000);
        close(r, 10.0);
        close(p.get(I).unwrap().avg_px, 100.0);
        close(p.unrealized(), 5.0); // 1 @ 100 marked at 105
        let (after, r) = fill(&mut p, Side::Sell, 90.0, 1);
        assert_eq!(after, 0);
        close(r, -10.0);
        close(p.realized(), 0.0);
        close(p.fees(), (200.0 + 110.0 + 90.0) * FEE);
        close(p.realized() - p.fees(), -0.16);
        close(p.unrealized(), 0.0);
        let pos = p.get(I).unwrap();
        assert_eq!((pos.fills, pos.avg_px), (3, 0.0));
        close(pos.volume_quote, 400.0);
    }

    #[test]
    fn flip_long_to_short() {
        let mut p = positions();
        fill(&mut p, Side::Buy, 100.0, 1);
        fill(&mut p, Side::Buy, 102.0, 1); // avg 101
        close(p.get(I).unwrap().avg_px, 101.0);
        let (after, r) = fill(&mut p, Side::Sell, 110.0, 5);
        assert_eq!(after, -3_000);
        close(r, 18.0); // 2 × (110 − 101)
        close(p.get(I).unwrap().avg_px, 110.0);
        p.set_mark(I, 100.0);
        close(p.unrealized(), 30.0); // short 3 from 110, mark 100
        // Cover part of the short at 105: +5 per unit.
        let (after, r) = fill(&mut p, Side::Buy, 105.0, 1);
        assert_eq!(after, -2_000);
        close(r, 5.0);
        close(p.get(I).unwrap().avg_px, 110.0);
        let v = p.view(4, 4, 0);
        assert_eq!(v.positions.len(), 1);
        close(v.positions[0].qty, -2.0);
        close(v.realized_pnl, 23.0);
        close(v.unrealized_pnl, 20.0);
        assert_eq!(v.positions[0].symbol, "BTCUSDT");
    }

    #[test]
    fn unknown_instrument_is_ignored() {
        let mut p = positions();
        assert!(
            p.apply_fill(InstrumentId(3), Side::Buy, 1, 1, 1.0, 0.0)
                .is_none()
        );
        p.set_mark(InstrumentId(3), 1.0);
        p.set_mark(I, f64::NAN);
        assert_eq!(p.get(I).unwrap().mark_px, 0.0);
    }
}
