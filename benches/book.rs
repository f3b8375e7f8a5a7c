//! Book-apply benches: our price-ladder L2 book, built as the book stage
//! builds it (`L2Book::with_tick`, BTCUSDT's tick), beside a
//! `BTreeMap<price, qty>` per side, both seeded with the real 1000-level
//! REST snapshot and fed the real depth@0ms diffs that follow it (and,
//! separately, generated diffs on a 1000-level book). Per update and per
//! level; per level also `ours_tick1`, the ladder on a 1-unit grid (the
//! configuration earlier figures measured, where the 65,536-slot window spans
//! only ±0.5% of the price and most real levels fall outside it).

mod common;

use common::table;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quantum_trader::bench::samples::Kind;
use quantum_trader::book::L2Book;
use quantum_trader::core::{InstrumentId, Level, Venue};
use quantum_trader::venue::binance::{Msg, Parser, SymbolMap};
use std::collections::BTreeMap;
use std::hint::black_box;

/// One diff: (bids, asks) in scaled integers.
type Diff = (Vec<Level>, Vec<Level>);

struct Workload {
    seed_bids: Vec<Level>,
    seed_asks: Vec<Level>,
    diffs: Vec<Diff>,
}

fn parse_all(frames: &[Vec<u8>], snapshot: &[u8]) -> Workload {
    let syms = SymbolMap::new(&table(), Venue::Binance);
    let mut p = Parser::new();
    p.parse_snapshot(snapshot, InstrumentId(0), &syms, "BTCUSDT")
        .expect("snapshot parses");
    let seed_bids = p.depth.bids.clone();
    let seed_asks = p.depth.asks.clone();
    let last = p.depth.last_id;
    let mut diffs = Vec::new();
    for f in frames {
        if let Ok(Msg::Depth) = p.parse(f, &syms)
            && p.depth.last_id >= last
            && p.depth.inst == InstrumentId(0)
        {
            diffs.push((p.depth.bids.clone(), p.depth.asks.clone()));
        }
    }
    Workload {
        seed_bids,
        seed_asks,
        diffs,
    }
}

struct Tree {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl Tree {
    #[inline]
    fn set(side: &mut BTreeMap<i64, i64>, px: i64, qty: i64) {
        if qty == 0 {
            side.remove(&px);
        } else {
            side.insert(px, qty);
        }
    }
    fn best_bid(&self) -> Option<(&i64, &i64)> {
        self.bids.iter().next_back()
    }
}

fn bench_workload(c: &mut Criterion, name: &str, w: &Workload) {
    if w.diffs.is_empty() {
        return;
    }
    let levels: usize = w.diffs.iter().map(|d| d.0.len() + d.1.len()).sum();
    // Flattened (is_bid, level) for the per-level benches.
    let flat: Vec<(bool, Level)> = w
        .diffs
        .iter()
        .flat_map(|(b, a)| {
            b.iter()
                .map(|l| (true, *l))
                .chain(a.iter().map(|l| (false, *l)))
        })
        .collect();
    let tick = {
        let t = table();
        let id = t.find(Venue::Binance, "BTCUSDT").expect("BTCUSDT");
        t.get(id).tick
    };
    let mut ours = L2Book::with_tick(20_000, tick);
    let mut ours_tick1 = L2Book::new(20_000);
    for book in [&mut ours, &mut ours_tick1] {
        for l in &w.seed_bids {
            book.set_bid(l.px, l.qty);
        }
        for l in &w.seed_asks {
            book.set_ask(l.px, l.qty);
        }
    }
    let mut tree = Tree {
        bids: w.seed_bids.iter().map(|l| (l.px, l.qty)).collect(),
        asks: w.seed_asks.iter().map(|l| (l.px, l.qty)).collect(),
    };
    eprintln!(
        "book/{name}: {} diffs, {:.1} levels/diff, seeded {}+{} levels",
        w.diffs.len(),
        levels as f64 / w.diffs.len() as f64,
        w.seed_bids.len(),
        w.seed_asks.len()
    );

    let mut g = c.benchmark_group(format!("book/{name}/per_level"));
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("ours", |b| {
        b.iter(|| {
            i = if i + 1 >= flat.len() { 0 } else { i + 1 };
            let (bid, l) = flat[i];
            if bid {
                ours.set_bid(l.px, l.qty)
            } else {
                ours.set_ask(l.px, l.qty)
            }
        })
    });
    g.bench_function("ours_tick1", |b| {
        b.iter(|| {
            i = if i + 1 >= flat.len() { 0 } else { i + 1 };
            let (bid, l) = flat[i];
            if bid {
                ours_tick1.set_bid(l.px, l.qty)
            } else {
                ours_tick1.set_ask(l.px, l.qty)
            }
        })
    });
    g.bench_function("btreemap", |b| {
        b.iter(|| {
            i = if i + 1 >= flat.len() { 0 } else { i + 1 };
            let (bid, l) = flat[i];
            if bid {
                Tree::set(&mut tree.bids, l.px, l.qty)
            } else {
                Tree::set(&mut tree.asks, l.px, l.qty)
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("book/{name}/per_update"));
    g.throughput(Throughput::Elements(1));
    let mut k = 0usize;
    g.bench_function("ours", |b| {
        b.iter(|| {
            k = if k + 1 >= w.diffs.len() { 0 } else { k + 1 };
            let (bids, asks) = &w.diffs[k];
            for l in bids {
                ours.set_bid(l.px, l.qty);
            }
            for l in asks {
                ours.set_ask(l.px, l.qty);
            }
            black_box(ours.best_bid())
        })
    });
    g.bench_function("btreemap", |b| {
        b.iter(|| {
            k = if k + 1 >= w.diffs.len() { 0 } else { k + 1 };
            let (bids, asks) = &w.diffs[k];
            for l in bids {
                Tree::set(&mut tree.bids, l.px, l.qty);
            }
            for l in asks {
                Tree::set(&mut tree.asks, l.px, l.qty);
            }
            black_box(tree.best_bid().map(|(p, _)| *p))
        })
    });
    g.finish();
    // Both books saw the same operations: they must agree.
    let ours_bids: Vec<_> = ours.bids().map(|l| (l.px, l.qty)).collect();
    let tree_bids: Vec<_> = tree.bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
    if ours.bid_levels() == tree.bids.len() {
        assert_eq!(ours_bids, tree_bids, "book/{name}: books disagree");
    }
}

fn benches(c: &mut Criterion) {
    if let Some(cap) = common::full_capture("book benches on the real capture") {
        let snapshot = cap.snapshot.clone().expect("capture has a snapshot");
        let w = parse_all(&cap.of_kind(Kind::Depth), &snapshot);
        bench_workload(c, "real_1000lvl", &w);
    }
    // Generated: a 1000-level book, diffs near the touch.
    let t = table();
    let btc = t.iter().next().expect("BTCUSDT");
    let mut g =
        common::embedded_sim::frame_gen(&[(btc, 60_000.0)], 5, 1000).expect("valid instrument");
    let snap = g.snapshot("BTCUSDT").expect("snapshot");
    let mut frames = Vec::new();
    let mut buf = Vec::new();
    while frames.len() < 20_000 {
        g.next_frame(&mut buf);
        if Kind::of(&buf) == Kind::Depth {
            frames.push(buf.clone());
        }
    }
    let w = parse_all(&frames, &snap);
    bench_workload(c, "generated_1000lvl", &w);
}

criterion_group!(book, benches);
criterion_main!(book);
