//! The risk governor's own Prometheus series (registered into the engine's
//! registry next to `qt_verdicts_total`, `qt_daily_trades` and
//! `qt_daily_trade_cap`, which live in `telemetry::metrics`).

use crate::telemetry::metrics::Metrics;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

#[derive(Clone)]
pub struct RiskMetrics {
    /// 1 while the circuit breaker is open.
    pub breaker_open: IntGauge,
    pub breaker_trips: IntCounterVec,
    pub kill_switch: IntGauge,
    /// 1 once today's trades reach `daily_cap_warn_ratio` of the cap.
    pub cap_warning: IntGauge,
    /// 1 while a service's heartbeat is stale or missing.
    pub heartbeat_stale: IntGaugeVec,
    /// Heartbeat stamps refused as too far in the future.
    pub heartbeat_future_rejected: IntCounter,
    pub daily_realized: Gauge,
    pub drawdown: Gauge,
    pub consecutive_losses: IntGauge,
    pub consecutive_rejects: IntGauge,
    pub open_orders: IntGauge,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(m: &Metrics, c: T) -> T {
    let _ = m.registry.register(Box::new(c.clone()));
    c
}

impl RiskMetrics {
    pub fn new(m: &Metrics) -> Self {
        let g = |n: &str, h: &str| reg(m, IntGauge::new(n, h).expect("valid metric"));
        let f = |n: &str, h: &str| reg(m, Gauge::new(n, h).expect("valid metric"));
        RiskMetrics {
            breaker_open: g(
                "qt_circuit_breaker_open",
                "1 while the circuit breaker is open",
            ),
            breaker_trips: reg(
                m,
                IntCounterVec::new(
                    Opts::new("qt_circuit_breaker_trips_total", "Breaker trips, by reason"),
                    &["reason"],
                )
                .expect("valid metric"),
            ),
            kill_switch: g("qt_kill_switch", "1 while the kill switch is on"),
            cap_warning: g(
                "qt_daily_trade_cap_warning",
                "1 once today's trades reach the warning share of the daily cap",
            ),
            heartbeat_stale: reg(
                m,
                IntGaugeVec::new(
                    Opts::new(
                        "qt_heartbeat_stale",
                        "1 while an auxiliary service's heartbeat is stale or missing",
                    ),
                    &["service", "policy"],
                )
                .expect("valid metric"),
            ),
            heartbeat_future_rejected: reg(
                m,
                IntCounter::new(
                    "qt_heartbeat_future_rejected_total",
                    "Auxiliary heartbeat stamps refused as too far ahead of this host's clock",
                )
                .expect("valid metric"),
            ),
            daily_realized: f(
                "qt_daily_realized_pnl_quote",
                "Realized PnL today (UTC, this mode), net of fees",
            ),
            drawdown: f(
                "qt_daily_drawdown_quote",
                "Drop of today's equity from its peak",
            ),
            consecutive_losses: g("qt_consecutive_losses", "Consecutive losing closing fills"),
            consecutive_rejects: g("qt_consecutive_rejects", "Consecutive rejected orders"),
            open_orders: g("qt_risk_open_orders", "Orders sent and not yet done"),
        }
    }
}
