//! Fills of our orders the venue made while the engine was down (pure,
//! venue-agnostic): per journal-open order, the venue's filled quantity
//! beyond the journal's is taken from the venue's trades of that order
//! (newest first, the ones the journal lacks: the engine hears an order's
//! trades in order, so the journaled quantity is the oldest trades'),
//! skipping trade ids the journal already holds. Applied once at start, as
//! fills, before the position comparison; a second start finds the
//! journal's filled quantity equal to the venue's and applies nothing.

use crate::core::{InstrumentId, Side};
use crate::exec::reconcile::{KnownOrder, VenueTrade};
use std::collections::HashSet;

/// One of our orders as the venue reports it at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueFilled {
    pub client_id: String,
    pub venue_order_id: String,
    /// The venue's filled quantity (scaled).
    pub filled: i64,
}

/// A trade to apply as a fill of journal order `client_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissedFill {
    pub client_id: String,
    pub inst: InstrumentId,
    pub side: Side,
    pub trade: VenueTrade,
}

impl MissedFill {
    /// Signed quantity (buy > 0).
    pub fn signed(&self) -> i64 {
        self.side.sign() * self.trade.qty
    }
}

/// The fills to apply: for each journal-open order in `journal` that the
/// venue reports in `venue` with more filled than the journal holds, its
/// trades in `trades` (oldest first in the result) that cover the
/// difference, none in `seen` (trade ids the journal holds). A difference
/// the trades do not cover (trades beyond the venue's page) is left to the
/// position comparison.
pub fn missed_fills(
    journal: &[KnownOrder],
    venue: &[VenueFilled],
    trades: &[VenueTrade],
    seen: &HashSet<i64>,
) -> Vec<MissedFill> {
    let mut out = Vec::new();
    for k in journal {
        let Some(v) = venue.iter().find(|v| v.client_id == k.client_id) else {
            continue;
        };
        let mut left = v.filled.min(k.qty) - k.filled;
        if left <= 0 {
            continue;
        }
        let mut own: Vec<&VenueTrade> = trades
            .iter()
            .filter(|t| t.venue_order_id == v.venue_order_id && t.inst == k.inst)
            .collect();
        own.sort_by_key(|t| std::cmp::Reverse(t.trade_id));
        let mut take = Vec::new();
        for t in own {
            if left <= 0 {
                break;
            }
            if seen.contains(&t.trade_id) || t.qty <= 0 || t.qty > left || t.side != k.side {
                continue;
            }
            left -= t.qty;
            take.push(MissedFill {
                client_id: k.client_id.clone(),
                inst: k.inst,
                side: k.side,
                trade: t.clone(),
            });
        }
        take.reverse();
        out.extend(take);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Money;

    fn trade(id: i64, order: &str, qty: i64) -> VenueTrade {
        VenueTrade {
            trade_id: id,
            venue_order_id: order.into(),
            inst: InstrumentId(0),
            side: Side::Buy,
            qty,
            price: 100,
            fee: Money::ZERO,
            fee_asset: "USDT".into(),
            time_ms: 0,
        }
    }

    fn known(cid: &str, qty: i64, filled: i64) -> KnownOrder {
        KnownOrder {
            client_id: cid.into(),
            inst: InstrumentId(0),
            side: Side::Buy,
            qty,
            filled,
        }
    }

    fn at(cid: &str, vid: &str, filled: i64) -> VenueFilled {
        VenueFilled {
            client_id: cid.into(),
            venue_order_id: vid.into(),
            filled,
        }
    }

    #[test]
    fn the_trades_beyond_the_journal_are_applied_once() {
        let trades = [
            trade(1, "9", 2),
            trade(2, "9", 3),
            trade(3, "8", 5),
            trade(4, "9", 1),
        ];
        // The journal heard trade 1 (2 of 6); trades 2 and 4 are missed.
        let j = [known("a", 10, 2)];
        let got = missed_fills(&j, &[at("a", "9", 6)], &trades, &HashSet::new());
        let ids: Vec<i64> = got.iter().map(|m| m.trade.trade_id).collect();
        assert_eq!(ids, [2, 4]);
        assert_eq!(got.iter().map(MissedFill::signed).sum::<i64>(), 4);
        // After they are journaled the journal's filled is the venue's.
        let j = [known("a", 10, 6)];
        assert!(missed_fills(&j, &[at("a", "9", 6)], &trades, &HashSet::new()).is_empty());
        // A trade id the journal holds is never taken again.
        let j = [known("a", 10, 2)];
        let seen: HashSet<i64> = [4].into();
        let got = missed_fills(&j, &[at("a", "9", 6)], &trades, &seen);
        let ids: Vec<i64> = got.iter().map(|m| m.trade.trade_id).collect();
        assert_eq!(ids, [2]);
        // An order the venue does not report, or not ours: nothing.
        assert!(missed_fills(&j, &[at("b", "9", 6)], &trades, &HashSet::new()).is_empty());
    }
}
