//! Replay of recorded Binance frames instead of generating a market.
//!
//! Each line of the file is one of:
//! * a combined-stream frame `{"stream":"btcusdt@depth@0ms","data":{...}}`;
//! * the hftbacktest format `<recv_ns> <json>` (the JSON as above);
//! * a bare stream payload `{"e":"depthUpdate",...,"s":"BTCUSDT"}` (streamed
//!   as `<symbol>@depth`, `@bookTicker`, `@aggTrade` or `@trade`);
//! * a REST depth snapshot (JSON with `lastUpdateId`, bare or wrapped).
//!
//! Snapshots are not streamed: the latest one seen so far for a symbol is
//! served by `GET /fapi/v1/depth` (HTTP 503 -1001 before the first). A bare
//! snapshot belongs to the symbol of the latest frame read (or the only
//! simulated symbol). Depth updates are applied to the ground-truth book with
//! Binance's sync rules (buffer, drop `u < lastUpdateId`, first applied
//! `U <= lastUpdateId <= u`, then `pu` == previous `u`), so `book()` works.
//!
//! Other frames go to the clients subscribed to that symbol and stream kind
//! (any depth speed matches a depth frame), byte-identical to the recorded
//! `data`, at `rate_per_symbol` × (number of simulated symbols) frames/s.
//! Replay starts when the first client subscribes to anything and stops at
//! end of file (no looping). Frames of symbols not in the spec are skipped.
//!
//! Gzip files (`.gz`) are not supported: that would need a new dependency
//! (flate2); decompress them first (`gunzip -k`).

use crate::binance::wire::{StreamKind, SymInfo, parse_stream_name};
use crate::binance::ws;
use crate::decimal::parse_decimal;
use crate::market::{Book, OutEvent, SymState};
use crate::state::Inner;
use anyhow::{Context, bail};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Longest line read; longer lines are skipped.
const MAX_LINE: u64 = 16 << 20;
/// Depth events buffered per symbol while waiting for a snapshot.
const MAX_BUFFER: usize = 4_096;
/// Lines read ahead of the pacing.
const READ_AHEAD: usize = 1_024;
const TICK: Duration = Duration::from_millis(2);

/// A REST depth snapshot as recorded (level strings kept verbatim).
#[derive(Debug, Clone)]
pub(crate) struct RecordedSnapshot {
    pub last_update_id: u64,
    pub e_ms: i64,
    pub t_ms: i64,
    pub bids: Vec<(String, String)>,
    pub asks: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum SyncState {
    /// No snapshot yet (or a gap): depth events are buffered.
    #[default]
    Unsynced,
    /// Snapshot applied; the next event must bridge it.
    AwaitFirst,
    /// Applying events on the `pu` chain.
    Synced,
}

/// One parsed depth update (scaled).
#[derive(Debug, Clone)]
struct DepthDiff {
    first: u64,
    last: u64,
    prev: u64,
    bids: Vec<(i64, i64)>,
    asks: Vec<(i64, i64)>,
}

/// Replay state of one symbol (inside its [`SymState`]).
#[derive(Debug, Default)]
pub(crate) struct ReplayState {
    /// The latest recorded snapshot, served by REST.
    pub snapshot: Option<RecordedSnapshot>,
    sync: SyncState,
    buffer: VecDeque<DepthDiff>,
}

/// One parsed line.
#[derive(Debug)]
pub(crate) enum Line {
    Frame {
        stream: String,
        data: String,
    },
    Snapshot {
        stream: Option<String>,
        snap: RecordedSnapshot,
    },
}

/// Opens `path` and reads it on a helper thread into a bounded channel.
pub(crate) fn spawn_reader(path: &Path) -> anyhow::Result<mpsc::Receiver<Line>> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        bail!(
            "sim replay: gzip files are not supported (no flate2 dependency); gunzip {} first",
            path.display()
        );
    }
    let file = std::fs::File::open(path)
        .with_context(|| format!("sim replay: cannot open {}", path.display()))?;
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    std::thread::Builder::new()
        .name("sim-replay-reader".into())
        .spawn(move || {
            let mut reader = BufReader::new(file);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "sim replay: read error");
                        break;
                    }
                }
                if buf.last() != Some(&b'\n') && buf.len() as u64 >= MAX_LINE {
                    tracing::warn!("sim replay: line too long, skipped");
                    // Skip the rest of the line.
                    let mut sink = Vec::new();
                    loop {
                        sink.clear();
                        match reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut sink) {
                            Ok(0) | Err(_) => break,
                            Ok(_) if sink.last() == Some(&b'\n') => break,
                            Ok(_) => {}
                        }
                    }
                    continue;
                }
                let Ok(text) = std::str::from_utf8(&buf) else {
                    tracing::warn!("sim replay: line is not UTF-8, skipped");
                    continue;
                };
                if let Some(line) = parse_line(text)
                    && tx.blocking_send(line).is_err()
                {
                    break;
                }
            }
        })
        .context("sim replay: cannot spawn reader thread")?;
    Ok(rx)
}

