//! Bybit v5 linear: its adapter (`adapter`) and config section (`config`),
//! wire parsing (`parse`), per-topic `u` sequencing (`sync`), the doctor's
//! probe endpoints and bodies (`probe`) and the market-data connection
//! (`feed`).

pub mod adapter;
pub mod config;
pub mod feed;
pub mod parse;
pub mod probe;
pub mod sync;
