//! The book stage: owns every instrument's L2 book, applies depth chunks from
//! the feeds, tracks sync state, answers book queries from the ops side
//! between updates (never mid-update), and hands the top of book, with the
//! best cross-venue prices for its underlying, to the score stage.
//!
//! Book queries (`/api/books`) are answered promptly without stalling the
//! hot path: after each event the stage looks at the query queue (one atomic
//! load when it is empty) and answers at most [`QUERIES_PER_TURN`] query, a
//! copy of at most [`MAX_QUERY_DEPTH`] levels per side; when idle it answers
//! every waiting one. The query queue itself is bounded (64, `Shared`).

use super::consolidated::{Consolidated, rescale};
use super::l2::L2Book;
use crate::core::{
    BookTop, FeedStatus, InstrumentId, Level, MarketBody, MarketEvent, ScoreInput, TOP_LEVELS,
    now_ns,
};
use crate::pipeline::channel::{Next, RingTx, Rx};
use crate::pipeline::shared::{BookQuery, BookSnapshot, Shared};
use crate::telemetry::latency::LatencyRecorder;
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

/// Book queries answered after one event while events flow: bounds what the
/// ops side adds to one event's latency to one bounded copy.
pub const QUERIES_PER_TURN: usize = 1;

/// The most levels per side one query copies (`/api/books?depth=` is
/// refused above it).
pub const MAX_QUERY_DEPTH: usize = 5000;

