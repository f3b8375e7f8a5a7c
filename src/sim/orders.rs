//! Binance USD-M signed order endpoints, simulated on the simulator's HTTP
//! server: `POST/GET/DELETE /fapi/v1/order`, `GET /fapi/v1/openOrders` and
//! `GET /fapi/v3/positionRisk`.
//!
//! Security as Binance: the `X-MBX-APIKEY` header must be the configured
//! test key (`-2014`/`-2015`, HTTP 401); `timestamp` is mandatory and must
//! satisfy `timestamp < serverTime + 1000` and `serverTime - timestamp <=
//! recvWindow` (default 5000, at most 60000; else `-1021`); `signature` is
//! the lowercase hex HMAC-SHA256 of the query string concatenated with the
//! form body, without the `signature` parameter (else `-1022`, HTTP 400,
//! as Binance answers it).
//! Parameters are validated (`-1102` missing, `-1106` not required, `-1104`
//! unknown, `-1121` symbol, ...). Weights go through the simulator's IP
//! weight limiter (new order 0, cancel/query 1, openOrders 1 or 40 without
//! a symbol, positionRisk 5); new orders also count against the account's
//! order limits (300 per 10 s, 1200 per minute: HTTP 429, `-1015` and
//! `Retry-After` until the window makes room), reported in
//! `X-MBX-ORDER-COUNT-10S`/`-1M`.
//!
//! Matching: MARKET and LIMIT orders take liquidity from the symbol's
//! current ground-truth book at submission (an IOC's unfilled remainder is
//! EXPIRED; a GTC's rests, open until canceled, and does not trade later).
//! Fills do not remove liquidity from the simulated book, so the market
//! streams stay independent of order entry. Positions (one-way mode,
//! `positionSide` BOTH) are the sum of the fills. Orders kept are bounded
//! ([`MAX_ORDERS`]); the oldest finished ones are forgotten first.

use super::Inner;
use super::server::{binance_error, json_ok, weighed};
use crate::core::clock::unix_ms;
use crate::core::parse_decimal;
use crate::venue::binance::signed::{
    DEFAULT_RECV_WINDOW_MS, ORDER_COUNT_1M_HEADER, ORDER_COUNT_10S_HEADER,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde::Serialize;
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The API key the simulator accepts unless told otherwise.
pub const SIM_API_KEY: &str = "qt-sim-api-key-7c1e0f5a9b2d4e6f8a0b";
/// The API secret the simulator verifies signatures with unless told otherwise.
pub const SIM_API_SECRET: &str = "qt-sim-api-secret-3e9d1b7f5c2a4068ae1f";
/// Orders kept for query/cancel.
pub const MAX_ORDERS: usize = 10_000;
/// Binance USD-M order limits per account.
const ORDERS_PER_10S: usize = 300;
const ORDERS_PER_MIN: usize = 1200;

const MSG_BAD_SIG: &str = "Signature for this request is not valid.";
const MSG_BAD_KEY: &str = "Invalid API-key, IP, or permissions for action.";
const MSG_KEY_FORMAT: &str = "API-key format invalid.";
const MSG_RECV_WINDOW: &str = "Timestamp for this request is outside of the recvWindow.";
const MSG_AHEAD: &str = "Timestamp for this request was 1000ms ahead of the server's time.";
const MSG_BAD_SYMBOL: &str = "Invalid symbol.";
const MSG_UNKNOWN_ORDER: &str = "Unknown order sent.";

type Shared = Arc<Inner>;
type Params = Vec<(String, String)>;

/// One order the simulated account has.
#[derive(Debug, Clone)]
struct SimOrder {
    order_id: i64,
    sym: usize,
    client_order_id: String,
    buy: bool,
    market: bool,
    tif: &'static str,
    /// Scaled price (0 for MARKET).
    price: i64,
    qty: i64,
    executed: i64,
    /// Sum of price × qty, at price scale + qty scale.
    quote: i128,
    status: &'static str,
    reduce_only: bool,
    time: i64,
    update_time: i64,
}

impl SimOrder {
    fn is_open(&self) -> bool {
        matches!(self.status, "NEW" | "PARTIALLY_FILLED")
    }
}

/// Position of one symbol (one-way mode).
#[derive(Debug, Clone, Copy, Default)]
struct Position {
    /// Signed scaled quantity.
    amt: i64,
    /// Entry cost of `|amt|`, at price scale + qty scale.
    cost: i128,
    update_time: i64,
}

#[derive(Debug, Default)]
struct DeskState {
    next_id: i64,
    orders: HashMap<i64, SimOrder>,
    /// Order ids, oldest first (for eviction).
    order_ids: VecDeque<i64>,
    positions: HashMap<usize, Position>,
    /// When recent new orders came (the last minute's).
    order_times: VecDeque<Instant>,
}

/// The simulated account: credentials, orders, positions.
#[derive(Debug)]
pub(crate) struct OrderDesk {
    creds: Mutex<(String, String)>,
    state: Mutex<DeskState>,
}

impl Default for OrderDesk {
    fn default() -> Self {
        OrderDesk {
            creds: Mutex::new((SIM_API_KEY.into(), SIM_API_SECRET.into())),
            state: Mutex::new(DeskState {
                next_id: 8_389_765_000,
                ..DeskState::default()
            }),
        }
    }
}

impl OrderDesk {
    pub fn set_credentials(&self, key: &str, secret: &str) {
        *self.creds.lock() = (key.to_string(), secret.to_string());
    }
}

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route(
            "/fapi/v1/order",
            get(query_order).post(new_order).delete(cancel_order),
        )
        .route("/fapi/v1/openOrders", get(open_orders))
        .route("/fapi/v3/positionRisk", get(position_risk))
}

