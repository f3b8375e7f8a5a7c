//! Whether the engine could trade right now ("trading"), kept apart from
//! liveness (`/health`: the process answers) and readiness (`/ready`: feeds,
//! books and pipeline work). Trading is enabled only while the engine is
//! ready **and** the kill switch is off, the circuit breaker is closed, every
//! `required` auxiliary heartbeat is fresh, and the journal writes without
//! errors (no new write/sync error or dropped record within
//! [`JOURNAL_FAILING_WINDOW_NS`]). Each blocker is named in `reasons`
//! (`not_ready`, `kill_switch`, `circuit_open:<reason>`,
//! `heartbeat_missing:<service>`, `journal_failing`, `risk_state_unknown`,
//! and in testnet/live `private_stream_down:<venue>`,
//! `venue_budget_spent:<venue>`, `venue_order_rate:<venue>`).
//!
//! Read from the risk stage's published view (`Shared::risk`, the JSON of
//! `GET /api/risk`): `kill_switch`, `circuit_breaker.state`/`.reason`,
//! `heartbeats[].service`/`.policy`/`.stale` and `journal.errors`/`.dropped`.
//! Evaluated by the watchdog with readiness; served in `/ready`
//! (`"trading"`; `/ready?require=trading` answers 503 while it is off), in
//! `/api/risk` (`"trading"`) and as `qt_trading_enabled` plus
//! `qt_trading_blocked{reason}`.

use serde::Serialize;
use serde_json::Value;

/// A journal error or dropped record this recent makes the journal "failing".
pub const JOURNAL_FAILING_WINDOW_NS: u64 = 30_000_000_000;

/// The blocker classes, as `qt_trading_blocked{reason}` labels.
pub const BLOCKER_CLASSES: [&str; 9] = [
    "not_ready",
    "kill_switch",
    "circuit_open",
    "heartbeat_missing",
    "journal_failing",
    "risk_state_unknown",
    "private_stream_down",
    "venue_budget_spent",
    "venue_order_rate",
];

/// The outcome of one evaluation.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct TradingState {
    /// True when a decision could become an order right now.
    pub enabled: bool,
    /// What blocks trading (empty when enabled).
    pub reasons: Vec<String>,
}

