//! Venue benches: parse + sequence-check + apply cost per message on the real
//! captured samples (`../shared/samples`; skipped with a message when absent)
//! for Bybit `orderbook.500`, OKX `books` (checksum verified on every
//! message) and Binance `depth@0ms`; and how long a single-symbol resync
//! takes over loopback (gap injected at the simulator -> the engine's book
//! is in sync again) for each venue.
//!
//! `cargo bench --bench venues`; per-message figures are the reported time
//! per element (the throughput line is messages per second).

/// The binary's simulator wiring (the same file main.rs declares).
#[path = "../src/embedded_sim.rs"]
#[allow(dead_code)]
mod embedded_sim;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use embedded_sim::{EngineSim, engine_options, sim_venue};
use qt_sim::Fault;
use qt_sim::venues::VenueFault;
use quantum_trader::app::engine::Engine;
use quantum_trader::book::L2Book;
use quantum_trader::config::Config;
use quantum_trader::core::{Instrument, InstrumentId, InstrumentTable, Venue};
use quantum_trader::venue::chunks::for_each_chunk;
use quantum_trader::venue::symbols::{WireInfo, WireSymbols};
use quantum_trader::venue::{binance, bybit, okx};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn samples() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples"));
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIP venue sample benches: {} is absent", p.display());
        None
    }
}

fn lines(p: PathBuf) -> Vec<Vec<u8>> {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

fn one(sym: &str, ps: u8, qs: u8) -> WireSymbols {
    WireSymbols::from_entries([(
        sym.to_string(),
        WireInfo {
            id: InstrumentId(0),
            price_scale: ps,
            size_scale: qs,
            size_mult: 1,
        },
    )])
}

fn parse_apply(c: &mut Criterion) {
    let Some(dir) = samples() else { return };
    let mut g = c.benchmark_group("parse_apply");

    let by =
        lines(dir.join("bybit/orderbook500_XRPUSDT_2024-12-01_snapshot_then_49_deltas.ndjson"));
    let syms = one("XRPUSDT", 4, 0);
    let mut p = bybit::parse::Parser::new();
    let mut book = L2Book::new(5000);
    g.throughput(Throughput::Elements(by.len() as u64));
    g.bench_function("bybit_orderbook500_per_msg", |b| {
        b.iter(|| {
            let mut sync = bybit::sync::TopicSync::new();
            for l in &by {
                p.parse(l, &syms).unwrap();
                let m = &p.book;
                if let bybit::sync::Step::Apply { reset } = sync.on_book(m) {
                    for_each_chunk(
                        &m.bids,
                        &m.asks,
                        |x| *x,
                        reset,
                        m.u,
                        |c| {
                            book.apply_chunk(&c);
                            true
                        },
                    );
                }
            }
            black_box(book.best_bid())
        })
    });
    // Deltas only (the 500x500 snapshot applied once, outside the timing).
    let deltas = &by[1..];
    g.throughput(Throughput::Elements(deltas.len() as u64));
    g.bench_function("bybit_orderbook500_delta_per_msg", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut sync = bybit::sync::TopicSync::new();
                p.parse(&by[0], &syms).unwrap();
                sync.on_book(&p.book);
                let t = Instant::now();
                for l in deltas {
                    p.parse(l, &syms).unwrap();
                    let m = &p.book;
                    if let bybit::sync::Step::Apply { reset } = sync.on_book(m) {
                        for_each_chunk(
                            &m.bids,
                            &m.asks,
                            |x| *x,
                            reset,
                            m.u,
                            |c| {
                                book.apply_chunk(&c);
                                true
                            },
                        );
                    }
                }
                total += t.elapsed();
            }
            total
        })
    });

    let ok = lines(dir.join("okx/books_400lvl_BTC-USDT_snapshot_then_updates.ndjson"));
    let syms = one("BTC-USDT", 1, 8);
    let mut p = okx::parse::Parser::new();
    g.throughput(Throughput::Elements(ok.len() as u64));
    g.bench_function("okx_books_with_checksum_per_msg", |b| {
        b.iter(|| {
            let mut sync = okx::sync::InstSync::for_captures_without_seq_ids();
            for l in &ok {
                p.parse(l, &syms).unwrap();
                let m = &p.book;
                match sync.on_book(m) {
                    okx::sync::Step::Apply { reset } => {
                        for_each_chunk(
                            &m.bids,
                            &m.asks,
                            |x| x.level(),
                            reset,
                            0,
                            |c| {
                                book.apply_chunk(&c);
                                true
                            },
                        );
                    }
                    s => panic!("{s:?}"),
                }
            }
            black_box(book.best_bid())
        })
    });
    let upd = &ok[1..];
    g.throughput(Throughput::Elements(upd.len() as u64));
    g.bench_function("okx_books_update_with_checksum_per_msg", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut sync = okx::sync::InstSync::for_captures_without_seq_ids();
                p.parse(&ok[0], &syms).unwrap();
                sync.on_book(&p.book);
                let t = Instant::now();
                for l in upd {
                    p.parse(l, &syms).unwrap();
                    let m = &p.book;
                    if let okx::sync::Step::Apply { reset } = sync.on_book(m) {
                        for_each_chunk(
                            &m.bids,
                            &m.asks,
                            |x| x.level(),
                            reset,
                            0,
                            |c| {
                                book.apply_chunk(&c);
                                true
                            },
                        );
                    }
                }
                total += t.elapsed();
            }
            total
        })
    });

    let bn = lines(
        dir.join("binance/futures_BTCUSDT_depth0ms_with_rest_snapshot_2024-08-08_400events.ndjson"),
    );
    let mut t = InstrumentTable::new();
    t.push(
        Instrument::new(
            InstrumentId(0),
            Venue::Binance,
            "BTCUSDT",
            "BTCUSDT",
            "0.10",
            "0.001",
            5.0,
        )
        .unwrap(),
    );
    let bsyms = binance::SymbolMap::new(&t, Venue::Binance);
    let mut bp = binance::Parser::new();
    let diffs: Vec<&Vec<u8>> = bn
        .iter()
        .filter(|l| l.starts_with(b"{\"stream\""))
        .collect();
    g.throughput(Throughput::Elements(diffs.len() as u64));
    g.bench_function("binance_depth0ms_per_msg", |b| {
        b.iter(|| {
            for l in &diffs {
                if let Ok(binance::Msg::Depth) = bp.parse(l, &bsyms) {
                    let d = &bp.depth;
                    for_each_chunk(
                        &d.bids,
                        &d.asks,
                        |x| *x,
                        false,
                        d.last_id,
                        |c| {
                            book.apply_chunk(&c);
                            true
                        },
                    );
                }
            }
            black_box(book.best_bid())
        })
    });
    g.finish();
}

