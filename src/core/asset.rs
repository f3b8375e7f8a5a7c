//! The asset a fill's commission was charged in ([`FeeAsset`]): the
//! instrument's quote asset (every paper fee, and a venue fee charged in the
//! quote) or another asset named by its venue code (`BNB` with Binance's fee
//! discount). `Copy` and allocation-free, so it rides the hot-path reports.
//! Which asset is an instrument's quote is venue knowledge (`venue::quote_asset`).

use std::fmt;

/// Longest asset code kept (bytes).
pub const MAX_ASSET_LEN: usize = 15;

/// An asset code that cannot be a [`FeeAsset`]: empty, longer than
/// [`MAX_ASSET_LEN`], or not ASCII letters and digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAsset(pub String);

impl fmt::Display for BadAsset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().take(24).collect();
        write!(
            f,
            "asset code `{shown}`: expected 1 to {MAX_ASSET_LEN} ASCII letters or digits"
        )
    }
}

impl std::error::Error for BadAsset {}

/// See the module doc. The quote is the empty code; another asset is its
/// upper-case code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FeeAsset {
    len: u8,
    code: [u8; MAX_ASSET_LEN],
}

impl FeeAsset {
    /// The instrument's quote asset.
    pub const QUOTE: FeeAsset = FeeAsset {
        len: 0,
        code: [0; MAX_ASSET_LEN],
    };

    /// Where a commission in an unreadable asset is counted (never the
    /// quote).
    pub const UNKNOWN: FeeAsset = FeeAsset {
        len: 7,
        code: *b"UNKNOWN\0\0\0\0\0\0\0\0",
    };

    /// Another asset, by its code (upper-cased).
    pub fn other(code: &str) -> Result<FeeAsset, BadAsset> {
        let b = code.as_bytes();
        if b.is_empty() || b.len() > MAX_ASSET_LEN || !b.iter().all(u8::is_ascii_alphanumeric) {
            return Err(BadAsset(code.to_string()));
        }
        let mut out = FeeAsset::QUOTE;
        out.len = b.len() as u8;
        for (d, s) in out.code.iter_mut().zip(b) {
            *d = s.to_ascii_uppercase();
        }
        Ok(out)
    }

    /// The fee asset of a commission charged in `asset` on an instrument
    /// whose quote asset is `quote` (`None`: not known, so nothing is taken
    /// for the quote).
    pub fn of(asset: &str, quote: Option<&str>) -> Result<FeeAsset, BadAsset> {
        match quote {
            Some(q) if asset.eq_ignore_ascii_case(q) => Ok(FeeAsset::QUOTE),
            _ => FeeAsset::other(asset),
        }
    }

    /// True for the instrument's quote asset.
    pub fn is_quote(&self) -> bool {
        self.len == 0
    }

    /// The code (`""` for the quote).
    pub fn as_str(&self) -> &str {
        // Built only from ASCII alphanumerics.
        std::str::from_utf8(&self.code[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for FeeAsset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_quote() {
            f.write_str("FeeAsset(quote)")
        } else {
            write!(f, "FeeAsset({})", self.as_str())
        }
    }
}

impl fmt::Display for FeeAsset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_quote() {
            "quote"
        } else {
            self.as_str()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_and_other_assets() {
        assert!(FeeAsset::QUOTE.is_quote());
        assert_eq!(FeeAsset::UNKNOWN, FeeAsset::other("UNKNOWN").unwrap());
        assert_eq!(FeeAsset::default(), FeeAsset::QUOTE);
        let bnb = FeeAsset::other("bnb").unwrap();
        assert!(!bnb.is_quote());
        assert_eq!(bnb.as_str(), "BNB");
        assert_eq!(FeeAsset::of("USDT", Some("USDT")).unwrap(), FeeAsset::QUOTE);
        assert_eq!(FeeAsset::of("BNB", Some("USDT")).unwrap(), bnb);
        // Unknown quote: nothing is taken for it.
        assert_eq!(FeeAsset::of("USDT", None).unwrap().as_str(), "USDT");
        for bad in ["", "B N B", "ABCDEFGHIJKLMNOP", "BNB\"", "ÄBC"] {
            assert!(FeeAsset::other(bad).is_err(), "{bad}");
        }
        assert_eq!(
            FeeAsset::other("ABCDEFGHIJKLMNO").unwrap().as_str().len(),
            15
        );
    }
}
