//! `GET /api/redis`: the publisher's connection, buffer and heartbeat state
//! (`{"enabled": false}` when Redis is not configured). Merged into the ops
//! server's router.

use crate::pipeline::shared::Shared;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::json;
use std::sync::Arc;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/redis", get(status))
        .with_state(shared)
}

async fn status(State(shared): State<Arc<Shared>>) -> axum::Json<serde_json::Value> {
    axum::Json(match shared.publish.get() {
        Some(p) => {
            let mut v = p.status.view(crate::core::clock::unix_ms());
            v["emitted"] = json!(p.emitted());
            v
        }
        None => json!({ "enabled": false }),
    })
}
