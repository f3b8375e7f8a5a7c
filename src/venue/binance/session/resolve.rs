//! The session's timers: the unknown-outcome resolver's paced
//! `GET /fapi/v1/order?origClientOrderId=` queries (found: its state goes
//! to the lifecycle; `-2013`/`-2011`: not found; anything else: no
//! information), the server clock offset (`GET /fapi/v1/time` at start,
//! every `clock_sync_ms` and after a `-1021`), and a tick that settles
//! fills waiting for their commission and fetches the trades of orders the
//! venue says filled but whose fills no event brought.

use super::Ctx;
use super::api::{inst_of, measure_offset, order_events, trade_fill, user_trades};
use crate::exec::refusal::RefusalReason;
use crate::exec::unknown::{Action, QueryOutcome};
use crate::venue::binance::refusal::{Verdict, verdict};
use crate::venue::binance::signed::OrderRef;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Resolves when the session's stop work is done (the resolver, clock,
/// tick and periodic reconciliation serve it until then).
pub(super) async fn stopped(c: &Ctx) {
    let mut s = c.finish.clone();
    while !*s.borrow() {
        if s.changed().await.is_err() {
            return;
        }
    }
}

/// Measures the clock offset now; keeps the old one on failure.
pub(super) async fn measure(c: &Ctx) {
    match measure_offset(&c.client).await {
        Ok(off) => {
            c.client.set_clock_offset(off);
            c.health().clock_offset_ms.store(off, Ordering::Relaxed);
            c.m.clock_offset(off);
        }
        Err(e) => tracing::warn!("binance clock offset not measured: {e}"),
    }
}

pub(super) async fn clock_task(c: Arc<Ctx>) {
    loop {
        measure(&c).await;
        tokio::select! {
            _ = stopped(&c) => return,
            _ = tokio::time::sleep(c.t.clock_sync) => {}
            _ = c.remeasure.notified() => {}
        }
    }
}

pub(super) async fn resolver_task(c: Arc<Ctx>) {
    loop {
        let (action, wake) = {
            let mut d = c.desk.lock();
            let now = Ctx::now_ms();
            (d.resolver.poll(now), d.resolver.next_wake())
        };
        let Some(Action::Query { client_id }) = action else {
            let now = Ctx::now_ms();
            let wait = wake
                .map(|w| w.saturating_sub(now).clamp(1, 100))
                .unwrap_or(100);
            tokio::select! {
                _ = stopped(&c) => return,
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            }
            continue;
        };
        query(&c, &client_id).await;
    }
}

/// One resolver query by client order id.
async fn query(c: &Ctx, cid: &str) {
    let Some((symbol, qty_scale)) = ({
        let d = c.desk.lock();
        d.get(cid).and_then(|t| {
            c.shared
                .instruments
                .try_get(t.inst)
                .map(|i| (i.symbol.clone(), i.qty_scale))
        })
    }) else {
        return;
    };
    let res = c
        .client
        .query_order(&symbol, &OrderRef::ClientOrderId(cid.to_string()))
        .await;
    let now = Ctx::now_ms();
    let mut d = c.desk.lock();
    match res {
        Ok(r) if r.client_order_id == cid => match order_events(&r, qty_scale) {
            Ok(evs) => {
                d.resolver.on_answer(cid, QueryOutcome::Found, now);
                d.apply(cid, &evs);
            }
            Err(_) => {
                c.m.event_error("query_reply");
                d.resolver.on_answer(cid, QueryOutcome::Failed, now);
            }
        },
        Ok(_) => {
            c.m.event_error("query_reply");
            d.resolver.on_answer(cid, QueryOutcome::Failed, now);
        }
        Err(e) => {
            let outcome = match verdict(&e) {
                Verdict::Refused {
                    reason: RefusalReason::UnknownOrder,
                    ..
                } => QueryOutcome::NotFound,
                Verdict::Refused {
                    follow_up: Some(f), ..
                } => {
                    use crate::venue::binance::refusal::FollowUp;
                    match f {
                        FollowUp::RemeasureClock => c.remeasure.notify_one(),
                        FollowUp::PauseOrders { retry_after_s }
                        | FollowUp::Banned { retry_after_s } => c.pause_orders(
                            retry_after_s
                                .map(|s| Duration::from_secs(s.min(900)))
                                .unwrap_or(c.t.pause_default),
                        ),
                    }
                    QueryOutcome::Failed
                }
                _ => QueryOutcome::Failed,
            };
            d.resolver.on_answer(cid, outcome, now);
            if outcome == QueryOutcome::NotFound {
                d.after_not_found(cid);
            }
        }
    }
    d.publish_unresolved();
}

/// Trades fetched at most this often per instrument by the tick.
const TRADES_EVERY: Duration = Duration::from_secs(1);

pub(super) async fn tick_task(c: Arc<Ctx>) {
    let mut last: HashMap<crate::core::InstrumentId, Instant> = HashMap::new();
    loop {
        tokio::select! {
            _ = stopped(&c) => return,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        c.rtt.lock().flush();
        c.t2w.lock().flush();
        c.t2h.lock().flush();
        let missing = {
            let mut d = c.desk.lock();
            d.tick();
            d.missing_trades()
        };
        for (inst, since_ms) in missing {
            if last.get(&inst).is_some_and(|t| t.elapsed() < TRADES_EVERY) {
                continue;
            }
            last.insert(inst, Instant::now());
            // From when the earliest order missing fills was taken (not the
            // session's start: a long session has more trades than a few
            // pages); the fills are applied once by trade id.
            if let Err(e) = fetch_trades_since(&c, inst, None, since_ms).await {
                tracing::debug!("binance trades not fetched: {e}");
            }
        }
    }
}

/// Fetches `inst`'s trades from trade id `from` (or since the session
/// started) and applies them through the lifecycle (once by trade id).
pub(super) async fn fetch_trades(
    c: &Ctx,
    inst: crate::core::InstrumentId,
    from: Option<i64>,
) -> Result<(), crate::venue::binance::orders::SignedError> {
    fetch_trades_since(c, inst, from, c.start_ms).await
}

/// Fetches `inst`'s trades from trade id `from`, or from `since_ms` (unix
/// ms, less a second of clock margin) when no trade id is given.
async fn fetch_trades_since(
    c: &Ctx,
    inst: crate::core::InstrumentId,
    mut from: Option<i64>,
    since_ms: i64,
) -> Result<(), crate::venue::binance::orders::SignedError> {
    let Some(symbol) = c.shared.instruments.try_get(inst).map(|i| i.symbol.clone()) else {
        return Ok(());
    };
    let Some((_, qty_scale, price_scale)) = inst_of(&c.syms, &symbol) else {
        return Ok(());
    };
    // A few pages at most per call; the next call goes on from there.
    for _ in 0..5 {
        let start = from.is_none().then_some(since_ms.saturating_sub(1_000));
        let trades = user_trades(&c.client, &symbol, from, start).await?;
        let n = trades.len();
        let mut d = c.desk.lock();
        for t in &trades {
            if t.symbol != symbol {
                c.m.event_error("trade_symbol");
                continue;
            }
            match trade_fill(t, qty_scale, price_scale) {
                Ok(ev) => d.on_trade(&t.order_id.to_string(), inst, ev),
                Err(e) => {
                    c.m.event_error("trade_reply");
                    tracing::warn!("binance trade not understood: {}", e.0);
                }
            }
            d.note_trade(inst, t.id);
            from = Some(from.unwrap_or(0).max(t.id + 1));
        }
        if n < 1000 {
            break;
        }
    }
    Ok(())
}
