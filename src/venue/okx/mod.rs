//! OKX v5 SWAP: wire parsing (`parse`), the checksummed book with original
//! strings (`book`), sequencing (`sync`), the doctor's probe endpoints and
//! bodies (`probe`) and the market-data connection (`feed`).

pub mod book;
pub mod feed;
pub mod parse;
pub mod probe;
pub mod sync;
