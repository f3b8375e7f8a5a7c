//! Time sources. `now_ns` is a monotonic nanosecond stamp used for latency;
//! `Clock` is the injectable wall clock used for UTC-day keyed counters.
//! A replay (the backtest) sets a per-thread replay time with
//! [`set_replay_ns`]: from then on `now_ns` on that thread returns the
//! recorded time, so every line of stage and venue code that reads the clock
//! sees recorded time, never the wall clock (other threads are unaffected).

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

thread_local! {
    /// Replay time of this thread (0: none, the monotonic clock is used).
    static REPLAY_NS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Monotonic nanoseconds since the first call in this process, or this
/// thread's replay time while one is set ([`set_replay_ns`]).
#[inline]
pub fn now_ns() -> u64 {
    let r = REPLAY_NS.with(|c| c.get());
    if r != 0 {
        return r;
    }
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Sets this thread's replay time (recorded nanoseconds); 0 clears it.
#[inline]
pub fn set_replay_ns(ns: u64) {
    REPLAY_NS.with(|c| c.set(ns));
}

/// Unix nanoseconds now (wall clock).
pub fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Wall-clock milliseconds since the unix epoch.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 (UTC) for a unix time in ms.
pub fn utc_day(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(86_400_000)
}

/// `YYYY-MM-DD` for a UTC day number.
pub fn format_day(day: i64) -> String {
    let secs = day * 86_400;
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(t) => t.format("%Y-%m-%d").to_string(),
        None => format!("day{day}"),
    }
}

/// Injectable wall clock: real time, or a fixed/settable time in tests.
#[derive(Clone, Default)]
pub struct Clock {
    fixed: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock { fixed: None }
    }

    /// A manual clock starting at `unix_ms`, moved with [`Clock::set_ms`].
    pub fn manual(unix_ms: i64) -> Self {
        Clock {
            fixed: Some(Arc::new(AtomicI64::new(unix_ms))),
        }
    }

    pub fn set_ms(&self, ms: i64) {
        if let Some(f) = &self.fixed {
            f.store(ms, Ordering::Relaxed);
        }
    }

    #[inline]
    pub fn unix_ms(&self) -> i64 {
        match &self.fixed {
            Some(f) => f.load(Ordering::Relaxed),
            None => unix_ms(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers() {
        assert_eq!(utc_day(0), 0);
        assert_eq!(utc_day(86_399_999), 0);
        assert_eq!(utc_day(86_400_000), 1);
        assert_eq!(format_day(utc_day(1_723_161_256_299)), "2024-08-08");
        let c = Clock::manual(5);
        c.set_ms(10);
        assert_eq!(c.unix_ms(), 10);
    }

    #[test]
    fn replay_time_is_per_thread() {
        set_replay_ns(1_700_000_000_000_000_000);
        assert_eq!(now_ns(), 1_700_000_000_000_000_000);
        let other = std::thread::spawn(now_ns).join().unwrap();
        assert!(other < 1_700_000_000_000_000_000);
        set_replay_ns(0);
        assert!(now_ns() < 1_700_000_000_000_000_000);
    }
}
