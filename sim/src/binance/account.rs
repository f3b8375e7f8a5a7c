//! The simulated Binance USD-M account's money: the USDT wallet (realized
//! PnL and commissions booked into it), the fee rates (maker/taker, in USDT
//! on the fill's notional), the leverage, the positions per symbol (one-way
//! mode, `positionSide` BOTH) with their entry cost and realized PnL, the
//! kept trades, and the margin check on new orders (initial margin =
//! notional / leverage; `-2019` "Margin is insufficient." when the wallet
//! less the margin of the positions and open orders cannot cover it).
//!
//! Amounts in USDT are `i128` at [`USDT_SCALE`] (8) decimals; fee rates at
//! the same scale (0.0002 = 20 000). Unrealized PnL is left out of the
//! margin check (a simplification: only the wallet backs new orders).
//!
//! Commissions are charged in USDT, or, with [`CommissionAsset`] set (the
//! fee discount Binance gives for paying in BNB), in another asset: the USDT
//! commission times a fixed rate of that asset per USDT, reported as the
//! fill's `N`/`commissionAsset` and not taken from the USDT wallet. What
//! was charged is summed per asset ([`Account::commissions_paid`]).

use crate::decimal::format_decimal;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Decimals of USDT amounts (wallet, commission, realized PnL).
pub const USDT_SCALE: u32 = 8;
/// Trades kept for `GET /fapi/v1/userTrades`; the oldest go first.
pub const MAX_TRADES: usize = 10_000;
/// The wallet a fresh account starts with (USDT).
pub const DEFAULT_WALLET_USDT: i64 = 100_000;
/// Default leverage of every symbol.
pub const DEFAULT_LEVERAGE: i64 = 20;
/// Default fee rates (Binance USD-M regular tier: maker 0.02 %, taker 0.05 %).
pub const DEFAULT_MAKER_RATE: &str = "0.0002";
pub const DEFAULT_TAKER_RATE: &str = "0.0005";

/// `v` at `from` decimals rescaled to `to` decimals, rounded half away from zero.
pub(crate) fn rescale(v: i128, from: u32, to: u32) -> i128 {
    if to >= from {
        return v * 10i128.pow(to - from);
    }
    let d = 10i128.pow(from - to);
    let half = d / 2;
    if v >= 0 {
        (v + half) / d
    } else {
        (v - half) / d
    }
}

/// A USDT amount as Binance writes it (8 decimals).
pub(crate) fn usdt(v: i128) -> String {
    format_decimal(
        i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX }),
        USDT_SCALE as u8,
    )
}

/// Commissions charged in another asset than USDT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommissionAsset {
    /// Its code (`BNB`).
    pub asset: Arc<str>,
    /// How much of it one USDT of commission costs, at [`USDT_SCALE`].
    pub per_usdt: i128,
}

/// The account's wallet, fees and leverage.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    /// Wallet balance, USDT at [`USDT_SCALE`].
    pub wallet: i128,
    /// Fee rates at [`USDT_SCALE`].
    pub maker_rate: i128,
    pub taker_rate: i128,
    pub leverage: i64,
    pub update_time: i64,
    /// `None`: commissions in USDT.
    pub commission_asset: Option<CommissionAsset>,
    /// Commissions charged, per asset, at [`USDT_SCALE`].
    pub commissions_paid: BTreeMap<String, i128>,
}

impl Default for Account {
    fn default() -> Self {
        let rate = |s: &str| {
            i128::from(crate::decimal::parse_decimal(s.as_bytes(), USDT_SCALE as u8).unwrap_or(0))
        };
        Account {
            wallet: i128::from(DEFAULT_WALLET_USDT) * 10i128.pow(USDT_SCALE),
            maker_rate: rate(DEFAULT_MAKER_RATE),
            taker_rate: rate(DEFAULT_TAKER_RATE),
            leverage: DEFAULT_LEVERAGE,
            update_time: 0,
            commission_asset: None,
            commissions_paid: BTreeMap::new(),
        }
    }
}

impl Account {
    /// The commission of a fill of `notional` USDT (at [`USDT_SCALE`]).
    pub fn commission(&self, notional: i128, maker: bool) -> i128 {
        let rate = if maker {
            self.maker_rate
        } else {
            self.taker_rate
        };
        rescale(notional * rate, 2 * USDT_SCALE, USDT_SCALE)
    }

    /// Charges a commission of `usdt_commission` (at [`USDT_SCALE`]): from
    /// the wallet, or in the [`CommissionAsset`] when one is set. Returns
    /// the amount charged and its asset (`None`: USDT).
    pub fn charge(&mut self, usdt_commission: i128) -> (i128, Option<Arc<str>>) {
        match &self.commission_asset {
            Some(c) => {
                let amount = rescale(usdt_commission * c.per_usdt, 2 * USDT_SCALE, USDT_SCALE);
                *self
                    .commissions_paid
                    .entry(c.asset.to_string())
                    .or_default() += amount;
                (amount, Some(c.asset.clone()))
            }
            None => {
                self.wallet -= usdt_commission;
                *self.commissions_paid.entry("USDT".into()).or_default() += usdt_commission;
                (usdt_commission, None)
            }
        }
    }

