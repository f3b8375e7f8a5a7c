//! Governor unit tests: fixtures here (`table`, `decision`, `cfg` are used
//! by other modules' tests too), the tests by part: [`checks_book`]
//! (kill switch, HOLD, book, instrument rules, price band), [`checks_limits`]
//! (position, notional, open orders, rates, daily cap, heartbeats),
//! [`breaker`] (trips, reset, cool-down, restore) and [`view`] (API view,
//! HOLD audit).

mod breaker;
mod checks_book;
mod checks_limits;
mod venue_gates;
mod view;

use super::*;
use crate::config::{BreakerConfig, HeartbeatConfig};
use crate::core::{Action, ExecReport, OrderIntent, OrderStatus, Side};
use crate::core::{BookTop, Instrument, Level, N_FEATURES, TOP_LEVELS, Venue};
use crate::risk::breaker::{Trip, TripReason};
use crate::risk::heartbeat::Heartbeats;
use std::sync::atomic::Ordering;

/// BTCUSDT-like: tick 0.1 (scale 1), lot 0.001 (scale 3), min notional 5.
pub(crate) fn table() -> Arc<InstrumentTable> {
    let mut t = InstrumentTable::new();
    t.push(
        Instrument::new(
            InstrumentId(0),
            Venue::Binance,
            "BTCUSDT",
            "BTCUSDT",
            "0.1",
            "0.001",
            5.0,
        )
        .unwrap(),
    );
    Arc::new(t)
}

/// Two instruments: BTCUSDT as in [`table`], ETHUSDT tick 0.5, lot 0.010.
fn table2() -> Arc<InstrumentTable> {
    let mut t = InstrumentTable::new();
    for (sym, tick, lot) in [("BTCUSDT", "0.1", "0.001"), ("ETHUSDT", "0.5", "0.010")] {
        t.push(Instrument::new(InstrumentId(0), Venue::Binance, sym, sym, tick, lot, 5.0).unwrap());
    }
    Arc::new(t)
}

/// bid 100.0 x 5, ask 100.1 x 5 (scaled: px scale 1, qty scale 3).
pub(crate) fn decision(action: Action, qty: i64, recv_ns: u64) -> Decision {
    book_decision(action, qty, recv_ns, 1_000, 1_001)
}

fn book_decision(action: Action, qty: i64, recv_ns: u64, bid: i64, ask: i64) -> Decision {
    let mut bids = [Level::default(); TOP_LEVELS];
    let mut asks = [Level::default(); TOP_LEVELS];
    bids[0] = Level {
        px: bid,
        qty: 5_000,
    };
    asks[0] = Level {
        px: ask,
        qty: 5_000,
    };
    Decision {
        id: 1,
        venue: Venue::Binance,
        inst: InstrumentId(0),
        recv_ns,
        hop_ns: recv_ns,
        exch_ms: 0,
        action,
        score: 0.9,
        confidence: 0.9,
        model_version: 0,
        feature_mask: 0,
        qty,
        features: [0.0; N_FEATURES],
        book: BookTop {
            venue: Venue::Binance,
            inst: InstrumentId(0),
            recv_ns,
            hop_ns: recv_ns,
            exch_ms: 0,
            update_id: 1,
            in_sync: true,
            n_bids: 1,
            n_asks: 1,
            bids,
            asks,
            xv_best_bid: 0,
            xv_best_ask: 0,
            xv_lead_lag_bps: 0.0,
            extra: Default::default(),
        },
    }
}

/// Permissive limits: each test tightens the one it is about.
pub(crate) fn cfg() -> RiskConfig {
    RiskConfig {
        max_order_notional: 1_000_000.0,
        max_orders_per_sec: 1_000,
        daily_trade_cap: 1_000,
        skip_flat_sell: true,
        kill_switch: false,
        max_book_age_ms: 5_000,
        max_orders_per_min: 100_000,
        max_open_orders: 1024,
        price_band_bps: 0.0,
        max_consecutive_rejects: 0,
        ..RiskConfig::default()
    }
}

const DAY_MS: i64 = 86_400_000;
const T0: i64 = 20_000 * DAY_MS + 3_600_000; // 2024-10-04 01:00 UTC

fn gov(cfg: RiskConfig, max_pos: i64) -> Governor {
    Governor::new(
        &cfg,
        table(),
        vec![max_pos],
        Clock::manual(T0),
        TradingMode::Paper,
    )
}

const SEC: u64 = NS_PER_SEC;
const NOW: u64 = 10 * SEC;
const ONE: i64 = 1_000; // 1.0 BTC

fn fill_at(g: &mut Governor, side: Side, qty: i64, px: i64, fee: f64, realized: f64) {
    let pos = g.position(InstrumentId(0)) + side.sign() * qty;
    g.on_report(&ExecReport::Fill {
        client_order_id: 0,
        inst: InstrumentId(0),
        side,
        px,
        qty,
        fee: Money::from_f64(fee),
        fee_asset: crate::core::FeeAsset::QUOTE,
        position_after: pos,
        realized_pnl: Money::from_f64(realized),
    });
}

fn fill(g: &mut Governor, side: Side, qty: i64) {
    fill_at(g, side, qty, 1_000, 0.0, 0.0);
}

fn done(g: &mut Governor, id: u64, status: OrderStatus) {
    g.on_report(&ExecReport::Done {
        client_order_id: id,
        inst: InstrumentId(0),
        status,
    });
}

fn skip(r: SkipReason) -> Verdict {
    Verdict::Skip(r)
}

fn intent(id: u64, side: Side, qty: i64, d: Decision) -> OrderIntent {
    OrderIntent {
        client_order_id: id,
        side,
        qty,
        limit_px: 0,
        decision: d,
        hop_ns: 0,
    }
}

/// A losing round trip: buy 1 @ 100.0, sell 1 @ `exit`, fees 0.
fn round_trip(g: &mut Governor, exit_px: i64) {
    fill_at(g, Side::Buy, ONE, 1_000, 0.0, 0.0);
    let realized = (exit_px - 1_000) as f64 / 10.0;
    fill_at(g, Side::Sell, ONE, exit_px, 0.0, realized);
}
