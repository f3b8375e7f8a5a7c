//! Operations surface: Prometheus metrics, the HTTP server (metrics, health,
//! readiness, admin API), the terminal status line and the watchdog.
//!
//! - [`account_api`]: `/api/account`, the venue accounts as the venues state them.
//! - [`healthcheck`]: the `healthcheck` command (exit status from `/ready`).
//! - [`metrics`]: every Prometheus series, registered once.
//! - [`ready`]: readiness that means *working* (feeds connected, books in sync
//!   and fresh, no stage stalled, pipeline moving, not shutting down).
//! - [`server`]: the axum server on its own thread, hosting the watchdog that
//!   re-evaluates readiness every 250 ms and samples health gauges.
//! - [`status`]: the periodic one-line status and the exit summary.
//! - [`systemd`]: sd_notify READY/WATCHDOG/STATUS driven by readiness.
//! - [`test_hooks`]: test-only stall injection (`[ops] test_hooks`, admin token).
//! - [`trading`]: whether the engine could trade right now (kill switch,
//!   breaker, required heartbeats, journal, readiness), apart from `/ready`.

pub mod account_api;
pub mod healthcheck;
pub mod ready;
pub mod server;
pub mod status;
pub mod systemd;
pub mod test_hooks;
pub mod trading;

pub use crate::telemetry::{Metrics, resident_memory_bytes};
pub use ready::{Readiness, ReadyReport};
pub use server::{OpsHandle, start};
pub use status::{StatusLine, final_summary};
