//! One order's way out: the hand-off thread turns an intent into a signed
//! `POST /fapi/v1/order` (LIMIT at the intent's protective price, the
//! session's time in force, the client order id of `exec::client_id`),
//! admits it into the account's order-rate windows (`order_rate`; the
//! venue's counts from each reply's `X-MBX-ORDER-COUNT-*` headers feed
//! them), registers it on the desk first, and hands the send to the
//! runtime (stamping `tick_to_handoff`), which sends it over the order
//! connections (`order_wire`: their write stamp gives `tick_to_wire`). The
//! answer goes through the lifecycle: an order object is evidence; a
//! refusal is typed by `refusal::verdict` (and may re-measure the clock or
//! stop order traffic until `Retry-After`); anything else is an **unknown
//! outcome**: the order goes on the resolver's watch list and is never
//! resent.

use super::Ctx;
use super::api::order_events;
use crate::core::{OrderIntent, Side, format_decimal, now_ns};
use crate::exec::lifecycle::LifeEvent;
use crate::exec::refusal::RefusalReason;
use crate::pipeline::channel::{Next, Rx};
use crate::venue::binance::orders::{OrderResponse, SignedError};
use crate::venue::binance::refusal::{FollowUp, Verdict, verdict};
use crate::venue::binance::signed::{NewOrder, NewOrderKind, Prepared, WireSide};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long the hand-off thread parks waiting for an intent at a time.
const HANDOFF_WAIT: Duration = Duration::from_millis(50);

/// Takes intents until exec closes the hand-off.
pub(super) fn handoff_loop(
    c: &Arc<Ctx>,
    rt: &tokio::runtime::Handle,
    orders: &mut Rx<OrderIntent>,
) {
    loop {
        match orders.next(HANDOFF_WAIT) {
            Next::Item(o) => place(c, rt, &o),
            Next::Idle => {}
            Next::Closed => return,
        }
    }
}

/// A refusal before anything left: the order is rejected with `reason`.
fn refuse_locally(c: &Ctx, cid: &str, o: &OrderIntent, reason: RefusalReason) {
    let mut d = c.desk.lock();
    if !d.knows(cid) {
        d.register(
            cid,
            o.client_order_id,
            o.decision.inst,
            o.side,
            o.qty.max(1),
        );
    }
    d.apply(cid, &[LifeEvent::Reject { reason }]);
}

