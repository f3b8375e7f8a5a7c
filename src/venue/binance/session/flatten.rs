//! Flatten on stop (`[trading] flatten_on_stop`): after exec closed the
//! hand-off and the open orders were canceled, every traded symbol's
//! position **as the venue states it** (`GET /fapi/v3/positionRisk`, not
//! the engine's books, which a missed fill or another process could have
//! left behind) is closed with a reduce-only order of the opposite side for
//! the whole position, within `flatten_timeout_ms`.
//!
//! The order is a MARKET `reduceOnly=true`: at stop, being flat within a
//! bounded time matters more than the price, a MARKET order walks the book
//! instead of expiring unfilled at a stale protective price, and
//! `reduceOnly` makes the venue refuse or cut anything that would open or
//! flip a position (`-2022`), whatever else trades on the account. Each
//! order takes a client order id from the life's `ClientIdGen`, numbered
//! down from [`STOP_ORDER_SEQ_TOP`], is registered on the desk before it
//! leaves, and its fills reach exec as any fill does (positions, PnL, the
//! journal). An order whose outcome is unknown is never followed by a
//! second one blind: the symbol waits for the resolver or the stream. A
//! symbol still not flat when its last order ended gets a new order for
//! what is left; when the time is up, what is not flat is logged, with the
//! state of its last order, and counted (`qt_stop_flatten_total`).

use super::Ctx;
use crate::core::{InstrumentId, Money, Side, Venue, format_decimal, parse_decimal};
use crate::exec::gateway::STOP_ORDER_SEQ_TOP;
use crate::exec::lifecycle::LifeEvent;
use crate::venue::binance::signed::{NewOrder, NewOrderKind, WireSide};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often the desk is looked at while flatten orders work.
const POLL: Duration = Duration::from_millis(50);
/// The venue's positions (weight 5) are read at most this often.
const READ_EVERY: Duration = Duration::from_millis(500);

/// One traded symbol's position at the venue.
#[derive(Debug, Clone)]
struct VenuePos {
    inst: InstrumentId,
    symbol: String,
    /// Signed, at the instrument's quantity scale.
    qty: i64,
    qty_scale: u8,
    /// Mark price × |qty|, for the exposure of an order of unknown outcome.
    notional: Money,
}

