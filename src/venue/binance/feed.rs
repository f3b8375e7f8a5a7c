//! Binance USD-M market-data connection: the combined-stream URL, frame
//! parsing, per-symbol snapshot-and-diff sync (a gap resyncs that symbol
//! only), REST depth snapshots with retry pacing, and hand-off of
//! fixed-point events to the book stage. A full queue never corrupts a book:
//! the symbol is marked out of sync and resynced.

use super::parse::{DepthMsg, Msg, ParseError, Parser, SymbolMap};
use super::sync::{BookSync, SyncOut};
use crate::core::{
    CHUNK_END, CHUNK_LEVELS, CHUNK_RESET, DepthChunk, FeedStatus, InstrumentId, MarketBody,
    MarketEvent, Venue,
};
use crate::feed::{Protocol, RestClient, RestReply};
use crate::pipeline::channel::Tx;
use crate::pipeline::shared::Shared;
use prometheus::IntCounter;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which streams a connection carries (Binance's 2026 route split puts
/// depth/bookTicker on `/public` and trades on `/market`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub depth: bool,
    pub book_ticker: bool,
    pub trades: bool,
}

impl Streams {
    pub const ALL: Streams = Streams {
        depth: true,
        book_ticker: true,
        trades: true,
    };
}

/// Settings of one Binance connection.
#[derive(Debug, Clone)]
pub struct BinanceFeedConfig {
    pub ws_base: String,
    pub rest_base: String,
    pub symbols: Vec<String>,
    pub depth_speed_ms: u32,
    pub snapshot_limit: u32,
    pub streams: Streams,
}

/// The combined-stream URL for these symbols and streams.
pub fn stream_url(cfg: &BinanceFeedConfig) -> String {
    let speed = match cfg.depth_speed_ms {
        0 => "@0ms",
        100 => "@100ms",
        500 => "@500ms",
        _ => "",
    };
    let mut names = Vec::new();
    for s in &cfg.symbols {
        let l = s.to_ascii_lowercase();
        if cfg.streams.depth {
            names.push(format!("{l}@depth{speed}"));
        }
        if cfg.streams.book_ticker {
            names.push(format!("{l}@bookTicker"));
        }
        if cfg.streams.trades {
            names.push(format!("{l}@aggTrade"));
        }
    }
    format!(
        "{}/stream?streams={}",
        cfg.ws_base.trim_end_matches('/'),
        names.join("/")
    )
}

struct SymState {
    inst: InstrumentId,
    symbol: String,
    sync: BookSync,
    /// An OutOfSync that could not be queued yet; nothing else for this
    /// symbol is sent until it is.
    owe_out_of_sync: bool,
    snapshot_in_flight: bool,
    next_snapshot_at: Instant,
    snapshot_failures: u32,
    gaps: IntCounter,
    resyncs: IntCounter,
    snapshot_errors: IntCounter,
}

struct Counters {
    depth: IntCounter,
    bbo: IntCounter,
    trade: IntCounter,
    other: IntCounter,
    unknown_symbol: IntCounter,
}

pub struct BinanceFeed {
    cfg: BinanceFeedConfig,
    shared: Arc<Shared>,
    parser: Parser,
    snap_parser: Parser,
    syms: SymbolMap,
    states: Vec<SymState>,
    /// InstrumentId -> index into `states`.
    by_inst: Vec<Option<usize>>,
    tx: Tx<MarketEvent>,
    rest: RestClient,
    counters: Counters,
    error_logs: u64,
}

