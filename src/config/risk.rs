//! Parts of the `[risk]` section beyond the plain limits: the circuit
//! breaker (`[risk.breaker]`), auxiliary-service heartbeats
//! (`[[risk.heartbeats]]`), the admin token (`[admin]`), and the range
//! checks of every risk key.

use super::{Config, ConfigError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// After this many seconds OPEN, the breaker closes by itself if its trip
    /// condition no longer holds. 0: only `POST /api/circuit-breaker/reset`
    /// closes it.
    pub cooldown_secs: u64,
}

/// What a stale or missing heartbeat of an auxiliary service does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeartbeatPolicy {
    /// Every decision SKIPs with `heartbeat_missing:<service>`.
    Required,
    /// A metric and one log line; trading goes on.
    Advisory,
}

impl HeartbeatPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            HeartbeatPolicy::Required => "required",
            HeartbeatPolicy::Advisory => "advisory",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// Service name (`[a-z0-9_-]`), as it posts its heartbeat.
    pub service: String,
    pub policy: HeartbeatPolicy,
    /// A heartbeat older than this (or none yet) is stale.
    #[serde(default = "default_heartbeat_age")]
    pub max_age_ms: u64,
}

fn default_heartbeat_age() -> u64 {
    15_000
}

/// The admin API's credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Name of the environment variable holding the bearer token that
    /// state-changing admin calls need. Unset or empty variable: those calls
    /// are refused (401).
    pub token_env: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            token_env: "QT_ADMIN_TOKEN".into(),
        }
    }
}

fn non_negative(path: &str, v: f64) -> Result<(), ConfigError> {
    if !v.is_finite() || v < 0.0 {
        return Err(ConfigError::new(
            path,
            format!("must be zero (off) or a positive number (got {v})"),
        ));
    }
    Ok(())
}

