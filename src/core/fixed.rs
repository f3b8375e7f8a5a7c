//! Fixed-point decimals: prices and quantities are `i64` integers scaled by a
//! per-instrument number of decimals. Parsing goes straight from the wire's
//! ASCII bytes to the integer, with no float and no allocation.

use std::fmt;

/// Why a decimal string could not be turned into a scaled integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    Empty,
    InvalidChar,
    /// More significant decimals than the instrument's scale allows.
    TooPrecise,
    Overflow,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DecimalError::Empty => "empty number",
            DecimalError::InvalidChar => "invalid character in number",
            DecimalError::TooPrecise => "more decimals than the instrument's scale",
            DecimalError::Overflow => "number out of range",
        };
        f.write_str(s)
    }
}

impl std::error::Error for DecimalError {}

const POW10: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// 10^scale as i64 (scale <= 18).
#[inline]
pub fn pow10(scale: u8) -> i64 {
    POW10[scale as usize]
}

/// Parses an ASCII decimal such as `61800.20`, `-0.5` or `10` into an integer
/// scaled by `10^scale`. Trailing zeros beyond the scale are accepted; a
/// non-zero digit beyond the scale is an error (never silently rounded).
#[inline]
pub fn parse_decimal(s: &[u8], scale: u8) -> Result<i64, DecimalError> {
    if s.is_empty() {
        return Err(DecimalError::Empty);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(DecimalError::Empty);
    }
    let mut int: i64 = 0;
    let mut frac_digits: u8 = 0;
    let mut seen_dot = false;
    let mut seen_digit = false;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                seen_digit = true;
                let d = (c - b'0') as i64;
                if seen_dot {
                    if frac_digits >= scale {
                        if d != 0 {
                            return Err(DecimalError::TooPrecise);
                        }
                        continue;
                    }
                    frac_digits += 1;
                }
                int = int
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(d))
                    .ok_or(DecimalError::Overflow)?;
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return Err(DecimalError::InvalidChar),
        }
    }
    if !seen_digit {
        return Err(DecimalError::Empty);
    }
    let v = int
        .checked_mul(pow10(scale - frac_digits))
        .ok_or(DecimalError::Overflow)?;
    Ok(if neg { -v } else { v })
}

/// Number of decimals written in a decimal string (`"0.10"` -> 2).
pub fn decimals_of(s: &str) -> u8 {
    match s.find('.') {
        Some(i) => (s.len() - i - 1) as u8,
        None => 0,
    }
}

/// Formats a scaled integer back to a decimal string with exactly `scale`
/// decimals (`6180020, 2` -> `"61800.20"`). Off the hot path (API, logs).
pub fn format_decimal(v: i64, scale: u8) -> String {
    let p = pow10(scale);
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    if scale == 0 {
        return format!("{sign}{a}");
    }
    let p = p as u64;
    format!("{sign}{}.{:0width$}", a / p, a % p, width = scale as usize)
}

/// Converts a scaled integer to f64 (for features, notional and PnL only).
#[inline]
pub fn to_f64(v: i64, scale: u8) -> f64 {
    v as f64 / pow10(scale) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_decimal(b"61800.20", 2), Ok(6_180_020));
        assert_eq!(parse_decimal(b"61800.2", 2), Ok(6_180_020));
        assert_eq!(parse_decimal(b"61800", 2), Ok(6_180_000));
        assert_eq!(parse_decimal(b"0.000", 3), Ok(0));
        assert_eq!(parse_decimal(b"0.0010000", 3), Ok(1));
        assert_eq!(parse_decimal(b"-1.5", 1), Ok(-15));
        assert_eq!(parse_decimal(b"1.55", 1), Err(DecimalError::TooPrecise));
        assert_eq!(parse_decimal(b"1a", 1), Err(DecimalError::InvalidChar));
        assert_eq!(parse_decimal(b"", 1), Err(DecimalError::Empty));
        assert_eq!(parse_decimal(b".", 1), Err(DecimalError::Empty));
        assert_eq!(parse_decimal(b"1.2.3", 2), Err(DecimalError::InvalidChar));
        assert_eq!(
            parse_decimal(b"99999999999999999999", 0),
            Err(DecimalError::Overflow)
        );
        assert_eq!(format_decimal(6_180_020, 2), "61800.20");
        assert_eq!(format_decimal(-15, 1), "-1.5");
        assert_eq!(format_decimal(1, 3), "0.001");
        assert_eq!(format_decimal(7, 0), "7");
        assert_eq!(decimals_of("0.10"), 2);
        assert_eq!(decimals_of("1"), 0);
    }
}
