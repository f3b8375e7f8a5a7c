//! One WebSocket connection's life, venue-agnostic: connect, send the
//! venue's subscribe messages, read frames (stamping their receive time),
//! answer pings, send keepalives, reconnect on error, close, silence or
//! connection age, with exponential backoff and jitter. The venue-specific
//! part is a [`Protocol`].

use super::backoff::Backoff;
use super::weight::{RestBudget, Ticket};
use crate::core::venue_error::{RequestKind, VenueError};
use crate::core::{Venue, now_ns};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// A REST reply delivered back to the protocol that asked for it: the body
/// of a 2xx answer, or the typed failure (its `disposition()` says what to
/// do).
pub struct RestReply {
    pub tag: usize,
    pub result: Result<Vec<u8>, VenueError>,
}

/// Lets a protocol issue REST requests whose replies come back through the
/// session loop (so the protocol state is only touched on one task). With a
/// venue [`RestBudget`], each request first waits (on its own task) for its
/// weight, and every reply's rate-limit headers and 429/418 go to the budget.
/// An offline client only records the requests, for in-process injection.
#[derive(Clone)]
pub struct RestClient {
    mode: RestMode,
}

#[derive(Clone)]
enum RestMode {
    Live {
        client: reqwest::Client,
        tx: mpsc::Sender<RestReply>,
        budget: Option<RestBudget>,
    },
    Offline(Arc<Mutex<VecDeque<(String, usize)>>>),
}

/// Requests an offline client recorded: (url, tag).
pub type RecordedRequests = Arc<Mutex<VecDeque<(String, usize)>>>;

impl RestClient {
    pub fn new(tx: mpsc::Sender<RestReply>) -> RestClient {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        RestClient {
            mode: RestMode::Live {
                client,
                tx,
                budget: None,
            },
        }
    }

    /// Budgets every request of this client against the venue's shared
    /// request-weight budget.
    pub fn with_budget(mut self, b: RestBudget) -> RestClient {
        if let RestMode::Live { budget, .. } = &mut self.mode {
            *budget = Some(b);
        }
        self
    }

    /// A client that sends nothing and records each request (at most 1024).
    pub fn offline() -> (RestClient, RecordedRequests) {
        let q: RecordedRequests = Arc::new(Mutex::new(VecDeque::new()));
        (
            RestClient {
                mode: RestMode::Offline(q.clone()),
            },
            q,
        )
    }

    /// Spawns a GET on the current runtime; the reply arrives tagged.
    pub fn get(&self, url: String, tag: usize) {
        self.get_weighted(url, tag, 1, None);
    }

    /// Spawns a GET of request weight `weight` on the current runtime: it
    /// waits for the budget (if any) first; the reply arrives tagged. If the
    /// ticket goes stale while it waits, nothing is sent and no reply comes.
    pub fn get_weighted(&self, url: String, tag: usize, weight: u32, ticket: Option<Ticket>) {
        let (client, tx, budget) = match &self.mode {
            RestMode::Live { client, tx, budget } => (client.clone(), tx.clone(), budget.clone()),
            RestMode::Offline(q) => {
                let mut q = q.lock();
                if q.len() < 1024 {
                    q.push_back((url, tag));
                }
                return;
            }
        };
        tokio::spawn(async move {
            if let Some(b) = &budget
                && !b.acquire(weight, ticket.as_ref()).await
            {
                return;
            }
            let transport = |e: reqwest::Error| VenueError::Transport {
                kind: RequestKind::Read,
                detail: e.to_string(),
            };
            let result = async {
                let resp = client.get(&url).send().await.map_err(transport)?;
                let status = resp.status();
                if let Some(b) = &budget {
                    b.on_response(status.as_u16(), resp.headers());
                }
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let body = resp.bytes().await.map_err(transport)?;
                if !status.is_success() {
                    return Err(VenueError::from_status(
                        status.as_u16(),
                        retry_after,
                        &body,
                        RequestKind::Read,
                    ));
                }
                Ok(body.to_vec())
            }
            .await;
            let _ = tx.send(RestReply { tag, result }).await;
        });
    }
}

