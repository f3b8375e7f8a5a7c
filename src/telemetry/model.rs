//! The model's Prometheus series (`qt_model_*`): reloads by outcome, the
//! shadow run's progress, agreement and score correlation, swaps, the live
//! version, and features dropped early from full windows. Registered into
//! the engine's registry when [`crate::telemetry::metrics::Metrics`] is made.

use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Reload outcomes (the `result` label of `qt_model_reloads_total`).
pub const RESULTS: [&str; 8] = [
    "accepted",
    "refused_format",
    "refused_features",
    "refused_version",
    "refused_self_test",
    "refused_busy",
    "refused_unavailable",
    "rejected_in_shadow",
];

#[derive(Clone)]
pub struct ModelMetrics {
    pub reloads: IntCounterVec,
    pub shadow_decisions: IntGauge,
    pub shadow_target: IntGauge,
    pub shadow_agreement: Gauge,
    pub shadow_correlation: Gauge,
    pub swaps: IntCounter,
    pub live: IntGaugeVec,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    let _ = r.register(Box::new(c.clone()));
    c
}

impl ModelMetrics {
    pub fn new(r: &Registry) -> ModelMetrics {
        let reloads = reg(
            r,
            IntCounterVec::new(
                Opts::new(
                    "qt_model_reloads_total",
                    "Model reload requests by outcome (accepted, refused_<why>, rejected_in_shadow)",
                ),
                &["result"],
            )
            .expect("valid metric"),
        );
        for l in RESULTS {
            reloads.with_label_values(&[l]);
        }
        ModelMetrics {
            reloads,
            shadow_decisions: reg(
                r,
                IntGauge::new(
                    "qt_model_shadow_decisions",
                    "Decisions the candidate model has shadow-scored in the current or last shadow run",
                )
                .expect("valid metric"),
            ),
            shadow_target: reg(
                r,
                IntGauge::new(
                    "qt_model_shadow_target",
                    "Decisions the current or last shadow run needs before the swap",
                )
                .expect("valid metric"),
            ),
            shadow_agreement: reg(
                r,
                Gauge::new(
                    "qt_model_shadow_agreement",
                    "Share of shadow decisions where candidate and live model chose the same action",
                )
                .expect("valid metric"),
            ),
            shadow_correlation: reg(
                r,
                Gauge::new(
                    "qt_model_shadow_score_correlation",
                    "Pearson correlation of candidate and live scores over the shadow run (NaN until defined)",
                )
                .expect("valid metric"),
            ),
            swaps: reg(
                r,
                IntCounter::new("qt_model_swaps_total", "Live model swaps after a shadow run")
                    .expect("valid metric"),
            ),
            live: reg(
                r,
                IntGaugeVec::new(
                    Opts::new("qt_model_live", "1 for the model version that makes decisions"),
                    &["version"],
                )
                .expect("valid metric"),
            ),
        }
    }
}
