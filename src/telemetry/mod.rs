//! Telemetry, at the bottom of the house: the Prometheus registry with every
//! series registered once ([`metrics`], with the venue, Redis and model
//! families in [`venue`], [`redis`] and [`model`]) and the latency
//! histograms ([`latency`]). Every layer may use it; it uses nothing above
//! `crate::core`. See docs/layout.md.

pub mod latency;
pub mod metrics;
pub mod model;
pub mod reconcile;
pub mod redis;
pub mod venue;

pub use latency::{LatencyBook, LatencyRecorder, LatencySummary};
pub use metrics::{Metrics, resident_memory_bytes};
