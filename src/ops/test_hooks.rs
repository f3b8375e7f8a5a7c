//! TEST-ONLY fault injection over HTTP, served only when `[ops] test_hooks =
//! true` (never in production): `POST /api/test/stall/{stage}` freezes a
//! pipeline stage (its thread blocks after its next event, for real, so the
//! watchdog, `/ready` and systemd see a genuinely stuck stage) and
//! `POST /api/test/resume/{stage}` lets it move again. Both need the admin
//! bearer token (`Authorization: Bearer <token>`, the variable `admin.token_env`
//! names), exactly like the other state-changing calls: 401 without it.

use crate::pipeline::shared::{STAGES, Shared};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The test-hook routes, or an empty router when `enabled` is false.
pub fn router(shared: Arc<Shared>, enabled: bool) -> Router {
    if !enabled {
        return Router::new();
    }
    tracing::warn!("[ops] test_hooks = true: POST /api/test/stall|resume/{{stage}} are served");
    Router::new()
        .route("/api/test/stall/{stage}", post(stall))
        .route("/api/test/resume/{stage}", post(resume))
        .with_state(shared)
}

fn set(shared: &Shared, headers: &HeaderMap, stage: &str, hold: bool) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Err(e) = shared.admin.authorize(auth) {
        tracing::warn!(stage, hold, "test hook refused: {e}");
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": e }))).into_response();
    }
    let Some(h) = shared.stage(stage) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "error": format!("unknown stage {}; stages are {}",
                    stage.chars().take(32).collect::<String>(), STAGES.join(", ")),
            })),
        )
            .into_response();
    };
    h.hold.store(hold, Ordering::Release);
    tracing::warn!(stage, hold, "test hook: stage hold changed");
    axum::Json(json!({ "stage": stage, "held": hold })).into_response()
}

async fn stall(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(stage): Path<String>,
) -> Response {
    set(&s, &headers, &stage, true)
}

async fn resume(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(stage): Path<String>,
) -> Response {
    set(&s, &headers, &stage, false)
}