// ---------------------------------------------------------------- security

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                match hex.and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `a=1&b=2` into decoded pairs and the raw text without its
/// `signature` parameter (what was signed); also returns the signature.
fn split_params(raw: &str, params: &mut Params) -> (String, Option<String>) {
    let mut signed = Vec::new();
    let mut sig = None;
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        if k == "signature" {
            sig = Some(pct_decode(v));
        } else {
            signed.push(part);
            params.push((pct_decode(k), pct_decode(v)));
        }
    }
    (signed.join("&"), sig)
}

fn param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A request refused with Binance's error body.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: i64,
    msg: String,
    /// `Retry-After` seconds (order-rate refusals).
    retry_after_s: Option<u64>,
}

fn respond(r: Result<Response, Refusal>) -> Response {
    r.unwrap_or_else(|e| {
        let mut resp = binance_error(e.status, e.code, &e.msg);
        if let Some(s) = e.retry_after_s {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    })
}

fn err(status: StatusCode, code: i64, msg: &str) -> Refusal {
    Refusal {
        status,
        code,
        msg: msg.to_string(),
        retry_after_s: None,
    }
}

/// Seconds until the order at `t` leaves a `window` (at least 1).
fn secs_left(t: Instant, now: Instant, window: Duration) -> u64 {
    let left = (t + window).saturating_duration_since(now);
    left.as_millis().div_ceil(1000).max(1) as u64
}

fn bad(code: i64, msg: &str) -> Refusal {
    err(StatusCode::BAD_REQUEST, code, msg)
}

fn missing(name: &str) -> Refusal {
    bad(
        -1102,
        &format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    )
}

fn not_required(name: &str) -> Refusal {
    bad(
        -1106,
        &format!("Parameter '{name}' sent when not required."),
    )
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks key, timestamp and signature; returns the parameters (without
/// `signature`) or Binance's error reply.
fn authenticate(
    desk: &OrderDesk,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Params, Refusal> {
    let (key, secret) = desk.creds.lock().clone();
    let sent_key = headers
        .get("x-mbx-apikey")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sent_key.is_empty() {
        return Err(err(StatusCode::UNAUTHORIZED, -2014, MSG_KEY_FORMAT));
    }
    if sent_key != key {
        return Err(err(StatusCode::UNAUTHORIZED, -2015, MSG_BAD_KEY));
    }
    let body = std::str::from_utf8(body)
        .map_err(|_| bad(-1100, "Illegal characters found in a parameter."))?;
    let mut params = Params::new();
    let (q_signed, q_sig) = split_params(query.unwrap_or(""), &mut params);
    let (b_signed, b_sig) = split_params(body, &mut params);
    let Some(ts) = param(&params, "timestamp") else {
        return Err(missing("timestamp"));
    };
    let Ok(ts) = ts.parse::<i64>() else {
        return Err(missing("timestamp"));
    };
    let recv = match param(&params, "recvWindow") {
        None => DEFAULT_RECV_WINDOW_MS as i64,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=60_000).contains(&n) => n,
            Ok(_) => return Err(bad(-1131, "recvWindow must be less than 60000")),
            Err(_) => return Err(missing("recvWindow")),
        },
    };
    let now = unix_ms();
    if ts >= now + 1000 {
        return Err(bad(-1021, MSG_AHEAD));
    }
    if now - ts > recv {
        return Err(bad(-1021, MSG_RECV_WINDOW));
    }
    let Some(sig) = q_sig.or(b_sig) else {
        return Err(missing("signature"));
    };
    let payload = format!("{q_signed}{b_signed}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC-SHA256 takes keys of any length");
    mac.update(payload.as_bytes());
    let ok = sig.len() == 64
        && sig
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        && hex_decode(&sig).is_some_and(|raw| mac.verify_slice(&raw).is_ok());
    if !ok {
        return Err(err(StatusCode::BAD_REQUEST, -1022, MSG_BAD_SIG));
    }
    Ok(params)
}

/// Refuses parameters the endpoint does not read (Binance: -1104).
fn only(params: &Params, allowed: &[&str]) -> Result<(), Refusal> {
    let unread: Vec<&str> = params
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !allowed.contains(k) && *k != "timestamp" && *k != "recvWindow")
        .collect();
    if unread.is_empty() {
        return Ok(());
    }
    Err(bad(
        -1104,
        &format!(
            "Not all sent parameters were read; read '{}' parameter(s) but was sent '{}'.",
            params.len() - unread.len(),
            params.len()
        ),
    ))
}

fn symbol_of(inner: &Inner, params: &Params) -> Result<usize, Refusal> {
    let Some(s) = param(params, "symbol") else {
        return Err(missing("symbol"));
    };
    inner
        .by_upper
        .get(s)
        .copied()
        .ok_or_else(|| bad(-1121, MSG_BAD_SYMBOL))
}

// ---------------------------------------------------------------- bodies

/// Formats `v` at `from` decimals with `to` decimals (rounded half away
/// from zero when dropping digits).
fn fmt_scaled(v: i128, from: u32, to: u32) -> String {
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

fn order_value(inner: &Inner, o: &SimOrder, with_time: bool) -> serde_json::Value {
    let info = &inner.syms[o.sym].info;
    let (ps, qs) = (u32::from(info.price_scale), u32::from(info.qty_scale));
    // avgPrice = cumQuote / executedQty, one decimal finer than the tick.
    let avg = if o.executed > 0 {
        let q = o.quote * 10 / i128::from(o.executed);
        fmt_scaled(q, ps + 1, ps + 1)
    } else {
        fmt_scaled(0, 0, ps + 1)
    };
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

fn order_json(inner: &Inner, o: &SimOrder, with_time: bool) -> Response {
    json_ok(order_value(inner, o, with_time).to_string())
}

// ---------------------------------------------------------------- matching

/// Applies one fill to a position.
fn add_fill(p: &mut Position, buy: bool, qty: i64, px: i64, now: i64) {
    let signed = if buy { qty } else { -qty };
    let q = i128::from(qty);
    let notional = q * i128::from(px);
    if p.amt == 0 || (p.amt > 0) == buy {
        p.cost += notional;
        p.amt += signed;
    } else {
        let open = i128::from(p.amt.abs());
        let closing = q.min(open);
        p.cost -= p.cost * closing / open;
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
}

/// Takes liquidity for `o` from the current book of its symbol.
fn take_liquidity(inner: &Inner, o: &mut SimOrder, pos: &mut Position, now: i64) {
    let symbol = &inner.syms[o.sym].info.symbol;
    let Some(book) = inner.book(symbol) else {
        return;
    };
    let levels = if o.buy { &book.asks } else { &book.bids };
    for &(px, qty) in levels {
        let remaining = o.qty - o.executed;
        if remaining == 0 {
            break;
        }
        let crosses = o.market || if o.buy { px <= o.price } else { px >= o.price };
        if !crosses {
            break;
        }
        let q = remaining.min(qty);
        if q <= 0 {
            continue;
        }
        o.executed += q;
        o.quote += i128::from(q) * i128::from(px);
        add_fill(pos, o.buy, q, px, now);
    }
}

// ---------------------------------------------------------------- handlers

const NEW_ORDER_PARAMS: &[&str] = &[
    "symbol",
    "side",
    "positionSide",
    "type",
    "timeInForce",
    "quantity",
    "reduceOnly",
    "price",
    "newClientOrderId",
    "newOrderRespType",
];

fn valid_client_id(s: &str) -> bool {
    (1..=36).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'_' | b'-'))
}

fn decimal(s: &str, scale: u8, step: i64, name: &str) -> Result<i64, Refusal> {
    let v = parse_decimal(s.as_bytes(), scale).map_err(|_| {
        if s.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            bad(
                -1111,
                "Precision is over the maximum defined for this asset.",
            )
        } else {
            missing(name)
        }
    })?;
    if v <= 0 {
        return Err(if name == "quantity" {
            bad(-4003, "Quantity less than or equal to zero.")
        } else {
            bad(-4001, "Price less than 0.")
        });
    }
    if v % step != 0 {
        return Err(if name == "quantity" {
            bad(-4023, "Quantity not increased by step size.")
        } else {
            bad(-4014, "Price not increased by tick size.")
        });
    }
    Ok(v)
}

fn place(inner: &Inner, params: &Params) -> Result<Response, Refusal> {
    only(params, NEW_ORDER_PARAMS)?;
    let sym = symbol_of(inner, params)?;
    let info = &inner.syms[sym].info;
    let buy = match param(params, "side") {
        None => return Err(missing("side")),
        Some("BUY") => true,
        Some("SELL") => false,
        Some(_) => return Err(bad(-1117, "Invalid side.")),
    };
    if let Some(ps) = param(params, "positionSide")
        && ps != "BOTH"
    {
        return Err(bad(
            -4061,
            "Order's position side does not match user's setting.",
        ));
    }
    let market = match param(params, "type") {
        None => return Err(missing("type")),
        Some("MARKET") => true,
        Some("LIMIT") => false,
        Some(_) => return Err(bad(-1116, "Invalid orderType.")),
    };
    let Some(qty) = param(params, "quantity") else {
        return Err(missing("quantity"));
    };
    let qty = decimal(qty, info.qty_scale, info.lot, "quantity")?;
    let (tif, price) = if market {
        if param(params, "price").is_some() {
            return Err(not_required("price"));
        }
        if param(params, "timeInForce").is_some() {
            return Err(not_required("timeInForce"));
        }
        ("GTC", 0)
    } else {
        let tif = match param(params, "timeInForce") {
            None => return Err(missing("timeInForce")),
            Some("GTC") => "GTC",
            Some("IOC") => "IOC",
            Some(_) => return Err(bad(-1115, "Invalid timeInForce.")),
        };
        let Some(px) = param(params, "price") else {
            return Err(missing("price"));
        };
        match decimal(px, info.price_scale, info.tick, "price") {
            Ok(p) => (tif, p),
            Err(r) => return Err(r),
        }
    };
    let reduce_only = match param(params, "reduceOnly") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(missing("reduceOnly")),
    };
    let ack = match param(params, "newOrderRespType") {
        None | Some("ACK") => true,
        Some("RESULT") => false,
        Some(_) => return Err(missing("newOrderRespType")),
    };
    let client_id = param(params, "newClientOrderId").map(str::to_string);
    if let Some(c) = &client_id
        && !valid_client_id(c)
    {
        return Err(bad(
            -1100,
            "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        ));
    }
    let now_i = Instant::now();
    let now = unix_ms();
    let desk = &inner.orders;
    let mut st = desk.state.lock();
    while st
        .order_times
        .front()
        .is_some_and(|t| now_i.duration_since(*t) >= Duration::from_secs(60))
    {
        st.order_times.pop_front();
    }
    let in_10s = st
        .order_times
        .iter()
        .rev()
        .take_while(|t| now_i.duration_since(**t) < Duration::from_secs(10))
        .count();
    // Over an order limit: 429 with -1015, and Retry-After until the order
    // that makes room leaves its window.
    let n = st.order_times.len();
    if in_10s >= ORDERS_PER_10S {
        let oldest = st.order_times[n - ORDERS_PER_10S];
        return Err(Refusal {
            retry_after_s: Some(secs_left(oldest, now_i, Duration::from_secs(10))),
            ..err(
                StatusCode::TOO_MANY_REQUESTS,
                -1015,
                "Too many new orders; current limit is 300 orders per TEN_SECONDS.",
            )
        });
    }
    if n >= ORDERS_PER_MIN {
        let oldest = st.order_times[n - ORDERS_PER_MIN];
        return Err(Refusal {
            retry_after_s: Some(secs_left(oldest, now_i, Duration::from_secs(60))),
            ..err(
                StatusCode::TOO_MANY_REQUESTS,
                -1015,
                "Too many new orders; current limit is 1200 orders per MINUTE.",
            )
        });
    }
    if let Some(c) = &client_id
        && st
            .orders
            .values()
            .any(|o| o.is_open() && o.client_order_id == *c)
    {
        return Err(bad(-4116, "ClientOrderId is duplicated."));
    }
    let mut pos = st.positions.get(&sym).copied().unwrap_or_default();
    if reduce_only && (pos.amt == 0 || (pos.amt > 0) == buy || qty > pos.amt.abs()) {
        return Err(bad(-2022, "ReduceOnly Order is rejected."));
    }
    st.order_times.push_back(now_i);
    let (c10, c1m) = (in_10s + 1, st.order_times.len());
    st.next_id += 1;
    let order_id = st.next_id;
    let mut o = SimOrder {
        order_id,
        sym,
        client_order_id: client_id.unwrap_or_else(|| format!("sim{order_id}")),
        buy,
        market,
        tif,
        price,
        qty,
        executed: 0,
        quote: 0,
        status: "NEW",
        reduce_only,
        time: now,
        update_time: now,
    };
    let accepted = o.clone();
    take_liquidity(inner, &mut o, &mut pos, now);
    o.status = if o.executed == o.qty {
        "FILLED"
    } else if market || tif == "IOC" {
        "EXPIRED"
    } else if o.executed > 0 {
        "PARTIALLY_FILLED"
    } else {
        "NEW"
    };
    st.positions.insert(sym, pos);
    let reply = if ack { accepted } else { o.clone() };
    st.orders.insert(order_id, o);
    st.order_ids.push_back(order_id);
    evict(&mut st);
    drop(st);
    let mut r = order_json(inner, &reply, false);
    let h = r.headers_mut();
    h.insert(ORDER_COUNT_10S_HEADER, HeaderValue::from(c10));
    h.insert(ORDER_COUNT_1M_HEADER, HeaderValue::from(c1m));
    Ok(r)
}

/// Forgets the oldest finished orders beyond [`MAX_ORDERS`] (open ones are
/// kept; if all are open, the oldest open one goes).
fn evict(st: &mut DeskState) {
    let mut scanned = 0;
    while st.orders.len() > MAX_ORDERS && scanned < st.order_ids.len() {
        let Some(id) = st.order_ids.pop_front() else {
            break;
        };
        if st.orders.get(&id).is_some_and(SimOrder::is_open) && scanned + 1 < st.order_ids.len() {
            st.order_ids.push_back(id);
            scanned += 1;
            continue;
        }
        st.orders.remove(&id);
    }
}

/// The order a cancel/query names by `orderId` or `origClientOrderId`.
fn find(inner: &Inner, st: &DeskState, params: &Params) -> Result<i64, Refusal> {
    let sym = symbol_of(inner, params)?;
    let by_id = param(params, "orderId");
    let by_client = param(params, "origClientOrderId");
    let found = match (by_id, by_client) {
        (None, None) => return Err(missing("orderId")),
        (Some(id), _) => id
            .parse::<i64>()
            .ok()
            .filter(|id| st.orders.get(id).is_some_and(|o| o.sym == sym)),
        (None, Some(c)) => st
            .orders
            .values()
            .filter(|o| o.sym == sym && o.client_order_id == c)
            .max_by_key(|o| o.order_id)
            .map(|o| o.order_id),
    };
    found.ok_or_else(|| bad(-2011, MSG_UNKNOWN_ORDER))
}

const REF_PARAMS: &[&str] = &["symbol", "orderId", "origClientOrderId"];

async fn new_order(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    signed(&inner, peer, 0, &headers, q.as_deref(), &body, place)
}

/// Serves one signed request: charges its IP weight, authenticates it, and
/// answers with `reply`'s response or Binance's error body.
fn signed(
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
    o.status = "CANCELED";
    o.update_time = unix_ms();
    let o = o.clone();
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

    #[test]
    fn positions_average_reduce_and_flip() {
        let mut p = Position::default();
        add_fill(&mut p, true, 2, 100, 1);
        add_fill(&mut p, true, 2, 110, 1);
        assert_eq!((p.amt, p.cost), (4, 420));
        add_fill(&mut p, false, 1, 200, 2);
        assert_eq!((p.amt, p.cost), (3, 315));
        add_fill(&mut p, false, 5, 90, 3);
        assert_eq!((p.amt, p.cost), (-2, 180));
        add_fill(&mut p, true, 2, 50, 4);
        assert_eq!((p.amt, p.cost), (0, 0));
    }

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
