//! The simulator's fault switches and counters: the [`Fault`]s a test
//! injects (through [`crate::SimHandle::inject`] or `POST /sim/fault/...`),
//! [`SimStats`] (`GET /sim/stats`), and the control API under `/sim/...`
//! (pause/resume, ground-truth books, REST weight limit, and the Bybit/OKX
//! per-symbol faults and pacing counters). The order venue's faults and
//! account controls are applied and routed by `control_orders`.

use crate::SimVenue;
use crate::binance::binance_error;
use crate::binance::wire::MSG_BAD_SYMBOL;
use crate::server::{json_ok, json_response as json};
use crate::state::Inner;
use crate::venues::VenueFault;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

type Shared = Arc<Inner>;

/// A fault to inject into the simulated venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Close every open WS connection now, abruptly (TCP dropped, no close frame).
    DropConnections,
    /// Close each currently open connection after it has sent N more data frames.
    DropAfter(u64),
    /// The next depth update of this symbol is applied to the ground-truth
    /// book but not sent, so clients see `pu` != their last `u`.
    Gap(String),
    /// Send nothing (no data, no pings) for this long; sockets stay open and
    /// the market does not move meanwhile.
    Silence(Duration),
    /// The next frame of this symbol (any of its streams) is sent truncated
    /// (invalid JSON); its event still applies to the ground-truth book.
    Malformed(String),
    /// The next N REST depth requests answer HTTP 503 with Binance's -1001 body.
    FailSnapshots(u32),
    /// Every current subscription of this symbol (all its streams, on every
    /// connection) goes silent while the sockets and the other symbols keep
    /// flowing (a silent subscription); a new subscription of the same
    /// stream (after `UNSUBSCRIBE`/`SUBSCRIBE`, or on a new connection) is
    /// served normally. The market keeps moving.
    SilentStream(String),
    /// Like [`Fault::SilentStream`], and the connections open now stay deaf
    /// to this symbol: a resubscription on them is acknowledged but gets
    /// nothing. Only a new connection is served (tests the reconnect that
    /// follows a resubscribe that did not help).
    DeafStream(String),
    /// The next N new orders (`POST /fapi/v1/order`) are placed (their
    /// stream events go out) but answered HTTP 503 with `-1007` ("Timeout
    /// waiting for response from backend server. Send status unknown;
    /// execution status unknown."): the outcome is unknown to the client.
    NewOrder503Placed(u32),
    /// The next N new orders are answered HTTP 500 with `-1001` and are
    /// NOT placed (nothing on the stream, the order does not exist).
    NewOrder500NotPlaced(u32),
    /// The next `orders` new orders are placed at once (events go out) but
    /// answered only after `delay` (a client with a shorter timeout gives up
    /// not knowing the outcome).
    NewOrderDelay { orders: u32, delay: Duration },
    /// For `duration`, every Binance REST request (market data, signed,
    /// listenKey) is refused: the first `requests` with HTTP 429 `-1003` and
    /// `Retry-After` (seconds left), any later one during the storm with
    /// HTTP 418 `-1003` (banned), like Binance bans a client that keeps
    /// sending. Counted in `rest_throttled_429` / `rest_banned_418`.
    RateLimitStorm { requests: u32, duration: Duration },
    /// The active listenKey expires now: its connections get
    /// `listenKeyExpired` and a close frame; the key is refused afterwards.
    ExpireListenKey,
    /// Every private (user data) connection is closed abruptly (no close
    /// frame); the listenKey stays valid, so a reconnect with it works.
    /// Events meanwhile are not replayed.
    DropPrivateStreams,
    /// Each of the next N private stream events is sent twice.
    StreamDuplicate(u32),
    /// The next N new orders that fill on arrival send their first fill's
    /// `TRADE_LITE` and `ORDER_TRADE_UPDATE` (TRADE) before their NEW ack.
    StreamReorder(u32),
}

