//! Readiness that means *working*: every configured venue's feed connected,
//! every book in sync and fresh, no stage stalled with input waiting, the
//! pipeline has moved at least once, and the engine is not shutting down.
//!
//! [`Readiness`] is owned by the watchdog and keeps, per stage, what it saw at
//! the previous evaluation, so "stalled" is judged from observed progress
//! rather than from clocks written by the stages.

use crate::config::OpsConfig;
use crate::core::Venue;
use crate::ops::trading::{TradingState, TradingTracker};
use crate::pipeline::shared::{STAGES, Shared};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::atomic::Ordering;

/// The outcome of one readiness evaluation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReadyReport {
    pub ready: bool,
    /// Machine-readable reasons (`feed_disconnected:binance`, ...); empty when ready.
    pub reasons: Vec<String>,
    /// What was checked, with the observed values.
    pub checks: Value,
    /// Whether the engine could trade right now (`ops::trading`); readiness
    /// (`ready`) does not depend on it.
    pub trading: TradingState,
}

impl Default for ReadyReport {
    /// Not ready, not yet evaluated.
    fn default() -> Self {
        ReadyReport {
            ready: false,
            reasons: vec!["not_evaluated".into()],
            checks: Value::Object(Map::new()),
            trading: TradingState {
                enabled: false,
                reasons: vec!["not_evaluated".into()],
            },
        }
    }
}

/// What the watchdog remembers about one stage between evaluations.
#[derive(Debug, Clone, Copy, Default)]
struct StageTrack {
    /// `processed` at the previous evaluation.
    processed: u64,
    /// When (watchdog time) `processed` was last seen to move.
    last_move_ns: u64,
    /// Since when input has been seen waiting without progress.
    waiting_since_ns: Option<u64>,
}

/// Readiness evaluator; keeps per-stage progress between evaluations.
#[derive(Debug, Default)]
pub struct Readiness {
    tracks: Option<[StageTrack; STAGES.len()]>,
    trading: TradingTracker,
}

fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Evaluates readiness at `now_ns` (the [`crate::core::now_ns`] clock),
    /// updates `qt_ready` and `qt_stage_stalled{stage}`, and returns the report.
    pub fn evaluate(&mut self, shared: &Shared, cfg: &OpsConfig, now_ns: u64) -> ReadyReport {
        let mut reasons = Vec::new();
        let mut checks = Map::new();

        // Shutdown.
        let shutting_down = !shared.is_running();
        if shutting_down {
            reasons.push("shutting_down".to_string());
        }
        checks.insert("shutting_down".into(), json!(shutting_down));

        // Feeds of the venues that have instruments.
        let mut feeds = Map::new();
        for v in Venue::ALL {
            if shared.instruments.of_venue(v).next().is_none() {
                continue;
            }
            let f = shared.feed(v);
            let connected = f.connected.load(Ordering::Relaxed);
            let last = f.last_msg_ns.load(Ordering::Relaxed);
            if !connected {
                reasons.push(format!("feed_disconnected:{v}"));
            }
            let age = (last > 0).then(|| ms(now_ns.saturating_sub(last)));
            feeds.insert(
                v.as_str().into(),
                json!({
                    "connected": connected,
                    "messages": f.messages.load(Ordering::Relaxed),
                    "last_message_age_ms": age,
                }),
            );
        }
        checks.insert("feeds".into(), Value::Object(feeds));

        // Private streams of the venues with a trading session.
        let mut private = Map::new();
        for v in Venue::ALL {
            let t = shared.trading(v);
            if !t.active.load(Ordering::Relaxed) {
                continue;
            }
            let up = shared.venue_gates.private_stream_up(v);
            let now_ms = crate::core::clock::unix_ms();
            let orders_paused = shared.venue_gates.rest_stopped(v, now_ms)
                || shared.venue_gates.order_rate_paused(v, now_ms);
            if !up {
                reasons.push(format!("private_stream_down:{v}"));
            }
            private.insert(
                v.as_str().into(),
                json!({
                    "up": up,
                    "unresolved_orders": t.unresolved_orders.load(Ordering::Relaxed),
                    "orders_paused": orders_paused,
                }),
            );
        }
        if !private.is_empty() {
            checks.insert("private_streams".into(), Value::Object(private));
        }

        // Books.
        let max_age_ns = cfg.ready_max_book_age_ms.saturating_mul(1_000_000);
        let mut books = Vec::new();
        for inst in shared.instruments.iter() {
            let Some(b) = shared.books.get(inst.id.idx()) else {
                continue;
            };
            let in_sync = b.in_sync.load(Ordering::Relaxed);
            let last = b.last_update_ns.load(Ordering::Relaxed);
            let age_ns = if last == 0 {
                None
            } else {
                Some(now_ns.saturating_sub(last))
            };
            let fresh = matches!(age_ns, Some(a) if a <= max_age_ns);
            if !in_sync {
                reasons.push(format!("book_out_of_sync:{}:{}", inst.venue, inst.symbol));
            }
            if !fresh {
                reasons.push(format!("book_stale:{}:{}", inst.venue, inst.symbol));
            }
            books.push(json!({
                "venue": inst.venue.as_str(),
                "symbol": inst.symbol,
                "in_sync": in_sync,
                "fresh": fresh,
                "age_ms": age_ns.map(ms),
                "update_id": b.update_id.load(Ordering::Relaxed),
            }));
        }
        checks.insert("books".into(), Value::Array(books));

        // Stages.
        let stall_ns = cfg.stall_timeout_ms.saturating_mul(1_000_000);
        let processed: [u64; STAGES.len()] =
            std::array::from_fn(|i| shared.stages[i].processed.load(Ordering::Relaxed));
        let tracks = self.tracks.get_or_insert_with(|| {
            std::array::from_fn(|i| StageTrack {
                processed: processed[i],
                last_move_ns: now_ns,
                waiting_since_ns: None,
            })
        });
        let prev_processed: [u64; STAGES.len()] = std::array::from_fn(|i| tracks[i].processed);
        let mut stages = Map::new();
        for (i, name) in STAGES.iter().enumerate() {
            let st = &shared.stages[i];
            // Input waiting: the stage's own sample, or its input queues'
            // real length (seen even while the stage is stuck mid-event).
            let backlog = st
                .backlog
                .load(Ordering::Relaxed)
                .max(shared.input_waiting(i));
            let delta = processed[i].wrapping_sub(prev_processed[i]);
            let t = &mut tracks[i];
            if delta > 0 {
                t.last_move_ns = now_ns;
                t.waiting_since_ns = None;
            } else if backlog > 0 {
                // Input is waiting; it stays "waiting" until the stage moves.
                t.waiting_since_ns.get_or_insert(now_ns);
            }
            t.processed = processed[i];
            let stalled = match t.waiting_since_ns {
                Some(since) => now_ns.saturating_sub(since.max(t.last_move_ns)) >= stall_ns,
                None => false,
            };
            if stalled {
                reasons.push(format!("stage_stalled:{name}"));
            }
            shared
                .metrics
                .stage_stalled
                .with_label_values(&[name])
                .set(stalled as i64);
            stages.insert(
                (*name).into(),
                json!({
                    "processed": processed[i],
                    "backlog": backlog,
                    "waiting": t.waiting_since_ns.is_some(),
                    "stalled": stalled,
                    "ms_since_progress": ms(now_ns.saturating_sub(t.last_move_ns)),
                }),
            );
        }
        checks.insert("stages".into(), Value::Object(stages));

        if processed[0] == 0 {
            reasons.push("pipeline_idle".to_string());
        }

        // Redis: degraded (still ready) unless `[redis] required = true`.
        if let Some(p) = shared.publish.get() {
            let st = &p.status;
            let up = st.is_connected();
            if !up {
                if st.required {
                    reasons.push("redis_disconnected".to_string());
                } else {
                    checks.insert("degraded".into(), json!(["redis_disconnected"]));
                }
            }
            let mut v = st.view(crate::core::clock::unix_ms());
            v["status"] = json!(if up {
                "up"
            } else if st.required {
                "down"
            } else {
                "degraded"
            });
            checks.insert("redis".into(), v);
        }

        let ready = reasons.is_empty();
        shared.metrics.ready.set(ready as i64);
        let trading = {
            let risk = shared.risk.lock();
            self.trading.evaluate(&risk, ready, now_ns)
        };
        crate::ops::trading::publish_metrics(&shared.metrics, &trading);
        ReadyReport {
            ready,
            reasons,
            checks: Value::Object(checks),
            trading,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    pub(crate) use crate::pipeline::shared::tests::test_shared;

    /// Sets every atomic to a healthy state at `now`.
    pub(crate) fn make_healthy(s: &Shared, now: u64) {
        let f = s.feed(Venue::Binance);
        f.connected.store(true, Ordering::Relaxed);
        f.last_msg_ns.store(now, Ordering::Relaxed);
        for b in &s.books {
            b.in_sync.store(true, Ordering::Relaxed);
            b.last_update_ns.store(now, Ordering::Relaxed);
        }
        for st in &s.stages {
            st.processed.fetch_add(1, Ordering::Relaxed);
            st.last_progress_ns.store(now, Ordering::Relaxed);
            st.backlog.store(0, Ordering::Relaxed);
        }
    }

    fn cfg() -> OpsConfig {
        OpsConfig {
            ready_max_book_age_ms: 5_000,
            stall_timeout_ms: 2_000,
            ..OpsConfig::default()
        }
    }

    fn stalled_gauge(s: &Shared, stage: &str) -> i64 {
        s.metrics.stage_stalled.with_label_values(&[stage]).get()
    }

    #[test]
    fn healthy_is_ready() {
        let s = test_shared();
        let mut r = Readiness::new();
        let now = 10_000 * MS;
        make_healthy(&s, now);
        let rep = r.evaluate(&s, &cfg(), now);
        assert!(rep.ready, "{:?}", rep.reasons);
        assert!(rep.reasons.is_empty());
        assert_eq!(s.metrics.ready.get(), 1);
        assert_eq!(rep.checks["feeds"]["binance"]["connected"], json!(true));
        assert_eq!(rep.checks["books"][1]["symbol"], json!("ETHUSDT"));
        assert_eq!(rep.checks["stages"]["exec"]["processed"], json!(1));
        // Only configured venues are checked.
        assert!(rep.checks["feeds"].get("okx").is_none());
    }

    #[test]
    fn ready_but_not_trading_while_the_kill_switch_is_on() {
        let s = test_shared();
        let mut r = Readiness::new();
        let now = 10_000 * MS;
        make_healthy(&s, now);
        *s.risk.lock() = json!({
            "kill_switch": true,
            "circuit_breaker": {"state": "CLOSED", "reason": ""},
            "heartbeats": [],
        });
        let rep = r.evaluate(&s, &cfg(), now);
        assert!(
            rep.ready,
            "readiness is about working, not trading: {rep:?}"
        );
        assert!(!rep.trading.enabled);
        assert_eq!(rep.trading.reasons, ["kill_switch"]);
        assert_eq!(s.metrics.trading_enabled.get(), 0);
        let body = serde_json::to_value(&rep).unwrap();
        assert_eq!(body["trading"]["enabled"], json!(false), "{body}");
        *s.risk.lock() = json!({
            "kill_switch": false,
            "circuit_breaker": {"state": "OPEN", "reason": "manual"},
            "heartbeats": [{"service": "rl_trainer", "policy": "required", "stale": true}],
        });
        make_healthy(&s, now + MS);
        let rep = r.evaluate(&s, &cfg(), now + MS);
        assert!(rep.ready);
        assert_eq!(
            rep.trading.reasons,
            ["circuit_open:manual", "heartbeat_missing:rl_trainer"]
        );
        *s.risk.lock() = json!({
            "kill_switch": false,
            "circuit_breaker": {"state": "CLOSED", "reason": ""},
            "heartbeats": [{"service": "rl_trainer", "policy": "required", "stale": false}],
        });
        make_healthy(&s, now + 2 * MS);
        let rep = r.evaluate(&s, &cfg(), now + 2 * MS);
        assert!(rep.trading.enabled, "{rep:?}");
        assert_eq!(s.metrics.trading_enabled.get(), 1);
    }

    #[test]
    fn fresh_shared_is_not_ready_with_every_startup_reason() {
        let s = test_shared();
        let mut r = Readiness::new();
        let rep = r.evaluate(&s, &cfg(), 1_000 * MS);
        assert!(!rep.ready);
        for want in [
            "feed_disconnected:binance",
            "book_out_of_sync:binance:BTCUSDT",
            "book_out_of_sync:binance:ETHUSDT",
            "book_stale:binance:BTCUSDT",
            "pipeline_idle",
        ] {
            assert!(rep.reasons.iter().any(|r| r == want), "{want}: {rep:?}");
        }
        assert!(!rep.reasons.iter().any(|r| r.contains("bybit")));
        assert_eq!(s.metrics.ready.get(), 0);
    }

    #[test]
    fn feed_disconnected() {
        let s = test_shared();
        let mut r = Readiness::new();
        let now = 10_000 * MS;
        make_healthy(&s, now);
        s.feed(Venue::Binance)
            .connected
            .store(false, Ordering::Relaxed);
        let rep = r.evaluate(&s, &cfg(), now);
        assert!(!rep.ready);
        assert_eq!(rep.reasons, vec!["feed_disconnected:binance"]);
    }

    #[test]
    fn book_out_of_sync_and_stale() {
        let s = test_shared();
        let mut r = Readiness::new();
        let now = 10_000 * MS;
        make_healthy(&s, now);
        s.books[0].in_sync.store(false, Ordering::Relaxed);
        let rep = r.evaluate(&s, &cfg(), now);
        assert_eq!(rep.reasons, vec!["book_out_of_sync:binance:BTCUSDT"]);

        s.books[0].in_sync.store(true, Ordering::Relaxed);
        // ETHUSDT last updated 5.001 s ago: stale; BTCUSDT exactly 5 s: fresh.
        s.books[0]
            .last_update_ns
            .store(now - 5_000 * MS, Ordering::Relaxed);
        s.books[1]
            .last_update_ns
            .store(now - 5_001 * MS, Ordering::Relaxed);
        let rep = r.evaluate(&s, &cfg(), now);
        assert_eq!(rep.reasons, vec!["book_stale:binance:ETHUSDT"]);
        assert_eq!(rep.checks["books"][1]["age_ms"], json!(5_001));
        assert_eq!(rep.checks["books"][1]["fresh"], json!(false));
    }

    #[test]
    fn pipeline_idle_when_book_never_moved() {
        let s = test_shared();
        let mut r = Readiness::new();
        let now = 10_000 * MS;
        make_healthy(&s, now);
        s.stages[0].processed.store(0, Ordering::Relaxed);
        let rep = Readiness::new().evaluate(&s, &cfg(), now);
        assert_eq!(rep.reasons, vec!["pipeline_idle"]);
        s.stages[0].processed.store(1, Ordering::Relaxed);
        assert!(r.evaluate(&s, &cfg(), now).ready);
    }

    #[test]
    fn shutting_down() {
        let s = test_shared();
        let now = 10_000 * MS;
        make_healthy(&s, now);
        s.running.store(false, Ordering::Relaxed);
        let rep = Readiness::new().evaluate(&s, &cfg(), now);
        assert_eq!(rep.reasons, vec!["shutting_down"]);
        assert_eq!(rep.checks["shutting_down"], json!(true));
    }

    #[test]
    fn stage_stalled_by_backlog() {
        let s = test_shared();
        let mut r = Readiness::new();
        let mut now = 10_000 * MS;
        make_healthy(&s, now);
        assert!(r.evaluate(&s, &cfg(), now).ready);

        // Risk has input queued but does not move.
        s.stages[2].backlog.store(3, Ordering::Relaxed);
        now += 250 * MS;
        let rep = r.evaluate(&s, &cfg(), now);
        assert!(rep.ready, "waiting is not yet stalled: {rep:?}");
        assert_eq!(rep.checks["stages"]["risk"]["waiting"], json!(true));
        now += 1_999 * MS;
        assert!(r.evaluate(&s, &cfg(), now).ready);
        now += MS;
        let rep = r.evaluate(&s, &cfg(), now);
        assert_eq!(rep.reasons, vec!["stage_stalled:risk"]);
        assert_eq!(stalled_gauge(&s, "risk"), 1);
        assert_eq!(stalled_gauge(&s, "exec"), 0);

        // It moves again: no longer stalled even with a backlog.
        s.stages[2].processed.fetch_add(1, Ordering::Relaxed);
        now += 250 * MS;
        let rep = r.evaluate(&s, &cfg(), now);
        assert!(rep.ready, "{rep:?}");
        assert_eq!(stalled_gauge(&s, "risk"), 0);
    }

    #[test]
    fn stage_stalled_by_its_input_queue() {
        let s = test_shared();
        let (tx, rx) = crate::pipeline::channel::queue::<u32>(
            "book_to_score",
            8,
            crate::config::WaitKind::Park,
            &s.metrics,
        );
        s.add_input_probe("score", rx.depth_probe());
        let mut r = Readiness::new();
        let mut now = 10_000 * MS;
        make_healthy(&s, now);
        r.evaluate(&s, &cfg(), now);

        // Book keeps moving and queues items; score never takes them and its
        // own backlog sample says 0 (a stage stuck mid-event cannot sample).
        tx.try_send(1).unwrap();
        for _ in 0..8 {
            s.stages[0].processed.fetch_add(5, Ordering::Relaxed);
            for b in &s.books {
                b.last_update_ns.store(now, Ordering::Relaxed);
            }
            now += 250 * MS;
            let rep = r.evaluate(&s, &cfg(), now);
            assert!(
                !rep.reasons.iter().any(|x| x == "stage_stalled:score"),
                "too early at {now}: {rep:?}"
            );
        }
        now += 250 * MS;
        let rep = r.evaluate(&s, &cfg(), now);
        assert_eq!(rep.reasons, vec!["stage_stalled:score"], "{rep:?}");
        assert_eq!(stalled_gauge(&s, "score"), 1);
        assert_eq!(rep.checks["stages"]["score"]["backlog"], json!(1));
        drop(rx);
    }

    #[test]
    fn filtering_upstream_does_not_make_a_stage_wait() {
        // Risk moves on every decision but hands exec only EXECUTE verdicts:
        // exec with an empty queue is idle, not stalled, however long.
        let s = test_shared();
        let (_tx, rx) = crate::pipeline::channel::queue::<u32>(
            "risk_to_exec",
            8,
            crate::config::WaitKind::Park,
            &s.metrics,
        );
        s.add_input_probe("exec", rx.depth_probe());
        let mut r = Readiness::new();
        let mut now = 10_000 * MS;
        make_healthy(&s, now);
        r.evaluate(&s, &cfg(), now);
        for _ in 0..40 {
            for i in 0..3 {
                s.stages[i].processed.fetch_add(7, Ordering::Relaxed);
            }
            for b in &s.books {
                b.last_update_ns.store(now, Ordering::Relaxed);
            }
            now += 250 * MS;
            let rep = r.evaluate(&s, &cfg(), now);
            assert!(rep.ready, "{rep:?}");
        }
    }

    #[test]
    fn idle_stage_without_input_is_not_stalled() {
        let s = test_shared();
        let mut r = Readiness::new();
        let now = 10_000 * MS;
        make_healthy(&s, now);
        r.evaluate(&s, &cfg(), now);
        // A long quiet period with nothing queued anywhere.
        let later = now + 60_000 * MS;
        make_healthy(&s, later);
        for st in &s.stages {
            st.processed.store(1, Ordering::Relaxed);
        }
        let rep = r.evaluate(&s, &cfg(), later);
        assert!(rep.ready, "{rep:?}");
        // Input arriving after a long idle period is not stalled at once.
        s.stages[3].backlog.store(1, Ordering::Relaxed);
        let rep = r.evaluate(&s, &cfg(), later + 250 * MS);
        assert!(rep.ready, "{rep:?}");
    }
}
