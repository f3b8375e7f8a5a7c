//! Binance USD-M signed REST (order entry and reconciliation): HMAC-SHA256
//! signing of the parameters in the order sent (`signature` = lowercase hex
//! of HMAC-SHA256(secret, totalParams), with `recvWindow` and `timestamp`),
//! the `X-MBX-APIKEY` header, API credentials read from the environment
//! variables the config names (never logged: `Debug` redacts them), and the
//! calls: new order, cancel, query, open orders and position risk. Every
//! request goes through the venue's shared REST weight budget
//! ([`crate::venue::weight::RestBudget`]), which reads the used-weight
//! header and stops all requests on a 429/418 until `Retry-After`; the
//! per-account order counters (`X-MBX-ORDER-COUNT-10S`/`-1M`) of the last
//! reply are kept. Groundwork: the exec stage does not use it yet.

use super::orders::{OrderResponse, PositionRisk, SignedError, classify_error};
use crate::venue::weight::{RestBudget, header_u64};
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";
/// Per-account order count of the current 10 s window (lower-case).
pub const ORDER_COUNT_10S_HEADER: &str = "x-mbx-order-count-10s";
/// Per-account order count of the current minute (lower-case).
pub const ORDER_COUNT_1M_HEADER: &str = "x-mbx-order-count-1m";
/// Binance's default `recvWindow` (ms); the maximum is 60000.
pub const DEFAULT_RECV_WINDOW_MS: u64 = 5000;

/// Lowercase hex of HMAC-SHA256(`secret`, `payload`).
pub fn sign(secret: &str, payload: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC-SHA256 takes keys of any length");
    mac.update(payload.as_bytes());
    let mut out = String::with_capacity(64);
    for b in mac.finalize().into_bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// An API key and secret. `Debug` and `Display` never show either.
#[derive(Clone)]
pub struct ApiCredentials {
    key: String,
    secret: String,
}

impl fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiCredentials { key: <redacted>, secret: <redacted> }")
    }
}

impl ApiCredentials {
    pub fn new(key: impl Into<String>, secret: impl Into<String>) -> Self {
        ApiCredentials {
            key: key.into(),
            secret: secret.into(),
        }
    }

    /// Reads the key and secret from the environment variables named in
    /// the config (`api_key_env`, `api_secret_env`). The error names the
    /// variable, never a value.
    pub fn from_env(key_env: &str, secret_env: &str) -> Result<Self, CredentialsError> {
        let read = |name: &str, what: &'static str| -> Result<String, CredentialsError> {
            if name.is_empty() {
                return Err(CredentialsError::NotNamed { what });
            }
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                _ => Err(CredentialsError::Unset {
                    var: name.to_string(),
                    what,
                }),
            }
        };
        Ok(ApiCredentials {
            key: read(key_env, "key")?,
            secret: read(secret_env, "secret")?,
        })
    }
}

/// Why the API credentials could not be read (`what`: `key` or `secret`).
/// Without them the venue cannot be traded: [`CredentialsError::disposition`]
/// is stop trading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("no environment variable named for the API {what}")]
    NotNamed { what: &'static str },
    #[error("environment variable {var} (API {what}) is not set or empty")]
    Unset { var: String, what: &'static str },
}

impl CredentialsError {
    /// Stop trading on the venue: the credentials are missing.
    pub fn disposition(&self) -> crate::venue::error::Disposition {
        crate::venue::error::Disposition::StopTrading
    }
}

/// Percent-encodes a parameter value (RFC 3986 unreserved kept), as it is
/// sent and signed.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The signed query string: `params`, then `recvWindow` and `timestamp`,
/// then `signature` over everything before it.
pub fn signed_query(
    secret: &str,
    params: &[(&str, String)],
    recv_window_ms: u64,
    timestamp_ms: i64,
) -> String {
    let mut q = String::with_capacity(160);
    for (k, v) in params {
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(k);
        q.push('=');
        q.push_str(&encode(v));
    }
    if !q.is_empty() {
        q.push('&');
    }
    let _ = write!(q, "recvWindow={recv_window_ms}&timestamp={timestamp_ms}");
    let sig = sign(secret, &q);
    q.push_str("&signature=");
    q.push_str(&sig);
    q
}

/// Order side on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireSide {
    Buy,
    Sell,
}

