//! Measurements, not assertions (ignored by default; run by
//! `scripts/redis_latency.sh`): the engine's tick-to-order and stage
//! latencies with Redis off, up, and down (configured but unreachable), one
//! engine after the other in one run, and the publisher's sustained write
//! throughput against a local redis-server.

mod common;
#[path = "common/redis_server.rs"]
mod redis_server;

use common::{engine_options, test_config, wait_until};
use quantum_trader::app::engine::{Engine, EngineOptions};
use quantum_trader::config::Config;
use redis_server::RedisServer;
use std::time::{Duration, Instant};

fn secs() -> u64 {
    std::env::var("QT_LATENCY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// The demo market with risk opened up so that many decisions become orders.
fn busy(url: &str) -> Config {
    test_config(|c| {
        c.redis.url = url.into();
        c.redis.url_env = String::new();
        c.redis.backoff_max_ms = 1_000;
        c.model.decision_cooldown_ms = 0;
        let r = &mut c.risk;
        r.max_orders_per_sec = 10_000;
        r.max_orders_per_min = 1_000_000;
        r.daily_trade_cap = 10_000_000;
        r.max_open_orders = 1_000;
        r.skip_flat_sell = false;
        r.max_order_notional = 1e12;
        r.max_position_notional = 1e12;
        r.max_gross_exposure = 1e12;
        r.max_daily_loss = 1e12;
        r.max_drawdown = 1e12;
        r.max_consecutive_losses = 1_000_000;
        for i in &mut c.instruments {
            i.max_position = "1000000".into();
        }
    })
}

fn run(label: &str, cfg: Config) {
    let engine = Engine::start(cfg, engine_options()).expect("engine starts");
    std::thread::sleep(Duration::from_secs(secs()));
    let sh = engine.shared().clone();
    engine.stop();
    let us = |ns: u64| ns as f64 / 1e3;
    for name in ["tick_to_order", "book", "score", "risk", "exec"] {
        if let Some(s) = sh.latency.get(name) {
            println!(
                "{label:<28} {name:<14} n={:<8} p50 {:>7.1} µs  p99 {:>7.1} µs  p99.9 {:>8.1} µs",
                s.count,
                us(s.p50_ns),
                us(s.p99_ns),
                us(s.p999_ns)
            );
        }
    }
    if let Some(p) = sh.publish.get() {
        println!(
            "{label:<28} redis: emitted {} published {} buffered {}",
            p.emitted(),
            p.status
                .published
                .load(std::sync::atomic::Ordering::Relaxed),
            p.status.buffered.load(std::sync::atomic::Ordering::Relaxed),
        );
    }
}

#[test]
#[ignore = "measurement: run scripts/redis_latency.sh"]
fn tick_to_order_with_redis_off_up_and_down() {
    let redis = RedisServer::start(false);
    run("redis off (not configured)", busy(""));
    run("redis up", busy(&redis.url()));
    let down = RedisServer::not_started(false);
    run("redis down (unreachable)", busy(&down.url()));
}

#[test]
#[ignore = "measurement: run scripts/redis_latency.sh"]
fn publisher_throughput() {
    use quantum_trader::core::{InstrumentId, Venue};
    use quantum_trader::publish::Body;
    let redis = RedisServer::start(false);
    // An engine without market data: only its publisher works.
    let mut cfg = busy(&redis.url());
    cfg.redis.channel_capacity = 1 << 20;
    cfg.redis.buffer_capacity = 1 << 21;
    let mut engine = Engine::start(
        cfg,
        EngineOptions {
            inject: true,
            no_ops: true,
            ..Default::default()
        },
    )
    .expect("engine starts");
    let _injector = engine.take_injector();
    let sh = engine.shared().clone();
    let p = sh.publish.get().expect("publisher");
    let n: u64 = 300_000;
    let t0 = Instant::now();
    for i in 0..n {
        p.emit(Body::Fill {
            client_order_id: i + 1,
            venue: Venue::Binance,
            inst: InstrumentId(0).0,
            side: quantum_trader::core::Side::Buy,
            px: 6_000_000 + (i % 100) as i64,
            qty: 2,
            fee: quantum_trader::core::Money(4_800_000),
            fee_asset: quantum_trader::core::FeeAsset::QUOTE,
            position_after: 2,
            realized_pnl: quantum_trader::core::Money::ZERO,
        });
    }
    let emitted = t0.elapsed();
    let published = || {
        p.status
            .published
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert!(wait_until(Duration::from_secs(120), || published() >= n));
    let dt = t0.elapsed();
    println!(
        "publisher: {n} execution entries (11 fields each) emitted in {:.0} ms, written in {:.2} s = {:.0} entries/s",
        emitted.as_secs_f64() * 1e3,
        dt.as_secs_f64(),
        n as f64 / dt.as_secs_f64()
    );
    engine.stop();
}
