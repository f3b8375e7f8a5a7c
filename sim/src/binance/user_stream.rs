//! Binance USD-M's user data stream, simulated (protocols.md §1.6): the
//! listenKey endpoints (`POST/PUT/DELETE /fapi/v1/listenKey`, API-key
//! header only, no signature, weight 1; POST returns the active key with
//! its validity extended, or a new one; a key lives [`KEY_VALIDITY`] unless
//! kept alive), the private WebSocket (`/private/ws?listenKey=<key>`,
//! `/private/ws/<key>` and the legacy `/ws/<key>`), and the fan-out of the
//! account's events to the connections of the active key.
//!
//! An unknown or expired key is refused before the upgrade: HTTP 400 with
//! `{"code":-1125,"msg":"This listenKey does not exist."}`. On expiry the
//! connections get `listenKeyExpired` and a close frame. Events are sent
//! only to the connections open at that moment: nothing is kept for a
//! client that is away (like Binance). Each connection's queue is bounded
//! ([`PRIVATE_QUEUE_CAP`]); a connection that falls that far behind is
//! dropped (`private_slow_disconnects`) rather than the queue growing.
//! The stream faults (drop, expire now, duplicate events) act here.

use super::auth::{Refusal, err};
use super::events::{PrivEvent, listen_key_expired};
use super::rest::weighed;
use super::{auth, binance_error};
use crate::server::json_ok;
use crate::state::Inner;
use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use rand::Rng;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, error::TrySendError};

/// How long a listenKey lives without a keepalive (Binance: 60 minutes).
pub const KEY_VALIDITY: Duration = Duration::from_secs(60 * 60);
/// Events queued per private connection before it counts as too slow.
pub const PRIVATE_QUEUE_CAP: usize = 4096;
/// Binance's answer to an unknown or expired listenKey.
pub(crate) const MSG_NO_KEY: &str = "This listenKey does not exist.";
pub(crate) const CODE_NO_KEY: i64 = -1125;

type Shared = Arc<Inner>;

/// What a private connection is sent.
#[derive(Debug)]
pub(crate) enum PrivOut {
    Text(Utf8Bytes),
    /// Send a close frame and end (after the listenKeyExpired event).
    Close,
}

/// One private stream connection.
pub(crate) struct PrivConn {
    id: u64,
    key: String,
    tx: mpsc::Sender<PrivOut>,
    kill: tokio::sync::Notify,
    killed: AtomicBool,
}

impl PrivConn {
    fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill.notify_one();
    }
}

/// The active listenKey.
#[derive(Debug, Clone)]
struct ActiveKey {
    key: String,
    expires: Instant,
}

/// The account's user data stream: its key, its connections, the stream
/// faults and counters.
pub(crate) struct UserStream {
    key: Mutex<Option<ActiveKey>>,
    validity: Mutex<Duration>,
    conns: Mutex<Vec<Arc<PrivConn>>>,
    next_id: AtomicU64,
    /// Events still to be sent twice ([`crate::Fault::StreamDuplicate`]).
    pub(crate) duplicate_left: AtomicU32,
    pub(crate) keys_created: AtomicU64,
    pub(crate) keys_kept_alive: AtomicU64,
    pub(crate) keys_expired: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) events_sent: AtomicU64,
    pub(crate) slow_disconnects: AtomicU64,
}

impl Default for UserStream {
    fn default() -> Self {
        UserStream {
            key: Mutex::new(None),
            validity: Mutex::new(KEY_VALIDITY),
            conns: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            duplicate_left: AtomicU32::new(0),
            keys_created: AtomicU64::new(0),
            keys_kept_alive: AtomicU64::new(0),
            keys_expired: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            events_sent: AtomicU64::new(0),
            slow_disconnects: AtomicU64::new(0),
        }
    }
}

fn new_key() -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..64)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect()
}

impl UserStream {
    /// The active key, if it has not expired.
    pub fn active_key(&self) -> Option<String> {
        let g = self.key.lock();
        g.as_ref()
            .filter(|k| Instant::now() < k.expires)
            .map(|k| k.key.clone())
    }