impl BinanceFeed {
    pub fn new(
        cfg: BinanceFeedConfig,
        shared: Arc<Shared>,
        tx: Tx<MarketEvent>,
        rest: RestClient,
    ) -> BinanceFeed {
        let m = &shared.metrics;
        let v = Venue::Binance.as_str();
        let syms = SymbolMap::new(&shared.instruments, Venue::Binance);
        let mut by_inst = vec![None; shared.instruments.len()];
        let states: Vec<SymState> = cfg
            .symbols
            .iter()
            .filter_map(|s| shared.instruments.find(Venue::Binance, s).map(|id| (s, id)))
            .enumerate()
            .map(|(i, (s, id))| {
                by_inst[id.idx()] = Some(i);
                SymState {
                    inst: id,
                    symbol: s.clone(),
                    sync: BookSync::new(4096),
                    owe_out_of_sync: false,
                    snapshot_in_flight: false,
                    next_snapshot_at: Instant::now(),
                    snapshot_failures: 0,
                    gaps: m.feed_gaps.with_label_values(&[v, s]),
                    resyncs: m.feed_resyncs.with_label_values(&[v, s]),
                    snapshot_errors: m.feed_snapshot_errors.with_label_values(&[v, s]),
                }
            })
            .collect();
        let counters = Counters {
            depth: m.feed_messages.with_label_values(&[v, "depth"]),
            bbo: m.feed_messages.with_label_values(&[v, "bbo"]),
            trade: m.feed_messages.with_label_values(&[v, "trade"]),
            other: m.feed_messages.with_label_values(&[v, "other"]),
            unknown_symbol: m.feed_unknown_symbol.with_label_values(&[v]),
        };
        BinanceFeed {
            cfg,
            shared,
            parser: Parser::new(),
            snap_parser: Parser::new(),
            syms,
            states,
            by_inst,
            tx,
            rest,
            counters,
            error_logs: 0,
        }
    }

    /// Events waiting in the feed-to-book queue.
    pub fn queue_len(&self) -> usize {
        self.tx.len()
    }

    fn state_of(&self, inst: InstrumentId) -> Option<usize> {
        self.by_inst.get(inst.idx()).copied().flatten()
    }

    /// Tries to deliver a pending OutOfSync; true when none is owed.
    fn settle(&mut self, i: usize, recv_ns: u64) -> bool {
        let st = &mut self.states[i];
        if !st.owe_out_of_sync {
            return true;
        }
        let ev = MarketEvent {
            venue: Venue::Binance,
            inst: st.inst,
            recv_ns,
            exch_ms: 0,
            body: MarketBody::Status(FeedStatus::OutOfSync),
        };
        if self.tx.try_send(ev).is_ok() {
            self.states[i].owe_out_of_sync = false;
            true
        } else {
            false
        }
    }

    /// The book of symbol `i` can no longer be trusted: say so and resync.
    fn desync(&mut self, i: usize, recv_ns: u64) {
        let st = &mut self.states[i];
        st.sync.reset();
        st.owe_out_of_sync = true;
        self.settle(i, recv_ns);
    }

    /// Sends one update as chunks; false if the queue refused a chunk.
    fn emit_depth(tx: &Tx<MarketEvent>, msg: &DepthMsg, reset: bool, recv_ns: u64) -> bool {
        let mut bi = 0;
        let mut ai = 0;
        let mut first = true;
        loop {
            let mut c = DepthChunk {
                update_id: msg.last_id,
                ..Default::default()
            };
            if first && reset {
                c.flags |= CHUNK_RESET;
            }
            let nb = (msg.bids.len() - bi).min(CHUNK_LEVELS);
            let na = (msg.asks.len() - ai).min(CHUNK_LEVELS);
            c.bids[..nb].copy_from_slice(&msg.bids[bi..bi + nb]);
            c.asks[..na].copy_from_slice(&msg.asks[ai..ai + na]);
            c.n_bids = nb as u8;
            c.n_asks = na as u8;
            bi += nb;
            ai += na;
            let last = bi == msg.bids.len() && ai == msg.asks.len();
            if last {
                c.flags |= CHUNK_END;
            }
            let ev = MarketEvent {
                venue: Venue::Binance,
                inst: msg.inst,
                recv_ns,
                exch_ms: msg.exch_ms,
                body: MarketBody::Depth(c),
            };
            if tx.try_send(ev).is_err() {
                return false;
            }
            first = false;
            if last {
                return true;
            }
        }
    }

