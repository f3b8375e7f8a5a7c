//! One Bybit v5 public linear connection: subscribes `orderbook.{depth}`,
//! `publicTrade` and `tickers` for its symbols in paced batches, keeps each
//! topic's `u` continuity (a gap resubscribes **that topic only**: the other
//! symbols on the connection keep trading), merges ticker deltas, sends
//! `{"op":"ping"}` every 20 s and treats its pong as liveness, detects
//! per-symbol staleness (resubscribe, then reconnect) and hands fixed-point
//! events to the book stage. A full queue never corrupts a book: the symbol
//! is marked out of sync and resubscribed.

use super::parse::{Msg, Parser, TickerMsg};
use super::sync::{Step, TopicSync};
use crate::core::{Bbo, Level, Venue};
use crate::feed::{Protocol, RestReply};
use crate::pipeline::channel::LocalTx;
use crate::pipeline::shared::Shared;
use crate::venue::chunks::Emitter;
use crate::venue::error::ParseError;
use crate::venue::pacing::{ConnectGate, RateWindow};
use crate::venue::symbols::WireSymbols;
use crate::venue::symstate::{Stale, SymLink};
use prometheus::IntCounter;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bybit's cap on the total characters of one public connection's `args`.
pub const MAX_ARGS_CHARS: usize = 21_000;
/// Topics per subscribe message we send.
pub const TOPICS_PER_MESSAGE: usize = 10;
/// Subscribe/unsubscribe messages we allow ourselves per second per connection.
pub const OPS_PER_SEC: usize = 5;

/// Settings of one Bybit connection.
#[derive(Debug, Clone)]
pub struct BybitFeedConfig {
    /// Full URL (`wss://stream.bybit.com/v5/public/linear`).
    pub ws_url: String,
    pub symbols: Vec<String>,
    /// `orderbook.{depth}`: 1, 50, 200 or 1000.
    pub depth: u32,
    pub ping_interval: Duration,
    /// A symbol silent this long is stale (0 = never).
    pub stale_after: Duration,
}

/// The topics of one symbol.
pub fn topics(depth: u32, symbol: &str) -> [String; 3] {
    [
        format!("orderbook.{depth}.{symbol}"),
        format!("publicTrade.{symbol}"),
        format!("tickers.{symbol}"),
    ]
}

/// Splits symbols into connections so that no connection's subscribed
/// topics exceed Bybit's 21,000-character `args` cap (with margin).
pub fn plan_connections(symbols: &[String], depth: u32) -> Vec<Vec<String>> {
    let budget = MAX_ARGS_CHARS * 9 / 10;
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut used = 0;
    for s in symbols {
        // Each topic is quoted and comma-separated in the JSON array.
        let cost: usize = topics(depth, s).iter().map(|t| t.len() + 3).sum();
        if out.is_empty() || used + cost > budget {
            out.push(Vec::new());
            used = 0;
        }
        used += cost;
        if let Some(last) = out.last_mut() {
            last.push(s.clone());
        }
    }
    out
}

fn op_message(op: &str, req: u64, args: &[&str]) -> String {
    let mut s = format!("{{\"req_id\":\"{req}\",\"op\":\"{op}\",\"args\":[");
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        s.push_str(a);
        s.push('"');
    }
    s.push_str("]}");
    s
}

#[derive(Default, Clone, Copy)]
struct TickerState {
    bid: Level,
    ask: Level,
}

struct Sym {
    link: SymLink,
    sync: TopicSync,
    book_topic: String,
    ticker: TickerState,
}

pub struct BybitFeed {
    cfg: BybitFeedConfig,
    shared: Arc<Shared>,
    parser: Parser,
    syms: WireSymbols,
    states: Vec<Sym>,
    by_inst: Vec<Option<usize>>,
    em: Emitter,
    gate: Option<ConnectGate>,
    /// Subscribe messages still to send on this connection (paced).
    outbox: Vec<String>,
    ops: RateWindow,
    req_id: u64,
    last_ping: Instant,
    last_pong: Instant,
    live: bool,
    reconnect: Option<&'static str>,
    parse_errors: u64,
    /// Keeps the session's REST-reply channel open (an idle channel, not a
    /// closed one: the session polls it).
    rest_tx: Option<tokio::sync::mpsc::Sender<RestReply>>,
    unknown_symbol: IntCounter,
    rejections: IntCounter,
    other: IntCounter,
    /// `qt_feed_messages_total{kind}` (the status line's per-venue rates).
    depth_msgs: IntCounter,
    trade_msgs: IntCounter,
    ticker_msgs: IntCounter,
}

