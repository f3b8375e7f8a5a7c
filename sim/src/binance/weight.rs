//! Binance's REST request-weight limit, simulated: weight counted per client
//! IP in fixed windows (Binance: the calendar minute; configurable so tests
//! can use a low limit and a short window), `X-MBX-USED-WEIGHT-1M` on every
//! answer, HTTP 429 with Binance's `-1003` body and `Retry-After` (seconds to
//! the window's end) once the limit is exceeded. A request that arrives
//! before that `Retry-After` has passed gets a 429 again and is counted;
//! within [`IN_FLIGHT_GRACE`] of the 429 it was already on its way (sent
//! before the client could have read the 429) and is counted apart; after
//! [`BAN_AFTER`] such requests the IP is banned: HTTP 418 with `Retry-After`
//! two windows, as Binance bans IPs that keep going after 429s. Counters feed
//! `/sim/stats`.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Binance USD-M's REST request-weight limit per IP per minute
/// (`exchangeInfo.rateLimits` REQUEST_WEIGHT 2400/min; protocols.md
/// "Headers and limits").
pub const REST_WEIGHT_PER_MIN: u32 = 2400;

/// The answer header carrying the IP's weight used this minute
/// (`X-MBX-USED-WEIGHT-1M`; HTTP header names are case-insensitive).
pub const USED_WEIGHT_HEADER: &str = "x-mbx-used-weight-1m";

/// Weight of `GET /fapi/v1/depth` by `limit` (protocols.md: 2 for limits
/// 5–50, 5 for 100, 10 for 500, 20 for 1000).
pub fn depth_weight(limit: u32) -> u32 {
    match limit {
        0..=50 => 2,
        51..=100 => 5,
        101..=500 => 10,
        _ => 20,
    }
}

/// What a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Served; `used` is the IP's weight in this window, this request included.
    Ok { used: u64 },
    /// Refused with `status` (429 or 418) and `Retry-After: retry_after_s`.
    Refused {
        status: u16,
        used: u64,
        retry_after_s: u64,
    },
}

/// Requests arriving this soon after a 429 were in flight when it was sent.
pub(crate) const IN_FLIGHT_GRACE: Duration = Duration::from_millis(200);

/// Requests ignoring a running `Retry-After` before the IP is banned (418).
pub(crate) const BAN_AFTER: u32 = 3;

#[derive(Debug, Default)]
struct IpWeight {
    window: u64,
    used: u64,
    /// No request may arrive before this (a 429's or 418's Retry-After).
    retry_until: Option<Instant>,
    /// When the stop began, and requests that ignored it.
    stopped_at: Option<Instant>,
    ignored: u32,
}

/// The per-IP weight counters and the limit.
#[derive(Debug)]
pub(crate) struct RestWeight {
    limit: AtomicU64,
    window_ms: AtomicU64,
    ips: Mutex<HashMap<IpAddr, IpWeight>>,
    pub requests: AtomicU64,
    pub weight_total: AtomicU64,
    pub max_used: AtomicU64,
    pub throttled_429: AtomicU64,
    pub banned_418: AtomicU64,
    pub during_retry_after: AtomicU64,
    pub in_flight_after_429: AtomicU64,
}

