//! Binance USD-M's order desk, simulated: the account's orders and
//! positions, the order limits per account (300 per 10 s, 1200 per minute:
//! HTTP 429, `-1015` and `Retry-After` until the window makes room,
//! reported in `X-MBX-ORDER-COUNT-10S`/`-1M`), and placing, matching,
//! finding and forgetting orders. The HTTP side is `order_api`, the
//! request checks `auth`.
//!
//! Matching: MARKET and LIMIT orders take liquidity from the symbol's
//! current ground-truth book at submission (an IOC's unfilled remainder is
//! EXPIRED; a GTC's rests, open until canceled, and does not trade later).
//! Fills do not remove liquidity from the simulated book, so the market
//! streams stay independent of order entry. Positions (one-way mode,
//! `positionSide` BOTH) are the sum of the fills. Orders kept are bounded
//! ([`MAX_ORDERS`]); the oldest finished ones are forgotten first.

use super::auth::{
    Params, Refusal, SIM_API_KEY, SIM_API_SECRET, bad, err, missing, not_required, only, param,
    secs_left, symbol_of,
};
use super::order_api::order_json;
use crate::decimal::{parse_decimal, unix_ms};
use crate::state::Inner;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Per-account order counter headers on successful orders (protocols.md
/// "Headers and limits"; lower-case as HTTP/1 headers are matched).
pub const ORDER_COUNT_10S_HEADER: &str = "x-mbx-order-count-10s";
pub const ORDER_COUNT_1M_HEADER: &str = "x-mbx-order-count-1m";
/// Orders kept for query/cancel.
pub const MAX_ORDERS: usize = 10_000;
/// Binance USD-M order limits per account (protocols.md: ORDERS 1200/min
/// and 300/10 s).
const ORDERS_PER_10S: usize = 300;
const ORDERS_PER_MIN: usize = 1200;

pub(super) const MSG_UNKNOWN_ORDER: &str = "Unknown order sent.";

/// One order the simulated account has.
#[derive(Debug, Clone)]
pub(super) struct SimOrder {
    pub(super) order_id: i64,
    pub(super) sym: usize,
    pub(super) client_order_id: String,
    pub(super) buy: bool,
    pub(super) market: bool,
    pub(super) tif: &'static str,
    /// Scaled price (0 for MARKET).
    pub(super) price: i64,
    pub(super) qty: i64,
    pub(super) executed: i64,
    /// Sum of price × qty, at price scale + qty scale.
    pub(super) quote: i128,
    pub(super) status: &'static str,
    pub(super) reduce_only: bool,
    pub(super) time: i64,
    pub(super) update_time: i64,
}

impl SimOrder {
    pub(super) fn is_open(&self) -> bool {
        matches!(self.status, "NEW" | "PARTIALLY_FILLED")
    }
}

/// Position of one symbol (one-way mode).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Position {
    /// Signed scaled quantity.
    pub(super) amt: i64,
    /// Entry cost of `|amt|`, at price scale + qty scale.
    pub(super) cost: i128,
    pub(super) update_time: i64,
}

#[derive(Debug, Default)]
pub(super) struct DeskState {
    pub(super) next_id: i64,
    pub(super) orders: HashMap<i64, SimOrder>,
    /// Order ids, oldest first (for eviction).
    pub(super) order_ids: VecDeque<i64>,
    pub(super) positions: HashMap<usize, Position>,
    /// When recent new orders came (the last minute's).
    pub(super) order_times: VecDeque<Instant>,
}

/// The simulated account: credentials, orders, positions.
#[derive(Debug)]
pub(crate) struct OrderDesk {
    pub(super) creds: Mutex<(String, String)>,
    pub(super) state: Mutex<DeskState>,
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

/// Applies one fill to a position.
pub(super) fn add_fill(p: &mut Position, buy: bool, qty: i64, px: i64, now: i64) {
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
pub(super) fn take_liquidity(inner: &Inner, o: &mut SimOrder, pos: &mut Position, now: i64) {
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

pub(super) const NEW_ORDER_PARAMS: &[&str] = &[
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

pub(super) fn valid_client_id(s: &str) -> bool {
    (1..=36).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'_' | b'-'))
}

pub(super) fn decimal(s: &str, scale: u8, step: i64, name: &str) -> Result<i64, Refusal> {
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

pub(super) fn place(inner: &Inner, params: &Params) -> Result<Response, Refusal> {
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
pub(super) fn evict(st: &mut DeskState) {
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
pub(super) fn find(inner: &Inner, st: &DeskState, params: &Params) -> Result<i64, Refusal> {
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

pub(super) const REF_PARAMS: &[&str] = &["symbol", "orderId", "origClientOrderId"];

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
}
