//! Real captured Bybit and OKX messages (../shared/samples/{bybit,okx}):
//! the Bybit `orderbook.500` sequence keeps `u` continuity and builds a book
//! that is never crossed; every checksum of the real OKX `books` sequences
//! verifies and the book built through the engine's depth chunks equals the
//! checksummed one after every message; single trade/ticker/bbo messages
//! parse to the right values.

use quantum_trader::book::L2Book;
use quantum_trader::core::{InstrumentId, Level, Side};
use quantum_trader::venue::bybit;
use quantum_trader::venue::chunks::for_each_chunk;
use quantum_trader::venue::okx;
use quantum_trader::venue::symbols::{WireInfo, WireSymbols};
use std::path::PathBuf;

fn samples(venue: &str) -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples")).join(venue);
    if p.is_dir() {
        Some(p)
    } else {
        quantum_trader::bench::samples::absent("venue sample tests", &p);
        None
    }
}

fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn syms(entries: &[(&str, u16, u8, u8, i64)]) -> WireSymbols {
    WireSymbols::from_entries(entries.iter().map(|(s, id, ps, qs, mult)| {
        (
            s.to_string(),
            WireInfo {
                id: InstrumentId(*id),
                price_scale: *ps,
                size_scale: *qs,
                size_mult: *mult,
            },
        )
    }))
}

fn apply_to(book: &mut L2Book, bids: &[Level], asks: &[Level], reset: bool, id: u64) {
    let mut end = false;
    for_each_chunk(
        bids,
        asks,
        |l| *l,
        reset,
        id,
        |c| {
            end = book.apply_chunk(&c);
            true
        },
    );
    assert!(end, "the last chunk ends the update");
}

#[test]
fn bybit_orderbook500_keeps_u_continuity_and_is_never_crossed() {
    let Some(dir) = samples("bybit") else { return };
    let text = String::from_utf8(read(
        &dir,
        "orderbook500_XRPUSDT_2024-12-01_snapshot_then_49_deltas.ndjson",
    ))
    .unwrap();
    let s = syms(&[("XRPUSDT", 0, 4, 0, 1)]);
    let mut p = bybit::parse::Parser::new();
    let mut sync = bybit::sync::TopicSync::new();
    let mut book = L2Book::new(5000);
    let mut last_u = None;
    let mut applied = 0;
    for (n, line) in text.lines().filter(|l| !l.is_empty()).enumerate() {
        assert_eq!(
            p.parse(line.as_bytes(), &s),
            Ok(bybit::parse::Msg::Book),
            "line {n}"
        );
        let m = &p.book;
        if let Some(l) = last_u {
            assert_eq!(m.u, l + 1, "u continuity at line {n}");
        }
        last_u = Some(m.u);
        match sync.on_book(m) {
            bybit::sync::Step::Apply { reset } => {
                assert_eq!(reset, n == 0);
                apply_to(&mut book, &m.bids, &m.asks, reset, m.u);
                applied += 1;
            }
            other => panic!("line {n}: {other:?}"),
        }
        assert!(!book.is_crossed(), "crossed after line {n}");
        assert!(book.best_bid().is_some() && book.best_ask().is_some());
        if n == 0 {
            assert_eq!(book.bid_levels(), 500);
            assert_eq!(book.ask_levels(), 500);
            assert_eq!(
                book.best_bid().unwrap(),
                Level {
                    px: 19531,
                    qty: 6203
                }
            );
        }
    }
    assert_eq!(applied, 50);
    assert_eq!(sync.gaps, 0);
    assert_eq!(last_u, Some(20254918));
    assert_eq!(book.update_id, 20254918);
    // The same sequence with one delta removed is a gap, and the topic
    // waits for a new snapshot.
    let mut sync = bybit::sync::TopicSync::new();
    let mut steps = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(n, _)| *n != 10) {
        p.parse(line.as_bytes(), &s).unwrap();
        steps.push((n, sync.on_book(&p.book)));
    }
    assert_eq!(steps[10], (11, bybit::sync::Step::Gap));
    assert_eq!(steps[11], (12, bybit::sync::Step::Waiting));
}