impl BybitFeed {
    pub fn new(
        cfg: BybitFeedConfig,
        shared: Arc<Shared>,
        tx: LocalTx<MarketEvent>,
        gate: Option<ConnectGate>,
    ) -> BybitFeed {
        let m = &shared.metrics;
        let v = Venue::Bybit.as_str();
        let syms = WireSymbols::new(&shared.instruments, Venue::Bybit, &HashMap::new());
        let mut by_inst = vec![None; shared.instruments.len()];
        let states: Vec<Sym> = cfg
            .symbols
            .iter()
            .filter_map(|s| shared.instruments.find(Venue::Bybit, s).map(|id| (s, id)))
            .enumerate()
            .map(|(i, (s, id))| {
                by_inst[id.idx()] = Some(i);
                Sym {
                    link: SymLink::new(id, s, v, m),
                    sync: TopicSync::new(),
                    book_topic: format!("orderbook.{}.{s}", cfg.depth),
                    ticker: TickerState::default(),
                }
            })
            .collect();
        BybitFeed {
            syms,
            states,
            by_inst,
            em: Emitter {
                venue: Venue::Bybit,
                tx,
            },
            gate,
            outbox: Vec::new(),
            ops: RateWindow::new(OPS_PER_SEC, Duration::from_secs(1)),
            req_id: 0,
            last_ping: Instant::now(),
            last_pong: Instant::now(),
            live: false,
            reconnect: None,
            parse_errors: 0,
            rest_tx: None,
            unknown_symbol: m.feed_unknown_symbol.with_label_values(&[v]),
            rejections: m.venues.subscribe_rejections.with_label_values(&[v]),
            other: m.feed_messages.with_label_values(&[v, "other"]),
            depth_msgs: m.feed_messages.with_label_values(&[v, "depth"]),
            trade_msgs: m.feed_messages.with_label_values(&[v, "trade"]),
            ticker_msgs: m.feed_messages.with_label_values(&[v, "ticker"]),
            parser: Parser::new(),
            cfg,
            shared,
        }
    }

    /// Events waiting in the feed-to-book queue.
    /// Holds the sender of the session's REST-reply channel.
    pub fn keep_rest_sender(&mut self, tx: tokio::sync::mpsc::Sender<RestReply>) {
        self.rest_tx = Some(tx);
    }

    pub fn queue_len(&self) -> usize {
        self.em.queue_len()
    }

    fn next_req(&mut self) -> u64 {
        self.req_id += 1;
        self.req_id
    }

    fn on_book(&mut self, recv_ns: u64) {
        self.depth_msgs.inc();
        let inst = self.parser.book.inst;
        let Some(i) = self.by_inst.get(inst.idx()).copied().flatten() else {
            return;
        };
        let em = &self.em;
        let st = &mut self.states[i];
        st.link.c.messages.inc();
        if !st.link.settle(em, recv_ns) {
            return;
        }
        let m = &self.parser.book;
        let restarts = st.sync.restarts;
        match st.sync.on_book(m) {
            Step::Apply { reset } => {
                st.link.touch(Instant::now());
                if st.sync.restarts != restarts {
                    st.link.c.restarts.inc();
                    tracing::warn!(
                        symbol = st.link.symbol,
                        "bybit service restart (u == 1): book replaced"
                    );
                }
                if reset {
                    st.link.resub_pending = false;
                    st.link.resyncs.synced();
                }
                if !em.depth(
                    inst,
                    recv_ns,
                    m.exch_ms,
                    m.u,
                    reset,
                    &m.bids,
                    &m.asks,
                    |l| *l,
                ) {
                    tracing::warn!(
                        symbol = st.link.symbol,
                        "book queue full; resyncing this symbol"
                    );
                    st.sync.reset();
                    st.link.desync(em, recv_ns);
                }
            }
            Step::Duplicate => st.link.touch(Instant::now()),
            Step::Waiting => {}
            Step::Gap => {
                st.link.gaps.inc();
                tracing::warn!(
                    symbol = st.link.symbol,
                    u = m.u,
                    "bybit sequence gap (u != previous u + 1); resubscribing this symbol"
                );
                st.link.desync(em, recv_ns);
            }
        }
    }

