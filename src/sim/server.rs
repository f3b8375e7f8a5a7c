//! The simulator's axum app on one port: Binance WebSocket market streams
//! (combined `/stream`, `/public/stream`, `/market/stream`; raw `/ws/<stream>`
//! and the `/public`/`/market` variants), Binance REST (`/fapi/v1/depth`,
//! `/fapi/v1/time`, `/fapi/v1/exchangeInfo`, `/fapi/v1/ping`; signed order
//! entry in `orders`), the control API
//! under `/sim/...`, and the fan-out of frames to connections.
//!
//! Each connection has a bounded queue ([`QUEUE_CAP`]); the fan-out never
//! waits on it: a connection whose queue is full is disconnected (and
//! counted in `slow_disconnects`), so one slow client cannot stall the
//! generator or the others. Like Binance, a connection that sends more than
//! [`MAX_INCOMING_PER_SEC`] messages within one second is disconnected.

use super::binance::{
    self, DEPTH_LIMITS, MSG_BAD_LIMIT, MSG_BAD_SYMBOL, MSG_INTERNAL, MSG_NO_SYMBOL, combined_frame,
    error_json, parse_stream_name,
};
use super::market::OutEvent;
use super::weight::Verdict;
use super::{ConnShared, Fault, Inner, Sub};
use crate::core::clock::unix_ms;
use crate::venue::binance::{USED_WEIGHT_HEADER, depth_weight};
use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, error::TrySendError};

/// Outgoing frames queued per connection before it counts as too slow.
pub(crate) const QUEUE_CAP: usize = 65_536;
/// Incoming messages allowed per connection in any one-second window.
pub(crate) const MAX_INCOMING_PER_SEC: usize = 10;
/// Streams allowed per connection (Binance: 1024).
const MAX_STREAMS: usize = 1024;
/// Frames written per flush.
const WRITE_BATCH: usize = 256;

type Shared = Arc<Inner>;

/// Builds the app.
pub(crate) fn router(inner: Shared) -> Router {
    Router::new()
        .route("/stream", get(ws_combined))
        .route("/public/stream", get(ws_combined))
        .route("/market/stream", get(ws_combined))
        .route("/ws", get(ws_raw_bare))
        .route("/ws/{stream}", get(ws_raw))
        .route("/public/ws/{stream}", get(ws_raw))
        .route("/market/ws/{stream}", get(ws_raw))
        .route("/fapi/v1/depth", get(rest_depth))
        .route("/fapi/v1/time", get(rest_time))
        .route("/fapi/v1/ping", get(rest_ping))
        .route("/fapi/v1/exchangeInfo", get(rest_exchange_info))
        .route("/sim/stats", get(ctl_stats))
        .route("/sim/book/{symbol}", get(ctl_book))
        .route("/sim/pause", post(ctl_pause))
        .route("/sim/resume", post(ctl_resume))
        .route("/sim/fault/drop", post(ctl_drop))
        .route("/sim/fault/drop_after/{n}", post(ctl_drop_after))
        .route("/sim/fault/gap/{symbol}", post(ctl_gap))
        .route("/sim/fault/silence/{ms}", post(ctl_silence))
        .route("/sim/fault/malformed/{symbol}", post(ctl_malformed))
        .route("/sim/fault/fail_snapshots/{n}", post(ctl_fail_snapshots))
        .route("/sim/fault/silent/{symbol}", post(ctl_silent))
        .route(
            "/sim/rest_weight/{limit}/{window_ms}",
            post(ctl_rest_weight),
        )
        .merge(super::venues::router())
        .merge(super::orders::router())
        .with_state(inner)
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(crate) fn json_ok(body: String) -> Response {
    json_response(StatusCode::OK, body)
}

pub(crate) fn binance_error(status: StatusCode, code: i64, msg: &str) -> Response {
    json_response(status, error_json(code, msg))
}

// ---------------------------------------------------------------- fan-out

/// Cuts a frame in half (on a char boundary) to make it invalid JSON.
fn truncate(mut s: String) -> String {
    let mut n = s.len() / 2;
    while n > 0 && !s.is_char_boundary(n) {
        n -= 1;
    }
    s.truncate(n);
    s
}

/// Queues `events` to every connection subscribed to their streams. Never
/// blocks: a full queue disconnects that connection.
pub(crate) fn fanout(inner: &Inner, events: &mut [OutEvent]) {
    let conns = inner.conns.lock();
    // A pending Malformed fault hits the first frame of its symbol that some
    // connection actually receives.
    if inner
        .syms
        .iter()
        .any(|s| s.malformed_next.load(Ordering::Relaxed))
    {
        for ev in events.iter_mut() {
            let slot = &inner.syms[ev.sym];
            if slot.malformed_next.load(Ordering::Relaxed)
                && conns.iter().any(|c| {
                    !c.killed.load(Ordering::Relaxed)
                        && c.subs
                            .lock()
                            .iter()
                            .any(|s| s.target == Some((ev.sym, ev.kind)))
                })
            {
                slot.malformed_next.store(false, Ordering::Relaxed);
                ev.malformed = true;
            }
        }
    }
    for c in conns.iter() {
        if c.killed.load(Ordering::Relaxed) {
            continue;
        }
        let subs = c.subs.lock();
        if subs.is_empty() {
            continue;
        }
        'events: for ev in events.iter() {
            for s in subs.iter() {
                if s.muted || s.target != Some((ev.sym, ev.kind)) {
                    continue;
                }
                let mut text = if c.combined {
                    combined_frame(&s.name, &ev.data)
                } else {
                    ev.data.to_string()
                };
                if ev.malformed {
                    text = truncate(text);
                }
                match c.tx.try_send(Utf8Bytes::from(text)) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        tracing::warn!(conn = c.id, "sim: client too slow, disconnecting");
                        inner.stats.slow_disconnects.fetch_add(1, Ordering::Relaxed);
                        c.kill();
                        break 'events;
                    }
                    Err(TrySendError::Closed(_)) => {
                        c.kill();
                        break 'events;
                    }
                }
            }
        }
    }
}

