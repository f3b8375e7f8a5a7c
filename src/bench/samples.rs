//! Benchmark inputs: the real Binance capture in `../shared/samples` (plain
//! ndjson or the untouched hftbacktest `.gz`), split into frames by message
//! kind with its REST snapshot set aside, and frames built from real levels
//! at a chosen depth (10+10, 100+100) for the per-size parse benches.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The real 345 s BTCUSDT USD-M capture (93,954 lines, one REST snapshot).
pub const FULL_CAPTURE: &str =
    "binance/futures_BTCUSDT_full_capture_2024-08-08_hftbacktest_format.gz";
/// Its first 3,000 lines, combined-stream frames (snapshot on line 55).
pub const FIRST_3000: &str = "binance/futures_BTCUSDT_mixed_stream_2024-08-08_first3000.ndjson";
/// The only real USD-M aggTrade message in the samples (CTKUSDT).
pub const AGG_TRADE: &str = "binance/futures_aggTrade_stream_CTKUSDT_2021-07-22.json";

pub use crate::venue::samples::{absent, samples_dir};

/// Message kind of a Binance market-data frame (by its `"e"` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Depth,
    BookTicker,
    Trade,
    AggTrade,
    Snapshot,
    Other,
}

impl Kind {
    pub fn of(frame: &[u8]) -> Kind {
        let has = |n: &[u8]| frame.windows(n.len()).any(|w| w == n);
        if has(b"\"e\":\"depthUpdate\"") {
            Kind::Depth
        } else if has(b"\"e\":\"bookTicker\"") {
            Kind::BookTicker
        } else if has(b"\"e\":\"trade\"") {
            Kind::Trade
        } else if has(b"\"e\":\"aggTrade\"") {
            Kind::AggTrade
        } else if has(b"\"lastUpdateId\"") {
            Kind::Snapshot
        } else {
            Kind::Other
        }
    }
}

/// A recorded stream: frames in receive order and the REST depth snapshot.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// WebSocket frames (the REST snapshot line is not among them).
    pub frames: Vec<Vec<u8>>,
    /// The REST `/fapi/v1/depth` body recorded with the stream.
    pub snapshot: Option<Vec<u8>>,
    /// Total bytes of `frames`.
    pub bytes: usize,
}

impl Capture {
    /// Frames of one kind.
    pub fn of_kind(&self, kind: Kind) -> Vec<Vec<u8>> {
        self.frames
            .iter()
            .filter(|f| Kind::of(f) == kind)
            .cloned()
            .collect()
    }
}

/// Reads a capture: ndjson of frames, or the hftbacktest format
/// (`<recv_ns> <json>` lines), gzip-compressed when the name ends in `.gz`.
/// At most `max_lines` lines (0 = all).
pub fn load_capture(path: &Path, max_lines: usize) -> Result<Capture> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut cap = Capture::default();
    for (n, line) in BufReader::with_capacity(1 << 20, reader)
        .split(b'\n')
        .enumerate()
    {
        if max_lines > 0 && n >= max_lines {
            break;
        }
        let line = line.with_context(|| format!("read {} line {}", path.display(), n + 1))?;
        let json = strip_recv_prefix(&line);
        if json.is_empty() {
            continue;
        }
        match Kind::of(json) {
            Kind::Snapshot if cap.snapshot.is_none() => cap.snapshot = Some(json.to_vec()),
            Kind::Snapshot => {}
            _ => {
                cap.bytes += json.len();
                cap.frames.push(json.to_vec());
            }
        }
    }
    if cap.frames.is_empty() {
        bail!("{}: no frames", path.display());
    }
    Ok(cap)
}

/// `1723161255030314667 {"stream":..}` -> `{"stream":..}`; other lines as is.
fn strip_recv_prefix(line: &[u8]) -> &[u8] {
    let line = line.trim_ascii();
    match line.iter().position(|&c| c == b' ') {
        Some(i) if i > 0 && line[..i].iter().all(u8::is_ascii_digit) => line[i + 1..].trim_ascii(),
        _ => line,
    }
}

/// Re-serialises a (possibly pretty-printed) JSON message compactly, as a
/// venue sends it.
pub fn compact(json: &[u8]) -> Result<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(json)?;
    Ok(serde_json::to_vec(&v)?)
}

