//! Tests of the user-data parser: every real sample of the kinds it reads
//! (from `../shared/samples/binance`, read at test time), exact values,
//! hostile inputs (typed errors), and a bounded mutation fuzz loop that
//! must never panic.

use super::*;
use crate::core::{Instrument, InstrumentTable, Venue};
use crate::exec::lifecycle::{LifeState, VenueOrder};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

fn syms() -> SymbolMap {
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
    SymbolMap::new(&t, Venue::Binance)
}

fn dir() -> Option<PathBuf> {
    let d = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/samples/binance"
    ));
    if d.is_dir() {
        Some(d)
    } else {
        crate::venue::samples::absent("binance user data samples", &d);
        None
    }
}

/// The sample files of the kinds this parser reads.
fn sample_files(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("futures_")
                && [
                    "ORDER_TRADE_UPDATE",
                    "TRADE_LITE",
                    "ACCOUNT_UPDATE",
                    "listenKeyExpired",
                ]
                .iter()
                .any(|k| n.contains(k))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_real_sample_parses_to_exact_values() {
    let Some(d) = dir() else { return };
    let files = sample_files(&d);
    assert!(
        files.len() >= 4,
        "expected the user-data samples: {files:?}"
    );
    let s = syms();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let ev = decode(&bytes, &s).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        // Compact form too (the wire sends it compact).
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let compact = serde_json::to_vec(&v).unwrap();
        assert_eq!(decode(&compact, &s).unwrap(), ev, "{}", f.display());
        assert!(!matches!(ev, UserEvent::Ignored(_)), "{}", f.display());
    }

    let read = |n: &str| decode(&std::fs::read(d.join(n)).unwrap(), &s).unwrap();
    // NEW (a trailing stop): an ack with the venue's order id.
    let UserEvent::Order(new) = read("futures_ORDER_TRADE_UPDATE_new_DOCS.json") else {
        panic!("not an order update")
    };
    assert_eq!(
        (
            new.client_id.as_str(),
            new.venue_order_id.as_str(),
            new.side
        ),
        ("TEST", "8886774", Side::Buy)
    );
    assert_eq!(
        new.events,
        vec![LifeEvent::Ack {
            venue_order_id: Some("8886774".into())
        }]
    );
    assert_eq!((new.cum_qty, new.event_time_ms), (Some(0), 1568879465651));
    // TRADE: a fill with trade id, quantity 0.001 (scale 3), price 7100.50
    // (scale 2), commission 0.01 USDT, realized profit 12.34.
    let UserEvent::Order(tr) = read("futures_ORDER_TRADE_UPDATE_trade_DOCS_DERIVED.json") else {
        panic!("not an order update")
    };
    let fill = Fill {
        trade_id: "12345678".into(),
        qty: 1,
        px: 710_050,
        fee: Some(Fee {
            amount: Money(1_000_000),
            asset: "USDT".into(),
        }),
    };
    assert_eq!(tr.events[1], LifeEvent::Fill(fill.clone()));
    assert_eq!(tr.realized_pnl, Some(Money(1_234_000_000)));
    assert_eq!(tr.cum_qty, Some(1));
    // TRADE_LITE: the same trade, without the commission.
    let UserEvent::Order(lite) = read("futures_TRADE_LITE_DOCS.json") else {
        panic!("not an order update")
    };
    assert_eq!(
        lite.events[1],
        LifeEvent::Fill(Fill {
            fee: None,
            ..fill.clone()
        })
    );
    // Both reports of the trade on one order: one fill, with its fee.
    let mut o = VenueOrder::new("TEST", 1);
    for e in lite.events.iter().chain(&tr.events).chain(&lite.events) {
        o.apply(e).unwrap();
    }
    assert_eq!((o.filled(), o.fills_without_fee()), (1, 0));
    assert_eq!(o.state(), LifeState::Filled);
    assert_eq!(o.fees()["USDT"], Money(1_000_000));
    // ACCOUNT_UPDATE: a balance and three position legs.
    let UserEvent::Account(acc) = read("futures_ACCOUNT_UPDATE_DOCS.json") else {
        panic!("not an account update")
    };
    assert_eq!(acc.reason, "ORDER");
    assert_eq!(
        acc.balances,
        vec![BalanceUpdate {
            asset: "USDT".into(),
            wallet: Money(12_262_412_345_678),
            cross_wallet: Money(10_012_345_678),
            change: Some(Money(5_012_345_678)),
        }]
    );
    assert_eq!(acc.positions.len(), 3);
    assert_eq!(
        acc.positions[1],
        PositionUpdate {
            inst: InstrumentId(0),
            side: PositionSide::Long,
            qty: 20_000,
            entry_px: Money(656_360_000_000),
            unrealized: Money(285_021_200_000),
        }
    );
    assert_eq!(
        (acc.positions[2].side, acc.positions[2].qty),
        (PositionSide::Short, -10_000)
    );
    assert!(acc.unknown_symbols.is_empty());
}

