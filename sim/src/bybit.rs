//! Bybit v5 (public linear) as the simulator writes it (protocols.md
//! "Bybit"): `orderbook.{depth}.{symbol}` snapshots and deltas (`u` +1 per
//! topic, `u == 1` after a service restart), `publicTrade`, `tickers`
//! snapshots and deltas, the subscribe/unsubscribe/ping ops and their
//! replies, and REST `GET /v5/market/instruments-info` and `/v5/market/time`.

use crate::SimVenue;
use crate::decimal::unix_ms;
use crate::server::json_response as json;
use crate::state::Inner;
use crate::venues::conn::{add_sub, note_frame, reject};
use crate::venues::{Kind, SimTop, VConn, VSym, push_levels, size_str};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

type Shared = Arc<Inner>;

pub(crate) fn bybit_book_json(
    s: &VSym,
    snapshot: bool,
    u: u64,
    bids: &[(i64, i64)],
    asks: &[(i64, i64)],
    topic: &str,
    ms: i64,
) -> String {
    let mut o = String::with_capacity(64 + 24 * (bids.len() + asks.len()));
    let _ = write!(
        o,
        "{{\"topic\":\"{topic}\",\"type\":\"{}\",\"ts\":{ms},\"data\":{{\"s\":\"{}\",\"b\":",
        if snapshot { "snapshot" } else { "delta" },
        s.info.symbol
    );
    push_levels(&mut o, s, bids, false);
    o.push_str(",\"a\":");
    push_levels(&mut o, s, asks, false);
    let _ = write!(
        o,
        ",\"u\":{u},\"seq\":{}}},\"cts\":{}}}",
        u * 7 + 100,
        ms - 1
    );
    o
}

/// Bybit `tickers.{symbol}`: a snapshot (every field), or a delta with
/// only the touch fields that differ from `prev` (Bybit omits unchanged
/// fields), like the real linear feed.
pub(crate) fn bybit_ticker_json(
    s: &VSym,
    prev: Option<SimTop>,
    top: SimTop,
    cs: u64,
    ms: i64,
) -> String {
    let ((bp, bq), (ap, aq)) = top;
    let mut o = String::with_capacity(512);
    let _ = write!(
        o,
        "{{\"topic\":\"tickers.{sym}\",\"type\":\"{}\",\"data\":{{\"symbol\":\"{sym}\"",
        if prev.is_none() { "snapshot" } else { "delta" },
        sym = s.info.symbol
    );
    match prev {
        None => {
            let px = s.info.px(bp);
            let _ = write!(
                o,
                ",\"tickDirection\":\"ZeroPlusTick\",\"price24hPcnt\":\"0.001000\",\"lastPrice\":\"{px}\",\"prevPrice24h\":\"{px}\",\"highPrice24h\":\"{px}\",\"lowPrice24h\":\"{px}\",\"prevPrice1h\":\"{px}\",\"markPrice\":\"{px}\",\"indexPrice\":\"{px}\",\"openInterest\":\"1000.000\",\"openInterestValue\":\"1000000.00\",\"turnover24h\":\"1000000.0000\",\"volume24h\":\"1000.0000\",\"nextFundingTime\":\"{}\",\"fundingRate\":\"0.0001\",\"bid1Price\":\"{px}\",\"bid1Size\":\"{}\",\"ask1Price\":\"{}\",\"ask1Size\":\"{}\"",
                ms - ms % 28_800_000 + 28_800_000,
                size_str(s, bq),
                s.info.px(ap),
                size_str(s, aq)
            );
        }
        Some(((pbp, pbq), (pap, paq))) => {
            if bp != pbp {
                let _ = write!(o, ",\"bid1Price\":\"{}\"", s.info.px(bp));
            }
            if bq != pbq {
                let _ = write!(o, ",\"bid1Size\":\"{}\"", size_str(s, bq));
            }
            if ap != pap {
                let _ = write!(o, ",\"ask1Price\":\"{}\"", s.info.px(ap));
            }
            if aq != paq {
                let _ = write!(o, ",\"ask1Size\":\"{}\"", size_str(s, aq));
            }
        }
    }
    let _ = write!(o, "}},\"cs\":{cs},\"ts\":{ms}}}");
    o
}