/// The venue-specific side of a connection.
pub trait Protocol: Send {
    fn venue(&self) -> Venue;
    /// Full URL to connect to.
    fn url(&self) -> String;
    /// Called after connecting; push the messages to send (subscriptions).
    fn on_open(&mut self, out: &mut Vec<String>);
    /// One text (or binary) frame, with its receive stamp.
    fn on_frame(&mut self, frame: &[u8], recv_ns: u64);
    /// A REST reply to a request this protocol made.
    fn on_rest(&mut self, reply: RestReply);
    /// About every 100 ms while connected; push keepalives or other messages.
    fn on_tick(&mut self, out: &mut Vec<String>);
    /// The connection is gone (books must be marked out of sync).
    fn on_close(&mut self);
    /// True once subscriptions are confirmed (or need no confirmation).
    fn is_live(&self) -> bool {
        true
    }
    /// Set when the protocol wants the connection dropped and reopened
    /// (e.g. a venue's maintenance notice); returns the cause.
    fn wants_reconnect(&mut self) -> Option<&'static str> {
        None
    }
    /// Called after each frame: messages to send right away (a resubscribe
    /// after a gap), rather than at the next tick.
    fn drain_outgoing(&mut self, _out: &mut Vec<String>) {}
    /// Called before each connection attempt: how long to wait first (the
    /// venue's new-connection pacing); zero to connect now.
    fn connect_delay(&mut self) -> Duration {
        Duration::ZERO
    }
}

/// Timing rules of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub silence_timeout: Duration,
    pub max_age: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A connection that lived this long resets the backoff.
    pub healthy_after: Duration,
    pub connect_timeout: Duration,
}

/// Runs connections for `proto` until `stop` turns true. The venue counts
/// as connected (`qt_feed_connected`, `/ready`) while every one of its
/// sessions is live.
pub async fn run_session(
    proto: &mut dyn Protocol,
    rest_rx: &mut mpsc::Receiver<RestReply>,
    cfg: SessionConfig,
    shared: &crate::pipeline::shared::Shared,
    stop: watch::Receiver<bool>,
) {
    let venue = proto.venue();
    let health = shared.feed(venue);
    let gauge = shared
        .metrics
        .feed_connected
        .with_label_values(&[venue.as_str()]);
    gauge.set(health.open_session() as i64);
    // Whether this session counts as live in the venue's health.
    let mut me_live = false;
    // The recording tap (`[record]`): every frame, REST reply, open/close.
    let mut tap = shared
        .capture
        .get()
        .map(|r| r.connection(venue, &proto.url()));
    connections(proto, rest_rx, cfg, shared, stop, &mut me_live, &mut tap).await;
    gauge.set(health.close_session(me_live) as i64);
}

