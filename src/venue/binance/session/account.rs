//! The account as Binance states it (`pipeline::account::AccountView` in
//! `TradingHealth::account`, seeded by the startup preflight): every
//! `ACCOUNT_UPDATE` of the private stream and the REST read of each gap
//! fill (`GET /fapi/v3/positionRisk`, `GET /fapi/v3/balance`) update it,
//! later statements winning; `qt_venue_balance{venue,asset}` and
//! `qt_venue_position{venue,symbol}` show it.
//!
//! The engine's position is never overwritten from here (the fill path
//! owns it). The watch task compares the two per instrument: when the
//! venue's stated position differs from the engine's, with no order of
//! ours working on that instrument, for [`SETTLE`] (time for fills on their
//! way to arrive), it counts one `position` discrepancy in
//! `qt_reconcile_discrepancies_total{venue,kind}` and logs it once; the
//! alarm re-arms when the two agree again.

use super::Ctx;
use crate::core::{InstrumentId, Money, Venue, format_decimal, parse_decimal};
use crate::pipeline::account::{AccountSource, AssetBalance, StatedPosition};
use crate::venue::binance::account::BalanceEntry;
use crate::venue::binance::user_data::{AccountUpdate, PositionSide};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long a difference must last, with no order of ours working on the
/// instrument, before it is a discrepancy.
pub const SETTLE: Duration = Duration::from_secs(2);
/// How often the watch task compares.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// The venue's time now (local clock plus the measured offset), for REST
/// statements that carry no time of their own.
fn venue_now(c: &Ctx) -> i64 {
    crate::core::clock::unix_ms() + c.client.clock_offset()
}

fn balance(c: &Ctx, asset: &str, b: AssetBalance, source: AccountSource) {
    let wallet = b.wallet;
    let r = c.health().account.lock().set_balance(asset, b, source);
    match r {
        Ok(true) => c.m.venue_balance(asset, wallet),
        Ok(false) => {}
        Err(_) => c.m.event_error("account_asset_limit"),
    }
}

fn position(c: &Ctx, inst: InstrumentId, p: StatedPosition, source: AccountSource) {
    let qty = p.qty;
    if c.health().account.lock().set_position(inst, p, source)
        && let Some(i) = c.shared.instruments.try_get(inst)
    {
        c.m.venue_position(&i.symbol, i.qty_f64(qty));
    }
}

/// An `ACCOUNT_UPDATE` from the private stream.
pub(super) fn apply_stream(c: &Ctx, a: &AccountUpdate) {
    for b in &a.balances {
        balance(
            c,
            &b.asset,
            AssetBalance {
                wallet: b.wallet,
                available: Some(b.cross_wallet),
                at_ms: a.event_time_ms,
            },
            AccountSource::Stream,
        );
    }
    for p in &a.positions {
        if p.side != PositionSide::Both {
            // Hedge mode: the engine trades one-way positions only.
            c.m.event_error("account_hedge_position");
            continue;
        }
        position(
            c,
            p.inst,
            StatedPosition {
                qty: p.qty,
                entry_price: p.entry_px.to_string(),
                unrealized: Some(p.unrealized),
                at_ms: a.event_time_ms,
            },
            AccountSource::Stream,
        );
    }
    if !a.unknown_symbols.is_empty() {
        c.m.event("account_foreign_symbol");
    }
}