/// Queries waiting for a book that is mid-update (never more).
const MAX_PENDING_QUERIES: usize = 64;

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
        crate::pipeline::thread::timed_work(|| self.publish_consolidated_now(now));
    }

    fn publish_consolidated_now(&mut self, now: u64) {
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
        if self.shared.wants_depth10.load(Ordering::Relaxed) {
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

    /// Whether a book query waits (one atomic load when none does).
    #[inline]
    pub fn queries_waiting(&self) -> bool {
        !self.pending_queries.is_empty() || !self.shared.book_query_rx.is_empty()
    }

    /// Answers `q` unless its book is mid-update (then false: keep it).
    fn try_answer(books: &[L2Book], q: &BookQuery) -> bool {
        let Some(b) = books.get(q.inst.idx()) else {
            let _ = q.reply.try_send(BookSnapshot::default());
            return true;
        };
        if b.mid_update {
            return false;
        }
        let depth = q.depth.min(MAX_QUERY_DEPTH);
        let snap = BookSnapshot {
            in_sync: b.in_sync,
            update_id: b.update_id,
            last_update_ns: b.last_update_ns,
            bids: b.bids().take(depth).map(|l| (l.px, l.qty)).collect(),
            asks: b.asks().take(depth).map(|l| (l.px, l.qty)).collect(),
        };
        let _ = q.reply.try_send(snap);
        true
    }

    /// Answers at most `limit` waiting book queries (those kept for a book
    /// that was mid-update first), never from a book mid-update.
    pub fn answer_queries(&mut self, limit: usize) {
        crate::pipeline::thread::timed_work(|| self.answer_queries_now(limit));
    }

    fn answer_queries_now(&mut self, limit: usize) {
        let mut budget = limit;
        let books = &self.books;
        self.pending_queries.retain(|q| {
            if budget == 0 || !Self::try_answer(books, q) {
                return true;
            }
            budget -= 1;
            false
        });
        while budget > 0 && self.pending_queries.len() < MAX_PENDING_QUERIES {
            let Ok(q) = self.shared.book_query_rx.try_recv() else {
                break;
            };
            if Self::try_answer(&self.books, &q) {
                budget -= 1;
            } else {
                self.pending_queries.push(q);
            }
        }
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

/// The book stage's turn, shared by both layouts: one event in
/// ([`BookRunner::on_item`]), the idle work ([`BookRunner::on_idle`]), and
/// the stage's health, latency and progress counters. The threads layout
/// drives it from its own thread ([`run_book_stage`]); the fused layout
/// calls it first in each turn (`pipeline::fused`).
pub struct BookRunner {
    stage: BookStage,
    shared: Arc<Shared>,
    /// The stage's slot in `shared.stages`.
    health: usize,
    lat: LatencyRecorder,
    processed: IntCounter,
    n: u64,
}

impl BookRunner {
    pub fn new(shared: Arc<Shared>, max_levels: usize) -> BookRunner {
        let stage = BookStage::new(shared.clone(), max_levels);
        let health = Shared::stage_index("book").expect("book stage health exists");
        let lat = LatencyRecorder::new(&shared.latency, "book", shared.metrics.stage_hist("book"));
        let processed = shared.metrics.stage_processed.with_label_values(&["book"]);
        BookRunner {
            stage,
            shared,
            health,
            lat,
            processed,
            n: 0,
        }
    }

    /// Applies one event and hands its output (if any) to `send`;
    /// `backlog` is the input waiting (sampled every 64 events).
    #[inline]
    pub fn on_item(
        &mut self,
        ev: &MarketEvent,
        send: impl FnOnce(ScoreInput),
        backlog: impl FnOnce() -> usize,
    ) {
        let now = now_ns();
        if let Some(out) = self.stage.apply(ev, now) {
            self.lat.record(now.saturating_sub(ev.recv_ns));
            send(out);
            if let (ScoreInput::Book(top), Some(p)) = (&out, self.shared.publish.get()) {
                p.sample_top(top, now);
            }
        }
        let health = &self.shared.stages[self.health];
        health.tick(now);
        if self.stage.queries_waiting() {
            self.stage.answer_queries(QUERIES_PER_TURN);
        }
        self.n += 1;
        if self.n & 63 == 0 {
            self.processed.inc_by(64);
            health.backlog.store(backlog() as u64, Ordering::Relaxed);
            self.stage.publish_consolidated(now);
        }
    }

    /// No input for a while: counters, every waiting query, gauges, the
    /// consolidated view, the latency flush.
    pub fn on_idle(&mut self) {
        self.processed.inc_by(self.n & 63);
        self.n &= !63;
        self.shared.stages[self.health]
            .backlog
            .store(0, Ordering::Relaxed);
        self.stage.answer_queries(usize::MAX);
        self.stage.refresh_gauges();
        self.stage.publish_consolidated(now_ns());
        self.lat.flush();
    }

    /// The input closed: the last counts and latencies.
    pub fn finish(&mut self) {
        self.processed.inc_by(self.n & 63);
        self.n &= !63;
        self.lat.flush();
    }
}

/// How long the book stage waits for input before its idle work.
pub const IDLE_BUDGET: Duration = Duration::from_millis(5);

/// Runs the book stage on its own thread until its input closes or the
/// engine stops.
pub fn run_book_stage(
    mut rx: Rx<MarketEvent>,
    mut tx: RingTx<ScoreInput>,
    shared: Arc<Shared>,
    max_levels: usize,
) {
    let mut stage = BookRunner::new(shared.clone(), max_levels);
    loop {
        match rx.next(IDLE_BUDGET) {
            Next::Item(ev) => {
                stage.on_item(
                    &ev,
                    |out| {
                        let _ = tx.try_send(out);
                    },
                    || rx.len(),
                );
            }
            Next::Idle => {
                stage.on_idle();
                if !shared.is_running() && rx.is_empty() {
                    break;
                }
            }
            Next::Closed => break,
        }
    }
    stage.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WaitKind;
    use crate::core::{CHUNK_END, CHUNK_LEVELS, CHUNK_RESET, DepthChunk, Venue};
    use crate::pipeline::channel::{queue, spsc};

    fn depth(k: u64) -> MarketEvent {
        let mut bids = [Level::default(); CHUNK_LEVELS];
        let mut asks = [Level::default(); CHUNK_LEVELS];
        bids[0] = Level {
            px: 6_180_000,
            qty: 1_000 + k as i64,
        };
        asks[0] = Level {
            px: 6_180_100,
            qty: 2_000,
        };
        MarketEvent {
            venue: Venue::Binance,
            inst: InstrumentId(0),
            recv_ns: now_ns(),
            exch_ms: 0,
            body: MarketBody::Depth(DepthChunk {
                flags: if k == 1 {
                    CHUNK_RESET | CHUNK_END
                } else {
                    CHUNK_END
                },
                n_bids: 1,
                n_asks: 1,
                update_id: k,
                bids,
                asks,
            }),
        }
    }

    /// Events flow without a 5 ms pause (each sent once the previous one is
    /// applied): a query is answered on the turn of the very next event,
    /// not after 64 events or an idle gap (issue 16 item 14).
    #[test]
    fn a_book_query_is_answered_on_the_next_event() {
        let shared = Arc::new(crate::pipeline::shared::tests::test_shared());
        let (tx, rx) = queue::<MarketEvent>("md_q_test", 256, WaitKind::Park, &shared.metrics);
        let (stx, _srx) = spsc::<ScoreInput>("sc_q_test", 16, WaitKind::Park, &shared.metrics);
        let s2 = shared.clone();
        let h = std::thread::spawn(move || run_book_stage(rx, stx, s2, 1000));
        let applied = |k: u64| {
            let t = std::time::Instant::now();
            while shared.books[0].updates.load(Ordering::Relaxed) < k {
                assert!(
                    t.elapsed() < Duration::from_secs(5),
                    "event {k} not applied"
                );
                std::hint::spin_loop();
            }
        };
        let mut k = 0;
        for _ in 0..10 {
            k += 1;
            tx.try_send(depth(k)).unwrap();
            applied(k);
        }
        for round in 0..5 {
            let (rtx, rrx) = crossbeam_channel::bounded(1);
            shared
                .book_queries
                .try_send(BookQuery {
                    inst: InstrumentId(0),
                    depth: 10,
                    reply: rtx,
                })
                .unwrap();
            let asked_at = k;
            let snap = loop {
                k += 1;
                tx.try_send(depth(k)).unwrap();
                applied(k);
                if let Ok(s) = rrx.try_recv() {
                    break s;
                }
                assert!(k < asked_at + 200, "round {round}: never answered");
            };
            assert_eq!(
                snap.update_id,
                asked_at + 1,
                "round {round}: answered {} events late",
                snap.update_id - asked_at
            );
            assert!(snap.in_sync);
            assert_eq!(snap.bids, vec![(6_180_000, 1_000 + asked_at as i64 + 1)]);
        }
        drop(tx);
        h.join().unwrap();
    }

    #[test]
    fn a_query_copies_at_most_max_query_depth_levels() {
        let shared = Arc::new(crate::pipeline::shared::tests::test_shared());
        let mut stage = BookStage::new(shared.clone(), MAX_QUERY_DEPTH + 100);
        let mut k = 0;
        // MAX_QUERY_DEPTH + 16 bid levels, 8 per chunk.
        while (k as usize) * CHUNK_LEVELS < MAX_QUERY_DEPTH + 16 {
            let mut ev = depth(k + 1);
            if let MarketBody::Depth(c) = &mut ev.body {
                c.flags = if k == 0 { CHUNK_RESET } else { 0 };
                c.n_bids = CHUNK_LEVELS as u8;
                c.n_asks = 0;
                for (j, l) in c.bids.iter_mut().enumerate() {
                    *l = Level {
                        px: 6_000_000 - 10 * (k as i64 * CHUNK_LEVELS as i64 + j as i64),
                        qty: 1,
                    };
                }
            }
            stage.apply(&ev, now_ns());
            k += 1;
        }
        let mut ev = depth(k + 1);
        if let MarketBody::Depth(c) = &mut ev.body {
            c.flags = CHUNK_END;
            c.n_bids = 0;
        }
        stage.apply(&ev, now_ns());
        let (rtx, rrx) = crossbeam_channel::bounded(1);
        shared
            .book_queries
            .try_send(BookQuery {
                inst: InstrumentId(0),
                depth: usize::MAX,
                reply: rtx,
            })
            .unwrap();
        assert!(stage.queries_waiting());
        stage.answer_queries(QUERIES_PER_TURN);
        let snap = rrx.try_recv().expect("answered");
        assert_eq!(snap.bids.len(), MAX_QUERY_DEPTH);
        assert!(!stage.queries_waiting());
    }
}
