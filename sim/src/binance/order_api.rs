//! Binance USD-M's signed order endpoints on the simulator's HTTP server
//! (protocols.md "Order entry"): `POST/GET/DELETE /fapi/v1/order`,
//! `GET /fapi/v1/openOrders` and `GET /fapi/v3/positionRisk`, each charged
//! to the client IP's REST weight (new order 0, cancel/query 1, openOrders 1
//! or 40 without a symbol, positionRisk 5), authenticated (`auth`) and
//! answered from the order desk (`orders`) with Binance's JSON bodies.

use super::auth::{
    Params, Refusal, authenticate, bad, err, only, param, respond, split_params, symbol_of,
};
use super::events::{avg_price, order_update};
use super::faults::NewOrderFault;
use super::orders::{MSG_UNKNOWN_ORDER, REF_PARAMS, SimOrder, find, place};
use super::rest::weighed;
use crate::decimal::unix_ms;
use crate::server::json_ok;
use crate::state::Inner;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;

type Shared = Arc<Inner>;

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route(
            "/fapi/v1/order",
            get(query_order).post(new_order).delete(cancel_order),
        )
        .route("/fapi/v1/openOrders", get(open_orders))
        .route("/fapi/v3/positionRisk", get(position_risk))
}

/// Formats `v` at `from` decimals with `to` decimals (rounded half away
/// from zero when dropping digits).
pub(super) fn fmt_scaled(v: i128, from: u32, to: u32) -> String {
    let v = if to >= from {
        v * 10i128.pow(to - from)
    } else {
        let d = 10i128.pow(from - to);
        let half = d / 2;
        if v >= 0 {
            (v + half) / d
        } else {
            (v - half) / d
        }
    };
    let p = 10i128.pow(to);
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let p = p as u128;
    if to == 0 {
        format!("{sign}{a}")
    } else {
        format!("{sign}{}.{:0w$}", a / p, a % p, w = to as usize)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderJson<'a> {
    order_id: i64,
    symbol: &'a str,
    status: &'a str,
    client_order_id: &'a str,
    price: String,
    avg_price: String,
    orig_qty: String,
    executed_qty: String,
    cum_qty: String,
    cum_quote: String,
    time_in_force: &'a str,
    #[serde(rename = "type")]
    order_type: &'a str,
    reduce_only: bool,
    close_position: bool,
    side: &'a str,
    position_side: &'a str,
    stop_price: String,
    working_type: &'a str,
    price_protect: bool,
    orig_type: &'a str,
    price_match: &'a str,
    self_trade_prevention_mode: &'a str,
    good_till_date: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<i64>,
    update_time: i64,
}

pub(super) fn order_value(inner: &Inner, o: &SimOrder, with_time: bool) -> serde_json::Value {
    let info = &inner.syms[o.sym].info;
    let (ps, qs) = (u32::from(info.price_scale), u32::from(info.qty_scale));
    // avgPrice = cumQuote / executedQty, one decimal finer than the tick.
    let avg = avg_price(o, ps);
    let typ = if o.market { "MARKET" } else { "LIMIT" };
    let j = OrderJson {
        order_id: o.order_id,
        symbol: &info.symbol,
        status: o.status,
        client_order_id: &o.client_order_id,
        price: info.px(o.price),
        avg_price: avg,
        orig_qty: info.qty(o.qty),
        executed_qty: info.qty(o.executed),
        cum_qty: info.qty(o.executed),
        cum_quote: fmt_scaled(o.quote, ps + qs, ps + qs),
        time_in_force: o.tif,
        order_type: typ,
        reduce_only: o.reduce_only,
        close_position: false,
        side: if o.buy { "BUY" } else { "SELL" },
        position_side: "BOTH",
        stop_price: info.px(0),
        working_type: "CONTRACT_PRICE",
        price_protect: false,
        orig_type: typ,
        price_match: "NONE",
        self_trade_prevention_mode: "EXPIRE_MAKER",
        good_till_date: 0,
        time: with_time.then_some(o.time),
        update_time: o.update_time,
    };
    serde_json::to_value(&j).unwrap_or_default()
}

pub(super) fn order_json(inner: &Inner, o: &SimOrder, with_time: bool) -> Response {
    json_ok(order_value(inner, o, with_time).to_string())
}

/// `-1007`: the order's fate is unknown to the client (Binance).
const MSG_BACKEND_TIMEOUT: &str = "Timeout waiting for response from backend server. Send status unknown; execution status unknown.";
const MSG_INTERNAL_ERROR: &str =
    "Internal error; unable to process your request. Please try again.";

/// `POST /fapi/v1/order`: counts the request under its `newClientOrderId`,
/// then places the order, unless an armed fault answers otherwise (see
/// [`NewOrderFault`]).
async fn new_order(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let mut seen = Params::new();
    split_params(q.as_deref().unwrap_or(""), &mut seen);
    split_params(std::str::from_utf8(&body).unwrap_or(""), &mut seen);
    inner
        .order_faults
        .count_request(param(&seen, "newClientOrderId"));
    let mut delay = None;
    let resp = signed(
        &inner,
        peer,
        0,
        &headers,
        q.as_deref(),
        &body,
        |inner, p| match inner.order_faults.next_new_order() {
            None => place(inner, p),
            Some(NewOrderFault::NotPlaced500) => Err(err(
                StatusCode::INTERNAL_SERVER_ERROR,
                -1001,
                MSG_INTERNAL_ERROR,
            )),
            Some(NewOrderFault::Placed503) => {
                place(inner, p)?;
                Err(err(
                    StatusCode::SERVICE_UNAVAILABLE,
                    -1007,
                    MSG_BACKEND_TIMEOUT,
                ))
            }
            Some(NewOrderFault::Delay(d)) => {
                delay = Some(d);
                place(inner, p)
            }
        },
    );
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    resp
}

/// Serves one signed request: charges its IP weight, authenticates it, and
/// answers with `reply`'s response or Binance's error body.
pub(super) fn signed(
    inner: &Shared,
    peer: SocketAddr,
    weight: u64,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
    reply: impl FnOnce(&Inner, &Params) -> Result<Response, Refusal>,
) -> Response {
    weighed(inner, peer, weight, || {
        respond(authenticate(&inner.orders, headers, query, body).and_then(|p| reply(inner, &p)))
    })
}

async fn cancel_order(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    signed(
        &inner,
        peer,
        1,
        &headers,
        q.as_deref(),
        &body,
        cancel_order_reply,
    )
}

fn cancel_order_reply(inner: &Inner, p: &Params) -> Result<Response, Refusal> {
    only(p, REF_PARAMS)?;
    let mut st = inner.orders.state.lock();
    let id = find(inner, &st, p)?;
    let Some(o) = st.orders.get_mut(&id).filter(|o| o.is_open()) else {
        return Err(bad(-2011, MSG_UNKNOWN_ORDER));
    };
    let now = unix_ms();
    o.status = "CANCELED";
    o.update_time = now;
    let o = o.clone();
    st.open.remove(&id);
    inner
        .user
        .emit(&[order_update(inner, &o, "CANCELED", None, now)]);
    drop(st);
    Ok(order_json(inner, &o, false))
}

async fn query_order(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    signed(
        &inner,
        peer,
        1,
        &headers,
        q.as_deref(),
        &body,
        query_order_reply,
    )
}

fn query_order_reply(inner: &Inner, p: &Params) -> Result<Response, Refusal> {
    only(p, REF_PARAMS)?;
    let st = inner.orders.state.lock();
    let o = match find(inner, &st, p) {
        Ok(id) => st.orders[&id].clone(),
        Err(_) => return Err(bad(-2013, "Order does not exist.")),
    };
    drop(st);
    Ok(order_json(inner, &o, true))
}

async fn open_orders(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let has_symbol = q.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.starts_with("symbol=") && kv.len() > 7)
    });
    let weight = if has_symbol { 1 } else { 40 };
    signed(
        &inner,
        peer,
        weight,
        &headers,
        q.as_deref(),
        &body,
        open_orders_reply,
    )
}

