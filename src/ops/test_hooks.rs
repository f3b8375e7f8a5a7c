//! TEST-ONLY fault injection over HTTP, served only when `[ops] test_hooks =
//! true` (never in production): `POST /api/test/stall/{stage}` freezes a
//! pipeline stage (its thread blocks after its next event, for real, so the
//! watchdog, `/ready` and systemd see a genuinely stuck stage) and
//! `POST /api/test/resume/{stage}` lets it move again.

use crate::pipeline::shared::{STAGES, Shared};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
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

fn set(shared: &Shared, stage: &str, hold: bool) -> Response {
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

async fn stall(State(s): State<Arc<Shared>>, Path(stage): Path<String>) -> Response {
    set(&s, &stage, true)
}

async fn resume(State(s): State<Arc<Shared>>, Path(stage): Path<String>) -> Response {
    set(&s, &stage, false)
}
