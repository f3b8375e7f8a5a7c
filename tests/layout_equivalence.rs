//! Both hot-path layouts make the same trades: one deterministic recorded
//! input (the simulator's seeded Binance frame generator, snapshots answered
//! at fixed points) runs through the real engine in paper mode, once with a
//! thread per stage (`layout = "threads"`) and once with book, score, risk
//! and exec on one thread (`layout = "fused"`). The journals of the two runs
//! must hold the same decisions, verdicts (with their SKIP reasons), orders,
//! fills and order ends, field for field (record ids and times aside); the
//! stage counters and latency histograms must cover the same items.
//!
//! Records of one kind are compared in order; the interleaving of kinds is
//! not (in the threads layout a fill may be journaled after the next
//! decision's verdict). The risk limits that read exec's reports (open
//! orders, positions, losses) are set far from binding, so the threads
//! layout's verdicts do not depend on when a report reaches risk; the
//! order-notional limit binds on BTCUSDT only, so SKIPs with a reason are
//! compared too.

mod common;

use common::embedded_sim::frame_gen;
use common::*;
use quantum_trader::app::engine::{Engine, EngineOptions};
use quantum_trader::config::{Layout, WaitKind};
use quantum_trader::journal::Body;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// Frames per run.
const FRAMES: u64 = 4_000;

/// A logistic model over book and trade features whose thresholds make
/// BUYs, SELLs and HOLDs.
const MODEL: &str = r#"{
  "version": "layout-equivalence-1",
  "kind": "logistic",
  "features": [
    { "name": "book_imbalance", "weight": 2.2, "mean": 0.0, "scale": 1.0 },
    { "name": "microprice_offset_bps", "weight": 0.9, "mean": 0.0, "scale": 1.0 },
    { "name": "trade_flow_imbalance", "weight": 1.1, "mean": 0.0, "scale": 1.0 },
    { "name": "return_bps", "weight": 0.15, "mean": 0.0, "scale": 1.0 }
  ],
  "bias": 0.0,
  "buy_threshold": 0.62,
  "sell_threshold": 0.38
}"#;

/// What one run left: journal records by kind (ids and times dropped), and
/// the per-stage counts.
struct Run {
    by_kind: BTreeMap<&'static str, Vec<String>>,
    processed: [u64; 4],
    latency_counts: Vec<(String, u64)>,
    overflow: u64,
}

