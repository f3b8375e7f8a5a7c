//! Splits one venue book update into the fixed-size [`DepthChunk`]s the book
//! stage applies (RESET on the first chunk of a snapshot, END on the last),
//! for venues whose parsers keep levels in their own shape.

use crate::core::{
    Bbo, CHUNK_END, CHUNK_LEVELS, CHUNK_RESET, DepthChunk, FeedStatus, InstrumentId, Level,
    MarketBody, MarketEvent, Trade, Venue,
};
use crate::pipeline::channel::LocalTx;

/// Sends one venue's events to the book stage (never blocking).
pub struct Emitter {
    pub venue: Venue,
    pub tx: LocalTx<MarketEvent>,
}

impl Emitter {
    #[inline]
    fn send(&self, inst: InstrumentId, recv_ns: u64, exch_ms: i64, body: MarketBody) -> bool {
        self.tx
            .try_send(MarketEvent {
                venue: self.venue,
                inst,
                recv_ns,
                exch_ms,
                body,
            })
            .is_ok()
    }

    /// Tells the book stage this book can no longer be trusted.
    pub fn out_of_sync(&self, inst: InstrumentId, recv_ns: u64) -> bool {
        self.send(inst, recv_ns, 0, MarketBody::Status(FeedStatus::OutOfSync))
    }

    /// One book update as chunks; false if the queue refused a chunk (the
    /// book is then inconsistent and the symbol must be resynced).
    #[allow(clippy::too_many_arguments)]
    pub fn depth<T>(
        &self,
        inst: InstrumentId,
        recv_ns: u64,
        exch_ms: i64,
        update_id: u64,
        reset: bool,
        bids: &[T],
        asks: &[T],
        level: impl Fn(&T) -> Level,
    ) -> bool {
        for_each_chunk(bids, asks, level, reset, update_id, |c| {
            self.send(inst, recv_ns, exch_ms, MarketBody::Depth(c))
        })
    }

    pub fn trade(&self, inst: InstrumentId, recv_ns: u64, exch_ms: i64, t: Trade) -> bool {
        self.send(inst, recv_ns, exch_ms, MarketBody::Trade(t))
    }

    pub fn bbo(&self, inst: InstrumentId, recv_ns: u64, exch_ms: i64, b: Bbo) -> bool {
        self.send(inst, recv_ns, exch_ms, MarketBody::Bbo(b))
    }

    pub fn queue_len(&self) -> usize {
        self.tx.len()
    }
}

/// Calls `sink` with each chunk of the update, in order; stops and returns
/// false as soon as `sink` refuses one.
pub fn for_each_chunk<T>(
    bids: &[T],
    asks: &[T],
    level: impl Fn(&T) -> Level,
    reset: bool,
    update_id: u64,
    mut sink: impl FnMut(DepthChunk) -> bool,
) -> bool {
    let mut bi = 0;
    let mut ai = 0;
    let mut first = true;
    loop {
        let mut c = DepthChunk {
            update_id,
            ..Default::default()
        };
        if first && reset {
            c.flags |= CHUNK_RESET;
        }
        let nb = (bids.len() - bi).min(CHUNK_LEVELS);
        let na = (asks.len() - ai).min(CHUNK_LEVELS);
        for k in 0..nb {
            c.bids[k] = level(&bids[bi + k]);
        }
        for k in 0..na {
            c.asks[k] = level(&asks[ai + k]);
        }
        c.n_bids = nb as u8;
        c.n_asks = na as u8;
        bi += nb;
        ai += na;
        let last = bi == bids.len() && ai == asks.len();
        if last {
            c.flags |= CHUNK_END;
        }
        if !sink(c) {
            return false;
        }
        first = false;
        if last {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_flags() {
        let b: Vec<Level> = (0..20).map(|i| Level { px: i, qty: 1 }).collect();
        let a: Vec<Level> = (0..3)
            .map(|i| Level {
                px: 100 + i,
                qty: 1,
            })
            .collect();
        let mut out = Vec::new();
        assert!(for_each_chunk(
            &b,
            &a,
            |l| *l,
            true,
            7,
            |c| {
                out.push(c);
                true
            }
        ));
        assert_eq!(out.len(), 3);
        assert!(out[0].is_reset() && !out[0].is_end());
        assert!(!out[1].is_reset());
        assert!(out[2].is_end());
        assert_eq!(out.iter().map(|c| c.n_bids as usize).sum::<usize>(), 20);
        assert_eq!(out.iter().map(|c| c.n_asks as usize).sum::<usize>(), 3);
        // An empty update is one END chunk.
        let mut n = 0;
        for_each_chunk::<Level>(
            &[],
            &[],
            |l| *l,
            false,
            1,
            |c| {
                assert!(c.is_end());
                n += 1;
                true
            },
        );
        assert_eq!(n, 1);
        assert!(!for_each_chunk(&b, &a, |l| *l, false, 1, |_| false));
    }
}
