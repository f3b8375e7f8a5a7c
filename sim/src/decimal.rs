//! The simulator's own fixed-point decimals: the venues write prices and
//! sizes as decimal strings, the simulator keeps them as `i64` scaled by the
//! number of decimals of the symbol's tick (prices) or lot (quantities).
//! Written here, not borrowed from the engine, so that the simulator is an
//! independent judge of what the engine parses.

use std::fmt;

/// Why a decimal string could not be turned into a scaled integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    Empty,
    InvalidChar,
    /// A non-zero digit beyond the scale (never silently rounded).
    TooPrecise,
    Overflow,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecimalError::Empty => "empty number",
            DecimalError::InvalidChar => "invalid character in number",
            DecimalError::TooPrecise => "more decimals than the symbol's scale",
            DecimalError::Overflow => "number out of range",
        })
    }
}

impl std::error::Error for DecimalError {}

/// 10^scale (scale <= 18).
pub fn pow10(scale: u8) -> i64 {
    10i64.pow(u32::from(scale))
}

/// Parses an ASCII decimal (`61800.20`, `-0.5`, `10`) into an integer scaled
/// by `10^scale`. Trailing zeros beyond the scale are accepted.
pub fn parse_decimal(s: &[u8], scale: u8) -> Result<i64, DecimalError> {
    let (neg, digits) = match s.first() {
        None => return Err(DecimalError::Empty),
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        Some(_) => (false, s),
    };
    let mut int: i64 = 0;
    let mut frac: u8 = 0;
    let mut dot = false;
    let mut any = false;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                any = true;
                let d = i64::from(c - b'0');
                if dot {
                    if frac >= scale {
                        if d != 0 {
                            return Err(DecimalError::TooPrecise);
                        }
                        continue;
                    }
                    frac += 1;
                }
                int = int
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(d))
                    .ok_or(DecimalError::Overflow)?;
            }
            b'.' if !dot => dot = true,
            _ => return Err(DecimalError::InvalidChar),
        }
    }
    if !any {
        return Err(DecimalError::Empty);
    }
    let v = int
        .checked_mul(pow10(scale - frac))
        .ok_or(DecimalError::Overflow)?;
    Ok(if neg { -v } else { v })
}

/// Number of decimals written in a decimal string (`"0.10"` -> 2).
pub fn decimals_of(s: &str) -> u8 {
    s.find('.').map_or(0, |i| (s.len() - i - 1) as u8)
}

/// A scaled integer as a decimal string with exactly `scale` decimals
/// (`6180020, 2` -> `"61800.20"`).
pub fn format_decimal(v: i64, scale: u8) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    if scale == 0 {
        return format!("{sign}{a}");
    }
    let p = pow10(scale) as u64;
    format!("{sign}{}.{:0w$}", a / p, a % p, w = scale as usize)
}

/// Milliseconds since the Unix epoch (the venues' timestamps).
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        assert_eq!(parse_decimal(b"61800.20", 2), Ok(6_180_020));
        assert_eq!(parse_decimal(b"-0.5", 3), Ok(-500));
        assert_eq!(parse_decimal(b"10", 0), Ok(10));
        assert_eq!(parse_decimal(b"1.230", 2), Ok(123));
        assert_eq!(parse_decimal(b"1.234", 2), Err(DecimalError::TooPrecise));
        assert_eq!(parse_decimal(b"", 2), Err(DecimalError::Empty));
        assert_eq!(parse_decimal(b"-", 2), Err(DecimalError::Empty));
        assert_eq!(parse_decimal(b"1e5", 2), Err(DecimalError::InvalidChar));
        assert_eq!(
            parse_decimal(b"99999999999999999999", 0),
            Err(DecimalError::Overflow)
        );
        assert_eq!(format_decimal(6_180_020, 2), "61800.20");
        assert_eq!(format_decimal(-5, 3), "-0.005");
        assert_eq!(format_decimal(7, 0), "7");
        assert_eq!(decimals_of("0.10"), 2);
        assert_eq!(decimals_of("5"), 0);
    }
}