fn run(layout: Layout, wait: WaitKind) -> Run {
    let dir = temp_journal_dir("layout-eq");
    let model = dir.join("model.json");
    std::fs::write(&model, MODEL).unwrap();
    let cfg = test_config(|c| {
        c.pipeline.layout = layout;
        for s in [
            &mut c.pipeline.book,
            &mut c.pipeline.score,
            &mut c.pipeline.risk,
            &mut c.pipeline.exec,
        ] {
            s.wait = wait;
            s.spin_us = 20;
        }
        c.model.path = model.to_string_lossy().into_owned();
        c.model.decision_cooldown_ms = 0;
        c.journal.dir = dir.join("journal").to_string_lossy().into_owned();
        c.journal.record_holds = true;
        // Limits that read exec's reports or the wall clock: never binding.
        c.risk.skip_flat_sell = false;
        c.risk.max_orders_per_sec = 10_000;
        c.risk.max_orders_per_min = 1_000_000;
        c.risk.daily_trade_cap = 10_000_000;
        c.risk.max_open_orders = 1024;
        c.risk.max_book_age_ms = 3_600_000;
        c.risk.max_position_notional = 1e12;
        c.risk.max_position_notional_by_symbol.clear();
        c.risk.max_gross_exposure = 1e12;
        c.risk.max_daily_loss = 1e12;
        c.risk.max_drawdown = 1e12;
        c.risk.max_consecutive_losses = 0;
        c.risk.max_consecutive_rejects = 0;
        for ic in &mut c.instruments {
            ic.max_position = "1000000".into();
            if ic.symbol == "BTCUSDT" {
                ic.order_qty = "0.050".into();
            }
        }
        // Binds on a decision alone: BTCUSDT orders (~60,000 x 0.050) are
        // SKIPped, ETHUSDT orders (~3,000 x 0.050) pass.
        c.risk.max_order_notional = 1_000.0;
    });
    let mut engine = Engine::start(
        cfg,
        EngineOptions {
            inject: true,
            no_ops: true,
            ..Default::default()
        },
    )
    .expect("engine starts");
    assert_eq!(engine.layout(), layout);
    let mut inj = engine.take_injector().expect("injector");
    let shared = engine.shared().clone();
    let insts: Vec<_> = shared.instruments.iter().cloned().collect();
    let with_px: Vec<_> = insts
        .iter()
        .map(|i| {
            let px = if i.symbol == "BTCUSDT" {
                60_000.0
            } else {
                3_000.0
            };
            (i, px)
        })
        .collect();
    let mut g = frame_gen(&with_px, 17, 120).expect("valid instruments");
    let mut buf = Vec::with_capacity(4096);
    for i in 0..FRAMES {
        if i % 64 == 0 {
            inj.answer_snapshots(|s| g.snapshot(s));
            inj.tick();
            // Far below every queue's capacity: nothing overflows.
            while inj.backlog() > 512 {
                std::thread::yield_now();
            }
        }
        g.next_frame(&mut buf);
        inj.frame(&buf);
    }
    drop(inj);
    engine.stop();
    let m = &shared.metrics;
    let overflow = [
        "feed_to_book",
        "book_to_score",
        "score_to_risk",
        "risk_to_exec",
        "exec_to_risk",
    ]
    .iter()
    .map(|q| m.queue_overflow.with_label_values(&[q]).get())
    .sum();
    let processed = std::array::from_fn(|i| shared.stages[i].processed.load(Ordering::Relaxed));
    let latency_counts = ["book", "score", "risk", "exec", "tick_to_order"]
        .iter()
        .map(|s| {
            let n = shared.latency.get(s).map(|l| l.count).unwrap_or(0);
            (s.to_string(), n)
        })
        .collect();
    let mut by_kind: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for r in quantum_trader::journal::reader::read_from(&dir.join("journal"), 0).unwrap() {
        let kind = r.body.kind();
        if matches!(
            r.body,
            Body::Decision { .. }
                | Body::Verdict { .. }
                | Body::Order { .. }
                | Body::Fill { .. }
                | Body::OrderDone { .. }
                | Body::Holds { .. }
                | Body::Breaker { .. }
        ) {
            by_kind
                .entry(kind)
                .or_default()
                .push(serde_json::to_string(&r.body).unwrap());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        by_kind,
        processed,
        latency_counts,
        overflow,
    }
}

fn count(r: &Run, kind: &str) -> usize {
    r.by_kind.get(kind).map_or(0, Vec::len)
}

fn assert_same(threads: &Run, fused: &Run) {
    assert_eq!(threads.overflow, 0, "a queue overflowed in the threads run");
    assert_eq!(fused.overflow, 0, "a queue overflowed in the fused run");
    let kinds: Vec<_> = threads.by_kind.keys().chain(fused.by_kind.keys()).collect();
    for kind in kinds {
        let (a, b) = (&threads.by_kind[kind], fused.by_kind.get(*kind));
        let b = b.unwrap_or_else(|| panic!("the fused run journaled no `{kind}` record"));
        if let Some(i) = (0..a.len().min(b.len())).find(|&i| a[i] != b[i]) {
            panic!(
                "`{kind}` record {i} differs:\n  threads: {}\n  fused:   {}",
                a[i], b[i]
            );
        }
        assert_eq!(
            a.len(),
            b.len(),
            "`{kind}` records: threads {}, fused {}",
            a.len(),
            b.len()
        );
    }
    assert_eq!(
        threads.processed, fused.processed,
        "stage health counts (book, score, risk, exec)"
    );
    assert_eq!(
        threads.latency_counts, fused.latency_counts,
        "per-stage latency histogram counts"
    );
}

#[test]
fn threads_and_fused_layouts_make_the_same_decisions_verdicts_orders_and_fills() {
    let threads = run(Layout::Threads, WaitKind::Park);
    let fused = run(Layout::Fused, WaitKind::Park);
    // The input exercises every path: trades, holds, SKIPs with a reason,
    // orders and fills.
    let verdicts = &threads.by_kind["verdict"];
    let executes = verdicts.iter().filter(|v| v.contains("EXECUTE")).count();
    let notional = verdicts
        .iter()
        .filter(|v| v.contains("max_order_notional"))
        .count();
    let holds = verdicts.iter().filter(|v| v.contains("\"hold\"")).count();
    eprintln!(
        "threads run: {} decisions, {} verdicts ({executes} EXECUTE, {notional} SKIP max_order_notional, {holds} hold), {} orders, {} fills, {} order ends; stages {:?}",
        count(&threads, "decision"),
        verdicts.len(),
        count(&threads, "order"),
        count(&threads, "fill"),
        count(&threads, "order_done"),
        threads.processed,
    );
    assert!(executes >= 20, "only {executes} EXECUTE verdicts");
    assert!(notional >= 20, "only {notional} notional SKIPs");
    assert!(holds >= 20, "only {holds} HOLD verdicts");
    assert!(count(&threads, "fill") >= 20);
    assert_eq!(count(&threads, "order_done"), count(&threads, "order"));
    assert_same(&threads, &fused);
}

const TOKEN_ENV: &str = "QT_LAYOUT_TEST_TOKEN";

fn ready(addr: std::net::SocketAddr) -> (u16, serde_json::Value) {
    let (s, body) = http(addr, "GET", "/ready");
    (s, serde_json::from_str(&body).unwrap_or_default())
}

/// `/ready` means working in the fused layout too: with the simulator's
/// feed flowing, every stage reports progress and the engine is ready;
/// once the fused thread is frozen (the test hook holds the score stage,
/// and with it the one thread), the feed's events wait and `/ready` says
/// the book stage stalled; released, it is ready again.
#[test]
fn a_fused_engine_is_ready_only_while_its_thread_works() {
    // SAFETY: set before any engine of this test reads it; no other test
    // of this binary reads this variable.
    unsafe { std::env::set_var(TOKEN_ENV, "layout-test-token") };
    let cfg = test_config(|c| {
        c.pipeline.layout = Layout::Fused;
        c.sim.rate_per_symbol = 2000;
        c.ops.test_hooks = true;
        c.ops.stall_timeout_ms = 500;
        c.admin.token_env = TOKEN_ENV.into();
        c.model.decision_cooldown_ms = 0;
    });
    let engine = Engine::start(cfg, engine_options()).expect("engine starts");
    assert_eq!(engine.layout(), Layout::Fused);
    let addr = engine.ops_addr().unwrap();
    let shared = engine.shared().clone();
    let moved = |i: usize| shared.stages[i].processed.load(Ordering::Relaxed) > 0;
    assert!(
        wait_until(std::time::Duration::from_secs(30), || ready(addr).0 == 200
            && moved(0)
            && moved(1)
            && moved(2)),
        "not ready with book, score and risk moving: {:?}",
        ready(addr)
    );
    let (_, body) = ready(addr);
    for stage in ["book", "score", "risk", "exec"] {
        assert_eq!(body["checks"]["stages"][stage]["stalled"], false, "{body}");
    }
    let (s, b) = http_with(
        addr,
        "POST",
        "/api/test/stall/score",
        &[("Authorization", "Bearer layout-test-token")],
    );
    assert_eq!(s, 200, "{b}");
    let mut last = (0, serde_json::Value::Null);
    assert!(
        wait_until(std::time::Duration::from_secs(10), || {
            last = ready(addr);
            last.0 == 503
                && last.1["reasons"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|x| x == "stage_stalled:book"))
        }),
        "/ready never said the frozen thread stalled: {last:?}"
    );
    let (s, b) = http_with(
        addr,
        "POST",
        "/api/test/resume/score",
        &[("Authorization", "Bearer layout-test-token")],
    );
    assert_eq!(s, 200, "{b}");
    assert!(
        wait_until(std::time::Duration::from_secs(10), || ready(addr).0 == 200),
        "never ready again: {:?}",
        ready(addr)
    );
    engine.stop();
}

/// The fused layout with the bounded spin-then-park wait gives the same
/// results as with park.
#[test]
fn fused_with_spin_then_park_matches_threads() {
    let threads = run(Layout::Threads, WaitKind::SpinThenPark);
    let fused = run(Layout::Fused, WaitKind::SpinThenPark);
    assert!(count(&fused, "fill") >= 20);
    assert_same(&threads, &fused);
}
