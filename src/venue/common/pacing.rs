//! Rate limits the venues impose on us, enforced on our side: a sliding
//! window of at most `n` events per `window` (subscribe ops per connection,
//! new connections per IP), and a gate shared by all connections of one
//! venue that spaces out connection attempts. Venue figures (see README
//! "Venues"): Binance 10 incoming messages/s per connection and 1024 streams;
//! Bybit 500 connections per 5 min and 21,000 characters of topics per
//! connection; OKX 3 connections/s and 480 subscribe ops/hour per connection.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// At most `limit` events in any `window` (bounded memory: `limit` stamps).
#[derive(Debug)]
pub struct RateWindow {
    limit: usize,
    window: Duration,
    stamps: VecDeque<Instant>,
}

impl RateWindow {
    pub fn new(limit: usize, window: Duration) -> RateWindow {
        let limit = limit.max(1);
        RateWindow {
            limit,
            window,
            stamps: VecDeque::with_capacity(limit.min(4096)),
        }
    }

    fn expire(&mut self, now: Instant) {
        while self
            .stamps
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.stamps.pop_front();
        }
    }

    /// Events still allowed right now.
    pub fn available(&mut self, now: Instant) -> usize {
        self.expire(now);
        self.limit - self.stamps.len()
    }

    /// Takes one slot if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if self.available(now) == 0 {
            return false;
        }
        self.stamps.push_back(now);
        true
    }

    /// How long until a slot frees up (zero if one is free).
    pub fn wait(&mut self, now: Instant) -> Duration {
        if self.available(now) > 0 {
            return Duration::ZERO;
        }
        match self.stamps.front() {
            Some(t) => (*t + self.window).saturating_duration_since(now),
            None => Duration::ZERO,
        }
    }
}

/// New-connection pacing shared by every connection of one venue: a window
/// limit plus a minimum spacing between attempts, so that network jitter
/// cannot squeeze more connections into the venue's window than it allows.
#[derive(Debug, Clone)]
pub struct ConnectGate {
    inner: Arc<Mutex<(RateWindow, Option<Instant>)>>,
    spacing: Duration,
}

impl ConnectGate {
    pub fn new(limit: usize, window: Duration) -> ConnectGate {
        Self::with_spacing(limit, window, Duration::ZERO)
    }

    pub fn with_spacing(limit: usize, window: Duration, spacing: Duration) -> ConnectGate {
        ConnectGate {
            inner: Arc::new(Mutex::new((RateWindow::new(limit, window), None))),
            spacing,
        }
    }

    /// Takes a connection slot now, or says how long to wait for one.
    pub fn acquire(&self) -> Duration {
        let now = Instant::now();
        let mut g = self.inner.lock();
        if let Some(last) = g.1 {
            let next = last + self.spacing;
            if now < next {
                return next - now;
            }
        }
        if g.0.try_take(now) {
            g.1 = Some(now);
            Duration::ZERO
        } else {
            g.0.wait(now).max(Duration::from_millis(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_limits_and_frees() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(3, Duration::from_secs(1));
        assert!(w.try_take(t0));
        assert!(w.try_take(t0));
        assert!(w.try_take(t0 + Duration::from_millis(500)));
        assert!(!w.try_take(t0 + Duration::from_millis(600)));
        assert_eq!(
            w.wait(t0 + Duration::from_millis(600)),
            Duration::from_millis(400)
        );
        assert!(w.try_take(t0 + Duration::from_millis(1000)));
        assert_eq!(w.available(t0 + Duration::from_millis(1000)), 1);
        assert_eq!(w.available(t0 + Duration::from_millis(1500)), 2);
    }

    #[test]
    fn gate_spaces_connections() {
        let g = ConnectGate::new(2, Duration::from_secs(60));
        assert_eq!(g.acquire(), Duration::ZERO);
        assert_eq!(g.acquire(), Duration::ZERO);
        assert!(g.acquire() > Duration::from_secs(50));
        let g = ConnectGate::with_spacing(5, Duration::from_secs(1), Duration::from_millis(300));
        assert_eq!(g.acquire(), Duration::ZERO);
        let w = g.acquire();
        assert!(
            w > Duration::from_millis(250) && w <= Duration::from_millis(300),
            "{w:?}"
        );
    }
}
