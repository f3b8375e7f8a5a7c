//! The order venue's fault switches and counters: new orders answered with
//! HTTP 503 `-1007` although placed, with HTTP 500 `-1001` and not placed,
//! or answered late (placed at once); a 429 storm on every Binance REST
//! request (then 418 for a client that keeps sending while it runs); the
//! stream reordering (a fill's events before the NEW ack). And the
//! counters a test reads: new-order requests per `newClientOrderId`,
//! orders placed, fills, countdownCancelAll arms and triggers. The stream
//! faults (drop, expire, duplicate) live with the stream (`user_stream`).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Client order ids whose requests are counted one by one; requests for
/// ids beyond this are counted in `untracked_client_ids` only.
pub const MAX_TRACKED_CLIENT_IDS: usize = 100_000;

#[derive(Debug)]
struct Storm {
    until: Instant,
    /// 429 answers left; after them, 418 until the storm ends.
    left_429: u32,
}

/// What a new order gets from an armed fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NewOrderFault {
    /// Placed, answered HTTP 503 with `-1007`.
    Placed503,
    /// Not placed, answered HTTP 500 with `-1001`.
    NotPlaced500,
    /// Placed, answered after this delay.
    Delay(Duration),
}

/// The order venue's faults and counters.
#[derive(Debug, Default)]
pub(crate) struct OrderFaults {
    placed_503: AtomicU32,
    not_placed_500: AtomicU32,
    delay: Mutex<(u32, Duration)>,
    /// New orders whose fill events go out before their NEW ack.
    pub reorder_left: AtomicU32,
    storm: Mutex<Option<Storm>>,
    by_client_id: Mutex<HashMap<String, u64>>,
    pub untracked_client_ids: AtomicU64,
    pub new_order_requests: AtomicU64,
    pub orders_placed: AtomicU64,
    pub fills: AtomicU64,
    pub countdown_arms: AtomicU64,
    pub countdown_triggers: AtomicU64,
    pub faulted_answers: AtomicU64,
    /// New orders refused for the account's order rate (429 `-1015`).
    pub orders_rate_limited: AtomicU64,
}

fn take(a: &AtomicU32) -> bool {
    a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl OrderFaults {
    pub fn arm_placed_503(&self, n: u32) {
        self.placed_503.store(n, Ordering::SeqCst);
    }

    pub fn arm_not_placed_500(&self, n: u32) {
        self.not_placed_500.store(n, Ordering::SeqCst);
    }

    pub fn arm_delay(&self, n: u32, delay: Duration) {
        *self.delay.lock() = (n, delay);
    }

    /// The fault the next new order gets, if one is armed (used up).
    pub fn next_new_order(&self) -> Option<NewOrderFault> {
        let f = if take(&self.not_placed_500) {
            NewOrderFault::NotPlaced500
        } else if take(&self.placed_503) {
            NewOrderFault::Placed503
        } else {
            let mut d = self.delay.lock();
            if d.0 == 0 {
                return None;
            }
            d.0 -= 1;
            NewOrderFault::Delay(d.1)
        };
        self.faulted_answers.fetch_add(1, Ordering::Relaxed);
        Some(f)
    }

    /// True once for each of the next orders armed by the reorder fault.
    pub fn take_reorder(&self) -> bool {
        take(&self.reorder_left)
    }

    /// Starts a 429 storm: for `duration`, every Binance REST request is
    /// refused, the first `requests` with 429, later ones with 418.
    pub fn start_storm(&self, requests: u32, duration: Duration) {
        *self.storm.lock() = Some(Storm {
            until: Instant::now() + duration,
            left_429: requests,
        });
    }

    /// During a storm: the status (429 or 418) and `Retry-After` seconds.
    pub fn storm_verdict(&self) -> Option<(u16, u64)> {
        let mut g = self.storm.lock();
        let s = g.as_mut()?;
        let now = Instant::now();
        if now >= s.until {
            *g = None;
            return None;
        }
        let secs = (s.until - now).as_millis().div_ceil(1000).max(1) as u64;
        if s.left_429 > 0 {
            s.left_429 -= 1;
            Some((429, secs))
        } else {
            Some((418, secs))
        }
    }

    /// Counts one new-order request (any answer) for its client order id.
    pub fn count_request(&self, client_id: Option<&str>) {
        self.new_order_requests.fetch_add(1, Ordering::Relaxed);
        let Some(c) = client_id else {
            return;
        };
        let mut m = self.by_client_id.lock();
        if let Some(n) = m.get_mut(c) {
            *n += 1;
        } else if m.len() < MAX_TRACKED_CLIENT_IDS {
            m.insert(c.to_string(), 1);
        } else {
            self.untracked_client_ids.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// New-order requests received with this `newClientOrderId`.
    pub fn requests_for(&self, client_id: &str) -> u64 {
        self.by_client_id
            .lock()
            .get(client_id)
            .copied()
            .unwrap_or(0)
    }

    /// Every counted client order id and its request count.
    pub fn requests_by_client_id(&self) -> HashMap<String, u64> {
        self.by_client_id.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_up_in_order_and_storm_turns_to_418() {
        let f = OrderFaults::default();
        assert_eq!(f.next_new_order(), None);
        f.arm_placed_503(1);
        f.arm_not_placed_500(1);
        f.arm_delay(1, Duration::from_millis(5));
        assert_eq!(f.next_new_order(), Some(NewOrderFault::NotPlaced500));
        assert_eq!(f.next_new_order(), Some(NewOrderFault::Placed503));
        assert_eq!(
            f.next_new_order(),
            Some(NewOrderFault::Delay(Duration::from_millis(5)))
        );
        assert_eq!(f.next_new_order(), None);
        f.start_storm(2, Duration::from_secs(3));
        assert_eq!(f.storm_verdict(), Some((429, 3)));
        assert_eq!(f.storm_verdict(), Some((429, 3)));
        assert_eq!(f.storm_verdict(), Some((418, 3)));
        f.start_storm(1, Duration::ZERO);
        assert_eq!(f.storm_verdict(), None);
        f.count_request(Some("a"));
        f.count_request(Some("a"));
        f.count_request(None);
        assert_eq!((f.requests_for("a"), f.requests_for("b")), (2, 0));
        assert_eq!(f.new_order_requests.load(Ordering::Relaxed), 3);
    }
}