/// Time in force of a LIMIT order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeInForce {
    Gtc,
    Ioc,
}

/// The order types this client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewOrderKind {
    Market,
    Limit { price: String, tif: TimeInForce },
}

/// A new order; quantity and price are decimal strings at the
/// instrument's lot and tick, as Binance wants them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub symbol: String,
    pub side: WireSide,
    pub kind: NewOrderKind,
    pub quantity: String,
    /// `newClientOrderId`: `^[.A-Z:/a-z0-9_-]{1,36}$`.
    pub client_order_id: String,
    pub reduce_only: bool,
}

fn valid_client_id(s: &str) -> bool {
    (1..=36).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'_' | b'-'))
}

fn valid_decimal(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && s.bytes().filter(|c| *c == b'.').count() <= 1
}

impl NewOrder {
    /// The request parameters in the order they are sent (and signed).
    pub fn params(&self) -> Result<Vec<(&'static str, String)>, SignedError> {
        if !valid_client_id(&self.client_order_id) {
            return Err(SignedError::Invalid(format!(
                "newClientOrderId `{}` must match ^[.A-Z:/a-z0-9_-]{{1,36}}$",
                self.client_order_id
            )));
        }
        if !valid_decimal(&self.quantity) {
            return Err(SignedError::Invalid(format!(
                "quantity `{}` is not a positive decimal",
                self.quantity
            )));
        }
        let mut p = vec![
            ("symbol", self.symbol.clone()),
            (
                "side",
                match self.side {
                    WireSide::Buy => "BUY",
                    WireSide::Sell => "SELL",
                }
                .to_string(),
            ),
        ];
        match &self.kind {
            NewOrderKind::Market => p.push(("type", "MARKET".into())),
            NewOrderKind::Limit { price, tif } => {
                if !valid_decimal(price) {
                    return Err(SignedError::Invalid(format!(
                        "price `{price}` is not a positive decimal"
                    )));
                }
                p.push(("type", "LIMIT".into()));
                p.push((
                    "timeInForce",
                    match tif {
                        TimeInForce::Gtc => "GTC",
                        TimeInForce::Ioc => "IOC",
                    }
                    .into(),
                ));
                p.push(("price", price.clone()));
            }
        }
        p.push(("quantity", self.quantity.clone()));
        if self.reduce_only {
            p.push(("reduceOnly", "true".into()));
        }
        p.push(("newClientOrderId", self.client_order_id.clone()));
        p.push(("newOrderRespType", "RESULT".into()));
        Ok(p)
    }
}

/// Which order a cancel or query names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRef {
    OrderId(i64),
    ClientOrderId(String),
}

impl OrderRef {
    fn param(&self) -> (&'static str, String) {
        match self {
            OrderRef::OrderId(id) => ("orderId", id.to_string()),
            OrderRef::ClientOrderId(s) => ("origClientOrderId", s.clone()),
        }
    }
}

/// The per-account order counters of the last reply that had them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderCounts {
    pub ten_seconds: Option<u64>,
    pub one_minute: Option<u64>,
}

/// A Binance USD-M signed REST client (async, reqwest).
pub struct SignedClient {
    http: reqwest::Client,
    base: String,
    creds: ApiCredentials,
    budget: Option<RestBudget>,
    recv_window_ms: u64,
    /// Added to the local clock (server time minus local time).
    clock_offset_ms: AtomicI64,
    counts: Mutex<OrderCounts>,
    /// New orders' own connections with a write stamp (tick-to-wire), when
    /// [`SignedClient::with_order_wire`] set them up.
    wire: Option<super::order_wire::OrderWire>,
}

/// A signed request ready to go: its method, full URL (signature
/// included) and REST weight. Signing happens when it is prepared, sending
/// later ([`SignedClient::send_prepared`]).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: reqwest::Method,
    pub path: &'static str,
    pub url: String,
    pub weight: u32,
}

