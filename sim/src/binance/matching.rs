//! Matching the simulated account's orders against the market, and booking
//! each fill: order quantities, position, wallet (realized PnL less
//! commission), a kept trade with its own id, and the stream events
//! (`TRADE_LITE`, then the `ORDER_TRADE_UPDATE` TRADE; one
//! `ACCOUNT_UPDATE` after a batch of fills).
//!
//! * At submission an order takes liquidity from the symbol's current
//!   ground-truth book at the book's prices (taker fee).
//! * A resting GTC LIMIT order fills later when the market crosses it: after
//!   each generator tick, a buy at P fills against the asks at or below P
//!   (a sell against the bids at or above P), at the order's price P (maker
//!   fee), up to the crossing quantity: partial fills happen when less
//!   crosses than the order has left.
//!
//! Fills do not remove liquidity from the simulated book, so the market
//! streams stay independent of order entry (a resting order may fill again
//! on a later tick against the same level). Lock order: the order desk's
//! lock first, then a symbol's book lock, never the reverse.

use super::account::{SimTrade, USDT_SCALE, add_fill, keep_trade, rescale};
use super::events::{FillInfo, PrivEvent, account_update, order_update, trade_lite};
use super::orders::DeskState;
use crate::state::Inner;

/// Books one fill of order `id` at `px` for `qty`; pushes its events.
pub(super) fn fill(
    inner: &Inner,
    st: &mut DeskState,
    id: i64,
    (px, qty): (i64, i64),
    maker: bool,
    now: i64,
    out: &mut Vec<PrivEvent>,
) {
    let Some(o) = st.orders.get_mut(&id) else {
        return;
    };
    let info = &inner.syms[o.sym].info;
    let scale = u32::from(info.price_scale) + u32::from(info.qty_scale);
    let notional = i128::from(qty) * i128::from(px);
    o.executed += qty;
    o.quote += notional;
    o.update_time = now;
    o.status = if o.executed >= o.qty {
        "FILLED"
    } else {
        "PARTIALLY_FILLED"
    };
    let pos = st.positions.entry(o.sym).or_default();
    let realized = rescale(add_fill(pos, o.buy, qty, px, now), scale, USDT_SCALE);
    pos.realized += realized;
    let commission = st
        .account
        .commission(rescale(notional, scale, USDT_SCALE), maker);
    let (commission, commission_asset) = st.account.charge(commission);
    st.account.wallet += realized;
    st.account.update_time = now;
    st.next_trade_id += 1;
    let f = FillInfo {
        trade_id: st.next_trade_id,
        px,
        qty,
        maker,
        commission,
        commission_asset: commission_asset.clone(),
        realized,
    };
    keep_trade(
        &mut st.trades,
        SimTrade {
            id: f.trade_id,
            order_id: id,
            sym: o.sym,
            buy: o.buy,
            px,
            qty,
            realized,
            commission,
            commission_asset,
            time: now,
            maker,
        },
    );
    if !o.is_open() {
        st.open.remove(&id);
    }
    inner
        .order_faults
        .fills
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    out.push(trade_lite(inner, o, f.clone(), now));
    out.push(order_update(inner, o, "TRADE", Some(f), now));
}

/// `ACCOUNT_UPDATE` for symbol `sym` after fills.
pub(super) fn account_event(inner: &Inner, st: &DeskState, sym: usize, now: i64) -> PrivEvent {
    let pos = st.positions.get(&sym).copied().unwrap_or_default();
    account_update(inner, st.account.wallet, sym, &pos, now)
}

/// Takes liquidity for a new order `id` from its symbol's current book
/// (taker fills at the levels' prices).
pub(super) fn take_liquidity(
    inner: &Inner,
    st: &mut DeskState,
    id: i64,
    now: i64,
    out: &mut Vec<PrivEvent>,
) {
    let Some(o) = st.orders.get(&id) else {
        return;
    };
    let (sym, buy, market, limit, mut left) = (o.sym, o.buy, o.market, o.price, o.qty - o.executed);
    let levels = {
        let s = inner.syms[sym].state.lock();
        if buy {
            s.book.top_asks(usize::MAX)
        } else {
            s.book.top_bids(usize::MAX)
        }
    };
    for (px, qty) in levels {
        if left <= 0 {
            break;
        }
        let crosses = market || if buy { px <= limit } else { px >= limit };
        if !crosses {
            break;
        }
        let q = left.min(qty);
        if q <= 0 {
            continue;
        }
        fill(inner, st, id, (px, q), false, now, out);
        left -= q;
    }
}

/// The crossing quantity for a resting order at `price` in the symbol's
/// current book.
fn crossing_qty(inner: &Inner, sym: usize, buy: bool, price: i64) -> i64 {
    let s = inner.syms[sym].state.lock();
    if buy {
        s.book.asks.range(..=price).map(|(_, q)| *q).sum()
    } else {
        s.book.bids.range(price..).map(|(_, q)| *q).sum()
    }
}

/// Fills the resting orders of symbol `sym` that the market now crosses
/// (called after each generator tick); sends their events.
pub(crate) fn on_market(inner: &Inner, sym: usize) {
    let mut st = inner.orders.state.lock();
    if !st
        .open
        .iter()
        .any(|id| st.orders.get(id).is_some_and(|o| o.sym == sym))
    {
        return;
    }
    let ids: Vec<i64> = st.open.iter().copied().collect();
    let now = crate::decimal::unix_ms();
    let mut out = Vec::new();
    for id in ids {
        let Some(o) = st.orders.get(&id).filter(|o| o.sym == sym && o.is_open()) else {
            continue;
        };
        let (buy, price, left) = (o.buy, o.price, o.qty - o.executed);
        let q = crossing_qty(inner, sym, buy, price).min(left);
        if q > 0 {
            fill(inner, &mut st, id, (price, q), true, now, &mut out);
        }
    }
    if !out.is_empty() {
        out.push(account_event(inner, &st, sym, now));
        inner.user.emit(&out);
    }
}

/// Cancels the open orders of `sym` (all symbols for `None`); returns how
/// many, and pushes a CANCELED `ORDER_TRADE_UPDATE` for each.
pub(super) fn cancel_all(
    inner: &Inner,
    st: &mut DeskState,
    sym: Option<usize>,
    now: i64,
    out: &mut Vec<PrivEvent>,
) -> usize {
    let ids: Vec<i64> = st
        .open
        .iter()
        .copied()
        .filter(|id| {
            st.orders
                .get(id)
                .is_some_and(|o| sym.is_none_or(|s| s == o.sym))
        })
        .collect();
    for id in &ids {
        if let Some(o) = st.orders.get_mut(id) {
            o.status = "CANCELED";
            o.update_time = now;
            out.push(order_update(inner, o, "CANCELED", None, now));
        }
        st.open.remove(id);
    }
    ids.len()
}
