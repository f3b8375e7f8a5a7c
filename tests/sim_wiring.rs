//! The binary's simulator wiring (`src/embedded_sim.rs`) against the engine:
//! the simulator spec an engine config gives, and the simulator's generated
//! Binance frames read by the engine's own parser and book sync, which must
//! rebuild the generator's ground-truth book exactly. (These were the
//! simulator's unit tests while it lived inside the engine library.)

/// The binary's simulator wiring (the same file main.rs declares).
#[path = "../src/embedded_sim.rs"]
#[allow(dead_code)]
mod embedded_sim;

use embedded_sim::{frame_gen, sim_spec};
use qt_sim::SimSymbol;
use quantum_trader::config::SimConfig;
use quantum_trader::core::{Instrument, InstrumentId, InstrumentTable, Venue};
use quantum_trader::venue::binance::{BookSync, Msg, Parser, SymbolMap, SyncOut};
use std::time::Duration;

#[test]
fn from_config_uses_binance_instruments() {
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
    t.push(
        Instrument::new(
            InstrumentId(0),
            Venue::Bybit,
            "BTCUSDT",
            "BTCUSDT",
            "0.10",
            "0.001",
            5.0,
        )
        .unwrap(),
    );
    let mut cfg = SimConfig::default();
    cfg.start_prices.insert("BTCUSDT".into(), 60_000.0);
    let s = sim_spec(&cfg, &t).unwrap();
    assert_eq!(
        s.symbols,
        vec![SimSymbol {
            symbol: "BTCUSDT".into(),
            tick_size: "0.10".into(),
            lot_size: "0.001".into(),
            start_price: 60_000.0
        }]
    );
    assert_eq!(s.listen.ip().to_string(), "127.0.0.1");
    assert_eq!(s.ping_interval, Duration::from_secs(180));
}

#[test]
fn frames_parse_and_rebuild_the_ground_truth_book() {
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
    let syms = SymbolMap::new(&t, Venue::Binance);
    let inst = t.get(InstrumentId(0));
    let mut g = frame_gen(&[(inst, 60_000.0)], 7, 100).expect("valid instrument");
    let mut p = Parser::new();
    let mut sync = BookSync::new(100);
    let mut book = quantum_trader::book::L2Book::new(10_000);
    let mut buf = Vec::new();
    let mut snapped = false;
    for _ in 0..20_000 {
        g.next_frame(&mut buf);
        match p.parse(&buf, &syms).unwrap() {
            Msg::Depth => {
                let mut need = false;
                sync.on_depth(&p.depth, &mut |o| match o {
                    SyncOut::Apply { msg, .. } => {
                        for l in &msg.bids {
                            book.set_bid(l.px, l.qty)
                        }
                        for l in &msg.asks {
                            book.set_ask(l.px, l.qty)
                        }
                    }
                    SyncOut::NeedSnapshot => need = true,
                    SyncOut::OutOfSync => panic!("generated frames have no gap"),
                });
                if need && !snapped {
                    snapped = true;
                    let mut sp = Parser::new();
                    sp.parse_snapshot(
                        &g.snapshot("BTCUSDT").unwrap(),
                        InstrumentId(0),
                        &syms,
                        "BTCUSDT",
                    )
                    .unwrap();
                    sync.on_snapshot(&sp.depth, &mut |o| {
                        if let SyncOut::Apply { msg, reset } = o {
                            if reset {
                                book.clear();
                            }
                            for l in &msg.bids {
                                book.set_bid(l.px, l.qty)
                            }
                            for l in &msg.asks {
                                book.set_ask(l.px, l.qty)
                            }
                        }
                    });
                }
            }
            Msg::Bbo { .. } | Msg::Trade { .. } => {}
            m => panic!("{m:?}"),
        }
    }
    let (_, bids, asks) = g.book("BTCUSDT").unwrap();
    assert!(!book.is_crossed());
    assert_eq!(book.bids().map(|l| (l.px, l.qty)).collect::<Vec<_>>(), bids);
    assert_eq!(book.asks().map(|l| (l.px, l.qty)).collect::<Vec<_>>(), asks);
}

/// The engine's Binance adapter and the simulator write their venue facts
/// separately (the simulator from the venue's documentation): they must
/// agree, so a wrong constant on either side fails here.
#[test]
fn binance_limits_agree_with_the_simulator() {
    use quantum_trader::venue::binance as engine;
    assert_eq!(
        engine::REST_WEIGHT_PER_MIN,
        qt_sim::binance::REST_WEIGHT_PER_MIN
    );
    assert!(engine::USED_WEIGHT_HEADER.eq_ignore_ascii_case(qt_sim::binance::USED_WEIGHT_HEADER));
    for limit in [5, 10, 20, 50, 100, 500, 1000] {
        assert_eq!(
            engine::depth_weight(limit),
            qt_sim::binance::depth_weight(limit),
            "depth weight of limit={limit}"
        );
    }
    assert_eq!(
        engine::signed::DEFAULT_RECV_WINDOW_MS,
        qt_sim::binance::DEFAULT_RECV_WINDOW_MS
    );
    assert!(
        engine::signed::ORDER_COUNT_10S_HEADER
            .eq_ignore_ascii_case(qt_sim::binance::ORDER_COUNT_10S_HEADER)
    );
    assert!(
        engine::signed::ORDER_COUNT_1M_HEADER
            .eq_ignore_ascii_case(qt_sim::binance::ORDER_COUNT_1M_HEADER)
    );
}
