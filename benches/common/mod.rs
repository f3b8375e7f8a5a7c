//! Inputs shared by the criterion benches: the instrument table, the real
//! capture's frames by kind (`None` when ../shared/samples is absent, after a
//! SKIP line), generated frames, and serde_json-derive baselines.
#![allow(dead_code)]

/// The binary's simulator wiring (the same file main.rs declares).
#[path = "../../src/embedded_sim.rs"]
pub mod embedded_sim;

use embedded_sim::frame_gen;

use quantum_trader::bench::samples::{self, Capture, Kind};
use quantum_trader::core::{Instrument, InstrumentId, InstrumentTable, Venue};

pub fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    for (sym, tick, lot) in [
        ("BTCUSDT", "0.10", "0.001"),
        ("ETHUSDT", "0.01", "0.001"),
        ("CTKUSDT", "0.00001", "1"),
    ] {
        t.push(Instrument::new(InstrumentId(0), Venue::Binance, sym, sym, tick, lot, 5.0).unwrap());
    }
    t
}

/// The first 3,000 real frames (and the REST snapshot), or `None` with a SKIP line.
pub fn capture(what: &str) -> Option<Capture> {
    let Some(dir) = samples::samples_dir() else {
        eprintln!("SKIP {what}: ../shared/samples is absent (real-capture benches not run)");
        return None;
    };
    Some(samples::load_capture(&dir.join(samples::FIRST_3000), 0).expect("real capture loads"))
}

/// The full 345 s real capture, or `None` with a SKIP line.
pub fn full_capture(what: &str) -> Option<Capture> {
    let Some(dir) = samples::samples_dir() else {
        eprintln!("SKIP {what}: ../shared/samples is absent (real-capture benches not run)");
        return None;
    };
    Some(samples::load_capture(&dir.join(samples::FULL_CAPTURE), 0).expect("full capture loads"))
}

/// The real aggTrade message (CTKUSDT), compacted as the venue sends it.
pub fn real_agg_trade() -> Option<Vec<u8>> {
    let dir = samples::samples_dir()?;
    let raw = std::fs::read(dir.join(samples::AGG_TRADE)).ok()?;
    samples::compact(&raw).ok()
}

/// `n` generated frames (BTCUSDT + ETHUSDT) of one kind.
pub fn generated(kind: Kind, n: usize, levels: usize) -> Vec<Vec<u8>> {
    let t = table();
    let insts: Vec<_> = t.iter().take(2).collect();
    let with_px = vec![(insts[0], 60_000.0), (insts[1], 3_000.0)];
    let mut g = frame_gen(&with_px, 3, levels).expect("valid instruments");
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while out.len() < n {
        g.next_frame(&mut buf);
        if Kind::of(&buf) == kind {
            out.push(buf.clone());
        }
    }
    out
}

pub fn avg_len(frames: &[Vec<u8>]) -> u64 {
    (frames.iter().map(|f| f.len()).sum::<usize>() / frames.len().max(1)) as u64
}

/// The obvious way: `#[derive(Deserialize)]` structs with owned strings.
pub mod baseline {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Combined<T> {
        pub stream: String,
        pub data: T,
    }

    #[allow(non_snake_case, dead_code)]
    #[derive(Deserialize)]
    pub struct DepthUpdate {
        pub e: String,
        pub E: u64,
        #[serde(default)]
        pub T: u64,
        pub s: String,
        pub U: u64,
        pub u: u64,
        #[serde(default)]
        pub pu: u64,
        pub b: Vec<[String; 2]>,
        pub a: Vec<[String; 2]>,
    }

    #[allow(non_snake_case, dead_code)]
    #[derive(Deserialize)]
    pub struct BookTicker {
        pub e: String,
        pub u: u64,
        pub E: u64,
        pub T: u64,
        pub s: String,
        pub b: String,
        pub B: String,
        pub a: String,
        pub A: String,
    }

    #[allow(non_snake_case, dead_code)]
    #[derive(Deserialize)]
    pub struct Trade {
        pub e: String,
        pub E: u64,
        pub T: u64,
        pub s: String,
        pub t: u64,
        pub p: String,
        pub q: String,
        #[serde(default)]
        pub X: String,
        pub m: bool,
    }

    #[allow(non_snake_case, dead_code)]
    #[derive(Deserialize)]
    pub struct AggTrade {
        pub e: String,
        pub E: u64,
        pub a: u64,
        pub s: String,
        pub p: String,
        pub q: String,
        pub f: u64,
        pub l: u64,
        pub T: u64,
        pub m: bool,
    }

    /// The same with borrowed strings (zero-copy where no escapes).
    pub mod borrowed {
        use serde::Deserialize;

        #[derive(Deserialize)]
        pub struct Combined<'a, T> {
            #[serde(borrow)]
            pub stream: &'a str,
            pub data: T,
        }

        #[allow(non_snake_case, dead_code)]
        #[derive(Deserialize)]
        pub struct DepthUpdate<'a> {
            pub e: &'a str,
            pub E: u64,
            #[serde(default)]
            pub T: u64,
            pub s: &'a str,
            pub U: u64,
            pub u: u64,
            #[serde(default)]
            pub pu: u64,
            #[serde(borrow)]
            pub b: Vec<[&'a str; 2]>,
            #[serde(borrow)]
            pub a: Vec<[&'a str; 2]>,
        }
    }
}
