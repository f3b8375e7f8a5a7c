//! Binance USD-M wire format as the simulator writes and reads it: the JSON of
//! the market streams (`depthUpdate`, `bookTicker`, `aggTrade`, `trade`), the
//! combined-stream wrapper, REST bodies (depth snapshot, exchangeInfo, time,
//! errors) and stream-name parsing. Prices and quantities are JSON strings
//! formatted with the instrument's decimals; ids and times are JSON integers.

pub(crate) use crate::spec::SymInfo;
use std::fmt::Write as _;

/// The kind of market stream a subscription names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum StreamKind {
    Depth,
    BookTicker,
    AggTrade,
    Trade,
}

/// Splits a stream name (`btcusdt@depth@100ms`) into its lower-case symbol and
/// kind. Accepted: `@depth`, `@depth@0ms|100ms|250ms|500ms`, `@bookTicker`,
/// `@aggTrade`, `@trade` (the suffix is matched case-insensitively). Anything
/// else (partial depth, klines, ...) is `None`: the simulator sends nothing for
/// it, like Binance for an unknown symbol.
pub(crate) fn parse_stream_name(name: &str) -> Option<(String, StreamKind)> {
    let (sym, rest) = name.split_once('@')?;
    if sym.is_empty() || !sym.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let rest = rest.to_ascii_lowercase();
    let kind = match rest.as_str() {
        "depth" | "depth@0ms" | "depth@100ms" | "depth@250ms" | "depth@500ms" => StreamKind::Depth,
        "bookticker" => StreamKind::BookTicker,
        "aggtrade" => StreamKind::AggTrade,
        "trade" => StreamKind::Trade,
        _ => return None,
    };
    Some((sym.to_ascii_lowercase(), kind))
}

fn push_levels(out: &mut String, info: &SymInfo, levels: &[(i64, i64)]) {
    out.push('[');
    for (i, (px, qty)) in levels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "[\"{}\",\"{}\"]", info.px(*px), info.qty(*qty));
    }
    out.push(']');
}

/// Fields of one depth update event.
pub(crate) struct DepthFields<'a> {
    pub e_ms: i64,
    pub t_ms: i64,
    pub first_id: u64,
    pub last_id: u64,
    pub prev_id: u64,
    pub bids: &'a [(i64, i64)],
    pub asks: &'a [(i64, i64)],
}

/// `{"e":"depthUpdate","E":..,"T":..,"s":..,"U":..,"u":..,"pu":..,"b":[..],"a":[..]}`
pub(crate) fn depth_update_json(info: &SymInfo, d: &DepthFields<'_>) -> String {
    let mut out = String::with_capacity(128 + 32 * (d.bids.len() + d.asks.len()));
    let _ = write!(
        out,
        "{{\"e\":\"depthUpdate\",\"E\":{},\"T\":{},\"s\":\"{}\",\"U\":{},\"u\":{},\"pu\":{},\"b\":",
        d.e_ms, d.t_ms, info.symbol, d.first_id, d.last_id, d.prev_id
    );
    push_levels(&mut out, info, d.bids);
    out.push_str(",\"a\":");
    push_levels(&mut out, info, d.asks);
    out.push('}');
    out
}

/// `{"e":"bookTicker","u":..,"s":..,"b":..,"B":..,"a":..,"A":..,"T":..,"E":..}`
pub(crate) fn book_ticker_json(
    info: &SymInfo,
    update_id: u64,
    bid: (i64, i64),
    ask: (i64, i64),
    e_ms: i64,
    t_ms: i64,
) -> String {
    format!(
        "{{\"e\":\"bookTicker\",\"u\":{},\"s\":\"{}\",\"b\":\"{}\",\"B\":\"{}\",\"a\":\"{}\",\"A\":\"{}\",\"T\":{},\"E\":{}}}",
        update_id,
        info.symbol,
        info.px(bid.0),
        info.qty(bid.1),
        info.px(ask.0),
        info.qty(ask.1),
        t_ms,
        e_ms
    )
}

/// Fields of one (aggregated) trade.
pub(crate) struct TradeFields {
    pub e_ms: i64,
    pub t_ms: i64,
    pub agg_id: u64,
    pub first_trade: u64,
    pub last_trade: u64,
    pub px: i64,
    pub qty: i64,
    pub buyer_maker: bool,
}

