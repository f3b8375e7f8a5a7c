//! Parse benches: Binance bookTicker, trade, aggTrade and depthUpdate (real
//! sizes, 10+10, 100+100, generated) through our parser (single-pass
//! scanner, simd-json fallback) into fixed-point, each beside a plain `serde_json` derive baseline (owned
//! strings, no decimal conversion) on the same bytes. One iteration = one
//! message, so the time is ns/message; throughput is bytes/s.

mod common;

use common::{avg_len, baseline as bl, table};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quantum_trader::bench::samples::{Kind, depth_frames_with_levels};
use quantum_trader::book::L2Book;
use quantum_trader::venue::binance::{Msg, Parser, SymbolMap};
use std::hint::black_box;

fn cycle<'a>(frames: &'a [Vec<u8>], i: &mut usize) -> &'a [u8] {
    *i += 1;
    if *i >= frames.len() {
        *i = 0;
    }
    &frames[*i]
}

fn group<T: for<'de> serde::Deserialize<'de>>(
    c: &mut Criterion,
    name: &str,
    frames: &[Vec<u8>],
    apply: bool,
) {
    if frames.is_empty() {
        return;
    }
    let syms = SymbolMap::new(&table(), quantum_trader::core::Venue::Binance);
    let mut g = c.benchmark_group(format!("parse/{name}"));
    g.throughput(Throughput::Bytes(avg_len(frames)));
    let mut p = Parser::new();
    // Every frame must parse; a bench of errors would measure nothing.
    for f in frames {
        assert!(
            p.parse(f, &syms).is_ok(),
            "{name}: {}",
            String::from_utf8_lossy(f)
        );
    }
    eprintln!(
        "parse/{name}: {} of {} frames on the single-pass path",
        frames.len() as u64 - p.fallbacks(),
        frames.len()
    );
    let mut i = 0;
    g.bench_function("ours", |b| {
        b.iter(|| black_box(p.parse(cycle(frames, &mut i), &syms)))
    });
    // The simd-json path alone (the parser before the single-pass scanner,
    // and still its fallback): the before/after in one run.
    g.bench_function("ours_simd_json", |b| {
        b.iter(|| black_box(p.parse_full(cycle(frames, &mut i), &syms)))
    });
    if apply {
        // One book per instrument, built as the book stage builds them (on
        // the instrument's tick).
        let mut books: Vec<L2Book> = table()
            .iter()
            .map(|inst| L2Book::with_tick(20_000, inst.tick))
            .collect();
        g.bench_function("ours_parse_apply", |b| {
            b.iter(|| {
                if let Ok(Msg::Depth) = p.parse(cycle(frames, &mut i), &syms) {
                    let book = &mut books[p.depth.inst.idx()];
                    for l in &p.depth.bids {
                        book.set_bid(l.px, l.qty);
                    }
                    for l in &p.depth.asks {
                        book.set_ask(l.px, l.qty);
                    }
                    black_box(book.best_bid());
                }
            })
        });
    }
    g.bench_function("serde_json_derive", |b| {
        b.iter(|| {
            let f = cycle(frames, &mut i);
            black_box(serde_json::from_slice::<T>(f).ok())
        })
    });
    if apply {
        g.bench_function("serde_json_derive_borrowed", |b| {
            b.iter(|| {
                let f = cycle(frames, &mut i);
                black_box(
                    serde_json::from_slice::<bl::borrowed::Combined<bl::borrowed::DepthUpdate>>(f)
                        .is_ok(),
                )
            })
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    if let Some(cap) = common::capture("parse benches on the real capture") {
        let depth = cap.of_kind(Kind::Depth);
        group::<bl::Combined<bl::BookTicker>>(
            c,
            "bookTicker_real",
            &cap.of_kind(Kind::BookTicker),
            false,
        );
        group::<bl::Combined<bl::Trade>>(c, "trade_real", &cap.of_kind(Kind::Trade), false);
        group::<bl::Combined<bl::DepthUpdate>>(c, "depthUpdate_real", &depth, true);
        let d10 = depth_frames_with_levels(&depth, 10).expect("10+10 frames");
        group::<bl::Combined<bl::DepthUpdate>>(c, "depthUpdate_10x10", &d10, true);
        let d100 = depth_frames_with_levels(&depth, 100).expect("100+100 frames");
        group::<bl::Combined<bl::DepthUpdate>>(c, "depthUpdate_100x100", &d100, true);
        if let Some(a) = common::real_agg_trade() {
            group::<bl::Combined<bl::AggTrade>>(c, "aggTrade_real", &[a], false);
        }
    }
    group::<bl::Combined<bl::AggTrade>>(
        c,
        "aggTrade_generated",
        &common::generated(Kind::AggTrade, 2000, 300),
        false,
    );
    group::<bl::Combined<bl::DepthUpdate>>(
        c,
        "depthUpdate_generated",
        &common::generated(Kind::Depth, 2000, 300),
        true,
    );
}

criterion_group!(parse, benches);
criterion_main!(parse);
