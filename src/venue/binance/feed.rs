//! Binance USD-M market-data protocol of one connection (its streams and
//! URL are planned in `plan`): frame parsing, per-symbol snapshot-and-diff sync (a gap resyncs that symbol
//! only), per-symbol staleness (a symbol whose depth stream stopped on an
//! open connection is resubscribed with `UNSUBSCRIBE`/`SUBSCRIBE`, paced
//! under Binance's 10 incoming messages/s, then the connection is renewed),
//! REST depth snapshots with retry pacing, and hand-off of fixed-point
//! events to the book stage. A full queue never corrupts a book: the symbol
//! is marked out of sync and resynced.

use super::parse::{DepthMsg, Msg, ParseError, Parser, SymbolMap};
use super::sync::{BookSync, SyncOut};
use crate::core::{
    CHUNK_END, CHUNK_LEVELS, CHUNK_RESET, DepthChunk, FeedStatus, InstrumentId, MarketBody,
    MarketEvent, Venue,
};
use crate::feed::{Protocol, RestClient, RestReply};
use crate::pipeline::channel::LocalTx;
use crate::pipeline::shared::Shared;
use crate::venue::error::Disposition;
use crate::venue::metrics::SymbolCounters;
use crate::venue::pacing::{ConnectGate, RateWindow};
use crate::venue::symstate::{ResyncCount, Stale, judge_stale};
use crate::venue::weight::Ticket;

