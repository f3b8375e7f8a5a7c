//! Heartbeats: whether the pipeline is actually moving (the engine's own
//! heartbeat is written only then), the value written, and the parsing of the
//! auxiliary services' heartbeat values (unix seconds, fractional allowed, or
//! unix milliseconds).

use crate::pipeline::shared::{STAGES, Shared};
use std::sync::atomic::Ordering;

/// Judges "moving" from the stages' progress counters: market data reached
/// the book stage within `stall_ns`, and no stage has had input waiting
/// without progress for `stall_ns`.
pub struct Progress {
    stall_ns: u64,
    prev: [u64; STAGES.len()],
    /// Last time (monotonic ns) the book stage was seen to move.
    input_moved_ns: Option<u64>,
    waiting_since_ns: [Option<u64>; STAGES.len()],
}

impl Progress {
    pub fn new(stall_ns: u64) -> Progress {
        Progress {
            stall_ns,
            prev: [0; STAGES.len()],
            input_moved_ns: None,
            waiting_since_ns: [None; STAGES.len()],
        }
    }

    /// Samples the stages at `now_ns` and says whether the pipeline moves.
    pub fn moving(&mut self, shared: &Shared, now_ns: u64) -> bool {
        let mut stuck = false;
        for (i, st) in shared.stages.iter().enumerate() {
            let p = st.processed.load(Ordering::Relaxed);
            let moved = p != self.prev[i];
            self.prev[i] = p;
            if moved {
                self.waiting_since_ns[i] = None;
                if i == 0 {
                    self.input_moved_ns = Some(now_ns);
                }
            } else if st.backlog.load(Ordering::Relaxed) > 0 || shared.input_waiting(i) > 0 {
                let since = *self.waiting_since_ns[i].get_or_insert(now_ns);
                if now_ns.saturating_sub(since) >= self.stall_ns {
                    stuck = true;
                }
            }
        }
        let fed = self
            .input_moved_ns
            .is_some_and(|t| now_ns.saturating_sub(t) < self.stall_ns);
        fed && !stuck
    }
}

/// The engine's heartbeat value: unix seconds with milliseconds (`1763884800.123`).
pub fn heartbeat_value(unix_ms: i64) -> String {
    format!(
        "{}.{:03}",
        unix_ms.div_euclid(1000),
        unix_ms.rem_euclid(1000)
    )
}

/// Parses a service's heartbeat value into unix ms: seconds (`1763884800`,
/// `1763884800.5`) or milliseconds (an integer above 10^11). `None` for
/// anything else.
pub fn parse_heartbeat(v: &str) -> Option<i64> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(i) = v.parse::<i64>() {
        return Some(if i > 100_000_000_000 { i } else { i * 1000 });
    }
    let f: f64 = v.parse().ok()?;
    if !f.is_finite() || f <= 0.0 || f > 1e13 {
        return None;
    }
    Some(if f > 1e11 {
        f as i64
    } else {
        (f * 1000.0) as i64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TradingMode;
    use crate::core::InstrumentTable;
    use crate::telemetry::metrics::Metrics;
    use std::sync::Arc;

    #[test]
    fn values_round_trip_and_bad_values_are_none() {
        assert_eq!(heartbeat_value(1_763_884_800_123), "1763884800.123");
        assert_eq!(heartbeat_value(1_763_884_800_004), "1763884800.004");
        assert_eq!(parse_heartbeat("1763884800.123"), Some(1_763_884_800_123));
        assert_eq!(parse_heartbeat("1763884800"), Some(1_763_884_800_000));
        assert_eq!(parse_heartbeat("1763884800123"), Some(1_763_884_800_123));
        assert_eq!(parse_heartbeat(" 1763884800.5 "), Some(1_763_884_800_500));
        for bad in ["", "alive", "NaN", "-5.0", "inf"] {
            assert_eq!(parse_heartbeat(bad), None, "{bad}");
        }
    }

    #[test]
    fn moving_needs_input_and_no_stuck_stage() {
        let sh = Shared::new(
            Arc::new(InstrumentTable::new()),
            Arc::new(Metrics::new()),
            "t".into(),
            TradingMode::Paper,
        );
        let ms = 1_000_000;
        let mut p = Progress::new(2_000 * ms);
        assert!(!p.moving(&sh, 0), "nothing processed yet");
        sh.stages[0].processed.store(10, Ordering::Relaxed);
        assert!(p.moving(&sh, 100 * ms));
        // Input keeps flowing but the risk stage is stuck with input waiting.
        sh.stages[2].backlog.store(5, Ordering::Relaxed);
        sh.stages[0].processed.store(20, Ordering::Relaxed);
        assert!(p.moving(&sh, 200 * ms), "not stuck for long yet");
        sh.stages[0].processed.store(30, Ordering::Relaxed);
        assert!(!p.moving(&sh, 2_300 * ms), "risk stuck for 2.1 s");
        sh.stages[2].processed.store(1, Ordering::Relaxed);
        sh.stages[0].processed.store(40, Ordering::Relaxed);
        assert!(p.moving(&sh, 2_400 * ms), "risk moved again");
        // Input stops: no longer moving once the stall timeout passes.
        sh.stages[2].backlog.store(0, Ordering::Relaxed);
        assert!(p.moving(&sh, 3_000 * ms));
        assert!(!p.moving(&sh, 4_500 * ms));
    }
}
