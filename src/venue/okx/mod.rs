//! OKX v5 SWAP: wire parsing (`parse`), the checksummed book with original
//! strings (`book`), sequencing (`sync`), instruments (`instruments`) and
//! the market-data connection (`feed`).

pub mod book;
pub mod feed;
pub mod parse;
pub mod sync;
