//! The REST gap fill after any gap in the private stream (first connect,
//! reconnect, listenKey expiry): per traded symbol, the trades since the
//! last one seen before the gap (`GET /fapi/v1/userTrades?fromId=`), the
//! open orders (`GET /fapi/v1/openOrders?symbol=`), a query of every
//! working order of ours the venue no longer lists, and the account's
//! positions and balances (`account::refresh`). Everything goes through
//! the desk, so a fill that the stream also brings is applied once.

use super::Ctx;
use super::api::order_events;
use super::resolve::fetch_trades;
use crate::core::{InstrumentId, Venue};
use crate::venue::binance::orders::SignedError;
use crate::venue::binance::signed::OrderRef;
use std::collections::{HashMap, HashSet};

/// The last trade id per instrument when the gap began (`None`: since the
/// session started).
pub(super) type GapMark = HashMap<InstrumentId, i64>;

/// Snapshot of the desk's last trade ids (taken when a gap begins).
pub(super) fn mark(c: &Ctx) -> GapMark {
    let d = c.desk.lock();
    c.shared
        .instruments
        .of_venue(Venue::Binance)
        .filter_map(|i| d.last_trade(i.id).map(|t| (i.id, t)))
        .collect()
}

pub(super) async fn gap_fill(c: &Ctx, from: &GapMark) -> Result<(), SignedError> {
    let insts: Vec<(InstrumentId, String, u8)> = c
        .shared
        .instruments
        .of_venue(Venue::Binance)
        .map(|i| (i.id, i.symbol.clone(), i.qty_scale))
        .collect();
    let mut listed: HashSet<String> = HashSet::new();
    for (inst, symbol, qty_scale) in &insts {
        fetch_trades(c, *inst, from.get(inst).map(|t| t + 1)).await?;
        let open = c.client.open_orders(Some(symbol)).await?;
        let mut d = c.desk.lock();
        for o in open {
            listed.insert(o.client_order_id.clone());
            if !d.knows(&o.client_order_id) {
                // Not ours (placed by hand or by another process): adopting
                // it is reconciliation's job; counted.
                c.m.event("foreign_open_order");
                continue;
            }
            match order_events(&o, *qty_scale) {
                Ok(evs) => d.apply(&o.client_order_id, &evs),
                Err(_) => c.m.event_error("open_order_reply"),
            }
        }
    }
    // Our working orders the venue no longer lists ended in the gap.
    let working: Vec<(String, InstrumentId)> = c
        .desk
        .lock()
        .working()
        .into_iter()
        .filter(|(cid, _)| !listed.contains(cid))
        .collect();
    for (cid, inst) in working {
        let Some((symbol, qty_scale)) = c
            .shared
            .instruments
            .try_get(inst)
            .map(|i| (i.symbol.clone(), i.qty_scale))
        else {
            continue;
        };
        match c
            .client
            .query_order(&symbol, &OrderRef::ClientOrderId(cid.clone()))
            .await
        {
            Ok(r) if r.client_order_id == cid => {
                if let Ok(evs) = order_events(&r, qty_scale) {
                    let mut d = c.desk.lock();
                    d.resolver.on_answer(
                        &cid,
                        crate::exec::unknown::QueryOutcome::Found,
                        Ctx::now_ms(),
                    );
                    d.apply(&cid, &evs);
                    d.publish_unresolved();
                }
            }
            // Not found or no answer: the resolver (for unknown outcomes)
            // or the next gap fill looks again.
            _ => {}
        }
    }
    // The account as the venue states it now (what the stream may have
    // said meanwhile); a failure here only leaves the view older.
    if let Err(e) = super::account::refresh(c).await {
        c.m.stream("account_refresh_failed");
        tracing::warn!("binance account not read after the gap: {e}");
    }
    c.m.gap_fill();
    Ok(())
}