/// Builds combined-stream depth frames with exactly `n` bids and `n` asks
/// from real data: each real `depthUpdate` in `depth_frames` as the venue
/// wrote it (same fields, same key order) with its `b` and `a` arrays
/// replaced by levels taken in turn from the real ones of all of them (so
/// prices, quantities and their spellings are the venue's own). Update ids
/// are kept (these frames are for parsing, not for sync).
pub fn depth_frames_with_levels(depth_frames: &[Vec<u8>], n: usize) -> Result<Vec<Vec<u8>>> {
    let mut bids = Vec::new();
    let mut asks = Vec::new();
    for f in depth_frames {
        let v: serde_json::Value = serde_json::from_slice(f)?;
        let d = v.get("data").unwrap_or(&v);
        for (key, out) in [("b", &mut bids), ("a", &mut asks)] {
            if let Some(a) = d.get(key).and_then(|x| x.as_array()) {
                out.extend(a.iter().cloned());
            }
        }
    }
    if bids.is_empty() || asks.is_empty() {
        bail!("no depth levels to build frames from");
    }
    let mut out = Vec::new();
    let (mut bi, mut ai) = (0usize, 0usize);
    for f in depth_frames {
        let take = |src: &Vec<serde_json::Value>, i: &mut usize| -> Result<Vec<u8>> {
            let v: Vec<_> = (0..n)
                .map(|_| {
                    let x = src[*i % src.len()].clone();
                    *i += 1;
                    x
                })
                .collect();
            Ok(serde_json::to_vec(&serde_json::Value::Array(v))?)
        };
        let (b, a) = (take(&bids, &mut bi)?, take(&asks, &mut ai)?);
        let mut frame = f.clone();
        for (key, arr) in [(&b"\"b\":["[..], &b), (&b"\"a\":["[..], &a)] {
            let start = frame
                .windows(key.len())
                .position(|w| w == key)
                .context("depth frame without its level array")?
                + key.len()
                - 1;
            let end = array_end(&frame, start).context("unterminated level array")?;
            frame.splice(start..end, arr.iter().copied());
        }
        // Still valid JSON with the same fields.
        serde_json::from_slice::<serde_json::Value>(&frame)?;
        out.push(frame);
    }
    Ok(out)
}

/// Index just past the JSON array opening at `start` (strings without
/// escapes, as in Binance's level arrays).
fn array_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    for (i, &c) in b.iter().enumerate().skip(start) {
        match c {
            b'"' => in_str = !in_str,
            b'[' if !in_str => depth += 1,
            b']' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// REST snapshot bodies by symbol.
pub type Snapshots = Vec<(String, Vec<u8>)>;

/// A socket-free source of Binance combined-stream frames and the REST depth
/// snapshots that sync them (the binary passes the simulator's generator;
/// the engine's bench code knows only this trait).
pub trait FrameSource {
    /// Writes the next frame into `out`, replacing its contents.
    fn next_frame(&mut self, out: &mut Vec<u8>);
    /// A REST depth snapshot body of `symbol` at the current update id.
    fn snapshot(&self, symbol: &str) -> Option<Vec<u8>>;
}

/// Makes a [`FrameSource`] for instruments with their start prices, a seed
/// and the levels per book side.
pub type MakeFrameSource =
    dyn Fn(&[(&crate::core::Instrument, f64)], u64, usize) -> anyhow::Result<Box<dyn FrameSource>>;

/// Generated frames for replay, with the REST snapshots to sync them by:
/// `n` frames from `g`, the snapshots taken as soon as every symbol has sent
/// a depth update (the update whose `u` a snapshot names must be in the
/// stream for the snapshot to bridge it, as with a real venue).
pub fn pregenerate(
    g: &mut dyn FrameSource,
    symbols: &[String],
    n: usize,
) -> (Vec<Vec<u8>>, Snapshots) {
    let mut frames = Vec::with_capacity(n);
    let mut buf = Vec::with_capacity(4096);
    let mut seen = vec![false; symbols.len()];
    let mut snapshots = Vec::new();
    while frames.len() < n || snapshots.is_empty() {
        g.next_frame(&mut buf);
        if snapshots.is_empty() && Kind::of(&buf) == Kind::Depth {
            for (i, s) in symbols.iter().enumerate() {
                let tag = format!("\"s\":\"{s}\"");
                if buf.windows(tag.len()).any(|w| w == tag.as_bytes()) {
                    seen[i] = true;
                }
            }
        }
        frames.push(buf.clone());
        if snapshots.is_empty() && seen.iter().all(|x| *x) {
            snapshots = symbols
                .iter()
                .filter_map(|s| g.snapshot(s).map(|b| (s.clone(), b)))
                .collect();
        }
    }
    (frames, snapshots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_prefixes() {
        assert_eq!(
            Kind::of(br#"{"stream":"x","data":{"e":"depthUpdate"}}"#),
            Kind::Depth
        );
        assert_eq!(Kind::of(br#"{"e":"bookTicker"}"#), Kind::BookTicker);
        assert_eq!(Kind::of(br#"{"lastUpdateId":1}"#), Kind::Snapshot);
        assert_eq!(Kind::of(br#"{"result":null}"#), Kind::Other);
        assert_eq!(strip_recv_prefix(b"123 {\"a\":1}\r"), b"{\"a\":1}");
        assert_eq!(strip_recv_prefix(b"{\"a\": 1}"), b"{\"a\": 1}");
    }

    #[test]
    fn builds_depth_frames_of_the_asked_size() {
        let f = br#"{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[["1.0","2"],["0.9","1"]],"a":[["1.1","3"]]}}"#;
        let out = depth_frames_with_levels(&[f.to_vec()], 3).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out[0]).unwrap();
        assert_eq!(v["data"]["b"].as_array().unwrap().len(), 3);
        assert_eq!(v["data"]["a"][2][0], "1.1");
        assert_eq!(v["data"]["b"][2][0], "1.0");
    }
}