    fn request_snapshot(&mut self, i: usize) {
        let st = &mut self.states[i];
        if st.snapshot_in_flight || Instant::now() < st.next_snapshot_at {
            return;
        }
        // Pace snapshot requests across symbols: weight 20 each at limit 1000.
        let in_flight = self.states.iter().filter(|s| s.snapshot_in_flight).count();
        if in_flight >= 2 {
            return;
        }
        let st = &mut self.states[i];
        st.snapshot_in_flight = true;
        st.resyncs.inc();
        let url = format!(
            "{}/fapi/v1/depth?symbol={}&limit={}",
            self.cfg.rest_base.trim_end_matches('/'),
            st.symbol,
            self.cfg.snapshot_limit
        );
        tracing::debug!(symbol = st.symbol, url, "requesting depth snapshot");
        self.rest.get(url, i);
    }

    fn on_parsed_depth(&mut self, recv_ns: u64) {
        let inst = self.parser.depth.inst;
        let Some(i) = self.state_of(inst) else { return };
        if !self.settle(i, recv_ns) {
            return;
        }
        let tx = &self.tx;
        let st = &mut self.states[i];
        let mut failed = false;
        let mut need_snapshot = false;
        let mut out_of_sync = false;
        st.sync.on_depth(&self.parser.depth, &mut |o| match o {
            SyncOut::Apply { msg, reset } => {
                if !failed && !Self::emit_depth(tx, msg, reset, recv_ns) {
                    failed = true;
                }
            }
            SyncOut::OutOfSync => out_of_sync = true,
            SyncOut::NeedSnapshot => need_snapshot = true,
        });
        if out_of_sync {
            st.gaps.inc();
            tracing::warn!(
                symbol = st.symbol,
                "sequence gap (pu != previous u); resyncing this symbol"
            );
            st.owe_out_of_sync = true;
            self.settle(i, recv_ns);
        }
        if failed {
            self.desync(i, recv_ns);
        } else if need_snapshot {
            self.request_snapshot(i);
        }
    }

    fn log_parse_error(&mut self, e: ParseError, frame: &[u8]) {
        self.error_logs += 1;
        // One line for the first error of a run, then every 1000th.
        if self.error_logs == 1 || self.error_logs.is_multiple_of(1000) {
            let snippet = String::from_utf8_lossy(&frame[..frame.len().min(160)]);
            tracing::warn!(venue = "binance", error = %e, count = self.error_logs, frame = %snippet, "frame rejected");
        }
    }
}

impl Protocol for BinanceFeed {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    fn url(&self) -> String {
        stream_url(&self.cfg)
    }

    fn on_open(&mut self, _out: &mut Vec<String>) {
        // Streams are named in the URL; nothing to send.
    }

    fn on_frame(&mut self, frame: &[u8], recv_ns: u64) {
        match self.parser.parse(frame, &self.syms) {
            Ok(Msg::Depth) => {
                self.counters.depth.inc();
                if self.cfg.streams.depth {
                    self.on_parsed_depth(recv_ns);
                }
            }
            Ok(Msg::Bbo { inst, exch_ms, bbo }) => {
                self.counters.bbo.inc();
                if let Some(i) = self.state_of(inst)
                    && self.settle(i, recv_ns)
                {
                    let _ = self.tx.try_send(MarketEvent {
                        venue: Venue::Binance,
                        inst,
                        recv_ns,
                        exch_ms,
                        body: MarketBody::Bbo(bbo),
                    });
                }
            }
            Ok(Msg::Trade {
                inst,
                exch_ms,
                trade,
            }) => {
                self.counters.trade.inc();
                let _ = self.tx.try_send(MarketEvent {
                    venue: Venue::Binance,
                    inst,
                    recv_ns,
                    exch_ms,
                    body: MarketBody::Trade(trade),
                });
            }
            Ok(Msg::VenueError { code }) => {
                self.counters.other.inc();
                tracing::warn!(venue = "binance", code, "venue sent an error message");
            }
            Ok(Msg::Ack { .. }) | Ok(Msg::Ignored) => self.counters.other.inc(),
            Err(ParseError::UnknownSymbol) => {
                self.counters.unknown_symbol.inc();
            }
            Err(e) => {
                self.shared
                    .metrics
                    .feed_parse_errors
                    .with_label_values(&["binance", e.reason()])
                    .inc();
                self.log_parse_error(e, frame);
            }
        }
    }