/// Remembers the journal's error count between evaluations.
#[derive(Debug, Default)]
pub struct TradingTracker {
    journal_bad: Option<u64>,
    journal_bad_at_ns: Option<u64>,
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

impl TradingTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Judges `risk` (the risk stage's view) with the readiness verdict.
    pub fn evaluate(&mut self, risk: &Value, ready: bool, now_ns: u64) -> TradingState {
        let mut reasons = Vec::new();
        if !ready {
            reasons.push("not_ready".to_string());
        }
        if !risk.is_object() {
            reasons.push("risk_state_unknown".to_string());
        } else {
            if risk["kill_switch"].as_bool().unwrap_or(false) {
                reasons.push("kill_switch".to_string());
            }
            let cb = &risk["circuit_breaker"];
            if cb["state"].as_str().is_some_and(|s| s != "CLOSED") {
                let r = cb["reason"].as_str().unwrap_or("");
                reasons.push(format!("circuit_open:{r}"));
            }
            for h in risk["heartbeats"].as_array().into_iter().flatten() {
                if h["policy"].as_str() == Some("required") && h["stale"].as_bool() != Some(false) {
                    let s = h["service"].as_str().unwrap_or("?");
                    reasons.push(format!("heartbeat_missing:{s}"));
                }
            }
            for g in risk["venue_gates"].as_array().into_iter().flatten() {
                let v = g["venue"].as_str().unwrap_or("?");
                if g["private_stream_up"].as_bool() == Some(false) {
                    reasons.push(format!("private_stream_down:{v}"));
                }
                if g["rest_stopped"].as_bool() == Some(true) {
                    reasons.push(format!("venue_budget_spent:{v}"));
                }
                if g["order_rate_paused"].as_bool() == Some(true) {
                    reasons.push(format!("venue_order_rate:{v}"));
                }
            }
            let j = &risk["journal"];
            if j.is_object() {
                let bad = u(&j["errors"]) + u(&j["dropped"]);
                if let Some(prev) = self.journal_bad
                    && bad > prev
                {
                    self.journal_bad_at_ns = Some(now_ns);
                }
                if self.journal_bad.is_none() && bad > 0 {
                    // Errors before the first look: failing until the window passes.
                    self.journal_bad_at_ns = Some(now_ns);
                }
                self.journal_bad = Some(bad);
                if self
                    .journal_bad_at_ns
                    .is_some_and(|t| now_ns.saturating_sub(t) < JOURNAL_FAILING_WINDOW_NS)
                {
                    reasons.push("journal_failing".to_string());
                }
            }
        }
        TradingState {
            enabled: reasons.is_empty(),
            reasons,
        }
    }
}

/// Sets `qt_trading_enabled` and `qt_trading_blocked{reason}`.
pub fn publish_metrics(m: &crate::telemetry::metrics::Metrics, t: &TradingState) {
    m.trading_enabled.set(t.enabled as i64);
    for class in BLOCKER_CLASSES {
        let on = t.reasons.iter().any(|r| r.split(':').next() == Some(class));
        m.trading_blocked.with_label_values(&[class]).set(on as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const S: u64 = 1_000_000_000;

    fn healthy() -> Value {
        json!({
            "kill_switch": false,
            "circuit_breaker": {"state": "CLOSED", "reason": ""},
            "heartbeats": [
                {"service": "rl_trainer", "policy": "required", "stale": false},
                {"service": "feedback", "policy": "advisory", "stale": true},
            ],
            "journal": {"errors": 0, "dropped": 0},
        })
    }

    #[test]
    fn each_blocker_is_named() {
        let mut t = TradingTracker::new();
        assert_eq!(
            t.evaluate(&healthy(), true, S),
            TradingState {
                enabled: true,
                reasons: vec![]
            }
        );
        let st = t.evaluate(&healthy(), false, 2 * S);
        assert_eq!(st.reasons, ["not_ready"]);
        let mut v = healthy();
        v["kill_switch"] = json!(true);
        v["circuit_breaker"] = json!({"state": "OPEN", "reason": "daily_loss"});
        v["heartbeats"][0]["stale"] = json!(true);
        let st = t.evaluate(&v, true, 3 * S);
        assert!(!st.enabled);
        assert_eq!(
            st.reasons,
            [
                "kill_switch",
                "circuit_open:daily_loss",
                "heartbeat_missing:rl_trainer"
            ]
        );
        assert_eq!(
            t.evaluate(&Value::Null, true, 4 * S).reasons,
            ["risk_state_unknown"]
        );
        let mut v = healthy();
        v["venue_gates"] = json!([
            {"venue": "binance", "private_stream_up": false, "rest_stopped": true},
            {"venue": "okx", "private_stream_up": true, "rest_stopped": false},
        ]);
        assert_eq!(
            t.evaluate(&v, true, 5 * S).reasons,
            ["private_stream_down:binance", "venue_budget_spent:binance"]
        );
    }

    #[test]
    fn a_journal_error_blocks_for_the_window() {
        let mut t = TradingTracker::new();
        assert!(t.evaluate(&healthy(), true, S).enabled);
        let mut v = healthy();
        v["journal"]["errors"] = json!(1);
        assert_eq!(t.evaluate(&v, true, 2 * S).reasons, ["journal_failing"]);
        assert!(
            !t.evaluate(&v, true, 2 * S + JOURNAL_FAILING_WINDOW_NS - 1)
                .enabled
        );
        assert!(
            t.evaluate(&v, true, 2 * S + JOURNAL_FAILING_WINDOW_NS)
                .enabled
        );
        v["journal"]["dropped"] = json!(3);
        assert!(!t.evaluate(&v, true, 100 * S).enabled);
    }

    #[test]
    fn metrics_follow_the_state() {
        let m = crate::telemetry::metrics::Metrics::new();
        let mut t = TradingTracker::new();
        let mut v = healthy();
        v["kill_switch"] = json!(true);
        publish_metrics(&m, &t.evaluate(&v, true, S));
        assert_eq!(m.trading_enabled.get(), 0);
        assert_eq!(
            m.trading_blocked.with_label_values(&["kill_switch"]).get(),
            1
        );
        assert_eq!(m.trading_blocked.with_label_values(&["not_ready"]).get(), 0);
        publish_metrics(&m, &t.evaluate(&healthy(), true, 2 * S));
        assert_eq!(m.trading_enabled.get(), 1);
        assert_eq!(
            m.trading_blocked.with_label_values(&["kill_switch"]).get(),
            0
        );
    }
}
