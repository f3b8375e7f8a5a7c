//! The simulator's Bybit v5 (public linear) and OKX v5 (public) venues: the
//! same wire formats as the real ones (subscribe/unsubscribe ops and their
//! replies, Bybit `{"op":"ping"}` and OKX text `ping`, book snapshots then
//! deltas with Bybit `u` +1 per topic and OKX `prevSeqId`/`seqId` chains and
//! CRC32 checksums of the top 25 levels computed here, trades), their REST
//! instruments and server-time endpoints, per-symbol faults (gap, malformed frame, Bybit
//! `u == 1` restart, OKX checksum mismatch, a silent subscription), and the
//! counters a pacing test needs (connections per second, subscribe ops per
//! connection, topic characters and book channels per connection).
//!
//! Each venue symbol runs its own random-walk book (the generator of
//! `market`) whose touch follows the Binance symbol of the same underlying,
//! so all three venues move on one correlated price path and the
//! cross-venue features mean something.
//!
//! Tickers: Bybit `tickers` (a snapshot on subscribe, then deltas that carry
//! only the fields that changed, like the real feed) and OKX `bbo-tbt` (every
//! change of the touch) and `tickers` (at most every 100 ms) follow each
//! book's touch; [`VenueSims::ticker`] is the state they add up to.
//!
//! Simplifications (stated in README "Venues"): every Bybit depth topic
//! (`orderbook.1|50|200|1000`) streams the one simulated book; OKX `books5`
//! is acknowledged but not streamed; ticker fields other than the touch
//! (24 h statistics, mark/index price, funding) are plausible constants.

use super::Inner;
use super::binance::SymInfo;
use super::market::SymState;
use crate::core::Venue;
use crate::core::clock::unix_ms;
use crate::core::fixed::{decimals_of, parse_decimal};
use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, error::TrySendError};

/// One Bybit or OKX instrument of the simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueSimSymbol {
    pub venue: Venue,
    /// As on the wire (`BTCUSDT`, `BTC-USDT-SWAP`).
    pub symbol: String,
    pub tick_size: String,
    /// Base-asset lot.
    pub lot_size: String,
    /// OKX `ctVal` (base asset per contract); sizes on the wire are in
    /// contracts when set.
    pub contract_value: Option<String>,
    pub start_price: f64,
    /// The Binance symbol whose touch this book follows (same underlying).
    pub follows: Option<String>,
    pub min_notional: f64,
}

/// The Bybit and OKX instruments of an engine config, each following the
/// Binance instrument of its underlying (start price: `sim.start_prices`
/// by symbol, else by the followed Binance symbol, else 100).
pub fn symbols_from_config(
    cfg: &crate::config::Config,
    table: &crate::core::InstrumentTable,
) -> Vec<VenueSimSymbol> {
    use crate::core::format_decimal;
    table
        .iter()
        .filter(|i| i.venue != Venue::Binance)
        .map(|i| {
            let follows = table
                .of_venue(Venue::Binance)
                .find(|b| b.underlying == i.underlying)
                .map(|b| b.symbol.clone());
            let ct = cfg
                .instruments
                .iter()
                .find(|c| c.venue == i.venue && c.symbol == i.symbol)
                .map(|c| c.contract_value.clone())
                .filter(|c| !c.is_empty());
            let start_price = cfg
                .sim
                .start_prices
                .get(&i.symbol)
                .or_else(|| follows.as_ref().and_then(|f| cfg.sim.start_prices.get(f)))
                .copied()
                .unwrap_or(100.0);
            VenueSimSymbol {
                venue: i.venue,
                symbol: i.symbol.clone(),
                tick_size: format_decimal(i.tick, i.price_scale),
                lot_size: format_decimal(i.lot, i.qty_scale),
                contract_value: ct,
                start_price,
                follows,
                min_notional: i.min_notional,
            }
        })
        .collect()
}

/// A per-symbol fault of the Bybit/OKX venues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VenueFault {
    /// The next book update is applied but not sent.
    Gap,
    /// The next book frame is sent truncated (invalid JSON).
    Malformed,
    /// Bybit: the next book message is a `u == 1` snapshot (service restart).
    Restart,
    /// OKX: the next book update carries a wrong checksum.
    BadChecksum,
    /// Every current book subscription of the symbol goes silent (the
    /// socket stays open); a new subscription is served normally.
    SilentSubscription,
}

/// Connection and subscribe-op counters of one venue, for pacing tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PacingReport {
    pub connections: u64,
    /// Most connections opened within any one second.
    pub max_connections_per_sec: usize,
    /// Most connections opened within any five minutes.
    pub max_connections_per_5min: usize,
    /// Most subscribe/unsubscribe ops one connection sent within one second.
    pub max_ops_per_sec_per_conn: usize,
    /// Most subscribe/unsubscribe ops one connection sent within one hour.
    pub max_ops_per_hour_per_conn: usize,
    /// Most subscribe/unsubscribe/ping text frames of one connection.
    pub max_frames_per_conn: u64,
    /// Longest total of subscribed topic characters on one connection (Bybit).
    pub max_topic_chars_per_conn: usize,
    /// Most book channels subscribed at once on one connection (OKX).
    pub max_book_channels_per_conn: usize,
    /// Subscribe ops refused (unknown topic or instrument).
    pub rejected_ops: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Book,
    Trade,
    /// Bybit `tickers`, OKX `tickers`.
    Ticker,
    /// OKX `bbo-tbt`.
    Bbo,
    /// Acknowledged, never streamed (OKX `books5`).
    Unstreamed,
}

/// The touch as the ticker streams last sent it: ((bid px, qty), (ask px, qty)),
/// base quantities scaled like the book.
pub type SimTop = ((i64, i64), (i64, i64));

struct VSub {
    sym: usize,
    kind: Kind,
    /// Topic (Bybit) or `channel:instId` (OKX), as subscribed.
    key: String,
    muted: bool,
}

struct VConn {
    id: u64,
    venue: Venue,
    tx: mpsc::Sender<Utf8Bytes>,
    subs: Mutex<Vec<VSub>>,
    killed: AtomicBool,
    kill: tokio::sync::Notify,
}

impl VConn {
    fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill.notify_one();
    }

    /// Queues a frame; a full or closed queue ends the connection.
    fn push(&self, text: String) {
        if self.killed.load(Ordering::Relaxed) {
            return;
        }
        match self.tx.try_send(Utf8Bytes::from(text)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Closed(_)) => self.kill(),
        }
    }
}

