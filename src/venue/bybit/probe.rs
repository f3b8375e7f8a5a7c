//! Bybit v5 endpoints and bodies that `doctor` uses to check the venue
//! before trading: server time (`GET /v5/market/time`), the linear
//! instrument list (`GET /v5/market/instruments-info`, parsed by
//! [`crate::venue::instruments::parse_bybit`]) and a one-topic subscription
//! on the public linear stream. Parsing is strict: a body without the
//! expected fields is an error that says what is missing.

use crate::venue::probe::ProbeError;
use serde_json::Value;

/// `GET /v5/market/time` on `rest_base`.
pub fn server_time_url(rest_base: &str) -> String {
    format!("{}/v5/market/time", rest_base.trim_end_matches('/'))
}

/// One page of `GET /v5/market/instruments-info?category=linear`.
pub fn instruments_url(rest_base: &str, cursor: &str) -> String {
    let mut u = format!(
        "{}/v5/market/instruments-info?category=linear&limit=1000",
        rest_base.trim_end_matches('/')
    );
    if !cursor.is_empty() {
        u.push_str("&cursor=");
        u.push_str(cursor);
    }
    u
}

/// The subscribe request for `symbol`'s level-1 book (answered with a
/// snapshot at once).
pub fn subscribe(symbol: &str) -> String {
    format!(r#"{{"op":"subscribe","req_id":"doctor","args":["orderbook.1.{symbol}"]}}"#)
}

/// Whether a frame is topic data (`{"topic":..,"data":..}`), as opposed to
/// a subscribe reply or a pong.
pub fn is_stream_data(frame: &str) -> bool {
    serde_json::from_str::<Value>(frame).is_ok_and(|v| {
        v.get("topic")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty())
            && v.get("data").is_some_and(|d| d.is_object() || d.is_array())
    })
}

/// A subscribe refusal's message (`{"success":false,"ret_msg":..}`), if the
/// frame is one.
pub fn refusal(frame: &str) -> Option<ProbeError> {
    let v: Value = serde_json::from_str(frame).ok()?;
    (v.get("success")? == false).then(|| ProbeError::RefusedText {
        msg: v
            .get("ret_msg")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

/// The venue's clock in Unix ms from a `/v5/market/time` body
/// (`result.timeNano`, else `result.timeSecond`).
pub fn parse_server_time(body: &[u8]) -> Result<i64, ProbeError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ProbeError::NotTheBody {
        what: "a Bybit time body",
        detail: e.to_string(),
        body: ProbeError::clip(body),
    })?;
    if let Some(e) = parse_error(body) {
        return Err(e);
    }
    let missing = |field| ProbeError::Missing {
        what: "Bybit time body",
        field,
        body: ProbeError::clip(body),
    };
    let r = v.get("result").ok_or_else(|| missing("result"))?;
    let num = |k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<i64>().ok())
    };
    if let Some(ns) = num("timeNano") {
        return Ok(ns / 1_000_000);
    }
    num("timeSecond")
        .map(|s| s * 1000)
        .ok_or_else(|| missing("result.timeNano/timeSecond"))
}

/// Bybit's refusal (`retCode` other than 0), shown as `retCode N: retMsg`.
pub fn parse_error(body: &[u8]) -> Option<ProbeError> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let code = v.get("retCode")?.as_i64()?;
    (code != 0).then(|| ProbeError::Refused {
        label: "retCode",
        code,
        msg: v
            .get("retMsg")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

/// How the doctor probes Bybit v5 linear.
pub const PROBES: crate::venue::probe::ProbeSpec = crate::venue::probe::ProbeSpec {
    time_url: server_time_url,
    parse_time: parse_server_time,
    error_text: parse_error,
    instruments_url,
    parse_instruments: |b| {
        crate::venue::instruments::parse_bybit(b)
            .map(|(l, next)| (crate::venue::probe::listed(l), next))
            .map_err(|e| ProbeError::Instruments(format!("{e:#}")))
    },
    trading: "Trading",
    rest_hint: "the v5 REST base (https://api.bybit.com)",
    ws: |cfg, sym| {
        let Some(vc) = cfg.venues.get::<super::config::BybitConfig>() else {
            return Vec::new();
        };
        vec![crate::venue::probe::WsProbe {
            name: "bybit.ws".into(),
            url: vc.ws_url.clone(),
            subscribe: Some(subscribe(sym)),
            is_data: is_stream_data,
            refusal,
        }]
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_body_and_errors() {
        // Bybit's documented answer.
        let b = br#"{"retCode":0,"retMsg":"OK","result":{"timeSecond":"1688639403","timeNano":"1688639403423213947"},"retExtInfo":{},"time":1688639403423}"#;
        assert_eq!(parse_server_time(b), Ok(1_688_639_403_423));
        let b = br#"{"retCode":0,"retMsg":"OK","result":{"timeSecond":"1688639403"}}"#;
        assert_eq!(parse_server_time(b), Ok(1_688_639_403_000));
        let e = parse_server_time(br#"{"retCode":10006,"retMsg":"Too many visits!","result":{}}"#)
            .unwrap_err();
        assert_eq!(e.to_string(), "retCode 10006: Too many visits!");
        assert_eq!(
            e.venue_error(),
            Some(crate::venue::error::VenueError::Refused {
                code: 10006,
                msg: "Too many visits!".into()
            })
        );
        assert!(parse_server_time(br#"{"serverTime":1}"#).is_err());
        assert!(parse_server_time(b"<html>").is_err());
    }

    #[test]
    fn urls_and_frames() {
        assert_eq!(
            server_time_url("https://api.bybit.com/"),
            "https://api.bybit.com/v5/market/time"
        );
        assert_eq!(
            instruments_url("http://h", "abc"),
            "http://h/v5/market/instruments-info?category=linear&limit=1000&cursor=abc"
        );
        assert!(subscribe("BTCUSDT").contains(r#""orderbook.1.BTCUSDT""#));
        assert!(is_stream_data(
            r#"{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1,"seq":1}}"#
        ));
        assert!(!is_stream_data(
            r#"{"success":true,"ret_msg":"","conn_id":"x","op":"subscribe"}"#
        ));
        assert_eq!(
            refusal(r#"{"success":false,"ret_msg":"error:handler not found,topic:orderbook.1.X","op":"subscribe"}"#)
                .map(|e| e.to_string())
                .as_deref(),
            Some("error:handler not found,topic:orderbook.1.X")
        );
        assert_eq!(refusal(r#"{"success":true,"op":"subscribe"}"#), None);
    }
}
