//! Heartbeats of auxiliary services: service name -> last time it was seen
//! alive (unix ms). Written by whatever hears from the services (today the
//! admin endpoint `POST /api/heartbeats/{service}`; the Redis link later),
//! read lock-free by the governor's heartbeat gate through per-service slots
//! resolved once at startup. Bounded: at most [`MAX_SERVICES`] names.
//!
//! A stamp from the future is implausible (a service writing µs or ns, a
//! host clock ahead, a hand-made `?ts_ms=`): one up to
//! [`FUTURE_TOLERANCE_MS`] ahead of this host's clock is clamped to now,
//! one further ahead is refused, counted ([`Heartbeats::future_rejected`])
//! and logged once per service. A slot that holds a time ahead of the
//! clock (the host clock stepped back) is replaced by the next plausible
//! stamp, and the governor's gate counts such a slot as stale: a future
//! time can never keep a required heartbeat fresh.

use crate::core::clock::unix_ms;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Most distinct services the store keeps.
pub const MAX_SERVICES: usize = 64;

/// How far ahead of this host's clock a heartbeat stamp may be (clamped to
/// now); beyond, it is refused.
pub const FUTURE_TOLERANCE_MS: i64 = 2_000;

/// What [`Heartbeats::record`] did with a stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Kept (or older than the one held: nothing to do).
    Ok,
    /// More than [`FUTURE_TOLERANCE_MS`] ahead of the clock: refused.
    Future,
    /// The store is full ([`MAX_SERVICES`]).
    Full,
}

/// `true` when a slot's stamp `t` counts as alive at `now_ms` for `max_age_ms`:
/// seen, not older than the limit, and not implausibly in the future.
pub fn is_fresh(t: i64, now_ms: i64, max_age_ms: i64) -> bool {
    t > 0
        && t <= now_ms.saturating_add(FUTURE_TOLERANCE_MS)
        && now_ms.saturating_sub(t) <= max_age_ms
}

/// Shared heartbeat store (`Shared::heartbeats`).
#[derive(Default)]
pub struct Heartbeats {
    slots: Mutex<Vec<(String, Arc<AtomicI64>)>>,
    future_rejected: AtomicU64,
    /// Services whose future stamp was already logged.
    logged_future: Mutex<Vec<String>>,
}

impl Heartbeats {
    pub fn new() -> Self {
        Self::default()
    }

    /// The slot of `service` (created if new; `None` when the store is full).
    /// A slot holds the last-seen unix ms, 0 = never.
    pub fn slot(&self, service: &str) -> Option<Arc<AtomicI64>> {
        let mut s = self.slots.lock();
        if let Some((_, a)) = s.iter().find(|(n, _)| n == service) {
            return Some(a.clone());
        }
        if s.len() >= MAX_SERVICES {
            return None;
        }
        let a = Arc::new(AtomicI64::new(0));
        s.push((service.to_string(), a.clone()));
        Some(a)
    }

    /// Records that `service` was alive at `ts_ms`, judged against this
    /// host's clock (see [`Heartbeats::record_at`]).
    pub fn record(&self, service: &str, ts_ms: i64) -> Recorded {
        self.record_at(service, ts_ms, unix_ms())
    }