/// `{"e":"aggTrade","E":..,"a":..,"s":..,"p":..,"q":..,"f":..,"l":..,"T":..,"m":..}`
pub(crate) fn agg_trade_json(info: &SymInfo, t: &TradeFields) -> String {
    format!(
        "{{\"e\":\"aggTrade\",\"E\":{},\"a\":{},\"s\":\"{}\",\"p\":\"{}\",\"q\":\"{}\",\"f\":{},\"l\":{},\"T\":{},\"m\":{}}}",
        t.e_ms,
        t.agg_id,
        info.symbol,
        info.px(t.px),
        info.qty(t.qty),
        t.first_trade,
        t.last_trade,
        t.t_ms,
        t.buyer_maker
    )
}

/// USD-M `trade`: `{"e":"trade","E":..,"T":..,"s":..,"t":..,"p":..,"q":..,"X":"MARKET","m":..}`
pub(crate) fn trade_json(info: &SymInfo, t: &TradeFields) -> String {
    format!(
        "{{\"e\":\"trade\",\"E\":{},\"T\":{},\"s\":\"{}\",\"t\":{},\"p\":\"{}\",\"q\":\"{}\",\"X\":\"MARKET\",\"m\":{}}}",
        t.e_ms,
        t.t_ms,
        info.symbol,
        t.last_trade,
        info.px(t.px),
        info.qty(t.qty),
        t.buyer_maker
    )
}

/// Wraps a payload for a combined stream: `{"stream":"<name>","data":<data>}`.
pub(crate) fn combined_frame(stream: &str, data: &str) -> String {
    let mut s = String::with_capacity(data.len() + stream.len() + 22);
    s.push_str("{\"stream\":\"");
    s.push_str(stream);
    s.push_str("\",\"data\":");
    s.push_str(data);
    s.push('}');
    s
}

/// REST depth snapshot body from scaled levels (bids descending, asks ascending).
pub(crate) fn depth_snapshot_json(
    info: &SymInfo,
    last_update_id: u64,
    e_ms: i64,
    t_ms: i64,
    bids: &[(i64, i64)],
    asks: &[(i64, i64)],
) -> String {
    let mut out = String::with_capacity(96 + 32 * (bids.len() + asks.len()));
    let _ = write!(
        out,
        "{{\"lastUpdateId\":{last_update_id},\"E\":{e_ms},\"T\":{t_ms},\"bids\":"
    );
    push_levels(&mut out, info, bids);
    out.push_str(",\"asks\":");
    push_levels(&mut out, info, asks);
    out.push('}');
    out
}

/// REST depth snapshot body from level strings as recorded (replay).
pub(crate) fn depth_snapshot_json_raw(
    last_update_id: u64,
    e_ms: i64,
    t_ms: i64,
    bids: &[(String, String)],
    asks: &[(String, String)],
) -> String {
    let side = |levels: &[(String, String)]| -> serde_json::Value {
        serde_json::Value::Array(
            levels
                .iter()
                .map(|(p, q)| serde_json::json!([p, q]))
                .collect(),
        )
    };
    serde_json::json!({
        "lastUpdateId": last_update_id,
        "E": e_ms,
        "T": t_ms,
        "bids": side(bids),
        "asks": side(asks),
    })
    .to_string()
}

/// Binance error body `{"code":..,"msg":".."}`.
pub(crate) fn error_json(code: i64, msg: &str) -> String {
    serde_json::json!({ "code": code, "msg": msg }).to_string()
}

/// Error returned for a REST depth request hit by [`super::Fault::FailSnapshots`].
pub(crate) const MSG_INTERNAL: &str =
    "Internal error; unable to process your request. Please try again.";
/// Error for a `limit` outside Binance's set.
pub(crate) const MSG_BAD_LIMIT: &str = "Illegal characters found in parameter 'limit'; legal range is '5, 10, 20, 50, 100, 500, 1000'.";
/// Error for an unknown symbol.
pub(crate) const MSG_BAD_SYMBOL: &str = "Invalid symbol.";
/// Error for a missing `symbol` parameter.
pub(crate) const MSG_NO_SYMBOL: &str =
    "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.";

/// Limits Binance accepts on `GET /fapi/v1/depth`.
pub(crate) const DEPTH_LIMITS: [usize; 7] = [5, 10, 20, 50, 100, 500, 1000];

