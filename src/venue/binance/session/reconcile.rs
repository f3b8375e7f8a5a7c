//! The periodic reconciliation while running (`trading.reconcile_interval_secs`,
//! 0 = off), and the session's view for `/api/orders`.
//!
//! Every interval: the open orders of each traded symbol
//! (`GET /fapi/v1/openOrders?symbol=`, weight 1 each) and the positions
//! (`GET /fapi/v3/positionRisk`, weight 5), paced in the shared REST budget
//! like every signed call, compared by the pure `exec::reconcile` with the
//! desk's working orders and the engine's positions (the exec stage's
//! published view, exact at the instrument's quantity scale). Each
//! discrepancy is counted in `qt_reconcile_discrepancies_total{venue,kind}`,
//! logged and journaled (a `reconcile` record) once while it lasts, shown
//! in `/api/orders` (`last_reconcile`), and acted on:
//!
//! - `order_adopted` / `order_canceled`: an open venue order the desk does
//!   not know (placed by hand, another process of ours): adopted on the
//!   desk, or canceled, by `trading.adopt_unknown_orders`;
//! - `order_missing`: a working order of the desk the venue does not list:
//!   put on the watch list, so the resolver queries it by client id;
//! - `fill`: the venue's filled quantity is above the desk's: the trades
//!   are fetched (`userTrades`) and applied once by trade id;
//! - `position`: the engine's position differs from the venue's: logged,
//!   counted and journaled (the next start takes the venue's).
//!
//! Races are not discrepancies: only desk orders already accepted (not in
//! flight, not being canceled, not on the watch list) when the snapshot
//! was requested, and still so after it, are compared; a venue order the desk
//! knows in any state is not "unknown"; the desk and the positions are read
//! again after a short grace (so events already on their way land), and a
//! position counts only when it differs both before the request and after.

use super::Ctx;
use super::desk::DeskOrder;
use crate::core::{InstrumentId, Venue, format_decimal};
use crate::exec::lifecycle::LifeState;
use crate::exec::reconcile::{JournalBook, Kind, KnownOrder, VenueSnapshot, reconcile};
use crate::exec::unknown::Exposure;
use crate::journal::{Entry, Event, ReconcileNote};
use crate::venue::binance::signed::OrderRef;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often `/api/orders` is refreshed.
const VIEW_EVERY: Duration = Duration::from_millis(250);
/// Most discrepancies kept for `/api/orders` per run.
const MAX_SHOWN: usize = 256;

pub(super) async fn reconcile_task(c: Arc<Ctx>) {
    let start = Instant::now();
    let mut schedule = crate::exec::reconcile::Schedule::new(c.reconcile_secs, 0);
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        publish_view(&c);
        tokio::select! {
            _ = super::resolve::stopped(&c) => return,
            _ = tokio::time::sleep(VIEW_EVERY) => {}
        }
        if schedule.due(start.elapsed().as_millis() as u64) {
            seen = run(&c, &seen).await;
        }
    }
}

/// The engine's position per instrument (the exec stage's view), scaled.
fn engine_positions(c: &Ctx) -> Vec<i64> {
    let t = &c.shared.instruments;
    let mut out = vec![0i64; t.len()];
    for p in &c.shared.positions.lock().positions {
        let Some(id) = Venue::parse(&p.venue).and_then(|v| t.find(v, &p.symbol)) else {
            continue;
        };
        let scale = crate::core::fixed::pow10(t.get(id).qty_scale) as f64;
        // Published from the exact scaled quantity: the round trip is exact.
        out[id.idx()] = (p.qty * scale).round() as i64;
    }
    out
}

/// Accepted at the venue and not in flight: comparable with a snapshot.
fn settled(o: &DeskOrder) -> bool {
    !o.unresolved && matches!(o.state, LifeState::Accepted | LifeState::PartiallyFilled)
}

async fn fetch(c: &Ctx) -> Result<VenueSnapshot, String> {
    let mut open = Vec::new();
    for i in c.shared.instruments.of_venue(Venue::Binance) {
        let page = c
            .client
            .open_orders(Some(&i.symbol))
            .await
            .map_err(|e| format!("GET /fapi/v1/openOrders {}: {e}", i.symbol))?;
        open.extend(page);
    }
    let positions = c
        .client
        .position_risk(None)
        .await
        .map_err(|e| format!("GET /fapi/v3/positionRisk: {e}"))?;
    crate::venue::binance::account::to_snapshot(&c.shared.instruments, &[], &positions, &open, None)
        .map_err(|e| e.to_string())
}

