//! Per-symbol feed bookkeeping shared by the Bybit and OKX connections (the
//! staleness rule, [`judge_stale`], by Binance's too): an
//! owed out-of-sync notice (a full queue never loses it), a pending
//! resubscribe, and staleness detection (a symbol whose book stopped on an
//! open connection is resubscribed once, then the connection is renewed).
//! [`ResyncCount`] gives `qt_feed_resyncs_total` its one meaning for every
//! venue (Binance's feed uses it too).

use super::chunks::Emitter;
use crate::core::InstrumentId;
use crate::telemetry::venue::SymbolCounters;
use prometheus::IntCounter;
use std::time::{Duration, Instant};

#[cfg(test)]
mod resync_tests {
    use super::ResyncCount;

    #[test]
    fn first_sync_is_not_a_resync_and_a_rebuild_counts_once() {
        let mut r = ResyncCount::new(prometheus::IntCounter::new("t", "t").unwrap());
        r.begin();
        r.begin(); // a retried first snapshot
        r.synced();
        assert_eq!(r.get(), 0, "the first sync is not a resync");
        r.begin(); // a gap or a reconnect
        r.begin(); // the snapshot request failed and is retried
        assert_eq!(r.get(), 1);
        r.synced();
        r.synced(); // Bybit's own new snapshot (u == 1): nothing begun
        assert_eq!(r.get(), 1);
        r.begin();
        assert_eq!(r.get(), 2);
    }
}

/// What staleness asks the feed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    Fresh,
    /// First strike: resubscribe this symbol's book.
    Resubscribe,
    /// Still silent after a resubscribe: reconnect.
    Reconnect,
}

pub struct SymLink {
    pub inst: InstrumentId,
    pub symbol: String,
    /// An OutOfSync not yet queued; nothing else of this symbol goes first.
    pub owe_oos: bool,
    /// The book must be resubscribed (gap, checksum, staleness, overflow).
    pub resub_pending: bool,
    /// Last book message (or keep-alive) of this symbol.
    pub last_book: Instant,
    pub stale_strikes: u8,
    pub c: SymbolCounters,
    pub gaps: IntCounter,
    pub resyncs: ResyncCount,
}

/// `qt_feed_resyncs_total{venue,symbol}`, one meaning for every venue: the
/// number of times a symbol's book, having been in sync, had to be rebuilt
/// from a new snapshot: after a sequence gap, a checksum mismatch, a missing
/// sequence id, a full book queue, staleness, or the connection carrying it
/// closing (any reason, a planned renewal included). Counted once per
/// rebuild when it begins (Binance: the snapshot request; Bybit and OKX: the
/// (re)subscription), however many requests the rebuild takes; a symbol's
/// first sync after start is not a resync, nor is a snapshot the venue
/// pushes by itself (Bybit's `u == 1` service restart).
#[derive(Debug)]
pub struct ResyncCount {
    counter: IntCounter,
    synced_once: bool,
    rebuilding: bool,
}

impl ResyncCount {
    pub fn new(counter: IntCounter) -> ResyncCount {
        ResyncCount {
            counter,
            synced_once: false,
            rebuilding: false,
        }
    }

    /// A rebuild begins (snapshot request, subscribe or resubscribe).
    pub fn begin(&mut self) {
        if self.rebuilding {
            return;
        }
        self.rebuilding = true;
        if self.synced_once {
            self.counter.inc();
        }
    }

    /// The book is in sync from a snapshot.
    pub fn synced(&mut self) {
        self.rebuilding = false;
        self.synced_once = true;
    }

    /// Resyncs counted so far.
    pub fn get(&self) -> u64 {
        self.counter.get()
    }
}

impl SymLink {
    pub fn new(
        inst: InstrumentId,
        symbol: &str,
        venue: &str,
        m: &crate::telemetry::metrics::Metrics,
    ) -> SymLink {
        SymLink {
            inst,
            symbol: symbol.to_string(),
            owe_oos: false,
            resub_pending: false,
            last_book: Instant::now(),
            stale_strikes: 0,
            c: m.venues.symbol(venue, symbol),
            gaps: m.feed_gaps.with_label_values(&[venue, symbol]),
            resyncs: ResyncCount::new(m.feed_resyncs.with_label_values(&[venue, symbol])),
        }
    }

    /// Delivers an owed out-of-sync notice; true when none is owed.
    #[inline]
    pub fn settle(&mut self, em: &Emitter, recv_ns: u64) -> bool {
        if !self.owe_oos {
            return true;
        }
        if em.out_of_sync(self.inst, recv_ns) {
            self.owe_oos = false;
            true
        } else {
            false
        }
    }

    /// The book can no longer be trusted: say so and ask for a resubscribe.
    pub fn desync(&mut self, em: &Emitter, recv_ns: u64) {
        self.owe_oos = true;
        self.resub_pending = true;
        self.settle(em, recv_ns);
    }

    /// A book message (or keep-alive) arrived.
    #[inline]
    pub fn touch(&mut self, now: Instant) {
        self.last_book = now;
        self.stale_strikes = 0;
    }

    /// Judges staleness; a strike restarts the clock.
    pub fn check_stale(&mut self, now: Instant, after: Duration) -> Stale {
        judge_stale(
            &mut self.last_book,
            &mut self.stale_strikes,
            &self.c.stale,
            now,
            after,
        )
    }
}

/// The staleness rule shared by every venue: silent for `after` (0 = off)
/// counts a stale event in `stale` and restarts the clock; the first strike
/// asks for a resubscribe, the next (no book message in between) for a
/// reconnect.
pub fn judge_stale(
    last_book: &mut Instant,
    strikes: &mut u8,
    stale: &IntCounter,
    now: Instant,
    after: Duration,
) -> Stale {
    if after.is_zero() || now.duration_since(*last_book) < after {
        return Stale::Fresh;
    }
    stale.inc();
    *last_book = now;
    *strikes = strikes.saturating_add(1);
    if *strikes == 1 {
        Stale::Resubscribe
    } else {
        Stale::Reconnect
    }
}
