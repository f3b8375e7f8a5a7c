//! The start of testnet and live after the static interlock, before the
//! first order: per traded venue, the preflight (clock offset, account,
//! balances, positions, open orders, recent trades), the reconciliation
//! against the journal's book (`exec::reconcile`) after the fills of the
//! journal's open orders made while the engine was down are applied once
//! (`exec::missed_fills`: exec replay, governor restore, journaled `fill`
//! records), each residual discrepancy logged,
//! journaled and counted, orders put to cancel canceled at the venue, the
//! venue's positions handed to the governor's seed, and one startup block
//! printed (key redacted, balances, positions, the limits it trades with).
//! A failure is a [`Refusal`] line: the binary exits with status 2.
//!
//! The result, [`StartupState`], is what the venue trading sessions seed
//! their order tables from (matched and adopted orders, the missing ones to
//! query, positions, balances, the clock offset, the client id epoch
//! floor).
//!
//! The journal's open orders carry their venue client ids (see
//! `risk::recovery`): those the venue still lists are **matched** and stay
//! open at the governor (moved to `RiskSeed::working_orders`), as do the
//! **missing** ones (journal open, venue not listing), which the session
//! queries by client id; other journal-open orders are closed at restore.

use super::interlock::{Refusal, traded_venues};
use crate::config::{Config, TradingMode};
use crate::core::{InstrumentId, InstrumentTable, Venue, format_decimal};
use crate::exec::reconcile::{JournalBook, KnownOrder, Reconciliation, reconcile};
use crate::journal::{Entry, Event, JournalTx, ReconcileNote};
use crate::pipeline::shared::Shared;
use crate::risk::governor::RiskSeed;
use crate::venue::account::Account;
use std::fmt::Write as _;
use std::sync::Arc;

/// One venue at start.
#[derive(Debug, Clone)]
pub struct VenueStart {
    pub account: Account,
    pub reconciliation: Reconciliation,
    /// The highest client id epoch of ours among the venue's open orders
    /// (the floor for `ClientIdGen::start`).
    pub client_id_epoch_floor: Option<u64>,
}

/// What the start of testnet/live found (empty in paper).
#[derive(Debug, Clone, Default)]
pub struct StartupState {
    pub venues: Vec<VenueStart>,
}

/// The journal's book of `venue`: positions of its instruments from the
/// recovered seed (other venues' at 0) and the journal's open orders of its
/// instruments with their venue client ids (`journaled`, from recovery).
pub fn journal_book(
    seed: &RiskSeed,
    journaled: &[KnownOrder],
    table: &InstrumentTable,
    venue: Venue,
) -> JournalBook {
    let positions = (0..table.len())
        .map(|i| {
            let id = InstrumentId(i as u16);
            if table.get(id).venue == venue {
                seed.positions.get(i).copied().unwrap_or(0)
            } else {
                0
            }
        })
        .collect();
    let open_orders = journaled
        .iter()
        .filter(|o| table.try_get(o.inst).is_some_and(|x| x.venue == venue))
        .cloned()
        .collect();
    JournalBook {
        open_orders,
        positions,
    }
}

