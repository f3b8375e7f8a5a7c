//! Real captured Binance messages (../shared/samples/binance) parse to the
//! right values, and the real depth capture with its REST snapshot builds a
//! book that matches every bookTicker of the same capture.

use quantum_trader::book::L2Book;
use quantum_trader::core::{Instrument, InstrumentId, InstrumentTable, Level, Side, Venue};
use quantum_trader::venue::binance::{BookSync, Msg, Parser, SymbolMap, SyncOut};
use std::path::PathBuf;

fn samples() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/samples/binance"
    ));
    if p.is_dir() {
        Some(p)
    } else {
        quantum_trader::bench::samples::absent("binance sample tests", &p);
        None
    }
}

fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn table() -> (InstrumentTable, SymbolMap) {
    let mut t = InstrumentTable::new();
    for (s, tick, lot) in [("BTCUSDT", "0.10", "0.001"), ("CTKUSDT", "0.00001", "1")] {
        t.push(Instrument::new(InstrumentId(0), Venue::Binance, s, s, tick, lot, 5.0).unwrap());
    }
    let m = SymbolMap::new(&t, Venue::Binance);
    (t, m)
}

#[test]
fn single_messages_parse_to_the_right_values() {
    let Some(dir) = samples() else { return };
    let (t, syms) = table();
    let btc = t.find(Venue::Binance, "BTCUSDT").unwrap();
    let ctk = t.find(Venue::Binance, "CTKUSDT").unwrap();
    let mut p = Parser::new();

    let m = p
        .parse(
            &read(&dir, "futures_bookTicker_stream_BTCUSDT_2024-08-08.json"),
            &syms,
        )
        .unwrap();
    let Msg::Bbo { inst, exch_ms, bbo } = m else {
        panic!("{m:?}")
    };
    assert_eq!(inst, btc);
    assert_eq!(exch_ms, 1723161256313);
    assert_eq!(bbo.update_id, 5123107839020);
    assert_eq!(
        bbo.bid,
        Level {
            px: 6_180_020,
            qty: 2_507
        }
    );
    assert_eq!(
        bbo.ask,
        Level {
            px: 6_180_030,
            qty: 2_510
        }
    );

    let m = p
        .parse(
            &read(&dir, "futures_trade_stream_BTCUSDT_2024-08-08.json"),
            &syms,
        )
        .unwrap();
    let Msg::Trade {
        inst,
        exch_ms,
        trade,
    } = m
    else {
        panic!("{m:?}")
    };
    assert_eq!((inst, exch_ms), (btc, 1723161256322));
    assert_eq!(
        (trade.px, trade.qty, trade.trade_id),
        (6_180_030, 6, 5266583935)
    );
    assert_eq!(trade.aggressor, Side::Buy, "m=false: buyer is taker");

    let m = p
        .parse(
            &read(&dir, "futures_aggTrade_stream_CTKUSDT_2021-07-22.json"),
            &syms,
        )
        .unwrap();
    let Msg::Trade {
        inst,
        exch_ms,
        trade,
    } = m
    else {
        panic!("{m:?}")
    };
    assert_eq!((inst, exch_ms), (ctk, 1626992741421));
    assert_eq!(
        (trade.px, trade.qty, trade.trade_id),
        (101_100, 10, 16599292)
    );

    let m = p
        .parse(
            &read(
                &dir,
                "futures_depthUpdate_0ms_stream_BTCUSDT_2024-08-08.json",
            ),
            &syms,
        )
        .unwrap();
    assert_eq!(m, Msg::Depth);
    let d = &p.depth;
    assert_eq!(
        (d.first_id, d.last_id, d.prev_id),
        (5123107832006, 5123107837557, 5123107831937)
    );
    assert_eq!(d.exch_ms, 1723161256299);
    assert_eq!(
        d.bids[0],
        Level {
            px: 5_871_020,
            qty: 14
        }
    );
    assert_eq!(
        d.bids[2],
        Level {
            px: 6_151_090,
            qty: 0
        },
        "qty 0 removes a level"
    );
    assert!(!d.asks.is_empty());

    // Spot: no `pu` (continuity by U == prev u + 1) and 8-decimal strings;
    // spot BTCUSDT has a 0.01 tick and 0.00001 lot. The futures lot refuses
    // spot's finer quantities rather than rounding them.
    let spot_file = read(
        &dir,
        "spot_depthUpdate_100ms_stream_BTCUSDT_2024-08-08.json",
    );
    assert!(p.parse(&spot_file, &syms).is_err());
    let mut st = InstrumentTable::new();
    st.push(
        Instrument::new(
            InstrumentId(0),
            Venue::Binance,
            "BTCUSDT",
            "BTCUSDT",
            "0.01",
            "0.00001",
            5.0,
        )
        .unwrap(),
    );
    let syms_spot = SymbolMap::new(&st, Venue::Binance);
    let m = p.parse(&spot_file, &syms_spot).unwrap();
    assert_eq!(m, Msg::Depth);
    assert_eq!(p.depth.prev_id, u64::MAX);
    assert_eq!(
        (p.depth.first_id, p.depth.last_id),
        (50093239189, 50093239202)
    );
    assert_eq!(
        p.depth.bids[0],
        Level {
            px: 6_173_763,
            qty: 0
        }
    );
    // Spot bookTicker has no `e`, `E` or `T`.
    let m = p
        .parse(
            &read(&dir, "spot_bookTicker_stream_BTCUSDT_2024-08-08.json"),
            &syms_spot,
        )
        .unwrap();
    let Msg::Bbo { bbo, .. } = m else {
        panic!("{m:?}")
    };
    assert_eq!(bbo.update_id, 50093239212);
    assert_eq!(
        bbo.bid,
        Level {
            px: 6_183_763,
            qty: 378_826
        }
    );
    assert_eq!(
        bbo.ask,
        Level {
            px: 6_183_764,
            qty: 154_698
        }
    );

    for (f, code) in [
        ("futures_error_-4164_min_notional_real.json", -4164),
        ("futures_error_-2019_margin_insufficient_real.json", -2019),
        ("futures_error_-4003_qty_le_zero_real.json", -4003),
    ] {
        assert_eq!(
            p.parse(&read(&dir, f), &syms).unwrap(),
            Msg::VenueError { code },
            "{f}"
        );
    }

    let snap = read(
        &dir,
        "futures_rest_depth_snapshot_BTCUSDT_1000lvl_2024-08-08.json",
    );
    p.parse_snapshot(&snap, btc, &syms, "BTCUSDT").unwrap();
    assert_eq!(p.depth.bids.len(), 1000);
    assert_eq!(p.depth.asks.len(), 1000);
    assert!(
        p.depth.bids.windows(2).all(|w| w[0].px > w[1].px),
        "bids descending"
    );
    assert!(
        p.depth.asks.windows(2).all(|w| w[0].px < w[1].px),
        "asks ascending"
    );
}