struct VBook {
    st: SymState,
    rng: SmallRng,
    /// Bybit `u` or OKX `seqId` of the last update applied.
    id: u64,
    trade_id: u64,
    /// What the ticker streams last sent (None before the first).
    ticker: Option<SimTop>,
    /// When OKX `tickers` was last sent (throttled to 100 ms).
    okx_ticker_at: Option<Instant>,
}

pub(crate) struct VSym {
    pub venue: Venue,
    pub info: SymInfo,
    /// (ctVal scaled, its decimals) for OKX contract sizes.
    ct: Option<(i64, u8)>,
    ct_str: Option<String>,
    min_notional: f64,
    follows: Option<usize>,
    book: Mutex<VBook>,
    gap: AtomicBool,
    malformed: AtomicBool,
    restart: AtomicBool,
    bad_checksum: AtomicBool,
    /// Ticker frames written per subscriber: `tickers`, `bbo-tbt`.
    ticker_frames: AtomicU64,
    bbo_frames: AtomicU64,
}

#[derive(Default)]
struct PacingLog {
    /// Connection open stamps per venue (bounded).
    opens: HashMap<Venue, VecDeque<Instant>>,
    /// Per finished or live connection: (venue, op stamps, frames, max topic chars, max book channels).
    conns: HashMap<u64, ConnLog>,
    rejected: HashMap<Venue, u64>,
}

#[derive(Default, Clone)]
struct ConnLog {
    venue: Option<Venue>,
    ops: Vec<Instant>,
    frames: u64,
    max_chars: usize,
    max_books: usize,
}

/// All Bybit/OKX state of the simulator.
#[derive(Default)]
pub(crate) struct VenueSims {
    pub syms: Vec<VSym>,
    by_key: HashMap<(Venue, String), usize>,
    conns: Mutex<Vec<Arc<VConn>>>,
    next_id: AtomicU64,
    pacing: Mutex<PacingLog>,
}

const MAX_LOG: usize = 4096;

impl VenueSims {
    pub fn new(
        list: &[VenueSimSymbol],
        binance: &HashMap<String, usize>,
        seed: u64,
        levels: usize,
    ) -> anyhow::Result<VenueSims> {
        let mut v = VenueSims::default();
        for (k, s) in list.iter().enumerate() {
            if s.venue == Venue::Binance {
                anyhow::bail!(
                    "sim venue symbol {}: Binance symbols use SimSpec.symbols",
                    s.symbol
                );
            }
            let price_scale = decimals_of(&s.tick_size);
            let qty_scale = decimals_of(&s.lot_size);
            let tick = parse_decimal(s.tick_size.as_bytes(), price_scale)
                .map_err(|e| anyhow::anyhow!("sim {} tick_size: {e}", s.symbol))?;
            let lot = parse_decimal(s.lot_size.as_bytes(), qty_scale)
                .map_err(|e| anyhow::anyhow!("sim {} lot_size: {e}", s.symbol))?;
            if tick <= 0 || lot <= 0 || price_scale > 12 || qty_scale > 12 {
                anyhow::bail!("sim {}: bad tick or lot", s.symbol);
            }
            let ct = match &s.contract_value {
                Some(c) => {
                    let d = decimals_of(c);
                    let m = parse_decimal(c.as_bytes(), d)
                        .map_err(|e| anyhow::anyhow!("sim {} contract_value: {e}", s.symbol))?;
                    if m <= 0 || d > qty_scale || lot % m != 0 {
                        anyhow::bail!(
                            "sim {}: lot must be a multiple of the contract value",
                            s.symbol
                        );
                    }
                    Some((m, d))
                }
                None => None,
            };
            let info = SymInfo {
                symbol: s.symbol.clone(),
                lower: s.symbol.to_ascii_lowercase(),
                tick_size: s.tick_size.clone(),
                lot_size: s.lot_size.clone(),
                price_scale,
                qty_scale,
                tick,
                lot,
            };
            let mut first_id = 0u64;
            let st = SymState::generated(
                &info,
                seed ^ 0xB1B1,
                1000 + k,
                s.start_price,
                levels,
                &mut first_id,
            );
            let rng =
                SmallRng::seed_from_u64(seed ^ (k as u64 + 7).wrapping_mul(0x2545_F491_4F6C_DD1D));
            let id = if s.venue == Venue::Bybit {
                1000
            } else {
                5_000_000
            };
            v.by_key.insert((s.venue, s.symbol.clone()), v.syms.len());
            v.syms.push(VSym {
                venue: s.venue,
                info,
                ct,
                ct_str: s.contract_value.clone(),
                min_notional: s.min_notional,
                follows: s
                    .follows
                    .as_ref()
                    .and_then(|f| binance.get(&f.to_ascii_uppercase()).copied()),
                book: Mutex::new(VBook {
                    st,
                    rng,
                    id,
                    trade_id: 1_000_000 + k as u64 * 1_000_000,
                    ticker: None,
                    okx_ticker_at: None,
                }),
                gap: AtomicBool::new(false),
                malformed: AtomicBool::new(false),
                restart: AtomicBool::new(false),
                bad_checksum: AtomicBool::new(false),
                ticker_frames: AtomicU64::new(0),
                bbo_frames: AtomicU64::new(0),
            });
        }
        Ok(v)
    }

    pub fn index(&self, venue: Venue, symbol: &str) -> Option<usize> {
        self.by_key.get(&(venue, symbol.to_string())).copied()
    }

    pub fn inject(&self, venue: Venue, symbol: &str, f: VenueFault) -> bool {
        let Some(i) = self.index(venue, symbol) else {
            return false;
        };
        let s = &self.syms[i];
        match f {
            VenueFault::Gap => s.gap.store(true, Ordering::Relaxed),
            VenueFault::Malformed => s.malformed.store(true, Ordering::Relaxed),
            VenueFault::Restart => s.restart.store(true, Ordering::Relaxed),
            VenueFault::BadChecksum => s.bad_checksum.store(true, Ordering::Relaxed),
            VenueFault::SilentSubscription => {
                for c in self.conns.lock().iter() {
                    for sub in c.subs.lock().iter_mut() {
                        if sub.sym == i && sub.kind == Kind::Book {
                            sub.muted = true;
                        }
                    }
                }
            }
        }
        true
    }

    /// The touch the ticker streams of a symbol add up to (what they last
    /// sent), base quantities; None before the first ticker.
    pub fn ticker(&self, venue: Venue, symbol: &str) -> Option<SimTop> {
        let i = self.index(venue, symbol)?;
        self.syms[i].book.lock().ticker
    }

