//! The generated market: per symbol a seeded random-walk mid on the tick grid
//! and a ground-truth L2 book that changes only through depth events, so that
//! a client applying the diffs has exactly the simulator's book.
//!
//! Events per symbol, at `rate_per_symbol` msgs/s in total: ~50% depthUpdate,
//! ~35% bookTicker (best bid/ask of the book at the latest depth `u`), ~15%
//! aggTrade (plus a `trade` frame for `@trade` subscribers). Trades consume
//! touch quantity; the consumption is published (and applied) by the next
//! depth update. Each side is kept exactly `levels` deep: far levels are
//! refilled, and trimmed ones are sent as qty "0"; levels that would cross
//! after a mid move are deleted explicitly, so the book is never crossed.
//! Update ids come from one counter shared by all symbols and
//! jump by a random step, never contiguous (`U != prev u + 1`).

use crate::binance::wire::{
    DepthFields, StreamKind, SymInfo, TradeFields, agg_trade_json, book_ticker_json,
    depth_update_json, trade_json,
};
use crate::binance::ws;
use crate::decimal::unix_ms;
use crate::replay::ReplayState;
use crate::state::Inner;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Generator period; each tick emits `rate * dt` events per symbol.
const TICK: Duration = Duration::from_millis(2);
/// Longest interval accounted for in one tick (avoids bursts after stalls).
const MAX_DT: Duration = Duration::from_millis(50);

/// An L2 book of scaled (price -> qty); qty is never 0 inside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Book {
    pub bids: BTreeMap<i64, i64>,
    pub asks: BTreeMap<i64, i64>,
}

impl Book {
    pub fn best_bid(&self) -> Option<(i64, i64)> {
        self.bids.iter().next_back().map(|(p, q)| (*p, *q))
    }

    pub fn best_ask(&self) -> Option<(i64, i64)> {
        self.asks.iter().next().map(|(p, q)| (*p, *q))
    }

    /// Up to `n` bids, best (highest) first.
    pub fn top_bids(&self, n: usize) -> Vec<(i64, i64)> {
        self.bids
            .iter()
            .rev()
            .take(n)
            .map(|(p, q)| (*p, *q))
            .collect()
    }

    /// Up to `n` asks, best (lowest) first.
    pub fn top_asks(&self, n: usize) -> Vec<(i64, i64)> {
        self.asks.iter().take(n).map(|(p, q)| (*p, *q)).collect()
    }

    /// Sets an absolute quantity (0 removes the level).
    pub fn apply(&mut self, bid: bool, px: i64, qty: i64) {
        let side = if bid { &mut self.bids } else { &mut self.asks };
        if qty == 0 {
            side.remove(&px);
        } else {
            side.insert(px, qty);
        }
    }
}

/// Per-symbol state behind the symbol's lock.
pub(crate) struct SymState {
    pub book: Book,
    /// `u` of the last depth event applied to `book`.
    pub last_u: u64,
    pub generator: Option<Gen>,
    pub replay: Option<ReplayState>,
}

impl SymState {
    /// An empty book, filled by the replayer.
    pub fn empty() -> SymState {
        SymState {
            book: Book::default(),
            last_u: 0,
            generator: None,
            replay: Some(ReplayState::default()),
        }
    }