/// The traded symbols' positions at the venue (one-way mode). A position
/// the engine cannot read exactly is an error: it is never guessed.
async fn venue_positions(c: &Ctx) -> Result<Vec<VenuePos>, String> {
    let all = c
        .client
        .position_risk(None)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for p in all {
        let Some(i) = c
            .shared
            .instruments
            .find(Venue::Binance, &p.symbol)
            .map(|id| c.shared.instruments.get(id))
        else {
            continue;
        };
        if !matches!(p.position_side.as_str(), "" | "BOTH") {
            return Err(format!(
                "{} has a {} position (hedge mode): reduce-only orders need one-way mode",
                i.symbol, p.position_side
            ));
        }
        let qty = parse_decimal(p.position_amt.trim().as_bytes(), i.qty_scale)
            .map_err(|_| format!("{} positionAmt `{}`", i.symbol, clip(&p.position_amt)))?;
        let notional = Money::parse(&p.mark_price)
            .map(|m| m.mul_div(qty.abs(), 10i64.pow(u32::from(i.qty_scale))))
            .unwrap_or(Money::ZERO);
        out.push(VenuePos {
            inst: i.id,
            symbol: i.symbol.clone(),
            qty,
            qty_scale: i.qty_scale,
            notional,
        });
    }
    Ok(out)
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Closes the traded symbols' venue positions (see the module doc),
/// bounded by the flatten timeout plus one request timeout.
pub(super) async fn flatten(c: &Ctx) {
    let bound = c.stop_work.flatten_timeout + c.t.order_timeout;
    if tokio::time::timeout(bound, run(c)).await.is_err() {
        c.m.flatten("incomplete");
        tracing::error!(
            timeout_ms = c.stop_work.flatten_timeout.as_millis() as u64,
            "binance flatten on stop: time is up before the positions could be checked again; the venue may still hold positions"
        );
    }
}

async fn run(c: &Ctx) {
    let t0 = Instant::now();
    let deadline = t0 + c.stop_work.flatten_timeout;
    let mut next_seq = STOP_ORDER_SEQ_TOP;
    // The last flatten order per instrument, by client id.
    let mut last: HashMap<InstrumentId, String> = HashMap::new();
    let mut seen: Vec<VenuePos> = Vec::new();
    let mut read_error: Option<String> = None;
    tracing::info!(
        timeout_ms = c.stop_work.flatten_timeout.as_millis() as u64,
        "binance flatten on stop: reading the venue's positions"
    );
    let mut last_read_at: Option<Instant> = None;
    while Instant::now() < deadline {
        // While a flatten order works (or its fills are on the way), the
        // desk will know more: no need to ask the venue.
        let busy = last.values().any(|cid| !order_done(c, cid));
        let fresh = last_read_at.is_some_and(|t| t.elapsed() < READ_EVERY);
        if busy || fresh {
            tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
            continue;
        }
        last_read_at = Some(Instant::now());
        match venue_positions(c).await {
            Ok(p) => {
                seen = p;
                read_error = None;
            }
            Err(e) => {
                if read_error.as_deref() != Some(e.as_str()) {
                    tracing::warn!("binance flatten on stop: positions not read: {e}");
                }
                read_error = Some(e);
                continue;
            }
        }
        let open: Vec<&VenuePos> = seen.iter().filter(|p| p.qty != 0).collect();
        if open.is_empty() {
            c.m.flatten("flat");
            tracing::info!(
                orders = last.len(),
                elapsed_ms = t0.elapsed().as_millis() as u64,
                "binance flatten on stop: every traded position is flat at the venue"
            );
            return;
        }
        // Every earlier flatten order has ended (not busy): what is left
        // gets a new one, unless order traffic is stopped (429).
        if c.orders_paused(Ctx::now_ms()) {
            continue;
        }
        for p in open {
            let seq = next_seq;
            next_seq -= 1;
            if let Some(cid) = send_close(c, p, seq).await {
                last.insert(p.inst, cid);
            }
        }
    }
    // Time is up: one last look at the venue, then the report.
    let last_read = venue_positions(c).await;
    if let Ok(p) = &last_read {
        seen = p.clone();
    }
    let open: Vec<String> = seen
        .iter()
        .filter(|p| p.qty != 0)
        .map(|p| {
            let order = match last.get(&p.inst) {
                Some(cid) => format!("{cid}: {}", order_state(c, cid)),
                None => "no flatten order sent".into(),
            };
            format!(
                "{} {} ({order})",
                p.symbol,
                format_decimal(p.qty, p.qty_scale)
            )
        })
        .collect();
    let unheard = unheard_orders(c, &last);
    if open.is_empty() && unheard.is_empty() && last_read.is_ok() {
        c.m.flatten("flat");
        tracing::info!("binance flatten on stop: every traded position is flat at the venue");
        return;
    }
    c.m.flatten(if last_read.is_err() && seen.is_empty() {
        "failed"
    } else {
        "incomplete"
    });
    tracing::error!(
        timeout_ms = c.stop_work.flatten_timeout.as_millis() as u64,
        not_flat = %open.join(", "),
        fills_not_heard = %unheard.join(", "),
        positions_unread = %last_read.err().or(read_error).unwrap_or_default(),
        "binance flatten on stop INCOMPLETE: the venue still holds positions (or fills not yet heard) after flatten_timeout_ms; the engine exits anyway"
    );
}

/// Whether the desk has the order's end and every fill (or never knew it).
fn order_done(c: &Ctx, cid: &str) -> bool {
    c.desk.lock().get(cid).is_none_or(|t| t.is_done())
}

/// The flatten orders whose end or fills have not reached exec yet.
fn unheard_orders(c: &Ctx, last: &HashMap<InstrumentId, String>) -> Vec<String> {
    last.values()
        .filter(|cid| !order_done(c, cid))
        .map(|cid| format!("{cid}: {}", order_state(c, cid)))
        .collect()
}

fn order_state(c: &Ctx, cid: &str) -> String {
    match c.desk.lock().get(cid) {
        Some(t) => format!(
            "{}, filled {} of {}",
            t.order.state().as_str(),
            t.order.filled(),
            t.order.qty()
        ),
        None => "not on the desk".into(),
    }
}

/// Sends a reduce-only MARKET order closing `p` with sequence `seq`;
/// returns its client id once it is on the desk (whatever the answer).
async fn send_close(c: &Ctx, p: &VenuePos, seq: u64) -> Option<String> {
    let cid = match c.ids.id(seq) {
        Ok(id) => id.as_str().to_string(),
        Err(e) => {
            tracing::error!("binance flatten on stop: no client order id: {e}");
            return None;
        }
    };
    let side = if p.qty > 0 { Side::Sell } else { Side::Buy };
    let qty = p.qty.abs();
    let order = NewOrder {
        symbol: p.symbol.clone(),
        side: match side {
            Side::Buy => WireSide::Buy,
            Side::Sell => WireSide::Sell,
        },
        kind: NewOrderKind::Market,
        quantity: format_decimal(qty, p.qty_scale),
        client_order_id: cid.clone(),
        reduce_only: true,
    };
    let prepared = match c.client.prepare_new_order(&order) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(client_id = %cid, "binance flatten order not sent: {e}");
            return None;
        }
    };
    // Within the account's order rate, like every order (else it waits).
    if !c.admit_order(Ctx::now_ms()) {
        return None;
    }
    {
        let mut d = c.desk.lock();
        d.register(&cid, seq, p.inst, side, qty);
        d.apply(&cid, &[LifeEvent::Sent]);
    }
    tracing::warn!(
        client_id = %cid,
        symbol = %p.symbol,
        side = side.as_str(),
        qty = %order.quantity,
        "binance flatten on stop: reduce-only MARKET order sent"
    );
    c.in_flight.fetch_add(1, Ordering::Relaxed);
    super::place::send(c, &cid, prepared, None, p.notional, p.qty_scale).await;
    c.in_flight.fetch_sub(1, Ordering::Relaxed);
    Some(cid)
}
