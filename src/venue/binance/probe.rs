//! Binance USD-M endpoints and bodies that `doctor` uses to check a venue
//! before trading: server time (`GET /fapi/v1/time`), the instrument list
//! (`GET /fapi/v1/exchangeInfo`) and a one-stream WebSocket URL. Parsing is
//! strict: a body without the expected fields is an error that says what is
//! missing, never a silent zero.

use crate::venue::probe::ProbeError;
use serde::Deserialize;

/// `GET /fapi/v1/time` on `rest_base`.
pub fn server_time_url(rest_base: &str) -> String {
    format!("{}/fapi/v1/time", rest_base.trim_end_matches('/'))
}

/// `GET /fapi/v1/exchangeInfo` on `rest_base`.
pub fn exchange_info_url(rest_base: &str) -> String {
    format!("{}/fapi/v1/exchangeInfo", rest_base.trim_end_matches('/'))
}

/// A combined-stream URL with one stream of `symbol`: `bookTicker` (frequent,
/// small) or, for the trades-only `/market` connection, `aggTrade`.
pub fn probe_stream_url(ws_base: &str, symbol: &str, trades: bool) -> String {
    format!(
        "{}/stream?streams={}@{}",
        ws_base.trim_end_matches('/'),
        symbol.to_ascii_lowercase(),
        if trades { "aggTrade" } else { "bookTicker" }
    )
}

/// Whether a WebSocket text frame is a combined-stream data message
/// (`{"stream":..,"data":..}`), as opposed to a reply or an error.
pub fn is_stream_data(frame: &str) -> bool {
    #[derive(Deserialize)]
    struct Wrapped {
        stream: String,
        data: serde_json::Value,
    }
    serde_json::from_str::<Wrapped>(frame)
        .map(|w| !w.stream.is_empty() && w.data.is_object())
        .unwrap_or(false)
}

/// The venue's clock in Unix milliseconds from a `/fapi/v1/time` body.
pub fn parse_server_time(body: &[u8]) -> Result<i64, ProbeError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Time {
        server_time: i64,
    }
    serde_json::from_slice::<Time>(body)
        .map(|t| t.server_time)
        .map_err(|e| ProbeError::NotTheBody {
            what: "a Binance time body",
            detail: e.to_string(),
            body: ProbeError::clip(body),
        })
}

/// One listed instrument: symbol, trading status, tick and lot size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSymbol {
    pub symbol: String,
    pub status: String,
    pub tick_size: Option<String>,
    pub step_size: Option<String>,
}

/// The instruments of an `/fapi/v1/exchangeInfo` body.
pub fn parse_exchange_info(body: &[u8]) -> Result<Vec<ListedSymbol>, ProbeError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Filter {
        filter_type: String,
        tick_size: Option<String>,
        step_size: Option<String>,
    }
    #[derive(Deserialize)]
    struct Sym {
        symbol: String,
        status: String,
        #[serde(default)]
        filters: Vec<Filter>,
    }
    #[derive(Deserialize)]
    struct Info {
        symbols: Vec<Sym>,
    }
    let info: Info = serde_json::from_slice(body).map_err(|e| ProbeError::NotTheBody {
        what: "a Binance exchangeInfo body",
        detail: e.to_string(),
        body: ProbeError::clip(body),
    })?;
    Ok(info
        .symbols
        .into_iter()
        .map(|s| {
            let find = |t: &str| s.filters.iter().find(|f| f.filter_type == t);
            ListedSymbol {
                tick_size: find("PRICE_FILTER").and_then(|f| f.tick_size.clone()),
                step_size: find("LOT_SIZE").and_then(|f| f.step_size.clone()),
                symbol: s.symbol,
                status: s.status,
            }
        })
        .collect())
}

/// Binance's error body (`{"code":-1121,"msg":"Invalid symbol."}`), if it is one.
pub fn parse_error(body: &[u8]) -> Option<(i64, String)> {
    #[derive(Deserialize)]
    struct Err {
        code: i64,
        msg: String,
    }
    serde_json::from_slice::<Err>(body)
        .ok()
        .map(|e| (e.code, e.msg))
}

