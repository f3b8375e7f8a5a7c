//! Bybit v5 linear: wire parsing (`parse`), per-topic `u` sequencing
//! (`sync`), instruments (`instruments`) and the market-data connection
//! (`feed`).

pub mod feed;
pub mod parse;
pub mod sync;
