//! One OKX v5 public connection: subscribes `books` (or `books5`),
//! `trades`, `bbo-tbt` and `tickers` for its instruments in one op, keeps each instrument's
//! `seqId`/`prevSeqId` chain and verifies non-zero checksums (a gap or
//! mismatch resubscribes **that instrument only**; the others keep trading),
//! converts contract sizes to base quantities, sends the text `ping` when
//! nothing arrived for 25 s, reconnects ahead of a `64008` service-upgrade
//! notice, detects per-instrument staleness (resubscribe, then reconnect),
//! and paces subscribe ops (OKX allows 480 per hour per connection).

use super::parse::{BookChannel, Event, Msg, Parser};
use super::sync::{InstSync, Step};
use crate::core::{MarketEvent, Venue};
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

/// Subscribe/unsubscribe/login ops OKX allows per connection per hour.
pub const OPS_PER_HOUR: usize = 480;
/// Depth channels we put on one connection (OKX: keep it below 30).
pub const BOOKS_PER_CONNECTION: usize = 29;

/// Settings of one OKX connection.
#[derive(Debug, Clone)]
pub struct OkxFeedConfig {
    /// Full URL (`wss://ws.okx.com:8443/ws/v5/public`).
    pub ws_url: String,
    pub symbols: Vec<String>,
    /// 400 = `books`, 5 = `books5`.
    pub depth: u32,
    /// Send `ping` when nothing arrived for this long (OKX: < 30 s).
    pub ping_idle: Duration,
    pub stale_after: Duration,
    /// Contract value per instrument (as OKX writes `ctVal`).
    pub ct_vals: HashMap<String, String>,
}

impl OkxFeedConfig {
    fn book_channel(&self) -> &'static str {
        if self.depth == 5 { "books5" } else { "books" }
    }
}

/// Splits instruments into connections of at most [`BOOKS_PER_CONNECTION`].
pub fn plan_connections(symbols: &[String]) -> Vec<Vec<String>> {
    symbols
        .chunks(BOOKS_PER_CONNECTION)
        .map(|c| c.to_vec())
        .collect()
}

fn op_message(op: &str, id: u64, args: &[(&str, &str)]) -> String {
    let mut s = format!("{{\"id\":\"{id}\",\"op\":\"{op}\",\"args\":[");
    for (i, (ch, inst)) in args.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("{{\"channel\":\"{ch}\",\"instId\":\"{inst}\"}}"));
    }
    s.push_str("]}");
    s
}

struct Sym {
    link: SymLink,
    sync: InstSync,
}

pub struct OkxFeed {
    cfg: OkxFeedConfig,
    shared: Arc<Shared>,
    parser: Parser,
    syms: WireSymbols,
    states: Vec<Sym>,
    by_inst: Vec<Option<usize>>,
    em: Emitter,
    gate: Option<ConnectGate>,
    ops: RateWindow,
    op_id: u64,
    last_rx: Instant,
    subscribed: bool,
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
    /// `qt_feed_messages_total{kind="bbo"|"ticker"}`: `bbo-tbt`, `tickers`.
    bbo_msgs: IntCounter,
    ticker_msgs: IntCounter,
}

impl OkxFeed {
    pub fn new(
        cfg: OkxFeedConfig,
        shared: Arc<Shared>,
        tx: LocalTx<MarketEvent>,
        gate: Option<ConnectGate>,
    ) -> OkxFeed {
        let m = &shared.metrics;
        let v = Venue::Okx.as_str();
        let syms = WireSymbols::new(&shared.instruments, Venue::Okx, &cfg.ct_vals);
        let mut by_inst = vec![None; shared.instruments.len()];
        let states: Vec<Sym> = cfg
            .symbols
            .iter()
            .filter_map(|s| shared.instruments.find(Venue::Okx, s).map(|id| (s, id)))
            .enumerate()
            .map(|(i, (s, id))| {
                by_inst[id.idx()] = Some(i);
                Sym {
                    link: SymLink::new(id, s, v, m),
                    sync: InstSync::new(),
                }
            })
            .collect();
        OkxFeed {
            syms,
            states,
            by_inst,
            em: Emitter {
                venue: Venue::Okx,
                tx,
            },
            gate,
            ops: RateWindow::new(OPS_PER_HOUR, Duration::from_secs(3600)),
            op_id: 0,
            last_rx: Instant::now(),
            subscribed: false,
            live: false,
            reconnect: None,
            parse_errors: 0,
            rest_tx: None,
            unknown_symbol: m.feed_unknown_symbol.with_label_values(&[v]),
            rejections: m.venues.subscribe_rejections.with_label_values(&[v]),
            other: m.feed_messages.with_label_values(&[v, "other"]),
            depth_msgs: m.feed_messages.with_label_values(&[v, "depth"]),
            trade_msgs: m.feed_messages.with_label_values(&[v, "trade"]),
            bbo_msgs: m.feed_messages.with_label_values(&[v, "bbo"]),
            ticker_msgs: m.feed_messages.with_label_values(&[v, "ticker"]),
            parser: Parser::new(),
            cfg,
            shared,
        }
    }

