//! OKX v5 endpoints and bodies that `doctor` uses to check the venue before
//! trading: server time (`GET /api/v5/public/time`), the SWAP instrument
//! list (`GET /api/v5/public/instruments?instType=SWAP`, parsed by
//! [`crate::venue::instruments::parse_okx`]) and a one-channel subscription
//! on the public stream. Parsing is strict: a body without the expected
//! fields is an error that says what is missing.

use crate::venue::probe::ProbeError;
use serde_json::Value;

/// `GET /api/v5/public/time` on `rest_base`.
pub fn server_time_url(rest_base: &str) -> String {
    format!("{}/api/v5/public/time", rest_base.trim_end_matches('/'))
}

/// `GET /api/v5/public/instruments?instType=SWAP` on `rest_base`.
pub fn instruments_url(rest_base: &str) -> String {
    format!(
        "{}/api/v5/public/instruments?instType=SWAP",
        rest_base.trim_end_matches('/')
    )
}

/// The subscribe request for `inst_id`'s order book (answered with a
/// snapshot at once).
pub fn subscribe(inst_id: &str) -> String {
    format!(r#"{{"op":"subscribe","args":[{{"channel":"books","instId":"{inst_id}"}}]}}"#)
}

/// Whether a frame is channel data (`{"arg":{..},"data":[..]}`), as opposed
/// to an event (`subscribe`, `error`) or a pong.
pub fn is_stream_data(frame: &str) -> bool {
    serde_json::from_str::<Value>(frame).is_ok_and(|v| {
        v.get("arg").is_some_and(Value::is_object)
            && v.get("data").is_some_and(Value::is_array)
            && v.get("event").is_none()
    })
}

/// An error event's text (`{"event":"error","code":..,"msg":..}`), if the
/// frame is one.
pub fn refusal(frame: &str) -> Option<ProbeError> {
    let v: Value = serde_json::from_str(frame).ok()?;
    (v.get("event")?.as_str()? == "error").then(|| {
        refused(
            v.get("code").and_then(Value::as_str).unwrap_or(""),
            v.get("msg").and_then(Value::as_str).unwrap_or(""),
        )
    })
}

/// OKX's `code`/`msg` pair as a refusal: `code N: msg` (a code that is no
/// number is kept as text).
fn refused(code: &str, msg: &str) -> ProbeError {
    match code.parse::<i64>() {
        Ok(n) => ProbeError::Refused {
            label: "code",
            code: n,
            msg: msg.to_string(),
        },
        Err(_) => ProbeError::RefusedText {
            msg: format!("code {code}: {msg}"),
        },
    }
}

/// The venue's clock in Unix ms from a `/api/v5/public/time` body
/// (`data[0].ts`).
pub fn parse_server_time(body: &[u8]) -> Result<i64, ProbeError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ProbeError::NotTheBody {
        what: "an OKX time body",
        detail: e.to_string(),
        body: ProbeError::clip(body),
    })?;
    if let Some(e) = parse_error(body) {
        return Err(e);
    }
    v.get("data")
        .and_then(|d| d.get(0))
        .and_then(|d| d.get("ts"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| ProbeError::Missing {
            what: "OKX time body",
            field: "data[0].ts",
            body: ProbeError::clip(body),
        })
}

/// OKX's refusal (`code` other than "0"), shown as `code N: msg`.
pub fn parse_error(body: &[u8]) -> Option<ProbeError> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let code = v.get("code")?.as_str()?;
    let msg = v.get("msg").and_then(Value::as_str).unwrap_or("");
    (code != "0").then(|| refused(code, msg))
}

/// How the doctor probes OKX v5 SWAP.
pub const PROBES: crate::venue::probe::ProbeSpec = crate::venue::probe::ProbeSpec {
    time_url: server_time_url,
    parse_time: parse_server_time,
    error_text: parse_error,
    instruments_url: |base, _| instruments_url(base),
    parse_instruments: |b| {
        crate::venue::instruments::parse_okx(b)
            .map(|l| (crate::venue::probe::listed(l), String::new()))
            .map_err(|e| ProbeError::Instruments(format!("{e:#}")))
    },
    trading: "live",
    rest_hint: "the v5 REST base (https://www.okx.com)",
    ws: |cfg, sym| {
        let Some(vc) = cfg.venues.get::<super::config::OkxConfig>() else {
            return Vec::new();
        };
        vec![crate::venue::probe::WsProbe {
            name: "okx.ws".into(),
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
        // OKX's documented answer.
        let b = br#"{"code":"0","msg":"","data":[{"ts":"1597026383085"}]}"#;
        assert_eq!(parse_server_time(b), Ok(1_597_026_383_085));
        let e = parse_server_time(br#"{"code":"50011","msg":"Rate limit reached.","data":[]}"#)
            .unwrap_err();
        assert_eq!(e.to_string(), "code 50011: Rate limit reached.");
        assert!(
            matches!(e, ProbeError::Refused { code: 50011, .. }),
            "{e:?}"
        );
        assert!(parse_server_time(br#"{"code":"0","msg":"","data":[]}"#).is_err());
        assert!(parse_server_time(b"{}").is_err());
    }

    #[test]
    fn urls_and_frames() {
        assert_eq!(
            server_time_url("https://www.okx.com/"),
            "https://www.okx.com/api/v5/public/time"
        );
        assert_eq!(
            instruments_url("http://h"),
            "http://h/api/v5/public/instruments?instType=SWAP"
        );
        assert!(subscribe("BTC-USDT-SWAP").contains(r#""instId":"BTC-USDT-SWAP""#));
        assert!(is_stream_data(
            r#"{"arg":{"channel":"books","instId":"BTC-USDT-SWAP"},"action":"snapshot","data":[{"asks":[],"bids":[],"ts":"1","checksum":0}]}"#
        ));
        assert!(!is_stream_data(
            r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT-SWAP"},"connId":"a"}"#
        ));
        assert_eq!(
            refusal(
                r#"{"event":"error","code":"60018","msg":"Wrong URL or channel","connId":"a"}"#
            )
            .map(|e| e.to_string())
            .as_deref(),
            Some("code 60018: Wrong URL or channel")
        );
    }
}