/// Runs the start of testnet/live. `seed` (the governor's) and `exec` (the
/// exec stage's positions, replayed from journaled fills) take the venues'
/// positions.
#[allow(clippy::too_many_arguments)]
pub fn run(
    cfg: &Config,
    table: &InstrumentTable,
    shared: &Arc<Shared>,
    seed: &mut RiskSeed,
    journaled: &[KnownOrder],
    exec: &mut crate::exec::stage::ExecSeed,
    journal: Option<&JournalTx>,
    now_ms: i64,
    sim: &dyn Fn(Venue) -> Option<crate::venue::adapter::SimTrading>,
) -> Result<StartupState, Refusal> {
    let mut state = StartupState::default();
    if cfg.mode == TradingMode::Paper {
        return Ok(state);
    }
    for v in traded_venues(cfg) {
        let runs = &shared.metrics.reconcile.runs;
        let sim_v = sim(v);
        let account = crate::venue::account::preflight(cfg, v, table, shared, sim_v.as_ref())
            .map_err(|e| {
                runs.with_label_values(&[v.as_str(), "failed"]).inc();
                Refusal::one(format!("{v}: {e}"))
            })?;
        let mut book = journal_book(seed, journaled, table, v);
        let missed = find_missed(cfg, v, table, &account, &book, sim_v.as_ref()).map_err(|e| {
            runs.with_label_values(&[v.as_str(), "failed"]).inc();
            Refusal::one(format!(
                "{v}: startup reconciliation not finished: querying the journal's open orders: {e}"
            ))
        })?;
        // The missed fills are the journal's before the comparison: only a
        // residual difference is a discrepancy.
        let mut delta = vec![0i64; table.len()];
        let mut applied: std::collections::HashMap<String, i64> = Default::default();
        for m in &missed {
            delta[m.inst.idx()] += m.signed();
            *applied.entry(m.client_id.clone()).or_default() += m.trade.qty;
        }
        for (p, d) in book.positions.iter_mut().zip(&delta) {
            *p += d;
        }
        for k in &mut book.open_orders {
            k.filled += applied.get(&k.client_id).copied().unwrap_or(0);
        }
        let r = reconcile(
            &book,
            &account.snapshot,
            cfg.trading.adopt_unknown_orders,
            &cfg.trading.client_id_prefix,
            table.len(),
        );
        for fix in &r.position_fixes {
            // The venue's, less the missed fills the governor applies next.
            let i = fix.inst.idx();
            let before = fix.venue - delta[i];
            if let Some(p) = seed.positions.get_mut(i) {
                *p = before;
            }
            if let Some(b) = seed.books.get_mut(i) {
                let (cost, avg) = entry_cost(&account, table.get(fix.inst), before);
                b.qty = before;
                b.cost = cost;
                b.avg_px = if before == 0 { 0.0 } else { avg };
            }
        }
        keep_working(seed, &r, &applied);
        // The session's desk counts a missing order's fills before this
        // start as received (never reported again): the applied ones too.
        let mut r = r;
        for k in &mut r.missing {
            k.filled -= applied.get(&k.client_id).copied().unwrap_or(0);
        }
        // Journaled before the reconciliation's records: recovery reads a
        // `position` record as the position from there on.
        apply_missed(seed, exec, table, &missed, journal, cfg.mode, now_ms);
        record(&r, &account, table, shared, journal, cfg.mode, now_ms);
        let canceled = crate::venue::account::cancel_orders(
            cfg,
            v,
            account.snapshot.clock_offset_ms,
            &r.to_cancel,
            sim_v.as_ref(),
        )
        .map_err(|e| {
            runs.with_label_values(&[v.as_str(), "failed"]).inc();
            Refusal::one(format!(
                "{v}: startup reconciliation not finished: canceling orders the journal lacks: {e}"
            ))
        })?;
        if canceled > 0 {
            tracing::warn!(venue = %v, canceled, "reconciliation: canceled orders the journal lacks (policy cancel)");
        }
        align_exec(exec, &account, table, v, seed, &delta);
        runs.with_label_values(&[v.as_str(), "ok"]).inc();
        let floor = crate::exec::client_id::max_epoch(
            &cfg.trading.client_id_prefix,
            r.working()
                .map(|o| o.client_id.as_str())
                .chain(book.open_orders.iter().map(|o| o.client_id.as_str())),
        );
        state.venues.push(VenueStart {
            account,
            reconciliation: r,
            client_id_epoch_floor: floor,
        });
    }
    let block = render(cfg, table, &state);
    println!("{block}");
    for line in block.lines() {
        tracing::info!("{line}");
    }
    Ok(state)
}

/// Moves the journal-open orders that `r` matched (working at the venue:
/// the venue's quantity left) or found missing (to query) from the seed's
/// orders to close into its working orders, which the governor keeps open
/// until the session reports them done.
///
/// `applied`: per client id, the missed fills' quantity the governor
/// applies after restoring (its own reports take it off the open
/// quantity), so it is left in here.
fn keep_working(
    seed: &mut RiskSeed,
    r: &Reconciliation,
    applied: &std::collections::HashMap<String, i64>,
) {
    let seq = |cid: &str| crate::exec::client_id::parse(cid).map(|p| p.seq);
    let back = |cid: &str| applied.get(cid).copied().unwrap_or(0);
    let mut left: std::collections::HashMap<u64, i64> = r
        .matched
        .iter()
        .filter_map(|o| {
            Some((
                seq(&o.client_id)?,
                (o.qty - o.filled + back(&o.client_id)).max(0),
            ))
        })
        .collect();
    for k in &r.missing {
        if let Some(s) = seq(&k.client_id) {
            left.insert(s, (k.qty - k.filled + back(&k.client_id)).max(0));
        }
    }
    let (keep, close): (Vec<_>, Vec<_>) = seed
        .open_orders
        .drain(..)
        .partition(|o| left.contains_key(&o.client_order_id));
    seed.open_orders = close;
    for mut o in keep {
        o.remaining = left[&o.client_order_id];
        seed.working_orders.push(o);
    }
}

