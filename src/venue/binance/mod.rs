//! Binance USD-M futures: wire parsing (`parse`), the local-order-book sync
//! rules (`sync`) and the market-data connection (`feed`).

pub mod feed;
pub mod parse;
pub mod probe;
pub mod sync;

pub use feed::{BinanceFeed, BinanceFeedConfig, Streams, plan_connections, stream_url};
pub use parse::{DepthMsg, Msg, ParseError, Parser, SymbolMap};
pub use sync::{BookSync, SyncOut, SyncState};
