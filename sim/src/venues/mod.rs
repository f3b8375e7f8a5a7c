//! The simulator's Bybit v5 (public linear) and OKX v5 (public) venues: the
//! state they share (instruments, books, connections, per-symbol faults and
//! the counters a pacing test needs: connections per second, subscribe ops
//! per connection, topic characters and book channels per connection).
//! The venue-specific wire formats, subscribe ops and REST endpoints are in
//! `crate::bybit` and `crate::okx`; the generator in `generator`, the WebSocket
//! connections in `conn`.
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
//! Simplifications (stated in docs/simulator.md): every Bybit depth topic
//! (`orderbook.1|50|200|1000`) streams the one simulated book; OKX `books5`
//! is acknowledged but not streamed; ticker fields other than the touch
//! (24 h statistics, mark/index price, funding) are plausible constants.

pub(crate) mod conn;
pub(crate) mod generator;
#[cfg(test)]
mod tests;

pub(crate) use generator::run;

use crate::SimVenue;
use crate::binance::SymInfo;
use crate::decimal::{decimals_of, format_decimal, parse_decimal};
use crate::market::SymState;
use crate::state::SimBook;
use axum::extract::ws::Utf8Bytes;
use parking_lot::Mutex;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, error::TrySendError};

/// One Bybit or OKX instrument of the simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueSimSymbol {
    pub venue: SimVenue,
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
pub(crate) enum Kind {
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

pub(crate) struct VSub {
    pub(crate) sym: usize,
    pub(crate) kind: Kind,
    /// Topic (Bybit) or `channel:instId` (OKX), as subscribed.
    pub(crate) key: String,
    pub(crate) muted: bool,
}

pub(crate) struct VConn {
    pub(crate) id: u64,
    pub(crate) venue: SimVenue,
    pub(crate) tx: mpsc::Sender<Utf8Bytes>,
    pub(crate) subs: Mutex<Vec<VSub>>,
    pub(crate) killed: AtomicBool,
    pub(crate) kill: tokio::sync::Notify,
}

impl VConn {
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill.notify_one();
    }

    /// Queues a frame; a full or closed queue ends the connection.
    pub(crate) fn push(&self, text: String) {
        if self.killed.load(Ordering::Relaxed) {
            return;
        }
        match self.tx.try_send(Utf8Bytes::from(text)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Closed(_)) => self.kill(),
        }
    }
}

pub(crate) struct VBook {
    pub(crate) st: SymState,
    pub(crate) rng: SmallRng,
    /// Bybit `u` or OKX `seqId` of the last update applied.
    pub(crate) id: u64,
    pub(crate) trade_id: u64,
    /// What the ticker streams last sent (None before the first).
    pub(crate) ticker: Option<SimTop>,
    /// When OKX `tickers` was last sent (throttled to 100 ms).
    pub(crate) okx_ticker_at: Option<Instant>,
}

pub(crate) struct VSym {
    pub venue: SimVenue,
    pub info: SymInfo,
    /// (ctVal scaled, its decimals) for OKX contract sizes.
    pub(crate) ct: Option<(i64, u8)>,
    pub(crate) ct_str: Option<String>,
    pub(crate) min_notional: f64,
    pub(crate) follows: Option<usize>,
    pub(crate) book: Mutex<VBook>,
    pub(crate) gap: AtomicBool,
    pub(crate) malformed: AtomicBool,
    pub(crate) restart: AtomicBool,
    pub(crate) bad_checksum: AtomicBool,
    /// Ticker frames written per subscriber: `tickers`, `bbo-tbt`.
    pub(crate) ticker_frames: AtomicU64,
    pub(crate) bbo_frames: AtomicU64,
}

#[derive(Default)]
pub(crate) struct PacingLog {
    /// Connection open stamps per venue (bounded).
    pub(crate) opens: HashMap<SimVenue, VecDeque<Instant>>,
    /// Per finished or live connection: (venue, op stamps, frames, max topic chars, max book channels).
    pub(crate) conns: HashMap<u64, ConnLog>,
    pub(crate) rejected: HashMap<SimVenue, u64>,
}

#[derive(Default, Clone)]
pub(crate) struct ConnLog {
    pub(crate) venue: Option<SimVenue>,
    pub(crate) ops: Vec<Instant>,
    pub(crate) frames: u64,
    pub(crate) max_chars: usize,
    pub(crate) max_books: usize,
}

/// All Bybit/OKX state of the simulator.
#[derive(Default)]
pub(crate) struct VenueSims {
    pub syms: Vec<VSym>,
    pub(crate) by_key: HashMap<(SimVenue, String), usize>,
    pub(crate) conns: Mutex<Vec<Arc<VConn>>>,
    pub(crate) next_id: AtomicU64,
    pub(crate) pacing: Mutex<PacingLog>,
}

pub(crate) const MAX_LOG: usize = 4096;

impl VenueSims {
    pub fn new(
        list: &[VenueSimSymbol],
        binance: &HashMap<String, usize>,
        seed: u64,
        levels: usize,
    ) -> anyhow::Result<VenueSims> {
        let mut v = VenueSims::default();
        for (k, s) in list.iter().enumerate() {
            if s.venue == SimVenue::Binance {
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
            let id = if s.venue == SimVenue::Bybit {
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

    pub fn index(&self, venue: SimVenue, symbol: &str) -> Option<usize> {
        self.by_key.get(&(venue, symbol.to_string())).copied()
    }

    pub fn inject(&self, venue: SimVenue, symbol: &str, f: VenueFault) -> bool {
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
    pub fn ticker(&self, venue: SimVenue, symbol: &str) -> Option<SimTop> {
        let i = self.index(venue, symbol)?;
        self.syms[i].book.lock().ticker
    }

    /// Ticker frames written to subscribers so far: (`tickers`, `bbo-tbt`).
    pub fn ticker_frames(&self, venue: SimVenue, symbol: &str) -> Option<(u64, u64)> {
        let i = self.index(venue, symbol)?;
        let s = &self.syms[i];
        Some((
            s.ticker_frames.load(Ordering::Relaxed),
            s.bbo_frames.load(Ordering::Relaxed),
        ))
    }

    /// Records a new connection of `venue` (Binance's too, for its pacing).
    pub fn note_open(&self, venue: SimVenue) {
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
    pub fn book(&self, venue: SimVenue, symbol: &str) -> Option<SimBook> {
        let i = self.index(venue, symbol)?;
        let b = self.syms[i].book.lock();
        Some(SimBook {
            last_update_id: b.id,
            bids: b.st.book.top_bids(usize::MAX),
            asks: b.st.book.top_asks(usize::MAX),
        })
    }

    pub fn pacing(&self, venue: SimVenue) -> PacingReport {
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

// ------------------------------------------------------------ wire format shared by Bybit and OKX

pub(crate) fn push_levels(out: &mut String, s: &VSym, levels: &[(i64, i64)], okx: bool) {
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
pub(crate) fn size_str(s: &VSym, q: i64) -> String {
    match s.ct {
        Some((m, d)) => format_decimal(q / m, s.info.qty_scale - d),
        None => s.info.qty(q),
    }
}
