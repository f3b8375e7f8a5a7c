//! The simulator's axum app on one port: the Binance routes
//! (`binance::{ws, rest, orders}`), the Bybit and OKX routes (`venues`,
//! `bybit`, `okx`) and the control API (`control`), plus the small answer
//! helpers they share.

use crate::state::Inner;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Builds the app.
pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .merge(crate::binance::ws::router())
        .merge(crate::binance::rest::router())
        .merge(crate::binance::order_api::router())
        .merge(crate::binance::account_api::router())
        .merge(crate::binance::user_stream::router())
        .merge(crate::venues::conn::router())
        .merge(crate::control::router())
        .with_state(inner)
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A 200 JSON answer.
pub(crate) fn json_ok(body: String) -> Response {
    json_response(StatusCode::OK, body)
}

/// Cuts a frame in half (on a char boundary) to make it invalid JSON.
pub(crate) fn truncate(mut s: String) -> String {
    let mut n = s.len() / 2;
    while n > 0 && !s.is_char_boundary(n) {
        n -= 1;
    }
    s.truncate(n);
    s
}
