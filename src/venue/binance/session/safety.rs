//! The session's safety nets: the dead man's switch
//! (`POST /fapi/v1/countdownCancelAll` armed per traded symbol with the
//! configured countdown and re-armed every quarter of it, so the venue
//! cancels the engine's orders if the engine dies or loses the venue) and
//! cancel on stop (every open order of the traded symbols canceled with
//! `DELETE /fapi/v1/allOpenOrders`, the countdown disarmed, and the
//! desk's working orders queried so their ends reach exec before the
//! session goes; also done before a flatten on stop, `flatten`); and the
//! kill switch or an open breaker (as the risk
//! stage publishes them in `Shared::risk`) cancel the open orders too.

use super::Ctx;
use super::api::{cancel_all_open, countdown_cancel_all, order_events};
use crate::core::Venue;
use crate::venue::binance::signed::OrderRef;
use std::sync::Arc;
use std::time::Duration;

fn symbols(c: &Ctx) -> Vec<String> {
    c.shared
        .instruments
        .of_venue(Venue::Binance)
        .map(|i| i.symbol.clone())
        .collect()
}

pub(super) async fn dead_man_task(c: Arc<Ctx>) {
    if c.t.dead_man.is_zero() {
        return;
    }
    let ms = c.t.dead_man.as_millis() as u64;
    let every = (c.t.dead_man / 4).max(Duration::from_millis(250));
    let mut stop = c.stop.clone();
    loop {
        for s in symbols(&c) {
            match countdown_cancel_all(&c.client, &s, ms).await {
                Ok(_) => c.m.stream("dead_man_armed"),
                Err(e) => {
                    c.m.stream("dead_man_failed");
                    tracing::warn!(symbol = %s, "countdownCancelAll not armed: {e}");
                }
            }
        }
        tokio::select! {
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// True while risk's published view says trading is halted: the kill
/// switch is on or the circuit breaker is open (`Shared::risk`, the JSON
/// the risk stage publishes every 100 ms).
fn halted(c: &Ctx) -> bool {
    let v = c.shared.risk.lock();
    v.get("kill_switch").and_then(|k| k.as_bool()) == Some(true)
        || v.pointer("/circuit_breaker/state").and_then(|s| s.as_str()) == Some("OPEN")
}

/// The kill switch and an open breaker cancel the open orders at the
/// venue (once per halt).
pub(super) async fn halt_task(c: Arc<Ctx>) {
    let mut stop = c.stop.clone();
    let mut was = false;
    loop {
        let now = halted(&c);
        if now && !was {
            tracing::warn!("kill switch or breaker: canceling the open orders at the venue");
            cancel_everything(&c, "canceled_on_halt").await;
        }
        was = now;
        tokio::select! {
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// At stop: cancel every open order (when configured, and always before
/// a flatten: a resting order could reopen the position), disarm the
/// countdown, and bring the working orders' ends to exec.
pub(super) async fn on_stop(c: &Ctx) {
    if !c.t.cancel_on_stop && !c.stop_work.flatten {
        return;
    }
    cancel_everything(c, "canceled_on_stop").await;
    if !c.t.dead_man.is_zero() {
        for s in symbols(c) {
            let _ = countdown_cancel_all(&c.client, &s, 0).await;
        }
    }
}

/// Cancels every open order of the traded symbols, then queries the
/// desk's working orders so their ends reach exec.
async fn cancel_everything(c: &Ctx, step: &str) {
    for s in symbols(c) {
        match cancel_all_open(&c.client, &s).await {
            Ok(_) => c.m.stream(step),
            Err(e) => tracing::warn!(symbol = %s, "open orders not canceled: {e}"),
        }
    }
    let working = c.desk.lock().working();
    for (cid, inst) in working {
        let Some((symbol, qty_scale)) = c
            .shared
            .instruments
            .try_get(inst)
            .map(|i| (i.symbol.clone(), i.qty_scale))
        else {
            continue;
        };
        if let Ok(r) = c
            .client
            .query_order(&symbol, &OrderRef::ClientOrderId(cid.clone()))
            .await
            && r.client_order_id == cid
            && let Ok(evs) = order_events(&r, qty_scale)
        {
            c.desk.lock().apply(&cid, &evs);
        }
    }
    c.desk.lock().flush();
}
