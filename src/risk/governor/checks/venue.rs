//! Venue checks of the live order path, read from the shared
//! [`VenueGates`](crate::pipeline::venue_gates::VenueGates): the venue's
//! private stream must be up (`private_stream_down`) and its order traffic
//! not stopped by a 429/418 (`venue_budget_spent`); and the exposure of
//! orders whose outcome is unknown, which the position, notional, gross
//! exposure, open-order and flat-sell checks count as if it could fill.
//! Without attached gates (tests, replays) none of this applies.

use super::super::Governor;
use crate::core::{Decision, InstrumentId, SkipReason};

impl Governor {
    pub(in crate::risk::governor) fn check_venue(&self, d: &Decision) -> Option<SkipReason> {
        let g = self.venue_gates.as_ref()?;
        if !g.private_stream_up(d.venue) {
            return Some(SkipReason::PrivateStreamDown);
        }
        g.rest_stopped(d.venue, self.now_ms)
            .then_some(SkipReason::VenueBudgetSpent)
    }

    /// Unknown-outcome (buy, sell, orders) of instrument `i`.
    pub(in crate::risk::governor) fn unknown(&self, i: usize) -> (i64, i64, u32) {
        self.venue_gates
            .as_ref()
            .map_or((0, 0, 0), |g| g.unknown(InstrumentId(i as u16)))
    }

    /// Orders whose outcome is unknown, over every instrument.
    pub(in crate::risk::governor) fn unknown_orders(&self) -> usize {
        self.venue_gates.as_ref().map_or(0, |g| {
            g.unknown_all().map(|(_, _, n)| n as usize).sum::<usize>()
        })
    }
}