/// One run; returns the keys of the discrepancies it found (those already
/// found by the run before are shown, not counted or logged again).
async fn run(c: &Ctx, prev: &HashSet<String>) -> HashSet<String> {
    let venue = Venue::Binance.as_str();
    let runs = &c.shared.metrics.reconcile.runs;
    let ts_ms = crate::core::clock::unix_ms();
    // Accepted before the request: the venue's answer must list them.
    let before: HashSet<String> = c
        .desk
        .lock()
        .open_orders()
        .into_iter()
        .filter(settled)
        .map(|o| o.client_id)
        .collect();
    let p0 = engine_positions(c);
    let mut snap = match fetch(c).await {
        Ok(s) => s,
        Err(e) => {
            runs.with_label_values(&[venue, "failed"]).inc();
            tracing::warn!(venue, "periodic reconciliation failed: {e}");
            *c.last_reconcile.lock() = json!({
                "ts_ms": ts_ms, "result": "failed", "error": e, "discrepancies": [],
            });
            return prev.clone();
        }
    };
    // Events already on their way (a fill, an ack) land before comparing.
    let grace = Duration::from_millis((c.reconcile_secs * 250).clamp(100, 1_000));
    tokio::time::sleep(grace).await;
    let p1 = engine_positions(c);
    let n = c.shared.instruments.len();
    let (r, book) = {
        let d = c.desk.lock();
        let open_orders: Vec<KnownOrder> = d
            .open_orders()
            .into_iter()
            .filter(|o| before.contains(&o.client_id) && settled(o))
            .map(|o| KnownOrder {
                client_id: o.client_id,
                inst: o.inst,
                side: o.side,
                qty: o.qty,
                filled: o.filled,
            })
            .collect();
        let compared: HashSet<&str> = open_orders.iter().map(|k| k.client_id.as_str()).collect();
        // A venue order the desk knows but does not compare (in flight,
        // ended since) is no discrepancy either way.
        snap.open_orders
            .retain(|o| compared.contains(o.client_id.as_str()) || !d.knows(&o.client_id));
        let book = JournalBook {
            open_orders,
            positions: (0..n)
                .map(|i| {
                    let x = c.shared.instruments.get(InstrumentId(i as u16));
                    if x.venue == Venue::Binance { p1[i] } else { 0 }
                })
                .collect(),
        };
        (reconcile(&book, &snap, c.policy, &c.prefix, n), book)
    };
    // A position that matched before the request moved since: a race.
    let discrepancies: Vec<_> = r
        .discrepancies
        .iter()
        .filter(|d| {
            d.kind != Kind::Position
                || d.inst
                    .is_none_or(|i| p0.get(i.idx()).copied() != Some(d.venue))
        })
        .cloned()
        .collect();
    let mut keys = HashSet::new();
    let mut shown = Vec::new();
    let mut fetch_trades_of: Vec<InstrumentId> = Vec::new();
    let mut cancel: Vec<(String, String)> = Vec::new();
    {
        let mut d = c.desk.lock();
        for o in &r.adopted {
            d.adopt(o);
        }
        for o in &r.to_cancel {
            cancel.push((o.symbol.clone(), o.client_id.clone()));
        }
        let now = Ctx::now_ms();
        for k in &r.missing {
            d.resolver.watch(
                &k.client_id,
                Exposure {
                    inst: k.inst,
                    side: k.side,
                    qty: k.qty - k.filled,
                    notional: crate::core::Money::ZERO,
                },
                now,
            );
        }
        d.publish_unresolved();
        d.flush();
    }
    for disc in &discrepancies {
        let key = format!(
            "{}:{}:{:?}:{}:{}",
            disc.kind.as_str(),
            disc.client_id,
            disc.inst,
            disc.journal,
            disc.venue
        );
        let x = disc.inst.and_then(|i| c.shared.instruments.try_get(i));
        let fmt = |v: i64| x.map_or(v.to_string(), |x| format_decimal(v, x.qty_scale));
        if disc.kind == Kind::Fill
            && disc.venue > disc.journal
            && let Some(i) = disc.inst
            && !fetch_trades_of.contains(&i)
        {
            fetch_trades_of.push(i);
        }
        if shown.len() < MAX_SHOWN {
            shown.push(json!({
                "kind": disc.kind.as_str(),
                "symbol": x.map(|x| x.symbol.clone()).unwrap_or_default(),
                "client_id": disc.client_id,
                "engine": fmt(disc.journal),
                "venue": fmt(disc.venue),
                "detail": disc.detail,
            }));
        }
        let new = !prev.contains(&key);
        keys.insert(key);
        if !new {
            continue;
        }
        // One alarm per position difference: the account watcher may have
        // counted it already from the private stream.
        if disc.kind == Kind::Position
            && let Some(i) = disc.inst
            && !c.position_alarms.lock().insert(i)
        {
            journal(c, disc, x, &snap);
            continue;
        }
        c.shared
            .metrics
            .reconcile
            .discrepancies
            .with_label_values(&[venue, disc.kind.as_str()])
            .inc();
        tracing::warn!(
            venue,
            kind = disc.kind.as_str(),
            "periodic reconciliation: {}",
            disc.detail
        );
        journal(c, disc, x, &snap);
    }
    for (symbol, cid) in cancel {
        match c
            .client
            .cancel_order(&symbol, &OrderRef::ClientOrderId(cid.clone()))
            .await
        {
            Ok(_) => {
                tracing::warn!(venue, client_id = %cid, "periodic reconciliation: canceled an order the engine does not know (policy cancel)")
            }
            Err(e) => {
                tracing::warn!(venue, client_id = %cid, "periodic reconciliation: cancel failed: {e}")
            }
        }
    }
    for inst in fetch_trades_of {
        if let Err(e) = super::resolve::fetch_trades(c, inst, None).await {
            tracing::warn!(venue, "periodic reconciliation: trades not fetched: {e}");
        }
    }
    runs.with_label_values(&[venue, "ok"]).inc();
    *c.last_reconcile.lock() = json!({
        "ts_ms": ts_ms,
        "result": "ok",
        "compared_orders": book.open_orders.len(),
        "venue_orders": snap.open_orders.len(),
        "discrepancies": shown,
    });
    keys
}

