//! The Bybit/OKX generator: every tick, each venue symbol's book takes its
//! random-walk steps (following the Binance book of its underlying), and the
//! book updates, trades and ticker changes go to the subscribers, with the
//! per-symbol faults (gap, malformed frame, Bybit restart, OKX checksum
//! mismatch) applied on the way.

use super::{Kind, SimTop, VBook, VSym, size_str};
use crate::SimVenue;
use crate::bybit::{bybit_book_json, bybit_ticker_json};
use crate::decimal::{pow10, unix_ms};
use crate::market::Book;
use crate::okx::{okx_bbo_json, okx_book_json, okx_checksum, okx_ticker_json};
use crate::server::truncate;
use crate::state::Inner;
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The current touch of a book, if both sides have one.
fn top_of(book: &Book) -> Option<SimTop> {
    Some((book.best_bid()?, book.best_ask()?))
}

/// Sends the ticker streams' update for a changed touch.
fn emit_tickers(inner: &Inner, i: usize, s: &VSym, b: &mut VBook, ms: i64) {
    let Some(top) = top_of(&b.st.book) else {
        return;
    };
    if b.ticker == Some(top) {
        return;
    }
    let prev = b.ticker.replace(top);
    match s.venue {
        SimVenue::Bybit => {
            // Deltas build on what was sent; the first message is a snapshot.
            let text = bybit_ticker_json(s, prev, top, b.id * 7 + 100, ms);
            send(inner, i, Kind::Ticker, &text);
        }
        _ => {
            send(inner, i, Kind::Bbo, &okx_bbo_json(s, top, b.id, ms));
            let now = Instant::now();
            if b.okx_ticker_at
                .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(100))
            {
                b.okx_ticker_at = Some(now);
                send(inner, i, Kind::Ticker, &okx_ticker_json(s, top, ms));
            }
        }
    }
}

/// Generates Bybit/OKX events every tick at `inner.rate` per symbol.
pub(crate) async fn run(inner: Arc<Inner>) {
    if inner.venues.syms.is_empty() {
        return;
    }
    let tick = Duration::from_millis(2);
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    let mut budget = vec![0f64; inner.venues.syms.len()];
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let dt = now.duration_since(last).min(Duration::from_millis(50));
        last = now;
        let _tick = inner.begin_tick();
        if inner.is_paused() || inner.silenced() {
            budget.iter_mut().for_each(|b| *b = 0.0);
            continue;
        }
        let ms = unix_ms();
        for (i, s) in inner.venues.syms.iter().enumerate() {
            budget[i] += inner.rate as f64 * dt.as_secs_f64();
            let n = budget[i].floor();
            budget[i] -= n;
            for _ in 0..n as u64 {
                step(&inner, i, s, ms);
            }
        }
    }
}

