//! The Binance USD-M REST calls of the trading session beyond order entry
//! (`signed`): server time and the clock offset, `userTrades`, the
//! listenKey (`POST`/`PUT`/`DELETE /fapi/v1/listenKey`, API key only, no
//! signature), `countdownCancelAll`, `allOpenOrders` (cancel), `exchangeInfo`
//! (the order-rate limits), and what an order object or a trade
//! means for the lifecycle (`exec::lifecycle`), with exact decimals.

use crate::core::{InstrumentId, MONEY_SCALE, Money, parse_decimal};
use crate::exec::lifecycle::{Fee, Fill, LifeEvent, QueryAnswer, VenueState};
use crate::venue::binance::orders::{OrderResponse, SignedError, VenueOrderStatus, classify_error};
use crate::venue::binance::signed::{API_KEY_HEADER, SignedClient};
use crate::venue::weight::header_u64;
use serde::Deserialize;

/// One entry of `GET /fapi/v1/userTrades`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserTrade {
    pub symbol: String,
    pub id: i64,
    pub order_id: i64,
    pub side: String,
    pub price: String,
    pub qty: String,
    pub commission: String,
    pub commission_asset: String,
    #[serde(default)]
    pub time: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerTime {
    server_time: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListenKey {
    listen_key: String,
}

/// Measures the clock offset (server minus local, ms) with one
/// `GET /fapi/v1/time`: the server time against the midpoint of the local
/// clock before and after.
pub async fn measure_offset(c: &SignedClient) -> Result<i64, SignedError> {
    if let Some(b) = c.budget() {
        b.acquire(1, None).await;
    }
    let before = crate::core::clock::unix_ms();
    let resp = c
        .http()
        .get(format!("{}/fapi/v1/time", c.base()))
        .send()
        .await
        .map_err(|e| SignedError::Transport(e.without_url().to_string()))?;
    let after = crate::core::clock::unix_ms();
    let body = read(c, resp).await?;
    let t: ServerTime =
        serde_json::from_slice(&body).map_err(|e| SignedError::Decode(e.to_string()))?;
    Ok(t.server_time - (before + after) / 2)
}

async fn read(c: &SignedClient, resp: reqwest::Response) -> Result<Vec<u8>, SignedError> {
    let status = resp.status().as_u16();
    if let Some(b) = c.budget() {
        b.on_response(status, resp.headers());
    }
    let retry_after = header_u64(resp.headers(), "retry-after");
    let body = resp
        .bytes()
        .await
        .map_err(|e| SignedError::Transport(e.without_url().to_string()))?;
    if !(200..300).contains(&status) {
        return Err(classify_error(status, &body, retry_after));
    }
    Ok(body.to_vec())
}

/// `GET /fapi/v1/exchangeInfo` (weight 1, unsigned) of the trading
/// endpoint: the account's limits (`order_rate::parse_limits`).
pub async fn exchange_info(c: &SignedClient) -> Result<Vec<u8>, SignedError> {
    if let Some(b) = c.budget() {
        b.acquire(1, None).await;
    }
    let resp = c
        .http()
        .get(format!("{}/fapi/v1/exchangeInfo", c.base()))
        .send()
        .await
        .map_err(|e| SignedError::Transport(e.without_url().to_string()))?;
    read(c, resp).await
}

/// A listenKey call (`POST` creates or extends, `PUT` keeps alive,
/// `DELETE` closes); weight 1, API key header, no signature.
async fn listen_key_call(
    c: &SignedClient,
    method: reqwest::Method,
    key: Option<&str>,
) -> Result<Vec<u8>, SignedError> {
    if let Some(b) = c.budget() {
        b.acquire(1, None).await;
    }
    let mut url = format!("{}/fapi/v1/listenKey", c.base());
    if let Some(k) = key {
        url.push_str("?listenKey=");
        url.push_str(k);
    }
    let resp = c
        .http()
        .request(method, &url)
        .header(API_KEY_HEADER, c.api_key())
        .send()
        .await
        .map_err(|e| SignedError::Transport(e.without_url().to_string()))?;
    read(c, resp).await
}

/// `POST /fapi/v1/listenKey`: a new key (or the active one, extended).
pub async fn create_listen_key(c: &SignedClient) -> Result<String, SignedError> {
    let body = listen_key_call(c, reqwest::Method::POST, None).await?;
    let k: ListenKey =
        serde_json::from_slice(&body).map_err(|e| SignedError::Decode(e.to_string()))?;
    if k.listen_key.is_empty()
        || k.listen_key.len() > 128
        || !k.listen_key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(SignedError::Decode("listenKey is not alphanumeric".into()));
    }
    Ok(k.listen_key)
}

