//! Binance USD-M connection planning: which streams a connection carries
//! (depth/bookTicker on `ws_url`, trades on `ws_market_url` when set: the
//! 2026 route split), the split of a venue's symbols over connections (at
//! most 1024 streams each), the stream names and the combined-stream URL.
//! The frames on those connections are `feed`'s.

use super::config::BinanceConfig;
use std::time::Duration;

/// Settings of one Binance connection.
#[derive(Debug, Clone)]
pub struct BinanceFeedConfig {
    pub ws_base: String,
    pub rest_base: String,
    pub symbols: Vec<String>,
    pub depth_speed_ms: u32,
    pub snapshot_limit: u32,
    pub streams: Streams,
    /// A symbol whose depth stream is silent this long is stale (0 = never).
    pub stale_after: Duration,
}

/// Which streams a connection carries (Binance's 2026 route split puts
/// depth/bookTicker on `/public` and trades on `/market`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub depth: bool,
    pub book_ticker: bool,
    pub trades: bool,
}

impl Streams {
    pub const ALL: Streams = Streams {
        depth: true,
        book_ticker: true,
        trades: true,
    };

    /// Streams per symbol on a connection carrying these.
    pub fn per_symbol(&self) -> usize {
        self.depth as usize + self.book_ticker as usize + self.trades as usize
    }
}

/// Binance's cap on the streams of one connection.
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;
/// Splits symbols into connections of at most 1024 streams each (in
/// order; the last one takes the remainder).
pub fn plan_connections(symbols: &[String], streams: Streams) -> Vec<Vec<String>> {
    let per = (MAX_STREAMS_PER_CONNECTION / streams.per_symbol().max(1)).max(1);
    symbols.chunks(per).map(|c| c.to_vec()).collect()
}

/// The stream names of one symbol on a connection carrying `streams`.
pub fn symbol_streams(cfg: &BinanceFeedConfig, symbol: &str) -> Vec<String> {
    let speed = match cfg.depth_speed_ms {
        0 => "@0ms",
        100 => "@100ms",
        500 => "@500ms",
        _ => "",
    };
    let l = symbol.to_ascii_lowercase();
    let mut names = Vec::with_capacity(3);
    if cfg.streams.depth {
        names.push(format!("{l}@depth{speed}"));
    }
    if cfg.streams.book_ticker {
        names.push(format!("{l}@bookTicker"));
    }
    if cfg.streams.trades {
        names.push(format!("{l}@aggTrade"));
    }
    names
}

/// The combined-stream URL for these symbols and streams.
pub fn stream_url(cfg: &BinanceFeedConfig) -> String {
    let names: Vec<String> = cfg
        .symbols
        .iter()
        .flat_map(|s| symbol_streams(cfg, s))
        .collect();
    format!(
        "{}/stream?streams={}",
        cfg.ws_base.trim_end_matches('/'),
        names.join("/")
    )
}

/// One planned connection: its base URL, streams and symbols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnPlan {
    pub ws_base: String,
    pub streams: Streams,
    pub symbols: Vec<String>,
}

/// The connections of a `[venues.binance]` section, in the order the engine
/// starts them (and a recording numbers them): depth/bookTicker connections
/// first, then trade connections when `ws_market_url` is set; all streams on
/// `ws_url` otherwise.
pub fn plan(vc: &BinanceConfig) -> Vec<ConnPlan> {
    let routes: Vec<(&str, Streams)> = if vc.ws_market_url.is_empty() {
        vec![(vc.ws_url.as_str(), Streams::ALL)]
    } else {
        vec![
            (
                vc.ws_url.as_str(),
                Streams {
                    depth: true,
                    book_ticker: true,
                    trades: false,
                },
            ),
            (
                vc.ws_market_url.as_str(),
                Streams {
                    depth: false,
                    book_ticker: false,
                    trades: true,
                },
            ),
        ]
    };
    let mut out = Vec::new();
    for (base, streams) in routes {
        for symbols in plan_connections(&vc.symbols, streams) {
            out.push(ConnPlan {
                ws_base: base.to_string(),
                streams,
                symbols,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(symbols: Vec<String>, streams: Streams) -> BinanceFeedConfig {
        BinanceFeedConfig {
            ws_base: "ws://x".into(),
            rest_base: String::new(),
            symbols,
            depth_speed_ms: 100,
            snapshot_limit: 1000,
            streams,
            stale_after: Duration::ZERO,
        }
    }

    #[test]
    fn connections_carry_at_most_1024_streams() {
        let syms: Vec<String> = (0..1000).map(|i| format!("S{i:04}USDT")).collect();
        let plan = plan_connections(&syms, Streams::ALL);
        assert_eq!(
            plan.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [341, 341, 318]
        );
        assert_eq!(plan.concat(), syms);
        for c in &plan {
            let url = stream_url(&cfg(c.clone(), Streams::ALL));
            let n = url.split_once("streams=").unwrap().1.split('/').count();
            assert!(n <= MAX_STREAMS_PER_CONNECTION, "{n}");
        }
        let trades = Streams {
            depth: false,
            book_ticker: false,
            trades: true,
        };
        assert_eq!(plan_connections(&syms, trades).len(), 1);
        assert_eq!(plan_connections(&syms[..341], Streams::ALL).len(), 1);
        assert_eq!(plan_connections(&syms[..342], Streams::ALL).len(), 2);
    }

    #[test]
    fn a_market_route_puts_trades_on_their_own_connections() {
        let mut vc = BinanceConfig {
            ws_url: "ws://p".into(),
            symbols: (0..400).map(|i| format!("S{i:03}USDT")).collect(),
            ..BinanceConfig::default()
        };
        let one = plan(&vc);
        assert_eq!(one.len(), 2, "{one:?}");
        assert!(
            one.iter()
                .all(|p| p.ws_base == "ws://p" && p.streams == Streams::ALL)
        );
        vc.ws_market_url = "ws://m".into();
        let split = plan(&vc);
        let bases: Vec<(&str, usize)> = split
            .iter()
            .map(|p| (p.ws_base.as_str(), p.symbols.len()))
            .collect();
        // 400 symbols x 2 streams fit one 1024-stream connection; trades
        // alone too.
        assert_eq!(bases, [("ws://p", 400), ("ws://m", 400)]);
        assert!(!split[0].streams.trades && split[0].streams.depth);
        assert!(split[1].streams.trades && !split[1].streams.depth);
    }
}
