//! Venues, instrument ids and the instrument table (tick, lot, scales).

use super::fixed::{DecimalError, decimals_of, parse_decimal};
use std::collections::HashMap;
use std::fmt;

/// A trading venue. Downstream of `venue/` nothing else knows wire formats;
/// everything venue-specific is reached through `venue::registry`. In config
/// files a venue is its lower-case name (`venue = "bybit"`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Venue {
    Binance = 0,
    Bybit = 1,
    Okx = 2,
}

impl Venue {
    /// How many venues there are: the size of every per-venue array.
    pub const COUNT: usize = 3;
    /// Every venue, in discriminant order (`ALL[v as usize] == v`).
    pub const ALL: [Venue; Venue::COUNT] = [Venue::Binance, Venue::Bybit, Venue::Okx];

    /// The venue's index into per-venue arrays (`0..COUNT`).
    #[inline]
    pub fn idx(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Bybit => "bybit",
            Venue::Okx => "okx",
        }
    }

    pub fn parse(s: &str) -> Option<Venue> {
        match s {
            "binance" => Some(Venue::Binance),
            "bybit" => Some(Venue::Bybit),
            "okx" => Some(Venue::Okx),
            _ => None,
        }
    }
}

/// A venue equals its lower-case name (`venue == "bybit"`).
impl PartialEq<&str> for Venue {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Dense index into the [`InstrumentTable`]; small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct InstrumentId(pub u16);

impl InstrumentId {
    #[inline]
    pub fn idx(self) -> usize {
        self.0 as usize
    }
}

/// Static facts about one instrument on one venue.
#[derive(Debug, Clone)]
pub struct Instrument {
    pub id: InstrumentId,
    pub venue: Venue,
    /// Venue symbol exactly as on the wire (`BTCUSDT`).
    pub symbol: String,
    /// Venue-independent name of the underlying (`BTCUSDT`), for cross-venue views.
    pub underlying: String,
    /// Decimals of prices on this instrument (from the tick size as written).
    pub price_scale: u8,
    /// Decimals of quantities (from the lot size as written).
    pub qty_scale: u8,
    /// Tick size in price units.
    pub tick: i64,
    /// Lot (quantity step) in quantity units.
    pub lot: i64,
    /// Minimum order notional in quote currency.
    pub min_notional: f64,
    /// Base-asset quantity per contract (1 for Binance/Bybit linear).
    pub contract_value: f64,
    /// The quote (settlement) asset's name (`USDT`), set by the composition
    /// root from the venue's rules; empty = not known (views say `quote`).
    pub quote_asset: String,
}

impl Instrument {
    /// Builds an instrument from exchange-style decimal strings.
    pub fn new(
        id: InstrumentId,
        venue: Venue,
        symbol: &str,
        underlying: &str,
        tick_size: &str,
        lot_size: &str,
        min_notional: f64,
    ) -> Result<Instrument, DecimalError> {
        let price_scale = decimals_of(tick_size);
        let qty_scale = decimals_of(lot_size);
        let tick = parse_decimal(tick_size.as_bytes(), price_scale)?;
        let lot = parse_decimal(lot_size.as_bytes(), qty_scale)?;
        if tick <= 0 || lot <= 0 {
            return Err(DecimalError::Empty);
        }
        Ok(Instrument {
            id,
            venue,
            symbol: symbol.to_string(),
            underlying: underlying.to_string(),
            price_scale,
            qty_scale,
            tick,
            lot,
            min_notional,
            contract_value: 1.0,
            quote_asset: String::new(),
        })
    }

    /// The quote asset's name for views and metric labels (`quote` when the
    /// venue's rules did not name it).
    pub fn quote_name(&self) -> &str {
        if self.quote_asset.is_empty() {
            "quote"
        } else {
            &self.quote_asset
        }
    }

    /// Quote-currency notional of `qty` at `px` (both scaled integers).
    #[inline]
    pub fn notional(&self, px: i64, qty: i64) -> f64 {
        super::fixed::to_f64(px, self.price_scale) * super::fixed::to_f64(qty, self.qty_scale)
    }

    #[inline]
    pub fn px_f64(&self, px: i64) -> f64 {
        super::fixed::to_f64(px, self.price_scale)
    }

    #[inline]
    pub fn qty_f64(&self, qty: i64) -> f64 {
        super::fixed::to_f64(qty, self.qty_scale)
    }
}

/// All instruments the engine trades or watches, indexed by [`InstrumentId`].
#[derive(Debug, Clone, Default)]
pub struct InstrumentTable {
    list: Vec<Instrument>,
    by_key: HashMap<(Venue, String), InstrumentId>,
}

impl InstrumentTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an instrument; its id is assigned here.
    pub fn push(&mut self, mut inst: Instrument) -> InstrumentId {
        let id = InstrumentId(self.list.len() as u16);
        inst.id = id;
        self.by_key.insert((inst.venue, inst.symbol.clone()), id);
        self.list.push(inst);
        id
    }

    #[inline]
    pub fn get(&self, id: InstrumentId) -> &Instrument {
        &self.list[id.idx()]
    }

    pub fn try_get(&self, id: InstrumentId) -> Option<&Instrument> {
        self.list.get(id.idx())
    }

    /// Looks up a venue symbol (case-sensitive, as on the wire).
    pub fn find(&self, venue: Venue, symbol: &str) -> Option<InstrumentId> {
        self.by_key.get(&(venue, symbol.to_string())).copied()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Instrument> {
        self.list.iter()
    }

    pub fn of_venue(&self, venue: Venue) -> impl Iterator<Item = &Instrument> {
        self.list.iter().filter(move |i| i.venue == venue)
    }
}
