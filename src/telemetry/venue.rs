//! Per venue and symbol feed-health series of every venue's feed (Binance
//! keeps its gap/resync/snapshot series in `telemetry::metrics`): messages, gaps, resyncs,
//! checksum checks and failures, subscribe rejections, staleness events and
//! book age. Registered once into the engine's registry.

use prometheus::{GaugeVec, IntCounter, IntCounterVec, Opts, Registry};

pub struct VenueMetrics {
    /// Book/trade/ticker frames per venue and symbol.
    pub messages: IntCounterVec,
    pub checksum_checks: IntCounterVec,
    pub checksum_failures: IntCounterVec,
    /// Subscribe/unsubscribe ops a venue refused (venue only: the reply
    /// rarely names the symbol).
    pub subscribe_rejections: IntCounterVec,
    /// A symbol that stopped delivering while its connection stayed open.
    pub stale: IntCounterVec,
    /// Resubscribes sent per symbol (gap, checksum, staleness).
    pub resubscribes: IntCounterVec,
    /// `u == 1` restarts (Bybit) per symbol.
    pub restarts: IntCounterVec,
    /// Seconds since the last book message per venue and symbol.
    pub book_age: GaugeVec,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    let _ = r.register(Box::new(c.clone()));
    c
}

impl VenueMetrics {
    pub fn new(r: &Registry) -> VenueMetrics {
        let vs = &["venue", "symbol"];
        let book_age = GaugeVec::new(
            Opts::new(
                "qt_venue_book_message_age_seconds",
                "Seconds since the last book message of a symbol",
            ),
            vs,
        )
        .expect("valid metric");
        let _ = r.register(Box::new(book_age.clone()));
        VenueMetrics {
            messages: counter(
                r,
                "qt_venue_messages_total",
                "Market-data frames per venue and symbol",
                vs,
            ),
            checksum_checks: counter(
                r,
                "qt_venue_checksum_checks_total",
                "Book checksums verified (OKX, when non-zero)",
                vs,
            ),
            checksum_failures: counter(
                r,
                "qt_venue_checksum_failures_total",
                "Book checksum mismatches (each resyncs the symbol)",
                vs,
            ),
            subscribe_rejections: counter(
                r,
                "qt_venue_subscribe_rejections_total",
                "Subscribe/unsubscribe requests the venue refused",
                &["venue"],
            ),
            stale: counter(
                r,
                "qt_venue_stale_total",
                "A subscribed symbol stopped delivering on an open connection",
                vs,
            ),
            resubscribes: counter(
                r,
                "qt_venue_resubscribes_total",
                "Book resubscriptions sent (gap, checksum mismatch, staleness)",
                vs,
            ),
            restarts: counter(
                r,
                "qt_venue_restarts_total",
                "Bybit `u == 1` service restarts (book replaced)",
                vs,
            ),
            book_age,
        }
    }

    pub fn symbol(&self, venue: &str, symbol: &str) -> SymbolCounters {
        let l = [venue, symbol];
        SymbolCounters {
            messages: self.messages.with_label_values(&l),
            checksum_checks: self.checksum_checks.with_label_values(&l),
            checksum_failures: self.checksum_failures.with_label_values(&l),
            stale: self.stale.with_label_values(&l),
            resubscribes: self.resubscribes.with_label_values(&l),
            restarts: self.restarts.with_label_values(&l),
            book_age: self.book_age.with_label_values(&l),
        }
    }
}

/// Pre-resolved handles for one symbol.
pub struct SymbolCounters {
    pub messages: IntCounter,
    pub checksum_checks: IntCounter,
    pub checksum_failures: IntCounter,
    pub stale: IntCounter,
    pub resubscribes: IntCounter,
    pub restarts: IntCounter,
    pub book_age: prometheus::Gauge,
}