    /// Holds the sender of the session's REST-reply channel.
    pub fn keep_rest_sender(&mut self, tx: tokio::sync::mpsc::Sender<RestReply>) {
        self.rest_tx = Some(tx);
    }

    pub fn queue_len(&self) -> usize {
        self.em.queue_len()
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
        let checks = st.sync.checksum_checks;
        let step = st.sync.on_book(m);
        if st.sync.checksum_checks != checks {
            st.link.c.checksum_checks.inc();
        }
        match step {
            Step::Apply { reset } => {
                st.link.touch(Instant::now());
                if reset {
                    st.link.resub_pending = false;
                    st.link.resyncs.synced();
                }
                let id = m.seq.unwrap_or(0).max(0) as u64;
                if !em.depth(inst, recv_ns, m.exch_ms, id, reset, &m.bids, &m.asks, |l| {
                    l.level()
                }) {
                    tracing::warn!(
                        symbol = st.link.symbol,
                        "book queue full; resyncing this instrument"
                    );
                    st.sync.reset();
                    st.link.desync(em, recv_ns);
                }
            }
            Step::KeepAlive => st.link.touch(Instant::now()),
            Step::Waiting => {}
            Step::Gap => {
                st.link.gaps.inc();
                tracing::warn!(
                    symbol = st.link.symbol,
                    prev_seq = m.prev_seq,
                    "okx sequence gap (prevSeqId != last seqId); resubscribing this instrument"
                );
                st.link.desync(em, recv_ns);
            }
            Step::MissingSeqIds => {
                st.link.gaps.inc();
                tracing::warn!(
                    symbol = st.link.symbol,
                    seq = m.seq,
                    prev_seq = m.prev_seq,
                    snapshot = m.snapshot,
                    "okx book message without seqId/prevSeqId: continuity unproven; resubscribing this instrument"
                );
                st.link.desync(em, recv_ns);
            }
            Step::ChecksumMismatch => {
                st.link.c.checksum_failures.inc();
                st.link.gaps.inc();
                tracing::warn!(
                    symbol = st.link.symbol,
                    checksum = m.checksum,
                    "okx checksum mismatch; resubscribing this instrument"
                );
                st.link.desync(em, recv_ns);
            }
        }
    }

    fn resubscribe_pending(&mut self, out: &mut Vec<String>) {
        if self.reconnect.is_some() {
            return;
        }
        let pending: Vec<usize> = (0..self.states.len())
            .filter(|&i| self.states[i].link.resub_pending && !self.states[i].link.owe_oos)
            .collect();
        if pending.is_empty() {
            return;
        }
        let now = Instant::now();
        if self.ops.available(now) < 2 {
            // The hourly op budget is spent: a new connection has a new one.
            tracing::warn!(
                venue = "okx",
                "subscribe-op budget spent; reconnecting to resync"
            );
            self.reconnect = Some("op_budget");
            return;
        }
        self.ops.try_take(now);
        self.ops.try_take(now);
        let ch = self.cfg.book_channel();
        let args: Vec<(&str, &str)> = pending
            .iter()
            .map(|&i| (ch, self.states[i].link.symbol.as_str()))
            .collect();
        let id1 = self.op_id + 1;
        let id2 = self.op_id + 2;
        out.push(op_message("unsubscribe", id1, &args));
        out.push(op_message("subscribe", id2, &args));
        self.op_id += 2;
        for &i in &pending {
            let st = &mut self.states[i];
            st.sync.reset();
            st.link.resub_pending = false;
            st.link.resyncs.begin();
            st.link.c.resubscribes.inc();
            st.link.last_book = now;
        }
    }

    fn log_parse_error(&mut self, e: ParseError, frame: &[u8]) {
        self.parse_errors += 1;
        self.shared
            .metrics
            .feed_parse_errors
            .with_label_values(&["okx", e.reason()])
            .inc();
        if self.parse_errors == 1 || self.parse_errors.is_multiple_of(1000) {
            let snippet = String::from_utf8_lossy(&frame[..frame.len().min(160)]);
            tracing::warn!(venue = "okx", error = %e, count = self.parse_errors, frame = %snippet, "frame rejected");
        }
    }
}

impl Protocol for OkxFeed {
    fn venue(&self) -> Venue {
        Venue::Okx
    }

    fn url(&self) -> String {
        self.cfg.ws_url.clone()
    }

