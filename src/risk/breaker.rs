//! The circuit breaker: `CLOSED` (trading) or `OPEN` with a trip reason
//! (every decision SKIPs `circuit_open:<reason>`), its bounded history of
//! trips and resets (newest last in memory, newest first in the API), and
//! the journal changes each transition produces. What trips it and whether a
//! reset is allowed is decided by the governor, which knows the conditions.

use crate::journal::Change;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;

/// History entries kept (and restored from the journal).
pub const HISTORY: usize = 256;

/// Why the breaker opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TripReason {
    DailyLoss,
    Drawdown,
    ConsecutiveLosses,
    ConsecutiveRejects,
    Manual,
}

impl TripReason {
    pub const ALL: [TripReason; 5] = [
        TripReason::DailyLoss,
        TripReason::Drawdown,
        TripReason::ConsecutiveLosses,
        TripReason::ConsecutiveRejects,
        TripReason::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TripReason::DailyLoss => "daily_loss",
            TripReason::Drawdown => "drawdown",
            TripReason::ConsecutiveLosses => "consecutive_losses",
            TripReason::ConsecutiveRejects => "consecutive_rejects",
            TripReason::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<TripReason> {
        TripReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn idx(self) -> usize {
        self as usize
    }
}

/// One trip or reset, as shown by `/api/circuit-breaker/history`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BreakerEvent {
    pub ts_ms: i64,
    /// `open` (a trip) or `closed` (a reset).
    pub state: String,
    /// Trip reason; for a reset, the reason the operator gave.
    pub reason: String,
    pub detail: String,
    /// `auto`, `api` or `cooldown`.
    pub by: String,
    pub client: String,
    #[serde(rename = "override")]
    pub override_: bool,
}

/// The current trip.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    pub reason: TripReason,
    pub since_ms: i64,
    pub detail: String,
}

#[derive(Debug)]
pub struct Breaker {
    open: Option<Trip>,
    history: VecDeque<BreakerEvent>,
    pub trips: u64,
    pub resets: u64,
    /// `circuit_open:<reason>` per [`TripReason`].
    labels: Vec<Arc<str>>,
    /// Bumped on every change (publishers re-render history on change).
    pub version: u64,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new()
    }
}

impl Breaker {
    pub fn new() -> Self {
        Breaker {
            open: None,
            history: VecDeque::with_capacity(HISTORY),
            trips: 0,
            resets: 0,
            labels: TripReason::ALL
                .iter()
                .map(|r| Arc::from(format!("circuit_open:{}", r.as_str())))
                .collect(),
            version: 0,
        }
    }

    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    pub fn trip_info(&self) -> Option<&Trip> {
        self.open.as_ref()
    }

    /// The SKIP label while open (`circuit_open:<reason>`).
    pub fn label(&self, r: TripReason) -> &Arc<str> {
        &self.labels[r.idx()]
    }

    pub fn labels(&self) -> &[Arc<str>] {
        &self.labels
    }

    fn push(&mut self, e: BreakerEvent) {
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(e);
        self.version += 1;
    }

    /// Opens the breaker; `None` when it is already open (the first reason
    /// stays).
    pub fn trip(
        &mut self,
        reason: TripReason,
        detail: String,
        by: &'static str,
        client: String,
        now_ms: i64,
    ) -> Option<Change> {
        if self.open.is_some() {
            return None;
        }
        self.open = Some(Trip {
            reason,
            since_ms: now_ms,
            detail: detail.clone(),
        });
        self.trips += 1;
        let c = Change {
            reason: reason.as_str().into(),
            detail,
            by,
            client,
            override_: false,
        };
        self.push(event(true, now_ms, &c));
        Some(c)
    }

    /// Closes the breaker (the caller decided it may); `None` if closed.
    pub fn close(
        &mut self,
        why: String,
        detail: String,
        by: &'static str,
        client: String,
        override_: bool,
        now_ms: i64,
    ) -> Option<Change> {
        self.open.take()?;
        self.resets += 1;
        let c = Change {
            reason: why,
            detail,
            by,
            client,
            override_,
        };
        self.push(event(false, now_ms, &c));
        Some(c)
    }

    /// Restores state and history (oldest first) from the journal.
    pub fn restore(&mut self, open: Option<Trip>, history: Vec<BreakerEvent>) {
        self.open = open;
        for e in history {
            if e.state == "open" {
                self.trips += 1;
            } else {
                self.resets += 1;
            }
            self.push(e);
        }
    }

    /// History, newest first.
    pub fn history(&self) -> Vec<BreakerEvent> {
        self.history.iter().rev().cloned().collect()
    }
}

/// The history entry of a journaled change.
pub fn event(open: bool, ts_ms: i64, c: &Change) -> BreakerEvent {
    BreakerEvent {
        ts_ms,
        state: if open { "open" } else { "closed" }.into(),
        reason: c.reason.clone(),
        detail: c.detail.clone(),
        by: c.by.into(),
        client: c.client.clone(),
        override_: c.override_,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_once_closes_and_keeps_bounded_history() {
        let mut b = Breaker::new();
        assert!(!b.is_open());
        let c = b
            .trip(
                TripReason::DailyLoss,
                "loss 12".into(),
                "auto",
                String::new(),
                5,
            )
            .unwrap();
        assert_eq!(c.reason, "daily_loss");
        assert!(
            b.trip(TripReason::Manual, String::new(), "api", "x".into(), 6)
                .is_none()
        );
        assert_eq!(b.trip_info().unwrap().reason, TripReason::DailyLoss);
        assert_eq!(&**b.label(TripReason::DailyLoss), "circuit_open:daily_loss");
        let c = b
            .close(
                "ops ok".into(),
                String::new(),
                "api",
                "1.2.3.4:5".into(),
                true,
                7,
            )
            .unwrap();
        assert!(c.override_);
        assert!(
            b.close("x".into(), String::new(), "api", String::new(), false, 8)
                .is_none()
        );
        let h = b.history();
        assert_eq!(h.len(), 2);
        assert_eq!((h[0].state.as_str(), h[0].ts_ms), ("closed", 7));
        assert_eq!(
            (h[1].state.as_str(), h[1].reason.as_str()),
            ("open", "daily_loss")
        );
        for k in 0..HISTORY as i64 {
            b.trip(
                TripReason::Manual,
                String::new(),
                "api",
                String::new(),
                10 + k,
            );
            b.close(
                "r".into(),
                String::new(),
                "api",
                String::new(),
                false,
                10 + k,
            );
        }
        assert_eq!(b.history().len(), HISTORY);
        assert_eq!(
            (b.trips, b.resets),
            (1 + HISTORY as u64, 1 + HISTORY as u64)
        );
    }
}
