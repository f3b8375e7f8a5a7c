//! What the simulator is started with: its symbols ([`SimSymbol`], as the
//! venue writes tick and lot), the whole [`SimSpec`], and the scales and
//! grid each symbol gets from them ([`SymInfo`], validated by [`sym_info`]).

use crate::decimal::{decimals_of, format_decimal, parse_decimal};
use anyhow::bail;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One simulated symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSymbol {
    /// Venue symbol as on the wire (`BTCUSDT`).
    pub symbol: String,
    /// Tick size as the venue writes it (`"0.10"`); its decimals set the price scale.
    pub tick_size: String,
    /// Lot size as the venue writes it (`"0.001"`); its decimals set the qty scale.
    pub lot_size: String,
    /// Starting mid price of the random walk.
    pub start_price: f64,
}

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimSpec {
    /// Listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Seed of the random walk: the same seed gives the same market per symbol.
    pub seed: u64,
    /// Market-data messages per second per symbol (depth + bookTicker + aggTrade).
    pub rate_per_symbol: u32,
    /// Price levels per side kept in each book.
    pub levels: u32,
    /// Interval of the WebSocket pings the server sends.
    pub ping_interval: Duration,
    pub symbols: Vec<SimSymbol>,
    /// Replay this recorded file instead of generating (see `replay`).
    pub replay_file: Option<PathBuf>,
}

/// Scales and grid of one simulated symbol (from its tick/lot strings).
#[derive(Debug, Clone)]
pub(crate) struct SymInfo {
    /// Upper-case venue symbol (`BTCUSDT`).
    pub symbol: String,
    /// Lower-case symbol as used in stream names (`btcusdt`).
    pub lower: String,
    /// Tick size as written (`"0.10"`).
    pub tick_size: String,
    /// Lot size as written (`"0.001"`).
    pub lot_size: String,
    pub price_scale: u8,
    pub qty_scale: u8,
    /// Tick in scaled price units.
    pub tick: i64,
    /// Lot in scaled quantity units.
    pub lot: i64,
}

impl SymInfo {
    #[inline]
    pub fn px(&self, v: i64) -> String {
        format_decimal(v, self.price_scale)
    }

    #[inline]
    pub fn qty(&self, v: i64) -> String {
        format_decimal(v, self.qty_scale)
    }
}

/// Validates a symbol and derives its scales and grid.
pub(crate) fn sym_info(s: &SimSymbol) -> anyhow::Result<SymInfo> {
    if s.symbol.is_empty() || !s.symbol.bytes().all(|c| c.is_ascii_alphanumeric()) {
        bail!(
            "sim symbol `{}` must be non-empty ASCII alphanumerics",
            s.symbol
        );
    }
    let price_scale = decimals_of(&s.tick_size);
    let qty_scale = decimals_of(&s.lot_size);
    if price_scale > 12 || qty_scale > 12 {
        bail!("sim symbol {}: too many decimals in tick/lot", s.symbol);
    }
    let tick = parse_decimal(s.tick_size.as_bytes(), price_scale)
        .map_err(|e| anyhow::anyhow!("sim symbol {}: tick_size: {e}", s.symbol))?;
    let lot = parse_decimal(s.lot_size.as_bytes(), qty_scale)
        .map_err(|e| anyhow::anyhow!("sim symbol {}: lot_size: {e}", s.symbol))?;
    if tick <= 0 || lot <= 0 {
        bail!("sim symbol {}: tick and lot must be positive", s.symbol);
    }
    let scaled = s.start_price * crate::decimal::pow10(price_scale) as f64;
    if !(s.start_price.is_finite() && s.start_price > 0.0 && scaled < 1e15) {
        bail!(
            "sim symbol {}: start_price must be positive and below 1e15 price units",
            s.symbol
        );
    }
    Ok(SymInfo {
        symbol: s.symbol.to_ascii_uppercase(),
        lower: s.symbol.to_ascii_lowercase(),
        tick_size: s.tick_size.clone(),
        lot_size: s.lot_size.clone(),
        price_scale,
        qty_scale,
        tick,
        lot,
    })
}
