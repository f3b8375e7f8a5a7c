//! systemd integration over the sd_notify protocol (the `sd-notify` crate):
//! `READY=1` the first time readiness passes, `WATCHDOG=1` only while the
//! pipeline progresses (a stage stuck past its budget stops the petting, so
//! systemd's `WatchdogSec=` restarts the service), `STATUS=` the one-line
//! status, and `STOPPING=1` at shutdown. The ops watchdog calls
//! [`SdNotifier::on_report`] after every readiness evaluation. Without
//! `NOTIFY_SOCKET` in the environment (not under systemd) nothing is sent.

use super::ready::ReadyReport;
use super::status::StatusLine;
use crate::pipeline::shared::Shared;
use sd_notify::NotifyState;
use std::time::{Duration, Instant};

/// `STATUS=` is refreshed at least this often (and on every readiness change).
pub const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Why the pipeline is not progressing (empty = progressing): every
/// `stage_stalled:<stage>` reason, and every book that claims to be in sync
/// but is stale while its venue's feed is connected (`book_stuck:<venue>:<symbol>`:
/// frames arrive, yet the book stage applies nothing).
pub fn stuck_reasons(rep: &ReadyReport) -> Vec<String> {
    let mut out: Vec<String> = rep
        .reasons
        .iter()
        .filter(|r| r.starts_with("stage_stalled:"))
        .cloned()
        .collect();
    if let Some(books) = rep.checks.get("books").and_then(|b| b.as_array()) {
        for b in books {
            let venue = b["venue"].as_str().unwrap_or("");
            let connected = rep.checks["feeds"][venue]["connected"] == true;
            if connected && b["in_sync"] == true && b["fresh"] == false {
                out.push(format!(
                    "book_stuck:{venue}:{}",
                    b["symbol"].as_str().unwrap_or("")
                ));
            }
        }
    }
    out
}

/// Tells systemd the service is stopping (no-op without `NOTIFY_SOCKET`).
pub fn notify_stopping() {
    if let Err(e) = sd_notify::notify(&[NotifyState::Stopping]) {
        tracing::warn!(error = %e, "sd_notify STOPPING failed");
    }
}

/// Sends systemd what the readiness evaluations say.
pub struct SdNotifier {
    enabled: bool,
    watchdog: Option<Duration>,
    ready_sent: bool,
    stopping_sent: bool,
    last_pet: Option<Instant>,
    last_status: Option<Instant>,
    last_ready: Option<bool>,
    /// The stuck reasons of the previous evaluation (for logging changes once).
    last_stuck: Vec<String>,
    status: StatusLine,
}

impl SdNotifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC`/`WATCHDOG_PID` from the environment.
    pub fn from_env() -> Self {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        let watchdog = sd_notify::watchdog_enabled();
        if enabled {
            tracing::info!(
                watchdog_ms = watchdog.map(|d| d.as_millis() as u64),
                "systemd notify socket found: READY/WATCHDOG/STATUS will be sent"
            );
        }
        SdNotifier {
            enabled,
            watchdog,
            ready_sent: false,
            stopping_sent: false,
            last_pet: None,
            last_status: None,
            last_ready: None,
            last_stuck: Vec::new(),
            status: StatusLine::new(),
        }
    }

    /// Whether a notify socket is configured.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Handles one readiness evaluation: READY once, WATCHDOG while
    /// progressing (every half watchdog period), STATUS on change or every
    /// [`STATUS_EVERY`], STOPPING once when shutting down.
    pub fn on_report(&mut self, shared: &Shared, rep: &ReadyReport) {
        if !self.enabled {
            return;
        }
        let stuck = stuck_reasons(rep);
        if stuck != self.last_stuck {
            if stuck.is_empty() {
                tracing::info!("pipeline progresses again: systemd watchdog petting resumes");
            } else {
                tracing::error!(
                    stuck = %stuck.join(","),
                    "pipeline not progressing: systemd watchdog petting stopped"
                );
            }
            self.last_stuck = stuck.clone();
        }
        let shutting_down = !shared.is_running();
        let status_due = self.last_ready != Some(rep.ready)
            || self.last_status.is_none_or(|t| t.elapsed() >= STATUS_EVERY);
        let line = status_due.then(|| {
            let mut l = self.status.render(shared, rep);
            if !stuck.is_empty() {
                l.push_str(" | STUCK ");
                l.push_str(&stuck.join(","));
            }
            l
        });
        let mut msgs: Vec<NotifyState> = Vec::with_capacity(3);
        if shutting_down {
            if !self.stopping_sent {
                msgs.push(NotifyState::Stopping);
                self.stopping_sent = true;
            }
        } else {
            if rep.ready && !self.ready_sent {
                msgs.push(NotifyState::Ready);
                self.ready_sent = true;
            }
            if let Some(wd) = self.watchdog {
                let due = self.last_pet.is_none_or(|t| t.elapsed() >= wd / 2);
                if stuck.is_empty() && due {
                    msgs.push(NotifyState::Watchdog);
                    self.last_pet = Some(Instant::now());
                }
            }
        }
        if let Some(l) = &line {
            msgs.push(NotifyState::Status(l));
            self.last_status = Some(Instant::now());
            self.last_ready = Some(rep.ready);
        }
        if msgs.is_empty() {
            return;
        }
        if let Err(e) = sd_notify::notify(&msgs) {
            tracing::warn!(error = %e, "sd_notify failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(reasons: &[&str], checks: serde_json::Value) -> ReadyReport {
        ReadyReport {
            ready: reasons.is_empty(),
            reasons: reasons.iter().map(|s| s.to_string()).collect(),
            checks,
            trading: Default::default(),
        }
    }

    #[test]
    fn stalled_stage_is_stuck() {
        let r = report(&["stage_stalled:risk", "book_stale:binance:X"], json!({}));
        assert_eq!(stuck_reasons(&r), vec!["stage_stalled:risk"]);
    }

    #[test]
    fn stale_in_sync_book_with_connected_feed_is_stuck() {
        let checks = json!({
            "feeds": {"binance": {"connected": true}, "okx": {"connected": false}},
            "books": [
                {"venue": "binance", "symbol": "BTCUSDT", "in_sync": true, "fresh": false},
                {"venue": "binance", "symbol": "ETHUSDT", "in_sync": false, "fresh": false},
                {"venue": "binance", "symbol": "SOLUSDT", "in_sync": true, "fresh": true},
                {"venue": "okx", "symbol": "BTC-USDT", "in_sync": true, "fresh": false},
            ],
        });
        let r = report(&["book_stale:binance:BTCUSDT"], checks);
        assert_eq!(stuck_reasons(&r), vec!["book_stuck:binance:BTCUSDT"]);
    }

    #[test]
    fn healthy_and_startup_are_not_stuck() {
        assert!(stuck_reasons(&report(&[], json!({}))).is_empty());
        let r = report(
            &["feed_disconnected:binance", "pipeline_idle"],
            json!({"feeds": {"binance": {"connected": false}},
                   "books": [{"venue": "binance", "symbol": "X", "in_sync": false, "fresh": false}]}),
        );
        assert!(stuck_reasons(&r).is_empty());
    }
}
