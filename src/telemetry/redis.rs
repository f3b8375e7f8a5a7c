//! The publisher's Prometheus series (`qt_redis_*`), registered into the
//! engine's registry when [`crate::telemetry::metrics::Metrics`] is made, whether
//! or not Redis is configured (the publisher, when it starts, uses these same
//! handles through `Metrics::redis`). Every labelled family starts with its
//! known label values at 0, so each name is exported from the first scrape.

use crate::core::StreamKind;
use prometheus::{
    GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Publish round-trip buckets in seconds: 50 µs .. 5 s.
const PUBLISH_BUCKETS: &[f64] = &[
    5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Clone)]
pub struct RedisMetrics {
    pub connected: IntGauge,
    pub breaker_open: IntGauge,
    pub reconnects: IntCounter,
    pub failures: IntCounterVec,
    pub publish_latency: Histogram,
    pub batches: IntCounter,
    pub entries: IntCounterVec,
    pub duplicates: IntCounterVec,
    pub rejected: IntCounterVec,
    pub buffered: IntGauge,
    pub spilled: IntGauge,
    pub dropped: IntCounterVec,
    pub replayed: IntCounter,
    pub journal_kept: IntCounter,
    pub journal_replayed: IntCounter,
    pub backlog_replayed: IntCounter,
    pub epoch_raised: IntCounter,
    pub ids_behind: IntGauge,
    pub heartbeats: IntCounter,
    pub heartbeat_age: GaugeVec,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    // A second engine in the same process registers into its own registry.
    let _ = r.register(Box::new(c.clone()));
    c
}

impl RedisMetrics {
    /// Registers every `qt_redis_*` family into `r`.
    pub fn new(r: &Registry) -> RedisMetrics {
        let counter = |n: &str, h: &str| reg(r, IntCounter::new(n, h).expect("valid metric"));
        let gauge = |n: &str, h: &str| reg(r, IntGauge::new(n, h).expect("valid metric"));
        let counter_vec = |n: &str, h: &str, l: &[&str]| {
            reg(
                r,
                IntCounterVec::new(Opts::new(n, h), l).expect("valid metric"),
            )
        };
        let m = RedisMetrics {
            connected: gauge("qt_redis_connected", "1 while the Redis connection is up"),
            breaker_open: gauge(
                "qt_redis_breaker_open",
                "1 while the breaker holds off connection attempts after repeated failures",
            ),
            reconnects: counter(
                "qt_redis_reconnects_total",
                "Successful Redis connections after the first",
            ),
            failures: counter_vec(
                "qt_redis_failures_total",
                "Failed Redis operations, by operation (connect, publish, ping, heartbeat)",
                &["op"],
            ),
            publish_latency: reg(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "qt_redis_publish_seconds",
                        "Round trip of one pipelined XADD batch",
                    )
                    .buckets(PUBLISH_BUCKETS.to_vec()),
                )
                .expect("valid metric"),
            ),
            batches: counter("qt_redis_batches_total", "Pipelined XADD batches written"),
            entries: counter_vec(
                "qt_redis_entries_total",
                "Entries written, by stream (short name)",
                &["stream"],
            ),
            duplicates: counter_vec(
                "qt_redis_duplicates_total",
                "Replayed entries Redis already had (id not above the stream top): counted, not written twice",
                &["stream"],
            ),
            rejected: counter_vec(
                "qt_redis_rejected_total",
                "Entries Redis refused for another reason (logged once per kind)",
                &["stream"],
            ),
            buffered: gauge(
                "qt_redis_buffered",
                "Events held in memory waiting for Redis",
            ),
            spilled: gauge(
                "qt_redis_spilled",
                "Events beyond the memory buffer, to be re-read from the replay source (journal)",
            ),
            dropped: counter_vec(
                "qt_redis_dropped_total",
                "Events that will never reach Redis, by reason (channel_full, not_replayable, market_sample_buffer_full, shutdown)",
                &["reason"],
            ),
            replayed: counter(
                "qt_redis_replayed_total",
                "Events written after an outage (from memory or the replay source)",
            ),
            journal_kept: counter(
                "qt_redis_journal_kept_total",
                "Events beyond the memory buffer kept in the replay source (the journal)",
            ),
            journal_replayed: counter(
                "qt_redis_journal_replayed_total",
                "Events written to Redis after being read back from the replay source (the journal)",
            ),
            backlog_replayed: counter(
                "qt_redis_backlog_replayed_total",
                "Entries earlier engine lives left unwritten, read back from the journal and written by this life",
            ),
            epoch_raised: counter(
                "qt_redis_epoch_raised_total",
                "Engine lives whose stream ids were raised above the streams' last ids in Redis (the clock was behind them)",
            ),
            ids_behind: gauge(
                "qt_redis_ids_behind",
                "1 while this life's stream ids are below a stream's last id and could not be raised (its entries are refused, counted in qt_redis_rejected_total)",
            ),
            heartbeats: counter("qt_redis_heartbeats_total", "Engine heartbeats written"),
            heartbeat_age: reg(
                r,
                GaugeVec::new(
                    Opts::new(
                        "qt_redis_heartbeat_age_seconds",
                        "Age of each service's last heartbeat (-1 = never seen or key absent)",
                    ),
                    &["service"],
                )
                .expect("valid metric"),
            ),
        };
        for op in ["connect", "publish", "ping", "heartbeat"] {
            m.failures.with_label_values(&[op]);
        }
        for k in StreamKind::ALL {
            m.entries.with_label_values(&[k.as_str()]);
            m.duplicates.with_label_values(&[k.as_str()]);
            m.rejected.with_label_values(&[k.as_str()]);
        }
        for reason in ["channel_full", "not_replayable"] {
            m.dropped.with_label_values(&[reason]);
        }
        m.heartbeat_age.with_label_values(&["engine"]).set(-1.0);
        m
    }

    /// Shows each auxiliary service's heartbeat age as -1 (never seen) until
    /// the publisher reads it.
    pub fn declare_services(&self, names: &[&str]) {
        for n in names {
            self.heartbeat_age.with_label_values(&[n]).set(-1.0);
        }
    }
}
