//! OKX v5 (public) as the simulator writes it (protocols.md "OKX"): `books`
//! snapshots and updates with `prevSeqId`/`seqId` chains and the CRC32
//! checksum of the top 25 levels (computed here, independently of the
//! engine), `trades`, `bbo-tbt`, `tickers`, the text `ping`, the
//! subscribe/unsubscribe ops and their replies and errors, and REST
//! `GET /api/v5/public/instruments` and `/api/v5/public/time`. Sizes on the
//! wire are contracts when the instrument has a `ctVal`.

use crate::SimVenue;
use crate::decimal::{format_decimal, unix_ms};
use crate::market::Book;
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

/// OKX `bbo-tbt`: `{"arg":{..},"data":[{"asks":[[px,sz,"0",n]],"bids":[..],"ts":"..","seqId":..}]}`.
pub(crate) fn okx_bbo_json(s: &VSym, top: SimTop, seq: u64, ms: i64) -> String {
    let ((bp, bq), (ap, aq)) = top;
    format!(
        "{{\"arg\":{{\"channel\":\"bbo-tbt\",\"instId\":\"{sym}\"}},\"data\":[{{\"asks\":[[\"{}\",\"{}\",\"0\",\"1\"]],\"bids\":[[\"{}\",\"{}\",\"0\",\"1\"]],\"ts\":\"{ms}\",\"seqId\":{seq}}}]}}",
        s.info.px(ap),
        size_str(s, aq),
        s.info.px(bp),
        size_str(s, bq),
        sym = s.info.symbol
    )
}

/// OKX `tickers` (every field, as the real channel sends them).
pub(crate) fn okx_ticker_json(s: &VSym, top: SimTop, ms: i64) -> String {
    let ((bp, bq), (ap, aq)) = top;
    let px = s.info.px(bp);
    format!(
        "{{\"arg\":{{\"channel\":\"tickers\",\"instId\":\"{sym}\"}},\"data\":[{{\"instType\":\"SWAP\",\"instId\":\"{sym}\",\"last\":\"{px}\",\"lastSz\":\"{lsz}\",\"askPx\":\"{}\",\"askSz\":\"{}\",\"bidPx\":\"{px}\",\"bidSz\":\"{}\",\"open24h\":\"{px}\",\"high24h\":\"{px}\",\"low24h\":\"{px}\",\"sodUtc0\":\"{px}\",\"sodUtc8\":\"{px}\",\"volCcy24h\":\"1000\",\"vol24h\":\"100000\",\"ts\":\"{ms}\"}}]}}",
        s.info.px(ap),
        size_str(s, aq),
        size_str(s, bq),
        lsz = size_str(s, s.ct.map(|c| c.0).unwrap_or(s.info.lot)),
        sym = s.info.symbol
    )
}