/// Journals one discrepancy (a `reconcile` record).
fn journal(
    c: &Ctx,
    d: &crate::exec::reconcile::Discrepancy,
    x: Option<&crate::core::Instrument>,
    snap: &VenueSnapshot,
) {
    let (Some(j), Some(x)) = (c.journal.as_ref(), x) else {
        return;
    };
    let price = if d.kind == Kind::Position {
        snap.positions
            .iter()
            .find(|p| p.inst == x.id)
            .map(|p| p.entry_price.clone())
            .unwrap_or_else(|| "0".into())
    } else {
        snap.open_orders
            .iter()
            .find(|o| o.client_id == d.client_id)
            .map(|o| format_decimal(o.price, x.price_scale))
            .unwrap_or_default()
    };
    let _ = j.send(Entry {
        ts_ms: crate::core::clock::unix_ms(),
        mode: c.mode,
        event: Event::Reconcile(Box::new(ReconcileNote {
            inst: x.id,
            kind: d.kind.as_str(),
            client_order_id: d.client_id.clone(),
            journal: format_decimal(d.journal, x.qty_scale),
            venue_value: format_decimal(d.venue, x.qty_scale),
            price,
            detail: format!("periodic: {}", d.detail),
        })),
    });
}

/// Publishes the desk's working orders and the last run for `/api/orders`.
fn publish_view(c: &Ctx) {
    let t = &c.shared.instruments;
    let orders: Vec<Value> = c
        .desk
        .lock()
        .open_orders()
        .into_iter()
        .map(|o| {
            let x = t.get(o.inst);
            json!({
                "client_id": o.client_id,
                "client_order_id": o.coid,
                "venue_order_id": o.venue_order_id,
                "symbol": x.symbol,
                "side": o.side.as_str(),
                "state": o.state.as_str(),
                "qty": format_decimal(o.qty, x.qty_scale),
                "filled": format_decimal(o.filled, x.qty_scale),
                "unresolved": o.unresolved,
            })
        })
        .collect();
    let v = json!({
        "orders": orders,
        "reconcile_interval_secs": c.reconcile_secs,
        "last_reconcile": c.last_reconcile.lock().clone(),
    });
    c.shared
        .orders
        .lock()
        .insert(Venue::Binance.as_str().to_string(), v);
}
