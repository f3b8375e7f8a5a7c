//! The trading session's Prometheus series (registered on the engine's
//! registry when the session starts; a second session on one registry
//! shares them), and the order counters of `qt_orders_total`.

use crate::core::Venue;
use crate::exec::refusal::RefusalReason;
use crate::telemetry::metrics::Metrics;
use prometheus::{GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

/// Series of one venue's session.
#[derive(Clone)]
pub struct SessionMetrics {
    venue: &'static str,
    orders: IntCounterVec,
    events: IntCounterVec,
    event_errors: IntCounterVec,
    parked: IntCounterVec,
    parked_now: IntGauge,
    anomalies: IntCounterVec,
    unknown: IntCounter,
    unresolved: IntGauge,
    stream: IntCounterVec,
    gap_fills: IntCounter,
    clock_offset: IntGauge,
    reports_lost: IntCounter,
    pruned: IntCounter,
    desk: IntGaugeVec,
    flatten: IntCounterVec,
    order_rate_stops: IntCounter,
    venue_balance: GaugeVec,
    venue_position: GaugeVec,
}

fn counter_vec(m: &Metrics, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let v = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    // A second session on one registry shares the series.
    let _ = m.registry.register(Box::new(v.clone()));
    v
}

fn gauge_vec(m: &Metrics, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let v = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    let _ = m.registry.register(Box::new(v.clone()));
    v
}

impl SessionMetrics {
    pub fn new(m: &Metrics, venue: Venue) -> SessionMetrics {
        let v = venue.as_str();
        let events = counter_vec(
            m,
            "qt_private_events_total",
            "Private (user data) stream events taken, by venue and kind",
            &["venue", "kind"],
        );
        let event_errors = counter_vec(
            m,
            "qt_private_event_errors_total",
            "Private stream frames and REST replies that could not be used, by venue and reason",
            &["venue", "reason"],
        );
        let parked = counter_vec(
            m,
            "qt_private_parked_total",
            "Private events parked until their order or instrument is known, by venue and outcome (parked, applied, evicted)",
            &["venue", "outcome"],
        );
        let parked_now = gauge_vec(
            m,
            "qt_private_parked",
            "Private events parked now, by venue",
            &["venue"],
        );
        let anomalies = counter_vec(
            m,
            "qt_order_anomalies_total",
            "Venue order events the lifecycle refused or flagged, by venue and kind",
            &["venue", "kind"],
        );
        let unknown = counter_vec(
            m,
            "qt_order_unknown_outcomes_total",
            "Orders whose placement outcome was lost (5xx, timeout, reset, -1006/-1007/-1008), by venue",
            &["venue"],
        );
        let unresolved = gauge_vec(
            m,
            "qt_order_unresolved",
            "Orders on the unknown-outcome watch list, by venue",
            &["venue"],
        );
        let stream = counter_vec(
            m,
            "qt_private_stream_total",
            "Private stream lifecycle steps, by venue and step (listen_key_created, keepalive, keepalive_failed, expired, connected, disconnected)",
            &["venue", "step"],
        );
        let gap_fills = counter_vec(
            m,
            "qt_private_gap_fills_total",
            "REST gap fills (open orders and trades) after a private stream gap, by venue",
            &["venue"],
        );
        let clock_offset = gauge_vec(
            m,
            "qt_venue_clock_offset_ms",
            "Venue server clock minus local clock, ms",
            &["venue"],
        );
        let reports_lost = counter_vec(
            m,
            "qt_session_reports_lost_total",
            "Session reports that exec could not take (exec gone), by venue",
            &["venue"],
        );
        let pruned = counter_vec(
            m,
            "qt_session_orders_pruned_total",
            "Finished orders the session forgot (beyond done_orders_kept), by venue",
            &["venue"],
        );
        let desk = gauge_vec(
            m,
            "qt_session_desk_entries",
            "Entries of the trading session's tables (orders, venue_ids, done, parked, backlog, watched), by venue",
            &["venue", "table"],
        );
        let flatten = counter_vec(
            m,
            "qt_stop_flatten_total",
            "Flattens at stop (trading.flatten_on_stop), by venue and result (flat: every traded position closed and its fills heard; incomplete: time was up first; failed: the positions could not be read)",
            &["venue", "result"],
        );
        let venue_balance = {
            let g = GaugeVec::new(
                Opts::new(
                    "qt_venue_balance",
                    "Wallet balance per asset as the venue states it (ACCOUNT_UPDATE, gap-fill reads, the startup preflight); at most pipeline::account::MAX_ASSETS assets",
                ),
                &["venue", "asset"],
            )
            .expect("valid metric");
            let _ = m.registry.register(Box::new(g.clone()));
            g
        };
        let venue_position = {
            let g = GaugeVec::new(
                Opts::new(
                    "qt_venue_position",
                    "Position per traded instrument as the venue states it (base units, signed)",
                ),
                &["venue", "symbol"],
            )
            .expect("valid metric");
            let _ = m.registry.register(Box::new(g.clone()));
            g
        };
        let order_rate_stops = counter_vec(
            m,
            "qt_venue_order_rate_stops_total",
            "Times new orders were stopped because the account's order-rate window (exchangeInfo ORDERS, X-MBX-ORDER-COUNT-*) was full, until it rolled; by venue",
            &["venue"],
        );
        SessionMetrics {
            venue: v,
            pruned: pruned.with_label_values(&[v]),
            desk,
            flatten,
            order_rate_stops: order_rate_stops.with_label_values(&[v]),
            venue_balance,
            venue_position,
            orders: m.orders.clone(),
            parked_now: parked_now.with_label_values(&[v]),
            unknown: unknown.with_label_values(&[v]),
            unresolved: unresolved.with_label_values(&[v]),
            gap_fills: gap_fills.with_label_values(&[v]),
            clock_offset: clock_offset.with_label_values(&[v]),
            reports_lost: reports_lost.with_label_values(&[v]),
            events,
            event_errors,
            parked,
            anomalies,
            stream,
        }
    }

    /// `qt_orders_total{venue,status,reason=""}`.
    pub fn order(&self, status: &str) {
        self.orders
            .with_label_values(&[self.venue, status, ""])
            .inc();
    }

    /// `qt_orders_total{venue,status="rejected",reason}`.
    pub fn rejected(&self, reason: RefusalReason) {
        self.orders
            .with_label_values(&[self.venue, "rejected", reason.label()])
            .inc();
    }

    pub fn event(&self, kind: &str) {
        self.events.with_label_values(&[self.venue, kind]).inc();
    }

    pub fn event_error(&self, reason: &str) {
        self.event_errors
            .with_label_values(&[self.venue, reason])
            .inc();
    }

    pub fn parked(&self, outcome: &str, now: usize) {
        self.parked.with_label_values(&[self.venue, outcome]).inc();
        self.parked_now.set(now as i64);
    }

    pub fn anomaly(&self, kind: &str) {
        self.anomalies.with_label_values(&[self.venue, kind]).inc();
    }

    pub fn unknown_outcome(&self) {
        self.unknown.inc();
    }

    pub fn set_unresolved(&self, n: usize) {
        self.unresolved.set(n as i64);
    }

    pub fn stream(&self, step: &str) {
        self.stream.with_label_values(&[self.venue, step]).inc();
    }

    pub fn gap_fill(&self) {
        self.gap_fills.inc();
    }

    pub fn clock_offset(&self, ms: i64) {
        self.clock_offset.set(ms);
    }

    /// `qt_venue_balance{venue,asset}` (display: a float of the exact amount).
    pub fn venue_balance(&self, asset: &str, wallet: crate::core::Money) {
        self.venue_balance
            .with_label_values(&[self.venue, asset])
            .set(wallet.to_f64());
    }

    /// `qt_venue_position{venue,symbol}` in base units.
    pub fn venue_position(&self, symbol: &str, qty: f64) {
        self.venue_position
            .with_label_values(&[self.venue, symbol])
            .set(qty);
    }

    pub fn order_rate_stop(&self) {
        self.order_rate_stops.inc();
    }

    pub fn flatten(&self, result: &str) {
        self.flatten.with_label_values(&[self.venue, result]).inc();
    }

    pub fn report_lost(&self) {
        self.reports_lost.inc();
    }

    pub fn order_pruned(&self) {
        self.pruned.inc();
    }

    /// `qt_session_desk_entries{venue,table}`.
    pub fn desk_sizes(&self, tables: &[(&str, usize)]) {
        for (table, n) in tables {
            self.desk
                .with_label_values(&[self.venue, table])
                .set(*n as i64);
        }
    }
}
