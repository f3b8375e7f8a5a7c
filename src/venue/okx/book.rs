//! OKX's order-book state for one instrument as the feed must keep it to
//! verify checksums: both sides sorted as small keys (best at the end, so
//! changes near the touch move little memory), each level with its scaled
//! values **and the price and size strings exactly as received**, held
//! inline in fixed buffers in a slab that reuses freed slots (no allocation
//! per message once warm).
//! The CRC32 of the top 25 levels is computed over those strings, streamed
//! into the hasher without building the string.

use crate::core::Level;

/// Longest price or size string kept inline (OKX sends well under this).
pub const MAX_STR: usize = 22;

/// A short ASCII string held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineStr {
    len: u8,
    buf: [u8; MAX_STR],
}

impl InlineStr {
    /// `None` when `s` is longer than [`MAX_STR`].
    #[inline]
    pub fn new(s: &[u8]) -> Option<InlineStr> {
        if s.len() > MAX_STR {
            return None;
        }
        let mut buf = [0u8; MAX_STR];
        buf[..s.len()].copy_from_slice(s);
        Some(InlineStr {
            len: s.len() as u8,
            buf,
        })
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

impl std::fmt::Debug for InlineStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// One level: scaled price and base quantity, plus the wire strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrLevel {
    pub px: i64,
    pub qty: i64,
    pub px_str: InlineStr,
    pub sz_str: InlineStr,
}

impl StrLevel {
    #[inline]
    pub fn level(&self) -> Level {
        Level {
            px: self.px,
            qty: self.qty,
        }
    }
}

/// Levels used by OKX's checksum.
pub const CHECKSUM_DEPTH: usize = 25;

/// A side entry: the price (sort key) and the slot of its level in the slab.
#[derive(Debug, Clone, Copy)]
struct Key {
    px: i64,
    slot: u32,
}

/// Both sides of one book. The sorted sides hold small keys (bids
/// ascending, asks descending: the best level is the last element, so
/// changes near the touch move little memory); the levels with their
/// strings live in a slab whose freed slots are reused, so a warm book
/// allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct StrBook {
    bids: Vec<Key>,
    asks: Vec<Key>,
    slab: Vec<StrLevel>,
    free: Vec<u32>,
}

impl StrBook {
    pub fn with_capacity(n: usize) -> StrBook {
        StrBook {
            bids: Vec::with_capacity(n),
            asks: Vec::with_capacity(n),
            slab: Vec::with_capacity(2 * n),
            free: Vec::with_capacity(2 * n),
        }
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.slab.clear();
        self.free.clear();
    }

