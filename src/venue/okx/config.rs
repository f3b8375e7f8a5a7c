//! The strict `[venues.okx]` section: the shared venue keys plus OKX's own
//! (book channel, idle time before a text `ping`, instruments over REST),
//! and their checks.

use crate::config::ConfigError;
use crate::venue::config::{VenueSection, validate_common, validate_timing};
use std::time::Duration;

crate::venue_section! {
    /// `[venues.okx]` (v5 SWAP).
    pub struct OkxConfig {
        /// Book channel: 400 (`books`) or 5 (`books5`); 0 = 400.
        pub book_depth: u32 = 0,
        /// Idle time before a text `ping`; 0 = the default (25 s). OKX closes
        /// a connection silent for 30 s, so at most 29000.
        pub ping_interval_ms: u64 = 0,
        /// Load tick, lot and contract value of the configured instruments
        /// from `/api/v5/public/instruments` at startup.
        pub instruments_from_rest: bool = false,
    }
}

impl OkxConfig {
    /// The streamed book depth (0 in the config = 400).
    pub fn depth(&self) -> u32 {
        if self.book_depth == 0 {
            400
        } else {
            self.book_depth
        }
    }

    /// The idle time before a ping (0 in the config = 25 s).
    pub fn ping_idle(&self) -> Duration {
        Duration::from_millis(if self.ping_interval_ms == 0 {
            25_000
        } else {
            self.ping_interval_ms
        })
    }

    /// Checks the section at `path` (`venues.okx`).
    pub fn validate(&self, path: &str, sim: bool) -> Result<(), ConfigError> {
        let c = self.common();
        validate_common(path, &c, sim)?;
        if !matches!(self.book_depth, 0 | 5 | 400) {
            return Err(ConfigError::new(
                format!("{path}.book_depth"),
                format!(
                    "{} is not a okx book depth: use 5 (books5) or 400 (books)",
                    self.book_depth
                ),
            ));
        }
        validate_timing(path, &c)?;
        if self.ping_interval_ms != 0 && !(100..=29_000).contains(&self.ping_interval_ms) {
            return Err(ConfigError::new(
                format!("{path}.ping_interval_ms"),
                "must be 0 (venue default) or between 100 and 29000",
            ));
        }
        Ok(())
    }
}
