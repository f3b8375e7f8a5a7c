//! The paper matcher. An [`OrderIntent`] is an IOC taker order matched
//! against the book its decision was made on (`intent.decision.book`): a BUY
//! walks the asks from the best up to `limit_px`, a SELL walks the bids down
//! to `limit_px`; each level fills min(remaining, level qty) at the level
//! price; whatever is left is canceled (IOC).
//!
//! Outcomes: **Filled**, **Canceled** with a partial fill, **Canceled with
//! zero fill** when no liquidity lies within the limit (an IOC that found
//! nothing is a normal market outcome, not an error), and **Rejected** only
//! for an order that is invalid before matching (non-positive quantity or
//! limit, unknown instrument). The taker fee of each fill is
//! notional × `taker_fee_bps` / 1e4. Only the visible top levels of the book
//! ([`TOP_LEVELS`]) can be hit.

use crate::core::{BookTop, Instrument, Level, Money, OrderIntent, OrderStatus, Side, TOP_LEVELS};

/// One fill at one price level.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PaperFill {
    pub px: i64,
    pub qty: i64,
    /// px × qty in quote currency (exact).
    pub notional: Money,
    pub fee: Money,
}

/// The result of matching one IOC order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchResult {
    fills: [PaperFill; TOP_LEVELS],
    n: usize,
    /// Total filled quantity (scaled).
    pub filled: i64,
    /// Total filled notional (quote).
    pub notional: Money,
    /// Total taker fee (quote).
    pub fee: Money,
    /// Final order status: Filled, Canceled (partial or zero fill) or Rejected.
    pub status: OrderStatus,
}

impl MatchResult {
    fn empty(status: OrderStatus) -> Self {
        MatchResult {
            fills: [PaperFill::default(); TOP_LEVELS],
            n: 0,
            filled: 0,
            notional: Money::ZERO,
            fee: Money::ZERO,
            status,
        }
    }

    pub fn fills(&self) -> &[PaperFill] {
        &self.fills[..self.n]
    }

    /// Volume-weighted average fill price (price units), if anything filled.
    pub fn vwap(&self, inst: &Instrument) -> Option<f64> {
        (self.filled > 0).then(|| self.notional.to_f64() / inst.qty_f64(self.filled))
    }
}

/// px × qty (× the contract value) in quote units, exact to 1e-8.
#[inline]
pub fn notional(inst: &Instrument, px: i64, qty: i64) -> Money {
    let n = Money::notional(px, qty, inst.price_scale, inst.qty_scale);
    if inst.contract_value == 1.0 {
        n
    } else {
        Money::from_f64(n.to_f64() * inst.contract_value)
    }
}

/// Matches an IOC order of `qty` at worst price `limit_px` against `book`.
pub fn match_ioc(
    side: Side,
    qty: i64,
    limit_px: i64,
    book: &BookTop,
    inst: &Instrument,
    taker_fee_bps: f64,
) -> MatchResult {
    if qty <= 0 || limit_px <= 0 {
        return MatchResult::empty(OrderStatus::Rejected);
    }
    let levels: &[Level] = match side {
        Side::Buy => &book.asks[..(book.n_asks as usize).min(TOP_LEVELS)],
        Side::Sell => &book.bids[..(book.n_bids as usize).min(TOP_LEVELS)],
    };
    let fee_bps = if taker_fee_bps.is_finite() {
        taker_fee_bps.max(0.0)
    } else {
        0.0
    };
    let mut r = MatchResult::empty(OrderStatus::Canceled);
    let mut remaining = qty;
    for l in levels {
        if remaining == 0 {
            break;
        }
        let within = match side {
            Side::Buy => l.px <= limit_px,
            Side::Sell => l.px >= limit_px,
        };
        if !within {
            break;
        }
        if l.px <= 0 || l.qty <= 0 {
            continue;
        }
        let q = remaining.min(l.qty);
        let n = notional(inst, l.px, q);
        let fee = n.mul_bps(fee_bps);
        r.fills[r.n] = PaperFill {
            px: l.px,
            qty: q,
            notional: n,
            fee,
        };
        r.n += 1;
        r.filled += q;
        r.notional += n;
        r.fee += fee;
        remaining -= q;
    }
    if remaining == 0 {
        r.status = OrderStatus::Filled;
    }
    r
}