    /// POST: the active key with its validity extended, or a new key.
    fn create(&self) -> String {
        let validity = *self.validity.lock();
        let mut g = self.key.lock();
        let now = Instant::now();
        if let Some(k) = g.as_mut().filter(|k| now < k.expires) {
            k.expires = now + validity;
            self.keys_kept_alive.fetch_add(1, Ordering::Relaxed);
            return k.key.clone();
        }
        let key = new_key();
        *g = Some(ActiveKey {
            key: key.clone(),
            expires: now + validity,
        });
        self.keys_created.fetch_add(1, Ordering::Relaxed);
        key
    }

    /// PUT: extends the active key; None when there is none.
    fn keepalive(&self) -> Option<String> {
        let validity = *self.validity.lock();
        let mut g = self.key.lock();
        let now = Instant::now();
        let k = g.as_mut().filter(|k| now < k.expires)?;
        k.expires = now + validity;
        self.keys_kept_alive.fetch_add(1, Ordering::Relaxed);
        Some(k.key.clone())
    }

    /// DELETE: closes the key and its connections (no event).
    fn close(&self) -> bool {
        let old = self.key.lock().take();
        let Some(old) = old else {
            return false;
        };
        for c in self.conns.lock().iter().filter(|c| c.key == old.key) {
            c.kill();
        }
        true
    }

    /// Sets the validity of the active key (from now) and of later ones.
    pub fn set_validity(&self, validity: Duration) {
        *self.validity.lock() = validity;
        if let Some(k) = self.key.lock().as_mut() {
            k.expires = Instant::now() + validity;
        }
    }

    /// Expires the active key now (its connections get `listenKeyExpired`
    /// at the next timer tick).
    pub fn expire_now(&self) {
        if let Some(k) = self.key.lock().as_mut() {
            k.expires = Instant::now();
        }
    }

    /// Drops every private connection abruptly; the key stays valid.
    pub fn drop_connections(&self) {
        for c in self.conns.lock().iter() {
            c.kill();
        }
    }

    /// Sends `listenKeyExpired` and closes the connections of an expired
    /// key (called by the timer task).
    pub fn check_expiry(&self) {
        let expired = {
            let mut g = self.key.lock();
            match g.as_ref() {
                Some(k) if Instant::now() >= k.expires => g.take(),
                _ => None,
            }
        };
        let Some(k) = expired else {
            return;
        };
        self.keys_expired.fetch_add(1, Ordering::Relaxed);
        tracing::info!("sim: listenKey expired");
        let text = listen_key_expired(&k.key, crate::decimal::unix_ms());
        for c in self.conns.lock().iter().filter(|c| c.key == k.key) {
            let sent = c.tx.try_send(PrivOut::Text(text.clone().into())).is_ok()
                && c.tx.try_send(PrivOut::Close).is_ok();
            if !sent {
                c.kill();
            }
        }
    }

