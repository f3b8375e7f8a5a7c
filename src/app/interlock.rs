//! The live interlock: what must hold before the engine may start in
//! `testnet` or `live`. Each missing condition is its own one-line reason,
//! and the binary exits with status 2 ([`Refusal`]).
//!
//! Static conditions, checked before any socket opens ([`check_static`]):
//! - `--live` (or `QT_LIVE=1`) only with `mode = "live"`, and `mode =
//!   "live"` only with one of them;
//! - every venue with instruments has order entry in this build, and its
//!   API key and secret are set in the environment variables its section
//!   names (`api_key_env`, `api_secret_env`): testnet too;
//! - live only: every risk limit that protects money is set and non-zero.
//!
//! The dynamic conditions (account reachable, clock offset measured,
//! startup reconciliation finished) are checked by the composition root
//! after the venue URLs are known; it reports them through [`Refusal`] too.

use crate::config::{Config, TradingMode};
use crate::core::Venue;
use crate::core::fixed::{decimals_of, parse_decimal};
use std::fmt;

/// The environment variable that arms live mode like `--live` does.
pub const LIVE_ENV: &str = "QT_LIVE";

/// Why the engine refuses to start: one line per missing condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub lines: Vec<String>,
}

impl Refusal {
    pub fn one(line: impl Into<String>) -> Refusal {
        Refusal {
            lines: vec![line.into()],
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.lines.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "refusing to start: {l}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

/// Whether live mode is armed: the `--live` flag or `QT_LIVE=1`.
pub fn armed(flag: bool, env: &dyn Fn(&str) -> Option<String>) -> bool {
    flag || env(LIVE_ENV).is_some_and(|v| v.trim() == "1")
}

/// Venues that have instruments in the config, in venue order.
pub fn traded_venues(cfg: &Config) -> Vec<Venue> {
    Venue::ALL
        .into_iter()
        .filter(|v| cfg.instruments.iter().any(|i| i.venue == *v))
        .collect()
}

fn positive_decimal(s: &str) -> bool {
    matches!(parse_decimal(s.as_bytes(), decimals_of(s)), Ok(v) if v > 0)
}

/// The money-protecting limits that are missing (0 = off) in `cfg`, as
/// `key path: why` lines.
pub fn missing_limits(cfg: &Config) -> Vec<String> {
    let r = &cfg.risk;
    let mut out = Vec::new();
    let mut need = |ok: bool, key: &str, what: &str| {
        if !ok {
            out.push(format!(
                "live needs `{key}` ({what}) set and non-zero (0 = off is refused in live)"
            ));
        }
    };
    need(r.max_daily_loss > 0.0, "risk.max_daily_loss", "daily loss");
    need(r.max_drawdown > 0.0, "risk.max_drawdown", "drawdown");
    need(
        r.max_order_notional > 0.0,
        "risk.max_order_notional",
        "max order notional",
    );
    need(
        r.max_orders_per_sec > 0,
        "risk.max_orders_per_sec",
        "order rate per second",
    );
    need(
        r.max_orders_per_min > 0,
        "risk.max_orders_per_min",
        "order rate per minute",
    );
    need(
        r.daily_trade_cap > 0,
        "risk.daily_trade_cap",
        "orders per day",
    );
    need(
        r.max_gross_exposure > 0.0,
        "risk.max_gross_exposure",
        "gross exposure",
    );
    need(r.price_band_bps > 0.0, "risk.price_band_bps", "price band");
    for (i, ic) in cfg.instruments.iter().enumerate() {
        need(
            positive_decimal(&ic.max_position),
            &format!("instruments[{i}].max_position"),
            &format!("max position of {} {}", ic.venue, ic.symbol),
        );
        let notional = r
            .max_position_notional_by_symbol
            .get(&ic.symbol)
            .copied()
            .unwrap_or(r.max_position_notional);
        need(
            notional > 0.0,
            "risk.max_position_notional",
            &format!("max position notional of {} {}", ic.venue, ic.symbol),
        );
    }
    out
}

/// The static conditions of testnet and live (paper: only the `--live`
/// flag is checked). `has_order_entry` says whether a venue can trade in
/// this build; `env` reads an environment variable.
pub fn check_static(
    cfg: &Config,
    armed: bool,
    has_order_entry: &dyn Fn(Venue) -> bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Refusal> {
    let mut lines = Vec::new();
    match (cfg.mode, armed) {
        (TradingMode::Live, false) => lines.push(format!(
            "mode = \"live\" needs `--live` on the command line (or {LIVE_ENV}=1)"
        )),
        (TradingMode::Paper | TradingMode::Testnet, true) => lines.push(format!(
            "`--live` (or {LIVE_ENV}=1) given but the config's mode is \"{}\", not \"live\"",
            cfg.mode.as_str()
        )),
        _ => {}
    }
    if cfg.mode == TradingMode::Paper {
        return if lines.is_empty() {
            Ok(())
        } else {
            Err(Refusal { lines })
        };
    }
    let venues = traded_venues(cfg);
    if venues.is_empty() {
        lines.push(format!(
            "mode \"{}\" needs at least one [[instruments]] entry to trade",
            cfg.mode.as_str()
        ));
    }
    for v in venues {
        if !has_order_entry(v) {
            lines.push(format!(
                "venue {v} has instruments but no order entry in this build (mode \"{}\")",
                cfg.mode.as_str()
            ));
            continue;
        }
        let Some(sec) = cfg.venues.section(v) else {
            lines.push(format!(
                "venue {v} has instruments but no [venues.{v}] section"
            ));
            continue;
        };
        // Testnet against the built-in simulator (no key variables named):
        // the simulator's own key, as the trading session uses.
        let sim_key = cfg.mode == TradingMode::Testnet
            && cfg.sim.enabled
            && sec.api_key_env.trim().is_empty()
            && sec.api_secret_env.trim().is_empty();
        for (key, name, what) in [
            ("api_key_env", sec.api_key_env, "API key"),
            ("api_secret_env", sec.api_secret_env, "API secret"),
        ] {
            if sim_key {
                continue;
            }
            if name.trim().is_empty() {
                lines.push(format!(
                    "{what} for {v}: `venues.{v}.{key}` names no environment variable"
                ));
            } else if env(name).is_none_or(|val| val.trim().is_empty()) {
                lines.push(format!(
                    "{what} for {v}: environment variable {name} (venues.{v}.{key}) is not set or empty"
                ));
            }
        }
    }
    if cfg.mode == TradingMode::Live {
        lines.extend(missing_limits(cfg));
    }
    if lines.is_empty() {
        Ok(())
    } else {
        Err(Refusal { lines })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn live_cfg() -> Config {
        let mut c = Config::demo();
        c.mode = TradingMode::Live;
        c.instruments.retain(|i| i.venue == Venue::Binance);
        let b = c
            .venues
            .get_mut::<crate::venue::binance::config::BinanceConfig>()
            .unwrap();
        b.api_key_env = "K".into();
        b.api_secret_env = "S".into();
        c
    }

    fn env_with(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn binance_only(v: Venue) -> bool {
        v == Venue::Binance
    }

    #[test]
    fn every_condition_has_its_own_line() {
        let env = env_with(&[("K", "key-1234"), ("S", "secret")]);
        let c = live_cfg();
        assert_eq!(check_static(&c, true, &binance_only, &env), Ok(()));
        // Not armed.
        let e = check_static(&c, false, &binance_only, &env).unwrap_err();
        assert_eq!(e.lines.len(), 1);
        assert!(e.lines[0].contains("--live"), "{e}");
        // Armed through the environment.
        let env2 = env_with(&[("K", "key-1234"), ("S", "secret"), ("QT_LIVE", "1")]);
        assert!(armed(false, &env2) && !armed(false, &env));
        // Armed but the mode is not live.
        let mut p = c.clone();
        p.mode = TradingMode::Paper;
        let e = check_static(&p, true, &binance_only, &env).unwrap_err();
        assert!(e.lines[0].contains("\"paper\""), "{e}");
        assert_eq!(check_static(&p, false, &binance_only, &env), Ok(()));
        // Credentials: each variable on its own.
        let e = check_static(&c, true, &binance_only, &env_with(&[("S", "x")])).unwrap_err();
        assert_eq!(e.lines.len(), 1);
        assert!(e.lines[0].contains("environment variable K"), "{e}");
        let e = check_static(
            &c,
            true,
            &binance_only,
            &env_with(&[("K", "x"), ("S", " ")]),
        )
        .unwrap_err();
        assert!(e.lines[0].contains("environment variable S"), "{e}");
        // A venue without order entry.
        let e = check_static(&c, true, &|_| false, &env).unwrap_err();
        assert!(e.lines[0].contains("no order entry"), "{e}");
        // Each money limit.
        type Set = fn(&mut Config);
        let limits: [(Set, &str); 10] = [
            (|c| c.risk.max_daily_loss = 0.0, "risk.max_daily_loss"),
            (|c| c.risk.max_drawdown = 0.0, "risk.max_drawdown"),
            (
                |c| c.risk.max_order_notional = 0.0,
                "risk.max_order_notional",
            ),
            (|c| c.risk.max_orders_per_sec = 0, "risk.max_orders_per_sec"),
            (|c| c.risk.max_orders_per_min = 0, "risk.max_orders_per_min"),
            (|c| c.risk.daily_trade_cap = 0, "risk.daily_trade_cap"),
            (
                |c| c.risk.max_gross_exposure = 0.0,
                "risk.max_gross_exposure",
            ),
            (|c| c.risk.price_band_bps = 0.0, "risk.price_band_bps"),
            (
                |c| c.instruments[0].max_position = "0".into(),
                "instruments[0].max_position",
            ),
            (
                |c| c.risk.max_position_notional = 0.0,
                "risk.max_position_notional",
            ),
        ];
        for (set, key) in limits {
            let mut c2 = c.clone();
            set(&mut c2);
            let e = check_static(&c2, true, &binance_only, &env).unwrap_err();
            assert!(e.lines[0].contains(key), "{key}: {e}");
            // Testnet does not need the limits.
            c2.mode = TradingMode::Testnet;
            assert_eq!(
                check_static(&c2, false, &binance_only, &env),
                Ok(()),
                "{key}"
            );
        }
        // Testnet still needs credentials, not --live.
        let mut t = c.clone();
        t.mode = TradingMode::Testnet;
        assert!(check_static(&t, false, &binance_only, &env_with(&[])).is_err());
        assert!(check_static(&t, true, &binance_only, &env).is_err());
    }
}
