//! The Bybit and OKX WebSocket endpoints (`/v5/public/linear`,
//! `/ws/v5/public`): one task per connection with a bounded outgoing queue
//! (a full queue ends the connection), the text frames a client sends
//! (pings, subscribe ops; the venue-specific ops are in `crate::bybit` and
//! `crate::okx`), subscriptions (a book subscription starts with a
//! snapshot) and the pacing log of each connection.

use super::generator::snapshot_for;
use super::{ConnLog, Kind, MAX_LOG, VConn, VSub};
use crate::SimVenue;
use crate::bybit::{self, bybit_ticker_json};
use crate::decimal::unix_ms;
use crate::okx::{self, okx_bbo_json, okx_ticker_json};
use crate::state::Inner;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::sync::mpsc;

type Shared = Arc<Inner>;

/// The Bybit and OKX routes (WebSocket and REST).
pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/v5/public/linear", get(ws_bybit))
        .route("/ws/v5/public", get(ws_okx))
        .route("/v5/market/instruments-info", get(bybit::rest_instruments))
        .route("/api/v5/public/instruments", get(okx::rest_instruments))
        .route("/v5/market/time", get(bybit::rest_time))
        .route("/api/v5/public/time", get(okx::rest_time))
}

async fn ws_bybit(State(inner): State<Shared>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(1 << 20)
        .on_upgrade(move |s| conn_task(inner, s, SimVenue::Bybit))
}

async fn ws_okx(State(inner): State<Shared>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(1 << 20)
        .on_upgrade(move |s| conn_task(inner, s, SimVenue::Okx))
}

async fn conn_task(inner: Shared, socket: WebSocket, venue: SimVenue) {
    let v = &inner.venues;
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(crate::binance::ws::QUEUE_CAP);
    let conn = Arc::new(VConn {
        id: v.next_id.fetch_add(1, Ordering::Relaxed),
        venue,
        tx,
        subs: Mutex::new(Vec::new()),
        killed: AtomicBool::new(false),
        kill: tokio::sync::Notify::new(),
    });
    {
        v.note_open(venue);
        let mut p = v.pacing.lock();
        if p.conns.len() < MAX_LOG {
            p.conns.insert(
                conn.id,
                ConnLog {
                    venue: Some(venue),
                    ..Default::default()
                },
            );
        }
    }
    v.conns.lock().push(conn.clone());
    inner
        .stats
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    inner.stats.connections_open.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let mut batch: Vec<Utf8Bytes> = Vec::with_capacity(256);
    loop {
        tokio::select! {
            biased;
            _ = conn.kill.notified() => break,
            n = rx.recv_many(&mut batch, 256) => {
                if n == 0 { break; }
                let mut ok = true;
                for t in batch.drain(..) {
                    if sink.feed(Message::Text(t)).await.is_err() { ok = false; break; }
                }
                if !ok || sink.flush().await.is_err() { break; }
            }
            msg = stream.next() => {
                let t = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                if inner.silenced() {
                    continue;
                }
                handle_text(&inner, &conn, t.as_str());
            }
        }
    }
    conn.killed.store(true, Ordering::Relaxed);
    v.conns.lock().retain(|c| c.id != conn.id);
    inner.stats.connections_open.fetch_sub(1, Ordering::Relaxed);
}

pub(crate) fn note_frame(inner: &Inner, conn: &VConn, op: bool) {
    let mut p = inner.venues.pacing.lock();
    if let Some(c) = p.conns.get_mut(&conn.id) {
        c.frames += 1;
        if op && c.ops.len() < 100_000 {
            c.ops.push(Instant::now());
        }
        let subs = conn.subs.lock();
        let chars: usize = subs
            .iter()
            .filter(|_| conn.venue == SimVenue::Bybit)
            .map(|s| s.key.len() + 3)
            .sum();
        let books = subs.iter().filter(|s| s.kind == Kind::Book).count();
        c.max_chars = c.max_chars.max(chars);
        c.max_books = c.max_books.max(books);
    }
}

pub(crate) fn reject(inner: &Inner, venue: SimVenue) {
    *inner
        .venues
        .pacing
        .lock()
        .rejected
        .entry(venue)
        .or_default() += 1;
}

fn handle_text(inner: &Inner, conn: &VConn, text: &str) {
    if conn.venue == SimVenue::Okx && text == "ping" {
        note_frame(inner, conn, false);
        conn.push("pong".into());
        return;
    }
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            note_frame(inner, conn, false);
            let reply = match conn.venue {
                SimVenue::Bybit => {
                    r#"{"success":false,"ret_msg":"error:invalid json","conn_id":"sim","op":""}"#
                        .to_string()
                }
                _ => r#"{"event":"error","code":"60012","msg":"Invalid request","connId":"sim"}"#
                    .to_string(),
            };
            conn.push(reply);
            return;
        }
    };
    let op = v
        .get("op")
        .and_then(|o| o.as_str())
        .unwrap_or("")
        .to_string();
    match conn.venue {
        SimVenue::Bybit => bybit::op(inner, conn, &v, &op),
        _ => okx::op(inner, conn, &v, &op),
    }
}

/// Adds a subscription; a book subscription starts with a snapshot, taken
/// under the symbol's lock so no update can overtake it.
pub(crate) fn add_sub(inner: &Inner, conn: &VConn, i: usize, kind: Kind, key: String) {
    let s = &inner.venues.syms[i];
    let b = s.book.lock();
    let mut subs = conn.subs.lock();
    if subs.iter().any(|x| x.key == key) {
        return;
    }
    if kind == Kind::Book {
        conn.push(snapshot_for(s, &b, &key, unix_ms()));
    }
    // A ticker subscription starts from what the ticker streams last sent
    // (Bybit: a snapshot the following deltas build on).
    if let (Some(top), Kind::Ticker | Kind::Bbo) = (b.ticker, kind) {
        let ms = unix_ms();
        let text = match (s.venue, kind) {
            (SimVenue::Bybit, _) => bybit_ticker_json(s, None, top, b.id * 7 + 100, ms),
            (_, Kind::Bbo) => okx_bbo_json(s, top, b.id, ms),
            _ => okx_ticker_json(s, top, ms),
        };
        conn.push(text);
        let c = if kind == Kind::Bbo {
            &s.bbo_frames
        } else {
            &s.ticker_frames
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
    subs.push(VSub {
        sym: i,
        kind,
        key,
        muted: false,
    });
}