/// Range checks of the risk keys added with the full governor.
pub fn validate(c: &Config) -> Result<(), ConfigError> {
    let r = &c.risk;
    if !(1..=1_000_000).contains(&r.max_orders_per_min) {
        return Err(ConfigError::new(
            "risk.max_orders_per_min",
            format!(
                "must be between 1 and 1000000 (got {})",
                r.max_orders_per_min
            ),
        ));
    }
    if !(1..=1024).contains(&r.max_open_orders) {
        return Err(ConfigError::new(
            "risk.max_open_orders",
            format!("must be between 1 and 1024 (got {})", r.max_open_orders),
        ));
    }
    for (k, v) in [
        ("risk.max_position_notional", r.max_position_notional),
        ("risk.max_gross_exposure", r.max_gross_exposure),
        ("risk.price_band_bps", r.price_band_bps),
        ("risk.max_daily_loss", r.max_daily_loss),
        ("risk.max_drawdown", r.max_drawdown),
    ] {
        non_negative(k, v)?;
    }
    for (sym, v) in &r.max_position_notional_by_symbol {
        non_negative(&format!("risk.max_position_notional_by_symbol.{sym}"), *v)?;
        if !c.instruments.iter().any(|i| &i.symbol == sym) {
            return Err(ConfigError::new(
                format!("risk.max_position_notional_by_symbol.{sym}"),
                format!("no [[instruments]] entry for `{sym}`"),
            ));
        }
    }
    if !(r.daily_cap_warn_ratio > 0.0 && r.daily_cap_warn_ratio <= 1.0) {
        return Err(ConfigError::new(
            "risk.daily_cap_warn_ratio",
            format!(
                "must be above 0 and at most 1 (got {})",
                r.daily_cap_warn_ratio
            ),
        ));
    }
    if r.breaker.cooldown_secs > 7 * 86_400 {
        return Err(ConfigError::new(
            "risk.breaker.cooldown_secs",
            "must be at most 604800 (7 days)",
        ));
    }
    if r.heartbeats.len() > 32 {
        return Err(ConfigError::new("risk.heartbeats", "at most 32 services"));
    }
    for (i, h) in r.heartbeats.iter().enumerate() {
        let p = format!("risk.heartbeats[{i}]");
        if h.service.is_empty()
            || h.service.len() > 64
            || !h
                .service
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(ConfigError::new(
                format!("{p}.service"),
                format!(
                    "`{}` is not a service name ([a-z0-9_-], 1 to 64)",
                    h.service
                ),
            ));
        }
        if r.heartbeats[..i].iter().any(|o| o.service == h.service) {
            return Err(ConfigError::new(
                format!("{p}.service"),
                format!("duplicate service `{}`", h.service),
            ));
        }
        if !(100..=86_400_000).contains(&h.max_age_ms) {
            return Err(ConfigError::new(
                format!("{p}.max_age_ms"),
                format!("must be between 100 and 86400000 (got {})", h.max_age_ms),
            ));
        }
    }
    let env = &c.admin.token_env;
    if !env.is_empty()
        && !env
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ConfigError::new(
            "admin.token_env",
            format!("`{env}` is not an environment variable name ([A-Z0-9_])"),
        ));
    }
    super::journal::validate(&c.journal)
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, DEMO_TOML};

    fn err(from: &str, to: &str) -> (String, String) {
        assert!(DEMO_TOML.contains(from), "demo lacks {from}");
        let e = Config::from_toml(&DEMO_TOML.replacen(from, to, 1)).unwrap_err();
        (e.path, e.reason)
    }

    #[test]
    fn risk_journal_and_admin_keys_are_checked_with_their_path() {
        let c = Config::demo();
        assert!(c.journal.enabled && c.risk.heartbeats.is_empty());
        assert_eq!(c.admin.token_env, "QT_ADMIN_TOKEN");
        let cases = [
            (
                "max_open_orders = 4",
                "max_open_orders = 0",
                "risk.max_open_orders",
            ),
            (
                "price_band_bps = 50.0",
                "price_band_bps = -1.0",
                "risk.price_band_bps",
            ),
            (
                "daily_cap_warn_ratio = 0.8",
                "daily_cap_warn_ratio = 1.5",
                "risk.daily_cap_warn_ratio",
            ),
            (
                "cooldown_secs = 0",
                "cooldown_secs = 0\nauto = 1",
                "risk.breaker.auto",
            ),
            ("batch_ms = 50", "batch_ms = 0", "journal.batch_ms"),
            (
                "fsync = \"batch\"",
                "fsync = \"sometimes\"",
                "journal.fsync",
            ),
            (
                "record_holds = false",
                "record_hold = false",
                "journal.record_hold",
            ),
            (
                "token_env = \"QT_ADMIN_TOKEN\"",
                "token_env = \"not a var\"",
                "admin.token_env",
            ),
            (
                "cooldown_secs = 0\n",
                "cooldown_secs = 0\n\n[[risk.heartbeats]]\nservice = \"Bad Name\"\npolicy = \"required\"\n",
                "risk.heartbeats[0].service",
            ),
            (
                "cooldown_secs = 0\n",
                "cooldown_secs = 0\n\n[[risk.heartbeats]]\nservice = \"rl\"\npolicy = \"sometimes\"\n",
                "risk.heartbeats[0].policy",
            ),
            (
                "max_gross_exposure = 2000.0",
                "max_gross_exposure = 2000.0\nmax_position_notional_by_symbol = { DOGEUSDT = 5.0 }",
                "risk.max_position_notional_by_symbol.DOGEUSDT",
            ),
        ];
        for (from, to, path) in cases {
            let (p, reason) = err(from, to);
            assert_eq!(p, path, "{to}: {reason}");
        }
        let ok = Config::from_toml(&DEMO_TOML.replacen(
            "cooldown_secs = 0\n",
            "cooldown_secs = 0\n\n[[risk.heartbeats]]\nservice = \"rl_trainer\"\npolicy = \"advisory\"\n",
            1,
        ))
        .unwrap();
        assert_eq!(ok.risk.heartbeats[0].max_age_ms, 15_000);
    }
}
