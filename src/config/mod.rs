//! Typed engine configuration: TOML in, strict validation out. Unknown keys
//! are errors, every error names the key path and the reason, and secrets are
//! only ever read from environment variables (the config names the variable).

pub mod capture;
pub mod demo_run;
pub mod journal;
pub mod redact;
pub mod redis;
pub mod risk;
pub mod trading;
mod validate;
mod venues;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use capture::{BacktestConfig, RecordConfig};
pub use journal::{FsyncPolicy, JournalConfig};
pub use risk::{AdminConfig, BreakerConfig, HeartbeatConfig, HeartbeatPolicy};
pub use trading::{AdoptPolicy, TradingConfig};
pub use validate::validate;
/// `[venues]`: one section per venue, type-erased here; each venue's typed,
/// strict section is defined in its folder under `venue/` and parsed there.
pub use venues::{AnySection, VenuesConfig};

/// The demo configuration embedded in the binary (`config/demo.toml`).
pub const DEMO_TOML: &str = include_str!("../../config/demo.toml");

/// A config problem, with the dotted key path it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub path: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "config error: {}", self.reason)
        } else {
            write!(f, "config error at `{}`: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Paper (simulated fills), testnet (venue test endpoints) or live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, Hash)]
#[serde(rename_all = "lowercase")]
pub enum TradingMode {
    #[default]
    Paper,
    Testnet,
    Live,
}

impl TradingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TradingMode::Paper => "paper",
            TradingMode::Testnet => "testnet",
            TradingMode::Live => "live",
        }
    }
}

/// How a stage thread waits for its next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WaitKind {
    /// Busy-spin: lowest latency, burns a core. For dedicated cores only.
    Spin,
    /// Spin briefly, then yield the CPU between polls.
    Yield,
    /// Block on the channel (the default on small machines).
    #[default]
    Park,
    /// Spin for at most the stage's `spin_us` microseconds, then park: a
    /// burst pays no wake-up, an idle stage gives its core back.
    #[serde(rename = "spin_then_park")]
    SpinThenPark,
}

impl WaitKind {
    /// Whether the consumer may park (its producers must wake it).
    pub fn parks(self) -> bool {
        matches!(self, WaitKind::Park | WaitKind::SpinThenPark)
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitKind::Spin => "spin",
            WaitKind::Yield => "yield",
            WaitKind::Park => "park",
            WaitKind::SpinThenPark => "spin_then_park",
        }
    }

    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<WaitKind> {
        [
            WaitKind::Spin,
            WaitKind::Yield,
            WaitKind::Park,
            WaitKind::SpinThenPark,
        ]
        .into_iter()
        .find(|w| w.as_str() == s)
    }
}

