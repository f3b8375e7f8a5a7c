//! Binance WebSocket market streams: the combined (`/stream`,
//! `/public/stream`, `/market/stream`) and raw (`/ws/<stream>` and the
//! `/public`/`/market` variants) endpoints (a `/ws/<listenKey>` goes to the
//! private stream, `user_stream`), `SUBSCRIBE`/`UNSUBSCRIBE`/
//! `LIST_SUBSCRIPTIONS`, pings, and the fan-out of generated frames to the
//! subscribed connections.
//!
//! Each connection has a bounded queue ([`QUEUE_CAP`]); the fan-out never
//! waits on it: a connection whose queue is full is disconnected (and
//! counted in `slow_disconnects`), so one slow client cannot stall the
//! generator or the others. Like Binance, a connection that sends more than
//! [`MAX_INCOMING_PER_SEC`] messages within one second is disconnected, and
//! one connection carries at most [`MAX_STREAMS`] streams.

use super::wire::{combined_frame, parse_stream_name};
use crate::market::OutEvent;
use crate::server::truncate;
use crate::state::{ConnShared, Inner, Sub};
use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
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

/// The WebSocket routes.
pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/stream", get(ws_combined))
        .route("/public/stream", get(ws_combined))
        .route("/market/stream", get(ws_combined))
        .route("/ws", get(ws_raw_bare))
        .route("/ws/{stream}", get(ws_raw_or_key))
        .route("/public/ws/{stream}", get(ws_raw))
        .route("/market/ws/{stream}", get(ws_raw))
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

/// `/ws/<stream>`, or the legacy private stream `/ws/<listenKey>`.
async fn ws_raw_or_key(
    State(inner): State<Shared>,
    Path(stream): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    if super::user_stream::looks_like_key(&stream) {
        return super::user_stream::upgrade_private(inner, ws, stream);
    }
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
    inner.venues.note_open(crate::SimVenue::Binance);
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
