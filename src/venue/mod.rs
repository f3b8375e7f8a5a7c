//! Venue wire formats, one folder per exchange: the only place in the engine
//! that knows a venue's message shapes, stream names, config keys and
//! sequencing rules. Each venue implements [`adapter::VenueAdapter`];
//! [`registry`] lists them, and the rest of the engine reaches a venue only
//! through it. Everything downstream sees normalized `core` events.

pub mod adapter;
pub mod binance;
pub mod bybit;
pub mod common;
pub mod config;
pub mod error;
pub mod inject;
pub mod okx;
pub mod probe;
pub mod registry;
pub mod wiring;

pub use common::{chunks, instruments, metrics, pacing, symbols, symstate, tape, weight};
