//! The user data stream: a listenKey (`POST /fapi/v1/listenKey`), the
//! WebSocket `<base>/private/ws?listenKey=<key>`, a keepalive `PUT` every
//! `listen_key_keepalive_ms`, and a new key and connection after
//! `listenKeyExpired` (once per key: a second one for an old key is
//! ignored), a failed keepalive, or a dropped connection (backoff with
//! jitter). After every (re)connect the REST gap fill runs before the
//! stream counts as up; until then `private_stream_up` is false in
//! `Shared` (risk SKIPs `private_stream_down`, `/ready` says so).
//!
//! Frames are decoded by `user_data::decode`; order events go to the desk
//! (unknown client ids parked there), frames for symbols not in the table
//! are parked, bad frames are counted by reason and logged once per reason.

use super::Ctx;
use super::api::{close_listen_key, create_listen_key, keepalive_listen_key};
use super::gap::{gap_fill, mark};
use crate::venue::binance::user_data::{UserDataError, UserEvent, decode};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// What a frame means for the connection.
enum FrameOutcome {
    Go,
    /// The key expired: new key, new connection, gap fill.
    Expired,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn set_up(c: &Ctx, up: bool) {
    c.set_stream_up(up);
}

fn jitter(d: Duration) -> Duration {
    let ns = crate::core::now_ns();
    d + Duration::from_millis(ns % (d.as_millis() as u64 / 4 + 1))
}

pub(super) async fn stream_task(c: Arc<Ctx>) {
    // It serves the stop work (cancels, flatten) too: it ends after it.
    let mut stop = c.finish.clone();
    let mut backoff = c.t.reconnect_min;
    let mut logged: HashSet<&'static str> = HashSet::new();
    // The trade ids before the first gap: none (the session's start).
    let mut gap_from = super::gap::GapMark::new();
    loop {
        if *stop.borrow() {
            return;
        }
        set_up(&c, false);
        let key = match create_listen_key(&c.client).await {
            Ok(k) => k,
            Err(e) => {
                c.m.stream("listen_key_failed");
                tracing::warn!("binance listenKey not created: {e}");
                if sleep_or_stop(&mut stop, jitter(backoff)).await {
                    return;
                }
                backoff = (backoff * 2).min(c.t.reconnect_max);
                continue;
            }
        };
        c.m.stream("listen_key_created");
        let url = user_stream_url(&c.stream_base, &key);
        let ws = match tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(&url))
            .await
        {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => {
                c.m.stream("connect_failed");
                tracing::warn!("binance private stream not connected: {e}");
                if sleep_or_stop(&mut stop, jitter(backoff)).await {
                    return;
                }
                backoff = (backoff * 2).min(c.t.reconnect_max);
                continue;
            }
            Err(_) => {
                c.m.stream("connect_failed");
                if sleep_or_stop(&mut stop, jitter(backoff)).await {
                    return;
                }
                backoff = (backoff * 2).min(c.t.reconnect_max);
                continue;
            }
        };
        c.m.stream("connected");
        let (mut sink, mut source) = ws.split();
        // Events that arrive meanwhile wait in the socket; applying them
        // after the REST answers changes nothing they already brought.
        if let Err(e) = gap_fill(&c, &gap_from).await {
            c.m.stream("gap_fill_failed");
            tracing::warn!("binance gap fill failed, reconnecting: {e}");
            let _ = sink.close().await;
            if sleep_or_stop(&mut stop, jitter(backoff)).await {
                return;
            }
            backoff = (backoff * 2).min(c.t.reconnect_max);
            continue;
        }
        set_up(&c, true);
        let mut keepalive = tokio::time::interval(c.t.keepalive);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keepalive.tick().await;
        let healthy_since = std::time::Instant::now();
        let cause = loop {
            tokio::select! {
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() {
                        let _ = sink.close().await;
                        let _ = close_listen_key(&c.client, &key).await;
                        set_up(&c, false);
                        return;
                    }
                }
                _ = keepalive.tick() => {
                    match keepalive_listen_key(&c.client, &key).await {
                        Ok(()) => c.m.stream("keepalive"),
                        Err(e) => {
                            c.m.stream("keepalive_failed");
                            tracing::warn!("binance listenKey keepalive failed, reopening: {e}");
                            break "keepalive_failed";
                        }
                    }
                }
                msg = source.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        if let FrameOutcome::Expired = on_frame(&c, t.as_bytes(), &key, &mut logged) {
                            c.m.stream("expired");
                            break "expired";
                        }
                    }
                    Some(Ok(Message::Binary(b))) => {
                        if let FrameOutcome::Expired = on_frame(&c, &b, &key, &mut logged) {
                            c.m.stream("expired");
                            break "expired";
                        }
                    }
                    Some(Ok(Message::Ping(p))) => {
                        let _ = sink.send(Message::Pong(p)).await;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!("binance private stream error: {e}");
                        break "error";
                    }
                    None => break "closed",
                }
            }
        };
        set_up(&c, false);
        c.m.stream("disconnected");
        tracing::warn!(
            cause,
            "binance private stream down: reconnecting, then a gap fill"
        );
        gap_from = mark(&c);
        let _ = sink.close().await;
        if healthy_since.elapsed() > Duration::from_secs(30) {
            backoff = c.t.reconnect_min;
        }
        if sleep_or_stop(&mut stop, jitter(backoff)).await {
            return;
        }
        backoff = (backoff * 2).min(c.t.reconnect_max);
    }
}