/// The exec stage's positions (PnL, `/api/positions`, each fill's
/// `position_after`) replay the journal's fills, which do not hold what an
/// earlier start took from the venue nor fills the engine never heard (it
/// died first). Per instrument of `venue` whose replayed quantity is not
/// the governor's (the venue's, after reconciliation), one adjusting fill
/// of the difference at the venue's entry price (client order id 0, no
/// fee) is appended, so both stages start from the venue's quantity.
///
/// `delta`: per instrument, the missed fills (already in `exec`'s fills,
/// not yet in the governor's seed positions, which its restore applies).
fn align_exec(
    exec: &mut crate::exec::stage::ExecSeed,
    account: &Account,
    table: &InstrumentTable,
    venue: Venue,
    seed: &RiskSeed,
    delta: &[i64],
) {
    for x in table.of_venue(venue) {
        let target = seed.positions.get(x.id.idx()).copied().unwrap_or(0)
            + delta.get(x.id.idx()).copied().unwrap_or(0);
        let replayed: i64 = exec
            .fills
            .iter()
            .filter(|f| f.inst == x.id)
            .map(|f| match f.side {
                crate::core::Side::Buy => f.qty,
                crate::core::Side::Sell => -f.qty,
            })
            .sum();
        let delta = target - replayed;
        if delta == 0 {
            continue;
        }
        let (_, avg) = entry_cost(account, x, target);
        let px = (avg * crate::core::fixed::pow10(x.price_scale) as f64).round() as i64;
        tracing::info!(venue = %venue, symbol = %x.symbol, replayed, target, "startup: exec positions aligned with the venue's");
        exec.fills.push(crate::exec::stage::SeedFill {
            client_order_id: 0,
            inst: x.id,
            side: if delta > 0 {
                crate::core::Side::Buy
            } else {
                crate::core::Side::Sell
            },
            px,
            qty: delta.abs(),
            fee: crate::core::Money::ZERO,
            fee_asset: crate::core::FeeAsset::QUOTE,
        });
    }
}

/// The fills of the journal's open orders of `venue` that the venue made
/// while the engine was down: the orders the venue lists (matched) with
/// its filled quantity, the others queried by client id, each one's
/// trades beyond the journal's filled quantity (`exec::missed_fills`).
/// Trades of orders the journal does not hold (adopted, hand-placed) are
/// not ours to apply: the venue's position holds them.
fn find_missed(
    cfg: &Config,
    v: Venue,
    table: &InstrumentTable,
    account: &Account,
    book: &JournalBook,
    sim: Option<&crate::venue::adapter::SimTrading>,
) -> Result<Vec<crate::exec::missed_fills::MissedFill>, crate::venue::account::AccountError> {
    use crate::exec::missed_fills::{VenueFilled, missed_fills};
    let Some(trades) = &account.snapshot.recent_trades else {
        return Ok(Vec::new());
    };
    let mut filled: Vec<VenueFilled> = Vec::new();
    let mut query = Vec::new();
    for k in &book.open_orders {
        match account
            .snapshot
            .open_orders
            .iter()
            .find(|o| o.client_id == k.client_id)
        {
            Some(o) => filled.push(VenueFilled {
                client_id: o.client_id.clone(),
                venue_order_id: o.venue_order_id.clone(),
                filled: o.filled,
            }),
            None => {
                let x = table.get(k.inst);
                query.push((k.client_id.clone(), x.symbol.clone(), x.qty_scale));
            }
        }
    }
    filled.extend(crate::venue::account::query_filled(
        cfg,
        v,
        account.snapshot.clock_offset_ms,
        &query,
        sim,
    )?);
    let out = missed_fills(&book.open_orders, &filled, trades, &Default::default());
    for m in &out {
        let x = table.get(m.inst);
        tracing::info!(
            venue = %v,
            symbol = %x.symbol,
            client_id = %m.client_id,
            trade_id = m.trade.trade_id,
            qty = %format_decimal(m.trade.qty, x.qty_scale),
            "startup: a fill made while the engine was down, applied"
        );
    }
    Ok(out)
}

