//! Breaker control: tripping and closing the circuit breaker (journaled,
//! counted), the admin [`Command`]s (reset with or without override,
//! manual trip, kill switch) and periodic housekeeping (cool-down,
//! heartbeat gauges and their log lines).

use super::{Governor, mode_idx};
use crate::core::Money;
use crate::journal::{Change, Event};
use crate::pipeline::heartbeat::is_fresh;
use crate::risk::breaker::TripReason;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// A state-changing admin request, carried to the risk stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Close the breaker; `override_` forces it while a condition holds.
    Reset {
        override_: bool,
        reason: String,
        client: String,
    },
    /// Open the breaker by hand.
    Trip { reason: String, client: String },
    KillSwitch {
        on: bool,
        reason: String,
        client: String,
    },
}

/// The answer to a [`Command`]: a JSON body, or an HTTP status and error.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ok(Value),
    Refused(u16, String),
}

impl Governor {
    pub(super) fn trip(&mut self, r: TripReason, detail: String) {
        self.trip_by(r, detail, "auto", String::new());
    }

    pub(super) fn trip_by(
        &mut self,
        r: TripReason,
        detail: String,
        by: &'static str,
        client: String,
    ) -> bool {
        let Some(c) = self.breaker.trip(r, detail, by, client, self.now_ms) else {
            return false;
        };
        tracing::warn!(reason = r.as_str(), detail = %c.detail, by, "circuit breaker OPEN");
        if let Some(m) = &self.metrics {
            m.breaker_open.set(1);
            m.breaker_trips.with_label_values(&[r.as_str()]).inc();
        }
        self.journal_event(Event::Breaker {
            open: true,
            change: Box::new(c),
        });
        true
    }

    /// Conditions that hold now and would re-trip the breaker.
    pub fn holding_conditions(&mut self) -> Vec<String> {
        self.tick();
        let cfg_loss = self.limits.max_daily_loss;
        let cfg_dd = self.limits.max_drawdown;
        let c = self.day_state();
        let mut v = Vec::new();
        if cfg_loss > Money::ZERO && c.loss_past_floor() > cfg_loss {
            v.push(format!(
                "daily_loss: realized {} today is {} past the floor {}, limit {cfg_loss}",
                c.realized_net(),
                c.loss_past_floor(),
                c.loss_floor
            ));
        }
        if cfg_dd > Money::ZERO && c.drawdown() > cfg_dd {
            v.push(format!(
                "drawdown: {} below today's peak is past {cfg_dd}",
                c.drawdown()
            ));
        }
        v
    }

    /// Applies an admin command (from the API, via the risk stage).
    pub fn apply(&mut self, cmd: Command) -> Reply {
        self.tick();
        match cmd {
            Command::Reset {
                override_,
                reason,
                client,
            } => {
                let reason = reason.trim().to_string();
                if override_ && reason.is_empty() {
                    return Reply::Refused(400, "an override needs a reason (&reason=...)".into());
                }
                if !self.breaker.is_open() {
                    return Reply::Ok(json!({"state": "CLOSED", "changed": false}));
                }
                let holding = self.holding_conditions();
                if !override_ && !holding.is_empty() {
                    return Reply::Refused(
                        409,
                        format!(
                            "trip condition still holds: {}; reset with override=true&reason=... to force",
                            holding.join("; ")
                        ),
                    );
                }
                let day = self.today();
                if override_ {
                    // The operator accepted today's loss and drawdown so
                    // far: the limits count again from here, so a further
                    // `max_daily_loss` or `max_drawdown` still trips.
                    day.acknowledge();
                }
                day.losses = 0;
                day.rejects = 0;
                let why = if reason.is_empty() {
                    "reset".to_string()
                } else {
                    reason
                };
                let detail = holding.join("; ");
                self.close_breaker(why, detail, "api", client, override_);
                Reply::Ok(json!({"state": "CLOSED", "changed": true, "override": override_}))
            }
            Command::Trip { reason, client } => {
                let reason = reason.trim().to_string();
                if reason.is_empty() {
                    return Reply::Refused(400, "a trip needs a reason (?reason=...)".into());
                }
                if let Some(t) = self.breaker.trip_info() {
                    return Reply::Refused(
                        409,
                        format!("already open: {} ({})", t.reason.as_str(), t.detail),
                    );
                }
                self.trip_by(TripReason::Manual, reason, "api", client);
                Reply::Ok(json!({"state": "OPEN", "reason": "manual", "changed": true}))
            }
            Command::KillSwitch { on, reason, client } => {
                let reason = reason.trim().to_string();
                if reason.is_empty() {
                    return Reply::Refused(
                        400,
                        "the kill switch needs a reason (reason=...)".into(),
                    );
                }
                let changed = self.kill_switch != on;
                self.kill_switch = on;
                self.kill_reason = reason.clone();
                if let Some(m) = &self.metrics {
                    m.kill_switch.set(on as i64);
                }
                tracing::warn!(on, reason = %reason, client = %client, "kill switch set");
                self.journal_event(Event::KillSwitch {
                    on,
                    change: Box::new(Change {
                        reason,
                        detail: String::new(),
                        by: "api",
                        client,
                        override_: false,
                    }),
                });
                Reply::Ok(json!({"kill_switch": on, "changed": changed}))
            }
        }
    }