impl Default for RestWeight {
    fn default() -> Self {
        RestWeight {
            limit: AtomicU64::new(u64::from(REST_WEIGHT_PER_MIN)),
            window_ms: AtomicU64::new(60_000),
            ips: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            weight_total: AtomicU64::new(0),
            max_used: AtomicU64::new(0),
            throttled_429: AtomicU64::new(0),
            banned_418: AtomicU64::new(0),
            during_retry_after: AtomicU64::new(0),
            in_flight_after_429: AtomicU64::new(0),
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl RestWeight {
    /// Sets the limit per window and the window (0 = keep).
    pub fn set(&self, limit: u64, window: Duration) {
        if limit > 0 {
            self.limit.store(limit, Ordering::Relaxed);
        }
        let w = window.as_millis() as u64;
        if w > 0 {
            self.window_ms.store(w, Ordering::Relaxed);
        }
        self.ips.lock().clear();
    }

    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Charges `weight` to `ip`, or refuses the request.
    pub fn charge(&self, ip: IpAddr, weight: u64) -> Verdict {
        self.charge_at(ip, weight, Instant::now(), unix_ms())
    }

    fn charge_at(&self, ip: IpAddr, weight: u64, now: Instant, wall_ms: u64) -> Verdict {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let limit = self.limit();
        let window_ms = self.window_ms.load(Ordering::Relaxed).max(1);
        let idx = wall_ms / window_ms;
        let mut ips = self.ips.lock();
        let e = ips.entry(ip).or_default();
        if e.window != idx {
            e.window = idx;
            e.used = 0;
        }
        if let Some(t) = e.retry_until {
            if now < t {
                let left = (t - now).as_millis() as u64;
                let in_flight = e
                    .stopped_at
                    .is_some_and(|s| now.duration_since(s) < IN_FLIGHT_GRACE);
                if in_flight {
                    self.in_flight_after_429.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.during_retry_after.fetch_add(1, Ordering::Relaxed);
                    e.ignored += 1;
                }
                if e.ignored >= BAN_AFTER {
                    // Keeps going after 429s: Binance bans the IP (418).
                    self.banned_418.fetch_add(1, Ordering::Relaxed);
                    let secs = (2 * window_ms).div_ceil(1000).max(2);
                    e.retry_until = Some(now + Duration::from_secs(secs));
                    return Verdict::Refused {
                        status: 418,
                        used: e.used,
                        retry_after_s: secs,
                    };
                }
                self.throttled_429.fetch_add(1, Ordering::Relaxed);
                return Verdict::Refused {
                    status: 429,
                    used: e.used,
                    retry_after_s: left.div_ceil(1000).max(1),
                };
            }
            e.retry_until = None;
            e.stopped_at = None;
            e.ignored = 0;
        }
        if e.used + weight > limit {
            self.throttled_429.fetch_add(1, Ordering::Relaxed);
            let left_ms = (idx + 1) * window_ms - wall_ms;
            let secs = left_ms.div_ceil(1000).max(1);
            e.retry_until = Some(now + Duration::from_secs(secs));
            e.stopped_at = Some(now);
            return Verdict::Refused {
                status: 429,
                used: e.used,
                retry_after_s: secs,
            };
        }
        e.used += weight;
        self.weight_total.fetch_add(weight, Ordering::Relaxed);
        self.max_used.fetch_max(e.used, Ordering::Relaxed);
        Verdict::Ok { used: e.used }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_ip_and_window_refuses_then_bans() {
        let w = RestWeight::default();
        w.set(50, Duration::from_secs(60));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        let wall = 60_000 * 100 + 20_000; // 20 s into a window
        assert_eq!(w.charge_at(a, 20, t0, wall), Verdict::Ok { used: 20 });
        assert_eq!(w.charge_at(a, 20, t0, wall), Verdict::Ok { used: 40 });
        assert_eq!(
            w.charge_at(a, 20, t0, wall),
            Verdict::Refused {
                status: 429,
                used: 40,
                retry_after_s: 40
            }
        );
        // Another IP has its own count.
        assert_eq!(w.charge_at(b, 20, t0, wall), Verdict::Ok { used: 20 });
        // Already in flight when the 429 left: counted apart.
        assert!(matches!(
            w.charge_at(a, 2, t0 + Duration::from_millis(50), wall + 50),
            Verdict::Refused { status: 429, .. }
        ));
        assert_eq!(w.in_flight_after_429.load(Ordering::Relaxed), 1);
        assert_eq!(w.during_retry_after.load(Ordering::Relaxed), 0);
        // Asking again before Retry-After: 429, then a ban.
        let t1 = t0 + Duration::from_secs(10);
        for k in 1..BAN_AFTER {
            assert!(matches!(
                w.charge_at(a, 2, t1, wall + 10_000),
                Verdict::Refused {
                    status: 429,
                    retry_after_s: 30,
                    ..
                }
            ));
            assert_eq!(w.during_retry_after.load(Ordering::Relaxed), u64::from(k));
        }
        assert!(matches!(
            w.charge_at(a, 2, t1, wall + 10_000),
            Verdict::Refused { status: 418, .. }
        ));
        // After the ban, a new window.
        let t2 = t1 + Duration::from_secs(121);
        assert_eq!(
            w.charge_at(a, 2, t2, wall + 131_000),
            Verdict::Ok { used: 2 }
        );
        assert_eq!(w.max_used.load(Ordering::Relaxed), 40);
    }
}
