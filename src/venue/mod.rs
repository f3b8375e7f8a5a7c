//! Venue wire formats, one folder per exchange: the only place in the engine
//! that knows a venue's message shapes, stream names, config keys and
//! sequencing rules. Each venue implements [`adapter::VenueAdapter`];
//! [`registry`] lists them, and the rest of the engine reaches a venue only
//! through it. Everything downstream sees normalized `core` events.

pub mod account;
pub mod adapter;
pub mod binance;
pub mod bybit;
pub mod common;
pub mod config;
pub use crate::core::venue_error as error;
pub mod inject;
pub mod okx;
pub mod probe;
pub mod registry;
pub mod samples;
pub mod sections;
pub mod wiring;

pub use common::{chunks, instruments, pacing, symbols, symstate, tape};

/// The quote asset of `venue`'s `symbol` (`BTCUSDT` → `USDT`,
/// `BTC-USDT-SWAP` → `USDT`): the asset a fill's fee must be in to reduce
/// realized PnL. `None` when the venue's naming does not tell.
pub fn quote_asset(venue: crate::core::Venue, symbol: &str) -> Option<String> {
    registry::adapter(venue).quote_asset(symbol)
}

/// The venue series live in `crate::telemetry::venue` (registered with the
/// engine's registry); this name keeps the adapters' paths short.
pub use crate::telemetry::venue as metrics;

/// The REST weight budget is the feed layer's (`crate::feed::weight`); this
/// name keeps the adapters' paths short.
pub use crate::feed::weight;