/// Queues one raw replayed frame (already the `data` payload) to subscribers.
pub(crate) fn fanout_one(inner: &Inner, mut ev: OutEvent) {
    fanout(inner, std::slice::from_mut(&mut ev));
}

// ---------------------------------------------------------------- WebSocket

async fn ws_combined(
    State(inner): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let names: Vec<String> = q
        .get("streams")
        .map(|s| {
            s.split('/')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    upgrade(inner, ws, true, names)
}

async fn ws_raw(
    State(inner): State<Shared>,
    Path(stream): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    let names = stream
        .split('/')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect();
    upgrade(inner, ws, false, names)
}

async fn ws_raw_bare(State(inner): State<Shared>, ws: WebSocketUpgrade) -> Response {
    upgrade(inner, ws, false, Vec::new())
}

fn upgrade(inner: Shared, ws: WebSocketUpgrade, combined: bool, names: Vec<String>) -> Response {
    ws.max_message_size(1 << 16)
        .max_frame_size(1 << 16)
        .on_upgrade(move |socket| conn_task(inner, socket, combined, names))
}

/// Adds subscriptions. Names are echoed exactly as subscribed in combined
/// frames; the symbol part matches case-insensitively. Unknown names/symbols
/// are kept (and listed) but never receive anything.
fn subscribe(inner: &Inner, conn: &ConnShared, names: &[String]) {
    let mut subs = conn.subs.lock();
    let mut any = false;
    let asked = subs.len()
        + names
            .iter()
            .filter(|n| !subs.iter().any(|s| *s.name == ***n))
            .count();
    inner
        .stats
        .max_streams_per_conn
        .fetch_max(asked as u64, Ordering::Relaxed);
    for name in names {
        if subs.iter().any(|s| *s.name == **name) {
            continue;
        }
        if subs.len() >= MAX_STREAMS {
            tracing::warn!(conn = conn.id, "sim: stream limit (1024) reached");
            inner
                .stats
                .stream_limit_refusals
                .fetch_add((asked - subs.len()) as u64, Ordering::Relaxed);
            break;
        }
        let target = parse_stream_name(name)
            .and_then(|(sym, kind)| inner.by_lower.get(&sym).map(|i| (*i, kind)));
        if target.is_none() {
            tracing::debug!(conn = conn.id, stream = %name, "sim: unknown stream, nothing will be sent");
        }
        any = true;
        let muted = target.is_some_and(|(i, _)| conn.deaf.lock().contains(&i));
        subs.push(Sub {
            name: name.as_str().into(),
            target,
            muted,
        });
    }
    if any && !inner.any_subscription.swap(true, Ordering::SeqCst) {
        inner.subscribed.notify_one();
    }
}

fn unsubscribe(conn: &ConnShared, names: &[String]) {
    let mut subs = conn.subs.lock();
    for name in names {
        subs.retain(|s| *s.name != **name);
    }
}

/// Handles one incoming text message; returns the reply to send, if any.
fn handle_text(inner: &Inner, conn: &ConnShared, text: &str) -> Option<String> {
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Some(
                serde_json::json!({
                    "error": { "code": 3, "msg": format!("Invalid JSON: {e}") },
                    "id": null
                })
                .to_string(),
            );
        }
    };
    let id = v.get("id").cloned().unwrap_or(serde_json::Value::Null);
    let method = v.get("method").and_then(|m| m.as_str()).unwrap_or("");
    let params: Option<Vec<String>> = match v.get("params") {
        None => Some(Vec::new()),
        Some(serde_json::Value::Array(a)) => {
            a.iter().map(|x| x.as_str().map(str::to_string)).collect()
        }
        Some(_) => None,
    };
    let invalid = |msg: &str| {
        Some(
            serde_json::json!({ "error": { "code": 2, "msg": format!("Invalid request: {msg}") }, "id": id })
                .to_string(),
        )
    };
    let Some(params) = params else {
        return invalid("params must be an array of strings");
    };
    match method {
        "SUBSCRIBE" => {
            subscribe(inner, conn, &params);
            Some(serde_json::json!({ "result": null, "id": id }).to_string())
        }
        "UNSUBSCRIBE" => {
            unsubscribe(conn, &params);
            Some(serde_json::json!({ "result": null, "id": id }).to_string())
        }
        "LIST_SUBSCRIPTIONS" => {
            let names: Vec<String> = conn
                .subs
                .lock()
                .iter()
                .map(|s| s.name.to_string())
                .collect();
            Some(serde_json::json!({ "result": names, "id": id }).to_string())
        }
        other => invalid(&format!("unknown method `{other}`")),
    }
}