    fn on_rest(&mut self, reply: RestReply) {
        let i = reply.tag;
        if i >= self.states.len() {
            return;
        }
        self.states[i].snapshot_in_flight = false;
        let recv_ns = crate::core::now_ns();
        let body = match reply.result {
            Ok(b) => b,
            Err(e) => {
                let st = &mut self.states[i];
                st.snapshot_errors.inc();
                st.snapshot_failures += 1;
                let wait =
                    Duration::from_millis((250u64 << st.snapshot_failures.min(7)).min(30_000));
                st.next_snapshot_at = Instant::now() + wait;
                tracing::warn!(
                    symbol = st.symbol,
                    error = e,
                    retry_ms = wait.as_millis() as u64,
                    "depth snapshot failed"
                );
                return;
            }
        };
        let inst = self.states[i].inst;
        let symbol = self.states[i].symbol.clone();
        if let Err(e) = self
            .snap_parser
            .parse_snapshot(&body, inst, &self.syms, &symbol)
        {
            let st = &mut self.states[i];
            st.snapshot_errors.inc();
            st.snapshot_failures += 1;
            st.next_snapshot_at = Instant::now() + Duration::from_millis(1000);
            tracing::warn!(symbol, error = %e, "depth snapshot unreadable");
            return;
        }
        if !self.settle(i, recv_ns) {
            // Cannot even say out-of-sync yet; retry the snapshot later.
            self.states[i].next_snapshot_at = Instant::now() + Duration::from_millis(100);
            return;
        }
        let tx = &self.tx;
        let st = &mut self.states[i];
        st.snapshot_failures = 0;
        let mut failed = false;
        let mut need = false;
        let mut oos = false;
        st.sync
            .on_snapshot(&self.snap_parser.depth, &mut |o| match o {
                SyncOut::Apply { msg, reset } => {
                    if !failed && !Self::emit_depth(tx, msg, reset, recv_ns) {
                        failed = true;
                    }
                }
                SyncOut::OutOfSync => oos = true,
                SyncOut::NeedSnapshot => need = true,
            });
        if oos {
            st.gaps.inc();
            st.owe_out_of_sync = true;
        }
        if failed {
            tracing::warn!(
                symbol = st.symbol,
                "book queue full while applying snapshot; resyncing"
            );
            self.desync(i, recv_ns);
            self.states[i].next_snapshot_at = Instant::now() + Duration::from_millis(50);
        } else {
            if oos {
                self.settle(i, recv_ns);
            }
            if need {
                self.request_snapshot(i);
            } else if self.states[i].sync.is_synced() {
                tracing::info!(
                    symbol = self.states[i].symbol,
                    last_update_id = self.snap_parser.depth.last_id,
                    "book synced from snapshot"
                );
            }
        }
    }

    fn on_tick(&mut self, _out: &mut Vec<String>) {
        let now = crate::core::now_ns();
        for i in 0..self.states.len() {
            self.settle(i, now);
            let st = &self.states[i];
            if self.cfg.streams.depth && !st.owe_out_of_sync && st.sync.awaiting_snapshot() {
                self.request_snapshot(i);
            }
        }
    }

    fn on_close(&mut self) {
        if !self.cfg.streams.depth {
            return;
        }
        let now = crate::core::now_ns();
        for i in 0..self.states.len() {
            self.states[i].snapshot_in_flight = false;
            self.desync(i, now);
        }
    }
}
