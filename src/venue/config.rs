//! The keys every `[venues.<name>]` section shares (URLs, symbols, session
//! timing, credential variable names, staleness), the macro each venue's
//! `config.rs` declares its strict section with (shared keys + its own), and
//! the checks of the shared keys. A venue's own keys and their checks live
//! in its folder (`binance/config.rs`, `bybit/config.rs`, `okx/config.rs`).

use crate::config::ConfigError;
use crate::feed::session::SessionConfig;
use std::time::Duration;

/// Read access to the shared keys of one venue section.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    pub enabled: bool,
    pub ws_url: &'a str,
    pub rest_url: &'a str,
    pub symbols: &'a [String],
    pub silence_timeout_ms: u64,
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    pub max_connection_age_secs: u64,
    pub api_key_env: &'a str,
    pub api_secret_env: &'a str,
    pub stale_after_ms: u64,
}

/// Write access to the shared keys (tools and tests change them after
/// loading: simulator URLs, the symbol list, timing).
pub struct CommonMut<'a> {
    pub enabled: &'a mut bool,
    pub ws_url: &'a mut String,
    pub rest_url: &'a mut String,
    pub symbols: &'a mut Vec<String>,
    pub silence_timeout_ms: &'a mut u64,
    pub backoff_min_ms: &'a mut u64,
    pub backoff_max_ms: &'a mut u64,
    pub max_connection_age_secs: &'a mut u64,
    pub stale_after_ms: &'a mut u64,
}

/// A venue section: its shared keys, as [`venue_section!`] implements it.
pub trait VenueSection {
    fn common(&self) -> Common<'_>;
    fn common_mut(&mut self) -> CommonMut<'_>;
}