/// One event of venue symbol `i`, sent to its subscribers under its lock
/// (so a snapshot taken by a new subscription is never overtaken).
fn step(inner: &Inner, i: usize, s: &VSym, ms: i64) {
    let mut b = s.book.lock();
    let b = &mut *b;
    if b.rng.random_bool(0.2) {
        // A trade at the touch; its consumption is published by the next update.
        let Some(g) = b.st.generator.as_mut() else {
            return;
        };
        if let Some((px, qty, buyer_maker)) = g.trade(&s.info, &b.st.book) {
            b.trade_id += 1;
            let text = match s.venue {
                SimVenue::Bybit => format!(
                    "{{\"topic\":\"publicTrade.{sym}\",\"type\":\"snapshot\",\"ts\":{ms},\"data\":[{{\"T\":{ms},\"s\":\"{sym}\",\"S\":\"{side}\",\"v\":\"{v}\",\"p\":\"{p}\",\"L\":\"ZeroPlusTick\",\"i\":\"sim-{id}\",\"BT\":false,\"seq\":{seq}}}]}}",
                    sym = s.info.symbol,
                    side = if buyer_maker { "Sell" } else { "Buy" },
                    v = size_str(s, qty),
                    p = s.info.px(px),
                    id = b.trade_id,
                    seq = b.id * 7 + 100,
                ),
                _ => format!(
                    "{{\"arg\":{{\"channel\":\"trades\",\"instId\":\"{sym}\"}},\"data\":[{{\"instId\":\"{sym}\",\"tradeId\":\"{id}\",\"px\":\"{p}\",\"sz\":\"{v}\",\"side\":\"{side}\",\"ts\":\"{ms}\",\"count\":\"1\"}}]}}",
                    sym = s.info.symbol,
                    side = if buyer_maker { "sell" } else { "buy" },
                    v = size_str(s, qty),
                    p = s.info.px(px),
                    id = b.trade_id,
                ),
            };
            send(inner, i, Kind::Trade, &text);
        }
        return;
    }
    // Follow the Binance book of the same underlying (one correlated path).
    if let Some(f) = s.follows
        && b.rng.random_bool(0.5)
    {
        let bb = inner.syms[f].state.lock().book.best_bid();
        if let Some((px, _)) = bb {
            let bi = &inner.syms[f].info;
            let conv = rescale(px, bi.price_scale, s.info.price_scale);
            let ceil = (conv / s.info.tick) * s.info.tick;
            if let Some(g) = b.st.generator.as_mut()
                && ceil > 0
            {
                g.anchor(ceil);
            }
        }
    }
    // OKX keep-alive now and then: an empty update with seqId == prevSeqId.
    if s.venue == SimVenue::Okx && b.rng.random_bool(0.01) {
        let text = okx_book_json(s, false, b.id as i64, b.id, &[], &[], 0, ms);
        send(inner, i, Kind::Book, &text);
        return;
    }
    let Some(g) = b.st.generator.as_mut() else {
        return;
    };
    let (bids, asks) = g.depth_diff(&s.info, &mut b.st.book, inner.levels);
    emit_tickers(inner, i, s, b, ms);
    let restart = s.venue == SimVenue::Bybit && s.restart.swap(false, Ordering::Relaxed);
    let prev = b.id;
    b.id = match s.venue {
        SimVenue::Bybit if restart => 1,
        SimVenue::Bybit => b.id + 1,
        _ => b.id + b.rng.random_range(1..=20),
    };
    if s.gap.swap(false, Ordering::Relaxed) {
        return;
    }
    let mut text = match s.venue {
        SimVenue::Bybit if restart => {
            let bids = b.st.book.top_bids(usize::MAX);
            let asks = b.st.book.top_asks(usize::MAX);
            let topic = "orderbook.{depth}.".to_string() + &s.info.symbol;
            bybit_book_json(s, true, 1, &bids, &asks, &topic, ms)
        }
        SimVenue::Bybit => {
            let topic = "orderbook.{depth}.".to_string() + &s.info.symbol;
            bybit_book_json(s, false, b.id, &bids, &asks, &topic, ms)
        }
        _ => {
            let mut c = okx_checksum(s, &b.st.book);
            if s.bad_checksum.swap(false, Ordering::Relaxed) {
                c = c.wrapping_add(1);
                if c == 0 {
                    c = 1;
                }
            }
            okx_book_json(s, false, prev as i64, b.id, &bids, &asks, c, ms)
        }
    };
    if s.malformed.swap(false, Ordering::Relaxed) {
        text = truncate(text);
    }
    send(inner, i, Kind::Book, &text);
}

fn rescale(v: i64, from: u8, to: u8) -> i64 {
    if to >= from {
        v.saturating_mul(pow10(to - from))
    } else {
        v / pow10(from - to)
    }
}

/// Sends a frame to every unmuted subscriber of (symbol, kind). Bybit book
/// frames carry the subscriber's own depth in the topic (`{depth}`).
pub(crate) fn send(inner: &Inner, i: usize, kind: Kind, text: &str) {
    for c in inner.venues.conns.lock().iter() {
        let subs = c.subs.lock();
        for sub in subs.iter() {
            if sub.sym == i && sub.kind == kind && !sub.muted {
                if text.contains("{depth}") {
                    let depth = sub.key.split('.').nth(1).unwrap_or("50");
                    c.push(text.replace("{depth}", depth));
                } else {
                    c.push(text.to_string());
                }
                match kind {
                    Kind::Ticker => {
                        inner.venues.syms[i]
                            .ticker_frames
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    Kind::Bbo => {
                        inner.venues.syms[i]
                            .bbo_frames
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
                inner.stats.messages_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The snapshot a new book subscription starts with.
pub(crate) fn snapshot_for(s: &VSym, b: &VBook, key: &str, ms: i64) -> String {
    let bids = b.st.book.top_bids(usize::MAX);
    let asks = b.st.book.top_asks(usize::MAX);
    match s.venue {
        SimVenue::Bybit => bybit_book_json(s, true, b.id, &bids, &asks, key, ms),
        _ => okx_book_json(
            s,
            true,
            -1,
            b.id,
            &bids,
            &asks,
            okx_checksum(s, &b.st.book),
            ms,
        ),
    }
}