    /// Ticker frames written to subscribers so far: (`tickers`, `bbo-tbt`).
    pub fn ticker_frames(&self, venue: Venue, symbol: &str) -> Option<(u64, u64)> {
        let i = self.index(venue, symbol)?;
        let s = &self.syms[i];
        Some((
            s.ticker_frames.load(Ordering::Relaxed),
            s.bbo_frames.load(Ordering::Relaxed),
        ))
    }

    /// Records a new connection of `venue` (Binance's too, for its pacing).
    pub fn note_open(&self, venue: Venue) {
        let mut p = self.pacing.lock();
        let o = p.opens.entry(venue).or_default();
        if o.len() >= MAX_LOG {
            o.pop_front();
        }
        o.push_back(Instant::now());
    }

    pub fn kill_all(&self) {
        for c in self.conns.lock().iter() {
            c.kill();
        }
    }

    /// Ground truth: (last id, bids best first, asks best first), base qty.
    pub fn book(&self, venue: Venue, symbol: &str) -> Option<super::SimBook> {
        let i = self.index(venue, symbol)?;
        let b = self.syms[i].book.lock();
        Some(super::SimBook {
            last_update_id: b.id,
            bids: b.st.book.top_bids(usize::MAX),
            asks: b.st.book.top_asks(usize::MAX),
        })
    }

    pub fn pacing(&self, venue: Venue) -> PacingReport {
        let p = self.pacing.lock();
        let mut r = PacingReport {
            rejected_ops: p.rejected.get(&venue).copied().unwrap_or(0),
            ..Default::default()
        };
        if let Some(o) = p.opens.get(&venue) {
            let v: Vec<Instant> = o.iter().copied().collect();
            r.connections = v.len() as u64;
            r.max_connections_per_sec = max_in_window(&v, Duration::from_secs(1));
            r.max_connections_per_5min = max_in_window(&v, Duration::from_secs(300));
        }
        for c in p.conns.values().filter(|c| c.venue == Some(venue)) {
            r.max_ops_per_sec_per_conn = r
                .max_ops_per_sec_per_conn
                .max(max_in_window(&c.ops, Duration::from_secs(1)));
            r.max_ops_per_hour_per_conn = r
                .max_ops_per_hour_per_conn
                .max(max_in_window(&c.ops, Duration::from_secs(3600)));
            r.max_frames_per_conn = r.max_frames_per_conn.max(c.frames);
            r.max_topic_chars_per_conn = r.max_topic_chars_per_conn.max(c.max_chars);
            r.max_book_channels_per_conn = r.max_book_channels_per_conn.max(c.max_books);
        }
        r
    }
}

/// Most stamps (sorted) inside any window of length `w`.
fn max_in_window(v: &[Instant], w: Duration) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..v.len() {
        while v[hi].duration_since(v[lo]) >= w {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

// ------------------------------------------------------------ wire format

fn push_levels(out: &mut String, s: &VSym, levels: &[(i64, i64)], okx: bool) {
    out.push('[');
    for (i, (px, q)) in levels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "[\"{}\",\"{}\"", s.info.px(*px), size_str(s, *q));
        if okx {
            let _ = write!(out, ",\"0\",\"{}\"", if *q == 0 { 0 } else { 1 });
        }
        out.push(']');
    }
    out.push(']');
}

/// A base quantity as the venue writes it (OKX: contracts).
fn size_str(s: &VSym, q: i64) -> String {
    match s.ct {
        Some((m, d)) => crate::core::format_decimal(q / m, s.info.qty_scale - d),
        None => s.info.qty(q),
    }
}

fn bybit_book_json(
    s: &VSym,
    snapshot: bool,
    u: u64,
    bids: &[(i64, i64)],
    asks: &[(i64, i64)],
    topic: &str,
    ms: i64,
) -> String {
    let mut o = String::with_capacity(64 + 24 * (bids.len() + asks.len()));
    let _ = write!(
        o,
        "{{\"topic\":\"{topic}\",\"type\":\"{}\",\"ts\":{ms},\"data\":{{\"s\":\"{}\",\"b\":",
        if snapshot { "snapshot" } else { "delta" },
        s.info.symbol
    );
    push_levels(&mut o, s, bids, false);
    o.push_str(",\"a\":");
    push_levels(&mut o, s, asks, false);
    let _ = write!(
        o,
        ",\"u\":{u},\"seq\":{}}},\"cts\":{}}}",
        u * 7 + 100,
        ms - 1
    );
    o
}

/// Bybit `tickers.{symbol}`: a snapshot (every field), or a delta with
/// only the touch fields that differ from `prev` (Bybit omits unchanged
/// fields), like the real linear feed.
fn bybit_ticker_json(s: &VSym, prev: Option<SimTop>, top: SimTop, cs: u64, ms: i64) -> String {
    let ((bp, bq), (ap, aq)) = top;
    let mut o = String::with_capacity(512);
    let _ = write!(
        o,
        "{{\"topic\":\"tickers.{sym}\",\"type\":\"{}\",\"data\":{{\"symbol\":\"{sym}\"",
        if prev.is_none() { "snapshot" } else { "delta" },
        sym = s.info.symbol
    );
    match prev {
        None => {
            let px = s.info.px(bp);
            let _ = write!(
                o,
                ",\"tickDirection\":\"ZeroPlusTick\",\"price24hPcnt\":\"0.001000\",\"lastPrice\":\"{px}\",\"prevPrice24h\":\"{px}\",\"highPrice24h\":\"{px}\",\"lowPrice24h\":\"{px}\",\"prevPrice1h\":\"{px}\",\"markPrice\":\"{px}\",\"indexPrice\":\"{px}\",\"openInterest\":\"1000.000\",\"openInterestValue\":\"1000000.00\",\"turnover24h\":\"1000000.0000\",\"volume24h\":\"1000.0000\",\"nextFundingTime\":\"{}\",\"fundingRate\":\"0.0001\",\"bid1Price\":\"{px}\",\"bid1Size\":\"{}\",\"ask1Price\":\"{}\",\"ask1Size\":\"{}\"",
                ms - ms % 28_800_000 + 28_800_000,
                size_str(s, bq),
                s.info.px(ap),
                size_str(s, aq)
            );
        }
        Some(((pbp, pbq), (pap, paq))) => {
            if bp != pbp {
                let _ = write!(o, ",\"bid1Price\":\"{}\"", s.info.px(bp));
            }
            if bq != pbq {
                let _ = write!(o, ",\"bid1Size\":\"{}\"", size_str(s, bq));
            }
            if ap != pap {
                let _ = write!(o, ",\"ask1Price\":\"{}\"", s.info.px(ap));
            }
            if aq != paq {
                let _ = write!(o, ",\"ask1Size\":\"{}\"", size_str(s, aq));
            }
        }
    }
    let _ = write!(o, "}},\"cs\":{cs},\"ts\":{ms}}}");
    o
}