/// How the doctor probes Binance USD-M.
pub const PROBES: crate::venue::probe::ProbeSpec = crate::venue::probe::ProbeSpec {
    time_url: server_time_url,
    parse_time: parse_server_time,
    error_text: |b| {
        parse_error(b).map(|(code, msg)| ProbeError::Refused {
            label: "code",
            code,
            msg,
        })
    },
    instruments_url: |base, _| exchange_info_url(base),
    parse_instruments: |b| {
        parse_exchange_info(b).map(|l| {
            let l = l
                .into_iter()
                .map(|s| crate::venue::probe::Listed {
                    symbol: s.symbol,
                    status: s.status,
                })
                .collect();
            (l, String::new())
        })
    },
    trading: "TRADING",
    rest_hint: "the USD-M futures REST base (https://fapi.binance.com)",
    ws: |cfg, sym| {
        use crate::venue::probe::{WsProbe, no_refusal};
        let Some(vc) = cfg.venues.get::<super::config::BinanceConfig>() else {
            return Vec::new();
        };
        let mut v = vec![WsProbe {
            name: "binance.ws".into(),
            url: probe_stream_url(&vc.ws_url, sym, false),
            subscribe: None,
            is_data: is_stream_data,
            refusal: no_refusal,
        }];
        if !vc.ws_market_url.is_empty() {
            v.push(WsProbe {
                name: "binance.ws_market".into(),
                url: probe_stream_url(&vc.ws_market_url, sym, true),
                subscribe: None,
                is_data: is_stream_data,
                refusal: no_refusal,
            });
        }
        v
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            server_time_url("https://fapi.binance.com/"),
            "https://fapi.binance.com/fapi/v1/time"
        );
        assert_eq!(
            exchange_info_url("http://127.0.0.1:1"),
            "http://127.0.0.1:1/fapi/v1/exchangeInfo"
        );
        assert_eq!(
            probe_stream_url("wss://fstream.binance.com", "BTCUSDT", false),
            "wss://fstream.binance.com/stream?streams=btcusdt@bookTicker"
        );
        assert_eq!(
            probe_stream_url("ws://h/market/", "ETHUSDT", true),
            "ws://h/market/stream?streams=ethusdt@aggTrade"
        );
    }

    #[test]
    fn server_time() {
        assert_eq!(
            parse_server_time(br#"{"serverTime":1499827319559}"#),
            Ok(1499827319559)
        );
        let e = parse_server_time(br#"{"code":-1003,"msg":"Too many requests"}"#).unwrap_err();
        assert!(matches!(e, ProbeError::NotTheBody { .. }), "{e:?}");
        let e = e.to_string();
        assert!(e.contains("serverTime") && e.contains("-1003"), "{e}");
        assert!(parse_server_time(b"<html>").is_err());
    }

    #[test]
    fn errors_and_stream_frames() {
        assert_eq!(
            parse_error(br#"{"code":-1121,"msg":"Invalid symbol."}"#),
            Some((-1121, "Invalid symbol.".into()))
        );
        assert_eq!(parse_error(br#"{"serverTime":1}"#), None);
        assert!(is_stream_data(
            r#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","s":"BTCUSDT"}}"#
        ));
        assert!(!is_stream_data(r#"{"result":null,"id":1}"#));
        assert!(!is_stream_data("garbage"));
    }

    /// The real exchangeInfo excerpts captured from Binance.
    #[test]
    fn real_exchange_info_samples() {
        let dir = std::path::Path::new("../shared/samples/binance");
        if !dir.exists() {
            crate::venue::samples::absent("real exchangeInfo", dir);
            return;
        }
        let body =
            std::fs::read(dir.join("futures_exchangeInfo_excerpt_BTCUSDT_ETHUSDT_2021-07-22.json"))
                .unwrap();
        let syms = parse_exchange_info(&body).unwrap();
        let btc = syms
            .iter()
            .find(|s| s.symbol == "BTCUSDT")
            .expect("BTCUSDT");
        assert_eq!(btc.status, "TRADING");
        assert_eq!(btc.tick_size.as_deref(), Some("0.01"));
        assert_eq!(btc.step_size.as_deref(), Some("0.001"));
        assert!(syms.iter().any(|s| s.symbol == "ETHUSDT"));
        let body =
            std::fs::read(dir.join("futures_exchangeInfo_excerpt_2022-02_nautilus.json")).unwrap();
        assert!(!parse_exchange_info(&body).unwrap().is_empty());
        assert!(parse_exchange_info(br#"{"code":-1000,"msg":"x"}"#).is_err());
    }
}