/// Writes a batch of queued frames; false when the connection must end
/// (write error, or a [`Fault::DropAfter`] budget used up).
async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    batch: &mut Vec<Utf8Bytes>,
    conn: &ConnShared,
    inner: &Inner,
) -> bool {
    for text in batch.drain(..) {
        if sink.feed(Message::Text(text)).await.is_err() {
            return false;
        }
        inner.stats.messages_sent.fetch_add(1, Ordering::Relaxed);
        if conn.budget.load(Ordering::Relaxed) > 0
            && conn.budget.fetch_sub(1, Ordering::Relaxed) <= 1
        {
            let _ = sink.flush().await;
            return false;
        }
    }
    sink.flush().await.is_ok()
}

/// Serves one WebSocket connection until it ends or is killed. Ending drops
/// the TCP connection without a close frame (Binance-like abrupt close).
async fn conn_task(inner: Shared, socket: WebSocket, combined: bool, names: Vec<String>) {
    let (tx, mut rx) = mpsc::channel(QUEUE_CAP);
    let conn = Arc::new(ConnShared {
        id: inner.next_conn_id.fetch_add(1, Ordering::Relaxed),
        combined,
        tx,
        subs: Mutex::new(Vec::new()),
        kill: tokio::sync::Notify::new(),
        killed: AtomicBool::new(false),
        budget: AtomicI64::new(-1),
        deaf: Mutex::new(Vec::new()),
    });
    subscribe(&inner, &conn, &names);
    inner.venues.note_open(crate::core::Venue::Binance);
    inner.conns.lock().push(conn.clone());
    inner
        .stats
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    inner.stats.connections_open.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(conn = conn.id, combined, streams = ?names, "sim: ws connected");

    let (mut sink, mut stream) = socket.split();
    let period = inner.ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut incoming: VecDeque<Instant> = VecDeque::with_capacity(MAX_INCOMING_PER_SEC + 1);
    let mut batch: Vec<Utf8Bytes> = Vec::with_capacity(WRITE_BATCH);
    let reason = loop {
        tokio::select! {
            biased;
            _ = conn.killed() => break "killed",
            n = rx.recv_many(&mut batch, WRITE_BATCH) => {
                if n == 0 {
                    break "queue closed";
                }
                let ok = tokio::select! {
                    biased;
                    _ = conn.killed() => false,
                    ok = write_batch(&mut sink, &mut batch, &conn, &inner) => ok,
                };
                if !ok {
                    break "write ended";
                }
            }
            msg = stream.next() => {
                let msg = match msg {
                    None | Some(Err(_)) => break "client gone",
                    Some(Ok(m)) => m,
                };
                if matches!(msg, Message::Text(_)) {
                    inner.stats.subscribe_messages.fetch_add(1, Ordering::Relaxed);
                }
                let counted = matches!(msg, Message::Text(_) | Message::Binary(_) | Message::Ping(_));
                if counted {
                    let now = Instant::now();
                    incoming.push_back(now);
                    while incoming
                        .front()
                        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                    {
                        incoming.pop_front();
                    }
                    inner
                        .stats
                        .max_incoming_per_sec
                        .fetch_max(incoming.len() as u64, Ordering::Relaxed);
                    if incoming.len() > MAX_INCOMING_PER_SEC {
                        inner
                            .stats
                            .incoming_rate_disconnects
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(conn = conn.id, "sim: more than 10 incoming messages/s, disconnecting");
                        break "incoming rate";
                    }
                }
                match msg {
                    Message::Text(t) => {
                        if let Some(reply) = handle_text(&inner, &conn, t.as_str())
                            && sink.send(Message::Text(reply.into())).await.is_err()
                        {
                            break "write ended";
                        }
                    }
                    Message::Close(_) => break "client closed",
                    _ => {}
                }
            }
            _ = ping.tick() => {
                if !inner.silenced() && sink.send(Message::Ping(Default::default())).await.is_err() {
                    break "write ended";
                }
            }
        }
    };
    tracing::debug!(conn = conn.id, reason, "sim: ws connection ended");
    conn.killed.store(true, Ordering::Relaxed);
    inner.unregister(conn.id);
    inner.stats.connections_open.fetch_sub(1, Ordering::Relaxed);
    // Dropping both halves closes the TCP connection without a close frame.
    drop(sink);
    drop(stream);
}

