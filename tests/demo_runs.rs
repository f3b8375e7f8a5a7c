//! A second demo run on the same UTC day still trades: each demo run (the
//! embedded config, `run` without `--config`) journals into a fresh
//! `var/demo/<run>/journal` (`config::demo_run`), while within one run the
//! daily trade cap still stops trading, and an engine restarted on the same
//! journal (what a `--config` does) keeps the day's spent cap.

mod common;

use common::*;
use quantum_trader::app::engine::{Engine, EngineOptions};
use quantum_trader::config::Config;
use quantum_trader::config::demo_run::{runs, use_fresh_demo_journal};
use quantum_trader::core::Clock;
use std::path::Path;
use std::time::Duration;

/// A model that trades often: thresholds close to 0.5.
fn eager_model() -> String {
    let text = std::fs::read_to_string("config/model.json").unwrap();
    let text = text
        .replace("\"buy_threshold\": 0.80", "\"buy_threshold\": 0.52")
        .replace("\"sell_threshold\": 0.20", "\"sell_threshold\": 0.48");
    assert!(text.contains("0.52") && text.contains("0.48"));
    let path = std::env::temp_dir().join(format!("qt-model-demo-runs-{}.json", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// 2026-11-23 10:00 UTC: every run below is on this day.
const DAY_MS: i64 = 20_780 * 86_400_000;
const T0: i64 = DAY_MS + 36_000_000;
const CAP: u64 = 3;

/// The demo config (free ports), trading eagerly with a cap of [`CAP`].
fn demo_config() -> Config {
    test_config(|c| {
        c.model.path = eager_model();
        c.model.decision_cooldown_ms = 0;
        c.risk.max_orders_per_sec = 50;
        c.risk.max_orders_per_min = 100_000;
        c.risk.daily_trade_cap = CAP as u32;
        c.sim.rate_per_symbol = 1000;
    })
}

/// Runs the engine until the cap has refused a few decisions; returns the
/// orders (EXECUTE verdicts) it placed.
fn run_until_capped(cfg: Config, at_ms: i64) -> u64 {
    let opts = EngineOptions {
        clock: Some(Clock::manual(at_ms)),
        ..engine_options()
    };
    let engine = Engine::start(cfg, opts).expect("engine starts");
    let m = &engine.shared().metrics;
    let capped = || {
        m.verdicts
            .with_label_values(&["SKIP", "daily_trade_cap"])
            .get()
    };
    let orders = || m.verdicts.with_label_values(&["EXECUTE", ""]).get();
    let reached = wait_until(Duration::from_secs(40), || capped() >= 5);
    let n = orders();
    engine.stop();
    assert!(reached, "the cap never refused a decision (orders {n})");
    n
}

#[test]
fn a_second_demo_run_the_same_day_trades_and_the_cap_still_caps_each_run() {
    let root = temp_journal_dir("demo-runs");

    // First demo run: trades up to the cap, then only SKIPs.
    let mut cfg = demo_config();
    let first = use_fresh_demo_journal(&mut cfg, &root, T0).unwrap();
    assert_eq!(run_until_capped(cfg, T0), CAP, "exactly the cap executes");

    // Second demo run, same UTC day: a fresh journal, so it trades again,
    // and its own cap stops it again.
    let mut cfg = demo_config();
    let second = use_fresh_demo_journal(&mut cfg, &root, T0 + 60_000).unwrap();
    assert_ne!(first, second);
    assert_eq!(
        run_until_capped(cfg, T0 + 60_000),
        CAP,
        "the second run places orders up to its cap"
    );
    assert_eq!(runs(&root).unwrap().len(), 2);

    // Restarted on the first run's journal (a --config keeps its dir): the
    // day's cap stays spent, nothing executes.
    let mut cfg = demo_config();
    cfg.journal.dir = first.to_string_lossy().into_owned();
    assert_eq!(
        run_until_capped(cfg, T0 + 120_000),
        0,
        "a restart on the same journal keeps today's spent cap"
    );
    let _ = std::fs::remove_dir_all(Path::new(&root));
}