/// Hands `missed` to the exec stage's replay (its positions, PnL, fees)
/// and to the governor's restore as exec reports (through the live fills'
/// ledger), each with the position after it and the PnL it realized on
/// the governor's books, and journals each as a `fill` record.
fn apply_missed(
    seed: &mut RiskSeed,
    exec: &mut crate::exec::stage::ExecSeed,
    table: &InstrumentTable,
    missed: &[crate::exec::missed_fills::MissedFill],
    journal: Option<&JournalTx>,
    mode: TradingMode,
    now_ms: i64,
) {
    let mut pos = seed.positions.clone();
    let mut books = seed.books.clone();
    for m in missed {
        let x = table.get(m.inst);
        let i = m.inst.idx();
        let quote = crate::venue::quote_asset(x.venue, &x.symbol);
        let fee_asset = crate::core::FeeAsset::of(&m.trade.fee_asset, quote.as_deref())
            .unwrap_or(crate::core::FeeAsset::UNKNOWN);
        let quote_fee = if fee_asset.is_quote() {
            m.trade.fee
        } else {
            crate::core::Money::ZERO
        };
        let (px, qty) = (m.trade.price, m.trade.qty);
        let realized = books.get_mut(i).map_or(crate::core::Money::ZERO, |b| {
            b.apply_fill(
                m.side,
                qty,
                x.qty_f64(1) * x.contract_value,
                crate::exec::paper::notional(x, px, qty),
                quote_fee,
            )
        });
        let after = pos.get(i).copied().unwrap_or(0) + m.signed();
        if let Some(p) = pos.get_mut(i) {
            *p = after;
        }
        let coid = crate::exec::client_id::parse(&m.client_id).map_or(0, |p| p.seq);
        exec.fills.push(crate::exec::stage::SeedFill {
            client_order_id: coid,
            inst: m.inst,
            side: m.side,
            px,
            qty,
            fee: m.trade.fee,
            fee_asset,
        });
        seed.startup_fills.push(crate::core::ExecReport::Fill {
            client_order_id: coid,
            inst: m.inst,
            side: m.side,
            px,
            qty,
            fee: m.trade.fee,
            fee_asset,
            position_after: after,
            realized_pnl: realized,
        });
        if let Some(j) = journal {
            let _ = j.send(Entry {
                ts_ms: now_ms,
                mode,
                event: Event::Fill {
                    client_order_id: coid,
                    inst: m.inst,
                    side: m.side,
                    px,
                    qty,
                    fee: m.trade.fee,
                    fee_asset,
                    position_after: after,
                    realized_pnl: realized,
                },
            });
        }
    }
}

/// The cost of `qty` at the venue's entry price of `inst` (exact, at the
/// entry's own decimals) and that price as a float for display.
fn entry_cost(a: &Account, x: &crate::core::Instrument, qty: i64) -> (crate::core::Money, f64) {
    use crate::core::fixed::{decimals_of, pow10};
    let entry = a
        .snapshot
        .positions
        .iter()
        .find(|p| p.inst == x.id)
        .map(|p| p.entry_price.trim().to_string())
        .unwrap_or_default();
    let e = decimals_of(&entry).min(12);
    let px = crate::core::parse_decimal(entry.as_bytes(), e).unwrap_or(0);
    let n = crate::core::Money::notional(px, qty.saturating_abs(), e, x.qty_scale);
    let n = if x.contract_value == 1.0 {
        n
    } else {
        crate::core::Money::from_f64(n.to_f64() * x.contract_value)
    };
    (n, px as f64 / pow10(e) as f64)
}

