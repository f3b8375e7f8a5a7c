//! A market-data 429 stops order traffic: the whole engine in
//! `mode = "testnet"` trades at the built-in simulator (real sockets on
//! 127.0.0.1) when the simulator starts a 429 storm and a depth gap on
//! BTCUSDT makes the engine fetch a REST snapshot. That snapshot's 429
//! goes into the shared Binance REST budget, which publishes the stop to
//! the venue gate: risk SKIPs every decision with `venue_budget_spent`
//! (ETHUSDT's book stays in sync, so its decisions reach the check), no
//! order reaches the simulator while the stop is in force, nothing is sent
//! during the storm after the 429 (so never a 418), and orders flow again
//! once `Retry-After` has passed.

mod common;

use common::EngineSim;
use qt_sim::Fault;
use quantum_trader::app::engine::Engine;
use quantum_trader::config::TradingMode;
use quantum_trader::core::Venue;
use quantum_trader::pipeline::shared::Shared;
use std::time::{Duration, Instant};

fn counter(shared: &Shared, name: &str, labels: &[(&str, &str)]) -> u64 {
    shared
        .metrics
        .registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })
        .map(|m| m.get_counter().value())
        .sum::<f64>() as u64
}

fn budget_skips(shared: &Shared) -> u64 {
    counter(
        shared,
        "qt_verdicts_total",
        &[("verdict", "SKIP"), ("reason", "venue_budget_spent")],
    )
}

fn stopped(shared: &Shared) -> bool {
    shared
        .venue_gates
        .rest_stopped(Venue::Binance, quantum_trader::core::clock::unix_ms())
}

#[test]
fn a_market_data_429_makes_risk_skip_and_no_order_leaves_until_retry_after() {
    let text = std::fs::read_to_string("config/model.json").unwrap();
    let text = text
        .replace("\"buy_threshold\": 0.80", "\"buy_threshold\": 0.52")
        .replace("\"sell_threshold\": 0.20", "\"sell_threshold\": 0.48");
    let model = std::env::temp_dir().join(format!("qt-model-budget-{}.json", std::process::id()));
    std::fs::write(&model, text).unwrap();
    let cfg = common::test_config(|c| {
        c.mode = TradingMode::Testnet;
        c.model.path = model.to_string_lossy().into_owned();
        c.model.decision_cooldown_ms = 0;
        // One order a second: right after one, none can race the storm.
        c.risk.max_orders_per_sec = 1;
        c.risk.max_orders_per_min = 100_000;
        c.risk.daily_trade_cap = 100_000;
        c.sim.rate_per_symbol = 500;
        c.trading.dead_man_switch_ms = 0;
    });
    let engine = Engine::start(cfg, common::engine_options()).expect("testnet engine starts");
    let shared = engine.shared().clone();
    let sim = engine.sim().unwrap();
    assert!(
        common::wait_until(Duration::from_secs(40), || sim.stats().new_order_requests
            >= 3),
        "orders flow before the storm: {:?}",
        sim.stats()
    );
    assert_eq!(budget_skips(&shared), 0);
    let snapshots_before = sim.stats().snapshots_served;

    // The storm: every Binance REST request is refused for 3 s, the first
    // 50 with 429 (Retry-After: the seconds left), any later one with 418.
    // The gap makes the feed fetch a depth snapshot: the first REST request
    // of the storm. The storm starts right after an order reached the
    // venue, so the next one (a second later at the earliest) cannot race
    // the snapshot.
    let n0 = sim.stats().new_order_requests;
    assert!(
        common::wait_until(Duration::from_secs(10), || sim.stats().new_order_requests
            > n0),
        "an order"
    );
    let orders_at_storm = sim.stats().new_order_requests;
    sim.inject(Fault::RateLimitStorm {
        requests: 50,
        duration: Duration::from_secs(3),
    });
    sim.inject(Fault::Gap("BTCUSDT".into()));
    let t0 = Instant::now();
    while !stopped(&shared) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no 429 stop reached the venue gate: {:?}",
            sim.stats()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let at_stop = sim.stats();
    assert!(at_stop.rest_throttled_429 >= 1, "{at_stop:?}");
    assert_eq!(
        at_stop.new_order_requests, orders_at_storm,
        "the 429 that stopped the traffic was the market data's snapshot"
    );
    // While the stop is in force: SKIPs with the reason, no order at the venue.
    let mut skips_during = 0;
    while stopped(&shared) {
        assert_eq!(
            sim.stats().new_order_requests,
            orders_at_storm,
            "an order reached the venue during the stop"
        );
        skips_during = budget_skips(&shared);
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the stop never ends"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let stop_len = t0.elapsed();
    assert!(
        stop_len >= Duration::from_millis(2_500),
        "the stop lasts the Retry-After: {stop_len:?}"
    );
    assert!(
        skips_during >= 5,
        "risk SKIPped decisions with venue_budget_spent: {skips_during}"
    );
    assert_eq!(
        counter(
            &shared,
            "qt_orders_total",
            &[("status", "rejected"), ("reason", "rate_limited")]
        ),
        0,
        "no order got as far as the session and was refused there"
    );
    // After Retry-After: the snapshot is fetched again and orders flow.
    assert!(
        common::wait_until(Duration::from_secs(15), || {
            let s = sim.stats();
            s.new_order_requests >= orders_at_storm + 3 && s.snapshots_served > snapshots_before
        }),
        "orders and snapshots resume after Retry-After: {:?}",
        sim.stats()
    );
    let end = sim.stats();
    assert_eq!(end.rest_banned_418, 0, "never a 418: {end:?}");
    let requests = sim.new_order_requests_by_client_id();
    assert!(requests.values().all(|n| *n == 1), "{requests:?}");
    engine.stop();
    let _ = std::fs::remove_file(&model);
}