/// Reads the positions and balances over REST (a gap fill): what the
/// stream may have said while it was down. A value that does not fit is
/// counted and left out, never rounded.
pub(super) async fn refresh(c: &Ctx) -> Result<(), crate::venue::binance::orders::SignedError> {
    let at = venue_now(c);
    let positions = c.client.position_risk(None).await?;
    let mut stated: HashSet<InstrumentId> = HashSet::new();
    for p in &positions {
        let Some(id) = c.shared.instruments.find(Venue::Binance, &p.symbol) else {
            continue;
        };
        if !matches!(p.position_side.as_str(), "" | "BOTH") {
            c.m.event_error("account_hedge_position");
            continue;
        }
        let scale = c.shared.instruments.get(id).qty_scale;
        let Ok(qty) = parse_decimal(p.position_amt.trim().as_bytes(), scale) else {
            c.m.event_error("account_reply");
            continue;
        };
        stated.insert(id);
        position(
            c,
            id,
            StatedPosition {
                qty,
                entry_price: p.entry_price.clone(),
                unrealized: Money::parse(&p.un_realized_profit),
                at_ms: at,
            },
            AccountSource::GapFill,
        );
    }
    // A traded symbol the venue did not list has no position.
    let unlisted: Vec<InstrumentId> = c
        .shared
        .instruments
        .of_venue(Venue::Binance)
        .map(|i| i.id)
        .filter(|id| !stated.contains(id))
        .collect();
    for id in unlisted {
        position(
            c,
            id,
            StatedPosition {
                qty: 0,
                entry_price: "0".into(),
                unrealized: None,
                at_ms: at,
            },
            AccountSource::GapFill,
        );
    }
    let balances: Vec<BalanceEntry> = c.client.get_signed("/fapi/v3/balance", &[], 5).await?;
    for b in &balances {
        let Some(wallet) = Money::parse(&b.balance) else {
            c.m.event_error("account_reply");
            continue;
        };
        balance(
            c,
            &b.asset,
            AssetBalance {
                wallet,
                available: Money::parse(&b.available_balance),
                at_ms: at,
            },
            AccountSource::GapFill,
        );
    }
    Ok(())
}

/// Sets the gauges from the whole view (at start: the preflight's seed).
pub(super) fn publish_all(c: &Ctx) {
    let v = c.health().account.lock().clone();
    for (asset, b) in &v.balances {
        c.m.venue_balance(asset, b.wallet);
    }
    for (id, p) in &v.positions {
        if let Some(i) = c.shared.instruments.try_get(*id) {
            c.m.venue_position(&i.symbol, i.qty_f64(p.qty));
        }
    }
}

/// One instrument's comparison state.
#[derive(Default)]
struct Watch {
    /// Since when the two differ with nothing of ours working.
    since: Option<Instant>,
    /// The difference was counted (once until they agree again).
    alarmed: bool,
}

/// Compares the venue's stated positions with the engine's (see the
/// module doc) until the session finishes.
pub(super) async fn watch_task(c: Arc<Ctx>) {
    publish_all(&c);
    let mut state: HashMap<InstrumentId, Watch> = HashMap::new();
    let mut finish = c.finish.clone();
    loop {
        tokio::select! {
            r = finish.changed() => if r.is_err() || *finish.borrow() { return },
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
        compare(&c, &mut state, Instant::now());
    }
}

fn compare(c: &Ctx, state: &mut HashMap<InstrumentId, Watch>, now: Instant) {
    let working: HashSet<InstrumentId> = c
        .desk
        .lock()
        .working()
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    let stated: Vec<(InstrumentId, i64)> = {
        let v = c.health().account.lock();
        v.positions.iter().map(|(id, p)| (*id, p.qty)).collect()
    };
    for (id, venue_qty) in stated {
        let Some(engine) = c.shared.engine_positions.get(id.idx()) else {
            continue;
        };
        let engine_qty = engine.load(Ordering::Acquire);
        let w = state.entry(id).or_default();
        if venue_qty == engine_qty {
            if w.alarmed
                && let Some(i) = c.shared.instruments.try_get(id)
            {
                tracing::info!(
                    symbol = %i.symbol,
                    qty = %format_decimal(venue_qty, i.qty_scale),
                    "binance position agrees with the venue again"
                );
            }
            *w = Watch::default();
            c.position_alarms.lock().remove(&id);
            continue;
        }
        if working.contains(&id) {
            // An order of ours may still bring fills: wait for it.
            w.since = None;
            continue;
        }
        let since = *w.since.get_or_insert(now);
        if w.alarmed || now.duration_since(since) < SETTLE {
            continue;
        }
        w.alarmed = true;
        if !c.position_alarms.lock().insert(id) {
            // The periodic reconciliation counted this difference already.
            continue;
        }
        c.shared
            .metrics
            .reconcile
            .discrepancies
            .with_label_values(&[Venue::Binance.as_str(), "position"])
            .inc();
        if let Some(i) = c.shared.instruments.try_get(id) {
            tracing::error!(
                symbol = %i.symbol,
                venue = %format_decimal(venue_qty, i.qty_scale),
                engine = %format_decimal(engine_qty, i.qty_scale),
                settle_ms = SETTLE.as_millis() as u64,
                "binance position differs from the engine's with no order of ours working (a trade the engine did not make or did not hear); counted in qt_reconcile_discrepancies_total{{kind=\"position\"}}, logged once until they agree"
            );
        }
    }
}
