//! Health checks: a `required` auxiliary heartbeat stale or missing, and
//! the decision's book (in sync, fresh, both sides present).

use super::super::Governor;
use crate::core::{Decision, SkipReason};
use crate::pipeline::heartbeat::is_fresh;
use std::sync::atomic::Ordering;

impl Governor {
    pub(in crate::risk::governor) fn required_heartbeat_missing(&self) -> Option<usize> {
        let now = self.now_ms;
        self.gates.iter().position(|g| {
            g.required && !is_fresh(g.slot.load(Ordering::Relaxed), now, g.max_age_ms)
        })
    }

    pub(in crate::risk::governor) fn check_book(
        &self,
        d: &Decision,
        now_ns: u64,
    ) -> Option<SkipReason> {
        if !d.book.in_sync {
            return Some(SkipReason::BookOutOfSync);
        }
        let max_age_ns = self.cfg.max_book_age_ms.saturating_mul(1_000_000);
        if now_ns.saturating_sub(d.book.recv_ns) > max_age_ns {
            return Some(SkipReason::BookStale);
        }
        let ok = |l: Option<crate::core::Level>| l.is_some_and(|l| l.px > 0 && l.qty > 0);
        (!(ok(d.book.best_bid()) && ok(d.book.best_ask()))).then_some(SkipReason::BookEmpty)
    }
}
