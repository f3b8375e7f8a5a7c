//! Binance USD-M's order desk, simulated: the account's orders, the order
//! limits per account (300 per 10 s, 1200 per minute: HTTP 429, `-1015` and
//! `Retry-After` until the window makes room, reported in
//! `X-MBX-ORDER-COUNT-10S`/`-1M`), placing (duplicate client ids `-4116`,
//! reduce-only `-2022`, min notional, margin `-2019`), finding and
//! forgetting orders. The HTTP side is `order_api`, the parameter checks
//! `order_checks`, the money `account`, the fills `matching`.
//!
//! A new order takes liquidity at once (`matching`); an IOC's or MARKET's
//! unfilled remainder is EXPIRED; a GTC's rests and fills later when the
//! market crosses it. Every step sends its user-stream events. Orders kept
//! are bounded ([`MAX_ORDERS`]); the oldest finished ones are forgotten
//! first.

use super::account::{Account, Position, SimTrade, USDT_SCALE, rescale};
use super::auth::{
    Params, Refusal, SIM_API_KEY, SIM_API_SECRET, bad, err, missing, param, secs_left, symbol_of,
};
use super::events::{EvKind, order_update};
use super::matching::{account_event, take_liquidity};
use super::order_api::order_json;
use super::order_checks::{NewOrderReq, check_notional, parse_new_order};
use crate::decimal::unix_ms;
use crate::state::Inner;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Per-account order counter headers on successful orders (protocols.md
/// "Headers and limits"; lower-case as HTTP/1 headers are matched).
pub const ORDER_COUNT_10S_HEADER: &str = "x-mbx-order-count-10s";
pub const ORDER_COUNT_1M_HEADER: &str = "x-mbx-order-count-1m";
/// Orders kept for query/cancel.
pub const MAX_ORDERS: usize = 10_000;
/// Binance USD-M order limits per account (protocols.md: ORDERS 1200/min
/// and 300/10 s); a test may lower them (`SimHandle::set_order_limits`),
/// and `exchangeInfo.rateLimits` publishes what is in force.
pub const ORDERS_PER_10S: usize = 300;
pub const ORDERS_PER_MIN: usize = 1200;

/// The account's order limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OrderLimits {
    pub per_10s: usize,
    pub per_min: usize,
}

impl Default for OrderLimits {
    fn default() -> Self {
        OrderLimits {
            per_10s: ORDERS_PER_10S,
            per_min: ORDERS_PER_MIN,
        }
    }
}

pub(super) const MSG_UNKNOWN_ORDER: &str = "Unknown order sent.";

/// One order the simulated account has.
#[derive(Debug, Clone)]
pub(crate) struct SimOrder {
    pub(crate) order_id: i64,
    pub(crate) sym: usize,
    pub(crate) client_order_id: String,
    pub(crate) buy: bool,
    pub(crate) market: bool,
    pub(crate) tif: &'static str,
    /// Scaled price (0 for MARKET).
    pub(crate) price: i64,
    pub(crate) qty: i64,
    pub(crate) executed: i64,
    /// Sum of price × qty, at price scale + qty scale.
    pub(crate) quote: i128,
    pub(crate) status: &'static str,
    pub(crate) reduce_only: bool,
    pub(crate) time: i64,
    pub(crate) update_time: i64,
}

impl SimOrder {
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.status, "NEW" | "PARTIALLY_FILLED")
    }
}

#[derive(Debug, Default)]
pub(crate) struct DeskState {
    pub(crate) next_id: i64,
    pub(crate) orders: HashMap<i64, SimOrder>,
    /// Order ids, oldest first (for eviction).
    pub(crate) order_ids: VecDeque<i64>,
    /// Ids of the open (NEW / PARTIALLY_FILLED) orders.
    pub(crate) open: BTreeSet<i64>,
    pub(crate) positions: HashMap<usize, Position>,
    /// When recent new orders came (the last minute's).
    pub(crate) order_times: VecDeque<Instant>,
    pub(crate) account: Account,
    /// The account's fills, oldest first (at most `MAX_TRADES`).
    pub(crate) trades: VecDeque<SimTrade>,
    pub(crate) next_trade_id: i64,
    /// Armed countdownCancelAll timers: symbol -> when they fire.
    pub(crate) countdowns: HashMap<usize, Instant>,
    pub(crate) limits: OrderLimits,
}

