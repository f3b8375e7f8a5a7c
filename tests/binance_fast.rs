//! The Binance parser's single-pass fast path (`Parser::parse`) against the
//! full simd-json path (`Parser::parse_full`): the same result (message,
//! error, and the depth update left in the parser) on every real frame in
//! ../shared/samples/binance, on generated frames, on hand-written edge cases
//! and on random mutations of all of these; and the compact market-data
//! frames do take the fast path (the test fails if they fall back).

/// The binary's simulator wiring (the same file main.rs declares).
#[path = "../src/embedded_sim.rs"]
#[allow(dead_code)]
mod embedded_sim;

use embedded_sim::frame_gen;
use quantum_trader::bench::samples::{self, Kind};
use quantum_trader::core::{Instrument, InstrumentId, InstrumentTable, Venue};
use quantum_trader::venue::binance::{Parser, SymbolMap};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;

fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    for (s, tick, lot) in [
        ("BTCUSDT", "0.10", "0.001"),
        ("ETHUSDT", "0.01", "0.001"),
        ("CTKUSDT", "0.00001", "1"),
    ] {
        t.push(Instrument::new(InstrumentId(0), Venue::Binance, s, s, tick, lot, 5.0).unwrap());
    }
    t
}

fn samples_dir() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples"));
    if p.join("binance").is_dir() {
        Some(p)
    } else {
        quantum_trader::bench::samples::absent("binance fast-path real frames", &p);
        None
    }
}

/// Two parsers fed the same frames: `fast` through `parse`, `full` through
/// `parse_full` only.
struct Pair {
    fast: Parser,
    full: Parser,
    syms: SymbolMap,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            fast: Parser::new(),
            full: Parser::new(),
            syms: SymbolMap::new(&table(), Venue::Binance),
        }
    }

    /// Asserts both paths agree; returns whether the fast path took it.
    fn check(&mut self, frame: &[u8]) -> bool {
        let before = self.fast.fallbacks();
        let a = self.fast.parse(frame, &self.syms);
        let b = self.full.parse_full(frame, &self.syms);
        assert_eq!(a, b, "frame: {}", String::from_utf8_lossy(frame));
        assert_eq!(
            self.fast.depth,
            self.full.depth,
            "depth after frame: {}",
            String::from_utf8_lossy(frame)
        );
        self.fast.fallbacks() == before
    }
}

fn market_data(f: &[u8]) -> bool {
    matches!(
        Kind::of(f),
        Kind::Depth | Kind::BookTicker | Kind::Trade | Kind::AggTrade
    )
}

/// Real frames, each with whether it is the venue's own bytes off the wire:
/// the 3,000-line mixed capture, the first 20,000 lines of the full capture,
/// the depth@0ms capture (all as received), and every single-message sample
/// as written (pretty-printed) and compacted by serde_json (keys sorted, so
/// `a`/`b` come before `s` in depth updates: those fall back).
fn real_frames(dir: &std::path::Path) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let b = dir.join("binance");
    for (name, max) in [
        (samples::FIRST_3000, 0),
        (samples::FULL_CAPTURE, 20_000),
        (
            "binance/futures_BTCUSDT_depth0ms_with_rest_snapshot_2024-08-08_400events.ndjson",
            0,
        ),
    ] {
        let cap = samples::load_capture(&dir.join(name), max).unwrap();
        out.extend(cap.frames.into_iter().map(|f| (f, true)));
        out.extend(cap.snapshot.map(|f| (f, true)));
    }
    for e in std::fs::read_dir(&b).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let raw = std::fs::read(&p).unwrap();
            if let Ok(c) = samples::compact(&raw) {
                out.push((c, false));
            }
            out.push((raw, false));
        }
    }
    out
}

fn generated_frames(n: usize) -> Vec<Vec<u8>> {
    let t = table();
    let insts: Vec<_> = t.iter().collect();
    let with_px = vec![(insts[0], 60_000.0), (insts[1], 3_000.0), (insts[2], 1.0)];
    let mut g = frame_gen(&with_px, 7, 100).expect("valid instruments");
    let mut out = Vec::with_capacity(n);
    let mut buf = Vec::new();
    while out.len() < n {
        g.next_frame(&mut buf);
        out.push(buf.clone());
    }
    out
}

