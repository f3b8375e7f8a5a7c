//! Logic benches on real book tops and trades (the capture's first 3,000
//! frames, or generated frames when the samples are absent): features +
//! model score, a full risk check (every check runs and passes), the paper
//! IOC match, and the exec stage's whole per-order work. The `features`
//! group times feature computation alone per event (update + compute):
//! the shipped model's plan (the 8 base features) and every registered
//! feature (22).

mod common;

use common::table;
use criterion::{Criterion, criterion_group, criterion_main};
use quantum_trader::app::engine::EMBEDDED_MODEL;
use quantum_trader::book::L2Book;
use quantum_trader::config::{Config, TradingMode};
use quantum_trader::core::{
    Action, BookTop, Clock, Decision, InstrumentId, Level, ScoreInput, TOP_LEVELS, Venue,
};
use quantum_trader::exec::PaperExec;
use quantum_trader::exec::paper::match_intent;
use quantum_trader::pipeline::shared::Shared;
use quantum_trader::risk::{Governor, build_intent};
use quantum_trader::score::{Model, Scorer};
use quantum_trader::telemetry::metrics::Metrics;
use quantum_trader::venue::binance::{Msg, Parser, SymbolMap};
use std::hint::black_box;
use std::sync::Arc;

/// Score inputs in capture order (book tops after each applied diff, trades).
fn inputs() -> Vec<ScoreInput> {
    let (frames, snapshot) = match common::capture("logic benches on the real capture") {
        Some(c) => (c.frames, c.snapshot),
        None => {
            let mut f = common::generated(quantum_trader::bench::samples::Kind::Depth, 3000, 300);
            f.extend(common::generated(
                quantum_trader::bench::samples::Kind::AggTrade,
                600,
                300,
            ));
            (f, None)
        }
    };
    let syms = SymbolMap::new(&table(), Venue::Binance);
    let mut p = Parser::new();
    let mut book = L2Book::new(20_000);
    if let Some(s) = &snapshot {
        p.parse_snapshot(s, InstrumentId(0), &syms, "BTCUSDT")
            .expect("snapshot parses");
        for l in &p.depth.bids {
            book.set_bid(l.px, l.qty);
        }
        for l in &p.depth.asks {
            book.set_ask(l.px, l.qty);
        }
    }
    let mut out = Vec::new();
    for f in &frames {
        match p.parse(f, &syms) {
            Ok(Msg::Depth) if p.depth.inst == InstrumentId(0) => {
                for l in &p.depth.bids {
                    book.set_bid(l.px, l.qty);
                }
                for l in &p.depth.asks {
                    book.set_ask(l.px, l.qty);
                }
                let mut top = BookTop {
                    venue: Venue::Binance,
                    inst: InstrumentId(0),
                    recv_ns: 0,
                    hop_ns: 0,
                    exch_ms: p.depth.exch_ms,
                    update_id: p.depth.last_id,
                    in_sync: true,
                    n_bids: 0,
                    n_asks: 0,
                    bids: [Level::default(); TOP_LEVELS],
                    asks: [Level::default(); TOP_LEVELS],
                    xv_best_bid: 0,
                    xv_best_ask: 0,
                    xv_lead_lag_bps: 0.0,
                    extra: Default::default(),
                };
                let (nb, na) = book.top(&mut top.bids, &mut top.asks);
                top.n_bids = nb;
                top.n_asks = na;
                if !book.is_crossed() {
                    out.push(ScoreInput::Book(top));
                }
            }
            Ok(Msg::Trade {
                inst,
                exch_ms,
                trade,
            }) if inst == InstrumentId(0) => out.push(ScoreInput::Trade {
                venue: Venue::Binance,
                inst,
                recv_ns: 0,
                hop_ns: 0,
                exch_ms,
                trade,
            }),
            _ => {}
        }
    }
    out
}

fn exch_ms_mut(i: &mut ScoreInput) -> &mut i64 {
    match i {
        ScoreInput::Book(b) => &mut b.exch_ms,
        ScoreInput::Trade { exch_ms, .. } => exch_ms,
    }
}

fn shared() -> Arc<Shared> {
    Arc::new(Shared::new(
        Arc::new(table()),
        Arc::new(Metrics::new()),
        "bench".into(),
        TradingMode::Paper,
    ))
}

