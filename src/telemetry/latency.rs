//! Per-stage latency recording: a thread-local HDR histogram (no locks per
//! event) plus a thread-local Prometheus histogram (no atomic operations per
//! event), merged into the shared HDR histogram and the registered Prometheus
//! histogram every 4,096 events and whenever the stage goes idle, for the
//! status line, the final summary and `/metrics`.

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use std::sync::Arc;

/// A merged histogram shared between a stage and the readers.
pub type SharedHistogram = Arc<Mutex<Histogram<u64>>>;

/// Shared, merged latency histograms (ns) by name.
#[derive(Default)]
pub struct LatencyBook {
    entries: Mutex<Vec<(String, SharedHistogram)>>,
}

pub fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static histogram bounds are valid")
}

impl LatencyBook {
    pub fn slot(&self, name: &str) -> SharedHistogram {
        let mut e = self.entries.lock();
        if let Some((_, h)) = e.iter().find(|(n, _)| n == name) {
            return h.clone();
        }
        let h = Arc::new(Mutex::new(new_histogram()));
        e.push((name.to_string(), h.clone()));
        h
    }

    /// (name, p50, p99, p99.9, max, count) for every slot, in ns.
    pub fn summary(&self) -> Vec<LatencySummary> {
        self.entries
            .lock()
            .iter()
            .map(|(n, h)| LatencySummary::of(n, &h.lock()))
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<LatencySummary> {
        self.entries
            .lock()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(n, h)| LatencySummary::of(n, &h.lock()))
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LatencySummary {
    pub name: String,
    pub count: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub p9999_ns: u64,
    pub max_ns: u64,
}

impl LatencySummary {
    pub fn of(name: &str, h: &Histogram<u64>) -> Self {
        LatencySummary {
            name: name.to_string(),
            count: h.len(),
            p50_ns: h.value_at_quantile(0.50),
            p90_ns: h.value_at_quantile(0.90),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            p9999_ns: h.value_at_quantile(0.9999),
            max_ns: h.max(),
        }
    }
}

/// A stage's own recorder. `record` touches only thread-local state (no
/// lock, no atomic); `flush` merges into the shared slot and the Prometheus
/// histogram and is called every few thousand events or when idle.
pub struct LatencyRecorder {
    local: Histogram<u64>,
    shared: SharedHistogram,
    /// Buffers observations; a flush adds them to the registered histogram
    /// (the per-event `observe` on it costs four atomic read-modify-writes).
    prom: prometheus::local::LocalHistogram,
    pending: u32,
}

impl LatencyRecorder {
    pub fn new(book: &LatencyBook, name: &str, prom: prometheus::Histogram) -> Self {
        LatencyRecorder {
            local: new_histogram(),
            shared: book.slot(name),
            prom: prom.local(),
            pending: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, ns: u64) {
        let _ = self.local.record(ns.max(1));
        self.prom.observe(ns as f64 * 1e-9);
        self.pending += 1;
        if self.pending >= 4096 {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        let _ = self.shared.lock().add(&self.local);
        self.local.reset();
        self.prom.flush();
        self.pending = 0;
    }
}