impl fmt::Debug for SignedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedClient")
            .field("base", &self.base)
            .field("creds", &self.creds)
            .field("recv_window_ms", &self.recv_window_ms)
            .finish()
    }
}

impl SignedClient {
    /// A client for `rest_base` (`https://fapi.binance.com`, or the
    /// simulator's URL). `budget` is the venue's shared weight budget.
    pub fn new(rest_base: &str, creds: ApiCredentials, budget: Option<RestBudget>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        SignedClient {
            http,
            base: rest_base.trim_end_matches('/').to_string(),
            creds,
            budget,
            recv_window_ms: DEFAULT_RECV_WINDOW_MS,
            clock_offset_ms: AtomicI64::new(0),
            counts: Mutex::new(OrderCounts::default()),
            wire: None,
        }
    }

    /// New orders ([`SignedClient::send_order_stamped`]) go over their own
    /// keep-alive connections, which stamp when the request's first bytes
    /// are written to the socket (`order_wire`), with the whole-request
    /// `timeout`. Other calls keep the reqwest client.
    pub fn with_order_wire(mut self, timeout: Duration) -> Result<Self, String> {
        self.wire = Some(super::order_wire::OrderWire::new(&self.base, timeout)?);
        Ok(self)
    }

    /// The order connections, when set up.
    pub fn order_wire(&self) -> Option<&super::order_wire::OrderWire> {
        self.wire.as_ref()
    }

    /// Sets `recvWindow` (clamped to Binance's 1..=60000 ms).
    pub fn with_recv_window(mut self, ms: u64) -> Self {
        self.recv_window_ms = ms.clamp(1, 60_000);
        self
    }

    /// Shifts the `timestamp` sent by `offset_ms` (server minus local
    /// clock, from `GET /fapi/v1/time`).
    pub fn with_clock_offset(self, offset_ms: i64) -> Self {
        self.set_clock_offset(offset_ms);
        self
    }

    /// Sets the clock offset (server minus local clock, ms) of the
    /// requests signed from now on.
    pub fn set_clock_offset(&self, offset_ms: i64) {
        self.clock_offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    pub fn clock_offset(&self) -> i64 {
        self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// Replaces the HTTP client's whole-request timeout (default 10 s). A
    /// request that times out is an unknown outcome, never a failure.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        self
    }

    /// The REST base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn api_key(&self) -> &str {
        &self.creds.key
    }

    pub(crate) fn budget(&self) -> Option<&RestBudget> {
        self.budget.as_ref()
    }

    /// The order counters of the last reply that carried them.
    pub fn order_counts(&self) -> OrderCounts {
        *self.counts.lock()
    }

    fn timestamp(&self) -> i64 {
        crate::core::clock::unix_ms() + self.clock_offset()
    }

    /// Signs a request now (timestamp, recvWindow, signature).
    pub fn prepare(
        &self,
        method: reqwest::Method,
        path: &'static str,
        params: &[(&str, String)],
        weight: u32,
    ) -> Prepared {
        let q = signed_query(
            &self.creds.secret,
            params,
            self.recv_window_ms,
            self.timestamp(),
        );
        Prepared {
            method,
            path,
            url: format!("{}{path}?{q}", self.base),
            weight,
        }
    }

    /// Signs a new order now ([`SignedClient::send_prepared`] sends it).
    pub fn prepare_new_order(&self, o: &NewOrder) -> Result<Prepared, SignedError> {
        let p = o.params()?;
        Ok(self.prepare(reqwest::Method::POST, "/fapi/v1/order", &p, 0))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &'static str,
        params: &[(&str, String)],
        weight: u32,
    ) -> Result<T, SignedError> {
        if let Some(b) = &self.budget {
            b.acquire(weight, None).await;
        }
        let p = self.prepare(method, path, params, weight);
        self.execute(&p).await
    }

    /// Sends a prepared request without waiting on the weight budget (an
    /// order weighs 0; the caller checks that no 429 stop is in force).
    pub async fn send_prepared<T: DeserializeOwned>(&self, p: &Prepared) -> Result<T, SignedError> {
        self.execute(p).await
    }

