//! One L2 order book, exact to the venue's state. Each side is a price
//! ladder: a dense array of quantities indexed by price in ticks over a
//! window of 65,536 ticks around the touch, so setting a level is an index
//! computation and a store, and the best price moves by a short scan (levels
//! near the touch are dense). Levels outside the window (or off the tick
//! grid) live in a small sorted vector beside it; the window re-centres on
//! the touch when the touch nears its edge. Capacity per side is fixed; a
//! side that would exceed it drops its farthest level (counted).

use crate::core::{DepthChunk, Level};

/// Ticks covered by each side's ladder.
const SLOTS: usize = 1 << 16;
/// The window re-centres when the best price is this close to an edge.
const MARGIN: usize = SLOTS / 16;

/// One side: ladder + out-of-window levels.
#[derive(Debug, Clone)]
struct Side {
    /// Bids (best = highest) or asks (best = lowest).
    bid: bool,
    /// Price step of the ladder (the instrument's tick; 1 when unknown).
    unit: i64,
    /// `floor(2^64 / unit) + 1`: the quotient of an offset below 2^32 by
    /// `unit` is `(offset * inv) >> 64`, one multiply instead of a division
    /// (Lemire, Kaser & Kurz 2019). 0 when `unit` is 1 or above 2^16 (then
    /// the window could exceed 2^32 and a plain division is used).
    inv: u64,
    /// Quantity per slot (0 = no level); allocated on first use.
    ladder: Vec<i64>,
    /// Price of slot 0; `None` until the first level places the window.
    origin: Option<i64>,
    /// Non-zero slots.
    in_ladder: usize,
    /// Slot of the best ladder level (valid when `in_ladder > 0`).
    best: usize,
    /// Levels outside the window, ascending by price.
    far: Vec<Level>,
    /// Scratch for re-centring (kept to avoid allocating again).
    scratch: Vec<Level>,
}