#[test]
fn real_frames_take_the_fast_path_with_the_full_paths_result() {
    let Some(dir) = samples_dir() else { return };
    let mut pair = Pair::new();
    let (mut md, mut fast, mut other) = (0, 0, 0);
    for (f, wire) in real_frames(&dir) {
        let took = pair.check(&f);
        // Market-data frames as the venue sent them must not fall back.
        if wire && market_data(&f) {
            md += 1;
            assert!(took, "fell back: {}", String::from_utf8_lossy(&f));
        } else if took {
            assert!(market_data(&f), "{}", String::from_utf8_lossy(&f));
            other += 1;
        }
        fast += took as usize;
    }
    assert!(md > 20_000, "only {md} real market-data frames checked");
    assert_eq!(fast, md + other);
    assert!(other > 0, "no compacted sample took the fast path");
}

#[test]
fn generated_frames_take_the_fast_path_with_the_full_paths_result() {
    let mut pair = Pair::new();
    let frames = generated_frames(20_000);
    let fast = frames.iter().filter(|f| pair.check(f)).count();
    let md = frames.iter().filter(|f| market_data(f)).count();
    assert!(md > 10_000);
    assert_eq!(fast, md);
}

#[test]
fn edge_cases_agree_and_odd_ones_fall_back() {
    let mut pair = Pair::new();
    let depth = |body: &str| {
        format!(
            r#"{{"stream":"btcusdt@depth","data":{{"e":"depthUpdate","E":1,"T":2,"s":"BTCUSDT","U":10,"u":12,"pu":9,{body}}}}}"#
        )
    };
    // (frame, takes the fast path)
    let cases: Vec<(String, bool)> = vec![
        (depth(r#""b":[["100.10","1.5"]],"a":[]"#), true),
        (depth(r#""b":[],"a":[["-0.0","0"]]"#), true),
        // Spot depth: no `pu`.
        (
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1","2"]],"a":[]}"#.into(),
            true,
        ),
        // Spot bookTicker: no `e`, raw.
        (
            r#"{"u":400900217,"s":"BTCUSDT","b":"25.30","B":"31.21","a":"25.36","A":"40.66"}"#
                .into(),
            true,
        ),
        (
            r#"{"e":"trade","E":1,"T":3,"s":"BTCUSDT","t":7,"p":"5.5","q":"0.001","X":"MARKET","m":true,"M":null,"f":-1.5}"#
                .into(),
            true,
        ),
        // Too precise, bad decimals, signs the scanner leaves to the full path.
        (depth(r#""b":[["100.111","1"]],"a":[]"#), false),
        (depth(r#""b":[["100.10","1.0001"]],"a":[]"#), false),
        (depth(r#""b":[["+1","1"]],"a":[]"#), false),
        (depth(r#""b":[[".","1"]],"a":[]"#), false),
        (depth(r#""b":[["","1"]],"a":[]"#), false),
        (depth(r#""b":[["1.2.3","1"]],"a":[]"#), false),
        (depth(r#""b":[["99999999999999999999","1"]],"a":[]"#), false),
        (depth(r#""b":[["1","1","x"]],"a":[]"#), false),
        (depth(r#""b":[["1"]],"a":[]"#), false),
        (depth(r#""b":[[1,"1"]],"a":[]"#), false),
        (depth(r#""b":{},"a":[]"#), false),
        (depth(r#""b":[["1","1"]],"a":[],"b":[]"#), false),
        (depth(r#""b":[["1","1"]]"#), false),
        (depth(r#""b":[["1","1"]] ,"a":[]"#), false),
        (depth(r#""b":[["1","1"]],"a":[],"x":[1]"#), false),
        (depth(r#""b":[["1","1"]],"a":[],"x":"\u0041""#), false),
        (depth(r#""b":[["1","1"]],"a":[],"x":1e5"#), false),
        (depth(r#""b":[["1","1"]],"a":[],"x":01"#), false),
        // Unknown symbol, missing ids, ids of the wrong type.
        (
            r#"{"e":"depthUpdate","E":1,"s":"XXX","U":1,"u":2,"b":[],"a":[]}"#.into(),
            false,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","u":2,"b":[],"a":[]}"#.into(),
            false,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":"1","u":2,"b":[],"a":[]}"#.into(),
            false,
        ),
        (
            r#"{"e":"depthUpdate","E":1.5,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#.into(),
            false,
        ),
        (
            r#"{"e":"depthUpdate","E":18446744073709551615,"s":"BTCUSDT","U":1,"u":18446744073709551615,"b":[],"a":[]}"#.into(),
            false,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":18446744073709551615,"b":[],"a":[]}"#.into(),
            true,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":18446744073709551616,"b":[],"a":[]}"#.into(),
            false,
        ),
        // Levels before the symbol, other kinds, acks, errors, raw frames
        // with top-level keys the full path reads.
        (
            r#"{"e":"depthUpdate","b":[],"a":[],"E":1,"s":"BTCUSDT","U":1,"u":2}"#.into(),
            false,
        ),
        (r#"{"e":"kline","s":"BTCUSDT"}"#.into(), false),
        (r#"{"result":null,"id":1}"#.into(), false),
        (r#"{"code":-1121,"msg":"Invalid symbol."}"#.into(), false),
        (
            r#"{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"5.5","q":"1","m":true,"id":3}"#.into(),
            false,
        ),
        (
            r#"{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"5.5","q":"1","m":1}"#.into(),
            false,
        ),
        (
            r#"{"stream":"x","data":{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"5.5","q":"1","m":false}}"#.into(),
            true,
        ),
        (
            r#"{"stream":"x","data":{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"5.5","q":"1","m":false}}x"#.into(),
            false,
        ),
        (
            r#"{"stream":"x","data":{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"5.5","q":"1","m":false},"y":1}"#.into(),
            false,
        ),
        (
            r#"{"stream":"x","data":{"e":"trade","E":1,"s":"BTCÜSDT","t":7,"p":"5.5","q":"1","m":false}}"#.into(),
            false,
        ),
        (String::new(), false),
        ("{".into(), false),
    ];
    for (frame, fast) in &cases {
        assert_eq!(pair.check(frame.as_bytes()), *fast, "{frame}");
    }
}

/// One random edit: a byte replaced by one JSON cares about, deleted,
/// inserted, the frame cut short, or a stretch of it repeated.
fn mutate(rng: &mut SmallRng, f: &mut Vec<u8>) {
    const BYTES: &[u8] = b"\"\\,:[]{}-+.0123456789eEtfn ax\x00\x1f\xc3\x7f";
    if f.is_empty() {
        f.push(BYTES[rng.random_range(0..BYTES.len())]);
        return;
    }
    let i = rng.random_range(0..f.len());
    match rng.random_range(0..6) {
        0 | 1 => f[i] = BYTES[rng.random_range(0..BYTES.len())],
        2 => {
            f.remove(i);
        }
        3 => f.insert(i, BYTES[rng.random_range(0..BYTES.len())]),
        4 => f.truncate(i),
        _ => {
            let j = rng.random_range(i..f.len().min(i + 40));
            let piece = f[i..=j].to_vec();
            let at = rng.random_range(0..=f.len());
            f.splice(at..at, piece);
        }
    }
}

#[test]
fn random_mutations_agree_with_the_full_path() {
    let mut seeds = generated_frames(2_000);
    if let Some(dir) = samples_dir() {
        let real = real_frames(&dir);
        // Short frames first: mutations of small frames hit every field.
        seeds.extend(
            real.into_iter()
                .map(|(f, _)| f)
                .filter(|f| f.len() < 2_000)
                .take(4_000),
        );
    }
    let mut pair = Pair::new();
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let (mut fast, mut slow) = (0u32, 0u32);
    for n in 0..300_000 {
        let mut f = seeds[n % seeds.len()].clone();
        for _ in 0..rng.random_range(1..=3) {
            mutate(&mut rng, &mut f);
        }
        if pair.check(&f) {
            fast += 1;
        } else {
            slow += 1;
        }
    }
    // Both outcomes must be well exercised for this to test anything.
    assert!(fast > 20_000 && slow > 20_000, "fast {fast}, slow {slow}");
}
