//! One L2 order book, exact to the venue's state. Each side is a vector
//! sorted so that the best price is at the end: most updates land near the
//! touch, so inserts and removals move few elements, and lookups are a
//! binary search. Capacity per side is fixed; a side that would exceed it
//! drops its farthest level (counted).

use crate::core::{DepthChunk, Level};

#[derive(Debug, Clone)]
pub struct L2Book {
    /// Ascending by price: best bid last.
    bids: Vec<Level>,
    /// Descending by price: best ask last.
    asks: Vec<Level>,
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
    pub fn new(max_levels: usize) -> L2Book {
        L2Book {
            bids: Vec::with_capacity(max_levels.min(1 << 14) + 1),
            asks: Vec::with_capacity(max_levels.min(1 << 14) + 1),
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
        // bids ascending
        let pos = self.bids.binary_search_by(|l| l.px.cmp(&px));
        self.dropped += set_level(&mut self.bids, pos, px, qty, self.max_levels);
    }

    /// Sets one ask level (qty 0 removes it).
    #[inline]
    pub fn set_ask(&mut self, px: i64, qty: i64) {
        // asks descending
        let pos = self.asks.binary_search_by(|l| px.cmp(&l.px));
        self.dropped += set_level(&mut self.asks, pos, px, qty, self.max_levels);
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
        self.bids.last().copied()
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.asks.last().copied()
    }

    /// Bids from best to worst.
    pub fn bids(&self) -> impl Iterator<Item = Level> + '_ {
        self.bids.iter().rev().copied()
    }

    /// Asks from best to worst.
    pub fn asks(&self) -> impl Iterator<Item = Level> + '_ {
        self.asks.iter().rev().copied()
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
        let nb = self.bids.len().min(N);
        for (i, l) in self.bids.iter().rev().take(nb).enumerate() {
            bids[i] = *l;
        }
        let na = self.asks.len().min(N);
        for (i, l) in self.asks.iter().rev().take(na).enumerate() {
            asks[i] = *l;
        }
        (nb as u8, na as u8)
    }
}

/// Returns the number of levels dropped (0 or 1).
#[inline]
fn set_level(
    side: &mut Vec<Level>,
    pos: Result<usize, usize>,
    px: i64,
    qty: i64,
    max: usize,
) -> u64 {
    match pos {
        Ok(i) => {
            if qty == 0 {
                side.remove(i);
            } else {
                side[i].qty = qty;
            }
            0
        }
        Err(i) => {
            if qty == 0 {
                return 0; // deleting a level we never had is normal
            }
            side.insert(i, Level { px, qty });
            if side.len() > max {
                // index 0 is the farthest from the touch
                side.remove(0);
                return 1;
            }
            0
        }
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
