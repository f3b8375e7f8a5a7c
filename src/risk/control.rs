//! The ops side's line to the risk stage: admin commands travel over a
//! small bounded channel to the risk thread (which owns the governor) and
//! are answered there; the admin bearer token; and the breaker history and
//! recovery summary the risk stage publishes for the API.

use super::governor::{Command, Reply};
use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

/// Commands waiting for the risk stage; beyond, the API answers 503.
pub const COMMAND_QUEUE: usize = 16;

/// One command and where to send its answer.
pub struct Request {
    pub cmd: Command,
    pub reply: Sender<Reply>,
}

pub struct RiskControl {
    tx: Sender<Request>,
    rx: Receiver<Request>,
    /// (name of the environment variable, its value when set and non-empty).
    token: OnceLock<(String, Option<String>)>,
    /// Breaker history, newest first (JSON array), published on change.
    pub history: Mutex<Value>,
    /// What recovery restored at startup (JSON), shown by `/api/risk`.
    pub recovery: Mutex<Value>,
}

impl Default for RiskControl {
    fn default() -> Self {
        Self::new()
    }
}

impl RiskControl {
    pub fn new() -> Self {
        let (tx, rx) = bounded(COMMAND_QUEUE);
        RiskControl {
            tx,
            rx,
            token: OnceLock::new(),
            history: Mutex::new(Value::Array(Vec::new())),
            recovery: Mutex::new(Value::Null),
        }
    }

    /// The risk stage's side of the channel.
    pub fn requests(&self) -> &Receiver<Request> {
        &self.rx
    }

    /// Sends a command to the risk stage and waits for its answer.
    pub fn send(&self, cmd: Command, timeout: Duration) -> Reply {
        let (rtx, rrx) = bounded(1);
        if self.tx.try_send(Request { cmd, reply: rtx }).is_err() {
            return Reply::Refused(503, "risk stage busy: too many pending commands".into());
        }
        rrx.recv_timeout(timeout)
            .unwrap_or_else(|_| Reply::Refused(503, "risk stage did not answer".into()))
    }

    /// Sets the admin token from environment variable `env` (once).
    pub fn load_token(&self, env: &str) {
        let v = std::env::var(env).ok().filter(|v| !v.trim().is_empty());
        let _ = self.token.set((env.to_string(), v));
    }

    /// Checks an `Authorization` header value against the token.
    pub fn authorize(&self, header: Option<&str>) -> Result<(), String> {
        let token = match self.token.get() {
            Some((_, Some(t))) => t,
            Some((env, None)) if !env.is_empty() => {
                return Err(format!(
                    "admin token not configured: set {env} to enable state-changing calls"
                ));
            }
            _ => {
                return Err(
                    "admin token not configured: set admin.token_env and that variable".into(),
                );
            }
        };
        let given = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if !given.is_empty() && constant_time_eq(given.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err("missing or wrong bearer token (Authorization: Bearer <token>)".into())
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_required_and_compared() {
        let c = RiskControl::new();
        assert!(c.authorize(Some("Bearer x")).is_err(), "no token loaded");
        c.load_token("QT_TEST_CONTROL_TOKEN_SURELY_UNSET");
        let e = c.authorize(Some("Bearer x")).unwrap_err();
        assert!(e.contains("QT_TEST_CONTROL_TOKEN_SURELY_UNSET"), "{e}");
        let c = RiskControl::new();
        let _ = c.token.set(("T".into(), Some("abc".into())));
        assert!(c.authorize(Some("Bearer abc")).is_ok());
        assert!(c.authorize(Some("Bearer abd")).is_err());
        assert!(c.authorize(Some("abc")).is_err());
        assert!(c.authorize(None).is_err());
    }
}