fn resync(c: &mut Criterion) {
    let mut cfg = Config::demo();
    cfg.sim.listen = "127.0.0.1:0".into();
    cfg.ops.listen = "127.0.0.1:0".into();
    cfg.ops.status_interval_secs = 0;
    cfg.sim.rate_per_symbol = 1000;
    let e = Engine::start(cfg, engine_options()).expect("engine starts");
    let sim = e.sim().unwrap();
    let sh = e.shared().clone();
    let all = || sh.books.iter().all(|b| b.in_sync.load(Ordering::Relaxed));
    let t0 = Instant::now();
    while !all() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Measured directly (not with criterion's iteration planner): each
    // resync is a separate event, spaced 1.2 s apart so that Bybit's and
    // OKX's subscribe-op pacing never delays the next one.
    let _ = c;
    for (venue, sym) in [
        (Venue::Binance, "ETHUSDT"),
        (Venue::Bybit, "ETHUSDT"),
        (Venue::Okx, "ETH-USDT-SWAP"),
    ] {
        let id = sh.instruments.find(venue, sym).unwrap();
        let gaps = sh
            .metrics
            .feed_gaps
            .with_label_values(&[venue.as_str(), sym]);
        let h = &sh.books[id.idx()];
        let mut samples = Vec::new();
        for _ in 0..12 {
            std::thread::sleep(Duration::from_millis(1200));
            let deadline = Instant::now() + Duration::from_secs(10);
            while !h.in_sync.load(Ordering::Relaxed) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            let g0 = gaps.get();
            let t = Instant::now();
            match venue {
                Venue::Binance => sim.inject(Fault::Gap(sym.into())),
                v => {
                    sim.inject_venue(sim_venue(v), sym, VenueFault::Gap);
                }
            }
            // Detected, marked out of sync, then in sync again.
            while gaps.get() == g0 && Instant::now() < deadline {
                std::hint::spin_loop();
            }
            let detected = t.elapsed();
            let oos_by = Instant::now() + Duration::from_millis(20);
            while h.in_sync.load(Ordering::Relaxed) && Instant::now() < oos_by {
                std::hint::spin_loop();
            }
            while !h.in_sync.load(Ordering::Relaxed) && Instant::now() < deadline {
                std::hint::spin_loop();
            }
            samples.push((t.elapsed(), detected));
        }
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let n = samples.len();
        println!(
            "single_symbol_resync_loopback/{venue}_{sym}: gap injected -> in sync again: \
             p50 {:.2} ms, min {:.2} ms, max {:.2} ms (n={n}; detection p50 {:.2} ms)",
            ms(samples[n / 2].0),
            ms(samples[0].0),
            ms(samples[n - 1].0),
            ms(samples[n / 2].1),
        );
    }
    e.stop();
}

criterion_group!(benches, parse_apply, resync);
criterion_main!(benches);
