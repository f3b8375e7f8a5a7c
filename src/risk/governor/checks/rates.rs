//! Order-rate checks: at most `max_orders_per_sec` in any 1000 ms and
//! `max_orders_per_min` in any 60 s (sliding windows of send times).

use super::super::{Governor, NS_PER_MIN, NS_PER_SEC};
use crate::core::SkipReason;
use std::collections::VecDeque;

impl Governor {
    pub(in crate::risk::governor) fn check_order_rate(
        &mut self,
        now_ns: u64,
    ) -> Option<SkipReason> {
        expire(&mut self.sent, now_ns, NS_PER_SEC);
        expire(&mut self.sent_min, now_ns, NS_PER_MIN);
        if self.sent.len() >= self.cfg.max_orders_per_sec as usize {
            return Some(SkipReason::OrderRate);
        }
        (self.sent_min.len() >= self.cfg.max_orders_per_min as usize)
            .then_some(SkipReason::OrderRateMinute)
    }

    /// Puts an EXECUTE's send time in both rate windows (bounded).
    pub(in crate::risk::governor) fn record_sent(&mut self, now_ns: u64) {
        if self.sent.len() >= self.cfg.max_orders_per_sec.max(1) as usize {
            self.sent.pop_front();
        }
        self.sent.push_back(now_ns);
        if self.sent_min.len() >= self.cfg.max_orders_per_min.max(1) as usize {
            self.sent_min.pop_front();
        }
        self.sent_min.push_back(now_ns);
    }
}

pub(in crate::risk::governor) fn expire(q: &mut VecDeque<u64>, now_ns: u64, window: u64) {
    while let Some(&t) = q.front() {
        if now_ns.saturating_sub(t) < window {
            break;
        }
        q.pop_front();
    }
}