    pub(super) fn close_breaker(
        &mut self,
        why: String,
        detail: String,
        by: &'static str,
        client: String,
        override_: bool,
    ) {
        if let Some(c) = self
            .breaker
            .close(why, detail, by, client, override_, self.now_ms)
        {
            tracing::warn!(reason = %c.reason, by, client = %c.client, override_, "circuit breaker CLOSED");
            if let Some(m) = &self.metrics {
                m.breaker_open.set(0);
            }
            self.journal_event(Event::Breaker {
                open: false,
                change: Box::new(c),
            });
        }
    }

    /// Periodic work (the stage calls it every ~100 ms): day rollover,
    /// breaker cool-down, heartbeat gauges and their log lines.
    pub fn housekeeping(&mut self) {
        self.tick();
        let cd = self.cfg.breaker.cooldown_secs;
        // Only automatic trips cool down: a manual trip (a desk halt) stays
        // open until someone resets it.
        if cd > 0
            && let Some(t) = self.breaker.trip_info()
            && t.reason != TripReason::Manual
            && self.now_ms.saturating_sub(t.since_ms) >= (cd as i64) * 1000
            && self.holding_conditions().is_empty()
        {
            let day = self.today();
            day.losses = 0;
            day.rejects = 0;
            self.close_breaker(
                format!("cool-down of {cd} s elapsed"),
                String::new(),
                "cooldown",
                String::new(),
                false,
            );
        }
        let now = self.now_ms;
        for g in &mut self.gates {
            let t = g.slot.load(Ordering::Relaxed);
            let stale = !is_fresh(t, now, g.max_age_ms);
            if g.stale != Some(stale) {
                let policy = if g.required { "required" } else { "advisory" };
                if stale {
                    tracing::warn!(
                        service = %g.service,
                        policy,
                        last_seen_ms = t,
                        "auxiliary heartbeat stale or missing{}",
                        if g.required { ": trading blocked" } else { " (advisory: trading goes on)" }
                    );
                } else if g.stale.is_some() {
                    tracing::info!(service = %g.service, policy, "auxiliary heartbeat back");
                }
                g.stale = Some(stale);
                if let Some(m) = &self.metrics {
                    m.heartbeat_stale
                        .with_label_values(&[g.service.as_str(), policy])
                        .set(stale as i64);
                }
            }
        }
        if let Some(m) = &self.metrics {
            let c = self.daily[mode_idx(self.mode)];
            m.consecutive_losses.set(c.losses as i64);
            m.consecutive_rejects.set(c.rejects as i64);
            m.open_orders.set(self.open.len() as i64);
        }
    }
}