impl Side {
    fn new(bid: bool, unit: i64, max_levels: usize) -> Side {
        let unit = unit.max(1);
        Side {
            bid,
            unit,
            inv: if (2..=1 << 16).contains(&unit) {
                u64::MAX / unit as u64 + 1
            } else {
                0
            },
            ladder: Vec::new(),
            origin: None,
            in_ladder: 0,
            best: 0,
            // Sized up front, as the old vector book was: no growth (and no
            // allocation) on the hot path once warm.
            far: Vec::with_capacity(max_levels.min(1 << 14) + 1),
            scratch: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.in_ladder + self.far.len()
    }

    fn clear(&mut self) {
        if self.in_ladder > 0 {
            self.ladder.fill(0);
        }
        self.in_ladder = 0;
        self.far.clear();
        self.origin = None;
    }

    /// Places the window so that `px` sits in its middle.
    fn place(&mut self, px: i64) {
        if self.ladder.is_empty() {
            self.ladder = vec![0; SLOTS];
        }
        let center = px.div_euclid(self.unit);
        self.origin = Some((center - (SLOTS / 2) as i64) * self.unit);
    }

    #[inline]
    fn slot(&self, px: i64) -> Option<usize> {
        let d = px.checked_sub(self.origin?)?;
        if self.inv != 0 {
            // In the window iff 0 <= d < SLOTS * unit (< 2^32 here).
            if !(0..SLOTS as i64 * self.unit).contains(&d) {
                return None;
            }
            let i = ((self.inv as u128 * d as u128) >> 64) as i64;
            return (i * self.unit == d).then_some(i as usize);
        }
        // One division (the remainder check is a multiply).
        let i = d / self.unit;
        (d >= 0 && i * self.unit == d && i < SLOTS as i64).then_some(i as usize)
    }

    #[inline]
    fn px_of(&self, slot: usize) -> i64 {
        self.origin.unwrap_or(0) + slot as i64 * self.unit
    }

    /// Better of two prices on this side.
    #[inline]
    fn better(&self, a: i64, b: i64) -> bool {
        if self.bid { a > b } else { a < b }
    }

    /// Next non-zero slot from `from` (inclusive) away from the touch.
    #[inline]
    fn scan_worse(&self, from: usize) -> Option<usize> {
        if self.bid {
            (0..=from).rev().find(|&i| self.ladder[i] != 0)
        } else {
            (from..SLOTS).find(|&i| self.ladder[i] != 0)
        }
    }

    /// Sets one level (qty 0 removes it); returns levels dropped (0 or 1).
    #[inline]
    fn set(&mut self, px: i64, qty: i64, max: usize) -> u64 {
        if self.origin.is_none() || (self.in_ladder == 0 && self.far.is_empty()) {
            if qty == 0 {
                return 0;
            }
            self.place(px);
        }
        let Some(i) = self.slot(px) else {
            return self.set_far(px, qty, max);
        };
        let old = self.ladder[i];
        if qty == 0 {
            if old != 0 {
                self.ladder[i] = 0;
                self.in_ladder -= 1;
                if i == self.best && self.in_ladder > 0 {
                    let from = if self.bid { i - 1 } else { i + 1 };
                    self.best = self.scan_worse(from).unwrap_or(0);
                }
            }
            return 0;
        }
        self.ladder[i] = qty;
        if old != 0 {
            return 0;
        }
        self.in_ladder += 1;
        if self.in_ladder == 1
            || (if self.bid {
                i > self.best
            } else {
                i < self.best
            })
        {
            self.best = i;
            if !(MARGIN..SLOTS - MARGIN).contains(&i) {
                self.recenter(px);
            }
        }
        self.trim(max)
    }

    fn set_far(&mut self, px: i64, qty: i64, max: usize) -> u64 {
        match self.far.binary_search_by(|l| l.px.cmp(&px)) {
            Ok(i) => {
                if qty == 0 {
                    self.far.remove(i);
                } else {
                    self.far[i].qty = qty;
                }
                0
            }
            Err(i) => {
                if qty == 0 {
                    return 0; // deleting a level we never had is normal
                }
                self.far.insert(i, Level { px, qty });
                // A far level better than the whole ladder (or no ladder
                // level left): the touch left the window.
                if self.in_ladder == 0 || self.better(px, self.px_of(self.best)) {
                    self.recenter(px);
                }
                self.trim(max)
            }
        }
    }

    /// Drops the farthest level while over capacity.
    fn trim(&mut self, max: usize) -> u64 {
        if self.len() <= max {
            return 0;
        }
        // Farthest: lowest bid / highest ask, in the far vector or the ladder.
        let ladder_worst = if self.in_ladder > 0 {
            if self.bid {
                (0..SLOTS).find(|&i| self.ladder[i] != 0)
            } else {
                (0..SLOTS).rev().find(|&i| self.ladder[i] != 0)
            }
        } else {
            None
        };
        let far_worst = if self.bid {
            self.far.first()
        } else {
            self.far.last()
        }
        .map(|l| l.px);
        let take_far = match (ladder_worst, far_worst) {
            (Some(s), Some(f)) => self.better(self.px_of(s), f),
            (None, Some(_)) => true,
            _ => false,
        };
        if take_far {
            if self.bid {
                self.far.remove(0);
            } else {
                self.far.pop();
            }
        } else if let Some(s) = ladder_worst {
            self.ladder[s] = 0;
            self.in_ladder -= 1;
            if s == self.best && self.in_ladder > 0 {
                self.best = self
                    .scan_worse(if self.bid { s.saturating_sub(1) } else { s + 1 })
                    .unwrap_or(0);
            }
        }
        1
    }

    /// Moves the window so that `px` sits in its middle, re-filing every level.
    fn recenter(&mut self, px: i64) {
        let mut all = std::mem::take(&mut self.scratch);
        all.clear();
        if self.in_ladder > 0 {
            for i in 0..SLOTS {
                if self.ladder[i] != 0 {
                    all.push(Level {
                        px: self.px_of(i),
                        qty: self.ladder[i],
                    });
                    self.ladder[i] = 0;
                }
            }
        }
        all.extend_from_slice(&self.far);
        all.sort_unstable_by_key(|l| l.px);
        self.far.clear();
        self.in_ladder = 0;
        self.place(px);
        for l in &all {
            match self.slot(l.px) {
                Some(i) => {
                    self.ladder[i] = l.qty;
                    self.in_ladder += 1;
                    if self.in_ladder == 1
                        || (if self.bid {
                            i > self.best
                        } else {
                            i < self.best
                        })
                    {
                        self.best = i;
                    }
                }
                None => self.far.push(*l), // ascending already
            }
        }
        self.scratch = all;
    }

    fn best_level(&self) -> Option<Level> {
        let lad = (self.in_ladder > 0).then(|| Level {
            px: self.px_of(self.best),
            qty: self.ladder[self.best],
        });
        let far = if self.bid {
            self.far.last()
        } else {
            self.far.first()
        }
        .copied();
        match (lad, far) {
            (Some(a), Some(b)) => Some(if self.better(b.px, a.px) { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Levels from best to worst.
    fn iter(&self) -> SideIter<'_> {
        SideIter {
            side: self,
            slot: if self.in_ladder > 0 {
                Some(self.best)
            } else {
                None
            },
            ladder_left: self.in_ladder,
            far_next: if self.bid { self.far.len() } else { 0 },
        }
    }
}

/// Best-to-worst merge of a side's ladder and out-of-window levels.
pub struct SideIter<'a> {
    side: &'a Side,
    /// Next slot to look at (towards worse prices).
    slot: Option<usize>,
    ladder_left: usize,
    /// Bids: one past the next far index (descending); asks: next index.
    far_next: usize,
}

impl SideIter<'_> {
    fn ladder_peek(&mut self) -> Option<usize> {
        if self.ladder_left == 0 {
            return None;
        }
        let s = self.side;
        let from = self.slot?;
        let i = s.scan_worse(from)?;
        self.slot = Some(i);
        Some(i)
    }

    fn far_peek(&self) -> Option<Level> {
        let f = &self.side.far;
        if self.side.bid {
            self.far_next.checked_sub(1).map(|i| f[i])
        } else {
            f.get(self.far_next).copied()
        }
    }
}

impl Iterator for SideIter<'_> {
    type Item = Level;

    fn next(&mut self) -> Option<Level> {
        let s = self.side;
        let lad = self.ladder_peek();
        let far = self.far_peek();
        let take_ladder = match (lad, far) {
            (Some(i), Some(f)) => s.better(s.px_of(i), f.px),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        if take_ladder {
            let i = lad?;
            self.ladder_left -= 1;
            self.slot = if s.bid {
                i.checked_sub(1)
            } else {
                Some(i + 1).filter(|&n| n < SLOTS)
            };
            if self.slot.is_none() {
                self.ladder_left = 0;
            }
            Some(Level {
                px: s.px_of(i),
                qty: s.ladder[i],
            })
        } else {
            if s.bid {
                self.far_next -= 1;
            } else {
                self.far_next += 1;
            }
            far
        }
    }
}

#[derive(Debug, Clone)]
pub struct L2Book {
    bids: Side,
    asks: Side,
    max_levels: usize,
    pub update_id: u64,
    pub in_sync: bool,
    pub last_update_ns: u64,
    pub exch_ms: i64,
    /// Levels dropped because a side was full.
    pub dropped: u64,
    /// An update is half-applied (chunks before its END).
    pub mid_update: bool,
}

impl L2Book {
    /// A book whose prices are on a grid of 1 (any scaled price works; the
    /// ladder then spans 65,536 price units).
    pub fn new(max_levels: usize) -> L2Book {
        L2Book::with_tick(max_levels, 1)
    }

    /// A book for prices on a grid of `tick` (scaled): the ladder spans
    /// 65,536 ticks. Prices off the grid are still kept exactly.
    pub fn with_tick(max_levels: usize, tick: i64) -> L2Book {
        L2Book {
            bids: Side::new(true, tick, max_levels),
            asks: Side::new(false, tick, max_levels),
            max_levels: max_levels.max(1),
            update_id: 0,
            in_sync: false,
            last_update_ns: 0,
            exch_ms: 0,
            dropped: 0,
            mid_update: false,
        }
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Sets one bid level (qty 0 removes it).
    #[inline]
    pub fn set_bid(&mut self, px: i64, qty: i64) {
        self.dropped += self.bids.set(px, qty, self.max_levels);
    }

    /// Sets one ask level (qty 0 removes it).
    #[inline]
    pub fn set_ask(&mut self, px: i64, qty: i64) {
        self.dropped += self.asks.set(px, qty, self.max_levels);
    }

    /// Applies one chunk; returns true if the book is consistent after it.
    #[inline]
    pub fn apply_chunk(&mut self, c: &DepthChunk) -> bool {
        if c.is_reset() {
            self.clear();
            self.in_sync = true;
        }
        for l in c.bids() {
            self.set_bid(l.px, l.qty);
        }
        for l in c.asks() {
            self.set_ask(l.px, l.qty);
        }
        self.mid_update = !c.is_end();
        if c.is_end() {
            self.update_id = c.update_id;
        }
        c.is_end()
    }

    pub fn best_bid(&self) -> Option<Level> {
        self.bids.best_level()
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.asks.best_level()
    }

    /// Bids from best to worst.
    pub fn bids(&self) -> impl Iterator<Item = Level> + '_ {
        self.bids.iter()
    }

    /// Asks from best to worst.
    pub fn asks(&self) -> impl Iterator<Item = Level> + '_ {
        self.asks.iter()
    }

    pub fn bid_levels(&self) -> usize {
        self.bids.len()
    }

    pub fn ask_levels(&self) -> usize {
        self.asks.len()
    }

    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.px >= a.px)
    }

    /// Copies the top `n` levels of each side into fixed arrays.
    #[inline]
    pub fn top<const N: usize>(&self, bids: &mut [Level; N], asks: &mut [Level; N]) -> (u8, u8) {
        let mut nb = 0;
        for (o, l) in bids.iter_mut().zip(self.bids.iter()) {
            *o = l;
            nb += 1;
        }
        let mut na = 0;
        for (o, l) in asks.iter_mut().zip(self.asks.iter()) {
            *o = l;
            na += 1;
        }
        (nb as u8, na as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{CHUNK_END, CHUNK_RESET};

    #[test]
    fn applies_sets_and_deletes() {
        let mut b = L2Book::new(100);
        b.set_bid(100, 5);
        b.set_bid(102, 1);
        b.set_bid(101, 2);
        b.set_ask(105, 3);
        b.set_ask(103, 4);
        assert_eq!(b.best_bid(), Some(Level { px: 102, qty: 1 }));
        assert_eq!(b.best_ask(), Some(Level { px: 103, qty: 4 }));
        b.set_bid(102, 0);
        b.set_bid(99, 0); // unknown level: no-op
        assert_eq!(b.bids().map(|l| l.px).collect::<Vec<_>>(), [101, 100]);
        assert_eq!(b.asks().map(|l| l.px).collect::<Vec<_>>(), [103, 105]);
        b.set_ask(103, 9);
        assert_eq!(b.best_ask().unwrap().qty, 9);
        assert!(!b.is_crossed());
        let (mut tb, mut ta) = ([Level::default(); 5], [Level::default(); 5]);
        assert_eq!(b.top(&mut tb, &mut ta), (2, 2));
        assert_eq!(tb[0].px, 101);
        assert_eq!(ta[1].px, 105);
    }

    #[test]
    fn capacity_drops_the_farthest_level() {
        let mut b = L2Book::new(3);
        for p in [10, 11, 12, 13] {
            b.set_bid(p, 1);
        }
        assert_eq!(b.bids().map(|l| l.px).collect::<Vec<_>>(), [13, 12, 11]);
        for p in [20, 19, 18, 17] {
            b.set_ask(p, 1);
        }
        assert_eq!(b.asks().map(|l| l.px).collect::<Vec<_>>(), [17, 18, 19]);
        assert_eq!(b.dropped, 2);
    }

    #[test]
    fn chunks_reset_and_end() {
        let mut b = L2Book::new(10);
        b.set_bid(1, 1);
        let mut c = DepthChunk {
            flags: CHUNK_RESET,
            update_id: 7,
            ..Default::default()
        };
        c.bids[0] = Level { px: 5, qty: 2 };
        c.n_bids = 1;
        assert!(!b.apply_chunk(&c));
        assert!(b.mid_update);
        let mut c2 = DepthChunk {
            flags: CHUNK_END,
            update_id: 7,
            ..Default::default()
        };
        c2.asks[0] = Level { px: 6, qty: 2 };
        c2.n_asks = 1;
        assert!(b.apply_chunk(&c2));
        assert_eq!(b.update_id, 7);
        assert!(b.in_sync);
        assert_eq!(b.bids().count(), 1);
    }
}

#[cfg(test)]
mod model_tests {
    //! The ladder book against a `BTreeMap` model under random operations:
    //! wide and narrow price ranges (in and out of the window, re-centring),
    //! off-grid prices, deletes, clears and a small capacity.
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    fn check(book: &L2Book, bids: &BTreeMap<i64, i64>, asks: &BTreeMap<i64, i64>) {
        let b: Vec<_> = book.bids().map(|l| (l.px, l.qty)).collect();
        let eb: Vec<_> = bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
        assert_eq!(b, eb, "bids");
        let a: Vec<_> = book.asks().map(|l| (l.px, l.qty)).collect();
        let ea: Vec<_> = asks.iter().map(|(p, q)| (*p, *q)).collect();
        assert_eq!(a, ea, "asks");
        assert_eq!(book.bid_levels(), bids.len());
        assert_eq!(book.ask_levels(), asks.len());
        assert_eq!(
            book.best_bid().map(|l| l.px),
            bids.keys().next_back().copied()
        );
        assert_eq!(book.best_ask().map(|l| l.px), asks.keys().next().copied());
    }

    /// The multiply-shift slot index equals the division it replaces, at
    /// the window's edges and at random offsets, for every kind of tick.
    #[test]
    fn slot_by_multiply_matches_division() {
        let mut rng = SmallRng::seed_from_u64(5);
        for unit in [
            1,
            2,
            3,
            7,
            10,
            25,
            100,
            1_000,
            12_345,
            65_535,
            65_536,
            65_537,
            1 << 20,
        ] {
            let mut side = Side::new(true, unit, 10);
            side.place(61_800 * unit + 3);
            let origin = side.origin.unwrap();
            let span = SLOTS as i64 * unit;
            let mut ds: Vec<i64> = vec![
                -unit - 1,
                -unit,
                -1,
                0,
                1,
                unit,
                span - unit,
                span - 1,
                span,
                span + unit,
            ];
            ds.extend((0..20_000).map(|_| rng.random_range(-span / 8..span + span / 8)));
            for d in ds {
                let want = (d >= 0 && d % unit == 0 && d / unit < SLOTS as i64)
                    .then_some((d / unit) as usize);
                assert_eq!(side.slot(origin + d), want, "unit {unit} offset {d}");
            }
        }
    }

    #[test]
    fn matches_a_btreemap_under_random_operations() {
        for (seed, tick, spread) in [
            (1u64, 10i64, 300i64),
            (2, 10, 200_000),
            (3, 1, 150_000),
            (4, 7, 40),
        ] {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut book = L2Book::with_tick(1_000_000, tick);
            let (mut bids, mut asks) = (BTreeMap::new(), BTreeMap::new());
            let mut mid: i64 = 6_000_000;
            for step in 0..40_000 {
                if rng.random_bool(0.01) {
                    // drift far: exercises re-centring
                    mid += rng.random_range(-3_000..3_000) * tick;
                }
                let bid = rng.random_bool(0.5);
                let off =
                    rng.random_range(0..spread) * tick + if rng.random_bool(0.02) { 3 } else { 0 };
                let px = if bid { mid - off } else { mid + off };
                let qty = if rng.random_bool(0.3) {
                    0
                } else {
                    rng.random_range(1..1000)
                };
                let side = if bid { &mut bids } else { &mut asks };
                if qty == 0 {
                    side.remove(&px);
                } else {
                    side.insert(px, qty);
                }
                if bid {
                    book.set_bid(px, qty)
                } else {
                    book.set_ask(px, qty)
                }
                if step % 997 == 0 {
                    check(&book, &bids, &asks);
                }
                if step % 15_000 == 14_999 {
                    book.clear();
                    bids.clear();
                    asks.clear();
                }
            }
            check(&book, &bids, &asks);
        }
    }

    #[test]
    fn capacity_drops_farthest_like_a_model() {
        let mut rng = SmallRng::seed_from_u64(9);
        let mut book = L2Book::with_tick(50, 10);
        let mut bids: BTreeMap<i64, i64> = BTreeMap::new();
        for _ in 0..5_000 {
            let px = 1_000_000 + rng.random_range(-400_000..400) * 10;
            let qty = if rng.random_bool(0.2) { 0 } else { 5 };
            if qty == 0 {
                bids.remove(&px);
            } else {
                bids.insert(px, qty);
                if bids.len() > 50 {
                    let low = *bids.keys().next().unwrap();
                    bids.remove(&low);
                }
            }
            book.set_bid(px, qty);
        }
        let b: Vec<_> = book.bids().map(|l| l.px).collect();
        let e: Vec<_> = bids.keys().rev().copied().collect();
        assert_eq!(b, e);
    }
}