fn benches(c: &mut Criterion) {
    let inputs = inputs();
    assert!(!inputs.is_empty());
    let span = {
        let mut a = inputs.clone();
        *exch_ms_mut(a.last_mut().unwrap()) - *exch_ms_mut(&mut a[0]) + 1
    };
    let cfg = Config::demo();
    let sh = shared();
    let model = Model::from_json(EMBEDDED_MODEL).expect("model");
    let mut scorer = Scorer::new(&sh, model, &cfg.model, vec![2, 50, 1]);
    // Decisions for risk and exec: the scorer's own, made BUY.
    let mut decisions: Vec<Decision> = Vec::new();
    for i in &inputs {
        if let Some(mut d) = scorer.on_input(i) {
            d.action = Action::Buy;
            decisions.push(d);
        }
    }
    assert!(!decisions.is_empty(), "no decisions from the inputs");

    let mut g = c.benchmark_group("logic");
    let (mut k, mut round) = (0usize, 0i64);
    g.bench_function("features_score", |b| {
        b.iter(|| {
            k += 1;
            if k >= inputs.len() {
                k = 0;
                round += 1;
            }
            let mut ev = inputs[k];
            *exch_ms_mut(&mut ev) += round * span;
            black_box(scorer.on_input(&ev))
        })
    });

    let mut rc = cfg.risk.clone();
    rc.max_orders_per_sec = 10_000;
    rc.daily_trade_cap = 10_000_000;
    rc.max_order_notional = 1e9;
    rc.skip_flat_sell = false;
    rc.max_book_age_ms = 3_600_000;
    rc.max_orders_per_min = 1_000_000; // 1 ms apart: this window never fills either
    let clock = Clock::manual(1_723_161_256_299);
    let mut gov = Governor::new(
        &rc,
        Arc::new(table()),
        vec![i64::MAX / 4; 3],
        clock.clone(),
        TradingMode::Paper,
    );
    let (mut now, mut n, mut day) = (1_000_000_000u64, 0u64, 0i64);
    let mut execute = 0u64;
    g.bench_function("risk_check", |b| {
        b.iter(|| {
            k = if k + 1 >= decisions.len() { 0 } else { k + 1 };
            now += 1_000_000; // 1 ms apart: the rate window never fills
            n += 1;
            if n.is_multiple_of(5_000_000) {
                day += 1; // a new UTC day before the daily cap
                clock.set_ms(1_723_161_256_299 + day * 86_400_000);
            }
            let d = &mut decisions[k];
            d.book.recv_ns = now;
            let v = gov.check(d, now);
            execute += (v == quantum_trader::core::Verdict::Execute) as u64;
            black_box(v)
        })
    });
    assert_eq!(execute, n, "every bench risk check must pass all checks");

    let t = table();
    let intents: Vec<_> = decisions
        .iter()
        .enumerate()
        .filter_map(|(i, d)| build_intent(d, i as u64 + 1, 10, &cfg.exec))
        .collect();
    g.bench_function("paper_match", |b| {
        b.iter(|| {
            k = if k + 1 >= intents.len() { 0 } else { k + 1 };
            black_box(match_intent(&intents[k], t.get(InstrumentId(0)), 4.0))
        })
    });
    let mut exec = PaperExec::new(sh.clone(), cfg.exec.clone());
    g.bench_function("paper_execute_order", |b| {
        b.iter(|| {
            k = if k + 1 >= intents.len() { 0 } else { k + 1 };
            let mut reports = 0u32;
            exec.execute(&intents[k], |_| reports += 1);
            black_box(reports)
        })
    });
    g.finish();

    let mut fg = c.benchmark_group("features");
    for (name, plan) in [
        (
            "per_event_base_8",
            quantum_trader::score::registry::FeaturePlan::default(),
        ),
        (
            "per_event_all_22",
            quantum_trader::score::registry::FeaturePlan::all(),
        ),
    ] {
        let mut st = quantum_trader::score::FeatureState::new(
            table().get(InstrumentId(0)),
            cfg.model.trade_flow_window_ms,
            cfg.model.return_horizon_ms,
        );
        let (mut j, mut round) = (0usize, 0i64);
        fg.bench_function(name, |b| {
            b.iter(|| {
                j += 1;
                if j >= inputs.len() {
                    j = 0;
                    round += 1;
                }
                let mut ev = inputs[j];
                *exch_ms_mut(&mut ev) += round * span;
                match &ev {
                    ScoreInput::Book(bt) => st.on_book(bt),
                    ScoreInput::Trade { exch_ms, trade, .. } => st.on_trade(*exch_ms, trade),
                }
                black_box(st.compute_plan(plan))
            })
        });
    }
    fg.finish();
}

criterion_group!(logic, benches);
criterion_main!(logic);
