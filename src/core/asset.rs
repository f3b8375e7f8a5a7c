//! [`AssetCode`]: an asset's name (`USDT`, `BNB`) kept inline and `Copy`,
//! so that reports on the hot path can say which asset an amount is in
//! without an allocation.

use std::fmt;

/// Longest asset name kept.
pub const MAX_ASSET_LEN: usize = 12;

/// An asset name of 1 to [`MAX_ASSET_LEN`] ASCII letters and digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetCode {
    buf: [u8; MAX_ASSET_LEN],
    len: u8,
}

impl AssetCode {
    /// `None` for an empty, too long or non-alphanumeric name.
    pub fn new(s: &str) -> Option<AssetCode> {
        if s.is_empty() || s.len() > MAX_ASSET_LEN || !s.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        let mut buf = [0u8; MAX_ASSET_LEN];
        buf[..s.len()].copy_from_slice(s.as_bytes());
        Some(AssetCode {
            buf,
            len: s.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are ever stored.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Display for AssetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AssetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AssetCode({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_refused() {
        let a = AssetCode::new("BNB").unwrap();
        assert_eq!(a.as_str(), "BNB");
        assert_eq!(a, AssetCode::new("BNB").unwrap());
        assert_ne!(a, AssetCode::new("USDT").unwrap());
        assert_eq!(AssetCode::new("ABCDEFGHIJKL").unwrap().as_str().len(), 12);
        for bad in ["", "ABCDEFGHIJKLM", "US DT", "B-NB", "бнб"] {
            assert_eq!(AssetCode::new(bad), None, "{bad}");
        }
    }
}
