//! Venue checks of the live order path, read from the shared
//! [`VenueGates`](crate::pipeline::venue_gates::VenueGates): the venue's
//! private stream must be up (`private_stream_down`) and its order traffic
//! not stopped by a 429/418 (`venue_budget_spent`) nor by a full
//! order-rate window (`venue_order_rate`). Without attached gates
//! (tests, replays) neither applies. Orders whose outcome is unknown need
//! nothing here: the exec stage reports no `Done` for them until they are
//! resolved, so they stay among the orders in flight that the position,
//! notional, gross exposure, open-order and flat-sell checks count.

use super::super::Governor;
use crate::core::{Decision, SkipReason};

impl Governor {
    pub(in crate::risk::governor) fn check_venue(&self, d: &Decision) -> Option<SkipReason> {
        let g = self.venue_gates.as_ref()?;
        if !g.private_stream_up(d.venue) {
            return Some(SkipReason::PrivateStreamDown);
        }
        if g.rest_stopped(d.venue, self.now_ms) {
            return Some(SkipReason::VenueBudgetSpent);
        }
        g.order_rate_paused(d.venue, self.now_ms)
            .then_some(SkipReason::VenueOrderRate)
    }
}
