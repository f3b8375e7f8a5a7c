//! Mutation fuzzing of every venue parser on the stable toolchain (issue 16):
//! Binance market frames through the fast path (`Parser::parse`) and the
//! simd-json path (`Parser::parse_full`, also checked to agree with the fast
//! path wherever the fast path accepts a frame), Binance REST depth snapshots,
//! Binance signed-REST replies (`OrderResponse` -> `apply_reply`,
//! `PositionRisk`, `classify_error`), Bybit and OKX public messages (OKX books
//! through `InstSync`, Bybit books through `TopicSync`), both venues' REST
//! instrument lists, and the doctor's probe replies of all three venues.
//!
//! The corpus is built at test time from `../shared/samples` (each `.json`
//! pretty and compact, `.ndjson` lines, the hftbacktest `.gz` capture's
//! lines); each case is a corpus entry with 1-3 mutations: bit flips,
//! truncation, splices of two entries, huge / odd numbers, unknown enum
//! values, a removed field, duplicated or inserted bytes. Every case runs
//! under `catch_unwind`; a panic is printed with its input (escaped) and the
//! test fails. Bounded and deterministic: `QT_FUZZ_CASES` cases per target
//! (default 100,000), seed `QT_FUZZ_SEED` (default fixed). The mutation
//! classes that matter most are also pinned as exact expectations in
//! `hostile_values_are_refused_not_wrapped` (a number too large for its
//! field must be an error, never a wrapped or truncated value).

use quantum_trader::core::{Instrument, InstrumentId, InstrumentTable, Side, Venue};
use quantum_trader::exec::order::Order;
use quantum_trader::venue::binance::orders::{
    OrderResponse, PositionRisk, apply_reply, classify_error,
};
use quantum_trader::venue::binance::parse::{Msg as BMsg, Parser as BParser, SymbolMap};
use quantum_trader::venue::symbols::{WireInfo, WireSymbols};
use quantum_trader::venue::{bybit, instruments, okx};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn samples() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples"));
    if p.is_dir() {
        Some(p)
    } else {
        quantum_trader::bench::samples::absent("parser fuzzing corpus", &p);
        None
    }
}

/// The messages of one venue's sample files whose name contains one of
/// `names` (all files when empty), in pretty and compact forms.
fn corpus(venue: &str, names: &[&str]) -> Vec<Vec<u8>> {
    let Some(root) = samples() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(root.join(venue))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if !names.is_empty() && !names.iter().any(|n| name.contains(n)) {
            continue;
        }
        let mut bytes = std::fs::read(&f).unwrap();
        if name.ends_with(".gz") {
            let mut text = Vec::new();
            let mut d = flate2::read::GzDecoder::new(&bytes[..]);
            // The first few MB are plenty.
            let _ = d.by_ref().take(4 << 20).read_to_end(&mut text);
            bytes = text;
        }
        if name.ends_with(".ndjson") || name.ends_with(".gz") {
            let lines: Vec<&[u8]> = bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            // At most 200 lines per file, spread over it.
            let step = (lines.len() / 200).max(1);
            for l in lines.iter().step_by(step) {
                // hftbacktest lines are `<recv ns> <json>`.
                let l = match l.iter().position(|&b| b == b' ') {
                    Some(i) if l[0].is_ascii_digit() => &l[i + 1..],
                    _ => l,
                };
                out.push(l.to_vec());
            }
        } else {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                out.push(serde_json::to_vec(&v).unwrap());
                // A file holding a list of examples: each on its own too.
                if let serde_json::Value::Array(items) = &v {
                    for it in items.iter().take(20) {
                        out.push(serde_json::to_vec(it).unwrap());
                    }
                }
            }
            out.push(bytes);
        }
    }
    out
}

// ---- mutations ------------------------------------------------------------

const ODD_NUMBERS: [&str; 14] = [
    "99999999999999999999999999999",
    "-9223372036854775809",
    "18446744073709551616",
    "1e309",
    "-1e-400",
    "0.0000000000000000000000000001",
    "-0",
    "00",
    ".5",
    "5.",
    "--1",
    "NaN",
    "\"\"",
    "null",
];

const ODD_BYTES: [&str; 14] = [
    "\"", "{", "}", "[", "]", ",", ":", "\\", "\\u0000", "-", "e", ".", "null", "\u{00e9}",
];

const ENUMS: [&str; 8] = [
    "\"ZZZ_UNKNOWN\"",
    "\"\"",
    "\"snapshot\"",
    "\"delta\"",
    "\"update\"",
    "\"NEW\"",
    "\"depthUpdate\"",
    "\"books\"",
];