    /// Initial margin of a notional (USDT at [`USDT_SCALE`]), rounded up.
    pub fn margin(&self, notional: i128) -> i128 {
        let l = i128::from(self.leverage.max(1));
        (notional + l - 1) / l
    }
}

/// Position of one symbol (one-way mode).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Position {
    /// Signed scaled quantity.
    pub amt: i64,
    /// Entry cost of `|amt|`, at price scale + qty scale.
    pub cost: i128,
    /// Realized PnL accumulated (before fees), USDT at [`USDT_SCALE`].
    pub realized: i128,
    pub update_time: i64,
}

/// Applies one fill to a position; returns the realized PnL of the part
/// that closed (at price scale + qty scale; 0 when the fill only opens).
pub(crate) fn add_fill(p: &mut Position, buy: bool, qty: i64, px: i64, now: i64) -> i128 {
    let signed = if buy { qty } else { -qty };
    let q = i128::from(qty);
    let notional = q * i128::from(px);
    let mut realized = 0;
    if p.amt == 0 || (p.amt > 0) == buy {
        p.cost += notional;
        p.amt += signed;
    } else {
        let open = i128::from(p.amt.abs());
        let closing = q.min(open);
        let closed_cost = p.cost * closing / open;
        let exit = closing * i128::from(px);
        // Closing a long sells above cost for a profit; a short the reverse.
        realized = if buy {
            closed_cost - exit
        } else {
            exit - closed_cost
        };
        p.cost -= closed_cost;
        p.amt += if buy {
            closing as i64
        } else {
            -(closing as i64)
        };
        let left = q - closing;
        if left > 0 {
            p.cost = left * i128::from(px);
            p.amt = if buy { left as i64 } else { -(left as i64) };
        }
        if p.amt == 0 {
            p.cost = 0;
        }
    }
    p.update_time = now;
    realized
}

/// One fill of the account, as `userTrades` lists it.
#[derive(Debug, Clone)]
pub(crate) struct SimTrade {
    pub id: i64,
    pub order_id: i64,
    pub sym: usize,
    pub buy: bool,
    pub px: i64,
    pub qty: i64,
    /// USDT at [`USDT_SCALE`].
    pub realized: i128,
    /// In `commission_asset` (`None`: USDT), at [`USDT_SCALE`].
    pub commission: i128,
    pub commission_asset: Option<Arc<str>>,
    pub time: i64,
    pub maker: bool,
}

/// Keeps at most [`MAX_TRADES`] trades, oldest dropped first.
pub(crate) fn keep_trade(trades: &mut VecDeque<SimTrade>, t: SimTrade) {
    if trades.len() >= MAX_TRADES {
        trades.pop_front();
    }
    trades.push_back(t);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_average_reduce_flip_and_realize() {
        let mut p = Position::default();
        assert_eq!(add_fill(&mut p, true, 2, 100, 1), 0);
        assert_eq!(add_fill(&mut p, true, 2, 110, 1), 0);
        assert_eq!((p.amt, p.cost), (4, 420));
        // Sell 1 at 200 against an average of 105: +95.
        assert_eq!(add_fill(&mut p, false, 1, 200, 2), 95);
        assert_eq!((p.amt, p.cost), (3, 315));
        // Sell 5 at 90: closes 3 (cost 315, exit 270: -45), opens 2 short.
        assert_eq!(add_fill(&mut p, false, 5, 90, 3), -45);
        assert_eq!((p.amt, p.cost), (-2, 180));
        // Buy back 2 at 50: a short gains 80.
        assert_eq!(add_fill(&mut p, true, 2, 50, 4), 80);
        assert_eq!((p.amt, p.cost), (0, 0));
    }

    #[test]
    fn fees_margin_and_rescaling() {
        let a = Account::default();
        // 61800.0 USDT notional: taker 0.05 % = 30.9, maker 0.02 % = 12.36.
        let n = 61_800 * 10i128.pow(USDT_SCALE);
        assert_eq!(usdt(a.commission(n, false)), "30.90000000");
        assert_eq!(usdt(a.commission(n, true)), "12.36000000");
        assert_eq!(usdt(a.margin(n)), "3090.00000000");
        assert_eq!(rescale(12_345, 3, 1), 123);
        assert_eq!(rescale(-12_355, 3, 1), -124);
        assert_eq!(rescale(5, 1, 3), 500);
        assert_eq!(usdt(-1), "-0.00000001");
    }
}