    /// A signed call (budget, signature) that the session module defines.
    pub async fn call_signed<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &'static str,
        params: &[(&str, String)],
        weight: u32,
    ) -> Result<T, SignedError> {
        self.call(method, path, params, weight).await
    }

    /// Sends a prepared new order over the order connections when they are
    /// set up (else as [`SignedClient::send_prepared`]); with the answer,
    /// when its first bytes were written to the socket (`now_ns()`), if
    /// known. Same budget bookkeeping and error mapping as every call.
    pub async fn send_order_stamped<T: DeserializeOwned>(
        &self,
        p: &Prepared,
    ) -> (Result<T, SignedError>, Option<u64>) {
        let Some(wire) = &self.wire else {
            return (self.execute(p).await, None);
        };
        let Some(pq) = p.url.strip_prefix(self.base.as_str()) else {
            return (
                Err(SignedError::Invalid(format!(
                    "{}: not under the client's base",
                    p.path
                ))),
                None,
            );
        };
        match wire
            .send(&p.method, pq, &[(API_KEY_HEADER, self.creds.key.as_str())])
            .await
        {
            Ok(r) => (
                self.read_reply(p.path, r.status, &r.headers, &r.body),
                r.wire_ns,
            ),
            Err(e) => (Err(SignedError::Transport(e.detail)), e.wire_ns),
        }
    }

    async fn execute<T: DeserializeOwned>(&self, p: &Prepared) -> Result<T, SignedError> {
        let resp = self
            .http
            .request(p.method.clone(), &p.url)
            .header(API_KEY_HEADER, &self.creds.key)
            .send()
            .await
            .map_err(|e| SignedError::Transport(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| SignedError::Transport(e.without_url().to_string()))?;
        self.read_reply(p.path, status, &headers, &body)
    }

    /// An answer's meaning: the budget and order counters from its
    /// headers, then the body or the typed error.
    fn read_reply<T: DeserializeOwned>(
        &self,
        path: &str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<T, SignedError> {
        if let Some(b) = &self.budget {
            b.on_response(status, headers);
        }
        let num = |name: &str| header_u64(headers, name);
        let (c10, c1m) = (num(ORDER_COUNT_10S_HEADER), num(ORDER_COUNT_1M_HEADER));
        if c10.is_some() || c1m.is_some() {
            *self.counts.lock() = OrderCounts {
                ten_seconds: c10,
                one_minute: c1m,
            };
        }
        let retry_after = num("retry-after");
        if !(200..300).contains(&status) {
            return Err(classify_error(status, body, retry_after));
        }
        serde_json::from_slice(body).map_err(|e| {
            SignedError::Decode(format!(
                "{path}: {e}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        })
    }

    /// A signed `GET` of `path` with `params` (plus `recvWindow`,
    /// `timestamp`, `signature`), charged `weight` in the REST budget.
    pub async fn get_signed<T: DeserializeOwned>(
        &self,
        path: &'static str,
        params: &[(&str, String)],
        weight: u32,
    ) -> Result<T, SignedError> {
        self.call(reqwest::Method::GET, path, params, weight).await
    }

    /// `POST /fapi/v1/order` with `newOrderRespType=RESULT`.
    pub async fn new_order(&self, o: &NewOrder) -> Result<OrderResponse, SignedError> {
        let p = o.params()?;
        self.call(reqwest::Method::POST, "/fapi/v1/order", &p, 1)
            .await
    }

    /// `DELETE /fapi/v1/order`.
    pub async fn cancel_order(
        &self,
        symbol: &str,
        which: &OrderRef,
    ) -> Result<OrderResponse, SignedError> {
        let p = [("symbol", symbol.to_string()), which.param()];
        self.call(reqwest::Method::DELETE, "/fapi/v1/order", &p, 1)
            .await
    }

    /// `GET /fapi/v1/order`.
    pub async fn query_order(
        &self,
        symbol: &str,
        which: &OrderRef,
    ) -> Result<OrderResponse, SignedError> {
        let p = [("symbol", symbol.to_string()), which.param()];
        self.call(reqwest::Method::GET, "/fapi/v1/order", &p, 1)
            .await
    }

    /// `GET /fapi/v1/openOrders` for one symbol (weight 1) or all (40).
    pub async fn open_orders(
        &self,
        symbol: Option<&str>,
    ) -> Result<Vec<OrderResponse>, SignedError> {
        let weight = if symbol.is_some() { 1 } else { 40 };
        self.call(
            reqwest::Method::GET,
            "/fapi/v1/openOrders",
            &symbol_param(symbol),
            weight,
        )
        .await
    }

    /// `GET /fapi/v3/positionRisk` (weight 5), for reconciliation.
    pub async fn position_risk(
        &self,
        symbol: Option<&str>,
    ) -> Result<Vec<PositionRisk>, SignedError> {
        self.call(
            reqwest::Method::GET,
            "/fapi/v3/positionRisk",
            &symbol_param(symbol),
            5,
        )
        .await
    }
}

/// `symbol=…` when one is given.
fn symbol_param(symbol: Option<&str>) -> Vec<(&'static str, String)> {
    symbol
        .map(|s| ("symbol", s.to_string()))
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    /// Binance's published example (SIGNED endpoint, HMAC).
    #[test]
    fn signs_the_documented_example() {
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            sign(DOC_SECRET, payload),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        let q = signed_query(
            DOC_SECRET,
            &[
                ("symbol", "LTCBTC".into()),
                ("side", "BUY".into()),
                ("type", "LIMIT".into()),
                ("timeInForce", "GTC".into()),
                ("quantity", "1".into()),
                ("price", "0.1".into()),
            ],
            5000,
            1499827319559,
        );
        assert_eq!(
            q,
            format!(
                "{payload}&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
            )
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let c = ApiCredentials::new(DOC_KEY, DOC_SECRET);
        let client = SignedClient::new("http://127.0.0.1:1", c.clone(), None);
        for s in [format!("{c:?}"), format!("{client:?}")] {
            assert!(!s.contains(DOC_KEY) && !s.contains(DOC_SECRET), "{s}");
            assert!(s.contains("<redacted>"), "{s}");
        }
    }

    #[test]
    fn credentials_come_from_the_named_variables() {
        let e = ApiCredentials::from_env("QT_SIGNED_TEST_SURELY_UNSET_K", "X").unwrap_err();
        assert_eq!(
            e.disposition(),
            crate::venue::error::Disposition::StopTrading
        );
        let e = e.to_string();
        assert!(e.contains("QT_SIGNED_TEST_SURELY_UNSET_K"), "{e}");
        assert_eq!(
            ApiCredentials::from_env("", "").unwrap_err(),
            CredentialsError::NotNamed { what: "key" }
        );
        // PATH is always set; a secret variable must be named too.
        let e = ApiCredentials::from_env("PATH", "QT_SIGNED_TEST_SURELY_UNSET_S")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("QT_SIGNED_TEST_SURELY_UNSET_S") && !e.contains('/'),
            "{e}"
        );
    }

    #[test]
    fn order_params_in_wire_order_and_validated() {
        let mut o = NewOrder {
            symbol: "BTCUSDT".into(),
            side: WireSide::Sell,
            kind: NewOrderKind::Limit {
                price: "50000.10".into(),
                tif: TimeInForce::Ioc,
            },
            quantity: "0.010".into(),
            client_order_id: "qt-42".into(),
            reduce_only: false,
        };
        let p = o.params().unwrap();
        let keys: Vec<&str> = p.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "symbol",
                "side",
                "type",
                "timeInForce",
                "price",
                "quantity",
                "newClientOrderId",
                "newOrderRespType"
            ]
        );
        o.client_order_id = "bad id!".into();
        assert!(matches!(o.params(), Err(SignedError::Invalid(_))));
        o.client_order_id = "x".repeat(37);
        assert!(o.params().is_err());
        o.client_order_id = "ok".into();
        o.quantity = "-1".into();
        assert!(o.params().is_err());
        assert_eq!(encode("a b&c=d"), "a%20b%26c%3Dd");
    }
}
