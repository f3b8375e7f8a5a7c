//! Memory stays flat: millions of generated Binance frames through the real
//! in-process pipeline (parse, sync, book, score, risk, paper exec), with the
//! process's resident set sampled along the way. Also prints the throughput.

mod common;

use common::embedded_sim::frame_gen;
use common::*;
use quantum_trader::app::engine::{Engine, EngineOptions};
use quantum_trader::telemetry::metrics::resident_memory_bytes;
use std::time::Instant;

#[test]
fn resident_memory_stays_flat_over_millions_of_messages() {
    let total: u64 = std::env::var("QT_SOAK_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000_000);
    let cfg = test_config(|c| {
        c.risk.max_orders_per_sec = 1000;
        c.risk.max_orders_per_min = 1_000_000;
        c.risk.daily_trade_cap = 10_000_000;
    });
    let opts = EngineOptions {
        inject: true,
        no_ops: true,
        ..Default::default()
    };
    let mut engine = Engine::start(cfg, opts).expect("engine starts");
    let mut inj = engine.take_injector().expect("injector");
    let shared = engine.shared().clone();
    let insts: Vec<_> = shared.instruments.iter().cloned().collect();
    let with_px: Vec<_> = insts
        .iter()
        .map(|i| {
            (
                i,
                if i.symbol == "BTCUSDT" {
                    60_000.0
                } else {
                    3_000.0
                },
            )
        })
        .collect();
    let mut g = frame_gen(&with_px, 11, 300).expect("valid instruments");
    let mut buf = Vec::with_capacity(4096);
    let mut samples = Vec::new();
    let start = Instant::now();
    for i in 0..total {
        g.next_frame(&mut buf);
        inj.frame(&buf);
        if i % 512 == 0 {
            inj.answer_snapshots(|s| g.snapshot(s));
            inj.tick();
            while inj.backlog() > 4096 {
                std::thread::yield_now();
            }
        }
        if i % (total / 20) == 0 {
            samples.push((i, resident_memory_bytes()));
        }
    }
    let elapsed = start.elapsed();
    while inj.backlog() > 0 {
        std::thread::yield_now();
    }
    samples.push((total, resident_memory_bytes()));
    let rate = total as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{total} frames in {:.2}s = {:.0} frames/s through the pipeline",
        elapsed.as_secs_f64(),
        rate
    );
    for (i, rss) in &samples {
        eprintln!(
            "  after {i:>9} frames: rss {:.1} MiB",
            *rss as f64 / (1 << 20) as f64
        );
    }
    let updates: u64 = shared
        .books
        .iter()
        .map(|b| b.updates.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert!(
        updates as f64 > total as f64 * 0.4,
        "only {updates} book updates for {total} frames"
    );
    assert!(
        shared
            .books
            .iter()
            .all(|b| b.in_sync.load(std::sync::atomic::Ordering::Relaxed)),
        "books fell out of sync"
    );
    // After warm-up (a quarter of the run) the resident set must not keep growing.
    let warm = samples[samples.len() / 4].1 as f64;
    let end = samples.last().unwrap().1 as f64;
    let peak = samples
        .iter()
        .skip(samples.len() / 4)
        .map(|s| s.1)
        .max()
        .unwrap() as f64;
    let mib = (1 << 20) as f64;
    assert!(
        end - warm < 8.0 * mib,
        "rss grew {:.1} MiB after warm-up",
        (end - warm) / mib
    );
    assert!(
        peak - warm < 16.0 * mib,
        "rss peaked {:.1} MiB above warm-up",
        (peak - warm) / mib
    );
    drop(inj);
    engine.stop();
}