#[test]
fn bybit_single_messages() {
    let Some(dir) = samples("bybit") else { return };
    let s = syms(&[("BTCUSDT", 0, 2, 3, 1), ("LTCUSDT", 1, 2, 1, 1)]);
    let mut p = bybit::parse::Parser::new();
    let m = p
        .parse(
            &read(&dir, "publicTrade_LTCUSDT_linear_2023-04-05.json"),
            &s,
        )
        .unwrap();
    assert_eq!(m, bybit::parse::Msg::Trades);
    assert_eq!(p.trades.len(), 1);
    let (inst, ms, t) = p.trades[0];
    assert_eq!((inst, ms), (InstrumentId(1), 1680688979983));
    assert_eq!((t.px, t.qty, t.aggressor), (9453, 4, Side::Buy));
    let m = p
        .parse(
            &read(&dir, "tickers_BTCUSDT_linear_snapshot_2023-04-05.json"),
            &s,
        )
        .unwrap();
    let bybit::parse::Msg::Ticker(tk) = m else {
        panic!("{m:?}")
    };
    assert!(tk.snapshot);
    assert_eq!(tk.bid_px, Some(2855070));
    assert_eq!(tk.bid_qty, Some(2049));
    assert_eq!(tk.ask_px, Some(2855080));
    assert_eq!(tk.ask_qty, Some(15328));
    assert_eq!(tk.exch_ms, 1680673821770);
    let m = p
        .parse(
            &read(&dir, "orderbook1_BTCUSDT_linear_delta_2023-04-05.json"),
            &s,
        )
        .unwrap();
    assert_eq!(m, bybit::parse::Msg::Book);
    assert_eq!(p.book.u, 7003306);
    assert_eq!(
        p.book.bids,
        [Level {
            px: 2855200,
            qty: 12
        }]
    );
}

/// Runs one real OKX `books` capture: every checksum verifies, and the book
/// built from the engine's chunks equals the checksummed book throughout.
fn okx_books_sequence(file: &str, inst: &str, ps: u8, qs: u8) {
    let Some(dir) = samples("okx") else { return };
    let text = String::from_utf8(read(&dir, file)).unwrap();
    let s = syms(&[(inst, 0, ps, qs, 1)]);
    let mut p = okx::parse::Parser::new();
    let mut sync = okx::sync::InstSync::for_captures_without_seq_ids();
    let mut book = L2Book::new(5000);
    let mut n_books = 0;
    for (n, line) in text.lines().filter(|l| !l.is_empty()).enumerate() {
        let m = p.parse(line.as_bytes(), &s).unwrap();
        if m != okx::parse::Msg::Book {
            continue;
        }
        n_books += 1;
        assert_ne!(p.book.checksum, 0, "line {n} carries a checksum");
        let step = sync.on_book(&p.book);
        let okx::sync::Step::Apply { reset } = step else {
            panic!("line {n}: {step:?}")
        };
        assert_eq!(reset, n == 0);
        let lv = |l: &okx::book::StrLevel| l.level();
        let mut end = false;
        for_each_chunk(&p.book.bids, &p.book.asks, lv, reset, n as u64, |c| {
            end = book.apply_chunk(&c);
            true
        });
        assert!(end);
        let sb = sync.book();
        assert!(!sb.is_crossed(), "crossed at line {n}");
        assert!(
            book.bids().eq(sb.bids().map(|l| l.level())),
            "bids differ at line {n}"
        );
        assert!(
            book.asks().eq(sb.asks().map(|l| l.level())),
            "asks differ at line {n}"
        );
    }
    assert!(n_books > 90, "{n_books}");
    assert_eq!(sync.checksum_checks, n_books);
    assert_eq!(sync.checksum_failures, 0);
    // Tampering with one size string is caught by the checksum.
    let second = text.lines().nth(1).unwrap();
    let first = text.lines().next().unwrap();
    let mut sync = okx::sync::InstSync::for_captures_without_seq_ids();
    p.parse(first.as_bytes(), &s).unwrap();
    assert!(matches!(
        sync.on_book(&p.book),
        okx::sync::Step::Apply { .. }
    ));
    p.parse(second.as_bytes(), &s).unwrap();
    let l = p.book.asks[0];
    let mut bumped = l;
    bumped.qty += 1;
    let alt = format!("{}1", String::from_utf8_lossy(l.sz_str.as_bytes()));
    bumped.sz_str = okx::book::InlineStr::new(alt.as_bytes()).unwrap();
    p.book.asks[0] = bumped;
    assert_eq!(sync.on_book(&p.book), okx::sync::Step::ChecksumMismatch);
}