    fn connect_delay(&mut self) -> Duration {
        self.gate.as_ref().map(|g| g.acquire()).unwrap_or_default()
    }

    fn on_open(&mut self, out: &mut Vec<String>) {
        let now = Instant::now();
        self.last_rx = now;
        self.reconnect = None;
        self.subscribed = false;
        self.live = false;
        // A new connection has a fresh op budget.
        self.ops = RateWindow::new(OPS_PER_HOUR, Duration::from_secs(3600));
        for st in &mut self.states {
            st.sync.reset();
            st.link.resub_pending = false;
            st.link.touch(now);
            // A (re)connection rebuilds every book (a resync after the first).
            st.link.resyncs.begin();
        }
        let ch = self.cfg.book_channel();
        let mut args: Vec<(&str, &str)> = Vec::new();
        for st in &self.states {
            args.push((ch, st.link.symbol.as_str()));
            args.push(("trades", st.link.symbol.as_str()));
            // Top of book tick by tick, and the ticker (both parsed to BBOs).
            args.push(("bbo-tbt", st.link.symbol.as_str()));
            args.push(("tickers", st.link.symbol.as_str()));
        }
        if args.is_empty() {
            return;
        }
        let msg = op_message("subscribe", self.op_id + 1, &args);
        self.op_id += 1;
        self.ops.try_take(now);
        out.push(msg);
    }

    fn on_frame(&mut self, frame: &[u8], recv_ns: u64) {
        self.last_rx = Instant::now();
        if frame == b"pong" {
            self.other.inc();
            return;
        }
        match self.parser.parse(frame, &self.syms) {
            Ok(Msg::Book) => {
                if self.parser.book.channel == BookChannel::Books5 || self.cfg.depth != 5 {
                    self.on_book(recv_ns)
                }
            }
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
            Ok(Msg::Bbo {
                inst,
                exch_ms,
                bbo,
                ticker,
            }) => {
                if ticker {
                    self.ticker_msgs.inc();
                } else {
                    self.bbo_msgs.inc();
                }
                if let Some(i) = self.by_inst.get(inst.idx()).copied().flatten() {
                    self.states[i].link.c.messages.inc();
                }
                if let Some(i) = self.by_inst.get(inst.idx()).copied().flatten()
                    && self.states[i].link.settle(&self.em, recv_ns)
                {
                    let _ = self.em.bbo(inst, recv_ns, exch_ms, bbo);
                }
            }
            Ok(Msg::Event(ev)) => {
                self.other.inc();
                match ev {
                    Event::Subscribe => self.subscribed = true,
                    Event::Unsubscribe | Event::Other => {}
                    Event::Error { code } => {
                        self.rejections.inc();
                        let text = String::from_utf8_lossy(&frame[..frame.len().min(200)]);
                        tracing::warn!(venue = "okx", code, reply = %text, "venue error event");
                    }
                    Event::Notice { code } => {
                        tracing::warn!(
                            venue = "okx",
                            code,
                            "venue notice; reconnecting ahead of the service upgrade"
                        );
                        if code == 64008 {
                            self.reconnect = Some("venue_notice");
                        }
                    }
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
        if now.duration_since(self.last_rx) >= self.cfg.ping_idle {
            out.push("ping".to_string());
            // Count the ping as activity so it is sent once per idle period.
            self.last_rx = now;
        }
        self.live = self.subscribed || self.states.iter().any(|s| s.sync.is_synced());
        for i in 0..self.states.len() {
            let st = &mut self.states[i];
            st.link.settle(&self.em, now_ns);
            st.link
                .c
                .book_age
                .set(now.duration_since(st.link.last_book).as_secs_f64());
            match st.link.check_stale(now, self.cfg.stale_after) {
                Stale::Fresh => {}
                Stale::Resubscribe => {
                    tracing::warn!(
                        symbol = st.link.symbol,
                        "okx instrument stale; resubscribing"
                    );
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
                        "okx instrument still stale; reconnecting"
                    );
                    self.reconnect = Some("stale_symbol");
                }
            }
        }
        self.resubscribe_pending(out);
    }

    fn on_close(&mut self) {
        let now = crate::core::now_ns();
        self.live = false;
        self.subscribed = false;
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
    fn op_message_shape() {
        assert_eq!(
            op_message("subscribe", 3, &[("books", "BTC-USDT-SWAP")]),
            r#"{"id":"3","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT-SWAP"}]}"#
        );
        let syms: Vec<String> = (0..200).map(|i| format!("S{i}-USDT-SWAP")).collect();
        let plan = plan_connections(&syms);
        assert_eq!(plan.len(), 7);
        assert!(plan.iter().all(|c| c.len() <= BOOKS_PER_CONNECTION));
    }
}