impl Common<'_> {
    /// The connection-session timing of this venue's feed connections.
    pub fn session(&self) -> SessionConfig {
        SessionConfig {
            silence_timeout: Duration::from_millis(self.silence_timeout_ms),
            max_age: Duration::from_secs(self.max_connection_age_secs),
            backoff_min: Duration::from_millis(self.backoff_min_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            healthy_after: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Declares a venue's strict `[venues.<name>]` struct: the shared keys
/// (`enabled`, `ws_url`, `rest_url`, `symbols`, `silence_timeout_ms`,
/// `backoff_min_ms`, `backoff_max_ms`, `max_connection_age_secs`,
/// `api_key_env`, `api_secret_env`, `stale_after_ms`) followed by the
/// venue's own keys, each written `doc; pub name: Type = default,`. The
/// struct denies unknown fields, so a key of another venue is an error at
/// its path (`venues.bybit.depth_speed_ms: unknown field`). The venue writes
/// `impl Name { pub fn validate(&self, path: &str, sim: bool) -> Result<(),
/// ConfigError> }` beside it: config runs it through
/// [`crate::config::AnySection::check`].
#[macro_export]
macro_rules! venue_section {
    (
        $(#[$sm:meta])*
        pub struct $name:ident {
            $( $(#[$fm:meta])* pub $f:ident : $t:ty = $d:expr, )*
        }
    ) => {
        $(#[$sm])*
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            pub enabled: bool,
            /// WebSocket base URL. Empty = simulator.
            pub ws_url: String,
            /// REST base URL (snapshots, instruments). Empty = simulator.
            pub rest_url: String,
            /// Venue symbols to stream, as the venue writes them.
            pub symbols: Vec<String>,
            /// Reconnect when no frame arrived for this long.
            pub silence_timeout_ms: u64,
            pub backoff_min_ms: u64,
            pub backoff_max_ms: u64,
            /// Renew the connection before the venue's 24 h limit.
            pub max_connection_age_secs: u64,
            /// Name of the environment variable holding the API key (never the key).
            pub api_key_env: String,
            /// Name of the environment variable holding the API secret.
            pub api_secret_env: String,
            /// A symbol with no book message for this long on an open
            /// connection is stale: resubscribed, then the connection
            /// renewed (0 = off).
            pub stale_after_ms: u64,
            $( $(#[$fm])* pub $f: $t, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    enabled: true,
                    ws_url: String::new(),
                    rest_url: String::new(),
                    symbols: Vec::new(),
                    silence_timeout_ms: 10_000,
                    backoff_min_ms: 200,
                    backoff_max_ms: 30_000,
                    max_connection_age_secs: 23 * 3600 + 1800,
                    api_key_env: String::new(),
                    api_secret_env: String::new(),
                    stale_after_ms: 30_000,
                    $( $f: $d, )*
                }
            }
        }

        impl $crate::config::AnySection for $name {
            fn enabled(&self) -> bool {
                self.enabled
            }
            fn symbols(&self) -> &[String] {
                &self.symbols
            }
            fn check(
                &self,
                path: &str,
                sim: bool,
            ) -> Result<(), $crate::config::ConfigError> {
                // The venue's own `validate` (an inherent method, required).
                $name::validate(self, path, sim)
            }
            fn to_value(&self) -> Result<toml::Value, toml::ser::Error> {
                toml::Value::try_from(self)
            }
            fn clone_box(&self) -> Box<dyn $crate::config::AnySection> {
                Box::new(self.clone())
            }
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
            fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
                self
            }
        }

        impl $crate::venue::config::VenueSection for $name {
            fn common(&self) -> $crate::venue::config::Common<'_> {
                $crate::venue::config::Common {
                    enabled: self.enabled,
                    ws_url: &self.ws_url,
                    rest_url: &self.rest_url,
                    symbols: &self.symbols,
                    silence_timeout_ms: self.silence_timeout_ms,
                    backoff_min_ms: self.backoff_min_ms,
                    backoff_max_ms: self.backoff_max_ms,
                    max_connection_age_secs: self.max_connection_age_secs,
                    api_key_env: &self.api_key_env,
                    api_secret_env: &self.api_secret_env,
                    stale_after_ms: self.stale_after_ms,
                }
            }
            fn common_mut(&mut self) -> $crate::venue::config::CommonMut<'_> {
                $crate::venue::config::CommonMut {
                    enabled: &mut self.enabled,
                    ws_url: &mut self.ws_url,
                    rest_url: &mut self.rest_url,
                    symbols: &mut self.symbols,
                    silence_timeout_ms: &mut self.silence_timeout_ms,
                    backoff_min_ms: &mut self.backoff_min_ms,
                    backoff_max_ms: &mut self.backoff_max_ms,
                    max_connection_age_secs: &mut self.max_connection_age_secs,
                    stale_after_ms: &mut self.stale_after_ms,
                }
            }
        }
    };
}

/// `Err` naming `path` unless `lo <= v <= hi`.
pub fn range<T: PartialOrd + std::fmt::Display>(
    path: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<(), ConfigError> {
    if !(lo <= v && v <= hi) {
        return Err(ConfigError::new(
            path,
            format!("must be between {lo} and {hi} (got {v})"),
        ));
    }
    Ok(())
}

/// `Err` naming `path` unless `v` is empty or starts with one of `schemes`.
pub fn url(path: &str, v: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    if v.is_empty() {
        return Ok(());
    }
    if !schemes.iter().any(|s| v.starts_with(&format!("{s}://"))) {
        return Err(ConfigError::new(
            path,
            format!("must start with one of {schemes:?}:// (got `{v}`)"),
        ));
    }
    Ok(())
}

/// Checks the shared keys of the section at `path` (`venues.bybit`); `sim`:
/// the built-in simulator stands in for empty URLs.
pub fn validate_common(path: &str, c: &Common<'_>, sim: bool) -> Result<(), ConfigError> {
    url(&format!("{path}.ws_url"), c.ws_url, &["ws", "wss"])?;
    url(&format!("{path}.rest_url"), c.rest_url, &["http", "https"])?;
    if !sim && (c.ws_url.is_empty() || c.rest_url.is_empty()) {
        let missing = if c.ws_url.is_empty() {
            "ws_url"
        } else {
            "rest_url"
        };
        return Err(ConfigError::new(
            format!("{path}.{missing}"),
            "ws_url and rest_url are required unless [sim] is enabled",
        ));
    }
    if c.symbols.is_empty() {
        return Err(ConfigError::new(
            format!("{path}.symbols"),
            "must list at least one symbol",
        ));
    }
    if c.symbols.len() > 1024 {
        return Err(ConfigError::new(
            format!("{path}.symbols"),
            "at most 1024 symbols per venue",
        ));
    }
    for (i, s) in c.symbols.iter().enumerate() {
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::new(
                format!("{path}.symbols[{i}]"),
                format!("`{s}` is not a valid symbol"),
            ));
        }
    }
    Ok(())
}

/// Checks the shared timing keys (after the venue's own keys, in the order
/// the checks always ran).
pub fn validate_timing(path: &str, c: &Common<'_>) -> Result<(), ConfigError> {
    if c.stale_after_ms != 0 && !(100..=3_600_000).contains(&c.stale_after_ms) {
        return Err(ConfigError::new(
            format!("{path}.stale_after_ms"),
            "must be 0 (off) or between 100 and 3600000",
        ));
    }
    range(
        &format!("{path}.silence_timeout_ms"),
        c.silence_timeout_ms,
        100,
        600_000,
    )?;
    range(
        &format!("{path}.backoff_min_ms"),
        c.backoff_min_ms,
        1,
        60_000,
    )?;
    range(
        &format!("{path}.backoff_max_ms"),
        c.backoff_max_ms,
        c.backoff_min_ms,
        600_000,
    )?;
    range(
        &format!("{path}.max_connection_age_secs"),
        c.max_connection_age_secs,
        10,
        86_000,
    )?;
    Ok(())
}