/// The verbatim `data` text of `{"stream":"..","data":<data>}`, when the line
/// has exactly that layout.
fn raw_data(text: &str, stream: &str) -> Option<String> {
    let prefix = format!("{{\"stream\":\"{stream}\",\"data\":");
    let rest = text.strip_prefix(prefix.as_str())?;
    let data = rest.strip_suffix('}')?;
    Some(data.to_string())
}

fn parse_snapshot(v: &serde_json::Value) -> Option<RecordedSnapshot> {
    let side = |k: &str| -> Vec<(String, String)> {
        v.get(k)
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|l| {
                        let p = l.get(0)?.as_str()?;
                        let q = l.get(1)?.as_str()?;
                        Some((p.to_string(), q.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(RecordedSnapshot {
        last_update_id: v.get("lastUpdateId")?.as_u64()?,
        e_ms: v.get("E").and_then(|x| x.as_i64()).unwrap_or(0),
        t_ms: v.get("T").and_then(|x| x.as_i64()).unwrap_or(0),
        bids: side("bids"),
        asks: side("asks"),
    })
}

/// Parses one line of a recording; `None` for blank or unusable lines.
pub(crate) fn parse_line(line: &str) -> Option<Line> {
    let mut text = line.trim();
    if text.is_empty() {
        return None;
    }
    if text.as_bytes()[0].is_ascii_digit() {
        // hftbacktest: `<recv_ns> <json>`
        text = text.split_once(' ')?.1.trim();
    }
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(error = %e, "sim replay: invalid JSON line skipped");
            return None;
        }
    };
    if v.get("lastUpdateId").is_some() {
        return parse_snapshot(&v).map(|snap| Line::Snapshot { stream: None, snap });
    }
    if let (Some(stream), Some(data)) = (v.get("stream").and_then(|s| s.as_str()), v.get("data")) {
        if data.get("lastUpdateId").is_some() {
            return parse_snapshot(data).map(|snap| Line::Snapshot {
                stream: Some(stream.to_string()),
                snap,
            });
        }
        let data = raw_data(text, stream).unwrap_or_else(|| data.to_string());
        return Some(Line::Frame {
            stream: stream.to_string(),
            data,
        });
    }
    // A bare payload: derive the stream name from its event type and symbol.
    let e = v.get("e")?.as_str()?;
    let s = v.get("s")?.as_str()?.to_ascii_lowercase();
    let suffix = match e {
        "depthUpdate" => "depth",
        "bookTicker" => "bookTicker",
        "aggTrade" => "aggTrade",
        "trade" => "trade",
        _ => return None,
    };
    Some(Line::Frame {
        stream: format!("{s}@{suffix}"),
        data: text.to_string(),
    })
}

fn parse_levels(v: Option<&serde_json::Value>, info: &SymInfo) -> Option<Vec<(i64, i64)>> {
    let a = v?.as_array()?;
    let mut out = Vec::with_capacity(a.len());
    for l in a {
        let p = parse_decimal(l.get(0)?.as_str()?.as_bytes(), info.price_scale).ok()?;
        let q = parse_decimal(l.get(1)?.as_str()?.as_bytes(), info.qty_scale).ok()?;
        out.push((p, q));
    }
    Some(out)
}

fn parse_depth(data: &str, info: &SymInfo) -> Option<DepthDiff> {
    let v: serde_json::Value = serde_json::from_str(data).ok()?;
    Some(DepthDiff {
        first: v.get("U")?.as_u64()?,
        last: v.get("u")?.as_u64()?,
        prev: v.get("pu")?.as_u64()?,
        bids: parse_levels(v.get("b"), info)?,
        asks: parse_levels(v.get("a"), info)?,
    })
}

fn apply(st: &mut SymState, d: &DepthDiff) {
    for (p, q) in &d.bids {
        st.book.apply(true, *p, *q);
    }
    for (p, q) in &d.asks {
        st.book.apply(false, *p, *q);
    }
    st.last_u = d.last;
}

/// Feeds one depth event through the Binance sync rules.
fn on_depth(st: &mut SymState, d: DepthDiff) {
    let Some(rs) = st.replay.as_mut() else {
        return;
    };
    match rs.sync {
        SyncState::Unsynced => {
            if rs.buffer.len() >= MAX_BUFFER {
                rs.buffer.pop_front();
            }
            rs.buffer.push_back(d);
        }
        SyncState::AwaitFirst => {
            if d.last < st.last_u {
                return;
            }
            if d.first <= st.last_u {
                rs.sync = SyncState::Synced;
                apply(st, &d);
            } else {
                tracing::warn!(u = d.last, "sim replay: no event bridges the snapshot");
                rs.sync = SyncState::Unsynced;
                rs.buffer.push_back(d);
            }
        }
        SyncState::Synced => {
            if d.prev == st.last_u {
                apply(st, &d);
            } else {
                tracing::warn!(
                    pu = d.prev,
                    last = st.last_u,
                    "sim replay: gap in recording"
                );
                rs.sync = SyncState::Unsynced;
                rs.buffer.push_back(d);
            }
        }
    }
}

/// Installs a snapshot: it becomes the REST answer and the book restarts
/// from it, then the buffered events are applied by the sync rules.
fn on_snapshot(st: &mut SymState, info: &SymInfo, snap: RecordedSnapshot) {
    let mut book = Book::default();
    for (bid, levels) in [(true, &snap.bids), (false, &snap.asks)] {
        for (p, q) in levels {
            match (
                parse_decimal(p.as_bytes(), info.price_scale),
                parse_decimal(q.as_bytes(), info.qty_scale),
            ) {
                (Ok(p), Ok(q)) => book.apply(bid, p, q),
                _ => tracing::warn!(px = %p, qty = %q, "sim replay: bad snapshot level skipped"),
            }
        }
    }
    st.book = book;
    st.last_u = snap.last_update_id;
    let buffered = match st.replay.as_mut() {
        Some(rs) => {
            rs.snapshot = Some(snap);
            rs.sync = SyncState::AwaitFirst;
            std::mem::take(&mut rs.buffer)
        }
        None => return,
    };
    for d in buffered {
        on_depth(st, d);
    }
}

/// The replay task: waits for a first subscriber, then streams the file.
pub(crate) async fn run(inner: Arc<Inner>, mut rx: mpsc::Receiver<Line>) {
    while !inner.any_subscription.load(Ordering::SeqCst) {
        inner.subscribed.notified().await;
    }
    let rate = inner.rate as f64 * inner.syms.len().max(1) as f64;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    let mut budget = 0f64;
    let mut last_sym: Option<usize> = None;
    let mut orphan: Option<RecordedSnapshot> = None;
    let mut frames = 0u64;
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let dt = now.duration_since(last).min(Duration::from_millis(50));
        last = now;
        let _tick = inner.begin_tick();
        if inner.is_paused() || inner.silenced() {
            budget = 0.0;
            continue;
        }
        budget += rate * dt.as_secs_f64();
        while budget >= 1.0 {
            let Some(line) = rx.recv().await else {
                tracing::info!(frames, "sim replay: end of file");
                return;
            };
            match line {
                Line::Snapshot { stream, snap } => {
                    let idx = stream
                        .as_deref()
                        .and_then(|s| s.split('@').next())
                        .map(str::to_ascii_lowercase)
                        .and_then(|sym| inner.by_lower.get(&sym).copied())
                        .or(last_sym)
                        .or((inner.syms.len() == 1).then_some(0));
                    match idx {
                        Some(i) => {
                            let slot = &inner.syms[i];
                            on_snapshot(&mut slot.state.lock(), &slot.info, snap);
                        }
                        None => orphan = Some(snap),
                    }
                }
                Line::Frame { stream, data } => {
                    budget -= 1.0;
                    let Some((sym, kind)) = parse_stream_name(&stream) else {
                        tracing::debug!(%stream, "sim replay: unsupported stream skipped");
                        continue;
                    };
                    let Some(&i) = inner.by_lower.get(&sym) else {
                        tracing::debug!(%stream, "sim replay: symbol not simulated, skipped");
                        continue;
                    };
                    last_sym = Some(i);
                    let slot = &inner.syms[i];
                    let mut hidden = false;
                    {
                        let mut st = slot.state.lock();
                        if let Some(snap) = orphan.take() {
                            on_snapshot(&mut st, &slot.info, snap);
                        }
                        if kind == StreamKind::Depth {
                            inner.stats.depth_updates.fetch_add(1, Ordering::Relaxed);
                            match parse_depth(&data, &slot.info) {
                                Some(d) => on_depth(&mut st, d),
                                None => tracing::warn!("sim replay: unparsable depth update"),
                            }
                            hidden = slot.gap_next.swap(false, Ordering::Relaxed);
                        }
                    }
                    if kind == StreamKind::Depth {
                        crate::binance::matching::on_market(&inner, i);
                    }
                    if hidden {
                        continue;
                    }
                    frames += 1;
                    ws::fanout_one(
                        &inner,
                        OutEvent {
                            sym: i,
                            kind,
                            data: data.into(),
                            malformed: false,
                        },
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parses_line_kinds() {
        let l = parse_line(r#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":1}}"#);
        match l {
            Some(Line::Frame { stream, data }) => {
                assert_eq!(stream, "btcusdt@bookTicker");
                assert_eq!(data, r#"{"e":"bookTicker","u":1}"#);
            }
            other => panic!("{other:?}"),
        }
        let l = parse_line(r#"123 {"stream":"btcusdt@trade","data":{"e":"trade"}}"#);
        assert!(matches!(l, Some(Line::Frame { .. })));
        let l = parse_line(r#"{"lastUpdateId":5,"E":1,"T":2,"bids":[["1.0","2"]],"asks":[]}"#);
        match l {
            Some(Line::Snapshot { stream: None, snap }) => {
                assert_eq!(snap.last_update_id, 5);
                assert_eq!(snap.bids, vec![("1.0".to_string(), "2".to_string())]);
            }
            other => panic!("{other:?}"),
        }
        let l = parse_line(r#"{"e":"aggTrade","s":"ETHUSDT","p":"1"}"#);
        match l {
            Some(Line::Frame { stream, .. }) => assert_eq!(stream, "ethusdt@aggTrade"),
            other => panic!("{other:?}"),
        }
        assert!(parse_line("").is_none());
        assert!(parse_line("{not json").is_none());
        assert!(parse_line("12345").is_none());
    }
}