/// [`match_ioc`] for a risk intent, against its decision's book.
pub fn match_intent(o: &OrderIntent, inst: &Instrument, taker_fee_bps: f64) -> MatchResult {
    match_ioc(
        o.side,
        o.qty,
        o.limit_px,
        &o.decision.book,
        inst,
        taker_fee_bps,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::{InstrumentId, Venue};

    /// Prices scale 2 (tick 0.01), quantities scale 3.
    pub(crate) fn inst() -> Instrument {
        Instrument::new(
            InstrumentId(0),
            Venue::Binance,
            "ETHUSDT",
            "ETHUSDT",
            "0.01",
            "0.001",
            5.0,
        )
        .unwrap()
    }

    pub(crate) fn book(bids: &[(i64, i64)], asks: &[(i64, i64)]) -> BookTop {
        crate::score::features::tests::book(0, bids, asks)
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn buy_walks_two_levels() {
        let i = inst();
        // asks: 1.000 @ 100.00, 2.000 @ 101.00, 5.000 @ 102.00
        let b = book(
            &[(9_900, 1_000)],
            &[(10_000, 1_000), (10_100, 2_000), (10_200, 5_000)],
        );
        let r = match_ioc(Side::Buy, 2_500, 10_100, &b, &i, 4.0);
        assert_eq!(r.status, OrderStatus::Filled);
        assert_eq!(r.filled, 2_500);
        assert_eq!(
            r.fills().iter().map(|f| (f.px, f.qty)).collect::<Vec<_>>(),
            vec![(10_000, 1_000), (10_100, 1_500)]
        );
        // notional 100 + 151.5 = 251.5; VWAP 100.6; fee 4 bps.
        assert_eq!(r.notional.to_string(), "251.50000000");
        close(r.vwap(&i).unwrap(), 100.6);
        assert_eq!(r.fee.to_string(), "0.10060000");
        assert_eq!(r.fills()[0].fee.to_string(), "0.04000000");
    }

    #[test]
    fn the_limit_stops_the_walk() {
        let i = inst();
        let b = book(
            &[(9_900, 1_000), (9_800, 1_000), (9_700, 1_000)],
            &[(10_000, 1_000), (10_100, 2_000)],
        );
        let r = match_ioc(Side::Buy, 2_500, 10_050, &b, &i, 4.0);
        assert_eq!((r.status, r.filled), (OrderStatus::Canceled, 1_000));
        // SELL walks bids down to the limit.
        let r = match_ioc(Side::Sell, 3_000, 9_800, &b, &i, 0.0);
        assert_eq!((r.status, r.filled), (OrderStatus::Canceled, 2_000));
        close(r.vwap(&i).unwrap(), 98.5);
        assert_eq!(r.fee, Money::ZERO);
        // Nothing within the limit: canceled with zero fill.
        let r = match_ioc(Side::Buy, 1_000, 9_999, &b, &i, 4.0);
        assert_eq!(
            (r.status, r.filled, r.fills().len()),
            (OrderStatus::Canceled, 0, 0)
        );
        assert_eq!(r.vwap(&i), None);
        // Empty side.
        let e = book(&[], &[]);
        let r = match_ioc(Side::Sell, 1_000, 1, &e, &i, 4.0);
        assert_eq!((r.status, r.filled), (OrderStatus::Canceled, 0));
        // Visible depth exhausted: remainder canceled.
        let r = match_ioc(Side::Buy, 10_000, 20_000, &b, &i, 4.0);
        assert_eq!((r.status, r.filled), (OrderStatus::Canceled, 3_000));
    }

    #[test]
    fn invalid_orders_are_rejected() {
        let i = inst();
        let b = book(&[(9_900, 1_000)], &[(10_000, 1_000)]);
        assert_eq!(
            match_ioc(Side::Buy, 0, 10_000, &b, &i, 4.0).status,
            OrderStatus::Rejected
        );
        assert_eq!(
            match_ioc(Side::Buy, 1, 0, &b, &i, 4.0).status,
            OrderStatus::Rejected
        );
    }
}