/// OKX's checksum over the simulator's book, computed independently of the
/// engine: the string `bid:sz:ask:sz:...` of the top 25 levels, CRC32, i32.
pub(crate) fn okx_checksum(s: &VSym, book: &Book) -> i32 {
    let bids = book.top_bids(25);
    let asks = book.top_asks(25);
    let mut parts: Vec<String> = Vec::with_capacity(100);
    for i in 0..bids.len().max(asks.len()) {
        if let Some((p, q)) = bids.get(i) {
            parts.push(s.info.px(*p));
            parts.push(size_str(s, *q));
        }
        if let Some((p, q)) = asks.get(i) {
            parts.push(s.info.px(*p));
            parts.push(size_str(s, *q));
        }
    }
    crc32fast::hash(parts.join(":").as_bytes()) as i32
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn okx_book_json(
    s: &VSym,
    snapshot: bool,
    prev: i64,
    seq: u64,
    bids: &[(i64, i64)],
    asks: &[(i64, i64)],
    checksum: i32,
    ms: i64,
) -> String {
    let mut o = String::with_capacity(96 + 32 * (bids.len() + asks.len()));
    let _ = write!(
        o,
        "{{\"arg\":{{\"channel\":\"books\",\"instId\":\"{}\"}},\"action\":\"{}\",\"data\":[{{\"asks\":",
        s.info.symbol,
        if snapshot { "snapshot" } else { "update" }
    );
    // OKX lists asks ascending and bids descending.
    let asks_sorted: Vec<(i64, i64)> = asks.to_vec();
    let mut bids_sorted: Vec<(i64, i64)> = bids.to_vec();
    bids_sorted.sort_by_key(|b| std::cmp::Reverse(b.0));
    push_levels(&mut o, s, &asks_sorted, true);
    o.push_str(",\"bids\":");
    push_levels(&mut o, s, &bids_sorted, true);
    let _ = write!(
        o,
        ",\"ts\":\"{ms}\",\"checksum\":{checksum},\"prevSeqId\":{prev},\"seqId\":{seq}}}]}}"
    );
    o
}

pub(crate) fn op(inner: &Inner, conn: &VConn, v: &serde_json::Value, op: &str) {
    let id = v
        .get("id")
        .and_then(|r| r.as_str())
        .unwrap_or("")
        .to_string();
    let args: Vec<(String, String)> = v
        .get("args")
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .map(|x| {
                    let g = |k: &str| x.get(k).and_then(|y| y.as_str()).unwrap_or("").to_string();
                    (g("channel"), g("instId"))
                })
                .collect()
        })
        .unwrap_or_default();
    match op {
        "subscribe" | "unsubscribe" => {
            for (ch, inst) in &args {
                let key = format!("{ch}:{inst}");
                let kind = match ch.as_str() {
                    "books" => Some(Kind::Book),
                    "trades" => Some(Kind::Trade),
                    "tickers" => Some(Kind::Ticker),
                    "bbo-tbt" => Some(Kind::Bbo),
                    "books5" => Some(Kind::Unstreamed),
                    _ => None,
                };
                let idx = inner.venues.index(SimVenue::Okx, inst);
                let (Some(kind), Some(i)) = (kind, idx) else {
                    reject(inner, SimVenue::Okx);
                    conn.push(serde_json::json!({"event":"error","code":"60018","msg":format!("Wrong URL or channel:{ch},instId:{inst} doesn't exist."),"connId":format!("sim-{}", conn.id)}).to_string());
                    continue;
                };
                if op == "subscribe" {
                    conn.push(serde_json::json!({"id": id, "event":"subscribe","arg":{"channel":ch,"instId":inst},"connId":format!("sim-{}", conn.id)}).to_string());
                    add_sub(inner, conn, i, kind, key);
                } else {
                    conn.subs.lock().retain(|s| s.key != key);
                    conn.push(serde_json::json!({"id": id, "event":"unsubscribe","arg":{"channel":ch,"instId":inst},"connId":format!("sim-{}", conn.id)}).to_string());
                }
            }
            note_frame(inner, conn, true);
        }
        _ => {
            note_frame(inner, conn, false);
            conn.push(serde_json::json!({"event":"error","code":"60012","msg":"Invalid request","connId":format!("sim-{}", conn.id)}).to_string());
        }
    }
}

/// OKX's `GET /api/v5/public/time`.
pub(crate) async fn rest_time() -> Response {
    let body = serde_json::json!({"code":"0","msg":"","data":[{"ts": unix_ms().to_string()}]});
    json(StatusCode::OK, body.to_string())
}

pub(crate) async fn rest_instruments(
    State(inner): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("instType").map(String::as_str) != Some("SWAP") {
        return json(
            StatusCode::BAD_REQUEST,
            r#"{"code":"51000","msg":"Parameter instType error","data":[]}"#.into(),
        );
    }
    let want = q.get("instId");
    let data: Vec<serde_json::Value> = inner
        .venues
        .syms
        .iter()
        .filter(|s| s.venue == SimVenue::Okx && want.is_none_or(|w| *w == s.info.symbol))
        .map(|s| {
            let (lot, ctv) = match s.ct {
                Some((m, d)) => (
                    format_decimal(s.info.lot / m, s.info.qty_scale - d),
                    s.ct_str.clone().unwrap_or_else(|| "1".into()),
                ),
                None => (s.info.lot_size.clone(), "1".into()),
            };
            let uly = s.info.symbol.trim_end_matches("-SWAP").to_string();
            serde_json::json!({
                "instType":"SWAP","instId": s.info.symbol,"uly": uly,"instFamily": uly,"ctVal": ctv,"ctMult":"1",
                "ctType":"linear","ctValCcy": uly.split('-').next().unwrap_or(""),"settleCcy":"USDT",
                "tickSz": s.info.tick_size,"lotSz": lot,"minSz": lot,"state":"live","maxLmtSz":"100000000","maxMktSz":"1600"
            })
        })
        .collect();
    json(
        StatusCode::OK,
        serde_json::json!({"code":"0","msg":"","data":data}).to_string(),
    )
}
