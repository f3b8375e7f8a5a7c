//! A small Binance USD-M account client for the simulator's own tests:
//! signed REST calls (HMAC-SHA256 as protocols.md §1.5), the listenKey
//! calls, the private stream, and event helpers.

use super::*;
use crate::binance::{SIM_API_KEY, SIM_API_SECRET};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A signed-request client on one simulator.
pub(super) struct Api {
    pub base: String,
    pub ws: String,
    pub http: reqwest::Client,
}

/// Status, body as JSON (Null if not JSON), and the raw headers.
pub(super) type Answer = (u16, serde_json::Value, reqwest::header::HeaderMap);

pub(super) fn sign(payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SIM_API_SECRET.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Api {
    pub(super) fn new(sim: &SimHandle) -> Api {
        Api {
            base: sim.rest_url(),
            ws: sim.ws_url(),
            http: reqwest::Client::new(),
        }
    }

    /// A signed request with `params` in the query string.
    pub(super) async fn signed(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, &str)],
    ) -> Answer {
        let mut q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        q.push(format!("timestamp={}", crate::decimal::unix_ms()));
        let q = q.join("&");
        let url = format!("{}{path}?{q}&signature={}", self.base, sign(&q));
        let r = self
            .http
            .request(method, url)
            .header("X-MBX-APIKEY", SIM_API_KEY)
            .send()
            .await
            .expect("http");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
            headers,
        )
    }

    /// A new order; `extra` beyond symbol/side/type/quantity.
    pub(super) async fn order(&self, params: &[(&str, &str)]) -> Answer {
        self.signed(reqwest::Method::POST, "/fapi/v1/order", params)
            .await
    }

    /// A GTC LIMIT order.
    pub(super) async fn limit(&self, cid: &str, side: &str, px: &str, qty: &str) -> Answer {
        self.order(&[
            ("symbol", "BTCUSDT"),
            ("side", side),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("price", px),
            ("quantity", qty),
            ("newClientOrderId", cid),
            ("newOrderRespType", "RESULT"),
        ])
        .await
    }

    /// A listenKey call (API key only, no signature).
    pub(super) async fn key(&self, method: reqwest::Method, api_key: Option<&str>) -> Answer {
        let mut r = self
            .http
            .request(method, format!("{}/fapi/v1/listenKey", self.base));
        if let Some(k) = api_key {
            r = r.header("X-MBX-APIKEY", k);
        }
        let r = r.send().await.expect("http");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
            headers,
        )
    }

    /// A new listenKey and its private stream (`/private/ws?listenKey=`).
    pub(super) async fn stream(&self) -> (String, Ws) {
        let (s, v, _) = self.key(reqwest::Method::POST, Some(SIM_API_KEY)).await;
        assert_eq!(s, 200, "{v}");
        let key = v["listenKey"].as_str().expect("listenKey").to_string();
        let ws = connect(&format!("{}/private/ws?listenKey={key}", self.ws)).await;
        (key, ws)
    }
}

/// The next private event (panics after `within`).
pub(super) async fn event(ws: &mut Ws, within: Duration) -> serde_json::Value {
    match next_text(ws, within).await {
        Next::Text(t) => serde_json::from_str(&t).expect("event JSON"),
        other => panic!("no event: {other:?}"),
    }
}

/// Events until (and including) the first one `done` accepts.
pub(super) async fn events_until(
    ws: &mut Ws,
    within: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let ev = event(ws, left).await;
        let stop = done(&ev);
        out.push(ev);
        if stop {
            return out;
        }
    }
}

/// True for an `ORDER_TRADE_UPDATE` of client id `cid` with status `x_status`.
pub(super) fn is_update(ev: &serde_json::Value, cid: &str, x_status: &str) -> bool {
    ev["e"] == "ORDER_TRADE_UPDATE" && ev["o"]["c"] == cid && ev["o"]["X"] == x_status
}

/// A scaled BTCUSDT price as the venue writes it.
pub(super) fn px(v: i64) -> String {
    crate::decimal::format_decimal(v, BTC_PX)
}

/// A scaled BTCUSDT quantity as the venue writes it.
pub(super) fn qty(v: i64) -> String {
    crate::decimal::format_decimal(v, BTC_QTY)
}

/// An 8-decimal USDT string as a scaled integer.
pub(super) fn usdt_of(v: &serde_json::Value) -> i128 {
    i128::from(parse_decimal(v.as_str().expect("string").as_bytes(), 8).expect("usdt"))
}

/// The `X-MBX-USED-WEIGHT-1M` of an answer.
pub(super) fn weight(h: &reqwest::header::HeaderMap) -> u64 {
    h["x-mbx-used-weight-1m"].to_str().unwrap().parse().unwrap()
}
