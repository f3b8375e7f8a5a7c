//! Binance REST market data and its request weight: `GET /fapi/v1/depth`
//! (snapshots of the ground-truth book, or the recorded ones in replay
//! mode), `/fapi/v1/time`, `/fapi/v1/ping`, `/fapi/v1/exchangeInfo`, and
//! [`weighed`], which charges every Binance REST request (signed ones too)
//! to its client IP: `X-MBX-USED-WEIGHT-1M` on the answer, or 429/418 with
//! Binance's body and `Retry-After`.

use super::binance_error;
use super::weight::{USED_WEIGHT_HEADER, Verdict, depth_weight};
use super::wire::{self, DEPTH_LIMITS, MSG_BAD_LIMIT, MSG_BAD_SYMBOL, MSG_INTERNAL, MSG_NO_SYMBOL};
use crate::decimal::unix_ms;
use crate::server::json_ok;
use crate::state::Inner;
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

type Shared = Arc<Inner>;

/// The REST market-data routes.
pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/fapi/v1/depth", get(rest_depth))
        .route("/fapi/v1/time", get(rest_time))
        .route("/fapi/v1/ping", get(rest_ping))
        .route("/fapi/v1/exchangeInfo", get(rest_exchange_info))
}

/// Charges a Binance REST request's weight to the client's IP: the answer
/// of `serve` with `X-MBX-USED-WEIGHT-1M`, or 429/418 with Binance's body
/// and `Retry-After`.
pub(crate) fn weighed(
    inner: &Shared,
    peer: SocketAddr,
    weight: u64,
    serve: impl FnOnce() -> Response,
) -> Response {
    if let Some((status, retry_after_s)) = inner.order_faults.storm_verdict() {
        // A 429 storm (Fault::RateLimitStorm): refused before any weight.
        let w = &inner.rest_weight;
        w.requests.fetch_add(1, Ordering::Relaxed);
        let (code, msg) = if status == 418 {
            w.banned_418.fetch_add(1, Ordering::Relaxed);
            (StatusCode::IM_A_TEAPOT, MSG_BANNED)
        } else {
            w.throttled_429.fetch_add(1, Ordering::Relaxed);
            (StatusCode::TOO_MANY_REQUESTS, MSG_TOO_MANY)
        };
        let mut r = binance_error(code, -1003, msg);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
        return r;
    }
    let (mut resp, used) = match inner.rest_weight.charge(peer.ip(), weight) {
        Verdict::Ok { used } => (serve(), used),
        Verdict::Refused {
            status,
            used,
            retry_after_s,
        } => {
            let (code, msg) = if status == 418 {
                (StatusCode::IM_A_TEAPOT, MSG_BANNED)
            } else {
                (StatusCode::TOO_MANY_REQUESTS, MSG_TOO_MANY)
            };
            let mut r = binance_error(code, -1003, msg);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            (r, used)
        }
    };
    resp.headers_mut()
        .insert(USED_WEIGHT_HEADER, HeaderValue::from(used));
    resp
}

const MSG_TOO_MANY: &str = "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. Please use the websocket for live updates to avoid polling the API.";
const MSG_BANNED: &str = "Way too many requests; IP(127.0.0.1) banned until a later time. Please use the websocket for live updates to avoid bans.";

async fn rest_ping(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    weighed(&inner, peer, 1, || json_ok("{}".into()))
}

async fn rest_depth(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let limit_w = q
        .get("limit")
        .and_then(|s| s.parse::<usize>().ok())
        .map_or(500, |l| u32::try_from(l).unwrap_or(u32::MAX));
    weighed(&inner, peer, u64::from(depth_weight(limit_w)), || {
        rest_depth_body(&inner, &q)
    })
}

fn rest_depth_body(inner: &Shared, q: &HashMap<String, String>) -> Response {
    if inner
        .fail_snapshots
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return binance_error(StatusCode::SERVICE_UNAVAILABLE, -1001, MSG_INTERNAL);
    }
    let Some(symbol) = q.get("symbol").filter(|s| !s.is_empty()) else {
        return binance_error(StatusCode::BAD_REQUEST, -1102, MSG_NO_SYMBOL);
    };
    let limit = match q.get("limit") {
        None => 500,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if DEPTH_LIMITS.contains(&n) => n,
            _ => return binance_error(StatusCode::BAD_REQUEST, -1100, MSG_BAD_LIMIT),
        },
    };
    let Some(idx) = inner.sym_index(symbol) else {
        return binance_error(StatusCode::BAD_REQUEST, -1121, MSG_BAD_SYMBOL);
    };
    let slot = &inner.syms[idx];
    let now = unix_ms();
    let body = if inner.replay {
        let st = slot.state.lock();
        match st.replay.as_ref().and_then(|r| r.snapshot.as_ref()) {
            Some(s) => wire::depth_snapshot_json_raw(
                s.last_update_id,
                s.e_ms,
                s.t_ms,
                &s.bids[..s.bids.len().min(limit)],
                &s.asks[..s.asks.len().min(limit)],
            ),
            None => {
                drop(st);
                return binance_error(StatusCode::SERVICE_UNAVAILABLE, -1001, MSG_INTERNAL);
            }
        }
    } else {
        let (last_u, bids, asks) = {
            let st = slot.state.lock();
            (st.last_u, st.book.top_bids(limit), st.book.top_asks(limit))
        };
        wire::depth_snapshot_json(&slot.info, last_u, now, now, &bids, &asks)
    };
    inner.stats.snapshots_served.fetch_add(1, Ordering::Relaxed);
    json_ok(body)
}

async fn rest_time(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    weighed(&inner, peer, 1, || {
        json_ok(format!("{{\"serverTime\":{}}}", unix_ms()))
    })
}

async fn rest_exchange_info(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let limits = inner.orders.state.lock().limits;
    weighed(&inner, peer, 1, || {
        json_ok(wire::exchange_info_json(
            inner.syms.iter().map(|s| &s.info),
            unix_ms(),
            (limits.per_10s, limits.per_min),
        ))
    })
}
