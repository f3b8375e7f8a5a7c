//! A venue's REST request-weight budget, shared by every connection of that
//! venue (and anything else of ours that calls its REST API): a sliding
//! window of the weight we spent, capped at a safety fraction of the venue's
//! per-window limit; the venue's own count of the current window (Binance:
//! `X-MBX-USED-WEIGHT-1M`) when it says more is used than we think (another
//! process on the same IP); and a stop on HTTP 429/418 until `Retry-After`,
//! cut to a configured cap (`rest_retry_after_max_secs`): a value above it
//! (or one that would overflow the clock) stops REST for the cap only, and is
//! counted (`qt_venue_rest_retry_after_capped_total`) and logged once.
//! Requests wait their turn asynchronously in FIFO order (a fair tokio
//! mutex), so per-symbol resyncs queue fairly and nothing blocks a thread.

use crate::telemetry::metrics::Metrics;
use parking_lot::Mutex;
use prometheus::{Histogram, IntCounter, IntGauge};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How a venue's weight limit is budgeted.
#[derive(Debug, Clone)]
pub struct WeightConfig {
    /// The venue's limit per window (Binance USD-M: 2400 per minute per IP).
    pub limit: u32,
    /// Percent of `limit` we allow ourselves (1..=100).
    pub safety_pct: u32,
    /// The venue's window (Binance: one minute; tests shorten it).
    pub window: Duration,
    /// Response header carrying the venue's count of the current window,
    /// lower-case (Binance: `x-mbx-used-weight-1m`).
    pub used_header: Option<&'static str>,
    /// The longest stop a `Retry-After` may impose (larger values are cut
    /// to it, counted and logged once).
    pub retry_after_max: Duration,
}

/// Default cap on a `Retry-After` stop (15 minutes): long enough for any 429
/// and for Binance's shorter 418 bans; a longer ban is probed again after it.
pub const DEFAULT_RETRY_AFTER_MAX: Duration = Duration::from_secs(900);

impl WeightConfig {
    /// The weight we allow ourselves per window (at least 1).
    pub fn cap(&self) -> u64 {
        (u64::from(self.limit) * u64::from(self.safety_pct.clamp(1, 100)) / 100).max(1)
    }
}

/// A cancellation ticket: stale once its generation counter moved on (the
/// request's connection closed or its symbol was resubscribed).
#[derive(Debug, Clone)]
pub struct Ticket {
    counter: Arc<AtomicU64>,
    at: u64,
}

impl Ticket {
    pub fn new(counter: &Arc<AtomicU64>) -> Ticket {
        Ticket {
            counter: counter.clone(),
            at: counter.load(Ordering::Relaxed),
        }
    }

    pub fn is_stale(&self) -> bool {
        self.counter.load(Ordering::Relaxed) != self.at
    }
}

#[derive(Debug, Default)]
struct State {
    /// (when, weight) of what we spent within the window.
    spent: VecDeque<(Instant, u64)>,
    sum: u64,
    /// The venue's count for its window number `venue_window`, plus what we
    /// spent since in that window.
    venue_used: u64,
    venue_window: u64,
    blocked_until: Option<Instant>,
}

struct Inner {
    venue: &'static str,
    cfg: WeightConfig,
    cap: u64,
    state: Mutex<State>,
    /// FIFO turn for waiters (tokio's mutex is fair).
    turn: tokio::sync::Mutex<()>,
    used: IntGauge,
    waits: IntCounter,
    wait_seconds: Histogram,
    throttled_429: IntCounter,
    throttled_418: IntCounter,
    cancelled: IntCounter,
    retry_after_capped: IntCounter,
    /// The first capped `Retry-After` was logged.
    cap_logged: std::sync::atomic::AtomicBool,
    /// Where a 429/418 stop is published as its end in Unix ms (the risk
    /// governor reads it: `venue_budget_spent`).
    stop_cell: std::sync::OnceLock<Arc<std::sync::atomic::AtomicI64>>,
}

/// The shared budget of one venue (cheap to clone).
#[derive(Clone)]
pub struct RestBudget {
    inner: Arc<Inner>,
}