const OTU_TRADE: &str = r#"{"e":"ORDER_TRADE_UPDATE","T":1,"E":2,"o":{"s":"BTCUSDT","c":"cid","S":"SELL","o":"LIMIT","f":"IOC","q":"0.005","p":"7100.50","ap":"7100.50","sp":"0","x":"TRADE","X":"FILLED","i":99,"l":"0.005","z":"0.005","L":"7100.50","N":"BNB","n":"-0.00000012","T":3,"t":77,"m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH","rp":"0"}}"#;

#[test]
fn canceled_expired_listen_key_and_ignored_events() {
    let s = syms();
    let canceled = OTU_TRADE
        .replace(
            r#""x":"TRADE","X":"FILLED""#,
            r#""x":"CANCELED","X":"CANCELED""#,
        )
        .replace(r#""z":"0.005""#, r#""z":"0.002""#);
    let UserEvent::Order(u) = decode(canceled.as_bytes(), &s).unwrap() else {
        panic!()
    };
    assert_eq!(u.events, vec![LifeEvent::CancelAck { cum_qty: Some(2) }]);
    let expired = OTU_TRADE.replace(
        r#""x":"TRADE","X":"FILLED""#,
        r#""x":"EXPIRED","X":"EXPIRED_IN_MATCH""#,
    );
    let UserEvent::Order(u) = decode(expired.as_bytes(), &s).unwrap() else {
        panic!()
    };
    assert_eq!(u.events, vec![LifeEvent::Expire { cum_qty: Some(5) }]);
    // A rebate is a negative commission, exact.
    let UserEvent::Order(u) = decode(OTU_TRADE.as_bytes(), &s).unwrap() else {
        panic!()
    };
    let LifeEvent::Fill(f) = &u.events[1] else {
        panic!()
    };
    assert_eq!(
        f.fee,
        Some(Fee {
            amount: Money(-12),
            asset: "BNB".into()
        })
    );
    assert_eq!(u.side, Side::Sell);
    // listenKeyExpired with the time as a string (current docs) or a number.
    for frame in [
        r#"{"e":"listenKeyExpired","E":"1736996475556","listenKey":"WsCMN0a4"}"#,
        r#"{"e":"listenKeyExpired","E":1736996475556,"listenKey":"WsCMN0a4"}"#,
    ] {
        assert_eq!(
            decode(frame.as_bytes(), &s).unwrap(),
            UserEvent::ListenKeyExpired {
                event_time_ms: 1736996475556,
                listen_key: Some("WsCMN0a4".into())
            }
        );
    }
    assert_eq!(
        decode(br#"{"e":"MARGIN_CALL","E":1}"#, &s).unwrap(),
        UserEvent::Ignored("MARGIN_CALL".into())
    );
}

#[test]
fn an_unknown_symbol_is_parked_not_dropped() {
    let frame = OTU_TRADE.replace("BTCUSDT", "NEWUSDT");
    let wire = parse(frame.as_bytes()).unwrap();
    assert_eq!(
        wire.convert(&syms()),
        Err(UserDataError::UnknownSymbol("NEWUSDT".into()))
    );
    // Once the instrument is known, the parked event converts.
    let mut t = InstrumentTable::new();
    t.push(
        Instrument::new(
            InstrumentId(0),
            Venue::Binance,
            "NEWUSDT",
            "NEWUSDT",
            "0.01",
            "0.001",
            5.0,
        )
        .unwrap(),
    );
    assert!(wire.convert(&SymbolMap::new(&t, Venue::Binance)).is_ok());
    // Account positions on unknown symbols are listed.
    let acc = r#"{"e":"ACCOUNT_UPDATE","T":1,"E":1,"a":{"m":"ORDER","B":[],"P":[{"s":"XYZUSDT","pa":"1","ep":"1","up":"0","ps":"BOTH"},{"s":"BTCUSDT","pa":"-0.5","ep":"1","up":"0","ps":"BOTH"}]}}"#;
    let UserEvent::Account(a) = decode(acc.as_bytes(), &syms()).unwrap() else {
        panic!()
    };
    assert_eq!(a.unknown_symbols, vec!["XYZUSDT".to_string()]);
    assert_eq!(a.positions[0].qty, -500);
}

#[test]
fn hostile_inputs_are_typed_errors() {
    let s = syms();
    let swap = |from: &str, to: &str| {
        assert!(OTU_TRADE.contains(from), "{from}");
        decode(OTU_TRADE.replace(from, to).as_bytes(), &s)
    };
    assert!(matches!(decode(b"", &s), Err(UserDataError::Json(_))));
    assert!(matches!(decode(b"{", &s), Err(UserDataError::Json(_))));
    assert!(matches!(decode(b"[1,2]", &s), Err(UserDataError::Json(_))));
    assert!(matches!(
        decode(br#"{"E":1}"#, &s),
        Err(UserDataError::Json(_))
    ));
    assert_eq!(
        decode(br#"{"e":"SOMETHING_NEW","E":1}"#, &s),
        Err(UserDataError::UnknownEvent("SOMETHING_NEW".into()))
    );
    // Unknown enum values.
    assert_eq!(
        swap(r#""x":"TRADE""#, r#""x":"WHATEVER""#),
        Err(UserDataError::UnknownEnum {
            field: "x",
            value: "WHATEVER".into()
        })
    );
    assert!(matches!(
        swap(r#""X":"FILLED""#, r#""X":"HALF""#),
        Err(UserDataError::UnknownEnum { field: "X", .. })
    ));
    assert!(matches!(
        swap(r#""S":"SELL""#, r#""S":"HOLD""#),
        Err(UserDataError::UnknownEnum { field: "S", .. })
    ));
    assert_eq!(
        swap(r#""x":"TRADE""#, r#""x":"AMENDMENT""#),
        Err(UserDataError::Unsupported("order amendment"))
    );
    // Huge numbers: refused, never wrapped.
    assert!(matches!(
        swap(r#""i":99"#, r#""i":99999999999999999999999"#),
        Err(UserDataError::Json(_))
    ));
    assert!(matches!(
        swap(r#""t":77"#, r#""t":1e400"#),
        Err(UserDataError::Json(_))
    ));
    assert!(matches!(
        swap(r#""l":"0.005""#, r#""l":"99999999999999999999.005""#),
        Err(UserDataError::Decimal { field: "l", .. })
    ));
    assert!(matches!(
        swap(r#""L":"7100.50""#, r#""L":"7100.501""#),
        Err(UserDataError::Decimal { field: "L", .. })
    ));
    assert!(matches!(
        swap(r#""n":"-0.00000012""#, r#""n":"0.000000001""#),
        Err(UserDataError::Decimal { field: "n", .. })
    ));
    assert!(matches!(
        swap(r#""z":"0.005""#, r#""z":"-0.005""#),
        Err(UserDataError::Decimal { field: "z", .. })
    ));
    // Trades that cannot be fills.
    assert!(matches!(
        swap(r#""t":77"#, r#""t":0"#),
        Err(UserDataError::BadTrade(_))
    ));
    assert!(matches!(
        swap(r#""l":"0.005""#, r#""l":"0""#),
        Err(UserDataError::BadTrade(_))
    ));
    // Missing and mistyped fields.
    assert!(matches!(
        swap(r#""c":"cid","#, ""),
        Err(UserDataError::Json(_))
    ));
    assert!(matches!(
        swap(r#""q":"0.005""#, r#""q":5"#),
        Err(UserDataError::Json(_))
    ));
    assert!(matches!(
        decode(br#"{"e":"listenKeyExpired","E":"soon"}"#, &s),
        Err(UserDataError::Json(_))
    ));
    // Errors never carry more than a short clip of hostile text.
    let long = "A".repeat(10_000);
    match decode(format!(r#"{{"e":"{long}"}}"#).as_bytes(), &s) {
        Err(UserDataError::UnknownEvent(e)) => assert_eq!(e.len(), 64),
        other => panic!("{other:?}"),
    }
    // Deep nesting: an error, not a stack overflow.
    let deep = format!(
        r#"{{"e":"X","x":{}{}}}"#,
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    assert!(decode(deep.as_bytes(), &s).is_err());
}

/// One mutation of a frame.
fn mutate(rng: &mut SmallRng, corpus: &[Vec<u8>], v: &mut Vec<u8>) {
    const HOSTILE: &[&str] = &[
        "99999999999999999999999",
        "-1",
        "1e400",
        "\"\"",
        "null",
        "\"NaN\"",
        "\"-0.000000001\"",
        "\"UNKNOWN\"",
        "{}",
        "[]",
        "\"\\u0000\"",
        "\"ÿ\"",
    ];
    match rng.random_range(0..6) {
        0 if !v.is_empty() => {
            let i = rng.random_range(0..v.len());
            v[i] ^= 1 << rng.random_range(0..8);
        }
        1 if !v.is_empty() => {
            let n = rng.random_range(0..v.len());
            v.truncate(n);
        }
        2 => {
            let other = &corpus[rng.random_range(0..corpus.len())];
            let a = rng.random_range(0..=v.len());
            let b = rng.random_range(0..=other.len());
            let mut w = v[..a].to_vec();
            w.extend_from_slice(&other[b..]);
            *v = w;
        }
        3 => {
            // Replace a value after a `:` with a hostile one.
            let colons: Vec<usize> = (0..v.len()).filter(|&i| v[i] == b':').collect();
            if let Some(&c) = colons.get(rng.random_range(0..colons.len().max(1))) {
                let end = (c + 1..v.len())
                    .find(|&i| v[i] == b',' || v[i] == b'}')
                    .unwrap_or(v.len());
                let h = HOSTILE[rng.random_range(0..HOSTILE.len())];
                let mut w = v[..=c].to_vec();
                w.extend_from_slice(h.as_bytes());
                w.extend_from_slice(&v[end..]);
                *v = w;
            }
        }
        4 => {
            // Remove a `"key":value` pair.
            let quotes: Vec<usize> = (0..v.len()).filter(|&i| v[i] == b'"').collect();
            if let Some(&q) = quotes.get(rng.random_range(0..quotes.len().max(1))) {
                let end = (q..v.len())
                    .find(|&i| v[i] == b',')
                    .map(|i| i + 1)
                    .unwrap_or(v.len());
                v.drain(q..end);
            }
        }
        _ => {
            let i = rng.random_range(0..=v.len());
            let b = v.get(i.saturating_sub(1)).copied().unwrap_or(b'{');
            v.insert(i, b);
        }
    }
}

#[test]
fn fuzz_never_panics() {
    let s = syms();
    let mut corpus: Vec<Vec<u8>> = vec![
        OTU_TRADE.as_bytes().to_vec(),
        br#"{"e":"listenKeyExpired","E":"1736996475556","listenKey":"k"}"#.to_vec(),
    ];
    if let Some(d) = dir() {
        for f in sample_files(&d) {
            let b = std::fs::read(f).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
            corpus.push(serde_json::to_vec(&v).unwrap());
            corpus.push(b);
        }
    }
    let cases: usize = std::env::var("QT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut rng = SmallRng::seed_from_u64(14);
    let mut ok = 0usize;
    for _ in 0..cases {
        let mut v = corpus[rng.random_range(0..corpus.len())].clone();
        for _ in 0..rng.random_range(1..=3) {
            mutate(&mut rng, &corpus, &mut v);
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let r = decode(&v, &s);
            if let Ok(UserEvent::Order(u)) = &r {
                // Whatever parsed must drive an order without a panic.
                let mut o = VenueOrder::new(u.client_id.clone(), 1_000_000);
                for e in &u.events {
                    let _ = o.apply(e);
                }
            }
            r.is_ok()
        }));
        match r {
            Ok(true) => ok += 1,
            Ok(false) => {}
            Err(_) => panic!("panic on input {:?}", String::from_utf8_lossy(&v)),
        }
    }
    // The loop exercised the success path too, not only errors.
    assert!(ok > 0);
}