/// Byte ranges of the digit runs (with sign and fraction) of `v`.
fn numbers(v: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        if v[i].is_ascii_digit() || (v[i] == b'-' && v.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let s = i;
            i += 1;
            while i < v.len() && (v[i].is_ascii_digit() || b".eE+-".contains(&v[i])) {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of the quoted strings of `v` (quotes included).
fn strings(v: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'"' {
            let s = i;
            i += 1;
            while i < v.len() && v[i] != b'"' {
                if v[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            out.push((s, (i + 1).min(v.len())));
        }
        i += 1;
    }
    out
}

fn splice(v: &mut Vec<u8>, (s, e): (usize, usize), with: &[u8]) {
    v.splice(s..e, with.iter().copied());
}

fn mutate(rng: &mut SmallRng, v: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    if v.is_empty() {
        v.extend_from_slice(b"{}");
    }
    let len = v.len();
    match rng.random_range(0..10) {
        // Bit flips.
        0 => {
            for _ in 0..rng.random_range(1..=4) {
                let i = rng.random_range(0..len);
                v[i] ^= 1 << rng.random_range(0..8);
            }
        }
        // Truncation.
        1 => v.truncate(rng.random_range(0..len)),
        // Splice: a prefix of this entry, a suffix of another.
        2 => {
            let other = &corpus[rng.random_range(0..corpus.len())];
            let cut = rng.random_range(0..len);
            let from = rng.random_range(0..other.len().max(1));
            v.truncate(cut);
            v.extend_from_slice(&other[from.min(other.len())..]);
        }
        // A huge or odd number in place of a number.
        3 => {
            let n = numbers(v);
            if !n.is_empty() {
                let r = n[rng.random_range(0..n.len())];
                let with = ODD_NUMBERS[rng.random_range(0..ODD_NUMBERS.len())];
                splice(v, r, with.as_bytes());
            }
        }
        // An unknown (or another message's) enum value for a string.
        4 => {
            let s = strings(v);
            if !s.is_empty() {
                let r = s[rng.random_range(0..s.len())];
                let with = ENUMS[rng.random_range(0..ENUMS.len())];
                splice(v, r, with.as_bytes());
            }
        }
        // A missing field: `"key":value` up to the next ',' or '}' removed.
        5 => {
            let s = strings(v);
            let keys: Vec<_> = s
                .iter()
                .filter(|&&(_, e)| v.get(e) == Some(&b':'))
                .copied()
                .collect();
            if !keys.is_empty() {
                let (ks, ke) = keys[rng.random_range(0..keys.len())];
                let mut e = ke;
                let mut depth = 0i32;
                while e < v.len() {
                    match v[e] {
                        b'[' | b'{' => depth += 1,
                        b']' | b'}' if depth == 0 => break,
                        b']' | b'}' => depth -= 1,
                        b',' if depth == 0 => {
                            e += 1;
                            break;
                        }
                        _ => {}
                    }
                    e += 1;
                }
                v.drain(ks..e.min(v.len()));
            }
        }
        // A duplicated chunk.
        6 => {
            let s = rng.random_range(0..len);
            let e = (s + rng.random_range(1..64)).min(len);
            let chunk = v[s..e].to_vec();
            let at = rng.random_range(0..=len);
            v.splice(at..at, chunk);
        }
        // An odd token inserted.
        7 => {
            let at = rng.random_range(0..=len);
            let with = ODD_BYTES[rng.random_range(0..ODD_BYTES.len())];
            v.splice(at..at, with.bytes());
        }
        // A random byte overwritten.
        8 => {
            let i = rng.random_range(0..len);
            v[i] = rng.random();
        }
        // A number's digits repeated (very long numbers).
        _ => {
            let n = numbers(v);
            if !n.is_empty() {
                let (s, e) = n[rng.random_range(0..n.len())];
                let digits = v[s..e].repeat(rng.random_range(2..40));
                splice(v, (s, e), &digits);
            }
        }
    }
}

// ---- the runner -------------------------------------------------------------

struct Summary {
    target: &'static str,
    cases: usize,
    /// Cases the parser accepted (returned a message rather than an error).
    accepted: usize,
    took: Duration,
    panics: Vec<String>,
}

fn cases() -> usize {
    std::env::var("QT_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

fn seed() -> u64 {
    std::env::var("QT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0016)
}

fn escaped(b: &[u8]) -> String {
    b.escape_ascii().to_string().chars().take(600).collect()
}

/// Runs `n` mutated cases of `corpus` (plus each entry unmutated) through
/// `check`, which must not panic; `fresh` rebuilds its state after a panic.
fn run<S>(
    target: &'static str,
    corpus: &[Vec<u8>],
    n: usize,
    fresh: impl Fn() -> S,
    check: impl Fn(&mut S, &[u8]) -> bool,
) -> Summary {
    let mut rng = SmallRng::seed_from_u64(seed() ^ target.len() as u64);
    let mut state = fresh();
    let mut panics = Vec::new();
    let mut accepted = 0;
    let t = Instant::now();
    let run_one = |state: &mut S, input: &[u8], panics: &mut Vec<String>| -> bool {
        match catch_unwind(AssertUnwindSafe(|| check(state, input))) {
            Ok(ok) => ok,
            Err(_) => {
                panics.push(escaped(input));
                *state = fresh();
                false
            }
        }
    };
    for c in corpus {
        accepted += run_one(&mut state, c, &mut panics) as usize;
    }
    let mut buf = Vec::new();
    for _ in 0..n {
        buf.clear();
        buf.extend_from_slice(&corpus[rng.random_range(0..corpus.len())]);
        for _ in 0..rng.random_range(1..=3) {
            mutate(&mut rng, &mut buf, corpus);
        }
        accepted += run_one(&mut state, &buf, &mut panics) as usize;
    }
    Summary {
        target,
        cases: n + corpus.len(),
        accepted,
        took: t.elapsed(),
        panics,
    }
}

fn report(all: &[Summary]) {
    let mut failed = 0;
    for s in all {
        println!(
            "fuzz {:<28} cases {:>8}  accepted {:>7}  time {:>8.1} ms  panics {}",
            s.target,
            s.cases,
            s.accepted,
            s.took.as_secs_f64() * 1e3,
            s.panics.len()
        );
        for p in s.panics.iter().take(5) {
            println!("  PANIC on input: {p}");
        }
        failed += s.panics.len();
    }
    assert_eq!(
        failed, 0,
        "parsers panicked on fuzzed input (printed above)"
    );
}

// ---- the symbols the samples name ------------------------------------------

fn binance_syms() -> SymbolMap {
    let mut t = InstrumentTable::new();
    for (s, tick, lot) in [
        ("BTCUSDT", "0.10", "0.001"),
        ("ETHUSDT", "0.01", "0.001"),
        ("CTKUSDT", "0.00001", "1"),
        ("MATICUSDT", "0.0001", "1"),
    ] {
        t.push(Instrument::new(InstrumentId(0), Venue::Binance, s, s, tick, lot, 5.0).unwrap());
    }
    SymbolMap::new(&t, Venue::Binance)
}

fn wire(entries: &[(&str, u16, u8, u8, i64)]) -> WireSymbols {
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

fn bybit_syms() -> WireSymbols {
    wire(&[
        ("BTCUSDT", 0, 2, 3, 1),
        ("XRPUSDT", 1, 4, 0, 1),
        ("BTCPERP", 2, 1, 3, 1),
        ("LTCUSDT", 3, 2, 1, 1),
        ("BTCUSD", 4, 1, 0, 1),
        ("PIPPINUSDT", 5, 5, 0, 1),
    ])
}

fn okx_syms() -> WireSymbols {
    wire(&[
        ("BTC-USDT", 0, 1, 8, 1),
        ("BTC-USD-220527", 1, 1, 0, 100),
        ("BTC-USDT-SWAP", 2, 1, 2, 1),
        ("REN-USDT-SWAP", 3, 5, 0, 10),
        ("UNI-USD-SWAP", 4, 3, 0, 10),
        ("ETH-USDT-SWAP", 5, 2, 2, 1),
    ])
}

// ---- the targets ------------------------------------------------------------

#[test]
fn every_venue_parser_survives_mutated_samples() {
    let bin = corpus("binance", &[]);
    let byb = corpus("bybit", &[]);
    let okc = corpus("okx", &[]);
    if bin.is_empty() || byb.is_empty() || okc.is_empty() {
        return;
    }
    // REST bodies, plus a few market frames to splice in.
    let with_some = |mut v: Vec<Vec<u8>>, of: &[Vec<u8>]| {
        v.extend(of.iter().step_by(50).cloned());
        v
    };
    let bin_snap = with_some(corpus("binance", &["depth_snapshot"]), &bin);
    let bin_signed = with_some(
        corpus(
            "binance",
            &["order", "positionRisk", "error", "account", "TRADE"],
        ),
        &bin,
    );
    let byb_inst = with_some(corpus("bybit", &["instruments"]), &byb);
    let okx_inst = with_some(corpus("okx", &["instruments"]), &okc);
    let n = cases();
    let bsyms = binance_syms();
    let mut all = Vec::new();

    // Binance market frames: the fast path with its simd-json fallback, and
    // the simd-json path alone, which must agree wherever the fast path
    // accepts a frame.
    let mismatches = std::cell::Cell::new(0usize);
    let first_mismatch = std::cell::RefCell::new(None::<String>);
    all.push(run(
        "binance fast+simd (parse)",
        &bin,
        n,
        || (BParser::new(), BParser::new()),
        |(fast, full), f| {
            let a = fast.parse(f, &bsyms);
            let b = full.parse_full(f, &bsyms);
            if let Ok(m) = &a
                && (Ok(*m) != b || (*m == BMsg::Depth && fast.depth != full.depth))
            {
                mismatches.set(mismatches.get() + 1);
                first_mismatch
                    .borrow_mut()
                    .get_or_insert_with(|| format!("{}: {a:?} vs {b:?}", escaped(f)));
            }
            a.is_ok()
        },
    ));
    all.push(run(
        "binance rest depth snapshot",
        &bin_snap,
        n,
        BParser::new,
        |p, f| {
            p.parse_snapshot(f, InstrumentId(0), &bsyms, "BTCUSDT")
                .is_ok()
        },
    ));
    all.push(run(
        "binance signed-rest replies",
        &bin_signed,
        n,
        || (),
        |_, f| {
            let _ = classify_error(400, f, Some(1));
            let _ = classify_error(429, f, None);
            let pos = serde_json::from_slice::<Vec<PositionRisk>>(f).is_ok();
            let Ok(r) = serde_json::from_slice::<OrderResponse>(f) else {
                return pos;
            };
            {
                let coid = r.client_order_id.parse().unwrap_or(1);
                for (qty, filled) in [(1_000, 0), (5, 3), (i64::MAX, i64::MAX - 1)] {
                    let mut o = Order::new(coid, InstrumentId(0), Side::Buy, qty, 6_000_000);
                    o.filled = filled;
                    for scale in [0, 3, 8, 18, 30] {
                        let _ = apply_reply(&mut o.clone(), &r, scale);
                    }
                }
            }
            true
        },
    ));

    // Bybit public messages, books through the topic sync.
    let ysyms = bybit_syms();
    all.push(run(
        "bybit public messages",
        &byb,
        n,
        || (bybit::parse::Parser::new(), bybit::sync::TopicSync::new()),
        |(p, sync), f| {
            let m = p.parse(f, &ysyms);
            if let Ok(bybit::parse::Msg::Book) = m {
                let _ = sync.on_book(&p.book);
            }
            m.is_ok()
        },
    ));
    all.push(run(
        "bybit rest instruments",
        &byb_inst,
        n / 4,
        || (),
        |_, f| instruments::parse_bybit(f).is_ok(),
    ));

    // OKX public messages, books through the sequence/checksum state.
    let osyms = okx_syms();
    all.push(run(
        "okx public messages",
        &okc,
        n,
        || {
            (
                okx::parse::Parser::new(),
                okx::sync::InstSync::new(),
                okx::sync::InstSync::for_captures_without_seq_ids(),
            )
        },
        |(p, strict, old), f| {
            let m = p.parse(f, &osyms);
            if let Ok(okx::parse::Msg::Book) = m {
                let _ = strict.on_book(&p.book);
                let _ = old.on_book(&p.book);
            }
            m.is_ok()
        },
    ));
    all.push(run(
        "okx rest instruments",
        &okx_inst,
        n / 4,
        || (),
        |_, f| instruments::parse_okx(f).is_ok(),
    ));
    // The doctor's probe replies (server time, exchange info, errors,
    // refusals) of every venue, over every venue's samples.
    let mut every = bin.clone();
    every.extend(byb.iter().cloned());
    every.extend(okc.iter().cloned());
    all.push(run(
        "doctor probe replies",
        &every,
        n / 5,
        || (),
        |_, f| {
            use quantum_trader::venue::binance::probe as bp;
            let mut ok = bp::parse_server_time(f).is_ok();
            ok |= bp::parse_exchange_info(f).is_ok();
            ok |= bp::parse_error(f).is_some();
            ok |= bybit::probe::parse_server_time(f).is_ok();
            ok |= bybit::probe::parse_error(f).is_some();
            ok |= okx::probe::parse_server_time(f).is_ok();
            if let Ok(t) = std::str::from_utf8(f) {
                ok |= bp::is_stream_data(t);
                ok |= bybit::probe::is_stream_data(t);
                ok |= bybit::probe::refusal(t).is_some();
                ok |= okx::probe::is_stream_data(t);
                ok |= okx::probe::refusal(t).is_some();
            }
            ok
        },
    ));
    println!(
        "binance fast path vs simd-json: {} disagreements{}",
        mismatches.get(),
        first_mismatch
            .borrow()
            .as_ref()
            .map(|m| format!(" (first: {m})"))
            .unwrap_or_default()
    );
    report(&all);
    assert_eq!(
        mismatches.get(),
        0,
        "the fast path accepted a frame differently from simd-json: {:?}",
        first_mismatch.borrow()
    );
}

/// Values the fuzzer throws, pinned: out-of-range numbers are refused with an
/// error on every parser path (never wrapped, truncated or panicking), and
/// the fast path agrees with simd-json on each.
#[test]
fn hostile_values_are_refused_not_wrapped() {
    let syms = binance_syms();
    let tick = |b: &str, u: &str| {
        format!(
            "{{\"stream\":\"btcusdt@bookTicker\",\"data\":{{\"e\":\"bookTicker\",\"u\":{u},\"s\":\"BTCUSDT\",\"b\":\"{b}\",\"B\":\"2.507\",\"a\":\"61800.30\",\"A\":\"2.510\",\"T\":1723161256313,\"E\":1723161256313}}}}"
        )
    };
    let good = tick("61800.20", "5123107839020");
    let mut p = BParser::new();
    assert!(matches!(
        p.parse(good.as_bytes(), &syms),
        Ok(BMsg::Bbo { .. })
    ));
    for bad in [
        tick("99999999999999999999999", "1"),
        tick("92233720368547758.08", "1"),
        tick("-61800.20", "1"),
        tick("1e309", "1"),
        tick("61800.2.0", "1"),
        tick("", "1"),
        tick("61800.20", "18446744073709551616"),
        tick("61800.20", "-1"),
        tick("0.0000000000000000000001", "1"),
    ] {
        let fast = BParser::new().parse(bad.as_bytes(), &syms);
        let full = BParser::new().parse_full(bad.as_bytes(), &syms);
        assert!(fast.is_err(), "fast path accepted {bad}: {fast:?}");
        assert_eq!(fast, full, "paths disagree on {bad}");
    }
    let osyms = okx_syms();
    let trade = |px: &str, sz: &str| {
        format!(
            "{{\"arg\":{{\"channel\":\"trades\",\"instId\":\"BTC-USDT-SWAP\"}},\"data\":[{{\"instId\":\"BTC-USDT-SWAP\",\"tradeId\":\"1\",\"px\":\"{px}\",\"sz\":\"{sz}\",\"side\":\"buy\",\"ts\":\"1640131236050\"}}]}}"
        )
    };
    let mut p = okx::parse::Parser::new();
    assert!(p.parse(trade("48938.5", "5").as_bytes(), &osyms).is_ok());
    for (px, sz) in [
        ("99999999999999999999", "5"),
        ("48938.5", "99999999999999999999"),
        ("48938.5", "-5"),
        ("1e309", "5"),
        ("48938.5", ""),
    ] {
        let r = okx::parse::Parser::new().parse(trade(px, sz).as_bytes(), &osyms);
        assert!(r.is_err(), "okx accepted px {px} sz {sz}: {r:?}");
    }
    let ysyms = bybit_syms();
    let ytrade = |p: &str, v: &str| {
        format!(
            "{{\"topic\":\"publicTrade.BTCUSDT\",\"type\":\"snapshot\",\"ts\":1672304486868,\"data\":[{{\"T\":1672304486865,\"s\":\"BTCUSDT\",\"S\":\"Buy\",\"v\":\"{v}\",\"p\":\"{p}\",\"L\":\"PlusTick\",\"i\":\"x\",\"BT\":false}}]}}"
        )
    };
    assert!(
        bybit::parse::Parser::new()
            .parse(ytrade("16578.50", "0.001").as_bytes(), &ysyms)
            .is_ok()
    );
    for (px, v) in [
        ("99999999999999999999", "0.001"),
        ("16578.50", "99999999999999999999"),
        ("16578.50", "-0.001"),
        ("1e309", "0.001"),
    ] {
        let r = bybit::parse::Parser::new().parse(ytrade(px, v).as_bytes(), &ysyms);
        assert!(r.is_err(), "bybit accepted p {px} v {v}: {r:?}");
    }
}