pub(crate) fn op(inner: &Inner, conn: &VConn, v: &serde_json::Value, op: &str) {
    let req = v
        .get("req_id")
        .and_then(|r| r.as_str())
        .unwrap_or("")
        .to_string();
    let reply = |ok: bool, msg: &str, op: &str| {
        serde_json::json!({"success": ok, "ret_msg": msg, "conn_id": format!("sim-{}", conn.id), "req_id": req, "op": op}).to_string()
    };
    if op == "ping" {
        note_frame(inner, conn, false);
        conn.push(reply(true, "pong", "ping"));
        return;
    }
    let args: Vec<String> = v
        .get("args")
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    match op {
        "subscribe" => {
            let mut bad = Vec::new();
            for a in &args {
                let mut parts = a.split('.');
                let (kind, sym) = match (parts.next(), parts.next(), parts.next()) {
                    (Some("orderbook"), Some("1" | "50" | "200" | "1000"), Some(s)) => {
                        (Kind::Book, s)
                    }
                    (Some("publicTrade"), Some(s), None) => (Kind::Trade, s),
                    (Some("tickers"), Some(s), None) => (Kind::Ticker, s),
                    _ => {
                        bad.push(a.clone());
                        continue;
                    }
                };
                let Some(i) = inner.venues.index(SimVenue::Bybit, sym) else {
                    bad.push(a.clone());
                    continue;
                };
                add_sub(inner, conn, i, kind, a.clone());
            }
            note_frame(inner, conn, true);
            if bad.is_empty() {
                conn.push(reply(true, "", "subscribe"));
            } else {
                reject(inner, SimVenue::Bybit);
                conn.push(reply(
                    false,
                    &format!("error:handler not found,topic:{}", bad.join(",")),
                    "subscribe",
                ));
            }
        }
        "unsubscribe" => {
            conn.subs.lock().retain(|s| !args.contains(&s.key));
            note_frame(inner, conn, true);
            conn.push(reply(true, "", "unsubscribe"));
        }
        _ => {
            note_frame(inner, conn, false);
            conn.push(reply(false, "error:unknown op", op));
        }
    }
}

/// Bybit's `GET /v5/market/time` (the shape of Bybit's documented answer).
pub(crate) async fn rest_time() -> Response {
    let ms = unix_ms();
    let body = serde_json::json!({"retCode":0,"retMsg":"OK","result":{
        "timeSecond": (ms / 1000).to_string(),
        "timeNano": (ms as i128 * 1_000_000).to_string()},"retExtInfo":{},"time":ms});
    json(StatusCode::OK, body.to_string())
}

pub(crate) async fn rest_instruments(
    State(inner): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("category").map(String::as_str) != Some("linear") {
        return json(
            StatusCode::OK,
            r#"{"retCode":10001,"retMsg":"params error: category must be linear here","result":{},"retExtInfo":{},"time":0}"#.into(),
        );
    }
    let want = q.get("symbol");
    let list: Vec<serde_json::Value> = inner
        .venues
        .syms
        .iter()
        .filter(|s| s.venue == SimVenue::Bybit && want.is_none_or(|w| *w == s.info.symbol))
        .map(|s| {
            serde_json::json!({
                "symbol": s.info.symbol, "contractType": "LinearPerpetual", "status": "Trading",
                "priceScale": s.info.price_scale.to_string(),
                "priceFilter": {"minPrice": s.info.tick_size, "maxPrice": "1999999.80", "tickSize": s.info.tick_size},
                "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": s.info.lot_size, "qtyStep": s.info.lot_size,
                    "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000", "minNotionalValue": format!("{}", s.min_notional)},
            })
        })
        .collect();
    let body = serde_json::json!({"retCode":0,"retMsg":"OK","result":{"category":"linear","list":list,"nextPageCursor":""},"retExtInfo":{},"time":unix_ms()});
    json(StatusCode::OK, body.to_string())
}
