//! Test fixtures every layer's unit tests may use (compiled for tests only):
//! a fresh temp directory, the one-instrument Binance BTCUSDT table and a
//! small seedable generator for the bounded fuzzers. Kept at the bottom so a
//! low module's tests need no fixture from a module above it.

use super::{Instrument, InstrumentId, InstrumentTable, Venue};
use std::path::PathBuf;
use std::sync::Arc;

/// A fresh, empty directory under the OS temp dir.
pub(crate) fn tmp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!("qt-{name}-{}-{nanos}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One instrument: Binance BTCUSDT, tick 0.1, lot 0.001, min notional 5.
pub(crate) fn btc_table() -> Arc<InstrumentTable> {
    let mut t = InstrumentTable::new();
    t.push(
        Instrument::new(
            InstrumentId(0),
            Venue::Binance,
            "BTCUSDT",
            "BTCUSDT",
            "0.1",
            "0.001",
            5.0,
        )
        .unwrap(),
    );
    Arc::new(t)
}

/// SplitMix64: small, seedable, good enough to pick mutations.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// How many cases: `QT_FUZZ_CASES`, else `default`.
pub(crate) fn cases(default: usize) -> usize {
    std::env::var("QT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