fn place(c: &Arc<Ctx>, rt: &tokio::runtime::Handle, o: &OrderIntent) {
    let cid = match c.ids.id(o.client_order_id) {
        Ok(id) => id.as_str().to_string(),
        Err(e) => {
            tracing::error!(client_order_id = o.client_order_id, "{e}");
            // A stand-in id only for the desk: nothing is sent.
            let cid = format!("local{}", o.client_order_id);
            refuse_locally(c, &cid, o, RefusalReason::LocalInvalid);
            return;
        }
    };
    let Some(inst) = c.shared.instruments.try_get(o.decision.inst) else {
        refuse_locally(c, &cid, o, RefusalReason::LocalInvalid);
        return;
    };
    if o.qty <= 0 || o.limit_px <= 0 {
        refuse_locally(c, &cid, o, RefusalReason::LocalInvalid);
        return;
    }
    // A 429 stop in force: nothing may be sent until Retry-After.
    let now = Ctx::now_ms();
    if c.orders_paused(now) || c.client.budget().is_some_and(|b| b.blocked()) {
        refuse_locally(c, &cid, o, RefusalReason::RateLimited);
        return;
    }
    let order = NewOrder {
        symbol: inst.symbol.clone(),
        side: match o.side {
            Side::Buy => WireSide::Buy,
            Side::Sell => WireSide::Sell,
        },
        kind: NewOrderKind::Limit {
            price: format_decimal(o.limit_px, inst.price_scale),
            tif: c.tif,
        },
        quantity: format_decimal(o.qty, inst.qty_scale),
        client_order_id: cid.clone(),
        reduce_only: false,
    };
    let prepared = match c.client.prepare_new_order(&order) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(client_id = %cid, "order not sent: {e}");
            refuse_locally(c, &cid, o, RefusalReason::LocalInvalid);
            return;
        }
    };
    let notional =
        crate::core::Money::notional(o.limit_px, o.qty, inst.price_scale, inst.qty_scale);
    // The account's order-rate window: counted, or refused before the
    // venue would answer -1015 (new orders then wait for it to roll).
    if !c.admit_order(now) {
        refuse_locally(c, &cid, o, RefusalReason::RateLimited);
        return;
    }
    {
        // On the desk before the request leaves: an event racing the REST
        // answer finds its order.
        let mut d = c.desk.lock();
        d.register(&cid, o.client_order_id, o.decision.inst, o.side, o.qty);
        d.apply(&cid, &[LifeEvent::Sent]);
    }
    let qty_scale = inst.qty_scale;
    let recv_ns = o.decision.recv_ns;
    let c = c.clone();
    c.in_flight.fetch_add(1, Ordering::Relaxed);
    rt.spawn(async move {
        send(&c, &cid, prepared, Some(recv_ns), notional, qty_scale).await;
        c.in_flight.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Sends a prepared new order registered on the desk and applies its
/// answer. `recv_ns`: when the market data that caused it arrived (the
/// tick-to-wire latency; `None` for the session's own stop orders).
pub(super) async fn send(
    c: &Ctx,
    cid: &str,
    p: Prepared,
    recv_ns: Option<u64>,
    notional: crate::core::Money,
    qty_scale: u8,
) {
    if let Some(recv_ns) = recv_ns {
        c.t2h.lock().record(now_ns().saturating_sub(recv_ns));
    }
    let t0 = Instant::now();
    let (res, wire_ns): (Result<OrderResponse, SignedError>, _) =
        c.client.send_order_stamped(&p).await;
    c.rtt.lock().record(t0.elapsed().as_nanos() as u64);
    if let (Some(w), Some(recv_ns)) = (wire_ns, recv_ns) {
        c.t2w.lock().record(w.saturating_sub(recv_ns));
    }
    let now = Ctx::now_ms();
    if res.is_ok() {
        // The venue's own order counts (X-MBX-ORDER-COUNT-10S / -1M).
        let n = c.client.order_counts();
        let counts: Vec<(u64, u64)> = [(10_000, n.ten_seconds), (60_000, n.one_minute)]
            .into_iter()
            .filter_map(|(ms, v)| v.map(|v| (ms, v)))
            .collect();
        let full = {
            let mut r = c.rate.lock();
            r.on_counts(&counts, now);
            r.full_until(now)
        };
        if let Some(until) = full {
            c.pause_for_order_rate(until);
        }
    }
    match res {
        Ok(r) => match order_events(&r, qty_scale) {
            Ok(evs) => {
                let mut all = vec![LifeEvent::Ack {
                    venue_order_id: Some(r.order_id.to_string()),
                }];
                all.extend(evs);
                c.desk.lock().apply(cid, &all);
            }
            Err(e) => {
                // A 2xx we cannot read: the order likely exists.
                c.m.event_error("order_reply");
                tracing::warn!(client_id = cid, "order reply not understood: {}", e.0);
                c.desk.lock().outcome_unknown(cid, notional, now);
            }
        },
        Err(e) => on_error(c, cid, &e, notional, now),
    }
}

fn on_error(c: &Ctx, cid: &str, e: &SignedError, notional: crate::core::Money, now: u64) {
    match verdict(e) {
        Verdict::Unknown { .. } => {
            tracing::warn!(
                client_id = cid,
                "order outcome unknown ({e}): querying, never resending"
            );
            c.desk.lock().outcome_unknown(cid, notional, now);
        }
        Verdict::Refused {
            reason, follow_up, ..
        } => {
            match follow_up {
                Some(FollowUp::RemeasureClock) => c.remeasure.notify_one(),
                Some(FollowUp::PauseOrders { retry_after_s })
                | Some(FollowUp::Banned { retry_after_s }) => c.pause_orders(
                    retry_after_s
                        .map(|s| Duration::from_secs(s.min(900)))
                        .unwrap_or(c.t.pause_default),
                ),
                None => {}
            }
            tracing::info!(
                client_id = cid,
                reason = reason.label(),
                "order refused: {e}"
            );
            c.desk.lock().apply(cid, &[LifeEvent::Reject { reason }]);
        }
    }
}

/// Waits (bounded by the request timeout) for orders in flight to answer.
pub(super) async fn wait_in_flight(c: &Ctx) {
    let until = Instant::now() + c.t.order_timeout + Duration::from_millis(500);
    while c.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
