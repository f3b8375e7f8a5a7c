//! Positions: per instrument, the signed quantity (scaled, negative = short),
//! the average entry price, realized PnL (on reducing and flipping fills,
//! gross of fees), fees paid in the quote (tracked separately), traded
//! volume and unrealized PnL at a mark (the mid of the latest book seen).
//! Fees charged in another asset (`BNB`) never touch quote PnL: they are
//! summed exactly per venue and asset ([`Positions::other_fees`]), as no
//! price converts them.

use crate::core::{FeeAsset, InstrumentId, InstrumentTable, Money, Side, Venue};
use crate::pipeline::shared::{FeeView, PositionView, PositionsView};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The position of one instrument. Money is exact ([`Money`]): the cost of
/// the open quantity, realized PnL, fees and volume; the average price and
/// the mark are for display and mark-to-market only.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Position {
    /// Signed quantity (scaled).
    pub qty: i64,
    /// Average entry price of the open quantity (price units; 0 when flat):
    /// `cost / quantity`, for display.
    pub avg_px: f64,
    /// What the open quantity cost (quote, ≥ 0): the notional of its
    /// opening fills, less the share that closing fills took off.
    pub cost: Money,
    /// Realized PnL, quote currency, gross of fees.
    pub realized: Money,
    /// Fees paid, quote currency.
    pub fees: Money,
    pub fills: u64,
    /// Traded notional, quote currency.
    pub volume_quote: Money,
    /// Mark price (price units; 0 = none yet).
    pub mark_px: f64,
}

impl Position {
    /// Applies a fill of `qty` (scaled, > 0) with `notional` (px × qty,
    /// quote, exact) and `fee`; `qty_unit` converts scaled qty to base
    /// units (for the displayed average). Returns the PnL this fill
    /// realized (gross of fees): on a reducing fill, its proceeds less the
    /// closed share of the cost, each share rounded once to 1e-8.
    pub fn apply_fill(
        &mut self,
        side: Side,
        qty: i64,
        qty_unit: f64,
        notional: Money,
        fee: Money,
    ) -> Money {
        let q = qty.max(0);
        let signed = side.sign() * q;
        let notional = notional.abs();
        self.fills += 1;
        self.fees += fee;
        self.volume_quote += notional;
        let pos = self.qty;
        let new = pos.saturating_add(signed);
        let mut realized = Money::ZERO;
        if q == 0 {
            return realized;
        }
        if pos == 0 || pos.signum() == signed.signum() {
            // Opening or adding.
            self.cost += notional;
        } else {
            let held = pos.abs();
            let closing = held.min(q);
            let cost_share = self.cost.mul_div(closing, held);
            let proceeds = notional.mul_div(closing, q);
            realized = if pos > 0 {
                proceeds - cost_share
            } else {
                cost_share - proceeds
            };
            self.cost -= cost_share;
            if new == 0 {
                self.cost = Money::ZERO;
            } else if new.signum() != pos.signum() {
                // Flipped: the excess opens at this fill's price.
                self.cost = notional.mul_div(q - closing, q);
            }
        }
        self.qty = new;
        self.avg_px = if new == 0 {
            0.0
        } else {
            self.cost.to_f64() / (new.unsigned_abs() as f64 * qty_unit)
        };
        self.realized += realized;
        realized
    }

    /// Unrealized PnL at the mark (0 when flat or without a mark): the open
    /// quantity's value at the mark (rounded to 1e-8) against its cost.
    pub fn unrealized(&self, qty_unit: f64) -> Money {
        if self.qty == 0 || self.mark_px <= 0.0 {
            return Money::ZERO;
        }
        let value = Money::from_f64(self.mark_px * self.qty.unsigned_abs() as f64 * qty_unit);
        if self.qty > 0 {
            value - self.cost
        } else {
            self.cost - value
        }
    }
}

