//! Per-venue and per-instrument facts of the live order path that the risk
//! governor reads before it lets an order out, written by whoever learns
//! them (lock-free atomics, no handle to a module above the pipeline):
//!
//! - `private_stream_up`: the venue's private (user data) stream is
//!   connected and caught up. Written by the venue's trading session; true
//!   from the start in paper (no private stream), false in testnet and live
//!   until the session reports it up. Risk SKIPs `private_stream_down`.
//! - `rest_stopped_until_ms`: order traffic stopped by a 429/418 until this
//!   Unix ms (the venue's REST budget writes it). Risk SKIPs
//!   `venue_budget_spent`.
//! - per instrument, the quantity of orders whose placement outcome is
//!   unknown (buy and sell side, and their count): written by the
//!   unknown-outcome resolver's driver, counted by risk as if it could
//!   fill (position, notional, gross exposure, open orders).

use crate::config::TradingMode;
use crate::core::{InstrumentId, Side, Venue};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

/// One venue's gate.
#[derive(Debug)]
pub struct VenueGate {
    pub private_stream_up: AtomicBool,
    /// Unix ms until which order traffic is stopped (0 = not stopped).
    pub rest_stopped_until_ms: std::sync::Arc<AtomicI64>,
}

/// Unresolved (unknown-outcome) exposure of one instrument, scaled qty.
#[derive(Debug, Default)]
pub struct UnknownExposure {
    pub buy: AtomicI64,
    pub sell: AtomicI64,
    pub orders: AtomicU32,
}

/// Everything above, for every venue and instrument.
#[derive(Debug)]
pub struct VenueGates {
    venues: [VenueGate; Venue::COUNT],
    unknown: Vec<UnknownExposure>,
}

impl VenueGates {
    /// Gates for `instruments` instruments; the private streams count as up
    /// only in paper.
    pub fn new(mode: TradingMode, instruments: usize) -> VenueGates {
        let up = mode == TradingMode::Paper;
        VenueGates {
            venues: std::array::from_fn(|_| VenueGate {
                private_stream_up: AtomicBool::new(up),
                rest_stopped_until_ms: Default::default(),
            }),
            unknown: (0..instruments).map(|_| Default::default()).collect(),
        }
    }

    pub fn venue(&self, v: Venue) -> &VenueGate {
        &self.venues[v.idx()]
    }

    /// Sets whether `v`'s private stream is up (the venue session).
    pub fn set_private_stream_up(&self, v: Venue, up: bool) {
        self.venue(v).private_stream_up.store(up, Ordering::Release);
    }

    pub fn private_stream_up(&self, v: Venue) -> bool {
        self.venue(v).private_stream_up.load(Ordering::Acquire)
    }

    /// True while `v`'s order traffic is stopped at `now_ms`.
    pub fn rest_stopped(&self, v: Venue, now_ms: i64) -> bool {
        now_ms < self.venue(v).rest_stopped_until_ms.load(Ordering::Acquire)
    }

    /// The unknown-outcome exposure of `inst` (zero for an unknown id).
    pub fn unknown(&self, inst: InstrumentId) -> (i64, i64, u32) {
        self.unknown.get(inst.idx()).map_or((0, 0, 0), |u| {
            (
                u.buy.load(Ordering::Acquire),
                u.sell.load(Ordering::Acquire),
                u.orders.load(Ordering::Acquire),
            )
        })
    }

    /// An order of `qty` on `side` went unknown (`+1`) or was resolved
    /// (`-1`: found, refused or filled at the venue).
    pub fn add_unknown(&self, inst: InstrumentId, side: Side, qty: i64, sign: i64) {
        let Some(u) = self.unknown.get(inst.idx()) else {
            return;
        };
        let q = qty.saturating_mul(sign.signum());
        match side {
            Side::Buy => u.buy.fetch_add(q, Ordering::AcqRel),
            Side::Sell => u.sell.fetch_add(q, Ordering::AcqRel),
        };
        if sign > 0 {
            u.orders.fetch_add(1, Ordering::AcqRel);
        } else {
            let _ = u
                .orders
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    Some(n.saturating_sub(1))
                });
        }
    }

    /// Unknown exposure of every instrument (for the governor's gross sum).
    pub fn unknown_all(&self) -> impl Iterator<Item = (i64, i64, u32)> + '_ {
        (0..self.unknown.len()).map(|i| self.unknown(InstrumentId(i as u16)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_streams_are_up_and_live_ones_wait_for_the_session() {
        let g = VenueGates::new(TradingMode::Paper, 1);
        assert!(g.private_stream_up(Venue::Binance));
        let g = VenueGates::new(TradingMode::Live, 1);
        assert!(!g.private_stream_up(Venue::Binance));
        g.set_private_stream_up(Venue::Binance, true);
        assert!(g.private_stream_up(Venue::Binance));
        assert!(!g.rest_stopped(Venue::Binance, 1_000));
        g.venue(Venue::Binance)
            .rest_stopped_until_ms
            .store(2_000, Ordering::Release);
        assert!(g.rest_stopped(Venue::Binance, 1_999));
        assert!(!g.rest_stopped(Venue::Binance, 2_000));
        g.add_unknown(InstrumentId(0), Side::Buy, 7, 1);
        g.add_unknown(InstrumentId(0), Side::Sell, 3, 1);
        assert_eq!(g.unknown(InstrumentId(0)), (7, 3, 2));
        g.add_unknown(InstrumentId(0), Side::Buy, 7, -1);
        assert_eq!(g.unknown(InstrumentId(0)), (0, 3, 1));
        g.add_unknown(InstrumentId(9), Side::Buy, 7, 1);
        assert_eq!(g.unknown(InstrumentId(9)), (0, 0, 0));
    }
}