fn open_orders_reply(inner: &Inner, p: &Params) -> Result<Response, Refusal> {
    only(p, &["symbol"])?;
    let sym = match param(p, "symbol") {
        None => None,
        Some(_) => Some(symbol_of(inner, p)?),
    };
    let st = inner.orders.state.lock();
    let mut open: Vec<&SimOrder> = st
        .orders
        .values()
        .filter(|o| o.is_open() && sym.is_none_or(|s| s == o.sym))
        .collect();
    open.sort_by_key(|o| o.order_id);
    let list: Vec<serde_json::Value> = open.iter().map(|o| order_value(inner, o, true)).collect();
    drop(st);
    Ok(json_ok(serde_json::Value::Array(list).to_string()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PositionJson<'a> {
    symbol: &'a str,
    position_amt: String,
    entry_price: String,
    break_even_price: String,
    mark_price: String,
    un_realized_profit: String,
    liquidation_price: &'a str,
    leverage: &'a str,
    max_notional_value: &'a str,
    margin_type: &'a str,
    isolated_margin: &'a str,
    is_auto_add_margin: &'a str,
    position_side: &'a str,
    notional: String,
    isolated_wallet: &'a str,
    update_time: i64,
}

async fn position_risk(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    signed(
        &inner,
        peer,
        5,
        &headers,
        q.as_deref(),
        &body,
        position_risk_reply,
    )
}

fn position_risk_reply(inner: &Inner, p: &Params) -> Result<Response, Refusal> {
    only(p, &["symbol"])?;
    let only_sym = match param(p, "symbol") {
        None => None,
        Some(_) => Some(symbol_of(inner, p)?),
    };
    let positions = inner.orders.state.lock().positions.clone();
    let mut out = Vec::new();
    for (i, slot) in inner.syms.iter().enumerate() {
        if only_sym.is_some_and(|s| s != i) {
            continue;
        }
        let info = &slot.info;
        let (ps, qs) = (u32::from(info.price_scale), u32::from(info.qty_scale));
        let pos = positions.get(&i).copied().unwrap_or_default();
        let mark = inner
            .book(&info.symbol)
            .and_then(|b| Some((b.bids.first()?.0 + b.asks.first()?.0) / 2))
            .unwrap_or(0);
        let amt = i128::from(pos.amt);
        let entry = if pos.amt != 0 {
            fmt_scaled(pos.cost * 10 / amt.abs(), ps + 1, ps + 1)
        } else {
            fmt_scaled(0, 0, 1)
        };
        // Signed entry cost vs. mark value, at price + qty scale.
        let signed_cost = if pos.amt >= 0 { pos.cost } else { -pos.cost };
        let mark_value = amt * i128::from(mark);
        let upnl = mark_value - signed_cost;
        out.push(
            serde_json::to_value(PositionJson {
                symbol: &info.symbol,
                position_amt: info.qty(pos.amt),
                break_even_price: entry.clone(),
                entry_price: entry,
                mark_price: fmt_scaled(i128::from(mark), ps, ps + 2),
                un_realized_profit: fmt_scaled(upnl, ps + qs, 8),
                liquidation_price: "0",
                leverage: "20",
                max_notional_value: "250000",
                margin_type: "cross",
                isolated_margin: "0.00000000",
                is_auto_add_margin: "false",
                position_side: "BOTH",
                notional: fmt_scaled(mark_value, ps + qs, 8),
                isolated_wallet: "0",
                update_time: pos.update_time,
            })
            .unwrap_or_default(),
        );
    }
    Ok(json_ok(serde_json::Value::Array(out).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::auth::{Params, hex_decode, pct_decode, split_params};

    #[test]
    fn formats_and_decodes() {
        assert_eq!(fmt_scaled(123456, 3, 3), "123.456");
        assert_eq!(fmt_scaled(123456, 3, 5), "123.45600");
        assert_eq!(fmt_scaled(123456, 3, 1), "123.5");
        assert_eq!(fmt_scaled(-123456, 3, 2), "-123.46");
        assert_eq!(fmt_scaled(5, 0, 0), "5");
        assert_eq!(pct_decode("a%20b%3D+c%zz%4"), "a b= c%zz%4");
        let mut p = Params::new();
        let (signed, sig) = split_params("a=1&signature=ab&b=%41", &mut p);
        assert_eq!((signed.as_str(), sig.as_deref()), ("a=1&b=%41", Some("ab")));
        assert_eq!(p, vec![("a".into(), "1".into()), ("b".into(), "A".into())]);
        assert_eq!(hex_decode("0aff"), Some(vec![10, 255]));
        assert_eq!(hex_decode("0g"), None);
    }
}
