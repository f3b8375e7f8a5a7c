//! The book stage: owns every instrument's L2 book, applies depth chunks from
//! the feeds, tracks sync state, answers book queries from the ops side
//! between updates (never mid-update), and hands the top of book, with the
//! best cross-venue prices for its underlying, to the score stage.

use super::consolidated::{Consolidated, rescale};
use super::l2::L2Book;
use crate::core::{
    BookTop, FeedStatus, InstrumentId, Level, MarketBody, MarketEvent, ScoreInput, TOP_LEVELS,
    now_ns,
};
use crate::pipeline::channel::{Next, Rx, Tx};
use crate::pipeline::latency::LatencyRecorder;
use crate::pipeline::shared::{BookQuery, BookSnapshot, Shared};
use prometheus::{IntCounter, IntGauge};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

struct BookMetrics {
    updates: IntCounter,
    in_sync: IntGauge,
    bid_levels: IntGauge,
    ask_levels: IntGauge,
    dropped: IntCounter,
    dropped_seen: u64,
}

/// Default capacity of each book side.
pub const MAX_LEVELS: usize = 20_000;

pub struct BookStage {
    books: Vec<L2Book>,
    /// Cross-venue view per underlying (peers, leader, lead-lag).
    cons: Consolidated,
    /// Price scale of each instrument (cross-venue prices are rescaled).
    scales: Vec<u8>,
    last_publish_ns: u64,
    metrics: Vec<BookMetrics>,
    /// The in-sync state last written to the shared health atomics.
    published_in_sync: Vec<bool>,
    pending_queries: Vec<BookQuery>,
    shared: Arc<Shared>,
}

impl BookStage {
    pub fn new(shared: Arc<Shared>, max_levels: usize) -> BookStage {
        let table = &shared.instruments;
        let books = table
            .iter()
            .map(|i| L2Book::with_tick(max_levels, i.tick))
            .collect();
        let cons = Consolidated::new(table);
        let scales = table.iter().map(|i| i.price_scale).collect();
        let m = &shared.metrics;
        let metrics = table
            .iter()
            .map(|i| {
                let l = [i.venue.as_str(), i.symbol.as_str()];
                BookMetrics {
                    updates: m.book_updates.with_label_values(&l),
                    in_sync: m.book_in_sync.with_label_values(&l),
                    bid_levels: m.book_levels.with_label_values(&[l[0], l[1], "bid"]),
                    ask_levels: m.book_levels.with_label_values(&[l[0], l[1], "ask"]),
                    dropped: m.book_dropped_levels.with_label_values(&l),
                    dropped_seen: 0,
                }
            })
            .collect();
        let published_in_sync = vec![false; table.len()];
        BookStage {
            books,
            cons,
            scales,
            last_publish_ns: 0,
            metrics,
            published_in_sync,
            pending_queries: Vec::with_capacity(64),
            shared,
        }
    }

    pub fn book(&self, inst: InstrumentId) -> Option<&L2Book> {
        self.books.get(inst.idx())
    }

    /// Best bid/ask across the in-sync venues of `inst`'s underlying, in
    /// `inst`'s price scale (0 if none).
    fn cross_venue(&self, inst: InstrumentId) -> (i64, i64) {
        let mut bid = 0;
        let mut ask = 0;
        let to = self.scales[inst.idx()];
        for p in self.cons.peers(inst) {
            let b = &self.books[p.idx()];
            if !b.in_sync {
                continue;
            }
            let from = self.scales[p.idx()];
            if let Some(l) = b.best_bid() {
                let px = rescale(l.px, from, to);
                if bid == 0 || px > bid {
                    bid = px;
                }
            }
            if let Some(l) = b.best_ask() {
                let px = rescale(l.px, from, to);
                if ask == 0 || px < ask {
                    ask = px;
                }
            }
        }
        (bid, ask)
    }

    /// Republishes the consolidated view of every underlying (at most every
    /// 50 ms; called between events).
    pub fn publish_consolidated(&mut self, now: u64) {
        if now.saturating_sub(self.last_publish_ns) < 50_000_000 {
            return;
        }
        self.last_publish_ns = now;
        let books = &self.books;
        let mut out = Vec::new();
        for u in self.cons.underlyings() {
            let v = self.cons.view_json(u, now, |id| {
                let b = &books[id.idx()];
                (b.in_sync, b.best_bid(), b.best_ask(), b.last_update_ns)
            });
            if let Some(v) = v {
                out.push((u.to_string(), v));
            }
        }
        let mut map = self.shared.consolidated.lock();
        for (u, v) in out {
            map.insert(u, v);
        }
    }

