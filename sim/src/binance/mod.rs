//! The simulator's Binance USD-M futures venue. Its facts (stream and REST
//! formats, request weights and limits, header names, error codes, the
//! signing rule) are written here from the venue's documentation
//! (`../shared/protocols.md`), never taken from the engine's adapter.
//!
//! * `wire`: the JSON the venue writes (market frames, REST bodies, errors)
//!   and stream-name parsing;
//! * `ws`: the WebSocket market streams and the fan-out to connections;
//! * `rest`: REST market data and the per-IP request weight it is charged to;
//! * `weight`: the request-weight limiter (429/418, `Retry-After`);
//! * `auth`: signed-request checks (API key, timestamp/recvWindow, HMAC);
//! * `orders`: the simulated account's order desk (orders, order limits);
//! * `order_checks`: a new order's parameter and filter checks;
//! * `account`: wallet, fees, leverage, positions, trades, margin;
//! * `matching`: fills at submission and when the market crosses a
//!   resting order;
//! * `events`: the user-data-stream events' JSON;
//! * `user_stream`: listenKeys and the private WebSocket;
//! * `order_api`: the signed order endpoints; `account_api`: the account
//!   endpoints (trades, balance, account, countdownCancelAll, cancel all);
//! * `faults`: the order venue's fault switches and counters.

pub(crate) mod account;
pub(crate) mod account_api;
pub(crate) mod auth;
pub(crate) mod events;
pub(crate) mod faults;
pub(crate) mod matching;
pub(crate) mod order_api;
pub(crate) mod order_checks;
pub(crate) mod orders;
pub(crate) mod rest;
pub(crate) mod user_stream;
pub(crate) mod weight;
pub(crate) mod wire;
pub(crate) mod ws;

pub use account::{
    DEFAULT_LEVERAGE, DEFAULT_MAKER_RATE, DEFAULT_TAKER_RATE, DEFAULT_WALLET_USDT, MAX_TRADES,
};
pub use auth::{DEFAULT_RECV_WINDOW_MS, SIM_API_KEY, SIM_API_SECRET};
pub use faults::MAX_TRACKED_CLIENT_IDS;
pub use orders::{MAX_ORDERS, ORDER_COUNT_1M_HEADER, ORDER_COUNT_10S_HEADER};
pub use user_stream::{KEY_VALIDITY, PRIVATE_QUEUE_CAP};
pub use weight::{REST_WEIGHT_PER_MIN, USED_WEIGHT_HEADER, depth_weight};
pub(crate) use wire::SymInfo;

use crate::server::json_response;
use axum::http::StatusCode;
use axum::response::Response;

/// An answer with Binance's error body `{"code":..,"msg":".."}`.
pub(crate) fn binance_error(status: StatusCode, code: i64, msg: &str) -> Response {
    json_response(status, wire::error_json(code, msg))
}