#[test]
fn okx_books_btc_usdt_every_checksum_verifies() {
    okx_books_sequence(
        "books_400lvl_BTC-USDT_snapshot_then_updates.ndjson",
        "BTC-USDT",
        1,
        8,
    );
}

#[test]
fn okx_books_btc_usd_future_every_checksum_verifies() {
    okx_books_sequence(
        "books_400lvl_BTC-USD-220527_snapshot_then_updates.ndjson",
        "BTC-USD-220527",
        1,
        0,
    );
}

#[test]
fn okx_single_messages_and_contract_conversion() {
    let Some(dir) = samples("okx") else { return };
    // BTC-USDT-SWAP: tick 0.1, ctVal 0.01 BTC, lot 1 contract -> base scale 2.
    let (mult, dec) = quantum_trader::venue::symbols::contract_value_parts("0.01").unwrap();
    let s = syms(&[("BTC-USDT-SWAP", 0, 1, 2 - dec, mult)]);
    let mut p = okx::parse::Parser::new();
    let m = p
        .parse(
            &read(&dir, "trades_BTC-USDT-SWAP_2021-12-22_tardis.json"),
            &s,
        )
        .unwrap();
    assert_eq!(m, okx::parse::Msg::Trades);
    let (_, ms, t) = p.trades[0];
    assert_eq!(ms, 1640131236050);
    // 5 contracts x 0.01 BTC = 0.05 BTC = 5 at scale 2.
    assert_eq!((t.px, t.qty, t.aggressor), (489385, 5, Side::Buy));
    let m = p
        .parse(
            &read(&dir, "bbo-tbt_BTC-USDT-SWAP_2022-05-05_tardis.json"),
            &s,
        )
        .unwrap();
    let okx::parse::Msg::Bbo { bbo, exch_ms, .. } = m else {
        panic!("{m:?}")
    };
    assert_eq!(exch_ms, 1651761120004);
    // 990 contracts = 9.90 BTC.
    assert_eq!(
        bbo.bid,
        Level {
            px: 386323,
            qty: 990
        }
    );
    assert_eq!(
        bbo.ask,
        Level {
            px: 386324,
            qty: 727
        }
    );
    let m = p
        .parse(&read(&dir, "subscribe_ack_event_2022-05-13.json"), &s)
        .unwrap();
    assert_eq!(m, okx::parse::Msg::Event(okx::parse::Event::Subscribe));
}

#[test]
fn instruments_endpoints_parse_real_bodies() {
    use quantum_trader::venue::instruments::{parse_bybit, parse_okx};
    let Some(by) = samples("bybit") else { return };
    let (list, cursor) =
        parse_bybit(&read(&by, "instruments-info_linear_BTCUSDT_DOCS.json")).unwrap();
    assert_eq!(cursor, "");
    let b = list.iter().find(|i| i.symbol == "BTCUSDT").unwrap();
    assert_eq!(
        (b.tick_size.as_str(), b.lot_size.as_str(), b.min_notional),
        ("0.10", "0.001", 5.0)
    );
    assert!(b.contract_value.is_empty());
    let Some(ok) = samples("okx") else { return };
    let list = parse_okx(&read(
        &ok,
        "public_instruments_SWAP_excerpt_2022-05-13.json",
    ))
    .unwrap();
    let o = list.iter().find(|i| i.symbol == "BTC-USDT-SWAP").unwrap();
    // lotSz 1 contract x ctVal 0.01 BTC = 0.01 BTC base lot.
    assert_eq!(
        (
            o.tick_size.as_str(),
            o.lot_size.as_str(),
            o.contract_value.as_str()
        ),
        ("0.1", "0.01", "0.01")
    );
    let inv = list.iter().find(|i| i.symbol == "BTC-USD-SWAP").unwrap();
    assert_eq!(inv.contract_value, "100");
    assert!(parse_okx(br#"{"code":"51000","msg":"Parameter instType error","data":[]}"#).is_err());
    assert!(parse_bybit(br#"{"retCode":10001,"retMsg":"params error"}"#).is_err());
}
