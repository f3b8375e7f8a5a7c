//! Venue wire formats, one folder per exchange: the only place in the engine
//! that knows a venue's message shapes, stream names and sequencing rules.
//! Everything downstream sees normalized `core` events.

pub mod binance;
pub mod bybit;
pub mod chunks;
pub mod instruments;
pub mod metrics;
pub mod okx;
pub mod pacing;
pub mod symbols;
pub mod symstate;
pub mod tape;
pub mod weight;
pub mod wiring;
