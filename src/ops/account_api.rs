//! `GET /api/account`: per venue with a trading session, the account as
//! the venue states it (`pipeline::account`: balances per asset, positions
//! per instrument, when and from where it was last stated) next to the
//! engine's own position of each instrument, and the fees the engine's
//! fills paid per asset (`fees`: the quote asset's, which realized PnL is
//! net of, and those charged in another asset such as BNB, which it is
//! not), exact decimal strings. Merged into the ops server's router.

use crate::core::{Venue, format_decimal};
use crate::pipeline::shared::Shared;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/account", get(account))
        .with_state(shared)
}

async fn account(State(shared): State<Arc<Shared>>) -> axum::Json<Value> {
    axum::Json(view(&shared))
}

/// The JSON of `/api/account` (see the module doc).
pub fn view(shared: &Shared) -> Value {
    let fees = shared.positions.lock().fees_by_asset.clone();
    let mut venues = Vec::new();
    for v in Venue::ALL {
        let h = shared.trading(v);
        let a = h.account.lock().clone();
        if !h.active.load(Ordering::Relaxed) && a.updates == 0 {
            continue;
        }
        let balances: Vec<Value> = a
            .balances
            .iter()
            .map(|(asset, b)| {
                json!({
                    "asset": asset,
                    "wallet": b.wallet.to_string(),
                    "available": b.available.map(|m| m.to_string()),
                    "at_ms": b.at_ms,
                })
            })
            .collect();
        let positions: Vec<Value> = a
            .positions
            .iter()
            .filter_map(|(id, p)| {
                let i = shared.instruments.try_get(*id)?;
                let engine = shared
                    .engine_positions
                    .get(id.idx())
                    .map_or(0, |e| e.load(Ordering::Acquire));
                Some(json!({
                    "symbol": i.symbol,
                    "venue_qty": format_decimal(p.qty, i.qty_scale),
                    "engine_qty": format_decimal(engine, i.qty_scale),
                    "agrees": engine == p.qty,
                    "entry_price": p.entry_price,
                    "unrealized": p.unrealized.map(|m| m.to_string()),
                    "at_ms": p.at_ms,
                }))
            })
            .collect();
        let fees: Vec<Value> = fees
            .iter()
            .filter(|f| f.venue == v.as_str())
            .map(|f| {
                json!({
                    "asset": f.asset,
                    "amount": f.amount,
                    "in_quote_pnl": f.quote,
                })
            })
            .collect();
        venues.push(json!({
            "venue": v.as_str(),
            "fees": fees,
            "session_active": h.active.load(Ordering::Relaxed),
            "updated_ms": a.updated_ms,
            "source": a.source.as_str(),
            "updates": a.updates,
            "balances": balances,
            "positions": positions,
        }));
    }
    json!({ "venues": venues })
}
