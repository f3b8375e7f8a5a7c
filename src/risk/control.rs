//! The ops side's line to the risk stage: admin commands travel over a
//! small bounded channel to the risk thread (which owns the governor) and
//! are answered there; and the breaker history and recovery summary the risk
//! stage publishes for the API. Owned by the composition root (`crate::app`)
//! and handed to the risk stage and the risk API; the admin bearer token is
//! `crate::pipeline::admin`.

use super::governor::{Command, Reply};
use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;
use serde_json::Value;
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
}
