//! Bybit v5 linear: wire parsing (`parse`), per-topic `u` sequencing
//! (`sync`), the doctor's probe endpoints and bodies (`probe`) and the
//! market-data connection (`feed`).

pub mod feed;
pub mod parse;
pub mod probe;
pub mod sync;