#[test]
fn real_capture_builds_a_book_that_matches_every_book_ticker() {
    let Some(dir) = samples() else { return };
    let (t, syms) = table();
    let btc = t.find(Venue::Binance, "BTCUSDT").unwrap();
    let text = read(
        &dir,
        "futures_BTCUSDT_mixed_stream_2024-08-08_first3000.ndjson",
    );
    let mut p = Parser::new();
    let mut tickers: Vec<(u64, Level, Level)> = Vec::new();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(Msg::Bbo { bbo, .. }) = p.parse(line, &syms) {
            tickers.push((bbo.update_id, bbo.bid, bbo.ask));
        }
    }
    tickers.sort_by_key(|x| x.0);
    assert!(tickers.len() > 1000);

    let mut sync = BookSync::new(10_000);
    let mut book = L2Book::new(20_000);
    let (mut applied, mut checked, mut size_checked, mut frames) = (0, 0, 0, 0);
    let apply = |book: &mut L2Book, o: SyncOut<'_>, applied: &mut u32| match o {
        SyncOut::Apply { msg, reset } => {
            if reset {
                book.clear();
            }
            for l in &msg.bids {
                book.set_bid(l.px, l.qty);
            }
            for l in &msg.asks {
                book.set_ask(l.px, l.qty);
            }
            book.update_id = msg.last_id;
            *applied += 1;
        }
        other => panic!("the capture has no gap, got {other:?}"),
    };
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        frames += 1;
        if line.windows(12).any(|w| w == b"lastUpdateId") {
            let mut sp = Parser::new();
            sp.parse_snapshot(line, btc, &syms, "BTCUSDT").unwrap();
            sync.on_snapshot(&sp.depth, &mut |o| apply(&mut book, o, &mut applied));
            continue;
        }
        match p
            .parse(line, &syms)
            .unwrap_or_else(|e| panic!("frame {frames}: {e}"))
        {
            Msg::Depth => {
                let before = applied;
                sync.on_depth(&p.depth, &mut |o| match o {
                    SyncOut::NeedSnapshot => {}
                    o => apply(&mut book, o, &mut applied),
                });
                if applied == before || !sync.is_synced() {
                    continue;
                }
                assert!(!book.is_crossed(), "crossed after u={}", book.update_id);
                let u = book.update_id;
                let i = tickers.partition_point(|x| x.0 <= u);
                if i == 0 {
                    continue;
                }
                let (tu, tb, ta) = tickers[i - 1];
                let (bb, ba) = (book.best_bid().unwrap(), book.best_ask().unwrap());
                assert_eq!(
                    (bb.px, ba.px),
                    (tb.px, ta.px),
                    "best prices at u={u} vs bookTicker u={tu}"
                );
                checked += 1;
                if tu == u {
                    assert_eq!((bb.qty, ba.qty), (tb.qty, ta.qty), "sizes at u={u}");
                    size_checked += 1;
                }
            }
            Msg::Bbo { .. } | Msg::Trade { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(checked >= 200, "only {checked} depth events were checked");
    assert!(size_checked >= 10, "only {size_checked} exact-u matches");
    eprintln!(
        "{frames} frames, {applied} updates applied, {checked} best-price checks, {size_checked} size checks"
    );
}