/// OKX `bbo-tbt`: `{"arg":{..},"data":[{"asks":[[px,sz,"0",n]],"bids":[..],"ts":"..","seqId":..}]}`.
fn okx_bbo_json(s: &VSym, top: SimTop, seq: u64, ms: i64) -> String {
    let ((bp, bq), (ap, aq)) = top;
    format!(
        "{{\"arg\":{{\"channel\":\"bbo-tbt\",\"instId\":\"{sym}\"}},\"data\":[{{\"asks\":[[\"{}\",\"{}\",\"0\",\"1\"]],\"bids\":[[\"{}\",\"{}\",\"0\",\"1\"]],\"ts\":\"{ms}\",\"seqId\":{seq}}}]}}",
        s.info.px(ap),
        size_str(s, aq),
        s.info.px(bp),
        size_str(s, bq),
        sym = s.info.symbol
    )
}

/// OKX `tickers` (every field, as the real channel sends them).
fn okx_ticker_json(s: &VSym, top: SimTop, ms: i64) -> String {
    let ((bp, bq), (ap, aq)) = top;
    let px = s.info.px(bp);
    format!(
        "{{\"arg\":{{\"channel\":\"tickers\",\"instId\":\"{sym}\"}},\"data\":[{{\"instType\":\"SWAP\",\"instId\":\"{sym}\",\"last\":\"{px}\",\"lastSz\":\"{lsz}\",\"askPx\":\"{}\",\"askSz\":\"{}\",\"bidPx\":\"{px}\",\"bidSz\":\"{}\",\"open24h\":\"{px}\",\"high24h\":\"{px}\",\"low24h\":\"{px}\",\"sodUtc0\":\"{px}\",\"sodUtc8\":\"{px}\",\"volCcy24h\":\"1000\",\"vol24h\":\"100000\",\"ts\":\"{ms}\"}}]}}",
        s.info.px(ap),
        size_str(s, aq),
        size_str(s, bq),
        lsz = size_str(s, s.ct.map(|c| c.0).unwrap_or(s.info.lot)),
        sym = s.info.symbol
    )
}

/// The current touch of a book, if both sides have one.
fn top_of(book: &super::market::Book) -> Option<SimTop> {
    Some((book.best_bid()?, book.best_ask()?))
}

/// Sends the ticker streams' update for a changed touch.
fn emit_tickers(inner: &Inner, i: usize, s: &VSym, b: &mut VBook, ms: i64) {
    let Some(top) = top_of(&b.st.book) else {
        return;
    };
    if b.ticker == Some(top) {
        return;
    }
    let prev = b.ticker.replace(top);
    match s.venue {
        Venue::Bybit => {
            // Deltas build on what was sent; the first message is a snapshot.
            let text = bybit_ticker_json(s, prev, top, b.id * 7 + 100, ms);
            send(inner, i, Kind::Ticker, &text);
        }
        _ => {
            send(inner, i, Kind::Bbo, &okx_bbo_json(s, top, b.id, ms));
            let now = Instant::now();
            if b.okx_ticker_at
                .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(100))
            {
                b.okx_ticker_at = Some(now);
                send(inner, i, Kind::Ticker, &okx_ticker_json(s, top, ms));
            }
        }
    }
}

/// OKX's checksum over the simulator's book, computed independently of the
/// engine: the string `bid:sz:ask:sz:...` of the top 25 levels, CRC32, i32.
fn okx_checksum(s: &VSym, book: &super::market::Book) -> i32 {
    let bids = book.top_bids(25);
    let asks = book.top_asks(25);
    let mut parts: Vec<String> = Vec::with_capacity(100);
    for i in 0..bids.len().max(asks.len()) {
        if let Some((p, q)) = bids.get(i) {
            parts.push(s.info.px(*p));
            parts.push(size_str(s, *q));
        }
        if let Some((p, q)) = asks.get(i) {
            parts.push(s.info.px(*p));
            parts.push(size_str(s, *q));
        }
    }
    crc32fast::hash(parts.join(":").as_bytes()) as i32
}

#[allow(clippy::too_many_arguments)]
fn okx_book_json(
    s: &VSym,
    snapshot: bool,
    prev: i64,
    seq: u64,
    bids: &[(i64, i64)],
    asks: &[(i64, i64)],
    checksum: i32,
    ms: i64,
) -> String {
    let mut o = String::with_capacity(96 + 32 * (bids.len() + asks.len()));
    let _ = write!(
        o,
        "{{\"arg\":{{\"channel\":\"books\",\"instId\":\"{}\"}},\"action\":\"{}\",\"data\":[{{\"asks\":",
        s.info.symbol,
        if snapshot { "snapshot" } else { "update" }
    );
    // OKX lists asks ascending and bids descending.
    let asks_sorted: Vec<(i64, i64)> = asks.to_vec();
    let mut bids_sorted: Vec<(i64, i64)> = bids.to_vec();
    bids_sorted.sort_by_key(|b| std::cmp::Reverse(b.0));
    push_levels(&mut o, s, &asks_sorted, true);
    o.push_str(",\"bids\":");
    push_levels(&mut o, s, &bids_sorted, true);
    let _ = write!(
        o,
        ",\"ts\":\"{ms}\",\"checksum\":{checksum},\"prevSeqId\":{prev},\"seqId\":{seq}}}]}}"
    );
    o
}

fn truncate(mut s: String) -> String {
    let mut n = s.len() / 2;
    while n > 0 && !s.is_char_boundary(n) {
        n -= 1;
    }
    s.truncate(n);
    s
}

// ------------------------------------------------------------ generator

/// Generates Bybit/OKX events every tick at `inner.rate` per symbol.
pub(crate) async fn run(inner: Arc<Inner>) {
    if inner.venues.syms.is_empty() {
        return;
    }
    let tick = Duration::from_millis(2);
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    let mut budget = vec![0f64; inner.venues.syms.len()];
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let dt = now.duration_since(last).min(Duration::from_millis(50));
        last = now;
        let _tick = inner.begin_tick();
        if inner.is_paused() || inner.silenced() {
            budget.iter_mut().for_each(|b| *b = 0.0);
            continue;
        }
        let ms = unix_ms();
        for (i, s) in inner.venues.syms.iter().enumerate() {
            budget[i] += inner.rate as f64 * dt.as_secs_f64();
            let n = budget[i].floor();
            budget[i] -= n;
            for _ in 0..n as u64 {
                step(&inner, i, s, ms);
            }
        }
    }
}

