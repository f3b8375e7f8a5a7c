//! Range and consistency checks that serde cannot express. Each failure names
//! the key path (`risk.max_orders_per_sec`) and says why.

use super::{Config, ConfigError};
use crate::core::{fixed::decimals_of, fixed::parse_decimal};

fn range<T: PartialOrd + std::fmt::Display>(
    path: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<(), ConfigError> {
    // Written so that NaN (no order at all) is refused too.
    if !(lo <= v && v <= hi) {
        return Err(ConfigError::new(
            path,
            format!("must be between {lo} and {hi} (got {v})"),
        ));
    }
    Ok(())
}

fn positive_f64(path: &str, v: f64) -> Result<(), ConfigError> {
    if !v.is_finite() || v <= 0.0 {
        return Err(ConfigError::new(
            path,
            format!("must be a positive number (got {v})"),
        ));
    }
    Ok(())
}

/// Validates a parsed config.
pub fn validate(c: &Config) -> Result<(), ConfigError> {
    if c.ops.listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(ConfigError::new(
            "ops.listen",
            format!("`{}` is not an ip:port address", c.ops.listen),
        ));
    }
    range(
        "ops.status_interval_secs",
        c.ops.status_interval_secs,
        0,
        3600,
    )?;
    range(
        "ops.ready_max_book_age_ms",
        c.ops.ready_max_book_age_ms,
        100,
        3_600_000,
    )?;
    range("ops.stall_timeout_ms", c.ops.stall_timeout_ms, 100, 600_000)?;
    range("ops.max_connections", c.ops.max_connections, 1, 65_536)?;
    range(
        "ops.header_read_timeout_ms",
        c.ops.header_read_timeout_ms,
        100,
        600_000,
    )?;
    if !["text", "json"].contains(&c.log.format.as_str()) {
        return Err(ConfigError::new(
            "log.format",
            format!("must be `text` or `json` (got `{}`)", c.log.format),
        ));
    }
    if c.sim.enabled {
        if c.sim.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::new(
                "sim.listen",
                format!("`{}` is not an ip:port address", c.sim.listen),
            ));
        }
        range("sim.rate_per_symbol", c.sim.rate_per_symbol, 1, 1_000_000)?;
        range("sim.levels", c.sim.levels, 5, 5_000)?;
        range("sim.ping_interval_secs", c.sim.ping_interval_secs, 1, 3600)?;
        for (k, v) in &c.sim.start_prices {
            positive_f64(&format!("sim.start_prices.{k}"), *v)?;
        }
    }
    super::venues::validate(c)?;
    // Every streamed symbol needs its instrument facts.
    for (i, ic) in c.instruments.iter().enumerate() {
        let p = format!("instruments[{i}]");
        for (key, s) in [("tick_size", &ic.tick_size), ("lot_size", &ic.lot_size)] {
            let d = decimals_of(s);
            match parse_decimal(s.as_bytes(), d) {
                Ok(v) if v > 0 && d <= 12 => {}
                _ => {
                    return Err(ConfigError::new(
                        format!("{p}.{key}"),
                        format!("`{s}` is not a positive decimal"),
                    ));
                }
            }
        }
        let qd = decimals_of(&ic.lot_size);
        for (key, s) in [
            ("order_qty", &ic.order_qty),
            ("max_position", &ic.max_position),
        ] {
            match parse_decimal(s.as_bytes(), qd) {
                Ok(v) if v > 0 => {}
                Ok(_) => return Err(ConfigError::new(format!("{p}.{key}"), "must be positive")),
                Err(e) => {
                    return Err(ConfigError::new(
                        format!("{p}.{key}"),
                        format!("`{s}`: {e} (lot size {})", ic.lot_size),
                    ));
                }
            }
        }
        if !ic.min_notional.is_finite() || ic.min_notional < 0.0 {
            return Err(ConfigError::new(
                format!("{p}.min_notional"),
                "must be zero or positive",
            ));
        }
        for (j, other) in c.instruments[..i].iter().enumerate() {
            if other.venue == ic.venue && other.symbol == ic.symbol {
                return Err(ConfigError::new(
                    format!("{p}.symbol"),
                    format!("duplicate of instruments[{j}]"),
                ));
            }
        }
    }
    for (v, vc) in c.venues.enabled_sections() {
        for (i, s) in vc.symbols().iter().enumerate() {
            if !c
                .instruments
                .iter()
                .any(|ic| ic.venue.as_str() == v && &ic.symbol == s)
            {
                return Err(ConfigError::new(
                    format!("venues.{v}.symbols[{i}]"),
                    format!("no [[instruments]] entry for {v} `{s}`"),
                ));
            }
        }
    }
    range(
        "pipeline.queue_capacity",
        c.pipeline.queue_capacity,
        64,
        1 << 22,
    )?;
    let p = &c.pipeline;
    for (name, s) in [
        ("feed", &p.feed),
        ("book", &p.book),
        ("score", &p.score),
        ("risk", &p.risk),
        ("exec", &p.exec),
    ] {
        range(&format!("pipeline.{name}.spin_us"), s.spin_us, 0, 100_000)?;
    }
    if c.model.path.is_empty() {
        return Err(ConfigError::new("model.path", "must name the model file"));
    }
    range(
        "model.shadow_decisions",
        c.model.shadow_decisions,
        0,
        100_000_000,
    )?;
    if !(0.0..=1.0).contains(&c.model.shadow_min_agreement) {
        return Err(ConfigError::new(
            "model.shadow_min_agreement",
            format!(
                "must be between 0 and 1 (got {})",
                c.model.shadow_min_agreement
            ),
        ));
    }
    range(
        "model.decision_cooldown_ms",
        c.model.decision_cooldown_ms,
        0,
        3_600_000,
    )?;
    range(
        "model.trade_flow_window_ms",
        c.model.trade_flow_window_ms,
        10,
        3_600_000,
    )?;
    range(
        "model.return_horizon_ms",
        c.model.return_horizon_ms,
        10,
        3_600_000,
    )?;
    positive_f64("risk.max_order_notional", c.risk.max_order_notional)?;
    range(
        "risk.max_orders_per_sec",
        c.risk.max_orders_per_sec,
        1,
        10_000,
    )?;
    range(
        "risk.daily_trade_cap",
        c.risk.daily_trade_cap,
        1,
        10_000_000,
    )?;
    range(
        "risk.max_book_age_ms",
        c.risk.max_book_age_ms,
        10,
        3_600_000,
    )?;
    range("exec.taker_fee_bps", c.exec.taker_fee_bps, 0.0, 100.0)?;
    range(
        "exec.max_slippage_bps",
        c.exec.max_slippage_bps,
        0.0,
        1000.0,
    )?;
    super::risk::validate(c)?;
    super::trading::validate(&c.trading, c.mode)?;
    super::redis::validate(&c.redis)?;
    super::capture::validate(&c.record, &c.backtest)?;
    Ok(())
}