async fn connections(
    proto: &mut dyn Protocol,
    rest_rx: &mut mpsc::Receiver<RestReply>,
    cfg: SessionConfig,
    shared: &crate::pipeline::shared::Shared,
    mut stop: watch::Receiver<bool>,
    me_live: &mut bool,
    tap: &mut Option<Box<dyn crate::pipeline::tap::Tap>>,
) {
    let venue = proto.venue();
    let v = venue.as_str();
    let m = &shared.metrics;
    let health = shared.feed(venue);
    let connected_gauge = m.feed_connected.with_label_values(&[v]);
    let mut backoff = Backoff::new(cfg.backoff_min, cfg.backoff_max);
    let mut out = Vec::new();
    let tick_every =
        (cfg.silence_timeout / 4).clamp(Duration::from_millis(20), Duration::from_millis(100));
    loop {
        if *stop.borrow() {
            return;
        }
        let wait = proto.connect_delay();
        if !wait.is_zero() {
            if sleep_or_stop(wait, &mut stop).await {
                return;
            }
            continue;
        }
        let url = proto.url();
        let conn =
            tokio::time::timeout(cfg.connect_timeout, tokio_tungstenite::connect_async(&url)).await;
        let mut ws = match conn {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => {
                m.feed_reconnects
                    .with_label_values(&[v, "connect_failed"])
                    .inc();
                tracing::warn!(venue = v, url, error = %e, "connect failed");
                if sleep_or_stop(backoff.next_delay(), &mut stop).await {
                    return;
                }
                continue;
            }
            Err(_) => {
                m.feed_reconnects
                    .with_label_values(&[v, "connect_timeout"])
                    .inc();
                tracing::warn!(venue = v, url, "connect timed out");
                if sleep_or_stop(backoff.next_delay(), &mut stop).await {
                    return;
                }
                continue;
            }
        };
        tracing::info!(venue = v, url, "connected");
        let opened = Instant::now();
        let mut last_rx = Instant::now();
        out.clear();
        if let Some(t) = tap.as_mut() {
            t.open(&url);
        }
        proto.on_open(&mut out);
        let mut cause = "closed";
        for msg in out.drain(..) {
            if let Some(t) = tap.as_mut() {
                t.sent(&msg);
            }
            if ws.send(Message::text(msg)).await.is_err() {
                cause = "send_failed";
            }
        }
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if cause == "closed" {
            cause = loop {
                tokio::select! {
                    // Rare branches first: under a saturated stream a frame is
                    // always ready and would starve REST replies and timers.
                    biased;
                    _ = stop.changed() => {
                        let _ = ws.close(None).await;
                        if let Some(t) = tap.as_mut() {
                            t.close("stop");
                        }
                        proto.on_close();
                        return;
                    }
                    reply = rest_rx.recv() => {
                        if let Some(r) = reply {
                            if let Some(t) = tap.as_mut() {
                                t.rest(r.tag, &r.result);
                            }
                            proto.on_rest(r);
                        }
                    }
                    _ = tick.tick() => {
                        if last_rx.elapsed() > cfg.silence_timeout {
                            m.feed_silence_reconnects.with_label_values(&[v]).inc();
                            tracing::warn!(venue = v, silent_ms = last_rx.elapsed().as_millis() as u64, "feed silent; reconnecting");
                            break "silence";
                        }
                        if opened.elapsed() > cfg.max_age {
                            tracing::info!(venue = v, "renewing connection before the venue's age limit");
                            break "max_age";
                        }
                        if let Some(c) = proto.wants_reconnect() {
                            break c;
                        }
                        let live = proto.is_live();
                        if live != *me_live {
                            connected_gauge.set(health.set_live(me_live, live) as i64);
                        }
                        proto.on_tick(&mut out);
                        let mut failed = false;
                        for msg in out.drain(..) {
                            if let Some(t) = tap.as_mut() {
                                t.sent(&msg);
                            }
                            if ws.send(Message::text(msg)).await.is_err() {
                                failed = true;
                            }
                        }
                        if failed {
                            break "send_failed";
                        }
                    }
                    frame = ws.next() => {
                        let now = now_ns();
                        match frame {
                            Some(Ok(Message::Text(t))) => {
                                last_rx = Instant::now();
                                health.last_msg_ns.store(now, std::sync::atomic::Ordering::Relaxed);
                                health.messages.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                if let Some(c) = tap.as_mut() {
                                    c.frame(now, t.as_bytes());
                                }
                                proto.on_frame(t.as_bytes(), now);
                                proto.drain_outgoing(&mut out);
                                let mut failed = false;
                                for msg in out.drain(..) {
                                    if let Some(c) = tap.as_mut() {
                                        c.sent(&msg);
                                    }
                                    if ws.send(Message::text(msg)).await.is_err() {
                                        failed = true;
                                    }
                                }
                                if failed {
                                    break "send_failed";
                                }
                            }
                            Some(Ok(Message::Binary(b))) => {
                                last_rx = Instant::now();
                                health.last_msg_ns.store(now, std::sync::atomic::Ordering::Relaxed);
                                if let Some(c) = tap.as_mut() {
                                    c.frame(now, &b);
                                }
                                proto.on_frame(&b, now);
                            }
                            Some(Ok(Message::Ping(_))) | Some(Ok(Message::Pong(_))) => {
                                // tungstenite queues the pong reply itself.
                                last_rx = Instant::now();
                                health.last_msg_ns.store(now, std::sync::atomic::Ordering::Relaxed);
                            }
                            Some(Ok(Message::Close(_))) => break "closed_by_venue",
                            Some(Ok(Message::Frame(_))) => {}
                            Some(Err(e)) => {
                                tracing::warn!(venue = v, error = %e, "websocket error");
                                break "error";
                            }
                            None => break "eof",
                        }
                    }
                }
            };
        }
        connected_gauge.set(health.set_live(me_live, false) as i64);
        if let Some(t) = tap.as_mut() {
            t.close(cause);
        }
        proto.on_close();
        m.feed_reconnects.with_label_values(&[v, cause]).inc();
        tracing::warn!(
            venue = v,
            cause,
            lived_ms = opened.elapsed().as_millis() as u64,
            "disconnected; reconnecting"
        );
        if opened.elapsed() >= cfg.healthy_after {
            backoff.reset();
        }
        let delay = if cause == "max_age" {
            Duration::ZERO
        } else {
            backoff.next_delay()
        };
        if sleep_or_stop(delay, &mut stop).await {
            return;
        }
    }
}

/// Sleeps; returns true if asked to stop meanwhile.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
