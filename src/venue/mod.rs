//! Venue wire formats, one folder per exchange: the only place in the engine
//! that knows a venue's message shapes, stream names and sequencing rules.
//! Everything downstream sees normalized `core` events.

pub mod binance;
pub mod bybit;
pub mod chunks;
pub mod instruments;
pub mod okx;
pub mod pacing;
pub mod samples;
pub mod symbols;
pub mod symstate;
pub mod tape;
pub mod wiring;

/// The venue series live in `crate::telemetry::venue` (registered with the
/// engine's registry); this name keeps the adapters' paths short.
pub use crate::telemetry::venue as metrics;

/// The REST weight budget is the feed layer's (`crate::feed::weight`); this
/// name keeps the adapters' paths short.
pub use crate::feed::weight;
