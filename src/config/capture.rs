//! The `[record]` section (raw-frame recording while the engine runs, see
//! `capture`) and the `[backtest]` section (the latency model and journal of
//! a replay, see `backtest`).

use super::ConfigError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordConfig {
    /// Record every frame, REST reply and connection event of every feed.
    pub enabled: bool,
    /// Directory of the recording files (created if missing).
    pub dir: String,
    /// Total size cap of the directory's recording files in MiB; the oldest
    /// files are deleted first (0 = no cap).
    pub max_total_mb: u64,
    /// Capacity of the recorder's input queue (records); beyond it records
    /// are dropped and counted (`qt_capture_dropped_total`), never waited for.
    pub queue_capacity: usize,
    /// zstd level (1 = fastest .. 19).
    pub zstd_level: i32,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            enabled: false,
            dir: "var/record".into(),
            max_total_mb: 10_240,
            queue_capacity: 65_536,
            zstd_level: 3,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BacktestConfig {
    /// Time from a frame's recorded receive to the engine seeing it (µs).
    pub feed_delay_us: u64,
    /// Time from a decision to its order reaching the matcher (µs); the
    /// order matches the book as it is then.
    pub order_delay_us: u64,
    /// Taker fee in bps for the backtest (negative: use `[exec] taker_fee_bps`).
    pub taker_fee_bps: f64,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig {
            feed_delay_us: 0,
            order_delay_us: 1_000,
            taker_fee_bps: -1.0,
        }
    }
}

/// Range checks of `[record]` and `[backtest]`.
pub fn validate(r: &RecordConfig, b: &BacktestConfig) -> Result<(), ConfigError> {
    if r.enabled && r.dir.trim().is_empty() {
        return Err(ConfigError::new("record.dir", "must not be empty"));
    }
    if r.queue_capacity == 0 {
        return Err(ConfigError::new(
            "record.queue_capacity",
            "must be at least 1",
        ));
    }
    if !(1..=19).contains(&r.zstd_level) {
        return Err(ConfigError::new("record.zstd_level", "must be 1..=19"));
    }
    if !b.taker_fee_bps.is_finite() || b.taker_fee_bps > 1000.0 {
        return Err(ConfigError::new(
            "backtest.taker_fee_bps",
            "must be finite and at most 1000",
        ));
    }
    Ok(())
}
