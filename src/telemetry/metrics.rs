//! Every Prometheus series the engine exports, registered once. Stages take
//! pre-resolved handles at startup so the hot path never looks up labels.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds: 100 ns .. 1 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
    5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1.0,
];

pub struct Metrics {
    pub registry: Registry,
    // feed
    pub feed_messages: IntCounterVec,
    pub feed_parse_errors: IntCounterVec,
    pub feed_unknown_symbol: IntCounterVec,
    pub feed_reconnects: IntCounterVec,
    pub feed_connected: IntGaugeVec,
    pub feed_gaps: IntCounterVec,
    pub feed_resyncs: IntCounterVec,
    pub feed_snapshot_errors: IntCounterVec,
    pub feed_silence_reconnects: IntCounterVec,
    // REST weight budget (per venue)
    pub rest_weight_used: IntGaugeVec,
    pub rest_weight_cap: IntGaugeVec,
    pub rest_budget_waits: IntCounterVec,
    pub rest_budget_wait_seconds: HistogramVec,
    pub rest_budget_cancelled: IntCounterVec,
    pub rest_throttled: IntCounterVec,
    pub rest_retry_after_capped: IntCounterVec,
    pub feed_last_message_age: GaugeVec,
    // book
    pub book_updates: IntCounterVec,
    pub book_in_sync: IntGaugeVec,
    pub book_levels: IntGaugeVec,
    pub book_age: GaugeVec,
    pub book_dropped_levels: IntCounterVec,
    // queues
    pub queue_depth: IntGaugeVec,
    pub queue_capacity: IntGaugeVec,
    pub queue_overflow: IntCounterVec,
    // pipeline
    pub stage_processed: IntCounterVec,
    pub stage_latency: HistogramVec,
    pub tick_to_order: Histogram,
    pub stage_stalled: IntGaugeVec,
    // decisions, risk, exec
    pub decisions: IntCounterVec,
    pub verdicts: IntCounterVec,
    pub daily_trades: IntGauge,
    pub daily_trade_cap: IntGauge,
    pub orders: IntCounterVec,
    pub fills: IntCounterVec,
    pub fill_volume: GaugeVec,
    pub position: GaugeVec,
    pub realized_pnl: Gauge,
    pub unrealized_pnl: Gauge,
    pub fees: Gauge,
    /// Fees paid per venue and asset: the quote fees under their quote
    /// asset's name, fees charged in another asset (`BNB`) under theirs.
    pub fees_by_asset: GaugeVec,
    // process
    pub ready: IntGauge,
    /// Connections the ops server holds open.
    pub ops_connections_open: IntGauge,
    /// Connections closed at once because `ops.max_connections` were open.
    pub ops_connections_refused: IntCounter,
    /// 1 while the engine could trade right now (`ops::trading`).
    pub trading_enabled: IntGauge,
    /// 1 per blocker class while it keeps trading off.
    pub trading_blocked: IntGaugeVec,
    pub build_info: IntGaugeVec,
    pub resident_memory: IntGauge,
    /// Bybit/OKX per-symbol feed series (`telemetry::venue`).
    pub venues: crate::telemetry::venue::VenueMetrics,
    /// `qt_redis_*`: registered whether or not Redis is configured (then
    /// `qt_redis_connected 0`), so dashboards and alerts always find them.
    pub redis: crate::telemetry::redis::RedisMetrics,
    pub model: crate::telemetry::model::ModelMetrics,
    /// `qt_reconcile_*` (`telemetry::reconcile`).
    pub reconcile: crate::telemetry::reconcile::ReconcileMetrics,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    // Names are static and unique, so registration cannot fail.
    let _ = r.register(Box::new(c.clone()));
    c
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    reg(
        r,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    reg(
        r,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn fgauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    reg(
        r,
        GaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        Metrics {
            feed_messages: counter_vec(
                &r,
                "qt_feed_messages_total",
                "Market-data messages received, by venue and kind",
                &["venue", "kind"],
            ),
            feed_parse_errors: counter_vec(
                &r,
                "qt_feed_parse_errors_total",
                "Frames that could not be parsed, by venue and reason",
                &["venue", "reason"],
            ),
            feed_unknown_symbol: counter_vec(
                &r,
                "qt_feed_unknown_symbol_total",
                "Messages for symbols the engine does not track",
                &["venue"],
            ),
            feed_reconnects: counter_vec(
                &r,
                "qt_feed_reconnects_total",
                "WebSocket reconnects, by venue and cause",
                &["venue", "cause"],
            ),
            feed_connected: gauge_vec(
                &r,
                "qt_feed_connected",
                "1 while the venue's WebSocket is connected and subscribed",
                &["venue"],
            ),
            feed_gaps: counter_vec(
                &r,
                "qt_feed_gaps_total",
                "Sequence gaps detected",
                &["venue", "symbol"],
            ),
            feed_resyncs: counter_vec(
                &r,
                "qt_feed_resyncs_total",
                "Book resynchronisations started (snapshot refetch)",
                &["venue", "symbol"],
            ),
            feed_snapshot_errors: counter_vec(
                &r,
                "qt_feed_snapshot_errors_total",
                "Failed REST depth snapshot requests",
                &["venue", "symbol"],
            ),
            rest_weight_used: gauge_vec(
                &r,
                "qt_venue_rest_weight_used",
                "REST request weight used in the venue's window (ours, or the venue's count if higher), as of the last request or reply",
                &["venue"],
            ),
            rest_weight_cap: gauge_vec(
                &r,
                "qt_venue_rest_weight_cap",
                "REST request weight we allow ourselves per window (limit x safety fraction)",
                &["venue"],
            ),
            rest_budget_waits: counter_vec(
                &r,
                "qt_venue_rest_budget_waits_total",
                "REST requests that had to wait for the weight budget (or a Retry-After stop)",
                &["venue"],
            ),
            rest_budget_wait_seconds: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "qt_venue_rest_budget_wait_seconds",
                        "Time REST requests that waited spent waiting for the weight budget",
                    )
                    .buckets(vec![
                        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
                    ]),
                    &["venue"],
                )
                .expect("valid metric"),
            ),
            rest_budget_cancelled: counter_vec(
                &r,
                "qt_venue_rest_budget_cancelled_total",
                "Queued REST requests dropped before sending (connection closed or symbol resubscribed)",
                &["venue"],
            ),
            rest_throttled: counter_vec(
                &r,
                "qt_venue_rest_throttled_total",
                "HTTP 429/418 answers from the venue's REST API",
                &["venue", "status"],
            ),
            rest_retry_after_capped: counter_vec(
                &r,
                "qt_venue_rest_retry_after_capped_total",
                "Retry-After values above the venue's rest_retry_after_max_secs, cut to that cap",
                &["venue"],
            ),
            feed_silence_reconnects: counter_vec(
                &r,
                "qt_feed_silence_total",
                "Connections dropped for silence",
                &["venue"],
            ),
            feed_last_message_age: fgauge_vec(
                &r,
                "qt_feed_last_message_age_seconds",
                "Seconds since the venue's last frame",
                &["venue"],
            ),
            book_updates: counter_vec(
                &r,
                "qt_book_updates_total",
                "Consistent book updates applied",
                &["venue", "symbol"],
            ),
            book_in_sync: gauge_vec(
                &r,
                "qt_book_in_sync",
                "1 while the book matches the venue's sequence",
                &["venue", "symbol"],
            ),
            book_levels: gauge_vec(
                &r,
                "qt_book_levels",
                "Price levels held per side",
                &["venue", "symbol", "side"],
            ),
            book_age: fgauge_vec(
                &r,
                "qt_book_age_seconds",
                "Seconds since the book's last update",
                &["venue", "symbol"],
            ),
            book_dropped_levels: counter_vec(
                &r,
                "qt_book_dropped_levels_total",
                "Far levels dropped because a side hit its capacity",
                &["venue", "symbol"],
            ),
            queue_depth: gauge_vec(
                &r,
                "qt_queue_depth",
                "Items waiting in a stage queue (sampled)",
                &["queue"],
            ),
            queue_capacity: gauge_vec(
                &r,
                "qt_queue_capacity",
                "Capacity of a stage queue",
                &["queue"],
            ),
            queue_overflow: counter_vec(
                &r,
                "qt_queue_overflow_total",
                "Items refused because a queue was full",
                &["queue"],
            ),
            stage_processed: counter_vec(
                &r,
                "qt_stage_processed_total",
                "Events a stage has processed",
                &["stage"],
            ),
            stage_latency: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "qt_stage_latency_seconds",
                        "Time from the previous stage's hand-off to this stage's hand-off",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["stage"],
                )
                .expect("valid metric"),
            ),
            tick_to_order: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "qt_tick_to_order_seconds",
                        "Frame receive to order ready, per order",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                )
                .expect("valid metric"),
            ),
            stage_stalled: gauge_vec(
                &r,
                "qt_stage_stalled",
                "1 while a stage has input waiting but makes no progress",
                &["stage"],
            ),
            decisions: counter_vec(
                &r,
                "qt_decisions_total",
                "Model decisions, by action",
                &["action"],
            ),
            verdicts: counter_vec(
                &r,
                "qt_verdicts_total",
                "Risk verdicts, by verdict and reason",
                &["verdict", "reason"],
            ),
            daily_trades: reg(
                &r,
                IntGauge::new(
                    "qt_daily_trades",
                    "Orders sent today (UTC) in this trading mode",
                )
                .expect("valid metric"),
            ),
            daily_trade_cap: reg(
                &r,
                IntGauge::new("qt_daily_trade_cap", "Configured daily trade cap")
                    .expect("valid metric"),
            ),
            orders: counter_vec(
                &r,
                "qt_orders_total",
                "Order state transitions, by venue and status; `reason` is the refusal reason of `rejected` (empty otherwise)",
                &["venue", "status", "reason"],
            ),
            fills: counter_vec(
                &r,
                "qt_fills_total",
                "Fills, by venue and symbol",
                &["venue", "symbol"],
            ),
            fill_volume: fgauge_vec(
                &r,
                "qt_fill_volume_quote",
                "Filled notional in quote currency",
                &["venue", "symbol"],
            ),
            position: fgauge_vec(
                &r,
                "qt_position",
                "Position in base asset (negative = short)",
                &["venue", "symbol"],
            ),
            realized_pnl: reg(
                &r,
                Gauge::new(
                    "qt_realized_pnl_quote",
                    "Realized PnL net of fees, quote currency",
                )
                .expect("valid metric"),
            ),
            unrealized_pnl: reg(
                &r,
                Gauge::new(
                    "qt_unrealized_pnl_quote",
                    "Unrealized PnL at mid, quote currency",
                )
                .expect("valid metric"),
            ),
            fees: reg(
                &r,
                Gauge::new("qt_fees_paid_quote", "Fees paid, quote currency")
                    .expect("valid metric"),
            ),
            fees_by_asset: fgauge_vec(
                &r,
                "qt_fees_paid",
                "Fees paid, by venue and the asset they were charged in (quote fees under the quote asset; other assets such as BNB are not in qt_fees_paid_quote nor in PnL)",
                &["venue", "asset"],
            ),
            ready: reg(
                &r,
                IntGauge::new("qt_ready", "1 while /ready answers 200").expect("valid metric"),
            ),
            ops_connections_open: reg(
                &r,
                IntGauge::new(
                    "qt_ops_connections_open",
                    "Connections the ops HTTP server holds open",
                )
                .expect("valid metric"),
            ),
            ops_connections_refused: reg(
                &r,
                IntCounter::new(
                    "qt_ops_connections_refused_total",
                    "Ops HTTP connections closed at once because ops.max_connections were open",
                )
                .expect("valid metric"),
            ),
            trading_enabled: reg(
                &r,
                IntGauge::new(
                    "qt_trading_enabled",
                    "1 while the engine could trade right now: ready, kill switch off, breaker closed, required heartbeats fresh, journal writing",
                )
                .expect("valid metric"),
            ),
            trading_blocked: gauge_vec(
                &r,
                "qt_trading_blocked",
                "1 while this class of blocker keeps trading off (not_ready, kill_switch, circuit_open, heartbeat_missing, journal_failing, risk_state_unknown)",
                &["reason"],
            ),
            build_info: gauge_vec(
                &r,
                "qt_build_info",
                "Build and model information",
                &["version", "model_version", "mode"],
            ),
            resident_memory: reg(
                &r,
                IntGauge::new(
                    "qt_resident_memory_bytes",
                    "Resident set size of the engine process",
                )
                .expect("valid metric"),
            ),
            venues: crate::telemetry::venue::VenueMetrics::new(&r),
            redis: crate::telemetry::redis::RedisMetrics::new(&r),
            model: crate::telemetry::model::ModelMetrics::new(&r),
            reconcile: crate::telemetry::reconcile::ReconcileMetrics::new(&r),
            registry: r,
        }
    }

    /// A handle for one stage's latency histogram.
    pub fn stage_hist(&self, stage: &str) -> Histogram {
        self.stage_latency.with_label_values(&[stage])
    }

    pub fn counter(&self, v: &IntCounterVec, labels: &[&str]) -> IntCounter {
        v.with_label_values(labels)
    }

    /// Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let enc = TextEncoder::new();
        let _ = enc.encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Resident set size of this process in bytes (Linux), 0 elsewhere.