/// Counters of the simulator since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SimStats {
    pub connections_total: u64,
    pub connections_open: u64,
    /// Market-data frames written to sockets.
    pub messages_sent: u64,
    /// Depth updates generated (or replayed), including gapped ones.
    pub depth_updates: u64,
    /// Successful REST depth snapshots.
    pub snapshots_served: u64,
    /// Incoming text messages on all connections (SUBSCRIBE and others).
    pub subscribe_messages: u64,
    /// Connections dropped because their outgoing queue filled up (slow
    /// readers). Addition to the brief's field list.
    pub slow_disconnects: u64,
    /// Most streams one connection asked for (URL plus `SUBSCRIBE`s),
    /// counted before the 1024-stream cap.
    pub max_streams_per_conn: u64,
    /// Streams refused because a connection already had 1024.
    pub stream_limit_refusals: u64,
    /// Most incoming messages one connection sent within one second.
    pub max_incoming_per_sec: u64,
    /// Connections closed for sending more than 10 messages in a second.
    pub incoming_rate_disconnects: u64,
    /// Binance REST requests received (any answer).
    pub rest_requests: u64,
    /// The REST weight limit per window per IP (Binance: 2400 per minute).
    pub rest_weight_limit: u64,
    /// REST weight served, all IPs and windows together.
    pub rest_weight_total: u64,
    /// Most weight one IP used within one window.
    pub rest_weight_max_used: u64,
    /// HTTP 429 answers (weight exceeded).
    pub rest_throttled_429: u64,
    /// HTTP 418 answers (a request before a Retry-After had passed).
    pub rest_banned_418: u64,
    /// Requests that arrived while their IP's Retry-After was running (more
    /// than 200 ms after the 429: the client could have known).
    pub rest_requests_during_retry_after: u64,
    /// Requests that arrived within 200 ms of their IP's 429 (already in
    /// flight when it was sent); answered 429 too.
    pub rest_in_flight_after_429: u64,
    /// `POST /fapi/v1/order` requests received (any answer); per
    /// `newClientOrderId`: [`crate::SimHandle::new_order_requests`].
    pub new_order_requests: u64,
    /// Requests whose `newClientOrderId` was beyond the tracked ids' cap.
    pub untracked_client_ids: u64,
    /// Orders the account accepted (faulted answers with the order placed
    /// included).
    pub orders_placed: u64,
    /// New orders answered by a fault (503 placed, 500 not placed, delayed).
    pub faulted_new_order_answers: u64,
    /// Fills (trades) of the account.
    pub fills: u64,
    pub listen_keys_created: u64,
    /// Keepalives: PUT, and POST while a key was active.
    pub listen_keys_kept_alive: u64,
    pub listen_keys_expired: u64,
    pub private_connections_total: u64,
    pub private_connections_open: u64,
    /// Private connections refused (unknown or expired listenKey).
    pub private_connections_refused: u64,
    /// Events written to private connections (duplicates included).
    pub private_events_sent: u64,
    /// Private connections dropped because their queue filled up.
    pub private_slow_disconnects: u64,
    /// `countdownCancelAll` calls that armed (or re-armed) a timer.
    pub countdown_arms: u64,
    /// Countdowns that elapsed and canceled their symbol's orders.
    pub countdown_triggers: u64,
    /// New orders refused for the account's order rate (HTTP 429 `-1015`
    /// "Too many new orders").
    pub new_orders_rate_limited: u64,
}