/// Sleeps `d`; true when the session stopped meanwhile.
async fn sleep_or_stop(stop: &mut tokio::sync::watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        r = stop.changed() => r.is_err() || *stop.borrow(),
        _ = tokio::time::sleep(d) => *stop.borrow(),
    }
}

fn on_frame(c: &Ctx, frame: &[u8], key: &str, logged: &mut HashSet<&'static str>) -> FrameOutcome {
    match decode(frame, &c.syms) {
        Ok(UserEvent::Order(u)) => {
            c.m.event("order");
            c.desk
                .lock()
                .on_stream(&u.client_id, u.events, Ctx::now_ms());
        }
        Ok(UserEvent::Account(a)) => {
            c.m.event("account");
            super::account::apply_stream(c, &a);
        }
        Ok(UserEvent::Ignored(_)) => c.m.event("ignored"),
        Ok(UserEvent::ListenKeyExpired { listen_key, .. }) => {
            c.m.event("listen_key_expired");
            // One for an older key (it can come twice) changes nothing.
            if listen_key.as_deref().is_none_or(|k| k == key) {
                return FrameOutcome::Expired;
            }
        }
        Err(UserDataError::UnknownSymbol(s)) => {
            c.m.event_error("unknown_symbol");
            c.desk.lock().park_frame(frame);
            if logged.insert("unknown_symbol") {
                tracing::warn!(symbol = %s, "private event for a symbol not traded here: parked (logged once)");
            }
        }
        Err(e) => {
            let label = e.label();
            c.m.event_error(label);
            if logged.insert(label) {
                tracing::warn!(
                    "private stream frame refused: {e} (logged once per reason; counted in qt_private_event_errors_total)"
                );
            }
        }
    }
    FrameOutcome::Go
}

/// The user data stream's URL for `key`: `base` with `{listenKey}`
/// replaced (Binance's demo hosts keep the root `/ws/<listenKey>` route),
/// else `<base>/private/ws?listenKey=<key>` (the 2026 route split).
pub(crate) fn user_stream_url(base: &str, key: &str) -> String {
    if base.contains(LISTEN_KEY_SLOT) {
        base.replace(LISTEN_KEY_SLOT, key)
    } else {
        format!("{}/private/ws?listenKey={key}", base.trim_end_matches('/'))
    }
}

/// The placeholder in `user_stream_url` that the listenKey replaces.
pub(crate) const LISTEN_KEY_SLOT: &str = "{listenKey}";

#[cfg(test)]
mod url_tests {
    use super::user_stream_url;

    #[test]
    fn listen_key_goes_into_the_slot_or_the_private_route() {
        assert_eq!(
            user_stream_url("wss://demo-fstream.binance.com/ws/{listenKey}", "k1"),
            "wss://demo-fstream.binance.com/ws/k1"
        );
        assert_eq!(
            user_stream_url("wss://fstream.binance.com", "k2"),
            "wss://fstream.binance.com/private/ws?listenKey=k2"
        );
        assert_eq!(
            user_stream_url("ws://127.0.0.1:9/", "k3"),
            "ws://127.0.0.1:9/private/ws?listenKey=k3"
        );
    }
}