pub fn resident_memory_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf is always safe to call.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(4096) as u64
}

#[cfg(test)]
mod redis_family_tests {
    use super::Metrics;

    #[test]
    fn every_family_is_exported_without_redis() {
        let m = Metrics::new();
        let text = m.render();
        for name in [
            "qt_redis_connected",
            "qt_redis_breaker_open",
            "qt_redis_reconnects_total",
            "qt_redis_failures_total",
            "qt_redis_publish_seconds",
            "qt_redis_batches_total",
            "qt_redis_entries_total",
            "qt_redis_duplicates_total",
            "qt_redis_rejected_total",
            "qt_redis_buffered",
            "qt_redis_spilled",
            "qt_redis_dropped_total",
            "qt_redis_replayed_total",
            "qt_redis_backlog_replayed_total",
            "qt_redis_heartbeats_total",
            "qt_redis_heartbeat_age_seconds",
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} not exported:\n{text}"
            );
        }
        assert!(text.contains("\nqt_redis_connected 0\n"), "{text}");
        assert!(
            text.contains("qt_redis_heartbeat_age_seconds{service=\"engine\"} -1"),
            "{text}"
        );
        // The publisher updates the same handles the registry exports.
        m.redis.reconnects.inc();
        m.redis.declare_services(&["rl_trainer"]);
        let text = m.render();
        assert!(text.contains("\nqt_redis_reconnects_total 1\n"), "{text}");
        assert!(
            text.contains("qt_redis_heartbeat_age_seconds{service=\"rl_trainer\"} -1"),
            "{text}"
        );
    }
}