/// One event of venue symbol `i`, sent to its subscribers under its lock
/// (so a snapshot taken by a new subscription is never overtaken).
fn step(inner: &Inner, i: usize, s: &VSym, ms: i64) {
    let mut b = s.book.lock();
    let b = &mut *b;
    if b.rng.random_bool(0.2) {
        // A trade at the touch; its consumption is published by the next update.
        let Some(g) = b.st.generator.as_mut() else {
            return;
        };
        if let Some((px, qty, buyer_maker)) = g.trade(&s.info, &b.st.book) {
            b.trade_id += 1;
            let text = match s.venue {
                Venue::Bybit => format!(
                    "{{\"topic\":\"publicTrade.{sym}\",\"type\":\"snapshot\",\"ts\":{ms},\"data\":[{{\"T\":{ms},\"s\":\"{sym}\",\"S\":\"{side}\",\"v\":\"{v}\",\"p\":\"{p}\",\"L\":\"ZeroPlusTick\",\"i\":\"sim-{id}\",\"BT\":false,\"seq\":{seq}}}]}}",
                    sym = s.info.symbol,
                    side = if buyer_maker { "Sell" } else { "Buy" },
                    v = size_str(s, qty),
                    p = s.info.px(px),
                    id = b.trade_id,
                    seq = b.id * 7 + 100,
                ),
                _ => format!(
                    "{{\"arg\":{{\"channel\":\"trades\",\"instId\":\"{sym}\"}},\"data\":[{{\"instId\":\"{sym}\",\"tradeId\":\"{id}\",\"px\":\"{p}\",\"sz\":\"{v}\",\"side\":\"{side}\",\"ts\":\"{ms}\",\"count\":\"1\"}}]}}",
                    sym = s.info.symbol,
                    side = if buyer_maker { "sell" } else { "buy" },
                    v = size_str(s, qty),
                    p = s.info.px(px),
                    id = b.trade_id,
                ),
            };
            send(inner, i, Kind::Trade, &text);
        }
        return;
    }
    // Follow the Binance book of the same underlying (one correlated path).
    if let Some(f) = s.follows
        && b.rng.random_bool(0.5)
    {
        let bb = inner.syms[f].state.lock().book.best_bid();
        if let Some((px, _)) = bb {
            let bi = &inner.syms[f].info;
            let conv = rescale(px, bi.price_scale, s.info.price_scale);
            let ceil = (conv / s.info.tick) * s.info.tick;
            if let Some(g) = b.st.generator.as_mut()
                && ceil > 0
            {
                g.anchor(ceil);
            }
        }
    }
    // OKX keep-alive now and then: an empty update with seqId == prevSeqId.
    if s.venue == Venue::Okx && b.rng.random_bool(0.01) {
        let text = okx_book_json(s, false, b.id as i64, b.id, &[], &[], 0, ms);
        send(inner, i, Kind::Book, &text);
        return;
    }
    let Some(g) = b.st.generator.as_mut() else {
        return;
    };
    let (bids, asks) = g.depth_diff(&s.info, &mut b.st.book, inner.levels);
    emit_tickers(inner, i, s, b, ms);
    let restart = s.venue == Venue::Bybit && s.restart.swap(false, Ordering::Relaxed);
    let prev = b.id;
    b.id = match s.venue {
        Venue::Bybit if restart => 1,
        Venue::Bybit => b.id + 1,
        _ => b.id + b.rng.random_range(1..=20),
    };
    if s.gap.swap(false, Ordering::Relaxed) {
        return;
    }
    let mut text = match s.venue {
        Venue::Bybit if restart => {
            let bids = b.st.book.top_bids(usize::MAX);
            let asks = b.st.book.top_asks(usize::MAX);
            let topic = "orderbook.{depth}.".to_string() + &s.info.symbol;
            bybit_book_json(s, true, 1, &bids, &asks, &topic, ms)
        }
        Venue::Bybit => {
            let topic = "orderbook.{depth}.".to_string() + &s.info.symbol;
            bybit_book_json(s, false, b.id, &bids, &asks, &topic, ms)
        }
        _ => {
            let mut c = okx_checksum(s, &b.st.book);
            if s.bad_checksum.swap(false, Ordering::Relaxed) {
                c = c.wrapping_add(1);
                if c == 0 {
                    c = 1;
                }
            }
            okx_book_json(s, false, prev as i64, b.id, &bids, &asks, c, ms)
        }
    };
    if s.malformed.swap(false, Ordering::Relaxed) {
        text = truncate(text);
    }
    send(inner, i, Kind::Book, &text);
}

fn rescale(v: i64, from: u8, to: u8) -> i64 {
    use crate::core::fixed::pow10;
    if to >= from {
        v.saturating_mul(pow10(to - from))
    } else {
        v / pow10(from - to)
    }
}

