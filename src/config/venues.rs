//! Validation of the venue feed keys (`book_depth`, `stale_after_ms` for
//! every venue, `ping_interval_ms`) and of instrument contract values.

use super::{Config, ConfigError};
use crate::core::Venue;
use crate::core::fixed::{decimals_of, parse_decimal};

pub(super) fn validate(c: &Config) -> Result<(), ConfigError> {
    for (v, vc) in c.venues.enabled() {
        let p = format!("venues.{}", v.as_str());
        let ok = match v {
            Venue::Bybit => matches!(vc.book_depth, 0 | 1 | 50 | 200 | 1000),
            Venue::Okx => matches!(vc.book_depth, 0 | 5 | 400),
            Venue::Binance => true,
        };
        if !ok {
            let allowed = if v == Venue::Bybit {
                "1, 50, 200 or 1000"
            } else {
                "5 (books5) or 400 (books)"
            };
            return Err(ConfigError::new(
                format!("{p}.book_depth"),
                format!("{} is not a {} book depth: use {allowed}", vc.book_depth, v),
            ));
        }
        if vc.stale_after_ms != 0 && !(100..=3_600_000).contains(&vc.stale_after_ms) {
            return Err(ConfigError::new(
                format!("{p}.stale_after_ms"),
                "must be 0 (off) or between 100 and 3600000",
            ));
        }
        let max_ping = if v == Venue::Okx { 29_000 } else { 600_000 };
        if vc.ping_interval_ms != 0 && !(100..=max_ping).contains(&vc.ping_interval_ms) {
            return Err(ConfigError::new(
                format!("{p}.ping_interval_ms"),
                format!("must be 0 (venue default) or between 100 and {max_ping}"),
            ));
        }
    }
    for (i, ic) in c.instruments.iter().enumerate() {
        if ic.contract_value.is_empty() {
            continue;
        }
        let p = format!("instruments[{i}].contract_value");
        let d = decimals_of(&ic.contract_value);
        match parse_decimal(ic.contract_value.as_bytes(), d) {
            Ok(v) if v > 0 => {}
            _ => {
                return Err(ConfigError::new(
                    p,
                    format!("`{}` is not a positive decimal", ic.contract_value),
                ));
            }
        }
        // A lot size that is no decimal is reported as itself (its own
        // check comes later), not as a contract value with "more decimals".
        let ld = decimals_of(&ic.lot_size);
        if !matches!(parse_decimal(ic.lot_size.as_bytes(), ld), Ok(v) if v > 0) {
            return Err(ConfigError::new(
                format!("instruments[{i}].lot_size"),
                format!("`{}` is not a positive decimal", ic.lot_size),
            ));
        }
        if d > ld {
            return Err(ConfigError::new(
                p,
                format!(
                    "`{}` has more decimals than lot_size `{}` (lot_size is the base-asset lot: lotSz x ctVal)",
                    ic.contract_value, ic.lot_size
                ),
            ));
        }
    }
    Ok(())
}