/// `PUT /fapi/v1/listenKey`: keeps the key alive another 60 minutes.
pub async fn keepalive_listen_key(c: &SignedClient, key: &str) -> Result<(), SignedError> {
    listen_key_call(c, reqwest::Method::PUT, Some(key))
        .await
        .map(|_| ())
}

/// `DELETE /fapi/v1/listenKey`.
pub async fn close_listen_key(c: &SignedClient, key: &str) -> Result<(), SignedError> {
    listen_key_call(c, reqwest::Method::DELETE, Some(key))
        .await
        .map(|_| ())
}

/// `GET /fapi/v1/userTrades` (weight 5) of `symbol` from trade id
/// `from_id`, or from `start_ms` when no trade id is known yet.
pub async fn user_trades(
    c: &SignedClient,
    symbol: &str,
    from_id: Option<i64>,
    start_ms: Option<i64>,
) -> Result<Vec<UserTrade>, SignedError> {
    let mut p = vec![("symbol", symbol.to_string())];
    if let Some(id) = from_id {
        p.push(("fromId", id.to_string()));
    } else if let Some(t) = start_ms {
        p.push(("startTime", t.to_string()));
    }
    p.push(("limit", "1000".to_string()));
    c.call_signed(reqwest::Method::GET, "/fapi/v1/userTrades", &p, 5)
        .await
}

/// `POST /fapi/v1/countdownCancelAll` (weight 10): the venue cancels every
/// open order of `symbol` unless re-armed within `countdown_ms` (0 disarms).
pub async fn countdown_cancel_all(
    c: &SignedClient,
    symbol: &str,
    countdown_ms: u64,
) -> Result<serde_json::Value, SignedError> {
    let p = [
        ("symbol", symbol.to_string()),
        ("countdownTime", countdown_ms.to_string()),
    ];
    c.call_signed(reqwest::Method::POST, "/fapi/v1/countdownCancelAll", &p, 10)
        .await
}

/// `DELETE /fapi/v1/allOpenOrders` (weight 1): cancels every open order
/// of `symbol`.
pub async fn cancel_all_open(
    c: &SignedClient,
    symbol: &str,
) -> Result<serde_json::Value, SignedError> {
    let p = [("symbol", symbol.to_string())];
    c.call_signed(reqwest::Method::DELETE, "/fapi/v1/allOpenOrders", &p, 1)
        .await
}

/// Why a venue reply cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReply(pub String);

/// What an order object (new order `RESULT`, query, open orders) says.
pub fn order_events(r: &OrderResponse, qty_scale: u8) -> Result<Vec<LifeEvent>, BadReply> {
    let cum = parse_decimal(r.executed_qty.as_bytes(), qty_scale)
        .map_err(|_| BadReply(format!("executedQty `{}`", clip(&r.executed_qty))))?;
    if cum < 0 {
        return Err(BadReply("executedQty below zero".into()));
    }
    let state = match r.status {
        VenueOrderStatus::New | VenueOrderStatus::PartiallyFilled => VenueState::Live,
        VenueOrderStatus::Filled => VenueState::Filled,
        VenueOrderStatus::Canceled => VenueState::Canceled,
        VenueOrderStatus::Expired | VenueOrderStatus::ExpiredInMatch => VenueState::Expired,
        VenueOrderStatus::Rejected => VenueState::Rejected,
    };
    Ok(vec![LifeEvent::Query(QueryAnswer::Found {
        state,
        cum_qty: cum,
        venue_order_id: Some(r.order_id.to_string()),
    })])
}

/// A REST trade as a lifecycle fill (commission included).
pub fn trade_fill(t: &UserTrade, qty_scale: u8, price_scale: u8) -> Result<LifeEvent, BadReply> {
    let qty = parse_decimal(t.qty.as_bytes(), qty_scale)
        .map_err(|_| BadReply(format!("qty `{}`", clip(&t.qty))))?;
    let px = parse_decimal(t.price.as_bytes(), price_scale)
        .map_err(|_| BadReply(format!("price `{}`", clip(&t.price))))?;
    let fee = parse_decimal(t.commission.as_bytes(), MONEY_SCALE)
        .map_err(|_| BadReply(format!("commission `{}`", clip(&t.commission))))?;
    if t.id <= 0 || qty <= 0 || px <= 0 {
        return Err(BadReply(format!("trade {} not a fill", t.id)));
    }
    Ok(LifeEvent::Fill(Fill {
        trade_id: t.id.to_string(),
        qty,
        px,
        fee: Some(Fee {
            amount: Money(fee),
            asset: clip(&t.commission_asset),
        }),
    }))
}

/// The instrument of a trade's symbol.
pub fn inst_of(
    syms: &crate::venue::binance::SymbolMap,
    symbol: &str,
) -> Option<(InstrumentId, u8, u8)> {
    syms.get(symbol).map(|i| (i.id, i.qty_scale, i.price_scale))
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}