/// How the hot-path stages are laid out on threads (`[pipeline] layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One thread per stage (book, score, risk, exec), joined by rings.
    #[default]
    Threads,
    /// Book, score, risk and exec one after the other on one thread per
    /// event (run to completion); the feed threads stay as they are.
    Fused,
    /// `fused` when the machine has fewer cores than the threads layout
    /// has threads ([`Layout::resolve`]), else `threads`.
    Auto,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Threads => "threads",
            Layout::Fused => "fused",
            Layout::Auto => "auto",
        }
    }

    /// The layout to run: `auto` becomes `fused` when `cores` (available
    /// parallelism) is below the threads layout's hot threads, the four
    /// stage threads plus one feed thread per enabled venue (at least one:
    /// the injecting thread), else `threads`.
    pub fn resolve(self, cores: usize, venues: usize) -> Layout {
        match self {
            Layout::Auto if cores < 4 + venues.max(1) => Layout::Fused,
            Layout::Auto => Layout::Threads,
            l => l,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// paper | testnet | live.
    #[serde(default)]
    pub mode: TradingMode,
    #[serde(default)]
    pub ops: OpsConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub sim: SimConfig,
    #[serde(default)]
    pub venues: VenuesConfig,
    #[serde(default)]
    pub instruments: Vec<InstrumentConfig>,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    pub model: ModelConfig,
    #[serde(default)]
    pub risk: RiskConfig,
    #[serde(default)]
    pub exec: ExecConfig,
    /// Venue order entry around the order path (testnet/live; `trading`).
    #[serde(default)]
    pub trading: TradingConfig,
    #[serde(default)]
    pub journal: JournalConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub redis: redis::RedisConfig,
    /// Raw-frame recording (`capture`).
    #[serde(default)]
    pub record: RecordConfig,
    /// Replay latency model and fees (`backtest`).
    #[serde(default)]
    pub backtest: BacktestConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpsConfig {
    /// Address of the HTTP server (metrics, health, readiness, admin API).
    pub listen: String,
    /// Seconds between terminal status lines (0 = none).
    pub status_interval_secs: u64,
    /// A book older than this is not "fresh" for readiness.
    pub ready_max_book_age_ms: u64,
    /// A stage with input waiting but no progress for this long is stalled.
    pub stall_timeout_ms: u64,
    /// TEST-ONLY: serves `POST /api/test/stall/{stage}` and
    /// `/api/test/resume/{stage}` (freeze a stage; admin token needed).
    /// Never enable in production.
    pub test_hooks: bool,
    /// Open connections the ops server holds at most; one more is closed at
    /// once and counted (`qt_ops_connections_refused_total`).
    pub max_connections: usize,
    /// A connection that has not sent a request's complete header this long
    /// after connecting (or after its previous answer) is closed.
    pub header_read_timeout_ms: u64,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            listen: "127.0.0.1:9898".into(),
            status_interval_secs: 5,
            ready_max_book_age_ms: 5_000,
            stall_timeout_ms: 2_000,
            test_hooks: false,
            max_connections: 256,
            header_read_timeout_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `quantum_trader=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// The built-in venue simulator (`sim/`), started in-process by `run` when
/// enabled. Venues whose URLs are left empty then point at it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    pub enabled: bool,
    /// Listen address (port 0 picks a free port).
    pub listen: String,
    /// Seed for the random walk (same seed, same market).
    pub seed: u64,
    /// Market-data messages per second per symbol (all stream kinds together).
    pub rate_per_symbol: u32,
    /// Price levels per side the simulated books keep.
    pub levels: u32,
    /// Starting mid price per symbol (default 100.0).
    pub start_prices: BTreeMap<String, f64>,
    /// Replay these raw frames instead of generating (ndjson of venue frames).
    pub replay_file: Option<String>,
    /// Seconds between WebSocket pings sent by the simulator.
    pub ping_interval_secs: u64,
    /// Binance REST request-weight limit per client IP and window (Binance
    /// USD-M: 2400 per minute); exceeded: HTTP 429 with `Retry-After`.
    pub rest_weight_limit: u64,
    /// The simulator's weight window in ms (Binance: 60000).
    pub rest_weight_window_ms: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            enabled: false,
            listen: "127.0.0.1:0".into(),
            seed: 42,
            rate_per_symbol: 500,
            levels: 300,
            start_prices: BTreeMap::new(),
            replay_file: None,
            ping_interval_secs: 180,
            rest_weight_limit: 2400,
            rest_weight_window_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// The venue's lower-case name (`binance`, `bybit`, `okx`).
    pub venue: crate::core::Venue,
    pub symbol: String,
    /// Venue-independent underlying name; defaults to the symbol.
    #[serde(default)]
    pub underlying: String,
    /// Tick size as the venue writes it ("0.10"); its decimals set the scale.
    pub tick_size: String,
    /// Lot size as the venue writes it ("0.001").
    pub lot_size: String,
    #[serde(default)]
    pub min_notional: f64,
    /// Quantity per order the strategy sends.
    pub order_qty: String,
    /// Largest absolute position allowed (base asset).
    pub max_position: String,
    /// Base asset per contract (OKX `ctVal`, e.g. "0.01") for venues that
    /// quote sizes in contracts; empty = sizes are in the base asset. With
    /// it, `lot_size` is the base-asset lot (`lotSz x ctVal`).
    #[serde(default)]
    pub contract_value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// `threads` (a thread per stage, the default), `fused` (book, score,
    /// risk and exec on one thread) or `auto` (see [`Layout::resolve`]).
    pub layout: Layout,
    /// Capacity of each stage-to-stage queue.
    pub queue_capacity: usize,
    pub feed: StageConfig,
    pub book: StageConfig,
    pub score: StageConfig,
    pub risk: StageConfig,
    pub exec: StageConfig,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            layout: Layout::Threads,
            queue_capacity: 16_384,
            feed: StageConfig::default(),
            book: StageConfig::default(),
            score: StageConfig::default(),
            risk: StageConfig::default(),
            exec: StageConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StageConfig {
    pub wait: WaitKind,
    /// With `wait = "spin_then_park"`: how long the stage spins for its next
    /// item before it parks, microseconds.
    pub spin_us: u64,
    /// Core to pin the stage's thread to (skipped with a warning if absent).
    pub core: Option<usize>,
}

/// Default [`StageConfig::spin_us`].
pub const DEFAULT_SPIN_US: u64 = 50;

impl Default for StageConfig {
    fn default() -> Self {
        StageConfig {
            wait: WaitKind::default(),
            spin_us: DEFAULT_SPIN_US,
            core: None,
        }
    }
}

impl StageConfig {
    /// How long the stage spins before it parks (`spin_then_park`).
    pub fn spin(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.spin_us)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Path of the model file (JSON with a version string).
    pub path: String,
    /// Decisions a reloaded model is shadow-scored beside the live one
    /// before it is swapped in (0 = swap at the next event).
    #[serde(default = "default_shadow_decisions")]
    pub shadow_decisions: u64,
    /// Swap only when the shadow run's agreement rate (same action) is at
    /// least this (0 = always swap after the shadow run).
    #[serde(default)]
    pub shadow_min_agreement: f64,
    /// Minimum ms between two non-HOLD decisions on one instrument.
    #[serde(default = "default_decision_cooldown")]
    pub decision_cooldown_ms: u64,
    /// Window of the trade-flow imbalance feature.
    #[serde(default = "default_flow_window")]
    pub trade_flow_window_ms: u64,
    /// Horizon of the short-return feature.
    #[serde(default = "default_return_horizon")]
    pub return_horizon_ms: u64,
}

fn default_shadow_decisions() -> u64 {
    500
}
fn default_decision_cooldown() -> u64 {
    250
}
fn default_flow_window() -> u64 {
    1_000
}
fn default_return_horizon() -> u64 {
    500
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// Largest order notional (quote currency).
    pub max_order_notional: f64,
    pub max_orders_per_sec: u32,
    /// Trades (orders sent) per UTC day, per trading mode.
    pub daily_trade_cap: u32,
    /// SKIP a SELL whose only purpose would be to close a flat position.
    pub skip_flat_sell: bool,
    /// Start with the kill switch on (everything SKIPs).
    pub kill_switch: bool,
    /// SKIP when the book is older than this.
    pub max_book_age_ms: u64,
    /// Orders in any 60 s window.
    pub max_orders_per_min: u32,
    /// Orders sent and not yet done.
    pub max_open_orders: u32,
    /// Largest |position| × mid per instrument, quote (0 = off).
    pub max_position_notional: f64,
    /// Per-symbol overrides of `max_position_notional`.
    pub max_position_notional_by_symbol: BTreeMap<String, f64>,
    /// Largest sum over instruments of |position| × mid, quote (0 = off).
    pub max_gross_exposure: f64,
    /// Largest distance of an order's limit price from the mid, in bps (0 = off).
    pub price_band_bps: f64,
    /// `qt_daily_trade_cap_warning` turns 1 at this share of the cap.
    pub daily_cap_warn_ratio: f64,
    /// Realized loss today (net of fees, quote) that trips the breaker (0 = off).
    pub max_daily_loss: f64,
    /// Drop of today's equity from its peak (quote) that trips the breaker (0 = off).
    pub max_drawdown: f64,
    /// Consecutive losing closing fills that trip the breaker (0 = off).
    pub max_consecutive_losses: u32,
    /// Consecutive rejected orders that trip the breaker (0 = off).
    pub max_consecutive_rejects: u32,
    pub breaker: BreakerConfig,
    /// Auxiliary services whose heartbeats the governor checks.
    pub heartbeats: Vec<HeartbeatConfig>,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            max_order_notional: 10_000.0,
            max_orders_per_sec: 5,
            daily_trade_cap: 200,
            skip_flat_sell: true,
            kill_switch: false,
            max_book_age_ms: 5_000,
            max_orders_per_min: 120,
            max_open_orders: 8,
            max_position_notional: 0.0,
            max_position_notional_by_symbol: BTreeMap::new(),
            max_gross_exposure: 0.0,
            price_band_bps: 100.0,
            daily_cap_warn_ratio: 0.8,
            max_daily_loss: 0.0,
            max_drawdown: 0.0,
            max_consecutive_losses: 0,
            max_consecutive_rejects: 10,
            breaker: BreakerConfig::default(),
            heartbeats: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecConfig {
    /// Taker fee in basis points charged by the paper matcher.
    pub taker_fee_bps: f64,
    /// Worst fill allowed, in bps from the touch, for paper IOC orders.
    pub max_slippage_bps: f64,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            taker_fee_bps: 4.0,
            max_slippage_bps: 10.0,
        }
    }
}

impl ConfigError {
    /// A deserialization error at `prefix` + its path inside what was read
    /// (`venues.binance` + `depth_speed_ms`).
    pub fn from_serde(prefix: &str, e: serde_path_to_error::Error<toml::de::Error>) -> Self {
        // The toml crate's private datetime wrapper is no key of ours.
        let inner_path = e
            .path()
            .to_string()
            .replace(".$__toml_private_datetime", "")
            .replace("$__toml_private_datetime", "");
        let inner = e.into_inner();
        let path = match (prefix.is_empty(), inner_path.as_str()) {
            (_, "." | "") => prefix.to_string(),
            (true, p) => p.to_string(),
            (false, p) => format!("{prefix}.{p}"),
        };
        ConfigError::new(path, inner.message().to_string())
    }
}

/// Loading. `Config::from_toml`, `Config::load` and `Config::demo` (parse,
/// type every `[venues.<name>]` section, validate) are implemented in
/// `venue::sections`, the layer that knows the venues' sections; here is
/// what config does alone.
impl Config {
    /// Parses TOML text into a config whose `[venues]` sections are still
    /// raw TOML (not validated). `Config::from_toml` is this, then the venue
    /// layer's typing of the sections, then [`validate`].
    pub fn parse_untyped(text: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError::new("", format!("invalid TOML: {}", e.message())))?;
        serde_path_to_error::deserialize(de).map_err(|e| ConfigError::from_serde("", e))
    }

    /// Reads a config file's text.
    pub fn read_file(path: &Path) -> Result<String, ConfigError> {
        std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))
    }

    /// The effective config as TOML, secrets included (for writing a config
    /// file; never print or log this: use [`Config::to_toml_redacted`]).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }

    /// The effective config as TOML with every secret masked (passwords in
    /// URLs, secret query parameters and secret-named keys; see
    /// [`redact`]): what `check-config` prints.
    pub fn to_toml_redacted(&self) -> String {
        let mut v = match toml::Value::try_from(self) {
            Ok(v) => v,
            Err(e) => return format!("# cannot render: {e}"),
        };
        redact::redact_toml(&mut v);
        toml::to_string_pretty(&v).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