/// The simulated account: credentials, orders, positions.
#[derive(Debug)]
pub(crate) struct OrderDesk {
    pub(crate) creds: Mutex<(String, String)>,
    pub(crate) state: Mutex<DeskState>,
}

impl Default for OrderDesk {
    fn default() -> Self {
        OrderDesk {
            creds: Mutex::new((SIM_API_KEY.into(), SIM_API_SECRET.into())),
            state: Mutex::new(DeskState {
                next_id: 8_389_765_000,
                next_trade_id: 698_759_000,
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

/// Places a new order (the checks passed): order limits, duplicate client
/// id, reduce-only, min notional and margin; then takes liquidity, rests or
/// expires the rest, and sends the stream events. The reply is the order as
/// accepted (ACK) or after matching (RESULT).
pub(super) fn place(inner: &Inner, params: &Params) -> Result<Response, Refusal> {
    let req = parse_new_order(inner, params)?;
    let sym = req.sym;
    let now_i = Instant::now();
    let now = unix_ms();
    let desk = &inner.orders;
    let mut st = desk.state.lock();
    let (c10, c1m) = order_limits(&mut st, now_i).inspect_err(|_| {
        inner
            .order_faults
            .orders_rate_limited
            .fetch_add(1, Ordering::Relaxed);
    })?;
    if let Some(c) = &req.client_id
        && st
            .open
            .iter()
            .any(|id| st.orders.get(id).is_some_and(|o| o.client_order_id == *c))
    {
        return Err(bad(-4116, "ClientOrderId is duplicated."));
    }
    let pos = st.positions.get(&sym).copied().unwrap_or_default();
    if req.reduce_only && (pos.amt == 0 || (pos.amt > 0) == req.buy || req.qty > pos.amt.abs()) {
        return Err(bad(-2022, "ReduceOnly Order is rejected."));
    }
    let est_px = if req.market {
        inner.touch(sym, req.buy).unwrap_or(0)
    } else {
        req.price
    };
    check_notional(inner, &req, est_px)?;
    if !req.reduce_only {
        check_margin(inner, &st, &req, est_px)?;
    }
    st.order_times.push_back(now_i);
    let (c10, c1m) = (c10 + 1, c1m + 1);
    st.next_id += 1;
    let order_id = st.next_id;
    let o = SimOrder {
        order_id,
        sym,
        client_order_id: req
            .client_id
            .clone()
            .unwrap_or_else(|| format!("sim{order_id}")),
        buy: req.buy,
        market: req.market,
        tif: req.tif,
        price: req.price,
        qty: req.qty,
        executed: 0,
        quote: 0,
        status: "NEW",
        reduce_only: req.reduce_only,
        time: now,
        update_time: now,
    };
    let mut events = vec![order_update(inner, &o, "NEW", None, now)];
    let accepted = o.clone();
    st.orders.insert(order_id, o);
    st.order_ids.push_back(order_id);
    st.open.insert(order_id);
    inner
        .order_faults
        .orders_placed
        .fetch_add(1, Ordering::Relaxed);
    take_liquidity(inner, &mut st, order_id, now, &mut events);
    let filled_any = events.len() > 1;
    if let Some(o) = st.orders.get_mut(&order_id)
        && o.is_open()
        && (req.market || req.tif == "IOC")
    {
        o.status = "EXPIRED";
        o.update_time = now;
        events.push(order_update(inner, o, "EXPIRED", None, now));
        st.open.remove(&order_id);
    }
    if filled_any {
        events.push(account_event(inner, &st, sym, now));
        if inner.order_faults.take_reorder() {
            // The fill's TRADE_LITE and ORDER_TRADE_UPDATE before the NEW ack.
            let new = events.remove(0);
            let after = events
                .iter()
                .position(|e| e.kind == EvKind::Trade && e.text.contains("ORDER_TRADE_UPDATE"))
                .map_or(events.len(), |i| i + 1);
            events.insert(after, new);
        }
    }
    inner.user.emit(&events);
    let reply = if req.ack {
        accepted
    } else {
        st.orders.get(&order_id).cloned().unwrap_or(accepted)
    };
    evict(&mut st);
    drop(st);
    let mut r = order_json(inner, &reply, false);
    let h = r.headers_mut();
    h.insert(ORDER_COUNT_10S_HEADER, HeaderValue::from(c10));
    h.insert(ORDER_COUNT_1M_HEADER, HeaderValue::from(c1m));
    Ok(r)
}

/// The order-rate limits: the counts in the last 10 s and minute, or 429
/// with `-1015` and `Retry-After` until the order that makes room leaves
/// its window.
fn order_limits(st: &mut DeskState, now_i: Instant) -> Result<(usize, usize), Refusal> {
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
    let n = st.order_times.len();
    let OrderLimits { per_10s, per_min } = st.limits;
    if in_10s >= per_10s {
        let oldest = st.order_times[n - per_10s.min(n)];
        return Err(Refusal {
            retry_after_s: Some(secs_left(oldest, now_i, Duration::from_secs(10))),
            ..err(
                StatusCode::TOO_MANY_REQUESTS,
                -1015,
                &format!("Too many new orders; current limit is {per_10s} orders per TEN_SECONDS."),
            )
        });
    }
    if n >= per_min {
        let oldest = st.order_times[n - per_min];
        return Err(Refusal {
            retry_after_s: Some(secs_left(oldest, now_i, Duration::from_secs(60))),
            ..err(
                StatusCode::TOO_MANY_REQUESTS,
                -1015,
                &format!("Too many new orders; current limit is {per_min} orders per MINUTE."),
            )
        });
    }
    Ok((in_10s, n))
}

/// The margin check: the wallet less the initial margin of the positions
/// and of the open orders must cover the new order's (only the part of it
/// that goes beyond closing the position); else `-2019`.
fn check_margin(inner: &Inner, st: &DeskState, req: &NewOrderReq, px: i64) -> Result<(), Refusal> {
    let acct = &st.account;
    let (pos_im, order_im) = margin_used(inner, st);
    let used = pos_im + order_im;
    let pos = st.positions.get(&req.sym).copied().unwrap_or_default();
    let opposite = pos.amt != 0 && (pos.amt > 0) != req.buy;
    let extra = if opposite {
        (req.qty - pos.amt.abs()).max(0)
    } else {
        req.qty
    };
    let need = acct.margin(to_usdt(inner, req.sym, i128::from(extra) * i128::from(px)));
    if need > 0 && acct.wallet - used < need {
        return Err(bad(-2019, "Margin is insufficient."));
    }
    Ok(())
}

/// A value at symbol `sym`'s price + qty scale in USDT (8 decimals).
pub(super) fn to_usdt(inner: &Inner, sym: usize, v: i128) -> i128 {
    let info = &inner.syms[sym].info;
    let scale = u32::from(info.price_scale) + u32::from(info.qty_scale);
    rescale(v, scale, USDT_SCALE)
}

/// The initial margin of the positions (at entry) and of the open orders'
/// unfilled quantity (at their price), USDT at 8 decimals.
pub(super) fn margin_used(inner: &Inner, st: &DeskState) -> (i128, i128) {
    let acct = &st.account;
    let pos_im = st
        .positions
        .iter()
        .map(|(&sym, p)| acct.margin(to_usdt(inner, sym, p.cost)))
        .sum();
    let order_im = st
        .open
        .iter()
        .filter_map(|id| st.orders.get(id))
        .map(|o| {
            let left = i128::from(o.qty - o.executed);
            acct.margin(to_usdt(inner, o.sym, left * i128::from(o.price)))
        })
        .sum();
    (pos_im, order_im)
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
        st.open.remove(&id);
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
