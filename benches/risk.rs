//! The cost of one full risk check: a BUY through every check of the
//! governor (kill switch, breaker, a required heartbeat, book sync/age/empty,
//! flat-sell, tick/lot/min-notional, price band, position quantity and
//! notional, gross exposure over two instruments, order notional, open
//! orders, per-second and per-minute rate, daily cap), with the system clock.
//!
//! `cargo bench --bench risk`

use criterion::{Criterion, criterion_group, criterion_main};
use quantum_trader::config::{HeartbeatConfig, HeartbeatPolicy, RiskConfig, TradingMode};
use quantum_trader::core::{
    Action, BookTop, Clock, Decision, Instrument, InstrumentId, InstrumentTable, Level, N_FEATURES,
    TOP_LEVELS, Venue, now_ns,
};
use quantum_trader::risk::{Governor, Heartbeats};
use std::hint::black_box;
use std::sync::Arc;

fn table() -> Arc<InstrumentTable> {
    let mut t = InstrumentTable::new();
    for (sym, tick, lot) in [("BTCUSDT", "0.10", "0.001"), ("ETHUSDT", "0.01", "0.001")] {
        t.push(Instrument::new(InstrumentId(0), Venue::Binance, sym, sym, tick, lot, 5.0).unwrap());
    }
    Arc::new(t)
}

fn buy() -> Decision {
    let mut bids = [Level::default(); TOP_LEVELS];
    let mut asks = [Level::default(); TOP_LEVELS];
    bids[0] = Level {
        px: 6_000_000,
        qty: 5_000,
    };
    asks[0] = Level {
        px: 6_000_010,
        qty: 5_000,
    };
    let now = now_ns();
    Decision {
        id: 1,
        venue: Venue::Binance,
        inst: InstrumentId(0),
        recv_ns: now,
        hop_ns: now,
        exch_ms: 0,
        action: Action::Buy,
        score: 0.9,
        confidence: 0.9,
        model_version: 0,
        feature_mask: 0,
        qty: 2,
        features: [0.0; N_FEATURES],
        book: BookTop {
            venue: Venue::Binance,
            inst: InstrumentId(0),
            recv_ns: now,
            hop_ns: now,
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

fn cfg(cap: u32) -> RiskConfig {
    RiskConfig {
        max_order_notional: 1_000.0,
        max_orders_per_sec: 10_000,
        max_orders_per_min: 1_000_000,
        daily_trade_cap: cap,
        max_position_notional: 1_000.0,
        max_gross_exposure: 2_000.0,
        price_band_bps: 50.0,
        max_daily_loss: 100.0,
        max_drawdown: 150.0,
        max_book_age_ms: 3_600_000,
        heartbeats: vec![HeartbeatConfig {
            service: "rl_trainer".into(),
            policy: HeartbeatPolicy::Required,
            max_age_ms: 3_600_000,
        }],
        ..RiskConfig::default()
    }
}

fn governor(cap: u32) -> Governor {
    let hb = Heartbeats::new();
    hb.record("rl_trainer", quantum_trader::core::clock::unix_ms());
    let mut g = Governor::new(
        &cfg(cap),
        table(),
        vec![10_000, 10_000],
        Clock::system(),
        TradingMode::Paper,
    );
    g.attach_heartbeats(&hb);
    g.set_max_slippage_bps(10.0);
    g
}

fn bench(c: &mut Criterion) {
    let d = buy();
    let mut g = governor(u32::MAX);
    let mut t = now_ns();
    c.bench_function("risk_check_buy_all_checks_execute", |b| {
        b.iter(|| {
            t += 1_000_000;
            black_box(g.check(black_box(&d), t))
        })
    });
    // Cap 0: every check runs and the last one (daily cap) says SKIP.
    let mut g = governor(0);
    c.bench_function("risk_check_buy_all_checks_skip_at_daily_cap", |b| {
        b.iter(|| {
            t += 1_000_000;
            black_box(g.check(black_box(&d), t))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
