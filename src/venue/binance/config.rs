//! The strict `[venues.binance]` section: the shared venue keys plus
//! Binance's own (the `/market` trade route, the depth stream speed, the
//! REST snapshot size, the REST request-weight budget, and the trading
//! endpoints and timings of order entry), and their checks.

use crate::config::ConfigError;
use crate::venue::config::{Common, VenueSection, range, url, validate_common, validate_timing};

crate::venue_section! {
    /// `[venues.binance]` (USD-M futures).
    pub struct BinanceConfig {
        /// Optional separate base URL for trade streams (Binance's 2026
        /// `/market` route). Empty = trades share `ws_url`.
        pub ws_market_url: String = String::new(),
        /// Depth stream speed in ms (100, 250 or 500; 0 = `@0ms`).
        pub depth_speed_ms: u32 = 100,
        /// Levels requested in the REST depth snapshot.
        pub snapshot_limit: u32 = 1000,
        /// The venue's REST request-weight limit per window and IP (USD-M:
        /// 2400 per minute).
        pub rest_weight_per_min: u32 = 2400,
        /// Percent of `rest_weight_per_min` the engine allows itself (the
        /// rest is margin for other processes on the IP and manual calls).
        pub rest_weight_safety_pct: u32 = 80,
        /// The length of the venue's weight window in ms (60000; tests
        /// against the simulator shorten it).
        pub rest_weight_window_ms: u64 = 60_000,
        /// The longest REST stop a `Retry-After` (HTTP 429/418) may impose,
        /// in seconds (default 900); larger values are cut to it, counted
        /// (`qt_venue_rest_retry_after_capped_total`) and logged once.
        pub rest_retry_after_max_secs: u64 = 900,
        /// Signed REST base for order entry (testnet/live), apart from the
        /// market data's `rest_url` (Binance's demo hosts differ).
        /// Empty = the built-in simulator.
        pub trade_rest_url: String = String::new(),
        /// User data stream base (`wss://fstream.binance.com`; the session
        /// connects to `<base>/private/ws?listenKey=<key>`), or a URL with
        /// `{listenKey}` where the key goes (the demo hosts'
        /// `wss://demo-fstream.binance.com/ws/{listenKey}`). Empty = the
        /// built-in simulator.
        pub user_stream_url: String = String::new(),
        /// An order request without an answer after this long has an
        /// unknown outcome (queried, never resent).
        pub order_timeout_ms: u64 = 5_000,
        /// listenKey keepalive period (Binance: the key lives 60 min).
        pub listen_key_keepalive_ms: u64 = 1_800_000,
        /// Server clock offset re-measured this often (and on `-1021`).
        pub clock_sync_ms: u64 = 60_000,
    }
}

impl BinanceConfig {
    /// Checks the section at `path` (`venues.binance`).
    pub fn validate(&self, path: &str, sim: bool) -> Result<(), ConfigError> {
        let c: Common<'_> = self.common();
        url(
            &format!("{path}.ws_market_url"),
            &self.ws_market_url,
            &["ws", "wss"],
        )?;
        url(
            &format!("{path}.trade_rest_url"),
            &self.trade_rest_url,
            &["http", "https"],
        )?;
        url(
            &format!("{path}.user_stream_url"),
            &self.user_stream_url,
            &["ws", "wss"],
        )?;
        range(
            &format!("{path}.order_timeout_ms"),
            self.order_timeout_ms,
            50,
            60_000,
        )?;
        range(
            &format!("{path}.listen_key_keepalive_ms"),
            self.listen_key_keepalive_ms,
            100,
            3_540_000,
        )?;
        range(
            &format!("{path}.clock_sync_ms"),
            self.clock_sync_ms,
            100,
            3_600_000,
        )?;
        validate_common(path, &c, sim)?;
        if ![0, 100, 250, 500].contains(&self.depth_speed_ms) {
            return Err(ConfigError::new(
                format!("{path}.depth_speed_ms"),
                format!("must be 0, 100, 250 or 500 (got {})", self.depth_speed_ms),
            ));
        }
        if ![5, 10, 20, 50, 100, 500, 1000].contains(&self.snapshot_limit) {
            return Err(ConfigError::new(
                format!("{path}.snapshot_limit"),
                format!(
                    "must be one of 5, 10, 20, 50, 100, 500, 1000 (got {})",
                    self.snapshot_limit
                ),
            ));
        }
        range(
            &format!("{path}.rest_weight_per_min"),
            self.rest_weight_per_min,
            1,
            1_000_000,
        )?;
        range(
            &format!("{path}.rest_weight_safety_pct"),
            self.rest_weight_safety_pct,
            1,
            100,
        )?;
        range(
            &format!("{path}.rest_weight_window_ms"),
            self.rest_weight_window_ms,
            100,
            3_600_000,
        )?;
        range(
            &format!("{path}.rest_retry_after_max_secs"),
            self.rest_retry_after_max_secs,
            1,
            259_200,
        )?;
        validate_timing(path, &c)
    }
}