// ---------------------------------------------------------------- REST

/// Charges a Binance REST request's weight to the client's IP: the answer
/// of `serve` with `X-MBX-USED-WEIGHT-1M`, or 429/418 with Binance's body
/// and `Retry-After`.
pub(crate) fn weighed(
    inner: &Shared,
    peer: SocketAddr,
    weight: u64,
    serve: impl FnOnce() -> Response,
) -> Response {
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
            Some(s) => binance::depth_snapshot_json_raw(
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
        binance::depth_snapshot_json(&slot.info, last_u, now, now, &bids, &asks)
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
    weighed(&inner, peer, 1, || {
        json_ok(binance::exchange_info_json(
            inner.syms.iter().map(|s| &s.info),
            unix_ms(),
        ))
    })
}

async fn ctl_rest_weight(
    State(inner): State<Shared>,
    Path((limit, window_ms)): Path<(u64, u64)>,
) -> Response {
    inner
        .rest_weight
        .set(limit, Duration::from_millis(window_ms));
    ok()
}

// ---------------------------------------------------------------- control

fn ok() -> Response {
    json_ok("{\"ok\":true}".into())
}

async fn ctl_stats(State(inner): State<Shared>) -> Response {
    let s = inner.snapshot_stats();
    json_ok(serde_json::to_string(&s).unwrap_or_else(|_| "{}".into()))
}

async fn ctl_book(State(inner): State<Shared>, Path(symbol): Path<String>) -> Response {
    let Some(idx) = inner.sym_index(&symbol) else {
        return binance_error(StatusCode::NOT_FOUND, -1121, MSG_BAD_SYMBOL);
    };
    let info = &inner.syms[idx].info;
    let Some(book) = inner.book(&symbol) else {
        return binance_error(StatusCode::NOT_FOUND, -1121, MSG_BAD_SYMBOL);
    };
    let side = |l: &[(i64, i64)]| -> Vec<[String; 2]> {
        l.iter().map(|(p, q)| [info.px(*p), info.qty(*q)]).collect()
    };
    json_ok(
        serde_json::json!({
            "symbol": info.symbol,
            "lastUpdateId": book.last_update_id,
            "bids": side(&book.bids),
            "asks": side(&book.asks),
        })
        .to_string(),
    )
}

async fn ctl_pause(State(inner): State<Shared>) -> Response {
    inner.paused.store(true, Ordering::SeqCst);
    ok()
}

async fn ctl_resume(State(inner): State<Shared>) -> Response {
    inner.paused.store(false, Ordering::SeqCst);
    ok()
}

async fn ctl_drop(State(inner): State<Shared>) -> Response {
    inner.inject(Fault::DropConnections);
    ok()
}

async fn ctl_drop_after(State(inner): State<Shared>, Path(n): Path<u64>) -> Response {
    inner.inject(Fault::DropAfter(n));
    ok()
}

async fn ctl_gap(State(inner): State<Shared>, Path(symbol): Path<String>) -> Response {
    if inner.sym_index(&symbol).is_none() {
        return binance_error(StatusCode::NOT_FOUND, -1121, MSG_BAD_SYMBOL);
    }
    inner.inject(Fault::Gap(symbol));
    ok()
}

async fn ctl_silence(State(inner): State<Shared>, Path(ms): Path<u64>) -> Response {
    inner.inject(Fault::Silence(Duration::from_millis(ms)));
    ok()
}

async fn ctl_malformed(State(inner): State<Shared>, Path(symbol): Path<String>) -> Response {
    if inner.sym_index(&symbol).is_none() {
        return binance_error(StatusCode::NOT_FOUND, -1121, MSG_BAD_SYMBOL);
    }
    inner.inject(Fault::Malformed(symbol));
    ok()
}

async fn ctl_silent(State(inner): State<Shared>, Path(symbol): Path<String>) -> Response {
    if inner.sym_index(&symbol).is_none() {
        return binance_error(StatusCode::NOT_FOUND, -1121, MSG_BAD_SYMBOL);
    }
    inner.inject(Fault::SilentStream(symbol));
    ok()
}

async fn ctl_fail_snapshots(State(inner): State<Shared>, Path(n): Path<u32>) -> Response {
    inner.inject(Fault::FailSnapshots(n));
    ok()
}