pub use super::plan::{
    BinanceFeedConfig, MAX_STREAMS_PER_CONNECTION, Streams, plan_connections, stream_url,
    symbol_streams,
};
use prometheus::IntCounter;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Messages we send per second per connection (Binance disconnects above
/// 10 incoming messages/s, pongs included): an `UNSUBSCRIBE` and a
/// `SUBSCRIBE` count one each.
pub const OPS_PER_SEC: usize = 5;
/// Symbols resubscribed per `UNSUBSCRIBE`/`SUBSCRIBE` pair.
pub const SYMBOLS_PER_RESUBSCRIBE: usize = 50;

/// `{"method":"SUBSCRIBE","params":[...],"id":N}` (or `UNSUBSCRIBE`).
fn method_message(method: &str, id: u64, params: &[String]) -> String {
    serde_json::json!({ "method": method, "params": params, "id": id }).to_string()
}

struct SymState {
    inst: InstrumentId,
    symbol: String,
    sync: BookSync,
    /// An OutOfSync that could not be queued yet; nothing else for this
    /// symbol is sent until it is.
    owe_out_of_sync: bool,
    snapshot_in_flight: bool,
    /// Moves on when a queued snapshot request is no longer wanted (the
    /// connection closed, the symbol was resubscribed): the request is then
    /// dropped before it spends weight.
    snapshot_gen: Arc<AtomicU64>,
    next_snapshot_at: Instant,
    snapshot_failures: u32,
    gaps: IntCounter,
    /// `qt_feed_resyncs_total` (see [`ResyncCount`]).
    resyncs: ResyncCount,
    snapshot_errors: IntCounter,
    /// `qt_venue_*{venue="binance",symbol}`: messages, stale, resubscribes,
    /// book message age.
    c: SymbolCounters,
    /// Last depth message of this symbol on this connection.
    last_book: Instant,
    stale_strikes: u8,
    /// Its streams must be resubscribed (staleness).
    resub_pending: bool,
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
    tx: LocalTx<MarketEvent>,
    rest: RestClient,
    counters: Counters,
    error_logs: u64,
    gate: Option<ConnectGate>,
    /// Messages we sent (paced under Binance's incoming limit).
    ops: RateWindow,
    req_id: u64,
    reconnect: Option<&'static str>,
}

impl BinanceFeed {
    pub fn new(
        cfg: BinanceFeedConfig,
        shared: Arc<Shared>,
        tx: LocalTx<MarketEvent>,
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
                    snapshot_gen: Arc::new(AtomicU64::new(0)),
                    next_snapshot_at: Instant::now(),
                    snapshot_failures: 0,
                    gaps: m.feed_gaps.with_label_values(&[v, s]),
                    resyncs: ResyncCount::new(m.feed_resyncs.with_label_values(&[v, s])),
                    snapshot_errors: m.feed_snapshot_errors.with_label_values(&[v, s]),
                    c: m.venues.symbol(v, s),
                    last_book: Instant::now(),
                    stale_strikes: 0,
                    resub_pending: false,
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
            gate: None,
            ops: RateWindow::new(OPS_PER_SEC, Duration::from_secs(1)),
            req_id: 0,
            reconnect: None,
        }
    }

    /// Paces this connection's (re)connects with the venue's shared gate.
    pub fn with_gate(mut self, gate: ConnectGate) -> BinanceFeed {
        self.gate = Some(gate);
        self
    }

    /// Sends `UNSUBSCRIBE` then `SUBSCRIBE` for every symbol whose streams
    /// went stale, in batches, within [`OPS_PER_SEC`].
    /// Called from `on_tick` only (staleness is judged there), so nothing
    /// scans the symbols per frame.
    fn resubscribe_pending(&mut self, out: &mut Vec<String>) {
        if !self.states.iter().any(|s| s.resub_pending) {
            return;
        }
        let now = Instant::now();
        let pending: Vec<usize> = (0..self.states.len())
            .filter(|&i| self.states[i].resub_pending && !self.states[i].owe_out_of_sync)
            .collect();
        for batch in pending.chunks(SYMBOLS_PER_RESUBSCRIBE) {
            if self.ops.available(now) < 2 {
                return;
            }
            self.ops.try_take(now);
            self.ops.try_take(now);
            let params: Vec<String> = batch
                .iter()
                .flat_map(|&i| symbol_streams(&self.cfg, &self.states[i].symbol))
                .collect();
            out.push(method_message("UNSUBSCRIBE", self.req_id + 1, &params));
            out.push(method_message("SUBSCRIBE", self.req_id + 2, &params));
            self.req_id += 2;
            for &i in batch {
                let st = &mut self.states[i];
                st.resub_pending = false;
                st.c.resubscribes.inc();
                // A full staleness period for the new stream to deliver.
                st.last_book = now;
                tracing::info!(symbol = st.symbol, "binance streams resubscribed");
            }
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
    fn emit_depth(tx: &LocalTx<MarketEvent>, msg: &DepthMsg, reset: bool, recv_ns: u64) -> bool {
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
        // Pace snapshot requests across symbols (2 in flight per connection);
        // the venue's shared weight budget (see `RestClient::with_budget`)
        // queues them fairly across connections.
        let in_flight = self.states.iter().filter(|s| s.snapshot_in_flight).count();
        if in_flight >= 2 {
            return;
        }
        let st = &mut self.states[i];
        st.snapshot_in_flight = true;
        st.resyncs.begin();
        let url = format!(
            "{}/fapi/v1/depth?symbol={}&limit={}",
            self.cfg.rest_base.trim_end_matches('/'),
            st.symbol,
            self.cfg.snapshot_limit
        );
        tracing::debug!(symbol = st.symbol, url, "requesting depth snapshot");
        let ticket = Ticket::new(&st.snapshot_gen);
        self.rest.get_weighted(
            url,
            i,
            super::depth_weight(self.cfg.snapshot_limit),
            Some(ticket),
        );
    }

    fn on_parsed_depth(&mut self, recv_ns: u64) {
        let inst = self.parser.depth.inst;
        let Some(i) = self.state_of(inst) else { return };
        self.states[i].c.messages.inc();
        if !self.settle(i, recv_ns) {
            return;
        }
        let tx = &self.tx;
        let st = &mut self.states[i];
        st.last_book = Instant::now();
        st.stale_strikes = 0;
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
        if !out_of_sync && !failed && st.sync.is_synced() {
            // Synced by a bridging diff after the snapshot (or still in sync).
            st.resyncs.synced();
        }
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

    fn connect_delay(&mut self) -> Duration {
        self.gate.as_ref().map(|g| g.acquire()).unwrap_or_default()
    }

    fn on_open(&mut self, _out: &mut Vec<String>) {
        // Streams are named in the URL; nothing to send.
        let now = Instant::now();
        self.reconnect = None;
        for st in &mut self.states {
            st.last_book = now;
            st.stale_strikes = 0;
            st.resub_pending = false;
        }
    }

    fn wants_reconnect(&mut self) -> Option<&'static str> {
        self.reconnect.take()
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
                if let Some(i) = self.state_of(inst) {
                    self.states[i].c.messages.inc();
                }
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
                if let Some(i) = self.state_of(inst) {
                    self.states[i].c.messages.inc();
                }
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
                let after = match e.disposition() {
                    // 429/418: the venue budget now holds every request
                    // until Retry-After (counted and logged there): ask
                    // again at once, the request waits its turn in the
                    // budget.
                    Disposition::Retry { .. } if e.is_rate_limit() => {
                        st.next_snapshot_at = Instant::now();
                        return;
                    }
                    Disposition::Retry { after } => after,
                    // A snapshot is a read: nothing else is expected, and
                    // the book needs one whatever the answer was.
                    _ => Duration::ZERO,
                };
                st.snapshot_failures += 1;
                let backoff =
                    Duration::from_millis((250u64 << st.snapshot_failures.min(7)).min(30_000));
                let wait = backoff.max(after.min(Duration::from_secs(30)));
                st.next_snapshot_at = Instant::now() + wait;
                tracing::warn!(
                    symbol = st.symbol,
                    error = %e,
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
                self.states[i].resyncs.synced();
                tracing::info!(
                    symbol = self.states[i].symbol,
                    last_update_id = self.snap_parser.depth.last_id,
                    "book synced from snapshot"
                );
            }
        }
    }

    fn on_tick(&mut self, out: &mut Vec<String>) {
        let now = crate::core::now_ns();
        let t = Instant::now();
        for i in 0..self.states.len() {
            self.settle(i, now);
            if self.cfg.streams.depth {
                let after = self.cfg.stale_after;
                let st = &mut self.states[i];
                st.c.book_age
                    .set(t.duration_since(st.last_book).as_secs_f64());
                match judge_stale(
                    &mut st.last_book,
                    &mut st.stale_strikes,
                    &st.c.stale,
                    t,
                    after,
                ) {
                    Stale::Fresh => {}
                    Stale::Resubscribe => {
                        tracing::warn!(
                            symbol = st.symbol,
                            silent_ms = after.as_millis() as u64,
                            "binance symbol stale on an open connection; resubscribing"
                        );
                        st.resub_pending = true;
                        st.snapshot_in_flight = false;
                        st.snapshot_gen.fetch_add(1, Ordering::Relaxed);
                        self.desync(i, now);
                    }
                    Stale::Reconnect => {
                        tracing::warn!(
                            symbol = st.symbol,
                            "binance symbol still stale after a resubscribe; reconnecting"
                        );
                        self.reconnect = Some("stale_symbol");
                    }
                }
            }
            let st = &self.states[i];
            if self.cfg.streams.depth && !st.owe_out_of_sync && st.sync.awaiting_snapshot() {
                self.request_snapshot(i);
            }
        }
        self.resubscribe_pending(out);
    }

    fn on_close(&mut self) {
        if !self.cfg.streams.depth {
            return;
        }
        let now = crate::core::now_ns();
        for i in 0..self.states.len() {
            self.states[i].snapshot_in_flight = false;
            self.states[i].snapshot_gen.fetch_add(1, Ordering::Relaxed);
            self.desync(i, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(symbols: Vec<String>, streams: Streams) -> BinanceFeedConfig {
        BinanceFeedConfig {
            ws_base: "ws://x".into(),
            rest_base: String::new(),
            symbols,
            depth_speed_ms: 100,
            snapshot_limit: 1000,
            streams,
            stale_after: Duration::ZERO,
        }
    }

    #[test]
    fn resubscribe_messages() {
        let c = cfg(vec!["BTCUSDT".into()], Streams::ALL);
        let names = symbol_streams(&c, "BTCUSDT");
        assert_eq!(
            names,
            [
                "btcusdt@depth@100ms",
                "btcusdt@bookTicker",
                "btcusdt@aggTrade"
            ]
        );
        assert_eq!(
            method_message("SUBSCRIBE", 3, &names[..1]),
            r#"{"id":3,"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"]}"#
        );
    }
}
