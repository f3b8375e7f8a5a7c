//! Restart recovery: reads the journal (every day file, oldest first) and
//! rebuilds, for the engine's trading mode only:
//!
//! - positions (from the fills: the last `position_after` per instrument;
//!   average-cost books replayed fill by fill, for the governor and for the
//!   exec stage's `/api/positions`), order/fill/reject counts, recent fills;
//! - orders with no final report (restored, then closed as canceled by the
//!   governor: the paper matcher keeps nothing across a restart);
//! - today's counters, keyed by UTC day **and** mode: EXECUTE verdicts,
//!   realized PnL and fees, streaks, and the day's peak equity as seen at
//!   fill times (yesterday and other modes never count);
//! - the circuit breaker (its last change) and its history, the kill switch.
//!
//! The next client order id continues after the highest one in the journal.
//!
//! Venue modes: a `client_ids` record (written when a venue session starts,
//! before its first order) names the prefix and epoch of the venue client
//! ids of the `order` records after it, so every order still open in the
//! journal comes back with its exact venue client id
//! ([`Recovery::venue_orders`]), for the startup reconciliation to match.

use super::breaker::{BreakerEvent, HISTORY, Trip, TripReason};
use super::governor::{DayState, OpenOrder, RiskSeed};
use crate::config::TradingMode;
use crate::core::clock::{format_day, utc_day};
use crate::core::{InstrumentId, InstrumentTable, Money, Side, Venue, parse_decimal};
use crate::exec::client_id::ClientIdGen;
use crate::exec::positions::Position;
use crate::exec::reconcile::KnownOrder;
use crate::exec::stage::{ExecSeed, SeedFill};
use crate::journal::{self, Body, Tail};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::path::Path;

/// What recovery found.
#[derive(Debug, Default)]
pub struct Recovery {
    pub seed: RiskSeed,
    pub exec: ExecSeed,
    /// For `GET /api/risk` (`recovery`).
    pub summary: Value,
    /// The one startup log line.
    pub line: String,
    /// Orders open in the journal (no final report, quantity left) whose
    /// venue client id the journal states (a `client_ids` record before
    /// them): what the startup reconciliation matches against the venue.
    pub venue_orders: Vec<KnownOrder>,
    /// Every journaled client id scheme of this mode: (prefix, epoch ms).
    pub client_id_epochs: Vec<(String, u64)>,
}

fn side(s: &str) -> Option<Side> {
    match s {
        "BUY" => Some(Side::Buy),
        "SELL" => Some(Side::Sell),
        _ => None,
    }
}