    /// Sends events, in order, to the connections of the active key. Never
    /// blocks: a full queue drops that connection.
    pub fn emit(&self, events: &[PrivEvent]) {
        if events.is_empty() {
            return;
        }
        let Some(key) = self.active_key() else {
            return;
        };
        let conns = self.conns.lock();
        for ev in events {
            let copies = if self
                .duplicate_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                2
            } else {
                1
            };
            let text = Utf8Bytes::from(ev.text.clone());
            for c in conns.iter().filter(|c| c.key == key) {
                if c.killed.load(Ordering::Relaxed) {
                    continue;
                }
                for _ in 0..copies {
                    match c.tx.try_send(PrivOut::Text(text.clone())) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            tracing::warn!(conn = c.id, "sim: private stream too slow, dropping");
                            self.slow_disconnects.fetch_add(1, Ordering::Relaxed);
                            c.kill();
                            break;
                        }
                        Err(TrySendError::Closed(_)) => {
                            c.kill();
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// The listenKey and private stream routes.
pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route(
            "/fapi/v1/listenKey",
            post(key_post).put(key_put).delete(key_delete),
        )
        .route("/private/ws", get(private_ws_query))
        .route("/private/ws/{key}", get(private_ws_path))
}

/// The API-key check of USER_STREAM endpoints (no signature).
fn api_key(inner: &Inner, headers: &HeaderMap) -> Result<(), Refusal> {
    let key = inner.orders.creds.lock().0.clone();
    match headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok()) {
        None | Some("") => Err(err(
            StatusCode::UNAUTHORIZED,
            -2014,
            "API-key format invalid.",
        )),
        Some(k) if k != key => Err(err(
            StatusCode::UNAUTHORIZED,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        )),
        Some(_) => Ok(()),
    }
}

fn key_json(key: &str) -> Response {
    json_ok(serde_json::json!({ "listenKey": key }).to_string())
}

async fn key_post(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    weighed(&inner, peer, 1, || {
        auth::respond(api_key(&inner, &headers).map(|()| key_json(&inner.user.create())))
    })
}

async fn key_put(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    weighed(&inner, peer, 1, || {
        auth::respond(api_key(&inner, &headers).and_then(|()| {
            inner
                .user
                .keepalive()
                .map(|k| key_json(&k))
                .ok_or_else(|| auth::bad(CODE_NO_KEY, MSG_NO_KEY))
        }))
    })
}

async fn key_delete(
    State(inner): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    weighed(&inner, peer, 1, || {
        auth::respond(api_key(&inner, &headers).and_then(|()| {
            if inner.user.close() {
                Ok(json_ok("{}".into()))
            } else {
                Err(auth::bad(CODE_NO_KEY, MSG_NO_KEY))
            }
        }))
    })
}

async fn private_ws_query(
    State(inner): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let key = q.get("listenKey").cloned().unwrap_or_default();
    upgrade_private(inner, ws, key)
}

async fn private_ws_path(
    State(inner): State<Shared>,
    Path(key): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade_private(inner, ws, key)
}

/// True for a `/ws/<name>` that names a listenKey rather than a stream
/// (stream names carry `@`; keys are long alphanumerics).
pub(crate) fn looks_like_key(name: &str) -> bool {
    !name.contains('@') && name.len() >= 32 && name.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// Upgrades a private stream connection, or refuses an unknown key.
pub(crate) fn upgrade_private(inner: Shared, ws: WebSocketUpgrade, key: String) -> Response {
    if inner.user.active_key().as_deref() != Some(key.as_str()) {
        inner
            .user
            .connections_refused
            .fetch_add(1, Ordering::Relaxed);
        return binance_error(StatusCode::BAD_REQUEST, CODE_NO_KEY, MSG_NO_KEY);
    }
    ws.max_message_size(1 << 16)
        .max_frame_size(1 << 16)
        .on_upgrade(move |socket| private_task(inner, socket, key))
}

/// Serves one private connection until it ends, is killed (abrupt close,
/// no close frame) or its key expires (event, then a close frame).
async fn private_task(inner: Shared, socket: WebSocket, key: String) {
    let user = &inner.user;
    let (tx, mut rx) = mpsc::channel(PRIVATE_QUEUE_CAP);
    let conn = Arc::new(PrivConn {
        id: user.next_id.fetch_add(1, Ordering::Relaxed),
        key,
        tx,
        kill: tokio::sync::Notify::new(),
        killed: AtomicBool::new(false),
    });
    user.conns.lock().push(conn.clone());
    user.connections_total.fetch_add(1, Ordering::Relaxed);
    user.connections_open.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(conn = conn.id, "sim: private stream connected");
    let (mut sink, mut stream) = socket.split();
    let period = inner.ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let reason = loop {
        tokio::select! {
            biased;
            _ = conn.kill.notified() => break "killed",
            out = rx.recv() => match out {
                None => break "queue closed",
                Some(PrivOut::Text(t)) => {
                    if sink.send(Message::Text(t)).await.is_err() {
                        break "write ended";
                    }
                    user.events_sent.fetch_add(1, Ordering::Relaxed);
                }
                Some(PrivOut::Close) => {
                    let _ = sink.send(Message::Close(None)).await;
                    break "key expired";
                }
            },
            msg = stream.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break "client gone",
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if !inner.silenced() && sink.send(Message::Ping(Default::default())).await.is_err() {
                    break "write ended";
                }
            }
        }
    };
    tracing::debug!(conn = conn.id, reason, "sim: private stream ended");
    conn.killed.store(true, Ordering::Relaxed);
    user.conns.lock().retain(|c| c.id != conn.id);
    user.connections_open.fetch_sub(1, Ordering::Relaxed);
    drop(sink);
    drop(stream);
}