/// Logs, counts and journals every discrepancy of `r`.
fn record(
    r: &Reconciliation,
    a: &Account,
    table: &InstrumentTable,
    shared: &Shared,
    journal: Option<&JournalTx>,
    mode: TradingMode,
    now_ms: i64,
) {
    let venue = a.venue.as_str();
    for d in &r.discrepancies {
        shared
            .metrics
            .reconcile
            .discrepancies
            .with_label_values(&[venue, d.kind.as_str()])
            .inc();
        match d.inst.and_then(|i| table.try_get(i)) {
            Some(x) if d.kind == crate::exec::reconcile::Kind::Position => tracing::warn!(
                venue,
                kind = d.kind.as_str(),
                symbol = %x.symbol,
                journal = %crate::core::fixed::format_decimal(d.journal, x.qty_scale),
                venue_position = %crate::core::fixed::format_decimal(d.venue, x.qty_scale),
                "reconciliation: {} {}: the journal's position is not the venue's; the venue's is taken",
                venue,
                x.symbol
            ),
            _ => tracing::warn!(
                venue,
                kind = d.kind.as_str(),
                "reconciliation: {}",
                d.detail
            ),
        }
        let (Some(inst), Some(j)) = (d.inst, journal) else {
            continue;
        };
        let Some(x) = table.try_get(inst) else {
            continue;
        };
        let price = if d.kind == crate::exec::reconcile::Kind::Position {
            a.snapshot
                .positions
                .iter()
                .find(|p| p.inst == inst)
                .map(|p| p.entry_price.clone())
                .unwrap_or_else(|| "0".into())
        } else {
            r.working()
                .chain(&r.to_cancel)
                .find(|o| o.client_id == d.client_id)
                .map(|o| format_decimal(o.price, x.price_scale))
                .unwrap_or_default()
        };
        let _ = j.send(Entry {
            ts_ms: now_ms,
            mode,
            event: Event::Reconcile(Box::new(ReconcileNote {
                inst,
                kind: d.kind.as_str(),
                client_order_id: d.client_id.clone(),
                journal: format_decimal(d.journal, x.qty_scale),
                venue_value: format_decimal(d.venue, x.qty_scale),
                price,
                detail: d.detail.clone(),
            })),
        });
    }
}

/// The startup block: account (key redacted), clock, balances, positions,
/// working orders and the limits the engine trades with.
pub fn render(cfg: &Config, table: &InstrumentTable, s: &StartupState) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "== quantum-trader {} start ==", cfg.mode.as_str());
    for v in &s.venues {
        let a = &v.account;
        let sn = &a.snapshot;
        let _ = writeln!(
            o,
            "account {} key {} at {}: clock offset {} ms (round trip {} ms)",
            a.venue, a.key_hint, a.rest_base, sn.clock_offset_ms, sn.clock_rtt_ms
        );
        for b in sn.balances.iter().filter(|b| !b.wallet.is_zero()) {
            let _ = writeln!(
                o,
                "  balance {} wallet {} available {}",
                b.asset, b.wallet, b.available
            );
        }
        if sn.positions.is_empty() {
            let _ = writeln!(o, "  positions: flat");
        }
        for p in &sn.positions {
            let x = table.get(p.inst);
            let _ = writeln!(
                o,
                "  position {} {} entry {}",
                p.symbol,
                format_decimal(p.qty, x.qty_scale),
                p.entry_price
            );
        }
        for sym in &sn.unconfigured_positions {
            let _ = writeln!(o, "  position {sym}: not configured here (left alone)");
        }
        let r = &v.reconciliation;
        let _ = writeln!(
            o,
            "  orders: {} matched, {} adopted, {} canceled, {} of other engines, {} to query; trades fetched: {}",
            r.matched.len(),
            r.adopted.len(),
            r.to_cancel.len(),
            r.foreign.len(),
            r.missing.len(),
            sn.recent_trades
                .as_ref()
                .map_or("none (partial)".to_string(), |t| t.len().to_string())
        );
    }
    let k = &cfg.risk;
    let _ = writeln!(
        o,
        "limits: max_order_notional {} max_position_notional {} max_gross_exposure {} max_daily_loss {} max_drawdown {} orders {}/s {}/min open {} daily {} price_band {} bps",
        k.max_order_notional,
        k.max_position_notional,
        k.max_gross_exposure,
        k.max_daily_loss,
        k.max_drawdown,
        k.max_orders_per_sec,
        k.max_orders_per_min,
        k.max_open_orders,
        k.daily_trade_cap,
        k.price_band_bps
    );
    for ic in &cfg.instruments {
        let _ = writeln!(
            o,
            "  {} {} max_position {} order_qty {}",
            ic.venue, ic.symbol, ic.max_position, ic.order_qty
        );
    }
    let t = &cfg.trading;
    let _ = write!(
        o,
        "trading: client_id_prefix {} cancel_on_stop {} flatten_on_stop {} adopt_unknown_orders {} reconcile every {} s dead_man_switch {} ms",
        t.client_id_prefix,
        t.cancel_on_stop(cfg.mode),
        t.flatten_on_stop,
        t.adopt_unknown_orders.as_str(),
        t.reconcile_interval_secs,
        t.dead_man_switch_ms
    );
    o
}
