//! Operations surface: Prometheus metrics, the HTTP server (metrics, health,
//! readiness, admin API), the terminal status line and the watchdog.

pub mod metrics;
