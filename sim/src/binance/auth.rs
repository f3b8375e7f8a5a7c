//! Binance's request security and parameter checks for the signed
//! endpoints (protocols.md "Signed requests"): the `X-MBX-APIKEY` header
//! must be the configured key (`-2014`/`-2015`, HTTP 401); `timestamp` is
//! mandatory and must satisfy `timestamp < serverTime + 1000` and
//! `serverTime - timestamp <= recvWindow` (default 5000, at most 60000; else
//! `-1021`); `signature` is the lowercase hex HMAC-SHA256 of the query
//! string concatenated with the form body, without the `signature`
//! parameter (else `-1022`, HTTP 400). Also the parameter decoding and
//! Binance's refusals (`-1102` missing, `-1106` not required, `-1104`
//! unread, `-1121` symbol).

use super::binance_error;
use super::orders::OrderDesk;
use crate::decimal::unix_ms;
use crate::state::Inner;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{Duration, Instant};

/// The API key the simulator accepts unless told otherwise.
pub const SIM_API_KEY: &str = "qt-sim-api-key-7c1e0f5a9b2d4e6f8a0b";
/// The API secret the simulator verifies signatures with unless told otherwise.
pub const SIM_API_SECRET: &str = "qt-sim-api-secret-3e9d1b7f5c2a4068ae1f";
/// `recvWindow` when a signed request names none (protocols.md: default
/// 5000, maximum 60000).
pub const DEFAULT_RECV_WINDOW_MS: u64 = 5000;

const MSG_BAD_SIG: &str = "Signature for this request is not valid.";
const MSG_BAD_KEY: &str = "Invalid API-key, IP, or permissions for action.";
const MSG_KEY_FORMAT: &str = "API-key format invalid.";
const MSG_RECV_WINDOW: &str = "Timestamp for this request is outside of the recvWindow.";
const MSG_AHEAD: &str = "Timestamp for this request was 1000ms ahead of the server's time.";
const MSG_BAD_SYMBOL: &str = "Invalid symbol.";

/// Decoded request parameters, query first, then form body.
pub(super) type Params = Vec<(String, String)>;

pub(super) fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                match hex.and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `a=1&b=2` into decoded pairs and the raw text without its
/// `signature` parameter (what was signed); also returns the signature.
pub(super) fn split_params(raw: &str, params: &mut Params) -> (String, Option<String>) {
    let mut signed = Vec::new();
    let mut sig = None;
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        if k == "signature" {
            sig = Some(pct_decode(v));
        } else {
            signed.push(part);
            params.push((pct_decode(k), pct_decode(v)));
        }
    }
    (signed.join("&"), sig)
}

pub(super) fn param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A request refused with Binance's error body.
#[derive(Debug)]
pub(super) struct Refusal {
    pub status: StatusCode,
    pub code: i64,
    pub msg: String,
    /// `Retry-After` seconds (order-rate refusals).
    pub retry_after_s: Option<u64>,
}

pub(super) fn respond(r: Result<Response, Refusal>) -> Response {
    r.unwrap_or_else(|e| {
        let mut resp = binance_error(e.status, e.code, &e.msg);
        if let Some(s) = e.retry_after_s {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    })
}

pub(super) fn err(status: StatusCode, code: i64, msg: &str) -> Refusal {
    Refusal {
        status,
        code,
        msg: msg.to_string(),
        retry_after_s: None,
    }
}

/// Seconds until the order at `t` leaves a `window` (at least 1).
pub(super) fn secs_left(t: Instant, now: Instant, window: Duration) -> u64 {
    let left = (t + window).saturating_duration_since(now);
    left.as_millis().div_ceil(1000).max(1) as u64
}

pub(super) fn bad(code: i64, msg: &str) -> Refusal {
    err(StatusCode::BAD_REQUEST, code, msg)
}

pub(super) fn missing(name: &str) -> Refusal {
    bad(
        -1102,
        &format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    )
}

pub(super) fn not_required(name: &str) -> Refusal {
    bad(
        -1106,
        &format!("Parameter '{name}' sent when not required."),
    )
}

pub(super) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks key, timestamp and signature; returns the parameters (without
/// `signature`) or Binance's error reply.
pub(super) fn authenticate(
    desk: &OrderDesk,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Params, Refusal> {
    let (key, secret) = desk.creds.lock().clone();
    let sent_key = headers
        .get("x-mbx-apikey")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sent_key.is_empty() {
        return Err(err(StatusCode::UNAUTHORIZED, -2014, MSG_KEY_FORMAT));
    }
    if sent_key != key {
        return Err(err(StatusCode::UNAUTHORIZED, -2015, MSG_BAD_KEY));
    }
    let body = std::str::from_utf8(body)
        .map_err(|_| bad(-1100, "Illegal characters found in a parameter."))?;
    let mut params = Params::new();
    let (q_signed, q_sig) = split_params(query.unwrap_or(""), &mut params);
    let (b_signed, b_sig) = split_params(body, &mut params);
    let Some(ts) = param(&params, "timestamp") else {
        return Err(missing("timestamp"));
    };
    let Ok(ts) = ts.parse::<i64>() else {
        return Err(missing("timestamp"));
    };
    let recv = match param(&params, "recvWindow") {
        None => DEFAULT_RECV_WINDOW_MS as i64,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=60_000).contains(&n) => n,
            Ok(_) => return Err(bad(-1131, "recvWindow must be less than 60000")),
            Err(_) => return Err(missing("recvWindow")),
        },
    };
    let now = unix_ms();
    if ts >= now + 1000 {
        return Err(bad(-1021, MSG_AHEAD));
    }
    if now - ts > recv {
        return Err(bad(-1021, MSG_RECV_WINDOW));
    }
    let Some(sig) = q_sig.or(b_sig) else {
        return Err(missing("signature"));
    };
    let payload = format!("{q_signed}{b_signed}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC-SHA256 takes keys of any length");
    mac.update(payload.as_bytes());
    let ok = sig.len() == 64
        && sig
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        && hex_decode(&sig).is_some_and(|raw| mac.verify_slice(&raw).is_ok());
    if !ok {
        return Err(err(StatusCode::BAD_REQUEST, -1022, MSG_BAD_SIG));
    }
    Ok(params)
}

/// Refuses parameters the endpoint does not read (Binance: -1104).
pub(super) fn only(params: &Params, allowed: &[&str]) -> Result<(), Refusal> {
    let unread: Vec<&str> = params
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !allowed.contains(k) && *k != "timestamp" && *k != "recvWindow")
        .collect();
    if unread.is_empty() {
        return Ok(());
    }
    Err(bad(
        -1104,
        &format!(
            "Not all sent parameters were read; read '{}' parameter(s) but was sent '{}'.",
            params.len() - unread.len(),
            params.len()
        ),
    ))
}

pub(super) fn symbol_of(inner: &Inner, params: &Params) -> Result<usize, Refusal> {
    let Some(s) = param(params, "symbol") else {
        return Err(missing("symbol"));
    };
    inner
        .by_upper
        .get(s)
        .copied()
        .ok_or_else(|| bad(-1121, MSG_BAD_SYMBOL))
}