/// Rebuilds state from the journal in `dir` for `mode`, "today" being the
/// UTC day of `now_ms`.
pub fn recover(
    dir: &Path,
    mode: TradingMode,
    now_ms: i64,
    table: &InstrumentTable,
) -> io::Result<Recovery> {
    let today = utc_day(now_ms);
    let n = table.len();
    let units: Vec<f64> = table
        .iter()
        .map(|i| i.qty_f64(1) * i.contract_value)
        .collect();
    let mut positions = vec![0i64; n];
    let mut books = vec![Position::default(); n];
    let mut open: BTreeMap<u64, OpenOrder> = BTreeMap::new();
    // The day of the records read so far, moving forward only (as the
    // governor's risk day clock does: a record stamped earlier than one
    // before it, from an old journal or a clock stepped back, counts in
    // the later day).
    let mut day = DayState {
        day: i64::MIN,
        ..Default::default()
    };
    let mut last_ts_ms = 0i64;
    let mut history: VecDeque<BreakerEvent> = VecDeque::new();
    let mut breaker_open: Option<Trip> = None;
    let mut kill: Option<(bool, String)> = None;
    let mut max_coid = 0u64;
    let mut exec = ExecSeed::default();
    // Per venue: the client id scheme of the session that sent the orders
    // journaled since its `client_ids` record.
    let mut schemes: HashMap<String, ClientIdGen> = HashMap::new();
    let mut client_id_epochs: Vec<(String, u64)> = Vec::new();
    // Per open order with a venue client id: that id and its quantity.
    let mut venue_ids: HashMap<u64, (String, i64)> = HashMap::new();
    let (mut records, mut used, mut skipped, mut torn_files) = (0u64, 0u64, 0u64, 0u64);
    let days = journal::list_days(dir)?;
    let inst_of = |venue: &str, symbol: &str| -> Option<InstrumentId> {
        table.find(Venue::parse(venue)?, symbol)
    };
    for d in &days {
        let Some(mut it) = journal::open_day(dir, *d)? else {
            continue;
        };
        for rec in it.by_ref() {
            records += 1;
            if let Body::Order {
                client_order_id, ..
            } = &rec.body
            {
                max_coid = max_coid.max(*client_order_id);
            }
            // Spilled Redis entries are not trading records.
            if rec.mode != mode || matches!(rec.body, Body::Published { .. }) {
                continue;
            }
            used += 1;
            last_ts_ms = last_ts_ms.max(rec.ts_ms);
            let rec_day = utc_day(rec.ts_ms);
            if rec_day > day.day {
                day = DayState {
                    day: rec_day,
                    ..Default::default()
                };
            }
            match rec.body {
                Body::Verdict { verdict, .. } => {
                    if verdict == "EXECUTE" {
                        day.trades = day.trades.saturating_add(1);
                    }
                }
                Body::Order {
                    client_order_id,
                    venue,
                    symbol,
                    side: s,
                    qty,
                    ..
                } => {
                    exec.orders += 1;
                    let (Some(inst), Some(s)) = (inst_of(&venue, &symbol), side(&s)) else {
                        skipped += 1;
                        continue;
                    };
                    let scale = table.get(inst).qty_scale;
                    let Ok(q) = parse_decimal(qty.as_bytes(), scale) else {
                        skipped += 1;
                        continue;
                    };
                    if let Some(id) = schemes.get(&venue).and_then(|g| g.id(client_order_id).ok()) {
                        venue_ids.insert(client_order_id, (id.to_string(), q));
                    }
                    open.insert(
                        client_order_id,
                        OpenOrder {
                            client_order_id,
                            inst,
                            side: s,
                            remaining: q,
                        },
                    );
                }
                Body::Fill {
                    client_order_id,
                    venue,
                    symbol,
                    side: s,
                    px,
                    qty,
                    fee,
                    fee_asset,
                    position_after,
                    realized_pnl,
                } => {
                    let (Some(inst), Some(s)) = (inst_of(&venue, &symbol), side(&s)) else {
                        skipped += 1;
                        continue;
                    };
                    // Empty: the quote (every journal before fee assets).
                    let fee_asset = if fee_asset.is_empty() {
                        crate::core::FeeAsset::QUOTE
                    } else {
                        match crate::core::FeeAsset::other(&fee_asset) {
                            Ok(a) => a,
                            Err(_) => {
                                skipped += 1;
                                continue;
                            }
                        }
                    };
                    // What the governor's quote figures see (as live).
                    let quote_fee = if fee_asset.is_quote() {
                        fee
                    } else {
                        Money::ZERO
                    };
                    let x = table.get(inst);
                    let (Ok(p), Ok(q), Ok(after)) = (
                        parse_decimal(px.as_bytes(), x.price_scale),
                        parse_decimal(qty.as_bytes(), x.qty_scale),
                        parse_decimal(position_after.as_bytes(), x.qty_scale),
                    ) else {
                        skipped += 1;
                        continue;
                    };
                    let i = inst.idx();
                    positions[i] = after;
                    let b = &mut books[i];
                    b.apply_fill(
                        s,
                        q,
                        units[i],
                        crate::exec::paper::notional(x, p, q),
                        quote_fee,
                    );
                    b.mark_px = x.px_f64(p);
                    exec.fills.push(SeedFill {
                        client_order_id,
                        inst,
                        side: s,
                        px: p,
                        qty: q,
                        fee,
                        fee_asset,
                    });
                    if let Some(o) = open.get_mut(&client_order_id) {
                        o.remaining -= q.clamp(0, o.remaining);
                    }
                    day.realized += realized_pnl;
                    day.fees += quote_fee;
                    if !realized_pnl.is_zero() {
                        if realized_pnl - quote_fee < Money::ZERO {
                            day.losses += 1;
                        } else {
                            day.losses = 0;
                        }
                    }
                    let unreal: Money = books
                        .iter()
                        .zip(&units)
                        .map(|(b, u)| b.unrealized(*u))
                        .sum();
                    day.equity = day.realized_net() + unreal;
                    if !day.equity_seen || day.equity > day.peak {
                        day.peak = day.equity;
                    }
                    day.equity_seen = true;
                }
                Body::OrderDone {
                    client_order_id,
                    status,
                    ..
                } => {
                    open.remove(&client_order_id);
                    venue_ids.remove(&client_order_id);
                    if status == "rejected" {
                        exec.rejects += 1;
                    }
                    match status.as_str() {
                        "rejected" => day.rejects += 1,
                        "filled" | "partially_filled" | "canceled" => day.rejects = 0,
                        _ => {}
                    }
                }
                Body::Breaker {
                    state,
                    reason,
                    detail,
                    by,
                    client,
                    override_,
                } => {
                    if state == "open" {
                        breaker_open = Some(Trip {
                            reason: TripReason::parse(&reason).unwrap_or(TripReason::Manual),
                            since_ms: rec.ts_ms,
                            detail: detail.clone(),
                        });
                    } else {
                        breaker_open = None;
                        day.losses = 0;
                        day.rejects = 0;
                        if override_ {
                            day.acknowledge();
                        }
                    }
                    if history.len() >= HISTORY {
                        history.pop_front();
                    }
                    history.push_back(BreakerEvent {
                        ts_ms: rec.ts_ms,
                        state,
                        reason,
                        detail,
                        by,
                        client,
                        override_,
                    });
                }
                Body::KillSwitch { on, reason, .. } => kill = Some((on, reason)),
                Body::ClientIds {
                    venue,
                    prefix,
                    epoch_ms,
                } => match ClientIdGen::start(&prefix, epoch_ms, None) {
                    Ok(g) => {
                        client_id_epochs.push((prefix, g.epoch_ms()));
                        schemes.insert(venue, g);
                    }
                    Err(_) => {
                        // Orders after it have no known id (not matched).
                        schemes.remove(&venue);
                        skipped += 1;
                    }
                },
                Body::Reconcile {
                    venue,
                    symbol,
                    kind,
                    venue_value,
                    price,
                    ..
                } if kind == "position" => {
                    // The venue's position was taken at a reconciliation.
                    let Some(inst) = inst_of(&venue, &symbol) else {
                        skipped += 1;
                        continue;
                    };
                    let x = table.get(inst);
                    let Ok(q) = parse_decimal(venue_value.as_bytes(), x.qty_scale) else {
                        skipped += 1;
                        continue;
                    };
                    // The entry price at its own decimals (venues write more
                    // than the tick's), exact.
                    let e = crate::core::fixed::decimals_of(&price).min(12);
                    let px = parse_decimal(price.as_bytes(), e).unwrap_or(0);
                    let i = inst.idx();
                    positions[i] = q;
                    let b = &mut books[i];
                    b.qty = q;
                    let n = Money::notional(px, q.saturating_abs(), e, x.qty_scale);
                    b.cost = if x.contract_value == 1.0 {
                        n
                    } else {
                        Money::from_f64(n.to_f64() * x.contract_value)
                    };
                    b.avg_px = if q == 0 {
                        0.0
                    } else {
                        px as f64 / crate::core::fixed::pow10(e) as f64
                    };
                }
                Body::Decision { .. }
                | Body::Holds { .. }
                | Body::Published { .. }
                | Body::Reconcile { .. } => {}
            }
        }
        if matches!(it.tail(), Tail::Torn { .. }) {
            torn_files += 1;
        }
        skipped += it.corrupt();
    }
    // Today is the later of the clock's day and the journal's last day.
    let today = today.max(utc_day(last_ts_ms));
    // The seed carries the last recorded day as it was (the governor shows
    // it as today only while the clock is not past it, exactly as without a
    // restart); the summary shows today.
    let recorded = (day.day != i64::MIN).then_some(day);
    if day.day < today {
        day = DayState {
            day: today,
            ..Default::default()
        };
    }
    let open_orders: Vec<OpenOrder> = open.into_values().filter(|o| o.remaining > 0).collect();
    let venue_orders: Vec<KnownOrder> = open_orders
        .iter()
        .filter_map(|o| {
            let (id, qty) = venue_ids.get(&o.client_order_id)?;
            Some(KnownOrder {
                client_id: id.clone(),
                inst: o.inst,
                side: o.side,
                qty: *qty,
                filled: (qty - o.remaining).max(0),
            })
        })
        .collect();
    let pos_json: serde_json::Map<String, Value> = table
        .iter()
        .map(|x| {
            (
                format!("{}:{}", x.venue.as_str(), x.symbol),
                json!(x.qty_f64(positions[x.id.idx()])),
            )
        })
        .collect();
    let breaker_state = match &breaker_open {
        Some(t) => format!("OPEN({})", t.reason.as_str()),
        None => "CLOSED".into(),
    };
    let kill_on = kill.as_ref().is_some_and(|k| k.0);
    let line = format!(
        "recovered from journal: {} day files, {} records ({} in mode {}), positions {}, open orders {}, today {} trades {} realized {} (net), breaker {}, kill switch {}{}",
        days.len(),
        records,
        used,
        mode.as_str(),
        pos_json
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        open_orders.len(),
        format_day(today),
        day.trades,
        day.realized_net(),
        breaker_state,
        if kill_on { "ON" } else { "off" },
        if torn_files > 0 || skipped > 0 {
            format!(", {torn_files} torn tails and {skipped} bad records ignored")
        } else {
            String::new()
        }
    );
    let summary = json!({
        "dir": dir.display().to_string(),
        "day_files": days.len(),
        "records": records,
        "records_in_mode": used,
        "mode": mode.as_str(),
        "utc_day": format_day(today),
        "positions": pos_json,
        "open_orders_closed": open_orders.len(),
        "daily_trades": day.trades,
        "daily_realized_pnl": day.realized_net().to_f64(),
        "breaker": breaker_state,
        "kill_switch": kill_on,
        "torn_tails": torn_files,
        "bad_records": skipped,
        "next_client_order_id": max_coid + 1,
    });
    Ok(Recovery {
        seed: RiskSeed {
            positions,
            books,
            open_orders,
            working_orders: Vec::new(),
            today: recorded,
            breaker_open,
            breaker_history: history.into(),
            kill_switch: kill,
            next_client_order_id: max_coid + 1,
            last_ts_ms,
            startup_fills: Vec::new(),
        },
        exec,
        summary,
        line,
        venue_orders,
        client_id_epochs,
    })
}
