//! The `[trading]` section: what holds around venue order entry in testnet
//! and live (client order id prefix, cancel/flatten on stop, the policy for
//! orders found at the venue that the journal does not know, periodic
//! reconciliation, the dead man's switch), with its defaults and range
//! checks. Every error names its key path.

use super::{ConfigError, TradingMode};
use serde::{Deserialize, Serialize};

/// What startup (and periodic) reconciliation does with an open order the
/// venue has and the journal does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AdoptPolicy {
    /// Track it like an order of ours (its fills count, it is canceled on stop).
    #[default]
    Adopt,
    /// Cancel it at the venue (by its venue order id), then forget it.
    Cancel,
}

impl AdoptPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            AdoptPolicy::Adopt => "adopt",
            AdoptPolicy::Cancel => "cancel",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingConfig {
    /// First characters of every client order id (1 to 8 ASCII
    /// alphanumerics): engines sharing one account use different prefixes.
    pub client_id_prefix: String,
    /// Cancel open orders at the venue on SIGTERM / Ctrl-C. Unset: on in
    /// testnet and live, off in paper.
    pub cancel_on_stop: Option<bool>,
    /// After canceling, close positions with reduce-only orders.
    pub flatten_on_stop: bool,
    /// The longest time flattening may take before the engine exits anyway.
    pub flatten_timeout_ms: u64,
    /// Orders at the venue the journal lacks: `adopt` or `cancel`.
    pub adopt_unknown_orders: AdoptPolicy,
    /// Seconds between two reconciliations while running (0 = off; refused
    /// in live).
    pub reconcile_interval_secs: u64,
    /// `countdownCancelAll` countdown per traded symbol, in ms (re-armed
    /// every quarter of it); 0 = off (refused in live).
    pub dead_man_switch_ms: u64,
}

impl Default for TradingConfig {
    fn default() -> Self {
        TradingConfig {
            client_id_prefix: "qt".into(),
            cancel_on_stop: None,
            flatten_on_stop: false,
            flatten_timeout_ms: 10_000,
            adopt_unknown_orders: AdoptPolicy::Adopt,
            reconcile_interval_secs: 60,
            dead_man_switch_ms: 60_000,
        }
    }
}

impl TradingConfig {
    /// Whether open orders are canceled on stop in `mode`.
    pub fn cancel_on_stop(&self, mode: TradingMode) -> bool {
        self.cancel_on_stop.unwrap_or(mode != TradingMode::Paper)
    }
}

/// Range checks of `[trading]` (`mode` decides what 0 may mean).
pub fn validate(t: &TradingConfig, mode: TradingMode) -> Result<(), ConfigError> {
    let p = &t.client_id_prefix;
    if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ConfigError::new(
            "trading.client_id_prefix",
            format!("`{p}` must be 1 to 8 ASCII letters or digits"),
        ));
    }
    if !(100..=600_000).contains(&t.flatten_timeout_ms) {
        return Err(ConfigError::new(
            "trading.flatten_timeout_ms",
            format!(
                "must be between 100 and 600000 (got {})",
                t.flatten_timeout_ms
            ),
        ));
    }
    if t.reconcile_interval_secs > 86_400 {
        return Err(ConfigError::new(
            "trading.reconcile_interval_secs",
            format!("must be at most 86400 (got {})", t.reconcile_interval_secs),
        ));
    }
    if t.reconcile_interval_secs == 0 && mode == TradingMode::Live {
        return Err(ConfigError::new(
            "trading.reconcile_interval_secs",
            "0 (off) is refused in live mode",
        ));
    }
    // Short countdowns are for rehearsals against the simulator; a day is
    // the longest that still protects anything.
    if t.dead_man_switch_ms != 0 && !(3_000..=86_400_000).contains(&t.dead_man_switch_ms) {
        return Err(ConfigError::new(
            "trading.dead_man_switch_ms",
            format!(
                "must be 0 (off) or between 3000 and 86400000 (got {})",
                t.dead_man_switch_ms
            ),
        ));
    }
    if t.dead_man_switch_ms == 0 && mode == TradingMode::Live {
        return Err(ConfigError::new(
            "trading.dead_man_switch_ms",
            "0 (off) is refused in live mode",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{AdoptPolicy, Config, DEMO_TOML, TradingMode};

    /// The demo config with `lines` added at the top of its `[trading]`.
    fn with(lines: &str) -> Result<Config, crate::config::ConfigError> {
        Config::from_toml(&live_or(lines, false))
    }

    fn live_or(lines: &str, live: bool) -> String {
        assert!(DEMO_TOML.contains("[trading]\n"));
        let body = lines.trim_start_matches("[trading]\n");
        // A key given twice is a TOML error: drop the demo's own line.
        let key = body.split(" = ").next().unwrap_or_default().trim();
        let demo: String = DEMO_TOML
            .lines()
            .filter(|l| key.is_empty() || !l.starts_with(&format!("{key} = ")))
            .map(|l| format!("{l}\n"))
            .collect();
        let demo = demo.replacen("[trading]\n", &format!("[trading]\n{body}"), 1);
        if live {
            demo.replacen("mode = \"paper\"", "mode = \"live\"", 1)
        } else {
            demo
        }
    }

    #[test]
    fn defaults_and_mode_dependent_cancel_on_stop() {
        let c = Config::demo();
        let t = &c.trading;
        assert_eq!(t.client_id_prefix, "qt");
        assert!(!t.cancel_on_stop(TradingMode::Paper));
        assert!(t.cancel_on_stop(TradingMode::Testnet) && t.cancel_on_stop(TradingMode::Live));
        assert_eq!(t.adopt_unknown_orders, AdoptPolicy::Adopt);
        let c = with("cancel_on_stop = false\n").unwrap();
        assert!(!c.trading.cancel_on_stop(TradingMode::Live));
        let c = with("adopt_unknown_orders = \"cancel\"\n").unwrap();
        assert_eq!(c.trading.adopt_unknown_orders, AdoptPolicy::Cancel);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("client_id_prefix = \"\"", "trading.client_id_prefix"),
            (
                "client_id_prefix = \"abcdefghi\"",
                "trading.client_id_prefix",
            ),
            ("client_id_prefix = \"q-t\"", "trading.client_id_prefix"),
            ("flatten_timeout_ms = 0", "trading.flatten_timeout_ms"),
            (
                "adopt_unknown_orders = \"ignore\"",
                "trading.adopt_unknown_orders",
            ),
            (
                "reconcile_interval_secs = 100000",
                "trading.reconcile_interval_secs",
            ),
            ("dead_man_switch_ms = 5", "trading.dead_man_switch_ms"),
            ("cancel_on_stp = true", "trading.cancel_on_stp"),
        ];
        for (line, path) in cases {
            let e = with(&format!("[trading]\n{line}\n")).unwrap_err();
            assert_eq!(e.path, path, "{line}: {e}");
        }
        // 0 = off: fine in paper, refused in live.
        for line in ["reconcile_interval_secs = 0", "dead_man_switch_ms = 0"] {
            assert!(with(&format!("[trading]\n{line}\n")).is_ok(), "{line}");
            let live = live_or(&format!("{line}\n"), true);
            let e = Config::from_toml(&live).unwrap_err();
            assert!(e.path.starts_with("trading."), "{line}: {e}");
            assert!(e.reason.contains("live"), "{e}");
        }
    }
}
