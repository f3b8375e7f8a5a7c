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
//! - `order_rate_paused_until_ms`: new orders stopped until this Unix ms
//!   because the account's order-rate window is full (the venue's trading
//!   session writes it before the venue would answer `-1015`). Risk SKIPs
//!   `venue_order_rate`.

use crate::config::TradingMode;
use crate::core::Venue;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// One venue's gate.
#[derive(Debug)]
pub struct VenueGate {
    pub private_stream_up: AtomicBool,
    /// Unix ms until which order traffic is stopped (0 = not stopped).
    pub rest_stopped_until_ms: std::sync::Arc<AtomicI64>,
    /// Unix ms until which new orders wait for the order-rate window.
    pub order_rate_paused_until_ms: AtomicI64,
}

/// Every venue's gate.
#[derive(Debug)]
pub struct VenueGates {
    venues: [VenueGate; Venue::COUNT],
}

impl VenueGates {
    /// The gates of `mode`: the private streams count as up only in paper.
    pub fn new(mode: TradingMode) -> VenueGates {
        let up = mode == TradingMode::Paper;
        VenueGates {
            venues: std::array::from_fn(|_| VenueGate {
                private_stream_up: AtomicBool::new(up),
                rest_stopped_until_ms: Default::default(),
                order_rate_paused_until_ms: AtomicI64::new(0),
            }),
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

    /// Stops `v`'s new orders until `until_ms` (the order-rate window);
    /// never shortens a stop in force.
    pub fn pause_for_order_rate(&self, v: Venue, until_ms: i64) {
        self.venue(v)
            .order_rate_paused_until_ms
            .fetch_max(until_ms, Ordering::AcqRel);
    }

    /// True while `v`'s new orders wait for the order-rate window.
    pub fn order_rate_paused(&self, v: Venue, now_ms: i64) -> bool {
        now_ms
            < self
                .venue(v)
                .order_rate_paused_until_ms
                .load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_streams_are_up_and_live_ones_wait_for_the_session() {
        let g = VenueGates::new(TradingMode::Paper);
        assert!(g.private_stream_up(Venue::Binance));
        let g = VenueGates::new(TradingMode::Live);
        assert!(!g.private_stream_up(Venue::Binance));
        g.set_private_stream_up(Venue::Binance, true);
        assert!(g.private_stream_up(Venue::Binance));
        assert!(!g.rest_stopped(Venue::Binance, 1_000));
        g.venue(Venue::Binance)
            .rest_stopped_until_ms
            .store(2_000, Ordering::Release);
        assert!(g.rest_stopped(Venue::Binance, 1_999));
        assert!(!g.rest_stopped(Venue::Binance, 2_000));
        assert!(!g.order_rate_paused(Venue::Binance, 1_000));
        g.pause_for_order_rate(Venue::Binance, 3_000);
        g.pause_for_order_rate(Venue::Binance, 2_500);
        assert!(g.order_rate_paused(Venue::Binance, 2_999));
        assert!(!g.order_rate_paused(Venue::Binance, 3_000));
        assert!(
            !g.rest_stopped(Venue::Binance, 2_999),
            "apart from the 429 stop"
        );
    }
}