/// A reply header holding a whole number (`Retry-After`, weight and order
/// counters); `None` when absent or not a number.
pub fn header_u64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl RestBudget {
    pub fn new(venue: &'static str, cfg: WeightConfig, m: &Metrics) -> RestBudget {
        let cap = cfg.cap();
        m.rest_weight_cap
            .with_label_values(&[venue])
            .set(cap as i64);
        RestBudget {
            inner: Arc::new(Inner {
                venue,
                cap,
                state: Mutex::new(State::default()),
                turn: tokio::sync::Mutex::new(()),
                used: m.rest_weight_used.with_label_values(&[venue]),
                waits: m.rest_budget_waits.with_label_values(&[venue]),
                wait_seconds: m.rest_budget_wait_seconds.with_label_values(&[venue]),
                throttled_429: m.rest_throttled.with_label_values(&[venue, "429"]),
                throttled_418: m.rest_throttled.with_label_values(&[venue, "418"]),
                cancelled: m.rest_budget_cancelled.with_label_values(&[venue]),
                retry_after_capped: m.rest_retry_after_capped.with_label_values(&[venue]),
                cap_logged: std::sync::atomic::AtomicBool::new(false),
                stop_cell: std::sync::OnceLock::new(),
                cfg,
            }),
        }
    }

    /// The weight we allow ourselves per window.
    pub fn cap(&self) -> u64 {
        self.inner.cap
    }

    fn window_ms(&self) -> u64 {
        (self.inner.cfg.window.as_millis() as u64).max(1)
    }

    /// Takes `weight` now if the budget allows it, else says how long to wait.
    fn try_take(&self, weight: u64, now: Instant, wall_ms: u64) -> Option<Duration> {
        let cap = self.inner.cap;
        let window = self.inner.cfg.window;
        let w = weight.clamp(1, cap);
        let mut s = self.inner.state.lock();
        if let Some(t) = s.blocked_until {
            if now < t {
                return Some(t - now);
            }
            s.blocked_until = None;
        }
        while let Some(&(t, x)) = s.spent.front() {
            if now.duration_since(t) >= window {
                s.spent.pop_front();
                s.sum -= x;
            } else {
                break;
            }
        }
        let idx = wall_ms / self.window_ms();
        let venue = if s.venue_window == idx {
            s.venue_used
        } else {
            0
        };
        if s.sum.max(venue) + w <= cap {
            s.spent.push_back((now, w));
            s.sum += w;
            if s.venue_window == idx {
                s.venue_used += w;
            }
            self.inner.used.set(s.sum.max(s.venue_used) as i64);
            return None;
        }
        let mut wait = Duration::ZERO;
        if s.sum + w > cap {
            // Until enough of our own spending leaves the window.
            let mut freed = 0;
            for &(t, x) in &s.spent {
                freed += x;
                if s.sum - freed + w <= cap {
                    wait = (t + window).saturating_duration_since(now);
                    break;
                }
            }
        }
        if venue + w > cap {
            // The venue's count resets with its next window.
            let next = (idx + 1) * self.window_ms();
            wait = wait.max(Duration::from_millis(next.saturating_sub(wall_ms)));
        }
        Some(wait.max(Duration::from_millis(1)))
    }

    /// Waits (asynchronously, in FIFO order with the venue's other requests)
    /// until `weight` fits the budget and takes it. Returns false, having
    /// taken nothing, if the ticket went stale meanwhile.
    pub async fn acquire(&self, weight: u32, ticket: Option<&Ticket>) -> bool {
        let stale = || ticket.is_some_and(Ticket::is_stale);
        let start = Instant::now();
        let _turn = self.inner.turn.lock().await;
        let mut waited = start.elapsed() > Duration::from_millis(1);
        loop {
            if stale() {
                self.inner.cancelled.inc();
                return false;
            }
            match self.try_take(u64::from(weight), Instant::now(), unix_ms()) {
                None => break,
                Some(d) => {
                    waited = true;
                    // Short naps: a stale ticket or a lifted stop is noticed soon.
                    tokio::time::sleep(d.min(Duration::from_millis(250))).await;
                }
            }
        }
        if waited {
            self.inner.waits.inc();
            self.inner
                .wait_seconds
                .observe(start.elapsed().as_secs_f64());
        }
        true
    }

    /// Reads a reply: the venue's used-weight header, and a 429/418 with its
    /// `Retry-After` (seconds), which stops every request of this venue until
    /// it has passed.
    pub fn on_response(&self, status: u16, headers: &reqwest::header::HeaderMap) {
        let used = self
            .inner
            .cfg
            .used_header
            .and_then(|h| header_u64(headers, h));
        let retry_after = header_u64(headers, "retry-after");
        self.observe(status, used, retry_after, Instant::now(), unix_ms());
    }

    fn observe(
        &self,
        status: u16,
        used: Option<u64>,
        retry_after: Option<u64>,
        now: Instant,
        wall_ms: u64,
    ) {
        let mut s = self.inner.state.lock();
        if let Some(u) = used {
            let idx = wall_ms / self.window_ms();
            if s.venue_window != idx {
                s.venue_window = idx;
                s.venue_used = u;
            } else {
                s.venue_used = s.venue_used.max(u);
            }
            self.inner.used.set(s.sum.max(s.venue_used) as i64);
        }
        if status != 429 && status != 418 {
            return;
        }
        if status == 429 {
            self.inner.throttled_429.inc();
        } else {
            self.inner.throttled_418.inc();
        }
        // Binance always sends Retry-After; without one, wait a whole window
        // (a ban: two).
        let asked = retry_after.unwrap_or_else(|| {
            let w = self.inner.cfg.window.as_secs().max(1);
            if status == 418 { 2 * w } else { w }
        });
        let max = self.inner.cfg.retry_after_max.max(Duration::from_secs(1));
        let mut stop = Duration::from_secs(asked.max(1));
        if stop > max {
            stop = max;
            self.inner.retry_after_capped.inc();
            if !self.inner.cap_logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    venue = self.inner.venue,
                    status,
                    retry_after_s = asked,
                    cap_s = max.as_secs(),
                    "Retry-After above rest_retry_after_max_secs: REST stops for the cap only \
                     (counted in qt_venue_rest_retry_after_capped_total; logged once)"
                );
            }
        }
        let secs = stop.as_secs();
        // `max` is bounded by the config, but an Instant near the end of its
        // range can still overflow: then stop for as long as it can express.
        let until = now
            .checked_add(stop)
            .unwrap_or_else(|| now + Duration::from_secs(1));
        let was_blocked = s.blocked_until.is_some_and(|t| t > now);
        if s.blocked_until.is_none_or(|t| t < until) {
            s.blocked_until = Some(until);
        }
        if let Some(cell) = self.inner.stop_cell.get() {
            let end = (wall_ms as i64).saturating_add(stop.as_millis() as i64);
            cell.fetch_max(end, Ordering::AcqRel);
        }
        if !was_blocked {
            tracing::warn!(
                venue = self.inner.venue,
                status,
                retry_after_s = secs,
                our_weight = s.sum,
                venue_weight = s.venue_used,
                cap = self.inner.cap,
                "REST throttled by the venue; no REST request until Retry-After has passed"
            );
        }
    }

    /// Publishes every 429/418 stop's end (Unix ms) into `cell` (set once;
    /// a second call is ignored).
    pub fn publish_stops(&self, cell: Arc<std::sync::atomic::AtomicI64>) {
        let _ = self.inner.stop_cell.set(cell);
    }

    /// True while a 429/418 stop is in force.
    pub fn blocked(&self) -> bool {
        self.inner
            .state
            .lock()
            .blocked_until
            .is_some_and(|t| Instant::now() < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limit: u32, pct: u32, window_ms: u64) -> RestBudget {
        let m = Metrics::new();
        RestBudget::new(
            "binance",
            WeightConfig {
                limit,
                safety_pct: pct,
                window: Duration::from_millis(window_ms),
                used_header: Some("x-mbx-used-weight-1m"),
                retry_after_max: Duration::from_secs(900),
            },
            &m,
        )
    }

    #[test]
    fn caps_at_the_safety_fraction_and_frees_with_the_window() {
        let b = budget(100, 80, 60_000);
        assert_eq!(b.cap(), 80);
        let t0 = Instant::now();
        let wall = 60_000 * 1000 + 10;
        for k in 0..4 {
            assert_eq!(b.try_take(20, t0 + Duration::from_secs(k), wall), None);
        }
        let w = b.try_take(20, t0 + Duration::from_secs(5), wall).unwrap();
        assert_eq!(w, Duration::from_secs(55));
        assert_eq!(
            b.try_take(20, t0 + Duration::from_secs(60), wall + 60_000),
            None
        );
    }

    #[test]
    fn honours_the_venues_count_until_its_window_ends() {
        let b = budget(100, 80, 60_000);
        let t0 = Instant::now();
        let wall = 60_000 * 500 + 15_000; // 15 s into a venue minute
        // Another process on our IP used 70.
        b.observe(200, Some(70), None, t0, wall);
        assert_eq!(b.try_take(5, t0, wall), None);
        let w = b.try_take(10, t0, wall).unwrap();
        assert_eq!(w, Duration::from_secs(45));
        // Next venue minute: the venue's count no longer applies.
        assert_eq!(b.try_take(10, t0, wall + 45_000), None);
    }

    #[test]
    fn a_429_stops_everything_until_retry_after() {
        let b = budget(2400, 80, 60_000);
        let t0 = Instant::now();
        b.observe(429, Some(2500), Some(7), t0, 0);
        let w = b.try_take(2, t0, 1).unwrap();
        assert_eq!(w, Duration::from_secs(7));
        // A later 418 extends the stop.
        b.observe(418, None, Some(120), t0 + Duration::from_secs(1), 1_000);
        let w = b.try_take(2, t0 + Duration::from_secs(8), 8_000).unwrap();
        assert_eq!(w, Duration::from_secs(113));
        assert_eq!(b.try_take(2, t0 + Duration::from_secs(121), 121_000), None);
    }

    #[test]
    fn a_huge_retry_after_is_cut_to_the_cap_and_counted() {
        let m = Metrics::new();
        let mut cfg = WeightConfig {
            limit: 2400,
            safety_pct: 80,
            window: Duration::from_millis(60_000),
            used_header: Some("x-mbx-used-weight-1m"),
            retry_after_max: DEFAULT_RETRY_AFTER_MAX,
        };
        cfg.retry_after_max = Duration::from_secs(300);
        let b = RestBudget::new("binance", cfg, &m);
        let t0 = Instant::now();
        // u64::MAX seconds overflowed `Instant` (a panic in the REST task).
        b.observe(429, None, Some(u64::MAX), t0, 0);
        let w = b.try_take(2, t0, 1).unwrap();
        assert_eq!(w, Duration::from_secs(300), "stop cut to the cap");
        b.observe(418, None, Some(10_000_000), t0, 0);
        let capped = m
            .rest_retry_after_capped
            .with_label_values(&["binance"])
            .get();
        assert_eq!(capped, 2);
        // A value within the cap is taken as it is and not counted.
        b.observe(429, None, Some(5), t0 + Duration::from_secs(400), 0);
        let w = b
            .try_take(2, t0 + Duration::from_secs(400), 400_000)
            .unwrap();
        assert_eq!(w, Duration::from_secs(5));
        assert_eq!(
            m.rest_retry_after_capped
                .with_label_values(&["binance"])
                .get(),
            2
        );
        assert_eq!(b.try_take(2, t0 + Duration::from_secs(405), 405_000), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn stale_tickets_take_nothing() {
        let b = budget(10, 100, 100);
        assert!(b.acquire(10, None).await);
        let counter = Arc::new(AtomicU64::new(0));
        let t = Ticket::new(&counter);
        counter.fetch_add(1, Ordering::Relaxed);
        assert!(!b.acquire(5, Some(&t)).await);
        assert!(b.acquire(10, None).await);
    }
}
