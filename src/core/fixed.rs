//! Fixed-point decimals: prices and quantities are `i64` integers scaled by a
//! per-instrument number of decimals. Parsing goes straight from the wire's
//! ASCII bytes to the integer, with no float and no allocation. Amounts of
//! quote currency (PnL, fees, notional, money limits) are [`Money`]: exact
//! decimals with 8 places.

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

/// Decimals of [`Money`]: amounts in quote currency are exact to 1e-8.
pub const MONEY_SCALE: u8 = 8;

/// An amount of quote currency (PnL, fees, notional, money limits): an
/// exact decimal, an `i64` count of 1e-8 units (±92 billion). Arithmetic
/// saturates; products of a price and a quantity are computed exactly in
/// `i128` and rounded once (half to even) to 8 decimals. Shown and stored
/// as its exact decimal string (`"3.40834195"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i64);

/// `v / 10^div` rounded half to even, saturated to `i64`.
fn div_pow10_half_even(v: i128, div: u32) -> i64 {
    if div == 0 {
        return v.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    }
    let p = 10i128.pow(div.min(38));
    let (q, r) = (v.div_euclid(p), v.rem_euclid(p));
    let twice = r * 2;
    let q = if twice > p || (twice == p && q % 2 != 0) {
        q + 1
    } else {
        q
    };
    q.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

impl Money {
    pub const ZERO: Money = Money(0);
    pub const MAX: Money = Money(i64::MAX);

    /// `px × qty` for a price and a quantity at their scales, exact to 1e-8.
    pub fn notional(px: i64, qty: i64, price_scale: u8, qty_scale: u8) -> Money {
        let raw = px as i128 * qty as i128;
        let scale = price_scale as i32 + qty_scale as i32;
        if scale >= MONEY_SCALE as i32 {
            Money(div_pow10_half_even(
                raw,
                (scale - MONEY_SCALE as i32) as u32,
            ))
        } else {
            let up = raw * 10i128.pow((MONEY_SCALE as i32 - scale) as u32);
            Money(up.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
        }
    }

    /// This amount × `bps` basis points (a fee rate from the config, taken
    /// to 1e-4 bps), rounded half to even to 1e-8.
    pub fn mul_bps(self, bps: f64) -> Money {
        let r = if bps.is_finite() {
            (bps * 1e4).round() as i128
        } else {
            0
        };
        Money(div_pow10_half_even(self.0 as i128 * r, 8))
    }

    /// `self × num / den` rounded half to even (a share of a cost).
    pub fn mul_div(self, num: i64, den: i64) -> Money {
        if den == 0 {
            return Money::ZERO;
        }
        let n = self.0 as i128 * num as i128;
        let d = den as i128;
        let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
        let (q, r) = (n.div_euclid(d), n.rem_euclid(d));
        let twice = r * 2;
        let q = if twice > d || (twice == d && q % 2 != 0) {
            q + 1
        } else {
            q
        };
        Money(q.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    /// A float amount (a config limit, a mark-to-market value) rounded to
    /// 1e-8; non-finite is 0. `0.05` becomes exactly `0.05000000`.
    pub fn from_f64(x: f64) -> Money {
        if !x.is_finite() {
            return Money::ZERO;
        }
        let v = (x * 1e8).round();
        Money(v.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
    }

    /// For metrics, features and JSON numbers (exact in print up to 1e7).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 1e8
    }

    /// Parses an exact decimal (`"-1.25"`), or an old float record's text
    /// (`"0.30000000000000004"`, `"1e-5"`), rounded to 1e-8.
    pub fn parse(s: &str) -> Option<Money> {
        let t = s.trim();
        if let Ok(v) = parse_decimal(t.as_bytes(), MONEY_SCALE) {
            return Some(Money(v));
        }
        let f: f64 = t.parse().ok()?;
        f.is_finite().then(|| Money::from_f64(f))
    }

    pub fn abs(self) -> Money {
        Money(self.0.saturating_abs())
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_decimal(self.0, MONEY_SCALE))
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        Money(self.0.saturating_add(o.0))
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, o: Money) -> Money {
        Money(self.0.saturating_sub(o.0))
    }
}

impl std::ops::Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(self.0.saturating_neg())
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, o: Money) {
        *self = *self + o;
    }
}

impl std::ops::SubAssign for Money {
    fn sub_assign(&mut self, o: Money) {
        *self = *self - o;
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(it: I) -> Money {
        it.fold(Money::ZERO, |a, b| a + b)
    }
}

/// Stored as the exact decimal string; read from a string or a number.
impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            F(f64),
        }
        match Raw::deserialize(d)? {
            Raw::S(s) => Money::parse(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("not an amount: {s:?}"))),
            Raw::F(f) if f.is_finite() => Ok(Money::from_f64(f)),
            Raw::F(f) => Err(serde::de::Error::custom(format!("not an amount: {f}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact() {
        // 0.1 + 0.2 in floats is 0.30000000000000004; in money it is 0.3.
        let a = Money::parse("0.1").unwrap() + Money::parse("0.2").unwrap();
        assert_eq!(a.to_string(), "0.30000000");
        assert_eq!(a, Money::parse("0.3").unwrap());
        // 60000.10 × 0.002 = 120.0002; 4 bps of it = 0.04800008.
        let n = Money::notional(6_000_010, 2, 2, 3);
        assert_eq!(n.to_string(), "120.00020000");
        assert_eq!(n.mul_bps(4.0).to_string(), "0.04800008");
        // Rounded once, half to even, at 1e-8.
        assert_eq!(Money::notional(5, 1, 9, 0), Money(0)); // 0.000000005 -> 0
        assert_eq!(Money::notional(15, 1, 9, 0), Money(2)); // 0.000000015 -> 0.00000002
        assert_eq!(Money::notional(-15, 1, 9, 0), Money(-2));
        assert_eq!(Money(10).mul_div(1, 3), Money(3));
        assert_eq!(Money(-10).mul_div(2, 3), Money(-7));
        // Old float records and config floats land on the decimal.
        assert_eq!(Money::parse("0.30000000000000004"), Some(a));
        assert_eq!(
            Money::parse("-0.3333333333333333").unwrap().to_string(),
            "-0.33333333"
        );
        assert_eq!(Money::from_f64(0.05).to_string(), "0.05000000");
        assert_eq!(Money::parse("abc"), None);
        assert_eq!(Money::parse("NaN"), None);
        let j = serde_json::to_string(&Money::parse("3.40834195").unwrap()).unwrap();
        assert_eq!(j, "\"3.40834195\"");
        let back: Money = serde_json::from_str(&j).unwrap();
        assert_eq!(back.to_string(), "3.40834195");
        let old: Money = serde_json::from_str("3.4083419480000003").unwrap();
        assert_eq!(old.to_string(), "3.40834195");
        // Prints exactly as a JSON number too.
        assert_eq!(serde_json::json!(back.to_f64()).to_string(), "3.40834195");
        assert_eq!((Money::MAX + Money(1)), Money::MAX, "saturates");
    }

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
