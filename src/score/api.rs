//! The model admin API, merged into the ops server's router:
//!
//! | path | answer |
//! |---|---|
//! | `GET /api/model` | live version and features, reload state, shadow progress (decisions, agreement, score correlation), settings, the last reload outcomes |
//! | `POST /api/model/reload` | loads `model.path`, validates it and starts its shadow run: 202 with the candidate, or 422 (bad file: format, features, version, self-test), 409 (a reload is already pending or in shadow), 503 (no path / score stage not running), each with `error` = the reason |
//!
//! The `POST` needs `Authorization: Bearer <token>` like the other admin
//! endpoints (401 otherwise). SIGHUP does the same reload (`main.rs`).

use super::reload::ModelControl;
use crate::pipeline::shared::Shared;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;

/// The routes' state: the shared view and the engine's model control.
#[derive(Clone)]
struct ModelApi {
    shared: Arc<Shared>,
    ctl: Arc<ModelControl>,
}

pub fn router(shared: Arc<Shared>, ctl: Arc<ModelControl>) -> Router {
    Router::new()
        .route("/api/model", get(status))
        .route("/api/model/reload", post(reload))
        .with_state(ModelApi { shared, ctl })
}

async fn status(State(st): State<ModelApi>) -> axum::Json<serde_json::Value> {
    axum::Json(st.ctl.view())
}

/// Runs a reload for `source` (`api`, `sighup`): the reply's status and body.
pub fn reload_now(st: &Shared, ctl: &ModelControl, source: &str) -> (u16, serde_json::Value) {
    let now = crate::core::clock::unix_ms();
    match ctl.reload(source, now, &st.metrics.model) {
        Ok(v) => (202, v),
        Err(r) => (
            r.kind.http_status(),
            json!({ "error": r.reason, "refused": r.kind.label() }),
        ),
    }
}

async fn reload(State(st): State<ModelApi>, headers: HeaderMap) -> Response {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Err(e) = st.shared.admin.authorize(h) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": e }))).into_response();
    }
    let r = tokio::task::spawn_blocking(move || reload_now(&st.shared, &st.ctl, "api")).await;
    match r {
        Ok((code, body)) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(body),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({ "error": format!("reload task failed: {e}") })),
        )
            .into_response(),
    }
}