impl Inner {
    /// The counters of `/sim/stats`.
    pub fn snapshot_stats(&self) -> SimStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let w = &self.rest_weight;
        SimStats {
            rest_requests: l(&w.requests),
            rest_weight_limit: w.limit(),
            rest_weight_total: l(&w.weight_total),
            rest_weight_max_used: l(&w.max_used),
            rest_throttled_429: l(&w.throttled_429),
            rest_banned_418: l(&w.banned_418),
            rest_requests_during_retry_after: l(&w.during_retry_after),
            rest_in_flight_after_429: l(&w.in_flight_after_429),
            ..crate::control_orders::order_stats(self, self.stats.snapshot())
        }
    }

    /// True while a [`Fault::Silence`] is in force.
    pub fn silenced(&self) -> bool {
        let mut g = self.silence_until.lock();
        match *g {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *g = None;
                false
            }
            None => false,
        }
    }

    /// Applies a fault (shared by [`SimHandle::inject`] and the control API).
    pub fn inject(&self, fault: Fault) {
        tracing::info!(?fault, "sim: fault injected");
        match fault {
            Fault::DropConnections => {
                for c in self.conns.lock().iter() {
                    c.kill();
                }
                self.venues.kill_all();
                self.user.drop_connections();
            }
            Fault::DropAfter(n) => {
                for c in self.conns.lock().iter() {
                    if n == 0 {
                        c.kill();
                    } else {
                        c.budget
                            .store(n.min(i64::MAX as u64) as i64, Ordering::Relaxed);
                    }
                }
            }
            Fault::Gap(s) => match self.sym_index(&s) {
                Some(i) => self.syms[i].gap_next.store(true, Ordering::Relaxed),
                None => tracing::warn!(symbol = %s, "sim: gap fault for unknown symbol"),
            },
            Fault::Malformed(s) => match self.sym_index(&s) {
                Some(i) => self.syms[i].malformed_next.store(true, Ordering::Relaxed),
                None => tracing::warn!(symbol = %s, "sim: malformed fault for unknown symbol"),
            },
            Fault::Silence(d) => {
                *self.silence_until.lock() = Instant::now().checked_add(d);
            }
            Fault::FailSnapshots(n) => self.fail_snapshots.store(n, Ordering::Relaxed),
            Fault::SilentStream(s) => self.mute(&s, false),
            Fault::DeafStream(s) => self.mute(&s, true),
            other => crate::control_orders::inject(self, other),
        }
    }

    /// Mutes every current subscription of `symbol`; `deaf`: the open
    /// connections also ignore its later subscriptions.
    fn mute(&self, symbol: &str, deaf: bool) {
        let Some(i) = self.sym_index(symbol) else {
            tracing::warn!(symbol, "sim: silent fault for unknown symbol");
            return;
        };
        for c in self.conns.lock().iter() {
            if deaf {
                c.deaf.lock().push(i);
            }
            for sub in c.subs.lock().iter_mut() {
                if sub.target.is_some_and(|(x, _)| x == i) {
                    sub.muted = true;
                }
            }
        }
    }
}

/// The control routes under `/sim/...`.
pub(crate) fn router() -> Router<Shared> {
    Router::new()
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
        .route("/sim/venue/{venue}/book/{symbol}", get(ctl_venue_book))
        .route("/sim/venue/{venue}/fault/{fault}/{symbol}", post(ctl_fault))
        .route("/sim/venue/{venue}/pacing", get(ctl_pacing))
        .merge(crate::control_orders::router())
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

pub(crate) fn ok() -> Response {
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

fn venue_of(s: &str) -> Option<SimVenue> {
    match SimVenue::parse(s) {
        Some(SimVenue::Binance) | None => None,
        v => v,
    }
}

async fn ctl_venue_book(
    State(inner): State<Shared>,
    Path((venue, symbol)): Path<(String, String)>,
) -> Response {
    let Some(b) = venue_of(&venue).and_then(|v| inner.venues.book(v, &symbol)) else {
        return json(
            StatusCode::NOT_FOUND,
            r#"{"error":"unknown venue or symbol"}"#.into(),
        );
    };
    json(
        StatusCode::OK,
        serde_json::json!({"last_update_id": b.last_update_id, "bids": b.bids, "asks": b.asks})
            .to_string(),
    )
}

async fn ctl_fault(
    State(inner): State<Shared>,
    Path((venue, fault, symbol)): Path<(String, String, String)>,
) -> Response {
    let f = match fault.as_str() {
        "gap" => VenueFault::Gap,
        "malformed" => VenueFault::Malformed,
        "restart" => VenueFault::Restart,
        "bad_checksum" => VenueFault::BadChecksum,
        "silent" => VenueFault::SilentSubscription,
        _ => {
            return json(
                StatusCode::NOT_FOUND,
                r#"{"error":"unknown fault (gap, malformed, restart, bad_checksum, silent)"}"#
                    .into(),
            );
        }
    };
    match venue_of(&venue) {
        Some(v) if inner.venues.inject(v, &symbol, f) => {
            json(StatusCode::OK, "{\"ok\":true}".into())
        }
        _ => json(
            StatusCode::NOT_FOUND,
            r#"{"error":"unknown venue or symbol"}"#.into(),
        ),
    }
}

async fn ctl_pacing(State(inner): State<Shared>, Path(venue): Path<String>) -> Response {
    match venue_of(&venue) {
        Some(v) => json(
            StatusCode::OK,
            serde_json::to_string(&inner.venues.pacing(v)).unwrap_or_default(),
        ),
        None => json(StatusCode::NOT_FOUND, r#"{"error":"unknown venue"}"#.into()),
    }
}