/// Sends a frame to every unmuted subscriber of (symbol, kind). Bybit book
/// frames carry the subscriber's own depth in the topic (`{depth}`).
fn send(inner: &Inner, i: usize, kind: Kind, text: &str) {
    for c in inner.venues.conns.lock().iter() {
        let subs = c.subs.lock();
        for sub in subs.iter() {
            if sub.sym == i && sub.kind == kind && !sub.muted {
                if text.contains("{depth}") {
                    let depth = sub.key.split('.').nth(1).unwrap_or("50");
                    c.push(text.replace("{depth}", depth));
                } else {
                    c.push(text.to_string());
                }
                match kind {
                    Kind::Ticker => {
                        inner.venues.syms[i]
                            .ticker_frames
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    Kind::Bbo => {
                        inner.venues.syms[i]
                            .bbo_frames
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
                inner.stats.messages_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The snapshot a new book subscription starts with.
fn snapshot_for(s: &VSym, b: &VBook, key: &str, ms: i64) -> String {
    let bids = b.st.book.top_bids(usize::MAX);
    let asks = b.st.book.top_asks(usize::MAX);
    match s.venue {
        Venue::Bybit => bybit_book_json(s, true, b.id, &bids, &asks, key, ms),
        _ => okx_book_json(
            s,
            true,
            -1,
            b.id,
            &bids,
            &asks,
            okx_checksum(s, &b.st.book),
            ms,
        ),
    }
}

// ------------------------------------------------------------ server

type Shared = Arc<Inner>;

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/v5/public/linear", get(ws_bybit))
        .route("/ws/v5/public", get(ws_okx))
        .route("/v5/market/instruments-info", get(rest_bybit_instruments))
        .route("/api/v5/public/instruments", get(rest_okx_instruments))
        .route("/v5/market/time", get(rest_bybit_time))
        .route("/api/v5/public/time", get(rest_okx_time))
        .route("/sim/venue/{venue}/book/{symbol}", get(ctl_book))
        .route("/sim/venue/{venue}/fault/{fault}/{symbol}", post(ctl_fault))
        .route("/sim/venue/{venue}/pacing", get(ctl_pacing))
}

async fn ws_bybit(State(inner): State<Shared>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(1 << 20)
        .on_upgrade(move |s| conn_task(inner, s, Venue::Bybit))
}

async fn ws_okx(State(inner): State<Shared>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(1 << 20)
        .on_upgrade(move |s| conn_task(inner, s, Venue::Okx))
}

async fn conn_task(inner: Shared, socket: WebSocket, venue: Venue) {
    let v = &inner.venues;
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(super::server::QUEUE_CAP);
    let conn = Arc::new(VConn {
        id: v.next_id.fetch_add(1, Ordering::Relaxed),
        venue,
        tx,
        subs: Mutex::new(Vec::new()),
        killed: AtomicBool::new(false),
        kill: tokio::sync::Notify::new(),
    });
    {
        v.note_open(venue);
        let mut p = v.pacing.lock();
        if p.conns.len() < MAX_LOG {
            p.conns.insert(
                conn.id,
                ConnLog {
                    venue: Some(venue),
                    ..Default::default()
                },
            );
        }
    }
    v.conns.lock().push(conn.clone());
    inner
        .stats
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    inner.stats.connections_open.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let mut batch: Vec<Utf8Bytes> = Vec::with_capacity(256);
    loop {
        tokio::select! {
            biased;
            _ = conn.kill.notified() => break,
            n = rx.recv_many(&mut batch, 256) => {
                if n == 0 { break; }
                let mut ok = true;
                for t in batch.drain(..) {
                    if sink.feed(Message::Text(t)).await.is_err() { ok = false; break; }
                }
                if !ok || sink.flush().await.is_err() { break; }
            }
            msg = stream.next() => {
                let t = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                if inner.silenced() {
                    continue;
                }
                handle_text(&inner, &conn, t.as_str());
            }
        }
    }
    conn.killed.store(true, Ordering::Relaxed);
    v.conns.lock().retain(|c| c.id != conn.id);
    inner.stats.connections_open.fetch_sub(1, Ordering::Relaxed);
}

fn note_frame(inner: &Inner, conn: &VConn, op: bool) {
    let mut p = inner.venues.pacing.lock();
    if let Some(c) = p.conns.get_mut(&conn.id) {
        c.frames += 1;
        if op && c.ops.len() < 100_000 {
            c.ops.push(Instant::now());
        }
        let subs = conn.subs.lock();
        let chars: usize = subs
            .iter()
            .filter(|_| conn.venue == Venue::Bybit)
            .map(|s| s.key.len() + 3)
            .sum();
        let books = subs.iter().filter(|s| s.kind == Kind::Book).count();
        c.max_chars = c.max_chars.max(chars);
        c.max_books = c.max_books.max(books);
    }
}

fn reject(inner: &Inner, venue: Venue) {
    *inner
        .venues
        .pacing
        .lock()
        .rejected
        .entry(venue)
        .or_default() += 1;
}

fn handle_text(inner: &Inner, conn: &VConn, text: &str) {
    if conn.venue == Venue::Okx && text == "ping" {
        note_frame(inner, conn, false);
        conn.push("pong".into());
        return;
    }
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            note_frame(inner, conn, false);
            let reply = match conn.venue {
                Venue::Bybit => {
                    r#"{"success":false,"ret_msg":"error:invalid json","conn_id":"sim","op":""}"#
                        .to_string()
                }
                _ => r#"{"event":"error","code":"60012","msg":"Invalid request","connId":"sim"}"#
                    .to_string(),
            };
            conn.push(reply);
            return;
        }
    };
    let op = v
        .get("op")
        .and_then(|o| o.as_str())
        .unwrap_or("")
        .to_string();
    match conn.venue {
        Venue::Bybit => bybit_op(inner, conn, &v, &op),
        _ => okx_op(inner, conn, &v, &op),
    }
}

fn bybit_op(inner: &Inner, conn: &VConn, v: &serde_json::Value, op: &str) {
    let req = v
        .get("req_id")
        .and_then(|r| r.as_str())
        .unwrap_or("")
        .to_string();
    let reply = |ok: bool, msg: &str, op: &str| {
        serde_json::json!({"success": ok, "ret_msg": msg, "conn_id": format!("sim-{}", conn.id), "req_id": req, "op": op}).to_string()
    };
    if op == "ping" {
        note_frame(inner, conn, false);
        conn.push(reply(true, "pong", "ping"));
        return;
    }
    let args: Vec<String> = v
        .get("args")
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    match op {
        "subscribe" => {
            let mut bad = Vec::new();
            for a in &args {
                let mut parts = a.split('.');
                let (kind, sym) = match (parts.next(), parts.next(), parts.next()) {
                    (Some("orderbook"), Some("1" | "50" | "200" | "1000"), Some(s)) => {
                        (Kind::Book, s)
                    }
                    (Some("publicTrade"), Some(s), None) => (Kind::Trade, s),
                    (Some("tickers"), Some(s), None) => (Kind::Ticker, s),
                    _ => {
                        bad.push(a.clone());
                        continue;
                    }
                };
                let Some(i) = inner.venues.index(Venue::Bybit, sym) else {
                    bad.push(a.clone());
                    continue;
                };
                add_sub(inner, conn, i, kind, a.clone());
            }
            note_frame(inner, conn, true);
            if bad.is_empty() {
                conn.push(reply(true, "", "subscribe"));
            } else {
                reject(inner, Venue::Bybit);
                conn.push(reply(
                    false,
                    &format!("error:handler not found,topic:{}", bad.join(",")),
                    "subscribe",
                ));
            }
        }
        "unsubscribe" => {
            conn.subs.lock().retain(|s| !args.contains(&s.key));
            note_frame(inner, conn, true);
            conn.push(reply(true, "", "unsubscribe"));
        }
        _ => {
            note_frame(inner, conn, false);
            conn.push(reply(false, "error:unknown op", op));
        }
    }
}

/// Adds a subscription; a book subscription starts with a snapshot, taken
/// under the symbol's lock so no update can overtake it.
fn add_sub(inner: &Inner, conn: &VConn, i: usize, kind: Kind, key: String) {
    let s = &inner.venues.syms[i];
    let b = s.book.lock();
    let mut subs = conn.subs.lock();
    if subs.iter().any(|x| x.key == key) {
        return;
    }
    if kind == Kind::Book {
        conn.push(snapshot_for(s, &b, &key, unix_ms()));
    }
    // A ticker subscription starts from what the ticker streams last sent
    // (Bybit: a snapshot the following deltas build on).
    if let (Some(top), Kind::Ticker | Kind::Bbo) = (b.ticker, kind) {
        let ms = unix_ms();
        let text = match (s.venue, kind) {
            (Venue::Bybit, _) => bybit_ticker_json(s, None, top, b.id * 7 + 100, ms),
            (_, Kind::Bbo) => okx_bbo_json(s, top, b.id, ms),
            _ => okx_ticker_json(s, top, ms),
        };
        conn.push(text);
        let c = if kind == Kind::Bbo {
            &s.bbo_frames
        } else {
            &s.ticker_frames
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
    subs.push(VSub {
        sym: i,
        kind,
        key,
        muted: false,
    });
}

fn okx_op(inner: &Inner, conn: &VConn, v: &serde_json::Value, op: &str) {
    let id = v
        .get("id")
        .and_then(|r| r.as_str())
        .unwrap_or("")
        .to_string();
    let args: Vec<(String, String)> = v
        .get("args")
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .map(|x| {
                    let g = |k: &str| x.get(k).and_then(|y| y.as_str()).unwrap_or("").to_string();
                    (g("channel"), g("instId"))
                })
                .collect()
        })
        .unwrap_or_default();
    match op {
        "subscribe" | "unsubscribe" => {
            for (ch, inst) in &args {
                let key = format!("{ch}:{inst}");
                let kind = match ch.as_str() {
                    "books" => Some(Kind::Book),
                    "trades" => Some(Kind::Trade),
                    "tickers" => Some(Kind::Ticker),
                    "bbo-tbt" => Some(Kind::Bbo),
                    "books5" => Some(Kind::Unstreamed),
                    _ => None,
                };
                let idx = inner.venues.index(Venue::Okx, inst);
                let (Some(kind), Some(i)) = (kind, idx) else {
                    reject(inner, Venue::Okx);
                    conn.push(serde_json::json!({"event":"error","code":"60018","msg":format!("Wrong URL or channel:{ch},instId:{inst} doesn't exist."),"connId":format!("sim-{}", conn.id)}).to_string());
                    continue;
                };
                if op == "subscribe" {
                    conn.push(serde_json::json!({"id": id, "event":"subscribe","arg":{"channel":ch,"instId":inst},"connId":format!("sim-{}", conn.id)}).to_string());
                    add_sub(inner, conn, i, kind, key);
                } else {
                    conn.subs.lock().retain(|s| s.key != key);
                    conn.push(serde_json::json!({"id": id, "event":"unsubscribe","arg":{"channel":ch,"instId":inst},"connId":format!("sim-{}", conn.id)}).to_string());
                }
            }
            note_frame(inner, conn, true);
        }
        _ => {
            note_frame(inner, conn, false);
            conn.push(serde_json::json!({"event":"error","code":"60012","msg":"Invalid request","connId":format!("sim-{}", conn.id)}).to_string());
        }
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Bybit's `GET /v5/market/time` (the shape of Bybit's documented answer).
async fn rest_bybit_time() -> Response {
    let ms = unix_ms();
    let body = serde_json::json!({"retCode":0,"retMsg":"OK","result":{
        "timeSecond": (ms / 1000).to_string(),
        "timeNano": (ms as i128 * 1_000_000).to_string()},"retExtInfo":{},"time":ms});
    json(StatusCode::OK, body.to_string())
}

/// OKX's `GET /api/v5/public/time`.
async fn rest_okx_time() -> Response {
    let body = serde_json::json!({"code":"0","msg":"","data":[{"ts": unix_ms().to_string()}]});
    json(StatusCode::OK, body.to_string())
}

async fn rest_bybit_instruments(
    State(inner): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("category").map(String::as_str) != Some("linear") {
        return json(
            StatusCode::OK,
            r#"{"retCode":10001,"retMsg":"params error: category must be linear here","result":{},"retExtInfo":{},"time":0}"#.into(),
        );
    }
    let want = q.get("symbol");
    let list: Vec<serde_json::Value> = inner
        .venues
        .syms
        .iter()
        .filter(|s| s.venue == Venue::Bybit && want.is_none_or(|w| *w == s.info.symbol))
        .map(|s| {
            serde_json::json!({
                "symbol": s.info.symbol, "contractType": "LinearPerpetual", "status": "Trading",
                "priceScale": s.info.price_scale.to_string(),
                "priceFilter": {"minPrice": s.info.tick_size, "maxPrice": "1999999.80", "tickSize": s.info.tick_size},
                "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": s.info.lot_size, "qtyStep": s.info.lot_size,
                    "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000", "minNotionalValue": format!("{}", s.min_notional)},
            })
        })
        .collect();
    let body = serde_json::json!({"retCode":0,"retMsg":"OK","result":{"category":"linear","list":list,"nextPageCursor":""},"retExtInfo":{},"time":unix_ms()});
    json(StatusCode::OK, body.to_string())
}

async fn rest_okx_instruments(
    State(inner): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("instType").map(String::as_str) != Some("SWAP") {
        return json(
            StatusCode::BAD_REQUEST,
            r#"{"code":"51000","msg":"Parameter instType error","data":[]}"#.into(),
        );
    }
    let want = q.get("instId");
    let data: Vec<serde_json::Value> = inner
        .venues
        .syms
        .iter()
        .filter(|s| s.venue == Venue::Okx && want.is_none_or(|w| *w == s.info.symbol))
        .map(|s| {
            let (lot, ctv) = match s.ct {
                Some((m, d)) => (
                    crate::core::format_decimal(s.info.lot / m, s.info.qty_scale - d),
                    s.ct_str.clone().unwrap_or_else(|| "1".into()),
                ),
                None => (s.info.lot_size.clone(), "1".into()),
            };
            let uly = s.info.symbol.trim_end_matches("-SWAP").to_string();
            serde_json::json!({
                "instType":"SWAP","instId": s.info.symbol,"uly": uly,"instFamily": uly,"ctVal": ctv,"ctMult":"1",
                "ctType":"linear","ctValCcy": uly.split('-').next().unwrap_or(""),"settleCcy":"USDT",
                "tickSz": s.info.tick_size,"lotSz": lot,"minSz": lot,"state":"live","maxLmtSz":"100000000","maxMktSz":"1600"
            })
        })
        .collect();
    json(
        StatusCode::OK,
        serde_json::json!({"code":"0","msg":"","data":data}).to_string(),
    )
}

fn venue_of(s: &str) -> Option<Venue> {
    match Venue::parse(s) {
        Some(Venue::Binance) | None => None,
        v => v,
    }
}

async fn ctl_book(
    State(inner): State<Shared>,
    Path((venue, symbol)): Path<(String, String)>,
) -> Response {
    let Some(b) = venue_of(&venue).and_then(|v| inner.venues.book(v, &symbol)) else {
        return json(
            StatusCode::NOT_FOUND,
            r#"{"error":"unknown venue or symbol"}"#.into(),
        );
    };
    json(
        StatusCode::OK,
        serde_json::json!({"last_update_id": b.last_update_id, "bids": b.bids, "asks": b.asks})
            .to_string(),
    )
}

async fn ctl_fault(
    State(inner): State<Shared>,
    Path((venue, fault, symbol)): Path<(String, String, String)>,
) -> Response {
    let f = match fault.as_str() {
        "gap" => VenueFault::Gap,
        "malformed" => VenueFault::Malformed,
        "restart" => VenueFault::Restart,
        "bad_checksum" => VenueFault::BadChecksum,
        "silent" => VenueFault::SilentSubscription,
        _ => {
            return json(
                StatusCode::NOT_FOUND,
                r#"{"error":"unknown fault (gap, malformed, restart, bad_checksum, silent)"}"#
                    .into(),
            );
        }
    };
    match venue_of(&venue) {
        Some(v) if inner.venues.inject(v, &symbol, f) => {
            json(StatusCode::OK, "{\"ok\":true}".into())
        }
        _ => json(
            StatusCode::NOT_FOUND,
            r#"{"error":"unknown venue or symbol"}"#.into(),
        ),
    }
}

async fn ctl_pacing(State(inner): State<Shared>, Path(venue): Path<String>) -> Response {
    match venue_of(&venue) {
        Some(v) => json(
            StatusCode::OK,
            serde_json::to_string(&inner.venues.pacing(v)).unwrap_or_default(),
        ),
        None => json(StatusCode::NOT_FOUND, r#"{"error":"unknown venue"}"#.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts() {
        let t = Instant::now();
        let v: Vec<Instant> = [0, 100, 200, 1500, 1600]
            .iter()
            .map(|ms| t + Duration::from_millis(*ms))
            .collect();
        assert_eq!(max_in_window(&v, Duration::from_secs(1)), 3);
        assert_eq!(max_in_window(&v, Duration::from_secs(10)), 5);
        assert_eq!(max_in_window(&[], Duration::from_secs(1)), 0);
    }

    fn keys(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    fn sample(path: &str) -> Option<serde_json::Value> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/samples")
            .join(path);
        match std::fs::read_to_string(&p) {
            Ok(t) => Some(serde_json::from_str(&t).unwrap()),
            Err(_) => {
                crate::bench::samples::absent("simulator field names vs the venues' samples", &p);
                None
            }
        }
    }

    fn sims() -> VenueSims {
        let v = |venue, symbol: &str, ct: Option<&str>| VenueSimSymbol {
            venue,
            symbol: symbol.into(),
            tick_size: "0.1".into(),
            lot_size: "0.001".into(),
            contract_value: ct.map(str::to_string),
            start_price: 100.0,
            follows: None,
            min_notional: 0.0,
        };
        VenueSims::new(
            &[
                v(Venue::Bybit, "BTCUSDT", None),
                v(Venue::Okx, "BTC-USDT-SWAP", Some("0.001")),
            ],
            &HashMap::new(),
            1,
            10,
        )
        .unwrap()
    }

    #[test]
    fn ticker_frames_have_the_real_shapes() {
        let v = sims();
        let (by, ok) = (&v.syms[0], &v.syms[1]);
        let top: SimTop = ((10_000, 2_000), (10_001, 3_000));
        let snap: serde_json::Value =
            serde_json::from_str(&bybit_ticker_json(by, None, top, 7, 1)).unwrap();
        assert_eq!(snap["type"], "snapshot");
        assert_eq!(snap["data"]["bid1Price"], "1000.0");
        assert_eq!(snap["data"]["ask1Size"], "3.000");
        // A delta carries only what changed (the bid size here).
        let next: SimTop = ((10_000, 2_500), (10_001, 3_000));
        let delta: serde_json::Value =
            serde_json::from_str(&bybit_ticker_json(by, Some(top), next, 8, 2)).unwrap();
        assert_eq!(delta["type"], "delta");
        assert_eq!(
            keys(&delta["data"]),
            ["bid1Size", "symbol"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
        assert_eq!(delta["data"]["bid1Size"], "2.500");
        // OKX sizes are contracts (ctVal 0.001: 2.000 base = 2000 contracts).
        let bbo: serde_json::Value = serde_json::from_str(&okx_bbo_json(ok, top, 9, 3)).unwrap();
        assert_eq!(bbo["data"][0]["bids"][0][1], "2000");
        let tk: serde_json::Value = serde_json::from_str(&okx_ticker_json(ok, top, 4)).unwrap();
        assert_eq!(tk["data"][0]["askSz"], "3000");
        assert_eq!(tk["data"][0]["bidPx"], "1000.0");
        // The same fields as the real captures.
        if let Some(real) = sample("bybit/tickers_BTCUSDT_linear_snapshot_2023-04-05.json") {
            assert_eq!(keys(&snap), keys(&real));
            assert_eq!(keys(&snap["data"]), keys(&real["data"]));
        }
        if let Some(real) = sample("okx/tickers_UNI-USD-SWAP_2022-05-13.json") {
            assert_eq!(keys(&tk), keys(&real));
            assert_eq!(keys(&tk["data"][0]), keys(&real["data"][0]));
        }
        if let Some(real) = sample("okx/bbo-tbt_BTC-USDT-SWAP_2022-05-05_tardis.json") {
            assert_eq!(keys(&bbo), keys(&real));
            // Today's bbo-tbt adds `seqId` to the 2022 capture's fields.
            assert!(keys(&real["data"][0]).is_subset(&keys(&bbo["data"][0])));
            assert_eq!(
                bbo["data"][0]["asks"][0].as_array().unwrap().len(),
                real["data"][0]["asks"][0].as_array().unwrap().len()
            );
        }
    }
}
