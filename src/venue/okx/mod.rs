//! OKX v5 SWAP: its adapter (`adapter`) and config section (`config`), wire
//! parsing (`parse`), the checksummed book with original strings (`book`),
//! sequencing (`sync`), the doctor's probe endpoints and bodies (`probe`)
//! and the market-data connection (`feed`).

pub mod adapter;
pub mod book;
pub mod config;
pub mod feed;
pub mod parse;
pub mod probe;
pub mod sync;
