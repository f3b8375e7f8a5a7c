//! Heartbeats of auxiliary services: service name -> last time it was seen
//! alive (unix ms). Written by whatever hears from the services (today the
//! admin endpoint `POST /api/heartbeats/{service}`; the Redis link later),
//! read lock-free by the governor's heartbeat gate through per-service slots
//! resolved once at startup. Bounded: at most [`MAX_SERVICES`] names.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Most distinct services the store keeps.
pub const MAX_SERVICES: usize = 64;

/// Shared heartbeat store (`Shared::heartbeats`).
#[derive(Default)]
pub struct Heartbeats {
    slots: Mutex<Vec<(String, Arc<AtomicI64>)>>,
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

    /// Records that `service` was alive at `unix_ms` (an older time than
    /// the one held is ignored). `false` when the store is full.
    pub fn record(&self, service: &str, unix_ms: i64) -> bool {
        match self.slot(service) {
            Some(a) => {
                a.fetch_max(unix_ms, Ordering::Relaxed);
                true
            }
            None => false,
        }
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
        assert!(h.record("rl_trainer", 1_000));
        assert!(h.record("rl_trainer", 900)); // older: ignored
        assert_eq!(slot.load(Ordering::Relaxed), 1_000);
        assert_eq!(h.last_seen("rl_trainer"), Some(1_000));
        h.slot("feedback");
        assert_eq!(
            h.ages(1_500),
            vec![("rl_trainer".into(), Some(500)), ("feedback".into(), None)]
        );
        for k in 0..MAX_SERVICES {
            h.record(&format!("s{k}"), 1);
        }
        assert!(!h.record("one_too_many", 1));
        assert!(h.record("rl_trainer", 2_000));
    }
}