/// All positions, indexed by instrument.
pub struct Positions {
    instruments: Arc<InstrumentTable>,
    list: Vec<Position>,
    qty_units: Vec<f64>,
    /// Fees in assets other than the quote, per venue and asset, exact.
    other_fees: BTreeMap<(Venue, FeeAsset), Money>,
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
            other_fees: BTreeMap::new(),
        }
    }

    pub fn get(&self, inst: InstrumentId) -> Option<&Position> {
        self.list.get(inst.idx())
    }

    /// Applies a fill (scaled qty; `notional` = px × qty, exact) and its
    /// fee: a quote fee is the position's, another asset's is summed per
    /// venue and asset. Returns (position after, realized PnL of the fill,
    /// gross of fees), or `None` for an unknown instrument.
    pub fn apply_fill(
        &mut self,
        inst: InstrumentId,
        side: Side,
        qty: i64,
        notional: Money,
        fee: Money,
        fee_asset: FeeAsset,
    ) -> Option<(i64, Money)> {
        let unit = *self.qty_units.get(inst.idx())?;
        let venue = self.instruments.try_get(inst)?.venue;
        let p = self.list.get_mut(inst.idx())?;
        let quote_fee = if fee_asset.is_quote() {
            fee
        } else {
            *self.other_fees.entry((venue, fee_asset)).or_default() += fee;
            Money::ZERO
        };
        let r = p.apply_fill(side, qty, unit, notional, quote_fee);
        Some((p.qty, r))
    }

    /// Fees charged in assets other than the quote, per venue and asset.
    pub fn other_fees(&self) -> &BTreeMap<(Venue, FeeAsset), Money> {
        &self.other_fees
    }

    /// Every fee paid, per venue and asset name: the quote fees under their
    /// quote asset's name (`quote = true`), the others under theirs.
    pub fn fees_by_asset(&self) -> Vec<FeeView> {
        let mut sums: BTreeMap<(Venue, String, bool), Money> = BTreeMap::new();
        for (i, p) in self.instruments.iter().zip(&self.list) {
            if p.fills > 0 {
                *sums
                    .entry((i.venue, i.quote_name().to_string(), true))
                    .or_default() += p.fees;
            }
        }
        for ((v, a), m) in &self.other_fees {
            *sums.entry((*v, a.as_str().to_string(), false)).or_default() += *m;
        }
        sums.into_iter()
            .map(|((venue, asset, quote), amount)| FeeView {
                venue: venue.as_str().to_string(),
                asset,
                amount: amount.to_string(),
                quote,
            })
            .collect()
    }

    /// The name of the asset a fill's fee is in (its quote asset's name for
    /// a quote fee).
    pub fn fee_asset_name(&self, inst: InstrumentId, fee_asset: FeeAsset) -> String {
        if fee_asset.is_quote() {
            self.instruments
                .try_get(inst)
                .map_or("quote", |i| i.quote_name())
                .to_string()
        } else {
            fee_asset.as_str().to_string()
        }
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

    pub fn unrealized_of(&self, inst: InstrumentId) -> Money {
        match (self.list.get(inst.idx()), self.qty_units.get(inst.idx())) {
            (Some(p), Some(u)) => p.unrealized(*u),
            _ => Money::ZERO,
        }
    }

    /// Total realized PnL, gross of fees.
    pub fn realized(&self) -> Money {
        self.list.iter().map(|p| p.realized).sum()
    }

    pub fn unrealized(&self) -> Money {
        self.list
            .iter()
            .zip(&self.qty_units)
            .map(|(p, u)| p.unrealized(*u))
            .sum()
    }

    /// Fees paid in the quote (the ones realized PnL is net of).
    pub fn fees(&self) -> Money {
        self.list.iter().map(|p| p.fees).sum()
    }

    /// The published view (allocates; call at low rate). Totals:
    /// `realized_pnl` is gross of fees, `fees` separate. Amounts are JSON
    /// numbers made from the exact [`Money`] (an 8-decimal amount prints
    /// as exactly that decimal).
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
                realized_pnl: p.realized.to_f64(),
                unrealized_pnl: self.unrealized_of(i.id).to_f64(),
                fees: p.fees.to_f64(),
                fills: p.fills,
                volume_quote: p.volume_quote.to_f64(),
            })
            .collect();
        PositionsView {
            positions,
            realized_pnl: self.realized().to_f64(),
            unrealized_pnl: self.unrealized().to_f64(),
            fees: self.fees().to_f64(),
            fees_by_asset: self.fees_by_asset(),
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
            .map(|mut i| {
                i.quote_asset = "USDT".into();
                i
            })
            .unwrap(),
        );
        Positions::new(Arc::new(t))
    }

    const I: InstrumentId = InstrumentId(0);
    const FEE: f64 = 4e-4;

    /// Fill of `units` base units at `px` (price units), 4 bps fee.
    fn fill(p: &mut Positions, side: Side, px: f64, units: i64) -> (i64, f64) {
        let n = Money::notional((px * 100.0).round() as i64, units * 1_000, 2, 3);
        let (after, r) = p
            .apply_fill(
                I,
                side,
                units * 1_000,
                n,
                n.mul_bps(FEE * 1e4),
                FeeAsset::QUOTE,
            )
            .unwrap();
        (after, r.to_f64())
    }

    #[test]
    fn round_trip_pnl_adds_up() {
        let mut p = positions();
        assert_eq!(fill(&mut p, Side::Buy, 100.0, 2), (2_000, 0.0));
        close(p.get(I).unwrap().avg_px, 100.0);
        p.set_mark(I, 105.0);
        close(p.unrealized().to_f64(), 10.0);
        let (after, r) = fill(&mut p, Side::Sell, 110.0, 1);
        assert_eq!(after, 1_000);
        close(r, 10.0);
        close(p.get(I).unwrap().avg_px, 100.0);
        close(p.unrealized().to_f64(), 5.0); // 1 @ 100 marked at 105
        let (after, r) = fill(&mut p, Side::Sell, 90.0, 1);
        assert_eq!(after, 0);
        close(r, -10.0);
        close(p.realized().to_f64(), 0.0);
        close(p.fees().to_f64(), (200.0 + 110.0 + 90.0) * FEE);
        close((p.realized() - p.fees()).to_f64(), -0.16);
        close(p.unrealized().to_f64(), 0.0);
        let pos = p.get(I).unwrap();
        assert_eq!((pos.fills, pos.avg_px), (3, 0.0));
        close(pos.volume_quote.to_f64(), 400.0);
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
        close(p.unrealized().to_f64(), 30.0); // short 3 from 110, mark 100
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
            p.apply_fill(
                InstrumentId(3),
                Side::Buy,
                1,
                Money(1),
                Money::ZERO,
                FeeAsset::QUOTE
            )
            .is_none()
        );
        p.set_mark(InstrumentId(3), 1.0);
        p.set_mark(I, f64::NAN);
        assert_eq!(p.get(I).unwrap().mark_px, 0.0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any sequence of fills with fees in mixed assets: realized PnL is
        /// the fee-less ledger's (gross), quote fees are the sum of the quote
        /// ones (net = gross − quote fees, exactly), and every other asset's
        /// total is the exact sum of its fees.
        #[test]
        fn fees_in_other_assets_never_touch_quote_pnl(
            fills in proptest::collection::vec(
                (proptest::bool::ANY, 1i64..50_000, 1i64..5_000, 0i64..10_000_000, 0usize..4),
                1..60,
            )
        ) {
            let assets = [
                FeeAsset::QUOTE,
                FeeAsset::other("BNB").unwrap(),
                FeeAsset::other("BTC").unwrap(),
                FeeAsset::QUOTE,
            ];
            let mut p = positions();
            let mut gross = positions();
            let mut quote_fees = Money::ZERO;
            let mut other: BTreeMap<FeeAsset, Money> = BTreeMap::new();
            for (buy, px, qty, fee, a) in fills {
                let side = if buy { Side::Buy } else { Side::Sell };
                let n = Money::notional(px, qty, 2, 3);
                let (fee, asset) = (Money(fee), assets[a]);
                let (after, r) = p.apply_fill(I, side, qty, n, fee, asset).unwrap();
                let (after_g, r_g) = gross
                    .apply_fill(I, side, qty, n, Money::ZERO, FeeAsset::QUOTE)
                    .unwrap();
                proptest::prop_assert_eq!((after, r), (after_g, r_g));
                if asset.is_quote() {
                    quote_fees += fee;
                } else {
                    *other.entry(asset).or_default() += fee;
                }
            }
            proptest::prop_assert_eq!(p.realized(), gross.realized());
            proptest::prop_assert_eq!(p.fees(), quote_fees);
            proptest::prop_assert_eq!(p.realized() - p.fees(), gross.realized() - quote_fees);
            let got: BTreeMap<FeeAsset, Money> = p
                .other_fees()
                .iter()
                .map(|((v, a), m)| {
                    assert_eq!(*v, Venue::Binance);
                    (*a, *m)
                })
                .collect();
            proptest::prop_assert_eq!(&got, &other);
            // The view names them: USDT (quote) and the others.
            let v = p.view(0, 0, 0);
            for f in &v.fees_by_asset {
                let want = if f.quote {
                    quote_fees
                } else {
                    other[&FeeAsset::other(&f.asset).unwrap()]
                };
                proptest::prop_assert_eq!(&f.amount, &want.to_string());
                proptest::prop_assert_eq!(f.quote, f.asset == "USDT");
            }
        }
    }
}
