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
//! * `orders`: the simulated account (orders, positions, order limits);
//! * `order_api`: the signed order endpoints.

pub(crate) mod auth;
pub(crate) mod order_api;
pub(crate) mod orders;
pub(crate) mod rest;
pub(crate) mod weight;
pub(crate) mod wire;
pub(crate) mod ws;

pub use auth::{DEFAULT_RECV_WINDOW_MS, SIM_API_KEY, SIM_API_SECRET};
pub use orders::{MAX_ORDERS, ORDER_COUNT_1M_HEADER, ORDER_COUNT_10S_HEADER};
pub use weight::{REST_WEIGHT_PER_MIN, USED_WEIGHT_HEADER, depth_weight};
pub(crate) use wire::SymInfo;

use crate::server::json_response;
use axum::http::StatusCode;
use axum::response::Response;

/// An answer with Binance's error body `{"code":..,"msg":".."}`.
pub(crate) fn binance_error(status: StatusCode, code: i64, msg: &str) -> Response {
    json_response(status, wire::error_json(code, msg))
}
