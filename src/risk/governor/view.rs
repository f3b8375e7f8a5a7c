//! The API view: verdict counts, the JSON of `GET /api/risk`
//! ([`Governor::view`]) and `GET /api/circuit-breaker/status`
//! ([`Governor::breaker_status`]).

use super::Governor;
use crate::core::Money;
use crate::core::Verdict;
use crate::core::clock::format_day;
use crate::pipeline::heartbeat::is_fresh;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

impl Governor {
    /// Verdicts so far: EXECUTE count and SKIP count per reason (summed over
    /// details for `circuit_open` and `heartbeat_missing`).
    pub fn verdict_count(&self, v: Verdict) -> u64 {
        match v {
            Verdict::Execute => self.verdicts[0],
            Verdict::Skip(r) => {
                let base = r.as_str();
                self.labels
                    .iter()
                    .zip(&self.verdicts)
                    .skip(1)
                    .filter(|(l, _)| {
                        let l: &str = l;
                        l == base || l.strip_prefix(base).is_some_and(|x| x.starts_with(':'))
                    })
                    .map(|(_, n)| n)
                    .sum()
            }
        }
    }

    /// Count of one full verdict label (`circuit_open:manual`, ...).
    pub fn label_count(&self, label: &str) -> u64 {
        self.labels
            .iter()
            .position(|l| &**l == label)
            .map(|k| self.verdicts[k])
            .unwrap_or(0)
    }

    /// `GET /api/circuit-breaker/status`.
    pub fn breaker_status(&self) -> Value {
        let c = self.day_state();
        let now = self.clock.unix_ms();
        let (state, reason, detail, since) = match self.breaker.trip_info() {
            Some(t) => (
                "OPEN",
                t.reason.as_str(),
                t.detail.as_str(),
                Some(t.since_ms),
            ),
            None => ("CLOSED", "", "", None),
        };
        json!({
            "state": state,
            "reason": reason,
            "detail": detail,
            "since_ms": since,
            "since": since.map(crate::journal::report::fmt_ms),
            "open_for_secs": since.map(|s| (now - s).max(0) / 1000),
            "cooldown_secs": self.cfg.breaker.cooldown_secs,
            "counters": {
                "trips": self.breaker.trips,
                "resets": self.breaker.resets,
                "utc_day": format_day(c.day),
                "daily_realized_pnl": c.realized_net().to_f64(),
                "equity": c.equity.to_f64(),
                "peak_equity": c.peak.to_f64(),
                "drawdown": c.drawdown().to_f64(),
                "consecutive_losses": c.losses,
                "consecutive_rejects": c.rejects,
                "loss_acknowledged": c.loss_ack,
                "loss_floor": c.loss_floor.to_f64(),
                "loss_past_floor": c.loss_past_floor().to_f64(),
            },
            "thresholds": {
                "max_daily_loss": self.cfg.max_daily_loss,
                "max_drawdown": self.cfg.max_drawdown,
                "max_consecutive_losses": self.cfg.max_consecutive_losses,
                "max_consecutive_rejects": self.cfg.max_consecutive_rejects,
            },
        })
    }

    /// The published view (JSON, for `GET /api/risk` and `Shared::risk`).
    pub fn view(&self) -> Value {
        let mut positions = serde_json::Map::new();
        let mut limits = serde_json::Map::new();
        let mut pos_notional = serde_json::Map::new();
        for inst in self.instruments.iter() {
            let i = inst.id.idx();
            let key = format!("{}:{}", inst.venue.as_str(), inst.symbol);
            positions.insert(
                key.clone(),
                json!(inst.qty_f64(self.positions.get(i).copied().unwrap_or(0))),
            );
            pos_notional.insert(
                key.clone(),
                json!(
                    self.max_pos_notional
                        .get(i)
                        .copied()
                        .unwrap_or(Money::ZERO)
                        .to_f64()
                ),
            );
            limits.insert(
                key,
                json!(inst.qty_f64(self.max_position.get(i).copied().unwrap_or(0))),
            );
        }
        let mut reasons = serde_json::Map::new();
        for (l, n) in self.labels.iter().zip(&self.verdicts).skip(1) {
            reasons.insert(l.to_string(), json!(n));
        }
        let now = self.clock.unix_ms();
        let heartbeats: Vec<Value> = self
            .gates
            .iter()
            .map(|g| {
                let t = g.slot.load(Ordering::Relaxed);
                json!({
                    "service": g.service,
                    "policy": if g.required { "required" } else { "advisory" },
                    "max_age_ms": g.max_age_ms,
                    "last_seen_ms": (t > 0).then_some(t),
                    "age_ms": (t > 0).then(|| now.saturating_sub(t)),
                    "stale": !is_fresh(t, now, g.max_age_ms),
                })
            })
            .collect();
        let c = self.day_state();
        // The live path's venue gates, per traded venue (testnet/live).
        let venue_gates: Vec<Value> = match &self.venue_gates {
            None => Vec::new(),
            Some(g) => crate::core::Venue::ALL
                .into_iter()
                .filter(|v| self.instruments.of_venue(*v).next().is_some())
                .map(|v| {
                    json!({
                        "venue": v.as_str(),
                        "private_stream_up": g.private_stream_up(v),
                        "rest_stopped": g.rest_stopped(v, now),
                        "order_rate_paused": g.order_rate_paused(v, now),
                    })
                })
                .collect(),
        };
        json!({
            "mode": self.mode.as_str(),
            "venue_gates": venue_gates,
            "utc_day": format_day(c.day),
            "daily_trades": c.trades,
            "daily_trade_cap": self.cfg.daily_trade_cap,
            "daily_trade_cap_warning": self.cap_warned,
            "daily_realized_pnl": c.realized_net().to_f64(),
            "daily_fees": c.fees.to_f64(),
            "equity": c.equity.to_f64(),
            "peak_equity": c.peak.to_f64(),
            "drawdown": c.drawdown().to_f64(),
            "consecutive_losses": c.losses,
            "consecutive_rejects": c.rejects,
            "kill_switch": self.kill_switch,
            "kill_switch_reason": self.kill_reason,
            "circuit_breaker": self.breaker_status(),
            "positions": positions,
            "open_orders": self.open.len(),
            "next_client_order_id": self.next_coid,
            "heartbeats": heartbeats,
            "limits": {
                "max_order_notional": self.cfg.max_order_notional,
                "max_orders_per_sec": self.cfg.max_orders_per_sec,
                "max_orders_per_min": self.cfg.max_orders_per_min,
                "max_open_orders": self.cfg.max_open_orders,
                "daily_trade_cap": self.cfg.daily_trade_cap,
                "daily_cap_warn_ratio": self.cfg.daily_cap_warn_ratio,
                "skip_flat_sell": self.cfg.skip_flat_sell,
                "max_book_age_ms": self.cfg.max_book_age_ms,
                "price_band_bps": self.cfg.price_band_bps,
                "max_gross_exposure": self.cfg.max_gross_exposure,
                "max_daily_loss": self.cfg.max_daily_loss,
                "max_drawdown": self.cfg.max_drawdown,
                "max_consecutive_losses": self.cfg.max_consecutive_losses,
                "max_consecutive_rejects": self.cfg.max_consecutive_rejects,
                "max_position": limits,
                "max_position_notional": pos_notional,
            },
            "verdicts": {
                "execute": self.verdicts[0],
                "skip": reasons,
            },
        })
    }
}
