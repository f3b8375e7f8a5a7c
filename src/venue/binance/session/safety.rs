//! The session's safety nets: the dead man's switch
//! (`POST /fapi/v1/countdownCancelAll` armed per traded symbol with the
//! configured countdown and re-armed every quarter of it, so the venue
//! cancels the engine's orders if the engine dies or loses the venue) and
//! cancel on stop (every open order of the traded symbols canceled with
//! `DELETE /fapi/v1/allOpenOrders`, the countdown disarmed, and the
//! desk's working orders queried so their ends reach exec before the
//! session goes).

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

/// At stop: cancel every open order (when configured), disarm the
/// countdown, and bring the working orders' ends to exec.
pub(super) async fn on_stop(c: &Ctx) {
    if !c.t.cancel_on_stop {
        return;
    }
    for s in symbols(c) {
        match cancel_all_open(&c.client, &s).await {
            Ok(_) => c.m.stream("canceled_on_stop"),
            Err(e) => tracing::warn!(symbol = %s, "open orders not canceled at stop: {e}"),
        }
        if !c.t.dead_man.is_zero() {
            let _ = countdown_cancel_all(&c.client, &s, 0).await;
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
