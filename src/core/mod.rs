//! Core vocabulary shared by every stage: fixed-point numbers, clocks,
//! venues and instruments, and the `Copy` events of the hot path.

pub mod asset;
pub mod clock;
pub mod event;
pub mod fixed;
pub mod instrument;
pub mod stream;
#[cfg(test)]
pub(crate) mod testkit;
pub mod venue_error;

pub use asset::{BadAsset, FeeAsset};
pub use clock::{Clock, now_ns};
pub use event::*;
pub use fixed::{DecimalError, MONEY_SCALE, Money, format_decimal, parse_decimal};
pub use instrument::{Instrument, InstrumentId, InstrumentTable, Venue};
pub use stream::StreamKind;
