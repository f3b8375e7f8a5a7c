//! The user-data-stream events the simulated account produces, written in
//! Binance USD-M's wire format (protocols.md §1.6 and the recorded samples
//! `futures_ORDER_TRADE_UPDATE_*`, `futures_TRADE_LITE_DOCS`,
//! `futures_ACCOUNT_UPDATE_DOCS`): `ORDER_TRADE_UPDATE` (`x` NEW / TRADE /
//! CANCELED / EXPIRED), `TRADE_LITE` (one per fill, sent before the fill's
//! `ORDER_TRADE_UPDATE`), `ACCOUNT_UPDATE` (`a.m` = "ORDER") and
//! `listenKeyExpired`. Numbers are strings, ids and times ints, as Binance.

use super::account::{Position, rescale, usdt};
use super::order_api::fmt_scaled;
use super::orders::SimOrder;
use crate::state::Inner;
use serde_json::json;

/// What an event is, for the stream faults (reordering NEW after TRADE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EvKind {
    /// `ORDER_TRADE_UPDATE` with `x` = NEW (the ack of a new order).
    New,
    /// `ORDER_TRADE_UPDATE` with `x` = TRADE, or a `TRADE_LITE`.
    Trade,
    /// Anything else.
    Other,
}

/// One event for the account's private stream.
#[derive(Debug, Clone)]
pub(crate) struct PrivEvent {
    pub kind: EvKind,
    pub text: String,
}

/// The fill an `ORDER_TRADE_UPDATE`/`TRADE_LITE` reports.
#[derive(Debug, Clone)]
pub(crate) struct FillInfo {
    pub trade_id: i64,
    pub px: i64,
    pub qty: i64,
    pub maker: bool,
    /// Commission (in `commission_asset`, `None`: USDT) and realized PnL
    /// (USDT), at 8 decimals.
    pub commission: i128,
    pub commission_asset: Option<std::sync::Arc<str>>,
    pub realized: i128,
}

/// The order's average fill price (`ap`/`avgPrice`), one decimal finer than
/// the tick; "0" with those decimals before any fill.
pub(crate) fn avg_price(o: &SimOrder, price_scale: u32) -> String {
    if o.executed > 0 {
        let q = o.quote * 10 / i128::from(o.executed);
        fmt_scaled(q, price_scale + 1, price_scale + 1)
    } else {
        fmt_scaled(0, 0, price_scale + 1)
    }
}

/// `ORDER_TRADE_UPDATE` of `o` with execution type `x` (its status `X` is
/// the order's current one); `fill` for `x` = TRADE.
pub(crate) fn order_update(
    inner: &Inner,
    o: &SimOrder,
    x: &str,
    fill: Option<FillInfo>,
    now: i64,
) -> PrivEvent {
    let info = &inner.syms[o.sym].info;
    let ps = u32::from(info.price_scale);
    let typ = if o.market { "MARKET" } else { "LIMIT" };
    let f = fill.unwrap_or(FillInfo {
        trade_id: 0,
        px: 0,
        qty: 0,
        maker: false,
        commission: 0,
        commission_asset: None,
        realized: 0,
    });
    let text = json!({
        "e": "ORDER_TRADE_UPDATE",
        "T": now,
        "E": now,
        "o": {
            "s": info.symbol,
            "c": o.client_order_id,
            "S": if o.buy { "BUY" } else { "SELL" },
            "o": typ,
            "f": o.tif,
            "q": info.qty(o.qty),
            "p": info.px(o.price),
            "ap": avg_price(o, ps),
            "sp": info.px(0),
            "x": x,
            "X": o.status,
            "i": o.order_id,
            "l": info.qty(f.qty),
            "z": info.qty(o.executed),
            "L": info.px(f.px),
            "N": f.commission_asset.as_deref().unwrap_or("USDT"),
            "n": usdt(f.commission),
            "T": now,
            "t": f.trade_id,
            "b": "0",
            "a": "0",
            "m": f.maker,
            "R": o.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": typ,
            "ps": "BOTH",
            "cp": false,
            "rp": usdt(f.realized),
            "pP": false,
            "si": 0,
            "ss": 0,
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
        }
    })
    .to_string();
    let kind = match x {
        "NEW" => EvKind::New,
        "TRADE" => EvKind::Trade,
        _ => EvKind::Other,
    };
    PrivEvent { kind, text }
}

/// `TRADE_LITE` of one fill of `o`.
pub(crate) fn trade_lite(inner: &Inner, o: &SimOrder, f: FillInfo, now: i64) -> PrivEvent {
    let info = &inner.syms[o.sym].info;
    let text = json!({
        "e": "TRADE_LITE",
        "E": now,
        "T": now,
        "s": info.symbol,
        "q": info.qty(o.qty),
        "p": info.px(o.price),
        "m": f.maker,
        "c": o.client_order_id,
        "S": if o.buy { "BUY" } else { "SELL" },
        "L": info.px(f.px),
        "l": info.qty(f.qty),
        "t": f.trade_id,
        "i": o.order_id,
    })
    .to_string();
    PrivEvent {
        kind: EvKind::Trade,
        text,
    }
}

/// The entry price of a position (one decimal finer than the tick).
pub(crate) fn entry_price(p: &Position, price_scale: u32) -> String {
    if p.amt != 0 {
        fmt_scaled(
            p.cost * 10 / i128::from(p.amt.abs()),
            price_scale + 1,
            price_scale + 1,
        )
    } else {
        fmt_scaled(0, 0, price_scale + 1)
    }
}

/// Unrealized PnL of a position at `mark` (USDT at 8 decimals).
pub(crate) fn unrealized(p: &Position, mark: i64, price_scale: u32, qty_scale: u32) -> i128 {
    if p.amt == 0 || mark == 0 {
        return 0;
    }
    let signed_cost = if p.amt > 0 { p.cost } else { -p.cost };
    let v = i128::from(p.amt) * i128::from(mark) - signed_cost;
    rescale(v, price_scale + qty_scale, 8)
}

/// `ACCOUNT_UPDATE` (`a.m` = "ORDER") with the USDT balance and the
/// position of symbol `sym`.
pub(crate) fn account_update(
    inner: &Inner,
    wallet: i128,
    sym: usize,
    p: &Position,
    now: i64,
) -> PrivEvent {
    let info = &inner.syms[sym].info;
    let (ps, qs) = (u32::from(info.price_scale), u32::from(info.qty_scale));
    let mark = inner.mid(sym).unwrap_or(0);
    let text = json!({
        "e": "ACCOUNT_UPDATE",
        "T": now,
        "E": now,
        "a": {
            "m": "ORDER",
            "B": [{ "a": "USDT", "wb": usdt(wallet), "cw": usdt(wallet), "bc": "0" }],
            "P": [{
                "s": info.symbol,
                "pa": info.qty(p.amt),
                "ep": entry_price(p, ps),
                "bep": entry_price(p, ps),
                "cr": usdt(p.realized),
                "up": usdt(unrealized(p, mark, ps, qs)),
                "mt": "cross",
                "iw": "0",
                "ps": "BOTH",
            }],
        }
    })
    .to_string();
    PrivEvent {
        kind: EvKind::Other,
        text,
    }
}

/// `listenKeyExpired` for `key`.
pub(crate) fn listen_key_expired(key: &str, now: i64) -> String {
    json!({ "e": "listenKeyExpired", "E": now, "listenKey": key }).to_string()
}
