//! OKX's order-book state for one instrument as the feed must keep it to
//! verify checksums: both sides sorted (best at the end, so changes near the
//! touch move little memory), each level with its scaled values **and the
//! price and size strings exactly as received**, held inline in fixed
//! buffers (no allocation per message; the vectors keep their capacity).
//! The CRC32 of the top 25 levels is computed over those strings, streamed
//! into the hasher without building the string.

use crate::core::Level;
use std::cmp::Ordering;

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

/// Both sides of one book. Bids ascending and asks descending, so the best
/// level of each side is the last element.
#[derive(Debug, Clone, Default)]
pub struct StrBook {
    bids: Vec<StrLevel>,
    asks: Vec<StrLevel>,
}

impl StrBook {
    pub fn with_capacity(n: usize) -> StrBook {
        StrBook {
            bids: Vec::with_capacity(n),
            asks: Vec::with_capacity(n),
        }
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Sets a level (size 0 deletes it).
    #[inline]
    pub fn apply(&mut self, bid: bool, l: &StrLevel) {
        let side = if bid { &mut self.bids } else { &mut self.asks };
        // Bids ascending, asks descending: compare accordingly.
        let found = if bid {
            side.binary_search_by(|x| x.px.cmp(&l.px))
        } else {
            side.binary_search_by(|x| l.px.cmp(&x.px))
        };
        match (found, l.qty == 0) {
            (Ok(i), true) => {
                side.remove(i);
            }
            (Ok(i), false) => side[i] = *l,
            (Err(_), true) => {}
            (Err(i), false) => side.insert(i, *l),
        }
    }

    /// Best bids, best first.
    pub fn bids(&self) -> impl Iterator<Item = &StrLevel> {
        self.bids.iter().rev()
    }

    /// Best asks, best first.
    pub fn asks(&self) -> impl Iterator<Item = &StrLevel> {
        self.asks.iter().rev()
    }

    pub fn is_crossed(&self) -> bool {
        match (self.bids.last(), self.asks.last()) {
            (Some(b), Some(a)) => b.px.cmp(&a.px) != Ordering::Less,
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