    fn on_ticker(&mut self, t: TickerMsg, recv_ns: u64) {
        let Some(i) = self.by_inst.get(t.inst.idx()).copied().flatten() else {
            return;
        };
        self.ticker_msgs.inc();
        let st = &mut self.states[i];
        st.link.c.messages.inc();
        if t.snapshot {
            st.ticker = TickerState::default();
        }
        let tk = &mut st.ticker;
        if let Some(v) = t.bid_px {
            tk.bid.px = v;
        }
        if let Some(v) = t.bid_qty {
            tk.bid.qty = v;
        }
        if let Some(v) = t.ask_px {
            tk.ask.px = v;
        }
        if let Some(v) = t.ask_qty {
            tk.ask.qty = v;
        }
        if tk.bid.px > 0 && tk.ask.px > 0 && st.link.settle(&self.em, recv_ns) {
            let bbo = Bbo {
                bid: tk.bid,
                ask: tk.ask,
                update_id: 0,
            };
            let _ = self.em.bbo(t.inst, recv_ns, t.exch_ms, bbo);
        }
    }

    /// Resubscribes every symbol whose book needs it, in paced batches.
    fn resubscribe_pending(&mut self, out: &mut Vec<String>) {
        let now = Instant::now();
        let pending: Vec<usize> = (0..self.states.len())
            .filter(|&i| self.states[i].link.resub_pending && !self.states[i].link.owe_oos)
            .collect();
        for batch in pending.chunks(TOPICS_PER_MESSAGE) {
            if self.ops.available(now) < 2 {
                return;
            }
            self.ops.try_take(now);
            self.ops.try_take(now);
            let topics: Vec<&str> = batch
                .iter()
                .map(|&i| self.states[i].book_topic.as_str())
                .collect();
            let r1 = self.req_id + 1;
            let r2 = self.req_id + 2;
            self.req_id += 2;
            out.push(op_message("unsubscribe", r1, &topics));
            out.push(op_message("subscribe", r2, &topics));
            for &i in batch {
                let st = &mut self.states[i];
                st.sync.reset();
                st.link.resub_pending = false;
                st.link.resyncs.begin();
                st.link.c.resubscribes.inc();
                // Give the new snapshot a full staleness period to arrive.
                st.link.last_book = now;
            }
        }
    }

    fn log_parse_error(&mut self, e: ParseError, frame: &[u8]) {
        self.parse_errors += 1;
        self.shared
            .metrics
            .feed_parse_errors
            .with_label_values(&["bybit", e.reason()])
            .inc();
        if self.parse_errors == 1 || self.parse_errors.is_multiple_of(1000) {
            let snippet = String::from_utf8_lossy(&frame[..frame.len().min(160)]);
            tracing::warn!(venue = "bybit", error = %e, count = self.parse_errors, frame = %snippet, "frame rejected");
        }
    }
}

use crate::core::MarketEvent;

impl Protocol for BybitFeed {
    fn venue(&self) -> Venue {
        Venue::Bybit
    }

    fn url(&self) -> String {
        self.cfg.ws_url.clone()
    }

    fn connect_delay(&mut self) -> Duration {
        self.gate.as_ref().map(|g| g.acquire()).unwrap_or_default()
    }

    fn on_open(&mut self, out: &mut Vec<String>) {
        let now = Instant::now();
        self.last_ping = now;
        self.last_pong = now;
        self.reconnect = None;
        self.live = false;
        self.outbox.clear();
        let all: Vec<String> = self
            .states
            .iter()
            .flat_map(|s| topics(self.cfg.depth, &s.link.symbol))
            .collect();
        for batch in all.chunks(TOPICS_PER_MESSAGE) {
            let refs: Vec<&str> = batch.iter().map(|s| s.as_str()).collect();
            let r = self.next_req();
            self.outbox.push(op_message("subscribe", r, &refs));
        }
        self.outbox.reverse();
        for st in &mut self.states {
            st.sync.reset();
            st.link.resub_pending = false;
            st.link.touch(now);
            // A (re)connection rebuilds every book (a resync after the first).
            st.link.resyncs.begin();
        }
        self.on_tick(out);
    }