/// `GET /fapi/v1/exchangeInfo`: a faithful subset for the simulated symbols.
/// `order_limits`: the account's ORDERS limits per 10 s and per minute.
pub(crate) fn exchange_info_json<'a>(
    syms: impl Iterator<Item = &'a SymInfo>,
    server_ms: i64,
    (per_10s, per_min): (usize, usize),
) -> String {
    let symbols: Vec<serde_json::Value> = syms
        .map(|s| {
            let (base, quote) = split_base_quote(&s.symbol);
            serde_json::json!({
                "symbol": s.symbol,
                "pair": s.symbol,
                "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000i64,
                "onboardDate": 1569398400000i64,
                "status": "TRADING",
                "baseAsset": base,
                "quoteAsset": quote,
                "marginAsset": quote,
                "pricePrecision": s.price_scale,
                "quantityPrecision": s.qty_scale,
                "baseAssetPrecision": 8,
                "quotePrecision": 8,
                "underlyingType": "COIN",
                "filters": [
                    {
                        "minPrice": s.tick_size,
                        "maxPrice": "1000000",
                        "filterType": "PRICE_FILTER",
                        "tickSize": s.tick_size,
                    },
                    {
                        "stepSize": s.lot_size,
                        "filterType": "LOT_SIZE",
                        "maxQty": "1000",
                        "minQty": s.lot_size,
                    },
                    {
                        "stepSize": s.lot_size,
                        "filterType": "MARKET_LOT_SIZE",
                        "maxQty": "1000",
                        "minQty": s.lot_size,
                    },
                    { "notional": "5", "filterType": "MIN_NOTIONAL" },
                ],
                "orderTypes": ["LIMIT", "MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
            })
        })
        .collect();
    serde_json::json!({
        "timezone": "UTC",
        "serverTime": server_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            { "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400 },
            { "rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": per_min },
            { "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": per_10s },
        ],
        "exchangeFilters": [],
        "assets": [],
        "symbols": symbols,
    })
    .to_string()
}

/// Splits `BTCUSDT` into (`BTC`, `USDT`) by the usual quote suffixes.
fn split_base_quote(symbol: &str) -> (&str, &str) {
    for q in ["USDT", "USDC", "BUSD", "FDUSD", "BTC", "ETH"] {
        if let Some(base) = symbol.strip_suffix(q)
            && !base.is_empty()
        {
            return (base, q);
        }
    }
    (symbol, "USDT")
}

#[cfg(test)]
mod unit {
    use super::*;

    fn info() -> SymInfo {
        SymInfo {
            symbol: "BTCUSDT".into(),
            lower: "btcusdt".into(),
            tick_size: "0.10".into(),
            lot_size: "0.001".into(),
            price_scale: 2,
            qty_scale: 3,
            tick: 10,
            lot: 1,
        }
    }

    #[test]
    fn stream_names() {
        assert_eq!(
            parse_stream_name("btcusdt@depth@100ms"),
            Some(("btcusdt".into(), StreamKind::Depth))
        );
        assert_eq!(
            parse_stream_name("btcusdt@bookTicker"),
            Some(("btcusdt".into(), StreamKind::BookTicker))
        );
        assert_eq!(
            parse_stream_name("ethusdt@aggTrade"),
            Some(("ethusdt".into(), StreamKind::AggTrade))
        );
        assert_eq!(parse_stream_name("btcusdt@depth5"), None);
        assert_eq!(parse_stream_name("btcusdt@depth@1ms"), None);
        assert_eq!(parse_stream_name("@depth"), None);
        assert_eq!(parse_stream_name("btcusdt"), None);
    }

    #[test]
    fn json_shapes_parse() {
        let i = info();
        let d = depth_update_json(
            &i,
            &DepthFields {
                e_ms: 1,
                t_ms: 2,
                first_id: 10,
                last_id: 12,
                prev_id: 7,
                bids: &[(6_180_020, 2_507)],
                asks: &[(6_180_030, 0)],
            },
        );
        assert_eq!(
            d,
            r#"{"e":"depthUpdate","E":1,"T":2,"s":"BTCUSDT","U":10,"u":12,"pu":7,"b":[["61800.20","2.507"]],"a":[["61800.30","0.000"]]}"#
        );
        let b = book_ticker_json(&i, 5, (100, 1), (110, 2), 3, 4);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["b"], "1.00");
        assert_eq!(v["A"], "0.002");
        let t = TradeFields {
            e_ms: 1,
            t_ms: 1,
            agg_id: 9,
            first_trade: 3,
            last_trade: 4,
            px: 100,
            qty: 5,
            buyer_maker: true,
        };
        let v: serde_json::Value = serde_json::from_str(&agg_trade_json(&i, &t)).unwrap();
        assert_eq!(v["m"], true);
        assert_eq!(v["a"], 9);
        let v: serde_json::Value = serde_json::from_str(&trade_json(&i, &t)).unwrap();
        assert_eq!(v["X"], "MARKET");
        let v: serde_json::Value =
            serde_json::from_str(&exchange_info_json([i].iter(), 7, (300, 1200))).unwrap();
        assert_eq!(v["symbols"][0]["baseAsset"], "BTC");
        assert_eq!(v["symbols"][0]["filters"][0]["tickSize"], "0.10");
    }
}