    fn top_of(&self, ev: &MarketEvent, now: u64) -> BookTop {
        let b = &self.books[ev.inst.idx()];
        let mut top = BookTop {
            venue: ev.venue,
            inst: ev.inst,
            recv_ns: ev.recv_ns,
            hop_ns: now,
            exch_ms: ev.exch_ms,
            update_id: b.update_id,
            in_sync: b.in_sync,
            n_bids: 0,
            n_asks: 0,
            bids: [Level::default(); TOP_LEVELS],
            asks: [Level::default(); TOP_LEVELS],
            xv_best_bid: 0,
            xv_best_ask: 0,
            xv_lead_lag_bps: self.cons.lead_lag_bps(ev.inst, now) as f32,
            extra: Default::default(),
        };
        let (nb, na) = b.top(&mut top.bids, &mut top.asks);
        top.n_bids = nb;
        top.n_asks = na;
        let (xb, xa) = self.cross_venue(ev.inst);
        top.xv_best_bid = xb;
        top.xv_best_ask = xa;
        if self.shared.model_ctl.wants_depth10() {
            let sum = |it: &mut dyn Iterator<Item = Level>| {
                it.take(10)
                    .fold(0i64, |s, l| s.saturating_add(l.qty.max(0)))
            };
            top.extra.bid_qty_10 = sum(&mut b.bids());
            top.extra.ask_qty_10 = sum(&mut b.asks());
        }
        top.extra.xv_other_mid = self.other_venues_mid(ev.inst);
        top.extra.xv_leader = self.cons.leader(ev.inst) == Some(ev.inst);
        top
    }

    /// Mean mid of the other in-sync, two-sided books of `inst`'s
    /// underlying, in quote units (0 if none).
    fn other_venues_mid(&self, inst: InstrumentId) -> f64 {
        let (mut sum, mut n) = (0.0, 0u32);
        for p in self.cons.peers(inst) {
            if *p == inst {
                continue;
            }
            let b = &self.books[p.idx()];
            if let (true, Some(bid), Some(ask)) = (b.in_sync, b.best_bid(), b.best_ask()) {
                let scale = crate::core::fixed::pow10(self.scales[p.idx()]) as f64;
                sum += (bid.px + ask.px) as f64 * 0.5 / scale;
                n += 1;
            }
        }
        if n == 0 { 0.0 } else { sum / n as f64 }
    }

    /// Applies one event; returns what to hand to the score stage.
    #[inline]
    pub fn apply(&mut self, ev: &MarketEvent, now: u64) -> Option<ScoreInput> {
        let idx = ev.inst.idx();
        if idx >= self.books.len() {
            return None;
        }
        match &ev.body {
            MarketBody::Depth(c) => {
                let book = &mut self.books[idx];
                if !book.apply_chunk(c) {
                    return None;
                }
                book.last_update_ns = now;
                book.exch_ms = ev.exch_ms;
                let h = &self.shared.books[idx];
                // Published at the end of an update: a snapshot's RESET chunk
                // is rarely its END chunk.
                if book.in_sync != self.published_in_sync[idx] {
                    tracing::debug!(
                        inst = idx,
                        in_sync = book.in_sync,
                        update_id = book.update_id,
                        "book sync state"
                    );
                    self.published_in_sync[idx] = book.in_sync;
                    h.in_sync.store(book.in_sync, Ordering::Relaxed);
                    self.metrics[idx].in_sync.set(book.in_sync as i64);
                }
                if book.in_sync {
                    self.cons
                        .on_top(ev.inst, book.best_bid(), book.best_ask(), now);
                }
                h.last_update_ns.store(now, Ordering::Relaxed);
                h.update_id.store(book.update_id, Ordering::Relaxed);
                h.updates.fetch_add(1, Ordering::Relaxed);
                self.metrics[idx].updates.inc();
                Some(ScoreInput::Book(self.top_of(ev, now)))
            }
            MarketBody::Status(FeedStatus::OutOfSync) => {
                tracing::debug!(inst = idx, "book out of sync");
                let book = &mut self.books[idx];
                book.in_sync = false;
                book.mid_update = false;
                self.published_in_sync[idx] = false;
                self.shared.books[idx]
                    .in_sync
                    .store(false, Ordering::Relaxed);
                self.metrics[idx].in_sync.set(0);
                Some(ScoreInput::Book(self.top_of(ev, now)))
            }
            MarketBody::Trade(t) => Some(ScoreInput::Trade {
                venue: ev.venue,
                inst: ev.inst,
                recv_ns: ev.recv_ns,
                hop_ns: now,
                exch_ms: ev.exch_ms,
                trade: *t,
            }),
            MarketBody::Bbo(b) => {
                if let Some(t) = self.shared.tickers.get(idx) {
                    t.store(b.bid, b.ask, ev.exch_ms);
                }
                None
            }
        }
    }