    fn on_frame(&mut self, frame: &[u8], recv_ns: u64) {
        match self.parser.parse(frame, &self.syms) {
            Ok(Msg::Book) => self.on_book(recv_ns),
            Ok(Msg::Trades) => {
                self.trade_msgs.inc();
                for k in 0..self.parser.trades.len() {
                    let (inst, ms, t) = self.parser.trades[k];
                    if let Some(i) = self.by_inst.get(inst.idx()).copied().flatten() {
                        self.states[i].link.c.messages.inc();
                    }
                    let _ = self.em.trade(inst, recv_ns, ms, t);
                }
            }
            Ok(Msg::Ticker(t)) => self.on_ticker(t, recv_ns),
            Ok(Msg::Pong) => {
                self.other.inc();
                self.last_pong = Instant::now();
            }
            Ok(Msg::OpReply { ok, subscribe }) => {
                self.other.inc();
                if !ok {
                    self.rejections.inc();
                    let text = String::from_utf8_lossy(&frame[..frame.len().min(200)]);
                    tracing::warn!(venue = "bybit", subscribe, reply = %text, "venue refused a subscription request");
                }
            }
            Ok(Msg::Ignored) => self.other.inc(),
            Err(ParseError::UnknownSymbol) => self.unknown_symbol.inc(),
            Err(e) => self.log_parse_error(e, frame),
        }
    }

    fn on_rest(&mut self, _reply: RestReply) {}

    fn drain_outgoing(&mut self, out: &mut Vec<String>) {
        if self.live
            && self
                .states
                .iter()
                .any(|s| s.link.resub_pending && !s.link.owe_oos)
        {
            self.resubscribe_pending(out);
        }
    }

    fn on_tick(&mut self, out: &mut Vec<String>) {
        let now = Instant::now();
        let now_ns = crate::core::now_ns();
        // Initial subscriptions, paced.
        while !self.outbox.is_empty() && self.ops.try_take(now) {
            if let Some(m) = self.outbox.pop() {
                out.push(m);
            }
        }
        self.live = self.outbox.is_empty();
        if now.duration_since(self.last_ping) >= self.cfg.ping_interval {
            self.last_ping = now;
            let r = self.next_req();
            out.push(format!("{{\"req_id\":\"{r}\",\"op\":\"ping\"}}"));
        }
        if now.duration_since(self.last_pong) > self.cfg.ping_interval * 3 {
            self.reconnect = Some("no_pong");
        }
        for i in 0..self.states.len() {
            let st = &mut self.states[i];
            st.link.settle(&self.em, now_ns);
            st.link
                .c
                .book_age
                .set(now.duration_since(st.link.last_book).as_secs_f64());
            if !self.live {
                continue;
            }
            match st.link.check_stale(now, self.cfg.stale_after) {
                Stale::Fresh => {}
                Stale::Resubscribe => {
                    tracing::warn!(symbol = st.link.symbol, "bybit symbol stale; resubscribing");
                    if st.sync.is_synced() {
                        st.sync.reset();
                        st.link.desync(&self.em, now_ns);
                    } else {
                        st.link.resub_pending = true;
                    }
                }
                Stale::Reconnect => {
                    tracing::warn!(
                        symbol = st.link.symbol,
                        "bybit symbol still stale; reconnecting"
                    );
                    self.reconnect = Some("stale_symbol");
                }
            }
        }
        if self.live {
            self.resubscribe_pending(out);
        }
    }

    fn on_close(&mut self) {
        let now = crate::core::now_ns();
        self.live = false;
        for st in &mut self.states {
            st.sync.reset();
            st.link.owe_oos = true;
            st.link.resub_pending = false;
            st.link.settle(&self.em, now);
        }
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn wants_reconnect(&mut self) -> Option<&'static str> {
        self.reconnect.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_plan_respects_the_args_cap() {
        let syms: Vec<String> = (0..1000).map(|i| format!("SYM{i:05}USDT")).collect();
        let plan = plan_connections(&syms, 50);
        assert!(plan.len() > 1);
        assert_eq!(plan.iter().map(|c| c.len()).sum::<usize>(), 1000);
        for c in &plan {
            let chars: usize = c
                .iter()
                .flat_map(|s| topics(50, s))
                .map(|t| t.len() + 3)
                .sum();
            assert!(chars <= MAX_ARGS_CHARS, "{chars}");
        }
        assert_eq!(plan_connections(&syms[..2], 50).len(), 1);
    }

    #[test]
    fn op_messages() {
        assert_eq!(
            op_message("subscribe", 7, &["a", "b"]),
            r#"{"req_id":"7","op":"subscribe","args":["a","b"]}"#
        );
    }
}
