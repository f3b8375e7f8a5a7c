//! The strict `[venues.bybit]` section: the shared venue keys plus Bybit's
//! own (book depth, ping period, instruments over REST), and their checks.

use crate::config::ConfigError;
use crate::venue::config::{VenueSection, validate_common, validate_timing};
use std::time::Duration;

crate::venue_section! {
    /// `[venues.bybit]` (v5 linear).
    pub struct BybitConfig {
        /// Book depth to stream: `orderbook.{1|50|200|1000}`; 0 = 50.
        pub book_depth: u32 = 0,
        /// Period of `{"op":"ping"}`; 0 = the default (20 s).
        pub ping_interval_ms: u64 = 0,
        /// Load tick, lot and min notional of the configured instruments from
        /// `/v5/market/instruments-info` at startup.
        pub instruments_from_rest: bool = false,
    }
}

impl BybitConfig {
    /// The streamed book depth (0 in the config = 50).
    pub fn depth(&self) -> u32 {
        if self.book_depth == 0 {
            50
        } else {
            self.book_depth
        }
    }

    /// The ping period (0 in the config = 20 s).
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(if self.ping_interval_ms == 0 {
            20_000
        } else {
            self.ping_interval_ms
        })
    }

    /// Checks the section at `path` (`venues.bybit`).
    pub fn validate(&self, path: &str, sim: bool) -> Result<(), ConfigError> {
        let c = self.common();
        validate_common(path, &c, sim)?;
        if !matches!(self.book_depth, 0 | 1 | 50 | 200 | 1000) {
            return Err(ConfigError::new(
                format!("{path}.book_depth"),
                format!(
                    "{} is not a bybit book depth: use 1, 50, 200 or 1000",
                    self.book_depth
                ),
            ));
        }
        validate_timing(path, &c)?;
        if self.ping_interval_ms != 0 && !(100..=600_000).contains(&self.ping_interval_ms) {
            return Err(ConfigError::new(
                format!("{path}.ping_interval_ms"),
                "must be 0 (venue default) or between 100 and 600000",
            ));
        }
        Ok(())
    }
}
