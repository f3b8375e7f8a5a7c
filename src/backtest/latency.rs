//! The backtest's latency model: a fixed feed delay (a frame's recorded
//! receive to the engine acting on it) and a fixed order delay (a decision
//! to its order reaching the matcher, which then matches the book as it is
//! at that later time), from `[backtest]`; the orders in flight between the
//! two; and the modeled tick-to-order latency of every order.

use crate::config::BacktestConfig;
use crate::core::OrderIntent;
use hdrhistogram::Histogram;
use std::collections::VecDeque;

pub struct LatencyModel {
    pub feed_delay_ns: u64,
    pub order_delay_ns: u64,
    t2o: Histogram<u64>,
}

impl LatencyModel {
    pub fn from_config(c: &BacktestConfig) -> LatencyModel {
        LatencyModel {
            feed_delay_ns: c.feed_delay_us.saturating_mul(1000),
            order_delay_ns: c.order_delay_us.saturating_mul(1000),
            t2o: Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds"),
        }
    }

    /// One order's modeled tick-to-order latency (recorded receive of the
    /// frame behind its decision to the matcher).
    pub fn record_tick_to_order(&mut self, ns: u64) {
        let _ = self.t2o.record(ns.max(1));
    }

    /// (count, p50, p90, p99, max) of modeled tick-to-order, in ns.
    pub fn tick_to_order(&self) -> (u64, u64, u64, u64, u64) {
        let h = &self.t2o;
        if h.is_empty() {
            return (0, 0, 0, 0, 0);
        }
        (
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.max(),
        )
    }
}

/// Orders between decision and matcher, oldest first (due times never
/// decrease: recorded time does not, and the delay is fixed).
#[derive(Default)]
pub struct Pending {
    q: VecDeque<(u64, OrderIntent)>,
}

impl Pending {
    pub fn push(&mut self, due_ns: u64, o: OrderIntent) {
        self.q.push_back((due_ns, o));
    }

    /// The oldest order if it is due by `upto`.
    pub fn pop_due(&mut self, upto: u64) -> Option<(u64, OrderIntent)> {
        if self.q.front().is_some_and(|(d, _)| *d <= upto) {
            self.q.pop_front()
        } else {
            None
        }
    }

    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}