    /// A full initial book around `start_price`, at a fresh update id.
    pub fn generated(
        info: &SymInfo,
        seed: u64,
        idx: usize,
        start_price: f64,
        levels: usize,
        update_id: &mut u64,
    ) -> SymState {
        let mut rng =
            SmallRng::seed_from_u64(seed ^ (idx as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let scaled = start_price * crate::decimal::pow10(info.price_scale) as f64;
        let ticks = ((scaled / info.tick as f64).floor() as i64).max(2);
        let ceil_bid = ticks * info.tick;
        let spread = 1;
        let mut book = Book::default();
        let mut px = ceil_bid;
        for _ in 0..levels {
            if px <= 0 {
                break;
            }
            book.bids.insert(px, rand_qty(&mut rng, info.lot));
            px -= info.tick * gap_ticks(&mut rng);
        }
        let mut px = ceil_bid + spread * info.tick;
        for _ in 0..levels {
            book.asks.insert(px, rand_qty(&mut rng, info.lot));
            px += info.tick * gap_ticks(&mut rng);
        }
        *update_id += rng.random_range(1..=50);
        SymState {
            book,
            last_u: *update_id,
            generator: Some(Gen {
                rng,
                ceil_bid,
                spread_ticks: spread,
                pending_bids: BTreeMap::new(),
                pending_asks: BTreeMap::new(),
                agg_id: 100_000 + idx as u64 * 1_000_000,
                trade_id: 5_000_000 + idx as u64 * 10_000_000,
            }),
            replay: None,
        }
    }
}

fn rand_qty(rng: &mut SmallRng, lot: i64) -> i64 {
    let lots: i64 = if rng.random_bool(0.1) {
        rng.random_range(100..5_000)
    } else {
        rng.random_range(1..200)
    };
    lots * lot
}

fn gap_ticks(rng: &mut SmallRng) -> i64 {
    if rng.random_bool(0.2) {
        rng.random_range(2..=4)
    } else {
        1
    }
}

/// Scaled (price, qty) levels of one side of a depth diff.
type Levels = Vec<(i64, i64)>;

/// Random-walk generator state of one symbol.
pub(crate) struct Gen {
    rng: SmallRng,
    /// Highest price a bid may have; asks start `spread_ticks` above.
    ceil_bid: i64,
    spread_ticks: i64,
    /// Touch quantities left after trades, published by the next depth update.
    pending_bids: BTreeMap<i64, i64>,
    pending_asks: BTreeMap<i64, i64>,
    agg_id: u64,
    trade_id: u64,
}

/// One frame payload produced for the fan-out.
pub(crate) struct OutEvent {
    pub sym: usize,
    pub kind: StreamKind,
    /// The `data` JSON (raw-stream payload).
    pub data: Arc<str>,
    /// Send truncated ([`super::Fault::Malformed`]); set by the fan-out.
    pub malformed: bool,
}

/// Records a change in the event's diff and applies it to the book.
fn set(book: &mut Book, diff: &mut BTreeMap<i64, i64>, bid: bool, px: i64, qty: i64) {
    book.apply(bid, px, qty);
    diff.insert(px, qty);
}

impl Gen {
    /// Moves the highest allowed bid (the book follows another venue's touch).
    pub(crate) fn anchor(&mut self, ceil_bid: i64) {
        self.ceil_bid = ceil_bid.max(1);
    }

    /// Mutates the book for one depth event; returns the bid and ask diffs
    /// (ascending price, one entry per price, absolute qty, 0 = removed).
    pub(crate) fn depth_diff(
        &mut self,
        info: &SymInfo,
        book: &mut Book,
        levels: usize,
    ) -> (Levels, Levels) {
        let tick = info.tick;
        let mut db = BTreeMap::new();
        let mut da = BTreeMap::new();
        for (px, q) in std::mem::take(&mut self.pending_bids) {
            set(book, &mut db, true, px, q);
        }
        for (px, q) in std::mem::take(&mut self.pending_asks) {
            set(book, &mut da, false, px, q);
        }
        let rng = &mut self.rng;
        if rng.random_bool(0.3) {
            let d: i64 = rng.random_range(1..=2);
            let d = if rng.random_bool(0.5) { d } else { -d };
            self.ceil_bid = (self.ceil_bid + d * tick).max(tick);
            if rng.random_bool(0.2) {
                self.spread_ticks = if rng.random_bool(0.7) { 1 } else { 2 };
            }
        }
        let ceil_bid = self.ceil_bid;
        let floor_ask = ceil_bid + self.spread_ticks * tick;
        // Levels that would cross after a move are deleted explicitly.
        let crossing: Vec<i64> = book.bids.range(ceil_bid + 1..).map(|(p, _)| *p).collect();
        for px in crossing {
            set(book, &mut db, true, px, 0);
        }
        let crossing: Vec<i64> = book.asks.range(..floor_ask).map(|(p, _)| *p).collect();
        for px in crossing {
            set(book, &mut da, false, px, 0);
        }
        if book.bids.is_empty() || rng.random_bool(0.5) {
            let q = rand_qty(rng, info.lot);
            set(book, &mut db, true, ceil_bid, q);
        }
        if book.asks.is_empty() || rng.random_bool(0.5) {
            let q = rand_qty(rng, info.lot);
            set(book, &mut da, false, floor_ask, q);
        }
        let far = (levels as i64 * 2).max(2);
        for _ in 0..rng.random_range(1..=6) {
            let bid = rng.random_bool(0.5);
            let d = if rng.random_bool(0.8) {
                rng.random_range(0..10)
            } else {
                rng.random_range(0..far)
            };
            let px = if bid {
                ceil_bid - d * tick
            } else {
                floor_ask + d * tick
            };
            if px <= 0 {
                continue;
            }
            let (side, diff) = if bid {
                (&book.bids, &mut db)
            } else {
                (&book.asks, &mut da)
            };
            let q = if side.contains_key(&px) && side.len() > 1 && rng.random_bool(0.3) {
                0
            } else {
                rand_qty(rng, info.lot)
            };
            set(book, diff, bid, px, q);
        }
        // Refill the far end so each side stays `levels` deep.
        while book.bids.len() < levels {
            let Some((&low, _)) = book.bids.iter().next() else {
                break;
            };
            let px = low - tick * gap_ticks(rng);
            if px <= 0 {
                break;
            }
            let q = rand_qty(rng, info.lot);
            set(book, &mut db, true, px, q);
        }
        while book.asks.len() < levels {
            let Some((&high, _)) = book.asks.iter().next_back() else {
                break;
            };
            let px = high + tick * gap_ticks(rng);
            let q = rand_qty(rng, info.lot);
            set(book, &mut da, false, px, q);
        }
        // Trim to `levels`, publishing each trimmed level as qty 0.
        while book.bids.len() > levels {
            let Some((&px, _)) = book.bids.iter().next() else {
                break;
            };
            set(book, &mut db, true, px, 0);
        }
        while book.asks.len() > levels {
            let Some((&px, _)) = book.asks.iter().next_back() else {
                break;
            };
            set(book, &mut da, false, px, 0);
        }
        (db.into_iter().collect(), da.into_iter().collect())
    }

    /// A taker trade at the touch; returns (px, qty, buyer_is_maker).
    pub(crate) fn trade(&mut self, info: &SymInfo, book: &Book) -> Option<(i64, i64, bool)> {
        let taker_buy = self.rng.random_bool(0.5);
        let (px, eff) = if taker_buy {
            book.asks
                .iter()
                .take(5)
                .map(|(p, q)| (*p, self.pending_asks.get(p).copied().unwrap_or(*q)))
                .find(|(_, q)| *q > 0)?
        } else {
            book.bids
                .iter()
                .rev()
                .take(5)
                .map(|(p, q)| (*p, self.pending_bids.get(p).copied().unwrap_or(*q)))
                .find(|(_, q)| *q > 0)?
        };
        let max_lots = (eff / info.lot).clamp(1, 50);
        let qty = (self.rng.random_range(1..=max_lots) * info.lot).min(eff);
        if taker_buy {
            self.pending_asks.insert(px, eff - qty);
        } else {
            self.pending_bids.insert(px, eff - qty);
        }
        Some((px, qty, !taker_buy))
    }
}

/// Generates one event of symbol `sym` into `out`. `update_id` is the global
/// id counter shared by all symbols.
pub(crate) fn step(
    inner: &Inner,
    sym: usize,
    st: &mut SymState,
    update_id: &mut u64,
    now_ms: i64,
    out: &mut Vec<OutEvent>,
) {
    let slot = &inner.syms[sym];
    let info = &slot.info;
    let Some(generator) = st.generator.as_mut() else {
        return;
    };
    let roll: f64 = generator.rng.random();
    let mut kind = if roll < 0.5 {
        StreamKind::Depth
    } else if roll < 0.85 {
        StreamKind::BookTicker
    } else {
        StreamKind::AggTrade
    };
    let mut trade = None;
    if kind == StreamKind::AggTrade {
        trade = generator.trade(info, &st.book);
        if trade.is_none() {
            kind = StreamKind::BookTicker;
        }
    }

    match kind {
        StreamKind::Depth => {
            let (bids, asks) = generator.depth_diff(info, &mut st.book, inner.levels);
            let first = *update_id + generator.rng.random_range(2..=50);
            let last = first + generator.rng.random_range(0..50);
            *update_id = last;
            let prev = st.last_u;
            st.last_u = last;
            inner.stats.depth_updates.fetch_add(1, Ordering::Relaxed);
            if slot.gap_next.swap(false, Ordering::Relaxed) {
                return;
            }
            let data = depth_update_json(
                info,
                &DepthFields {
                    e_ms: now_ms,
                    t_ms: now_ms,
                    first_id: first,
                    last_id: last,
                    prev_id: prev,
                    bids: &bids,
                    asks: &asks,
                },
            );
            out.push(OutEvent {
                sym,
                kind,
                data: data.into(),
                malformed: false,
            });
        }
        StreamKind::BookTicker => {
            let (Some(bid), Some(ask)) = (st.book.best_bid(), st.book.best_ask()) else {
                return;
            };
            let data = book_ticker_json(info, st.last_u, bid, ask, now_ms, now_ms);
            out.push(OutEvent {
                sym,
                kind,
                data: data.into(),
                malformed: false,
            });
        }
        StreamKind::AggTrade | StreamKind::Trade => {
            let Some((px, qty, buyer_maker)) = trade else {
                return;
            };
            generator.agg_id += 1;
            let first_trade = generator.trade_id + 1;
            let last_trade = first_trade + generator.rng.random_range(0..3);
            generator.trade_id = last_trade;
            let t = TradeFields {
                e_ms: now_ms,
                t_ms: now_ms,
                agg_id: generator.agg_id,
                first_trade,
                last_trade,
                px,
                qty,
                buyer_maker,
            };
            out.push(OutEvent {
                sym,
                kind: StreamKind::AggTrade,
                data: agg_trade_json(info, &t).into(),
                malformed: false,
            });
            out.push(OutEvent {
                sym,
                kind: StreamKind::Trade,
                data: trade_json(info, &t).into(),
                malformed: false,
            });
        }
    }
}

/// The generator task: every [`TICK`] emits `rate * dt` events per symbol
/// (fractional rates carry over), unless paused or silenced.
pub(crate) async fn run_generator(inner: Arc<Inner>) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    let mut budget = vec![0f64; inner.syms.len()];
    let mut events: Vec<OutEvent> = Vec::new();
    let mut moved: Vec<usize> = Vec::with_capacity(inner.syms.len());
    let mut update_id = inner.update_id.load(Ordering::Relaxed);
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let dt = now.duration_since(last).min(MAX_DT);
        last = now;
        let _tick = inner.begin_tick();
        if inner.is_paused() || inner.silenced() {
            budget.iter_mut().for_each(|b| *b = 0.0);
            continue;
        }
        let now_ms = unix_ms();
        moved.clear();
        for (sym, slot) in inner.syms.iter().enumerate() {
            budget[sym] += inner.rate as f64 * dt.as_secs_f64();
            let n = budget[sym].floor();
            budget[sym] -= n;
            if n < 1.0 {
                continue;
            }
            let mut st = slot.state.lock();
            for _ in 0..n as u64 {
                step(&inner, sym, &mut st, &mut update_id, now_ms, &mut events);
            }
            moved.push(sym);
        }
        inner.update_id.store(update_id, Ordering::Relaxed);
        if !events.is_empty() {
            ws::fanout(&inner, &mut events);
            events.clear();
        }
        // Resting orders the market now crosses fill (after the book lock).
        for &sym in &moved {
            crate::binance::matching::on_market(&inner, sym);
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn generated_book_stays_valid() {
        let info = SymInfo {
            symbol: "BTCUSDT".into(),
            lower: "btcusdt".into(),
            tick_size: "0.10".into(),
            lot_size: "0.001".into(),
            price_scale: 2,
            qty_scale: 3,
            tick: 10,
            lot: 1,
        };
        let mut id = 1_000;
        let levels = 20;
        let mut st = SymState::generated(&info, 7, 0, 61_800.0, levels, &mut id);
        let mut mirror = st.book.clone();
        let generator = st.generator.as_mut().unwrap();
        for _ in 0..5_000 {
            if generator.rng.random_bool(0.3) {
                let _ = generator.trade(&info, &st.book);
            }
            let (b, a) = generator.depth_diff(&info, &mut st.book, levels);
            for (p, q) in b {
                mirror.apply(true, p, q);
            }
            for (p, q) in a {
                mirror.apply(false, p, q);
            }
            assert_eq!(mirror, st.book);
            let (bb, ba) = (st.book.best_bid().unwrap(), st.book.best_ask().unwrap());
            assert!(bb.0 < ba.0, "crossed");
            assert!(st.book.bids.len() == levels && st.book.asks.len() == levels);
            assert!(st.book.bids.keys().all(|p| p % 10 == 0 && *p > 0));
        }
    }
}
