//! Venue symbol -> instrument lookup for the Bybit and OKX parsers, with the
//! scales that turn wire decimals into the engine's fixed-point units. Sizes
//! sent in contracts (OKX SWAP) are converted to base-asset quantities here:
//! `base = size x ctVal`, exactly, in integers.

use crate::core::fixed::{decimals_of, parse_decimal};
use crate::core::{InstrumentId, InstrumentTable, Venue};
use std::collections::HashMap;

/// Quote assets recognised at the end of a linear contract's symbol,
/// longest first (`BTCUSDT`, `BTCUSDC`; a delivery suffix such as
/// `_250328` is ignored).
const QUOTE_SUFFIXES: [&str; 5] = ["FDUSD", "USDT", "USDC", "BUSD", "USD"];

/// The quote asset a concatenated linear symbol ends with (`BTCUSDT` →
/// `USDT`), `None` when it ends with none of [`QUOTE_SUFFIXES`].
pub fn quote_suffix(symbol: &str) -> Option<String> {
    let base = symbol
        .split('_')
        .next()
        .unwrap_or(symbol)
        .to_ascii_uppercase();
    QUOTE_SUFFIXES
        .iter()
        .find(|q| base.len() > q.len() && base.ends_with(*q))
        .map(|q| q.to_string())
}

/// Scales of one instrument as seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireInfo {
    pub id: InstrumentId,
    pub price_scale: u8,
    /// Decimals a wire size is parsed at (base scale minus ctVal's decimals).
    pub size_scale: u8,
    /// Integer multiplier from a wire size (at `size_scale`) to the base
    /// quantity at the instrument's `qty_scale` (ctVal scaled; 1 for sizes
    /// already in the base asset).
    pub size_mult: i64,
}

impl WireInfo {
    /// A wire size string to a base-asset quantity at the instrument's scale
    /// (`None` for a malformed, overflowing or negative size).
    #[inline]
    pub fn qty(&self, s: &[u8]) -> Option<i64> {
        parse_decimal(s, self.size_scale)
            .ok()
            .filter(|v| *v >= 0)?
            .checked_mul(self.size_mult)
    }

    /// A wire price string at the instrument's scale (`None` for a
    /// malformed, overflowing or negative price).
    #[inline]
    pub fn px(&self, s: &[u8]) -> Option<i64> {
        parse_decimal(s, self.price_scale).ok().filter(|v| *v >= 0)
    }
}

/// Splits a contract value such as `"0.01"` into (scaled integer, decimals).
pub fn contract_value_parts(ct_val: &str) -> Option<(i64, u8)> {
    let d = decimals_of(ct_val);
    let v = parse_decimal(ct_val.as_bytes(), d).ok()?;
    (v > 0).then_some((v, d))
}

/// Wire symbol -> [`WireInfo`] for one venue.
#[derive(Debug, Clone, Default)]
pub struct WireSymbols {
    map: HashMap<String, WireInfo>,
}

impl WireSymbols {
    /// Every instrument of `venue` in the table; `ct_vals` gives the contract
    /// value (as the venue writes it) of instruments quoted in contracts.
    pub fn new(table: &InstrumentTable, venue: Venue, ct_vals: &HashMap<String, String>) -> Self {
        let mut map = HashMap::new();
        for i in table.of_venue(venue) {
            let (mult, dec) = ct_vals
                .get(&i.symbol)
                .and_then(|c| contract_value_parts(c))
                .unwrap_or((1, 0));
            map.insert(
                i.symbol.clone(),
                WireInfo {
                    id: i.id,
                    price_scale: i.price_scale,
                    size_scale: i.qty_scale.saturating_sub(dec),
                    size_mult: mult,
                },
            );
        }
        WireSymbols { map }
    }

    /// A map from explicit entries (tests, benches).
    pub fn from_entries(entries: impl IntoIterator<Item = (String, WireInfo)>) -> Self {
        WireSymbols {
            map: entries.into_iter().collect(),
        }
    }

    #[inline]
    pub fn get(&self, symbol: &str) -> Option<WireInfo> {
        self.map.get(symbol).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_assets_from_symbols() {
        assert_eq!(quote_suffix("BTCUSDT").as_deref(), Some("USDT"));
        assert_eq!(quote_suffix("ETHUSDC").as_deref(), Some("USDC"));
        assert_eq!(quote_suffix("BTCUSDT_250328").as_deref(), Some("USDT"));
        assert_eq!(quote_suffix("BTCFDUSD").as_deref(), Some("FDUSD"));
        assert_eq!(quote_suffix("USDT"), None);
        assert_eq!(quote_suffix("BTCETH"), None);
        assert_eq!(
            crate::venue::quote_asset(Venue::Okx, "BTC-USDT-SWAP").as_deref(),
            Some("USDT")
        );
        assert_eq!(
            crate::venue::quote_asset(Venue::Binance, "ETHUSDT").as_deref(),
            Some("USDT")
        );
        assert_eq!(
            crate::venue::quote_asset(Venue::Bybit, "BTCPERP").as_deref(),
            Some("USDC")
        );
    }

    #[test]
    fn contracts_become_base_quantity() {
        // BTC-USDT-SWAP: lot 0.01 contracts, ctVal 0.01 BTC -> base scale 4.
        let (m, d) = contract_value_parts("0.01").unwrap();
        let w = WireInfo {
            id: InstrumentId(0),
            price_scale: 1,
            size_scale: 4 - d,
            size_mult: m,
        };
        assert_eq!(w.qty(b"5.5"), Some(550)); // 0.0550 BTC
        assert_eq!(w.qty(b"1"), Some(100));
        assert_eq!(contract_value_parts("100"), Some((100, 0)));
        assert_eq!(contract_value_parts("0"), None);
    }
}
