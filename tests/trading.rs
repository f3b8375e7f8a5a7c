//! Decisions flow to paper fills over the real pipeline (simulator on
//! loopback), and the position and PnL the engine reports add up to its own
//! fills; the daily trade cap blocks at the cap and a new UTC day (injected
//! clock) resets it.

mod common;

use common::*;
use quantum_trader::app::engine::{Engine, EngineOptions};
use quantum_trader::config::Config;
use quantum_trader::core::Clock;
use std::time::Duration;

/// A model that trades often: thresholds close to 0.5.
fn eager_model(name: &str) -> String {
    let text = std::fs::read_to_string("config/model.json").unwrap();
    let text = text
        .replace("\"buy_threshold\": 0.80", "\"buy_threshold\": 0.52")
        .replace("\"sell_threshold\": 0.20", "\"sell_threshold\": 0.48");
    assert!(text.contains("0.52") && text.contains("0.48"));
    let path = std::env::temp_dir().join(format!("qt-model-{name}-{}.json", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn trading_config(name: &str, f: impl FnOnce(&mut Config)) -> Config {
    test_config(|c| {
        c.model.path = eager_model(name);
        c.model.decision_cooldown_ms = 0;
        c.risk.max_orders_per_sec = 50;
        c.risk.max_orders_per_min = 100_000;
        c.risk.daily_trade_cap = 100_000;
        c.sim.rate_per_symbol = 1000;
        f(c)
    })
}

#[test]
fn decisions_flow_to_paper_fills_and_position_and_pnl_add_up() {
    let engine =
        Engine::start(trading_config("pnl", |_| {}), engine_options()).expect("engine starts");
    let addr = engine.ops_addr().unwrap();
    let shared = engine.shared().clone();
    assert!(
        wait_until(Duration::from_secs(40), || shared.positions.lock().fills
            >= 30),
        "too few fills: {:?}",
        shared.positions.lock()
    );
    // Metrics agree with the flow: every EXECUTE verdict became an order.
    engine.stop();
    let view = shared.positions.lock().clone();
    assert!(
        view.fills as usize == view.recent_fills.len(),
        "more fills than the recent list holds"
    );
    let executes = shared
        .metrics
        .verdicts
        .with_label_values(&["EXECUTE", ""])
        .get();
    assert_eq!(executes, view.orders, "every EXECUTE verdict is one order");
    assert!(view.orders > 0 && view.fills > 0);
    let _ = addr;

    for p in &view.positions {
        let fills: Vec<_> = view
            .recent_fills
            .iter()
            .filter(|f| f.symbol == p.symbol)
            .collect();
        // Replay the fills with average-cost accounting.
        let (mut qty, mut avg, mut realized, mut fees) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for f in &fills {
            let px: f64 = f.px.parse().unwrap();
            let q: f64 = f.qty.parse::<f64>().unwrap() * if f.side == "BUY" { 1.0 } else { -1.0 };
            fees += f.fee;
            if qty == 0.0 || qty.signum() == q.signum() {
                avg = (avg * qty.abs() + px * q.abs()) / (qty.abs() + q.abs());
                qty += q;
            } else {
                let closing = q.abs().min(qty.abs());
                realized += closing * (px - avg) * qty.signum();
                let new_qty = qty + q;
                if new_qty != 0.0 && new_qty.signum() != qty.signum() {
                    avg = px;
                }
                qty = new_qty;
                if qty.abs() < 1e-12 {
                    qty = 0.0;
                    avg = 0.0;
                }
            }
            let after: f64 = f.position_after.parse().unwrap();
            // Long-only (`risk.skip_flat_sell`): no fill may ever leave a short.
            assert!(
                after >= 0.0,
                "{}: position_after {after} is short on a long-only instrument",
                p.symbol
            );
            assert!(
                (after - qty).abs() < 1e-9,
                "{}: position_after {after} vs replayed {qty}",
                p.symbol
            );
        }
        assert!(
            (p.qty - qty).abs() < 1e-9,
            "{}: position {} vs fills {qty}",
            p.symbol,
            p.qty
        );
        assert!(
            (p.realized_pnl - realized).abs() < 1e-6,
            "{}: realized {} vs fills {realized}",
            p.symbol,
            p.realized_pnl
        );
        assert!(
            (p.fees - fees).abs() < 1e-6,
            "{}: fees {} vs fills {fees}",
            p.symbol,
            p.fees
        );
        if qty != 0.0 {
            assert!(
                (p.avg_entry_px - avg).abs() < 1e-6,
                "{}: avg {} vs {avg}",
                p.symbol,
                p.avg_entry_px
            );
            let unrealized = qty * (p.mark_px - avg);
            assert!(
                (p.unrealized_pnl - unrealized).abs() < 1e-6,
                "{}: unrealized {} vs {unrealized}",
                p.symbol,
                p.unrealized_pnl
            );
        }
        let max = if p.symbol == "BTCUSDT" { 0.010 } else { 0.250 };
        assert!(
            p.qty >= 0.0 && p.qty <= max + 1e-12,
            "{}: position {} short or beyond max_position",
            p.symbol,
            p.qty
        );
    }
    let total_realized: f64 = view.positions.iter().map(|p| p.realized_pnl).sum();
    assert!((view.realized_pnl - total_realized).abs() < 1e-6);
    let total_fees: f64 = view.positions.iter().map(|p| p.fees).sum();
    assert!((view.fees - total_fees).abs() < 1e-6);
}

#[test]
fn daily_trade_cap_blocks_at_the_cap_and_resets_on_a_new_utc_day() {
    // 2026-11-23 23:59:00 UTC.
    let day_ms = 20_780i64 * 86_400_000;
    assert_eq!(
        quantum_trader::core::clock::format_day(20_780),
        "2026-11-23"
    );
    let clock = Clock::manual(day_ms + 86_340_000);
    let opts = EngineOptions {
        clock: Some(clock.clone()),
        ..engine_options()
    };
    let engine = Engine::start(trading_config("cap", |c| c.risk.daily_trade_cap = 3), opts)
        .expect("engine starts");
    let addr = engine.ops_addr().unwrap();
    let m = &engine.shared().metrics;
    let capped = || {
        m.verdicts
            .with_label_values(&["SKIP", "daily_trade_cap"])
            .get()
    };
    let orders = || m.verdicts.with_label_values(&["EXECUTE", ""]).get();
    assert!(
        wait_until(Duration::from_secs(40), || capped() >= 5),
        "cap never reached (orders {})",
        orders()
    );
    assert_eq!(orders(), 3, "exactly the cap executes");
    // The risk stage publishes its view every 100 ms.
    assert!(
        wait_until(
            Duration::from_secs(2),
            || get_json(addr, "/api/risk").1["daily_trades"] == 3
        ),
        "{}",
        get_json(addr, "/api/risk").1
    );
    assert_eq!(get_json(addr, "/api/risk").1["utc_day"], "2026-11-23");

    // Midnight UTC: a new day, a fresh count.
    clock.set_ms(day_ms + 86_400_000 + 1_000);
    assert!(
        wait_until(Duration::from_secs(40), || orders() == 6),
        "new day did not reset the cap (orders {})",
        orders()
    );
    let before = capped();
    assert!(
        wait_until(Duration::from_secs(40), || capped() > before + 3),
        "cap not enforced on the new day"
    );
    assert_eq!(orders(), 6);
    assert!(wait_until(Duration::from_secs(2), || get_json(
        addr,
        "/api/risk"
    )
    .1["utc_day"]
        == "2026-11-24"));
    assert_eq!(get_json(addr, "/api/risk").1["daily_trades"], 3);
    engine.stop();
}