    #[inline]
    fn alloc(&mut self, l: &StrLevel) -> u32 {
        match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = *l;
                s
            }
            None => {
                self.slab.push(*l);
                (self.slab.len() - 1) as u32
            }
        }
    }

    /// Sets a level (size 0 deletes it).
    #[inline]
    pub fn apply(&mut self, bid: bool, l: &StrLevel) {
        let side = if bid { &self.bids } else { &self.asks };
        // Bids ascending, asks descending: compare accordingly.
        let found = if bid {
            side.binary_search_by(|x| x.px.cmp(&l.px))
        } else {
            side.binary_search_by(|x| l.px.cmp(&x.px))
        };
        match (found, l.qty == 0) {
            (Ok(i), true) => {
                let side = if bid { &mut self.bids } else { &mut self.asks };
                let k = side.remove(i);
                self.free.push(k.slot);
            }
            (Ok(i), false) => {
                let slot = side[i].slot as usize;
                self.slab[slot] = *l;
            }
            (Err(_), true) => {}
            (Err(i), false) => {
                let slot = self.alloc(l);
                let side = if bid { &mut self.bids } else { &mut self.asks };
                side.insert(i, Key { px: l.px, slot });
            }
        }
    }

    /// Replaces both sides with a snapshot whose levels come best first (as
    /// OKX sends them): pushed in reverse, so loading is linear rather than
    /// one insertion per level. Unsorted or duplicated input falls back to a
    /// sort; zero sizes are skipped.
    pub fn load(&mut self, bids: &[StrLevel], asks: &[StrLevel]) {
        self.clear();
        for (bid, levels) in [(true, bids), (false, asks)] {
            for l in levels.iter().rev().filter(|l| l.qty != 0) {
                let slot = self.alloc(l);
                let side = if bid { &mut self.bids } else { &mut self.asks };
                side.push(Key { px: l.px, slot });
            }
        }
        if !self.bids.is_sorted_by(|a, b| a.px < b.px) {
            self.bids.sort_by_key(|k| k.px);
            self.bids.dedup_by_key(|k| k.px);
        }
        if !self.asks.is_sorted_by(|a, b| a.px > b.px) {
            self.asks.sort_by_key(|k| std::cmp::Reverse(k.px));
            self.asks.dedup_by_key(|k| k.px);
        }
    }

    /// Best bids, best first.
    pub fn bids(&self) -> impl Iterator<Item = &StrLevel> {
        self.bids.iter().rev().map(|k| &self.slab[k.slot as usize])
    }

    /// Best asks, best first.
    pub fn asks(&self) -> impl Iterator<Item = &StrLevel> {
        self.asks.iter().rev().map(|k| &self.slab[k.slot as usize])
    }

    pub fn is_crossed(&self) -> bool {
        match (self.bids.last(), self.asks.last()) {
            (Some(b), Some(a)) => b.px >= a.px,
            _ => false,
        }
    }

    /// OKX's checksum: CRC32 (IEEE) of `bid1px:bid1sz:ask1px:ask1sz:...`
    /// over the top 25 levels of each side, interleaved, the longer side's
    /// remaining levels appended, as a signed 32-bit integer.
    pub fn checksum(&self) -> i32 {
        let mut h = crc32fast::Hasher::new();
        let mut first = true;
        let mut put = |l: &StrLevel| {
            if !first {
                h.update(b":");
            }
            first = false;
            h.update(l.px_str.as_bytes());
            h.update(b":");
            h.update(l.sz_str.as_bytes());
        };
        let mut b = self.bids().take(CHECKSUM_DEPTH);
        let mut a = self.asks().take(CHECKSUM_DEPTH);
        loop {
            let (nb, na) = (b.next(), a.next());
            if nb.is_none() && na.is_none() {
                break;
            }
            if let Some(l) = nb {
                put(l);
            }
            if let Some(l) = na {
                put(l);
            }
        }
        h.finalize() as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lvl(p: &str, s: &str) -> StrLevel {
        StrLevel {
            px: (p.parse::<f64>().unwrap() * 10.0).round() as i64,
            qty: (s.parse::<f64>().unwrap() * 10.0).round() as i64,
            px_str: InlineStr::new(p.as_bytes()).unwrap(),
            sz_str: InlineStr::new(s.as_bytes()).unwrap(),
        }
    }

    #[test]
    fn official_checksum_vectors() {
        let mut b = StrBook::default();
        b.apply(true, &lvl("3366.1", "7"));
        b.apply(true, &lvl("3366", "6"));
        b.apply(false, &lvl("3366.8", "9"));
        b.apply(false, &lvl("3368", "8"));
        assert_eq!(b.checksum(), -1881014294);
        let mut b = StrBook::default();
        b.apply(true, &lvl("3366.1", "7"));
        b.apply(false, &lvl("3368", "8"));
        b.apply(false, &lvl("3372", "8"));
        b.apply(false, &lvl("3366.8", "9"));
        assert_eq!(b.checksum(), 831078360);
        // A snapshot loads to the same book, sorted or not.
        let mut c = StrBook::default();
        c.load(
            &[lvl("3366.1", "7")],
            &[lvl("3366.8", "9"), lvl("3368", "8"), lvl("3372", "8")],
        );
        assert_eq!(c.checksum(), 831078360);
        c.load(
            &[lvl("3366.1", "7")],
            &[lvl("3372", "8"), lvl("3366.8", "9"), lvl("3368", "8")],
        );
        assert_eq!(c.checksum(), 831078360);
        // Deleting and replacing levels.
        b.apply(false, &lvl("3372", "0"));
        b.apply(false, &lvl("3372", "8"));
        b.apply(true, &lvl("3360", "1"));
        b.apply(true, &lvl("3360", "0"));
        assert_eq!(b.checksum(), 831078360);
        assert!(!b.is_crossed());
        assert!(InlineStr::new(&[b'1'; MAX_STR + 1]).is_none());
    }
}
