//! The risk admin API, merged into the ops server's router:
//!
//! | path | answer |
//! |---|---|
//! | `GET /api/circuit-breaker/status` | state, reason, since, counters, thresholds |
//! | `POST /api/circuit-breaker/reset[?override=true&reason=..]` | 200, or 409 while the trip condition holds; an override needs a reason (400) |
//! | `POST /api/circuit-breaker/trip?reason=..` | opens the breaker by hand (`manual`) |
//! | `GET /api/circuit-breaker/history` | trips and resets, newest first (survives restarts) |
//! | `POST /api/kill-switch?on=true\|false&reason=..` | sets the kill switch |
//! | `GET /api/heartbeats` | every known auxiliary service and its age |
//! | `POST /api/heartbeats/{service}[?ts_ms=..]` | records a heartbeat (now by default) |
//!
//! `POST`s need `Authorization: Bearer <token>`, the token read from the
//! environment variable `admin.token_env` names; without it (or with no
//! token configured) they answer 401. Every change is journaled with the
//! caller's address.

use super::control::RiskControl;
use super::governor::{Command, Reply};
use crate::core::clock::unix_ms;
use crate::pipeline::shared::Shared;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long a command waits for the risk stage.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

type Q = Query<HashMap<String, String>>;

/// The routes' state: the shared view and the line to the risk stage.
#[derive(Clone)]
struct RiskApi {
    shared: Arc<Shared>,
    ctl: Arc<RiskControl>,
}

impl std::ops::Deref for RiskApi {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// The routes above, with their state.
pub fn router(shared: Arc<Shared>, ctl: Arc<RiskControl>) -> Router {
    Router::new()
        .route("/api/circuit-breaker/status", get(status))
        .route("/api/circuit-breaker/history", get(history))
        .route("/api/circuit-breaker/reset", post(reset))
        .route("/api/circuit-breaker/trip", post(trip))
        .route("/api/kill-switch", post(kill_switch))
        .route("/api/heartbeats", get(heartbeats))
        .route("/api/heartbeats/{service}", post(post_heartbeat))
        .with_state(RiskApi { shared, ctl })
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": msg.into() }))).into_response()
}

/// `Some(401 response)` unless the bearer token is right.
fn unauthorized(st: &Shared, headers: &HeaderMap) -> Option<Response> {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    st.admin
        .authorize(h)
        .err()
        .map(|e| error(StatusCode::UNAUTHORIZED, e))
}

fn flag(q: &HashMap<String, String>, key: &str) -> Result<Option<bool>, String> {
    match q.get(key).map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(s) if ["true", "1", "on", "yes"].contains(&s.as_str()) => Ok(Some(true)),
        Some(s) if ["false", "0", "off", "no"].contains(&s.as_str()) => Ok(Some(false)),
        Some(_) => Err(format!("`{key}` must be true or false")),
    }
}

async fn command(st: RiskApi, cmd: Command) -> Response {
    let r = tokio::task::spawn_blocking(move || st.ctl.send(cmd, COMMAND_TIMEOUT)).await;
    match r {
        Ok(Reply::Ok(v)) => axum::Json(v).into_response(),
        Ok(Reply::Refused(code, msg)) => error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            msg,
        ),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "command task failed"),
    }
}

async fn status(State(st): State<RiskApi>) -> Response {
    let v = st.risk.lock().get("circuit_breaker").cloned();
    match v {
        Some(v) => axum::Json(v).into_response(),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "risk stage not started"),
    }
}

async fn history(State(st): State<RiskApi>) -> Response {
    let v = st.ctl.history.lock().clone();
    axum::Json(v).into_response()
}

async fn reset(
    State(st): State<RiskApi>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: Result<Q, QueryRejection>,
) -> Response {
    if let Some(r) = unauthorized(&st, &headers) {
        return r;
    }
    let q = q.map(|x| x.0).unwrap_or_default();
    let override_ = match flag(&q, "override") {
        Ok(v) => v.unwrap_or(false),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let reason = q.get("reason").cloned().unwrap_or_default();
    command(
        st,
        Command::Reset {
            override_,
            reason,
            client: addr.to_string(),
        },
    )
    .await
}

async fn trip(
    State(st): State<RiskApi>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: Result<Q, QueryRejection>,
) -> Response {
    if let Some(r) = unauthorized(&st, &headers) {
        return r;
    }
    let q = q.map(|x| x.0).unwrap_or_default();
    let reason = q.get("reason").cloned().unwrap_or_default();
    command(
        st,
        Command::Trip {
            reason,
            client: addr.to_string(),
        },
    )
    .await
}

async fn kill_switch(
    State(st): State<RiskApi>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: Result<Q, QueryRejection>,
) -> Response {
    if let Some(r) = unauthorized(&st, &headers) {
        return r;
    }
    let q = q.map(|x| x.0).unwrap_or_default();
    let on = match flag(&q, "on") {
        Ok(Some(v)) => v,
        Ok(None) => return error(StatusCode::BAD_REQUEST, "say `on=true` or `on=false`"),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let reason = q.get("reason").cloned().unwrap_or_default();
    command(
        st,
        Command::KillSwitch {
            on,
            reason,
            client: addr.to_string(),
        },
    )
    .await
}

async fn heartbeats(State(st): State<RiskApi>) -> Response {
    let now = unix_ms();
    let v: Vec<Value> = st
        .heartbeats
        .ages(now)
        .into_iter()
        .map(|(s, age)| json!({"service": s, "age_ms": age}))
        .collect();
    axum::Json(Value::Array(v)).into_response()
}

async fn post_heartbeat(
    State(st): State<RiskApi>,
    headers: HeaderMap,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    q: Result<Q, QueryRejection>,
) -> Response {
    if let Some(r) = unauthorized(&st, &headers) {
        return r;
    }
    let Ok(Path(service)) = path else {
        return error(StatusCode::BAD_REQUEST, "bad service name");
    };
    if service.is_empty()
        || service.len() > 64
        || !service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return error(
            StatusCode::BAD_REQUEST,
            "service names are [a-z0-9_-], 1 to 64",
        );
    }
    let q = q.map(|x| x.0).unwrap_or_default();
    let ts = match q.get("ts_ms") {
        None => unix_ms(),
        Some(s) => match s.trim().parse::<i64>() {
            Ok(v) if v > 0 => v,
            _ => return error(StatusCode::BAD_REQUEST, "ts_ms must be a positive integer"),
        },
    };
    match st.heartbeats.record(&service, ts) {
        super::heartbeat::Recorded::Ok => {}
        super::heartbeat::Recorded::Full => {
            return error(StatusCode::INSUFFICIENT_STORAGE, "too many services");
        }
        super::heartbeat::Recorded::Future => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "ts_ms {ts} is more than {} ms ahead of this host's clock ({}): refused (ts_ms is unix milliseconds)",
                    super::heartbeat::FUTURE_TOLERANCE_MS,
                    unix_ms()
                ),
            );
        }
    }
    let ts = ts.min(unix_ms());
    axum::Json(json!({"service": service, "ts_ms": ts})).into_response()
}
