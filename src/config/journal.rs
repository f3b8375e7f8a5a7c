//! The `[journal]` section: where the append-only journal lives, how often
//! it is synced to disk, and how deep its writer's queue is.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// When the journal writer calls `fsync` (`File::sync_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// After every record: nothing acknowledged is lost, even on power loss.
    Always,
    /// At most every `batch_ms`: a power loss (not a process crash) may lose
    /// the last `batch_ms` of records.
    #[default]
    Batch,
}

impl FsyncPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Batch => "batch",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Off: nothing is journaled and nothing is restored at startup.
    pub enabled: bool,
    /// Directory of the day files (`YYYY-MM-DD.journal`), created if missing.
    pub dir: String,
    pub fsync: FsyncPolicy,
    /// With `fsync = "batch"`: the longest time between two syncs.
    pub batch_ms: u64,
    /// Capacity of the writer's input queue; beyond it records are dropped
    /// and counted (the hot path never waits on the disk).
    pub queue_capacity: usize,
    /// Also journal HOLD decisions and their verdicts (many per second).
    pub record_holds: bool,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            enabled: true,
            dir: "var/journal".into(),
            fsync: FsyncPolicy::Batch,
            batch_ms: 50,
            queue_capacity: 65_536,
            record_holds: false,
        }
    }
}

/// Range checks of the `[journal]` section.
pub fn validate(c: &JournalConfig) -> Result<(), ConfigError> {
    if c.enabled && c.dir.trim().is_empty() {
        return Err(ConfigError::new(
            "journal.dir",
            "must name a directory when the journal is enabled",
        ));
    }
    if !(1..=60_000).contains(&c.batch_ms) {
        return Err(ConfigError::new(
            "journal.batch_ms",
            format!("must be between 1 and 60000 (got {})", c.batch_ms),
        ));
    }
    if !(64..=(1 << 22)).contains(&c.queue_capacity) {
        return Err(ConfigError::new(
            "journal.queue_capacity",
            format!("must be between 64 and 4194304 (got {})", c.queue_capacity),
        ));
    }
    Ok(())
}