    /// Records that `service` was alive at `ts_ms`, the clock reading
    /// `now_ms`: a stamp up to [`FUTURE_TOLERANCE_MS`] ahead is clamped to
    /// `now_ms`, one further ahead refused; an older time than the one held
    /// is ignored, unless the one held is itself ahead of the clock.
    pub fn record_at(&self, service: &str, ts_ms: i64, now_ms: i64) -> Recorded {
        if ts_ms > now_ms.saturating_add(FUTURE_TOLERANCE_MS) {
            self.future_rejected.fetch_add(1, Ordering::Relaxed);
            let mut logged = self.logged_future.lock();
            if logged.len() < MAX_SERVICES && !logged.iter().any(|s| s == service) {
                logged.push(service.to_string());
                tracing::warn!(
                    service,
                    ts_ms,
                    now_ms,
                    ahead_ms = ts_ms.saturating_sub(now_ms),
                    "heartbeat stamp in the future refused (µs or ns instead of ms? a clock ahead?); logged once per service"
                );
            }
            return Recorded::Future;
        }
        let ts = ts_ms.min(now_ms);
        let Some(a) = self.slot(service) else {
            return Recorded::Full;
        };
        let held_ahead = |cur: i64| cur > now_ms.saturating_add(FUTURE_TOLERANCE_MS);
        let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
            (ts > cur || held_ahead(cur)).then_some(ts)
        });
        Recorded::Ok
    }

    /// Stamps refused as too far in the future, since start.
    pub fn future_rejected(&self) -> u64 {
        self.future_rejected.load(Ordering::Relaxed)
    }

    /// Last-seen unix ms of `service` (`None`: never seen).
    pub fn last_seen(&self, service: &str) -> Option<i64> {
        let s = self.slots.lock();
        s.iter()
            .find(|(n, _)| n == service)
            .map(|(_, a)| a.load(Ordering::Relaxed))
            .filter(|ms| *ms > 0)
    }

    /// Every known service with its age in ms at `now_ms` (`None`: never seen).
    pub fn ages(&self, now_ms: i64) -> Vec<(String, Option<i64>)> {
        let s = self.slots.lock();
        s.iter()
            .map(|(n, a)| {
                let t = a.load(Ordering::Relaxed);
                (n.clone(), (t > 0).then(|| now_ms.saturating_sub(t).max(0)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_ages_and_bounds() {
        let h = Heartbeats::new();
        let slot = h.slot("rl_trainer").unwrap();
        assert_eq!(h.last_seen("rl_trainer"), None);
        assert_eq!(h.record_at("rl_trainer", 1_000, 1_000), Recorded::Ok);
        assert_eq!(h.record_at("rl_trainer", 900, 1_000), Recorded::Ok); // older: ignored
        assert_eq!(slot.load(Ordering::Relaxed), 1_000);
        assert_eq!(h.last_seen("rl_trainer"), Some(1_000));
        h.slot("feedback");
        assert_eq!(
            h.ages(1_500),
            vec![("rl_trainer".into(), Some(500)), ("feedback".into(), None)]
        );
        for k in 0..MAX_SERVICES {
            h.record_at(&format!("s{k}"), 1, 1);
        }
        assert_eq!(h.record_at("one_too_many", 1, 1), Recorded::Full);
        assert_eq!(h.record_at("rl_trainer", 2_000, 2_000), Recorded::Ok);
    }

    #[test]
    fn a_future_stamp_is_refused_or_clamped_and_never_kept() {
        let now = 1_700_000_000_000i64;
        let h = Heartbeats::new();
        let slot = h.slot("rl_trainer").unwrap();
        // µs and ns instead of ms, and an hour ahead: refused and counted.
        for ts in [now * 1_000, now * 1_000_000, now + 3_600_000] {
            assert_eq!(h.record_at("rl_trainer", ts, now), Recorded::Future);
        }
        assert_eq!(h.future_rejected(), 3);
        assert_eq!(h.last_seen("rl_trainer"), None);
        // Slightly ahead (clock skew within tolerance): clamped to now.
        assert_eq!(h.record_at("rl_trainer", now + 500, now), Recorded::Ok);
        assert_eq!(slot.load(Ordering::Relaxed), now);
        assert!(is_fresh(now, now + 1_000, 1_000));
        assert!(!is_fresh(now, now + 1_001, 1_000), "stale again later");
        // The host clock stepped back an hour: the held stamp is ahead; the
        // gate counts it stale and the next plausible stamp replaces it.
        let back = now - 3_600_000;
        assert!(!is_fresh(now, back, 1_000));
        assert_eq!(h.record_at("rl_trainer", back, back), Recorded::Ok);
        assert_eq!(slot.load(Ordering::Relaxed), back);
        assert!(is_fresh(back, back, 1_000));
    }
}
