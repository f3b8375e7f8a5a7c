//! Validation of the `[venues.<name>]` sections (each venue's adapter checks
//! its own, with key paths) and of instrument contract values.

use super::{Config, ConfigError};
use crate::core::fixed::{decimals_of, parse_decimal};

pub(super) fn validate(c: &Config) -> Result<(), ConfigError> {
    for a in crate::venue::registry::ADAPTERS {
        a.validate(c)?;
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
