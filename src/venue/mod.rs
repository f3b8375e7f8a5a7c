//! Venue wire formats, one folder per exchange: the only place in the engine
//! that knows a venue's message shapes, stream names and sequencing rules.
//! Everything downstream sees normalized `core` events.

pub mod binance;
pub mod tape;
