//! The ordered pre-trade checks (the sequence is listed in the governor's
//! module doc): [`Governor::first_failure`] runs them, first failure wins;
//! an EXECUTE is then recorded in the rate windows and today's count.
//! One file per family: [`health`] (heartbeats, book), [`instrument`]
//! (flat sell, tick/lot/min notional, price band), [`position`] (position,
//! notional, gross exposure, open orders), [`rates`], [`daily_cap`],
//! [`venue`] (private stream, venue order traffic, unknown-outcome exposure).

mod daily_cap;
mod health;
mod instrument;
mod position;
mod rates;
mod venue;

use super::Governor;
use crate::core::{Action, Decision, SkipReason, Verdict};
use crate::risk::breaker::TripReason;
pub(in crate::risk::governor) fn static_slot(r: SkipReason) -> usize {
    1 + SkipReason::ALL.iter().position(|x| *x == r).unwrap_or(0)
}

impl Governor {
    pub(in crate::risk::governor) fn skip(r: SkipReason) -> Option<(Verdict, usize)> {
        Some((Verdict::Skip(r), static_slot(r)))
    }

    pub(in crate::risk::governor) fn first_failure(
        &mut self,
        d: &Decision,
        now_ns: u64,
    ) -> Option<(Verdict, usize)> {
        if self.kill_switch {
            return Self::skip(SkipReason::KillSwitch);
        }
        if let Some(t) = self.breaker.trip_info() {
            let slot = 1 + SkipReason::ALL.len() + t.reason.idx();
            return Some((Verdict::Skip(SkipReason::CircuitOpen), slot));
        }
        if d.action == Action::Hold {
            return Self::skip(SkipReason::Hold);
        }
        if let Some(k) = self.required_heartbeat_missing() {
            let slot = 1 + SkipReason::ALL.len() + TripReason::ALL.len() + k;
            return Some((Verdict::Skip(SkipReason::HeartbeatMissing), slot));
        }
        let r = self
            .check_venue(d)
            .or_else(|| self.check_book(d, now_ns))
            .or_else(|| self.check_flat_sell(d))
            .or_else(|| self.check_instrument_rules(d))
            .or_else(|| self.check_price_band(d))
            .or_else(|| self.check_position(d))
            .or_else(|| self.check_notional(d))
            .or_else(|| self.check_open_orders())
            .or_else(|| self.check_order_rate(now_ns))
            .or_else(|| self.check_daily_cap())?;
        Self::skip(r)
    }

    pub(in crate::risk::governor) fn touch(d: &Decision) -> i64 {
        match d.action {
            Action::Sell => d.book.bids[0].px,
            _ => d.book.asks[0].px,
        }
    }

    /// Records an EXECUTE: in the rate windows and today's trade count.
    pub(in crate::risk::governor) fn record_execute(&mut self, now_ns: u64) {
        self.record_sent(now_ns);
        self.count_trade();
    }
}