    /// Answers queued book queries for books that are not mid-update.
    pub fn answer_queries(&mut self) {
        while self.pending_queries.len() < 64 {
            match self.shared.book_query_rx.try_recv() {
                Ok(q) => self.pending_queries.push(q),
                Err(_) => break,
            }
        }
        let books = &self.books;
        self.pending_queries.retain(|q| {
            let Some(b) = books.get(q.inst.idx()) else {
                let _ = q.reply.try_send(BookSnapshot::default());
                return false;
            };
            if b.mid_update {
                return true;
            }
            let snap = BookSnapshot {
                in_sync: b.in_sync,
                update_id: b.update_id,
                last_update_ns: b.last_update_ns,
                bids: b.bids().take(q.depth).map(|l| (l.px, l.qty)).collect(),
                asks: b.asks().take(q.depth).map(|l| (l.px, l.qty)).collect(),
            };
            let _ = q.reply.try_send(snap);
            false
        });
    }

    /// Refreshes the per-book gauges (called when idle).
    pub fn refresh_gauges(&mut self) {
        for (b, m) in self.books.iter().zip(self.metrics.iter_mut()) {
            m.bid_levels.set(b.bid_levels() as i64);
            m.ask_levels.set(b.ask_levels() as i64);
            if b.dropped > m.dropped_seen {
                m.dropped.inc_by(b.dropped - m.dropped_seen);
                m.dropped_seen = b.dropped;
            }
        }
    }
}

/// Runs the book stage until its input closes or the engine stops.
pub fn run_book_stage(
    mut rx: Rx<MarketEvent>,
    tx: Tx<ScoreInput>,
    shared: Arc<Shared>,
    max_levels: usize,
) {
    let mut stage = BookStage::new(shared.clone(), max_levels);
    let health = shared.stage("book").expect("book stage health exists");
    let mut lat = LatencyRecorder::new(&shared.latency, "book", shared.metrics.stage_hist("book"));
    let processed = shared.metrics.stage_processed.with_label_values(&["book"]);
    let mut n: u64 = 0;
    loop {
        match rx.next(Duration::from_millis(5)) {
            Next::Item(ev) => {
                let now = now_ns();
                if let Some(out) = stage.apply(&ev, now) {
                    lat.record(now.saturating_sub(ev.recv_ns));
                    let _ = tx.try_send(out);
                    if let (ScoreInput::Book(top), Some(p)) = (&out, shared.publish.get()) {
                        p.sample_top(top, now);
                    }
                }
                health.tick(now);
                n += 1;
                if n & 63 == 0 {
                    processed.inc_by(64);
                    health.backlog.store(rx.len() as u64, Ordering::Relaxed);
                    stage.answer_queries();
                    stage.publish_consolidated(now);
                }
            }
            Next::Idle => {
                processed.inc_by(n & 63);
                n &= !63;
                health.backlog.store(0, Ordering::Relaxed);
                stage.answer_queries();
                stage.refresh_gauges();
                stage.publish_consolidated(now_ns());
                lat.flush();
                if !shared.is_running() && rx.is_empty() {
                    break;
                }
            }
            Next::Closed => break,
        }
    }
    processed.inc_by(n & 63);
    lat.flush();
}
