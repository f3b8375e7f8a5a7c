//! Series of the live order path's reconciliation (startup and periodic):
//! `qt_reconcile_discrepancies_total{venue,kind}` (kinds: `order_adopted`,
//! `order_canceled`, `order_missing`, `fill`, `position`; see
//! `exec::reconcile`) and `qt_reconcile_runs_total{venue,result}`.

use prometheus::{IntCounterVec, Opts, Registry};

pub struct ReconcileMetrics {
    pub discrepancies: IntCounterVec,
    pub runs: IntCounterVec,
}

impl ReconcileMetrics {
    pub fn new(r: &Registry) -> ReconcileMetrics {
        let mk = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            let _ = r.register(Box::new(c.clone()));
            c
        };
        ReconcileMetrics {
            discrepancies: mk(
                "qt_reconcile_discrepancies_total",
                "Differences between the venue and the journal found by reconciliation",
                &["venue", "kind"],
            ),
            runs: mk(
                "qt_reconcile_runs_total",
                "Reconciliations run (result: ok, failed)",
                &["venue", "result"],
            ),
        }
    }
}
