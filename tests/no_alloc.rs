//! Zero heap allocations per message on the steady-state hot path, proved
//! with a counting global allocator. The test thread drives every per-message
//! step the stage threads run, in order and through the real bounded queues:
//! frame parse + Binance sync + chunking (the feed), book apply and top of
//! book, features + model score, the full risk check, order building, paper
//! execution with positions and reports back to risk, latency recording and
//! metrics. Only the stage threads' idle-time work (publishing views every
//! 100 ms, answering API queries) is left out: it is timed, not per message.
//! Run on the real Binance capture (when ../shared/samples is present) and on
//! generated frames.

use embedded_sim::{SimFrames, frame_gen};
use quantum_trader::app::engine::instruments_from_config;
use quantum_trader::bench::hotpath::{HotPath, measured_replay};
use quantum_trader::bench::samples::{self, Capture};
use quantum_trader::config::Config;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

/// The binary's simulator wiring (the same file main.rs declares).
#[path = "../src/embedded_sim.rs"]
#[allow(dead_code)]
mod embedded_sim;
use counting_alloc::count_allocs;

fn check(name: &str, frames: &[Vec<u8>], symbols: &[&str], snap: impl Fn(&str) -> Option<Vec<u8>>) {
    let mut hp = HotPath::new(symbols);
    let warm = frames.len() / 4;
    hp.warm(&frames[..warm], &snap);
    // A fresh one-second order-rate window, so orders flow in the measured part.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (d0, o0, s0) = (hp.decisions, hp.orders, hp.skips);
    let measured = &frames[warm..];
    let ((), allocs) = count_allocs(|| measured_replay(&mut hp, measured));
    let (d, o, s) = (hp.decisions - d0, hp.orders - o0, hp.skips - s0);
    eprintln!(
        "{name}: {} frames, {d} decisions, {o} orders, {s} skips: {allocs} heap allocations",
        measured.len()
    );
    // The measured part must exercise the whole path, or zero proves nothing.
    assert!(d > 1_000, "{name}: only {d} decisions");
    assert!(o > 100, "{name}: only {o} orders");
    assert_eq!(
        allocs,
        0,
        "{name}: {allocs} heap allocations over {} steady-state messages",
        measured.len()
    );
    // The counter works: an allocation on this thread is seen.
    let (_, n) = count_allocs(|| std::hint::black_box(vec![1u8; 8]));
    assert_eq!(n, 1);
}

#[test]
fn no_heap_allocation_per_message_on_generated_frames() {
    let cfg = Config::demo();
    let table = instruments_from_config(&cfg).unwrap();
    let insts: Vec<_> = table.iter().cloned().collect();
    let with_px = vec![(&insts[0], 60_000.0), (&insts[1], 3_000.0)];
    let g = frame_gen(&with_px, 9, 300).expect("valid instruments");
    let symbols = ["BTCUSDT".to_string(), "ETHUSDT".to_string()];
    let (frames, snaps) = samples::pregenerate(&mut SimFrames(g), &symbols, 120_000);
    check("generated", &frames, &["BTCUSDT", "ETHUSDT"], |s| {
        snaps.iter().find(|x| x.0 == s).map(|x| x.1.clone())
    });
}

#[test]
fn no_heap_allocation_per_message_on_the_real_capture() {
    let Some(dir) = samples::samples_dir() else {
        samples::absent(
            "no-alloc on the real capture",
            std::path::Path::new("../shared/samples"),
        );
        return;
    };
    let cap: Capture = samples::load_capture(&dir.join(samples::FULL_CAPTURE), 0).unwrap();
    let snap = cap.snapshot.clone().unwrap();
    check("real capture", &cap.frames, &["BTCUSDT"], |s| {
        (s == "BTCUSDT").then(|| snap.clone())
    });
}
